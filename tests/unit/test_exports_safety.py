"""exports.safe_cells: hostile text from the network stays text in spreadsheets; numbers and dates stay themselves."""

import zipfile
from datetime import date, datetime

import openpyxl
import pytest
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as OPENPYXL_ILLEGAL

from discovery.inventory.build import build_inventory
from discovery.records.cell_text import ILLEGAL_CHARACTERS_RE as CELL_TEXT_ILLEGAL, as_read_back, excel_length
from discovery.service import analyze
from exports.safe_cells import (ILLEGAL_CHARACTERS_RE, MAX_CELL_CHARS, REPLACEMENT, csv_value, looks_like_formula,
                                parse_datetime, safe_text, xlsx_text, xlsx_text_cell, xlsx_value)
from tests.unit.test_analyze import fill

# What a banner, hostname or command line could hold to attack whoever opens the export.
FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "  =1+1", "\t=1+1", "\r=1+1"]
CONTROL = "bad\x00\x07name"
CONTROL_CLEAN = f"bad{REPLACEMENT}{REPLACEMENT}name"
LONG = "h" * 10_000
HOSTILE = FORMULAS + [CONTROL, LONG]


def expected_text(value: str, *, xml: bool = True) -> str:
    """What a hostile value reads back as from a cell: control characters replaced; in XML (xlsx), a bare
    carriage return reads back as a line feed (XML's end-of-line rule)."""
    text = CONTROL_CLEAN if value == CONTROL else value
    return text.replace("\r", "\n") if xml else text


def hostile_inventory(store) -> dict:
    """An analysed inventory (app01 → db01, findings, a move group) plus one host per hostile value, whose
    hostname, service product, package name, process command line and finding evidence are that value."""
    fill(store)
    analyze(store, as_of=date(2026, 11, 28))
    inventory = build_inventory(store)
    template_host, template_service = inventory["hosts"][0], inventory["services"][0]
    for i, value in enumerate(HOSTILE):
        host_id = f"h-hostile-{i}"
        inventory["hosts"].append({**template_host, "id": host_id, "hostname": value, "addresses": [f"10.66.0.{i}"],
                                   "os_family": "windows" if i % 2 else "linux"})
        inventory["services"].append({**template_service, "id": f"{host_id}:tcp/80", "host_id": host_id, "port": 80,
                                      "product": value, "cpes": [], "cpe": None})
        inventory["software"].append({"host_id": host_id, "name": value, "version": "1.0", "vendor": None,
                                      "source": "nmap", "architecture": None})
        inventory["processes"].append({"host_id": host_id, "pid": 1, "ppid": None, "name": "sh", "exe": None,
                                       "username": None, "started_at": None, "cmdline": value})
        inventory["findings"].append({"id": f"f-{i}", "subject_type": "host", "subject_id": host_id,
                                      "host_id": host_id, "rule": "banner", "category": "other", "severity": "low",
                                      "title": "banner", "evidence": value, "recommendation": "none",
                                      "confidence": "low", "data": {"banner": value}})
        inventory.setdefault("l2_links", []).append({
            "source_host_id": template_host["id"], "source_port": value, "target_host_id": host_id,
            "target_port": value, "protocol": "lldp", "source": "snmp", "protocols": ["lldp"], "target_name": value,
            "target_mac": None, "target_address": None, "target_description": value, "vlan": None,
            "observed_at": "2026-11-28T09:00:00+00:00"})
    return inventory


def test_illegal_characters_are_openpyxls():
    for code in range(0x3000):
        char = chr(code)
        assert bool(ILLEGAL_CHARACTERS_RE.search(char)) == bool(OPENPYXL_ILLEGAL.search(char)), hex(code)


def test_safe_text_replaces_control_characters_and_keeps_tabs_and_newlines():
    assert safe_text(CONTROL) == CONTROL_CLEAN
    assert safe_text("a\tb\nc\r") == "a\tb\nc\r"
    assert not OPENPYXL_ILLEGAL.search(safe_text("".join(map(chr, range(32)))))


def test_safe_text_replaces_c1_controls_and_bidi_overrides():
    spoof = "invoice\u202egpj.exe\u0085\u2066x\u2069"
    assert safe_text(spoof) == f"invoice{REPLACEMENT}gpj.exe{REPLACEMENT}{REPLACEMENT}x{REPLACEMENT}"
    assert safe_text("Zürich \u05e9\u05dc\u05d5\u05dd") == "Zürich \u05e9\u05dc\u05d5\u05dd"  # letters of any script stay


@pytest.mark.parametrize("text", FORMULAS + [" @x", "\n=1", "-", "=", "+1"])
def test_looks_like_formula_on_triggers(text):
    assert looks_like_formula(text)


@pytest.mark.parametrize("text", ["", "app01", "a=b", "1-2", "2026-11-01T09:00:00+00:00", "10.0.0.1", "'=1", "x@y"])
def test_looks_like_formula_not_on_plain_text(text):
    assert not looks_like_formula(text)


def test_safe_text_quote_prefixes_formulas_only_for_csv():
    for text in FORMULAS:
        assert safe_text(text, quote=True) == "'" + text
        assert safe_text(text) == text
    assert safe_text("app01", quote=True) == "app01"


def test_safe_text_cuts_text_beyond_excels_cell_limit():
    assert safe_text(LONG) == LONG
    cut = safe_text("x" * 100_000)
    assert len(cut) == MAX_CELL_CHARS and cut.endswith("[truncated]")


def test_csv_value_keeps_numbers_and_writes_lists_and_nested_as_text():
    assert csv_value(5432) == 5432 and csv_value(2.5) == 2.5 and csv_value(-3) == -3
    assert csv_value(None) == "" and csv_value(True) == "true" and csv_value(float("nan")) == ""
    assert csv_value(["10.0.0.1", "10.0.0.2"]) == "10.0.0.1, 10.0.0.2"
    assert csv_value([{"id": "x"}]) == '[{"id":"x"}]'
    assert csv_value(["=1", "b"]) == "'=1, b"
    assert csv_value(CONTROL) == CONTROL_CLEAN


def test_parse_datetime_gives_naive_utc_or_none():
    assert parse_datetime("2026-11-01T10:00:00+01:00") == datetime(2026, 11, 1, 9, 0)
    assert parse_datetime("2026-11-01") == datetime(2026, 11, 1)
    for not_a_date in (None, "", "app01", "=1", 5, "2026-13-45"):
        assert parse_datetime(not_a_date) is None


def test_xlsx_cells_of_hostile_text_read_back_as_strings_not_formulas(tmp_path):
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("t")
    for value in HOSTILE:
        ws.append([xlsx_value(ws, value), xlsx_text_cell(ws, value), 7, 2.5, True])
    wb.save(tmp_path / "t.xlsx")
    rows = list(openpyxl.load_workbook(tmp_path / "t.xlsx")["t"].iter_rows())
    for value, (a, b, n, f, flag) in zip(HOSTILE, rows):
        for cell in (a, b):
            assert cell.data_type == "s" and cell.value == expected_text(value)
        assert (n.value, n.data_type, f.value, flag.value) == (7, "n", 2.5, True)
    formula_like = [r[0] for r in rows if looks_like_formula(r[0].value)]
    assert formula_like and all(c.quotePrefix for c in formula_like)
    with zipfile.ZipFile(tmp_path / "t.xlsx") as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()


def test_safe_text_counts_excels_characters_when_cutting():
    """Excel counts UTF-16 code units: 20,000 emoji are 40,000 of its characters, cut to 32,767."""
    cut = safe_text("\U0001F642" * 20_000)
    assert excel_length(cut) <= MAX_CELL_CHARS and cut.endswith("[truncated]")
    assert cut.startswith("\U0001F642" * 16_000) and "\ud83d" not in cut
    assert safe_text("\U0001F642" * 16_000) == "\U0001F642" * 16_000  # 32,000: fits, kept whole


def test_xlsx_escapes_a_literal_that_excel_would_decode_into_a_character():
    """Excel shows _x202E_ as a right-to-left override: written as _x005F_x202E_, it shows as typed, and our
    reader (which decodes Excel's escapes as Excel does) reads back the text itself."""
    from scanners.workbook_reader import unescape
    for text in ("a_x202E_b", "_x0041_", "=_x0041_", "_X00e9_ and _x005F_x0041_"):
        written = xlsx_text(text)
        assert "_x202E_" not in written.replace("_x005F_x202E_", "")
        assert unescape(written) == text
    assert xlsx_text("no_escape_here") == "no_escape_here"


def test_cell_text_policy_is_openpyxls_and_read_back_is_what_a_reader_gets(tmp_path):
    from scanners.workbook_reader import read_sheets
    assert CELL_TEXT_ILLEGAL.pattern == OPENPYXL_ILLEGAL.pattern
    texts = ["  lead", "tail \n", "a\r\nb", "x\u202ey\x07z\u0085", "=1+1", "_x0041_", "\U0001F642", "x" * 40_000]
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Hosts")
    ws.append(["Host ID", "Notes"])
    for n, text in enumerate(texts):
        ws.append([f"h-{n}", xlsx_value(ws, text)])
    wb.save(tmp_path / "t.xlsx")
    rows = read_sheets(tmp_path / "t.xlsx", {"Hosts": ("Host ID", "Notes")})["Hosts"].rows
    assert [row["Notes"] for _, row in rows] == [as_read_back(text) for text in texts]
