"""InventoryView: the record tabs, a host's details, and annotations written to the store."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QMessageBox

from discovery.storage.store import Store
from gui.inventory_view import InventoryView
from gui.table_view import RecordTableView


@pytest.fixture
def view(qtbot, snapshot):
    widget = InventoryView()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.set_snapshot(snapshot)
    return widget


def shown(table: RecordTableView, key: str) -> list:
    return [table.model.row_dict(r)[key] for r in range(table.row_count())]


def test_inventory_view_tables_show_every_record(view, snapshot):
    inventory = snapshot.inventory
    assert sorted(shown(view.hosts_view, "hostname")) == ["app01", "cache01", "db01", "dns01", "pacs01", "web01"]
    assert shown(view.hosts_view, "hostname")[0] == "app01", "hosts are sorted by name"
    assert view.services_view.row_count() == len(inventory["services"]) == 7
    assert view.software_view.row_count() == len(inventory["software"]) > 0
    assert view.databases_view.row_count() == len(inventory["databases"]) == 1
    assert view.connections_view.row_count() == len(inventory["connections"]) > 0
    assert view.hosts_view.count_text() == "6 hosts"


def test_inventory_view_host_columns_show_names_not_ids(view, snapshot, estate_db):
    _, ids = estate_db
    services = view.services_view
    row = services.model.find_row("host_id", ids["db01"])
    assert services.model.display_text(row, 0) == "db01"
    connections = view.connections_view
    texts = {connections.model.display_text(r, 3) for r in range(connections.row_count())}
    assert {"db01", "dns01"} <= texts


def test_inventory_view_filter_narrows_rows_after_typing(view, qtbot):
    hosts = view.hosts_view
    qtbot.keyClicks(hosts.filter_edit, "DB0")
    qtbot.waitUntil(lambda: hosts.row_count() == 1, timeout=30_000)
    assert shown(hosts, "hostname") == ["db01"]
    assert hosts.count_text() == "1 of 6 hosts"
    hosts.set_filter_text("10.9.8.")
    assert hosts.row_count() == 6
    view.services_view.set_filter_text("postgres")
    assert shown(view.services_view, "port") == [5432]


def test_inventory_view_column_chooser_hides_columns(view):
    hosts = view.hosts_view
    menu = hosts.columns_menu()
    actions = {a.text(): a for a in menu.actions()}
    assert not actions["Host ID"].isChecked() and actions["Hostname"].isChecked()
    actions["Host ID"].setChecked(True)
    host_id_column = [c.key for c in hosts.model.columns].index("id")
    assert not hosts.table.isColumnHidden(host_id_column)
    actions["Addresses"].setChecked(False)
    assert hosts.table.isColumnHidden([c.key for c in hosts.model.columns].index("addresses"))


def test_inventory_view_sort_by_risk(view):
    hosts = view.hosts_view
    risk_column = [c.key for c in hosts.model.columns].index("risk_score")
    hosts.table.sortByColumn(risk_column, Qt.SortOrder.DescendingOrder)
    scores = shown(hosts, "risk_score")
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]


def test_inventory_view_selecting_host_shows_details(view, qtbot, snapshot, estate_db):
    _, ids = estate_db
    host = snapshot.hosts_by_id[ids["db01"]]
    host.update(vendor="Dell Inc.", model="PowerEdge R640", cpu_model="Xeon Gold 6130", memory_bytes=64 * 1024 ** 3,
                disks=[{"name": "sda", "model": "PERC H730", "size_bytes": 480 * 1024 ** 3}])
    with qtbot.waitSignal(view.host_selected) as blocker:
        view.hosts_view.select_where("id", ids["db01"])
    assert blocker.args == [ids["db01"]]
    text = view.details.text()
    for expected in ("db01", "Dell Inc.", "PowerEdge R640", "Xeon Gold 6130", "64.0 GiB", "sda PERC H730 480.0 GiB",
                     "Debian GNU/Linux", "10.9.8.3", "Software (1)", "5432/tcp",
                     "Debian 10 is past end of support", "Recommendation", "Risk factors", "legacy", "+25",
                     "1 database server(s)"):
        assert expected in text, expected
    assert f"Score {host['risk_score']:g} of 100" in text
    connections = text[text.index("Depends on"):text.index("Risk factors")]
    assert "dns01" in connections and "app01" in connections, "peers are named, in and out, before the rest"
    assert "postgresql-11" not in text, "the software list is folded"
    view.details.pane.anchorClicked.emit(QUrl("toggle:software"))
    assert "postgresql-11" in view.details.text()


def test_inventory_view_service_row_shows_its_host(view, qtbot, estate_db):
    _, ids = estate_db
    view.tabs.setCurrentWidget(view.services_view)
    with qtbot.waitSignal(view.host_selected) as blocker:
        view.services_view.select_where("port", 104)
    assert blocker.args == [ids["pacs01"]]
    assert "pacs01" in view.details.text() and "Telnet" in view.details.text()
    assert view.current_host_id() == ids["pacs01"]


def test_inventory_view_select_host_clears_a_hiding_filter(view, estate_db):
    _, ids = estate_db
    view.hosts_view.set_filter_text("web01")
    assert view.select_host(ids["cache01"])
    assert view.hosts_view.selected_row()["id"] == ids["cache01"]
    assert "cache01" in view.details.text()
    assert not view.select_host("h-nope")


def test_inventory_view_host_link_in_details_selects_that_host(view, estate_db):
    _, ids = estate_db
    view.select_host(ids["db01"])
    view.details.pane.anchorClicked.emit(QUrl(f"host:{ids['app01']}"))
    assert view.current_host_id() == ids["app01"]


def test_inventory_view_saves_annotation_to_store(view, qtbot, estate_db):
    path, ids = estate_db
    view.select_host(ids["pacs01"])
    editor = view.details.annotation
    assert not editor.save_button.isEnabled()
    qtbot.keyClicks(editor.owner_edit, "Radiology IT")
    editor.criticality_combo.setCurrentIndex(editor.criticality_combo.findData("high"))
    editor.criticality_combo.activated.emit(editor.criticality_combo.currentIndex())
    editor.patient_data_combo.setCurrentIndex(editor.patient_data_combo.findData("yes"))
    editor.patient_data_combo.activated.emit(editor.patient_data_combo.currentIndex())
    editor.notes_edit.setPlainText("PACS archive\nmove with the modality worklist")
    assert editor.is_dirty() and "Unsaved" in editor.status_label.text()
    assert editor.save_button.isEnabled()
    with qtbot.waitSignal(view.annotation_saved) as blocker:
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [ids["pacs01"]]
    with Store(path, create=False) as store:
        stored = {a["host_id"]: a for a in store.rows("annotations")}
    assert stored[ids["pacs01"]]["owner"] == "Radiology IT"
    assert stored[ids["pacs01"]]["criticality"] == "high"
    assert stored[ids["pacs01"]]["patient_data"] == "yes"
    assert stored[ids["pacs01"]]["notes"] == "PACS archive\nmove with the modality worklist"
    assert not editor.is_dirty() and editor.status_label.text() == ""
    row = view.hosts_view.model.find_row("id", ids["pacs01"])
    owner_column = [c.key for c in view.hosts_view.model.columns].index("owner")
    assert view.hosts_view.model.display_text(row, owner_column) == "Radiology IT"


def test_inventory_view_save_sends_only_changed_fields(view, qtbot, estate_db):
    path, ids = estate_db
    with Store(path, create=False) as store:
        store.save_annotations([{"host_id": ids["web01"], "notes": "written by the workbook"}])
    view.select_host(ids["web01"])
    editor = view.details.annotation
    editor.owner_edit.setText("Web team")
    editor.owner_edit.textEdited.emit("Web team")
    assert editor.changes() == {"owner": "Web team"}, "patient data left at unknown is not a change"
    assert editor.save()
    with Store(path, create=False) as store:
        stored = {a["host_id"]: a for a in store.rows("annotations")}[ids["web01"]]
    assert stored["owner"] == "Web team"
    assert stored["notes"] == "written by the workbook", "a field the editor did not change keeps its value"
    assert stored["patient_data"] is None


def test_inventory_view_unsaved_edits_survive_switching_hosts(view, estate_db):
    _, ids = estate_db
    view.select_host(ids["app01"])
    editor = view.details.annotation
    editor.owner_edit.setText("App team")
    editor.owner_edit.textEdited.emit("App team")
    view.select_host(ids["dns01"])
    assert editor.owner_edit.text() == "" and not editor.is_dirty()
    assert editor.unsaved_hosts() == [ids["app01"]]
    view.select_host(ids["app01"])
    assert editor.owner_edit.text() == "App team" and editor.is_dirty()
    editor.revert()
    assert editor.owner_edit.text() == "" and editor.unsaved_hosts() == []


def test_inventory_view_save_error_is_shown_not_raised(view, qtbot, estate_db):
    path, ids = estate_db
    view.select_host(ids["cache01"])
    path.unlink()
    editor = view.details.annotation
    editor.owner_edit.setText("Cache team")
    editor.owner_edit.textEdited.emit("Cache team")
    received = []
    view.annotation_saved.connect(received.append)
    assert editor.save() is False
    assert isinstance(editor.error_box, QMessageBox) and editor.error_box.isVisible()
    assert "not saved" in editor.error_box.text() and "Traceback" not in editor.error_box.text()
    assert received == [] and editor.is_dirty()
    editor.error_box.close()


def test_inventory_view_refuses_notes_too_long_for_a_cell_and_keeps_them(view, qtbot, estate_db):
    """Notes of 32,001 characters: the status line says why as they are typed, Save refuses with a message
    naming the limit, nothing is written and the text stays in the editor; shortened, they save."""
    path, ids = estate_db
    view.select_host(ids["web01"])
    editor = view.details.annotation
    received = []
    view.annotation_saved.connect(received.append)
    editor.notes_edit.setPlainText("n" * 32_001)
    assert "Notes are 32,001 characters long; the limit is 32,000" in editor.status_label.text()
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert isinstance(editor.error_box, QMessageBox) and editor.error_box.isVisible()
    assert "not saved" in editor.error_box.text() and "the limit is 32,000" in editor.error_box.text()
    editor.error_box.close()
    with Store(path, create=False) as store:
        assert store.rows("annotations") == []
    assert received == [] and editor.is_dirty() and editor.notes_edit.toPlainText() == "n" * 32_001
    editor.notes_edit.setPlainText("n" * 32_000)
    assert editor.status_label.text() == "<b style='color:#B85C00'>Unsaved changes</b>"
    assert editor.save() and received == [ids["web01"]]
    with Store(path, create=False) as store:
        assert store.rows("annotations")[0]["notes"] == "n" * 32_000


def test_inventory_view_keeps_shown_host_on_new_snapshot(view, estate_db, snapshot):
    _, ids = estate_db
    view.select_host(ids["db01"])
    received = []
    view.host_selected.connect(received.append)
    view.set_snapshot(snapshot)
    assert view.current_host_id() == ids["db01"] and "db01" in view.details.text()
    assert received == [], "the same host again is not a new selection"
    view.set_snapshot(None)
    assert view.hosts_view.row_count() == 0 and view.current_host_id() is None
