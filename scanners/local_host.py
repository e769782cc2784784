"""The this-host scanner behind `estatemap scan host`: what the machine it runs on is and does.

Seven stages (hardware, os, interfaces, software, processes, sockets, databases) build one
`HostReport`. `get_*` functions talk to the source (psutil, files, subprocesses) and hand back
plain strings, dicts and lists without interpreting them; `transform_*` functions are pure and
are unit-tested from output recorded on a real machine (tests/data/local/). A stage that fails
becomes a warning (`"<stage>: <error>"`) and the others still run; what an unprivileged user
cannot see is left None and, where it matters, said in a warning.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import ntpath
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psutil

from discovery.records.model import (Connection, Database, Host, HostReport, Interface, Process, ScanCancelled,
                                     ScanContext, Service, Software, counted, utc_now)
from discovery.scanning.sampling import watch_connections
from scanners import platform_software
from scanners.host_facts import (
    CONTAINER_MARKERS, DMI_FILES, SOURCE, VERSION_PATTERNS, count_unowned_sockets, get_port_names, is_listener,
    is_trusted_executable, transform_connections, transform_cpuinfo, transform_databases, transform_db_version,
    transform_engine, transform_hardware, transform_host_addresses, transform_mac, transform_os,
    transform_services, utc_time,
)

log = logging.getLogger(__name__)

STAGES = ("hardware", "os", "interfaces", "software", "processes", "sockets", "databases")

DETECT_VIRT_TIMEOUT = 5   # seconds
VERSION_TIMEOUT = 5       # seconds for a database binary's --version
RAW_VERSION_LIMIT = 2000  # characters of --version output kept as evidence

DMI_DIR = "/sys/class/dmi/id"


PROCESS_ATTRS = ("pid", "ppid", "name", "exe", "username", "create_time", "cmdline", "status")
UNKNOWN_PROCESS = "(unknown)"  # Process.name is required; used only when neither name nor exe is readable


class LocalHostScanner:
    """Scans the machine it runs on; yields exactly one HostReport."""

    kind = "host"

    def __init__(self, *, watch: float | None = None, every: float | None = None):
        """`watch` seconds of connection sampling every `every` seconds after the inventory (None: one snapshot)."""
        self.watch, self.every = watch, every

    def targets(self) -> tuple[str, ...]:
        """Return (this machine's hostname,)."""
        return (socket.gethostname(),)

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]:
        """Yield one HostReport for this machine; raises ScanCancelled if the user stops the scan."""
        collected = _Collected(observed_at=ctx.started_at)
        stages: tuple[tuple[str, Callable[[_Collected, ScanContext], None]], ...] = (
            ("hardware", _collect_hardware), ("os", _collect_os), ("interfaces", _collect_interfaces),
            ("software", _collect_software), ("processes", _collect_processes),
            ("sockets", _collect_sockets), ("databases", _collect_databases),
        )
        for done, (stage, collect) in enumerate(stages, 1):
            ctx.check_cancelled()
            try:
                collect(collected, ctx)
            except ScanCancelled:
                raise
            except Exception as error:  # one broken stage never loses the others
                ctx.warn(f"{stage}: {_describe(error)}")
            ctx.report(done, len(stages), f"{stage} done")
        ctx.check_cancelled()
        if self.watch:
            sampler = watch_connections(lambda: _sample_connections(collected), ctx, duration=self.watch,
                                        every=self.every or self.watch, first=collected.connections)
            collected.connections = sampler.connections()
        yield collected.build_report()
        ctx.check_cancelled()  # a watch stopped early is kept, and the scan marked interrupted


def _sample_connections(c: _Collected) -> tuple[Connection, ...]:
    """Return the connections open now, with their processes' names (new processes looked up)."""
    sockets = get_sockets()["sockets"]
    names = {pid: info["name"] for pid, info in c.process_infos.items() if info.get("name")}
    names.update(get_process_names({s["pid"] for s in sockets if s["pid"] is not None} - names.keys()))
    return transform_connections(sockets, names, utc_now())


@dataclass
class _Collected:
    """What the stages have found so far."""
    observed_at: datetime
    host: dict[str, Any] = field(default_factory=dict)
    interfaces: tuple[Interface, ...] = ()
    software: list[Software] = field(default_factory=list)
    processes: tuple[Process, ...] = ()
    process_infos: dict[int, dict[str, Any]] = field(default_factory=dict)
    services: tuple[Service, ...] = ()
    connections: tuple[Connection, ...] = ()
    databases: tuple[Database, ...] = ()
    raw: dict[str, str] = field(default_factory=dict)

    def build_report(self) -> HostReport:
        return HostReport(
            host=Host(source=SOURCE, observed_at=self.observed_at, **self.host),
            interfaces=self.interfaces, software=tuple(self.software), processes=self.processes,
            services=self.services, databases=self.databases, connections=self.connections,
            raw=dict(self.raw),
        )


# --- stages: fetch with get_*, shape with transform_*, warn about what could not be seen -------

def _collect_hardware(c: _Collected, ctx: ScanContext) -> None:
    cpuinfo = get_cpuinfo()
    dmi = get_dmi()
    detect_virt = get_detect_virt()
    processor = get_processor() if transform_cpuinfo(cpuinfo) is None else None
    c.host.update(transform_hardware(
        counts=get_hardware_counts(), cpuinfo=cpuinfo, processor=processor, dmi=dmi,
        detect_virt=detect_virt, markers=get_container_markers(), block_devices=get_block_devices(),
        partitions=get_partitions(), machine_id=get_machine_id(),
    ))
    if cpuinfo:
        c.raw["cpuinfo"] = cpuinfo.strip().split("\n\n", 1)[0]  # the first processor is enough
    if any(v is not None for v in dmi.values()):
        c.raw["dmi"] = "".join(f"{k}: {v.strip()}\n" for k, v in dmi.items() if v is not None)
    if detect_virt is not None:
        c.raw["systemd-detect-virt"] = detect_virt


def _collect_os(c: _Collected, ctx: ScanContext) -> None:
    os_release = get_os_release()
    c.host.update(transform_os(get_os_facts(), os_release))
    if os_release is not None:
        c.raw["os-release"] = os_release


def _collect_interfaces(c: _Collected, ctx: ScanContext) -> None:
    c.interfaces = transform_interfaces(get_interfaces(), c.observed_at)
    addresses, macs = transform_host_addresses(c.interfaces)
    c.host.update(addresses=addresses, macs=macs)


def _collect_software(c: _Collected, ctx: ScanContext) -> None:
    if sys.platform == "win32":
        entries = platform_software.get_windows_uninstall_entries()
        c.software.extend(platform_software.transform_windows_software(entries, c.observed_at))
        c.raw["registry"] = json.dumps(entries, default=str, indent=0)
        return
    if sys.platform == "darwin":
        apps = platform_software.get_macos_app_plists()
        c.software.extend(platform_software.transform_macos_apps(apps, c.observed_at))
        c.raw["applications"] = json.dumps(apps, default=str, indent=0)
        return
    managers = (
        ("dpkg", "dpkg-query", platform_software.get_dpkg_output, platform_software.transform_dpkg),
        ("rpm", "rpm", platform_software.get_rpm_output, platform_software.transform_rpm),
    )
    found = False
    for label, tool, get_output, transform in managers:
        ctx.check_cancelled()
        try:
            text = get_output()
        except (OSError, subprocess.SubprocessError) as error:
            ctx.warn(f"software: {tool} failed: {_describe_process_error(error)}")
            found = True
            continue
        if text is None:
            continue
        found = True
        records, bad = transform(text, c.observed_at)
        c.software.extend(records)
        c.raw[label] = text
        if bad:
            ctx.warn(f"software: skipped {len(bad)} unreadable {tool} lines")
    if not found and sys.platform.startswith("linux"):
        ctx.warn("software: no supported package manager found (dpkg-query, rpm)")


def _collect_processes(c: _Collected, ctx: ScanContext) -> None:
    infos = get_processes()
    c.process_infos = {info["pid"]: info for info in infos}
    c.processes, denied = transform_processes(infos, c.observed_at)
    if denied:
        if get_is_admin():  # nothing the user can do (another container's process): said at -v, by name
            for info in infos:
                if info.get("denied") and info.get("status") != psutil.STATUS_ZOMBIE:
                    log.info("processes: %s of %s (pid %s) could not be read even as root",
                             ", ".join(info["denied"]), info.get("name") or UNKNOWN_PROCESS, info["pid"])
        else:
            ctx.warn(f"processes: {counted(denied, 'process', 'processes')} had fields this user may not "
                     "read (run as root to see them)")


def _collect_sockets(c: _Collected, ctx: ScanContext) -> None:
    table = get_sockets()
    sockets = table["sockets"]
    names = {pid: info["name"] for pid, info in c.process_infos.items() if info.get("name")}
    missing = {s["pid"] for s in sockets if s["pid"] is not None} - names.keys()
    names.update(get_process_names(missing))
    listeners = {(s["protocol"], s["local_port"]) for s in sockets if is_listener(s)}
    c.services = transform_services(sockets, names, get_port_names(listeners), c.observed_at)
    c.connections = transform_connections(sockets, names, c.observed_at)
    if table["per_process"]:
        ctx.warn(f"sockets: the system-wide socket table needs root; showing the sockets of readable "
                 f"processes only ({table['denied_processes']} processes denied; run as root)")
    unowned = count_unowned_sockets(sockets)
    if unowned and not get_is_admin():
        ctx.warn(f"sockets: {counted(unowned, 'socket has', 'sockets have')} no owning process "
                 "(other users'; run as root)")


def _collect_databases(c: _Collected, ctx: ScanContext) -> None:
    identified: dict[int, tuple[str, str | None]] = {}
    seen: set[int] = set()
    for service in c.services:
        pid = service.pid
        if pid is None or pid in seen:
            continue
        seen.add(pid)
        ctx.check_cancelled()  # each --version may take up to VERSION_TIMEOUT
        info = c.process_infos.get(pid) or get_process_info(pid)
        if info is None:
            continue
        engine = transform_engine(info.get("name"), info.get("exe"), info.get("cmdline"))
        if engine is None:
            continue
        version = None
        if engine in VERSION_PATTERNS:
            output = get_version_output(pid, info.get("exe"), info.get("name"))
            if output:
                c.raw[f"version:{engine}:{pid}"] = output[:RAW_VERSION_LIMIT]
                engine, version = transform_db_version(engine, output)
        if version is None and engine == "postgresql":
            data_dir = transform_pg_data_dir(info.get("cmdline"))
            if data_dir is not None:
                version = (get_text_file(os.path.join(data_dir, "PG_VERSION")) or "").strip() or None
        identified[pid] = (engine, version)
    c.databases = transform_databases(c.services, identified, c.observed_at)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _describe_process_error(error: BaseException) -> str:
    if isinstance(error, subprocess.TimeoutExpired):
        return f"timed out after {error.timeout:g} s"
    if isinstance(error, subprocess.CalledProcessError):
        stderr = (error.stderr or b"").decode("utf-8", errors="replace").strip().splitlines()
        return f"exit status {error.returncode}" + (f": {stderr[-1]}" if stderr else "")
    return _describe(error)


# --- get: talk to the source, no parsing ------------------------------------------------------

def get_text_file(path: str) -> str | None:
    """Return the text of `path`, or None when it is missing or unreadable (e.g. root-only)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def get_cpuinfo() -> str | None:
    """Return /proc/cpuinfo, or None where there is none."""
    return get_text_file("/proc/cpuinfo")


def get_processor() -> str | None:
    """Return platform.processor() (may run `uname -p`), or None when empty."""
    return platform.processor() or None


def get_os_release() -> str | None:
    """Return /etc/os-release (or /usr/lib/os-release), or None where neither exists."""
    return get_text_file("/etc/os-release") or get_text_file("/usr/lib/os-release")


def get_dmi(directory: str = DMI_DIR) -> dict[str, str | None]:
    """Return the DMI files of interest, each None when missing or unreadable (serial and UUID are root-only)."""
    return {name: get_text_file(os.path.join(directory, name)) for name in DMI_FILES}


def get_machine_id() -> str | None:
    """Return /etc/machine-id (or D-Bus's copy), or None."""
    return get_text_file("/etc/machine-id") or get_text_file("/var/lib/dbus/machine-id")


def get_detect_virt() -> str | None:
    """Return `systemd-detect-virt` output ("none" on bare metal), or None where it is missing or fails."""
    tool = shutil.which("systemd-detect-virt")
    if tool is None:
        return None
    try:
        done = subprocess.run([tool], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=DETECT_VIRT_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    # It exits 1 when it prints "none"; its stdout is the answer either way.
    return done.stdout.decode("utf-8", errors="replace") or None


def get_container_markers() -> dict[str, bool]:
    """Return whether each container marker file exists."""
    return {path: os.path.exists(path) for path, _ in CONTAINER_MARKERS}


def get_hardware_counts() -> dict[str, Any]:
    """Return psutil's CPU counts, CPU frequency, memory and swap totals; raises on psutil failure."""
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, RuntimeError):
        freq = None
    try:
        swap = psutil.swap_memory().total
    except (OSError, RuntimeError):
        swap = None
    return {
        "cpu_physical": psutil.cpu_count(logical=False),
        "cpu_logical": psutil.cpu_count(),
        "cpu_freq": None if freq is None else {"current": freq.current, "max": freq.max},
        "memory_total": psutil.virtual_memory().total,
        "swap_total": swap,
    }


def get_block_devices(root: str = "/sys/block") -> list[dict[str, str | None]]:
    """Return the raw sysfs attributes of each block device (strings as read, None when unreadable)."""
    devices = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    for name in names:
        base = os.path.join(root, name)
        devices.append({
            "name": name,
            "size": get_text_file(os.path.join(base, "size")),
            "model": get_text_file(os.path.join(base, "device", "model")),
            "serial": (get_text_file(os.path.join(base, "device", "serial"))
                       or get_text_file(os.path.join(base, "serial"))),
            "rotational": get_text_file(os.path.join(base, "queue", "rotational")),
        })
    return devices


def get_partitions() -> list[dict[str, Any]]:
    """Return mounted physical filesystems with their usage; ones whose usage cannot be read are left out."""
    partitions = []
    for part in psutil.disk_partitions(all=False):
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            continue
        partitions.append({"device": part.device, "mountpoint": part.mountpoint, "fstype": part.fstype,
                           "total": usage.total, "used": usage.used, "free": usage.free})
    return partitions


def get_os_facts() -> dict[str, Any]:
    """Return what the platform module, socket and psutil say about the OS and names."""
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "win32_ver": list(platform.win32_ver()) if sys.platform == "win32" else None,
        "mac_ver": platform.mac_ver()[0] if sys.platform == "darwin" else None,
        "hostname": socket.gethostname(),
        "fqdn": socket.getfqdn(),
        "boot_time": psutil.boot_time(),
    }


def get_interfaces() -> dict[str, Any]:
    """Return psutil's interface addresses and stats as plain dicts (family: "inet", "inet6", "link")."""
    families = {socket.AF_INET: "inet", socket.AF_INET6: "inet6", psutil.AF_LINK: "link"}
    addrs = {
        name: [{"family": families.get(a.family, str(int(a.family))), "address": a.address,
                "netmask": a.netmask} for a in entries]
        for name, entries in psutil.net_if_addrs().items()
    }
    stats = {name: {"isup": s.isup, "speed": s.speed, "mtu": s.mtu}
             for name, s in psutil.net_if_stats().items()}
    return {"addrs": addrs, "stats": stats}


def get_processes() -> list[dict[str, Any]]:
    """Return one dict per process; fields access was denied for are None and named in "denied"."""
    denied_marker = object()
    infos = []
    for proc in psutil.process_iter(attrs=list(PROCESS_ATTRS), ad_value=denied_marker):
        info = dict(proc.info)
        denied = sorted(k for k, v in info.items() if v is denied_marker)
        for key in denied:
            info[key] = None
        info["denied"] = denied
        infos.append(info)
    return infos


def get_process_info(pid: int) -> dict[str, Any] | None:
    """Return name, exe and cmdline of `pid` (None where denied), or None if it has gone."""
    try:
        return psutil.Process(pid).as_dict(attrs=["pid", "name", "exe", "cmdline"], ad_value=None)
    except psutil.NoSuchProcess:
        return None


def get_process_names(pids: Iterable[int]) -> dict[int, str]:
    """Return the names of the processes in `pids` that still exist and may be read."""
    names = {}
    for pid in pids:
        try:
            names[pid] = psutil.Process(pid).name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return names


def get_sockets() -> dict[str, Any]:
    """Return inet sockets as plain dicts; falls back to per-process tables where the system table is denied.

    Result: {"sockets": [...], "per_process": bool, "denied_processes": int}.
    """
    try:
        return {"sockets": [_socket_dict(c, c.pid) for c in psutil.net_connections(kind="inet")],
                "per_process": False, "denied_processes": 0}
    except psutil.AccessDenied:
        pass
    sockets, denied = [], 0
    for proc in psutil.process_iter():
        per_process = getattr(proc, "net_connections", None) or proc.connections  # psutil < 6 has connections()
        try:
            table = per_process(kind="inet")
        except (psutil.AccessDenied, psutil.ZombieProcess):
            denied += 1
            continue
        except psutil.NoSuchProcess:
            continue
        sockets.extend(_socket_dict(c, proc.pid) for c in table)
    return {"sockets": sockets, "per_process": True, "denied_processes": denied}


def _socket_dict(conn: Any, pid: int | None) -> dict[str, Any]:
    return {
        "protocol": "tcp" if conn.type == socket.SOCK_STREAM else "udp",
        "local_address": conn.laddr.ip if conn.laddr else None,
        "local_port": conn.laddr.port if conn.laddr else None,
        "remote_address": conn.raddr.ip if conn.raddr else None,
        "remote_port": conn.raddr.port if conn.raddr else None,
        "status": conn.status,
        "pid": pid,
    }


def get_is_admin() -> bool:
    """Return whether this process runs as root (Administrator on Windows)."""
    if hasattr(os, "geteuid"):
        return os.geteuid() == 0
    try:
        import ctypes
        return bool(ctypes.windll.shell32.IsUserAnAdmin())
    except (ImportError, AttributeError, OSError):
        return False


def get_trusted_executable(pid: int, exe: str | None) -> str | None:
    """Return a path that runs `pid`'s own binary, or None when it cannot be found or is not trusted.

    On Linux this is /proc/PID/exe: the very binary running, even if its file was replaced.
    Running it (as root, often) is only safe for a binary only root (or this user) can change.
    """
    path = f"/proc/{pid}/exe" if os.path.exists("/proc/self/exe") else exe
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    if sys.platform == "win32":
        return path if is_trusted_windows_path(path, os.environ) else None
    return path if is_trusted_executable(st.st_mode, st.st_uid, os.geteuid()) else None


def get_version_output(pid: int, exe: str | None, name: str | None) -> str | None:
    """Return what `pid`'s binary prints for --version (stdout then stderr), or None when it cannot be run."""
    path = get_trusted_executable(pid, exe)
    if path is None:
        return None
    # argv[0] is the process's own name: some binaries (redis-server -> redis-check-rdb) act on it.
    argv0 = name or os.path.basename(exe or path)
    try:
        done = subprocess.run([argv0, "--version"], executable=path, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=VERSION_TIMEOUT,
                              env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError):
        return None
    output = (done.stdout + done.stderr).decode("utf-8", errors="replace")
    return output or None


# --- transform: pure ------------------------------------------------------------------------


def transform_netmask(netmask: str | None) -> int | None:
    """Return the prefix length of an IPv4 or IPv6 netmask ("255.255.255.0" -> 24), None if not a netmask."""
    if not netmask:
        return None
    try:
        mask = ipaddress.ip_address(netmask)
    except ValueError:
        return None
    bits, value = mask.max_prefixlen, int(mask)
    prefix = bin(value).count("1")
    contiguous = ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)
    return prefix if value == contiguous else None


def transform_interfaces(data: Mapping[str, Any], observed_at: datetime) -> tuple[Interface, ...]:
    """Return one Interface per network interface from get_interfaces() output."""
    addrs, stats = data["addrs"], data["stats"]
    interfaces = []
    for name in [*addrs, *(n for n in stats if n not in addrs)]:
        mac, addresses = None, []
        for entry in addrs.get(name, ()):
            if entry["family"] == "link":
                mac = mac or transform_mac(entry["address"])
            elif entry["family"] in ("inet", "inet6") and entry["address"]:
                address = entry["address"].split("%", 1)[0]  # drop the IPv6 zone ("%eth0")
                prefix = transform_netmask(entry.get("netmask"))
                addresses.append(address if prefix is None else f"{address}/{prefix}")
        st = stats.get(name)
        interfaces.append(Interface(
            name=name, mac=mac, addresses=tuple(addresses),
            is_up=st["isup"] if st else None,
            speed_mbps=(st["speed"] or None) if st else None,
            mtu=(st["mtu"] or None) if st else None,
            source=SOURCE, observed_at=observed_at,
        ))
    return tuple(interfaces)


def transform_processes(infos: Iterable[Mapping[str, Any]], observed_at: datetime) -> tuple[tuple[Process, ...], int]:
    """Return (processes, how many had a field denied) from get_processes() output; zombies are not counted."""
    processes, denied = [], 0
    for info in infos:
        if info.get("denied") and info.get("status") != psutil.STATUS_ZOMBIE:
            denied += 1
        exe = info.get("exe") or None
        cmdline = info.get("cmdline")
        processes.append(Process(
            pid=info["pid"],
            ppid=info.get("ppid"),
            name=info.get("name") or (os.path.basename(exe) if exe else UNKNOWN_PROCESS),
            exe=exe,
            username=info.get("username") or None,
            started_at=utc_time(info.get("create_time")),
            cmdline=shlex.join(cmdline) if cmdline else None,
            source=SOURCE, observed_at=observed_at,
        ))
    return tuple(processes), denied


def transform_pg_data_dir(cmdline: Sequence[str] | None) -> str | None:
    """Return the absolute data directory given to postgres with -D, or None."""
    args = list(cmdline or ())
    for i, arg in enumerate(args):
        value = None
        if arg == "-D" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("-D") and len(arg) > 2:
            value = arg[2:]
        if value is not None:
            return value if os.path.isabs(value) else None
    return None


def is_trusted_windows_path(path: str, environ: Mapping[str, str]) -> bool:
    """Return whether a Windows `path` lies under Program Files or the Windows directory (administrators-only)."""
    roots = [environ.get(k) for k in ("ProgramFiles", "ProgramFiles(x86)", "ProgramW6432", "SystemRoot")]
    folded = ntpath.normcase(ntpath.normpath(path))
    return any(root and folded.startswith(ntpath.normcase(ntpath.normpath(root)).rstrip("\\") + "\\")
               for root in roots)


