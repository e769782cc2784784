"""Estate Mapper's command line: parses arguments and calls discovery.service with the chosen scanner or exporter.

`estatemap …` and `python main.py …` are the same program. Exit status: 0 success,
1 a failure the user can fix (one message, no traceback), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import inspect
import logging
import sys
import time
from pathlib import Path

from discovery import __version__
from discovery.inventory.dependencies import FILTERS as NOISE_FILTERS
from discovery.records.model import SEVERITIES, EstateError, counted
from discovery.quiet import quiet_library_warnings
from discovery.terminal import TerminalSafeFormatter, one_line, terminal_safe
from discovery.scanning.scan_kinds import summary_of, watch_options as declared_watch_options
from exports.registry import FORMATS as EXPORT_FORMATS, load_exporter

log = logging.getLogger("estatemap")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
WARNINGS_SHOWN = 10  # wave plan warnings printed by analyze; the export has them all
REPLACE_HINT = "use --force to replace it"  # an existing output file
MAX_NAMED = 20  # hosts a summary line names before "and N more"


# --- commands ----------------------------------------------------------------------------------

def cmd_scan(args: argparse.Namespace) -> int:
    """Run `estatemap scan KIND …`: the kind's options from the command line, as its declaration says."""
    kind = args.kinds[args.scan_kind]
    options = {o.name: getattr(args, o.name) for o in kind.options_for("cli")}
    if options.get("forget_password") and kind.accounts:
        return forget_passwords(args, kind.accounts(args.kinds.complete(kind.name, options)))
    if kind.option("every"):
        watch_options(args)  # --every without --watch: said in the command line's words
    for option in kind.options_for("cli"):
        other = kind.option(option.required_unless) if option.required_unless else None
        if other is not None and not options[option.name] and not options[other.name]:
            emit(f"estatemap scan {kind.name}: error: name at least one {option.metavar} or give {other.flag} "
                 f"{other.metavar}", error=True)
            return EXIT_USAGE
    if options.get("ask_password") or options.get("password_stdin"):
        options["password"] = read_secret(kind.password_prompt, from_stdin=options["password_stdin"],
                                          ask=options["ask_password"], lines=kind.secret_lines)
    from discovery.service import ScanRequest
    return run_request(args, ScanRequest(kind.name, options))


def run_request(args: argparse.Namespace, request) -> int:
    """Build the scanner a request names (asking for a key's passphrase on the terminal), run it into the store
    with a progress bar, and report; what `scan KIND` and `scan resume` share with the GUI's Start and Resume."""
    import getpass

    from discovery.scanning.scan_kinds import SecretNeeded
    from discovery.service import large_scan, run_scan

    kinds, kind = args.kinds, args.kinds[request.kind]
    options, interactive, progress = dict(request.options), sys.stdin.isatty(), None

    def ask(message: str) -> str:  # the scanner asks from this thread; the progress bar steps aside
        bar = progress.bar if progress is not None else None
        if bar is not None:
            bar.clear()
        try:
            return getpass.getpass(terminal_safe(message))
        finally:
            if bar is not None:
                bar.refresh()

    for option in kind.options:
        if option.kind == "prompt":
            options[option.name] = ask if interactive else None
    for _attempt in range(3):  # each answer can only reveal one more secret needed (a key's passphrase)
        try:
            scanner = kinds.make_scanner(kind.name, options)
            break
        except SecretNeeded as needed:
            if not interactive or options.get(needed.option) is not None:
                raise EstateError(needed.unattended if not interactive else str(needed)) from None
            options[needed.option] = getpass.getpass(terminal_safe(needed.prompt))
    else:
        raise EstateError(f"could not build the {kind.name} scanner")
    count = large_scan(scanner)
    if count is not None and request.resume_id is None and not options.get("yes"):
        raise EstateError(f"the targets cover {count:,} addresses (more than a /22); check them, then add --yes to "
                          "scan them")
    log.info("running: %s", getattr(scanner, "arguments", kind.name))
    with open_store(args) as store:
        started = time.monotonic()
        with Progress(args, f"scan {kind.name}", unit=kind.unit) as progress:
            result = run_scan(store, scanner, progress=progress.update, options=request.stored,
                              resume_id=request.resume_id)
        status = report_scan(args, store, result, time.monotonic() - started)
    for account in getattr(scanner, "remembered", ()):
        say(args, f"Remembered the password for {account} in the OS keyring.")
    failed = getattr(scanner, "failed", None) or []
    if failed and result.status != "failed":  # a failed scan has said so already
        total = getattr(scanner, "address_count", None) or len(scanner.targets())
        named = ", ".join(failed[:MAX_NAMED]) + (f" and {len(failed) - MAX_NAMED:,} more" if len(failed) > MAX_NAMED
                                                 else "")
        emit(f"estatemap: {len(failed):,} of {counted(total, *kind.noun)} could not be collected: {named} "
             "(see the warnings above)", error=True)
    # A sweep of a range expects silence from most addresses (SNMP): that is not a failure, only a warning each
    silence_is_normal = getattr(scanner, "silence_is_normal", False)
    return max(status, EXIT_FAILURE if failed and not silence_is_normal else EXIT_OK)


def cmd_import(args: argparse.Namespace) -> int:
    """Add files collected elsewhere to the store: nmap XML (-oX output, from any nmap version,
    including files cut short by an interrupted scan) and collector bundles (estatemap collect).
    Each file becomes a scan of its own (kind import); its hosts merge with those already known. Every
    file is checked whole before anything from it is stored: a refused file is one line saying why,
    the other files are still imported, and the exit status is 1.

    An Excel workbook (.xlsx) written by `estatemap export --format xlsx` is read back instead: the
    owner, criticality, patient data and notes architects filled in on its Hosts sheet, the waves on
    its Move groups sheet and the wave planner's rules on its Wave rules sheet, matched by Host ID,
    Group ID and Rule. Rows it cannot use are listed and skipped; the exit status is 1 when rows were
    skipped and none could be used. Changed wave rules take effect at the next estatemap analyze.

    Example: estatemap import site-b-scan.xml site-c-scan.xml app01.estate
    """
    from discovery.service import run_scan
    from scanners.workbook_annotations import is_workbook_path

    workbooks = [path for path in args.files if is_workbook_path(path)]
    if workbooks:
        return import_workbooks(args, workbooks, [path for path in args.files if not is_workbook_path(path)])
    scanners = []
    for path in args.files:
        try:
            # reads the whole file: a bad one is refused before it is stored
            scanners.append(args.kinds.make_scanner("import", {"path": path}))
        except EstateError as error:
            emit(f"estatemap: error: {error}", error=True)
    status = EXIT_OK if len(scanners) == len(args.files) else EXIT_FAILURE
    if not scanners:
        return status
    with open_store(args) as store:
        for scanner in scanners:
            started = time.monotonic()
            with Progress(args, f"import {scanner.path.name}", unit="B") as progress:
                result = run_scan(store, scanner, progress=progress.update)
            status = max(status, report_scan(args, store, result, time.monotonic() - started))
    return status


def import_workbooks(args: argparse.Namespace, workbooks: list[str], others: list[str]) -> int:
    """Read architects' annotations back from exported workbooks; every file is checked before any is written."""
    from discovery.analyses.wave_rules import RULE_BY_NAME
    from discovery.service import apply_annotations
    from scanners.workbook_annotations import describe_problems, read_workbook

    if others:
        raise EstateError("import workbooks (.xlsx) on their own, not with scan files: "
                          f"{', '.join(others[:3])}")
    status = EXIT_OK
    with open_store(args, create=False) as store:
        plans = [read_workbook(store, path) for path in workbooks]
        for plan in plans:
            apply_annotations(store, plan)
            changed = len(plan.annotations) + len(plan.group_waves)
            say(args, f"Imported {plan.path}: {plan.matched} rows matched, {changed} hosts and groups changed "
                      f"({len(plan.annotations)} host annotations, {len(plan.group_waves)} wave overrides).")
            if plan.wave_rules:
                say(args, "Wave rules changed: " + ", ".join(f"{name} {RULE_BY_NAME[name].text(value)}"
                                                              for name, value in plan.wave_rules.items())
                          + "; run estatemap analyze to plan the waves with them.")
            if plan.problems:
                emit(f"estatemap: warning: {plan.path}: {describe_problems(plan)}", error=True)
                if not plan.matched and not plan.wave_rules:
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
    from discovery.files.atomic_files import check_target
    from scanners.bundle_collector import collect_bundle, write_bundle
    from scanners.local_host import LocalHostScanner

    path = Path(args.out)
    check_target(path, force=args.force, how_to_replace=REPLACE_HINT)  # before a long watch, not after it
    scanner = LocalHostScanner(**watch_options(args))
    arguments = "collect" + (f" --watch {args.watch} --every {args.every or '5m'}" if args.watch else "")
    with Progress(args, "collect") as progress:
        doc = collect_bundle(scanner, name="estatemap collect", arguments=arguments, progress=progress.update)
    say(args, write_bundle(doc, path))
    for warning in doc["scan"]["warnings"]:
        emit(f"warning: {warning}", error=True)
    if doc["scan"]["status"] != "completed":
        emit(f"estatemap: collection interrupted; {path} holds what was sampled until then", error=True)
        return EXIT_FAILURE
    return EXIT_OK


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
    from discovery.service import prepare_resume

    with open_store(args, create=False) as store:
        request = prepare_resume(store, args.scan_id, args.kinds)
    for message in request.messages:
        say(args, message)
    return EXIT_OK if request.options is None else run_request(args, request)


def forget_passwords(args: argparse.Namespace, accounts: list[str]) -> int:
    """Remove the passwords remembered in the OS keyring for these accounts (ssh:root@db01, ...); scan nothing."""
    from discovery.scanning.secrets import forget_password, get_backend

    backend = get_backend()
    for account in dict.fromkeys(accounts):
        if forget_password(account, backend=backend):
            say(args, f"Forgot the password remembered for {account}.")
        else:
            say(args, f"No password was remembered for {account}.")
    return EXIT_OK


SECRETS_MAX = 64 * 1024  # what standard input may hold for --password-stdin and the like


def read_secret(prompt: str, *, from_stdin: bool, ask: bool, lines: bool = False) -> str | None:
    """Return a password from standard input's first line (with `lines`: every non-empty line, joined by new
    lines, for a kind that tries several in order), or asked for on the terminal; never echoed or kept."""
    import getpass

    if from_stdin:
        if not lines:
            return sys.stdin.readline().rstrip("\n")
        given = sys.stdin.read(SECRETS_MAX + 1)
        if len(given) > SECRETS_MAX:
            raise EstateError(f"standard input holds more than {SECRETS_MAX // 1024} KiB; give the secrets one a line")
        return "\n".join(line.rstrip("\r") for line in given.splitlines() if line.strip())
    if ask:
        if not sys.stdin.isatty():
            raise EstateError("cannot ask for a password without a terminal; use --password-stdin")
        return getpass.getpass(terminal_safe(prompt))
    return None


def cmd_export(args: argparse.Namespace) -> int:
    """Write the inventory to a file: hosts, services, software, databases, connections, findings, groups.

    The file is written beside the target and renamed into place, so a failure never leaves a
    half-written file; an existing file is replaced only with --force.

    Example: estatemap export --format json --out estate.json
    """
    from discovery.inventory.dependencies import ResolutionStats
    from discovery.service import export_inventory
    from discovery.files.atomic_files import check_target

    exporter = load_exporter(args.format)
    noise = ResolutionStats()
    path = Path(args.out)
    check_target(path, force=args.force, how_to_replace=REPLACE_HINT)
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
        emit(f"estatemap: warning: {warning}", error=True)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """Write the assessment report: one self-contained HTML file for the people who will not open a
    workbook or the application. An executive summary, the estate at a glance, coverage and blind
    spots, legacy and end of life with dates, healthcare protocols and clear-text patient-data paths,
    the clinical chain's dependency map, move groups and the wave plan with reasons, and the method and
    limits (what was scanned, when, how, what was excluded). Charts are inline SVG; the page holds no
    script and fetches nothing. Open it in a browser; "Print to PDF" gives an A4 document, a section a
    page. Run estatemap analyze first for findings, groups and waves. An existing FILE is replaced
    only with --force; the file is written beside it and renamed into place.

    Example: estatemap report --out report.html
    """
    from discovery.service import export_inventory
    from discovery.files.atomic_files import check_target

    path = Path(args.out)
    check_target(path, force=args.force, how_to_replace=REPLACE_HINT)
    with open_store(args, create=False) as store:
        inventory = export_inventory(store, load_exporter("report"), path)
    findings = inventory.get("findings") or []
    say(args, f"Wrote {path} (assessment report): {counted(len(inventory['hosts']), 'host')}, "
              f"{counted(len(findings), 'finding')}, {counted(len(inventory.get('groups') or []), 'move group')}"
              + ("" if inventory.get("analysis") else "; no analysis yet (run estatemap analyze for findings, groups "
                                                      "and waves)") + ".")
    return EXIT_OK


def cmd_gui(args: argparse.Namespace) -> int:
    """Open the desktop application: scans, inventory tables, the interactive dependency graph,
    findings, move groups, annotations and exports, on the store named by --db (default: the
    store used last time). `estatemap` with no command does the same.

    Example: estatemap gui --db site-a.db
    """
    from gui.app import run_gui

    return run_gui(store_path=Path(args.db) if args.db else None, scan_kinds=args.kinds, formats=EXPORT_FORMATS,
                   exporter_factory=load_exporter)


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
        emit("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    """Analyse the current inventory and store the results: legacy and insecure-protocol findings,
    the dependency graph (fan-in and fan-out, blast radius, single points of failure, cycles, shared
    infrastructure), move groups and waves with split suggestions, and each host's migration risk with
    its factors. The results replace the previous analysis and appear in every export.

    --as-of DATE judges support dates as on that day, so results can be reproduced.

    The wave plan follows rules the architects can change: --wave-capacity, --capacity-unit,
    --pilot-groups, --pilot-max-risk, --dependency-order, --remediation-waves and --[no-]separate-tiers
    (--reset-wave-rules puts them back to their defaults). They are stored: the next analyze, the GUI
    and the workbook's Wave rules sheet use them until changed again. Each group's wave comes with its
    reasons; what the rules or the pinned waves break is printed as a warning.

    Example: estatemap analyze --as-of 2026-12-31 --wave-capacity 20 --dependency-order together
    """
    from discovery.analyses.wave_rules import RULES as WAVE_RULES
    from discovery.service import analyze

    changes = dict.fromkeys((r.name for r in WAVE_RULES), None) if args.reset_wave_rules else {}
    changes.update({r.name: getattr(args, r.name) for r in WAVE_RULES if getattr(args, r.name) is not None})
    with open_store(args, create=False) as store:
        with Progress(args, "analyze") as progress:
            summary = analyze(store, as_of=args.as_of, progress=progress.update, wave_rules=changes)
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
    plan = summary["wave_plan"]
    say(args, wave_plan_line(plan))
    for warning in plan["warnings"][:WARNINGS_SHOWN]:
        emit(f"estatemap: warning: wave plan: {warning}", error=True)
    if len(plan["warnings"]) > WARNINGS_SHOWN:
        emit(f"estatemap: warning: wave plan: and {len(plan['warnings']) - WARNINGS_SHOWN} more warnings "
             f"(see the export's wave_plan)", error=True)
    say(args, coverage_line(summary["coverage"]))
    return EXIT_OK


def coverage_line(coverage: dict) -> str:
    """Return one line on the estate's coverage: deep inventories, sockets read, the most depended-on blind spots."""
    def share(value) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    spots = coverage["blind_spots"]
    line = (f"Coverage: {coverage['deep_hosts']} of {counted(coverage['hosts'], 'host')} inventoried deeply "
            f"({share(coverage['deep_share'])}), sockets read on {coverage['sockets_hosts']} "
            f"({share(coverage['sockets_share'])}); {counted(len(spots), 'blind spot')}")
    named = [s for s in spots if s["dependencies"]][:3]
    if named:
        line += ", most depended on: " + ", ".join(
            f"{s['hostname'] or s.get('address') or s['host_id']} "
            f"({counted(s['dependencies'], 'dependency', 'dependencies')})"
            for s in named)
    return line + "."


def wave_plan_line(plan: dict) -> str:
    """Return one line on the wave plan: its waves and the rules it followed."""
    rules = plan["rules"]
    waves = [w["wave"] for w in plan["waves"]]
    capacity = (f"at most {counted(rules['wave_capacity'], rules['capacity_unit'][:-1])} a wave"
                if rules["wave_capacity"] else "no wave capacity")
    span = f" ({waves[0]}-{waves[-1]})" if len(waves) > 1 else ""
    return (f"Wave plan: {counted(len(waves), 'wave')}{span}; rules: {capacity}, pilot of "
            f"{counted(rules['pilot_groups'], 'group')} at risk {rules['pilot_max_risk']} or less, "
            f"{rules['dependency_order']}, {counted(rules['remediation_waves'], 'wave')} for end-of-life remediation, "
            f"tiers {'apart' if rules['separate_tiers'] else 'mixed'}; "
            f"{counted(len(plan['warnings']), 'warning')}.")


def cmd_diff(args: argparse.Namespace) -> int:
    """List what changed between two scans A and B: hosts, services, software versions, databases and
    dependencies that appeared (+), disappeared (-) or changed (~). Each side is what that scan saw.

    Example: estatemap diff 3 7
    """
    from discovery.inventory.diff import diff_inventories, format_diff
    from discovery.inventory.build import build_inventory

    with open_store(args, create=False) as store:
        for scan_id in (args.a, args.b):
            if store.get_scan(scan_id) is None:
                raise EstateError(f"no scan with id {scan_id} (see: estatemap scans)")
        diff = diff_inventories(build_inventory(store, scan_id=args.a), build_inventory(store, scan_id=args.b))
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, **diff}, indent=2))
    else:
        lines = format_diff(diff)
        emit("\n".join(lines) if lines else f"No differences between scan {args.a} and scan {args.b}.")
    return EXIT_OK


# --- helpers -----------------------------------------------------------------------------------

def open_store(args: argparse.Namespace, *, create: bool = True):
    """Open the store named by --db (default: estate.db in the user's data directory)."""
    from discovery.storage.store import Store, default_path

    path = Path(args.db) if args.db else default_path()
    if not create and not path.exists():
        raise EstateError(f"no store at {path}; run a scan first (estatemap scan host) or pass --db")
    log.info("store: %s", path)
    return Store(path)


# How a scan's counts are named: (singular, plural) where the plural is not just an s.
COUNT_NOUNS = {"software": ("software package",), "processes": ("process", "processes"),
               "infrastructure objects": ("infrastructure object",)}
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
        emit(f"warning: {warning}", error=True)
    if result.status == "interrupted":
        emit(f"estatemap: scan {result.scan_id} interrupted{': ' + result.error if result.error else ''}; "
             f"the {hosts} host(s) finished before are kept", error=True)
        return EXIT_FAILURE
    if result.status == "failed":
        emit(f"estatemap: error: scan {result.scan_id} failed: {result.error}", error=True)
        return EXIT_FAILURE
    return EXIT_OK


def watch_options(args: argparse.Namespace) -> dict:
    """Return the scanner's watch settings in seconds from --watch and --every (both None without --watch)."""
    from discovery.scanning.sampling import watch_settings

    if args.every is not None and args.watch is None:
        raise EstateError("--every needs --watch (for example: --watch 1h --every 5m)")
    return watch_settings(args.watch, args.every)


def add_option(parser: argparse.ArgumentParser, option, groups: dict) -> None:
    """Add a scanner kind's option (discovery.scanning.scan_kinds.Option) to `parser`; options of one group exclude
    each other. Defaults stay None here: the registry fills them in, as it does for the GUI."""
    target = parser
    if option.group:
        target = groups.get(option.group) or groups.setdefault(option.group, parser.add_mutually_exclusive_group())
    kwargs = {"help": option.help}
    if option.metavar:
        kwargs["metavar"] = option.metavar
    if option.flag is None:
        target.add_argument(option.name, nargs="+" if option.required else "*", **kwargs)
    elif option.kind == "bool":
        target.add_argument(option.flag, dest=option.name, action="store_true", **kwargs)
    else:
        if option.kind == "words":
            kwargs["nargs"] = "+"
        if option.kind == "choice":
            kwargs["choices"] = option.values
        if option.kind in ("int", "float"):
            kwargs["type"] = int if option.kind == "int" else float
        target.add_argument(option.flag, dest=option.name, default=None, **kwargs)


def emit(message: str, *, error: bool = False) -> None:
    """Print one message for the user (stderr with `error`), through terminal_safe: the one way text leaves."""
    print(terminal_safe(message), file=sys.stderr if error else sys.stdout)


def say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        emit(message)


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
            self.bar.set_postfix_str(terminal_safe(message), refresh=True)
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
    return summary_of(doc), doc


def _iso_date(text: str):
    from datetime import date
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def build_parser(kinds=None) -> argparse.ArgumentParser:
    """Return the command-line parser; each command's help is its function's docstring, each scan kind's its
    declaration in `kinds` (default: scanners.kinds.REGISTRY)."""
    if kinds is None:
        from scanners.kinds import REGISTRY as kinds
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
    parser.set_defaults(kinds=kinds)
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
    for kind in kinds:
        if kind.cli:
            sub = scan_kinds.add_parser(kind.name, parents=[common], help=kind.summary,
                                        description=inspect.cleandoc(kind.doc),
                                        formatter_class=argparse.RawDescriptionHelpFormatter)
            sub.set_defaults(func=cmd_scan)
            groups = {}
            for option in kind.options_for("cli"):
                add_option(sub, option, groups)
    resume = add(scan_kinds, "resume", cmd_scan_resume)
    resume.add_argument("scan_id", type=int, metavar="ID", help="the scan to continue (see: estatemap scans)")

    importer = add(commands, "import", cmd_import)
    importer.add_argument("files", nargs="+", metavar="FILE",
                          help="nmap XML (-oX) file, collector bundle, or an exported workbook (.xlsx) with annotations")

    collect = add(commands, "collect", cmd_collect)
    collect.add_argument("--out", "-o", required=True, metavar="FILE", help="the bundle file to write")
    collect.add_argument("--force", action="store_true", help="replace FILE if it exists")
    collect_groups: dict = {}
    for option in declared_watch_options():
        add_option(collect, option, collect_groups)

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

    report = add(commands, "report", cmd_report)
    report.add_argument("--out", "-o", required=True, metavar="FILE", help="the HTML file to write (report.html)")
    report.add_argument("--force", action="store_true", help="replace FILE if it exists")

    add(commands, "gui", cmd_gui)
    add(commands, "scans", cmd_scans)
    analyze = add(commands, "analyze", cmd_analyze)
    analyze.add_argument("--as-of", type=_iso_date, metavar="DATE", help="judge support dates as on DATE "
                                                                          "(YYYY-MM-DD; default: today)")
    add_wave_rules(analyze)
    diff = add(commands, "diff", cmd_diff)
    diff.add_argument("a", type=int, metavar="A", help="the earlier scan's id (see: estatemap scans)")
    diff.add_argument("b", type=int, metavar="B", help="the later scan's id")
    diff.add_argument("--json", action="store_true", help="print the differences as JSON")
    return parser


def add_wave_rules(parser: argparse.ArgumentParser) -> None:
    """Add an option per wave rule (discovery.analyses.wave_rules.RULES) and --reset-wave-rules to `parser`;
    a rule not given is None (the stored one stands)."""
    from discovery.analyses.wave_rules import RULES as WAVE_RULES, WaveRuleError

    def checked(rule):
        def parse(text):
            try:
                return rule.parse(text)
            except WaveRuleError as error:
                raise argparse.ArgumentTypeError(str(error)) from None
        return parse

    group = parser.add_argument_group("wave rules (stored: the next analyze, the GUI and the workbook use them)")
    for rule in WAVE_RULES:
        help_text = f"{rule.help} (default {rule.text(rule.default)})"
        if rule.kind == "bool":
            group.add_argument(rule.flag, dest=rule.name, action=argparse.BooleanOptionalAction, default=None,
                               help=help_text)
        elif rule.kind == "choice":
            group.add_argument(rule.flag, dest=rule.name, choices=rule.choices, default=None, help=help_text)
        else:
            group.add_argument(rule.flag, dest=rule.name, type=checked(rule), metavar="N", default=None,
                               help=help_text)
    group.add_argument("--reset-wave-rules", action="store_true",
                       help="put every wave rule back to its default (before the options given with it)")


def main(argv: list[str] | None = None, *, kinds=None) -> int:
    """Run the command line (with the scanner kinds of `kinds`, default scanners.kinds.REGISTRY); return the
    exit status."""
    parser = build_parser(kinds)
    args = parser.parse_args(argv)
    for name, default in (("db", None), ("verbose", 0), ("quiet", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TerminalSafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.WARNING if args.quiet or not args.verbose else logging.INFO if args.verbose == 1 else logging.DEBUG,
        handlers=[handler])
    quiet_library_warnings(args.verbose)  # before any command imports a library that warns at import
    if not getattr(args, "func", None):
        args.func = cmd_gui  # no command: the desktop application
    # An error raised while a library held a half-written file (openpyxl's ZipFile on a full disk) is reported
    # once; the library's clean-up failing again at garbage collection is detail for -vv, not a traceback.
    sys.unraisablehook = lambda hook: log.debug("ignored in %r: %r", hook.object, hook.exc_value)
    try:
        return args.func(args)
    except EstateError as error:
        emit(f"estatemap: error: {one_line(error)}", error=True)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        emit("estatemap: interrupted", error=True)
        return EXIT_FAILURE
    except Exception as error:  # never a traceback for the user; -vv shows it
        log.debug("unexpected error", exc_info=True)
        emit(f"estatemap: error: unexpected {type(error).__name__}: {one_line(error)} (run with -vv for details)",
             error=True)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
