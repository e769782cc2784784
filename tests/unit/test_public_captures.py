"""Public captures as parser fixtures: real traffic from other people's machines and tools (Zeek's test traces,
BSD-3-Clause; see tests/data/captures/SOURCE.md), read through CaptureReader and, once, through the CLI.

Every expected address, MAC, port, server name and header below was read from the file with tcpdump
(`tcpdump -r FILE -nn -e`, `-A` for the HTTP heads) or with dpkt and a hand-written ClientHello walk before
these tests were written; none is copied from what the import printed. Four of them caught bugs, since fixed: a
TLS segment taken for DICOM, Linux cooked v2 read as Ethernet, a packet dated past 9999 failing the import, and
each pcapng interface's own time resolution.
Last, the same files and fuzz/targets.py's hand-built sessions, mutated, through the fuzz targets (a few
examples here; fuzz/run.py runs them for longer; ESTATEMAP_FUZZ_EXAMPLES=N runs N).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import dpkt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import main
from discovery.inventory.build import build_inventory
from discovery.records.model import ScanContext
from discovery.service import run_scan
from discovery.storage.store import Store
from fuzz import targets
from scanners.files import FileImportScanner
from scanners.passive_capture import CaptureReader

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


def read(name: str) -> tuple[CaptureReader, ScanContext]:
    reader, ctx = CaptureReader(), ScanContext()
    reader.read(CAPTURES / name, ctx)
    return reader, ctx


def macs(reader: CaptureReader) -> dict[str, list[str]]:
    return {address: sorted(host.macs) for address, host in reader.hosts.items()}


def services_of(reader: CaptureReader, address: str) -> dict[int, object]:
    """{port: Service} of one host, as the import reports them."""
    report = next(r for r in reader.reports(datetime.now(timezone.utc)) if r.host.addresses == (address,))
    return {s.port: s for s in report.services}


def script(service, script_id: str) -> dict:
    (found,) = [s for s in service.scripts if s.id == script_id]
    return found.data


def picked(found: dict, *keys: str) -> dict:
    """The named fields of a result (the import may add fields; these are the ones checked against the file)."""
    return {key: found.get(key) for key in keys}


def test_every_fixture_is_listed_in_source_md_and_small():
    listed = (CAPTURES / "SOURCE.md").read_text()
    files = sorted(p for p in CAPTURES.iterdir() if p.suffix in (".pcap", ".pcapng"))
    assert len(files) >= 10
    assert all(f"`{p.name}`" in listed and p.stat().st_size < 200_000 for p in files)
    assert sum(p.stat().st_size for p in files) < 1_000_000


# --- ARP ------------------------------------------------------------------------------------------------------

def test_arp_request_and_reply_name_both_hosts_macs():
    # tcpdump: 78:31:c1:c6:3f:c2 "who-has 10.0.0.1 tell 10.0.0.2"; "Reply 10.0.0.1 is-at f8:ed:a5:c0:a4:f1"
    reader, ctx = read("zeek-arp-who-has.pcap")
    assert macs(reader) == {"10.0.0.2": ["78:31:c1:c6:3f:c2"], "10.0.0.1": ["f8:ed:a5:c0:a4:f1"]}
    assert not reader.services and not reader.flows and not ctx.warnings


def test_arp_in_a_linux_cooked_capture():
    # link type 113 (LINUX_SLL); three ARP requests' senders (sha/spa read at the ARP offsets by hand); the third
    # is gratuitous (tell 192.168.22.81 about itself). The addresses asked for never send: not hosts.
    reader, _ = read("zeek-linuxsll-arp.pcap")
    assert reader.packets == 12 and reader.undecoded == 0
    assert macs(reader) == {"192.168.22.1": ["cc:2d:e0:26:19:99"], "10.1.10.100": ["00:50:56:8b:cf:fa"],
                            "192.168.22.81": ["00:50:56:8b:3f:0d"]}


# --- DHCP, DNS and pcapng ------------------------------------------------------------------------------------

def test_dhcp_ack_names_the_address_it_gives_and_broadcasts_make_no_host():
    # Nine frames (tcpdump; options read by hand): the client 90:b1:1c:99:49:29 sends from 0.0.0.0:68 to
    # 255.255.255.255:67 DISCOVER, REQUEST, REQUEST, DECLINE, RELEASE, INFORM, with option 12 "btest.is.cool" in
    # four of them; the server 128.2.6.152 (the only unicast sender) OFFERs 128.2.6.97, NAKs, then ACKs
    # 128.2.6.189 (yiaddr) to that MAC. An offer is not an assignment: 128.2.6.97 never becomes anyone's.
    reader, ctx = read("zeek-dhcp.pcap")
    assert reader.packets == 9 and not ctx.warnings
    assert macs(reader) == {"128.2.6.152": [], "128.2.6.189": ["90:b1:1c:99:49:29"]}
    hosts = {r.host.addresses[0]: r.host for r in reader.reports(datetime.now(timezone.utc))}
    assert hosts["128.2.6.189"].hostname == "btest.is.cool" and hosts["128.2.6.152"].hostname is None


def test_pcapng_with_two_interfaces_gives_the_dns_server_and_both_clients():
    # Two Ethernet interfaces (two IDBs; 2 frames on the first, 4 on the second). tcpdump: 172.17.0.2:36343 and
    # 10.0.0.4:56351/56352 ask 1.1.1.1:53 (A www.apple.com, A and AAAA google.com); each query is answered.
    reader, ctx = read("zeek-pcapng-multi-interface.pcapng")
    assert reader.packets == 6 and not ctx.warnings
    assert set(reader.hosts) == {"172.17.0.2", "10.0.0.4", "1.1.1.1"}
    assert set(reader.services) == {("1.1.1.1", "udp", 53)}
    assert set(reader.flows) == {("172.17.0.2", "1.1.1.1", "udp", 53), ("10.0.0.4", "1.1.1.1", "udp", 53)}


# --- HTTP and TLS ---------------------------------------------------------------------------------------------

def test_http_get_gives_the_service_its_host_agent_and_server_but_not_the_target():
    # tcpdump -A: 141.142.228.5:59856 -> 192.150.187.43:80 "GET /download/CHANGES.bro-aux.txt HTTP/1.1",
    # "Host: bro.org", "User-Agent: Wget/1.14 (darwin12.2.0)"; answer "HTTP/1.1 200 OK",
    # "Server: Apache/2.4.3 (Fedora)".
    reader, _ = read("zeek-http-get.pcap")
    assert set(reader.hosts) == {"141.142.228.5", "192.150.187.43"}
    assert set(reader.flows) == {("141.142.228.5", "192.150.187.43", "tcp", 80)}
    service = services_of(reader, "192.150.187.43")[80]
    assert service.name == "http"
    (exchange,) = script(service, "http-headers")["exchanges"]
    assert picked(exchange, "method", "host", "user_agent", "status", "server", "client") == {
        "method": "GET", "host": "bro.org", "user_agent": "Wget/1.14 (darwin12.2.0)", "status": 200,
        "server": "Apache/2.4.3 (Fedora)", "client": "141.142.228.5"}
    assert "CHANGES" not in repr(service)   # the request target is never kept


def test_tls_client_hello_server_name_and_negotiated_version():
    # 192.168.4.149:55881 -> 74.125.239.152:443, Chrome 34: ClientHello 0x0303 with server_name "google.de" and
    # no supported_versions extension; ServerHello 0x0303.
    reader, _ = read("zeek-tls-chrome-34-google.pcap")
    assert set(reader.flows) == {("192.168.4.149", "74.125.239.152", "tcp", 443)}
    service = services_of(reader, "74.125.239.152")[443]
    assert service.tunnel == "ssl"
    (handshake,) = script(service, "tls-hello")["handshakes"]
    assert picked(handshake, "sni", "offered", "version", "client") == {
        "sni": "google.de", "offered": "TLS 1.2", "version": "TLS 1.2", "client": "192.168.4.149"}


def test_tls_1_1_negotiated_without_a_server_name():
    # 192.168.17.58:62987 -> 216.58.192.14:443: ClientHello 0x0302, extensions 11, 10, 35, 15 (no server_name);
    # ServerHello 0x0302: TLS 1.1, which the legacy rules flag.
    reader, _ = read("zeek-tls1_1.pcap")
    (handshake,) = script(services_of(reader, "216.58.192.14")[443], "tls-hello")["handshakes"]
    assert picked(handshake, "sni", "offered", "version", "client") == {
        "sni": None, "offered": "TLS 1.1", "version": "TLS 1.1", "client": "192.168.17.58"}


def test_tls_certificate_continuation_is_not_taken_for_dicom():
    # 192.168.6.107:57485 -> 104.236.167.107:443, server_name "www.lilawelt.net". The server's 7th frame carries
    # the middle of its certificate chain and happens to start with bytes 02 20 0c af 24 d7 0d 07: not DICOM.
    reader, _ = read("zeek-tls-certificate-with-sct.pcap")
    service = services_of(reader, "104.236.167.107")[443]
    assert script(service, "tls-hello")["handshakes"][0]["sni"] == "www.lilawelt.net"
    assert service.name != "dicom" and "dicom-association" not in {s.id for s in service.scripts}


def test_linux_cooked_v2_capture_is_read():
    # link type 276; tcpdump: 192.168.64.6:55058 -> 192.0.78.150:443 SYN, SYN-ACK, then a ClientHello whose
    # server_name is "zeek.org" (OpenJDK 25.0.2).
    reader, ctx = read("zeek-tls-openjdk-25.0.2-zeek.org.pcap")
    assert set(reader.hosts) == {"192.168.64.6", "192.0.78.150"}
    (handshake,) = script(services_of(reader, "192.0.78.150")[443], "tls-hello")["handshakes"]
    assert handshake["sni"] == "zeek.org"


# --- damaged and truncated files -----------------------------------------------------------------------------

def test_a_frame_shorter_than_an_ethernet_header_is_counted_and_said(store):
    # snaplen 1; one record of 8 bytes (caplen 8): shorter than the 14 bytes of an Ethernet header.
    result = run_scan(store, FileImportScanner(CAPTURES / "zeek-trunc-hdr.pcap"))
    assert result.status == "completed"
    assert any("1 of 1 frames could not be decoded" in w for w in result.warnings), result.warnings
    assert build_inventory(store)["hosts"] == []


@pytest.mark.parametrize("cut", [30, 405, 1000])   # into record 14's data, record 10's header, record 9's data
def test_a_public_capture_cut_short_keeps_what_came_before(store, tmp_path, cut):
    data = (CAPTURES / "zeek-http-get.pcap").read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:len(data) - cut])
    result = run_scan(store, FileImportScanner(path))
    assert result.status == "completed"
    inventory = build_inventory(store)
    assert {h["addresses"][0] for h in inventory["hosts"]} == {"141.142.228.5", "192.150.187.43"}
    assert {(s["address"], s["port"]) for s in inventory["services"]} == {("192.150.187.43", 80)}


def test_a_timestamp_past_year_9999_does_not_fail_the_import(store, tmp_path):
    # zeek-http-get.pcap's frames rewritten as pcapng (dpkt's writer, microseconds), the last one stamped 10^13 s
    # after 1970 (year ~318,000): a damaged or hostile time, as fuzz/run.py's capture-file target found.
    with open(CAPTURES / "zeek-http-get.pcap", "rb") as f:
        frames = [data for _, data in dpkt.pcap.Reader(f)]
    path = tmp_path / "far-future.pcapng"
    with open(path, "wb") as f:
        writer = dpkt.pcapng.Writer(f)
        for n, data in enumerate(frames):
            writer.writepkt(data, ts=1e13 if n == len(frames) - 1 else targets.PASSIVE_T0 + n)
    result = run_scan(store, FileImportScanner(path))
    assert result.status == "completed", result.error
    assert {h["addresses"][0] for h in build_inventory(store)["hosts"]} == {"141.142.228.5", "192.150.187.43"}


def test_each_pcapng_interface_keeps_its_own_time_resolution():
    # zeek-pcapng-multi-interface.pcapng: interface 0 has if_tsresol 9 (nanoseconds), interface 1 if_tsresol 6
    # (microseconds). tcpdump -tttt: 10.0.0.4's queries (interface 1) at 2026-01-06 01:37:17.111897 and .128303.
    reader, _ = read("zeek-pcapng-multi-interface.pcapng")
    flow = reader.flows[("10.0.0.4", "1.1.1.1", "udp", 53)]
    seen = datetime.fromtimestamp(flow.seen.first, tz=timezone.utc)
    assert seen.date().isoformat() == "2026-01-06" and seen.strftime("%H:%M") == "01:37"


# --- the CLI ---------------------------------------------------------------------------------------------------

def test_cli_import_of_a_public_capture(tmp_path):
    db = tmp_path / "estate.db"
    assert main.main(["--db", str(db), "-q", "import", str(CAPTURES / "zeek-tls-chrome-34-google.pcap")]) == 0
    with Store(db) as store:
        inventory = build_inventory(store)
    hosts = {h["addresses"][0]: h for h in inventory["hosts"]}
    assert set(hosts) == {"192.168.4.149", "74.125.239.152"}
    assert all(h["sources"] == ["passive"] for h in hosts.values())
    (service,) = inventory["services"]
    assert (service["address"], service["protocol"], service["port"]) == ("74.125.239.152", "tcp", 443)
    (tls,) = [s for s in service["scripts"] if s["id"] == "tls-hello"]
    assert tls["data"]["handshakes"][0]["sni"] == "google.de"
    (edge,) = inventory["dependencies"]
    assert (edge["source_host_id"], edge["target_host_id"], edge["target_port"], edge["evidence"]) == (
        hosts["192.168.4.149"]["id"], hosts["74.125.239.152"]["id"], 443, "observed-on-wire")


# --- the fuzz seeds, and mutations of them and of the public captures ---------------------------------------------

def test_the_fuzz_sessions_give_what_they_were_built_with():
    """fuzz/targets.py's hand-built sessions reach every decoder (and keep no patient value), so that their
    mutations exercise the header reading and not only the first checks."""
    reader = CaptureReader()
    frames = [frame for session in targets.passive_sessions().values() for frame in session]
    for n, frame in enumerate(frames):
        reader.packet(targets.PASSIVE_T0 + n, frame)
    assert reader.undecoded == 0
    facts = {key[1:]: flow.facts for key, flow in reader.flows.items()}
    assert picked(facts[("10.20.0.10", "tcp", 104)]["dicom"], "calling_ae", "called_ae", "role") == {
        "calling_ae": "CT_SCANNER_01", "called_ae": "PACS", "role": "modality"}
    assert picked(facts[("10.20.0.40", "tcp", 2575)]["hl7"][0], "sending_application", "message_type") == {
        "sending_application": "LAB", "message_type": "ORU^R01"}
    assert facts[("10.20.0.40", "tcp", 443)]["tls"]["sni"] == "ehr.hospital.example"
    assert facts[("10.20.0.40", "tcp", 80)]["http"]["user_agent"] == "curl/8.5.0"
    assert ("10.20.0.53", "udp", 53) in reader.services
    assert macs(reader)["10.20.0.21"] == ["02:00:0a:14:00:15"]   # the ARP reply
    everything = repr(list(reader.reports(datetime.now(timezone.utc))))
    assert not [value for value in targets.PATIENT_VALUES if value.decode() in everything]


EXAMPLES = int(os.environ.get("ESTATEMAP_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 200,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
CAPTURE_SEEDS = targets.capture_seeds()
SESSIONS = targets.passive_sessions()
byte_op = st.tuples(st.sampled_from(("flip", "byte", "int", "int", "delete", "insert", "dup", "truncate")),
                    st.integers(0, 1 << 20), st.integers(1, 64), st.integers(0, 1 << 16))


@FUZZ
@given(name=st.sampled_from(sorted(CAPTURE_SEEDS)), ops=st.lists(byte_op, min_size=1, max_size=4))
def test_mutated_capture_files_are_read_or_refused(tmp_path, name, ops):
    data = targets.mutate_bytes(CAPTURE_SEEDS[name], ops)
    assert targets.target_capture_file(data, str(tmp_path)) in ("read", "damaged", "refused")


@FUZZ
@given(name=st.sampled_from(sorted(SESSIONS)), which=st.integers(0, 100), ops=st.lists(byte_op, min_size=1, max_size=3))
def test_mutated_frames_fold_without_raising(name, which, ops):
    frames = list(SESSIONS[name])
    frames[which % len(frames)] = targets.mutate_bytes(frames[which % len(frames)], ops)
    assert targets.target_passive_frames(frames) in ("folded", "undecoded")


@FUZZ
@given(payload=st.sampled_from(targets.passive_payload_seeds()), ops=st.lists(byte_op, min_size=1, max_size=4))
def test_mutated_payloads_decode_to_bounded_fields_or_none(payload, ops):
    assert targets.target_passive_decoders(targets.mutate_bytes(payload, ops))
