"""Analyses of the dependency graph: fan-in/fan-out, blast radius, single points of failure, cycles, shared
infrastructure, move groups, waves and suggested splits. Pure functions on the graphs of discovery.analyses.graph, and
`analyze(inventory)` that runs them all and returns one JSON-serialisable AnalysisResult.

The rules, in one place:

- **Fan-in / fan-out** of a host: the distinct inventory hosts that depend on it / that it depends on (host
  graph, loopback left out); external peers are counted apart (``external_in`` / ``external_out``).
- **Shared infrastructure** is taken out of grouping. A *service* is shared when its category is
  infrastructure or directory (DNS, NTP, syslog, SNMP, LDAP, Kerberos...) and at least `min_shared_clients`
  (3) other hosts use it; its host is then shared too. A *host* is also shared when its fan-in, or its
  fan-out, is far above the rest: above ``max(outlier_floor, mean + outlier_sigmas · stdev)`` (10, 3), where
  the mean and population stdev are those of the other hosts, leaving out the host itself and the hosts
  already shared by category (a hub's own count, or a few DNS servers with a fan-in of thousands, would
  otherwise inflate the stdev and hide it). High fan-in catches central
  monitoring, mail relays and databases every system uses; high fan-out catches pollers, backup servers and
  jump hosts, which would otherwise glue every host they reach into one group. Each comes with its reason.
- **Core graph**: the host graph without externals, without shared hosts, and without edges whose every
  dependency targets shared infrastructure (a DNS lookup or an agent poll between two ordinary hosts ties
  nothing). Groups, waves, cycles and single points of failure are computed on it.
- **Move groups**: the weakly connected components of the core graph. Id: ``grp-`` + 12 hex digits of the
  SHA-1 of the sorted host ids (stable while membership is); name: ``group-<n>: <most connected host>
  +<others>``, numbered largest first.
- **Waves** go dependencies first (servers before their clients: a database moves before the application that
  uses it, so whatever moves finds what it calls already there, and while the migration runs, traffic crosses
  the boundary one way only, from clients not yet moved to servers already moved). Shared infrastructure is
  wave 0: it must be reachable from the target before anything moves. A core host's wave is 1 + its
  topological generation in the SCC condensation of the reversed core graph, so a host's wave is one more
  than the latest wave of what it depends on, and every host of a cycle shares a wave. A group's wave is
  1 + its generation in the same condensation of the graph of groups; groups never depend on each other once
  shared infrastructure is out (that is what makes them groups), so every group is wave 1 and the numbers
  order what depends on what *inside* a group (`HostMetrics.wave`) and the parts of a suggested split
  (`SplitPart.wave`). The waves the groups move in are planned from these groups by
  discovery.analyses.wave_plan (pilot, tiers, remediation, capacity, pins), which `estatemap analyze` runs next.
- **Blast radius** of a node: everything that fails with it. Failure flows from a host to what it runs
  (services, client processes, databases), from a service to the processes or hosts that depend on it, from
  a client process to its host (a host whose client lost its server is taken as impaired, and with it every
  service it offers), and between a database and its service; an external peer is affected but passes
  nothing on. Per-host sizes in the result count inventory hosts and stop at shared infrastructure: a shared
  host reached is counted but passes nothing on (a monitoring server that loses one agent does not take down
  everyone who reports to it); a shared host's own radius is computed in full.
- **Single points of failure**: articulation points of the undirected core graph, and the `spof_top` hosts of
  highest betweenness centrality on the directed core graph (normalised over the whole core graph, computed
  per weakly connected component: exactly up to `betweenness_exact_limit` hosts, from `betweenness_samples`
  sources with a fixed seed above that: deterministic, approximate).
- **Cycles**: strongly connected components of more than one host in the core graph, each with up to
  `cycles_per_component` simple cycles of at most `cycle_length_bound` hosts (at most `max_cycles` in all).
- **Splits**: a group of more than `max_group_size` (25) hosts gets a suggested cut: Louvain communities
  (seeded) of its undirected core graph weighted by dependency count, split again while a part is still too
  big, then the most tightly linked parts merged back while they fit, so the cut breaks as few dependencies as
  the communities allow. Each split lists every dependency it would break.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx

from discovery.inventory.dependencies import SHARED_CATEGORIES
from discovery.analyses.graph import build_graph, host_graph, paused_gc
from discovery.records.model import Group, ScanContext

MAX_GROUP_SIZE = 25
MIN_SHARED_CLIENTS = 3
OUTLIER_FLOOR = 10
OUTLIER_SIGMAS = 3.0
BETWEENNESS_EXACT_LIMIT = 2000
BETWEENNESS_SAMPLES = 256
SPOF_TOP = 20
CYCLE_LENGTH_BOUND = 8
CYCLES_PER_COMPONENT = 5
MAX_CYCLES = 100
SHARED_WAVE = 0
EXPLAIN_EDGES = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class HostMetrics:
    host_id: str
    label: str
    fan_in: int                 # distinct inventory hosts that depend on it
    fan_out: int                # distinct inventory hosts it depends on
    external_in: int            # distinct external peers that depend on it
    external_out: int           # distinct external peers it depends on
    blast_radius: int           # inventory hosts affected if it fails (stopping at shared infrastructure)
    wave: int                   # 0 for shared infrastructure, else its wave inside the core graph
    group_id: str | None        # None for shared infrastructure
    shared: bool
    articulation_point: bool
    betweenness: float          # on the core graph; 0.0 for shared hosts


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalMetrics:
    id: str
    address: str | None
    clients: int                # inventory hosts that depend on it
    servers: int                # inventory hosts it depends on (an outside client of ours)


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedInfrastructure:
    id: str                     # a host id or a service id
    kind: str                   # "host" | "service"
    host_id: str
    label: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SinglePointOfFailure:
    host_id: str
    label: str
    articulation_point: bool
    betweenness: float
    blast_radius: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Cycle:
    host_ids: tuple[str, ...]   # the strongly connected component, sorted
    wave: int
    examples: tuple[tuple[str, ...], ...]  # simple cycles, each starting at its smallest host id
    truncated: bool             # more simple cycles may exist than are listed


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokenDependency:
    source_host_id: str
    source_process: str | None
    target_host_id: str
    target_service_id: str | None
    port: int | None
    protocol: str
    connections: int
    shared_infrastructure: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SplitPart:
    label: str                  # its most connected host
    wave: int                   # order among the parts: what the others depend on moves first
    host_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Split:
    group_id: str
    method: str
    parts: tuple[SplitPart, ...]
    broken: tuple[BrokenDependency, ...]  # every dependency between two parts, most connections first
    broken_connections: int
    kept_dependencies: int      # dependencies that stay inside a part


@dataclass(frozen=True, slots=True, kw_only=True)
class Wave:
    number: int
    group_ids: tuple[str, ...]
    host_ids: tuple[str, ...]
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisResult:
    hosts: tuple[HostMetrics, ...]
    externals: tuple[ExternalMetrics, ...]
    shared: tuple[SharedInfrastructure, ...]
    single_points_of_failure: tuple[SinglePointOfFailure, ...]
    cycles: tuple[Cycle, ...]
    groups: tuple[Group, ...]
    waves: tuple[Wave, ...]
    splits: tuple[Split, ...]
    parameters: dict = field(default_factory=dict)  # the thresholds used, and whether betweenness was sampled
    summary: dict = field(default_factory=dict)     # counts

    def to_dict(self) -> dict:
        """Return the result as plain dicts, tuples, strings, numbers and None: json.dumps takes it as it is."""
        return dataclasses.asdict(self)


# -- metrics -------------------------------------------------------------------------------------------------

def is_host(H: nx.DiGraph, node: str) -> bool:
    return H.nodes[node]["kind"] == "host"


def fan_in_out(H: nx.DiGraph) -> dict[str, tuple[int, int, int, int]]:
    """Return, per host of the host graph: (fan-in, fan-out, external fan-in, external fan-out)."""
    kinds = dict(H.nodes(data="kind"))
    result = {}
    for n, kind in kinds.items():
        if kind != "host":
            continue
        fan_in = sum(1 for p in H.pred[n] if kinds[p] == "host")
        fan_out = sum(1 for s in H.succ[n] if kinds[s] == "host")
        result[n] = (fan_in, fan_out, len(H.pred[n]) - fan_in, len(H.succ[n]) - fan_out)
    return result


def blast_radius(G: nx.MultiDiGraph, node: str, *, stop_at: Iterable[str] = frozenset()) -> set[str]:
    """Return every node of G affected when `node` fails (not `node` itself). Nodes in `stop_at`, and external
    peers, are affected but pass nothing on (what an outside client does next is not ours to guess).
    Raises KeyError for a node not in G."""
    stop_at = set(stop_at)
    kinds = G.nodes(data="kind")
    if node not in G:
        raise KeyError(node)
    seen, todo = {node}, [node]
    while todo:
        x = todo.pop()
        if x != node and (x in stop_at or kinds[x] == "external"):
            continue
        found = [v for v, d in _out_kinds(G, x) if d in ("runs", "serves")]
        for u, kind in _in_kinds(G, x):
            if kind in ("depends_on", "serves") or (kind == "runs" and kinds[x] == "process"):
                found.append(u)
        for y in found:
            if y not in seen:
                seen.add(y)
                todo.append(y)
    seen.discard(node)
    return seen


def _out_kinds(G, x):
    for v, keyed in G.succ[x].items():
        for d in keyed.values():
            yield v, d["kind"]


def _in_kinds(G, x):
    for u, keyed in G.pred[x].items():
        for d in keyed.values():
            yield u, d["kind"]


def _edge_data(G: nx.MultiDiGraph):
    """Yield every edge's attribute dict, from the plain adjacency dicts (the views are slow at this size)."""
    for _, nbrs in G.adjacency():
        for keyed in nbrs.values():
            yield from keyed.values()


def blast_radius_sizes(H: nx.DiGraph, *, stop_at: Iterable[str] = frozenset()) -> dict[str, int]:
    """Return, per host of the host graph, how many other hosts transitively depend on it (externals are
    neither counted nor passed through); hosts in `stop_at` are counted but pass nothing on, and their own
    radius is computed in full.

    One pass over the SCC condensation with a bitset per component, freed once its last dependent is done.
    """
    stop_at = set(stop_at)
    hosts = [n for n, kind in H.nodes(data="kind") if kind == "host"]
    index = {h: i for i, h in enumerate(hosts)}
    impact = nx.DiGraph()  # server → client: who is affected when the server fails
    impact.add_nodes_from(hosts)
    impact.add_edges_from((v, u) for u, v in H.edges() if u in index and v in index and v not in stop_at)
    stop_servers = {u: [v for v in H.succ[u] if v in stop_at and v in index] for u in hosts}
    stop_reach = dict.fromkeys((s for s in stop_at if s in index), 0)
    C = nx.condensation(impact)
    waiting = {c: C.in_degree(c) for c in C}
    closure: dict[int, int] = {}
    sizes = {}
    for c in reversed(list(nx.topological_sort(C))):
        members = C.nodes[c]["members"]
        bits = 0
        for s in C.succ[c]:
            bits |= closure[s]
            waiting[s] -= 1
            if not waiting[s]:
                del closure[s]
        member_bits = 0
        for m in members:
            member_bits |= 1 << index[m]
        if len(members) > 1:
            bits |= member_bits
        size = bits.bit_count() - (len(members) > 1)
        for m in members:
            sizes[m] = size
        closure[c] = bits | member_bits
        for m in members:  # the clients of a shared host: what it takes with it
            for s in stop_servers[m]:
                stop_reach[s] |= closure[c]
        if not waiting[c]:
            del closure[c]
    for s, bits in stop_reach.items():
        sizes[s] = (bits & ~(1 << index[s])).bit_count()
    return sizes


# -- shared infrastructure -----------------------------------------------------------------------------------

def find_shared_infrastructure(G: nx.MultiDiGraph, H: nx.DiGraph, *, min_shared_clients: int = MIN_SHARED_CLIENTS,
                               outlier_floor: float = OUTLIER_FLOOR, outlier_sigmas: float = OUTLIER_SIGMAS,
                               fans: dict | None = None) -> tuple[list[SharedInfrastructure], dict]:
    """Return the shared services and hosts (each with its reasons) and the thresholds used."""
    fans = fans if fans is not None else fan_in_out(H)
    clients: dict[str, set[str]] = {}
    for d in _edge_data(G):
        if d["kind"] == "depends_on" and d["shared_infrastructure"] and not d["loopback"] \
                and d["target_service_id"] and d["source_host"] in fans:
            clients.setdefault(d["target_service_id"], set()).add(d["source_host"])
    items: list[SharedInfrastructure] = []
    host_reasons: dict[str, list[str]] = {}
    for service in sorted(clients):
        data = G.nodes[service]
        if data.get("category") not in SHARED_CATEGORIES or len(clients[service]) < min_shared_clients:
            continue
        reason = (f"{data['label']} on {data['host_label']} is {data['category']} used by "
                  f"{len(clients[service])} other hosts")
        items.append(SharedInfrastructure(id=service, kind="service", host_id=data["host_id"], label=data["label"],
                                          reasons=(reason,)))
        host_reasons.setdefault(data["host_id"], []).append(reason)
    thresholds = {}
    rest = {h for h in fans if h not in host_reasons}
    for position, direction in ((0, "fan_in"), (1, "fan_out")):
        values = [fans[h][position] for h in rest]
        total, squares, count = sum(values), sum(v * v for v in values), len(values)
        mean, stdev = _mean_stdev(total, squares, count)
        thresholds[direction] = {"threshold": round(max(outlier_floor, mean + outlier_sigmas * stdev), 2),
                                 "mean": round(mean, 2), "stdev": round(stdev, 2)}
        for h, f in sorted(fans.items()):
            x = f[position]
            if x <= outlier_floor:
                continue
            # "The rest": every host not shared by category, this one left out.
            m, sd = _mean_stdev(total - x, squares - x * x, count - 1) if h in rest else (mean, stdev)
            threshold = max(outlier_floor, m + outlier_sigmas * sd)
            if x > threshold:
                rule = (f"the others: mean {m:.1f}, stdev {sd:.1f}; threshold {threshold:.1f} = "
                        f"max({outlier_floor:g}, mean + {outlier_sigmas:g} x stdev)")
                host_reasons.setdefault(h, []).append(
                    f"{x} hosts depend on it, far above the rest ({rule})" if direction == "fan_in" else
                    f"depends on {x} hosts, far above the rest ({rule}): a poller, backup server or management "
                    f"hub would glue every host it reaches into one group")
    for h in sorted(host_reasons):
        items.append(SharedInfrastructure(id=h, kind="host", host_id=h, label=H.nodes[h]["label"],
                                          reasons=tuple(host_reasons[h])))
    return items, thresholds


def _mean_stdev(total: float, squares: float, count: int) -> tuple[float, float]:
    """Return the mean and population standard deviation from a sum, a sum of squares and a count."""
    if count <= 0:
        return 0.0, 0.0
    mean = total / count
    return mean, math.sqrt(max(0.0, squares / count - mean * mean))


def core_graph(H: nx.DiGraph, exclude: Iterable[str] = (), *, keep_shared_edges: bool = False) -> nx.DiGraph:
    """Return the host graph without externals and `exclude`d hosts, and (unless `keep_shared_edges`) without
    edges whose every dependency targets shared infrastructure. Nodes are in sorted order (determinism)."""
    exclude = set(exclude)
    keep = sorted(n for n, kind in H.nodes(data="kind") if kind == "host" and n not in exclude)
    core = nx.DiGraph()
    core.add_nodes_from((n, {"label": H.nodes[n]["label"]}) for n in keep)
    for u in keep:
        for v, d in sorted(H.succ[u].items()):
            if v in core and (keep_shared_edges or not d["shared"]):
                core.add_edge(u, v, count=d["count"], connections=d["connections"], ports=d["ports"],
                              protocols=d["protocols"], dependencies=d["dependencies"])
    return core


# -- waves, cycles, groups -----------------------------------------------------------------------------------

def host_waves(core: nx.DiGraph, condensed: nx.DiGraph | None = None) -> dict[str, int]:
    """Return each host's wave, dependencies first: 1 + its topological generation in the reversed SCC
    condensation; the hosts of a cycle share one wave."""
    C = condensed if condensed is not None else nx.condensation(core)
    waves = {}
    for generation, components in enumerate(nx.topological_generations(C.reverse(copy=False))):
        for c in components:
            for m in C.nodes[c]["members"]:
                waves[m] = 1 + generation
    return waves


def order_parts(core: nx.DiGraph, parts: list[Iterable[str]]) -> list[int]:
    """Return each part's wave, dependencies first: 1 + its generation in the condensation of the graph of
    parts (a part → another when one of its hosts depends on one of the other's)."""
    where = {h: i for i, part in enumerate(parts) for h in part}
    quotient = nx.DiGraph()
    quotient.add_nodes_from(range(len(parts)))
    quotient.add_edges_from((where[u], where[v]) for u in where for v in core.succ[u]
                            if v in where and where[u] != where[v])
    if not quotient.number_of_edges():
        return [1] * len(parts)
    waves = host_waves(quotient)
    return [waves[i] for i in range(len(parts))]


def find_cycles(core: nx.DiGraph, *, waves: dict[str, int] | None = None, condensed: nx.DiGraph | None = None,
                cycle_length_bound: int = CYCLE_LENGTH_BOUND, cycles_per_component: int = CYCLES_PER_COMPONENT,
                max_cycles: int = MAX_CYCLES) -> list[Cycle]:
    """Return the strongly connected components of more than one host, largest first, with a bounded list of
    the simple cycles in each."""
    C = condensed if condensed is not None else nx.condensation(core)
    waves = waves if waves is not None else host_waves(core, C)
    components = sorted((sorted(C.nodes[c]["members"]) for c in C if len(C.nodes[c]["members"]) > 1),
                        key=lambda m: (-len(m), m[0]))
    cycles, listed = [], 0
    for members in components:
        budget = min(cycles_per_component, max_cycles - listed)
        examples = []
        if budget > 0:
            found = nx.simple_cycles(core.subgraph(members), length_bound=cycle_length_bound)
            for cycle in itertools.islice(found, budget + 1):
                start = cycle.index(min(cycle))
                examples.append(tuple(cycle[start:] + cycle[:start]))
        truncated = budget <= 0 or len(examples) > budget or not examples  # none found: all longer than the bound
        examples = sorted(examples[:max(budget, 0)])
        listed += len(examples)
        cycles.append(Cycle(host_ids=tuple(members), wave=waves[members[0]], examples=tuple(examples),
                            truncated=truncated))
    return cycles


def move_groups(core: nx.DiGraph) -> list[list[str]]:
    """Return the weakly connected components of the core graph, each sorted, largest first."""
    return sorted((sorted(c) for c in nx.weakly_connected_components(core)), key=lambda m: (-len(m), m[0]))


def group_id(host_ids: Iterable[str]) -> str:
    """Return a group's stable id: derived from its sorted host ids alone."""
    return "grp-" + hashlib.sha1("\n".join(sorted(host_ids)).encode()).hexdigest()[:12]


def anchor(core: nx.DiGraph, members: Iterable[str]) -> str:
    """Return the most connected host of `members` (ties: the label first alphabetically, then the id)."""
    members = set(members)
    def weight(h):
        degree = sum(1 for v in core.succ[h] if v in members) + sum(1 for u in core.pred[h] if u in members)
        return (-degree, core.nodes[h]["label"], h)
    return min(members, key=weight)


def build_groups(core: nx.DiGraph, components: list[list[str]], *, max_group_size: int = MAX_GROUP_SIZE,
                 cycles: Iterable[Cycle] = ()) -> list[Group]:
    """Return a Group per component, with its name, wave, explanation and the edges that tie it."""
    waves = order_parts(core, components)
    cycles_of = {}
    for cycle in cycles:
        cycles_of.setdefault(cycle.host_ids[0], []).append(cycle)
    where = {h: i for i, members in enumerate(components) for h in members}
    edges = [[] for _ in components]
    for u, v in core.edges():
        if where[u] == where[v]:
            edges[where[u]].append((u, v))
    groups = []
    for number, (members, wave, tied) in enumerate(zip(components, waves, edges), 1):
        head = core.nodes[anchor(core, members)]["label"]
        name = f"group-{number}: {head}" + (f" +{len(members) - 1}" if len(members) > 1 else "")
        in_cycles = [c for h in members for c in cycles_of.get(h, ())]
        groups.append(Group(id=group_id(members), name=name, wave=wave, host_ids=tuple(members),
                            explanation=_explain(core, members, sorted(tied), in_cycles, max_group_size),
                            edges=tuple(sorted(tied))))
    return groups


def _explain(core, members, tied, cycles, max_group_size) -> str:
    label = core.nodes
    if len(members) == 1:
        return (f"Nothing ties {label[members[0]]['label']} to another host (shared-infrastructure traffic "
                f"and external peers aside): it can move on its own.")
    count = sum(core.edges[e]["count"] for e in tied)
    connections = sum(core.edges[e]["connections"] for e in tied)
    shown = sorted(tied, key=lambda e: (-core.edges[e]["connections"], e))[:EXPLAIN_EDGES]
    def link(u, v):
        edge = core.edges[u, v]
        ports = ",".join(map(str, edge["ports"]))
        return f"{label[u]['label']} → {label[v]['label']} ({'/'.join(edge['protocols'])} {ports})"

    more = f" and {len(tied) - len(shown)} more" if len(tied) > len(shown) else ""
    text = (f"{len(members)} hosts tied by {len(tied)} host-to-host links ({count} dependencies, "
            f"{connections} connections): {', '.join(link(u, v) for u, v in shown)}{more}.")
    for cycle in cycles:
        text += (f" {len(cycle.host_ids)} of them depend on each other in a cycle "
                 f"({', '.join(label[h]['label'] for h in cycle.host_ids[:5])}"
                 f"{'...' if len(cycle.host_ids) > 5 else ''}) and move in one wave.")
    if len(members) > max_group_size:
        text += f" Larger than {max_group_size} hosts: see the suggested split."
    return text


# -- splits --------------------------------------------------------------------------------------------------

def suggest_split(core: nx.DiGraph, members: Iterable[str], *, max_group_size: int = MAX_GROUP_SIZE,
                  seed: int = 0, max_depth: int = 6) -> list[list[str]]:
    """Return a partition of `members` into parts of at most `max_group_size` hosts where the communities
    allow it (Louvain, seeded; parts still too big are split again; the most tightly linked parts are then
    merged back while they fit). One part means no cut was found."""
    parts = _louvain_parts(core, sorted(members), max_group_size, seed, max_depth)
    return _merge_parts(core, parts, max_group_size)


def _louvain_parts(core, members, max_group_size, seed, depth) -> list[list[str]]:
    if len(members) <= max_group_size or depth <= 0:
        return [members]
    U = nx.Graph()
    U.add_nodes_from(members)
    inside = set(members)
    for u in members:
        for v, d in core.succ[u].items():
            if v in inside:
                if U.has_edge(u, v):
                    U[u][v]["weight"] += d["count"]
                else:
                    U.add_edge(u, v, weight=d["count"])
    communities = nx.community.louvain_communities(U, weight="weight", seed=seed)
    if len(communities) <= 1:
        return [members]
    parts = []
    for community in sorted((sorted(c) for c in communities), key=lambda m: m[0]):
        parts.extend(_louvain_parts(core, community, max_group_size, seed, depth - 1))
    return parts


def _merge_parts(core, parts, max_group_size) -> list[list[str]]:
    """Merge the pair of parts with the most dependencies between them while the merge fits, greedily."""
    where = {h: i for i, part in enumerate(parts) for h in part}
    alive = {i: list(part) for i, part in enumerate(parts)}
    links: dict[int, dict[int, int]] = {i: {} for i in alive}
    for u, a in where.items():
        for v, d in core.succ[u].items():
            b = where.get(v)
            if b is not None and a != b:
                links[a][b] = links[a].get(b, 0) + d["count"]
                links[b][a] = links[b].get(a, 0) + d["count"]
    heap = [(-w, a, b) for a in links for b, w in links[a].items() if a < b]
    heapq.heapify(heap)
    next_id = len(parts)
    while heap:
        w, a, b = heapq.heappop(heap)
        if a not in alive or b not in alive or len(alive[a]) + len(alive[b]) > max_group_size:
            continue
        merged, next_id = next_id, next_id + 1
        alive[merged] = sorted(alive.pop(a) + alive.pop(b))
        links[merged] = {}
        for old in (a, b):
            for other, weight in links.pop(old).items():
                if other in (a, b):
                    continue
                links[merged][other] = links[merged].get(other, 0) + weight
                links[other].pop(old, None)
                links[other][merged] = links[merged][other]
        for other, weight in links[merged].items():
            heapq.heappush(heap, (-weight, min(other, merged), max(other, merged)))
    return sorted(alive.values(), key=lambda m: (-len(m), m[0]))


def broken_dependencies(core: nx.DiGraph, parts: list[Iterable[str]]) -> tuple[list[BrokenDependency], int]:
    """Return the dependencies between two different parts (most connections first) and how many stay inside."""
    where = {h: i for i, part in enumerate(parts) for h in part}
    broken, kept = [], 0
    for u, v, deps in ((u, v, d["dependencies"]) for u in where for v, d in core.succ[u].items() if v in where):
        if where[u] == where[v]:
            kept += len(deps)
            continue
        broken.extend(BrokenDependency(source_host_id=d["source_host"], source_process=d["source_process"],
                                       target_host_id=d["target_host"], target_service_id=d["target_service_id"],
                                       port=d["port"], protocol=d["protocol"], connections=d["connections"],
                                       shared_infrastructure=d["shared_infrastructure"]) for d in deps)
    broken.sort(key=lambda b: (-b.connections, b.source_host_id, b.target_host_id, b.port or 0,
                               b.source_process or ""))
    return broken, kept


def build_split(core: nx.DiGraph, group: Group, *, max_group_size: int = MAX_GROUP_SIZE, seed: int = 0) -> Split | None:
    """Return the suggested split of a group bigger than `max_group_size`, or None (small enough, or no cut)."""
    if len(group.host_ids) <= max_group_size:
        return None
    parts = suggest_split(core, group.host_ids, max_group_size=max_group_size, seed=seed)
    if len(parts) <= 1:
        return None
    waves = order_parts(core, parts)
    broken, kept = broken_dependencies(core, parts)
    return Split(group_id=group.id, method="louvain",
                 parts=tuple(SplitPart(label=core.nodes[anchor(core, p)]["label"], wave=w, host_ids=tuple(p))
                             for p, w in zip(parts, waves)),
                 broken=tuple(broken), broken_connections=sum(b.connections for b in broken), kept_dependencies=kept)


# -- single points of failure --------------------------------------------------------------------------------

def articulation_points(core: nx.DiGraph) -> set[str]:
    """Return the hosts whose removal disconnects the undirected core graph."""
    return set(nx.articulation_points(core.to_undirected(as_view=True)))


def betweenness(core: nx.DiGraph, *, exact_limit: int = BETWEENNESS_EXACT_LIMIT,
                samples: int = BETWEENNESS_SAMPLES, seed: int = 0) -> tuple[dict[str, float], int]:
    """Return betweenness centrality on the directed core graph, normalised over the whole graph, and how many
    of its weakly connected components were sampled rather than computed exactly.

    Paths never leave a component, so each component is computed on its own (networkx's cost per source is
    the size of the graph it is given, not of the part the source reaches): exactly up to `exact_limit`
    hosts, from `samples` seeded sources above that.
    """
    n = core.number_of_nodes()
    scale = 1 / ((n - 1) * (n - 2)) if n > 2 else 0.0
    scores = dict.fromkeys(core, 0.0)
    sampled = 0
    for members in nx.weakly_connected_components(core):
        if len(members) < 3:
            continue
        sub = core.subgraph(sorted(members)).copy()
        k = None if len(members) <= exact_limit else min(samples, len(members))
        sampled += k is not None
        for h, value in nx.betweenness_centrality(sub, k=k, normalized=False, seed=seed).items():
            scores[h] = value * scale
    return scores, sampled


def single_points_of_failure(core: nx.DiGraph, *, points: set[str], scores: dict[str, float],
                             radius: dict[str, int], top: int = SPOF_TOP) -> list[SinglePointOfFailure]:
    """Return the articulation points and the `top` hosts of highest (non-zero) betweenness, highest first."""
    ranked = sorted((h for h, s in scores.items() if s > 0), key=lambda h: (-scores[h], h))[:top]
    rank = {h: i for i, h in enumerate(ranked, 1)}
    result = []
    for h in sorted(points | set(ranked), key=lambda h: (-scores.get(h, 0.0), -radius.get(h, 0), h)):
        reasons = []
        if h in points:
            reasons.append("articulation point: without it the hosts around it fall into separate pieces")
        if h in rank:
            reasons.append(f"betweenness {scores[h]:.4g}, rank {rank[h]}: many dependency paths pass through it")
        result.append(SinglePointOfFailure(host_id=h, label=core.nodes[h]["label"], articulation_point=h in points,
                                           betweenness=round(scores.get(h, 0.0), 6), blast_radius=radius.get(h, 0),
                                           reasons=tuple(reasons)))
    return result


# -- everything ----------------------------------------------------------------------------------------------

def analyze(inventory: dict, **options) -> AnalysisResult:
    """Return every analysis of an inventory (the dict build_inventory returns); options as analyze_graph's."""
    return analyze_graph(build_graph(inventory), **options)


STEPS = ("host graph", "fan-in and fan-out", "shared infrastructure", "blast radius", "waves and cycles",
         "move groups", "splits", "single points of failure", "result")


def analyze_graph(G: nx.MultiDiGraph, H: nx.DiGraph | None = None, *, max_group_size: int = MAX_GROUP_SIZE,
                  seed: int = 0, min_shared_clients: int = MIN_SHARED_CLIENTS, outlier_floor: float = OUTLIER_FLOOR,
                  outlier_sigmas: float = OUTLIER_SIGMAS, betweenness_exact_limit: int = BETWEENNESS_EXACT_LIMIT,
                  betweenness_samples: int = BETWEENNESS_SAMPLES, spof_top: int = SPOF_TOP,
                  cycle_length_bound: int = CYCLE_LENGTH_BOUND, cycles_per_component: int = CYCLES_PER_COMPONENT,
                  max_cycles: int = MAX_CYCLES, ctx: ScanContext | None = None) -> AnalysisResult:
    """Return every analysis of a graph built by build_graph (and its host_graph, built here if not given).

    `ctx` (optional) hears of each step (`report(done, len(STEPS), step)`) and can cancel between steps:
    raises ScanCancelled then.
    """
    def step(number: int) -> None:
        if ctx is not None:
            ctx.check_cancelled()
            ctx.report(number, len(STEPS), STEPS[number])

    with paused_gc():
        step(0)
        H = H if H is not None else host_graph(G)
        step(1)
        fans = fan_in_out(H)
        step(2)
        shared, thresholds = find_shared_infrastructure(G, H, min_shared_clients=min_shared_clients,
                                                        outlier_floor=outlier_floor, outlier_sigmas=outlier_sigmas,
                                                        fans=fans)
        shared_hosts = {s.host_id for s in shared if s.kind == "host"}
        step(3)
        radius = blast_radius_sizes(H, stop_at=shared_hosts)
        step(4)
        core = core_graph(H, shared_hosts)
        C = nx.condensation(core)
        waves = host_waves(core, C)
        cycles = find_cycles(core, waves=waves, condensed=C, cycle_length_bound=cycle_length_bound,
                             cycles_per_component=cycles_per_component, max_cycles=max_cycles)
        step(5)
        groups = build_groups(core, move_groups(core), max_group_size=max_group_size, cycles=cycles)
        step(6)
        splits = [s for g in groups if (s := build_split(core, g, max_group_size=max_group_size, seed=seed))]
        step(7)
        points = articulation_points(core)
        scores, sampled = betweenness(core, exact_limit=betweenness_exact_limit, samples=betweenness_samples,
                                      seed=seed)
        spofs = single_points_of_failure(core, points=points, scores=scores, radius=radius, top=spof_top)
        step(8)
        parameters = {
            "max_group_size": max_group_size, "seed": seed, "min_shared_clients": min_shared_clients,
            "outlier_floor": outlier_floor, "outlier_sigmas": outlier_sigmas, **thresholds,
            "betweenness": (f"sampled from {betweenness_samples} sources in {sampled} component(s) of more than "
                            f"{betweenness_exact_limit} hosts, exact elsewhere" if sampled else "exact"),
            "betweenness_exact_limit": betweenness_exact_limit, "betweenness_samples": betweenness_samples,
            "spof_top": spof_top, "cycle_length_bound": cycle_length_bound,
            "cycles_per_component": cycles_per_component, "max_cycles": max_cycles,
            "wave_order": "dependencies first (servers before their clients)",
        }
        result = _result(G, H, core, fans=fans, shared=shared, shared_hosts=shared_hosts, radius=radius,
                         waves=waves, cycles=cycles, groups=groups, splits=splits, points=points, scores=scores,
                         spofs=spofs, parameters=parameters)
        if ctx is not None:
            ctx.report(len(STEPS), len(STEPS), "done")
        return result


def _result(G, H, core, *, fans, shared, shared_hosts, radius, waves, cycles, groups, splits, points, scores, spofs,
            parameters) -> AnalysisResult:
    group_of = {h: g.id for g in groups for h in g.host_ids}
    hosts = tuple(HostMetrics(host_id=h, label=H.nodes[h]["label"], fan_in=f[0], fan_out=f[1], external_in=f[2],
                              external_out=f[3], blast_radius=radius[h],
                              wave=SHARED_WAVE if h in shared_hosts else waves[h], group_id=group_of.get(h),
                              shared=h in shared_hosts, articulation_point=h in points,
                              betweenness=round(scores.get(h, 0.0), 6))
                  for h, f in sorted(fans.items()))
    externals = tuple(ExternalMetrics(id=n, address=d.get("address"),
                                      clients=sum(1 for u in H.pred[n] if is_host(H, u)),
                                      servers=sum(1 for v in H.succ[n] if is_host(H, v)))
                      for n, d in sorted(H.nodes(data=True)) if d["kind"] == "external")
    wave_list = [Wave(number=SHARED_WAVE, group_ids=(), host_ids=tuple(sorted(shared_hosts)),
                      note="shared infrastructure: reachable from the target before anything that uses it moves")
                 ] if shared_hosts else []  # no shared infrastructure: no empty wave 0
    for number in sorted({g.wave for g in groups}):
        members = [g for g in groups if g.wave == number]
        wave_list.append(Wave(number=number, group_ids=tuple(g.id for g in members),
                              host_ids=tuple(sorted(h for g in members for h in g.host_ids)),
                              note="move groups that do not depend on each other: any order within the wave"))
    kinds = [d["kind"] for d in G.nodes.values()]
    summary = {
        "hosts": len(fans), "externals": len(externals), "services": kinds.count("service"),
        "inferred_services": sum(1 for d in G.nodes.values() if d["kind"] == "service" and d["inferred"]),
        "processes": kinds.count("process"), "databases": kinds.count("database"),
        "dependencies": sum(1 for d in _edge_data(G) if d["kind"] == "depends_on"),
        "host_edges": H.number_of_edges(), "core_edges": core.number_of_edges(),
        "shared_hosts": len(shared_hosts), "groups": len(groups),
        "largest_group": max((len(g.host_ids) for g in groups), default=0),
        "singleton_groups": sum(1 for g in groups if len(g.host_ids) == 1),
        "cycles": len(cycles), "splits": len(splits), "waves": len(wave_list),
    }
    return AnalysisResult(hosts=hosts, externals=externals, shared=tuple(shared), single_points_of_failure=tuple(spofs),
                          cycles=tuple(cycles), groups=tuple(groups), waves=tuple(wave_list), splits=tuple(splits),
                          parameters=parameters, summary=summary)
