"""Move groups and waves: the groups with their wave and its reasons, the selected group's hosts and the links that
tie them, the wave plan (each wave's reasons, the plan's warnings) and the form of the rules it follows."""

from __future__ import annotations

from collections import defaultdict
from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from discovery.records.model import counted
from gui.data import Snapshot
from gui.models import Column
from gui.table_view import DetailsPaneView, RecordTableView
from gui.wave_rules_form import WaveRulesForm


def effective_wave(group: dict):
    """Return a group's wave: the architects' override when there is one, else the analysis's."""
    return group["wave_override"] if group.get("wave_override") is not None else group.get("wave")


GROUP_COLUMNS = (
    Column("name", "Name", width=24),
    Column("effective_wave", "Wave", "int", width=5, value=effective_wave),
    Column("wave", "Analysis wave", "int", width=6, hidden=True),
    Column("wave_override", "Override", "int", width=7),
    Column("host_count", "Hosts", "int", width=5, value=lambda g: len(g.get("host_ids") or ())),
    Column("wave_reasons", "Wave reasons", width=60, value=lambda g: " ".join(g.get("wave_reasons") or ()) or None),
    Column("explanation", "Explanation", width=60),
    Column("id", "Group ID", width=18, hidden=True),
)
MEMBER_COLUMNS = (
    Column("id", "Host", "host", width=16),
    Column("addresses", "Addresses", "list", width=14),
    Column("os", "OS", width=18,
           value=lambda h: " ".join(p for p in (h.get("os_name"), h.get("os_version")) if p) or None),
    Column("risk_score", "Risk", "risk", width=5),
    Column("criticality", "Criticality", width=9, hidden=True),
    Column("owner", "Owner", width=12, hidden=True),
)
EDGE_COLUMNS = (
    Column("source_host_id", "From", "host", width=16),
    Column("target_host_id", "To", "host", width=16),
    Column("ports", "Ports", "list", width=14),
    Column("processes", "Client processes", "list", width=14),
    Column("connections", "Connections", "int", width=8),
)


def group_edge_rows(group: dict, dependencies: list[dict]) -> list[dict]:
    """Return one row per edge of `group` (from, to) with the ports, client processes and connections between them."""
    pairs = {tuple(edge) for edge in group.get("edges") or ()}
    ports, processes, counts = defaultdict(set), defaultdict(set), defaultdict(int)
    for d in dependencies:
        pair = (d.get("source_host_id"), d.get("target_host_id"))
        if pair in pairs:
            ports[pair].add(f"{d.get('protocol') or 'tcp'} {d.get('target_port')}")
            if d.get("source_process"):
                processes[pair].add(d["source_process"])
            counts[pair] += d.get("connections") or 0
    return [{"source_host_id": s, "target_host_id": t, "ports": sorted(ports[(s, t)]),
             "processes": sorted(processes[(s, t)]), "connections": counts[(s, t)] or None}
            for s, t in (tuple(e) for e in group.get("edges") or ())]


def waves_html(snapshot: Snapshot | None) -> str:
    """Return the waves summary: each wave's groups, hosts and reasons, the plan's warnings; a hint before any
    analysis."""
    if snapshot is None:
        return "<p><i>No estate loaded.</i></p>"
    analysis = snapshot.inventory.get("analysis")
    if analysis is None:
        return "<p><i>Not analysed yet: run Analyze to find move groups and waves.</i></p>"
    plan = snapshot.inventory.get("wave_plan")
    if plan:
        waves = [{"number": w.get("wave"), "groups": len(w.get("group_ids") or ()), "hosts": w.get("hosts") or 0,
                  "note": " ".join(w.get("reasons") or ())} for w in plan.get("waves") or ()]
    else:  # an analysis from before the wave planner
        waves = [{"number": w.get("number"), "groups": len(w.get("group_ids") or ()),
                  "hosts": len(w.get("host_ids") or ()), "note": w.get("note")} for w in analysis.get("waves") or ()]
    rows = "".join(f"<tr><td><b>Wave {escape(str(w['number']))}</b>&nbsp;&nbsp;</td>"
                   f"<td>{counted(w['groups'], 'group')}, {counted(w['hosts'], 'host')}&nbsp;&nbsp;</td>"
                   f"<td>{escape(w['note'] or '')}</td></tr>" for w in waves)
    warnings = (plan or {}).get("warnings") or []
    warned = ("<p><b style='color:#B85C00'>" + escape(counted(len(warnings), "warning")) + ":</b></p><ul>"
              + "".join(f"<li>{escape(w)}</li>" for w in warnings) + "</ul>") if warnings else ""
    overrides = sum(1 for g in snapshot.inventory.get("groups") or () if g.get("wave_override") is not None)
    note = f"<p>{overrides} group(s) have a wave set by the architects (shown in the Wave column).</p>" \
        if overrides else ""
    when = escape(str(analysis.get("as_of") or ""))
    return (f"<p><b>{len(waves)} waves</b> (analysis judged on {when}; the rules are beside this summary)</p>"
            f"<table>{rows}</table>{warned}{note}")


def wave_reasons_text(group: dict) -> str:
    """Return a group's wave and its reasons as plain text, one reason a line."""
    reasons = group.get("wave_reasons") or ()
    if not reasons:
        return ""
    return f"Wave {effective_wave(group)}, because:\n" + "\n".join(f"• {r}" for r in reasons)


class GroupsView(QWidget):
    """Move groups above the selected group's hosts and the edges that tie them; a waves summary on top.

    Signal host_selected(host id) when a host of the group (or an edge's client) is activated;
    wave_rules_applied(dict of changed rules) when the rules form's Apply is pressed.
    """
    host_selected = Signal(str)
    wave_rules_applied = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.waves_pane = DetailsPaneView()
        self.waves_pane.setMaximumHeight(self.waves_pane.fontMetrics().height() * 14)
        self.groups_view = RecordTableView(GROUP_COLUMNS, noun="groups")
        self.rules_form = WaveRulesForm()
        self.explanation_label = QLabel(wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        self.explanation_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reasons_label = QLabel(wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        self.reasons_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hosts_view = RecordTableView(MEMBER_COLUMNS, noun="hosts")
        self.edges_view = RecordTableView(EDGE_COLUMNS, noun="links")
        self.snapshot: Snapshot | None = None
        self._build()
        self.groups_view.row_selected.connect(self._show_group)
        self.hosts_view.row_activated.connect(lambda host: self.host_selected.emit(host["id"]))
        self.edges_view.row_activated.connect(lambda edge: self.host_selected.emit(edge["source_host_id"]))
        self.rules_form.rules_applied.connect(self.wave_rules_applied)

    def _build(self) -> None:
        members = QSplitter(Qt.Orientation.Horizontal)
        members.addWidget(self.hosts_view)
        members.addWidget(self.edges_view)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.explanation_label)
        lower_layout.addWidget(self.reasons_label)
        lower_layout.addWidget(members, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.groups_view)
        splitter.addWidget(lower)
        top = QHBoxLayout()
        top.addWidget(self.waves_pane, 1)
        top.addWidget(self.rules_form)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        """Show `snapshot`'s groups and waves (None: none), sorted by wave."""
        self.snapshot = snapshot
        label = snapshot.host_label if snapshot is not None else None
        for view in (self.hosts_view, self.edges_view):
            view.set_host_label(label)
        self.waves_pane.setHtml(waves_html(snapshot))
        self.rules_form.set_rules(snapshot.wave_rules if snapshot is not None else None,
                                  can_apply=snapshot is not None and snapshot.path is not None)
        self.rules_form.set_busy(False)
        self.groups_view.set_rows(snapshot.inventory.get("groups") or [] if snapshot is not None else [])
        if self.groups_view.table.horizontalHeader().sortIndicatorSection() < 0:
            self.groups_view.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self._show_members(None)

    def select_group(self, group_id: str) -> bool:
        """Select the group `group_id` and show its hosts; return False if there is no such group."""
        return self.groups_view.select_where("id", group_id)

    def _show_group(self, group: dict) -> None:
        self._show_members(group)

    def _show_members(self, group: dict | None) -> None:
        if group is None or self.snapshot is None:
            self.explanation_label.setText("Select a group to see its hosts and the links that tie them."
                                           if self.snapshot and self.snapshot.inventory.get("groups") else "")
            self.reasons_label.setText("")
            self.hosts_view.set_rows([])
            self.edges_view.set_rows([])
            return
        hosts = self.snapshot.hosts_by_id
        self.explanation_label.setText(group.get("explanation") or "")
        self.reasons_label.setText(wave_reasons_text(group))
        self.hosts_view.set_rows([hosts.get(h) or {"id": h} for h in group.get("host_ids") or ()])
        self.edges_view.set_rows(group_edge_rows(group, self.snapshot.inventory.get("dependencies") or []))
