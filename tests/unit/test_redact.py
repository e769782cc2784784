import pytest

from discovery.redact import MASK, redact_command_line, redact_text


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
