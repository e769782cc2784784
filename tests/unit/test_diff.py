import json

from discovery.inventory.diff import diff_inventories, format_diff
from discovery.inventory.build import build_inventory
from discovery.records.model import Scan
from tests.builders import T0, make_report
from tests.unit.test_cli import run


def scan(store, *reports):
    scan_id = store.start_scan(Scan(kind="host", started_at=T0))
    for r in reports:
        store.write_host_report(scan_id, r)
    store.finish_scan(scan_id, "completed")
    return scan_id


def test_diff_of_two_scans_with_known_changes(store):
    web = dict(hostname="web01", mac="52:54:00:00:d1:01")
    first = scan(store, make_report(**web, services=(("tcp", 22, "sshd"), ("tcp", 23, "telnetd")),
                                    software=(("openssl", "3.0.9"),)),
                 make_report(hostname="old01", mac="52:54:00:00:d1:02"))
    second = scan(store, make_report(**web, services=(("tcp", 22, "sshd"), ("tcp", 443, "nginx")),
                                     software=(("openssl", "3.0.11"),)),
                  make_report(hostname="new01", mac="52:54:00:00:d1:03"))
    diff = diff_inventories(build_inventory(store, scan_id=first), build_inventory(store, scan_id=second))
    assert [e["label"].split(" ")[1] for e in diff["hosts"]["appeared"]] == ["(new01)"]
    assert [e["label"].split(" ")[1] for e in diff["hosts"]["disappeared"]] == ["(old01)"]
    assert sorted(e["key"].split(":")[-1] for e in diff["services"]["appeared"]) == ["tcp/443", "tcp/5432"]
    assert sorted(e["key"].split(":")[-1] for e in diff["services"]["disappeared"]) == ["tcp/23", "tcp/5432"]
    (openssl,) = [e for e in diff["software"]["changed"] if "openssl" in e["label"]]
    assert openssl["changes"] == {"version": ["3.0.9", "3.0.11"]}
    lines = format_diff(diff)
    assert "hosts:" in lines and any(line.startswith("  ~ ") and "'3.0.9' -> '3.0.11'" in line for line in lines)


def test_diff_cli(tmp_path):
    from discovery.storage.store import Store
    path = tmp_path / "e.db"
    with Store(path) as s:
        a = scan(s, make_report(hostname="a", mac="52:54:00:00:d2:01"))
        b = scan(s, make_report(hostname="a", mac="52:54:00:00:d2:01"))
    code, out, _ = run("diff", "--db", str(path), str(a), str(b))
    assert code == 0 and out.strip() == f"No differences between scan {a} and scan {b}."
    code, out, _ = run("diff", "--db", str(path), str(a), str(b), "--json")
    assert code == 0 and json.loads(out)["hosts"] == {"appeared": [], "disappeared": [], "changed": []}
    code, _, err = run("diff", "--db", str(path), str(a), "99")
    assert code == 1 and "no scan with id 99" in err
