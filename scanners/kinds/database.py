"""`estatemap scan database` and the GUI's Database tab: database servers asked for their clients."""

from __future__ import annotations

from discovery.records.model import EstateError
from discovery.scanning.scan_kinds import (Option, ScannerKind, password_memory_options,
                                           password_options, words)

DOC = """Ask database servers directly: version, databases and their sizes, and the clients connected now.

Each client a server reports becomes a dependency (evidence "reported"), even from hosts
nobody scanned. PostgreSQL: URL is postgresql://[USER@]HOST[:PORT][/DBNAME] (pg_stat_activity);
MySQL and MariaDB: mysql://[USER@]HOST[:PORT]/ or mariadb://... (information_schema.PROCESSLIST). The
password is asked for (or read from standard input with --password-stdin), used, and never
stored; servers that trust the workstation need none. With --remember-password a password that
connected is kept in the OS keyring (never a file) and used next time none is given;
--forget-password removes it and scans nothing. A role that is not superuser sees every
client only with pg_read_all_stats; a MySQL/MariaDB user, only with the PROCESS privilege.

Example: estatemap scan database postgresql://monitor@db01.example.org/postgres mysql://monitor@db02.example.org/
"""

OPTIONS = (
    Option("urls", kind="words", required=True, metavar="URL", label="Servers:",
           help="postgresql://[USER@]HOST[:PORT][/DBNAME], mysql://[USER@]HOST[:PORT]/ or "
                "mariadb://[USER@]HOST[:PORT]/",
           placeholder="one per line: postgresql://monitor@db01.example.org/postgres, mysql://monitor@db02/"),
    Option("user", flag="--user", label="Role / user:",
           help="role (PostgreSQL) or user (MySQL) to log in as (default: the URL's, else your login name)",
           placeholder="the URL's, else your login name"),
    *password_options(secret_help="the role's password",
                      placeholder="empty for none (a server that trusts this workstation); used for this scan, "
                                  "never stored"),
    *password_memory_options(),
)


def build(opts: dict):
    from discovery.scanning.secrets import Keychain
    from scanners.db_clients import URL_FORMS, DatabaseClientScanner

    urls = words(opts["urls"])
    if not urls:
        raise EstateError(f"name at least one server: {URL_FORMS}")
    remember = bool(opts["remember_password"])
    keychain = Keychain(required=remember)
    if remember:
        keychain.check()  # no usable keyring: say so before asking for the password
        if not opts["password"]:
            raise EstateError("remembering a password needs the password: type it (on the command line: "
                              "--ask-password or --password-stdin)")
    return DatabaseClientScanner(urls, user=opts["user"], password=opts["password"] or None, keychain=keychain,
                                 remember_password=remember)


def accounts(opts: dict) -> list[str]:
    from scanners.db_clients import parse_database_url
    return [parse_database_url(url, user=opts["user"]).account for url in words(opts["urls"])]


KIND = ScannerKind(name="database", label="Database", doc=DOC, options=OPTIONS, build=build, accounts=accounts,
                   password_prompt="Database password (empty for none): ", unit="server",
                   noun=("server", "servers"))
