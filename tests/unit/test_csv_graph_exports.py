"""CSV (a zip of one CSV per table), GraphML and GEXF exports, read back and compared with the inventory."""

import csv
import io
import os
import stat
import xml.etree.ElementTree as ET
import zipfile

import networkx as nx
import pytest

from discovery.analyses.graph import build_graph
from exports.csv import DERIVED, TABLES, CsvExporter
from exports.graphml import GexfExporter, GraphmlExporter, build_export_graph
from exports.safe_cells import looks_like_formula
from tests.unit.test_cli import filled_db, run  # noqa: F401 (a fixture)
from tests.unit.test_exports_safety import CONTROL, HOSTILE, LONG, expected_text, hostile_inventory


@pytest.fixture
def inventory(store):
    return hostile_inventory(store)


def read_tables(path) -> dict[str, list[dict]]:
    with zipfile.ZipFile(path) as archive:
        return {name: list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"), newline="")))
                for name in archive.namelist()}


def unquote(text: str) -> str:
    """Undo the CSV-injection quote: what the cell held before it was made safe."""
    return text[1:] if text.startswith("'") and looks_like_formula(text[1:]) else text


def test_csv_zip_has_one_utf8_bom_file_per_table(inventory, tmp_path):
    path = tmp_path / "estate.zip"
    CsvExporter().write(inventory, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == [name for name, _, _ in TABLES]
        for name in archive.namelist():
            assert archive.read(name).startswith(b"\xef\xbb\xbf"), name
    tables = read_tables(path)
    for name, key, first in TABLES:
        rows = tables[name]
        assert len(rows) == len(DERIVED[key](inventory) if key in DERIVED else inventory[key]), name
        if rows:
            assert list(rows[0])[:len(first)] == list(first)


def test_csv_rows_match_the_inventory(inventory, tmp_path):
    path = tmp_path / "estate.zip"
    CsvExporter().write(inventory, path)
    tables = read_tables(path)
    hosts = {h["id"]: h for h in tables["hosts.csv"]}
    for host in inventory["hosts"]:
        row = hosts[host["id"]]
        assert row["addresses"] == ", ".join(host["addresses"])
        assert row["risk_score"] == ("" if host["risk_score"] is None else str(host["risk_score"]))
        assert row["legacy"] == {True: "true", False: "false", None: ""}[host["legacy"]]
    db01 = next(h for h in tables["hosts.csv"] if h["hostname"] == "db01")
    assert '"factor":"legacy"' in db01["risk_factors"]
    ports = sorted((s["host_id"], int(s["port"])) for s in tables["services.csv"])
    assert ports == sorted((s["host_id"], s["port"]) for s in inventory["services"])
    (group,) = tables["groups.csv"]
    assert group["host_ids"] == ", ".join(inventory["groups"][0]["host_ids"])
    (dep,) = tables["dependencies.csv"]
    assert dep["target_port"] == "5432" and dep["evidence"] == "observed"


def test_csv_hostile_values_are_quoted_text(inventory, tmp_path):
    path = tmp_path / "estate.zip"
    CsvExporter().write(inventory, path)
    tables = read_tables(path)
    hostnames = [h["hostname"] for h in tables["hosts.csv"]]
    cmdlines = [p["cmdline"] for p in tables["processes.csv"]]
    for value in HOSTILE:
        text = expected_text(value, xml=False)
        quoted = "'" + text if looks_like_formula(text) else text
        assert quoted in hostnames and quoted in cmdlines, value
    for table in tables.values():
        for row in table:
            for cell in row.values():
                assert not looks_like_formula(cell), cell  # nothing a spreadsheet would evaluate
    assert LONG in hostnames and CONTROL not in hostnames
    assert {unquote(h) for h in hostnames} >= {expected_text(v, xml=False) for v in HOSTILE}


def graph_signature(G):
    return (sorted(G.nodes), sorted((u, v, k) for u, v, k in G.edges(keys=True)))


def test_export_graph_has_only_scalar_attributes_of_one_type_each(inventory):
    H = build_export_graph(inventory)
    G = build_graph(inventory)
    assert H.number_of_nodes() == G.number_of_nodes() and H.number_of_edges() == G.number_of_edges()
    types: dict = {}
    for _, data in list(H.nodes(data=True)) + [(None, d) for *_, d in H.edges(data=True)]:
        for name, value in data.items():
            assert value is not None and isinstance(value, (str, int, float, bool)), (name, value)
            types.setdefault(name, set()).add(type(value))
    assert all(len(t) == 1 for t in types.values()), types
    host = H.nodes["h-hostile-0"]
    assert host["hostname"] == HOSTILE[0] and host["addresses"] == "10.66.0.0" and host["inferred"] is False


def test_graphml_reads_back_with_declared_types(inventory, tmp_path):
    path = tmp_path / "estate.graphml"
    GraphmlExporter().write(inventory, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    G = nx.read_graphml(path, force_multigraph=True)
    H = build_export_graph(inventory)
    assert graph_signature(G) == graph_signature(H)
    for node, data in H.nodes(data=True):  # GraphML holds text as element content: a bare CR reads back as LF
        assert G.nodes[node] == {k: v.replace("\r", "\n") if isinstance(v, str) else v for k, v in data.items()}
    keys = {(k.get("for"), k.get("attr.name")): k.get("attr.type")
            for k in ET.parse(path).getroot().iter("{http://graphml.graphdrawing.org/xmlns}key")}
    assert keys[("node", "port")] in ("int", "long") and keys[("node", "inferred")] == "boolean"
    assert keys[("edge", "connections")] in ("int", "long") and keys[("edge", "kind")] == "string"
    assert len({k.get("id") for k in ET.parse(path).getroot().iter("{http://graphml.graphdrawing.org/xmlns}key")}) \
        == len(keys)
    hostnames = {d.get("hostname") for _, d in G.nodes(data=True)}
    assert {expected_text(v) for v in HOSTILE} <= hostnames


def test_gexf_reads_back_with_declared_types(inventory, tmp_path):
    path = tmp_path / "estate.gexf"
    GexfExporter().write(inventory, path)
    G = nx.read_gexf(path)
    H = build_export_graph(inventory)
    assert sorted(G.nodes) == sorted(H.nodes) and G.number_of_edges() == H.number_of_edges()
    for node, data in H.nodes(data=True):
        assert {k: v for k, v in G.nodes[node].items()} == data, node
    ns = "{http://www.gexf.net/1.2draft}"
    declared = {(a.get("title"), a.get("type")) for a in ET.parse(path).getroot().iter(ns + "attribute")}
    assert ("port", "long") in declared and ("inferred", "boolean") in declared
    # GEXF holds values in attributes, which networkx escapes: even a CR reads back unchanged
    assert {expected_text(v, xml=False) for v in HOSTILE} <= {d.get("hostname") for _, d in G.nodes(data=True)}


def test_graph_export_replaces_control_characters_in_node_ids(inventory, tmp_path):
    inventory["dependencies"][0]["source_process"] = "ja\x01va"
    path = tmp_path / "estate.graphml"
    GraphmlExporter().write(inventory, path)
    G = nx.read_graphml(path, force_multigraph=True)
    assert any(n.endswith("/proc/ja\ufffdva") for n in G.nodes)


@pytest.mark.parametrize("fmt, read", [("csv", read_tables), ("graphml", nx.read_graphml), ("gexf", nx.read_gexf)])
def test_export_cli_formats(filled_db, tmp_path, fmt, read):  # noqa: F811
    out = tmp_path / f"estate.{fmt}"
    code, stdout, err = run("export", "--db", str(filled_db), "--format", fmt, "--out", str(out))
    assert code == 0, err
    assert read(out)
    code, _, err = run("export", "--db", str(filled_db), "--format", fmt, "--out", str(out))
    assert code == 1 and "--force" in err
