"""The banner that says the analysis predates a scan, its Analyze button and Ctrl+R, and Scan ▸ Analyze after
each scan (kept in the settings)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from discovery.storage.store import Store
from gui.main_window import stale_analysis
from tests.gui.test_main_window import make_window, messages, settings  # noqa: F401 (fixtures)

NMAP_XML = Path(__file__).resolve().parents[1] / "data" / "nmap" / "localhost-sV-O.xml"


def open_window(qtbot, settings, path):  # noqa: F811
    window = make_window(qtbot, settings)
    window.show()
    with qtbot.waitSignal(window.snapshot_loaded, timeout=30_000):
        window.open_store(path)
    return window


def import_scan(qtbot, window):
    """Import NMAP_XML through the scan dialog, as a user does; return once the window has reloaded."""
    dialog = window.scan_dialog("import")
    dialog.import_path.setText(str(NMAP_XML))
    with qtbot.waitSignal(window.snapshot_loaded, timeout=60_000):
        assert dialog.start()
    dialog.close()
    return dialog


def test_stale_analysis_names_the_newest_scan_after_the_analysis():
    analysis = {"created_at": "2026-12-01T10:00:00+00:00"}
    scans = [{"id": 1, "finished_at": "2026-12-01T09:00:00+00:00"}, {"id": 2, "finished_at": "2026-12-01T11:00:00+00:00"},
             {"id": 3, "finished_at": "2026-12-01T12:00:00+00:00"}, {"id": 4, "finished_at": None}]
    assert stale_analysis({"scans": scans, "analysis": analysis, "hosts": [{}]}) == "Analysis predates scan #3"
    assert stale_analysis({"scans": scans[:1], "analysis": analysis, "hosts": [{}]}) is None
    assert stale_analysis({"scans": scans, "analysis": None, "hosts": [{}]}) == "Not analysed yet"
    assert stale_analysis({"scans": [], "analysis": None, "hosts": []}) is None
    same_second = {**analysis, "hosts": 1}  # a scan ending in the analysis's second: told by the host count
    tie = [{"id": 5, "finished_at": analysis["created_at"]}]
    assert stale_analysis({"scans": tie, "analysis": same_second, "hosts": [{}, {}]}) == "Analysis predates scan #5"
    assert stale_analysis({"scans": tie, "analysis": same_second, "hosts": [{}]}) is None


def backdate_analysis(path):
    """Move the fixture's scan and analysis back in time (times are to the second; a test's scan must be later)."""
    with Store(path) as store:
        store.db["scans"].update(1, {"finished_at": "2026-11-28T00:00:00+00:00"})
        store.db["analyses"].update(store.latest_analysis()["id"], {"created_at": "2026-11-28T00:01:00+00:00"})


def test_stale_banner_after_a_scan_and_gone_after_analyze(qtbot, settings, estate_db, messages):  # noqa: F811
    path, _ = estate_db
    backdate_analysis(path)
    window = open_window(qtbot, settings, path)
    assert window.stale_banner.isHidden()
    import_scan(qtbot, window)
    assert window.stale_banner.isVisible()
    assert "Analysis predates scan #2" in window.stale_label.text()
    assert window.stale_button.toolTip()
    with Store(path) as store:
        before = store.latest_analysis()["id"]
    with qtbot.waitSignal(window.snapshot_loaded, timeout=60_000):
        qtbot.mouseClick(window.stale_button, Qt.MouseButton.LeftButton)
    assert window.stale_banner.isHidden()
    with Store(path) as store:
        assert store.latest_analysis()["id"] > before
    assert not messages


def test_ctrl_r_analyses_a_stale_store(qtbot, settings, estate_db, messages):  # noqa: F811
    path, _ = estate_db
    backdate_analysis(path)
    window = open_window(qtbot, settings, path)
    import_scan(qtbot, window)
    assert window.stale_banner.isVisible()
    with qtbot.waitActive(window):
        window.activateWindow()
    with qtbot.waitSignal(window.snapshot_loaded, timeout=30_000):
        qtbot.keyClick(window.navigation, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert window.stale_banner.isHidden()
    assert not messages


def test_analyze_after_each_scan_is_remembered_and_analyses(qtbot, settings, estate_db, messages):  # noqa: F811
    path, _ = estate_db
    backdate_analysis(path)
    window = open_window(qtbot, settings, path)
    assert not window.auto_analyze_action.isChecked() and window.auto_analyze_action.isCheckable()
    window.auto_analyze_action.trigger()
    assert settings.value("analyze_after_scan") in (True, "true")
    with Store(path) as store:
        before = store.latest_analysis()["id"]
    with qtbot.waitSignal(window.analysis_finished, timeout=60_000):
        import_scan(qtbot, window)
    qtbot.waitUntil(lambda: window.stale_banner.isHidden(), timeout=30_000)
    with Store(path) as store:
        assert store.latest_analysis()["id"] > before
    assert make_window(qtbot, settings).auto_analyze_action.isChecked()  # the next window remembers it
    assert not messages
