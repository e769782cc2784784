"""The items that draw one laid-out display graph on a QGraphicsScene, built to stay fast at 5,000+ nodes.

Nothing here is one item per node or per edge: nodes are drawn by a few `QGraphicsPathItem` batches (one
per shape and fill colour, and again dimmed), edges by path batches of `EDGE_CHUNK` edges sorted by where
they lie (so the scene's BSP index can skip the chunks off screen), badges by two batches. Painting is then
C++ only: no Python runs per frame, whatever the node count. Labels are the exception — one
`QGraphicsSimpleTextItem` per node, device-coordinate cached, under two parent layers (hosts and groups;
everything else) that are shown or hidden as a whole when the zoom crosses a threshold (level of detail).

Edges at a hub (gui.graph_layout.find_hubs: thousands of clients of DNS, NTP, monitoring...) are drawn as
short stubs pointing at the hub, and the hub's label counts them; selecting a node draws its edges in full.

The layer-2 overlay (`set_layer2`: gui.graph_model.Layer2Edge, a switch port's cable) is drawn apart from the
dependency edges, dashed, in a colour of its own and without arrowheads (a cable has no direction); it
takes no part in hubs or highlighting beyond showing the selected node's own cables at full strength.

The display graph's node attributes read here: ``kind`` (host, service, database, process, external,
subnet, group), ``label`` (short), ``risk`` (0–100 or None), ``unknown`` (little evidence: grey and hatched
whatever the score), ``legacy`` ("major": a filled red badge; "minor", only end-of-life packages: a small
hollow ring), ``healthcare``; edge attributes ``shared`` and ``deps`` (gui.graph_text: the edge's label when
zoomed in). A host's score is written on it. Sizes, colours, pens and shapes are gui.graph_style's.
An edge whose straight line would cross another node (a layered layout's edge skipping a layer) is drawn as
a curve bowing round it.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable

import networkx as nx
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem, QGraphicsScene, \
    QGraphicsSimpleTextItem

from gui.graph_text import edge_label
from gui.graph_layout import find_hubs
from gui.graph_model import Layer2Edge
from gui.graph_style import (BOX_KINDS, DEPENDENTS_COLOUR, DEPENDS_ON_COLOUR, DIM_EDGE_COLOUR, DIM_L2_EDGE_COLOUR,
                             EDGE_COLOUR, HEALTHCARE_COLOUR, L2_EDGE_COLOUR, LEGACY_COLOUR, SELECTED_COLOUR,
                             SHARED_EDGE_COLOUR, SIZES, UNKNOWN_COLOUR, UNKNOWN_HATCH_COLOUR, add_arrowhead, add_shape,
                             add_stub, cable_pen, cosmetic_pen, distance_to_segment, fill_colour)

EDGE_CHUNK = 4000          # edges per path batch
ARROW_LIMIT = 3000         # arrowheads only up to this many edges (they double the work)
HOST_LABEL_SCALE = 0.45    # zoom from which host, group and subnet labels show
DETAIL_LABEL_SCALE = 0.9   # zoom from which service, process, database and external labels show
EDGE_LABEL_SCALE = 1.2     # zoom from which edges carry their protocol names
EDGE_LABEL_LIMIT = 1500    # edge labels only up to this many edges
BEND_LIMIT = 1500          # edges crossing a node are bent round it only up to this many edges
DIM_OPACITY = 0.18
CELL = 64.0                # the grid `node_at` looks nodes up in
SIMPLE_SCALE = 0.3         # below this zoom: nodes as plain unoutlined boxes, hub stubs hidden

Z_EDGES, Z_EDGES_HIGHLIGHT, Z_NODES, Z_BADGES, Z_RING, Z_LABELS = 0, 1, 2, 3, 4, 5
Z_LAYER2 = 0.5             # over the dependency edges, under the highlighted ones

class GraphItems:
    """The items of one display graph on `scene`, at `positions` ({node: (x, y)})."""

    def __init__(self, scene: QGraphicsScene, graph: nx.DiGraph, positions: dict[Hashable, tuple[float, float]]):
        self.scene, self.graph, self.positions = scene, graph, positions
        self._items: list[QGraphicsItem] = []
        self._node_batches: list[QGraphicsPathItem] = []
        self._edge_batches: list[QGraphicsPathItem] = []
        self._stub_batches: list[QGraphicsPathItem] = []
        self._simple = False
        self._highlight: list[QGraphicsItem] = []
        self._selected: Hashable | None = None
        self._layer2: list[Layer2Edge] = []
        self._layer2_batches: list[QGraphicsPathItem] = []
        self._labels: dict[Hashable, QGraphicsSimpleTextItem] = {}
        self._edge_labels: dict[tuple[Hashable, Hashable], QGraphicsSimpleTextItem] = {}
        self._grid: dict[tuple[int, int], list[Hashable]] = {}
        self.hubs = find_hubs(graph)
        self.layers = {"hosts": self._layer(), "detail": self._layer(), "edges": self._layer()}
        self._build_grid()
        self._bends = self._find_bends()
        self._add_edges()
        self._add_nodes(dimmed=set())
        self._add_badges()
        self._add_labels()
        self._add_edge_labels()

    # -- building --------------------------------------------------------------------------------------------

    def _keep(self, item: QGraphicsItem, z: float) -> QGraphicsItem:
        item.setZValue(z)
        self.scene.addItem(item)
        self._items.append(item)
        return item

    def _layer(self) -> QGraphicsRectItem:
        """Return an empty parent item: hiding it hides every label under it in one call."""
        layer = QGraphicsRectItem()
        layer.setPen(Qt.NoPen)
        layer.setFlag(QGraphicsItem.ItemHasNoContents, True)
        return self._keep(layer, Z_LABELS)

    def _batch(self, path: QPainterPath, pen: QPen | None, brush: QBrush | None, z: float) -> QGraphicsPathItem:
        item = QGraphicsPathItem(path)
        item.setPen(pen or QPen(Qt.NoPen))
        item.setBrush(brush or QBrush(Qt.NoBrush))
        return self._keep(item, z)

    def _build_grid(self) -> None:
        for node, (x, y) in self.positions.items():
            self._grid.setdefault((int(x // CELL), int(y // CELL)), []).append(node)

    def _find_bends(self) -> dict[tuple[Hashable, Hashable], tuple[float, float]]:
        """Return the control point of each edge whose straight line would cross another node (a layered
        layout's edge that skips a layer): it is drawn as a curve bowing round, so it is not read as ending at
        the node it passes (only up to BEND_LIMIT edges: the look-up runs in Python)."""
        if self.graph.number_of_edges() > BEND_LIMIT:
            return {}
        bends = {}
        for u, v in self.graph.edges():
            if u == v or u in self.hubs or v in self.hubs:
                continue
            (x1, y1), (x2, y2) = self.positions[u], self.positions[v]
            length = math.hypot(x2 - x1, y2 - y1)
            if self._crosses(u, v, lambda t: (x1 + (x2 - x1) * t, y1 + (y2 - y1) * t), length):
                nx_, ny_ = -(y2 - y1) / length, (x2 - x1) / length
                if ny_ > 0:
                    nx_, ny_ = -nx_, -ny_  # upwards on screen first
                candidates = [((x1 + x2) / 2 + side * nx_ * share * length, (y1 + y2) / 2 + side * ny_ * share * length)
                              for share in (0.2, 0.35, 0.5) for side in (1, -1)]
                for c in candidates:
                    def along(t, c=c):
                        a, b, d = (1 - t) ** 2, 2 * (1 - t) * t, t * t
                        return a * x1 + b * c[0] + d * x2, a * y1 + b * c[1] + d * y2
                    if not self._crosses(u, v, along, length * 1.3):
                        bends[u, v] = c
                        break
                else:
                    bends[u, v] = candidates[0]
        return bends

    def _crosses(self, u: Hashable, v: Hashable, along, length: float) -> bool:
        """Return True when the line `along(t)` (t from 0 to 1) of edge u → v passes over a node but its ends."""
        steps = max(4, int(length // 8))
        for i in range(1, steps):
            x, y = along(i / steps)
            hit = self.node_at(QPointF(x, y), slack=2.0)
            if hit is not None and hit != u and hit != v:
                return True
        return False

    def _edge_point(self, u: Hashable, v: Hashable, t: float) -> tuple[float, float]:
        """Return the point at `t` (0 at u, 1 at v) along edge u → v as drawn (straight or bent)."""
        (x1, y1), (x2, y2) = self.positions[u], self.positions[v]
        bend = self._bends.get((u, v))
        if bend is None:
            return x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
        a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t * t
        return a * x1 + b * bend[0] + c * x2, a * y1 + b * bend[1] + c * y2

    def _add_edges(self) -> None:
        edges = [(u, v, bool(d.get("shared"))) for u, v, d in self.graph.edges(data=True) if u != v]
        arrows = len(edges) <= ARROW_LIMIT
        pos = self.positions
        edges.sort(key=lambda e: (e[2], int((pos[e[0]][1] + pos[e[1]][1]) // 800),
                                  (pos[e[0]][0] + pos[e[1]][0])))
        hubs = self.hubs
        stubs = [(u, v) for u, v, _ in edges if (u in hubs) != (v in hubs)]
        edges = [e for e in edges if (e[0] in hubs) == (e[1] in hubs)]
        for start in range(0, len(edges), EDGE_CHUNK):
            chunk = edges[start:start + EDGE_CHUNK]
            for shared in (False, True):
                lines = [(u, v) for u, v, s in chunk if s is shared]
                if lines:
                    colour = SHARED_EDGE_COLOUR if shared else EDGE_COLOUR
                    item = self._batch(self._edge_path(lines, arrows), cosmetic_pen(colour), None, Z_EDGES)
                    item.setData(1, colour)
                    self._edge_batches.append(item)
        for start in range(0, len(stubs), EDGE_CHUNK):
            item = self._batch(self._edge_path(stubs[start:start + EDGE_CHUNK], False), cosmetic_pen(EDGE_COLOUR),
                               None, Z_EDGES)
            item.setData(1, EDGE_COLOUR)
            self._stub_batches.append(item)

    def _edge_path(self, edges: Iterable[tuple[Hashable, Hashable]], arrows: bool, stubs: bool = True
                   ) -> QPainterPath:
        """Return the lines of `edges` (with arrowheads if `arrows`); an edge at a hub is a stub from its other
        end towards the hub when `stubs`."""
        path = QPainterPath()
        pos, kinds, hubs = self.positions, self.graph.nodes, self.hubs if stubs else ()
        for u, v in edges:
            (x1, y1), (x2, y2) = pos[u], pos[v]
            if (u in hubs) != (v in hubs):
                add_stub(path, x1, y1, x2, y2, towards_end=v in hubs)
                continue
            path.moveTo(x1, y1)
            bend = self._bends.get((u, v))
            if bend is not None:
                path.quadTo(bend[0], bend[1], x2, y2)
                x1, y1 = bend  # the arrowhead follows the curve's last direction
            else:
                path.lineTo(x2, y2)
            if arrows:
                add_arrowhead(path, x1, y1, x2, y2, SIZES.get(kinds[v]["kind"], SIZES["host"]))
        return path

    def _draw_layer2(self) -> None:
        """Replace the layer-2 batches: every cable in L2_EDGE_COLOUR, or with a node selected only its own
        (the others pale)."""
        for item in self._layer2_batches:
            self.scene.removeItem(item)
            self._items.remove(item)
        self._layer2_batches = []
        pos = self.positions
        edges = sorted(self._layer2, key=lambda e: (int((pos[e.ends[0]][1] + pos[e.ends[1]][1]) // 800),
                                                    pos[e.ends[0]][0] + pos[e.ends[1]][0]))
        lit = [e for e in edges if self._selected in e.ends]
        groups = ((edges, L2_EDGE_COLOUR),) if self._selected is None else (
            ([e for e in edges if self._selected not in e.ends], DIM_L2_EDGE_COLOUR), (lit, L2_EDGE_COLOUR))
        for members, colour in groups:
            for start in range(0, len(members), EDGE_CHUNK):
                path = QPainterPath()
                for edge in members[start:start + EDGE_CHUNK]:
                    path.moveTo(*pos[edge.ends[0]])
                    path.lineTo(*pos[edge.ends[1]])
                self._layer2_batches.append(self._batch(path, cable_pen(colour), None, Z_LAYER2))

    def _add_nodes(self, dimmed: set) -> None:
        for item in self._node_batches:
            self.scene.removeItem(item)
            self._items.remove(item)
        self._node_batches = []
        paths: dict[tuple[str, str, bool], QPainterPath] = {}
        boxes: dict[tuple[str, bool], QPainterPath] = {}
        for node, data in self.graph.nodes(data=True):
            colour, dim = fill_colour(data), node in dimmed
            key = (data["kind"], colour, dim)
            path = paths.get(key)
            if path is None:
                path = paths[key] = QPainterPath()
                path.setFillRule(Qt.WindingFill)
                boxes.setdefault((colour, dim), QPainterPath()).setFillRule(Qt.WindingFill)
            x, y = self.positions[node]
            add_shape(path, data["kind"], x, y)
            w, h = SIZES.get(data["kind"], SIZES["host"])
            boxes[colour, dim].addRect(QRectF(x - w, y - h, 2 * w, 2 * h))
        outline = cosmetic_pen("#37474f")
        for (kind, colour, dim), path in paths.items():
            self._node_batches.append(self._node_batch(path, outline, colour, dim, simple=False))
            if colour == UNKNOWN_COLOUR:  # hatched over the grey: "we do not know", not a colour of the scale
                hatch = self._node_batch(path, None, UNKNOWN_HATCH_COLOUR, dim, simple=False)
                hatch.setBrush(QBrush(QColor(UNKNOWN_HATCH_COLOUR), Qt.BDiagPattern))
                self._node_batches.append(hatch)
        for (colour, dim), path in boxes.items():
            self._node_batches.append(self._node_batch(path, None, colour, dim, simple=True))

    def _node_batch(self, path: QPainterPath, pen: QPen | None, colour: str, dim: bool, *, simple: bool
                    ) -> QGraphicsPathItem:
        """Return a batch of node shapes; `simple` ones (plain boxes) show only when zoomed out."""
        item = self._batch(path, pen, QBrush(QColor(colour)), Z_NODES)
        item.setData(0, simple)
        item.setVisible(simple == self._simple)
        if dim:
            item.setOpacity(DIM_OPACITY)
        return item

    def _add_badges(self) -> None:
        legacy, minor, healthcare = QPainterPath(), QPainterPath(), QPainterPath()
        legacy.setFillRule(Qt.WindingFill)
        healthcare.setFillRule(Qt.WindingFill)
        for node, data in self.graph.nodes(data=True):
            x, y = self.positions[node]
            w, h = SIZES.get(data["kind"], SIZES["host"])
            if data.get("legacy") == "minor":
                minor.addEllipse(QPointF(x + w, y - h), 3, 3)
            elif data.get("legacy"):
                legacy.addEllipse(QPointF(x + w, y - h), 5, 5)
            if data.get("healthcare"):
                cx, cy = x - w, y - h
                healthcare.addRect(QRectF(cx - 5, cy - 1.8, 10, 3.6))
                healthcare.addRect(QRectF(cx - 1.8, cy - 5, 3.6, 10))
        white = cosmetic_pen("#ffffff")
        if not legacy.isEmpty():
            self._batch(legacy, white, QBrush(QColor(LEGACY_COLOUR)), Z_BADGES)
        if not minor.isEmpty():
            self._batch(minor, cosmetic_pen(LEGACY_COLOUR, 1.5), QBrush(QColor("#ffffff")), Z_BADGES)
        if not healthcare.isEmpty():
            self._batch(healthcare, None, QBrush(QColor(HEALTHCARE_COLOUR)), Z_BADGES)

    def _add_labels(self) -> None:
        font, score_font = QFont(), QFont()
        font.setPointSizeF(8)
        score_font.setPointSizeF(7)
        score_font.setBold(True)
        for node, data in self.graph.nodes(data=True):
            kind = data["kind"]
            layer = self.layers["hosts" if kind in BOX_KINDS else "detail"]
            if kind in BOX_KINDS and data.get("risk") is not None:
                score = QGraphicsSimpleTextItem(f"{data['risk']:.0f}", layer)
                score.setFont(score_font)
                score.setBrush(QBrush(QColor("#111111")))
                score.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
                box = score.boundingRect()
                score.setPos(self.positions[node][0] - box.width() / 2, self.positions[node][1] - box.height() / 2)
            text = str(data["label"])
            if node in self.hubs:
                text += f" ({len(self.graph.pred[node]) + len(self.graph.succ[node])} links)"
            label = QGraphicsSimpleTextItem(text, layer)
            label.setFont(font)
            label.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
            rect = label.boundingRect()
            x, y = self.positions[node]
            label.setPos(x - rect.width() / 2, y + SIZES.get(kind, SIZES["host"])[1] + 1)
            self._labels[node] = label

    def _add_edge_labels(self) -> None:
        """Write each edge's protocol names near its middle (shown only zoomed in, and only for a few edges),
        where it covers no node, node label or other edge label; an edge with no free spot goes unlabelled
        (its tooltip still says it)."""
        if self.graph.number_of_edges() > EDGE_LABEL_LIMIT:
            return
        font = QFont()
        font.setPointSizeF(6.5)
        taken: dict[tuple[int, int], list[QRectF]] = {}

        def cells(rect: QRectF):
            for cx in range(int(rect.left() // CELL), int(rect.right() // CELL) + 1):
                for cy in range(int(rect.top() // CELL), int(rect.bottom() // CELL) + 1):
                    yield cx, cy

        def take(rect: QRectF) -> None:
            for cell in cells(rect):
                taken.setdefault(cell, []).append(rect)

        for node, (x, y) in self.positions.items():
            w, h = SIZES.get(self.graph.nodes[node]["kind"], SIZES["host"])
            take(QRectF(x - w, y - h, 2 * w, 2 * h))
        for label in self._labels.values():
            take(label.sceneBoundingRect())
        for u, v, deps in self.graph.edges(data="deps"):
            if not deps or u == v or u in self.hubs or v in self.hubs:
                continue
            label = QGraphicsSimpleTextItem(edge_label(deps), self.layers["edges"])
            label.setFont(font)
            label.setBrush(QBrush(QColor("#455a64")))
            label.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
            size = label.boundingRect()
            for t in (0.5, 0.38, 0.62, 0.28, 0.72):
                x, y = self._edge_point(u, v, t)
                rect = QRectF(x - size.width() / 2, y - size.height(), size.width(), size.height())
                if not any(rect.intersects(r) for cell in cells(rect) for r in taken.get(cell, ())):
                    label.setPos(rect.topLeft())
                    take(rect)
                    self._edge_labels[u, v] = label
                    break
            else:
                self.scene.removeItem(label)

    def label_rects(self) -> dict[Hashable, QRectF]:
        """Return each node label's rectangle in scene coordinates."""
        return {node: label.sceneBoundingRect() for node, label in self._labels.items()}

    def edge_label_text(self, u: Hashable, v: Hashable) -> str | None:
        """Return the label written on edge u → v when zoomed in (None: none)."""
        label = self._edge_labels.get((u, v))
        return label.text() if label is not None else None

    # -- level of detail, highlight, look-up -----------------------------------------------------------------

    def set_layer2(self, edges: Iterable[Layer2Edge]) -> None:
        """Draw the layer-2 overlay's `edges` in place of those drawn (none: take it off); an edge with an end
        not laid out is skipped. Positions do not change: the overlay is never part of the layout."""
        self._layer2 = [e for e in edges if e.ends[0] in self.positions and e.ends[1] in self.positions]
        self._draw_layer2()

    def layer2(self) -> list[Layer2Edge]:
        """Return the layer-2 edges drawn."""
        return list(self._layer2)

    def layer2_batches(self) -> list[QGraphicsPathItem]:
        """Return the scene items that draw the layer-2 edges (a few batches, however many edges)."""
        return list(self._layer2_batches)

    def layer2_at(self, point: QPointF, slack: float) -> Layer2Edge | None:
        """Return the layer-2 edge drawn nearest `point` within `slack` scene units, or None."""
        px, py = point.x(), point.y()
        best, best_d = None, slack
        for edge in self._layer2:
            (x1, y1), (x2, y2) = self.positions[edge.ends[0]], self.positions[edge.ends[1]]
            if not (min(x1, x2) - slack <= px <= max(x1, x2) + slack
                    and min(y1, y2) - slack <= py <= max(y1, y2) + slack):
                continue
            d = distance_to_segment(px, py, x1, y1, x2, y2)
            if d <= best_d:
                best, best_d = edge, d
        return best

    def set_zoom(self, scale: float) -> None:
        """Show each label layer only from its zoom threshold up, and below SIMPLE_SCALE draw nodes as plain
        boxes and hide the stubs towards hubs (a no-op when nothing changes)."""
        simple = scale < SIMPLE_SCALE
        if simple != self._simple:
            self._simple = simple
            for item in self._node_batches:
                item.setVisible(item.data(0) == simple)
            for item in self._stub_batches:
                item.setVisible(not simple)
        for name, threshold in (("hosts", HOST_LABEL_SCALE), ("detail", DETAIL_LABEL_SCALE),
                                ("edges", EDGE_LABEL_SCALE)):
            visible = scale >= threshold
            if self.layers[name].isVisible() != visible:
                self.layers[name].setVisible(visible)

    def set_highlight(self, selected: Hashable | None, depends_on: set, dependents: set) -> None:
        """Draw `selected` ringed, the edges towards what it depends on and from what depends on it in their
        colours, and dim every other node and edge; no selection restores the plain picture."""
        for item in self._highlight:
            self.scene.removeItem(item)
            self._items.remove(item)
        self._highlight = []
        self._selected = selected if selected in self.positions else None
        if self._layer2:
            self._draw_layer2()
        if selected is None or selected not in self.positions:
            self._add_nodes(dimmed=set())
            self._dim_labels(set())
            self._dim_edge_labels(None)
            for item in self._edge_batches + self._stub_batches:
                item.setPen(cosmetic_pen(item.data(1)))
            return
        lit = {selected} | depends_on | dependents
        dimmed = {n for n in self.graph if n not in lit}
        self._add_nodes(dimmed=dimmed)
        self._dim_labels(dimmed)
        for item in self._edge_batches + self._stub_batches:  # a pale pen: translucent lines are slow
            item.setPen(cosmetic_pen(DIM_EDGE_COLOUR))
        down = {selected} | depends_on
        up = {selected} | dependents
        self._dim_edge_labels({(u, v) for members in (down, up) for u in members for v in self.graph.succ[u]
                               if v in members})
        for members, colour in ((down, DEPENDS_ON_COLOUR), (up, DEPENDENTS_COLOUR)):
            edges = [(u, v) for u in members for v in self.graph.succ[u] if v in members and u != v]
            if edges:
                few = len(edges) <= ARROW_LIMIT
                pen = cosmetic_pen(colour, 2.0 if few else 1.0)  # wider lines are much slower
                item = self._batch(self._edge_path(edges, few, stubs=not few), pen, None, Z_EDGES_HIGHLIGHT)
                self._highlight.append(item)
        self._highlight.extend(self._selection_marks(selected, dependents))

    def _dim_labels(self, dimmed: set) -> None:
        """Fade the labels of `dimmed` nodes as their shapes are faded; the others at full strength."""
        for node, label in self._labels.items():
            label.setOpacity(DIM_OPACITY if node in dimmed else 1.0)

    def _dim_edge_labels(self, lit: set | None) -> None:
        """Fade the labels of edges not in `lit` (None: none faded)."""
        for edge, label in self._edge_labels.items():
            label.setOpacity(1.0 if lit is None or edge in lit else DIM_OPACITY)

    def label_opacity(self, node: Hashable) -> float | None:
        """Return the opacity of a node's label (None if it has none)."""
        label = self._labels.get(node)
        return label.opacity() if label is not None else None

    def _selection_marks(self, selected: Hashable, dependents: Iterable[Hashable] = ()) -> list[QGraphicsItem]:
        """Return a ring round the selected node, an outline round each of its dependents, and the selected
        node's name beside it (right of the legacy badge, not over it), drawn the same size at any zoom."""
        outlines = QPainterPath()
        for node in dependents:
            if node in self.positions:
                nx_, ny_ = self.positions[node]
                nw, nh = SIZES.get(self.graph.nodes[node]["kind"], SIZES["host"])
                outlines.addRoundedRect(QRectF(nx_ - nw - 3, ny_ - nh - 3, 2 * nw + 6, 2 * nh + 6), 6, 6)
        marks = []
        if not outlines.isEmpty():
            marks.append(self._batch(outlines, cosmetic_pen(DEPENDENTS_COLOUR, 2.5), None, Z_RING))
        x, y = self.positions[selected]
        w, h = SIZES.get(self.graph.nodes[selected]["kind"], SIZES["host"])
        ring = QPainterPath()
        ring.addRoundedRect(QRectF(x - w - 5, y - h - 5, 2 * w + 10, 2 * h + 10), 8, 8)
        marks.append(self._batch(ring, cosmetic_pen(SELECTED_COLOUR, 3.0), None, Z_RING))
        label = QGraphicsSimpleTextItem(str(self.graph.nodes[selected]["label"]))
        font = QFont()
        font.setBold(True)
        label.setFont(font)
        label.setBrush(QBrush(QColor("#111111")))
        label.setFlag(QGraphicsItem.ItemIgnoresTransformations, True)  # one item: cheap
        label.setPos(x + w + 9, y - h + 6)  # below and right of the badge at the top-right corner
        marks.append(self._keep(label, Z_LABELS + 1))
        return marks

    def node_at(self, point: QPointF, slack: float = 4.0) -> Hashable | None:
        """Return the node whose shape (plus `slack` scene units) holds `point`, the nearest if several."""
        cx, cy = int(point.x() // CELL), int(point.y() // CELL)
        best, best_d = None, math.inf
        for ox in (-1, 0, 1):
            for oy in (-1, 0, 1):
                for node in self._grid.get((cx + ox, cy + oy), ()):
                    x, y = self.positions[node]
                    w, h = SIZES.get(self.graph.nodes[node]["kind"], SIZES["host"])
                    dx, dy = abs(point.x() - x), abs(point.y() - y)
                    if dx <= w + slack and dy <= h + slack and dx + dy < best_d:
                        best, best_d = node, dx + dy
        return best

    def edge_at(self, point: QPointF, slack: float) -> tuple[Hashable, Hashable] | None:
        """Return the dependency edge (u, v) drawn nearest `point` within `slack` scene units, or None (edges
        at a hub are drawn as stubs and not looked up)."""
        px, py = point.x(), point.y()
        best, best_d = None, slack
        for u, v in self.graph.edges():
            if u == v or (u in self.hubs) != (v in self.hubs):
                continue
            points = [self._edge_point(u, v, i / 8) for i in range(9)] if (u, v) in self._bends else [
                self.positions[u], self.positions[v]]
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            if not (min(xs) - slack <= px <= max(xs) + slack and min(ys) - slack <= py <= max(ys) + slack):
                continue
            d = min(distance_to_segment(px, py, *a, *b) for a, b in zip(points, points[1:]))
            if d <= best_d:
                best, best_d = (u, v), d
        return best

    def is_bent(self, u: Hashable, v: Hashable) -> bool:
        """Return True when edge u → v is drawn as a curve round a node its straight line would cross."""
        return (u, v) in self._bends

    def bounding_rect(self) -> QRectF:
        """Return the rectangle every node lies in, with a margin."""
        if not self.positions:
            return QRectF()
        xs = [p[0] for p in self.positions.values()]
        ys = [p[1] for p in self.positions.values()]
        return QRectF(min(xs) - 60, min(ys) - 40, max(xs) - min(xs) + 120, max(ys) - min(ys) + 80)

    def remove(self) -> None:
        """Take every item off the scene."""
        for item in self._items:
            if item.parentItem() is None and item.scene() is self.scene:
                self.scene.removeItem(item)
        self._items.clear()
        self._labels.clear()
        self._edge_labels.clear()
        self._layer2_batches.clear()
