"""The inventory: tabs of hosts, services, software, databases and connections, and the selected host's details.

The details pane shows everything known about one host (where it runs when vCenter described it: a VM's ESXi host,
cluster and datacenter, or the VMs an ESXi host runs; hardware, OS, addresses, software, services, connections in
and out, findings, risk factors, coverage: which sources saw it and how deep) and holds the
annotation editor (owner, criticality, patient data, notes), which writes to the store through
`gui.data.save_host_annotation`.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox,
                               QPlainTextEdit, QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from discovery.analyses.analysis import fan_in_out
from discovery.analyses.coverage import SOURCE_LABELS
from discovery.analyses.graph import host_graph
from discovery.inventory.virtualization import ESXI_SCRIPT, script_data
from discovery.records.annotations import annotation_problem
from discovery.records.model import CRITICALITIES, NO_SEVERITY_COLOURS, SEVERITY_COLOURS, EstateError, counted
from gui.data import Snapshot, save_host_annotation
from gui.models import Column, format_bytes, format_datetime, format_number, severity_rank
from gui.table_view import TOGGLE_SCHEME, DetailsPaneView, RecordTableView, host_link

# Patient data (discovery.records.model.PATIENT_DATA) in the order the form offers it: unset (None) shows as unknown.
PATIENT_DATA = ("unknown", "yes", "no")
ANNOTATION_FIELDS = ("owner", "criticality", "patient_data", "notes")
# A host's details list at most this many packages, services or peers (the tabs have them all).
DETAILS_LIMIT = 300


def _os_text(host: dict) -> str | None:
    return " ".join(p for p in (host.get("os_name"), host.get("os_version")) if p) or None


# What a host does, most telling first: the categories of its services are shown in this order.
ROLE_ORDER = ("healthcare", "database", "web", "messaging", "directory", "infrastructure", "file-transfer",
              "remote-access", "other")
# Facts about a host that come from the rest of the snapshot (its services, the graph, the analysis), kept
# beside the host rows in `HostFacts` rather than written into them.
FACT_KEYS = ("role", "dependents", "group", "findings_count")


class HostFacts(dict):
    """{host id: {"role", "dependents", "group", "findings_count"}}, refilled for each snapshot
    (`build_host_facts`); the Hosts tab's derived columns read it."""

    def value(self, key: str) -> Callable[[dict], object]:
        return lambda row: (self.get(row.get("id")) or {}).get(key)


def build_host_facts(snapshot: Snapshot | None) -> dict[str, dict]:
    """Return {host id: {"role", "dependents", "group", "findings_count"}}: the categories of its listening
    services (most telling first), how many hosts depend on it directly (discovery.analyses.analysis.fan_in_out
    on the host graph), its move group's name and its number of findings (None before an analysis)."""
    if snapshot is None:
        return {}
    inventory = snapshot.inventory
    analysed = inventory.get("analysis") is not None
    categories: dict[str, set] = defaultdict(set)
    for service in inventory.get("services") or ():
        if service.get("category") and service.get("state") in (None, "open", "listening"):
            categories[service["host_id"]].add(service["category"])
    fan = fan_in_out(host_graph(snapshot.graph)) if snapshot.graph is not None else {}
    groups = {h: g.get("name") or g["id"] for g in inventory.get("groups") or () for h in g.get("host_ids") or ()}
    findings = Counter(f.get("host_id") for f in inventory.get("findings") or ())
    facts = {}
    for host in inventory.get("hosts") or ():
        host_id = host["id"]
        seen = categories.get(host_id, set())
        telling = [c for c in ROLE_ORDER if c in seen and c != "other"] or [c for c in ROLE_ORDER if c in seen]
        facts[host_id] = {"role": ", ".join(telling) or None, "dependents": fan.get(host_id, (0,))[0],
                          "group": groups.get(host_id), "findings_count": findings[host_id] if analysed else None}
    return facts


def host_columns(facts: HostFacts) -> tuple[Column, ...]:
    """Return the Hosts tab's columns, in order of importance; the derived ones read `facts`."""
    return (
        Column("hostname", "Hostname", width=18),
        Column("risk_score", "Risk", "risk", width=5),
        Column("legacy", "Legacy", "bool", width=6),
        Column("role", "Role", width=14, value=facts.value("role")),
        Column("dependents", "Dependents", "int", width=5, value=facts.value("dependents")),
        Column("group", "Group", width=14, value=facts.value("group")),
        Column("findings_count", "Findings", "int", width=5, value=facts.value("findings_count")),
        Column("addresses", "Addresses", "list", width=16),
        Column("os", "OS", width=22, value=_os_text),
        Column("os_family", "OS family", width=9, hidden=True),
        Column("criticality", "Criticality", width=9),
        Column("owner", "Owner", width=14),
        Column("patient_data", "Patient data", width=8, hidden=True),
        Column("vendor", "Vendor", width=12, hidden=True),
        Column("model", "Model", width=14, hidden=True),
        Column("cpu_cores", "Cores", "int", width=5, hidden=True),
        Column("memory_bytes", "Memory", "bytes", width=9),
        Column("macs", "MACs", "list", width=17, hidden=True),
        Column("switch", "Switch", width=14),              # from SNMP (LLDP/CDP, forwarding tables): blank when unknown
        Column("switch_port", "Switch port", width=10),
        Column("hypervisor", "Hypervisor", width=14),      # from vCenter: a VM's ESXi host; blank otherwise
        Column("cluster", "Cluster", width=12),            # the vSphere cluster of a VM or of an ESXi host
        Column("sources", "Sources", "list", width=10),
        Column("coverage_depth", "Coverage", "depth", width=8),  # how deep it is known: seen ... sockets
        Column("last_seen", "Last seen (UTC)", "datetime", width=19),
        Column("notes", "Notes", width=24, hidden=True),
        Column("id", "Host ID", width=16, hidden=True),
    )


HOST_COLUMNS = host_columns(HostFacts())  # the order and titles (a view builds its own, reading its facts)
SERVICE_COLUMNS = (
    Column("host_id", "Host", "host", width=16),
    Column("address", "Address", width=14),
    Column("port", "Port", "int", width=6),
    Column("protocol", "Proto", width=5),
    Column("state", "State", width=9),
    Column("name", "Service", width=12),
    Column("product", "Product", width=16),
    Column("version", "Version", width=12),
    Column("category", "Category", width=12),
    Column("process", "Process", width=12),
    Column("source", "Source", width=7, hidden=True),
    Column("cpe", "CPE", width=24, hidden=True),
    Column("observed_at", "Observed (UTC)", "datetime", width=19, hidden=True),
    Column("id", "Service ID", width=24, hidden=True),
)
SOFTWARE_COLUMNS = (
    Column("host_id", "Host", "host", width=16),
    Column("name", "Name", width=24),
    Column("version", "Version", width=18),
    Column("vendor", "Vendor", width=16),
    Column("architecture", "Arch", width=7, hidden=True),
    Column("source", "Source", width=7),
)
DATABASE_COLUMNS = (
    Column("host_id", "Host", "host", width=16),
    Column("engine", "Engine", width=12),
    Column("version", "Version", width=10),
    Column("port", "Port", "int", width=6),
    Column("databases", "Databases", "list", width=30),
    Column("process", "Process", width=12),
    Column("observed_at", "Observed (UTC)", "datetime", width=19, hidden=True),
    Column("id", "Database ID", width=24, hidden=True),
)
CONNECTION_COLUMNS = (
    Column("source_host_id", "From host", "host", width=16),
    Column("source_address", "From address", width=14, hidden=True),
    Column("source_process", "Client process", width=12),
    Column("target_host_id", "To host", "host", width=16),
    Column("target_address", "To address", width=14),
    Column("target_port", "Port", "int", width=6),
    Column("protocol", "Proto", width=5),
    Column("target_process", "Server process", width=12, hidden=True),
    Column("state", "State", width=11),
    Column("evidence", "Evidence", width=9),
    Column("observed_by", "Observed by", "list", width=10),
    Column("samples", "Samples", "int", width=7, hidden=True),
    Column("last_seen", "Last seen (UTC)", "datetime", width=19, hidden=True),
)
# (tab title, inventory key, columns, noun for the row count)
TABS = (("Hosts", "hosts", HOST_COLUMNS, "hosts"), ("Services", "services", SERVICE_COLUMNS, "services"),
        ("Software", "software", SOFTWARE_COLUMNS, "packages"), ("Databases", "databases", DATABASE_COLUMNS,
                                                                  "databases"),
        ("Connections", "connections", CONNECTION_COLUMNS, "connections"))


# --- the data behind one host's details ---------------------------------------------------------------
def build_host_index(inventory: dict) -> dict[str, dict[str, list]]:
    """Return {host id: {"services", "software", "databases", "outbound", "inbound", "findings", "interfaces",
    "runs_on", "vms"}}: "runs_on" is a VM's own `runs_on` row, "vms" the rows of the VMs an ESXi host runs."""
    index: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for key in ("services", "software", "databases", "findings", "interfaces"):
        for row in inventory.get(key) or ():
            if row.get("host_id"):
                index[row["host_id"]][key].append(row)
    for link in inventory.get("runs_on") or ():
        index[link["vm_host_id"]]["runs_on"].append(link)
        if link.get("esxi_host_id"):
            index[link["esxi_host_id"]]["vms"].append(link)
    for connection in inventory.get("connections") or ():
        if connection.get("source_host_id"):
            index[connection["source_host_id"]]["outbound"].append(connection)
        if connection.get("target_host_id") and connection["target_host_id"] != connection.get("source_host_id"):
            index[connection["target_host_id"]]["inbound"].append(connection)
    return index


def host_of_row(row: dict) -> str | None:
    """Return the host a service, software, database or connection row belongs to (a connection's client)."""
    return row.get("host_id") or row.get("source_host_id") or row.get("target_host_id")


# --- HTML of one host's details ------------------------------------------------------------------------
def _e(value) -> str:
    return escape("" if value is None else str(value))


def _facts(pairs) -> str:
    rows = [f"<tr><td><b>{_e(label)}</b>&nbsp;&nbsp;</td><td>{_e(value)}</td></tr>"
            for label, value in pairs if value not in (None, "", [], ())]
    return f"<table>{''.join(rows)}</table>" if rows else "<p><i>Not known.</i></p>"


def _table(headers, rows, *, total: int | None = None) -> str:
    """Return an HTML table of already-escaped cells; `total` > len(rows) adds an "and N more" line."""
    if not rows:
        return "<p><i>None seen.</i></p>"
    head = "".join(f"<th align='left'>{_e(h)}&nbsp;&nbsp;</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}&nbsp;&nbsp;</td>" for c in row) + "</tr>" for row in rows)
    more = f"<p><i>… and {total - len(rows):,} more.</i></p>" if total and total > len(rows) else ""
    return f"<table cellspacing='0' cellpadding='1'><tr>{head}</tr>{body}</table>{more}"


def _section(title: str, body: str) -> str:
    return f"<h3>{_e(title)}</h3>{body}"


def _header_html(host: dict, label: str, placement: str = "") -> str:
    score = host.get("risk_score")
    risk = "not analysed" if score is None else f"{format_number(score)} of 100"
    legacy = {True: "yes", False: "no"}.get(host.get("legacy"), "not analysed")
    return (f"<h2>{_e(label)}</h2><p>Host ID {_e(host['id'])}<br>Risk score: <b>{_e(risk)}</b>"
            f" &nbsp; Legacy: <b>{_e(legacy)}</b>{placement}</p>")


def _where(cluster, datacenter) -> str:
    """Return "(cluster C, datacenter D)", either part left out when unknown; blank when both are."""
    parts = [f"cluster {cluster}" if cluster else "", f"datacenter {datacenter}" if datacenter else ""]
    return f" ({', '.join(p for p in parts if p)})" if any(parts) else ""


def _placement_html(snapshot: Snapshot, host: dict, related: dict[str, list]) -> str:
    """Return the header's VMware lines (escaped, each after a <br>): where a VM runs ("Runs on: esxi01 (cluster
    C, datacenter D)", the ESXi host a link when the inventory holds it) and how many VMs an ESXi host runs."""
    lines = []
    for link in related.get("runs_on", ()):
        esxi = link.get("esxi_host_id")
        name = link.get("esxi_host") or (snapshot.host_label(esxi) if esxi else "an unknown ESXi host")
        state = link.get("power_state")
        off = " — powered off" if state and state != "poweredOn" else ""
        lines.append(f"Runs on: {host_link(esxi, name)}{_e(_where(link.get('cluster'), link.get('datacenter')))}"
                     f"{_e(off)}")
    esxi = script_data(host, ESXI_SCRIPT)
    if esxi is not None or related.get("vms"):
        vms = related.get("vms", ())
        datacenter = (esxi or {}).get("datacenter") or next((v.get("datacenter") for v in vms), None)
        running = sum(1 for v in vms if v.get("power_state") == "poweredOn")
        on = f", {running} powered on" if running != len(vms) else ""
        lines.append(_e(f"ESXi host of {counted(len(vms), 'VM')}{on}{_where(host.get('cluster'), datacenter)}"))
    return "".join(f"<br>{line}" for line in lines)


def _hardware_html(host: dict) -> str:
    cores = "/".join(str(c) for c in (host.get("cpu_cores"), host.get("cpu_logical_cores")) if c)
    disks = ", ".join(" ".join(str(p) for p in (d.get("name"), d.get("model"),
                                                d.get("size_bytes") and format_bytes(d["size_bytes"])) if p)
                      for d in host.get("disks") or ())
    memory = host.get("memory_bytes")
    return _section("Hardware", _facts([
        ("Vendor", host.get("vendor")), ("Model", host.get("model")), ("Serial", host.get("serial")),
        ("Virtualization", host.get("virtualization")), ("CPU", host.get("cpu_model")),
        ("Cores (physical/logical)", cores), ("CPU MHz", host.get("cpu_mhz")),
        ("Memory", format_bytes(memory) if memory else None),
        ("Swap", format_bytes(host["swap_bytes"]) if host.get("swap_bytes") else None), ("Disks", disks)]))


def _os_html(host: dict) -> str:
    boot = host.get("boot_time")
    return _section("Operating system", _facts([
        ("Name", host.get("os_name")), ("Version", host.get("os_version")), ("Family", host.get("os_family")),
        ("Kernel", host.get("kernel")), ("Architecture", host.get("architecture")),
        ("Boot time (UTC)", format_datetime(boot) if boot else None)]))


def _network_html(host: dict, interfaces: list[dict]) -> str:
    macs = ", ".join(host.get("macs") or ())
    if macs and host.get("mac_vendor"):
        macs += f" ({host['mac_vendor']})"
    facts = _facts([("Hostname", host.get("hostname")), ("FQDN", host.get("fqdn")), ("Domain", host.get("domain")),
                    ("Other names", ", ".join(host.get("hostnames") or ())),
                    ("Addresses", ", ".join(host.get("addresses") or ())), ("MACs", macs),
                    ("Switch", host.get("switch")), ("Switch port", host.get("switch_port")),
                    ("Sources", ", ".join(host.get("sources") or ())),
                    ("First seen (UTC)", host.get("first_seen") and format_datetime(host["first_seen"])),
                    ("Last seen (UTC)", host.get("last_seen") and format_datetime(host["last_seen"]))])
    rows = [[_e(i.get("name")), _e(i.get("mac")), _e(", ".join(i.get("addresses") or ())),
             _e({True: "up", False: "down"}.get(i.get("is_up"), ""))] for i in interfaces]
    table = _table(("Interface", "MAC", "Addresses", "State"), rows) if rows else ""
    return _section("Addresses", facts + table)


def _software_html(software: list[dict], *, expanded: bool) -> str:
    """Return the software section: collapsed to its count and a link that opens it, unless `expanded`."""
    title = f"Software ({len(software):,})"
    if not software:
        return _section(title, "<p><i>None seen.</i></p>")
    if not expanded:
        return (f"<h3><a href='{TOGGLE_SCHEME}:software'>▸ {_e(title)}</a></h3>"
                f"<p><i>{len(software):,} packages, folded: click to list them.</i></p>")
    ordered = sorted(software, key=lambda s: (s.get("name") or "").casefold())
    rows = [[_e(s.get("name")), _e(s.get("version")), _e(s.get("vendor"))] for s in ordered[:DETAILS_LIMIT]]
    return (f"<h3><a href='{TOGGLE_SCHEME}:software'>▾ {_e(title)}</a></h3>"
            + _table(("Name", "Version", "Vendor"), rows, total=len(software)))


def _services_html(services: list[dict], databases: list[dict]) -> str:
    ordered = sorted(services, key=lambda s: (s.get("protocol") or "", s.get("port") or 0))
    rows = [[_e(f"{s.get('port')}/{s.get('protocol')}"), _e(s.get("state")),
             _e(" ".join(p for p in (s.get("name"), s.get("product"), s.get("version")) if p)),
             _e(s.get("process")), _e(s.get("category"))] for s in ordered[:DETAILS_LIMIT]]
    body = _table(("Port", "State", "Service", "Process", "Category"), rows, total=len(services))
    if databases:
        body += _table(("Database engine", "Version", "Port", "Databases"),
                       [[_e(d.get("engine")), _e(d.get("version")), _e(d.get("port")),
                         _e(", ".join(map(str, d.get("databases") or ())))] for d in databases])
    return _section(f"Services ({len(services)})", body)


def _connections_html(snapshot: Snapshot, outbound: list[dict], inbound: list[dict]) -> str:
    out = Counter((c.get("target_host_id"), c.get("target_address"), c.get("target_port"), c.get("protocol"),
                   c.get("source_process")) for c in outbound)
    into = Counter((c.get("source_host_id"), c.get("source_address"), c.get("target_port"), c.get("protocol"),
                    c.get("source_process")) for c in inbound)

    def peer(host_id, address):
        return host_link(host_id, snapshot.host_label(host_id) if host_id else str(address or "?"))

    def rows(counts: Counter) -> list[list[str]]:
        busiest = sorted(counts.items(), key=lambda kv: -kv[1])[:DETAILS_LIMIT]
        return [[peer(h, a), _e(f"{p}/{proto or 'tcp'}"), _e(proc), _e(n)] for (h, a, p, proto, proc), n in busiest]

    def hosts(counts: Counter) -> str:
        return counted(len({h or a for h, a, *_ in counts}), "peer")

    return (_section(f"Depends on ({hosts(out)}, {counted(len(outbound), 'connection')})",
                     _table(("To", "Port", "Client process", "Seen"), rows(out), total=len(out)))
            + _section(f"Used by ({hosts(into)}, {counted(len(inbound), 'connection')})",
                       _table(("From", "Port", "Client process", "Seen"), rows(into), total=len(into))))


def _findings_html(findings: list[dict]) -> str:
    if not findings:
        return _section("Findings (0)", "<p><i>None.</i></p>")
    parts = []
    for f in sorted(findings, key=lambda f: -severity_rank(f.get("severity"))):
        background, foreground = SEVERITY_COLOURS.get(str(f.get("severity")).lower(), NO_SEVERITY_COLOURS)
        badge = (f"<span style='background-color:{background}; color:{foreground}'>"
                 f"&nbsp;{_e(f.get('severity'))}&nbsp;</span>")
        parts.append(f"<p>{badge} <b>{_e(f.get('title'))}</b><br>Evidence: {_e(f.get('evidence'))}"
                     f"<br>Recommendation: {_e(f.get('recommendation'))}</p>")
    return _section(f"Findings ({len(findings)})", "".join(parts))


def _risk_html(host: dict) -> str:
    score = host.get("risk_score")
    if score is None:
        return _section("Risk factors", "<p><i>Not analysed yet: run Analyze.</i></p>")
    rows = [[_e(f.get("factor")), _e(f"+{format_number(f.get('points'))}"), _e(f.get("detail"))]
            for f in host.get("risk_factors") or ()]
    body = f"<p>Score {_e(format_number(score))} of 100 (the sum of its factors, capped at 100).</p>"
    return _section("Risk factors", body + _table(("Factor", "Points", "Reason"), rows))


def _coverage_html(host: dict, inventory: dict) -> str:
    depth = host.get("coverage_depth")
    if depth is None:
        return _section("Coverage", "<p><i>Not known.</i></p>")
    spot = next((s for s in (inventory.get("coverage_summary") or {}).get("blind_spots") or ()
                 if s["host_id"] == host["id"]), None)
    sources = ", ".join(SOURCE_LABELS.get(s, s) for s in host.get("coverage_sources") or ())
    facts = [("Depth", depth), ("Levels known", ", ".join(host.get("coverage_levels") or ())),
             ("Seen by", sources or None)]
    if spot is not None:
        facts += [("Blind spot", "its own sockets were never read (dependencies touching it: "
                                 f"{spot['dependencies']})"), ("To close the gap", spot["hint"])]
    return _section("Coverage", _facts(facts))


def host_details_html(snapshot: Snapshot, host: dict, related: dict[str, list], *,
                      expanded: frozenset[str] = frozenset()) -> str:
    """Return the HTML of one host's details: `related` is its entry of `build_host_index`; `expanded` names
    the folded sections shown open ("software"). What it depends on and what uses it come first."""
    return "".join([
        _header_html(host, snapshot.host_label(host["id"]), _placement_html(snapshot, host, related)),
        _connections_html(snapshot, related.get("outbound", []), related.get("inbound", [])),
        _risk_html(host), _findings_html(related.get("findings", [])),
        _coverage_html(host, snapshot.inventory), _hardware_html(host), _os_html(host),
        _network_html(host, related.get("interfaces", [])),
        _services_html(related.get("services", []), related.get("databases", [])),
        _software_html(related.get("software", []), expanded="software" in expanded),
    ])


# --- widgets ---------------------------------------------------------------------------------------------
class HostAnnotationView(QGroupBox):
    """The annotation editor of one host: owner, criticality, patient data, notes, and Save.

    Unsaved edits are kept per host (switching hosts does not lose them) and flagged. An owner or notes
    longer than MAX_ANNOTATION_CHARS (so long that an Excel cell could not hold them) is named in the status
    line as it is typed, and Save refuses it with a message, keeping the text in the editor. Signals:
    annotation_saved(host id) after a save; dirty_changed(bool) when the shown host's edits become
    (un)saved.
    """
    annotation_saved = Signal(str)
    dirty_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__("Annotation", parent)
        self.owner_edit = QLineEdit(placeholderText="who looks after it",
                                    toolTip="Who looks after this host (a person or team)")
        self.criticality_combo = QComboBox(toolTip="How critical the host is to the organisation: it weighs in "
                                                   "its migration risk")
        self.criticality_combo.addItem("(not set)", None)
        for level in CRITICALITIES:
            self.criticality_combo.addItem(level, level)
        self.patient_data_combo = QComboBox(toolTip="Whether the host holds or carries patient data: it weighs "
                                                    "in its migration risk")
        for value in PATIENT_DATA:
            self.patient_data_combo.addItem(value, value)
        self.notes_edit = QPlainTextEdit(placeholderText="notes for the migration team",
                                         toolTip="Notes for the migration team (Tab leaves the box)")
        self.notes_edit.setTabChangesFocus(True)
        self.save_button = QPushButton("Save", toolTip="Write this host's annotation to the store")
        self.revert_button = QPushButton("Revert", toolTip="Drop the unsaved changes of this host's annotation")
        self.status_label = QLabel()
        self.error_box: QMessageBox | None = None
        self._snapshot: Snapshot | None = None
        self._host_id: str | None = None
        self._drafts: dict[str, dict] = {}
        self._loading = False
        self._build()
        self.set_host(None, None)

    def _build(self) -> None:
        form = QFormLayout()
        form.addRow("Owner", self.owner_edit)
        form.addRow("Criticality", self.criticality_combo)
        form.addRow("Patient data", self.patient_data_combo)
        form.addRow("Notes", self.notes_edit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        self.notes_edit.setMaximumHeight(self.notes_edit.fontMetrics().height() * 6)
        self.owner_edit.textEdited.connect(self._edited)
        self.criticality_combo.activated.connect(self._edited)
        self.patient_data_combo.activated.connect(self._edited)
        self.notes_edit.textChanged.connect(self._edited)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)

    # --- public API -----------------------------------------------------------------------------------
    def set_host(self, snapshot: Snapshot | None, host_id: str | None) -> None:
        """Edit `host_id`'s annotation (its unsaved draft if there is one); None disables the editor."""
        self._snapshot, self._host_id = snapshot, host_id
        host = snapshot.hosts_by_id.get(host_id) if snapshot is not None and host_id else None
        if host is None:
            self._host_id = None
        self.setEnabled(host is not None)
        if host is None:
            self._show_values(dict.fromkeys(ANNOTATION_FIELDS))
        else:
            self._show_values(self._drafts.get(host_id) or self.stored_values())
        self._update_state()

    def host_id(self) -> str | None:
        return self._host_id

    def stored_values(self) -> dict:
        """Return the shown host's annotation as loaded (patient data None shown as "unknown")."""
        host = self._snapshot.hosts_by_id.get(self._host_id, {}) if self._snapshot and self._host_id else {}
        values = {f: host.get(f) for f in ANNOTATION_FIELDS}
        values["criticality"] = values["criticality"] and str(values["criticality"]).lower()
        values["patient_data"] = (values["patient_data"] and str(values["patient_data"]).lower()) or "unknown"
        return values

    def values(self) -> dict:
        """Return the editor's values: owner and notes None when blank, criticality None when not set."""
        notes = self.notes_edit.toPlainText()
        return {"owner": self.owner_edit.text().strip() or None,
                "criticality": self.criticality_combo.currentData(),
                "patient_data": self.patient_data_combo.currentData(),
                "notes": notes if notes.strip() else None}

    def changes(self) -> dict:
        """Return the fields whose edited value differs from the stored one."""
        stored = self.stored_values()
        return {f: v for f, v in self.values().items() if v != stored[f]} if self._host_id else {}

    def is_dirty(self) -> bool:
        """Return True if the shown host has unsaved edits."""
        return bool(self.changes())

    def unsaved_hosts(self) -> list[str]:
        """Return the ids of every host with unsaved edits (the shown one and drafts of others)."""
        return list(self._drafts)

    def problem(self) -> str | None:
        """Return why the shown host's edits cannot be saved as they are (a text over the limit), or None."""
        return next(filter(None, (annotation_problem(f, v) for f, v in self.changes().items())), None)

    def save(self) -> bool:
        """Write the shown host's changed fields to the store; return True if saved (errors are shown)."""
        changes = self.changes()
        if not changes or self._snapshot is None:
            return False
        if self._snapshot.path is None:
            self._show_error("This estate was not loaded from a store, so annotations cannot be saved.")
            return False
        host_id = self._host_id
        problem = self.problem()
        if problem:
            self._show_error(f"The annotation of {self._snapshot.host_label(host_id)} was not saved: {problem} "
                             f"(an annotation must fit in one Excel cell). Shorten it and save again.")
            return False
        try:
            save_host_annotation(self._snapshot.path, host_id, **changes)
        except (EstateError, OSError, sqlite3.Error) as error:
            self._show_error(f"The annotation of {self._snapshot.host_label(host_id)} was not saved:\n{error}")
            return False
        self._snapshot.hosts_by_id[host_id].update(changes)
        self._drafts.pop(host_id, None)
        self._update_state()
        self.annotation_saved.emit(host_id)
        return True

    def revert(self) -> None:
        """Drop the shown host's unsaved edits."""
        if self._host_id:
            self._drafts.pop(self._host_id, None)
            self._show_values(self.stored_values())
            self._update_state()

    # --- internals ------------------------------------------------------------------------------------
    def _show_values(self, values: dict) -> None:
        self._loading = True
        try:
            self.owner_edit.setText(values.get("owner") or "")
            self._set_combo(self.criticality_combo, values.get("criticality"))
            self._set_combo(self.patient_data_combo, values.get("patient_data") or "unknown")
            self.notes_edit.setPlainText(values.get("notes") or "")
        finally:
            self._loading = False

    @staticmethod
    def _set_combo(combo: QComboBox, value) -> None:
        number = combo.findData(value)
        if number < 0:
            combo.addItem(str(value), value)
            number = combo.count() - 1
        combo.setCurrentIndex(number)

    def _edited(self, *_args) -> None:
        if self._loading or not self._host_id:
            return
        if self.changes():
            self._drafts[self._host_id] = self.values()
        else:
            self._drafts.pop(self._host_id, None)
        self._update_state()

    def _update_state(self) -> None:
        dirty = self.is_dirty()
        can_save = self._snapshot is not None and self._snapshot.path is not None
        self.save_button.setEnabled(dirty and can_save)
        self.revert_button.setEnabled(dirty)
        problem = self.problem() if dirty else None
        if problem:
            self.status_label.setText(f"<b style='color:#B85C00'>Cannot be saved: {escape(problem)}</b>")
        elif dirty:
            self.status_label.setText("<b style='color:#B85C00'>Unsaved changes</b>")
        elif self._host_id and not can_save:
            self.status_label.setText("Read-only: not loaded from a store")
        else:
            self.status_label.setText("")
        self.setTitle("Annotation *" if dirty else "Annotation")
        self.dirty_changed.emit(dirty)

    def _show_error(self, text: str) -> None:
        self.error_box = QMessageBox(QMessageBox.Icon.Warning, "Annotation not saved", text,
                                     QMessageBox.StandardButton.Ok, self)
        self.error_box.open()


class HostDetailsView(QWidget):
    """One host's details (`pane`, a DetailsPaneView) above its annotation editor (`annotation`)."""
    host_activated = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pane = DetailsPaneView(placeholder="Select a host to see its details.")
        self.annotation = HostAnnotationView()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.pane)
        splitter.addWidget(self.annotation)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.pane.host_activated.connect(self.host_activated)
        self.pane.section_toggled.connect(self.toggle_section)
        self.expanded: set[str] = set()   # folded sections the user opened ("software"); kept across hosts
        self._shown: tuple | None = None  # (snapshot, host id, related) of the host shown

    def toggle_section(self, name: str) -> None:
        """Open a folded section of the details (e.g. "software"), or fold it again."""
        self.expanded ^= {name}
        if self._shown is not None:
            self.show_host(*self._shown)

    def text(self) -> str:
        """Return the details shown, as plain text."""
        return self.pane.text()

    def show_host(self, snapshot: Snapshot, host_id: str, related: dict[str, list]) -> None:
        """Show `host_id`'s details (`related`: its entry of build_host_index) and edit its annotation."""
        host = snapshot.hosts_by_id[host_id]
        scroll = self.pane.verticalScrollBar().value() if self.annotation.host_id() == host_id else 0
        self._shown = (snapshot, host_id, related)
        self.pane.setHtml(host_details_html(snapshot, host, related, expanded=frozenset(self.expanded)))
        self.pane.verticalScrollBar().setValue(scroll)
        self.annotation.set_host(snapshot, host_id)

    def clear(self) -> None:
        self._shown = None
        self.pane.clear()
        self.annotation.set_host(None, None)


class InventoryView(QWidget):
    """Tabs of the inventory's records beside the selected host's details.

    Signals: host_selected(host id) when the host shown in the details changes; annotation_saved(host id).
    """
    host_selected = Signal(str)
    annotation_saved = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tabs = QTabWidget()
        self.views: dict[str, RecordTableView] = {}
        self.host_facts = HostFacts()
        for title, key, columns, noun in TABS:
            view = RecordTableView(host_columns(self.host_facts) if key == "hosts" else columns, noun=noun)
            self.views[key] = view
            self.tabs.addTab(view, title)
            view.row_selected.connect(lambda row, hosts=key == "hosts": self._row_selected(row, hosts))
        self.hosts_view = self.views["hosts"]
        self.services_view = self.views["services"]
        self.software_view = self.views["software"]
        self.databases_view = self.views["databases"]
        self.connections_view = self.views["connections"]
        self.details = HostDetailsView()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.tabs)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.snapshot: Snapshot | None = None
        self._index: dict[str, dict[str, list]] = {}
        self._host_id: str | None = None
        self.details.host_activated.connect(self.select_host)
        self.details.annotation.annotation_saved.connect(self._annotation_saved)

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        """Show `snapshot`'s inventory (None: empty); the shown host stays if it is still there."""
        self.snapshot = snapshot
        inventory = snapshot.inventory if snapshot is not None else {}
        self._index = build_host_index(inventory)
        self.host_facts.clear()
        self.host_facts.update(build_host_facts(snapshot))
        label = snapshot.host_label if snapshot is not None else None
        for key, view in self.views.items():
            view.set_host_label(label)
            view.set_rows(inventory.get(key) or [])
        if self.hosts_view.table.horizontalHeader().sortIndicatorSection() < 0:
            self.hosts_view.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        if snapshot is not None and self._host_id in snapshot.hosts_by_id:
            self.hosts_view.select_where("id", self._host_id, clear_filter=False)
            self._show_host(self._host_id)
        else:
            self._host_id = None
            self.details.clear()

    def select_host(self, host_id: str) -> bool:
        """Show the Hosts tab with `host_id` selected and its details; return False if it is not a host."""
        if self.snapshot is None or host_id not in self.snapshot.hosts_by_id:
            return False
        self.tabs.setCurrentWidget(self.hosts_view)
        current = self.hosts_view.selected_row()
        if current is None or current.get("id") != host_id:
            self.hosts_view.select_where("id", host_id)
        if self._host_id != host_id:
            self._show_host(host_id)
        return True

    def current_host_id(self) -> str | None:
        """Return the id of the host whose details are shown, or None."""
        return self._host_id

    def _row_selected(self, row: dict, is_host: bool) -> None:
        host_id = row.get("id") if is_host else host_of_row(row)
        if host_id and self.snapshot is not None and host_id in self.snapshot.hosts_by_id:
            self._show_host(host_id)

    def _show_host(self, host_id: str) -> None:
        changed = host_id != self._host_id
        self._host_id = host_id
        self.details.show_host(self.snapshot, host_id, self._index.get(host_id, {}))
        if changed:
            self.host_selected.emit(host_id)

    def _annotation_saved(self, host_id: str) -> None:
        self.hosts_view.model.refresh()
        if host_id == self._host_id:
            self.details.show_host(self.snapshot, host_id, self._index.get(host_id, {}))
        self.annotation_saved.emit(host_id)
