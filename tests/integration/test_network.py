"""The test network works: every daemon answers from the scanner host, hosts are isolated, nothing leaks out."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest

from tests.integration import network as network_module
from tests.integration.network import (DATA, PREFIX, SUBNET, NetworkError, TestNetwork, delete_namespace, ip,
                                       list_namespaces, remove_stale_leftovers, running_network)

pytestmark = pytest.mark.integration

NMAP_PORTS = "22,80,104,2575,5432,6379,11112"
HTTP_GET = """
import http.client, sys
conn = http.client.HTTPConnection(sys.argv[1], 80, timeout=5)
conn.request("GET", "/")
response = conn.getresponse()
print(response.status, response.getheader("Server"))
print(response.read().decode())
"""
EXCHANGE = """
import socket, sys
request, end = bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4])
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as s:
    s.sendall(request)
    reply = b""
    while not reply.endswith(end):
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
print(reply.hex())
"""
CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("connected")
except OSError as exc:
    print(exc.errno)
"""
PSUTIL_CONNECTIONS = """
import json, sys, psutil
print(json.dumps([
    {"pid": p.pid, "remote": sorted(c.raddr for c in p.net_connections(kind="tcp") if c.status == "ESTABLISHED")}
    for p in psutil.process_iter(["name"]) if p.info["name"] == sys.argv[1]]))
"""


def exchange(network: TestNetwork, address: str, port: int, request: bytes, end: bytes) -> bytes:
    """Send request from the scanner host; return the reply up to `end` (or all of it, if the server closes)."""
    result = network.scanner.run([sys.executable, "-c", EXCHANGE, address, str(port), request.hex(), end.hex()],
                                 capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    return bytes.fromhex(result.stdout.strip())


def is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def ps(host) -> list[tuple[int, str]]:
    """Return (pid, comm) of every process the host itself sees."""
    result = host.run(["ps", "-eo", "pid=,comm="], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    return [(int(pid), comm) for pid, comm in (line.split(None, 1) for line in result.stdout.splitlines())]


def test_every_service_port_accepts_tcp_from_scanner(test_network):
    endpoints = [f"{host.address}:{port}" for host in test_network.hosts.values() for port in host.services.values()]
    assert len(endpoints) == 7
    result = test_network.scanner.run([sys.executable, DATA / "tcp_probe.py", "--timeout", "5",
                                       *endpoints], capture_output=True, text=True, timeout=20)
    assert json.loads(result.stdout) == {endpoint: "open" for endpoint in endpoints}
    assert result.returncode == 0


def test_nginx_answers_http_get_with_200(test_network):
    result = test_network.scanner.run([sys.executable, "-c", HTTP_GET, "10.203.0.20"], capture_output=True,
                                      text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    status, server = result.stdout.splitlines()[0].split(" ", 1)
    assert status == "200"
    assert server.startswith("nginx/")
    assert "<h1>EMR web portal</h1>" in result.stdout


def test_redis_answers_ping_with_pong(test_network):
    assert exchange(test_network, "10.203.0.10", 6379, b"PING\r\n", b"\r\n") == b"+PONG\r\n"


def test_sshd_sends_openssh_banner(test_network):
    banner = exchange(test_network, "10.203.0.20", 22, b"", b"\r\n")
    assert banner.startswith(b"SSH-2.0-OpenSSH")


def test_ssh_client_key_logs_in_to_web_as_root(test_network):
    web = test_network.hosts["web"]
    assert web.ssh_client_key.is_file() and web.ssh_known_hosts.is_file()
    result = test_network.scanner.run(
        ["ssh", "-F", "/dev/null", "-i", web.ssh_client_key, "-o", f"UserKnownHostsFile={web.ssh_known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
         "root@10.203.0.20", "hostname; id -un"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["web", "root"]


def test_mllp_listener_acks_hl7_message(test_network):
    message = (b"\x0bMSH|^~\\&|ESTATEMAP|TEST|PACS|TEST|20250101120000||ADT^A01^ADT_A01|MSG00042|P|2.5\r"
               b"EVN|A01|20250101120000\rPID|1||12345^^^TEST^MR||DOE^JANE\r\x1c\r")
    reply = exchange(test_network, "10.203.0.30", 2575, message, b"\x1c\r")
    assert reply.startswith(b"\x0bMSH|^~\\&|PACS|TEST|ESTATEMAP|TEST|")
    assert reply.endswith(b"\x1c\r")
    segments = reply[1:-2].decode().split("\r")
    assert segments[0].split("|")[8] == "ACK^A01^ACK"
    assert segments[1] == "MSA|AA|MSG00042"


def test_mllp_listener_closes_connection_that_is_not_mllp(test_network):
    reply = exchange(test_network, "10.203.0.30", 2575, b"GET / HTTP/1.0\r\n\r\n", b"\x1c\r")
    assert reply == b""


def test_postgresql_answers_query_from_scanner(test_network):
    result = test_network.scanner.run(
        ["psql", "-h", "10.203.0.10", "-U", "postgres", "-d", "emr", "-tA", "-c",
         "select current_database(), 1"], capture_output=True, text=True, timeout=20,
        env={**os.environ, "PGCONNECT_TIMEOUT": "5"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "emr|1"


@pytest.mark.parametrize("port", [11112, 104])
def test_dcmtk_echo_to_pacs_succeeds(test_network, port):
    result = test_network.scanner.run(["echoscu", "-aec", "PACS", "10.203.0.30", str(port)], capture_output=True,
                                      text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_root_namespace_has_no_interface_address_or_route_into_test_subnet(test_network):
    # Connecting from the root namespace would send a SYN out of this machine's real default route, so the
    # test inspects instead: none of our interfaces (MACs 02:cc:00:00:*) and no 10.203.0.x address or route here.
    links = json.loads(ip("-j", "link", "show"))
    assert not [link["ifname"] for link in links if link.get("address", "").startswith("02:cc:00:00:")]
    addresses = [a["local"] for link in json.loads(ip("-j", "address", "show")) for a in link.get("addr_info", [])]
    assert not [address for address in addresses if address.startswith("10.203.0.")]
    assert json.loads(ip("-j", "route", "show", "root", SUBNET)) == []


def test_no_test_host_has_a_default_route(test_network):
    for host in test_network.hosts.values():
        result = host.run(["ip", "route"], capture_output=True, text=True, timeout=10)
        assert result.returncode == 0, result.stderr
        assert "default" not in result.stdout, host.name
        assert result.stdout.split() == ["10.203.0.0/24", "dev", "eth0", "proto", "kernel", "scope", "link", "src",
                                         host.address]


def test_test_hosts_cannot_reach_beyond_subnet(test_network):
    # No route: connect() fails with ENETUNREACH before anything is sent.
    result = test_network.scanner.run([sys.executable, "-c", CONNECT, "198.51.100.1", "80"], capture_output=True,
                                      text=True, timeout=10)
    assert result.stdout.strip() == str(errno.ENETUNREACH)


def test_each_host_has_its_name_address_and_mac(test_network):
    assert set(test_network.hosts) == {"scanner", "db", "web", "pacs", "app", "ws"}
    assert test_network.scanner is test_network.hosts["scanner"]
    for host in test_network.hosts.values():
        result = host.run(["hostname"], capture_output=True, text=True, timeout=10)
        assert result.stdout.strip() == host.name
        (link,) = json.loads(host.run(["ip", "-j", "address", "show", "eth0"], capture_output=True, text=True,
                                      timeout=10).stdout)
        assert link["address"] == host.mac
        assert host.mac == f"02:cc:00:00:00:{int(host.address.rsplit('.', 1)[1]):02x}"
        assert [a["local"] for a in link["addr_info"] if a["family"] == "inet"] == [host.address]
        assert host.run(["cat", "/etc/hostname"], capture_output=True, text=True).stdout == f"{host.name}\n"


def test_db_sees_only_its_own_processes(test_network):
    db = test_network.hosts["db"]
    processes = ps(db)
    comms = {comm for _, comm in processes}
    assert {"postgres", "redis-server"} <= comms
    assert not comms & {"nginx", "sshd", "storescp", "emr_app"}
    pids = {pid for pid, comm in processes if comm != "ps"}
    for daemon in db.daemons.values():
        assert db.pid_inside(daemon.pid) in pids
    assert dict(processes)[1] == "python"  # host_init.py, the host's PID 1
    listed = {int(name) for name in db.run(["ls", "/proc"], capture_output=True, text=True).stdout.split()
              if name.isdigit()}
    assert pids <= listed
    assert len(listed) < 30  # the whole machine runs well over a hundred


def test_app_connections_are_seen_only_inside_app(test_network):
    app, web = test_network.hosts["app"], test_network.hosts["web"]
    seen = app.run(["ss", "-Htnp", "state", "established"], capture_output=True, text=True).stdout
    peers = {line.split()[3] for line in seen.splitlines() if '"emr_app"' in line}
    assert peers == {"10.203.0.10:5432", "10.203.0.10:6379", "10.203.0.20:80"}
    on_web = web.run(["ss", "-Htnp", "state", "established"], capture_output=True, text=True).stdout
    assert "emr_app" not in on_web
    assert "10.203.0.10:5432" not in on_web
    # web sees its own, server side of the app's HTTP connection, owned by nginx
    assert [line.split()[2] for line in on_web.splitlines() if '"nginx"' in line
            and line.split()[3].startswith("10.203.0.40:")] == ["10.203.0.20:80"]


def test_app_process_is_named_emr_app_in_psutil_and_its_connections_are_seen_inside_app(test_network):
    app = test_network.hosts["app"]
    process = psutil.Process(app.daemons["emr_app"].pid)
    assert process.name() == "emr_app"
    assert process.cmdline()[1].endswith("emr_app.py")
    # Sockets belong to a network namespace: psutil sees the app's connections only when run inside app.
    result = app.run([sys.executable, "-c", PSUTIL_CONNECTIONS, "emr_app"], capture_output=True, text=True,
                     timeout=30)
    assert result.returncode == 0, result.stderr
    (seen,) = json.loads(result.stdout)
    assert seen["pid"] == app.pid_inside(process.pid)
    assert seen["remote"] == [["10.203.0.10", 5432], ["10.203.0.10", 6379], ["10.203.0.20", 80]]


def test_nmap_from_scanner_finds_every_service(test_network, tmp_path):
    normal = tmp_path / "nmap.txt"
    started = time.monotonic()
    result = test_network.scanner.run(
        ["nmap", "-sV", "-Pn", "-n", "-p", NMAP_PORTS, "-oN", normal, "-oX", "-", "10.203.0.10,20,30"],
        capture_output=True, text=True, timeout=300)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    print(f"\nnmap took {took:.1f} s\n{normal.read_text()}")
    found = {}
    for host in ET.fromstring(result.stdout).iter("host"):
        address = host.find("address[@addrtype='ipv4']").get("addr")
        for port in host.iter("port"):
            if port.find("state").get("state") == "open":
                service = port.find("service")
                found[(address, int(port.get("portid")))] = {k: service.get(k) for k in ("name", "product", "version")}
    print(json.dumps({f"{a}:{p}": s for (a, p), s in sorted(found.items())}, indent=1))
    expected = {(host.address, port) for host in test_network.hosts.values() for port in host.services.values()}
    assert set(found) == expected
    assert found[("10.203.0.20", 22)]["product"] == "OpenSSH"
    assert found[("10.203.0.20", 80)]["product"] == "nginx"
    assert found[("10.203.0.10", 6379)]["product"] == "Redis key-value store"
    assert found[("10.203.0.10", 5432)]["product"] == "PostgreSQL DB"


def test_remove_stale_leftovers_deletes_only_dead_runs(test_network):
    dead_pid = next(pid for pid in range(4_000_000, 3_000_000, -1) if not psutil.pid_exists(pid))
    stale = f"{PREFIX}{dead_pid}-beef-db"
    ip("netns", "add", stale)
    holder = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "60"], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while str(holder.pid) not in ip("netns", "pids", stale).split() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert str(holder.pid) in ip("netns", "pids", stale).split(), "the holder never entered the namespace"
        removed = remove_stale_leftovers()
        assert stale in removed
        assert holder.wait(timeout=30) == -signal.SIGKILL
        namespaces = list_namespaces()
        assert stale not in namespaces
        assert set(test_network.namespaces) <= set(namespaces)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=5)
        if stale in list_namespaces():
            delete_namespace(stale)


def test_running_network_teardown_leaves_nothing_behind(test_network):
    with running_network(("scanner", "pacs")) as small:
        assert small.run_id != test_network.run_id
        pids = [small.scanner.init_pid, small.hosts["pacs"].init_pid,
                *(daemon.pid for daemon in small.hosts["pacs"].daemons.values())]
        assert all(psutil.pid_exists(pid) for pid in pids)
        result = small.scanner.run(["echoscu", "-aec", "PACS", "10.203.0.30", "11112"], capture_output=True,
                                   timeout=30)
        assert result.returncode == 0
        namespaces, tmp_dir = small.namespaces, small.tmp_dir
    assert not set(namespaces) & set(list_namespaces())
    assert set(test_network.namespaces) <= set(list_namespaces())
    assert not [pid for pid in pids if is_running(pid)]
    assert not tmp_dir.exists()


def test_running_network_start_failure_raises_with_log_and_cleans_up(test_network, monkeypatch):
    real_start_pacs = network_module.NetworkBuilder.start_pacs

    def start_pacs_with_a_bad_daemon(self, host):
        real_start_pacs(self, host)
        self.start_daemon(host, "broken", [sys.executable, "-c", "print('broken on purpose'); raise SystemExit(3)"])

    monkeypatch.setattr(network_module.NetworkBuilder, "start_pacs", start_pacs_with_a_bad_daemon)

    def ours() -> set[str]:  # other sessions may come and go meanwhile
        own = f"{PREFIX}{os.getpid()}-"
        return {n for n in list_namespaces() if n.startswith(own)} | {
            str(p) for p in Path(tempfile.gettempdir()).glob(f"{own}*")}

    before = ours()
    with pytest.raises(NetworkError, match=re.compile(r"broken on pacs exited.*broken on purpose", re.S)):
        with running_network(("scanner", "pacs")):
            pass
    assert ours() == before
