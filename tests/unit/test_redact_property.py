"""Property tests (hypothesis) of redaction: a random secret placed in any documented form never survives
redact_args / redact_command_line / redact_text, and never reaches the store file, its WAL or any export.

FORMS lists every form discovery/data/redaction.json and the tool-independent text rules cover, each as an
argument list built around the secret. Each form is checked as the argument list, as the shell-quoted command
line `scan host` stores (psutil's argv through shlex.join) and as the unquoted line a remote `ps` prints.
CI runs a few examples per form; ESTATEMAP_FUZZ_EXAMPLES=N runs N (e.g. 2000 for the measured figure).
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import os
import shlex
import string
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from discovery.records.model import Process, Scan
from discovery.records.redact import MASK, redact_args, redact_command_line, redact_text

EXAMPLES = int(os.environ.get("ESTATEMAP_FUZZ_EXAMPLES", "25"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 200,
                    suppress_health_check=[HealthCheck.too_slow])
STORE_EXAMPLES = max(10, EXAMPLES // 4)  # each one writes a store and seven exports (about half a second)

# What a password can hold: letters, digits, punctuation and a few non-ASCII letters; no whitespace.
PASSWORD = string.ascii_letters + string.digits + string.punctuation + "äöüßé€"
# Where a syntax narrows it: an HTTP token68 (Authorization), a cookie-octet (RFC 6265), a URL-safe token.
TOKEN68 = string.ascii_letters + string.digits + "-._~+/"
COOKIE_OCTET = "".join(c for c in string.printable[:94] if c not in '",;\\')
URL_TOKEN = string.ascii_letters + string.digits + "_"


def secret(alphabet: str = PASSWORD, *, min_size: int = 8, dash_first: bool = True) -> st.SearchStrategy[str]:
    """Random secrets; `dash_first=False` where a leading "-" would make the word an option to the tool itself."""
    strategy = st.text(alphabet=alphabet, min_size=min_size, max_size=40)
    return strategy if dash_first else strategy.filter(lambda s: not s.startswith("-"))


def conninfo_quoted(value: str) -> str:
    """A libpq conninfo value in single quotes, backslash-escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# (id, build(secret) -> argv, secret strategy, how the secret appears in the argv when not verbatim)
FORMS = [
    ("curl -u", lambda s: ["curl", "-u", f"admin:{s}", "https://emr.example/api"], secret(), None),
    ("curl -uattached", lambda s: ["curl", f"-uadmin:{s}", "https://emr.example/api"], secret(), None),
    ("curl --user", lambda s: ["/usr/bin/curl", "--user", f"admin:{s}", "https://x"], secret(), None),
    ("curl -U", lambda s: ["curl", "-U", f"proxy:{s}", "-x", "http://proxy:3128", "https://x"], secret(), None),
    ("curl --proxy-user", lambda s: ["curl", "--proxy-user", f"proxy:{s}", "https://x"], secret(), None),
    ("curl -E", lambda s: ["curl", "-E", f"client.pem:{s}", "https://x"], secret(), None),
    ("curl --pass", lambda s: ["curl", "--key", "k.pem", "--pass", s, "https://x"], secret(), None),
    ("curl --oauth2-bearer", lambda s: ["curl", "--oauth2-bearer", s, "https://x"], secret(), None),
    ("curl --tlspassword", lambda s: ["curl", "--tlsuser", "u", "--tlspassword", s, "https://x"], secret(), None),
    ("curl -b", lambda s: ["curl", "-b", f"session={s}", "https://x"], secret(COOKIE_OCTET), None),
    ("curl -H Cookie", lambda s: ["curl", "-H", f"Cookie: session={s}; theme=dark", "https://x"],
     secret(COOKIE_OCTET), None),
    ("curl -H Authorization", lambda s: ["curl.exe", "-H", f"Authorization: Bearer {s}", "https://x"],
     secret(TOKEN68), None),
    ("curl --proxy-header", lambda s: ["curl", "--proxy-header", f"Proxy-Authorization: Basic {s}", "https://x"],
     secret(TOKEN68), None),
    ("curl -H X-Api-Key", lambda s: ["curl", "-H", f"X-Api-Key: {s}", "https://x"], secret(), None),
    ("wget --password", lambda s: ["wget", "--user=svc", f"--password={s}", "https://h/f"], secret(), None),
    ("wget --http-password", lambda s: ["wget", "--http-password", s, "https://h/f"], secret(), None),
    ("wget --ftp-password", lambda s: ["wget", f"--ftp-password={s}", "ftp://h/f"], secret(), None),
    ("wget --proxy-password", lambda s: ["wget", f"--proxy-password={s}", "https://h/f"], secret(), None),
    ("wget --header", lambda s: ["wget", f"--header=Authorization: Bearer {s}", "https://h/f"], secret(TOKEN68), None),
    ("ldapsearch -w", lambda s: ["ldapsearch", "-x", "-D", "cn=admin,dc=x", "-w", s, "-b", "dc=x"], secret(), None),
    ("ldapmodify -wattached", lambda s: ["ldapmodify", "-x", f"-w{s}", "-f", "a.ldif"], secret(), None),
    ("ldapadd -w", lambda s: ["ldapadd", "-w", s, "-f", "a.ldif"], secret(), None),
    ("ldapdelete -w", lambda s: ["ldapdelete", "-w", s, "cn=x"], secret(), None),
    ("ldapwhoami -w", lambda s: ["ldapwhoami", "-x", "-w", s], secret(), None),
    ("ldappasswd -s", lambda s: ["ldappasswd", "-x", "-W", "-s", s, "uid=u"], secret(), None),
    ("ldappasswd -a", lambda s: ["ldappasswd", "-x", "-W", "-a", s, "uid=u"], secret(), None),
    ("sqlcmd -P", lambda s: ["sqlcmd", "-S", "db01", "-U", "sa", "-P", s, "-Q", "select 1"], secret(), None),
    ("sqlcmd -Pattached", lambda s: ["SQLCMD.EXE", "-S", "db01", "-U", "sa", f"-P{s}"], secret(), None),
    ("sqlcmd -z", lambda s: ["sqlcmd", "-U", "sa", "-z", s], secret(), None),
    ("bcp -P", lambda s: ["bcp", "emr.dbo.t", "out", "t.dat", "-S", "db01", "-U", "sa", "-P", s, "-c"], secret(), None),
    ("mysql -p", lambda s: ["mysql", "-h", "db01", "-u", "root", f"-p{s}", "clinic"], secret(), None),
    ("mysql --password=", lambda s: ["mysql", "--user=root", f"--password={s}", "clinic"], secret(), None),
    ("mysqldump -p", lambda s: ["/usr/bin/mysqldump", "-uroot", f"-p{s}", "--all-databases"], secret(), None),
    ("mariadb-dump --password=", lambda s: ["mariadb-dump", f"--password={s}", "emr"], secret(), None),
    ("mysqladmin password", lambda s: ["mysqladmin", "-u", "root", "password", s], secret(), None),
    ("psql conninfo", lambda s: ["psql", f"host=db01 user=report password={conninfo_quoted(s)} dbname=emr"],
     secret(), conninfo_quoted),
    ("pg_dump URL", lambda s: ["pg_dump", "-d", f"postgresql://report:{quote(s, safe='')}@db01:5432/emr"],
     secret(), lambda s: quote(s, safe="")),
    ("PGPASSWORD", lambda s: ["env", f"PGPASSWORD={s}", "psql", "-h", "db01"], secret(), None),
    ("mongosh -p", lambda s: ["mongosh", "-u", "admin", "-p", s, "--authenticationDatabase", "admin"],
     secret(dash_first=False), None),
    ("mongodump --password=", lambda s: ["mongodump", "--username=admin", f"--password={s}"], secret(), None),
    ("mongorestore -p=", lambda s: ["mongorestore", "-u", "admin", f"-p={s}", "/b"], secret(), None),
    ("redis-cli -a", lambda s: ["redis-cli", "-h", "10.0.0.5", "-a", s, "ping"], secret(), None),
    ("redis-cli --pass", lambda s: ["redis-cli", "--user", "app", "--pass", s, "info"], secret(), None),
    ("smbclient -U", lambda s: ["smbclient", "//fs01/scans", "-U", f"CLINIC\\admin%{s}", "-c", "ls"], secret(), None),
    ("smbclient --user=", lambda s: ["smbclient", "//fs01/scans", f"--user=admin%{s}"], secret(), None),
    ("smbclient --password", lambda s: ["smbclient", "-L", "fs01", "-U", "admin", "--password", s], secret(), None),
    ("smbclient operand", lambda s: ["smbclient", "//fs01/scans", s, "-U", "admin"], secret(dash_first=False), None),
    ("rpcclient -U", lambda s: ["rpcclient", "-U", f"admin%{s}", "-c", "srvinfo", "10.0.0.7"], secret(), None),
    ("net -U", lambda s: ["net", "rpc", "share", "list", "-U", f"admin%{s}", "-S", "fs01"], secret(), None),
    ("sshpass -p", lambda s: ["sshpass", "-p", s, "ssh", "-p", "2222", "backup@10.0.0.9"], secret(), None),
    ("sshpass -pattached", lambda s: ["sshpass", f"-p{s}", "rsync", "-a", "/d", "backup@h:/d"], secret(), None),
    ("openssl -passin", lambda s: ["openssl", "rsa", "-in", "k.pem", "-passin", f"pass:{s}"], secret(), None),
    ("openssl -passout", lambda s: ["openssl", "genpkey", "-algorithm", "ed25519", "-passout", f"pass:{s}"],
     secret(), None),
    ("openssl -pass", lambda s: ["openssl", "enc", "-aes256", "-pass", f"pass:{s}", "-in", "f"], secret(), None),
    ("openssl -passin=", lambda s: ["openssl", "pkey", "-in", "k.pem", f"-passin=pass:{s}"], secret(), None),
    ("openssl -password", lambda s: ["openssl", "pkcs12", "-export", "-password", f"pass:{s}"], secret(), None),
    ("openssl -k", lambda s: ["openssl", "enc", "-aes256", "-k", s, "-in", "f"], secret(), None),
    ("htpasswd -b", lambda s: ["htpasswd", "-b", "/etc/htpasswd", "admin", s], secret(dash_first=False), None),
    ("htpasswd -bcB -C", lambda s: ["htpasswd", "-bcB", "-C", "12", "/etc/htpasswd", "admin", s],
     secret(dash_first=False), None),
    ("htpasswd -nb", lambda s: ["htpasswd", "-nb", "admin", s], secret(dash_first=False), None),
    ("java -D", lambda s: ["java", f"-Dspring.datasource.password={s}", "-jar", "emr.jar"], secret(), None),
    ("java -D secret", lambda s: ["java", f"-Doauth.client-secret={s}", "-jar", "emr.jar"], secret(), None),
    ("--token", lambda s: ["agent", "--token", s, "--url", "https://x"], secret(), None),
    ("--token=", lambda s: ["agent", f"--token={s}"], secret(), None),
    ("--secret", lambda s: ["agent", "--secret", s], secret(), None),
    ("--client-secret", lambda s: ["azcopy", "--client-secret", s, "--tenant", "t"], secret(), None),
    ("--api-key=", lambda s: ["exporter", f"--api-key={s}", "--port", "9100"], secret(), None),
    ("--password", lambda s: ["backup", "--password", s, "--host", "h"], secret(), None),
    ("--passwd=", lambda s: ["vpnc", f"--passwd={s}"], secret(), None),
    ("--auth-token", lambda s: ["cli", "--auth-token", s, "sync"], secret(), None),
    ("URL https", lambda s: ["git", "clone", f"https://deploy:{quote(s, safe='')}@git.example/emr.git"],
     secret(), lambda s: quote(s, safe="")),
    ("URL mongodb+srv", lambda s: ["app", f"mongodb+srv://admin:{quote(s, safe='')}@cluster0.example.net/test"],
     secret(), lambda s: quote(s, safe="")),
    ("URL redis no user", lambda s: ["redis-cli", "-u", f"redis://:{quote(s, safe='')}@10.0.0.5:6379/0"],
     secret(), lambda s: quote(s, safe="")),
    ("URL token ghp_", lambda s: ["git", "fetch", f"https://ghp_{s}@github.com/o/r"], secret(URL_TOKEN), None),
    ("URL x-access-token", lambda s: ["git", "push", f"https://x-access-token:{quote(s, safe='')}@github.com/o/r"],
     secret(), lambda s: quote(s, safe="")),
    ("URL long token", lambda s: ["git", "pull", f"https://{s}@dev.azure.com/o"], secret(URL_TOKEN, min_size=32),
     None),
    ("MYSQL_PWD", lambda s: ["env", f"MYSQL_PWD={s}", "mysqldump", "emr"], secret(), None),
    ("sudo curl", lambda s: ["sudo", "-u", "svc", "/usr/local/bin/curl", f"-uadmin:{s}", "https://x"], secret(), None),
    ("sh -c ldapsearch", lambda s: ["sh", "-c", f"ldapsearch -x -w {shlex.quote(s)} -b dc=x"], secret(),
     shlex.quote),
]
FORM_IDS = [form[0] for form in FORMS]


def placed(form, value: str) -> str:
    """How `value` appears in the form's argument list."""
    return form[3](value) if form[3] else value


def ps_listing(line: str) -> str:
    """A remote `ps -eo pid,user,args` listing holding `line` beside another process."""
    return f"  PID USER     COMMAND\n 4711 svc      {line}\n 4712 root     /usr/sbin/sshd -D\n"


def clear_of_fixed_text(form, value: str) -> bool:
    """Whether the secret is absent from the form's own text (program, options, the mask that replaces it), as
    an unquoted and a shell-quoted line and in a ps listing around it (a secret drawn as "/usr/sbi" is in that
    listing's sshd line): only then does finding it after redaction mean a leak."""
    needle = placed(form, value)
    argv = [arg.replace("Zq9marker", MASK) for arg in form[1]("Zq9marker")]
    fixed = f"{' '.join(argv)}\n{shlex.join(argv)}\n{ps_listing(' '.join(argv))}"
    return MASK not in value and needle not in fixed and value not in fixed


@pytest.mark.parametrize("form", FORMS, ids=FORM_IDS)
@PROPERTY
@given(data=st.data())
def test_a_random_secret_in_any_documented_form_never_survives_redaction(form, data):
    value = data.draw(form[2], label="secret")
    needle = placed(form, value)
    assume(clear_of_fixed_text(form, value))
    argv = form[1](value)
    ps_line = " ".join(argv)  # as a remote `ps -eo args` prints it: no quoting
    outputs = {
        "argv": " ".join(redact_args(argv)),
        "command line": redact_command_line(shlex.join(argv)),
        "ps line": redact_command_line(ps_line),
        "ps listing": redact_text(ps_listing(ps_line)),
    }
    for where, out in outputs.items():
        assert needle not in out, f"{where}: {out}"
        assert value not in out, f"{where}: {out}"
    assert argv[0] in outputs["argv"]  # the program is kept


# --- end to end: the store file, its WAL and every export --------------------------------------------------

def representations(value: str) -> set[bytes]:
    """The bytes a text can take in a store or an export: UTF-8 as is, and escaped for XML, JSON and CSV."""
    texts = {value, html.escape(value, quote=False), html.escape(value, quote=True),
             html.escape(value, quote=False).replace("'", "&apos;").replace('"', "&quot;"),
             json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], value.replace('"', '""')}
    return {t.encode("utf-8") for t in texts}


def unpacked(path: Path) -> list[tuple[str, bytes]]:
    """The file's bytes, and for a zip (xlsx, the csv export) each member's bytes too."""
    parts = [(path.name, path.read_bytes())]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            parts += [(f"{path.name}:{name}", archive.read(name)) for name in archive.namelist()]
    return parts


def write_everything(argvs: list[list[str]], folder: Path) -> tuple[list[tuple[str, bytes]], list[str]]:
    """Store one host whose processes run `argvs` (and a `ps` listing of them as raw evidence) through the normal
    save path, export it in every registered format; return every file's bytes (the store, its WAL and journal
    while open and after closing, each export and each zip member) and the command lines the store gives back."""
    from discovery.service import export_inventory
    from discovery.storage.store import Store
    from exports.registry import FORMATS
    from tests.builders import make_report

    report = make_report(hostname="secrets01", services=())
    processes = tuple(Process(pid=1000 + i, name=argv[0].rsplit("/", 1)[-1], cmdline=shlex.join(argv),
                              source="local", observed_at=report.host.observed_at) for i, argv in enumerate(argvs))
    ps = "  PID USER     COMMAND\n" + "".join(f" {1000 + i} svc      {' '.join(argv)}\n" for i, argv in enumerate(argvs))
    report = dataclasses.replace(report, processes=processes, raw={**report.raw, "ps": ps})
    written: list[tuple[str, bytes]] = []
    with Store(folder / "estate.db") as store:
        scan = store.start_scan(Scan(kind="host", started_at=report.host.observed_at,
                                     arguments=shlex.join(["estatemap", "scan", "host", *argvs[0]])))
        store.write_host_report(scan, report)
        store.finish_scan(scan, "completed")
        for fmt in FORMATS:
            path = folder / f"export-{fmt.name}.{fmt.extension}"
            inventory = export_inventory(store, fmt.load(), path)
            written += unpacked(path)
        written += [(p.name, p.read_bytes()) for p in sorted(folder.glob("estate.db*"))]  # open: WAL on disk
    written += [(p.name, p.read_bytes()) for p in sorted(folder.glob("estate.db*"))]  # closed: checkpointed
    return written, [p["cmdline"] for p in inventory["processes"]]


@functools.cache
def baseline() -> bytes:
    """Every byte the same host and exports hold with a marker in place of each secret: the files' own text."""
    with tempfile.TemporaryDirectory() as tmp:
        written, _ = write_everything([form[1]("Zq9marker") for form in FORMS], Path(tmp))
    return b"\n".join(content for _, content in written)


@settings(max_examples=STORE_EXAMPLES, deadline=None, derandomize=EXAMPLES <= 200,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(data=st.data())
def test_random_secrets_in_every_form_never_reach_the_store_the_wal_or_an_export(data):
    """One host whose processes carry every form, each with its own secret, written through the normal save path
    and exported in every registered format; then every byte written is searched for every secret."""
    def checkable(form, value: str) -> bool:  # neither in the form's text nor in the files' own bytes
        needles = representations(value) | representations(placed(form, value))
        return clear_of_fixed_text(form, value) and not any(needle in baseline() for needle in needles)

    secrets = []
    for form in FORMS:
        value = data.draw(form[2].filter(lambda v, form=form: checkable(form, v)), label=form[0])
        secrets.append((form[0], value, representations(value) | representations(placed(form, value))))
    with tempfile.TemporaryDirectory() as tmp:
        written, stored = write_everything([form[1](value) for form, (_, value, _) in zip(FORMS, secrets)], Path(tmp))

    assert len(stored) == len(FORMS) and all(MASK in cmdline for cmdline in stored)  # the processes got through
    assert any(name.endswith("-wal") for name, _ in written)
    for form_id, value, needles in secrets:
        for needle in needles:
            for name, content in written:
                assert needle not in content, f"{form_id}: the secret {value!r} is in {name}"
