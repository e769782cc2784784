"""The real nmap binary against daemons on loopback, through the CLI as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from discovery.storage.store import Store
from scanners.nmap_network import this_machine

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "nmap"
pytestmark = pytest.mark.integration


def estatemap(*argv: str, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True,
                          timeout=timeout, env=env)


def export(db: Path, tmp_path: Path) -> dict:
    out = tmp_path / "export.json"
    result = estatemap("--db", str(db), "export", "-f", "json", "-o", str(out), "--force")
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def test_scan_network_finds_redis_on_loopback(tmp_path, redis_server):
    db = tmp_path / "estate.db"
    result = estatemap("--db", str(db), "-v", "scan", "network", "127.0.0.1", "--ports", str(redis_server.port))
    assert result.returncode == 0, result.stderr
    assert "running: nmap -oX - " in result.stderr and "-sV" in result.stderr
    inventory = export(db, tmp_path)
    (host,) = inventory["hosts"]
    # 127.0.0.1 is the machine that ran the scan: its host carries that machine's name and addresses.
    addresses, _ = this_machine()
    assert host["addresses"] == [*addresses, "127.0.0.1"] and host["sources"] == ["nmap"]
    assert host["hostname"] == socket.gethostname()
    (service,) = inventory["services"]
    assert (service["port"], service["name"], service["product"], service["category"], service["state"]) == (
        redis_server.port, "redis", "Redis key-value store", "database", "open")
    assert [d["engine"] for d in inventory["databases"]] == ["redis"]
    (scan,) = inventory["scans"]
    assert scan["kind"] == "network" and scan["status"] == "completed" and scan["targets"] == ["127.0.0.1"]
    assert scan["arguments"].startswith("nmap ") and f"-p {redis_server.port}" in scan["arguments"]


@pytest.mark.parametrize("order", [("host", "network"), ("network", "host")])
def test_loopback_scanned_by_nmap_is_the_host_scan_host_stored(tmp_path, redis_server, order):
    """One machine, one host: nmap on 127.0.0.1 and `scan host` on the same machine merge, in either order."""
    db = tmp_path / "estate.db"
    commands = {"host": ("scan", "host"),
                "network": ("scan", "network", "127.0.0.1", "--ports", str(redis_server.port), "--profile", "quick")}
    for kind in order:
        result = estatemap("--db", str(db), *commands[kind])
        assert result.returncode == 0, result.stderr
    (host,) = export(db, tmp_path)["hosts"]
    assert host["sources"] == ["local", "nmap"] and host["hostname"] == socket.gethostname()
    assert set(this_machine()[0]) <= set(host["addresses"])


def test_ctrl_c_stops_nmap_by_pid_and_marks_the_scan_interrupted(tmp_path):
    db = tmp_path / "estate.db"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--db", str(db), "scan", "network",
                             "127.0.0.1-60", "--ports", "1-3000", "--max-rate", "200", "--profile", "quick"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Wait (bounded) until nmap runs and the store records the scan as running: then it is mid-scan (60
        # addresses x 3000 ports at 200 packets/s would take many minutes).
        deadline = time.monotonic() + 120
        nmap, status = [], None
        while not (nmap and status == "running") and time.monotonic() < deadline and proc.poll() is None:
            nmap = [c for c in psutil.Process(proc.pid).children(recursive=True) if c.name() == "nmap"]
            with contextlib.suppress(sqlite3.Error, TypeError):
                with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
                    status = conn.execute("SELECT status FROM scans").fetchone()[0]
            time.sleep(0.1)
        assert nmap and status == "running", f"nmap did not start ({status=})"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert "interrupted" in err and "Traceback" not in err
    assert not psutil.pid_exists(nmap[0].pid) or nmap[0].status() == psutil.STATUS_ZOMBIE
    with Store(db) as store:
        (scan,) = store.list_scans()
    assert scan["status"] == "interrupted" and scan["finished_at"]


def test_nmap_missing_is_one_line_with_install_hint(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # nothing on PATH: no nmap
    result = estatemap("--db", str(tmp_path / "e.db"), "scan", "network", "127.0.0.1", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "estatemap: error: nmap is not installed; install it with: sudo apt-get install nmap (Debian/Ubuntu), "
        "sudo dnf install nmap (RHEL/Fedora), or from nmap.org (Windows, macOS)"]


@pytest.mark.parametrize("target", ["-iL /etc/passwd", "1.2.3.4;reboot", "$(reboot)", "10.0.0.1 10.0.0.2"])
def test_injection_targets_are_refused_before_nmap_runs(tmp_path, target):
    db = tmp_path / "e.db"
    result = estatemap("--db", str(db), "scan", "network", "--", target)
    assert result.returncode == 1 and "is not a" in result.stderr
    assert not db.exists()  # refused before anything was opened, let alone run


def test_large_range_needs_yes(tmp_path):
    result = estatemap("--db", str(tmp_path / "e.db"), "scan", "network", "10.0.0.0/21")
    assert result.returncode == 1 and "--yes" in result.stderr and "2,048 addresses" in result.stderr


def test_import_whole_and_cut_short_nmap_xml(tmp_path):
    db = tmp_path / "estate.db"
    whole = estatemap("--db", str(db), "import", str(DATA / "segment-handmade.xml"))
    assert whole.returncode == 0, whole.stderr
    data = (DATA / "localhost-sV-O.xml").read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(data[: data.index(b"</host>") + 7] + b"\n<runstats><fini")
    short = estatemap("--db", str(db), "import", str(cut))
    assert short.returncode == 0, short.stderr
    assert "ends early" in short.stderr
    inventory = export(db, tmp_path)
    assert sorted(h["addresses"][0] for h in inventory["hosts"]) == ["127.0.0.1", "192.0.2.2"]
    assert [s["kind"] for s in inventory["scans"]] == ["import", "import"]
    assert "nmap run as: nmap -v -sV -O" in inventory["scans"][0]["arguments"]
    pacs = next(h for h in inventory["hosts"] if h["addresses"] == ["192.0.2.2"])
    assert pacs["macs"] == ["52:54:00:ab:cd:02"] and pacs["hostname"] == "pacs01.example.org"
    categories = {s["port"]: s["category"] for s in inventory["services"] if s["host_id"] == pacs["id"]}
    assert categories == {22: "remote-access", 443: "web", 5432: "database", 11112: "healthcare", 9999: "other"}


def test_import_refuses_files_that_are_not_nmap_xml(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    result = estatemap("--db", str(tmp_path / "e.db"), "import", str(bad))
    assert result.returncode == 1 and "not a file Estate Mapper can import" in result.stderr


def test_fhir_server_is_recognised_with_version_and_software_by_reading_only(tmp_path, fhir_server):
    db = tmp_path / "estate.db"
    result = estatemap("--db", str(db), "scan", "network", "127.0.0.1", "--ports", str(fhir_server.port))
    assert result.returncode == 0, result.stderr
    (service,) = export(db, tmp_path)["services"]
    assert service["category"] == "healthcare" and service["name"] == "http"
    (fhir,) = [s for s in service["scripts"] if s["id"] == "fhir-metadata"]
    assert fhir["data"] == {"fhir_version": "4.0.1", "software": "HAPI FHIR Server", "software_version": "6.4.0",
                            "implementation": "Test EMR FHIR endpoint", "base": "/fhir"}
    assert fhir["output"] == "FHIR 4.0.1 at /fhir (HAPI FHIR Server 6.4.0)"
    ours = [line for line in fhir_server.log.read_text().splitlines() if line.endswith(" estatemap-fhir-probe")]
    assert ours and ours[-1] == "GET /fhir/metadata estatemap-fhir-probe"
    assert all(line.startswith("GET ") for line in ours)  # the probe only reads (nmap's own scripts may POST)


def test_ipv4_and_ipv6_targets_run_one_nmap_each(tmp_path):
    from tests.integration.conftest import free_port, stop, wait_for_port
    import shutil
    port = free_port()
    redis6 = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "::1", "127.0.0.1",
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, redis6)
        db = tmp_path / "estate.db"
        result = estatemap("--db", str(db), "scan", "network", "::1", "127.0.0.1", "--ports", str(port),
                           "--profile", "quick")
        assert result.returncode == 0, result.stderr
    finally:
        stop(redis6)
    inventory = export(db, tmp_path)
    # ::1 and 127.0.0.1 are both the machine that scanned: one host, and redis on both is one service.
    (host,) = inventory["hosts"]
    assert host["hostname"] == socket.gethostname() and host["sources"] == ["nmap"]
    assert [s["port"] for s in inventory["services"]] == [port]
    v4, v6 = inventory["scans"][0]["arguments"].split(" ; ")
    assert v4.endswith(" 127.0.0.1") and " -6 " not in v4 and v6.endswith(" -6 ::1")
