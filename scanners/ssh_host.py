"""Agentless collection over SSH behind `estatemap scan ssh`: what each Linux host is and does, from its standard tools.

One SSH connection per host (asyncssh, on an event loop in a thread of its own); at most `concurrency` hosts
are inventoried at once, each within `timeout` seconds, and each host's HostReport is handed on as soon as
that host is done. On a host a fixed list of commands runs (COMMANDS: /etc/os-release, uname, lscpu, df, ip,
dpkg-query/rpm, ps, ss, ...) as one `sh` script in one SSH channel (a channel costs ~0.1 s, a command ~5 ms),
each command in a section of its own with its exit status, under LC_ALL=C, TZ=UTC and a standard PATH; nothing
a user typed is ever part of a command. `get_*` functions talk to the host, `transform_*` functions are pure
(unit-tested from output recorded on real hosts, tests/data/ssh/) and reuse the ones `scan host` uses
(scanners.local_host, scanners.platform_software). A missing tool is a warning for that host (ss falls back
to netstat, then to /proc/net; lscpu to /proc/cpuinfo; lsblk to /sys/block; ip to /sys/class/net). A host
that cannot be reached, refuses the login, times out or shows an unknown or changed host key becomes one
warning, "<host>: <reason>", and the other hosts carry on.

Host keys are checked against known_hosts (~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts, or the one
file given). An unknown key fails the host unless `accept_new` is set: then it is trusted and appended to
the user's known_hosts file (what `ssh -o StrictHostKeyChecking=accept-new` does), so that a later change
is caught. A changed key always fails. ~/.ssh/config is not read.

The collector's own SSH session is marked in every HostReport.raw, so a dependency filter can drop it:
    raw["ssh-session"]      = "<client address> <client port> <server port>"   ($SSH_CONNECTION on the host)
    raw["ssh-session-pids"] = "<pid> <pid> ..."   the sshd processes serving the session (host's PID numbering)
The session is the inbound connection whose local port is the server port and whose remote end is the
client address and port. The collector's own shell and `ps` are left out of the process list.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import errno
import functools
import getpass
import ipaddress
import logging
import os
import queue
import re
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import asyncssh

from discovery.model import (
    Connection, EstateError, Host, HostReport, Interface, Process, ScanCancelled, ScanContext, utc_now,
)
from discovery.sampling import watch_connections
from discovery.secrets import SecretsError, ssh_account
from discovery.targets import Target, TargetError, parse_target, parse_targets
from scanners import platform_software
from scanners.host_facts import (
    DMI_FILES, VERSION_PATTERNS, count_unowned_sockets, get_port_names, is_trusted_executable,
    transform_connections, transform_cpuinfo, transform_databases, transform_db_version, transform_engine,
    transform_hardware, transform_host_addresses, transform_mac, transform_os, transform_services,
)

log = logging.getLogger(__name__)

SOURCE = "ssh"
DEFAULT_PORT = 22
DEFAULT_CONCURRENCY = 10
DEFAULT_TIMEOUT = 60.0      # seconds per host: connecting, logging in and the whole inventory (not the watch)
VERSION_TIMEOUT = 5         # seconds for a database binary's --version on the host
RAW_LIMIT = 64 * 1024       # characters of one command's output kept as evidence
KEEPALIVE_INTERVAL = 30     # seconds, while a connection idles between --watch samples
STOP_GRACE = 5.0            # seconds the event loop gets to close connections when the scan stops
DRAIN_SECONDS = 5.0         # on cancel: how long hosts in their watch get to hand in what they sampled
POLL_SECONDS = 0.1          # how often the scanning thread looks at the cancel flag
MISSING = 127               # the shell's exit status for "command not found"
PREFERRED_AUTH = "publickey,keyboard-interactive,password"
REMOTE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Every command run on a host: fixed text. The inventory runs as one script (build_inventory_script) in one
# SSH channel, each command in a section of its own with its exit status; the script is sent as
# `env LC_ALL=C TZ=UTC PATH=... sh -c '<script>'`, so the scripts hold no single quote (the wrapper's quoting)
# and no "!" or backslash pair (csh and fish login shells read the quoted text too).
COMMANDS: dict[str, str] = {
    "session": 'echo "$SSH_CONNECTION"; id -u; echo $$',
    "uname": "uname -srm",
    "os-release": "cat /etc/os-release || cat /usr/lib/os-release",
    "hostname": "hostname || cat /proc/sys/kernel/hostname; hostname -f",
    "machine-id": "cat /etc/machine-id || cat /var/lib/dbus/machine-id",
    "boot": "grep ^btime /proc/stat",
    "dmi": "grep -Hs . " + " ".join(f"/sys/class/dmi/id/{name}" for name in DMI_FILES),
    "virt": "systemd-detect-virt",
    "container": "for f in /.dockerenv /run/.containerenv; do test -e $f && echo $f; done; true",
    "nproc": "nproc",
    "meminfo": "cat /proc/meminfo",
    "df": "df -PT -B1",
    # In sh's double quotes \$ is a dollar sign and \t stays \t, which dpkg-query and rpm expand themselves.
    "dpkg": 'dpkg-query -W -f "' + platform_software.DPKG_FORMAT.replace("$", "\\$") + '"',
    "rpm": 'rpm -qa --queryformat "' + platform_software.RPM_FORMAT + '"',
    "lscpu": "lscpu",
    "cpuinfo": "cat /proc/cpuinfo",
    "lsblk": "lsblk -b -d -n -P -o NAME,SIZE,MODEL,SERIAL,ROTA,TYPE",
    "sys-block": "grep -Hs . /sys/block/*/size /sys/block/*/queue/rotational /sys/block/*/device/model "
                 "/sys/block/*/device/serial",
    "ip-link": "ip -o link",
    "ip-addr": "ip -o addr",
    "sys-net": "grep -Hs . /sys/class/net/*/address /sys/class/net/*/mtu /sys/class/net/*/operstate",
    # ps runs in a subshell of the script's shell (whose pid "session" prints): its parent is that shell.
    "ps": "exec ps -eo pid,ppid,user:32,lstart,comm,args",
    "ss": "ss -tunapH",
    "netstat": "netstat -tunap",
    "proc-net": "for f in tcp tcp6 udp udp6; do echo == $f; cat /proc/net/$f; done; echo == fd; "
                "ls -l /proc/[0-9]*/fd; true",
    # --watch samples (one command each): TCP only, with the tool the inventory found.
    "ss-tcp": "ss -tnapH",
    "netstat-tcp": "netstat -tnap",
    "proc-net-tcp": "for f in tcp tcp6; do echo == $f; cat /proc/net/$f; done; echo == fd; ls -l /proc/[0-9]*/fd; true",
}
# The inventory script runs these once each, in this order, then each group of alternatives in FALLBACKS
# (the next one only when the one before exited non-zero), with ps just before the socket table.
INVENTORY = ("session", "uname", "os-release", "hostname", "machine-id", "boot", "dmi", "virt", "container",
             "nproc", "meminfo", "df", "dpkg", "rpm")
FALLBACKS = {
    "cpu": ("lscpu", "cpuinfo"),
    "disks": ("lsblk", "sys-block"),
    "interfaces": ("ip-link", "sys-net"),   # ip-addr runs after a working ip-link
    "sockets": ("ss", "netstat", "proc-net"),
}
SAMPLE_COMMANDS = {"ss": "ss-tcp", "netstat": "netstat-tcp", "proc-net": "proc-net-tcp"}
TOOL_NAMES = {
    "lscpu": "lscpu", "cpuinfo": "/proc/cpuinfo", "lsblk": "lsblk", "sys-block": "/sys/block",
    "ip-link": "ip", "ip-addr": "ip", "sys-net": "/sys/class/net (MACs only, no addresses)", "ss": "ss",
    "netstat": "netstat", "proc-net": "/proc/net", "df": "df", "ps": "ps", "dpkg": "dpkg-query", "rpm": "rpm",
    "meminfo": "/proc/meminfo", "nproc": "nproc",
}

# ss and netstat state names -> psutil's, which the shared transforms compare against.
SS_STATES = {
    "ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV", "FIN-WAIT-1": "FIN_WAIT1",
    "FIN-WAIT-2": "FIN_WAIT2", "TIME-WAIT": "TIME_WAIT", "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK",
    "LISTEN": "LISTEN", "CLOSING": "CLOSING", "UNCONN": "CLOSE", "CLOSED": "CLOSE",
}
NETSTAT_STATES = frozenset(("ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                            "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "UNKNOWN"))
# /proc/net/tcp's st column (include/net/tcp_states.h).
PROC_TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE",
    8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "SYN_RECV",
}
UDP_STATUS = "NONE"  # psutil's status for every UDP socket
# uname -m of big-endian machines: /proc/net/* addresses are in the host's byte order.
BIG_ENDIAN_MACHINES = frozenset(("s390", "s390x", "ppc", "ppc64", "sparc", "sparc64", "mips", "mips64", "m68k",
                                 "parisc", "parisc64", "armeb", "aarch64_be", "sh4eb"))
# Filesystem types df lists that are not storage.
VIRTUAL_FILESYSTEMS = frozenset(("tmpfs", "devtmpfs", "squashfs", "overlay", "proc", "sysfs", "ramfs", "efivarfs"))
SSHD_PROGRAMS = ("sshd", "sshd-session", "sshd-auth")

_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
_LSTART = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"
_PS_LINE = re.compile(rf"^\s*(?P<pid>\d+)\s+(?P<ppid>\d+)\s+(?P<user>\S+)\s+(?P<lstart>{_LSTART}) (?P<rest>.*)$")
_PS_COMM_WIDTH = 15  # procps prints comm in a 15-character column (the kernel's TASK_COMM_LEN - 1)
_SS_USER = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=\d+\)')
_LSBLK_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_IP_LINK = re.compile(r"^\d+:\s+(?P<name>[^:@\s]+)(?:@\S+)?:\s+<(?P<flags>[^>]*)>(?P<rest>.*)$")


# --- targets ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SshTarget:
    """One host to log in to: `host` is a validated address or hostname, `user` None for the default user."""
    host: str
    user: str | None = None

    @property
    def text(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


def parse_ssh_target(text: str) -> SshTarget:
    """Return `[user@]host` validated (host: an address or hostname, never a range); raises TargetError."""
    if not isinstance(text, str) or not text.strip():
        raise TargetError("empty host")
    text = text.strip()
    user = None
    if "@" in text:
        user, _, host = text.rpartition("@")
        if not _USER.match(user):
            raise TargetError(f"{text[:60]!r} is not [user@]host (a user name is letters, digits, _ . -)")
    else:
        host = text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # [fe80::1] as ssh writes it
    target = parse_target(host)
    if target.kind not in ("address", "hostname"):
        raise TargetError(f"{text[:60]!r} is a {target.kind}; scan ssh takes single hosts (addresses or names)")
    return SshTarget(host=target.text, user=user)


def parse_hosts_file(text: str, name: str = "hosts file") -> list[str]:
    """Return the hosts in a hosts file: one per line, `#` starts a comment, blank lines skipped."""
    hosts = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if len(entry.split()) != 1:
            raise TargetError(f"{name}, line {number}: one host per line, not {entry[:60]!r}")
        hosts.append(entry)
    return hosts


def load_hosts(hosts: Sequence[str] = (), hosts_file: str | os.PathLike | None = None) -> list[SshTarget]:
    """Return the hosts given and those in `hosts_file`, validated, duplicates removed; raises TargetError."""
    texts = list(hosts)
    if hosts_file is not None:
        path = Path(hosts_file)
        try:
            texts += parse_hosts_file(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError) as error:
            raise TargetError(f"cannot read hosts file {path}: {getattr(error, 'strerror', None) or error}") from None
    if not texts:
        raise TargetError("no hosts given (name them, or use --hosts-file FILE)")
    return list({t.text: t for t in map(parse_ssh_target, texts)}.values())


def password_accounts(hosts: Sequence[str] = (), hosts_file: str | os.PathLike | None = None, *,
                      user: str | None = None, port: int = DEFAULT_PORT) -> list[str]:
    """Return the OS keyring account names (`ssh:user@host`) of the hosts, as `scan ssh` files their passwords."""
    return [ssh_account(t.user or user or getpass.getuser(), t.host, port) for t in load_hosts(hosts, hosts_file)]


def _networks(rule: Target) -> list:
    """Return the address blocks an exclusion covers (none for a hostname)."""
    if rule.kind == "hostname":
        return []
    if rule.kind == "range" and not rule.blocks:  # nmap's short form 10.0.0.1-40
        prefix, _, span = rule.text.rpartition(".")
        first, last = span.split("-")
        return list(ipaddress.summarize_address_range(ipaddress.ip_address(prefix + "." + first),
                                                      ipaddress.ip_address(prefix + "." + last)))
    return [ipaddress.ip_network(block, strict=False) for block in rule.nmap_args]


def match_exclusion(host: str, excluded: Sequence[Target]) -> Target | None:
    """Return the exclusion that covers `host` (an address, or a hostname matched by name), or None."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for rule in excluded:
        if rule.kind == "hostname":
            if address is None and host.lower().rstrip(".") == rule.text:
                return rule
        elif address is not None and any(address.version == net.version and address in net
                                         for net in _networks(rule)):
            return rule
    return None


# --- remote commands ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one remote command printed and its exit status (None when it died of a signal)."""
    stdout: str
    stderr: str = ""
    status: int | None = 0

    @property
    def ok(self) -> bool:
        return self.status == 0 and bool(self.stdout.strip())

    @property
    def missing(self) -> bool:
        return self.status == MISSING


def wrap_command(script: str) -> str:
    """Return the command line sent to the host for a fixed script (see COMMANDS)."""
    if "'" in script:
        raise ValueError("a remote script must not contain a single quote")
    return f"env LC_ALL=C TZ=UTC PATH={REMOTE_PATH} sh -c '{script}'"


def new_marker() -> str:
    """Return a random section marker: no command's output can imitate one it has never seen."""
    return f"@@estatemap-{secrets.token_hex(8)}"


def _section(marker: str, name: str, script: str) -> str:
    """Return the script that runs one command as section `name`: its stdout (through fd 3), its exit status,
    then its stderr."""
    return (f'echo "{marker} begin {name}"; e=$( {{ {script}; }} 2>&1 >&3 ); s=$?; echo; '
            f'echo "{marker} end {name} $s"; [ -z "$e" ] || printf "%s\\n" "$e"')


def _alternatives(marker: str, names: Sequence[str]) -> str:
    """Return the script that runs the commands `names` in order until one exits 0."""
    first, *rest = names
    script = _section(marker, first, COMMANDS[first])
    if first == "ip-link":
        script += f"; if [ $s -eq 0 ]; then {_section(marker, 'ip-addr', COMMANDS['ip-addr'])}; s=0; fi"
    if rest:
        script += f"; if [ $s -ne 0 ]; then {_alternatives(marker, rest)}; fi"
    return script


def build_inventory_script(marker: str) -> str:
    """Return the one script that collects a host's inventory (INVENTORY, then FALLBACKS), in sections."""
    parts = ["exec 3>&1"] + [_section(marker, name, COMMANDS[name]) for name in INVENTORY]
    for group, names in FALLBACKS.items():
        if group == "sockets":  # ps just before the socket table, so that their pids agree
            parts.append(_section(marker, "ps", COMMANDS["ps"]))
        parts.append(_alternatives(marker, names))
    return "; ".join(parts)


def build_script(marker: str, commands: Mapping[str, str]) -> str:
    """Return a script that runs each of `commands` (section name -> fixed script) in a section."""
    return "; ".join(["exec 3>&1"] + [_section(marker, name, script) for name, script in commands.items()])


def version_commands(pid: int) -> tuple[str, str]:
    """Return the scripts that check and run a database process's own binary: both hold only the integer pid."""
    pid = int(pid)
    return f'stat -L -c "%u %f" /proc/{pid}/exe', f"timeout {VERSION_TIMEOUT} /proc/{pid}/exe --version"


def transform_sections(text: str, marker: str) -> dict[str, CommandResult]:
    """Return each section's stdout, exit status and stderr from the output of a build_*script script."""
    results: dict[str, CommandResult] = {}
    name, lines, errors, status, in_body = None, [], [], None, False

    def close() -> None:
        if name is not None:
            body = lines[:-1] if lines and lines[-1] == "" else lines  # the blank line echoed before "end"
            while errors and errors[-1] == "":
                errors.pop()
            results[name] = CommandResult(stdout="".join(f"{line}\n" for line in body), stderr="\n".join(errors),
                                          status=status if not in_body else None)

    for line in text.split("\n"):
        if line.startswith(marker + " "):
            word, _, rest = line[len(marker) + 1:].partition(" ")
            if word == "begin":
                close()
                name, lines, errors, status, in_body = rest.strip(), [], [], None, True
                continue
            parts = rest.split()
            if word == "end" and name is not None and parts[:1] == [name]:
                status = int(parts[1]) if len(parts) > 1 and _digits(parts[1]) else None
                in_body = False
                continue
        if name is not None:
            (lines if in_body else errors).append(line)
    close()
    return results


BatchRunner = Callable[[str, str], Awaitable[CommandResult]]
# A section the output does not hold (it ended early, or was garbled): the command is known not to have run.
NOT_RUN = CommandResult(stdout="", status=None)


async def get_outputs(run_batch: BatchRunner, marker: str | None = None) -> dict[str, CommandResult]:
    """Run the inventory script through `run_batch(script, marker)`; return each command's result by name.

    Raises HostFailed when the host cannot run `uname` (no POSIX shell: not a Linux host).
    """
    marker = marker or new_marker()
    whole = await run_batch(build_inventory_script(marker), marker)
    outputs = transform_sections(whole.stdout, marker)
    uname = outputs.get("uname")
    if uname is None or not uname.ok:
        reason = describe_result("uname", uname) if uname is not None else describe_result("sh", whole)
        raise HostFailed(f"cannot run commands there ({reason}); only Linux hosts with a POSIX shell are supported")
    return outputs


def describe_result(name: str, result: CommandResult) -> str:
    """Return why a command gave nothing: "ss not found", "df failed (exit status 1: ...)"."""
    tool = TOOL_NAMES.get(name, name)
    if result is NOT_RUN:
        return f"{tool} did not run (the host's output ended before it)"
    if result.missing:
        return f"{tool} not found"
    last = (result.stderr.strip().splitlines() or [""])[-1][:200]
    if result.status == 0:
        return f"{tool} printed nothing" + (f" ({last})" if last else "")
    status = "killed by a signal" if result.status is None else f"exit status {result.status}"
    return f"{tool} failed ({status}{': ' + last if last else ''})"


# --- transform: pure -------------------------------------------------------------------------------

def _digits(text: str, most: int = 18) -> bool:
    """Return True for at most `most` ASCII digits: str.isdigit() also takes "²", which int() refuses, and a
    number of thousands of digits int() refuses too (more than 18 would not fit in the store either)."""
    return len(text) <= most and text.isascii() and text.isdigit()


def transform_uname(text: str) -> dict[str, str | None]:
    """Return system, release and machine from `uname -srm` ("Linux 6.1.0-18-amd64 x86_64")."""
    parts = text.split()
    if len(parts) < 3:
        return {"system": parts[0] if parts else None, "release": None, "machine": None}
    return {"system": parts[0], "release": parts[1], "machine": parts[-1]}


def transform_hostname(text: str) -> tuple[str | None, str | None]:
    """Return (hostname, fqdn) from `hostname; hostname -f` output (the second line may be missing)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else None), (lines[1] if len(lines) > 1 else None)


def transform_btime(text: str) -> int | None:
    """Return the boot time (POSIX seconds) from /proc/stat's btime line."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "btime" and _digits(parts[1]):
            return int(parts[1])
    return None


def transform_grep_files(text: str, prefix: str) -> dict[str, str]:
    """Return {path below `prefix`: value} from `grep -H . FILE...` output ("/sys/class/dmi/id/sys_vendor:QEMU")."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        path, sep, value = line.partition(":")
        if sep and path.startswith(prefix):
            values.setdefault(path[len(prefix):], value)
    return values


def transform_dmi_output(text: str) -> dict[str, str | None]:
    """Return the DMI files of interest (None where unreadable) from the dmi command's output."""
    values = transform_grep_files(text, "/sys/class/dmi/id/")
    return {name: values.get(name) for name in DMI_FILES}


def transform_meminfo(text: str) -> dict[str, int | None]:
    """Return memory_total and swap_total in bytes from /proc/meminfo."""
    found: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        parts = value.split()
        if parts and _digits(parts[0], 15):  # kB: times 1,024 still fits in the store
            found[key.strip()] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return {"memory_total": found.get("MemTotal"), "swap_total": found.get("SwapTotal")}


def transform_lscpu(text: str) -> dict[str, Any]:
    """Return cpu_model, cpu_physical, cpu_logical and cpu_freq from `lscpu` output (C locale)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values.setdefault(key.strip(), value.strip())

    def number(*keys: str) -> float | None:
        for key in keys:
            try:
                return float(values[key].replace(",", "."))
            except (KeyError, ValueError):
                continue
        return None

    logical = number("CPU(s)")
    per_socket = number("Core(s) per socket", "Core(s) per cluster")
    sockets = number("Socket(s)", "Cluster(s)")
    physical = int(per_socket * sockets) if per_socket and sockets else None
    max_mhz, mhz = number("CPU max MHz"), number("CPU MHz")
    return {
        "cpu_model": values.get("Model name") or None,
        "cpu_physical": physical,
        "cpu_logical": int(logical) if logical else None,
        "cpu_freq": {"current": mhz, "max": max_mhz} if (mhz or max_mhz) else None,
    }


def transform_proc_cpuinfo(text: str) -> dict[str, Any]:
    """Return the same fields as transform_lscpu from /proc/cpuinfo (x86 style; others give fewer)."""
    logical, cores, mhz = 0, set(), None
    physical_id = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep:
            continue
        if key == "processor":
            logical += 1
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            cores.add((physical_id, value))
        elif key == "cpu MHz" and mhz is None:
            try:
                mhz = float(value)
            except ValueError:
                pass
    return {
        "cpu_model": transform_cpuinfo(text),
        "cpu_physical": len(cores) or None,
        "cpu_logical": logical or None,
        "cpu_freq": {"current": mhz, "max": None} if mhz else None,
    }


def _unescape_lsblk(value: str) -> str:
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), value)


def transform_lsblk(text: str) -> list[dict[str, str | None]]:
    """Return sysfs-style block device dicts (size in 512-byte sectors) from `lsblk -b -d -n -P` output."""
    devices = []
    for line in text.splitlines():
        pairs = {k: _unescape_lsblk(v).strip() for k, v in _LSBLK_PAIR.findall(line)}
        if not pairs.get("NAME") or pairs.get("TYPE", "disk") != "disk":
            continue
        size = pairs.get("SIZE")
        devices.append({
            "name": pairs["NAME"],
            "size": str(int(size) // 512) if size and _digits(size) else None,
            "model": pairs.get("MODEL") or None,
            "serial": pairs.get("SERIAL") or None,
            "rotational": pairs.get("ROTA") or None,
        })
    return devices


def transform_sys_block(text: str) -> list[dict[str, str | None]]:
    """Return sysfs block device dicts from the sys-block command's `grep -H` output."""
    values = transform_grep_files(text, "/sys/block/")
    devices: dict[str, dict[str, str | None]] = {}
    attributes = {"size": "size", "queue/rotational": "rotational", "device/model": "model", "device/serial": "serial"}
    for path, value in values.items():
        name, _, attribute = path.partition("/")
        if attribute in attributes:
            devices.setdefault(name, {"name": name, "size": None, "model": None, "serial": None,
                                      "rotational": None})[attributes[attribute]] = value
    return [devices[name] for name in sorted(devices)]


def transform_df(text: str) -> list[dict[str, Any]]:
    """Return mounted storage filesystems (device, mountpoint, fstype, total, used, free) from `df -PT -B1`."""
    partitions = []
    for line in text.splitlines()[1:]:
        fields = line.split(None, 6)
        if len(fields) != 7 or not fields[0].startswith("/") or fields[1] in VIRTUAL_FILESYSTEMS:
            continue
        device, fstype, total, used, free, _, mountpoint = fields
        try:
            sizes = int(total), int(used), int(free)
        except ValueError:
            continue
        partitions.append({"device": device, "mountpoint": mountpoint, "fstype": fstype,
                           "total": sizes[0], "used": sizes[1], "free": sizes[2]})
    return partitions


def transform_ip(link_text: str, addr_text: str, observed_at: datetime) -> tuple[Interface, ...]:
    """Return one Interface per link from `ip -o link` and `ip -o addr` output."""
    links: dict[str, dict[str, Any]] = {}
    for line in link_text.splitlines():
        m = _IP_LINK.match(line.strip())
        if not m:
            continue
        mtu = re.search(r"\bmtu (\d+)", m["rest"])
        mac = re.search(r"link/\S+ ([0-9a-fA-F:]+)", m["rest"])
        links[m["name"]] = {"mac": transform_mac(mac[1]) if mac else None, "is_up": "UP" in m["flags"].split(","),
                            "mtu": int(mtu[1]) if mtu else None, "addresses": []}
    for line in addr_text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] not in ("inet", "inet6"):
            continue
        name = fields[1].split("@", 1)[0]
        links.setdefault(name, {"mac": None, "is_up": None, "mtu": None, "addresses": []})["addresses"].append(fields[3])
    return tuple(Interface(name=name, mac=link["mac"], addresses=tuple(link["addresses"]), is_up=link["is_up"],
                           mtu=link["mtu"], source=SOURCE, observed_at=observed_at)
                 for name, link in links.items())


def transform_sys_net(text: str, observed_at: datetime) -> tuple[Interface, ...]:
    """Return interfaces (MAC, MTU, up; no addresses) from the sys-net command's `grep -H` output."""
    values = transform_grep_files(text, "/sys/class/net/")
    names = sorted({path.split("/", 1)[0] for path in values})
    interfaces = []
    for name in names:
        mtu = values.get(f"{name}/mtu", "")
        state = values.get(f"{name}/operstate")
        interfaces.append(Interface(
            name=name, mac=transform_mac(values.get(f"{name}/address")), mtu=int(mtu) if _digits(mtu) else None,
            is_up=None if state in (None, "unknown") else state == "up", source=SOURCE, observed_at=observed_at))
    return tuple(interfaces)


def transform_ps(text: str) -> list[dict[str, Any]]:
    """Return one dict per process from `ps -eo pid,ppid,user:32,lstart,comm,args` output:
    pid, ppid, user, started_at (UTC: the command runs with TZ=UTC), comm, args."""
    rows = []
    for line in text.splitlines():
        m = _PS_LINE.match(line)
        if not m:
            continue
        rest = m["rest"]
        if len(rest) > _PS_COMM_WIDTH and rest[_PS_COMM_WIDTH] == " ":
            comm, args = rest[:_PS_COMM_WIDTH].strip(), rest[_PS_COMM_WIDTH + 1:].strip()
        else:  # a name wider than its column: one word
            comm, _, args = rest.partition(" ")
            args = args.strip()
        try:
            started = datetime.strptime(m["lstart"], "%a %b %d %H:%M:%S %Y").replace(tzinfo=timezone.utc)
        except ValueError:
            started = None
        rows.append({"pid": int(m["pid"]), "ppid": int(m["ppid"]), "user": m["user"], "started_at": started,
                     "comm": comm or None, "args": args or None})
    return rows


def transform_session(session_text: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return the collector's own session from the session command's output ($SSH_CONNECTION, `id -u`, the
    script's shell pid) and the process list.

    marker: "<client address> <client port> <server port>", or None when $SSH_CONNECTION is unset;
    sshd_pids: the sshd processes above the script's shell (the per-session ones, not the listener);
    own_pids: the script's shell, anything between it and sshd, and its children (our ps); uid: the remote uid.
    """
    lines = [line.strip() for line in session_text.splitlines()]
    marker = None
    parts = lines[0].split() if lines else []
    if len(parts) == 4 and _digits(parts[1]) and _digits(parts[3]):
        marker = f"{_canonical_address(parts[0])} {parts[1]} {parts[3]}"
    uid = int(lines[1]) if len(lines) > 1 and _digits(lines[1]) else None
    shell = int(lines[2]) if len(lines) > 2 and _digits(lines[2]) else None
    by_pid = {row["pid"]: row for row in rows}
    own_pids: list[int] = [row["pid"] for row in rows if shell is not None and row["ppid"] == shell]
    sshd_pids: list[int] = []
    pid, seen = shell, set()
    while pid in by_pid and pid not in seen:
        seen.add(pid)
        row = by_pid[pid]
        comm, args = row["comm"] or "", row["args"] or ""
        if comm in SSHD_PROGRAMS:
            if args.startswith(f"{comm}: ") and "[listener]" not in args:
                sshd_pids.append(pid)
        elif not sshd_pids:
            own_pids.append(pid)
        pid = row["ppid"]
    return {"marker": marker, "sshd_pids": sshd_pids, "own_pids": own_pids, "uid": uid}


def transform_processes(rows: Iterable[Mapping[str, Any]], observed_at: datetime,
                        leave_out: Iterable[int] = ()) -> tuple[Process, ...]:
    """Return Process records from transform_ps rows; kernel threads and zombies ("[name]") have no cmdline."""
    skipped = set(leave_out)
    processes = []
    for row in rows:
        if row["pid"] in skipped:
            continue
        args = row["args"]
        if args and args.startswith("[") and (args.endswith("]") or args.endswith("<defunct>")):
            args = None
        name = row["comm"] or (os.path.basename(args.split()[0]) if args else "(unknown)")
        processes.append(Process(pid=row["pid"], ppid=row["ppid"], name=name, username=row["user"],
                                 started_at=row["started_at"], cmdline=args, source=SOURCE,
                                 observed_at=observed_at))
    return tuple(processes)


def _canonical_address(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip("[]").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _split_endpoint(text: str) -> tuple[str | None, int | None]:
    """Return (address, port) from ss/netstat's "10.0.0.5:22", "[::1]:22", "*:80", "0.0.0.0:*", "fe80::1%eth0:546"."""
    address, sep, port = text.rpartition(":")
    if not sep:
        return None, None
    address = address.strip("[]").split("%", 1)[0]
    if address == "*":
        address = "::"  # ss: a socket bound to every address, IPv4 and IPv6
    return (address or None), (int(port) if _digits(port) else None)


def _socket(protocol: str, local: str, remote: str, status: str, pid: int | None,
            name: str | None = None) -> dict[str, Any]:
    local_address, local_port = _split_endpoint(local)
    remote_address, remote_port = _split_endpoint(remote)
    if remote_port is None or remote_address in ("0.0.0.0", "::") and remote_port == 0:
        remote_address, remote_port = None, None
    return {"protocol": protocol, "local_address": local_address, "local_port": local_port,
            "remote_address": remote_address, "remote_port": remote_port,
            "status": UDP_STATUS if protocol == "udp" else status, "pid": pid, "name": name}


def transform_ss(text: str) -> list[dict[str, Any]]:
    """Return socket dicts (the shape scanners.local_host's transforms take, plus "name") from `ss -tunapH`,
    or from `ss -tnapH`, which leaves the Netid column out (TCP only)."""
    sockets = []
    for line in text.splitlines():
        if line.split(None, 1)[:1] and line.split(None, 1)[0] in SS_STATES:
            line = "tcp " + line
        fields = line.split(None, 6)
        if len(fields) < 6 or fields[0] not in ("tcp", "udp"):
            continue
        user = _SS_USER.search(fields[6]) if len(fields) > 6 else None
        sockets.append(_socket(fields[0], fields[4], fields[5], SS_STATES.get(fields[1], fields[1]),
                               int(user[2]) if user else None, user[1] if user else None))
    return sockets


def transform_netstat(text: str) -> list[dict[str, Any]]:
    """Return socket dicts from `netstat -tunap` output (UDP lines have no state column)."""
    sockets = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[0] not in ("tcp", "tcp6", "udp", "udp6"):
            continue
        rest = fields[5:]
        status = "NONE"
        if rest and rest[0] in NETSTAT_STATES:
            status, rest = rest[0], rest[1:]
        program = " ".join(rest)
        pid_text, _, name = program.partition("/")
        pid = int(pid_text) if _digits(pid_text) else None
        sockets.append(_socket(fields[0].rstrip("6"), fields[3], fields[4], status, pid, name or None))
    return sockets


def _proc_address(text: str, byteorder: str) -> tuple[str, int]:
    """Return (address, port) from /proc/net/tcp's "0A00CB0A:1538" (the address in the host's byte order)."""
    hex_address, _, hex_port = text.partition(":")
    raw = bytes.fromhex(hex_address)
    if byteorder == "little":
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(hex_port, 16)


def transform_proc_net(text: str, byteorder: str = "little") -> list[dict[str, Any]]:
    """Return socket dicts from the proc-net command: /proc/net/{tcp,tcp6,udp,udp6} and `ls -l /proc/*/fd`
    (which gives each socket inode's owning pid, where readable)."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("== "):
            current = line[3:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    owners: dict[str, int] = {}
    pid = None
    for line in sections.get("fd", ()):
        m = re.match(r"^/proc/(\d+)/fd:$", line.strip())
        if m:
            pid = int(m[1])
            continue
        inode = re.search(r"-> socket:\[(\d+)\]$", line.strip())
        if inode and pid is not None:
            owners.setdefault(inode[1], pid)
    sockets = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        protocol = table.rstrip("6")
        for line in sections.get(table, ()):
            fields = line.split()
            if len(fields) < 10 or not fields[0].endswith(":") or not fields[0][:-1].isdigit():
                continue
            try:
                local, remote = _proc_address(fields[1], byteorder), _proc_address(fields[2], byteorder)
                state = int(fields[3], 16)
            except ValueError:
                continue
            remote_address, remote_port = remote if remote[1] else (None, None)
            status = PROC_TCP_STATES.get(state, "NONE") if protocol == "tcp" else UDP_STATUS
            if protocol == "tcp" and status == "LISTEN":
                remote_address, remote_port = None, None
            sockets.append({"protocol": protocol, "local_address": local[0], "local_port": local[1],
                            "remote_address": remote_address, "remote_port": remote_port, "status": status,
                            "pid": owners.get(fields[9]), "name": None})
    return sockets


SOCKET_PARSERS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "ss": transform_ss, "netstat": transform_netstat, "proc-net": transform_proc_net,
}


def transform_sockets(tool: str, text: str, byteorder: str = "little") -> list[dict[str, Any]]:
    """Return socket dicts from the output of `tool` ("ss", "netstat" or "proc-net", or their -tcp samples)."""
    tool = tool.removesuffix("-tcp")
    if tool == "proc-net":
        return transform_proc_net(text, byteorder)
    return SOCKET_PARSERS[tool](text)


def transform_port_names(sockets: Iterable[Mapping[str, Any]]) -> set[tuple[str, int]]:
    """Return (protocol, port) of every listening socket."""
    found = set()
    for s in sockets:
        if s["local_port"] is None:
            continue
        if (s["protocol"] == "tcp" and s["status"] == "LISTEN") or (s["protocol"] == "udp" and s["remote_address"] is None):
            found.add((s["protocol"], s["local_port"]))
    return found


def as_ssh(records: Iterable[Any]) -> tuple[Any, ...]:
    """Return records made by scanners.local_host's transforms with source "ssh"."""
    return tuple(dataclasses.replace(r, source=SOURCE) for r in records)


def transform_sample(tool: str, text: str, names: dict[int, str], observed_at: datetime,
                     byteorder: str = "little") -> tuple[Connection, ...]:
    """Return the connections in one --watch sample; pids not known yet get their names from the output (ss)."""
    sockets = transform_sockets(tool, text, byteorder)
    for s in sockets:
        if s["pid"] is not None and s["pid"] not in names and s["name"]:
            names[s["pid"]] = s["name"]
    return as_ssh(transform_connections(sockets, names, observed_at))


def _limit(text: str) -> str:
    if len(text) <= RAW_LIMIT:
        return text
    return text[:RAW_LIMIT] + f"\n[... {len(text) - RAW_LIMIT} more characters not kept]\n"


@dataclass
class Inventory:
    """One host's inventory before its databases' versions are asked: the report and what finishing it needs."""
    report: HostReport
    warnings: list[str]
    names: dict[int, str]                     # pid -> process name
    args: dict[int, str | None]               # pid -> command line
    socket_tool: str | None                   # "ss", "netstat", "proc-net", or None when none worked
    byteorder: str
    uid: int | None                           # the user we logged in as, on the host


def _first_working(outputs: Mapping[str, CommandResult], group: str, what: str,
                   warnings: list[str]) -> tuple[str | None, CommandResult | None]:
    """Return the alternative of `group` that worked (and warn about those tried before it)."""
    tried = [(name, outputs[name]) for name in FALLBACKS[group] if name in outputs]
    chosen = next(((name, result) for name, result in tried if result.ok), (None, None))
    failed = [describe_result(name, result) for name, result in tried if name != chosen[0]]
    if failed and chosen[0] is not None:
        warnings.append(f"{what}: {'; '.join(failed)}; used {TOOL_NAMES[chosen[0]]}")
    elif chosen[0] is None:
        warnings.append(f"{what}: nothing worked ({'; '.join(failed) or 'not run'})")
    return chosen


def transform_inventory(outputs: Mapping[str, CommandResult], observed_at: datetime,
                        port_names: Callable[[Iterable[tuple[str, int]]], Mapping[tuple[str, int], str]]
                        = get_port_names) -> Inventory:
    """Return the host's inventory from the outputs get_outputs() collected; what is missing becomes a warning."""
    warnings: list[str] = []
    raw: dict[str, str] = {}

    def text(name: str) -> str:
        result = outputs.get(name)
        return result.stdout if result is not None and result.status is not None else ""

    def keep(name: str, value: str | None = None) -> None:
        value = text(name) if value is None else value
        if value.strip():
            raw[name] = _limit(value)

    # OS and names
    uname = transform_uname(text("uname"))
    hostname, fqdn = transform_hostname(text("hostname"))
    os_release = text("os-release") or None
    facts = {**uname, "hostname": hostname, "fqdn": fqdn, "boot_time": transform_btime(text("boot"))}
    host: dict[str, Any] = transform_os(facts, os_release)
    if uname["system"] and uname["system"] != "Linux":
        warnings.append(f"not Linux ({uname['system']}): only Linux is supported; kept what its tools answered")
    byteorder = "big" if (uname["machine"] or "") in BIG_ENDIAN_MACHINES else "little"
    for name in ("uname", "os-release", "hostname", "virt"):
        keep(name)

    # hardware
    cpu_tool, _ = _first_working(outputs, "cpu", "cpu", warnings)
    cpu = transform_lscpu(text("lscpu")) if cpu_tool == "lscpu" else \
        transform_proc_cpuinfo(text("cpuinfo")) if cpu_tool == "cpuinfo" else {}
    if cpu_tool:
        keep(cpu_tool, text(cpu_tool) if cpu_tool == "lscpu" else text("cpuinfo").strip().split("\n\n", 1)[0])
    nproc = text("nproc").strip()
    memory = transform_meminfo(text("meminfo"))
    if memory["memory_total"] is None:
        warnings.append(f"memory: {describe_result('meminfo', outputs.get('meminfo', NOT_RUN))}")
    counts = {"cpu_physical": cpu.get("cpu_physical"),
              "cpu_logical": cpu.get("cpu_logical") or (int(nproc) if _digits(nproc) else None),
              "cpu_freq": cpu.get("cpu_freq"), **memory}
    disk_tool, _ = _first_working(outputs, "disks", "disks", warnings)
    block_devices = transform_lsblk(text("lsblk")) if disk_tool == "lsblk" else \
        transform_sys_block(text("sys-block")) if disk_tool == "sys-block" else []
    if disk_tool:
        keep(disk_tool)
    if outputs.get("df", NOT_RUN).ok:
        partitions = transform_df(text("df"))
        keep("df")
    else:
        partitions = []
        warnings.append(f"partitions: {describe_result('df', outputs.get('df', NOT_RUN))}")
    dmi = transform_dmi_output(text("dmi"))
    keep("dmi")
    markers = {path: path in text("container").split() for path in ("/.dockerenv", "/run/.containerenv")}
    virt = text("virt").strip() or None
    host.update(transform_hardware(
        counts=counts, cpuinfo=None, processor=cpu.get("cpu_model"), dmi=dmi, detect_virt=virt, markers=markers,
        block_devices=block_devices, partitions=partitions, machine_id=text("machine-id")))

    # interfaces
    net_tool, _ = _first_working(outputs, "interfaces", "interfaces", warnings)
    if net_tool == "ip-link":
        interfaces = transform_ip(text("ip-link"), text("ip-addr"), observed_at)
        keep("ip-link")
        keep("ip-addr")
    elif net_tool == "sys-net":
        interfaces = transform_sys_net(text("sys-net"), observed_at)
        keep("sys-net")
    else:
        interfaces = ()
    host["addresses"], host["macs"] = transform_host_addresses(interfaces)

    # software
    software = []
    managers = [(name, transform) for name, transform in
                (("dpkg", platform_software.transform_dpkg), ("rpm", platform_software.transform_rpm))]
    found = False
    for name, transform in managers:
        result = outputs.get(name, NOT_RUN)
        if result.missing:
            continue
        found = True
        if result.status != 0:
            warnings.append(f"software: {describe_result(name, result)}")
            continue
        records, bad = transform(result.stdout, observed_at)
        software += records  # Software.source names the package manager ("dpkg"), as in scan host
        keep(name)
        if bad:
            warnings.append(f"software: skipped {len(bad)} unreadable {TOOL_NAMES[name]} lines")
    if not found:
        warnings.append("software: no supported package manager found (dpkg-query, rpm)")

    # processes, and the collector's own session
    ps = outputs.get("ps")
    rows = transform_ps(ps.stdout) if ps is not None and ps.status == 0 else []
    if ps is not None and not rows:
        warnings.append(f"processes: {describe_result('ps', ps)}")
    session = transform_session(text("session"), rows)
    if session["marker"]:
        raw["ssh-session"] = session["marker"]
    if session["sshd_pids"]:
        raw["ssh-session-pids"] = " ".join(map(str, session["sshd_pids"]))
    processes = transform_processes(rows, observed_at, leave_out=session["own_pids"])
    names = {row["pid"]: row["comm"] for row in rows if row["comm"]}
    args = {row["pid"]: row["args"] for row in rows}

    # sockets
    socket_tool, socket_output = _first_working(outputs, "sockets", "sockets", warnings)
    sockets = transform_sockets(socket_tool, socket_output.stdout, byteorder) if socket_tool else []
    if socket_tool:
        keep(socket_tool)
    for s in sockets:
        if s["pid"] is not None and s["pid"] not in names and s["name"]:
            names[s["pid"]] = s["name"]
    services = as_ssh(transform_services(sockets, names, port_names(transform_port_names(sockets)), observed_at))
    connections = as_ssh(transform_connections(sockets, names, observed_at))
    unowned = count_unowned_sockets(sockets)
    if unowned and session["uid"] not in (None, 0):
        warnings.append(f"sockets: {unowned} socket{'s have' if unowned != 1 else ' has'} no owning process "
                        "(other users'; log in as root to see them)")

    report = HostReport(host=Host(source=SOURCE, observed_at=observed_at, **host), interfaces=interfaces,
                        software=tuple(software), processes=processes, services=services, connections=connections,
                        raw=raw)
    return Inventory(report=report, warnings=warnings, names=names, args=args, socket_tool=socket_tool,
                     byteorder=byteorder, uid=session["uid"])


def transform_database_candidates(inventory: Inventory) -> dict[int, str]:
    """Return {pid: engine} for the listening processes that are database servers."""
    candidates = {}
    for service in inventory.report.services:
        pid = service.pid
        if pid is None or pid in candidates:
            continue
        engine = transform_engine(inventory.names.get(pid), None, inventory.args.get(pid))
        if engine is not None:
            candidates[pid] = engine
    return candidates


def transform_stat(text: str) -> tuple[int, int] | None:
    """Return (owner uid, st_mode) from `stat -L -c "%u %f"` output, or None."""
    parts = text.split()
    try:
        return int(parts[0]), int(parts[1], 16)
    except (IndexError, ValueError):
        return None


async def get_databases(inventory: Inventory, run_batch: BatchRunner, observed_at: datetime) -> HostReport:
    """Return the report with its databases, each server binary asked its --version where that is cheap and safe.

    Two scripts at most: one stats the binaries of the listening database processes (/proc/PID/exe), the other
    runs those owned by root (or the login user) and writable by no one else with --version.
    """
    candidates = transform_database_candidates(inventory)
    asked = {pid: engine for pid, engine in candidates.items() if engine in VERSION_PATTERNS}
    raw: dict[str, str] = {}
    versions: dict[int, tuple[str, str | None]] = {}
    if asked and inventory.uid is not None:
        marker = new_marker()
        stats = transform_sections((await run_batch(build_script(
            marker, {f"stat-{pid}": version_commands(pid)[0] for pid in asked}), marker)).stdout, marker)
        trusted = [pid for pid in asked if (st := transform_stat(stats.get(f"stat-{pid}", CommandResult("")).stdout))
                   and is_trusted_executable(st[1], st[0], inventory.uid)]
        if trusted:
            marker = new_marker()
            outputs = transform_sections((await run_batch(build_script(
                marker, {f"version-{pid}": version_commands(pid)[1] for pid in trusted}), marker)).stdout, marker)
            for pid in trusted:
                result = outputs.get(f"version-{pid}")
                output = (result.stdout + result.stderr).strip() if result is not None and not result.missing else ""
                if output:
                    raw[f"version:{asked[pid]}:{pid}"] = output[:2000]
                    versions[pid] = transform_db_version(asked[pid], output)
    identified = {pid: versions.get(pid, (engine, None)) for pid, engine in candidates.items()}
    databases = as_ssh(transform_databases(inventory.report.services, identified, observed_at))
    return dataclasses.replace(inventory.report, databases=databases, raw={**inventory.report.raw, **raw})


# --- host keys ------------------------------------------------------------------------------------

class KnownHosts:
    """The known_hosts entries host keys are checked against, and the file new keys are added to.

    Lines asyncssh cannot read are skipped (and counted in `skipped`), as OpenSSH does.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, accept_new: bool = False):
        home = Path("~").expanduser()
        if path is not None:
            self.files = [Path(path)]
            if not self.files[0].is_file() and not accept_new:
                raise EstateError(f"no known_hosts file at {path} (add --accept-new-host-keys to create it)")
        else:
            self.files = [home / ".ssh" / "known_hosts", Path("/etc/ssh/ssh_known_hosts")]
        self.write_path = self.files[0]
        self.skipped = 0
        lines = []
        for file in self.files:
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue
            except OSError as error:
                raise EstateError(f"cannot read known_hosts file {file}: {error.strerror}") from None
            for line in text.splitlines():
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                try:
                    asyncssh.import_known_hosts(line)
                except (ValueError, asyncssh.KeyImportError):
                    self.skipped += 1
                    continue
                lines.append(line)
        self._lines = lines
        self._entries = asyncssh.import_known_hosts("\n".join(lines) + "\n")

    def match(self, host: str, addr: str, port: int | None) -> tuple:
        """Return asyncssh's match tuple: (host keys, CA keys, revoked keys, x509 ...)."""
        return self._entries.match(host, addr, port)

    def add(self, host: str, port: int, key: asyncssh.SSHKey) -> Path:
        """Append `key` for `host` to the user's known_hosts file (created 0600 if missing); return the file."""
        pattern = host if port == DEFAULT_PORT else f"[{host}]:{port}"
        line = f"{pattern} {' '.join(key.export_public_key('openssh').decode().split()[:2])}"
        path = self.write_path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            if f.tell() > 0 and not path.read_bytes().endswith(b"\n"):
                f.write("\n")
            f.write(line + "\n")
        self._lines.append(line)
        self._entries = asyncssh.import_known_hosts("\n".join(self._lines) + "\n")
        return path


class _HostKeyCheck:
    """One connection's host key verdict: asyncssh asks `lookup` first, then `decide` for a key it does not trust."""

    def __init__(self, known_hosts: KnownHosts, accept_new: bool):
        self.known_hosts, self.accept_new = known_hosts, accept_new
        self.had_keys = False
        self.status: str | None = None   # "unknown", "changed", "accepted"
        self.key: asyncssh.SSHKey | None = None

    def lookup(self, host: str, addr: str, port: int | None) -> tuple:
        result = self.known_hosts.match(host, addr, port)
        self.had_keys = bool(result[0] or result[1])
        return result

    def decide(self, key: asyncssh.SSHKey) -> bool:
        self.key = key
        if self.had_keys:
            self.status = "changed"
            return False
        self.status = "accepted" if self.accept_new else "unknown"
        return self.accept_new


class _Client(asyncssh.SSHClient):
    def __init__(self, check: _HostKeyCheck):
        self._check = check

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        return self._check.decide(key)


# --- the scanner -----------------------------------------------------------------------------------

class HostFailed(Exception):
    """A host that cannot be collected; the message is what the user is told after "<host>: "."""


class KeyPassphraseNeeded(EstateError):
    """The private key is encrypted and no passphrase was given."""

    def __init__(self, path: Path):
        super().__init__(f"the key {path} is encrypted: a passphrase is needed (run in a terminal to be asked)")
        self.path = path


def load_client_keys(path: str | os.PathLike, passphrase: str | None = None) -> list:
    """Return the key pairs in a private key file (and its -cert.pub); raises KeyPassphraseNeeded or EstateError."""
    path = Path(path).expanduser()
    try:
        return list(asyncssh.load_keypairs([str(path)], passphrase))
    except FileNotFoundError:
        raise EstateError(f"no key file at {path}") from None
    except OSError as error:
        raise EstateError(f"cannot read key file {path}: {error.strerror}") from None
    except asyncssh.KeyEncryptionError:
        raise EstateError(f"wrong passphrase for the key {path}") from None
    except asyncssh.KeyImportError as error:
        if "passphrase" in str(error).lower() and passphrase is None:
            raise KeyPassphraseNeeded(path) from None
        if "passphrase" in str(error).lower() or "decrypt" in str(error).lower():
            raise EstateError(f"wrong passphrase for the key {path}") from None
        raise EstateError(f"{path} is not a private key asyncssh can read: {error}") from None


class SshHostScanner:
    """`estatemap scan ssh`: logs in to each host over SSH and yields its HostReport as soon as it is done.

    `failed` lists the hosts that could not be collected (each also a warning "<host>: <reason>").
    """

    kind = "ssh"

    def __init__(self, hosts: Sequence[str], *, user: str | None = None, key: str | os.PathLike | None = None,
                 port: int = DEFAULT_PORT, known_hosts: str | os.PathLike | None = None, accept_new: bool = False,
                 password: str | None = None, passphrase: str | None = None, concurrency: int = DEFAULT_CONCURRENCY,
                 timeout: float = DEFAULT_TIMEOUT, watch: float | None = None, every: float | None = None,
                 hosts_file: str | os.PathLike | None = None,
                 password_prompt: Callable[[str], str | None] | None = None, excludes: Sequence[str] = (),
                 keychain: Any = None, remember_password: bool = False):
        """Validate everything before anything connects; raises TargetError or EstateError (KeyPassphraseNeeded
        when `key` is encrypted and no passphrase was given). `password_prompt(message)` is asked, once per user,
        when a host wants a password and none was given (the CLI passes getpass when stdin is a terminal).
        `excludes` (addresses, blocks, ranges, hostnames, validated like scan network's) are never contacted:
        a host named by an address or name they cover, or whose name resolves into them, is skipped.
        `keychain` (discovery.secrets.Keychain) is asked for a remembered password before the user is; with
        `remember_password`, a password that logged in is stored in it (its accounts listed in `remembered`)."""
        if user is not None and not _USER.match(user):
            raise EstateError(f"{user[:40]!r} is not a user name")
        if not 0 < int(port) < 65536:
            raise EstateError(f"port {port} is out of range (1-65535)")
        if int(concurrency) < 1:
            raise EstateError("--concurrency must be at least 1")
        if not timeout or timeout <= 0:
            raise EstateError("--timeout must be positive")
        if watch is not None and (watch <= 0 or not every or every <= 0 or every > watch):
            raise EstateError("--every must be positive and no longer than --watch")
        self.hosts = load_hosts(hosts, hosts_file)
        self.excluded = parse_targets(list(excludes)) if excludes else []
        if remember_password and keychain is None:
            raise EstateError("remembering a password needs the OS keyring (keychain)")
        self.keychain, self.remember_password = keychain, remember_password
        self.remembered: list[str] = []
        self.user, self.port, self.accept_new = user, int(port), accept_new
        self.concurrency, self.timeout = int(concurrency), float(timeout)
        self.watch, self.every = watch, every
        self.key = Path(key).expanduser() if key is not None else None
        self.known_hosts_path = Path(known_hosts).expanduser() if known_hosts is not None else None
        self.known_hosts = KnownHosts(self.known_hosts_path, accept_new=accept_new)
        self._client_keys = load_client_keys(self.key, passphrase) if self.key is not None else None
        self._password = password
        self.password_prompt = password_prompt
        self.failed: list[str] = []

    def targets(self) -> tuple[str, ...]:
        return tuple(t.text for t in self.hosts)

    @property
    def arguments(self) -> str:
        """The options of this scan as the command line shows them (never a password or passphrase)."""
        words = ["scan", "ssh", "--port", str(self.port)]
        if self.user:
            words += ["--user", self.user]
        if self.key:
            words += ["--key", str(self.key)]
        if self.known_hosts_path:
            words += ["--known-hosts", str(self.known_hosts_path)]
        if self.accept_new:
            words.append("--accept-new-host-keys")
        if self.excluded:
            words += ["--exclude", *(t.text for t in self.excluded)]
        if self.remember_password:
            words.append("--remember-password")
        words += ["--concurrency", str(self.concurrency), "--timeout", f"{self.timeout:g}"]
        if self.watch:
            words += ["--watch", f"{self.watch:g}s", "--every", f"{self.every:g}s"]
        return " ".join(words)

    def default_user(self, target: SshTarget) -> str:
        return target.user or self.user or getpass.getuser()

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]:
        """Yield each host's HostReport as it finishes; raises ScanCancelled when stopped (finished hosts kept)."""
        if self.known_hosts.skipped:
            ctx.warn(f"known_hosts: skipped {self.known_hosts.skipped} line(s) that could not be read")
        if logging.getLogger("asyncssh").level == logging.NOTSET:
            logging.getLogger("asyncssh").setLevel(logging.WARNING)  # its INFO lines would drown -v
        self.failed, self.remembered = [], []
        events: queue.Queue = queue.Queue()
        engine = _Engine(self, events)
        total, done, collected = len(self.hosts), 0, 0
        engine.start()
        try:
            ctx.report(0, total, f"connecting to {min(total, self.concurrency)} of {total} hosts")
            while done < total:
                ctx.check_cancelled()
                try:
                    event = events.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    continue
                report, done = self._handle(event, ctx, engine, done, total)
                if report is not None:
                    collected += 1
                    yield report
                    ctx.report(done, total, f"{event[1]}: ok")
            if self.failed and not collected:  # a scan where every host failed is not "completed"
                raise EstateError(f"no host could be collected: {', '.join(self.failed)} (see the warnings above)")
        except (ScanCancelled, KeyboardInterrupt):
            ctx.cancel()
            yield from self._drain(engine, events, ctx, done, total)
            raise
        finally:
            engine.stop()

    def _handle(self, event: tuple, ctx: ScanContext, engine: _Engine, done: int,
                total: int) -> tuple[HostReport | None, int]:
        kind = event[0]
        if kind == "report":
            _, host, report, warnings = event
            for warning in warnings:
                ctx.warn(f"{host}: {warning}")
            return report, done + 1
        if kind == "skipped":
            _, host, reason = event
            ctx.warn(f"{host}: {reason}")
            ctx.report(done + 1, total, f"{host}: excluded")
            return None, done + 1
        if kind == "failed":
            _, host, reason = event
            self.failed.append(host)
            ctx.warn(f"{host}: {reason}")
            ctx.report(done + 1, total, f"{host}: failed")
            return None, done + 1
        if kind == "progress":
            ctx.report(done, total, event[1])
        elif kind == "prompt":
            _, message, future = event
            answer = self.password_prompt(message) if self.password_prompt else None
            engine.answer(future, answer)
        elif kind == "finished" and done < total:
            raise EstateError("the SSH collector stopped unexpectedly; the hosts finished before are kept")
        return None, done

    def _drain(self, engine: _Engine, events: queue.Queue, ctx: ScanContext, done: int,
               total: int) -> Iterator[HostReport]:
        """After a cancel: hosts in their --watch stop sampling and hand in what they have; nothing new starts."""
        engine.finish_watches()
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            try:
                event = events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if engine.watching:
                    continue
                try:  # a host puts its report before it stops counting as watching
                    event = events.get_nowait()
                except queue.Empty:
                    return
            if event[0] in ("report", "failed"):
                report, done = self._handle(event, ctx, engine, done, total)
                if report is not None:
                    yield report
                    ctx.report(done, total, f"{event[1]}: ok (watch stopped early)")


class _HostState:
    """What one host's collection is doing, for the failure message."""

    def __init__(self, target: SshTarget):
        self.target = target
        self.phase = "connecting"
        self.check: _HostKeyCheck | None = None
        self.password_wanted = False
        self.password_from: str | None = None   # "given", "keyring", "typed"
        self.password: str | None = None        # the one offered, kept until it is remembered (memory only)
        self.notes: list[str] = []
        self.deadline: asyncio.Timeout | None = None


class _Engine:
    """The asyncio side: an event loop in a thread of its own, one task per host, results through a queue.

    Events put on the queue: ("report", host, HostReport, warnings), ("failed", host, reason),
    ("progress", message), ("prompt", message, future) and ("finished",) when the loop ends.
    """

    def __init__(self, scanner: SshHostScanner, events: queue.Queue):
        self.scanner, self.events = scanner, events
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="ssh-collector", daemon=True)
        self.stopping = threading.Event()        # no new host starts; watches stop
        self._lock = threading.Lock()
        self._watch_events: set[threading.Event] = set()
        self._watching = 0
        self._main: asyncio.Task | None = None
        self._passwords: dict[str, str | None] = {}
        self._password_lock: asyncio.Lock | None = None
        self._resolved_exclusions: dict[str, set] | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, len(scanner.hosts)), thread_name_prefix="ssh-watch") if scanner.watch else None

    @property
    def watching(self) -> int:
        """How many hosts are in their --watch (and have not handed in their report)."""
        with self._lock:
            return self._watching

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self._main = self.loop.create_task(self._scan_all())
            with contextlib.suppress(asyncio.CancelledError):
                self.loop.run_until_complete(self._main)
        except Exception:  # a bug here must not hang the scanning thread
            log.debug("ssh collector loop failed", exc_info=True)
        finally:
            try:
                tasks = asyncio.all_tasks(self.loop)
                for task in tasks:
                    task.cancel()
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()
                self.events.put(("finished",))

    def finish_watches(self) -> None:
        """Start no new host and make every watch stop after its current sample."""
        self.stopping.set()
        with self._lock:
            for event in self._watch_events:
                event.set()

    def stop(self) -> None:
        """Stop everything: watches, then every task (closing its connection); wait a little for the loop."""
        self.finish_watches()
        with contextlib.suppress(RuntimeError):  # the loop has already closed
            self.loop.call_soon_threadsafe(self._cancel_main)
        self.thread.join(STOP_GRACE)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _cancel_main(self) -> None:
        if self._main is not None:
            self._main.cancel()

    def answer(self, future: asyncio.Future, answer: str | None) -> None:
        """Hand the user's answer to a prompt back to the loop."""
        def settle() -> None:
            if not future.done():
                future.set_result(answer)
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(settle)

    async def _scan_all(self) -> None:
        slots = asyncio.Semaphore(self.scanner.concurrency)
        self._password_lock = asyncio.Lock()
        await asyncio.gather(*(self._host(target, slots) for target in self.scanner.hosts))

    async def _host(self, target: SshTarget, slots: asyncio.Semaphore) -> None:
        """Collect one host and put exactly one "report" or "failed" event (unless the scan is stopped)."""
        state = _HostState(target)
        conn = None
        watching = False
        try:
            async with slots:
                if self.stopping.is_set():
                    return
                reason = await self._exclusion(target)
                if reason is not None:  # before any packet goes to the host
                    self.events.put(("skipped", target.text, reason))
                    return
                conn, inventory, report = await self._inventory(target, state)
            warnings = list(inventory.warnings) + state.notes
            await self._remember_password(target, state, warnings)
            if self.scanner.watch:
                with self._lock:
                    self._watching += 1
                    watching = True
                report = await self._watch(target, conn, inventory, report, warnings)
            self.events.put(("report", target.text, report, warnings))
        except asyncio.CancelledError:
            raise
        except HostFailed as error:
            self.events.put(("failed", target.text, str(error)))
        except Exception as error:
            self.events.put(("failed", target.text, self._describe_failure(error, state)))
        finally:
            if watching:
                with self._lock:
                    self._watching -= 1
            if conn is not None:
                conn.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.wait_closed(), STOP_GRACE)

    async def _exclusion(self, target: SshTarget) -> str | None:
        """Return why `target` must not be contacted (an --exclude covers its name or address), or None."""
        excluded = self.scanner.excluded
        if not excluded:
            return None
        rule = match_exclusion(target.host, excluded)
        if rule is None:
            addresses = await self._resolve(target.host)
            rule = next((r for a in addresses if (r := match_exclusion(a, excluded)) is not None), None)
            if rule is None:
                names = await self._resolve_exclusions()
                rule = next((r for r in excluded if names.get(r.text, set()) & addresses), None)
        return None if rule is None else f"excluded by --exclude {rule.text}: not contacted"

    async def _resolve(self, host: str) -> set[str]:
        """Return the addresses of `host` (itself if it is one); empty if it does not resolve."""
        with contextlib.suppress(ValueError):
            return {str(ipaddress.ip_address(host))}
        try:
            infos = await self.loop.getaddrinfo(host, self.scanner.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return set()
        return {info[4][0].split("%")[0] for info in infos}

    async def _resolve_exclusions(self) -> dict[str, set]:
        """Return the addresses of the excluded hostnames, resolved once per scan."""
        if self._resolved_exclusions is None:
            self._resolved_exclusions = {rule.text: await self._resolve(rule.text)
                                         for rule in self.scanner.excluded if rule.kind == "hostname"}
        return self._resolved_exclusions

    async def _remember_password(self, target: SshTarget, state: _HostState, warnings: list[str]) -> None:
        """With --remember-password: store a password that was typed (or given) and logged in, in the OS keyring."""
        password, state.password = state.password, None
        if not self.scanner.remember_password or state.password_from not in ("typed", "given") or not password:
            return
        account = ssh_account(self.scanner.default_user(target), target.host, self.scanner.port)
        try:
            await self.loop.run_in_executor(None, self.scanner.keychain.remember, account, password)
        except SecretsError as error:
            warnings.append(f"password not remembered: {error}")
        else:
            self.scanner.remembered.append(account)

    async def _inventory(self, target: SshTarget, state: _HostState):
        """Connect, log in and collect within the host's timeout; return (connection, Inventory, report)."""
        conn = None
        try:
            async with asyncio.timeout(self.scanner.timeout) as deadline:
                state.deadline = deadline
                conn = await self._connect(target, state)
                observed_at = utc_now()
                state.phase = "collecting"

                def on_section(name: str) -> None:
                    state.phase = f"running {TOOL_NAMES.get(name, name)}"

                run_batch = functools.partial(get_batch_result, conn, on_section=on_section)
                outputs = await get_outputs(run_batch)
                inventory = transform_inventory(outputs, observed_at)
                report = await get_databases(inventory, run_batch, observed_at)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        self._note_host_key(target, state, conn, report.raw, inventory.warnings)
        return conn, inventory, report

    async def _connect(self, target: SshTarget, state: _HostState) -> asyncssh.SSHClientConnection:
        check = state.check = _HostKeyCheck(self.scanner.known_hosts, self.scanner.accept_new)
        options: dict[str, Any] = dict(
            port=self.scanner.port, known_hosts=check.lookup, client_factory=lambda: _Client(check), config=None,
            preferred_auth=PREFERRED_AUTH, password=functools.partial(self._password_for, target, state),
            gss_auth=False, gss_kex=False, host_based_auth=False, agent_forwarding=False,
            keepalive_interval=KEEPALIVE_INTERVAL if self.scanner.watch else 0)
        user = target.user or self.scanner.user
        if user:
            options["username"] = user
        if self.scanner._client_keys is not None:
            options["client_keys"] = self.scanner._client_keys
        return await asyncssh.connect(target.host, **options)

    async def _password_for(self, target: SshTarget, state: _HostState) -> str | None:
        """asyncssh's password source: the given password, or the user's answer (asked once per user), or None."""
        state.password_wanted = True
        if self.scanner._password is not None:
            state.password_from, state.password = "given", self.scanner._password
            return self.scanner._password
        user = self.scanner.default_user(target)
        if self.scanner.keychain is not None:
            account = ssh_account(user, target.host, self.scanner.port)
            try:
                remembered = await self.loop.run_in_executor(None, self.scanner.keychain.recall, account)
            except SecretsError as error:
                remembered = None
                state.notes.append(f"no remembered password read: {error}")
            if state.deadline is not None:  # an unlock dialog's time is not the host's
                state.deadline.reschedule(self.loop.time() + self.scanner.timeout)
            if remembered is not None:
                state.password_from = "keyring"
                return remembered
        if self.scanner.password_prompt is None:
            return None
        assert self._password_lock is not None
        async with self._password_lock:
            if user not in self._passwords:
                future = self.loop.create_future()
                self.events.put(("prompt", f"Password for {user} (asked once, tried on every host that "
                                           f"wants one; {target.host} asked first): ", future))
                self._passwords[user] = (await future) or None
        if state.deadline is not None:  # the time spent typing is not the host's
            state.deadline.reschedule(self.loop.time() + self.scanner.timeout)
        state.password_from, state.password = "typed", self._passwords[user]
        return self._passwords[user]

    def _note_host_key(self, target: SshTarget, state: _HostState, conn: asyncssh.SSHClientConnection,
                       raw: dict[str, str], warnings: list[str]) -> None:
        key = conn.get_server_host_key()
        if key is not None:
            raw["ssh-host-key"] = f"{key.get_algorithm()} {key.get_fingerprint()}"
        check = state.check
        if check is not None and check.status == "accepted" and check.key is not None:
            try:
                path = self.scanner.known_hosts.add(target.host, self.scanner.port, check.key)
                warnings.append(f"new host key {check.key.get_algorithm()} {check.key.get_fingerprint()} accepted "
                                f"(--accept-new-host-keys) and added to {path}")
            except OSError as error:
                warnings.append(f"new host key {check.key.get_fingerprint()} accepted (--accept-new-host-keys) "
                                f"but not saved: {error.strerror}")

    async def _watch(self, target: SshTarget, conn: asyncssh.SSHClientConnection, inventory: Inventory,
                     report: HostReport, warnings: list[str]) -> HostReport:
        """Sample the host's TCP connections every `every` seconds for `watch` seconds over the same connection."""
        if inventory.socket_tool is None:
            warnings.append("watch: no socket table could be read; nothing sampled")
            return report
        event = threading.Event()
        with self._lock:
            if self.stopping.is_set():
                event.set()
            self._watch_events.add(event)
        names = dict(inventory.names)
        tool = SAMPLE_COMMANDS[inventory.socket_tool]
        notes: list[str] = []

        async def sample() -> tuple[Connection, ...]:
            result = await get_command_result(conn, COMMANDS[tool])
            if not result.ok:
                raise HostFailed(describe_result(inventory.socket_tool, result))
            return transform_sample(tool, result.stdout, names, utc_now(), inventory.byteorder)

        def take_sample() -> tuple[Connection, ...]:
            try:
                future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(sample(), self.scanner.timeout), self.loop)
            except RuntimeError:  # the loop is closing
                event.set()
                return ()
            try:
                return future.result()
            except Exception as error:  # connection lost, timed out, scan stopping: keep what was sampled
                future.cancel()
                if not self.stopping.is_set():
                    notes.append(f"watch stopped early: {_describe_error(error)}")
                event.set()
                return ()

        progress = lambda n, total, _message: self.events.put(("progress", f"{target.text}: watch sample {n}/{total}"))  # noqa: E731
        host_ctx = ScanContext(progress=progress, cancel=event)
        try:
            sampler = await self.loop.run_in_executor(self._executor, functools.partial(
                watch_connections, take_sample, host_ctx, duration=self.scanner.watch, every=self.scanner.every,
                first=report.connections))
        finally:
            with self._lock:
                self._watch_events.discard(event)
        warnings += host_ctx.warnings + notes
        return dataclasses.replace(report, connections=sampler.connections())

    def _describe_failure(self, error: BaseException, state: _HostState) -> str:
        """Return the one-line reason a host failed."""
        target, scanner = state.target, self.scanner
        check = state.check
        if isinstance(error, TimeoutError) or isinstance(error, asyncio.TimeoutError):
            return f"timed out after {scanner.timeout:g} s ({state.phase})"
        if isinstance(error, asyncssh.HostKeyNotVerifiable) or (
                isinstance(error, asyncssh.KeyExchangeFailed) and check is not None and check.had_keys):
            files = " or ".join(str(f) for f in scanner.known_hosts.files)
            offered = f" {check.key.get_algorithm()} {check.key.get_fingerprint()}" if check and check.key else ""
            if check is not None and check.status == "unknown":
                return (f"unknown host key{offered}: not in {files}; check the fingerprint, then run again with "
                        "--accept-new-host-keys to trust it")
            if check is not None and check.had_keys:
                return (f"HOST KEY CHANGED: the host offered{offered or ' no key of the known type'}, which does not "
                        f"match {files}; someone may be intercepting the connection, or the host was reinstalled. "
                        f"If the change is expected, remove the old key (ssh-keygen -R {target.host} -f "
                        f"{scanner.known_hosts.write_path}) and run again")
            return f"host key not trusted: {error.reason}"
        if isinstance(error, asyncssh.PermissionDenied):
            user = scanner.default_user(target)
            if state.password_from == "keyring":
                return (f"authentication failed for {user}: the password remembered in the OS keyring for "
                        f"{ssh_account(user, target.host, scanner.port)} was refused (forget it with "
                        "--forget-password, then run again to type the new one)")
            if state.password_wanted and scanner._password is None and scanner.password_prompt is None:
                return (f"authentication failed for {user}: no key was accepted, and the host asks for a password, "
                        "which can only be typed in a terminal (run estatemap interactively, or use --key)")
            if state.password_wanted:
                return f"authentication failed for {user}: no key was accepted and the password was refused"
            return f"authentication failed for {user}: no key was accepted (use --key, ssh-agent or --user)"
        if isinstance(error, ConnectionRefusedError):
            return f"connection refused on port {scanner.port} (no SSH server listening)"
        if isinstance(error, socket.gaierror):
            return f"cannot resolve {target.host}: {error.strerror or error}"
        if isinstance(error, asyncssh.DisconnectError):
            return f"SSH error while {state.phase}: {error.reason}"
        if isinstance(error, asyncssh.ChannelOpenError):
            return f"the host refused to run commands: {error.reason}"
        return f"{_describe_error(error)} ({state.phase})"


def _describe_error(error: BaseException) -> str:
    if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        return "timed out"
    if isinstance(error, OSError) and error.errno is not None:
        return error.strerror or errno.errorcode.get(error.errno, str(error))
    if isinstance(error, asyncssh.Error):
        return error.reason
    return str(error) or type(error).__name__


async def get_command_result(conn: asyncssh.SSHClientConnection, script: str) -> CommandResult:
    """Run one fixed script on the host in a channel of its own; return what it printed (no stdin, no terminal)."""
    completed = await conn.run(wrap_command(script), check=False, stdin=asyncssh.DEVNULL, encoding="utf-8",
                               errors="replace")
    return CommandResult(stdout=completed.stdout or "", stderr=completed.stderr or "",
                         status=completed.exit_status if completed.exit_signal is None else None)


async def get_batch_result(conn: asyncssh.SSHClientConnection, script: str, marker: str, *,
                           on_section: Callable[[str], None] | None = None) -> CommandResult:
    """Run a sectioned script (build_*script) in one channel; `on_section(name)` hears of each section as it
    starts (so a timeout can say which command hung). Returns the whole output."""
    process = await conn.create_process(wrap_command(script), stdin=asyncssh.DEVNULL, encoding="utf-8",
                                        errors="replace")
    stderr = asyncio.ensure_future(process.stderr.read())
    begin = f"{marker} begin "
    lines = []
    try:
        async for line in process.stdout:
            lines.append(line)
            if on_section is not None and line.startswith(begin):
                on_section(line[len(begin):].strip())
        completed = await process.wait()
        return CommandResult(stdout="".join(lines), stderr=await stderr,
                             status=completed.exit_status if completed.exit_signal is None else None)
    finally:
        if not stderr.done():
            stderr.cancel()
        process.close()
