"""`estatemap export --hosts PATTERN --min-severity SEV`, in every format."""

import json

import openpyxl
import pytest

from discovery.inventory.build import filter_inventory
from discovery.records.model import Scan
from discovery.storage.store import Store
from tests.builders import T0, make_report
from tests.unit.test_cli import run
from tests.unit.test_workbook_roundtrip import finding


@pytest.fixture
def estate(tmp_path):
    """web01 (10.1.0.5) talks to db01 (10.2.0.7); mail01 stands apart. Findings of every severity."""
    path = tmp_path / "estate.db"
    with Store(path) as s:
        scan = s.start_scan(Scan(kind="host", started_at=T0, targets=("web01", "db01", "mail01")))
        s.write_host_report(scan, make_report(hostname="web01", address="10.1.0.5", services=(("tcp", 443, "nginx"),),
                                              connections=(("10.1.0.5", 50000, "10.2.0.7", 5432, "outbound",
                                                            "nginx"),)))
        s.write_host_report(scan, make_report(hostname="db01", address="10.2.0.7"))
        s.write_host_report(scan, make_report(hostname="mail01", address="10.3.0.9", services=(("tcp", 25, "exim"),)))
        s.finish_scan(scan, "completed")
        ids = {h["hostname"]: h["id"] for h in s.hosts()}
        s.save_analysis(findings=[finding("f-web-crit", ids["web01"], "critical"),
                                  finding("f-web-info", ids["web01"], "info"),
                                  finding("f-db-med", ids["db01"], "medium"),
                                  finding("f-mail-high", ids["mail01"], "high"),
                                  finding("f-mail-low", ids["mail01"], "low")],
                        groups=[{"id": "grp-a", "name": "web", "wave": 1, "host_ids": [ids["web01"], ids["db01"]],
                                 "explanation": "", "edges": []},
                                {"id": "grp-b", "name": "mail", "wave": 0, "host_ids": [ids["mail01"]],
                                 "explanation": "", "edges": []}],
                        risk={}, as_of="2026-11-01", summary={})
    return path, ids


def export(db, out, *extra):
    code, _, err = run("--db", str(db), "export", "--format", out.suffix[1:], "--out", str(out), "--force", *extra)
    assert code == 0, err
    return json.loads(out.read_text()) if out.suffix == ".json" else openpyxl.load_workbook(out)


def sheet(wb, title):
    rows = wb[title].iter_rows(values_only=True)
    header = next(rows)
    return [dict(zip(header, r)) for r in rows]


def test_hosts_pattern_on_hostname_keeps_their_rows_and_dependencies(estate, tmp_path):
    db, ids = estate
    inv = export(db, tmp_path / "web.json", "--hosts", "WEB*")
    assert [h["hostname"] for h in inv["hosts"]] == ["web01"]
    assert {s["host_id"] for s in inv["services"] + inv["software"]} == {ids["web01"]}
    assert {f["id"] for f in inv["findings"]} == {"f-web-crit", "f-web-info"}
    # web01 -> db01 is kept: one end matches
    assert [(d["source_host_id"], d["target_host_id"]) for d in inv["dependencies"]] == [(ids["web01"], ids["db01"])]
    assert [(g["id"], g["host_ids"]) for g in inv["groups"]] == [("grp-a", [ids["web01"]])]
    # the other end of the dependency, matched by address, keeps it too
    inv = export(db, tmp_path / "db.json", "--hosts", "10.2.*")
    assert [h["hostname"] for h in inv["hosts"]] == ["db01"]
    assert len(inv["dependencies"]) == 1 and inv["databases"] and inv["databases"][0]["host_id"] == ids["db01"]
    inv = export(db, tmp_path / "none.json", "--hosts", "nothing*")
    assert inv["hosts"] == inv["services"] == inv["dependencies"] == inv["findings"] == inv["groups"] == []


def test_min_severity_keeps_findings_at_or_above(estate, tmp_path):
    db, _ = estate
    inv = export(db, tmp_path / "high.json", "--min-severity", "high")
    assert {f["id"] for f in inv["findings"]} == {"f-web-crit", "f-mail-high"}
    assert len(inv["hosts"]) == 3  # the hosts stay
    inv = export(db, tmp_path / "info.json", "--min-severity", "info")
    assert len(inv["findings"]) == 5
    inv = export(db, tmp_path / "both.json", "--min-severity", "medium", "--hosts", "mail01")
    assert [f["id"] for f in inv["findings"]] == ["f-mail-high"]


def test_filters_apply_to_the_workbook(estate, tmp_path):
    db, ids = estate
    wb = export(db, tmp_path / "e.xlsx", "--hosts", "web01", "--min-severity", "critical")
    assert [r["Host ID"] for r in sheet(wb, "Hosts")] == [ids["web01"]]
    assert [r["Finding ID"] for r in sheet(wb, "Findings")] == ["f-web-crit"]
    assert {r["Host ID"] for r in sheet(wb, "Services")} == {ids["web01"]}
    assert [r["Group ID"] for r in sheet(wb, "Move groups")] == ["grp-a"]
    assert len(sheet(wb, "Dependencies")) == 1


def test_bad_severity_is_a_usage_error(estate, tmp_path):
    db, _ = estate
    code, _, err = run("--db", str(db), "export", "--format", "json", "--out", str(tmp_path / "x.json"),
                       "--min-severity", "urgent")
    assert code == 2 and "urgent" in err and not (tmp_path / "x.json").exists()


def test_filter_inventory_leaves_its_input_alone():
    inventory = {"hosts": [{"id": "h1", "hostname": "a", "addresses": ["10.0.0.1"]},
                           {"id": "h2", "hostname": "b", "addresses": ["10.0.0.2"]}],
                 "findings": [{"id": "f", "host_id": "h2", "severity": "low"}],
                 "connections": [], "groups": []}
    copy = json.loads(json.dumps(inventory))
    out = filter_inventory(inventory, hosts_pattern="10.0.0.1", min_severity="low")
    assert [h["id"] for h in out["hosts"]] == ["h1"] and out["findings"] == []
    assert inventory == copy
    with pytest.raises(ValueError):
        filter_inventory(inventory, min_severity="urgent")
