"""`estatemap scan snmp` run from the scanner host of the namespace test network against the real net-snmp
`snmpd`, started by this module inside the db host (PostgreSQL 5432 and Redis 6379 listen there; app holds
connections to both). The agent sees the db host's own /proc and sockets, so what it reports is checked
against what the namespace really has. snmpd is stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from tests.integration.network import stop_process

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

COMMUNITY = "wArd3-c0mmunity-x71"
V3_USER, V3_PASSPHRASE = "monitor", "v3-Pass-phrase-5521"
# a v3 user whose privacy passphrase is not its authentication one (as Cisco and many admins set them)
V3_SPLIT_USER, V3_AUTH, V3_PRIV = "auditor", "auth-Phrase-9147", "priv-Phrase-3382"
SNMPD = "/usr/sbin/snmpd"


@contextlib.contextmanager
def snmp_agent(host):
    """Run snmpd on `host`'s address, udp/161 (v2c COMMUNITY for the test subnet, v3 V3_USER with SHA-256/AES);
    stop it by PID on exit."""
    if not Path(SNMPD).exists():
        pytest.fail("snmpd is not installed (bash scripts/setup.sh --test installs it)")
    folder = Path(tempfile.mkdtemp(prefix="emtest-snmp-"))
    (folder / "snmpd.conf").write_text(
        f"rocommunity {COMMUNITY} 10.203.0.0/24\n"
        f'createUser {V3_USER} SHA-256 "{V3_PASSPHRASE}" AES\n'
        f"rouser {V3_USER} priv\n"
        f'createUser {V3_SPLIT_USER} SHA-512 "{V3_AUTH}" AES "{V3_PRIV}"\n'
        f"rouser {V3_SPLIT_USER} priv\n"
        "sysLocation Server room B\nsysContact it-desk@example.org\n")
    log = open(folder / "snmpd.log", "w")
    proc = host.popen([SNMPD, "-f", "-Lo", "-C", "-c", folder / "snmpd.conf", "-M", "/dev/null", "-m", "",
                       "-p", folder / "snmpd.pid", f"udp:{host.address}:161"],
                      env={"PATH": "/usr/sbin:/usr/bin:/bin", "SNMP_PERSISTENT_DIR": str(folder / "persist")},
                      stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "NET-SNMP version" not in (folder / "snmpd.log").read_text():
            if proc.poll() is not None:
                raise RuntimeError(f"snmpd exited: {(folder / 'snmpd.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield host
    finally:
        stop_process(proc)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def agent(test_network):
    """snmpd on db's 10.203.0.10:161 (see snmp_agent)."""
    with snmp_agent(test_network.hosts["db"]) as host:
        yield host


def estatemap(net, *argv, input=None, timeout=180):
    return net.scanner.run([sys.executable, str(ROOT / "main.py"), *map(str, argv)], capture_output=True,
                           text=True, timeout=timeout, cwd=ROOT, input=input)


def inventory(net, db: Path) -> dict:
    out = db.with_suffix(".json")
    result = estatemap(net, "--db", db, "export", "-f", "json", "-o", out, "--force")
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def test_v2c_reads_what_the_host_really_has(test_network, agent, tmp_path):
    db = tmp_path / "estate.db"
    result = estatemap(test_network, "--db", db, "scan", "snmp", agent.address, "--community-stdin",
                       input=COMMUNITY + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    estate = inventory(test_network, db)
    (host,) = estate["hosts"]
    assert host["hostname"] == "db" and agent.address in host["addresses"]
    assert agent.mac in host["macs"]
    eth0 = [i for i in estate["interfaces"] if i["mac"] == agent.mac]
    assert eth0 and eth0[0]["addresses"] == [f"{agent.address}/24"] and eth0[0]["is_up"]
    listening = {(s["port"], s["process"]) for s in estate["services"] if s["protocol"] == "tcp"}
    assert (5432, "postgres") in listening and (6379, "redis-server") in listening, listening
    # app (10.203.0.40) holds connections to db:5432 and db:6379: seen from the db end, they are dependencies
    seen = {(c["source_address"], c["target_port"]) for c in estate["connections"] if "snmp" in c["observed_by"]}
    assert {("10.203.0.40", 5432), ("10.203.0.40", 6379)} <= seen, seen
    depends = {(d["source_host_id"], d["target_port"], d["evidence"]) for d in estate["dependencies"]}
    assert {("external:10.203.0.40", 5432, "observed"), ("external:10.203.0.40", 6379, "observed")} <= depends
    assert any(p["name"] == "postgres" for p in estate["processes"])
    root = [p for p in host["partitions"] if p["mountpoint"] == "/"]  # hrStorage: the namespace's file systems
    assert root and root[0]["total_bytes"] > 0 and 0 <= root[0]["used_bytes"] <= root[0]["total_bytes"]
    (system,) = [s for s in host["scripts"] if s["id"] == "snmp-system"]
    assert system["output"].startswith("Linux db ") and system["data"]["location"] == "Server room B"
    assert system["data"]["credential"] == "v2c community"
    assert system["data"]["enterprise"] == "Net-SNMP" and host["vendor"] is None  # an agent, not a maker
    assert system["data"]["device_type"] == "server" and host["memory_bytes"] > 0
    (agent_service,) = [s for s in estate["services"] if (s["protocol"], s["port"]) == ("udp", 161)]
    assert (agent_service["name"], agent_service["version"], agent_service["process"]) == ("snmp", "v2c", "snmpd")
    analyzed = estatemap(test_network, "--db", db, "analyze")
    assert analyzed.returncode == 0, analyzed.stderr
    (finding,) = [f for f in inventory(test_network, db)["findings"] if f["rule"] == "snmp-community"]
    assert finding["severity"] == "medium" and COMMUNITY not in json.dumps(finding)  # not a default community


def test_v3_auth_priv_answers_and_no_secret_is_kept(test_network, agent, tmp_path):
    db = tmp_path / "estate.db"
    result = estatemap(test_network, "--db", db, "scan", "snmp", agent.address, "--snmp-version", "3",
                       "--user", V3_USER, "--community-stdin", input=V3_PASSPHRASE + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    estate = inventory(test_network, db)
    (host,) = estate["hosts"]
    (system,) = [s for s in host["scripts"] if s["id"] == "snmp-system"]
    assert system["data"]["credential"] == "v3 user monitor (SHA-256/AES)"
    assert {s["port"] for s in estate["services"]} >= {5432, 6379}
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        assert V3_PASSPHRASE.encode() not in data and COMMUNITY.encode() not in data, path.name


def test_a_wrong_community_is_one_warning_and_a_failed_scan(test_network, agent, tmp_path):
    db = tmp_path / "estate.db"
    result = estatemap(test_network, "--db", db, "scan", "snmp", agent.address, "--community-stdin", "--timeout",
                       "0.5", "--retries", "0", input="not-the-community\n")
    assert result.returncode == 1
    warnings = [line for line in result.stderr.splitlines() if "no SNMP answer" in line]
    assert len(warnings) == 1 and agent.address in warnings[0], result.stderr
    assert "Traceback" not in result.stderr and "not-the-community" not in result.stdout + result.stderr


def test_excluded_and_silent_addresses_are_never_a_traceback(test_network, agent, tmp_path):
    db = tmp_path / "estate.db"
    # ws (10.203.0.50) runs no agent; db is excluded: nothing answers, both are named
    result = estatemap(test_network, "--db", db, "scan", "snmp", agent.address, "10.203.0.50", "--exclude",
                       agent.address, "--community-stdin", "--timeout", "0.5", "--retries", "0",
                       input=COMMUNITY + "\n")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{agent.address}: excluded" in result.stderr and "10.203.0.50" in result.stderr


def test_several_communities_are_tried_in_order_and_the_one_that_answered_is_named(test_network, agent, tmp_path):
    db = tmp_path / "estate.db"
    result = estatemap(test_network, "--db", db, "scan", "snmp", agent.address, "--community-stdin", "--timeout",
                       "0.5", "--retries", "0", input=f"public\n{COMMUNITY}\n")
    assert result.returncode == 0, result.stdout + result.stderr
    (host,) = inventory(test_network, db)["hosts"]
    (system,) = [s for s in host["scripts"] if s["id"] == "snmp-system"]
    assert system["data"]["credential"] == "v2c community #2 of 2"
    assert COMMUNITY.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())


def test_snmp_v1_answers_too(test_network, agent, tmp_path):
    # v1 fails a whole request that names an object the agent lacks: optional objects are asked one at a time
    db = tmp_path / "estate.db"
    result = estatemap(test_network, "--db", db, "scan", "snmp", agent.address, "--snmp-version", "1",
                       "--community-stdin", input=COMMUNITY + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    (host,) = inventory(test_network, db)["hosts"]
    (system,) = [s for s in host["scripts"] if s["id"] == "snmp-system"]
    assert system["data"]["credential"] == "v1 community" and host["memory_bytes"] > 0


def test_an_snmp_host_merges_with_what_nmap_saw_and_no_export_holds_the_community(test_network, agent, tmp_path):
    db = tmp_path / "estate.db"
    scanned = estatemap(test_network, "--db", db, "scan", "network", agent.address, "--ports", "5432,6379",
                        "--max-rate", "2000")
    assert scanned.returncode == 0, scanned.stdout + scanned.stderr
    result = estatemap(test_network, "--db", db, "scan", "snmp", agent.address, "--community-stdin",
                       input=COMMUNITY + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    (host,) = inventory(test_network, db)["hosts"]  # one machine, seen from outside and by its own agent
    assert host["sources"] == ["nmap", "snmp"] and agent.mac in host["macs"]
    with sqlite3.connect(db) as conn:
        reasons = [r for (r,) in conn.execute("SELECT match_reason FROM observations WHERE source = 'snmp'")]
    assert reasons == [f"mac {agent.mac}"]  # merged on the strongest key both have, as for every scanner
    for form, name in (("xlsx", "estate.xlsx"), ("csv", "estate.zip"), ("graphml", "estate.graphml")):
        exported = estatemap(test_network, "--db", db, "export", "-f", form, "-o", tmp_path / name, "--force")
        assert exported.returncode == 0, exported.stderr
    secret = COMMUNITY.encode()
    for path in (p for p in tmp_path.iterdir() if p.is_file()):  # the store, its WAL if any, every export
        assert secret not in path.read_bytes(), path.name
        if zipfile.is_zipfile(path):  # a workbook and the CSV export are compressed: read every member
            with zipfile.ZipFile(path) as archive:
                assert all(secret not in archive.read(n) for n in archive.namelist()), path.name


@pytest.mark.parametrize("version", ["2c", "3"])
def test_a_whole_subnet_finds_the_one_agent_and_names_each_silent_address_once(test_network, agent, tmp_path,
                                                                               version):
    # the test network's own /24 (its namespaces only, no route out): db answers, 253 addresses do not
    db = tmp_path / "estate.db"
    credentials = ["--snmp-version", "3", "--user", V3_USER] if version == "3" else []
    secret = V3_PASSPHRASE if version == "3" else COMMUNITY
    result = estatemap(test_network, "--db", db, "scan", "snmp", "10.203.0.0/24", *credentials, "--community-stdin",
                       "--timeout", "1", "--retries", "0", "--concurrency", "64", "--max-rate", "500",
                       input=secret + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    (host,) = inventory(test_network, db)["hosts"]
    assert host["hostname"] == "db" and agent.address in host["addresses"]
    silent = [line for line in result.stderr.splitlines() if "no SNMP answer from" in line]
    addresses = {line.split("no SNMP answer from ")[1].split(":")[0] for line in silent}
    assert len(silent) == len(addresses) == 253 and agent.address not in addresses
    assert "253 of 254 agents could not be collected" in result.stderr and "and 233 more" in result.stderr
    assert "Traceback" not in result.stderr and secret not in result.stdout + result.stderr


def test_v3_with_a_privacy_passphrase_of_its_own(test_network, agent, tmp_path):
    db = tmp_path / "estate.db"
    v3 = ["--snmp-version", "3", "--user", V3_SPLIT_USER, "--auth-protocol", "SHA-512", "--timeout", "1",
          "--retries", "0"]
    same = estatemap(test_network, "--db", db, "scan", "snmp", agent.address, *v3, "--community-stdin",
                     input=V3_AUTH + "\n")
    assert same.returncode == 1 and "no SNMP answer" in same.stderr  # the authentication one does not decrypt
    result = estatemap(test_network, "--db", db, "scan", "snmp", agent.address, *v3, "--separate-priv-passphrase",
                       "--community-stdin", input=f"{V3_AUTH}\n{V3_PRIV}\n")
    assert result.returncode == 0, result.stdout + result.stderr
    (host,) = inventory(test_network, db)["hosts"]
    (system,) = [s for s in host["scripts"] if s["id"] == "snmp-system"]
    assert system["data"]["credential"] == f"v3 user {V3_SPLIT_USER} (SHA-512/AES)"
    odd = estatemap(test_network, "--db", db, "scan", "snmp", agent.address, *v3, "--separate-priv-passphrase",
                    "--community-stdin", input=V3_AUTH + "\n")
    assert odd.returncode != 0 and "pairs of lines" in odd.stderr and "Traceback" not in odd.stderr
    for path in (p for p in tmp_path.iterdir() if p.is_file()):
        data = path.read_bytes()
        assert V3_AUTH.encode() not in data and V3_PRIV.encode() not in data, path.name
