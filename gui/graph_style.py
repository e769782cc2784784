"""How the graph looks: node sizes and shapes, the colours (risk scale, little evidence, highlight, badges,
layer-2 cables) and pens, and the geometry of arrowheads and stubs. No items: gui.graph_items draws with these.

The highlight colours are off the green → amber → red risk scale: blue for what the selection depends on,
purple for its dependents (outlined), near-black for the selection ring; a host with little evidence is pale
grey and hatched, never a colour of the scale.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen, QPolygonF

STUB = 28.0                # length of an edge drawn as a stub towards a hub

# The kinds of node a collapse merges hosts into (gui.graph_model.COLLAPSES), drawn as wide host boxes, and
# every kind drawn as a box coloured by risk.
BUCKET_KINDS = ("subnet", "group", "cluster")
BOX_KINDS = ("host", *BUCKET_KINDS)
# (half width, half height) per kind, in scene units
SIZES = {"host": (18.0, 11.0), "service": (9.0, 9.0), "database": (10.0, 11.0), "process": (10.0, 10.0),
         "external": (11.0, 10.0), **{kind: (32.0, 17.0) for kind in BUCKET_KINDS}}
KIND_COLOURS = {"service": "#8ec5f2", "database": "#c79be0", "process": "#b8c4cc", "external": "#f2f2f2"}
NO_RISK_COLOUR = "#9aa5ad"
UNKNOWN_COLOUR = "#cfd5da"      # a host with little evidence: pale grey ...
UNKNOWN_HATCH_COLOUR = "#7f8b94"  # ... hatched
RISK_STOPS = ((0.0, (76, 175, 80)), (50.0, (255, 179, 0)), (100.0, (229, 57, 53)))
DEPENDS_ON_COLOUR = "#1e78d2"   # what the selected node depends on (downstream)
DEPENDENTS_COLOUR = "#8e24aa"   # what depends on it (upstream: its blast radius): purple, off the risk scale
SELECTED_COLOUR = "#212121"
EDGE_COLOUR = "#8d99a3"
SHARED_EDGE_COLOUR = "#d3dade"
DIM_EDGE_COLOUR = "#eef1f3"
LEGACY_COLOUR = "#c62828"
HEALTHCARE_COLOUR = "#00897b"
L2_EDGE_COLOUR = "#795548"      # layer-2 cables: a brown no risk, highlight or dependency colour uses
DIM_L2_EDGE_COLOUR = "#e2d8d4"  # the other cables while a node is selected (a pale pen: translucency is slow)
L2_EDGE_WIDTH = 1.5


def risk_colour(risk: float | None) -> str:
    """Return the fill colour (#rrggbb) for a risk score from 0 (green) through 50 (amber) to 100 (red),
    in steps of 10; grey for no score."""
    if risk is None:
        return NO_RISK_COLOUR
    risk = min(100.0, max(0.0, round(float(risk) / 10) * 10))
    for (a, ca), (b, cb) in zip(RISK_STOPS, RISK_STOPS[1:]):
        if risk <= b:
            t = (risk - a) / (b - a)
            return "#%02x%02x%02x" % tuple(round(x + (y - x) * t) for x, y in zip(ca, cb))
    return NO_RISK_COLOUR


def fill_colour(data: dict) -> str:
    """Return a node's fill colour: by risk for hosts, subnets, groups and clusters (UNKNOWN_COLOUR for little
    evidence), by kind for the rest."""
    if data["kind"] in BOX_KINDS:
        return UNKNOWN_COLOUR if data.get("unknown") else risk_colour(data.get("risk"))
    return KIND_COLOURS.get(data["kind"], NO_RISK_COLOUR)


def add_shape(path: QPainterPath, kind: str, x: float, y: float) -> None:
    """Add the shape of a node of `kind` centred on (x, y) to `path`: a rounded box for a host, a circle for
    a service, a cylinder for a database, a diamond for a process, a triangle for an external peer, a wide
    box for a subnet, group or cluster."""
    w, h = SIZES.get(kind, SIZES["host"])
    if kind in BOX_KINDS:
        path.addRoundedRect(QRectF(x - w, y - h, 2 * w, 2 * h), 5, 5)
    elif kind == "service":
        path.addEllipse(QPointF(x, y), w, h)
    elif kind == "database":
        path.addRect(QRectF(x - w, y - h + 3, 2 * w, 2 * h - 6))
        path.addEllipse(QRectF(x - w, y - h, 2 * w, 6))
        path.addEllipse(QRectF(x - w, y + h - 6, 2 * w, 6))
    elif kind == "process":
        path.addPolygon(QPolygonF([QPointF(x, y - h), QPointF(x + w, y), QPointF(x, y + h), QPointF(x - w, y)]))
        path.closeSubpath()
    else:
        path.addPolygon(QPolygonF([QPointF(x, y - h), QPointF(x + w, y + h), QPointF(x - w, y + h)]))
        path.closeSubpath()


def cosmetic_pen(colour: str, width: float = 1.0) -> QPen:
    """Return a pen `width` pixels wide whatever the zoom."""
    pen = QPen(QColor(colour), width)
    pen.setCosmetic(True)
    return pen


def cable_pen(colour: str) -> QPen:
    """Return the dashed pen of the layer-2 overlay: a dash pattern no dependency edge has, at any zoom."""
    pen = cosmetic_pen(colour, L2_EDGE_WIDTH)
    pen.setStyle(Qt.DashLine)
    return pen


def add_arrowhead(path: QPainterPath, x1: float, y1: float, x2: float, y2: float,
                   size: tuple[float, float], length: float = 7.0) -> None:
    """Add a small open arrowhead to `path`, on the edge from (x1, y1) where it meets the target's box."""
    dx, dy = x2 - x1, y2 - y1
    d = math.hypot(dx, dy)
    if d < 1e-6:
        return
    ux, uy = dx / d, dy / d
    w, h = size
    back = min(w / abs(ux) if ux else math.inf, h / abs(uy) if uy else math.inf)
    tx, ty = x2 - ux * back, y2 - uy * back
    for side in (1, -1):
        path.moveTo(tx, ty)
        path.lineTo(tx - length * ux + side * length * 0.5 * uy, ty - length * uy - side * length * 0.5 * ux)


def add_stub(path: QPainterPath, x1: float, y1: float, x2: float, y2: float, *, towards_end: bool) -> None:
    """Add a STUB-long line from the non-hub end of an edge towards the hub at the other end."""
    dx, dy = x2 - x1, y2 - y1
    d = math.hypot(dx, dy)
    if d < 1e-6:
        return
    ux, uy = dx / d * STUB, dy / d * STUB
    if towards_end:
        path.moveTo(x1, y1)
        path.lineTo(x1 + ux, y1 + uy)
    else:
        path.moveTo(x2, y2)
        path.lineTo(x2 - ux, y2 - uy)


def distance_to_segment(px: float, py: float, x1: float, y1: float, x2: float, y2: float) -> float:
    """Return the distance from (px, py) to the segment (x1, y1)–(x2, y2)."""
    dx, dy = x2 - x1, y2 - y1
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 < 1e-12 else max(0.0, min(1.0, ((px - x1) * dx + (py - y1) * dy) / length2))
    return math.hypot(px - (x1 + t * dx), py - (y1 + t * dy))
