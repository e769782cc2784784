"""Typed records for every fact Estate Mapper keeps, the scan context and the errors users see.

Records are frozen, keyword-only dataclasses. Each says where it came from (`source`) and
when (`observed_at`). Child records (services, software, ...) carry `host_id`, which is
``None`` while a scanner produces them and is filled in when the host's identity is resolved.
Missing data is ``None`` (or an empty tuple), never ``""`` and never a guess.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

SOURCES = ("nmap", "local", "ssh", "import", "bundle")
SCAN_STATUSES = ("running", "completed", "interrupted", "failed")
SERVICE_CATEGORIES = (
    "database", "web", "remote-access", "file-transfer", "directory",
    "messaging", "healthcare", "infrastructure", "other",
)
# The shared vocabulary: every part imports these instead of writing its own copy.
SEVERITIES = ("critical", "high", "medium", "low", "info")  # worst first
# (background, foreground) of each severity, on the workbook's cells and in the desktop application.
SEVERITY_COLOURS = {"critical": ("#7B0000", "#FFFFFF"), "high": ("#F8696B", "#000000"),
                    "medium": ("#FFC000", "#000000"), "low": ("#FFEB84", "#000000"), "info": ("#DDEBF7", "#000000")}
NO_SEVERITY_COLOURS = ("#FFFFFF", "#000000")
# Risk score colour scale (score, colour): green at 0, yellow at 50, red at 100 (tables and the workbook).
RISK_SCALE = ((0, "#63BE7B"), (50, "#FFEB84"), (100, "#F8696B"))
# Risk score bands (lowest score of the band, name), worst first; the band names are severities.
RISK_BANDS = ((75, "critical"), (50, "high"), (25, "medium"), (1, "low"), (0, "info"))
OPEN_STATES = frozenset(("open", "listening"))  # a service's states that mean it answers (nmap's, a host's own)
CRITICALITIES = ("critical", "high", "medium", "low")  # an owner's rating of a host, worst first
# How deep a host's inventory goes, shallowest first (discovery.analyses.coverage says what each level means).
COVERAGE_DEPTHS = ("seen", "ports", "os", "hardware", "software", "sockets")
PATIENT_DATA = ("yes", "no", "unknown")


def severities_at_or_above(minimum: str) -> frozenset[str]:
    """Return the severities at or above `minimum` ("high": critical and high); raises ValueError for an unknown one."""
    if minimum not in SEVERITIES:
        raise ValueError(f"unknown severity {minimum!r}")
    return frozenset(SEVERITIES[:SEVERITIES.index(minimum) + 1])


class EstateError(Exception):
    """A failure the user can fix: shown as one line, exit status 1, never a traceback."""


class StoreError(EstateError):
    """The store cannot be opened, read or written."""


class ScanCancelled(Exception):
    """Raised inside a scanner when the user asked to stop; results so far are kept."""


class ScanInterrupted(EstateError):
    """Raised inside a scanner when its source went away mid-scan (a server stopped, the connection dropped):
    results so far are kept and the scan is interrupted, not failed, so that it can be run again."""


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """Return "1 host", "2 hosts", "1,200 hosts" (`plural` for nouns that do not just take an s)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def utc_now() -> datetime:
    """Return the current time, timezone-aware, in UTC, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scan:
    kind: str                       # "host", "network", "ssh", "import", "collect"
    started_at: datetime
    targets: tuple[str, ...] = ()
    arguments: str | None = None    # what was run, e.g. nmap's arguments
    finished_at: datetime | None = None
    status: str = "running"
    warnings: tuple[str, ...] = ()
    host_count: int = 0
    origin: tuple[str, ...] = ()    # the scanning machine's own addresses (its probes are not dependencies)
    id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Disk:
    """A physical or virtual block device (not a partition)."""
    name: str                       # "sda", "nvme0n1", "PhysicalDrive0"
    size_bytes: int | None = None
    model: str | None = None
    serial: str | None = None
    rotational: bool | None = None  # True: spinning disk, False: SSD/virtual


@dataclass(frozen=True, slots=True, kw_only=True)
class Partition:
    """A mounted filesystem."""
    device: str
    mountpoint: str
    fstype: str | None = None
    total_bytes: int | None = None
    used_bytes: int | None = None
    free_bytes: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OsClass:
    type: str | None = None         # "general purpose", "webcam", "specialized", ...
    vendor: str | None = None
    family: str | None = None       # nmap's osfamily: "Linux", "Windows", "embedded", ...
    generation: str | None = None   # "5.X", "2016"
    accuracy: int | None = None
    cpes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OsMatch:
    """One of nmap's OS guesses, best first."""
    name: str
    accuracy: int
    classes: tuple[OsClass, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptResult:
    """An NSE script's output for a host or a port: the text, and its structured elements where nmap gave them."""
    id: str
    output: str | None = None
    data: dict | list | str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Host:
    source: str
    observed_at: datetime
    id: str | None = None
    hostname: str | None = None
    domain: str | None = None
    fqdn: str | None = None
    addresses: tuple[str, ...] = ()
    macs: tuple[str, ...] = ()
    os_name: str | None = None      # "Debian GNU/Linux"
    os_version: str | None = None   # as shown: "12 (bookworm)"
    os_family: str | None = None    # "linux", "windows", "macos", "bsd", ...
    os_id: str | None = None        # os-release ID: "debian", "rhel", ...
    kernel: str | None = None
    architecture: str | None = None
    boot_time: datetime | None = None
    vendor: str | None = None       # hardware vendor
    model: str | None = None        # hardware model
    serial: str | None = None
    hardware_uuid: str | None = None
    machine_id: str | None = None   # /etc/machine-id: cloned VMs share it, never merge on it alone
    virtualization: str | None = None  # "kvm", "vmware", "docker", "none" (bare metal), None (unknown)
    cpu_model: str | None = None
    cpu_cores: int | None = None    # physical cores
    cpu_logical_cores: int | None = None
    cpu_mhz: float | None = None    # maximum (or current, where no maximum is known)
    memory_bytes: int | None = None
    swap_bytes: int | None = None
    disks: tuple[Disk, ...] = ()
    partitions: tuple[Partition, ...] = ()
    # What a network scan adds.
    hostnames: tuple[str, ...] = ()  # every name seen (user-given, PTR), `hostname` is the first
    mac_vendor: str | None = None   # the NIC maker from the MAC prefix (nmap)
    status: str | None = None       # "up", "down"
    status_reason: str | None = None  # "arp-response", "syn-ack", ...
    os_matches: tuple[OsMatch, ...] = ()
    uptime_seconds: int | None = None
    scripts: tuple[ScriptResult, ...] = ()  # host scripts (e.g. smb-protocols)


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    name: str
    source: str
    observed_at: datetime
    host_id: str | None = None
    mac: str | None = None
    addresses: tuple[str, ...] = ()  # "10.0.0.5/24", "fe80::1/64"
    is_up: bool | None = None
    speed_mbps: int | None = None
    mtu: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Software:
    name: str
    source: str                     # "dpkg", "rpm", "registry", "pkgutil", "nmap", ...
    observed_at: datetime
    host_id: str | None = None
    version: str | None = None
    vendor: str | None = None
    architecture: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Process:
    pid: int
    name: str
    source: str
    observed_at: datetime
    host_id: str | None = None
    ppid: int | None = None
    exe: str | None = None
    username: str | None = None
    started_at: datetime | None = None
    cmdline: str | None = None      # secrets redacted before it is stored


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    protocol: str                   # "tcp" | "udp"
    port: int
    source: str
    observed_at: datetime
    host_id: str | None = None
    address: str | None = None      # the address it listens on ("0.0.0.0" for all)
    state: str = "open"             # "open" (nmap), "listening" (seen on the host)
    name: str | None = None         # nmap's service name, or the well-known name of the port
    product: str | None = None
    version: str | None = None
    extra_info: str | None = None
    tunnel: str | None = None       # "ssl" where nmap saw TLS
    cpes: tuple[str, ...] = ()
    category: str | None = None     # one of SERVICE_CATEGORIES
    process: str | None = None      # the owning process's name
    pid: int | None = None
    reason: str | None = None       # nmap's reason for the state: "syn-ack", ...
    method: str | None = None       # "probed" (version detection) or "table" (port number only)
    confidence: int | None = None   # nmap's conf, 0-10
    os_type: str | None = None      # nmap's ostype from the service
    device_type: str | None = None
    service_hostname: str | None = None  # a hostname the service announced
    fingerprint: str | None = None  # nmap's service fingerprint for unrecognised services
    scripts: tuple[ScriptResult, ...] = ()

    @property
    def id(self) -> str | None:
        return service_id(self.host_id, self.protocol, self.port) if self.host_id else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Database:
    engine: str                     # "postgresql", "mysql", "mariadb", "mssql", "oracle", "mongodb", "redis", ...
    source: str
    observed_at: datetime
    host_id: str | None = None
    protocol: str = "tcp"
    port: int | None = None
    version: str | None = None
    databases: tuple[str, ...] = ()
    sizes: tuple[tuple[str, int], ...] = ()  # (database, bytes) where the server told
    process: str | None = None
    pid: int | None = None

    @property
    def id(self) -> str | None:
        if not self.host_id:
            return None
        return f"{self.host_id}:db/{self.engine}/{self.port if self.port is not None else '-'}"

    @property
    def service_id(self) -> str | None:
        if not self.host_id or self.port is None:
            return None
        return service_id(self.host_id, self.protocol, self.port)


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """A connection seen from one end. `direction` says which end this host is."""
    protocol: str
    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    source: str
    observed_at: datetime
    host_id: str | None = None
    state: str | None = None        # "ESTABLISHED", ...
    direction: str = "unknown"      # "outbound": this host is the client; "inbound": the server
    process: str | None = None
    pid: int | None = None
    evidence: str = "observed"      # "observed": a socket seen on the host; "reported": a server's client list;
                                    # "observed-on-wire": the traffic in a packet capture
    remote_process: str | None = None  # the peer's program as the server reports it (PostgreSQL's application_name)
    first_seen: datetime | None = None  # with --watch: the first and last sample that saw it, and how many did
    last_seen: datetime | None = None
    samples: int = 1
    packets: int | None = None      # passive capture: the flow's packets and bytes on the wire
    bytes: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Neighbour:
    """What a switch knows is on one of its ports: a device that announced itself there (LLDP, CDP), or a MAC
    its forwarding table learned there (so that machine sits behind the port). The layer-2 map, not a dependency."""
    protocol: str                   # "lldp", "cdp", "fdb"
    local_port: str                 # the port on this host: "Gi1/0/5", "ethernet1/12"
    source: str
    observed_at: datetime
    host_id: str | None = None
    remote_mac: str | None = None   # fdb: the MAC learned; lldp: the chassis ID when it is a MAC
    remote_address: str | None = None  # the neighbour's management address
    remote_name: str | None = None  # its sysName / CDP device ID
    remote_port: str | None = None  # its port: "GigabitEthernet0/1", "eth0"
    remote_description: str | None = None  # its sysDescr / CDP platform
    vlan: int | None = None         # fdb: the VLAN (Q-BRIDGE's filtering database) where the switch says


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformObject:
    """Something a platform scanner saw that is not a host: a vCenter itself, its datacenters, clusters,
    datastores and networks. Written to the store as it arrives, like a HostReport; the hosts say which of
    them they use (a VM's cluster, datastores and networks are in its own facts)."""
    kind: str                       # "vcenter", "datacenter", "cluster", "datastore", "network"
    server: str                     # the server that described it: "https://vc.example.org"
    key: str                        # its id on that server (vCenter's managed object id: "datastore-12")
    name: str | None
    source: str
    observed_at: datetime
    parent: str | None = None       # the key of the object it sits in (a cluster's datacenter)
    data: dict = field(default_factory=dict)  # what the server says of it: a datastore's type and capacity


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    id: str
    subject_type: str               # "host", "service", "software", "database"
    subject_id: str
    host_id: str | None
    rule: str
    category: str
    severity: str                   # one of SEVERITIES
    title: str
    evidence: str
    recommendation: str
    confidence: str = "high"        # "high": the host's own package or process; "medium": a banner; "low": a guess
    data: dict | None = None        # what the rule matched: product, cycle, end-of-support date, source...


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """Hosts that must move together, and why."""
    id: str
    name: str
    wave: int | None = None
    host_ids: tuple[str, ...] = ()
    explanation: str | None = None
    edges: tuple[tuple[str, str], ...] = ()  # the host → host dependencies that tie the group


@dataclass(frozen=True, slots=True, kw_only=True)
class HostReport:
    """Everything one scanner learned about one host: the unit written to the store in one transaction."""
    host: Host
    interfaces: tuple[Interface, ...] = ()
    software: tuple[Software, ...] = ()
    processes: tuple[Process, ...] = ()
    services: tuple[Service, ...] = ()
    databases: tuple[Database, ...] = ()
    connections: tuple[Connection, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()
    raw: dict[str, str] = field(default_factory=dict)  # tool output kept as evidence, by name

    def with_host_id(self, host_id: str) -> HostReport:
        """Return a copy whose host and child records all carry `host_id`."""
        def stamp(records):
            return tuple(dataclasses.replace(r, host_id=host_id) for r in records)
        return dataclasses.replace(
            self,
            host=dataclasses.replace(self.host, id=host_id),
            interfaces=stamp(self.interfaces),
            software=stamp(self.software),
            processes=stamp(self.processes),
            services=stamp(self.services),
            databases=stamp(self.databases),
            connections=stamp(self.connections),
            neighbours=stamp(self.neighbours),
        )


def service_id(host_id: str, protocol: str, port: int) -> str:
    """Return the stable id of the service on `port`: the graph node id and the store key."""
    return f"{host_id}:{protocol}/{port}"


def service_row_id(row: dict) -> str:
    """Return a service row's id: its own, or the one its host, protocol (tcp if unsaid) and port give it."""
    return row.get("id") or service_id(row["host_id"], row.get("protocol") or "tcp", row["port"])


ProgressCallback = Callable[[int, int | None, str], None]


class ScanContext:
    """What a running scanner may use: progress reporting, cancellation and warnings.

    Plain Python, shared by the CLI (a progress bar) and the GUI (a worker emitting signals).
    """

    def __init__(self, *, progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None, started_at: datetime | None = None,
                 on_warning: Callable[[str], None] | None = None):
        self.started_at = started_at or utc_now()
        self.warnings: list[str] = []
        self._progress = progress
        self._cancel = cancel or threading.Event()
        self._on_warning = on_warning

    def report(self, done: int, total: int | None, message: str) -> None:
        if self._progress is not None:
            self._progress(done, total, message)

    def warn(self, message: str) -> None:
        """Record something the scan could not do (and tell `on_warning` now); the scan carries on."""
        self.warnings.append(message)
        if self._on_warning is not None:
            self._on_warning(message)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait_cancelled(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a cancel request; return whether one came."""
        return self._cancel.wait(timeout)

    def check_cancelled(self) -> None:
        """Raise ScanCancelled if the user asked to stop."""
        if self._cancel.is_set():
            raise ScanCancelled()
