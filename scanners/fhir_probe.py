"""FHIR servers: an HTTP service whose `[base]/metadata` answers with a CapabilityStatement.

Read-only and harmless: one GET per candidate base path, stopping at the first answer, with a
short timeout and a cap on what is read. TLS certificates are not verified (internal servers
mostly have self-signed ones); nothing is sent but the request line and headers.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import re
import ssl
import urllib.error
import urllib.request

from discovery.records.model import HostReport, ScriptResult, Service

log = logging.getLogger(__name__)

# Where FHIR servers usually live: the root, HAPI's defaults, and the version-named bases.
BASE_PATHS = ("", "/fhir", "/fhir/r4", "/fhir/R4", "/baseR4", "/r4", "/api/fhir", "/hapi-fhir-jpaserver/fhir",
              "/baseDstu3", "/fhir/stu3")
TIMEOUT_SECONDS = 4.0
MAX_BYTES = 4 * 1024 * 1024
ACCEPT = "application/fhir+json, application/json;q=0.9"
SCRIPT_ID = "fhir-metadata"


def is_http(service: Service) -> bool:
    """Return whether nmap saw HTTP: by name, or an unrecognised service that answered GET with HTTP."""
    if service.protocol != "tcp" or service.state != "open":
        return False
    name = (service.name or "").removeprefix("ssl/")
    if name.startswith("http") or name == "https":
        return True
    return bool(service.fingerprint) and re.search(r"r\(GetRequest,[0-9A-F]+,\"HTTP/1\\\.[01]", service.fingerprint) is not None


def _url(address: str, service: Service, base: str) -> str:
    scheme = "https" if service.tunnel == "ssl" or (service.name or "") in ("https", "ssl/http") else "http"
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    return f"{scheme}://{host}:{service.port}{base}/metadata"


def get_metadata(url: str, timeout: float = TIMEOUT_SECONDS) -> bytes | None:
    """GET a metadata URL; return the body of a 200 answer (at most MAX_BYTES), or None."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, headers={"Accept": ACCEPT, "User-Agent": "estatemap-fhir-probe"})
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect())
    try:
        with opener.open(request, timeout=timeout) as response:
            if response.status != 200:
                return None
            return response.read(MAX_BYTES)
    except (urllib.error.URLError, OSError, ValueError) as error:
        log.debug("fhir probe %s: %s", url, error)
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: it could lead anywhere, including outside the targets."""

    def redirect_request(self, *args, **kwargs):
        return None


def transform_capability(body: bytes | None) -> dict | None:
    """Return {fhir_version, software, software_version, implementation} from a CapabilityStatement, or None."""
    if not body:
        return None
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict) or document.get("resourceType") not in ("CapabilityStatement", "Conformance"):
        return None
    software = document.get("software") if isinstance(document.get("software"), dict) else {}
    implementation = document.get("implementation") if isinstance(document.get("implementation"), dict) else {}

    def text(value):
        return str(value)[:200] if value not in (None, "") else None

    return {"fhir_version": text(document.get("fhirVersion")), "software": text(software.get("name")),
            "software_version": text(software.get("version")),
            "implementation": text(implementation.get("description") or implementation.get("url"))}


def probe_service(address: str, service: Service) -> Service:
    """Return the service marked as a FHIR server (category healthcare, a fhir-metadata result), or unchanged."""
    for base in BASE_PATHS:
        found = transform_capability(get_metadata(_url(address, service, base)))
        if found:
            found["base"] = base or "/"
            software = " ".join(filter(None, (found["software"], found["software_version"])))
            output = f"FHIR {found['fhir_version'] or '(version not stated)'} at {found['base']}"
            output += f" ({software})" if software else ""
            return dataclasses.replace(service, category="healthcare",
                                       scripts=(*service.scripts, ScriptResult(id=SCRIPT_ID, output=output, data=found)))
    return service


def probe_report(report: HostReport) -> HostReport:
    """Return the report with every HTTP service probed for FHIR."""
    if not report.host.addresses or not any(is_http(s) for s in report.services):
        return report
    address = report.host.addresses[0]
    return dataclasses.replace(report, services=tuple(probe_service(address, s) if is_http(s) else s
                                                      for s in report.services))
