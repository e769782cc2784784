"""VMware vCenter and ESXi asked for their inventory: every VM and ESXi host from the hypervisor's own view.

Read-only by construction: after logging in, the only SOAP methods the scanner's stub lets through are the
PropertyCollector's retrieval calls with a ContainerView (READ_ONLY_METHODS); anything else raises before it
is sent. Each object type is read in one paged pass (RetrievePropertiesEx, then ContinueRetrievePropertiesEx),
so ten thousand VMs cost a few round trips per type, not one per VM.
`get_*` talk to the server; scanners/vcenter_records.py's `transform_*` are pure and turn one object's properties
(a dict of property path to pyVmomi value) into records. The password is used to log in and kept in memory only:
never stored or logged.
"""

from __future__ import annotations

import itertools
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from discovery.records.model import (EstateError, HostReport, PlatformObject, ScanContext, ScanInterrupted,
                                     counted)
from scanners.vcenter_records import (Lookups, platform_object, transform_host_system, transform_virtual_machine,
                                      vcenter_object)

log = logging.getLogger(__name__)

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
    "runtime.powerState", "runtime.host", "runtime.bootTime", "config.createDate",
)
# Properties newer vSphere releases added (config.createDate: 6.7): left out, with a warning, by a server
# that does not know them, instead of failing the scan.
OPTIONAL_PROPERTIES = frozenset({"config.createDate"})
HOST_PROPERTIES = (
    "name", "parent", "datastore", "network", "summary.hardware", "summary.config.product",
    "runtime.connectionState", "runtime.inMaintenanceMode", "runtime.bootTime",
    "config.network.pnic", "config.network.vnic",
)
# type name -> properties of the passes that only name things the VMs and hosts point at
NAMED_PASSES = (
    ("Datacenter", ("name", "parent")),
    ("Folder", ("name", "parent")),
    # clusters (ClusterComputeResource) and standalone hosts' own
    ("ComputeResource", ("name", "parent", "summary.numHosts", "summary.numCpuCores", "summary.totalMemory")),
    ("ResourcePool", ("name", "parent")),
    ("Datastore", ("name", "parent", "summary.type", "summary.capacity", "summary.freeSpace", "summary.url")),
    ("Network", ("name", "parent")),
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
    missing = {m.path: type(getattr(m.fault, "fault", None) or m.fault).__name__.rsplit(".", 1)[-1]
               for m in getattr(obj, "missingSet", None) or ()}
    if missing:  # the server's per-object "could not read this property", with why
        found["_missing"] = missing
    return found


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

    def scan(self, ctx: ScanContext) -> Iterator[HostReport | PlatformObject]:
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

    def _read(self, si, ctx: ScanContext) -> Iterator[HostReport | PlatformObject]:
        from pyVmomi import vmodl

        content = si.RetrieveContent()
        server = self.target.display
        lookups, done = Lookups.empty(), 0
        yield vcenter_object(content.about, server, ctx.started_at)
        try:
            for type_name, paths in NAMED_PASSES:
                for page in self._pages(si, content, ctx, type_name, paths):
                    ctx.check_cancelled()
                    for obj in page:
                        lookups.add(obj)
                        if (found := platform_object(obj, lookups, server, ctx.started_at)) is not None:
                            yield found
            hosts: dict[str, dict] = {}
            for page in self._pages(si, content, ctx, "HostSystem", HOST_PROPERTIES):
                for obj in page:
                    ctx.check_cancelled()
                    lookups.add(obj)
                    report = transform_host_system(obj, lookups, ctx.started_at)
                    hosts[obj["_ref"]] = {"name": obj.get("name"), "hardware_uuid": report.host.hardware_uuid}
                    done += 1
                    yield report
                ctx.report(done, None, f"{counted(len(hosts), 'ESXi host')} read")
            vms = 0
            for page in self._pages(si, content, ctx, "VirtualMachine", VM_PROPERTIES):
                for obj in page:
                    ctx.check_cancelled()
                    vms += 1
                    done += 1
                    yield transform_virtual_machine(obj, lookups, ctx.started_at, hosts,
                                                    vcenter_uuid=getattr(content.about, "instanceUuid", None))
                ctx.report(done, None, f"{counted(len(hosts), 'ESXi host')}, {counted(vms, 'VM')} read")
        except vmodl.query.InvalidProperty as error:
            raise EstateError(f"{self.target.display}: the server does not know the property {error.name}") from None
        except vmodl.MethodFault as error:
            raise EstateError(f"{self.target.display}: {error.msg or type(error).__name__}") from None
        except (OSError, ConnectionError, ssl.SSLError) as error:
            raise ScanInterrupted(f"{self.target.display}: the connection was lost after "
                                  f"{counted(done, 'object')}: {getattr(error, 'strerror', None) or error}") from None
        except Exception as error:  # http.client's RemoteDisconnected and the like: the server went away
            if type(error).__module__ in ("http.client",):
                raise ScanInterrupted(f"{self.target.display}: the connection was lost after "
                                      f"{counted(done, 'object')}: {error}") from None
            raise

    def _pages(self, si, content, ctx: ScanContext, type_name: str, paths: tuple[str, ...]) -> Iterator[list[dict]]:
        """get_objects' pages; a property of OPTIONAL_PROPERTIES the server does not know (an older vSphere) is
        left out with a warning and the pass asked again without it."""
        from pyVmomi import vmodl

        for _attempt in range(len(OPTIONAL_PROPERTIES) + 1):
            pages = get_objects(si, content, type_name, paths, page_size=self.page_size)
            try:
                first = next(pages, None)
            except vmodl.query.InvalidProperty as error:
                if error.name not in OPTIONAL_PROPERTIES or error.name not in paths:
                    raise
                ctx.warn(f"{self.target.display}: the server does not know {error.name} (an older vSphere): "
                         "left out")
                paths = tuple(p for p in paths if p != error.name)
                continue
            missing: dict[tuple[str, str], int] = {}
            for page in itertools.chain([first] if first is not None else [], pages):
                for obj in page:
                    for path, reason in (obj.get("_missing") or {}).items():
                        missing[path, reason] = missing.get((path, reason), 0) + 1
                yield page
            for (path, reason), count in sorted(missing.items()):
                ctx.warn(f"{self.target.display}: the server did not return {path} for "
                         f"{counted(count, type_name + ' object')} ({reason})")
            return

    @staticmethod
    def _logout(si) -> None:
        try:
            si.RetrieveContent().sessionManager.Logout()
        except Exception:  # the server may be gone; the session times out on its side
            log.debug("logout failed", exc_info=True)
