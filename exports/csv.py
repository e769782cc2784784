"""CSV export: one zip file holding one CSV per table (hosts.csv, services.csv, … scans.csv, coverage.csv), with
runs_on.csv (each VM's ESXi host and cluster) and platform_objects.csv (vCenter's datacenters, clusters, datastores
and networks, their `details` as compact JSON like every nested value) from scan vcenter.

Each CSV is UTF-8 with a byte-order mark (Excel then opens it as UTF-8; other tools skip the mark), comma
separated, with a header row of the JSON export's field names (contract fields first, then added ones).
Lists of plain values are joined with ", ", nested values (disks, risk factors, scripts) are compact JSON,
unknown is empty. Every text goes through exports.safe_cells: control characters are replaced and text a
spreadsheet could evaluate (=, +, -, @, tab, CR) is prefixed with a single quote. Rows are streamed into
the zip, so memory does not grow with the file.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from discovery.analyses.coverage import coverage_rows
from discovery.inventory.build import (CONNECTION_EXTRA_FIELDS, CONNECTION_FIELDS, DATABASE_EXTRA_FIELDS,
                                       DATABASE_FIELDS, FINDING_FIELDS, HOST_EXTRA_FIELDS, HOST_FIELDS,
                                       INTERFACE_FIELDS, PROCESS_FIELDS, SCAN_EXTRA_FIELDS, SCAN_FIELDS,
                                       SERVICE_EXTRA_FIELDS, SERVICE_FIELDS, SOFTWARE_FIELDS)
from discovery.inventory.layer2 import LINK_EXTRA_FIELDS, LINK_FIELDS
from discovery.inventory.virtualization import PLATFORM_OBJECT_FIELDS, RUNS_ON_FIELDS
from discovery.files.atomic_files import atomic_output
from exports.safe_cells import csv_value

DEPENDENCY_FIELDS = ("source_host_id", "source_process", "target_host_id", "target_service_id", "target_port",
                     "protocol", "connections", "evidence", "first_seen", "last_seen", "samples")
GROUP_FIELDS = ("id", "name", "wave", "host_ids")
COVERAGE_FIELDS = ("host_id", "hostname", "depth", "levels", "sources", "dependencies", "blind_spot", "hint")
# (file in the zip, inventory key, the columns that always come first, in this order)
TABLES = (
    ("hosts.csv", "hosts", HOST_FIELDS + HOST_EXTRA_FIELDS),
    ("services.csv", "services", SERVICE_FIELDS + SERVICE_EXTRA_FIELDS),
    ("software.csv", "software", SOFTWARE_FIELDS),
    ("databases.csv", "databases", DATABASE_FIELDS + DATABASE_EXTRA_FIELDS),
    ("connections.csv", "connections", CONNECTION_FIELDS + CONNECTION_EXTRA_FIELDS),
    ("dependencies.csv", "dependencies", DEPENDENCY_FIELDS),
    ("l2_links.csv", "l2_links", LINK_FIELDS + LINK_EXTRA_FIELDS),
    ("runs_on.csv", "runs_on", RUNS_ON_FIELDS),
    ("platform_objects.csv", "platform_objects", PLATFORM_OBJECT_FIELDS),
    ("findings.csv", "findings", FINDING_FIELDS + ("confidence", "data")),
    ("groups.csv", "groups", GROUP_FIELDS + ("explanation", "edges")),
    ("scans.csv", "scans", SCAN_FIELDS + SCAN_EXTRA_FIELDS),
    ("interfaces.csv", "interfaces", INTERFACE_FIELDS),
    ("processes.csv", "processes", PROCESS_FIELDS),
    ("coverage.csv", "coverage_rows", COVERAGE_FIELDS),
)
# Tables made from the inventory rather than read from one of its keys.
DERIVED = {"coverage_rows": coverage_rows}
ENCODING = "utf-8-sig"  # UTF-8 with a byte-order mark


def table_columns(rows: list[dict], first: tuple[str, ...]) -> list[str]:
    """Return the columns of a table: `first`, then every other key its rows have, in the order first seen."""
    columns = dict.fromkeys(first)
    for row in rows:
        for name in row:
            columns.setdefault(name)
    return list(columns)


class CsvExporter:
    format = "csv"

    def write(self, inventory: dict, path: Path) -> None:
        """Write `inventory` to `path` as a zip of CSV files, atomically; raises EstateError if it cannot."""
        with atomic_output(path, "wb") as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, key, first in TABLES:
                rows = DERIVED[key](inventory) if key in DERIVED else inventory.get(key) or []
                columns = table_columns(rows, first)
                with archive.open(name, "w", force_zip64=True) as member, \
                        io.TextIOWrapper(member, encoding=ENCODING, newline="") as text:
                    writer = csv.writer(text)
                    writer.writerow(columns)
                    for row in rows:
                        writer.writerow([csv_value(row.get(c)) for c in columns])
