"""The store: one SQLite file through sqlite-utils, with a versioned schema and scan history.

Every scan is kept. A host's results from one scan are an *observation*: the host as seen,
and its interfaces, software, processes, services, databases and connections, written in one
transaction as they arrive, so an interrupted scan keeps every host it finished. The current
inventory is each host's newest observation per source.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from discovery.records.annotations import check_annotation
from discovery.records.categories import categorise_service
from discovery.storage.liveness import process_identity, process_state
from discovery.storage.merge import KINDS, Match, find_match, identity_keys
from discovery.records.model import HostReport, PlatformObject, Scan, StoreError, utc_now
from discovery.records.redact import redact_command_line, redact_report, redact_text

APP_NAME = "estatemap"
DB_FILENAME = "estate.db"
MIGRATIONS = Migrations(APP_NAME)
log = logging.getLogger(__name__)

# Tables of per-observation child records, with the HostReport attribute each one holds.
CHILD_TABLES = {
    "interfaces": "interfaces",
    "software": "software",
    "processes": "processes",
    "services": "services",
    "databases": "databases",
    "connections": "connections",
    "neighbours": "neighbours",
}


def default_path() -> Path:
    """Return the default store path: estate.db in the user's data directory (ESTATEMAP_DB overrides)."""
    if env := os.environ.get("ESTATEMAP_DB"):
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / DB_FILENAME


# --- schema ------------------------------------------------------------------------------------

@MIGRATIONS()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["scans"].create({
        "id": int, "kind": str, "targets": str, "arguments": str, "started_at": str,
        "finished_at": str, "status": str, "warnings": str, "error": str,
    }, pk="id")
    db["hosts"].create({
        "id": str, "hostname": str, "domain": str, "fqdn": str, "addresses": str, "macs": str,
        "os_name": str, "os_version": str, "os_family": str, "os_id": str, "kernel": str,
        "architecture": str, "boot_time": str, "vendor": str, "model": str, "serial": str,
        "hardware_uuid": str, "machine_id": str, "virtualization": str, "cpu_model": str,
        "cpu_cores": int, "cpu_logical_cores": int, "cpu_mhz": float, "memory_bytes": int,
        "swap_bytes": int, "disks": str, "partitions": str, "sources": str,
        "first_seen": str, "last_seen": str,
    }, pk="id")
    db["host_keys"].create({"kind": str, "value": str, "host_id": str}, pk=("kind", "value", "host_id"),
                           foreign_keys=[("host_id", "hosts", "id")])
    db["observations"].create({
        "scan_id": int, "host_id": str, "source": str, "observed_at": str, "match_reason": str, "host": str,
    }, pk=("scan_id", "host_id"), foreign_keys=[("scan_id", "scans", "id"), ("host_id", "hosts", "id")])
    db["observations"].create_index(["host_id", "source", "scan_id"])
    observed = {"scan_id": int, "host_id": str, "source": str, "observed_at": str}
    db["interfaces"].create({**observed, "name": str, "mac": str, "addresses": str, "is_up": int,
                             "speed_mbps": int, "mtu": int})
    db["software"].create({**observed, "name": str, "version": str, "vendor": str, "architecture": str})
    db["processes"].create({**observed, "pid": int, "ppid": int, "name": str, "exe": str, "username": str,
                            "started_at": str, "cmdline": str})
    db["services"].create({**observed, "id": str, "protocol": str, "port": int, "address": str, "state": str,
                           "name": str, "product": str, "version": str, "extra_info": str, "tunnel": str,
                           "cpes": str, "category": str, "process": str, "pid": int})
    db["databases"].create({**observed, "id": str, "service_id": str, "engine": str, "protocol": str,
                            "port": int, "version": str, "databases": str, "process": str, "pid": int})
    db["connections"].create({**observed, "protocol": str, "local_address": str, "local_port": int,
                              "remote_address": str, "remote_port": int, "state": str, "direction": str,
                              "process": str, "pid": int})
    for table in ("interfaces", "software", "processes", "services", "databases", "connections"):
        db[table].create_index(["scan_id", "host_id"])
    db["evidence"].create({"scan_id": int, "host_id": str, "name": str, "text": str}, pk=("scan_id", "host_id", "name"))
    db["findings"].create({"id": str, "subject_type": str, "subject_id": str, "host_id": str, "rule": str,
                           "category": str, "severity": str, "title": str, "evidence": str,
                           "recommendation": str}, pk="id")
    db["groups"].create({"id": str, "name": str, "wave": int, "host_ids": str}, pk="id")
    db["annotations"].create({"host_id": str, "owner": str, "criticality": str, "patient_data": str,
                              "notes": str, "updated_at": str}, pk="host_id")


@MIGRATIONS()
def m002_network_scan_fields(db: sqlite_utils.Database) -> None:
    """What nmap reports beyond the host's own view: names, NIC vendor, status, OS guesses, scripts."""
    for column, kind in (("hostnames", str), ("mac_vendor", str), ("status", str), ("status_reason", str),
                         ("os_matches", str), ("uptime_seconds", int), ("scripts", str)):
        db["hosts"].add_column(column, kind)
    for column, kind in (("reason", str), ("method", str), ("confidence", int), ("os_type", str),
                         ("device_type", str), ("service_hostname", str), ("fingerprint", str), ("scripts", str)):
        db["services"].add_column(column, kind)


@MIGRATIONS()
def m003_connection_sampling(db: sqlite_utils.Database) -> None:
    """How a connection is known (observed or reported) and, when watched, when and how often it was seen."""
    for column, kind in (("evidence", str), ("first_seen", str), ("last_seen", str), ("samples", int)):
        db["connections"].add_column(column, kind)
    db.execute("UPDATE connections SET evidence = 'observed', samples = 1")


@MIGRATIONS()
def m004_database_clients(db: sqlite_utils.Database) -> None:
    """What a database server reports: its databases' sizes, and the program on the far end of a connection."""
    db["databases"].add_column("sizes", str)
    db["connections"].add_column("remote_process", str)


@MIGRATIONS()
def m005_analysis(db: sqlite_utils.Database) -> None:
    """Results of `estatemap analyze`: findings' confidence and data, group explanations, host risk."""
    db["findings"].add_column("confidence", str)
    db["findings"].add_column("data", str)
    db["groups"].add_column("explanation", str)
    db["groups"].add_column("edges", str)
    db["host_risk"].create({"host_id": str, "score": float, "factors": str, "computed_at": str}, pk="host_id")
    db["analyses"].create({"id": int, "created_at": str, "as_of": str, "summary": str}, pk="id")


@MIGRATIONS()
def m006_scan_origin(db: sqlite_utils.Database) -> None:
    """The addresses a network scan was run from, so its own probes are not taken for dependencies."""
    db["scans"].add_column("origin", str)


@MIGRATIONS()
def m007_group_annotations(db: sqlite_utils.Database) -> None:
    """An architect's wave for a move group (from a workbook), kept apart from `groups` so analyze keeps it."""
    db["group_annotations"].create({"group_id": str, "wave": int, "updated_at": str}, pk="group_id")


@MIGRATIONS()
def m008_scan_owner(db: sqlite_utils.Database) -> None:
    """Which process runs a scan (so a scan whose process was killed is found and marked interrupted), the
    options it was started with and each resume (so `estatemap scan resume` can continue it)."""
    db["scans"].add_column("runner", str)
    db["scans"].add_column("options", str)
    db["scans"].add_column("resumes", str)
    # A scan left running by an earlier version has no owner to check; its process cannot still be
    # writing through this schema, so it is marked interrupted now rather than "running" for ever.
    note = json.dumps("marked interrupted when the store was upgraded: no process was recorded for it")
    db.execute("UPDATE scans SET status = 'interrupted', "
               "warnings = json_insert(coalesce(warnings, '[]'), '$[#]', json(?)) WHERE status = 'running'", [note])


@MIGRATIONS()
def m009_neighbours(db: sqlite_utils.Database) -> None:
    """The layer-2 map as switches report it: LLDP/CDP neighbours and forwarding-table MACs per port."""
    db["neighbours"].create({"scan_id": int, "host_id": str, "source": str, "observed_at": str, "protocol": str,
                             "local_port": str, "remote_mac": str, "remote_address": str, "remote_name": str,
                             "remote_port": str, "remote_description": str, "vlan": int})
    db["neighbours"].create_index(["scan_id", "host_id"])


@MIGRATIONS()
def m010_flow_counts(db: sqlite_utils.Database) -> None:
    """A connection seen on the wire (passive capture) with its packets and bytes."""
    db["connections"].add_column("packets", int)
    db["connections"].add_column("bytes", int)


@MIGRATIONS()
def m012_wave_plan(db: sqlite_utils.Database) -> None:
    """The wave planner's rules as the architects set them (name -> JSON value; a rule not stored takes its
    default: discovery.analyses.wave_rules.RULES), and each move group's reasons for its wave."""
    db["wave_rules"].create({"name": str, "value": str, "updated_at": str}, pk="name")
    db["groups"].add_column("wave_reasons", str)


@MIGRATIONS()
def m013_platform_objects(db: sqlite_utils.Database) -> None:
    """What a platform scanner (scan vcenter) saw that is not a host: the vCenter, its datacenters, clusters,
    datastores and networks, per scan."""
    db["platform_objects"].create({"scan_id": int, "server": str, "kind": str, "key": str, "name": str,
                                   "parent": str, "source": str, "observed_at": str, "data": str},
                                  pk=("scan_id", "server", "kind", "key"))


SCHEMA_VERSION = len(MIGRATIONS._migrations)


# --- values to and from rows -------------------------------------------------------------------

def _to_column(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return json.dumps([_plain(v) for v in value])
    if isinstance(value, bool):
        return int(value)
    return value


def _plain(value):
    if dataclasses.is_dataclass(value):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def record_row(record, **extra) -> dict:
    """Return a record as a store row: datetimes as ISO-8601 text, sequences as JSON text."""
    row = {f.name: _to_column(getattr(record, f.name)) for f in dataclasses.fields(record)}
    row.update(extra)
    return row


JSON_COLUMNS = {"targets", "warnings", "origin", "runner", "options", "resumes", "addresses", "macs", "disks", "partitions", "sources", "cpes",
                "databases", "host_ids", "host", "hostnames", "os_matches", "scripts", "sizes", "data", "edges",
                "factors", "summary", "wave_reasons"}


def decode_row(row: dict) -> dict:
    """Return a row with its JSON columns decoded."""
    return {k: (json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) else v) for k, v in row.items()}


# --- the store ---------------------------------------------------------------------------------

class Store:
    """An open Estate Mapper store. Raises StoreError when the file cannot be used."""

    def __init__(self, path: str | os.PathLike, *, create: bool = True):
        self.path = Path(path)
        self.db = _open_database(self.path, create=create)
        self.mark_abandoned_scans()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    # scans

    def start_scan(self, scan: Scan, *, options: dict | None = None) -> int:
        """Record a scan as running, owned by this process, and return its id.

        `options` are what `estatemap scan resume` needs to run it again (never a password)."""
        row = record_row(scan, arguments=redact_command_line(scan.arguments))
        row.pop("id")
        row.pop("host_count")
        row.update(runner=json.dumps(process_identity()), options=json.dumps(options or {}))
        with self._writing():
            return self.db["scans"].insert(row).last_pk

    def reopen_scan(self, scan_id: int, *, arguments: str | None = None, origin: tuple[str, ...] = ()) -> list[str]:
        """Mark an interrupted or failed scan running again, owned by this process, noting the resume (when and
        what ran); return its warnings so far. Raises StoreError if it is not interrupted or failed (another
        process may have resumed it first)."""
        now = utc_now().isoformat()
        with self._writing():
            row = next(self.db["scans"].rows_where("id = ?", [scan_id]), None)
            if row is None or row["status"] not in ("interrupted", "failed"):
                status = row["status"] if row else "missing"
                raise StoreError(f"scan {scan_id} cannot be resumed: it is {status}")
            row = decode_row(row)
            resumes = [*(row.get("resumes") or []),
                       {"at": now, "arguments": redact_command_line(arguments), "pid": os.getpid()}]
            self.db["scans"].update(scan_id, {
                "status": "running", "finished_at": None, "error": None,
                "runner": json.dumps(process_identity()), "resumes": json.dumps(resumes),
                "origin": json.dumps(sorted(set(row.get("origin") or ()) | set(origin))),
            })
        return list(row.get("warnings") or [])

    def mark_abandoned_scans(self) -> list[int]:
        """Mark interrupted every running scan whose process has ended without finishing it (killed, lost
        power), with a warning on the scan and in the log; return their ids. A store that cannot be written
        (read-only) is left as it is."""
        marked = []
        running = self.db.execute("SELECT id, runner FROM scans WHERE status = 'running'").fetchall()
        for scan_id, owner_text in running:
            owner = json.loads(owner_text) if owner_text else None
            if process_state(owner) != "gone":
                continue
            now = utc_now().isoformat()
            note = (f"interrupted: the process running it (pid {owner['pid']} on {owner.get('host')}) ended "
                    f"without finishing it; noticed at {now}")
            try:
                with self._writing():
                    changed = self.db.execute(
                        "UPDATE scans SET status = 'interrupted', finished_at = ?, "
                        "warnings = json_insert(coalesce(warnings, '[]'), '$[#]', ?) "
                        "WHERE id = ? AND status = 'running' AND runner = ?",
                        [now, note, scan_id, owner_text]).rowcount
            except StoreError as error:
                log.debug("could not mark scan %s interrupted: %s", scan_id, error)
                continue
            if changed:
                marked.append(scan_id)
                log.warning("scan %s was left running by process %s, which has ended; marked interrupted "
                            "(the hosts it finished are kept; continue it with: estatemap scan resume %s)",
                            scan_id, owner["pid"], scan_id)
        return marked

    def finished_names(self, scan_id: int) -> set[str]:
        """Return the addresses, host names and FQDNs of every host a scan has stored (lower case)."""
        names: set[str] = set()
        for (text,) in self.db.execute("SELECT host FROM observations WHERE scan_id = ?", [scan_id]):
            host = json.loads(text) if text else {}
            names.update(host.get("addresses") or ())
            names.update(host.get("hostnames") or ())
            names.update(v for v in (host.get("hostname"), host.get("fqdn")) if v)
        return {n.lower() for n in names if isinstance(n, str)}

    def finish_scan(self, scan_id: int, status: str, warnings: list[str] | tuple[str, ...] = (),
                    error: str | None = None) -> None:
        """Mark a scan completed, interrupted or failed, with what it could not do."""
        with self._writing():
            self.db["scans"].update(scan_id, {
                "status": status, "finished_at": utc_now().isoformat(),
                "warnings": json.dumps([redact_text(w) for w in warnings]), "error": error,
            })

    def list_scans(self) -> list[dict]:
        """Return every scan, oldest first, with the number of hosts it observed."""
        self.mark_abandoned_scans()
        rows = self.db.query(
            "SELECT s.*, (SELECT count(*) FROM observations o WHERE o.scan_id = s.id) AS host_count "
            "FROM scans s ORDER BY s.id")
        return [decode_row(r) for r in rows]

    def get_scan(self, scan_id: int) -> dict | None:
        return next((s for s in self.list_scans() if s["id"] == scan_id), None)

    # hosts

    def write_host_report(self, scan_id: int, report: HostReport) -> tuple[str, Match | None]:
        """Store one host's results from one scan in one transaction; return its host id and how it matched.

        Every text holding tool output is redacted here, whatever scanner or file it came from."""
        report = redact_report(report)
        with self._writing():
            match = find_match(report.host, self._hosts_with_key, self._macs_of, self._uuids_of)
            host_id = match.host_id if match else new_host_id()
            report = report.with_host_id(host_id)
            self._upsert_host(report)
            host = report.host
            self.db["observations"].insert({
                "scan_id": scan_id, "host_id": host_id, "source": host.source,
                "observed_at": host.observed_at.isoformat(), "match_reason": match.reason if match else None,
                "host": json.dumps(_plain(host)),
            }, replace=True)
            self.db["host_keys"].insert_all(
                ({"kind": k, "value": v, "host_id": host_id} for k, v in identity_keys(host)), ignore=True)
            for table, attribute in CHILD_TABLES.items():
                self.db[table].insert_all(
                    (self._child_row(table, record, scan_id) for record in getattr(report, attribute)),
                    batch_size=500)
            self.db["evidence"].insert_all(
                ({"scan_id": scan_id, "host_id": host_id, "name": name, "text": redact_text(text)}
                 for name, text in report.raw.items()), replace=True)
        return host_id, match

    def write_platform_object(self, scan_id: int, obj: PlatformObject) -> None:
        """Store one vCenter, datacenter, cluster, datastore or network as scan `scan_id` saw it."""
        with self._writing():
            self.db["platform_objects"].insert(
                {**record_row(obj), "scan_id": scan_id, "data": json.dumps(_plain(obj.data), default=str)},
                replace=True)

    def platform_objects(self, scan_id: int | None = None) -> list[dict]:
        """Return the platform objects of one scan, or the current ones: those of the newest scan that described
        each server."""
        if scan_id is not None:
            sql, args = "SELECT * FROM platform_objects WHERE scan_id = ? ORDER BY server, kind, name, key", [scan_id]
        else:
            sql, args = ("SELECT * FROM platform_objects o WHERE o.scan_id = (SELECT max(p.scan_id) FROM "
                         "platform_objects p WHERE p.server = o.server) ORDER BY server, kind, name, key"), []
        return [decode_row(r) for r in self.db.query(sql, args)]

    def _child_row(self, table: str, record, scan_id: int) -> dict:
        extra = {"scan_id": scan_id}
        if table == "processes":
            extra["cmdline"] = redact_command_line(record.cmdline)
        elif table == "services":
            extra["id"] = record.id
            extra["category"] = record.category or categorise_service(
                port=record.port, name=record.name, process=record.process)
        elif table == "databases":
            extra.update(id=record.id, service_id=record.service_id)
        return record_row(record, **extra)

    def _hosts_with_key(self, kind: str, value: str) -> list[str]:
        assert kind in KINDS
        rows = self.db.execute("SELECT host_id FROM host_keys WHERE kind = ? AND value = ? ORDER BY host_id",
                               [kind, value])
        return [r[0] for r in rows]

    def _uuids_of(self, host_ids: list[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for start in range(0, len(host_ids), 500):  # well under SQLite's bound on parameters
            chunk = host_ids[start:start + 500]
            rows = self.db.execute("SELECT host_id, value FROM host_keys WHERE kind = 'uuid' AND host_id IN "
                                   f"({', '.join('?' * len(chunk))})", chunk)
            for host_id, value in rows:
                found.setdefault(host_id, set()).add(value)
        return found

    def _macs_of(self, host_id: str) -> set[str]:
        rows = self.db.execute("SELECT value FROM host_keys WHERE kind = 'mac' AND host_id = ?", [host_id])
        return {r[0] for r in rows}

    def _upsert_host(self, report: HostReport) -> None:
        """Merge an observed host into the current host row: newest non-empty value wins, sources are unioned, and
        script results are kept from every source (by script id, the newest of one id): a capture's
        passive-traffic beside nmap's smb-protocols."""
        host = report.host
        new = record_row(host)
        new.pop("source")
        new.pop("observed_at")
        seen = host.observed_at.isoformat()
        table = self.db["hosts"]
        try:
            old = decode_row(table.get(host.id))
        except sqlite_utils.db.NotFoundError:
            table.insert({**new, "sources": json.dumps([host.source]), "first_seen": seen, "last_seen": seen})
            return
        merged = {k: v for k, v in new.items() if v not in (None, "[]")}
        if "scripts" in merged and old.get("scripts"):
            scripts = {s.get("id"): s for s in [*old["scripts"], *json.loads(merged["scripts"])]}
            merged["scripts"] = _to_column(list(scripts.values()))
        merged["sources"] = json.dumps(sorted(set(old["sources"] or []) | {host.source}))
        merged["first_seen"] = min(old["first_seen"], seen)
        merged["last_seen"] = max(old["last_seen"], seen)
        table.update(host.id, merged)

    def hosts(self) -> list[dict]:
        return [decode_row(r) for r in self.db["hosts"].rows_where(order_by="id")]

    def host_for_address(self, address: str) -> str | None:
        """Return the id of the host that has `address`, or None."""
        ids = self._hosts_with_key("address", address)
        return ids[0] if len(ids) == 1 else None

    # reading the inventory

    def current_observations(self, scan_id: int | None = None) -> list[dict]:
        """Return (scan_id, host_id, source) of each host's newest observation per source, or of one scan's."""
        if scan_id is not None:
            sql = "SELECT scan_id, host_id, source, observed_at FROM observations WHERE scan_id = ?"
            return list(self.db.query(sql, [scan_id]))
        sql = ("SELECT o.scan_id, o.host_id, o.source, o.observed_at FROM observations o "
               "WHERE o.scan_id = (SELECT max(p.scan_id) FROM observations p "
               "WHERE p.host_id = o.host_id AND p.source = o.source) ORDER BY o.host_id, o.scan_id")
        return list(self.db.query(sql))

    def child_rows(self, table: str, observations: list[dict]) -> Iterator[dict]:
        """Yield the rows of a child table that belong to the given observations, decoded."""
        assert table in CHILD_TABLES
        for obs in observations:
            for row in self.db.query(f"SELECT * FROM [{table}] WHERE scan_id = ? AND host_id = ? ORDER BY rowid",
                                     [obs["scan_id"], obs["host_id"]]):
                yield decode_row(row)

    def evidence_rows(self, observations: list[dict], name: str) -> list[dict]:
        """Return the raw evidence called `name` kept with the given observations."""
        wanted = {(o["scan_id"], o["host_id"]) for o in observations}
        return [r for r in self.db["evidence"].rows_where("name = ?", [name]) if (r["scan_id"], r["host_id"]) in wanted]

    def save_analysis(self, *, findings: list[dict], groups: list[dict], risk: dict[str, dict], as_of: str,
                      summary: dict) -> int:
        """Replace the previous analysis results with these, in one transaction; return the analysis id."""
        now = utc_now().isoformat()
        with self._writing():
            for table in ("findings", "groups", "host_risk"):
                self.db.execute(f"DELETE FROM [{table}]")
            self.db["findings"].insert_all(({k: _to_column(v) if k != "data" else json.dumps(v)
                                             for k, v in f.items()} for f in findings), batch_size=500)
            self.db["groups"].insert_all(({k: _to_column(v) for k, v in g.items()} for g in groups), batch_size=500)
            self.db["host_risk"].insert_all(({"host_id": h, "score": r["score"], "factors": json.dumps(r["factors"]),
                                              "computed_at": now} for h, r in risk.items()), batch_size=500)
            return self.db["analyses"].insert({"created_at": now, "as_of": as_of,
                                               "summary": json.dumps(summary)}).last_pk

    def save_annotations(self, rows: list[dict], *, group_waves: dict[str, int | None] | None = None,
                         wave_rules: dict | None = None) -> int:
        """Write architects' annotations in one transaction; return the number of rows written.

        `rows`: dicts with host_id and any of owner, criticality, patient_data, notes (None clears a value;
        a field left out keeps the stored one). `group_waves`: group id -> wave override (None removes it).
        `wave_rules`: as save_wave_rules takes them.
        Raises AnnotationError, writing nothing, when a text is longer than MAX_ANNOTATION_CHARS.
        """
        for row in rows:
            check_annotation(row)
        now = utc_now().isoformat()
        fields = ("owner", "criticality", "patient_data", "notes")
        written = 0
        with self._writing():
            for row in rows:
                old = next(self.db["annotations"].rows_where("host_id = ?", [row["host_id"]]), {})
                merged = {f: row[f] if f in row else old.get(f) for f in fields}
                self.db["annotations"].upsert({"host_id": row["host_id"], **merged, "updated_at": now}, pk="host_id")
                written += 1
            for group_id, wave in (group_waves or {}).items():
                if wave is None:
                    self.db.execute("DELETE FROM group_annotations WHERE group_id = ?", [group_id])
                else:
                    self.db["group_annotations"].upsert({"group_id": group_id, "wave": wave, "updated_at": now},
                                                        pk="group_id")
                written += 1
            if wave_rules:
                written += self.save_wave_rules(wave_rules)
        return written

    def wave_rules(self) -> dict:
        """Return the wave rules the architects set ({name: value}); a rule not set is not in it."""
        return {r["name"]: json.loads(r["value"]) for r in self.db["wave_rules"].rows}

    def save_wave_rules(self, rules: dict) -> int:
        """Set wave rules ({name: value}; None puts a rule back to its default) in one transaction; return how
        many were written. The values are the caller's to check (discovery.analyses.wave_rules.rules_from)."""
        now = utc_now().isoformat()
        with self._writing():
            for name, value in rules.items():
                if value is None:
                    self.db.execute("DELETE FROM wave_rules WHERE name = ?", [name])
                else:
                    self.db["wave_rules"].upsert({"name": name, "value": json.dumps(value), "updated_at": now},
                                                 pk="name")
        return len(rules)

    def latest_analysis(self) -> dict | None:
        """Return the newest analysis row (id, created_at, as_of, summary), or None before any."""
        rows = list(self.db.query("SELECT * FROM analyses ORDER BY id DESC LIMIT 1"))
        return decode_row(rows[0]) if rows else None

    def rows(self, table: str) -> list[dict]:
        """Return every row of an analysis table (findings, groups, annotations), decoded."""
        assert table in {"findings", "groups", "annotations", "group_annotations", "host_risk", "analyses"}
        return [decode_row(r) for r in self.db[table].rows]

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One transaction; SQLite's errors (read-only file, disk full, locked) become StoreError.

        It takes the write lock first (BEGIN IMMEDIATE), so a second process writing the same store (the GUI
        saving a note while the CLI scans) waits up to the busy timeout instead of failing at once when the
        snapshot it read has gone stale."""
        conn = self.db.conn
        try:
            if conn.in_transaction:
                with self.db.atomic():  # nested: a savepoint
                    yield
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                with self.db.atomic():  # a savepoint inside, so sqlite-utils' own nesting holds
                    yield
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot write store {self.path}: {error}") from None


def new_host_id() -> str:
    return "h-" + uuid.uuid4().hex[:12]


def _open_database(path: Path, *, create: bool) -> sqlite_utils.Database:
    """Open (or create) the store at `path`, migrate it forward and return it. Raises StoreError."""
    if path.is_dir():
        raise StoreError(f"cannot use {path} as a store: it is a directory")
    if path.exists() and not path.is_file():  # /dev/null, a FIFO, a socket: SQLite would write beside it
        raise StoreError(f"cannot use {path} as a store: it is not a regular file")
    exists = path.exists()
    if not exists:
        if not create:
            raise StoreError(f"no store at {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # An estate map is sensitive: the store is readable by its owner only.
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except OSError as error:
            raise StoreError(f"cannot create store {path}: {error.strerror or error}") from None
    elif not os.access(path, os.R_OK):
        raise StoreError(f"cannot read store {path}: permission denied")
    try:
        conn = sqlite3.connect(path, timeout=10)
        db = sqlite_utils.Database(conn)
        tables = set(db.table_names())
        if tables and Migrations.migrations_table not in tables:
            conn.close()
            raise StoreError(f"{path} is an SQLite database but not an Estate Mapper store; it was left untouched")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{path} was written by a newer Estate Mapper (schema {version}, "
                             f"this version reads up to {SCHEMA_VERSION}); upgrade Estate Mapper")
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        if MIGRATIONS.pending(db):
            MIGRATIONS.apply(db)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as error:
        if not exists:
            path.unlink(missing_ok=True)
        message = str(error)
        if "not a database" in message or "malformed" in message:
            raise StoreError(f"{path} is not an Estate Mapper store ({message}); it was left untouched") from None
        if "readonly" in message or "unable to open" in message:
            raise StoreError(f"cannot write store {path}: {message}") from None
        raise StoreError(f"cannot open store {path}: {message}") from None
    return db
