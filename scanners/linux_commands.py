"""What the SSH scanner runs on a Linux host, and what the output means.

COMMANDS is every command run on a host: fixed text, nothing a user typed. The inventory runs as one `sh`
script in one SSH channel (build_inventory_script), each command in a section of its own with its exit
status, so one round trip gathers everything; `transform_sections` splits the output again. `transform_*`
functions are pure (unit-tested from output recorded on real hosts, tests/data/ssh/) and reuse the
host-fact transforms `scan host` uses (scanners.host_facts, scanners.platform_software). `get_outputs` and
`get_databases` run commands through a `BatchRunner` the transport hands in; nothing here knows SSH.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from discovery.records.model import Connection, Host, HostReport, Interface, Process
from scanners import platform_software
from scanners.host_facts import (
    DMI_FILES, VERSION_PATTERNS, count_unowned_sockets, get_port_names, is_trusted_executable,
    transform_connections, transform_cpuinfo, transform_databases, transform_db_version, transform_engine,
    transform_hardware, transform_host_addresses, transform_mac, transform_os, transform_services,
)


SOURCE = "ssh"

VERSION_TIMEOUT = 5         # seconds for a database binary's --version on the host
RAW_LIMIT = 64 * 1024       # characters of one command's output kept as evidence

MISSING = 127               # the shell's exit status for "command not found"

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

_LSTART = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"
_PS_LINE = re.compile(rf"^\s*(?P<pid>\d+)\s+(?P<ppid>\d+)\s+(?P<user>\S+)\s+(?P<lstart>{_LSTART}) (?P<rest>.*)$")
_PS_COMM_WIDTH = 15  # procps prints comm in a 15-character column (the kernel's TASK_COMM_LEN - 1)
_SS_USER = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=\d+\)')
_LSBLK_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_IP_LINK = re.compile(r"^\d+:\s+(?P<name>[^:@\s]+)(?:@\S+)?:\s+<(?P<flags>[^>]*)>(?P<rest>.*)$")


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


_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._+/-]{1,255}$")


def transform_program_path(comm: str | None, args: str | None) -> str | None:
    """Return the absolute program path a process's command line starts with, when it is plain (letters,
    digits, . _ + - /, no ..) and names the program the process runs (its name is the path's last part):
    where /proc/PID/exe is another user's and cannot be read, the binary to ask for its version."""
    first = (args or "").split(" ", 1)[0]
    if not comm or not _SAFE_PATH.match(first) or "/../" in first + "/" or first.endswith("/"):
        return None
    name = first.rsplit("/", 1)[-1]
    return first if name == comm or (len(comm) >= 15 and name.startswith(comm)) else None


def path_version_commands(path: str) -> tuple[str, str]:
    """Return the scripts that check and run a database binary named by its path (transform_program_path's)."""
    if not _SAFE_PATH.match(path):
        raise ValueError(f"not a plain absolute path: {path!r}")
    return f'stat -L -c "%u %f" {path}', f"timeout {VERSION_TIMEOUT} {path} --version"


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
    unowned_sockets: int = 0                  # sockets whose owning process could not be seen


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
                        = get_port_names, *, warn_unowned: bool = True) -> Inventory:
    """Return the host's inventory from the outputs get_outputs() collected; what is missing becomes a warning
    (not the sockets without an owner when `warn_unowned` is False: the caller says it in its own words)."""
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
    if unowned and session["uid"] not in (None, 0) and warn_unowned:
        warnings.append(f"sockets: {unowned} socket{'s have' if unowned != 1 else ' has'} no owning process "
                        "(other users'; log in as root to see them)")

    report = HostReport(host=Host(source=SOURCE, observed_at=observed_at, **host), interfaces=interfaces,
                        software=tuple(software), processes=processes, services=services, connections=connections,
                        raw=raw)
    return Inventory(report=report, warnings=warnings, names=names, args=args, socket_tool=socket_tool,
                     byteorder=byteorder, uid=session["uid"], unowned_sockets=unowned)


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
        # /proc/PID/exe, or, where that is another user's (a login that is not root), the path the command line
        # names: the same binary, run as the login user, only when root (or that user) owns it
        paths = {pid: transform_program_path(inventory.names.get(pid), inventory.args.get(pid)) for pid in asked}
        commands = {pid: version_commands(pid) for pid in asked}
        marker = new_marker()
        scripts = {f"stat-{pid}": commands[pid][0] for pid in asked}
        scripts |= {f"stat-path-{pid}": path_version_commands(path)[0] for pid, path in paths.items()
                    if path and inventory.uid != 0}
        stats = transform_sections((await run_batch(build_script(marker, scripts), marker)).stdout, marker)
        trusted = []
        for pid in asked:
            for key, command in ((f"stat-{pid}", commands[pid]),
                                 (f"stat-path-{pid}", path_version_commands(paths[pid]) if paths[pid] else None)):
                st = transform_stat(stats.get(key, CommandResult("")).stdout)
                if command is not None and st and is_trusted_executable(st[1], st[0], inventory.uid):
                    trusted.append(pid)
                    commands[pid] = command
                    break
        if trusted:
            marker = new_marker()
            outputs = transform_sections((await run_batch(build_script(
                marker, {f"version-{pid}": commands[pid][1] for pid in trusted}), marker)).stdout, marker)
            for pid in trusted:
                result = outputs.get(f"version-{pid}")
                output = (result.stdout + result.stderr).strip() if result is not None and not result.missing else ""
                if output:
                    raw[f"version:{asked[pid]}:{pid}"] = output[:2000]
                    versions[pid] = transform_db_version(asked[pid], output)
    identified = {pid: versions.get(pid, (engine, None)) for pid, engine in candidates.items()}
    databases = as_ssh(transform_databases(inventory.report.services, identified, observed_at))
    return dataclasses.replace(inventory.report, databases=databases, raw={**inventory.report.raw, **raw})


class HostFailed(Exception):
    """A host that cannot be collected; the message is what the user is told after "<host>: "."""
