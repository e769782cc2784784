"""`estatemap scan ssh` run from the scanner host of a namespace test network, against real OpenSSH servers.

The network (built once for this module) runs sshd on db, web and app, each with its own host key; one client
key is authorised for root everywhere and app also takes a root password. pacs runs no sshd (connection
refused) and ws gets a "tarpit" on port 22 where a test needs a host that never answers. The program runs
with HOME set to an empty folder and no ssh-agent, so nothing of this machine's own SSH setup is used.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.integration.network import running_network, stop_process

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

APP_PASSWORD = "app-root-Pw-4711"
PASSPHRASE = "tr0ub4dor&3-passphrase"
TARPIT = """
import socket, sys, time
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
clients = []
print("tarpit: listening", flush=True)
while True:
    client, _ = server.accept()   # accepts, then never says a word
    clients.append(client)
    print("tarpit: accepted", flush=True)
"""


@pytest.fixture(scope="module")
def net():
    """db, web and app run sshd (root: the network's client key; app: also APP_PASSWORD); pacs refuses SSH."""
    with running_network(sshd_hosts=("db", "web", "app"), root_passwords={"app": APP_PASSWORD}) as network:
        yield network


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """An empty home folder for the program: no ~/.ssh keys, known_hosts or config of this machine."""
    return tmp_path_factory.mktemp("home")


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    return {**env, "HOME": str(home)}


def estatemap(net, home, *argv, timeout=180, input=None):
    return net.scanner.run([sys.executable, str(ROOT / "main.py"), *map(str, argv)], capture_output=True, text=True,
                           timeout=timeout, cwd=ROOT, env=environment(home), input=input)


def scan_ssh(net, home, db, *argv, key=True, known_hosts=True, timeout=180):
    options = ["--db", db, "scan", "ssh", *argv]
    if key:
        options += ["--key", net.ssh_client_key]
    if known_hosts:
        options += ["--known-hosts", net.ssh_known_hosts]
    return estatemap(net, home, *options, timeout=timeout)


def export(net, home, db: Path, *extra) -> dict:
    out = db.with_name("-".join([db.stem, *(str(a).strip("-") for a in extra)]) + ".json")
    result = estatemap(net, home, "--db", db, "export", "-f", "json", "-o", out, "--force", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def host_named(inventory: dict, name: str) -> dict:
    (host,) = [h for h in inventory["hosts"] if h["hostname"] == name]
    return host


def secret_in_files(folder: Path, secret: str) -> list[str]:
    """Return the files in `folder` whose bytes contain `secret` (the store, its WAL, exports)."""
    return [p.name for p in folder.iterdir() if p.is_file() and secret.encode() in p.read_bytes()]


def run_in_terminal(net, env, argv, answers: dict[str, str], timeout=120) -> tuple[int, str]:
    """Run the program in the scanner host with `env` on a pseudo-terminal of its own (so getpass asks on it);
    type each answer once its prompt shows. Returns (exit status, everything the terminal showed)."""
    master, slave = os.openpty()
    proc = net.scanner.popen([sys.executable, str(ROOT / "main.py"), *map(str, argv)], cwd=ROOT,
                             env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                             preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    shown, pending = "", dict(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the program and nsenter have closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk.decode(errors="replace")
                for prompt in [p for p in pending if p in shown]:
                    os.write(master, pending.pop(prompt).encode() + b"\n")
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=max(1, deadline - time.monotonic())), shown
    finally:
        os.close(master)
        stop_process(proc)


@pytest.fixture(scope="module")
def collected(net, home, tmp_path_factory):
    """One `scan ssh` of db, web and app, exported with and without the collector's own sessions."""
    db = tmp_path_factory.mktemp("sshscan") / "estate.db"
    result = scan_ssh(net, home, db, "-v", "root@db", "root@web", "root@app")
    return result, db, export(net, home, db), export(net, home, db, "--keep", "collector-ssh")


def test_scan_ssh_stores_each_host_once_with_hostname_os_mac_and_packages(net, collected):
    result, _, inventory, _ = collected
    assert result.returncode == 0, result.stderr
    # -v shows libraries' deprecation warnings (logger py.warnings); the scan itself warns about nothing
    assert not [line for line in result.stderr.lower().splitlines() if "warning" in line and "py.warnings" not in line]
    assert sorted(h["hostname"] for h in inventory["hosts"]) == ["app", "db", "web"]
    for host in inventory["hosts"]:
        expected = net.hosts[host["hostname"]]
        assert host["macs"] == [expected.mac] and host["addresses"] == [expected.address]
        assert (host["os_name"], host["os_id"], host["os_family"]) == ("Debian GNU/Linux", "debian", "linux")
        assert host["os_version"].startswith("12") and host["sources"] == ["ssh"]
        assert host["cpu_cores"] >= 1 and host["memory_bytes"] > 0 and host["kernel"]
        packages = [s for s in inventory["software"] if s["host_id"] == host["id"]]
        assert len(packages) > 100 and {"openssh-server", "dpkg"} <= {s["name"] for s in packages}
        assert all(s["source"] == "dpkg" for s in packages)
    (scan,) = inventory["scans"]
    assert scan["kind"] == "ssh" and scan["status"] == "completed" and scan["host_count"] == 3
    assert scan["targets"] == ["root@db", "root@web", "root@app"]
    assert scan["arguments"].startswith("scan ssh --port 22 --key ")
    assert re.findall(r"scan ssh: (\d)/3 root@(\w+): ok", result.stderr)[-1][0] == "3"


def test_scan_ssh_sees_postgres_on_db_and_the_apps_connection_to_it(net, collected):
    _, _, inventory, _ = collected
    db, app = host_named(inventory, "db"), host_named(inventory, "app")
    services = {(s["host_id"], s["port"]): s for s in inventory["services"]}
    postgres = services[(db["id"], 5432)]
    assert (postgres["process"], postgres["state"], postgres["category"]) == ("postgres", "listening", "database")
    assert services[(db["id"], 6379)]["process"] == "redis-server"
    engines = {(d["engine"], d["host_id"]) for d in inventory["databases"]}
    assert {("postgresql", db["id"]), ("redis", db["id"])} <= engines
    assert next(d for d in inventory["databases"] if d["engine"] == "postgresql")["version"].startswith("15.")
    to_postgres = [c for c in inventory["connections"] if c["source_host_id"] == app["id"]
                   and (c["target_address"], c["target_port"]) == ("10.203.0.10", 5432)]
    assert len(to_postgres) == 1
    assert (to_postgres[0]["source_process"], to_postgres[0]["target_host_id"], to_postgres[0]["target_process"]) \
        == ("emr_app", db["id"], "postgres")
    assert to_postgres[0]["observed_by"] == ["ssh"]
    app_processes = {p["name"] for p in inventory["processes"] if p["host_id"] == app["id"]}
    assert "emr_app" in app_processes and not {"ps", "sh"} & app_processes  # our own commands left out


def test_scan_ssh_marks_the_collectors_own_session(net, collected):
    _, db_file, inventory, kept = collected
    with sqlite3.connect(db_file) as conn:
        sessions = dict(conn.execute("SELECT h.hostname, e.text FROM evidence e JOIN hosts h ON h.id = e.host_id "
                                     "WHERE e.name = 'ssh-session'").fetchall())
        pids = dict(conn.execute("SELECT h.hostname, e.text FROM evidence e JOIN hosts h ON h.id = e.host_id "
                                 "WHERE e.name = 'ssh-session-pids'").fetchall())
    assert set(sessions) == {"db", "web", "app"}
    for name, text in sessions.items():
        client, port, server_port = text.split()
        assert (client, server_port) == (net.scanner.address, "22") and port.isdigit()
        host = host_named(kept, name)
        (ours,) = [c for c in kept["connections"] if c["target_host_id"] == host["id"]
                   and (c["source_address"], c["source_port"]) == (client, int(port))]
        assert (ours["target_port"], ours["target_process"]) == (22, "sshd")
        sshd = [p for p in kept["processes"] if p["host_id"] == host["id"] and str(p["pid"]) == pids[name]]
        assert sshd and sshd[0]["name"] == "sshd" and sshd[0]["cmdline"] == "sshd: root@notty"
        # the dependency map leaves the collector's own sessions out unless asked to keep them
        assert not [c for c in inventory["connections"] if c["source_address"] == client and c["target_port"] == 22]


def test_refusing_host_is_one_warning_the_others_are_stored_and_exit_is_1(net, home, tmp_path):
    db, hosts = tmp_path / "estate.db", tmp_path / "hosts.txt"
    hosts.write_text("# the clinical systems\nroot@pacs\n\nroot@db   # PostgreSQL and Redis\n")
    result = scan_ssh(net, home, db, "root@web", "--hosts-file", hosts)
    assert result.returncode == 1, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: root@pacs: connection refused on port 22 (no SSH server listening)"]
    assert "1 of 3 hosts could not be collected: root@pacs" in result.stderr
    inventory = export(net, home, db)
    assert sorted(h["hostname"] for h in inventory["hosts"]) == ["db", "web"]
    assert inventory["scans"][0]["status"] == "completed"
    assert inventory["scans"][0]["targets"] == ["root@web", "root@pacs", "root@db"]


def test_unknown_host_key_fails_with_the_hint_and_works_with_accept_new(net, home, tmp_path):
    db, known = tmp_path / "estate.db", tmp_path / "known_hosts"
    known.write_text("")
    result = scan_ssh(net, home, db, "root@web", "--known-hosts", known, known_hosts=False)
    assert result.returncode == 1
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: root@web: unknown host key ssh-ed25519 SHA256:")
    assert "--accept-new-host-keys" in warning and known.read_text() == ""
    result = scan_ssh(net, home, db, "root@web", "--known-hosts", known, "--accept-new-host-keys", known_hosts=False)
    assert result.returncode == 0, result.stderr
    assert f"added to {known}" in result.stderr
    web_key = " ".join(net.hosts["web"].ssh_host_key.with_suffix(".pub").read_text().split()[:2])
    assert known.read_text() == f"web {web_key}\n"
    again = scan_ssh(net, home, db, "root@web", "--known-hosts", known, known_hosts=False)
    assert again.returncode == 0, again.stderr
    assert len(export(net, home, db)["hosts"]) == 1


def test_accept_new_host_keys_writes_the_users_own_known_hosts_by_default(net, tmp_path):
    home, db = tmp_path / "home", tmp_path / "estate.db"
    home.mkdir()
    result = scan_ssh(net, home, db, "root@10.203.0.10", "--accept-new-host-keys", known_hosts=False)
    assert result.returncode == 0, result.stderr
    known = home / ".ssh" / "known_hosts"
    assert known.read_text().startswith("10.203.0.10 ssh-ed25519 ") and (known.stat().st_mode & 0o777) == 0o600


def test_changed_host_key_fails_even_with_accept_new(net, home, tmp_path):
    db, known, other = tmp_path / "estate.db", tmp_path / "known_hosts", tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    known.write_text("web " + " ".join(other.with_suffix(".pub").read_text().split()[:2]) + "\n")
    before = known.read_text()
    for extra in ((), ("--accept-new-host-keys",)):
        result = scan_ssh(net, home, db, "root@web", "--known-hosts", known, *extra, known_hosts=False)
        assert result.returncode == 1
        (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert warning.startswith("warning: root@web: HOST KEY CHANGED: the host offered ssh-ed25519 SHA256:")
        assert known.read_text() == before
    assert not db.exists() or export(net, home, db)["hosts"] == []


@pytest.fixture(scope="module")
def locked_key(net, tmp_path_factory):
    """A passphrase-protected key made with ssh-keygen -N, authorised for root on every sshd host."""
    key = tmp_path_factory.mktemp("locked") / "locked_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "locked", "-f", key], check=True)
    authorized = net.ssh_client_key.parent / "authorized_keys"
    with open(authorized, "a") as f:
        f.write(key.with_suffix(".pub").read_text())
    return key


def test_encrypted_key_works_with_the_passphrase_typed_and_it_is_never_stored(net, home, tmp_path, locked_key):
    db = tmp_path / "estate.db"
    status, shown = run_in_terminal(net, environment(home), ["--db", db, "scan", "ssh", "root@db", "--key", locked_key,
                                                "--known-hosts", net.ssh_known_hosts],
                                    {f"Passphrase for {locked_key}: ": PASSPHRASE})
    assert status == 0, shown
    assert f"Passphrase for {locked_key}: " in shown and PASSPHRASE not in shown  # not echoed
    inventory = export(net, home, db)
    assert [h["hostname"] for h in inventory["hosts"]] == ["db"]
    assert secret_in_files(tmp_path, PASSPHRASE) == []
    assert PASSPHRASE not in inventory["scans"][0]["arguments"]
    # without a terminal to ask on: a clear error, nothing collected
    result = estatemap(net, home, "--db", tmp_path / "other.db", "scan", "ssh", "root@db", "--key", locked_key,
                       "--known-hosts", net.ssh_known_hosts)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"estatemap: error: the key {locked_key} is encrypted and there is no terminal to "
                                     "ask for its passphrase (load it into ssh-agent, or run estatemap in a terminal)")


def test_password_is_asked_when_no_key_works_and_is_never_stored(net, home, tmp_path):
    db = tmp_path / "estate.db"
    status, shown = run_in_terminal(net, environment(home), ["--db", db, "scan", "ssh", "root@app", "root@db",
                                                "--known-hosts", net.ssh_known_hosts], {"Password for root": APP_PASSWORD})
    assert status == 1, shown  # db takes keys only: it fails, app is collected with the password
    assert shown.count("Password for root") == 1 and APP_PASSWORD not in shown
    assert "root@db: authentication failed for root: no key was accepted (use --key, ssh-agent or --user)" in shown
    inventory = export(net, home, db)
    assert [h["hostname"] for h in inventory["hosts"]] == ["app"]
    assert secret_in_files(tmp_path, APP_PASSWORD) == []
    result = scan_ssh(net, home, tmp_path / "other.db", "root@app", key=False)  # no terminal
    assert result.returncode == 1
    assert ("root@app: authentication failed for root: no key was accepted, and the host asks for a password, "
            "which can only be typed in a terminal") in result.stderr


def test_scan_ssh_then_scan_network_of_the_same_host_is_one_host(net, home, tmp_path):
    db = tmp_path / "estate.db"
    assert scan_ssh(net, home, db, "root@db").returncode == 0
    result = estatemap(net, home, "--db", db, "scan", "network", net.hosts["db"].address, "--ports", "22,5432,6379",
                       "--max-rate", "2000")
    assert result.returncode == 0, result.stderr
    inventory = export(net, home, db)
    (host,) = inventory["hosts"]
    assert host["sources"] == ["nmap", "ssh"] and host["hostname"] == "db" and host["macs"] == [net.hosts["db"].mac]
    postgres = next(s for s in inventory["services"] if s["port"] == 5432)
    assert postgres["process"] == "postgres" and postgres["product"] == "PostgreSQL DB"


def test_scan_network_plus_scan_ssh_of_client_and_server_is_one_dependency_to_postgresql(net, home, tmp_path):
    """The issue's end-to-end case: both hosts scanned both ways; each host once, one dependency app/emr_app → db:5432."""
    db = tmp_path / "estate.db"
    app_host, db_host = net.hosts["app"], net.hosts["db"]
    result = estatemap(net, home, "--db", db, "scan", "network", db_host.address, app_host.address,
                       "--ports", "22,5432,6379", "--max-rate", "2000")
    assert result.returncode == 0, result.stderr
    assert scan_ssh(net, home, db, "root@db", "root@app").returncode == 0
    inventory = export(net, home, db)
    assert sorted((h["hostname"], tuple(h["sources"])) for h in inventory["hosts"]) == [
        ("app", ("nmap", "ssh")), ("db", ("nmap", "ssh"))]
    app, server = host_named(inventory, "app"), host_named(inventory, "db")
    to_postgres = [d for d in inventory["dependencies"] if d["target_host_id"] == server["id"] and d["target_port"] == 5432]
    # nmap's own probes (TIME_WAIT on db, from the scanner) are not dependencies; db's talk to itself is loopback.
    assert not [d for d in to_postgres if d["external"]]
    assert all(d["loopback"] for d in to_postgres if d["source_host_id"] == server["id"])
    to_postgres = [d for d in to_postgres if not d["loopback"]]
    assert len(to_postgres) == 1
    (dep,) = to_postgres
    assert (dep["source_host_id"], dep["source_process"]) == (app["id"], "emr_app")
    assert dep["target_service_id"] == f"{server['id']}:tcp/5432" and dep["target_product"] == "PostgreSQL DB"
    assert dep["target_process"] == "postgres" and dep["evidence"] == "observed" and dep["observed_by"] == ["ssh"]
    assert dep["connections"] == 1 and not dep["external"] and not dep["loopback"]
    assert inventory["coverage"] == []  # both hosts' own sockets were collected


def test_watch_samples_connections_over_the_same_connection(net, home, tmp_path):
    db = tmp_path / "estate.db"
    started = time.monotonic()
    result = scan_ssh(net, home, db, "root@app", "--watch", "3s", "--every", "1s")
    assert result.returncode == 0, result.stderr
    # A lower bound only, and a true one: the watch itself waits --every between its samples (3 x 1 s), so the
    # scan cannot end sooner however fast or slow the machine is. How much longer it takes is not asserted.
    assert time.monotonic() - started >= 3
    inventory = export(net, home, db)
    (to_postgres,) = [c for c in inventory["connections"] if c["target_port"] == 5432]
    assert to_postgres["source_process"] == "emr_app" and to_postgres["samples"] == 4
    assert to_postgres["first_seen"] < to_postgres["last_seen"]
    (scan,) = inventory["scans"]
    assert scan["arguments"].endswith("--watch 3s --every 1s")


@contextlib.contextmanager
def tarpit(net):
    """A listener on ws:22 that accepts connections and never says a word (so SSH waits for a banner)."""
    ws = net.hosts["ws"]
    proc = ws.popen([sys.executable, "-u", "-c", TARPIT, ws.address, "22"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "tarpit: listening"
        yield ws, proc
    finally:
        stop_process(proc)


def established_on_22(host) -> int:
    out = host.run(["ss", "-Htn", "state", "established", "( sport = :22 )"], capture_output=True, text=True).stdout
    return len(out.splitlines())


def established_on_22_becomes(host, count: int, timeout: float = 30.0) -> int:
    """Poll (bounded) until `count` connections to port 22 are established in `host`; return the last count.
    The client's FIN reaches the tarpit's side asynchronously, so a single look right after the client closed
    may still see the connection."""
    deadline = time.monotonic() + timeout
    while (seen := established_on_22(host)) != count and time.monotonic() < deadline:
        time.sleep(0.1)
    return seen


def test_a_host_that_never_answers_times_out_alone(net, home, tmp_path):
    db = tmp_path / "estate.db"
    with tarpit(net) as (ws, _):
        started = time.monotonic()
        # ws never answers: without the per-host timeout this would hang until scan_ssh's own timeout (a failure).
        result = scan_ssh(net, home, db, "root@ws", "root@db", "--timeout", "3")
        took = time.monotonic() - started
        assert established_on_22_becomes(ws, 0) == 0  # the timed-out connection was closed
    assert result.returncode == 1
    # A true lower bound: the scan cannot end before ws has been given its 3 s. No upper bound: the promise is the
    # timeout's outcome (the warning, db stored alone), not how fast a loaded machine gets there.
    assert took >= 3
    assert "warning: root@ws: timed out after 3 s (connecting)" in result.stderr
    assert [h["hostname"] for h in export(net, home, db)["hosts"]] == ["db"]


def test_ctrl_c_keeps_finished_hosts_and_closes_outstanding_connections(net, home, tmp_path):
    db = tmp_path / "estate.db"
    with tarpit(net) as (ws, _):
        proc = net.scanner.popen([sys.executable, str(ROOT / "main.py"), "--db", db, "scan", "ssh", "root@ws",
                                  "root@db", "root@web", "--key", net.ssh_client_key, "--known-hosts",
                                  net.ssh_known_hosts, "--timeout", "300"], cwd=ROOT, env=environment(home),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline, kept = time.monotonic() + 240, 0
            while time.monotonic() < deadline and proc.poll() is None and kept < 2:
                time.sleep(0.2)
                with contextlib.suppress(sqlite3.Error):
                    with sqlite3.connect(db, timeout=1) as conn:
                        kept = conn.execute("SELECT count(*) FROM observations").fetchone()[0]
            assert kept == 2 and proc.poll() is None, "db and web were not stored while ws hung"
            assert established_on_22(ws) == 1
            proc.send_signal(signal.SIGINT)
            # ws would hold the scan for its 300 s timeout: ending within this wait at all is the prompt stop.
            _, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 1
        finally:
            stop_process(proc)
        assert established_on_22_becomes(ws, 0) == 0  # the outstanding connection was closed
    assert "interrupted; the 2 host(s) finished before are kept" in stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM scans").fetchone()[0] == "interrupted"
        assert sorted(r[0] for r in conn.execute("SELECT hostname FROM hosts")) == ["db", "web"]


def test_analyze_after_collection_groups_the_app_with_what_it_depends_on(net, home, collected):
    _, db, _, _ = collected
    result = estatemap(net, home, "--db", db, "analyze", "--as-of", "2026-11-28")
    assert result.returncode == 0, result.stderr
    inventory = export(net, home, db)
    app, server, web = (host_named(inventory, name) for name in ("app", "db", "web"))
    (group,) = [g for g in inventory["groups"] if app["id"] in g["host_ids"]]
    assert sorted(group["host_ids"]) == sorted([app["id"], server["id"], web["id"]])
    assert len(group["edges"]) == 2 and group["explanation"]
    factors = {f["factor"] for f in server["risk_factors"]}
    assert {"dependents", "data"} <= factors and server["risk_score"] > 0
    assert inventory["analysis"]["as_of"] == "2026-11-28"
    assert all(f["evidence"] and f["recommendation"] for f in inventory["findings"])
