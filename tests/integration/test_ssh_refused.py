"""`scan ssh` to a port nobody listens on (loopback only): what a user sees when every host fails.

Runs the real program with the locked (newest allowed) asyncssh and cryptography, whose import warns
about DSA: stderr must hold only Estate Mapper's own lines.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests.builders import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def scan_ssh(db: Path, home: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home)}
    env.pop("SSH_AUTH_SOCK", None)
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "--db", str(db), *argv], capture_output=True,
                          text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)


def test_every_host_failing_is_a_failed_scan_in_estatemap_s_own_words(tmp_path):
    db = tmp_path / "estate.db"
    port = free_port()
    result = scan_ssh(db, tmp_path, "scan", "ssh", "127.0.0.1", "--port", str(port))
    assert result.returncode == 1
    assert "completed" not in result.stdout and "failed" in result.stdout
    lines = result.stderr.splitlines()
    assert lines == [f"warning: 127.0.0.1: connection refused on port {port} (no SSH server listening)",
                     "estatemap: error: scan 1 failed: no host could be collected: 127.0.0.1 "
                     "(see the warnings above)"], result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM scans").fetchall() == [("failed",)]


def test_library_deprecation_warnings_appear_only_with_verbose(tmp_path):
    probe = subprocess.run([sys.executable, "-W", "always", "-c", "import asyncssh"], capture_output=True,
                           text=True, timeout=60)
    result = scan_ssh(tmp_path / "estate.db", tmp_path, "-v", "scan", "ssh", "127.0.0.1", "--port",
                      str(free_port()))
    assert "Traceback" not in result.stderr
    for line in result.stderr.splitlines():  # every line is estatemap's, or the indented source of a logged warning
        assert line.startswith(("INFO ", "WARNING ", "warning: ", "estatemap: ", "  ")) or not line.strip(), line
    # What the installed libraries warn about at import reaches the user only through -v's logger.
    warned = "DeprecationWarning" in probe.stderr
    assert ("WARNING py.warnings:" in result.stderr) == warned
