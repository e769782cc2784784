"""The export dialog: write the inventory to a file in any export format, on a worker thread.

It calls discovery.service.export_inventory — what `estatemap export` calls — with the exporter the
`exporter_factory` main.py hands it builds (main.load_exporter), in a TaskWorker with its own Store.
An existing file is replaced only after the user says so; exporters write beside the target and
rename into place, so a failure never leaves a half-written file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from discovery.inventory.dependencies import FILTERS as NOISE_FILTERS
from discovery.records.model import SEVERITIES, StoreError, counted
from discovery.service import export_inventory
from discovery.storage.store import Store
from gui.workers import TaskWorker, ask_yes_no, start_task

log = logging.getLogger(__name__)

class ExportDialog(QDialog):
    """Choose a format, a file and filters; export; show what was written.

    Emits `export_finished(path)` after the file is written, `export_failed(message)` when nothing was.
    """

    export_finished = Signal(str)
    export_failed = Signal(str)

    def __init__(self, store_path: str | Path, formats: Iterable, exporter_factory: Callable[[str], object],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export inventory")
        self.store_path = Path(store_path)
        self.formats = {f.name: f for f in formats}  # exports.registry's ExportFormat objects, from main.py
        self.exporter_factory = exporter_factory
        self.worker: TaskWorker | None = None
        self.written: Path | None = None
        self.inventory: dict | None = None

        self.format_combo = QComboBox(toolTip="The file format to write (the file name's extension follows it)")
        for fmt in self.formats.values():
            self.format_combo.addItem(fmt.label, fmt.name)
        if "xlsx" in self.formats:  # what architects open first
            self.format_combo.setCurrentIndex(list(self.formats).index("xlsx"))
        self.path_edit = QLineEdit(toolTip="Where to write the export")
        self.path_edit.setPlaceholderText("the file to write")
        self.browse_button = QPushButton("Choose…", toolTip="Choose the file to write")
        self.browse_button.clicked.connect(self.choose_path)
        path_row = QWidget()
        path_line = QHBoxLayout(path_row)
        path_line.setContentsMargins(0, 0, 0, 0)
        path_line.addWidget(self.path_edit, 1)
        path_line.addWidget(self.browse_button)

        self.scan_combo = QComboBox(toolTip="Export what every scan found, merged, or what one scan found")
        self.scan_combo.addItem("Current inventory (every scan merged)", None)
        for scan in self._load_scans():
            targets = " ".join(scan.get("targets") or [])
            self.scan_combo.addItem(f"Scan {scan['id']}: {scan['kind']} {scan['status']} {scan['started_at'] or ''}"
                                    f"{' — ' + targets[:60] if targets else ''}", scan["id"])
        self.hosts_edit = QLineEdit(toolTip="Export only the hosts whose name or address matches this pattern")
        self.hosts_edit.setPlaceholderText("all hosts (or a name or address pattern: db*, 10.20.*)")
        self.keep_noise = QCheckBox("Keep connections the dependency map leaves out as noise (port-to-port "
                                    "pairs, our own SSH sessions, the scanner's probes)")
        self.severity_combo = QComboBox(toolTip="Export only the findings of this severity or worse")
        self.severity_combo.addItem("All findings", None)
        for severity in SEVERITIES:
            self.severity_combo.addItem(f"{severity} and above" if severity != "critical" else "critical only",
                                        severity)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error_label.hide()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)

        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.AcceptRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.Close)
        self.export_button.setDefault(True)
        self.export_button.setToolTip("Write the export to the file chosen")
        self.close_button.setToolTip("Close this dialog")
        self.keep_noise.setToolTip(self.keep_noise.text())
        self.export_button.clicked.connect(self.start)
        self.close_button.clicked.connect(self.close)

        form = QFormLayout()
        form.addRow("Format:", self.format_combo)
        form.addRow("File:", path_row)
        form.addRow("Scan:", self.scan_combo)
        form.addRow("Hosts:", self.hosts_edit)
        form.addRow("Findings:", self.severity_combo)
        form.addRow(self.keep_noise)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Store: {self.store_path}"))
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)

        self._format = self.current_format()
        self.path_edit.setText(str(Path.home() / f"estate.{self.suggested_extension(self._format)}")
                               if self._format else "")
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.resize(560, 300)

    def _load_scans(self) -> list[dict]:
        try:
            with Store(self.store_path, create=False) as store:
                return store.list_scans()
        except StoreError as error:
            log.info("cannot list scans of %s: %s", self.store_path, error)
            return []

    # --- the form ------------------------------------------------------------------------------

    def suggested_extension(self, fmt: str) -> str:
        """Return the file name suffix (without the dot) suggested for format `fmt`."""
        return self.formats[fmt].extension

    def current_format(self) -> str | None:
        return self.format_combo.currentData()

    def choose_format(self, fmt: str) -> None:
        self.format_combo.setCurrentIndex(list(self.formats).index(fmt))

    @Slot()
    def _format_changed(self) -> None:
        """Swap the file's extension for the new format's, if it had the old format's."""
        old, new = self._format, self.current_format()
        self._format = new
        text = self.path_edit.text().strip()
        if text and old and new:
            path = Path(text)
            if path.suffix.lower() == "." + self.suggested_extension(old):
                self.path_edit.setText(str(path.with_suffix("." + self.suggested_extension(new))))

    @Slot()
    def choose_path(self) -> None:
        fmt = self.formats[self.current_format()]
        ext = fmt.extension
        start = self.path_edit.text().strip() or str(Path.home() / f"estate.{ext}")
        path, _ = QFileDialog.getSaveFileName(self, "Export to", start, fmt.file_filter,
                                              options=QFileDialog.DontConfirmOverwrite)
        if path:
            if not Path(path).suffix:
                path += f".{ext}"
            self.path_edit.setText(path)

    def export_options(self) -> dict:
        """Return export_inventory's filters from the form."""
        return {"scan_id": self.scan_combo.currentData(), "hosts_pattern": self.hosts_edit.text().strip() or None,
                "min_severity": self.severity_combo.currentData(),
                "filters": () if self.keep_noise.isChecked() else NOISE_FILTERS}

    # --- questions (a method, so tests can answer it) -----------------------------------------------

    def confirm_overwrite(self, path: Path) -> bool:
        """Ask whether to replace the existing file at `path`; return the answer."""
        return ask_yes_no(self, "Replace the file?", f"{path} exists. Replace it?")

    # --- running -------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.is_running()

    @Slot()
    def start(self) -> bool:
        """Check the file, ask before replacing one, and start the export; return whether it started."""
        if self.is_running():
            return False
        self.show_error(None)
        fmt = self.current_format()
        text = self.path_edit.text().strip()
        if not fmt:
            self.show_error("Choose a format.")
            return False
        if not text:
            self.show_error("Choose a file to write.")
            return False
        path = Path(text).expanduser()
        if path.is_dir():
            self.show_error(f"{path} is a folder; give a file name to export to.")
            return False
        if not path.parent.is_dir():
            self.show_error(f"The folder {path.parent} does not exist.")
            return False
        if not self.store_path.exists():
            self.show_error(f"There is no store at {self.store_path} yet; run a scan first.")
            return False
        if path.exists() and not self.confirm_overwrite(path):
            self.status_label.setText(f"Not exported: {path} was left as it was.")
            return False
        store_path, options, factory = self.store_path, self.export_options(), self.exporter_factory

        def export(progress, cancel_event) -> tuple[Path, dict]:
            progress(0, -1, f"building the inventory from {store_path.name}")
            exporter = factory(fmt)
            with Store(store_path, create=False) as store:
                inventory = export_inventory(store, exporter, path, **options)
            return path, inventory

        self.written, self.inventory = None, None
        self.status_label.setText(f"Writing {path}…")
        self.progress_bar.setRange(0, 0)
        self._set_running(True)
        self.worker = start_task(self, export)
        self.worker.finished.connect(self.on_finished)
        self.worker.failed.connect(self.on_failed)
        return True

    @Slot(object)
    def on_finished(self, result: tuple[Path, dict]) -> None:
        path, inventory = result
        self.written, self.inventory = path, inventory
        self._set_running(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        self.status_label.setText(
            f"Wrote {path}: {counted(len(inventory['hosts']), 'host')}, "
            f"{counted(len(inventory['services']), 'service')}, "
            f"{counted(len(inventory['software']), 'software package')}, "
            f"{counted(len(inventory['connections']), 'connection')}, "
            f"{counted(len(inventory.get('findings') or []), 'finding')}.")
        self.export_finished.emit(str(path))

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self._set_running(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.status_label.setText("Nothing was written.")
        self.show_error(message)
        self.export_failed.emit(message)

    def show_error(self, message: str | None) -> None:
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))

    def _set_running(self, running: bool) -> None:
        for widget in (self.export_button, self.format_combo, self.path_edit, self.browse_button, self.scan_combo,
                       self.hosts_edit, self.severity_combo, self.keep_noise):
            widget.setEnabled(not running)

    def closeEvent(self, event) -> None:
        """An export cannot be stopped halfway (the file is renamed into place at its end): wait for it."""
        if self.is_running():
            self.status_label.setText("Finishing the export before closing…")
            event.ignore()
            return
        super().closeEvent(event)

    def reject(self) -> None:
        if self.is_running():
            return
        super().reject()
