"""What scan vcenter adds to the exports, from a store holding one ESXi host, two VMs only vCenter knows (one
powered off) and vCenter's objects, some named like a formula: the workbook's Hypervisor and Cluster columns and
VMware objects sheet, the CSV zip's runs_on.csv and platform_objects.csv, the graph's host attributes and the
Azure Migrate and AWS Migration Hub rows."""

import csv
import io
import json
import zipfile

import networkx as nx
import openpyxl
import pytest

from discovery.inventory.build import build_inventory
from discovery.records.model import Disk, Host, HostReport, PlatformObject, Scan, ScriptResult
from exports.csv import CsvExporter
from exports.graphml import GexfExporter, GraphmlExporter, build_export_graph
from exports.migration_templates import AWS_COLUMNS, AwsMigrationHubExporter, AzureMigrateExporter
from exports.safe_cells import looks_like_formula
from exports.xlsx import GIB_FORMAT, PLATFORM_OBJECTS_SHEET, XlsxExporter
from tests.builders import T0

GIB = 1 << 30
HOSTILE = "=cmd|'/c calc'!A1"
SERVER = "https://vc.example.org"
ESXI_UUID = "4c4c4544-0031-3510-8052-b4c04f4d3232"


def vm_report(name: str, uuid: str, *, power: str, cpus: int, memory_gib: int, disks_gib: tuple[int, ...],
              guest: str, moid: str | None = None, vcenter_uuid: str | None = None,
              cores_per_socket: int | None = None) -> HostReport:
    """A VM as scan vcenter reports it (scanners.vcenter_records.transform_virtual_machine): no address, no other
    source, its ESXi host and cluster in its vcenter-vm script."""
    facts = {"power_state": power, "runs_on": {"host": "esx01", "host_uuid": ESXI_UUID, "cluster": HOSTILE},
             "datacenter": "DC1", "folder": None, "hardware_version": "vmx-19", "guest_os_configured": guest,
             "guest_os_reported": None, "guest_os_differs": False, "tools_running": "guestToolsNotRunning",
             "tools_version_status": None, "tools_version": None, "template": False, "datastores": [HOSTILE],
             "networks": ["-VM Network"], "name": name, "moid": moid, "vcenter_uuid": vcenter_uuid,
             "cores_per_socket": cores_per_socket}
    return HostReport(host=Host(
        source="vcenter", observed_at=T0, hostname=name, hostnames=(name,), os_name=guest, vendor="VMware, Inc.",
        model="VMware Virtual Platform", hardware_uuid=uuid, virtualization="vmware", cpu_cores=cpus,
        cpu_logical_cores=cpus, memory_bytes=memory_gib * GIB,
        disks=tuple(Disk(name=f"Hard disk {n}", size_bytes=size * GIB) for n, size in enumerate(disks_gib, 1)),
        status="up" if power == "poweredOn" else "down", status_reason=f"vcenter: {power}",
        scripts=(ScriptResult(id="vcenter-vm", output=power, data=facts),)))


def esxi_report() -> HostReport:
    return HostReport(host=Host(
        source="vcenter", observed_at=T0, hostname="esx01", addresses=("10.8.0.11",), os_name="VMware ESXi",
        os_version="8.0.2", os_family="esxi", hardware_uuid=ESXI_UUID, virtualization="none", cpu_cores=32,
        memory_bytes=512 * GIB,
        scripts=(ScriptResult(id="vcenter-esxi", output="esxi", data={"cluster": HOSTILE, "datacenter": "DC1"}),)))


def platform_objects() -> list[PlatformObject]:
    common = dict(server=SERVER, source="vcenter", observed_at=T0)
    return [
        PlatformObject(kind="vcenter", key="ServiceInstance", name=SERVER, **common,
                       data={"product": "VMware vCenter Server 8.0.2 build-22617221", "version": "8.0.2",
                             "build": "22617221", "api_type": "VirtualCenter", "instance_uuid": "0b5e-1d"}),
        PlatformObject(kind="datacenter", key="datacenter-1", name="DC1", **common, data={"type": "Datacenter"}),
        PlatformObject(kind="cluster", key="domain-c7", name=HOSTILE, parent="datacenter-1", **common,
                       data={"type": "ClusterComputeResource", "datacenter": "DC1", "hosts": 1, "cpu_cores": 32,
                             "memory_bytes": 512 * GIB}),
        PlatformObject(kind="datastore", key="datastore-11", name=HOSTILE, parent="datacenter-1", **common,
                       data={"type": "VMFS", "datacenter": "DC1", "capacity_bytes": 400 * GIB,
                             "free_bytes": 100 * GIB, "url": "ds:///vmfs/volumes/1/"}),
        PlatformObject(kind="network", key="network-12", name="-VM Network", parent="datacenter-1", **common,
                       data={"type": "Network", "datacenter": "DC1"}),
    ]


@pytest.fixture
def inventory(store):
    scan = store.start_scan(Scan(kind="vcenter", started_at=T0))
    for report in (esxi_report(),
                   vm_report("web01", "42301e2a-11aa-4b7e-9c1d-000000000001", power="poweredOn", cpus=4,
                             memory_gib=16, disks_gib=(60, 200), guest="Microsoft Windows Server 2019 (64-bit)",
                             moid="vm-1042", vcenter_uuid="0b5e-1d", cores_per_socket=2),
                   vm_report("old01", "42301e2a-11aa-4b7e-9c1d-000000000002", power="poweredOff", cpus=2,
                             memory_gib=4, disks_gib=(40,), guest="Red Hat Enterprise Linux 7 (64-bit)",
                             moid="vm-7")):
        store.write_host_report(scan, report)
    for obj in platform_objects():
        store.write_platform_object(scan, obj)
    store.finish_scan(scan, "completed")
    return build_inventory(store)


def by_name(inventory) -> dict[str, dict]:
    return {h["hostname"]: h for h in inventory["hosts"]}


def records(ws) -> list[dict]:
    """The sheet's rows as dicts keyed by header, cells (not values) so their types and styles can be read."""
    rows = ws.iter_rows()
    header = [c.value for c in next(rows)]
    return [dict(zip(header, row)) for row in rows]


def read_tables(path) -> dict[str, list[dict]]:
    with zipfile.ZipFile(path) as archive:
        return {name: list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"), newline="")))
                for name in archive.namelist()}


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_inventory_fixture_resolves_where_each_vm_runs(inventory):
    """The premise of the tests below: both VMs run on esx01, in the hostile-named cluster."""
    hosts = by_name(inventory)
    assert {(r["vm_host_id"], r["esxi_host_id"], r["power_state"]) for r in inventory["runs_on"]} == {
        (hosts["web01"]["id"], hosts["esx01"]["id"], "poweredOn"),
        (hosts["old01"]["id"], hosts["esx01"]["id"], "poweredOff")}
    assert hosts["web01"]["hypervisor"] == "esx01" and hosts["web01"]["cluster"] == HOSTILE


def test_xlsx_hosts_sheet_has_hypervisor_and_cluster_after_the_switch(inventory, tmp_path):
    path = tmp_path / "estate.xlsx"
    XlsxExporter().write(inventory, path)
    ws = openpyxl.load_workbook(path)["Hosts"]
    header = [c.value for c in ws[1]]
    assert header.index("Hypervisor") == header.index("Switch port") + 1
    assert header.index("Cluster") == header.index("Hypervisor") + 1
    rows = {r["Hostname"].value: r for r in records(ws)}
    assert (rows["web01"]["Hypervisor"].value, rows["old01"]["Hypervisor"].value) == ("esx01", "esx01")
    assert rows["esx01"]["Hypervisor"].value is None  # an ESXi host runs on nothing; it is in its cluster
    for name in ("web01", "old01", "esx01"):
        cell = rows[name]["Cluster"]
        assert (cell.value, cell.data_type, cell.quotePrefix) == (HOSTILE, "s", True)


def test_xlsx_vmware_objects_sheet_lists_every_object_with_numbers_and_hostile_names_as_text(inventory, tmp_path):
    path = tmp_path / "estate.xlsx"
    XlsxExporter().write(inventory, path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames.index(PLATFORM_OBJECTS_SHEET) == book.sheetnames.index("VMware") + 1
    ws = book[PLATFORM_OBJECTS_SHEET]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")
    rows = records(ws)
    assert [r["Kind"].value for r in rows] == ["vcenter", "datacenter", "cluster", "datastore", "network"]
    vcenter, datacenter, cluster, datastore, network = rows
    assert (vcenter["Product"].value, vcenter["Version"].value, vcenter["Build"].value, vcenter["Type"].value) == (
        "VMware vCenter Server 8.0.2 build-22617221", "8.0.2", "22617221", "VirtualCenter")
    assert datacenter["VMs"].value == 2
    assert (cluster["ESXi hosts"].value, cluster["CPU cores"].value, cluster["Memory (GiB)"].value,
            cluster["VMs"].value, cluster["ESXi host names"].value) == (1, 32, 512, 2, "esx01")
    assert cluster["Memory (GiB)"].number_format == GIB_FORMAT
    assert (datastore["Type"].value, datastore["Capacity (GiB)"].value, datastore["Free (GiB)"].value,
            datastore["Used"].value, datastore["VMs"].value) == ("VMFS", 400, 100, 0.75, 2)
    assert datastore["Used"].number_format == "0.0%" and datastore["Capacity (GiB)"].number_format == GIB_FORMAT
    assert (network["Type"].value, network["VMs"].value) == ("Network", 2)
    for cell in (cluster["Name"], datastore["Name"], network["Name"]):
        assert cell.data_type == "s" and cell.quotePrefix, cell.value
    assert (cluster["Name"].value, datastore["Name"].value, network["Name"].value) == (HOSTILE, HOSTILE,
                                                                                     "-VM Network")
    assert not [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]
    formula_like = [c for row in ws.iter_rows() for c in row
                    if isinstance(c.value, str) and looks_like_formula(c.value)]
    assert formula_like and all(c.quotePrefix for c in formula_like)


def test_csv_runs_on_and_platform_objects_tables_quote_hostile_names(inventory, tmp_path):
    path = tmp_path / "estate.zip"
    CsvExporter().write(inventory, path)
    tables = read_tables(path)
    hosts = by_name(inventory)
    runs_on = {r["vm_host_id"]: r for r in tables["runs_on.csv"]}
    assert set(runs_on) == {hosts["web01"]["id"], hosts["old01"]["id"]}
    web = runs_on[hosts["web01"]["id"]]
    assert (web["esxi_host"], web["esxi_host_id"], web["cluster"], web["datacenter"], web["power_state"]) == (
        "esx01", hosts["esx01"]["id"], "'" + HOSTILE, "DC1", "poweredOn")
    objects = {r["kind"]: r for r in tables["platform_objects.csv"]}
    assert set(objects) == {"vcenter", "datacenter", "cluster", "datastore", "network"}
    assert objects["datastore"]["name"] == objects["cluster"]["name"] == "'" + HOSTILE
    assert objects["network"]["name"] == "'-VM Network"
    details = json.loads(objects["datastore"]["details"])
    assert (details["capacity_bytes"], details["free_bytes"]) == (400 * GIB, 100 * GIB)
    assert objects["datastore"]["vm_count"] == "2" and objects["cluster"]["esxi_host_ids"] == hosts["esx01"]["id"]
    hosts_csv = {r["hostname"]: r for r in tables["hosts.csv"]}
    assert (hosts_csv["web01"]["hypervisor"], hosts_csv["web01"]["cluster"]) == ("esx01", "'" + HOSTILE)
    for name in ("runs_on.csv", "platform_objects.csv", "hosts.csv"):
        for row in tables[name]:
            assert not [v for v in row.values() if looks_like_formula(v)], name


def test_graphml_and_gexf_host_nodes_carry_hypervisor_and_cluster_and_no_new_edges(inventory, tmp_path):
    hosts = by_name(inventory)
    graph = build_export_graph(inventory)
    bare = build_export_graph({**inventory, "hosts": [{k: v for k, v in h.items() if k not in ("hypervisor",
                                                                                                 "cluster")}
                                                      for h in inventory["hosts"]]})
    assert sorted(graph.edges(keys=True)) == sorted(bare.edges(keys=True))
    path = tmp_path / "estate.graphml"
    GraphmlExporter().write(inventory, path)
    back = nx.read_graphml(path)
    web, esxi = back.nodes[hosts["web01"]["id"]], back.nodes[hosts["esx01"]["id"]]
    assert (web["hypervisor"], web["cluster"]) == ("esx01", HOSTILE)
    assert "hypervisor" not in esxi and esxi["cluster"] == HOSTILE
    assert back.number_of_edges() == graph.number_of_edges()
    path = tmp_path / "estate.gexf"
    GexfExporter().write(inventory, path)
    web = nx.read_gexf(path).nodes[hosts["web01"]["id"]]
    assert (web["hypervisor"], web["cluster"]) == ("esx01", HOSTILE)


def test_azure_migrate_rows_of_vms_only_vcenter_knows_powered_on_or_off(inventory, tmp_path):
    path = tmp_path / "azure.csv"
    exporter = AzureMigrateExporter()
    exporter.write(inventory, path)
    rows = {r["*Server name"]: r for r in read_csv(path)}
    web, old = rows["web01"], rows["old01"]
    assert (web["*Cores"], web["*Memory (In MB)"], web["*OS name"], web["OS architecture"]) == (
        "4", str(16 * 1024), "Microsoft Windows Server 2019 (64-bit)", "64-bit")
    assert (web["Server type"], web["Hypervisor"], web["Number of disks"]) == ("Virtual", "VMware", "2")
    assert (web["Disk 1 size (In GB)"], web["Disk 2 size (In GB)"]) == ("60", "200")
    assert (old["*Cores"], old["*Memory (In MB)"], old["*OS name"], old["Number of disks"]) == (
        "2", "4096", "Red Hat Enterprise Linux 7 (64-bit)", "1")
    assert (old["Disk 1 size (In GB)"], old["Disk 2 size (In GB)"]) == ("40", "")
    assert exporter.warnings == []  # nothing mandatory is missing


def test_aws_migration_hub_rows_of_vms_only_vcenter_knows(inventory, tmp_path):
    path = tmp_path / "aws.csv"
    AwsMigrationHubExporter().write(inventory, path)
    rows = {r["HostName"]: r for r in read_csv(path)}
    hosts = by_name(inventory)
    for name, cores, memory, os_name in (("web01", "4", str(16 * 1024), "Microsoft Windows Server 2019 (64-bit)"),
                                         ("old01", "2", "4096", "Red Hat Enterprise Linux 7 (64-bit)")):
        row = rows[name]
        assert list(row) == list(AWS_COLUMNS)
        assert (row["ExternalId"], row["SMBiosId"]) == (hosts[name]["id"], hosts[name]["hardware_uuid"])
        assert (row["CPU.NumberOfCores"], row["CPU.NumberOfLogicalCores"], row["RAM.TotalSizeInMB"],
                row["OS.Name"]) == (cores, cores, memory, os_name)
        assert row["VMware.VMName"] == name
    # the managed object id and the vCenter's id, only as a pair (old01's vCenter id is unknown); sockets from
    # vCPUs over cores per socket, where vCenter said
    assert (rows["web01"]["VMware.MoRefId"], rows["web01"]["VMware.VCenterId"]) == ("vm-1042", "0b5e-1d")
    assert rows["old01"]["VMware.MoRefId"] == rows["old01"]["VMware.VCenterId"] == ""
    assert (rows["web01"]["CPU.NumberOfProcessors"], rows["old01"]["CPU.NumberOfProcessors"]) == ("2", "")
