"""Service categories: what kind of thing a listening port is, from its process, name or port."""

from __future__ import annotations

# Process names (or their prefixes) that settle the category whatever the port.
_PROCESS_CATEGORIES = {
    "postgres": "database", "postmaster": "database", "mysqld": "database", "mariadbd": "database",
    "sqlservr": "database", "tnslsnr": "database", "oracle": "database", "mongod": "database",
    "mongos": "database", "redis-server": "database", "valkey-server": "database", "memcached": "database",
    "clickhouse-server": "database", "influxd": "database",
    "nginx": "web", "httpd": "web", "apache2": "web", "lighttpd": "web", "caddy": "web", "w3wp": "web",
    "sshd": "remote-access", "xrdp": "remote-access", "vncserver": "remote-access", "Xvnc": "remote-access",
    "telnetd": "remote-access", "in.telnetd": "remote-access",
    "vsftpd": "file-transfer", "proftpd": "file-transfer", "pure-ftpd": "file-transfer", "smbd": "file-transfer",
    "nfsd": "file-transfer", "rpc.mountd": "file-transfer",
    "slapd": "directory", "krb5kdc": "directory", "named": "infrastructure", "dnsmasq": "infrastructure",
    "unbound": "infrastructure", "systemd-resolve": "infrastructure", "chronyd": "infrastructure",
    "ntpd": "infrastructure", "snmpd": "infrastructure", "rpcbind": "infrastructure",
    "rabbitmq-server": "messaging", "beam.smp": "messaging", "mosquitto": "messaging", "kafka": "messaging",
    "postfix": "messaging", "master": "messaging", "exim4": "messaging", "sendmail": "messaging",
    "storescp": "healthcare", "dcmqrscp": "healthcare", "orthanc": "healthcare", "Orthanc": "healthcare",
    "mirth": "healthcare",
}

# nmap / IANA service names.
_NAME_CATEGORIES = {
    "postgresql": "database", "mysql": "database", "ms-sql-s": "database", "oracle-tns": "database",
    "mongodb": "database", "mongod": "database", "redis": "database", "memcache": "database",
    "http": "web", "https": "web", "http-proxy": "web", "http-alt": "web", "ssl/http": "web",
    "ssh": "remote-access", "telnet": "remote-access", "ms-wbt-server": "remote-access", "vnc": "remote-access",
    "rdp": "remote-access", "winrm": "remote-access",
    "ftp": "file-transfer", "ftp-data": "file-transfer", "sftp": "file-transfer", "microsoft-ds": "file-transfer",
    "netbios-ssn": "file-transfer", "nfs": "file-transfer", "tftp": "file-transfer", "rsync": "file-transfer",
    "ldap": "directory", "ldaps": "directory", "kerberos-sec": "directory", "kerberos": "directory",
    "kpasswd": "directory", "globalcatLDAP": "directory",
    "domain": "infrastructure", "ntp": "infrastructure", "snmp": "infrastructure", "syslog": "infrastructure",
    "dhcps": "infrastructure", "bootps": "infrastructure", "rpcbind": "infrastructure", "sunrpc": "infrastructure",
    "msrpc": "infrastructure", "zabbix-agent": "infrastructure",
    "smtp": "messaging", "submission": "messaging", "smtps": "messaging", "imap": "messaging",
    "imaps": "messaging", "pop3": "messaging", "pop3s": "messaging", "amqp": "messaging", "mqtt": "messaging",
    "dicom": "healthcare", "dicom-iscl": "healthcare", "dicom-tls": "healthcare", "hl7": "healthcare",
    "hl7-mlp": "healthcare", "acr-nema": "healthcare",
}

_PORT_CATEGORIES = {
    5432: "database", 3306: "database", 1433: "database", 1521: "database", 27017: "database",
    6379: "database", 11211: "database", 9042: "database", 8086: "database",
    80: "web", 443: "web", 8080: "web", 8443: "web",
    22: "remote-access", 23: "remote-access", 3389: "remote-access", 5900: "remote-access",
    5985: "remote-access", 5986: "remote-access",
    20: "file-transfer", 21: "file-transfer", 69: "file-transfer", 139: "file-transfer",
    445: "file-transfer", 2049: "file-transfer", 873: "file-transfer",
    88: "directory", 389: "directory", 636: "directory", 3268: "directory", 3269: "directory", 464: "directory",
    53: "infrastructure", 123: "infrastructure", 161: "infrastructure", 514: "infrastructure",
    67: "infrastructure", 111: "infrastructure", 135: "infrastructure", 10050: "infrastructure",
    25: "messaging", 587: "messaging", 465: "messaging", 143: "messaging", 993: "messaging",
    110: "messaging", 995: "messaging", 5672: "messaging", 1883: "messaging", 9092: "messaging",
    104: "healthcare", 11112: "healthcare", 2761: "healthcare", 2762: "healthcare", 2575: "healthcare",
}


def categorise_service(*, port: int | None, name: str | None = None, process: str | None = None) -> str:
    """Return the service's category (one of model.SERVICE_CATEGORIES): by process, then name, then port."""
    if process and process in _PROCESS_CATEGORIES:
        return _PROCESS_CATEGORIES[process]
    if name:
        key = name.removeprefix("ssl/")
        if key in _NAME_CATEGORIES:
            return _NAME_CATEGORIES[key]
    if port is not None and port in _PORT_CATEGORIES:
        return _PORT_CATEGORIES[port]
    return "other"
