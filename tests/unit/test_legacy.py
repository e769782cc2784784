"""Legacy and insecure-protocol findings from real banners and recorded scans (tests/data/legacy, tests/data/nmap).

End-of-life dates are checked against endoflife.date's own data (the shared products.json the table is
built from), not only against dates written here.
"""

import copy
import gzip
import json
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from discovery.inventory.build import build_inventory
from discovery.analyses.legacy import (EolDataError, assess_inventory, assess_observation, assess_version, identify_os,
                                       identify_service, identify_software, load_eol_table)
from discovery.records.model import SEVERITIES, Database, Host, HostReport, Scan, Software
from discovery.analyses.protocol_rules import load_protocol_rules
from discovery.storage.store import Store
from scanners.host_facts import transform_os
from scanners.nmap_xml import iter_nmap_xml
from scanners.platform_software import transform_dpkg, transform_rpm

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
LEGACY = DATA / "legacy"
PRODUCTS_JSON = REPO / "tests" / "data" / "endoflife-date" / "products.json.gz"  # the shared copy, MIT
AS_OF = date(2026, 11, 28)
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def table():
    return load_eol_table()


@pytest.fixture(scope="module")
def source():
    """endoflife.date's data as shared with the project: the ground truth for every date checked here."""
    return json.loads(gzip.decompress(PRODUCTS_JSON.read_bytes()))


def source_date(source, product, cycle, field="eol"):
    release = next(r for r in source["products"][product]["releases"] if r["releaseCycle"] == cycle)
    return date.fromisoformat(release[field])


def nmap_reports(path):
    with open(path, "rb") as stream:
        return [r for r in iter_nmap_xml(stream) if isinstance(r, HostReport)]


def local_report(name, address, os_release, software=(), databases=()):
    os_fields = {k: v for k, v in transform_os({"system": "Linux"}, os_release).items()
                 if k not in ("hostname", "fqdn", "domain")}
    return HostReport(host=Host(source="local", observed_at=T0, hostname=name, addresses=(address,), **os_fields),
                      software=tuple(software), databases=tuple(databases))


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    """The estate of the test data, through the real pipeline (nmap XML and host reports → store → inventory):
    six lab hosts from hand-written nmap banners, a real nmap scan of Debian 12's OpenSSH, Redis and nginx,
    a Debian 12 host with its real dpkg packages and a CentOS 7 host with rpm packages."""
    debian_packages = transform_dpkg((LEGACY / "dpkg-debian12.txt").read_text(), T0)[0] + [
        Software(name="postgresql-15", version="15.18-0+deb12u1", source="dpkg", observed_at=T0)]
    redis_version = (DATA / "local" / "redis-server-version.txt").read_text().split("v=")[1].split()[0]
    reports = nmap_reports(LEGACY / "legacy-banners.xml") + nmap_reports(LEGACY / "localhost-debian12.xml") + [
        local_report("deb12", "10.9.0.50", (DATA / "local" / "os-release-debian12").read_text(), debian_packages,
                     [Database(engine="redis", port=6379, version=redis_version, process="redis-server",
                               source="local", observed_at=T0)]),
        local_report("cent7", "10.9.0.51", (LEGACY / "os-release-centos7").read_text(),
                     transform_rpm((LEGACY / "rpm-centos7.txt").read_text(), T0)[0]),
    ]
    with Store(tmp_path_factory.mktemp("legacy") / "estate.db") as store:
        scan_id = store.start_scan(Scan(kind="import", started_at=T0))
        for report in reports:
            store.write_host_report(scan_id, report)
        store.finish_scan(scan_id, "completed")
        return build_inventory(store)


def by_host(inventory, findings):
    names = {h["id"]: h["hostname"] for h in inventory["hosts"]}
    return {(names[f.host_id], f.rule, (f.data or {}).get("product") or f.subject_id.rsplit(":", 1)[-1]): f
            for f in findings}


# --- the table and where its dates come from ----------------------------------------------------------------

@pytest.mark.parametrize("product, version, status, cycle, truth", [
    ("openssh", "5.3", "eol", "5.3", ("rhel", "6", "eol")),            # shipped with RHEL/CentOS 6 only
    ("apache-http-server", "2.2.15", "eol", "2.2", ("apache-http-server", "2.2", "eol")),
    ("iis", "6.0", "eol", "6.0", ("windows-server", "2003-sp2", "eol")),  # IIS 6.0 follows Windows Server 2003
    ("postgresql", "9.6.0 - 9.6.7", "eol", "9.6", ("postgresql", "9.6", "eol")),
    ("postgresql", "15.18", "supported", "15", ("postgresql", "15", "eol")),
    ("nginx", "1.22.1", "eol", "1.22", ("nginx", "1.22", "eol")),
    ("redis", "7.0.15", "eol", "7.0", ("redis", "7.0", "eol")),
    ("debian", "12 (bookworm)", "supported", "12", ("debian", "12", "eoes")),  # Debian LTS counts (free, Debian's own)
    ("centos", "7 (Core)", "eol", "7", ("centos", "7", "eol")),
    ("mssqlserver", "13.00.5026.00; SP2", "eol", "13.0-sp2", ("mssqlserver", "13.0-sp2", "eol")),
    ("vmware-vcenter", "6.5.0", "eol", "6.5", ("vmware-vcenter", "6.5", "eol")),  # what vcsim reports of itself
    ("vmware-vcenter", "8.0.3", "supported", "8.0", ("vmware-vcenter", "8.0", "eol")),
])
def test_assess_version_real_banners(table, source, product, version, status, cycle, truth):
    verdict = assess_version(table, product, version, AS_OF)
    assert (verdict.status, verdict.cycle) == (status, cycle)
    assert verdict.end == source_date(source, *truth)
    assert verdict.source  # every verdict says where its date comes from


def test_assess_version_known_dates(table, source):
    # MySQL 5.1 has its own date now (Oracle's lifetime support policy), not 5.5's (issue 14)
    mysql = assess_version(table, "mysql", "5.1.73", AS_OF)
    assert (mysql.status, mysql.cycle, mysql.end) == ("eol", "5.1", date(2013, 12, 31)) and "oracle.com" in mysql.source
    older = assess_version(table, "mysql", "5.0.95", AS_OF)  # older than the oldest tracked (now 5.1)
    assert (older.status, older.basis, older.older_than) == ("eol", "older-than-tracked", "MySQL 5.1")
    assert assess_version(table, "apache-http-server", "2.2.15", AS_OF).end == date(2017, 7, 11)
    assert assess_version(table, "iis", "6.0", AS_OF).end == date(2015, 7, 14)
    assert assess_version(table, "centos", "7", AS_OF).end == date(2024, 6, 30)
    assert assess_version(table, "postgresql", "15.18", AS_OF).end == date(2027, 11, 11)
    assert assess_version(table, "postgresql", "9.6.0 - 9.6.7", AS_OF).end == date(2021, 11, 11)
    ws = assess_version(table, "windows-server", None, AS_OF, cycles=("2012-r2",))
    assert (ws.status, ws.end) == ("eol", date(2023, 10, 10)) == ("eol", source_date(source, "windows-server", "2012-r2"))
    assert ws.extended == source_date(source, "windows-server", "2012-r2", "eoes")  # paid ESU: named, not counted


def test_assess_version_lower_bound_gives_no_verdict(table):
    verdict = assess_version(table, "postgresql", "9.6.0 or later", AS_OF)
    assert verdict.status == "unknown" and verdict.end is None
    assert "lower bound" in verdict.reason


def test_assess_version_range_across_cycles_only_when_they_agree(table):
    across = assess_version(table, "postgresql", "9.5.3 - 9.6.7", AS_OF)
    assert across.status == "eol" and across.cycle is None and len(across.candidates) == 2
    assert across.end == date(2021, 11, 11)  # ended no later than the later of the two
    split = assess_version(table, "postgresql", "12.0 - 16.2", AS_OF)  # 12, 13 ended; 14..16 live
    assert split.status == "unknown" and "differ" in split.reason


def test_assess_version_iis_10_depends_on_the_windows_release(table):
    assert assess_version(table, "iis", "10.0", AS_OF).status == "unknown"  # 2016..2025: verdicts differ
    assert assess_version(table, "iis", "10.0", date(2025, 1, 1)).status == "supported"  # all four still supported


def test_assess_version_windows_by_build(table, source):
    verdict = assess_version(table, "windows", "10.0.19045", AS_OF)
    assert (verdict.status, verdict.cycle, verdict.end) == ("eol", "10-22h2", source_date(source, "windows", "10-22h2"))
    assert assess_version(table, "windows-server", "6.3.9600", AS_OF).cycle == "2012-r2"


def test_eol_table_products_and_sources(table):
    wanted = {"windows", "windows-server", "rhel", "centos", "rocky-linux", "almalinux", "ubuntu", "debian", "sles",
              "apache-http-server", "nginx", "tomcat", "php", "python", "openjdk", "oracle-jdk", "dotnet",
              "postgresql", "mysql", "mariadb", "mssqlserver", "oracle-database", "mongodb", "redis", "openssh", "iis",
              "vmware-esxi", "vmware-vcenter"}
    assert wanted <= set(table.products)
    for product in table.products.values():
        assert product.url.startswith("https://") and product.cycles
        if product.source == "vendor":
            assert all(c.source for c in product.cycles), product.slug  # every vendor entry names its source
    assert table.sources["endoflife.date"]["commit"] and table.sources["endoflife.date"]["licence"] == "MIT"
    data_dir = REPO / "discovery" / "data"
    assert "Permission is hereby granted" in (data_dir / "LICENSE.endoflife-date").read_text()
    assert table.sources["endoflife.date"]["commit"][:8] in (data_dir / "SOURCE.md").read_text()
    # SOURCE.md's figures are the table's
    cycles = sum(len(p.cycles) for p in table.products.values())
    endoflife = sum(p.source == "endoflife.date" for p in table.products.values())
    assert (f"{len(table.products)} products ({endoflife} from endoflife.date, {len(table.products) - endoflife} from "
            f"`vendor-lifecycles.json`), {cycles} release cycles") in (data_dir / "SOURCE.md").read_text()
    kept = (data_dir / "SOURCE.md").read_text().split("Products kept", 1)[1].split("\n\n", 1)[0]
    assert [p.slug for p in table.products.values() if p.source == "endoflife.date" and f"`{p.slug}`" not in kept] == []


def test_openssh_entries_follow_the_distributions_that_shipped_them(table, source):
    openssh = table.products["openssh"]
    assert openssh.cycle("9.2").eol == source_date(source, "debian", "12", "eoes")
    assert openssh.cycle("7.4").eol == source_date(source, "rhel", "7")  # RHEL 7 outlived Debian 9's LTS
    assert openssh.cycle("9.3").eol == openssh.cycle("9.4").released  # shipped by none: upstream until 9.4


def test_load_eol_table_is_cached_and_fails_loudly(tmp_path):
    assert load_eol_table() is load_eol_table()
    with pytest.raises(EolDataError):
        load_eol_table(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"schema": "estatemap-eol/1"}')
    with pytest.raises(EolDataError):
        load_eol_table(tmp_path / "bad.json")


def test_refresh_eol_offline_reproduces_the_shipped_table(source, tmp_path):
    out = tmp_path / "eol.json"
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "refresh_eol.py"), "--input", str(PRODUCTS_JSON),
                             "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (REPO / "discovery" / "data" / "eol.json").read_bytes()


def test_refresh_eol_stops_when_a_corrected_value_changed_upstream(source):
    refresh_eol = _refresh_module()
    vendor = json.loads((REPO / "discovery" / "data" / "vendor-lifecycles.json").read_text())
    matching = json.loads((REPO / "discovery" / "data" / "matching.json").read_text())
    source = copy.deepcopy(source)
    release = next(r for r in source["products"]["ubuntu"]["releases"] if r["releaseCycle"] == "10.04")
    table = refresh_eol.build_table(source, matching, vendor)
    assert next(c for c in table["products"]["ubuntu"]["cycles"] if c["cycle"] == "10.04")["eol"] == "2015-04-30"
    release["eol"] = "2015-04-30"  # endoflife.date fixed it: the correction must be looked at, not applied blindly
    with pytest.raises(refresh_eol.RefreshError, match="ubuntu 10.04 eol"):
        refresh_eol.build_table(source, matching, vendor)


def _refresh_module():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import refresh_eol
    finally:
        sys.path.remove(str(REPO / "scripts"))
    return refresh_eol


def test_refresh_eol_converts_the_api_answer(tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import refresh_eol
    finally:
        sys.path.remove(str(REPO / "scripts"))
    api = {"schema_version": "1.2.0", "generated_at": "2026-11-01T00:00:00+00:00", "result": [
        {"name": "postgresql", "label": "PostgreSQL", "category": "database",
         "identifiers": [{"type": "cpe", "id": "cpe:/a:postgresql:postgresql"}],
         "releases": [{"name": "15", "label": "15", "releaseDate": "2022-10-13", "isLts": False, "ltsFrom": None,
                       "isEol": False, "eolFrom": "2027-11-11", "latest": {"name": "15.19"}},
                      {"name": "7.0", "label": "7.0", "releaseDate": "2000-05-08", "isLts": False, "isEol": True,
                       "eolFrom": None, "latest": None}]}]}
    converted = refresh_eol.transform_api(api, "test")
    releases = converted["products"]["postgresql"]["releases"]
    assert releases[0] == {"releaseCycle": "15", "releaseDate": "2022-10-13", "eol": "2027-11-11", "lts": False,
                           "latest": "15.19"}
    assert releases[1]["eol"] is True  # ended, no date published
    assert converted["products"]["postgresql"]["identifiers"] == [{"cpe": "cpe:/a:postgresql:postgresql"}]
    (tmp_path / "api.json").write_text(json.dumps(api))
    assert refresh_eol.get_source(input_path=tmp_path / "api.json")["products"].keys() == {"postgresql"}


# --- matching: packages and banners ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, version, product, cycle", [
    ("openssh-server", "1:9.2p1-2+deb12u3", "openssh", "9.2"),
    ("postgresql-15", "15.18-0+deb12u1", "postgresql", "15"),
    ("nginx", "1.22.1-9+deb12u11", "nginx", "1.22"),
    ("redis-server", "5:7.0.15-1~deb12u10", "redis", "7.0"),
    ("apache2", "2.4.62-1~deb12u2", "apache-http-server", "2.4"),
    ("openjdk-17-jre", "17.0.16+8-1~deb12u1", "openjdk", "17"),
    ("python3.11", "3.11.2-6+deb12u6", "python", "3.11"),
    ("php8.2", "8.2.29-1~deb12u1", "php", "8.2"),
])
def test_identify_software_debian_packages(table, name, version, product, cycle):
    obs = identify_software({"host_id": "h", "name": name, "version": version, "source": "dpkg"}, table,
                            ("debian", "12"))
    assert obs.product == product and obs.confidence == "high"
    assert assess_version(table, product, obs.spec, AS_OF).cycle == cycle
    assert obs.distro == ("debian", "12") and obs.distro_maintained


def test_identify_software_rpm_and_third_party(table):
    el = identify_software({"host_id": "h", "name": "java-1.8.0-openjdk", "version": "1.8.0.392.b08-4.el8",
                            "source": "rpm"}, table, ("rocky-linux", "8"))
    assert el.product == "openjdk" and assess_version(table, "openjdk", el.spec, AS_OF).cycle == "8"
    assert el.distro == ("rocky-linux", "8")  # an .el8 package on Rocky 8 is Rocky's
    pgdg = identify_software({"host_id": "h", "name": "postgresql-15", "version": "15.5-1.pgdg120+1",
                              "source": "dpkg"}, table, ("debian", "12"))
    assert pgdg.product == "postgresql" and not pgdg.distro_maintained  # PGDG's build: upstream dates apply
    assert identify_software({"host_id": "h", "name": "postgresql-client-15", "version": "15.5-1",
                              "source": "dpkg"}, table, None) is None


def test_identify_service_mariadb_through_the_mysql_protocol(table):
    row = {"host_id": "h", "port": 3306, "protocol": "tcp", "name": "mysql", "product": "MySQL",
           "version": "5.5.5-10.3.39-MariaDB-0+deb10u1", "cpes": ["cpe:/a:mysql:mysql:5.5.5-10.3.39-MariaDB-0+deb10u1"],
           "source": "nmap"}
    (obs,) = identify_service(row, table)
    assert obs.product == "mariadb" and obs.spec.version.parts == (10, 3, 39) and obs.confidence == "medium"
    assert obs.distro == ("debian", "10")
    verdict = assess_observation(obs, table, AS_OF)
    assert verdict.cycle == "10.3" and verdict.maintained_by == "Debian 10"


def test_identify_service_openssh_debian_banner_follows_debian(table, source):
    row = {"host_id": "h", "port": 22, "name": "ssh", "product": "OpenSSH", "version": "9.2p1 Debian 2+deb12u3",
           "extra_info": "protocol 2.0", "source": "nmap"}
    (obs,) = identify_service(row, table)
    verdict = assess_observation(obs, table, AS_OF)
    assert (verdict.status, verdict.end) == ("supported", source_date(source, "debian", "12", "eoes"))
    untagged = dict(row, version="9.2p1 Debian 2")  # no +deb12uN: the release comes from who shipped 9.2
    (obs,) = identify_service(untagged, table)
    assert assess_observation(obs, table, AS_OF).maintained_by == "Debian 12"


# --- the whole inventory ------------------------------------------------------------------------------------

EXPECTED_LEGACY = {
    # (host, rule, product): (severity, confidence)
    ("lab-rhel6.example.org", "eol", "openssh"): ("critical", "medium"),
    ("lab-rhel6.example.org", "eol", "apache-http-server"): ("critical", "medium"),
    ("lab-rhel6.example.org", "eol", "mysql"): ("critical", "medium"),
    ("lab-win2003.example.org", "eol", "iis"): ("critical", "medium"),
    ("lab-win2003.example.org", "os-eol", "windows-server"): ("critical", "low"),
    ("lab-pg96.example.org", "eol", "postgresql"): ("critical", "low"),
    ("lab-mariadb.example.org", "eol", "mariadb"): ("critical", "medium"),
    ("lab-mariadb.example.org", "os-eol", "debian"): ("critical", "low"),
    ("lab-win2012r2.example.org", "os-eol", "windows-server"): ("critical", "low"),
    ("localhost", "eol", "nginx"): ("critical", "medium"),
    ("deb12", "eol-upstream", "nginx"): ("low", "high"),
    ("deb12", "eol-upstream", "redis"): ("low", "high"),
    ("deb12", "eol-upstream", "openssl"): ("low", "high"),
    ("cent7", "os-eol", "centos"): ("critical", "high"),
    ("cent7", "eol", "openssh"): ("critical", "high"),
    ("cent7", "eol", "postgresql"): ("high", "high"),   # PGDG's 13, upstream dates: ended 2025-11-13
}


def test_assess_inventory_legacy_findings(inventory, table):
    findings = assess_inventory(inventory, table, AS_OF)
    legacy = [f for f in findings if f.category == "legacy"]
    got = {}
    for f in legacy:
        (key,) = by_host(inventory, [f])
        got.setdefault(key, []).append((f.severity, f.confidence))
    # PostgreSQL on cent7 twice: the distribution's 9.2 (critical) and PGDG's 13 (high)
    assert sorted(got.pop(("cent7", "eol", "postgresql"))) == [("critical", "high"), ("high", "high")]
    expected = dict(EXPECTED_LEGACY)
    expected.pop(("cent7", "eol", "postgresql"))
    assert {k: v[0] for k, v in got.items()} == expected
    # Debian 12 itself, its OpenSSH, PostgreSQL 15 and Python 3.11 are supported: no finding
    assert not [f for f in legacy if f.data["product"] in ("postgresql", "python", "openssh", "debian")
                and by_host(inventory, [f]).popitem()[0][0] == "deb12"]


def test_assess_inventory_evidence_and_data(inventory, table, source):
    findings = by_host(inventory, assess_inventory(inventory, table, AS_OF))
    apache = findings[("lab-rhel6.example.org", "eol", "apache-http-server")]
    assert "Apache httpd 2.2.15" in apache.evidence and apache.subject_type == "service"
    assert apache.data["eol"] == source_date(source, "apache-http-server", "2.2").isoformat()
    assert "endoflife.date" in apache.data["eol_source"]
    pg = findings[("lab-pg96.example.org", "eol", "postgresql")]
    assert pg.data["version_kind"] == "range" and pg.data["eol"] == "2021-11-11" and pg.confidence == "low"
    iis = findings[("lab-win2003.example.org", "eol", "iis")]
    assert iis.data["eol"] == source_date(source, "windows-server", "2003-sp2").isoformat() == "2015-07-14"
    assert "learn.microsoft.com" in iis.data["eol_source"]
    mysql = findings[("lab-rhel6.example.org", "eol", "mysql")]
    assert mysql.data["cycle"] == "5.1" and mysql.data["eol"] == "2013-12-31"
    assert "oracle.com" in mysql.data["eol_source"]
    nginx = findings[("deb12", "eol-upstream", "nginx")]
    assert nginx.data["maintained_by"] == "Debian 12" and nginx.data["upstream_eol"] == "2023-04-11"
    assert "1.22.1-9+deb12u11" in nginx.evidence
    centos = findings[("cent7", "os-eol", "centos")]
    assert centos.subject_type == "host" and centos.data["eol"] == "2024-06-30" == \
        source_date(source, "centos", "7").isoformat()
    for f in findings.values():
        assert f.severity in SEVERITIES and f.evidence and f.recommendation and f.confidence in ("high", "medium", "low")
        assert f.data
        if f.category == "legacy":
            assert {"product", "cycle", "eol", "eol_source", "as_of"} <= set(f.data)


def test_host_package_beats_a_banner_bound_or_range(table):
    host = {"id": "db1", "hostname": "db1", "os_name": "Debian GNU/Linux", "os_version": "12 (bookworm)",
            "os_id": "debian"}
    bound = {"id": "db1:tcp/5432", "host_id": "db1", "port": 5432, "protocol": "tcp", "state": "open",
             "name": "postgresql", "product": "PostgreSQL DB", "version": "9.6.0 or later", "source": "nmap"}
    package = {"host_id": "db1", "name": "postgresql-15", "version": "15.18-0+deb12u1", "source": "dpkg"}
    alone = assess_inventory({"hosts": [host], "services": [bound]}, table, AS_OF)
    assert [f for f in alone if f.category == "legacy"] == []  # a lower bound alone: no verdict
    with_package = {"hosts": [host], "services": [dict(bound, version="9.6.0 - 9.6.7")], "software": [package]}
    assert [f for f in assess_inventory(with_package, table, AS_OF) if f.category == "legacy"] == []
    without_package = {"hosts": [host], "services": [dict(bound, version="9.6.0 - 9.6.7")]}
    (pg,) = [f for f in assess_inventory(without_package, table, AS_OF) if f.category == "legacy"]
    assert pg.data["cycle"] == "9.6" and pg.confidence == "low"
    obs = identify_software(package, table, ("debian", "12"))
    verdict = assess_observation(obs, table, AS_OF)
    assert (verdict.status, verdict.end) == ("supported", date(2027, 11, 11))


def test_assess_inventory_as_of_changes_exactly_the_expected_verdicts(inventory, table):
    def verdicts(day):
        return {k: f.severity for k, f in by_host(inventory, assess_inventory(inventory, table, day)).items()
                if f.category == "legacy"}

    now, then = verdicts(AS_OF), verdicts(date(2021, 6, 1))
    assert assess_inventory(inventory, table, AS_OF) == assess_inventory(inventory, table, AS_OF)  # deterministic
    changed = {k for k in now.keys() | then.keys() if now.get(k) != then.get(k)}
    assert changed == {
        ("lab-rhel6.example.org", "eol", "openssh"),        # RHEL 6 ended 2020-11-30: high then, critical now
        ("lab-pg96.example.org", "eol", "postgresql"),      # 9.6 ends 2021-11-11: eol-soon then
        ("lab-pg96.example.org", "eol-soon", "postgresql"),
        ("lab-mariadb.example.org", "eol", "mariadb"),      # 10.3 / Debian 10 were supported in 2021
        ("lab-mariadb.example.org", "os-eol", "debian"),
        ("lab-win2012r2.example.org", "os-eol", "windows-server"),
        ("localhost", "eol", "nginx"),
        ("deb12", "eol-upstream", "nginx"), ("deb12", "eol-upstream", "redis"), ("deb12", "eol-upstream", "openssl"),
        ("cent7", "os-eol", "centos"), ("cent7", "eol", "openssh"), ("cent7", "eol", "postgresql"),
        ("cent7", "eol-upstream", "postgresql"),           # 9.2: upstream ended 2017, CentOS 7 kept it until 2024
    }
    assert then[("lab-rhel6.example.org", "eol", "openssh")] == "high"
    assert then[("lab-pg96.example.org", "eol-soon", "postgresql")] == "medium"
    assert then[("lab-rhel6.example.org", "eol", "apache-http-server")] == now[
        ("lab-rhel6.example.org", "eol", "apache-http-server")] == "critical"


def test_assess_inventory_ids_are_stable_and_unique(inventory, table):
    findings = assess_inventory(inventory, table, AS_OF)
    ids = [f.id for f in findings]
    assert len(ids) == len(set(ids))
    assert any(i.startswith("smbv1:") for i in ids)
    cent7 = next(h["id"] for h in inventory["hosts"] if h["hostname"] == "cent7")
    assert f"os-eol:{cent7}:centos/7" in ids


# --- insecure protocols: each rule once positive, once negative ---------------------------------------------

def service(port, name, **fields):
    return {"id": f"h1:tcp/{port}", "host_id": "h1", "port": port, "protocol": "tcp", "state": "open", "name": name,
            "method": "probed", "source": "nmap", **fields}


def run(services, table, host=None):
    host = host or {"id": "h1", "hostname": "h1"}
    return [f for f in assess_inventory({"hosts": [host], "services": services}, table, AS_OF)
            if f.category in ("insecure-protocol", "unidentified")]


def rules_of(findings):
    return sorted((f.rule, f.severity) for f in findings)


def test_telnet(table):
    assert rules_of(run([service(23, "telnet", product="Linux telnetd")], table)) == [("telnet", "high")]
    assert run([service(23, "ssh", product="OpenSSH", version="9.6")], table) == []
    assert run([service(992, "telnet", tunnel="ssl")], table) == []


def test_ftp(table):
    assert rules_of(run([service(21, "ftp", product="vsftpd", version="3.0.3")], table)) == [("ftp", "medium")]
    assert run([service(990, "ftp", tunnel="ssl", product="vsftpd")], table) == []
    starttls = service(21, "ftp", product="vsftpd", scripts=[{"id": "ssl-cert", "output": "Subject: commonName=ftp"}])
    assert rules_of(run([starttls], table)) == [("ftp", "low")]


def test_smbv1(table):
    host = {"id": "h1", "scripts": [{"id": "smb-protocols", "output": "dialects: NT LM 0.12 (SMBv1) [dangerous]",
                                     "data": {"dialects": ["NT LM 0.12 (SMBv1) [dangerous, but default]", "2:0:2"]}}]}
    (f,) = run([service(445, "microsoft-ds")], table, host)
    assert (f.rule, f.severity, f.subject_id) == ("smbv1", "high", "h1:tcp/445") and "NT LM 0.12" in f.evidence
    modern = {"id": "h1", "scripts": [{"id": "smb-protocols", "data": {"dialects": ["2:0:2", "2:1:0", "3:1:1"]}}]}
    assert run([service(445, "microsoft-ds")], table, modern) == []


def test_legacy_ssl_and_tls(table):
    old = service(443, "http", tunnel="ssl", scripts=[
        {"id": "sslv2", "output": "SSLv2 supported", "data": ["SSLv2 supported"]},
        {"id": "ssl-enum-ciphers", "data": {"SSLv3": {}, "TLSv1.0": {}, "TLSv1.2": {}, "least strength": "C"}}])
    assert rules_of(run([old], table)) == [("ssl-legacy", "high"), ("tls-legacy", "medium")]
    modern = service(443, "http", tunnel="ssl", scripts=[
        {"id": "ssl-enum-ciphers", "data": {"TLSv1.2": {}, "TLSv1.3": {}, "least strength": "A"}}])
    assert run([modern], table) == []


def test_tls_legacy_from_a_real_nginx_scan(inventory, table):
    findings = by_host(inventory, assess_inventory(inventory, table, AS_OF))
    tls = findings[("localhost", "tls-legacy", "tcp/18443")]
    assert tls.data["protocol_versions"] == ["TLSv1.0", "TLSv1.1"] and tls.severity == "medium"
    assert ("localhost", "ssl-legacy", "tcp/18443") not in findings


def test_hl7_mllp(table):
    (f,) = run([service(2575, "hl7", product="Mirth Connect MLLP")], table)
    assert (f.rule, f.severity) == ("hl7-cleartext", "medium") and "patient data" in f.title
    assert run([service(2575, "hl7", tunnel="ssl", product="Mirth Connect MLLP")], table) == []
    assert run([service(6661, "irc", product="UnrealIRCd")], table) == []  # a probed IRC server is not HL7


def test_dicom(table):
    (f,) = run([service(104, "acr-nema", product="DCMTK storescp")], table)
    assert (f.rule, f.severity) == ("dicom-cleartext", "medium")
    assert run([service(2762, "dicom", tunnel="ssl", product="DCMTK storescp")], table) == []


def test_http_credentials(inventory, table):
    findings = by_host(inventory, assess_inventory(inventory, table, AS_OF))
    basic = findings[("localhost", "http-cleartext-auth", "tcp/18080")]  # real nginx with auth_basic
    assert basic.severity == "medium" and "Basic realm=Estate admin" in basic.evidence
    assert ("localhost", "http-cleartext-auth", "tcp/18443") not in findings  # the same over TLS
    form = service(8080, "http", scripts=[{"id": "http-auth-finder", "output": "url method\n  http://h1:8080/login FORM"}])
    assert rules_of(run([form], table)) == [("http-cleartext-auth", "medium")]
    plain = service(80, "http", product="nginx", scripts=[{"id": "http-title", "output": "Welcome to nginx!"}])
    assert run([plain], table) == []


def test_unidentified(table):
    (f,) = run([service(9999, "unknown", method="table", confidence=3, fingerprint="SF-Port9999-TCP:...")], table)
    assert (f.rule, f.category, f.severity) == ("unidentified", "unidentified", "low")
    (guess,) = run([service(10050, "zabbix-agent", method="table", confidence=3)], table)
    assert guess.severity == "info"
    assert run([service(22, "ssh", product="OpenSSH", version="9.6")], table) == []
    assert run([service(5000, None, state="listening", source="local", process="gunicorn")], table) == []


def test_segment_handmade_scan(table):
    """The project's other hand-made nmap recording: SMBv1, TLS 1.0, DICOM, an unknown port, PostgreSQL 9.6 range;
    its OpenSSH 9.2p1 Debian 2+deb12u3 is Debian 12's and supported, so it gives no finding."""
    reports = nmap_reports(DATA / "nmap" / "segment-handmade.xml")
    (report,) = reports
    report = report.with_host_id("pacs01")
    services = [{"id": s.id, "host_id": s.host_id, "port": s.port, "protocol": s.protocol, "state": s.state,
                 "name": s.name, "product": s.product, "version": s.version, "tunnel": s.tunnel, "method": s.method,
                 "source": s.source, "cpes": list(s.cpes),
                 "scripts": [{"id": x.id, "output": x.output, "data": x.data} for x in s.scripts]}
                for s in report.services]
    host = {"id": "pacs01", "hostname": report.host.hostname, "os_name": report.host.os_name,
            "os_matches": [{"name": m.name, "accuracy": m.accuracy} for m in report.host.os_matches],
            "scripts": [{"id": x.id, "output": x.output, "data": x.data} for x in report.host.scripts]}
    findings = assess_inventory({"hosts": [host], "services": services}, table, AS_OF)
    assert sorted((f.rule, f.subject_id) for f in findings) == [
        ("dicom-cleartext", "pacs01:tcp/11112"),
        ("eol", "pacs01:tcp/443"),           # nginx 1.22.1, no distribution tag in the banner
        ("eol", "pacs01:tcp/5432"),          # PostgreSQL 9.6.0 - 9.6.7
        ("smbv1", "pacs01"),                 # host script, no SMB port open: the host is the subject
        ("tls-legacy", "pacs01:tcp/443"),
        ("unidentified", "pacs01:tcp/9999"),
    ]


def test_protocol_rules_file_is_complete():
    rules = load_protocol_rules()
    assert {r["rule"] for r in rules["cleartext"]} == {"telnet", "ftp", "hl7-cleartext", "dicom-cleartext",
                                                       "http-cleartext"}
    for rule in rules["cleartext"] + rules["legacy_tls"]["rules"] + [rules["smbv1"], rules["http_auth"],
                                                                       rules["dicom_default_ae"]]:
        assert rule["severity"] in SEVERITIES and rule["recommendation"]
    assert all(t["source"] for t in rules["dicom_default_ae"]["titles"])   # where each default title comes from


@pytest.mark.parametrize("host, product, status, name", [
    # the shapes scanners.local_host writes: Python's platform.win32_ver() names, os-release VERSION
    ({"os_name": "Windows 2012ServerR2", "os_version": "6.3.9600", "os_id": "windows"},
     "windows-server", "eol", "Windows Server 2012 R2"),
    ({"os_name": "Windows 2019Server", "os_version": "10.0.17763", "os_id": "windows"},
     "windows-server", "supported", "Microsoft Windows Server 2019"),
    ({"os_name": "Windows 10", "os_version": "10.0.19045", "os_id": "windows"}, "windows", "eol",
     "Microsoft Windows 10 22H2"),
    ({"os_name": "Ubuntu", "os_version": "22.04.4 LTS (Jammy Jellyfish)", "os_id": "ubuntu"}, "ubuntu", "eol-soon",
     "Ubuntu 22.04"),
    ({"os_name": "SLES", "os_version": "15-SP5", "os_id": "sles"}, "sles", "eol", "SUSE Linux Enterprise Server 15.5"),
    ({"os_name": "Rocky Linux", "os_version": "9.3 (Blue Onyx)", "os_id": "rocky"}, "rocky-linux", "supported",
     "Rocky Linux 9"),
    ({"os_name": "CentOS Stream", "os_version": "9", "os_id": "centos"}, "centos-stream", "supported",
     "CentOS Stream 9"),
])
def test_identify_os_host_reported(table, host, product, status, name):
    (obs,) = identify_os({"id": "h", **host}, table)
    verdict = assess_observation(obs, table, AS_OF)
    assert (obs.product, obs.confidence, verdict.status, verdict.name) == (product, "high", status, name)


def test_identify_os_nmap_guesses(table):
    linux = {"id": "h", "os_name": "Linux 5.0 - 5.5", "os_matches": [{"name": "Linux 5.0 - 5.5", "accuracy": 98}]}
    assert identify_os(linux, table) == []  # a kernel range names no distribution
    weak = {"id": "h", "os_name": "Microsoft Windows Server 2012 R2",
            "os_matches": [{"name": "Microsoft Windows Server 2012 R2", "accuracy": 80}]}
    assert identify_os(weak, table) == []  # below the accuracy floor
    (obs,) = identify_os(dict(weak, os_matches=[{"name": "Microsoft Windows Server 2012 R2", "accuracy": 98}]), table)
    assert (obs.product, obs.cycles, obs.confidence, obs.kind) == ("windows-server", ("2012-r2",), "low", "os-guess")


def test_recorded_debian12_package_list(table, source):
    """A real dpkg list (tests/data/local/dpkg-query.txt): Debian's own builds of nginx, OpenSSL and Redis are
    past upstream support but maintained by Debian; NodeSource's Node.js 20 is not Debian's and is judged by
    upstream dates alone."""
    software = [{"host_id": "h", "name": s.name, "version": s.version, "source": s.source}
                for s in transform_dpkg((DATA / "local" / "dpkg-query.txt").read_text(), T0)[0]]
    host = {"id": "h", "os_name": "Debian GNU/Linux", "os_version": "12 (bookworm)", "os_id": "debian"}
    findings = {f.data["product"]: f for f in assess_inventory({"hosts": [host], "software": software}, table, AS_OF)}
    assert {p: f.rule for p, f in findings.items()} == {
        "nginx": "eol-upstream", "openssl": "eol-upstream", "redis": "eol-upstream", "nodejs": "eol"}
    node = findings["nodejs"]
    assert "nodesource" in node.evidence and node.severity == "high" and "maintained_by" not in node.data
    assert node.data["eol"] == source_date(source, "nodejs", "20").isoformat()
