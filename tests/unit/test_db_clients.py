import pytest

from discovery.records.model import EstateError
from discovery.service import run_scan
from scanners.db_clients import DatabaseClientScanner, parse_database_url, transform_activity
from scanners.mysql_processlist import (engine_of, sees_others, server_process, split_client_host,
                                       transform_processlist)
from tests.builders import T0


def test_parse_database_url():
    t = parse_database_url("postgresql://monitor@DB01.example.org:5433/emr")
    assert (t.engine, t.host, t.port, t.user, t.dbname) == ("postgresql", "db01.example.org", 5433, "monitor", "emr")
    assert parse_database_url("postgres://10.0.0.5", user="ro").display == "postgresql://ro@10.0.0.5:5432/postgres"


@pytest.mark.parametrize("url, message", [
    ("postgresql://sa:hunter2@db01/emr", "password in the URL"),
    ("oracle://db01", "not a database URL"),
    ("mysql://root:hunter2@db01/", "password in the URL"),
    ("mariadb://db01:0x1/", "invalid port"),
    ("db01:5432", "not a database URL"),
    ("postgresql://-oProxyCommand=x/emr", "not a target"),
    ("postgresql://db01:99999/emr", "invalid port"),
])
def test_parse_database_url_refuses(url, message):
    with pytest.raises(EstateError, match=message):
        parse_database_url(url)


def test_transform_activity_reports_inbound_clients_with_their_application_name():
    rows = [("10.0.0.40", 51000, "emr_app"), (None, None, "hidden"), ("10.0.0.41", -1, "unix"), ("10.0.0.42", 51001, "")]
    conns = transform_activity(rows, server_address="10.0.0.10", server_port=5432, observed_at=T0)
    assert [(c.remote_address, c.remote_port, c.remote_process, c.direction, c.evidence) for c in conns] == [
        ("10.0.0.40", 51000, "emr_app", "inbound", "reported"), ("10.0.0.42", 51001, None, "inbound", "reported")]


def test_password_is_never_stored_even_when_the_server_is_unreachable(store):
    scanner = DatabaseClientScanner(["postgresql://report@127.0.0.1:1/emr"], password="hunter2-secret")
    assert "hunter2" not in scanner.arguments
    result = run_scan(store, scanner)
    assert result.status == "completed" and result.host_ids == []
    assert "cannot connect" in result.warnings[0] and "hunter2" not in result.warnings[0]
    raw = b"".join(p.read_bytes() for p in store.path.parent.glob("estate.db*"))
    assert b"hunter2" not in raw


def test_parse_database_url_mysql_and_mariadb():
    t = parse_database_url("mysql://monitor@DB02.example.org/")
    assert (t.engine, t.host, t.port, t.user, t.dbname) == ("mysql", "db02.example.org", 3306, "monitor", None)
    assert t.display == "mysql://monitor@db02.example.org:3306/" and t.account == "mysql:monitor@db02.example.org:3306"
    m = parse_database_url("mariadb://10.0.0.6:3307/emr", user="ro")
    assert (m.engine, m.port, m.dbname, m.display) == ("mysql", 3307, "emr", "mariadb://ro@10.0.0.6:3307/emr")
    assert m.account == "mysql:ro@10.0.0.6:3307"  # one server, one remembered password, whichever scheme named it


@pytest.mark.parametrize("host, expected", [
    ("10.0.0.5:51234", ("10.0.0.5", 51234)),
    ("app01.example.org:40000", ("app01.example.org", 40000)),
    ("[::1]:5000", ("::1", 5000)),
    ("::1:5000", ("::1", 5000)),  # how MySQL and MariaDB print an IPv6 client
    ("localhost", None),  # a Unix-socket session
    ("", None), (None, None),  # server threads
    ("10.0.0.5:", None), ("10.0.0.5:99999", None),
])
def test_split_client_host(host, expected):
    assert split_client_host(host) == expected


def test_transform_processlist_keeps_tcp_clients_and_resolves_the_names_the_server_printed():
    rows = [
        (1, "system user", "", None, "Daemon"),  # a server thread
        (2, "event_scheduler", "localhost", None, "Daemon"),
        (5, "emr", "10.0.0.5:51234", "emr", "Sleep"),
        (6, "emr", "app01:40000", "emr", "Query"),  # a server that resolves its clients' names
        (7, "backup", "localhost", None, "Sleep"),  # Unix socket
        (8, "unauthenticated user", "10.0.0.9:41000", None, "Connect"),  # still in the handshake
        (9, "ro", "[::1]:5000", None, "Sleep"),
        (10, "ro", "::ffff:10.0.0.7:5001", None, "Sleep"),  # IPv4-mapped: the IPv4 client
        (11, "repl", "gone.example.org:42000", None, "Binlog Dump"),
        (12, "emr", "app01:40001", "emr", "Sleep"),
    ]
    asked = []

    def resolve(name):
        asked.append(name)
        return {"app01": "10.0.0.6"}.get(name)

    clients, unresolved = transform_processlist(rows, programs={5: "emr_app", 6: ""}, resolve=resolve)
    assert clients == [("10.0.0.5", 51234, "emr_app"), ("10.0.0.6", 40000, None), ("::1", 5000, None),
                       ("10.0.0.7", 5001, None), ("10.0.0.6", 40001, None)]
    assert unresolved == ["gone.example.org"]
    assert transform_processlist(rows[:3])[0] == [("10.0.0.5", 51234, None)]  # no resolver: names are left out


def test_processlist_clients_become_reported_connections_from_mysql():
    clients, _ = transform_processlist([(5, "emr", "10.0.0.5:51234", "emr", "Sleep")], programs={5: "emr_app"})
    (conn,) = transform_activity(clients, server_address="10.0.0.10", server_port=3306, observed_at=T0,
                                 process="mariadbd", source="mysql")
    assert (conn.local_address, conn.local_port, conn.remote_address, conn.remote_port, conn.process) == (
        "10.0.0.10", 3306, "10.0.0.5", 51234, "mariadbd")
    assert (conn.remote_process, conn.direction, conn.evidence, conn.source) == (
        "emr_app", "inbound", "reported", "mysql")


@pytest.mark.parametrize("version, engine, process", [
    ("10.11.6-MariaDB-0+deb12u1", "mariadb", "mariadbd"),
    ("10.3.39-MariaDB-0+deb10u2", "mariadb", "mysqld"),
    ("8.0.36-0ubuntu0.22.04.1", "mysql", "mysqld"),
    ("5.7.44-log", "mysql", "mysqld"),
])
def test_engine_and_server_process_from_version(version, engine, process):
    assert (engine_of(version), server_process(version)) == (engine, process)


@pytest.mark.parametrize("url", ["mysql://report@127.0.0.1:1/", "mariadb://report@localhost:1/"])
def test_mysql_password_is_never_stored_and_a_refused_connection_is_one_line(store, url):
    scanner = DatabaseClientScanner([url], password="hunter2-secret")
    result = run_scan(store, scanner)
    assert result.status == "completed" and result.host_ids == [] and scanner.failed == list(scanner.targets())
    (warning,) = result.warnings
    assert warning.endswith(": cannot connect: Connection refused") and "\n" not in warning
    assert "hunter2" not in warning and "hunter2" not in scanner.arguments
    raw = b"".join(p.read_bytes() for p in store.path.parent.glob("estate.db*"))
    assert b"hunter2" not in raw


def test_mysql_unknown_host_is_one_line(store, monkeypatch):
    import scanners.db_clients
    monkeypatch.setattr(scanners.db_clients, "resolve_address", lambda host: None)  # no DNS query leaves this machine
    result = run_scan(store, DatabaseClientScanner(["mysql://report@no-such-host.invalid/"]))
    assert result.warnings == ["mysql://report@no-such-host.invalid:3306/: cannot connect: unknown host "
                               "'no-such-host.invalid'"]


def test_sees_others_tells_a_list_limited_to_the_login_own_sessions():
    own = [(7, "limited", "10.0.0.5:4000", "emr", "Sleep")]
    assert not sees_others(own, "limited") and not sees_others([], "limited")
    assert sees_others(own + [(1, "system user", "", None, "Daemon")], "limited")
    assert sees_others(own + [(8, "app", "10.0.0.6:4001", "emr", "Sleep")], "limited")
