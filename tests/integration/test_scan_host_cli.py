"""`estatemap scan host` then `estatemap export --format json`, as a user runs them, on this real machine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import stop

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def estatemap(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True, timeout=300)


@pytest.fixture
def process_with_secret():
    """A running process whose command line holds a password."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "--password=hunter2",
                             "--db-url=postgresql://emr:s3cretpw@db01/emr"])
    yield proc
    stop(proc)


def test_scan_host_then_export_json_inventories_this_machine(tmp_path, redis_server, process_with_secret):
    db = tmp_path / "estate.db"
    with socket.create_connection(("127.0.0.1", redis_server.port)) as client:
        client_port = client.getsockname()[1]
        scan = estatemap("--db", str(db), "scan", "host")
    assert scan.returncode == 0, scan.stderr
    assert "Traceback" not in scan.stderr
    out = tmp_path / "estate.json"
    export = estatemap("--db", str(db), "export", "--format", "json", "--out", str(out))
    assert export.returncode == 0, export.stderr
    text = out.read_text()
    inventory = json.loads(text)

    (host,) = inventory["hosts"]
    assert host["hostname"] == socket.gethostname()
    assert host["cpu_logical_cores"] == os.cpu_count()
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    assert host["memory_bytes"] == int(meminfo["MemTotal"].split()[0]) * 1024
    assert host["sources"] == ["local"] and host["os_family"] == "linux"

    services = {(s["protocol"], s["port"]): s for s in inventory["services"]}
    redis = services[("tcp", redis_server.port)]
    assert redis["process"] == "redis-server" and redis["host_id"] == host["id"]
    assert redis["category"] == "database" and redis["state"] == "listening"
    assert any(d["engine"] == "redis" and d["service_id"] == redis["id"] and d["version"]
               for d in inventory["databases"])

    conn = next(c for c in inventory["connections"]
                if c["source_port"] == client_port and c["target_port"] == redis_server.port)
    assert conn["source_address"] == conn["target_address"] == "127.0.0.1"
    assert conn["source_host_id"] == conn["target_host_id"] == host["id"]
    assert conn["target_service_id"] == redis["id"]
    assert conn["target_process"] == "redis-server"
    assert conn["source_process"] == psutil.Process(os.getpid()).name()

    assert any(s["source"] == "dpkg" and s["name"] == "redis-server" for s in inventory["software"])
    (secretive,) = [p for p in inventory["processes"] if p["pid"] == process_with_secret.pid]
    assert "--password=REDACTED" in secretive["cmdline"]
    assert "hunter2" not in text and "s3cretpw" not in text
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("estate.db*"))
    assert stored and b"hunter2" not in stored


def test_scan_host_twice_is_one_host_and_two_scans(tmp_path):
    db = tmp_path / "estate.db"
    for _ in range(2):
        assert estatemap("--db", str(db), "-q", "scan", "host").returncode == 0
    scans = estatemap("--db", str(db), "scans")
    lines = scans.stdout.strip().splitlines()
    assert len(lines) == 3 and all(" completed " in line for line in lines[1:])
    out = tmp_path / "e.json"
    assert estatemap("--db", str(db), "export", "-f", "json", "-o", str(out)).returncode == 0
    inventory = json.loads(out.read_text())
    assert len(inventory["hosts"]) == 1 and len(inventory["scans"]) == 2


def test_scan_host_watch_keeps_first_and_last_seen_of_short_lived_connections(tmp_path, redis_server):
    """A client that reconnects every 0.3 s (a new port each time) is one dependency seen by many samples."""
    db = tmp_path / "estate.db"
    # Each connection lives about 0.3 s, but the next one is open 0.15 s before the previous one closes: the client
    # holds a connection at every instant, whenever a sample is taken and however the machine schedules it. It
    # runs until it is stopped (by PID), not for a fixed time that a slow scan could outlast.
    client = subprocess.Popen([sys.executable, "-c", (
        "import socket, sys, time\n"
        "def connect():\n"
        "    s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
        "    s.sendall(b'PING\\r\\n'); s.recv(16)\n"
        "    return s\n"
        "held = connect()\n"
        "print('connected', flush=True)\n"
        "while True:\n"
        "    time.sleep(0.15)\n"
        "    new = connect()\n"
        "    time.sleep(0.15)\n"
        "    held.close()\n"
        "    held = new\n"), str(redis_server.port)], stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline() == "connected\n", "the client did not connect"
        client_name = psutil.Process(client.pid).name()
        scan = estatemap("--db", str(db), "scan", "host", "--watch", "3s", "--every", "0.5s")
    finally:
        stop(client)
    assert scan.returncode == 0, scan.stderr
    out = tmp_path / "e.json"
    assert estatemap("--db", str(db), "export", "-f", "json", "-o", str(out)).returncode == 0
    to_redis = [c for c in json.loads(out.read_text())["connections"]
                if c["target_port"] == redis_server.port and c["source_process"] == client_name
                and c["source_port"] != redis_server.port]
    assert len(to_redis) == 1, to_redis  # one dependency, not one row per ephemeral port
    (dep,) = to_redis
    # The watch takes 7 samples (3 s / 0.5 s + the inventory's); the client is connected at each of them. At
    # least 3 leaves room only for a reconnect racing one sample's reading of the socket and process tables.
    assert dep["samples"] >= 3 and dep["first_seen"] < dep["last_seen"]
    assert dep["evidence"] == "observed"
