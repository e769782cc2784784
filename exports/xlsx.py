"""Excel export: one workbook, streamed (openpyxl write-only mode), so large estates keep memory bounded.

Sheets: Summary (estate counts, findings by severity, hosts by OS family, legacy share, coverage, waves, with
native bar and pie charts), Hosts (with each VM's hypervisor and cluster), Coverage (each host's depth and sources,
the blind spots first with what would close them), Services, Software, Databases, Dependencies, Layer 2, VMware
(one row per VM), VMware objects (the vCenters, datacenters, clusters, datastores and networks, with the VMs using
each), Findings, Move groups (with each group's wave reasons), Scans, Wave rules (the wave planner's rules, read
back by `estatemap import`). Every data sheet has a styled, frozen header row, an autofilter and column widths
from a sample of its rows; times are Excel dates (UTC), numbers are numbers (sizes in bytes, or in GiB where the
header says so), severity and risk are coloured by conditional formatting, and host names link to their row
on the Hosts sheet. Every text goes through exports.safe_cells, so nothing that came from the network is ever
evaluated.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, PieChart, Reference
from openpyxl.formatting.rule import ColorScaleRule, FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink

from discovery.analyses.coverage import coverage_rows
from discovery.analyses.vmware_rules import vmware_rows
from discovery.files.atomic_files import atomic_output
from discovery.analyses.wave_rules import RULES
from discovery.inventory.layer2 import PROTOCOL_NAMES
from discovery.records.model import COVERAGE_DEPTHS, RISK_SCALE, SEVERITIES, SEVERITY_COLOURS
from exports.safe_cells import flatten, looks_like_formula, parse_datetime, xlsx_text, xlsx_value

HEADER_FILL = PatternFill(start_color="1F4E78", end_color="1F4E78", fill_type="solid")
HEADER_FONT = Font(bold=True, color="FFFFFF")
LINK_FONT = Font(color="0563C1", underline="single")
DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
GIB = 1 << 30
GIB_FORMAT = "#,##0.0"
# Rows whose widths are measured to size the columns; widths are capped.
WIDTH_SAMPLE, MIN_WIDTH, MAX_WIDTH = 500, 8, 60
WRAP_WIDTH = 50          # long prose (a finding's title, evidence, recommendation) wraps at this width
WRAPPED = Alignment(vertical="top", wrap_text=True)
ROLLED_UP_RULES = ("unidentified",)  # one Findings row per host for these; each finding stays in the JSON export
# Each hyperlink is held in memory until its sheet is closed (~320 bytes): past this many per sheet, host
# names are written as plain text, so memory stays bounded however large the estate.
LINK_LIMIT = 100_000
# Nested values (risk factors, scripts, sizes) are shown as short text.
SHORT_TEXT = 500


@dataclass(frozen=True)
class Column:
    """One column of a sheet: its header, how to get its value from a row, and what kind of value it is.

    kind: text (the default), number, bytes, gib (bytes shown as GiB), percent (a share, 0 to 1), date, bool,
    severity, risk, host (a host id shown as its name, linked to its row on Hosts), short (nested data as short
    text), wrap (prose, wrapped in a narrower column).
    """
    header: str
    get: Callable[[dict], object]
    kind: str = "text"


def key(name: str) -> Callable[[dict], object]:
    return lambda row: row.get(name)


def col(header: str, name: str, kind: str = "text") -> Column:
    return Column(header, key(name), kind)


def short(value, limit: int = SHORT_TEXT) -> str | None:
    """Return nested data as one short line (cut at `limit` characters), or None when empty."""
    if value in (None, [], {}, ""):
        return None
    text = flatten(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def risk_factors_text(factors) -> str | None:
    return short("; ".join(f"{f.get('factor')} +{f.get('points')}: {f.get('detail')}" for f in factors or ()))


def scripts_text(scripts) -> str | None:
    return short("; ".join(f"{s.get('id')}: {s.get('output') or flatten(s.get('data'))}" for s in scripts or ()))


def disks_text(disks) -> str | None:
    return short(", ".join(" ".join(str(p) for p in (d.get("name"), d.get("model"), d.get("size_bytes")) if p)
                           for d in disks or ()))


def platform_object_rows(inventory: dict) -> list[dict]:
    """The VMware objects sheet's rows: each platform object with its details as columns (type, product, version,
    build, ESXi hosts and their names, cores, memory, capacity, free, the share used, URL, instance UUID) and its
    datacenter, by kind (vCenters, datacenters, clusters, datastores, networks), vCenter, datacenter and name."""
    names = {h["id"]: h.get("hostname") or h["id"] for h in inventory.get("hosts") or ()}
    rank = {kind: i for i, kind in enumerate(PLATFORM_KIND_ORDER)}
    rows = []
    for obj in inventory.get("platform_objects") or ():
        details = obj.get("details") if isinstance(obj.get("details"), dict) else {}
        kind = obj.get("kind")
        # a cluster's or datacenter's type is only its class name; a datastore's (VMFS, NFS…), a network's (standard
        # or distributed port group) and a vCenter's API type (VirtualCenter, or HostAgent for a lone ESXi) say more
        kind_type = {"vcenter": details.get("api_type"), "datastore": details.get("type"),
                     "network": details.get("type")}.get(kind)
        capacity, free = details.get("capacity_bytes"), details.get("free_bytes")
        used = None
        if _is_number(capacity) and _is_number(free) and capacity > 0:
            used = (capacity - free) / capacity
        rows.append({
            "id": obj.get("id"), "kind": kind, "name": obj.get("name"), "server": obj.get("server"),
            "key": obj.get("key"), "observed_at": obj.get("observed_at"), "vm_count": obj.get("vm_count"),
            "datacenter": obj.get("name") if kind == "datacenter" else details.get("datacenter"),
            "type": kind_type, "product": details.get("product"), "version": details.get("version"),
            "build": details.get("build"), "hosts": details.get("hosts"),
            "_esxi_hosts": sorted((names.get(i, i) for i in obj.get("esxi_host_ids") or ()), key=str.lower) or None,
            "cpu_cores": details.get("cpu_cores"), "memory_bytes": details.get("memory_bytes"),
            "capacity_bytes": capacity, "free_bytes": free, "used_share": used, "url": details.get("url"),
            "instance_uuid": details.get("instance_uuid"),
        })
    return sorted(rows, key=lambda r: (rank.get(r["kind"], len(rank)), str(r["kind"] or ""),
                                       *(str(r[k] or "").lower() for k in ("server", "datacenter", "name"))))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


HOST_COLUMNS = (
    col("Hostname", "hostname"), col("Host ID", "id"), col("Addresses", "addresses"), col("MACs", "macs"),
    col("Switch", "switch_host_id", "host"), col("Switch port", "switch_port"),
    col("Hypervisor", "hypervisor"), col("Cluster", "cluster"),
    col("OS name", "os_name"), col("OS version", "os_version"), col("OS family", "os_family"),
    col("Vendor", "vendor"), col("Model", "model"), col("CPU model", "cpu_model"),
    col("CPU cores", "cpu_cores", "number"),
    col("Memory (bytes)", "memory_bytes", "bytes"), Column("Disks", lambda h: disks_text(h.get("disks"))),
    col("Sources", "sources"), col("Coverage", "coverage_depth"), col("Coverage levels", "coverage_levels"),
    col("Coverage sources", "coverage_sources"), col("Risk score", "risk_score", "risk"),
    Column("Risk factors", lambda h: risk_factors_text(h.get("risk_factors"))), col("Legacy", "legacy", "bool"),
    col("Move group", "_group"), col("Wave", "_wave", "number"),
    col("Owner", "owner"), col("Criticality", "criticality"), col("Patient data", "patient_data", "bool"),
    col("Notes", "notes"), col("Domain", "domain"), col("FQDN", "fqdn"), col("Kernel", "kernel"),
    col("Architecture", "architecture"), col("Virtualization", "virtualization"), col("Serial", "serial"),
    col("Hardware UUID", "hardware_uuid"), col("Boot time (UTC)", "boot_time", "date"), col("Status", "status"),
    col("MAC vendor", "mac_vendor"), col("First seen (UTC)", "first_seen", "date"),
    col("Last seen (UTC)", "last_seen", "date"), Column("Scripts", lambda h: scripts_text(h.get("scripts"))),
)
SERVICE_COLUMNS = (
    col("Host", "host_id", "host"), col("Address", "address"), col("Port", "port", "number"),
    col("Protocol", "protocol"), col("State", "state"), col("Name", "name"), col("Product", "product"),
    col("Version", "version"), col("Category", "category"), col("Process", "process"), col("PID", "pid", "number"),
    Column("CPEs", lambda s: s.get("cpes") or s.get("cpe")), col("Extra info", "extra_info"),
    col("Tunnel", "tunnel"), col("Source", "source"), col("Observed (UTC)", "observed_at", "date"),
    Column("Scripts", lambda s: scripts_text(s.get("scripts"))), col("Host ID", "host_id"), col("Service ID", "id"),
)
SOFTWARE_COLUMNS = (
    col("Host", "host_id", "host"), col("Name", "name"), col("Version", "version"), col("Vendor", "vendor"),
    col("Architecture", "architecture"), col("Source", "source"), col("Host ID", "host_id"),
)
DATABASE_COLUMNS = (
    col("Host", "host_id", "host"), col("Engine", "engine"), col("Version", "version"), col("Port", "port", "number"),
    col("Databases", "databases"), Column("Sizes (bytes)", lambda d: short(d.get("sizes"))), col("Process", "process"),
    col("PID", "pid", "number"), col("Observed (UTC)", "observed_at", "date"), col("Service ID", "service_id"),
    col("Host ID", "host_id"), col("Database ID", "id"),
)
DEPENDENCY_COLUMNS = (
    col("Source host", "source_host_id", "host"), col("Source process", "source_process"),
    col("Target host", "target_host_id", "host"), col("Target port", "target_port", "number"),
    col("Protocol", "protocol"), col("Target process", "target_process"), col("Target product", "target_product"),
    col("Target category", "target_category"), col("Connections", "connections", "number"),
    col("Evidence", "evidence"), col("Shared infrastructure", "shared_infrastructure", "bool"),
    col("First seen (UTC)", "first_seen", "date"), col("Last seen (UTC)", "last_seen", "date"),
    col("Samples", "samples", "number"), col("Observed by", "observed_by"), col("Loopback", "loopback", "bool"),
    col("External", "external", "bool"), col("Source host ID", "source_host_id"),
    col("Target host ID", "target_host_id"), col("Target service ID", "target_service_id"), col("ID", "id"),
)
FINDING_COLUMNS = (
    col("Host", "host_id", "host"), col("Severity", "severity", "severity"), col("Confidence", "confidence"),
    col("Category", "category"), col("Rule", "rule"), col("Title", "title", "wrap"),
    col("Evidence", "evidence", "wrap"), col("Recommendation", "recommendation", "wrap"),
    col("Subject type", "subject_type"), col("Subject ID", "subject_id"),
    Column("Data", lambda f: short(f.get("data"))), col("Host ID", "host_id"), col("Finding ID", "id"),
)
GROUP_COLUMNS = (
    col("Name", "name"), Column("Wave", lambda g: effective_wave(g), "number"),
    col("Analysis wave", "wave", "number"),
    Column("Wave reasons", lambda g: "\n".join(g.get("wave_reasons") or ()) or None, "wrap"),
    Column("Hosts", lambda g: len(g.get("host_ids") or ()), "number"),
    col("Host names", "_host_names"), col("Explanation", "explanation"), col("Group ID", "id"),
    col("Host IDs", "host_ids"),
)
L2_COLUMNS = (
    col("Switch", "source_host_id", "host"), col("Switch port", "source_port"),
    col("Device", "target_host_id", "host"), col("Device port", "target_port"),
    Column("Seen by", lambda k: ", ".join(PROTOCOL_NAMES.get(p, str(p))
                                          for p in k.get("protocols") or [k.get("protocol")])),
    col("Announced name", "target_name"), col("MAC", "target_mac"), col("Address", "target_address"),
    col("Announced description", "target_description"), col("VLAN", "vlan", "number"),
    col("Observed (UTC)", "observed_at", "date"), col("Switch ID", "source_host_id"),
    col("Device ID", "target_host_id"),
)
COVERAGE_COLUMNS = (
    col("Host", "host_id", "host"), col("Depth", "depth"), col("Levels", "levels"), col("Sources", "sources"),
    col("Dependencies", "dependencies", "number"), col("Blind spot", "blind_spot", "bool"),
    col("What would close the gap", "hint", "wrap"), col("Host ID", "host_id"),
)
VMWARE_COLUMNS = (
    col("VM", "host_id", "host"), col("Power state", "power_state"), col("ESXi host", "esxi_host"),
    col("Cluster", "cluster"), col("Datacenter", "datacenter"), col("Folder", "folder"),
    col("Datastores", "datastores"), col("Networks", "networks"), col("vCPUs", "vcpus", "number"),
    col("Memory (bytes)", "memory_bytes", "bytes"), col("Guest OS (configured)", "guest_os_configured"),
    col("Guest OS (tools)", "guest_os_reported"), col("Hardware version", "hardware_version"),
    col("Tools", "tools_running"), col("Tools version status", "tools_version_status"),
    col("Tools version", "tools_version"), col("Template", "template", "bool"), col("Addresses", "addresses"),
    col("Host ID", "host_id"),
)
# vCenter's objects that are not hosts (the inventory's platform_objects), one row each: see platform_object_rows.
PLATFORM_OBJECTS_SHEET = "VMware objects"
PLATFORM_KIND_ORDER = ("vcenter", "datacenter", "cluster", "datastore", "network")
PLATFORM_COLUMNS = (
    col("Kind", "kind"), col("Name", "name"), col("vCenter", "server"), col("Datacenter", "datacenter"),
    col("Type", "type"), col("Product", "product"), col("Version", "version"), col("Build", "build"),
    col("ESXi hosts", "hosts", "number"), col("ESXi host names", "_esxi_hosts"),
    col("CPU cores", "cpu_cores", "number"),
    col("Memory (GiB)", "memory_bytes", "gib"), col("Capacity (GiB)", "capacity_bytes", "gib"),
    col("Free (GiB)", "free_bytes", "gib"), col("Used", "used_share", "percent"), col("VMs", "vm_count", "number"),
    col("URL", "url"), col("Instance UUID", "instance_uuid"), col("Observed (UTC)", "observed_at", "date"),
    col("Key", "key"), col("ID", "id"),
)
# The Wave rules sheet (after Scans): its Value column is read back by `estatemap import`.
WAVE_RULES_SHEET = "Wave rules"
WAVE_RULE_COLUMNS = (
    col("Rule", "rule"), col("Setting", "label"), col("Value", "value"), col("Default", "default"),
    col("Allowed values", "allowed"), col("Meaning", "help", "wrap"),
)
SCAN_COLUMNS = (
    col("Scan ID", "id", "number"), col("Kind", "kind"), col("Status", "status"),
    col("Started (UTC)", "started_at", "date"), col("Finished (UTC)", "finished_at", "date"),
    col("Targets", "targets"), col("Hosts", "host_count", "number"), col("Arguments", "arguments"),
    Column("Warnings", lambda s: short("; ".join(str(w) for w in s.get("warnings") or ()) or None)),
    col("Error", "error"),
)
# (sheet, inventory key (or a DERIVED table's name), columns), in workbook order after Summary.
SHEETS = (
    ("Hosts", "hosts", HOST_COLUMNS), ("Coverage", "coverage_rows", COVERAGE_COLUMNS),
    ("Services", "services", SERVICE_COLUMNS),
    ("Software", "software", SOFTWARE_COLUMNS), ("Databases", "databases", DATABASE_COLUMNS),
    ("Dependencies", "dependencies", DEPENDENCY_COLUMNS), ("Layer 2", "l2_links", L2_COLUMNS),
    ("VMware", "vmware_rows", VMWARE_COLUMNS), (PLATFORM_OBJECTS_SHEET, "platform_object_rows", PLATFORM_COLUMNS),
    ("Findings", "findings", FINDING_COLUMNS),
    ("Move groups", "groups", GROUP_COLUMNS), ("Scans", "scans", SCAN_COLUMNS),
)
# Tables made from the inventory rather than read from one of its keys.
DERIVED = {"coverage_rows": coverage_rows, "vmware_rows": vmware_rows,
           "platform_object_rows": platform_object_rows}


class XlsxExporter:
    format = "xlsx"

    def __init__(self, *, link_limit: int = LINK_LIMIT):
        self.link_limit = link_limit

    def write(self, inventory: dict, path: Path) -> None:
        """Write `inventory` to `path` as an Excel workbook, atomically; raises EstateError if it cannot."""
        wb = None
        try:
            wb = build_workbook(inventory, link_limit=self.link_limit)
            with atomic_output(path, "wb") as out:
                wb.save(out)
        finally:
            if wb is not None:
                discard_workbook(wb)


def discard_workbook(wb: Workbook) -> None:
    """Remove the temporary files (0600, in the temp folder) a write-only workbook keeps its sheets in until
    it is saved; saving removes them too, so this matters after a failure. Safe to call twice."""
    for ws in wb.worksheets:
        writer = getattr(ws, "_writer", None)
        if writer is None or not isinstance(writer.out, str) or not os.path.exists(writer.out):
            continue
        with contextlib.suppress(Exception):
            if ws._rows is not None:
                ws._rows.close()
            writer.close()
        with contextlib.suppress(OSError, ValueError):
            writer.cleanup()


def build_workbook(inventory: dict, *, link_limit: int = LINK_LIMIT) -> Workbook:
    """Return a write-only workbook of the inventory, ready to save.

    Rows are streamed to one temporary file per sheet as they are made; saving zips those files. Call
    discard_workbook if the workbook is not saved.
    """
    wb = Workbook(write_only=True)
    summary = wb.create_sheet("Summary")
    styles = _Styles(summary)
    hosts = inventory.get("hosts") or []
    labels = {h["id"]: h.get("hostname") or (h.get("addresses") or [None])[0] or h["id"] for h in hosts}
    host_rows = {h["id"]: row for row, h in enumerate(hosts, 2)}
    links = _HostLinks(labels, host_rows, styles)
    _write_summary(summary, inventory, styles)
    for title, name, columns in SHEETS:
        rows = DERIVED[name](inventory) if name in DERIVED else inventory.get(name) or []
        if name == "hosts":
            rows = _hosts_with_groups(rows, inventory.get("groups") or [])
        elif name == "groups":
            rows = [{**g, "_host_names": [labels.get(h, h) for h in g.get("host_ids") or ()]} for g in rows]
        elif name == "findings":
            rows = findings_for_sheet(rows, labels)
        _write_table(wb.create_sheet(title), rows, columns, styles, links, link_limit)
    _write_table(wb.create_sheet(WAVE_RULES_SHEET), wave_rule_rows(inventory), WAVE_RULE_COLUMNS, styles, links,
                 link_limit)
    return wb


def wave_rule_rows(inventory: dict) -> list[dict]:
    """The Wave rules sheet's rows: each rule with the value the wave plan used (the defaults before any
    analysis), its default, the values it takes and what it does. Its Value cells are read back by
    `estatemap import` (scanners.workbook_annotations)."""
    used = (inventory.get("wave_plan") or {}).get("rules") or {}
    return [{"rule": r.name, "label": r.label, "value": _rule_cell(r, used.get(r.name, r.default)),
             "default": _rule_cell(r, r.default), "allowed": r.allowed(), "help": r.help} for r in RULES]


def _rule_cell(rule, value):
    """A rule's value as its cell holds it: a number as a number, a switch as yes or no, a choice as text."""
    return value if rule.kind == "int" and isinstance(value, int) and not isinstance(value, bool) else rule.text(value)


def findings_for_sheet(findings: list[dict], labels: dict) -> list[dict]:
    """The Findings sheet's rows: the most severe first, then by host name and title; a host's several
    unidentified-service findings as one row naming their ports (each finding stays in the JSON export)."""
    rows, rolled = [], {}
    for f in findings:
        if f.get("rule") in ROLLED_UP_RULES and f.get("host_id"):
            rolled.setdefault((f["rule"], f["host_id"]), []).append(f)
        else:
            rows.append(f)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    for (rule, host_id), group in rolled.items():
        if len(group) == 1:
            rows.extend(group)
            continue
        worst = min(group, key=lambda f: rank.get(f.get("severity"), len(rank)))
        ports = sorted({(f.get("data") or {}).get("port") for f in group} - {None})
        rows.append({**worst, "id": f"{rule}:{host_id}:rolled-up", "subject_type": "host", "subject_id": host_id,
                     "title": f"{len(group)} unidentified services on ports {', '.join(map(str, ports))}",
                     "evidence": "; ".join(f.get("evidence") or "" for f in group),
                     "data": {"rolled_up": [f["id"] for f in group], "ports": ports}})
    return sorted(rows, key=lambda f: (rank.get(f.get("severity"), len(rank)),
                                       str(labels.get(f.get("host_id"), f.get("host_id") or "")).lower(),
                                       f.get("title") or "", f.get("id") or ""))


def _hosts_with_groups(hosts: list[dict], groups: list[dict]) -> Iterator[dict]:
    group_of = {h: g for g in groups for h in g.get("host_ids") or ()}
    for h in hosts:
        g = group_of.get(h["id"])
        yield {**h, "_group": g and g.get("name"), "_wave": g and effective_wave(g)} if g else h


def effective_wave(group: dict) -> int | None:
    """Return the wave a group moves in: the architects' override when there is one, else the analysis's."""
    override = group.get("wave_override")
    return override if override is not None else group.get("wave")


class _Styles:
    """Prototype cells whose style arrays are copied onto data cells (much cheaper than styling each cell)."""

    def __init__(self, ws):
        """`ws`: any worksheet of the workbook (styles belong to the workbook)."""
        self.header = self._proto(ws, font=HEADER_FONT, fill=HEADER_FILL,
                                  alignment=Alignment(vertical="center", wrap_text=False))
        self.title = self._proto(ws, font=Font(bold=True, size=14))
        self.section = self._proto(ws, font=Font(bold=True, color="1F4E78", size=12))
        self.date = self._proto(ws, number_format=DATE_FORMAT)
        self.bytes = self._proto(ws, number_format="#,##0")
        self.percent = self._proto(ws, number_format="0.0%")
        self.gib = self._proto(ws, number_format=GIB_FORMAT)
        self.link = self._proto(ws, font=LINK_FONT)
        self.quoted_link = self._proto(ws, font=LINK_FONT, quotePrefix=True)  # a link whose text looks like a formula

    @staticmethod
    def _proto(ws, **style):
        cell = WriteOnlyCell(ws)
        for name, value in style.items():
            setattr(cell, name, value)
        return cell._style

    @staticmethod
    def apply(cell, style):
        cell._style = style.__copy__()
        return cell


class _HostLinks:
    """Host ids as their names, linked to the host's row on the Hosts sheet (up to a limit per sheet)."""

    def __init__(self, labels: dict, rows: dict, styles: _Styles):
        self.labels, self.rows, self.styles = labels, rows, styles

    def cell(self, ws, host_id, budget: list[int]):
        if host_id is None:
            return None
        row = self.rows.get(host_id)
        if row is None:  # a peer outside the inventory: external:<address>
            return xlsx_value(ws, str(host_id).removeprefix("external:"))
        label = self.labels[host_id]
        if budget[0] <= 0:
            return xlsx_value(ws, label)
        budget[0] -= 1
        text = xlsx_text(label)
        cell = WriteOnlyCell(ws, text)
        cell.data_type = "s"
        self.styles.apply(cell, self.styles.quoted_link if looks_like_formula(text) else self.styles.link)
        cell.hyperlink = Hyperlink(ref="", location=f"'Hosts'!A{row}")
        return cell


def _cell(ws, column: Column, row: dict, styles: _Styles, links: _HostLinks, budget: list[int]):
    value = column.get(row)
    kind = column.kind
    if kind == "host":
        return links.cell(ws, value, budget)
    if kind == "date":
        moment = parse_datetime(value)
        if moment is not None:
            return styles.apply(WriteOnlyCell(ws, moment), styles.date)
    elif kind == "bytes" and _is_number(value):
        return styles.apply(WriteOnlyCell(ws, value), styles.bytes)
    elif kind == "gib" and _is_number(value):
        return styles.apply(WriteOnlyCell(ws, value / GIB), styles.gib)
    elif kind == "percent" and _is_number(value):
        return styles.apply(WriteOnlyCell(ws, value), styles.percent)
    elif kind == "wrap":
        cell = xlsx_value(ws, value)
        if isinstance(cell, str):
            cell = WriteOnlyCell(ws, cell)
            cell.data_type = "s"
        if hasattr(cell, "alignment"):  # a text that looks like a formula keeps its quote prefix
            cell.alignment = WRAPPED
        return cell
    return xlsx_value(ws, value)


def _display_width(value) -> int:
    if value is None:
        return 0
    if isinstance(value, (list, tuple, dict)):
        value = flatten(value)
    return max((len(line) for line in str(value).splitlines()), default=0)


def _column_widths(rows: list[dict], columns: Iterable[Column], labels: dict) -> list[float]:
    widths = []
    for column in columns:
        width = len(column.header) + 3  # room for the autofilter's button
        for row in rows:
            value = column.get(row)
            if column.kind == "host":
                value = labels.get(value, value)
            elif column.kind == "date":
                value = "2026-01-01 00:00:00" if value else None
            elif column.kind == "gib" and _is_number(value):
                value = f"{value / GIB:,.1f}"
            elif column.kind == "percent" and _is_number(value):
                value = f"{value:.1%}"
            width = max(width, _display_width(value) + 2)
        widths.append(min(max(width, MIN_WIDTH), WRAP_WIDTH if column.kind == "wrap" else MAX_WIDTH))
    return widths


def _write_table(ws, rows, columns: tuple[Column, ...], styles: _Styles, links: _HostLinks, link_limit: int) -> None:
    sample = rows[:WIDTH_SAMPLE] if isinstance(rows, list) else None
    if sample is None:  # a generator: measure its first rows, then write them before the rest
        rows = iter(rows)
        sample = [r for _, r in zip(range(WIDTH_SAMPLE), rows)]
        rest = rows
    else:
        rest = iter(rows[WIDTH_SAMPLE:])
    for index, width in enumerate(_column_widths(sample, columns, links.labels), 1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    ws.append([styles.apply(WriteOnlyCell(ws, c.header), styles.header) for c in columns])
    budget = [link_limit]
    count = 0
    for source in (sample, rest):
        for row in source:
            ws.append([_cell(ws, c, row, styles, links, budget) for c in columns])
            count += 1
    last_row = count + 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{last_row}"
    for index, column in enumerate(columns, 1):
        letter = get_column_letter(index)
        cells = f"{letter}2:{letter}{max(last_row, 2)}"
        if column.kind == "severity":
            _add_severity_rules(ws, cells, f"${letter}2")
        elif column.kind == "risk":
            (start, start_colour), (mid, mid_colour), (end, end_colour) = RISK_SCALE
            ws.conditional_formatting.add(cells, ColorScaleRule(
                start_type="num", start_value=start, start_color=start_colour.lstrip("#"), mid_type="num",
                mid_value=mid, mid_color=mid_colour.lstrip("#"), end_type="num", end_value=end,
                end_color=end_colour.lstrip("#")))
        elif column.header == "Legacy":
            ws.conditional_formatting.add(cells, FormulaRule(
                formula=[f"${letter}2=TRUE"], fill=_fill("F8CBAD"), font=Font(bold=True)))


def _fill(colour: str) -> PatternFill:
    return PatternFill(start_color=colour, end_color=colour, fill_type="solid")


def _add_severity_rules(ws, cells: str, first: str) -> None:
    for severity, (background, foreground) in SEVERITY_COLOURS.items():
        ws.conditional_formatting.add(cells, FormulaRule(
            formula=[f'LOWER({first})="{severity}"'], fill=_fill(background.lstrip("#")),
            font=Font(color=foreground.lstrip("#")),
            stopIfTrue=True))


def summarise(inventory: dict) -> dict:
    """Return the Summary sheet's figures: counts, findings by severity, hosts by OS family, legacy, coverage
    (the inventory's coverage_summary, None when it has none), waves."""
    hosts = inventory.get("hosts") or []
    groups = inventory.get("groups") or []
    findings = Counter((f.get("severity") or "unknown") for f in inventory.get("findings") or ())
    severities = [(s, findings.pop(s, 0)) for s in SEVERITIES] + sorted(findings.items())
    families = Counter(h.get("os_family") or "unknown" for h in hosts).most_common()
    judged = [h for h in hosts if h.get("legacy") is not None]
    analysis = inventory.get("analysis") or {}
    waves = analysis.get("waves")
    if waves is None:
        by_wave: dict = {}
        for g in groups:
            by_wave.setdefault(g.get("wave"), []).append(g)
        waves = [{"number": w, "group_ids": [g["id"] for g in gs],
                  "host_ids": [h for g in gs for h in g.get("host_ids") or ()], "note": None}
                 for w, gs in sorted(by_wave.items(), key=lambda item: (item[0] is None, item[0] or 0))]
    counts = [("Hosts", len(hosts))] + [(label, len(inventory.get(name) or ())) for label, name in (
        ("Services", "services"), ("Software packages", "software"), ("Databases", "databases"),
        ("Connections", "connections"), ("Dependencies", "dependencies"), ("Findings", "findings"),
        ("Move groups", "groups"), ("Scans", "scans"))]
    return {"counts": counts, "severities": severities, "families": families,
            "legacy": sum(1 for h in judged if h["legacy"]), "judged": len(judged), "waves": waves,
            "as_of": analysis.get("as_of"), "coverage": inventory.get("coverage_summary")}


def _write_summary(ws, inventory: dict, styles: _Styles) -> None:
    figures = summarise(inventory)
    for letter, width in zip("ABCD", (30, 14, 14, 70)):
        ws.column_dimensions[letter].width = width
    rows: list[list] = []

    def styled(value, style):
        return styles.apply(WriteOnlyCell(ws, value), style)

    def header(*titles):
        rows.append([styled(t, styles.header) for t in titles])

    def section(title):
        rows.append([])
        rows.append([styled(title, styles.section)])

    generated = parse_datetime(inventory.get("generated_at"))
    rows.append([styled("Estate Mapper: estate summary", styles.title)])
    rows.append(["Generated (UTC)", styled(generated, styles.date) if generated else None])
    rows.append(["Schema", xlsx_value(ws, inventory.get("schema"))])
    rows.append(["Analysis as of", xlsx_value(ws, figures["as_of"]) if figures["as_of"]
                 else "not analysed (run: estatemap analyze)"])
    section("Estate")
    header("Item", "Count")
    rows.extend([label, n] for label, n in figures["counts"])
    section("Findings by severity")
    header("Severity", "Findings")
    severity_first = len(rows) + 1
    rows.extend([xlsx_value(ws, s), n] for s, n in figures["severities"])
    severity_last = len(rows)
    section("Hosts by OS family")
    header("OS family", "Hosts")
    family_first = len(rows) + 1
    rows.extend([xlsx_value(ws, family), n] for family, n in figures["families"])
    family_last = len(rows)
    section("Legacy (something past end of support)")
    if figures["judged"]:
        rows.append(["Legacy hosts", figures["legacy"]])
        rows.append(["Hosts analysed", figures["judged"]])
        rows.append(["Legacy share", styled(figures["legacy"] / figures["judged"], styles.percent)])
    else:
        rows.append(["Legacy share", "not analysed (run: estatemap analyze)"])
    section("Coverage (how deep each host is known)")
    coverage = figures["coverage"]
    depth_first = depth_last = 0
    if coverage:
        header("Depth", "Hosts")
        depth_first = len(rows) + 1
        rows.extend([depth, coverage["by_depth"].get(depth, 0)] for depth in COVERAGE_DEPTHS)
        depth_last = len(rows)
        for label, share in (("Deep inventory (software or sockets)", coverage["deep_share"]),
                             ("Sockets read on the host", coverage["sockets_share"])):
            rows.append([label, styled(share, styles.percent) if share is not None else None])
        rows.append(["Blind spots (below sockets; see Coverage)", len(coverage["blind_spots"])])
    else:
        rows.append(["Coverage", "not known"])
    section("Waves (the wave plan: its rules are on the Wave rules sheet)")
    header("Wave", "Move groups", "Hosts", "Reasons")
    rows.extend([w.get("number"), len(w.get("group_ids") or ()), len(w.get("host_ids") or ()),
                 xlsx_value(ws, w.get("note"))] for w in figures["waves"])
    plan_warnings = (inventory.get("wave_plan") or {}).get("warnings") or []
    if plan_warnings:
        section("Wave plan warnings (what the rules or the pins break)")
        rows.extend([xlsx_value(ws, warning)] for warning in plan_warnings)
    for row in rows:
        ws.append(row)
    _add_severity_rules(ws, f"A{severity_first}:A{severity_last}", f"$A{severity_first}")
    if severity_last >= severity_first:
        chart = BarChart()
        chart.type, chart.style, chart.legend = "col", 10, None
        chart.title, chart.y_axis.title = "Findings by severity", "Findings"
        chart.add_data(Reference(ws, min_col=2, min_row=severity_first - 1, max_row=severity_last),
                       titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=severity_first, max_row=severity_last))
        chart.height, chart.width = 7.5, 14
        ws.add_chart(chart, "F2")
    if family_last >= family_first:
        pie = PieChart()
        pie.title = "Hosts by OS family"
        pie.add_data(Reference(ws, min_col=2, min_row=family_first - 1, max_row=family_last), titles_from_data=True)
        pie.set_categories(Reference(ws, min_col=1, min_row=family_first, max_row=family_last))
        pie.height, pie.width = 7.5, 14
        ws.add_chart(pie, "F18")
    if depth_last >= depth_first > 0:
        bars = BarChart()
        bars.type, bars.style, bars.legend = "bar", 10, None
        bars.title, bars.x_axis.title = "Hosts by coverage depth", "Depth"
        bars.add_data(Reference(ws, min_col=2, min_row=depth_first - 1, max_row=depth_last), titles_from_data=True)
        bars.set_categories(Reference(ws, min_col=1, min_row=depth_first, max_row=depth_last))
        bars.height, bars.width = 7.5, 14
        ws.add_chart(bars, "F34")
