"""Unit tests for scanners/local_host.py, scanners/host_facts.py and scanners/platform_software.py.

Transforms are tested from output recorded on a real machine (tests/data/local/); the scanner
itself runs with every get_* function replaced by that recorded output, so these tests never
depend on the machine they run on.
"""

from __future__ import annotations

import json
import shlex
import stat
import subprocess
import threading
from collections import namedtuple
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pytest

from discovery.records.model import ScanCancelled, ScanContext
from scanners import host_facts, local_host, platform_software
from scanners.host_facts import (
    count_unowned_sockets, is_trusted_executable, transform_address, transform_connections, transform_cpu_mhz,
    transform_cpuinfo, transform_databases, transform_db_version, transform_dmi, transform_dmi_value,
    transform_engine, transform_hardware, transform_host_addresses, transform_mac, transform_names, transform_os,
    transform_os_release, transform_services, transform_virtualization,
)
from scanners.local_host import (
    LocalHostScanner, is_trusted_windows_path, transform_interfaces, transform_netmask, transform_pg_data_dir,
    transform_processes,
)
from scanners.platform_software import (
    transform_dpkg, transform_macos_apps, transform_rpm, transform_windows_software,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "local"
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
REAL_GET_PROCESSES = local_host.get_processes   # before any fixture replaces it


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def load(name: str):
    return json.loads(read(name))


def recorded_sockets(name: str) -> list[dict]:
    return load(name)["sockets"]


def recorded_names() -> dict[int, str]:
    return {int(pid): n for pid, n in load("sockets-root.json")["process_names"].items()}


# --- OS ---------------------------------------------------------------------------------------

def test_transform_os_release_debian_recorded():
    values = transform_os_release(read("os-release-debian12"))
    assert values["NAME"] == "Debian GNU/Linux"
    assert values["VERSION"] == "12 (bookworm)"
    assert values["ID"] == "debian"
    assert values["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"  # quotes removed


def test_transform_os_release_skips_comments_and_garbage():
    values = transform_os_release('# comment\n\nNAME="Odd \\"Linux\\""\nnot a pair\nID=odd\n')
    assert values == {"NAME": 'Odd "Linux"', "ID": "odd"}


def test_transform_os_linux_from_recorded_facts():
    facts = load("os-facts.json")
    fields = transform_os(facts, read("os-release-debian12"))
    assert fields["os_name"] == "Debian GNU/Linux"
    assert fields["os_version"] == "12 (bookworm)"
    assert fields["os_id"] == "debian"
    assert fields["os_family"] == "linux"
    assert fields["kernel"] == "6.18.44-fc-v769"
    assert fields["architecture"] == "x86_64"
    assert fields["boot_time"] == datetime.fromtimestamp(1795832821, timezone.utc)
    assert fields["boot_time"].tzinfo is timezone.utc
    assert fields["hostname"] == "vm"
    # getfqdn() said "localhost" on that machine: no FQDN, no domain.
    assert fields["fqdn"] is None and fields["domain"] is None


def test_transform_os_rocky_and_alpine_version_fallback():
    rocky = transform_os({"system": "Linux"}, read("os-release-rocky9"))
    assert (rocky["os_name"], rocky["os_version"], rocky["os_id"]) == ("Rocky Linux", "9.3 (Blue Onyx)", "rocky")
    alpine = transform_os({"system": "Linux"}, read("os-release-alpine"))
    assert (alpine["os_name"], alpine["os_version"], alpine["os_id"]) == ("Alpine Linux", "3.19.1", "alpine")


def test_transform_os_windows_and_macos():
    win = transform_os({"system": "Windows", "release": "10", "machine": "AMD64",
                        "win32_ver": ["10", "10.0.19045", "SP0", "Multiprocessor Free"]}, None)
    assert (win["os_name"], win["os_version"], win["os_id"], win["os_family"]) == \
        ("Windows 10", "10.0.19045", "windows", "windows")
    assert win["kernel"] == "10.0.19045"
    mac = transform_os({"system": "Darwin", "release": "23.2.0", "machine": "arm64", "mac_ver": "14.2.1"}, None)
    assert (mac["os_name"], mac["os_version"], mac["os_id"], mac["os_family"], mac["kernel"]) == \
        ("macOS", "14.2.1", "macos", "macos", "23.2.0")


@pytest.mark.parametrize("hostname, fqdn, expected", [
    ("web1", "web1.corp.example.org", ("web1.corp.example.org", "corp.example.org")),
    ("web1.corp.example.org", "web1.corp.example.org", ("web1.corp.example.org", "corp.example.org")),
    ("vm", "vm", (None, None)),
    ("vm", "localhost", (None, None)),
    ("vm", "localhost.localdomain", (None, None)),
    ("vm", "", (None, None)),
])
def test_transform_names(hostname, fqdn, expected):
    names = transform_names(hostname, fqdn)
    assert (names["fqdn"], names["domain"]) == expected
    assert names["hostname"] == hostname


# --- hardware -----------------------------------------------------------------------------------

def test_transform_cpuinfo_recorded():
    assert transform_cpuinfo(read("cpuinfo")) == "Intel(R) Xeon(R) Processor"


def test_transform_cpuinfo_without_model_name():
    arm = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n"
    assert transform_cpuinfo(arm) is None
    assert transform_cpuinfo(None) is None


def test_transform_hardware_recorded():
    hw = load("hardware.json")
    fields = transform_hardware(
        counts=hw["counts"], cpuinfo=read("cpuinfo"), processor=None, dmi=hw["dmi"],
        detect_virt=hw["detect_virt"], markers=hw["markers"], block_devices=hw["block_devices"],
        partitions=hw["partitions"], machine_id=hw["machine_id"],
    )
    assert fields["cpu_model"] == "Intel(R) Xeon(R) Processor"
    assert (fields["cpu_cores"], fields["cpu_logical_cores"]) == (2, 2)
    assert fields["cpu_mhz"] == 2600.0          # max is 0 in that VM: the current frequency is used
    assert fields["memory_bytes"] == 25276063744
    assert fields["swap_bytes"] == 0
    # loop0-7 and zram0 are not disks; vda's size is 536870912 sectors of 512 bytes
    assert [d.name for d in fields["disks"]] == ["vda"]
    vda = fields["disks"][0]
    assert vda.size_bytes == 536870912 * 512
    assert vda.serial == "overlayblk" and vda.model is None and vda.rotational is True
    # /dev/vda is mounted on / and bind-mounted on /run/netns: one filesystem, listed once
    assert [(p.device, p.mountpoint, p.fstype) for p in fields["partitions"]] == [("/dev/vda", "/", "ext4")]
    assert fields["partitions"][0].total_bytes > fields["partitions"][0].free_bytes > 0
    # no DMI in that VM: nothing guessed
    assert (fields["vendor"], fields["model"], fields["serial"], fields["hardware_uuid"]) == (None,) * 4
    assert fields["virtualization"] == "docker"
    assert fields["machine_id"] == "3d1219c7c4c5404aaa1f6d2a48adfda4"


def test_transform_hardware_falls_back_to_platform_processor():
    fields = transform_hardware(counts={}, cpuinfo=None, processor="Intel64 Family 6 Model 85 Stepping 7",
                                dmi={}, detect_virt=None, markers={}, block_devices=[], partitions=[],
                                machine_id="uninitialized\n")
    assert fields["cpu_model"] == "Intel64 Family 6 Model 85 Stepping 7"
    assert fields["machine_id"] is None
    assert fields["cpu_cores"] is None and fields["memory_bytes"] is None


@pytest.mark.parametrize("freq, expected", [
    ({"current": 2600.0, "max": 0.0}, 2600.0),
    ({"current": 1200.0, "max": 3900.0}, 3900.0),
    ({"current": 0.0, "max": None}, None),
    (None, None),
])
def test_transform_cpu_mhz(freq, expected):
    assert transform_cpu_mhz(freq) == expected


@pytest.mark.parametrize("value", [
    "To Be Filled By O.E.M.\n", "Default string", "None", "0", "System Serial Number", "  ", "",
    None, "Not Specified", "00000000", "To be filled by O.E.M.",
])
def test_transform_dmi_value_drops_placeholders(value):
    assert transform_dmi_value(value) is None


def test_transform_dmi_keeps_real_values_and_drops_junk_uuids():
    real = transform_dmi({"sys_vendor": "Dell Inc.\n", "product_name": "PowerEdge R740\n",
                          "product_serial": "7XK2Q53\n",
                          "product_uuid": "4C4C4544-0058-4B10-8032-B7C04F513533\n"})
    assert real == {"vendor": "Dell Inc.", "model": "PowerEdge R740", "serial": "7XK2Q53",
                    "hardware_uuid": "4c4c4544-0058-4b10-8032-b7c04f513533"}
    junk = transform_dmi({"sys_vendor": "System manufacturer", "product_name": "System Product Name",
                          "product_serial": "System Serial Number",
                          "product_uuid": "00000000-0000-0000-0000-000000000000"})
    assert set(junk.values()) == {None}
    assert transform_dmi({"product_uuid": "03000200-0400-0500-0006-000700080009"})["hardware_uuid"] is None
    # unreadable (root-only) serial and UUID are simply unknown
    assert transform_dmi({"sys_vendor": "LENOVO", "product_serial": None, "product_uuid": None})["serial"] is None


@pytest.mark.parametrize("detect, markers, dmi, expected", [
    ("none\n", {"/.dockerenv": True}, {}, "none"),                   # systemd-detect-virt wins
    ("kvm\n", {}, {"sys_vendor": "QEMU"}, "kvm"),
    (None, {"/.dockerenv": True}, {}, "docker"),
    (None, {"/.dockerenv": False, "/run/.containerenv": True}, {}, "podman"),
    (None, {}, {"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}, "qemu"),
    (None, {}, {"sys_vendor": "Red Hat", "product_name": "KVM"}, "kvm"),
    (None, {}, {"sys_vendor": "VMware, Inc.", "product_name": "VMware Virtual Platform"}, "vmware"),
    (None, {}, {"sys_vendor": "innotek GmbH", "product_name": "VirtualBox"}, "oracle"),
    (None, {}, {"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine"}, "microsoft"),
    (None, {}, {"sys_vendor": "Xen", "product_name": "HVM domU"}, "xen"),
    (None, {}, {"sys_vendor": "Amazon EC2", "product_name": "m5.large"}, "amazon"),
    (None, {}, {"sys_vendor": "Google", "product_name": "Google Compute Engine"}, "google"),
    (None, {}, {"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R740"}, None),
    (None, {}, {"sys_vendor": "Microsoft Corporation", "product_name": "Surface Pro 9"}, None),
    (None, {}, {}, None),
])
def test_transform_virtualization(detect, markers, dmi, expected):
    assert transform_virtualization(detect, markers, dmi) == expected


def test_get_block_devices_reads_sysfs_layout(tmp_path):
    def write(rel, text):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    write("nvme0n1/size", "1000215216\n")
    write("nvme0n1/device/model", "Samsung SSD 980 PRO 1TB                 \n")
    write("nvme0n1/device/serial", "S5GXNF0R123456      \n")
    write("nvme0n1/queue/rotational", "0\n")
    write("sda/size", "3907029168\n")
    write("sda/queue/rotational", "1\n")
    write("loop0/size", "0\n")
    disks = host_facts.transform_disks(local_host.get_block_devices(str(tmp_path)))
    assert [(d.name, d.size_bytes, d.model, d.serial, d.rotational) for d in disks] == [
        ("nvme0n1", 1000215216 * 512, "Samsung SSD 980 PRO 1TB", "S5GXNF0R123456", False),
        ("sda", 3907029168 * 512, None, None, True),
    ]


# --- interfaces ---------------------------------------------------------------------------------

@pytest.mark.parametrize("netmask, prefix", [
    ("255.255.255.0", 24), ("255.0.0.0", 8), ("255.255.255.255", 32), ("0.0.0.0", 0),
    ("255.255.252.0", 22), ("ffff:ffff:ffff:ffff::", 64), ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128),
    ("255.0.255.0", None), ("not-a-mask", None), (None, None),
])
def test_transform_netmask(netmask, prefix):
    assert transform_netmask(netmask) == prefix


@pytest.mark.parametrize("raw, mac", [
    ("02:FC:00:00:00:01", "02:fc:00:00:00:01"), ("00-1A-2B-3C-4D-5E", "00:1a:2b:3c:4d:5e"),
    ("00:00:00:00:00:00", None), ("", None), (None, None), ("zz:zz", None),
])
def test_transform_mac(raw, mac):
    assert transform_mac(raw) == mac


def test_transform_interfaces_recorded():
    interfaces = {i.name: i for i in transform_interfaces(load("interfaces.json"), AT)}
    assert set(interfaces) == {"lo", "eth0", "ifb0", "ifb1"}
    lo, eth0 = interfaces["lo"], interfaces["eth0"]
    assert lo.mac is None                                 # 00:00:00:00:00:00 is no MAC
    assert lo.addresses == ("127.0.0.1/8", "::1/128")
    assert eth0.mac == "02:fc:00:00:00:01"
    assert eth0.addresses == ("192.0.2.2/24", "fd00::2/64", "fe80::fc:ff:fe00:1/64")  # zone "%eth0" dropped
    assert eth0.is_up is True and eth0.mtu == 1400
    assert eth0.speed_mbps is None                        # psutil reports 0: unknown
    assert interfaces["ifb0"].is_up is False and interfaces["ifb0"].addresses == ()
    assert all(i.source == "local" and i.observed_at == AT and i.host_id is None for i in interfaces.values())


def test_transform_host_addresses_recorded():
    addresses, macs = transform_host_addresses(transform_interfaces(load("interfaces.json"), AT))
    assert addresses == ("192.0.2.2", "fd00::2")          # no loopback, no link-local, no prefix
    assert macs == ("02:fc:00:00:00:01", "1a:74:3a:c3:40:c3", "62:16:5e:f0:62:0c")


# --- software -----------------------------------------------------------------------------------

def test_transform_dpkg_recorded():
    text = read("dpkg-query.txt")
    records, bad = transform_dpkg(text, AT)
    installed = [line for line in text.splitlines() if line.split("\t")[4].strip() == "ii"]
    assert bad == []
    assert len(records) == len(installed) > 100
    redis = next(r for r in records if r.name == "redis-server")
    assert (redis.version, redis.architecture, redis.vendor, redis.source) == \
        ("5:7.0.15-1~deb12u10", "amd64", "Chris Lamb", "dpkg")
    assert redis.observed_at == AT and redis.host_id is None


def test_transform_dpkg_status_and_malformed_lines():
    records, bad = transform_dpkg(read("dpkg-query-edge.txt"), AT)
    names = [r.name for r in records]
    assert names == ["base-files", "libc6", "redis-server", "linux-image-amd64", "local-tool"]
    assert "exim4-config" not in names                     # "rc": removed, config files left
    assert next(r for r in records if r.name == "local-tool").vendor is None   # empty maintainer
    assert bad == ["broken-line-without-tabs ii", "truncated\t1.2\tamd64"]


def test_transform_rpm_sample():
    records, bad = transform_rpm(read("rpm-qa.txt"), AT)
    by_name = {r.name: r for r in records}
    assert len(records) == 7 and bad == ["this line is not rpm output"]
    bash = by_name["bash"]
    assert (bash.version, bash.architecture, bash.vendor, bash.source) == \
        ("5.1.8-9.el9", "x86_64", "Rocky Enterprise Software Foundation", "rpm")
    key = by_name["gpg-pubkey"]
    assert key.architecture is None and key.vendor is None  # rpm prints "(none)"
    assert by_name["mylocalbuild"].vendor is None
    assert by_name["postgresql-server"].version == "13.14-1.el9_3"


def test_transform_windows_software_sample():
    records = transform_windows_software(load("windows-uninstall.json")["entries"], AT)
    assert [(r.name, r.version, r.vendor) for r in records] == [
        ("7-Zip 23.01 (x64)", "23.01", "Igor Pavlov"),
        ("Mozilla Firefox (x64 en-US)", "123.0", "Mozilla"),
        ("Microsoft Edge", "122.0.2365.92", "Microsoft Corporation"),   # listed twice, kept once
        ("Mirth Connect", "3.4.2.8129", None),                          # empty Publisher
        ("Zoom", "5.17.5 (31030)", "Zoom Video Communications, Inc."),
    ]
    assert all(r.source == "registry" for r in records)


def test_transform_macos_apps_sample():
    records = transform_macos_apps(load("macos-apps.json")["apps"], AT)
    assert [(r.name, r.version, r.source) for r in records] == [
        ("Firefox", "123.0", "macos-app"),
        ("Visual Studio Code", "1.87.2", "macos-app"),
        ("Xcode", "22618", "macos-app"),
        ("Legacy Tool", None, "macos-app"),
    ]


def test_platform_collectors_do_nothing_off_their_platform():
    # This suite runs on Linux: the Windows and macOS collectors must neither crash nor invent data.
    assert platform_software.get_windows_uninstall_entries() == []
    assert platform_software.get_macos_app_plists() == []


# --- processes ----------------------------------------------------------------------------------

def test_transform_processes_recorded_as_nobody():
    infos = load("processes-nonroot.json")["processes"]
    processes, denied = transform_processes(infos, AT)
    assert denied == 2          # kthreadd and root's python; the zombie's missing fields do not count
    by_pid = {p.pid: p for p in processes}
    kthreadd = by_pid[2]
    assert kthreadd.name == "kthreadd" and kthreadd.exe is None and kthreadd.cmdline is None
    assert kthreadd.username == "root" and kthreadd.ppid == 0
    root_python = next(p for p in processes if p.username == "root" and p.name == "python")
    assert root_python.exe is None                        # denied -> None, never ""
    assert root_python.cmdline == shlex.join(next(i for i in infos if i["pid"] == root_python.pid)["cmdline"])
    mine = next(p for p in processes if p.username == "nobody")
    assert mine.exe == "/root/.pyenv/versions/3.11.7/bin/python3.11"
    assert shlex.split(mine.cmdline)[1] == "-c"           # one string that splits back into the argv
    assert mine.started_at == datetime.fromtimestamp(1795833432, timezone.utc)
    assert mine.started_at.tzinfo is timezone.utc
    assert all(p.source == "local" and p.observed_at == AT and p.host_id is None for p in processes)


def test_transform_processes_name_falls_back_to_exe():
    processes, denied = transform_processes(
        [{"pid": 7, "name": None, "exe": "/usr/sbin/sshd", "cmdline": None, "denied": ["name"]},
         {"pid": 8, "name": None, "exe": None, "cmdline": None, "denied": ["name", "exe"]}], AT)
    assert [p.name for p in processes] == ["sshd", "(unknown)"]
    assert denied == 2


# --- sockets ------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, clean", [
    ("::ffff:10.0.0.1", "10.0.0.1"), ("::ffff:127.0.0.1", "127.0.0.1"), ("10.0.0.1", "10.0.0.1"),
    ("::", "::"), ("fe80::1%eth0", "fe80::1"), ("2001:DB8::1", "2001:db8::1"), (None, None),
])
def test_transform_address(raw, clean):
    assert transform_address(raw) == clean


def test_transform_services_recorded_dedupes_wildcards():
    sockets = recorded_sockets("sockets-root.json")
    services = transform_services(sockets, recorded_names(), {("tcp", 8080): "http-alt"}, AT)
    assert [(s.protocol, s.port, s.address) for s in services] == [
        ("tcp", 5432, "127.0.0.2"),
        ("tcp", 6379, "127.0.0.1"),
        ("tcp", 8080, "0.0.0.0"),      # 0.0.0.0:8080 and :::8080 are one service
        ("udp", 5353, "0.0.0.0"),      # so are 0.0.0.0:5353 and :::5353
    ]                                  # the connected UDP client socket (port 33309) is not listening
    web = services[2]
    assert web.state == "listening" and web.name == "http-alt"
    assert web.process == "python" and web.pid == 5900
    assert services[0].name is None    # no well-known name supplied: None, not guessed
    assert all(s.source == "local" and s.observed_at == AT and s.category is None for s in services)


def test_transform_services_prefers_wildcard_over_specific_and_loopback():
    def listener(address, pid):
        return {"protocol": "tcp", "local_address": address, "local_port": 53, "remote_address": None,
                "remote_port": None, "status": "LISTEN", "pid": pid}
    services = transform_services([listener("127.0.0.53", 10), listener("10.0.0.5", 11)], {10: "a", 11: "b"}, {}, AT)
    assert [(s.address, s.process) for s in services] == [("10.0.0.5", "b")]
    services = transform_services([listener("::", None), listener("::ffff:10.0.0.5", 11)], {11: "b"}, {}, AT)
    assert [(s.address, s.pid) for s in services] == [("::", 11)]   # the only known owner of the port


def test_transform_connections_recorded_inbound_outbound():
    connections = transform_connections(recorded_sockets("sockets-root.json"), recorded_names(), AT)
    seen = {(c.protocol, c.local_address, c.local_port, c.remote_address, c.remote_port): c for c in connections}
    by_ends = {key: (c.direction, c.state) for key, c in seen.items()}
    # the dual-stack client: IPv4-mapped addresses become plain IPv4
    assert by_ends[("tcp", "127.0.0.1", 56564, "127.0.0.1", 8080)] == ("outbound", "ESTABLISHED")
    # ...and the server end accepted on the 0.0.0.0 listener
    assert by_ends[("tcp", "127.0.0.1", 8080, "127.0.0.1", 56564)] == ("inbound", "ESTABLISHED")
    # a client of the loopback-only listener, and that listener's end
    assert by_ends[("tcp", "127.0.0.1", 45706, "127.0.0.1", 6379)] == ("outbound", "ESTABLISHED")
    assert by_ends[("tcp", "127.0.0.1", 6379, "127.0.0.1", 45706)] == ("inbound", "ESTABLISHED")
    # local port 5432 is listened on, but only on 127.0.0.2: this 127.0.0.1:5432 client is outbound
    assert by_ends[("tcp", "127.0.0.1", 5432, "127.0.0.1", 8080)] == ("outbound", "ESTABLISHED")
    # a connected UDP socket has no TCP state
    assert by_ends[("udp", "127.0.0.1", 33309, "127.0.0.1", 5353)] == ("outbound", None)
    # TIME_WAIT keeps no owner
    time_wait = seen[("tcp", "127.0.0.1", 45712, "127.0.0.1", 6379)]
    assert (time_wait.state, time_wait.pid, time_wait.process) == ("TIME_WAIT", None, None)
    assert len(connections) == 8
    assert not any("::ffff:" in c.local_address + c.remote_address for c in connections)
    owned = [c for c in connections if c.pid is not None]
    assert owned and all(c.process == "python" for c in owned)


def test_transform_connections_wildcard_families():
    def sock(address, port, status, remote=None):
        return {"protocol": "tcp", "local_address": address, "local_port": port,
                "remote_address": remote, "remote_port": 40000 if remote else None, "status": status, "pid": 1}
    sockets = [sock("0.0.0.0", 22, "LISTEN"), sock("10.0.0.5", 22, "ESTABLISHED", "10.0.0.9"),
               sock("2001:db8::5", 22, "ESTABLISHED", "2001:db8::9")]
    directions = [c.direction for c in transform_connections(sockets, {}, AT)]
    # 0.0.0.0 accepts IPv4 only: the IPv6 socket on port 22 is not its connection
    assert directions == ["inbound", "outbound"]


def test_count_unowned_sockets_recorded_as_nobody():
    sockets = recorded_sockets("sockets-nonroot.json")
    assert all(s["pid"] is None for s in sockets)
    assert count_unowned_sockets(sockets) == len(sockets) - 1   # the TIME_WAIT socket never has an owner
    assert count_unowned_sockets(recorded_sockets("sockets-root.json")) == 0


# --- databases ----------------------------------------------------------------------------------

@pytest.mark.parametrize("engine, output, expected", [
    ("postgresql", "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n", ("postgresql", "15.18")),
    ("postgresql", "postgres (PostgreSQL) 9.6.24\n", ("postgresql", "9.6.24")),
    ("redis", "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n",
     ("redis", "7.0.15")),
    ("mysql", "/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)\n",
     ("mysql", "8.0.36")),
    ("mysql", "mysqld  Ver 10.11.6-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)\n",
     ("mariadb", "10.11.6")),
    ("mariadb", "mariadbd  Ver 11.4.2-MariaDB-ubu2404 for debian-linux-gnu on x86_64\n", ("mariadb", "11.4.2")),
    ("mongodb", 'db version v6.0.14\nBuild Info: {\n    "version": "6.0.14",\n    "gitVersion": "25225"\n}\n',
     ("mongodb", "6.0.14")),
    ("memcached", "memcached 1.6.18\n", ("memcached", "1.6.18")),
    ("valkey", "Valkey server v=8.0.1 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=1\n", ("valkey", "8.0.1")),
    ("redis", "redis-server: error while loading shared libraries: libssl.so.3\n", ("redis", None)),
    ("mssql", "anything", ("mssql", None)),
])
def test_transform_db_version(engine, output, expected):
    assert transform_db_version(engine, output) == expected


def test_transform_db_version_recorded_redis():
    assert transform_db_version("redis", read("redis-server-version.txt")) == ("redis", "7.0.15")


@pytest.mark.parametrize("name, exe, cmdline, engine", [
    ("postgres", "/usr/lib/postgresql/15/bin/postgres", None, "postgresql"),
    ("postmaster", None, None, "postgresql"),
    ("mysqld", "/usr/sbin/mysqld", None, "mysql"),
    ("mariadbd", "/usr/sbin/mariadbd", None, "mariadb"),
    ("sqlservr.exe", "C:\\Program Files\\Microsoft SQL Server\\MSSQL16\\Binn\\sqlservr.exe", None, "mssql"),
    ("tnslsnr", "/u01/app/oracle/product/19c/bin/tnslsnr", None, "oracle"),
    ("mongod", "/usr/bin/mongod", None, "mongodb"),
    ("redis-server", "/usr/bin/redis-check-rdb", None, "redis"),   # Debian's redis-server is a symlink
    ("memcached", "/usr/bin/memcached", None, "memcached"),
    ("valkey-server", "/usr/bin/valkey-server", None, "valkey"),
    ("clickhouse-serv", "/usr/bin/clickhouse", None, "clickhouse"),
    ("influxd", "/usr/bin/influxd", None, "influxdb"),
    ("java", "/usr/lib/jvm/java-11/bin/java",
     ["java", "-Xms1G", "org.apache.cassandra.service.CassandraDaemon"], "cassandra"),
    ("java", "/usr/share/elasticsearch/jdk/bin/java",
     ["java", "-cp", "x", "org.elasticsearch.bootstrap.Elasticsearch"], "elasticsearch"),
    ("java", "/usr/bin/java", ["java", "-jar", "app.jar"], None),
    ("nginx", "/usr/sbin/nginx", None, None),
    (None, None, None, None),
])
def test_transform_engine(name, exe, cmdline, engine):
    assert transform_engine(name, exe, cmdline) == engine


@pytest.mark.parametrize("cmdline, data_dir", [
    (["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main", "-c",
      "config_file=/etc/postgresql/15/main/postgresql.conf"], "/var/lib/postgresql/15/main"),
    (["postgres", "-D/srv/pg"], "/srv/pg"),
    (["postgres", "-D", "relative/dir"], None),
    (["postgres"], None),
    (None, None),
])
def test_transform_pg_data_dir(cmdline, data_dir):
    assert transform_pg_data_dir(cmdline) == data_dir


def test_transform_databases_one_per_engine_and_port():
    services = transform_services([
        {"protocol": "tcp", "local_address": "0.0.0.0", "local_port": 5432, "remote_address": None,
         "remote_port": None, "status": "LISTEN", "pid": 100},
        {"protocol": "tcp", "local_address": "::", "local_port": 5432, "remote_address": None,
         "remote_port": None, "status": "LISTEN", "pid": 100},
        {"protocol": "tcp", "local_address": "127.0.0.1", "local_port": 11211, "remote_address": None,
         "remote_port": None, "status": "LISTEN", "pid": 200},
        {"protocol": "udp", "local_address": "127.0.0.1", "local_port": 11211, "remote_address": None,
         "remote_port": None, "status": "NONE", "pid": 200},
        {"protocol": "tcp", "local_address": "0.0.0.0", "local_port": 22, "remote_address": None,
         "remote_port": None, "status": "LISTEN", "pid": 300},
    ], {100: "postgres", 200: "memcached", 300: "sshd"}, {}, AT)
    databases = transform_databases(services, {100: ("postgresql", "15.18"), 200: ("memcached", None)}, AT)
    assert [(d.engine, d.port, d.protocol, d.version, d.process, d.pid) for d in databases] == [
        ("memcached", 11211, "tcp", None, "memcached", 200),
        ("postgresql", 5432, "tcp", "15.18", "postgres", 100),
    ]
    assert all(d.databases == () and d.source == "local" for d in databases)


def test_is_trusted_executable():
    regular = stat.S_IFREG | 0o755
    assert is_trusted_executable(regular, 0, 0)
    assert not is_trusted_executable(regular, 1000, 0)               # root never runs a user's binary
    assert is_trusted_executable(regular, 1000, 1000)
    assert not is_trusted_executable(stat.S_IFREG | 0o775, 0, 0)      # group-writable
    assert not is_trusted_executable(stat.S_IFREG | 0o757, 0, 1000)   # world-writable
    assert not is_trusted_executable(stat.S_IFDIR | 0o755, 0, 0)


def test_is_trusted_windows_path():
    env = {"ProgramFiles": "C:\\Program Files", "SystemRoot": "C:\\Windows"}
    assert is_trusted_windows_path("C:\\Program Files\\PostgreSQL\\16\\bin\\postgres.exe", env)
    assert is_trusted_windows_path("c:\\windows\\system32\\x.exe", env)
    assert not is_trusted_windows_path("C:\\Users\\bob\\Downloads\\redis-server.exe", env)
    assert not is_trusted_windows_path("C:\\Program Files Evil\\redis-server.exe", env)


# --- the scanner, fed with recorded output ------------------------------------------------------

REDIS_PID = 6000   # the recorded sockets on port 6379 are given to a redis-server process


@pytest.fixture
def recorded(monkeypatch):
    """Replace every get_* the scanner calls by recorded output; returns the names of the calls made."""
    calls: list[str] = []
    hw = load("hardware.json")
    root_sockets = load("sockets-root.json")
    processes = load("processes-nonroot.json")["processes"] + [
        {"pid": REDIS_PID, "ppid": 1, "name": "redis-server", "exe": "/usr/bin/redis-check-rdb",
         "username": "redis", "create_time": 1795833431.81, "status": "sleeping", "denied": [],
         "cmdline": ["/usr/bin/redis-server 127.0.0.1:6379"]},
    ]
    # as root nothing is denied: keep the fully readable ones (and the zombie, which does not count)
    processes = [p for p in processes if not p["denied"] or p["status"] == "zombie"]
    sockets = [{**s, "pid": REDIS_PID} if s["local_port"] == 6379 else s for s in root_sockets["sockets"]]

    def fake(name, value):
        def get(*args, **kwargs):
            calls.append(name)
            return value() if callable(value) else value
        return get

    patches = {
        "get_cpuinfo": read("cpuinfo"), "get_dmi": hw["dmi"], "get_detect_virt": hw["detect_virt"],
        "get_processor": None, "get_hardware_counts": hw["counts"], "get_container_markers": hw["markers"],
        "get_block_devices": hw["block_devices"], "get_partitions": hw["partitions"],
        "get_machine_id": hw["machine_id"], "get_os_release": read("os-release-debian12"),
        "get_os_facts": load("os-facts.json"), "get_interfaces": load("interfaces.json"),
        "get_processes": processes,
        "get_sockets": {"sockets": sockets, "per_process": False, "denied_processes": 0},
        "get_process_names": {5900: "python"}, "get_port_names": {("tcp", 6379): "redis"}, "get_is_admin": True,
        "get_version_output": read("redis-server-version.txt"), "get_process_info": None,
    }
    for name, value in patches.items():
        monkeypatch.setattr(local_host, name, fake(name, value))
    monkeypatch.setattr(local_host.sys, "platform", "linux")
    monkeypatch.setattr(platform_software, "get_dpkg_output", fake("get_dpkg_output", read("dpkg-query.txt")))
    monkeypatch.setattr(platform_software, "get_rpm_output", fake("get_rpm_output", None))
    return calls


def run_scan(ctx: ScanContext | None = None):
    ctx = ctx or ScanContext(started_at=AT)
    reports = list(LocalHostScanner().scan(ctx))
    assert len(reports) == 1
    return reports[0], ctx


def test_scan_recorded_builds_one_report(recorded):
    progress = []
    report, ctx = run_scan(ScanContext(started_at=AT, progress=lambda *a: progress.append(a)))
    host = report.host
    assert ctx.warnings == []
    assert [p[:2] for p in progress] == [(i, 7) for i in range(1, 8)]
    assert [p[2].split()[0] for p in progress] == list(local_host.STAGES)
    assert (host.hostname, host.os_id, host.cpu_model, host.virtualization) == \
        ("vm", "debian", "Intel(R) Xeon(R) Processor", "docker")
    assert host.addresses == ("192.0.2.2", "fd00::2") and host.macs[0] == "02:fc:00:00:00:01"
    assert any(s.name == "redis-server" and s.source == "dpkg" for s in report.software)
    redis_service = next(s for s in report.services if s.port == 6379)
    assert (redis_service.process, redis_service.pid, redis_service.name) == ("redis-server", REDIS_PID, "redis")
    assert [(d.engine, d.port, d.version, d.pid) for d in report.databases] == \
        [("redis", 6379, "7.0.15", REDIS_PID)]
    records = (host, *report.interfaces, *report.processes, *report.services,
               *report.databases, *report.connections)
    assert all(r.source == "local" and r.observed_at == AT for r in records)
    # Software.source names the package database it came from (model.py), observed_at is the scan's
    assert {s.source for s in report.software} == {"dpkg"}
    assert all(s.observed_at == AT and s.host_id is None for s in report.software)
    assert all(r.host_id is None for r in records[1:]) and host.id is None
    assert report.raw["os-release"].startswith("PRETTY_NAME=")
    assert report.raw["dpkg"] == read("dpkg-query.txt")
    assert report.raw["cpuinfo"].count("processor\t:") == 1      # one processor's block only
    assert f"version:redis:{REDIS_PID}" in report.raw


def test_scan_stage_failure_becomes_warning_and_others_complete(recorded, monkeypatch):
    def broken():
        raise RuntimeError("netlink went away")
    monkeypatch.setattr(local_host, "get_interfaces", broken)
    report, ctx = run_scan()
    assert ctx.warnings == ["interfaces: netlink went away"]
    assert report.interfaces == () and report.host.addresses == ()
    assert report.host.cpu_model == "Intel(R) Xeon(R) Processor"    # before the failure
    assert report.host.os_name == "Debian GNU/Linux"
    assert len(report.software) > 100 and report.services and report.databases   # after it


def test_scan_package_tool_failure_is_a_warning(recorded, monkeypatch):
    def failing():
        raise subprocess.CalledProcessError(2, ["dpkg-query"], output=b"",
                                            stderr=b"dpkg-query: error: database locked\n")
    monkeypatch.setattr(platform_software, "get_dpkg_output", failing)
    report, ctx = run_scan()
    assert ctx.warnings == ["software: dpkg-query failed: exit status 2: dpkg-query: error: database locked"]
    assert report.software == () and report.processes


def test_scan_cancel_stops_between_stages(recorded):
    cancel = threading.Event()

    def progress(done, total, message):
        if done == 2:
            cancel.set()
    ctx = ScanContext(started_at=AT, progress=progress, cancel=cancel)
    with pytest.raises(ScanCancelled):
        list(LocalHostScanner().scan(ctx))
    assert "get_os_facts" in recorded and "get_interfaces" not in recorded


def test_scan_stage_cancel_is_not_swallowed(recorded, monkeypatch):
    def cancelled():
        raise ScanCancelled()
    monkeypatch.setattr(local_host, "get_processes", cancelled)
    ctx = ScanContext(started_at=AT)
    with pytest.raises(ScanCancelled):
        list(LocalHostScanner().scan(ctx))
    assert ctx.warnings == []


def test_scan_as_non_root_warns_once_per_gap(recorded, monkeypatch):
    monkeypatch.setattr(local_host, "get_is_admin", lambda: False)
    monkeypatch.setattr(local_host, "get_processes", lambda: load("processes-nonroot.json")["processes"])
    nonroot = load("sockets-nonroot.json")
    monkeypatch.setattr(local_host, "get_sockets", lambda: {k: nonroot[k] for k in ("sockets", "per_process",
                                                                                    "denied_processes")})
    report, ctx = run_scan()
    assert ctx.warnings == [
        "processes: 2 processes had fields this user may not read (run as root to see them)",
        "sockets: 13 sockets have no owning process (other users'; run as root)",
    ]
    assert report.services and all(s.pid is None and s.process is None for s in report.services)
    assert report.databases == ()        # nothing to identify without owners


# --- psutil AccessDenied, with fake psutil process objects ----------------------------------------

Addr = namedtuple("Addr", "ip port")
PConn = namedtuple("PConn", "fd family type laddr raddr status")


class FakeProcess:
    """Answers like psutil.Process; fields listed in `denied` raise psutil.AccessDenied."""

    def __init__(self, pid, name, denied=(), connections=None):
        self.pid, self._name, self._denied, self._connections = pid, name, set(denied), connections
        values = {"pid": pid, "ppid": 1, "name": name, "exe": f"/usr/bin/{name}", "username": "svc",
                  "create_time": 1700000000.0, "cmdline": [name, "--serve"], "status": "sleeping"}
        self._values = values

    def _get(self, attr):
        if attr in self._denied:
            raise psutil.AccessDenied(self.pid, self._name)
        return self._values[attr]

    def as_dict(self, attrs, ad_value):
        info = {}
        for attr in attrs:
            try:
                info[attr] = self._get(attr)
            except psutil.AccessDenied:
                info[attr] = ad_value
        return info

    def net_connections(self, kind="inet"):
        if self._connections is None:
            raise psutil.AccessDenied(self.pid, self._name)
        return self._connections


def fake_process_iter(processes):
    def process_iter(attrs=None, ad_value=None):
        for proc in processes:
            if attrs is not None:
                proc.info = proc.as_dict(attrs, ad_value)
            yield proc
    return process_iter


def test_get_processes_access_denied_fields_become_none(monkeypatch):
    monkeypatch.setattr(local_host.psutil, "process_iter", fake_process_iter([
        FakeProcess(10, "sshd", denied={"exe", "cmdline"}),
        FakeProcess(11, "bash"),
    ]))
    infos = local_host.get_processes()
    assert infos[0]["exe"] is None and infos[0]["cmdline"] is None
    assert infos[0]["denied"] == ["cmdline", "exe"]
    assert infos[1]["exe"] == "/usr/bin/bash" and infos[1]["denied"] == []


def test_scan_access_denied_processes_give_one_warning(recorded, monkeypatch):
    monkeypatch.setattr(local_host, "get_processes", REAL_GET_PROCESSES)
    monkeypatch.setattr(local_host, "get_is_admin", lambda: False)
    monkeypatch.setattr(local_host.psutil, "process_iter", fake_process_iter([
        FakeProcess(10, "sshd", denied={"exe"}), FakeProcess(11, "cron", denied={"username", "cmdline"}),
        FakeProcess(12, "bash"),
    ]))
    report, ctx = run_scan()
    by_pid = {p.pid: p for p in report.processes}
    assert by_pid[10].exe is None and by_pid[10].cmdline == "sshd --serve"
    assert by_pid[11].username is None and by_pid[11].cmdline is None
    assert by_pid[12].exe == "/usr/bin/bash"
    assert [w for w in ctx.warnings if w.startswith("processes:")] == [
        "processes: 2 processes had fields this user may not read (run as root to see them)"]
    assert not any("--serve" in w for w in ctx.warnings)     # command lines are never logged


def test_get_sockets_falls_back_to_readable_processes(monkeypatch):
    def denied(kind="inet"):
        raise psutil.AccessDenied()
    import socket as socket_module
    listen = PConn(3, socket_module.AF_INET, socket_module.SOCK_STREAM, Addr("127.0.0.1", 8000), (), "LISTEN")
    monkeypatch.setattr(local_host.psutil, "net_connections", denied)
    monkeypatch.setattr(local_host.psutil, "process_iter", fake_process_iter([
        FakeProcess(20, "web", connections=[listen]), FakeProcess(21, "root-daemon", connections=None),
    ]))
    table = local_host.get_sockets()
    assert table["per_process"] is True and table["denied_processes"] == 1
    assert table["sockets"] == [{"protocol": "tcp", "local_address": "127.0.0.1", "local_port": 8000,
                                 "remote_address": None, "remote_port": None, "status": "LISTEN", "pid": 20}]


def test_scan_socket_fallback_warns(recorded, monkeypatch):
    monkeypatch.setattr(local_host, "get_sockets", lambda: {"sockets": [], "per_process": True,
                                                            "denied_processes": 41})
    monkeypatch.setattr(local_host, "get_is_admin", lambda: False)
    report, ctx = run_scan()
    assert ctx.warnings == ["sockets: the system-wide socket table needs root; showing the sockets of "
                            "readable processes only (41 processes denied; run as root)"]
    assert report.services == ()
