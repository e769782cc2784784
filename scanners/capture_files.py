"""Reading pcap and pcapng files as a stream of (time, frame, link type), whatever a file claims about itself.

Our own few lines rather than dpkt's readers, which (1.9.8) apply the first interface's time resolution and link
type to every packet of a pcapng file with several interfaces, and read whatever length a damaged record claims
(a 4 GB read). Here every length is checked against MAX_FRAME/MAX_BLOCK before it is read, each pcapng interface
keeps its own link type, resolution and offset, a new section starts afresh, and anything that does not add up
raises CaptureDamaged: the caller keeps what came before it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAX_FRAME = 262_144          # the capture tools' largest snapshot length: a longer record is damage
MAX_BLOCK = MAX_FRAME + 4096  # a pcapng block holding one such frame, with its options
LATEST = 253_402_300_799     # 9999-12-31T23:59:59Z: a later packet time is damage, not a date
PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_SECTION, _INTERFACE, _SIMPLE, _ENHANCED, _OBSOLETE_PACKET = 0x0A0D0D0A, 1, 3, 6, 2


class CaptureDamaged(ValueError):
    """The file stops making sense here; what came before is good."""


@dataclass(slots=True)
class Interface:
    link: int
    unit: float = 1e-6      # seconds per timestamp tick (if_tsresol)
    offset: int = 0         # seconds added to every timestamp (if_tsoffset)


def records(f: BinaryIO) -> Iterator[tuple[float | None, bytes, int]]:
    """(seconds since 1970, frame bytes, link type) of every packet in a pcap or pcapng file, in file order; the
    time is None where a packet has none (pcapng's simple packets) or one no clock gives (past the year 9999).
    Raises CaptureDamaged at once when the file is no capture, and, while iterating, where it stops making sense
    (after yielding everything before it)."""
    head = f.read(4)
    if head == PCAPNG_MAGIC:
        return _pcapng(f, _section(f))
    if head in PCAP_MAGICS:
        order, unit = PCAP_MAGICS[head]
        rest = f.read(20)
        if len(rest) < 20:
            raise CaptureDamaged("the file header is cut short")
        return _pcap(f, order, unit, struct.unpack(order + "I", rest[16:20])[0] & 0x0FFFFFFF)
    raise CaptureDamaged("not a pcap or pcapng file")


def _pcap(f: BinaryIO, order: str, unit: float, link: int) -> Iterator[tuple[float | None, bytes, int]]:
    header = struct.Struct(order + "IIII")
    while True:
        raw = f.read(16)
        if not raw:
            return
        if len(raw) < 16:
            raise CaptureDamaged("the last record is cut short")
        seconds, fraction, length, _original = header.unpack(raw)
        if length > MAX_FRAME:
            raise CaptureDamaged(f"a record claims {length:,} bytes")
        data = f.read(length)
        if len(data) < length:
            raise CaptureDamaged("the last record is cut short")
        yield checked_time(seconds + fraction * unit), data, link


def _pcapng(f: BinaryIO, order: str) -> Iterator[tuple[float | None, bytes, int]]:
    interfaces: list[Interface] = []
    block_type = None  # the first section's header is read already
    while True:
        if block_type == _SECTION:
            order, interfaces = _section(f), []
        elif block_type is not None:
            body = _block_body(f, order)
            if block_type == _INTERFACE:
                interfaces.append(_interface(body, order))
            elif block_type in (_ENHANCED, _OBSOLETE_PACKET) and len(body) >= 20:
                number, high, low, length = struct.unpack(order + "IIII", body[:16])
                if block_type == _OBSOLETE_PACKET:
                    number &= 0xFFFF
                if number >= len(interfaces) or length > len(body) - 20:
                    raise CaptureDamaged("a packet block names no interface or claims more than it holds")
                face = interfaces[number]
                yield checked_time(face.offset + ((high << 32) | low) * face.unit), body[20:20 + length], face.link
            elif block_type == _SIMPLE and len(body) >= 4 and interfaces:  # no time: the last one seen is as good
                length = min(struct.unpack(order + "I", body[:4])[0], len(body) - 4)
                yield None, body[4:4 + length], interfaces[0].link
        raw = f.read(4)
        if not raw:
            return
        if len(raw) < 4:
            raise CaptureDamaged("the last block is cut short")
        block_type = _SECTION if raw == PCAPNG_MAGIC else struct.unpack(order + "I", raw)[0]


def _section(f: BinaryIO) -> str:
    """Read a section header block after its type; return its byte order (from its magic)."""
    raw = f.read(8)
    if len(raw) < 8:
        raise CaptureDamaged("a section header is cut short")
    order = "<" if raw[4:8] == b"\x4d\x3c\x2b\x1a" else ">" if raw[4:8] == b"\x1a\x2b\x3c\x4d" else None
    if order is None:
        raise CaptureDamaged("a section header has no byte-order magic")
    _rest_of_block(f, order, struct.unpack(order + "I", raw[:4])[0], 12)
    return order


def _block_body(f: BinaryIO, order: str) -> bytes:
    raw = f.read(4)
    if len(raw) < 4:
        raise CaptureDamaged("a block is cut short")
    return _rest_of_block(f, order, struct.unpack(order + "I", raw)[0], 8)


def _rest_of_block(f: BinaryIO, order: str, length: int, read: int) -> bytes:
    """The body of a block `length` bytes long of which `read` are read (its trailing length checked)."""
    if length % 4 or not 12 <= length <= MAX_BLOCK or length < read + 4:
        raise CaptureDamaged(f"a block claims {length:,} bytes")
    rest = f.read(length - read)
    if len(rest) < length - read:
        raise CaptureDamaged("the last block is cut short")
    if struct.unpack(order + "I", rest[-4:])[0] != length:
        raise CaptureDamaged("a block's two lengths differ")
    return rest[:-4]


def _interface(body: bytes, order: str) -> Interface:
    if len(body) < 8:
        raise CaptureDamaged("an interface block is cut short")
    face = Interface(link=struct.unpack(order + "H", body[:2])[0])
    at = 8
    while at + 4 <= len(body):
        code, length = struct.unpack(order + "HH", body[at:at + 4])
        value = body[at + 4:at + 4 + length]
        if code == 0:
            break
        if code == 9 and len(value) == 1:       # if_tsresol: 10^-n, or 2^-n with the top bit set
            n = value[0] & 0x7F
            face.unit = 2.0 ** -n if value[0] & 0x80 else 10.0 ** -n
        elif code == 14 and len(value) == 8:    # if_tsoffset: seconds
            face.offset = struct.unpack(order + "q", value)[0]
        at += 4 + (length + 3) // 4 * 4
    return face


def checked_time(when: float) -> float | None:
    """`when`, or None when no clock gives it (before 1970 or past the year 9999: damage, not a date)."""
    return when if 0 <= when <= LATEST else None
