"""scan vcenter without a server: addresses, the property -> record mapping (from real pyVmomi data objects), paging,
the read-only guard, the kind's options, and the merge rule a UUID adds."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from pyVmomi import vim

from discovery.records.model import EstateError, Host, ScanContext
from discovery.scanning.scan_kinds import SecretNeeded
from discovery.storage.merge import find_match, uuid_forms
from scanners import vcenter, vcenter_records
from scanners.kinds import REGISTRY

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
BIOS_UUID = "421e3b5c-6d7e-8f90-a1b2-c3d4e5f6a7b8"


def lookups() -> vcenter_records.Lookups:
    found = vcenter_records.Lookups.empty()
    for obj in ({"_ref": "datacenter-1", "_type": "Datacenter", "name": "Hospital-DC"},
                {"_ref": "group-v1", "_type": "Folder", "name": "vm", "parent": vim.Datacenter("datacenter-1")},
                {"_ref": "group-v2", "_type": "Folder", "name": "Clinical", "parent": vim.Folder("group-v1")},
                {"_ref": "group-h1", "_type": "Folder", "name": "host", "parent": vim.Datacenter("datacenter-1")},
                {"_ref": "domain-c7", "_type": "ClusterComputeResource", "name": "Cluster-A",
                 "parent": vim.Folder("group-h1")},
                {"_ref": "host-10", "_type": "HostSystem", "name": "esx01.example.org",
                 "parent": vim.ClusterComputeResource("domain-c7")},
                {"_ref": "resgroup-8", "_type": "ResourcePool", "name": "Resources"},
                {"_ref": "datastore-3", "_type": "Datastore", "name": "SAN-LUN01", "summary.type": "VMFS",
                 "summary.capacity": 2 * 2**40, "summary.freeSpace": 2**40},
                {"_ref": "network-5", "_type": "Network", "name": "VM Network"}):
        found.add(obj)
    return found


def vm_properties(**changes) -> dict:
    disk = vim.vm.device.VirtualDisk(
        key=2000, capacityInBytes=40 * 2**30, deviceInfo=vim.Description(label="Hard disk 1", summary=""),
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(fileName="[SAN-LUN01] emr01/emr01.vmdk",
                                                             datastore=vim.Datastore("datastore-3"),
                                                             thinProvisioned=True, diskMode="persistent"))
    nic = vim.vm.device.VirtualVmxnet3(
        key=4000, macAddress="00:50:56:AB:CD:01", deviceInfo=vim.Description(label="Network adapter 1", summary=""),
        backing=vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName="VM Network"),
        connectable=vim.vm.device.VirtualDevice.ConnectInfo(connected=True, startConnected=True,
                                                            allowGuestControl=True))
    props = {
        "_ref": "vm-42", "_type": "VirtualMachine", "name": "EMR-APP01",
        "parent": vim.Folder("group-v2"), "resourcePool": vim.ResourcePool("resgroup-8"),
        "datastore": [vim.Datastore("datastore-3")], "network": [vim.Network("network-5")],
        "config.uuid": BIOS_UUID, "config.instanceUuid": "5012aaaa-bbbb-cccc-dddd-eeeeffff0000",
        "config.guestFullName": "Microsoft Windows Server 2012 (64-bit)", "config.guestId": "windows8Server64Guest",
        "config.version": "vmx-09", "config.annotation": "EMR application server", "config.template": False,
        "config.hardware.numCPU": 4, "config.hardware.numCoresPerSocket": 2, "config.hardware.memoryMB": 16384,
        "config.hardware.device": [disk, nic],
        "guest.guestFullName": "Microsoft Windows Server 2016 (64-bit)", "guest.guestId": "windows9Server64Guest",
        "guest.hostName": "emr-app01.hospital.example", "guest.ipAddress": "10.20.1.15",
        "guest.net": [vim.vm.GuestInfo.NicInfo(macAddress="00:50:56:ab:cd:01", connected=True, deviceConfigId=4000,
                                               ipAddress=["10.20.1.15", "fe80::250:56ff:feab:cd01"],
                                               network="VM Network")],
        "guest.toolsRunningStatus": "guestToolsRunning", "guest.toolsVersionStatus2": "guestToolsSupportedOld",
        "guest.toolsVersion": "10346", "runtime.powerState": vim.VirtualMachinePowerState.poweredOn,
        "runtime.host": vim.HostSystem("host-10"), "config.createDate": datetime(2019, 3, 4, 5, 6, tzinfo=timezone.utc),
    }
    props.update(changes)
    return props


def test_transform_virtual_machine_maps_the_hypervisors_view_onto_a_host():
    report = vcenter_records.transform_virtual_machine(vm_properties(), lookups(), NOW,
                                               {"host-10": {"name": "esx01.example.org", "hardware_uuid": "h-uuid"}})
    host = report.host
    assert (host.source, host.hostname, host.fqdn) == ("vcenter", "emr-app01", "emr-app01.hospital.example")
    assert host.hardware_uuid == BIOS_UUID
    assert host.serial == "VMware-42 1e 3b 5c 6d 7e 8f 90-a1 b2 c3 d4 e5 f6 a7 b8"  # what the guest's DMI says
    assert host.macs == ("00:50:56:ab:cd:01",)
    assert host.addresses == ("10.20.1.15", "fe80::250:56ff:feab:cd01")
    assert (host.cpu_cores, host.memory_bytes, host.virtualization) == (4, 16 * 2**30, "vmware")
    assert host.os_name == "Microsoft Windows Server 2016 (64-bit)" and host.os_family == "windows"
    assert host.disks[0].name == "Hard disk 1" and host.disks[0].size_bytes == 40 * 2**30
    assert (host.status, host.status_reason) == ("up", "vcenter: poweredOn")
    assert report.interfaces[0].addresses == ("10.20.1.15", "fe80::250:56ff:feab:cd01")
    evidence = json.loads(report.raw["vcenter"])
    assert evidence["runs_on"] == {"host": "esx01.example.org", "host_moid": "host-10", "host_uuid": "h-uuid",
                                   "cluster": "Cluster-A"}
    assert (evidence["datacenter"], evidence["folder"], evidence["resource_pool"]) == ("Hospital-DC", "/Clinical",
                                                                                      "Resources")
    assert evidence["datastores"][0] == {"name": "SAN-LUN01", "type": "VMFS", "capacity_bytes": 2 * 2**40,
                                         "free_bytes": 2**40, "url": None}
    assert evidence["disks"][0]["datastore"] == "SAN-LUN01" and evidence["nics"][0]["network"] == "VM Network"
    assert evidence["guest_os_differs"] is True and evidence["hardware_version"] == "vmx-09"
    assert evidence["tools_version_status"] == "guestToolsSupportedOld"


def test_a_powered_off_vm_without_tools_is_kept_and_marked_down():
    props = vm_properties(**{"runtime.powerState": vim.VirtualMachinePowerState.poweredOff, "guest.net": None,
                             "guest.ipAddress": None, "guest.hostName": None, "guest.guestFullName": None,
                             "guest.guestId": None})
    host = vcenter_records.transform_virtual_machine(props, lookups(), NOW).host
    assert (host.status, host.status_reason) == ("down", "vcenter: poweredOff")
    assert host.hostname == "EMR-APP01" and host.addresses == () and host.macs == ("00:50:56:ab:cd:01",)
    assert host.os_name == "Microsoft Windows Server 2012 (64-bit)"  # as configured, when the tools say nothing


def test_transform_host_system_reads_hardware_version_and_management_addresses():
    hardware = vim.host.Summary.HardwareSummary(
        vendor="Dell Inc.", model="PowerEdge R740", uuid="4c4c4544-0042-3510-8056-b4c04f4d3232",
        cpuModel="Intel(R) Xeon(R) Gold 6130", cpuMhz=2100, numCpuPkgs=2, numCpuCores=32, numCpuThreads=64,
        memorySize=768 * 2**30, numNics=4, numHBAs=2,
        otherIdentifyingInfo=[vim.host.SystemIdentificationInfo(
            identifierValue="7B5Q2X2", identifierType=vim.ElementDescription(key="ServiceTag", label="", summary=""))])
    product = vim.AboutInfo(name="VMware ESXi", fullName="VMware ESXi 6.7.0 build-17700523", version="6.7.0",
                            build="17700523", vendor="VMware, Inc.", apiType="HostAgent", apiVersion="6.7",
                            osType="vmnix-x86", productLineId="embeddedEsx", instanceUuid="", licenseProductName="",
                            licenseProductVersion="", localeBuild="", localeVersion="")
    vnic = vim.host.VirtualNic(device="vmk0", portgroup="Management Network", key="key-vim.host.VirtualNic-vmk0",
                               spec=vim.host.VirtualNic.Specification(
                                   mac="00:50:56:6a:00:01", ip=vim.host.IpConfig(dhcp=False, ipAddress="10.1.0.11",
                                                                                 subnetMask="255.255.255.0")))
    pnic = vim.host.PhysicalNic(device="vmnic0", mac="E4:43:4B:00:00:01", key="key-vim.host.PhysicalNic-vmnic0",
                                pci="0000:01:00.0", driver="ixgben")
    obj = {"_ref": "host-10", "_type": "HostSystem", "name": "esx01.example.org",
           "parent": vim.ClusterComputeResource("domain-c7"), "summary.hardware": hardware,
           "summary.config.product": product, "runtime.connectionState": vim.HostSystemConnectionState.connected,
           "runtime.inMaintenanceMode": True, "config.network.vnic": [vnic], "config.network.pnic": [pnic],
           "datastore": [vim.Datastore("datastore-3")]}
    report = vcenter_records.transform_host_system(obj, lookups(), NOW)
    host = report.host
    assert (host.hostname, host.fqdn, host.addresses) == ("esx01", "esx01.example.org", ("10.1.0.11",))
    assert host.macs == ("00:50:56:6a:00:01", "e4:43:4b:00:00:01")
    assert (host.vendor, host.model, host.serial) == ("Dell Inc.", "PowerEdge R740", "7B5Q2X2")
    assert (host.cpu_cores, host.cpu_logical_cores, host.memory_bytes) == (32, 64, 768 * 2**30)
    assert (host.os_name, host.os_version, host.kernel) == ("VMware ESXi", "6.7.0", "build 17700523")
    assert host.status_reason == "vcenter: connected, maintenance mode"
    evidence = json.loads(report.raw["vcenter"])
    assert (evidence["cluster"], evidence["datacenter"], evidence["build"]) == ("Cluster-A", "Hospital-DC", "17700523")
    assert evidence["datastores"][0]["name"] == "SAN-LUN01"


@pytest.mark.parametrize("text, port, expected", [
    ("vcenter.example.org", 443, ("https", "vcenter.example.org", 443)),
    ("vcenter.example.org", 8443, ("https", "vcenter.example.org", 8443)),
    ("https://vc01:9443/sdk", 443, ("https", "vc01", 9443)),
    ("http://127.0.0.1:8989", 443, ("http", "127.0.0.1", 8989)),
    ("http://sim", 443, ("http", "sim", 80)),
])
def test_parse_target_keeps_http_only_when_written(text, port, expected):
    target = vcenter.parse_target(text, port)
    assert (target.scheme, target.host, target.port) == expected


@pytest.mark.parametrize("text, words", [("ftp://vc01", "https://"), ("https://root:pw@vc01", "password"),
                                         ("", "name the vCenter"), ("vc01:http", "invalid port")])
def test_parse_target_refuses_what_it_cannot_reach_safely(text, words):
    with pytest.raises(EstateError, match=words):
        vcenter.parse_target(text)


def test_get_objects_follows_the_token_until_the_last_page():
    pages = [SimpleNamespace(objects=[_content("vm-1")], token="t1"), SimpleNamespace(objects=[_content("vm-2")],
                                                                                       token="t2"),
             SimpleNamespace(objects=[_content("vm-3")], token=None)]
    calls = []

    class Collector:
        def RetrievePropertiesEx(self, specs, options):
            calls.append(("RetrievePropertiesEx", options.maxObjects))
            return pages[0]

        def ContinueRetrievePropertiesEx(self, token):
            calls.append(("ContinueRetrievePropertiesEx", token))
            return pages[int(token[1:])]

    stub = SimpleNamespace(InvokeMethod=lambda mo, info, args, outerStub=None: calls.append((info.wsdlName,)))
    view = vim.view.ContainerView("session[52f1]cv-1", stub)
    content = SimpleNamespace(propertyCollector=Collector(), rootFolder=None,
                              viewManager=SimpleNamespace(CreateContainerView=lambda *a: view))
    got = [[o["_ref"] for o in page] for page in vcenter.get_objects(None, content, "VirtualMachine", ("name",),
                                                                      page_size=1)]
    assert got == [["vm-1"], ["vm-2"], ["vm-3"]]
    assert calls == [("RetrievePropertiesEx", 1), ("ContinueRetrievePropertiesEx", "t1"),
                     ("ContinueRetrievePropertiesEx", "t2"), ("DestroyView",)]


def _content(moid):
    return SimpleNamespace(obj=vim.VirtualMachine(moid), propSet=[SimpleNamespace(name="name", val=moid)])


def test_the_guard_refuses_a_method_outside_the_read_only_list():
    sent = []
    stub = SimpleNamespace(InvokeMethod=lambda mo, info, args, outerStub=None: sent.append(info.wsdlName))
    vcenter.guard_read_only(stub)
    stub.InvokeMethod(None, SimpleNamespace(wsdlName="RetrievePropertiesEx"), ())
    for method in ("PowerOffVM_Task", "Destroy_Task", "ReconfigVM_Task", "CreateSnapshot_Task", "Fetch"):
        with pytest.raises(EstateError, match=f"refused to call {method}"):
            stub.InvokeMethod(None, SimpleNamespace(wsdlName=method), ())
    assert sent == ["RetrievePropertiesEx"]


def test_the_vcenter_kind_needs_a_user_and_a_password_and_never_stores_it(monkeypatch):
    monkeypatch.setattr("discovery.scanning.secrets.Keychain.recall", lambda self, account: None)
    with pytest.raises(EstateError, match="--user"):
        REGISTRY.make_scanner("vcenter", {"server": "vc01"})
    with pytest.raises(SecretNeeded) as needed:
        REGISTRY.make_scanner("vcenter", {"server": "vc01", "user": "audit"})
    assert needed.value.option == "password" and "--password-stdin" in needed.value.unattended
    with pytest.raises(EstateError, match="exclude each other"):
        REGISTRY.make_scanner("vcenter", {"server": "vc01", "user": "audit", "password": "pw", "insecure": True,
                                          "ca_file": "/etc/ssl/ca.pem"})
    scanner = REGISTRY.make_scanner("vcenter", {"server": "vc01", "user": "audit", "password": "S3cret pw"})
    assert scanner.targets() == ("https://vc01",) and "S3cret" not in scanner.arguments
    assert scanner.resume_options == {"server": "vc01", "port": 443, "user": "audit", "ca_file": None,
                                      "insecure": None}  # what scan resume runs again with: never the password
    assert REGISTRY["vcenter"].accounts(REGISTRY.complete("vcenter", {"server": "vc01", "user": "audit"})) == [
        "vcenter:audit@vc01:443"]


def test_uuid_forms_include_the_byte_swapped_smbios_reading():
    assert uuid_forms(BIOS_UUID) == {BIOS_UUID, "5c3b1e42-7e6d-908f-a1b2-c3d4e5f6a7b8"}


def test_a_shared_mac_does_not_merge_two_machines_with_different_uuids():
    keys = {("mac", "00:0c:29:36:63:62"): ["h-1"], ("uuid", "aaaa"): ["h-1"]}
    lookup = lambda kind, value: keys.get((kind, value), [])  # noqa: E731
    clone = Host(source="vcenter", observed_at=NOW, hardware_uuid="bbbb", macs=("00:0c:29:36:63:62",))
    uuids = lambda ids: {h: {"aaaa"} for h in ids}  # noqa: E731
    assert find_match(clone, lookup, lambda h: {"00:0c:29:36:63:62"}, uuids) is None
    same = Host(source="vcenter", observed_at=NOW, hardware_uuid="aaaa", macs=("00:0c:29:36:63:62",))
    assert find_match(same, lookup, lambda h: set(), uuids).kind == "uuid"
    no_uuid = Host(source="nmap", observed_at=NOW, macs=("00:0c:29:36:63:62",))
    assert find_match(no_uuid, lookup, lambda h: set(), uuids).kind == "mac"
    # the guest's DMI UUID read the other way round still merges by the serial VMware derives from it
    serial_keys = {("serial", "vmware-42 1e"): ["h-2"]}
    swapped = Host(source="local", observed_at=NOW, hardware_uuid="5c3b1e42-7e6d-908f-a1b2-c3d4e5f6a7b8",
                   serial="VMware-42 1e")
    assert find_match(swapped, lambda k, v: serial_keys.get((k, v), []), lambda h: set(),
                      lambda ids: {h: {BIOS_UUID} for h in ids}).kind == "serial"


def test_the_vm_script_carries_what_the_analyses_read():
    host = vcenter_records.transform_virtual_machine(vm_properties(), lookups(), NOW).host
    (script,) = host.scripts
    assert script.id == "vcenter-vm" and script.output == "poweredOn, on esx01.example.org / Cluster-A, hardware " \
                                                          "vmx-09, tools guestToolsRunning"
    assert script.data["runs_on"] == {"host": "esx01.example.org", "host_uuid": None, "cluster": "Cluster-A"}
    assert script.data["tools_version_status"] == "guestToolsSupportedOld"
    assert script.data["created"] == "2019-03-04T05:06:00+00:00"
    json.dumps(script.data)  # stored as JSON: plain values only


def test_platform_objects_name_their_datacenter_and_keep_what_the_server_says():
    found = lookups()
    for obj in ({"_ref": "group-s1", "_type": "Folder", "name": "datastore", "parent": vim.Datacenter("datacenter-1")},
                {"_ref": "datastore-3", "_type": "Datastore", "name": "SAN-LUN01", "summary.type": "VMFS",
                 "summary.capacity": 2 * 2**40, "summary.freeSpace": 2**40, "parent": vim.Folder("group-s1")}):
        found.add(obj)
    datastore = vcenter_records.platform_object(
        {"_ref": "datastore-3", "_type": "Datastore", "name": "SAN-LUN01", "summary.type": "VMFS",
         "parent": vim.Folder("group-s1")}, found, "https://vc01", NOW)
    assert (datastore.kind, datastore.key, datastore.parent) == ("datastore", "datastore-3", "datacenter-1")
    assert datastore.data == {"type": "VMFS", "datacenter": "Hospital-DC", "capacity_bytes": 2 * 2**40,
                              "free_bytes": 2**40}
    cluster = vcenter_records.platform_object(
        {"_ref": "domain-c7", "_type": "ClusterComputeResource", "name": "Cluster-A", "parent": vim.Folder("group-h1"),
         "summary.numHosts": 3, "summary.numCpuCores": 48, "summary.totalMemory": 3 * 2**39}, found, "https://vc01", NOW)
    assert cluster.data == {"type": "ClusterComputeResource", "datacenter": "Hospital-DC", "hosts": 3,
                            "cpu_cores": 48, "memory_bytes": 3 * 2**39}
    assert vcenter_records.platform_object({"_ref": "group-v2", "_type": "Folder", "name": "Clinical"}, found,
                                           "https://vc01", NOW) is None  # folders name things; they are not kept
    about = SimpleNamespace(fullName="VMware ESXi 7.0.3 build-20328353", version="7.0.3", build="20328353",
                            apiType="HostAgent", instanceUuid=None, osType="vmnix-x86", name="VMware ESXi")
    server = vcenter_records.vcenter_object(about, "https://esx01", NOW)
    assert (server.kind, server.name, server.data["role"], server.data["version"]) == (
        "vcenter", "https://esx01", "esxi", "7.0.3")


def _vm_row(host_id: str, **facts) -> dict:
    data = {"power_state": "poweredOn", "tools_running": "guestToolsRunning",
            "tools_version_status": "guestToolsCurrent",
            "tools_version": "12352", "guest_os_configured": "Debian GNU/Linux 12 (64-bit)",
            "guest_os_reported": "Debian GNU/Linux 12 (64-bit)", "template": False} | facts
    return {"id": host_id, "scripts": [{"id": "vcenter-vm", "output": None, "data": data}]}


def test_assess_vmware_reports_tools_and_guest_os_problems_only():
    from discovery.analyses.vmware_rules import assess_vmware

    inventory = {"hosts": [
        _vm_row("ok"),
        _vm_row("stopped-tools", tools_running="guestToolsNotRunning"),
        _vm_row("powered-off", power_state="poweredOff", tools_running="guestToolsNotRunning"),
        _vm_row("old-tools", tools_version_status="guestToolsTooOld", tools_version="9349"),
        _vm_row("mismatch", guest_os_reported="Microsoft Windows Server 2019 (64-bit)"),
        _vm_row("template", template=True, tools_running="guestToolsNotRunning"),
        {"id": "physical", "scripts": [{"id": "smb-protocols", "output": "SMBv1"}]},
    ]}
    found = {(f.host_id, f.rule, f.severity) for f in assess_vmware(inventory)}
    assert found == {("stopped-tools", "vmware-tools-not-running", "low"),
                     ("old-tools", "vmware-tools-outdated", "medium"),
                     ("mismatch", "vmware-guest-os-mismatch", "info")}


def test_vmware_rows_list_each_vm_with_its_place_and_tools():
    from discovery.analyses.vmware_rules import vmware_rows

    vm = vcenter_records.transform_virtual_machine(vm_properties(), lookups(), NOW).host
    script = {"id": vm.scripts[0].id, "output": vm.scripts[0].output, "data": vm.scripts[0].data}
    inventory = {"hosts": [{"id": "h-1", "hostname": vm.hostname, "cpu_cores": 4, "memory_bytes": 2**34,
                            "addresses": list(vm.addresses), "scripts": [script]},
                           {"id": "h-2", "hostname": "esx01", "scripts": []}]}
    (row,) = vmware_rows(inventory)
    assert (row["host_id"], row["name"], row["esxi_host"], row["cluster"], row["datacenter"]) == (
        "h-1", "emr-app01", "esx01.example.org", "Cluster-A", "Hospital-DC")
    assert row["datastores"] == ["SAN-LUN01"] and row["networks"] == ["VM Network"]
    assert (row["power_state"], row["tools_version_status"], row["hardware_version"]) == (
        "poweredOn", "guestToolsSupportedOld", "vmx-09")


def test_an_optional_property_an_older_server_refuses_is_left_out_with_a_warning(monkeypatch):
    from pyVmomi import vmodl

    asked = []

    def get_objects(si, content, type_name, paths, *, page_size):
        asked.append(paths)
        unknown = next((p for p in paths if p in ("config.createDate", "config.needed")), None)
        if unknown:
            raise vmodl.query.InvalidProperty(name=unknown)
        yield [{"_ref": "vm-1", "_type": "VirtualMachine", "name": "a"}]

    monkeypatch.setattr(vcenter, "get_objects", get_objects)
    scanner = vcenter.VCenterScanner("vc01", user="u", password="p")
    ctx = ScanContext()
    pages = list(scanner._pages(None, None, ctx, "VirtualMachine", ("name", "config.createDate")))
    assert pages == [[{"_ref": "vm-1", "_type": "VirtualMachine", "name": "a"}]]
    assert asked == [("name", "config.createDate"), ("name",)]
    assert ctx.warnings == ["https://vc01: the server does not know config.createDate (an older vSphere): left out"]
    with pytest.raises(vmodl.query.InvalidProperty):  # a property the scan needs is not left out
        list(scanner._pages(None, None, ScanContext(), "VirtualMachine", ("name", "config.needed")))
