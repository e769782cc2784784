"""Pure decoders of the application headers passive discovery keeps: DICOM association, HL7 MSH, TLS hello, HTTP head,
SMB negotiate, Telnet option negotiation, FTP command verbs.

Passive discovery reads captured traffic and never sends a packet. These functions take the first bytes of one
direction of a TCP stream and return a small dict of named header fields, or None when the bytes are not the
start of that protocol (or are too damaged to say).

The patient-data rule: only the named header fields below are ever returned. No DICOM P-DATA (its PDU type is
refused before anything else is read), no HL7 segment other than MSH (decoding stops at MSH's terminator) and
no MSH field beyond the ones named (not MSH-10, the control id), no HTTP target, body or other header, no TLS
field but the server name and versions, no SMB field but the dialects (not a NetBIOS name), no Telnet
subnegotiation, no FTP argument (user names, passwords, file names) but AUTH's mechanism. Every value is
checked (printable, bounded length, UIDs digits and dots only) so that an odd packet cannot smuggle other bytes
into a result.

Each function is bounded (it looks at a fixed-size prefix at most), does no I/O, imports nothing outside the
standard library and never raises on any bytes: hostile, truncated or with lying lengths, it returns None or
the fields it could read whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# --- shared helpers ------------------------------------------------------------------------------------------

class _Reader:
    """A cursor over bytes whose reads return None past the end, so a truncated or lying length never raises."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, count: int) -> bytes | None:
        """Return the next `count` bytes, or None (consuming nothing) when fewer are left."""
        if count < 0 or count > self.remaining:
            return None
        chunk = self.data[self.pos:self.pos + count]
        self.pos += count
        return chunk

    def number(self, size: int) -> int | None:
        """Return the next `size` bytes as a big-endian unsigned integer, or None when fewer are left."""
        chunk = self.take(size)
        return None if chunk is None else int.from_bytes(chunk, "big")

    def vector(self, length_size: int) -> bytes | None:
        """Return a length-prefixed field (a length of `length_size` bytes, then that many bytes), or None."""
        start = self.pos
        length = self.number(length_size)
        chunk = None if length is None else self.take(length)
        if chunk is None:
            self.pos = start
        return chunk


def _printable(raw: bytes, limit: int, encodings: Iterable[str] = ("ascii",)) -> str | None:
    """Return the stripped text if it decodes and is entirely printable, cut to `limit` characters; else None.

    Printable-only keeps control bytes (and whatever binary a hostile packet carries) out of every result.
    """
    for encoding in encodings:
        try:
            text = raw.decode(encoding).strip()
        except UnicodeDecodeError:
            continue
        return text[:limit] if text and text.isprintable() else None
    return None


# --- DICOM upper layer (PS3.8 §9.3) --------------------------------------------------------------------------

MAX_ASSOCIATE_BYTES = 64 * 1024    # an A-ASSOCIATE-RQ with all 128 presentation contexts stays well below this
MAX_ABSTRACT_SYNTAXES = 64
_ASSOCIATE_FIXED = 74              # PDU header (6) + version, reserved, called AE, calling AE, reserved (68)
_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_PDU_KINDS = {0x01: "request", 0x02: "accept"}

# Common SOP classes, UID -> short name. UIDs from DICOM PS3.6 (Annex A, Registry of DICOM Unique Identifiers);
# the service classes they belong to are defined in PS3.4 (Annexes A Verification, B Storage, C Query/Retrieve,
# H Print Management, J Storage Commitment, F Modality Performed Procedure Step, K Basic Worklist Management).
SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.1.1": "Verification",
    "1.2.840.10008.5.1.4.1.1.1": "CR Image Storage",
    "1.2.840.10008.5.1.4.1.1.1.1": "DX Image Storage (presentation)",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "DX Image Storage (processing)",
    "1.2.840.10008.5.1.4.1.1.2": "CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.3.1": "US Multi-frame Image Storage",
    "1.2.840.10008.5.1.4.1.1.4": "MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.6.1": "US Image Storage",
    "1.2.840.10008.5.1.4.1.1.7": "SC Image Storage",
    "1.2.840.10008.5.1.4.1.1.20": "NM Image Storage",
    "1.2.840.10008.5.1.4.1.1.128": "PET Image Storage",
    "1.2.840.10008.5.1.1.9": "Basic Grayscale Print Management",
    "1.2.840.10008.5.1.1.18": "Basic Color Print Management",
    "1.2.840.10008.5.1.4.31": "Modality Worklist FIND",
    "1.2.840.10008.5.1.4.1.2.1.1": "Patient Root Q/R FIND",
    "1.2.840.10008.5.1.4.1.2.1.2": "Patient Root Q/R MOVE",
    "1.2.840.10008.5.1.4.1.2.2.1": "Study Root Q/R FIND",
    "1.2.840.10008.5.1.4.1.2.2.2": "Study Root Q/R MOVE",
    "1.2.840.10008.5.1.4.1.2.2.3": "Study Root Q/R GET",
    "1.2.840.10008.1.20.1": "Storage Commitment Push Model",
    "1.2.840.10008.3.1.2.3.3": "Modality Performed Procedure Step",
}

VERIFICATION = "1.2.840.10008.1.1"
# Which kind of acquisition device each image storage class comes from; SC (secondary capture: screenshots,
# scanned paper) is made by nearly every device and so says nothing about which kind this one is.
_MODALITY_KIND = {
    "1.2.840.10008.5.1.4.1.1.1": "CR", "1.2.840.10008.5.1.4.1.1.1.1": "DX", "1.2.840.10008.5.1.4.1.1.1.1.1": "DX",
    "1.2.840.10008.5.1.4.1.1.2": "CT", "1.2.840.10008.5.1.4.1.1.2.1": "CT",
    "1.2.840.10008.5.1.4.1.1.4": "MR", "1.2.840.10008.5.1.4.1.1.4.1": "MR",
    "1.2.840.10008.5.1.4.1.1.6.1": "US", "1.2.840.10008.5.1.4.1.1.3.1": "US",
    "1.2.840.10008.5.1.4.1.1.20": "NM", "1.2.840.10008.5.1.4.1.1.128": "PT",
}
_STORAGE_BRANCH = "1.2.840.10008.5.1.4.1.1."   # every composite object storage class lives under it
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_PRINT = frozenset({"1.2.840.10008.5.1.1.9", "1.2.840.10008.5.1.1.18"})
_QUERY_RETRIEVE = frozenset({"1.2.840.10008.5.1.4.1.2.1.1", "1.2.840.10008.5.1.4.1.2.1.2",
                             "1.2.840.10008.5.1.4.1.2.2.1", "1.2.840.10008.5.1.4.1.2.2.2",
                             "1.2.840.10008.5.1.4.1.2.2.3"})
_ACQUISITION_WORKFLOW = frozenset({"1.2.840.10008.5.1.4.31", "1.2.840.10008.3.1.2.3.3"})   # worklist, MPPS


def dicom_association(data: bytes) -> dict | None:
    """Return the association fields of a DICOM PDU's first bytes, or None (P-DATA, other PDUs, not DICOM).

    A-ASSOCIATE-RQ/-AC → {"pdu": "request"|"accept", "called_ae", "calling_ae", "abstract_syntaxes" (RQ; [] in
    an AC, which carries none), "accepted" (AC: presentation contexts with result 0; None in an RQ),
    "implementation_class_uid", "implementation_version", "max_pdu"}; A-ASSOCIATE-RJ → {"pdu": "reject",
    "result", "source", "reason"}; A-ABORT → {"pdu": "abort"}. The PDU type is checked first, so a P-DATA-TF
    (type 4, the one that carries the datasets) is refused without a byte of its payload being read.
    """
    data = bytes(data[:MAX_ASSOCIATE_BYTES])
    if not data:
        return None
    pdu_type = data[0]
    if pdu_type in _PDU_KINDS:
        return _associate(data)
    if pdu_type == 0x03:
        return _associate_reject(data[:10])
    if pdu_type == 0x07:
        return _abort(data[:10])
    return None


def _associate(data: bytes) -> dict | None:
    """Return the fields of an A-ASSOCIATE-RQ or -AC; items cut off by the end of the data are left out."""
    if len(data) <= _ASSOCIATE_FIXED:
        return None
    length = int.from_bytes(data[2:6], "big")
    # a reserved byte of zero, protocol version 1 (PS3.8 §9.3.2) and the application context item first (§9.3.2:
    # it precedes the presentation contexts): bytes that merely start with 1 or 2 (a TLS segment's) are no PDU
    if length < _ASSOCIATE_FIXED - 6 or data[1] or data[6:8] != b"\x00\x01" or data[_ASSOCIATE_FIXED] != 0x10:
        return None
    request = data[0] == 0x01
    result: dict = {"pdu": _PDU_KINDS[data[0]], "called_ae": _ae_title(data[10:26]),
                    "calling_ae": _ae_title(data[26:42]), "abstract_syntaxes": [],
                    "accepted": None if request else 0, "implementation_class_uid": None,
                    "implementation_version": None, "max_pdu": None}
    for item_type, value in _items(data[_ASSOCIATE_FIXED:6 + length]):
        if item_type == 0x20 and request:
            _add_abstract_syntaxes(result["abstract_syntaxes"], value)
        elif item_type == 0x21 and not request:
            result["accepted"] += int(len(value) >= 4 and value[2] == 0)   # result/reason 0: acceptance
        elif item_type == 0x50:
            result.update(_user_information(value))
    return result


def _items(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (type, value) of consecutive items (type, reserved, 2-byte length, value); stop at a cut-off one.

    Items and sub-items of an association share this header (PS3.8 §9.3.2.1-9.3.2.3, Annex D).
    """
    reader = _Reader(data)
    while True:
        item_type = reader.number(1)
        if item_type is None or reader.take(1) is None:
            return
        value = reader.vector(2)
        if value is None:
            return
        yield item_type, value


def _add_abstract_syntaxes(found: list[str], context: bytes) -> None:
    """Append the abstract syntax UID of an RQ presentation context item's value, unless seen or at the cap."""
    for sub_type, value in _items(context[4:]):   # context id, then three reserved bytes
        uid = _uid(value) if sub_type == 0x30 else None
        if uid and uid not in found and len(found) < MAX_ABSTRACT_SYNTAXES:
            found.append(uid)


def _user_information(item: bytes) -> dict:
    """Return max_pdu, implementation_class_uid and implementation_version from a User Information item.

    Only sub-items 0x51, 0x52 and 0x55 are read: 0x58 (user identity) can carry a user name and password.
    """
    fields: dict = {}
    for sub_type, value in _items(item):
        if sub_type == 0x51 and len(value) == 4:
            fields.setdefault("max_pdu", int.from_bytes(value, "big"))
        elif sub_type == 0x52:
            fields.setdefault("implementation_class_uid", _uid(value))
        elif sub_type == 0x55:
            fields.setdefault("implementation_version", _ae_title(value[:16]))
    return fields


def _ae_title(raw: bytes) -> str | None:
    """Return a 16-byte AE title field without its padding (spaces, or NULs some devices send), or None."""
    return _printable(raw.rstrip(b"\x00"), 16)


def _uid(raw: bytes) -> str | None:
    """Return a UID (digits and dots, at most 64, padded to even length with a NUL), or None if it is not one."""
    text = raw.rstrip(b"\x00 ").decode("ascii", errors="replace")
    return text if len(text) <= 64 and _UID.fullmatch(text) else None


def _associate_reject(data: bytes) -> dict | None:
    """Return result, source and reason of an A-ASSOCIATE-RJ (PS3.8 §9.3.4), or None if it is not a valid one."""
    if len(data) < 10 or data[2:6] != b"\x00\x00\x00\x04" or data[7] not in (1, 2) or data[8] not in (1, 2, 3):
        return None
    return {"pdu": "reject", "result": data[7], "source": data[8], "reason": data[9]}


def _abort(data: bytes) -> dict | None:
    """Return {"pdu": "abort"} for an A-ABORT (PS3.8 §9.3.8), or None if it is not a valid one."""
    if len(data) < 10 or data[2:6] != b"\x00\x00\x00\x04" or data[8] not in (0, 1, 2):
        return None
    return {"pdu": "abort"}


def dicom_role(abstract_syntaxes: Iterable[str]) -> str | None:
    """Return what a calling AE proposing these abstract syntaxes looks like, or None when unclear.

    The rule, in order (Verification is ignored beside anything else: nearly every AE proposes it):
    - only Verification → "verification only" (a C-ECHO, e.g. a connectivity check);
    - Query/Retrieve without image storage → "query/retrieve client" (a viewer or workstation);
    - image storage of one or two modality kinds (CT and Enhanced CT are one kind; SC does not count; a storage
      class missing from SOP_CLASSES, e.g. a dose report, is a kind of its own), or
      worklist/MPPS without image storage → "modality": a scanner stores its own images, and worklist and
      MPPS exist for acquisition devices (PS3.4 Annexes K and F). Query/Retrieve beside them → None;
    - print management without image storage → "print client" (a modality printing film counts as a modality);
    - anything else, e.g. storage of three or more kinds (a PACS or router forwarding) → None.
    Modalities often open one association per service, so one association may show only part of a device.
    """
    proposed = set(abstract_syntaxes)
    if proposed == {VERIFICATION}:
        return "verification only"
    proposed.discard(VERIFICATION)
    kinds = {_MODALITY_KIND.get(uid, uid) for uid in proposed
             if uid.startswith(_STORAGE_BRANCH) and uid != _SECONDARY_CAPTURE}
    storage = any(uid.startswith(_STORAGE_BRANCH) for uid in proposed)
    if proposed & _QUERY_RETRIEVE:
        return None if storage else "query/retrieve client"
    if 1 <= len(kinds) <= 2 or (proposed & _ACQUISITION_WORKFLOW and not storage):
        return "modality"
    if proposed & _PRINT and not storage:
        return "print client"
    return None


# --- HL7 v2 over MLLP ----------------------------------------------------------------------------------------

MAX_MSH_BYTES = 2048
MAX_HL7_VALUE = 64
_SEGMENT_END = re.compile(rb"[\r\n\x1c]")   # \r by the standard; \n and the MLLP end block from sloppy senders
_HL7_ENCODINGS = ("utf-8", "latin-1")       # MSH-18 may declare either; ASCII is both


def hl7_msh(data: bytes) -> dict | None:
    """Return the routing fields of an HL7 v2 message's MSH segment, or None if the data does not start with one.

    The data may start with the MLLP start block (0x0B) or with "MSH". Only the MSH segment is read, and only
    when its end (\\r) lies within the first 2 KiB: {"sending_application": MSH-3, "sending_facility": MSH-4,
    "receiving_application": MSH-5, "receiving_facility": MSH-6, "message_type": MSH-9 (up to three components
    joined by "^", e.g. "ORU^R01"), "version": MSH-12}. MSH-3..6 keep their first component (the namespace id).
    """
    head = bytes(data[1:1 + MAX_MSH_BYTES] if data[:1] == b"\x0b" else data[:MAX_MSH_BYTES])
    end = _SEGMENT_END.search(head)
    if not head.startswith(b"MSH") or end is None:
        return None
    segment = head[:end.start()]
    separator = segment[3:4]
    if not _is_delimiter(separator):
        return None
    fields = segment.split(separator)
    delimiters = fields[1] if len(fields) > 1 else b""
    if not 1 <= len(delimiters) <= 5 or not all(_is_delimiter(bytes([c])) for c in delimiters):
        return None
    component, repetition, subcomponent = delimiters[0:1], delimiters[1:2], delimiters[3:4]

    def field(number: int) -> list[bytes]:
        """Return the components of MSH-`number`'s first repetition, each cut at its first subcomponent."""
        raw = fields[number - 1] if number - 1 < len(fields) else b""
        raw = raw.split(repetition)[0] if repetition else raw
        return [part.split(subcomponent)[0] if subcomponent else part for part in raw.split(component)]

    return {"sending_application": _hl7_text(field(3)[0]), "sending_facility": _hl7_text(field(4)[0]),
            "receiving_application": _hl7_text(field(5)[0]), "receiving_facility": _hl7_text(field(6)[0]),
            "message_type": _message_type(field(9)[:3]), "version": _hl7_text(field(12)[0])}


def _is_delimiter(byte: bytes) -> bool:
    """Return whether a single byte can be an HL7 delimiter: printable ASCII punctuation."""
    return len(byte) == 1 and 0x21 <= byte[0] <= 0x7E and not byte.isalnum()


def _hl7_text(raw: bytes) -> str | None:
    return _printable(raw, MAX_HL7_VALUE, _HL7_ENCODINGS)


def _message_type(components: list[bytes]) -> str | None:
    """Return MSH-9's components joined by "^" (trailing empty ones dropped), or None if one is not printable."""
    parts = []
    for part in components:
        text = _hl7_text(part) if part.strip() else ""
        if text is None:
            return None
        parts.append(text)
    return "^".join(parts).rstrip("^")[:MAX_HL7_VALUE] or None


# --- TLS hello (RFC 5246 §7.4.1, RFC 8446 §4.1.2-4.1.3, RFC 6066 §3; SSL 2.0 draft, RFC 6176) ---------------

MAX_TLS_RECORD = 16384 + 2048
_TLS_VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
_SSLV2_VERSIONS = {0x0002: "SSL 2.0", **_TLS_VERSIONS}   # an SSL 2.0-format hello may carry a later offer
_SERVER_NAME, _SUPPORTED_VERSIONS = 0, 43
MAX_HOST_NAME = 253
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")


def tls_hello(data: bytes) -> dict | None:
    """Return the versions (and the client's server name) of a TLS or SSL 2.0 hello, or None for anything else.

    ClientHello → {"hello": "client", "sni", "offered"}: the highest version offered, from supported_versions
    when present, else legacy_version; None when the extensions are cut off before supported_versions could be
    seen (a TLS 1.3 client says 1.2 in legacy_version). ServerHello → {"hello": "server", "version"}, the
    negotiated one, likewise. An SSL 2.0-format ClientHello → {"hello": "client", "sni": None, "offered"}
    from its version field ("SSL 2.0", or e.g. "TLS 1.0" when an old client wraps a TLS offer in that format).
    A hello split over several records is read from its first record only.
    """
    data = bytes(data[:5 + MAX_TLS_RECORD])
    if len(data) >= 11 and data[0] & 0x80:
        return _sslv2_client_hello(data[:11])
    if len(data) < 9 or data[0] != 22 or data[1] != 3 or data[2] > 4:
        return None
    record_length = int.from_bytes(data[3:5], "big")
    if not 4 <= record_length <= MAX_TLS_RECORD:
        return None
    fragment = data[5:5 + record_length]
    length = int.from_bytes(fragment[1:4], "big")
    body = fragment[4:4 + length]
    if fragment[0] == 1:
        return _client_hello(_Reader(body), len(body) == length)
    if fragment[0] == 2:
        return _server_hello(_Reader(body), len(body) == length)
    return None


def _hello_start(reader: _Reader) -> int | None:
    """Read what both hellos start with (version, 32 random bytes, a session ID of at most 32 bytes); return the
    version, or None when it is not a hello's start."""
    version = reader.number(2)
    if version not in _TLS_VERSIONS or reader.take(32) is None:
        return None
    session_id = reader.vector(1)
    return version if session_id is not None and len(session_id) <= 32 else None


def _client_hello(reader: _Reader, whole_message: bool) -> dict | None:
    """Return the server name and highest version a ClientHello offers (RFC 8446 §4.1.2), or None."""
    legacy_version = _hello_start(reader)
    if legacy_version is None:
        return None
    fixed = reader.vector(2) is not None and reader.vector(1) is not None   # cipher suites, compression methods
    extensions, whole = _extensions(reader, fixed, whole_message)
    offered = _TLS_VERSIONS.get(legacy_version) if whole else None
    if _SUPPORTED_VERSIONS in extensions:
        listed = _Reader(extensions[_SUPPORTED_VERSIONS]).vector(1) or b""
        known = [v for v in (int.from_bytes(listed[i:i + 2], "big") for i in range(0, len(listed) - 1, 2))
                 if v in _TLS_VERSIONS]
        offered = _TLS_VERSIONS[max(known)] if known else None
    return {"hello": "client", "sni": _server_name(extensions.get(_SERVER_NAME)), "offered": offered}


def _server_hello(reader: _Reader, whole_message: bool) -> dict | None:
    """Return the version a ServerHello settles on (RFC 8446 §4.1.3), or None."""
    server_version = _hello_start(reader)
    if server_version is None:
        return None
    extensions, whole = _extensions(reader, reader.take(3) is not None, whole_message)   # suite, compression
    version = _TLS_VERSIONS.get(server_version) if whole else None
    if _SUPPORTED_VERSIONS in extensions:
        version = _TLS_VERSIONS.get(int.from_bytes(extensions[_SUPPORTED_VERSIONS], "big"))
    return {"hello": "server", "version": version}


def _extensions(reader: _Reader, reached: bool, whole_message: bool) -> tuple[dict[int, bytes], bool]:
    """Return (first value of each extension type, whether every extension was seen).

    `reached` says the fixed fields before the extensions were all there. A whole hello ending right there has
    no extensions (SSL 3.0 and early TLS); a cut-off extension block yields the extensions that are whole.
    """
    if not reached:
        return {}, False
    if reader.remaining == 0:
        return {}, whole_message
    length = reader.number(2)
    block = reader.take(min(length or 0, reader.remaining)) or b""
    found: dict[int, bytes] = {}
    inner = _Reader(block)
    while True:
        kind = inner.number(2)
        value = None if kind is None else inner.vector(2)
        if value is None:
            break
        found.setdefault(kind, value)
    return found, length is not None and len(block) == length and inner.remaining == 0


def _server_name(extension: bytes | None) -> str | None:
    """Return the host_name of a server_name extension (RFC 6066 §3), lower-cased, or None if it is not one."""
    if extension is None:
        return None
    names = _Reader(_Reader(extension).vector(2) or b"")
    while names.remaining:
        name_type = names.number(1)
        name = names.vector(2)
        if name is None:
            return None
        if name_type == 0:
            text = name.decode("ascii", errors="replace").lower()
            return text if len(text) <= MAX_HOST_NAME and _HOST_NAME.fullmatch(text) else None
    return None


def _sslv2_client_hello(header: bytes) -> dict | None:
    """Return the offer of an SSL 2.0-format CLIENT-HELLO: 2-byte record header, type 1, version, three lengths.

    Lengths are checked against each other (cipher specs are 3 bytes each, the challenge 16 to 32 bytes) so
    that random bytes with the high bit set are not taken for one.
    """
    length = int.from_bytes(header[0:2], "big") & 0x7FFF
    version = int.from_bytes(header[3:5], "big")
    ciphers, session, challenge = (int.from_bytes(header[i:i + 2], "big") for i in (5, 7, 9))
    if (header[2] != 1 or version not in _SSLV2_VERSIONS or not ciphers or ciphers % 3 or session not in (0, 16)
            or not 16 <= challenge <= 32 or length != 9 + ciphers + session + challenge):
        return None
    return {"hello": "client", "sni": None, "offered": _SSLV2_VERSIONS[version]}


# --- HTTP/1.x head (RFC 9112 §3, §4, §5) ---------------------------------------------------------------------

MAX_HTTP_HEAD = 4096
MAX_HTTP_VALUE = 200
_REQUEST_LINE = re.compile(rb"([A-Z][A-Z_-]{1,19}) [^ \x00-\x1f]+ HTTP/1\.[0-9]\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[0-9] ([1-5][0-9][0-9])(?: [^\r\n]*)?\r?\n")
_REQUEST_HEADERS = {b"host": "host", b"user-agent": "user_agent"}
_RESPONSE_HEADERS = {b"server": "server"}


def http_head(data: bytes) -> dict | None:
    """Return the kind and a few named headers of an HTTP/1.x request or response start, or None.

    Request → {"kind": "request", "method", "host", "user_agent"}; response → {"kind": "response", "status",
    "server"}. The request target is matched but never kept (paths and queries can hold patient identifiers),
    nor is any other header or the body: reading stops at the blank line, or at 4 KiB. A header line cut off
    by the end of the data is left out rather than kept half.
    """
    head = bytes(data[:MAX_HTTP_HEAD])
    line_end = head.find(b"\n") + 1
    first_line = head[:line_end]
    if line_end and (request := _REQUEST_LINE.fullmatch(first_line)):
        result: dict = {"kind": "request", "method": request[1].decode("ascii"), "host": None, "user_agent": None}
        wanted = _REQUEST_HEADERS
    elif line_end and (status := _STATUS_LINE.fullmatch(first_line)):
        result = {"kind": "response", "status": int(status[1]), "server": None}
        wanted = _RESPONSE_HEADERS
    else:
        return None
    seen = set()
    for name, value in _header_lines(head[line_end:]):
        key = wanted.get(name)
        if key and key not in seen:   # the first of repeated headers counts, even when it is unprintable
            seen.add(key)
            result[key] = _printable(value, MAX_HTTP_VALUE, ("latin-1",))
    return result


def _header_lines(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield (lower-cased name, raw value) of whole header lines, up to the blank line that ends the head."""
    for line in block.split(b"\n")[:-1]:   # the last piece has no newline: cut off (or empty)
        line = line.removesuffix(b"\r")
        if not line:
            return
        name, colon, value = line.partition(b":")
        if colon and name and not name[:1].isspace():   # a leading space is an obsolete folded continuation
            yield name.strip().lower(), value


# --- SMB negotiate (MS-CIFS §2.2.4.52, MS-SMB2 §2.2.1-2.2.4; NetBIOS session service, RFC 1002 §4.3) ---------

MAX_SMB_BYTES = 4096
MAX_SMB_DIALECTS = 32
MAX_SMB_DIALECT = 32
_SMB1, _SMB2 = b"\xffSMB", b"\xfeSMB"
_SMB1_HEADER, _SMB2_HEADER = 32, 64
_SMB1_NEGOTIATE, _SMB2_NEGOTIATE = 0x72, 0x0000
_SMB1_REPLY, _SMB2_REPLY = 0x80, 0x00000001   # SMB1 Flags: SMB_FLAGS_REPLY; SMB2 Flags: SMB2_FLAGS_SERVER_TO_REDIR
_SMB2_DIALECTS = {0x0202: "SMB 2.0.2", 0x0210: "SMB 2.1", 0x0300: "SMB 3.0", 0x0302: "SMB 3.0.2",
                  0x0311: "SMB 3.1.1", 0x02FF: "SMB 2.???"}   # 2.??? : a server's answer to a multi-protocol offer
_NO_DIALECT = 0xFFFF   # an SMB1 negotiate response's DialectIndex when none of the offered ones is acceptable


def smb_negotiate(data: bytes) -> dict | None:
    """Return what an SMB negotiation's first message says, or None for anything else (other SMB commands too).

    The data is one direction of a TCP stream to port 445 or 139, starting with a NetBIOS session service header
    (RFC 1002: type, then the length). Results:
    - a NetBIOS session request (port 139's opening, type 0x81) → {"kind": "session-request"} (its two NetBIOS
      names are not kept);
    - an SMB1 NEGOTIATE request → {"kind": "request", "protocol": "SMB1", "dialects": the dialect strings
      offered in order, e.g. ["PC NETWORK PROGRAM 1.0", ..., "NT LM 0.12", "SMB 2.002", "SMB 2.???"]};
    - an SMB2 NEGOTIATE request → {"kind": "request", "protocol": "SMB2", "dialects": e.g. ["SMB 2.0.2", ...,
      "SMB 3.1.1"]};
    - an SMB1 NEGOTIATE response → {"kind": "response", "protocol": "SMB1", "status", "dialect_index": the
      index of the chosen dialect in the request's list (None: none was acceptable), "dialect": None};
    - an SMB2 NEGOTIATE response → {"kind": "response", "protocol": "SMB2", "status", "dialect_index": None,
      "dialect": e.g. "SMB 3.1.1" (None when the status is an error or the revision unknown)}.
    "status" is the NT status (0: success). A request's dialects cut off by the end of the data are left out.
    """
    data = bytes(data[:MAX_SMB_BYTES])
    if len(data) < 8:
        return None
    if data[0] == 0x81:
        return _netbios_session_request(data)
    if data[0] != 0x00:   # a session message; its length is 17 bits in RFC 1002, 24 bits for direct TCP (445)
        return None
    message = data[4:4 + int.from_bytes(data[1:4], "big")]
    if message[:4] == _SMB1:
        return _smb1_negotiate(message)
    if message[:4] == _SMB2:
        return _smb2_negotiate(message)
    return None


def _netbios_session_request(data: bytes) -> dict | None:
    """Return {"kind": "session-request"} for a NetBIOS SESSION REQUEST: two 34-byte encoded names (RFC 1002
    §4.3.2, each a length byte of 32, 32 letters A-P, a zero), or None."""
    if data[1] & 0xFE or int.from_bytes(data[2:4], "big") != 68 or len(data) < 72:
        return None
    for start in (4, 38):
        name = data[start:start + 34]
        if name[0] != 32 or name[33] != 0 or any(not 0x41 <= c <= 0x50 for c in name[1:33]):
            return None
    return {"kind": "session-request"}


def _smb1_negotiate(message: bytes) -> dict | None:
    """Return the dialects of an SMB1 NEGOTIATE request or the choice of its response (MS-CIFS §2.2.4.52)."""
    if len(message) < _SMB1_HEADER + 1 or message[4] != _SMB1_NEGOTIATE:
        return None
    status = int.from_bytes(message[5:9], "little")
    reader = _Reader(message[_SMB1_HEADER:])
    word_count = reader.number(1)   # parameter words (2 bytes each), then a byte count and the bytes
    words = reader.take(2 * word_count) if word_count is not None else None
    if words is None:
        return None
    if message[9] & _SMB1_REPLY:
        if word_count == 0:   # an error response carries no parameter words
            return {"kind": "response", "protocol": "SMB1", "status": status, "dialect_index": None, "dialect": None}
        index = int.from_bytes(words[:2], "little")
        return {"kind": "response", "protocol": "SMB1", "status": status,
                "dialect_index": None if index == _NO_DIALECT else index, "dialect": None}
    if word_count != 0:
        return None
    byte_count = reader.take(2)
    if byte_count is None:
        return None
    block = reader.data[reader.pos:reader.pos + int.from_bytes(byte_count, "little")]
    dialects = []
    for chunk in block.split(b"\x00")[:-1]:   # the last piece has no terminator: cut off (or empty)
        if chunk[:1] != b"\x02" or len(dialects) >= MAX_SMB_DIALECTS:   # buffer format 0x02: a dialect string
            break
        text = _printable(chunk[1:], MAX_SMB_DIALECT)
        if text is None:
            break
        dialects.append(text)
    return {"kind": "request", "protocol": "SMB1", "dialects": dialects}


def _smb2_negotiate(message: bytes) -> dict | None:
    """Return the dialects of an SMB2 NEGOTIATE request or the revision its response chose (MS-SMB2 §2.2.3-2.2.4)."""
    if (len(message) < _SMB2_HEADER + 8 or int.from_bytes(message[4:6], "little") != _SMB2_HEADER
            or int.from_bytes(message[12:14], "little") != _SMB2_NEGOTIATE):
        return None
    status = int.from_bytes(message[8:12], "little")
    body = message[_SMB2_HEADER:]
    structure_size = int.from_bytes(body[0:2], "little")
    if int.from_bytes(message[16:20], "little") & _SMB2_REPLY:
        if structure_size == 65:
            revision = int.from_bytes(body[4:6], "little")
            return {"kind": "response", "protocol": "SMB2", "status": status, "dialect_index": None,
                    "dialect": _SMB2_DIALECTS.get(revision) if status == 0 else None}
        if structure_size == 9:   # an ERROR response
            return {"kind": "response", "protocol": "SMB2", "status": status, "dialect_index": None, "dialect": None}
        return None
    if structure_size != 36:
        return None
    count = int.from_bytes(body[2:4], "little")
    listed = body[36:36 + 2 * min(count, MAX_SMB_DIALECTS)]
    revisions = [int.from_bytes(listed[i:i + 2], "little") for i in range(0, len(listed) - 1, 2)]
    return {"kind": "request", "protocol": "SMB2",
            "dialects": list(dict.fromkeys(_SMB2_DIALECTS.get(r, f"0x{r:04x}") for r in revisions))}


# --- Telnet option negotiation (RFC 854, RFC 855) ------------------------------------------------------------

MAX_TELNET_OPTIONS = 16
_IAC, _SB = 255, 250
_TELNET_VERBS = {251: "WILL", 252: "WONT", 253: "DO", 254: "DONT"}
_TELNET_OPTIONS = {0: "BINARY", 1: "ECHO", 3: "SUPPRESS-GO-AHEAD", 5: "STATUS", 6: "TIMING-MARK",
                   24: "TERMINAL-TYPE", 31: "NAWS", 32: "TERMINAL-SPEED", 33: "TOGGLE-FLOW-CONTROL",
                   34: "LINEMODE", 35: "X-DISPLAY-LOCATION", 36: "ENVIRON", 37: "AUTHENTICATION", 38: "ENCRYPT",
                   39: "NEW-ENVIRON"}


def telnet_negotiation(data: bytes) -> dict | None:
    """Return {"options": the option names negotiated} when the data starts with Telnet option negotiation (IAC,
    then WILL/WONT/DO/DONT and an option: what a Telnet server or client sends first), else None.

    Only the leading run of 3-byte negotiations is read; reading stops at a subnegotiation (IAC SB: a terminal
    type, or NEW-ENVIRON's variables, which can hold a user name) or at the first byte of anything else.
    """
    head = bytes(data[:3 * MAX_TELNET_OPTIONS])
    options: list[str] = []
    for at in range(0, len(head) - 2, 3):
        if head[at] != _IAC or head[at + 1] not in _TELNET_VERBS:
            break
        name = _TELNET_OPTIONS.get(head[at + 2], f"option {head[at + 2]}")
        if name not in options:
            options.append(name)
    return {"options": options} if options else None


# --- FTP control commands (RFC 959, RFC 2228, RFC 4217, RFC 3659) --------------------------------------------

MAX_FTP_LINE = 512
_FTP_COMMAND = re.compile(rb"([A-Za-z]{3,4})(?: ([^\r\n]{0,500}))?\r?\n")
# Commands no other common clear-text protocol shares (POP3 also has USER, PASS, LIST, RETR; SMTP and POP3 NOOP,
# QUIT, HELP; SMTP and POP3 AUTH with SASL mechanisms, which FTP's AUTH TLS/SSL are not): one identifies FTP.
FTP_ONLY_COMMANDS = frozenset({"ACCT", "ALLO", "APPE", "CCC", "CDUP", "CWD", "EPRT", "EPSV", "FEAT", "MDTM", "MKD",
                               "MLSD", "MLST", "MODE", "NLST", "OPTS", "PASV", "PBSZ", "PORT", "PROT", "PWD",
                               "REST", "RMD", "RNFR", "RNTO", "SITE", "SIZE", "STOR", "STOU", "STRU", "SYST",
                               "TYPE", "XPWD", "AUTH"})
FTP_LOGIN_COMMANDS = frozenset({"USER", "PASS"})
_FTP_TLS_MECHANISMS = {"TLS", "SSL", "TLS-C", "TLS-P"}


def ftp_command(data: bytes) -> dict | None:
    """Return {"command": the verb, "mechanism"} for an FTP client's command line, or None.

    Only FTP_ONLY_COMMANDS and the login commands (USER, PASS) are recognised. The argument is never kept (it
    holds user names, passwords and file names), except AUTH's mechanism: "TLS" or "SSL" (RFC 4217: the
    session is then protected); an AUTH with another mechanism (SASL, as SMTP and POP3 use) is not FTP's → None.
    """
    line = _FTP_COMMAND.match(bytes(data[:MAX_FTP_LINE]))
    if line is None:
        return None
    verb = line[1].decode("ascii").upper()
    if verb not in FTP_ONLY_COMMANDS | FTP_LOGIN_COMMANDS:
        return None
    mechanism = None
    if verb == "AUTH":
        mechanism = (line[2] or b"").strip().upper().decode("ascii", errors="replace")
        if mechanism not in _FTP_TLS_MECHANISMS:
            return None
    return {"command": verb, "mechanism": mechanism}
