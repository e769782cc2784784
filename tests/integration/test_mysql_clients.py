"""`scan database mysql://…` against a real MariaDB server (Debian's mariadb-server) in the namespace test network.

The network (tests/integration/network.py) is built for this module alone: the scanner host, the workstation ws
and two plain hosts added here, mysqldb (10.203.0.60, where mariadbd runs, started by this module's fixture)
and lab (10.203.0.61). A small PyMySQL client holds a connection open from lab (named lab_app, also announced
as its program_name) and another from ws (report_tool, announcing nothing). Everything is stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.network import HostSpec, NetworkError, make_dir, running_network, stop_process
from tests.integration.test_keyring import files_holding, lookup, secret_service  # noqa: F401  (a fixture)
from tests.integration.test_ssh_scan import run_in_terminal

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

SERVER = HostSpec("mysqldb", "10.203.0.60")
LAB = HostSpec("lab", "10.203.0.61")
START_TIMEOUT = 90.0  # seconds for mariadb-install-db plus mariadbd to accept connections (a bound)
CLIENT_LIFETIME = 900  # seconds a test client holds its connection at most, should nothing stop it

# A client that holds one connection open: reads its password from standard input (never a command line),
# names itself (the kernel's comm, what `scan host` reports), says "ready", then pings every second until
# stopped or CLIENT_LIFETIME has passed.
CLIENT = r"""
import ctypes, sys, time
import pymysql
name, host, user, announce, lifetime = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", float(sys.argv[5])
ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)
password = sys.stdin.readline().rstrip("\n")
conn = pymysql.connect(host=host, port=3306, user=user, password=password, database="emr", connect_timeout=10,
                       program_name=name if announce else None)
print("ready", flush=True)
deadline = time.monotonic() + lifetime
while time.monotonic() < deadline:
    time.sleep(1)
    conn.ping(reconnect=False)
"""


class MariaDB:
    """The running server: its host, passwords of the test users, and a way to ask it SQL as root."""

    def __init__(self, host, socket_path: Path, passwords: dict[str, str]):
        self.host, self.socket_path, self.passwords = host, socket_path, passwords

    def sql(self, query: str) -> str:
        """Return the tab-separated answer of `query`, asked as root over the Unix socket in the server's host."""
        result = self.host.run([shutil.which("mariadb"), "--no-defaults", f"--socket={self.socket_path}", "-uroot",
                                "-N", "-B", "-e", query], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


def wait_for_log(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    """Wait until `text` is in the log at `path`; fail if the process exits or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        if proc.poll() is not None:
            raise NetworkError(f"exited with status {proc.returncode}:\n{path.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            raise NetworkError(f"{text!r} not in {path} within {timeout:g} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def mysql_network():
    """The network with MariaDB on mysqldb and a client connected from lab and from ws; yields (network, server)."""
    install_db, mariadbd = shutil.which("mariadb-install-db"), shutil.which("mariadbd", path="/usr/sbin:/usr/bin")
    if not (install_db and mariadbd and shutil.which("mariadb")):
        pytest.fail("MariaDB is not installed: run bash scripts/setup.sh --test")
    with running_network(("scanner", "ws"), extra_hosts=(SERVER, LAB)) as network, contextlib.ExitStack() as stack:
        host = network.hosts[SERVER.name]
        base = make_dir(network.tmp_dir / "mariadb", owner="mysql", mode=0o711)
        datadir, log = base / "data", network.log_dir / "mysqldb-mariadbd.log"
        passwords = {user: secrets.token_urlsafe(12) for user in ("monitor", "app", "limited", "rolemon")}
        init = base / "init.sql"
        init.write_text("\n".join([
            "CREATE DATABASE emr;",
            "USE emr;",
            "CREATE TABLE emr.orders (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(200)) ENGINE=InnoDB;",
            "INSERT INTO emr.orders (note) SELECT REPEAT('x', 200) FROM seq_1_to_5000;",
            "ANALYZE TABLE emr.orders;",
            f"CREATE USER 'monitor'@'%' IDENTIFIED BY '{passwords['monitor']}';",
            "GRANT PROCESS, SELECT ON *.* TO 'monitor'@'%';",
            f"CREATE USER 'app'@'%' IDENTIFIED BY '{passwords['app']}';",
            "GRANT ALL ON emr.* TO 'app'@'%';",
            f"CREATE USER 'limited'@'%' IDENTIFIED BY '{passwords['limited']}';",  # no PROCESS: its own sessions only
            "GRANT SELECT ON emr.* TO 'limited'@'%';",
            f"CREATE USER 'rolemon'@'%' IDENTIFIED BY '{passwords['rolemon']}';",
        ]) + "\n")
        init.chmod(0o600)
        shutil.chown(init, "mysql", "mysql")
        installed = subprocess.run([install_db, "--no-defaults", "--user=mysql", f"--datadir={datadir}",
                                    "--auth-root-authentication-method=socket", "--skip-test-db"],
                                   capture_output=True, text=True, timeout=START_TIMEOUT)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        socket_path = base / "mariadbd.sock"
        with open(log, "ab") as out:
            server = host.popen([mariadbd, "--no-defaults", "--user=mysql", f"--datadir={datadir}",
                                 f"--bind-address={SERVER.address}", "--port=3306", f"--socket={socket_path}",
                                 f"--pid-file={base / 'mariadbd.pid'}", f"--init-file={init}",
                                 "--performance-schema=ON", "--innodb-buffer-pool-size=32M",
                                 "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin"],
                                cwd=base, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        stack.callback(stop_process, server, signal.SIGTERM, 30.0)
        wait_for_log(log, "ready for connections", server, START_TIMEOUT)
        mariadb = MariaDB(host, socket_path, passwords)
        # PROCESS through a role (not in USER_PRIVILEGES, yet every session is listed); granted as root, since a
        # role granted from --init-file has no grantor
        mariadb.sql("CREATE ROLE watcher; GRANT PROCESS ON *.* TO watcher; GRANT watcher TO 'rolemon'@'%'; "
                    "SET DEFAULT ROLE watcher FOR 'rolemon'@'%'")
        for client_host, name, announce in ((network.hosts[LAB.name], "lab_app", "1"), (network.hosts["ws"],
                                                                                      "report_tool", "0")):
            client = client_host.popen([sys.executable, "-c", CLIENT, name, SERVER.address, "app", announce,
                                        str(CLIENT_LIFETIME)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, start_new_session=True)
            stack.callback(stop_process, client)
            client.stdin.write(passwords["app"] + "\n")
            client.stdin.close()
            ready = _read_line(client, START_TIMEOUT)
            assert ready == "ready", (f"{name}: {ready!r} {client.stderr.read() if client.poll() is not None else ''}"
                                      f"\n{log.read_text(errors='replace')[-3000:]}")
        yield network, mariadb


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    """Return the first line the process prints, waiting at most `timeout` seconds."""
    import selectors
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return proc.stdout.readline().strip()


NO_KEYRING = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}  # never this machine's


def estatemap(host, *argv, input=None, check=True, timeout=300, env=NO_KEYRING):
    result = host.run([sys.executable, str(ROOT / "main.py"), *map(str, argv)], capture_output=True, text=True,
                      input=input, timeout=timeout, cwd=ROOT, env=env)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def export(network, db_file: Path) -> dict:
    out = db_file.with_suffix(".json")
    estatemap(network.scanner, "--db", db_file, "export", "-f", "json", "-o", out)
    return json.loads(out.read_text())


def scan_database(network, server: MariaDB, db_file: Path, user: str = "monitor", scheme: str = "mysql"):
    return estatemap(network.scanner, "--db", db_file, "scan", "database", f"{scheme}://{user}@{SERVER.address}/",
                     "--password-stdin", input=server.passwords[user] + "\n")


def test_clients_seen_only_through_the_processlist(mysql_network, tmp_path):
    """Nobody collected lab or ws: MariaDB's own process list names them, lab with its program_name."""
    network, server = mysql_network
    db_file = tmp_path / "estate.db"
    result = scan_database(network, server, db_file)
    assert "warning" not in result.stderr, result.stderr
    inventory = export(network, db_file)

    (host,) = inventory["hosts"]
    assert host["addresses"] == [SERVER.address] and host["sources"] == ["mysql"]
    (database,) = inventory["databases"]
    assert database["engine"] == "mariadb" and database["version"] == server.sql("SELECT VERSION()")
    assert database["port"] == 3306 and database["process"] == "mariadbd"
    assert "emr" in database["databases"] and "mysql" in database["databases"]
    assert "information_schema" not in database["databases"]
    emr_bytes = int(server.sql("SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES "
                               "WHERE TABLE_SCHEMA = 'emr'"))
    assert database["sizes"]["emr"] == emr_bytes > 1_000_000
    (service,) = inventory["services"]
    assert (service["port"], service["name"], service["product"]) == (3306, "mysql", "MariaDB")

    deps = {d["source_host_id"]: d for d in inventory["dependencies"] if d["target_port"] == 3306}
    assert set(deps) == {f"external:{LAB.address}", f"external:{network.hosts['ws'].address}"}
    lab, ws = deps[f"external:{LAB.address}"], deps[f"external:{network.hosts['ws'].address}"]
    assert lab["source_process"] == "lab_app" and ws["source_process"] is None  # ws announced no program_name
    for dep in (lab, ws):
        assert dep["evidence"] == "reported" and dep["observed_by"] == ["mysql"]
        assert dep["target_host_id"] == host["id"] and dep["target_service_id"] == f"{host['id']}:tcp/3306"
    assert {c["source_address"] for c in inventory["connections"]} == {LAB.address, network.hosts["ws"].address}
    assert all(c["evidence"] == "reported" and c["observed_by"] == ["mysql"] for c in inventory["connections"])
    # the server's list does not read anyone's sockets: still a blind spot, ranked by the dependencies on it
    assert host["coverage_sources"] == ["mysql"] and host["coverage_depth"] == "ports"
    assert inventory["coverage_summary"]["by_source"] == {"mysql": 1}
    (blind,) = inventory["coverage_summary"]["blind_spots"]
    assert (blind["host_id"], blind["dependencies"]) == (host["id"], 2)


def test_clients_collected_on_their_hosts_keep_their_processes(mysql_network, tmp_path):
    """lab and ws collected (scan host on each) and the server asked: one dependency per client, with its process."""
    network, server = mysql_network
    db_file = tmp_path / "estate.db"
    for name in (LAB.name, "ws"):
        estatemap(network.hosts[name], "--db", db_file, "scan", "host")
    scan_database(network, server, db_file, scheme="mariadb")
    inventory = export(network, db_file)

    hosts = {h["hostname"]: h for h in inventory["hosts"] if h["hostname"]}
    assert {LAB.name, "ws"} <= set(hosts)
    (server_host,) = [h for h in inventory["hosts"] if SERVER.address in h["addresses"]]
    assert "mysql" in server_host["sources"]
    deps = [d for d in inventory["dependencies"] if d["target_port"] == 3306]
    assert sorted((d["source_host_id"], d["source_process"]) for d in deps) == sorted(
        [(hosts[LAB.name]["id"], "lab_app"), (hosts["ws"]["id"], "report_tool")])
    for dep in deps:
        assert dep["target_host_id"] == server_host["id"] and dep["evidence"] == "observed"
        assert sorted(dep["observed_by"]) == ["local", "mysql"]


def test_a_user_without_process_sees_only_its_own_sessions_in_one_warning(mysql_network, tmp_path):
    network, server = mysql_network
    db_file = tmp_path / "estate.db"
    result = scan_database(network, server, db_file, user="limited")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: mysql://limited@{SERVER.address}:3306/: this user sees only its own sessions in "
                        "the process list (grant it the PROCESS privilege to see every client)"]
    inventory = export(network, db_file)
    assert inventory["databases"][0]["databases"] == ["emr"]  # the databases it may see
    assert [d for d in inventory["dependencies"] if d["target_port"] == 3306] == []


def test_process_granted_through_a_role_lists_every_client_without_a_warning(mysql_network, tmp_path):
    network, server = mysql_network
    db_file = tmp_path / "estate.db"
    result = scan_database(network, server, db_file, user="rolemon")
    assert "warning" not in result.stderr, result.stderr
    deps = [d for d in export(network, db_file)["dependencies"] if d["target_port"] == 3306]
    assert sorted(d["source_host_id"] for d in deps) == [f"external:{network.hosts['ws'].address}",
                                                         f"external:{LAB.address}"]


def test_bad_password_refused_server_and_unknown_host_are_one_line_errors(mysql_network, tmp_path):
    network, server = mysql_network
    db_file = tmp_path / "estate.db"
    url = f"mysql://monitor@{SERVER.address}/"
    bad = estatemap(network.scanner, "--db", db_file, "scan", "database", url, "--password-stdin",
                    input="not-the-password\n", check=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[0] == (
        f"warning: mysql://monitor@{SERVER.address}:3306/: cannot connect: Access denied for user "
        f"'monitor'@'scanner' (using password: YES)")
    refused = estatemap(network.scanner, "--db", db_file, "scan", "database", f"mysql://monitor@{LAB.address}/",
                        "--password-stdin", input="x\n", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.splitlines()[0] == (
        f"warning: mysql://monitor@{LAB.address}:3306/: cannot connect: Connection refused")
    unknown = estatemap(network.scanner, "--db", db_file, "scan", "database", "mysql://monitor@nowhere.invalid/",
                        check=False)
    assert unknown.returncode == 1 and unknown.stderr.splitlines()[0] == (
        "warning: mysql://monitor@nowhere.invalid:3306/: cannot connect: unknown host 'nowhere.invalid'")
    in_url = estatemap(network.scanner, "--db", db_file, "scan", "database",
                       f"mysql://monitor:{server.passwords['monitor']}@{SERVER.address}/", check=False)
    assert in_url.returncode == 1 and in_url.stderr.strip().splitlines() == [
        "estatemap: error: do not put the password in the URL (it would show in the process list); "
        "use --ask-password or --password-stdin"]
    other = estatemap(network.scanner, "--db", db_file, "scan", "database", f"mssql://sa@{SERVER.address}/",
                      check=False)
    assert other.returncode == 1 and len(other.stderr.strip().splitlines()) == 1
    assert "is not a database URL" in other.stderr


def test_the_password_is_in_no_store_wal_or_export(mysql_network, tmp_path):
    network, server = mysql_network
    db_file = tmp_path / "estate.db"
    scan_database(network, server, db_file)
    out = tmp_path / "exports"
    out.mkdir()
    written = [db_file.with_suffix(".json")]
    export(network, db_file)
    for fmt, name in (("csv", "csv"), ("xlsx", "estate.xlsx"), ("graphml", "estate.graphml")):
        estatemap(network.scanner, "--db", db_file, "export", "-f", fmt, "-o", out / name)
    written += [p for p in out.rglob("*") if p.is_file()]
    stored = sorted(tmp_path.glob("estate.db*"))
    assert len(written) >= 4 and stored
    assert files_holding(tmp_path, server.passwords["monitor"]) == []  # zip parts (the workbook) inflated too


def test_the_password_asked_on_the_terminal_is_remembered_in_the_keyring_for_mysql_and_mariadb_urls(
        mysql_network, secret_service, tmp_path):  # noqa: F811  (the fixture imported above)
    network, server = mysql_network
    env, password = secret_service, server.passwords["monitor"]
    account = f"mysql:monitor@{SERVER.address}:3306"
    status, shown = run_in_terminal(network, env, [
        "--db", tmp_path / "first.db", "scan", "database", f"mysql://monitor@{SERVER.address}/", "--ask-password",
        "--remember-password"], {"Database password (empty for none): ": password})
    assert status == 0, shown
    assert f"Remembered the password for {account} in the OS keyring." in shown and password not in shown
    assert lookup(env, account) == password
    store = tmp_path / "again" / "estate.db"
    store.parent.mkdir()
    estatemap(network.scanner, "--db", store, "scan", "database", f"mariadb://monitor@{SERVER.address}/", env=env)
    inventory = export(network, store)
    assert [d["engine"] for d in inventory["databases"]] == ["mariadb"]
    assert len([d for d in inventory["dependencies"] if d["target_port"] == 3306]) == 2
    assert files_holding(tmp_path, password) == []
    estatemap(network.scanner, "scan", "database", f"mysql://monitor@{SERVER.address}/", "--forget-password",
              env=env)
    assert lookup(env, account) is None
