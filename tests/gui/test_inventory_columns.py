"""The Hosts tab's columns in order of importance (with role, dependents, group and findings derived from the
snapshot), columns sized to their contents, and a host's details: what it depends on first, software folded."""

from __future__ import annotations

from collections import Counter

import pytest
from PySide6.QtCore import QUrl

from gui.inventory_view import InventoryView, build_host_facts


@pytest.fixture
def view(qtbot, snapshot):
    widget = InventoryView()
    qtbot.addWidget(widget)
    widget.resize(1024, 700)
    widget.set_snapshot(snapshot)
    widget.show()
    return widget


def titles(table) -> list[str]:
    header = table.table.horizontalHeader()
    shown = [c for c in range(header.count()) if not table.table.isColumnHidden(c)]
    return [table.model.columns[c].title for c in sorted(shown, key=header.visualIndex)]


def column_texts(table, key: str) -> dict[str, str]:
    number = [c.key for c in table.model.columns].index(key)
    return {table.model.row_dict(r)["hostname"]: table.model.display_text(r, number) for r in range(table.row_count())}


def test_hosts_default_column_order_puts_what_matters_first(view):
    assert titles(view.hosts_view)[:9] == ["Hostname", "Risk", "Legacy", "Role", "Dependents", "Group", "Findings",
                                           "Addresses", "OS"]


def test_hosts_derived_columns_match_the_snapshot(view, snapshot):
    hosts = view.hosts_view
    dependents = column_texts(hosts, "dependents")
    # app01 uses db01, cache01, pacs01 and dns01; web01 uses app01 and dns01; db01 uses dns01.
    assert (dependents["dns01"], dependents["db01"], dependents["app01"], dependents["web01"]) == ("3", "1", "1", "0")
    assert column_texts(hosts, "role")["db01"] == "database"
    assert column_texts(hosts, "role")["pacs01"].startswith("healthcare")
    findings = Counter(f["host_id"] for f in snapshot.inventory["findings"])
    by_name = {snapshot.host_label(h): str(n) for h, n in findings.items()}
    assert {k: v for k, v in column_texts(hosts, "findings_count").items() if k in by_name} == by_name
    groups = {snapshot.host_label(h): g["name"] for g in snapshot.inventory["groups"] for h in g["host_ids"]}
    assert groups and all(column_texts(hosts, "group")[name] == group for name, group in groups.items())


def test_build_host_facts_before_any_analysis_has_no_findings_count(snapshot):
    inventory = {**snapshot.inventory, "analysis": None, "findings": [], "groups": []}
    facts = build_host_facts(type(snapshot)(path=None, inventory=inventory, graph=snapshot.graph))
    assert {f["findings_count"] for f in facts.values()} == {None}
    assert {f["group"] for f in facts.values()} == {None}


def test_connections_port_column_shows_5432_whole(view):
    connections = view.connections_view
    number = [c.key for c in connections.model.columns].index("target_port")
    assert connections.model.find_row("target_port", 5432) is not None
    metrics = connections.table.fontMetrics()
    assert connections.table.columnWidth(number) >= metrics.horizontalAdvance("5432") + 12
    header = connections.table.horizontalHeader().fontMetrics()
    assert connections.table.columnWidth(number) >= header.horizontalAdvance("Port") + 12


def test_columns_are_sized_to_their_contents(view, snapshot):
    hosts = view.hosts_view
    number = [c.key for c in hosts.model.columns].index("last_seen")
    longest = max(hosts.table.fontMetrics().horizontalAdvance(hosts.model.display_text(r, number))
                  for r in range(hosts.row_count()))
    assert hosts.table.columnWidth(number) >= longest
    legacy = [c.key for c in hosts.model.columns].index("legacy")
    assert hosts.table.columnWidth(legacy) < hosts.table.columnWidth(number), "narrow values, narrow column"


def test_risk_is_on_screen_at_1024_pixels(view):
    hosts = view.hosts_view
    number = [c.key for c in hosts.model.columns].index("risk_score")
    x = hosts.table.columnViewportPosition(number)
    assert 0 <= x and x + hosts.table.columnWidth(number) <= hosts.table.viewport().width()


def test_host_details_show_dependencies_first_and_fold_the_software(view, qtbot, estate_db):
    _, ids = estate_db
    view.select_host(ids["db01"])
    text = view.details.text()
    assert text.index("Depends on") < text.index("Used by") < text.index("Risk factors") < text.index("Hardware")
    assert "Software (1)" in text and "postgresql-11" not in text
    view.details.pane.anchorClicked.emit(QUrl("toggle:software"))
    assert "postgresql-11" in view.details.text()
    view.select_host(ids["app01"])
    view.select_host(ids["db01"])
    assert "postgresql-11" in view.details.text(), "an opened section stays open"
    view.details.pane.anchorClicked.emit(QUrl("toggle:software"))
    assert "postgresql-11" not in view.details.text()
