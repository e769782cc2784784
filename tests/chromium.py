"""Headless Chromium (Debian's `chromium`) for the report's tests and its screenshot: print a page to PDF, take a
PNG, and say what the page tried to fetch and what it wrote to the console.

Every request Chromium makes goes through a recording proxy on a loopback port that answers none of them (so
nothing leaves the machine, and a fetch the page makes is caught by name); its console reaches stderr through
--enable-logging. Chromium, its helpers and their process group are ended by the group's id on a timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

TIMEOUT = 90  # seconds for one Chromium run
# Chromium's own background requests (component updates, network time, sign-in), not the page's.
BROWSER_HOSTS = ("google.com", "googleapis.com", "gvt1.com", "googleusercontent.com")
QUIET = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-extensions", "--disable-default-apps", "--disable-domain-reliability",
         "--disable-client-side-phishing-detection", "--disable-breakpad", "--metrics-recording-only",
         "--password-store=basic", "--force-device-scale-factor=1",
         "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate,MediaRouter,"
         "AutofillServerCommunication,CertificateTransparencyComponentUpdater,DialMediaRouteProvider"]


def find_chromium() -> str:
    """Return Chromium's path; raise AssertionError naming the setup script when it is missing."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is not installed: run bash scripts/setup.sh --test"
    return path


@dataclass
class Run:
    """What one Chromium run did: its exit status, the console lines of the page, the requests it made."""
    returncode: int
    stderr: str
    requests: list[str] = field(default_factory=list)
    stdout: str = ""  # what --dump-dom printed: the page's DOM after it loaded

    @property
    def console(self) -> list[str]:
        """The page's console messages (uncaught errors, CSP refusals, failed loads), one a line."""
        return [line for line in self.stderr.splitlines() if ":CONSOLE" in line]

    @property
    def page_requests(self) -> list[str]:
        """The requests that were not Chromium's own background traffic: what the page tried to fetch."""
        return [r for r in self.requests if not any(_host(r) == h or _host(r).endswith("." + h) for h in BROWSER_HOSTS)]


def _host(request_line: str) -> str:
    """Return the host a proxy request line names: CONNECT host:443 or GET http://host/path."""
    parts = request_line.split()
    target = parts[1] if len(parts) > 1 else ""
    target = re.sub(r"^[a-z]+://", "", target)
    return target.split("/", 1)[0].rsplit(":", 1)[0].lower()


class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 that writes down each request's first line and closes the connection."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.requests: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    head = conn.recv(8192)
                except OSError:
                    continue
                if head:
                    self.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1"))

    def close(self) -> None:
        self.server.close()
        self.thread.join(5)


def run_chromium(page: Path, *outputs: str, window: tuple[int, int] = (1280, 1800), timeout: int = TIMEOUT) -> Run:
    """Load `page` (a file) in headless Chromium with the given output flags (--print-to-pdf=..., --screenshot=..., --dump-dom)
    through a recording proxy; return what happened. Raises subprocess.TimeoutExpired after `timeout` seconds,
    having ended Chromium's process group."""
    proxy = RecordingProxy()
    with tempfile.TemporaryDirectory(prefix="estatemap-chromium-") as profile:
        argv = [find_chromium(), *QUIET, f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}",
                f"--proxy-server=http://127.0.0.1:{proxy.port}", "--proxy-bypass-list=<-loopback>",
                "--enable-logging=stderr", "--v=0", *outputs, page.resolve().as_uri()]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                env={**os.environ, "HOME": profile})
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this run started: Chromium and its helpers
            proc.communicate()
            raise
        finally:
            proxy.close()
    return Run(proc.returncode, stderr, proxy.requests, stdout)


def pdf_page_count(data: bytes) -> int:
    """Return the number of pages of a PDF as Chromium writes it (its page tree's /Count)."""
    counts = [int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", data)]
    counts += [int(n) for n in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", data)]
    return max(counts) if counts else len(re.findall(rb"/Type\s*/Page\b", data))
