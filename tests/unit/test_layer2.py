"""The layer-2 map: LLDP/CDP/forwarding-table answers to Neighbour records, and Neighbours to links between
stored hosts (which port each host sits behind, uplinks not taken for access ports, one link per cable)."""

from __future__ import annotations

import dataclasses
import json

import openpyxl

from discovery.inventory.build import build_inventory
from discovery.records.model import Host, HostReport, Interface, Neighbour, Scan
from exports.json import JsonExporter
from exports.xlsx import XlsxExporter
from scanners.snmp_agent import transform_agent
from tests.builders import T0, make_report
from tests.unit.test_snmp_agent import facts

MAC_A, MAC_B, MAC_C = "00:1b:21:0a:0b:01", "00:1b:21:0a:0b:02", "00:1b:21:0a:0b:03"


def mac_index(mac: str) -> tuple[int, ...]:
    return tuple(int(part, 16) for part in mac.split(":"))


def switch_facts(**columns):
    found = facts(if_descr=[((1,), b"GigabitEthernet1/0/1"), ((2,), b"GigabitEthernet1/0/2"),
                            ((3,), b"GigabitEthernet1/0/3")],
                  if_name=[((1,), b"Gi1/0/1"), ((2,), b"Gi1/0/2"), ((3,), b"Gi1/0/3")], **columns)
    found["system"].update(descr=b"Cisco IOS Software, C3750 Software, Version 12.2(55)SE5", name=b"sw-core",
                           bridge_mac=bytes.fromhex("001122334400"))
    return found


def test_lldp_neighbours_name_ports_as_the_switch_does_and_read_the_management_address():
    index = (0, 2, 7)
    report = transform_agent(switch_facts(
        lldp_loc_port_subtype=[((2,), 5)], lldp_loc_port_id=[((2,), b"Gi1/0/2")],
        lldp_chassis_subtype=[(index, 4)], lldp_chassis_id=[(index, bytes.fromhex("001b210a0b01"))],
        lldp_port_subtype=[(index, 5)], lldp_port_id=[(index, b"eth0")], lldp_sys_name=[(index, b"pacs01")],
        lldp_sys_desc=[(index, b"Debian GNU/Linux 12")],
        lldp_man_addr=[((*index, 1, 4, 10, 0, 0, 21), 2)]), "10.0.0.2", T0)
    (neighbour,) = report.neighbours
    assert (neighbour.protocol, neighbour.local_port, neighbour.remote_mac, neighbour.remote_address,
            neighbour.remote_name, neighbour.remote_port, neighbour.remote_description) == (
        "lldp", "Gi1/0/2", MAC_A, "10.0.0.21", "pacs01", "eth0", "Debian GNU/Linux 12")
    assert "00:11:22:33:44:00" in report.host.macs  # the bridge address names this switch to its neighbours


def test_lldp_port_numbers_fall_back_to_the_interface_and_binary_ids_are_not_names():
    index = (0, 3, 1)
    report = transform_agent(switch_facts(
        lldp_loc_port_subtype=[((3,), 3)], lldp_loc_port_id=[((3,), bytes.fromhex("001122334403"))],
        lldp_chassis_subtype=[(index, 5)], lldp_chassis_id=[(index, bytes([1, 10, 0, 0, 30]))],
        lldp_port_subtype=[(index, 3)], lldp_port_id=[(index, bytes.fromhex("001b210a0b03"))]), "10.0.0.2", T0)
    (neighbour,) = report.neighbours
    assert (neighbour.local_port, neighbour.remote_address, neighbour.remote_port, neighbour.remote_name) == (
        "Gi1/0/3", "10.0.0.30", MAC_C, None)


def test_cdp_neighbours_and_forwarding_tables():
    report = transform_agent(switch_facts(
        cdp_address_type=[((1, 4), 1)], cdp_address=[((1, 4), bytes([10, 0, 0, 3]))],
        cdp_device_id=[((1, 4), b"sw-edge.example.org")], cdp_device_port=[((1, 4), b"GigabitEthernet0/48")],
        cdp_platform=[((1, 4), b"cisco WS-C2960-48TT-L")],
        bridge_port_if=[((10,), 1), ((11,), 2), ((12,), 3)],
        fdb_port=[(mac_index(MAC_A), 11), (mac_index(MAC_B), 10), (mac_index("00:11:22:33:44:00"), 12),
                  (mac_index("01:00:5e:00:00:01"), 12), (mac_index("00:1b:21:0a:0b:09"), 12)],
        fdb_status=[(mac_index(MAC_A), 3), (mac_index(MAC_B), 3), (mac_index("00:1b:21:0a:0b:09"), 4)],
        qfdb_port=[((20, *mac_index(MAC_A)), 11)], qfdb_status=[((20, *mac_index(MAC_A)), 3)]), "10.0.0.2", T0)
    cdp = [n for n in report.neighbours if n.protocol == "cdp"]
    assert [(n.local_port, n.remote_address, n.remote_name, n.remote_port, n.remote_description) for n in cdp] == [
        ("Gi1/0/1", "10.0.0.3", "sw-edge.example.org", "GigabitEthernet0/48", "cisco WS-C2960-48TT-L")]
    fdb = {(n.remote_mac, n.local_port, n.vlan) for n in report.neighbours if n.protocol == "fdb"}
    # Q-BRIDGE names the VLAN (and BRIDGE's row for the same MAC and port is not repeated); the switch's own
    # MAC, a multicast address and a row marked "self" are not machines behind a port.
    assert fdb == {(MAC_A, "Gi1/0/2", 20), (MAC_B, "Gi1/0/1", None)}


def test_hostile_indexes_are_skipped_not_fatal():
    report = transform_agent(switch_facts(
        lldp_chassis_id=[((1,), b"x"), ((0, 1, 1), b"\x1b]0;pwn\x07")],
        lldp_man_addr=[((0, 1, 1, 1, 4, 999, 1, 1, 1), 2)], cdp_device_id=[((1, 2, 3), b"x")],
        fdb_port=[((1, 2, 3), 1), ((300, 1, 1, 1, 1, 1), 1), ((0, 1, 2, 3, 4, 6), "x")]),
        "10.0.0.2", T0)
    # the one well-formed row names nobody (its chassis ID is escape codes, not a name): nothing is kept
    assert report.neighbours == ()
    named = transform_agent(switch_facts(lldp_chassis_id=[((0, 1, 1), b"\x1b]0;pwn\x07")],
                                         lldp_sys_name=[((0, 1, 1), b"ward-7-switch")]), "10.0.0.2", T0)
    assert [(n.remote_name, n.remote_mac) for n in named.neighbours] == [("ward-7-switch", None)]


# --- from neighbours to links ----------------------------------------------------------------------------

def neighbour(protocol, port, **fields) -> Neighbour:
    return Neighbour(protocol=protocol, local_port=port, source="snmp", observed_at=T0, **fields)


def switch_report(name, address, mac, *neighbours) -> HostReport:
    host = Host(source="snmp", observed_at=T0, hostname=name, addresses=(address,), macs=(mac,))
    return HostReport(host=host, interfaces=(Interface(name="vlan1", mac=mac, source="snmp", observed_at=T0),),
                      neighbours=neighbours)


def estate(store):
    """Two switches cabled core Gi1/0/24 <-> edge Gi0/48, both reporting it; pacs01 (on edge Gi0/5) and
    app01 (core Gi1/0/3) known from a host scan; the core's uplink port learned pacs01's MAC too."""
    scan = store.start_scan(Scan(kind="host", started_at=T0))
    pacs = make_report(hostname="pacs01", address="10.0.0.21", mac=MAC_A)
    app = make_report(hostname="app01", address="10.0.0.22", mac=MAC_B)
    ids = {name: store.write_host_report(scan, r)[0] for name, r in (("pacs01", pacs), ("app01", app))}
    snmp = store.start_scan(Scan(kind="snmp", started_at=T0))
    core = switch_report("sw-core", "10.0.0.2", "00:11:22:33:44:00",
                         neighbour("lldp", "Gi1/0/24", remote_mac="00:11:22:33:55:00", remote_name="sw-edge",
                                   remote_port="Gi0/48"),
                         neighbour("cdp", "Gi1/0/24", remote_name="sw-edge.example.org(FOC1234)",
                                   remote_address="10.0.0.3", remote_port="GigabitEthernet0/48"),
                         neighbour("lldp", "Gi1/0/9", remote_name="phone-17", remote_mac="00:aa:bb:cc:dd:ee"),
                         neighbour("fdb", "Gi1/0/24", remote_mac=MAC_A), neighbour("fdb", "Gi1/0/3", remote_mac=MAC_B),
                         neighbour("fdb", "Gi1/0/7", remote_mac="00:1b:21:ff:ff:ff"))
    edge = switch_report("sw-edge", "10.0.0.3", "00:11:22:33:55:00",
                         neighbour("lldp", "Gi0/48", remote_mac="00:11:22:33:44:00", remote_port="Gi1/0/24"),
                         neighbour("fdb", "Gi0/48", remote_mac=MAC_B), neighbour("fdb", "Gi0/5", remote_mac=MAC_A),
                         neighbour("fdb", "Gi0/6", remote_mac=MAC_B, vlan=20))
    ids.update({name: store.write_host_report(snmp, r)[0] for name, r in (("sw-core", core), ("sw-edge", edge))})
    for scan_id in (scan, snmp):
        store.finish_scan(scan_id, "completed")
    return ids


def test_links_one_per_cable_and_each_host_on_its_access_port(store):
    ids = estate(store)
    inventory = build_inventory(store)
    links = {(k["source_host_id"], k["source_port"], k["target_host_id"], k["target_port"], k["protocol"])
             for k in inventory["l2_links"]}
    # The cable between the switches is reported three times (core's LLDP and CDP, edge's LLDP): one link.
    cable = [k for k in inventory["l2_links"] if {k["source_host_id"], k["target_host_id"]} ==
             {ids["sw-core"], ids["sw-edge"]}]
    assert len(cable) == 1 and sorted(cable[0]["protocols"]) == ["cdp", "lldp"]
    assert {cable[0]["source_port"], cable[0]["target_port"]} == {"Gi1/0/24", "Gi0/48"}
    # pacs01's MAC is on core Gi1/0/24 (an uplink: the edge switch is behind it) and edge Gi0/5: Gi0/5 wins.
    assert (ids["sw-edge"], "Gi0/5", ids["pacs01"], None, "fdb") in links
    # app01's MAC: core Gi1/0/3 (1 MAC), edge Gi0/48 (uplink) and edge Gi0/6 (1 MAC): the first by name wins a tie.
    assert (ids["sw-core"], "Gi1/0/3", ids["app01"], None, "fdb") in links
    assert not any(k["target_mac"] == "00:1b:21:ff:ff:ff" for k in inventory["l2_links"])  # no known host has it
    phone = next(k for k in inventory["l2_links"] if k["target_name"] == "phone-17")
    assert phone["target_host_id"] is None and phone["source_port"] == "Gi1/0/9"
    hosts = {h["id"]: h for h in inventory["hosts"]}
    assert (hosts[ids["pacs01"]]["switch"], hosts[ids["pacs01"]]["switch_port"]) == ("sw-edge", "Gi0/5")
    assert (hosts[ids["app01"]]["switch_host_id"], hosts[ids["app01"]]["switch_port"]) == (ids["sw-core"], "Gi1/0/3")


def test_links_reach_the_json_and_the_workbook(store, tmp_path):
    ids = estate(store)
    inventory = build_inventory(store)
    JsonExporter().write(inventory, tmp_path / "estate.json")
    exported = json.loads((tmp_path / "estate.json").read_text(encoding="utf-8"))
    assert exported["l2_links"] == inventory["l2_links"] and exported["l2_links"]
    assert all({"source_host_id", "source_port", "target_host_id", "target_port", "protocol", "source"}
               <= set(k) for k in exported["l2_links"])
    XlsxExporter().write(inventory, tmp_path / "estate.xlsx")
    workbook = openpyxl.load_workbook(tmp_path / "estate.xlsx")
    rows = workbook["Hosts"].iter_rows(values_only=True)
    header = next(rows)
    by_id = {row[header.index("Host ID")]: row for row in rows}
    pacs = by_id[ids["pacs01"]]
    assert (pacs[header.index("Switch")], pacs[header.index("Switch port")]) == ("sw-edge", "Gi0/5")
    sheet = list(workbook["Layer 2"].iter_rows(values_only=True))
    assert len(sheet) == len(inventory["l2_links"]) + 1
    assert ("sw-edge", "Gi0/5", "pacs01") in {row[:3] for row in sheet}


def test_a_later_scan_of_the_host_places_it_without_scanning_the_switch_again(store):
    snmp = store.start_scan(Scan(kind="snmp", started_at=T0))
    store.write_host_report(snmp, switch_report("sw", "10.0.0.2", "00:11:22:33:44:00",
                                                neighbour("fdb", "Gi1/0/5", remote_mac=MAC_C)))
    assert build_inventory(store)["l2_links"] == []
    later = store.start_scan(Scan(kind="network", started_at=T0))
    (host_id, _) = store.write_host_report(later, make_report(hostname="lab01", address="10.0.0.40", mac=MAC_C,
                                                              source="nmap"))
    (link,) = build_inventory(store)["l2_links"]
    assert (link["target_host_id"], link["source_port"]) == (host_id, "Gi1/0/5")


def test_filtering_an_export_by_host_keeps_the_links_that_touch_it(store):
    from discovery.inventory.build import filter_inventory

    ids = estate(store)
    kept = filter_inventory(build_inventory(store), hosts_pattern="pacs01")
    assert kept["l2_links"] and all(ids["pacs01"] in (k["source_host_id"], k["target_host_id"])
                                    for k in kept["l2_links"])


def test_neighbour_records_keep_their_host_id():
    report = switch_report("sw", "10.0.0.2", "00:11:22:33:44:00", neighbour("fdb", "1", remote_mac=MAC_A))
    stamped = report.with_host_id("h-1")
    assert [n.host_id for n in stamped.neighbours] == ["h-1"]
    assert dataclasses.replace(stamped.neighbours[0], vlan=3).vlan == 3
