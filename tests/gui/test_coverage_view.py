"""Coverage in the inventory: the Hosts table's Coverage column and the host details' Coverage section.

The small estate of conftest (every host collected on itself: sockets), plus a PACS gateway an nmap scan saw
from outside (SSH answers), which the app server talks to: a blind spot with one dependency.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt

from discovery.records.model import Host, HostReport, Scan, Service
from discovery.storage.store import Store
from gui.inventory_view import InventoryView
from tests.builders import T0, make_report
from tests.gui.conftest import fill_estate


@pytest.fixture
def coverage_estate(tmp_path):
    """(store path, host ids by hostname): the small estate, a gateway only nmap saw, and app01 calling it."""
    path = tmp_path / "estate.db"
    with Store(path) as store:
        ids = fill_estate(store)
        later = T0 + timedelta(hours=1)
        scan = store.start_scan(Scan(kind="network", started_at=later))
        gateway = HostReport(
            host=Host(source="nmap", observed_at=later, hostname="pacsgw", addresses=("10.9.8.20",),
                      os_name="Linux 5.0 - 5.5", os_family="linux"),
            services=(Service(protocol="tcp", port=22, state="open", name="ssh", source="nmap", observed_at=later),
                      Service(protocol="tcp", port=2575, state="open", name="hl7", source="nmap",
                              observed_at=later)))
        ids["pacsgw"] = store.write_host_report(scan, gateway)[0]
        store.finish_scan(scan, "completed")
        scan = store.start_scan(Scan(kind="host", started_at=later))
        store.write_host_report(scan, make_report(
            hostname="app01", address="10.9.8.2", observed_at=later, services=(("tcp", 8080, "java"),),
            connections=(("10.9.8.2", 41010, "10.9.8.20", 2575, "outbound", "java"),)))
        store.finish_scan(scan, "completed")
    return path, ids


@pytest.fixture
def view(qtbot, coverage_estate):
    from gui.data import load_snapshot
    widget = InventoryView()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.set_snapshot(load_snapshot(coverage_estate[0]))
    return widget


def test_hosts_table_has_a_coverage_column_sorted_shallowest_first(view, coverage_estate):
    _, ids = coverage_estate
    hosts = view.hosts_view
    column = [c.key for c in hosts.model.columns].index("coverage_depth")
    assert hosts.model.headerData(column, Qt.Orientation.Horizontal) == "Coverage"
    assert not hosts.table.isColumnHidden(column)
    shown = {hosts.model.row_dict(r)["id"]: hosts.model.display_text(r, column) for r in range(hosts.row_count())}
    assert shown[ids["pacsgw"]] == "os" and shown[ids["db01"]] == "sockets"
    assert set(shown.values()) == {"os", "sockets"}
    hosts.table.sortByColumn(column, Qt.SortOrder.AscendingOrder)
    assert hosts.model.row_dict(0)["id"] == ids["pacsgw"]
    hosts.table.sortByColumn(column, Qt.SortOrder.DescendingOrder)
    assert hosts.model.row_dict(hosts.row_count() - 1)["id"] == ids["pacsgw"]


def test_host_details_show_its_sources_depth_and_how_to_close_the_gap(view, qtbot, coverage_estate):
    _, ids = coverage_estate
    with qtbot.waitSignal(view.host_selected):
        view.hosts_view.select_where("id", ids["pacsgw"])
    text = view.details.text()
    coverage = text[text.index("Coverage"):]
    for expected in ("Depth", "os", "Levels known", "seen, ports, os", "Seen by", "network scan (nmap)",
                     "Blind spot", "dependencies touching it: 1", "estatemap scan ssh 10.9.8.20"):
        assert expected in coverage, expected
    view.select_host(ids["db01"])
    text = view.details.text()
    coverage = text[text.index("Coverage"):text.index("Hardware")]
    assert "sockets" in coverage and "this host" in coverage and "Blind spot" not in coverage
