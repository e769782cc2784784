"""The offline collector on this real machine: `estatemap collect`, the stand-alone zipapp on a Python with
only psutil, and `estatemap import` of what they write — merging, cloned machines, tampering."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import stop

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

# What the collector must not need; none may be importable where the zipapp is tested.
NOT_NEEDED = ("sqlite_utils", "defusedxml", "nmap", "openpyxl", "PySide6", "platformdirs", "tqdm", "networkx")


def estatemap(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True, timeout=300)


def export(db: Path, tmp_path: Path) -> dict:
    out = tmp_path / f"{db.stem}-{uuid.uuid4().hex[:6]}.json"
    done = estatemap("--db", str(db), "export", "--format", "json", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def read_doc(path: Path) -> dict:
    return json.loads(gzip.decompress(path.read_bytes()))


def write_doc(path: Path, doc: dict) -> None:
    """Write an edited bundle with its digest recomputed by the documented rule: SHA-256 of the sorted compact JSON."""
    content = {k: v for k, v in doc.items() if k != "sha256"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    path.write_bytes(gzip.compress(json.dumps({**content, "sha256": hashlib.sha256(canonical).hexdigest()}).encode()))


def change_one_byte(data: bytes) -> bytes:
    """Return `data` with one byte in the middle changed, in transit as it were.

    Deflate has a little slack (a few bits whose change decodes to the same content); a byte whose
    change leaves the content as it was is skipped, since that is not a change to the bundle.
    """
    original = gzip.decompress(data)
    for i in range(len(data) // 2, len(data)):
        changed = bytearray(data)
        changed[i] ^= 0x20
        try:
            if gzip.decompress(bytes(changed)) == original:
                continue
        except Exception:
            pass
        return bytes(changed)
    raise AssertionError("no byte changes the content")


def store_files(db: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(db.parent.glob(db.name + "*"))}


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> tuple[Path, int]:
    """(a bundle of this machine written by `estatemap collect`, the pid of a process with secrets that ran)."""
    path = tmp_path_factory.mktemp("collect") / "this-host.estate"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "--password=hunter2",
                             "--db-url=postgresql://emr:s3cretpw@db01/emr"])
    try:
        done = estatemap("collect", "--out", str(path))
    finally:
        stop(proc)
    assert done.returncode == 0, done.stderr
    assert f"Wrote {path}" in done.stdout and "Traceback" not in done.stderr
    return path, proc.pid


@pytest.fixture
def bundle(collected) -> Path:
    return collected[0]


def test_collect_writes_a_private_redacted_bundle_and_no_store(collected):
    bundle, secret_pid = collected
    assert oct(bundle.stat().st_mode & 0o777) == oct(0o600)
    assert not list(bundle.parent.glob("*.db*")) and not list(bundle.parent.glob(".*.tmp"))
    doc = read_doc(bundle)
    assert doc["format"] == "estatemap-bundle" and doc["version"] == 1
    assert doc["collector"]["name"] == "estatemap collect" and doc["collector"]["privileged"] == (os.geteuid() == 0)
    assert doc["scan"]["kind"] == "collect" and doc["scan"]["status"] == "completed"
    (report,) = doc["reports"]
    (secretive,) = [p for p in report["processes"] if p["pid"] == secret_pid]
    assert "--password=REDACTED" in secretive["cmdline"]
    text = gzip.decompress(bundle.read_bytes())
    assert b"hunter2" not in text and b"s3cretpw" not in text
    assert b"hunter2" not in bundle.read_bytes()


def test_collect_then_import_shows_this_machine_like_scan_host(bundle, tmp_path):
    scanned, imported = tmp_path / "scanned.db", tmp_path / "imported.db"
    assert estatemap("--db", str(scanned), "-q", "scan", "host").returncode == 0
    done = estatemap("--db", str(imported), "import", str(bundle))
    assert done.returncode == 0, done.stderr
    assert "Scan 1 completed" in done.stdout and "Traceback" not in done.stderr

    by_scan, by_bundle = export(scanned, tmp_path), export(imported, tmp_path)
    (local,), (collected,) = by_scan["hosts"], by_bundle["hosts"]
    assert collected["hostname"] == local["hostname"] == socket.gethostname()
    for key in ("cpu_cores", "cpu_logical_cores", "memory_bytes", "macs", "machine_id", "os_name", "os_version"):
        assert collected[key] == local[key], key
    assert collected["memory_bytes"] == psutil.virtual_memory().total
    assert len(by_bundle["software"]) == len(by_scan["software"]) > 0
    assert collected["sources"] == ["bundle"] and local["sources"] == ["local"]
    (scan,) = by_bundle["scans"]
    assert scan["kind"] == "import" and scan["status"] == "completed"
    assert scan["arguments"].startswith(f"import {bundle.name} (bundle from {socket.gethostname()} collected 20")


def test_import_bundle_into_a_store_that_scanned_this_host_is_still_one_host(bundle, tmp_path):
    db = tmp_path / "estate.db"
    assert estatemap("--db", str(db), "-q", "scan", "host").returncode == 0
    done = estatemap("--db", str(db), "-v", "import", str(bundle))
    assert done.returncode == 0, done.stderr
    assert "matched on mac" in done.stderr or "matched on uuid" in done.stderr or "matched on serial" in done.stderr
    inventory = export(db, tmp_path)
    (host,) = inventory["hosts"]
    assert host["sources"] == ["bundle", "local"]
    assert [s["kind"] for s in inventory["scans"]] == ["host", "import"]


def test_cloned_machines_in_two_bundles_stay_two_hosts(bundle, tmp_path):
    """Same hostname and machine-id (a cloned VM), different MACs and addresses: never merged."""
    doc = read_doc(bundle)
    original = doc["reports"][0]["host"]
    clone = dict(original, macs=["52:54:00:c1:0e:01"], addresses=["198.51.100.77"],
                 hardware_uuid=str(uuid.uuid4()), serial=None)
    doc["reports"][0]["host"] = clone
    doc["reports"][0]["interfaces"] = [dict(i, mac="52:54:00:c1:0e:01", addresses=["198.51.100.77/24"])
                                       for i in doc["reports"][0]["interfaces"] if i["mac"]][:1]
    cloned = tmp_path / "clone.estate"
    write_doc(cloned, doc)
    db = tmp_path / "estate.db"
    done = estatemap("--db", str(db), "import", str(bundle), str(cloned))
    assert done.returncode == 0, done.stderr
    hosts = export(db, tmp_path)["hosts"]
    assert len(hosts) == 2
    assert {h["hostname"] for h in hosts} == {original["hostname"]}
    assert {h["machine_id"] for h in hosts} == {original["machine_id"]}
    assert sorted(h["macs"] for h in hosts) == sorted([original["macs"], ["52:54:00:c1:0e:01"]])


def test_tampered_bundle_is_refused_and_the_store_is_unchanged(bundle, tmp_path):
    db = tmp_path / "estate.db"
    assert estatemap("--db", str(db), "-q", "scan", "host").returncode == 0
    before = store_files(db)

    damaged = tmp_path / "damaged.estate"
    damaged.write_bytes(change_one_byte(bundle.read_bytes()))
    edited = tmp_path / "edited.estate"
    doc = read_doc(bundle)
    doc["reports"][0]["host"]["memory_bytes"] *= 2  # a value changed, the digest left as it was
    edited.write_bytes(gzip.compress(json.dumps(doc).encode()))

    for path in (damaged, edited):
        done = estatemap("--db", str(db), "import", str(path))
        assert done.returncode == 1
        assert done.stderr.startswith(f"estatemap: error: {path.name} is tampered or damaged")
        assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
        assert store_files(db) == before
    assert len(export(db, tmp_path)["scans"]) == 1


@pytest.fixture(scope="module")
def psutil_only_python(tmp_path_factory) -> Path:
    """A fresh virtual environment holding psutil and nothing else (psutil copied from this one: no network)."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    shutil.copytree(Path(psutil.__file__).parent, Path(site) / "psutil")
    return python


def bare_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}


def test_zipapp_runs_on_a_python_with_only_psutil_and_its_bundle_imports(psutil_only_python, tmp_path):
    pyz = tmp_path / "estatemap-collector.pyz"
    built = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_collector.py"), "--out", str(pyz)],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr

    elsewhere = tmp_path / "elsewhere"  # not the repository: its modules must come from the archive
    elsewhere.mkdir()
    probe = subprocess.run([str(psutil_only_python), "-c", (
        "import importlib.util, json, sys\n"
        f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {list(NOT_NEEDED) + ['psutil', 'discovery']}}}))")],
        cwd=elsewhere, env=bare_env(), capture_output=True, text=True, check=True)
    found = json.loads(probe.stdout)
    assert found.pop("psutil") is True
    assert not any(found.values()), found

    out = elsewhere / "host.estate"
    run = subprocess.run([str(psutil_only_python), str(pyz), "--out", str(out), "--watch", "2s", "--every", "1s"],
                         cwd=elsewhere, env=bare_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and f"Wrote {out}" in run.stdout
    assert oct(out.stat().st_mode & 0o777) == oct(0o600)

    doc = read_doc(out)
    assert doc["collector"]["name"] == "estatemap-collector"
    assert doc["scan"]["arguments"] == "collect --watch 2s --every 1s"

    refused = subprocess.run([str(psutil_only_python), str(pyz), "--out", str(out)], cwd=elsewhere, env=bare_env(),
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "exists; use --force" in refused.stderr

    db = tmp_path / "estate.db"
    done = estatemap("--db", str(db), "import", str(out))
    assert done.returncode == 0, done.stderr
    (host,) = export(db, tmp_path)["hosts"]
    assert host["hostname"] == socket.gethostname() and host["sources"] == ["bundle"]
    assert host["memory_bytes"] == psutil.virtual_memory().total


def test_build_collector_writes_dist_with_only_the_collector_modules():
    built = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_collector.py")], capture_output=True,
                           text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    import zipfile
    with zipfile.ZipFile(ROOT / "dist" / "estatemap-collector.pyz") as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".py"))
    assert names == sorted(["__main__.py", "collector/__init__.py", "collector/__main__.py", "discovery/__init__.py",
                            "discovery/quiet.py", "discovery/terminal.py", "discovery/records/__init__.py",
                            "discovery/records/model.py", "discovery/records/redact.py", "discovery/scanning/__init__.py",
                            "discovery/scanning/sampling.py", "discovery/files/__init__.py",
                            "discovery/files/atomic_files.py", "discovery/files/bundle.py", "scanners/__init__.py",
                            "scanners/bundle_collector.py", "scanners/host_facts.py", "scanners/local_host.py",
                            "scanners/platform_software.py"])


def test_ctrl_c_during_the_watch_keeps_a_bundle_marked_interrupted(tmp_path):
    out = tmp_path / "watched.estate"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "-v", "collect", "--out", str(out),
                             "--watch", "60s", "--every", "0.5s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        log = []
        for line in proc.stderr:  # -v logs each sample; stop once the watch has taken two
            log.append(line)
            if "sample 2" in line:
                break
        proc.send_signal(signal.SIGINT)
        stdout, rest = proc.communicate(timeout=30)
    finally:
        stop(proc)
    stderr = "".join(log) + rest
    assert proc.returncode == 1, stderr
    assert "collection interrupted" in stderr and "Traceback" not in stderr and f"Wrote {out}" in stdout
    doc = read_doc(out)
    assert doc["scan"]["status"] == "interrupted"
    # Uninterrupted, the watch alone would last its full 60 s (it waits --every between its 121 samples): a
    # shorter collection is one the interrupt cut short, however slow the machine was before or after it.
    assert (datetime.fromisoformat(doc["scan"]["finished_at"]) - datetime.fromisoformat(doc["scan"]["started_at"])
            ).total_seconds() < 60
    done = estatemap("--db", str(tmp_path / "estate.db"), "import", str(out))
    assert done.returncode == 0 and "collection on" in done.stderr and "was interrupted" in done.stderr
