"""Legacy verdicts on other people's nmap scans (tests/data/legacy_corpus, sources and licences in its SOURCES.md).

Each test reads a real file (nmap 4.x to 7.x) the way `estatemap import` does and checks one class of
mistake the corpus showed: old OS formats, service-pack dates, guesses naming several releases, vendor build
numbers, OS names in file-sharing banners, old script ids, and dates that are only bounds.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from discovery.analyses.legacy import assess_inventory, identify_os, load_eol_table
from discovery.analyses.protocol_rules import assess_sshv1, load_protocol_rules
from discovery.inventory.build import build_inventory
from discovery.service import run_scan
from discovery.storage.store import Store
from scanners.files import FileImportScanner
from scanners.nmap_xml import iter_nmap_xml

CORPUS = Path(__file__).resolve().parents[1] / "data" / "legacy_corpus"
AS_OF = date(2026, 12, 1)


def hosts_of(name: str) -> dict:
    """{first address: Host} as the nmap XML reader gives them."""
    with open(CORPUS / name, "rb") as stream:
        return {r.host.addresses[0]: r.host for r in iter_nmap_xml(stream) if hasattr(r, "host")}


@pytest.fixture(scope="module")
def findings(tmp_path_factory):
    """{file: {(address, port or "os"): [Finding]}} for the corpus files these tests read, imported and judged."""
    by_file = {}
    for name in ("rubynmap-lan-468.xml", "libnmap-dionaea-791.xml", "ullaakut-sample03-453.xml"):
        with Store(tmp_path_factory.mktemp("corpus") / "estate.db") as store:
            assert run_scan(store, FileImportScanner(CORPUS / name)).status == "completed"
            inventory = build_inventory(store)
        hosts = {h["id"]: h for h in inventory["hosts"]}
        services = {s["id"]: s for s in inventory["services"]}
        found: dict = {}
        for f in assess_inventory(inventory, load_eol_table(), AS_OF):
            where = "os" if f.subject_type == "host" else services[f.subject_id]["port"]
            found.setdefault((hosts[f.host_id]["addresses"][0], where), []).append(f)
        by_file[name] = found
    return by_file


def only(found: list, rule: str):
    (finding,) = [f for f in found if f.rule == rule]
    return finding


# --- 1. nmap before 6: <osclass> beside <osmatch>, not inside ----------------------------------------------


def test_old_nmap_os_classes_are_kept_and_name_the_family():
    hosts = hosts_of("rubynmap-lan-468.xml")  # nmap 4.68
    mac = hosts["192.168.5.104"]
    assert mac.os_family == "macos"
    assert [c.family for c in mac.os_matches[0].classes] == ["Mac OS X"]
    assert hosts["192.168.5.106"].os_family == "windows"  # Vista: no class inside its osmatch


def test_a_host_with_classes_only_gets_every_best_class_as_its_guess():
    host = hosts_of("rubynmap-lan-468.xml")["192.168.5.148"]  # <osclass> Windows 2003 and XP, no <osmatch>
    (match,) = host.os_matches
    assert (match.name, match.accuracy) == ("Microsoft Windows 2003 or Microsoft Windows XP", 100)
    assert host.os_family == "windows"


def test_nmap_4_netbsd_host_is_bsd():
    assert hosts_of("ullaakut-sample03-453.xml")["204.152.190.12"].os_family == "bsd"  # nmap 4.53


# --- 3, 4. guesses naming several releases; service packs and their own dates -------------------------------


def test_every_release_of_a_guess_past_support_is_a_verdict_with_the_latest_date(findings):
    found = findings["rubynmap-lan-468.xml"][("192.168.5.166", "os")]  # "Windows 2000 SP4 or Windows XP SP2"
    f = only(found, "os-eol")
    assert f.data["eol"] == "2010-07-13"  # XP SP2's end (not SP3's 2014-04-08) and Windows 2000's
    assert "or" in f.data["name"] and f.confidence == "low"


def test_a_release_without_its_service_pack_says_its_date_is_a_bound(findings):
    f = only(findings["rubynmap-lan-468.xml"][("192.168.5.106", "os")], "os-eol")  # "Microsoft Windows Vista"
    assert f.data["eol"] == "2017-04-11" and f.data["eol_is_upper_bound"] is True
    assert "at the latest" in f.title


def test_classes_only_host_is_judged_on_both_releases(findings):
    f = only(findings["rubynmap-lan-468.xml"][("192.168.5.148", "os")], "os-eol")
    assert f.data["eol"] == "2015-07-14" and "at the latest" in f.title  # Server 2003 SP2, the later of the two


def test_mac_os_x_guess_is_judged(findings):
    f = only(findings["rubynmap-lan-468.xml"][("192.168.5.104", "os")], "os-eol")
    assert f.data["product"] == "macos" and f.data["eol"] == "2009-08-13"  # 10.5 Leopard


@pytest.mark.parametrize("name, cycles", [
    ("Microsoft Windows XP SP2", ("5-sp2",)),
    ("Microsoft Windows XP SP2 or SP3", ("5-sp2", "5-sp3")),
    ("Microsoft Windows Server 2003 SP0 or Windows XP SP2", ("2003",)),  # and XP SP2 as an alternative
    ("Microsoft Windows Server 2008 Beta 3", ("2008", "2008-sp2")),     # no service pack named: either
])
def test_service_packs_in_nmap_names_pick_the_release(name, cycles):
    (obs,) = identify_os({"id": "h", "os_matches": [{"name": name, "accuracy": 95}]}, load_eol_table())
    assert obs.cycles == cycles


def test_guesses_that_disagree_about_support_say_so():
    table = load_eol_table()
    guess = "Microsoft Windows Server 2008 SP2 or Windows Server 2022"
    host = {"id": "h", "os_matches": [{"name": guess, "accuracy": 93}]}
    findings = assess_inventory({"hosts": [host], "services": []}, table, AS_OF)
    (f,) = findings
    assert (f.rule, f.severity) == ("os-guess-unclear", "info")
    assert "2022" in f.evidence and "2008" in f.evidence


def test_guesses_below_the_accuracy_threshold_give_no_verdict():
    host = {"id": "h", "os_matches": [{"name": "Microsoft Windows XP SP2", "accuracy": 84}]}
    assert identify_os(host, load_eol_table()) == []


# --- 5. vendor build numbers; OS names in banners ---------------------------------------------------------


def test_sql_server_build_with_nmaps_service_pack_reading_is_judged(findings):
    f = only(findings["libnmap-dionaea-791.xml"][("172.28.1.3", 1433)], "eol")  # "8.00.528.00; SP1+"
    assert f.data["product"] == "mssqlserver" and f.severity == "critical"
    # only SP4 of SQL Server 2000 is tracked: an SP1 build is not called SP4, and SP4's end is only a bound
    assert "SP4" not in f.title and "build 8.00.528" in f.title and f.data["eol_is_upper_bound"]


def test_windows_release_in_a_file_sharing_banner_is_judged(findings):
    f = only(findings["libnmap-dionaea-791.xml"][("172.28.1.3", 445)], "eol")  # "Windows XP microsoft-ds"
    assert f.data["product"] == "windows" and f.data["eol"] == "2014-04-08" and f.data["eol_is_upper_bound"]


# --- 4. a release older than any the table tracks: no date of another release stated as its own ------------


def test_older_than_tracked_names_the_oldest_tracked_release_not_its_date_as_its_own():
    from discovery.analyses.legacy import _legacy_finding, assess_observation, identify_service
    table = load_eol_table()
    row = {"id": "s", "host_id": "h", "port": 80, "protocol": "tcp", "name": "http", "product": "Apache httpd",
           "version": "1.3.39", "extra_info": "(Unix) PHP/4.2.3"}  # the corpus's freshmeat banner, with PHP 4.2
    (php,) = [o for o in identify_service(row, table) if o.product == "php"]
    verdict = assess_observation(php, table, AS_OF)
    f = _legacy_finding(php, verdict, table, AS_OF)
    assert f.data["eol"] is None and f.data["oldest_tracked"] == "PHP 4.3"
    assert f.data["oldest_tracked_eol"] == "2005-03-31"
    assert "older than PHP 4.3" in f.title and "since" not in f.title


def test_php_4_4_has_its_own_date(findings):
    hits = findings["ullaakut-sample03-453.xml"][("66.35.250.168", 80)]  # Apache 1.3.39 with PHP/4.4.7
    php = [f for f in hits if f.data["product"] == "php"]
    assert php and php[0].data["eol"] == "2008-08-07" and "php.net" in php[0].data["eol_source"]


# --- 4. a release only distributions patched: upstream's date is the fact ----------------------------------


def test_openssh_without_a_distribution_states_upstreams_end_and_the_bound(findings):
    f = only(findings["ullaakut-sample03-453.xml"][("64.13.134.48", 22)], "eol")  # OpenSSH 4.3
    assert f.data["upstream_eol"] == "2006-09-27" and f.data["eol_is_upper_bound"]
    assert "upstream since 2006-09-27" in f.title and "at the latest" in f.title


def test_ubuntu_package_revision_judges_that_ubuntu_release_with_its_server_date(tmp_path):
    # scanme.nmap.org in 2013: "OpenSSH 5.3p1 Debian 3ubuntu7" is Ubuntu 10.04's package, not Debian's
    with Store(tmp_path / "estate.db") as store:
        assert run_scan(store, FileImportScanner(CORPUS / "rubynmap-scanme-601.xml")).status == "completed"
        inventory = build_inventory(store)
    (ssh,) = [s for s in inventory["services"] if s["port"] == 22]
    (f,) = [f for f in assess_inventory(inventory, load_eol_table(), AS_OF)
            if f.subject_id == ssh["id"] and f.category == "legacy"]
    assert (f.data["eol"], f.data["maintained_by"]) == ("2015-04-30", "Ubuntu 10.04")  # server end, not desktop
    assert f.data["upstream_eol"] == "2010-03-08"


# --- 6. weak crypto as old nmap writes it ------------------------------------------------------------------


def test_nmap_4_sslv2_script_in_capitals_is_found(findings):
    f = only(findings["ullaakut-sample03-453.xml"][("204.152.190.12", 443)], "ssl-legacy")
    assert "SSLv2" in f.title


@pytest.mark.parametrize("version, extra, scripts, expected", [
    ("3.9p1", "protocol 1.99", [], ("medium", "1.99")),           # as nmap prints OpenSSH 3.9p1 with v1 enabled
    ("2.9p2", "protocol 1.5", [], ("high", "1.5")),
    ("4.3", "protocol 2.0", [{"id": "sshv1", "output": "Server supports SSHv1"}], ("medium", "1.99")),
    ("9.6", "protocol 2.0", [], None),
])
def test_ssh_protocol_1(version, extra, scripts, expected):
    row = {"id": "s", "host_id": "h", "port": 22, "protocol": "tcp", "name": "ssh", "product": "OpenSSH",
           "version": version, "extra_info": extra, "scripts": scripts}
    found = assess_sshv1(row, load_protocol_rules())
    if expected is None:
        assert found == []
    else:
        (f,) = found
        assert (f.severity, f.data["ssh_protocol"]) == expected


# --- 2. operating systems and products the table did not have (names as nmap prints them) -------------------


@pytest.mark.parametrize("name, product, eol", [
    ("Sun Solaris 9", "oracle-solaris", "2011-10-01"),
    ("SunOS 5.8", "oracle-solaris", "2009-03-01"),                # SunOS 5.x is Solaris x
    ("FreeBSD 6.2-RELEASE", "freebsd", "2008-05-31"),
    ("OpenBSD 4.1", "openbsd", "2008-05-01"),
    ("NetBSD 5.0", "netbsd", "2015-11-11"),
    ("Cisco IOS XE 16.12", "cisco-ios-xe", "2023-07-31"),
    ("Microsoft Windows XP Embedded", "windows-embedded", "2016-01-12"),  # not Windows XP's 2014 date
    ("Microsoft Windows Embedded Standard 7", "windows-embedded", "2020-10-13"),
    ("IBM AIX 7.1", "ibm-aix", "2023-04-30"),                     # the series: its last technology level's end, a bound
    ("Apple iOS 5.0.1", "apple-ios", "2012-11-01"),
    ("Apple iPhone mobile phone (iOS 4.3)", "apple-ios", None),    # older than the oldest tracked: ended, no date
    ("Microsoft Windows Fundamentals for Legacy PCs", "windows-embedded", "2014-04-08"),
    ("Cisco PIX 501 firewall (PIX OS 6.3)", "cisco-pix", "2013-07-27"),
    ("HP HP-UX 11.11", "hp-ux", None),                            # ended; HP's day is not stated
    ("HP HP-UX 11i v2", "hp-ux", None),
    ("Cisco 2811 router (IOS 12.4)", "cisco-ios", None),          # classic IOS trains: ended, days differ per train
    ("Cisco IOS 12.X", "cisco-ios", None),
    ("Cisco Adaptive Security Appliance (PIX OS 8.0)", "cisco-asa", None),  # an ASA, not a PIX
])
def test_more_operating_systems_are_judged(name, product, eol):
    host = {"id": "h", "os_matches": [{"name": name, "accuracy": 95}]}
    (f,) = assess_inventory({"hosts": [host], "services": []}, load_eol_table(), AS_OF)
    assert (f.rule, f.data["product"], f.data["eol"]) == ("os-eol", product, eol)


@pytest.mark.parametrize("name", ["Cisco ASA 5510 (PIX OS 9.1)", "Cisco IOS 15.1",
                                  "Apple iOS 11.0 - 12.0 (Darwin 17.0.0 - 18.0.0)",
                                  "HP-UX B.11.31",                # listed without an end: not a disagreement
                                  "HP HP-UX 11.00 or 11.11"])     # a version rule judges one name, not "A or B"
def test_names_the_table_cannot_date_give_no_verdict(name):
    # trains whose end is not checked, and Apple ranges reaching supported releases
    host = {"id": "h", "os_matches": [{"name": name, "accuracy": 95}]}
    assert assess_inventory({"hosts": [host], "services": []}, load_eol_table(), AS_OF) == []


@pytest.mark.parametrize("name", ["Sun Solaris 11.4", "OpenBSD 7.9", "NetBSD 10.0", "FreeBSD 15.1-RELEASE"])
def test_supported_operating_systems_give_no_finding(name):
    host = {"id": "h", "os_matches": [{"name": name, "accuracy": 95}]}
    findings = assess_inventory({"hosts": [host], "services": []}, load_eol_table(), date(2026, 6, 1))
    assert [f for f in findings if f.rule in ("os-eol", "os-eol-soon")] == [], findings


def test_an_aix_release_whose_technology_levels_disagree_says_so():
    host = {"id": "h", "os_matches": [{"name": "IBM AIX 7.2", "accuracy": 95}]}
    (f,) = assess_inventory({"hosts": [host], "services": []}, load_eol_table(), AS_OF)
    assert f.rule == "os-guess-unclear" and "7.2" in f.title


@pytest.mark.parametrize("product, version, expected", [
    ("ProFTPD", "1.3.5e", ("eol", "proftpd", "2020-07-20")),
    ("ProFTPD", "1.3.9", None),
    ("Squid webproxy", "2.6.STABLE18", ("eol", "squid", "2010-03-26")),  # nmap 4.x's name for Squid
    ("Samba smbd", "4.13.2", ("eol", "samba", "2022-03-21")),
    ("Samba smbd", "4.5.16", ("eol", "samba", None)),           # ended before 4.9 did; its day is not known
    ("Samba smbd", "3.0.28a", ("eol", "samba", None)),          # older than the oldest tracked series
    ("Samba smbd", "4.21.1", None),                             # tracked without an end: no verdict
    ("Samba smbd", "3.X - 4.X", None),                          # a range reaching series still supported
    ("Microsoft Exchange imapd", "6.5.7638.1", ("eol", "msexchange", "2014-04-08")),  # build 6.5 = Exchange 2003
    ("Microsoft Exchange smtpd", "15.2.1118.7", ("eol", "msexchange", "2025-10-14")),  # 15.2 below 2562 = 2019
    ("Microsoft Exchange smtpd", "15.2.2562.17", None),         # Subscription Edition
    ("Oracle TNS listener", "10.2.0.1.0", ("eol", "oracle-database", "2010-07-31")),
    ("Oracle TNS listener", "19.3.0.0.0", None),
    ("ISC BIND", "9.2.4", ("eol", "isc-bind", None)),            # ended; ISC gives no day
    ("ISC BIND", "9.3.6-P1-RedHat-9.3.6-4.P1.el5_4.2", ("eol", "isc-bind", "2017-03-31")),  # RHEL 5's build
    ("ISC BIND", "9.X", None),                                  # spans maintained branches
    ("ISC BIND", "0.0 go away", None),                          # a version string the administrator chose
    ("Oracle WebLogic Server", "10.3.6.0", ("eol", "weblogic", None)),
    ("Oracle WebLogic Server", "12.2.1.4", None),
    ("Sendmail", "8.13.8/8.13.8", ("eol", "sendmail", None)),
    ("Sendmail", "8.18.1/8.18.1", None),
    ("WildFly", "10.1.0.Final", ("eol", "wildfly", None)),
    ("JBoss WildFly Application Server", "37.0.1.Final", None),
])
def test_more_service_products_are_judged(product, version, expected):
    row = {"id": "s", "host_id": "h", "port": 21, "protocol": "tcp", "name": "ftp", "product": product,
           "version": version}
    found = [f for f in assess_inventory({"hosts": [{"id": "h"}], "services": [row]}, load_eol_table(), AS_OF)
             if f.category == "legacy" and f.subject_type == "service"]
    assert [(f.rule, f.data["product"], f.data["eol"]) for f in found] == ([expected] if expected else [])


# --- 7. clear-text web on clinical hosts, FHIR over HTTP ---------------------------------------------------


def web_row(port, name="http", scripts=(), **extra):
    return {"id": f"h:tcp/{port}", "host_id": "h", "port": port, "protocol": "tcp", "name": name, "state": "open",
            "scripts": list(scripts), **extra}


FHIR_SCRIPT = {"id": "fhir-metadata", "output": "FHIR 4.0.1 at /fhir (HAPI FHIR Server 6.4.0)",
               "data": {"fhir_version": "4.0.1", "base": "/fhir"}}  # what scanners.fhir_probe records


def protocol_findings(rows, host=None):
    from discovery.analyses.protocol_rules import assess_protocols
    return assess_protocols({"hosts": [host or {"id": "h"}], "services": rows}, load_protocol_rules())


def test_fhir_over_plain_http_is_high_and_not_repeated_as_plain_web():
    rows = [web_row(8080, "http-proxy", [FHIR_SCRIPT], category="healthcare"), web_row(80)]
    by_rule = {}
    for f in protocol_findings(rows):
        by_rule.setdefault(f.rule, []).append(f)
    (fhir,) = by_rule["fhir-cleartext"]
    assert fhir.severity == "high" and "FHIR 4.0.1" in fhir.evidence and fhir.subject_id.endswith("tcp/8080")
    (plain,) = by_rule["http-no-https"]  # port 80 on the same clinical host; the FHIR port is left to its finding
    assert plain.severity == "low" and plain.subject_id.endswith("tcp/80")


def test_fhir_over_tls_is_not_a_finding():
    rows = [web_row(443, "https", [FHIR_SCRIPT], tunnel="ssl", category="healthcare")]
    assert [f for f in protocol_findings(rows) if f.rule == "fhir-cleartext"] == []


@pytest.mark.parametrize("rows, host, expected", [
    ([web_row(104, "dicom", category="healthcare"), web_row(80)], None, ["h:tcp/80"]),
    ([web_row(80)], {"id": "h", "patient_data": "yes"}, ["h:tcp/80"]),
    ([web_row(80)], None, []),                                                        # not a clinical host
    ([web_row(104, "dicom", category="healthcare"),
      web_row(80, scripts=[{"id": "http-title", "output": "Did not follow redirect to https://pacs01/"}])], None, []),
    ([web_row(104, "dicom", category="healthcare"),
      web_row(80, scripts=[{"id": "http-auth", "output": "HTTP/1.1 401\n  Basic realm=pacs"}])],
     None, []),                                                                       # the auth finding covers it
])
def test_plain_http_on_a_clinical_host(rows, host, expected):
    found = [f.subject_id for f in protocol_findings(rows, host) if f.rule == "http-no-https"]
    assert found == expected


# --- 8. the Findings sheet as people read it ----------------------------------------------------------------


def test_findings_sheet_is_sorted_by_severity_wrapped_and_rolls_up_unidentified_ports(tmp_path):
    import json

    import openpyxl

    import main
    from discovery.records.model import SEVERITIES

    db = str(tmp_path / "estate.db")
    assert main.main(["--db", db, "-q", "import", str(CORPUS / "ullaakut-sample03-453.xml")]) == 0
    assert main.main(["--db", db, "-q", "analyze", "--as-of", "2026-12-01"]) == 0
    for fmt in ("xlsx", "json"):
        assert main.main(["--db", db, "-q", "export", "-f", fmt, "-o", str(tmp_path / f"estate.{fmt}")]) == 0
    ws = openpyxl.load_workbook(tmp_path / "estate.xlsx")["Findings"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, (c.value for c in row))) for row in ws.iter_rows(min_row=2)]
    ranks = [SEVERITIES.index(r["Severity"]) for r in rows]
    assert ranks == sorted(ranks)  # most severe first
    for severity in set(r["Severity"] for r in rows):  # then by host
        hosts = [str(r["Host"]).lower() for r in rows if r["Severity"] == severity]
        assert hosts == sorted(hosts)
    evidence = header.index("Evidence") + 1
    assert all(ws.cell(row=i, column=evidence).alignment.wrap_text for i in range(2, ws.max_row + 1))
    findings = json.loads((tmp_path / "estate.json").read_text())["findings"]
    unidentified = [f for f in findings if f["rule"] == "unidentified"]
    per_host = {}
    for f in unidentified:
        per_host.setdefault(f["host_id"], []).append(f)
    several = {h: fs for h, fs in per_host.items() if len(fs) > 1}
    assert several  # the corpus has hosts with several unidentified ports: each stays in the JSON
    sheet_unidentified = [r for r in rows if r["Rule"] == "unidentified"]
    assert len(sheet_unidentified) == len(per_host)  # one row per host on the sheet
    rolled = next(r for r in sheet_unidentified if r["Host ID"] in several)
    ports = sorted(f["data"]["port"] for f in several[rolled["Host ID"]])
    assert rolled["Title"] == f"{len(ports)} unidentified services on ports {', '.join(map(str, ports))}"
