"""Findings: a table filtered by minimum severity and text, and the selected finding's evidence and recommendation."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QSplitter, QVBoxLayout, QWidget

from discovery.records.model import NO_SEVERITY_COLOURS, SEVERITIES, SEVERITY_COLOURS
from gui.data import Snapshot
from gui.models import Column, flatten, severity_rank
from gui.table_view import DetailsPaneView, RecordTableView, host_link

FINDING_COLUMNS = (
    Column("severity", "Severity", "severity", width=8),
    Column("host_id", "Host", "host", width=16),
    Column("title", "Title", width=48),
    Column("category", "Category", width=15),
    Column("rule", "Rule", width=10),
    Column("confidence", "Confidence", width=8, hidden=True),
    Column("subject_type", "Subject", width=8, hidden=True),
    Column("evidence", "Evidence", width=40, hidden=True),
    Column("recommendation", "Recommendation", width=40, hidden=True),
    Column("id", "Finding ID", width=30, hidden=True),
)
# Keys of a finding's `data` worth showing beside its evidence, with their labels.
DATA_FACTS = (("name", "Product"), ("version", "Version"), ("eol", "End of support"), ("days_past", "Days past"),
              ("eol_source", "Source"), ("as_of", "Judged on"))


def finding_html(snapshot: Snapshot | None, finding: dict) -> str:
    """Return the HTML of one finding: title, severity, host (a link), evidence, recommendation, key data."""
    def e(value) -> str:
        return escape("" if value is None else str(value))

    background, foreground = SEVERITY_COLOURS.get(str(finding.get("severity")).lower(), NO_SEVERITY_COLOURS)
    host_id = finding.get("host_id")
    host = host_link(host_id, snapshot.host_label(host_id) if snapshot and host_id else host_id or "(none)")
    data = finding.get("data") if isinstance(finding.get("data"), dict) else {}
    facts = "".join(f"<tr><td><b>{e(label)}</b>&nbsp;&nbsp;</td><td>{e(flatten(data[key]))}</td></tr>"
                    for key, label in DATA_FACTS if data.get(key) not in (None, ""))
    return (f"<h3>{e(finding.get('title'))}</h3>"
            f"<p><span style='background-color:{background}; color:{foreground}'>&nbsp;{e(finding.get('severity'))}"
            f"&nbsp;</span> &nbsp; {e(finding.get('category'))} · rule {e(finding.get('rule'))}"
            f" · confidence {e(finding.get('confidence') or 'not stated')}</p>"
            f"<p><b>Host:</b> {host}</p>"
            f"<h4>Evidence</h4><p>{e(finding.get('evidence'))}</p>"
            f"<h4>Recommendation</h4><p>{e(finding.get('recommendation'))}</p>"
            + (f"<h4>Details</h4><table>{facts}</table>" if facts else ""))


class FindingsView(QWidget):
    """The findings table with a minimum-severity filter, above the selected finding's details.

    Signal host_selected(host id) when a finding's host is activated (double-click or Enter on the
    row, or a click on the host's name in the details).
    """
    host_selected = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table_view = RecordTableView(FINDING_COLUMNS, noun="findings")
        self.severity_combo = QComboBox(toolTip="Show findings of this severity or worse")
        self.severity_combo.addItem("All severities", None)
        for severity in SEVERITIES[:-1]:
            self.severity_combo.addItem(f"{severity} or worse" if severity != "critical" else "critical only",
                                        severity)
        self.table_view.add_bar_widget(self.severity_combo)
        self.details = DetailsPaneView(placeholder="Select a finding to see its evidence and recommendation.")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table_view)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.snapshot: Snapshot | None = None
        self.severity_combo.currentIndexChanged.connect(self._severity_changed)
        self.table_view.row_selected.connect(self._show_finding)
        self.table_view.row_activated.connect(self._activated)
        self.details.host_activated.connect(self.host_selected)

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        """Show `snapshot`'s findings, worst first (None: none)."""
        self.snapshot = snapshot
        self.table_view.set_host_label(snapshot.host_label if snapshot is not None else None)
        self.table_view.set_rows(snapshot.inventory["findings"] if snapshot is not None else [])
        if self.table_view.table.horizontalHeader().sortIndicatorSection() < 0:
            self.table_view.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.details.clear()

    def set_minimum_severity(self, severity: str | None) -> None:
        """Show only findings of `severity` or worse (None: all); raises ValueError for an unknown severity."""
        number = self.severity_combo.findData(severity)
        if number < 0:
            raise ValueError(f"unknown severity {severity!r}")
        self.severity_combo.setCurrentIndex(number)

    def _severity_changed(self, _number: int) -> None:
        minimum = self.severity_combo.currentData()
        if minimum is None:
            self.table_view.set_row_predicate(None)
            return
        floor = severity_rank(minimum)
        self.table_view.set_row_predicate(lambda f: severity_rank(f.get("severity")) >= floor)

    def _show_finding(self, finding: dict) -> None:
        self.details.setHtml(finding_html(self.snapshot, finding))

    def _activated(self, finding: dict) -> None:
        if finding.get("host_id"):
            self.host_selected.emit(finding["host_id"])
