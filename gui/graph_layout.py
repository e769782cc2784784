"""Where the graph's nodes go: a layered left-to-right dependency layout and a force-directed one.

Plain Python (networkx for the condensation, no numpy or scipy, no Qt), so a layout runs on a worker thread
and is unit-testable. Both take the nodes and the edges as plain sequences, ``(u, v)`` meaning *u depends on
v* (client → server), and return ``{node: (x, y)}`` in scene units.

- **layered**: each weakly connected component alone; layers by the longest path over the SCC condensation
  (a node that nothing depends on is a pure client and goes in layer 0, on the left; a server sits one layer
  right of its furthest client), then the order inside each layer by barycentre sweeps; a layer taller than
  √(nodes · dx/dy) wraps into several columns (a roughly square picture). O(nodes + edges) per sweep.
- **force**: Fruchterman–Reingold per component, seeded; repulsion from the nodes of the neighbouring grid
  cells only (the grid variant of the original paper), and an iteration count that shrinks as the graph
  grows so that thousands of nodes still lay out in seconds; then, in a graph of at most SEPARATE_LIMIT
  nodes, the label boxes that overlap are pushed apart (`separate_labels`).

Room for labels: `widths` (scene units per node, label included) widens the layered layout's columns to the
widest label of the component, and the nodes that depend on nothing and on which nothing depends are set out
together in one grid, packed near-square, its cells as wide as their widest label (not one long row each).
Components are then packed on shelves, largest first, into a roughly square picture, each box wide enough
for the labels hanging over its edges. Edges at a hub (a node
with more than `hub_degree(n)` neighbours: DNS, NTP, directory, monitoring, backup in a large estate) are left
out of the layout: they would pull every system into one knot, and without them systems fall apart into
small components that lay out compactly (the GUI draws those edges as stubs pointing at the hub).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Sequence

import networkx as nx

LAYOUTS = ("layered", "force")
SPACING_X = 160.0         # between layers (scene units)
SPACING_Y = 44.0          # between nodes of a layer
COMPONENT_GAP = 80.0
FORCE_DISTANCE = 70.0     # the ideal edge length of the force layout
FORCE_WORK = 1_500_000    # node visits + edge visits the force layout may spend, in all
BARYCENTRE_SWEEPS = 2
GRID_ASPECT = 1.6         # width : height of the grid of unconnected nodes
LABEL_BOX_HEIGHT = 40.0   # a node with its label under it, top to bottom (scene units)
SEPARATE_LIMIT = 2000     # the force layout's labels are pushed apart only in a graph of at most this many nodes
SEPARATE_ROUNDS = 40
MAX_NEIGHBOURS = 40       # the force layout's repulsion looks at no more nodes than this per node

Positions = dict[Hashable, tuple[float, float]]


class LayoutCancelled(Exception):
    """A newer layout was asked for; this one stopped early."""


def hub_degree(nodes: int) -> int:
    """Return the degree above which a node counts as a hub in a graph of `nodes` nodes (at least 50)."""
    return max(50, int(2 * math.sqrt(nodes)))


def find_hubs(D: nx.DiGraph) -> set[Hashable]:
    """Return the nodes of D with more than hub_degree(len(D)) neighbours (in and out together)."""
    limit = hub_degree(len(D))
    return {n for n in D if len(D.pred[n]) + len(D.succ[n]) > limit}


def compute_layout(method: str, nodes: Sequence[Hashable], edges: Sequence[tuple[Hashable, Hashable]], *,
                   seed: int = 0, should_stop: Callable[[], bool] | None = None,
                   widths: dict[Hashable, float] | None = None) -> Positions:
    """Return every node's position by `method` ("layered" or "force"), leaving each node `widths[node]`
    scene units of room for its label (default: none beyond the spacing).

    Raises ValueError for an unknown method, LayoutCancelled when `should_stop()` turns true.
    """
    if method not in LAYOUTS:
        raise ValueError(f"unknown layout {method!r}: expected one of {', '.join(LAYOUTS)}")
    should_stop = should_stop or (lambda: False)
    D = nx.DiGraph()
    D.add_nodes_from(nodes)
    D.add_edges_from((u, v) for u, v in edges if u != v)
    hubs = find_hubs(D)
    D.remove_edges_from([(u, v) for u, v in D.edges() if u in hubs or v in hubs])
    widths = widths or {}
    layer_of = longest_path_layers(D) if method == "layered" else {}
    order = {n: i for i, n in enumerate(D)}
    parts = []
    loners = [n for n in D if not D.pred[n] and not D.succ[n]]
    for component in sorted(nx.weakly_connected_components(D), key=len, reverse=True):
        if should_stop():
            raise LayoutCancelled
        if len(component) == 1 and len(loners) > 1:
            continue  # set out together below
        members = sorted(component, key=order.__getitem__)
        if method == "layered":
            dx = max([SPACING_X] + [widths.get(n, 0.0) for n in members])
            parts.append(layered_positions(D, members, layer_of, dx=dx))
        else:
            placed = force_positions(D, members, seed=seed, work=FORCE_WORK * len(members) / max(len(D), 1),
                                     should_stop=should_stop)
            parts.append(separate_labels(placed, widths) if widths and len(D) <= SEPARATE_LIMIT else placed)
    if len(loners) > 1:
        parts.append(grid_positions(loners, widths))
    return pack_components(parts, widths=widths)


def grid_positions(nodes: Sequence[Hashable], widths: dict[Hashable, float], *, dy: float = SPACING_Y
                   ) -> Positions:
    """Return the `nodes` in a grid near-square (GRID_ASPECT: a little wider than tall, as screens are), in
    their order, row by row; each cell as wide as the widest label (at least half SPACING_X)."""
    dx = max([SPACING_X / 2] + [widths.get(n, 0.0) for n in nodes])
    columns = max(1, round(math.sqrt(len(nodes) * dy * GRID_ASPECT / dx)))
    return {n: ((i % columns) * dx, (i // columns) * dy) for i, n in enumerate(nodes)}


# -- layered -------------------------------------------------------------------------------------------------

def longest_path_layers(D: nx.DiGraph) -> dict[Hashable, int]:
    """Return each node's layer: 0 for a node nothing depends on, else 1 + the layer of its furthest client;
    the nodes of a cycle share a layer."""
    C = nx.condensation(D)
    member_of = C.graph["mapping"]
    layer_of_scc: dict[int, int] = {}
    for c in nx.topological_sort(C):
        layer_of_scc[c] = max((layer_of_scc[p] + 1 for p in C.pred[c]), default=0)
    return {n: layer_of_scc[member_of[n]] for n in D}


def layered_positions(D: nx.DiGraph, members: list[Hashable], layer_of: dict[Hashable, int], *,
                      dx: float = SPACING_X, dy: float = SPACING_Y) -> Positions:
    """Return positions for the `members` of one weakly connected component of D (in D's order): layers
    (from longest_path_layers) left to right, each ordered by barycentre sweeps."""
    first = min(layer_of[n] for n in members)
    layers: list[list[Hashable]] = [[] for _ in range(max(layer_of[n] for n in members) - first + 1)]
    for n in members:  # input order first: deterministic
        layers[layer_of[n] - first].append(n)
    order_layers(D, layers)
    max_rows = max(8, int(math.sqrt(len(members) * dx / dy)))  # wrap tall layers: a roughly square picture
    positions: Positions = {}
    column = 0
    tallest = min(max((len(layer) for layer in layers), default=1), max_rows)
    for layer in layers:
        columns = max(1, math.ceil(len(layer) / max_rows))
        rows = math.ceil(len(layer) / columns)
        top = (tallest - rows) * dy / 2
        for i, n in enumerate(layer):
            sub, row = divmod(i, rows)
            positions[n] = ((column + sub) * dx, top + row * dy)
        column += columns
    return positions


def order_layers(D: nx.DiGraph, layers: list[list[Hashable]], sweeps: int = BARYCENTRE_SWEEPS) -> None:
    """Reorder each layer in place by the mean rank of its neighbours in the layers already placed: a sweep
    left to right by clients, then right to left by servers (fewer crossings, in O(edges) per sweep)."""
    rank: dict[Hashable, float] = {}
    for layer in layers:
        for i, n in enumerate(layer):
            rank[n] = i
    for _ in range(sweeps):
        for ordered, neighbours in ((layers[1:], D.pred), (layers[-2::-1], D.succ)):
            for layer in ordered:
                _sort_by_barycentre(layer, neighbours, rank)


def _sort_by_barycentre(layer: list[Hashable], neighbours, rank: dict[Hashable, float]) -> None:
    keys = {}
    for n in layer:
        linked = neighbours[n]
        keys[n] = sum(rank[m] for m in linked) / len(linked) if linked else rank[n]
    layer.sort(key=keys.__getitem__)
    for i, n in enumerate(layer):
        rank[n] = i


# -- force-directed ------------------------------------------------------------------------------------------

def force_iterations(nodes: int, edges: int, work: float = FORCE_WORK) -> int:
    """Return how many iterations a graph of this size gets: 150 for small graphs, down to 8 for huge ones."""
    per_iteration = 12 * nodes + edges  # the grid visits about a dozen neighbours per node
    return max(8, min(150, int(work / max(per_iteration, 1))))


def force_positions(D: nx.DiGraph, members: list[Hashable], *, seed: int = 0, work: float = FORCE_WORK,
                    k: float = FORCE_DISTANCE, should_stop: Callable[[], bool] = lambda: False) -> Positions:
    """Return Fruchterman–Reingold positions for the `members` of one weakly connected component of D
    (seeded; grid-limited repulsion). Raises LayoutCancelled when `should_stop()` turns true."""
    nodes = members
    n = len(nodes)
    if n == 1:
        return {nodes[0]: (0.0, 0.0)}
    index = {v: i for i, v in enumerate(nodes)}
    edges = [(index[u], index[v]) for u in nodes for v in D.succ[u] if u != v]
    degree = [0] * n
    for i, j in edges:
        degree[i] += 1
        degree[j] += 1
    weight = [1 / math.sqrt(max(d, 1)) for d in degree]
    rng = random.Random(seed)
    side = k * math.sqrt(n)
    xs = [rng.uniform(0, side) for _ in range(n)]
    ys = [rng.uniform(0, side) for _ in range(n)]
    iterations = force_iterations(n, len(edges), work)
    temperature = side / 8
    for step in range(iterations):
        if should_stop():
            raise LayoutCancelled
        fx, fy = _repulsion(xs, ys, k)
        _attraction(xs, ys, fx, fy, edges, k, weight)
        _gravity(xs, ys, fx, fy, k)
        t = temperature * (1 - step / iterations) + k / 20
        for i in range(n):
            length = math.hypot(fx[i], fy[i])
            if length > 0:
                scale = min(length, t) / length
                xs[i] += fx[i] * scale
                ys[i] += fy[i] * scale
    return _spread({v: (xs[i], ys[i]) for i, v in enumerate(nodes)}, k * math.sqrt(n))


def _spread(positions: Positions, side: float) -> Positions:
    """Return the positions scaled about their centre so that the larger side of their box is at least `side`
    (few iterations leave a large graph huddled round its hubs)."""
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    extent = max(max(xs) - min(xs), max(ys) - min(ys))
    if extent <= 0 or extent >= side:
        return positions
    factor = side / extent
    cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
    return {v: ((x - cx) * factor, (y - cy) * factor) for v, (x, y) in positions.items()}


def _repulsion(xs: list[float], ys: list[float], k: float) -> tuple[list[float], list[float]]:
    """Return the repulsive forces k²/d between nodes closer than 2k (found through a grid of 2k cells; at
    most MAX_NEIGHBOURS of them per node)."""
    n = len(xs)
    fx, fy = [0.0] * n, [0.0] * n
    cell = 2 * k
    grid: dict[tuple[int, int], list[int]] = {}
    for i in range(n):
        grid.setdefault((int(xs[i] // cell), int(ys[i] // cell)), []).append(i)
    k2, reach2 = k * k, cell * cell
    for (cx, cy), members in grid.items():
        near = []
        for ox in (-1, 0, 1):
            for oy in (-1, 0, 1):
                near.extend(grid.get((cx + ox, cy + oy), ()))
        near = near[:MAX_NEIGHBOURS]  # a crowded spot costs no more than a sparse one
        for i in members:
            xi, yi = xs[i], ys[i]
            ax = ay = 0.0
            for j in near:
                if j == i:
                    continue
                ddx, ddy = xi - xs[j], yi - ys[j]
                d2 = ddx * ddx + ddy * ddy
                if d2 >= reach2:
                    continue
                if d2 < 1e-6:
                    ddx, ddy, d2 = (i - j) * 0.01, 0.01, 1e-4 + ((i - j) * 0.01) ** 2
                force = k2 / d2
                ax += ddx * force
                ay += ddy * force
            fx[i], fy[i] = ax, ay
    return fx, fy


def _attraction(xs, ys, fx, fy, edges, k, weight) -> None:
    """Add the attractive forces d²/k along every edge to fx, fy, each end's share divided by the square root
    of its degree (a hub does not drag everything into one knot, nor is it dragged around by its clients)."""
    for i, j in edges:
        ddx, ddy = xs[i] - xs[j], ys[i] - ys[j]
        d = math.hypot(ddx, ddy)
        if d == 0:
            continue
        pull = d / k
        pull_i, pull_j = pull * weight[i], pull * weight[j]
        fx[i] -= ddx * pull_i
        fy[i] -= ddy * pull_i
        fx[j] += ddx * pull_j
        fy[j] += ddy * pull_j


def _gravity(xs, ys, fx, fy, k) -> None:
    """Add a weak pull towards the centroid to fx, fy, so loosely tied nodes do not drift away."""
    n = len(xs)
    cx, cy = sum(xs) / n, sum(ys) / n
    strength = 0.05 * k / math.sqrt(n)
    for i in range(n):
        fx[i] -= (xs[i] - cx) * strength
        fy[i] -= (ys[i] - cy) * strength


def separate_labels(positions: Positions, widths: dict[Hashable, float], height: float = LABEL_BOX_HEIGHT,
                    rounds: int = SEPARATE_ROUNDS) -> Positions:
    """Return the positions with overlapping label boxes (`widths` wide, `height` tall, centred on their
    nodes) pushed apart along the axis where they overlap least, a few rounds (a force layout spaces nodes,
    not their labels). Pairs are found through a grid, so a round costs about O(nodes)."""
    pos = {n: list(p) for n, p in positions.items()}
    rank = {n: i for i, n in enumerate(pos)}
    cell = max([height] + [widths.get(n, 0.0) for n in pos])
    for _ in range(rounds):
        grid: dict[tuple[int, int], list[Hashable]] = {}
        for n, (x, y) in pos.items():
            grid.setdefault((int(x // cell), int(y // cell)), []).append(n)
        moved = False
        for (cx, cy), members in grid.items():
            near = [m for ox in (-1, 0, 1) for oy in (-1, 0, 1) for m in grid.get((cx + ox, cy + oy), ())]
            for a in members:
                for b in near:
                    if rank[a] >= rank[b]:
                        continue  # each pair once
                    (xa, ya), (xb, yb) = pos[a], pos[b]
                    over_x = (widths.get(a, 0.0) + widths.get(b, 0.0)) / 2 - abs(xa - xb)
                    over_y = height - abs(ya - yb)
                    if over_x <= 0 or over_y <= 0:
                        continue
                    moved = True
                    if over_x < over_y:
                        push = (over_x / 2 + 0.5) * (1 if xa >= xb else -1)
                        pos[a][0] += push
                        pos[b][0] -= push
                    else:
                        push = (over_y / 2 + 0.5) * (1 if ya >= yb else -1)
                        pos[a][1] += push
                        pos[b][1] -= push
        if not moved:
            break
    return {n: (x, y) for n, (x, y) in pos.items()}


# -- moving between nodes ------------------------------------------------------------------------------------

def nearest_in_direction(positions: Positions, start: Hashable, candidates, dx: int, dy: int) -> Hashable | None:
    """Return the candidate lying most nearly in direction (dx, dy) from `start` (nearest, and nearest the
    axis: a node far off it costs more), or None when none lies that way."""
    (x0, y0), best, best_cost = positions[start], None, math.inf
    for n in candidates:
        if n == start or n not in positions:
            continue
        vx, vy = positions[n][0] - x0, positions[n][1] - y0
        along = vx * dx + vy * dy
        if along <= 0:
            continue
        cost = math.hypot(vx, vy) * (1 + abs(vx * dy - vy * dx) / along)
        if cost < best_cost:
            best, best_cost = n, cost
    return best


# -- packing -------------------------------------------------------------------------------------------------

def pack_components(parts: list[Positions], gap: float = COMPONENT_GAP,
                    widths: dict[Hashable, float] | None = None) -> Positions:
    """Return the parts' positions shifted onto shelves (rows), largest first, into a roughly square picture;
    a part's box reaches as far as the labels (`widths`, centred on their nodes) hanging over its edges."""
    widths = widths or {}
    boxes = []
    for part in parts:
        left = min(p[0] - widths.get(n, 0.0) / 2 for n, p in part.items())
        right = max(p[0] + widths.get(n, 0.0) / 2 for n, p in part.items())
        ys = [p[1] for p in part.values()]
        boxes.append((left, min(ys), right - left + gap, max(ys) - min(ys) + gap))
    area = sum(w * h for _, _, w, h in boxes)
    row_width = max(math.sqrt(area) * 1.2, max((w for _, _, w, _ in boxes), default=0))
    positions: Positions = {}
    x = y = shelf = 0.0
    for part, (left, top, w, h) in zip(parts, boxes):
        if x > 0 and x + w > row_width:
            x, y, shelf = 0.0, y + shelf, 0.0
        for node, (px, py) in part.items():
            positions[node] = (px - left + x, py - top + y)
        x += w
        shelf = max(shelf, h)
    return positions
