"""Identity: which stored host a new observation is, and why.

One real machine is one Host however many sources saw it. Strong keys first (hardware UUID,
serial, MAC), then addresses. Never hostname or machine-id alone: cloned VMs share them.
An address match is refused when both sides have MACs and none is shared (the address
has moved to another machine). The reason for every match is kept with the observation.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from discovery.records.model import Host

# Key kinds in the order they are trusted.
STRONG_KINDS = ("uuid", "serial", "mac")
KINDS = STRONG_KINDS + ("address",)

_JUNK_SERIALS = {
    "", "0", "none", "null", "n/a", "na", "unknown", "default string", "not specified",
    "to be filled by o.e.m.", "system serial number", "chassis serial number", "123456789",
    "0123456789", "not applicable", "invalid",
}
_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
# MACs that many machines share: VRRP/HSRP virtual routers, broadcast, all-zero.
_SHARED_MAC_PREFIXES = ("00:00:5e:00:01", "00:00:5e:00:02", "00:00:0c:07:ac", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00")


@dataclass(frozen=True, slots=True)
class Match:
    host_id: str
    kind: str       # which key matched: "uuid", "serial", "mac", "address"
    value: str

    @property
    def reason(self) -> str:
        return f"{self.kind} {self.value}"


def normalise_mac(mac: str | None) -> str | None:
    """Return a MAC as lower-case colon-separated hex, or None if it is not a usable, unique MAC."""
    if not mac:
        return None
    mac = mac.strip().lower().replace("-", ":")
    if _MAC.match(mac) is None or mac.startswith(_SHARED_MAC_PREFIXES):
        return None
    return mac


def normalise_serial(serial: str | None) -> str | None:
    """Return a serial or UUID fit to identify a machine, or None for placeholders and all-zero values."""
    if not serial:
        return None
    value = serial.strip().lower()
    if value in _JUNK_SERIALS or set(value) <= {"0", "-", " "} or set(value) <= {"f", "-", " "}:
        return None
    return value


def normalise_address(address: str | None) -> str | None:
    """Return a unicast, routable-or-private IP address in canonical form, or None for loopback, link-local and the like."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0].split("/", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        return None
    return str(ip)


def identity_keys(host: Host) -> list[tuple[str, str]]:
    """Return the (kind, value) keys that identify `host`, most trusted first, without duplicates."""
    keys: list[tuple[str, str]] = []
    if uuid := normalise_serial(host.hardware_uuid):
        keys.append(("uuid", uuid))
    if serial := normalise_serial(host.serial):
        keys.append(("serial", serial))
    keys += [("mac", m) for m in dict.fromkeys(filter(None, map(normalise_mac, host.macs)))]
    keys += [("address", a) for a in dict.fromkeys(filter(None, map(normalise_address, host.addresses)))]
    return keys


def uuid_forms(uuid: str) -> set[str]:
    """Return a hardware UUID as written and with its first three fields byte-swapped: SMBIOS 2.6 stores them
    little-endian, and tools (and VMware's config.uuid against a guest's DMI) disagree on which way to read them."""
    parts = uuid.split("-")
    if len(parts) != 5 or [len(p) for p in parts] != [8, 4, 4, 4, 12]:
        return {uuid}
    swap = ["".join(reversed([p[i:i + 2] for i in range(0, len(p), 2)])) for p in parts[:3]]
    return {uuid, "-".join(swap + parts[3:])}


def find_match(host: Host, lookup: Callable[[str, str], Iterable[str]],
               macs_of: Callable[[str], set[str]],
               uuids_of: Callable[[list[str]], dict[str, set[str]]] | None = None) -> Match | None:
    """Return the stored host `host` is, or None for a new machine.

    `lookup(kind, value)` gives the ids of stored hosts holding that key; `macs_of(id)` their MACs; `uuids_of(ids)`
    the hardware UUIDs of those that have any (one call per key): a serial, MAC or address match is refused when
    both sides have a hardware UUID and they differ (two VMs cloned with one MAC, blades sharing a chassis serial).
    """
    keys = identity_keys(host)
    own_uuids = set().union(*(uuid_forms(value) for kind, value in keys if kind == "uuid"))

    def same_machine(kind: str, host_ids: Iterable[str]) -> list[str]:
        host_ids = list(host_ids)
        if kind == "uuid" or not own_uuids or uuids_of is None or not host_ids:
            return host_ids
        theirs = uuids_of(host_ids)
        return [h for h in host_ids if not theirs.get(h) or own_uuids & theirs[h]]

    for kind, value in keys:
        if kind in STRONG_KINDS:
            for host_id in same_machine(kind, lookup(kind, value)):
                return Match(host_id, kind, value)
    own_macs = {value for kind, value in keys if kind == "mac"}
    for kind, value in keys:
        if kind != "address":
            continue
        for host_id in same_machine(kind, lookup(kind, value)):
            their_macs = macs_of(host_id)
            if own_macs and their_macs and not own_macs & their_macs:
                continue  # the address now belongs to another machine
            return Match(host_id, kind, value)
    return None
