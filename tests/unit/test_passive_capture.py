"""Passive discovery from a capture file: hosts from ARP, services from who answered, flows as dependencies graded
observed-on-wire; a damaged file is read up to the damage. Captures are written here with dpkt's writer, packet
by packet, so every expected value is the test's own. Real traffic captured with tcpdump in the namespace test
network is tested in tests/integration/test_passive_import.py."""

from __future__ import annotations

import socket
from datetime import datetime, timezone

import dpkt
import pytest

from discovery.inventory.build import build_inventory
from discovery.service import run_scan
from scanners.files import FileImportScanner
from scanners.passive_capture import CaptureReader

APP, DB, DNS = "10.9.0.40", "10.9.0.10", "10.9.0.53"
APP_MAC, DB_MAC = "02:cc:00:00:00:28", "02:cc:00:00:00:0a"
T = 1_796_000_000.0


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def frame(source: str, target: str, segment, *, smac=APP_MAC, dmac=DB_MAC) -> bytes:
    protocol = dpkt.ip.IP_PROTO_TCP if isinstance(segment, dpkt.tcp.TCP) else dpkt.ip.IP_PROTO_UDP
    ip = dpkt.ip.IP(src=socket.inet_aton(source), dst=socket.inet_aton(target), p=protocol, data=segment)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=mac(smac), dst=mac(dmac), type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def tcp(sport: int, dport: int, flags: int, payload: bytes = b"") -> dpkt.tcp.TCP:
    return dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, data=payload)


def arp_reply(address: str, hardware: str) -> bytes:
    arp = dpkt.arp.ARP(op=dpkt.arp.ARP_OP_REPLY, sha=mac(hardware), spa=socket.inet_aton(address),
                       tha=mac(APP_MAC), tpa=socket.inet_aton(APP))
    return bytes(dpkt.ethernet.Ethernet(src=mac(hardware), dst=mac(APP_MAC), type=dpkt.ethernet.ETH_TYPE_ARP,
                                        data=arp))


def clinic_traffic() -> list[bytes]:
    """ARP for db; app connects to db:5432 (handshake, a query, the answer); app asks DNS over UDP; a SYN to a
    closed port that nobody answers."""
    syn, ack = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK
    return [
        arp_reply(DB, DB_MAC),
        frame(APP, DB, tcp(41000, 5432, syn)),
        frame(DB, APP, tcp(5432, 41000, syn | ack), smac=DB_MAC, dmac=APP_MAC),
        frame(APP, DB, tcp(41000, 5432, ack, b"Q\x00\x00\x00\x0dselect 1")),
        frame(DB, APP, tcp(5432, 41000, ack, b"T" + bytes(40)), smac=DB_MAC, dmac=APP_MAC),
        frame(APP, DNS, dpkt.udp.UDP(sport=50000, dport=53, data=b"\x12\x34" + bytes(10))),
        frame(DNS, APP, dpkt.udp.UDP(sport=53, dport=50000, data=b"\x12\x34" + bytes(30))),
        frame(APP, DB, tcp(41001, 6000, syn)),
    ]


def write_capture(path, frames, *, pcapng=False):
    with open(path, "wb") as f:
        writer = dpkt.pcapng.Writer(f) if pcapng else dpkt.pcap.Writer(f)
        for n, data in enumerate(frames):
            writer.writepkt(data, ts=T + n)
    return path


@pytest.mark.parametrize("pcapng", [False, True])
def test_a_capture_gives_hosts_services_and_dependencies_seen_on_the_wire(store, tmp_path, pcapng):
    path = write_capture(tmp_path / ("clinic.pcapng" if pcapng else "clinic.pcap"), clinic_traffic(), pcapng=pcapng)
    result = run_scan(store, FileImportScanner(path))
    assert result.status == "completed", result.error
    inventory = build_inventory(store)
    hosts = {h["addresses"][0]: h for h in inventory["hosts"]}
    assert set(hosts) == {APP, DB, DNS} and hosts[DB]["macs"] == [DB_MAC]
    assert hosts[APP]["macs"] == []  # an IP packet's source MAC may be a router's: only ARP names a MAC
    listening = {(s["host_id"], s["protocol"], s["port"]) for s in inventory["services"]}
    assert listening == {(hosts[DB]["id"], "tcp", 5432), (hosts[DNS]["id"], "udp", 53)}  # not 6000: no answer
    edges = {(d["source_host_id"], d["target_host_id"], d["target_port"], d["evidence"])
             for d in inventory["dependencies"]}
    assert edges == {(hosts[APP]["id"], hosts[DB]["id"], 5432, "observed-on-wire"),
                     (hosts[APP]["id"], hosts[DNS]["id"], 53, "observed-on-wire")}
    (pg,) = [c for c in inventory["connections"] if c["target_port"] == 5432]
    assert pg["first_seen"] < pg["last_seen"] and pg["observed_by"] == ["passive"]
    (traffic,) = [s for s in hosts[DB]["scripts"] if s["id"] == "passive-traffic"]
    assert traffic["data"]["packets"] == 3  # its ARP reply, SYN-ACK and answer


def test_nothing_of_the_payload_is_kept(store, tmp_path):
    path = write_capture(tmp_path / "clinic.pcap", clinic_traffic())
    run_scan(store, FileImportScanner(path))
    stored = b"".join(f.read_bytes() for f in store.path.parent.glob(store.path.name + "*"))  # and its WAL
    assert b"select 1" not in stored and b"select 1" in path.read_bytes()


def test_a_capture_cut_short_keeps_every_whole_frame(store, tmp_path):
    whole = write_capture(tmp_path / "whole.pcap", clinic_traffic()).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:len(whole) - 30])  # the last frame cut short, as a capture killed mid-write is
    result = run_scan(store, FileImportScanner(cut))
    assert result.status == "completed"
    assert {h["addresses"][0] for h in build_inventory(store)["hosts"]} == {APP, DB, DNS}


def test_a_damaged_capture_is_read_up_to_the_damage_with_one_warning(store, tmp_path):
    data = bytearray(write_capture(tmp_path / "whole.pcapng", clinic_traffic(), pcapng=True).read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = b"\xff" * 8  # a block length that cannot be
    damaged = tmp_path / "damaged.pcapng"
    damaged.write_bytes(bytes(data))
    result = run_scan(store, FileImportScanner(damaged))
    (warning,) = [w for w in result.warnings if "damaged" in w]
    assert "what came before is kept" in warning and result.status == "completed"
    assert {APP, DB} <= {h["addresses"][0] for h in build_inventory(store)["hosts"]}


def test_a_record_claiming_gigabytes_is_damage_not_a_read(store, tmp_path, monkeypatch):
    # the second record of a pcap claims 4 GB: the file is damaged there; nothing asks for those bytes
    frames = clinic_traffic()
    data = bytearray(write_capture(tmp_path / "whole.pcap", frames).read_bytes())
    second = 24 + 16 + len(frames[0])
    data[second + 8:second + 12] = (0xFFFFFFF0).to_bytes(4, "little")
    damaged = tmp_path / "lying.pcap"
    damaged.write_bytes(bytes(data))
    reads = []
    real_open = open

    def watched_open(*args, **kwargs):
        f = real_open(*args, **kwargs)
        read = f.read
        f.read = lambda n=-1: reads.append(n) or read(n)  # noqa: E731
        return f

    import builtins
    monkeypatch.setattr(builtins, "open", watched_open)
    result = run_scan(store, FileImportScanner(damaged))
    monkeypatch.undo()
    assert max(reads) <= 262_144 and result.status == "completed"
    (warning,) = [w for w in result.warnings if "damaged after 1 packets" in w]
    assert "claims 4,294,967,280 bytes" in warning


def test_unread_link_types_are_named_and_bad_times_borrow_the_last_good_one(store, tmp_path):
    path = tmp_path / "mixed.pcapng"
    with open(path, "wb") as f:
        writer = dpkt.pcapng.Writer(f)
        frames = clinic_traffic()
        writer.writepkt(frames[0], ts=1_800_000_000)
        writer.writepkt(frames[1], ts=1e13)  # past the year 9999
        for frame in frames[2:]:
            writer.writepkt(frame, ts=1_800_000_001)
    result = run_scan(store, FileImportScanner(path))
    assert result.status == "completed"
    inventory = build_inventory(store)
    seen = [c["last_seen"] for c in inventory["connections"] if c.get("last_seen")]
    assert seen and all(str(when) < "2027-02-01" for when in seen)
    reader = CaptureReader()
    reader.packet(1_800_000_000, b"\x00" * 40, link=105)  # 802.11: not read
    assert reader.undecoded == 1 and reader.links == {105}


def test_flows_are_capped_and_the_eviction_is_counted(monkeypatch):
    monkeypatch.setattr("scanners.passive_capture.MAX_FLOWS", 3)
    reader = CaptureReader()
    syn, ack = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK
    for n in range(5):
        server = f"10.9.1.{n + 1}"
        reader.packet(T + n, frame(APP, server, tcp(41000 + n, 443, syn)))
        reader.packet(T + n, frame(server, APP, tcp(443, 41000 + n, syn | ack)))
    assert len(reader.flows) == 3 and reader.evicted == 2


def test_hostile_frames_never_raise():
    reader = CaptureReader()
    for data in (b"", b"\x00" * 13, bytes(14) + b"\x45" + bytes(5), clinic_traffic()[1][:30], b"\xff" * 200):
        reader.packet(T, data)
    assert reader.packets == 5


def test_a_dicom_association_split_over_segments_is_read_whole_and_p_data_never():
    from tests.unit.test_passive_protocols import P_DATA, RQ

    syn, ack = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK
    reader = CaptureReader()
    reader.packet(T, frame(APP, DB, tcp(41000, 104, syn)))
    reader.packet(T, frame(DB, APP, tcp(104, 41000, syn | ack)))
    for n, part in enumerate((RQ[:40], RQ[40:90], RQ[90:], P_DATA)):  # the request in three segments, then data
        reader.packet(T + n, frame(APP, DB, tcp(41000, 104, ack, part)))
    (flow,) = reader.flows.values()
    dicom = flow.facts["dicom"]
    assert (dicom["calling_ae"], dicom["called_ae"], dicom["implementation_version"]) == (
        "CT_SCANNER_01", "PACS", "OFFIS_DCMTK_364")
    assert not reader.partial and "DOE^JOHN" not in repr(flow.facts)
    report = next(r for r in reader.reports(datetime.now(timezone.utc)) if r.host.addresses == (DB,))
    (service,) = report.services
    assert service.name == "dicom" and {s.id for s in service.scripts} == {"passive-traffic", "dicom-association"}


def test_the_wires_counts_reach_the_connection(store, tmp_path):
    run_scan(store, FileImportScanner(write_capture(tmp_path / "clinic.pcap", clinic_traffic())))
    (pg,) = [c for c in build_inventory(store)["connections"] if c["target_port"] == 5432]
    # counted from the handshake's answer on: SYN-ACK, the query and its answer
    assert (pg["packets"], pg["evidences"]) == (3, ["observed-on-wire"]) and pg["bytes"] > 0
