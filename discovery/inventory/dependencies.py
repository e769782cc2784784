"""Dependency mapping: connections turned client → server, resolved to hosts and services, aggregated
into dependencies, with what could not be seen said too.

Every connection is resolved to its listening side (target host and service) even when only the
client end was collected; the client keeps its process name. Loopback traffic is kept and marked.
A peer outside the inventory becomes an `external:<address>` endpoint. Each dependency says how it
is known: `observed` (a socket seen on a host), `reported` (a server's own client list) or
`inferred` (the direction guessed from port numbers). Pure functions on store rows (plain dicts),
so they can be tested and measured without a store.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from discovery.storage.merge import normalise_address
from discovery.records.model import service_id

EPHEMERAL_START = 32768  # Linux's default; Windows starts at 49152
# Noise filters, each on by default and switchable.
FILTERS = ("ephemeral", "collector-ssh", "scanner")
SHARED_CATEGORIES = ("infrastructure", "directory")
# How an edge is known, strongest first: a socket on the host, the traffic on the wire (passive capture), a
# server's client list, a guess from port numbers. An edge known several ways keeps the strongest as `evidence`
# and all of them in `evidences`.
_EVIDENCE_RANK = {"observed": 0, "observed-on-wire": 1, "reported": 2, "inferred": 3}


@dataclass
class ResolutionStats:
    connections_in: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@functools.lru_cache(maxsize=1 << 16)
def _classify(address: str | None) -> tuple[str | None, bool]:
    """Return (the address as an identity key, whether it is loopback); cached: estates repeat addresses."""
    try:
        loopback = address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = False
    return normalise_address(address), loopback


def _is_loopback(address: str | None) -> bool:
    return _classify(address)[1]


def build_address_index(hosts: Iterable[dict]) -> dict[str, str | None]:
    """Return address → host id; an address two hosts claim maps to None (ambiguous, not guessed)."""
    index: dict[str, str | None] = {}
    for host in hosts:
        for address in host.get("addresses") or ():
            key = normalise_address(address)
            if key is None:
                continue
            index[key] = host["id"] if index.get(key, host["id"]) == host["id"] else None
    return index


def parse_ssh_sessions(evidence: Iterable[dict]) -> set[tuple[str, str, int]]:
    """Return (host id, client address, client port) of each collector's own SSH session.

    Read from evidence rows named "ssh-session" whose text is "<client address> <client port> <server port>".
    """
    sessions = set()
    for row in evidence:
        parts = (row.get("text") or "").split()
        if row.get("name") == "ssh-session" and len(parts) >= 2 and parts[1].isdigit():
            sessions.add((row["host_id"], parts[0], int(parts[1])))
    return sessions


def resolve_connections(rows: Iterable[dict], hosts: list[dict], services: list[dict], *,
                        ssh_sessions: set[tuple[str, str, int]] = frozenset(), scanner_addresses: Iterable[str] = (),
                        filters: Iterable[str] = FILTERS, stats: ResolutionStats | None = None) -> list[dict]:
    """Return the connections client → server, both ends of one connection merged into one row.

    Filters: "ephemeral" drops port-to-port pairs nobody listens on; "collector-ssh" drops our own SSH
    sessions; "scanner" drops connections from the addresses network scans ran from (nmap's probes
    linger as TIME_WAIT on the targets) unless the client's own side names a process.
    """
    filters = set(filters)
    stats = stats if stats is not None else ResolutionStats()
    by_address = build_address_index(hosts)
    own_addresses = {h["id"]: {normalise_address(a) for a in h.get("addresses") or ()} for h in hosts}
    listening = {(s["host_id"], s["protocol"], s["port"]) for s in services}

    def host_of(address: str, observer: str) -> str | None:
        key, loopback = _classify(address)
        if loopback:
            return observer
        if key in own_addresses.get(observer, ()):
            return observer
        return by_address.get(key)

    merged: dict[tuple, dict] = {}
    for c in rows:
        stats.connections_in += 1
        observer = c["host_id"]
        local = (c["local_address"], c["local_port"], observer, c["process"])
        remote_host = host_of(c["remote_address"], observer)
        remote = (c["remote_address"], c["remote_port"], remote_host, c.get("remote_process"))
        evidence = c.get("evidence") or "observed"
        direction = c.get("direction") or "unknown"
        if direction == "unknown":  # guess: the side whose port someone listens on, else the lower port
            remote_listens = (remote_host, c["protocol"], c["remote_port"]) in listening
            local_listens = (observer, c["protocol"], c["local_port"]) in listening
            direction = ("outbound" if remote_listens or not local_listens and c["remote_port"] < c["local_port"]
                         else "inbound")
            if not (remote_listens or local_listens):
                evidence = "inferred"
        client, server = (remote, local) if direction == "inbound" else (local, remote)
        if "collector-ssh" in filters and direction == "inbound" and (observer, client[0], client[1]) in ssh_sessions:
            stats.dropped["collector-ssh"] += 1
            continue
        server_service = (server[2], c["protocol"], server[1]) in listening
        if "ephemeral" in filters and not server_service and min(client[1], server[1]) >= EPHEMERAL_START:
            stats.dropped["ephemeral"] += 1
            continue
        key = (c["protocol"], client[0], client[1], server[0], server[1])
        row = merged.get(key)
        if row is None:
            merged[key] = row = {
                "source_host_id": client[2], "source_address": client[0], "source_port": client[1],
                "source_process": client[3],
                "target_host_id": server[2], "target_address": server[0], "target_port": server[1],
                "target_service_id": service_id(server[2], c["protocol"], server[1]) if server_service else None,
                "state": c.get("state"), "observed_by": set(), "protocol": c["protocol"],
                "target_process": server[3], "observed_at": c["observed_at"], "evidence": evidence,
                "first_seen": c.get("first_seen") or c["observed_at"], "last_seen": c.get("last_seen") or c["observed_at"],
                "samples": c.get("samples") or 1, "loopback": _is_loopback(server[0]) or client[2] == server[2],
                "external": client[2] is None or server[2] is None, "evidences": set(),
                "packets": c.get("packets"), "bytes": c.get("bytes"),
            }
        else:
            for name, value in (("source_process", client[3]), ("target_process", server[3]),
                                ("state", c.get("state"))):
                row[name] = row[name] or value
            row["evidence"] = min(row["evidence"], evidence, key=_EVIDENCE_RANK.get)
            row["first_seen"] = min(row["first_seen"], c.get("first_seen") or c["observed_at"])
            row["last_seen"] = max(row["last_seen"], c.get("last_seen") or c["observed_at"])
            row["samples"] = max(row["samples"], c.get("samples") or 1)
            for name in ("packets", "bytes"):  # the wire's count, where a capture saw it
                row[name] = max(filter(None, (row[name], c.get(name))), default=None)
        row["observed_by"].add(c["source"])
        row["evidences"].add(evidence)
    scanners = {normalise_address(a) for a in scanner_addresses} - {None} if "scanner" in filters else set()
    rows_out = []
    for row in merged.values():
        if scanners and row["source_process"] is None and normalise_address(row["source_address"]) in scanners:
            stats.dropped["scanner"] += 1
            continue
        row["observed_by"] = sorted(row["observed_by"])
        row["evidences"] = sorted(row["evidences"], key=_EVIDENCE_RANK.get)
        rows_out.append(row)
    return rows_out


def endpoint(host_id: str | None, address: str) -> str:
    """Return the graph node of one end: its host id, or `external:<address>` for a peer outside the inventory."""
    return host_id if host_id is not None else f"external:{address}"


def aggregate_dependencies(connections: Iterable[dict], services: list[dict]) -> list[dict]:
    """Return dependencies: connections grouped by client host and process → server host, port and protocol.

    Connections seen only from the server's side (no client process) join the client host's
    dependency on the same service when the client's side names a process for it.
    """
    by_service = {s["id"]: s for s in services}
    groups: dict[tuple, dict] = {}
    for c in connections:
        source = endpoint(c["source_host_id"], c["source_address"])
        target = endpoint(c["target_host_id"], c["target_address"])
        key = (source, target, c["protocol"], c["target_port"], c["source_process"])
        dep = groups.get(key)
        if dep is None:
            groups[key] = dep = {
                "source_host_id": source, "source_process": c["source_process"], "target_host_id": target,
                "target_service_id": c["target_service_id"], "target_port": c["target_port"],
                "protocol": c["protocol"], "connections": 0, "evidence": c["evidence"],
                "first_seen": c["first_seen"], "last_seen": c["last_seen"], "samples": 0,
                "observed_by": set(), "target_process": c["target_process"], "loopback": c["loopback"],
                "external": c["external"], "evidences": set(),
            }
        dep["connections"] += 1
        dep["samples"] = max(dep["samples"], c["samples"])
        dep["evidence"] = min(dep["evidence"], c["evidence"], key=_EVIDENCE_RANK.get)
        dep["first_seen"] = min(dep["first_seen"], c["first_seen"])
        dep["last_seen"] = max(dep["last_seen"], c["last_seen"])
        dep["observed_by"].update(c["observed_by"])
        dep["evidences"].update(c.get("evidences") or (c["evidence"],))
        dep["target_process"] = dep["target_process"] or c["target_process"]
        dep["target_service_id"] = dep["target_service_id"] or c["target_service_id"]
    # Fold server-side-only sightings (no client process) into the client's named dependency on it.
    named = defaultdict(list)
    for key, dep in groups.items():
        if key[4] is not None:
            named[key[:4]].append(key)
    for key in [k for k in groups if k[4] is None and named.get(k[:4])]:
        lost = groups.pop(key)
        keeper = groups[named[key[:4]][0]]
        keeper["connections"] += lost["connections"]
        keeper["observed_by"] |= lost["observed_by"]
        keeper["evidences"] |= lost["evidences"]
        keeper["target_process"] = keeper["target_process"] or lost["target_process"]
        keeper["first_seen"] = min(keeper["first_seen"], lost["first_seen"])
        keeper["last_seen"] = max(keeper["last_seen"], lost["last_seen"])
        keeper["samples"] = max(keeper["samples"], lost["samples"])
    result = []
    for dep in groups.values():
        dep["observed_by"] = sorted(dep["observed_by"])
        dep["evidences"] = sorted(dep["evidences"], key=_EVIDENCE_RANK.get)
        service = by_service.get(dep["target_service_id"]) or {}
        dep["target_product"] = service.get("product")
        dep["target_category"] = service.get("category")
        dep["shared_infrastructure"] = service.get("category") in SHARED_CATEGORIES
        dep["id"] = "dep:" + "|".join(str(part) for part in (dep["source_host_id"], dep["source_process"] or "",
                                                              dep["target_host_id"], dep["protocol"],
                                                              dep["target_port"]))
        result.append(dep)
    result.sort(key=lambda d: d["id"])
    return result


def external_endpoints(connections: Iterable[dict]) -> list[dict]:
    """Return the peers outside the inventory: address, the ports used towards them, the hosts that talk to them."""
    seen: dict[str, dict] = {}
    for c in connections:
        for side, other in (("source", "target"), ("target", "source")):
            if c[f"{side}_host_id"] is None:
                address = c[f"{side}_address"]
                entry = seen.setdefault(address, {"id": f"external:{address}", "address": address,
                                                  "ports": set(), "peer_host_ids": set()})
                if side == "target":
                    entry["ports"].add(c["target_port"])
                if c[f"{other}_host_id"]:
                    entry["peer_host_ids"].add(c[f"{other}_host_id"])
    return [{**e, "ports": sorted(e["ports"]), "peer_host_ids": sorted(e["peer_host_ids"])}
            for _, e in sorted(seen.items())]

