"""Whether the process that owns a running scan is still alive, beyond its reusable PID.

A scan records its runner (process_identity); any later command that finds the scan "running" asks
process_state whether that runner is gone (killed, crashed, the machine rebooted) and, if so, marks the
scan interrupted so it can be resumed. Linux's /proc holds what is needed; elsewhere the answer is "unknown".
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

PROC = Path("/proc")
INITIAL_PID_NAMESPACE = 0xEFFFFFFC  # the kernel's fixed inode number of the initial PID namespace


def _start_ticks(pid: int | str, proc: Path = PROC) -> int | None:
    """Return a live process's start time (clock ticks after boot, /proc/PID/stat field 22), or None if
    there is no such process or it has already exited (a zombie)."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _pid_namespace(pid: int | str, proc: Path = PROC) -> int | None:
    try:
        return os.stat(proc / str(pid) / "ns" / "pid").st_ino
    except OSError:
        return None


def process_identity(pid: int | None = None) -> dict:
    """Return what identifies a process beyond its reusable PID: its start time, the boot and the PID
    namespace it runs in, and the host name (this process when `pid` is None). On systems without /proc
    only pid and host are known, and such an owner is never judged gone."""
    own = pid is None
    pid = os.getpid() if own else pid
    identity = {"pid": pid, "host": socket.gethostname()}
    ticks = _start_ticks("self" if own else pid)
    if ticks is not None:
        identity.update(start_ticks=ticks, boot_id=_read(PROC / "sys/kernel/random/boot_id"),
                        pid_ns=_pid_namespace("self" if own else pid))
    return identity


def process_state(owner: dict | None) -> str:
    """Return "alive", "gone" or "unknown" for a process recorded with process_identity.

    Gone: the machine was rebooted since (same host name, another boot), or the PID now belongs to another
    process (start time differs) or to none. A process in another PID namespace (a container, a test host)
    is looked for through /proc when this process can see it; another machine's is unknown."""
    me = process_identity()
    if not owner or owner.get("start_ticks") is None or me.get("boot_id") is None:
        return "unknown"
    if owner.get("boot_id") != me["boot_id"]:
        return "gone" if owner.get("host") == me["host"] else "unknown"
    if owner.get("pid_ns") == me["pid_ns"]:
        return "alive" if _start_ticks(owner["pid"]) == owner["start_ticks"] else "gone"
    namespace_seen, blind = False, False
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry / "ns" / "pid").st_ino != owner["pid_ns"]:
                continue
            status = (entry / "status").read_text()
        except PermissionError:
            blind = True
            continue
        except OSError:
            continue
        namespace_seen = True
        inner = next((line.split()[-1] for line in status.splitlines() if line.startswith("NSpid:")), None)
        if inner == str(owner["pid"]) and _start_ticks(entry.name) == owner["start_ticks"]:
            return "alive"
    # This process sees every process when it is in the initial PID namespace (and may read them all).
    if namespace_seen or (me["pid_ns"] == INITIAL_PID_NAMESPACE and not blind):
        return "gone"
    return "unknown"
