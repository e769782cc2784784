"""vCenter's objects as records: pure transforms of one VM's or ESXi host's properties (a dict of property path to
pyVmomi value, as scanners.vcenter.get_objects yields them) into HostReports, with what they point at (hosts,
clusters, datacenters, folders, datastores, networks) looked up by managed object id. No I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from discovery.records.model import Disk, Host, HostReport, Interface, PlatformObject, ScriptResult

SOURCE = "vcenter"


def ref(value) -> str | None:
    """The managed object id of a pyVmomi managed object reference (None passes through)."""
    return getattr(value, "_moId", None) if value is not None else None


def vm_serial(bios_uuid: str | None) -> str | None:
    """Return the DMI serial number VMware gives a VM from its BIOS UUID ("VMware-42 1e … 3c-d4 … 9f"): the value
    a guest's own inventory reports, whatever the byte order of its DMI UUID."""
    hexdigits = (bios_uuid or "").replace("-", "").lower()
    if len(hexdigits) != 32:
        return None
    pairs = [hexdigits[i:i + 2] for i in range(0, 32, 2)]
    return f"VMware-{' '.join(pairs[:8])}-{' '.join(pairs[8:])}"


def os_family_of(*names: str | None) -> str | None:
    """Return "windows", "linux", … from a VMware guest id or guest OS name, or None."""
    text = " ".join(n for n in names if n).lower()
    if not text:
        return None
    for family, words in (("windows", ("win", "windows")), ("macos", ("darwin", "mac os")),
                          ("bsd", ("freebsd", "openbsd", "netbsd")), ("solaris", ("solaris",)),
                          ("linux", ("linux", "rhel", "centos", "debian", "ubuntu", "sles", "suse", "oracle",
                                     "photon", "fedora", "coreos", "asianux", "rocky", "alma", "amazon"))):
        if any(w in text for w in words):
            return family
    return None


@dataclass
class Lookups:
    """What the VMs and hosts point at, by managed object id: names, parents and datastore facts."""
    names: dict[str, str]
    parents: dict[str, str]
    types: dict[str, str]
    datastores: dict[str, dict]

    @classmethod
    def empty(cls) -> Lookups:
        return cls({}, {}, {}, {})

    def add(self, obj: dict) -> None:
        self.names[obj["_ref"]] = obj.get("name")
        self.types[obj["_ref"]] = obj["_type"]
        if (parent := ref(obj.get("parent"))) is not None:
            self.parents[obj["_ref"]] = parent
        if obj["_type"] == "Datastore":
            self.datastores[obj["_ref"]] = {
                "name": obj.get("name"), "type": obj.get("summary.type"), "capacity_bytes": obj.get("summary.capacity"),
                "free_bytes": obj.get("summary.freeSpace"), "url": obj.get("summary.url")}

    def ancestor(self, moid: str | None, type_name: str) -> str | None:
        """The managed object id of the nearest ancestor of type `type_name` (bounded walk)."""
        for _ in range(64):
            if moid is None or self.types.get(moid) == type_name:
                return moid
            moid = self.parents.get(moid)
        return None

    def up_to(self, moid: str | None, type_name: str) -> str | None:
        """The name of the nearest ancestor of type `type_name`."""
        return self.names.get(self.ancestor(moid, type_name))

    def folder_path(self, moid: str | None) -> str | None:
        """The VM folder path below the datacenter ("/Linux/Production"), or None."""
        parts = []
        for _ in range(64):
            if moid is None or self.types.get(moid) != "Folder":
                break
            parts.append(self.names.get(moid) or "?")
            moid = self.parents.get(moid)
        parts = parts[:-1]  # the datacenter's own "vm" folder
        return "/" + "/".join(reversed(parts)) if parts else None


# vCenter's object types that are kept as platform objects, and their kind
PLATFORM_KINDS = {"Datacenter": "datacenter", "ClusterComputeResource": "cluster", "Datastore": "datastore",
                  "Network": "network", "DistributedVirtualPortgroup": "network", "OpaqueNetwork": "network"}


def vcenter_object(about, server: str, observed_at: datetime) -> PlatformObject:
    """Return the server itself (its `about`: a vCenter, or an ESXi host answering on its own) as an object."""
    api_type = getattr(about, "apiType", None)
    return PlatformObject(
        kind="vcenter", server=server, key="ServiceInstance", name=server,
        source=SOURCE, observed_at=observed_at,
        data={"product": getattr(about, "fullName", None), "version": getattr(about, "version", None),
              "build": getattr(about, "build", None), "api_type": api_type,
              "role": "vcenter" if api_type == "VirtualCenter" else "esxi" if api_type == "HostAgent" else None,
              "instance_uuid": getattr(about, "instanceUuid", None), "os_type": getattr(about, "osType", None)})


def platform_object(obj: dict, lookups: Lookups, server: str, observed_at: datetime) -> PlatformObject | None:
    """Return a datacenter, cluster, datastore or network as an object (None for other types), with its
    datacenter as parent and what the server says of it."""
    kind = PLATFORM_KINDS.get(obj["_type"])
    if kind is None:
        return None
    parent = ref(obj.get("parent"))
    data = {"type": obj["_type"], "datacenter": lookups.up_to(parent, "Datacenter") if kind != "datacenter" else None}
    if kind == "datastore":
        data.update(lookups.datastores.get(obj["_ref"]) or {})
        data["type"] = obj.get("summary.type")
        data.pop("name", None)
    elif kind == "cluster":
        data.update(hosts=obj.get("summary.numHosts"), cpu_cores=obj.get("summary.numCpuCores"),
                    memory_bytes=obj.get("summary.totalMemory"))
    return PlatformObject(kind=kind, server=server, key=obj["_ref"], name=obj.get("name"), source=SOURCE,
                          observed_at=observed_at, parent=lookups.ancestor(parent, "Datacenter"),
                          data={k: v for k, v in data.items() if v is not None})


def transform_host_system(obj: dict, lookups: Lookups, observed_at: datetime) -> HostReport:
    """Return an ESXi host's report: hardware, version, its management addresses and MACs, and its place
    (cluster, datacenter) as evidence."""
    hardware = obj.get("summary.hardware")
    product = obj.get("summary.config.product")
    serial = None
    for info in getattr(hardware, "otherIdentifyingInfo", None) or ():
        key = getattr(getattr(info, "identifierType", None), "key", None)
        if key in ("SerialNumberTag", "ServiceTag", "EnclosureSerialNumberTag") and info.identifierValue:
            serial = serial or info.identifierValue.strip() or None
    vnics = obj.get("config.network.vnic") or ()
    pnics = obj.get("config.network.pnic") or ()
    addresses = tuple(dict.fromkeys(v.spec.ip.ipAddress for v in vnics
                                    if getattr(getattr(v.spec, "ip", None), "ipAddress", None)))
    macs = tuple(dict.fromkeys(m.lower() for m in [*(getattr(v.spec, "mac", None) for v in vnics),
                                                   *(getattr(p, "mac", None) for p in pnics)] if m))
    connection = str(obj.get("runtime.connectionState") or "") or None
    maintenance = bool(obj.get("runtime.inMaintenanceMode"))
    parent = ref(obj.get("parent"))
    cluster = lookups.names.get(parent) if lookups.types.get(parent) == "ClusterComputeResource" else None
    name = obj.get("name")
    interfaces = tuple(Interface(name=p.device, mac=(p.mac or "").lower() or None, source=SOURCE,
                                 observed_at=observed_at) for p in pnics if getattr(p, "device", None))
    interfaces += tuple(Interface(name=v.device, mac=(getattr(v.spec, "mac", None) or "").lower() or None,
                                  addresses=tuple(a for a in [getattr(getattr(v.spec, "ip", None), "ipAddress", None)]
                                                  if a),
                                  source=SOURCE, observed_at=observed_at) for v in vnics if getattr(v, "device", None))
    evidence = {
        "type": "esxi-host", "moid": obj["_ref"], "name": name, "cluster": cluster,
        "datacenter": lookups.up_to(parent, "Datacenter"),
        "product": getattr(product, "fullName", None), "version": getattr(product, "version", None),
        "build": getattr(product, "build", None), "connection_state": connection, "maintenance_mode": maintenance,
        "datastores": [lookups.datastores.get(ref(d)) or {"name": lookups.names.get(ref(d))}
                       for d in obj.get("datastore") or ()],
        "networks": [lookups.names.get(ref(n)) for n in obj.get("network") or ()],
    }
    return HostReport(
        host=Host(
            source=SOURCE, observed_at=observed_at, hostname=_short_name(name), fqdn=name if _is_fqdn(name) else None,
            addresses=addresses or ((name,) if _is_address(name) else ()), macs=macs,
            os_name="VMware ESXi", os_version=getattr(product, "version", None), os_family="esxi",
            kernel=getattr(product, "build", None) and f"build {product.build}",
            vendor=getattr(hardware, "vendor", None), model=getattr(hardware, "model", None), serial=serial,
            hardware_uuid=getattr(hardware, "uuid", None), virtualization="none",
            cpu_model=getattr(hardware, "cpuModel", None), cpu_cores=getattr(hardware, "numCpuCores", None),
            cpu_logical_cores=getattr(hardware, "numCpuThreads", None), cpu_mhz=getattr(hardware, "cpuMhz", None),
            memory_bytes=getattr(hardware, "memorySize", None),
            status="up" if connection == "connected" else "down",
            status_reason=f"vcenter: {connection}" + (", maintenance mode" if maintenance else ""),
            boot_time=obj.get("runtime.bootTime"),
            scripts=(ScriptResult(id="vcenter-esxi", output=_summary(evidence, ESXI_SUMMARY),
                                  data=_script_data(evidence, ESXI_SCRIPT_KEYS)),)),
        interfaces=interfaces,
        raw={"vcenter": json.dumps(evidence, sort_keys=True, default=str)})


def transform_virtual_machine(obj: dict, lookups: Lookups, observed_at: datetime,
                              hosts: dict[str, dict] | None = None, *, vcenter_uuid: str | None = None) -> HostReport:
    """Return a VM's report: BIOS UUID (and the DMI serial VMware derives from it), vCPUs, memory, disks, NICs with
    MACs and the tools' addresses, guest OS; power state, ESXi host, cluster, datastores and the rest as evidence.
    A powered-off VM is kept, status "down" with reason "vcenter: poweredOff". `hosts`: ESXi hosts by id
    ({"name", "hardware_uuid"}) for its runs_on evidence; `vcenter_uuid`: the server's instance UUID (with the
    VM's managed object id, how a migration tool names the VM in that vCenter)."""
    from pyVmomi import vim

    devices = obj.get("config.hardware.device") or ()
    guest_net = obj.get("guest.net") or ()
    ips_by_mac: dict[str, list[str]] = {}
    for nic in guest_net:
        if nic.macAddress:
            ips_by_mac.setdefault(nic.macAddress.lower(), []).extend(nic.ipAddress or ())
    disks, interfaces, macs, disk_evidence, nic_evidence = [], [], [], [], []
    for device in devices:
        label = getattr(getattr(device, "deviceInfo", None), "label", None) or f"device {device.key}"
        if isinstance(device, vim.vm.device.VirtualDisk):
            size = device.capacityInBytes or (device.capacityInKB * 1024 if device.capacityInKB else None)
            disks.append(Disk(name=label, size_bytes=size, rotational=False))
            backing = device.backing
            disk_evidence.append({"label": label, "size_bytes": size, "file": getattr(backing, "fileName", None),
                                  "datastore": lookups.names.get(ref(getattr(backing, "datastore", None))),
                                  "thin": getattr(backing, "thinProvisioned", None)})
        elif isinstance(device, vim.vm.device.VirtualEthernetCard):
            mac = (device.macAddress or "").lower() or None
            if mac:
                macs.append(mac)
            network = getattr(device.backing, "deviceName", None) or lookups.names.get(
                ref(getattr(device.backing, "network", None)))
            port = getattr(device.backing, "port", None)
            if network is None and port is not None:
                network = f"distributed portgroup {port.portgroupKey}"
            interfaces.append(Interface(name=label, mac=mac, addresses=tuple(ips_by_mac.get(mac or "", ())),
                                        is_up=getattr(getattr(device, "connectable", None), "connected", None),
                                        source=SOURCE, observed_at=observed_at))
            nic_evidence.append({"label": label, "mac": mac, "type": type(device).__name__.rsplit(".", 1)[-1],
                                 "network": network})
    addresses = [a for nic in guest_net for a in (nic.ipAddress or ())]
    if obj.get("guest.ipAddress"):
        addresses.insert(0, obj["guest.ipAddress"])
    power = str(obj.get("runtime.powerState") or "") or None
    host_ref = ref(obj.get("runtime.host"))
    esxi = (hosts or {}).get(host_ref) or {}
    host_name = esxi.get("name") or lookups.names.get(host_ref)
    compute = lookups.parents.get(host_ref) if host_ref else None
    cluster = lookups.names.get(compute) if lookups.types.get(compute) == "ClusterComputeResource" else None
    configured = obj.get("config.guestFullName")
    reported = obj.get("guest.guestFullName")
    vcpus = obj.get("config.hardware.numCPU")
    memory_mb = obj.get("config.hardware.memoryMB")
    bios_uuid = obj.get("config.uuid")
    name = obj.get("name")
    guest_name = obj.get("guest.hostName")
    evidence = {
        "type": "virtual-machine", "moid": obj["_ref"], "vcenter_uuid": vcenter_uuid, "name": name,
        "power_state": power,
        "template": bool(obj.get("config.template")),
        "bios_uuid": bios_uuid, "instance_uuid": obj.get("config.instanceUuid"),
        "guest_os_configured": configured, "guest_id_configured": obj.get("config.guestId"),
        "guest_os_reported": reported, "guest_id_reported": obj.get("guest.guestId"),
        "guest_os_differs": bool(configured and reported and configured != reported),
        "vcpus": vcpus, "cores_per_socket": obj.get("config.hardware.numCoresPerSocket"), "memory_mb": memory_mb,
        "hardware_version": obj.get("config.version"),
        "tools_running": obj.get("guest.toolsRunningStatus"),
        "tools_version_status": obj.get("guest.toolsVersionStatus2"),
        "tools_version": obj.get("guest.toolsVersion"),
        "runs_on": {"host": host_name, "host_moid": host_ref, "host_uuid": esxi.get("hardware_uuid"),
                    "cluster": cluster},
        "datacenter": lookups.up_to(ref(obj.get("parent")), "Datacenter"),
        "folder": lookups.folder_path(ref(obj.get("parent"))),
        "resource_pool": lookups.names.get(ref(obj.get("resourcePool"))),
        "datastores": [lookups.datastores.get(ref(d)) or {"name": lookups.names.get(ref(d))}
                       for d in obj.get("datastore") or ()],
        "networks": [lookups.names.get(ref(n)) for n in obj.get("network") or ()],
        "disks": disk_evidence, "nics": nic_evidence,
        "created": _iso(obj.get("config.createDate")),
        "annotation": obj.get("config.annotation") or None,
        "custom_values": {str(v.key): v.value for v in obj.get("customValue") or () if hasattr(v, "value")},
    }
    return HostReport(
        host=Host(
            source=SOURCE, observed_at=observed_at, hostname=_short_name(guest_name) or name,
            fqdn=guest_name if _is_fqdn(guest_name) else None,
            hostnames=tuple(dict.fromkeys(n for n in (_short_name(guest_name), name) if n)),
            addresses=tuple(dict.fromkeys(addresses)), macs=tuple(dict.fromkeys(macs)),
            os_name=reported or configured, os_family=os_family_of(obj.get("guest.guestId"), obj.get("config.guestId"),
                                                                   reported, configured),
            vendor="VMware, Inc.", model="VMware Virtual Platform", serial=vm_serial(bios_uuid),
            hardware_uuid=bios_uuid, virtualization="vmware",
            cpu_cores=vcpus, cpu_logical_cores=vcpus,
            memory_bytes=memory_mb * 2**20 if memory_mb else None, disks=tuple(disks),
            status="up" if power == "poweredOn" else "down",
            status_reason=f"vcenter: {power}" if power else None, boot_time=obj.get("runtime.bootTime"),
            scripts=(ScriptResult(id="vcenter-vm", output=_summary(evidence, VM_SUMMARY),
                                  data=_script_data(evidence, VM_SCRIPT_KEYS)),)),
        interfaces=tuple(interfaces),
        raw={"vcenter": json.dumps(evidence, sort_keys=True, default=str)})


# What the host's vcenter-vm / vcenter-esxi script keeps (the analyses and the faces read it; the raw evidence
# keeps everything), and the order of its one-line summary.
VM_SCRIPT_KEYS = ("name", "moid", "vcenter_uuid", "cores_per_socket", "power_state", "runs_on", "datacenter", "folder", "hardware_version", "guest_os_configured",
                  "guest_os_reported", "guest_os_differs", "tools_running", "tools_version_status", "tools_version",
                  "template", "datastores", "networks", "created")
ESXI_SCRIPT_KEYS = ("cluster", "datacenter", "product", "version", "build", "connection_state", "maintenance_mode")
VM_SUMMARY = (("power_state", "{}"), ("runs_on", "on {}"), ("hardware_version", "hardware {}"),
              ("tools_running", "tools {}"))
ESXI_SUMMARY = (("product", "{}"), ("cluster", "cluster {}"), ("connection_state", "{}"))


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if isinstance(when, datetime) else None


def _script_data(evidence: dict, keys: tuple[str, ...]) -> dict:
    data = {key: evidence.get(key) for key in keys}
    if isinstance(data.get("runs_on"), dict):
        data["runs_on"] = {k: v for k, v in data["runs_on"].items() if k != "host_moid"}
    if "datastores" in data:
        data["datastores"] = [d.get("name") for d in data["datastores"] or () if d.get("name")]
    return data


def _summary(evidence: dict, parts: tuple[tuple[str, str], ...]) -> str | None:
    words = []
    for key, form in parts:
        value = evidence.get(key)
        if isinstance(value, dict):
            value = " / ".join(str(v) for k, v in value.items() if k in ("host", "cluster") and v)
        if value:
            words.append(form.format(value))
    return ", ".join(words) or None


def _is_address(name: str | None) -> bool:
    import ipaddress
    try:
        ipaddress.ip_address(name or "")
        return True
    except ValueError:
        return False


def _is_fqdn(name: str | None) -> bool:
    return bool(name) and "." in name and not _is_address(name)


def _short_name(name: str | None) -> str | None:
    if not name:
        return None
    return name if _is_address(name) else name.split(".", 1)[0]
