"""The dependency graph: the inventory (the JSON export's dict) as a NetworkX MultiDiGraph, and its host view.

Nodes carry `kind` and a `label` the GUI shows:

- ``host``      id = host id; hostname, addresses, os_name, os_family, criticality, ``inferred`` (True for a
                placeholder: a host a row names but the inventory does not list);
- ``service``   id = service id (``<host>:<protocol>/<port>``); host_id, port, protocol, name, product,
                version, category, process, ``inferred``;
- ``database``  id = database id; host_id, service_id, engine, version, databases;
- ``process``   a client application: id ``<host id>/proc/<name>``; host_id, name;
- ``external``  a peer outside the inventory: id ``external:<address>``; address.

Edges carry `kind`, which is also their key, except a dependency's, whose key is its id (``dep:...``):

- ``runs``        host → service, host → process (its client applications), host → database when the
                  database's port is unknown;
- ``serves``      service → database: the listening service a database is reached through;
- ``depends_on``  process (or host, when no client process is known; or external) → the service it connects
                  to, or → the external node; attributes protocol, port, connections, first_seen, last_seen,
                  samples, evidence, observed_by, shared_infrastructure, loopback, external, id, source_process,
                  target_service_id (None towards an external), and ``source_host``/``target_host`` (the host
                  or external id at each end).

A dependency whose target service is not in the inventory but whose target host is points at a service node
synthesised for (host, protocol, port) and marked ``inferred=True`` (with a ``runs`` edge from its host), so
that every ``depends_on`` edge ends at a port: blast radius and the GUI work per service, and the GUI can draw
guessed services differently. A dependency towards an external peer ends at the external node itself.

Loopback dependencies (a host's process → its own service) stay in this graph; `host_graph` leaves them out.
Every node and edge is built in input order; no attribute is a set, so results are deterministic.
"""

from __future__ import annotations

import contextlib
import gc

import networkx as nx

from discovery.inventory.dependencies import SHARED_CATEGORIES
from discovery.records.model import service_id

EXTERNAL_PREFIX = "external:"


def build_graph(inventory: dict) -> nx.MultiDiGraph:
    """Return the service-level dependency graph of an inventory (the dict build_inventory returns).

    Raises KeyError when a required key (a row's id, a dependency's ends) is missing.
    """
    with paused_gc():
        return _build_graph(inventory)


@contextlib.contextmanager
def paused_gc():
    """Pause Python's cyclic garbage collector while a large, acyclic structure is built.

    Building graphs allocates hundreds of thousands of dicts, and every few thousand allocations the collector
    walks everything alive: at 10,000 hosts that is half the run time, for nothing (graphs hold no cycles to
    collect). Reference counting still frees memory as usual; the collector is resumed if it was running.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build_graph(inventory: dict) -> nx.MultiDiGraph:
    G = nx.MultiDiGraph()
    for h in inventory["hosts"]:
        addresses = tuple(h.get("addresses") or ())
        G.add_node(h["id"], kind="host", label=h.get("hostname") or (addresses[0] if addresses else h["id"]),
                   hostname=h.get("hostname"), addresses=addresses, os_name=h.get("os_name"),
                   os_family=h.get("os_family"), criticality=h.get("criticality"), inferred=False)
    for s in inventory.get("services") or ():
        _add_service(G, s["id"], s["host_id"], s["protocol"], s["port"], name=s.get("name"),
                     product=s.get("product"), version=s.get("version"), category=s.get("category"),
                     process=s.get("process"), inferred=False)
    for d in inventory.get("databases") or ():
        host = _ensure_host(G, d["host_id"])
        label = " ".join(str(p) for p in (d["engine"], d.get("version")) if p)
        G.add_node(d["id"], kind="database", label=label, host_id=host, service_id=d.get("service_id"),
                   engine=d["engine"], version=d.get("version"), databases=tuple(d.get("databases") or ()))
        if d.get("service_id") in G:
            G.add_edge(d["service_id"], d["id"], key="serves", kind="serves")
        else:
            G.add_edge(host, d["id"], key="runs", kind="runs")
    for e in inventory.get("external_endpoints") or ():
        _add_external(G, e["id"], e.get("address"))
    for d in inventory.get("dependencies") or ():
        _add_dependency(G, d)
    return G


def _ensure_host(G: nx.MultiDiGraph, host_id: str) -> str:
    """Add a placeholder for a host a row names but the inventory does not list (marked inferred)."""
    if host_id not in G:
        G.add_node(host_id, kind="host", label=host_id, hostname=None, addresses=(), os_name=None,
                   os_family=None, criticality=None, inferred=True)
    return host_id


def _add_service(G: nx.MultiDiGraph, node: str, host_id: str, protocol: str, port: int, *, inferred: bool,
                 **attrs) -> str:
    host = _ensure_host(G, host_id)
    shown = attrs.get("product") or attrs.get("name")
    G.add_node(node, kind="service", label=f"{port}/{protocol} {shown}" if shown else f"{port}/{protocol}",
               host_id=host, host_label=G.nodes[host]["label"], port=port, protocol=protocol, inferred=inferred,
               **{k: attrs.get(k) for k in ("name", "product", "version", "category", "process")})
    G.add_edge(host, node, key="runs", kind="runs")
    return node


def _add_external(G: nx.MultiDiGraph, node: str, address: str | None = None) -> str:
    if node not in G:
        address = address or node.removeprefix(EXTERNAL_PREFIX)
        G.add_node(node, kind="external", label=address, address=address)
    return node


def _add_dependency(G: nx.MultiDiGraph, d: dict) -> None:
    source_host, target_host = d["source_host_id"], d["target_host_id"]
    protocol, port, process = d["protocol"], d["target_port"], d.get("source_process")
    if source_host.startswith(EXTERNAL_PREFIX):
        source = _add_external(G, source_host)
    elif process:
        _ensure_host(G, source_host)
        source = f"{source_host}/proc/{process}"
        if source not in G:
            G.add_node(source, kind="process", label=f"{process} on {G.nodes[source_host]['label']}",
                       host_id=source_host, name=process)
            G.add_edge(source_host, source, key="runs", kind="runs")
    else:
        source = _ensure_host(G, source_host)
    if target_host.startswith(EXTERNAL_PREFIX):
        target = _add_external(G, target_host)
        category = d.get("target_category")
    else:
        target = d.get("target_service_id") or service_id(target_host, protocol, port)
        if target not in G:
            _add_service(G, target, target_host, protocol, port, inferred=True, product=d.get("target_product"),
                         category=d.get("target_category"), process=d.get("target_process"))
        category = G.nodes[target].get("category") or d.get("target_category")
    shared = d.get("shared_infrastructure")
    key = d.get("id") or "dep:" + "|".join(str(p) for p in (source_host, process or "", target_host, protocol, port))
    G.add_edge(source, target, key=key, kind="depends_on", id=key, source_host=source_host, target_host=target_host,
               source_process=process, target_service_id=None if target.startswith(EXTERNAL_PREFIX) else target,
               protocol=protocol, port=port, connections=d.get("connections") or 0,
               first_seen=d.get("first_seen"), last_seen=d.get("last_seen"), samples=d.get("samples"),
               evidence=d.get("evidence"), observed_by=tuple(d.get("observed_by") or ()),
               shared_infrastructure=bool(shared if shared is not None else category in SHARED_CATEGORIES),
               loopback=bool(d.get("loopback")) or source_host == target_host, external=bool(d.get("external")))


def host_graph(G: nx.MultiDiGraph) -> nx.DiGraph:
    """Return the host view: host and external nodes, one edge per (client host → server host) pair.

    Edge attributes: ``count`` (dependencies behind it), ``connections`` (their sum), ``ports`` and
    ``protocols`` (sorted tuples), ``shared`` (True when every dependency behind it targets shared
    infrastructure: DNS, directory, NTP, agent polls...), ``shared_count`` and ``dependencies`` (the
    depends_on edges' attribute dicts of G, not copies). Loopback dependencies make no self-loop.
    """
    H = nx.DiGraph()
    H.add_nodes_from((n, d) for n, d in G.nodes(data=True) if d["kind"] in ("host", "external"))
    with paused_gc():
        pairs: dict[tuple[str, str], list[dict]] = {}
        for _, nbrs in G.adjacency():  # plain dicts: much faster than the views at this size
            for keyed in nbrs.values():
                for d in keyed.values():
                    if d["kind"] == "depends_on" and d["source_host"] != d["target_host"]:
                        pairs.setdefault((d["source_host"], d["target_host"]), []).append(d)
        _add_host_edges(H, pairs)
    return H


def _add_host_edges(H: nx.DiGraph, pairs: dict[tuple[str, str], list[dict]]) -> None:
    for (u, v), deps in pairs.items():
        shared_count = sum(1 for d in deps if d["shared_infrastructure"])
        H.add_edge(u, v, count=len(deps), connections=sum(d["connections"] for d in deps),
                   ports=tuple(sorted({d["port"] for d in deps if d["port"] is not None})),
                   protocols=tuple(sorted({d["protocol"] for d in deps})),
                   shared=shared_count == len(deps), shared_count=shared_count, dependencies=deps)


def host_of(G: nx.MultiDiGraph, node: str) -> str:
    """Return the host (or external) id a node belongs to: itself for hosts and externals."""
    data = G.nodes[node]
    return data.get("host_id") or node
