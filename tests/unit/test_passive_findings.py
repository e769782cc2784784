"""Findings from captured traffic, through the same protocol rules as nmap's and the collectors' evidence
(discovery/analyses/protocol_rules.py, discovery/data/protocols.json): clear-text DICOM, HL7, HTTP, Telnet and
FTP seen carrying traffic, TLS 1.0/1.1 and SSL 3.0 negotiated, SMBv1 negotiated, a default or blank DICOM called
AE title accepted. Every capture here is written with dpkt packet by packet (handshakes, then payloads) and read
by the real import (CaptureReader through run_scan), then judged by analyze, as `estatemap import` and
`estatemap analyze` do; the SMB ones are Zeek's real traces (tests/data/zeek_smb)."""

from __future__ import annotations

import json
from pathlib import Path

import dpkt
import openpyxl
import pytest

from discovery.inventory.build import build_inventory
from discovery.service import analyze, run_scan
from exports.json import JsonExporter
from exports.xlsx import XlsxExporter
from scanners.files import FileImportScanner
from tests.unit.test_passive_capture import frame, tcp, write_capture
from tests.unit.test_passive_protocols import (APPLICATION_CONTEXT, IMPLICIT_LE, ORU, TELNETD_FIRST, VERIFICATION,
                                               ZEEK_SMB, ac_context, associate, client_hello, pdu, rq_context,
                                               selected_version, server_hello, server_name, supported_versions,
                                               user_information)

MODALITY, PACS, RIS, WEB = "192.0.2.40", "192.0.2.2", "192.0.2.41", "192.0.2.42"
NMAP_XML = Path(__file__).resolve().parents[1] / "data" / "nmap" / "segment-handmade.xml"   # PACS is 192.0.2.2
SYN, ACK = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK


def connection(client: str, server: str, port: int, *exchange: tuple[str, bytes], client_port: int = 40000):
    """A TCP handshake client → server:port, then each (who, payload), who being "c" (client) or "s" (server)."""
    frames = [frame(client, server, tcp(client_port, port, SYN)),
              frame(server, client, tcp(port, client_port, SYN | ACK))]
    for who, payload in exchange:
        frames.append(frame(client, server, tcp(client_port, port, ACK, payload)) if who == "c"
                      else frame(server, client, tcp(port, client_port, ACK, payload)))
    return frames


def association(called: bytes, accept: bool = True) -> tuple[tuple[str, bytes], ...]:
    """An A-ASSOCIATE-RQ from CT01 calling `called` (Verification), and the server's AC, or its RJ."""
    rq = associate(0x01, called, b"CT01", APPLICATION_CONTEXT, rq_context(1, VERIFICATION, IMPLICIT_LE),
                   user_information())
    ac = associate(0x02, called, b"CT01", APPLICATION_CONTEXT, ac_context(1, 0, IMPLICIT_LE), user_information())
    rj = pdu(0x03, b"\x00\x01\x01\x07")   # rejected-permanent by the service user: called AE title not recognised
    return ("c", rq), ("s", ac if accept else rj)


def imported(store, tmp_path, frames: list[bytes], nmap_first: bool | None = None) -> dict:
    """Import a capture of `frames` (and nmap's segment-handmade.xml, before or after it), analyze, and return
    the inventory as the JSON export sees it."""
    paths = [write_capture(tmp_path / "capture.pcap", frames)]
    if nmap_first is not None:
        paths = [NMAP_XML, *paths] if nmap_first else [*paths, NMAP_XML]
    for path in paths:
        assert run_scan(store, FileImportScanner(path)).status == "completed"
    analyze(store)
    return build_inventory(store)


def findings_of(inventory: dict, rule: str) -> list[dict]:
    return [f for f in inventory["findings"] if f["rule"] == rule]


def test_cleartext_dicom_and_hl7_are_observed_on_the_wire(store, tmp_path):
    ack = b"\x0bMSH|^~\\&|EHR|HOSP\rMSA|AA\r\x1c\r"
    inventory = imported(store, tmp_path, connection(MODALITY, PACS, 104, *association(b"PACS"))
                         + connection(RIS, PACS, 2575, ("c", ORU), ("s", ack), client_port=40001))
    (dicom,) = findings_of(inventory, "dicom-cleartext")
    assert (dicom["severity"], dicom["confidence"]) == ("medium", "high")
    assert dicom["title"].endswith("observed on the wire")
    assert "dicom-association read in clear text" in dicom["evidence"]
    assert "observed on the wire: 3 packets" in dicom["evidence"]   # counted from the answer: SYN-ACK, RQ, AC
    assert "clients: 192.0.2.40 (AE CT01 → PACS)" in dicom["evidence"]
    assert dicom["data"]["observed_on_wire"] and dicom["data"]["traffic"]["packets"] == 3
    assert dicom["data"]["clients"] == [MODALITY]
    (hl7,) = findings_of(inventory, "hl7-cleartext")
    assert "clients: 192.0.2.41 (LAB@HOSP → EHR@HOSP ORU^R01)" in hl7["evidence"] and hl7["confidence"] == "high"
    assert "first 2026-" in hl7["evidence"] and "bytes" in hl7["evidence"]
    assert "DOE" not in json.dumps(inventory["findings"])   # the ORU's PID is never read


def test_a_port_opened_but_never_spoken_on_says_only_what_was_seen(store, tmp_path):
    inventory = imported(store, tmp_path, connection(MODALITY, PACS, 104))   # a handshake and nothing else
    (dicom,) = findings_of(inventory, "dicom-cleartext")
    assert (dicom["confidence"], dicom["data"]["matched_by"]) == ("low", "by its port number only")
    assert "observed on the wire: 1 packet," in dicom["evidence"] and "192.0.2.40" in dicom["evidence"]
    assert not dicom["title"].endswith("observed on the wire")


@pytest.mark.parametrize("nmap_first", [True, False], ids=["nmap-then-capture", "capture-then-nmap"])
def test_nmap_and_a_capture_of_one_service_give_one_finding_naming_both(store, tmp_path, nmap_first):
    # nmap saw pacs01 (192.0.2.2): dicom on 11112 (DCMTK), TLS 1.0 offered on 443, SMBv1 in a host script
    tls10 = connection(MODALITY, PACS, 443, ("c", client_hello(0x0301, [server_name(b"pacs01.example.org")])),
                       ("s", server_hello(0x0301, None)), client_port=40001)
    inventory = imported(store, tmp_path, connection(MODALITY, PACS, 11112, *association(b"PACS")) + tls10,
                         nmap_first=nmap_first)
    (dicom,) = findings_of(inventory, "dicom-cleartext")
    assert "open: dicom DCMTK" in dicom["evidence"] and "observed on the wire" in dicom["evidence"]
    (tls,) = findings_of(inventory, "tls-legacy")
    assert "ssl-enum-ciphers lists TLSv1.0" in tls["evidence"]
    assert "negotiated on the wire with 192.0.2.40 (SNI pacs01.example.org)" in tls["evidence"]
    assert tls["data"]["negotiated_on_wire"] == ["TLSv1.0"] and tls["title"].endswith("negotiated on the wire")
    (smb,) = findings_of(inventory, "smbv1")   # nmap's host script is kept beside the capture's
    assert "NT LM 0.12" in smb["evidence"]
    (service,) = [s for s in inventory["services"] if s["port"] == 443]
    assert {s["id"] for s in service["scripts"]} >= {"ssl-enum-ciphers", "passive-traffic", "tls-hello"}


@pytest.mark.parametrize(("server", "rule"), [
    (server_hello(0x0302, None), "tls-legacy"),                                  # TLS 1.1
    (server_hello(0x0300, None), "ssl-legacy"),                                  # SSL 3.0
    (server_hello(0x0303, None), None),                                          # TLS 1.2
    (server_hello(0x0303, [selected_version(0x0304)]), None),                    # TLS 1.3: legacy field says 1.2
])
def test_the_version_a_server_negotiates_is_judged(store, tmp_path, server, rule):
    hello = client_hello(0x0303, [server_name(b"ris.example"), supported_versions(0x0304, 0x0303, 0x0302, 0x0300)])
    inventory = imported(store, tmp_path, connection(WEB, RIS, 8443, ("c", hello), ("s", server)))
    found = {f["rule"] for f in inventory["findings"]} & {"tls-legacy", "ssl-legacy"}
    assert found == ({rule} if rule else set())
    assert not findings_of(inventory, "http-cleartext")   # TLS: nothing in clear text


def test_one_legacy_handshake_among_modern_ones_is_enough(store, tmp_path):
    modern = connection(WEB, RIS, 443, ("c", client_hello(0x0303, None)), ("s", server_hello(0x0303, None)))
    old = connection(WEB, RIS, 443, ("c", client_hello(0x0301, None)), ("s", server_hello(0x0301, None)),
                     client_port=40001)
    (tls,) = findings_of(imported(store, tmp_path, modern + old), "tls-legacy")
    assert tls["data"]["protocol_versions"] == ["TLSv1.0"]


def test_smbv1_negotiated_on_the_wire_from_a_real_trace(store, tmp_path):
    assert run_scan(store, FileImportScanner(ZEEK_SMB / "raw_ntlm_in_smb.pcap")).status == "completed"
    analyze(store)
    inventory = build_inventory(store)
    (smb,) = findings_of(inventory, "smbv1")
    assert (smb["severity"], smb["confidence"], smb["subject_id"].split(":")[-1]) == ("high", "high", "tcp/445")
    assert "negotiated on the wire on tcp/445: NT LM 0.12 (SMB1) with 192.168.56.1" in smb["evidence"]
    assert smb["data"]["observed_on_wire"] and smb["data"]["clients"] == ["192.168.56.1"]
    (service,) = [s for s in inventory["services"] if s["port"] == 445]
    assert service["name"] == "microsoft-ds"


@pytest.mark.parametrize(("trace", "smbv1"), [("cifs_negotiate_lanman.pcap", True),   # LANMAN2.1: SMB1 too
                                              ("smb3_negotiate_context.pcap", False)])  # SMB1 offer, SMB2 answer
def test_smbv1_only_where_the_server_settled_on_it(store, tmp_path, trace, smbv1):
    run_scan(store, FileImportScanner(ZEEK_SMB / trace))
    analyze(store)
    assert bool(findings_of(build_inventory(store), "smbv1")) is smbv1


def test_smb_over_netbios_is_named_netbios_ssn(store, tmp_path):
    from tests.unit.test_passive_protocols import SESSION_REQUEST, SMB1_OFFER, smb1_negotiate_response

    positive = b"\x82\x00\x00\x00"
    inventory = imported(store, tmp_path, connection(RIS, PACS, 139, ("c", SESSION_REQUEST), ("s", positive),
                                                     ("c", SMB1_OFFER), ("s", smb1_negotiate_response(2))))
    (service,) = [s for s in inventory["services"] if s["port"] == 139]
    assert service["name"] == "netbios-ssn"
    (smb,) = findings_of(inventory, "smbv1")
    assert "NT LM 0.12 (SMB1)" in smb["evidence"]   # index 2 of the offer


@pytest.mark.parametrize(("called", "accept", "expected"), [
    (b"ANY-SCP", True, "ANY-SCP"), (b"", True, ""), (b"storescp", True, "STORESCP"),
    (b"ANY-SCP", False, None), (b"PACS", True, None)])
def test_a_default_or_blank_called_ae_title_accepted(store, tmp_path, called, accept, expected):
    inventory = imported(store, tmp_path, connection(MODALITY, PACS, 11112, *association(called, accept)))
    found = findings_of(inventory, "dicom-default-ae")
    if expected is None:
        assert found == []
        return
    (finding,) = found
    assert (finding["severity"], finding["confidence"]) == ("medium", "high")
    assert finding["data"]["called_ae_titles"] == [expected]
    assert f"accepted associations calling {expected or 'a blank AE title'}" in finding["evidence"]
    assert "A-ASSOCIATE-AC seen on the wire) from 192.0.2.40 (AE CT01)" in finding["evidence"]


def test_a_rejected_default_after_an_accepted_real_title_is_no_finding(store, tmp_path):
    # one client, two associations: PACS accepted, then ANY-SCP rejected (the server checks called AE titles)
    frames = connection(MODALITY, PACS, 11112, *association(b"PACS"))
    frames += connection(MODALITY, PACS, 11112, *association(b"ANY-SCP", accept=False), client_port=40001)
    assert findings_of(imported(store, tmp_path, frames), "dicom-default-ae") == []


def test_nmap_dicom_ping_saying_any_aet_is_accepted_is_the_same_finding():
    from discovery.analyses.protocol_rules import assess_dicom_default_ae, load_protocol_rules

    ping = {"id": "dicom-ping", "output": "\n  dicom: DICOM Service Provider discovered!\n"
                                          "  config: Any AET is accepted (Insecure)"}
    row = {"host_id": "h", "port": 4242, "protocol": "tcp", "name": "dicom", "scripts": [ping]}
    (finding,) = assess_dicom_default_ae(row, load_protocol_rules())
    assert finding.rule == "dicom-default-ae" and "nmap called ANY-SCP" in finding.evidence
    assert finding.data["observed_on_wire"] is False


def test_telnet_from_its_negotiation_and_from_its_port(store, tmp_path):
    negotiated = connection(RIS, PACS, 2323, ("s", TELNETD_FIRST), ("c", b"\xff\xfc\x18"))   # telnet off port 23
    prompt_only = connection(WEB, PACS, 23, ("s", b"\r\nlogin: "), ("c", b"admin\r\n"), client_port=40001)
    inventory = imported(store, tmp_path, negotiated + prompt_only)
    by_port = {f["data"]["port"]: f for f in findings_of(inventory, "telnet")}
    assert by_port[2323]["confidence"] == "high" and "telnet-negotiation" in by_port[2323]["evidence"]
    assert by_port[23]["confidence"] == "medium"
    assert "by its port number, with traffic seen on it" in by_port[23]["evidence"]
    assert "clients: 192.0.2.42" in by_port[23]["evidence"]   # from the flow, no header named it
    assert "admin" not in json.dumps(inventory)


def test_ftp_logins_in_clear_text_and_ftp_with_auth_tls(store, tmp_path):
    clear = connection(RIS, PACS, 21, ("s", b"220 ready\r\n"), ("c", b"USER drsmith\r\n"), ("s", b"331 pw\r\n"),
                       ("c", b"PASS s3cret\r\n"), ("s", b"230 ok\r\n"), ("c", b"PWD\r\n"))
    secured = connection(RIS, WEB, 21, ("s", b"220 ready\r\n"), ("c", b"AUTH TLS\r\n"), ("s", b"234 go\r\n"),
                         ("c", client_hello(0x0303, None)), ("s", server_hello(0x0303, None)), client_port=40001)
    pop3 = connection(MODALITY, WEB, 110, ("s", b"+OK\r\n"), ("c", b"USER drsmith\r\n"), ("c", b"PASS x\r\n"),
                      client_port=40002)
    inventory = imported(store, tmp_path, clear + secured + pop3)
    by_host = {f["subject_id"].split(":")[0]: f for f in findings_of(inventory, "ftp")}
    hosts = {h["addresses"][0]: h["id"] for h in inventory["hosts"]}
    plain, tls = by_host[hosts[PACS]], by_host[hosts[WEB]]
    assert (plain["severity"], plain["confidence"]) == ("medium", "high")
    assert "1 client spoke it in clear text" in plain["evidence"] and plain["data"]["clients"] == [RIS]
    assert tls["severity"] == "low" and "AUTH TLS from 192.0.2.41" in tls["evidence"]
    services = {(s["address"], s["port"]): s["name"] for s in inventory["services"]}
    assert services[(PACS, 21)] == services[(WEB, 21)] == "ftp" and services[(WEB, 110)] is None
    assert "drsmith" not in json.dumps(inventory) and "s3cret" not in json.dumps(inventory)


def test_plain_http_is_a_finding_only_when_seen_carrying_traffic(store, tmp_path):
    from discovery.analyses.protocol_rules import assess_protocols, load_protocol_rules

    request = b"GET /worklist?patient=DOE HTTP/1.1\r\nHost: ris.example\r\nUser-Agent: RIS/4.2\r\n\r\n"
    inventory = imported(store, tmp_path, connection(WEB, RIS, 8080, ("c", request),
                                                     ("s", b"HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n")))
    (http,) = findings_of(inventory, "http-cleartext")
    assert (http["severity"], http["confidence"]) == ("low", "high")
    assert "clients: 192.0.2.42 (Host ris.example, agent RIS/4.2)" in http["evidence"]
    assert "worklist" not in http["evidence"] and "DOE" not in json.dumps(inventory)
    nmap_only = {"id": "h:tcp/80", "host_id": "h", "port": 80, "protocol": "tcp", "state": "open", "name": "http",
                 "method": "probed"}
    rules = load_protocol_rules()
    assert [f.rule for f in assess_protocols({"hosts": [{"id": "h"}], "services": [nmap_only]}, rules)] == []


def test_the_exports_carry_the_findings_from_traffic(store, tmp_path):
    inventory = imported(store, tmp_path, connection(MODALITY, PACS, 104, *association(b"ANY-SCP")))
    JsonExporter().write(inventory, tmp_path / "estate.json")
    written = json.loads((tmp_path / "estate.json").read_text())
    assert {f["rule"] for f in written["findings"]} >= {"dicom-cleartext", "dicom-default-ae"}
    XlsxExporter().write(inventory, tmp_path / "estate.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "estate.xlsx")["Findings"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    rows = [dict(zip(header, (c.value for c in row))) for row in sheet.iter_rows(min_row=2)]
    assert {r["Rule"] for r in rows} >= {"dicom-cleartext", "dicom-default-ae"}
    assert any("observed on the wire" in (r.get("Evidence") or "") for r in rows)


def test_a_client_that_did_tls_on_the_port_proves_no_clear_text(store, tmp_path):
    # a TLS record that happens to read as a DICOM association (bytes of a certificate, say) is no DICOM in clear
    hello = ("c", client_hello(0x0303, [server_name(b"pacs01.example.org")]))
    inventory = imported(store, tmp_path, connection(MODALITY, PACS, 11112, hello, *association(b"ANY-SCP")))
    assert findings_of(inventory, "dicom-cleartext") == findings_of(inventory, "dicom-default-ae") == []
