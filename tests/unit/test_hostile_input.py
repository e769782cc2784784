"""Hostile and broken input through the real command line: every file `estatemap import` reads.

Each refusal is one line on stderr, exit status 1, no traceback, and the store exactly as it was (same rows in
every table, integrity_check ok). Input that is legitimately importable (a file cut short, hostile text inside
well-formed XML) is imported and exported without any cell becoming a formula.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from discovery.files.bundle import encode_bundle
from discovery.storage.store import Store
from fuzz import targets
from tests.builders import T0
from tests.unit.test_cli import filled_db, run  # noqa: F401 (filled_db is a fixture)

ROOT = Path(__file__).resolve().parents[2]
NMAP = (ROOT / "tests" / "data" / "nmap" / "segment-handmade.xml").read_bytes()
PASSWD_LINE = b"root:x:0:0"


def dump(path: Path) -> dict:
    """Return every row of every table (sorted), to compare a store before and after."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(map(repr, conn.execute(f"SELECT * FROM [{t}]"))) for t in tables}
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def db(filled_db):  # noqa: F811
    """A store holding one scanned host."""
    return filled_db


def assert_refused(db: Path, argv, message: str):
    """Run `import` with argv; assert exit 1, one clear stderr line naming `message`, and the store untouched."""
    before = dump(db)
    code, out, err = run("--db", str(db), "import", *map(str, argv))
    assert code == 1, (code, out, err)
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1 and err.startswith("estatemap: error: "), err
    assert message in err, err
    assert "unexpected" not in err, err  # an EstateError, not a crash caught at the last moment
    assert dump(db) == before
    assert integrity(db) == "ok"
    return err


def nmap_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def host_xml(address: str, *, hostname: str = "pacs01", product: str = "OpenSSH", extra: str = "") -> str:
    return (f'<host starttime="1700000000" endtime="1700000100"><status state="up" reason="syn-ack"/>'
            f'<address addr="{address}" addrtype="ipv4"/><hostnames><hostname name="{hostname}" type="PTR"/>'
            f'</hostnames><ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack"/>'
            f'<service name="ssh" product="{product}" version="9.2p1" method="probed" conf="10"/></port>'
            f'</ports>{extra}</host>\n')


def nmap_doc(*hosts: str, head: str = '<?xml version="1.0" encoding="UTF-8"?>\n', end: str = "</nmaprun>\n") -> bytes:
    return (head + '<nmaprun scanner="nmap" args="nmap -sV 10.0.0.0/24" start="1700000000" version="7.93">\n'
            + "".join(hosts) + end).encode("utf-8")


# --- nmap XML ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data, message", [
    ("invalid-bytes.xml", nmap_doc(host_xml("10.0.0.1")).replace(b"pacs01", b"pacs\xff\xfe01"),
     "broken nmap XML at line"),
    ("wrong-encoding.xml", nmap_doc(host_xml("10.0.0.1"), head='<?xml version="1.0" encoding="UTF-16"?>\n'),
     "not nmap XML (encoding specified in XML declaration is incorrect"),
    ("unknown-encoding.xml", nmap_doc(host_xml("10.0.0.1"), head='<?xml version="1.0" encoding="x-klingon"?>\n'),
     "its declared encoding cannot be read"),
    ("laughs.xml", b'<?xml version="1.0"?>\n<!DOCTYPE nmaprun [<!ENTITY a "aaaaaaaaaa">'
                   + b"".join(b'<!ENTITY %c "%s">' % (98 + i, (b"&%c;" % (97 + i)) * 10) for i in range(8))
                   + b"]>\n<nmaprun><host><hostnames><hostname name=\"&i;\"/></hostnames></host></nmaprun>",
     "refused unsafe XML"),
    ("xxe.xml", nmap_doc(host_xml("10.0.0.9", hostname="&x;"),
                         head='<?xml version="1.0"?>\n<!DOCTYPE nmaprun [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'),
     "refused unsafe XML"),
    ("deep.xml", nmap_doc(host_xml("10.0.0.1", extra="<hostscript><script id='x'>" + "<table>" * 5000
                                   + "</table>" * 5000 + "</script></hostscript>")),
     "nested more than 100 elements deep"),
    ("control-char.xml", nmap_doc(host_xml("10.0.0.1", product="SSH\x01\x1b[2J")), "broken nmap XML at line 3"),
    ("html.xml", b"<html><body>not a scan</body></html>", "its document is <html>, not nmap's <nmaprun>"),
    ("empty.xml", b"", "is not a file Estate Mapper can import (nmap XML from -oX, a collector bundle, or a pcap/pcapng capture): it is empty"),
    ("text-first.xml", b"Nmap scan report\n" + nmap_doc(host_xml("10.0.0.1")),
     "it has text before its XML declaration (line 2); only whitespace and comments may come first"),
    ("pi-first.xml", b"<?xml-stylesheet href='x'?>\n" + nmap_doc(host_xml("10.0.0.1")),
     "text before the XML declaration on line 2"),
])
def test_import_refuses_hostile_nmap_xml_in_one_line_and_writes_nothing(db, tmp_path, name, data, message):
    assert_refused(db, [nmap_file(tmp_path, name, data)], message)
    assert PASSWD_LINE not in db.read_bytes()


def test_import_refuses_nmap_xml_broken_after_a_whole_host_before_storing_that_host(db, tmp_path):
    """Checked whole before the store is opened: the good host before the damage is not stored either."""
    data = nmap_doc(host_xml("10.0.0.1"), host_xml("10.0.0.2") + "<host><<broken/></host>\n",
                    host_xml("10.0.0.3"))
    assert_refused(db, [nmap_file(tmp_path, "broken.xml", data)], "broken nmap XML at line")


def test_import_of_several_files_imports_the_good_ones_and_refuses_each_bad_one_in_one_line(db, tmp_path):
    """Each file is its own scan: a refused file stores nothing of its own and does not cancel the others."""
    good = nmap_file(tmp_path, "good.xml", nmap_doc(host_xml("10.0.0.1", hostname="good1")))
    bad = nmap_file(tmp_path, "bad.xml", nmap_doc(host_xml("10.0.0.2", hostname="bad2") + "<host><</host>"))
    empty = nmap_file(tmp_path, "empty.xml", b"")
    later = nmap_file(tmp_path, "later.xml", nmap_doc(host_xml("10.0.0.3", hostname="later3")))
    scans_before = len(dump(db)["scans"])
    code, out, err = run("--db", str(db), "import", str(good), str(bad), str(empty), str(later))
    assert code == 1 and "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("estatemap: error: ") for line in lines), err
    assert "bad.xml" in lines[0] and "broken nmap XML at line" in lines[0] and "empty.xml" in lines[1]
    rows = dump(db)
    assert len(rows["scans"]) == scans_before + 2  # one scan per imported file, none for a refused one
    stored = repr(rows)
    assert "good1" in stored and "later3" in stored and "bad2" not in stored and "10.0.0.2" not in stored
    assert integrity(db) == "ok"


def test_import_accepts_whitespace_and_comments_before_the_xml_declaration(db, tmp_path):
    """Public nmap files carry a licence comment before `<?xml ...?>` (secureCodeBox's parser fixtures do)."""
    head = ('\ufeff\n  <!-- SPDX-FileCopyrightText: the authors\n     SPDX-License-Identifier: Apache-2.0 -->\n'
            '<!-- second comment --> \n<?xml version="1.0" encoding="UTF-8"?>\n')
    path = nmap_file(tmp_path, "licensed.xml", nmap_doc(host_xml("10.0.0.7", hostname="licensed7"), head=head))
    code, out, err = run("--db", str(db), "import", str(path))
    assert (code, err) == (0, ""), err
    assert "1 host " in out and "licensed7" in repr(dump(db))


@pytest.mark.parametrize("cut", [0.4, 0.75, 0.98])
def test_import_of_nmap_xml_cut_short_mid_element_keeps_whole_hosts_and_exits_0(db, tmp_path, cut):
    data = nmap_doc(*(host_xml(f"10.0.0.{i}", hostname=f"h{i}") for i in range(1, 11)))
    cut_data = data[: int(len(data) * cut)]
    whole = cut_data.count(b"</host>")
    code, out, err = run("--db", str(db), "import", str(nmap_file(tmp_path, "cut.xml", cut_data)))
    assert code == 0 and "Traceback" not in err
    assert err.strip().splitlines() == [f"warning: cut.xml ends early (an interrupted scan?): the {whole} whole "
                                        "hosts in it were imported"]
    with Store(db) as s:
        assert len(s.hosts()) == 1 + whole
    assert integrity(db) == "ok"


def test_import_of_nmap_xml_with_a_plain_doctype_and_an_external_dtd_reads_no_file(db, tmp_path):
    """nmap itself writes <!DOCTYPE nmaprun>; an external DTD is never fetched, so /etc/passwd stays out."""
    data = nmap_doc(host_xml("10.0.0.7"), head='<?xml version="1.0"?>\n<!DOCTYPE nmaprun SYSTEM "file:///etc/passwd">\n')
    code, _, err = run("--db", str(db), "import", str(nmap_file(tmp_path, "doctype.xml", data)))
    assert code == 0 and err == ""
    assert PASSWD_LINE not in db.read_bytes()
    with Store(db) as s:
        assert "10.0.0.7" in {a for h in s.hosts() for a in h["addresses"]}


HOSTILE_BANNER = "=HYPERLINK(\"http://evil\",\"x\")\u0085\u009b31m\u007f\u202e\t\u200bend&#10;"
LONG_NAME = "a" * 9_990 + ".example"


def test_hostile_text_in_nmap_xml_is_stored_and_exported_as_plain_text(db, tmp_path):
    """A 10,000-character hostname and a banner of control characters and a formula: imported, and in every
    spreadsheet export a text cell, never a formula, never a character Excel cannot hold."""
    banner = HOSTILE_BANNER.replace("&", "&amp;").replace('"', "&quot;")
    data = nmap_doc(host_xml("10.0.0.66", hostname=LONG_NAME, product=banner))
    code, _, err = run("--db", str(db), "import", str(nmap_file(tmp_path, "hostile.xml", data)))
    assert code == 0 and err == ""
    with Store(db) as s:
        host = next(h for h in s.hosts() if "10.0.0.66" in h["addresses"])
        assert host["hostname"] == LONG_NAME

    book = tmp_path / "estate.xlsx"
    code, _, err = run("--db", str(db), "export", "--format", "xlsx", "--out", str(book))
    assert code == 0, err
    wb = openpyxl.load_workbook(book)
    seen = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                if isinstance(c.value, str):
                    seen.add(c.value)
    assert LONG_NAME in seen
    assert any(v.startswith("=HYPERLINK") for v in seen)  # kept as text, typed as a string

    archive = tmp_path / "estate.zip"
    code, _, err = run("--db", str(db), "export", "--format", "csv", "--out", str(archive))
    assert code == 0, err
    with zipfile.ZipFile(archive) as z:
        services = list(csv.DictReader(io.StringIO(z.read("services.csv").decode("utf-8-sig"))))
    (ssh,) = [r for r in services if r["address"] == "10.0.0.66" or r["host_id"] == host["id"]]
    assert ssh["product"].startswith("'=HYPERLINK")  # quote-prefixed: a spreadsheet shows it, never runs it


# --- collector bundles ------------------------------------------------------------------------------------------

BUNDLE = targets.bundle_seed()


def _forged(change) -> bytes:
    doc = json.loads(json.dumps(BUNDLE))
    change(doc)
    return targets.bundle_bytes(doc)


@pytest.mark.parametrize("name, make, message", [
    ("newer.estate", lambda: _forged(lambda d: d.update(version=99)), "written by a newer Estate Mapper"),
    ("tampered.estate", lambda: encode_bundle({**BUNDLE, "created_at": "2020-01-01T00:00:00+00:00"}),
     "tampered or damaged"),
    ("truncated.estate", lambda: targets.bundle_bytes(BUNDLE)[:-100], "compressed data ends early"),
    ("corrupt.estate", lambda: (lambda b: b[:40] + bytes([b[40] ^ 0xFF]) + b[41:])(targets.bundle_bytes(BUNDLE)),
     "tampered or damaged"),
    ("not-gzip.estate", lambda: b"PK\x03\x04" + os.urandom(200), "is not a file Estate Mapper can import"),
    ("gzip-of-text.estate", lambda: gzip.compress(b"hello, not a bundle"), "gzip-compressed but not an Estate"),
    ("other-json.estate", lambda: b'{"format": "nessus", "version": 1}', "is not an Estate Mapper bundle"),
    ("huge-int.estate", lambda: _forged(lambda d: d["reports"][0]["host"].update(memory_bytes=2**64)),
     "integer out of range"),
    ("surrogate.estate", lambda: _forged(lambda d: d["reports"][0]["host"].update(hostname="\ud800")),
     "not valid Unicode"),
    ("nan.estate", lambda: _forged(lambda d: d["reports"][0]["host"].update(cpu_mhz=float("nan"))),
     "expected a finite number"),
    ("escape.estate", lambda: _forged(lambda d: d.update(format="\x1b]0;owned\x07\n" + "x" * 5000)),
     "is not an Estate Mapper bundle"),
])
def test_import_refuses_bad_bundles_in_one_line_and_writes_nothing(db, tmp_path, name, make, message):
    path = tmp_path / name
    path.write_bytes(make())
    err = assert_refused(db, [path], message)
    assert "\x1b" not in err and len(err) < 600


def test_import_of_a_bundle_then_a_bad_one_imports_the_good_one_only(db, tmp_path):
    good = tmp_path / "good.estate"
    good.write_bytes(targets.bundle_bytes(BUNDLE))
    bad = tmp_path / "bad.estate"
    bad.write_bytes(_forged(lambda d: d["reports"][0]["host"].update(memory_bytes=-2**70)))
    scans_before = len(dump(db)["scans"])
    code, out, err = run("--db", str(db), "import", str(good), str(bad))
    assert code == 1 and "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("estatemap: error: ")]
    assert len(errors) == 1 and "bad.estate is not a valid bundle" in errors[0], err
    assert len(dump(db)["scans"]) == scans_before + 1
    assert "Scan" in out and "completed" in out
    assert integrity(db) == "ok"


def test_bundle_warnings_with_terminal_escapes_are_shown_escaped(db, tmp_path):
    path = tmp_path / "escapes.estate"
    path.write_bytes(_forged(lambda d: d["scan"].update(warnings=["disk\x1b[2J\nfull"])))
    code, _, err = run("--db", str(db), "import", str(path))
    assert code == 0 and "\x1b" not in err
    assert "collected on app01" in err and "disk\\x1b[2J\\x0afull" in err


# --- workbooks -----------------------------------------------------------------------------------------------------

def _exported(db: Path, tmp_path: Path) -> Path:
    book = tmp_path / "estate.xlsx"
    code, _, err = run("--db", str(db), "export", "--format", "xlsx", "--out", str(book), "--force")
    assert code == 0, err
    return book


def _not_a_workbook_zip(path: Path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "a zip, not a workbook")


def _png(path: Path):
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))


def _bomb_like(path: Path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<<<not xml")


@pytest.mark.parametrize("make, message", [
    (_not_a_workbook_zip, "not an Excel workbook openpyxl can read"),
    (_png, "not an Excel workbook"),
    (_bomb_like, "not an Excel workbook openpyxl can read"),
])
def test_import_refuses_files_renamed_xlsx(db, tmp_path, make, message):
    path = tmp_path / "renamed.xlsx"
    make(path)
    assert_refused(db, [path], message)


@pytest.mark.parametrize("member, doctype", [
    ("xl/workbook.xml", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'),       # XXE
    ("xl/styles.xml", b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'),  # laughs
    ("[Content_Types].xml", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'),
])
def test_a_workbook_declaring_entities_is_refused_in_one_plain_line(db, tmp_path, member, doctype):
    book, hostile = _exported(db, tmp_path), tmp_path / "hostile.xlsx"
    with zipfile.ZipFile(book) as source, zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info.filename)
            out.writestr(info, doctype + data if info.filename == member else data)
    err = assert_refused(db, [hostile], "declares an XML DTD or entity")
    assert "EntitiesForbidden" not in err and "passwd" not in err


def test_import_of_a_workbook_with_wrong_types_lists_them_and_keeps_the_store_sound(db, tmp_path):
    book = _exported(db, tmp_path)
    wb = openpyxl.load_workbook(book)
    ws = wb["Hosts"]
    header = [c.value for c in ws[1]]
    row = 2
    ws.cell(row, header.index("Criticality") + 1).value = 3.5
    ws.cell(row, header.index("Patient data") + 1).value = T0.replace(tzinfo=None)
    ws.append([12345 if h == "Host ID" else None for h in header])      # a number where the Host ID belongs
    ws.append(["someone" if h == "Owner" else None for h in header])   # an annotation without an id
    wb.save(book)
    before = dump(db)
    code, out, err = run("--db", str(db), "import", str(book))
    assert code == 1 and "Traceback" not in err  # no row could be used
    (line,) = err.strip().splitlines()
    assert "3 rows skipped" in line and "criticality '3.5'" in line and "unknown host id '12345'" in line
    assert "no host id" in line
    assert dump(db) == before and integrity(db) == "ok"


def test_import_of_the_same_annotated_workbook_twice(db, tmp_path):
    """The second import reads the annotations the first one wrote (owner text) back from the store."""
    book = _exported(db, tmp_path)
    wb = openpyxl.load_workbook(book)
    ws = wb["Hosts"]
    header = [c.value for c in ws[1]]
    ws.cell(2, header.index("Owner") + 1).value = "Clinical apps team"
    ws.cell(2, header.index("Notes") + 1).value = "moves in wave 2"
    wb.save(book)
    for _ in range(2):
        code, _, err = run("--db", str(db), "import", str(book))
        assert code == 0 and err == "", err
    with Store(db) as s:
        assert s.rows("annotations")[0]["owner"] == "Clinical apps team"


# --- a large file, streamed --------------------------------------------------------------------------------------

# Runs main.py and, as it exits, writes its peak resident memory (VmHWM, which starts afresh at exec; wait4's
# ru_maxrss would also count the pages of the test process the child was forked from) to the file in argv[1].
MEASURED_MAIN = """
import atexit, re, runpy, sys
report, sys.argv = sys.argv[1], sys.argv[2:]
def peak():
    with open("/proc/self/status") as status, open(report, "w") as out:
        out.write(re.search(r"VmHWM:\\s+(\\d+) kB", status.read())[1])
atexit.register(peak)
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_measured(argv, folder: Path) -> tuple[int, str, int]:
    """Run main.py with `argv`; return (exit status, stderr, its peak resident memory in bytes)."""
    report = folder / "peak.txt"
    proc = subprocess.run([sys.executable, "-c", MEASURED_MAIN, str(report), str(ROOT / "main.py"), *argv],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stderr, int(report.read_text()) * 1024

def test_import_of_a_large_nmap_file_streams_in_bounded_memory(tmp_path):
    """~100 MB of nmap -v output (mostly down hosts): imported with peak memory well below the file's size.
    (A 1 GB run: python fuzz/run.py --big-nmap-mb 1024.)"""
    path = tmp_path / "big.xml"
    hosts, up = targets.write_big_nmap_xml(path, 96 << 20)
    size = path.stat().st_size
    started = time.monotonic()
    code, err, peak = run_measured(["--db", str(tmp_path / "big.db"), "-q", "import", str(path)], tmp_path)
    assert code == 0 and err == "", err
    assert peak < size * 0.75 and peak < 120 << 20, f"peak RSS {peak >> 20} MiB for a {size >> 20} MiB file"
    with Store(tmp_path / "big.db") as s:
        assert len(s.hosts()) == up
    assert time.monotonic() - started < 120


# --- outputs and stores that are not regular files (issue 15) ----------------------------------------------


def special_files(tmp_path: Path) -> list[Path]:
    """A FIFO, a character device like /dev/null (made here, as root, so a regression replaces only it), and a
    symbolic link to the FIFO — never the machine's own /dev/null."""
    import stat
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link-to-fifo"
    link.symlink_to(fifo)
    made = [fifo, link]
    if os.geteuid() == 0:
        device = tmp_path / "null"
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        made.append(device)
    return made


def test_export_and_collect_never_replace_a_special_file_even_with_force(db, tmp_path):
    for target in special_files(tmp_path):
        kind = os.lstat(target).st_mode
        for argv in (("--db", str(db), "export", "-f", "json", "-o", str(target), "--force"),
                     ("collect", "--out", str(target), "--force")):
            code, out, err = run(*argv)
            assert code == 1 and "not a regular file" in err and len(err.strip().splitlines()) == 1, (argv, err)
            assert os.lstat(target).st_mode == kind  # still a FIFO, a link or a device
    left = {p.name for p in tmp_path.iterdir()} - {"estate.db", "estate.db-wal", "estate.db-shm"}
    assert left == {"fifo", "link-to-fifo"} | ({"null"} if os.geteuid() == 0 else set())  # no file written beside


def test_a_special_file_is_refused_as_a_store_and_nothing_is_written_beside_it(tmp_path):
    for target in special_files(tmp_path):
        code, out, err = run("--db", str(target), "scans")
        assert code == 1 and "not a regular file" in err, err
        assert not Path(f"{target}-journal").exists() and not Path(f"{target}-wal").exists()


@pytest.mark.parametrize("rate", ["0", "-5"])
def test_a_rate_cap_below_one_is_refused_not_read_as_no_cap(db, rate):
    code, out, err = run("--db", str(db), "scan", "network", "127.0.0.1", "--max-rate", rate)
    assert code == 1 and "at least 1 packet per second" in err and "Traceback" not in err


# --- terminal escapes in names from the network (issue 15) --------------------------------------------------

TERMINAL_HOSTILE = "evil\x1b]0;pwned\x07\x1b[31mred\x1b[0m\u202ehost"


def test_names_from_the_network_never_reach_the_terminal_as_escapes(tmp_path):
    """A host name holding a window-title sequence (ESC ] 0; … BEL), colour codes and a bidi override: stored as
    given, shown escaped by every command that prints it."""
    from discovery.records.model import Scan
    from tests.builders import make_report
    db = tmp_path / "estate.db"
    with Store(db) as store:
        for n in (1, 2):
            scan = store.start_scan(Scan(kind="import", started_at=T0, targets=(TERMINAL_HOSTILE,)))
            store.write_host_report(scan, make_report(hostname=TERMINAL_HOSTILE, address="10.9.0.5",
                                                      observed_at=T0))
            store.finish_scan(scan, "completed")
    outputs = []
    for argv in (("scans",), ("-v", "analyze"), ("diff", "1", "2"),
                 ("export", "-f", "azure-migrate", "-o", str(tmp_path / "azure.csv")),
                 ("export", "-f", "json", "-o", str(tmp_path / "estate.json"))):
        code, out, err = run("--db", str(db), *argv)
        assert code == 0, (argv, err)
        outputs.append((argv, out + err))
    shown = "".join(text for _, text in outputs)
    assert "evil" in shown  # the name was printed somewhere (the scans list, the risk line)
    for argv, text in outputs:
        assert not any(c in text for c in "\x1b\x07\u202e"), argv
    assert "\\x1b]0;pwned\\x07" in shown
