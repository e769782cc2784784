"""A misbehaving SNMP v2c agent for tests: it answers the system group like any agent, then misbehaves as its
mode says. Run it as a process of its own and stop it by PID:

    python -m tests.hostile_snmp_agent --port 16161 --mode endless [--address 127.0.0.1] [--community C]

It prints "listening on ADDRESS:PORT (MODE)" once it is ready (with --port 0, the port the system chose).

Modes (each keeps a few ordinary rows: interfaces, a process, a listener, so a test can see nothing was lost):
- polite:  an ordinary agent (the baseline);
- endless: hrSWInstalledName and hrProcessorLoad never end: every row has a next one, with an ever larger
           index, for ever (an "absurd table size");
- loop:    hrSWInstalledName goes 1, 2, 3, then back to 1 (GETBULK that loops), and hrProcessorLoad answers
           ever longer OIDs (each row's OID the previous one plus ".1"), past SNMP's 128 sub-identifiers;
- huge:    a 60,000-byte sysDescr, a 64,000-byte process command line (with a password in it), software names
           of 30,000 bytes for ever, ten million processes;
- types:   wrong types (an OCTET STRING sysObjectID, a Counter64 sysUpTime, a string MTU, an Integer MAC, an OID
           where a number belongs, negative and 64-bit numbers) and truncated or impossible table indexes;
- bytes:   non-UTF-8 bytes, NULs, terminal escapes (ESC ] 0; ... BEL, CSI, U+202E) in every text it has;
- stall:   answers until hrSWInstalledName is asked for, then never again (a walk that outlasts its time limit).

Only UDP on the address given (loopback by default). Every loop is bounded: the agent exits after --lifetime
seconds, when its parent process ends, or on SIGTERM; a GETBULK answer holds at most MAX_BINDS bindings and
fits one datagram (a GET answer that would not is tooBig). The agent decodes and encodes messages with pysnmp's v2c message API (no MIB compiling).
"""

from __future__ import annotations

import argparse
import bisect
import os
import select
import signal
import socket
import sys
import time

from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import univ
from pysnmp.proto import api

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
MODES = ("polite", "endless", "loop", "huge", "types", "bytes", "stall")
DATAGRAM = 65_000          # bytes an answer may take (UDP over IPv4 carries 65,507)
MAX_BINDS = 200            # bindings in one GETBULK answer
MAX_REPETITIONS = 100      # what the agent honours of a GETBULK's max-repetitions
DEFAULT_LIFETIME = 600.0   # seconds before the agent exits whatever happens

SYSTEM = (1, 3, 6, 1, 2, 1, 1)
SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME = SYSTEM + (1, 0), SYSTEM + (2, 0), SYSTEM + (3, 0)
SYS_CONTACT, SYS_NAME, SYS_LOCATION = SYSTEM + (4, 0), SYSTEM + (5, 0), SYSTEM + (6, 0)
HR_MEMORY = (1, 3, 6, 1, 2, 1, 25, 2, 2, 0)
IF_DESCR, IF_MTU = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2), (1, 3, 6, 1, 2, 1, 2, 2, 1, 4)
IF_SPEED = (1, 3, 6, 1, 2, 1, 2, 2, 1, 5)
IF_MAC, IF_OPER = (1, 3, 6, 1, 2, 1, 2, 2, 1, 6), (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
IF_NAME, IF_HIGH_SPEED = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1), (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15)
IP_IF, IP_MASK = (1, 3, 6, 1, 2, 1, 4, 20, 1, 2), (1, 3, 6, 1, 2, 1, 4, 20, 1, 3)
SW_NAME = (1, 3, 6, 1, 2, 1, 25, 6, 3, 1, 2)
RUN_NAME, RUN_PATH, RUN_ARGS = ((1, 3, 6, 1, 2, 1, 25, 4, 2, 1, 2), (1, 3, 6, 1, 2, 1, 25, 4, 2, 1, 4),
                                (1, 3, 6, 1, 2, 1, 25, 4, 2, 1, 5))
CPU_LOAD = (1, 3, 6, 1, 2, 1, 25, 3, 3, 1, 2)
TCP_LISTEN_PID = (1, 3, 6, 1, 2, 1, 6, 20, 1, 4)
TCP_CONN_STATE, TCP_CONN_PID = (1, 3, 6, 1, 2, 1, 6, 19, 1, 7), (1, 3, 6, 1, 2, 1, 6, 19, 1, 8)
UDP_ENDPOINT_PID = (1, 3, 6, 1, 2, 1, 7, 7, 1, 8)
TCP_OLD_STATE, UDP_OLD = (1, 3, 6, 1, 2, 1, 6, 13, 1, 1), (1, 3, 6, 1, 2, 1, 7, 5, 1, 1)
V4 = (1, 4)

# The text of bytes mode: a window-title escape, colour codes, a CSI in its C1 form, a bidi override, a NUL and
# bytes that are not UTF-8.
HOSTILE = b"evil\x1b]0;pwned\x07\x1b[31mred\x1b[0m\xc2\x9b2J\xe2\x80\xaehost\x00\xff\xfe"
SECRET = "Hunter2secret"   # a password on a process's command line, which must be redacted


def text(value: str | bytes) -> V2C.OctetString:
    """An OCTET STRING of `value` (text as UTF-8)."""
    return V2C.OctetString(value.encode() if isinstance(value, str) else value)


class Static:
    """A table of fixed rows: {index: value}."""

    def __init__(self, prefix: tuple[int, ...], rows: dict):
        self.prefix, self.rows = prefix, dict(rows)
        self.indexes = sorted(self.rows)

    def get(self, index):
        return self.rows.get(index)

    def after(self, index):
        at = bisect.bisect_right(self.indexes, index)
        return (self.indexes[at], self.rows[self.indexes[at]]) if at < len(self.indexes) else None


class Endless:
    """A table whose every row has a next one: indexes 1, 2, 3, ... up to `last` (for ever by default)."""

    def __init__(self, prefix: tuple[int, ...], value, last: int | None = None):
        self.prefix, self.value, self.last = prefix, value, last

    def get(self, index):
        return self.value(index[0]) if len(index) == 1 and 0 < index[0] <= (self.last or index[0]) else None

    def after(self, index):
        number = (index[0] if index else 0) + 1
        return ((number,), self.value(number)) if self.last is None or number <= self.last else None


class Looping(Static):
    """Rows 1..n, then back to the first: the row after the last is the first again."""

    def after(self, index):
        return super().after(index) or (self.indexes[0], self.rows[self.indexes[0]])


class Deepening:
    """Each row's OID is the previous one plus ".1": increasing, never ending, ever longer."""

    def __init__(self, prefix: tuple[int, ...]):
        self.prefix = prefix

    def get(self, index):
        return None

    def after(self, index):
        return (index + (1,) if index else (1,)), V2C.Gauge32(len(index) % 100)


class Mib:
    """What the agent answers: scalars by exact OID and tables by prefix (tables do not overlap)."""

    def __init__(self, scalars: dict, tables: list):
        self.scalars, self.tables = {tuple(k): v for k, v in scalars.items()}, tables
        self.names = sorted(self.scalars)

    def get(self, oid: tuple[int, ...]):
        if oid in self.scalars:
            return self.scalars[oid]
        for table in self.tables:
            if oid[:len(table.prefix)] == table.prefix:
                return table.get(oid[len(table.prefix):])
        return None

    def next(self, oid: tuple[int, ...]):
        """(oid, value) after `oid`, or None at the end of the MIB."""
        found = []
        at = bisect.bisect_right(self.names, oid)
        if at < len(self.names):
            found.append((self.names[at], self.scalars[self.names[at]]))
        for table in self.tables:
            size = len(table.prefix)
            if oid[:size] == table.prefix:
                row = table.after(oid[size:])
                if row:  # the table answers for its own rows, even when it goes backwards (loop mode)
                    return table.prefix + row[0], row[1]
            elif table.prefix > oid:
                row = table.after(())
                if row:
                    found.append((table.prefix + row[0], row[1]))
        return min(found, key=lambda f: f[0]) if found else None


def build_mib(mode: str) -> Mib:
    """The objects of `mode` (see the module docstring)."""
    descr, name = "Linux hostile 6.1.0-18-amd64 #1 SMP Debian 6.1.76-1 x86_64", f"hostile-{mode}"
    scalars = {SYS_DESCR: text(descr), SYS_OBJECT_ID: V2C.ObjectIdentifier((1, 3, 6, 1, 4, 1, 8072, 3, 2, 10)),
               SYS_UPTIME: V2C.TimeTicks(360_000), SYS_CONTACT: text("it@example.org"), SYS_NAME: text(name),
               SYS_LOCATION: text("Server room B"), HR_MEMORY: V2C.Integer32(2_048)}
    tables = {
        IF_DESCR: {(1,): text("lo"), (2,): text("eth0")}, IF_NAME: {(2,): text("eth0")},
        IF_MAC: {(1,): text(b""), (2,): text(bytes.fromhex("02cc0000000a"))},
        IF_OPER: {(1,): V2C.Integer32(1), (2,): V2C.Integer32(1)}, IF_MTU: {(2,): V2C.Integer32(1500)},
        IP_IF: {(127, 0, 0, 1): V2C.Integer32(1), (10, 0, 0, 5): V2C.Integer32(2)},
        IP_MASK: {(10, 0, 0, 5): V2C.IpAddress("255.255.255.0")},
        SW_NAME: {(1,): text("openssh-server_1:9.2p1-2+deb12u3_amd64"), (2,): text("postgresql-15_15.6-0_amd64")},
        RUN_NAME: {(1,): text("init"), (812,): text("postgres")},
        RUN_PATH: {(812,): text("/usr/lib/postgresql/15/bin/postgres")},
        RUN_ARGS: {(812,): text("-D /var/lib/postgresql/15/main")},
        TCP_LISTEN_PID: {(*V4, 0, 0, 0, 0, 5432): V2C.Unsigned32(812)},
    }
    extra: list = []
    if mode == "endless":
        del tables[SW_NAME]
        extra += [Endless(SW_NAME, lambda n: text(f"pkg{n}_1.{n}_amd64")),
                  Endless(CPU_LOAD, lambda n: V2C.Integer32(n % 100))]
    elif mode == "loop":
        del tables[SW_NAME]
        extra += [Looping(SW_NAME, {(1,): text("one_1.0_amd64"), (2,): text("two_2.0_amd64"),
                                    (3,): text("three_3.0_amd64")}), Deepening(CPU_LOAD)]
    elif mode == "huge":
        scalars[SYS_DESCR] = text(descr + " " + "D" * (60_000 - len(descr) - 1))
        scalars[SYS_NAME] = text("hostile-huge." + "n" * 4_000)
        tables[RUN_PATH][(7,)] = text("/usr/bin/java")
        tables[RUN_ARGS][(7,)] = text(f"--password={SECRET} " + "a" * 64_000)
        del tables[RUN_NAME], tables[SW_NAME]
        extra += [Endless(RUN_NAME, lambda n: text({1: "init", 7: "java", 812: "postgres"}.get(n, f"worker{n}")),
                          last=10_000_000),
                  Endless(SW_NAME, lambda n: text(f"pkg{n}_1.0_amd64 " + "s" * 30_000))]
    elif mode == "types":
        scalars[SYS_OBJECT_ID] = text("1.3.6.1.4.1.8072.3.2.10")               # a string, not an OID
        scalars[SYS_UPTIME] = V2C.Counter64(2 ** 64 - 1)                        # far past any TimeTicks
        scalars[HR_MEMORY] = text("2048")                                       # a string, not a number
        tables[IF_DESCR][(3, 7)] = text("two-part index")                       # ifIndex has one part
        tables[IF_MTU] = {(2,): text("1500")}                                   # a string MTU
        tables[IF_MAC] = {(2,): V2C.Integer32(42)}                              # a number MAC
        tables[IF_SPEED] = {(2,): V2C.Counter64(2 ** 64 - 1)}                   # a 64-bit speed
        tables[IF_HIGH_SPEED] = {(2,): V2C.Integer32(-5)}                       # a negative speed
        tables[IF_OPER] = {(1,): V2C.ObjectIdentifier((1, 3, 6)), (2,): V2C.Integer32(1)}  # an OID status
        tables[IP_IF][(10, 0, 0, 6)] = text("eth0")                             # a string ifIndex
        tables[IP_MASK] = {(10, 0, 0, 5): V2C.Integer32(24)}                    # a number mask
        tables[RUN_NAME].update({(2 ** 40,): text("huge-pid"), (5, 5): text("two-part-pid"),
                                 (7,): V2C.Integer32(99)})
        tables[RUN_PATH][(812,)] = V2C.ObjectIdentifier((1, 3, 6, 1))          # an OID path
        tables[TCP_LISTEN_PID].update({
            (1, 4, 10, 0): V2C.Unsigned32(812),                                 # truncated address
            (1, 4, 300, 0, 0, 1, 80): V2C.Unsigned32(812),                      # 300 is no byte
            (*V4, 0, 0, 0, 0, 70_000): V2C.Unsigned32(812),                     # no such port
            (*V4, 0, 0, 0, 0, 8080): text("812"),                               # a string pid
            (*V4, 0, 0, 0, 0, 8443): V2C.Counter64(2 ** 64 - 1)})               # a 64-bit pid
        tables[TCP_CONN_STATE] = {
            (*V4, 10, 0, 0, 5, 5432, *V4, 10, 0, 0, 40, 51000): V2C.Integer32(5),
            (*V4, 10, 0, 0, 5, 5432, *V4, 10, 0, 0, 41, 99_999): V2C.Integer32(5),  # no such remote port
            (*V4, 10, 0, 0, 5, 5432, *V4, 10, 0, 0, 42, 51000): text("established")}
        tables[TCP_CONN_PID] = {(*V4, 10, 0, 0, 5, 5432, *V4, 10, 0, 0, 40, 51000): V2C.Integer32(-1)}
        tables[TCP_OLD_STATE] = {(0, 0, 0, 0, 100_000, 0, 0, 0, 0, 0): V2C.Integer32(2)}
        tables[UDP_OLD] = {(0, 0, 0, 0, 2 ** 33): V2C.Integer32(0)}
        tables[UDP_ENDPOINT_PID] = {(*V4, 0, 0, 0, 0, 53, *V4, 0, 0, 0, 0, 2 ** 40, 7): V2C.Unsigned32(900)}
        tables[CPU_LOAD] = {(196608,): text("3%")}
    elif mode == "bytes":
        for oid in (SYS_DESCR, SYS_CONTACT, SYS_LOCATION):
            scalars[oid] = text(b"Linux " + HOSTILE + b" 6.1.0 #1 SMP")
        scalars[SYS_NAME] = text(HOSTILE)
        tables[IF_DESCR] = {(1,): text(b"lo\x00\x00"), (2,): text(HOSTILE)}
        tables[IF_NAME] = {(2,): text(b"eth0\x1b[2J")}
        tables[SW_NAME] = {(1,): text(b"openssh-server_1:9.2p1\x1b]0;x\x07_amd64"), (2,): text(HOSTILE)}
        tables[RUN_NAME] = {(1,): text(b"init"), (812,): text(HOSTILE)}
        tables[RUN_PATH] = {(812,): text(b"/usr/bin/\xff\xfepostgres\x1b[31m")}
        tables[RUN_ARGS] = {(812,): text(b"-D /srv/\xe2\x80\xae\x00data --password=" + SECRET.encode())}
    elif mode == "stall":
        pass  # the agent stops answering when SW_NAME is asked for (see serve)
    elif mode != "polite":
        raise ValueError(f"unknown mode {mode!r}")
    return Mib(scalars, [Static(prefix, rows) for prefix, rows in tables.items()] + extra)


def size_of(oid, value) -> int:
    """Bytes one binding takes in a message (its encoding, plus the SEQUENCE around it)."""
    return len(encoder.encode(univ.ObjectIdentifier(oid))) + len(encoder.encode(value)) + 8


def answer(mib: Mib, mode: str, request: bytes, community: bytes, state: dict) -> bytes | None:
    """The response to one datagram, or None to stay silent (not v2c, another community, stalled: in stall mode,
    once hrSWInstalledName is asked for, `state["stalled"]` is set and nothing is answered again)."""
    if state.get("stalled"):
        return None
    try:
        if api.decodeMessageVersion(request) != api.SNMP_VERSION_2C:
            return None
        message, _ = decoder.decode(request, asn1Spec=V2C.Message())
    except Exception:  # not an SNMP message: a real agent ignores it too
        return None
    if bytes(V2C.apiMessage.get_community(message)) != community:
        return None
    pdu = V2C.apiMessage.get_pdu(message)
    asked = [tuple(oid) for oid, _ in V2C.apiPDU.get_varbinds(pdu)]
    if mode == "stall" and any(oid[:len(SW_NAME)] == SW_NAME for oid in asked):
        state["stalled"] = True
        return None
    response = V2C.apiMessage.get_response(message)
    out = V2C.apiMessage.get_pdu(response)
    binds, room = [], DATAGRAM - 200
    if pdu.isSameTypeWith(V2C.GetRequestPDU()):
        for oid in asked:
            value = mib.get(oid)
            binds.append((oid, value if value is not None else V2C.NoSuchInstance("")))
    elif pdu.isSameTypeWith(V2C.GetNextRequestPDU()):
        for oid in asked:
            found = mib.next(oid)
            binds.append(found if found else (oid, V2C.EndOfMibView("")))
    elif pdu.isSameTypeWith(V2C.GetBulkRequestPDU()):
        non_repeaters = min(int(V2C.apiBulkPDU.get_non_repeaters(pdu)), len(asked))
        repetitions = min(int(V2C.apiBulkPDU.get_max_repetitions(pdu)), MAX_REPETITIONS)
        for oid in asked[:non_repeaters]:
            found = mib.next(oid)
            binds.append(found if found else (oid, V2C.EndOfMibView("")))
        cursor = asked[non_repeaters:]
        for _ in range(repetitions if cursor else 0):
            row = []
            for n, oid in enumerate(cursor):
                found = mib.next(oid) or (oid, V2C.EndOfMibView(""))
                row.append(found)
                cursor[n] = found[0]
            cost = sum(size_of(o, v) for o, v in row)
            if binds and (cost > room or len(binds) + len(row) > MAX_BINDS):
                break
            binds += row
            room -= cost
    else:
        return None
    V2C.apiPDU.set_varbinds(out, binds)
    data = encoder.encode(response)
    if len(data) > 65_507:  # what a UDP datagram holds: say tooBig, as RFC 3416 asks
        V2C.apiPDU.set_error_status(out, 1)
        V2C.apiPDU.set_varbinds(out, [(oid, V2C.null) for oid in asked])
        data = encoder.encode(response)
    return data


def serve(address: str, port: int, mode: str, community: bytes, lifetime: float) -> None:
    """Answer on udp `address`:`port` until `lifetime` seconds pass, the parent ends or SIGTERM arrives."""
    mib = build_mib(mode)
    parent, deadline = os.getppid(), time.monotonic() + lifetime
    stopping, state = [], {}
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, port))
        print(f"listening on {address}:{sock.getsockname()[1]} ({mode})", flush=True)  # --port 0: the one given
        while not stopping and time.monotonic() < deadline and os.getppid() == parent:
            if not select.select([sock], [], [], 0.5)[0]:
                continue
            request, peer = sock.recvfrom(65_535)
            try:
                data = answer(mib, mode, request, community, state)
            except Exception as error:  # a request this agent cannot answer: say so, keep serving
                print(f"cannot answer: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
                continue
            if data is not None:
                sock.sendto(data, peer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="UDP port; 0: any free one (printed)")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--community", default="hostile-community")
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME)
    args = parser.parse_args(argv)
    serve(args.address, args.port, args.mode, args.community.encode(), args.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
