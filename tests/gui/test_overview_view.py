"""The Overview page: the first page a store opens on, its figures equal the inventory's, and each number clicks
through to the table behind it, filtered to the rows it counts.

The estate: conftest's small one (every host collected on itself), plus two Windows machines a network scan saw
from outside (RDP answers), one of which app01 talks to, analysed again as `estatemap analyze` does.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from discovery.records.model import SEVERITIES, Host, HostReport, Scan, Service
from discovery.service import analyze
from discovery.storage.store import Store
from exports.registry import FORMATS, load_exporter
from gui.data import snapshot_of
from gui.main_window import PAGES, MainWindow
from gui.overview_view import NOT_ANALYSED, OverviewView, overview_figures
from scanners.kinds import REGISTRY
from tests.builders import T0, make_report
from tests.gui.conftest import AS_OF, fill_estate
from tests.gui.test_main_window import messages, settings  # noqa: F401 (fixtures)


@pytest.fixture
def mixed_estate(tmp_path):
    """(store path, host ids by hostname): the small estate, two Windows hosts nmap saw, app01 calling one."""
    path = tmp_path / "estate.db"
    with Store(path) as store:
        ids = fill_estate(store)
        later = T0 + timedelta(hours=1)
        scan = store.start_scan(Scan(kind="network", started_at=later))
        for name, address in (("ris01", "10.9.8.30"), ("ris02", "10.9.8.31")):
            report = HostReport(
                host=Host(source="nmap", observed_at=later, hostname=name, addresses=(address,),
                          os_name="Microsoft Windows Server 2019", os_family="windows"),
                services=(Service(protocol="tcp", port=3389, state="open", name="ms-wbt-server", source="nmap",
                                  observed_at=later),))
            ids[name] = store.write_host_report(scan, report)[0]
        store.finish_scan(scan, "completed")
        scan = store.start_scan(Scan(kind="host", started_at=later))
        store.write_host_report(scan, make_report(
            hostname="app01", address="10.9.8.2", mac="", observed_at=later, services=(("tcp", 8080, "java"),),
            connections=(("10.9.8.2", 41010, "10.9.8.30", 3389, "outbound", "java"),)))
        store.finish_scan(scan, "completed")
        analyze(store, as_of=AS_OF)
    return path, ids


def make_window(qtbot, settings) -> MainWindow:
    window = MainWindow(scan_kinds=REGISTRY, formats=FORMATS, exporter_factory=load_exporter, settings=settings)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    return window


def open_in(qtbot, window: MainWindow, path) -> None:
    with qtbot.waitSignal(window.snapshot_loaded, timeout=30_000):
        window.open_store(path)


@pytest.fixture
def window(qtbot, settings, mixed_estate, messages):
    window = make_window(qtbot, settings)
    open_in(qtbot, window, mixed_estate[0])
    yield window
    assert not messages


def shown_rows(table_view) -> list[dict]:
    """The rows a table shows, as the user sees them (after every filter)."""
    return [table_view.model.row_dict(r) for r in range(table_view.model.rowCount())]


def click(qtbot, widget, rect) -> None:
    assert not rect.isEmpty()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=rect.center())


def test_the_overview_is_the_first_page_when_a_store_opens(qtbot, settings, mixed_estate, messages):
    window = make_window(qtbot, settings)
    window.show_page("Findings")
    open_in(qtbot, window, mixed_estate[0])
    assert window.current_page() == "Overview" and window.pages.currentWidget() is window.overview_view
    assert not window.overview_view.is_empty_state()
    window.show_page("Findings")
    with qtbot.waitSignal(window.snapshot_loaded, timeout=30_000):
        window.reload()  # a reload (after a scan or an analysis) stays where the user is
    assert window.current_page() == "Findings"


def test_page_shortcuts_keep_their_numbers_and_the_overview_is_ctrl_0(qtbot, settings):
    window = make_window(qtbot, settings)
    shortcuts = {name: action.shortcut().toString() for name, action in window.page_actions.items()}
    assert shortcuts == {"Overview": "Ctrl+0", "Scans": "Ctrl+1", "Inventory": "Ctrl+2", "Graph": "Ctrl+3",
                         "Findings": "Ctrl+4", "Move groups": "Ctrl+5"}
    assert PAGES[0] == "Overview" and window.current_page() == "Overview"
    window.page_actions["Findings"].trigger()
    assert window.current_page() == "Findings"


def test_the_overviews_numbers_equal_the_inventorys(window):
    inventory = window.snapshot.inventory
    view = window.overview_view
    for key in ("hosts", "services", "dependencies", "findings", "groups"):
        assert view.count_buttons[key].text().split("\n")[0] == f"{len(inventory[key]):,}", key
    assert len(inventory["hosts"]) == 8
    assert {b.key: b.value for b in view.os_chart.bars} == Counter(h["os_family"] for h in inventory["hosts"]) \
        == {"linux": 6, "windows": 2}
    assert {b.key: b.value for b in view.depth_chart.bars} == inventory["coverage_summary"]["by_depth"]
    assert {b.key: b.value for b in view.severity_chart.bars} == \
        {s: sum(1 for f in inventory["findings"] if f["severity"] == s) for s in SEVERITIES}
    legacy = sum(1 for h in inventory["hosts"] if h["legacy"])
    assert legacy == 1 and f"({legacy} of 8 hosts)" in view.legacy_button.text()
    top = [view.risk_table.item(r, 0).text() for r in range(view.risk_table.rowCount())]
    assert top[0] == max(inventory["hosts"], key=lambda h: h["risk_score"])["hostname"] and len(top) == 8
    plan = inventory["wave_plan"]["waves"]
    assert [c.wave for c in view.timeline.columns] == [w["wave"] for w in plan] and len(plan) > 1
    assert [c.hosts for c in view.timeline.columns] == [w["hosts"] for w in plan]


def test_clicking_an_os_family_lists_those_hosts(qtbot, window, mixed_estate):
    _, ids = mixed_estate
    view = window.overview_view
    click(qtbot, view.os_chart, view.os_chart.bar_rect("windows"))
    hosts = window.inventory_view.hosts_view
    assert window.current_page() == "Inventory" and window.inventory_view.tabs.currentWidget() is hosts
    assert {r["id"] for r in shown_rows(hosts)} == {ids["ris01"], ids["ris02"]}
    assert hosts.scope_text() == "OS family: Windows" and hosts.count_text() == "2 of 8 hosts"
    hosts.scope_button.click()  # the chip clears the filter
    assert hosts.row_count() == 8 and hosts.scope_text() is None


def test_clicking_a_severity_lists_those_findings(qtbot, window):
    findings = window.snapshot.inventory["findings"]
    severity = next(s for s in SEVERITIES if any(f["severity"] == s for f in findings))
    view = window.overview_view
    window.findings_view.set_minimum_severity("critical")  # another filter the click must not combine with
    window.show_page("Overview")
    click(qtbot, view.severity_chart, view.severity_chart.bar_rect(severity))
    rows = shown_rows(window.findings_view.table_view)
    assert window.current_page() == "Findings"
    assert rows and {f["severity"] for f in rows} == {severity}
    assert len(rows) == sum(1 for f in findings if f["severity"] == severity)


def test_clicking_a_coverage_depth_and_the_legacy_share_list_those_hosts(qtbot, window, mixed_estate):
    _, ids = mixed_estate
    view = window.overview_view
    depth = window.snapshot.hosts_by_id[ids["ris01"]]["coverage_depth"]
    assert depth != "sockets"
    click(qtbot, view.depth_chart, view.depth_chart.bar_rect(depth))
    assert {r["id"] for r in shown_rows(window.inventory_view.hosts_view)} == {ids["ris01"], ids["ris02"]}
    window.show_page("Overview")
    view.legacy_button.click()
    assert [r["id"] for r in shown_rows(window.inventory_view.hosts_view)] == [ids["db01"]]


def test_clicking_a_wave_opens_move_groups_with_it_selected(qtbot, window):
    plan = window.snapshot.inventory["wave_plan"]["waves"]
    wave = next(w for w in plan if w["group_ids"])
    view = window.overview_view
    click(qtbot, view.timeline, view.timeline.wave_rect(wave["wave"]))
    groups = window.groups_view.groups_view
    assert window.current_page() == "Move groups"
    assert sorted(g["id"] for g in shown_rows(groups)) == sorted(wave["group_ids"])
    assert groups.selected_row()["id"] == wave["group_ids"][0] and groups.scope_text() == f"Wave {wave['wave']}"
    window.show_page("Overview")
    click(qtbot, view.timeline, view.timeline.block_rect(wave["group_ids"][0]))
    assert window.current_page() == "Move groups" and groups.selected_row()["id"] == wave["group_ids"][0]
    assert groups.scope_text() is None


def test_clicking_a_blind_spot_selects_that_host(qtbot, window, mixed_estate):
    _, ids = mixed_estate
    view = window.overview_view
    spots = window.snapshot.inventory["coverage_summary"]["blind_spots"]
    assert spots[0]["host_id"] == ids["ris01"] and spots[0]["dependencies"] == 1  # app01 calls it
    assert view.blind_table.rowCount() == len(spots) == 2
    table = view.blind_table
    click(qtbot, table.viewport(), table.visualItemRect(table.item(0, 0)))
    assert window.current_page() == "Inventory" and window.inventory_view.current_host_id() == ids["ris01"]
    assert window.inventory_view.hosts_view.selected_row()["id"] == ids["ris01"]


def test_a_count_opens_its_whole_table(window):
    view = window.overview_view
    view.count_buttons["services"].click()
    services = window.inventory_view.services_view
    assert window.inventory_view.tabs.currentWidget() is services
    assert services.row_count() == len(window.snapshot.inventory["services"])
    window.show_page("Overview")
    view.count_buttons["findings"].click()
    assert window.current_page() == "Findings"
    assert window.findings_view.table_view.row_count() == len(window.snapshot.inventory["findings"])


def test_an_empty_store_says_which_scans_to_run(qtbot, settings, tmp_path, messages):
    window = make_window(qtbot, settings)
    assert window.overview_view.is_empty_state() and "No store open" in window.overview_view.empty_text()
    path = tmp_path / "empty.db"
    Store(path).close()
    open_in(qtbot, window, path)
    view = window.overview_view
    assert window.current_page() == "Overview" and view.is_empty_state()
    text = view.empty_text()
    for words in ("no hosts yet", "Network…", "Ctrl+Shift+N", "This host…", "SSH hosts…", "import a file",
                  "Analyze"):
        assert words in text, words
    view.scan_requested.emit("network")  # a link opens the scan dialog on its kind
    from gui.scan_dialog import ScanDialog
    (dialog,) = window.findChildren(ScanDialog)
    assert dialog.current_kind() == "network"
    dialog.close()
    assert not messages


def test_coverage_with_and_without_its_keys(qtbot, mixed_estate):
    from gui.data import load_snapshot
    view = OverviewView()
    qtbot.addWidget(view)
    snapshot = load_snapshot(mixed_estate[0])
    view.set_snapshot(snapshot)
    assert not view.depth_chart.isHidden() and "Deep inventory" in view.coverage_label.text()
    assert view.blind_table.rowCount() == 2

    inventory = {k: v for k, v in snapshot.inventory.items() if k != "coverage_summary"}
    inventory["hosts"] = [{k: v for k, v in h.items() if not k.startswith("coverage_")} for h in inventory["hosts"]]
    assert overview_figures(inventory)["coverage"] is None
    view.set_snapshot(snapshot_of(inventory))
    assert view.depth_chart.isHidden() and NOT_ANALYSED in view.coverage_label.text()
    assert view.blind_table.isHidden() and NOT_ANALYSED in view.blind_label.text()
    assert NOT_ANALYSED == "run Analyze to compute coverage"
    assert view.count_buttons["hosts"].text().startswith("8\n")  # the rest still shows
