"""The interactive dependency graph: `GraphView`, a toolbar over a zoomable, pannable QGraphicsView canvas.

What is shown is a *display graph* (a networkx DiGraph, edges client → server) derived from a Snapshot by
the plain functions of gui.graph_model — host or service level, filtered, collapsed by subnet or move
group, or cut to the N-hop neighbourhood of a node — and laid out by gui.graph_layout. Deriving and laying
out run together on a QThreadPool thread (gui.graph_worker's `LayoutWorker`); its `layout_done` signal brings
the result back to the GUI thread, where gui.graph_items draws it in a few batched items. A newer request
cancels an older one, and a result that arrives late is dropped.

Selecting a node lights what it depends on (downstream, transitively) in blue and what depends on it
(upstream: its blast radius) in purple, outlined, and dims the rest; a line above the canvas says what the
selected host's failure would affect, counted over the whole estate as the analysis counts it
(gui.graph_impact). Dependence follows discovery.analyses.analysis's blast
radius: a client depends on the services it calls, a service on its host, a host on its client processes;
an external peer, shared infrastructure (the analysis's list) and hubs (gui.graph_layout.find_hubs) are lit
but pass nothing on (else, through monitoring or backup, everything would depend on everything).

The "Layer 2" check box overlays the cables between hosts and switch ports (the inventory's `l2_links`, from
SNMP LLDP/CDP neighbours and forwarding tables) as dashed lines. They are drawn on the picture already laid
out (toggling neither moves a node nor changes the zoom) and are never part of the display graph, so
dependence, blast radius and hubs ignore them. Collapsed by subnet or move group, the cables between
buckets are drawn one line per pair of buckets; those inside one bucket are not drawn.

Framing: the picture is fitted when first shown and whenever the canvas is resized, until the user zooms or
pans (then the zoom is kept, also when coming back to the page); Fit (F on the canvas) fits and follows the
size again. Ctrl+= / Ctrl+- zoom (Ctrl+0 is the Overview page's); arrow keys move the selection to the
connected node in that direction; Escape clears it. The toolbar is built by gui.graph_toolbar.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import networkx as nx
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import QFileDialog, QGraphicsScene, QGraphicsView, QLabel, QVBoxLayout, QWidget

from gui.data import Snapshot
from gui.graph_canvas import GraphCanvasView, save_picture
from gui.graph_impact import Impact, analysis_shared_hosts, build_host_graph, describe_impact, host_impact
from gui.graph_items import GraphItems
from gui.graph_layout import LAYOUTS, nearest_in_direction
from gui.graph_model import (COLLAPSES, HOST_KINDS, LEVELS, GraphOptions, LayoutResult, Layer2Edge, find_nodes,
                             reach, short_name)
from gui.graph_style import DEPENDENTS_COLOUR
from gui.graph_text import NO_CONNECTIONS_TEXT, edge_tooltip, node_tooltip
from gui.graph_toolbar import LAYER2_NONE_TIP, LAYER2_TIP, build_toolbar
from gui.graph_worker import LayoutWorker

ANTIALIAS_LIMIT = 2000     # antialiasing only up to this many nodes
ZOOM_STEP = 1.25           # Ctrl+= / Ctrl+- zoom by this factor
EDGE_HOVER_PIXELS = 6      # how near a line (an edge, a layer-2 cable) the pointer must be for its tooltip


class GraphView(QWidget):
    """The dependency graph with its toolbar. Signals: `node_selected(str)` (a node id), `host_selected(str)`
    (a host id, when the node picked is a host), `layout_finished()` (the new picture is on screen),
    `layout_failed(str)`."""

    node_selected = Signal(str)
    host_selected = Signal(str)
    layout_finished = Signal()
    layout_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._snapshot: Snapshot | None = None
        self._options = GraphOptions()
        self._result: LayoutResult | None = None
        self._items: GraphItems | None = None
        self._bases: dict[str, nx.DiGraph] = {}
        self._worker: LayoutWorker | None = None
        self._generation = 0
        self._highlight = {"selected": set(), "depends_on": set(), "dependents": set()}
        self.scene = QGraphicsScene(self)
        self._auto_fit = True       # fit on show and resize until the user zooms or pans
        self._host_graph: nx.DiGraph | None = None
        self._shared_hosts: set[str] = set()
        self.canvas = GraphCanvasView(self.scene, self)
        self.canvas.zoom_changed.connect(self._on_zoom)
        self.canvas.scene_clicked.connect(self._on_clicked)
        self.canvas.user_moved.connect(self._stop_auto_fit)
        self.canvas.resized.connect(self._follow_size)
        self.canvas.arrow_pressed.connect(self.step_selection)
        self.canvas.tooltip_for = self._tooltip_at
        build_toolbar(self)
        self._build_shortcuts()
        self.empty_label = QLabel(NO_CONNECTIONS_TEXT, wordWrap=True, visible=False)
        self.empty_label.setStyleSheet("background:#fff8e1; border:1px solid #ffe082; padding:6px;")
        self.impact_label = QLabel("", wordWrap=True)
        self.impact_label.setToolTip("What the selected host's failure would affect: the hosts that depend on it "
                                     "directly and in total, as the analysis counts them (whole estate)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._row1)
        layout.addLayout(self._row2)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.impact_label)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(self._status_row)
        layout.addWidget(self.legend)

    # -- toolbar ---------------------------------------------------------------------------------------------

    def _build_shortcuts(self) -> None:
        """Fit (F on the canvas; Ctrl+0 is the Overview page's), zoom (Ctrl+= / Ctrl++ / Ctrl+-) and Escape to
        clear the selection (the canvas's keys); the zoom keys work anywhere on the graph page."""
        self.canvas.fit_pressed.connect(self.fit)
        self.canvas.escape_pressed.connect(self.clear_selection)
        for keys, slot in ((("Ctrl+=", "Ctrl++"), self.zoom_in), (("Ctrl+-",), self.zoom_out)):
            for key in keys:
                shortcut = QShortcut(QKeySequence(key), self, context=Qt.WidgetWithChildrenShortcut)
                shortcut.activated.connect(slot)

    def _sync_toolbar(self) -> None:
        """Show the current options in the toolbar without triggering the setters again."""
        o = self._options
        for widget, value in ((self.level_combo, o.level), (self.layout_combo, o.layout),
                              (self.collapse_combo, o.collapse), (self.group_combo, o.group)):
            widget.blockSignals(True)
            widget.setCurrentIndex(max(0, widget.findData(value)))
            widget.blockSignals(False)
        for kind, action in self.kind_actions.items():
            action.blockSignals(True)
            action.setChecked(kind in o.kinds)
            action.setVisible(o.level == "service" or kind in HOST_KINDS)
            action.blockSignals(False)
        for widget, value in ((self.risk_spin, int(o.min_risk)), (self.hops_spin, o.hops)):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        self.shared_check.blockSignals(True)
        self.shared_check.setChecked(o.hide_shared)
        self.shared_check.blockSignals(False)

    def _fill_groups(self) -> None:
        self.group_combo.blockSignals(True)
        self.group_combo.clear()
        self.group_combo.addItem("All move groups", None)
        for g in (self._snapshot.inventory.get("groups") or ()) if self._snapshot else ():
            self.group_combo.addItem(g.get("name") or g["id"], g["id"])
        self.group_combo.blockSignals(False)

    def _on_kinds_toggled(self) -> None:
        self.set_kind_filter(k for k, a in self.kind_actions.items() if a.isChecked())

    # -- options ---------------------------------------------------------------------------------------------

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        """Show `snapshot` (None: nothing), keeping the options but not the neighbourhood or selection."""
        self._snapshot = snapshot
        self._bases = {}
        self._host_graph = None
        self._shared_hosts = analysis_shared_hosts(snapshot) if snapshot is not None else set()
        self._options = replace(self._options, focus=None, group=None)
        self.empty_label.setVisible(snapshot is not None and bool(snapshot.inventory.get("hosts"))
                                    and not snapshot.inventory.get("dependencies"))
        self._set_selection(None)
        self._fill_groups()
        self._enable_layer2()
        self._relayout()

    def options(self) -> GraphOptions:
        """Return the current options."""
        return self._options

    def set_options(self, **changes) -> None:
        """Change any GraphOptions fields at once and lay out again. Raises TypeError for an unknown field,
        ValueError for a bad level, collapse or layout."""
        options = replace(self._options, **changes)
        if options.level not in LEVELS or options.collapse not in COLLAPSES or options.layout not in LAYOUTS:
            raise ValueError(f"bad graph options: {options}")
        if options == self._options:
            return
        self._options = options
        self._sync_toolbar()
        self._relayout()

    def set_level(self, level: str) -> None:
        """Show hosts ("host") or services, processes and databases too ("service")."""
        self.set_options(level=level, focus=None)

    def set_layout_method(self, method: str) -> None:
        """Lay out "layered" (clients left, servers right) or "force" (force-directed, seeded)."""
        self.set_options(layout=method)

    def set_kind_filter(self, kinds: Iterable[str]) -> None:
        """Show only nodes of these kinds."""
        self.set_options(kinds=frozenset(kinds))

    def set_min_risk(self, minimum: float) -> None:
        """Hide nodes whose host's risk score is below `minimum` (0 hides none)."""
        self.set_options(min_risk=float(minimum))

    def set_group_filter(self, group_id: str | None) -> None:
        """Show only the hosts of one move group (None: all)."""
        self.set_options(group=group_id)

    def _enable_layer2(self) -> None:
        """Offer the layer-2 overlay only when the inventory has links to draw (an older store has none); the
        disabled check box's tooltip says why, and it is unticked so nothing looks drawn that is not."""
        available = self._snapshot is not None and bool(self._snapshot.inventory.get("l2_links"))
        self.layer2_check.setEnabled(available)
        self.layer2_check.setToolTip(LAYER2_TIP if available else LAYER2_NONE_TIP)
        if not available:
            self.layer2_check.setChecked(False)

    def set_layer2_visible(self, visible: bool) -> None:
        """Draw (or take off) the dashed cables between hosts and switch ports over the current picture,
        without laying out again: nodes stay put and the zoom is kept. Stays off while the inventory has no
        layer-2 links (the check box is disabled)."""
        visible = bool(visible) and self.layer2_check.isEnabled()
        if self.layer2_check.isChecked() != visible:
            self.layer2_check.blockSignals(True)
            self.layer2_check.setChecked(visible)
            self.layer2_check.blockSignals(False)
        self.layer2_legend.setVisible(visible)
        if self._items is not None and self._result is not None:
            self._items.set_layer2(self._result.layer2 if visible else ())

    def layer2_visible(self) -> bool:
        """Return True when the layer-2 overlay is switched on."""
        return self.layer2_check.isChecked()

    def layer2_edges(self) -> list[Layer2Edge]:
        """Return the layer-2 edges drawn (none while the overlay is off)."""
        return self._items.layer2() if self._items is not None else []

    def set_hide_shared(self, hide: bool) -> None:
        """Hide shared infrastructure (DNS, directory, NTP, monitoring...) and the dependencies on it."""
        self.set_options(hide_shared=bool(hide))

    def set_collapse(self, collapse: str | None) -> None:
        """Merge nodes by "subnet" (/24 of the first address), move "group" or vSphere "cluster" (a standalone ESXi
        host's VMs with it), or None for no merging."""
        self.set_options(collapse=collapse, focus=None)

    def show_neighbourhood(self, node_id: str | None = None, hops: int | None = None) -> None:
        """Show only the nodes within `hops` (default: the spin box) of `node_id` (default: the selection)."""
        node_id = node_id if node_id is not None else self.selected_node()
        if node_id is None:
            self.status_label.setText("Select a node first")
            return
        self.set_options(focus=node_id, hops=hops if hops is not None else self.hops_spin.value())

    def show_all(self) -> None:
        """Leave the neighbourhood view."""
        self.set_options(focus=None)

    # -- layout ----------------------------------------------------------------------------------------------

    def _relayout(self) -> None:
        self._generation += 1
        if self._worker is not None:
            self._worker.cancelled.set()
            self._worker = None
        if self._snapshot is None:
            self._show(None)
            return
        self._worker = LayoutWorker(self._snapshot, self._options, self._generation, self._bases)
        self._worker.layout_done.connect(self._on_layout_done)
        self.busy_label.setVisible(True)
        self._worker.start()

    def is_laying_out(self) -> bool:
        """Return True while a layout is being computed."""
        return self._worker is not None

    @property
    def last_layout(self) -> LayoutResult | None:
        """Return the layout on screen (its graph, positions, seconds and the worker thread's ident)."""
        return self._result

    def _on_layout_done(self, result: LayoutResult) -> None:
        if result.generation != self._generation:
            return  # a newer request is on its way
        self._worker = None
        self.busy_label.setVisible(False)
        if result.error:
            self.status_label.setText(f"Layout failed: {result.error}")
            self.layout_failed.emit(result.error)
            return
        self._bases = result.bases
        self._show(result)
        self.layout_finished.emit()

    def _show(self, result: LayoutResult | None) -> None:
        """Replace the picture with `result`'s (None: empty), keeping the selection if it is still shown."""
        if self._items is not None:
            self._items.remove()
            self._items = None
        self._result = result
        if result is None:
            self._set_selection(None)
            self.status_label.setText("")
            return
        self.scene.setItemIndexMethod(QGraphicsScene.NoIndex)  # no index updates while thousands are added
        self._items = GraphItems(self.scene, result.graph, result.positions)
        if self.layer2_visible():
            self._items.set_layer2(result.layer2)
        self.scene.setItemIndexMethod(QGraphicsScene.BspTreeIndex)
        rect = self._items.bounding_rect()
        self.scene.setSceneRect(rect.adjusted(-rect.width(), -rect.height(), rect.width(), rect.height()))
        self.canvas.setRenderHint(QPainter.Antialiasing, len(result.graph) <= ANTIALIAS_LIMIT)
        self.canvas.setRenderHint(QPainter.TextAntialiasing, True)
        self._auto_fit = True  # a new picture: framed whole until the user zooms or pans
        self.fit_to_view()
        selected = self.selected_node()
        self._set_selection(selected if selected in result.graph else None)
        self.status_label.setText(f"{len(result.graph)} nodes, {result.graph.number_of_edges()} edges; "
                                  f"{result.options.layout} layout in {result.seconds:.2f} s")

    # -- selection -------------------------------------------------------------------------------------------

    def node_ids(self) -> set[str]:
        """Return the ids of the nodes shown."""
        return set(self._result.graph) if self._result is not None else set()

    def node_data(self, node_id: str) -> dict | None:
        """Return a shown node's display attributes (kind, label, risk, legacy, healthcare, host...), or None."""
        if self._result is None or node_id not in self._result.graph:
            return None
        return dict(self._result.graph.nodes[node_id])

    def node_position(self, node_id: str) -> QPointF | None:
        """Return a shown node's centre in scene coordinates, or None."""
        if self._result is None or node_id not in self._result.positions:
            return None
        return QPointF(*self._result.positions[node_id])

    def selected_node(self) -> str | None:
        """Return the selected node's id, or None."""
        return next(iter(self._highlight["selected"]), None)

    def highlighted(self) -> dict[str, set[str]]:
        """Return {"selected", "depends_on" (downstream), "dependents" (upstream)}: sets of node ids."""
        return {key: set(value) for key, value in self._highlight.items()}

    def select_node(self, node_id: str | None, *, centre: bool = False) -> bool:
        """Select a shown node (None clears), light its dependencies and dependents, and emit node_selected
        (and host_selected for a host). Return False when the node is not shown."""
        if node_id is not None and (self._result is None or node_id not in self._result.graph):
            return False
        self._set_selection(node_id)
        if node_id is None:
            return True
        if centre:
            self.canvas.centerOn(self.node_position(node_id))
        self.node_selected.emit(node_id)
        if self._result.graph.nodes[node_id]["kind"] == "host":
            self.host_selected.emit(node_id)
        return True

    def clear_selection(self) -> None:
        """Select nothing: every node at full strength again."""
        self.select_node(None)

    def _set_selection(self, node_id: str | None) -> None:
        if node_id is None or self._result is None:
            self._highlight = {"selected": set(), "depends_on": set(), "dependents": set()}
            self.impact_label.setText("")
        else:
            graph, impact = self._result.graph, self._result.impact
            kinds = graph.nodes(data="kind")
            upstream, downstream = (impact.succ, impact.pred) if impact is not None else (graph.pred, graph.succ)
            stop_at = self._result.stop_at
            self._highlight = {"selected": {node_id}, "depends_on": reach(downstream, node_id, kinds, stop_at),
                               "dependents": reach(upstream, node_id, kinds, stop_at)}
            self.impact_label.setText(self._impact_text(node_id))
        if self._items is not None:
            self._items.set_highlight(node_id, self._highlight["depends_on"], self._highlight["dependents"])

    def impact(self, host_id: str) -> Impact | None:
        """Return what depends on a host in the whole estate, counted as the analysis counts its blast radius
        (None for a node that is not a host)."""
        if self._snapshot is None:
            return None
        if self._host_graph is None:
            self._host_graph = build_host_graph(self._snapshot)
        return host_impact(self._host_graph, host_id, self._shared_hosts)

    def _impact_text(self, node_id: str) -> str:
        """Return the blast-radius line for the selected node: its host's, or the picture's count otherwise."""
        data = self._result.graph.nodes[node_id]
        host = data.get("host") if data["kind"] in ("host", "service", "database", "process") else None
        found = self.impact(host) if host else None
        if found is None:
            n = len(self._highlight["dependents"])
            return f"{data.get('label') or node_id}: {n} node{'s' if n != 1 else ''} shown depend on it"

        def label_of(h: str) -> str:
            record = self._snapshot.hosts_by_id.get(h) or {}
            return short_name(str(record.get("hostname") or h))
        text = describe_impact(found, label_of)
        if host != node_id:
            text = f"{data.get('label') or node_id} runs on " + text
        return f"<span style='color:{DEPENDENTS_COLOUR}'>▢</span> {text}"

    def step_selection(self, dx: int, dy: int) -> str | None:
        """Move the selection to the connected node (either direction of dependence) lying most nearly in
        direction (dx, dy) from it; with nothing selected, select the top-left node. Return the node selected
        (None when there is nowhere to go)."""
        if self._result is None or not self._result.positions:
            return None
        pos, graph = self._result.positions, self._result.graph
        current = self.selected_node()
        if current is None:
            first = min(pos, key=lambda n: (pos[n][1] + pos[n][0] * 0.001, pos[n][0]))
            self.select_node(first, centre=True)
            return first
        best = nearest_in_direction(pos, current, set(graph.pred[current]) | set(graph.succ[current]), dx, dy)
        if best is not None:
            self.select_node(best, centre=True)
        return best

    def find_node(self, text: str) -> str | None:
        """Select and centre the first shown node whose name, id or address matches `text`; return its id, or
        None (and say so) when none does."""
        if self._result is None:
            return None
        found = find_nodes(self._result.graph, text)
        if not found:
            self.status_label.setText(f"No node matches {text!r}")
            return None
        self.select_node(found[0], centre=True)
        if len(found) > 1:
            self.status_label.setText(f"{len(found)} nodes match {text!r}; showing the first")
        return found[0]

    def _tooltip_at(self, point: QPointF) -> str | None:
        """Return the tooltip of the node at `point`, else of the layer-2 line under it, else None."""
        if self._items is None:
            return None
        node = self._items.node_at(point)
        if node is not None:
            return self.tooltip_text(node)
        slack = EDGE_HOVER_PIXELS / self.canvas.scale_factor()
        cable = self._items.layer2_at(point, slack)
        if cable is not None:
            return cable.tooltip
        edge = self._items.edge_at(point, slack)
        return self.edge_tooltip_text(*edge) if edge is not None else None

    def edge_tooltip_text(self, u: str, v: str) -> str | None:
        """Return what hovering edge u → v tells: each dependency behind it with its protocol's common name,
        port, client process, evidence and when last seen. None when the edge is not shown."""
        if self._result is None or not self._result.graph.has_edge(u, v):
            return None
        graph = self._result.graph
        d = graph.edges[u, v]
        return edge_tooltip(str(graph.nodes[u].get("label") or u), str(graph.nodes[v].get("label") or v),
                            tuple(d.get("deps") or ()), d.get("count", 1))

    def tooltip_text(self, node_id: str) -> str | None:
        """Return what hovering a shown node tells: its name and kind, risk, badges, links in and out; a host's
        addresses, OS and the switch port it is cabled to. None if the node is not shown."""
        data = self.node_data(node_id)
        if data is None:
            return None
        graph, hosts = self._result.graph, self._snapshot.hosts_by_id
        return node_tooltip(node_id, data, hosts.get(data.get("host")), hosts.get(node_id),
                            graph.out_degree(node_id), graph.in_degree(node_id))

    def _on_clicked(self, point: QPointF) -> None:
        node = self._items.node_at(point) if self._items is not None else None
        self.select_node(node)

    # -- zoom and pictures -----------------------------------------------------------------------------------

    def _on_zoom(self, scale: float) -> None:
        if self._items is not None:
            self._items.set_zoom(scale)

    def fit_to_view(self) -> None:
        """Zoom and scroll so that every node shown is in view (the auto-fit state is left as it is)."""
        if self._items is not None:
            self.canvas.fit(self._items.bounding_rect())

    def fit(self) -> None:
        """Fit the estate in view and follow the window's size again (the Fit button, F)."""
        self._auto_fit = True
        self.fit_to_view()

    def auto_fit(self) -> bool:
        """Return True while the picture is refitted on show and resize (until the user zooms or pans)."""
        return self._auto_fit

    def zoom_in(self) -> None:
        """Zoom in by ZOOM_STEP about the centre (Ctrl+=); the zoom is then kept."""
        self._zoom_centred(ZOOM_STEP)

    def zoom_out(self) -> None:
        """Zoom out by ZOOM_STEP about the centre (Ctrl+-); the zoom is then kept."""
        self._zoom_centred(1 / ZOOM_STEP)

    def _zoom_centred(self, factor: float) -> None:
        anchor = self.canvas.transformationAnchor()
        self.canvas.setTransformationAnchor(QGraphicsView.AnchorViewCenter)
        self.canvas.zoom_by(factor)
        self.canvas.setTransformationAnchor(anchor)
        self._stop_auto_fit()

    def _stop_auto_fit(self) -> None:
        self._auto_fit = False

    def _follow_size(self) -> None:
        if self._auto_fit:
            self.fit_to_view()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._auto_fit:  # first shown (laid out while hidden, at another size): frame it; else keep the zoom
            self.fit_to_view()

    def save_image(self, path: str | Path) -> Path:
        """Save the whole graph as PNG or SVG (by the extension) and return the path. Raises ValueError for
        another extension or when nothing is shown, OSError when the file cannot be written."""
        if self._items is None:
            path = Path(path)
            if path.suffix.lower() not in (".png", ".svg"):
                raise ValueError(f"cannot save {path.name}: use .png or .svg")
            raise ValueError("nothing to save: the graph is empty")
        return save_picture(self.scene, self._items.bounding_rect(), path, self._items.set_zoom,
                            self.canvas.scale_factor())

    def _ask_save_image(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save graph image", "estate-graph.png",
                                              "PNG image (*.png);;SVG drawing (*.svg)")
        if name:
            try:
                self.save_image(name)
            except (OSError, ValueError) as exc:
                self.status_label.setText(str(exc))
            else:
                self.status_label.setText(f"Saved {name}")
