"""`estatemap scan passive`: listen on an interface (a switch's mirror/SPAN port, a TAP) and learn from the traffic
what `estatemap import capture.pcap` learns from a file. Nothing is ever sent.

The capture itself is done by the standard capture tool, run as a separate process — tcpdump, or Wireshark's
dumpcap where tcpdump is missing — writing a ring buffer of pcap files in a private temporary folder: the tool
never waits for the parser, and the disk it uses is bounded (RING_FILES × RING_FILE_MB). The files are read as they
grow (our own few lines for pcap's record headers: dpkt's reader takes a short read for the end of the file, which a
growing file is not) and every frame goes through the same engine as an import (scanners.passive_capture).
Progress says packets, flows, hosts and time; Ctrl-C or cancel stops the capture and keeps everything seen.
The folder is removed at the end: no packet outlives the scan.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from discovery.records.model import EstateError, HostReport, ScanContext
from scanners.capture_files import MAX_FRAME, PCAP_MAGICS, checked_time
from scanners.passive_capture import CaptureReader, capture_warnings

log = logging.getLogger(__name__)

RING_FILES = 8               # files in the ring buffer
RING_FILE_MB = 16            # each at most this many megabytes (tcpdump's -C unit: 1,000,000 bytes)
READ_CHUNK = 4 << 20         # bytes of a ring file read at once (then cancel and progress are looked at again)
POLL_SECONDS = 0.25          # how often the ring is read while the capture runs
START_SECONDS = 15.0         # how long the tool may take to say it is listening
STOP_SECONDS = 5.0           # how long it gets to finish its files after SIGTERM, before SIGKILL
TOOLS = ("tcpdump", "dumpcap")
_GLOBAL_HEADER = 24
_RECORD_HEADER = 16
_PERMISSION = re.compile(r"permission|not permitted|operation not permitted|you don't have", re.I)
_NO_DEVICE = re.compile(r"no such device|doesn't exist|there is no device|no suitable device", re.I)


def find_tool(preferred: str | None = None) -> tuple[str, str]:
    """(name, path) of the capture tool to run: `preferred`, else tcpdump, else dumpcap."""
    for name in (preferred,) if preferred else TOOLS:
        if path := shutil.which(name) or next((p for d in ("/usr/sbin", "/sbin", "/usr/bin")
                                               if os.access(p := f"{d}/{name}", os.X_OK)), None):
            return name, path
    wanted = preferred or "tcpdump or dumpcap (Wireshark)"
    raise EstateError(f"a live capture needs {wanted}: install it (Debian/Ubuntu: apt install tcpdump)")


def interfaces() -> list[str]:
    """The names of this machine's network interfaces."""
    import psutil
    return sorted(psutil.net_if_stats())


def rights_message(interface: str, tool: str, path: str) -> str:
    """The one line that says what to grant when the tool may not capture."""
    grant = (f"add your account to the wireshark group (sudo usermod -aG wireshark $USER, then log in again)"
             if tool == "dumpcap" else f"grant the capture tool the right once: sudo setcap "
                                       f"cap_net_raw,cap_net_admin=eip {path}")
    return f"capturing on {interface} needs capture rights: run Estate Mapper as root, or {grant}"


@dataclass(slots=True)
class _RingFile:
    """Where reading one file of the ring has got to."""
    path: Path
    offset: int = 0
    order: str | None = None   # the byte order and time unit from its header, once read
    unit: float = 1e-6
    link: int = 1
    broken: bool = False       # not a pcap file, or damaged: the rest of it is skipped


class RingReader:
    """Read a capture tool's ring buffer of pcap files, in order, while the tool writes it.

    tcpdump (-C/-W) names its files capture.pcap0 … capture.pcap7 and, once round, truncates and rewrites them;
    dumpcap (-b files:N) names them capture_00001_<time>.pcap upwards and deletes the oldest. A file is finished
    when the next one has been started: only then is what is left of it read and the next one opened. A reader
    that fell a whole ring behind (its file rewritten or deleted under it) says so (once) and carries on."""

    def __init__(self, folder: Path, tool: str, reader: CaptureReader, ctx: ScanContext | None = None):
        self.folder, self.tool, self.reader, self.ctx = folder, tool, reader, ctx
        self.index = 0
        self.current: _RingFile | None = None
        self.finished: dict[int, int] = {}     # tcpdump: ring slot -> its mtime when it was finished
        self.behind = False                    # the tool rewrote a file before it was read (said once)

    def _path(self, index: int) -> Path | None:
        if self.tool == "tcpdump":
            width = len(str(RING_FILES - 1))
            return self.folder / f"capture.pcap{index % RING_FILES:0{width}d}"
        found = sorted(self.folder.glob(f"capture_{index + 1:05d}_*.pcap"))
        return found[0] if found else None

    def _started(self, index: int) -> Path | None:
        """The ring file `index` once the tool has begun writing it (this lap's, not the last lap's)."""
        path = self._path(index)
        try:
            stat = path.stat() if path is not None else None
        except OSError:
            return None
        if stat is None:
            return None
        slot = index % RING_FILES
        if self.tool == "tcpdump" and slot in self.finished and stat.st_mtime_ns <= self.finished[slot]:
            return None  # still the last lap's file, already read
        return path

    def drain(self) -> None:
        """Read every whole record the tool has written so far, going on to each file it has started since."""
        for _ in range(RING_FILES * 4):  # bounded: a ring has RING_FILES files to go round
            if self.current is None:
                path = self._started(self.index)
                if path is None:
                    return
                self.current = _RingFile(path)
            following = self._started(self.index + 1)  # looked for first: what the current file holds is then whole
            self._read(self.current)
            if following is None:
                return
            self._next()

    def _next(self) -> None:
        try:
            self.finished[self.index % RING_FILES] = self.current.path.stat().st_mtime_ns
        except OSError:
            pass
        self.index += 1
        self.current = None

    def _read(self, ring: _RingFile) -> None:
        """Fold the whole records of `ring` past its offset into the reader (a record being written waits)."""
        if ring.broken:
            return
        try:
            with open(ring.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < ring.offset:  # rewritten under us: the tool went round the ring faster than we read
                    self._warn_lost()
                    ring.offset, ring.order = 0, None
                f.seek(ring.offset)
                for _ in range((size - ring.offset) // READ_CHUNK + 2):  # bounded by the size when opened
                    data = f.read(READ_CHUNK)
                    used = self._records(ring, data) if data else None
                    if not used:
                        return
                    ring.offset += used
                    f.seek(ring.offset)
        except FileNotFoundError:  # dumpcap deleted it: a whole ring behind; on from its oldest file
            self._warn_lost()
            later = [number - 1 for p in self.folder.glob("capture_*.pcap")
                     if (m := re.match(r"capture_(\d+)_", p.name)) and (number := int(m.group(1))) > self.index + 1]
            self.index, self.current = min(later, default=self.index + 1), None

    def _records(self, ring: _RingFile, data: bytes) -> int | None:
        """Fold the whole records at the start of `data`; return the bytes used (None: the file is unusable)."""
        used = 0
        if ring.order is None:
            if len(data) < _GLOBAL_HEADER:
                return 0
            if data[:4] not in PCAP_MAGICS:
                self._warn(f"{ring.path.name} is not a pcap file; skipped")
                ring.broken = True
                return None
            ring.order, ring.unit = PCAP_MAGICS[data[:4]]
            ring.link = struct.unpack(ring.order + "I", data[20:24])[0] & 0x0FFFFFFF
            used = _GLOBAL_HEADER
        header = struct.Struct(ring.order + "IIII")
        while len(data) - used >= _RECORD_HEADER:
            seconds, fraction, length, _original = header.unpack_from(data, used)
            if length > MAX_FRAME:
                self._warn(f"{ring.path.name} is damaged after {self.reader.packets:,} packets; the rest of it "
                           "is skipped")
                ring.broken = True
                return None
            end = used + _RECORD_HEADER + length
            if end > len(data):
                break
            when = checked_time(seconds + fraction * ring.unit)
            self.reader.packet(when if when is not None else self.reader.last, data[used + _RECORD_HEADER:end],
                               ring.link)
            used = end
        return used

    def _warn(self, message: str) -> None:
        if self.ctx is not None:
            self.ctx.warn(message)

    def _warn_lost(self) -> None:
        if self.behind:
            return
        self.behind = True
        self._warn("the capture went round its ring buffer faster than it could be read: some traffic was not "
                   "read (a busier link than this machine can follow; capture less with a narrower mirror)")


class PassiveScanner:
    """Listen on `interface` for `duration` seconds through tcpdump or dumpcap (see the module docstring)."""

    kind = "passive"

    def __init__(self, interface: str, duration: float, *, tool: str | None = None, ring_file_mb: int = RING_FILE_MB):
        if not interface:
            raise EstateError("name the interface to listen on (the one cabled to the mirror port), e.g. "
                              "--interface eth1")
        if duration <= 0:
            raise EstateError("the capture needs a positive duration, e.g. --duration 1h")
        if interface not in interfaces():
            raise EstateError(f"there is no interface {interface} here (interfaces: {', '.join(interfaces())})")
        self.interface, self.duration = interface, float(duration)
        self.tool, self.tool_path = find_tool(tool)
        self.ring_file_mb = ring_file_mb
        self.reader = CaptureReader()
        self.resume_options = {"interface": interface, "duration": self.duration}

    @property
    def arguments(self) -> str:
        return (f"passive capture on {self.interface} for {_clock(self.duration)} with {self.tool} "
                "(listening only: nothing sent)")

    def targets(self) -> tuple[str, ...]:
        return (self.interface,)

    def command(self, folder: Path) -> list[str]:
        """The capture tool's command line: promiscuous (a mirror port's frames are for other MACs), a ring of
        pcap files, packets written as they come."""
        if self.tool == "dumpcap":
            return [self.tool_path, "-i", self.interface, "-q", "-P", "-w", str(folder / "capture.pcap"),
                    "-b", f"filesize:{self.ring_file_mb * 1000}", "-b", f"files:{RING_FILES}"]
        argv = [self.tool_path, "-i", self.interface, "-n", "-U", "-w", str(folder / "capture.pcap"),
                "-C", str(self.ring_file_mb), "-W", str(RING_FILES)]
        if os.geteuid() == 0:
            argv += ["-Z", "root"]  # Debian's tcpdump drops to its own user, which may not write our private folder
        return argv

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]:
        folder = Path(tempfile.mkdtemp(prefix="estatemap-capture-"))
        failure = None
        try:
            tool = _Tool(self.command(folder), self)
            ring = RingReader(folder, self.tool, self.reader, ctx)
            log.info("listening on %s with %s (PID %d), for %s", self.interface, self.tool, tool.process.pid,
                     _clock(self.duration))
            try:
                failure = self._listen(tool, ring, ctx)
            finally:
                tool.stop()
                ring.drain()
                tool.warn_drops(ctx)
            yield from capture_warnings(self.reader, f"the capture on {self.interface}", ctx)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if failure:
            raise EstateError(failure)  # after the hosts seen until then are kept
        ctx.check_cancelled()  # stopped early: what was seen is kept, and the scan marked interrupted

    def _listen(self, tool: _Tool, ring: RingReader, ctx: ScanContext) -> str | None:
        """Read the ring until the duration is over or the scan is cancelled; the tool's last words if it died."""
        started = time.monotonic()
        ticks, reported = int(self.duration / POLL_SECONDS) + 2, -1
        try:
            for _ in range(ticks):  # bounded by the duration
                elapsed = time.monotonic() - started
                if elapsed >= self.duration or ctx.wait_cancelled(min(POLL_SECONDS, self.duration - elapsed)):
                    return None
                ring.drain()
                if tool.stopped():
                    return f"{self.tool} stopped capturing on {self.interface}: {tool.last_words()}"
                if int(elapsed) != reported:  # once a second
                    reported = int(elapsed)
                    ctx.report(min(reported, int(self.duration)), int(self.duration),
                               f"{self.reader.progress()}, {_clock(elapsed)} of {_clock(self.duration)}")
        except KeyboardInterrupt:
            ctx.cancel()
        return None


class _Tool:
    """The capture tool's process: started in its own session (Ctrl-C reaches us, and we stop it), its standard
    error kept (the last lines) to say why it failed."""

    def __init__(self, argv: list[str], scanner: PassiveScanner):
        self.scanner = scanner
        self.lines: collections.deque[str] = collections.deque(maxlen=20)
        self.listening = threading.Event()
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
        self.started = False
        self.reader = threading.Thread(target=self._read_errors, daemon=True)
        self.reader.start()
        self.listening.wait(START_SECONDS)
        if not self.started:
            self.stop()
            raise EstateError(self._why_not())

    def _read_errors(self) -> None:
        for line in self.process.stderr:
            line = line.strip()
            if line:
                self.lines.append(line[:300])
            if "listening on" in line or "Capturing on" in line:
                self.started = True
                self.listening.set()
        self.listening.set()  # the tool is gone: whoever waits stops waiting

    def _why_not(self) -> str:
        scanner, said = self.scanner, " ".join(self.lines)
        if _PERMISSION.search(said):
            return rights_message(scanner.interface, scanner.tool, scanner.tool_path)
        if _NO_DEVICE.search(said):
            return f"{scanner.tool} cannot capture on {scanner.interface}: no such interface"
        return f"{scanner.tool} could not start capturing on {scanner.interface}: {self.last_words()}"

    def stopped(self) -> bool:
        return self.process.poll() is not None

    def last_words(self) -> str:
        return self.lines[-1] if self.lines else f"exit status {self.process.returncode}"

    def stop(self) -> None:
        """SIGTERM (the tool closes its files), then SIGKILL after STOP_SECONDS; by PID, only our own child."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_SECONDS)
        self.reader.join(STOP_SECONDS)

    def warn_drops(self, ctx: ScanContext) -> None:
        """The kernel's or the tool's dropped packets, as a warning: the inventory may miss what they held."""
        said = " ".join(self.lines)
        dropped = [int(n) for n in re.findall(r"(\d+) packets? dropped by kernel", said)]
        dropped += [int(n) for n in re.findall(r"received/dropped on interface '[^']*': \d+/(\d+)", said)]
        if sum(dropped):
            ctx.warn(f"{sum(dropped):,} packets were dropped before {self.scanner.tool} could keep them (a busy "
                     "link): hosts and flows they alone carried are missing")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
