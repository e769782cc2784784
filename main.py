"""Estate Mapper's command line: parses arguments and calls discovery.service with the chosen scanner or exporter.

`estatemap …` and `python main.py …` are the same program. Exit status: 0 success,
1 a failure the user can fix (one message, no traceback), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import inspect
import logging
import re
import sys
import time
from pathlib import Path

from discovery import __version__
from discovery.dependencies import FILTERS as NOISE_FILTERS
from discovery.model import SEVERITIES, EstateError, counted
from discovery.quiet import quiet_library_warnings
from exports.registry import FORMATS as EXPORT_FORMATS, load_exporter

log = logging.getLogger("estatemap")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


# --- commands ----------------------------------------------------------------------------------

def cmd_scan_host(args: argparse.Namespace) -> int:
    """Inventory this machine: hardware, OS, installed software, processes, listening services,
    established connections and databases.

    Run it as root (or Administrator) to see every process and socket; without, it records what
    it can and says what it could not. With --watch, connections are sampled for that long (every
    --every) and each one keeps when it was first and last seen and how many samples saw it;
    Ctrl-C during a watch keeps what was sampled so far.

    Example: estatemap scan host --watch 1h --every 5m
    """
    from discovery.service import run_scan
    from scanners.local_host import LocalHostScanner

    watch = watch_options(args)
    scanner = LocalHostScanner(**watch)
    with open_store(args) as store:
        started = time.monotonic()
        with Progress(args, "scan host") as progress:
            result = run_scan(store, scanner, progress=progress.update, options=watch)  # seconds, as the GUI stores
        return report_scan(args, store, result, time.monotonic() - started)


def cmd_scan_network(args: argparse.Namespace) -> int:
    """Discover hosts and services on a network with nmap: addresses, MACs, OS guesses, open ports,
    products and versions, databases and healthcare services (DICOM, HL7).

    TARGET is an address, CIDR block, range (10.0.0.1-40 or 10.0.0.1-10.0.0.40) or hostname,
    IPv4 or IPv6. Profiles: quick (top 100 ports), standard (top 1,000 ports plus healthcare and
    database ports, versions, OS detection as root), deep (all ports, versions, OS, safe scripts).
    Timing is gentle: nmap's normal template capped at 300 packets per second unless --max-rate
    says otherwise. More than 1,024 addresses need --yes. Without root, a TCP connect scan
    without OS detection is used. Ctrl-C stops nmap and keeps every host finished.

    Example: estatemap scan network 10.20.0.0/24 --exclude 10.20.0.1 --profile quick
    """
    from discovery.service import run_scan
    from discovery.targets import CONFIRM_ABOVE
    from scanners.nmap_network import NmapNetworkScanner

    scanner = NmapNetworkScanner(args.targets, profile=args.profile, ports=args.ports, excludes=args.exclude or [],
                                 max_rate=args.max_rate)
    if scanner.address_count > CONFIRM_ABOVE and not args.yes:
        raise EstateError(f"the targets cover {scanner.address_count:,} addresses (more than a /22); "
                          "check them, then add --yes to scan them")
    log.info("running: %s", scanner.arguments)
    options = {"profile": args.profile, "ports": args.ports, "exclude": list(args.exclude or []),
               "max_rate": args.max_rate}
    with open_store(args) as store:
        started = time.monotonic()
        with Progress(args, "scan network", unit="host") as progress:
            result = run_scan(store, scanner, progress=progress.update, options=options,
                              resume_id=getattr(args, "resume", None))
        return report_scan(args, store, result, time.monotonic() - started)


def cmd_scan_ssh(args: argparse.Namespace) -> int:
    """Inventory Linux hosts over SSH, installing nothing on them: hardware, OS, installed software,
    processes, listening services, connections and databases, from each host's standard tools.

    HOST is an address or hostname, optionally user@host; --hosts-file FILE adds one per line
    (# starts a comment). One SSH connection per host, at most --concurrency hosts at once, each
    within --timeout seconds. Logs in with --key and/or ssh-agent (without --key: your ~/.ssh keys
    and the agent). The passphrase of an encrypted key, or a password when no key is accepted, is
    asked on the terminal, kept in memory only and never stored. Host keys are checked against
    ~/.ssh/known_hosts (or --known-hosts FILE): an unknown key fails that host unless
    --accept-new-host-keys, which trusts it and adds it to that file; a changed key always fails.
    Log in as root to see which process owns every socket. With --watch, each host's TCP
    connections are sampled every --every over the same connection after its inventory.
    A host that fails is one warning and the others carry on; the exit status is 1 if any host
    failed (the others are still stored). Ctrl-C stops and keeps every host finished.
    --exclude TARGET... (addresses, blocks, ranges, hostnames) names hosts never to contact, even
    when listed. --remember-password keeps a password that logged in in the OS keyring (Secret
    Service, Keychain, Credential Locker; never a file), used next time without asking;
    --forget-password removes the named hosts' remembered passwords and scans nothing.

    Example: estatemap scan ssh db01 root@10.20.0.7 --key ~/.ssh/estate_ed25519 --concurrency 20
    """
    import getpass

    from discovery.secrets import Keychain
    from discovery.service import run_scan
    from scanners.factory import absolute_path
    from scanners.ssh_host import KeyPassphraseNeeded, SshHostScanner, password_accounts

    if not args.hosts and not args.hosts_file:
        print("estatemap scan ssh: error: name at least one HOST or give --hosts-file FILE", file=sys.stderr)
        return EXIT_USAGE
    remember = getattr(args, "remember_password", False)
    if getattr(args, "forget_password", False):
        return forget_passwords(args, password_accounts(args.hosts, args.hosts_file, user=args.user, port=args.port))
    keychain = Keychain(required=remember)
    if remember:
        keychain.check()  # no usable keyring: say so before anything connects
    interactive = sys.stdin.isatty()
    progress = None

    def ask(message: str) -> str:  # the scanner asks from this thread; the progress bar steps aside
        bar = progress.bar if progress is not None else None
        if bar is not None:
            bar.clear()
        try:
            return getpass.getpass(message)
        finally:
            if bar is not None:
                bar.refresh()

    watch = watch_options(args)
    options = dict(user=args.user, key=args.key, port=args.port, known_hosts=args.known_hosts,
                   accept_new=args.accept_new_host_keys, concurrency=args.concurrency, timeout=args.timeout,
                   hosts_file=args.hosts_file, password_prompt=ask if interactive else None,
                   excludes=getattr(args, "exclude", None) or (), keychain=keychain, remember_password=remember,
                   **watch)
    try:
        scanner = SshHostScanner(args.hosts, **options)
    except KeyPassphraseNeeded as needed:
        if not interactive:
            raise EstateError(f"the key {needed.path} is encrypted and there is no terminal to ask for its "
                              "passphrase (load it into ssh-agent, or run estatemap in a terminal)") from None
        scanner = SshHostScanner(args.hosts, passphrase=getpass.getpass(f"Passphrase for {needed.path}: "), **options)
    log.info("running: %s", scanner.arguments)
    options = {"user": args.user, "key": absolute_path(args.key), "port": args.port,
               "known_hosts": absolute_path(args.known_hosts), "accept_new_host_keys": args.accept_new_host_keys,
               "concurrency": args.concurrency, "timeout": args.timeout, **watch,
               "exclude": getattr(args, "exclude", None) or []}
    with open_store(args) as store:
        started = time.monotonic()
        with Progress(args, "scan ssh", unit="host") as progress:
            result = run_scan(store, scanner, progress=progress.update, options=options,
                              resume_id=getattr(args, "resume", None))
        status = report_scan(args, store, result, time.monotonic() - started)
    for account in scanner.remembered:
        say(args, f"Remembered the password for {account} in the OS keyring.")
    if scanner.failed and result.status != "failed":  # a failed scan has said so already
        print(f"estatemap: {len(scanner.failed)} of {len(scanner.hosts)} hosts could not be collected: "
              f"{', '.join(scanner.failed)} (see the warnings above)", file=sys.stderr)
    return max(status, EXIT_FAILURE if scanner.failed else EXIT_OK)


def cmd_import(args: argparse.Namespace) -> int:
    """Add files collected elsewhere to the store: nmap XML (-oX output, from any nmap version,
    including files cut short by an interrupted scan) and collector bundles (estatemap collect).
    Each file becomes a scan of its own (kind import); its hosts merge with those already known. Every
    file is checked whole before anything from it is stored: a refused file is one line saying why,
    the other files are still imported, and the exit status is 1.

    An Excel workbook (.xlsx) written by `estatemap export --format xlsx` is read back instead: the
    owner, criticality, patient data and notes architects filled in on its Hosts sheet, and the waves on
    its Move groups sheet, matched by Host ID and Group ID. Rows it cannot use are listed and skipped;
    the exit status is 1 when rows were skipped and none could be used.

    Example: estatemap import site-b-scan.xml site-c-scan.xml app01.estate
    """
    from discovery.service import run_scan
    from scanners.workbook_annotations import is_workbook_path
    from scanners.factory import absolute_path
    from scanners.files import FileImportScanner

    workbooks = [path for path in args.files if is_workbook_path(path)]
    if workbooks:
        return import_workbooks(args, workbooks, [path for path in args.files if not is_workbook_path(path)])
    scanners = []
    for path in args.files:
        try:
            scanners.append(FileImportScanner(path))  # reads the whole file: a bad one is refused before it is stored
        except EstateError as error:
            print(f"estatemap: error: {error}", file=sys.stderr)
    status = EXIT_OK if len(scanners) == len(args.files) else EXIT_FAILURE
    if not scanners:
        return status
    with open_store(args) as store:
        for scanner in scanners:
            started = time.monotonic()
            with Progress(args, f"import {scanner.path.name}", unit="B") as progress:
                result = run_scan(store, scanner, progress=progress.update,
                                  options={"files": [absolute_path(scanner.path)]})
            status = max(status, report_scan(args, store, result, time.monotonic() - started))
    return status


def import_workbooks(args: argparse.Namespace, workbooks: list[str], others: list[str]) -> int:
    """Read architects' annotations back from exported workbooks; every file is checked before any is written."""
    from discovery.service import apply_annotations
    from scanners.workbook_annotations import describe_problems, read_workbook

    if others:
        raise EstateError("import workbooks (.xlsx) on their own, not with scan files: "
                          f"{', '.join(others[:3])}")
    status = EXIT_OK
    with open_store(args, create=False) as store:
        plans = [read_workbook(store, path) for path in workbooks]
        for plan in plans:
            changed = apply_annotations(store, plan)
            say(args, f"Imported {plan.path}: {plan.matched} rows matched, {changed} hosts and groups changed "
                      f"({len(plan.annotations)} host annotations, {len(plan.group_waves)} wave overrides).")
            if plan.problems:
                print(f"estatemap: warning: {plan.path}: {describe_problems(plan)}", file=sys.stderr)
                if not plan.matched:
                    status = EXIT_FAILURE
    return status


def cmd_collect(args: argparse.Namespace) -> int:
    """Inventory this machine into a bundle file instead of a store, for a host the workstation cannot reach.

    The bundle holds what `scan host` records (with --watch, sampled connections too), the scan's
    warnings and timing, and a SHA-256 digest that `estatemap import` checks. Secrets in command
    lines are redacted before they are written; the file is created readable by its owner only, and
    an existing FILE is replaced only with --force. No store is read or written. On a machine without
    Estate Mapper, use the stand-alone collector instead: python3 estatemap-collector.pyz --out FILE.

    Example: estatemap collect --out app01.estate --watch 1h --every 5m
    """
    from discovery.atomic_files import check_target
    from scanners.bundle_collector import collect_bundle, write_bundle
    from scanners.local_host import LocalHostScanner

    path = Path(args.out)
    check_target(path, force=args.force)  # before a long watch, not after it
    scanner = LocalHostScanner(**watch_options(args))
    arguments = "collect" + (f" --watch {args.watch} --every {args.every or '5m'}" if args.watch else "")
    with Progress(args, "collect") as progress:
        doc = collect_bundle(scanner, name="estatemap collect", arguments=arguments, progress=progress.update)
    say(args, write_bundle(doc, path))
    for warning in doc["scan"]["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if doc["scan"]["status"] != "completed":
        print(f"estatemap: collection interrupted; {path} holds what was sampled until then", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_scan_database(args: argparse.Namespace) -> int:
    """Ask database servers directly: version, databases and their sizes, and the clients connected now.

    Each client a server reports becomes a dependency (evidence "reported"), even from hosts
    nobody scanned. PostgreSQL today: URL is postgresql://[USER@]HOST[:PORT][/DBNAME]. The
    password is asked for (or read from standard input with --password-stdin), used, and never
    stored; servers that trust the workstation need none. With --remember-password a password that
    connected is kept in the OS keyring (never a file) and used next time none is given;
    --forget-password removes it and scans nothing. A role that is not superuser sees every
    client only with pg_read_all_stats.

    Example: estatemap scan database postgresql://monitor@db01.example.org/postgres
    """
    from discovery.secrets import Keychain
    from discovery.service import run_scan
    from scanners.db_clients import DatabaseClientScanner, parse_database_url

    if args.forget_password:
        return forget_passwords(args, [parse_database_url(url, user=args.user).account for url in args.urls])
    keychain = Keychain(required=args.remember_password)
    if args.remember_password:
        keychain.check()  # no usable keyring: say so before asking for the password
    password = read_secret("Database password (empty for none): ", from_stdin=args.password_stdin,
                           ask=args.ask_password)
    if args.remember_password and not password:
        raise EstateError("--remember-password needs the password: add --ask-password or --password-stdin")
    scanner = DatabaseClientScanner(args.urls, user=args.user, password=password or None, keychain=keychain,
                                    remember_password=args.remember_password)
    with open_store(args) as store:
        started = time.monotonic()
        with Progress(args, "scan database", unit="server") as progress:
            result = run_scan(store, scanner, progress=progress.update)
        status = report_scan(args, store, result, time.monotonic() - started)
    for account in scanner.remembered:
        say(args, f"Remembered the password for {account} in the OS keyring.")
    return max(status, EXIT_FAILURE if len(result.host_ids) < len(scanner.targets_) else EXIT_OK)


def cmd_scan_resume(args: argparse.Namespace) -> int:
    """Continue a scan that stopped part-way: Ctrl-C, a killed or crashed process, a failure.

    A network scan runs again with its targets, profile, ports, rate and exclusions, skipping every
    address it already stored; an SSH scan collects only the hosts it has not stored (a host whose
    collection failed is tried again). Both write into the same scan, which ends completed when the
    rest is done. A host scan or an import is run again, as a new scan. A scan still running in
    another process is refused; one whose process was killed is marked interrupted as soon as any
    command opens the store (see: estatemap scans).

    Example: estatemap scan resume 12
    """
    from discovery.service import complete_scan, plan_resume
    from scanners.factory import is_address, ssh_target_done

    with open_store(args, create=False) as store:
        plan = plan_resume(store, args.scan_id)
        options = plan.options
        again = argparse.Namespace(**{k: getattr(args, k) for k in ("db", "verbose", "quiet")})
        if plan.kind == "network":
            finished = sorted(name for name in plan.finished if is_address(name))
            again.__dict__.update(targets=plan.targets, profile=options.get("profile", "standard"),
                                  ports=options.get("ports"), exclude=[*options.get("exclude", ()), *finished],
                                  max_rate=options.get("max_rate"), yes=True, resume=plan.scan_id)
            say(args, f"Resuming scan {plan.scan_id}: {len(finished)} address(es) it finished are skipped.")
            command = cmd_scan_network
        elif plan.kind == "ssh":
            remaining = [t for t in plan.targets if not ssh_target_done(t, plan.finished)]
            say(args, f"Resuming scan {plan.scan_id}: {len(plan.targets) - len(remaining)} of {len(plan.targets)} "
                      "hosts are already collected.")
            if not remaining:
                complete_scan(store, plan.scan_id)
                say(args, f"Scan {plan.scan_id} completed.")
                return EXIT_OK
            again.__dict__.update(hosts=remaining, hosts_file=None, resume=plan.scan_id,
                                  **{k: options.get(k) for k in ("user", "key", "known_hosts", "watch", "every",
                                                                 "exclude")},
                                  port=options.get("port", 22), accept_new_host_keys=options.get("accept_new_host_keys", False),
                                  concurrency=options.get("concurrency", 10), timeout=options.get("timeout", 60.0))
            command = cmd_scan_ssh
        elif plan.kind == "host":
            again.__dict__.update(watch=options.get("watch"), every=options.get("every"))
            command = cmd_scan_host
        else:
            again.__dict__.update(files=options.get("files") or plan.targets)
            command = cmd_import
        if plan.mode == "rerun":
            say(args, f"Scan {plan.scan_id} ({plan.kind}) is run again as a new scan.")
    return command(again)


def forget_passwords(args: argparse.Namespace, accounts: list[str]) -> int:
    """Remove the passwords remembered in the OS keyring for these accounts (ssh:root@db01, ...); scan nothing."""
    from discovery.secrets import forget_password, get_backend

    backend = get_backend()
    for account in dict.fromkeys(accounts):
        if forget_password(account, backend=backend):
            say(args, f"Forgot the password remembered for {account}.")
        else:
            say(args, f"No password was remembered for {account}.")
    return EXIT_OK


def read_secret(prompt: str, *, from_stdin: bool, ask: bool) -> str | None:
    """Return a password from standard input's first line, or asked for on the terminal; never echoed or kept."""
    import getpass

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if ask:
        if not sys.stdin.isatty():
            raise EstateError("cannot ask for a password without a terminal; use --password-stdin")
        return getpass.getpass(prompt)
    return None


def cmd_export(args: argparse.Namespace) -> int:
    """Write the inventory to a file: hosts, services, software, databases, connections, findings, groups.

    The file is written beside the target and renamed into place, so a failure never leaves a
    half-written file; an existing file is replaced only with --force.

    Example: estatemap export --format json --out estate.json
    """
    from discovery.dependencies import ResolutionStats
    from discovery.service import export_inventory
    from discovery.atomic_files import check_target

    exporter = load_exporter(args.format)
    noise = ResolutionStats()
    path = Path(args.out)
    check_target(path, force=args.force)
    with open_store(args, create=False) as store:
        inventory = export_inventory(store, exporter, path, scan_id=args.scan, stats=noise,
                                     filters=[f for f in NOISE_FILTERS if f not in args.keep],
                                     hosts_pattern=args.hosts, min_severity=args.min_severity)
    left_out = sum(noise.dropped.values())
    say(args, f"Wrote {path} ({args.format}): {counted(len(inventory['hosts']), 'host')}, "
              f"{counted(len(inventory['services']), 'service')}, "
              f"{counted(len(inventory['software']), 'software package')}, "
              f"{counted(len(inventory['connections']), 'connection')}"
              + (f" ({left_out:,} more left out as noise: "
                 + ", ".join(f"{n} {name}" for name, n in sorted(noise.dropped.items()) if n)
                 + "; --keep NOISE keeps them)" if left_out else "") + ".")
    for warning in getattr(exporter, "warnings", ()):
        print(f"estatemap: warning: {warning}", file=sys.stderr)
    return EXIT_OK


def cmd_gui(args: argparse.Namespace) -> int:
    """Open the desktop application: scans, inventory tables, the interactive dependency graph,
    findings, move groups, annotations and exports, on the store named by --db (default: the
    store used last time). `estatemap` with no command does the same.

    Example: estatemap gui --db site-a.db
    """
    from gui.app import run_gui
    from scanners.factory import make_scanner, resume_request

    return run_gui(store_path=Path(args.db) if args.db else None, scanner_factory=make_scanner,
                   formats=EXPORT_FORMATS, exporter_factory=load_exporter, resume_request=resume_request)


def cmd_scans(args: argparse.Namespace) -> int:
    """List every scan in the store, oldest first: id, kind, status, start and finish, hosts, targets.

    Example: estatemap scans
    """
    with open_store(args, create=False) as store:
        scans = store.list_scans()
    if not scans:
        say(args, "No scans yet. Start with: estatemap scan host")
        return EXIT_OK
    header = ("ID", "KIND", "STATUS", "STARTED", "FINISHED", "HOSTS", "TARGETS")
    rows = [(str(s["id"]), s["kind"], s["status"], s["started_at"] or "", s["finished_at"] or "",
             str(s["host_count"]), " ".join(s["targets"] or [])) for s in scans]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    """Analyse the current inventory and store the results: legacy and insecure-protocol findings,
    the dependency graph (fan-in and fan-out, blast radius, single points of failure, cycles, shared
    infrastructure), move groups and waves with split suggestions, and each host's migration risk with
    its factors. The results replace the previous analysis and appear in every export.

    --as-of DATE judges support dates as on that day, so results can be reproduced.

    Example: estatemap analyze --as-of 2026-12-31
    """
    from discovery.service import analyze

    with open_store(args, create=False) as store:
        with Progress(args, "analyze") as progress:
            summary = analyze(store, as_of=args.as_of, progress=progress.update)
    counts = summary["summary"]
    findings = ", ".join(f"{summary['findings'].get(s, 0)} {s}" for s in SEVERITIES)
    say(args, f"Analysis {summary['id']} as of {summary['as_of']}: {counted(summary['hosts'], 'host')}; "
              f"findings: {findings}.")
    say(args, f"{counted(counts.get('groups', 0), 'move group')} in {counted(counts.get('waves', 0), 'wave')}; "
              f"{len(summary['shared'])} shared infrastructure; "
              f"{counted(len(summary['single_points_of_failure']), 'single point', 'single points')} of failure; "
              f"{counted(len(summary['cycles']), 'cycle')}; {counted(len(summary['splits']), 'split suggestion')}.")
    if summary["top_risk"]:
        say(args, "Highest migration risk: " + ", ".join(f"{host} ({score:.0f})" for score, host in summary["top_risk"]))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    """List what changed between two scans A and B: hosts, services, software versions, databases and
    dependencies that appeared (+), disappeared (-) or changed (~). Each side is what that scan saw.

    Example: estatemap diff 3 7
    """
    from discovery.diff import diff_inventories, format_diff
    from discovery.inventory import build_inventory

    with open_store(args, create=False) as store:
        for scan_id in (args.a, args.b):
            if store.get_scan(scan_id) is None:
                raise EstateError(f"no scan with id {scan_id} (see: estatemap scans)")
        diff = diff_inventories(build_inventory(store, scan_id=args.a), build_inventory(store, scan_id=args.b))
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, **diff}, indent=2))
    else:
        lines = format_diff(diff)
        print("\n".join(lines) if lines else f"No differences between scan {args.a} and scan {args.b}.")
    return EXIT_OK


# --- helpers -----------------------------------------------------------------------------------

def open_store(args: argparse.Namespace, *, create: bool = True):
    """Open the store named by --db (default: estate.db in the user's data directory)."""
    from discovery.store import Store, default_path

    path = Path(args.db) if args.db else default_path()
    if not create and not path.exists():
        raise EstateError(f"no store at {path}; run a scan first (estatemap scan host) or pass --db")
    log.info("store: %s", path)
    return Store(path)


# How a scan's counts are named: (singular, plural) where the plural is not just an s.
COUNT_NOUNS = {"software": ("software package",), "processes": ("process", "processes")}
for _name in ("services", "databases", "connections", "interfaces"):
    COUNT_NOUNS[_name] = (_name[:-1],)


def report_scan(args: argparse.Namespace, store, result, seconds: float) -> int:
    """Print what a scan found and return the exit status it deserves."""
    counts = ", ".join(counted(n, *COUNT_NOUNS.get(name, (name,))) for name, n in result.counts.items() if n)
    hosts = len(result.host_ids)
    say(args, f"Scan {result.scan_id} {result.status} in {seconds:.1f} s: {counted(hosts, 'host')}"
              f"{' (' + ', '.join(result.host_ids) + ')' if result.host_ids else ''}"
              f"{'; ' + counts if counts else ''}. Store: {store.path}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.status == "interrupted":
        print(f"estatemap: scan {result.scan_id} interrupted; the {hosts} host(s) finished before are kept",
              file=sys.stderr)
        return EXIT_FAILURE
    if result.status == "failed":
        print(f"estatemap: error: scan {result.scan_id} failed: {result.error}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def watch_options(args: argparse.Namespace) -> dict:
    """Return the scanner's watch settings in seconds from --watch and --every (both None without --watch)."""
    from discovery.sampling import watch_settings

    if args.every is not None and args.watch is None:
        raise EstateError("--every needs --watch (for example: --watch 1h --every 5m)")
    return watch_settings(args.watch, args.every)


def add_password_memory_options(parser: argparse.ArgumentParser) -> None:
    memory = parser.add_mutually_exclusive_group()
    memory.add_argument("--remember-password", action="store_true",
                        help="keep a password that logged in in the OS keyring (never a file) and use it next time "
                             "without asking")
    memory.add_argument("--forget-password", action="store_true",
                        help="remove the passwords remembered for these hosts from the OS keyring, and scan nothing")


def add_watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--watch", metavar="DURATION",
                        help="keep sampling connections for DURATION (e.g. 1h) to catch jobs and feeds a snapshot misses")
    parser.add_argument("--every", metavar="INTERVAL", help="time between samples with --watch (default: 5m)")


def say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message)


class Progress:
    """A progress bar on stderr for interactive terminals; log lines with -v; nothing with --quiet."""

    def __init__(self, args: argparse.Namespace, title: str, unit: str = "step"):
        self.args, self.title, self.unit, self.bar = args, title, unit, None

    def __enter__(self) -> Progress:
        if not self.args.quiet and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(desc=self.title, total=None, unit=self.unit, leave=False, file=sys.stderr,
                            unit_scale=self.unit == "B")
        return self

    def update(self, done: int, total: int | None, message: str) -> None:
        if self.bar is not None:
            if total is not None and self.bar.total != total:
                self.bar.total = total
            self.bar.n = done
            self.bar.set_postfix_str(message, refresh=True)
        log.info("%s: %s/%s %s", self.title, done, total if total is not None else "?", message)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


# --- the parser --------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse that ends with exit status 2 and a pointer to --help on bad usage."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n(see: {self.prog} --help)\n")


def _help_of(func) -> tuple[str, str]:
    """Return a command's summary (its docstring's first sentence, up to a colon) and its whole docstring."""
    doc = inspect.cleandoc(func.__doc__ or "")
    first = " ".join(doc.split("\n\n", 1)[0].split())
    return re.split(r"(?<=[\w)])[.:](?:\s|$)", first, maxsplit=1)[0], doc


def _iso_date(text: str):
    from datetime import date
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; each command's help is its function's docstring."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS,
                        help="the store to use (default: estate.db in your data directory)")
    loudness = common.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                          help="say more (-vv for debugging detail)")
    loudness.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                          help="print only warnings and errors")

    parser = _Parser(prog="estatemap", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Estate Mapper: discover an IT estate, map its dependencies, export an inventory.",
                     epilog="Examples:\n  estatemap scan host\n  estatemap scan network 10.20.0.0/24 --profile quick\n"
                            "  estatemap import site-b.xml\n  estatemap scans\n"
                            "  estatemap export --format json --out estate.json")
    parser.add_argument("--version", action="version", version=f"estatemap {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(subparsers, name: str, func, **kwargs):
        summary, doc = _help_of(func)
        sub = subparsers.add_parser(name, parents=[common], help=summary, description=doc,
                                    formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
        sub.set_defaults(func=func)
        return sub

    scan = commands.add_parser("scan", parents=[common], help="Scan a source and add what it finds to the store",
                               description="Scan a source and add what it finds to the store.\n\n"
                                           "Example: estatemap scan host",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    scan_kinds = scan.add_subparsers(dest="scan_kind", metavar="KIND", parser_class=_Parser, required=True)
    add_watch_options(add(scan_kinds, "host", cmd_scan_host))
    network = add(scan_kinds, "network", cmd_scan_network)
    network.add_argument("targets", nargs="+", metavar="TARGET", help="address, CIDR block, range or hostname")
    network.add_argument("--profile", choices=("quick", "standard", "deep"), default="standard",
                         help="how much to look at (default: standard)")
    network.add_argument("--ports", metavar="SPEC", help="ports to scan instead of the profile's, e.g. 22,80,8000-8100")
    network.add_argument("--exclude", nargs="+", metavar="TARGET", help="targets never to touch")
    network.add_argument("--max-rate", type=int, default=300, metavar="N",
                         help="at most N packets per second (default: 300)")
    network.add_argument("--yes", action="store_true", help="confirm a scan of more than 1,024 addresses")
    ssh = add(scan_kinds, "ssh", cmd_scan_ssh)
    ssh.add_argument("hosts", nargs="*", metavar="HOST", help="[user@]address or hostname")
    ssh.add_argument("--user", metavar="U", help="log in as U (default: your login name; user@HOST overrides it)")
    ssh.add_argument("--key", metavar="PATH", help="private key file (default: your ~/.ssh keys); ssh-agent is used too")
    ssh.add_argument("--port", type=int, default=22, metavar="N", help="SSH port (default: 22)")
    ssh.add_argument("--hosts-file", metavar="FILE", help="more hosts, one per line (# starts a comment)")
    ssh.add_argument("--known-hosts", metavar="FILE",
                     help="check host keys against FILE (default: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts)")
    ssh.add_argument("--accept-new-host-keys", action="store_true",
                     help="trust hosts not seen before and add their keys to the known_hosts file; "
                          "a changed key still fails")
    ssh.add_argument("--concurrency", type=int, default=10, metavar="N", help="at most N hosts at once (default: 10)")
    ssh.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                     help="per host, to connect, log in and collect (default: 60)")
    ssh.add_argument("--exclude", nargs="+", metavar="TARGET",
                     help="hosts never to contact: addresses, CIDR blocks, ranges or hostnames")
    add_password_memory_options(ssh)
    add_watch_options(ssh)

    importer = add(commands, "import", cmd_import)
    importer.add_argument("files", nargs="+", metavar="FILE",
                          help="nmap XML (-oX) file, collector bundle, or an exported workbook (.xlsx) with annotations")

    collect = add(commands, "collect", cmd_collect)
    collect.add_argument("--out", "-o", required=True, metavar="FILE", help="the bundle file to write")
    collect.add_argument("--force", action="store_true", help="replace FILE if it exists")
    add_watch_options(collect)

    resume = add(scan_kinds, "resume", cmd_scan_resume)
    resume.add_argument("scan_id", type=int, metavar="ID", help="the scan to continue (see: estatemap scans)")

    database = add(scan_kinds, "database", cmd_scan_database)
    database.add_argument("urls", nargs="+", metavar="URL", help="postgresql://[USER@]HOST[:PORT][/DBNAME]")
    database.add_argument("--user", help="role to log in as (default: the URL's, else your login name)")
    secret = database.add_mutually_exclusive_group()
    secret.add_argument("--ask-password", action="store_true", help="ask for the password on the terminal")
    secret.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add_password_memory_options(database)

    export = add(commands, "export", cmd_export)
    export.add_argument("--format", "-f", required=True, choices=[f.name for f in EXPORT_FORMATS], help="file format")
    export.add_argument("--out", "-o", required=True, metavar="PATH", help="file to write")
    export.add_argument("--force", action="store_true", help="replace PATH if it exists")
    export.add_argument("--scan", type=int, metavar="ID", help="only what scan ID saw (default: the current inventory)")
    export.add_argument("--keep", action="append", choices=NOISE_FILTERS, default=[],
                        metavar="NOISE", help="keep connections the dependency map leaves out as noise: ephemeral "
                                              "(port-to-port pairs with no listener) or collector-ssh (our own SSH "
                                              "sessions); may be repeated")
    export.add_argument("--hosts", metavar="PATTERN", help="only hosts whose name or an address matches PATTERN "
                                                           "(shell wildcards, e.g. 'db*' or '10.20.*'), with their rows")
    export.add_argument("--min-severity", choices=SEVERITIES, metavar="SEV",
                        help="only findings at or above SEV: critical, high, medium, low, info")

    add(commands, "gui", cmd_gui)
    add(commands, "scans", cmd_scans)
    analyze = add(commands, "analyze", cmd_analyze)
    analyze.add_argument("--as-of", type=_iso_date, metavar="DATE", help="judge support dates as on DATE "
                                                                          "(YYYY-MM-DD; default: today)")
    diff = add(commands, "diff", cmd_diff)
    diff.add_argument("a", type=int, metavar="A", help="the earlier scan's id (see: estatemap scans)")
    diff.add_argument("b", type=int, metavar="B", help="the later scan's id")
    diff.add_argument("--json", action="store_true", help="print the differences as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("db", None), ("verbose", 0), ("quiet", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    logging.basicConfig(
        level=logging.WARNING if args.quiet or not args.verbose else logging.INFO if args.verbose == 1 else logging.DEBUG,
        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    quiet_library_warnings(args.verbose)  # before any command imports a library that warns at import
    if not getattr(args, "func", None):
        args.func = cmd_gui  # no command: the desktop application
    # An error raised while a library held a half-written file (openpyxl's ZipFile on a full disk) is reported
    # once; the library's clean-up failing again at garbage collection is detail for -vv, not a traceback.
    sys.unraisablehook = lambda hook: log.debug("ignored in %r: %r", hook.object, hook.exc_value)
    try:
        return args.func(args)
    except EstateError as error:
        print(f"estatemap: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("estatemap: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:  # never a traceback for the user; -vv shows it
        log.debug("unexpected error", exc_info=True)
        print(f"estatemap: error: unexpected {type(error).__name__}: {error} (run with -vv for details)",
              file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
