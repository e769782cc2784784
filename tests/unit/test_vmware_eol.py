"""VMware through the end-of-life table: the vCenter's own version, a VM's guest OS as configured in vCenter, and a
VM's hardware version (hand-built inventories, as discovery.inventory.build.build_inventory returns them).

Dates are checked against endoflife.date's own data (tests/data/endoflife-date/products.json.gz), not only
against dates written here.
"""

from __future__ import annotations

from datetime import date

import pytest

from discovery.analyses.legacy import assess_inventory, identify_os
from discovery.analyses.vmware_rules import (assess_vmware, hardware_version_number, load_hardware_versions,
                                             vcenter_servers)
from discovery.inventory.build import LEGACY_RULES
from exports.report_data import build_report
from tests.unit.test_legacy import source, source_date, table  # noqa: F401 (fixtures: endoflife.date's data)

AS_OF = date(2026, 12, 7)
VCENTER_65 = "VMware vCenter Server 6.5.0 build-5973321"  # what the simulator (vcsim) reports


def source_eol(source, product, cycle) -> str:
    return source_date(source, product, cycle).isoformat()


def vcenter(server="https://vc.example.org", version="6.5.0", product=VCENTER_65, role="vcenter") -> dict:
    return {"id": f"{server}/ServiceInstance", "kind": "vcenter", "name": server, "server": server,
            "key": "ServiceInstance", "details": {"product": product, "version": version, "build": "5973321",
                                                   "api_type": "VirtualCenter" if role == "vcenter" else "HostAgent",
                                                   "role": role}}


def vm(host_id, *, os_name=None, configured=None, reported=None, addresses=(), **facts) -> dict:
    """A VM as scan vcenter leaves it: its os_name is the tools' report, else the configured guest OS."""
    data = {"power_state": "poweredOn", "hardware_version": "vmx-21", "guest_os_configured": configured,
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
    # listed under the vCenter's name in the legacy table, without making any host legacy
    assert [(r["host"], r["release"]) for r in report["legacy"]["rows"]] == [("https://vc.example.org", "6.5")]
    assert "1 critical" in " ".join(report["summary"])


def _row(finding) -> dict:
    return {k: getattr(finding, k) for k in ("id", "subject_type", "subject_id", "host_id", "rule", "category",
                                             "severity", "title", "evidence", "recommendation", "confidence", "data")}


# --- the guest OS configured in vCenter ------------------------------------------------------------------

def test_a_powered_off_vm_without_tools_is_judged_by_its_configured_guest_os(table, source):
    host = vm("old01", configured="Microsoft Windows Server 2008 R2 (64-bit)", power_state="poweredOff")
    assert host["os_name"] == "Microsoft Windows Server 2008 R2 (64-bit)"  # scan vcenter's os_name: the configured
    (f,) = legacy_of(findings({"hosts": [host]}, table), "old01")
    assert (f.rule, f.data["product"], f.confidence, f.data["evidence_kind"]) == (
        "os-eol", "windows-server", "low", "vm-configured")
    assert f.evidence.startswith("vCenter's configured guest OS: Microsoft Windows Server 2008 R2 (64-bit)")
    assert f.data["eol"] == source_eol(source, "windows-server", "2008-r2-sp1")
    assert f.rule in LEGACY_RULES


def test_the_tools_report_wins_over_the_configured_guest_os(table):
    host = vm("app02", configured="Microsoft Windows Server 2008 R2 (64-bit)",
              reported="Microsoft Windows Server 2019 (64-bit)")
    found = findings({"hosts": [host]}, table)
    assert legacy_of(found, "app02") == []  # Windows Server 2019 is supported; 2008 R2 is only configured
    assert [f.rule for f in found if f.host_id == "app02"] == ["vmware-guest-os-mismatch"]
    kinds = [(o.kind, o.confidence) for o in identify_os(host, table)]
    assert kinds == [("os", "high"), ("vm-configured", "low")]


def test_an_os_another_source_reported_wins_over_the_configured_guest_os(table):
    host = vm("db01", configured="Red Hat Enterprise Linux 6 (64-bit)") | {
        "os_name": "Red Hat Enterprise Linux", "os_id": "rhel", "os_version": "9.4"}  # what SSH read
    assert legacy_of(findings({"hosts": [host]}, table), "db01") == []
    older = host | {"os_version": "7.9"}
    (f,) = legacy_of(findings({"hosts": [older]}, table), "db01")
    assert (f.data["cycle"], f.confidence, f.data["evidence_kind"]) == ("7", "high", "os")


def test_the_configured_guest_os_counts_when_the_tools_name_no_release(table, source):
    host = vm("app03", configured="Red Hat Enterprise Linux 6 (64-bit)", reported="Other 3.x or later Linux (64-bit)")
    (f,) = legacy_of(findings({"hosts": [host]}, table), "app03")
    assert (f.rule, f.data["product"], f.data["cycle"], f.confidence) == ("os-eol", "rhel", "6", "low")
    assert f.data["eol"] == source_eol(source, "rhel", "6")
    assert "vCenter's configured guest OS: Red Hat Enterprise Linux 6 (64-bit)" in f.evidence


def test_a_configured_lower_bound_or_several_releases_get_no_verdict(table):
    inventory = {"hosts": [vm("a", configured="Microsoft Windows Server 2016 or later (64-bit)"),
                           vm("b", configured="CentOS 4/5/6 (64-bit)"),
                           vm("c", configured="Ubuntu Linux (64-bit)")]}
    assert [f for f in findings(inventory, table) if f.category == "legacy"] == []
    # without "or later", the same release is judged
    assert identify_os(vm("d", configured="Microsoft Windows Server 2016 (64-bit)"), table)[0].cycles == ("2016",)


def test_a_guest_os_the_tools_report_as_configured_is_the_hosts_own_report(table):
    host = vm("app04", configured="SUSE Linux Enterprise 11 (64-bit)", reported="SUSE Linux Enterprise 11 (64-bit)")
    ((obs, ),) = [identify_os(host, table)]
    assert (obs.kind, obs.product, obs.evidence) == ("os", "sles", "the host reports SUSE Linux Enterprise 11 (64-bit)")
    (f,) = legacy_of(findings({"hosts": [host]}, table), "app04")
    assert f.rule == "os-eol" and f.data["version"] == "11.x"


# --- VM hardware versions --------------------------------------------------------------------------------

def hardware_findings(found):
    return {f.host_id: f for f in found if f.rule == "vmware-hardware-version-old"}


def test_the_hardware_versions_table_leads_every_esxi_version_to_a_release_the_table_judges(table):
    versions = load_hardware_versions()
    assert set(range(7, 22)) - {12, 16} <= {n for n, v in versions.items() if v["esxi"]}
    assert {n for n, v in versions.items() if not v["esxi"]} == {6, 12, 16}  # Workstation only
    cycles = {c.name for c in table.products["vmware-esxi"].cycles}
    for n, entry in versions.items():
        if entry["esxi"] and n >= 8:  # ESXi 5.0 on: a cycle endoflife.date tracks
            assert entry["esxi_version"] in cycles, n
    assert (versions[13]["esxi"], versions[15]["esxi_version"], versions[21]["esxi"]) == (
        "ESXi 6.5", "6.7", "ESXi 8.0 Update 2")
    assert [hardware_version_number(t) for t in ("vmx-09", "vmx-13", "VMX-21", "vmx-", "13", None)] == [
        9, 13, 21, None, None, None]


def test_a_hardware_version_from_an_esxi_release_past_support_is_a_low_vmware_finding(table, source):
    inventory = {"hosts": [vm("app01", reported="Debian GNU/Linux 12 (64-bit)", hardware_version="vmx-13")]}
    found = findings(inventory, table)
    f = hardware_findings(found)["app01"]
    assert (f.category, f.severity, f.subject_type) == ("vmware", "low", "host")
    assert f.rule not in LEGACY_RULES and legacy_of(found, "app01") == []  # the VM is not made legacy by it
    end = source_eol(source, "vmware-esxi", "6.5")
    assert "vmx-13" in f.evidence and "ESXi 6.5" in f.evidence and end in f.evidence
    assert (f.data["eol"], f.data["esxi_cycle"]) == (end, "6.5")
    assert "compatibility" in f.recommendation and "power cycle" in f.recommendation


def test_an_esx_release_older_than_every_tracked_one_counts_as_past_the_oldest_ones_end(table, source):
    inventory = {"hosts": [vm("old01", configured="Microsoft Windows Server 2003 Standard (32-bit)",
                              hardware_version="vmx-04", power_state="poweredOff")]}
    f = hardware_findings(findings(inventory, table))["old01"]
    assert "ESX 3.0" in f.evidence and "older than VMware ESXi 5.0" in f.evidence
    assert (f.data["eol"], f.data["older_than"], f.data["oldest_tracked_eol"]) == (
        None, "VMware ESXi 5.0", source_eol(source, "vmware-esxi", "5.0"))


def test_supported_unknown_desktop_only_and_template_hardware_versions_give_no_finding(table):
    inventory = {"hosts": [
        vm("current", hardware_version="vmx-20"),                    # ESXi 8.0: supported until 2027-10-11
        vm("workstation", hardware_version="vmx-12"),                # Workstation 12: no ESXi release
        vm("future", hardware_version="vmx-99"),                     # not in the table
        vm("none", hardware_version=None),
        vm("template", hardware_version="vmx-04", template=True),    # templates are skipped, as by every VMware rule
        {"id": "physical", "os_name": "Microsoft Windows Server 2008 R2", "scripts": []},
    ]}
    assert hardware_findings(findings(inventory, table)) == {}
    assert hardware_findings(findings(inventory, table, date(2027, 6, 1))) == {}  # ends soon: not yet a finding


def test_the_hardware_verdict_follows_the_assessment_date(table):
    inventory = {"hosts": [vm("app05", hardware_version="vmx-19")]}  # ESXi 7.0 Update 2; 7.0 ended 2025-10-02
    assert hardware_findings(findings(inventory, table, date(2025, 1, 1))) == {}
    assert set(hardware_findings(findings(inventory, table, date(2025, 10, 3)))) == {"app05"}
    # without a way to judge ESXi releases (assess_vmware on its own), the rule stays silent
    assert hardware_findings(assess_vmware(inventory)) == {}


def test_a_malformed_hardware_versions_file_is_an_error(tmp_path):
    (tmp_path / "hw.json").write_text('{"versions": [{"esxi": "ESXi 6.5"}]}')
    with pytest.raises(ValueError, match="hardware versions"):
        load_hardware_versions(tmp_path / "hw.json")
