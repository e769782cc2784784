"""Import files for cloud migration tools: one CSV row per host, in the tool's own template.

- `azure-migrate`: the CSV of Azure Migrate's import-based discovery ("Import using CSV"). Columns as the
  downloadable template names them (mandatory ones start with `*`), documented in Microsoft's tutorial
  "Assess servers using an imported CSV file" (learn.microsoft.com/azure/migrate/tutorial-discover-import).
  Units: memory in MB, disk sizes and storage in use in GB (both binary: MiB and GiB, as hypervisors report
  them), up to 20 disks (Disk N columns for as many disks as the busiest host has, at least one).
- `aws-migration-hub`: the Migration Hub import template (import_template.csv), columns exactly as listed in
  the AWS Application Discovery Service user guide, "Migration Hub Import", supported import file fields.
  IP and MAC addresses are comma-separated lists (quoted by the CSV writer); the move group becomes the
  application and its wave the ApplicationWave; tags carry criticality and legacy, never the owner (AWS
  asks for no personal data in tags).

Figures an inventory does not have (utilisation, throughput, IOPS) are left empty: both tools accept
that. A mandatory Azure value the scan could not see (cores and memory of a host only nmap saw) is left
empty too and counted in `warnings`, so the user fills it in before importing. Text goes through
exports.safe_cells like every CSV export.

A VM only vCenter knows (scan vcenter), powered on or off, has what vCenter configured: vCPUs as cores, memory,
its virtual disks and the guest OS as vCenter names it ("Microsoft Windows Server 2019 (64-bit)": the bitness
becomes Azure's OS architecture when nothing else knew it); server type Virtual and hypervisor VMware. In the AWS
file its BIOS UUID is the SMBiosId, its managed object id and the vCenter's instance UUID are VMware.MoRefId and
VMware.VCenterId (only as a pair, as AWS takes them), its name in vCenter is VMware.VMName, and its sockets
(vCPUs over cores per socket) are CPU.NumberOfProcessors.
"""

from __future__ import annotations

import csv
from pathlib import Path

from discovery.files.atomic_files import atomic_output
from discovery.inventory.virtualization import script_data
from exports.safe_cells import csv_value

MIB, GIB = 1 << 20, 1 << 30
AZURE_MAX_DISKS = 20
AZURE_COLUMNS = ("*Server name", "IP addresses", "*Cores", "*Memory (In MB)", "*OS name", "OS version",
                 "OS architecture", "Server type", "Hypervisor", "CPU utilization percentage",
                 "Memory utilization percentage", "Network adapters", "Network In throughput",
                 "Network Out throughput", "Boot type", "Number of disks", "Storage in use (In GB)")
AZURE_DISK_COLUMNS = ("Disk {n} size (In GB)", "Disk {n} read throughput (MB per second)",
                      "Disk {n} write throughput (MB per second)", "Disk {n} read ops (operations per second)",
                      "Disk {n} write ops (operations per second)")
AWS_COLUMNS = ("ExternalId", "SMBiosId", "IPAddress", "MACAddress", "HostName", "VMware.MoRefId",
               "VMware.VCenterId", "CPU.NumberOfProcessors", "CPU.NumberOfCores", "CPU.NumberOfLogicalCores",
               "OS.Name", "OS.Version", "VMware.VMName", "RAM.TotalSizeInMB", "RAM.UsedSizeInMB.Avg",
               "RAM.UsedSizeInMB.Max", "CPU.UsagePct.Avg", "CPU.UsagePct.Max", "DiskReadsPerSecondInKB.Avg",
               "DiskWritesPerSecondInKB.Avg", "DiskReadsPerSecondInKB.Max", "DiskWritesPerSecondInKB.Max",
               "DiskReadsOpsPerSecond.Avg", "DiskWritesOpsPerSecond.Avg", "DiskReadsOpsPerSecond.Max",
               "DiskWritesOpsPerSecond.Max", "NetworkReadsPerSecondInKB.Avg", "NetworkWritesPerSecondInKB.Avg",
               "NetworkReadsPerSecondInKB.Max", "NetworkWritesPerSecondInKB.Max", "Applications",
               "ApplicationWave", "Tags", "ServerId")
# Azure's valid OS architecture values are x64, x86, amd64, 32-bit and 64-bit; anything else stays empty.
AZURE_ARCHITECTURES = {"x86_64": "x64", "amd64": "x64", "x64": "x64", "i386": "x86", "i686": "x86", "x86": "x86"}
AZURE_HYPERVISORS = {"vmware": "VMware", "microsoft": "Hyper-V", "hyperv": "Hyper-V", "hyper-v": "Hyper-V"}
BARE_METAL = "none"
# vCenter's guest OS names end in their bitness, which Azure takes as an architecture.
GUEST_BITNESS = {"(64-bit)": "64-bit", "(32-bit)": "32-bit"}


def azure_columns(disks: int) -> list[str]:
    """Return the Azure Migrate header for `disks` disk column sets (1 to 20)."""
    disks = max(1, min(AZURE_MAX_DISKS, disks))
    return [*AZURE_COLUMNS, *(c.format(n=n) for n in range(1, disks + 1) for c in AZURE_DISK_COLUMNS)]


def server_name(host: dict) -> str:
    """Return the name a migration tool should know a host by: FQDN, hostname, first address, or its id."""
    return host.get("fqdn") or host["hostname"] or (host["addresses"] or [host["id"]])[0]


def _mib(value: int | None) -> int | None:
    return round(value / MIB) if value else None


def _gib(value: int | None) -> int | None:
    return max(1, round(value / GIB)) if value else None


def _architecture(host: dict) -> str | None:
    """Return Azure's OS architecture: from the host's architecture, else from the bitness its OS name ends in."""
    known = AZURE_ARCHITECTURES.get((host.get("architecture") or "").lower())
    if known is not None:
        return known
    name = (host.get("os_name") or "").rstrip()
    return next((value for suffix, value in GUEST_BITNESS.items() if name.endswith(suffix)), None)


def _server_type(virtualization: str | None) -> str | None:
    if virtualization is None:
        return None
    return "Physical" if virtualization == BARE_METAL else "Virtual"


def _adapters(inventory: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for interface in inventory.get("interfaces") or ():
        if interface["name"] != "lo" and not (interface["name"] or "").startswith("lo"):
            counts[interface["host_id"]] = counts.get(interface["host_id"], 0) + 1
    return counts


def azure_row(host: dict, *, adapters: int | None, disks: int) -> list:
    """Return one host's Azure Migrate row (values in azure_columns(disks) order, None for empty)."""
    partitions = host.get("partitions") or []
    used = sum(p.get("used_bytes") or 0 for p in partitions)
    host_disks = (host.get("disks") or [])[:AZURE_MAX_DISKS]
    virtualization = (host.get("virtualization") or "").lower() or None
    row = [server_name(host), host["addresses"][0] if host["addresses"] else None,
           host["cpu_cores"] or host.get("cpu_logical_cores"), _mib(host["memory_bytes"]), host["os_name"],
           host["os_version"], _architecture(host),
           _server_type(virtualization), AZURE_HYPERVISORS.get(virtualization or ""), None, None, adapters,
           None, None, None, len(host_disks) or None, _gib(used)]
    for n in range(max(1, disks)):
        size = host_disks[n].get("size_bytes") if n < len(host_disks) else None
        row += [_gib(size), None, None, None, None]
    return row


def _group_of(inventory: dict) -> dict[str, dict]:
    groups = {}
    for group in inventory.get("groups") or ():
        for host_id in group["host_ids"]:
            groups[host_id] = group
    return groups


def _tag_value(value) -> str:
    """Return `value` fit for an AWS tag (no commas or colons, which separate tags and values)."""
    return str(value).replace(",", " ").replace(":", " ").strip()


def aws_row(host: dict, group: dict | None) -> list:
    """Return one host's Migration Hub import row (values in AWS_COLUMNS order, None for empty)."""
    tags = []
    if host.get("criticality"):
        tags.append(f"criticality:{_tag_value(host['criticality'])}")
    if host.get("legacy") is not None:
        tags.append(f"legacy:{'yes' if host['legacy'] else 'no'}")
    wave = None
    if group is not None:
        wave = group.get("wave_override") or group.get("wave")
    values = {
        "ExternalId": host["id"], "SMBiosId": host.get("hardware_uuid"),
        "IPAddress": ", ".join(host["addresses"]) or None, "MACAddress": ", ".join(host["macs"]) or None,
        "HostName": server_name(host), "CPU.NumberOfCores": host["cpu_cores"],
        "CPU.NumberOfLogicalCores": host.get("cpu_logical_cores"), "OS.Name": host["os_name"],
        "OS.Version": host["os_version"], "RAM.TotalSizeInMB": _mib(host["memory_bytes"]),
        "Applications": group["name"] if group else None, "ApplicationWave": wave,
        "Tags": ", ".join(tags) or None,
    }
    if (vm := script_data(host, "vcenter-vm")) is not None:
        if vm.get("moid") and vm.get("vcenter_uuid"):
            values.update({"VMware.MoRefId": vm["moid"], "VMware.VCenterId": vm["vcenter_uuid"]})
        values["VMware.VMName"] = vm.get("name")
        per_socket, vcpus = vm.get("cores_per_socket"), host.get("cpu_cores")
        if isinstance(per_socket, int) and per_socket > 0 and isinstance(vcpus, int) and vcpus % per_socket == 0:
            values["CPU.NumberOfProcessors"] = vcpus // per_socket
    return [values.get(column) for column in AWS_COLUMNS]


def _write(path: Path, header: list[str], rows) -> None:
    with atomic_output(path, encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else csv_value(v) for v in row])


class AzureMigrateExporter:
    format = "azure-migrate"

    def __init__(self):
        self.warnings: list[str] = []

    def write(self, inventory: dict, path: Path) -> None:
        """Write the Azure Migrate import CSV to `path` atomically; raises EstateError if it cannot."""
        hosts = inventory["hosts"]
        disks = max((len(h.get("disks") or []) for h in hosts), default=1)
        adapters = _adapters(inventory)
        rows = [azure_row(h, adapters=adapters.get(h["id"]), disks=disks) for h in hosts]
        _write(path, azure_columns(disks), rows)
        missing = [r[0] for r in rows if r[2] is None or r[3] is None or not r[4]]
        self.warnings = [f"{len(missing)} of {len(rows)} hosts lack cores, memory or OS name, which Azure Migrate "
                         f"requires (seen from the network only?): {', '.join(map(str, missing[:5]))}"
                         f"{' …' if len(missing) > 5 else ''}; fill them in before importing"] if missing else []


class AwsMigrationHubExporter:
    format = "aws-migration-hub"

    def __init__(self):
        self.warnings: list[str] = []

    def write(self, inventory: dict, path: Path) -> None:
        """Write the Migration Hub import CSV to `path` atomically; raises EstateError if it cannot."""
        groups = _group_of(inventory)
        _write(path, list(AWS_COLUMNS), (aws_row(h, groups.get(h["id"])) for h in inventory["hosts"]))
