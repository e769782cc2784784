"""ExportDialog: export_inventory (what `estatemap export` calls) on a worker thread, with main's exporters."""

from __future__ import annotations

import json
import zipfile

import openpyxl
import pytest

import main
from exports.registry import FORMATS, load_exporter
from gui.export_dialog import ExportDialog


@pytest.fixture
def dialog(qtbot, estate_db):
    dialog = ExportDialog(estate_db[0], FORMATS, load_exporter)
    qtbot.addWidget(dialog)
    dialog.show()
    yield dialog
    if dialog.worker is not None:
        assert dialog.worker.wait(30)
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)


def hostnames_in_workbook(path) -> list[str]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = workbook["Hosts"].iter_rows(values_only=True)
    header = next(rows)
    names = sorted(dict(zip(header, row))["Hostname"] for row in rows)
    workbook.close()
    return names


def test_export_dialog_writes_xlsx_with_every_host(qtbot, dialog, estate_db, tmp_path):
    path = tmp_path / "estate.xlsx"
    dialog.choose_format("xlsx")
    dialog.path_edit.setText(str(path))
    with qtbot.waitSignal(dialog.export_finished, timeout=60_000) as finished:
        assert dialog.start()
    assert finished.args == [str(path)]
    assert hostnames_in_workbook(path) == sorted(estate_db[1])
    assert len(estate_db[1]) == 6
    assert dialog.status_label.text().startswith(f"Wrote {path}: 6 hosts, ")
    assert not dialog.error_label.isVisible()


def test_export_dialog_existing_file_no_keeps_it_byte_identical(qtbot, dialog, tmp_path, monkeypatch):
    path = tmp_path / "estate.xlsx"
    path.write_bytes(b"the architects' annotated copy\x00\x01")
    before = path.read_bytes()
    asked = []
    monkeypatch.setattr(dialog, "confirm_overwrite", lambda p: asked.append(p) or False)
    dialog.choose_format("xlsx")
    dialog.path_edit.setText(str(path))
    assert dialog.start() is False
    assert asked == [path]
    assert dialog.worker is None
    assert path.read_bytes() == before
    assert "left as it was" in dialog.status_label.text()


def test_export_dialog_existing_file_yes_replaces_it(qtbot, dialog, estate_db, tmp_path, monkeypatch):
    path = tmp_path / "estate.json"
    path.write_text("old")
    monkeypatch.setattr(dialog, "confirm_overwrite", lambda p: True)
    dialog.choose_format("json")
    dialog.path_edit.setText(str(path))
    dialog.hosts_edit.setText("db*")
    with qtbot.waitSignal(dialog.export_finished, timeout=60_000):
        assert dialog.start()
    doc = json.loads(path.read_text())
    assert [h["hostname"] for h in doc["hosts"]] == ["db01"]
    assert dialog.status_label.text().startswith(f"Wrote {path}: 1 host, ")


def test_export_dialog_filters_by_severity_and_scan(qtbot, dialog, tmp_path):
    path = tmp_path / "high.json"
    dialog.choose_format("json")
    dialog.path_edit.setText(str(path))
    dialog.severity_combo.setCurrentIndex(dialog.severity_combo.findData("high"))
    assert dialog.scan_combo.count() == 2  # the current inventory and the estate's one scan
    dialog.scan_combo.setCurrentIndex(1)
    assert dialog.export_options() == {"scan_id": 1, "hosts_pattern": None, "min_severity": "high",
                                       "filters": main.NOISE_FILTERS}
    with qtbot.waitSignal(dialog.export_finished, timeout=60_000):
        assert dialog.start()
    doc = json.loads(path.read_text())
    assert doc["findings"] and {f["severity"] for f in doc["findings"]} <= {"critical", "high"}
    assert len(doc["hosts"]) == 6


def test_export_dialog_csv_suggests_zip_and_swaps_extension(qtbot, dialog, tmp_path):
    assert dialog.suggested_extension("csv") == "zip" and dialog.suggested_extension("aws-migration-hub") == "csv"
    dialog.choose_format("json")
    dialog.path_edit.setText(str(tmp_path / "estate.json"))
    dialog.choose_format("csv")
    assert dialog.path_edit.text() == str(tmp_path / "estate.zip")
    with qtbot.waitSignal(dialog.export_finished, timeout=60_000):
        assert dialog.start()
    with zipfile.ZipFile(tmp_path / "estate.zip") as archive:
        assert "hosts.csv" in archive.namelist()


def test_export_dialog_errors_are_messages(qtbot, dialog, tmp_path):
    dialog.choose_format("json")
    dialog.path_edit.setText(str(tmp_path / "no-such-folder" / "estate.json"))
    assert dialog.start() is False
    assert "does not exist" in dialog.error_label.text()
    # An error inside the worker (a scan that is not in the store) comes back as the EstateError's text.
    dialog.path_edit.setText(str(tmp_path / "estate.json"))
    dialog.scan_combo.addItem("Scan 99", 99)
    dialog.scan_combo.setCurrentIndex(dialog.scan_combo.count() - 1)
    with qtbot.waitSignal(dialog.export_failed, timeout=60_000) as failed:
        assert dialog.start()
    assert failed.args == ["no scan with id 99 (see: estatemap scans)"]
    assert dialog.error_label.text() == "no scan with id 99 (see: estatemap scans)"
    assert dialog.export_button.isEnabled()
    assert not (tmp_path / "estate.json").exists()


def test_export_dialog_keeps_the_noise_when_asked(qtbot, tmp_path):
    """Like `estatemap export --keep`: a port-to-port connection with no listener is left out, unless kept."""
    from discovery.records.model import Scan
    from discovery.storage.store import Store
    from tests.builders import T0, make_report

    db = tmp_path / "noisy.db"
    with Store(db) as store:
        scan = store.start_scan(Scan(kind="host", started_at=T0))
        store.write_host_report(scan, make_report(hostname="a", address="10.9.1.1", services=(), connections=(
            ("10.9.1.1", 50001, "10.9.1.2", 50002, "outbound", "p2p"),)))
        store.write_host_report(scan, make_report(hostname="b", address="10.9.1.2", services=()))
        store.finish_scan(scan, "completed")
    counts = []
    for keep in (False, True):
        dialog = ExportDialog(db, FORMATS, load_exporter)
        qtbot.addWidget(dialog)
        path = tmp_path / f"keep-{keep}.json"
        dialog.choose_format("json")
        dialog.path_edit.setText(str(path))
        dialog.keep_noise.setChecked(keep)
        with qtbot.waitSignal(dialog.export_finished, timeout=60_000):
            assert dialog.start()
        counts.append(len(json.loads(path.read_text())["connections"]))
    assert counts == [0, 1]
