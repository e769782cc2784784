"""What the dependency graph shows, as plain functions (no Qt): the display graph derived from a Snapshot.

A *display graph* is a networkx DiGraph, edges client -> server: host or service level, filtered, collapsed
by subnet, move group or vSphere cluster, or cut to the N-hop neighbourhood of a node, then laid out by
gui.graph_layout (`lay_out`, the whole job of gui.graph_view's LayoutWorker thread). `reach` follows dependence
as discovery.analyses.analysis's blast radius does. Tested without a window.

The layer-2 map (the inventory's `l2_links`: which switch port each host is cabled to) is an overlay, not
part of the display graph: `layer2_edges` returns it as a separate list of `Layer2Edge`s between the nodes
shown, so a cable never counts as a dependency in blast radius, move groups, hubs or the layout.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass, field

import networkx as nx

from discovery.analyses.coverage import depth_rank
from discovery.analyses.graph import host_of
from discovery.inventory.virtualization import ESXI_SCRIPT, VM_SCRIPT, script_data
from gui.data import Snapshot
from gui.graph_text import EDGE_TOOLTIP_LINES, EdgeDep, friendly_protocol
from gui.graph_layout import LayoutCancelled, compute_layout, find_hubs

HOST_KINDS = ("host", "external")
SERVICE_KINDS = ("host", "service", "database", "process", "external")
LEVELS = ("host", "service")
COLLAPSES = (None, "subnet", "group", "cluster")
PLACEMENT_KEYS = ("cluster", "hypervisor", "hypervisor_id", "datacenter")  # a node's VMware placement
# How a layer-2 link was learnt, as people say it: a neighbour protocol, or a MAC in the switch's table.
L2_PROTOCOLS = {"lldp": "LLDP", "cdp": "CDP", "fdb": "forwarding table"}
L2_TOOLTIP_LINES = 12       # a layer-2 edge's tooltip names at most this many links
# A host is drawn as "little evidence" (grey, hatched) when it has no risk score, or when all we know is that
# it answered and which ports it listens on (coverage depth seen or ports): no OS, no software, no sockets,
# so a low score says nothing about its safety.
LITTLE_EVIDENCE_BELOW = "os"
LABEL_CHAR_WIDTH = 6.6      # scene units per character of an 8 pt label: the layout's room for labels
LABEL_MARGIN = 16.0         # scene units kept free between two labels side by side


@dataclass(frozen=True, slots=True)
class GraphOptions:
    """What the graph shows; every field has a toolbar control and a GraphView setter."""
    level: str = "host"                       # "host" (host → host) or "service" (the full graph)
    kinds: frozenset[str] = frozenset(SERVICE_KINDS)
    min_risk: float = 0.0                     # hide nodes whose host's risk score is below this (0: hide none)
    group: str | None = None                  # a move group id: only its hosts
    hide_shared: bool = False                 # hide shared infrastructure and the dependencies on it
    collapse: str | None = None               # None, "subnet" (/24 of the first address), "group" or "cluster"
    focus: str | None = None                  # show only the `hops`-neighbourhood of this node
    hops: int = 1
    layout: str = "layered"                   # "layered" or "force"
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Layer2Edge:
    """One dashed line of the layer-2 overlay: the two display nodes it joins and the links behind it (one
    cable usually, seen by LLDP and CDP or from both switches; several when hosts are collapsed)."""
    ends: tuple[str, str]
    links: tuple[str, ...]  # describe_l2_link's text of each, without repeats

    @property
    def tooltip(self) -> str:
        """Return what hovering the line tells: each link behind it, the first L2_TOOLTIP_LINES of them."""
        shown = list(self.links[:L2_TOOLTIP_LINES])
        if len(self.links) > L2_TOOLTIP_LINES:
            shown.append(f"… and {len(self.links) - L2_TOOLTIP_LINES} more")
        return "\n".join(shown)


@dataclass(slots=True)
class LayoutResult:
    """A display graph laid out, as the worker hands it back."""
    generation: int
    options: GraphOptions
    graph: nx.DiGraph | None = None
    impact: nx.DiGraph | None = None          # x → y: y is affected when x fails (None: graph's edges reversed)
    stop_at: set = field(default_factory=set)  # shared infrastructure and hubs: lit, but passing nothing on
    positions: dict = field(default_factory=dict)
    bases: dict[str, nx.DiGraph] = field(default_factory=dict)  # base_graph by level, for the next request
    layer2: list[Layer2Edge] = field(default_factory=list)     # the cables between the nodes shown
    seconds: float = 0.0
    thread_ident: int = 0
    error: str | None = None


def shared_nodes(snapshot: Snapshot, D: nx.DiGraph) -> set[str]:
    """Return the shared-infrastructure hosts and services: the analysis's list when analyze ran, else the
    nodes of the host-level graph D every dependency on which is marked shared_infrastructure."""
    analysis = snapshot.inventory.get("analysis") or {}
    if analysis.get("shared") is not None:
        return {s["id"] for s in analysis["shared"]} | {s["host_id"] for s in analysis["shared"] if s.get("host_id")}
    return {n for n in D if D.in_degree(n) and all(d["shared"] for _, _, d in D.in_edges(n, data=True))}


def legacy_grades(snapshot: Snapshot) -> dict[str, str]:
    """Return each legacy host's grade: "major" when an end-of-life OS, an exposed end-of-life service or
    database server is found on it, "minor" when only installed packages are (info findings ignored)."""
    grades: dict[str, str] = {}
    for f in snapshot.inventory.get("findings") or ():
        if f.get("category") != "legacy" or f.get("severity") == "info" or not f.get("host_id"):
            continue
        major = f.get("subject_type") in ("host", "service", "database")
        if major or f["host_id"] not in grades:
            grades[f["host_id"]] = "major" if major else grades.get(f["host_id"], "minor")
    return grades


def short_name(label: str) -> str:
    """Return a host name's first part ("ehr-app" of "ehr-app.clinic.example"); an address stays whole."""
    if ":" in label or label.replace(".", "").isdigit():  # IPv6, IPv4 (cheaper than parsing every name)
        return label
    return label.split(".", 1)[0] or label


def little_evidence(record: dict) -> bool:
    """Return True when a host's risk tells little: no score, or a coverage depth below LITTLE_EVIDENCE_BELOW
    (an older store without coverage depths is taken at its score)."""
    if record.get("risk_score") is None:
        return True
    depth = record.get("coverage_depth")
    return depth is not None and depth_rank(depth) < depth_rank(LITTLE_EVIDENCE_BELOW)


def label_width(label: str) -> float:
    """Return the room (scene units) a node's label takes, estimated from its length."""
    return len(label) * LABEL_CHAR_WIDTH + LABEL_MARGIN


def node_facts(snapshot: Snapshot) -> tuple[dict[str, str], set[str], dict[str, tuple[str, str]]]:
    """Return (the move group id of each host, the hosts offering a healthcare service, group id → (name,
    wave label))."""
    inventory = snapshot.inventory
    group_of, groups = {}, {}
    for g in inventory.get("groups") or ():
        groups[g["id"]] = (g.get("name") or g["id"], g.get("wave"))
        for h in g["host_ids"]:
            group_of[h] = g["id"]
    healthcare = {s["host_id"] for s in inventory.get("services") or () if s.get("category") == "healthcare"}
    return group_of, healthcare, groups


def base_graph(snapshot: Snapshot, level: str) -> nx.DiGraph:
    """Return the unfiltered display graph of `level` with each node's kind, label, risk, legacy, healthcare,
    host, group and search text, and each edge's kind, shared flag and count. The host level is
    discovery.analyses.graph.host_graph's picture (hosts and externals, one edge per client → server pair, shared
    when every dependency behind it is), built here without its per-edge lists. Raises ValueError for a bad
    level."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")
    G = snapshot.graph
    D = nx.DiGraph()
    group_of, healthcare_hosts, _ = node_facts(snapshot)
    grades = legacy_grades(snapshot)
    nodes, names = dict(G.nodes(data=True)), {}
    for n, data in G.nodes(data=True):
        if level == "service" or data["kind"] in HOST_KINDS:
            D.add_node(n, **_display_attrs(snapshot, n, data, G, group_of, healthcare_hosts, grades))
    if level == "host":
        pairs: dict[tuple[str, str], list] = {}
        for _, nbrs in G.adjacency():
            for v, keyed in nbrs.items():
                for d in keyed.values():
                    if d["kind"] == "depends_on" and d["source_host"] != d["target_host"]:
                        pair = pairs.setdefault((d["source_host"], d["target_host"]), [0, 0, []])
                        pair[0] += 1
                        pair[1] += d["shared_infrastructure"]
                        if len(pair[2]) < EDGE_TOOLTIP_LINES:
                            pair[2].append(_edge_dep(nodes, names, v, d))
        D.add_edges_from((u, v, {"kind": "depends_on", "shared": shared == count, "count": count,
                                 "deps": tuple(deps)})
                         for (u, v), (count, shared, deps) in pairs.items())
    else:
        for u, nbrs in G.adjacency():
            for v, keyed in nbrs.items():
                kinds = {d["kind"] for d in keyed.values()}
                kind = "depends_on" if "depends_on" in kinds else next(iter(kinds))
                shared = all(d.get("shared_infrastructure", False) for d in keyed.values() if d["kind"] == kind)
                deps = tuple(_edge_dep(nodes, names, v, d) for d in keyed.values() if d["kind"] == "depends_on")
                D.add_edge(u, v, kind=kind, shared=kind == "depends_on" and shared, count=len(keyed),
                           deps=deps[:EDGE_TOOLTIP_LINES])
    return D


def _edge_dep(nodes: dict, names: dict, target: str, d: dict) -> EdgeDep:
    """Return a dependency edge of G (towards node `target`; `nodes`: G's node attribute dicts) as an EdgeDep,
    its protocol named (`names` caches the names by target and port)."""
    key = (target, d["port"])  # an external peer is one node for every port
    service = names.get(key, names)
    if service is names:
        t = nodes[target]
        service = names[key] = friendly_protocol(d["port"], t.get("name"), t.get("product"), t.get("process"))
    return EdgeDep(protocol=d["protocol"], port=d["port"], process=d.get("source_process"), service=service,
                   evidence=d.get("evidence"), last_seen=d.get("last_seen"))


def _display_attrs(snapshot, n, data, G, group_of, healthcare_hosts, grades) -> dict:
    """Return a node's display attributes: `label` short (a host's first name part; a service "PostgreSQL
    5432 · db01", naming its host), `name` in full, `unknown` for a host with little evidence, `legacy`
    graded "major" or "minor" (None: not legacy)."""
    kind = data["kind"]
    host = host_of(G, n) if n in G else n
    record = snapshot.hosts_by_id.get(host) or {}
    addresses = tuple(record.get("addresses") or data.get("addresses") or
                      ((data["address"],) if data.get("address") else ()))
    healthcare = data.get("category") == "healthcare" if kind == "service" else (
        kind == "host" and host in healthcare_hosts)
    name = str(data.get("label") or n)
    if kind == "service":
        host_name = short_name(str(data.get("host_label") or host))
        protocol = friendly_protocol(data.get("port"), data.get("name"), data.get("product"), data.get("process"))
        label = f"{protocol or data.get('protocol', '')} {data.get('port', '')} · {host_name}".strip()
    elif kind == "host":
        label = short_name(name)
    else:
        label = name
    legacy = (grades.get(host, "minor") if record.get("legacy") else None) if kind == "host" else None
    return {"kind": kind, "label": label, "name": name, "host": host, "risk": record.get("risk_score"),
            "unknown": kind == "host" and little_evidence(record), "legacy": legacy, "healthcare": healthcare,
            "group": group_of.get(host), "addresses": addresses, **vmware_placement(record),
            "search": "\n".join([label, name, n, *addresses]).lower()}


def vmware_placement(record: dict) -> dict:
    """Return where a host record runs, as vCenter said: ``cluster`` (its vSphere cluster), ``hypervisor`` and
    ``hypervisor_id`` (the ESXi host's name and inventory id: a VM's, or an ESXi host's own) and ``datacenter``;
    all None for a host vCenter did not describe (and for an external peer)."""
    if (esxi := script_data(record, ESXI_SCRIPT)) is not None:
        return {"cluster": record.get("cluster"), "hypervisor": record.get("hostname") or record["id"],
                "hypervisor_id": record["id"], "datacenter": esxi.get("datacenter")}
    if not (record.get("cluster") or record.get("hypervisor") or record.get("hypervisor_host_id")):
        return dict.fromkeys(PLACEMENT_KEYS)
    vm = script_data(record, VM_SCRIPT) or {}
    return {"cluster": record.get("cluster"), "hypervisor": record.get("hypervisor"),
            "hypervisor_id": record.get("hypervisor_host_id"), "datacenter": vm.get("datacenter")}


def filter_graph(D: nx.DiGraph, options: GraphOptions, shared: set[str]) -> nx.DiGraph:
    """Return D without the nodes and edges `options` hide (kind, minimum risk, move group, shared
    infrastructure): a copy, or D itself when nothing is hidden."""
    if (options.kinds >= {d for _, d in D.nodes(data="kind")} and options.min_risk <= 0 and options.group is None
            and not options.hide_shared):
        return D  # nothing to hide: no copy
    keep = []
    for n, d in D.nodes(data=True):
        if d["kind"] not in options.kinds:
            continue
        if options.min_risk > 0 and (d["risk"] is None or d["risk"] < options.min_risk):
            continue
        if options.group is not None and d["group"] != options.group:
            continue
        if options.hide_shared and (n in shared or d["host"] in shared):
            continue
        keep.append(n)
    F = D.subgraph(keep).copy()
    if options.hide_shared:
        F.remove_edges_from([(u, v) for u, v, s in F.edges(data="shared") if s])
    return F


def bucket_of(data: dict, collapse: str) -> tuple[str, str] | None:
    """Return (bucket id, bucket name) a node collapses into — its first address's /24 (IPv6: /64), its
    host's move group, or its host's vSphere cluster (a VM without a cluster: its ESXi host; a standalone ESXi
    host: itself) — or None when it has no address, group or VMware placement (it then stays itself)."""
    if collapse == "group":
        return ("group:" + data["group"], data["group"]) if data.get("group") else None
    if collapse == "cluster":
        if data.get("cluster"):
            where = f"{data['datacenter']}/" if data.get("datacenter") else ""
            return f"cluster:{where}{data['cluster']}", data["cluster"]
        esxi = data.get("hypervisor_id") or data.get("hypervisor")
        return ("esxi:" + esxi, data.get("hypervisor") or esxi) if esxi else None
    for address in data.get("addresses") or ():
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        network = ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False)
        return "subnet:" + str(network), str(network)
    return None


def collapse_graph(D: nx.DiGraph, collapse: str, group_names: dict[str, tuple[str, str]]) -> nx.DiGraph:
    """Return D with the nodes of each subnet, move group or vSphere cluster merged into one node (kind
    "subnet", "group" or "cluster", risk the highest of its members, `members` its node ids) and one edge per
    pair of buckets."""
    if collapse not in COLLAPSES or collapse is None:
        raise ValueError(f"unknown collapse {collapse!r}: expected subnet, group or cluster")
    where, buckets = {}, {}
    for n, d in D.nodes(data=True):
        found = bucket_of(d, collapse)
        where[n] = found[0] if found else n
        if found:  # named as its first member names it (an ESXi host's names may differ a little)
            buckets.setdefault(found[0], (found[1], []))[1].append(n)
    C = nx.DiGraph()
    C.add_nodes_from((n, d) for n, d in D.nodes(data=True) if where[n] == n)
    for bucket, (name, members) in buckets.items():
        risks = [D.nodes[m]["risk"] for m in members if D.nodes[m]["risk"] is not None]
        if collapse == "group":
            name = group_names.get(name, (name, None))[0]
        label = f"{name} ({len(members)})"
        grades = {D.nodes[m]["legacy"] for m in members}
        C.add_node(bucket, kind=collapse, label=label, name=label, host=bucket, risk=max(risks) if risks else None,
                   unknown=all(D.nodes[m].get("unknown", True) for m in members),
                   legacy="major" if "major" in grades else "minor" if "minor" in grades else None,
                   healthcare=any(D.nodes[m]["healthcare"] for m in members), group=None, addresses=(),
                   **dict.fromkeys(PLACEMENT_KEYS), members=tuple(members),
                   search="\n".join([label, bucket]).lower())
    for u, v, d in D.edges(data=True):
        a, b = where[u], where[v]
        if a == b:
            continue
        if C.has_edge(a, b):
            e = C.edges[a, b]
            e["count"] += d.get("count", 1)
            e["shared"] = e["shared"] and d["shared"]
            e["deps"] = (e["deps"] + tuple(d.get("deps") or ()))[:EDGE_TOOLTIP_LINES]
        else:
            C.add_edge(a, b, kind="depends_on", shared=d["shared"], count=d.get("count", 1),
                       deps=tuple(d.get("deps") or ()))
    return C


def neighbourhood(D: nx.DiGraph, node: str, hops: int) -> nx.DiGraph:
    """Return the subgraph of the nodes at most `hops` edges (either way) from `node`. Raises KeyError when
    `node` is not in D."""
    if node not in D:
        raise KeyError(node)
    return D.subgraph(nx.single_source_shortest_path_length(D.to_undirected(as_view=True), node,
                                                            cutoff=max(0, hops))).copy()


def build_display_graph(snapshot: Snapshot, options: GraphOptions, base: nx.DiGraph | None = None,
                        host_base: nx.DiGraph | None = None) -> nx.DiGraph:
    """Return the graph `options` ask for: level (`base`: base_graph of that level, if already built), then
    filters, then collapse, then the neighbourhood (a focus no longer shown is ignored). `base` is never
    changed. Raises ValueError for a bad level or collapse."""
    D = base if base is not None else base_graph(snapshot, options.level)
    shared = set()
    if options.hide_shared:
        host_base = D if options.level == "host" else (host_base or base_graph(snapshot, "host"))
        shared = shared_nodes(snapshot, host_base)
    D = filter_graph(D, options, shared)
    if options.collapse:
        D = collapse_graph(D, options.collapse, node_facts(snapshot)[2])
    if options.focus is not None and options.focus in D:
        D = neighbourhood(D, options.focus, options.hops)
    return D


def impact_graph(D: nx.DiGraph) -> nx.DiGraph:
    """Return the failure graph of a display graph: an edge x → y when y is affected if x fails (a client
    when its server fails; what a host runs when the host fails; a host when its client process fails; a
    service and its database each other)."""
    I = nx.DiGraph()
    I.add_nodes_from(D)
    for u, v, kind in D.edges(data="kind"):
        if kind == "runs":
            I.add_edge(u, v)
            if D.nodes[v]["kind"] == "process":
                I.add_edge(v, u)
        elif kind == "serves":
            I.add_edge(u, v)
            I.add_edge(v, u)
        else:
            I.add_edge(v, u)
    return I


def reach(adjacency, start: Hashable, kinds, stop_at: set = frozenset()) -> set:
    """Return every node reachable from `start` through `adjacency` (not `start`); an external node, and a
    node in `stop_at` (shared infrastructure), is reached but passes nothing on."""
    seen, todo = {start}, [start]
    while todo:
        x = todo.pop()
        if x != start and (kinds[x] == "external" or x in stop_at):
            continue
        for y in adjacency[x]:
            if y not in seen:
                seen.add(y)
                todo.append(y)
    seen.discard(start)
    return seen


def find_nodes(D: nx.DiGraph, text: str) -> list:
    """Return the nodes matching `text` (case-insensitive): exact label, id or address first, then the
    nodes whose label, id or an address contains it, each list in graph order."""
    text = text.strip().lower()
    if not text:
        return []
    exact, partial = [], []
    for n, search in D.nodes(data="search"):
        if text in (search or "").split("\n"):
            exact.append(n)
        elif text in (search or ""):
            partial.append(n)
    return exact + partial


def describe_l2_link(snapshot: Snapshot, link: dict) -> str:
    """Return a layer-2 link as "switch-a port Gi1/0/5 ↔ pacs port eth0 (LLDP)": each end's host name and
    port when known, how it was learnt and its VLAN when known."""
    def end(host_id, name, port):
        label = snapshot.host_label(host_id) if host_id else (name or "?")
        return f"{label} port {port}" if port else label

    how = L2_PROTOCOLS.get(link.get("protocol"), link.get("protocol") or "unknown")
    if link.get("vlan") is not None:
        how += f", VLAN {link['vlan']}"
    return (f"{end(link['source_host_id'], None, link.get('source_port'))} ↔ "
            f"{end(link.get('target_host_id'), link.get('target_name'), link.get('target_port'))} ({how})")


def layer2_edges(snapshot: Snapshot, D: nx.DiGraph) -> list[Layer2Edge]:
    """Return the layer-2 overlay of the display graph D: one edge per pair of shown nodes joined by a link
    of the inventory's `l2_links` whose both ends are known hosts. A host collapsed into a subnet, move
    group or cluster counts as its bucket (links inside one bucket are dropped); a link to a hidden host, or
    to a neighbour that is not a host, is not drawn. Empty for an inventory without `l2_links`."""
    links = snapshot.inventory.get("l2_links") or ()
    if not links:
        return []
    shown: dict[str, str] = {}
    for n, d in D.nodes(data=True):
        if d["kind"] == "host":
            shown[n] = n
        for member in d.get("members") or ():
            shown[member] = n
    pairs: dict[frozenset, tuple[tuple[str, str], dict[str, None]]] = {}
    for link in links:
        a, b = shown.get(link["source_host_id"]), shown.get(link.get("target_host_id"))
        if a is None or b is None or a == b:
            continue
        pairs.setdefault(frozenset((a, b)), ((a, b), {}))[1][describe_l2_link(snapshot, link)] = None
    return [Layer2Edge(ends=ends, links=tuple(texts)) for ends, texts in pairs.values()]


def lay_out(snapshot: Snapshot, options: GraphOptions, generation: int, bases: dict[str, nx.DiGraph],
            cancelled: threading.Event) -> LayoutResult:
    """Return the display graph `options` ask for, laid out (the worker's whole job; plain Python). `bases`
    holds the base graphs already built for this snapshot, by level; the result's `bases` adds any built here.

    Raises LayoutCancelled when `cancelled` is set.
    """
    started = time.perf_counter()
    bases = dict(bases)
    if options.level not in bases:
        bases[options.level] = base_graph(snapshot, options.level)
    if "host" not in bases:
        bases["host"] = base_graph(snapshot, "host")
    if cancelled.is_set():
        raise LayoutCancelled
    D = build_display_graph(snapshot, options, bases[options.level], bases.get("host"))
    widths = {n: label_width(str(label)) for n, label in D.nodes(data="label")}
    # layer-2 links left out: toggling them moves nothing
    nodes = sorted(D, key=lambda n: str(D.nodes[n]["label"]).lower())  # unconnected hosts in name order
    positions = compute_layout(options.layout, nodes, list(D.edges()), seed=options.seed,
                               should_stop=cancelled.is_set, widths=widths)
    impact = impact_graph(D) if options.level == "service" and not options.collapse else None
    hosts = bases["host"].nodes
    stop_at = {n for n in shared_nodes(snapshot, bases["host"]) if n in hosts and hosts[n]["kind"] == "host"}
    stop_at |= find_hubs(D)
    return LayoutResult(generation=generation, options=options, graph=D, impact=impact, stop_at=stop_at,
                        positions=positions, bases=bases, layer2=layer2_edges(snapshot, D),
                        seconds=time.perf_counter() - started,
                        thread_ident=threading.get_ident())
