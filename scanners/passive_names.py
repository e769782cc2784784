"""Pure decoders of the name protocols passive discovery listens to: DHCP, DNS answers, mDNS, NetBIOS name
service and LLMNR. Each takes one UDP payload and returns a small dict of named fields, or None when the bytes
are not that protocol's message (or hold nothing worth keeping).

What a name tells: DHCP ties a client's MAC to the host name, vendor class and address it asks for (and, in the
server's ACK, to the address it got); DNS answers name other machines (an A record's address, a PTR's); mDNS,
NetBIOS and LLMNR carry a machine's own name for its own address.

Names are hostile input: every one is checked (UTF-8 or ASCII, printable, no spaces, at most 253 characters,
DNS labels 1-63 bytes) and dropped otherwise. DNS name compression is followed only backwards (each pointer to
before the part that holds it) and at most MAX_JUMPS times, so a pointer loop ends. A truncated message or a
lying count or length gives the records read whole before it; nothing raises. Only the fields named below are
returned: no other option, record or byte of the payload.

The wire format is read here rather than through dpkt.dns/dpkt.dhcp: those decode a whole message or raise,
so one bad record would lose the good ones before it (and dpkt's DHCP option loop raises on a cut option).
"""

from __future__ import annotations

import ipaddress

MAX_NAME = 253          # characters of a name (DNS's limit; DHCP and mDNS names are held to it too)
MAX_LABEL = 63
MAX_JUMPS = 16          # compression pointers followed in one name
MAX_RECORDS = 64        # resource records read from one message
MAX_TEXT = 255          # characters of a DHCP vendor class

_QR = 0x8000            # header flag: a response
_IN = 1
_A, _PTR, _NB = 1, 12, 0x20
_DHCP_COOKIE = b"\x63\x82\x53\x63"
_DHCP_FIXED = 236       # BOOTP's fixed part, before the magic cookie
_DHCP_MESSAGES = {1: "discover", 2: "offer", 3: "request", 4: "decline", 5: "ack", 6: "nak", 7: "release",
                  8: "inform"}
# NetBIOS suffixes (the 16th byte of a name) that name the machine itself; a group name (a workgroup or a
# domain) and the messenger name <03> (often a user's name) are never kept.
NETBIOS_ROLES = {0x00: "workstation", 0x20: "file-server"}
_NETBIOS_REGISTRATIONS = {5, 8, 9, 15}   # opcodes: registration, refresh (8, and 9 as Windows sends it), multi-homed


# --- names ---------------------------------------------------------------------------------------------------

def clean_name(raw: bytes | str) -> str | None:
    """Return a name fit to keep: decoded (UTF-8), without a trailing dot or NULs, printable, no whitespace,
    1 to MAX_NAME characters; None otherwise. Hostile bytes never reach a record this way."""
    if isinstance(raw, bytes):
        try:
            raw = raw.rstrip(b"\x00").decode("utf-8")
        except UnicodeDecodeError:
            return None
    name = raw.rstrip(".")
    if not 0 < len(name) <= MAX_NAME or not name.isprintable() or any(c.isspace() for c in name):
        return None
    if ".." in name or name.startswith("."):
        return None
    return name


def _read_name(data: bytes, pos: int) -> tuple[list[bytes] | None, int | None]:
    """Return (labels, offset after the name) of the DNS name at `pos`; labels None when the name is unusable
    but can be skipped, offset None when the message cannot be read past it (truncated, a bad label type)."""
    labels: list[bytes] = []
    end = None          # where the name ends in place: after its first compression pointer, if any
    segment = pos       # start of the run of labels being read; a pointer must lead before it
    length = jumps = 0
    while True:
        if pos >= len(data):
            return None, end
        size = data[pos]
        if size == 0:
            return labels, end if end is not None else pos + 1
        if size & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                return None, end
            target = (size & 0x3F) << 8 | data[pos + 1]
            if end is None:
                end = pos + 2
            if target >= segment or jumps >= MAX_JUMPS:   # forward or looping: not followed
                return None, end
            jumps += 1
            pos = segment = target
            continue
        if size & 0xC0:                                   # 0x40/0x80: label types nobody sends
            return None, end
        label = data[pos + 1:pos + 1 + size]
        if len(label) < size:
            return None, end
        length += size + 1
        if length > MAX_NAME + 2:
            return None, end if end is not None else _skip_labels(data, pos)
        labels.append(label)
        pos += 1 + size


def _skip_labels(data: bytes, pos: int) -> int | None:
    """The offset after a name's remaining labels (from `pos`), without reading them, or None when cut."""
    for _ in range(256):
        if pos >= len(data):
            return None
        size = data[pos]
        if size == 0:
            return pos + 1
        if size & 0xC0 == 0xC0:
            return pos + 2 if pos + 1 < len(data) else None
        if size & 0xC0:
            return None
        pos += 1 + size
    return None


def _dns_name(labels: list[bytes] | None) -> str | None:
    if not labels or any(not 0 < len(label) <= MAX_LABEL or b"." in label for label in labels):
        return None
    return clean_name(b".".join(labels))


def _address(raw: bytes) -> str | None:
    """An IPv4 address worth naming (unicast, not 0.0.0.0, loopback or broadcast), else None."""
    if len(raw) != 4:
        return None
    address = ipaddress.IPv4Address(raw)
    if address.is_unspecified or address.is_loopback or address.is_multicast or raw == b"\xff\xff\xff\xff":
        return None
    return str(address)


def _ptr_address(labels: list[bytes] | None) -> str | None:
    """The address a reverse name stands for: ["30", "0", "203", "10", "in-addr", "arpa"] -> 10.203.0.30."""
    if not labels or len(labels) != 6 or [x.lower() for x in labels[4:]] != [b"in-addr", b"arpa"]:
        return None
    if not all(x.isdigit() and len(x) <= 3 and int(x) <= 255 for x in labels[:4]):
        return None
    return _address(bytes(int(x) for x in reversed(labels[:4])))


# --- the DNS message format (DNS, mDNS, LLMNR and NetBIOS name service share it) ---------------------------

def _records(data: bytes) -> tuple[int, list[tuple[str, list[bytes] | None, int, int, int, int]]] | None:
    """Return the header flags and the message's resource records as (section, owner labels, type, class,
    rdata offset, rdata length), read up to the first damage; None when not even the header is whole."""
    if len(data) < 12:
        return None
    flags = int.from_bytes(data[2:4], "big")
    counts = [int.from_bytes(data[i:i + 2], "big") for i in (4, 6, 8, 10)]
    if counts[0] > MAX_RECORDS:                       # no real message asks that much: its records are not read
        return flags, []
    pos: int | None = 12
    for _ in range(counts[0]):                        # questions: a name, a type and a class
        _, pos = _read_name(data, pos)
        if pos is None or pos + 4 > len(data):
            return flags, []
        pos += 4
    records = []
    for section, count in zip(("answer", "authority", "additional"), counts[1:]):
        for _ in range(count):
            if len(records) >= MAX_RECORDS:
                return flags, records
            labels, pos = _read_name(data, pos)
            if pos is None or pos + 10 > len(data):
                return flags, records
            kind, klass = int.from_bytes(data[pos:pos + 2], "big"), int.from_bytes(data[pos + 2:pos + 4], "big")
            length = int.from_bytes(data[pos + 8:pos + 10], "big")
            start = pos + 10
            if start + length > len(data):
                return flags, records
            records.append((section, labels, kind, klass & 0x7FFF, start, length))  # mDNS: bit 15 is cache-flush
            pos = start + length
    return flags, records


def _named_addresses(data: bytes, sections: tuple[str, ...]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(name, address) pairs of the A records and (address, name) pairs of the PTR records in `sections` of
    a response without error; ([], []) for anything else (a query is refused before its records are read)."""
    if len(data) < 12 or not data[2] & 0x80 or data[3] & 0x0F:   # not a response (QR), or an error (RCODE)
        return [], []
    _, records = _records(data)
    addresses, pointers = [], []
    for section, labels, kind, klass, start, length in records:
        if section not in sections or klass != _IN:
            continue
        if kind == _A and length == 4:
            name, address = _dns_name(labels), _address(data[start:start + 4])
            if name and address and (name, address) not in addresses:
                addresses.append((name, address))
        elif kind == _PTR:
            address = _ptr_address(labels)
            target, _ = _read_name(data[:start + length], start) if address else (None, None)
            name = _dns_name(target)
            if address and name and (address, name) not in pointers:
                pointers.append((address, name))
    return addresses, pointers


def dns_answers(data: bytes) -> dict | None:
    """A DNS response's answers that name machines: {"addresses": [(name, address)] from A records,
    "pointers": [(address, name)] from PTR records}; None for a query, an error or no such answer."""
    addresses, pointers = _named_addresses(data, ("answer",))
    return {"addresses": addresses, "pointers": pointers} if addresses or pointers else None


def mdns_answers(data: bytes) -> dict | None:
    """An mDNS response's (or announcement's) A records, answers and additional ones (where a service answer
    puts its host's address): {"addresses": [(name, address)]}; None for a query or probe."""
    addresses, _ = _named_addresses(data, ("answer", "additional"))
    return {"addresses": addresses} if addresses else None


def llmnr_answers(data: bytes) -> dict | None:
    """An LLMNR response's A records (a machine answering for its own name): {"addresses": [(name, address)]};
    None for a query."""
    addresses, _ = _named_addresses(data, ("answer",))
    return {"addresses": addresses} if addresses else None


# --- NetBIOS name service (RFC 1002) -------------------------------------------------------------------------

def _netbios_name(labels: list[bytes] | None) -> tuple[str, int] | None:
    """(name, suffix) of a first-level encoded NetBIOS name (32 letters A-P, two a byte), scope ignored."""
    if not labels or len(labels[0]) != 32:
        return None
    encoded = labels[0].upper()
    if any(not 0x41 <= c <= 0x50 for c in encoded):
        return None
    raw = bytes((encoded[i] - 0x41) << 4 | (encoded[i + 1] - 0x41) for i in range(0, 32, 2))
    try:
        name = raw[:15].rstrip(b" \x00").decode("ascii")
    except UnicodeDecodeError:
        return None
    if not name or not name.isprintable() or any(c.isspace() or c in "*\\/" for c in name):
        return None
    return name, raw[15]


def netbios_names(data: bytes) -> dict | None:
    """The machine names a NetBIOS name service message ties to addresses: a registration (or refresh) a
    machine broadcasts for itself, or a positive answer to a query. {"kind": "registration" | "answer",
    "names": [{"name", "suffix", "role", "address"}]}; group names and other suffixes are left out."""
    if len(data) < 12:
        return None
    flags = int.from_bytes(data[2:4], "big")
    opcode, response, rcode = flags >> 11 & 0x0F, bool(flags & _QR), flags & 0x000F
    if opcode in _NETBIOS_REGISTRATIONS and not response:
        kind = "registration"
    elif response and rcode == 0 and opcode in (0, *_NETBIOS_REGISTRATIONS):
        kind = "answer"
    else:                                             # a query (the most frequent broadcast): records not read
        return None
    _, records = _records(data)
    names = []
    for _, labels, record_type, klass, start, length in records:
        decoded = _netbios_name(labels) if record_type == _NB and klass == _IN else None
        if decoded is None or decoded[1] not in NETBIOS_ROLES:
            continue
        for entry in range(start, start + length - length % 6, 6):
            if data[entry] & 0x80:            # the G bit: a group (workgroup, domain), not a machine
                continue
            address = _address(data[entry + 2:entry + 6])
            item = {"name": decoded[0], "suffix": decoded[1], "role": NETBIOS_ROLES[decoded[1]], "address": address}
            if address and item not in names:
                names.append(item)
    return {"kind": kind, "names": names} if names else None


# --- DHCP (RFC 2131, 2132) -----------------------------------------------------------------------------------

def dhcp_message(data: bytes) -> dict | None:
    """What a DHCP message says of its client: {"message" ("discover", "request", "ack", ...), "mac" (chaddr),
    "hostname" (option 12), "vendor_class" (option 60, from the client), "requested_address" (option 50),
    "client_address" (ciaddr, a client that has one), "assigned_address" (yiaddr of an ACK)}, missing ones None;
    None when the bytes are not a DHCP message with an Ethernet client address."""
    if len(data) < _DHCP_FIXED + 4 or data[_DHCP_FIXED:_DHCP_FIXED + 4] != _DHCP_COOKIE:
        return None
    op, htype, hlen = data[0], data[1], data[2]
    if op not in (1, 2) or htype != 1 or hlen != 6:
        return None
    mac = data[28:34]
    if not any(mac) or mac[0] & 1:
        return None
    options = _dhcp_options(data[_DHCP_FIXED + 4:])
    kind = options.get(53, b"")
    message = _DHCP_MESSAGES.get(kind[0]) if len(kind) == 1 else None
    vendor_class = options.get(60) if op == 1 else None
    return {
        "message": message,
        "mac": ":".join(f"{b:02x}" for b in mac),
        "hostname": _dhcp_hostname(options.get(12)),
        "vendor_class": _text(vendor_class) if vendor_class else None,
        "requested_address": _address(options.get(50, b"")),
        "client_address": _address(data[12:16]),
        "assigned_address": _address(data[16:20]) if message == "ack" else None,
    }


def _dhcp_options(data: bytes) -> dict[int, bytes]:
    """Options 12, 50, 53 and 60 (an option given twice is one value, concatenated: RFC 3396), read up to the
    end option or the first cut one."""
    options: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        code = data[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255 or pos + 1 >= len(data):
            break
        size = data[pos + 1]
        value = data[pos + 2:pos + 2 + size]
        if len(value) < size:
            break
        if code in (12, 50, 53, 60):
            options[code] = (options.get(code, b"") + value)[:MAX_NAME + 2]
        pos += 2 + size
    return options


def _dhcp_hostname(raw: bytes | None) -> str | None:
    name = clean_name(raw) if raw else None
    return name if name and all(0 < len(label) <= MAX_LABEL for label in name.split(".")) else None


def _text(raw: bytes) -> str | None:
    """Printable ASCII text of at most MAX_TEXT characters (a vendor class: "MSFT 5.0", "udhcp 1.36.1")."""
    try:
        text = raw.rstrip(b"\x00").decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return text[:MAX_TEXT] if text and text.isprintable() else None
