"""VMware through the end-of-life table: the vCenter's own version (hand-built inventories, as
discovery.inventory.build.build_inventory returns them).

Dates are checked against endoflife.date's own data (tests/data/endoflife-date/products.json.gz), not only
against dates written here.
"""

import gzip
import json
from datetime import date
from pathlib import Path

import pytest

from discovery.analyses.legacy import assess_inventory, load_eol_table
from discovery.analyses.vmware_rules import vcenter_servers
from discovery.inventory.build import LEGACY_RULES
from exports.report_data import build_report

REPO = Path(__file__).resolve().parents[2]
PRODUCTS_JSON = REPO / "tests" / "data" / "endoflife-date" / "products.json.gz"
AS_OF = date(2026, 12, 7)
VCENTER_65 = "VMware vCenter Server 6.5.0 build-5973321"  # what the simulator (vcsim) reports


@pytest.fixture(scope="module")
def table():
    return load_eol_table()


@pytest.fixture(scope="module")
def source():
    return json.loads(gzip.decompress(PRODUCTS_JSON.read_bytes()))


def source_eol(source, product, cycle) -> str:
    return next(r["eol"] for r in source["products"][product]["releases"] if r["releaseCycle"] == cycle)


def vcenter(server="https://vc.example.org", version="6.5.0", product=VCENTER_65, role="vcenter") -> dict:
    return {"id": f"{server}/ServiceInstance", "kind": "vcenter", "name": server, "server": server,
            "key": "ServiceInstance", "details": {"product": product, "version": version, "build": "5973321",
                                                   "api_type": "VirtualCenter" if role == "vcenter" else "HostAgent",
                                                   "role": role}}


def vm(host_id, *, os_name=None, configured=None, reported=None, addresses=(), **facts) -> dict:
    """A VM as scan vcenter leaves it: its os_name is the tools' report, else the configured guest OS."""
    data = {"power_state": "poweredOn", "hardware_version": "vmx-19", "guest_os_configured": configured,
            "guest_os_reported": reported, "tools_running": "guestToolsRunning" if reported else "guestToolsNotRunning",
            "template": False} | facts
    return {"id": host_id, "hostname": host_id, "addresses": list(addresses),
            "os_name": os_name if os_name is not None else reported or configured,
            "scripts": [{"id": "vcenter-vm", "output": None, "data": data}]}


def findings(inventory, table, as_of=AS_OF):
    return assess_inventory(inventory, table, as_of)


def legacy_of(found, host_id):
    return [f for f in found if f.host_id == host_id and f.category == "legacy"]


# --- the vCenter's own version ---------------------------------------------------------------------------

def test_vcenter_past_support_on_no_known_host_is_a_platform_finding(table, source):
    found = findings({"hosts": [vm("app01", configured="Debian GNU/Linux 12 (64-bit)")],
                      "platform_objects": [vcenter()]}, table)
    (f,) = [f for f in found if f.data and f.data.get("product") == "vmware-vcenter"]
    assert (f.rule, f.category, f.subject_type, f.subject_id, f.host_id) == (
        "platform-eol", "legacy", "platform", "https://vc.example.org/ServiceInstance", None)
    assert f.data["cycle"] == "6.5" and f.data["eol"] == source_eol(source, "vmware-vcenter", "6.5")
    assert f.severity == "critical"  # past its end (2022-10-15) by more than two years
    assert VCENTER_65 in f.evidence and "https://vc.example.org" in f.evidence
    assert f.confidence == "high" and "VMware vCenter Server" in f.recommendation


def test_vcenter_on_the_one_host_with_its_address_is_an_eol_finding_on_that_host(table):
    inventory = {"hosts": [vm("vcsa", addresses=["10.0.0.5"], reported="VMware Photon OS (64-bit)"),
                           vm("app01", addresses=["10.0.0.6"], reported="Debian GNU/Linux 12 (64-bit)")],
                 "platform_objects": [vcenter("https://10.0.0.5")]}
    (f,) = [f for f in findings(inventory, table) if f.data and f.data.get("product") == "vmware-vcenter"]
    assert (f.rule, f.host_id, f.subject_type) == ("eol", "vcsa", "platform")
    assert f.rule in LEGACY_RULES  # the host running an unsupported vCenter is legacy, as for any software


def test_vcenter_host_is_matched_by_name_and_only_when_exactly_one_host_has_it(table):
    one = {"hosts": [{"id": "h1", "hostname": "vc", "fqdn": "VC.example.org", "addresses": ["10.0.0.5"]}],
           "platform_objects": [vcenter("https://vc.example.org:8443")]}
    assert [h for _, h in vcenter_servers(one)] == ["h1"]
    two = {"hosts": [{"id": "h1", "addresses": ["10.0.0.5"]}, {"id": "h2", "addresses": ["10.0.0.5"]}],
           "platform_objects": [vcenter("https://10.0.0.5")]}
    assert [h for _, h in vcenter_servers(two)] == [None]
    ipv6 = {"hosts": [{"id": "h6", "addresses": ["fd00::5"]}], "platform_objects": [vcenter("https://[fd00:0::5]")]}
    assert [h for _, h in vcenter_servers(ipv6)] == ["h6"]


def test_supported_vcenter_and_a_lone_esxi_host_give_no_vcenter_finding(table):
    inventory = {"hosts": [], "platform_objects": [
        vcenter("https://vc8.example.org", version="8.0.3", product="VMware vCenter Server 8.0.3 build-24022515"),
        vcenter("https://esx01.example.org", version="6.5.0", product="VMware ESXi 6.5.0 build-5969303", role="esxi")]}
    assert [f for f in findings(inventory, table, date(2026, 1, 1)) if f.data and
            f.data.get("product") == "vmware-vcenter"] == []
    # the same vCenter 8.0 within 180 days of its end (2027-10-11): due soon, on no host
    (soon,) = findings({"hosts": [], "platform_objects": inventory["platform_objects"][:1]}, table, date(2027, 6, 1))
    assert (soon.rule, soon.severity, soon.host_id) == ("platform-eol-soon", "medium", None)


def test_a_hostless_vcenter_finding_leaves_hosts_and_the_report_alone(table):
    inventory = {"hosts": [vm("app01", configured="Debian GNU/Linux 12 (64-bit)")],
                 "platform_objects": [vcenter()]}
    rows = [_row(f) for f in findings(inventory, table)]
    assert {r["host_id"] for r in rows if r["rule"] in LEGACY_RULES} == set()  # no host made legacy by it
    report = build_report({**inventory, "findings": rows, "analysis": {"as_of": AS_OF.isoformat()}})
    assert not any("on None" in sentence for sentence in report["summary"])
    assert "1 critical" in " ".join(report["summary"])


def _row(finding) -> dict:
    return {k: getattr(finding, k) for k in ("id", "subject_type", "subject_id", "host_id", "rule", "category",
                                             "severity", "title", "evidence", "recommendation", "confidence", "data")}
