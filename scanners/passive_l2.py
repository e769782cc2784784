"""LLDP and CDP frames heard on a mirror port or a TAP: who announced itself (name, chassis MAC, management address,
system description, the port it sent from, what it is) and, where the capture shows one cable, that cable as a
layer-2 link — the same Neighbour rows the SNMP layer-2 map writes (discovery.inventory.layer2 resolves both).

An announcement says only its sender's side. A TAP, or a mirror of one link, hears the two ends of one cable; a
mirror of many ports hears many devices whose switch ports the frames do not say. So a link is drawn only when
exactly two devices announced themselves in the capture (both ends of the one cable it saw); otherwise each device
is kept with its announcement, and no cable is guessed. Own decoders (LLDP's and CDP's TLVs, a few lines each):
dpkt reads CDP but not LLDP, and both must be read with hostile lengths in mind.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterator

from discovery.records.model import Host, HostReport, Neighbour, ScriptResult

LLDP_TYPE = 0x88CC
CDP_DESTINATION = b"\x01\x00\x0c\xcc\xcc\xcc"
_SNAP_CDP = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00"
MAX_ANNOUNCERS = 4096        # devices kept (a mirror port hears one per device speaking LLDP/CDP)
MAX_TEXT = 255               # of a name, port or description
_LLDP_CAPABILITIES = {0x0001: "other", 0x0002: "repeater", 0x0004: "bridge", 0x0008: "wlan-access-point",
                      0x0010: "router", 0x0020: "telephone", 0x0040: "docsis", 0x0080: "station"}
_CDP_CAPABILITIES = {0x01: "router", 0x02: "bridge", 0x04: "source-route-bridge", 0x08: "switch", 0x10: "host",
                     0x20: "igmp", 0x40: "repeater", 0x80: "telephone"}


def _text(raw: bytes) -> str | None:
    text = raw[:MAX_TEXT].decode("utf-8", "replace").strip("\x00 \r\n\t")
    text = "".join(c if c.isprintable() else " " for c in text).strip()
    return text or None


def _mac(raw: bytes) -> str | None:
    return ":".join(f"{b:02x}" for b in raw) if len(raw) == 6 and any(raw) else None


def _ipv4(raw: bytes) -> str | None:
    return str(ipaddress.IPv4Address(raw)) if len(raw) == 4 else None


def _capabilities(bits: int, names: dict[int, str]) -> list[str]:
    return [name for bit, name in names.items() if bits & bit]


def _tlvs_lldp(data: bytes) -> Iterator[tuple[int, bytes]]:
    at = 0
    while at + 2 <= len(data):
        head = int.from_bytes(data[at:at + 2], "big")
        kind, length = head >> 9, head & 0x1FF
        value = data[at + 2:at + 2 + length]
        if kind == 0 or len(value) < length:
            return
        yield kind, value
        at += 2 + length


def lldp(payload: bytes) -> dict | None:
    """An LLDPDU (what follows the Ethernet header) as named fields; None when the chassis or port is missing."""
    found: dict = {"protocol": "lldp"}
    for kind, value in _tlvs_lldp(payload):
        if kind == 1 and len(value) > 1:    # chassis ID: subtype 4 is a MAC, 5 a network address, others text
            found["chassis"] = _mac(value[1:]) if value[0] == 4 else (
                _ipv4(value[2:]) if value[0] == 5 and value[1:2] == b"\x01" else _text(value[1:]))
            found["chassis_mac"] = _mac(value[1:]) if value[0] == 4 else None
        elif kind == 2 and len(value) > 1:  # port ID: subtype 3 is a MAC, others a name
            found["port"] = _mac(value[1:]) if value[0] == 3 else _text(value[1:])
        elif kind == 4:
            found["port_description"] = _text(value)
        elif kind == 5:
            found["name"] = _text(value)
        elif kind == 6:
            found["description"] = _text(value)
        elif kind == 7 and len(value) >= 4:
            enabled = struct.unpack(">H", value[2:4])[0]
            found["capabilities"] = _capabilities(enabled or struct.unpack(">H", value[:2])[0], _LLDP_CAPABILITIES)
        elif kind == 8 and len(value) >= 6 and value[1] == 1 and value[0] == 5:  # IPv4 management address
            found.setdefault("management_address", _ipv4(value[2:6]))
        elif kind == 127 and len(value) >= 6 and value[:4] == b"\x00\x80\xc2\x01":  # IEEE 802.1 port VLAN ID
            found["vlan"] = struct.unpack(">H", value[4:6])[0] or None
    return found if found.get("chassis") and found.get("port") else None


def cdp(payload: bytes) -> dict | None:
    """A CDP packet (after LLC/SNAP) as named fields; None without a device ID and port."""
    found: dict = {"protocol": "cdp"}
    at = 4  # version, TTL, checksum
    while at + 4 <= len(payload):
        kind, length = struct.unpack(">HH", payload[at:at + 4])
        if length < 4 or at + length > len(payload):
            break
        value = payload[at + 4:at + length]
        if kind == 0x0001:
            found["name"] = found["chassis"] = _text(value)
        elif kind in (0x0002, 0x0016):
            found.setdefault("management_address", _cdp_address(value))
        elif kind == 0x0003:
            found["port"] = _text(value)
        elif kind == 0x0004 and len(value) == 4:
            found["capabilities"] = _capabilities(struct.unpack(">I", value)[0], _CDP_CAPABILITIES)
        elif kind == 0x0005:
            found["description"] = _text(value)
        elif kind == 0x0006:
            found["platform"] = _text(value)
        elif kind == 0x000A and len(value) == 2:
            found["vlan"] = struct.unpack(">H", value)[0] or None
        at += length
    return found if found.get("chassis") and found.get("port") else None


def _cdp_address(value: bytes) -> str | None:
    """The first IPv4 address of a CDP address list (count, then protocol type, length, protocol, length, address)."""
    if len(value) < 4:
        return None
    at = 4
    for _ in range(min(struct.unpack(">I", value[:4])[0], 16)):
        if at + 2 > len(value):
            return None
        proto_length = value[at + 1]
        proto = value[at + 2:at + 2 + proto_length]
        at += 2 + proto_length
        if at + 2 > len(value):
            return None
        length = struct.unpack(">H", value[at:at + 2])[0]
        address = value[at + 2:at + 2 + length]
        at += 2 + length
        if proto == b"\xcc" and len(address) == 4:
            return _ipv4(address)
    return None


def announcement(frame: bytes) -> dict | None:
    """The LLDP or CDP announcement in an Ethernet frame (802.1Q tags skipped), or None."""
    at = 12
    for _ in range(2):  # at most two VLAN tags
        if frame[at:at + 2] in (b"\x81\x00", b"\x88\xa8"):
            at += 4
    kind = int.from_bytes(frame[at:at + 2], "big") if len(frame) >= at + 2 else 0
    if kind == LLDP_TYPE:
        found = lldp(frame[at + 2:])
    elif frame[:6] == CDP_DESTINATION and kind <= 1500 and frame[at + 2:at + 10] == _SNAP_CDP:
        found = cdp(frame[at + 10:])
    else:
        return None
    if found is not None:
        found["source_mac"] = _mac(frame[6:12])
    return found


@dataclass(slots=True)
class Announcer:
    """One device that announced itself, as it last did, and when."""
    facts: dict
    first: float
    last: float
    frames: int = 0
    protocols: set[str] = field(default_factory=set)


class Announcements:
    """The devices heard announcing themselves in one capture, by chassis."""

    def __init__(self):
        self.devices: dict[str, Announcer] = {}

    def add(self, when: float, frame: bytes) -> bool:
        """Fold `frame` in if it is an LLDP or CDP announcement; return whether it was."""
        found = announcement(frame)
        if found is None:
            return False
        key = found.get("chassis_mac") or found["chassis"]
        device = self.devices.get(key)
        if device is None:
            if len(self.devices) >= MAX_ANNOUNCERS:
                return True
            device = self.devices[key] = Announcer(found, when, when)
        device.facts.update({k: v for k, v in found.items() if v is not None})
        device.first, device.last = min(device.first, when), max(device.last, when)
        device.frames += 1
        device.protocols.add(found["protocol"])
        return True

    def reports(self, source: str, observed_at: datetime) -> Iterator[HostReport]:
        """Each device as a host with its announcement; with exactly two devices (a TAP or a mirror of one cable),
        the cable between them as a neighbour of each."""
        from scanners.snmp_agent import device_os, os_of

        devices = list(self.devices.values())
        for device in devices:
            facts = device.facts
            others = [d for d in devices if d is not device] if len(devices) == 2 else []
            description = facts.get("description") or ""
            family, kernel = os_of(description)
            os_name, os_version = device_os(description)
            name = facts.get("name")
            macs = tuple(dict.fromkeys(m for m in (facts.get("chassis_mac"), facts.get("source_mac")) if m))
            address = facts.get("management_address")
            yield HostReport(
                host=Host(hostname=name.split(".")[0] if name else None, fqdn=name if name and "." in name else None,
                          addresses=(address,) if address else (), macs=macs, os_family=family, kernel=kernel,
                          os_name=os_name, os_version=os_version, model=facts.get("platform"), source=source,
                          observed_at=observed_at, status="up", status_reason="observed-on-wire",
                          scripts=(ScriptResult(id="l2-announcement", output=description or None, data={
                              "protocols": sorted(device.protocols), "frames": device.frames,
                              "first_seen": _iso(device.first), "last_seen": _iso(device.last),
                              **{k: v for k, v in facts.items() if k not in ("protocol", "description")}}),)),
                neighbours=tuple(Neighbour(
                    protocol=facts["protocol"], local_port=facts["port"], source=source, observed_at=observed_at,
                    remote_mac=other.facts.get("chassis_mac"), remote_address=other.facts.get("management_address"),
                    remote_name=other.facts.get("name"), remote_port=other.facts.get("port"),
                    remote_description=other.facts.get("description") or other.facts.get("platform"),
                    vlan=facts.get("vlan")) for other in others))


def _iso(when: float) -> str:
    from datetime import timezone
    return datetime.fromtimestamp(when, tz=timezone.utc).isoformat()
