"""Hosts' names from real DHCP and DNS traffic: dnsmasq runs on ws as the test subnet's DHCP and DNS server (bound
to ws's eth0 only, no upstream server, static leases only, host records for pacs, for ws itself and for an
address nobody has); app's DHCP client asks it for app's address with a host name and a vendor class (DISCOVER,
OFFER, REQUEST, ACK), then app looks names up with it (A and PTR) and connects to pacs. tcpdump records app's port
of the bridge; the capture is imported from the scanner host, and the hosts must carry the names the traffic gave
them: app its DHCP name and vendor class, pacs and ws their DNS names, and no host for the address only DNS
named. dnsmasq and tcpdump are started and stopped by PID.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from tests.integration.network import find_tool, stop_process
from tests.integration.test_passive_import import capture, estatemap

pytestmark = pytest.mark.integration

APP, PACS, WS, NOBODY = "10.203.0.40", "10.203.0.30", "10.203.0.50", "10.203.0.99"
APP_MAC = "02:cc:00:00:00:28"
HOSTNAME, VENDOR_CLASS = "ct-scanner-3", "GEHC-CT-Revolution 2.1"
# A DHCP client as small as it can be (standard library only): DISCOVER, wait for the OFFER, REQUEST the address
# offered from the server that offered it, wait for the ACK; every message carries the host name (option 12),
# the vendor class (60) and the address it would like (50). Then DNS lookups through the same server, and a TCP
# connection to pacs (so pacs is seen in the capture). Every wait is bounded.
CLIENT = r"""
import os, socket, struct, sys, time
mac, name, vendor, wanted, server, pacs = sys.argv[1:7]
MAC, XID = bytes.fromhex(mac.replace(":", "")), os.urandom(4)

def options(data):
    found, pos = {}, 240
    while pos + 1 < len(data) and data[pos] != 255:
        if data[pos] == 0:
            pos += 1
            continue
        found[data[pos]] = data[pos + 2:pos + 2 + data[pos + 1]]
        pos += 2 + data[pos + 1]
    return found

def message(kind, extra=b""):
    head = bytes([1, 1, 6, 0]) + XID + struct.pack("!HH", 0, 0x8000) + bytes(16) + MAC + bytes(10 + 192)
    opts = (bytes([53, 1, kind, 12, len(name)]) + name.encode() + bytes([60, len(vendor)]) + vendor.encode()
            + bytes([50, 4]) + socket.inet_aton(wanted) + extra + b"\xff")
    return head + b"\x63\x82\x53\x63" + opts

def answer(sock, kind, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(2048)
        except socket.timeout:
            continue
        if len(data) > 240 and data[4:8] == XID and data[28:34] == MAC and options(data).get(53) == bytes([kind]):
            return data
    return None

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    sock.bind(("0.0.0.0", 68))
    sock.settimeout(0.5)
    for attempt in range(5):  # DISCOVER again until the server OFFERs (bounded: 5 tries of 3 s)
        sock.sendto(message(1), ("255.255.255.255", 67))
        offer = answer(sock, 2, 3)
        if offer is not None:
            break
    else:
        sys.exit("no DHCP OFFER")
    sock.sendto(message(3, bytes([54, 4]) + options(offer)[54]), ("255.255.255.255", 67))
    ack = answer(sock, 5, 15)
    if ack is None:
        sys.exit("no DHCP ACK")
    print("ack", socket.inet_ntoa(ack[16:20]))

def lookup(qname, qtype):
    query = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(part)]) + part.encode() for part in qname.split(".")) + b"\x00"
    query += struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(query, (server, 53))
        data = s.recv(2048)
    count = struct.unpack("!H", data[6:8])[0]
    print("dns", qname, "answers", count)
    return count

ok = all(lookup(*q) for q in (("pacs.clinic.test", 1), (name, 1), ("50.0.203.10.in-addr.arpa", 12),
                               ("gone.clinic.test", 1)))
with socket.create_connection((pacs, 11112), timeout=10):
    pass
sys.exit(0 if ok else 1)
"""


@pytest.fixture(scope="module")
def dnsmasq(test_network):
    """dnsmasq on ws: DHCP (a static lease for app's MAC) and DNS (host records), ws's eth0 only, logging."""
    ws = test_network.hosts["ws"]
    folder = test_network.tmp_dir / "dnsmasq"
    folder.mkdir(exist_ok=True)
    log = test_network.log_dir / "ws-dnsmasq.log"
    argv = [find_tool("dnsmasq"), "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
            "--pid-file=", "--user=root", "--group=root", "--interface=eth0", "--bind-interfaces",
            "--no-resolv", "--no-hosts", "--no-poll", "--log-queries", "--log-dhcp", "--no-ping",
            f"--dhcp-leasefile={folder / 'leases'}", "--dhcp-range=10.203.0.0,static,255.255.255.0,10m",
            f"--dhcp-host={APP_MAC},{APP}", f"--host-record=pacs.clinic.test,{PACS}",
            f"--host-record=dns.clinic.test,{WS}", f"--host-record=gone.clinic.test,{NOBODY}"]
    with open(log, "ab") as out:
        proc = ws.popen(argv, stdin=None, stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "started, version" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            assert proc.poll() is None, f"dnsmasq exited: {log.read_text(errors='replace')}"
            time.sleep(0.05)
        assert "started, version" in log.read_text(errors="replace"), log.read_text(errors="replace")
        yield log
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def names_capture(test_network, dnsmasq, tmp_path_factory):
    """tcpdump on app's port of the bridge while app gets its address from dnsmasq and looks names up."""
    pcap = tmp_path_factory.mktemp("names") / "names.pcap"
    app = test_network.hosts["app"]
    tcpdump = capture(test_network, pcap)
    try:
        app.run(["ip", "neigh", "flush", "all"], check=True, timeout=30)
        result = app.run([sys.executable, "-c", CLIENT, APP_MAC, HOSTNAME, VENDOR_CLASS, APP, WS, PACS],
                         capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr + dnsmasq.read_text(errors="replace")
        assert f"ack {APP}" in result.stdout
        time.sleep(1)  # tcpdump -U writes each packet as it comes; a moment for the last ones
    finally:
        stop_process(tcpdump, sig=2)
    served = dnsmasq.read_text(errors="replace")
    assert f"DHCPACK(eth0) {APP} {APP_MAC} {HOSTNAME}" in served, served  # dnsmasq did answer, with that name
    return pcap


@pytest.fixture(scope="module")
def estate(test_network, names_capture, tmp_path_factory):
    folder = tmp_path_factory.mktemp("names-imported")
    db = folder / "estate.db"
    result = estatemap(test_network, "--db", db, "import", names_capture)
    assert result.returncode == 0, result.stdout + result.stderr
    exported = estatemap(test_network, "--db", db, "export", "-f", "json", "-o", folder / "estate.json")
    assert exported.returncode == 0, exported.stderr
    return json.loads((folder / "estate.json").read_text())


def names_of(host: dict) -> dict:
    (script,) = [s for s in host["scripts"] if s["id"] == "passive-names"]
    return script["data"]


def test_dhcp_gives_the_client_its_name_vendor_class_and_mac(estate):
    hosts = {h["addresses"][0]: h for h in estate["hosts"]}
    app = hosts[APP]
    assert app["hostname"] == HOSTNAME and app["macs"] == [APP_MAC]
    data = names_of(app)
    assert (data["dhcp_vendor_class"], data["dhcp_requested_address"]) == (VENDOR_CLASS, APP)
    (name,) = [n for n in data["names"] if n["name"] == HOSTNAME]
    assert name["learned_by"] == ["dhcp", "dns"]  # its own DHCP request, and dnsmasq answering for the lease
    assert name["first_seen"] <= name["last_seen"]
    assert data["oui_vendor"] is None  # 02:cc:… is locally administered: no maker to name


def test_dns_answers_name_the_hosts_seen_and_make_no_host_of_the_others(estate):
    hosts = {h["addresses"][0]: h for h in estate["hosts"]}
    assert "pacs.clinic.test" in hosts[PACS]["hostnames"]  # an A answer, and app then talked to pacs
    assert "dns.clinic.test" in hosts[WS]["hostnames"]     # a PTR answer naming the server that sent it
    assert [n["learned_by"] for n in names_of(hosts[PACS])["names"]] == [["dns"]]
    assert NOBODY not in hosts                             # gone.clinic.test was only named, never seen
