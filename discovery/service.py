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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

from discovery.dependencies import FILTERS
from discovery.inventory import build_inventory, filter_inventory
from discovery.model import EstateError, HostReport, ProgressCallback, Scan, ScanCancelled, ScanContext, utc_now
from discovery.store import Store

log = logging.getLogger(__name__)


class Scanner(Protocol):
    kind: str                         # "host", "network", "ssh", "import"
    # optional: `arguments`, the command it runs, shown with -v and stored on the scan

    def targets(self) -> tuple[str, ...]: ...

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]: ...


class Exporter(Protocol):
    format: str

    def write(self, inventory: dict, path: Path) -> None: ...


@dataclass(slots=True)
class ScanResult:
    scan_id: int
    status: str                       # "completed", "interrupted", "failed"
    host_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


def run_scan(store: Store, scanner: Scanner, *, arguments: str | None = None,
             progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> ScanResult:
    """Run `scanner`, writing each host to the store as it arrives; return what happened.

    Ctrl-C (KeyboardInterrupt) or `cancel` stops the scan and keeps every finished host (status
    interrupted). A scanner error marks the scan failed and is raised as EstateError after the
    hosts finished so far are kept.
    """
    ctx = ScanContext(progress=progress, cancel=cancel)
    arguments = arguments or getattr(scanner, "arguments", None)
    scan_id = store.start_scan(Scan(kind=scanner.kind, targets=tuple(scanner.targets()),
                                    arguments=arguments, started_at=ctx.started_at,
                                    origin=tuple(getattr(scanner, "origin_addresses", ()))))
    result = ScanResult(scan_id=scan_id, status="running", warnings=ctx.warnings)
    reports = scanner.scan(ctx)
    try:
        for report in reports:
            host_id, match = store.write_host_report(scan_id, report)
            result.host_ids.append(host_id)
            for name in ("software", "processes", "services", "databases", "connections", "interfaces"):
                result.counts[name] = result.counts.get(name, 0) + len(getattr(report, name))
            log.info("stored host %s%s", host_id, f" (matched on {match.reason})" if match else " (new)")
    except (ScanCancelled, KeyboardInterrupt):
        result.status = "interrupted"
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


def export_inventory(store: Store, exporter: Exporter, path: Path, *, scan_id: int | None = None,
                     filters=FILTERS, hosts_pattern: str | None = None, min_severity: str | None = None) -> dict:
    """Build the inventory (with the given dependency noise filters) and write it with `exporter` to `path`;
    return the inventory written. `hosts_pattern` and `min_severity` cut it down (inventory.filter_inventory)."""
    if scan_id is not None and store.get_scan(scan_id) is None:
        raise EstateError(f"no scan with id {scan_id} (see: estatemap scans)")
    inventory = build_inventory(store, scan_id=scan_id, filters=filters)
    if hosts_pattern is not None or min_severity is not None:
        inventory = filter_inventory(inventory, hosts_pattern=hosts_pattern, min_severity=min_severity)
    exporter.write(inventory, path)
    return inventory



def analyze(store: Store, *, as_of: date | None = None, progress: ProgressCallback | None = None,
            cancel: threading.Event | None = None) -> dict:
    """Run every analysis on the current inventory and store the results (replacing the previous ones).

    Legacy and insecure-protocol findings at `as_of` (default: today), the dependency graph's
    metrics, shared infrastructure, move groups and waves, single points of failure, cycles and
    split suggestions, and each host's migration risk. Returns the stored summary.
    """
    from discovery.analysis import analyze_graph
    from discovery.graph import build_graph
    from discovery.legacy import assess_inventory, load_eol_table
    from discovery.risk import score_hosts

    as_of = as_of or utc_now().date()
    ctx = ScanContext(progress=progress, cancel=cancel)
    inventory = build_inventory(store)
    ctx.report(0, 3, "legacy and protocol rules")
    findings = [_finding_row(f) for f in assess_inventory(inventory, load_eol_table(), as_of)]
    ctx.check_cancelled()
    ctx.report(1, 3, "dependency graph")
    result = analyze_graph(build_graph(inventory)).to_dict()
    ctx.check_cancelled()
    ctx.report(2, 3, "migration risk")
    risk = score_hosts(inventory, findings, result)
    groups = [{"id": g["id"], "name": g["name"], "wave": g["wave"], "host_ids": g["host_ids"],
               "explanation": g["explanation"], "edges": g["edges"]} for g in result["groups"]]
    summary = {key: result[key] for key in ("summary", "parameters", "shared", "single_points_of_failure",
                                            "cycles", "waves", "splits", "externals")}
    summary["findings"] = dict(Counter(f["severity"] for f in findings))
    summary["hosts"] = len(inventory["hosts"])
    names = {h["id"]: h["hostname"] or (h["addresses"] or [h["id"]])[0] for h in inventory["hosts"]}
    analysis_id = store.save_analysis(findings=findings, groups=groups, risk=risk, as_of=as_of.isoformat(),
                                      summary=summary)
    ctx.report(3, 3, "stored")
    return {"id": analysis_id, "as_of": as_of.isoformat(), **summary,
            "top_risk": sorted(((r["score"], names[h]) for h, r in risk.items()), reverse=True)[:5]}


def _finding_row(finding) -> dict:
    return dataclasses.asdict(finding)
