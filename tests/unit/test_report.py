"""The assessment report (estatemap report, the export dialog's "report" format): its figures equal the JSON
export's, each section holds what the inventory says, keys a newer analyze adds are used when present and named
as not computed otherwise, hostile text stays text, and the command behaves like export."""

from __future__ import annotations

import json
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from discovery.inventory.build import build_inventory
from discovery.records.model import SEVERITIES, Host, HostReport, Scan, Service
from discovery.service import analyze
from discovery.storage.store import Store
from exports.report import render_report
from exports.report_charts import MAP_MAX_NODES, layered_map
from exports.report_data import CLINICAL_RULES, NOT_COMPUTED, build_report
from tests.builders import T0, make_report
from tests.unit.test_cli import run
from tests.unit.test_exports_safety import hostile_inventory

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 28)
EXCLUDED = ("10.9.8.250", "10.9.8.251")
NETWORK_ARGUMENTS = f"nmap -sS -sV -T3 --max-rate 100 --exclude {','.join(EXCLUDED)} 10.9.8.0/24"
NETWORK_WARNING = "10.9.8.77: host timed out"


def fill_clinical_estate(store: Store, *, analysed: bool = True) -> dict[str, str]:
    """Write a small hospital estate into `store` (analysed unless told not to); return host ids by hostname.

    Collected hosts (scan 1): web01 → app01 → db01 (Debian 10: past end of support); app01 → pacs01 (DICOM on
    tcp/104, with Telnet) and → ris01 (HL7 on tcp/2575, Mirth), ris01 → pacs01 and → db01; dns01 used by three
    hosts (shared infrastructure); lab01 → labdb01, a second move group. A network scan (scan 2, two addresses
    excluded, one warning) adds ct01, a modality seen from outside only, which sends images to pacs01."""
    scan = store.start_scan(Scan(kind="host", started_at=T0))
    dns = ("10.9.8.2", 41900, "10.9.8.9", 53, "outbound", "java")
    reports = {
        "web01": make_report(hostname="web01", address="10.9.8.1", services=(("tcp", 443, "nginx"),),
                             connections=(("10.9.8.1", 40001, "10.9.8.2", 8080, "outbound", "nginx"),
                                          ("10.9.8.1", 40002, "10.9.8.9", 53, "outbound", "nginx"))),
        "app01": make_report(hostname="app01", address="10.9.8.2", services=(("tcp", 8080, "java"),),
                             connections=(("10.9.8.2", 41001, "10.9.8.3", 5432, "outbound", "java"),
                                          ("10.9.8.2", 41003, "10.9.8.5", 104, "outbound", "java"),
                                          ("10.9.8.2", 41005, "10.9.8.6", 2575, "outbound", "java"), dns)),
        "db01": make_report(hostname="db01", address="10.9.8.3", services=(("tcp", 5432, "postgres"),),
                            software=(("postgresql-11", "11.22-0+deb10u1"),), os_id="debian",
                            os_version="10 (buster)",
                            connections=(("10.9.8.3", 42001, "10.9.8.9", 53, "outbound", "postgres"),)),
        "pacs01": make_report(hostname="pacs01", address="10.9.8.5", services=(("tcp", 104, "storescp"),
                                                                                 ("tcp", 23, "telnetd")),
                              connections=(("10.9.8.5", 104, "10.9.8.20", 50100, "inbound", "storescp"),)),
        "ris01": make_report(hostname="ris01", address="10.9.8.6", services=(("tcp", 2575, "mirth"),),
                             connections=(("10.9.8.6", 43001, "10.9.8.5", 104, "outbound", "mirth"),
                                          ("10.9.8.6", 43002, "10.9.8.3", 5432, "outbound", "mirth"),
                                          ("10.9.8.6", 43003, "10.9.8.9", 53, "outbound", "mirth"))),
        "dns01": make_report(hostname="dns01", address="10.9.8.9", services=(("tcp", 53, "named"),)),
        "lab01": make_report(hostname="lab01", address="10.9.8.30", services=(("tcp", 8443, "java"),),
                             connections=(("10.9.8.30", 44001, "10.9.8.31", 5432, "outbound", "java"),)),
        "labdb01": make_report(hostname="labdb01", address="10.9.8.31", services=(("tcp", 5432, "postgres"),)),
    }
    ids = {name: store.write_host_report(scan, report)[0] for name, report in reports.items()}
    store.finish_scan(scan, "completed")
    network = store.start_scan(Scan(kind="network", started_at=T0, targets=("10.9.8.0/24",),
                                    arguments=NETWORK_ARGUMENTS))
    seen = dict(source="nmap", observed_at=T0)
    ids["ct01"] = store.write_host_report(network, HostReport(  # as nmap sees a host: open ports, from outside
        host=Host(hostname="ct01", addresses=("10.9.8.20",), **seen),
        services=(Service(protocol="tcp", port=80, address="10.9.8.20", state="open", name="http", **seen),)))[0]
    store.finish_scan(network, "completed", warnings=[NETWORK_WARNING])
    if analysed:
        analyze(store, as_of=AS_OF)
    return ids


@pytest.fixture
def estate_db(tmp_path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "estate.db"
    with Store(path) as store:
        ids = fill_clinical_estate(store)
    return path, ids


@pytest.fixture
def inventory(estate_db) -> dict:
    with Store(estate_db[0]) as store:
        return build_inventory(store)


def figures_of(page: str) -> dict[str, int]:
    """Return the report's machine-readable figures: <span data-figure="hosts">1,234</span> → {"hosts": 1234}."""
    return {name: int(value.replace(",", "")) for name, value in
            re.findall(r'data-figure="([a-z_]+)">([0-9,]+)<', page)}


def hostnames_of(spots: list[dict]) -> set[str]:
    return {s["hostname"] for s in spots}


def json_waves(exported: dict) -> int:
    """The number of waves the JSON export holds: the wave plan's, else the analysis's."""
    if exported.get("wave_plan"):
        return len(exported["wave_plan"]["waves"])
    return exported["analysis"]["summary"]["waves"] if exported.get("analysis") else 0


# --- the numbers ------------------------------------------------------------------------------------------

def test_report_figures_equal_the_json_exports(estate_db, tmp_path):
    db = str(estate_db[0])
    code, out, err = run("report", "--db", db, "--out", str(tmp_path / "report.html"))
    assert code == 0, err
    assert out.startswith(f"Wrote {tmp_path / 'report.html'} (assessment report): 9 hosts, ")
    assert run("export", "--db", db, "-f", "json", "-o", str(tmp_path / "estate.json"))[0] == 0
    exported = json.loads((tmp_path / "estate.json").read_text())
    figures = figures_of((tmp_path / "report.html").read_text())
    assert figures["hosts"] == len(exported["hosts"]) == 9
    assert figures["services"] == len(exported["services"])
    assert figures["dependencies"] == len(exported["dependencies"])
    assert figures["findings"] == len(exported["findings"]) > 0
    for severity in SEVERITIES:
        assert figures[f"findings_{severity}"] == sum(f["severity"] == severity for f in exported["findings"])
    assert figures["legacy_hosts"] == sum(h["legacy"] is True for h in exported["hosts"]) == 1
    assert figures["groups"] == len(exported["groups"]) == 2
    assert figures["waves"] == json_waves(exported) >= 2
    assert figures["cleartext_clinical"] == 2  # DICOM on pacs01, HL7 on ris01
    spots = exported["coverage_summary"]["blind_spots"]
    assert figures["blind_spots"] == len(spots) and hostnames_of(spots) >= {"ct01"}  # nmap only: no sockets read


def test_build_report_executive_summary_states_the_key_numbers(inventory):
    report = build_report(inventory)
    text = " ".join(report["summary"])
    assert text.startswith("Estate Mapper found 9 hosts running ")
    assert "from 2 scans between 2026-11-01 09:00 UTC and " in text
    assert f"judged as on {AS_OF.isoformat()}, raised {len(inventory['findings'])} findings" in text
    assert "1 host (11%) runs something past its end of support; the longest unsupported is Debian 10 on db01, " \
           "ended 2024-06-30" in text
    assert "2 clinical services (DICOM, HL7, FHIR) run on 2 hosts; 2 of them carry patient data in clear text" in text
    assert "2 move groups in " in text


# --- the sections -------------------------------------------------------------------------------------------

def test_build_report_healthcare_lists_services_and_cleartext_paths(inventory):
    healthcare = build_report(inventory)["healthcare"]
    services = {(s["host"], s["clinical"], s["port"]): s for s in healthcare["services"]}
    assert set(services) == {("pacs01", "DICOM", 104), ("ris01", "HL7", 2575)}
    assert all(s["cleartext"] for s in services.values())
    paths = {(p["client"], p["server"], p["protocol"]) for p in healthcare["paths"]}
    assert {("app01", "pacs01:104", "DICOM"), ("ris01", "pacs01:104", "DICOM"), ("ct01", "pacs01:104", "DICOM"),
            ("app01", "ris01:2575", "HL7")} <= paths
    assert {f["rule"] for f in healthcare["findings"]} >= {"dicom-cleartext", "hl7-cleartext"}


def test_build_report_clinical_map_draws_servers_their_clients_and_backends(inventory):
    chain = build_report(inventory)["clinical_map"]
    kinds = {n["title"]: n["kind"] for n in chain["nodes"]}
    assert kinds["pacs01"] == kinds["ris01"] == "server"
    assert kinds["app01"] == kinds["ct01"] == "client" and kinds["db01"] == "backend"
    assert "dns01" not in kinds and "lab01" not in kinds  # shared infrastructure and other systems left out
    x = {n["title"]: n["x"] for n in chain["nodes"]}
    assert x["app01"] < x["ris01"] < x["pacs01"]  # clients left of what they call
    assert chain["cut"] == 0 and any(e["cleartext"] for e in chain["edges"])


def test_build_report_legacy_rows_carry_end_of_support_dates(inventory):
    legacy = build_report(inventory)["legacy"]
    debian = next(r for r in legacy["rows"] if r["what"] == "Debian")
    assert (debian["host"], debian["release"], debian["status"], debian["end"]) == ("db01", "10", "eol", "2024-06-30")
    assert debian["days_past"] == (AS_OF - date(2024, 6, 30)).days
    assert legacy["hosts"] == 1 and legacy["year_chart"]["bars"][0]["label"] == "2024"


def test_build_report_method_names_scans_exclusions_and_warnings(inventory):
    method = build_report(inventory)["method"]
    assert [(s["id"], s["kind"]) for s in method["scans"]] == [(1, "host"), (2, "network")]
    assert method["scans"][1]["arguments"] == NETWORK_ARGUMENTS and method["scans"][1]["targets"] == "10.9.8.0/24"
    assert method["excluded"] == [(2, address) for address in EXCLUDED]
    assert method["warnings"] == [(2, NETWORK_WARNING)]
    assert method["outside_only"] == 1  # ct01: nmap only
    assert dict(method["kinds"]) == {"host": 1, "network": 1}


def test_build_report_waves_put_shared_infrastructure_first(inventory):
    waves = build_report(inventory)["waves"]
    assert waves["waves"][0]["wave"] == 0 and waves["waves"][0]["groups"][0]["name"] == "shared infrastructure"
    assert {g["hosts"] for g in waves["groups"]} == {2, 6}  # lab01+labdb01; the clinical system
    assert [c["label"] for c in waves["timeline"]["columns"]][0] == "Wave 0"


# --- keys a newer analyze adds ----------------------------------------------------------------------------

def test_report_says_coverage_and_wave_plan_are_not_computed_without_them(inventory):
    for key in ("coverage_summary", "wave_plan"):
        inventory.pop(key, None)
    for host in inventory["hosts"]:
        host.pop("coverage_depth", None)
    page = render_report(inventory)
    assert f"Coverage depth and blind spots: {NOT_COMPUTED}." in page
    assert f"The wave plan&#39;s rules, reasons and warnings: {NOT_COMPUTED}." in page


def test_report_shows_coverage_and_wave_plan_when_present(inventory):
    ids = {h["hostname"]: h["id"] for h in inventory["hosts"]}
    inventory["coverage_summary"] = {
        "hosts": 9, "by_depth": {"seen": 0, "ports": 1, "os": 0, "hardware": 0, "software": 0, "sockets": 8},
        "deep_share": 0.8889, "sockets_share": 0.8889,
        "blind_spots": [{"host_id": ids["ct01"], "hostname": "ct01", "depth": "ports", "sources": ["nmap"],
                         "dependencies": 1, "hint": "watch its traffic with estatemap scan passive"}]}
    group_ids = [g["id"] for g in inventory["groups"]]
    inventory["wave_plan"] = {
        "rules": {"pilot": True, "max_hosts_per_wave": 5},
        "waves": [{"wave": 0, "group_ids": [], "hosts": 1, "reasons": ["shared infrastructure first"]},
                  {"wave": 1, "group_ids": group_ids[:1], "hosts": 2, "tier": "pilot", "reasons": ["pilot: lowest risk"],
                   "remediation": [ids["db01"]]},
                  {"wave": 2, "group_ids": group_ids[1:], "hosts": 6, "reasons": ["after its remediation"]}],
        "warnings": ["pinned group-9 to wave 1 before a group it depends on"]}
    inventory["groups"][0]["wave_reasons"] = ["pilot: lowest risk, no patient data"]
    page = render_report(inventory)
    figures = figures_of(page)
    assert figures["waves"] == 3 and figures["blind_spots"] == 1
    assert 'data-figure="deep_share">89%<' in page and NOT_COMPUTED not in page
    assert "watch its traffic with estatemap scan passive" in page
    assert "pilot: lowest risk, no patient data" in page and "after its remediation" in page
    assert "pinned group-9 to wave 1 before a group it depends on" in page and "max hosts per wave" in page
    summary = " ".join(build_report(inventory)["summary"])
    assert "89% of the hosts have a deep inventory" in summary and "1 blind spot remains," in summary
    inventory["coverage_summary"]["blind_spots"] *= 2
    assert "2 blind spots remain," in " ".join(build_report(inventory)["summary"])
    assert "Wave 1 · pilot" in page and "Upgraded during this wave: db01." in page and "remediation: db01" in page


def test_report_before_any_analysis_says_what_to_run(tmp_path):
    path = tmp_path / "estate.db"
    with Store(path) as store:
        fill_clinical_estate(store, analysed=False)
    code, out, err = run("report", "--db", str(path), "-o", str(tmp_path / "r.html"))
    assert code == 0, err
    assert "no analysis yet (run estatemap analyze" in out
    page = (tmp_path / "r.html").read_text()
    assert "No analysis has run yet" in page and figures_of(page)["findings"] == 0


# --- hostile text -----------------------------------------------------------------------------------------

MARKUP = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', "'><svg onload=alert(3)>",
          '</style><script>alert(4)</script>', '</title><iframe src="http://evil.example/">', 'javascript:alert(5)',
          '<a href="https://evil.example/x">x</a>', '{{ 7*7 }}{% raw %}', 'spoof\u202egpj.exe', "bad\x00\x07name"]
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "section", "h1", "h2", "h3", "p", "br", "ul", "ol", "li",
                "div", "span", "table", "thead", "tbody", "tr", "th", "td", "figure", "figcaption", "svg", "g", "rect",
                "text", "line", "circle", "path", "defs", "marker", "code", "footer"}


class Tags(HTMLParser):
    """Every start tag and attribute of a page, as a browser's tokenizer sees them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.text = set(), [], []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]

    def handle_data(self, data):
        self.text.append(data)


def hostile_report_inventory(store) -> dict:
    """The exports' hostile inventory plus markup in every text the report shows: hostnames, products, findings,
    group names and reasons, scans' arguments, targets and warnings, coverage hints, wave plan warnings."""
    inventory = hostile_inventory(store)
    template_host, template_service = inventory["hosts"][0], inventory["services"][0]
    group_host_ids = []
    for i, value in enumerate(MARKUP):
        host_id = f"h-markup-{i}"
        group_host_ids.append(host_id)
        inventory["hosts"].append({**template_host, "id": host_id, "hostname": value, "os_family": value,
                                   "addresses": [f"10.67.0.{i}"], "risk_score": 99, "legacy": True,
                                   "risk_factors": [{"factor": value, "points": 50, "detail": value}]})
        service_id = f"{host_id}:tcp/104"
        inventory["services"].append({**template_service, "id": service_id, "host_id": host_id, "port": 104,
                                      "product": value, "version": value, "category": "healthcare", "name": value})
        inventory["dependencies"].append({"source_host_id": template_host["id"], "source_process": value,
                                          "target_host_id": host_id, "target_service_id": service_id,
                                          "target_port": 104, "protocol": "tcp", "connections": 1,
                                          "evidence": value, "shared_infrastructure": False})
        for rule, category, data in (("dicom-cleartext", "insecure-protocol", {}),
                                     ("eol", "legacy", {"product_title": value, "cycle": value, "status": "eol",
                                                         "eol": "2020-01-01", "extended_support_until": value})):
            inventory["findings"].append({"id": f"{rule}:{host_id}", "subject_type": "service",
                                          "subject_id": service_id, "host_id": host_id, "rule": rule,
                                          "category": category, "severity": "high", "title": value,
                                          "evidence": value, "recommendation": value, "confidence": "high",
                                          "data": data})
    inventory["groups"].append({"id": "grp-markup", "name": MARKUP[0], "wave": 3, "host_ids": group_host_ids,
                                "explanation": MARKUP[1], "wave_reasons": MARKUP, "wave_override": None})
    inventory["scans"].append({"id": 99, "kind": MARKUP[2], "status": "completed", "started_at": MARKUP[3],
                               "finished_at": None, "targets": MARKUP, "arguments": " ".join(MARKUP),
                               "warnings": MARKUP, "host_count": 1})
    inventory["coverage_summary"] = {"hosts": len(inventory["hosts"]), "by_depth": {value: 1 for value in MARKUP},
                                     "deep_share": 0.5, "sockets_share": 0.5,
                                     "blind_spots": [{"host_id": h, "hostname": v, "depth": v, "sources": [v],
                                                      "dependencies": 1, "hint": v}
                                                     for h, v in zip(group_host_ids, MARKUP)]}
    inventory["wave_plan"] = {"rules": {value: value for value in MARKUP}, "warnings": MARKUP,
                              "waves": [{"wave": 3, "group_ids": ["grp-markup"], "hosts": len(MARKUP),
                                         "tier": MARKUP[1], "reasons": MARKUP, "remediation": group_host_ids}]}
    return inventory


def test_report_hostile_text_stays_text(store):
    inventory = hostile_report_inventory(store)
    page = render_report(inventory)
    parser = Tags()
    parser.feed(page)
    assert parser.tags <= ALLOWED_TAGS, parser.tags - ALLOWED_TAGS
    assert not [a for a in parser.attributes if a[1].startswith("on")]
    assert not [a for a in parser.attributes if "javascript:" in a[2] or "evil.example" in a[2]]
    assert "<script" not in page.lower() and "<iframe" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as text, escaped
    assert "\x00" not in page and "\x07" not in page and "\u202e" not in page  # control and bidi characters replaced
    assert "{{ 7*7 }}" in "".join(parser.text)  # the text is data, never a template
    text = "".join(parser.text)
    assert "<script>alert(1)</script>" in text  # what a reader sees is the hostname, as it is


def test_report_hostile_long_values_are_cut_in_drawings(store):
    inventory = hostile_report_inventory(store)
    report = build_report(inventory)
    labels = [n["label"] for n in report["clinical_map"]["nodes"]] + \
             [b["label"] for b in report["glance"]["os_chart"]["bars"]]
    assert labels and max(map(len, labels)) <= 28


# --- the command ------------------------------------------------------------------------------------------

def test_report_cli_follows_exports_overwrite_rules(estate_db, tmp_path):
    db, out = str(estate_db[0]), tmp_path / "report.html"
    out.write_text("the copy sent to the board")
    code, _, err = run("report", "--db", db, "--out", str(out))
    assert code == 1 and err.strip() == f"estatemap: error: {out} exists; use --force to replace it"
    assert out.read_text() == "the copy sent to the board"
    assert run("report", "--db", db, "--out", str(out), "--force")[0] == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert oct(out.stat().st_mode & 0o777) == "0o600"  # an estate map is sensitive: its owner's only


@pytest.mark.parametrize("argv, code, message", [
    (["report", "--out", "{tmp}/r.html", "--db", "{tmp}/none.db"], 1, "no store at"),
    (["report", "--out", "{tmp}/missing-folder/r.html", "--db", "{db}"], 1, "does not exist"),
    (["report", "--out", "{tmp}", "--db", "{db}"], 1, "is a folder"),
    (["report", "--db", "{db}"], 2, "the following arguments are required: --out"),
])
def test_report_cli_errors_are_one_line(estate_db, tmp_path, argv, code, message):
    argv = [a.format(tmp=tmp_path, db=estate_db[0]) for a in argv]
    got, _, err = run(*argv)
    assert got == code and message in err and "Traceback" not in err
    if code == 1:
        assert len(err.strip().splitlines()) == 1


def test_export_format_report_writes_the_same_page(estate_db, tmp_path):
    assert run("export", "--db", str(estate_db[0]), "-f", "report", "-o", str(tmp_path / "r.html"))[0] == 0
    assert figures_of((tmp_path / "r.html").read_text())["hosts"] == 9


def test_the_page_fetches_nothing_and_runs_nothing(inventory):
    page = render_report(inventory)
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    assert not re.findall(r"""(?:src|href)\s*=|url\(\s*['"]?(?!#)""", page)  # no source, link or url() but #ids
    assert not re.findall(r"https?://|//[a-z]", page, re.IGNORECASE)
    assert "default-src 'none'" in page  # and the browser is told so


def test_clinical_rules_are_the_protocol_rules():
    rules = json.loads((ROOT / "discovery" / "data" / "protocols.json").read_text())
    known = {r["rule"] for r in rules["cleartext"]} | {rules["cleartext_web"]["fhir"]["rule"],
                                                      rules["dicom_default_ae"]["rule"]}
    assert set(CLINICAL_RULES) <= known


# --- the drawings -----------------------------------------------------------------------------------------

def test_layered_map_cuts_at_its_limit_keeping_the_highest_ranked():
    nodes = {f"c{i}": {"label": f"client{i:02}", "kind": "client", "rank": 1} for i in range(60)}
    nodes["s"] = {"label": "pacs", "kind": "server", "rank": 1000}
    edges = [{"source": f"c{i}", "target": "s", "label": "DICOM 104", "cleartext": i % 2 == 0} for i in range(60)]
    chart = layered_map(nodes, edges)
    assert (chart["shown"], chart["total"], chart["cut"]) == (MAP_MAX_NODES, 61, 61 - MAP_MAX_NODES)
    assert "s" in {n["id"] for n in chart["nodes"]} and len(chart["edges"]) == MAP_MAX_NODES - 1


def test_layered_map_survives_cycles():
    nodes = {n: {"label": n, "kind": "server", "rank": 1} for n in "abc"}
    edges = [{"source": a, "target": b, "label": "", "cleartext": False} for a, b in ("ab", "bc", "ca")]
    chart = layered_map(nodes, edges)
    assert sorted(n["x"] for n in chart["nodes"]) == [10, 270, 530] and len(chart["edges"]) == 3
