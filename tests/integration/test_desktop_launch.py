"""The desktop application opens on a real X11 display (Xvfb), not only offscreen: `estatemap` with no
command, as a user starts it. This catches a missing system library of Qt's xcb platform plugin, which
the offscreen GUI tests cannot see."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from discovery.storage.store import Store
from tests.builders import T0, make_report
from tests.integration.network import stop_process

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 120


@pytest.fixture
def display(tmp_path):
    """A private X server (Xvfb) on a free display number; yields ':N'. Stopped by PID."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    os.close(write)
    try:
        with os.fdopen(read) as answer:
            number = answer.readline().strip()
        assert number.isdigit(), "Xvfb did not report its display"
        yield f":{number}"
    finally:
        stop_process(xvfb)


def window_names(display: str) -> str:
    return subprocess.run(["xwininfo", "-display", display, "-root", "-tree"], capture_output=True, text=True,
                          timeout=10).stdout


@pytest.mark.integration
def test_estatemap_opens_its_main_window_on_x11(display, tmp_path):
    db = tmp_path / "site.db"
    with Store(db) as store:
        from discovery.records.model import Scan
        scan = store.start_scan(Scan(kind="host", started_at=T0))
        store.write_host_report(scan, make_report(hostname="app01"))
        store.finish_scan(scan, "completed")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=display, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    app = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--db", str(db)], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline and app.poll() is None and "Estate Mapper — site.db" not in \
                window_names(display):
            time.sleep(0.25)
        assert app.poll() is None, f"estatemap exited with {app.returncode}: {app.stderr.read()}"
        assert "Estate Mapper — site.db" in window_names(display)  # the main window, titled with the store
    finally:
        stop_process(app)
    assert "platform plugin" not in app.stderr.read()
