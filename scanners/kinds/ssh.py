"""`estatemap scan ssh` and the GUI's SSH hosts tab: Linux hosts inventoried over SSH, installing nothing."""

from __future__ import annotations

import socket

from discovery.records.model import EstateError
from discovery.scanning.sampling import watch_settings
from discovery.scanning.scan_kinds import (Option, ScannerKind, SecretNeeded, absolute_path, number,
                                           password_memory_options, watch_options, words)

DEFAULT_PORT = 22
DEFAULT_CONCURRENCY = 10
DEFAULT_TIMEOUT = 60.0  # seconds per host: connecting, logging in and the whole inventory (not the watch)

DOC = """Inventory Linux hosts over SSH, installing nothing on them: hardware, OS, installed software,
processes, listening services, connections and databases, from each host's standard tools.

HOST is an address, hostname or ~/.ssh/config alias, optionally user@host, host:port or
user@[IPv6]:port; --hosts-file FILE adds one per line (# starts a comment). ~/.ssh/config (or
--ssh-config FILE) is honoured: Host aliases, HostName, User, Port, IdentityFile and ProxyJump
(one or more jump hosts, each host key checked like any other); a host's own user@ and :port
come first, then the config's, then --user and --port. One SSH connection per host, at most
--concurrency hosts at once, each within --timeout seconds. Logs in with --key and/or ssh-agent
(without --key: your ~/.ssh keys and the agent). The passphrase of an encrypted key, or a
password when no key is accepted, is asked on the terminal, kept in memory only and never
stored. Host keys are checked against ~/.ssh/known_hosts (or --known-hosts FILE): an unknown key
fails that host unless --accept-new-host-keys, which trusts it and adds it to that file; a
changed key always fails. Log in as root, or use --sudo, to see which process owns every socket:
with --sudo, the few commands that need root (ss -tunapH and the DMI files; the README gives the
exact sudoers rule) run through sudo -n, or with your sudo password where sudo wants one: asked
once per run (or remembered in the OS keyring), sent only to sudo's prompt, never on a command
line. A host where sudo is refused is collected as the login sees it, with one warning saying
what was lost. With --watch, each host's TCP connections are sampled every --every over the same
connection after its inventory. A host that fails is one warning and the others carry on; the
exit status is 1 if any host failed (the others are still stored). Ctrl-C stops and keeps every
host finished. --exclude TARGET... (addresses, blocks, ranges, hostnames) names hosts never to
contact, even when listed. --remember-password keeps a password that logged in in the OS keyring
(Secret Service, Keychain, Credential Locker; never a file), used next time without asking;
--forget-password removes the named hosts' remembered passwords and scans nothing.

Example: estatemap scan ssh db01 root@10.20.0.7 svc@[fe80::7]:2222 --key ~/.ssh/estate_ed25519 --sudo
"""

SECRET = "used for this scan, never stored"
OPTIONS = (
    Option("hosts", kind="words", metavar="HOST", required_unless="hosts_file", label="Hosts:",
           help="[user@]host[:port]: an address, hostname or ssh config alias ([IPv6]:port)",
           placeholder="one per line: db01  root@10.20.0.7  svc@db02:2222  # comments allowed"),
    Option("user", flag="--user", metavar="U", label="User:",
           help="log in as U (default: your login name; user@HOST overrides it)",
           placeholder="your login name (user@host overrides it)"),
    Option("key", kind="path", flag="--key", metavar="PATH", label="Key file:",
           help="private key file (default: your ~/.ssh keys); ssh-agent is used too", start_folder="~/.ssh",
           placeholder="your ~/.ssh keys and ssh-agent"),
    Option("port", kind="int", flag="--port", metavar="N", default=DEFAULT_PORT, label="Port:", minimum=1,
           maximum=65535, help=f"SSH port (default: {DEFAULT_PORT})"),
    Option("hosts_file", kind="path", flag="--hosts-file", metavar="FILE", label="Hosts file:",
           help="more hosts, one [user@]host[:port] per line (# starts a comment)",
           placeholder="more hosts, one [user@]host[:port] per line (# starts a comment)"),
    Option("ssh_config", kind="path", flag="--ssh-config", metavar="FILE", label="SSH config:",
           help="OpenSSH client config to read: Host aliases, HostName, User, Port, IdentityFile, ProxyJump "
                "(default: ~/.ssh/config)", start_folder="~/.ssh",
           placeholder="~/.ssh/config (aliases, users, ports, keys, jump hosts)"),
    Option("sudo", kind="bool", flag="--sudo",
           help="run the commands that need root through sudo (sudo -n, or your sudo password where sudo asks)"),
    Option("known_hosts", kind="path", flag="--known-hosts", metavar="FILE", label="Known hosts:",
           help="check host keys against FILE (default: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts)",
           placeholder="~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts"),
    Option("accept_new_host_keys", kind="bool", flag="--accept-new-host-keys", widget="accept_new",
           help="trust hosts not seen before and add their keys to the known_hosts file; a changed key still fails"),
    Option("concurrency", kind="int", flag="--concurrency", metavar="N", default=DEFAULT_CONCURRENCY,
           label="Concurrency:", minimum=1, maximum=500,
           help=f"at most N hosts at once (default: {DEFAULT_CONCURRENCY})"),
    Option("timeout", kind="float", flag="--timeout", metavar="SECONDS", default=DEFAULT_TIMEOUT,
           label="Timeout per host:", minimum=1, maximum=86_400, suffix=" s",
           help=f"per host, to connect, log in and collect (default: {DEFAULT_TIMEOUT:g})"),
    Option("excludes", kind="words", flag="--exclude", metavar="TARGET", label="Exclude:",
           help="hosts never to contact: addresses, CIDR blocks, ranges or hostnames",
           placeholder="hosts never to log in to: addresses, blocks, ranges, names"),
    Option("password", kind="secret", label="Password:", faces=frozenset({"gui"}),
           help="only if no key is accepted", placeholder=f"only if no key is accepted; {SECRET}"),
    Option("passphrase", kind="secret", label="Key passphrase:", faces=frozenset({"gui"}),
           help="for an encrypted key", placeholder=f"for an encrypted key; {SECRET}"),
    Option("sudo_password", kind="secret", label="Sudo password:", faces=frozenset({"gui"}),
           help="with sudo, where sudo asks for one", placeholder=f"with sudo, where sudo asks for one; {SECRET}"),
    *password_memory_options(),
    *watch_options(),
    Option("password_prompt", kind="prompt", faces=frozenset()),
)


def build(opts: dict):
    from discovery.scanning.secrets import Keychain
    from scanners.ssh_host import KeyPassphraseNeeded, SshHostScanner

    hosts = words(opts["hosts"])
    if not hosts and opts["hosts_file"] is None:
        raise EstateError("name at least one host ([user@]address or hostname)")
    watch = watch_settings(opts["watch"], opts["every"])
    remember = bool(opts["remember_password"])
    keychain = Keychain(required=remember)
    if remember:
        keychain.check()  # no usable keyring: say so before anything connects
    try:
        return SshHostScanner(
            hosts, user=opts["user"], key=opts["key"], keychain=keychain, remember_password=remember,
            password_prompt=opts["password_prompt"], port=number(opts["port"], "port", int),
            known_hosts=opts["known_hosts"], accept_new=bool(opts["accept_new_host_keys"]),
            password=opts["password"], passphrase=opts["passphrase"],
            concurrency=number(opts["concurrency"], "concurrency", int),
            timeout=number(opts["timeout"], "timeout", float), hosts_file=opts["hosts_file"],
            excludes=words(opts["excludes"]), ssh_config=opts["ssh_config"], sudo=bool(opts["sudo"]),
            sudo_password=opts["sudo_password"], **watch)
    except KeyPassphraseNeeded as needed:
        raise SecretNeeded(f"the key {needed.path} is encrypted: enter its passphrase", option="passphrase",
                           prompt=f"Passphrase for {needed.path}: ",
                           unattended=f"the key {needed.path} is encrypted and there is no terminal to ask for its "
                                      "passphrase (load it into ssh-agent, or run estatemap in a terminal)") from None


def stored(opts: dict) -> dict:
    return {"user": opts["user"], "key": absolute_path(opts["key"]), "port": opts["port"],
            "known_hosts": absolute_path(opts["known_hosts"]),
            "accept_new_host_keys": bool(opts["accept_new_host_keys"]), "concurrency": opts["concurrency"],
            "timeout": opts["timeout"], **watch_settings(opts["watch"], opts["every"]),
            "exclude": words(opts["excludes"]), "ssh_config": absolute_path(opts["ssh_config"]),
            "sudo": bool(opts["sudo"])}


def remaining(plan) -> dict | None:
    """The hosts the scan did not store, with its options; None when every host is collected."""
    hosts = [t for t in plan.targets if not target_done(t, plan.finished)]
    if not hosts:
        return None
    keys = ("user", "key", "port", "known_hosts", "accept_new_host_keys", "concurrency", "timeout", "watch", "every",
            "ssh_config", "sudo")
    return {"hosts": hosts, **{k: plan.options.get(k) for k in keys}, "excludes": plan.options.get("exclude")}


def resume_note(plan, options: dict | None) -> str:
    left = len(options["hosts"]) if options else 0
    return f"{len(plan.targets) - left} of {len(plan.targets)} hosts are already collected."


def target_done(target: str, finished: set[str]) -> bool:
    """Whether an SSH target ([user@]host) names a host a scan already stored (by name, or its address)."""
    from scanners.ssh_host import parse_ssh_target

    host = parse_ssh_target(target).host.lower()
    if host in finished:
        return True
    try:
        return any(info[4][0] in finished for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP))
    except OSError:
        return False


def accounts(opts: dict) -> list[str]:
    from scanners.ssh_host import password_accounts
    return password_accounts(words(opts["hosts"]), opts["hosts_file"], user=opts["user"], port=opts["port"],
                             ssh_config=opts["ssh_config"], sudo=bool(opts["sudo"]))


KIND = ScannerKind(name="ssh", label="SSH hosts", doc=DOC, options=OPTIONS, build=build, stored=stored,
                   resume="resume", remaining=remaining, resume_note=resume_note, accounts=accounts, unit="host")
