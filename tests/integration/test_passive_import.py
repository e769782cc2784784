"""`estatemap import capture.pcap` on real traffic: tcpdump on the namespace test network's bridge records app
talking to db (PostgreSQL's port), to pacs with dcmtk (echoscu, and storescu sending a DICOM file that holds a
fake patient) and to pacs's MLLP receiver (an HL7 ORU^R01 with PID and OBX segments). The capture is imported
from the scanner host, which sends nothing; the inventory must hold the hosts, the services that answered, the
DICOM and HL7 identities and the dependency edges, and no patient value anywhere: store, WAL, exports, output.
tcpdump is started and stopped by PID.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.integration.network import find_tool, stop_process

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

DB, PACS, APP = "10.203.0.10", "10.203.0.30", "10.203.0.40"
PATIENT_NAME, PATIENT_ID, RESULT_TEXT = "FAKE^PATIENTNAME", "PID778899", "SECRET-RESULT-TEXT-4471"
PATIENT_VALUES = (PATIENT_NAME, PATIENT_ID, RESULT_TEXT, "FAKE")
DICOM_DUMP = f"""(0008,0016) UI =SecondaryCaptureImageStorage
(0008,0018) UI [1.2.826.0.1.3680043.2.1143.7.1]
(0010,0010) PN [{PATIENT_NAME}]
(0010,0020) LO [{PATIENT_ID}]
(0020,000d) UI [1.2.826.0.1.3680043.2.1143.7.2]
(0020,000e) UI [1.2.826.0.1.3680043.2.1143.7.3]
"""
HL7 = (f"\x0bMSH|^~\\&|LAB|HOSP|EHR|HOSP|20261207010101||ORU^R01|MSG0001|P|2.5.1\r"
       f"PID|||{PATIENT_ID}^^^HOSP||{PATIENT_NAME}||19700101|M\r"
       f"OBX|1|TX|GLU^Glucose||{RESULT_TEXT}||||||F\r\x1c\r")
CLIENT = f"""
import socket, sys
with socket.create_connection(("{DB}", 5432), timeout=10):
    pass  # the handshake is the dependency; nothing else is needed
with socket.create_connection(("{PACS}", 2575), timeout=10) as s:
    s.sendall({HL7!r}.encode())
    answer = b""
    while not answer.endswith(b"\\x1c\\r"):
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    sys.exit(0 if b"MSA|AA" in answer else 1)
"""


def capture(test_network, path: Path):
    """tcpdump on app's port of the bridge (all its traffic, both ways, as a mirror of its switch port sees it),
    writing `path`."""
    proc = subprocess.Popen(["ip", "netns", "exec", test_network.bridge_netns, find_tool("tcpdump"), "-i", "v-app",
                             "-n", "-p", "-U", "-w", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline, line = time.monotonic() + 30, ""
    while "listening on" not in line and time.monotonic() < deadline and proc.poll() is None:
        line = proc.stderr.readline()
    assert "listening on" in line, f"tcpdump did not start: {line}"
    return proc


def estatemap(net, *argv, timeout=300):
    return net.scanner.run([sys.executable, str(ROOT / "main.py"), *map(str, argv)], capture_output=True, text=True,
                           timeout=timeout, cwd=ROOT)


def patient_dicom(folder: Path) -> Path:
    """A DICOM file holding the fake patient, made with dcmtk."""
    dump, dicom = folder / "patient.dump", folder / "patient.dcm"
    dump.write_text(DICOM_DUMP)
    subprocess.run([find_tool("dump2dcm"), "+te", "-g", str(dump), str(dicom)], check=True, timeout=60)
    return dicom


def clinic_traffic(test_network, dicom: Path) -> None:
    """app talks to its peers as a clinic does: ARP, DICOM echo and C-STORE of `dicom` to pacs, a handshake with
    db's PostgreSQL port, an HL7 ORU^R01 (with PID and OBX) to pacs's MLLP receiver."""
    app = test_network.hosts["app"]
    app.run(["ip", "neigh", "flush", "all"], check=True, timeout=30)  # so app asks for its peers' MACs (ARP)
    for argv in (["echoscu", "-aet", "EHRAPP", "-aec", "PACS", PACS, "11112"],
                 ["storescu", "--required", "-aet", "EHRAPP", "-aec", "PACS", PACS, "11112", str(dicom)]):
        result = app.run(argv, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
    result = app.run([sys.executable, "-c", CLIENT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def clinic_capture(test_network, tmp_path_factory):
    """A capture of app talking to db and pacs."""
    folder = tmp_path_factory.mktemp("passive")
    pcap, dicom = folder / "clinic.pcap", patient_dicom(folder)
    tcpdump = capture(test_network, pcap)
    try:
        clinic_traffic(test_network, dicom)
        time.sleep(1)  # tcpdump -U writes each packet as it comes; a moment for the last ones
    finally:
        stop_process(tcpdump, sig=2)
    data = pcap.read_bytes()
    assert PATIENT_NAME.encode() in data and RESULT_TEXT.encode() in data  # the capture does carry them
    return pcap


@pytest.fixture(scope="module")
def imported(test_network, clinic_capture, tmp_path_factory):
    """The JSON export after importing the capture, and the folder holding the store and exports."""
    folder = tmp_path_factory.mktemp("imported")
    db = folder / "estate.db"
    result = estatemap(test_network, "--db", db, "-v", "import", clinic_capture)
    assert result.returncode == 0, result.stdout + result.stderr
    (folder / "import.log").write_text(result.stdout + result.stderr)
    for form, name in (("json", "estate.json"), ("xlsx", "estate.xlsx"), ("csv", "estate.zip")):
        exported = estatemap(test_network, "--db", db, "export", "-f", form, "-o", folder / name)
        assert exported.returncode == 0, exported.stderr
    return json.loads((folder / "estate.json").read_text()), folder


def test_the_capture_gives_the_clinical_hosts_services_and_dependencies(imported):
    estate, _ = imported
    hosts = {h["addresses"][0]: h for h in estate["hosts"]}
    assert {APP, DB, PACS} <= set(hosts)
    assert hosts[PACS]["macs"], "app's ARP request for pacs was answered in the capture"
    answered = {(s["host_id"], s["port"]) for s in estate["services"] if s["protocol"] == "tcp"}
    assert {(hosts[DB]["id"], 5432), (hosts[PACS]["id"], 11112), (hosts[PACS]["id"], 2575)} <= answered
    edges = {(d["source_host_id"], d["target_host_id"], d["target_port"]): d for d in estate["dependencies"]}
    for target, port in ((DB, 5432), (PACS, 11112), (PACS, 2575)):
        edge = edges[(hosts[APP]["id"], hosts[target]["id"], port)]
        assert edge["evidence"] == "observed-on-wire" and edge["observed_by"] == ["passive"]


def test_dicom_and_hl7_identities_are_named(imported):
    estate, _ = imported
    services = {(s["address"], s["port"]): s for s in estate["services"]}
    dicom = services[(PACS, 11112)]
    assert dicom["name"] == "dicom"
    (script,) = [s for s in dicom["scripts"] if s["id"] == "dicom-association"]
    associations = script["data"]["associations"]
    assert {(a["calling_ae"], a["called_ae"]) for a in associations} == {("EHRAPP", "PACS")}
    (association,) = associations
    # echoscu proposed Verification; storescu --required the file's own SOP class, Secondary Capture
    assert set(association["abstract_syntaxes"]) == {"1.2.840.10008.1.1", "1.2.840.10008.5.1.4.1.1.7"}
    assert association["implementation_version"].startswith("OFFIS_DCMTK")  # dcmtk's: a software fingerprint
    assert association["server_implementation_version"].startswith("OFFIS_DCMTK")  # storescp answered
    hl7 = services[(PACS, 2575)]
    (route,) = [s for s in hl7["scripts"] if s["id"] == "hl7-msh"][0]["data"]["routes"]
    assert (route["sending_application"], route["sending_facility"], route["receiving_application"],
            route["message_type"], route["version"]) == ("LAB", "HOSP", "EHR", "ORU^R01", "2.5.1")
    named = {d["source_process"] for d in estate["dependencies"] if d["target_port"] == 2575}
    assert named == {"HL7 LAB@HOSP → EHR@HOSP ORU^R01"}


def test_no_patient_value_is_kept_anywhere(imported):
    _, folder = imported
    for path in folder.iterdir():  # the store and its WAL, the JSON, the workbook, the CSV zip, the command output
        blobs = [path.read_bytes()]
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                blobs += [archive.read(name) for name in archive.namelist()]
        for value in PATIENT_VALUES:
            assert all(value.encode() not in blob for blob in blobs), (value, path.name)


def sent(run) -> tuple[int, ...]:
    """What a namespace's programs have sent: IPv4 packets, TCP connections opened, UDP datagrams (v4 and v6);
    `run(argv)` runs a command there. The kernel's own IPv6 neighbour discovery is ICMPv6, in none of these, so
    the count is not left to timing."""
    out = run(["cat", "/proc/net/snmp", "/proc/net/snmp6"]).stdout
    lines = out.splitlines()
    table = {}
    for header, values in zip(lines, lines[1:]):
        if header.split(":")[0] == values.split(":")[0] and header.split()[1:] and not values.split()[1].isalpha():
            table.update({f"{header.split(':')[0]}.{k}": int(v)
                          for k, v in zip(header.split()[1:], values.split()[1:])})
    table.update({k: int(v) for k, v in (line.split() for line in lines if line.startswith("Udp6OutDatagrams"))})
    return table["Ip.OutRequests"], table["Tcp.ActiveOpens"], table["Udp.OutDatagrams"], table["Udp6OutDatagrams"]


def test_the_import_sends_nothing(test_network, clinic_capture, tmp_path):
    # imported from a host of its own, whose sending counters do not move
    def run(argv):
        return test_network.scanner.run(argv, capture_output=True, text=True, timeout=30)

    before = sent(run)
    result = estatemap(test_network, "--db", tmp_path / "estate.db", "import", clinic_capture)
    assert result.returncode == 0, result.stderr
    assert sent(run) == before
