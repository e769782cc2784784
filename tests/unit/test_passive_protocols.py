"""The decoders of application headers that passive discovery keeps (scanners/passive_protocols.py).

Every message here is built by hand from its standard (DICOM PS3.8 §9.3, HL7 v2.5.1 chapter 2 and MLLP,
RFC 8446/5246/6066, RFC 9112), except the TLS hellos that Python's own OpenSSL writes into memory buffers.
Besides exact fields, the tests check the patient-data rule (no value from PID, OBX, P-DATA, a request target
or a body ever appears in a result), that a message cut at any length yields None or whole values (never half
of one), and that arbitrary bytes never raise.
"""

from __future__ import annotations

import ast
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanners import passive_protocols
from scanners.passive_protocols import (SOP_CLASSES, dicom_association, dicom_role, ftp_command, hl7_msh, http_head,
                                        smb_negotiate, telnet_negotiation, tls_hello)

EXAMPLES = int(os.environ.get("ESTATEMAP_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 1000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- DICOM builders (PS3.8 §9.3.2-9.3.4, Annex D) ------------------------------------------------------------

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MPPS = "1.2.840.10008.3.1.2.3.3"
VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DCMTK_CLASS = "1.2.276.0.7230010.3.0.3.6.4"


def item(item_type: int, value: bytes) -> bytes:
    """An item or sub-item: type, reserved, 2-byte length, value."""
    return bytes([item_type, 0]) + len(value).to_bytes(2, "big") + value


def uid(text: str) -> bytes:
    """A UID value as sent: ASCII, padded with a NUL to an even length."""
    raw = text.encode("ascii")
    return raw + b"\x00" * (len(raw) % 2)


def pdu(pdu_type: int, body: bytes) -> bytes:
    return bytes([pdu_type, 0]) + len(body).to_bytes(4, "big") + body


def associate(pdu_type: int, called: bytes, calling: bytes, *items: bytes) -> bytes:
    """An A-ASSOCIATE-RQ (1) or -AC (2): version 1, reserved, called and calling AE (16 bytes), 32 reserved."""
    return pdu(pdu_type, b"\x00\x01\x00\x00" + called.ljust(16) + calling.ljust(16) + bytes(32) + b"".join(items))


def rq_context(context_id: int, abstract: str, *transfers: str) -> bytes:
    subs = item(0x30, uid(abstract)) + b"".join(item(0x40, uid(t)) for t in transfers)
    return item(0x20, bytes([context_id, 0, 0, 0]) + subs)


def ac_context(context_id: int, result: int, transfer: str) -> bytes:
    return item(0x21, bytes([context_id, 0, result, 0]) + item(0x40, uid(transfer)))


def user_information(*extra: bytes) -> bytes:
    return item(0x50, item(0x51, (16384).to_bytes(4, "big")) + item(0x52, uid(DCMTK_CLASS))
                + item(0x55, b"OFFIS_DCMTK_364") + b"".join(extra))


APPLICATION_CONTEXT = item(0x10, uid("1.2.840.10008.3.1.1.1"))
# User Identity Negotiation (0x58, PS3.7 D.3.3.7): type 2 = user name and passcode.
USER_IDENTITY = item(0x58, b"\x02\x00" + (7).to_bytes(2, "big") + b"drsmith" + (11).to_bytes(2, "big") + b"s3cret-pass")
RQ = associate(0x01, b"PACS", b"CT_SCANNER_01", APPLICATION_CONTEXT,
               rq_context(1, CT_STORAGE, EXPLICIT_LE, IMPLICIT_LE), rq_context(3, MPPS, IMPLICIT_LE),
               user_information(USER_IDENTITY))
AC = associate(0x02, b"PACS", b"CT_SCANNER_01", APPLICATION_CONTEXT,
               ac_context(1, 0, EXPLICIT_LE), ac_context(3, 3, IMPLICIT_LE), user_information())
# A P-DATA-TF with one PDV: a dataset fragment holding (0010,0010) Patient's Name, implicit VR little endian.
DATASET = b"\x10\x00\x10\x00" + (8).to_bytes(4, "little") + b"DOE^JOHN"
P_DATA = pdu(0x04, (len(DATASET) + 2).to_bytes(4, "big") + bytes([1, 0x02]) + DATASET)


def test_dicom_association_request_fields():
    assert dicom_association(RQ) == {
        "pdu": "request", "called_ae": "PACS", "calling_ae": "CT_SCANNER_01",
        "abstract_syntaxes": [CT_STORAGE, MPPS], "accepted": None,
        "implementation_class_uid": DCMTK_CLASS, "implementation_version": "OFFIS_DCMTK_364", "max_pdu": 16384}


def test_dicom_association_accept_counts_accepted_contexts():
    assert dicom_association(AC) == {
        "pdu": "accept", "called_ae": "PACS", "calling_ae": "CT_SCANNER_01", "abstract_syntaxes": [],
        "accepted": 1, "implementation_class_uid": DCMTK_CLASS, "implementation_version": "OFFIS_DCMTK_364",
        "max_pdu": 16384}


def test_dicom_association_reject_and_abort():
    assert dicom_association(pdu(0x03, bytes([0, 1, 1, 7]))) == {"pdu": "reject", "result": 1, "source": 1,
                                                                 "reason": 7}   # called AE not recognised
    assert dicom_association(pdu(0x07, bytes([0, 0, 2, 0]))) == {"pdu": "abort"}
    assert dicom_association(pdu(0x03, bytes([0, 9, 1, 7]))) is None        # no such result
    assert dicom_association(pdu(0x07, bytes([0, 0, 2, 0, 0]))) is None     # an abort is 4 bytes long


def test_dicom_association_never_reads_p_data_or_user_identity():
    assert dicom_association(P_DATA) is None
    both = dicom_association(RQ + P_DATA)   # the association and the first dataset in one TCP payload
    assert both == dicom_association(RQ)
    for secret in ("DOE", "JOHN", "drsmith", "s3cret"):
        assert secret not in repr(both)


def test_dicom_association_refuses_other_bytes():
    for data in (b"", b"\x01", RQ[:73], pdu(0x05, bytes(4)), b"GET / HTTP/1.1\r\n\r\n" + bytes(80),
                 RQ[:6] + b"\x00\x00" + RQ[8:]):   # protocol version without bit 0
        assert dicom_association(data) is None


def test_bytes_that_only_start_like_an_association_are_none():
    # a TLS record's continuation starting with 2 (Zeek's zeek-tls-certificate-with-sct.pcap had one), a PDU whose
    # reserved byte or protocol version is wrong, and one whose first item is not the application context
    assert dicom_association(b"\x02\x20\x0c\xaf\x24\xd7\x0d\x07" + bytes(80)) is None
    assert dicom_association(RQ[:1] + b"\x01" + RQ[2:]) is None
    assert dicom_association(RQ[:6] + b"\x00\x02" + RQ[8:]) is None
    assert dicom_association(associate(0x01, b"PACS", b"CT", rq_context(1, CT_STORAGE), APPLICATION_CONTEXT)) is None


def test_dicom_association_odd_fields_are_none_not_garbage():
    odd = associate(0x01, b"PACS\x07", b"\xc3\xa9CHO", APPLICATION_CONTEXT, rq_context(1, "1.2.x.3"), rq_context(3, "1.2..3"),
                    item(0x50, item(0x51, b"\x00\x40") + item(0x52, uid("9" * 65))))
    assert dicom_association(odd) == {
        "pdu": "request", "called_ae": None, "calling_ae": None, "abstract_syntaxes": [], "accepted": None,
        "implementation_class_uid": None, "implementation_version": None, "max_pdu": None}


def test_dicom_association_keeps_at_most_64_distinct_abstract_syntaxes():
    contexts = [rq_context(2 * n + 1, f"1.2.840.10008.5.1.4.1.1.{n % 100}") for n in range(128)]
    result = dicom_association(associate(0x01, b"PACS", b"ROUTER", APPLICATION_CONTEXT, *contexts))
    assert len(result["abstract_syntaxes"]) == 64 == len(set(result["abstract_syntaxes"]))
    repeated = dicom_association(associate(0x01, b"PACS", b"ROUTER", APPLICATION_CONTEXT,
                                            *[rq_context(1, CT_STORAGE)] * 5))
    assert repeated["abstract_syntaxes"] == [CT_STORAGE]


def test_dicom_association_reads_at_most_64_kib():
    padding = item(0x56, bytes(65000))   # an extended negotiation sub-item, as big as the length allows
    filler = item(0x60, bytes(40000))   # items of an unknown type, skipped
    late = associate(0x01, b"PACS", b"CT", APPLICATION_CONTEXT, rq_context(1, CT_STORAGE), filler, filler,
                     user_information())
    assert dicom_association(late)["implementation_class_uid"] is None
    early = associate(0x01, b"PACS", b"CT", APPLICATION_CONTEXT, rq_context(1, CT_STORAGE),
                      user_information(padding))
    assert dicom_association(early)["implementation_class_uid"] == DCMTK_CLASS


def test_dicom_association_follows_the_pdu_length_not_the_buffer():
    short = bytearray(RQ)
    short[2:6] = (68 + len(APPLICATION_CONTEXT)).to_bytes(4, "big")   # the PDU ends after the first item
    assert dicom_association(bytes(short))["abstract_syntaxes"] == []
    lying = bytearray(RQ)
    lying[2:6] = (0xFFFFFFFF).to_bytes(4, "big")
    assert dicom_association(bytes(lying)) == dicom_association(RQ)


@pytest.mark.parametrize("message", [RQ, AC], ids=["request", "accept"])
def test_dicom_association_cut_anywhere_gives_none_or_whole_values(message):
    full = dicom_association(message)
    for cut in range(len(message) + 1):
        result = dicom_association(message[:cut])
        assert (result is None) == (cut < 75), cut  # the fixed fields, and the application context item's type
        if result is not None:
            assert_no_half_values(result, full)


def test_sop_classes_are_well_formed_standard_uids():
    assert all(len(key) <= 64 and passive_protocols._UID.fullmatch(key) for key in SOP_CLASSES)
    assert len(set(SOP_CLASSES.values())) == len(SOP_CLASSES)
    # Spot checks typed independently from PS3.6 Annex A.
    for key, name in [("1.2.840.10008.1.1", "Verification"), ("1.2.840.10008.5.1.4.1.1.4", "MR Image Storage"),
                      ("1.2.840.10008.5.1.4.1.1.128", "PET Image Storage"),
                      ("1.2.840.10008.5.1.1.9", "Basic Grayscale Print Management"),
                      ("1.2.840.10008.5.1.4.31", "Modality Worklist FIND"),
                      ("1.2.840.10008.5.1.4.1.2.2.2", "Study Root Q/R MOVE"),
                      ("1.2.840.10008.1.20.1", "Storage Commitment Push Model"),
                      ("1.2.840.10008.3.1.2.3.3", "Modality Performed Procedure Step")]:
        assert SOP_CLASSES[key] == name


@pytest.mark.parametrize(("proposed", "role"), [
    ([VERIFICATION], "verification only"),
    ([CT_STORAGE, "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.7", MPPS, VERIFICATION], "modality"),
    (["1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1", "1.2.840.10008.5.1.4.1.1.88.67"], "modality"),
    (["1.2.840.10008.5.1.4.31"], "modality"),                                    # worklist query
    (["1.2.840.10008.5.1.1.9", VERIFICATION], "print client"),
    ([CT_STORAGE, "1.2.840.10008.5.1.1.9"], "modality"),                          # a scanner printing film
    (["1.2.840.10008.5.1.4.1.2.2.1", "1.2.840.10008.5.1.4.1.2.2.2"], "query/retrieve client"),
    ([CT_STORAGE, "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.1"], None),    # three kinds: a PACS
    (["1.2.840.10008.5.1.4.1.2.2.1", CT_STORAGE], None),
    (["1.2.840.10008.5.1.4.1.1.7"], None),
    (["1.2.3.4"], None),
    ([], None),
])
def test_dicom_role(proposed, role):
    assert dicom_role(proposed) == role


# --- HL7 v2 over MLLP ----------------------------------------------------------------------------------------

MSH = b"MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240101120000||ORU^R01|MSG00001|P|2.5.1"
ORU_SEGMENTS = [MSH, b"PID|||123456^^^HOSP||DOE^JOHN||19700101|M", b"OBR|1||555^LAB|GLU^Glucose",
                b"OBX|1|NM|GLU^Glucose||182|mg/dL|70-105|H|||F"]
ORU = b"\x0b" + b"\r".join(ORU_SEGMENTS) + b"\r\x1c\r"
ORU_FIELDS = {"sending_application": "LAB", "sending_facility": "HOSP", "receiving_application": "EHR",
              "receiving_facility": "HOSP", "message_type": "ORU^R01", "version": "2.5.1"}


def test_hl7_msh_fields_of_an_mllp_message():
    assert hl7_msh(ORU) == ORU_FIELDS
    assert hl7_msh(ORU[1:]) == ORU_FIELDS   # a chunk without the start block


def test_hl7_msh_keeps_nothing_of_other_segments_or_other_msh_fields():
    text = repr(hl7_msh(ORU))
    for value in ("123456", "DOE", "JOHN", "19700101", "182", "Glucose", "mg/dL", "MSG00001", "20240101120000"):
        assert value not in text


def test_hl7_msh_first_components_other_delimiters_and_bounds():
    hd = b"MSH|^~\\&|LAB^2.16.840.1.113883.3.1^ISO|HOSP&SUB|||202401||ADT^A01^ADT_A01^EXTRA|X|P|2.3^NLD~2.4\r"
    assert hl7_msh(hd) == {"sending_application": "LAB", "sending_facility": "HOSP", "receiving_application": None,
                           "receiving_facility": None, "message_type": "ADT^A01^ADT_A01", "version": "2.3"}
    hash_separated = b"MSH#$~\\&#RIS#RAD#PACS#RAD#2024##ORM$O01#1#P#2.3.1\n"   # odd delimiters, \n ending
    assert hl7_msh(hash_separated)["message_type"] == "ORM^O01"
    long_name = b"MSH|^~\\&|" + b"A" * 100 + b"|\x07BELL|||||ACK|1|P\r"
    assert hl7_msh(long_name) == {"sending_application": "A" * 64, "sending_facility": None,
                                  "receiving_application": None, "receiving_facility": None,
                                  "message_type": "ACK", "version": None}
    assert hl7_msh(b"MSH|^~\\&|" + b"A" * 3000 + b"\r") is None    # no segment end within 2 KiB


def test_hl7_msh_refuses_other_bytes():
    for data in (b"", b"\x0b", b"MSH|^~\\&|LAB|HOSP", b"PID|||1\r", b"MSHA^~\\&|X\r", b"MSH|\r", b"MSH||LAB\r",
                 b"\x0b\x0bMSH|^~\\&|X\r", b"GET / HTTP/1.1\r\n"):
        assert hl7_msh(data) is None


def test_hl7_msh_cut_anywhere_gives_none_or_whole_values():
    msh_end = ORU.index(b"\r")
    for cut in range(len(ORU) + 1):
        result = hl7_msh(ORU[:cut])
        assert result == (None if cut <= msh_end else ORU_FIELDS), cut


# --- TLS hellos ----------------------------------------------------------------------------------------------

def vector(length_size: int, data: bytes) -> bytes:
    return len(data).to_bytes(length_size, "big") + data


def extension(kind: int, data: bytes) -> bytes:
    return kind.to_bytes(2, "big") + vector(2, data)


def record(body: bytes, version: int = 0x0301, content_type: int = 22) -> bytes:
    return bytes([content_type]) + version.to_bytes(2, "big") + vector(2, body)


def handshake(message_type: int, body: bytes) -> bytes:
    return bytes([message_type]) + vector(3, body)


def client_hello(legacy: int, extensions: list[bytes] | None) -> bytes:
    body = legacy.to_bytes(2, "big") + bytes(32) + vector(1, bytes(32)) + vector(2, b"\x13\x01\xc0\x2f") + b"\x01\x00"
    return record(handshake(1, body + (b"" if extensions is None else vector(2, b"".join(extensions)))))


def server_hello(version: int, extensions: list[bytes] | None) -> bytes:
    body = version.to_bytes(2, "big") + bytes(32) + vector(1, b"") + b"\x13\x01" + b"\x00"
    return record(handshake(2, body + (b"" if extensions is None else vector(2, b"".join(extensions)))), 0x0303)


def server_name(name: bytes) -> bytes:
    return extension(0, vector(2, b"\x00" + vector(2, name)))


def supported_versions(*versions: int) -> bytes:
    """The client's form: a list of versions."""
    return extension(43, vector(1, b"".join(v.to_bytes(2, "big") for v in versions)))


def selected_version(version: int) -> bytes:
    """The server's form: the one version chosen."""
    return extension(43, version.to_bytes(2, "big"))


TLS13_CLIENT = client_hello(0x0303, [server_name(b"PACS.Hospital.example"), extension(10, b"\x00\x02\x00\x1d"),
                                     supported_versions(0x0A0A, 0x0304, 0x0303)])   # GREASE first


def test_tls_hello_client_offers():
    assert tls_hello(TLS13_CLIENT) == {"hello": "client", "sni": "pacs.hospital.example", "offered": "TLS 1.3"}
    assert tls_hello(client_hello(0x0301, [server_name(b"ris")])) == {"hello": "client", "sni": "ris",
                                                                      "offered": "TLS 1.0"}
    assert tls_hello(client_hello(0x0300, None)) == {"hello": "client", "sni": None, "offered": "SSL 3.0"}
    assert tls_hello(client_hello(0x0303, [server_name(b"bad name\x00")])) == {
        "hello": "client", "sni": None, "offered": "TLS 1.2"}


def test_tls_hello_server_versions():
    assert tls_hello(server_hello(0x0303, [selected_version(0x0304)])) == {"hello": "server", "version": "TLS 1.3"}
    assert tls_hello(server_hello(0x0303, [selected_version(0x7F1C)])) == {"hello": "server", "version": None}
    assert tls_hello(server_hello(0x0303, None)) == {"hello": "server", "version": "TLS 1.2"}
    assert tls_hello(server_hello(0x0301, [extension(0xFF01, b"\x00")])) == {"hello": "server", "version": "TLS 1.0"}


def sslv2_client_hello(version: int) -> bytes:
    ciphers, challenge = b"\x01\x00\x80\x07\x00\xc0", bytes(range(16))
    message = (b"\x01" + version.to_bytes(2, "big") + len(ciphers).to_bytes(2, "big") + b"\x00\x00"
               + len(challenge).to_bytes(2, "big") + ciphers + challenge)
    return (0x8000 | len(message)).to_bytes(2, "big") + message


def test_tls_hello_sslv2_format():
    assert tls_hello(sslv2_client_hello(0x0002)) == {"hello": "client", "sni": None, "offered": "SSL 2.0"}
    assert tls_hello(sslv2_client_hello(0x0301))["offered"] == "TLS 1.0"   # an old client's TLS offer, v2 format
    assert tls_hello(sslv2_client_hello(0x0002)[:11]) is not None   # the header and lengths are enough
    broken = bytearray(sslv2_client_hello(0x0002))
    broken[6] = 5   # cipher specs are 3 bytes each
    assert tls_hello(bytes(broken)) is None


def test_tls_hello_refuses_other_records():
    application_data = record(b"\x17" * 40, 0x0303, content_type=23)
    for data in (b"", b"\x16\x03\x01", application_data, record(handshake(11, bytes(40))),
                 client_hello(0x0002, None), client_hello(0x0305, None), TLS13_CLIENT[:1] + b"\x02" + TLS13_CLIENT[2:],
                 b"\x80" + bytes(20), b"GET / HTTP/1.1\r\n\r\n"):
        assert tls_hello(data) is None


def test_tls_hello_cut_anywhere_gives_none_or_whole_values():
    full = tls_hello(TLS13_CLIENT)
    versions_at = TLS13_CLIENT.index(supported_versions(0x0A0A, 0x0304, 0x0303))
    for cut in range(len(TLS13_CLIENT) + 1):
        result = tls_hello(TLS13_CLIENT[:cut])
        if result is not None:
            assert_no_half_values(result, full)
            assert result["offered"] != "TLS 1.2", cut   # never the legacy version of a cut-off TLS 1.3 offer
    assert tls_hello(TLS13_CLIENT[:versions_at]) == {"hello": "client", "sni": "pacs.hospital.example",
                                                     "offered": None}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A throwaway self-signed certificate and key, made by the openssl command (no network)."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-subj", "/CN=pacs.test", "-days", "1", "-keyout", folder / "key.pem",
                    "-out", folder / "cert.pem"], check=True, capture_output=True, timeout=60)
    return folder / "cert.pem", folder / "key.pem"


def openssl_hellos(certificate, maximum: ssl.TLSVersion) -> tuple[bytes, bytes]:
    """Return the first bytes a real OpenSSL client and server write, talking through memory buffers only."""
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname, client_context.verify_mode = False, ssl.CERT_NONE
    client_context.maximum_version = maximum
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(*certificate)
    ends = []
    for context, kwargs in ((client_context, {"server_hostname": "pacs.test"}),
                            (server_context, {"server_side": True})):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        ends.append((context.wrap_bio(incoming, outgoing, **kwargs), incoming, outgoing))
    (client, _, client_out), (server, server_in, server_out) = ends
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    hello = client_out.read()
    server_in.write(hello)
    with pytest.raises(ssl.SSLWantReadError):
        server.do_handshake()
    return hello, server_out.read()


@pytest.mark.parametrize(("maximum", "version"), [(ssl.TLSVersion.TLSv1_3, "TLS 1.3"),
                                                  (ssl.TLSVersion.TLSv1_2, "TLS 1.2")])
def test_tls_hello_reads_what_openssl_writes(certificate, maximum, version):
    client, server = openssl_hellos(certificate, maximum)
    assert tls_hello(client) == {"hello": "client", "sni": "pacs.test", "offered": version}
    assert tls_hello(server) == {"hello": "server", "version": version}


# --- HTTP/1.x ------------------------------------------------------------------------------------------------

REQUEST = (b"POST /patients/123456/results?name=DOE&dob=19700101 HTTP/1.1\r\n"
           b"Host: ris.hospital.example:8080\r\n"
           b"user-agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) RIS-Client/4.2\r\n"
           b"Cookie: session=abc123\r\nReferer: http://ris/patient/123456\r\nContent-Length: 32\r\n\r\n"
           b'{"patient":"DOE^JOHN","mrn":123456}')
RESPONSE = (b"HTTP/1.1 404 Not Found\r\nServer: Apache/2.2.15 (CentOS)\r\nContent-Type: text/html\r\n\r\n"
            b"<html>No results for patient DOE, JOHN</html>")
REQUEST_FIELDS = {"kind": "request", "method": "POST", "host": "ris.hospital.example:8080",
                  "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) RIS-Client/4.2"}


def test_http_head_request_keeps_method_host_and_agent_only():
    result = http_head(REQUEST)
    assert result == REQUEST_FIELDS
    for value in ("patients", "123456", "DOE", "19700101", "abc123", "JOHN", "Referer"):
        assert value not in repr(result)


def test_http_head_response():
    result = http_head(RESPONSE)
    assert result == {"kind": "response", "status": 404, "server": "Apache/2.2.15 (CentOS)"}
    assert "DOE" not in repr(result)
    assert http_head(b"HTTP/1.0 200\n\n") == {"kind": "response", "status": 200, "server": None}


def test_http_head_stops_at_the_blank_line_and_at_4_kib():
    after_blank = b"GET / HTTP/1.1\r\n\r\nHost: body.example\r\n\r\n"
    assert http_head(after_blank) == {"kind": "request", "method": "GET", "host": None, "user_agent": None}
    late = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 4096 + b"\r\nServer: nginx\r\n\r\n"
    assert http_head(late)["server"] is None
    folded = b"HTTP/1.1 200 OK\r\nX-Note: a\r\n Server: folded\r\nServer: \x01odd\r\nServer: second\r\n\r\n"
    assert http_head(folded)["server"] is None   # a folded line is no header; the first Server wins, unprintable


def test_http_head_refuses_other_starts():
    for data in (b"", b"GET / HTTP/1.1", b"get / HTTP/1.1\r\n", b"GET HTTP/1.1\r\n", b"GET / HTTP/2\r\n",
                 b"HTTP/1.1 999 Odd\r\n", b"HTTP/1.1 20\r\n", b"\x16\x03\x01\x00\x05hello\r\n", b"SSH-2.0-OpenSSH\r\n"):
        assert http_head(data) is None


@pytest.mark.parametrize("message", [REQUEST, RESPONSE], ids=["request", "response"])
def test_http_head_cut_anywhere_gives_none_or_whole_values(message):
    full = http_head(message)
    first_line_end = message.index(b"\n") + 1
    for cut in range(len(message) + 1):
        result = http_head(message[:cut])
        assert (result is None) == (cut < first_line_end), cut
        if result is not None:
            assert_no_half_values(result, full)


# --- SMB negotiate (MS-CIFS §2.2.4.52, MS-SMB2 §2.2.3-2.2.4, RFC 1002 §4.3) -----------------------------------

ZEEK_SMB = Path(__file__).resolve().parents[1] / "data" / "zeek_smb"


def netbios(message: bytes) -> bytes:
    """A NetBIOS session message (type 0, then the length) around an SMB message, as on port 445 and 139."""
    return b"\x00" + len(message).to_bytes(3, "big") + message


def smb1(command: int, parameters: bytes, data: bytes, *, reply: bool = False, status: int = 0) -> bytes:
    header = (b"\xffSMB" + bytes([command]) + status.to_bytes(4, "little") + bytes([0x98 if reply else 0x18])
              + b"\x53\xc8" + bytes(20))   # flags2, PID high, security features, reserved, TID, PID, UID, MID
    return netbios(header + bytes([len(parameters) // 2]) + parameters + len(data).to_bytes(2, "little") + data)


def smb1_negotiate_request(*dialects: bytes) -> bytes:
    return smb1(0x72, b"", b"".join(b"\x02" + d + b"\x00" for d in dialects))


def smb1_negotiate_response(index: int) -> bytes:
    return smb1(0x72, index.to_bytes(2, "little") + bytes(32), b"", reply=True)   # 17 words: NT LM 0.12's form


def smb2(body: bytes, *, reply: bool = False, command: int = 0, status: int = 0) -> bytes:
    header = (b"\xfeSMB" + (64).to_bytes(2, "little") + bytes(2) + status.to_bytes(4, "little")
              + command.to_bytes(2, "little") + bytes(2) + (1 if reply else 0).to_bytes(4, "little") + bytes(44))
    return netbios(header + body)


def smb2_negotiate_request(*revisions: int) -> bytes:
    fixed = (36).to_bytes(2, "little") + len(revisions).to_bytes(2, "little") + bytes(32)
    return smb2(fixed + b"".join(r.to_bytes(2, "little") for r in revisions))


def smb2_negotiate_response(revision: int) -> bytes:
    return smb2((65).to_bytes(2, "little") + b"\x01\x00" + revision.to_bytes(2, "little") + bytes(58), reply=True)


SESSION_REQUEST = b"\x81\x00\x00\x44" + (b"\x20" + b"CKFDENECFDEFFCFGEFFCCACACACACACA" + b"\x00") * 2
SMB1_OFFER = smb1_negotiate_request(b"PC NETWORK PROGRAM 1.0", b"LANMAN1.0", b"NT LM 0.12", b"SMB 2.002",
                                    b"SMB 2.???")
SMB2_OFFER = smb2_negotiate_request(0x0202, 0x0210, 0x0300, 0x0302, 0x0311)


def zeek_payloads(name: str) -> list[tuple[int, bytes]]:
    """The TCP payloads of a Zeek test trace, as (source port, payload)."""
    import dpkt

    with open(ZEEK_SMB / name, "rb") as f:
        segments = [dpkt.ethernet.Ethernet(frame).data.data for _, frame in dpkt.pcap.Reader(f)]
    return [(s.sport, bytes(s.data)) for s in segments if isinstance(s, dpkt.tcp.TCP) and s.data]


def test_smb_negotiate_smb1_request_and_response():
    assert smb_negotiate(SMB1_OFFER) == {"kind": "request", "protocol": "SMB1", "dialects": [
        "PC NETWORK PROGRAM 1.0", "LANMAN1.0", "NT LM 0.12", "SMB 2.002", "SMB 2.???"]}
    assert smb_negotiate(smb1_negotiate_response(2)) == {"kind": "response", "protocol": "SMB1", "status": 0,
                                                         "dialect_index": 2, "dialect": None}
    none_acceptable = smb_negotiate(smb1_negotiate_response(0xFFFF))
    assert none_acceptable["dialect_index"] is None


def test_smb_negotiate_smb2_request_and_response():
    assert smb_negotiate(SMB2_OFFER) == {"kind": "request", "protocol": "SMB2", "dialects": [
        "SMB 2.0.2", "SMB 2.1", "SMB 3.0", "SMB 3.0.2", "SMB 3.1.1"]}
    assert smb_negotiate(smb2_negotiate_response(0x0311)) == {"kind": "response", "protocol": "SMB2", "status": 0,
                                                              "dialect_index": None, "dialect": "SMB 3.1.1"}
    assert smb_negotiate(smb2_negotiate_response(0x02FF))["dialect"] == "SMB 2.???"   # a multi-protocol answer
    error = smb2((9).to_bytes(2, "little") + bytes(6), reply=True, status=0xC0000022)
    assert smb_negotiate(error) == {"kind": "response", "protocol": "SMB2", "status": 0xC0000022,
                                    "dialect_index": None, "dialect": None}


def test_smb_negotiate_netbios_session_request_keeps_no_name():
    assert smb_negotiate(SESSION_REQUEST) == {"kind": "session-request"}
    assert smb_negotiate(SESSION_REQUEST[:40]) is None
    assert smb_negotiate(b"\x81" + bytes(80)) is None   # no encoded names: a data segment starting with 0x81


def test_smb_negotiate_reads_real_negotiations():
    """Zeek's traces (tests/data/zeek_smb): what real clients and servers wrote."""
    lanman = [smb_negotiate(p) for _, p in zeek_payloads("cifs_negotiate_lanman.pcap")]
    assert lanman == [{"kind": "request", "protocol": "SMB1",
                       "dialects": ["PC NETWORK PROGRAM 1.0", "LANMAN1.0", "LM1.2X002", "LANMAN2.1"]},
                      {"kind": "response", "protocol": "SMB1", "status": 0, "dialect_index": 3, "dialect": None}]
    ntlm = [found for _, p in zeek_payloads("raw_ntlm_in_smb.pcap") if (found := smb_negotiate(p))]
    assert [(f["kind"], f["protocol"], f.get("dialects"), f.get("dialect_index")) for f in ntlm] == [
        ("request", "SMB1", ["NT LM 0.12", "SMB 2.002", "SMB 2.???"], None), ("response", "SMB1", None, 0)]
    smb3 = [found for _, p in zeek_payloads("smb3_negotiate_context.pcap") if (found := smb_negotiate(p))]
    assert [(f["protocol"], f["kind"], f.get("dialect")) for f in smb3] == [
        ("SMB1", "request", None), ("SMB2", "response", "SMB 2.???"),
        ("SMB2", "request", None), ("SMB2", "response", "SMB 3.1.1")]


def test_smb_negotiate_refuses_other_messages():
    session_setup = smb1(0x73, bytes(26), b"user\x00")
    create = smb2(bytes(60), command=5)
    for data in (b"", bytes(8), session_setup, create, netbios(b"\xfdSMB" + bytes(60)), b"\x85\x00\x00\x00",
                 smb1_negotiate_request(b"NT LM 0.12")[:4] + b"\xfeSMB" + bytes(30), b"GET / HTTP/1.1\r\n\r\n",
                 smb1(0x72, b"\x01\x00", b"\x02NT LM 0.12\x00")):   # a request with parameter words is no request
        assert smb_negotiate(data) is None


def test_smb_negotiate_survives_lying_lengths():
    # a NetBIOS length far past the data, a byte count past the block, a dialect count of 65535
    lying = bytearray(SMB1_OFFER)
    lying[1:4] = (0xFFFFFF).to_bytes(3, "big")
    assert smb_negotiate(bytes(lying))["dialects"][:2] == ["PC NETWORK PROGRAM 1.0", "LANMAN1.0"]
    count_at = 4 + 32 + 1
    lying = bytearray(SMB1_OFFER)
    lying[count_at:count_at + 2] = b"\xff\xff"
    assert len(smb_negotiate(bytes(lying))["dialects"]) == 5
    many = bytearray(SMB2_OFFER)
    many[4 + 64 + 2:4 + 64 + 4] = b"\xff\xff"
    assert smb_negotiate(bytes(many))["dialects"] == ["SMB 2.0.2", "SMB 2.1", "SMB 3.0", "SMB 3.0.2", "SMB 3.1.1"]
    odd = smb1_negotiate_request(b"NT LM 0.12", b"\x1b[31mred", b"SMB 2.002")
    assert smb_negotiate(odd)["dialects"] == ["NT LM 0.12"]   # reading stops at an unprintable dialect
    endless = smb1_negotiate_request(*[b"D%d" % n for n in range(100)])
    assert len(smb_negotiate(endless)["dialects"]) == passive_protocols.MAX_SMB_DIALECTS


@pytest.mark.parametrize("message", [SMB1_OFFER, SMB2_OFFER, smb1_negotiate_response(2),
                                     smb2_negotiate_response(0x0311)], ids=["smb1-rq", "smb2-rq", "smb1-rsp",
                                                                            "smb2-rsp"])
def test_smb_negotiate_cut_anywhere_gives_none_or_whole_values(message):
    full = smb_negotiate(message)
    for cut in range(len(message) + 1):
        result = smb_negotiate(message[:cut])
        if result is not None:
            assert_no_half_values(result, full)


# --- Telnet and FTP ------------------------------------------------------------------------------------------

TELNETD_FIRST = bytes([255, 253, 24, 255, 253, 32, 255, 253, 35, 255, 253, 39])   # what in.telnetd sends first


def test_telnet_negotiation_names_options_and_never_reads_subnegotiation():
    assert telnet_negotiation(TELNETD_FIRST) == {"options": ["TERMINAL-TYPE", "TERMINAL-SPEED",
                                                             "X-DISPLAY-LOCATION", "NEW-ENVIRON"]}
    environ = bytes([255, 251, 39, 255, 250, 39, 0, 0]) + b"USER\x01drsmith" + bytes([255, 240])
    assert telnet_negotiation(environ) == {"options": ["NEW-ENVIRON"]}
    assert "drsmith" not in repr(telnet_negotiation(environ))
    assert telnet_negotiation(bytes([255, 253, 200])) == {"options": ["option 200"]}
    for data in (b"", b"\xff", b"\xff\xfd", b"\xff\xfa\x18\x00xterm\xff\xf0", b"login: ", b"\xffSMB" + bytes(40)):
        assert telnet_negotiation(data) is None


def test_ftp_command_keeps_the_verb_never_the_argument():
    assert ftp_command(b"USER drsmith\r\n") == {"command": "USER", "mechanism": None}
    assert ftp_command(b"PASS s3cret-pass\r\n") == {"command": "PASS", "mechanism": None}
    assert ftp_command(b"pwd\r\n") == {"command": "PWD", "mechanism": None}
    assert ftp_command(b"STOR patient-DOE-JOHN.dcm\r\n") == {"command": "STOR", "mechanism": None}
    assert ftp_command(b"AUTH TLS\r\n") == {"command": "AUTH", "mechanism": "TLS"}
    for data in (b"AUTH PLAIN AGRyc21pdGgAczNjcmV0\r\n", b"EHLO ris\r\n", b"GET / HTTP/1.1\r\n", b"USER drsmith",
                 b"220 ready\r\n", b"+OK POP3\r\n", b"QUIT\r\n", b"", b"\x00\x01USER x\r\n"):
        assert ftp_command(data) is None
    assert "drsmith" not in repr(ftp_command(b"USER drsmith\r\n"))


# --- every decoder: arbitrary and mutated bytes ----------------------------------------------------------

def assert_no_half_values(result: dict, full: dict) -> None:
    """Each value read from a cut message is absent or the whole value of the full one (lists: a prefix)."""
    assert result.keys() == full.keys()
    for key, value in result.items():
        if isinstance(value, list):
            assert full[key][:len(value)] == value, key
        elif key == "accepted" and value is not None:
            assert value <= full[key]
        elif value is not None:
            assert value == full[key], key


def assert_small_fields(result: object) -> None:
    """A result is None or a dict of short printable strings, ints, None, or short lists of short strings."""
    if result is None:
        return
    assert isinstance(result, dict)
    for key, value in result.items():
        assert isinstance(key, str)
        if isinstance(value, list):
            assert len(value) <= 64 and all(isinstance(v, str) and 0 < len(v) <= 64 for v in value)
        elif isinstance(value, str):
            assert 0 < len(value) <= 253 and value.isprintable()
        else:
            assert value is None or type(value) is int


DECODERS = [dicom_association, hl7_msh, tls_hello, http_head, smb_negotiate, telnet_negotiation, ftp_command]
SEEDS = [RQ, AC, P_DATA, ORU, TLS13_CLIENT, server_hello(0x0303, [selected_version(0x0304)]),
         sslv2_client_hello(2), REQUEST, RESPONSE, SMB1_OFFER, SMB2_OFFER, smb1_negotiate_response(2),
         smb2_negotiate_response(0x0311), SESSION_REQUEST, TELNETD_FIRST, b"AUTH TLS\r\n"]
PREFIXES = [b"", b"\x01\x00", b"\x02\x00", b"\x03\x00\x00\x00\x00\x04", b"\x0bMSH|^~\\&|", b"MSH",
            b"\x16\x03\x01", b"\x16\x03\x03\x00\x80\x02\x00\x00", b"\x80", b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 ",
            SMB1_OFFER[:40], SMB2_OFFER[:72], b"\x81\x00\x00\x44", b"\xff\xfd", b"USER "]
mutation = st.tuples(st.sampled_from(("flip", "delete", "insert", "truncate")), st.integers(0, 1 << 16),
                     st.binary(min_size=1, max_size=8))


def mutate(seed: bytes, operations: list[tuple[str, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for operation, where, chunk in operations:
        at = where % (len(data) + 1)
        if operation == "flip" and at < len(data):
            data[at] ^= chunk[0] or 0xFF
        elif operation == "delete":
            del data[at:at + len(chunk)]
        elif operation == "insert":
            data[at:at] = chunk
        else:
            del data[at:]
    return bytes(data)


@FUZZ
@given(prefix=st.sampled_from(PREFIXES), data=st.binary(max_size=600))
def test_every_decoder_takes_arbitrary_bytes(prefix, data):
    for decode in DECODERS:
        assert_small_fields(decode(prefix + data))


@FUZZ
@given(seed=st.sampled_from(SEEDS), operations=st.lists(mutation, min_size=1, max_size=4))
def test_every_decoder_takes_mutated_messages(seed, operations):
    data = mutate(seed, operations)
    for decode in DECODERS:
        assert_small_fields(decode(data))


def test_a_tenth_of_the_mutations_still_decode():
    """The mutation fuzzer is only worth something if it reaches past the first checks; make sure it does."""
    decoded = sum(decode(mutate(seed, [("flip", n * 7919, bytes([n % 255 + 1]))])) is not None
                  for n in range(200) for seed in SEEDS for decode in DECODERS)
    assert decoded >= len(SEEDS) * 200 // 10


def test_the_module_imports_only_the_standard_library():
    tree = ast.parse(Path(passive_protocols.__file__).read_text(encoding="utf-8"))
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert names and names <= set(sys.stdlib_module_names) | {"__future__"}
