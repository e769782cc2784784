"""Database servers asked directly: version, databases and their sizes, and who is connected right now.

A server's own client list adds dependency edges even from clients nobody collected (evidence
"reported"). PostgreSQL through psycopg: `SHOW server_version`, `pg_database`, `pg_stat_activity`; MySQL and
MariaDB through PyMySQL (scanners.mysql_processlist): `VERSION()`, `information_schema.TABLES` sums,
`information_schema.PROCESSLIST`. Each engine's facts come in one shape (version, server address, database
sizes, clients as (address, port, program)), so the records are made once, here.
Credentials are used for the connection and kept in memory only: never stored, logged or exported. Where the
user asks (--remember-password), a password that connected is kept in the OS keyring
(discovery.scanning.secrets, account `postgresql:user@host:port` or `mysql:user@host:port`) and used next time
no password is given.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

from discovery.records.model import Connection, Database, EstateError, Host, HostReport, ScanContext, Service
from discovery.scanning.secrets import SecretsError, database_account
from discovery.records.targets import parse_target

log = logging.getLogger(__name__)

SOURCE = "postgresql"
MYSQL_SOURCE = "mysql"  # MySQL and MariaDB servers alike: the records' source, the keyring account's engine
CONNECT_TIMEOUT = 10
# URL scheme -> (engine, default port). mariadb:// is the same protocol as mysql://, and the same keyring account.
SCHEMES = {"postgresql": ("postgresql", 5432), "postgres": ("postgresql", 5432),
           "mysql": (MYSQL_SOURCE, 3306), "mariadb": (MYSQL_SOURCE, 3306)}
URL_FORMS = "postgresql://[USER@]HOST[:PORT][/DBNAME] or mysql://[USER@]HOST[:PORT]/ (also mariadb://)"


@dataclass(frozen=True)
class DatabaseTarget:
    engine: str  # "postgresql" or "mysql" (MySQL and MariaDB)
    host: str
    port: int
    user: str | None
    dbname: str | None
    scheme: str | None = None  # as the URL said it (mariadb://); the engine's name when None

    @property
    def account(self) -> str:
        """The OS keyring account its password is filed under: postgresql:user@host:port, mysql:user@host:port."""
        default = os.environ.get("PGUSER") if self.engine == "postgresql" else None
        return database_account(self.engine, self.user or default or getpass.getuser(), self.host, self.port)

    @property
    def display(self) -> str:
        return (f"{self.scheme or self.engine}://{self.user + '@' if self.user else ''}{self.host}:{self.port}/"
                f"{self.dbname or ''}")


def parse_database_url(url: str, *, user: str | None = None) -> DatabaseTarget:
    """Return the target of `postgresql://[user@]host[:port][/dbname]` or `mysql://` (`mariadb://`)
    `[user@]host[:port][/dbname]`; refuses passwords in the URL and other schemes."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise EstateError(f"{url!r} is not a database URL (examples: postgresql://postgres@db01:5432/emr, "
                          "mysql://monitor@db02:3306/)")
    if parts.password is not None:
        raise EstateError("do not put the password in the URL (it would show in the process list); "
                          "use --ask-password or --password-stdin")
    engine, default_port = SCHEMES[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise EstateError(f"{url!r} has an invalid port") from None
    host = parse_target(parts.hostname or "").text
    dbname = unquote(parts.path.lstrip("/")) or ("postgres" if engine == "postgresql" else None)
    return DatabaseTarget(engine=engine, host=host, port=port,
                          user=user or (unquote(parts.username) if parts.username else None), dbname=dbname,
                          scheme=parts.scheme if parts.scheme not in ("postgres", engine) else None)


def transform_activity(rows: list[tuple], *, server_address: str, server_port: int, observed_at: datetime,
                       process: str = "postgres", source: str = SOURCE) -> tuple[Connection, ...]:
    """Return a server's clients (client address, client port, program) as reported inbound connections: the rows
    of pg_stat_activity (client_addr, client_port, application_name) or of transform_processlist."""
    connections = []
    for client_addr, client_port, application in rows:
        if not client_addr or client_port is None or client_port < 0:
            continue  # a Unix-socket client, or one this role may not see
        connections.append(Connection(
            protocol="tcp", local_address=server_address, local_port=server_port,
            remote_address=str(client_addr).split("/")[0], remote_port=int(client_port), state="ESTABLISHED",
            direction="inbound", process=process, remote_process=application or None, evidence="reported",
            source=source, observed_at=observed_at))
    return tuple(connections)


def get_postgresql_facts(target: DatabaseTarget, password: str | None) -> dict:
    """Connect and read version, databases with sizes, the server's address and current clients."""
    import psycopg

    try:
        conn = psycopg.connect(host=target.host, port=target.port, user=target.user, dbname=target.dbname,
                               password=password, connect_timeout=CONNECT_TIMEOUT, application_name="estatemap")
    except psycopg.OperationalError as error:
        raise EstateError(f"{target.display}: cannot connect: {str(error).strip().splitlines()[-1]}") from None
    facts: dict = {"warnings": [], "engine": "postgresql", "product": "PostgreSQL", "process": "postgres"}
    with conn:
        conn.read_only = True
        with conn.cursor() as cur:
            facts["version"] = cur.execute("SHOW server_version").fetchone()[0].split()[0]
            address = cur.execute("SELECT host(inet_server_addr()), inet_server_port()").fetchone()
            facts["server_address"], facts["server_port"] = address[0], address[1] or target.port
            sizes = []
            for (name,) in cur.execute("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY datname"
                                       ).fetchall():
                try:
                    sizes.append((name, cur.execute("SELECT pg_database_size(%s)", [name]).fetchone()[0]))
                except psycopg.Error:
                    conn.rollback()
                    sizes.append((name, None))
                    facts["warnings"].append(f"{target.display}: no permission to read the size of {name}")
            facts["sizes"] = sizes
            facts["clients"] = cur.execute(
                "SELECT host(client_addr), client_port, application_name FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchall()
            hidden = cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid() AND client_port IS NULL").fetchone()[0]
            if hidden:
                facts["warnings"].append(f"{target.display}: {hidden} sessions are hidden from this role "
                                         "(grant it pg_read_all_stats to see every client)")
    return facts


class DatabaseClientScanner:
    """`estatemap scan database URL...`: ask each PostgreSQL, MySQL or MariaDB server for its databases and current
    clients."""

    kind = "database"

    def __init__(self, urls: list[str], *, user: str | None = None, password: str | None = None,
                 keychain=None, remember_password: bool = False):
        """`keychain` (discovery.scanning.secrets.Keychain) supplies a remembered password when none is given; with
        `remember_password` the given password is stored in it for each server it connected to."""
        self.targets_ = [parse_database_url(u, user=user) for u in urls]
        self._password = password  # memory only
        if remember_password and keychain is None:
            raise EstateError("remembering a password needs the OS keyring (keychain)")
        self.keychain, self.remember_password = keychain, remember_password
        self.remembered: list[str] = []
        self.failed: list[str] = []  # the servers that could not be asked, after a scan

    @property
    def arguments(self) -> str:
        return "scan database " + " ".join(t.display for t in self.targets_)

    def targets(self) -> tuple[str, ...]:
        return tuple(t.display for t in self.targets_)

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]:
        self.failed = []
        for done, target in enumerate(self.targets_, 1):
            ctx.check_cancelled()
            password, remembered = self._password, False
            try:
                if password is None and self.keychain is not None:
                    password = self.keychain.recall(target.account)
                    remembered = password is not None
                facts = get_facts(target, password)
            except EstateError as error:
                hint = (" (the password remembered in the OS keyring was used: forget it with --forget-password)"
                        if remembered and "password" in str(error).lower() else "")
                ctx.warn(f"{error}{hint}")
                self.failed.append(target.display)
            else:
                if self.remember_password and self._password:
                    try:
                        self.keychain.remember(target.account, self._password)
                        self.remembered.append(target.account)
                    except SecretsError as error:
                        ctx.warn(f"{target.display}: password not remembered: {error}")
                for warning in facts["warnings"]:
                    ctx.warn(warning)
                yield self._report(target, facts, ctx.started_at)
            ctx.report(done, len(self.targets_), target.display)

    @staticmethod
    def _report(target: DatabaseTarget, facts: dict, observed_at: datetime) -> HostReport:
        address = facts["server_address"] or resolve_address(target.host)
        port, version, process = facts["server_port"], facts["version"], facts["process"]
        source = SOURCE if target.engine == "postgresql" else MYSQL_SOURCE
        common = dict(source=source, observed_at=observed_at)
        return HostReport(
            host=Host(addresses=(address,) if address else (), **common),
            services=(Service(protocol="tcp", port=port, address=address, state="open", name=target.engine,
                              product=facts["product"], version=version, category="database", process=process,
                              **common),),
            databases=(Database(engine=facts["engine"], port=port, version=version, process=process,
                                databases=tuple(name for name, _ in facts["sizes"]),
                                sizes=tuple((n, b) for n, b in facts["sizes"] if b is not None), **common),),
            connections=transform_activity(facts["clients"], server_address=address or target.host,
                                           server_port=port, observed_at=observed_at, process=process,
                                           source=source),
        )


def get_facts(target: DatabaseTarget, password: str | None) -> dict:
    """Return what a server told (get_postgresql_facts' or get_mysql_facts' dict); raises EstateError."""
    if target.engine == "postgresql":
        return get_postgresql_facts(target, password)
    from scanners.mysql_processlist import get_mysql_facts
    return get_mysql_facts(target, password, resolve=resolve_address)


def resolve_address(host: str) -> str | None:
    """Return the first address `host` resolves to here, or None."""
    try:
        return socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)[0][4][0]
    except (OSError, UnicodeError):
        return None
