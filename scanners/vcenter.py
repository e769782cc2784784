"""VMware vCenter and ESXi asked for their inventory: every VM and ESXi host from the hypervisor's own view.

Read-only by construction: after logging in, the only SOAP methods the scanner's stub lets through are the
PropertyCollector's retrieval calls with a ContainerView (READ_ONLY_METHODS); anything else raises before it
is sent. Each object type is read in one paged pass (RetrievePropertiesEx, then ContinueRetrievePropertiesEx),
so ten thousand VMs cost a few round trips per type, not one per VM.
`get_*` talk to the server; `transform_*` are pure and turn one object's properties (a dict of property path to
pyVmomi value) into records. The password is used to log in and kept in memory only: never stored or logged.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from discovery.records.model import Disk, EstateError, Host, HostReport, Interface, ScanContext, ScriptResult, counted

log = logging.getLogger(__name__)

SOURCE = "vcenter"
PAGE_SIZE = 500  # objects per RetrievePropertiesEx page
CONNECT_TIMEOUT = 30  # seconds per HTTP request
# The only SOAP methods the scanner sends. Login/Logout open and close the session; CreateContainerView and
# DestroyView make and drop the session's own view of the inventory (changing nothing in it).
READ_ONLY_METHODS = frozenset({
    "RetrieveServiceContent", "Login", "Logout", "CreateContainerView", "DestroyView",
    "RetrievePropertiesEx", "ContinueRetrievePropertiesEx", "CancelRetrievePropertiesEx",
})
VM_PROPERTIES = (
    "name", "parent", "resourcePool", "datastore", "network", "customValue",
    "config.uuid", "config.instanceUuid", "config.guestFullName", "config.guestId", "config.version",
    "config.annotation", "config.template", "config.hardware.numCPU", "config.hardware.numCoresPerSocket",
    "config.hardware.memoryMB", "config.hardware.device",
    "guest.guestFullName", "guest.guestId", "guest.hostName", "guest.ipAddress", "guest.net",
    "guest.toolsRunningStatus", "guest.toolsVersionStatus2", "guest.toolsVersion",
    "runtime.powerState", "runtime.host", "runtime.bootTime",
)
HOST_PROPERTIES = (
    "name", "parent", "datastore", "network", "summary.hardware", "summary.config.product",
    "runtime.connectionState", "runtime.inMaintenanceMode", "runtime.bootTime",
    "config.network.pnic", "config.network.vnic",
)
# type name -> properties of the passes that only name things the VMs and hosts point at
NAMED_PASSES = (
    ("Datacenter", ("name", "parent")),
    ("Folder", ("name", "parent")),
    ("ComputeResource", ("name", "parent")),  # clusters (ClusterComputeResource) and standalone hosts' own
    ("ResourcePool", ("name", "parent")),
    ("Datastore", ("name", "summary.type", "summary.capacity", "summary.freeSpace", "summary.url")),
    ("Network", ("name",)),
)


@dataclass(frozen=True)
class VCenterTarget:
    scheme: str   # "https", or "http" only when the user wrote http://
    host: str
    port: int

    @property
    def display(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port != default else "")


def parse_target(text: str, port: int | None = None) -> VCenterTarget:
    """Return the server `text` names (HOST, HOST:PORT, https://HOST[:PORT][/sdk] or http://…), on the address's
    port, else `port` (443 for https, 80 for http when it is 443 or None); http only when written; raises
    EstateError for anything else."""
    text = (text or "").strip()
    if not text:
        raise EstateError("name the vCenter or ESXi host: HOST, or https://HOST[:PORT]")
    parts = urlsplit(text if "://" in text else f"https://{text}")
    if parts.scheme not in ("https", "http"):
        raise EstateError(f"{text!r}: a vCenter is reached over https:// (or http:// for a simulator)")
    if parts.username or parts.password:
        raise EstateError("do not put the user or password in the address; use --user and --password-stdin")
    if not parts.hostname:
        raise EstateError(f"{text!r} names no host")
    try:
        url_port = parts.port
    except ValueError:
        raise EstateError(f"{text!r} has an invalid port") from None
    default = 443 if parts.scheme == "https" else 80
    chosen = url_port or (default if port in (None, 443) else port)  # the address's port, else --port
    if not 1 <= chosen <= 65535:
        raise EstateError(f"the port {chosen} is not between 1 and 65535")
    return VCenterTarget(scheme=parts.scheme, host=parts.hostname, port=chosen)


# --- talking to the server -----------------------------------------------------------------------

def build_ssl_context(*, ca_file: str | None, insecure: bool) -> ssl.SSLContext:
    """Return the TLS context: the system's trust store (or `ca_file`) with host names checked, or with
    `insecure` one that accepts any certificate. Raises EstateError for an unreadable CA file."""
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise EstateError(f"cannot read the CA file {ca_file}: {error.strerror or error}") from None


def guard_read_only(stub) -> None:
    """Make `stub` (a pyVmomi SoapStubAdapter) refuse every SOAP method outside READ_ONLY_METHODS."""
    invoke = stub.InvokeMethod

    def read_only_invoke(mo, info, args, outerStub=None):
        if info.wsdlName not in READ_ONLY_METHODS:
            raise EstateError(f"refused to call {info.wsdlName} on the server: scan vcenter only reads")
        return invoke(mo, info, args, outerStub)

    stub.InvokeMethod = read_only_invoke


def connect(target: VCenterTarget, user: str, password: str, *, context: ssl.SSLContext | None):
    """Log in and return the pyVmomi ServiceInstance, its stub guarded read-only. Raises EstateError with one
    line for bad credentials, a refused or unreachable server, and a certificate that fails verification."""
    from pyVim.connect import SmartConnect
    from pyVmomi import vim

    where = target.display
    try:
        si = SmartConnect(protocol=target.scheme, host=target.host, port=target.port, user=user, pwd=password,
                          sslContext=context if target.scheme == "https" else None,
                          httpConnectionTimeout=CONNECT_TIMEOUT, connectionPoolTimeout=-1)
    except vim.fault.InvalidLogin:
        raise EstateError(f"{where}: the user name or password was not accepted (user {user})") from None
    except vim.fault.NoPermission as error:
        raise EstateError(f"{where}: user {user} may not log in: {error.msg}") from None
    except ssl.SSLCertVerificationError as error:
        raise EstateError(f"{where}: the server's certificate is not trusted ({error.verify_message}): give its CA "
                          "with --ca-file, or accept it unverified with --insecure") from None
    except ssl.SSLError as error:
        raise EstateError(f"{where}: TLS failed: {error.reason or error}") from None
    except ConnectionRefusedError:
        raise EstateError(f"{where}: connection refused (nothing listens on port {target.port})") from None
    except socket.gaierror as error:
        raise EstateError(f"{where}: cannot resolve {target.host}: {error.strerror}") from None
    except (TimeoutError, socket.timeout):
        raise EstateError(f"{where}: no answer within {CONNECT_TIMEOUT} s") from None
    except OSError as error:
        raise EstateError(f"{where}: cannot connect: {error.strerror or error}") from None
    except vim.fault.VimFault as error:
        raise EstateError(f"{where}: {error.msg or type(error).__name__}") from None
    guard_read_only(si._stub)
    return si


def get_objects(si, content, type_name: str, paths: tuple[str, ...], *,
                page_size: int = PAGE_SIZE) -> Iterator[list[dict]]:
    """Yield pages of every `type_name` object under the root folder as dicts of property path -> value, plus
    "_ref" (its managed object id) and "_type"; properties the user may not read are missing, not an error."""
    from pyVmomi import vim, vmodl

    vim_type = getattr(vim, type_name)
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim_type], True)
    try:
        collector = content.propertyCollector
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(
                obj=view, skip=True,
                selectSet=[vmodl.query.PropertyCollector.TraversalSpec(
                    name="view", path="view", skip=False, type=vim.view.ContainerView)])],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim_type, pathSet=list(paths))])
        result = collector.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions(
            maxObjects=page_size))
        for _page in range(1_000_000):  # bounded: a server that never ends its token is a server bug
            if result is None:
                return
            yield [_as_dict(o) for o in result.objects]
            if not result.token:
                return
            result = collector.ContinueRetrievePropertiesEx(result.token)
    finally:
        try:
            view.DestroyView()
        except Exception:  # the connection may be gone: nothing to clean up on our side
            log.debug("DestroyView failed", exc_info=True)


def _as_dict(obj) -> dict:
    found = {prop.name: prop.val for prop in obj.propSet or ()}
    found["_ref"], found["_type"] = obj.obj._moId, type(obj.obj).__name__.rsplit(".", 1)[-1]
    return found


# --- pure transforms --------------------------------------------------------------------------------

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

    def up_to(self, moid: str | None, type_name: str) -> str | None:
        """The name of the nearest ancestor of type `type_name` (bounded walk)."""
        for _ in range(64):
            if moid is None:
                return None
            if self.types.get(moid) == type_name:
                return self.names.get(moid)
            moid = self.parents.get(moid)
        return None

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
                              hosts: dict[str, dict] | None = None) -> HostReport:
    """Return a VM's report: BIOS UUID (and the DMI serial VMware derives from it), vCPUs, memory, disks, NICs with
    MACs and the tools' addresses, guest OS; power state, ESXi host, cluster, datastores and the rest as evidence.
    A powered-off VM is kept, status "down" with reason "vcenter: poweredOff". `hosts`: ESXi hosts by id
    ({"name", "hardware_uuid"}) for its runs_on evidence."""
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
        "type": "virtual-machine", "moid": obj["_ref"], "name": name, "power_state": power,
        "template": bool(obj.get("config.template")),
        "bios_uuid": bios_uuid, "instance_uuid": obj.get("config.instanceUuid"),
        "guest_os_configured": configured, "guest_id_configured": obj.get("config.guestId"),
        "guest_os_reported": reported, "guest_id_reported": obj.get("guest.guestId"),
        "guest_os_differs": bool(configured and reported and configured != reported),
        "vcpus": vcpus, "cores_per_socket": obj.get("config.hardware.numCoresPerSocket"), "memory_mb": memory_mb,
        "hardware_version": obj.get("config.version"),
        "tools_running": obj.get("guest.toolsRunningStatus"), "tools_version_status": obj.get("guest.toolsVersionStatus2"),
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
VM_SCRIPT_KEYS = ("power_state", "runs_on", "datacenter", "folder", "hardware_version", "guest_os_configured",
                  "guest_os_reported", "guest_os_differs", "tools_running", "tools_version_status", "tools_version",
                  "template", "datastores", "networks")
ESXI_SCRIPT_KEYS = ("cluster", "datacenter", "product", "version", "build", "connection_state", "maintenance_mode")
VM_SUMMARY = (("power_state", "{}"), ("runs_on", "on {}"), ("hardware_version", "hardware {}"),
              ("tools_running", "tools {}"))
ESXI_SUMMARY = (("product", "{}"), ("cluster", "cluster {}"), ("connection_state", "{}"))


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


# --- the scanner ----------------------------------------------------------------------------------------

class VCenterScanner:
    """`estatemap scan vcenter HOST`: every VM and ESXi host a vCenter (or a single ESXi host) knows."""

    kind = "vcenter"

    def __init__(self, target: str, *, port: int | None = None, user: str | None = None,
                 password: str | None = None, ca_file: str | None = None, insecure: bool = False,
                 page_size: int = PAGE_SIZE):
        self.target = parse_target(target, port)
        if not user:
            raise EstateError("scan vcenter needs --user (a vCenter user with the read-only role)")
        if password is None:
            raise EstateError("scan vcenter needs the password: --ask-password or --password-stdin")
        self.user, self._password = user, password  # memory only
        self.ca_file, self.insecure, self.page_size = ca_file, insecure, page_size
        self.failed: list[str] = []
        self.remember = None  # (keychain, account): keep the password in the OS keyring once it logged in
        self.remembered: list[str] = []

    @property
    def arguments(self) -> str:
        return (f"scan vcenter {self.target.display} --user {self.user}"
                + (" --insecure" if self.insecure else "") + (f" --ca-file {self.ca_file}" if self.ca_file else ""))

    def targets(self) -> tuple[str, ...]:
        return (self.target.display,)

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]:
        context = None
        if self.target.scheme == "http":
            ctx.warn(f"{self.target.display}: plain http, as the address says: the password and the inventory "
                     "crossed the network unencrypted")
        else:
            context = build_ssl_context(ca_file=self.ca_file, insecure=self.insecure)
            if self.insecure:
                ctx.warn(f"{self.target.display}: --insecure: the server's certificate was not verified (anyone "
                         "in the path could have read the password)")
        si = connect(self.target, self.user, self._password, context=context)
        if self.remember is not None:
            from discovery.scanning.secrets import SecretsError

            keychain, account = self.remember
            try:
                keychain.remember(account, self._password)
                self.remembered.append(account)
            except SecretsError as error:
                ctx.warn(f"{self.target.display}: password not remembered: {error}")
        try:
            yield from self._read(si, ctx)
        finally:
            self._logout(si)

    def _read(self, si, ctx: ScanContext) -> Iterator[HostReport]:
        from pyVmomi import vmodl

        content = si.RetrieveContent()
        lookups, done = Lookups.empty(), 0
        try:
            for type_name, paths in NAMED_PASSES:
                for page in get_objects(si, content, type_name, paths, page_size=self.page_size):
                    ctx.check_cancelled()
                    for obj in page:
                        lookups.add(obj)
            hosts: dict[str, dict] = {}
            for page in get_objects(si, content, "HostSystem", HOST_PROPERTIES, page_size=self.page_size):
                for obj in page:
                    ctx.check_cancelled()
                    lookups.add(obj)
                    report = transform_host_system(obj, lookups, ctx.started_at)
                    hosts[obj["_ref"]] = {"name": obj.get("name"), "hardware_uuid": report.host.hardware_uuid}
                    done += 1
                    yield report
                ctx.report(done, None, f"{counted(len(hosts), 'ESXi host')} read")
            vms = 0
            for page in get_objects(si, content, "VirtualMachine", VM_PROPERTIES, page_size=self.page_size):
                for obj in page:
                    ctx.check_cancelled()
                    vms += 1
                    done += 1
                    yield transform_virtual_machine(obj, lookups, ctx.started_at, hosts)
                ctx.report(done, None, f"{counted(len(hosts), 'ESXi host')}, {counted(vms, 'VM')} read")
        except vmodl.query.InvalidProperty as error:
            raise EstateError(f"{self.target.display}: the server does not know the property {error.name}") from None
        except vmodl.MethodFault as error:
            raise EstateError(f"{self.target.display}: {error.msg or type(error).__name__}") from None
        except (OSError, ConnectionError, ssl.SSLError) as error:
            raise EstateError(f"{self.target.display}: the connection was lost after {counted(done, 'object')}: "
                              f"{getattr(error, 'strerror', None) or error}") from None
        except Exception as error:  # http.client's RemoteDisconnected and the like: the server went away
            if type(error).__module__ in ("http.client",):
                raise EstateError(f"{self.target.display}: the connection was lost after "
                                  f"{counted(done, 'object')}: {error}") from None
            raise

    @staticmethod
    def _logout(si) -> None:
        try:
            si.RetrieveContent().sessionManager.Logout()
        except Exception:  # the server may be gone; the session times out on its side
            log.debug("logout failed", exc_info=True)
