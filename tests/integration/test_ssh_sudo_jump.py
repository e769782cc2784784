"""`scan ssh` the way enterprises allow it, in the namespace test network: a service account escalating with sudo
(a least-privilege rule, with and without NOPASSWD), a backend reachable only through a bastion (ProxyJump in
~/.ssh/config), per-host users and ports.

The network (built once for this module): scanner 10.203.0.5; bastion 10.203.0.70 and 10.204.0.70, whose sshd
refuses root and has the account jump (no sudo); backend 10.204.0.10 on the inner subnet only, running sshd (root
by key), Redis as redis and a Redis client as nobody, with accounts svc (the README's sudoers rule, NOPASSWD),
svcpw (the same commands, with its password) and nosudo (not in sudoers). The program runs with HOME set to a
folder holding only ~/.ssh/config and ~/.ssh/known_hosts, no ssh-agent.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanners.linux_sudo import sudoers_rule
from tests.integration.network import JUMP_HOSTS, Account, running_network, stop_process
from tests.integration.test_keyring import files_holding, lookup, secret_service  # noqa: F401  (a fixture)
from tests.integration.test_ssh_scan import environment, export, run_in_terminal, secret_in_files

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

SUDO_PASSWORD = "Sudo-pw of svcpw 4711!"
NOSUDO_PASSWORD = "nosudo-Pw-0815"
ACCOUNTS = {
    "bastion": (Account("jump", 2101),),
    "backend": (Account("svc", 2102, sudoers=(sudoers_rule("svc"),)),
                Account("svcpw", 2103, password=SUDO_PASSWORD,
                        sudoers=(sudoers_rule("svcpw").replace("NOPASSWD: ", ""),)),
                Account("nosudo", 2104, password=NOSUDO_PASSWORD)),
}
CLOSING = ("TIME_WAIT", "FIN_WAIT1", "FIN_WAIT2", "CLOSE_WAIT", "LAST_ACK", "CLOSING", "time_wait", "fin_wait1",
           "fin_wait2", "close_wait", "last_ack", "closing")
SESSION = re.compile(r"^sshd: \S+(@notty| \[priv\])$")
SAMPLER = """
import json, os, sys, time
secret = sys.stdin.readline().rstrip("\\n").encode()
stop, limit = sys.argv[1], float(sys.argv[2])
hits, seen, samples, started = [], set(), 0, time.monotonic()
while not os.path.exists(stop) and time.monotonic() - started < limit and samples < 2_000_000:
    samples += 1
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if cmdline:
            seen.add(os.path.basename(cmdline.split(b"\\0")[0]).decode(errors="replace"))
        if secret in cmdline:
            hits.append(cmdline.replace(secret, b"<SECRET>").decode(errors="replace"))
    time.sleep(0.001)
print(json.dumps({"samples": samples, "hits": hits, "seen": sorted(seen)}), flush=True)
"""


@pytest.fixture(scope="module")
def net():
    with running_network(("scanner",), extra_hosts=JUMP_HOSTS, sshd_hosts=("bastion", "backend"),
                         accounts=ACCOUNTS, refuse_root=("bastion",)) as network:
        yield network


@pytest.fixture(scope="module")
def home(net, tmp_path_factory):
    """A home folder with an ssh config of aliases and jump hosts, and the network's known_hosts as the user's."""
    home = tmp_path_factory.mktemp("home")
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700)
    key = net.ssh_client_key
    (ssh / "known_hosts").write_text(net.ssh_known_hosts.read_text())
    (ssh / "config").write_text(f"""
Host bastion
    HostName 10.203.0.70
    User jump
    IdentityFile {key}

Host backend
    HostName 10.204.0.10
    User svc
    ProxyJump bastion
    IdentityFile {key}

Host backend-root
    HostName 10.204.0.10
    User root
    ProxyJump bastion
    IdentityFile {key}

Host backend-twice
    HostName 10.204.0.10
    User root
    ProxyJump jump@bastion:22,svc@10.204.0.10
    IdentityFile {key}

Host via-closed-port
    HostName 10.204.0.10
    ProxyJump jump@10.203.0.70:2222

Host via-nobody
    HostName 10.204.0.10
    ProxyJump jump@10.203.0.99

Host via-root-bastion
    HostName 10.204.0.10
    ProxyJump root@bastion
    IdentityFile {key}

Host via-bastion-to-nowhere
    HostName 10.204.0.99
    ProxyJump bastion
    IdentityFile {key}
""")
    return home


def estatemap(net, home, *argv, timeout=180):
    return net.scanner.run([sys.executable, str(ROOT / "main.py"), *map(str, argv)], capture_output=True, text=True,
                           timeout=timeout, cwd=ROOT, env=environment(home), stdin=subprocess.DEVNULL)


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


def inventory_view(inventory: dict) -> dict:
    """What must be the same whichever way the backend was collected: the host, its services and their
    processes, its connections with the processes at both ends, and the processes that own sockets."""
    (host,) = inventory["hosts"]
    keep = ("hostname", "addresses", "macs", "os_name", "os_version", "kernel", "cpu_model", "cpu_cores",
            "memory_bytes", "vendor", "model", "serial", "hardware_uuid", "machine_id", "disks", "virtualization")
    services = sorted((s["protocol"], s["address"], s["port"], s["state"], s["name"], s["process"])
                      for s in inventory["services"])
    connections = sorted((c["source_address"], c["source_port"], c["source_process"], c["target_address"],
                          c["target_port"], c["target_process"], c["state"]) for c in inventory["connections"]
                         if c["state"] not in CLOSING)  # an earlier scan's session, closing: no process owns it
    owners = {s["process"] for s in inventory["services"]} | {c["source_process"] for c in inventory["connections"]}
    processes = sorted({(p["name"], p["username"]) for p in inventory["processes"] if p["name"] in owners
                        and not SESSION.match(p["cmdline"] or "")})  # the collector's own sshd session left out
    partitions = sorted((p["device"], p["mountpoint"], p["fstype"], p["total_bytes"]) for p in host["partitions"])
    databases = sorted((d["engine"], d["version"]) for d in inventory["databases"])
    return {"host": {**{k: host.get(k) for k in keep}, "partitions": partitions}, "databases": databases,
            "services": services, "connections": connections,
            "processes": processes}


@pytest.fixture(scope="module")
def root_view(net, home, tmp_path_factory):
    """The backend collected by a root login through the bastion: what sudo must match."""
    db = tmp_path_factory.mktemp("root") / "estate.db"
    result = estatemap(net, home, "--db", db, "scan", "ssh", "backend-root")
    assert result.returncode == 0, result.stderr
    assert warnings_of(result.stderr) == []
    return export(net, home, db)


def test_sudo_through_the_bastion_gives_what_a_root_login_gives(net, home, root_view, tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# the backend, as its alias says: svc through the bastion\nbackend\n")
    db = tmp_path / "estate.db"
    result = estatemap(net, home, "--db", db, "scan", "ssh", "--hosts-file", hosts, "--sudo")
    assert result.returncode == 0, result.stderr
    assert warnings_of(result.stderr) == []
    inventory = export(net, home, db)
    assert inventory["scans"][0]["arguments"].startswith("scan ssh --port 22 --sudo")
    sudo, root = inventory_view(inventory), inventory_view(root_view)
    for part in ("host", "databases", "services", "connections", "processes"):
        assert sudo[part] == root[part], part
    (redis,) = sudo["databases"]
    assert redis[0] == "redis" and redis[1]  # its version asked from the binary redis runs, as svc
    # the whole socket-to-process inventory, root's and other users' daemons included
    by_port = {(s[0], s[2]): s[5] for s in sudo["services"]}
    assert by_port[("tcp", 22)] == "sshd" and by_port[("tcp", 6379)] == "redis-server"
    users = dict(sudo["processes"])
    assert users["sshd"] == "root" and users["redis-server"] == "redis" and users["python3"] == "nobody"
    (client,) = [c for c in sudo["connections"] if c[4] == 6379]
    assert (client[2], client[5]) == ("python3", "redis-server")
    host = inventory["hosts"][0]
    assert host["hostname"] == "backend" and host["addresses"] == ["10.204.0.10"]
    with sqlite3.connect(db) as conn:
        jumps = conn.execute("SELECT text FROM evidence WHERE name = 'ssh-jump-hosts'").fetchall()
        session = conn.execute("SELECT text FROM evidence WHERE name = 'ssh-session'").fetchone()[0]
    assert jumps == [("jump@10.203.0.70:22",)]
    assert session.split()[0] == "10.204.0.70"  # the backend saw the bastion's inner leg, not the scanner


def test_the_same_login_without_sudo_loses_the_owners_of_other_users_sockets(net, home, root_view, tmp_path):
    db = tmp_path / "estate.db"
    result = estatemap(net, home, "--db", db, "scan", "ssh", "backend")
    assert result.returncode == 0, result.stderr
    view = inventory_view(export(net, home, db))
    assert view["services"] != inventory_view(root_view)["services"]
    assert {s[5] for s in view["services"] if s[2] in (22, 6379)} == {None}


def sample_cmdlines(net, hosts: list[str], secret: str, stop: Path, limit: float) -> list[subprocess.Popen]:
    """Start a sampler of /proc/*/cmdline inside each host (its own /proc), the secret given on its stdin."""
    samplers = []
    for name in hosts:
        proc = net.hosts[name].popen([sys.executable, "-c", SAMPLER, stop, str(limit)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        proc.stdin.write(secret + "\n")
        proc.stdin.flush()
        samplers.append(proc)
    return samplers


def test_sudo_password_is_asked_once_sent_only_to_sudo_and_never_stored_or_on_a_command_line(net, home, tmp_path):
    db, stop = tmp_path / "estate.db", tmp_path / "stop-sampling"
    samplers = sample_cmdlines(net, ["backend", "bastion"], SUDO_PASSWORD, stop, limit=170)
    try:
        status, shown = run_in_terminal(net, environment(home), [
            "--db", db, "scan", "ssh", "svcpw@backend", "--sudo", "--watch", "3s", "--every", "1s"],
            {"sudo password for svcpw": SUDO_PASSWORD}, timeout=150)
    finally:
        stop.touch()
        results = []
        for proc in samplers:
            try:
                out, err = proc.communicate(timeout=30)
            finally:
                stop_process(proc)
            results.append((out, err))
    assert status == 0, shown
    assert shown.count("sudo password for svcpw") == 1 and SUDO_PASSWORD not in shown
    assert "warning" not in shown.lower()
    for out, err in results:
        sampled = json.loads(out)
        assert sampled["hits"] == [] and sampled["samples"] > 100, err
    backend_seen = json.loads(results[0][0])["seen"]
    assert "sudo" in backend_seen or "ss" in backend_seen  # the samples overlapped the privileged commands
    inventory = export(net, home, db)
    assert inventory_view(inventory)["services"] == sorted(inventory_view(inventory)["services"])
    assert {s["process"] for s in inventory["services"] if s["port"] in (22, 6379)} == {"sshd", "redis-server"}
    for fmt in ("csv", "xlsx", "graphml"):
        out = estatemap(net, home, "--db", db, "export", "-f", fmt, "-o", tmp_path / f"estate.{fmt}")
        assert out.returncode == 0, out.stderr
    # the store, its WAL if one is left, the JSON, CSV, workbook and GraphML exports (zip members too)
    assert {p.name for p in tmp_path.iterdir()} >= {"estate.db", "estate.json", "estate.csv", "estate.xlsx"}
    assert files_holding(tmp_path, SUDO_PASSWORD) == []


def test_a_host_where_sudo_is_refused_is_collected_as_the_login_sees_it_with_one_warning(net, home, tmp_path):
    db = tmp_path / "estate.db"
    status, shown = run_in_terminal(net, environment(home), ["--db", db, "scan", "ssh", "nosudo@backend", "--sudo"],
                                    {"sudo password for nosudo": NOSUDO_PASSWORD}, timeout=120)
    assert status == 0, shown
    warnings = [line.strip() for line in shown.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, shown
    assert warnings[0].startswith("warning: nosudo@backend: --sudo: ")
    assert "nosudo is not in the sudoers file" in warnings[0] or "not allowed" in warnings[0], warnings[0]
    assert "; collected what nosudo can see. Lost: sockets of other users' processes: their owning processes are " \
           "unknown (" in warnings[0]
    inventory = export(net, home, db)
    assert {s["process"] for s in inventory["services"] if s["port"] == 6379} == {None}
    assert NOSUDO_PASSWORD not in shown and secret_in_files(tmp_path, NOSUDO_PASSWORD) == []


def test_without_a_terminal_a_sudo_password_cannot_be_asked_one_warning_says_so(net, home, tmp_path):
    db = tmp_path / "estate.db"
    result = estatemap(net, home, "--db", db, "scan", "ssh", "jump@bastion:22", "--sudo")
    assert result.returncode == 0, result.stderr
    (warning,) = warnings_of(result.stderr)
    assert warning.startswith("warning: jump@bastion:22: --sudo: sudo wants a password and none was given; "
                              "collected what jump can see. Lost: ")


def test_two_jump_hosts_in_a_row(net, home, tmp_path):
    result = estatemap(net, home, "--db", tmp_path / "estate.db", "scan", "ssh", "backend-twice", "--key",
                       net.ssh_client_key)  # the second jump host, 10.204.0.10, has no IdentityFile of its own
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "estate.db") as conn:
        assert conn.execute("SELECT text FROM evidence WHERE name = 'ssh-jump-hosts'").fetchall() == [
            ("jump@10.203.0.70:22 svc@10.204.0.10:22",)]


def test_jump_host_failures_are_one_clear_line_each(net, home, tmp_path):
    only_backend = tmp_path / "known_hosts"
    only_backend.write_text("".join(line for line in net.ssh_known_hosts.read_text().splitlines(keepends=True)
                                    if "backend" in line))
    result = estatemap(net, home, "--db", tmp_path / "a.db", "scan", "ssh", "via-closed-port", "via-root-bastion",
                       "via-bastion-to-nowhere", "via-nobody", "--timeout", "8")
    unknown = estatemap(net, home, "--db", tmp_path / "b.db", "scan", "ssh", "backend", "--known-hosts", only_backend)
    assert result.returncode == 1 and unknown.returncode == 1
    lines = {line.split(": ", 2)[1]: line.split(": ", 2)[2] for line in warnings_of(result.stderr + unknown.stderr)}
    assert lines["via-closed-port"] == ("jump host jump@10.203.0.70 port 2222: connection refused on port 2222 "
                                        "(no SSH server listening)")
    assert lines["via-root-bastion"] == ("jump host root@bastion (10.203.0.70): authentication failed for root: no "
                                         "key was accepted (use --key, ssh-agent or --user)")
    assert lines["via-bastion-to-nowhere"].startswith("the jump host jump@bastion (10.203.0.70) could not reach "
                                                      "10.204.0.99 port 22: ")
    assert lines["via-nobody"] in ("jump host jump@10.203.0.99: timed out after 8 s (connecting)",
                                   "jump host jump@10.203.0.99: cannot connect to 10.203.0.99 port 22: No route to host")
    assert lines["backend"].startswith("jump host jump@bastion (10.203.0.70): unknown host key ssh-ed25519 SHA256:")
    assert f"not in {only_backend}; check the fingerprint" in lines["backend"]


def test_a_sudo_password_remembered_in_the_os_keyring_is_used_without_asking(net, home, secret_service, tmp_path):
    env = {**secret_service, "HOME": str(home)}  # the keyring's bus, and the ssh config with the bastion
    status, shown = run_in_terminal(net, env, ["--db", tmp_path / "first.db", "scan", "ssh", "svcpw@backend",
                                               "--sudo", "--remember-password"],
                                    {"sudo password for svcpw": SUDO_PASSWORD}, timeout=120)
    assert status == 0, shown
    assert "Remembered the password for sudo:svcpw@backend in the OS keyring." in shown
    assert lookup(secret_service, "sudo:svcpw@backend") == SUDO_PASSWORD
    db = tmp_path / "again.db"
    again = estatemap_env(net, env, "--db", db, "scan", "ssh", "svcpw@backend", "--sudo")  # no terminal
    assert again.returncode == 0 and warnings_of(again.stderr) == [], again.stderr
    inventory = export(net, home, db)
    assert {s["process"] for s in inventory["services"] if s["port"] in (22, 6379)} == {"sshd", "redis-server"}
    forget = estatemap_env(net, env, "scan", "ssh", "svcpw@backend", "--sudo", "--forget-password")
    assert "Forgot the password remembered for sudo:svcpw@backend." in forget.stdout, forget.stderr
    assert lookup(secret_service, "sudo:svcpw@backend") is None
    assert files_holding(tmp_path, SUDO_PASSWORD) == []


def estatemap_env(net, env, *argv, timeout=180):
    return net.scanner.run([sys.executable, str(ROOT / "main.py"), *map(str, argv)], capture_output=True, text=True,
                           timeout=timeout, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
