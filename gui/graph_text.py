"""What the graph says in words: friendly protocol names, an edge's tooltip and label, a node's tooltip, and
the empty state's explanation. Plain functions (no Qt).

Edges: discovery/ has categories for services (discovery.records.categories) but no table of
names people use, so it is here: nmap's service names and well-known ports mapped to what an architect
calls the protocol ("acr-nema 104" is DICOM, "tcp 2575" HL7 v2 over MLLP). A dependency is read from the
display graph's edge attribute ``deps`` (gui.graph_model: one `EdgeDep` per dependency behind the edge).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# nmap service names (and the products and processes that name them) → the protocol's common name
PROTOCOL_BY_NAME = {
    "acr-nema": "DICOM", "dicom": "DICOM", "dicom-iscl": "DICOM (ISCL)", "dicom-tls": "DICOM over TLS",
    "storescp": "DICOM", "hl7": "HL7 v2/MLLP", "hl7-mlp": "HL7 v2/MLLP", "mllp": "HL7 v2/MLLP", "fhir": "FHIR",
    "postgresql": "PostgreSQL", "postgres": "PostgreSQL", "mysql": "MySQL", "mysqld": "MySQL",
    "mariadbd": "MySQL", "ms-sql-s": "SQL Server", "sqlservr.exe": "SQL Server", "oracle-tns": "Oracle",
    "mongodb": "MongoDB", "mongod": "MongoDB", "redis": "Redis", "redis-server": "Redis",
    "memcache": "Memcached", "memcached": "Memcached", "http": "HTTP", "https": "HTTPS", "ssl/http": "HTTPS",
    "http-proxy": "HTTP proxy", "http-alt": "HTTP", "ssh": "SSH", "telnet": "Telnet", "ms-wbt-server": "RDP",
    "rdp": "RDP", "vnc": "VNC", "winrm": "WinRM", "ftp": "FTP", "sftp": "SFTP", "microsoft-ds": "SMB",
    "netbios-ssn": "NetBIOS/SMB", "nfs": "NFS", "ldap": "LDAP", "ldaps": "LDAPS", "kerberos-sec": "Kerberos",
    "kerberos": "Kerberos", "domain": "DNS", "named": "DNS", "ntp": "NTP", "snmp": "SNMP", "syslog": "syslog",
    "smtp": "SMTP", "submission": "SMTP", "imap": "IMAP", "imaps": "IMAPS", "amqp": "AMQP", "mqtt": "MQTT",
    "zabbix-agent": "Zabbix agent", "kafka": "Kafka",
}
PROTOCOL_BY_PORT = {
    104: "DICOM", 11112: "DICOM", 2761: "DICOM (ISCL)", 2762: "DICOM over TLS", 2575: "HL7 v2/MLLP",
    5432: "PostgreSQL", 3306: "MySQL", 1433: "SQL Server", 1521: "Oracle", 27017: "MongoDB", 6379: "Redis",
    11211: "Memcached", 9042: "Cassandra", 80: "HTTP", 443: "HTTPS", 8080: "HTTP", 8443: "HTTPS", 22: "SSH",
    23: "Telnet", 3389: "RDP", 5900: "VNC", 5985: "WinRM", 5986: "WinRM", 21: "FTP", 445: "SMB", 139: "NetBIOS/SMB",
    2049: "NFS", 389: "LDAP", 636: "LDAPS", 88: "Kerberos", 53: "DNS", 123: "NTP", 161: "SNMP", 514: "syslog",
    25: "SMTP", 587: "SMTP", 143: "IMAP", 993: "IMAPS", 5672: "AMQP", 1883: "MQTT", 9092: "Kafka",
    10050: "Zabbix agent",
}
EDGE_TOOLTIP_LINES = 8   # an edge's tooltip describes at most this many dependencies
LEGACY_WORDS = {"major": "legacy OS or exposed service", "minor": "end-of-life packages only"}
NO_CONNECTIONS_TEXT = (
    "No connection data: these hosts were found, but nothing yet says which one talks to which. Dependencies "
    "come from scans that read a host's own sockets — this host (Scan ▸ This host), SSH, a collector bundle — "
    "from a database server's client list, from SNMP (TCP-MIB) or from a passive capture. A network scan "
    "(nmap) alone sees ports, not connections.")


@dataclass(frozen=True, slots=True)
class EdgeDep:
    """One dependency behind a display edge: what the client reached, how, and how we know."""
    protocol: str              # "tcp" | "udp"
    port: int
    service: str | None        # the friendly protocol name (friendly_protocol), None when unknown
    process: str | None        # the client process, when the client's own sockets were read
    evidence: str | None       # "observed", "reported", "inferred"...
    last_seen: str | None      # ISO timestamp


@lru_cache(maxsize=8192)  # called once per dependency: thousands of times with the same few names
def friendly_protocol(port: int | None, *names: str | None) -> str | None:
    """Return the protocol's common name from the first of `names` (nmap name, product, server process) the
    table knows, else from the port; None when neither is known."""
    for name in names:
        if name:
            key = str(name).lower()
            found = PROTOCOL_BY_NAME.get(key) or PROTOCOL_BY_NAME.get(key.split()[0])
            if found:
                return found
    return PROTOCOL_BY_PORT.get(port) if port is not None else None


def dep_phrase(dep: EdgeDep) -> str:
    """Return one dependency as "PostgreSQL (tcp/5432) from java, observed, last seen 2026-11-01"."""
    name = f"{dep.service} ({dep.protocol}/{dep.port})" if dep.service else f"{dep.protocol}/{dep.port}"
    parts = [name + (f" from {dep.process}" if dep.process else "")]
    parts.append(dep.evidence or "evidence unknown")
    parts.append(f"last seen {dep.last_seen[:10]}" if dep.last_seen else "last seen unknown")
    return ", ".join(parts)


def edge_tooltip(source_label: str, target_label: str, deps: tuple[EdgeDep, ...], count: int) -> str:
    """Return an edge's tooltip: "web01 → app01" then one line per dependency (at most EDGE_TOOLTIP_LINES)."""
    lines = [f"{source_label} → {target_label}"]
    lines += [dep_phrase(d) for d in deps[:EDGE_TOOLTIP_LINES]]
    more = max(count, len(deps)) - min(len(deps), EDGE_TOOLTIP_LINES)
    if more > 0:
        lines.append(f"… and {more} more")
    if not deps:
        lines.append(f"{count} dependenc{'y' if count == 1 else 'ies'}")
    return "\n".join(lines)


def edge_label(deps: tuple[EdgeDep, ...]) -> str:
    """Return an edge's short label: the distinct protocol names (or ports), "DICOM, HL7 v2/MLLP"."""
    names = list(dict.fromkeys(d.service or f"{d.protocol}/{d.port}" for d in deps))
    return ", ".join(names[:3]) + (" …" if len(names) > 3 else "")


def node_tooltip(node_id: str, data: dict, host: dict | None, own_host: dict | None, out_degree: int,
                 in_degree: int) -> str:
    """Return what hovering a node tells: its full name and kind, the host a service runs on (`host`: its
    host's record), risk (or "not scored"), graded badges, links in and out; for a host (`own_host`: its own
    record) its addresses, OS and the switch port it is cabled to."""
    lines = [f"{data.get('name') or data.get('label') or node_id} ({data.get('kind', 'node')})"]
    if data["kind"] in ("service", "database", "process") and host is not None:
        lines.append(f"on host {host.get('hostname') or data['host']}")
    if data.get("risk") is not None:
        lines.append(f"risk {data['risk']:.0f} of 100" + (" (little evidence)" if data.get("unknown") else ""))
    elif data["kind"] == "host":
        lines.append("not scored")
    badges = [LEGACY_WORDS.get(data.get("legacy"), "legacy")] if data.get("legacy") else []
    badges += ["healthcare"] if data.get("healthcare") else []
    if badges:
        lines.append(", ".join(badges))
    if own_host is not None:
        lines.append(", ".join(own_host["addresses"][:4]) or "no address")
        if own_host.get("os_name"):
            lines.append(" ".join(filter(None, (own_host["os_name"], own_host.get("os_version")))))
        if own_host.get("switch"):
            port = f" port {own_host['switch_port']}" if own_host.get("switch_port") else ""
            lines.append(f"cabled to {own_host['switch']}{port}")
    lines.append(f"depends on {out_degree}, used by {in_degree} (shown)")
    return "\n".join(lines)
