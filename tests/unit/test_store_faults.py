"""A scan whose process died stays recoverable: it is found and marked interrupted, then resumed; exports
killed part-way leave no temporary file behind for long. Real processes, real SQLite files, real locks."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time

import pytest
import sqlite_utils

from discovery.storage import store as store_module
from discovery.files.atomic_files import atomic_output, remove_stale_temporaries
from discovery.storage.liveness import process_identity, process_state
from discovery.records.model import EstateError, Scan, StoreError
from discovery.service import plan_resume, run_scan
from scanners.kinds import REGISTRY
from discovery.storage.store import Store
from tests.builders import T0, make_report


class ListScanner:
    kind = "network"

    def __init__(self, reports):
        self.reports = reports

    def targets(self):
        return ("10.9.0.0/24",)

    def scan(self, ctx):
        yield from self.reports


def ended_process_identity() -> dict:
    """The identity of a real process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    identity = process_identity(proc.pid)
    proc.communicate(b"", timeout=30)
    return identity


def set_runner(path, scan_id, runner: dict) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE scans SET runner = ? WHERE id = ?", [json.dumps(runner), scan_id])


def status_of(path, scan_id) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT status FROM scans WHERE id = ?", [scan_id]).fetchone()[0]


def test_process_state_this_process_is_alive_an_ended_one_is_gone():
    assert process_state(process_identity()) == "alive"
    assert process_state(ended_process_identity()) == "gone"


def test_process_state_a_reused_pid_is_gone():
    me = process_identity()
    assert process_state({**me, "start_ticks": me["start_ticks"] - 1}) == "gone"  # same PID, another process


def test_process_state_a_zombie_is_gone():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = process_identity(proc.pid)
    try:
        deadline = time.monotonic() + 60  # bounded: until it has exited and not yet been reaped
        while True:
            with open(f"/proc/{proc.pid}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
            if zombie or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert zombie, "the child did not exit within 60 s"
        assert process_state(identity) == "gone"
    finally:
        proc.wait(timeout=30)


def test_process_state_another_boot_same_host_is_gone_another_machine_unknown():
    me = process_identity()
    assert process_state({**me, "boot_id": "00000000-0000-0000-0000-000000000000"}) == "gone"
    assert process_state({**me, "boot_id": "0000", "host": me["host"] + "-elsewhere"}) == "unknown"
    assert process_state(None) == "unknown"
    assert process_state({"pid": 1, "host": me["host"]}) == "unknown"  # recorded without /proc


def test_opening_the_store_marks_a_scan_of_an_ended_process_interrupted_with_a_warning(tmp_path, caplog):
    path = tmp_path / "estate.db"
    with Store(path) as store:
        scan_id = store.start_scan(Scan(kind="network", started_at=T0, targets=("10.9.0.0/24",)))
        store.write_host_report(scan_id, make_report(hostname="kept"))
    set_runner(path, scan_id, ended_process_identity())
    with caplog.at_level(logging.WARNING, logger="discovery.storage.store"), Store(path) as store:
        scan = store.get_scan(scan_id)
        assert scan["status"] == "interrupted" and scan["finished_at"]
        assert "ended without finishing it" in scan["warnings"][-1]
        assert scan["host_count"] == 1
    assert f"scan {scan_id} was left running by process" in caplog.text
    assert f"estatemap scan resume {scan_id}" in caplog.text


def test_a_scan_whose_process_lives_stays_running(tmp_path):
    path = tmp_path / "estate.db"
    with Store(path) as store:
        scan_id = store.start_scan(Scan(kind="network", started_at=T0))
    with Store(path) as store:
        assert store.get_scan(scan_id)["status"] == "running"
        assert store.get_scan(scan_id)["runner"]["pid"] == os.getpid()
        with pytest.raises(EstateError, match="is still running"):
            plan_resume(store, scan_id, REGISTRY)


def test_a_read_only_store_is_read_without_marking(tmp_path):
    path = tmp_path / "estate.db"
    with Store(path) as store:
        scan_id = store.start_scan(Scan(kind="network", started_at=T0))
    with Store(path) as store:
        set_runner(path, scan_id, ended_process_identity())
        store.db.execute("PRAGMA query_only = ON")  # as a store this user may not write
        assert store.mark_abandoned_scans() == []
        assert store.list_scans()[0]["status"] == "running"
    assert status_of(path, scan_id) == "running"


def test_migration_marks_scans_left_running_by_an_older_version_interrupted(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    store_module.MIGRATIONS.ensure_migrations_table(db)
    for migration in store_module.MIGRATIONS._migrations[:7]:
        migration.fn(db)
        db["_sqlite_migrations"].insert({"migration_set": store_module.APP_NAME, "name": migration.name,
                                         "applied_at": "2026-11-01"})
    db["scans"].insert({"kind": "network", "status": "running", "warnings": "[]", "started_at": "2026-11-01"})
    db["scans"].insert({"kind": "host", "status": "completed", "warnings": "[]", "started_at": "2026-11-01"})
    db.close()
    with Store(path) as store:
        running, done = store.list_scans()
        assert running["status"] == "interrupted" and "upgraded" in running["warnings"][0]
        assert done["status"] == "completed"


def test_resume_continues_the_same_scan_and_only_once(tmp_path):
    path = tmp_path / "estate.db"
    with Store(path) as store:
        first = run_scan(store, ListScanner([make_report(hostname="a", address="10.9.0.1")]), options={"profile": "quick"})
        store.db.execute("UPDATE scans SET status = 'running' WHERE id = ?", [first.scan_id])
    set_runner(path, first.scan_id, ended_process_identity())
    with Store(path) as store:
        plan = plan_resume(store, first.scan_id, REGISTRY)
        assert (plan.kind, plan.mode, plan.options) == ("network", "resume", {"profile": "quick"})
        assert {"10.9.0.1", "a"} <= plan.finished
        result = run_scan(store, ListScanner([make_report(hostname="b", address="10.9.0.2")]),
                          arguments="nmap --exclude 10.9.0.1 10.9.0.0/24", resume_id=first.scan_id)
        assert result.scan_id == first.scan_id and result.status == "completed"
        scan = store.get_scan(first.scan_id)
        assert scan["host_count"] == 2 and scan["status"] == "completed"
        assert any("ended without finishing it" in w for w in scan["warnings"])  # kept across the resume
        assert [r["arguments"] for r in scan["resumes"]] == ["nmap --exclude 10.9.0.1 10.9.0.0/24"]
        with pytest.raises(StoreError, match="completed"):
            store.reopen_scan(first.scan_id)
        with pytest.raises(EstateError, match="nothing to resume"):
            plan_resume(store, first.scan_id, REGISTRY)


def test_a_stale_temporary_file_is_removed_a_locked_one_is_kept(tmp_path):
    target = tmp_path / "estate.json"
    target.write_text("previous")
    stale = tmp_path / ".estate.json.abcd1234.tmp"
    stale.write_text("half")
    busy = tmp_path / ".estate.json.zzzz9999.tmp"
    busy.write_text("being written")
    other = tmp_path / ".estate.json.bak.abcd1234.tmp"  # another target's
    other.write_text("x")
    fd = os.open(busy, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running export holds it
        assert remove_stale_temporaries(target) == [stale]
        assert busy.exists() and other.exists() and target.read_text() == "previous"
    finally:
        os.close(fd)


def test_atomic_output_holds_its_lock_until_the_rename_and_cleans_up(tmp_path):
    target = tmp_path / "estate.json"
    (tmp_path / ".estate.json.abcd1234.tmp").write_text("left by a killed export")
    with atomic_output(target) as out:
        out.write("new")
        (mine,) = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert remove_stale_temporaries(target) == []  # its own temporary file is locked, so kept
        assert mine.exists()
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["estate.json"]
