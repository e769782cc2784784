"""Graph exports: the dependency graph (discovery.analyses.graph.build_graph) as GraphML (yEd) and GEXF (Gephi).

Both formats hold only scalar attributes of a declared type, so every attribute is made one: lists and
tuples are joined with ", ", anything nested is compact JSON, None is left out, and each attribute name has
one type across the graph (string if its values mix text and numbers, double if they mix whole and
fractional numbers; booleans stay boolean). Control characters XML 1.0 cannot hold are replaced (also in
node ids). Node kinds: host, service, database, process, external; edge kinds: runs, serves, depends_on. Host nodes
carry `coverage_depth` (seen, ports, os, hardware, software, sockets) and, from scan vcenter, `hypervisor` (the
ESXi host a VM runs on) and `cluster` (a VM's or an ESXi host's); where a VM runs is an attribute, not an edge.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from discovery.analyses.graph import build_graph
from discovery.files.atomic_files import atomic_output
from exports.safe_cells import ILLEGAL_CHARACTERS_RE, REPLACEMENT, flatten

# Host fields added to host nodes: how deep each host is known (discovery.analyses.coverage) and where a VM runs
# (discovery.inventory.virtualization).
HOST_ATTRIBUTES = ("coverage_depth", "hypervisor", "cluster")


def _scalar(value):
    if isinstance(value, (bool, int, float)):
        return value
    text = flatten(value)
    return ILLEGAL_CHARACTERS_RE.sub(REPLACEMENT, text)


def _unify(items) -> dict[str, type]:
    """Return the one type each attribute gets: str if any value is text, else float if any is, else int,
    else bool."""
    seen: dict[str, set[type]] = {}
    for data in items:
        for name, value in data.items():
            seen.setdefault(name, set()).add(type(value))
    chosen = {}
    for name, types in seen.items():
        if types == {bool}:
            chosen[name] = bool
        elif str in types or not types <= {bool, int, float}:
            chosen[name] = str
        elif float in types:
            chosen[name] = float
        else:
            chosen[name] = int
    return chosen


def _coerce(data: dict, types: dict[str, type]) -> dict:
    out = {}
    for name, value in data.items():
        kind = types[name]
        if kind is str and isinstance(value, bool):
            value = "true" if value else "false"
        out[name] = kind(value)
    return out


def build_export_graph(inventory: dict) -> nx.MultiDiGraph:
    """Return the dependency graph with only scalar, consistently typed attributes, None values dropped."""
    G = build_graph(inventory)
    for host in inventory.get("hosts") or ():
        if host["id"] not in G:
            continue
        for name in HOST_ATTRIBUTES:
            if host.get(name) is not None:
                G.nodes[host["id"]][name] = host[name]
    nodes = {_scalar(n) if isinstance(n, str) else n: {k: _scalar(v) for k, v in d.items() if v is not None}
             for n, d in G.nodes(data=True)}
    rename = {n: (_scalar(n) if isinstance(n, str) else n) for n in G.nodes}
    edges = [(rename[u], rename[v], k, {a: _scalar(x) for a, x in d.items() if x is not None})
             for u, v, k, d in G.edges(keys=True, data=True)]
    node_types, edge_types = _unify(nodes.values()), _unify(d for *_, d in edges)
    H = nx.MultiDiGraph()
    H.add_nodes_from((n, _coerce(d, node_types)) for n, d in nodes.items())
    H.add_edges_from((u, v, _scalar(k), _coerce(d, edge_types)) for u, v, k, d in edges)
    return H


class GraphmlExporter:
    format = "graphml"

    def write(self, inventory: dict, path: Path) -> None:
        """Write the inventory's dependency graph to `path` as GraphML, atomically; raises EstateError if it cannot."""
        graph = build_export_graph(inventory)
        with atomic_output(path, "wb") as out:
            nx.write_graphml(graph, out, encoding="utf-8", prettyprint=True)


class GexfExporter:
    format = "gexf"

    def write(self, inventory: dict, path: Path) -> None:
        """Write the inventory's dependency graph to `path` as GEXF 1.2, atomically; raises EstateError if it cannot."""
        graph = build_export_graph(inventory)
        with atomic_output(path, "wb") as out:
            nx.write_gexf(graph, out, encoding="utf-8", prettyprint=True, version="1.2draft")
