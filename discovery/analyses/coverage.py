"""Coverage: which sources saw each host, how deep that inventory goes, and where the blind spots are.

The depth ladder, shallowest first (discovery.records.model.COVERAGE_DEPTHS). Each level is read from what the
inventory holds about the host, not from which tool ran:

- **seen**: the host is in the inventory (it answered, announced itself or was seen on the wire).
- **ports**: at least one open or listening service on it (a network scan, a capture, the host's own listeners,
  a database server). A host nmap found with every port closed stays at *seen*: nothing is known of what it runs.
- **os**: its operating system is named (`os_name` or `os_family`): reported by the host or its agent, or nmap's
  guess.
- **hardware**: the machine itself is described: processor, memory, disks, serial number or hardware UUID (the
  host itself, its collector, or SNMP's HOST-RESOURCES and ENTITY MIBs). A maker read from a MAC prefix or a
  platform announced over LLDP/CDP is not a hardware inventory.
- **software**: installed packages (dpkg, rpm, the Windows registry, HOST-RESOURCES' installed software).
- **sockets**: its own socket table was read, so its dependencies are observed on the host rather than inferred
  from the other end. This host (`scan host`), SSH and a collector bundle always read it, with the processes
  that own the sockets (SOCKET_SOURCES); SNMP does when the agent answered TCP-MIB or UDP-MIB with a listener
  or a connection: those are the host's own sockets, usually without processes, so they count. A passive
  capture does not count: it sees only the flows that crossed the capture point while it listened, from
  outside the host, without processes; nor does a database server's client list (the server reports who is
  connected to it, not what its clients depend on).

A host's `depth` is the deepest level reached; `levels` lists every level present, since they need not be
contiguous (an SNMP switch can have sockets and no software). A *deep* inventory is depth software or sockets.
*Blind spots* are the hosts below sockets, ranked by how many dependencies touch them (either end; a host's
dependencies on itself are not counted), then shallowest first; each says which scan would close the gap
(`gap_hint`). Pure functions on the inventory dict (discovery.inventory.build); build_inventory puts each host's
coverage on its row (`coverage_depth`, `coverage_levels`, `coverage_sources`) and the estate's figures in
`coverage_summary`; `estatemap analyze` stores the summary with its results.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable

from discovery.records.mac_vendors import medical_maker
from discovery.records.model import COVERAGE_DEPTHS, OPEN_STATES

# Sources that read a host's own sockets whenever they see it (nmap sees only from outside).
SOCKET_SOURCES = frozenset(("local", "ssh", "bundle"))
# How people call each source (a host's `sources` and `coverage_sources` hold the keys).
SOURCE_LABELS = {
    "nmap": "network scan (nmap)", "local": "this host", "ssh": "SSH", "bundle": "collector bundle",
    "postgresql": "database server (PostgreSQL)", "mysql": "database server (MySQL/MariaDB)", "snmp": "SNMP",
    "passive": "passive capture", "vcenter": "VMware vCenter",
}
# Host fields that describe the machine itself (not a maker guessed from a MAC prefix or an LLDP platform).
HARDWARE_FIELDS = ("cpu_model", "cpu_cores", "cpu_logical_cores", "cpu_mhz", "memory_bytes", "disks", "serial",
                   "hardware_uuid")
DEEP_FROM = "software"  # a deep inventory: this level or deeper
SOCKETS = COVERAGE_DEPTHS[-1]
_RANK = {level: i for i, level in enumerate(COVERAGE_DEPTHS)}
_WINDOWS_PORTS = {("tcp", 3389), ("tcp", 5985), ("tcp", 5986), ("tcp", 135)}


def depth_rank(depth: str | None) -> int:
    """Return a depth's place on the ladder (seen 0 ... sockets 5); -1 for None or an unknown word."""
    return _RANK.get(depth, -1) if depth is not None else -1


def host_levels(host: dict, *, ports: bool, software: bool, sockets: bool) -> tuple[str, ...]:
    """Return the levels present for one host row, shallowest first (always starting with "seen").

    `ports`: it has an open or listening service; `software`: installed packages are known; `sockets`: a source
    read its own socket table."""
    present = {
        "seen": True,
        "ports": ports,
        "os": bool(host.get("os_name") or host.get("os_family")),
        "hardware": any(host.get(f) not in (None, "", [], ()) for f in HARDWARE_FIELDS),
        "software": software,
        "sockets": sockets,
    }
    return tuple(level for level in COVERAGE_DEPTHS if present[level])


def assess_hosts(inventory: dict, observed_sources: dict[str, set[str]],
                 socket_reads: dict[str, set[str]]) -> dict[str, dict]:
    """Return {host id: {"depth", "levels", "sources"}} for every host of the inventory.

    `observed_sources`: host id -> the sources whose observations make this inventory (nmap, local, ssh, bundle,
    postgresql, mysql, snmp, passive); `socket_reads`: host id -> the sources that read its own socket table
    (build_inventory finds them: SOCKET_SOURCES always, SNMP when its rows hold a listener or an observed connection).
    """
    with_ports = {s["host_id"] for s in inventory.get("services") or () if s.get("state") in OPEN_STATES}
    with_software = {s["host_id"] for s in inventory.get("software") or ()}
    result = {}
    for host in inventory.get("hosts") or ():
        hid = host["id"]
        levels = host_levels(host, ports=hid in with_ports, software=hid in with_software,
                             sockets=bool(socket_reads.get(hid)))
        result[hid] = {"depth": levels[-1], "levels": list(levels), "sources": sorted(observed_sources.get(hid, ()))}
    return result


def dependency_counts(dependencies: Iterable[dict]) -> Counter:
    """Return host id -> how many dependencies touch it (either end); a dependency on itself is not counted."""
    counts: Counter = Counter()
    for d in dependencies:
        source, target = d.get("source_host_id"), d.get("target_host_id")
        if source == target:
            continue
        counts.update(h for h in (source, target) if h is not None)
    return counts


def _target(host: dict) -> str:
    """Return what to put on a command line for this host: its first IP address, else ADDRESS."""
    for address in host.get("addresses") or ():
        try:
            return str(ipaddress.ip_address(address))
        except ValueError:
            continue
    return "ADDRESS"


def gap_hint(host: dict, services: Iterable[dict], sources: Iterable[str]) -> str:
    """Return the scan that would read this host's own sockets, judged from what is known of it.

    In order: a VM vCenter says is powered off, or an ESXi host -> what can and cannot be read of it; SSH answers
    on a host that is not Windows -> scan ssh; Windows (named, or RDP, WinRM or MSRPC
    answering) -> the offline collector; an SNMP agent -> scan snmp (or, if it already answered without TCP-MIB,
    the collector or a capture); no network scan yet, and not a medical device by its MAC's maker (clinical
    devices can be fragile) -> scan network first, whose ports and OS tell which of these can read it;
    otherwise a passive capture of its traffic (its connections on the wire, not its sockets), or the collector
    if it is a computer someone manages."""
    target = _target(host)
    answering = [s for s in services if s.get("state") in OPEN_STATES]
    ports = {(s.get("protocol"), s.get("port")) for s in answering}
    names = {s.get("name") for s in answering}
    sources = set(sources)
    windows = (host.get("os_family") or "").lower() == "windows" or bool(ports & _WINDOWS_PORTS)
    collector = "run estatemap collect on it (or the stand-alone collector) and estatemap import the bundle"
    passive = ("watch its traffic with estatemap scan passive on a mirror of its switch port (its connections "
               "on the wire, not its sockets)")
    if (host.get("status_reason") or "").startswith("vcenter: poweredOff"):
        return ("powered off in vCenter: nothing reads its sockets until it runs; vCenter's view (CPUs, memory, "
                "disks, guest OS) is what there is, and a powered-off VM may simply be retired")
    if (host.get("os_family") or "").lower() == "esxi":
        return (f"an ESXi host: scan vcenter reads its inventory and VMs; its own connections are vCenter's and "
                f"its VMs' (its shell is off by default), so {passive}")
    if not windows and (("tcp", 22) in ports or "ssh" in names):
        return f"estatemap scan ssh {target}: SSH answers, so its sockets, processes and packages can be read"
    if windows:
        return f"{collector}: a Windows host, whose sockets, processes and packages the collector reads"
    if "snmp" in sources:
        return f"its SNMP agent answered without TCP-MIB or UDP-MIB connections: {collector}, or {passive}"
    if ("udp", 161) in ports or "snmp" in names:
        return (f"estatemap scan snmp {target}: its agent's TCP-MIB lists its connections (usually without "
                "processes)")
    medical = bool(host.get("mac_vendor") and medical_maker(host["mac_vendor"]))
    if "nmap" not in sources and not medical:
        return (f"estatemap scan network {target} first: its ports and OS tell whether SSH, SNMP or the collector "
                "can read it")
    if medical:
        return f"a medical device (by its MAC's maker): {passive}"
    return f"{passive}; or, if it is a computer someone manages, {collector}"


def blind_spots(inventory: dict) -> list[dict]:
    """Return the hosts below the sockets level, most dependencies first (then shallowest, then by name):
    [{"host_id", "hostname", "address" (its first), "depth", "sources", "dependencies", "hint"}]. Reads the
    coverage keys build_inventory put on the host rows."""
    counts = dependency_counts(inventory.get("dependencies") or ())
    services: dict[str, list[dict]] = {}
    for s in inventory.get("services") or ():
        services.setdefault(s["host_id"], []).append(s)
    spots = []
    for host in inventory.get("hosts") or ():
        depth = host.get("coverage_depth")
        if depth == SOCKETS:
            continue
        sources = host.get("coverage_sources") or []
        spots.append({"host_id": host["id"], "hostname": host.get("hostname"),
                      "address": next(iter(host.get("addresses") or ()), None), "depth": depth,
                      "sources": list(sources), "dependencies": counts[host["id"]],
                      "hint": gap_hint(host, services.get(host["id"], ()), sources)})
    spots.sort(key=lambda s: (-s["dependencies"], depth_rank(s["depth"]), (s["hostname"] or "").casefold(),
                              s["host_id"]))
    return spots


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarize_coverage(inventory: dict) -> dict:
    """Return the estate's coverage: {"hosts", "by_depth" (every level, shallowest first), "by_source",
    "deep_hosts", "deep_share", "sockets_hosts", "sockets_share", "blind_spots"}. Shares are 0-1, rounded to four
    places, None for an empty inventory."""
    hosts = inventory.get("hosts") or []
    depths = Counter(h.get("coverage_depth") for h in hosts)
    deep = sum(n for d, n in depths.items() if depth_rank(d) >= _RANK[DEEP_FROM])
    sockets = depths[SOCKETS]
    by_source = Counter(s for h in hosts for s in h.get("coverage_sources") or ())
    return {
        "hosts": len(hosts),
        "by_depth": {level: depths[level] for level in COVERAGE_DEPTHS},
        "by_source": dict(sorted(by_source.items(), key=lambda kv: (-kv[1], kv[0]))),
        "deep_hosts": deep, "deep_share": _share(deep, len(hosts)),
        "sockets_hosts": sockets, "sockets_share": _share(sockets, len(hosts)),
        "blind_spots": blind_spots(inventory),
    }


def coverage_gaps(inventory: dict, spots: list[dict] | None = None) -> list[dict]:
    """Return the inventory's top-level `coverage` list (its shape is a contract): one entry per host whose own
    sockets nobody read, in host order: {"host_id", "hostname", "gap", "sources", "hint"}. `spots`: the
    inventory's blind_spots, when already made."""
    spots = {s["host_id"]: s for s in (blind_spots(inventory) if spots is None else spots)}
    return [{"host_id": h["id"], "hostname": h.get("hostname"), "gap": "no sockets collected",
             "sources": spots[h["id"]]["sources"], "hint": spots[h["id"]]["hint"]}
            for h in inventory.get("hosts") or () if h["id"] in spots]


def coverage_rows(inventory: dict) -> list[dict]:
    """Return one row per host for the exports' coverage table: the blind spots first, in their ranking, then the
    hosts whose sockets were read, most dependencies first: [{"host_id", "hostname", "depth", "levels", "sources",
    "dependencies", "blind_spot", "hint"}]."""
    summary = inventory.get("coverage_summary")
    spots = summary["blind_spots"] if summary else blind_spots(inventory)
    ranked = {s["host_id"]: i for i, s in enumerate(spots)}
    hints = {s["host_id"]: s["hint"] for s in spots}
    counts = dependency_counts(inventory.get("dependencies") or ())
    rows = [{"host_id": h["id"], "hostname": h.get("hostname"), "depth": h.get("coverage_depth"),
             "levels": list(h.get("coverage_levels") or ()), "sources": list(h.get("coverage_sources") or ()),
             "dependencies": counts[h["id"]], "blind_spot": h["id"] in ranked, "hint": hints.get(h["id"])}
            for h in inventory.get("hosts") or ()]
    rows.sort(key=lambda r: (0, ranked[r["host_id"]], "") if r["blind_spot"] else
              (1, -r["dependencies"], (r["hostname"] or "").casefold() + "\0" + r["host_id"]))
    return rows
