"""`estatemap scan snmp` against recordings of real devices (tests/data/snmp_recordings/: a ProCurve and two Cisco
switches, Windows Server 2003, a CentOS 7 host, an Eaton UPS) served by snmpsim on loopback. Every expected
value is read from the recording file itself (tests/snmpsim_fixture.read_snmprec), never written here, so each
assertion fails when the scanner reads the device differently from what the device said.

Found by these recordings and fixed: a Windows server's print driver taken for a printer; Windows's listeners
(LISTEN rows of tcpConnectionTable), ProCurve's (InetAddressType unknown: any address) and the Nexus's (no
address length) missed; an rpm name with underscores split as dpkg's; a UPS's maker and model left empty.
Still not read: the Windows server's GBK-encoded software names (SNMP does not say the encoding; they keep
U+FFFD where a byte is not UTF-8).

The layer-2 map is checked the same way: every LLDP and CDP neighbour a switch recorded is a link on the port
it recorded; the ProCurve and the Nexus were recorded on one network and name each other, so scanned into one
store they are one cable; hosts whose MACs nmap found (an ARP scan's XML, imported) sit behind the ports the
Catalyst's forwarding table learned them on.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.snmpsim_fixture import RECORDINGS, column, read_snmprec, scalar, snmpsim_agent, text

ROOT = Path(__file__).resolve().parents[2]
ENTERPRISES = ROOT / "discovery" / "data" / "snmp_enterprises.json"
pytestmark = pytest.mark.integration

ALL = ("hpe-procurve-516733-b21", "cisco-c3750", "cisco-n5000", "server-2003-5-2", "unknown-006", "eaton-93e-80")
SWITCHES = ("hpe-procurve-516733-b21", "cisco-c3750", "cisco-n5000")
HOSTS = ("server-2003-5-2", "unknown-006")

SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME = "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0"
SYS_CONTACT, SYS_NAME, SYS_LOCATION = "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0"
IF_DESCR, IF_MTU, IF_SPEED = "1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.4", "1.3.6.1.2.1.2.2.1.5"
IF_MAC, IF_OPER = "1.3.6.1.2.1.2.2.1.6", "1.3.6.1.2.1.2.2.1.8"
IF_NAME, IF_HIGH_SPEED = "1.3.6.1.2.1.31.1.1.1.1", "1.3.6.1.2.1.31.1.1.1.15"
IP_IF, IP_MASK = "1.3.6.1.2.1.4.20.1.2", "1.3.6.1.2.1.4.20.1.3"
BRIDGE_ADDRESS = "1.3.6.1.2.1.17.1.1.0"   # dot1dBaseBridgeAddress: a switch's own MAC
ENT = "1.3.6.1.2.1.47.1.1.1.1."   # entPhysicalEntry: .2 descr, .5 class, .8-.10 revisions, .11 serial, .12 maker,
                                  # .13 model
CHASSIS, MODULE = 3, 9            # PhysicalClass (ENTITY-MIB)
HR_MEMORY, HR_CPU_LOAD = "1.3.6.1.2.1.25.2.2.0", "1.3.6.1.2.1.25.3.3.1.2"
HR_SW_NAME = "1.3.6.1.2.1.25.6.3.1.2"
HR_RUN_NAME, HR_RUN_PATH = "1.3.6.1.2.1.25.4.2.1.2", "1.3.6.1.2.1.25.4.2.1.4"
TCP_LISTENER, TCP_CONNECTION_STATE = "1.3.6.1.2.1.6.20.1.4", "1.3.6.1.2.1.6.19.1.7"
TCP_CONN_STATE = "1.3.6.1.2.1.6.13.1.1"   # RFC 1213's tcpConnTable
LISTEN, ESTABLISHED = 2, 5                # TCP-MIB states
UPS = "1.3.6.1.2.1.33.1."
UPS_BATTERY = {1: "unknown", 2: "normal", 3: "low", 4: "depleted"}   # RFC 1628 upsBatteryStatus


@functools.cache
def recording(name: str) -> dict:
    return read_snmprec(RECORDINGS / f"{name}.snmprec.bz2")


@pytest.fixture(scope="module")
def agents():
    """snmpsim answering on 127.0.0.1 with every recording, each under its name as the v2c community."""
    with snmpsim_agent() as running:
        yield running


def estatemap(*argv, input=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, input=input)


@pytest.fixture(scope="module")
def scanned(agents, tmp_path_factory):
    """scanned(name): the JSON export after `estatemap scan snmp 127.0.0.1` with that recording's community
    (each recording scanned once per module)."""
    done = {}

    def scan(name: str) -> dict:
        if name not in done:
            folder = tmp_path_factory.mktemp(name)
            db, out = folder / "estate.db", folder / "estate.json"
            result = estatemap("--db", db, "scan", "snmp", "127.0.0.1", "--port", agents.port, "--community-stdin",
                               "--max-rate", 2000, input=agents.communities[name] + "\n")
            assert result.returncode == 0, result.stdout + result.stderr
            assert "Traceback" not in result.stderr
            exported = estatemap("--db", db, "export", "-f", "json", "-o", out, "--force")
            assert exported.returncode == 0, exported.stderr
            done[name] = json.loads(out.read_text())
        return done[name]

    return scan


def the_host(estate: dict) -> tuple[dict, dict]:
    """The one host of a scan and its snmp-system script."""
    (host,) = estate["hosts"]
    (system,) = [s for s in host["scripts"] if s["id"] == "snmp-system"]
    return host, system


def chassis_of(rec: dict) -> dict:
    """The first (lowest-index) entPhysicalEntry whose class is chassis, as {column number: value}."""
    index = min(i for i, kind in column(rec, ENT + "5").items() if kind == CHASSIS)
    return {n: column(rec, ENT + str(n)).get(index) for n in (2, 8, 9, 10, 11, 12, 13)}


# --- the system group -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_scan_snmp_reads_the_system_group_as_recorded(scanned, agents, name):
    rec = recording(name)
    host, system = the_host(scanned(name))
    sys_name = text(scalar(rec, SYS_NAME))
    assert sys_name and host["hostname"] == sys_name.split(".")[0]
    assert system["output"] == text(scalar(rec, SYS_DESCR))
    assert system["data"]["object_id"] == scalar(rec, SYS_OBJECT_ID)
    assert system["data"]["contact"] == (text(scalar(rec, SYS_CONTACT)) or None)
    assert system["data"]["location"] == (text(scalar(rec, SYS_LOCATION)) or None)
    assert host["uptime_seconds"] == scalar(rec, SYS_UPTIME) // 100
    assert system["data"]["credential"] == "v2c community" and host["sources"] == ["snmp"]
    (agent,) = [s for s in scanned(name)["services"] if (s["protocol"], s["port"]) == ("udp", agents.port)]
    assert (agent["name"], agent["version"]) == ("snmp", "v2c")


# --- IF-MIB and the IP address table --------------------------------------------------------------------

def expected_interfaces(rec: dict) -> list[tuple]:
    """(name, mac, is_up, mtu, speed_mbps) of every ifTable row: ifName, else ifDescr; a 6-byte non-zero MAC."""
    names, macs, opers = column(rec, IF_NAME), column(rec, IF_MAC), column(rec, IF_OPER)
    mtus, speeds, high = column(rec, IF_MTU), column(rec, IF_SPEED), column(rec, IF_HIGH_SPEED)
    found = []
    for index, descr in column(rec, IF_DESCR).items():
        mac = macs.get(index)
        mac = ":".join(f"{b:02x}" for b in mac) if isinstance(mac, bytes) and len(mac) == 6 and any(mac) else None
        speed = high.get(index) or (speeds.get(index) // 1_000_000 if speeds.get(index) else None) or None
        found.append((text(names.get(index)) or text(descr) or str(index[0]), mac,
                      opers[index] == 1 if index in opers else None, mtus.get(index) or None, speed))
    return sorted(found, key=repr)


@pytest.mark.parametrize("name", ALL)
def test_scan_snmp_reads_every_interface_as_recorded(scanned, name):
    rec = recording(name)
    estate = scanned(name)
    interfaces = expected_interfaces(rec)
    assert interfaces, "the recording has an ifTable"
    got = sorted(((i["name"], i["mac"], None if i["is_up"] is None else bool(i["is_up"]), i["mtu"], i["speed_mbps"])
                  for i in estate["interfaces"]), key=repr)
    assert got == interfaces
    host, _ = the_host(estate)
    bridge = scalar(rec, BRIDGE_ADDRESS)
    bridge = {":".join(f"{b:02x}" for b in bridge)} if isinstance(bridge, bytes) and len(bridge) == 6 else set()
    assert sorted(host["macs"]) == sorted({mac for _, mac, *_ in interfaces if mac} | bridge)


@pytest.mark.parametrize("name", ALL)
def test_scan_snmp_puts_each_recorded_address_on_its_interface(scanned, name):
    rec = recording(name)
    names = {index[0]: text(column(rec, IF_NAME).get(index)) or text(descr) or str(index[0])
             for index, descr in column(rec, IF_DESCR).items()}
    masks = column(rec, IP_MASK)
    expected: dict[str, set] = {}
    for index, if_index in column(rec, IP_IF).items():
        address = ".".join(map(str, index))
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{masks[index]}").prefixlen
        expected.setdefault(names[if_index], set()).add(f"{address}/{prefix}")
    assert expected, "the recording has an ipAddrTable"
    got: dict[str, set] = {}
    for interface in scanned(name)["interfaces"]:
        if interface["addresses"]:
            got.setdefault(interface["name"], set()).update(interface["addresses"])
    assert got == expected
    host, _ = the_host(scanned(name))
    routable = {a.split("/")[0] for addresses in expected.values() for a in addresses
                if not ipaddress.ip_address(a.split("/")[0]).is_loopback}
    assert set(host["addresses"]) >= routable


# --- ENTITY-MIB: the chassis ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", SWITCHES)
def test_scan_snmp_reads_the_chassis_of_entity_mib_as_recorded(scanned, name):
    rec = recording(name)
    chassis = chassis_of(rec)
    host, system = the_host(scanned(name))
    assert text(chassis[11]) and host["serial"] == text(chassis[11])
    assert text(chassis[13]) and host["model"] == text(chassis[13])
    assert system["data"].get("chassis") == (text(chassis[2]) or None)
    for key, number in (("hardware_revision", 8), ("firmware_revision", 9), ("software_revision", 10)):
        assert system["data"].get(key) == (text(chassis[number]) or None), key
    modules = sum(1 for kind in column(rec, ENT + "5").values() if kind == MODULE)
    assert system["data"].get("modules") == (modules or None)
    maker = text(chassis[12])
    if maker:
        assert host["vendor"] == maker
    else:  # no entPhysicalMfgName: the maker is the sysObjectID's enterprise
        number = scalar(rec, SYS_OBJECT_ID).split(".")[6]
        expected = json.loads(ENTERPRISES.read_text())["enterprises"][number]["name"]
        assert host["vendor"] == expected and system["data"]["enterprise"] == expected


@pytest.mark.parametrize("name, system, version", [
    pytest.param("cisco-c3750", r"^Cisco (IOS) Software,", r"\bVersion ([^,\s]+),", id="cisco-c3750"),
    pytest.param("cisco-n5000", r"^Cisco (NX-OS)\(tm\)", r"\bVersion ([^,\s]+),", id="cisco-n5000"),
    pytest.param("hpe-procurve-516733-b21", r"^(ProCurve) .* Switch,", r"\brevision ([^,\s]+),",
                 id="hpe-procurve-516733-b21"),
])
def test_scan_snmp_reads_the_network_os_version_from_sysdescr(scanned, name, system, version):
    descr = text(scalar(recording(name), SYS_DESCR))
    named, numbered = re.search(system, descr), re.search(version, descr)
    assert named and numbered, descr
    host, _ = the_host(scanned(name))
    assert named.group(1) in host["os_name"] and host["os_version"] == numbered.group(1)


def test_scan_snmp_reads_the_windows_version_from_sysdescr(scanned):
    descr = text(scalar(recording("server-2003-5-2"), SYS_DESCR))
    major, minor, build = re.search(r"\bSoftware: Windows Version (\d+)\.(\d+) \(Build (\d+)", descr).groups()
    host, _ = the_host(scanned("server-2003-5-2"))
    assert host["os_family"] == "windows" and "Windows" in host["os_name"]
    assert host["os_version"] == f"{major}.{minor} (build {build})"


@pytest.mark.parametrize("name", SWITCHES)
def test_scan_snmp_calls_a_recorded_switch_a_switch(scanned, name):
    rec = recording(name)
    forwarding = column(rec, "1.3.6.1.2.1.17.4.3.1.2") or column(rec, "1.3.6.1.2.1.17.7.1.2.2.1.2")
    assert re.search(r"\bSwitch\b", text(scalar(rec, SYS_DESCR))) or forwarding or "Nexus" in text(chassis_of(rec)[2])
    _, system = the_host(scanned(name))
    assert system["data"]["device_type"] == "switch"


# --- HOST-RESOURCES-MIB ---------------------------------------------------------------------------------

RPM_ARCHES = {"x86_64", "noarch", "i386", "i486", "i586", "i686", "aarch64", "ppc64", "ppc64le", "s390x", "armv7hl"}


def rpm_package(text: str) -> tuple[str, str | None, str | None]:
    """(name, version-release, arch) of an rpm name-version-release[.arch]; the whole text, None, None when its
    version does not start with a digit (gpg-pubkey-f4a80eb5-53a7ff4b is a key, not software)."""
    nvr, _, arch = text.rpartition(".") if text.rpartition(".")[2] in RPM_ARCHES else (text, "", None)
    parts = nvr.rsplit("-", 2)
    if len(parts) < 3 or not parts[1][:1].isdigit():
        return text, None, None
    return parts[0], f"{parts[1]}-{parts[2]}", arch


def test_scan_snmp_reads_every_installed_package_of_the_linux_host(scanned):
    names = [text(v) for v in column(recording("unknown-006"), HR_SW_NAME).values()]
    # CentOS writes rpm's name-version-release[.arch], even where a version has underscores ("fxload-2002_04_11-16.el7")
    versions: dict[tuple, set] = {}
    for name, version, arch in (rpm_package(n) for n in names):
        versions.setdefault((name, arch), set()).add(version)
    assert len(versions) > 100 and sum(1 for v in versions.values() if v != {None}) > 100
    assert any("_" in v for vs in versions.values() for v in vs if v)
    got = {(s["name"], s["architecture"]): s["version"] for s in scanned("unknown-006")["software"]}
    assert got.keys() == versions.keys()
    # one entry a package name: of two installed kernels the inventory keeps one version
    assert all(got[key] in recorded for key, recorded in versions.items())


def test_scan_snmp_reads_the_windows_software_it_can_decode(scanned):
    raw = list(column(recording("server-2003-5-2"), HR_SW_NAME).values())
    ascii_names = {v.decode() for v in raw if v.isascii()}
    got = {s["name"] for s in scanned("server-2003-5-2")["software"]}
    assert ascii_names and ascii_names <= got
    assert len(got) == len(set(raw))  # one package a distinct name (hrSWInstalled repeats a few)


@pytest.mark.parametrize("name", HOSTS)
def test_scan_snmp_reads_every_running_process_as_recorded(scanned, name):
    rec = recording(name)
    paths = column(rec, HR_RUN_PATH)
    expected = sorted((pid, text(value) or text(paths.get((pid,))) or str(pid), text(paths.get((pid,))) or None)
                      for (pid,), value in column(rec, HR_RUN_NAME).items())
    assert expected
    got = sorted((p["pid"], p["name"], p["exe"]) for p in scanned(name)["processes"])
    assert got == expected


@pytest.mark.parametrize("name", HOSTS)
def test_scan_snmp_reads_memory_and_processors_as_recorded(scanned, name):
    rec = recording(name)
    host, system = the_host(scanned(name))
    assert host["memory_bytes"] == scalar(rec, HR_MEMORY) * 1024
    assert host["cpu_logical_cores"] == len(column(rec, HR_CPU_LOAD))


def test_scan_snmp_reads_the_linux_kernel_and_calls_it_a_server(scanned):
    rec = recording("unknown-006")
    words = text(scalar(rec, SYS_DESCR)).split()
    assert words[0] == "Linux" and column(rec, HR_SW_NAME)
    host, system = the_host(scanned("unknown-006"))
    assert (host["os_family"], host["kernel"]) == ("linux", words[2])
    assert system["data"]["device_type"] == "server"


# --- TCP-MIB --------------------------------------------------------------------------------------------

def _inet(parts: tuple[int, ...]) -> tuple[str | None, tuple[int, ...]]:
    """An InetAddressType, length-prefixed InetAddress at the start of an index: (address, the rest)."""
    kind, size = parts[0], parts[1]
    raw = bytes(parts[2:2 + size])
    address = {1: lambda: str(ipaddress.IPv4Address(raw)), 2: lambda: str(ipaddress.IPv6Address(raw))}.get(kind)
    return (address() if address else None), parts[2 + size:]


def recorded_tcp(rec: dict) -> tuple[set[int], set[frozenset]]:
    """(listening ports, established connections as {(address, port), (address, port)}) the agent reports in
    any of its tables: tcpListenerTable (whatever its address: any, or none at all), tcpConnectionTable's
    LISTEN and ESTABLISHED rows, and RFC 1213's tcpConnTable beside them."""
    listening = {index[-1] for index in column(rec, TCP_LISTENER)}
    established = set()
    for index, state in column(rec, TCP_CONNECTION_STATE).items():
        local, rest = _inet(index)
        remote, tail = _inet(rest[1:])
        if state == LISTEN:
            listening.add(rest[0])
        elif state == ESTABLISHED:
            established.add(frozenset({(local, rest[0]), (remote, tail[0])}))
    for index, state in column(rec, TCP_CONN_STATE).items():
        if state == LISTEN:
            listening.add(index[4])
        elif state == ESTABLISHED:
            established.add(frozenset({(".".join(map(str, index[:4])), index[4]),
                                       (".".join(map(str, index[5:9])), index[9])}))
    return listening, established


@pytest.mark.parametrize("name", ALL)
def test_scan_snmp_reads_the_tcp_listeners_as_recorded(scanned, name):
    listening, _ = recorded_tcp(recording(name))
    assert listening or name == "cisco-c3750"
    got = {s["port"] for s in scanned(name)["services"] if s["protocol"] == "tcp" and s["state"] == "listening"}
    assert got == listening


@pytest.mark.parametrize("name", ("unknown-006", "eaton-93e-80", "cisco-c3750", "server-2003-5-2"))
def test_scan_snmp_reads_the_established_connections_as_recorded(scanned, name):
    listening, established = recorded_tcp(recording(name))
    outside = {pair for pair in established if not all(ipaddress.ip_address(a).is_loopback for a, _ in pair)}
    assert outside
    connections = [c for c in scanned(name)["connections"] if "snmp" in c["observed_by"]]
    got = {frozenset({(c["source_address"], c["source_port"]), (c["target_address"], c["target_port"])})
           for c in connections}
    assert got == outside


@pytest.mark.parametrize("name", ("unknown-006", "eaton-93e-80", "server-2003-5-2"))
def test_scan_snmp_takes_a_connection_to_a_listening_port_as_inbound(scanned, name):
    listening, established = recorded_tcp(recording(name))
    local_ports = {port for pair in established for _, port in pair} & listening
    assert local_ports
    connections = [c for c in scanned(name)["connections"] if "snmp" in c["observed_by"]]
    assert connections and all(c["target_port"] in listening for c in connections)


@pytest.mark.parametrize("name", ALL)
def test_scan_snmp_coverage_counts_the_tcp_mib_as_the_hosts_own_sockets(scanned, name):
    """An agent whose TCP-MIB lists a listener or a connection gave the host's own sockets (without processes, but
    its dependencies are observed on it): depth sockets, no blind spot; software only where HOST-RESOURCES listed
    packages, hardware only where it told memory, processors or a serial number."""
    listening, established = recorded_tcp(recording(name))
    estate = scanned(name)
    host, _ = the_host(estate)
    assert host["coverage_sources"] == ["snmp"]
    assert (host["coverage_depth"] == "sockets") == bool(listening or established)
    assert ("software" in host["coverage_levels"]) == bool(estate["software"])
    told = any(host.get(k) for k in ("memory_bytes", "cpu_logical_cores", "serial"))
    assert ("hardware" in host["coverage_levels"]) == told
    summary = estate["coverage_summary"]
    assert summary["hosts"] == 1 and summary["by_source"] == {"snmp": 1}
    assert summary["sockets_share"] == (1.0 if listening or established else 0.0)
    assert [s["host_id"] for s in summary["blind_spots"]] == ([] if listening or established else [host["id"]])


# --- UPS-MIB --------------------------------------------------------------------------------------------

def test_scan_snmp_reads_the_ups_identity_and_battery_as_recorded(scanned):
    rec = recording("eaton-93e-80")
    _, system = the_host(scanned("eaton-93e-80"))
    data = system["data"]
    assert data["ups_maker"] == text(scalar(rec, UPS + "1.1.0")) != ""
    assert data["ups_model"] == text(scalar(rec, UPS + "1.2.0")) != ""
    assert data["ups_software"] == text(scalar(rec, UPS + "1.3.0")) != ""
    assert data["battery_status"] == UPS_BATTERY[scalar(rec, UPS + "2.1.0")]
    assert data["battery_charge_percent"] == scalar(rec, UPS + "2.4.0")
    assert data["device_type"] == "ups"
    host, _ = the_host(scanned("eaton-93e-80"))  # no ENTITY-MIB: UPS-MIB names the maker and model
    assert (host["vendor"], host["model"]) == (data["ups_maker"], data["ups_model"])


def test_a_windows_server_listing_a_print_driver_is_a_server_not_a_printer(scanned):
    rec = recording("server-2003-5-2")
    assert column(rec, "1.3.6.1.2.1.25.3.5.1.1")  # hrPrinterStatus: the driver's row
    assert scalar(rec, SYS_OBJECT_ID) == "1.3.6.1.4.1.311.1.1.3.1.2"  # Microsoft's agent on a server
    _, system = the_host(scanned("server-2003-5-2"))
    assert system["data"]["device_type"] == "server"


# --- the layer-2 map: LLDP-MIB, CISCO-CDP-MIB, BRIDGE-MIB -------------------------------------------------

LLDP_LOC_PORT_SUBTYPE, LLDP_LOC_PORT_ID = "1.0.8802.1.1.2.1.3.7.1.2", "1.0.8802.1.1.2.1.3.7.1.3"
LLDP_REM = "1.0.8802.1.1.2.1.4.1.1."   # .4 chassis subtype, .5 chassis ID, .7 port ID, .9 sysName
LLDP_MAC_CHASSIS = 4
CDP_CACHE = "1.3.6.1.4.1.9.9.23.1.2.1.1."   # .3 address type, .4 address, .6 device ID, .7 device port
BRIDGE_PORT_IF, FDB_PORT, FDB_STATUS = "1.3.6.1.2.1.17.1.4.1.2", "1.3.6.1.2.1.17.4.3.1.2", "1.3.6.1.2.1.17.4.3.1.3"


def mac(value) -> str:
    return ":".join(f"{b:02x}" for b in value)


def port_names(rec: dict) -> dict[int, str]:
    """ifIndex -> the interface's name as the inventory has it (ifName, else ifDescr)."""
    return {index[0]: text(column(rec, IF_NAME).get(index)) or text(descr) for index, descr in
            column(rec, IF_DESCR).items()}


def lldp_port_name(rec: dict, number: int) -> str:
    """A recorded LLDP port's name: its port ID where that is a name (interfaceName, local), else its interface."""
    if column(rec, LLDP_LOC_PORT_SUBTYPE).get((number,)) in (5, 7):
        return text(column(rec, LLDP_LOC_PORT_ID)[(number,)])
    return port_names(rec)[number]


def interface_macs(rec: dict) -> set[str]:
    return {mac(v) for v in column(rec, IF_MAC).values() if isinstance(v, bytes) and len(v) == 6 and any(v)}


def scan_into(db: Path, agents, *names: str) -> dict:
    """Scan each recording into one store; return the JSON export."""
    for name in names:
        result = estatemap("--db", db, "scan", "snmp", "127.0.0.1", "--port", agents.port, "--community-stdin",
                           "--max-rate", 2000, input=agents.communities[name] + "\n")
        assert result.returncode == 0, result.stdout + result.stderr
    out = db.with_suffix(".json")
    assert estatemap("--db", db, "export", "-f", "json", "-o", out, "--force").returncode == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("name", ("hpe-procurve-516733-b21", "cisco-n5000"))
def test_every_recorded_lldp_neighbour_is_a_link_on_its_port(scanned, name):
    rec = recording(name)
    links = scanned(name)["l2_links"]
    rows = column(rec, LLDP_REM + "5")
    assert rows
    for index, chassis in rows.items():
        by_mac = column(rec, LLDP_REM + "4").get(index) == LLDP_MAC_CHASSIS
        chassis_mac = mac(chassis) if by_mac else None
        # its sysName, else a chassis ID that is a name ("NWPU-CA-5548-01(SSI183706KP)": name and serial)
        name = text(column(rec, LLDP_REM + "9").get(index)) or (None if by_mac else text(chassis))
        port = lldp_port_name(rec, index[1])
        # one link per neighbour a port names, however many reports name it (LLDP twice, CDP)
        assert any(k["source_port"] == port and "lldp" in k["protocols"]
                   and (same_device(name, k["target_name"]) or chassis_mac == k["target_mac"])
                   for k in links), (port, name, chassis_mac)


def same_device(a: str | None, b: str | None) -> bool:
    """Two names of one device: equal but for a "(serial)" after it."""
    return bool(a and b and a.split("(")[0].lower() == b.split("(")[0].lower())


@pytest.mark.parametrize("name", ("cisco-c3750", "cisco-n5000"))
def test_every_recorded_cdp_neighbour_is_a_link_on_its_port(scanned, name):
    rec = recording(name)
    links = scanned(name)["l2_links"]
    names, devices = port_names(rec), column(rec, CDP_CACHE + "6")
    assert devices
    for index, device in devices.items():
        raw = column(rec, CDP_CACHE + "4").get(index)
        address = str(ipaddress.IPv4Address(raw)) if column(rec, CDP_CACHE + "3").get(index) == 1 else None
        port = names[index[0]]
        assert any(k["source_port"] == port and "cdp" in k["protocols"]
                   and (same_device(k["target_name"], text(device)) or address and k["target_address"] == address)
                   for k in links), (port, device)
    # a device ID names one neighbour: as many links on each port as distinct neighbours the agent listed there
    listed = {(names[i[0]], text(d)) for i, d in devices.items()}
    if name == "cisco-c3750":  # CDP only: one link per (port, device ID)
        assert {(k["source_port"], k["target_name"]) for k in links} == listed


def test_two_recorded_switches_cabled_to_each_other_are_one_link(agents, tmp_path):
    # The ProCurve and the Nexus were recorded on one network: each one's LLDP names the other
    procurve, nexus = recording("hpe-procurve-516733-b21"), recording("cisco-n5000")
    procurve_mac = mac(scalar(procurve, BRIDGE_ADDRESS))
    (procurve_side,) = {lldp_port_name(procurve, i[1]) for i, v in column(procurve, LLDP_REM + "5").items()
                        if column(procurve, LLDP_REM + "4").get(i) == LLDP_MAC_CHASSIS
                        and mac(v) in interface_macs(nexus)}
    (nexus_side,) = {lldp_port_name(nexus, i[1]) for i, v in column(nexus, LLDP_REM + "5").items()
                     if column(nexus, LLDP_REM + "4").get(i) == LLDP_MAC_CHASSIS and mac(v) == procurve_mac}
    estate = scan_into(tmp_path / "estate.db", agents, "hpe-procurve-516733-b21", "cisco-n5000")
    hosts = {h["hostname"]: h["id"] for h in estate["hosts"]}
    ids = {hosts[text(scalar(procurve, SYS_NAME)).split(".")[0]], hosts[text(scalar(nexus, SYS_NAME)).split(".")[0]]}
    assert len(ids) == 2  # two switches, not merged into one
    (cable,) = [k for k in estate["l2_links"] if {k["source_host_id"], k["target_host_id"]} == ids]
    assert {cable["source_port"], cable["target_port"]} == {procurve_side, nexus_side}
    # each reported its side of the cable; the port becomes an uplink, never where a host is placed
    placed = {h["id"]: h for h in estate["hosts"]}
    target = placed[cable["target_host_id"]]
    assert (target["switch_host_id"], target["switch_port"]) == (cable["source_host_id"], cable["source_port"])


def test_hosts_whose_macs_a_recorded_switch_learned_sit_behind_the_recorded_ports(agents, tmp_path):
    rec = recording("cisco-c3750")
    names, bridge_if = port_names(rec), {i[0]: v for i, v in column(rec, BRIDGE_PORT_IF).items()}
    learned = {mac(bytes(index)): names[bridge_if[port]] for index, port in column(rec, FDB_PORT).items()
               if column(rec, FDB_STATUS).get(index) == 3 and port in bridge_if}  # learned(3)
    assert len(learned) >= 5
    chosen = sorted(learned)[:5]
    # machines nmap found on the segment (ARP gives their MACs): an nmap XML file, imported like any other
    hosts = "".join(f'<host><status state="up" reason="arp-response"/><address addr="192.0.2.{n}" addrtype="ipv4"/>'
                    f'<address addr="{m.upper()}" addrtype="mac"/></host>\n' for n, m in enumerate(chosen, 10))
    scan = tmp_path / "arp.xml"
    scan.write_text(f'<?xml version="1.0"?>\n<nmaprun scanner="nmap" args="nmap -sn 192.0.2.0/24" start="1795833433" '
                    f'version="7.93" xmloutputversion="1.05">\n{hosts}<runstats><finished time="1795833440"/>'
                    f'</runstats></nmaprun>\n')
    db = tmp_path / "estate.db"
    imported = estatemap("--db", db, "import", scan)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    estate = scan_into(db, agents, "cisco-c3750")
    switch = next(h for h in estate["hosts"] if "snmp" in h["sources"])
    by_mac = {m: h for h in estate["hosts"] for m in h["macs"]}
    for learned_mac in chosen:
        host = by_mac[learned_mac]
        assert (host["switch_host_id"], host["switch_port"]) == (switch["id"], learned[learned_mac]), learned_mac
        assert any(k["protocol"] == "fdb" and k["target_host_id"] == host["id"]
                   and k["source_port"] == learned[learned_mac] for k in estate["l2_links"])


@pytest.mark.parametrize("name", HOSTS)
def test_scan_snmp_reads_the_file_systems_as_recorded(scanned, name):
    rec = recording(name)
    storage = "1.3.6.1.2.1.25.2.3.1."  # hrStorageEntry: .2 type, .3 descr, .4 units, .5 size, .6 used
    units, sizes, used = column(rec, storage + "4"), column(rec, storage + "5"), column(rec, storage + "6")
    expected = sorted((text(column(rec, storage + "3")[i]), units[i] * sizes[i], units[i] * used[i])
                      for i, kind in column(rec, storage + "2").items()
                      if kind == "1.3.6.1.2.1.25.2.1.4" and units.get(i) and sizes.get(i))  # fixed disks
    assert expected
    host, _ = the_host(scanned(name))
    assert sorted((p["device"], p["total_bytes"], p["used_bytes"]) for p in host["partitions"]) == expected
