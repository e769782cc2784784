"""Scan history: every scan kept in the store, newest first, and the selected scan's arguments, warnings and error."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QPushButton, QSplitter, QVBoxLayout, QWidget

from gui.data import Snapshot
from gui.models import Column, format_datetime
from gui.table_view import DetailsPaneView, RecordTableView

SCAN_COLUMNS = (
    Column("id", "ID", "int", width=5),
    Column("kind", "Kind", width=8),
    Column("status", "Status", width=10),
    Column("started_at", "Started (UTC)", "datetime", width=19),
    Column("finished_at", "Finished (UTC)", "datetime", width=19),
    Column("host_count", "Hosts", "int", width=6),
    Column("targets", "Targets", "list", width=24),
    Column("warnings", "Warnings", "int", width=8, value=lambda s: len(s.get("warnings") or ()) or None),
    Column("error", "Error", width=24, hidden=True),
    Column("arguments", "Arguments", "json", width=24, hidden=True),
)


def scan_html(scan: dict) -> str:
    """Return the HTML of one scan: when, targets, arguments, warnings and error."""
    def e(value) -> str:
        return escape("" if value is None else str(value))

    warnings = "".join(f"<li>{e(w)}</li>" for w in scan.get("warnings") or ())
    arguments = scan.get("arguments")
    arguments_text = ", ".join(f"{k}={v}" for k, v in arguments.items()) if isinstance(arguments, dict) \
        else arguments
    return (f"<h3>Scan {e(scan.get('id'))}: {e(scan.get('kind'))}, {e(scan.get('status'))}</h3>"
            f"<p>Started {e(format_datetime(scan['started_at']) if scan.get('started_at') else '?')}"
            f" · finished {e(format_datetime(scan['finished_at']) if scan.get('finished_at') else 'not yet')}"
            f" · {e(scan.get('host_count') if scan.get('host_count') is not None else '?')} hosts</p>"
            f"<p><b>Targets:</b> {e(', '.join(map(str, scan.get('targets') or ())) or '(this machine or files)')}</p>"
            + (f"<p><b>Arguments:</b> {e(arguments_text)}</p>" if arguments else "")
            + (f"<p><b>Error:</b> {e(scan.get('error'))}</p>" if scan.get("error") else "")
            + (f"<p><b>Warnings:</b></p><ul>{warnings}</ul>" if warnings else "<p>No warnings.</p>"))


RESUMABLE_STATUSES = ("interrupted", "failed")


class ScansView(QWidget):
    """The scan history table above the selected scan's details. Signals scan_selected(scan id) and
    resume_requested(scan id), from the Resume button of an interrupted or failed scan."""
    scan_selected = Signal(int)
    resume_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table_view = RecordTableView(SCAN_COLUMNS, noun="scans")
        self.resume_button = QPushButton("Resume scan")
        self.resume_button.setToolTip("Continue an interrupted or failed scan (as: estatemap scan resume ID)")
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(self._resume)
        self.table_view.add_bar_widget(self.resume_button)
        self._selected: dict | None = None
        self.details = DetailsPaneView(placeholder="Select a scan to see its targets, warnings and errors.")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table_view)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.table_view.row_selected.connect(self._show_scan)

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        """Show `snapshot`'s scan history, newest first (None: none)."""
        self.table_view.set_rows(snapshot.inventory["scans"] if snapshot is not None else [])
        if self.table_view.table.horizontalHeader().sortIndicatorSection() < 0:
            self.table_view.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.details.clear()
        self._selected = None
        self.resume_button.setEnabled(False)

    def _show_scan(self, scan: dict) -> None:
        self._selected = scan
        self.resume_button.setEnabled(scan.get("status") in RESUMABLE_STATUSES)
        self.details.setHtml(scan_html(scan))
        if scan.get("id") is not None:
            self.scan_selected.emit(int(scan["id"]))

    def _resume(self) -> None:
        if self._selected is not None and self._selected.get("id") is not None:
            self.resume_requested.emit(int(self._selected["id"]))
