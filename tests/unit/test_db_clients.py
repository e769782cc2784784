import pytest

from discovery.records.model import EstateError
from discovery.service import run_scan
from scanners.db_clients import DatabaseClientScanner, parse_database_url, transform_activity
from tests.builders import T0


def test_parse_database_url():
    t = parse_database_url("postgresql://monitor@DB01.example.org:5433/emr")
    assert (t.engine, t.host, t.port, t.user, t.dbname) == ("postgresql", "db01.example.org", 5433, "monitor", "emr")
    assert parse_database_url("postgres://10.0.0.5", user="ro").display == "postgresql://ro@10.0.0.5:5432/postgres"


@pytest.mark.parametrize("url, message", [
    ("postgresql://sa:hunter2@db01/emr", "password in the URL"),
    ("mysql://db01", "not a database URL"),
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
