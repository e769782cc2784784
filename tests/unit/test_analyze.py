"""`analyze` end to end on a store: findings, groups, risk stored and exported; --as-of reproducible."""

import json
from datetime import date

from discovery.inventory.build import build_inventory
from discovery.records.model import Scan
from discovery.service import analyze
from tests.builders import T0, make_report
from tests.unit.test_cli import run


def fill(store):
    scan = store.start_scan(Scan(kind="host", started_at=T0))
    app = make_report(hostname="app01", address="10.9.7.1", services=(("tcp", 8080, "java"),),
                      software=(("postgresql-client-11", "11.22-0+deb10u1"),),
                      connections=(("10.9.7.1", 41000, "10.9.7.2", 5432, "outbound", "java"),),
                      os_id="debian", os_version="10 (buster)")
    db = make_report(hostname="db01", address="10.9.7.2", services=(("tcp", 5432, "postgres"), ("tcp", 23, "telnetd")),
                     software=(("postgresql-11", "11.22-0+deb10u1"),), os_id="debian", os_version="10 (buster)")
    ids = [store.write_host_report(scan, r)[0] for r in (app, db)]
    store.finish_scan(scan, "completed")
    return ids


def test_analyze_stores_findings_groups_and_explained_risk(store):
    app, db = fill(store)
    summary = analyze(store, as_of=date(2026, 11, 28))
    assert summary["as_of"] == "2026-11-28" and summary["hosts"] == 2
    inventory = build_inventory(store)
    rules = {(f["host_id"], f["rule"], f["category"]) for f in inventory["findings"]}
    assert (db, "telnet", "insecure-protocol") in rules
    assert any(h == db and r == "os-eol" for h, r, _ in rules)  # Debian 10 ended 2024-06-30 (LTS)
    hosts = {h["id"]: h for h in inventory["hosts"]}
    assert hosts[db]["legacy"] is True and hosts[db]["risk_score"] > hosts[app]["risk_score"] > 0
    for host in hosts.values():
        assert host["risk_score"] == min(100, sum(f["points"] for f in host["risk_factors"]))
        assert all(f["detail"] for f in host["risk_factors"])
    (group,) = inventory["groups"]  # app depends on db: one move group
    assert sorted(group["host_ids"]) == sorted([app, db]) and group["explanation"]
    assert inventory["analysis"]["as_of"] == "2026-11-28"
    assert all(f["confidence"] in ("high", "medium", "low") and f["evidence"] and f["recommendation"]
               for f in inventory["findings"])


def test_analyze_as_of_makes_results_reproducible(store):
    fill(store)
    before = analyze(store, as_of=date(2022, 1, 1))["findings"]
    again = analyze(store, as_of=date(2022, 1, 1))["findings"]
    later = analyze(store, as_of=date(2026, 11, 28))["findings"]
    assert before == again
    assert later != before  # Debian 10 and PostgreSQL 11 were supported in 2022, not in 2026


def test_analyze_cli(tmp_path):
    from discovery.storage.store import Store
    path = tmp_path / "e.db"
    with Store(path) as s:
        fill(s)
    code, out, err = run("analyze", "--db", str(path), "--as-of", "2026-11-28")
    assert code == 0, err
    assert out.startswith("Analysis 1 as of 2026-11-28: 2 hosts; findings: ")
    # no empty wave 0 without shared hosts; wave 1 upgrades the end-of-life Debian, wave 2 moves the group
    assert "\n1 move group in 2 waves; 0 shared infrastructure;" in out
    assert "\nWave plan: 2 waves (1-2); rules: at most 50 hosts a wave, pilot of 2 groups at risk 30 or less, " in out
    assert "wave plan: No group qualifies for the pilot" in err
    assert "Highest migration risk: db01" in out
    code, _, err = run("analyze", "--db", str(path), "--as-of", "28/11/2026")
    assert code == 2 and "is not a date" in err
    out_json = tmp_path / "e.json"
    assert run("export", "--db", str(path), "-f", "json", "-o", str(out_json))[0] == 0
    assert json.loads(out_json.read_text())["findings"]
