"""What a host's raw facts mean: the pure transforms `scan host` (psutil), `scan ssh` (command output) and
the stand-alone collector share, from hardware and OS facts to services, connections and databases.

Each function takes plain values (psutil-shaped dicts, file contents) and returns records; none talks to
the machine. Records are stamped as this host's (`SOURCE`); the SSH scanner restamps what it collected.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import socket
import stat
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import psutil

from discovery.records.model import Connection, Database, Disk, Interface, Partition, Service

SOURCE = "local"

DMI_FILES = ("sys_vendor", "product_name", "product_serial", "product_uuid")

# Values firmware vendors leave in DMI fields they did not fill in (compared case-insensitively).
DMI_PLACEHOLDERS = frozenset(v.casefold() for v in (
    "To Be Filled By O.E.M.", "To be filled by O.E.M.", "Default string", "None", "0", "N/A", "NA",
    "Not Specified", "Not Applicable", "Not Available", "System Serial Number", "System Product Name",
    "System manufacturer", "System Manufacturer", "Chassis Serial Number", "Base Board Serial Number",
    "Unknown", "OEM", "O.E.M.", "123456789", "0123456789", "Type1ProductConfigId", "Invalid",
))

# UUIDs firmware reports when it has none: all zeros, all ones, and AMI's well-known default.
DMI_PLACEHOLDER_UUIDS = frozenset((
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",
))

# A DMI vendor/product naming a hypervisor -> systemd-detect-virt's name for it.
HYPERVISORS_BY_DMI = (
    ("kvm", "kvm"), ("qemu", "qemu"), ("vmware", "vmware"), ("virtualbox", "oracle"),
    ("innotek", "oracle"), ("virtual machine", "microsoft"), ("hvm domu", "xen"), ("xen", "xen"),
    ("amazon ec2", "amazon"), ("google compute engine", "google"), ("bochs", "bochs"),
    ("parallels", "parallels"), ("bhyve", "bhyve"),
)

CONTAINER_MARKERS = (("/.dockerenv", "docker"), ("/run/.containerenv", "podman"))

# Block devices that are not disks: loop images, RAM disks, device-mapper/RAID/network volumes
# built on other disks (counting them would count capacity twice), optical and floppy drives.
SKIPPED_BLOCK_PREFIXES = ("loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd")

OS_FAMILIES = {
    "Linux": "linux", "Windows": "windows", "Darwin": "macos", "FreeBSD": "bsd", "OpenBSD": "bsd",
    "NetBSD": "bsd", "DragonFly": "bsd", "SunOS": "solaris", "AIX": "aix",
}

WILDCARD_ADDRESSES = ("0.0.0.0", "::")

ENGINE_BY_PROGRAM = {
    "postgres": "postgresql", "postmaster": "postgresql",
    "mysqld": "mysql", "mariadbd": "mariadb",
    "sqlservr": "mssql", "tnslsnr": "oracle",
    "mongod": "mongodb",
    "redis-server": "redis", "valkey-server": "valkey",
    "memcached": "memcached",
    "clickhouse-server": "clickhouse", "clickhouse-serv": "clickhouse",  # 15-character comm
    "influxd": "influxdb",
}

# Java servers, recognised by their main class on the command line.
ENGINE_BY_JAVA_CLASS = (
    ("org.apache.cassandra.service.CassandraDaemon", "cassandra"),
    ("org.elasticsearch.", "elasticsearch"),
    ("org.opensearch.", "opensearch"),
)

# Engines whose own binary prints its version cheaply with --version.
VERSION_PATTERNS = {
    "postgresql": re.compile(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)*)"),
    "mysql": re.compile(r"\bVer\s+(\d+(?:\.\d+)+)"),
    "mariadb": re.compile(r"\bVer\s+(\d+(?:\.\d+)+)"),
    "mongodb": re.compile(r"\bdb version v(\d+(?:\.\d+)+)"),
    "redis": re.compile(r"\bRedis server v=(\d+(?:\.\d+)+)"),
    "valkey": re.compile(r"\bValkey server v=(\d+(?:\.\d+)+)"),
    "memcached": re.compile(r"\bmemcached (\d+(?:\.\d+)+)"),
}



def get_port_names(keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """Return the well-known service name of each (protocol, port) that has one (from the services database)."""
    names = {}
    for protocol, port in keys:
        try:
            names[(protocol, port)] = socket.getservbyport(port, protocol)
        except (OSError, OverflowError):
            continue
    return names



def transform_cpuinfo(text: str | None) -> str | None:
    """Return the first "model name" in /proc/cpuinfo text, or None."""
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "model name" and value.strip():
            return value.strip()
    return None



def transform_dmi_value(value: str | None) -> str | None:
    """Return a DMI value stripped, or None when it is missing or a firmware placeholder."""
    if value is None:
        return None
    value = value.strip()
    if not value or value.casefold() in DMI_PLACEHOLDERS or set(value) <= {"0", " ", "-"}:
        return None
    return value



def transform_dmi(dmi: Mapping[str, str | None]) -> dict[str, str | None]:
    """Return vendor, model, serial and hardware_uuid from DMI file contents, placeholders dropped."""
    uuid = transform_dmi_value(dmi.get("product_uuid"))
    if uuid is not None:
        uuid = uuid.lower()
        if uuid in DMI_PLACEHOLDER_UUIDS or set(uuid) <= {"f", "-"}:
            uuid = None
    return {
        "vendor": transform_dmi_value(dmi.get("sys_vendor")),
        "model": transform_dmi_value(dmi.get("product_name")),
        "serial": transform_dmi_value(dmi.get("product_serial")),
        "hardware_uuid": uuid,
    }



def transform_virtualization(detect_virt: str | None, markers: Mapping[str, bool],
                             dmi: Mapping[str, str | None]) -> str | None:
    """Return the virtualization technology ("none" = bare metal), or None when nothing says.

    systemd-detect-virt's answer wins; without it, container marker files, then a DMI
    vendor or product that names a hypervisor (using systemd-detect-virt's names).
    """
    if detect_virt is not None and detect_virt.strip():
        return detect_virt.strip().splitlines()[0].strip()
    for path, name in CONTAINER_MARKERS:
        if markers.get(path):
            return name
    product = (transform_dmi_value(dmi.get("product_name")) or "").casefold()
    vendor = (transform_dmi_value(dmi.get("sys_vendor")) or "").casefold()
    for needle, name in HYPERVISORS_BY_DMI:
        if needle in product or needle in vendor:
            return name
    return None



def transform_disks(devices: Iterable[Mapping[str, str | None]]) -> tuple[Disk, ...]:
    """Return the disks among sysfs block devices; loop, RAM, device-mapper, RAID, optical and empty
    ones are skipped."""
    disks = []
    for dev in devices:
        name = dev["name"]
        if name.startswith(SKIPPED_BLOCK_PREFIXES):
            continue
        sectors = _int(dev.get("size"))
        if sectors == 0:
            continue  # no medium (card reader, empty drive)
        rotational = (dev.get("rotational") or "").strip()
        disks.append(Disk(
            name=name,
            size_bytes=sectors * 512 if sectors is not None else None,  # sysfs counts 512-byte sectors
            model=_clean(dev.get("model")),
            serial=_clean(dev.get("serial")),
            rotational={"1": True, "0": False}.get(rotational),
        ))
    return tuple(disks)



def transform_partitions(partitions: Iterable[Mapping[str, Any]]) -> tuple[Partition, ...]:
    """Return mounted filesystems, each device once (a bind mount is the same filesystem again);
    loop-mounted images (snaps) are not storage and are skipped."""
    seen: set[str] = set()
    result = []
    for p in partitions:
        device = p["device"]
        if device.startswith("/dev/loop") or device in seen:
            continue
        seen.add(device)
        result.append(Partition(device=device, mountpoint=p["mountpoint"], fstype=p.get("fstype") or None,
                                total_bytes=p.get("total"), used_bytes=p.get("used"), free_bytes=p.get("free")))
    return tuple(result)



def transform_cpu_mhz(freq: Mapping[str, float | None] | None) -> float | None:
    """Return the maximum CPU frequency, the current one where no maximum is known, else None."""
    if not freq:
        return None
    for key in ("max", "current"):
        value = freq.get(key)
        if value:
            return float(value)
    return None



def transform_hardware(*, counts: Mapping[str, Any], cpuinfo: str | None, processor: str | None,
                       dmi: Mapping[str, str | None], detect_virt: str | None,
                       markers: Mapping[str, bool], block_devices: Iterable[Mapping[str, str | None]],
                       partitions: Iterable[Mapping[str, Any]], machine_id: str | None) -> dict[str, Any]:
    """Return the Host hardware fields from what the hardware get_* functions returned."""
    return {
        "cpu_model": transform_cpuinfo(cpuinfo) or _clean(processor),
        "cpu_cores": counts.get("cpu_physical"),
        "cpu_logical_cores": counts.get("cpu_logical"),
        "cpu_mhz": transform_cpu_mhz(counts.get("cpu_freq")),
        "memory_bytes": counts.get("memory_total"),
        "swap_bytes": counts.get("swap_total"),
        "disks": transform_disks(block_devices),
        "partitions": transform_partitions(partitions),
        **transform_dmi(dmi),
        "virtualization": transform_virtualization(detect_virt, markers, dmi),
        "machine_id": transform_machine_id(machine_id),
    }



def transform_machine_id(text: str | None) -> str | None:
    """Return the machine id, or None when missing, empty or "uninitialized" (first boot)."""
    value = (text or "").strip()
    return value if value and value != "uninitialized" else None



def transform_os_release(text: str) -> dict[str, str]:
    """Return the KEY=value pairs of an os-release file, quotes and escapes removed."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value)
        except ValueError:
            continue
        values[key.strip()] = " ".join(parts)
    return values



def transform_os(facts: Mapping[str, Any], os_release: str | None) -> dict[str, Any]:
    """Return the Host OS and naming fields from get_os_facts() and os-release text."""
    system = facts.get("system") or ""
    fields: dict[str, Any] = {
        "os_family": OS_FAMILIES.get(system, system.lower() or None),
        "kernel": facts.get("release") or None,
        "architecture": facts.get("machine") or None,
        "os_name": None, "os_version": None, "os_id": None,
        "boot_time": utc_time(facts.get("boot_time")),
        **transform_names(facts.get("hostname"), facts.get("fqdn")),
    }
    if os_release:
        release = transform_os_release(os_release)
        fields.update(os_name=release.get("NAME") or None,
                      os_version=release.get("VERSION") or release.get("VERSION_ID") or None,
                      os_id=release.get("ID") or None)
    elif system == "Windows" and facts.get("win32_ver"):
        release, version = facts["win32_ver"][0], facts["win32_ver"][1]
        fields.update(os_name=f"Windows {release}" if release else "Windows", os_version=version or None,
                      os_id="windows", kernel=version or fields["kernel"])
    elif system == "Darwin":
        fields.update(os_name="macOS", os_version=facts.get("mac_ver") or None, os_id="macos")
    return fields



def transform_names(hostname: str | None, fqdn: str | None) -> dict[str, str | None]:
    """Return hostname, fqdn and domain; a name without a dot or a localhost name is no FQDN."""
    hostname = hostname or None
    if not fqdn or "." not in fqdn or fqdn.lower().startswith("localhost"):
        return {"hostname": hostname, "fqdn": None, "domain": None}
    if hostname and fqdn.lower().startswith(hostname.lower() + "."):
        domain = fqdn[len(hostname) + 1:]
    else:
        domain = fqdn.split(".", 1)[1]
    return {"hostname": hostname, "fqdn": fqdn, "domain": domain or None}



def transform_mac(address: str | None) -> str | None:
    """Return a MAC address as lower-case colon-separated hex, None when missing, malformed or all zeros."""
    if not address:
        return None
    mac = address.strip().lower().replace("-", ":")
    if not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2})+", mac) or set(mac) <= {"0", ":"}:
        return None
    return mac



def transform_host_addresses(interfaces: Iterable[Interface]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return (addresses, macs) for the Host: unique IPs that are not loopback or link-local, unique MACs."""
    addresses: dict[str, None] = {}
    macs: dict[str, None] = {}
    for iface in interfaces:
        if iface.mac:
            macs[iface.mac] = None
        for entry in iface.addresses:
            try:
                ip = ipaddress.ip_address(entry.split("/", 1)[0])
            except ValueError:
                continue
            if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast):
                addresses[str(ip)] = None
    return tuple(addresses), tuple(macs)



def transform_address(address: str | None) -> str | None:
    """Return an IP address in canonical form, IPv4-mapped IPv6 as plain IPv4 ("::ffff:10.0.0.1" -> "10.0.0.1")."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)



def is_listener(sock: Mapping[str, Any]) -> bool:
    """A listening TCP socket, or a bound UDP socket without a remote end."""
    if sock["local_port"] is None:
        return False
    if sock["protocol"] == "tcp":
        return sock["status"] == psutil.CONN_LISTEN
    return sock["remote_address"] is None



def _address_rank(address: str | None) -> tuple[int, str]:
    """Sort key for the address a merged Service shows: 0.0.0.0, ::, other addresses, loopback."""
    if address in WILDCARD_ADDRESSES:
        return (WILDCARD_ADDRESSES.index(address), address)
    try:
        loopback = ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        loopback = False
    return (3 if loopback else 2, address or "")



def transform_services(sockets: Iterable[Mapping[str, Any]], process_names: Mapping[int, str],
                       port_names: Mapping[tuple[str, int], str], observed_at: datetime) -> tuple[Service, ...]:
    """Return one listening Service per (protocol, port); sockets on several addresses merge, the wildcard shown."""
    groups: dict[tuple[str, int], list[tuple[str | None, int | None]]] = {}
    for sock in sockets:
        if is_listener(sock):
            key = (sock["protocol"], sock["local_port"])
            groups.setdefault(key, []).append((transform_address(sock["local_address"]), sock["pid"]))
    services = []
    for (protocol, port), members in sorted(groups.items()):
        address, pid = min(members, key=lambda m: _address_rank(m[0]))
        if pid is None:
            owners = {p for _, p in members if p is not None}
            pid = owners.pop() if len(owners) == 1 else None
        services.append(Service(
            protocol=protocol, port=port, address=address, state="listening",
            name=port_names.get((protocol, port)),
            process=process_names.get(pid) if pid is not None else None, pid=pid,
            source=SOURCE, observed_at=observed_at,
        ))
    return tuple(services)



def transform_connections(sockets: Iterable[Mapping[str, Any]], process_names: Mapping[int, str],
                          observed_at: datetime) -> tuple[Connection, ...]:
    """Return connected sockets as Connections; "inbound" where the local end is one of this host's listeners."""
    sockets = list(sockets)
    listening: dict[tuple[str, int], set[str | None]] = {}
    for sock in sockets:
        if is_listener(sock):
            listening.setdefault((sock["protocol"], sock["local_port"]), set()).add(
                transform_address(sock["local_address"]))
    connections = []
    for sock in sockets:
        if sock["remote_address"] is None or sock["local_port"] is None or sock["remote_port"] is None:
            continue
        if sock["protocol"] == "tcp" and sock["status"] == psutil.CONN_LISTEN:
            continue
        local = transform_address(sock["local_address"]) or ""
        listeners = listening.get((sock["protocol"], sock["local_port"]), set())
        inbound = any(a == "::" or a == local or (a == "0.0.0.0" and ":" not in local) for a in listeners)
        pid = sock["pid"]
        connections.append(Connection(
            protocol=sock["protocol"], local_address=local, local_port=sock["local_port"],
            remote_address=transform_address(sock["remote_address"]) or "", remote_port=sock["remote_port"],
            state=sock["status"] if sock["status"] not in (None, psutil.CONN_NONE) else None,
            direction="inbound" if inbound else "outbound",
            pid=pid, process=process_names.get(pid) if pid is not None else None,
            source=SOURCE, observed_at=observed_at,
        ))
    connections.sort(key=lambda c: (c.protocol, c.local_address, c.local_port, c.remote_address, c.remote_port))
    return tuple(connections)



def count_unowned_sockets(sockets: Iterable[Mapping[str, Any]]) -> int:
    """Return how many sockets have no owning pid, leaving out TIME_WAIT ones (which never have one)."""
    return sum(1 for s in sockets if s["pid"] is None and s["status"] != psutil.CONN_TIME_WAIT)



def _program(path: str | None) -> str:
    base = re.split(r"[\\/]", path or "")[-1].lower()
    return base[:-4] if base.endswith(".exe") else base



def transform_engine(name: str | None, exe: str | None, cmdline: Sequence[str] | str | None) -> str | None:
    """Return the database engine a process runs ("postgresql", "redis", ...), or None when it is no database."""
    for program in (_program(name), _program(exe)):
        if program in ENGINE_BY_PROGRAM:
            return ENGINE_BY_PROGRAM[program]
    if "java" in (_program(name), _program(exe)) and cmdline:
        text = cmdline if isinstance(cmdline, str) else " ".join(cmdline)
        for marker, engine in ENGINE_BY_JAVA_CLASS:
            if marker in text:
                return engine
    return None



def transform_db_version(engine: str, output: str) -> tuple[str, str | None]:
    """Return (engine, version) from a database binary's --version output; a mysqld that says MariaDB is mariadb."""
    if engine == "mysql" and "mariadb" in output.lower():
        engine = "mariadb"
    pattern = VERSION_PATTERNS.get(engine)
    match = pattern.search(output) if pattern else None
    return engine, match.group(1) if match else None



def transform_databases(services: Iterable[Service], identified: Mapping[int, tuple[str, str | None]],
                        observed_at: datetime) -> tuple[Database, ...]:
    """Return one Database per (engine, port) listened on by an identified process; TCP is preferred over UDP."""
    found: dict[tuple[str, int], Database] = {}
    for service in sorted(services, key=lambda s: (s.protocol != "tcp", s.port)):
        if service.pid is None or service.pid not in identified:
            continue
        engine, version = identified[service.pid]
        if (engine, service.port) in found:
            continue
        found[(engine, service.port)] = Database(
            engine=engine, protocol=service.protocol, port=service.port, version=version,
            process=service.process, pid=service.pid, source=SOURCE, observed_at=observed_at,
        )
    return tuple(found[key] for key in sorted(found))



def is_trusted_executable(mode: int, owner_uid: int, my_uid: int) -> bool:
    """Return whether a file may be run to ask its version: a regular file that only root (or, when
    not root, this user) owns and nobody else may write."""
    allowed = {0} if my_uid == 0 else {0, my_uid}
    return stat.S_ISREG(mode) and owner_uid in allowed and not mode & (stat.S_IWGRP | stat.S_IWOTH)



def utc_time(timestamp: float | None) -> datetime | None:
    """Return a POSIX timestamp as an aware UTC datetime to the second, None for None/0."""
    if not timestamp:
        return None
    try:
        return datetime.fromtimestamp(timestamp, timezone.utc).replace(microsecond=0)
    except (ValueError, OverflowError, OSError):  # a year datetime cannot hold (a garbled btime over SSH)
        return None



def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None



def _clean(text: str | None) -> str | None:
    value = (text or "").strip()
    return value or None
