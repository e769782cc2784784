"""The Excel export, read back with openpyxl and compared with the inventory."""

import os
import stat
import zipfile
from datetime import datetime

import openpyxl
import pytest

from exports.xlsx import DERIVED, LINK_LIMIT, SHEETS, XlsxExporter, build_workbook, discard_workbook
from tests.unit.test_cli import filled_db, run  # noqa: F401 (a fixture)
from tests.unit.test_exports_safety import HOSTILE, LONG, expected_text, hostile_inventory

SHEET_NAMES = ["Summary", "Hosts", "Coverage", "Services", "Software", "Databases", "Dependencies", "Layer 2",
               "VMware", "VMware objects", "Findings", "Move groups", "Scans", "Wave rules"]


@pytest.fixture
def inventory(store):
    return hostile_inventory(store)


@pytest.fixture
def workbook(inventory, tmp_path):
    path = tmp_path / "estate.xlsx"
    XlsxExporter().write(inventory, path)
    return openpyxl.load_workbook(path)


def records(ws):
    """The sheet's rows as dicts keyed by header."""
    rows = ws.iter_rows(values_only=True)
    header = next(rows)
    return [dict(zip(header, row)) for row in rows]


def test_xlsx_has_every_sheet_with_a_styled_frozen_filtered_header(workbook, inventory):
    assert workbook.sheetnames == SHEET_NAMES
    for title, key, columns in SHEETS:
        ws = workbook[title]
        rows = DERIVED[key](inventory) if key in DERIVED else inventory[key]
        assert [c.value for c in ws[1]] == [c.header for c in columns]
        assert all(c.font.bold and c.fill.fgColor.rgb.endswith("1F4E78") for c in ws[1])
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, len(columns)).column_letter}{len(rows) + 1}"
        assert ws.max_row == len(rows) + 1, title
        widths = [ws.column_dimensions[ws.cell(1, i).column_letter].width for i in range(1, len(columns) + 1)]
        assert all(8 <= w <= 60 for w in widths)


def test_xlsx_rows_match_the_inventory_with_numbers_and_dates_typed(workbook, inventory):
    hosts = records(workbook["Hosts"])
    assert [h["Host ID"] for h in hosts] == [h["id"] for h in inventory["hosts"]]
    db01 = next(h for h in hosts if h["Hostname"] == "db01")
    source = next(h for h in inventory["hosts"] if h["hostname"] == "db01")
    assert db01["Risk score"] == source["risk_score"] and db01["Legacy"] is True
    assert db01["Addresses"] == ", ".join(source["addresses"])
    assert db01["First seen (UTC)"] == datetime(2026, 11, 1, 9, 0)
    assert "legacy +25" in db01["Risk factors"] and db01["Move group"] == inventory["groups"][0]["name"]
    services = records(workbook["Services"])
    assert sorted((s["Host ID"], s["Port"]) for s in services) == sorted(
        (s["host_id"], s["port"]) for s in inventory["services"])
    for row in workbook["Services"].iter_rows(min_row=2):
        assert row[2].data_type == "n" and isinstance(row[2].value, int)  # Port
        assert row[15].is_date and row[15].number_format == "yyyy-mm-dd hh:mm:ss"  # Observed
    findings = records(workbook["Findings"])
    assert sorted(f["Finding ID"] for f in findings) == sorted(f["id"] for f in inventory["findings"])
    (group,) = records(workbook["Move groups"])
    assert group["Hosts"] == 2 and group["Wave"] == 2  # after wave 1, left for db01's end-of-life upgrade
    assert group["Wave reasons"].splitlines() == inventory["groups"][0]["wave_reasons"]
    (scan,) = records(workbook["Scans"])
    assert scan["Scan ID"] == 1 and isinstance(scan["Started (UTC)"], datetime)


def test_xlsx_hostile_values_are_plain_text_never_formulas(workbook):
    seen = set()
    for ws in workbook:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    seen.add(cell.value)
    for value in HOSTILE:
        assert expected_text(value) in seen, value
    hosts = records(workbook["Hosts"])
    assert any(h["Hostname"] == LONG for h in hosts)


def test_xlsx_every_formula_like_text_is_quote_prefixed_links_too(workbook):
    """A string cell starting with = + - @ becomes a live formula once someone edits it in Excel or LibreOffice,
    unless it carries the quote prefix: host names shown as links on Services, Findings, Databases... included."""
    from exports.safe_cells import looks_like_formula
    formula_like = [(ws.title, cell.coordinate, cell.quotePrefix, bool(cell.hyperlink))
                    for ws in workbook for row in ws.iter_rows() for cell in row
                    if cell.data_type == "s" and isinstance(cell.value, str) and looks_like_formula(cell.value)]
    assert any(link for *_, link in formula_like)  # the hostile host names are links on other sheets
    assert [c for c in formula_like if not c[2]] == []


def test_xlsx_host_names_link_to_their_row_on_hosts(workbook):
    host_row = {row[1].value: row[0].row for row in workbook["Hosts"].iter_rows(min_row=2)}
    hostname = {row[1].value: row[0].value for row in workbook["Hosts"].iter_rows(min_row=2)}
    for title, host_col, id_col in (("Services", 0, 17), ("Software", 0, 6), ("Findings", 0, 11)):
        rows = list(workbook[title].iter_rows(min_row=2))
        assert rows
        for row in rows:
            link = row[host_col].hyperlink
            assert link is not None and link.location == f"'Hosts'!A{host_row[row[id_col].value]}", title
            assert row[host_col].value == hostname[row[id_col].value] and row[host_col].data_type == "s"
    (dep,) = list(workbook["Dependencies"].iter_rows(min_row=2))
    assert dep[0].hyperlink.location == f"'Hosts'!A{host_row[dep[17].value]}"


def test_xlsx_link_limit_bounds_links_per_sheet(inventory, tmp_path):
    path = tmp_path / "few-links.xlsx"
    XlsxExporter(link_limit=2).write(inventory, path)
    ws = openpyxl.load_workbook(path)["Services"]
    linked = [row[0] for row in ws.iter_rows(min_row=2) if row[0].hyperlink]
    assert len(linked) == 2 and ws.max_row - 1 > 2 and LINK_LIMIT >= 100_000


def test_xlsx_colours_severity_and_risk_and_has_native_charts(workbook, tmp_path):
    def rules(ws):
        return {str(cf.sqref): [r for r in cf.rules] for cf in ws.conditional_formatting}

    findings = rules(workbook["Findings"])
    severity = findings[f"B2:B{workbook['Findings'].max_row}"]
    assert {r.formula[0] for r in severity} >= {'LOWER($B2)="critical"', 'LOWER($B2)="high"'}
    hosts = rules(workbook["Hosts"])
    assert any(r.type == "colorScale" for rs in hosts.values() for r in rs)
    with zipfile.ZipFile(tmp_path / "estate.xlsx") as archive:
        charts = [archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/charts/chart")]
    assert any("<barChart>" in c for c in charts) and any("<pieChart>" in c for c in charts)


def test_xlsx_summary_counts_severities_families_legacy_and_waves(workbook, inventory):
    cells = {}
    for row in workbook["Summary"].iter_rows(values_only=True):
        if row and row[0] is not None and row[1] is not None:
            cells.setdefault(row[0], row[1:])
    assert cells["Hosts"][0] == len(inventory["hosts"])
    assert cells["Services"][0] == len(inventory["services"])
    by_severity = {s: sum(1 for f in inventory["findings"] if f["severity"] == s) for s in ("critical", "high", "low")}
    assert {s: cells[s][0] for s in by_severity} == by_severity
    assert cells["linux"][0] + cells["windows"][0] == len(inventory["hosts"])
    judged = [h for h in inventory["hosts"] if h["legacy"] is not None]
    assert cells["Legacy share"][0] == pytest.approx(sum(h["legacy"] for h in judged) / len(judged))
    assert cells[1][:2] == (0, 0) and cells[1][2].startswith("Remediation: upgrade")  # wave 1: db01's upgrade
    assert cells[2][:2] == (1, 2)  # wave 2: one move group, two hosts


def test_xlsx_export_uses_the_streaming_writer_and_discards_its_temporary_files(inventory):
    wb = build_workbook(inventory)
    assert wb.write_only
    temporary = [ws._writer.out for ws in wb.worksheets]
    assert all(os.path.exists(t) for t in temporary)
    discard_workbook(wb)
    assert not any(os.path.exists(t) for t in temporary)


def test_xlsx_streams_a_large_estate(tmp_path):
    """20,000 services on 5,000 hosts in streaming mode (the 200,000-row run is bench/xlsx_export.py)."""
    hosts = [{"id": f"h{i}", "hostname": f"host{i}", "addresses": [f"10.{i // 256 % 256}.{i % 256}.1"],
              "os_family": "linux", "first_seen": "2026-11-01T09:00:00+00:00"} for i in range(5_000)]
    services = [{"id": f"h{i % 5000}:tcp/{i}", "host_id": f"h{i % 5000}", "port": i, "protocol": "tcp",
                 "product": "=cmd" if i % 1000 == 0 else "nginx", "observed_at": "2026-11-01T09:00:00+00:00"}
                for i in range(20_000)]
    path = tmp_path / "big.xlsx"
    XlsxExporter().write({"schema": "estatemap/1", "hosts": hosts, "services": services}, path)
    wb = openpyxl.load_workbook(path, read_only=True)
    assert sum(1 for _ in wb["Services"].iter_rows(values_only=True)) == 20_001
    assert sum(1 for _ in wb["Hosts"].iter_rows(values_only=True)) == 5_001
    products = [r[0] for r in wb["Services"].iter_rows(min_row=2, min_col=7, max_col=7, values_only=True)]
    assert products.count("=cmd") == 20


def test_export_xlsx_cli_writes_owner_only_and_needs_force(filled_db, tmp_path):  # noqa: F811
    out = tmp_path / "estate.xlsx"
    code, stdout, err = run("export", "--db", str(filled_db), "--format", "xlsx", "--out", str(out))
    assert code == 0, err
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert records(openpyxl.load_workbook(out)["Hosts"])[0]["Hostname"] == "app01"
    before = out.read_bytes()
    code, _, err = run("export", "--db", str(filled_db), "--format", "xlsx", "--out", str(out))
    assert code == 1 and "--force" in err and out.read_bytes() == before
    assert run("export", "--db", str(filled_db), "--format", "xlsx", "--out", str(out), "--force")[0] == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_xlsx_failure_leaves_the_previous_file(inventory, tmp_path, monkeypatch):
    target = tmp_path / "estate.xlsx"
    target.write_bytes(b"previous")

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    made = []
    real_build = build_workbook

    def build(*args, **kwargs):
        made.append(real_build(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr("exports.xlsx.build_workbook", build)
    monkeypatch.setattr("openpyxl.workbook.workbook.Workbook.save", explode)
    with pytest.raises(RuntimeError):
        XlsxExporter().write(inventory, target)
    assert target.read_bytes() == b"previous" and not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
    assert not any(os.path.exists(ws._writer.out) for ws in made[0].worksheets)  # no estate data left in /tmp
