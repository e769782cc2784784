"""scanners.kinds.make_scanner: the GUI's one door to the scanners, checking input as the CLI does."""

from __future__ import annotations

import pytest

from discovery.records.model import EstateError, utc_now
from discovery.records.targets import TargetError
from scanners.kinds import make_scanner, stored_options
from scanners.files import FileImportScanner
from scanners.local_host import LocalHostScanner
from scanners.nmap_network import NmapNetworkScanner
from scanners.ssh_host import SshHostScanner

NMAP_XML = "tests/data/nmap/localhost-sV-O.xml"


def test_make_scanner_network_builds_nmap_scanner_with_options():
    scanner = make_scanner("network", {"targets": ["127.0.0.1"], "profile": "quick", "ports": "22,80",
                                       "excludes": [], "max_rate": 50})
    assert isinstance(scanner, NmapNetworkScanner)
    assert scanner.targets() == ("127.0.0.1",)
    assert "-p 22,80" in scanner.arguments and "--max-rate 50" in scanner.arguments


def test_make_scanner_network_counts_addresses_for_confirmation():
    scanner = make_scanner("network", {"targets": "10.0.0.0/16", "excludes": "10.0.0.1"})
    assert scanner.address_count == 65535


@pytest.mark.parametrize("targets", [["10.0.0.1;reboot"], ["-oX"], ["10.0.0.1 10.0.0.2;ls"], ["300.1.1.1"]])
def test_make_scanner_network_bad_target_raises(targets):
    with pytest.raises(TargetError):
        make_scanner("network", {"targets": targets})


def test_make_scanner_network_no_target_or_bad_ports_raises():
    with pytest.raises(EstateError, match="at least one target"):
        make_scanner("network", {"targets": []})
    with pytest.raises(EstateError, match="port"):
        make_scanner("network", {"targets": ["127.0.0.1"], "ports": "22;rm"})
    with pytest.raises(EstateError, match="profile"):
        make_scanner("network", {"targets": ["127.0.0.1"], "profile": "loud"})


def test_make_scanner_host_with_and_without_watch():
    plain = make_scanner("host", {})
    assert isinstance(plain, LocalHostScanner) and plain.watch is None
    watching = make_scanner("host", {"watch": 3600, "every": 1})
    assert (watching.watch, watching.every) == (3600.0, 1.0)
    assert make_scanner("host", {"watch": 3600}).every == 300.0
    with pytest.raises(EstateError, match="longer than the watch"):
        make_scanner("host", {"watch": 10, "every": 60})
    with pytest.raises(EstateError, match="needs a watch"):
        make_scanner("host", {"every": 60})


def test_make_scanner_ssh_validates_and_keeps_secrets_out_of_arguments(tmp_path):
    scanner = make_scanner("ssh", {"hosts": ["db01", "root@10.20.0.7"], "user": "audit", "port": 2222,
                                   "known_hosts": str(tmp_path / "known_hosts"), "accept_new_host_keys": True,
                                   "concurrency": 3, "timeout": 5, "password": "s3cret", "passphrase": None})
    assert isinstance(scanner, SshHostScanner)
    assert scanner.targets() == ("db01", "root@10.20.0.7")
    assert (scanner.port, scanner.concurrency, scanner.timeout, scanner.accept_new) == (2222, 3, 5.0, True)
    assert "s3cret" not in scanner.arguments
    (tmp_path / "known_hosts").write_text("")
    trimmed = make_scanner("ssh", {"hosts": "db01 db02", "excludes": ["db02"],
                                   "known_hosts": str(tmp_path / "known_hosts")})
    assert [t.text for t in trimmed.excluded] == ["db02"]  # never contacted
    with pytest.raises(EstateError):
        make_scanner("ssh", {"hosts": ["db01;reboot"]})
    with pytest.raises(EstateError, match="at least one host"):
        make_scanner("ssh", {"hosts": []})
    with pytest.raises(EstateError, match="key file"):
        make_scanner("ssh", {"hosts": ["db01"], "key": str(tmp_path / "missing_key")})


def test_make_scanner_import_sniffs_the_file(tmp_path):
    assert isinstance(make_scanner("import", {"path": NMAP_XML}), FileImportScanner)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(EstateError, match="not a file Estate Mapper can import"):
        make_scanner("import", {"path": str(text)})
    with pytest.raises(EstateError, match="cannot read"):
        make_scanner("import", {"path": str(tmp_path / "missing.xml")})
    with pytest.raises(EstateError, match="choose a file"):
        make_scanner("import", {"path": ""})


def test_make_scanner_unknown_kind_or_option():
    with pytest.raises(EstateError, match="unknown scan kind"):
        make_scanner("carrier-pigeon", {})
    with pytest.raises(TypeError, match="unknown option"):
        make_scanner("host", {"targets": ["x"]})


def test_resume_request_continues_each_kind_from_its_stored_options(tmp_path):
    from discovery.service import ResumePlan
    from scanners.kinds import resume_request, stored_options

    network = stored_options("network", {"targets": ["10.0.0.0/30"], "excludes": ["10.0.0.3"], "max_rate": 50})
    plan = ResumePlan(scan_id=4, kind="network", mode="resume", targets=["10.0.0.0/30"], options=network,
                      finished={"10.0.0.1", "web01"})
    assert resume_request(plan) == ("network", {"targets": ["10.0.0.0/30"], "profile": "standard", "ports": None,
                                                "excludes": ["10.0.0.3", "10.0.0.1"], "max_rate": 50})
    ssh = stored_options("ssh", {"hosts": ["db01", "root@10.0.0.9"], "key": "~/k", "excludes": "10.0.0.7"})
    assert ssh["key"].endswith("/k") and not ssh["key"].startswith("~") and ssh["exclude"] == ["10.0.0.7"]
    plan = ResumePlan(scan_id=5, kind="ssh", mode="resume", targets=["db01", "root@10.0.0.9"], options=ssh,
                      finished={"db01"})
    kind, options = resume_request(plan)
    assert kind == "ssh" and options["hosts"] == ["root@10.0.0.9"] and options["excludes"] == ["10.0.0.7"]
    done = ResumePlan(scan_id=5, kind="ssh", mode="resume", targets=["db01"], options=ssh, finished={"db01"})
    assert resume_request(done) == ("ssh", None)  # nothing left: the scan is completed as it is
    assert "password" not in ssh and stored_options("ssh", {"hosts": ["a"], "password": "x"}).get("password") is None
    path = tmp_path / "scan.xml"
    imported = stored_options("import", {"path": str(path)})
    assert resume_request(ResumePlan(scan_id=6, kind="import", mode="rerun", targets=[], options=imported,
                                     finished=set())) == ("import", {"path": str(path)})


@pytest.mark.parametrize("stored", [{"watch": 3600.0, "every": 60.0}, {"watch": "1h", "every": "1m"}])
def test_a_watched_scan_resumes_in_the_gui_whichever_face_started_it(stored):
    """Seconds (what both faces store now) and text (what the CLI stored before) resume alike."""
    from discovery.service import ResumePlan
    from scanners.kinds import resume_request
    plan = ResumePlan(scan_id=7, kind="host", mode="rerun", targets=[], options=stored, finished=set())
    kind, options = resume_request(plan)
    scanner = make_scanner(kind, options)
    assert (scanner.watch, scanner.every) == (3600.0, 60.0)


def test_a_watched_scan_started_in_the_gui_resumes_on_the_command_line(tmp_path):
    """The GUI stores the watch in seconds; `estatemap scan resume` failed on them ('unexpected TypeError')."""
    import json
    import sqlite3

    from discovery.records.model import Scan
    from discovery.storage.store import Store
    from tests.unit.test_cli import run
    db = tmp_path / "estate.db"
    with Store(db) as store:
        scan = store.start_scan(Scan(kind="host", started_at=utc_now(), targets=("this host",)),
                                options=stored_options("host", {"watch": 2, "every": 1}))
        store.finish_scan(scan, "interrupted")
    code, out, err = run("--db", str(db), "scan", "resume", str(scan))
    assert code == 0 and "Traceback" not in err and "unexpected" not in err, err
    with sqlite3.connect(db) as conn:
        (options,) = conn.execute("SELECT options FROM scans WHERE id > ?", (scan,)).fetchone()
    assert json.loads(options) == {"watch": 2.0, "every": 1.0}  # the rerun keeps its watch, in seconds


# --- the registry: a kind declared once reaches the command line --------------------------------------


def test_a_kind_declared_once_gets_a_scan_command_with_its_options(tmp_path, capsys):
    """A registry entry plus one module (tests/toy_kind.py) and nothing else: `scan --help` lists it, its
    options parse with their declared defaults and types, and it scans into the store like any kind."""
    import main
    from discovery.scanning.scan_kinds import ScanKinds
    from discovery.storage.store import Store
    from scanners.kinds import REGISTRY
    from tests import toy_kind

    kinds = ScanKinds((*REGISTRY.kinds, toy_kind.KIND))
    with pytest.raises(SystemExit) as done:
        main.main(["scan", "--help"], kinds=kinds)
    listed = capsys.readouterr().out
    assert done.value.code == 0 and "toy" in listed and "Pretend to inventory hosts" in listed
    with pytest.raises(SystemExit):
        main.main(["scan", "toy", "--help"], kinds=kinds)
    usage = capsys.readouterr().out
    assert "--depth N" in usage and "how deep to pretend to look (default: 3)" in usage and "--loud" in usage
    db = tmp_path / "estate.db"
    assert main.main(["--db", str(db), "-q", "scan", "toy", "web01", "db01", "--depth", "5"], kinds=kinds) == 0
    with Store(db, create=False) as store:
        [scan] = store.list_scans()
        assert (scan["kind"], scan["status"], scan["host_count"], scan["targets"]) == ("toy", "completed", 2,
                                                                                      ["web01", "db01"])
    with pytest.raises(SystemExit) as bad:
        main.main(["--db", str(db), "scan", "toy", "web01", "--depth", "deep"], kinds=kinds)
    assert bad.value.code == 2 and "invalid int value" in capsys.readouterr().err
    assert "toy" not in REGISTRY and "toy" not in main.build_parser().format_help()  # the global one is untouched


def test_every_declared_kind_is_a_scan_command_or_has_its_own(capsys):
    import main
    from scanners.kinds import REGISTRY

    with pytest.raises(SystemExit):
        main.main(["scan", "--help"])
    listed = capsys.readouterr().out
    for kind in REGISTRY:
        assert (f"    {kind.name} " in listed) == kind.cli, kind.name
    assert [k.name for k in REGISTRY if not k.cli] == ["import"]  # `estatemap import FILE…`


def test_options_are_declared_once_with_defaults_the_registry_fills_in():
    from discovery.scanning.scan_kinds import Option, ScanKinds, ScannerKind
    from scanners.kinds import REGISTRY

    ssh = REGISTRY.complete("ssh", {"hosts": "db01", "port": None, "password": "  spaced  "})
    assert (ssh["port"], ssh["concurrency"], ssh["timeout"]) == (22, 10, 60.0)
    assert ssh["password"] == "  spaced  "  # a password is taken as typed
    assert REGISTRY.complete("ssh", {"port": 0})["port"] == 0  # a value given is never replaced by the default
    with pytest.raises(TypeError, match="unknown option"):
        REGISTRY.complete("database", {"hosts": ["x"]})
    with pytest.raises(ValueError, match="share a name"):
        ScanKinds((REGISTRY["host"], REGISTRY["host"]))
    with pytest.raises(ValueError, match="unknown kind"):
        Option("x", kind="colour")
    assert isinstance(REGISTRY["database"], ScannerKind) and REGISTRY["database"].summary.startswith("Ask database")


def test_scan_ssh_without_a_host_or_hosts_file_is_a_usage_error(tmp_path, capsys):
    import main

    db = tmp_path / "estate.db"
    assert main.main(["--db", str(db), "scan", "ssh", "--user", "audit"]) == 2
    assert "name at least one HOST or give --hosts-file FILE" in capsys.readouterr().err
    assert not db.exists()  # refused before the store is opened
