"""`estatemap scan network` run from the scanner host of the namespace test network, against real daemons."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
PORTS = "22,80,104,2575,5432,6379,11112"

# What real nmap (7.93) reports for the test network's daemons: (name, product, version, category).
EXPECTED = {
    ("db", 5432): ("postgresql", "PostgreSQL DB", "9.6.0 or later", "database"),
    ("db", 6379): ("redis", "Redis key-value store", "7.0.15", "database"),
    ("web", 22): ("ssh", "OpenSSH", None, "remote-access"),
    ("web", 80): ("http", "nginx", "1.22.1", "web"),
    ("pacs", 104): ("acr-nema", None, None, "healthcare"),
    ("pacs", 2575): ("hl7", None, None, "healthcare"),
    ("pacs", 11112): ("dicom", None, None, "healthcare"),
}


def estatemap(host, *argv, timeout=300):
    return host.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True,
                    timeout=timeout, cwd=ROOT)


def export(host, db: Path) -> dict:
    out = db.with_suffix(".json")
    result = estatemap(host, "--db", str(db), "export", "-f", "json", "-o", str(out), "--force")
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def scanned(test_network, tmp_path_factory):
    """One standard-profile scan of the whole test subnet from the scanner host, exported to JSON."""
    db = tmp_path_factory.mktemp("netscan") / "estate.db"
    scanner = test_network.scanner
    result = estatemap(scanner, "--db", str(db), "-v", "scan", "network", test_network.subnet,
                       "--exclude", scanner.address, "--ports", PORTS, "--max-rate", "2000")
    assert result.returncode == 0, result.stderr
    return result, export(scanner, db)


def test_scan_network_reports_exact_products_versions_and_categories(test_network, scanned):
    _, inventory = scanned
    by_address = {h["addresses"][0]: h for h in inventory["hosts"]}
    expected_hosts = {h.address: h for h in test_network.hosts.values() if h.name != "scanner"}
    assert set(by_address) == set(expected_hosts)  # every host up, scanner excluded
    for address, host in by_address.items():
        assert host["macs"] == [expected_hosts[address].mac.lower()]
        assert host["status"] == "up" and host["status_reason"] == "arp-response"
    found = {}
    for service in inventory["services"]:
        owner = next(h for h in test_network.hosts.values()
                     if h.address in by_address and by_address[h.address]["id"] == service["host_id"])
        found[(owner.name, service["port"])] = service
    assert set(found) == set(EXPECTED)
    for key, (name, product, version, category) in EXPECTED.items():
        service = found[key]
        assert (service["name"], service["product"], service["category"]) == (name, product, category), key
        if version:
            assert service["version"] == version, key
    assert found[("web", 22)]["version"].startswith("9.2p1 Debian")
    assert found[("web", 22)]["cpes"][0] == "cpe:/a:openbsd:openssh:9.2p1"
    engines = {(d["engine"], d["version"]) for d in inventory["databases"]}
    assert engines == {("postgresql", "9.6.0 or later"), ("redis", "7.0.15")}


def test_scan_network_stores_and_shows_the_exact_nmap_arguments(test_network, scanned):
    result, inventory = scanned
    (scan,) = inventory["scans"]
    assert scan["kind"] == "network" and scan["status"] == "completed" and scan["host_count"] == 5
    assert scan["arguments"].startswith("nmap -oX - ") and f"-p {PORTS}" in scan["arguments"]
    assert f"--exclude {test_network.scanner.address}" in scan["arguments"]
    assert f"running: {scan['arguments']}" in result.stderr
    progress = re.findall(r"scan network: (\d+)/(\d+) (\d+) up", result.stderr)
    assert len(progress) > 3 and progress[-1] == ("255", "255", "5")  # every address of the /24 but the scanner


def test_host_scan_and_network_scan_of_one_machine_are_one_host(test_network, tmp_path):
    db = tmp_path / "estate.db"
    db_host = test_network.hosts["db"]
    local = estatemap(db_host, "--db", str(db), "scan", "host")
    assert local.returncode == 0, local.stderr
    remote = estatemap(test_network.scanner, "--db", str(db), "scan", "network", db_host.address,
                       "--ports", "5432,6379", "--max-rate", "2000")
    assert remote.returncode == 0, remote.stderr
    inventory = export(test_network.scanner, db)
    (host,) = inventory["hosts"]
    assert host["sources"] == ["local", "nmap"] and host["hostname"] == "db"
    postgres = next(s for s in inventory["services"] if s["port"] == 5432)
    assert postgres["process"] == "postgres"          # from the host's own view
    assert postgres["product"] == "PostgreSQL DB"     # from nmap's


def stored_ports(db: Path) -> dict[str, set[int]]:
    """Return {first address: the service ports stored with it} for every host the store holds now."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        rows = conn.execute("SELECT o.host, s.port FROM observations o LEFT JOIN services s "
                            "ON s.scan_id = o.scan_id AND s.host_id = o.host_id").fetchall()
    stored: dict[str, set[int]] = {}
    for host, port in rows:
        ports = stored.setdefault(json.loads(host)["addresses"][0], set())
        if port is not None:
            ports.add(port)
    return stored


def test_ctrl_c_mid_scan_keeps_finished_hosts_and_stops_nmap(test_network, tmp_path):
    db = tmp_path / "estate.db"
    scanner = test_network.scanner
    # nmap scans up hosts in groups of four, in the order given: the slow DICOM host comes last, alone.
    order = [test_network.hosts[name].address for name in ("db", "web", "app", "ws", "pacs")]
    pacs = test_network.hosts["pacs"].address
    # What each host holds on the scanned ports: a host stored at all is stored whole (one transaction).
    expected = {host.address: {port for port in host.services.values() if port in (104, 5432, 11112)}
                for host in test_network.hosts.values() if host.address in order}
    proc = scanner.popen([sys.executable, str(ROOT / "main.py"), "--db", str(db), "scan", "network",
                          *order, "--ports", "104,5432,11112", "--max-rate", "2000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline, before = time.monotonic() + 240, {}
        while time.monotonic() < deadline and proc.poll() is None and not before:
            time.sleep(0.2)
            with contextlib.suppress(sqlite3.Error, OSError):
                before = stored_ports(db)
        assert before and proc.poll() is None, "no host stored while the scan was still running"
        with contextlib.suppress(sqlite3.Error, OSError):
            before = stored_ports(db)  # the last look before the interrupt: all of these must be kept
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with sqlite3.connect(db) as conn:
        status = conn.execute("SELECT status FROM scans").fetchone()[0]
        names = [r[0] for r in conn.execute("SELECT ps.name FROM processes ps")]
    after = stored_ports(db)
    assert status == "interrupted"
    # How many hosts of the first group were written before the interrupt depends on timing; the promise is
    # that every host stored by then is kept, each whole, and that the unfinished DICOM host is not stored.
    assert pacs not in before, "the slow DICOM host finished before the interrupt: the test proves nothing"
    assert set(before) <= set(after) and pacs not in after
    assert set(after) <= set(expected)
    assert all(after[address] == expected[address] for address in after), (after, expected)
    assert not [p for p in scanner.run(["ps", "-eo", "comm"], capture_output=True, text=True).stdout.split()
                if p == "nmap"]
    assert names == []


def test_deep_profile_runs_safe_scripts_dicom_ping_and_ssh_algorithms(test_network, tmp_path):
    db = tmp_path / "estate.db"
    pacs, web = test_network.hosts["pacs"], test_network.hosts["web"]
    result = estatemap(test_network.scanner, "--db", str(db), "scan", "network", pacs.address, web.address,
                       "--profile", "deep", "--ports", "22,104,11112", "--max-rate", "2000")
    assert result.returncode == 0, result.stderr
    inventory = export(test_network.scanner, db)
    hosts = {h["id"]: h["addresses"][0] for h in inventory["hosts"]}
    scripts = {(hosts[s["host_id"]], s["port"]): {r["id"]: r for r in s["scripts"]} for s in inventory["services"]}
    for port in (104, 11112):
        ping = scripts[(pacs.address, port)]["dicom-ping"]
        assert "DICOM Service Provider discovered" in ping["output"]
        assert ping["data"]["dicom"] == "DICOM Service Provider discovered!"
    algorithms = scripts[(web.address, 22)]["ssh2-enum-algos"]["data"]
    assert "kex_algorithms" in algorithms and algorithms["encryption_algorithms"]
    (scan,) = inventory["scans"]
    assert "--script ssl-enum-ciphers,smb-protocols,http-title,http-server-header,ssh2-enum-algos,dicom-ping" in \
        scan["arguments"]


def test_without_root_a_connect_scan_runs_and_says_so(test_network, tmp_path):
    """The unprivileged path with real nmap. The suite runs as root and the venv's Python lives under /root,
    so the program is told it is not root (os.geteuid) rather than run as another user."""
    db = tmp_path / "estate.db"
    launcher = ("import os, sys; os.geteuid = lambda: 1000; sys.path.insert(0, sys.argv[1]); import main; "
                "sys.exit(main.main(sys.argv[2:]))")
    db_host = test_network.hosts["db"]
    result = test_network.scanner.run(
        [sys.executable, "-c", launcher, str(ROOT), "--db", str(db), "-v", "scan", "network", db_host.address,
         "--ports", "5432,6379"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "warning: not running as root: using a TCP connect scan without OS detection" in result.stderr
    inventory = export(test_network.scanner, db)
    (scan,) = inventory["scans"]
    assert " -sT " in scan["arguments"] and " -O " not in scan["arguments"] and " -sS " not in scan["arguments"]
    assert scan["warnings"] == ["not running as root: using a TCP connect scan without OS detection"]
    assert {s["port"]: s["name"] for s in inventory["services"]} == {5432: "postgresql", 6379: "redis"}
    assert inventory["hosts"][0]["os_matches"] == []
