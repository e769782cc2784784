"""The assessment deliverable on the test network's store, as a team would make it: app collected on itself, web
over SSH, every host scanned from the scanner, then analyze. The overview opens first and shows the coverage, the
waves and the blind spots the JSON export holds; the wave plan has several waves, each with reasons; the report
states the export's numbers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from exports.registry import FORMATS, load_exporter  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402
from scanners.kinds import REGISTRY  # noqa: E402
from tests.unit.test_report import figures_of, json_waves  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PORTS = "22,80,104,2575,5432,6379,11112"
pytestmark = pytest.mark.integration


def estatemap(host, *argv, env=None, timeout=300):
    result = host.run([sys.executable, str(ROOT / "main.py"), *map(str, argv)], capture_output=True, text=True,
                      timeout=timeout, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def assessed(test_network, tmp_path_factory):
    """(store path, JSON export, analyze's output) of the test network, scanned three ways and analysed."""
    folder = tmp_path_factory.mktemp("assessment")
    db, out = folder / "estate.db", folder / "estate.json"
    net = test_network
    home = folder / "home"  # no ~/.ssh of this machine
    home.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}, "HOME": str(home)}
    estatemap(net.hosts["app"], "--db", db, "scan", "host")
    estatemap(net.scanner, "--db", db, "scan", "ssh", f"root@{net.hosts['web'].address}", "--key", net.ssh_client_key,
              "--known-hosts", net.ssh_known_hosts, env=env)
    addresses = [h.address for name, h in net.hosts.items() if name != "scanner"]
    estatemap(net.scanner, "--db", db, "scan", "network", *addresses, "--ports", PORTS, "--max-rate", "2000")
    analysed = estatemap(net.scanner, "--db", db, "analyze")
    estatemap(net.scanner, "--db", db, "export", "-f", "json", "-o", out)
    return db, json.loads(out.read_text()), analysed.stdout


def hosts_by_name(inventory: dict) -> dict[str, dict]:
    return {h["hostname"]: h for h in inventory["hosts"]}


def test_coverage_says_what_each_source_gave_and_ranks_the_blind_spots(assessed):
    _, inventory, printed = assessed
    hosts = hosts_by_name(inventory)
    assert {"app", "web", "db", "pacs"} <= set(hosts)
    assert hosts["app"]["coverage_depth"] == hosts["web"]["coverage_depth"] == "sockets"
    assert "local" in hosts["app"]["coverage_sources"] and "ssh" in hosts["web"]["coverage_sources"]
    assert hosts["db"]["coverage_sources"] == hosts["pacs"]["coverage_sources"] == ["nmap"]
    summary = inventory["coverage_summary"]
    assert summary["sockets_hosts"] == 2 and summary["hosts"] == len(inventory["hosts"])
    spots = summary["blind_spots"]
    assert {s["hostname"] for s in spots} == set(hosts) - {"app", "web"}
    # app depends on PostgreSQL and Redis on db: the most depended-on blind spot, and the scan that fits it.
    assert spots[0]["hostname"] == "db" and spots[0]["dependencies"] >= 2
    assert "scan network" not in spots[0]["hint"]
    assert f"sockets read on 2 ({summary['sockets_share']:.0%})" in printed and "most depended on: db" in printed


def test_the_wave_plan_has_several_waves_each_with_reasons(assessed):
    _, inventory, printed = assessed
    plan = inventory["wave_plan"]
    assert len(inventory["groups"]) > 1 and len(plan["waves"]) > 1
    assert all(w["reasons"] for w in plan["waves"])
    assert all(g["wave_reasons"] for g in inventory["groups"])
    assert f"Wave plan: {len(plan['waves'])} waves" in printed


def test_the_overview_opens_first_on_coverage_waves_and_blind_spots(qtbot, assessed, tmp_path, monkeypatch):
    db, inventory, _ = assessed
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append(text))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(scan_kinds=REGISTRY, formats=FORMATS, exporter_factory=load_exporter, settings=settings)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    with qtbot.waitSignal(window.snapshot_loaded, timeout=60_000):
        window.open_store(db)
    assert window.current_page() == "Overview" and not window.overview_view.is_empty_state()
    view = window.overview_view
    assert {b.key: b.value for b in view.depth_chart.bars} == inventory["coverage_summary"]["by_depth"]
    assert [c.wave for c in view.timeline.columns] == [w["wave"] for w in inventory["wave_plan"]["waves"]]
    spots = inventory["coverage_summary"]["blind_spots"]
    assert view.blind_table.rowCount() == len(spots)
    assert view.blind_table.item(0, 0).text() == "db"
    assert not shown


def test_the_report_states_the_exports_numbers(assessed, test_network, tmp_path):
    db, inventory, _ = assessed
    page = tmp_path / "report.html"
    estatemap(test_network.scanner, "--db", db, "report", "--out", page)
    figures = figures_of(page.read_text())
    assert figures["hosts"] == len(inventory["hosts"])
    assert figures["dependencies"] == len(inventory["dependencies"])
    assert figures["findings"] == len(inventory["findings"])
    assert figures["groups"] == len(inventory["groups"]) and figures["waves"] == json_waves(inventory) > 1
    assert figures["blind_spots"] == len(inventory["coverage_summary"]["blind_spots"])
