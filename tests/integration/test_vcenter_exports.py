"""Every export of a store that scan vcenter filled from VMware's own simulator (govmomi's vcsim, built from
tests/integration/data/vcsim/main.go), one VM powered off first: the real CLI writes JSON, the workbook, the CSV
zip, GraphML and the Azure Migrate and AWS Migration Hub files, which are read back (openpyxl, csv, networkx) and
compared with the JSON export: each VM with the cores, memory, disks and OS only vCenter knew, where it runs, and
vCenter's datacenters, clusters, datastores and networks.

Traffic goes to 127.0.0.1 only; the simulator is stopped by PID; every wait is bounded.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import networkx as nx
import openpyxl
import pytest

from discovery.service import run_scan
from discovery.storage.store import Store
from scanners.kinds import REGISTRY
from tests.integration.vcsim import PASSWORD, USER, build_vcsim, start_vcsim

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
COUNTS = dict(dc=1, cluster=1, cluster_host=3, host=1, vm=3, ds=2)  # 4 ESXi hosts, 6 VMs, 2 datastores
CLI_SECONDS = 120
FORMATS = {"json": "json", "xlsx": "xlsx", "csv": "zip", "graphml": "graphml", "azure-migrate": "csv",
           "aws-migration-hub": "csv"}
MIB, GIB = 1 << 20, 1 << 30


def export_cli(db: Path, fmt: str, out: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "--db", str(db), "export", "--format", fmt,
                           "--out", str(out)], capture_output=True, text=True, timeout=CLI_SECONDS, cwd=ROOT,
                          env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, (fmt, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[dict, dict[str, Path], str]:
    """(the JSON export, every format's file, the powered-off VM's BIOS UUID) of a store scan vcenter filled."""
    work = tmp_path_factory.mktemp("vcenter-exports")
    sim = start_vcsim(build_vcsim(work), **COUNTS)
    try:
        off = sim.power_off_first_vm()
        db = work / "estate.db"
        with Store(db) as store:
            scanner = REGISTRY.make_scanner("vcenter", {"server": sim.address, "user": USER, "password": PASSWORD})
            result = run_scan(store, scanner)
        assert result.status == "completed", result.error
    finally:
        sim.stop()
    files = {fmt: work / f"estate-{fmt}.{suffix}" for fmt, suffix in FORMATS.items()}
    for fmt, path in files.items():
        export_cli(db, fmt, path)
    return json.loads(files["json"].read_text(encoding="utf-8")), files, off


def vms_of(inventory: dict) -> dict[str, dict]:
    """The inventory's VMs (the hosts a runs_on row names), by host id."""
    ids = {r["vm_host_id"] for r in inventory["runs_on"]}
    return {h["id"]: h for h in inventory["hosts"] if h["id"] in ids}


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def sheet_records(ws) -> list[dict]:
    rows = ws.iter_rows(values_only=True)
    header = next(rows)
    return [dict(zip(header, row)) for row in rows]


def text(value) -> str:
    """A number or text as a CSV cell holds it; None as empty."""
    return "" if value is None else str(value)


def test_the_simulators_vms_and_objects_are_in_the_json_export(exported):
    """The premise of the tests below: six VMs (one powered off) and vCenter's objects, from the JSON export."""
    inventory, _, off = exported
    vms = vms_of(inventory)
    assert len(vms) == 6 and len(inventory["runs_on"]) == 6
    assert [h["status_reason"] for h in vms.values() if h["hardware_uuid"] == off] == ["vcenter: poweredOff"]
    assert all(h["sources"] == ["vcenter"] for h in vms.values())  # known from vCenter only
    kinds = sorted(o["kind"] for o in inventory["platform_objects"])
    assert kinds.count("datastore") == 2 and kinds.count("cluster") == 1 and "vcenter" in kinds


def test_azure_migrate_has_every_vm_with_vcenters_cores_memory_disks_and_os(exported):
    inventory, files, off = exported
    rows = {r["*Server name"]: r for r in read_csv(files["azure-migrate"])}
    for vm in vms_of(inventory).values():
        row = rows[vm["fqdn"] or vm["hostname"]]
        assert vm["cpu_cores"] and vm["memory_bytes"] and vm["os_name"] and vm["disks"], vm["hostname"]
        assert (row["*Cores"], row["*Memory (In MB)"], row["*OS name"], row["OS version"]) == (
            str(vm["cpu_cores"]), str(round(vm["memory_bytes"] / MIB)), vm["os_name"], text(vm["os_version"]))
        assert (row["Server type"], row["Hypervisor"], row["Number of disks"]) == (
            "Virtual", "VMware", str(len(vm["disks"])))
        for n, disk in enumerate(vm["disks"], 1):
            assert row[f"Disk {n} size (In GB)"] == str(max(1, round(disk["size_bytes"] / GIB)))
    powered_off = next(vm for vm in vms_of(inventory).values() if vm["hardware_uuid"] == off)
    assert rows[powered_off["hostname"]]["*Cores"] == str(powered_off["cpu_cores"])


def test_aws_migration_hub_has_every_vm_with_vcenters_cores_memory_os_and_bios_uuid(exported):
    inventory, files, off = exported
    rows = {r["ExternalId"]: r for r in read_csv(files["aws-migration-hub"])}
    vms = vms_of(inventory)
    for host_id, vm in vms.items():
        row = rows[host_id]
        assert (row["HostName"], row["SMBiosId"]) == (vm["fqdn"] or vm["hostname"], vm["hardware_uuid"])
        assert (row["CPU.NumberOfCores"], row["CPU.NumberOfLogicalCores"], row["RAM.TotalSizeInMB"]) == (
            str(vm["cpu_cores"]), text(vm["cpu_logical_cores"]), str(round(vm["memory_bytes"] / MIB)))
        assert (row["OS.Name"], row["OS.Version"]) == (vm["os_name"], text(vm["os_version"]))
    assert any(rows[i]["SMBiosId"] == off for i in vms)  # the powered-off VM too
    (server,) = [o for o in inventory["platform_objects"] if o["kind"] == "vcenter"]
    facts = {i: next(s["data"] for s in vm["scripts"] if s["id"] == "vcenter-vm") for i, vm in vms.items()}
    assert {(rows[i]["VMware.MoRefId"], rows[i]["VMware.VCenterId"], rows[i]["VMware.VMName"]) for i in vms} == {
        (f["moid"], server["details"]["instance_uuid"], f["name"]) for f in facts.values()}
    assert all(rows[i]["VMware.MoRefId"].startswith("vm-") and rows[i]["VMware.VMName"] for i in vms)


def test_workbook_hypervisor_and_cluster_match_runs_on(exported):
    inventory, files, _ = exported
    book = openpyxl.load_workbook(files["xlsx"], read_only=True)
    hosts = {r["Host ID"]: r for r in sheet_records(book["Hosts"])}
    for link in inventory["runs_on"]:
        row = hosts[link["vm_host_id"]]
        assert (row["Hypervisor"], row["Cluster"]) == (link["esxi_host"], link["cluster"]), row["Hostname"]
    assert {r["cluster"] for r in inventory["runs_on"]} > {None}  # some VMs run in the cluster, some outside
    for host in inventory["hosts"]:  # ESXi hosts: their cluster, no hypervisor
        if host["os_family"] == "esxi":
            assert (hosts[host["id"]]["Hypervisor"], hosts[host["id"]]["Cluster"]) == (None, host["cluster"])


def test_workbook_vmware_objects_match_platform_objects(exported):
    inventory, files, _ = exported
    book = openpyxl.load_workbook(files["xlsx"], read_only=True)
    rows = {r["ID"]: r for r in sheet_records(book["VMware objects"])}
    objects = inventory["platform_objects"]
    assert set(rows) == {o["id"] for o in objects}
    names = {h["id"]: h["hostname"] for h in inventory["hosts"]}
    for obj in objects:
        row, details = rows[obj["id"]], obj["details"]
        assert (row["Kind"], row["Name"], row["vCenter"], row["VMs"]) == (
            obj["kind"], obj["name"], obj["server"], obj["vm_count"])
        if obj["kind"] == "datastore":
            capacity, free = details["capacity_bytes"], details["free_bytes"]
            assert row["Capacity (GiB)"] == pytest.approx(capacity / GIB)
            assert row["Free (GiB)"] == pytest.approx(free / GIB)
            assert row["Used"] == pytest.approx((capacity - free) / capacity)
            assert row["Type"] == details["type"] and row["Datacenter"] == details["datacenter"]
        elif obj["kind"] == "cluster":
            assert (row["ESXi hosts"], row["CPU cores"]) == (details["hosts"], details["cpu_cores"])
            assert row["Memory (GiB)"] == pytest.approx(details["memory_bytes"] / GIB)
            assert set(row["ESXi host names"].split(", ")) == {names[i] for i in obj["esxi_host_ids"]}
        elif obj["kind"] == "vcenter":
            assert (row["Product"], row["Version"], row["Build"]) == (
                details["product"], details["version"], details["build"])
    assert any(o["kind"] == "datastore" and o["vm_count"] for o in objects)


def test_csv_zip_runs_on_and_platform_objects_match_the_json(exported):
    inventory, files, _ = exported
    with zipfile.ZipFile(files["csv"]) as archive:
        tables = {name: list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"), newline="")))
                  for name in ("runs_on.csv", "platform_objects.csv", "hosts.csv")}
    assert sorted(tuple(r.values()) for r in tables["runs_on.csv"]) == sorted(
        tuple(text(v) for v in link.values()) for link in inventory["runs_on"])
    objects = {o["id"]: o for o in inventory["platform_objects"]}
    assert {r["id"] for r in tables["platform_objects.csv"]} == set(objects)
    for row in tables["platform_objects.csv"]:
        assert json.loads(row["details"]) == objects[row["id"]]["details"]
        assert row["vm_count"] == text(objects[row["id"]]["vm_count"])
    hypervisors = {r["id"]: (r["hypervisor"], r["cluster"]) for r in tables["hosts.csv"]}
    for link in inventory["runs_on"]:
        assert hypervisors[link["vm_host_id"]] == (text(link["esxi_host"]), text(link["cluster"]))


def test_graphml_host_nodes_carry_hypervisor_and_cluster_and_no_edge_to_the_esxi_host(exported):
    inventory, files, _ = exported
    graph = nx.read_graphml(files["graphml"])
    for link in inventory["runs_on"]:
        node = graph.nodes[link["vm_host_id"]]
        assert node["hypervisor"] == link["esxi_host"]
        assert node.get("cluster") == link["cluster"]  # None is left out
        if link["esxi_host_id"]:
            assert not graph.has_edge(link["vm_host_id"], link["esxi_host_id"])
            assert not graph.has_edge(link["esxi_host_id"], link["vm_host_id"])
