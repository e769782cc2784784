"""Coverage in every export: JSON keys per host and the summary (also cut to some hosts), the workbook's Coverage
sheet, Hosts columns and Summary section, the CSV zip's coverage.csv, the graph exports' host attribute; hostile
host names stay text. On the store tests/unit/test_coverage.py builds from real sources."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import networkx as nx
import openpyxl

import main
from discovery.analyses.coverage import coverage_gaps
from discovery.records.model import COVERAGE_DEPTHS
from exports.csv import CsvExporter
from exports.xlsx import XlsxExporter
from tests.unit.test_coverage import estate, host, inventory_of  # noqa: F401 (estate: a fixture)
from tests.unit.test_exports_safety import HOSTILE, expected_text


def test_json_export_has_coverage_per_host_and_the_summary(estate, tmp_path):
    db, _, hosts = estate
    out = tmp_path / "estate.json"
    assert main.main(["--db", str(db), "-q", "export", "-f", "json", "-o", str(out)]) == 0
    exported = json.loads(out.read_text(encoding="utf-8"))
    pacs = next(h for h in exported["hosts"] if h["id"] == hosts["192.0.2.2"]["id"])
    assert (pacs["coverage_depth"], pacs["coverage_sources"]) == ("sockets", ["nmap", "snmp"])
    assert all(h["coverage_depth"] in COVERAGE_DEPTHS and h["coverage_levels"][0] == "seen"
               for h in exported["hosts"])
    summary = exported["coverage_summary"]
    assert {"hosts", "by_depth", "deep_share", "sockets_share", "blind_spots"} <= set(summary)
    assert summary["hosts"] == 6 and summary["sockets_share"] == 0.5
    for spot in summary["blind_spots"]:
        assert {"host_id", "hostname", "depth", "sources", "dependencies", "hint"} <= set(spot)
    # the older top-level `coverage` keeps its shape: one entry per blind spot, the same keys as before
    assert {tuple(sorted(g)) for g in exported["coverage"]} == {("gap", "hint", "host_id", "hostname", "sources")}
    assert len(exported["coverage"]) == len(summary["blind_spots"]) == 3


def test_json_export_cut_to_some_hosts_recomputes_the_summary(estate, tmp_path):
    db, _, _ = estate
    out = tmp_path / "some.json"
    assert main.main(["--db", str(db), "-q", "export", "-f", "json", "-o", str(out), "--hosts", "141.142.*"]) == 0
    summary = json.loads(out.read_text(encoding="utf-8"))["coverage_summary"]
    assert summary["hosts"] == 1 and summary["sockets_share"] == 0.0 and summary["by_depth"]["seen"] == 1
    assert [(s["address"], s["dependencies"]) for s in summary["blind_spots"]] == [("141.142.228.5", 2)]


def test_workbook_has_a_coverage_sheet_coverage_columns_on_hosts_and_a_summary_section(estate, tmp_path):
    db, inventory, hosts = estate
    out = tmp_path / "estate.xlsx"
    assert main.main(["--db", str(db), "-q", "export", "-f", "xlsx", "-o", str(out)]) == 0
    book = openpyxl.load_workbook(out)
    assert book.sheetnames.index("Coverage") == book.sheetnames.index("Hosts") + 1
    rows = list(book["Coverage"].iter_rows(values_only=True))
    header, rows = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
    assert header == ("Host", "Depth", "Levels", "Sources", "Dependencies", "Blind spot", "What would close the gap",
                      "Host ID")
    assert [(r["Host"], r["Dependencies"], r["Blind spot"]) for r in rows[:3]] == [
        ("141.142.228.5", 2, True), ("192.150.187.43", 1, True), ("192.0.2.9", 0, True)]
    assert all(r["Blind spot"] is False and r["What would close the gap"] is None for r in rows[3:])
    assert rows[2]["What would close the gap"].startswith("its SNMP agent answered without TCP-MIB")
    host_sheet = list(book["Hosts"].iter_rows(values_only=True))
    by_id = {r[host_sheet[0].index("Host ID")]: dict(zip(host_sheet[0], r)) for r in host_sheet[1:]}
    pacs = by_id[hosts["192.0.2.2"]["id"]]
    assert (pacs["Coverage"], pacs["Coverage sources"]) == ("sockets", "nmap, snmp")
    assert pacs["Coverage levels"] == "seen, ports, os, sockets"
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True) if r and r[0] is not None}
    assert summary["sockets"] == 3 and summary["seen"] == 1 and summary["ports"] == 2
    assert summary["Deep inventory (software or sockets)"] == 0.5 and summary["Sockets read on the host"] == 0.5
    assert summary["Blind spots (below sockets; see Coverage)"] == 3


def test_csv_export_has_a_coverage_table_and_coverage_columns_on_hosts(estate, tmp_path):
    db, _, hosts = estate
    out = tmp_path / "estate.zip"
    assert main.main(["--db", str(db), "-q", "export", "-f", "csv", "-o", str(out)]) == 0
    with zipfile.ZipFile(out) as archive:
        coverage = list(csv.DictReader(io.StringIO(archive.read("coverage.csv").decode("utf-8-sig"))))
        host_rows = list(csv.DictReader(io.StringIO(archive.read("hosts.csv").decode("utf-8-sig"))))
    assert list(coverage[0])[:8] == ["host_id", "hostname", "depth", "levels", "sources", "dependencies",
                                     "blind_spot", "hint"]
    assert [(r["host_id"], r["depth"], r["dependencies"], r["blind_spot"]) for r in coverage[:3]] == [
        (hosts["141.142.228.5"]["id"], "seen", "2", "true"), (hosts["192.150.187.43"]["id"], "ports", "1", "true"),
        (hosts["192.0.2.9"]["id"], "ports", "0", "true")]
    pacs = next(r for r in host_rows if r["id"] == hosts["192.0.2.2"]["id"])
    assert (pacs["coverage_depth"], pacs["coverage_sources"]) == ("sockets", "nmap, snmp")


def test_graph_exports_carry_each_hosts_coverage_depth(estate, tmp_path):
    db, _, hosts = estate
    out = tmp_path / "estate.graphml"
    assert main.main(["--db", str(db), "-q", "export", "-f", "graphml", "-o", str(out)]) == 0
    graph = nx.read_graphml(out)
    assert graph.nodes[hosts["192.150.187.43"]["id"]]["coverage_depth"] == "ports"
    assert graph.nodes[hosts["10.20.0.15"]["id"]]["coverage_depth"] == "sockets"


def test_hostile_host_names_in_the_coverage_tables_stay_text(tmp_path):
    hosts = [{**host(f"h{i}"), "hostname": value, "addresses": [f"10.66.0.{i}"]} for i, value in enumerate(HOSTILE)]
    inventory = inventory_of(hosts, observed={h["id"]: {"passive"} for h in hosts})
    inventory["coverage"] = coverage_gaps(inventory)
    XlsxExporter().write(inventory, tmp_path / "e.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "e.xlsx")["Coverage"]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert {c.value for c in cells} == {expected_text(v) for v in HOSTILE}
    assert all(c.data_type == "s" for c in cells)
    assert all(c.quotePrefix for c in cells if c.value.lstrip(" \t\r\n").startswith(("=", "+", "-", "@")))
    CsvExporter().write(inventory, tmp_path / "e.zip")
    with zipfile.ZipFile(tmp_path / "e.zip") as archive:
        text = archive.read("coverage.csv").decode("utf-8-sig")
    assert '=HYPERLINK' in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
