"""FindingsView (severity and text filters, evidence pane), GroupsView (groups, hosts, edges, waves), ScansView."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QUrl

from gui.data import snapshot_of
from gui.findings_view import FindingsView
from gui.groups_view import GroupsView, effective_wave
from gui.scans_view import ScansView


@pytest.fixture
def findings_view(qtbot, snapshot):
    widget = FindingsView()
    qtbot.addWidget(widget)
    widget.set_snapshot(snapshot)
    return widget


@pytest.fixture
def groups_view(qtbot, snapshot):
    widget = GroupsView()
    qtbot.addWidget(widget)
    widget.set_snapshot(snapshot)
    return widget


def severities(view: FindingsView) -> list[str]:
    model = view.table_view.model
    return [model.row_dict(r)["severity"] for r in range(model.rowCount())]


def test_findings_view_lists_findings_worst_first(findings_view, snapshot):
    assert len(snapshot.inventory["findings"]) == 3
    assert severities(findings_view) == ["critical", "high", "medium"]
    assert findings_view.table_view.count_text() == "3 findings"


def test_findings_view_minimum_severity_filter(findings_view):
    findings_view.set_minimum_severity("high")
    assert severities(findings_view) == ["critical", "high"]
    assert findings_view.table_view.count_text() == "2 of 3 findings"
    findings_view.set_minimum_severity("critical")
    assert severities(findings_view) == ["critical"]
    findings_view.set_minimum_severity(None)
    assert len(severities(findings_view)) == 3
    with pytest.raises(ValueError):
        findings_view.set_minimum_severity("severe")


def test_findings_view_severity_and_text_filters_combine(findings_view):
    findings_view.table_view.set_filter_text("pacs01")
    assert severities(findings_view) == ["high", "medium"], "the host column is searched by name"
    findings_view.set_minimum_severity("high")
    assert severities(findings_view) == ["high"]
    findings_view.table_view.set_filter_text("telnet")
    assert [findings_view.table_view.model.row_dict(0)["rule"]] == ["telnet"]


def test_findings_view_shows_evidence_and_recommendation(findings_view, snapshot):
    findings_view.table_view.select_where("rule", "os-eol")
    finding = next(f for f in snapshot.inventory["findings"] if f["rule"] == "os-eol")
    text = findings_view.details.text()
    assert finding["title"] in text
    assert finding["evidence"] in text and finding["recommendation"] in text
    assert "db01" in text and "2024-06-30" in text


def test_findings_view_activating_a_finding_selects_its_host(findings_view, qtbot, estate_db):
    _, ids = estate_db
    findings_view.table_view.select_where("rule", "telnet")
    index = findings_view.table_view.table.currentIndex()
    with qtbot.waitSignal(findings_view.host_selected) as blocker:
        findings_view.table_view.table.activated.emit(index)
    assert blocker.args == [ids["pacs01"]]
    with qtbot.waitSignal(findings_view.host_selected) as blocker:
        findings_view.details.anchorClicked.emit(QUrl(f"host:{ids['pacs01']}"))
    assert blocker.args == [ids["pacs01"]]


def test_groups_view_lists_groups_with_wave_and_host_count(groups_view, snapshot):
    groups = snapshot.inventory["groups"]
    model = groups_view.groups_view.model
    assert model.rowCount() == len(groups) == 1
    titles = [c.title for c in model.columns]
    assert model.display_text(0, titles.index("Hosts")) == "5"
    # db01 runs an end-of-life Debian: wave 1 is left for its upgrade, the group moves in wave 2
    assert model.display_text(0, titles.index("Wave")) == str(effective_wave(groups[0])) == "2"
    assert "End-of-life systems on db01" in model.display_text(0, titles.index("Wave reasons"))


def test_groups_view_selected_group_shows_its_hosts_and_edges(groups_view, estate_db):
    _, ids = estate_db
    assert groups_view.hosts_view.row_count() == 0
    groups_view.groups_view.select_row(0)
    hosts = groups_view.hosts_view.model
    names = sorted(hosts.display_text(r, 0) for r in range(hosts.rowCount()))
    assert names == ["app01", "cache01", "db01", "pacs01", "web01"]
    edges = groups_view.edges_view.model
    pairs = {(edges.display_text(r, 0), edges.display_text(r, 1), edges.display_text(r, 2))
             for r in range(edges.rowCount())}
    assert ("app01", "db01", "tcp 5432") in pairs and ("web01", "app01", "tcp 8080") in pairs
    assert len(pairs) == 4
    assert "5 hosts tied by" in groups_view.explanation_label.text()
    assert groups_view.reasons_label.text().startswith("Wave 2, because:\n• Tier low")


def test_groups_view_activating_a_member_selects_the_host(groups_view, qtbot, estate_db):
    _, ids = estate_db
    groups_view.groups_view.select_row(0)
    groups_view.hosts_view.select_where("id", ids["db01"])
    with qtbot.waitSignal(groups_view.host_selected) as blocker:
        groups_view.hosts_view.table.activated.emit(groups_view.hosts_view.table.currentIndex())
    assert blocker.args == [ids["db01"]]


def test_groups_view_waves_summary(groups_view):
    text = groups_view.waves_pane.text()
    assert "3 waves" in text and "Wave 0" in text and "Wave 1" in text and "Wave 2" in text
    assert "Shared infrastructure" in text and "Remediation: upgrade or replace the end-of-life systems on db01" in text
    assert "1 warning:" in text and "No group qualifies for the pilot" in text


def test_groups_view_wave_override_wins(qtbot, snapshot):
    inventory = dict(snapshot.inventory, groups=[dict(g, wave_override=3) for g in snapshot.inventory["groups"]])
    view = GroupsView()
    qtbot.addWidget(view)
    view.set_snapshot(snapshot_of(inventory))
    titles = [c.title for c in view.groups_view.model.columns]
    assert view.groups_view.model.display_text(0, titles.index("Wave")) == "3"
    assert "1 group(s) have a wave set" in view.waves_pane.text()


def test_groups_view_before_analysis(qtbot, snapshot):
    inventory = dict(snapshot.inventory, groups=[], analysis=None)
    view = GroupsView()
    qtbot.addWidget(view)
    view.set_snapshot(snapshot_of(inventory))
    assert view.groups_view.row_count() == 0
    assert "Not analysed yet" in view.waves_pane.text()


def test_scans_view_lists_scan_history(qtbot, snapshot):
    view = ScansView()
    qtbot.addWidget(view)
    view.set_snapshot(snapshot)
    model = view.table_view.model
    assert model.rowCount() == len(snapshot.inventory["scans"]) == 1
    titles = [c.title for c in model.columns]
    assert model.display_text(0, titles.index("Kind")) == "host"
    assert model.display_text(0, titles.index("Status")) == "completed"
    assert model.display_text(0, titles.index("Hosts")) == "6"
    assert model.display_text(0, titles.index("Started (UTC)")) == "2026-11-01 09:00:00"
    view.table_view.select_row(0)
    assert "Scan 1: host, completed" in view.details.text()
