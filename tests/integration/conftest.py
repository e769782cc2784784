"""Fixtures that start real daemons (on loopback, or in the namespace test network) and stop them by PID."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from dataclasses import dataclass

import pytest

from tests.builders import free_port  # noqa: F401  (imported from here by the integration tests)
from tests.integration.network import test_network  # noqa: F401  (the session-wide test network)


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until 127.0.0.1:port accepts connections; fail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with status {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a process this test started, by its PID: terminate, wait, then kill."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass
class Daemon:
    proc: subprocess.Popen
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid


@pytest.fixture(scope="module")
def redis_server():
    """A real redis-server on 127.0.0.1 and a free port, without persistence."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed: run bash scripts/setup.sh --test"
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield Daemon(proc, port)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def fhir_server(tmp_path_factory):
    """A small real HTTP server answering /fhir/metadata with a CapabilityStatement; its request log on `.log`."""
    port = free_port()
    log = tmp_path_factory.mktemp("fhir") / "requests.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fhir_stub.py")), "127.0.0.1", str(port),
                                 "/fhir"], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        daemon = Daemon(proc, port)
        daemon.log = log
        yield daemon
    finally:
        stop(proc)
