"""--remember-password with a real OS keyring: GNOME Keyring's Secret Service on a D-Bus session bus of its own.

The fixture starts `dbus-daemon --session` and `gnome-keyring-daemon --unlock --components=secrets` (both by
PID, with HOME and XDG folders inside the test's temporary folder), so nothing of this machine's own keyring is
touched; `secret-tool` (libsecret) reads back what estatemap stored. The program runs in the scanner host of a
namespace test network where app's sshd takes a root password and db's PostgreSQL a role with a password.
"""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.integration.network import find_tool, running_network, stop_process
from tests.integration.test_snmp_scan import COMMUNITY, snmp_agent
from tests.integration.test_ssh_scan import run_in_terminal

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

APP_PASSWORD = "app-root-Kr-9931"
DB_PASSWORD = "monitor-Kr-5520"
KEYRING_UNLOCK = "test-keyring-unlock"
BUS_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def net():
    """app runs sshd and takes APP_PASSWORD for root (no key is offered); db has a role `monitor` that must
    give DB_PASSWORD (scram-sha-256) from the test subnet."""
    with running_network(("scanner", "db", "web", "app"), sshd_hosts=("app",),
                         root_passwords={"app": APP_PASSWORD}) as network:
        db = network.hosts["db"]
        hba = network.tmp_dir / "db" / "pgdata" / "pg_hba.conf"
        hba.write_text(f"host all monitor {network.subnet} scram-sha-256\n" + hba.read_text())
        result = db.run([find_tool("psql"), "-h", db.address, "-U", "postgres", "-d", "postgres", "-v",
                         "ON_ERROR_STOP=1", "-c", f"CREATE ROLE monitor LOGIN PASSWORD '{DB_PASSWORD}' "
                                                  "IN ROLE pg_read_all_stats", "-c", "SELECT pg_reload_conf()"],
                        capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        yield network


@pytest.fixture(scope="module")
def secret_service(tmp_path_factory):
    """A session bus and an unlocked GNOME Keyring on it; yields the environment that reaches them."""
    base = tmp_path_factory.mktemp("keyring")
    home, runtime = base / "home", base / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID", "DISPLAY")}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_CONFIG_HOME=str(home / ".config"))
    bus = subprocess.Popen([find_tool("dbus-daemon"), "--session", "--nofork", "--nopidfile", "--print-address=1",
                            f"--address=unix:path={runtime / 'bus'}"], stdout=subprocess.PIPE, text=True, env=env,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    keyring_daemon = None
    try:
        ready, _, _ = select.select([bus.stdout], [], [], BUS_TIMEOUT)
        assert ready, "dbus-daemon did not print its address"
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
        keyring_daemon = subprocess.Popen([find_tool("gnome-keyring-daemon"), "--foreground", "--unlock",
                                           "--components=secrets"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        keyring_daemon.stdin.write(KEYRING_UNLOCK.encode())
        keyring_daemon.stdin.close()
        deadline = time.monotonic() + BUS_TIMEOUT
        while True:  # ready once the Secret Service answers a lookup
            probe = subprocess.run([find_tool("secret-tool"), "search", "service", "estatemap-probe"],
                                   capture_output=True, text=True, env=env, timeout=BUS_TIMEOUT)
            if probe.returncode in (0, 1) and "not provided" not in probe.stderr and "ServiceUnknown" not in probe.stderr:
                break
            assert time.monotonic() < deadline, f"the Secret Service did not come up: {probe.stderr}"
            time.sleep(0.1)
        yield env
    finally:
        if keyring_daemon is not None:
            stop_process(keyring_daemon)
        stop_process(bus)


def lookup(env, account: str) -> str | None:
    """What the Secret Service holds for estatemap's `account`, read with libsecret's secret-tool."""
    result = subprocess.run([find_tool("secret-tool"), "lookup", "service", "estatemap", "username", account],
                            capture_output=True, text=True, env=env, timeout=BUS_TIMEOUT)
    return result.stdout if result.returncode == 0 and result.stdout else None


def estatemap(net, env, *argv, input=None, timeout=180):
    return net.scanner.run([sys.executable, str(ROOT / "main.py"), *map(str, argv)], capture_output=True, text=True,
                           timeout=timeout, cwd=ROOT, env=env, input=input)


def files_holding(folder: Path, secret: str) -> list[str]:
    """Files under `folder` whose bytes, or (for zip files: xlsx, csv) whose members' bytes, hold `secret`."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if secret.encode() in data:
            found.append(path.name)
        elif zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                found += [f"{path.name}:{n}" for n in archive.namelist() if secret.encode() in archive.read(n)]
    return found


def export_all(net, env, db: Path) -> dict:
    """Write every export next to the store; return the JSON one."""
    for fmt, suffix in (("json", "json"), ("xlsx", "xlsx"), ("csv", "zip"), ("graphml", "graphml")):
        result = estatemap(net, env, "--db", db, "export", "-f", fmt, "-o", db.with_name(f"export.{suffix}"), "--force")
        assert result.returncode == 0, result.stderr
    return json.loads(db.with_name("export.json").read_text())


def test_remembered_ssh_password_logs_in_without_asking_and_is_stored_nowhere_else(net, secret_service, tmp_path):
    env = secret_service
    known = ["--known-hosts", net.ssh_known_hosts]
    first = tmp_path / "first" / "estate.db"
    first.parent.mkdir()
    # Without a remembered password and without a terminal, app cannot be logged in to.
    before = estatemap(net, env, "--db", tmp_path / "none.db", "scan", "ssh", "root@app", *known)
    assert before.returncode == 1 and "can only be typed in a terminal" in before.stderr
    # Typed once, with --remember-password: stored in the Secret Service.
    status, shown = run_in_terminal(net, env, ["--db", first, "scan", "ssh", "root@app", *known,
                                               "--remember-password"], {"Password for root": APP_PASSWORD})
    assert status == 0, shown
    assert "Remembered the password for ssh:root@app in the OS keyring." in shown
    assert lookup(env, "ssh:root@app") == APP_PASSWORD
    # Next time: no terminal, no flag, logged in with the remembered password.
    second = tmp_path / "second" / "estate.db"
    second.parent.mkdir()
    again = estatemap(net, env, "--db", second, "scan", "ssh", "root@app", *known)
    assert again.returncode == 0, again.stderr
    inventory = export_all(net, env, second)
    assert [h["hostname"] for h in inventory["hosts"]] == ["app"]
    export_all(net, env, first)
    # The password is in no store, WAL, export or keyring file in plain text.
    assert files_holding(tmp_path, APP_PASSWORD) == []
    assert files_holding(Path(env["HOME"]), APP_PASSWORD) == []
    assert any((Path(env["XDG_DATA_HOME"]) / "keyrings").iterdir())  # GNOME Keyring did write its (encrypted) file
    # Forgotten: gone from the keyring, and the host can no longer be logged in to without a terminal.
    forget = estatemap(net, env, "scan", "ssh", "root@app", "--forget-password")
    assert forget.returncode == 0, forget.stderr
    assert forget.stdout.strip() == "Forgot the password remembered for ssh:root@app."
    assert lookup(env, "ssh:root@app") is None
    after = estatemap(net, env, "--db", tmp_path / "after.db", "scan", "ssh", "root@app", *known)
    assert after.returncode == 1 and "can only be typed in a terminal" in after.stderr


def test_remembered_password_is_never_offered_to_a_host_whose_key_changed(net, secret_service, tmp_path):
    env = secret_service
    stored = estatemap(net, env, "--db", tmp_path / "store.db", "scan", "ssh", "root@app", "--known-hosts",
                       net.ssh_known_hosts, "--remember-password")
    assert stored.returncode == 1  # no terminal to type it: nothing remembered yet
    subprocess.run([find_tool("secret-tool"), "store", "--label", "test", "service", "estatemap", "username",
                    "ssh:root@app"], input=APP_PASSWORD, text=True, env=env, check=True, timeout=BUS_TIMEOUT)
    other, known = tmp_path / "other_key", tmp_path / "known_hosts"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    known.write_text("app " + " ".join(other.with_suffix(".pub").read_text().split()[:2]) + "\n")
    log = net.hosts["app"].daemons["sshd"].log
    log_before = log.read_text(errors="replace")
    try:
        result = estatemap(net, env, "--db", tmp_path / "changed.db", "scan", "ssh", "root@app", "--known-hosts", known)
    finally:
        subprocess.run([find_tool("secret-tool"), "clear", "service", "estatemap", "username", "ssh:root@app"],
                       env=env, timeout=BUS_TIMEOUT)
    assert result.returncode == 1
    assert "root@app: HOST KEY CHANGED" in result.stderr
    new_log = log.read_text(errors="replace")[len(log_before):]
    assert "password" not in new_log.lower()  # sshd never saw a password attempt


def test_remembered_database_password_connects_without_asking(net, secret_service, tmp_path):
    env = secret_service
    url = "postgresql://monitor@db/postgres"
    account = "postgresql:monitor@db:5432"
    without = estatemap(net, env, "--db", tmp_path / "none.db", "scan", "database", url)
    assert without.returncode == 1 and "password" in without.stderr
    first = estatemap(net, env, "--db", tmp_path / "first.db", "scan", "database", url, "--password-stdin",
                      "--remember-password", input=DB_PASSWORD + "\n")
    assert first.returncode == 0, first.stderr
    assert f"Remembered the password for {account} in the OS keyring." in first.stdout
    assert lookup(env, account) == DB_PASSWORD
    store = tmp_path / "again" / "estate.db"
    store.parent.mkdir()
    again = estatemap(net, env, "--db", store, "scan", "database", url)
    assert again.returncode == 0, again.stderr
    inventory = export_all(net, env, store)
    assert [d["engine"] for d in inventory["databases"]] == ["postgresql"]
    assert files_holding(tmp_path, DB_PASSWORD) == []
    forget = estatemap(net, env, "scan", "database", url, "--forget-password")
    assert forget.returncode == 0 and lookup(env, account) is None


def test_remembered_snmp_community_is_used_per_agent_and_forgotten(net, secret_service, tmp_path):
    env, db = secret_service, net.hosts["db"]
    account = f"snmp:v2c@{db.address}:161"
    with snmp_agent(db):
        without = estatemap(net, env, "--db", tmp_path / "none.db", "scan", "snmp", db.address)
        assert without.returncode == 1 and "none is remembered" in without.stderr, without.stderr
        first = estatemap(net, env, "--db", tmp_path / "first.db", "scan", "snmp", db.address, "--community-stdin",
                          "--remember-password", "--timeout", "0.5", "--retries", "0",
                          input=f"public\n{COMMUNITY}\n")
        assert first.returncode == 0, first.stderr
        assert f"Remembered the password for {account} in the OS keyring." in first.stdout
        assert lookup(env, account) == COMMUNITY  # the one that answered, not the first given
        store = tmp_path / "again" / "estate.db"
        store.parent.mkdir()
        again = estatemap(net, env, "--db", store, "scan", "snmp", db.address)
        assert again.returncode == 0, again.stderr
        (host,) = export_all(net, env, store)["hosts"]
        (system,) = [s for s in host["scripts"] if s["id"] == "snmp-system"]
        assert system["data"]["credential"] == "v2c community (remembered)"
    assert files_holding(tmp_path, COMMUNITY) == []
    forget = estatemap(net, env, "scan", "snmp", db.address, "--forget-password")
    assert forget.returncode == 0 and lookup(env, account) is None


def test_remember_password_without_a_keyring_says_why_and_contacts_nothing(net, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env["HOME"] = str(tmp_path)
    for argv in (["scan", "ssh", "root@app", "--remember-password"],
                 ["scan", "database", "postgresql://monitor@db/postgres", "--password-stdin", "--remember-password"]):
        result = estatemap(net, env, "--db", tmp_path / "estate.db", *argv, input=DB_PASSWORD + "\n")
        assert result.returncode == 1
        assert "no usable OS keyring for remembered passwords (found: keyring.backends.fail.Keyring)" in result.stderr
        assert "DBUS_SESSION_BUS_ADDRESS is not set" in result.stderr
        assert not (tmp_path / "estate.db").exists()  # refused before any scan started
    assert files_holding(tmp_path, DB_PASSWORD) == []
