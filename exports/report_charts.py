"""The assessment report's charts as geometry: plain dicts of boxes, lines and labels that its template draws
as inline SVG. Pure functions of numbers and names; no markup is written here, so every label reaches the page
through the template engine's escaping.
"""

from __future__ import annotations

from collections import defaultdict

LABEL_CHARS = 28          # a label longer than this is cut, with an ellipsis
BAR_HEIGHT, BAR_GAP = 22, 6
MAP_MAX_NODES = 40        # the clinical map draws at most this many hosts
MAP_BOX_W, MAP_BOX_H, MAP_ROW, MAP_COLUMN = 170, 26, 44, 260
WAVE_COLUMN, WAVE_BOX_H, WAVE_MAX_GROUPS = 190, 30, 8


def clip(text, limit: int = LABEL_CHARS) -> str:
    """Return `text` as a label of at most `limit` characters ("…" marks a cut); "" for None."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def bar_chart(items: list[tuple[str, int, str]], *, width: int = 640, label_width: int = 170) -> dict:
    """Return a horizontal bar chart of (label, value, colour) items: each bar's box, its label and value."""
    top = max((value for _, value, _ in items), default=0) or 1
    room = width - label_width - 60
    bars = []
    for i, (label, value, colour) in enumerate(items):
        y = i * (BAR_HEIGHT + BAR_GAP)
        bars.append({"label": clip(label, 24), "title": label, "value": value, "colour": colour,
                     "x": label_width, "y": y, "w": max(1, round(room * value / top)) if value else 0,
                     "h": BAR_HEIGHT, "text_y": y + BAR_HEIGHT * 0.7})
    height = max(1, len(items)) * (BAR_HEIGHT + BAR_GAP)
    return {"width": width, "height": height, "label_width": label_width, "bars": bars}


def wave_timeline(waves: list[dict]) -> dict:
    """Return the wave plan as columns, one a wave in order, each with its group boxes (at most WAVE_MAX_GROUPS,
    then a "+N more" box). `waves` are {"wave", "label", "hosts", "groups": [{"name", "hosts"}]}."""
    columns = []
    for i, wave in enumerate(waves):
        groups = wave["groups"]
        shown = groups[:WAVE_MAX_GROUPS]
        boxes = [{"label": clip(g["name"], 22), "title": g["name"], "hosts": g["hosts"], "more": False,
                  "y": 52 + j * (WAVE_BOX_H + 6)} for j, g in enumerate(shown)]
        if len(groups) > len(shown):
            rest = groups[len(shown):]
            boxes.append({"label": f"+{len(rest)} more groups", "title": "", "more": True,
                          "hosts": sum(g["hosts"] for g in rest), "y": 52 + len(shown) * (WAVE_BOX_H + 6)})
        columns.append({"x": i * WAVE_COLUMN, "wave": wave["wave"], "label": wave.get("label") or f"Wave {wave['wave']}",
                        "hosts": wave["hosts"], "group_count": wave.get("group_count", len(groups)), "boxes": boxes})
    rows = max((len(c["boxes"]) for c in columns), default=0)
    return {"width": max(1, len(columns)) * WAVE_COLUMN, "height": 60 + rows * (WAVE_BOX_H + 6) + 10,
            "column_w": WAVE_COLUMN - 14, "box_h": WAVE_BOX_H, "columns": columns}


def layered_map(nodes: dict[str, dict], edges: list[dict], *, max_nodes: int = MAP_MAX_NODES) -> dict:
    """Return a left-to-right layered drawing of a directed graph: clients left of the services they use.

    `nodes`: id → {"label", "kind", "rank"} (a higher rank is kept first when the graph has more than
    `max_nodes` nodes); `edges`: {"source", "target", "label", "cleartext"}. Cycles are broken by ignoring the
    edges that close them. The result says how many nodes were left out (`cut`)."""
    kept = sorted(nodes, key=lambda n: (-nodes[n].get("rank", 0), nodes[n]["label"], n))[:max_nodes]
    keep = set(kept)
    edges = [e for e in edges if e["source"] in keep and e["target"] in keep and e["source"] != e["target"]]
    successors = defaultdict(list)
    for e in edges:
        successors[e["source"]].append(e["target"])
    layer = _longest_path_layers(sorted(keep), successors)
    columns: dict[int, list[str]] = defaultdict(list)
    for node in sorted(keep, key=lambda n: (nodes[n]["label"], n)):
        columns[layer[node]].append(node)
    position: dict[str, int] = {}
    for depth in sorted(columns):  # one barycentre sweep: a node sits near the clients that call it
        predecessors = defaultdict(list)
        for e in edges:
            if e["target"] in columns[depth] and e["source"] in position:
                predecessors[e["target"]].append(position[e["source"]])
        columns[depth].sort(key=lambda n: (sum(predecessors[n]) / len(predecessors[n]) if predecessors[n]
                                           else float("inf"), nodes[n]["label"], n))
        position.update({n: i for i, n in enumerate(columns[depth])})
    tallest = max((len(c) for c in columns.values()), default=0)
    placed = {}
    for depth, column in columns.items():
        offset = (tallest - len(column)) * MAP_ROW / 2  # shorter columns centred
        for i, node in enumerate(column):
            placed[node] = {"id": node, "label": clip(nodes[node]["label"], 24), "title": nodes[node]["label"],
                            "kind": nodes[node]["kind"], "x": 10 + depth * MAP_COLUMN,
                            "y": 10 + offset + i * MAP_ROW}
    lines = []
    for e in sorted(edges, key=lambda e: (e["cleartext"], e["source"], e["target"])):  # clear text drawn on top
        a, b = placed[e["source"]], placed[e["target"]]
        forward = b["x"] > a["x"]
        x1 = a["x"] + MAP_BOX_W if forward else a["x"]
        x2 = b["x"] if forward else b["x"] + MAP_BOX_W
        y1, y2 = a["y"] + MAP_BOX_H / 2, b["y"] + MAP_BOX_H / 2
        bend = max(40, abs(x2 - x1) / 2) * (1 if forward else -1)
        lines.append({"path": f"M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}",
                      "label": clip(e["label"], 18), "cleartext": e["cleartext"],
                      "label_x": (x1 + x2) / 2, "label_y": (y1 + y2) / 2 - 3})
    width = 20 + (max(columns, default=0) + 1) * MAP_COLUMN - (MAP_COLUMN - MAP_BOX_W)
    return {"width": width, "height": 20 + max(1, tallest) * MAP_ROW, "box_w": MAP_BOX_W, "box_h": MAP_BOX_H,
            "nodes": list(placed.values()), "edges": lines, "total": len(nodes), "shown": len(keep),
            "cut": len(nodes) - len(keep)}


def _longest_path_layers(order: list[str], successors: dict[str, list[str]]) -> dict[str, int]:
    """Return each node's layer: the length of the longest path reaching it, edges closing a cycle ignored."""
    state: dict[str, int] = {}  # 1 on the DFS stack, 2 done
    topological: list[str] = []
    acyclic = defaultdict(list)
    for root in order:
        if root in state:
            continue
        stack = [(root, iter(successors[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                topological.append(node)
                stack.pop()
            elif state.get(child) == 1:
                continue  # a back edge: it closes a cycle
            else:
                acyclic[node].append(child)
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(successors[child])))
    layer = dict.fromkeys(order, 0)
    for node in reversed(topological):
        for child in acyclic[node]:
            layer[child] = max(layer[child], layer[node] + 1)
    return layer
