"""The layer-2 map an SNMP agent knows: which devices announced themselves on which of its ports (LLDP-MIB,
CISCO-CDP-MIB) and which MACs its forwarding table learned where (BRIDGE-MIB, Q-BRIDGE-MIB).

Each becomes a Neighbour of the switch that reported it, named by the switch's own port names. Who the
neighbour is (which stored host) is decided later, from everything the store knows (discovery.inventory.layer2):
a switch knows a MAC long before any scan has seen the machine behind it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from discovery.records.model import Neighbour

# Scalars, asked one at a time like the agent's others.
SCALARS = {"bridge_mac": "1.3.6.1.2.1.17.1.1.0"}  # dot1dBaseBridgeAddress: the switch's own MAC
COLUMNS = {
    # LLDP-MIB: this device's ports, and what each one's neighbour announced
    "lldp_loc_port_subtype": "1.0.8802.1.1.2.1.3.7.1.2", "lldp_loc_port_id": "1.0.8802.1.1.2.1.3.7.1.3",
    "lldp_loc_port_desc": "1.0.8802.1.1.2.1.3.7.1.4",
    "lldp_chassis_subtype": "1.0.8802.1.1.2.1.4.1.1.4", "lldp_chassis_id": "1.0.8802.1.1.2.1.4.1.1.5",
    "lldp_port_subtype": "1.0.8802.1.1.2.1.4.1.1.6", "lldp_port_id": "1.0.8802.1.1.2.1.4.1.1.7",
    "lldp_port_desc": "1.0.8802.1.1.2.1.4.1.1.8", "lldp_sys_name": "1.0.8802.1.1.2.1.4.1.1.9",
    "lldp_sys_desc": "1.0.8802.1.1.2.1.4.1.1.10", "lldp_man_addr": "1.0.8802.1.1.2.1.4.2.1.3",
    # CISCO-CDP-MIB cdpCacheTable
    "cdp_address_type": "1.3.6.1.4.1.9.9.23.1.2.1.1.3", "cdp_address": "1.3.6.1.4.1.9.9.23.1.2.1.1.4",
    "cdp_device_id": "1.3.6.1.4.1.9.9.23.1.2.1.1.6", "cdp_device_port": "1.3.6.1.4.1.9.9.23.1.2.1.1.7",
    "cdp_platform": "1.3.6.1.4.1.9.9.23.1.2.1.1.8",
    # BRIDGE-MIB: bridge port -> ifIndex, and the forwarding table; Q-BRIDGE-MIB's per-VLAN one
    "bridge_port_if": "1.3.6.1.2.1.17.1.4.1.2",
    "fdb_port": "1.3.6.1.2.1.17.4.3.1.2", "fdb_status": "1.3.6.1.2.1.17.4.3.1.3",
    "qfdb_port": "1.3.6.1.2.1.17.7.1.2.2.1.2", "qfdb_status": "1.3.6.1.2.1.17.7.1.2.2.1.3",
}
# What each value is read as (snmp_agent's _plain kinds): another type is the agent's mistake, left out.
KINDS = {**dict.fromkeys(("lldp_loc_port_id", "lldp_loc_port_desc", "lldp_chassis_id", "lldp_port_id",
                          "lldp_port_desc", "lldp_sys_name", "lldp_sys_desc", "cdp_address", "cdp_device_id",
                          "cdp_device_port", "cdp_platform", "bridge_mac"), "octets"),
         **dict.fromkeys(("lldp_loc_port_subtype", "lldp_chassis_subtype", "lldp_port_subtype", "lldp_man_addr",
                          "cdp_address_type", "bridge_port_if", "fdb_port", "fdb_status", "qfdb_port",
                          "qfdb_status"), "integer")}
# LldpChassisIdSubtype / LldpPortIdSubtype values that carry a MAC, an address or a name.
MAC_SUBTYPES = {"chassis": 4, "port": 3}
ADDRESS_SUBTYPES = {"chassis": 5, "port": 4}
FDB_SKIPPED = {2, 4}            # invalid, self (the switch's own MAC)
MAX_NEIGHBOURS = 20_000         # records kept from one agent (its forwarding table can be large)
_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")


def neighbours(col: dict, system: dict, if_names: dict[int, str], decode: Callable[[object], str],
               common: dict) -> tuple[Neighbour, ...]:
    """The agent's Neighbour records from its walked columns (`col`: key -> {index: value}); `if_names` maps
    ifIndex to the interface's name as the host report has it."""
    found = [*_lldp(col, if_names, decode, common), *_cdp(col, if_names, decode, common),
             *_fdb(col, system, if_names, common)]
    return tuple(found[:MAX_NEIGHBOURS])


def own_mac(system: dict) -> str | None:
    """The switch's bridge address (dot1dBaseBridgeAddress): what its neighbours' LLDP names it by."""
    return mac_text(system.get("bridge_mac"))


def mac_text(value) -> str | None:
    if not isinstance(value, bytes) or len(value) != 6 or not any(value):
        return None
    return ":".join(f"{b:02x}" for b in value)


def _text(value, decode) -> str | None:
    """A name as text, or None: a value that is not printable (binary) is not a name."""
    text = decode(value) if value is not None else ""
    return text if text and _PRINTABLE.match(text) else None


def _lldp(col: dict, if_names: dict[int, str], decode, common: dict) -> list[Neighbour]:
    addresses: dict[tuple, str] = {}
    for index in col.get("lldp_man_addr", {}):
        # lldpRemManAddrTable: timeMark, localPortNum, remIndex, subtype, length, address octets
        if len(index) == 9 and index[3] == 1 and index[4] == 4 and max(index[5:]) <= 255:
            addresses.setdefault(index[:3], ".".join(map(str, index[5:])))
    found = []
    for index, chassis in sorted(col.get("lldp_chassis_id", {}).items()):
        if len(index) != 3:
            continue  # timeMark, localPortNum, remIndex
        port_num = index[1]
        chassis_kind = col.get("lldp_chassis_subtype", {}).get(index)
        port_kind = col.get("lldp_port_subtype", {}).get(index)
        port_id = col.get("lldp_port_id", {}).get(index)
        name = _text(col.get("lldp_sys_name", {}).get(index), decode)
        mac = mac_text(chassis) if chassis_kind == MAC_SUBTYPES["chassis"] else None
        address = addresses.get(index) or (_network_address(chassis) if chassis_kind == ADDRESS_SUBTYPES["chassis"]
                                           else None)
        if port_kind == MAC_SUBTYPES["port"]:
            remote_port = mac_text(port_id)
        elif port_kind == ADDRESS_SUBTYPES["port"]:
            remote_port = _network_address(port_id)
        else:
            remote_port = _text(port_id, decode)
        remote_port = remote_port or _text(col.get("lldp_port_desc", {}).get(index), decode)
        if name is None and chassis_kind not in (MAC_SUBTYPES["chassis"], ADDRESS_SUBTYPES["chassis"]):
            name = _text(chassis, decode)  # a named or locally assigned chassis ID: the only name it gave
        if name is None and mac is None and address is None:
            continue  # nothing says who it is
        found.append(Neighbour(protocol="lldp", local_port=_lldp_local_port(col, port_num, if_names, decode),
                               remote_mac=mac, remote_address=address, remote_name=name, remote_port=remote_port,
                               remote_description=decode(col.get("lldp_sys_desc", {}).get(index)) or None, **common))
    return found


def _lldp_local_port(col: dict, port_num: int, if_names: dict[int, str], decode) -> str:
    """What the switch calls its LLDP port `port_num`: its own port ID where that is the port's name (Cisco IOS's
    "Gi1/0/5", ProCurve's "17"), else the interface of that index (NX-OS numbers LLDP ports by ifIndex and gives
    a MAC as the ID), so that LLDP, CDP and the forwarding table name one port alike; else its description."""
    key = (port_num,)
    if col.get("lldp_loc_port_subtype", {}).get(key) in (5, 7):  # interfaceName, local
        if name := _text(col.get("lldp_loc_port_id", {}).get(key), decode):
            return name
    return (if_names.get(port_num) or _text(col.get("lldp_loc_port_desc", {}).get(key), decode)
            or str(port_num))


def _network_address(value) -> str | None:
    """An LLDP network address (IANA address family octet, then the address) as text."""
    if isinstance(value, bytes) and len(value) == 5 and value[0] == 1:
        return str(ipaddress.IPv4Address(value[1:]))
    if isinstance(value, bytes) and len(value) == 17 and value[0] == 2:
        return str(ipaddress.IPv6Address(value[1:]))
    return None


def _cdp(col: dict, if_names: dict[int, str], decode, common: dict) -> list[Neighbour]:
    found = []
    for index, device in sorted(col.get("cdp_device_id", {}).items()):
        if len(index) != 2:
            continue  # ifIndex, deviceIndex
        raw = col.get("cdp_address", {}).get(index)
        address = str(ipaddress.IPv4Address(raw)) if col.get("cdp_address_type", {}).get(index) == 1 \
            and isinstance(raw, bytes) and len(raw) == 4 else None
        # HP's CDP table gives a neighbour that sent no name (a server's NIC) by its MAC, in binary
        port = col.get("cdp_device_port", {}).get(index)
        name, mac = _text(device, decode), mac_text(device)
        if name is None and mac is None and address is None:
            continue  # nothing says who it is
        found.append(Neighbour(protocol="cdp", local_port=if_names.get(index[0]) or str(index[0]),
                               remote_address=address, remote_name=name, remote_mac=mac,
                               remote_port=_text(port, decode) or mac_text(port),
                               remote_description=decode(col.get("cdp_platform", {}).get(index)) or None, **common))
    return found


def _fdb(col: dict, system: dict, if_names: dict[int, str], common: dict) -> list[Neighbour]:
    """One record per (MAC, port) the forwarding tables learned; Q-BRIDGE's rows first, as they name the VLAN."""
    bridge_if = {index[0]: value for index, value in col.get("bridge_port_if", {}).items()
                 if len(index) == 1 and isinstance(value, int)}
    own = own_mac(system)
    seen: set[tuple[str, int]] = set()
    found = []
    tables = (("qfdb_port", "qfdb_status", 7), ("fdb_port", "fdb_status", 6))
    for port_key, status_key, width in tables:
        for index, bridge_port in sorted(col.get(port_key, {}).items()):
            if len(index) != width or max(index[-6:]) > 255 or not isinstance(bridge_port, int) or bridge_port <= 0:
                continue
            if col.get(status_key, {}).get(index) in FDB_SKIPPED:
                continue
            mac = mac_text(bytes(index[-6:]))
            if mac is None or mac == own or int(mac[1], 16) & 1 or (mac, bridge_port) in seen:
                continue  # a multicast or broadcast address is no machine
            seen.add((mac, bridge_port))
            if_index = bridge_if.get(bridge_port, bridge_port)
            found.append(Neighbour(protocol="fdb", local_port=if_names.get(if_index) or str(if_index),
                                   remote_mac=mac, vlan=index[0] if width == 7 else None, **common))
    return found
