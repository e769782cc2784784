"""What a device's sysDescr says about its system: names and versions the end-of-life table can judge, and the
Windows release behind the kernel version Microsoft's agent reports. The texts are real devices' sysDescr values,
from snmpsim-data's recordings (BSD-2-Clause) and Microsoft's documented agent output."""

from __future__ import annotations

from datetime import date

import pytest

from discovery.inventory.build import build_inventory
from discovery.records.model import Scan
from discovery.service import analyze
from scanners.snmp_agent import device_os, device_type, transform_agent
from tests.builders import T0
from tests.unit.test_snmp_agent import facts

WORKSTATION, SERVER, DC = (f"1.3.6.1.4.1.311.1.1.3.1.{n}" for n in (1, 2, 3))


@pytest.mark.parametrize("descr, object_id, expected", [
    ("Hardware: x86 Family 6 Model 63 Stepping 2 AT/AT COMPATIBLE - Software: Windows Version 5.2 (Build 3790 "
     "Multiprocessor Free)", None, ("Microsoft Windows Server 2003", "5.2 (build 3790)")),
    ("Hardware: x86 Family 6 Model 9 Stepping 5 AT/AT COMPATIBLE - Software: Windows 2000 Version 5.1 (Build 2600 "
     "Uniprocessor Free)", WORKSTATION, ("Microsoft Windows XP", "5.1 (build 2600)")),
    ("Hardware: Intel64 - Software: Windows Version 6.3 (Build 17763 Multiprocessor Free)", SERVER,
     ("Microsoft Windows Server 2019", "6.3 (build 17763)")),
    ("Hardware: Intel64 - Software: Windows Version 6.3 (Build 19045 Multiprocessor Free)", WORKSTATION,
     ("Microsoft Windows 10", "6.3 (build 19045)")),
    ("Hardware: Intel64 - Software: Windows Version 6.1 (Build 7601 Multiprocessor Free)", DC,
     ("Microsoft Windows Server 2008 R2", "6.1 (build 7601)")),
    # 6.3 is Windows 8.1 or Server 2012 R2: without the agent's role only the version is kept
    ("Hardware: Intel64 - Software: Windows Version 6.3 (Build 9600 Multiprocessor Free)", None,
     (None, "6.3 (build 9600)")),
    ("Juniper Networks, Inc. mx960 internet router, kernel JUNOS 16.1R6.7, Build date: 2017-11-22 02:47:00 UTC",
     None, ("Juniper Junos OS", "16.1R6.7")),
    ("Cisco NX-OS(tm) n5000, Software (n5000-uk9), Version 6.0(2)N2(3), RELEASE SOFTWARE Copyright (c) 2002-2012",
     None, ("Cisco NX-OS", "6.0(2)N2(3)")),
    ("ProCurve 516733-B21 6120XG Blade Switch, revision Z.14.31, ROM Z.14.09 (/ws/swbuildm/ec_Z_zint4b_qaoff)", None,
     ("HPE ArubaOS-Switch (ProCurve)", "Z.14.31")),
    ("ArubaOS (MODEL: Aruba7210), Version 6.5.1.6 (60228)", None, ("ArubaOS", "6.5.1.6")),
    ("NetApp Release 8.2.3 7-Mode: Thu Jan 15 21:30:45 PST 2015", None, ("NetApp Data ONTAP", "8.2.3")),
    ("APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.7.2 PN:apc_hw05_aos_672.bin AF1:v6.7.2)", None,
     ("APC Network Management Card AOS", "6.7.2")),
    ("Cisco IOS Software, C3750 Software (C3750-IPBASE-M), Version 12.2(50)SE5, RELEASE SOFTWARE (fc1)", None,
     ("Cisco IOS", "12.2(50)SE5")),
    ("Palo Alto Networks PA-5000 series firewall", None, (None, None)),
])
def test_system_and_version_from_sysdescr(descr, object_id, expected):
    assert device_os(descr, object_id) == expected


def test_a_device_with_a_forwarding_table_and_no_host_resources_is_a_switch():
    columns = {"fdb_port": {(0, 1, 2, 3, 4, 5): 1}}
    assert device_type("H3C Comware Platform Software, Software Version 7.1.075", None, columns, {}) == "switch"
    assert device_type("Linux br0 6.1.0", None, {**columns, "run_name": {(1,): b"init"}}, {}) == "server"
    assert device_type("Cisco NX-OS(tm) n5000, Software (n5000-uk9)", None, {}, {}) == "switch"


def test_an_snmp_only_windows_2003_server_is_judged_end_of_life(store):
    found = facts()
    found["system"].update(descr=b"Hardware: x86 Family 6 - Software: Windows Version 5.2 (Build 3790 "
                                 b"Multiprocessor Free)", object_id=SERVER, name=b"ris01")
    scan = store.start_scan(Scan(kind="snmp", started_at=T0))
    host_id, _ = store.write_host_report(scan, transform_agent(found, "10.0.0.9", T0))
    store.finish_scan(scan, "completed")
    analyze(store, as_of=date(2026, 12, 7))
    inventory = build_inventory(store)
    (host,) = inventory["hosts"]
    assert (host["os_name"], host["os_family"]) == ("Microsoft Windows Server 2003", "windows")
    assert any(f["rule"] == "os-eol" and f["host_id"] == host_id for f in inventory["findings"])


def test_installed_software_is_named_after_the_package_database_the_agent_read():
    rpm_host = facts(sw_name=[((1,), b"openssh-server-5.3p1-94.el6"), ((2,), b"bash-4.2.46-34.el7.x86_64"),
                              ((3,), b"gpg-pubkey-c105b9de-4e0fd3a3")])
    software = transform_agent(rpm_host, "10.0.0.5", T0).software
    assert [(s.name, s.version, s.architecture, s.source) for s in software] \
        == [("openssh-server", "5.3p1-94.el6", None, "rpm"), ("bash", "4.2.46-34.el7", "x86_64", "rpm"),
            ("gpg-pubkey-c105b9de-4e0fd3a3", None, None, "snmp")]  # not a version: left as the agent said
    windows = facts(sw_name=[((1,), b"Java 8 Update 45"), ((2,), b"Microsoft .NET Framework 2.0")])
    windows["system"].update(descr=b"Hardware: x86 - Software: Windows Version 5.2 (Build 3790 Multiprocessor Free)")
    assert {(s.name, s.source) for s in transform_agent(windows, "10.0.0.6", T0).software} == {
        ("Java 8 Update 45", "registry"), ("Microsoft .NET Framework 2.0", "registry")}


def test_snmp_software_is_judged_like_a_collectors_packages(store):
    found = facts(sw_name=[((1,), b"openssh-server_1:5.5p1-6+squeeze5_amd64"), ((2,), b"Java 8 Update 45")])
    scan = store.start_scan(Scan(kind="snmp", started_at=T0))
    host_id, _ = store.write_host_report(scan, transform_agent(found, "10.0.0.9", T0))
    store.finish_scan(scan, "completed")
    analyze(store, as_of=date(2026, 12, 7))
    eol = {f["subject_id"] for f in build_inventory(store)["findings"] if f["rule"] == "eol"}
    assert f"{host_id}:software/openssh-server" in eol  # Debian 6's OpenSSH 5.5, long past its end


def test_file_systems_from_the_storage_table_with_their_size_and_use():
    fixed, ram = "1.3.6.1.2.1.25.2.1.4", "1.3.6.1.2.1.25.2.1.2"
    report = transform_agent(facts(
        storage_type=[((1,), fixed), ((2,), ram), ((3,), fixed), ((4,), fixed)],
        storage_descr=[((1,), b"C:\\ Label:  Serial Number d8e9b3d8"), ((2,), b"Physical Memory"), ((3,), b"D:\\"),
                       ((4,), b"/boot")],
        storage_units=[((1,), 4096), ((2,), 65536), ((3,), 0), ((4,), 1024)],
        storage_size=[((1,), 13_105_015), ((2,), 32_758), ((3,), 0), ((4,), 1000)],
        storage_used=[((1,), 1_736_055), ((2,), 24_452), ((4,), 2000)]), "10.0.0.5", T0)
    assert [(p.mountpoint, p.total_bytes, p.used_bytes, p.free_bytes) for p in report.host.partitions] == [
        ("C:\\", 4096 * 13_105_015, 4096 * 1_736_055, 4096 * (13_105_015 - 1_736_055)),  # memory, an empty drive: out
        ("/boot", 1_024_000, None, None)]  # more used than its size: the agent's mistake, not a number to keep


@pytest.mark.parametrize("descr, ended", [
    (b"Juniper Networks, Inc. mx960 internet router, kernel JUNOS 16.1R6.7, Build date: 2017-11-22", True),
    (b"Juniper Networks, Inc. ex4300 Ethernet Switch, kernel JUNOS 23.4R2.13, Build date: 2024-06-01", False),
    (b"Cisco NX-OS(tm) n5000, Software (n5000-uk9), Version 6.0(2)N2(3), RELEASE SOFTWARE", True),
    (b"Cisco NX-OS(tm) nxos.9.3.8.bin, Software (nxos), Version 9.3(8), RELEASE SOFTWARE", False),
    (b"ProCurve 516733-B21 6120XG Blade Switch, revision Z.14.31, ROM Z.14.09", True),
    (b"Aruba JL256A 2930F-48G-PoE+-4SFP+ Switch, revision WC.16.10.0012, ROM WC.16.01.0008", False),
    (b"NetApp Release 8.2.3 7-Mode: Thu Jan 15 21:30:45 PST 2015", True),   # older than any ONTAP tracked
    (b"NetApp Release 9.16.1: Mon Jan 13 2025", False),
])
def test_network_and_storage_firmware_is_judged_for_end_of_support(store, descr, ended):
    found = facts()
    found["system"].update(descr=descr, object_id="1.3.6.1.4.1.2636.1")
    scan = store.start_scan(Scan(kind="snmp", started_at=T0))
    host_id, _ = store.write_host_report(scan, transform_agent(found, "10.0.0.9", T0))
    store.finish_scan(scan, "completed")
    analyze(store, as_of=date(2026, 12, 7))
    verdicts = [f for f in build_inventory(store)["findings"] if f["rule"] == "os-eol" and f["host_id"] == host_id]
    assert bool(verdicts) is ended, verdicts
