"""`estatemap scan passive` on real traffic: Estate Mapper listens on app's port of the namespace test network's
bridge (what a switch's mirror port carries) while app talks to db and pacs as a clinic does (DICOM echo and
C-STORE of a fake patient, HL7 ORU^R01 with PID and OBX, PostgreSQL's port), then is stopped with Ctrl-C. What it
saw is kept: the clinical hosts, services, DICOM and HL7 identities and dependency edges, with no patient value
anywhere; it sends nothing; its ring buffer is gone afterwards. Without capture rights it says, in one line, what
to grant. The scan runs as its own process and is stopped by PID.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.integration.network import STOP_TIMEOUT, stop_process
from tests.integration.test_passive_import import (APP, DB, HL7_ROUTE, PACS, PATIENT_VALUES, clinic_traffic,
                                                   patient_dicom, sent, tls_portal)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

LISTEN_TIMEOUT = 60.0   # seconds for the capture to start listening (a bound, generous for a loaded machine)
FINISH_TIMEOUT = 120.0  # seconds for the scan to store what it saw after Ctrl-C


def in_bridge(test_network, argv, **kwargs):
    """Run `argv` in the bridge's namespace, where the switch ports are."""
    return subprocess.run(["ip", "netns", "exec", test_network.bridge_netns, *map(str, argv)], capture_output=True,
                          text=True, timeout=kwargs.pop("timeout", 300), cwd=ROOT, **kwargs)


def estatemap_argv(*argv) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), *map(str, argv)]


class Lines:
    """A process's standard error, read as it comes (bounded by the process's life)."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self.thread.start()

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            time.sleep(0.1)
        return False


@pytest.fixture(scope="module")
def listened(test_network, tmp_path_factory):
    """Listen on v-app while app talks, stop with Ctrl-C; return the JSON export, the folder with the store and
    exports, the exit status, the sending counters of the bridge's namespace before and after, and the scan's
    temporary folder."""
    folder = tmp_path_factory.mktemp("listened")
    scratch = tmp_path_factory.mktemp("scan-tmp")  # the scan's TMPDIR: its ring buffer goes there
    db, dicom = folder / "estate.db", patient_dicom(tmp_path_factory.mktemp("dicom"))

    def run(argv):
        return in_bridge(test_network, argv, timeout=30)

    before = sent(run)
    scan = subprocess.Popen(["ip", "netns", "exec", test_network.bridge_netns,
                             *estatemap_argv("--db", db, "-v", "scan", "passive", "--interface", "v-app",
                                             "--duration", "30m")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TMPDIR": str(scratch), "HOME": str(folder)})
    errors = Lines(scan.stderr)
    try:
        assert errors.wait_for("listening on v-app", LISTEN_TIMEOUT), "".join(errors.lines)
        with tls_portal(test_network, folder.parent / "portal"):
            clinic_traffic(test_network, dicom)
        time.sleep(2)  # tcpdump -U writes each packet as it comes, and the ring is read four times a second
        scan.send_signal(signal.SIGINT)  # Ctrl-C
        scan.wait(FINISH_TIMEOUT)  # standard error is the reading thread's alone; standard output is one line
        out = scan.stdout.read()
    finally:
        stop_process(scan, timeout=STOP_TIMEOUT)
    errors.thread.join(STOP_TIMEOUT)
    after = sent(run)
    output = out + "".join(errors.lines)
    (folder / "scan.log").write_text(output)
    for form, name in (("json", "estate.json"), ("xlsx", "estate.xlsx"), ("csv", "estate.zip")):
        exported = subprocess.run(estatemap_argv("--db", db, "export", "-f", form, "-o", folder / name),
                                  capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert exported.returncode == 0, exported.stderr
    return json.loads((folder / "estate.json").read_text()), folder, scan.returncode, (before, after), scratch, output


def test_ctrl_c_keeps_the_clinical_hosts_services_and_dependencies(listened):
    estate, _, status, _, _, output = listened
    assert status == 1 and "interrupted; the" in output, output  # stopped early, and what was seen is kept
    (scan,) = estate["scans"]
    assert scan["kind"] == "passive" and scan["status"] == "interrupted"
    hosts = {h["addresses"][0]: h for h in estate["hosts"]}
    assert {APP, DB, PACS} <= set(hosts)
    edges = {(d["source_host_id"], d["target_host_id"], d["target_port"]): d for d in estate["dependencies"]}
    for target, port in ((DB, 5432), (PACS, 11112), (PACS, 2575)):
        edge = edges[(hosts[APP]["id"], hosts[target]["id"], port)]
        assert edge["evidence"] == "observed-on-wire" and edge["observed_by"] == ["passive"]
    services = {(s["address"], s["port"]): s for s in estate["services"]}
    (dicom,) = [s for s in services[(PACS, 11112)]["scripts"] if s["id"] == "dicom-association"]
    assert {(a["calling_ae"], a["called_ae"]) for a in dicom["data"]["associations"]} == {("EHRAPP", "PACS")}
    named = {d["source_process"] for d in estate["dependencies"] if d["target_port"] == 2575}
    assert named == {HL7_ROUTE}


def test_the_live_capture_keeps_no_patient_value_and_no_packet(listened):
    _, folder, _, _, scratch, _ = listened
    for path in folder.iterdir():  # the store and its WAL, the exports, the scan's output
        data = path.read_bytes()
        for value in PATIENT_VALUES:
            assert value.encode() not in data, (value, path.name)
    assert list(scratch.iterdir()) == []  # the ring buffer went with the scan


def test_the_live_capture_sends_nothing(listened):
    _, _, _, (before, after), _, _ = listened
    assert after == before  # nothing sent from the namespace it listened in, while app's traffic went by


def test_without_capture_rights_one_line_says_what_to_grant(test_network, tmp_path):
    # root without CAP_NET_RAW and CAP_NET_ADMIN, as an ordinary account is: tcpdump may not open the interface
    result = in_bridge(test_network, ["setpriv", "--bounding-set", "-net_raw,-net_admin", "--inh-caps",
                                      "-net_raw,-net_admin", *estatemap_argv("--db", tmp_path / "estate.db", "scan",
                                                                             "passive", "--interface", "v-app",
                                                                             "--duration", "5")])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "capture rights" in line]
    assert "needs capture rights" in line and "setcap cap_net_raw,cap_net_admin=eip" in line


def test_an_interface_that_is_not_there_is_named(test_network, tmp_path):
    result = in_bridge(test_network, estatemap_argv("--db", tmp_path / "estate.db", "scan", "passive", "--interface",
                                                    "v-nosuch", "--duration", "5"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "there is no interface v-nosuch here" in result.stderr and "v-app" in result.stderr
