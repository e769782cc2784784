"""Workbook bombs (issue 15, item 4): a small .xlsx that inflates hugely is refused by the real command line in
one line naming the file and the limit, exit status 1, nothing stored, before any large allocation.

The bombs are built here (fuzz.targets.write_workbook_bomb), small on disk: 30 million shared strings in
1.3 MB and one 1.5 GB cell in 1.5 MB (both as reported in issue 15), a part that inflates past the size it
declares, and 70,000 parts. Memory is measured as the child's peak resident set (VmHWM), with its address
space capped so that a regression fails fast instead of taking the machine's memory; time is not asserted.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fuzz import targets
from scanners import workbook_reader
from scanners.workbook_reader import WorkbookError, read_sheets
from tests.unit.test_cli import filled_db  # noqa: F401 (a fixture)
from tests.unit.test_hostile_input import MEASURED_MAIN, dump, integrity

ROOT = Path(__file__).resolve().parents[2]
PEAK_LIMIT = 200 << 20        # the refusal comes before any large allocation (about 40 MB measured)
ADDRESS_SPACE = 2 << 30       # a regression dies of MemoryError here rather than eating the machine
WANTED = {"Hosts": ("Host ID", "Owner", "Notes")}


def run_bounded(argv, folder: Path) -> tuple[int, str, int]:
    """Run main.py with `argv` in a child limited to ADDRESS_SPACE; return (exit status, stderr, peak RSS)."""
    report = folder / "peak.txt"

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    proc = subprocess.run([sys.executable, "-c", MEASURED_MAIN, str(report), str(ROOT / "main.py"), *argv],
                          capture_output=True, text=True, timeout=600, preexec_fn=limit)
    return proc.returncode, proc.stderr, int(report.read_text()) * 1024 if report.exists() else -1


@pytest.fixture
def db(filled_db):  # noqa: F811
    """A store holding one scanned host."""
    return filled_db


@pytest.mark.parametrize("kind, message", [
    ("shared-strings", "inflates 407 times; the limit is 100 times"),
    ("huge-cell", "declares 1.4 GiB inflated; the limit for one part is 1.0 GiB"),
    ("lying-size", "inflates past its declared 1,048,576 bytes"),
    ("many-parts", "its zip declares 70,005 parts; a workbook has at most 1,000"),
])
def test_import_refuses_a_workbook_bomb_in_one_line_within_bounded_memory(db, tmp_path, kind, message):
    path = tmp_path / f"{kind}.xlsx"
    targets.write_workbook_bomb(path, kind)
    assert path.stat().st_size < 10 << 20
    before = dump(db)
    code, err, peak = run_bounded(["--db", str(db), "import", str(path)], tmp_path)
    assert code == 1 and "Traceback" not in err, err[-2000:]
    (line,) = err.strip().splitlines()
    assert str(path) in line and message in line, line
    assert 0 < peak < PEAK_LIMIT, f"peak RSS {peak >> 20} MiB"
    assert dump(db) == before and integrity(db) == "ok"


def _sheet_workbook(path: Path, rows_xml: str, strings: list[str] | None = None) -> None:
    """Write a minimal workbook whose Hosts sheet's sheetData is `rows_xml` (and a shared-string table); the
    sheet is stored, not deflated, so that no ratio gives it away."""
    sheet = targets.zip_part("xl/worksheets/sheet1.xml",
                             f'<worksheet xmlns="{targets.SHEET_NS}"><sheetData>{rows_xml}</sheetData></worksheet>'
                             .encode(), stored=True)
    table = None
    if strings is not None:
        table = targets.zip_part("xl/sharedStrings.xml", (f'<sst xmlns="{targets.SHEET_NS}">'
                                 + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>").encode())
    targets.write_zip(path, targets.workbook_parts(sheet, table))


HEADER = '<row r="1"><c r="A1" t="inlineStr"><is><t>Host ID</t></is></c>' \
         '<c r="B1" t="inlineStr"><is><t>Notes</t></is></c></row>'


def test_a_cell_longer_than_excel_allows_is_refused_without_being_kept(tmp_path):
    path = tmp_path / "long.xlsx"
    _sheet_workbook(path, HEADER + f'<row r="2"><c r="C2" t="inlineStr"><is><t>{"x" * 300_000}</t></is></c></row>')
    with pytest.raises(WorkbookError, match=r"cell Hosts!C2 holds more than 32,767 characters \(Excel's limit"):
        read_sheets(path, WANTED)
    _sheet_workbook(path, HEADER + f'<row r="2"><c r="B2" t="inlineStr"><is><t>{"x" * 32_768}</t></is></c></row>')
    with pytest.raises(WorkbookError, match="cell Hosts!B2 holds more than 32,767"):
        read_sheets(path, WANTED)


def test_more_shared_strings_than_the_limit_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(workbook_reader, "MAX_SHARED_STRINGS", 1_000)
    path = tmp_path / "strings.xlsx"
    _sheet_workbook(path, '<row r="1"><c r="A1" t="s"><v>0</v></c></row>', ["Host ID"] + ["x"] * 999)
    assert read_sheets(path, WANTED)["Hosts"].headers == {"Host ID"}
    _sheet_workbook(path, '<row r="1"><c r="A1" t="s"><v>0</v></c></row>', ["Host ID"] + ["x"] * 1_000)
    with pytest.raises(WorkbookError, match="more than 1,000 shared strings"):
        read_sheets(path, WANTED)


def test_rows_past_the_limit_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "rows.xlsx"
    _sheet_workbook(path, HEADER + '<row r="1048577"><c r="A1048577"><v>1</v></c></row>')
    with pytest.raises(WorkbookError, match="a row numbered '1048577'; Excel's rows are 1 to 1,048,576"):
        read_sheets(path, WANTED)
    monkeypatch.setattr(workbook_reader, "MAX_ROWS", 100)
    _sheet_workbook(path, HEADER + "<row/>" * 99)
    assert read_sheets(path, WANTED)["Hosts"].rows == []
    _sheet_workbook(path, HEADER + "<row/>" * 100)
    with pytest.raises(WorkbookError, match="more than 100 rows"):
        read_sheets(path, WANTED)


def test_a_sheet_with_a_dtd_is_refused(tmp_path):
    path = tmp_path / "dtd.xlsx"
    sheet = targets.zip_part("xl/worksheets/sheet1.xml", (
        '<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        f'<worksheet xmlns="{targets.SHEET_NS}"><sheetData>{HEADER}</sheetData></worksheet>').encode())
    targets.write_zip(path, targets.workbook_parts(sheet))
    with pytest.raises(WorkbookError, match="declares a DTD"):
        read_sheets(path, WANTED)


def test_a_part_read_whole_over_its_limit_is_refused(tmp_path):
    path = tmp_path / "styles.xlsx"
    sheet = targets.zip_part("xl/worksheets/sheet1.xml",
                             f'<worksheet xmlns="{targets.SHEET_NS}"><sheetData>{HEADER}</sheetData></worksheet>'
                             .encode())
    styles = targets.repeated_part("xl/styles.xml", f'<styleSheet xmlns="{targets.SHEET_NS}">'.encode(),
                                   b"<!-- " + b"s" * 1_000 + b" -->", 17_000, b"</styleSheet>")
    targets.write_zip(path, targets.workbook_parts(sheet) + [styles])
    with pytest.raises(WorkbookError, match=r"part 'xl/styles.xml' declares 16.4 MiB; the limit for a part read "
                                            r"whole is 16.0 MiB"):
        read_sheets(path, WANTED)


def test_parts_other_than_the_sheets_read_are_never_inflated(tmp_path):
    """A damaged part nobody needs (here a second sheet whose data is garbage) does not stop the import."""
    path = tmp_path / "other.xlsx"
    _sheet_workbook(path, HEADER + '<row r="2"><c r="A2" t="inlineStr"><is><t>h-1</t></is></c></row>')
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("xl/worksheets/sheet2.xml", b"\x00garbage" * 1000)
    assert read_sheets(path, WANTED)["Hosts"].rows == [(2, {"Host ID": "h-1"})]


def test_limits_leave_room_for_a_large_real_export():
    """The figures measured on a 10,000-host export (workbook_reader's docstring), with a wide margin."""
    assert workbook_reader.MAX_PART_BYTES >= 2 * 418_000_000
    assert workbook_reader.MAX_TOTAL_BYTES >= 5 * (676 << 20)
    assert workbook_reader.MAX_RATIO >= 5 * 14.5
    assert workbook_reader.MAX_STREAMED_BYTES >= 30 * 7_200_000
    assert workbook_reader.MAX_SHARED_STRINGS >= 5 * 318_623
    assert workbook_reader.MAX_MEMBERS >= 40 * 22
