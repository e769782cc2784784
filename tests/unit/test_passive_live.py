"""The live capture's ring reader on ring files written as tcpdump and dumpcap write them (growing, rotated, rewritten
once round, deleted), and a real tcpdump and dumpcap on loopback rotating their rings while the scan reads them."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import dpkt
import pytest

from discovery.records.model import EstateError, ScanCancelled, ScanContext
from scanners import passive_live
from scanners.passive_capture import CaptureReader
from scanners.passive_live import RING_FILES, PassiveScanner, RingReader

HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def frame(n: int) -> bytes:
    """An Ethernet frame of a UDP datagram from 10.0.0.<n % 200 + 1>."""
    udp = dpkt.udp.UDP(sport=40000, dport=9, data=b"x" * 20)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=bytes([10, 0, 0, n % 200 + 1]), dst=bytes([10, 0, 1, 1]), p=dpkt.ip.IP_PROTO_UDP, data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, data=ip))


def record(n: int) -> bytes:
    data = frame(n)
    return struct.pack("<IIII", 1_800_000_000 + n, 0, len(data), len(data)) + data


def append(path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def later(path) -> None:
    """Make `path`'s modification time move on (a file rewritten within the same clock tick would look unchanged)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def tcpdump_file(folder, slot: int):
    return folder / f"capture.pcap{slot}"


def test_a_growing_file_is_read_record_by_record_and_a_record_being_written_waits(tmp_path):
    reader = CaptureReader()
    ring = RingReader(tmp_path, "tcpdump", reader)
    ring.drain()  # nothing yet: the tool has not started its first file
    first = tcpdump_file(tmp_path, 0)
    append(first, HEADER[:10])
    ring.drain()
    assert reader.packets == 0
    whole = record(1)
    append(first, HEADER[10:] + record(0) + whole[:30])  # the second record is half written
    ring.drain()
    assert reader.packets == 1
    append(first, whole[30:])
    ring.drain()
    assert reader.packets == 2 and set(reader.hosts) == {"10.0.0.1", "10.0.0.2"}


def test_the_tcpdump_ring_is_followed_round_and_last_laps_files_are_not_read_twice(tmp_path):
    reader = CaptureReader()
    ring = RingReader(tmp_path, "tcpdump", reader)
    n = 0
    for lap in range(2):
        for slot in range(RING_FILES):
            path = tcpdump_file(tmp_path, slot)
            path.write_bytes(HEADER + b"".join(record(n + k) for k in range(3)))  # truncated and rewritten
            if lap:
                later(path)
            n += 3
            ring.drain()
    ring.drain()
    # every file but the one being written is read whole; the last is read as far as it goes: all of it
    assert reader.packets == n == 2 * RING_FILES * 3
    ring.drain()
    assert reader.packets == n  # the first lap's files, already read, are not read again


def test_a_file_rewritten_before_it_was_read_is_said_once(tmp_path):
    ctx = ScanContext()
    reader = CaptureReader()
    ring = RingReader(tmp_path, "tcpdump", reader, ctx)
    path = tcpdump_file(tmp_path, 0)
    path.write_bytes(HEADER + b"".join(record(k) for k in range(5)))
    ring.drain()
    path.write_bytes(HEADER + record(9))  # the tool went round and truncated it under the reader
    ring.drain()
    ring.drain()
    assert reader.packets == 6
    assert len([w for w in ctx.warnings if "went round its ring buffer" in w]) == 1


def test_the_dumpcap_ring_is_followed_by_number_and_a_deleted_file_skips_to_the_oldest_left(tmp_path):
    ctx = ScanContext()
    reader = CaptureReader()
    ring = RingReader(tmp_path, "dumpcap", reader, ctx)
    for number in (1, 2):
        (tmp_path / f"capture_{number:05d}_20261207101010.pcap").write_bytes(HEADER + record(number))
    ring.drain()
    assert reader.packets == 2  # the first whole, the second as far as written
    for number in (3, 4, 5):
        (tmp_path / f"capture_{number:05d}_20261207101011.pcap").write_bytes(HEADER + record(number))
    (tmp_path / "capture_00002_20261207101010.pcap").unlink()
    (tmp_path / "capture_00003_20261207101011.pcap").unlink()
    ring.drain()
    ring.drain()
    assert reader.packets == 4  # 1, 2, then on from the oldest file left (4), reading 5 as far as written
    assert any("went round its ring buffer" in w for w in ctx.warnings)


def test_a_damaged_or_foreign_ring_file_is_skipped_with_a_warning(tmp_path):
    ctx = ScanContext()
    reader = CaptureReader()
    ring = RingReader(tmp_path, "tcpdump", reader, ctx)
    tcpdump_file(tmp_path, 0).write_bytes(HEADER + record(0) + struct.pack("<IIII", 1, 0, 10**7, 10**7) + b"x" * 64)
    ring.drain()
    ring.drain()
    assert reader.packets == 1 and sum("is damaged" in w for w in ctx.warnings) == 1
    tcpdump_file(tmp_path, 1).write_bytes(b"not a capture at all, no")
    ring.drain()
    ring.drain()
    assert sum("is not a pcap file" in w for w in ctx.warnings) == 1


def test_building_a_capture_says_what_is_wrong(monkeypatch):
    with pytest.raises(EstateError, match="no interface no-such-if0 here"):
        PassiveScanner("no-such-if0", 60)
    with pytest.raises(EstateError, match="positive duration"):
        PassiveScanner("lo", 0)
    monkeypatch.setattr(passive_live.shutil, "which", lambda name: None)
    monkeypatch.setattr(passive_live.os, "access", lambda path, mode: False)
    with pytest.raises(EstateError, match="needs tcpdump or dumpcap"):
        PassiveScanner("lo", 60)


@pytest.mark.parametrize("tool", ["tcpdump", "dumpcap"])
def test_a_live_capture_reads_the_tool_s_ring_as_it_rotates(tool, tmp_path, monkeypatch):
    """A real tcpdump (and dumpcap) on loopback with 1 MB ring files: 3 MB of datagrams to 127.0.0.1 (which is no host of the
    estate) make it rotate twice within its ring of 8, so nothing can be lost whatever the timing; every datagram
    is read, from each file in turn, and the ring's folder is removed at the end."""
    monkeypatch.setattr(passive_live.tempfile, "tempdir", str(tmp_path))
    scanner = PassiveScanner("lo", 3600, tool=tool, ring_file_mb=1)
    assert scanner.tool == tool
    ctx = ScanContext()
    payload, count = b"r" * 1000, 3000
    done = threading.Event()

    def send() -> None:
        deadline = time.monotonic() + 60
        while not scanner.reader.packets and time.monotonic() < deadline:  # wait for the capture to listen
            time.sleep(0.05)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for n in range(count):
                sock.sendto(payload, ("127.0.0.1", 9))
                if n % 100 == 0:
                    time.sleep(0.01)
        time.sleep(1)
        done.set()
        ctx.cancel()

    def first_packet() -> None:  # something on loopback, so the sender knows tcpdump listens
        deadline = time.monotonic() + 60
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not done.is_set() and not scanner.reader.packets and time.monotonic() < deadline:
                sock.sendto(b"hello", ("127.0.0.1", 9))
                time.sleep(0.2)

    threads = [threading.Thread(target=send), threading.Thread(target=first_packet)]
    for thread in threads:
        thread.start()
    reports = []
    with pytest.raises(ScanCancelled):  # cancelled: what was seen is kept, and the scan marked interrupted
        reports.extend(scanner.scan(ctx))
    assert reports == []  # loopback is no host of the estate
    for thread in threads:
        thread.join(90)
    assert done.is_set()
    assert scanner.reader.packets >= count
    assert list(tmp_path.iterdir()) == []
