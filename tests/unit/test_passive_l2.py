"""LLDP and CDP frames in captured traffic: the announcing devices, and the cable between them when a capture
(a TAP, a mirror of one link) heard exactly its two ends — the same layer-2 links the SNMP map gives."""

from __future__ import annotations

import struct

import pytest

from discovery.inventory.build import build_inventory
from discovery.records.model import Scan
from scanners.passive_capture import CaptureReader
from scanners.passive_l2 import announcement, cdp, lldp
from tests.builders import T0

SWITCH_MAC, SERVER_MAC = "00:11:22:33:44:00", "00:1b:21:0a:0b:01"


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack(">H", kind << 9 | len(value)) + value


def lldp_frame(chassis_mac: str, port: bytes, name: bytes | None = None, description: bytes | None = None,
               address: bytes | None = None, capabilities: int = 0, vlan: int | None = None, tagged=False) -> bytes:
    mac = bytes.fromhex(chassis_mac.replace(":", ""))
    body = tlv(1, b"\x04" + mac) + tlv(2, b"\x05" + port) + tlv(3, b"\x00\x78")
    if name:
        body += tlv(5, name)
    if description:
        body += tlv(6, description)
    if capabilities:
        body += tlv(7, struct.pack(">HH", capabilities, capabilities))
    if address:
        body += tlv(8, b"\x05\x01" + address + b"\x02\x00\x00\x00\x01\x00")
    if vlan:
        body += tlv(127, b"\x00\x80\xc2\x01" + struct.pack(">H", vlan))
    body += tlv(0, b"")
    tag = b"\x81\x00\x00\x0a" if tagged else b""
    return b"\x01\x80\xc2\x00\x00\x0e" + mac + tag + b"\x88\xcc" + body


def cdp_frame(source_mac: str, device: bytes, port: bytes, address: bytes | None = None, platform=b"",
              software=b"", native_vlan: int | None = None) -> bytes:
    def item(kind: int, value: bytes) -> bytes:
        return struct.pack(">HH", kind, len(value) + 4) + value
    body = b"\x02\xb4\x00\x00" + item(1, device) + item(3, port) + item(4, struct.pack(">I", 0x28))
    if address:
        body += item(2, struct.pack(">I", 1) + b"\x01\x01\xcc" + struct.pack(">H", 4) + address)
    if platform:
        body += item(6, platform)
    if software:
        body += item(5, software)
    if native_vlan:
        body += item(10, struct.pack(">H", native_vlan))
    llc = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + body
    return b"\x01\x00\x0c\xcc\xcc\xcc" + bytes.fromhex(source_mac.replace(":", "")) + struct.pack(">H", len(llc)) + llc


SWITCH = lldp_frame(SWITCH_MAC, b"Gi1/0/5", b"sw-edge.example.org",
                    b"Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE11, RELEASE SOFTWARE",
                    bytes([10, 0, 0, 3]), capabilities=0x0014, vlan=20)
SERVER = lldp_frame(SERVER_MAC, b"eth0", b"pacs01", b"Debian GNU/Linux 12 (bookworm) Linux 6.1.0-18-amd64",
                    bytes([10, 0, 0, 21]), capabilities=0x0080, tagged=True)


def test_lldp_names_the_device_its_port_address_capabilities_and_vlan():
    found = announcement(SWITCH)
    assert (found["chassis_mac"], found["port"], found["name"], found["management_address"], found["vlan"]) == (
        SWITCH_MAC, "Gi1/0/5", "sw-edge.example.org", "10.0.0.3", 20)
    assert found["capabilities"] == ["bridge", "router"] and found["description"].startswith("Cisco IOS Software")
    tagged = announcement(SERVER)  # behind an 802.1Q tag
    assert (tagged["chassis_mac"], tagged["port"], tagged["capabilities"]) == (SERVER_MAC, "eth0", ["station"])


def test_cdp_names_the_device_its_port_platform_address_and_native_vlan():
    found = announcement(cdp_frame("00:0c:29:aa:bb:01", b"sw-core(FOC1234X5YZ)", b"GigabitEthernet1/0/24",
                                   bytes([10, 0, 0, 2]), b"cisco WS-C3750X-48", b"Cisco IOS Software, Version 15.2(4)E10",
                                   native_vlan=1))
    assert (found["chassis"], found["port"], found["management_address"], found["platform"], found["vlan"]) == (
        "sw-core(FOC1234X5YZ)", "GigabitEthernet1/0/24", "10.0.0.2", "cisco WS-C3750X-48", 1)
    assert found["capabilities"] == ["switch", "igmp"] and found["source_mac"] == "00:0c:29:aa:bb:01"


@pytest.mark.parametrize("frame", [
    SWITCH[:20], SWITCH[:-30], SWITCH[:14] + b"\xff\xff" * 40,                   # cut, cut mid-TLV, lengths past the end
    SWITCH[:14] + tlv(1, b"\x04") + tlv(2, b"") + tlv(5, b"\x00" * 300)[:80],      # empty IDs, a name cut short
    cdp_frame("00:0c:29:aa:bb:01", b"x", b"y")[:30],                              # CDP cut inside a TLV
    cdp_frame("00:0c:29:aa:bb:01", b"x", b"y", bytes([1, 2, 3, 4]))[:-3],         # its address list cut short
])
def test_hostile_announcements_are_skipped_or_read_as_far_as_they_go(frame):
    found = announcement(frame)
    assert found is None or (found["chassis"] and found["port"])


def test_decoders_take_no_payload_beyond_named_fields():
    found = lldp(SWITCH[14:] + b"PATIENT^NAME")
    assert "PATIENT" not in repr(found)
    assert cdp(b"\x02\xb4\x00\x00" + b"\x00\x01\x00\x02") is None  # a TLV shorter than its own header


def reader_of(*frames: bytes) -> CaptureReader:
    reader = CaptureReader()
    for n, frame in enumerate(frames):
        reader.packet(1_800_000_000 + n, frame)
    return reader


def test_a_tap_hearing_both_ends_of_one_cable_gives_that_link(store):
    reader = reader_of(SWITCH, SERVER, SWITCH)
    reports = list(reader.reports(T0))
    by_name = {r.host.hostname: r for r in reports}
    assert set(by_name) == {"sw-edge", "pacs01"}
    switch = by_name["sw-edge"]
    assert (switch.host.os_name, switch.host.os_version, switch.host.addresses) == ("Cisco IOS", "15.0(2)SE11",
                                                                                   ("10.0.0.3",))
    (script,) = switch.host.scripts
    assert script.id == "l2-announcement" and script.data["frames"] == 2 and script.data["protocols"] == ["lldp"]
    (neighbour,) = switch.neighbours
    assert (neighbour.local_port, neighbour.remote_mac, neighbour.remote_port, neighbour.remote_name) == (
        "Gi1/0/5", SERVER_MAC, "eth0", "pacs01")
    scan = store.start_scan(Scan(kind="passive", started_at=T0))
    for report in reports:
        store.write_host_report(scan, report)
    store.finish_scan(scan, "completed")
    inventory = build_inventory(store)
    (link,) = inventory["l2_links"]  # reported by both ends: one cable
    hosts = {h["id"]: h["hostname"] for h in inventory["hosts"]}
    ends = {(hosts[link["source_host_id"]], link["source_port"]), (hosts[link["target_host_id"]], link["target_port"])}
    assert ends == {("sw-edge", "Gi1/0/5"), ("pacs01", "eth0")}


def test_a_mirror_of_many_ports_keeps_each_device_and_guesses_no_cable():
    third = lldp_frame("00:1b:21:0a:0b:02", b"eth1", b"app01")
    reports = list(reader_of(SWITCH, SERVER, third).reports(T0))
    assert {r.host.hostname for r in reports} == {"sw-edge", "pacs01", "app01"}
    assert all(r.neighbours == () for r in reports)


def test_announcements_are_not_counted_as_undecoded_and_other_frames_still_are_read():
    reader = reader_of(SWITCH, b"\x00" * 10)
    assert reader.packets == 2 and reader.undecoded == 1 and len(reader.announcements.devices) == 1


def test_a_real_switch_s_lldp_frame_from_zeek_s_traces():
    """tests/data/captures/zeek-lldp.pcap (BSD, see its SOURCE.md): an SMC switch announcing itself; the facts were
    read with tcpdump -v. One announcer: a host, no cable."""
    from pathlib import Path
    reader = CaptureReader()
    reader.read(Path(__file__).resolve().parents[1] / "data" / "captures" / "zeek-lldp.pcap")
    (report,) = list(reader.reports(T0))
    assert (report.host.hostname, report.host.addresses, report.host.macs) == (
        "SMCGS8P-Smart", ("192.168.2.10",), ("00:22:2d:81:db:10",))
    (script,) = report.host.scripts
    assert (script.data["port"], script.data["port_description"], script.data["capabilities"]) == (
        "1", "Port #1", ["bridge"])
    assert script.output == "SMCGS8P-Smart - SMCGS8P-Smart v3.20" and report.neighbours == ()
