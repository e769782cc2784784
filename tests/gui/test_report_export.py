"""The export dialog offers the assessment report and writes it, as `estatemap report` does."""

from __future__ import annotations

from exports.registry import FORMATS, load_exporter
from gui.export_dialog import ExportDialog
from tests.unit.test_report import figures_of


def test_export_dialog_writes_the_assessment_report(qtbot, estate_db, tmp_path):
    dialog = ExportDialog(estate_db[0], FORMATS, load_exporter)
    qtbot.addWidget(dialog)
    dialog.show()
    labels = [dialog.format_combo.itemText(i) for i in range(dialog.format_combo.count())]
    assert "Assessment report (.html)" in labels
    dialog.path_edit.setText(str(tmp_path / "estate.xlsx"))
    dialog.choose_format("report")
    assert dialog.path_edit.text() == str(tmp_path / "estate.html")  # the extension follows the format
    with qtbot.waitSignal(dialog.export_finished, timeout=60_000):
        assert dialog.start()
    page = (tmp_path / "estate.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and figures_of(page)["hosts"] == len(estate_db[1]) == 6
    assert dialog.status_label.text().startswith(f"Wrote {tmp_path / 'estate.html'}: 6 hosts, ")
