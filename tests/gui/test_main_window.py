"""The main window: opening stores (and remembering them), the status bar, navigation, errors as messages."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from exports.registry import FORMATS, load_exporter
from gui.main_window import PAGES, MainWindow
from scanners.kinds import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path):
    """Settings in a file of the test's own, never the user's."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def messages(monkeypatch):
    """Message boxes answered at once (a modal box would wait for a click); their texts are collected."""
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append(text))
    return shown


def make_window(qtbot, settings, kinds=REGISTRY) -> MainWindow:
    window = MainWindow(scan_kinds=kinds, formats=FORMATS, exporter_factory=load_exporter, settings=settings)
    qtbot.addWidget(window)
    return window


def test_open_store_fills_every_view_and_the_status_bar(qtbot, settings, estate_db, messages):
    path, ids = estate_db
    window = make_window(qtbot, settings)
    with qtbot.waitSignal(window.snapshot_loaded, timeout=30_000) as loaded:
        window.open_store(path)
    snapshot = loaded.args[0]
    assert len(snapshot.inventory["hosts"]) == 6
    assert str(path) in window.store_label.text()
    assert "6 hosts" in window.counts_label.text() and "Last scan: #1 host completed" in window.scan_label.text()
    assert window.recent_stores() == [str(path)] and window.export_action.isEnabled()
    for name in PAGES:
        window.show_page(name)
        assert window.pages.currentWidget() is window.views[name]
    window.show_host(ids["db01"])
    assert window.current_page() == "Inventory"
    assert not messages


def test_the_next_window_reopens_the_last_store_and_layout(qtbot, settings, estate_db, messages):
    path, _ = estate_db
    first = make_window(qtbot, settings)
    with qtbot.waitSignal(first.snapshot_loaded, timeout=30_000):
        first.open_store(path)
    first.resize(720, 520)
    first.show_page("Findings")
    first.close()

    second = make_window(qtbot, settings)
    assert second.current_page() == "Findings" and (second.width(), second.height()) == (720, 520)
    with qtbot.waitSignal(second.snapshot_loaded, timeout=30_000):
        second.open_initial_store(None)
    assert second.store_path == path


def test_a_file_that_is_not_a_store_is_a_message_not_a_crash(qtbot, settings, tmp_path, messages):
    bogus = tmp_path / "notes.db"
    bogus.write_bytes(b"\x00garbage" * 100)
    before = bogus.read_bytes()
    window = make_window(qtbot, settings)
    with qtbot.waitSignal(window.load_failed, timeout=30_000):
        window.open_store(bogus)
    assert messages and "not an Estate Mapper store" in messages[0] and "Traceback" not in messages[0]
    assert window.snapshot is None and bogus.read_bytes() == before
    window.open_store(tmp_path / "missing.db")
    assert "no store at" in messages[-1]


def test_new_store_is_created_and_opened_empty(qtbot, settings, tmp_path, messages):
    window = make_window(qtbot, settings)
    path = tmp_path / "site-b.db"
    with qtbot.waitSignal(window.snapshot_loaded, timeout=30_000) as loaded:
        window.create_store(path)
    assert path.exists() and loaded.args[0].inventory["hosts"] == []
    assert "No scans yet" in window.scan_label.text()
    window.create_store(path)
    assert "exists" in messages[-1]


def test_analyze_from_the_menu_stores_a_new_analysis(qtbot, settings, estate_db, messages):
    from discovery.storage.store import Store
    path, _ = estate_db
    window = make_window(qtbot, settings)
    with qtbot.waitSignal(window.snapshot_loaded, timeout=30_000):
        window.open_store(path)
    with Store(path) as store:
        before = store.latest_analysis()["id"]
    with qtbot.waitSignal(window.snapshot_loaded, timeout=60_000):
        window.analyze_action.trigger()
    with Store(path) as store:
        assert store.latest_analysis()["id"] > before
    assert not messages


def test_signal_emits_keep_pythons_reference_to_true():
    """PySide6 6.12.0 on Python 3.11 drops a reference to True on every emit and aborts after a few thousand
    (pyproject.toml pins below it); this fails if such a build comes back."""
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        fired = Signal(int)

    probe, before = Probe(), sys.getrefcount(True)
    for n in range(200):
        probe.fired.emit(n)
    assert sys.getrefcount(True) >= before - 5
    from PySide6.QtCore import QPointF  # and every call of a method returning void lost one to None
    point, before = QPointF(), sys.getrefcount(None)
    for _ in range(200):
        point.setX(1.0)
    assert sys.getrefcount(None) >= before - 5


def test_a_saved_annotation_is_scored_in_the_host_risk(qtbot, settings, estate_db, messages):
    from PySide6.QtCore import Qt
    path, ids = estate_db
    window = make_window(qtbot, settings)
    with qtbot.waitSignal(window.snapshot_loaded, timeout=30_000) as loaded:
        window.open_store(path)
    before = loaded.args[0].hosts_by_id[ids["cache01"]]
    assert not any(f["factor"] in ("criticality", "patient data") for f in before["risk_factors"])
    window.show_host(ids["cache01"])
    editor = window.inventory_view.details.annotation
    editor.criticality_combo.setCurrentIndex(editor.criticality_combo.findData("critical"))
    editor.criticality_combo.activated.emit(editor.criticality_combo.currentIndex())
    editor.patient_data_combo.setCurrentIndex(editor.patient_data_combo.findData("yes"))
    editor.patient_data_combo.activated.emit(editor.patient_data_combo.currentIndex())
    with qtbot.waitSignal(window.analysis_finished, timeout=60_000), \
            qtbot.waitSignal(window.snapshot_loaded, timeout=60_000) as reloaded:
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    after = reloaded.args[0].hosts_by_id[ids["cache01"]]
    factors = {f["factor"] for f in after["risk_factors"]}
    assert after["criticality"] == "critical" and after["patient_data"] == "yes"
    assert "criticality" in factors and after["risk_score"] > before["risk_score"]
    assert not messages


def test_resume_from_the_scans_page_opens_the_dialog_on_that_scan(qtbot, settings, estate_db, messages):
    from discovery.storage.store import Store
    path, _ = estate_db
    with Store(path) as store:
        store.finish_scan(1, "interrupted")
    window = make_window(qtbot, settings)
    with qtbot.waitSignal(window.snapshot_loaded, timeout=30_000):
        window.open_store(path)
    scans = window.scans_view
    assert not scans.resume_button.isEnabled()
    scans.table_view.select_row(0)
    assert scans.resume_button.isEnabled()
    opened = []
    original = window.resume_scan
    window.scans_view.resume_requested.disconnect()
    window.scans_view.resume_requested.connect(lambda scan_id: opened.append(original(scan_id)))
    scans.resume_button.click()
    (dialog,) = opened
    assert dialog.current_kind() == "host" and dialog.worker is not None  # a host scan is run again
    with qtbot.waitSignal(window.snapshot_loaded, timeout=120_000) as reloaded:  # the window reloads after it
        pass
    assert [(s["id"], s["kind"], s["status"]) for s in reloaded.args[0].inventory["scans"]] == [
        (1, "host", "interrupted"), (2, "host", "completed")]
    dialog.close()


def menu_texts(window: MainWindow, title: str) -> list[str]:
    """The texts of a menu's actions as a user reads them (no mnemonic ampersand, no separators)."""
    (menu,) = [a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == title]
    return [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]


def test_the_scan_menu_has_one_action_per_kind_of_the_registry(qtbot, settings):
    from discovery.scanning.scan_kinds import ScanKinds
    from tests import toy_kind
    window = make_window(qtbot, settings)
    assert menu_texts(window, "Scan") == ["Network…", "This host…", "SSH hosts…", "SNMP…", "Passive…", "Database…",
                                          "VMware…", "Analyze", "Analyze after each scan"]
    shortcuts = {name: action.shortcut().toString() for name, action in window.scan_actions.items()}
    assert shortcuts == {"network": "Ctrl+Shift+N", "host": "Ctrl+Shift+H", "ssh": "Ctrl+Shift+S", "snmp": "",
                         "passive": "", "database": "", "vcenter": ""}
    assert "Import file…" in menu_texts(window, "File") and window.import_action.shortcut().toString() == "Ctrl+I"
    with_toy = make_window(qtbot, settings, ScanKinds((*REGISTRY.kinds, toy_kind.KIND)))
    assert menu_texts(with_toy, "Scan") == ["Network…", "This host…", "SSH hosts…", "SNMP…", "Passive…", "Database…",
                                            "VMware…", "Toy…", "Analyze", "Analyze after each scan"]


def test_a_scan_action_opens_the_dialog_on_its_kind(qtbot, settings, estate_db, messages):
    path, _ = estate_db
    window = make_window(qtbot, settings)
    with qtbot.waitSignal(window.snapshot_loaded, timeout=30_000):
        window.open_store(path)
    from gui.scan_dialog import ScanDialog
    window.scan_actions["database"].trigger()
    (dialog,) = window.findChildren(ScanDialog)
    assert dialog.isVisible() and dialog.current_kind() == "database"
    dialog.close()
    assert not messages


def test_a_missing_x11_library_is_one_clear_line(monkeypatch):
    """Qt would abort with a page of advice when its xcb plugin cannot load; estatemap names the library."""
    import ctypes

    from discovery.records.model import EstateError
    from gui.app import check_display

    def cdll(name, *args, **kwargs):
        raise OSError(f"{name}: libxcb-icccm.so.4: cannot open shared object file: No such file or directory")

    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(ctypes, "CDLL", cdll)
    with pytest.raises(EstateError, match=r"missing \(libxcb-icccm\.so\.4\).*scripts/setup\.sh"):
        check_display()
