"""Unit tests for scanners/ssh_host.py.

Parsers are tested from output recorded over real SSH on the namespace test network's db, web and app hosts
(tests/data/ssh/, re-recorded with tests/data/ssh/record.py); the remote script runs for real in a local `sh`
(with stand-in tools) to test the fallback order; the scanner's scheduling runs with the per-host work
replaced, so these tests need no SSH server.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import asyncssh
import pytest

from discovery.records.model import EstateError, HostReport, Host, ScanCancelled, ScanContext
from discovery.records.targets import TargetError
from scanners import linux_commands, ssh_host
from scanners.host_facts import transform_disks, transform_host_addresses
from scanners.linux_commands import (
    COMMANDS, CommandResult, HostFailed, build_inventory_script, build_script, get_outputs, new_marker,
    transform_database_candidates, transform_df, transform_inventory, transform_ip, transform_lsblk,
    transform_lscpu, transform_meminfo, transform_netstat, transform_proc_cpuinfo, transform_proc_net, transform_ps,
    transform_sample, transform_sections, transform_session, transform_ss, transform_sys_block, transform_sys_net,
    version_commands, wrap_command,
)
from scanners.ssh_host import (
    KeyPassphraseNeeded, KnownHosts, SshHostScanner, _HostKeyCheck, load_client_keys, load_hosts, parse_hosts_file,
    parse_ssh_target,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*bcrypt.kdf.. called with only:UserWarning")

DATA = Path(__file__).resolve().parent.parent / "data" / "ssh"
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
HOSTS = ("db", "web", "app")


def read(host: str, name: str) -> str:
    return (DATA / host / f"{name}.txt").read_text(encoding="utf-8")


def recorded_outputs(host: str, leave_out: tuple[str, ...] = ("netstat", "proc-net", "cpuinfo", "sys-block",
                                                                  "sys-net")) -> dict[str, CommandResult]:
    """The outputs of the inventory script as recorded on `host` (the fallbacks it did not run left out)."""
    status = json.loads((DATA / host / "status.json").read_text())
    return {name: CommandResult(stdout=read(host, name), stderr=error, status=code)
            for name, (code, error) in status.items() if name not in leave_out and not name.endswith("-tcp")}


def endpoints(sockets, with_pid=True):
    return sorted(((s["protocol"], s["local_address"], s["local_port"], s["remote_address"], s["remote_port"],
                    s["status"]) + ((s["pid"],) if with_pid else ()) for s in sockets), key=str)


# --- hosts ------------------------------------------------------------------------------------

def test_parse_ssh_target_accepts_hosts_addresses_and_user_at_host():
    assert parse_ssh_target("db01.Example.org.") == ssh_host.SshTarget("db01.example.org")
    assert parse_ssh_target("root@10.20.0.7") == ssh_host.SshTarget("10.20.0.7", "root")
    assert parse_ssh_target("svc_inv.2@[fe80::1]").host == "fe80::1"
    assert parse_ssh_target("admin@db01").text == "admin@db01"


@pytest.mark.parametrize("bad", [
    "", "-oProxyCommand=touch /tmp/x", "db01;reboot", "$(reboot)", "`id`", "root@", "@db01", "ro ot@db01",
    "r'oot@db01", "root@10.0.0.0/24", "10.0.0.1-5", "db01 db02", "a" * 300, "root@-db01", "db01|nc", "999.1.1.1",
])
def test_parse_ssh_target_refuses_bad_host_strings(bad):
    with pytest.raises(TargetError):
        parse_ssh_target(bad)


def test_parse_hosts_file_skips_comments_and_blank_lines():
    text = "# estate hosts\n\ndb01\n  root@10.20.0.7   # the app server\n#web01\nweb02\n"
    assert parse_hosts_file(text) == ["db01", "root@10.20.0.7", "web02"]


def test_parse_hosts_file_names_the_line_with_two_hosts():
    with pytest.raises(TargetError, match="line 2"):
        parse_hosts_file("db01\ndb02 db03\n")


def test_load_hosts_merges_arguments_and_file_without_duplicates(tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("db01\nroot@web01\nDB01\n")
    assert [t.text for t in load_hosts(["web01", "db01"], hosts)] == ["web01", "db01", "root@web01"]


def test_load_hosts_refuses_a_bad_line_in_the_file_and_a_missing_file(tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("db01\n$(reboot)\n")
    with pytest.raises(TargetError, match="reboot"):
        load_hosts([], hosts)
    with pytest.raises(TargetError, match="cannot read hosts file"):
        load_hosts([], tmp_path / "missing.txt")
    with pytest.raises(TargetError, match="no hosts"):
        load_hosts([])


# --- the remote script ------------------------------------------------------------------------

def test_every_remote_script_is_fixed_text_safe_inside_the_single_quoted_wrapper():
    scripts = [*COMMANDS.values(), build_inventory_script(new_marker()), *version_commands(1234)]
    for script in scripts:
        assert "'" not in script and "!" not in script and "\\\\" not in script, script
        assert wrap_command(script).startswith("env LC_ALL=C TZ=UTC PATH=")
    with pytest.raises(ValueError):
        wrap_command("echo 'x'")


def test_version_commands_take_only_an_integer_pid():
    assert version_commands(42) == ('stat -L -c "%u %f" /proc/42/exe', "timeout 5 /proc/42/exe --version")
    with pytest.raises(ValueError):
        version_commands("42; reboot")


def run_locally(script: str, path: str | None = None) -> str:
    env = {**os.environ, "LC_ALL": "C"}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL).stdout


def test_wrapped_script_runs_in_sh_with_its_dollars_and_tabs_intact():
    marker = new_marker()
    script = build_script(marker, {"pid": "echo $$", "tab": 'printf "a\\tb"', "fail": "false", "missing":
                                   "no-such-tool-xyz", "stderr": "echo out; echo err >&2"})
    sections = transform_sections(run_locally(wrap_command(script)), marker)
    assert sections["pid"].stdout.strip().isdigit()
    assert sections["tab"] == CommandResult(stdout="a\tb\n", stderr="", status=0)  # no newline of its own
    assert sections["fail"].status == 1 and not sections["fail"].ok
    assert sections["missing"].missing and "no-such-tool-xyz" in sections["missing"].stderr
    assert sections["stderr"] == CommandResult(stdout="out\n", stderr="err", status=0)


def test_transform_sections_ignores_text_that_only_looks_like_a_marker():
    marker = new_marker()
    text = (f"{marker} begin ps\n@@estatemap-0000000000000000 end ps 0\nreal line\n\n{marker} end ps 0\n"
            f"{marker} begin ss\nunfinished\n")
    sections = transform_sections(text, marker)
    assert sections["ps"].stdout == "@@estatemap-0000000000000000 end ps 0\nreal line\n"
    assert sections["ss"].status is None  # cut off: no exit status


def fake_tools(tmp_path: Path, tools: dict[str, str | None]) -> str:
    """Return a PATH whose first folder holds stand-ins: None = "not found" (exit 127), text = that output."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, output in tools.items():
        body = f"cat {tmp_path / (name + '.out')}\n" if output is not None else \
            f'echo "sh: 1: {name}: not found" >&2\nexit 127\n'
        if output is not None:
            (tmp_path / f"{name}.out").write_text(output)
        (folder / name).write_text("#!/bin/sh\n" + body)
        (folder / name).chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def sections_run(path: str) -> dict[str, CommandResult]:
    async def run_batch(script, marker):
        return CommandResult(stdout=run_locally(script, path))
    return asyncio.run(get_outputs(run_batch))


def test_inventory_script_falls_back_from_ss_to_netstat(tmp_path):
    path = fake_tools(tmp_path, {"ss": None, "netstat": read("db", "netstat"), "dpkg-query": "", "rpm": None})
    outputs = sections_run(path)
    assert outputs["ss"].missing and outputs["netstat"].ok and "proc-net" not in outputs
    assert list(outputs).index("ps") < list(outputs).index("ss") < list(outputs).index("netstat")
    inventory = transform_inventory(outputs, AT, port_names=lambda keys: {})
    assert "sockets: ss not found; used netstat" in inventory.warnings
    assert inventory.socket_tool == "netstat"


def test_inventory_script_falls_back_to_proc_net_when_ss_and_netstat_are_missing(tmp_path):
    path = fake_tools(tmp_path, {"ss": None, "netstat": None, "dpkg-query": "", "rpm": None})
    outputs = sections_run(path)
    assert outputs["ss"].missing and outputs["netstat"].missing
    assert "== tcp" in outputs["proc-net"].stdout and "== fd" in outputs["proc-net"].stdout
    inventory = transform_inventory(outputs, AT, port_names=lambda keys: {})
    assert "sockets: ss not found; netstat not found; used /proc/net" in inventory.warnings


def test_inventory_script_uses_ss_when_it_works_and_runs_no_fallback(tmp_path):
    path = fake_tools(tmp_path, {"ss": read("db", "ss"), "netstat": None, "dpkg-query": "", "rpm": None,
                                 "lscpu": None})
    outputs = sections_run(path)
    assert outputs["ss"].ok and "netstat" not in outputs and "proc-net" not in outputs
    assert outputs["lscpu"].missing and outputs["cpuinfo"].ok  # the other fallback group, in the same script
    inventory = transform_inventory(outputs, AT, port_names=lambda keys: {})
    assert "cpu: lscpu not found; used /proc/cpuinfo" in inventory.warnings
    assert inventory.report.host.cpu_model  # from /proc/cpuinfo


def test_get_outputs_fails_the_host_without_a_posix_shell():
    async def run_batch(script, marker):
        return CommandResult(stdout="", stderr="'env' is not recognized as an internal or external command", status=1)
    with pytest.raises(HostFailed, match="only Linux hosts"):
        asyncio.run(get_outputs(run_batch))


# --- parsers, from recorded output --------------------------------------------------------------

def test_transform_ss_recorded_db():
    sockets = transform_ss(read("db", "ss"))
    listening = {s["local_port"]: (s["name"], s["pid"]) for s in sockets if s["status"] == "LISTEN"}
    assert listening == {22: ("sshd", 7), 5432: ("postgres", 13), 6379: ("redis-server", 8)}
    clients = {(s["remote_address"], s["local_port"]) for s in sockets if s["status"] == "ESTABLISHED"}
    assert ("10.203.0.40", 5432) in clients and ("10.203.0.40", 6379) in clients
    assert all(s["protocol"] == "tcp" for s in sockets)


@pytest.mark.parametrize("host", HOSTS)
def test_ss_netstat_and_proc_net_recorded_on_one_host_give_the_same_sockets(host):
    from_ss = transform_ss(read(host, "ss"))
    assert endpoints(transform_netstat(read(host, "netstat")), False) == endpoints(from_ss, False)
    assert endpoints(transform_proc_net(read(host, "proc-net")), False) == endpoints(from_ss, False)
    # netstat and /proc/net name the same owner (ss lists nginx's worker first, they its master)
    assert endpoints(transform_netstat(read(host, "netstat"))) == endpoints(transform_proc_net(read(host, "proc-net")))


def test_transform_ss_reads_ipv6_udp_zones_and_several_owners():
    text = (  # ss -tunapH lines in the forms iproute2 prints them
        'udp   UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=600,fd=13))\n'
        'udp   ESTAB  0      0      10.0.0.5:40000    10.0.0.1:53   users:(("dig",pid=700,fd=3))\n'
        'tcp   LISTEN 0      511    *:80      *:*    users:(("nginx",pid=11,fd=6),("nginx",pid=10,fd=6))\n'
        'tcp   LISTEN 0      128    [::]:22   [::]:*\n'
        'tcp   ESTAB  0      0      [::ffff:10.0.0.5]:22   [::ffff:10.0.0.9]:51000 users:(("sshd",pid=90,fd=4))\n'
        'tcp   TIME-WAIT 0   0      [fe80::1%eth0]:443   [fe80::2%eth0]:60000\n')
    sockets = transform_ss(text)
    assert sockets[0] == {"protocol": "udp", "local_address": "127.0.0.53", "local_port": 53, "remote_address": None,
                          "remote_port": None, "status": "NONE", "pid": 600, "name": "systemd-resolve"}
    assert (sockets[1]["remote_address"], sockets[1]["remote_port"], sockets[1]["status"]) == ("10.0.0.1", 53, "NONE")
    assert (sockets[2]["local_address"], sockets[2]["pid"], sockets[2]["name"]) == ("::", 11, "nginx")
    assert (sockets[3]["local_address"], sockets[3]["pid"], sockets[3]["remote_address"]) == ("::", None, None)
    assert (sockets[4]["local_address"], sockets[4]["remote_port"]) == ("::ffff:10.0.0.5", 51000)
    assert (sockets[5]["local_address"], sockets[5]["status"]) == ("fe80::1", "TIME_WAIT")


def test_transform_netstat_reads_udp_without_state_and_tcp6():
    text = ("Active Internet connections (servers and established)\n"
            "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name\n"
            "tcp6       0      0 :::22                   :::*                    LISTEN      30/sshd: /usr/sbin/\n"
            "udp        0      0 0.0.0.0:68              0.0.0.0:*                           600/dhclient\n"
            "udp        0      0 10.0.0.5:40000          10.0.0.1:53             ESTABLISHED 700/dig\n"
            "tcp        0      0 10.0.0.5:22             10.0.0.9:51000          TIME_WAIT   -\n")
    sockets = transform_netstat(text)
    assert [(s["protocol"], s["local_address"], s["local_port"], s["status"], s["pid"]) for s in sockets] == [
        ("tcp", "::", 22, "LISTEN", 30), ("udp", "0.0.0.0", 68, "NONE", 600), ("udp", "10.0.0.5", 40000, "NONE", 700),
        ("tcp", "10.0.0.5", 22, "TIME_WAIT", None)]
    assert sockets[0]["name"] == "sshd: /usr/sbin/" and sockets[1]["remote_address"] is None


def test_transform_proc_net_reads_ipv6_and_big_endian_hosts():
    tcp6 = ("== tcp6\n  sl  local_address                         remote_address                        st\n"
            "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 "
            "00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n"
            "   1: 0000000000000000FFFF00000500000A:0016 0000000000000000FFFF00000900000A:C738 01 00000000:00000000 "
            "00:00000000 00000000     0        0 4343 1 0 20 4 30 10 -1\n"
            "== fd\n/proc/90/fd:\nlrwx------ 1 root root 64 Jan  1 00:00 4 -> socket:[4343]\n")
    listen, established = transform_proc_net(tcp6)
    assert (listen["local_address"], listen["local_port"], listen["status"], listen["pid"]) == ("::", 22, "LISTEN", None)
    assert (established["local_address"], established["remote_address"], established["remote_port"],
            established["pid"]) == ("::ffff:10.0.0.5", "::ffff:10.0.0.9", 51000, 90)
    big = "== tcp\n   0: 0A00CB0A:1538 0A00CB28:D30C 01 0 0 0 0 0 99\n"
    (sock,) = transform_proc_net(big, byteorder="big")
    assert (sock["local_address"], sock["remote_address"]) == ("10.0.203.10", "10.0.203.40")
    (sock,) = transform_proc_net(big)
    assert (sock["local_address"], sock["remote_address"]) == ("10.203.0.10", "40.203.0.10")


def test_transform_ps_recorded_app():
    rows = transform_ps(read("app", "ps"))
    by_name = {row["comm"]: row for row in rows}
    assert set(by_name) == {"python", "sshd", "emr_app", "sh", "ps"}
    app = by_name["emr_app"]
    assert app["pid"] == 9 and app["ppid"] == 0 and app["user"] == "root"
    assert app["args"].endswith("emr_app.py --postgres 10.203.0.10:5432 --redis 10.203.0.10:6379 --http 10.203.0.20:80")
    assert app["started_at"].tzinfo == timezone.utc and app["started_at"].year >= 2025


def test_transform_ps_reads_names_with_spaces_kernel_threads_and_long_names():
    text = ("    PID    PPID USER     STARTED COMMAND         COMMAND\n"
            "      2       0 root     Sat Nov 28 02:27:01 2026 kthreadd        [kthreadd]\n"
            "      4       2 root     Sat Nov 28 02:27:01 2026 kworker/R-rcu_g [kworker/R-rcu_gp]\n"
            "    812       1 root     Mon Dec  1 09:05:07 2025 tmux: server    tmux new -s ops\n")
    rows = transform_ps(text)
    assert [(r["pid"], r["comm"], r["args"]) for r in rows] == [
        (2, "kthreadd", "[kthreadd]"), (4, "kworker/R-rcu_g", "[kworker/R-rcu_gp]"), (812, "tmux: server", "tmux new -s ops")]
    assert rows[2]["started_at"] == datetime(2025, 12, 1, 9, 5, 7, tzinfo=timezone.utc)
    processes = linux_commands.transform_processes(rows, AT)
    assert processes[0].cmdline is None and processes[2].cmdline == "tmux new -s ops" and processes[0].source == "ssh"


def test_transform_session_recorded_app_marks_the_collectors_own_session():
    rows = transform_ps(read("app", "ps"))
    session = transform_session(read("app", "session"), rows)
    client, client_port, server_address, server_port = read("app", "session").splitlines()[0].split()
    assert session["marker"] == f"{client} {client_port} {server_port}" == "10.203.0.5 37864 22"
    by_pid = {row["pid"]: row for row in rows}
    assert [by_pid[pid]["args"] for pid in session["sshd_pids"]] == ["sshd: root@notty"]
    assert sorted(by_pid[pid]["comm"] for pid in session["own_pids"]) == ["ps", "sh"]
    assert session["uid"] == 0
    sshd = next(s for s in transform_ss(read("app", "ss")) if s["remote_port"] == int(client_port))
    assert sshd["pid"] in session["sshd_pids"] and sshd["local_port"] == int(server_port)


def test_transform_session_without_ssh_connection_has_no_marker():
    assert transform_session("\n1000\n55\n", [])["marker"] is None


def test_transform_lscpu_and_proc_cpuinfo_recorded_agree():
    lscpu = transform_lscpu(read("db", "lscpu"))
    assert lscpu["cpu_model"] == "Intel(R) Xeon(R) Processor"
    assert (lscpu["cpu_logical"], lscpu["cpu_physical"]) == (2, 2)
    cpuinfo = transform_proc_cpuinfo(read("db", "cpuinfo"))
    assert cpuinfo["cpu_model"] == lscpu["cpu_model"] and cpuinfo["cpu_logical"] == lscpu["cpu_logical"]


def test_transform_meminfo_recorded():
    memory = transform_meminfo(read("db", "meminfo"))
    first = read("db", "meminfo").splitlines()[0].split()
    assert first[0] == "MemTotal:" and memory["memory_total"] == int(first[1]) * 1024
    assert memory["swap_total"] == 0


def test_transform_df_recorded_keeps_storage_only():
    partitions = transform_df(read("db", "df"))
    assert [(p["device"], p["mountpoint"], p["fstype"]) for p in partitions] == [("/dev/vda", "/", "ext4")]
    root = partitions[0]
    assert root["total"] == 270553174016 and root["used"] + root["free"] <= root["total"]


def test_lsblk_and_sys_block_recorded_give_the_same_disks():
    from_lsblk = transform_disks(transform_lsblk(read("db", "lsblk")))
    from_sysfs = transform_disks(transform_sys_block(read("db", "sys-block")))
    assert from_lsblk == from_sysfs
    assert [(d.name, d.size_bytes, d.rotational) for d in from_lsblk] == [("vda", 274877906944, True)]


def test_transform_lsblk_unescapes_models():
    (device,) = transform_lsblk('NAME="sda" SIZE="512110190592" MODEL="Samsung\\x20SSD\\x20860" SERIAL="S3Z" '
                                'ROTA="0" TYPE="disk"\nNAME="sr0" SIZE="1073741312" MODEL="" SERIAL="" ROTA="1" '
                                'TYPE="rom"\n')
    assert device == {"name": "sda", "size": "1000215216", "model": "Samsung SSD 860", "serial": "S3Z",
                      "rotational": "0"}


@pytest.mark.parametrize("host, mac, address", [("db", "02:cc:00:00:00:0a", "10.203.0.10"),
                                                 ("app", "02:cc:00:00:00:28", "10.203.0.40")])
def test_transform_ip_recorded_gives_the_hosts_mac_and_address(host, mac, address):
    interfaces = {i.name: i for i in transform_ip(read(host, "ip-link"), read(host, "ip-addr"), AT)}
    assert set(interfaces) == {"lo", "eth0"}
    eth0 = interfaces["eth0"]
    assert (eth0.mac, eth0.is_up, eth0.mtu, eth0.source) == (mac, True, 1500, "ssh")
    assert f"{address}/24" in eth0.addresses and interfaces["lo"].mac is None
    assert transform_host_addresses(interfaces.values()) == ((address,), (mac,))
    from_sysfs = {i.name: i.mac for i in transform_sys_net(read(host, "sys-net"), AT)}
    assert from_sysfs == {name: i.mac for name, i in interfaces.items()}


# --- the whole inventory, from recorded output ------------------------------------------------

def test_transform_inventory_recorded_db():
    inventory = transform_inventory(recorded_outputs("db"), AT, port_names=lambda keys: {})
    report = inventory.report
    host = report.host
    assert (host.hostname, host.os_name, host.os_id, host.os_family) == ("db", "Debian GNU/Linux", "debian", "linux")
    assert host.macs == ("02:cc:00:00:00:0a",) and host.addresses == ("10.203.0.10",)
    assert host.kernel and host.architecture == "x86_64" and host.memory_bytes > 0 and host.cpu_logical_cores == 2
    assert host.source == "ssh" and host.boot_time is not None
    assert inventory.warnings == []
    services = {s.port: s for s in report.services}
    assert (services[5432].process, services[5432].source) == ("postgres", "ssh")
    assert services[6379].process == "redis-server"
    assert transform_database_candidates(inventory) == {13: "postgresql", 8: "redis"}
    assert report.raw["ssh-session"].startswith("10.203.0.5 ") and report.raw["ssh-session"].endswith(" 22")
    assert {p.name for p in report.processes} >= {"postgres", "redis-server", "sshd"}
    assert not {"ps", "sh"} & {p.name for p in report.processes}  # the collector's own processes
    assert [s.name for s in report.software][:1] and all(s.source == "dpkg" for s in report.software)
    assert "ps" not in report.raw  # command lines are kept redacted in the processes, not raw


def test_transform_inventory_recorded_app_has_the_apps_outbound_connections():
    report = transform_inventory(recorded_outputs("app"), AT, port_names=lambda keys: {}).report
    outbound = {(c.remote_address, c.remote_port, c.process) for c in report.connections if c.direction == "outbound"}
    assert outbound == {("10.203.0.10", 5432, "emr_app"), ("10.203.0.10", 6379, "emr_app"),
                        ("10.203.0.20", 80, "emr_app")}
    client, port, _ = report.raw["ssh-session"].split()
    (session,) = [c for c in report.connections if c.remote_port == int(port)]
    assert (session.direction, session.local_port, session.remote_address, session.process) == \
        ("inbound", 22, client, "sshd")
    assert str(session.pid) == report.raw["ssh-session-pids"]


def test_transform_inventory_warns_about_missing_tools_and_non_root():
    outputs = recorded_outputs("db")
    outputs["df"] = CommandResult(stdout="", stderr="sh: 1: df: not found", status=127)
    outputs["dpkg"] = CommandResult(stdout="", stderr="sh: 1: dpkg-query: not found", status=127)
    outputs["session"] = CommandResult(stdout="10.203.0.5 40000 10.203.0.10 22\n1000\n77\n")
    ss = re.sub(r'users:\(\("postgres",pid=\d+,fd=\d+\)\)', "", read("db", "ss"))  # the listener and its client
    outputs["ss"] = CommandResult(stdout=ss)
    inventory = transform_inventory(outputs, AT, port_names=lambda keys: {})
    assert inventory.warnings == [
        "partitions: df not found",
        "software: no supported package manager found (dpkg-query, rpm)",
        "sockets: 2 sockets have no owning process (other users'; log in as root to see them)",
    ]
    assert inventory.report.host.partitions == () and inventory.report.software == ()


@pytest.mark.parametrize("host", HOSTS)
def test_watch_samples_recorded_with_ss_netstat_and_proc_net_give_the_same_dependencies(host):
    from discovery.scanning.sampling import dependency_key
    names = {row["pid"]: row["comm"] for row in transform_ps(read(host, "ps"))}
    keys = [sorted(map(dependency_key, transform_sample(tool, read(host, tool), dict(names), AT)), key=str)
            for tool in ("ss-tcp", "netstat-tcp", "proc-net-tcp")]
    assert keys[0] and keys[0] == keys[1] == keys[2]
    inventory = transform_inventory(recorded_outputs(host), AT, port_names=lambda keys: {})
    assert keys[0] == sorted(map(dependency_key, inventory.report.connections), key=str)


def test_transform_sample_names_new_processes_from_ss():
    names = {8: "redis-server"}
    text = read("db", "ss-tcp") + 'tcp ESTAB 0 0 10.203.0.10:41000 10.203.0.30:104 users:(("backup",pid=999,fd=3))\n'
    connections = transform_sample("ss-tcp", text, names, AT)
    assert ("10.203.0.30", 104, "backup", "outbound") in {(c.remote_address, c.remote_port, c.process, c.direction)
                                                          for c in connections}
    assert names[999] == "backup" and all(c.source == "ssh" for c in connections)


# --- credentials and host keys ----------------------------------------------------------------

@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    plain, encrypted = folder / "plain_ed25519", folder / "locked_ed25519"
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(plain)
    key.write_private_key(encrypted, passphrase="correct horse battery staple", rounds=1)  # fast (bcrypt warns)
    return {"plain": plain, "encrypted": encrypted, "a": asyncssh.generate_private_key("ssh-ed25519"),
            "b": asyncssh.generate_private_key("ssh-ed25519")}


def test_load_client_keys_needs_the_passphrase_of_an_encrypted_key(keys):
    assert len(load_client_keys(keys["plain"])) == 1
    with pytest.raises(KeyPassphraseNeeded):
        load_client_keys(keys["encrypted"])
    with pytest.raises(EstateError, match="wrong passphrase"):
        load_client_keys(keys["encrypted"], "wrong")
    assert len(load_client_keys(keys["encrypted"], "correct horse battery staple")) == 1
    with pytest.raises(EstateError, match="no key file"):
        load_client_keys(keys["plain"].with_name("missing"))


def test_scanner_arguments_never_show_a_password_or_passphrase(keys, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    scanner = SshHostScanner(["root@db01", "web01"], key=keys["encrypted"], passphrase="correct horse battery staple",
                             password="hunter2-secret", known_hosts=known, concurrency=4, timeout=30,
                             watch=600, every=60)
    assert scanner.targets() == ("root@db01", "web01")
    assert scanner.arguments == (f"scan ssh --port 22 --key {keys['encrypted']} --known-hosts {known} "
                                 "--concurrency 4 --timeout 30 --watch 600s --every 60s")
    assert "horse" not in scanner.arguments and "hunter2" not in scanner.arguments


def test_scanner_refuses_bad_options_before_connecting(tmp_path):
    with pytest.raises(EstateError, match="no known_hosts file"):
        SshHostScanner(["db01"], known_hosts=tmp_path / "missing")
    with pytest.raises(EstateError, match="concurrency"):
        SshHostScanner(["db01"], concurrency=0)
    with pytest.raises(EstateError, match="--every"):
        SshHostScanner(["db01"], watch=10, every=20)
    with pytest.raises(EstateError, match="user name"):
        SshHostScanner(["db01"], user="root;reboot")


def known_hosts_file(tmp_path, *lines):
    path = tmp_path / "known_hosts"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def key_line(key) -> str:
    return key.export_public_key("openssh").decode().split(" ")[0] + " " + \
        key.export_public_key("openssh").decode().split()[1]


def test_host_key_check_tells_unknown_changed_and_accepted_apart(keys, tmp_path):
    a, b = keys["a"].convert_to_public(), keys["b"].convert_to_public()
    known = KnownHosts(known_hosts_file(tmp_path, "# a comment", "web01", f"10.0.0.10,db01 {key_line(a)}",
                                        f"@bogus web01 {key_line(b)}"))
    assert known.skipped == 2  # read past, as OpenSSH does
    check = _HostKeyCheck(known, accept_new=True)
    assert set(check.lookup("db01", "10.0.0.10", None)[0]) == {a} and check.had_keys
    assert check.decide(b) is False and check.status == "changed"  # even with accept_new
    by_address = _HostKeyCheck(known, accept_new=False)
    by_address.lookup("db01.example.org", "10.0.0.10", None)
    assert by_address.had_keys  # an entry by address counts
    unknown = _HostKeyCheck(known, accept_new=False)
    unknown.lookup("web01", "10.0.0.20", None)
    assert unknown.decide(b) is False and unknown.status == "unknown"
    accepted = _HostKeyCheck(known, accept_new=True)
    accepted.lookup("web01", "10.0.0.20", None)
    assert accepted.decide(b) is True and accepted.status == "accepted"


def test_known_hosts_add_appends_an_openssh_line_and_trusts_it_from_then_on(keys, tmp_path):
    path = known_hosts_file(tmp_path, f"db01 {key_line(keys['a'])}")
    known = KnownHosts(path, accept_new=True)
    b = keys["b"].convert_to_public()
    assert known.add("web01", 22, b) == path
    assert known.add("app01", 2222, b) == path
    lines = path.read_text().splitlines()
    assert lines[1] == f"web01 {key_line(b)}" and lines[2] == f"[app01]:2222 {key_line(b)}"
    assert KnownHosts(path).match("web01", "", None)[0] == [b]
    assert known.match("app01", "", 2222)[0] == [b] and known.match("app01", "", None)[0] == []
    created = KnownHosts(tmp_path / "new" / "known_hosts", accept_new=True)
    created.add("web01", 22, b)
    assert stat.S_IMODE(created.write_path.stat().st_mode) == 0o600


# --- the scanner's scheduling, without SSH ------------------------------------------------------

def fake_report(host: str) -> HostReport:
    return HostReport(host=Host(source="ssh", observed_at=AT, hostname=host))


class FakeHosts:
    """Replaces the per-host work: each host sleeps (or waits for a threading.Event, up to 60 s), then succeeds or
    fails; records how many ran at once, which hosts were released by their event and which were cancelled."""

    def __init__(self, delays: dict[str, float | threading.Event], failing: dict[str, str] = ()):
        self.delays, self.failing = delays, dict(failing)
        self.running = self.most = 0
        self.started: list[str] = []
        self.released: list[str] = []
        self.cancelled: list[str] = []

    async def inventory(self, engine, target, state):
        self.running += 1
        self.most = max(self.most, self.running)
        self.started.append(target.host)
        try:
            delay = self.delays[target.host]
            if isinstance(delay, threading.Event):
                deadline = time.monotonic() + 60
                while not delay.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                if delay.is_set():
                    self.released.append(target.host)
            else:
                await asyncio.sleep(delay)
            if target.host in self.failing:
                raise HostFailed(self.failing[target.host])
            report = fake_report(target.host)
            inventory = linux_commands.Inventory(report=report, warnings=[], names={}, args={}, socket_tool=None,
                                           byteorder="little", uid=0)
            return None, inventory, report
        except asyncio.CancelledError:
            self.cancelled.append(target.host)
            raise
        finally:
            self.running -= 1


@pytest.fixture
def fake_hosts(monkeypatch):
    def install(delays, failing=()):
        fake = FakeHosts(delays, failing)
        monkeypatch.setattr(ssh_host._Engine, "_inventory",
                            lambda engine, target, state: fake.inventory(engine, target, state))
        return fake
    return install


def test_scan_yields_each_host_as_it_finishes_within_the_concurrency_limit(fake_hosts):
    # h1 finishes only once this loop has received every other host: if reports were held back until the slow
    # host is done, h1 would never be released (it gives up after 60 s) and the asserts below would fail.
    others_received = threading.Event()
    fake = fake_hosts({"h1": others_received, "h2": 0.05, "h3": 0.05, "h4": 0.05, "h5": 0.05},
                      failing={"h3": "connection refused"})
    scanner = SshHostScanner(["h1", "h2", "h3", "h4", "h5"], concurrency=2)
    progress = []
    ctx = ScanContext(progress=lambda done, total, message: progress.append((done, total, message)))
    order = []
    for report in scanner.scan(ctx):
        order.append(report.host.hostname)
        if {"h2", "h4", "h5"} <= set(order):
            others_received.set()
    assert order[-1] == "h1" and set(order) == {"h1", "h2", "h4", "h5"}
    assert fake.released == ["h1"]  # not held back until the slow host is done
    assert fake.most == 2
    assert scanner.failed == ["h3"] and ctx.warnings == ["h3: connection refused"]
    assert (3, 5, "h3: failed") in progress or any(m == "h3: failed" for _, _, m in progress)
    assert progress[-1] == (5, 5, "h1: ok")


def test_scan_cancel_stops_outstanding_hosts_promptly_and_keeps_finished_ones(fake_hosts):
    fake = fake_hosts({"fast": 0.01, "slow": 60, "waiting": 0.01}, )
    scanner = SshHostScanner(["fast", "slow", "waiting"], concurrency=2)
    ctx = ScanContext()
    got = []
    with pytest.raises(ScanCancelled):
        for report in scanner.scan(ctx):
            got.append(report.host.hostname)
            if len(got) == 2:
                ctx.cancel()
    assert sorted(got) == ["fast", "waiting"]
    # Promptly means the outstanding host is cancelled, not waited for (its 60 s would otherwise run out). The
    # cancellation is delivered on the collector's own loop: give it a bounded while to be recorded.
    deadline = time.monotonic() + 30
    while not fake.cancelled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.cancelled == ["slow"]


def test_scan_asks_for_a_password_once_in_the_scanning_thread(monkeypatch):
    asked = []

    async def inventory(engine, target, state):
        password = await engine._password_for(state.route.target, state)
        report = fake_report(f"{target.host}:{password}")
        return None, linux_commands.Inventory(report=report, warnings=[], names={}, args={}, socket_tool=None,
                                        byteorder="little", uid=0), report

    monkeypatch.setattr(ssh_host._Engine, "_inventory", inventory)

    def prompt(message):
        asked.append((message, threading.current_thread() is threading.main_thread()))
        return "s3cret"

    scanner = SshHostScanner(["h1", "h2", "h3"], user="ops", password_prompt=prompt)
    names = sorted(r.host.hostname for r in scanner.scan(ScanContext()))
    assert names == ["h1:s3cret", "h2:s3cret", "h3:s3cret"]
    assert len(asked) == 1 and asked[0][1] and asked[0][0].startswith("Password for ops")


def test_cancel_during_watch_keeps_what_was_sampled_and_stops_promptly(monkeypatch):
    inventory = transform_inventory(recorded_outputs("app"), AT, port_names=lambda keys: {})
    samples = []

    async def fake_inventory(engine, target, state):
        return None, inventory, inventory.report

    ctx = ScanContext()

    async def fake_command(conn, script):
        samples.append(script)
        if len(samples) == 5:  # cancel once the watch has sampled five times, whatever time that took
            ctx.cancel()
        return CommandResult(stdout=read("app", "ss-tcp"))

    monkeypatch.setattr(ssh_host._Engine, "_inventory", fake_inventory)
    monkeypatch.setattr(ssh_host, "get_command_result", fake_command)
    scanner = SshHostScanner(["app"], watch=600, every=0.1)
    started, got = time.monotonic(), []
    with pytest.raises(ScanCancelled):
        for report in scanner.scan(ctx):
            got.append(report)
    # Uncancelled, the watch would run its 600 s: this bound only catches a watch that ignores the cancel.
    assert time.monotonic() - started < 120
    (report,) = got
    assert set(samples) == {COMMANDS["ss-tcp"]} and len(samples) >= 5
    to_postgres = next(c for c in report.connections if c.remote_port == 5432)
    assert to_postgres.samples == len(samples) + 1 and to_postgres.process == "emr_app"  # + the inventory's
