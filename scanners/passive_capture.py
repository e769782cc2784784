"""Passive discovery from captured traffic: hosts, the services that answered and who talks to whom, from a pcap or
pcapng file (tcpdump, Wireshark/dumpcap, a TAP appliance). Nothing is ever sent.

Packets are read as a stream (dpkt) and folded into hosts, services and flows as they go, so memory grows with
hosts and flows, never with packets; a flow table past MAX_FLOWS evicts its least recently seen flow and says so.
What is learned:
  * hosts from ARP (address and MAC: the only layer-2 evidence that is the host's own; an IP packet's source MAC
    may be a router's) and from every IPv4 address that sends;
  * a TCP service from the handshake (the side that answers SYN with SYN-ACK listens on that port), a UDP service
    from a request answered from the port it was sent to;
  * a flow client → server service, with first/last seen and packet/byte counts, as a connection of the client
    graded "observed-on-wire".
No payload byte is kept: application headers are read (scanners.passive_protocols) only into named fields.
A truncated or damaged file is read up to the damage, with a warning.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from discovery.records.model import Connection, EstateError, Host, HostReport, ScanContext, ScriptResult, Service

SOURCE = "passive"
EVIDENCE = "observed-on-wire"
MAX_FLOWS = 200_000          # flows kept at once; past it the least recently seen is evicted (and counted)
MAX_PENDING = 100_000        # half-open handshakes and unanswered UDP requests waiting for their answer
MAX_HOSTS = 65_536
PROGRESS_PACKETS = 20_000    # report progress (and check for cancel) every so many packets
PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def looks_like_capture(head: bytes) -> bool:
    """Whether a file's first bytes are a pcap or pcapng header."""
    return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC


@dataclass(slots=True)
class Seen:
    """When and how much: first and last packet, packets and bytes."""
    first: float
    last: float
    packets: int = 0
    octets: int = 0

    def add(self, when: float, size: int) -> None:
        self.first, self.last = min(self.first, when), max(self.last, when)
        self.packets += 1
        self.octets += size


@dataclass(slots=True)
class HostSeen:
    seen: Seen
    macs: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Flow:
    """A client's traffic to one service: (client, server, protocol, server port), over however many connections."""
    seen: Seen
    client_port: int


class CaptureReader:
    """Fold one capture file's packets into hosts, services and flows (see the module docstring)."""

    def __init__(self):
        self.hosts: dict[str, HostSeen] = {}
        self.services: dict[tuple[str, str, int], Seen] = {}
        self.flows: OrderedDict[tuple[str, str, str, int], Flow] = OrderedDict()
        self.pending: OrderedDict[tuple, float] = OrderedDict()
        self.packets = self.evicted = self.undecoded = 0

    # --- reading ------------------------------------------------------------------------------------------

    def read(self, path: Path, ctx: ScanContext | None = None) -> None:
        """Read every packet of `path`; a damaged or truncated file is read up to the damage (a warning)."""
        import dpkt

        size = path.stat().st_size or 1
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(0)
            try:
                reader = dpkt.pcapng.Reader(f) if head == PCAPNG_MAGIC else dpkt.pcap.Reader(f)
            except (ValueError, dpkt.dpkt.Error, struct_error()) as error:
                raise EstateError(f"{path.name} is not a capture file Estate Mapper can read ({error})") from None
            link = reader.datalink()
            packets = iter(reader)
            while True:
                try:
                    when, data = next(packets)
                except StopIteration:
                    break
                except (ValueError, dpkt.dpkt.Error, struct_error()) as error:
                    if ctx is not None:
                        ctx.warn(f"{path.name} is damaged after {self.packets:,} packets ({error}); "
                                 "what came before is kept")
                    break
                self.packet(float(when), data, link)
                if ctx is not None and self.packets % PROGRESS_PACKETS == 0:
                    ctx.report(min(f.tell(), size), size, f"{self.packets:,} packets, {len(self.flows):,} flows, "
                                                          f"{len(self.hosts):,} hosts")
                    ctx.check_cancelled()

    def packet(self, when: float, data: bytes, link: int = 1) -> None:
        """Fold one captured frame (Ethernet, or Linux cooked capture) into what is known."""
        import dpkt

        self.packets += 1
        try:
            frame = dpkt.sll.SLL(data) if link == 113 else dpkt.ethernet.Ethernet(data)
            payload = frame.data
        except (dpkt.dpkt.Error, ValueError, struct_error()):
            self.undecoded += 1
            return
        if isinstance(payload, dpkt.arp.ARP):
            self._arp(when, payload)
        elif isinstance(payload, dpkt.ip.IP):
            self._ip(when, payload, len(data))

    def _arp(self, when: float, arp) -> None:
        if len(arp.spa) != 4 or len(arp.sha) != 6:
            return
        address = socket.inet_ntoa(arp.spa)
        host = self._host(address, when, 0)
        if host is not None and any(arp.sha) and not arp.sha[0] & 1:
            host.macs.add(":".join(f"{b:02x}" for b in arp.sha))

    def _ip(self, when: float, ip, size: int) -> None:
        import dpkt

        source, target = socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst)
        self._host(source, when, size)
        segment = ip.data
        if isinstance(segment, dpkt.tcp.TCP):
            self._tcp(when, source, target, segment, size)
        elif isinstance(segment, dpkt.udp.UDP):
            self._udp(when, source, target, segment, size)

    def _tcp(self, when: float, source: str, target: str, tcp, size: int) -> None:
        import dpkt

        syn, ack = tcp.flags & dpkt.tcp.TH_SYN, tcp.flags & dpkt.tcp.TH_ACK
        if syn and not ack:
            self._wait((source, tcp.sport, target, tcp.dport), when)
        elif syn and ack and self.pending.pop((target, tcp.dport, source, tcp.sport), None) is not None:
            self._answered(when, "tcp", client=(target, tcp.dport), server=(source, tcp.sport))
        self._count(when, "tcp", source, tcp.sport, target, tcp.dport, size)

    def _udp(self, when: float, source: str, target: str, udp, size: int) -> None:
        if self.pending.pop((target, udp.dport, source, udp.sport, "udp"), None) is not None:  # an answer
            self._answered(when, "udp", client=(target, udp.dport), server=(source, udp.sport))
        if not self._count(when, "udp", source, udp.sport, target, udp.dport, size) and _unicast(target):
            self._wait((source, udp.sport, target, udp.dport, "udp"), when)  # a request, until answered

    # --- folding ------------------------------------------------------------------------------------------

    def _host(self, address: str, when: float, size: int) -> HostSeen | None:
        if not _unicast(address):
            return None
        host = self.hosts.get(address)
        if host is None:
            if len(self.hosts) >= MAX_HOSTS:
                return None
            host = self.hosts[address] = HostSeen(Seen(when, when))
        host.seen.add(when, size)
        return host

    def _wait(self, key: tuple, when: float) -> None:
        self.pending[key] = when
        self.pending.move_to_end(key)
        while len(self.pending) > MAX_PENDING:
            self.pending.popitem(last=False)

    def _answered(self, when: float, protocol: str, *, client: tuple[str, int], server: tuple[str, int]) -> None:
        """`server` answered `client` on its port: a service there, and a flow from the client to it."""
        if not (_unicast(server[0]) and _unicast(client[0])):
            return
        self.services.setdefault((server[0], protocol, server[1]), Seen(when, when))
        key = (client[0], server[0], protocol, server[1])
        if key not in self.flows:
            self.flows[key] = Flow(Seen(when, when), client[1])
            while len(self.flows) > MAX_FLOWS:
                self.flows.popitem(last=False)
                self.evicted += 1

    def _count(self, when: float, protocol: str, source: str, sport: int, target: str, dport: int,
               size: int) -> bool:
        """Count a packet of a known flow (either direction); False when it belongs to none."""
        for key, service in (((source, target, protocol, dport), (target, protocol, dport)),
                             ((target, source, protocol, sport), (source, protocol, sport))):
            flow = self.flows.get(key)
            if flow is not None:
                flow.seen.add(when, size)
                self.flows.move_to_end(key)
                self.services[service].add(when, size)
                return True
        return False

    # --- records ------------------------------------------------------------------------------------------

    def reports(self, observed_at: datetime) -> Iterator[HostReport]:
        """One HostReport per host seen: its MACs, the services that answered on it, and its flows as a client."""
        services: dict[str, list[Service]] = {}
        for (address, protocol, port), seen in sorted(self.services.items()):
            services.setdefault(address, []).append(Service(
                protocol=protocol, port=port, address=address, state="open", reason="observed-on-wire",
                source=SOURCE, observed_at=observed_at,
                scripts=(ScriptResult(id="passive-traffic", data=_traffic(seen)),)))
        connections: dict[str, list[Connection]] = {}
        for (client, server, protocol, port), flow in self.flows.items():
            connections.setdefault(client, []).append(Connection(
                protocol=protocol, local_address=client, local_port=flow.client_port, remote_address=server,
                remote_port=port, direction="outbound", state="ESTABLISHED" if protocol == "tcp" else None,
                evidence=EVIDENCE, first_seen=_time(flow.seen.first), last_seen=_time(flow.seen.last),
                packets=flow.seen.packets, bytes=flow.seen.octets, source=SOURCE, observed_at=observed_at))
        for address in sorted(self.hosts, key=ipaddress.ip_address):
            host = self.hosts[address]
            yield HostReport(
                host=Host(addresses=(address,), macs=tuple(sorted(host.macs)), source=SOURCE, observed_at=observed_at,
                          status="up", status_reason="observed-on-wire",
                          scripts=(ScriptResult(id="passive-traffic", data=_traffic(host.seen)),)),
                services=tuple(services.get(address, ())), connections=tuple(connections.get(address, ())))


def _traffic(seen: Seen) -> dict:
    return {"first_seen": _time(seen.first).isoformat(), "last_seen": _time(seen.last).isoformat(),
            "packets": seen.packets, "bytes": seen.octets}


def _time(when: float) -> datetime:
    return datetime.fromtimestamp(when, tz=timezone.utc)


def _unicast(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (ip.is_multicast or ip.is_unspecified or ip.is_loopback or address.endswith(".255")
                or address == "255.255.255.255")


def struct_error():
    import struct
    return struct.error


class CaptureImport:
    """`estatemap import capture.pcap|.pcapng`: the hosts, services and flows in a capture file (never sends)."""

    kind = "import"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.reader = CaptureReader()

    @property
    def arguments(self) -> str:
        return f"import {self.path.name} (packet capture, passive: nothing sent)"

    def targets(self) -> tuple[str, ...]:
        return (str(self.path),)

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]:
        self.reader.read(self.path, ctx)
        reader = self.reader
        if reader.evicted:
            ctx.warn(f"{self.path.name}: more than {MAX_FLOWS:,} flows at once; the {reader.evicted:,} least "
                     "recently seen were let go")
        if reader.undecoded:
            ctx.warn(f"{self.path.name}: {reader.undecoded:,} of {reader.packets:,} frames could not be decoded")
        for report in reader.reports(ctx.started_at):
            yield report
