"""What a host's failure would affect, in words, for the graph's blast-radius line. Plain functions (no Qt).

The figures are the analysis's: the host graph is discovery.analyses.graph.host_graph, shared infrastructure
the analysis's list, and the count follows discovery.analyses.analysis.blast_radius_sizes — hosts only
(externals neither counted nor passed through), a shared host counted but passing nothing on, its own radius
in full. The whole estate is counted, whatever the graph's filters hide.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from discovery.analyses.graph import host_graph
from gui.data import Snapshot

NAMES_SHOWN = 6   # the line names at most this many dependents


@dataclass(frozen=True, slots=True)
class Impact:
    """A host's dependents: `direct` (host ids using it), `total` (every host affected, transitively)."""
    host_id: str
    direct: frozenset[str]
    total: frozenset[str]


def analysis_shared_hosts(snapshot: Snapshot) -> set[str]:
    """Return the hosts the analysis took for shared infrastructure (none before analyze ran)."""
    shared = (snapshot.inventory.get("analysis") or {}).get("shared") or ()
    return {s["id"] for s in shared if s.get("kind") == "host"}


def build_host_graph(snapshot: Snapshot) -> nx.DiGraph:
    """Return the analysis's host graph of the snapshot (client → server)."""
    return host_graph(snapshot.graph)


def host_impact(H: nx.DiGraph, host_id: str, stop_at: set[str]) -> Impact | None:
    """Return what depends on `host_id` (None when it is not a host of H)."""
    if host_id not in H or H.nodes[host_id]["kind"] != "host":
        return None
    kinds = H.nodes(data="kind")
    direct = frozenset(u for u in H.pred[host_id] if kinds[u] == "host" and u != host_id)
    seen, todo = {host_id}, [host_id]
    while todo:
        x = todo.pop()
        if x != host_id and x in stop_at:
            continue
        for u in H.pred[x]:
            if kinds[u] == "host" and u not in seen:
                seen.add(u)
                todo.append(u)
    seen.discard(host_id)
    return Impact(host_id=host_id, direct=direct, total=frozenset(seen))


def describe_impact(impact: Impact, label_of) -> str:
    """Return "db: 1 host depends on it directly, 1 in total (ehr-app)"; `label_of(host_id)` names a host."""
    def hosts(n: int) -> str:
        return f"{n} host{'s' if n != 1 else ''}"
    name = label_of(impact.host_id)
    if not impact.total:
        return f"{name}: no host depends on it"
    verb = "depends" if len(impact.direct) == 1 else "depend"
    names = sorted(label_of(h) for h in impact.total)
    shown = ", ".join(names[:NAMES_SHOWN]) + (f", … {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN
                                              else "")
    return f"{name}: {hosts(len(impact.direct))} {verb} on it directly, {len(impact.total)} in total ({shown})"
