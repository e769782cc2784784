import json

from discovery.records.model import Service
from scanners.fhir_probe import _url, is_http, transform_capability
from tests.builders import T0


def service(**kw):
    return Service(protocol="tcp", port=kw.pop("port", 8080), source="nmap", observed_at=T0, state="open", **kw)


def test_transform_capability_r4_and_dstu2():
    r4 = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
          "software": {"name": "Firely Server", "version": "5.1"}, "implementation": {"url": "https://x/fhir"}}
    assert transform_capability(json.dumps(r4).encode()) == {
        "fhir_version": "4.0.1", "software": "Firely Server", "software_version": "5.1", "implementation": "https://x/fhir"}
    dstu2 = {"resourceType": "Conformance", "fhirVersion": "1.0.2"}
    assert transform_capability(json.dumps(dstu2).encode())["fhir_version"] == "1.0.2"


def test_transform_capability_rejects_other_answers():
    for body in (None, b"", b"<html>hi</html>", b"[]", b'{"resourceType": "Patient"}', b"\xff\xfe", b'"str"'):
        assert transform_capability(body) is None
    hostile = {"resourceType": "CapabilityStatement", "software": "not an object", "fhirVersion": "x" * 5000}
    assert len(transform_capability(json.dumps(hostile).encode())["fhir_version"]) == 200


def test_probe_targets_only_http_services_and_uses_tls_when_nmap_saw_it():
    assert is_http(service(name="http")) and is_http(service(name="https")) and is_http(service(name="http-proxy"))
    assert not is_http(service(name="ssh")) and not is_http(service(name=None))
    assert _url("10.0.0.5", service(name="http", tunnel="ssl", port=443), "/fhir") == "https://10.0.0.5:443/fhir/metadata"
    assert _url("fe80::1", service(name="http"), "") == "http://[fe80::1]:8080/metadata"


def test_unrecognised_service_that_answers_get_with_http_is_probed():
    fp = 'SF-Port18089-TCP:V=7.93%I=7%r(GetRequest,DD,"HTTP/1\\.1\\x20200\\x20OK\\r\\nServer:\\x20Odd\\r\\n");'
    assert is_http(service(name="unknown", fingerprint=fp))
    assert not is_http(service(name="unknown", fingerprint='SF-Port1-TCP:r(NULL,5,"hello");'))
