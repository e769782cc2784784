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
    graded "observed-on-wire";
  * hosts' names (scanners.passive_names): DHCP (option 12 host name, vendor class and requested address, by
    the client's MAC until an ARP reply or the server's ACK ties that MAC to an address), mDNS, NetBIOS and
    LLMNR (a machine naming itself), DNS answers (A and PTR records naming other machines: attached to a host
    seen in the capture, never a host of their own); at most MAX_NAMES a host. A host is called by its DHCP name,
    else one it announced itself, else a DNS name; its MAC's maker comes from IEEE's OUI table
    (discovery.records.mac_vendors), medical device makers named as the host's vendor.
No payload byte is kept: application headers are read (scanners.passive_protocols) only into named fields.
A truncated or damaged file is read up to the damage, with a warning.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import struct
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import dpkt

from discovery.records.mac_vendors import MacVendor, lookup_mac
from discovery.records.model import Connection, EstateError, Host, HostReport, ScanContext, ScriptResult, Service
from scanners import capture_files
from scanners.passive_headers import application, assemble, header_scripts, read_headers, service_name
from scanners.passive_l2 import CDP_DESTINATION, Announcements

SOURCE = "passive"
EVIDENCE = "observed-on-wire"
MAX_FLOWS = 200_000          # flows kept at once; past it the least recently seen is evicted (and counted)
MAX_PENDING = 100_000        # half-open handshakes and unanswered UDP requests waiting for their answer
MAX_HOSTS = 65_536
MAX_LOOKS = 32               # payloads of one flow whose headers are read (HL7: each message's MSH, up to this)
PROGRESS_PACKETS = 20_000    # report progress (and check for cancel) every so many packets
MAX_NAMES = 16               # names kept a host (or a MAC heard in DHCP); later ones are not kept
MAX_NAMED = 65_536           # addresses named in DNS answers before they are seen, and MACs heard in DHCP: past
                             # it the least recently named is let go
NAME_BYTES = 1500            # of a name protocol's datagram, what its decoder may look at
NAME_PORTS = {67: "dhcp", 68: "dhcp", 53: "dns", 5353: "mdns", 137: "netbios", 5355: "llmnr"}  # UDP port -> how
NAME_RANK = {"dhcp": 0, "mdns": 1, "netbios": 1, "llmnr": 1, "dns": 2}  # which name a host is called by, best first
L2_ANNOUNCING = (b"\x88\xcc", b"\x81\x00", b"\x88\xa8")  # LLDP's EtherType, or a VLAN tag before it
_DECODERS = {1: dpkt.ethernet.Ethernet, 113: dpkt.sll.SLL, 276: dpkt.sll2.SLL2}  # link type -> frame decoder


def looks_like_capture(head: bytes) -> bool:
    """Whether a file's first bytes are a pcap or pcapng header."""
    return head[:4] in capture_files.PCAP_MAGICS or head[:4] == capture_files.PCAPNG_MAGIC


@dataclass(slots=True)
class Seen:
    """When and how much: first and last packet, packets and bytes."""
    first: float
    last: float
    packets: int = 0
    octets: int = 0

    def add(self, when: float, size: int) -> None:
        if when < self.first:
            self.first = when
        elif when > self.last:
            self.last = when
        self.packets += 1
        self.octets += size


@dataclass(slots=True)
class NameSeen:
    """One name a machine was heard by: how (dhcp, dns, mdns, netbios, llmnr), first and last time, and the
    NetBIOS roles it was registered with (workstation, file-server)."""
    name: str
    how: set[str]
    first: float
    last: float
    roles: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Heard:
    """What name protocols said of one machine — by address, or by MAC for what its DHCP client said before an
    address is tied to that MAC: its names (at most MAX_NAMES), its DHCP vendor class and requested address."""
    names: dict[str, NameSeen] = field(default_factory=dict)   # by name.casefold(): "PACS" and "pacs" are one
    vendor_class: str | None = None
    requested_address: str | None = None

    def add(self, name: str, how: set[str] | str, first: float, last: float | None = None,
            roles: set[str] | tuple[str, ...] = ()) -> None:
        seen = self.names.get(key := name.casefold())
        if seen is None:
            if len(self.names) >= MAX_NAMES:
                return
            seen = self.names[key] = NameSeen(name, set(), first, first)
        seen.how.update((how,) if isinstance(how, str) else how)
        seen.roles.update(roles)
        seen.first, seen.last = min(seen.first, first), max(seen.last, first if last is None else last)

    def merge(self, other: Heard) -> None:
        for seen in other.names.values():
            self.add(seen.name, seen.how, seen.first, seen.last, seen.roles)
        self.vendor_class = other.vendor_class or self.vendor_class
        self.requested_address = other.requested_address or self.requested_address


@dataclass(slots=True)
class HostSeen:
    seen: Seen
    macs: set[str] = field(default_factory=set)
    heard: Heard | None = None   # its names, once a name protocol named its address


@dataclass(slots=True)
class Flow:
    """A client's traffic to one service: (client, server, protocol, server port), over however many connections,
    and what its application headers named (named fields only: see scanners.passive_protocols)."""
    seen: Seen
    client_port: int
    facts: dict = field(default_factory=dict)   # "dicom", "hl7", "tls", "http" -> what was read
    looked: int = 0                              # payloads read so far (at most MAX_LOOKS a flow)


class CaptureReader:
    """Fold one capture file's packets into hosts, services and flows (see the module docstring)."""

    def __init__(self):
        self.hosts: dict[str, HostSeen] = {}
        self.services: dict[tuple[str, str, int], Seen] = {}
        self.flows: OrderedDict[tuple[str, str, str, int], Flow] = OrderedDict()
        self.pending: OrderedDict[tuple, float] = OrderedDict()
        self.named: OrderedDict[str, Heard] = OrderedDict()    # addresses named before they were seen (DNS)
        self.by_mac: OrderedDict[str, Heard] = OrderedDict()   # what DHCP clients said, by their MAC
        self.packets = self.evicted = self.undecoded = 0
        self.partial: dict = {}      # DICOM association PDUs being put together from segments (passive_headers)
        self.last = 0.0                                           # the last packet's time (for one without)
        self.links: set[int] = set()                              # link types seen that are not read
        self.announcements = Announcements()                      # LLDP and CDP: devices saying who they are

    # --- reading ------------------------------------------------------------------------------------------

    def read(self, path: Path, ctx: ScanContext | None = None) -> None:
        """Read every packet of `path`; a damaged or truncated file is read up to the damage (a warning)."""
        size = path.stat().st_size or 1
        with open(path, "rb") as f:
            try:
                packets = capture_files.records(f)
            except capture_files.CaptureDamaged as error:
                raise EstateError(f"{path.name} is not a capture file Estate Mapper can read ({error})") from None
            try:
                for when, data, link in packets:
                    self.packet(when if when is not None else self.last, data, link)
                    if ctx is not None and self.packets % PROGRESS_PACKETS == 0:
                        ctx.report(min(f.tell(), size), size, self.progress())
                        ctx.check_cancelled()
            except (capture_files.CaptureDamaged, MemoryError) as error:
                if ctx is not None:
                    ctx.warn(f"{path.name} is damaged after {self.packets:,} packets ({error or 'too large'}); what "
                             "came before is kept")

    def progress(self) -> str:
        return f"{self.packets:,} packets, {len(self.flows):,} flows, {len(self.hosts):,} hosts"

    def packet(self, when: float, data: bytes, link: int = 1) -> None:
        """Fold one captured frame (Ethernet, Linux cooked capture v1 or v2) into what is known; a frame of another
        link type is counted, not read."""
        self.packets += 1
        self.last = when
        if link == 1 and (data[12:14] in L2_ANNOUNCING or data[:6] == CDP_DESTINATION) and \
                self.announcements.add(when, data):
            return
        decode = _DECODERS.get(link)
        try:
            payload = decode(data).data if decode is not None else None
        except (dpkt.dpkt.Error, ValueError, struct.error):
            payload = None
        if isinstance(payload, dpkt.arp.ARP):
            self._arp(when, payload)
        elif isinstance(payload, dpkt.ip.IP):
            self._ip(when, payload, len(data))
        elif payload is None:
            self.undecoded += 1
            if decode is None and len(self.links) < 16:
                self.links.add(link)

    def _arp(self, when: float, arp) -> None:
        if len(arp.spa) != 4 or len(arp.sha) != 6:
            return
        address = socket.inet_ntoa(arp.spa)
        host = self._host(address, when, 0)
        if host is not None and any(arp.sha) and not arp.sha[0] & 1:
            host.macs.add(":".join(f"{b:02x}" for b in arp.sha))

    def _ip(self, when: float, ip, size: int) -> None:
        source, target = socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst)
        self._host(source, when, size)
        segment = ip.data
        if isinstance(segment, dpkt.tcp.TCP):
            self._tcp(when, source, target, segment, size)
        elif isinstance(segment, dpkt.udp.UDP):
            self._udp(when, source, target, segment, size)

    def _tcp(self, when: float, source: str, target: str, tcp, size: int) -> None:
        syn, ack = tcp.flags & dpkt.tcp.TH_SYN, tcp.flags & dpkt.tcp.TH_ACK
        if syn and not ack:
            self._wait((source, tcp.sport, target, tcp.dport), when)
        elif syn and ack and self.pending.pop((target, tcp.dport, source, tcp.sport), None) is not None:
            self._answered(when, "tcp", client=(target, tcp.dport), server=(source, tcp.sport))
        flow, from_client = self._flow_of("tcp", source, tcp.sport, target, tcp.dport)
        if flow is not None:
            self._count_flow(when, flow, from_client, source, target, tcp.sport, tcp.dport, "tcp", size)
            if tcp.data and flow.looked < MAX_LOOKS:
                client_port = tcp.sport if from_client else tcp.dport
                key = (source, target, tcp.sport, tcp.dport) if from_client else (target, source, tcp.dport, tcp.sport)
                payload = assemble(self.partial, key, bytes(tcp.data))
                if payload is not None:
                    flow.looked += 1
                    read_headers(flow.facts, payload, from_client)

    def _udp(self, when: float, source: str, target: str, udp, size: int) -> None:
        if udp.sport in NAME_PORTS or udp.dport in NAME_PORTS:  # before the flow logic, which drops broadcasts
            self._names(when, NAME_PORTS.get(udp.sport) or NAME_PORTS[udp.dport], bytes(udp.data[:NAME_BYTES]))
        if self.pending.pop((target, udp.dport, source, udp.sport, "udp"), None) is not None:  # an answer
            self._answered(when, "udp", client=(target, udp.dport), server=(source, udp.sport))
        if not self._count(when, "udp", source, udp.sport, target, udp.dport, size) and _unicast(target):
            self._wait((source, udp.sport, target, udp.dport, "udp"), when)  # a request, until answered

    def _names(self, when: float, how: str, payload: bytes) -> None:
        """Fold what a name protocol's datagram says (see scanners.passive_names) into the names heard."""
        from scanners import passive_names as pn

        if how == "dhcp":
            if (found := pn.dhcp_message(payload)) is not None:
                self._dhcp(when, found)
        elif how == "netbios":
            for item in (pn.netbios_names(payload) or {}).get("names", ()):
                if (heard := self._heard_at(item["address"])) is not None:
                    heard.add(item["name"], how, when, roles=(item["role"],))
        else:
            decode = {"dns": pn.dns_answers, "mdns": pn.mdns_answers, "llmnr": pn.llmnr_answers}[how]
            found = decode(payload) or {}
            pairs = [*found.get("addresses", ()), *((name, address) for address, name in found.get("pointers", ()))]
            for name, address in pairs:
                if (heard := self._heard_at(address)) is not None:
                    heard.add(name, how, when)

    def _dhcp(self, when: float, found: dict) -> None:
        """A DHCP client's name, vendor class and requested address are kept by its MAC; the server's ACK (the
        address given) or a client's own address (ciaddr) ties that MAC to a host."""
        mac = found["mac"]
        if found["hostname"] or found["vendor_class"] or found["requested_address"]:
            heard = _bounded(self.by_mac, mac)
            if found["hostname"]:
                heard.add(found["hostname"], "dhcp", when)
            heard.vendor_class = found["vendor_class"] or heard.vendor_class
            heard.requested_address = found["requested_address"] or heard.requested_address
        for address in (found["assigned_address"], found["client_address"]):
            if address and (host := self._host(address, when, 0, count=False)) is not None:
                host.macs.add(mac)

    def _heard_at(self, address: str) -> Heard | None:
        """The names of whoever has `address`: the host's if it was seen, else kept apart (bounded) until it is:
        a DNS answer names machines that may never appear, and does not make a host of them."""
        if not _unicast(address):
            return None
        host = self.hosts.get(address)
        if host is None:
            return _bounded(self.named, address)
        if host.heard is None:
            host.heard = Heard()
        return host.heard

    # --- folding ------------------------------------------------------------------------------------------

    def _host(self, address: str, when: float, size: int, *, count: bool = True) -> HostSeen | None:
        """The host at `address`, new if need be (with the names it was given before it was seen); the packet is
        counted on it unless `count` is False (a DHCP server's ACK names a host without being its packet)."""
        if not _unicast(address):
            return None
        host = self.hosts.get(address)
        if host is None:
            if len(self.hosts) >= MAX_HOSTS:
                return None
            host = self.hosts[address] = HostSeen(Seen(when, when), heard=self.named.pop(address, None))
        if count:
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

    def _flow_of(self, protocol: str, source: str, sport: int, target: str, dport: int) -> tuple[Flow | None, bool]:
        """The known flow a packet belongs to, and whether it goes from the client to the server."""
        if (flow := self.flows.get((source, target, protocol, dport))) is not None:
            return flow, True
        return self.flows.get((target, source, protocol, sport)), False

    def _count_flow(self, when: float, flow: Flow, from_client: bool, source: str, target: str, sport: int,
                    dport: int, protocol: str, size: int) -> None:
        client, server, port = (source, target, dport) if from_client else (target, source, sport)
        flow.seen.add(when, size)
        self.flows.move_to_end((client, server, protocol, port))
        self.services[(server, protocol, port)].add(when, size)

    def _count(self, when: float, protocol: str, source: str, sport: int, target: str, dport: int,
               size: int) -> bool:
        """Count a packet of a known flow (either direction); False when it belongs to none."""
        flow, from_client = self._flow_of(protocol, source, sport, target, dport)
        if flow is None:
            return False
        self._count_flow(when, flow, from_client, source, target, sport, dport, protocol, size)
        return True

    # --- records ------------------------------------------------------------------------------------------

    def reports(self, observed_at: datetime) -> Iterator[HostReport]:
        """One HostReport per host seen: its MACs, the services that answered on it, and its flows as a client;
        then one per device that announced itself over LLDP or CDP (scanners.passive_l2)."""
        yield from self._ip_reports(observed_at)
        yield from self.announcements.reports(SOURCE, observed_at)

    def _ip_reports(self, observed_at: datetime) -> Iterator[HostReport]:
        heard: dict[tuple[str, str, int], list[dict]] = {}
        for (client, server, protocol, port), flow in self.flows.items():
            if flow.facts:
                heard.setdefault((server, protocol, port), []).append({"client": client, **flow.facts})
        services: dict[str, list[Service]] = {}
        for (address, protocol, port), seen in sorted(self.services.items()):
            facts = heard.get((address, protocol, port), [])
            services.setdefault(address, []).append(Service(
                protocol=protocol, port=port, address=address, state="open", reason="observed-on-wire",
                name=service_name(facts), tunnel="ssl" if any("tls" in f for f in facts) else None,
                source=SOURCE, observed_at=observed_at,
                scripts=(ScriptResult(id="passive-traffic", data=_traffic(seen)), *header_scripts(facts))))
        connections: dict[str, list[Connection]] = {}
        for (client, server, protocol, port), flow in self.flows.items():
            connections.setdefault(client, []).append(Connection(
                protocol=protocol, local_address=client, local_port=flow.client_port, remote_address=server,
                remote_port=port, direction="outbound", state="ESTABLISHED" if protocol == "tcp" else None,
                evidence=EVIDENCE, first_seen=_time(flow.seen.first), last_seen=_time(flow.seen.last),
                packets=flow.seen.packets, bytes=flow.seen.octets, process=application(flow.facts),
                source=SOURCE, observed_at=observed_at))
        for address in sorted(self.hosts, key=ipaddress.ip_address):
            host = self.hosts[address]
            heard = self._heard_of(host)
            names = sorted(heard.names.values(), key=lambda n: (min(NAME_RANK[h] for h in n.how), n.first))
            maker = next(filter(None, map(lookup_mac, sorted(host.macs))), None)
            scripts = [ScriptResult(id="passive-traffic", data=_traffic(host.seen))]
            if names or heard.vendor_class or heard.requested_address or maker:
                scripts.append(ScriptResult(id="passive-names", data=_names_data(names, heard, maker)))
            yield HostReport(
                host=Host(addresses=(address,), macs=tuple(sorted(host.macs)), source=SOURCE, observed_at=observed_at,
                          status="up", status_reason="observed-on-wire",
                          hostname=names[0].name if names else None, hostnames=tuple(n.name for n in names),
                          mac_vendor=maker.organisation if maker else None,
                          vendor=maker.maker if maker and maker.medical else None, scripts=tuple(scripts)),
                services=tuple(services.get(address, ())), connections=tuple(connections.get(address, ())))

    def _heard_of(self, host: HostSeen) -> Heard:
        """Everything heard of a host: by its address, and by each of its MACs (what its DHCP client said)."""
        heard = Heard()
        if host.heard is not None:
            heard.merge(host.heard)
        for mac in sorted(host.macs):
            if (by_mac := self.by_mac.get(mac)) is not None:
                heard.merge(by_mac)
        return heard


def _traffic(seen: Seen) -> dict:
    return {"first_seen": _time(seen.first).isoformat(), "last_seen": _time(seen.last).isoformat(),
            "packets": seen.packets, "bytes": seen.octets}


def _time(when: float) -> datetime:
    return datetime.fromtimestamp(when, tz=timezone.utc)


@functools.lru_cache(maxsize=1 << 16)
def _unicast(address: str) -> bool:
    """Whether `address` is one host's (not multicast, broadcast, unspecified or loopback); asked for every
    packet, so remembered."""
    ip = ipaddress.ip_address(address)
    return not (ip.is_multicast or ip.is_unspecified or ip.is_loopback or address.endswith(".255")
                or address == "255.255.255.255")


def _bounded(table: OrderedDict[str, Heard], key: str) -> Heard:
    """The entry for `key`, new if need be; past MAX_NAMED entries the least recently used is let go."""
    heard = table.get(key)
    if heard is None:
        heard = table[key] = Heard()
        while len(table) > MAX_NAMED:
            table.popitem(last=False)
    else:
        table.move_to_end(key)
    return heard


def _names_data(names: list[NameSeen], heard: Heard, maker: MacVendor | None) -> dict:
    """The passive-names script: each name with how and when it was heard, the DHCP client's vendor class and
    requested address, the MAC's maker from the OUI table and whether it makes medical devices."""
    return {
        "names": [{"name": n.name, "learned_by": sorted(n.how, key=lambda h: (NAME_RANK[h], h)),
                   "first_seen": _time(n.first).isoformat(), "last_seen": _time(n.last).isoformat(),
                   **({"netbios_roles": sorted(n.roles)} if n.roles else {})} for n in names],
        "dhcp_vendor_class": heard.vendor_class,
        "dhcp_requested_address": heard.requested_address,
        "oui_vendor": maker.organisation if maker else None,
        "oui_prefix": maker.prefix if maker else None,
        "maker": maker.maker if maker else None,
        "medical_device_maker": maker.medical if maker else None,
    }


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
        yield from capture_warnings(self.reader, self.path.name, ctx)


def capture_warnings(reader: CaptureReader, name: str, ctx: ScanContext) -> Iterator[HostReport]:
    """Warn what a capture (`name`: a file's, or an interface's) could not keep, then yield its host reports."""
    if reader.evicted:
        ctx.warn(f"{name}: more than {MAX_FLOWS:,} flows at once; the {reader.evicted:,} least recently seen were "
                 "let go")
    if reader.undecoded:
        links = f" (link types not read: {', '.join(map(str, sorted(reader.links)))})" if reader.links else ""
        ctx.warn(f"{name}: {reader.undecoded:,} of {reader.packets:,} frames could not be decoded{links}")
    yield from reader.reports(ctx.started_at)
