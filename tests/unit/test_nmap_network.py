from pathlib import Path

import pytest

from discovery.records.targets import TargetError, parse_targets
from scanners.nmap_network import EXTRA_PORTS, SAFE_SCRIPTS, _compress, build_plan, top_tcp_ports, validate_ports

BASE = ["-oX", "-", "--stats-every", "2s", "-v", "-T3", "--max-retries", "2", "--max-hostgroup", "4"]


def plan(profile, privileged=True, **kw):
    return build_plan(parse_targets(["10.0.0.0/24", "pacs01"]), profile=profile, privileged=privileged,
                      binary="/usr/bin/nmap", **kw)


def test_quick_profile_arguments():
    p = plan("quick")
    assert list(p.options) == BASE + ["-sS", "--top-ports", "100", "--max-rate", "300"]
    assert p.targets == ("10.0.0.0/24", "pacs01") and p.notes == ()
    assert p.argv[0] == "/usr/bin/nmap" and p.display.startswith("nmap -oX - ")


def test_standard_profile_adds_healthcare_ports_to_the_top_1000(tmp_path):
    p = plan("standard")
    ports = p.options[p.options.index("-p") + 1]
    expanded = {n for part in ports.split(",") for n in
                (range(int(part.split("-")[0]), int(part.split("-")[-1]) + 1))}
    assert set(EXTRA_PORTS) <= expanded and {22, 80, 443, 5432, 3306, 1433} <= expanded
    assert len(expanded) >= 1000
    assert "-sV" in p.options and "-O" in p.options and "--script" not in p.options


def test_deep_profile_all_ports_versions_os_and_safe_scripts():
    p = plan("deep")
    assert "-p-" in p.options and "-sV" in p.options and "-O" in p.options
    assert p.options[p.options.index("--script") + 1] == ",".join(SAFE_SCRIPTS)
    assert "dicom-ping" in SAFE_SCRIPTS and "ssl-enum-ciphers" in SAFE_SCRIPTS


def test_unprivileged_falls_back_to_connect_scan_without_os_detection_and_says_so():
    p = plan("standard", privileged=False)
    assert "-sT" in p.options and "-sS" not in p.options and "-O" not in p.options
    assert p.notes == ("not running as root: using a TCP connect scan without OS detection",)


def test_ports_override_excludes_and_rate():
    p = plan("standard", ports="22,80,8000-8100", excludes=parse_targets(["10.0.0.1", "10.0.0.9-10"]),
             max_rate=50)
    options = list(p.options)
    assert options[options.index("-p") + 1] == "22,80,8000-8100"
    assert options[options.index("--exclude") + 1] == "10.0.0.1,10.0.0.9-10"
    assert options[options.index("--max-rate") + 1] == "50"


@pytest.mark.parametrize("spec", ["22;reboot", "-iL x", "0", "70000", "22,,80", "a-b", ""])
def test_validate_ports_refuses(spec):
    with pytest.raises(TargetError):
        validate_ports(spec)


def test_validate_ports_accepts_nmap_forms():
    for spec in ("22", "1-1024", "T:104,U:161", "22,80,443"):
        assert validate_ports(spec) == spec


def test_unknown_profile_refused():
    with pytest.raises(TargetError, match="unknown profile"):
        plan("reckless")


def test_top_tcp_ports_reads_nmap_services(tmp_path):
    services = tmp_path / "nmap-services"
    services.write_text("# comment\nhttp\t80/tcp\t0.48\nssh\t22/tcp\t0.18\nsnmp\t161/udp\t0.4\nftp\t21/tcp\t0.19\n")
    assert top_tcp_ports(2, services) == [80, 21]
    assert top_tcp_ports(5, Path("/nonexistent/nmap-services")) is None


def test_compress():
    assert _compress([1, 2, 3, 5, 8, 9]) == "1-3,5,8-9"


def test_a_child_started_with_end_with_parent_ends_when_its_parent_is_killed(tmp_path):
    """nmap runs in its own session; SIGKILL of estatemap must still end it (the kernel's parent-death signal)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    parent_code = ("import subprocess, sys, time\n"
                   "from scanners.nmap_network import end_with_parent\n"
                   "child = subprocess.Popen(['sleep', '60'], start_new_session=True, preexec_fn=end_with_parent)\n"
                   "print(child.pid, flush=True)\n"
                   "time.sleep(60)\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=root, stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child_pid = int(parent.stdout.readline())
        assert psutil.pid_exists(child_pid)
        child = psutil.Process(child_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 30  # generous for a loaded machine; the sleep would otherwise live 60 s
        while time.monotonic() < deadline and child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.05)
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    finally:
        if parent.poll() is None:
            os.kill(parent.pid, signal.SIGKILL)
            parent.wait(timeout=10)
        if child is not None and child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
            child.kill()  # the sleep this test started, by PID
