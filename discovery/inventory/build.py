"""The inventory as every export sees it: the JSON export schema of DESIGN.md, built from the store.

Each host's newest observation per source makes the current inventory; services seen by
several sources are combined (newest non-empty value wins); connections are turned round so
that `source` is always the client and `target` the server, and the two ends of one connection
seen on one host (loopback) become one row.
"""

from __future__ import annotations

from collections import defaultdict

from discovery.analyses.coverage import SOCKET_SOURCES, assess_hosts, coverage_gaps, summarize_coverage
from discovery.inventory.dependencies import (FILTERS, ResolutionStats, aggregate_dependencies, external_endpoints,
                                              parse_ssh_sessions, resolve_connections)
from discovery.inventory.layer2 import LINK_EXTRA_FIELDS, LINK_FIELDS, layer2_links, switch_ports
from discovery.inventory.virtualization import platform_rows, runs_on_links
from discovery.records.model import severities_at_or_above, utc_now
from discovery.storage.store import Store

SCHEMA = "estatemap/1"

HOST_FIELDS = ("id", "hostname", "addresses", "macs", "os_name", "os_version", "os_family", "vendor", "model",
               "cpu_model", "cpu_cores", "memory_bytes", "disks", "sources", "risk_score", "risk_factors",
               "legacy", "owner", "criticality", "patient_data", "notes")
# Added after the contract's fields; never renamed or removed.
HOST_EXTRA_FIELDS = ("domain", "fqdn", "os_id", "kernel", "architecture", "boot_time", "serial", "hardware_uuid",
                     "machine_id", "virtualization", "cpu_logical_cores", "cpu_mhz", "swap_bytes", "partitions",
                     "first_seen", "last_seen", "hostnames", "mac_vendor", "status", "status_reason", "os_matches",
                     "uptime_seconds", "scripts", "switch", "switch_port", "switch_host_id", "coverage_depth",
                     "coverage_levels", "coverage_sources", "hypervisor", "hypervisor_host_id", "cluster")
SERVICE_FIELDS = ("id", "host_id", "address", "port", "protocol", "state", "name", "product", "version", "cpe",
                  "category", "process")
SERVICE_EXTRA_FIELDS = ("cpes", "extra_info", "tunnel", "pid", "source", "observed_at", "reason", "method",
                        "confidence", "os_type", "device_type", "service_hostname", "fingerprint", "scripts")
SOFTWARE_FIELDS = ("host_id", "name", "version", "vendor", "source")
DATABASE_FIELDS = ("id", "host_id", "service_id", "engine", "version", "databases")
DATABASE_EXTRA_FIELDS = ("port", "process", "pid", "observed_at", "sizes")
CONNECTION_FIELDS = ("source_host_id", "source_address", "source_port", "source_process",
                     "target_host_id", "target_address", "target_port", "target_service_id", "state", "observed_by")
CONNECTION_EXTRA_FIELDS = ("protocol", "target_process", "observed_at", "evidence", "first_seen", "last_seen",
                           "samples", "loopback", "external", "evidences", "packets", "bytes")
FINDING_FIELDS = ("id", "subject_type", "subject_id", "host_id", "rule", "category", "severity", "title", "evidence",
                  "recommendation")
# Rules whose findings make a host "legacy": something on it is past end of support.
LEGACY_RULES = {"eol", "os-eol"}
SCAN_FIELDS = ("id", "kind", "started_at", "finished_at", "targets", "status")
SCAN_EXTRA_FIELDS = ("arguments", "warnings", "error", "host_count", "origin")
INTERFACE_FIELDS = ("host_id", "name", "mac", "addresses", "is_up", "speed_mbps", "mtu")
PROCESS_FIELDS = ("host_id", "pid", "ppid", "name", "exe", "username", "started_at", "cmdline")


def _pick(row: dict, fields: tuple[str, ...]) -> dict:
    return {f: row.get(f) for f in fields}


def build_inventory(store: Store, *, scan_id: int | None = None, filters=FILTERS,
                    stats: ResolutionStats | None = None) -> dict:
    """Return the whole inventory as the JSON export's dict; `scan_id` limits it to what one scan saw.

    `filters` are the dependency noise filters to apply (discovery.inventory.dependencies.FILTERS: all by default);
    `stats` (if given) counts the connections they left out.
    """
    observations = store.current_observations(scan_id)
    host_ids = {o["host_id"] for o in observations}
    annotations = {a["host_id"]: a for a in store.rows("annotations")}
    wave_overrides = {a["group_id"]: a["wave"] for a in store.rows("group_annotations")}
    risk = {r["host_id"]: r for r in store.rows("host_risk")}
    findings = [f for f in store.rows("findings") if f["host_id"] in host_ids or f["host_id"] is None]
    legacy = {f["host_id"] for f in findings if f["category"] == "legacy" and f["rule"] in LEGACY_RULES}
    hosts = [_host_row(h, annotations.get(h["id"], {}), risk.get(h["id"]), h["id"] in legacy if risk else None)
             for h in store.hosts() if h["id"] in host_ids]
    source_of = {(o["scan_id"], o["host_id"]): o["source"] for o in observations}
    socket_reads = defaultdict(set)  # host id -> the sources that read its own socket table
    for o in observations:
        if o["source"] in SOCKET_SOURCES:
            socket_reads[o["host_id"]].add(o["source"])

    def noting_sockets(rows, own_socket):
        """Pass rows through, noting which source read a host's own sockets (SNMP's TCP-MIB, for one)."""
        for row in rows:
            if own_socket(row):
                socket_reads[row["host_id"]].add(source_of[row["scan_id"], row["host_id"]])
            yield row

    services = [_service_row(s) for s in _combine(noting_sockets(store.child_rows("services", observations),
                                                                 lambda r: r["state"] == "listening"), key="id")]
    interfaces = [_pick(i, INTERFACE_FIELDS) for i in store.child_rows("interfaces", observations)]
    l2_links = [_pick(k, LINK_FIELDS + LINK_EXTRA_FIELDS)
                for k in layer2_links(store.child_rows("neighbours", observations), hosts, interfaces)]
    by_id = {h["id"]: h for h in hosts}
    for host_id, place in switch_ports(l2_links, hosts).items():
        by_id[host_id].update(place)
    all_scans = store.list_scans()
    connections = resolve_connections(
        noting_sockets(store.child_rows("connections", observations),
                       lambda r: (r.get("evidence") or "observed") == "observed"), hosts, services, filters=filters,
        ssh_sessions=parse_ssh_sessions(store.evidence_rows(observations, "ssh-session")),
        scanner_addresses={a for s in all_scans for a in s.get("origin") or ()}, stats=stats)
    observed_sources = defaultdict(set)
    for o in observations:
        observed_sources[o["host_id"]].add(o["source"])
    scans = all_scans if scan_id is None else [s for s in all_scans if s["id"] == scan_id]
    inventory = {
        "schema": SCHEMA,
        "generated_at": utc_now().isoformat(),
        "scans": [_pick(s, SCAN_FIELDS + SCAN_EXTRA_FIELDS) for s in scans],
        "hosts": hosts,
        "services": services,
        "software": [_pick(s, SOFTWARE_FIELDS + ("architecture",))
                     for s in _combine(store.child_rows("software", observations),
                                       key=lambda r: (r["host_id"], r["name"], r["architecture"]))],
        "databases": [{**_pick(d, DATABASE_FIELDS + DATABASE_EXTRA_FIELDS), "sizes": dict(d.get("sizes") or [])}
                      for d in _combine(store.child_rows("databases", observations), key="id")],
        "connections": connections,
        "dependencies": aggregate_dependencies(connections, services),
        "l2_links": l2_links,
        "runs_on": runs_on_links(hosts),
        "platform_objects": platform_rows(store.platform_objects(scan_id), hosts),
        "findings": [_pick(f, FINDING_FIELDS + ("confidence", "data")) for f in findings],
        "groups": [{**_pick(g, ("id", "name", "wave", "host_ids", "explanation", "edges")),
                    "wave_override": wave_overrides.get(g["id"]), "wave_reasons": g.get("wave_reasons") or []}
                   for g in store.rows("groups")],
        "interfaces": interfaces,
        "processes": [_pick(p, PROCESS_FIELDS) for p in store.child_rows("processes", observations)],
        "external_endpoints": external_endpoints(connections),
        "coverage": [],  # filled below, from the hosts' coverage
        "analysis": _analysis(latest := store.latest_analysis()),
        "wave_plan": (latest or {}).get("summary", {}).get("wave_plan"),
    }
    for host_id, coverage in assess_hosts(inventory, observed_sources, socket_reads).items():
        by_id[host_id].update(coverage_depth=coverage["depth"], coverage_levels=coverage["levels"],
                              coverage_sources=coverage["sources"])
    inventory["coverage_summary"] = summarize_coverage(inventory)
    inventory["coverage"] = coverage_gaps(inventory, inventory["coverage_summary"]["blind_spots"])
    return inventory


def _host_row(host: dict, annotation: dict, risk: dict | None, legacy: bool | None) -> dict:
    row = _pick(host, HOST_FIELDS + HOST_EXTRA_FIELDS)
    row.update(risk_score=risk["score"] if risk else None, risk_factors=risk["factors"] if risk else [],
               legacy=legacy)
    row.update({k: annotation.get(k) for k in ("owner", "criticality", "patient_data", "notes")})
    return row


def _analysis(row: dict | None) -> dict | None:
    """Return the latest analysis (when it ran, the date it judged at, and its results), or None before any."""
    if row is None:
        return None
    summary = {k: v for k, v in row["summary"].items() if k != "wave_plan"}  # the inventory's own wave_plan
    return {"id": row["id"], "created_at": row["created_at"], "as_of": row["as_of"], **summary}


def _service_row(service: dict) -> dict:
    row = _pick(service, SERVICE_FIELDS + SERVICE_EXTRA_FIELDS)
    row["cpes"] = service.get("cpes") or []
    row["cpe"] = row["cpes"][0] if row["cpes"] else None
    return row


def _combine(rows, *, key) -> list[dict]:
    """Combine rows sharing `key` (a column, or a function of the row): the same thing seen by several
    sources. The newest non-empty value wins; script results are kept from every source (by script id, the
    newest of one id), so that nmap's ssl-enum-ciphers and a capture's tls-hello on one port both stay."""
    combined: dict = {}
    key_of = key if callable(key) else (lambda row: row[key])
    for row in sorted(rows, key=lambda r: r["observed_at"]):
        k = key_of(row)
        old = combined.get(k)
        if old is None:
            combined[k] = dict(row)
        else:
            scripts = {s.get("id"): s for s in [*(old.get("scripts") or ()), *(row.get("scripts") or ())]}
            old.update({name: v for name, v in row.items() if v not in (None, [], "")})
            if scripts:
                old["scripts"] = list(scripts.values())
    return list(combined.values())


def filter_inventory(inventory: dict, hosts_pattern: str | None = None, min_severity: str | None = None) -> dict:
    """Return a copy of `inventory` cut down for an export (the input is not changed).

    `hosts_pattern`: a shell pattern (fnmatch, case-insensitive) matched against each host's hostname, FQDN,
    other names and addresses; only matching hosts are kept, with their services, software, databases,
    findings, interfaces, processes and coverage gaps; connections and dependencies are kept when either
    end matches; move groups are kept when they hold a matching host, listing only those hosts; external
    endpoints and the coverage summary are recomputed from what is kept. `min_severity`: only findings at or
    above it (critical > high > medium > low > info); findings without a known severity are left out.
    """
    from fnmatch import fnmatchcase

    result = dict(inventory)
    if hosts_pattern is not None:
        pattern = hosts_pattern.lower()

        def matches(host: dict) -> bool:
            names = [host.get("hostname"), host.get("fqdn"), *(host.get("hostnames") or ()),
                     *(host.get("addresses") or ())]
            return any(fnmatchcase(str(n).lower(), pattern) for n in names if n)

        hosts = [h for h in inventory.get("hosts") or () if matches(h)]
        kept = {h["id"] for h in hosts}
        result["hosts"] = hosts
        for name in ("services", "software", "databases", "findings", "interfaces", "processes", "coverage"):
            result[name] = [r for r in inventory.get(name) or () if r.get("host_id") in kept]
        for name in ("connections", "dependencies", "l2_links"):
            result[name] = [r for r in inventory.get(name) or ()
                            if r.get("source_host_id") in kept or r.get("target_host_id") in kept]
        result["runs_on"] = [r for r in inventory.get("runs_on") or () if r.get("vm_host_id") in kept]
        result["groups"] = [{**g, "host_ids": [h for h in g.get("host_ids") or () if h in kept]}
                            for g in inventory.get("groups") or () if kept.intersection(g.get("host_ids") or ())]
        result["external_endpoints"] = external_endpoints(result["connections"])
        if "coverage_summary" in inventory:
            result["coverage_summary"] = summarize_coverage(result)
    if min_severity is not None:
        allowed = severities_at_or_above(min_severity)
        result["findings"] = [f for f in result.get("findings") or () if f.get("severity") in allowed]
    return result
