"""The layer-2 map: which device is cabled to which switch port, and which switch port each known host sits
behind, from what switches reported (Neighbour rows: LLDP, CDP, forwarding tables) and every host the store knows.

Resolved when the inventory is built, not when the switch was scanned: a MAC in a forwarding table becomes a
host as soon as any scan (nmap's ARP, a collector's interfaces) has seen that MAC.

A forwarding table lists every MAC a port has learned, so an uplink carries the MACs of every machine behind
the next switch. A host is placed on the port that says most about where it is: not a port whose LLDP/CDP
neighbour is another switch we scanned (an uplink), and among the rest the one that learned fewest MACs.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from discovery.storage.merge import normalise_address, normalise_mac

LINK_FIELDS = ("source_host_id", "source_port", "target_host_id", "target_port", "protocol", "source")
LINK_EXTRA_FIELDS = ("protocols", "target_name", "target_mac", "target_address", "target_description", "vlan",
                     "observed_at")
PROTOCOL_NAMES = {"lldp": "LLDP", "cdp": "CDP", "fdb": "forwarding table"}
_CDP_NAME = re.compile(r"^(?P<a>[^()]+)\((?P<b>[^()]+)\)$")  # "hostname(serial)" or "serial(hostname)"


class _Directory:
    """Which stored host a MAC, an address or a name belongs to (only when exactly one does)."""

    def __init__(self, hosts: list[dict], interfaces: Iterable[dict]):
        owners: dict[tuple[str, str], set[str]] = defaultdict(set)
        for host in hosts:
            for mac in host.get("macs") or ():
                if key := normalise_mac(mac):
                    owners["mac", key].add(host["id"])
            for address in host.get("addresses") or ():
                if key := normalise_address(address):
                    owners["address", key].add(host["id"])
            for name in (host.get("hostname"), host.get("fqdn"), *(host.get("hostnames") or ())):
                if isinstance(name, str) and name.strip():
                    owners["name", name.strip().lower().rstrip(".")].add(host["id"])
                    owners["name", name.strip().lower().split(".")[0]].add(host["id"])
        for interface in interfaces:
            if interface.get("host_id") and (key := normalise_mac(interface.get("mac"))):
                owners["mac", key].add(interface["host_id"])
        self.owners = {key: next(iter(ids)) for key, ids in owners.items() if len(ids) == 1}

    def mac(self, mac: str | None) -> str | None:
        key = normalise_mac(mac)
        return self.owners.get(("mac", key)) if key else None

    def host_of(self, row: dict) -> str | None:
        """The stored host a neighbour row names: by MAC, then management address, then name."""
        if found := self.mac(row.get("remote_mac")):
            return found
        if (address := normalise_address(row.get("remote_address"))) and ("address", address) in self.owners:
            return self.owners["address", address]
        for name in _names(row.get("remote_name")):
            if ("name", name) in self.owners:
                return self.owners["name", name]
        return None


def _names(name: str | None) -> list[str]:
    """The names a neighbour may go by: as given, its first label, and each part of CDP's "a(b)" form."""
    if not name:
        return []
    name = name.strip().lower().rstrip(".")
    found = [name, name.split(".")[0]]
    if match := _CDP_NAME.match(name):
        found += [match["a"], match["a"].split(".")[0], match["b"], match["b"].split(".")[0]]
    return list(dict.fromkeys(found))


def layer2_links(neighbours: Iterable[dict], hosts: list[dict], interfaces: Iterable[dict]) -> list[dict]:
    """Return the layer-2 links (the JSON export's `l2_links`): one per cable LLDP/CDP saw (both switches'
    reports of one cable are one link) and one per known host MAC, placed on its access port."""
    directory = _Directory(hosts, interfaces)
    rows = list(neighbours)
    reporters = {r["host_id"] for r in rows}
    announced = [r for r in rows if r["protocol"] in ("lldp", "cdp")]
    cables: dict[tuple[str, str], list[dict]] = defaultdict(list)  # per (switch, port)
    uplinks: set[tuple[str, str]] = set()
    for row in sorted(announced, key=lambda r: (r["protocol"] != "lldp", r["observed_at"])):
        target = directory.host_of(row)
        if target == row["host_id"]:
            continue
        port = (row["host_id"], row["local_port"])
        if target in reporters:
            uplinks.add(port)
        same = next((c for c in cables[port] if _same_neighbour(c, row, target)), None)
        if same is None:
            cables[port].append(_link(row, target, row.get("remote_port"), target_name=row.get("remote_name"),
                                      target_mac=row.get("remote_mac"), target_address=row.get("remote_address"),
                                      target_description=row.get("remote_description")))
            continue
        if row["protocol"] not in same["protocols"]:
            same["protocols"].append(row["protocol"])
        for key, value in (("target_host_id", target), ("target_port", row.get("remote_port")),
                           ("target_name", row.get("remote_name")), ("target_mac", row.get("remote_mac")),
                           ("target_address", row.get("remote_address")),
                           ("target_description", row.get("remote_description"))):
            same[key] = same[key] or value
    links = _one_per_cable([link for port in cables.values() for link in port])
    names = {h["id"]: _label(h) for h in hosts}
    cabled = {frozenset((k["source_host_id"], k["target_host_id"])) for k in links if k["target_host_id"]}
    placed = _placed_macs([r for r in rows if r["protocol"] == "fdb"], directory, uplinks, names)
    seen: set[tuple] = set()
    for link in placed:  # a host whose cable LLDP/CDP saw, or one MAC of it per port, is enough
        pair, key = frozenset((link["source_host_id"], link["target_host_id"])), (
            link["source_host_id"], link["source_port"], link["target_host_id"])
        if pair not in cabled and key not in seen:
            seen.add(key)
            links.append(link)
    return links


def _same_neighbour(link: dict, row: dict, target: str | None) -> bool:
    """Whether a neighbour row on a port is the device a link on that port already names: the same stored
    host, or (where either is unknown) a MAC, an address or a name in common. LLDP and CDP, or a device
    announcing itself twice, each name it their own way ("sw-a", "sw-a(FOC123)", its port's MAC)."""
    if target and link["target_host_id"]:
        return target == link["target_host_id"]
    mac = normalise_mac(row.get("remote_mac"))
    address = normalise_address(row.get("remote_address"))
    return bool(mac and mac == normalise_mac(link["target_mac"])
                or address and address == normalise_address(link["target_address"])
                or set(_names(row.get("remote_name"))) & set(_names(link["target_name"])))


def _label(host: dict) -> str:
    return host.get("hostname") or (host.get("addresses") or [host["id"]])[0]


def _link(row: dict, target: str | None, target_port: str | None, **extra) -> dict:
    return {"source_host_id": row["host_id"], "source_port": row["local_port"], "target_host_id": target,
            "target_port": target_port, "protocol": row["protocol"], "source": row["source"],
            "protocols": [row["protocol"]], "target_name": None, "target_mac": None, "target_address": None,
            "target_description": None, "vlan": row.get("vlan"), "observed_at": row["observed_at"], **extra}


def _one_per_cable(links: list[dict]) -> list[dict]:
    """Two scanned switches each report the cable between them: keep one link, with both ports."""
    kept: list[dict] = []
    for link in links:
        twin = next((k for k in kept if k["source_host_id"] == link["target_host_id"]
                     and k["target_host_id"] == link["source_host_id"]
                     and _same_port(k["target_port"], link["source_port"])
                     and _same_port(link["target_port"], k["source_port"])), None)
        if twin is None:
            kept.append(link)
            continue
        twin["target_port"] = link["source_port"] or twin["target_port"]  # its own name for its port
        twin["protocols"] += [p for p in link["protocols"] if p not in twin["protocols"]]
    return kept


_PORT = re.compile(r"^([a-z-]*)\s*(\d.*)$")


def _same_port(announced: str | None, own: str | None) -> bool:
    """Whether the port a neighbour announced is a switch's own port name: equal, unknown, or the same port
    abbreviated ("Eth1/19" is "Ethernet1/19", "Gi1/0/5" is "GigabitEthernet1/0/5")."""
    if announced is None or own is None or announced == own:
        return True
    a, b = _PORT.match(announced.strip().lower()), _PORT.match(own.strip().lower())
    return bool(a and b and a[2] == b[2] and (a[1].startswith(b[1]) or b[1].startswith(a[1])))


def _placed_macs(rows: list[dict], directory: _Directory, uplinks: set[tuple[str, str]],
                 names: dict[str, str]) -> list[dict]:
    """One link per known host MAC, from the port that learned it and says most (see the module docstring);
    between equally good ports, the switch first by name."""
    learned: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        learned[row["host_id"], row["local_port"]].add(row["remote_mac"])
    best: dict[str, tuple] = {}
    for row in rows:
        target = directory.mac(row["remote_mac"])
        if target is None or target == row["host_id"]:
            continue  # an unknown machine, or the switch's own MAC
        port = (row["host_id"], row["local_port"])
        rank = (port in uplinks, len(learned[port]), names.get(row["host_id"], ""), row["host_id"], row["local_port"])
        if row["remote_mac"] not in best or rank < best[row["remote_mac"]][0]:
            best[row["remote_mac"]] = (rank, row, target)
    return [_link(row, target, None, target_mac=row["remote_mac"])
            for _, row, target in sorted(best.values(), key=lambda b: (b[2], b[1]["remote_mac"]))]


def switch_ports(links: list[dict], hosts: list[dict]) -> dict[str, dict]:
    """Each host's switch and port: where LLDP/CDP saw it cabled, else where its MAC was learned.
    {host_id: {"switch_host_id", "switch", "switch_port"}}"""
    names = {h["id"]: _label(h) for h in hosts}
    found: dict[str, dict] = {}
    ordered = sorted(links, key=lambda k: (k["protocol"] == "fdb", names.get(k["source_host_id"], ""),
                                           k["source_port"] or ""))
    for link in ordered:
        target = link["target_host_id"]
        if target and target not in found:
            found[target] = {"switch_host_id": link["source_host_id"], "switch": names.get(link["source_host_id"]),
                             "switch_port": link["source_port"]}
    return found
