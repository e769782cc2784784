"""Faults, for real: the CLI killed (SIGKILL, by PID) in the middle of a network scan, an SSH collection and an
Excel export; two processes on one store; a full disk during an export. Afterwards the real SQLite file is
inspected read-only: it passes PRAGMA integrity_check, keeps every host finished before the kill, the scan is
marked interrupted by the next command that opens it, and `estatemap scan resume` finishes the rest.

Scans run from the scanner host of a namespace test network (traffic stays inside its namespaces). Every wait
is bounded in time; only processes these tests started are signalled, by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import psutil
import pytest

from discovery.records.model import Scan
from discovery.storage.store import Store
from tests.builders import T0, make_report
from tests.integration.network import running_network, stop_process

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
PORTS = "22,80,104,2575,5432,6379,11112"
WAIT = 90.0  # seconds any single wait may take


def read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)


def stored_hosts(db: Path) -> dict[str, tuple[str, str, int]]:
    """Return {first address or hostname: (host_id, observed_at, service rows)} of what the store holds now."""
    with contextlib.closing(read_only(db)) as conn:
        rows = conn.execute("SELECT o.host_id, o.observed_at, o.host, (SELECT count(*) FROM services s WHERE "
                            "s.scan_id = o.scan_id AND s.host_id = o.host_id) FROM observations o").fetchall()
    hosts = {}
    for host_id, observed_at, host, services in rows:
        host = json.loads(host)
        hosts[host.get("hostname") if host.get("source") == "ssh" else host["addresses"][0]] = (
            host_id, observed_at, services)
    return hosts


def wait_for_stored(db: Path, proc: subprocess.Popen, count: int = 1) -> dict:
    """Poll the store read-only until it holds `count` hosts (bounded); fail if the program ends first."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the program finished before it could be killed mid-way"
        with contextlib.suppress(sqlite3.Error, OSError):
            hosts = stored_hosts(db)
            if len(hosts) >= count:
                return hosts
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} hosts stored within {WAIT:g} s")


def integrity(db: Path) -> str:
    with contextlib.closing(read_only(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def scan_row(db: Path, scan_id: int = 1) -> dict:
    with contextlib.closing(read_only(db)) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM scans WHERE id = ?", [scan_id]).fetchone())


def kill_by_pid(pid: int, proc: subprocess.Popen) -> None:
    os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)


def end_leftovers(pids: list[int], timeout: float = 15.0) -> list[int]:
    """Wait (bounded) for processes to end by themselves; return those still running, then kill them by PID."""
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    still = [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=10)
    return still


# --- SIGKILL during a network scan ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def killed_network_scan(test_network, tmp_path_factory):
    """`estatemap scan network` of 10.203.0.1-60 from the scanner host, killed (SIGKILL) once a host is stored;
    then `estatemap scans` and `estatemap scan resume 1` in the same host."""
    folder = tmp_path_factory.mktemp("killnet")
    db = folder / "estate.db"
    scanner = test_network.scanner
    target = test_network.subnet.rsplit(".", 1)[0] + ".1-60"
    facts = {"db": db}
    with open(folder / "out.log", "w") as out:
        proc = scanner.popen([sys.executable, str(ROOT / "main.py"), "--db", db, "scan", "network", target,
                              "--exclude", scanner.address, "--ports", PORTS, "--max-rate", "2000"],
                             cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            cli = proc.child_pid
            facts["before"] = wait_for_stored(db, proc)
            nmaps = [p.pid for p in psutil.Process(cli).children(recursive=True) if p.name() == "nmap"]
            facts["before"] = stored_hosts(db)  # the last look before the kill
            kill_by_pid(cli, proc)
        finally:
            stop_process(proc)
    facts["nmap_pids"] = nmaps
    killed = time.monotonic()
    facts["nmap_left_running"] = end_leftovers(nmaps)
    facts["nmap_ended_after"] = time.monotonic() - killed
    print(f"nmap {nmaps} ended {facts['nmap_ended_after']:.1f} s after estatemap was killed; "
          f"{len(facts['before'])} host(s) stored before the kill")
    facts["raw_status"] = scan_row(db)["status"]
    facts["integrity"] = integrity(db)
    facts["after_kill"] = stored_hosts(db)
    run = lambda *argv: scanner.run([sys.executable, str(ROOT / "main.py"), "--db", db, *argv],  # noqa: E731
                                    capture_output=True, text=True, timeout=300, cwd=ROOT)
    facts["scans"] = run("scans")
    facts["marked"] = scan_row(db)
    facts["resume"] = run("-v", "scan", "resume", "1")
    facts["resumed"] = scan_row(db)
    facts["final"] = stored_hosts(db)
    return facts


def test_killed_network_scan_leaves_a_sound_store_with_every_finished_host(test_network, killed_network_scan):
    facts = killed_network_scan
    assert facts["integrity"] == "ok"
    assert facts["raw_status"] == "running"  # nothing ran after the kill: the next open must notice
    assert facts["before"] and set(facts["before"]) <= set(facts["after_kill"])
    for address, (host_id, observed_at, services) in facts["before"].items():
        assert facts["after_kill"][address] == (host_id, observed_at, services)
    # Each host whole, not half: as many services as it listens on among PORTS (app and ws listen on none). Which
    # hosts were stored before the kill depends on timing; that every stored one is whole does not.
    scanned = {int(port) for port in PORTS.split(",")}
    expected = {host.address: len([p for p in host.services.values() if p in scanned])
                for host in test_network.hosts.values()}
    assert {address: services for address, (_, _, services) in facts["after_kill"].items()} == \
        {address: expected[address] for address in facts["after_kill"]}


def test_killed_network_scan_is_marked_interrupted_by_the_next_command(killed_network_scan):
    facts = killed_network_scan
    assert facts["scans"].returncode == 0, facts["scans"].stderr
    assert "scan 1 was left running by process" in facts["scans"].stderr
    assert "estatemap scan resume 1" in facts["scans"].stderr
    assert facts["scans"].stdout.splitlines()[1].split()[:3] == ["1", "network", "interrupted"]
    assert facts["marked"]["status"] == "interrupted"
    assert "ended without finishing it" in json.loads(facts["marked"]["warnings"])[-1]


def test_killed_network_scan_leaves_no_nmap_running(killed_network_scan):
    assert killed_network_scan["nmap_pids"], "nmap was not running when the scan was killed"
    assert killed_network_scan["nmap_left_running"] == [], "nmap kept scanning after estatemap was killed"


def test_resume_scans_only_the_rest_into_the_same_scan(test_network, killed_network_scan):
    facts = killed_network_scan
    resume = facts["resume"]
    assert resume.returncode == 0, resume.stderr
    assert facts["resumed"]["status"] == "completed"
    expected = {h.address for h in test_network.hosts.values() if h.name != "scanner"}
    assert set(facts["final"]) == expected
    for address, kept in facts["after_kill"].items():  # not scanned again: the same observation
        assert facts["final"][address] == kept
    (resumed,) = json.loads(facts["resumed"]["resumes"])
    excluded = resumed["arguments"].split("--exclude ", 1)[1].split()[0].split(",")
    assert set(facts["after_kill"]) <= set(excluded) and test_network.scanner.address in excluded


# --- SIGKILL during an SSH collection -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ssh_net():
    with running_network(("scanner", "web", "pacs", "ws"), sshd_hosts=("web", "pacs", "ws")) as network:
        yield network


def test_killed_ssh_scan_keeps_finished_hosts_and_resume_collects_only_the_rest(ssh_net, tmp_path, caplog):
    db = tmp_path / "estate.db"
    home = tmp_path / "home"
    home.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}, "HOME": str(home)}
    argv = [sys.executable, str(ROOT / "main.py"), "--db", db, "scan", "ssh", "root@web", "root@pacs", "root@ws",
            "--key", ssh_net.ssh_client_key, "--known-hosts", ssh_net.ssh_known_hosts, "--concurrency", "1",
            "--watch", "5s", "--every", "1s", "--timeout", "120"]
    proc = ssh_net.scanner.popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cli = proc.child_pid
        wait_for_stored(db, proc)
        before = stored_hosts(db)
        kill_by_pid(cli, proc)
    finally:
        stop_process(proc)
    assert integrity(db) == "ok"
    after = stored_hosts(db)
    assert len(after) < 3 and set(before) <= set(after)
    assert all(after[name] == before[name] for name in before)
    assert scan_row(db)["status"] == "running"
    # Opened from here, the root PID namespace: the scan's process lived in the scanner host's namespace.
    with caplog.at_level("WARNING", logger="discovery.storage.store"), Store(db) as store:
        assert store.get_scan(1)["status"] == "interrupted"
    assert "scan 1 was left running by process" in caplog.text
    resume = ssh_net.scanner.run([sys.executable, str(ROOT / "main.py"), "--db", db, "scan", "resume", "1"],
                                 capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert resume.returncode == 0, resume.stderr
    assert f"{len(after)} of 3 hosts are already collected" in resume.stdout
    final = stored_hosts(db)
    assert set(final) == {"web", "pacs", "ws"}
    assert all(final[name] == after[name] for name in after)  # the finished hosts were not collected again
    row = scan_row(db)
    assert row["status"] == "completed" and len(json.loads(row["resumes"])) == 1
    assert integrity(db) == "ok"


# --- SIGKILL during an Excel export ---------------------------------------------------------------------------


def fill_store(db: Path, hosts: int, packages: int, start: int = 0) -> None:
    software = tuple((f"package-{i}", f"1.{i}") for i in range(packages))
    with Store(db) as store:
        scan_id = store.start_scan(Scan(kind="import", started_at=T0, targets=("synthetic",)))
        for n in range(start, start + hosts):
            store.write_host_report(scan_id, make_report(hostname=f"host{n:05d}", address=f"10.{n // 65536 % 256}."
                                                         f"{n // 256 % 256}.{n % 256}", mac="", software=software))
        store.finish_scan(scan_id, "completed")


def export_argv(db: Path, out: Path, fmt: str) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), "--db", str(db), "export", "--format", fmt, "--out", str(out),
            "--force"]


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_killed_xlsx_export_keeps_the_previous_file_and_the_next_export_cleans_up(tmp_path):
    db, out, scratch = tmp_path / "estate.db", tmp_path / "out" / "estate.xlsx", tmp_path / "scratch"
    out.parent.mkdir()
    scratch.mkdir()
    fill_store(db, hosts=1500, packages=80)
    env = {**os.environ, "TMPDIR": str(scratch)}  # openpyxl's sheet files, kept apart to be counted
    first = subprocess.run(export_argv(db, out, "xlsx"), capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr
    previous = out.read_bytes()
    proc = subprocess.Popen(export_argv(db, out, "xlsx"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    try:
        deadline = time.monotonic() + WAIT
        while not temporaries(out.parent) and time.monotonic() < deadline:
            assert proc.poll() is None, "the export ended before its temporary file was seen"
            time.sleep(0.002)
        assert temporaries(out.parent), "the export never started writing beside its target"
        kill_by_pid(proc.pid, proc)
    finally:
        stop_process(proc)
    assert out.read_bytes() == previous  # byte-identical: the half-written file never took its place
    assert len(temporaries(out.parent)) == 1  # what the kill left, locked by nobody now
    again = subprocess.run(export_argv(db, out, "xlsx"), capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr
    assert "removed 1 unfinished temporary file(s) of an earlier export" in again.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["estate.xlsx"]
    with zipfile.ZipFile(out) as workbook:
        assert workbook.testzip() is None and "xl/workbook.xml" in workbook.namelist()


# --- two processes on one store -------------------------------------------------------------------------------

WRITER = """
import sys, time
from pathlib import Path
from discovery.service import run_scan
from discovery.storage.store import Store
from tests.builders import make_report

class Reports:
    kind = "import"
    def targets(self):
        return ("synthetic",)
    def scan(self, ctx):
        total = int(sys.argv[2])
        for n in range(total):
            if n == total // 2:  # half stored: hold on (bounded) until the reader has seen this half-written store
                deadline = time.monotonic() + 120
                while not Path(sys.argv[3]).exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
            time.sleep(0.005)  # hosts arrive over time, as from nmap or SSH
            yield make_report(hostname=f"w{n:04d}", address=f"10.77.{n // 256}.{n % 256}", mac="",
                              software=tuple((f"pkg{i}", "1.0") for i in range(150)))

with Store(sys.argv[1]) as store:
    result = run_scan(store, Reports())
print(result.status, len(result.host_ids), flush=True)
"""

READER = """
import json, sys, time
from pathlib import Path
from gui.data import load_snapshot, save_host_annotation

loads, notes, errors, sizes = 0, 0, [], []
load_snapshot(sys.argv[1])
print("ready", flush=True)
deadline = time.monotonic() + 280
last = False
while time.monotonic() < deadline and not last:
    last = Path(sys.argv[2]).exists()  # one more load after the writer has finished
    try:
        snapshot = load_snapshot(sys.argv[1])       # as the GUI refreshes its views
        sizes.append(len(snapshot.inventory["hosts"]))
        if 1 < sizes[-1] < int(sys.argv[4]) + 1:   # a store half-written by the scan: tell the writer
            Path(sys.argv[3]).touch()
        loads += 1
        first = next(h["id"] for h in snapshot.inventory["hosts"] if h["hostname"] == "host00000")
        save_host_annotation(sys.argv[1], first, notes=f"note {notes + 1}")  # as an architect types a note
        notes += 1
    except Exception as error:
        errors.append(f"{type(error).__name__}: {error}")
print(json.dumps({"loads": loads, "notes": notes, "errors": errors[:5], "error_count": len(errors),
                  "sizes": sizes}), flush=True)
"""


def test_gui_reading_and_annotating_while_a_scan_writes_loses_nothing_and_never_locks(tmp_path):
    db, done, seen_partial = tmp_path / "estate.db", tmp_path / "writer-done", tmp_path / "reader-saw-partial"
    fill_store(db, hosts=1, packages=1)  # the GUI opens an existing store
    hosts = 600
    # The writer pauses halfway until the reader has loaded a half-written store (or 120 s have passed), so the
    # reader provably runs while the writer writes, however the two processes happen to be scheduled.
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db), str(done), str(seen_partial), str(hosts)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([reader.stdout], [], [], 60)
        assert ready and reader.stdout.readline() == "ready\n", "the reader did not start"
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(hosts), str(seen_partial)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        w_out, w_err = writer.communicate(timeout=300)
        done.touch()
        r_out, r_err = reader.communicate(timeout=300)
    finally:
        with contextlib.suppress(NameError):
            stop_process(writer)
        stop_process(reader)
    assert writer.returncode == 0 and w_out.split() == ["completed", str(hosts)], w_err
    assert reader.returncode == 0, r_err
    seen = json.loads(r_out)
    assert seen["error_count"] == 0, seen["errors"]
    assert seen["sizes"][-1] == hosts + 1  # every host the writer stored, as the GUI sees it
    assert any(1 < size < hosts + 1 for size in seen["sizes"]), "the reader never ran while the writer wrote"
    assert "locked" not in w_err + r_err
    with contextlib.closing(read_only(db)) as conn:
        assert conn.execute("SELECT count(*) FROM observations WHERE scan_id = 2").fetchone()[0] == hosts
        assert conn.execute("SELECT count(*) FROM software WHERE scan_id = 2").fetchone()[0] == hosts * 150
        assert conn.execute("SELECT status FROM scans WHERE id = 2").fetchone()[0] == "completed"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT notes FROM annotations").fetchall() == [(f"note {seen['notes']}",)]
    assert integrity(db) == "ok"


# --- disk full during an export -------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs of its own, unmounted at teardown."""
    folder = tmp_path / "small"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(folder)], check=True, timeout=30)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True, timeout=30)


@pytest.mark.parametrize("fmt", ["json", "xlsx"])
def test_disk_full_during_export_keeps_the_previous_file_and_says_so(tmp_path, small_disk, fmt):
    db, out = tmp_path / "estate.db", small_disk / f"estate.{fmt}"
    fill_store(db, hosts=3, packages=5)
    good = subprocess.run(export_argv(db, out, fmt), capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    previous = out.read_bytes()
    fill_store(db, hosts=1200, packages=60, start=10)
    full = subprocess.run(export_argv(db, out, fmt), capture_output=True, text=True, timeout=300)
    assert full.returncode == 1
    assert full.stderr == f"estatemap: error: cannot write {out}: No space left on device\n"
    assert out.read_bytes() == previous
    assert sorted(p.name for p in small_disk.iterdir()) == [out.name]  # no temporary file left
