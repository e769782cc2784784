"""Azure Migrate and AWS Migration Hub import files: the documented columns, values from the store, safe text."""

import csv
import os
import stat

import pytest

from discovery.inventory.build import build_inventory
from discovery.records.model import Disk, Partition, Scan
from exports.migration_templates import (AWS_COLUMNS, AwsMigrationHubExporter, AzureMigrateExporter,
                                         azure_columns)
from exports.safe_cells import looks_like_formula
from tests.builders import T0, make_report
from tests.unit.test_cli import filled_db, run  # noqa: F401 (a fixture)
from tests.unit.test_exports_safety import FORMULAS, hostile_inventory

# Azure Migrate, "Import using CSV" template, as the downloadable template names its columns (Microsoft's
# tutorial tutorial-discover-import lists the same fields: server name, IP address, cores, memory in MB,
# OS name/version/architecture, server type, hypervisor, number of disks, storage in use in GB, Disk N size
# in GB, read/write ops and throughput in MB per second, CPU and memory utilization, network in/out
# throughput, firmware (boot) type).
AZURE_DOCUMENTED = [
    "*Server name", "IP addresses", "*Cores", "*Memory (In MB)", "*OS name", "OS version", "OS architecture",
    "Server type", "Hypervisor", "CPU utilization percentage", "Memory utilization percentage", "Network adapters",
    "Network In throughput", "Network Out throughput", "Boot type", "Number of disks", "Storage in use (In GB)",
    "Disk 1 size (In GB)", "Disk 1 read throughput (MB per second)", "Disk 1 write throughput (MB per second)",
    "Disk 1 read ops (operations per second)", "Disk 1 write ops (operations per second)",
]
# AWS Application Discovery Service user guide, "Migration Hub Import", supported import file fields, in order.
AWS_DOCUMENTED = [
    "ExternalId", "SMBiosId", "IPAddress", "MACAddress", "HostName", "VMware.MoRefId", "VMware.VCenterId",
    "CPU.NumberOfProcessors", "CPU.NumberOfCores", "CPU.NumberOfLogicalCores", "OS.Name", "OS.Version",
    "VMware.VMName", "RAM.TotalSizeInMB", "RAM.UsedSizeInMB.Avg", "RAM.UsedSizeInMB.Max", "CPU.UsagePct.Avg",
    "CPU.UsagePct.Max", "DiskReadsPerSecondInKB.Avg", "DiskWritesPerSecondInKB.Avg", "DiskReadsPerSecondInKB.Max",
    "DiskWritesPerSecondInKB.Max", "DiskReadsOpsPerSecond.Avg", "DiskWritesOpsPerSecond.Avg",
    "DiskReadsOpsPerSecond.Max", "DiskWritesOpsPerSecond.Max", "NetworkReadsPerSecondInKB.Avg",
    "NetworkWritesPerSecondInKB.Avg", "NetworkReadsPerSecondInKB.Max", "NetworkWritesPerSecondInKB.Max",
    "Applications", "ApplicationWave", "Tags", "ServerId",
]
GIB = 1 << 30


def read_csv(path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


@pytest.fixture
def estate(store):
    """Two hosts seen from inside (cores, memory, disks, partitions) and one seen only from the network."""
    scan = store.start_scan(Scan(kind="host", started_at=T0))
    db = make_report(hostname="db01", address="10.9.9.2", fqdn="db01.example.org", cpu_cores=8, cpu_logical_cores=16,
                     memory_bytes=32 * GIB, architecture="x86_64", virtualization="vmware",
                     hardware_uuid="4c4c4544-0042", os_version="12 (bookworm)",
                     disks=(Disk(name="sda", size_bytes=100 * GIB), Disk(name="sdb", size_bytes=500 * GIB)),
                     partitions=(Partition(device="/dev/sda1", mountpoint="/", used_bytes=30 * GIB),
                                 Partition(device="/dev/sdb1", mountpoint="/var", used_bytes=220 * GIB)))
    app = make_report(hostname="app01", address="10.9.9.1", cpu_cores=4, memory_bytes=8 * GIB,
                      architecture="aarch64", virtualization="none", services=(("tcp", 8080, "java"),),
                      connections=(("10.9.9.1", 41000, "10.9.9.2", 5432, "outbound", "java"),))
    ids = {name: store.write_host_report(scan, report)[0] for name, report in (("db01", db), ("app01", app))}
    nmap_only = make_report(hostname="printer", address="10.9.9.50", source="nmap", services=())
    ids["printer"] = store.write_host_report(scan, nmap_only)[0]
    store.finish_scan(scan, "completed")
    from datetime import date

    from discovery.service import analyze
    analyze(store, as_of=date(2026, 11, 28))
    store.save_annotations([{"host_id": ids["db01"], "criticality": "high", "owner": "Dr. A. Person"}])
    return build_inventory(store), ids


def test_azure_migrate_columns_are_the_documented_template():
    assert azure_columns(1) == AZURE_DOCUMENTED
    three = azure_columns(3)
    assert three[:len(AZURE_DOCUMENTED)] == AZURE_DOCUMENTED
    assert three[-5:] == [c.replace("Disk 1", "Disk 3") for c in AZURE_DOCUMENTED[-5:]]
    assert len(azure_columns(99)) == len(AZURE_DOCUMENTED) + 19 * 5  # Azure takes up to twenty disks


def test_aws_columns_are_the_documented_fields():
    assert list(AWS_COLUMNS) == AWS_DOCUMENTED


def test_azure_migrate_rows_carry_the_store_in_the_template_units(estate, tmp_path):
    inventory, ids = estate
    path = tmp_path / "azure.csv"
    exporter = AzureMigrateExporter()
    exporter.write(inventory, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    header, rows = read_csv(path)
    assert header == AZURE_DOCUMENTED[:-5] + [c.replace("Disk 1", f"Disk {n}") for n in (1, 2)
                                                 for c in AZURE_DOCUMENTED[-5:]]
    by_name = {r["*Server name"]: r for r in rows}
    assert set(by_name) == {"db01.example.org", "app01", "printer"}
    db = by_name["db01.example.org"]
    assert (db["IP addresses"], db["*Cores"], db["*Memory (In MB)"], db["*OS name"], db["OS version"]) == \
        ("10.9.9.2", "8", str(32 * 1024), "Debian GNU/Linux", "12 (bookworm)")
    assert (db["OS architecture"], db["Server type"], db["Hypervisor"]) == ("x64", "Virtual", "VMware")
    assert (db["Number of disks"], db["Disk 1 size (In GB)"], db["Disk 2 size (In GB)"]) == ("2", "100", "500")
    assert db["Storage in use (In GB)"] == "250" and db["Network adapters"] == "1"
    assert db["CPU utilization percentage"] == "" and db["Boot type"] == ""  # not collected: left empty
    app = by_name["app01"]
    assert (app["OS architecture"], app["Server type"], app["Hypervisor"]) == ("", "Physical", "")  # arm64 is not valid
    assert app["Disk 2 size (In GB)"] == ""
    printer = by_name["printer"]
    assert printer["*Cores"] == "" and printer["*Memory (In MB)"] == ""
    (warning,) = exporter.warnings
    assert "1 of 3 hosts" in warning and "printer" in warning


def test_aws_migration_hub_rows_carry_ids_groups_and_tags_without_the_owner(estate, tmp_path):
    inventory, ids = estate
    path = tmp_path / "aws.csv"
    AwsMigrationHubExporter().write(inventory, path)
    header, rows = read_csv(path)
    assert header == AWS_DOCUMENTED
    by_id = {r["ExternalId"]: r for r in rows}
    assert set(by_id) == set(ids.values())
    db, app = by_id[ids["db01"]], by_id[ids["app01"]]
    assert (db["HostName"], db["IPAddress"], db["SMBiosId"]) == ("db01.example.org", "10.9.9.2", "4c4c4544-0042")
    assert (db["CPU.NumberOfCores"], db["CPU.NumberOfLogicalCores"], db["RAM.TotalSizeInMB"]) == ("8", "16", "32768")
    assert db["MACAddress"] and ":" in db["MACAddress"]
    (group,) = [g for g in inventory["groups"] if ids["db01"] in g["host_ids"]]
    assert db["Applications"] == app["Applications"] == group["name"]  # app01 → db01: one move group
    assert db["ApplicationWave"] == str(group["wave"])
    assert "criticality:high" in db["Tags"] and "legacy:" in db["Tags"]
    assert "Person" not in path.read_text()  # the owner is personal data: never in AWS tags
    assert by_id[ids["printer"]]["CPU.NumberOfCores"] == ""


@pytest.mark.parametrize("exporter", [AzureMigrateExporter, AwsMigrationHubExporter])
def test_migration_templates_never_write_a_formula(store, tmp_path, exporter):
    inventory = hostile_inventory(store)
    path = tmp_path / "out.csv"
    exporter().write(inventory, path)
    _, rows = read_csv(path)
    cells = [value for row in rows for value in row.values()]
    assert not [c for c in cells if looks_like_formula(c)]
    for formula in FORMULAS:
        assert "'" + formula.replace("\r", "\n") in cells or "'" + formula in cells


def test_export_cli_writes_azure_migrate_and_aws_migration_hub(filled_db, tmp_path):  # noqa: F811
    for fmt, first in (("azure-migrate", "*Server name"), ("aws-migration-hub", "ExternalId")):
        out = tmp_path / f"{fmt}.csv"
        code, stdout, err = run("export", "--db", str(filled_db), "--format", fmt, "--out", str(out))
        assert code == 0, err
        assert read_csv(out)[0][0] == first and len(read_csv(out)[1]) == 1
