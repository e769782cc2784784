"""`estatemap import capture.pcap` on real traffic: tcpdump on the namespace test network's bridge records app
talking to db (PostgreSQL's port), to pacs with dcmtk (echoscu, and storescu sending a DICOM file that holds a
fake patient) and to pacs's MLLP receiver (an HL7 ORU^R01 with PID and OBX segments). The capture is imported
from the scanner host, which sends nothing; the inventory must hold the hosts, the services that answered, the
DICOM and HL7 identities and the dependency edges, and no patient value anywhere: store, WAL, exports, output.
tcpdump is started and stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
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
KIN_NAME = "FAKE^NEXTOFKIN"
HL7 = (f"\x0bMSH|^~\\&|LAB|HOSP|EHR|HOSP|20261207010101||ORU^R01|MSG0001|P|2.5.1\r"
       f"PID|||{PATIENT_ID}^^^HOSP||{PATIENT_NAME}||19700101|M\r"
       f"OBX|1|TX|GLU^Glucose||{RESULT_TEXT}||||||F\r\x1c\r",
       f"\x0bMSH|^~\\&|LAB|HOSP|EHR|HOSP|20261207010102||ADT^A01|MSG0002|P|2.5.1\r"
       f"PID|||{PATIENT_ID}^^^HOSP||{PATIENT_NAME}||19700101|M\r"
       f"NK1|1|{KIN_NAME}|SPO\r\x1c\r")
PATIENT_VALUES = (*PATIENT_VALUES, KIN_NAME, "NEXTOFKIN")
HL7_ROUTE = "HL7 LAB@HOSP → EHR@HOSP ORU^R01, ADT^A01"
WEB, TLS_NAME, TLS_PORT = "10.203.0.20", "ehr.clinic.test", 8443
CLIENT = f"""
import socket, sys
with socket.create_connection(("{PACS}", 2575), timeout=10) as s:
    for message in {HL7!r}:  # one message, then its ACK, as MLLP goes
        s.sendall(message.encode())
        answer = b""
        while not answer.endswith(b"\\x1c\\r"):
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        if b"MSA|AA" not in answer:
            sys.exit(1)
"""
TLS_NGINX = """daemon off;
pid {folder}/nginx.pid;
error_log stderr;
events {{ worker_connections 16; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    server {{
        listen {address}:{port} ssl;
        server_name {name};
        ssl_certificate {folder}/cert.pem;
        ssl_certificate_key {folder}/key.pem;
        location / {{ return 200 "ehr portal"; }}
    }}
}}
"""


@contextlib.contextmanager
def tls_portal(test_network, folder: Path):
    """A second nginx on web, serving TLS on TLS_PORT under the name TLS_NAME (a self-signed certificate), for as
    long as the context lasts; stopped by PID."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    f"/CN={TLS_NAME}", "-keyout", folder / "key.pem", "-out", folder / "cert.pem"],
                   check=True, capture_output=True, timeout=60)
    config = folder / "nginx.conf"
    config.write_text(TLS_NGINX.format(folder=folder, address=WEB, port=TLS_PORT, name=TLS_NAME))
    web = test_network.hosts["web"]
    nginx = web.popen([find_tool("nginx"), "-p", folder, "-c", config], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while web.run(["curl", "-sk", "-o", "/dev/null", f"https://{WEB}:{TLS_PORT}/"], timeout=30).returncode:
            assert time.monotonic() < deadline and nginx.poll() is None, "the TLS nginx did not start"
            time.sleep(0.2)
        yield
    finally:
        stop_process(nginx)


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
    """app talks to its peers as a clinic does: ARP, DICOM echo and C-STORE of `dicom` to pacs, psql to db's
    PostgreSQL, HL7 ORU^R01 (with PID and OBX) and ADT^A01 (PID, NK1) to pacs's MLLP receiver, curl over TLS with
    SNI to the portal on web (tls_portal must run) and plain HTTP to web's nginx."""
    app = test_network.hosts["app"]
    app.run(["ip", "neigh", "flush", "all"], check=True, timeout=30)  # so app asks for its peers' MACs (ARP)
    for argv in (["echoscu", "-aet", "EHRAPP", "-aec", "PACS", PACS, "11112"],
                 ["storescu", "--required", "-aet", "EHRAPP", "-aec", "PACS", PACS, "11112", str(dicom)],
                 [find_tool("psql"), "-h", DB, "-U", "postgres", "-d", "emr", "-c", "select 1"],
                 [sys.executable, "-c", CLIENT],
                 ["curl", "-sk", "--resolve", f"{TLS_NAME}:{TLS_PORT}:{WEB}", f"https://{TLS_NAME}:{TLS_PORT}/"],
                 ["curl", "-s", "-o", "/dev/null", f"http://{WEB}/"]):
        result = app.run(argv, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (argv, result.stdout + result.stderr)


@pytest.fixture(scope="module")
def clinic_capture(test_network, tmp_path_factory):
    """A capture of app talking to db and pacs."""
    folder = tmp_path_factory.mktemp("passive")
    pcap, dicom = folder / "clinic.pcap", patient_dicom(folder)
    with tls_portal(test_network, folder / "portal"):
        tcpdump = capture(test_network, pcap)
        try:
            clinic_traffic(test_network, dicom)
            time.sleep(1)  # tcpdump -U writes each packet as it comes; a moment for the last ones
        finally:
            stop_process(tcpdump, sig=2)
    data = pcap.read_bytes()
    assert all(v.encode() in data for v in (PATIENT_NAME, RESULT_TEXT, KIN_NAME))  # the capture does carry them
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
    routes = [s for s in hl7["scripts"] if s["id"] == "hl7-msh"][0]["data"]["routes"]
    assert {(r["sending_application"], r["sending_facility"], r["receiving_application"], r["message_type"],
             r["version"]) for r in routes} == {("LAB", "HOSP", "EHR", "ORU^R01", "2.5.1"),
                                                ("LAB", "HOSP", "EHR", "ADT^A01", "2.5.1")}
    named = {d["source_process"] for d in estate["dependencies"] if d["target_port"] == 2575}
    assert named == {HL7_ROUTE}


def test_tls_names_and_versions_and_http_headers_are_named(imported):
    estate, _ = imported
    services = {(s["address"], s["port"]): s for s in estate["services"]}
    portal = services[(WEB, TLS_PORT)]
    assert portal["tunnel"] == "ssl"
    (script,) = [s for s in portal["scripts"] if s["id"] == "tls-hello"]
    (handshake,) = script["data"]["handshakes"]
    assert handshake["sni"] == TLS_NAME and handshake["version"] in ("TLS 1.2", "TLS 1.3")
    web = services[(WEB, 80)]
    (script,) = [s for s in web["scripts"] if s["id"] == "http-headers"]
    (exchange,) = [e for e in script["data"]["exchanges"] if e["client"] == APP]
    # app's flow to web:80 carries curl's request and emr_app's (every 20 s): the last one read names it
    assert exchange["host"] == WEB and exchange["user_agent"].split("/")[0] in ("curl", "emr_app")
    assert exchange["server"].startswith("nginx")
    hosts = {h["addresses"][0]: h["id"] for h in estate["hosts"]}
    edges = {(d["source_host_id"], d["target_host_id"], d["target_port"]) for d in estate["dependencies"]}
    assert {(hosts[APP], hosts[WEB], TLS_PORT), (hosts[APP], hosts[WEB], 80)} <= edges


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


def analyzed(test_network, capture_path: Path, folder: Path) -> dict:
    """The JSON export after `estatemap import` of a capture and `estatemap analyze`, in a store of its own."""
    db = folder / "analyzed.db"
    for argv in (("import", capture_path), ("analyze",), ("export", "-f", "json", "-o", folder / "analyzed.json")):
        result = estatemap(test_network, "--db", db, *argv)
        assert result.returncode == 0, (argv, result.stdout + result.stderr)
    return json.loads((folder / "analyzed.json").read_text())


def test_analyze_finds_clear_text_dicom_and_hl7_observed_on_the_wire(test_network, clinic_capture, tmp_path):
    estate = analyzed(test_network, clinic_capture, tmp_path)
    hosts = {h["addresses"][0]: h["id"] for h in estate["hosts"]}
    found = {(f["rule"], f["subject_id"]): f for f in estate["findings"]}
    dicom = found[("dicom-cleartext", f"{hosts[PACS]}:tcp/11112")]
    assert (dicom["severity"], dicom["confidence"]) == ("medium", "high")
    assert dicom["title"].endswith("observed on the wire")
    assert "observed on the wire:" in dicom["evidence"]
    assert "clients: 10.203.0.40 (AE EHRAPP → PACS)" in dicom["evidence"]
    assert dicom["data"]["clients"] == [APP] and dicom["data"]["traffic"]["packets"] > 10   # echo, then a C-STORE
    hl7 = found[("hl7-cleartext", f"{hosts[PACS]}:tcp/2575")]
    assert hl7["confidence"] == "high" and "observed on the wire:" in hl7["evidence"]
    assert "1 client spoke it in clear text" in hl7["evidence"]   # one client, two routes
    assert "10.203.0.40 (LAB@HOSP → EHR@HOSP ORU^R01)" in hl7["evidence"]
    assert "10.203.0.40 (LAB@HOSP → EHR@HOSP ADT^A01)" in hl7["evidence"]
    http = found[("http-cleartext", f"{hosts[WEB]}:tcp/80")]   # app's plain GETs to web's nginx
    # the flow carries curl's request and emr_app's (every 20 s): the last one read names the agent
    assert http["severity"] == "low" and "10.203.0.40 (Host 10.203.0.20, agent " in http["evidence"]
    assert "agent curl/" in http["evidence"] or "agent emr_app/" in http["evidence"]
    # storescp was called PACS, its own title: no default-title finding; nginx's TLS is 1.2 or 1.3: no legacy TLS
    assert not [f for f in estate["findings"] if f["rule"] in ("dicom-default-ae", "tls-legacy", "ssl-legacy")]
    assert not [key for key in found if key[1] == f"{hosts[WEB]}:tcp/{TLS_PORT}" and "cleartext" in key[0]]
    for value in PATIENT_VALUES:
        assert value not in json.dumps(estate["findings"])


def test_analyze_finds_a_default_called_ae_title_accepted_on_the_wire(test_network, tmp_path):
    # echoscu without -aec calls ANY-SCP, dcmtk's default; pacs's storescp (AE title PACS) checks no called title
    pcap = tmp_path / "default-ae.pcap"
    tcpdump = capture(test_network, pcap)
    try:
        result = test_network.hosts["app"].run(["echoscu", "-aet", "MODALITY1", PACS, "104"], capture_output=True,
                                               text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        time.sleep(1)  # tcpdump -U writes each packet as it comes; a moment for the last ones
    finally:
        stop_process(tcpdump, sig=2)
    estate = analyzed(test_network, pcap, tmp_path)
    hosts = {h["addresses"][0]: h["id"] for h in estate["hosts"]}
    (finding,) = [f for f in estate["findings"] if f["rule"] == "dicom-default-ae"]
    assert finding["subject_id"] == f"{hosts[PACS]}:tcp/104"
    assert (finding["severity"], finding["confidence"], finding["data"]["called_ae_titles"]) == (
        "medium", "high", ["ANY-SCP"])
    assert "accepted associations calling ANY-SCP (A-ASSOCIATE-AC seen on the wire) from 10.203.0.40 (AE MODALITY1)" \
        in finding["evidence"]
    assert {f["rule"] for f in estate["findings"] if f["subject_id"] == finding["subject_id"]} >= {"dicom-cleartext"}
