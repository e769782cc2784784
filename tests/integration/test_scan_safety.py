"""Scan safety on the namespace test network: exclusions reach no packet to the host, the rate cap holds
(measured on the wire), hostile targets never reach nmap, and nothing goes through a shell.

Packets are counted inside the test hosts' own network namespaces (tcpdump on their eth0, the scanner's
tx_packets), which this module's network fixture creates; no other address is ever sent anything.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from bench.rate_cap import measure_rate
from tests.integration.network import PREFIX_LENGTH, find_tool, running_network, stop_process

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

CAPTURE_START_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def net():
    """scanner, db, web, app and ws; web and app run sshd (root logs in with the network's client key)."""
    with running_network(("scanner", "db", "web", "app", "ws"), sshd_hosts=("web", "app")) as network:
        yield network


@pytest.fixture
def home(tmp_path):
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def estatemap(net, home, *argv, timeout=180):
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    return net.scanner.run([sys.executable, str(ROOT / "main.py"), *map(str, argv)], capture_output=True, text=True,
                           timeout=timeout, cwd=ROOT, env={**env, "HOME": str(home)})


MARKER = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.sendto(b"capture-marker", (sys.argv[1], 9))
"""


class Capture:
    """tcpdump inside one test host: every frame from the scanner's MAC that is meant for this host
    (unicast to it, or a broadcast asking for its address, e.g. an ARP who-has) — except ARP replies, which
    answer the host's own question (its kernel refreshing a neighbour entry from the network's start-up).

    `stop` has the host broadcast one marker datagram (to the discard port) and waits, bounded, until tcpdump
    has printed it: every frame that reached the host before it has been printed too, however slowly tcpdump
    runs. Only the frames before the marker are returned."""

    def __init__(self, host, scanner):
        self.host = host
        self.broadcast = str(ipaddress.ip_interface(f"{host.address}/{PREFIX_LENGTH}").network.broadcast_address)
        self.marker = f"> {self.broadcast}.9: UDP"
        expression = (f"(ether src {scanner.mac} and (dst host {host.address} "
                      "or not (ether broadcast or ether multicast)) and not (arp and arp[6:2] = 2)) "
                      f"or (ether src {host.mac} and udp dst port 9 and dst host {self.broadcast})")
        self.proc = host.popen([find_tool("tcpdump"), "-i", "eth0", "-n", "-l", "-p", "-e", expression],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + CAPTURE_START_TIMEOUT
        line = ""
        while "listening on" not in line and time.monotonic() < deadline and self.proc.poll() is None:
            line = self.proc.stderr.readline()
        assert "listening on" in line, f"tcpdump did not start in {host.name}: {line}"
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def _marked(self) -> int | None:
        return next((i for i, line in enumerate(list(self.lines)) if self.marker in line), None)

    def stop(self) -> list[str]:
        try:
            self.host.run([sys.executable, "-c", MARKER, self.broadcast], check=True, timeout=60)
            deadline = time.monotonic() + 60
            while self._marked() is None and time.monotonic() < deadline and self.proc.poll() is None:
                time.sleep(0.05)
        finally:
            stop_process(self.proc, sig=2)
            self.reader.join(30)
        marked = self._marked()
        assert marked is not None, f"tcpdump in {self.host.name} never printed the marker frame: {self.lines[-5:]}"
        return [line for line in self.lines[:marked] if line.strip()]


def export_hosts(net, home, db: Path) -> list[str]:
    out = db.with_suffix(".json")
    result = estatemap(net, home, "--db", db, "export", "-f", "json", "-o", out, "--force")
    assert result.returncode == 0, result.stderr
    return sorted(h["addresses"][0] for h in json.loads(out.read_text())["hosts"])


def test_scan_network_exclude_sends_not_one_packet_to_the_excluded_host(net, home, tmp_path):
    db_host, app = net.hosts["db"], net.hosts["app"]
    control, excluded = Capture(db_host, net.scanner), Capture(app, net.scanner)
    try:
        result = estatemap(net, home, "--db", tmp_path / "estate.db", "scan", "network", db_host.address,
                           app.address, "--exclude", app.address, "--profile", "quick", "--ports", "22,80,5432",
                           "--max-rate", "2000")
    finally:
        to_excluded, to_control = excluded.stop(), control.stop()
    assert result.returncode == 0, result.stderr
    assert to_excluded == []
    assert len(to_control) >= 3  # the capture works: the host scanned got the probes (ARP, SYNs)
    assert export_hosts(net, home, tmp_path / "estate.db") == [db_host.address]


@pytest.mark.parametrize("target, exclusion", [
    ("root@app", "10.203.0.40"),          # by name, excluded by address (the name is resolved first)
    ("root@10.203.0.40", "app"),          # by address, excluded by name
    ("root@app", "10.203.0.32/28"),       # a block
])
def test_scan_ssh_exclude_never_contacts_the_host(net, home, tmp_path, target, exclusion):
    web, app = net.hosts["web"], net.hosts["app"]
    control, excluded = Capture(web, net.scanner), Capture(app, net.scanner)
    try:
        result = estatemap(net, home, "--db", tmp_path / "estate.db", "scan", "ssh", "root@web", target,
                           "--exclude", exclusion, "--key", net.ssh_client_key, "--known-hosts", net.ssh_known_hosts)
    finally:
        to_excluded, to_control = excluded.stop(), control.stop()
    assert result.returncode == 0, result.stderr
    assert f"warning: {target}: excluded by --exclude {exclusion}: not contacted" in result.stderr
    assert to_excluded == []
    assert len(to_control) > 10  # web was logged in to and inventoried
    assert export_hosts(net, home, tmp_path / "estate.db") == [web.address]


FAKE_NMAP = """#!/bin/sh
# Records how it was started (one argument per line, then its parent's name), then acts like nmap.
{{ for arg in "$@"; do printf '%s\\n' "$arg"; done; printf 'parent=%s\\n--\\n' "$(cat /proc/$PPID/comm)"; }} >> {log}
if [ "$1" = "-V" ]; then echo "Nmap version 7.93 ( https://nmap.org )"; exit 0; fi
printf '<?xml version="1.0"?>\\n<nmaprun scanner="nmap" args="fake" start="1" version="7.93" xmloutputversion="1.05">\\n'
printf '<runstats><finished time="1" exit="success"/><hosts up="0" down="1" total="1"/></runstats></nmaprun>\\n'
"""


@pytest.fixture
def fake_nmap(tmp_path):
    """A stand-in nmap first on PATH that logs every start; returns (env, log path)."""
    folder, log = tmp_path / "bin", tmp_path / "nmap-starts.log"
    folder.mkdir()
    script = folder / "nmap"
    script.write_text(FAKE_NMAP.format(log=log))
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}, log


@pytest.mark.parametrize("argv", [
    ["--", "-iL", "/etc/passwd"],
    ["--", "-iL /etc/passwd"],
    ["--", "--script=http-shellshock", "10.203.0.10"],
    ["$(reboot)"],
    ["`reboot`"],
    ["a;b"],
    ["10.203.0.10;reboot"],
    ["10.203.0.10 -oN /tmp/owned"],
    ["10.203.0.10", "--exclude", "10.203.0.1;reboot"],
    ["10.203.0.10", "--exclude", "--script=x"],
    ["10.203.0.10", "--ports", "80;reboot"],
    ["10.203.0.10", "--ports", "80 --script=x"],
])
def test_hostile_targets_are_refused_before_nmap_starts(fake_nmap, tmp_path, argv):
    env, log = fake_nmap
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--db", str(tmp_path / "estate.db"),
                             "scan", "network", *argv], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert result.returncode in (1, 2), result.stderr
    assert "error" in result.stderr
    assert not log.exists(), log.read_text()  # nmap never started, not even `nmap -V`


def test_a_valid_target_reaches_nmap_as_its_own_last_argument_not_through_a_shell(fake_nmap, tmp_path):
    env, log = fake_nmap
    subprocess.run([sys.executable, str(ROOT / "main.py"), "--db", str(tmp_path / "estate.db"), "scan", "network",
                    "10.203.0.10", "db.example.org", "--ports", "80", "--exclude", "10.203.0.11"],
                   capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    starts = [block.strip().splitlines() for block in log.read_text().split("--\n") if block.strip()]
    scans = [s for s in starts if s[0] != "-V"]
    assert len(scans) == 1
    (scan,) = scans
    *arguments, parent = scan
    assert arguments[-2:] == ["10.203.0.10", "db.example.org"]  # the targets, last, one argument each
    assert arguments[arguments.index("--exclude") + 1] == "10.203.0.11"
    assert parent.startswith("parent=python")  # started by estatemap itself: no shell in between


def test_max_rate_cap_holds_on_the_wire(net, tmp_path):
    """At --max-rate 100, what leaves the scanner's eth0 (sampled every 100 ms) stays within 10% of the cap."""
    cap, ports = 100, "1-800"
    measured = measure_rate(net, cap, ports, net.hosts["ws"].address, tmp_path / "rate.db")
    print(measured.line())
    assert measured.packets >= 800  # every port was probed: the measurement saw the scan
    assert measured.mean_pps <= cap * 1.1, measured.line()
    assert measured.seconds >= 800 / (cap * 1.1) * 0.9


# --- redaction on every path into the store and out to the exports ------------------------------------

PLANTED = {
    "PLANT-redis-9k2": "redis-cli",       # redis-cli -a X (argv and ps output)
    "PLANT-mysql-7q1": "mysql",           # mysql -pX
    "PLANT-flag-3z8": "app",              # --password X
    "PLANT-env-5w4": "app",               # PGPASSWORD=X
    "PLANT-url-6r7": "app",               # https://user:X@host
    "PLANT-query-2m5": "http",            # api_key=X in a page title (nmap's http-title)
    "PLANTbearer8x1y2z3": "http",         # Bearer X in a page title
}
SLEEPER = "import time; time.sleep(300)"
HTTP_STUB = """
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><head><title>Admin api_key=PLANT-query-2m5 Bearer PLANTbearer8x1y2z3</title></head></html>"
        self.send_response(200); self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
"""


def planted_processes(app) -> list:
    """Processes on app whose command lines carry the planted secrets in the common forms."""
    argvs = [
        ["redis-cli", "-c", SLEEPER, "-h", "10.203.0.10", "-a", "PLANT-redis-9k2", "monitor"],
        ["mysql", "-c", SLEEPER, "-uroot", "-pPLANT-mysql-7q1", "emr"],
        ["app", "-c", SLEEPER, "--password", "PLANT-flag-3z8", "PGPASSWORD=PLANT-env-5w4",
         "https://svc:PLANT-url-6r7@db.example.org/"],
    ]
    return [app.popen([sys.executable, "-c", f"import os, sys; os.execv(sys.executable, {argv!r})"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for argv in argvs]


def holding(folder: Path, secrets: list[str]) -> dict[str, list[str]]:
    """{secret: files under folder holding it}: raw bytes, zip members (xlsx, csv) and gzip content (bundles)."""
    import gzip
    import io
    import zipfile

    blobs = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = blobs[path.name] = path.read_bytes()
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                blobs.update({f"{path.name}:{n}": archive.read(n) for n in archive.namelist()})
        elif data[:2] == b"\x1f\x8b":
            blobs[f"{path.name}:gunzipped"] = gzip.decompress(data)
    return {s: [name for name, blob in blobs.items() if s.encode() in blob] for s in secrets
            if any(s.encode() in blob for blob in blobs.values())}


def test_planted_secrets_reach_neither_the_store_nor_any_export(net, home, tmp_path):
    app, ws = net.hosts["app"], net.hosts["ws"]
    store = tmp_path / "out" / "estate.db"
    store.parent.mkdir()
    processes = planted_processes(app)
    stub = ws.popen([sys.executable, "-c", HTTP_STUB, ws.address, "8080"], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    try:
        # Ready when every planted process has exec'd into its secret-bearing command line and the stub listens.
        def execed(proc) -> bool:
            try:
                return proc.child_pid is not None and any("PLANT" in arg for arg in
                                                          psutil.Process(proc.child_pid).cmdline())
            except psutil.Error:
                return False

        def ready() -> bool:
            planted = all(execed(proc) for proc in processes)
            listening = ws.run(["ss", "-Hltn", "sport = :8080"], capture_output=True, text=True).stdout.strip()
            return planted and bool(listening)
        deadline = time.monotonic() + 60
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready(), "the planted processes or the HTTP stub did not start"
        # 1. SSH: process command lines and the raw `ps` output kept as evidence
        ssh = estatemap(net, home, "--db", store, "scan", "ssh", "root@app", "--key", net.ssh_client_key,
                        "--known-hosts", net.ssh_known_hosts)
        assert ssh.returncode == 0, ssh.stderr
        # 2. a collector bundle made on app (its own PID namespace sees the planted processes), then imported
        bundle = tmp_path / "bundle" / "app.estate"
        bundle.parent.mkdir()
        collect = app.run([sys.executable, str(ROOT / "main.py"), "collect", "--out", bundle], capture_output=True,
                          text=True, timeout=180, cwd=ROOT, env={**os.environ, "HOME": str(home)})
        assert collect.returncode == 0, collect.stderr
        assert estatemap(net, home, "--db", store, "import", bundle).returncode == 0
        # 3. nmap script output (http-title of the deep profile)
        scan = estatemap(net, home, "--db", store, "scan", "network", ws.address, "--profile", "deep",
                         "--ports", "8080", "--max-rate", "2000")
        assert scan.returncode == 0, scan.stderr
    finally:
        for proc in processes:
            stop_process(proc)
        stop_process(stub)
    for fmt, suffix in (("json", "json"), ("xlsx", "xlsx"), ("csv", "zip"), ("graphml", "graphml"),
                        ("gexf", "gexf")):
        result = estatemap(net, home, "--db", store, "export", "-f", fmt, "-o", store.with_name(f"export.{suffix}"))
        assert result.returncode == 0, result.stderr
    inventory = json.loads(store.with_name("export.json").read_text())
    # Every path delivered its planted text, masked: the checks below are not vacuous.
    cmdlines = [p["cmdline"] or "" for p in inventory["processes"]]
    assert sum("-a REDACTED" in c for c in cmdlines) == 2  # one from SSH, one from the bundle
    assert sum("-pREDACTED" in c for c in cmdlines) == 2
    assert sum("--password REDACTED" in c and "PGPASSWORD=REDACTED" in c for c in cmdlines) == 2
    titles = [s["output"] for svc in inventory["services"] for s in svc.get("scripts") or [] if s["id"] == "http-title"]
    assert titles and "api_key=REDACTED" in titles[0] and "Bearer REDACTED" in titles[0]
    # ... and no secret is anywhere: store, WAL, exports (inside xlsx and zip), nor the bundle.
    assert holding(tmp_path, list(PLANTED)) == {}
