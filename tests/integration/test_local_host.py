"""Integration tests: LocalHostScanner against this real machine, with a real redis-server it starts.

Runs as root (the suite's setting). The redis-server listens on 127.0.0.1 only and is stopped by
its PID; the test's own client connection stays on loopback.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from discovery.records.model import ScanContext
from scanners.local_host import LocalHostScanner

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def redis(redis_server):
    """The real redis-server of conftest, as (process, port)."""
    return redis_server.proc, redis_server.port


@pytest.fixture(scope="module")
def scanned(redis):
    """Scan this machine once while this test process holds a connection to redis.

    Yields (report, ctx, the client socket's local port, seconds the scan took).
    """
    proc, port = redis
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"PING\r\n")
        assert client.recv(64) == b"+PONG\r\n"        # accepted and established on both ends
        ctx = ScanContext()
        started = time.monotonic()
        reports = list(LocalHostScanner().scan(ctx))
        seconds = time.monotonic() - started
        assert len(reports) == 1
        yield reports[0], ctx, client.getsockname()[1], seconds


def test_scan_finds_listening_redis_service(redis, scanned):
    proc, port = redis
    report = scanned[0]
    matches = [s for s in report.services if s.port == port and s.protocol == "tcp"]
    assert len(matches) == 1
    service = matches[0]
    assert (service.state, service.process, service.pid, service.address) == \
        ("listening", "redis-server", proc.pid, "127.0.0.1")


def test_scan_finds_redis_database_with_its_version(redis, scanned):
    proc, port = redis
    printed = subprocess.run([shutil.which("redis-server"), "--version"], capture_output=True, text=True, timeout=10, check=True).stdout
    expected = re.search(r"\bv=(\d+(?:\.\d+)+)", printed).group(1)
    databases = [d for d in scanned[0].databases if d.port == port]
    assert [(d.engine, d.version, d.pid, d.process, d.protocol) for d in databases] == \
        [("redis", expected, proc.pid, "redis-server", "tcp")]


def test_scan_sees_both_ends_of_the_test_connection(redis, scanned):
    proc, port = redis
    report, _, client_port, _ = scanned
    outbound = [c for c in report.connections if c.local_port == client_port and c.remote_port == port]
    assert len(outbound) == 1
    out = outbound[0]
    assert (out.direction, out.pid, out.protocol, out.remote_address, out.local_address, out.state) == \
        ("outbound", os.getpid(), "tcp", "127.0.0.1", "127.0.0.1", "ESTABLISHED")
    inbound = [c for c in report.connections if c.local_port == port and c.remote_port == client_port]
    assert len(inbound) == 1
    assert (inbound[0].direction, inbound[0].pid, inbound[0].process) == ("inbound", proc.pid, "redis-server")


def test_scan_hardware_and_names_match_the_machine(scanned):
    host = scanned[0].host
    assert host.cpu_logical_cores == os.cpu_count()
    with open("/proc/meminfo") as f:
        mem_total_kib = int(re.search(r"^MemTotal:\s+(\d+) kB$", f.read(), re.M).group(1))
    assert host.memory_bytes == mem_total_kib * 1024
    assert host.hostname == socket.gethostname()
    assert host.os_family == "linux" and host.os_id is not None
    assert host.boot_time is not None and host.boot_time.tzinfo is not None
    assert host.source == "local" and host.observed_at == scanned[1].started_at


def test_scan_lists_redis_package_and_process(redis, scanned):
    proc, port = redis
    report = scanned[0]
    assert any(s.name == "redis-server" and s.source == "dpkg" and s.version for s in report.software)
    redis_processes = [p for p in report.processes if p.pid == proc.pid]
    assert len(redis_processes) == 1
    assert redis_processes[0].name == "redis-server"
    assert str(port) in redis_processes[0].cmdline


def denied_even_as_root() -> set[int]:
    """PIDs whose executable link or command line root cannot read (independently of psutil)."""
    denied = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        for read in (lambda: os.readlink(f"/proc/{entry}/exe"), lambda: open(f"/proc/{entry}/cmdline", "rb").read()):
            try:
                read()
            except PermissionError:
                denied.add(int(entry))
            except OSError:
                pass  # gone, or a kernel thread without an executable
    return denied


def test_scan_as_root_does_not_warn_and_names_what_root_cannot_read_at_verbose(caplog):
    """As root a denied field is nobody's to fix (another container's init hides its exe): no warning on every
    run; -v (INFO) names each such process and field."""
    assert os.geteuid() == 0, "this test checks a root scan: run the integration tests as root"
    before = denied_even_as_root()
    with caplog.at_level(logging.INFO, logger="scanners.local_host"):
        ctx = ScanContext()
        (report,) = list(LocalHostScanner().scan(ctx))
    stable = before & denied_even_as_root()  # processes come and go while the scan runs
    assert not [w for w in ctx.warnings if w.startswith("processes:")], ctx.warnings
    named = {int(m.group(1)) for r in caplog.records
             if "could not be read even as root" in r.getMessage() and (m := re.search(r"\(pid (\d+)\)", r.getMessage()))}
    # On this test VM PID 1 hides its exe even from root; a machine without such a process names none.
    assert stable <= named <= {p.pid for p in report.processes}, (sorted(stable), sorted(named))



def test_scan_is_quick_and_reports_progress(redis):
    progress = []
    ctx = ScanContext(progress=lambda done, total, message: progress.append((done, total)))
    started = time.monotonic()
    list(LocalHostScanner().scan(ctx))
    # "Quick" as a promise means bounded: every command the scan runs has its own timeout of a few seconds, so
    # only a hang could take minutes. The bound catches that; it is not a speed measurement (which load skews).
    assert time.monotonic() - started < 120
    assert progress == [(i, 7) for i in range(1, 8)]
