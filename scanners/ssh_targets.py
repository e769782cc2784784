"""Which hosts `scan ssh` logs in to, and how it reaches them: `[user@]host[:port]` targets, hosts files, and the
user's OpenSSH client config (~/.ssh/config, or the file given) read by asyncssh's own parser.

A target names a host as the user wrote it (an address, a hostname, or a `Host` alias of the config). Where
it is reached, as whom and through which jump hosts follows, first value wins: the target's own user and
port, then the config's (HostName, User, Port, ProxyJump; IdentityFile is asyncssh's to apply), then --user
and --port, then the local login name and port 22. Every jump host of a ProxyJump list is a Hop of its own,
with its own config entry, connected to and host-key checked like the target.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asyncssh.config import SSHClientConfig

from discovery.records.model import EstateError
from discovery.records.targets import TargetError, parse_target
from scanners.kinds.ssh import DEFAULT_PORT  # declared with the options

MAX_JUMPS = 8   # jump hosts in one ProxyJump list

_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")


@dataclass(frozen=True, slots=True)
class SshTarget:
    """One host to log in to: `host` is a validated address or hostname (or a config alias), `user` and `port`
    None unless the target names them."""
    host: str
    user: str | None = None
    port: int | None = None

    @property
    def text(self) -> str:
        host = self.host
        if self.port is not None:
            host = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        return f"{self.user}@{host}" if self.user else host


def _port(text: str, whole: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text[:6]) < 65536:
        raise TargetError(f"{whole[:60]!r}: the port must be a number from 1 to 65535")
    return int(text)


def _split_port(text: str) -> tuple[str, int | None]:
    """Return (host, port) from `host`, `host:port`, `[address]` or `[address]:port` (an IPv6 address alone
    has several colons and no port)."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise TargetError(f"{text[:60]!r}: a [ without its ]")
        host, rest = text[1:close], text[close + 1:]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise TargetError(f"{text[:60]!r} is not [address]:port")
        return host, _port(rest[1:], text)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port(port, text)
    return text, None


def parse_ssh_target(text: str) -> SshTarget:
    """Return `[user@]host[:port]` validated (host: an address, `[IPv6]`, or hostname, never a range); raises
    TargetError."""
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
    host, port = _split_port(host)
    target = parse_target(host)
    if target.kind not in ("address", "hostname"):
        raise TargetError(f"{text[:60]!r} is a {target.kind}; scan ssh takes single hosts (addresses or names)")
    return SshTarget(host=target.text, user=user, port=port)


def parse_hosts_file(text: str, name: str = "hosts file") -> list[str]:
    """Return the hosts in a hosts file: one `[user@]host[:port]` per line, `#` starts a comment, blank lines
    skipped."""
    hosts = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if len(entry.split()) != 1:
            raise TargetError(f"{name}, line {number}: one host per line, not {entry[:60]!r}")
        try:
            parse_ssh_target(entry)
        except TargetError as error:
            raise TargetError(f"{name}, line {number}: {error}") from None
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


# --- the OpenSSH client config --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hop:
    """One SSH login on the way to a host (a jump host) or the host itself.

    `name` is what asyncssh connects to (the alias, which its config resolves again: IdentityFile and the rest),
    `host` where that leads (HostName), `user` and `port` what the login uses.
    """
    name: str
    host: str
    user: str
    port: int

    @property
    def text(self) -> str:
        shown = self.name if self.host == self.name else f"{self.name} ({self.host})"
        return f"{self.user}@{shown}" + (f" port {self.port}" if self.port != DEFAULT_PORT else "")


@dataclass(frozen=True, slots=True)
class Route:
    """How one target is reached: through `jumps` (in order, possibly none) to `target`."""
    jumps: tuple[Hop, ...]
    target: Hop


class SshConfig:
    """The OpenSSH client config files a scan reads: the one given, else ~/.ssh/config when it exists."""

    def __init__(self, path: str | os.PathLike | None = None):
        if path is not None:
            self.path: Path | None = Path(path).expanduser()
            if not self.path.is_file():
                raise EstateError(f"no ssh config file at {self.path}")
        else:
            default = Path("~", ".ssh", "config").expanduser()
            self.path = default if os.access(default, os.R_OK) else None
        self.given = path is not None

    @property
    def paths(self) -> list[str]:
        """What asyncssh.connect's `config` gets: the files to read (none: no config at all)."""
        return [str(self.path)] if self.path is not None else []

    def lookup(self, name: str, user: str | None = None, port: int | None = None) -> SSHClientConfig:
        """Return the config's settings for host `name`; raises EstateError when the file cannot be read."""
        try:
            return SSHClientConfig.load(None, self.paths, False, False, False, _local_user(),
                                        user if user else (), name, port if port else ())
        except (OSError, ValueError) as error:
            raise EstateError(f"ssh config {self.path}: {getattr(error, 'strerror', None) or error}") from None

    def hop(self, target: SshTarget, default_user: str | None, default_port: int) -> tuple[Hop, str | None]:
        """Return the Hop a target leads to and its ProxyJump list (None: direct)."""
        config = self.lookup(target.host, target.user, target.port)
        user = target.user or config.get("User") or default_user or _local_user()
        port = target.port or config.get("Port") or default_port
        host = str(config.get("Hostname") or target.host)
        jump = config.get("ProxyJump")
        return Hop(name=target.host, host=host, user=str(user), port=int(port)), (str(jump) if jump else None)

    def route(self, target: SshTarget, default_user: str | None = None, default_port: int = DEFAULT_PORT) -> Route:
        """Return how `target` is reached: its jump hosts (the config's ProxyJump, each resolved through the
        config too) and itself. Raises TargetError for a ProxyJump entry that is not [user@]host[:port]."""
        hop, jumps = self.hop(target, default_user, default_port)
        hops = []
        if jumps:
            specs = [spec.strip() for spec in jumps.split(",") if spec.strip()]
            if len(specs) > MAX_JUMPS:
                raise TargetError(f"{target.text}: ProxyJump lists more than {MAX_JUMPS} jump hosts")
            for spec in specs:
                try:
                    jump = parse_ssh_target(spec)
                except TargetError as error:
                    raise TargetError(f"{target.text}: ProxyJump {spec[:60]!r}: {error}") from None
                hops.append(self.hop(jump, default_user, default_port)[0])  # a jump host's own ProxyJump is not followed
        return Route(jumps=tuple(hops), target=hop)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root" if os.geteuid() == 0 else str(os.geteuid())
