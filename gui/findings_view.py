"""Findings: a table filtered by minimum severity and text, and the selected finding's evidence and recommendation."""

from __future__ import annotations

from collections import defaultdict
from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHeaderView, QSplitter, QVBoxLayout, QWidget

from discovery.records.model import NO_SEVERITY_COLOURS, SEVERITIES, SEVERITY_COLOURS
from gui.data import Snapshot
from gui.models import Column, flatten, severity_rank
from gui.table_view import DetailsPaneView, RecordTableView, host_link

class FindingHosts:
    """The hosts of the snapshot shown, for the findings' host columns (risk, criticality, patient data). A row
    of grouped findings (with `host_ids`) shows the worst of its hosts."""

    def __init__(self):
        self.hosts: dict[str, dict] = {}

    def _of(self, row: dict) -> list[dict]:
        ids = row["host_ids"] if "host_ids" in row else [row.get("host_id")]
        return [self.hosts[h] for h in ids if h in self.hosts]

    def risk(self, row: dict):
        return max((h["risk_score"] for h in self._of(row) if h.get("risk_score") is not None), default=None)

    def criticality(self, row: dict):
        values = [str(h["criticality"]).lower() for h in self._of(row) if h.get("criticality")]
        return max(values, key=severity_rank, default=None)

    def patient_data(self, row: dict):
        values = {str(h.get("patient_data") or "unknown").lower() for h in self._of(row)}
        return next((v for v in ("yes", "unknown", "no") if v in values), None)


def finding_columns(facts: FindingHosts) -> tuple[Column, ...]:
    """Return the findings table's columns; the host ones read `facts`."""
    return (
        Column("severity", "Severity", "severity", width=8),
        Column("host_id", "Host", "host", width=16),
        Column("host_count", "Hosts", "int", width=5, hidden=True),  # shown when grouped by title
        Column("title", "Title", width=48),
        Column("host_risk", "Host risk", "risk", width=5, value=facts.risk),
        Column("criticality", "Criticality", "severity", width=8, value=facts.criticality),
        Column("patient_data", "Patient data", width=7, value=facts.patient_data),
        Column("category", "Category", width=15),
        Column("rule", "Rule", width=10, hidden=True),  # the title says it; the filter and grouping use it
        Column("confidence", "Confidence", width=8, hidden=True),
        Column("subject_type", "Subject", width=8, hidden=True),
        Column("evidence", "Evidence", width=40, hidden=True),
        Column("recommendation", "Recommendation", width=40, hidden=True),
        Column("id", "Finding ID", width=30, hidden=True),
    )


FINDING_COLUMNS = finding_columns(FindingHosts())  # the order and titles (a view builds its own)


def worst_first(findings: list[dict]) -> list[dict]:
    """Return the findings worst first, then by title: the order a sort by another column keeps among equals
    (sorting is stable), so a host's findings stay in severity order when sorted by host."""
    return sorted(findings, key=lambda f: (-severity_rank(f.get("severity")), str(f.get("title") or "").casefold()))


def group_findings(findings: list[dict]) -> list[dict]:
    """Return one row per rule and title: its worst severity, `host_count` distinct hosts, their `host_ids`
    and the `findings` behind it (worst first); evidence and recommendation are those of its first finding."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for finding in worst_first(findings):
        groups[finding.get("rule"), finding.get("title")].append(finding)
    rows = []
    for (rule, title), members in groups.items():
        host_ids = list(dict.fromkeys(f["host_id"] for f in members if f.get("host_id")))
        first = members[0]
        rows.append({**{k: first.get(k) for k in ("severity", "category", "confidence", "subject_type", "evidence",
                                                   "recommendation")},
                     "rule": rule, "title": title, "host_id": host_ids[0] if len(host_ids) == 1 else None,
                     "host_ids": host_ids, "host_count": len(host_ids), "findings": members,
                     "id": f"{rule}:{title}"})
    return worst_first(rows)


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
        self.host_facts = FindingHosts()
        self.table_view = RecordTableView(finding_columns(self.host_facts), noun="findings")
        self.group_check = QCheckBox("Group by title", toolTip="One row per rule and title, with the number of "
                                                               "hosts it concerns (the worst severity first)")
        self.severity_combo = QComboBox(toolTip="Show findings of this severity or worse")
        self.severity_combo.addItem("All severities", None)
        for severity in SEVERITIES[:-1]:
            self.severity_combo.addItem(f"{severity} or worse" if severity != "critical" else "critical only",
                                        severity)
        self.table_view.add_bar_widget(self.severity_combo)
        self.table_view.add_bar_widget(self.group_check)
        self._give_title_the_spare_width()
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
        self.group_check.toggled.connect(self.set_grouped)
        self.table_view.row_selected.connect(self._show_finding)
        self.table_view.row_activated.connect(self._activated)
        self.details.host_activated.connect(self.host_selected)

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        """Show `snapshot`'s findings, worst first (None: none)."""
        self.snapshot = snapshot
        self.host_facts.hosts = snapshot.hosts_by_id if snapshot is not None else {}
        self.table_view.set_host_label(snapshot.host_label if snapshot is not None else None)
        self._show_rows()
        if self.table_view.table.horizontalHeader().sortIndicatorSection() < 0:
            self.table_view.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.details.clear()

    def set_grouped(self, grouped: bool) -> None:
        """Show one row per rule and title with its host count (True), or one row per finding (False)."""
        if self.group_check.isChecked() != grouped:
            self.group_check.setChecked(grouped)  # comes back here through `toggled`
            return
        model = self.table_view.model
        keys = [c.key for c in model.columns]
        model.set_column_hidden(keys.index("host_count"), not grouped)
        model.set_column_hidden(keys.index("host_id"), grouped)
        self._show_rows()
        self.details.clear()

    def is_grouped(self) -> bool:
        return self.group_check.isChecked()

    def _show_rows(self) -> None:
        findings = self.snapshot.inventory["findings"] if self.snapshot is not None else []
        self.table_view.set_rows(group_findings(findings) if self.is_grouped() else worst_first(findings))

    def _give_title_the_spare_width(self) -> None:
        header = self.table_view.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode([c.key for c in self.table_view.model.columns].index("title"),
                                    QHeaderView.ResizeMode.Stretch)

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
        if "findings" in finding:  # a row of grouped findings: the hosts it concerns, then the first one's details
            hosts = ", ".join(host_link(h, self.snapshot.host_label(h) if self.snapshot else h)
                              for h in finding["host_ids"])
            self.details.setHtml(f"<p><b>{finding['host_count']} host(s):</b> {hosts}</p>"
                                 + finding_html(self.snapshot, finding["findings"][0]))
            return
        self.details.setHtml(finding_html(self.snapshot, finding))

    def _activated(self, finding: dict) -> None:
        if finding.get("host_id"):
            self.host_selected.emit(finding["host_id"])
