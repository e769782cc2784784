"""Agentless collection over SSH behind `estatemap scan ssh`: what each Linux host is and does, from its standard tools.

One SSH connection per host (asyncssh, on an event loop in a thread of its own); at most `concurrency` hosts
are inventoried at once, each within `timeout` seconds, and each host's HostReport is handed on as soon as
that host is done. On a host a fixed list of commands runs (scanners.linux_commands: /etc/os-release, uname,
lscpu, df, ip, dpkg-query/rpm, ps, ss, ...) as one `sh` script in one SSH channel (a channel costs ~0.1 s, a
command ~5 ms), under LC_ALL=C, TZ=UTC and a standard PATH; nothing a user typed is ever part of a command.
This module is the transport: targets, host keys, logging in, the event loop and the scanner; what the
commands are and what their output means lives in linux_commands. A missing tool is a warning for that host
(ss falls back to netstat, then to /proc/net; lscpu to /proc/cpuinfo; lsblk to /sys/block; ip to
/sys/class/net). A host
that cannot be reached, refuses the login, times out or shows an unknown or changed host key becomes one
warning, "<host>: <reason>", and the other hosts carry on.

Host keys are checked against known_hosts (~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts, or the one
file given). An unknown key fails the host unless `accept_new` is set: then it is trusted and appended to
the user's known_hosts file (what `ssh -o StrictHostKeyChecking=accept-new` does), so that a later change
is caught. A changed key always fails. ~/.ssh/config (or the file given) says how hosts are reached: aliases,
users, ports, keys and ProxyJump (scanners.ssh_targets); each jump host is logged in to in turn, tunnelled
through the one before, its key checked like the target's. With `sudo`, the commands that need root run again
through sudo (scanners.linux_sudo) in channels of their own; a sudo password goes only to sudo's prompt.

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
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncssh

from discovery.records.model import Connection, EstateError, HostReport, ScanCancelled, ScanContext, utc_now
from discovery.scanning.sampling import watch_connections
from discovery.scanning.secrets import SecretsError, ssh_account, sudo_account
from discovery.records.targets import Target, parse_targets
from scanners.kinds.ssh import DEFAULT_CONCURRENCY, DEFAULT_PORT, DEFAULT_TIMEOUT  # declared with the options
from scanners.linux_commands import (
    COMMANDS, CommandResult, HostFailed, Inventory, SAMPLE_COMMANDS, TOOL_NAMES, describe_result, get_databases,
    get_outputs, transform_inventory, transform_sample, wrap_command,
)
from scanners.linux_sudo import (
    PRIVILEGED, describe_lost, new_prompt, privileged_sections, sudo_refused_warning, sudo_script, transform_sudo_result,
)
from scanners.ssh_targets import (  # noqa: F401  (the targets' parsers, imported from here before they moved)
    Hop, Route, SshConfig, SshTarget, load_hosts, parse_hosts_file, parse_ssh_target,
)

log = logging.getLogger(__name__)

KEEPALIVE_INTERVAL = 30     # seconds, while a connection idles between --watch samples
STOP_GRACE = 5.0            # seconds the event loop gets to close connections when the scan stops
DRAIN_SECONDS = 5.0         # on cancel: how long hosts in their watch get to hand in what they sampled
POLL_SECONDS = 0.1          # how often the scanning thread looks at the cancel flag
PREFERRED_AUTH = "publickey,keyboard-interactive,password"


_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")


# --- targets ----------------------------------------------------------------------------------

def password_accounts(hosts: Sequence[str] = (), hosts_file: str | os.PathLike | None = None, *,
                      user: str | None = None, port: int = DEFAULT_PORT, ssh_config: str | os.PathLike | None = None,
                      sudo: bool = False) -> list[str]:
    """Return the OS keyring account names (`ssh:user@host`, with `sudo`: `sudo:user@host` too) of the hosts and
    their jump hosts, as `scan ssh` files their passwords."""
    config = SshConfig(ssh_config)
    accounts = []
    for target in load_hosts(hosts, hosts_file):
        route = config.route(target, user, port)
        accounts += [ssh_account(hop.user, hop.name, hop.port) for hop in (*route.jumps, route.target)]
        if sudo:
            accounts.append(sudo_account(route.target.user, route.target.name, route.target.port))
    return list(dict.fromkeys(accounts))


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


# --- transform: pure -------------------------------------------------------------------------------


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
                 keychain: Any = None, remember_password: bool = False, ssh_config: str | os.PathLike | None = None,
                 sudo: bool = False, sudo_password: str | None = None):
        """Validate everything before anything connects; raises TargetError or EstateError (KeyPassphraseNeeded
        when `key` is encrypted and no passphrase was given). `password_prompt(message)` is asked, once per user,
        when a host wants a password and none was given (the CLI passes getpass when stdin is a terminal).
        `excludes` (addresses, blocks, ranges, hostnames, validated like scan network's) are never contacted:
        a host named by an address or name they cover, or whose name resolves into them, is skipped.
        `keychain` (discovery.scanning.secrets.Keychain) is asked for a remembered password before the user is; with
        `remember_password`, a password that logged in is stored in it (its accounts listed in `remembered`).
        `ssh_config` is the OpenSSH client config to read (default: ~/.ssh/config when it exists): aliases,
        HostName, User, Port, IdentityFile, ProxyJump. With `sudo`, the commands that need root run through
        sudo (scanners.linux_sudo); a sudo password is `sudo_password`, or remembered, or asked once per user."""
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
        self.ssh_config = SshConfig(ssh_config)
        self.routes = {t.text: self.ssh_config.route(t, user, int(port)) for t in self.hosts}
        self.sudo, self._sudo_password = bool(sudo), sudo_password
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
        if self.ssh_config.given:
            words += ["--ssh-config", str(self.ssh_config.path)]
        if self.sudo:
            words.append("--sudo")
        if self.excluded:
            words += ["--exclude", *(t.text for t in self.excluded)]
        if self.remember_password:
            words.append("--remember-password")
        words += ["--concurrency", str(self.concurrency), "--timeout", f"{self.timeout:g}"]
        if self.watch:
            words += ["--watch", f"{self.watch:g}s", "--every", f"{self.every:g}s"]
        return " ".join(words)

    def default_user(self, target: SshTarget) -> str:
        route = self.routes.get(target.text)
        return route.target.user if route is not None else target.user or self.user or getpass.getuser()

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

    def __init__(self, target: SshTarget, route: Route):
        self.target, self.route = target, route
        self.hop: Hop = route.target                # the login under way: a jump host's, or the host's
        self.phase = "connecting"
        self.check: _HostKeyCheck | None = None     # the host key check of `hop`
        self.checks: list[tuple[Hop, _HostKeyCheck]] = []
        self.jump_conns: list[asyncssh.SSHClientConnection] = []
        self.password_wanted = False
        self.password_from: str | None = None   # "given", "keyring", "typed"
        self.password: str | None = None        # the one offered, kept until it is remembered (memory only)
        self.password_hop: tuple[str, str, int] | None = None   # (user, host, port) it was offered to
        self.sudo_works = False                 # sudo ran at least one privileged command
        self.sudo_sections: set[str] = set()    # the inventory sections it ran ("ss", "dmi")
        self.sudo_gave_up = False               # no sudo password, or a refused one: not offered again
        self.sudo_password_from: str | None = None
        self.sudo_password: str | None = None   # memory only, dropped when the host is done
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
        self._sudo_passwords: dict[str, str | None] = {}
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
        state = _HostState(target, self.scanner.routes[target.text])
        conn = None
        watching = False
        try:
            async with slots:
                if self.stopping.is_set():
                    return
                reason = await self._exclusion(state.route)
                if reason is not None:  # before any packet goes to the host
                    self.events.put(("skipped", target.text, reason))
                    return
                conn, inventory, report = await self._inventory(target, state)
            warnings = list(inventory.warnings) + state.notes
            await self._remember_password(state, warnings)
            if self.scanner.watch:
                with self._lock:
                    self._watching += 1
                    watching = True
                report = await self._watch(target, conn, inventory, report, warnings, state)
            self.events.put(("report", target.text, report, warnings))
        except asyncio.CancelledError:
            raise
        except HostFailed as error:
            self.events.put(("failed", target.text, str(error)))
        except Exception as error:
            self.events.put(("failed", target.text, self._describe_failure(error, state)))
        finally:
            state.sudo_password = None
            if watching:
                with self._lock:
                    self._watching -= 1
            for each in ([conn] if conn is not None else []) + state.jump_conns[::-1]:
                each.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(each.wait_closed(), STOP_GRACE)

    async def _exclusion(self, route: Route) -> str | None:
        """Return why a route must not be taken (an --exclude covers the name or address of the host or of a jump
        host on the way), or None."""
        for hop in (route.target, *route.jumps):
            for name in dict.fromkeys((hop.name, hop.host)):
                reason = await self._excluded(name, hop.port)
                if reason is not None:
                    return reason if hop is route.target else f"jump host {hop.text}: {reason}"
        return None

    async def _excluded(self, host: str, port: int) -> str | None:
        """Return why `host` must not be contacted (an --exclude covers its name or address), or None."""
        excluded = self.scanner.excluded
        if not excluded:
            return None
        rule = match_exclusion(host, excluded)
        if rule is None:
            addresses = await self._resolve(host, port)
            rule = next((r for a in addresses if (r := match_exclusion(a, excluded)) is not None), None)
            if rule is None:
                names = await self._resolve_exclusions()
                rule = next((r for r in excluded if names.get(r.text, set()) & addresses), None)
        return None if rule is None else f"excluded by --exclude {rule.text}: not contacted"

    async def _resolve(self, host: str, port: int = DEFAULT_PORT) -> set[str]:
        """Return the addresses of `host` (itself if it is one); empty if it does not resolve."""
        with contextlib.suppress(ValueError):
            return {str(ipaddress.ip_address(host))}
        try:
            infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return set()
        return {info[4][0].split("%")[0] for info in infos}

    async def _resolve_exclusions(self) -> dict[str, set]:
        """Return the addresses of the excluded hostnames, resolved once per scan."""
        if self._resolved_exclusions is None:
            self._resolved_exclusions = {rule.text: await self._resolve(rule.text)
                                         for rule in self.scanner.excluded if rule.kind == "hostname"}
        return self._resolved_exclusions

    async def _remember_password(self, state: _HostState, warnings: list[str]) -> None:
        """With --remember-password: store a password that was typed (or given) and worked — the SSH login's and
        sudo's — in the OS keyring."""
        target = state.route.target
        offered = [(state.password, state.password_from, state.password_hop and ssh_account(*state.password_hop)),
                   (state.sudo_password if state.sudo_works else None, state.sudo_password_from,
                    sudo_account(target.user, target.name, target.port))]
        state.password = None
        for password, source, account in offered:
            if not self.scanner.remember_password or source not in ("typed", "given") or not password:
                continue
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
                conn = await self._connect(state)
                observed_at = utc_now()
                state.phase = "collecting"

                def on_section(name: str) -> None:
                    state.phase = f"running {TOOL_NAMES.get(name, name)}"

                run_batch = functools.partial(get_batch_result, conn, on_section=on_section)
                outputs = await get_outputs(run_batch)
                lost = None
                if self.scanner.sudo and _login_uid(outputs) != 0:
                    outputs, lost = await self._escalate(conn, state, outputs)
                inventory = transform_inventory(outputs, observed_at, warn_unowned=lost is None)
                if lost is not None:
                    inventory.warnings.append(sudo_refused_warning(
                        lost, state.route.target.user,
                        describe_lost(outputs, inventory.unowned_sockets, inventory.socket_tool)))
                report = await get_databases(inventory, run_batch, observed_at)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        self._note_host_key(state, conn, report.raw, inventory.warnings)
        return conn, inventory, report

    async def _escalate(self, conn: asyncssh.SSHClientConnection, state: _HostState,
                        outputs: dict[str, CommandResult]) -> tuple[dict[str, CommandResult], str | None]:
        """Run the inventory's privileged sections again through sudo, each on its own (a rule may allow some
        only); return the outputs with theirs in place, and why sudo refused any (None when none was)."""
        outputs, refusals = dict(outputs), []
        for name in privileged_sections(outputs):
            state.phase = f"running {TOOL_NAMES.get(name, name)} through sudo"
            result, refused = await self._sudo(conn, state, name)
            if refused is not None:
                refusals.append(refused)
                if result.missing or state.sudo_gave_up:  # no sudo, or no password it takes: none will fare better
                    break
                continue
            state.sudo_sections.add(name)
            if result.ok or (name == "dmi" and result.stdout.strip()):  # grep -s: 2 when a file is missing
                outputs[name] = result
            else:
                state.notes.append(f"--sudo: {describe_result(name, result)}; kept what the login sees")
        state.sudo_works = bool(state.sudo_sections)
        return outputs, "; ".join(dict.fromkeys(refusals)) or None

    async def _sudo(self, conn: asyncssh.SSHClientConnection, state: _HostState,
                    name: str) -> tuple[CommandResult, str | None]:
        """Run PRIVILEGED[name] through sudo (`-n`, or with the password where sudo wants one); return its result
        and None, or an empty result and why sudo refused. `sudo -n` first, every time: a rule may allow one
        command without a password and want one for another."""
        result = await get_command_result(conn, sudo_script(name))
        answer = transform_sudo_result(result)
        if answer.verdict == "ok":
            return result, None
        if answer.verdict != "password":
            return result, answer.reason
        password = None if state.sudo_gave_up else await self._sudo_password_for(state)
        if password is None:
            state.sudo_gave_up = True
            return CommandResult(""), "sudo wants a password and none was given"
        result, accepted = await get_sudo_result(conn, sudo_script(name, prompt := new_prompt()), prompt, password)
        if not accepted:
            state.sudo_gave_up = True
            if state.sudo_password_from == "keyring":
                account = sudo_account(state.route.target.user, state.route.target.name, state.route.target.port)
                return result, (f"sudo refused the password remembered in the OS keyring for {account} (forget it "
                                "with --forget-password, then run again to type the new one)")
            return result, "sudo refused the password"
        answer = transform_sudo_result(result)
        return (result, None) if answer.verdict == "ok" else (result, answer.reason)

    async def _sudo_password_for(self, state: _HostState) -> str | None:
        """Return the sudo password for the host's user: the given one, the keyring's, or the user's answer
        (asked once per user and run); None when there is none."""
        if state.sudo_password is not None:
            return state.sudo_password
        hop = state.route.target
        if self.scanner._sudo_password is not None:
            state.sudo_password_from, state.sudo_password = "given", self.scanner._sudo_password
            return state.sudo_password
        if self.scanner.keychain is not None:
            try:
                remembered = await self.loop.run_in_executor(None, self.scanner.keychain.recall,
                                                             sudo_account(hop.user, hop.name, hop.port))
            except SecretsError as error:
                remembered = None
                state.notes.append(f"no remembered sudo password read: {error}")
            self._reschedule(state)
            if remembered is not None:
                state.sudo_password_from, state.sudo_password = "keyring", remembered
                return remembered
        if self.scanner.password_prompt is None:
            return None
        assert self._password_lock is not None
        async with self._password_lock:
            if hop.user not in self._sudo_passwords:
                future = self.loop.create_future()
                self.events.put(("prompt", f"sudo password for {hop.user} (asked once, tried on every host that "
                                           f"wants one; {hop.name} asked first): ", future))
                self._sudo_passwords[hop.user] = (await future) or None
        self._reschedule(state)
        state.sudo_password_from, state.sudo_password = "typed", self._sudo_passwords[hop.user]
        return state.sudo_password

    def _reschedule(self, state: _HostState) -> None:
        """The time a user spends typing or unlocking the keyring is not the host's."""
        if state.deadline is not None:
            with contextlib.suppress(RuntimeError):  # the timeout has expired or left its block
                state.deadline.reschedule(self.loop.time() + self.scanner.timeout)

    async def _connect(self, state: _HostState) -> asyncssh.SSHClientConnection:
        """Log in to each jump host of the route in turn, each tunnelled through the one before, then to the host;
        every hop's host key is checked against known_hosts."""
        tunnel = None
        route = state.route
        for hop in (*route.jumps, route.target):
            state.hop, state.phase = hop, "connecting"  # a failure names the jump host (_describe_failure)
            conn = await self._connect_hop(hop, state, tunnel)
            if hop is not route.target:
                state.jump_conns.append(conn)
            tunnel = conn
        return tunnel

    async def _connect_hop(self, hop: Hop, state: _HostState,
                           tunnel: asyncssh.SSHClientConnection | None) -> asyncssh.SSHClientConnection:
        check = state.check = _HostKeyCheck(self.scanner.known_hosts, self.scanner.accept_new)
        state.checks.append((hop, check))
        options: dict[str, Any] = dict(
            port=hop.port, username=hop.user, known_hosts=check.lookup, client_factory=lambda: _Client(check),
            config=self.scanner.ssh_config.paths, tunnel=tunnel, proxy_command=None,
            preferred_auth=PREFERRED_AUTH, password=functools.partial(self._password_for, hop, state),
            gss_auth=False, gss_kex=False, host_based_auth=False, agent_forwarding=False,
            keepalive_interval=KEEPALIVE_INTERVAL if self.scanner.watch else 0)
        if self.scanner._client_keys is not None:
            options["client_keys"] = self.scanner._client_keys
        return await asyncssh.connect(hop.name, **options)

    async def _password_for(self, hop: Hop, state: _HostState) -> str | None:
        """asyncssh's password source: the given password, or the user's answer (asked once per user), or None."""
        state.password_wanted = True
        if self.scanner._password is not None:
            state.password_from, state.password = "given", self.scanner._password
            state.password_hop = (hop.user, hop.name, hop.port)
            return self.scanner._password
        user = hop.user
        if self.scanner.keychain is not None:
            account = ssh_account(user, hop.name, hop.port)
            try:
                remembered = await self.loop.run_in_executor(None, self.scanner.keychain.recall, account)
            except SecretsError as error:
                remembered = None
                state.notes.append(f"no remembered password read: {error}")
            self._reschedule(state)  # an unlock dialog's time is not the host's
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
                                           f"wants one; {hop.name} asked first): ", future))
                self._passwords[user] = (await future) or None
        self._reschedule(state)  # the time spent typing is not the host's
        state.password_from, state.password = "typed", self._passwords[user]
        state.password_hop = (hop.user, hop.name, hop.port)
        return self._passwords[user]

    def _note_host_key(self, state: _HostState, conn: asyncssh.SSHClientConnection,
                       raw: dict[str, str], warnings: list[str]) -> None:
        key = conn.get_server_host_key()
        if key is not None:
            raw["ssh-host-key"] = f"{key.get_algorithm()} {key.get_fingerprint()}"
        if state.route.jumps:
            raw["ssh-jump-hosts"] = " ".join(f"{hop.user}@{hop.host}:{hop.port}" for hop in state.route.jumps)
        for hop, check in state.checks:
            if check.status == "accepted" and check.key is not None:
                where = "" if hop is state.route.target else f"jump host {hop.text}: "
                try:
                    path = self.scanner.known_hosts.add(hop.host, hop.port, check.key)
                    warnings.append(f"{where}new host key {check.key.get_algorithm()} {check.key.get_fingerprint()} "
                                    f"accepted (--accept-new-host-keys) and added to {path}")
                except OSError as error:
                    warnings.append(f"{where}new host key {check.key.get_fingerprint()} accepted "
                                    f"(--accept-new-host-keys) but not saved: {error.strerror}")

    async def _watch(self, target: SshTarget, conn: asyncssh.SSHClientConnection, inventory: Inventory,
                     report: HostReport, warnings: list[str], state: _HostState) -> HostReport:
        """Sample the host's TCP connections every `every` seconds for `watch` seconds over the same connection
        (through sudo where the inventory's sudo worked)."""
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
            privileged = inventory.socket_tool in state.sudo_sections and tool in PRIVILEGED
            if privileged:
                result, refused = await self._sudo(conn, state, tool)
                if refused is not None:
                    state.sudo_sections.discard(inventory.socket_tool)
                    notes.append(f"watch: --sudo stopped working ({refused}); sampled what the login sees")
            if inventory.socket_tool not in state.sudo_sections or tool not in PRIVILEGED:
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
        """Return the one-line reason a host failed ("jump host <hop>: <reason>" when a jump host failed)."""
        reason = self._describe_hop_failure(error, state)
        hop, route = state.hop, state.route
        if hop is route.target or state.phase == "collecting" or state.phase.startswith("running"):
            return reason
        return f"jump host {hop.text}: {reason}"

    def _describe_hop_failure(self, error: BaseException, state: _HostState) -> str:
        scanner, hop = self.scanner, state.hop
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
                name = hop.host if hop.port == DEFAULT_PORT else f"[{hop.host}]:{hop.port}"
                return (f"HOST KEY CHANGED: the host offered{offered or ' no key of the known type'}, which does not "
                        f"match {files}; someone may be intercepting the connection, or the host was reinstalled. "
                        f"If the change is expected, remove the old key (ssh-keygen -R {name} -f "
                        f"{scanner.known_hosts.write_path}) and run again")
            return f"host key not trusted: {error.reason}"
        if isinstance(error, asyncssh.PermissionDenied):
            user = hop.user
            if state.password_from == "keyring":
                return (f"authentication failed for {user}: the password remembered in the OS keyring for "
                        f"{ssh_account(user, hop.name, hop.port)} was refused (forget it with "
                        "--forget-password, then run again to type the new one)")
            if state.password_wanted and scanner._password is None and scanner.password_prompt is None:
                return (f"authentication failed for {user}: no key was accepted, and the host asks for a password, "
                        "which can only be typed in a terminal (run estatemap interactively, or use --key)")
            if state.password_wanted:
                return f"authentication failed for {user}: no key was accepted and the password was refused"
            return f"authentication failed for {user}: no key was accepted (use --key, ssh-agent or --user)"
        if isinstance(error, asyncssh.ChannelOpenError) and state.phase.startswith("connecting") and state.jump_conns:
            before = state.route.jumps[len(state.jump_conns) - 1]
            return (f"the jump host {before.text} could not reach {hop.host} port {hop.port}: "
                    f"{error.reason or 'connection failed'}")
        if isinstance(error, ConnectionRefusedError):
            return f"connection refused on port {hop.port} (no SSH server listening)"
        if isinstance(error, socket.gaierror):
            return f"cannot resolve {hop.host}: {error.strerror or error}"
        if isinstance(error, asyncssh.DisconnectError):
            return f"SSH error while {state.phase}: {error.reason}"
        if isinstance(error, asyncssh.ChannelOpenError):
            return f"the host refused to run commands: {error.reason}"
        if isinstance(error, OSError) and state.phase.startswith("connecting"):
            return f"cannot connect to {hop.host} port {hop.port}: {_describe_error(error)}"
        return f"{_describe_error(error)} ({state.phase})"


def _describe_error(error: BaseException) -> str:
    if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        return "timed out"
    if isinstance(error, OSError) and error.errno is not None:
        if (error.strerror or "").startswith("Connect call failed"):  # asyncio's words: the system's are clearer
            return os.strerror(error.errno)
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


SUDO_PROMPT_LIMIT = 64 * 1024   # characters of sudo's standard error read while waiting for its prompt


async def get_sudo_result(conn: asyncssh.SSHClientConnection, script: str, prompt: str,
                          password: str) -> tuple[CommandResult, bool]:
    """Run a `sudo -S -p PROMPT` script (scanners.linux_sudo.sudo_script) in a channel of its own: the password
    is written to sudo's standard input once, only after sudo has printed PROMPT. Returns what the command
    printed and whether sudo took the password (False when it asked again: a wrong password)."""
    process = await conn.create_process(wrap_command(script), encoding="utf-8", errors="replace")
    stdout = asyncio.ensure_future(process.stdout.read())
    said, sent, accepted = "", False, True
    try:
        while len(said) < SUDO_PROMPT_LIMIT:
            chunk = await process.stderr.read(4096)
            if not chunk:
                break
            said += chunk
            asked = said.count(prompt)
            if asked == 1 and not sent:
                process.stdin.write(password + "\n")
                process.stdin.write_eof()   # nothing more: the command itself reads no input
                sent = True
            elif asked > 1:                 # sudo asks again: the password was wrong
                accepted = False
                break
        if not sent:
            with contextlib.suppress(OSError, asyncssh.Error):  # sudo did not ask: the channel may be closed
                process.stdin.write_eof()
        if not accepted:
            process.close()
            return CommandResult(stdout="", stderr=said.replace(prompt, ""), status=1), False
        said += await process.stderr.read()
        completed = await process.wait()
        return CommandResult(stdout=await stdout, stderr=said.replace(prompt, ""),
                             status=completed.exit_status if completed.exit_signal is None else None), True
    finally:
        if not stdout.done():
            stdout.cancel()
        process.close()


def _login_uid(outputs: dict[str, CommandResult]) -> int | None:
    """Return the uid the inventory ran as (the session section's `id -u`), or None."""
    lines = outputs["session"].stdout.splitlines() if "session" in outputs else []
    return int(lines[1]) if len(lines) > 1 and lines[1].strip().isdigit() else None
