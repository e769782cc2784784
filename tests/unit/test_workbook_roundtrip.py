"""Round trip: export a workbook, let architects fill it in, import it back by stable id."""

import json
import sqlite3

import openpyxl
import pytest

from discovery.records.model import Scan
from discovery.storage.store import Store
from tests.builders import T0, make_report
from tests.unit.test_cli import run

TABLES = ("scans", "hosts", "observations", "services", "software", "connections", "findings", "groups",
          "host_risk", "analyses")


def finding(fid, host_id, severity):
    return {"id": fid, "subject_type": "host", "subject_id": host_id, "host_id": host_id, "rule": "os-eol",
            "category": "legacy", "severity": severity, "title": f"{severity} thing", "evidence": "e",
            "recommendation": "r", "confidence": "high", "data": {}}


@pytest.fixture
def estate(tmp_path):
    """A store with two hosts, a finding each and one move group holding both (wave 1)."""
    path = tmp_path / "estate.db"
    with Store(path) as s:
        scan = s.start_scan(Scan(kind="host", started_at=T0, targets=("app01", "db01")))
        s.write_host_report(scan, make_report(hostname="app01", address="10.1.0.1"))
        s.write_host_report(scan, make_report(hostname="db01", address="10.2.0.1"))
        s.finish_scan(scan, "completed")
        ids = {h["hostname"]: h["id"] for h in s.hosts()}
        s.save_analysis(findings=[finding("f1", ids["app01"], "high"), finding("f2", ids["db01"], "low")],
                        groups=[{"id": "grp-1", "name": "app01 group", "wave": 1,
                                 "host_ids": sorted(ids.values()), "explanation": "x", "edges": []}],
                        risk={}, as_of="2026-11-01", summary={})
    return path, ids


def snapshot(path):
    """Every row of the tables an annotation import must not touch."""
    conn = sqlite3.connect(path)
    try:
        existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {t: sorted(map(repr, conn.execute(f"SELECT * FROM [{t}]"))) for t in TABLES if t in existing}
    finally:
        conn.close()


def export(db, out, *extra):
    code, _, err = run("--db", str(db), "export", "--format", out.suffix[1:], "--out", str(out), "--force", *extra)
    assert code == 0, err


def column(ws, header):
    return [c.value for c in ws[1]].index(header) + 1


def row_of(ws, header, value):
    col = column(ws, header)
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(r, col).value == value)


def set_text(ws, row, header, value):
    cell = ws.cell(row, column(ws, header))
    cell.value = value
    cell.data_type = "s"  # typed as text, as Excel keeps a quote-prefixed cell


def test_annotations_and_waves_round_trip_by_id(estate, tmp_path):
    db, ids = estate
    book = tmp_path / "estate.xlsx"
    export(db, book)
    wb = openpyxl.load_workbook(book)
    hosts, groups = wb["Hosts"], wb["Move groups"]
    app = row_of(hosts, "Host ID", ids["app01"])
    hosts.cell(app, column(hosts, "Owner")).value = "Clinical apps team"
    hosts.cell(app, column(hosts, "Criticality")).value = "High"
    hosts.cell(app, column(hosts, "Patient data")).value = "yes"
    set_text(hosts, app, "Notes", "=cmd|' /C calc'!A0")
    unknown, bad = hosts.max_row + 1, row_of(hosts, "Host ID", ids["db01"])
    hosts.cell(unknown, column(hosts, "Host ID")).value = "h-doesnotexist"
    hosts.cell(unknown, column(hosts, "Owner")).value = "nobody"
    hosts.cell(bad, column(hosts, "Criticality")).value = "urgent"
    hosts.cell(bad, column(hosts, "Owner")).value = "must not be written"
    groups.cell(row_of(groups, "Group ID", "grp-1"), column(groups, "Wave")).value = 3
    wb.save(book)
    before = snapshot(db)

    code, out, err = run("--db", str(db), "import", str(book))

    assert code == 0, err
    assert "h-doesnotexist" in err and "urgent" in err and "2 rows skipped" in err
    assert "1 host annotations, 1 wave overrides" in out
    assert snapshot(db) == before  # scans, hosts, services, findings, groups... untouched
    with Store(db) as s:
        notes = {a["host_id"]: a for a in s.rows("annotations")}
        assert set(notes) == {ids["app01"]}  # the bad db01 row was not written
        a = notes[ids["app01"]]
        assert (a["owner"], a["criticality"], a["patient_data"], a["notes"]) == (
            "Clinical apps team", "high", "yes", "=cmd|' /C calc'!A0")
        assert s.rows("group_annotations")[0]["group_id"] == "grp-1"
    exported = tmp_path / "estate.json"
    export(db, exported)
    inventory = json.loads(exported.read_text())
    host = next(h for h in inventory["hosts"] if h["id"] == ids["app01"])
    assert (host["owner"], host["criticality"], host["patient_data"], host["notes"]) == (
        "Clinical apps team", "high", "yes", "=cmd|' /C calc'!A0")
    assert inventory["groups"][0]["wave"] == 1 and inventory["groups"][0]["wave_override"] == 3
    # the formula-looking note goes back out as text, never as a formula
    export(db, book)
    wb = openpyxl.load_workbook(book)
    ws = wb["Hosts"]
    cell = ws.cell(row_of(ws, "Host ID", ids["app01"]), column(ws, "Notes"))
    assert cell.value == "=cmd|' /C calc'!A0" and cell.data_type == "s"
    # the workbook shows the wave the group now moves in, and the analysis's own beside it
    groups, row = wb["Move groups"], row_of(wb["Move groups"], "Group ID", "grp-1")
    assert groups.cell(row, column(groups, "Wave")).value == 3
    assert groups.cell(row, column(groups, "Analysis wave")).value == 1
    assert ws.cell(row_of(ws, "Host ID", ids["app01"]), column(ws, "Wave")).value == 3


def test_override_survives_analysis_and_untouched_reimport(estate, tmp_path):
    db, ids = estate
    book = tmp_path / "estate.xlsx"
    export(db, book)
    wb = openpyxl.load_workbook(book)
    wb["Move groups"].cell(2, column(wb["Move groups"], "Wave")).value = 4
    wb.save(book)
    assert run("--db", str(db), "import", str(book))[0] == 0
    with Store(db) as s:  # a new analysis replaces groups, not the architect's wave
        s.save_analysis(findings=[], groups=[{"id": "grp-1", "name": "g", "wave": 2, "host_ids": list(ids.values()),
                                              "explanation": "", "edges": []}], risk={}, as_of="2026-11-02", summary={})
    export(db, book)  # shows the analysis's wave (2); importing it as it is keeps the override
    code, out, err = run("--db", str(db), "import", str(book))
    assert code == 0 and "0 hosts and groups changed" in out, err
    with Store(db) as s:
        assert [(a["group_id"], a["wave"]) for a in s.rows("group_annotations")] == [("grp-1", 4)]


@pytest.mark.parametrize("bad", ["-1", "2.5", "two"])
def test_bad_wave_is_reported_not_written(estate, tmp_path, bad):
    db, _ = estate
    book = tmp_path / "estate.xlsx"
    export(db, book)
    wb = openpyxl.load_workbook(book)
    wb["Move groups"].cell(2, column(wb["Move groups"], "Wave")).value = float(bad) if bad != "two" else bad
    wb.save(book)
    code, _, err = run("--db", str(db), "import", str(book))
    assert code == 0 and "wave" in err and "grp-1" in err  # the Hosts rows still matched
    with Store(db) as s:
        assert s.rows("group_annotations") == []


def test_nothing_matched_exits_1(estate, tmp_path):
    db, _ = estate
    book = tmp_path / "other.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Hosts"
    wb["Hosts"].append(["Hostname", "Host ID", "Owner"])
    wb["Hosts"].append(["ghost", "h-000000000000", "someone"])
    wb.save(book)
    before = snapshot(db)
    code, _, err = run("--db", str(db), "import", str(book))
    assert code == 1 and "h-000000000000" in err
    assert snapshot(db) == before
    with Store(db) as s:
        assert s.rows("annotations") == []


def _no_hosts_sheet(path):
    wb = openpyxl.Workbook()
    wb.active.title = "Inventory"
    wb.active.append(["Host ID", "Owner"])
    wb.save(path)


def _no_id_column(path):
    wb = openpyxl.Workbook()
    wb.active.title = "Hosts"
    wb.active.append(["Hostname", "Owner"])
    wb.active.append(["app01", "someone"])
    wb.save(path)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("Host ID,Owner\nh-1,x\n"), "not an Excel workbook"),
    (lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"), "not an Excel workbook"),
    (_no_hosts_sheet, "no Hosts sheet"),
    (_no_id_column, "no Host ID column"),
])
def test_unusable_files_are_refused_with_one_line_and_nothing_written(estate, tmp_path, make, message):
    db, _ = estate
    book = tmp_path / "bad.xlsx"
    make(book)
    before = snapshot(db)
    code, out, err = run("--db", str(db), "import", str(book))
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(db) == before
    with Store(db) as s:
        assert s.rows("annotations") == [] and s.rows("group_annotations") == []


# --- an unedited workbook changes nothing (issue 15, item 5) ---------------------------------------------------

LONGEST = "\U0001F642" * 100 + " notes of the longest length an annotation may have" + "x" * 31_749  # 32,000
ANNOTATED = {
    "app01": {"owner": "  Clinical apps team ", "criticality": "high", "patient_data": "yes",
              "notes": "\n  indented, after a blank line\ttab\n" + LONGEST[35:]},
    "db01": {"owner": "@ops", "criticality": None, "patient_data": "no",
             "notes": "=cmd|' /C calc'!A0\r\nbidi x\u202ey, controls \x07\x1b\u0085, Excel's _x0041_ escape "},
}


def annotate(db, ids, annotations=ANNOTATED):
    with Store(db) as s:
        s.save_annotations([{"host_id": ids[name], **values} for name, values in annotations.items()])


def stored_annotations(db):
    with Store(db) as s:
        return sorted(map(repr, s.rows("annotations")))


def as_excel_saves_it(book):
    """Rewrite `book` as Excel saves a workbook: every text in a shared-string table instead of inline."""
    import re
    import zipfile
    inline = re.compile(r'<c ([^>]*?)t="inlineStr"([^>]*)><is><t(?: xml:space="preserve")?>(.*?)</t></is></c>', re.S)
    with zipfile.ZipFile(book) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    strings: list[str] = []

    def shared(match):
        strings.append(match[3])
        return f'<c {match[1]}t="s"{match[2]}><v>{len(strings) - 1}</v></c>'

    for name in [n for n in parts if n.startswith("xl/worksheets/sheet")]:
        parts[name] = inline.sub(shared, parts[name].decode()).encode()
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    parts["xl/sharedStrings.xml"] = (f'<sst xmlns="{ns}" count="{len(strings)}" uniqueCount="{len(strings)}">'
                                     + "".join(f'<si><t xml:space="preserve">{s}</t></si>' for s in strings)
                                     + "</sst>").encode()
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(b"</Types>", (
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        b'spreadsheetml.sharedStrings+xml"/></Types>'))
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(b"</Relationships>", (
        b'<Relationship Id="rIdShared" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        b'sharedStrings" Target="sharedStrings.xml"/></Relationships>'))
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return len(strings)


@pytest.mark.parametrize("excel", [False, True], ids=["as exported", "as Excel saves it"])
def test_unedited_workbook_imports_as_nothing_changed(estate, tmp_path, excel):
    """The longest note, surrounding whitespace, a formula-like owner and note, bidi and control characters the
    export replaced, a carriage return XML turned into a line feed, a literal Excel escape: none of it changes."""
    db, ids = estate
    annotate(db, ids)
    before = stored_annotations(db)
    book = tmp_path / "estate.xlsx"
    export(db, book)
    ws = openpyxl.load_workbook(book)["Hosts"]
    notes = ws.cell(row_of(ws, "Host ID", ids["app01"]), column(ws, "Notes")).value
    assert notes == ANNOTATED["app01"]["notes"], "the longest note is exported whole, never cut"
    if excel:
        assert as_excel_saves_it(book) > 10

    code, out, err = run("--db", str(db), "import", str(book))

    assert code == 0 and err == "", err
    assert "3 rows matched, 0 hosts and groups changed" in out, out  # 2 hosts and a group
    assert stored_annotations(db) == before


def test_a_note_longer_than_a_cell_is_not_cut_by_a_round_trip(estate, tmp_path):
    """A note stored before the limit existed (40,000 characters) is exported cut, with a marker; importing
    that workbook unedited keeps the whole note."""
    db, ids = estate
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO annotations (host_id, notes, updated_at) VALUES (?, ?, ?)",
                     (ids["db01"], "y" * 40_000, "2026-01-01T00:00:00+00:00"))
    conn.close()
    book = tmp_path / "estate.xlsx"
    export(db, book)
    ws = openpyxl.load_workbook(book)["Hosts"]
    assert ws.cell(row_of(ws, "Host ID", ids["db01"]), column(ws, "Notes")).value.endswith("… [truncated]")
    code, out, err = run("--db", str(db), "import", str(book))
    assert code == 0 and "0 hosts and groups changed" in out, err
    with Store(db) as s:
        assert s.rows("annotations")[0]["notes"] == "y" * 40_000


def test_an_annotation_over_the_limit_is_refused_for_its_row_and_the_others_imported(estate, tmp_path):
    db, ids = estate
    book = tmp_path / "estate.xlsx"
    export(db, book)
    wb = openpyxl.load_workbook(book)
    ws = wb["Hosts"]
    app, dbrow = row_of(ws, "Host ID", ids["app01"]), row_of(ws, "Host ID", ids["db01"])
    set_text(ws, app, "Notes", "n" * 32_001)
    set_text(ws, dbrow, "Owner", "DBA team")
    set_text(ws, dbrow, "Notes", "\U0001F642" * 16_000)  # 32,000 as Excel counts: fits
    wb.save(book)
    code, out, err = run("--db", str(db), "import", str(book))
    assert code == 0 and "1 host annotations" in out, err
    (line,) = err.strip().splitlines()
    assert f"Hosts row {app} ({ids['app01']}): Notes are 32,001 characters long; the limit is 32,000" in line
    with Store(db) as s:
        (row,) = s.rows("annotations")
    assert (row["host_id"], row["owner"], row["notes"]) == (ids["db01"], "DBA team", "\U0001F642" * 16_000)


def test_edited_notes_keep_their_whitespace_and_an_owner_is_trimmed(estate, tmp_path):
    db, ids = estate
    book = tmp_path / "estate.xlsx"
    export(db, book)
    wb = openpyxl.load_workbook(book)
    ws = wb["Hosts"]
    app, dbrow = row_of(ws, "Host ID", ids["app01"]), row_of(ws, "Host ID", ids["db01"])
    set_text(ws, app, "Notes", "  - moves first\n  - then the database\n")
    set_text(ws, app, "Owner", "  Clinical apps team  ")
    set_text(ws, dbrow, "Notes", "   ")
    wb.save(book)
    assert run("--db", str(db), "import", str(book))[0] == 0
    with Store(db) as s:
        (row,) = s.rows("annotations")
    assert (row["owner"], row["notes"]) == ("Clinical apps team", "  - moves first\n  - then the database\n")


def test_the_store_refuses_an_annotation_over_the_limit(estate):
    from discovery.records.annotations import MAX_ANNOTATION_CHARS, AnnotationError
    from discovery.records.cell_text import MAX_CELL_CHARS
    db, ids = estate
    assert MAX_ANNOTATION_CHARS < MAX_CELL_CHARS
    with Store(db) as s:
        with pytest.raises(AnnotationError, match="Owner is 32,001 characters long; the limit is 32,000"):
            s.save_annotations([{"host_id": ids["app01"], "notes": "fine", "owner": "o" * 32_001}])
        assert s.rows("annotations") == []
