"""`scan snmp` against hostile agents: tests/hostile_snmp_agent.py, a real SNMP v2c agent on 127.0.0.1 that
answers the system group like any other, then never ends a table, loops, sends datagram-sized strings, wrong
types, impossible indexes, terminal escapes, or stops answering. The scanner runs in-process through
discovery.service.run_scan into a real store, as the CLI runs it.

The contract: the scan returns and the host is stored; each kind of misbehaviour is one warning per agent
(never one per row); rows stay within MAX_ROWS and text within MAX_TEXT; no terminal control character
reaches the store, the JSON export or a warning; and what the agent answered before it misbehaved is kept,
even when the walk runs out of time. The limits are made small here so the tests are quick; no assertion
depends on how fast the machine is (the time-limit test leaves its agent a 100-fold margin).
The agent is started and stopped by PID; it also exits by itself when this process ends.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from discovery.inventory.build import build_inventory
from discovery.service import run_scan
from discovery.storage.store import Store
from exports.registry import load_exporter
from scanners import snmp_agent
from scanners.snmp_agent import Credential, SnmpScanner
from tests.hostile_snmp_agent import SECRET, SW_NAME
from tests.integration.conftest import stop

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

COMMUNITY = "hostile-community"
ADDRESS = "127.0.0.1"
MAX_ROWS, MAX_TEXT = 40, 300
# What a terminal acts on (as discovery.terminal): C0 controls but tab and new line, DEL, C1, bidi overrides.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
SW_OID = ".".join(map(str, SW_NAME))
CPU_OID = "1.3.6.1.2.1.25.3.3.1.2"


@contextlib.contextmanager
def hostile_agent(mode: str):
    """Start the hostile agent in `mode` on 127.0.0.1 and a port the system picks; yield the port; stop it by PID."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.hostile_snmp_agent", "--port", "0", "--mode", mode,
                             "--address", ADDRESS, "--community", COMMUNITY, "--lifetime", "600"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        match = re.match(rf"listening on {re.escape(ADDRESS)}:(\d+) ", line)
        assert match, f"the hostile agent did not start: {line!r} {proc.poll()}"
        yield int(match.group(1))
    finally:
        stop(proc)
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture
def small_limits(monkeypatch):
    """MAX_ROWS and MAX_TEXT small enough that every hostile agent passes them in a few requests."""
    monkeypatch.setattr(snmp_agent, "MAX_ROWS", MAX_ROWS)
    monkeypatch.setattr(snmp_agent, "MAX_TEXT", MAX_TEXT)


def scan(mode: str, tmp_path: Path, **options) -> tuple[dict, list[str], dict]:
    """Scan a hostile agent in `mode` into a new store; return (the JSON export, the warnings, the store's rows)."""
    db = tmp_path / "estate.db"
    options = {"max_rate": 500, "timeout": 3, "retries": 1, **options}
    with hostile_agent(mode) as port, Store(db) as store:
        scanner = SnmpScanner([ADDRESS], [Credential(version="2c", secret=COMMUNITY)], port=port, **options)
        result = run_scan(store, scanner)
        assert result.status == "completed" and len(result.host_ids) == 1, (result.status, result.error)
        load_exporter("json").write(build_inventory(store), tmp_path / "estate.json")
    return json.loads((tmp_path / "estate.json").read_text(encoding="utf-8")), result.warnings, stored(db)


def stored(db: Path) -> dict[str, list[dict]]:
    """Every row of every table, JSON columns decoded."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = {t: [dict(r) for r in conn.execute(f"SELECT * FROM [{t}]")] for t in tables}
    for table in rows.values():
        for row in table:
            for key, value in row.items():
                if isinstance(value, str) and value[:1] in "[{":
                    with contextlib.suppress(ValueError):
                        row[key] = json.loads(value)
    return rows


def texts(value) -> list[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*texts(k), *texts(v))]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in texts(v)]
    return []


def about(warnings: list[str], words: str) -> list[str]:
    return [w for w in warnings if words in w]


def system_data(host: dict) -> dict:
    (script,) = [s for s in host["scripts"] if s["id"] == "snmp-system"]
    return script


def test_the_hostile_agent_answers_like_an_agent_when_polite(tmp_path, small_limits):
    estate, warnings, _ = scan("polite", tmp_path)
    (host,) = estate["hosts"]
    assert warnings == [] and host["hostname"] == "hostile-polite"
    assert {s["name"] for s in estate["software"]} == {"openssh-server", "postgresql-15"}
    assert {p["name"] for p in estate["processes"]} == {"init", "postgres"}


def test_tables_that_never_end_stop_at_max_rows_with_one_warning(tmp_path, small_limits):
    estate, warnings, _ = scan("endless", tmp_path)
    (host,) = estate["hosts"]
    (cut,) = about(warnings, f"more than {MAX_ROWS} rows")  # one warning for both endless tables
    assert ADDRESS in cut and SW_OID in cut and CPU_OID in cut and len(warnings) == 1, warnings
    assert len(estate["software"]) == MAX_ROWS and estate["software"][0]["name"] == "pkg1"
    assert host["cpu_logical_cores"] == MAX_ROWS
    # what comes after the endless tables is read too
    assert {p["name"] for p in estate["processes"]} == {"init", "postgres"}
    assert any((s["protocol"], s["port"], s["process"]) == ("tcp", 5432, "postgres") for s in estate["services"])
    assert {i["name"] for i in estate["interfaces"]} == {"lo", "eth0"}


def test_a_table_that_loops_or_deepens_is_stopped_with_one_warning(tmp_path, small_limits, monkeypatch):
    # room for the ever longer OIDs to pass SNMP's 128 sub-identifiers before MAX_ROWS is reached
    monkeypatch.setattr(snmp_agent, "MAX_ROWS", 500)
    estate, warnings, _ = scan("loop", tmp_path)
    (host,) = estate["hosts"]
    (loop,) = about(warnings, "do not end")
    assert SW_OID in loop and CPU_OID in loop and len(warnings) == 1, warnings
    assert sorted(s["name"] for s in estate["software"]) == ["one", "three", "two"]  # each once
    assert 0 < host["cpu_logical_cores"] < 128
    assert {p["name"] for p in estate["processes"]} == {"init", "postgres"}


def test_datagram_sized_values_are_cut_to_max_text_and_absurd_tables_to_max_rows(tmp_path, small_limits):
    estate, warnings, rows = scan("huge", tmp_path)
    (host,) = estate["hosts"]
    (long,) = about(warnings, f"longer than {MAX_TEXT} characters")
    assert "1.3.6.1.2.1.1.1.0" in long and "1.3.6.1.2.1.25.4.2.1.5" in long  # sysDescr, hrSWRunParameters
    (many,) = about(warnings, f"more than {MAX_ROWS} rows")
    assert "1.3.6.1.2.1.25.4.2.1.2" in many and SW_OID in many and len(warnings) == 2, warnings
    assert len(estate["processes"]) == MAX_ROWS and len(estate["software"]) == MAX_ROWS
    for section in ("hosts", "software", "processes", "interfaces", "services"):
        for text in texts(estate[section]):
            assert len(text) <= MAX_TEXT, (section, text[:80])
    assert len(system_data(host)["output"]) == MAX_TEXT and host["hostname"] == "hostile-huge"
    (java,) = [p for p in estate["processes"] if p["pid"] == 7]
    assert java["name"] == "java" and java["cmdline"].startswith("/usr/bin/java --password=")
    assert SECRET not in json.dumps(estate) and SECRET not in json.dumps(rows)


def test_wrong_types_and_impossible_indexes_are_left_out_with_one_warning(tmp_path, small_limits):
    estate, warnings, _ = scan("types", tmp_path)
    (host,) = estate["hosts"]
    (wrong,) = about(warnings, "wrong type")
    assert len(warnings) == 1 and "1.3.6.1.2.1.1.2.0" in wrong and "1.3.6.1.2.1.1.3.0" in wrong, warnings
    system = system_data(host)
    assert system["data"].get("object_id") is None and host["memory_bytes"] is None
    assert host["hostname"] == "hostile-types" and system["data"]["location"] == "Server room B"
    interfaces = {i["name"]: i for i in estate["interfaces"]}
    assert set(interfaces) == {"lo", "eth0"}  # not the row with a two-part ifIndex
    eth0 = interfaces["eth0"]
    assert (eth0["mtu"], eth0["mac"], eth0["speed_mbps"], eth0["is_up"]) == (None, None, None, True)
    assert eth0["addresses"] == ["10.0.0.5/32"]  # its mask was a number: the address is kept, the mask is not
    assert {(p["pid"], p["name"]) for p in estate["processes"]} == {(1, "init"), (812, "postgres")}
    listeners = {(s["port"], s["process"]) for s in estate["services"] if s["protocol"] == "tcp"}
    assert listeners == {(5432, "postgres"), (8080, None), (8443, None)}  # a wrong PID is an unknown one
    (connection,) = estate["connections"]
    assert (connection["target_port"], connection["source_address"]) == (5432, "10.0.0.40")


def test_escapes_and_broken_bytes_never_reach_the_store_the_export_or_a_warning(tmp_path, small_limits):
    estate, warnings, rows = scan("bytes", tmp_path)
    (host,) = estate["hosts"]
    for where, value in (("export", estate), ("store", rows), ("warnings", warnings)):
        bad = [t for t in texts(value) if UNSAFE.search(t)]
        assert not bad, (where, bad[:3])
    assert host["hostname"].startswith("evil\ufffd]0;pwned") and "\ufffd" in system_data(host)["output"]
    assert {i["name"] for i in estate["interfaces"]} == {"lo", "eth0\ufffd[2J"}  # NULs dropped, ESC replaced
    (postgres,) = [p for p in estate["processes"] if p["pid"] == 812]
    assert postgres["cmdline"].startswith("/usr/bin/\ufffd\ufffdpostgres\ufffd[31m -D /srv/\ufffddata")
    assert SECRET not in json.dumps(estate) and SECRET not in json.dumps(rows)
    assert len(estate["software"]) == 2 and {p["name"] for p in estate["processes"]} >= {"init"}


def test_an_agent_that_stops_answering_keeps_what_it_said_with_one_warning(tmp_path, small_limits):
    # it answers until hrSWInstalledName is asked for, then never again: three tables in a row unanswered
    estate, warnings, _ = scan("stall", tmp_path, timeout=2, retries=1)
    (host,) = estate["hosts"]
    (quiet,) = about(warnings, "stopped answering")
    assert SW_OID in quiet and "tables not read" in quiet and len(warnings) == 1, warnings
    assert host["hostname"] == "hostile-stall" and host["memory_bytes"] == 2048 * 1024
    assert {i["name"] for i in estate["interfaces"]} == {"lo", "eth0"}
    assert estate["software"] == [] and estate["processes"] == []


def test_the_time_limit_keeps_the_tables_read_before_it(tmp_path, small_limits, monkeypatch):
    """What the walk read before AGENT_SECONDS ran out is stored (the host is not dropped as failed). The agent
    needs a few dozen loopback answers before it stalls, and has AGENT_SECONDS for them; its stalled request
    waits longer than that."""
    monkeypatch.setattr(snmp_agent, "AGENT_SECONDS", 10.0)
    estate, warnings, _ = scan("stall", tmp_path, timeout=60, retries=0)
    (host,) = estate["hosts"]
    (late,) = about(warnings, "took longer than 10 s")
    assert f"while reading {SW_OID}" in late and "what was read is kept" in late and len(warnings) == 1, warnings
    assert host["hostname"] == "hostile-stall" and "10.0.0.5" in host["addresses"]
    eth0 = next(i for i in estate["interfaces"] if i["name"] == "eth0")
    assert eth0["mac"] == "02:cc:00:00:00:0a" and eth0["addresses"] == ["10.0.0.5/24"]
    assert estate["software"] == [] and estate["processes"] == []



def test_an_agent_that_answers_too_much_stops_at_the_byte_budget_and_keeps_what_it_said(tmp_path, small_limits,
                                                                                         monkeypatch):
    # datagram-sized values in tables that never end: without a budget, memory grows with the time limit
    monkeypatch.setattr(snmp_agent, "MAX_AGENT_BYTES", 20 * MAX_TEXT)
    estate, warnings, _ = scan("huge", tmp_path)
    (host,) = estate["hosts"]
    assert system_data(host)["output"]  # the system group, read before the budget ran out
    (budget,) = about(warnings, f"more than {20 * MAX_TEXT:,} bytes of values, stopped")
    assert "tables not read" in budget and ADDRESS in budget
