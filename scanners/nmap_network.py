"""Network discovery with the real nmap binary: profiles, safe arguments, streamed results, progress and cancel.

nmap runs as a child process writing XML to its stdout; each host is handed on (and stored) as
soon as nmap finishes it. Cancel (or Ctrl-C) stops nmap by its PID — SIGINT, a short wait, then
SIGKILL — and every host finished before is kept. Targets are validated (discovery.records.targets) before
nmap starts and passed as separate arguments after every option, never through a shell.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nmap
import psutil

from discovery.storage.merge import normalise_address, normalise_mac
from discovery.records.model import EstateError, HostReport, ScanContext
from discovery.records.redact import redact_report
from discovery.records.targets import Target, TargetError, parse_targets, total_addresses
from scanners.fhir_probe import probe_report
from scanners.kinds.network import DEFAULT_MAX_RATE, DEFAULT_PROFILE  # declared with the options
from scanners.nmap_xml import RunInfo, TaskProgress, iter_nmap_xml

log = logging.getLogger(__name__)

PROFILES = ("quick", "standard", "deep")
# Ports the top-1,000 list misses that matter in hospitals: DICOM, HL7/MLLP, Orthanc, Mirth,
# and databases and brokers that often sit on their own ports.
EXTRA_PORTS = (104, 2575, 2761, 2762, 4242, 6379, 6661, 8042, 9042, 9200, 9300, 11112, 11211, 15672, 27017, 27018)
SAFE_SCRIPTS = ("ssl-enum-ciphers", "smb-protocols", "http-title", "http-server-header", "ssh2-enum-algos",
                "dicom-ping")
STATS_EVERY = "2s"
MAX_HOSTGROUP = 4
STOP_GRACE_SECONDS = 5.0
INSTALL_HINT = "nmap is not installed; install it with: sudo apt-get install nmap (Debian/Ubuntu), " \
               "sudo dnf install nmap (RHEL/Fedora), or from nmap.org (Windows, macOS)"

_PORT_SPEC = re.compile(r"^(?:[TUS]:)?\d{1,5}(?:-\d{1,5})?(?:,(?:[TUS]:)?\d{1,5}(?:-\d{1,5})?)*$")


def find_nmap() -> str:
    """Return the path of a working nmap binary; raises EstateError with install instructions if there is none.

    python-nmap runs `nmap -V` and parses the version: that part of the wrapper serves well. Its
    scanning and parsing do not (see nmap_xml), so nmap itself is run here and its XML read directly.
    """
    path = shutil.which("nmap")
    if path is None:
        raise EstateError(INSTALL_HINT)
    try:
        major, minor = nmap.PortScanner(nmap_search_path=(path,)).nmap_version()
    except nmap.PortScannerError as error:
        raise EstateError(f"{path} does not run as nmap ({str(error).strip()}); reinstall nmap") from None
    log.info("nmap %d.%d at %s", major, minor, path)
    return path


def validate_ports(spec: str) -> str:
    """Return a port spec such as `22,80,8000-8100` or `T:104,U:161` if it is valid; raises TargetError."""
    if not _PORT_SPEC.match(spec or ""):
        raise TargetError(f"{spec!r} is not a port list (example: 22,80,443,8000-8100)")
    for number in re.findall(r"\d+", spec):
        if not 0 < int(number) <= 65535:
            raise TargetError(f"port {number} is out of range (1-65535)")
    return spec


def top_tcp_ports(count: int, services_file: Path | None = None) -> list[int] | None:
    """Return nmap's `count` most common TCP ports from its nmap-services file, or None if it is not found."""
    candidates = [services_file] if services_file else [
        Path(os.path.dirname(os.path.realpath(shutil.which("nmap") or "/usr/bin/nmap"))).parent / "share/nmap/nmap-services",
        Path("/usr/share/nmap/nmap-services"), Path("/usr/local/share/nmap/nmap-services")]
    for path in candidates:
        if path and path.is_file():
            ranked = []
            for line in path.read_text(errors="replace").splitlines():
                fields = line.split()
                if len(fields) >= 3 and not line.startswith("#") and fields[1].endswith("/tcp"):
                    try:
                        ranked.append((float(fields[2]), int(fields[1].split("/")[0])))
                    except ValueError:
                        continue
            return [port for _, port in sorted(ranked, key=lambda r: (-r[0], r[1]))[:count]]
    return None


def is_privileged() -> bool:
    """Return whether raw-packet scans (SYN scan, OS detection) are possible: root on POSIX."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass(frozen=True)
class NmapPlan:
    """The exact nmap command a scan will run, and what the user should be told about it."""
    binary: str
    options: tuple[str, ...]
    targets: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def argv(self) -> list[str]:
        return [self.binary, *self.options, *self.targets]

    @property
    def display(self) -> str:
        return " ".join(["nmap", *self.options, *self.targets])


def build_plan(targets: list[Target], *, profile: str = DEFAULT_PROFILE, ports: str | None = None,
               excludes: list[Target] = (), max_rate: int | None = DEFAULT_MAX_RATE,
               privileged: bool | None = None, binary: str | None = None) -> NmapPlan:
    """Return nmap's arguments for a profile; pure apart from finding nmap and its port list."""
    if profile not in PROFILES:
        raise TargetError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    privileged = is_privileged() if privileged is None else privileged
    notes = []
    # A small host group is gentler on fragile devices and lets results (and Ctrl-C's partial
    # results) arrive group by group instead of all at the end.
    options = ["-oX", "-", "--stats-every", STATS_EVERY, "-v", "-T3", "--max-retries", "2",
               "--max-hostgroup", str(MAX_HOSTGROUP)]
    options += ["-sS"] if privileged else ["-sT"]
    if not privileged:
        notes.append("not running as root: using a TCP connect scan without OS detection")
    if ports:
        options += ["-p", validate_ports(ports)]
    elif profile == "quick":
        options += ["--top-ports", "100"]
    elif profile == "standard":
        top = top_tcp_ports(1000)
        if top is None:
            options += ["--top-ports", "1000"]
            notes.append("nmap's port list was not found: scanning its top 1,000 ports without the healthcare extras")
        else:
            options += ["-p", _compress(sorted(set(top) | set(EXTRA_PORTS)))]
    else:
        options += ["-p-"]
    if profile in ("standard", "deep"):
        options += ["-sV"]
        if privileged:
            options += ["-O", "--osscan-limit"]
    if profile == "deep":
        options += ["--script", ",".join(SAFE_SCRIPTS)]
    if max_rate is not None:  # None: no cap, only ever asked for in code; 0 is refused, not read as "none"
        if max_rate < 1:
            raise TargetError("the rate limit must be at least 1 packet per second")
        options += ["--max-rate", str(int(max_rate))]
    if targets and all(t.ip_version == 6 for t in targets):
        options += ["-6"]
    if excludes:
        options += ["--exclude", ",".join(arg for t in excludes for arg in t.nmap_args)]
    # Targets last, each one validated: none can start with '-' or hold a shell word.
    return NmapPlan(binary=binary or find_nmap(), options=tuple(options),
                    targets=tuple(arg for t in targets for arg in t.nmap_args), notes=tuple(notes))


def _compress(ports: list[int]) -> str:
    """Return sorted ports as nmap's compact spec: 1-3,5,8-9."""
    spans: list[list[int]] = []
    for port in ports:
        if spans and port == spans[-1][1] + 1:
            spans[-1][1] = port
        else:
            spans.append([port, port])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


def _prctl():
    """Return libc's prctl, resolved in the parent (the child between fork and exec only calls it), or None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()
PR_SET_PDEATHSIG = 1


def end_with_parent() -> None:
    """In the child before exec: have Linux send SIGTERM when the parent dies, even by SIGKILL.

    Without it, nmap started in its own session keeps scanning after a killed estatemap, until it next
    writes to the closed pipe.
    """
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def stop_process(proc: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> None:
    """Stop a child we started, by its PID: SIGINT, wait, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass


def this_machine() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return this machine's (addresses, MACs) as `scan host` identifies it: no loopback or link-local ones."""
    found = [(a.family, a.address) for addrs in psutil.net_if_addrs().values() for a in addrs]
    addresses = dict.fromkeys(filter(None, (normalise_address(address) for family, address in found
                                            if family in (socket.AF_INET, socket.AF_INET6))))
    macs = dict.fromkeys(filter(None, (normalise_mac(address) for family, address in found if family == psutil.AF_LINK)))
    return tuple(addresses), tuple(macs)


def as_this_machine(report: HostReport) -> HostReport:
    """Return `report` as this machine's when nmap reached it only on loopback addresses.

    127.0.0.1 answers from the machine running the scan: the report gets this machine's addresses, MACs and
    host name (before the loopback address nmap reached, which is kept: `scan resume` skips it), so it merges
    with the host `scan host` stored (and `scan host` later merges into it) instead of becoming a second host
    called "localhost".
    """
    host = report.host
    if not host.addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in host.addresses):
        return report
    addresses, macs = this_machine()
    name = socket.gethostname() or host.hostname
    return dataclasses.replace(report, host=dataclasses.replace(
        host, hostname=name, hostnames=tuple(dict.fromkeys(filter(None, (name, *host.hostnames)))),
        addresses=(*addresses, *host.addresses), macs=tuple(dict.fromkeys((*host.macs, *macs)))))


class NmapNetworkScanner:
    """`estatemap scan network`: runs nmap on validated targets and yields a HostReport per host."""

    kind = "network"

    def __init__(self, targets: list[str], *, profile: str = DEFAULT_PROFILE, ports: str | None = None,
                 excludes: list[str] = (), max_rate: int | None = DEFAULT_MAX_RATE, privileged: bool | None = None):
        self.parsed = parse_targets(targets)
        self.excluded = parse_targets(excludes) if excludes else []
        # nmap scans IPv4 or IPv6 in one run, not both: one plan per family, run one after the other.
        families = [[t for t in self.parsed if t.ip_version != 6], [t for t in self.parsed if t.ip_version == 6]]
        self.plans = [build_plan(family, profile=profile, ports=ports, max_rate=max_rate, privileged=privileged,
                                 excludes=[x for x in self.excluded if x.ip_version in (None, 6 if six else 4)])
                      for six, family in enumerate(families) if family]
        # FHIR needs a version-detected HTTP service: standard and deep only.
        self.probe_fhir = profile != "quick"

    @property
    def address_count(self) -> int:
        """How many addresses nmap will look at (exclusions are assumed to lie inside the targets)."""
        return max(1, total_addresses(self.parsed) - total_addresses(self.excluded))

    @property
    def arguments(self) -> str:
        return " ; ".join(plan.display for plan in self.plans)

    @property
    def origin_addresses(self) -> tuple[str, ...]:
        """This machine's own addresses: nmap's probes come from them."""
        return tuple(sorted({a.address.split("%")[0] for addrs in psutil.net_if_addrs().values() for a in addrs
                             if a.family in (socket.AF_INET, socket.AF_INET6)}))

    def targets(self) -> tuple[str, ...]:
        return tuple(t.text for t in self.parsed)

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]:
        progress = {"total": self.address_count, "done": 0, "up": 0, "started": time.monotonic()}
        for plan in self.plans:
            for note in plan.notes:
                if note not in ctx.warnings:
                    ctx.warn(note)
            yield from self._run(plan, ctx, progress)

    def _run(self, plan: NmapPlan, ctx: ScanContext, progress: dict) -> Iterator[HostReport]:
        """Run one nmap; yield each host as nmap finishes it; raise EstateError if nmap fails."""
        run = RunInfo()
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(plan.argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                    bufsize=0, start_new_session=True,
                                    preexec_fn=end_with_parent if _PRCTL is not None else None)
            watcher = threading.Thread(target=self._stop_on_cancel, args=(proc, ctx), daemon=True)
            watcher.start()
            phase = "starting"
            try:
                for event in iter_nmap_xml(proc.stdout, source="nmap", run=run):
                    if isinstance(event, TaskProgress):
                        phase = event.task if event.percent is None else f"{event.task} {event.percent:.0f}%"
                        if event.remaining_seconds:
                            phase += f", about {event.remaining_seconds} s left"
                    else:
                        progress["done"] += 1
                        if isinstance(event, HostReport):
                            progress["up"] += 1
                            # NSE output can quote secrets (a page title, a header): redacted before it is stored.
                            report = probe_report(event) if self.probe_fhir else event  # probes the address nmap used
                            yield redact_report(as_this_machine(report))
                    ctx.report(min(progress["done"], progress["total"]), progress["total"],
                               f"{progress['up']} up; {phase}; {time.monotonic() - progress['started']:.0f} s")
                    ctx.check_cancelled()
                proc.wait()
                ctx.check_cancelled()
            finally:
                stop_process(proc)
            if proc.returncode != 0 or run.exit == "error":
                stderr.seek(0)
                message = stderr.read().decode(errors="replace").strip().splitlines()
                raise EstateError("nmap failed: " + (run.error or (message[-1] if message else
                                                                    f"exit status {proc.returncode}")))
            if not run.complete:
                raise EstateError("nmap's output ended early; the hosts finished before are kept")

    @staticmethod
    def _stop_on_cancel(proc: subprocess.Popen, ctx: ScanContext) -> None:
        while proc.poll() is None:
            if ctx.wait_cancelled(0.2):
                log.info("cancel requested: stopping nmap (pid %d)", proc.pid)
                stop_process(proc)
                return
