"""Collector bundles: round trip, refusals, versions, redaction, and `estatemap import`/`collect` on bundles."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from discovery.files import bundle as bundle_module
from discovery.files.bundle import (FORMAT, VERSION, BundleError, build_bundle, decode_bundle, encode_bundle,
                                    read_bundle, restamp_source, to_plain)
from discovery.records.model import (Connection, Database, Disk, EstateError, Host, HostReport, Interface, OsClass,
                                     OsMatch, Partition, Process, Scan, ScanCancelled, ScriptResult, Service, Software)
from discovery.service import run_scan
from discovery.scanning.sampling import watch_settings
from scanners.bundle_collector import collect_bundle
from scanners.files import FileImportScanner, sniff_format

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
FIXTURE_V1 = DATA / "bundles" / "version1-app01.json"
T0 = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=timezone.utc)
COLLECTOR = {"name": "test", "version": "0.1.0", "platform": "Linux", "system": "Linux", "python": "3.11.7",
             "hostname": "app01", "user": "root", "privileged": True}


def full_report() -> HostReport:
    """A HostReport with every record type and every nested record, non-default values throughout."""
    at = dict(source="local", observed_at=T0)
    plus2 = timezone(timedelta(hours=2))
    host = Host(
        **at, hostname="app01", domain="example.org", fqdn="app01.example.org", addresses=("10.0.0.5", "fd00::5"),
        macs=("52:54:00:aa:bb:cc", "52:54:00:aa:bb:cd"), os_name="Debian GNU/Linux", os_version="12 (bookworm)",
        os_family="linux", os_id="debian", kernel="6.1.0", architecture="x86_64",
        boot_time=datetime(2026, 5, 1, 8, 0, tzinfo=plus2), vendor="Dell Inc.", model="PowerEdge R650",
        serial="ABC1234", hardware_uuid="4c4c4544-0042-3010-8051-b2c04f123456", machine_id="0123456789abcdef" * 2,
        virtualization="none", cpu_model="Intel Xeon Gold 6338", cpu_cores=32, cpu_logical_cores=64, cpu_mhz=3200.5,
        memory_bytes=274_877_906_944, swap_bytes=0,
        disks=(Disk(name="sda", size_bytes=960_197_124_096, model="PERC H755", serial="S1", rotational=False),
               Disk(name="sdb", size_bytes=None, rotational=True)),
        partitions=(Partition(device="/dev/sda1", mountpoint="/", fstype="ext4", total_bytes=10, used_bytes=4,
                              free_bytes=6),),
        hostnames=("app01", "app01.example.org"), mac_vendor="Dell", status="up", status_reason="arp-response",
        os_matches=(OsMatch(name="Linux 5.0 - 5.14", accuracy=98,
                            classes=(OsClass(type="general purpose", vendor="Linux", family="Linux", generation="5.X",
                                             accuracy=98, cpes=("cpe:/o:linux:linux_kernel:5",)),)),),
        uptime_seconds=259_200,
        scripts=(ScriptResult(id="smb-protocols", output="dialects: 3.1.1", data={"dialects": ["3.1.1", "3.0.2"]}),
                 ScriptResult(id="note", output=None, data="plain"), ScriptResult(id="list", data=[1, "two", None])),
    )
    return HostReport(
        host=host,
        interfaces=(Interface(name="eno1", mac="52:54:00:aa:bb:cc", addresses=("10.0.0.5/24",), is_up=True,
                              speed_mbps=10_000, mtu=9000, **at),
                    Interface(name="eno2", is_up=False, **at)),
        software=(Software(name="openssl", version="3.0.11", vendor="Debian", architecture="amd64", source="dpkg",
                           observed_at=T0),),
        processes=(Process(pid=42, ppid=1, name="postgres", exe="/usr/lib/postgresql/15/bin/postgres",
                           username="postgres", started_at=T0 - timedelta(days=3),
                           cmdline="/usr/lib/postgresql/15/bin/postgres -D /var/lib/pg", **at),),
        services=(Service(protocol="tcp", port=5432, address="0.0.0.0", state="listening", name="postgresql",
                          product="PostgreSQL", version="15.4", extra_info="x", tunnel="ssl",
                          cpes=("cpe:/a:postgresql:postgresql:15.4",), category="database", process="postgres", pid=42,
                          reason="syn-ack", method="probed", confidence=10, os_type="Linux", device_type="general",
                          service_hostname="db", fingerprint="SF:...",
                          scripts=(ScriptResult(id="ssl-cert", output="cn=db", data={"subject": {"cn": "db"}}),),
                          **at),),
        databases=(Database(engine="postgresql", port=5432, version="15.4", databases=("emr", "billing"),
                            sizes=(("emr", 52_428_800), ("billing", 8_192)), process="postgres", pid=42, **at),),
        connections=(Connection(protocol="tcp", local_address="10.0.0.5", local_port=51000, remote_address="10.0.0.9",
                                remote_port=2575, state="ESTABLISHED", direction="outbound", process="java", pid=7,
                                evidence="observed", first_seen=T0, last_seen=T0 + timedelta(hours=1), samples=13,
                                **at),
                     Connection(protocol="tcp", local_address="10.0.0.5", local_port=5432, remote_address="10.0.0.7",
                                remote_port=40001, direction="inbound", evidence="reported", remote_process="psql",
                                **at)),
        raw={"os-release": 'NAME="Debian GNU/Linux"', "dmi": "sys_vendor: Dell Inc.\n"},
    )


def make_scan(**changes) -> Scan:
    fields = dict(kind="collect", started_at=T0, finished_at=T0 + timedelta(seconds=3), status="completed",
                  targets=("app01",), arguments="collect", warnings=("sockets: needs root",))
    return Scan(**{**fields, **changes})


def make_doc(report: HostReport | None = None, **scan_changes) -> dict:
    return build_bundle([report or full_report()], scan=make_scan(**scan_changes), collector=COLLECTOR,
                        created_at=T0 + timedelta(seconds=5))


def redigest(doc: dict) -> dict:
    """Return `doc` with its sha256 recomputed by the documented rule (not the module's own function)."""
    content = {k: v for k, v in doc.items() if k != "sha256"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    return {**content, "sha256": hashlib.sha256(canonical).hexdigest()}


def plain_bytes(doc: dict) -> bytes:
    return json.dumps(doc).encode()


# --- round trip -----------------------------------------------------------------------------------

def test_bundle_round_trip_is_equal_for_every_record_type():
    report = full_report()
    read = decode_bundle(encode_bundle(make_doc(report)), name="x.estate")
    assert read.reports == (report,)
    back = read.reports[0]
    assert back.host.boot_time.utcoffset() == timedelta(hours=2)  # the offset is kept, not just the instant
    assert back.host.disks[0].rotational is False and back.host.cpu_mhz == 3200.5
    assert isinstance(back.host.os_matches[0].classes, tuple) and isinstance(back.services[0].cpes, tuple)
    assert back.host.scripts[0].data == {"dialects": ["3.1.1", "3.0.2"]}
    assert back.databases[0].sizes == (("emr", 52_428_800), ("billing", 8_192))
    assert back.connections[0].first_seen == T0 and back.connections[0].first_seen.microsecond == 123456
    assert read.scan == dataclasses.replace(make_scan(), host_count=1)
    assert read.collector == COLLECTOR and read.version == VERSION and read.ignored == ()


def test_every_model_field_type_is_one_the_reader_handles():
    """A field added to the model later travels in bundles as long as its type is built from these."""
    import types
    import typing
    simple = {str, int, float, bool, datetime, type(None), dict, list, typing.Any}
    seen, todo = set(), [HostReport, Scan]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for name, hint in typing.get_type_hints(cls).items():
            stack = [hint]
            while stack:
                t = stack.pop()
                if dataclasses.is_dataclass(t):
                    todo.append(t)
                elif typing.get_origin(t) in (tuple, dict, typing.Union, types.UnionType):
                    stack.extend(a for a in typing.get_args(t) if a is not Ellipsis)
                else:
                    assert t in simple, f"{cls.__name__}.{name}: {t!r}"
    assert {Host, Disk, Partition, OsMatch, OsClass, ScriptResult, Interface, Software, Process, Service, Database,
            Connection} <= seen


def test_bundle_round_trip_of_a_minimal_report():
    report = HostReport(host=Host(source="local", observed_at=T0))
    assert decode_bundle(encode_bundle(make_doc(report))).reports == (report,)


def test_bundle_document_is_self_describing():
    doc = json.loads(gzip.decompress(encode_bundle(make_doc())))
    assert doc["format"] == FORMAT == "estatemap-bundle" and doc["version"] == 1
    assert set(doc) == {"format", "version", "created_at", "collector", "scan", "reports", "sha256"}
    assert datetime.fromisoformat(doc["created_at"]).tzinfo is not None
    assert doc["reports"][0]["host"]["observed_at"] == "2026-05-04T03:02:01.123456+00:00"
    assert doc["sha256"] == redigest(doc)["sha256"]


def test_encode_bundle_is_reproducible():
    doc = make_doc()
    assert encode_bundle(doc) == encode_bundle(json.loads(json.dumps(doc)))


# --- refusals ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda d: {**d, "format": "nessus-export"}, "is not an Estate Mapper bundle (format 'nessus-export'"),
    (lambda d: {k: v for k, v in d.items() if k != "format"}, 'has no "format" field'),
    (lambda d: redigest({**d, "version": 2}), "written by a newer Estate Mapper (bundle version 2"),
    (lambda d: redigest({**d, "version": "1"}), "invalid bundle version '1'"),
    (lambda d: redigest({**d, "version": True}), "invalid bundle version True"),
    (lambda d: redigest({**d, "version": 0}), "invalid bundle version 0"),
    (lambda d: {k: v for k, v in d.items() if k != "version"}, 'missing required field "version"'),
    (lambda d: redigest({k: v for k, v in d.items() if k != "reports"}), 'missing required field "reports"'),
    (lambda d: {k: v for k, v in d.items() if k not in ("sha256", "scan")}, 'missing required fields "sha256", "scan"'),
    (lambda d: {**d, "reports": [{**d["reports"][0], "raw": {"note": "added later"}}]}, "tampered or damaged"),
    (lambda d: {**d, "sha256": "0" * 64}, "tampered or damaged"),
    (lambda d: {**d, "sha256": None}, "tampered or damaged"),
    (lambda d: redigest({**d, "reports": [{"interfaces": []}]}), "reports[0]: required field 'host' is missing"),
    (lambda d: redigest({**d, "reports": [{"host": {**d["reports"][0]["host"], "cpu_cores": "32"}}]}),
     "reports[0].host.cpu_cores: expected an integer"),
    (lambda d: redigest({**d, "reports": [{"host": {**d["reports"][0]["host"], "observed_at": "2026-05-04T03:02:01"}}]}),
     "reports[0].host.observed_at: '2026-05-04T03:02:01' has no timezone"),
    (lambda d: redigest({**d, "reports": {"host": {}}}), "reports: expected a list"),
    (lambda d: redigest({**d, "reports": [{**d["reports"][0], "databases": [{**d["reports"][0]["databases"][0],
                                                                            "sizes": [["emr"]]}]}]}),
     "reports[0].databases[0].sizes[0]: expected a list of 2 values"),
    (lambda d: [d], "JSON but not an Estate Mapper bundle (not a JSON object)"),
])
def test_decode_bundle_refuses(change, message):
    with pytest.raises(BundleError) as error:
        decode_bundle(plain_bytes(change(make_doc())), name="site.estate")
    assert message in str(error.value)
    assert str(error.value).startswith("site.estate ") and "\n" not in str(error.value)
    assert isinstance(error.value, EstateError)  # main.py turns it into one line and exit status 1


def test_decode_bundle_refuses_truncated_and_invalid_files():
    data = encode_bundle(make_doc())
    with pytest.raises(BundleError, match=r"tampered or damaged: its compressed data ends early \(truncated\?\)"):
        decode_bundle(data[: len(data) // 2])
    text = gzip.decompress(data)
    with pytest.raises(BundleError, match=r"not a complete bundle: invalid JSON at line 1 column \d+ .*truncated"):
        decode_bundle(text[:-40])
    with pytest.raises(BundleError, match="not a complete bundle: invalid JSON"):
        decode_bundle(b'{"format": "estatemap-bundle", "version": 1,,}')
    with pytest.raises(BundleError, match="gzip-compressed but not an Estate Mapper bundle"):
        decode_bundle(gzip.compress(b"PK\x03\x04 not json"))
    with pytest.raises(BundleError, match="data after the bundle"):
        decode_bundle(data + gzip.compress(b"{}"))


def test_decode_bundle_detects_a_changed_byte_in_the_compressed_file():
    data = bytearray(encode_bundle(make_doc()))
    data[len(data) // 2] ^= 0x01
    with pytest.raises(BundleError, match="tampered or damaged"):
        decode_bundle(bytes(data))


def test_decode_bundle_detects_a_changed_value_under_a_valid_gzip():
    doc = json.loads(gzip.decompress(encode_bundle(make_doc())))
    doc["reports"][0]["host"]["memory_bytes"] += 1
    with pytest.raises(BundleError, match="tampered or damaged: its content does not match its sha256 digest"):
        decode_bundle(gzip.compress(json.dumps(doc).encode()))


# --- versions ------------------------------------------------------------------------------------------

def test_version1_fixture_keeps_importing(store):
    bundle = read_bundle(FIXTURE_V1)
    assert bundle.version == 1 and bundle.ignored == ()
    (report,) = bundle.reports
    assert report.host.hostname == "app01" and report.host.cpu_cores == 4 and report.host.memory_bytes == 16_777_216_000
    assert report.host.disks == (Disk(name="vda", size_bytes=107_374_182_400, serial="vd-0001", rotational=False),)
    assert [s.name for s in report.software] == ["openssl", "postgresql-15", "openjdk-11-jre-headless"]
    assert report.databases[0].sizes == (("emr", 734_003_200), ("postgres", 7_643_663))
    assert report.connections[0].samples == 12 and report.connections[0].last_seen - report.connections[0].first_seen \
        == timedelta(minutes=55)
    assert bundle.scan.status == "completed" and bundle.scan.warnings[0].startswith("sockets:")

    scanner = FileImportScanner(FIXTURE_V1)
    assert scanner.format == "bundle"
    assert scanner.arguments == "import version1-app01.json (bundle from app01.clinic.example collected 2026-03-02T15:05:09+00:00)"
    result = run_scan(store, scanner)
    assert result.status == "completed" and len(result.host_ids) == 1
    assert result.counts["software"] == 3 and result.counts["connections"] == 2
    assert result.warnings == ["collected on app01.clinic.example: sockets: 2 sockets have no owning process "
                               "(other users'; run as root)"]
    (host,) = store.hosts()
    assert host["sources"] == ["bundle"] and host["hostname"] == "app01"
    (scan,) = store.list_scans()
    assert scan["kind"] == "import" and scan["arguments"].startswith("import version1-app01.json (bundle from app01")


def test_an_older_version_is_upgraded_step_by_step(monkeypatch):
    """When version 2 appears, a version-1 file is checked against its own digest, then upgraded."""
    seen = []

    def upgrade_1_to_2(doc):
        seen.append(doc["version"])
        return {**doc, "version": 2}

    monkeypatch.setattr(bundle_module, "VERSION", 2)
    monkeypatch.setattr(bundle_module, "UPGRADES", {1: upgrade_1_to_2})
    bundle = read_bundle(FIXTURE_V1)
    assert seen == [1] and bundle.version == 1 and bundle.reports[0].host.hostname == "app01"


def test_fields_from_a_newer_writer_of_the_same_version_are_ignored_and_named(store, tmp_path):
    doc = make_doc()
    doc["reports"][0]["host"]["tpm_version"] = "2.0"
    for software in doc["reports"][0]["software"]:
        software["licence"] = "OpenSSL"
    doc["signature"] = "future"
    path = tmp_path / "newer.estate"
    path.write_bytes(gzip.compress(json.dumps(redigest(doc)).encode()))
    bundle = read_bundle(path)
    assert bundle.ignored == ("signature", "reports[].host.tpm_version", "reports[].software[].licence")
    result = run_scan(store, FileImportScanner(path))
    assert result.status == "completed"
    assert any("fields this version of Estate Mapper does not know" in w and "tpm_version" in w for w in result.warnings)


# --- redaction, sources, sniffing ------------------------------------------------------------------------

def test_secrets_never_reach_the_bundle_bytes():
    report = dataclasses.replace(full_report(), processes=(
        Process(pid=9, name="java", source="local", observed_at=T0,
                cmdline="java -jar emr.jar --db-password=hunter2 --url=postgresql://emr:s3cretpw@db01/emr"),
        Process(pid=10, name="mysql", source="local", observed_at=T0, cmdline="mysql -u root -pTopSecret1 emr"),
    ), raw={"env": "PGPASSWORD=notreal99 HOME=/root"})
    doc = build_bundle([report], scan=make_scan(warnings=("databases: postgresql://emr:rediSecret7@db01 refused",)),
                       collector=COLLECTOR)
    data = encode_bundle(doc)
    for content in (data, gzip.decompress(data)):
        for secret in (b"hunter2", b"s3cretpw", b"TopSecret1", b"notreal99", b"rediSecret7"):
            assert secret not in content
    java = decode_bundle(data).reports[0].processes[0]
    assert "--db-password=REDACTED" in java.cmdline and "postgresql://emr:REDACTED@db01/emr" in java.cmdline


def test_restamp_source_marks_scanner_records_bundle_and_keeps_package_managers():
    report = restamp_source(full_report())
    assert report.host.source == "bundle"
    assert {r.source for r in report.interfaces + report.processes + report.services + report.databases
            + report.connections} == {"bundle"}
    assert report.software[0].source == "dpkg"


def test_sniff_format_reads_content_not_the_extension(tmp_path):
    disguised = tmp_path / "scan.xml"
    disguised.write_bytes(encode_bundle(make_doc()))
    assert sniff_format(disguised) == "bundle"
    assert sniff_format(FIXTURE_V1) == "bundle"
    nmap = tmp_path / "host.estate"
    nmap.write_bytes((DATA / "nmap" / "localhost-sV-O.xml").read_bytes())
    assert sniff_format(nmap) == "nmap-xml"
    capture = tmp_path / "traffic.xml"
    capture.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(20))  # a pcap file's header, whatever the name says
    assert sniff_format(capture) == "capture"
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(EstateError, match="nmap XML from -oX, a collector bundle, or a pcap/pcapng capture"):
        sniff_format(other)


# --- collecting ------------------------------------------------------------------------------------------

class FakeScanner:
    kind = "host"

    def __init__(self, *, stop_after_report=False, stop_before_report=False):
        self.stop_after_report, self.stop_before_report = stop_after_report, stop_before_report

    def targets(self):
        return ("app01",)

    def scan(self, ctx):
        ctx.warn("processes: 3 processes had fields this user may not read")
        if self.stop_before_report:
            raise KeyboardInterrupt
        yield full_report()
        if self.stop_after_report:
            raise ScanCancelled()


def test_collect_bundle_keeps_warnings_timing_and_collector():
    doc = collect_bundle(FakeScanner(), name="estatemap collect", arguments="collect")
    bundle = decode_bundle(encode_bundle(doc))
    assert bundle.reports == (full_report(),)
    assert bundle.scan.kind == "collect" and bundle.scan.status == "completed" and bundle.scan.targets == ("app01",)
    assert bundle.scan.warnings == ("processes: 3 processes had fields this user may not read",)
    assert bundle.scan.started_at <= bundle.scan.finished_at <= bundle.created_at
    assert bundle.collector["name"] == "estatemap collect" and bundle.collector["python"] == sys.version.split()[0]
    assert bundle.collector["privileged"] == (os.geteuid() == 0)


def test_the_collector_prints_this_machines_names_escaped_not_acted_on(monkeypatch, tmp_path, capsys):
    import collector.__main__ as collector_main
    import scanners.local_host

    hostile = "evil\x1b]0;owned\x07\x1b[31mred\u202e"

    class HostileScanner(FakeScanner):
        def __init__(self, **settings):
            super().__init__()
            self.watch = settings.get("watch")

        def scan(self, ctx):
            ctx.warn(f"processes: {hostile} could not be read")
            yield full_report()

    monkeypatch.setattr(scanners.local_host, "LocalHostScanner", HostileScanner)
    assert collector_main.main(["--out", str(tmp_path / "h.estate"), "-v"]) == 0
    out, err = capsys.readouterr()
    assert "evil\\x1b]0;owned\\x07\\x1b[31mred\\u202e could not be read" in err
    assert not any(c in out + err for c in "\x1b\x07\u202e")


def test_collect_bundle_interrupted_watch_is_kept_and_marked():
    doc = collect_bundle(FakeScanner(stop_after_report=True), name="t")
    assert doc["scan"]["status"] == "interrupted" and len(doc["reports"]) == 1


def test_collect_bundle_interrupted_before_the_inventory_raises():
    with pytest.raises(EstateError, match="nothing written"):
        collect_bundle(FakeScanner(stop_before_report=True), name="t")


def test_watch_settings_follow_scan_host_rules():
    assert watch_settings(None, None) == {"watch": None, "every": None}
    assert watch_settings("1h", None) == {"watch": 3600.0, "every": 300.0}
    assert watch_settings("30s", "5s") == {"watch": 30.0, "every": 5.0}
    assert watch_settings(3600, 60) == {"watch": 3600.0, "every": 60.0}  # seconds, as both faces store them
    with pytest.raises(EstateError, match="needs a watch"):
        watch_settings(None, "5m")
    with pytest.raises(EstateError, match="must not be longer"):
        watch_settings("1m", "5m")


def test_build_collector_import_graph_is_stdlib_and_psutil_only(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_collector
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert build_collector.check_imports() == []
    # A module that starts importing the store (sqlite_utils) is caught before the archive is built.
    for module in build_collector.MODULES:
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_text((ROOT / module).read_text())
    with open(tmp_path / "discovery" / "records" / "redact.py", "a") as f:
        f.write("\nimport sqlite_utils\nfrom discovery.storage.store import Store\n")
    assert build_collector.check_imports(tmp_path) == [
        "discovery/records/redact.py imports sqlite_utils, which is neither the standard library nor psutil",
        "discovery/records/redact.py imports discovery.storage.store, which is not in the collector",
    ]


# --- the command line ------------------------------------------------------------------------------------

def run(*argv):
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ESTATEMAP_DB": "/nonexistent/should-not-be-used.db"})
    return proc.returncode, proc.stdout, proc.stderr


def test_import_refuses_a_bad_bundle_in_one_line_and_imports_the_good_one(tmp_path):
    good = tmp_path / "good.estate"
    good.write_bytes(encode_bundle(make_doc()))
    bad = tmp_path / "bad.estate"
    bad.write_bytes(plain_bytes(redigest({**make_doc(), "version": 7})))
    db = tmp_path / "estate.db"
    code, out, err = run("--db", str(db), "import", str(good), str(bad))
    assert code == 1 and out.startswith("Scan 1 completed") and "1 host " in out
    errors = [line for line in err.splitlines() if line.startswith("estatemap:")]
    assert errors == ["estatemap: error: bad.estate was written by a newer Estate Mapper (bundle version 7; this "
                      "version reads bundle versions up to 1); upgrade Estate Mapper to import it"], err


def test_import_of_only_bad_files_does_not_create_the_store(tmp_path):
    bad = tmp_path / "bad.estate"
    bad.write_bytes(plain_bytes(redigest({**make_doc(), "version": 7})))
    db = tmp_path / "estate.db"
    code, out, err = run("--db", str(db), "import", str(bad), str(bad))
    assert code == 1 and out == "" and err.count("estatemap: error: bad.estate") == 2
    assert not db.exists()  # every file is checked before the store is opened


def test_collect_refuses_to_replace_a_file_without_force(tmp_path):
    target = tmp_path / "host.estate"
    target.write_text("an older bundle")
    code, _, err = run("collect", "--out", str(target))
    assert code == 1 and "exists; use --force" in err and "Traceback" not in err
    assert target.read_text() == "an older bundle"
    code, _, err = run("collect", "--out", str(tmp_path / "new.estate"), "--every", "5m")
    assert code == 1 and "--every needs --watch" in err
    code, _, err = run("collect")
    assert code == 2 and "--out" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["host.estate"]
