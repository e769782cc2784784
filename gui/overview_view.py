"""The Overview page, the first a store opens on: the estate's counts, hosts by OS family and by coverage depth,
findings by severity, the legacy share, the wave plan as a timeline, the top-risk hosts and the blind spots.

Every number is a way in: a click emits `click_through(ClickThrough)`, which the main window turns into the table
behind the number, filtered to those rows (gui.table_view.RecordTableView.set_scope). The figures come from one
pure function, `overview_figures`, on the inventory dict the other pages show, so they cannot disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QScrollArea, QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from discovery.records.model import COVERAGE_DEPTHS, SEVERITIES, SEVERITY_COLOURS, counted
from gui.data import Snapshot
from gui.models import format_number, risk_colour
from gui.overview_charts import Bar, BarChartView, WaveColumn, WaveTimelineView

TOP_RISK = 10       # hosts in the top-risk table
TOP_BLIND_SPOTS = 10
UNKNOWN = "unknown"  # an OS family nobody named
OS_FAMILY_LABELS = {"linux": "Linux", "windows": "Windows", "macos": "macOS", "bsd": "BSD", "esxi": "ESXi",
                    UNKNOWN: "Unknown"}
# Shallow coverage red, deep green (the ladder of discovery.records.model.COVERAGE_DEPTHS).
DEPTH_COLOURS = dict(zip(COVERAGE_DEPTHS, ("#D9534F", "#F0AD4E", "#F7D56B", "#B8D86B", "#7FBF7B", "#3C9D5D")))
COUNTS = (("hosts", "host", "hosts"), ("services", "service", "services"),
          ("dependencies", "dependency", "dependencies"), ("findings", "finding", "findings"),
          ("groups", "move group", "move groups"))
NOT_ANALYSED = "run Analyze to compute coverage"


@dataclass(frozen=True, slots=True)
class ClickThrough:
    """Where a click on the overview leads: a page, an Inventory table (hosts, services, connections), the rows
    to show (`predicate`, named `label`; None: all) and a host or group to select."""
    page: str
    table: str | None = None
    label: str | None = None
    predicate: Callable[[dict], bool] | None = None
    select: str | None = None


def os_family_label(family: str | None) -> str:
    family = (family or UNKNOWN).lower()
    return OS_FAMILY_LABELS.get(family, family.capitalize())


def _os_family(host: dict) -> str:
    return (host.get("os_family") or UNKNOWN).lower()


def overview_figures(inventory: dict) -> dict:
    """Return the overview's figures of an inventory (build_inventory's dict):
    {"counts" {hosts, services, dependencies, findings, groups}, "os_families" [(family, hosts)] most first,
    "coverage" None (not computed) or {"by_depth", "deep_share", "sockets_share", "blind_spots"},
    "severities" [(severity, findings)] worst first, "legacy" None (not analysed) or (legacy hosts, hosts),
    "waves" None (not analysed) or [{"wave", "group_ids", "hosts", "host_ids", "reasons", "tier", "remediation"}],
    "warnings", "top_risk" [host rows], "analysed"}."""
    hosts = inventory.get("hosts") or []
    counts = {key: len(inventory.get(key) or ()) for key, _one, _many in COUNTS}
    families = Counter(_os_family(h) for h in hosts)
    summary = inventory.get("coverage_summary")
    coverage = None
    if summary is not None and all("coverage_depth" in h for h in hosts):
        coverage = {"by_depth": {d: summary.get("by_depth", {}).get(d, 0) for d in COVERAGE_DEPTHS},
                    "deep_share": summary.get("deep_share"), "sockets_share": summary.get("sockets_share"),
                    "blind_spots": list(summary.get("blind_spots") or ())}
    severities = Counter(str(f.get("severity")).lower() for f in inventory.get("findings") or ())
    analysed = inventory.get("analysis") is not None
    legacy = (sum(1 for h in hosts if h.get("legacy")), len(hosts)) if analysed else None
    scored = sorted((h for h in hosts if h.get("risk_score") is not None),
                    key=lambda h: (-h["risk_score"], (h.get("hostname") or "").casefold(), h["id"]))
    return {"counts": counts, "os_families": sorted(families.items(), key=lambda kv: (-kv[1], kv[0])),
            "coverage": coverage, "severities": [(s, severities[s]) for s in SEVERITIES],
            "legacy": legacy, "waves": _waves(inventory) if analysed else None,
            "warnings": list((inventory.get("wave_plan") or {}).get("warnings") or ()),
            "top_risk": scored[:TOP_RISK], "analysed": analysed}


def _waves(inventory: dict) -> list[dict]:
    """Return the plan's waves (the analysis's when there is no wave plan), each with the host ids it moves."""
    analysed = {w.get("number"): w for w in (inventory.get("analysis") or {}).get("waves") or ()}
    plan = inventory.get("wave_plan")
    if not plan:
        return [{"wave": n, "group_ids": list(w.get("group_ids") or ()), "hosts": len(w.get("host_ids") or ()),
                 "host_ids": list(w.get("host_ids") or ()), "reasons": [w["note"]] if w.get("note") else [],
                 "tier": None, "remediation": []} for n, w in analysed.items()]
    return [{"wave": w.get("wave"), "group_ids": list(w.get("group_ids") or ()), "hosts": w.get("hosts") or 0,
             "host_ids": list((analysed.get(w.get("wave")) or {}).get("host_ids") or ()),
             "reasons": list(w.get("reasons") or ()), "tier": w.get("tier"),
             "remediation": list(w.get("remediation") or ())} for w in plan.get("waves") or ()]


def _share(share) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


class OverviewView(QWidget):
    """The estate at a glance; an empty store says which scans fill it.

    Signals: click_through(ClickThrough) when a number, bar, wave, group or host is clicked; scan_requested(kind
    name) from the empty state's links (the Scan menu's kinds, set with set_scan_actions; "import" for a file).
    """
    click_through = Signal(object)
    scan_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.snapshot: Snapshot | None = None
        self.figures: dict | None = None
        self._scan_actions: list[tuple[str, str, str, str]] = []
        self.empty_label = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText, alignment=Qt.AlignmentFlag.AlignTop)
        self.empty_label.setContentsMargins(24, 24, 24, 24)
        self.empty_label.linkActivated.connect(self._link)
        self.banner = QLabel(wordWrap=True)
        self.count_buttons: dict[str, QPushButton] = {}
        self.legacy_button = self._tile()
        self.os_chart, self.depth_chart, self.severity_chart = BarChartView(), BarChartView(), BarChartView()
        self.coverage_label = QLabel(wordWrap=True)
        self.timeline = WaveTimelineView()
        self.waves_label = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.risk_table = self._table(("Host", "Risk", "OS", "Legacy"))
        self.risk_label = QLabel(wordWrap=True)
        self.blind_table = self._table(("Host", "Depth", "Dependencies", "To close the gap"))
        self.blind_label = QLabel(wordWrap=True)
        self.pages = QStackedWidget()
        self._build()
        self.set_snapshot(None)

    # --- building -------------------------------------------------------------------------------------
    @staticmethod
    def _tile() -> QPushButton:
        button = QPushButton()
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        button.setMinimumHeight(64)
        button.setStyleSheet("QPushButton { text-align: center; padding: 6px 14px; }")
        return button

    @staticmethod
    def _table(headers) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setTabKeyNavigation(False)  # one tab stop, as every table
        table.horizontalHeader().setStretchLastSection(True)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.setCursor(Qt.CursorShape.PointingHandCursor)
        table.setMinimumHeight(table.fontMetrics().height() * 12)
        return table

    @staticmethod
    def _box(title: str, *widgets) -> QGroupBox:
        box = QGroupBox(title)
        layout = QVBoxLayout(box)
        for widget in widgets:
            layout.addWidget(widget)
        layout.addStretch(1)
        return box

    def _build(self) -> None:
        tiles = QHBoxLayout()
        for key, _one, many in COUNTS:
            button = self.count_buttons[key] = self._tile()
            button.setToolTip(f"List the {many} — click to open their table")
            button.clicked.connect(lambda _=False, k=key: self._count_clicked(k))
            tiles.addWidget(button)
        tiles.addWidget(self.legacy_button)
        self.legacy_button.clicked.connect(self._legacy_clicked)
        charts = QGridLayout()
        charts.addWidget(self._box("Hosts by OS family", self.os_chart), 0, 0)
        charts.addWidget(self._box("Hosts by coverage depth", self.depth_chart, self.coverage_label), 0, 1)
        charts.addWidget(self._box("Findings by severity", self.severity_chart), 0, 2)
        timeline_scroll = QScrollArea(widgetResizable=True)
        timeline_scroll.setWidget(self.timeline)
        timeline_scroll.setMinimumHeight(self.timeline.sizeHint().height() + 24)
        timeline_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        tables = QHBoxLayout()
        tables.addWidget(self._box("Top-risk hosts", self.risk_label, self.risk_table), 1)
        tables.addWidget(self._box("Blind spots", self.blind_label, self.blind_table), 1)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.banner)
        layout.addLayout(tiles)
        layout.addLayout(charts)
        layout.addWidget(self._box("Wave plan", timeline_scroll, self.waves_label))
        layout.addLayout(tables)
        layout.addStretch(1)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(content)
        self.pages.addWidget(self.empty_label)
        self.pages.addWidget(scroll)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.pages)
        self.os_chart.bar_clicked.connect(self._os_clicked)
        self.depth_chart.bar_clicked.connect(self._depth_clicked)
        self.severity_chart.bar_clicked.connect(self._severity_clicked)
        self.timeline.wave_clicked.connect(self._wave_clicked)
        self.timeline.block_clicked.connect(self._block_clicked)
        self.risk_table.cellClicked.connect(lambda row, _c: self._host_clicked(self.risk_table, row))
        self.blind_table.cellClicked.connect(lambda row, _c: self._host_clicked(self.blind_table, row))

    # --- public API -----------------------------------------------------------------------------------
    def set_scan_actions(self, actions) -> None:
        """The scans the empty state offers: [(kind name, menu text, shortcut, what it reads)]."""
        self._scan_actions = list(actions)
        if self.figures is None or not self.figures["counts"]["hosts"]:
            self._show_empty()

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        """Show `snapshot`'s figures; an empty state when there is none or it holds no host."""
        self.snapshot = snapshot
        self.figures = overview_figures(snapshot.inventory) if snapshot is not None else None
        if self.figures is None or not self.figures["counts"]["hosts"]:
            self._show_empty()
            return
        self.pages.setCurrentIndex(1)
        figures = self.figures
        self.banner.setVisible(not figures["analysed"])
        self.banner.setText("Not analysed yet: Scan ▸ Analyze (Ctrl+R) finds the findings' risk, move groups, waves "
                            "and coverage.")
        for key, one, many in COUNTS:
            number = figures["counts"][key]
            self.count_buttons[key].setText(f"{number:,}\n{one if number == 1 else many}")
        self._show_legacy()
        self.os_chart.set_bars(Bar(family, os_family_label(family), n, tooltip=f"{os_family_label(family)}: "
                                   f"{counted(n, 'host')} — click to list them")
                               for family, n in figures["os_families"])
        self._show_coverage()
        self.severity_chart.set_bars(
            Bar(s, s, n, *SEVERITY_COLOURS[s], tooltip=f"{counted(n, f'{s} finding')} — click to list them")
            for s, n in figures["severities"])
        self._show_waves()
        self._show_top_risk()
        self._show_blind_spots()

    def is_empty_state(self) -> bool:
        return self.pages.currentIndex() == 0

    def empty_text(self) -> str:
        return self.empty_label.text()

    # --- sections -------------------------------------------------------------------------------------
    def _show_empty(self) -> None:
        self.pages.setCurrentIndex(0)
        if self.snapshot is None:
            self.empty_label.setText("<h2>No store open</h2><p>File ▸ New store… (Ctrl+N) creates one, "
                                     "File ▸ Open store… (Ctrl+O) opens one.</p>")
            return
        scans = "".join(f"<li><a href='scan:{escape(name)}'>{escape(text)}</a>"
                        f"{escape(f' ({shortcut})') if shortcut else ''}: {escape(doc)}</li>"
                        for name, text, shortcut, doc in self._scan_actions)
        self.empty_label.setText(
            "<h2>This store holds no hosts yet</h2><p>Run a scan to fill it (Scan menu):</p>"
            f"<ul>{scans}</ul><p>or <a href='scan:import'>import a file</a> (File ▸ Import file…, Ctrl+I): nmap "
            "XML or a collector bundle from a host this workstation cannot reach.</p><p>Then Scan ▸ Analyze (Ctrl+R) "
            "finds legacy systems, scores risk, forms move groups, plans the waves and computes coverage.</p>")

    def _show_legacy(self) -> None:
        legacy = self.figures["legacy"]
        if legacy is None:
            self.legacy_button.setText("—\nlegacy (not analysed)")
            self.legacy_button.setEnabled(False)
            return
        count, hosts = legacy
        self.legacy_button.setEnabled(True)
        self.legacy_button.setText(f"{_share(count / hosts if hosts else None)}\nlegacy ({count:,} of {hosts:,} "
                                   f"host{'s' * (hosts != 1)})")
        self.legacy_button.setToolTip("Hosts running something past its end of support — click to list them")

    def _show_coverage(self) -> None:
        coverage = self.figures["coverage"]
        self.depth_chart.setVisible(coverage is not None)
        if coverage is None:
            self.coverage_label.setText(f"Coverage not computed: {NOT_ANALYSED}.")
            return
        self.depth_chart.set_bars(Bar(d, d, n, DEPTH_COLOURS[d], tooltip=f"{counted(n, 'host')} known down to {d} "
                                      "— click to list them") for d, n in coverage["by_depth"].items())
        self.coverage_label.setText(f"Deep inventory (software or sockets): {_share(coverage['deep_share'])} of "
                                    "hosts; sockets read (dependencies observed): "
                                    f"{_share(coverage['sockets_share'])}.")

    def _show_waves(self) -> None:
        waves = self.figures["waves"]
        if waves is None:
            self.timeline.set_waves(())
            self.waves_label.setText("<i>Not analysed yet: run Analyze to form move groups and plan the waves.</i>")
            return
        groups = {g["id"]: g for g in self.snapshot.inventory.get("groups") or ()}
        columns = []
        for wave in waves:
            blocks = [(gid, groups.get(gid, {}).get("name") or gid, len(groups.get(gid, {}).get("host_ids") or ()),
                       self._group_tip(groups.get(gid, {"name": gid}))) for gid in wave["group_ids"]]
            if not blocks and wave["remediation"]:
                names = ", ".join(self.snapshot.host_label(h) for h in wave["remediation"])
                blocks = [(f"remediation:{wave['wave']}", f"upgrade {names}", len(wave["remediation"]),
                           " ".join(wave["reasons"]))]
            elif not blocks and wave["hosts"]:
                blocks = [(f"hosts:{wave['wave']}", "shared infrastructure" if wave["wave"] == 0 else "hosts",
                           wave["hosts"], " ".join(wave["reasons"]))]
            reasons = "\n".join(f"• {r}" for r in wave["reasons"])
            columns.append(WaveColumn(wave["wave"], wave["hosts"], tuple(blocks),
                                      f"Wave {wave['wave']}\n{reasons}" if reasons else "", wave["tier"],
                                      len(wave["group_ids"])))
        self.timeline.set_waves(columns)
        warnings = self.figures["warnings"]
        text = escape(f"{counted(len(waves), 'wave')}, {counted(len(groups), 'move group')}. Click a wave or a group "
                      "to see it on Move groups; hover for its reasons.")
        if warnings:
            text += ("<br><b style='color:#B85C00'>" + escape(counted(len(warnings), "warning")) + ":</b> "
                     + " ".join(escape(w) for w in warnings))
        self.waves_label.setText(text)

    @staticmethod
    def _group_tip(group: dict) -> str:
        reasons = "\n".join(f"• {r}" for r in group.get("wave_reasons") or ())
        return f"{group.get('name')} ({counted(len(group.get('host_ids') or ()), 'host')})" + \
            (f"\n{reasons}" if reasons else "")

    def _fill(self, table: QTableWidget, rows: list[tuple[str, list]]) -> None:
        """Fill `table` with rows of (host id, cells); each cell is text or (text, background colour)."""
        table.setRowCount(len(rows))
        for number, (host_id, cells) in enumerate(rows):
            for column, cell in enumerate(cells):
                text, colour = cell if isinstance(cell, tuple) else (cell, None)
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, host_id)
                item.setToolTip(text)
                if colour is not None:
                    item.setBackground(colour)
                table.setItem(number, column, item)

    def _show_top_risk(self) -> None:
        top = self.figures["top_risk"]
        self.risk_table.setVisible(bool(top))
        self.risk_label.setText("" if top else "Not analysed yet: run Analyze to score each host's migration risk.")
        label = self.snapshot.host_label
        self._fill(self.risk_table, [(h["id"], [label(h["id"]), (format_number(h["risk_score"]),
                                                                  risk_colour(h["risk_score"])),
                                                " ".join(p for p in (h.get("os_name"), h.get("os_version")) if p),
                                                "yes" if h.get("legacy") else "no"]) for h in top])

    def _show_blind_spots(self) -> None:
        coverage = self.figures["coverage"]
        spots = (coverage or {}).get("blind_spots") or []
        self.blind_table.setVisible(bool(spots))
        if coverage is None:
            self.blind_label.setText(f"Coverage not computed: {NOT_ANALYSED}.")
        elif not spots:
            self.blind_label.setText("None: every host's own sockets were read.")
        else:
            self.blind_label.setText(f"{counted(len(spots), 'host')} whose own sockets were never read, most "
                                     f"dependencies first (the first {min(len(spots), TOP_BLIND_SPOTS)} here).")
        label = self.snapshot.host_label
        self._fill(self.blind_table, [
            (s["host_id"], [label(s["host_id"]),
                            (s.get("depth") or "", QColor(DEPTH_COLOURS.get(s.get("depth"), "#FFFFFF"))),
                            str(s.get("dependencies", 0)), s.get("hint") or ""]) for s in spots[:TOP_BLIND_SPOTS]])

    # --- clicks ---------------------------------------------------------------------------------------
    def _hosts(self, label: str, predicate, select: str | None = None) -> None:
        self.click_through.emit(ClickThrough("Inventory", "hosts", label, predicate, select))

    def _count_clicked(self, key: str) -> None:
        page = {"hosts": ("Inventory", "hosts"), "services": ("Inventory", "services"),
                "dependencies": ("Inventory", "connections"), "findings": ("Findings", None),
                "groups": ("Move groups", None)}[key]
        self.click_through.emit(ClickThrough(*page))

    def _legacy_clicked(self) -> None:
        self._hosts("Legacy", lambda h: bool(h.get("legacy")))

    def _os_clicked(self, family: str) -> None:
        self._hosts(f"OS family: {os_family_label(family)}", lambda h: _os_family(h) == family)

    def _depth_clicked(self, depth: str) -> None:
        self._hosts(f"Coverage: {depth}", lambda h: h.get("coverage_depth") == depth)

    def _severity_clicked(self, severity: str) -> None:
        self.click_through.emit(ClickThrough("Findings", None, f"Severity: {severity}",
                                             lambda f: str(f.get("severity")).lower() == severity))

    def _wave_clicked(self, wave) -> None:
        found = next((w for w in self.figures["waves"] or () if w["wave"] == wave), None)
        if found is None:
            return
        if found["group_ids"]:
            ids = set(found["group_ids"])
            self.click_through.emit(ClickThrough("Move groups", None, f"Wave {wave}", lambda g: g.get("id") in ids,
                                                 select=found["group_ids"][0]))
        else:
            hosts = set(found["remediation"] or found["host_ids"])
            self._hosts(f"Wave {wave}", lambda h: h["id"] in hosts)

    def _block_clicked(self, key: str) -> None:
        kind, _, wave = key.partition(":")
        if kind in ("remediation", "hosts") and wave.lstrip("-").isdigit():
            self._wave_clicked(int(wave))
        else:
            self.click_through.emit(ClickThrough("Move groups", select=key))

    def _host_clicked(self, table: QTableWidget, row: int) -> None:
        item = table.item(row, 0)
        if item is not None:
            self.click_through.emit(ClickThrough("Inventory", "hosts", select=item.data(Qt.ItemDataRole.UserRole)))

    def _link(self, link: str) -> None:
        if link.startswith("scan:"):
            self.scan_requested.emit(link.removeprefix("scan:"))
