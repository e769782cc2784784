"""SNMP agents asked for what they know: the system group, interfaces and addresses, installed software,
running processes, and TCP/UDP listeners and connections (so an SNMP-only host adds dependency evidence).

pysnmp (asyncio) on an event loop in a thread of its own; at most `concurrency` agents at a time, every
request through one rate cap. Numeric OIDs only (no MIB compiling). Walks are GETBULK with bounded
repetitions, a row cap per column and a time limit per agent; a table an agent lacks is normal. The community
or v3 passphrase is used for the requests and kept in memory only: never stored, logged or exported; which
credential answered is recorded by its name ("v2c community", "v3 user monitor"), never its value.
`get_*` talks to agents; `transform_agent` is pure and tested from recorded walks in tests/data/snmp/.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
import json
import logging
import re
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from discovery.records.model import (Connection, EstateError, Host, HostReport, Interface, Partition, Process,
                                     ScanCancelled, ScanContext, ScriptResult, Service, Software)
from discovery.records.redact import redact_command_line
from discovery.records.targets import parse_targets
from scanners import snmp_layer2

log = logging.getLogger(__name__)

SOURCE = "snmp"
DEFAULT_PORT = 161
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT = 3.0        # seconds per request
DEFAULT_RETRIES = 1
DEFAULT_MAX_RATE = 50        # requests per second, over all agents
AGENT_SECONDS = 120.0        # the whole walk of one agent
MAX_ROWS = 20_000            # rows read from one column
MAX_REPETITIONS = 25         # GETBULK max-repetitions
MAX_TEXT = 4096              # characters kept of one value
MAX_AGENT_BYTES = 32 << 20   # bytes of values kept from one agent (memory stays bounded whatever it answers)
POLL_SECONDS = 0.2
MAX_ADDRESSES = 65_536       # addresses one scan may cover
PRIV_ACCOUNT = ":priv"       # the keyring account of a v3 privacy passphrase of its own: the user's account + this
DEFAULT_COMMUNITIES = frozenset({"public", "private"})  # the well-known defaults: a finding of their own
ENTERPRISES = Path(__file__).resolve().parents[1] / "discovery" / "data" / "snmp_enterprises.json"
ENTERPRISE_PREFIX = "1.3.6.1.4.1."

SYSTEM = {"descr": "1.3.6.1.2.1.1.1.0", "object_id": "1.3.6.1.2.1.1.2.0", "uptime": "1.3.6.1.2.1.1.3.0",
          "contact": "1.3.6.1.2.1.1.4.0", "name": "1.3.6.1.2.1.1.5.0", "location": "1.3.6.1.2.1.1.6.0"}
# Asked one at a time after the system group: an SNMP v1 agent fails a whole request naming one it lacks.
SCALARS = {"memory_kb": "1.3.6.1.2.1.25.2.2.0",
          # UPS-MIB (RFC 1628) identity and battery
          "ups_maker": "1.3.6.1.2.1.33.1.1.1.0", "ups_model": "1.3.6.1.2.1.33.1.1.2.0",
          "ups_software": "1.3.6.1.2.1.33.1.1.3.0", "ups_battery_status": "1.3.6.1.2.1.33.1.2.1.0",
          "ups_charge_percent": "1.3.6.1.2.1.33.1.2.4.0"}
BATTERY_STATUS = {1: "unknown", 2: "normal", 3: "low", 4: "depleted"}
COLUMNS = {
    "if_descr": "1.3.6.1.2.1.2.2.1.2", "if_mtu": "1.3.6.1.2.1.2.2.1.4", "if_speed": "1.3.6.1.2.1.2.2.1.5",
    "if_mac": "1.3.6.1.2.1.2.2.1.6", "if_oper": "1.3.6.1.2.1.2.2.1.8", "if_name": "1.3.6.1.2.1.31.1.1.1.1",
    "if_high_speed": "1.3.6.1.2.1.31.1.1.1.15",
    "ip_if": "1.3.6.1.2.1.4.20.1.2", "ip_mask": "1.3.6.1.2.1.4.20.1.3",
    "sw_name": "1.3.6.1.2.1.25.6.3.1.2",
    "run_name": "1.3.6.1.2.1.25.4.2.1.2", "run_path": "1.3.6.1.2.1.25.4.2.1.4", "run_args": "1.3.6.1.2.1.25.4.2.1.5",
    "cpu_load": "1.3.6.1.2.1.25.3.3.1.2",
    "storage_type": "1.3.6.1.2.1.25.2.3.1.2", "storage_descr": "1.3.6.1.2.1.25.2.3.1.3",
    "storage_units": "1.3.6.1.2.1.25.2.3.1.4", "storage_size": "1.3.6.1.2.1.25.2.3.1.5",
    "storage_used": "1.3.6.1.2.1.25.2.3.1.6",
    "tcp_conn_pid": "1.3.6.1.2.1.6.19.1.8", "tcp_conn_state": "1.3.6.1.2.1.6.19.1.7",
    "tcp_listen_pid": "1.3.6.1.2.1.6.20.1.4", "udp_endpoint_pid": "1.3.6.1.2.1.7.7.1.8",
    "tcp_old_state": "1.3.6.1.2.1.6.13.1.1", "udp_old": "1.3.6.1.2.1.7.5.1.1",
    "ent_descr": "1.3.6.1.2.1.47.1.1.1.1.2", "ent_class": "1.3.6.1.2.1.47.1.1.1.1.5",
    "ent_hw_rev": "1.3.6.1.2.1.47.1.1.1.1.8", "ent_fw_rev": "1.3.6.1.2.1.47.1.1.1.1.9",
    "ent_sw_rev": "1.3.6.1.2.1.47.1.1.1.1.10", "ent_serial": "1.3.6.1.2.1.47.1.1.1.1.11",
    "ent_mfg": "1.3.6.1.2.1.47.1.1.1.1.12", "ent_model": "1.3.6.1.2.1.47.1.1.1.1.13",
    "printer_status": "1.3.6.1.2.1.25.3.5.1.1", "supply_descr": "1.3.6.1.2.1.43.11.1.1.6",
    "supply_max": "1.3.6.1.2.1.43.11.1.1.8", "supply_level": "1.3.6.1.2.1.43.11.1.1.9",
    **snmp_layer2.COLUMNS,
}
SCALARS.update(snmp_layer2.SCALARS)
PRINTER_STATUS = {1: "other", 2: "unknown", 3: "idle", 4: "printing", 5: "warmup"}
PRINTER_MAKERS = {"Lexmark", "Canon", "Epson", "Brother", "Xerox", "Ricoh", "Kyocera"}
UPS_MAKERS = {"APC (American Power Conversion)", "Eaton (Powerware)"}
FIREWALL_MAKERS = {"Fortinet", "Palo Alto Networks", "Check Point", "SonicWall"}
_SWITCH = re.compile(r"\b(?:switch|catalyst|procurve|nexus|nx-os|aruba ?os-?cx|ex\d{4})\b", re.I)
_ROUTER = re.compile(r"\b(?:router|isr\d*|asr\d*|routeros)\b", re.I)
_FIREWALL = re.compile(r"\b(?:adaptive security appliance|firewall|fortigate|pan-os)\b", re.I)
CHASSIS, MODULE = 3, 9      # ENTITY-MIB's PhysicalClass values
TCP_LISTEN, TCP_ESTABLISHED = 2, 5
ANY_ADDRESS = "0.0.0.0"
TCP_STATES = {1: "CLOSED", 2: "LISTEN", 3: "SYN_SENT", 4: "SYN_RECEIVED", 5: "ESTABLISHED", 6: "FIN_WAIT_1",
              7: "FIN_WAIT_2", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "CLOSING", 11: "TIME_WAIT", 12: "DELETE_TCB"}
AUTH_PROTOCOLS = ("MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512")
PRIV_PROTOCOLS = ("DES", "AES", "AES-192", "AES-256")


class SnmpError(EstateError):
    """An agent could not be asked (no answer, refused credentials, a broken answer)."""


@dataclass(frozen=True)
class Credential:
    """One way to ask: SNMP v1/v2c with a community, or v3 with a user and its passphrases (one for
    authentication, and one for privacy: the same one unless `priv_secret` says otherwise)."""
    version: str                         # "1", "2c", "3"
    secret: str = ""                     # the community, or the v3 (authentication) passphrase; memory only
    user: str | None = None
    auth_protocol: str = "SHA-256"
    priv_protocol: str | None = "AES"    # None: authNoPriv
    label: str = ""                      # "#2": which of several given, when there are several
    priv_secret: str | None = None       # v3: a privacy passphrase of its own; memory only

    def __post_init__(self):
        if self.version not in ("1", "2c", "3"):
            raise EstateError(f"SNMP version {self.version!r} is not 1, 2c or 3")
        if self.version == "3":
            if not self.user:
                raise EstateError("SNMP v3 needs --user")
            if self.auth_protocol not in AUTH_PROTOCOLS:
                raise EstateError(f"--auth-protocol must be one of {', '.join(AUTH_PROTOCOLS)}")
            if self.priv_protocol is not None and self.priv_protocol not in PRIV_PROTOCOLS:
                raise EstateError(f"--priv-protocol must be one of {', '.join(PRIV_PROTOCOLS)} or none")
            if len(self.secret) < 8 or (self.priv_secret is not None and len(self.priv_secret) < 8):
                raise EstateError("an SNMP v3 passphrase has at least 8 characters (RFC 3414)")
        elif not self.secret:
            raise EstateError("SNMP v1/v2c needs a community: --ask-community or --community-stdin")

    @property
    def name(self) -> str:
        """What the scan records about the credential that answered: never the secret."""
        if self.version == "3":
            level = f"{self.auth_protocol}/{self.priv_protocol}" if self.priv_protocol else self.auth_protocol
            return f"v3 user {self.user} ({level})" + (f" {self.label}" if self.label else "")
        return f"v{self.version} community" + (f" {self.label}" if self.label else "")

    def __repr__(self) -> str:  # a traceback or log line never shows the secret
        return f"Credential({self.name})"

    def auth_data(self):
        from pysnmp.hlapi.v3arch import asyncio as hl

        if self.version != "3":
            return hl.CommunityData(self.secret, mpModel=0 if self.version == "1" else 1)
        auth = {"MD5": hl.usmHMACMD5AuthProtocol, "SHA": hl.usmHMACSHAAuthProtocol,
                "SHA-224": hl.usmHMAC128SHA224AuthProtocol, "SHA-256": hl.usmHMAC192SHA256AuthProtocol,
                "SHA-384": hl.usmHMAC256SHA384AuthProtocol, "SHA-512": hl.usmHMAC384SHA512AuthProtocol}
        priv = {"DES": hl.usmDESPrivProtocol, "AES": hl.usmAesCfb128Protocol, "AES-192": hl.usmAesCfb192Protocol,
                "AES-256": hl.usmAesCfb256Protocol}
        if self.priv_protocol is None:
            return hl.UsmUserData(self.user, self.secret, authProtocol=auth[self.auth_protocol])
        return hl.UsmUserData(self.user, self.secret, self.priv_secret or self.secret,
                              authProtocol=auth[self.auth_protocol],
                              privProtocol=priv[self.priv_protocol])


class _OverBudget(Exception):
    """An agent's answers passed MAX_AGENT_BYTES: stop asking it."""


class RateCap:
    """At most `rate` requests a second over every agent of a scan (requests are spaced, not burst)."""

    def __init__(self, rate: float):
        self.gap, self.next = 1.0 / rate, 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        start = max(now, self.next)
        self.next = start + self.gap
        if start > now:
            await asyncio.sleep(start - now)


# --- asking one agent -------------------------------------------------------------------------------------

def _present(value) -> bool:
    """False for SNMP's exceptions (noSuchObject, noSuchInstance, endOfMibView) and Null: no value there."""
    return type(value).__name__ not in ("NoSuchObject", "NoSuchInstance", "EndOfMibView", "Null")


def _plain(value, kind: str | None = None):
    """A value as Python: int for numbers, str for OIDs, bytes for OCTET STRINGs (text or MAC is the reader's
    call), text and octets cut to MAX_TEXT. With `kind`, None when the value is not one: "count" (a number from
    0 to 2**32-1), "integer" (-2**31 to 2**32-1), "oid" (at most SNMP's 128 sub-identifiers) or "octets"; a
    Counter64 is neither count nor integer (nothing read as a number is a 64-bit one)."""
    name = type(value).__name__
    if name in ("Integer", "Integer32", "Gauge32", "Counter32", "Counter64", "Unsigned32", "TimeTicks"):
        number = int(value)
        if kind is None:
            return number
        lowest = {"count": 0, "integer": -2 ** 31}.get(kind)
        return number if lowest is not None and name != "Counter64" and lowest <= number < 2 ** 32 else None
    if name == "ObjectIdentifier" and kind == "oid":
        return str(value)[:MAX_TEXT] if len(value) <= 128 else None
    if hasattr(value, "asOctets") and kind in (None, "octets"):
        return bytes(value.asOctets()[:MAX_TEXT])
    return str(value)[:MAX_TEXT] if kind is None else None


async def get_agent_facts(address: str, port: int, credentials: Sequence[Credential], *, timeout: float,
                          retries: int, cap: RateCap, engine=None) -> dict:
    """Ask one agent for at most AGENT_SECONDS: the system group with each credential in turn until one answers,
    then every column. Returns {"credential", "answered", "version", "system": {key: value}, "columns": {key:
    [(index, value)]}, "default_community", "warnings"}. What a misbehaving agent answered before it misbehaved
    is kept (tables that never end or loop, wrong types, values too long, silence, the time limit: see _walk),
    with one warning per kind of misbehaviour. Raises SnmpError when no credential gets an answer."""
    from pysnmp.hlapi.v3arch import asyncio as hl

    # What the transforms read each value as (see _plain); a value of another type, or a number out of its range,
    # is the agent's mistake and is left out, but a process number reads as 0, the MIBs' own "unknown", so that
    # the listener or connection it belongs to is kept. A key not named here is taken as it comes.
    kinds = {**dict.fromkeys(("descr", "contact", "name", "location", "ups_maker", "ups_model", "ups_software",
                              "if_descr", "if_name", "if_mac", "ip_mask", "sw_name", "run_name", "run_path",
                              "run_args", "ent_descr", "ent_hw_rev", "ent_fw_rev", "ent_sw_rev", "ent_serial",
                              "ent_mfg", "ent_model", "supply_descr"), "octets"),
             **dict.fromkeys(("uptime", "memory_kb", "if_mtu", "if_speed", "if_high_speed", "ip_if", "tcp_conn_pid",
                              "tcp_listen_pid", "udp_endpoint_pid"), "count"),
             **dict.fromkeys(("ups_battery_status", "ups_charge_percent", "if_oper", "tcp_conn_state",
                              "tcp_old_state", "ent_class", "printer_status", "supply_max", "supply_level"),
                             "integer"),
             **dict.fromkeys(("storage_descr",), "octets"),
             **dict.fromkeys(("storage_units", "storage_size", "storage_used"), "count"),
             "object_id": "oid", "storage_type": "oid", **snmp_layer2.KINDS}
    unknown = dict.fromkeys(("tcp_conn_pid", "tcp_listen_pid", "udp_endpoint_pid"), 0)
    problems: dict[str, list[str]] = {}  # kind of misbehaviour -> the objects it was seen in, in order
    kept = [0]  # bytes of values kept so far

    def note(kind: str, what: str) -> None:
        seen = problems.setdefault(kind, [])
        if what not in seen:
            seen.append(what)

    def read(key: str, oid: str, value):
        plain = _plain(value, kinds.get(key))
        if plain is None:
            note("type", oid)
            return unknown.get(key)
        if isinstance(plain, (bytes, str)) and len(plain) == MAX_TEXT and \
                len(value if isinstance(plain, bytes) else str(value)) > MAX_TEXT:
            note("text", oid)
        kept[0] += len(plain) if isinstance(plain, (bytes, str)) else 8
        if kept[0] > MAX_AGENT_BYTES:
            note("budget", oid)
            raise _OverBudget()
        return plain

    system: dict = {}
    columns: dict[str, list] = {}
    answered, why, index, quiet = None, "no answer", None, False
    own_engine = engine is None  # a scan shares one engine among agents asked with the same credentials
    engine = engine or hl.SnmpEngine()
    limit = asyncio.timeout(AGENT_SECONDS)
    try:
        async with limit:
            try:
                target = await hl.UdpTransportTarget.create((address, port), timeout=timeout, retries=retries)
            except Exception as error:  # an address pysnmp cannot use
                raise SnmpError(f"cannot reach {address}:{port} ({' '.join(str(error).split())})") from None
            for index, credential in enumerate(credentials):
                await cap.wait()
                error, status, _, binds = await hl.get_cmd(
                    engine, credential.auth_data(), target, hl.ContextData(),
                    *(hl.ObjectType(hl.ObjectIdentity(oid)) for oid in SYSTEM.values()), lookupMib=False)
                if not error and not status:
                    answered = credential
                    break
                why = str(error or status.prettyPrint())
            if answered is None:
                raise SnmpError(f"no SNMP answer from {address}:{port} with the credentials given ({why}); "
                                "check the community or v3 user, and that the agent allows this workstation")
            got = {str(name): value for name, value in binds}  # by name: an agent may answer in its own order
            for key, oid in SYSTEM.items():
                if _present(got.get(oid)) and (value := read(key, oid, got[oid])) is not None:
                    system[key] = value
            for key, oid in SCALARS.items():
                await cap.wait()
                error, status, _, binds = await hl.get_cmd(engine, answered.auth_data(), target, hl.ContextData(),
                                                           hl.ObjectType(hl.ObjectIdentity(oid)), lookupMib=False)
                if not error and not status and binds and str(binds[0][0]) == oid and _present(binds[0][1]) \
                        and (value := read(key, oid, binds[0][1])) is not None:
                    system[key] = value
            silent = 0
            for key, oid in COLUMNS.items():
                columns[key] = []
                try:
                    ended = await _walk(engine, answered, target, oid, cap, columns[key],
                                        functools.partial(read, key, oid), note)
                except _OverBudget:
                    break
                silent = silent + 1 if ended == "timeout" else 0
                if silent == 3:  # three tables in a row without an answer: the agent has stopped answering
                    quiet = True
                    break
    except TimeoutError:
        if not limit.expired():
            raise
        if answered is None:
            raise SnmpError(f"no SNMP answer from {address}:{port} within {AGENT_SECONDS:g} s") from None
        note("time", "")
    finally:
        if own_engine:
            engine.close_dispatcher()

    def listed(names: list[str]) -> str:
        return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")

    unread = f"{sum(1 for key in COLUMNS if key not in columns)} of {len(COLUMNS)} tables not read"
    says = {"rows": f"tables with more than {MAX_ROWS:,} rows, the first {MAX_ROWS:,} kept",
            "loop": "tables that do not end (an OID not after the one before, or longer than 128 sub-identifiers), "
                    "the rows before kept",
            "error": "tables cut short by an error, the rows before kept",
            "timeout": "tables not answered in time, the rows before kept",
            "type": "values of the wrong type or out of range, left out",
            "text": f"values longer than {MAX_TEXT:,} characters, cut",
            "budget": f"more than {MAX_AGENT_BYTES:,} bytes of values, stopped; what was read is kept, {unread}"}
    warnings = []
    for kind, names in problems.items():
        if kind == "timeout" and quiet:
            warnings.append(f"{address}: stopped answering (nothing came back for {listed(names)}); what was read "
                            f"is kept, {unread}")
        elif kind == "time":
            warnings.append(f"{address}: the walk took longer than {AGENT_SECONDS:g} s and was stopped while reading "
                            f"{COLUMNS.get(next(reversed(columns), ''), 'the system group')}; what was read is kept, "
                            f"{unread}")
        else:
            warnings.append(f"{address}: {says[kind]}: {listed(names)}")
    return {"credential": answered.name, "answered": index, "version": answered.version, "system": system,
            "columns": columns,
            "default_community": answered.version != "3" and answered.secret in DEFAULT_COMMUNITIES,
            "warnings": warnings}


async def _walk(engine, credential: Credential, target, oid: str, cap: RateCap, rows: list, read,
                note) -> str | None:
    """Walk one column into `rows` as (index, value) pairs, appended as answers arrive (a walk stopped by the time
    limit keeps what it read); `read(value)` is the value as Python, or None to leave that row out. Stops at the
    first sign of a broken or hostile agent, calls `note(kind, what)` and returns the kind: "rows" (more than
    MAX_ROWS rows), "loop" (an OID not after the one before, or longer than SNMP's 128 sub-identifiers),
    "error" (an error answer after some rows), "timeout" (no answer). Returns None at the column's end; a
    column the agent lacks stays empty."""
    from pysnmp.hlapi.v3arch import asyncio as hl
    from pysnmp.proto import errind

    prefix = tuple(int(p) for p in oid.split("."))
    last, count, previous = None, 0, None
    await cap.wait()
    walk = hl.bulk_walk_cmd(engine, credential.auth_data(), target, hl.ContextData(), 0, MAX_REPETITIONS,
                            hl.ObjectType(hl.ObjectIdentity(oid)), lookupMib=False, lexicographicMode=False)
    try:
        async for error, status, _, binds in walk:
            if isinstance(error, errind.RequestTimedOut):
                note("timeout", oid)
                return "timeout"
            if error or status:
                if not count:
                    return None  # an agent may refuse a table it lacks
                note("error", f"{oid} ({' '.join(str(error or status.prettyPrint()).split())})")
                return "error"
            names = [tuple(name) for name, _ in binds]
            if credential.version == "1" and names == previous:
                return None  # where a v1 agent says noSuchName (its end of the MIB), pysnmp repeats the last answer
            previous = names
            for full, (_, value) in zip(names, binds):
                if full[:len(prefix)] != prefix or not _present(value):
                    return None
                if len(full) > 128 or (last is not None and full <= last):
                    note("loop", oid)
                    return "loop"
                if count == MAX_ROWS:
                    note("rows", oid)
                    return "rows"
                last, count = full, count + 1
                if (plain := read(value)) is not None:
                    rows.append((full[len(prefix):], plain))
            await cap.wait()
    finally:
        await walk.aclose()
    return None


# --- from answers to records ------------------------------------------------------------------------------

def transform_agent(facts: dict, address: str, observed_at: datetime, port: int = DEFAULT_PORT) -> HostReport:
    """The HostReport of one agent's answers (`facts` as get_agent_facts returns them, or as recorded); the agent
    itself is the host's snmp service on udp/`port`, with which SNMP version answered (not the credential)."""
    system, col = facts["system"], {k: dict((tuple(i), v) for i, v in rows) for k, rows in facts["columns"].items()}
    common = dict(source=SOURCE, observed_at=observed_at)
    descr = _decode(system.get("descr"))
    name = _decode(system.get("name")) or None
    interfaces = _interfaces(col, common)
    addresses = [address] + [a.split("/")[0] for i in interfaces for a in i.addresses]
    addresses = [a for a in dict.fromkeys(addresses) if not ipaddress.ip_address(a).is_loopback]
    macs = tuple(dict.fromkeys(m for m in (snmp_layer2.own_mac(system), *(i.mac for i in interfaces)) if m))
    processes = _processes(col, common)
    names = {p.pid: p.name for p in processes}
    family, kernel = os_of(descr)
    os_name, os_version = device_os(descr, system.get("object_id"))
    enterprise = enterprise_of(system.get("object_id"))
    chassis = _chassis(col)
    uptime = system.get("uptime")
    memory = system.get("memory_kb")
    host = Host(hostname=name.split(".")[0] if name else None, fqdn=name if name and "." in name else None,
                addresses=tuple(addresses), macs=macs, os_family=family, kernel=kernel, os_name=os_name,
                os_version=os_version,
                vendor=chassis.get("maker") or _decode(system.get("ups_maker")) or (
                    enterprise["name"] if enterprise and enterprise["kind"] == "hardware" else None),
                model=chassis.get("model") or _decode(system.get("ups_model")) or None, serial=chassis.get("serial"),
                uptime_seconds=uptime // 100 if isinstance(uptime, int) else None,
                boot_time=observed_at - timedelta(seconds=uptime // 100) if isinstance(uptime, int) else None,
                memory_bytes=memory * 1024 if isinstance(memory, int) and memory > 0 else None,
                cpu_logical_cores=len(col.get("cpu_load", {})) or None, partitions=_storage(col),
                scripts=(ScriptResult(id="snmp-system", output=descr or None, data={
                    "object_id": system.get("object_id"), "contact": _decode(system.get("contact")) or None,
                    "location": _decode(system.get("location")) or None, "credential": facts.get("credential"),
                    "enterprise": enterprise["name"] if enterprise else None,
                    "device_type": device_type(descr, enterprise, col, system),
                    **_printer(col), **_ups(system),
                    **{k: v for k, v in chassis.items() if k not in ("maker", "model", "serial")}}),),
                **common)
    services, connections = _sockets(col, names, common)
    services = _with_agent(services, address, port, facts, common)
    if_names = {key[0]: _decode(col.get("if_name", {}).get(key)) or _decode(text) or str(key[0])
                for key, text in col.get("if_descr", {}).items() if len(key) == 1}
    return HostReport(host=host, interfaces=interfaces, software=_software(col, common, family),
                      processes=processes,
                      services=services, connections=connections,
                      neighbours=snmp_layer2.neighbours(col, system, if_names, _decode, common))


def _with_agent(services: tuple[Service, ...], address: str, port: int, facts: dict,
                common: dict) -> tuple[Service, ...]:
    """The agent as the host's udp/`port` service (replacing UDP-MIB's listener rows for that port)."""
    version = facts.get("version")
    listener = next((s for s in services if (s.protocol, s.port) == ("udp", port)), None)
    agent = Service(protocol="udp", port=port, address=listener.address if listener else address, state="open",
                    name="snmp", product="SNMP agent", version=f"v{version}" if version else None,
                    category="infrastructure", process=listener.process if listener else None,
                    pid=listener.pid if listener else None, reason="snmp-response",
                    scripts=(ScriptResult(id="snmp-access", data={
                        "version": version, "default_community": bool(facts.get("default_community"))}),),
                    **common)
    others = tuple(s for s in services if (s.protocol, s.port) != ("udp", port))
    return tuple(sorted((*others, agent), key=lambda s: (s.protocol, s.port, s.address or "")))


def device_type(descr: str, enterprise: dict | None, col: dict, system: dict) -> str | None:
    """What kind of device answered: ups, printer, firewall, router, switch, server or workstation, from the MIBs
    it has, its enterprise number and its sysDescr; None when nothing says."""
    maker = enterprise["name"] if enterprise else None
    if "ups_maker" in system or "ups_battery_status" in system or maker in UPS_MAKERS:
        return "ups"
    computer = bool(col.get("run_name") or col.get("sw_name")) and os_of(descr)[0] is not None
    if (col.get("printer_status") or col.get("supply_descr") or maker in PRINTER_MAKERS) and not computer:
        return "printer"  # a Windows or Linux server lists its print drivers in the same table
    if maker in FIREWALL_MAKERS or _FIREWALL.search(descr):
        return "firewall"
    if _ROUTER.search(descr):
        return "router"
    if _SWITCH.search(descr) or (col.get("fdb_port") or col.get("qfdb_port")) and not col.get("run_name"):
        return "switch"  # or a device that keeps a forwarding table and runs no general-purpose OS
    if col.get("run_name") or col.get("sw_name"):  # HOST-RESOURCES: a general-purpose computer
        object_id = system.get("object_id") or ""
        return "workstation" if object_id.startswith("1.3.6.1.4.1.311.1.1.3.1.1") else "server"
    return None


FIXED_DISK, NETWORK_DISK = "1.3.6.1.2.1.25.2.1.4", "1.3.6.1.2.1.25.2.1.10"  # hrStorageType values


def _storage(col: dict) -> tuple[Partition, ...]:
    """HOST-RESOURCES' file systems on fixed and network disks ("/", "/boot", "C:\\ Label: ..."), with their
    size and use (allocation units times the unit's bytes); memory and removable media are left out."""
    found = []
    for index, kind in sorted(col.get("storage_type", {}).items()):
        units, size = col.get("storage_units", {}).get(index), col.get("storage_size", {}).get(index)
        if kind not in (FIXED_DISK, NETWORK_DISK) or not units or not size:
            continue
        descr = _decode(col.get("storage_descr", {}).get(index)) or str(index[-1])
        used = col.get("storage_used", {}).get(index)
        total, used = units * size, units * used if isinstance(used, int) and used <= size else None
        found.append(Partition(device=descr, mountpoint=descr.split(" Label:")[0].strip(),
                               fstype="network" if kind == NETWORK_DISK else None, total_bytes=total,
                               used_bytes=used, free_bytes=total - used if used is not None else None))
    return tuple(found)


def _printer(col: dict) -> dict:
    """Printer-MIB basics: the printer's status and each marker supply's level (percent where it says)."""
    statuses = [PRINTER_STATUS.get(v, str(v)) for v in col.get("printer_status", {}).values()]
    supplies = []
    for key, descr in sorted(col.get("supply_descr", {}).items())[:32]:
        level, most = col.get("supply_level", {}).get(key), col.get("supply_max", {}).get(key)
        percent = round(100 * level / most) if isinstance(level, int) and isinstance(most, int) and most > 0 \
            and level >= 0 else None
        supplies.append({"supply": _decode(descr), "percent": percent})
    return {k: v for k, v in (("printer_status", statuses[0] if statuses else None), ("supplies", supplies)) if v}


def _ups(system: dict) -> dict:
    """UPS-MIB basics: maker, model, software, battery status and charge."""
    found = {"ups_maker": _decode(system.get("ups_maker")), "ups_model": _decode(system.get("ups_model")),
             "ups_software": _decode(system.get("ups_software")),
             "battery_status": BATTERY_STATUS.get(system.get("ups_battery_status")),
             "battery_charge_percent": system.get("ups_charge_percent")}
    return {k: v for k, v in found.items() if v not in (None, "")}


def _chassis(col: dict) -> dict:
    """ENTITY-MIB: the first chassis's maker, model, serial and revisions, and how many modules it holds."""
    classes = col.get("ent_class", {})
    chassis = sorted(i for i, c in classes.items() if c == CHASSIS)
    if not chassis:
        return {}
    key = chassis[0]
    found = {"maker": _decode(col.get("ent_mfg", {}).get(key)), "model": _decode(col.get("ent_model", {}).get(key)),
             "serial": _decode(col.get("ent_serial", {}).get(key)),
             "chassis": _decode(col.get("ent_descr", {}).get(key)),
             "hardware_revision": _decode(col.get("ent_hw_rev", {}).get(key)),
             "firmware_revision": _decode(col.get("ent_fw_rev", {}).get(key)),
             "software_revision": _decode(col.get("ent_sw_rev", {}).get(key)),
             "modules": sum(1 for c in classes.values() if c == MODULE) or None}
    return {k: v for k, v in found.items() if v}


@functools.cache
def _enterprises() -> dict:
    return json.loads(ENTERPRISES.read_text(encoding="utf-8"))["enterprises"]


def enterprise_of(object_id) -> dict | None:
    """{"name", "kind"} of the organisation a sysObjectID (1.3.6.1.4.1.N...) belongs to, if the table knows N."""
    if not isinstance(object_id, str) or not object_id.startswith(ENTERPRISE_PREFIX):
        return None
    number = object_id[len(ENTERPRISE_PREFIX):].split(".")[0]
    return _enterprises().get(number)


_IOS = re.compile(r"\bCisco (IOS(?: XE)?) Software\b.*?\bVersion ([\w.()]+)|"
                  r"\bIOS \(tm\) .*?\bVersion ([\w.()]+)", re.S)
# Other network and appliance systems' sysDescr: (pattern with the version as its last group, the system's name).
# Read from real devices' answers (snmpsim-data's recordings); the end-of-life table judges those it knows.
FIRMWARE = (
    (re.compile(r"\bCisco NX-OS\(tm\).*?\bVersion ([\w.()]+)", re.S), "Cisco NX-OS"),
    (re.compile(r"\bJUNOS ([\w.-]+)"), "Juniper Junos OS"),
    (re.compile(r"\b(?:ProCurve|HP|Aruba)\b[^,]*\bSwitch\b.*?\brevision ([A-Z]{1,2}\.\d+\.\d+)", re.S),
     "HPE ArubaOS-Switch (ProCurve)"),
    (re.compile(r"^ArubaOS \([^)]*\), Version ([\d.]+)"), "ArubaOS"),
    (re.compile(r"\bIronWare Version ([\w.]+)"), "Brocade IronWare"),
    (re.compile(r"^NetApp Release ([\d.]+\w*)"), "NetApp Data ONTAP"),
    (re.compile(r"^Isilon OneFS .*? v(\d[\d.]+)"), "Dell EMC Isilon OneFS"),
    (re.compile(r"^APC Web/SNMP Management Card \(.*?\bPF:v([\d.]+)"), "APC Network Management Card AOS"),
    (re.compile(r"\bJETDIRECT\b.*?\bEEPROM ([\w.]+)"), "HP Jetdirect firmware"),
)
_WINDOWS = re.compile(r"\bSoftware: Windows(?: [\w ]+?)? Version (\d+)\.(\d+) \(Build (\d+)")
# sysObjectID of Microsoft's agent: 1.3.6.1.4.1.311.1.1.3.1.N, N = 1 workstation, 2 server, 3 domain controller.
WINDOWS_ROLES = {"1.3.6.1.4.1.311.1.1.3.1.1": "workstation", "1.3.6.1.4.1.311.1.1.3.1.2": "server",
                 "1.3.6.1.4.1.311.1.1.3.1.3": "server"}
# (major, minor) -> (server release, client release); None where that kernel had no such release.
WINDOWS_RELEASES = {(5, 0): ("2000 Server", "2000"), (5, 1): (None, "XP"), (5, 2): ("Server 2003", "XP x64"),
                    (6, 0): ("Server 2008", "Vista"), (6, 1): ("Server 2008 R2", "7"),
                    (6, 2): ("Server 2012", "8"), (6, 3): ("Server 2012 R2", "8.1")}
WINDOWS_SERVER_BUILDS = {14393: "Server 2016", 17763: "Server 2019", 20348: "Server 2022", 26100: "Server 2025"}
FIRST_WINDOWS_10_BUILD, FIRST_WINDOWS_11_BUILD = 10240, 22000


def device_os(descr: str, object_id=None) -> tuple[str | None, str | None]:
    """(os_name, os_version) where sysDescr names a system and its version (Cisco IOS/IOS XE/NX-OS, Junos,
    ProCurve, ArubaOS, NetApp, Windows...), so the end-of-life table judges it like any OS a host reports;
    other systems keep their sysDescr only."""
    if match := _IOS.search(descr):
        if match.group(3):  # "Cisco Internetwork Operating System Software IOS (tm) ... Version 12.1(22)EA14"
            return "Cisco IOS", match.group(3).rstrip(",")
        return f"Cisco {match.group(1)}", match.group(2).rstrip(",")
    if match := _WINDOWS.search(descr):
        return _windows(int(match[1]), int(match[2]), int(match[3]), WINDOWS_ROLES.get(object_id))
    for pattern, name in FIRMWARE:
        if match := pattern.search(descr):
            return name, match.group(match.lastindex).rstrip(",.")
    return None, None


def _windows(major: int, minor: int, build: int, role: str | None) -> tuple[str | None, str]:
    """Microsoft's agent names the kernel ("Windows Version 5.2 (Build 3790 ...)"), not the release: an XP agent
    says "Windows 2000 Version 5.1", and on Windows 10/Server 2016 and later it says 6.3 with the real build.
    The release follows from the version, the build and whether the agent says server or workstation; where
    that is not enough, only the version is kept."""
    version = f"{major}.{minor} (build {build})"
    if build >= FIRST_WINDOWS_10_BUILD:
        if role == "workstation":
            return ("Microsoft Windows 11" if build >= FIRST_WINDOWS_11_BUILD else "Microsoft Windows 10"), version
        release = WINDOWS_SERVER_BUILDS.get(build) if role == "server" else None
        return (f"Microsoft Windows {release}" if release else None), version
    server, client = WINDOWS_RELEASES.get((major, minor), (None, None))
    if role is None:  # the common one where the kernel had two: Server 2003 over XP x64, 2000 either way
        release = {(5, 0): "2000", (5, 2): "Server 2003"}.get((major, minor)) or (client if server is None else None)
    else:
        release = server if role == "server" else client
    return (f"Microsoft Windows {release}" if release else None), version


def _decode(value) -> str:
    """A value as text: UTF-8 (a byte that is not, as U+FFFD), without NULs, at most MAX_TEXT characters, and
    with every control character but tab and new line (ESC ] 0; ... BEL, CSI), and every bidirectional override,
    replaced by U+FFFD: what an agent says never acts on a terminal, nor reads other than it is."""
    if value is None:
        return ""
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
    text = text.replace("\x00", "").replace("\r\n", "\n").strip()
    return re.sub("[\x01-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", "\ufffd", text)[:MAX_TEXT]


def _mac(value) -> str | None:
    if not isinstance(value, bytes) or len(value) != 6 or not any(value):
        return None
    return ":".join(f"{b:02x}" for b in value)


def _interfaces(col: dict, common: dict) -> tuple[Interface, ...]:
    """IF-MIB's interfaces with their IPv4 addresses; a row whose index is not one ifIndex (a broken agent's) is
    skipped, and a number of the wrong type or out of range (a 64-bit speed) is unknown."""
    def number(value) -> int | None:
        return value if isinstance(value, int) and 0 < value < 2 ** 32 else None

    addresses: dict[int, list[str]] = {}
    for index, if_index in col.get("ip_if", {}).items():
        if len(index) == 4 and max(index) <= 255 and isinstance(if_index, int):
            mask = col.get("ip_mask", {}).get(index)
            prefix = bin(int.from_bytes(mask, "big")).count("1") if isinstance(mask, bytes) and len(mask) == 4 else 32
            addresses.setdefault(if_index, []).append(f"{'.'.join(map(str, index))}/{prefix}")
    found = []
    for key, descr in sorted(col.get("if_descr", {}).items()):
        if len(key) != 1:
            continue
        high, speed = number(col.get("if_high_speed", {}).get(key)), number(col.get("if_speed", {}).get(key))
        oper = col.get("if_oper", {}).get(key)
        found.append(Interface(name=_decode(col.get("if_name", {}).get(key)) or _decode(descr) or str(key[0]),
                               mac=_mac(col.get("if_mac", {}).get(key)), addresses=tuple(addresses.get(key[0], ())),
                               is_up=oper == 1 if isinstance(oper, int) else None,
                               speed_mbps=high or (speed // 1_000_000 if speed else None) or None,
                               mtu=number(col.get("if_mtu", {}).get(key)), **common))
    return tuple(found)


DEBIAN_ARCHITECTURES = {"amd64", "i386", "all", "arm64", "armhf", "armel", "ppc64el", "s390x", "mips64el",
                        "mipsel", "riscv64", "loong64", ""}
_RPM_NAME = re.compile(r"^(?P<name>.+)-(?P<version>\d[^-]*-[^-]+?)"
                       r"(?:\.(?P<arch>x86_64|noarch|i[3-6]86|aarch64|ppc64le|ppc64|s390x|armv7hl))?$")


def _software(col: dict, common: dict, family: str | None = None) -> tuple[Software, ...]:
    """hrSWInstalledName, named after the package database the agent read, so the end-of-life table judges it as
    it judges a collector's list: Debian's agent writes dpkg's name_version_arch, RPM-based ones rpm's
    name-version-release[.arch], Windows the registry's display name; anything else stays as the agent said."""
    found = []
    for _, value in sorted(col.get("sw_name", {}).items()):
        text = _decode(value)
        if not text:
            continue
        parts = text.split("_")
        if len(parts) == 3 and parts[0] and parts[1][:1].isdigit() and parts[2] in DEBIAN_ARCHITECTURES:
            found.append(Software(name=parts[0], version=parts[1], architecture=parts[2] or None,
                                 **{**common, "source": "dpkg"}))
        elif family == "linux" and (match := _RPM_NAME.match(text)):
            found.append(Software(name=match["name"], version=match["version"], architecture=match["arch"],
                                  **{**common, "source": "rpm"}))
        else:
            found.append(Software(name=text, **{**common, "source": "registry" if family == "windows" else SOURCE}))
    return tuple(found)


def _processes(col: dict, common: dict) -> tuple[Process, ...]:
    """HOST-RESOURCES' running processes, their command lines redacted, then cut to MAX_TEXT; a row whose index
    is not one PID (a broken agent's) is skipped."""
    found = []
    for index, value in sorted(col.get("run_name", {}).items()):
        if len(index) != 1 or not 0 < index[0] < 2 ** 31:
            continue
        pid = index[0]
        path = _decode(col.get("run_path", {}).get(index))
        args = _decode(col.get("run_args", {}).get(index))
        line = redact_command_line(" ".join(w for w in (path, args) if w) or None)
        found.append(Process(pid=pid, name=_decode(value) or path or str(pid), exe=path or None,
                             cmdline=line[:MAX_TEXT] if line else None, **common))
    return tuple(found)


def _address(parts: Sequence[int]) -> tuple[str | None, tuple[int, ...]]:
    """Read an InetAddressType, length-prefixed InetAddress from an index; return (address, the rest)."""
    if len(parts) < 2 or len(parts) < 2 + parts[1] or any(p > 255 for p in parts[2:2 + parts[1]]):
        return None, ()  # a truncated or impossible index (a broken or hostile agent)
    kind, size = parts[0], parts[1]
    raw, rest = bytes(parts[2:2 + size]), tuple(parts[2 + size:])
    if kind == 0 and size == 0:  # unknown(0) and no address: a listener on every address (ProCurve says so)
        return ANY_ADDRESS, rest
    if kind in (1, 3) and size >= 4:
        return str(ipaddress.IPv4Address(raw[:4])), rest
    if kind in (2, 4) and size >= 16:
        return str(ipaddress.IPv6Address(raw[:16])), rest
    return None, rest


def _sockets(col: dict, names: dict[int, str], common: dict) -> tuple[tuple[Service, ...], tuple[Connection, ...]]:
    """Listeners and established connections from TCP-MIB and UDP-MIB, and RFC 1213's tables beside them (real
    agents put listeners in either, or only in the connection table as LISTEN rows: Windows; or index them
    without an address length: NX-OS); a row whose index is truncated or impossible (an address byte over 255,
    a port over 65535) is skipped, a PID that is not one is unknown."""
    services: dict[tuple, Service] = {}
    connections: dict[tuple, Connection] = {}

    def connected(local, local_port, remote, remote_port, pid=None):
        if max(local_port, remote_port) <= 65535:
            connections.setdefault((local, local_port, remote, remote_port), Connection(
                protocol="tcp", local_address=local, local_port=local_port, remote_address=remote,
                remote_port=remote_port, state="ESTABLISHED", process=names.get(pid), pid=pid, **common))

    def process(pid) -> int | None:
        return pid if isinstance(pid, int) and 0 < pid < 2 ** 31 else None

    def listen(protocol, address, port, pid):
        if port > 65535:
            return
        pid = process(pid)
        services.setdefault((protocol, port, address), Service(
            protocol=protocol, port=port, address=address, state="listening", process=names.get(pid), pid=pid,
            **common))

    for index, pid in col.get("tcp_listen_pid", {}).items():
        if len(index) == 2 and index[0] == 0:  # unknown(0) and the port, no address length: NX-OS's "any"
            listen("tcp", ANY_ADDRESS, index[1], pid)
            continue
        address, rest = _address(index)
        if address and rest:
            listen("tcp", address, rest[0], pid)
    for index, state in col.get("tcp_conn_state", {}).items():
        local, rest = _address(index)
        if not local or not rest:
            continue
        local_port, (remote, rest) = rest[0], _address(rest[1:])
        pid = process(col.get("tcp_conn_pid", {}).get(index))
        if state == TCP_LISTEN:
            listen("tcp", local, local_port, pid)
        elif remote and rest and state == TCP_ESTABLISHED:
            connected(local, local_port, remote, rest[0], pid)
    for index, pid in col.get("udp_endpoint_pid", {}).items():
        local, rest = _address(index)
        if local and rest:
            remote, tail = _address(rest[1:])
            if not tail or tail[0] == 0:
                listen("udp", local, rest[0], pid)
    for index, state in col.get("tcp_old_state", {}).items():
        if len(index) != 10 or max(index[:4] + index[5:9]) > 255 or max(index[4], index[9]) > 65535:
            continue
        local, local_port = ".".join(map(str, index[:4])), index[4]
        remote, remote_port = ".".join(map(str, index[5:9])), index[9]
        if state == TCP_LISTEN and not any(k[:2] == ("tcp", local_port) for k in services):
            listen("tcp", local, local_port, None)
        elif state == TCP_ESTABLISHED:
            connected(local, local_port, remote, remote_port)
    if not col.get("udp_endpoint_pid"):
        for index in col.get("udp_old", {}):
            if len(index) == 5 and max(index[:4]) <= 255:
                listen("udp", ".".join(map(str, index[:4])), index[4], None)
    listening = {(s.protocol, s.port) for s in services.values()}
    connections = [dataclasses.replace(c, direction="inbound" if ("tcp", c.local_port) in listening else "outbound")
                   for c in connections.values()]
    return tuple(sorted(services.values(), key=lambda s: (s.protocol, s.port, s.address or ""))), tuple(connections)


def os_of(descr: str) -> tuple[str | None, str | None]:
    """(os_family, kernel) from sysDescr: "Linux db01 6.1.0-18-amd64 #1 SMP ..." or "Hardware: ... Software:
    Windows Version 6.3 (Build 17763 Multiprocessor Free)"; devices keep their sysDescr only."""
    words = descr.split()
    if len(words) >= 3 and words[0] == "Linux":
        return "linux", words[2]
    if "Software: Windows" in descr:
        return "windows", None
    return None, None


# --- the scanner ------------------------------------------------------------------------------------------

class SnmpScanner:
    """`estatemap scan snmp TARGET...`: ask every address's SNMP agent (see the module docstring)."""

    kind = "snmp"
    silence_is_normal = True  # most addresses of a swept range run no agent: each is a warning, not a failure

    def __init__(self, targets: Sequence[str], credentials: Sequence[Credential], *, port: int = DEFAULT_PORT,
                 excludes: Sequence[str] = (), concurrency: int = DEFAULT_CONCURRENCY,
                 timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES, max_rate: float = DEFAULT_MAX_RATE,
                 keychain=None, remember_password: bool = False, recall: dict | None = None):
        """`credentials` are tried in order; with none, `recall` (Credential's fields but the secret: version,
        user, protocols) says whose secret to look up per agent in `keychain` (discovery.scanning.secrets.Keychain).
        With `remember_password` the credential that answered is kept in the keychain for that agent."""
        from scanners.ssh_host import match_exclusion

        if not credentials and (recall is None or keychain is None):
            raise EstateError("no SNMP credential given")
        if remember_password and (keychain is None or not credentials):
            raise EstateError("remembering a community needs the OS keyring and the community")
        for name, value, low in (("--port", port, 1), ("--concurrency", concurrency, 1), ("--max-rate", max_rate, 1),
                                 ("--timeout", timeout, 0.1), ("--retries", retries, 0)):
            if value is None or value < low:
                raise EstateError(f"{name} must be at least {low:g}")
        if port > 65535 or retries > 5:
            raise EstateError("--port is at most 65535 and --retries at most 5")
        self.parsed = parse_targets(list(targets))
        self.excluded = parse_targets(list(excludes)) if excludes else []
        self.credentials = tuple(credentials)
        self.keychain, self.remember_password, self.recall = keychain, remember_password, recall
        self.remembered: list[str] = []
        self.port, self.concurrency, self.timeout = int(port), int(concurrency), float(timeout)
        self.retries, self.max_rate = int(retries), float(max_rate)
        self.addresses, self.skipped = [], []
        for address in self._expand():
            (self.skipped if match_exclusion(address, self.excluded) else self.addresses).append(address)
        self.failed: list[str] = []

    @property
    def address_count(self) -> int:
        return len(self.addresses)

    def _expand(self) -> list[str]:
        found: list[str] = []
        for target in self.parsed:
            if target.kind in ("address", "hostname"):
                found.append(target.text)
                continue
            for block in target.nmap_args:
                network = ipaddress.ip_network(block, strict=False)
                hosts = [network.network_address] if network.num_addresses == 1 else network.hosts()
                for host in hosts:
                    found.append(str(host))
                    if len(found) > MAX_ADDRESSES:
                        raise EstateError(f"the targets cover more than {MAX_ADDRESSES:,} addresses; "
                                          "scan them in parts")
        return list(dict.fromkeys(found))

    @property
    def arguments(self) -> str:
        words = ["scan snmp", *(t.text for t in self.parsed)]
        if self.excluded:
            words += ["--exclude", *(t.text for t in self.excluded)]
        versions = sorted({c.version for c in self.credentials} or {self.recall["version"]})
        words += ["--version", ",".join(versions), "--port", str(self.port), "--concurrency", str(self.concurrency),
                  "--timeout", f"{self.timeout:g}", "--retries", str(self.retries), "--max-rate", f"{self.max_rate:g}"]
        return " ".join(words)

    def targets(self) -> tuple[str, ...]:
        return tuple(t.text for t in self.parsed)

    def account(self, address: str, version: str, user: str | None) -> str:
        from discovery.scanning.secrets import snmp_account
        return snmp_account(version, user, address, self.port)

    def _recalled(self) -> dict[str, tuple[Credential, ...]]:
        """Per agent, the credentials to try: those given, or the one remembered for it (looked up here, on the
        scan's own thread, before anything is sent)."""
        if self.credentials:
            return {a: self.credentials for a in self.addresses}
        found = {}
        for address in self.addresses:
            account = self.account(address, self.recall["version"], self.recall["user"])
            secret = self.keychain.recall(account)
            priv = self.keychain.recall(account + PRIV_ACCOUNT) if secret and self.recall["version"] == "3" else None
            found[address] = (Credential(**self.recall, secret=secret, priv_secret=priv, label="(remembered)"),) \
                if secret else ()
        return found

    def _remember(self, ctx: ScanContext, address: str, index: int) -> None:
        credential = self.credentials[index]
        account = self.account(address, credential.version, credential.user)
        try:
            self.keychain.remember(account, credential.secret)
            self.remembered.append(account)
            if credential.priv_secret is not None:
                self.keychain.remember(account + PRIV_ACCOUNT, credential.priv_secret)
                self.remembered.append(account + PRIV_ACCOUNT)
        except EstateError as error:
            ctx.warn(f"{address}: community not remembered: {error}")

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]:
        """Yield each agent's HostReport as it answers; a silent or refusing agent is one warning."""
        if logging.getLogger("pysnmp").level == logging.NOTSET:
            logging.getLogger("pysnmp").setLevel(logging.WARNING)
        for address in self.skipped:
            ctx.warn(f"{address}: excluded (--exclude), not contacted")
        self.failed, self.remembered = [], []
        total, done, answered = len(self.addresses), 0, 0
        events: queue.Queue = queue.Queue()
        stop = threading.Event()
        credentials = self._recalled()
        worker = threading.Thread(target=asyncio.run, args=(self._run(events, stop, ctx.started_at, credentials),),
                                  name="snmp", daemon=True)
        worker.start()
        try:
            ctx.report(0, total, f"asking {min(total, self.concurrency)} of {total} agents")
            while done < total:
                ctx.check_cancelled()
                try:
                    kind, address, payload = events.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    if not worker.is_alive() and events.empty():
                        raise EstateError("the SNMP scanner stopped unexpectedly; the agents finished before are kept")
                    continue
                done += 1
                if kind == "report":
                    report, warnings, index = payload
                    for warning in warnings:
                        ctx.warn(warning)
                    if self.remember_password and index is not None:
                        self._remember(ctx, address, index)
                    answered += 1
                    yield report
                    ctx.report(done, total, f"{address}: ok")
                else:
                    self.failed.append(address)
                    ctx.warn(f"{address}: {payload}")
                    ctx.report(done, total, f"{address}: no answer")
            if total and not answered:
                raise EstateError(f"no SNMP agent answered ({total} asked; see the warnings above)")
        except (ScanCancelled, KeyboardInterrupt):
            ctx.cancel()
            raise
        finally:
            stop.set()
            worker.join(timeout=self.timeout * (self.retries + 1) + 5)

    async def _run(self, events: queue.Queue, stop: threading.Event, observed_at: datetime,
                   credentials: dict[str, tuple[Credential, ...]]) -> None:
        from pysnmp.hlapi.v3arch import asyncio as hl

        cap, slots = RateCap(self.max_rate), asyncio.Semaphore(self.concurrency)
        # One engine for every agent asked with the same credentials (making one costs ~80 ms of CPU: a /16 would
        # spend an hour on them); agents with a secret of their own (remembered) get an engine of their own, as
        # an engine holds one key per v3 user.
        engines: dict[tuple, object] = {}

        def engine_for(asked: tuple[Credential, ...]):
            key = tuple(dataclasses.astuple(c) for c in asked)
            if key not in engines:
                engines[key] = hl.SnmpEngine()
            return engines[key]

        def said(error: Exception) -> str:
            return f"{type(error).__name__}: {_decode(' '.join(str(error).split()))[:200]}"

        def report_of(facts: dict, address: str) -> tuple[HostReport, list[str]]:
            """The agent's report and warnings; should one table's answers break the transform, the report without
            that table (and a warning naming it) rather than nothing."""
            try:
                return transform_agent(facts, address, observed_at, self.port), facts["warnings"]
            except Exception as error:
                log.debug("agent %s", address, exc_info=True)
                for key in [k for k, rows in facts["columns"].items() if rows]:
                    columns = {k: rows for k, rows in facts["columns"].items() if k != key}
                    try:
                        report = transform_agent({**facts, "columns": columns}, address, observed_at, self.port)
                    except Exception:
                        continue
                    return report, [*facts["warnings"], f"{address}: the answers to {COLUMNS.get(key, key)} "
                                                         f"could not be read ({said(error)}); left out"]
                raise

        async def one(address: str) -> None:
            async with slots:
                if stop.is_set():
                    return
                if not credentials[address]:
                    events.put(("failed", address, "no community was given and none is remembered for it"))
                    return
                try:
                    facts = await get_agent_facts(address, self.port, credentials[address], timeout=self.timeout,
                                                  retries=self.retries, cap=cap,
                                                  engine=engine_for(credentials[address]))  # within AGENT_SECONDS
                    index = facts["answered"] if credentials[address] is self.credentials else None
                    events.put(("report", address, (*report_of(facts, address), index)))
                except SnmpError as error:
                    events.put(("failed", address, str(error)))
                except Exception as error:  # a broken answer must not end the other agents' walks
                    log.debug("agent %s", address, exc_info=True)
                    events.put(("failed", address, f"unexpected {said(error)}"))

        try:
            await asyncio.gather(*(one(a) for a in self.addresses))
        finally:
            for engine in engines.values():
                engine.close_dispatcher()
