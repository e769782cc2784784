"""scan snmp's pure parts: answers to records (index decoding, software names, redaction), credentials, targets.
The agent itself is tested against the real net-snmp snmpd in tests/integration/test_snmp_scan.py."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from discovery.records.model import EstateError
from scanners.snmp_agent import Credential, SnmpScanner, transform_agent

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
V4 = (1, 4)


def facts(**columns):
    system = {"descr": b"Linux db01 6.1.0-18-amd64 #1 SMP Debian 6.1.76-1 x86_64", "object_id": "1.3.6.1.4.1.8072.3.2.10",
              "uptime": 360_000, "contact": b"it@example.org", "name": b"db01.example.org", "location": b"Room 3",
              "memory_kb": 2_048}
    return {"credential": "v2c community", "system": system, "warnings": [],
            "columns": {k: [(tuple(i), v) for i, v in rows] for k, rows in columns.items()}}


def test_system_group_interfaces_and_addresses():
    report = transform_agent(facts(
        if_descr=[((1,), b"lo"), ((2,), b"eth0")], if_name=[((2,), b"eth0")],
        if_mac=[((1,), b""), ((2,), bytes.fromhex("02cc0000000a"))], if_oper=[((1,), 1), ((2,), 2)],
        if_speed=[((2,), 1_000_000_000)], if_mtu=[((2,), 1500)],
        ip_if=[((127, 0, 0, 1), 1), ((10, 0, 0, 5), 2)], ip_mask=[((10, 0, 0, 5), bytes([255, 255, 254, 0]))],
        cpu_load=[((196608,), 3), ((196609,), 5)]), "10.0.0.5", T0)
    host = report.host
    assert (host.hostname, host.fqdn, host.os_family, host.kernel) == ("db01", "db01.example.org", "linux",
                                                                       "6.1.0-18-amd64")
    assert host.addresses == ("10.0.0.5",) and host.macs == ("02:cc:00:00:00:0a",)
    assert (host.uptime_seconds, host.memory_bytes, host.cpu_logical_cores) == (3600, 2_097_152, 2)
    eth0 = next(i for i in report.interfaces if i.name == "eth0")
    assert (eth0.addresses, eth0.is_up, eth0.speed_mbps, eth0.mtu) == (("10.0.0.5/23",), False, 1000, 1500)
    (script,) = host.scripts
    assert script.data["credential"] == "v2c community" and script.data["location"] == "Room 3"


def test_sockets_from_the_tcp_and_udp_mibs_ipv4_and_ipv6():
    v6 = (2, 16, *bytes(15), 1)  # ::1
    report = transform_agent(facts(
        run_name=[((812,), b"postgres"), ((900,), b"named")],
        tcp_listen_pid=[((*V4, 0, 0, 0, 0, 5432), 812), ((*v6, 5432), 812)],
        tcp_conn_state=[((*V4, 10, 0, 0, 5, 5432, *V4, 10, 0, 0, 40, 51000), 5),
                        ((*V4, 10, 0, 0, 5, 40022, *V4, 10, 0, 0, 9, 443), 5),
                        ((*V4, 10, 0, 0, 5, 40023, *V4, 10, 0, 0, 9, 443), 11)],   # TIME_WAIT: not kept
        tcp_conn_pid=[((*V4, 10, 0, 0, 5, 5432, *V4, 10, 0, 0, 40, 51000), 812)],
        udp_endpoint_pid=[((*V4, 0, 0, 0, 0, 53, *V4, 0, 0, 0, 0, 0, 7), 900)]), "10.0.0.5", T0)
    assert {(s.protocol, s.address, s.port, s.process) for s in report.services if s.name != "snmp"} == {
        ("tcp", "0.0.0.0", 5432, "postgres"), ("tcp", "::1", 5432, "postgres"), ("udp", "0.0.0.0", 53, "named")}
    assert {(c.local_port, c.remote_address, c.remote_port, c.direction, c.process) for c in report.connections} == {
        (5432, "10.0.0.40", 51000, "inbound", "postgres"), (40022, "10.0.0.9", 443, "outbound", None)}


def test_agents_with_only_rfc1213_tables():
    report = transform_agent(facts(
        tcp_old_state=[((0, 0, 0, 0, 22, 0, 0, 0, 0, 0), 2), ((10, 0, 0, 5, 22, 10, 0, 0, 7, 50111), 5)],
        udp_old=[((0, 0, 0, 0, 161), 0)]), "10.0.0.5", T0)
    assert {(s.protocol, s.port, s.name) for s in report.services} == {("tcp", 22, None), ("udp", 161, "snmp")}
    (conn,) = report.connections
    assert (conn.remote_address, conn.direction) == ("10.0.0.7", "inbound")


def test_software_and_processes_with_their_secrets_redacted():
    report = transform_agent(facts(
        sw_name=[((1,), b"openssh-server_1:9.2p1-2+deb12u3_amd64"), ((2,), b"Microsoft Visual C++ 2019"),
                 ((3,), b"")],
        run_name=[((77,), b"mysql")], run_path=[((77,), b"/usr/bin/mysql")],
        run_args=[((77,), b"-uroot -pHunter2secret clinic")]), "10.0.0.5", T0)
    assert [(s.name, s.version, s.architecture) for s in report.software] == [
        ("openssh-server", "1:9.2p1-2+deb12u3", "amd64"), ("Microsoft Visual C++ 2019", None, None)]
    (proc,) = report.processes
    assert proc.pid == 77 and proc.exe == "/usr/bin/mysql" and "Hunter2secret" not in proc.cmdline
    assert "clinic" in proc.cmdline


def test_hostile_values_do_not_break_the_report():
    report = transform_agent(facts(
        if_descr=[((1,), b"\xff\xfe bad \x1b]0;x\x07")], if_mac=[((1,), b"\x00\x01")],  # not 6 bytes: no MAC
        tcp_listen_pid=[((1, 4, 10, 0), 5), ((9, 9), 1), ((1, 4, 300, 0, 0, 1, 80), 5)],  # truncated, impossible
        ip_if=[((999, 0, 0, 1), 1)], udp_old=[((300, 1, 1, 1, 53), 0)],
        run_name=[((5,), b"x" * 100_000)]), "10.0.0.5", T0)
    assert report.interfaces[0].mac is None and [s.port for s in report.services] == [161]  # the agent only
    assert report.host.macs == () and report.host.addresses == ("10.0.0.5",)


def test_a_credential_never_shows_its_secret():
    credential = Credential(version="3", secret="a-long-passphrase", user="monitor")
    assert "a-long-passphrase" not in repr(credential) and credential.name == "v3 user monitor (SHA-256/AES)"
    assert Credential(version="2c", secret="public").name == "v2c community"


@pytest.mark.parametrize("kwargs, message", [
    ({"version": "2c", "secret": ""}, "needs a community"),
    ({"version": "3", "secret": "long-enough"}, "needs --user"),
    ({"version": "3", "secret": "short", "user": "u"}, "at least 8 characters"),
    ({"version": "3", "secret": "long-enough", "user": "u", "auth_protocol": "SHA-1024"}, "--auth-protocol"),
    ({"version": "4", "secret": "x"}, "not 1, 2c or 3"),
])
def test_bad_credentials_are_refused_in_words(kwargs, message):
    with pytest.raises(EstateError, match=message):
        Credential(**kwargs)


def test_targets_are_expanded_and_excludes_never_asked():
    scanner = SnmpScanner(["10.0.0.0/30", "10.0.0.9", "10.0.0.2"], [Credential(version="2c", secret="c")],
                          excludes=["10.0.0.2"])
    assert scanner.addresses == ["10.0.0.1", "10.0.0.9"] and scanner.skipped == ["10.0.0.2"]
    assert "c" not in scanner.arguments.split() and "--max-rate 50" in scanner.arguments


@pytest.mark.parametrize("kwargs, message", [
    ({"max_rate": 0}, "--max-rate must be at least 1"),
    ({"concurrency": 0}, "--concurrency"),
    ({"retries": 9}, "--retries at most 5"),
])
def test_bad_limits_are_refused(kwargs, message):
    with pytest.raises(EstateError, match=message):
        SnmpScanner(["10.0.0.1"], [Credential(version="2c", secret="c")], **kwargs)


def test_too_many_addresses_are_refused_before_anything_is_sent():
    with pytest.raises(EstateError, match="more than 65,536 addresses"):
        SnmpScanner(["10.0.0.0/8"], [Credential(version="2c", secret="c")])


def test_the_agent_is_the_hosts_snmp_service_with_the_version_not_the_community():
    facts_ = facts(udp_endpoint_pid=[((*V4, 0, 0, 0, 0, 161, *V4, 0, 0, 0, 0, 0, 1), 44)],
                   run_name=[((44,), b"snmpd")])
    report = transform_agent({**facts_, "version": "2c", "default_community": True}, "10.0.0.5", T0, 161)
    (agent,) = [s for s in report.services if (s.protocol, s.port) == ("udp", 161)]
    assert (agent.name, agent.version, agent.process, agent.state) == ("snmp", "v2c", "snmpd", "open")
    assert agent.scripts[0].data == {"version": "2c", "default_community": True}


@pytest.mark.parametrize("descr, os_name, os_version", [
    ("Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 12.2(55)SE7, RELEASE SOFTWARE (fc1)",
     "Cisco IOS", "12.2(55)SE7"),
    ("Cisco Internetwork Operating System Software \r\nIOS (tm) C2950 Software (C2950-I6Q4L2-M), Version "
     "12.1(22)EA14, RELEASE SOFTWARE (fc1)", "Cisco IOS", "12.1(22)EA14"),
    ("Cisco IOS XE Software, Version 16.12.04", "Cisco IOS XE", "16.12.04"),
    ("Linux db01 6.1.0-18-amd64 #1 SMP", None, None),
])
def test_a_network_os_in_sysdescr_is_the_hosts_os(descr, os_name, os_version):
    facts_ = facts()
    facts_["system"] = {**facts_["system"], "descr": descr.encode(), "object_id": "1.3.6.1.4.1.9.1.1208"}
    host = transform_agent(facts_, "10.0.0.5", T0).host
    assert (host.os_name, host.os_version) == (os_name, os_version)
    assert host.vendor == "Cisco" and host.scripts[0].data["enterprise"] == "Cisco"


def test_an_agents_maker_is_the_vendor_only_for_hardware_makers():
    host = transform_agent(facts(), "10.0.0.5", T0).host   # 1.3.6.1.4.1.8072: Net-SNMP, an agent, not a maker
    assert host.vendor is None and host.scripts[0].data["enterprise"] == "Net-SNMP"


def test_an_old_cisco_switch_is_judged_and_its_community_is_a_finding():
    from discovery.analyses.legacy import assess_inventory, load_eol_table
    from discovery.analyses.protocol_rules import assess_snmp_community, load_protocol_rules
    facts_ = {**facts(), "version": "2c", "default_community": False}
    facts_["system"] = {**facts_["system"], "descr": b"Cisco IOS Software, C2960 Software, Version 12.2(55)SE7"}
    report = transform_agent(facts_, "10.0.0.5", T0)
    host = {"id": "h", "os_name": report.host.os_name, "os_version": report.host.os_version}
    (eol,) = [f for f in assess_inventory({"hosts": [host], "services": []}, load_eol_table(), T0.date())
              if f.rule == "os-eol"]
    assert eol.data["product"] == "cisco-ios"
    (agent,) = [s for s in report.services if s.name == "snmp"]
    row = {"id": "s", "host_id": "h", "port": 161, "protocol": "udp",
           "scripts": [{"id": s.id, "data": s.data} for s in agent.scripts]}
    (finding,) = assess_snmp_community(row, load_protocol_rules())
    assert (finding.rule, finding.severity) == ("snmp-community", "medium")
    row["scripts"][0]["data"] = {"version": "2c", "default_community": True}
    assert assess_snmp_community(row, load_protocol_rules())[0].severity == "high"
    row["scripts"][0]["data"] = {"version": "3", "default_community": False}
    assert assess_snmp_community(row, load_protocol_rules()) == []


def test_the_chassis_of_entity_mib_gives_maker_model_serial_and_revisions():
    E = 1001
    report = transform_agent(facts(
        ent_class=[((1,), 3), ((2,), 9), ((3,), 9), ((E,), 10)],
        ent_descr=[((1,), b"Catalyst 2960 chassis")], ent_mfg=[((1,), b"Cisco Systems")],
        ent_model=[((1,), b"WS-C2960-24TT-L")], ent_serial=[((1,), b"FOC1234X0AB")],
        ent_fw_rev=[((1,), b"12.2(44r)SE")], ent_sw_rev=[((1,), b"12.2(55)SE7")], ent_hw_rev=[((1,), b"V05")]),
        "10.0.0.5", T0)
    host = report.host
    assert (host.vendor, host.model, host.serial) == ("Cisco Systems", "WS-C2960-24TT-L", "FOC1234X0AB")
    data = host.scripts[0].data
    assert (data["chassis"], data["firmware_revision"], data["software_revision"], data["hardware_revision"],
            data["modules"]) == ("Catalyst 2960 chassis", "12.2(44r)SE", "12.2(55)SE7", "V05", 2)


def test_several_credentials_are_named_by_their_place_never_their_value():
    from scanners.kinds.snmp import build
    options = {"targets": ["10.0.0.1"], "snmp_version": "2c", "password": "first-c\nsecond-c", "user": None,
               "auth_protocol": "SHA-256", "priv_protocol": "AES", "port": 161, "excludes": [], "concurrency": 8,
               "timeout": 3.0, "retries": 1, "max_rate": 50.0, "remember_password": False, "forget_password": False}
    scanner = build(options)
    assert [c.name for c in scanner.credentials] == ["v2c community #1 of 2", "v2c community #2 of 2"]
    assert "first-c" not in scanner.arguments and "second-c" not in repr(scanner.credentials)


@pytest.mark.parametrize("descr, object_id, columns, system, expected", [
    (b"APC Web/SNMP Management Card", "1.3.6.1.4.1.318.1.3.27", {}, {}, "ups"),
    (b"Some UPS", "1.3.6.1.4.1.99999.1", {}, {"ups_battery_status": 2}, "ups"),
    (b"Lexmark MS610de", "1.3.6.1.4.1.641.6.1", {}, {}, "printer"),
    (b"HP LaserJet", "1.3.6.1.4.1.11.2.3.9.1", {"printer_status": [((1,), 3)]}, {}, "printer"),
    (b"Cisco Adaptive Security Appliance Version 9.8(4)", "1.3.6.1.4.1.9.1.2114", {}, {}, "firewall"),
    (b"Cisco IOS Software, ISR4300 Software, Version 16.9.4", "1.3.6.1.4.1.9.1.2068", {}, {}, "router"),
    (b"Cisco IOS Software, C2960 Software, Catalyst 2960", "1.3.6.1.4.1.9.1.694", {}, {}, "switch"),
    (b"Linux db01 6.1.0", "1.3.6.1.4.1.8072.3.2.10", {"run_name": [((1,), b"init")]}, {}, "server"),
    (b"Hardware: Intel64 - Software: Windows Version 6.3", "1.3.6.1.4.1.311.1.1.3.1.1",
     {"sw_name": [((1,), b"Office")]}, {}, "workstation"),
    (b"Something", "1.3.6.1.4.1.99999.1", {}, {}, None),
])
def test_the_device_type_comes_from_its_mibs_maker_and_description(descr, object_id, columns, system, expected):
    facts_ = facts(**columns)
    facts_["system"] = {**facts_["system"], "descr": descr, "object_id": object_id, **system}
    assert transform_agent(facts_, "10.0.0.5", T0).host.scripts[0].data["device_type"] == expected


def test_printer_supplies_and_ups_battery_are_kept():
    facts_ = facts(printer_status=[((1,), 4)], supply_descr=[((1, 1), b"Black Toner"), ((1, 2), b"Drum")],
                   supply_max=[((1, 1), 200), ((1, 2), -2)], supply_level=[((1, 1), 50), ((1, 2), -3)])
    facts_["system"] = {**facts_["system"], "ups_maker": b"APC", "ups_model": b"Smart-UPS 1500",
                        "ups_battery_status": 3, "ups_charge_percent": 41}
    data = transform_agent(facts_, "10.0.0.5", T0).host.scripts[0].data
    assert data["printer_status"] == "printing"
    assert data["supplies"] == [{"supply": "Black Toner", "percent": 25}, {"supply": "Drum", "percent": None}]
    assert (data["ups_maker"], data["ups_model"], data["battery_status"], data["battery_charge_percent"]) == (
        "APC", "Smart-UPS 1500", "low", 41)


# --- hostile agents: wrong types, impossible indexes, escapes (the agent: tests/integration/test_snmp_hostile.py)

def test_plain_reads_a_value_of_the_wrong_kind_or_range_as_none():
    from pysnmp.proto import rfc1902
    from pyasn1.type import univ
    from scanners.snmp_agent import MAX_TEXT, _plain
    assert _plain(rfc1902.TimeTicks(360_000), "count") == 360_000
    assert _plain(rfc1902.Counter64(2 ** 64 - 1), "count") is None      # a 64-bit number where a 32-bit one belongs
    assert _plain(rfc1902.Integer32(-5), "count") is None and _plain(rfc1902.Integer32(-5), "integer") == -5
    assert _plain(rfc1902.OctetString(b"1500"), "count") is None and _plain(rfc1902.Integer32(42), "octets") is None
    assert _plain(univ.ObjectIdentifier((1, 3, 6, 1)), "oid") == "1.3.6.1"
    assert _plain(univ.ObjectIdentifier((1, 3) + (1,) * 200), "oid") is None  # past SNMP's 128 sub-identifiers
    assert _plain(rfc1902.OctetString(b"1.3.6.1"), "oid") is None
    assert _plain(rfc1902.OctetString(b"x" * 60_000)) == b"x" * MAX_TEXT   # no kind: as it comes, cut
    assert _plain(rfc1902.Counter64(2 ** 64 - 1)) == 2 ** 64 - 1


def test_decode_replaces_terminal_controls_and_bidi_overrides_and_cuts():
    from scanners.snmp_agent import MAX_TEXT, _decode
    text = _decode(b"evil\x1b]0;pwned\x07 \xc2\x9b2J \xe2\x80\xaeabc\x00 \xff\r\nnext\tcol\r")
    assert text == "evil\ufffd]0;pwned\ufffd \ufffd2J \ufffdabc \ufffd\nnext\tcol"
    assert _decode("a\x1b[31m") == "a\ufffd[31m" and _decode(None) == "" and _decode(7) == "7"
    assert len(_decode(b"y" * (MAX_TEXT + 10))) == MAX_TEXT


def test_impossible_indexes_and_numbers_are_skipped_not_a_crash():
    report = transform_agent(facts(
        if_descr=[((1,), b"eth0"), ((3, 7), b"two-part index"), ((), b"no index")],
        if_speed=[((1,), 2 ** 64 - 1)], if_mtu=[((1,), b"1500")],
        run_name=[((1,), b"init"), ((5, 5), b"two-part"), ((2 ** 40,), b"huge"), ((0,), b"zero")],
        run_args=[((1,), b"--password=Hunter2secret " + b"a" * 10_000)],
        tcp_listen_pid=[((*V4, 0, 0, 0, 0, 70_000), 1), ((*V4, 0, 0, 0, 0, 22), 2 ** 40)],
        tcp_conn_state=[((*V4, 10, 0, 0, 5, 22, *V4, 10, 0, 0, 9, 99_999), 5)],
        tcp_old_state=[((0, 0, 0, 0, 100_000, 0, 0, 0, 0, 0), 2)]), "10.0.0.5", T0)
    (eth0,) = report.interfaces
    assert (eth0.name, eth0.speed_mbps, eth0.mtu) == ("eth0", None, None)
    (init,) = report.processes
    assert init.pid == 1 and "Hunter2secret" not in init.cmdline and len(init.cmdline) <= 4096
    assert [(s.protocol, s.port, s.pid) for s in report.services] == [("tcp", 22, None), ("udp", 161, None)]
    assert report.connections == ()


def test_a_table_that_breaks_the_transform_costs_that_table_not_the_host(monkeypatch):
    """Should one table's answers break transform_agent (a case nobody foresaw), the agent's report comes
    without that table and with one warning naming it, instead of the whole agent failing."""
    from discovery.records.model import ScanContext
    from scanners import snmp_agent
    recorded = facts(sw_name=[((1,), b"openssh-server_9.2_amd64")], run_name=[((1,), b"init")])
    recorded.update(answered=0, version="2c", default_community=False, warnings=["10.0.0.5: an earlier warning"])

    async def get_agent_facts(address, port, credentials, **kwargs):
        return recorded

    real = snmp_agent.transform_agent

    def transform_agent(facts_, *args):
        if facts_["columns"].get("run_name"):
            raise ValueError("a process table nobody foresaw")
        return real(facts_, *args)

    monkeypatch.setattr(snmp_agent, "get_agent_facts", get_agent_facts)
    monkeypatch.setattr(snmp_agent, "transform_agent", transform_agent)
    ctx = ScanContext()
    scanner = SnmpScanner(["10.0.0.5"], [Credential(version="2c", secret="c")])
    (report,) = scanner.scan(ctx)
    assert scanner.failed == [] and [s.name for s in report.software] == ["openssh-server"] and not report.processes
    assert ctx.warnings == ["10.0.0.5: an earlier warning", "10.0.0.5: the answers to 1.3.6.1.2.1.25.4.2.1.2 could "
                            "not be read (ValueError: a process table nobody foresaw); left out"]
