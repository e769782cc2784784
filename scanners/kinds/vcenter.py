"""`estatemap scan vcenter` and the GUI's VMware tab: a vCenter's (or ESXi host's) own inventory, read only."""

from __future__ import annotations

from discovery.records.model import EstateError
from discovery.scanning.scan_kinds import (Option, ScannerKind, SecretNeeded, absolute_path, number,
                                           password_memory_options, password_options, words)

DOC = """Ask VMware vCenter (or one ESXi host) for every VM and ESXi host it runs, powered off or not.

Each VM becomes a host (source vcenter) with its BIOS UUID, vCPUs, memory, disks, NICs with MACs,
the addresses VMware Tools reports and its guest OS; it merges with what other scans saw of the
same machine (the BIOS UUID and the DMI serial VMware derives from it are the ones the guest
itself reports). ESXi hosts are hosts too (vendor, model, CPU, memory, version and build). Each
VM's ESXi host, cluster, datastores, networks, folder, power state and tools status are kept as
its evidence. Read only: the scanner sends only the PropertyCollector's retrieval calls, and any
other call is refused before it leaves; a user with vCenter's Read-only role suffices. The
certificate is verified against the system's trust store (or --ca-file); --insecure accepts it
unverified, with a warning kept on the scan; plain http only for an address written http://.
The password is asked for (or read from standard input with --password-stdin), used, and never
stored; with --remember-password one that logged in is kept in the OS keyring (never a file) and
used next time none is given; --forget-password removes it and scans nothing.

Example: estatemap scan vcenter vcenter.example.org --user audit@vsphere.local --password-stdin < pw.txt
"""

OPTIONS = (
    Option("server", metavar="HOST", required=True, label="vCenter or ESXi host:",
           help="HOST, HOST:PORT, https://HOST[:PORT] (or http:// for a simulator)",
           placeholder="vcenter.example.org"),
    Option("port", kind="int", flag="--port", metavar="N", default=443, label="Port:", minimum=1, maximum=65535,
           help="the HTTPS port when the address names none (default: 443)"),
    Option("user", flag="--user", metavar="U", label="User:", help="a vCenter user with the Read-only role",
           placeholder="audit@vsphere.local"),
    Option("ca_file", kind="path", flag="--ca-file", metavar="FILE", label="CA certificate:",
           file_filter="Certificates (*.pem *.crt *.cer);;All files (*)",
           help="trust the certificates in FILE (PEM) instead of the system's store"),
    Option("insecure", kind="bool", flag="--insecure",
           help="accept the server's certificate without verifying it (a warning is kept on the scan)"),
    *password_options(ask=("--ask-password", "ask for the password on the terminal (the default on a terminal)"),
                      secret_help="the user's password",
                      placeholder="used for this scan, never stored (empty: the one remembered in the OS keyring)"),
    *password_memory_options(),
)


def _server(opts: dict) -> str:
    servers = words(opts["server"])
    if len(servers) != 1:
        raise EstateError("name one vCenter or ESXi host (scan each with a scan of its own)")
    return servers[0]


def _account(opts: dict) -> str:
    from discovery.scanning.secrets import database_account
    from scanners.vcenter import parse_target

    target = parse_target(_server(opts), number(opts["port"], "port", int))
    return database_account("vcenter", opts["user"] or "", target.host, target.port)


def build(opts: dict):
    from discovery.scanning.secrets import Keychain
    from scanners.vcenter import VCenterScanner

    if opts["insecure"] and opts["ca_file"]:
        raise EstateError("--insecure and --ca-file exclude each other: verify with the CA, or do not verify")
    if not opts["user"]:
        raise EstateError("scan vcenter needs --user (a vCenter user with the Read-only role)")
    remember = bool(opts["remember_password"])
    keychain = Keychain(required=remember)
    password = opts["password"]
    if remember:
        keychain.check()  # no usable keyring: say so before asking for the password
    if password is None and not remember:
        password = keychain.recall(_account(opts))
    if password is None:
        raise SecretNeeded("scan vcenter needs the user's password", option="password",
                           prompt=f"vCenter password for {opts['user']}: ",
                           unattended="scan vcenter needs the password: --password-stdin (or --ask-password on a "
                                      "terminal)")
    scanner = VCenterScanner(_server(opts), port=number(opts["port"], "port", int),
                             user=opts["user"], password=password, ca_file=absolute_path(opts["ca_file"]),
                             insecure=bool(opts["insecure"]))
    if remember:
        scanner.remember = (keychain, _account(opts))
    return scanner


STORED = ("server", "port", "user", "ca_file", "insecure")


def stored(opts: dict) -> dict:
    """What `scan resume` runs again with: the server, user and TLS choice, never the password."""
    return {name: opts[name] for name in STORED} | {"ca_file": absolute_path(opts["ca_file"])}


def remaining(plan) -> dict:
    """Run it again (a new scan): reading the inventory is one pass, nothing to skip."""
    return {name: plan.options.get(name) for name in STORED}


def accounts(opts: dict) -> list[str]:
    """The keyring account of the vCenter these options name (--forget-password removes it)."""
    return [_account(opts)]


KIND = ScannerKind(name="vcenter", label="VMware", doc=DOC, options=OPTIONS, build=build, accounts=accounts,
                   stored=stored, resume="rerun", remaining=remaining,
                   password_prompt="vCenter password: ", unit="object", noun=("server", "servers"))
