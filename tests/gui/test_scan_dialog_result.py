"""The scan dialog's result and log: the summary shown once, the log taking the spare room, warnings
highlighted, a watch's time left, and a previous scan's status cleared by a new validation error."""

from __future__ import annotations

from pathlib import Path

import pytest

from gui.scan_dialog import HIGHLIGHTS, format_remaining
from tests.gui.conftest import choose_host_watch, shown_scan_dialog

NMAP_XML = Path(__file__).resolve().parents[1] / "data" / "nmap" / "localhost-sV-O.xml"


@pytest.fixture
def dialog(qtbot, tmp_path):
    yield from shown_scan_dialog(qtbot, tmp_path / "estate.db")


def import_once(qtbot, dialog):
    dialog.choose_kind("import")
    dialog.import_path.setText(str(NMAP_XML))
    with qtbot.waitSignal(dialog.scan_finished, timeout=30_000) as finished:
        assert dialog.start()
    return finished.args[0]


def test_the_summary_is_shown_once(qtbot, dialog):
    import_once(qtbot, dialog)
    summary = dialog.summary_label.text()
    assert summary.startswith("Scan 1 completed: 1 host stored")
    shown = [dialog.summary_label.text(), dialog.status_label.text(), dialog.log_view.toPlainText(),
             dialog.error_label.text()]
    assert sum(text.count("1 host stored") for text in shown) == 1


def test_the_log_takes_the_spare_room(qtbot, dialog):
    lines = dialog.log_view.height() // dialog.log_view.fontMetrics().lineSpacing()
    assert lines >= 8
    dialog.choose_kind("ssh")
    qtbot.wait(10)
    ssh_log = dialog.log_view.height()
    dialog.choose_kind("host")  # a short form: the tabs shrink to it and the log grows
    qtbot.waitUntil(lambda: dialog.log_view.height() > ssh_log)
    dialog.resize(dialog.width(), dialog.height() + 300)
    qtbot.waitUntil(lambda: dialog.log_view.height() // dialog.log_view.fontMetrics().lineSpacing() >= lines + 10)


def colour_of_line(dialog, text: str) -> str:
    block = dialog.log_view.document().firstBlock()
    while block.isValid():
        if block.text() == text:
            return block.begin().fragment().charFormat().foreground().color().name()
        block = block.next()
    raise AssertionError(f"{text!r} is not in the log")


def test_warnings_and_errors_are_highlighted_in_the_log(dialog):
    dialog.append_log("scanned 10.0.0.1")
    dialog.append_log("warning: 10.0.0.2: permission denied reading sockets")
    dialog.append_log("scanned 10.0.0.3")
    dialog.append_log("error: the store is locked")
    colours = dict(HIGHLIGHTS)
    assert colour_of_line(dialog, "warning: 10.0.0.2: permission denied reading sockets") == colours["warning:"]
    assert colour_of_line(dialog, "error: the store is locked") == colours["error:"]
    assert colour_of_line(dialog, "scanned 10.0.0.3") not in colours.values(), "the next line is plain again"
    assert colour_of_line(dialog, "scanned 10.0.0.1") not in colours.values()


def test_format_remaining():
    assert format_remaining(42) == "about 42 s left"
    assert format_remaining(12 * 60 + 10) == "about 12 min left"
    assert format_remaining(3600) == "about 1 h 00 min left"
    assert format_remaining(-5) == "about 0 s left"


def test_a_watch_scan_shows_the_time_left(qtbot, dialog):
    choose_host_watch(dialog, "minutes")
    assert dialog.start()
    qtbot.waitSignal(dialog.worker.progress_changed, timeout=120_000,
                     check_params_cb=lambda done, total, message: message.startswith("sample")).wait()
    assert dialog.status_label.text().endswith("sample 1 — about 1 h 00 min left")
    with qtbot.waitSignal(dialog.scan_finished, timeout=120_000):
        dialog.cancel_button.click()


def test_a_new_validation_error_clears_the_previous_scans_status(qtbot, dialog):
    import_once(qtbot, dialog)
    assert dialog.progress_bar.text() == "completed"
    dialog.choose_kind("network")
    dialog.network_targets.setPlainText("not a target!")
    assert not dialog.start()
    assert dialog.error_label.isVisible() and dialog.error_label.text()
    assert dialog.summary_label.text() == ""
    assert dialog.status_label.text() == "Not started."
    assert dialog.progress_bar.text() != "completed"
