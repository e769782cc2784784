"""MySQL and MariaDB servers asked directly through PyMySQL: version, databases with sizes, and the clients in
`information_schema.PROCESSLIST`.

`get_mysql_facts` talks to the server (it raises EstateError, one line, on any failure); `transform_processlist`
is pure and turns PROCESSLIST rows into the (address, port, program) client tuples scanners.db_clients makes
reported connections of, as it does with PostgreSQL's pg_stat_activity. A login without the PROCESS privilege
sees only its own sessions: that is said in one warning.
"""

from __future__ import annotations

import getpass
import ipaddress
from collections.abc import Callable, Iterable

from discovery.records.model import EstateError

CONNECT_TIMEOUT = 10  # seconds to connect and log in
READ_TIMEOUT = 60  # seconds any one answer may take: a hung server ends the scan of that server, not the scan
# Schemas the server makes up (views of its own state): not databases anyone migrates.
VIRTUAL_SCHEMAS = frozenset({"information_schema", "performance_schema", "sys"})
PROCESSLIST = ("SELECT ID, USER, HOST, DB, COMMAND FROM information_schema.PROCESSLIST "
               "WHERE ID <> CONNECTION_ID() ORDER BY ID")
PROGRAM_NAMES = ("SELECT PROCESSLIST_ID, ATTR_VALUE FROM performance_schema.session_connect_attrs "
                 "WHERE ATTR_NAME = 'program_name'")
SIZES = ("SELECT TABLE_SCHEMA, SUM(COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0)) "
         "FROM information_schema.TABLES GROUP BY TABLE_SCHEMA")

PRODUCTS = {"mariadb": "MariaDB", "mysql": "MySQL"}

Resolver = Callable[[str], "str | None"]


def split_client_host(host: str | None) -> tuple[str, int] | None:
    """Return (host, port) from a PROCESSLIST HOST value, or None when it names no TCP client.

    "10.0.0.5:51234", "app.example.org:51234", "[::1]:5000" and "::1:5000" (how MySQL and MariaDB print an
    IPv6 client) have a port; "localhost" alone (a Unix socket) and "" (a server thread) do not."""
    if not host:
        return None
    text = host.strip()
    if text.startswith("["):  # [::1]:5000
        address, _, port = text[1:].partition("]:")
    else:
        address, sep, port = text.rpartition(":")
        if not sep:
            return None
    if not address or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return address, int(port)


def client_address(name: str, resolve: Resolver | None) -> str | None:
    """Return the IP address of a client the server named: itself when it is one, else what `resolve` says."""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return resolve(name) if resolve is not None else None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.0.0.5 is the IPv4 client 10.0.0.5
    return str(mapped or address)


def transform_processlist(rows: Iterable[tuple], *, programs: dict[int, str] | None = None,
                          resolve: Resolver | None = None) -> tuple[list[tuple[str, int, str | None]], list[str]]:
    """Return the TCP clients in PROCESSLIST rows (id, user, host, db, command) as (address, port, program) and
    the host names that did not resolve (those clients are left out).

    Server threads (no host), Unix-socket sessions ("localhost") and connections still in the handshake
    ("unauthenticated user") are no clients. A server that resolves its clients' addresses prints names
    ("app01:51234"): `resolve` turns them back into addresses. `programs` maps a thread id to the
    program_name its client announced (performance_schema.session_connect_attrs), where the server told."""
    clients, unresolved = [], []
    for thread_id, user, host, _db, _command in rows:
        if user == "unauthenticated user":
            continue
        split = split_client_host(host)
        if split is None:
            continue
        name, port = split
        address = client_address(name, resolve)
        if address is None:
            unresolved.append(name)
            continue
        clients.append((address, port, (programs or {}).get(thread_id) or None))
    return clients, list(dict.fromkeys(unresolved))


def cached(resolve: Resolver) -> Resolver:
    """Return `resolve` asking once per name (a server lists many sessions from one client)."""
    answers: dict[str, str | None] = {}

    def lookup(name: str) -> str | None:
        if name not in answers:
            answers[name] = resolve(name)
        return answers[name]
    return lookup


def sees_others(rows: Iterable[tuple], login_user: str) -> bool:
    """Return True when PROCESSLIST rows (id, user, …) hold a session of another user (or a server thread): the
    list is not limited to this login's own sessions, whatever the grants say (PROCESS through a role)."""
    return any(user != login_user for _, user, *_ in rows)


def engine_of(version: str) -> str:
    """Return "mariadb" for a MariaDB server's VERSION() ("10.11.6-MariaDB-0+deb12u1"), else "mysql"."""
    return "mariadb" if "mariadb" in version.lower() else "mysql"


def server_process(version: str) -> str:
    """Return the server program's usual name: mariadbd from MariaDB 10.5 on, mysqld before and for MySQL."""
    if engine_of(version) == "mariadb":
        parts = version.split("-")[0].split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit() and (int(parts[0]), int(parts[1])) >= (10, 5):
            return "mariadbd"
    return "mysqld"


def error_reason(error: Exception) -> str:
    """Return a PyMySQL error as one line: the server's own message, or why the socket failed."""
    original = getattr(error, "original_exception", None)
    if isinstance(original, OSError):
        reason = original.strerror or str(original)
    elif len(getattr(error, "args", ())) >= 2:
        reason = str(error.args[1])
    else:
        reason = str(error)
    lines = reason.strip().splitlines()
    return lines[-1] if lines else type(error).__name__


def get_mysql_facts(target, password: str | None, *, resolve: Resolver) -> dict:
    """Connect to a MySQL or MariaDB server and read its version, databases with sizes and current clients.

    `target` is a scanners.db_clients.DatabaseTarget; `resolve` names an address for a host name (the server's
    own, and clients the server named). Raises EstateError (one line) when the host does not
    resolve, the connection is refused or times out, the login is refused, or a query fails."""
    import pymysql

    address = resolve(target.host)
    if address is None:
        raise EstateError(f"{target.display}: cannot connect: unknown host {target.host!r}")
    try:
        conn = pymysql.connect(host=address, port=target.port, user=target.user or getpass.getuser(),
                               password=password.encode() if password else b"", database=target.dbname or None,
                               connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                               write_timeout=READ_TIMEOUT, charset="utf8mb4", program_name="estatemap")
    except pymysql.Error as error:
        raise EstateError(f"{target.display}: cannot connect: {error_reason(error)}") from None
    except (OSError, ValueError) as error:
        raise EstateError(f"{target.display}: cannot connect: {error}") from None
    facts: dict = {"warnings": [], "server_address": address, "server_port": target.port}
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION(), CURRENT_USER(), USER()")
            version, current_user, login = cur.fetchone()
            facts["version"], facts["engine"] = version, engine_of(version)
            facts["process"], facts["product"] = server_process(version), PRODUCTS[facts["engine"]]
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
            names = [name for (name,) in cur.fetchall() if name.lower() not in VIRTUAL_SCHEMAS]
            cur.execute(SIZES)
            sizes = {name: int(size) for name, size in cur.fetchall() if size is not None}
            facts["sizes"] = [(name, sizes.get(name)) for name in names]
            cur.execute(PROCESSLIST)
            rows = cur.fetchall()
            programs = {}
            try:
                cur.execute(PROGRAM_NAMES)
                programs = {int(thread_id): value for thread_id, value in cur.fetchall()}
            except pymysql.Error:
                pass  # no performance_schema, or no right to it: clients without their program names
            user, _, host = current_user.rpartition("@")
            cur.execute("SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES "
                        "WHERE GRANTEE = %s AND PRIVILEGE_TYPE = 'PROCESS'", (f"'{user}'@'{host}'",))
            granted = cur.fetchone()[0]
            if not granted and not sees_others(rows, login.rpartition("@")[0]):
                facts["warnings"].append(
                    f"{target.display}: this user sees only its own sessions in the process list (grant it the "
                    "PROCESS privilege to see every client)")
    except pymysql.Error as error:
        raise EstateError(f"{target.display}: {error_reason(error)}") from None
    clients, unresolved = transform_processlist(rows, programs=programs, resolve=cached(resolve))
    facts["clients"] = clients
    if unresolved:
        shown = ", ".join(unresolved[:5]) + (f" and {len(unresolved) - 5} more" if len(unresolved) > 5 else "")
        facts["warnings"].append(f"{target.display}: clients left out: the server named them by host names "
                                 f"that do not resolve here ({shown})")
    return facts
