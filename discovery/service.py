"""What the CLI and the GUI both call: run a scan into the store, export the inventory.

Scanners and exporters come in as arguments (main.py chooses them), so discovery imports
neither. A scanner is any object with `kind`, `targets()` and `scan(ctx) -> Iterator[HostReport]`;
an exporter is any object with `write(inventory, path)`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

from discovery.inventory.dependencies import FILTERS, ResolutionStats
from discovery.inventory.build import build_inventory, filter_inventory
from discovery.records.model import (EstateError, HostReport, PlatformObject, ProgressCallback, Scan, ScanCancelled,
                                     ScanContext, ScanInterrupted, utc_now)
from discovery.scanning.scan_kinds import ScanKinds
from discovery.storage.store import Store

log = logging.getLogger(__name__)


class Scanner(Protocol):
    kind: str                         # "host", "network", "ssh", "import"
    # optional: `arguments`, the command it runs, shown with -v and stored on the scan

    def targets(self) -> tuple[str, ...]: ...

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]: ...


class Exporter(Protocol):
    format: str

    def write(self, inventory: dict, path: Path) -> None: ...


def distinct_connections(connections) -> int:
    """Return how many connections these are: one seen from both ends (a loopback one) is one, as in the inventory."""
    return len({(c.protocol, *sorted([(c.local_address, c.local_port), (c.remote_address, c.remote_port)]))
                for c in connections})


@dataclass(slots=True)
class ScanResult:
    scan_id: int
    status: str                       # "completed", "interrupted", "failed"
    host_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


def run_scan(store: Store, scanner: Scanner, *, arguments: str | None = None,
             progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
             options: dict | None = None, resume_id: int | None = None,
             on_warning: Callable[[str], None] | None = None) -> ScanResult:
    """Run `scanner`, writing each host to the store as it arrives; return what happened.

    `on_warning(message)` hears each warning as the scanner raises it (they are all in the result too).
    Ctrl-C (KeyboardInterrupt) or `cancel` stops the scan and keeps every finished host (status
    interrupted). A scanner error marks the scan failed and is raised as EstateError after the
    hosts finished so far are kept. `options` (default: the scanner's `resume_options`) are stored
    for `estatemap scan resume` (never a password). With `resume_id`, the hosts go into that interrupted or failed scan, which is
    running again (see plan_resume); raises EstateError if it cannot be resumed.
    """
    ctx = ScanContext(progress=progress, cancel=cancel, on_warning=on_warning)
    arguments = arguments or getattr(scanner, "arguments", None)
    options = options if options is not None else getattr(scanner, "resume_options", None)
    origin = tuple(getattr(scanner, "origin_addresses", ()))
    if resume_id is not None:
        ctx.warnings.extend(store.reopen_scan(resume_id, arguments=arguments, origin=origin))
        scan_id = resume_id
    else:
        scan_id = store.start_scan(Scan(kind=scanner.kind, targets=tuple(scanner.targets()),
                                        arguments=arguments, started_at=ctx.started_at, origin=origin),
                                   options=options)
    result = ScanResult(scan_id=scan_id, status="running", warnings=ctx.warnings)
    reports = scanner.scan(ctx)
    try:
        for report in reports:
            if isinstance(report, PlatformObject):  # a vCenter's datastore, cluster, …: not a host
                store.write_platform_object(scan_id, report)
                result.counts["infrastructure objects"] = result.counts.get("infrastructure objects", 0) + 1
                continue
            host_id, match = store.write_host_report(scan_id, report)
            result.host_ids.append(host_id)
            for name in ("software", "processes", "services", "databases", "interfaces"):
                result.counts[name] = result.counts.get(name, 0) + len(getattr(report, name))
            result.counts["connections"] = result.counts.get("connections", 0) + distinct_connections(report.connections)
            log.info("stored host %s%s", host_id, f" (matched on {match.reason})" if match else " (new)")
    except (ScanCancelled, KeyboardInterrupt):
        result.status = "interrupted"
    except ScanInterrupted as error:
        result.status, result.error = "interrupted", str(error)
    except EstateError as error:
        result.status, result.error = "failed", str(error)
    except Exception as error:  # a scanner bug must not lose the hosts already stored
        log.debug("scanner failed", exc_info=True)
        result.status, result.error = "failed", f"{type(error).__name__}: {error}"
    else:
        result.status = "completed"
    finally:
        reports.close()  # the scanner's own clean-up (stopping a child process) runs now, not at garbage collection
    store.finish_scan(scan_id, result.status, ctx.warnings, result.error)
    return result


def apply_annotations(store: Store, plan) -> int:
    """Write what a workbook's annotations change (scanners.workbook_annotations.read_workbook's plan: host
    annotations, group wave pins, wave rules), in one transaction; return the number of hosts, groups and
    rules changed."""
    if not plan.changes:
        return 0
    store.save_annotations(plan.annotations, group_waves=plan.group_waves, wave_rules=plan.wave_rules)
    return plan.changes


def complete_scan(store: Store, scan_id: int) -> ScanResult:
    """Mark interrupted or failed scan `scan_id` completed with nothing left to do (every host of an SSH scan
    is already collected); return its result. Raises StoreError if it cannot be resumed."""
    warnings = store.reopen_scan(scan_id, arguments="nothing left to collect")
    store.finish_scan(scan_id, "completed", warnings)
    return ScanResult(scan_id=scan_id, status="completed", warnings=warnings)


@dataclass(slots=True)
class ResumePlan:
    """How to continue scan `scan_id`: `resume` runs what is left into the same scan (network: the same
    targets and options with the finished addresses excluded; ssh: the hosts not collected); `rerun` runs
    it again as a new scan (host, import: nothing to skip)."""
    scan_id: int
    kind: str
    mode: str                         # "resume" | "rerun"
    targets: list[str]
    options: dict
    finished: set[str]                # addresses and names of the hosts the scan already stored


def plan_resume(store: Store, scan_id: int, kinds: ScanKinds) -> ResumePlan:
    """Return how to continue an interrupted or failed scan (each kind says whether and how it resumes);
    raises EstateError when it cannot be."""
    scan = store.get_scan(scan_id)  # marks it interrupted first if its process has ended
    if scan is None:
        raise EstateError(f"no scan with id {scan_id} (see: estatemap scans)")
    if scan["status"] == "completed":
        raise EstateError(f"scan {scan_id} completed; there is nothing to resume (run a new scan instead)")
    if scan["status"] == "running":
        owner = scan.get("runner") or {}
        raise EstateError(f"scan {scan_id} is still running (process {owner.get('pid', '?')} on "
                          f"{owner.get('host', '?')}); stop it first, or wait for it to finish")
    mode = kinds.resume_mode(scan["kind"])
    if mode is None:
        raise EstateError(f"scans of kind {scan['kind']} cannot be resumed; run the scan again "
                          f"({scan.get('arguments') or 'estatemap scan ' + scan['kind']})")
    if scan.get("options") is None:
        raise EstateError(f"scan {scan_id} was made by an older Estate Mapper that did not keep its options; "
                          "run the scan again")
    return ResumePlan(scan_id=scan_id, kind=scan["kind"], mode=mode, targets=list(scan["targets"] or ()),
                      options=dict(scan["options"]), finished=store.finished_names(scan_id))


@dataclass(slots=True)
class ScanRequest:
    """A scan as both faces start it: its kind and the options for ScanKinds.make_scanner; when it continues an
    interrupted scan, the scan it writes into (`resume_id`, None for a rerun) and the options kept on it.
    `options` is None when nothing was left to do: the scan is then completed (`completed`)."""
    kind: str
    options: dict | None
    resume_id: int | None = None
    stored: dict | None = None        # what run_scan keeps on a rerun (a resumed scan keeps its own)
    messages: list[str] = field(default_factory=list)
    completed: ScanResult | None = None


def prepare_resume(store: Store, scan_id: int, kinds: ScanKinds) -> ScanRequest:
    """Return how to continue interrupted or failed scan `scan_id`: what `estatemap scan resume` and the GUI's
    Resume run. An SSH scan with every host collected is completed here, as it is. Raises EstateError when the
    scan cannot be resumed."""
    plan = plan_resume(store, scan_id, kinds)
    kind = kinds[plan.kind]
    options = kind.remaining(plan)
    note = kind.resume_note(plan, options) if kind.resume_note else None
    messages = [f"Resuming scan {scan_id}" + (f": {note}" if note else "") if plan.mode == "resume" else
                f"Scan {scan_id} ({plan.kind}) is run again as a new scan."]
    if options is None:
        messages.append(f"Scan {scan_id} completed: nothing was left to collect.")
        return ScanRequest(plan.kind, None, messages=messages, completed=complete_scan(store, scan_id))
    return ScanRequest(plan.kind, options, resume_id=scan_id if plan.mode == "resume" else None,
                       stored=plan.options, messages=messages)


def large_scan(scanner) -> int | None:
    """Return how many addresses `scanner` covers when that is more than CONFIRM_ABOVE (a /22), which a user
    confirms before it runs (--yes; a question in the GUI); else None."""
    from discovery.records.targets import CONFIRM_ABOVE
    count = getattr(scanner, "address_count", None)
    return count if count is not None and count > CONFIRM_ABOVE else None


def export_inventory(store: Store, exporter: Exporter, path: Path, *, scan_id: int | None = None,
                     filters=FILTERS, hosts_pattern: str | None = None, min_severity: str | None = None,
                     stats: ResolutionStats | None = None) -> dict:
    """Build the inventory (with the given dependency noise filters) and write it with `exporter` to `path`;
    return the inventory written. `hosts_pattern` and `min_severity` cut it down (inventory.filter_inventory);
    `stats` (if given) counts what the noise filters left out."""
    if scan_id is not None and store.get_scan(scan_id) is None:
        raise EstateError(f"no scan with id {scan_id} (see: estatemap scans)")
    inventory = build_inventory(store, scan_id=scan_id, filters=filters, stats=stats)
    if hosts_pattern is not None or min_severity is not None:
        inventory = filter_inventory(inventory, hosts_pattern=hosts_pattern, min_severity=min_severity)
    exporter.write(inventory, path)
    return inventory



def set_wave_rules(store: Store, changes: dict) -> dict:
    """Check and store wave rules ({name: value}; None puts a rule back to its default), so every later
    analysis plans with them; return the rules now in force, all of them. Raises WaveRuleError, storing
    nothing, for an unknown rule or a bad value."""
    from discovery.analyses.wave_rules import RULE_BY_NAME, rules_from

    rules_from(changes)  # every name known, every value good
    store.save_wave_rules({name: None if value is None else RULE_BY_NAME[name].parse(value)
                           for name, value in changes.items()})
    return stored_wave_rules(store).to_dict()


def stored_wave_rules(store: Store):
    """Return the wave rules in force (discovery.analyses.wave_rules.WaveRules): the stored ones, the defaults
    for the rest. A stored value this version cannot use is left out, with a log line."""
    from discovery.analyses.wave_rules import usable_rules

    rules, problems = usable_rules(store.wave_rules())
    for problem in problems:
        log.warning("stored wave rule ignored: %s", problem)
    return rules


def analyze(store: Store, *, as_of: date | None = None, progress: ProgressCallback | None = None,
            cancel: threading.Event | None = None, wave_rules: dict | None = None) -> dict:
    """Run every analysis on the current inventory and store the results (replacing the previous ones).

    Legacy and insecure-protocol findings at `as_of` (default: today), the dependency graph's
    metrics, shared infrastructure, move groups, single points of failure, cycles and split
    suggestions, each host's migration risk, and the wave plan (discovery.analyses.wave_plan) under the
    stored wave rules. `wave_rules` ({name: value}, None for a default) change those rules first, for this
    analysis and the next ones (raises WaveRuleError, changing nothing, for a bad one). Returns the stored
    summary.
    """
    from discovery.analyses.analysis import analyze_graph
    from discovery.analyses.graph import build_graph, host_graph
    from discovery.analyses.legacy import assess_inventory, load_eol_table
    from discovery.analyses.risk import score_hosts
    from discovery.inventory.build import LEGACY_RULES

    if wave_rules:
        set_wave_rules(store, wave_rules)
    rules = stored_wave_rules(store)
    as_of = as_of or utc_now().date()
    ctx = ScanContext(progress=progress, cancel=cancel)
    inventory = build_inventory(store)
    ctx.report(0, 4, "legacy and protocol rules")
    findings = [_finding_row(f) for f in assess_inventory(inventory, load_eol_table(), as_of)]
    ctx.check_cancelled()
    ctx.report(1, 4, "dependency graph")
    H = host_graph(G := build_graph(inventory))
    result = analyze_graph(G, H).to_dict()
    ctx.check_cancelled()
    ctx.report(2, 4, "migration risk")
    risk = score_hosts(inventory, findings, result)
    names = {h["id"]: h["hostname"] or (h["addresses"] or [h["id"]])[0] for h in inventory["hosts"]}
    ctx.check_cancelled()
    ctx.report(3, 4, "wave plan")
    legacy = {f["host_id"] for f in findings if f["category"] == "legacy" and f["rule"] in LEGACY_RULES}
    plan = _plan_waves(store, result, H, inventory, risk, legacy, names, rules)
    groups = [{"id": g["id"], "name": g["name"], "wave": plan.group_waves[g["id"]], "host_ids": g["host_ids"],
               "explanation": g["explanation"], "edges": g["edges"], "wave_reasons": plan.group_reasons[g["id"]]}
              for g in result["groups"]]
    summary = {key: result[key] for key in ("summary", "parameters", "shared", "single_points_of_failure",
                                            "cycles", "waves", "splits", "externals")}
    summary["waves"] = plan.analysis_waves()
    summary["summary"] = {**result["summary"], "waves": len(plan.waves)}
    summary["wave_plan"] = plan.to_dict()
    summary["findings"] = dict(Counter(f["severity"] for f in findings))
    summary["coverage"] = inventory["coverage_summary"]  # each host's depth and the blind spots, as they stood
    summary["hosts"] = len(inventory["hosts"])
    analysis_id = store.save_analysis(findings=findings, groups=groups, risk=risk, as_of=as_of.isoformat(),
                                      summary=summary)
    ctx.report(4, 4, "stored")
    return {"id": analysis_id, "as_of": as_of.isoformat(), **summary,
            "top_risk": sorted(((r["score"], names[h]) for h, r in risk.items()), reverse=True)[:5]}


def _plan_waves(store: Store, result: dict, H, inventory: dict, risk: dict, legacy: set, names: dict, rules):
    """Return the wave plan (discovery.analyses.wave_plan.WavePlan) of an analysis result's groups, with the
    architects' pins (group_annotations)."""
    from discovery.analyses.wave_plan import build_group_facts, group_dependencies, plan_waves

    facts = build_group_facts(result["groups"], inventory["hosts"], risk, legacy, names)
    group_of = {h: g["id"] for g in result["groups"] for h in g["host_ids"]}
    pins = {a["group_id"]: a["wave"] for a in store.rows("group_annotations") if a.get("wave") is not None}
    shared = [h["host_id"] for h in result["hosts"] if h["shared"]]
    return plan_waves(facts, group_dependencies(H, group_of), shared_host_ids=shared, pins=pins, rules=rules)


def _finding_row(finding) -> dict:
    return dataclasses.asdict(finding)
