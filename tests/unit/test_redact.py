import pytest

from discovery.records.redact import MASK, redact_command_line, redact_text


@pytest.mark.parametrize("cmdline, secret", [
    ("/usr/bin/app --password hunter2 --port 80", "hunter2"),
    ("/usr/bin/app --password=hunter2", "hunter2"),
    ("/usr/bin/app --db-password=hunter2", "hunter2"),
    ("java -Dspring.datasource.password=hunter2 -jar app.jar", "hunter2"),
    ("worker --api-key abcdef123456", "abcdef123456"),
    ("worker --token=ghp_abcdef123456", "ghp_abcdef123456"),
    ("worker --client-secret s3cr3t!", "s3cr3t!"),
    ("sync token=abc123def", "abc123def"),
    ("mysql -u root -phunter2 clinic", "hunter2"),
    ("mysqldump -psecretpw --all-databases", "secretpw"),
    ("redis-cli -h 10.0.0.5 -a hunter2 ping", "hunter2"),
    ("sshpass -p hunter2 ssh backup@10.0.0.9", "hunter2"),
    ("psql postgresql://report:hunter2@db01:5432/emr", "hunter2"),
    ("app 'Server=db01;Database=emr;User Id=sa;Password=hunter2;'", "hunter2"),
    ("app 'Driver={ODBC};PWD=hunter2;UID=sa'", "hunter2"),
    ("curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload' https://api", "eyJhbGciOiJIUzI1NiJ9.payload"),
    ("redis-server *:6379 --requirepass hunter2", "hunter2"),
    ("app --secret=a --secret b", "b"),
])
def test_redact_command_line_masks_secret(cmdline, secret):
    redacted = redact_command_line(cmdline)
    assert secret not in redacted
    assert MASK in redacted


@pytest.mark.parametrize("cmdline", [
    "psql -h db01 -p 5432 -U report emr",
    "ssh -p 2222 admin@10.0.0.1",
    "/usr/sbin/nginx -g 'daemon on; master_process on;'",
    "postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf",
])
def test_redact_command_line_keeps_harmless_arguments(cmdline):
    assert redact_command_line(cmdline).split() == redact_command_line(redact_command_line(cmdline)).split()
    assert MASK not in redact_command_line(cmdline)


def test_redact_command_line_none_and_unbalanced_quotes():
    assert redact_command_line(None) is None
    assert "hunter2" not in redact_command_line("app 'unclosed password=hunter2")


def test_redact_text_in_tool_output():
    text = "connected as admin\nPGPASSWORD=hunter2 psql\nurl: https://u:p4ss@example.invalid/x"
    out = redact_text(text)
    assert "hunter2" not in out and "p4ss" not in out
    assert "connected as admin" in out


def test_redact_command_line_without_secrets_is_unchanged():
    line = "nmap -v -sV -O -oX - 192.0.2.0/29 (as typed)"
    assert redact_command_line(line) == line


# --- the common forms, in free text (script output, `ps` listings, logs) and in argument lists -------------

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
PEM = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
       "QyNTUxOQAAACBkZXBsb3kta2V5LWJvZHktc2VjcmV0\n-----END OPENSSH PRIVATE KEY-----")


@pytest.mark.parametrize("text, secret", [
    ("  812 root  /usr/bin/app --password hunter2 --port 80", "hunter2"),
    ("  812 root  /usr/bin/app --password=hunter2", "hunter2"),
    ("  813 root  mysql -u root -phunter2 clinic", "hunter2"),
    ("  814 root  mariadb -uroot -phunter2", "hunter2"),
    ("  815 root  redis-cli -h 10.0.0.5 -a hunter2 ping", "hunter2"),
    ("  816 root  sshpass -p hunter2 ssh backup@10.0.0.9", "hunter2"),
    ("env: PGPASSWORD=hunter2 psql -h db01", "hunter2"),
    ("env: MYSQL_PWD=hunter2 mysqldump emr", "hunter2"),
    ("jdbc: postgresql://report:hunter2@db01:5432/emr", "hunter2"),
    ("mongodb+srv://admin:hunter2@cluster0.example.net/test", "hunter2"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9.payload.sig"),
    ("Authorization: Basic YWRtaW46aHVudGVyMg==", "YWRtaW46aHVudGVyMg=="),
    (f"aws_access_key_id = {AWS_KEY_ID}", AWS_KEY_ID),
    (f"found key {AWS_KEY_ID} in env", AWS_KEY_ID),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("GET /report?api_key=k3y123&page=2 HTTP/1.1", "k3y123"),
    ("Location: https://emr.example.org/cb?code=1&token=t0ken42", "t0ken42"),
    ("http-title: Login ?secret=s3cr3t99", "s3cr3t99"),
    ('{"user": "svc", "password": "hunter2"}', "hunter2"),
    ("db_password: 'hunter 2'", "hunter 2"),
    (f"ssh-hostkey: leaked\n{PEM}\nnext line", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAtruncatedbody", "MIIEpAIBAAKCAQEAtruncatedbody"),
])
def test_redact_text_masks_common_forms(text, secret):
    out = redact_text(text)
    assert secret not in out
    assert MASK in out
    assert redact_text(out) == out  # stable: redacting twice changes nothing more


def test_redact_text_masks_redis_cli_password_in_free_text():
    """The known gap: `redis-cli -a X` was masked in argument lists but not in free text (ps output)."""
    ps = "  PID USER     COMMAND\n 4711 redis    redis-cli -h 10.0.0.5 -p 6379 -a Sup3rS3cret monitor\n"
    out = redact_text(ps)
    assert "Sup3rS3cret" not in out
    assert "redis-cli -h 10.0.0.5 -p 6379 -a REDACTED monitor" in out


def test_redact_text_keeps_the_text_around_a_private_key_block():
    out = redact_text(f"before\n{PEM}\nafter")
    assert out == ("before\n-----BEGIN OPENSSH PRIVATE KEY-----\nREDACTED\n"
                   "-----END OPENSSH PRIVATE KEY-----\nafter")


@pytest.mark.parametrize("text", [
    "mysqld --pid-file=/run/mysqld/mysqld.pid -P 3306",
    "redis-server *:6379",
    "psql -h db01 -p 5432 -U report emr",
    "mysql -p -h db01 emr",                   # -p alone: mysql asks on its terminal
    "ssh -p 2222 admin@10.0.0.1",
    "http-title: Welcome to nginx!",
    "AKIA is a prefix, AKIA123 is too short",
])
def test_redact_text_leaves_harmless_text_alone(text):
    assert redact_text(text) == text


@pytest.mark.parametrize("args, secret", [
    (["mysql", "-uroot", "-phunter2"], "hunter2"),
    (["redis-cli", "-a", "hunter2", "ping"], "hunter2"),
    (["sshpass", "-phunter2", "ssh", "host"], "hunter2"),
    (["env", "PGPASSWORD=hunter2", "psql"], "hunter2"),
    (["env", "MYSQL_PWD=hunter2", "mysql"], "hunter2"),
    (["sh", "-c", "mysql -phunter2 emr"], "hunter2"),
    (["sh", "-c", "redis-cli -a hunter2 info"], "hunter2"),
    (["curl", "-H", "Authorization: Basic YWRtaW46aHVudGVyMg==", "https://x"], "YWRtaW46aHVudGVyMg=="),
    (["aws", "configure", "set", "aws_access_key_id", AWS_KEY_ID], AWS_KEY_ID),
])
def test_redact_args_masks_common_forms(args, secret):
    from discovery.records.redact import redact_args
    assert secret not in " ".join(redact_args(args))


def test_redact_report_masks_script_output_processes_and_raw_evidence():
    from datetime import datetime, timezone

    from discovery.records.model import Host, HostReport, Process, ScriptResult, Service
    from discovery.records.redact import redact_report

    now = datetime.now(timezone.utc)
    report = HostReport(
        host=Host(source="nmap", observed_at=now, scripts=(ScriptResult(id="x", output="token=hosttok1"),)),
        processes=(Process(pid=1, name="app", cmdline="app --password procpw1", source="ssh", observed_at=now),),
        services=(Service(protocol="tcp", port=80, source="nmap", observed_at=now, fingerprint="SF:api_key=fpkey1",
                          scripts=(ScriptResult(id="http-title", output="Login https://u:urlpw1@h/",
                                                data={"title": "secret=datasec1", "rows": ["Bearer abcdefgh12345"]}),)),),
        raw={"ps": "1 root redis-cli -a rawpw1"},
    )
    text = repr(redact_report(report))
    for secret in ("hosttok1", "procpw1", "fpkey1", "urlpw1", "datasec1", "abcdefgh12345", "rawpw1"):
        assert secret not in text
    assert text.count(MASK) == 7


def test_an_imported_nmap_file_is_redacted_before_it_is_stored(tmp_path):
    """Script output in someone else's nmap XML goes through the same redaction as a live scan's."""
    from pathlib import Path

    from tests.unit.test_cli import run

    source = Path(__file__).resolve().parents[1] / "data" / "nmap" / "segment-handmade.xml"
    xml = source.read_text().replace('output="&#xa;  dialects: ',
                                     'output="&#xa;  login: https://admin:Sup3rSecret@10.0.0.9/ password=hunter2 dialects: ', 1)
    assert "Sup3rSecret" in xml
    planted = tmp_path / "scan.xml"
    planted.write_text(xml)
    db = tmp_path / "estate.db"
    code, _, err = run("--db", str(db), "import", str(planted))
    assert code == 0, err
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("estate.db*"))
    assert b"Sup3rSecret" not in stored and b"hunter2" not in stored
    assert b"dialects" in stored  # the rest of the script output is kept


@pytest.mark.parametrize("challenge", ['WWW-Authenticate: Basic realm="Estate admin"', "HTTP/1.1 401\n  Basic realm=Estate admin",
                                       'Proxy-Authenticate: Digest realm="x", nonce=abcdef0123456789'])
def test_an_authentication_challenge_is_evidence_not_a_secret(challenge):
    """A server asking for Basic authentication is what the cleartext-auth finding quotes; it holds no secret."""
    assert redact_text(challenge) == challenge
