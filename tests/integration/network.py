"""A test network of Linux namespaces with real daemons in it, and the session fixture `test_network`.

Needs root. Every name carries the run id ``emtest-<pytest pid>-<4 hex>``:

    <run id>-br       network namespace holding the bridge br0 (no address)
    <run id>-<host>   network namespace of one test host: lo, eth0 (10.203.0.x/24, MAC 02:cc:00:00:00:xx
                      where xx is the last octet in hex), joined to br0 by a veth pair (v-<host> on the
                      bridge side, MAC 02:cc:00:00:01:xx); no default route; nothing in the root namespace
    /tmp/<run id>-*   configs, keys, data directories and logs (logs/<host>-<daemon>.log)

Each host also has its own PID, mount (private /proc, tmpfs /run, its own /etc/hosts and /etc/hostname),
UTS (hostname) and IPC namespace: ``ip netns exec <netns> unshare --pid --fork --mount-proc --uts --ipc
--mount`` starts data/host_init.py as the host's PID 1 (it reaps orphans), and every later command goes
through ``nsenter --target <init pid> --net --pid --mount --uts --ipc``.

Hosts: scanner 10.203.0.5 (nothing runs there; run nmap and estatemap from it), db 10.203.0.10 (PostgreSQL
5432 with database emr, Redis 6379), web 10.203.0.20 (nginx 80, OpenSSH 22), pacs 10.203.0.30 (dcmtk
storescp on 11112 and 104, an HL7 MLLP listener on 2575), app 10.203.0.40 (emr_app.py holding connections
to db:5432, db:6379 and web:80).

OpenSSH: by default only web runs sshd (what `test_network` builds). ``running_network(sshd_hosts=...)`` runs it
on other hosts too (port 22, added to their `services`), each with its own ed25519 host key; one client key
(``ssh/client_ed25519``, no passphrase) is authorised for root everywhere, and one known_hosts file
(``ssh/known_hosts``) lists every sshd host by address and name. ``root_passwords={"app": "..."}`` also lets
root log in to that host with a password (a private /etc/shadow is bind-mounted in the host's mount namespace).
``extra_hosts=ssh_host_specs(20)`` adds plain hosts ssh01..ssh20 (10.203.0.101 on) for benchmarks.

Service accounts and sudo: ``accounts={"backend": (Account("svc", sudo=RULE), ...)}`` gives a host a private
/etc/passwd, /etc/group, /etc/shadow and /etc/sudoers (the machine's passwd and group plus the accounts; a shadow
and a sudoers of their own), bind-mounted in the host's mount namespace only. Each account logs in with the
network's client key (ssh/authorized_keys is readable by every account; ssh/ is 0711), has a home under the run's temp
directory, an optional password, and the sudoers lines given. ``refuse_root=("bastion",)`` makes that host's
sshd refuse root logins altogether (PermitRootLogin no).

A second, inner subnet (10.204.0.0/24, bridge br1 in the same bridge namespace, not joined to br0): a spec whose
address is in it joins br1 instead of br0; a spec with an ``inner_address`` (a bastion) joins both, as eth0 and
eth1. No host forwards IP (a new namespace does not), so a host of the inner subnet can be reached from the
scanner only by tunnelling through the bastion's sshd (ProxyJump). ``JUMP_HOSTS`` are such a pair: bastion
(10.203.0.70 and 10.204.0.70) and backend (10.204.0.10, Redis 6379 run by redis, and a client of it run by
nobody that holds one connection open); pass them as ``extra_hosts`` with ``sshd_hosts=("bastion", "backend")``.
The inner hosts' services are probed from the bastion.

Processes are stopped by PID. At start-up, namespaces and temp directories left by a run whose pytest
process is gone are removed (after killing the processes in those namespaces by PID); other runs' are not
touched, so two sessions can run side by side (their namespaces never see each other).

Use it from a conftest:  from tests.integration.network import test_network  # noqa: F401
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

DATA = Path(__file__).resolve().parent / "data"
PREFIX = "emtest-"
SUBNET = "10.203.0.0/24"
PREFIX_LENGTH = 24
INNER_SUBNET = "10.204.0.0/24"  # the bastion's other side: not on the scanner's bridge
START_TIMEOUT = 120.0  # seconds for the whole network, daemons included, to come up (a bound: generous for a loaded machine)
STOP_TIMEOUT = 5.0  # seconds a process gets after its stop signal before SIGKILL
DAEMON_GRACE_SECONDS = 0.5  # a daemon must stay up this long after it started to count as running
COMMAND_TIMEOUT = 60.0  # default timeout of TestHost.run
PYTHON = sys.executable  # runs the helper scripts in data/, which use only the standard library
SYSTEM_PYTHON = "/usr/bin/python3"  # for a process run as nobody, who may not open the project's interpreter
RUN_ID = re.compile(rf"^{re.escape(PREFIX)}(\d+)-[0-9a-f]{{4}}")


@dataclass(frozen=True, slots=True)
class HostSpec:
    name: str
    address: str
    services: tuple[tuple[str, int], ...] = ()
    inner_address: str | None = None  # a second leg on the inner subnet (a bastion's)


@dataclass(frozen=True, slots=True)
class Account:
    """A service account of one test host: logs in with the network's client key; `password` (for sudo, and
    SSH password logins where allowed) and `sudoers` lines (written as given) are optional."""
    name: str
    uid: int
    password: str | None = None
    sudoers: tuple[str, ...] = ()


def is_inner(address: str) -> bool:
    """Whether an address is on the inner subnet (br1), which the scanner host is not on."""
    return address.startswith(INNER_SUBNET.rsplit(".", 1)[0] + ".")


EXTRA_HOSTS_START = 101  # ssh_host_specs: ssh01 is 10.203.0.101

HOST_SPECS = (
    HostSpec("scanner", "10.203.0.5"),
    HostSpec("db", "10.203.0.10", (("postgresql", 5432), ("redis", 6379))),
    HostSpec("web", "10.203.0.20", (("http", 80), ("ssh", 22))),
    HostSpec("pacs", "10.203.0.30", (("dicom", 11112), ("dicom-104", 104), ("hl7-mllp", 2575))),
    HostSpec("app", "10.203.0.40"),
    HostSpec("ws", "10.203.0.50"),  # a workstation: up, nothing listening
)
ALL_HOSTS = tuple(spec.name for spec in HOST_SPECS)
# A bastion and the host only it reaches (running_network(extra_hosts=JUMP_HOSTS, ...)).
JUMP_HOSTS = (
    HostSpec("bastion", "10.203.0.70", inner_address="10.204.0.70"),
    HostSpec("backend", "10.204.0.10", (("redis", 6379),)),
)
REDIS_CLIENT = """
import socket, sys, time
conn = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
conn.sendall(b"PING\\r\\n")
assert conn.recv(64).startswith(b"+PONG")
print("redis_client: ready", flush=True)
while True:
    time.sleep(60)
"""


def ssh_host_specs(count: int, start: int = EXTRA_HOSTS_START) -> tuple[HostSpec, ...]:
    """Return `count` extra plain hosts ssh01, ssh02, ... at 10.203.0.<start>, <start + 1>, ... (for sshd_hosts)."""
    if not 0 <= count <= 254 - start + 1:
        raise NetworkError(f"at most {254 - start + 1} extra hosts fit from 10.203.0.{start}")
    return tuple(HostSpec(f"ssh{i + 1:02d}", f"10.203.0.{start + i}") for i in range(count))


class NetworkError(RuntimeError):
    """The test network could not be built or a daemon in it did not come up."""


def mac_for(address: str, bridge_side: bool = False) -> str:
    """Return the fixed MAC of a host's eth0 (or of its veth peer on the bridge): 02:cc:00:00:0b:<last octet>
    (02:cc:00:04:... on the inner subnet)."""
    inner = 4 if is_inner(address) else 0
    return f"02:cc:00:{inner:02x}:{1 if bridge_side else 0:02x}:{int(address.rsplit('.', 1)[1]):02x}"


def log_tail(path: Path, lines: int = 25) -> str:
    """Return the last lines of a log file, or a note that it is missing."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


class HostProcess(subprocess.Popen):
    """A process started in a test host through nsenter.

    `pid` is nsenter's; `child_pid` is the command's own PID (as the root PID namespace numbers it).
    Signals (`terminate`, `kill`, `send_signal`) go to the command, not to nsenter, which only waits for it
    and then exits with its status.
    """

    _child_pid: int | None = None

    @property
    def child_pid(self) -> int | None:
        """Return the PID of the command nsenter forked, or None if nsenter has already exited."""
        deadline = time.monotonic() + 5.0
        while self._child_pid is None and self.poll() is None and time.monotonic() < deadline:
            try:
                children = psutil.Process(self.pid).children()
            except psutil.NoSuchProcess:
                break
            if children:
                self._child_pid = children[0].pid
            else:
                time.sleep(0.005)
        return self._child_pid

    def send_signal(self, sig: int) -> None:
        if self.poll() is not None:
            return
        child = self.child_pid
        if child is None:
            super().send_signal(sig)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, sig)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> None:
    """Stop a process this module started, by PID: send `sig`, wait, then SIGKILL and wait again."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)  # nsenter itself, should it outlive its child
            proc.wait(timeout=timeout)


@dataclass(eq=False)
class Daemon:
    """A long-running process in a test host, with its log."""

    name: str
    host: str
    proc: HostProcess
    log: Path
    stop_signal: int = signal.SIGTERM
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int | None:
        """The daemon's PID in the root PID namespace (psutil.Process(pid) works from the test)."""
        return self.proc.child_pid

    def log_tail(self, lines: int = 25) -> str:
        return log_tail(self.log, lines)

    def stop(self) -> None:
        stop_process(self.proc, self.stop_signal)


@dataclass(eq=False)
class TestHost:
    """One test host: its own network, PID, mount, UTS and IPC namespaces, entered through its init's PID."""

    __test__ = False  # not a pytest test class

    name: str
    address: str
    mac: str
    netns: str
    init_pid: int
    services: dict[str, int] = field(default_factory=dict)
    ssh_client_key: Path | None = None  # hosts running sshd: private key authorised for root
    ssh_known_hosts: Path | None = None  # hosts running sshd: known_hosts holding every sshd host's key (address, name)
    ssh_host_key: Path | None = None  # hosts running sshd: the private host key sshd uses
    daemons: dict[str, Daemon] = field(default_factory=dict)

    def command(self, argv: Sequence[str | os.PathLike], *, user: str | None = None,
                cwd: str | os.PathLike | None = None) -> list[str]:
        """Return the nsenter command line that runs argv inside this host (as `user` if given)."""
        command = ["nsenter", f"--target={self.init_pid}", "--net", "--pid", "--mount", "--uts", "--ipc",
                   f"--wd={os.fspath(cwd) if cwd is not None else os.getcwd()}"]
        if user is not None:
            account = pwd.getpwnam(user)
            command += [f"--setgid={account.pw_gid}", f"--setuid={account.pw_uid}"]
        return [*command, "--", *(os.fspath(arg) for arg in argv)]

    def popen(self, argv: Sequence[str | os.PathLike], *, user: str | None = None,
              cwd: str | os.PathLike | None = None, **kwargs) -> HostProcess:
        """Start argv inside this host; the keyword arguments are subprocess.Popen's."""
        return HostProcess(self.command(argv, user=user, cwd=cwd), **kwargs)

    def run(self, argv: Sequence[str | os.PathLike], *, user: str | None = None, input=None,
            capture_output: bool = False, timeout: float | None = COMMAND_TIMEOUT, check: bool = False,
            **kwargs) -> subprocess.CompletedProcess:
        """Run argv inside this host like subprocess.run (default timeout 60 s); on timeout kill it by PID."""
        if capture_output:
            kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
        if input is not None:
            kwargs["stdin"] = subprocess.PIPE
        with self.popen(argv, user=user, **kwargs) as proc:
            try:
                stdout, stderr = proc.communicate(input, timeout=timeout)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
        completed = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        if check:
            completed.check_returncode()
        return completed

    def pid_inside(self, pid: int) -> int:
        """Return the PID this host's own PID namespace gives the process `pid` (root namespace numbering)."""
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
        raise ValueError(f"no NSpid line for process {pid}")


@dataclass(eq=False)
class TestNetwork:
    """The running test network: hosts by name, the subnet, where the files and logs are."""

    __test__ = False  # not a pytest test class

    run_id: str
    subnet: str
    bridge_netns: str
    tmp_dir: Path
    hosts: dict[str, TestHost] = field(default_factory=dict)
    ssh_client_key: Path | None = None  # authorised for root on every host running sshd
    ssh_known_hosts: Path | None = None  # every sshd host's key, by address and by name

    @property
    def scanner(self) -> TestHost:
        return self.hosts["scanner"]

    @property
    def log_dir(self) -> Path:
        return self.tmp_dir / "logs"

    @property
    def namespaces(self) -> list[str]:
        """Every network namespace of this run, the bridge's first."""
        return [self.bridge_netns, *(host.netns for host in self.hosts.values())]

    def daemons(self) -> list[Daemon]:
        return [daemon for host in self.hosts.values() for daemon in host.daemons.values()]


# --- plumbing ---------------------------------------------------------------------------------------------


def run_checked(argv: Sequence[str | os.PathLike], timeout: float = 30.0, **kwargs) -> str:
    """Run a command in the root namespace and return its stdout; raise NetworkError with its stderr."""
    result = subprocess.run([os.fspath(arg) for arg in argv], capture_output=True, text=True, timeout=timeout,
                            **kwargs)
    if result.returncode != 0:
        raise NetworkError(f"{' '.join(map(str, argv))} failed with status {result.returncode}: "
                           f"{result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def ip(*args: str) -> str:
    return run_checked(["ip", *args], timeout=10.0)


def find_tool(name: str) -> str:
    """Return the path of a program; raise NetworkError naming the setup script if it is missing."""
    path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if path is None:
        raise NetworkError(f"{name} is not installed: run bash scripts/setup.sh --test")
    return path


def find_postgres_bin() -> Path:
    """Return Debian's newest /usr/lib/postgresql/<version>/bin holding postgres and initdb."""
    dirs = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "postgres").exists()
            and (d / "initdb").exists() and d.parent.name.isdigit()]
    if not dirs:
        raise NetworkError("PostgreSQL is not installed: run bash scripts/setup.sh --test")
    return max(dirs, key=lambda d: int(d.parent.name))


def list_namespaces() -> list[str]:
    """Return the names of all named network namespaces (`ip netns list`)."""
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def delete_namespace(name: str) -> None:
    """Kill every process still in network namespace `name` (by PID), then delete it."""
    with contextlib.suppress(NetworkError):
        for pid in ip("netns", "pids", name).split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(NetworkError):
        ip("netns", "delete", name)


def is_stale(name: str) -> bool:
    """Return True for a name of ours whose run's pytest process is gone (or a zombie)."""
    match = RUN_ID.match(name)
    if not match:
        return False
    try:
        return psutil.Process(int(match.group(1))).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def remove_stale_leftovers() -> list[str]:
    """Delete namespaces and temp directories left by crashed runs of this module; return what was removed."""
    removed = []
    for name in list_namespaces():
        if is_stale(name):
            delete_namespace(name)
            removed.append(name)
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        if path.is_dir() and is_stale(path.name):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


def fill_template(name: str, destination: Path, **values: object) -> Path:
    """Write data/<name> to destination with its $placeholders filled in."""
    text = string.Template((DATA / name).read_text()).substitute({k: str(v) for k, v in values.items()})
    destination.write_text(text)
    return destination


def make_dir(path: Path, owner: str | None = None, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    if owner is not None:
        shutil.chown(path, owner, owner)
    return path


# --- building -----------------------------------------------------------------------------------------------


class NetworkBuilder:
    """Builds the network step by step, registering the undo of every step on an ExitStack."""

    def __init__(self, stack: contextlib.ExitStack, host_names: Sequence[str], timeout: float, *,
                 extra_hosts: Sequence[HostSpec] = (), sshd_hosts: Sequence[str] | None = None,
                 root_passwords: Mapping[str, str] | None = None,
                 accounts: Mapping[str, Sequence[Account]] | None = None, refuse_root: Sequence[str] = ()):
        self.stack = stack
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        specs = [spec for spec in HOST_SPECS if spec.name in host_names] + list(extra_hosts)
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names) or len({spec.address for spec in specs}) != len(specs):
            raise NetworkError(f"host names and addresses must be unique: {names}")
        self.root_passwords = dict(root_passwords or {})
        self.accounts = {name: tuple(given) for name, given in (accounts or {}).items()}
        self.refuse_root = frozenset(refuse_root)
        if (set(self.accounts) | self.refuse_root) - set(names):
            raise NetworkError(f"accounts and refuse_root must name hosts of the network: "
                               f"{sorted((set(self.accounts) | self.refuse_root) - set(names))}")
        if sshd_hosts is None:  # the default: web runs sshd, when it is part of the network
            sshd_hosts = [name for name in ("web",) if name in names]
        self.sshd_hosts = [name for name in names if name in set(sshd_hosts)]
        unknown = (set(sshd_hosts) | set(self.root_passwords)) - set(names)
        if unknown or not set(self.root_passwords) <= set(self.sshd_hosts):
            raise NetworkError(f"sshd_hosts and root_passwords must name hosts of the network running sshd: "
                               f"{sorted(unknown or set(self.root_passwords) - set(self.sshd_hosts))}")
        # A host listens on 22 exactly when it runs sshd (web's spec lists it; the others' do not).
        ssh = ("ssh", 22)
        self.specs = [HostSpec(spec.name, spec.address, tuple(s for s in spec.services if s != ssh)
                               + ((ssh,) if spec.name in self.sshd_hosts else ()), spec.inner_address)
                      for spec in specs]
        run_id = f"{PREFIX}{os.getpid()}-{secrets.token_hex(2)}"
        tmp_dir = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
        stack.callback(shutil.rmtree, tmp_dir, ignore_errors=True)
        tmp_dir.chmod(0o711)  # daemons running as postgres, redis or www-data must reach their own dirs
        make_dir(tmp_dir / "logs")
        self.network = TestNetwork(run_id=run_id, subnet=SUBNET, bridge_netns=f"{run_id}-br", tmp_dir=tmp_dir)

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise NetworkError(f"the test network did not come up within {self.timeout:g} s")
        return left

    def add_namespace(self, name: str) -> None:
        ip("netns", "add", name)
        self.stack.callback(delete_namespace, name)

    def build_bridge(self) -> None:
        bridge = self.network.bridge_netns
        self.add_namespace(bridge)
        ip("-n", bridge, "link", "set", "lo", "up")
        ip("-n", bridge, "link", "add", "br0", "address", "02:cc:00:00:02:00", "type", "bridge")
        ip("-n", bridge, "link", "set", "br0", "up")
        if any(is_inner(spec.address) or spec.inner_address for spec in self.specs):
            ip("-n", bridge, "link", "add", "br1", "address", "02:cc:00:04:02:00", "type", "bridge")
            ip("-n", bridge, "link", "set", "br1", "up")

    def write_host_files(self) -> Path:
        """Write the /etc/hosts every test host sees and return it."""
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        lines += [f"{spec.address}\t{spec.name}" for spec in self.specs]
        return fill_text(self.network.tmp_dir / "etc" / "hosts", "\n".join(lines) + "\n")

    def start_host(self, spec: HostSpec, hosts_file: Path) -> TestHost:
        """Create the host's namespaces, wire it to the bridge, start its init; return it."""
        network = self.network
        netns = f"{network.run_id}-{spec.name}"
        self.add_namespace(netns)
        ip("-n", netns, "link", "set", "lo", "up")
        legs = [(spec.address, "eth0", f"v-{spec.name}"[:15])]
        if spec.inner_address:
            legs.append((spec.inner_address, "eth1", f"w-{spec.name}"[:15]))
        for address, device, veth in legs:
            ip("-n", network.bridge_netns, "link", "add", veth, "address", mac_for(address, bridge_side=True),
               "type", "veth", "peer", "name", device, "address", mac_for(address), "netns", netns)
            ip("-n", network.bridge_netns, "link", "set", veth, "master", "br1" if is_inner(address) else "br0",
               "up")
            ip("-n", netns, "address", "add", f"{address}/{PREFIX_LENGTH}", "dev", device)
            ip("-n", netns, "link", "set", device, "up")

        log = network.log_dir / f"{spec.name}-init.log"
        with open(log, "ab") as out:
            unshare = subprocess.Popen(
                ["ip", "netns", "exec", netns, "unshare", "--pid", "--kill-child", "--mount-proc", "--uts",
                 "--ipc", "--mount", "--", PYTHON, DATA / "host_init.py", spec.name],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        holder: list[int] = []
        self.stack.callback(stop_host, unshare, holder)
        init_pid = self.wait_for_init(unshare, log)
        holder.append(init_pid)

        host = TestHost(name=spec.name, address=spec.address, mac=mac_for(spec.address), netns=netns,
                        init_pid=init_pid, services=dict(spec.services))
        hostname_file = fill_text(network.tmp_dir / "etc" / f"hostname-{spec.name}", f"{spec.name}\n")
        for argv in (["hostname", spec.name],
                     ["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", f"run-{spec.name}", "/run"],
                     ["mount", "--bind", hosts_file, "/etc/hosts"],
                     ["mount", "--bind", hostname_file, "/etc/hostname"]):
            result = host.run(argv, capture_output=True, text=True, timeout=10)
            if result.returncode != 0:
                raise NetworkError(f"{' '.join(map(str, argv))} in host {spec.name} failed: {result.stderr}")
        network.hosts[spec.name] = host
        return host

    def wait_for_init(self, unshare: subprocess.Popen, log: Path) -> int:
        """Return the PID of host_init.py once unshare's child has exec'd it (so /proc is already private)."""
        while True:
            if unshare.poll() is not None:
                raise NetworkError(f"unshare exited with status {unshare.returncode}:\n{log_tail(log)}")
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(unshare.pid).children():
                    if str(DATA / "host_init.py") in child.cmdline():
                        return child.pid
            self.remaining()
            time.sleep(0.005)

    def start_daemon(self, host: TestHost, name: str, argv: Sequence[str | os.PathLike], *,
                     user: str | None = None, stop_signal: int = signal.SIGTERM) -> Daemon:
        """Start a long-running process in a host, its output in logs/<host>-<name>.log; stop it at teardown."""
        log = self.network.log_dir / f"{host.name}-{name}.log"
        with open(log, "ab") as out:
            proc = host.popen(argv, user=user, cwd=self.network.tmp_dir, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)
        daemon = Daemon(name=name, host=host.name, proc=proc, log=log, stop_signal=stop_signal)
        self.stack.callback(daemon.stop)
        host.daemons[name] = daemon
        if daemon.pid is None:
            raise NetworkError(f"{name} on {host.name} exited at once with status {proc.returncode}:\n"
                               f"{daemon.log_tail()}")
        return daemon

    # --- the hosts' services ---

    def prepare_db(self) -> tuple[subprocess.Popen, Path, Path]:
        """Start initdb (as postgres, in the root namespace: it only writes files); return it and its dirs."""
        db_dir = make_dir(self.network.tmp_dir / "db", owner="postgres", mode=0o711)
        pgdata = db_dir / "pgdata"
        socket_dir = make_dir(db_dir / "socket", owner="postgres")
        log = self.network.log_dir / "db-initdb.log"
        with open(log, "ab") as out:
            initdb = subprocess.Popen(
                [find_postgres_bin() / "initdb", "-D", pgdata, "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                user="postgres", group="postgres", extra_groups=[], cwd=db_dir, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.stack.callback(stop_process, initdb)
        return initdb, pgdata, socket_dir

    def start_db(self, host: TestHost, initdb: subprocess.Popen, pgdata: Path, socket_dir: Path) -> None:
        redis_dir = make_dir(self.network.tmp_dir / "db" / "redis", owner="redis", mode=0o700)
        self.start_daemon(host, "redis", [
            find_tool("redis-server"), "--bind", host.address, "--port", "6379", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--dir", redis_dir],
            user="redis")
        try:
            initdb.wait(timeout=self.remaining())
        except subprocess.TimeoutExpired:
            raise NetworkError(f"initdb did not finish:\n{log_tail(self.network.log_dir / 'db-initdb.log')}")
        if initdb.returncode != 0:
            raise NetworkError(f"initdb failed with status {initdb.returncode}:\n"
                               f"{log_tail(self.network.log_dir / 'db-initdb.log')}")
        hba = fill_template("pg_hba.conf", pgdata / "pg_hba.conf", subnet=SUBNET)
        shutil.chown(hba, "postgres", "postgres")
        self.start_daemon(host, "postgresql", [
            find_postgres_bin() / "postgres", "-D", pgdata, "-c", f"listen_addresses={host.address}",
            "-c", "port=5432", "-c", f"unix_socket_directories={socket_dir}", "-c", "fsync=off",
            "-c", "shared_buffers=16MB", "-c", "max_connections=30", "-c", "log_connections=on"],
            user="postgres", stop_signal=signal.SIGINT)  # SIGINT: PostgreSQL's fast shutdown

    def create_database(self, host: TestHost, name: str) -> None:
        """Create a database once PostgreSQL accepts queries (it listens a moment before it does)."""
        while True:
            result = host.run([find_tool("psql"), "-h", host.address, "-U", "postgres", "-d", "postgres",
                               "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}"],
                              capture_output=True, text=True, timeout=self.remaining(),
                              env={**os.environ, "PGCONNECT_TIMEOUT": "5"})
            if result.returncode == 0:
                return
            if "starting up" not in result.stderr and "shutting down" not in result.stderr:
                raise NetworkError(f"could not create database {name}: {result.stderr.strip()}\n"
                                   f"{host.daemons['postgresql'].log_tail()}")
            self.remaining()
            time.sleep(0.1)

    def prepare_web(self, host: TestHost) -> tuple[Path, Path]:
        """Write nginx's config and site; return the config path and its run directory."""
        web_dir = make_dir(self.network.tmp_dir / "web", mode=0o711)
        run_dir = make_dir(web_dir / "nginx")
        www_dir = make_dir(web_dir / "www")
        shutil.copyfile(DATA / "index.html", www_dir / "index.html")
        (www_dir / "index.html").chmod(0o644)
        nginx_conf = fill_template("nginx.conf", web_dir / "nginx.conf", run_dir=run_dir,
                                   log_dir=self.network.log_dir, www_dir=www_dir, address=host.address)
        return nginx_conf, run_dir

    def start_web(self, host: TestHost) -> None:
        nginx_conf, run_dir = self.prepare_web(host)
        self.start_daemon(host, "nginx", [find_tool("nginx"), "-e", "stderr", "-p", run_dir, "-c", nginx_conf])

    def prepare_ssh(self) -> None:
        """Generate the client key pair (authorised for root), each sshd host's key and the shared known_hosts."""
        network = self.network
        ssh_dir = make_dir(network.tmp_dir / "ssh", mode=0o700)
        keygen = find_tool("ssh-keygen")
        client_key = ssh_dir / "client_ed25519"
        run_checked([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "estatemap-test", "-f", client_key])
        shutil.copyfile(client_key.with_suffix(".pub"), ssh_dir / "authorized_keys")
        lines = []
        for name in self.sshd_hosts:
            host = network.hosts[name]
            host_key = make_dir(ssh_dir / name, mode=0o700) / "ssh_host_ed25519_key"
            run_checked([keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"{name} host key", "-f", host_key])
            key_type, key = host_key.with_suffix(".pub").read_text().split()[:2]
            lines.append(f"{host.address},{host.name} {key_type} {key}\n")
            host.ssh_host_key = host_key
        known_hosts = fill_text(ssh_dir / "known_hosts", "".join(lines))
        # Service accounts' sshd reads the authorised keys with their rights: the folder may be passed through
        # (0711; the private keys in it stay 0600) and the file read.
        ssh_dir.chmod(0o711)
        (ssh_dir / "authorized_keys").chmod(0o644)
        network.ssh_client_key, network.ssh_known_hosts = client_key, known_hosts
        for name in self.sshd_hosts:
            network.hosts[name].ssh_client_key = client_key
            network.hosts[name].ssh_known_hosts = known_hosts

    def start_sshd(self, host: TestHost) -> None:
        """Start OpenSSH in a host (key login for root; a password too where root_passwords names the host)."""
        ssh_dir = self.network.tmp_dir / "ssh"
        password = self.root_passwords.get(host.name)
        spec = next(spec for spec in self.specs if spec.name == host.name)
        permit_root = "no" if host.name in self.refuse_root else "yes" if password is not None else "prohibit-password"
        sshd_config = fill_template(
            "sshd_config", ssh_dir / host.name / "sshd_config", address=host.address, host_key=host.ssh_host_key,
            run_dir=ssh_dir / host.name, authorized_keys=ssh_dir / "authorized_keys",
            permit_root_login=permit_root, password_authentication="yes" if password is not None else "no")
        if spec.inner_address:  # a bastion listens on both legs
            with open(sshd_config, "a") as config:
                config.write(f"ListenAddress {spec.inner_address}\n")
        # sshd insists on its privilege-separation directory; /run is the host's own tmpfs.
        host.run(["mkdir", "-m", "0755", "/run/sshd"], check=True, timeout=10)
        if host.name in self.accounts:
            self.add_accounts(host, self.accounts[host.name], password)
        elif password is not None:
            self.set_root_password(host, password)
        self.start_daemon(host, "sshd", [find_tool("sshd"), "-D", "-e", "-f", sshd_config])

    def set_root_password(self, host: TestHost, password: str) -> None:
        """Give root `password` inside one host only: a shadow file of its own, bind-mounted on /etc/shadow."""
        hashed = run_checked([find_tool("openssl"), "passwd", "-6", "-stdin"], input=password).strip()
        shadow = self.network.tmp_dir / "etc" / f"shadow-{host.name}"
        shadow.parent.mkdir(parents=True, exist_ok=True)
        shadow.touch(mode=0o600)
        shadow.write_text(f"root:{hashed}:19000:0:99999:7:::\n")
        result = host.run(["mount", "--bind", shadow, "/etc/shadow"], capture_output=True, text=True, timeout=10)
        if result.returncode != 0:
            raise NetworkError(f"could not mount a shadow file in host {host.name}: {result.stderr}")

    def add_accounts(self, host: TestHost, accounts: Sequence[Account], root_password: str | None) -> None:
        """Give one host service accounts: private passwd, group, shadow and sudoers files (the machine's passwd
        and group plus the accounts), bind-mounted on /etc in the host's mount namespace only."""
        etc = make_dir(self.network.tmp_dir / "etc" / f"accounts-{host.name}", mode=0o755)
        homes = make_dir(self.network.tmp_dir / "home", mode=0o755)
        openssl = find_tool("openssl")

        def hashed(password: str | None) -> str:  # "*": no password, yet not locked (key logins still work)
            if password is None:
                return "*"
            return run_checked([openssl, "passwd", "-6", "-stdin"], input=password).strip()

        passwd = Path("/etc/passwd").read_text()
        group = Path("/etc/group").read_text()
        shadow = [f"root:{hashed(root_password)}:19000:0:99999:7:::"]
        sudoers = ["Defaults env_reset", "Defaults !syslog", "Defaults lecture=never",
                   'Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"',
                   "root ALL=(ALL:ALL) ALL"]
        for account in accounts:
            home = make_dir(homes / f"{host.name}-{account.name}", mode=0o700)
            os.chown(home, account.uid, account.uid)
            passwd += f"{account.name}:x:{account.uid}:{account.uid}::{home}:/bin/sh\n"
            group += f"{account.name}:x:{account.uid}:\n"
            shadow.append(f"{account.name}:{hashed(account.password)}:19000:0:99999:7:::")
            sudoers += account.sudoers
        files = {"passwd": (passwd, 0o644), "group": (group, 0o644), "shadow": ("\n".join(shadow) + "\n", 0o600),
                 "sudoers": ("\n".join(sudoers) + "\n", 0o440)}
        for name, (text, mode) in files.items():
            path = etc / name
            path.write_text(text)
            path.chmod(mode)
            result = host.run(["mount", "--bind", path, f"/etc/{name}"], capture_output=True, text=True, timeout=10)
            if result.returncode != 0:
                raise NetworkError(f"could not mount {name} in host {host.name}: {result.stderr}")

    def start_backend(self, host: TestHost) -> None:
        """Redis run by redis on the backend, and a client of it run by nobody holding one connection."""
        redis_dir = make_dir(self.network.tmp_dir / "backend-redis", owner="redis", mode=0o700)
        self.start_daemon(host, "redis", [
            find_tool("redis-server"), "--bind", host.address, "--port", "6379", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--dir", redis_dir],
            user="redis")

    def start_backend_client(self, host: TestHost) -> None:
        """The system python3 (nobody cannot run the project's venv): the redis client holds one connection."""
        daemon = self.start_daemon(host, "redis_client", [SYSTEM_PYTHON, "-c", REDIS_CLIENT, host.address, "6379"],
                                   user="nobody")
        while "redis_client: ready" not in daemon.log.read_text(errors="replace"):
            if daemon.proc.poll() is not None:
                raise NetworkError(f"redis_client exited with status {daemon.proc.returncode}:\n{daemon.log_tail()}")
            self.remaining()
            time.sleep(0.02)

    def start_pacs(self, host: TestHost) -> None:
        storescp = find_tool("storescp")
        for name, port in (("storescp-11112", 11112), ("storescp-104", 104)):
            store_dir = make_dir(self.network.tmp_dir / "pacs" / name)
            self.start_daemon(host, name, [storescp, "--verbose", "--aetitle", "PACS", "--output-directory",
                                           store_dir, str(port)])
        self.start_daemon(host, "mllp", [PYTHON, DATA / "mllp_server.py", "--host", host.address,
                                         "--port", "2575", "--app", "PACS", "--facility", "TEST"])

    def start_app(self, host: TestHost) -> None:
        db, web = self.network.hosts["db"], self.network.hosts["web"]
        daemon = self.start_daemon(host, "emr_app", [
            PYTHON, DATA / "emr_app.py", "--postgres", f"{db.address}:5432", "--redis", f"{db.address}:6379",
            "--http", f"{web.address}:80"])
        while "emr_app: ready" not in daemon.log.read_text(errors="replace"):
            if daemon.proc.poll() is not None:
                raise NetworkError(f"emr_app exited with status {daemon.proc.returncode}:\n{daemon.log_tail()}")
            self.remaining()
            time.sleep(0.02)

    def check_daemons_alive(self) -> None:
        """Raise NetworkError naming the first daemon that has exited, with its log."""
        for daemon in self.network.daemons():
            if daemon.proc.poll() is not None:
                raise NetworkError(f"{daemon.name} on {daemon.host} exited with status "
                                   f"{daemon.proc.returncode} before listening:\n{daemon.log_tail()}")

    def wait_for_services(self) -> None:
        """Wait until every service port accepts TCP from the scanner host; fail on a dead daemon or timeout."""
        endpoints = {f"{host.address}:{port}": host for host in self.network.hosts.values()
                     for port in host.services.values()}
        inner = {endpoint: host for endpoint, host in endpoints.items() if is_inner(host.address)}
        if inner:  # the scanner cannot reach them: the bastion probes them
            bastion = next((self.network.hosts[spec.name] for spec in self.specs if spec.inner_address), None)
            if bastion is None:
                raise NetworkError(f"no host of the network reaches the inner subnet ({', '.join(inner)})")
            self.probe_services(bastion, inner)
        outer = {endpoint: host for endpoint, host in endpoints.items() if endpoint not in inner}
        if outer:
            self.probe_services(self.network.scanner, outer)

    def probe_services(self, prober: TestHost, endpoints: dict[str, TestHost]) -> None:
        """Wait until every endpoint accepts TCP from `prober`; fail on a dead daemon or timeout."""
        probe = prober.popen([PYTHON, DATA / "tcp_probe.py", "--timeout", f"{self.remaining():.1f}",
                              *endpoints], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while True:
                self.check_daemons_alive()
                if probe.poll() is not None:
                    break
                if time.monotonic() > self.deadline + 5:
                    raise NetworkError(f"the TCP probe from {prober.name} did not finish")
                time.sleep(0.02)
        finally:
            stop_process(probe)
        # The probe can finish before a daemon that fails at start-up has died: give every daemon a moment.
        youngest = max((d.started for d in self.network.daemons()), default=0.0)
        time.sleep(max(0.0, youngest + DAEMON_GRACE_SECONDS - time.monotonic()))
        self.check_daemons_alive()
        stdout, stderr = probe.communicate()
        if probe.returncode != 0:
            try:
                status = json.loads(stdout)
            except json.JSONDecodeError:
                raise NetworkError(f"the TCP probe failed: {stderr.strip()}") from None
            closed = [endpoint for endpoint, state in status.items() if state != "open"]
            tails = "\n".join(f"--- {endpoint}: {status[endpoint]}; the logs of {endpoints[endpoint].name}'s daemons:\n"
                              + "\n".join(f"[{d.name}]\n{d.log_tail(10)}" for d in endpoints[endpoint].daemons.values())
                              for endpoint in closed)
            raise NetworkError(f"not listening after {self.timeout:g} s: {', '.join(closed)}\n{tails}")

    def build(self) -> TestNetwork:
        names = {spec.name for spec in self.specs}
        if "scanner" not in names:
            raise NetworkError("the test network needs its scanner host")
        if "app" in names and not {"db", "web"} <= names:
            raise NetworkError("the app host needs the db and web hosts")
        initdb = self.prepare_db() if "db" in names else None
        self.build_bridge()
        hosts_file = self.write_host_files()
        for spec in self.specs:
            self.start_host(spec, hosts_file)
        hosts = self.network.hosts
        if self.sshd_hosts:
            self.prepare_ssh()
            for name in self.sshd_hosts:
                self.start_sshd(hosts[name])
        if "web" in hosts:
            self.start_web(hosts["web"])
        if "pacs" in hosts:
            self.start_pacs(hosts["pacs"])
        if initdb is not None:
            self.start_db(hosts["db"], *initdb)
        if "backend" in hosts:
            self.start_backend(hosts["backend"])
        self.wait_for_services()
        if "backend" in hosts:
            self.start_backend_client(hosts["backend"])
        if "db" in hosts:
            self.create_database(hosts["db"], "emr")
        if "app" in hosts:
            self.start_app(hosts["app"])
        return self.network


def fill_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o644)
    return path


def stop_host(unshare: subprocess.Popen, init_pid: list[int]) -> None:
    """Stop a host: SIGTERM its init (PID 1 of its PID namespace, so the kernel kills the rest), then SIGKILL."""
    if unshare.poll() is not None:
        return
    if init_pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(init_pid[0], signal.SIGTERM)
        try:
            unshare.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(init_pid[0], signal.SIGKILL)
    try:
        unshare.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        unshare.kill()  # --kill-child: its child gets SIGKILL too
        unshare.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def running_network(host_names: Sequence[str] = ALL_HOSTS, timeout: float = START_TIMEOUT, *,
                    extra_hosts: Sequence[HostSpec] = (), sshd_hosts: Sequence[str] | None = None,
                    root_passwords: Mapping[str, str] | None = None,
                    accounts: Mapping[str, Sequence[Account]] | None = None,
                    refuse_root: Sequence[str] = ()) -> Iterator[TestNetwork]:
    """Build the test network with the named hosts and their daemons; tear all of it down on exit.

    `extra_hosts` are added (e.g. ssh_host_specs(20)); `sshd_hosts` run OpenSSH (default: web, if present);
    `root_passwords` lets root log in with a password on some of them; `accounts` gives hosts service accounts
    (with sudoers lines); `refuse_root` hosts' sshd refuses root.
    Raises NetworkError (with the failing daemon's log tail) if it is not up within `timeout` seconds;
    whatever was created by then is removed first.
    """
    if os.geteuid() != 0:
        raise NetworkError("the test network needs root (network namespaces, unshare, nsenter)")
    for tool in ("ip", "unshare", "nsenter"):
        find_tool(tool)
    remove_stale_leftovers()
    with contextlib.ExitStack() as stack:
        builder = NetworkBuilder(stack, host_names, timeout, extra_hosts=extra_hosts, sshd_hosts=sshd_hosts,
                                 root_passwords=root_passwords, accounts=accounts, refuse_root=refuse_root)
        yield builder.build()


@pytest.fixture(scope="session")
def test_network() -> Iterator[TestNetwork]:
    """The whole test network (scanner, db, web, pacs, app), built once per session and torn down by PID."""
    with running_network() as network:
        yield network
