import io
from pathlib import Path

import pytest

from scanners.nmap_xml import HostDown, NmapXmlError, RunInfo, TaskProgress, iter_nmap_xml

DATA = Path(__file__).resolve().parents[1] / "data" / "nmap"


def parse(data: bytes):
    run = RunInfo()
    events = list(iter_nmap_xml(io.BytesIO(data), run=run))
    return run, [e for e in events if hasattr(e, "host")], events


def test_real_localhost_scan_with_os_detection():
    run, (report,), _ = parse((DATA / "localhost-sV-O.xml").read_bytes())
    assert run.complete and run.version == "7.93" and run.exit == "success" and run.hosts_up == 1
    assert run.args.startswith("nmap -sV -O")
    host = report.host
    assert host.addresses == ("127.0.0.1",) and host.hostname == "localhost" and host.status == "up"
    assert host.status_reason == "localhost-response"
    assert host.os_matches[0].name == "Linux 5.0 - 5.2" and host.os_matches[0].accuracy == 97
    assert host.os_family == "linux" and host.os_name == "Linux 5.0 - 5.2"
    assert host.uptime_seconds == 1 and host.boot_time is not None
    (redis,) = report.services
    assert (redis.port, redis.name, redis.product, redis.method, redis.confidence) == (
        16379, "redis", "Redis key-value store", "probed", 10)
    assert [d.engine for d in report.databases] == ["redis"]
    assert "<host" in report.raw["nmap-host"]


def test_everything_python_nmap_drops_is_kept():
    run, (report,), events = parse((DATA / "segment-handmade.xml").read_bytes())
    host = report.host
    assert host.macs == ("52:54:00:ab:cd:02",) and host.mac_vendor == "QEMU virtual NIC"
    assert host.hostnames == ("pacs01.example.org", "pacs-alias.example.org")
    assert host.os_name == "Linux 5.0 - 5.5"  # best accuracy first, whatever the order in the file
    assert host.os_matches[1].classes[1].generation == "5.X"
    services = {s.port: s for s in report.services}
    assert 3306 not in services  # filtered is not open
    ssh = services[22]
    assert ssh.cpes == ("cpe:/a:openbsd:openssh:9.2p1", "cpe:/o:linux:linux_kernel")  # both CPEs, not the last
    assert ssh.os_type == "Linux" and ssh.extra_info == "protocol 2.0" and ssh.version == "9.2p1 Debian 2+deb12u3"
    https = services[443]
    assert https.tunnel == "ssl" and https.name == "http"
    (script,) = https.scripts
    assert script.id == "ssl-enum-ciphers" and "TLSv1.0" in script.output
    assert script.data["TLSv1.0"]["ciphers"][0]["name"] == "TLS_RSA_WITH_AES_128_CBC_SHA"
    assert script.data["least strength"] == "A"
    assert services[9999].fingerprint.startswith("SF-Port9999-TCP")
    (smb,) = host.scripts
    assert smb.id == "smb-protocols" and smb.data["dialects"][0].startswith("NT LM 0.12 (SMBv1)")
    assert {d.engine: d.version for d in report.databases} == {"postgresql": "9.6.0 - 9.6.7"}
    assert [type(e) for e in events] == [TaskProgress, HostDown, TaskProgress, type(report)]
    assert events[0].task == "ARP Ping Scan" and events[0].ended
    assert events[1].address == "192.0.2.1"
    assert events[2].percent == 42.5 and events[2].remaining_seconds == 8
    assert run.hosts_down == 1 and run.scan_types == ["syn/tcp"]


@pytest.mark.parametrize("cut", [0.35, 0.6, 0.9, 0.99])
def test_cut_short_file_keeps_every_whole_host(cut):
    data = (DATA / "segment-handmade.xml").read_bytes()
    whole = data.index(b"</host>", data.index(b"192.0.2.2")) + len(b"</host>")
    run, reports, _ = parse(data[: int(len(data) * cut)])
    assert not run.complete
    assert len(reports) == (1 if int(len(data) * cut) >= whole else 0)


def test_not_nmap_xml_is_refused():
    with pytest.raises(NmapXmlError, match="not nmap XML"):
        parse(b"<?xml version='1.0'?><html><body>hi</body></html>")
    with pytest.raises(NmapXmlError, match="not nmap XML"):
        parse(b"this is plain text, not XML at all")


def test_entity_expansion_and_external_entities_are_refused():
    billion_laughs = (b'<?xml version="1.0"?><!DOCTYPE nmaprun [<!ENTITY a "aaaaaaaaaa">'
                      b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><nmaprun>&b;</nmaprun>')
    with pytest.raises(NmapXmlError, match="unsafe"):
        parse(billion_laughs)
    external = (b'<?xml version="1.0"?><!DOCTYPE nmaprun [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b'<nmaprun><host><hostnames><hostname name="&x;"/></hostnames></host></nmaprun>')
    with pytest.raises(NmapXmlError, match="unsafe"):
        parse(external)


def test_broken_in_the_middle_is_an_error_not_a_truncation():
    data = (DATA / "segment-handmade.xml").read_bytes().replace(b"<ports>", b"<ports><<broken", 1)
    with pytest.raises(NmapXmlError, match="broken nmap XML at line"):
        parse(data)


def test_python_nmap_loses_what_this_parser_keeps():
    """The wrapper's documented limits, shown on the same file: the reason nmap_xml exists."""
    import nmap
    xml = (DATA / "segment-handmade.xml").read_text()
    theirs = nmap.PortScanner().analyse_nmap_xml_scan(xml)["scan"]["192.0.2.2"]["tcp"]
    assert theirs[22]["cpe"] == "cpe:/o:linux:linux_kernel"          # only the last CPE
    assert "tunnel" not in theirs[443] and "ostype" not in theirs[22]  # tunnel and ostype dropped
    assert isinstance(theirs[443]["script"]["ssl-enum-ciphers"], str)  # structured tables flattened
    _, (ours,), _ = parse((DATA / "segment-handmade.xml").read_bytes())
    services = {s.port: s for s in ours.services}
    assert len(services[22].cpes) == 2 and services[443].tunnel == "ssl" and services[22].os_type == "Linux"
    assert isinstance(services[443].scripts[0].data, dict)


LICENCE = b"\n<!-- SPDX-License-Identifier: Apache-2.0\n     (a fixture's licence header) -->\n  <!-- -->\n"


def test_whitespace_and_comments_before_the_declaration_are_skipped_by_both_readers():
    from scanners.nmap_xml import check_nmap_xml
    data = (DATA / "segment-handmade.xml").read_bytes()
    assert data.startswith(b"<?xml")
    run, reports, _ = parse(LICENCE + data)
    assert run.complete and [r.host.addresses for r in reports] == [r.host.addresses for r in parse(data)[1]]
    assert check_nmap_xml(io.BytesIO(LICENCE + data)) is True


def test_a_broken_line_is_numbered_in_the_file_as_written_even_after_skipped_comments():
    from scanners.nmap_xml import check_nmap_xml
    data = LICENCE + (DATA / "segment-handmade.xml").read_bytes().replace(b"<ports>", b"<ports><<broken", 1)
    line = data[: data.index(b"<<broken")].count(b"\n") + 1
    with pytest.raises(NmapXmlError, match=f"broken nmap XML at line {line}[,: ]"):
        parse(data)
    with pytest.raises(NmapXmlError, match=f"broken nmap XML at line {line}[,: ]"):
        check_nmap_xml(io.BytesIO(data))


@pytest.mark.parametrize("prefix", [b"Starting Nmap 7.94\n", b"<?xml-stylesheet href='nmap.xsl'?>\n",
                                    b"<!-- an unclosed comment\n"])
def test_anything_but_whitespace_and_comments_before_the_declaration_is_refused(prefix):
    data = prefix + (DATA / "segment-handmade.xml").read_bytes()
    with pytest.raises(NmapXmlError):
        parse(data)
