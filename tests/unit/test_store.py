import os
import sqlite3
import stat

import pytest
import sqlite_utils

from discovery.storage import store as store_module
from discovery.records.model import Scan, StoreError
from discovery.storage.store import SCHEMA_VERSION, Store
from tests.builders import T0, make_report


def start(store, kind="host"):
    return store.start_scan(Scan(kind=kind, started_at=T0, targets=("app01",)))


def test_store_new_file_is_migrated_private_and_wal(tmp_path):
    path = tmp_path / "sub" / "estate.db"
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert {"scans", "hosts", "observations", "services", "connections"} <= set(s.db.table_names())
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_store_migrates_an_older_store_forward(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    store_module.MIGRATIONS.ensure_migrations_table(db)  # a store from before any schema existed
    db.close()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        applied = [m.name for m in store_module.MIGRATIONS.applied(s.db)]
        assert applied[0] == "m001_initial"


def test_store_refuses_newer_schema(tmp_path):
    path = tmp_path / "new.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer Estate Mapper"):
        Store(path)


def test_store_refuses_a_file_that_is_not_sqlite_and_leaves_it(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an Estate Mapper store"):
        Store(path)
    assert path.read_bytes() == before


def test_store_refuses_another_applications_database(tmp_path):
    path = tmp_path / "other.db"
    sqlite_utils.Database(path)["patients"].insert({"name": "x"})
    with pytest.raises(StoreError, match="not an Estate Mapper store"):
        Store(path)
    assert sqlite_utils.Database(path).table_names() == ["patients"]


def test_store_unwritable_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.geteuid() == 0:  # root writes anyway: use a path below a file instead
            (tmp_path / "file").write_text("x")
            target = tmp_path / "file" / "estate.db"
        else:
            target = folder / "estate.db"
        with pytest.raises(StoreError, match="cannot create store"):
            Store(target)
    finally:
        folder.chmod(0o700)


def test_store_readonly_file_write_is_a_store_error(tmp_path):
    path = tmp_path / "ro.db"
    Store(path).close()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    s = Store.__new__(Store)
    s.path, s.db = path, sqlite_utils.Database(conn)
    with pytest.raises(StoreError, match="cannot write store"):
        start(s)


def test_scan_history_keeps_every_scan_with_host_counts(store):
    first = start(store)
    store.write_host_report(first, make_report(hostname="a"))
    store.write_host_report(first, make_report(hostname="b"))
    store.finish_scan(first, "completed", ["dpkg missing"])
    second = start(store)
    store.write_host_report(second, make_report(hostname="c"))
    store.finish_scan(second, "interrupted")
    scans = store.list_scans()
    assert [(s["id"], s["status"], s["host_count"]) for s in scans] == [(first, "completed", 2), (second, "interrupted", 1)]
    assert scans[0]["warnings"] == ["dpkg missing"]
    assert scans[0]["targets"] == ["app01"]
    assert scans[1]["finished_at"] is not None


def test_write_host_report_is_one_transaction(store, monkeypatch):
    scan = start(store)
    kept_id, _ = store.write_host_report(scan, make_report(hostname="kept"))
    original = store._child_row

    def failing(table, record, scan_id):
        if table == "connections":
            raise sqlite3.OperationalError("disk I/O error")
        return original(table, record, scan_id)

    monkeypatch.setattr(store, "_child_row", failing)
    report = make_report(hostname="lost", connections=(("10.9.0.1", 40000, "10.9.0.2", 5432, "outbound", "psql"),))
    with pytest.raises(StoreError):
        store.write_host_report(scan, report)
    assert [h["hostname"] for h in store.hosts()] == ["kept"]
    assert store.db["services"].count == 1
    assert store.db["software"].count == 1
    assert [o["host_id"] for o in store.current_observations()] == [kept_id]


def test_same_machine_twice_is_one_host_matched_on_mac(store):
    first = make_report(hostname="app01", mac="52:54:00:aa:bb:01", address="10.9.1.1")
    again = make_report(hostname="app01-renamed", mac="52:54:00:aa:bb:01", address="10.9.1.99")
    id1, match1 = store.write_host_report(start(store), first)
    id2, match2 = store.write_host_report(start(store), again)
    assert match1 is None and id1 == id2
    assert match2.reason == "mac 52:54:00:aa:bb:01"
    host = store.hosts()[0]
    assert host["hostname"] == "app01-renamed"  # newest value wins
    assert host["sources"] == ["local"]


def test_cloned_vms_stay_separate_hosts(store):
    scan = start(store)
    a, _ = store.write_host_report(scan, make_report(hostname="clone", machine_id="m1", mac="52:54:00:00:0c:01"))
    b, match = store.write_host_report(scan, make_report(hostname="clone", machine_id="m1", mac="52:54:00:00:0c:02"))
    assert a != b and match is None
    assert len(store.hosts()) == 2


def test_address_match_refused_when_macs_disagree(store):
    a, _ = store.write_host_report(start(store), make_report(address="10.9.2.2", mac="52:54:00:00:0d:01"))
    b, match = store.write_host_report(start(store), make_report(address="10.9.2.2", mac="52:54:00:00:0d:02"))
    assert a != b and match is None
    c, match = store.write_host_report(start(store), make_report(address="10.9.2.2", mac="", source="nmap"))
    assert match is not None and match.kind == "address" and c in (a, b)


def test_secrets_are_redacted_before_storage(store):
    store.write_host_report(start(store), make_report())
    cmdlines = [r["cmdline"] for r in store.db["processes"].rows]
    assert cmdlines and all("hunter2" not in c and "REDACTED" in c for c in cmdlines)
    evidence = [r["text"] for r in store.db["evidence"].rows]
    assert evidence and all("notreal" not in t for t in evidence)
    raw = open(store.path, "rb").read() + (open(f"{store.path}-wal", "rb").read() if os.path.exists(f"{store.path}-wal") else b"")
    assert b"hunter2" not in raw


def test_current_observations_are_newest_per_source(store):
    old = start(store)
    host_id, _ = store.write_host_report(old, make_report(mac="52:54:00:00:0e:01"))
    new = start(store)
    store.write_host_report(new, make_report(mac="52:54:00:00:0e:01", services=(("tcp", 22, "sshd"),)))
    current = store.current_observations()
    assert [(o["scan_id"], o["host_id"]) for o in current] == [(new, host_id)]
    assert [s["port"] for s in store.child_rows("services", current)] == [22]
    assert [s["port"] for s in store.child_rows("services", store.current_observations(old))] == [5432]


def test_store_migrates_version_1_forward_keeping_data(tmp_path):
    path = tmp_path / "v1.db"
    db = sqlite_utils.Database(path)
    store_module.MIGRATIONS.apply(db, stop_before="m002_network_scan_fields")
    db.execute("PRAGMA user_version = 1")
    db["hosts"].insert({"id": "h-old", "hostname": "legacy01", "sources": '["local"]'})
    db.close()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION >= 2
        (host,) = s.hosts()
        assert host["hostname"] == "legacy01" and host["os_matches"] is None
        assert "scripts" in s.db["services"].columns_dict
