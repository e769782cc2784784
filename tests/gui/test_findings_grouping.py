"""Findings that surface clinical risk: grouped by rule and title with a host count, the hosts' risk,
criticality and patient data beside each finding, the Title taking the spare width, severity order kept within
a host when sorted by host."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from discovery.storage.store import Store
from gui.data import load_snapshot
from gui.findings_view import FindingsView, group_findings
from tests.builders import T0, make_report


def add_node_hosts(path, count: int = 3) -> None:
    """Add `count` hosts that all run an end-of-life Node.js behind a web port (one finding title, many hosts)."""
    from discovery.records.model import Scan
    from discovery.service import analyze
    from tests.gui.conftest import AS_OF
    with Store(path) as store:
        scan = store.start_scan(Scan(kind="host", started_at=T0))
        for n in range(count):
            store.write_host_report(scan, make_report(
                hostname=f"node{n}", address=f"10.9.9.{n + 1}", services=(("tcp", 23, "telnetd"),)))
        store.finish_scan(scan, "completed")
        analyze(store, as_of=AS_OF)


@pytest.fixture
def view(qtbot, estate_db):
    path, _ = estate_db
    add_node_hosts(path)
    with Store(path) as store:
        [pacs] = [h for h in store.hosts() if h["hostname"] == "pacs01"]
        store.save_annotations([{"host_id": pacs["id"], "criticality": "critical", "patient_data": "yes"}])
    widget = FindingsView()
    qtbot.addWidget(widget)
    widget.resize(1024, 600)
    widget.set_snapshot(load_snapshot(path))
    widget.show()
    return widget


def column(view, key):
    return [c.key for c in view.table_view.model.columns].index(key)


def texts(view, key):
    model = view.table_view.model
    return [model.display_text(r, column(view, key)) for r in range(model.rowCount())]


def test_group_findings_counts_hosts_per_rule_and_title():
    findings = [{"rule": "telnet", "title": "Telnet", "severity": "high", "host_id": h} for h in ("a", "b", "c")]
    findings += [{"rule": "eol", "title": "Debian 10", "severity": "critical", "host_id": "a"},
                 {"rule": "telnet", "title": "Telnet", "severity": "high", "host_id": "a"}]  # a twice: one host
    rows = group_findings(findings)
    assert [(r["title"], r["host_count"], r["severity"]) for r in rows] == [("Debian 10", 1, "critical"),
                                                                           ("Telnet", 3, "high")]
    assert rows[1]["host_ids"] == ["a", "b", "c"] and rows[1]["host_id"] is None and rows[0]["host_id"] == "a"


def test_findings_grouped_by_title_show_host_counts(view):
    telnet = sum(1 for r in view.table_view.model.rows() if r["rule"] == "telnet")
    assert telnet == 4  # pacs01 and the three node hosts
    qtbot_rows = view.table_view.row_count()
    view.group_check.click()
    assert view.is_grouped()
    model = view.table_view.model
    counts = {model.row_dict(r)["rule"]: model.display_text(r, column(view, "host_count")) for r in range(model.rowCount())}
    assert counts["telnet"] == "4"
    assert view.table_view.row_count() == qtbot_rows - 3
    assert not view.table_view.table.isColumnHidden(column(view, "host_count"))
    assert view.table_view.table.isColumnHidden(column(view, "host_id"))
    view.table_view.select_where("rule", "telnet")
    assert "4 host(s)" in view.details.text() and "node2" in view.details.text()
    view.group_check.click()
    assert view.table_view.row_count() == qtbot_rows
    assert view.table_view.table.isColumnHidden(column(view, "host_count"))


def test_findings_show_host_risk_criticality_and_patient_data(view):
    model = view.table_view.model
    row = next(r for r in range(model.rowCount()) if model.row_dict(r)["rule"] == "telnet"
               and model.display_text(r, column(view, "host_id")) == "pacs01")
    assert model.display_text(row, column(view, "criticality")) == "critical"
    assert model.display_text(row, column(view, "patient_data")) == "yes"
    pacs = view.snapshot.hosts_by_id[model.row_dict(row)["host_id"]]
    assert model.display_text(row, column(view, "host_risk")) == f"{pacs['risk_score']:g}"
    view.set_grouped(True)
    row = model.find_row("rule", "telnet")
    assert model.display_text(row, column(view, "patient_data")) == "yes", "a group shows the worst of its hosts"
    assert model.display_text(row, column(view, "criticality")) == "critical"


def test_findings_title_takes_the_spare_width(view):
    table = view.table_view.table
    title = table.columnWidth(column(view, "title"))
    others = [table.columnWidth(c) for c in range(table.model().columnCount())
              if c != column(view, "title") and not table.isColumnHidden(c)]
    assert title > max(others)
    used = sum(others) + title
    assert used >= table.viewport().width() - 2, "no empty space right of the last column"


def test_findings_sorted_by_host_keep_severity_order_within_a_host(view):
    table = view.table_view.table
    table.sortByColumn(column(view, "host_id"), Qt.SortOrder.AscendingOrder)
    model = view.table_view.model
    by_host: dict[str, list[int]] = {}
    from gui.models import severity_rank
    for r in range(model.rowCount()):
        by_host.setdefault(model.row_dict(r).get("host_id"), []).append(severity_rank(model.row_dict(r)["severity"]))
    assert any(len(ranks) > 1 for ranks in by_host.values())
    for ranks in by_host.values():
        assert ranks == sorted(ranks, reverse=True)
    table.sortByColumn(column(view, "host_id"), Qt.SortOrder.DescendingOrder)
    by_host = {}
    for r in range(model.rowCount()):
        by_host.setdefault(model.row_dict(r).get("host_id"), []).append(severity_rank(model.row_dict(r)["severity"]))
    for ranks in by_host.values():
        assert ranks == sorted(ranks, reverse=True)
