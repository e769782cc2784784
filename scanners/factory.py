"""One door to every scanner for callers that must not import scanners/ themselves (the GUI).

main.py hands `make_scanner` to the GUI; the GUI collects a kind and a dict of options from its
form and gets back a validated scanner object to give discovery.service.run_scan. Every check the
CLI makes (targets, ports, profile, rate, SSH options, file format) happens here, before anything runs.

    scanner = make_scanner("network", {"targets": ["10.20.0.0/24"], "profile": "quick"})

Each scanner it makes carries `resume_options` (what the CLI stores on a scan), so a scan started from the
GUI can be resumed like one started from the command line; `resume_request` turns an interrupted scan's
plan back into a kind and options.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from pathlib import Path

from discovery.model import EstateError
from discovery.sampling import watch_settings

KINDS = ("network", "host", "ssh", "import")

_OPTIONS = {
    "network": {"targets", "profile", "ports", "excludes", "max_rate"},
    "host": {"watch", "every"},
    "ssh": {"hosts", "user", "key", "port", "known_hosts", "accept_new_host_keys", "concurrency", "timeout",
            "password", "passphrase", "hosts_file", "watch", "every", "excludes", "remember_password",
            "password_prompt"},
    "import": {"path"},
}


def make_scanner(kind: str, options: dict):
    """Return a scanner for `kind` ("network", "host", "ssh", "import") built from `options`; raises EstateError
    for anything a user typed wrong (TargetError for bad targets), TypeError for an option no kind knows.

    network: targets (list of str), profile ("quick"|"standard"|"deep"), ports (str), excludes (list), max_rate (int)
    host:    watch, every (seconds; None for one snapshot)
    ssh:     hosts (list of str), user, key (path), port, known_hosts (path), accept_new_host_keys (bool),
             concurrency, timeout (seconds), password, passphrase (kept in memory only), hosts_file, watch, every,
             excludes (hosts never to log in to), remember_password (bool: a password that logs in goes to the OS
             keyring; one remembered before is always tried), password_prompt (callable(message) -> str | None,
             asked when a host wants a password nobody gave)
    import:  path (an nmap XML file or a collector bundle)
    """
    if kind not in KINDS:
        raise EstateError(f"unknown scan kind {kind!r} (choose from {', '.join(KINDS)})")
    unknown = set(options) - _OPTIONS[kind]
    if unknown:
        raise TypeError(f"unknown option(s) for a {kind} scan: {', '.join(sorted(unknown))}")
    opts = {name: _blank_to_none(value) for name, value in options.items()}
    scanner = _build(kind, opts)
    scanner.resume_options = stored_options(kind, opts)  # run_scan keeps them for `estatemap scan resume`
    return scanner


def _build(kind: str, opts: dict):
    if kind == "network":
        return _network_scanner(opts)
    if kind == "host":
        from scanners.local_host import LocalHostScanner
        return LocalHostScanner(**watch_settings(opts.get("watch"), opts.get("every")))
    if kind == "ssh":
        return _ssh_scanner(opts)
    from scanners.files import FileImportScanner
    if opts.get("path") is None:
        raise EstateError("choose a file to import (nmap XML from -oX, or a collector bundle)")
    return FileImportScanner(opts["path"])


def stored_options(kind: str, opts: dict) -> dict:
    """Return what continuing a scan of `kind` built from `opts` needs, in the shape the CLI stores on a scan
    (never a password)."""
    if kind == "network":
        from scanners.nmap_network import DEFAULT_MAX_RATE
        return {"profile": opts.get("profile") or "standard", "ports": opts.get("ports"),
                "exclude": _words(opts.get("excludes")), "max_rate": opts.get("max_rate", DEFAULT_MAX_RATE)}
    if kind == "host":
        return watch_settings(opts.get("watch"), opts.get("every"))
    if kind == "ssh":
        return {"user": opts.get("user"), "key": absolute_path(opts.get("key")), "port": opts.get("port") or 22,
                "known_hosts": absolute_path(opts.get("known_hosts")),
                "accept_new_host_keys": bool(opts.get("accept_new_host_keys")),
                "concurrency": opts.get("concurrency"), "timeout": opts.get("timeout"),
                **watch_settings(opts.get("watch"), opts.get("every")), "exclude": _words(opts.get("excludes"))}
    return {"files": [absolute_path(opts.get("path"))]}


def resume_request(plan) -> tuple[str, dict | None]:
    """Return (kind, make_scanner options) that continue `plan` (discovery.service.plan_resume's): a network scan
    without the addresses it finished, an SSH scan of the hosts it did not collect, a host scan or an import
    again. The options are None when nothing is left to do: the scan is then completed as it is."""
    stored = plan.options
    if plan.kind == "network":
        finished = sorted(name for name in plan.finished if is_address(name))
        return "network", {"targets": plan.targets, "profile": stored.get("profile"), "ports": stored.get("ports"),
                           "excludes": [*stored.get("exclude", ()), *finished], "max_rate": stored.get("max_rate")}
    if plan.kind == "ssh":
        remaining = [t for t in plan.targets if not ssh_target_done(t, plan.finished)]
        if not remaining:
            return "ssh", None
        keys = ("user", "key", "port", "known_hosts", "accept_new_host_keys", "concurrency", "timeout", "watch",
                "every")
        return "ssh", {"hosts": remaining, **{k: stored.get(k) for k in keys}, "excludes": stored.get("exclude")}
    if plan.kind == "host":
        return "host", {"watch": stored.get("watch"), "every": stored.get("every")}
    return "import", {"path": (stored.get("files") or plan.targets)[0]}


def is_address(text: str) -> bool:
    """Return whether `text` is an IPv4 or IPv6 address (not a name)."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def ssh_target_done(target: str, finished: set[str]) -> bool:
    """Whether an SSH target ([user@]host) names a host a scan already stored (by name, or its address)."""
    from scanners.ssh_host import parse_ssh_target

    host = parse_ssh_target(target).host.lower()
    if host in finished:
        return True
    try:
        return any(info[4][0] in finished for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP))
    except OSError:
        return False


def absolute_path(path) -> str | None:
    """Return `path` absolute (~ expanded), so a scan resumed from another folder finds the same file."""
    return str(Path(path).expanduser().absolute()) if path is not None else None


def _network_scanner(opts: dict):
    from scanners.nmap_network import DEFAULT_MAX_RATE, DEFAULT_PROFILE, NmapNetworkScanner

    targets = _words(opts.get("targets"))
    if not targets:
        raise EstateError("name at least one target: an address, CIDR block, range or hostname")
    max_rate = opts.get("max_rate", DEFAULT_MAX_RATE)
    return NmapNetworkScanner(targets, profile=opts.get("profile") or DEFAULT_PROFILE, ports=opts.get("ports"),
                              excludes=_words(opts.get("excludes")),
                              max_rate=_number(max_rate, "rate limit", int) if max_rate is not None else None)


def _ssh_scanner(opts: dict):
    from scanners.ssh_host import (DEFAULT_CONCURRENCY, DEFAULT_PORT, DEFAULT_TIMEOUT, KeyPassphraseNeeded,
                                   SshHostScanner)

    hosts = _words(opts.get("hosts"))
    if not hosts and opts.get("hosts_file") is None:
        raise EstateError("name at least one host ([user@]address or hostname)")
    watch = watch_settings(opts.get("watch"), opts.get("every"))
    if _words(opts.get("excludes")):
        watch["excludes"] = _words(opts["excludes"])
    from discovery.secrets import Keychain
    remember = bool(opts.get("remember_password"))
    keychain = Keychain(required=remember)
    if remember:
        keychain.check()  # no usable keyring: say so before anything connects
    try:
        return SshHostScanner(
            hosts, user=opts.get("user"), key=opts.get("key"), keychain=keychain, remember_password=remember,
            password_prompt=opts.get("password_prompt"),
            port=_number(opts.get("port", DEFAULT_PORT) or DEFAULT_PORT, "port", int),
            known_hosts=opts.get("known_hosts"), accept_new=bool(opts.get("accept_new_host_keys")),
            password=opts.get("password"), passphrase=opts.get("passphrase"),
            concurrency=_number(opts.get("concurrency") or DEFAULT_CONCURRENCY, "concurrency", int),
            timeout=_number(opts.get("timeout") or DEFAULT_TIMEOUT, "timeout", float),
            hosts_file=opts.get("hosts_file"), **watch)
    except KeyPassphraseNeeded as needed:
        raise EstateError(f"the key {needed.path} is encrypted: enter its passphrase") from None


def _blank_to_none(value):
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _words(value) -> list[str]:
    """Return targets from a list, or from text split on commas, spaces and new lines."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, Iterable):
        raise EstateError(f"{value!r} is not a list of targets")
    return [str(v).strip() for v in value if str(v).strip()]


def _number(value, name: str, kind: type):
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise EstateError(f"the {name} {value!r} is not a number") from None
