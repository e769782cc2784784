"""Recordings of real SNMP agents (tests/data/snmp_recordings/, from snmpsim-data) served by snmpsim on loopback,
and a reader for the same files, so a test compares what the scanner reports with what the device said.

    recording = read_snmprec(RECORDINGS / "cisco-c3750.snmprec.bz2")   # {oid: (tag, value)}
    rows = column(recording, "1.3.6.1.2.1.2.2.1.2")                     # {(1,): b"Vl1", ...}  ifDescr
    with snmpsim_agent() as agents:                                      # every recording, one process
        ... scan snmp 127.0.0.1 --port agents.port, community agents.communities["cisco-c3750"] ...

snmpsim (BSD-2-Clause, lextudio's line) answers v1/v2c with the recording whose path under --data-dir, without
its extension, is the community ("cisco-c3750"; "switch/cisco-c3750" in a sub-directory). `snmpsim_agent`
copies the recordings into a temporary folder (decompressed: snmpsim reads .bz2 too, but seeks in them, which
makes a switch's walk 3-6 times slower), runs snmpsim's command responder (the `snmpsim-command-responder`
console script's entry point, through RESPONDER below) as a process of its own, waits (bounded) until it answers
a GET, and stops it by PID. Only loopback addresses are accepted; the responder also stops by itself after
`lifetime` seconds.
"""

from __future__ import annotations

import asyncio
import bz2
import contextlib
import importlib.util
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.integration.network import stop_process

RECORDINGS = Path(__file__).resolve().parent / "data" / "snmp_recordings"
# snmpsim 1.2 imports pysmi only to print its version in a banner, and no longer declares it (lextudio/snmpsim
# f63b92d made pysmi optional). Installing pysmi is no fix: with it, pysnmp builds a MIB compiler for every
# engine, so the scanner under test would run another code path, at twice the CPU, than the one users run.
# So the console script's entry point runs with a stand-in `pysmi` that carries only that version.
RESPONDER = """
import sys, types
try:
    import pysmi
except ImportError:
    sys.modules["pysmi"] = types.ModuleType("pysmi", "stand-in: snmpsim prints pysmi.__version__ in its banner")
    sys.modules["pysmi"].__version__ = "(not installed)"
from snmpsim.commands.responder import main
sys.argv[0] = "snmpsim-command-responder"
sys.exit(main())
"""
EXTENSIONS = (".snmprec.bz2", ".snmprec")
START_SECONDS = 120.0        # indexing every recording and binding the port, at most
LIFETIME = 1800.0            # the responder exits by itself after this, whatever happens
PROBE_TIMEOUT = 0.5

# snmprec tags (snmpsim's grammar: the sum of the type's ASN.1 tag bytes); "x" after a tag means hex, "e" escaped
OCTET_STRING, INTEGER, NULL, OBJECT_ID, IP_ADDRESS, OPAQUE = "4", "2", "5", "6", "64", "68"
NUMBERS = {"2", "65", "66", "67", "70"}   # Integer32, Counter32, Gauge32, TimeTicks, Counter64


# --- reading a recording ------------------------------------------------------------------------------

def read_snmprec(path: Path) -> dict[str, tuple[str, object]]:
    """Return {oid: (tag, value)} of an .snmprec or .snmprec.bz2 file: lines `OID|TAG|VALUE`, `#` comments.
    Values: bytes for OCTET STRING and Opaque, int for Integer/Counter/Gauge/TimeTicks, str for OIDs and
    IpAddress (dotted), None for Null; a tag carrying a variation module ("2:numeric") keeps its raw text.
    Raises ValueError on a line that is not OID|TAG|VALUE."""
    opener = bz2.open if str(path).endswith(".bz2") else open
    found: dict[str, tuple[str, object]] = {}
    with opener(path, "rt", encoding="latin-1", newline="\n") as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("|", 2)
            if len(parts) != 3 or not parts[0] or not parts[1]:
                raise ValueError(f"{path}:{number}: not OID|TAG|VALUE: {line[:80]!r}")
            oid, tag, text = parts
            found[oid.lstrip(".")] = _value(tag, text)
    return found


def _value(tag: str, text: str) -> tuple[str, object]:
    if ":" in tag:                      # a variation module computes the value: keep what the file says
        return tag, text
    base, encoding = (tag[:-1], tag[-1]) if tag[-1:] in ("x", "e") else (tag, None)
    if encoding == "x":
        raw = bytes.fromhex(text)
    elif encoding == "e":
        raw = text.encode("latin-1").decode("unicode_escape").encode("latin-1")  # Python escapes: \xNN, \n
    else:
        raw = text.encode("latin-1")
    if base in NUMBERS:
        return base, int.from_bytes(raw, "big") if encoding == "x" else int(raw)
    if base == OBJECT_ID:
        return base, raw.decode("ascii")
    if base == IP_ADDRESS:
        return base, str(ipaddress.IPv4Address(raw)) if encoding == "x" else raw.decode("ascii")
    if base == NULL:
        return base, None
    return base, raw                    # OCTET STRING, Opaque, and anything else: the bytes


def column(recording: dict[str, tuple[str, object]], oid: str) -> dict[tuple[int, ...], object]:
    """Return the rows of one table column: {index (the OID's tail as ints): value}, in OID order."""
    prefix = oid.rstrip(".") + "."
    rows = {tuple(int(p) for p in key[len(prefix):].split(".")): value
            for key, (_, value) in recording.items() if key.startswith(prefix)}
    return dict(sorted(rows.items()))


def scalar(recording: dict[str, tuple[str, object]], oid: str) -> object:
    """Return the value of one object (e.g. "1.3.6.1.2.1.1.5.0"), or None when the recording lacks it."""
    entry = recording.get(oid)
    return entry[1] if entry else None


def text(value: object) -> str:
    """An OCTET STRING as the scanner shows text: UTF-8 (bad bytes replaced), NULs dropped, stripped."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").replace("\x00", "").strip()
    return "" if value is None else str(value)


def community_of(path: Path) -> str:
    """The v2c community snmpsim answers a recording under when it lies directly in --data-dir."""
    name = path.name
    for extension in EXTENSIONS:
        if name.endswith(extension):
            return name[:-len(extension)]
    raise ValueError(f"{path} is not an .snmprec or .snmprec.bz2 recording")


# --- serving recordings -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SimulatedAgents:
    """A running snmpsim: every address in `addresses` answers on udp/`port`, each recording under its community."""
    port: int
    addresses: tuple[str, ...]
    communities: dict[str, str]     # recording name (the file's stem) -> community
    pid: int
    log: Path


def recordings(source: Path | Sequence[Path] = RECORDINGS) -> list[Path]:
    """The recordings in a folder (not its sub-folders), or the files given, sorted."""
    if isinstance(source, Path) and source.is_dir():
        files = [p for p in source.iterdir() if p.name.endswith(EXTENSIONS)]
    else:
        files = [source] if isinstance(source, Path) else list(source)
    if not files:
        raise ValueError(f"no .snmprec recordings in {source}")
    return sorted(files)


def free_udp_port(address: str = "127.0.0.1") -> int:
    """Return a UDP port nothing is bound to on `address` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def snmpsim_agent(source: Path | Sequence[Path] = RECORDINGS, *, addresses: Sequence[str] = ("127.0.0.1",),
                  port: int | None = None, lifetime: float = LIFETIME,
                  start_seconds: float = START_SECONDS) -> Iterator[SimulatedAgents]:
    """Serve the recordings in `source` (a folder or files) with one snmpsim process listening on udp/`port`
    (a free one if None) of every address in `addresses` (loopback only); yield SimulatedAgents, then stop
    the process by PID and remove its folder. Raises RuntimeError when it does not answer within
    `start_seconds`, ValueError for an address that is not loopback."""
    for address in addresses:
        if not ipaddress.ip_address(address).is_loopback or ipaddress.ip_address(address).version != 4:
            raise ValueError(f"{address} is not an IPv4 loopback address: snmpsim serves loopback only here")
    if importlib.util.find_spec("snmpsim") is None:
        raise RuntimeError("snmpsim is not installed: bash scripts/setup.sh --test installs it")
    files = recordings(source)
    folder = Path(tempfile.mkdtemp(prefix="emtest-snmpsim-"))
    data, cache = folder / "data", folder / "cache"
    data.mkdir()
    cache.mkdir()
    communities = {}
    for path in files:
        name = community_of(path)
        if path.name.endswith(".bz2"):
            with bz2.open(path) as packed, open(data / f"{name}.snmprec", "wb") as plain:
                shutil.copyfileobj(packed, plain)
        else:
            shutil.copyfile(path, data / f"{name}.snmprec")
        communities[name] = name
    port = port or free_udp_port(addresses[0])
    log_path = folder / "snmpsim.log"
    log = open(log_path, "w")
    # snmpsim refuses to run as root unless told to drop to a user, or allowed: dropping privileges would
    # need this Python (installed under /root on some machines) readable by that user, so it is allowed.
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    command = [sys.executable, "-c", RESPONDER, f"--data-dir={data}", f"--cache-dir={cache}", f"--timeout={lifetime:g}",
               *(f"--agent-udpv4-endpoint={a}:{port}" for a in addresses)]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=folder)
    try:
        _wait_until_answering(proc, addresses[0], port, next(iter(communities.values())), start_seconds, log_path)
        yield SimulatedAgents(port=port, addresses=tuple(addresses), communities=communities, pid=proc.pid,
                              log=log_path)
    finally:
        stop_process(proc)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_answering(proc: subprocess.Popen, address: str, port: int, community: str, seconds: float,
                          log_path: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"snmpsim exited with status {proc.returncode}: "
                               f"{log_path.read_text(errors='replace')[-2000:]}")
        if asyncio.run(_answers(address, port, community)):
            return
        time.sleep(0.2)
    raise RuntimeError(f"snmpsim did not answer on {address}:{port} within {seconds:g} s: "
                       f"{log_path.read_text(errors='replace')[-2000:]}")


async def _answers(address: str, port: int, community: str) -> bool:
    """True when the agent answers a GET of sysObjectID with this community."""
    from pysnmp.hlapi.v3arch import asyncio as hl

    engine = hl.SnmpEngine()
    try:
        target = await hl.UdpTransportTarget.create((address, port), timeout=PROBE_TIMEOUT, retries=0)
        error, status, _, _ = await hl.get_cmd(engine, hl.CommunityData(community, mpModel=1), target,
                                               hl.ContextData(), hl.ObjectType(hl.ObjectIdentity("1.3.6.1.2.1.1.2.0")),
                                               lookupMib=False)
        return not error and not status
    finally:
        engine.close_dispatcher()
