import shlex

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


# --- the rule set (discovery/data/redaction.json) ----------------------------------------------------------

def test_the_shipped_rules_load_and_every_tool_names_its_source():
    import json
    from importlib.resources import files

    from discovery.records.redact import RULES, load_redaction_rules

    assert load_redaction_rules() == RULES
    data = json.loads(files("discovery").joinpath("data/redaction.json").read_text(encoding="utf-8"))
    assert data["any_program"]["source"]
    for tool in data["tools"]:
        assert "://" in tool["source"] and tool["programs"], tool["tool"]
    assert {"curl", "wget", "ldapsearch", "sqlcmd", "bcp", "mysql*", "psql", "mongosh", "redis-cli", "smbclient",
            "rpcclient", "net", "sshpass", "openssl", "htpasswd"} <= {p for t in data["tools"] for p in t["programs"]}


@pytest.mark.parametrize("change, message", [
    (lambda d: d["tools"][0].update(source=""), "needs a source"),
    (lambda d: d["tools"][0]["options"][0].update(forms=["next"]), "forms must be among"),
    (lambda d: d["tools"][0]["options"][0].update(secret="password"), "secret must be one of"),
    (lambda d: d["tools"][0]["options"][0].update(typo=1), "unknown option keys"),
    (lambda d: d["tools"][0]["options"][1].update(forms=["attached"]), "only a short option"),
    (lambda d: d["tools"][0].update(programs=["Curl"]), "lower-case"),
    (lambda d: d["tools"][0]["options"].append({"names": ["-u"], "forms": ["separate"]}), "named twice"),
    (lambda d: d["tools"][-1]["operand"].update(position=0), "operand position"),
    (lambda d: d["secret_words"].append("pass("), "cannot read the redaction rules"),
    (lambda d: d.pop("tools"), "tools"),
], ids=["source", "form", "secret", "unknown-key", "attached-long", "case", "twice", "position", "regex", "missing"])
def test_a_malformed_rule_is_a_clear_error(change, message):
    import json
    from importlib.resources import files

    from discovery.records.redact import RedactionRulesError, load_redaction_rules

    data = json.loads(files("discovery").joinpath("data/redaction.json").read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(RedactionRulesError, match=message):
        load_redaction_rules(json.dumps(data))


# --- one case per documented password option: the secret goes, the rest of the command line stays ---------

DOCUMENTED = [
    # curl(1)
    ("curl-u", "curl -u admin:S3cr3t! https://emr.example/api", "curl -u admin:REDACTED https://emr.example/api"),
    ("curl-u-attached", "curl -uadmin:S3cr3t! https://emr", "curl -uadmin:REDACTED https://emr"),
    ("curl-user", "/usr/bin/curl --user admin:S3cr3t! https://emr", "/usr/bin/curl --user admin:REDACTED https://emr"),
    ("curl-proxy-user", "curl -U px:S3cr3t! --proxy-user px:S3cr3t! x", "curl -U px:REDACTED --proxy-user px:REDACTED x"),
    ("curl-cert", "curl -E client.pem:S3cr3t! --cert c.pem:S3cr3t! x", "curl -E client.pem:REDACTED --cert c.pem:REDACTED x"),
    ("curl-pass", "curl --key k.pem --pass S3cr3t! x", "curl --key k.pem --pass REDACTED x"),
    ("curl-oauth2-bearer", "curl --oauth2-bearer S3cr3t! x", "curl --oauth2-bearer REDACTED x"),
    ("curl-tlspassword", "curl --tlsuser u --tlspassword S3cr3t! x", "curl --tlsuser u --tlspassword REDACTED x"),
    ("curl-cookie", "curl -b session=S3cr3t! --cookie 'a=S3cr3t!; b=2' x", "curl -b REDACTED --cookie 'REDACTED' x"),
    ("curl-header-cookie", "curl -H 'Cookie: session=S3cr3t!' x", "curl -H 'Cookie: REDACTED' x"),
    ("curl-header-bearer", "curl.exe --header 'Authorization: Bearer S3cr3t!' x",
     "curl.exe --header 'Authorization: Bearer REDACTED' x"),
    ("curl-proxy-header", "curl --proxy-header 'Proxy-Authorization: Basic S3cr3t!' x",
     "curl --proxy-header 'Proxy-Authorization: Basic REDACTED' x"),
    ("curl-header-api-key", "curl -H 'X-Api-Key: S3cr3t!' -H 'Accept: text/plain' x",
     "curl -H 'X-Api-Key: REDACTED' -H 'Accept: text/plain' x"),
    # wget(1)
    ("wget-password", "wget --user=svc --password=S3cr3t! https://h/f", "wget --user=svc --password=REDACTED https://h/f"),
    ("wget-http-password", "wget --http-user svc --http-password S3cr3t! x", "wget --http-user svc --http-password REDACTED x"),
    ("wget-ftp-password", "wget --ftp-password=S3cr3t! ftp://h/f", "wget --ftp-password=REDACTED ftp://h/f"),
    ("wget-proxy-password", "wget --proxy-user=p --proxy-password=S3cr3t! x", "wget --proxy-user=p --proxy-password=REDACTED x"),
    ("wget-header", "wget '--header=Authorization: token S3cr3t!' x", "wget '--header=Authorization: token REDACTED' x"),
    # OpenLDAP clients
    ("ldapsearch-w", "ldapsearch -x -D cn=admin,dc=x -w S3cr3t! -b dc=x", "ldapsearch -x -D cn=admin,dc=x -w REDACTED -b dc=x"),
    ("ldapmodify-w-attached", "ldapmodify -x -D cn=admin -wS3cr3t! -f a.ldif", "ldapmodify -x -D cn=admin -wREDACTED -f a.ldif"),
    ("ldapadd-w", "ldapadd -w S3cr3t! -f a.ldif", "ldapadd -w REDACTED -f a.ldif"),
    ("ldapdelete-w", "ldapdelete -w S3cr3t! cn=x", "ldapdelete -w REDACTED cn=x"),
    ("ldapwhoami-w", "ldapwhoami -x -w S3cr3t!", "ldapwhoami -x -w REDACTED"),
    ("ldappasswd-a-s", "ldappasswd -x -w S3cr3t! -a Old-S3cr3t! -s New-S3cr3t! uid=u",
     "ldappasswd -x -w REDACTED -a REDACTED -s REDACTED uid=u"),
    # sqlcmd, bcp
    ("sqlcmd-P", "sqlcmd -S db01 -U sa -P S3cr3t! -Q 'select 1'", "sqlcmd -S db01 -U sa -P REDACTED -Q 'select 1'"),
    ("sqlcmd-P-attached", "SQLCMD.EXE -S db01 -U sa -PS3cr3t!", "SQLCMD.EXE -S db01 -U sa -PREDACTED"),
    ("sqlcmd-z-Z", "sqlcmd -U sa -P S3cr3t! -z New-S3cr3t! -Z New-S3cr3t!", "sqlcmd -U sa -P REDACTED -z REDACTED -Z REDACTED"),
    ("bcp-P", "bcp emr.dbo.t out t.dat -S db01 -U sa -P S3cr3t! -c", "bcp emr.dbo.t out t.dat -S db01 -U sa -P REDACTED -c"),
    # MySQL, MariaDB
    ("mysql-p", "mysql -h db01 -u root -pS3cr3t! clinic", "mysql -h db01 -u root -pREDACTED clinic"),
    ("mysql-password", "mysql --user=root --password=S3cr3t! clinic", "mysql --user=root --password=REDACTED clinic"),
    ("mysql-password1", "mysql -u root --password1=S3cr3t! --password2=Two-S3cr3t!",
     "mysql -u root --password1=REDACTED --password2=REDACTED"),
    ("mysqldump-p", "mysqldump -u root -pS3cr3t! --all-databases", "mysqldump -u root -pREDACTED --all-databases"),
    ("mariadb-dump-p", "mariadb-dump -uroot -pS3cr3t! emr", "mariadb-dump -uroot -pREDACTED emr"),
    ("mysqladmin-password", "mysqladmin -u root -pS3cr3t! password New-S3cr3t!",
     "mysqladmin -u root -pREDACTED password REDACTED"),
    # PostgreSQL: conninfo and URLs
    ("psql-conninfo", "psql 'host=db01 user=report password=S3cr3t! dbname=emr'",
     "psql 'host=db01 user=report password=REDACTED dbname=emr'"),
    ("psql-conninfo-quoted", shlex.join(["psql", "host=db01 password='S3 cr\\'3t!' dbname=emr"]),  # as scan host
     shlex.join(["psql", "host=db01 password='REDACTED' dbname=emr"])),                               # stores it
    ("pg_dump-url", "pg_dump -d postgresql://report:S3cr3t!@db01:5432/emr -Fc",
     "pg_dump -d postgresql://report:REDACTED@db01:5432/emr -Fc"),
    ("pgpassword-env", "env PGPASSWORD=S3cr3t! pg_basebackup -h db01 -D /b", "env PGPASSWORD=REDACTED pg_basebackup -h db01 -D /b"),
    # MongoDB
    ("mongosh-p", "mongosh --host db01 -u admin -p S3cr3t! --authenticationDatabase admin",
     "mongosh --host db01 -u admin -p REDACTED --authenticationDatabase admin"),
    ("mongodump-password", "mongodump --username=admin --password=S3cr3t! --out /b",
     "mongodump --username=admin --password=REDACTED --out /b"),
    ("mongorestore-p-equals", "mongorestore -u admin -p=S3cr3t! /b", "mongorestore -u admin -p=REDACTED /b"),
    ("mongo-uri", "mongo mongodb://admin:S3cr3t!@db01/emr", "mongo mongodb://admin:REDACTED@db01/emr"),
    # redis-cli
    ("redis-cli-a", "redis-cli -h 10.0.0.5 -a S3cr3t! ping", "redis-cli -h 10.0.0.5 -a REDACTED ping"),
    ("redis-cli-pass", "redis-cli --user app --pass S3cr3t! info", "redis-cli --user app --pass REDACTED info"),
    ("redis-cli-uri", "redis-cli -u redis://:S3cr3t!@10.0.0.5:6379/0 ping", "redis-cli -u redis://:REDACTED@10.0.0.5:6379/0 ping"),
    # Samba
    ("smbclient-U", "smbclient //fs01/scans -U 'CLINIC\\admin%S3cr3t!' -c ls",
     "smbclient //fs01/scans -U 'CLINIC\\admin%REDACTED' -c ls"),
    ("smbclient-user-equals", "smbclient //fs01/scans --user=admin%S3cr3t!", "smbclient //fs01/scans --user=admin%REDACTED"),
    ("smbclient-password", "smbclient -L fs01 -U admin --password=S3cr3t!", "smbclient -L fs01 -U admin --password=REDACTED"),
    ("smbclient-operand", "smbclient //fs01/scans S3cr3t! -U admin -W CLINIC", "smbclient //fs01/scans REDACTED -U admin -W CLINIC"),
    ("rpcclient-U", "rpcclient -U admin%S3cr3t! -c srvinfo 10.0.0.7", "rpcclient -U admin%REDACTED -c srvinfo 10.0.0.7"),
    ("net-U", "net rpc share list -U admin%S3cr3t! -S fs01", "net rpc share list -U admin%REDACTED -S fs01"),
    # sshpass
    ("sshpass-p", "sshpass -p S3cr3t! ssh -p 2222 backup@10.0.0.9", "sshpass -p REDACTED ssh -p 2222 backup@10.0.0.9"),
    ("sshpass-p-attached", "sshpass -pS3cr3t! rsync -a /d backup@h:/d", "sshpass -pREDACTED rsync -a /d backup@h:/d"),
    # openssl
    ("openssl-passin", "openssl rsa -in k.pem -passin pass:S3cr3t! -out k2.pem",
     "openssl rsa -in k.pem -passin pass:REDACTED -out k2.pem"),
    ("openssl-passout", "openssl genpkey -algorithm ed25519 -passout pass:S3cr3t!", "openssl genpkey -algorithm ed25519 -passout pass:REDACTED"),
    ("openssl-pass", "openssl enc -aes256 -pass pass:S3cr3t! -in f", "openssl enc -aes256 -pass pass:REDACTED -in f"),
    ("openssl-passin-equals", "openssl pkey -in k.pem -passin=pass:S3cr3t!", "openssl pkey -in k.pem -passin=pass:REDACTED"),
    ("openssl-double-dash", "openssl pkey -in k.pem --passin pass:S3cr3t!", "openssl pkey -in k.pem --passin pass:REDACTED"),
    ("openssl-pkcs12-password", "openssl pkcs12 -export -password pass:S3cr3t! -in c.pem",
     "openssl pkcs12 -export -password pass:REDACTED -in c.pem"),
    ("openssl-enc-k", "openssl enc -aes256 -k S3cr3t! -in f", "openssl enc -aes256 -k REDACTED -in f"),
    # htpasswd, htdbm
    ("htpasswd-b", "htpasswd -b /etc/nginx/htpasswd admin S3cr3t!", "htpasswd -b /etc/nginx/htpasswd admin REDACTED"),
    ("htpasswd-bcB", "htpasswd -bcB -C 12 /etc/htpasswd admin S3cr3t!", "htpasswd -bcB -C 12 /etc/htpasswd admin REDACTED"),
    ("htpasswd-nb", "htpasswd -nb admin S3cr3t!", "htpasswd -nb admin REDACTED"),
    ("htdbm-b", "htdbm -b users.db admin S3cr3t!", "htdbm -b users.db admin REDACTED"),
    # java and other -D properties
    ("java-D-password", "java -Dspring.datasource.password=S3cr3t! -Xmx1g -jar emr.jar",
     "java -Dspring.datasource.password=REDACTED -Xmx1g -jar emr.jar"),
    ("java-D-secret-token", "java -Doauth.client.secret=S3cr3t! -Dapi.token=S3cr3t! -Dfile.encoding=UTF-8 -jar a.jar",
     "java -Doauth.client.secret=REDACTED -Dapi.token=REDACTED -Dfile.encoding=UTF-8 -jar a.jar"),
    # generic options of any program
    ("generic-token", "agent --token S3cr3t! --url https://x", "agent --token REDACTED --url https://x"),
    ("generic-secret", "agent --secret=S3cr3t!", "agent --secret=REDACTED"),
    ("generic-client-secret", "azcopy --client-secret S3cr3t! --tenant t", "azcopy --client-secret REDACTED --tenant t"),
    ("generic-api-key", "exporter --api-key=S3cr3t! --port 9100", "exporter --api-key=REDACTED --port 9100"),
    ("generic-password", "backup --password -S3cr3t! --host h", "backup --password REDACTED --host h"),
    ("generic-passwd", "vpnc --passwd S3cr3t!", "vpnc --passwd REDACTED"),
    ("generic-auth-token", "cli --auth-token=S3cr3t! sync", "cli --auth-token=REDACTED sync"),
    # userinfo in any URL scheme
    ("url-https", "git clone https://deploy:S3cr3t!@git.example/emr.git", "git clone https://deploy:REDACTED@git.example/emr.git"),
    ("url-ftp-at-in-password", "lftp ftp://scan:S3@cr3t!@ftp01/in", "lftp ftp://scan:REDACTED@ftp01/in"),
    ("url-amqp", "worker --broker amqp://app:S3cr3t!@mq01:5672//", "worker --broker amqp://app:REDACTED@mq01:5672//"),
    ("url-github-token", "git fetch https://ghp_S3cr3tS3cr3tS3cr3t@github.com/o/r", "git fetch https://REDACTED@github.com/o/r"),
    ("url-x-access-token", "git push https://x-access-token:S3cr3t!@github.com/o/r",
     "git push https://x-access-token:REDACTED@github.com/o/r"),
    ("url-long-token", "git pull https://0123456789abcdefS3cr3tS3cr3tS3cr3t@dev.azure.com/o",
     "git pull https://REDACTED@dev.azure.com/o"),
    # key=value environment-style secrets
    ("env-mysql-pwd", "env MYSQL_PWD=S3cr3t! mysqldump emr", "env MYSQL_PWD=REDACTED mysqldump emr"),
    ("env-sshpass", "env SSHPASS=S3cr3t! sshpass -e ssh h", "env SSHPASS=REDACTED sshpass -e ssh h"),
    ("env-rediscli-auth", "env REDISCLI_AUTH=S3cr3t! redis-cli ping", "env REDISCLI_AUTH=REDACTED redis-cli ping"),
    # through a wrapper or an interpreter's shell
    ("sudo-curl", "sudo -u svc /usr/local/bin/curl -uadmin:S3cr3t! x", "sudo -u svc /usr/local/bin/curl -uadmin:REDACTED x"),
    ("timeout-redis-cli", "timeout 30 redis-cli -a S3cr3t! ping", "timeout 30 redis-cli -a REDACTED ping"),
    ("sh-c-ldapsearch", "sh -c 'ldapsearch -x -w S3cr3t! -b dc=x'", "sh -c 'ldapsearch -x -w REDACTED -b dc=x'"),
]


@pytest.mark.parametrize("cmdline, expected", [case[1:] for case in DOCUMENTED], ids=[case[0] for case in DOCUMENTED])
def test_redact_command_line_masks_each_documented_password_option(cmdline, expected):
    redacted = redact_command_line(cmdline)
    assert "S3cr3t" not in redacted
    assert redacted == expected  # program, user names and every other argument kept
    assert redact_command_line(redacted) == redacted


@pytest.mark.parametrize("cmdline, expected", [case[1:] for case in DOCUMENTED if "'" not in case[1] and '"' not in case[1]],
                         ids=[case[0] for case in DOCUMENTED if "'" not in case[1] and '"' not in case[1]])
def test_redact_text_masks_each_documented_password_option_in_a_ps_listing(cmdline, expected):
    """The same forms as `ps -eo pid,user,args` prints them on a remote host: unquoted, one line among others."""
    listing = f"  PID USER     COMMAND\n 4711 svc      {cmdline}\n 4712 root     /usr/sbin/sshd -D\n"
    assert redact_text(listing) == f"  PID USER     COMMAND\n 4711 svc      {expected}\n 4712 root     /usr/sbin/sshd -D\n"


@pytest.mark.parametrize("cmdline", [
    "curl -u admin https://emr.example/a:b@c/S3cr3t",      # -u without a password prompts; the URL path is no userinfo
    "curl -b cookies.txt -c jar.txt https://x",           # -b names a file: kept
    "curl -H 'Accept: application/json' https://x",       # a header that carries no credential
    "openssl rsa -in k.pem -passin env:KEY_PASS -passout file:/run/pw",  # a source, not the secret
    "openssl pkcs12 -in c.p12 -passin fd:3 -password stdin",
    "ldapsearch -x -D cn=admin -y /etc/ldap.secret -b dc=x",  # -y names a file
    "ldapsearch -x -s sub -a always -b dc=x",             # -s and -a are ldapsearch's scope and alias options
    "grep -P 'ab+c' -Z /var/log/syslog",                  # not sqlcmd's -P
    "ssh -p 2222 -a admin@10.0.0.1",                      # a port, and no redis-cli
    "mysql -p -h db01 emr",                               # -p alone prompts
    "mysql --password emr",                               # --password without = prompts; emr is the database
    "mongosh -u admin -p --authenticationDatabase admin", # -p without a value prompts
    "smbclient -L fs01 -U admin -N",                      # a user name without %password
    "smbclient -P -k //fs01/scans -c ls",                 # -P is --machine-pass, a flag
    "htpasswd -c /etc/htpasswd admin",                    # without -b htpasswd prompts
    "sshpass -f /root/pw ssh -p 2222 backup@h",
    "psql -h db01 -p 5432 -U report -W emr",
    "git clone https://deploy@git.example/emr.git",       # a user name in a URL, no password
    "java -Dfile.encoding=UTF-8 -Dspring.profiles.active=prod -jar a.jar",
    "docker login --password-stdin -u ci registry.example",  # a flag that takes no value
    "psql --no-password -h db01 emr",
    "wget --ask-password https://h/f",
])
def test_redact_command_line_keeps_what_is_no_secret(cmdline):
    assert redact_command_line(cmdline) == cmdline
    assert redact_text(cmdline) == cmdline


def test_a_program_is_recognised_by_its_base_name_in_any_case():
    from discovery.records.redact import redact_args

    for program in ("curl", "/usr/bin/curl", "curl.exe", r"C:\Program Files\curl\CURL.EXE", "/opt/curl-8/bin/curl"):
        assert redact_args([program, "-u", "admin:S3cr3t!", "x"]) == [program, "-u", "admin:REDACTED", "x"]
    assert redact_args(["curly", "-u", "admin:S3cr3t!"]) == ["curly", "-u", "admin:S3cr3t!"]
