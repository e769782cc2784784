"""One door to every scanner for callers that must not import scanners/ themselves (the GUI).

main.py hands `make_scanner` to the GUI; the GUI collects a kind and a dict of options from its
form and gets back a validated scanner object to give discovery.service.run_scan. Every check the
CLI makes (targets, ports, profile, rate, SSH options, file format) happens here, before anything runs.

    scanner = make_scanner("network", {"targets": ["10.20.0.0/24"], "profile": "quick"})
"""

from __future__ import annotations

from collections.abc import Iterable

from discovery.model import EstateError

KINDS = ("network", "host", "ssh", "import")
DEFAULT_EVERY = 300.0  # seconds between watch samples when only the watch's length is given

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
    if kind == "network":
        return _network_scanner(opts)
    if kind == "host":
        from scanners.local_host import LocalHostScanner
        return LocalHostScanner(**_watch(opts.get("watch"), opts.get("every")))
    if kind == "ssh":
        return _ssh_scanner(opts)
    from scanners.files import FileImportScanner
    if opts.get("path") is None:
        raise EstateError("choose a file to import (nmap XML from -oX, or a collector bundle)")
    return FileImportScanner(opts["path"])


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
    watch = _watch(opts.get("watch"), opts.get("every"))
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


def _watch(watch, every) -> dict:
    """Return {"watch", "every"} in seconds, checked as the CLI's --watch/--every are; raises EstateError."""
    if watch is None or watch == 0:
        if every:
            raise EstateError("a sampling interval needs a watch duration")
        return {"watch": None, "every": None}
    watch = _number(watch, "watch duration", float)
    every = _number(every, "sampling interval", float) if every else min(watch, DEFAULT_EVERY)
    if watch <= 0 or every <= 0:
        raise EstateError("the watch duration and sampling interval must be positive")
    if every > watch:
        raise EstateError("the sampling interval must not be longer than the watch")
    return {"watch": watch, "every": every}


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
