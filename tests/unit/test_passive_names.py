"""Hosts' names from passive traffic: the DHCP, DNS, mDNS, NetBIOS and LLMNR decoders on messages built here
(with dpkt where it builds them, by hand for NetBIOS and for hostile ones: compression loops, lying counts and
lengths, cut messages, overlong and unprintable names), and the names reaching hosts through CaptureReader (a
medical maker's MAC naming the host's vendor). Real dnsmasq traffic is in tests/integration/test_passive_names.py;
the OUI table in tests/unit/test_mac_vendors.py."""

from __future__ import annotations

import json
import socket
import struct
from datetime import datetime, timezone

import dpkt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from discovery.inventory.build import build_inventory
from discovery.service import run_scan
from scanners import passive_names as pn
from scanners.files import FileImportScanner
from scanners.passive_capture import CaptureReader
from tests.unit.test_passive_capture import T, arp_reply, mac, write_capture
from tests.unit.test_passive_protocols import FUZZ, mutate, mutation

APP, DB, WS, SERVER, ELSEWHERE = "10.9.0.40", "10.9.0.10", "10.9.0.50", "10.9.0.1", "10.9.7.7"
APP_MAC, WS_MAC, SERVER_MAC = "02:cc:00:00:00:28", "02:cc:00:00:00:32", "02:cc:00:00:00:01"
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
BAXTER_MAC = "58:42:e4:00:00:07"          # an MA-L prefix IEEE assigned to Baxter International Inc


# --- building messages -----------------------------------------------------------------------------------

def dhcp(kind: int, *, op: int = dpkt.dhcp.DHCP_OP_REQUEST, chaddr: str = APP_MAC, yiaddr: str = "0.0.0.0",
         ciaddr: str = "0.0.0.0", options: tuple = ()) -> bytes:
    message = dpkt.dhcp.DHCP(op=op, chaddr=mac(chaddr), yiaddr=struct.unpack(">I", socket.inet_aton(yiaddr))[0],
                             ciaddr=struct.unpack(">I", socket.inet_aton(ciaddr))[0],
                             opts=((dpkt.dhcp.DHCP_OPT_MSGTYPE, bytes([kind])), *options))
    return bytes(message)


def client_options(name=b"ct-scanner-3", vendor=b"GEHC CT 1.0", requested="10.9.0.40") -> tuple:
    return ((dpkt.dhcp.DHCP_OPT_HOSTNAME, name), (dpkt.dhcp.DHCP_OPT_VENDOR_ID, vendor),
            (dpkt.dhcp.DHCP_OPT_REQ_IP, socket.inet_aton(requested)))


def dns_response(*answers, additional=(), query: bool = False, rcode: int = 0) -> bytes:
    """A DNS-format response; answers as ("A", name, address) or ("PTR", reverse name, name)."""
    def rr(kind, name, value, cls=dpkt.dns.DNS_IN):
        if kind == "A":
            return dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_A, cls=cls, ttl=60, ip=socket.inet_aton(value))
        return dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_PTR, cls=cls, ttl=60, ptrname=value)
    message = dpkt.dns.DNS(id=7, qr=dpkt.dns.DNS_Q if query else dpkt.dns.DNS_R, rcode=rcode,
                           qd=[dpkt.dns.DNS.Q(name=answers[0][1] if answers else "x.test", type=dpkt.dns.DNS_A)],
                           an=[rr(*a) for a in answers], ar=[rr(*a) for a in additional])
    return bytes(message)


def netbios_label(name: str, suffix: int) -> bytes:
    raw = name.encode().ljust(15)[:15] + bytes([suffix])
    return bytes([32]) + bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 0x0F))) + b"\x00"


def netbios(name: str, suffix: int, address: str, *, opcode: int = 5, response: bool = False,
            group: bool = False) -> bytes:
    """A NetBIOS name service registration (opcode 5) or, as a response, a positive answer."""
    flags = (0x8000 if response else 0) | opcode << 11 | 0x0110
    label = netbios_label(name, suffix)
    rdata = struct.pack(">H", 0x8000 if group else 0) + socket.inet_aton(address)
    record = struct.pack(">HHIH", 0x20, 1, 300000, len(rdata)) + rdata
    if response:   # the answer section holds the record with its whole name
        return struct.pack(">HHHHHH", 9, flags, 0, 1, 0, 0) + label + record
    return (struct.pack(">HHHHHH", 9, flags, 1, 0, 0, 1) + label + struct.pack(">HH", 0x20, 1)
            + b"\xc0\x0c" + record)


# --- DHCP --------------------------------------------------------------------------------------------------

def test_dhcp_message_a_request_names_its_client():
    found = pn.dhcp_message(dhcp(dpkt.dhcp.DHCPREQUEST, options=client_options()))
    assert found == {"message": "request", "mac": APP_MAC, "hostname": "ct-scanner-3", "vendor_class": "GEHC CT 1.0",
                     "requested_address": "10.9.0.40", "client_address": None, "assigned_address": None}


def test_dhcp_message_an_ack_ties_the_mac_to_the_address_given():
    found = pn.dhcp_message(dhcp(dpkt.dhcp.DHCPACK, op=dpkt.dhcp.DHCP_OP_REPLY, yiaddr=APP,
                                 options=((dpkt.dhcp.DHCP_OPT_VENDOR_ID, b"server's own"),)))
    assert (found["message"], found["mac"], found["assigned_address"]) == ("ack", APP_MAC, APP)
    assert found["vendor_class"] is None  # a vendor class is the client's; the server's is not kept


def test_dhcp_message_an_offer_assigns_nothing_yet():
    found = pn.dhcp_message(dhcp(dpkt.dhcp.DHCPOFFER, op=dpkt.dhcp.DHCP_OP_REPLY, yiaddr=APP))
    assert found["message"] == "offer" and found["assigned_address"] is None


@pytest.mark.parametrize("name", [b"bad name", b"tab\there", b"\x1b[31mred", b"x" * 64, b"a..b", b"\xff\xfe",
                                  b".".join([b"a" * 63] * 4)])   # 255 characters: past 253
def test_dhcp_message_a_hostile_host_name_is_dropped(name):
    found = pn.dhcp_message(dhcp(dpkt.dhcp.DHCPREQUEST, options=client_options(name=name)))
    assert found["hostname"] is None and found["mac"] == APP_MAC


def test_dhcp_message_not_dhcp_or_not_ethernet_is_none():
    good = dhcp(dpkt.dhcp.DHCPDISCOVER, options=client_options())
    assert pn.dhcp_message(b"") is None
    assert pn.dhcp_message(good[:236] + b"\x00\x00\x00\x00" + good[240:]) is None   # no magic cookie
    assert pn.dhcp_message(good[:1] + b"\x06" + good[2:]) is None                   # htype IEEE 802, not Ethernet
    assert pn.dhcp_message(good[:28] + bytes(6) + good[34:]) is None                # no client MAC


def test_dhcp_message_cut_anywhere_or_lying_lengths_never_raise():
    good = dhcp(dpkt.dhcp.DHCPREQUEST, options=client_options())
    for end in range(len(good) + 1):
        pn.dhcp_message(good[:end])
    lying = good[:240] + bytes([12, 250]) + b"ct"   # a host name option longer than the message
    assert pn.dhcp_message(lying)["hostname"] is None
    pn.dhcp_message(good[:240] + bytes([12]))      # an option cut after its code


# --- DNS, mDNS, LLMNR --------------------------------------------------------------------------------------

def test_dns_answers_a_and_ptr_records_name_addresses():
    found = pn.dns_answers(dns_response(("A", "pacs.clinic.test", "10.9.0.30"),
                                        ("PTR", "10.0.9.10.in-addr.arpa", "db.clinic.test")))
    assert found == {"addresses": [("pacs.clinic.test", "10.9.0.30")], "pointers": [("10.9.0.10", "db.clinic.test")]}


def test_dns_answers_a_query_an_error_or_an_unusable_address_is_none():
    assert pn.dns_answers(dns_response(("A", "pacs.clinic.test", "10.9.0.30"), query=True)) is None
    assert pn.dns_answers(dns_response(("A", "pacs.clinic.test", "10.9.0.30"), rcode=3)) is None
    assert pn.dns_answers(dns_response(("A", "sinkhole.test", "0.0.0.0"), ("A", "lo.test", "127.0.0.1"))) is None


def compressed(*labels_then_pointer: bytes) -> bytes:
    """A response header with one answer whose owner name is the given raw bytes, then A-record fields."""
    return (struct.pack(">HHHHHH", 1, 0x8180, 0, 1, 0, 0) + b"".join(labels_then_pointer)
            + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("10.9.0.30"))


@pytest.mark.parametrize("name", [
    b"\xc0\x0c",                       # a pointer to itself
    b"\x04pacs\xc0\x0c",               # a pointer back to its own start: a loop
    b"\xc0\x20",                       # a pointer forward
    b"\x04pacs\xc0\xff",               # a pointer past the end
    b"\x40pacs\x00",                   # an extended label type nobody sends
])
def test_dns_answers_compression_loops_and_bad_pointers_end(name):
    assert pn.dns_answers(compressed(name)) is None


def pointer_chain(links: int) -> bytes:
    """A response whose answer's owner name is a pointer to a question whose name is "a" and a pointer to the
    question before, `links` times over: following it takes links + 1 jumps."""
    body, starts = b"\x01a\x00" + b"\x00\x01\x00\x01", [12]
    for _ in range(links):
        starts.append(12 + len(body))
        body += b"\x01a" + struct.pack(">H", 0xC000 | starts[-2]) + b"\x00\x01\x00\x01"
    answer = struct.pack(">HHHIH", 0xC000 | starts[-1], 1, 1, 60, 4) + socket.inet_aton("10.9.0.30")
    return struct.pack(">HHHHHH", 1, 0x8180, links + 1, 1, 0, 0) + body + answer


def test_dns_answers_a_pointer_chain_is_followed_up_to_max_jumps():
    assert pn.dns_answers(pointer_chain(10))["addresses"] == [(".".join(["a"] * 11), "10.9.0.30")]
    assert pn.dns_answers(pointer_chain(pn.MAX_JUMPS + 4)) is None


def test_dns_answers_overlong_and_unprintable_names_are_dropped():
    long_name = ".".join(["x" * 63] * 4)          # 255 characters: past DNS's 253
    found = pn.dns_answers(dns_response(("A", long_name, "10.9.0.31"), ("A", "ok.test", "10.9.0.32")))
    assert found == {"addresses": [("ok.test", "10.9.0.32")], "pointers": []}
    bell = compressed(b"\x05pa\x07cs\x00")
    assert pn.dns_answers(bell) is None


def test_dns_answers_lying_counts_and_cuts_keep_what_was_whole():
    whole = dns_response(("A", "one.test", "10.9.0.31"), ("A", "two.test", "10.9.0.32"))
    lying = whole[:6] + struct.pack(">H", 60000) + whole[8:]      # 60000 answers claimed, two there
    assert len(pn.dns_answers(lying)["addresses"]) == 2
    asking = whole[:4] + struct.pack(">H", 60000) + whole[6:]     # 60000 questions claimed: not read at all
    assert pn.dns_answers(asking) is None
    cut = pn.dns_answers(whole[:-2])                             # the second record cut short
    assert cut == {"addresses": [("one.test", "10.9.0.31")], "pointers": []}
    for end in range(len(whole) + 1):
        pn.dns_answers(whole[:end])


def test_mdns_answers_an_announcement_with_cache_flush_and_additional_records():
    message = dns_response(("A", "ws-radiology.local", WS), additional=(("A", "printer.local", "10.9.0.60"),))
    flushed = bytearray(message)
    # set the cache-flush bit on the first answer's class (mDNS, RFC 6762 §10.2)
    at = message.index(socket.inet_aton(WS)) - 10 + 2
    flushed[at] |= 0x80
    found = pn.mdns_answers(bytes(flushed))
    assert found == {"addresses": [("ws-radiology.local", WS), ("printer.local", "10.9.0.60")]}
    assert pn.mdns_answers(dns_response(("A", "ws.local", WS), query=True)) is None  # a probe or question


def test_llmnr_answers_a_response_names_its_sender():
    assert pn.llmnr_answers(dns_response(("A", "WS-RADIOLOGY", WS))) == {"addresses": [("WS-RADIOLOGY", WS)]}


# --- NetBIOS -----------------------------------------------------------------------------------------------

def test_netbios_names_a_registration_and_a_positive_answer():
    assert pn.netbios_names(netbios("CT-SCANNER", 0x20, APP)) == {
        "kind": "registration", "names": [{"name": "CT-SCANNER", "suffix": 0x20, "role": "file-server",
                                           "address": APP}]}
    found = pn.netbios_names(netbios("WS01", 0x00, WS, opcode=0, response=True))
    assert found["kind"] == "answer" and found["names"][0]["role"] == "workstation"


def test_netbios_names_groups_messenger_names_and_queries_are_left_out():
    assert pn.netbios_names(netbios("WORKGROUP", 0x00, APP, group=True)) is None   # a workgroup, not a machine
    assert pn.netbios_names(netbios("JSMITH", 0x03, APP)) is None                  # messenger: a user's name
    assert pn.netbios_names(netbios("CT-SCANNER", 0x20, APP, opcode=0)) is None    # a query
    assert pn.netbios_names(b"\x00" * 11) is None


def test_netbios_names_a_badly_encoded_or_cut_name_never_raises():
    good = netbios("CT-SCANNER", 0x20, APP)
    bad = good[:13] + b"Z" + good[14:]                                 # a letter outside A-P
    assert pn.netbios_names(bad) is None
    for end in range(len(good) + 1):
        pn.netbios_names(good[:end])


# --- fuzzed ------------------------------------------------------------------------------------------------

DECODERS = (pn.dhcp_message, pn.dns_answers, pn.mdns_answers, pn.llmnr_answers, pn.netbios_names)
SEEDS = [dhcp(dpkt.dhcp.DHCPREQUEST, options=client_options()),
         dhcp(dpkt.dhcp.DHCPACK, op=dpkt.dhcp.DHCP_OP_REPLY, yiaddr=APP),
         dns_response(("A", "pacs.clinic.test", "10.9.0.30"), ("PTR", "10.0.9.10.in-addr.arpa", "db.clinic.test")),
         dns_response(("A", "ws.local", WS), additional=(("A", "printer.local", "10.9.0.60"),)),
         netbios("CT-SCANNER", 0x20, APP), netbios("WS01", 0x00, WS, opcode=0, response=True), pointer_chain(10)]


def assert_clean(found) -> None:
    """Whatever comes out is small and made of checked names and addresses."""
    if found is None:
        return
    names = [found.get("hostname"), *(n for n, _ in found.get("addresses", ())),
             *(n for _, n in found.get("pointers", ())), *(n["name"] for n in found.get("names", ()))]
    assert all(n is None or pn.clean_name(n) == n for n in names)
    assert len(json.dumps(found)) < 64 * 1024


@FUZZ
@given(data=st.binary(max_size=700))
def test_every_name_decoder_takes_arbitrary_bytes(data):
    for decode in DECODERS:
        assert_clean(decode(data))


@FUZZ
@given(seed=st.sampled_from(SEEDS), operations=st.lists(mutation, min_size=1, max_size=4))
def test_every_name_decoder_takes_mutated_messages(seed, operations):
    data = mutate(seed, operations)
    for decode in DECODERS:
        assert_clean(decode(data))


# --- through CaptureReader ---------------------------------------------------------------------------------

def udp_frame(source: str, target: str, sport: int, dport: int, payload: bytes, *, smac=APP_MAC,
              dmac=BROADCAST_MAC) -> bytes:
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=socket.inet_aton(source), dst=socket.inet_aton(target), p=dpkt.ip.IP_PROTO_UDP, data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=mac(smac), dst=mac(dmac), type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def named_traffic() -> list[bytes]:
    """app asks DHCP for its address with a host name and vendor class (broadcast, before it has an address),
    the server ACKs it; app asks DNS for pacs and db (db is seen, pacs never is); ws announces itself over
    mDNS, NetBIOS and LLMNR."""
    request = dhcp(dpkt.dhcp.DHCPREQUEST, options=client_options())
    ack = dhcp(dpkt.dhcp.DHCPACK, op=dpkt.dhcp.DHCP_OP_REPLY, yiaddr=APP)
    return [
        udp_frame("0.0.0.0", "255.255.255.255", 68, 67, request),
        udp_frame(SERVER, "255.255.255.255", 67, 68, ack, smac=SERVER_MAC),
        udp_frame(APP, SERVER, 40000, 53, dns_response(("A", "pacs.clinic.test", ELSEWHERE), query=True),
                  dmac=SERVER_MAC),
        udp_frame(SERVER, APP, 53, 40000, dns_response(("A", "pacs.clinic.test", ELSEWHERE)), smac=SERVER_MAC,
                  dmac=APP_MAC),
        udp_frame(SERVER, APP, 53, 40001, dns_response(("PTR", "10.0.9.10.in-addr.arpa", "db.clinic.test")),
                  smac=SERVER_MAC, dmac=APP_MAC),
        udp_frame(DB, APP, 5432, 41000, b"\x00", smac=SERVER_MAC, dmac=APP_MAC),
        udp_frame(WS, "224.0.0.251", 5353, 5353, dns_response(("A", "ws-radiology.local", WS)), smac=WS_MAC),
        udp_frame(WS, "10.9.0.255", 137, 137, netbios("WS-RADIOLOGY", 0x00, WS), smac=WS_MAC),
        udp_frame(WS, APP, 5355, 50000, dns_response(("A", "WS-RADIOLOGY", WS)), smac=WS_MAC, dmac=APP_MAC),
    ]


def read(frames: list[bytes]) -> dict:
    reader = CaptureReader()
    for n, data in enumerate(frames):
        reader.packet(T + n, data)
    return {r.host.addresses[0]: r.host for r in reader.reports(datetime.now(timezone.utc))}


def names_script(host) -> dict:
    (script,) = [s for s in host.scripts if s.id == "passive-names"]
    return script.data


def test_capture_reader_names_hosts_from_dhcp_dns_mdns_netbios_and_llmnr():
    hosts = read(named_traffic())
    assert ELSEWHERE not in hosts                         # named in a DNS answer, never seen: not a host
    app = hosts[APP]
    assert app.macs == (APP_MAC,)                         # the ACK tied app's MAC to its address
    assert (app.hostname, app.hostnames) == ("ct-scanner-3", ("ct-scanner-3",))
    data = names_script(app)
    assert (data["dhcp_vendor_class"], data["dhcp_requested_address"]) == ("GEHC CT 1.0", APP)
    assert data["names"][0]["learned_by"] == ["dhcp"] and data["names"][0]["first_seen"]
    assert hosts[DB].hostnames == ("db.clinic.test",)     # its PTR answer came before it was seen
    ws = hosts[WS]
    assert ws.hostnames == ("ws-radiology.local", "WS-RADIOLOGY")   # NetBIOS and LLMNR's spellings are one name
    (netbios_name,) = [n for n in names_script(ws)["names"] if n["name"] == "WS-RADIOLOGY"]
    assert netbios_name["learned_by"] == ["llmnr", "netbios"] and netbios_name["netbios_roles"] == ["workstation"]


def test_capture_reader_a_dhcp_name_waits_for_arp_to_tie_its_mac():
    request = dhcp(dpkt.dhcp.DHCPREQUEST, chaddr=BAXTER_MAC, options=client_options(name=b"pump-17", vendor=b"pump"))
    hosts = read([udp_frame("0.0.0.0", "255.255.255.255", 68, 67, request, smac=BAXTER_MAC)])
    assert hosts == {}                                    # a name, but no address yet
    hosts = read([udp_frame("0.0.0.0", "255.255.255.255", 68, 67, request, smac=BAXTER_MAC),
                  arp_reply("10.9.0.77", BAXTER_MAC)])
    pump = hosts["10.9.0.77"]
    assert (pump.hostname, pump.mac_vendor, pump.vendor) == ("pump-17", "Baxter International Inc", "Baxter")
    data = names_script(pump)
    assert data["medical_device_maker"] is True and data["oui_prefix"] == "5842E4" and data["maker"] == "Baxter"


def test_capture_reader_prefers_a_dhcp_name_then_a_self_announced_one_over_dns():
    frames = [udp_frame(SERVER, APP, 53, 40000, dns_response(("A", "app.clinic.test", APP)), smac=SERVER_MAC),
              udp_frame(APP, "10.9.0.255", 137, 137, netbios("APP-NB", 0x20, APP))]
    assert read(frames)[APP].hostname == "APP-NB"
    frames.append(udp_frame(SERVER, "255.255.255.255", 67, 68,
                            dhcp(dpkt.dhcp.DHCPACK, op=dpkt.dhcp.DHCP_OP_REPLY, yiaddr=APP), smac=SERVER_MAC))
    frames.append(udp_frame("0.0.0.0", "255.255.255.255", 68, 67,
                            dhcp(dpkt.dhcp.DHCPREQUEST, options=client_options(name=b"app-dhcp"))))
    assert read(frames)[APP].hostnames == ("app-dhcp", "APP-NB", "app.clinic.test")


def test_capture_reader_names_of_unseen_addresses_and_macs_are_bounded(monkeypatch):
    monkeypatch.setattr("scanners.passive_capture.MAX_NAMED", 5)
    reader = CaptureReader()
    for i in range(30):
        reader.packet(T + i, udp_frame(SERVER, APP, 53, 40000, dns_response(("A", f"far{i}.test", f"10.9.8.{i}")),
                                       smac=SERVER_MAC))
        reader.packet(T + i, udp_frame("0.0.0.0", "255.255.255.255", 68, 67, dhcp(
            dpkt.dhcp.DHCPDISCOVER, chaddr=f"02:cc:00:00:01:{i:02x}", options=client_options(name=f"d{i}".encode()))))
    assert set(reader.hosts) == {SERVER}                   # DNS answers made no host
    assert list(reader.named) == [f"10.9.8.{i}" for i in range(25, 30)]   # the newest five addresses named
    assert len(reader.by_mac) == 5
    reader.packet(T + 40, udp_frame("10.9.8.29", APP, 40000, 80, b""))
    assert reader.hosts["10.9.8.29"].heard.names["far29.test"].how == {"dns"}   # seen at last: its name joins it


def test_capture_reader_names_of_one_host_stop_at_sixteen():
    frames = [udp_frame(APP, "10.9.0.255", 137, 137, netbios(f"NAME{i:02d}", 0x00, APP)) for i in range(40)]
    assert len(read(frames)[APP].hostnames) == 16


def test_capture_reader_hostile_name_datagrams_never_raise():
    reader = CaptureReader()
    good = [dhcp(dpkt.dhcp.DHCPREQUEST, options=client_options()), dns_response(("A", "x.test", APP)),
            netbios("CT-SCANNER", 0x20, APP)]
    for port in (67, 68, 53, 5353, 137, 5355):
        for payload in (b"", b"\xff" * 40, *(g[:n] for g in good for n in range(0, len(g), 7))):
            reader.packet(T, udp_frame(SERVER, APP, port, port, payload, smac=SERVER_MAC))
    assert reader.packets > 0


def test_names_reach_the_inventory(store, tmp_path):
    path = write_capture(tmp_path / "names.pcap", [*named_traffic(), arp_reply("10.9.0.77", BAXTER_MAC)])
    result = run_scan(store, FileImportScanner(path))
    assert result.status == "completed", result.error
    hosts = {h["addresses"][0]: h for h in build_inventory(store)["hosts"]}
    assert hosts[APP]["hostname"] == "ct-scanner-3" and hosts[WS]["hostnames"][0] == "ws-radiology.local"
    assert (hosts["10.9.0.77"]["mac_vendor"], hosts["10.9.0.77"]["vendor"]) == ("Baxter International Inc", "Baxter")
    (script,) = [s for s in hosts[APP]["scripts"] if s["id"] == "passive-names"]
    assert script["data"]["dhcp_vendor_class"] == "GEHC CT 1.0"
