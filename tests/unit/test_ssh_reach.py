"""Unit tests for how `scan ssh` reaches hosts and escalates: `[user@]host[:port]` targets and hosts files, the
OpenSSH client config's aliases and ProxyJump (scanners/ssh_targets.py), and the sudo wrapping of the privileged
commands (scanners/linux_sudo.py), whose scripts run for real in a local `sh` with a stand-in `sudo`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from discovery.records.model import EstateError
from discovery.records.targets import TargetError
from discovery.scanning.secrets import sudo_account
from scanners.linux_commands import MISSING, REMOTE_PATH, CommandResult, wrap_command
from scanners.linux_sudo import (
    PRIVILEGED, describe_lost, new_prompt, privileged_sections, sudo_refused_warning, sudo_script, sudoers_rule,
    transform_sudo_result,
)
from scanners.ssh_host import SshHostScanner, password_accounts
from scanners.ssh_targets import Hop, SshConfig, SshTarget, load_hosts, parse_hosts_file, parse_ssh_target

ROOT = Path(__file__).resolve().parents[2]


# --- targets and hosts files ---------------------------------------------------------------------

@pytest.mark.parametrize("text, host, user, port, shown", [
    ("db01", "db01", None, None, "db01"),
    ("svc@db01:2222", "db01", "svc", 2222, "svc@db01:2222"),
    ("10.20.0.7:22", "10.20.0.7", None, 22, "10.20.0.7:22"),
    ("fe80::1", "fe80::1", None, None, "fe80::1"),
    ("[fe80::1]", "fe80::1", None, None, "fe80::1"),
    ("svc@[2001:db8::7]:2200", "2001:db8::7", "svc", 2200, "svc@[2001:db8::7]:2200"),
    ("backend-via-bastion", "backend-via-bastion", None, None, "backend-via-bastion"),
])
def test_parse_ssh_target_reads_user_host_and_port(text, host, user, port, shown):
    target = parse_ssh_target(text)
    assert (target.host, target.user, target.port, target.text) == (host, user, port, shown)
    assert parse_ssh_target(target.text) == target  # what a scan stores parses back to the same target


@pytest.mark.parametrize("bad", ["db01:0", "db01:65536", "db01:x", "db01:", "[fe80::1]x", "[fe80::1", "[fe80::1]:",
                                 "svc@db01:22:22x", "db01:-1", "db01:２２", "db01:99999999999999999999",
                                 "root@10.0.0.0/24:22", "a@b@:22"])
def test_parse_ssh_target_refuses_bad_ports_and_brackets(bad):
    with pytest.raises(TargetError):
        parse_ssh_target(bad)


def test_parse_hosts_file_takes_users_and_ports_and_names_a_bad_line():
    text = "# estate\nsvc@db01:2222   # PostgreSQL\n[fe80::7]:2200\nroot@web01\n\n"
    assert parse_hosts_file(text) == ["svc@db01:2222", "[fe80::7]:2200", "root@web01"]
    with pytest.raises(TargetError, match=r"hosts file, line 3: .*port"):
        parse_hosts_file("db01\nweb01\ndb02:http\n")


def test_load_hosts_keeps_one_host_on_two_ports_apart(tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("db01:2222\nsvc@db01\ndb01:2222\n")
    assert [t.text for t in load_hosts(["db01"], hosts)] == ["db01", "db01:2222", "svc@db01"]


# --- the OpenSSH client config --------------------------------------------------------------------

CONFIG = """
Host bastion
    HostName 10.203.0.60
    User jumper
    Port 2200
    IdentityFile ~/.ssh/jump_key

Host backend
    HostName 10.204.0.10
    User svc
    ProxyJump bastion

Host deep
    HostName 10.205.0.9
    ProxyJump bastion,ops@10.204.0.10:2222

Host *.example.org
    User admin
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "ssh_config"
    path.write_text(CONFIG)
    return SshConfig(path)


def test_route_follows_aliases_users_ports_and_proxyjump(config):
    route = config.route(parse_ssh_target("backend"), default_user="me", default_port=22)
    assert route.target == Hop(name="backend", host="10.204.0.10", user="svc", port=22)
    assert route.jumps == (Hop(name="bastion", host="10.203.0.60", user="jumper", port=2200),)
    deep = config.route(parse_ssh_target("deep"), default_user="me")
    assert [(h.name, h.user, h.port) for h in deep.jumps] == [("bastion", "jumper", 2200), ("10.204.0.10", "ops", 2222)]
    assert deep.target == Hop(name="deep", host="10.205.0.9", user="me", port=22)
    assert config.route(parse_ssh_target("db01.example.org")).target.user == "admin"


def test_route_puts_the_targets_own_user_and_port_before_the_configs_and_the_options(config):
    assert config.route(parse_ssh_target("root@backend:2022"), "me", 22).target == Hop("backend", "10.204.0.10",
                                                                                        "root", 2022)
    # --user and --port only fill what neither the target nor the config says
    assert config.route(parse_ssh_target("plain"), "me", 2200).target == Hop("plain", "plain", "me", 2200)
    assert config.route(parse_ssh_target("bastion"), "me", 22).target.port == 2200


def test_ssh_config_missing_file_and_a_bad_proxyjump_are_errors(tmp_path):
    with pytest.raises(EstateError, match="no ssh config file"):
        SshConfig(tmp_path / "missing")
    path = tmp_path / "bad_config"
    path.write_text("Host x\n    ProxyJump $(reboot)\n")
    with pytest.raises(TargetError, match="ProxyJump"):
        SshConfig(path).route(parse_ssh_target("x"))


def test_without_ssh_config_the_users_own_is_read_only_when_it_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert SshConfig().paths == []
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host db\n  HostName 10.0.0.9\n")
    assert SshConfig().paths == [str(tmp_path / ".ssh" / "config")]
    assert SshConfig().route(parse_ssh_target("db")).target.host == "10.0.0.9"


def test_scanner_routes_every_host_and_names_jump_hosts_and_sudo_in_its_accounts(config, tmp_path):
    scanner = SshHostScanner(["backend", "svc@web01:2222"], ssh_config=config.path, sudo=True,
                             known_hosts=tmp_path / "kh", accept_new=True)
    assert scanner.routes["backend"].jumps[0].host == "10.203.0.60"
    assert scanner.routes["svc@web01:2222"].target == Hop("web01", "web01", "svc", 2222)
    assert f"--ssh-config {config.path} --sudo " in scanner.arguments
    assert password_accounts(["backend"], ssh_config=config.path, sudo=True) == [
        "ssh:jumper@bastion:2200", "ssh:svc@backend", "sudo:svc@backend"]
    assert sudo_account("svc", "fe80::1", 2222) == "sudo:svc@[fe80::1]:2222"


# --- sudo ------------------------------------------------------------------------------------------

def test_sudoers_rule_allows_exactly_the_privileged_commands():
    rule = sudoers_rule("svc")
    assert rule.startswith("svc ALL=(root) NOPASSWD: /usr/bin/ss -tunapH, ")
    assert rule.count(",") == len(PRIVILEGED) - 1  # nothing else, and no argument needing an escape
    assert all(" ".join(argv) in rule for argv in PRIVILEGED.values())


def test_readme_shows_the_sudoers_rule_the_code_needs():
    assert sudoers_rule("estatemap") in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture
def fake_bin(tmp_path):
    """A PATH with a stand-in `sudo` that prints the argv it got (one per line) and, with -S, its prompt and
    what it read on standard input; and `ss` and `grep` for `command -v` to find."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text(
        "#!/bin/sh\n"
        "for a in \"$@\"; do echo \"arg:$a\"; done\n"
        "if [ \"$1\" = -S ]; then printf '%s' \"$3\" >&2; read -r line; echo \"stdin:$line\"; fi\n")
    for name in ("ss", "grep"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    return bin_dir


def run_script(script: str, bin_dir: Path, stdin: str = "") -> subprocess.CompletedProcess:
    """Run a remote script as the host would, with only `bin_dir`'s programs on its PATH."""
    if not (bin_dir / "sh").exists():
        (bin_dir / "sh").symlink_to("/bin/sh")
    command = wrap_command(script).replace(f"PATH={REMOTE_PATH}", f"PATH={bin_dir}", 1)
    assert f"PATH={bin_dir} " in command
    return subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, input=stdin, timeout=30,
                          env={"PATH": "/usr/bin:/bin"})


def test_sudo_script_runs_the_fixed_command_by_its_full_path_non_interactively(fake_bin):
    result = run_script(sudo_script("ss"), fake_bin)
    assert result.stdout.splitlines() == ["arg:-n", "arg:--", f"arg:{fake_bin}/ss", "arg:-tunapH"]


def test_sudo_script_with_a_prompt_reads_the_password_from_stdin_never_from_its_arguments(fake_bin):
    prompt = new_prompt()
    script = sudo_script("dmi", prompt)
    assert "'" not in script and prompt in script
    result = run_script(script, fake_bin, stdin="pw-1 2\n")
    args = [line[4:] for line in result.stdout.splitlines() if line.startswith("arg:")]
    assert args[:4] == ["-S", "-p", prompt, "--"] and args[5:] == list(PRIVILEGED["dmi"][1:])
    assert result.stderr == prompt and "stdin:pw-1 2" in result.stdout
    with pytest.raises(ValueError):
        sudo_script("ss", "x'; reboot")


def test_sudo_script_without_sudo_exits_as_a_missing_command(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_script(sudo_script("ss"), empty)
    answer = transform_sudo_result(CommandResult(result.stdout, result.stderr, result.returncode))
    assert result.returncode == MISSING and answer.verdict == "missing" and answer.reason == "sudo is not installed"


@pytest.mark.parametrize("stderr, status, verdict, reason", [
    ("", 0, "ok", None),
    ("sudo: a password is required\n", 1, "password", "sudo wants a password"),
    ("Sorry, user svc is not allowed to execute '/usr/bin/ss -tunapH' as root on db01.\n", 1, "refused",
     "Sorry, user svc is not allowed to execute '/usr/bin/ss -tunapH' as root on db01."),
    ("sudo: nosudo is not in the sudoers file.\n", 1, "refused", "nosudo is not in the sudoers file."),
    ("sudo: 3 incorrect password attempts\n", 1, "refused", "3 incorrect password attempts"),
    ("sudo: sorry, you must have a tty to run sudo\n", 1, "refused", "sorry, you must have a tty to run sudo"),
    ("Cannot open netlink socket: Protocol not supported\n", 1, "ok", None),  # the command's own failure
])
def test_transform_sudo_result_tells_ok_password_and_refusal_apart(stderr, status, verdict, reason):
    answer = transform_sudo_result(CommandResult(stdout="", stderr=stderr, status=status))
    assert (answer.verdict, answer.reason) == (verdict, reason)


def test_privileged_sections_are_dmi_and_the_socket_tool_that_worked():
    ok, failed = CommandResult("x\n"), CommandResult("", status=127)
    dmi, no_dmi = CommandResult("/sys/class/dmi/id/sys_vendor:QEMU\n", status=2), CommandResult("", status=2)
    assert privileged_sections({"dmi": dmi, "ss": ok}) == ["dmi", "ss"]
    assert privileged_sections({"dmi": dmi, "ss": failed, "netstat": ok}) == ["dmi", "netstat"]
    assert privileged_sections({"dmi": dmi, "ss": failed, "netstat": failed, "proc-net": ok}) == ["dmi"]
    assert privileged_sections({"dmi": no_dmi, "ss": ok}) == ["ss"]  # a machine without DMI: nothing to read


def test_describe_lost_names_the_sockets_and_the_root_only_dmi_files():
    dmi = CommandResult("/sys/class/dmi/id/sys_vendor:QEMU\n/sys/class/dmi/id/product_name:Standard PC\n")
    lost = describe_lost({"dmi": dmi}, unowned=7, socket_tool="ss")
    assert lost == ("sockets of other users' processes: their owning processes are unknown (7 sockets); hardware "
                    "serial and uuid (/sys/class/dmi/id/product_serial, /sys/class/dmi/id/product_uuid: root only)")
    full = CommandResult(dmi.stdout + "/sys/class/dmi/id/product_serial:S1\n/sys/class/dmi/id/product_uuid:U-1\n")
    assert describe_lost({"dmi": full}, unowned=1, socket_tool="ss").endswith("(1 socket)")
    assert describe_lost({"dmi": CommandResult("", status=2)}, unowned=0, socket_tool="ss") == "nothing"
    assert sudo_refused_warning("sudo wants a password and none was given", "svc", "x").startswith(
        "--sudo: sudo wants a password and none was given; collected what svc can see. Lost: x")


def test_sudo_password_is_never_part_of_the_scanners_arguments(tmp_path):
    scanner = SshHostScanner(["db01"], sudo=True, sudo_password="Sudo-Pw-1", known_hosts=tmp_path / "kh",
                             accept_new=True)
    assert "Sudo-Pw-1" not in scanner.arguments and "Sudo-Pw-1" not in repr(scanner.routes)
    assert os.fspath(scanner.ssh_config.path or "") == ""


# --- database versions where /proc/PID/exe is another user's --------------------------------------

@pytest.mark.parametrize("comm, args, path", [
    ("redis-server", "/usr/bin/redis-server 10.204.0.10:6379", "/usr/bin/redis-server"),
    ("postgres", "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main", "/usr/lib/postgresql/15/bin/postgres"),
    ("mariadbd", "/usr/sbin/mariadbd", "/usr/sbin/mariadbd"),
    ("postgres", "postgres: checkpointer", None),            # not a path
    ("postgres", "/usr/bin/python3 fake-postgres.py", None),  # names another program
    ("postgres", "/tmp/../usr/bin/postgres", None),
    ("postgres", "/usr/bin/post$(reboot)gres", None),
    ("redis-server", "/usr/bin/redis-server;reboot", None),
    (None, "/usr/bin/redis-server", None),
])
def test_transform_program_path_takes_only_a_plain_path_naming_the_process(comm, args, path):
    from scanners.linux_commands import path_version_commands, transform_program_path
    assert transform_program_path(comm, args) == path
    if path:
        assert path_version_commands(path) == (f'stat -L -c "%u %f" {path}', f"timeout 5 {path} --version")


# --- the transport's escalation, with the remote side replaced ------------------------------------

def sudo_engine(tmp_path, password: str):
    """(the SSH engine, the state of its one host svc@db01) for a sudo scan given `password`."""
    import queue

    from scanners import ssh_host

    scanner = SshHostScanner(["svc@db01"], sudo=True, sudo_password=password, known_hosts=tmp_path / "kh",
                             accept_new=True)
    return ssh_host._Engine(scanner, queue.Queue()), ssh_host._HostState(scanner.hosts[0],
                                                                           scanner.routes["svc@db01"])


def test_escalate_runs_each_section_on_its_own_and_gives_the_password_only_to_sudos_prompt(monkeypatch, tmp_path):
    import asyncio

    from scanners import ssh_host

    engine, state = sudo_engine(tmp_path, "Pw-1")
    calls = []

    async def fake_command(conn, script):  # sudo -n: grep is not allowed at all, ss wants the password
        calls.append(script)
        if "grep" in script:
            return CommandResult("", "Sorry, user svc is not allowed to execute '/usr/bin/grep ...' as root.\n", 1)
        return CommandResult("", "sudo: a password is required\n", 1)

    async def fake_sudo(conn, script, prompt, password):
        calls.append(script)
        assert prompt in script and password == "Pw-1"
        return CommandResult("tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=7,fd=3))\n"), True

    monkeypatch.setattr(ssh_host, "get_command_result", fake_command)
    monkeypatch.setattr(ssh_host, "get_sudo_result", fake_sudo)
    dmi = CommandResult("/sys/class/dmi/id/sys_vendor:QEMU\n", status=2)
    outputs, refused = asyncio.run(engine._escalate(None, state, {"dmi": dmi, "ss": CommandResult("x\n")}))
    assert refused == "Sorry, user svc is not allowed to execute '/usr/bin/grep ...' as root."
    assert outputs["dmi"] is dmi and "sshd" in outputs["ss"].stdout  # ss through sudo, dmi as the login saw it
    assert state.sudo_sections == {"ss"} and state.sudo_works
    assert len(calls) == 3 and not any("Pw-1" in script for script in calls)
    assert describe_lost(outputs, unowned=0, socket_tool="ss").startswith("hardware serial and uuid")


def test_escalate_stops_offering_a_password_sudo_refused(monkeypatch, tmp_path):
    import asyncio

    from scanners import ssh_host

    engine, state = sudo_engine(tmp_path, "wrong")
    offered = []

    async def fake_command(conn, script):
        return CommandResult("", "sudo: a password is required\n", 1)

    async def fake_sudo(conn, script, prompt, password):
        offered.append(password)
        return CommandResult("", "", 1), False  # sudo asked again

    monkeypatch.setattr(ssh_host, "get_command_result", fake_command)
    monkeypatch.setattr(ssh_host, "get_sudo_result", fake_sudo)
    dmi = CommandResult("/sys/class/dmi/id/sys_vendor:QEMU\n", status=2)
    _, refused = asyncio.run(engine._escalate(None, state, {"dmi": dmi, "ss": CommandResult("x\n")}))
    assert refused == "sudo refused the password" and offered == ["wrong"] and not state.sudo_works
