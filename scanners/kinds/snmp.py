"""`estatemap scan snmp` and the GUI's SNMP tab: SNMP agents asked for their inventory and sockets."""

from __future__ import annotations

from discovery.records.model import EstateError
from discovery.scanning.scan_kinds import (Option, ScannerKind, SecretNeeded, number, password_memory_options,
                                           words)

DOC = """Ask SNMP agents (switches, printers, UPSes, servers with an SNMP service) what they know.

Reads the system group (name, description, object ID, contact, location, uptime), interfaces and
their addresses and MACs, installed software and running processes (HOST-RESOURCES-MIB), TCP/UDP
listeners and established connections (TCP-MIB, UDP-MIB), which become services and dependencies
like those `scan host` sees, and the layer-2 map (LLDP and CDP neighbours, bridge forwarding
tables). SNMP v1/v2c take a community, v3 a user and a passphrase (one for authentication and
privacy, or with --separate-priv-passphrase one each): asked for with --ask-community or read from
standard input with --community-stdin (several, one a line: each agent is asked with them in
order), used, and never stored; the scan records which credential answered ("v2c community #2 of
3"), never its value. With --remember-password the one that answered is kept in the OS keyring for
that agent (never a file) and used next time none is given; --forget-password removes them and
scans nothing. Targets are addresses, CIDR blocks, ranges or hostnames; only those are asked, at
most --max-rate requests a second; an address that does not answer is a warning, and the scan
fails only when none answers.

Example: estatemap scan snmp 10.20.0.0/24 --community-stdin < community.txt
"""

CLI = frozenset({"cli"})
VERSIONS = (("2c", "v2c (community)"), ("1", "v1 (community)"), ("3", "v3 (user and passphrase)"))
AUTH = tuple((p, p) for p in ("SHA-256", "SHA-512", "SHA-384", "SHA-224", "SHA", "MD5"))
PRIV = tuple((p, p) for p in ("AES", "AES-256", "AES-192", "DES", "none"))

OPTIONS = (
    Option("targets", kind="words", metavar="TARGET", required=True, label="Targets:",
           help="addresses, CIDR blocks, ranges or hostnames",
           placeholder="one per line or space-separated: 10.20.0.0/24  printer01"),
    Option("snmp_version", kind="choice", flag="--snmp-version", default="2c", choices=VERSIONS, label="Version:",
           help="SNMP version: 2c (default), 1 or 3"),
    Option("user", flag="--user", metavar="U", label="v3 user:", help="the SNMP v3 user (with --snmp-version 3)",
           placeholder="with version 3"),
    Option("auth_protocol", kind="choice", flag="--auth-protocol", default="SHA-256", choices=AUTH,
           label="v3 authentication:", help="v3 authentication protocol (default: SHA-256)"),
    Option("priv_protocol", kind="choice", flag="--priv-protocol", default="AES", choices=PRIV,
           label="v3 privacy:", help="v3 privacy (encryption) protocol, or none (default: AES)"),
    Option("port", kind="int", flag="--port", metavar="N", default=161, label="Port:", minimum=1, maximum=65535,
           help="UDP port of the agents (default: 161)"),
    Option("concurrency", kind="int", flag="--concurrency", metavar="N", default=8, label="Concurrency:",
           minimum=1, maximum=200, help="at most N agents at once (default: 8)"),
    Option("timeout", kind="float", flag="--timeout", metavar="SECONDS", default=3.0, label="Timeout per request:",
           minimum=1, maximum=60, suffix=" s", help="seconds to wait for each answer (default: 3)"),
    Option("retries", kind="int", flag="--retries", metavar="N", default=1, label="Retries:", minimum=0, maximum=5,
           help="times a request is sent again when no answer comes (default: 1, at most 5)"),
    Option("max_rate", kind="float", flag="--max-rate", metavar="N", default=50.0, label="Requests per second:",
           minimum=1, maximum=10_000, help="at most N requests a second over all agents (default: 50, at least 1)"),
    Option("excludes", kind="words", flag="--exclude", metavar="TARGET", label="Exclude:",
           help="never ask these: addresses, CIDR blocks, ranges or hostnames",
           placeholder="never asked: addresses, blocks, ranges, names"),
    Option("ask_password", kind="bool", flag="--ask-community", group="secret", faces=CLI,
           help="ask for the community (or the v3 passphrase) on the terminal"),
    Option("password_stdin", kind="bool", flag="--community-stdin", group="secret", faces=CLI,
           help="read communities (or v3 passphrases) from standard input, one a line, tried in that order"),
    Option("password", kind="secret", label="Community or v3 passphrase:", faces=frozenset({"gui"}),
           help="the community (v1/v2c) or the v3 passphrase",
           placeholder="used for this scan, never stored (empty: the one remembered for each agent)"),
    Option("separate_priv", kind="bool", flag="--separate-priv-passphrase", faces=CLI,
           help="v3: the privacy passphrase is not the authentication one: asked for after it (--ask-community), "
                "or the line after each authentication passphrase on standard input (--community-stdin)"),
    Option("priv_password", kind="secret", label="v3 privacy passphrase:", faces=frozenset({"gui"}),
           help="the v3 privacy passphrase, where it is not the authentication one",
           placeholder="empty: the same as the authentication passphrase"),
    *password_memory_options(),
)


def build(opts: dict):
    from scanners.snmp_agent import Credential, SnmpScanner

    targets = words(opts["targets"])
    if not targets:
        raise EstateError("name at least one target: an address, CIDR block, range or hostname")
    from discovery.scanning.secrets import Keychain

    version = opts["snmp_version"] or "2c"
    remember = bool(opts["remember_password"])
    keychain = Keychain(required=remember)
    if remember:
        keychain.check()  # no usable keyring: say so before anything is sent
        if not opts["password"]:
            raise EstateError("remembering a community needs the community: type it (on the command line: "
                              "--ask-community or --community-stdin)")
    shape = dict(version=version, user=opts["user"] or None, auth_protocol=opts["auth_protocol"] or "SHA-256",
                 priv_protocol=None if opts["priv_protocol"] == "none" else (opts["priv_protocol"] or "AES"))
    recall = None
    if opts["password"] is None:  # none given: each agent's remembered one, if the keyring has it
        if keychain.backend is None:
            raise EstateError("SNMP needs a community (v1/v2c) or a v3 passphrase: --ask-community or "
                              "--community-stdin")
        Credential(**shape, secret="remembered")  # the version, user and protocols are checked all the same
        recall = shape
    secrets = [line for line in (opts["password"] or "").split("\n") if line]
    pairs = _with_privacy(secrets, opts, version)
    credentials = [Credential(**shape, secret=secret, priv_secret=priv,
                              label=f"#{n} of {len(pairs)}" if len(pairs) > 1 else "")
                   for n, (secret, priv) in enumerate(pairs, 1)]
    if opts["password"] is not None and not credentials:
        Credential(**shape, secret="")  # says what is missing
    return SnmpScanner(targets, credentials, keychain=keychain, remember_password=remember, recall=recall,
                       port=number(opts["port"], "port", int),
                       excludes=words(opts["excludes"]), concurrency=number(opts["concurrency"], "concurrency", int),
                       timeout=number(opts["timeout"], "timeout", float),
                       retries=number(opts["retries"], "retries", int),
                       max_rate=number(opts["max_rate"], "max-rate", float))


def _with_privacy(secrets: list[str], opts: dict, version: str) -> list[tuple[str, str | None]]:
    """(authentication passphrase, privacy passphrase or None for the same one) of each credential given."""
    separate = bool(opts.get("separate_priv")) or bool(opts.get("priv_password"))
    if version != "3" or not separate or not secrets:
        return [(secret, None) for secret in secrets]
    if opts.get("priv_password"):  # typed in the GUI, or asked for on the terminal
        return [(secret, opts["priv_password"]) for secret in secrets]
    if opts.get("password_stdin"):
        if len(secrets) % 2:
            raise EstateError("--separate-priv-passphrase reads pairs of lines from standard input: each "
                              "authentication passphrase, then its privacy passphrase")
        return list(zip(secrets[::2], secrets[1::2]))
    raise SecretNeeded("SNMP v3 needs the privacy passphrase", option="priv_password",
                       prompt="SNMP v3 privacy passphrase: ",
                       unattended="--separate-priv-passphrase needs the privacy passphrase: give it on standard input "
                                  "after the authentication one (--community-stdin)")


def accounts(opts: dict) -> list[str]:
    """The keyring accounts of the agents these options name (--forget-password removes them)."""
    from discovery.scanning.secrets import snmp_account
    from scanners.snmp_agent import SnmpScanner, Credential

    scanner = SnmpScanner(words(opts["targets"]), [Credential(version=opts["snmp_version"] or "2c", secret="x" * 8,
                                                              user=opts["user"] or "x")],
                          port=number(opts["port"], "port", int), excludes=words(opts["excludes"]))
    from scanners.snmp_agent import PRIV_ACCOUNT

    found = [snmp_account(opts["snmp_version"] or "2c", opts["user"], a, scanner.port) for a in scanner.addresses]
    return found + [a + PRIV_ACCOUNT for a in found] if opts["snmp_version"] == "3" else found


KIND = ScannerKind(name="snmp", label="SNMP", doc=DOC, options=OPTIONS, build=build, accounts=accounts,
                   password_prompt="SNMP community (or v3 passphrase): ", secret_lines=True, unit="agent",
                   noun=("agent", "agents"))
