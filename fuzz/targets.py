"""Fuzz targets for every parser of hostile input, shared by tests/unit/test_fuzz_parsers.py (hypothesis, in CI)
and fuzz/run.py (a seeded mutational fuzzer, run for longer by hand).

A target takes one input and either returns (the parser coped) or raises what the parser documents
(EstateError and its kinds: NmapXmlError, BundleError, WorkbookError). Anything else that escapes is a bug:
in the CLI it would become "unexpected …" and, mid-import, a half-written store.

Also here: the seeds (recorded tool output from tests/data/), the mutations both fuzzers apply to them,
write_big_nmap_xml, the generator of large nmap files for the streaming test and benchmark, and
write_workbook_bomb, the generator of small workbooks that inflate hugely (tests/unit/test_workbook_bombs.py).
"""

from __future__ import annotations

import io
import json
import re
import struct
import tempfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


# --- seeds ----------------------------------------------------------------------------------------------

def nmap_seeds() -> list[bytes]:
    """Return every recorded nmap XML file in tests/data/ (real nmap output and hand-made segments)."""
    return [p.read_bytes() for p in sorted(DATA.rglob("*.xml"))]


def bundle_seed() -> dict:
    """Return the recorded version-1 bundle document (tests/data/bundles/)."""
    return json.loads((DATA / "bundles" / "version1-app01.json").read_text())


def ssh_seeds() -> dict[str, str]:
    """Return {"<host>/<command>": output} for every recorded SSH command output in tests/data/ssh/."""
    seeds = {}
    for path in sorted((DATA / "ssh").rglob("*")):
        if path.is_file() and path.suffix != ".py":
            seeds[f"{path.parent.name}/{path.name}"] = path.read_bytes().decode("utf-8", errors="replace")
    return seeds


# Values that broke parsers before, or that parsers commonly mishandle.
INTERESTING_VALUES = (
    "", " ", "x", "-1", "0", "65536", "99999999999999999999", "9" * 5000, "1e400", "nan", "inf", "-inf",
    "\u00b2", "\u0663", "\u00bd", "\uff11", "Mon Jan 01 00:00:00 99999", "Feb 30 1999", "::", "[::1]:*",
    "0.0.0.0:", ":", "%", "a" * 10_000, "\u202e\u200b\u0085\u009b\u007f", "=cmd|' /C calc'!A0", "\ufffd",
    "\ud7ff", "true", "null", "[]", "{}", "\\x41", '"', "&amp;", "&#133;", "h-000000000000",
)
# Pieces of XML that mutations splice in.
XML_TOKENS = (b"<", b">", b"</", b"/>", b'"', b"&", b"&amp;", b"&#x85;", b"&#1;", b"<!ENTITY a 'b'>", b"&a;",
              b"<!DOCTYPE nmaprun [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>", b"<![CDATA[x]]>", b"<?pi?>",
              b"<table>", b"</table>", b'portid="x"', b'percent="nan"', b'endtime="99999999999999"',
              b"\xff", b"\xc3", b"\x00", b"\x1b[31m", b"\xef\xbb\xbf", b'<?xml version="1.0" encoding="UTF-16"?>')


def _replace_attribute(data: bytes, which: int, value: str) -> bytes:
    spans = [m.span(1) for m in re.finditer(rb'="([^"]*)"', data)]
    if not spans:
        return data
    start, end = spans[which % len(spans)]
    escaped = value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").encode("utf-8", "replace")
    return data[:start] + escaped + data[end:]


def mutate(data: bytes, ops) -> bytes:
    """Return `data` changed by `ops`, a sequence of (kind, position, size, choice, text) tuples.

    Kinds: "flip" a byte, "delete" a slice, "insert" a token, "dup" a slice, "truncate", and "attr", which
    sets one attribute value (position picks which) to an interesting value or `text`, so that mutations
    reach the transforms behind the XML parser and not only the parser.
    """
    for kind, position, size, choice, text in ops:
        n = len(data)
        at = position % (n + 1)
        if kind == "flip" and n:
            at = position % n
            data = data[:at] + bytes([data[at] ^ (1 << (choice % 8))]) + data[at + 1:]
        elif kind == "delete":
            data = data[:at] + data[at + size:]
        elif kind == "insert":
            data = data[:at] + XML_TOKENS[choice % len(XML_TOKENS)] + data[at:]
        elif kind == "dup":
            data = data[:at] + data[at:at + size] * 2 + data[at + size:]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "attr":
            value = text if choice % 3 == 0 else INTERESTING_VALUES[choice % len(INTERESTING_VALUES)]
            data = _replace_attribute(data, position, value)
    return data


def mutate_random(rng, data: bytes, count: int = 3) -> bytes:
    """Return `data` after `count` mutations drawn from `rng` (random.Random): fuzz/run.py's mutator."""
    kinds = ("flip", "delete", "insert", "dup", "truncate", "attr", "attr", "attr")
    ops = [(rng.choice(kinds), rng.randrange(1 << 30), rng.randrange(1, 64), rng.randrange(1 << 16),
            rng.choice(INTERESTING_VALUES) + "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(8))))
           for _ in range(count)]
    if rng.random() < 0.05:
        ops[-1] = ("truncate", rng.randrange(1 << 30), 0, 0, "")
    return mutate(data, ops)


# --- targets --------------------------------------------------------------------------------------------

def target_nmap_xml(data: bytes) -> str:
    """Parse `data` as nmap XML; return "parsed", "cut short" or "refused".

    Raises AssertionError if the pre-import check (check_nmap_xml, which runs before the store is opened)
    and the parser disagree: a file the check passes must never fail halfway through the import.
    """
    from discovery.records.model import EstateError
    from scanners.nmap_xml import RunInfo, check_nmap_xml, iter_nmap_xml

    try:
        complete = check_nmap_xml(io.BytesIO(data))
    except EstateError:
        checked = "refused"
    else:
        checked = "parsed" if complete else "cut short"
    run = RunInfo()
    try:
        for _ in iter_nmap_xml(io.BytesIO(data), run=run):
            pass
    except EstateError:
        parsed = "refused"
    else:
        parsed = "parsed" if run.complete else "cut short"
    assert checked == parsed, f"check_nmap_xml says {checked}, iter_nmap_xml {parsed}"
    return parsed


def target_bundle(data: bytes, store_dir: str | None = None) -> str:
    """Read `data` as a bundle; a bundle that reads must also store without error. Return "stored" or "refused"."""
    from discovery.files.bundle import BundleError, decode_bundle, restamp_source

    try:
        bundle = decode_bundle(data, name="fuzz.estate")
    except BundleError as error:
        assert "\n" not in str(error) and len(str(error)) < 2000, "a refusal must be one short line"
        return "refused"
    _store_reports([restamp_source(r) for r in bundle.reports], store_dir)
    return "stored"


def bundle_bytes(doc: dict, *, compress: bool = True) -> bytes:
    """Return a bundle file's bytes for `doc` with a freshly computed digest (as a forger would)."""
    from discovery.files.bundle import digest, encode_bundle

    doc = {**doc, "sha256": None}
    doc["sha256"] = digest(doc)
    return encode_bundle(doc) if compress else json.dumps(doc).encode("utf-8")


def mutate_bundle_doc(doc: dict, ops) -> dict:
    """Return a copy of bundle document `doc` with leaves replaced: ops are (path index, replacement value)."""
    doc = json.loads(json.dumps(doc))
    for index, replacement in ops:
        leaves = list(_leaves(doc, ()))
        if not leaves:
            break
        path = leaves[index % len(leaves)]
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = replacement
    return doc


def _leaves(value, path):
    if isinstance(value, dict):
        for key, item in value.items():
            yield path + (key,)
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield path + (i,)
            yield from _leaves(item, path + (i,))


def _store_reports(reports, store_dir: str | None) -> None:
    from discovery.records.model import Scan
    from discovery.storage.store import Store

    with tempfile.TemporaryDirectory(dir=store_dir) as folder, Store(Path(folder) / "fuzz.db") as store:
        scan = store.start_scan(Scan(kind="import", started_at=T0, targets=("fuzz",)))
        for report in reports:
            store.write_host_report(scan, report)
        store.finish_scan(scan, "completed")


def target_nmap_store(data: bytes, store_dir: str | None = None) -> str:
    """Parse `data` as nmap XML and store every host it yields; return "stored" or "refused"."""
    from discovery.records.model import EstateError
    from scanners.nmap_xml import iter_nmap_xml

    try:
        reports = [e for e in iter_nmap_xml(io.BytesIO(data), source="nmap") if hasattr(e, "host")]
    except EstateError:
        return "refused"
    _store_reports(reports, store_dir)
    return "stored"


def write_workbook(path: Path, hosts: list[list], groups: list[list] | None) -> None:
    """Write an xlsx at `path` with a Hosts sheet (`hosts`: rows, the first the header) and optionally Move groups."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Hosts"
    for row in hosts:
        ws.append([_writable(v) for v in row])
    if groups is not None:
        sheet = wb.create_sheet("Move groups")
        for row in groups:
            sheet.append([_writable(v) for v in row])
    wb.save(path)


def _writable(value):
    """Return `value` as a spreadsheet can hold it (a sheet's author could not type the rest either)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return float(value)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def target_workbook(store, path: Path) -> str:
    """Read the workbook at `path` against `store` and apply it; return "applied" or "refused".

    Problems must be one-line descriptions; whatever is applied must be storable.
    """
    from discovery.service import apply_annotations
    from scanners.workbook_annotations import WorkbookError, describe_problems, read_workbook

    try:
        plan = read_workbook(store, path)
    except WorkbookError as error:
        assert "\n" not in str(error), "a refusal must be one line"
        return "refused"
    if plan.problems:
        describe_problems(plan)
    apply_annotations(store, plan)
    return "applied"


def ssh_transforms():
    """Return [(name, function of one text)] for every transform of SSH command output and the local parsers."""
    from scanners import host_facts, linux_commands as s, platform_software

    def sections(text):
        return s.transform_sections(text, "@@estatemap-0123456789abcdef")

    def session(text):
        return s.transform_session(text, s.transform_ps(text))

    return [
        ("sections", sections), ("uname", s.transform_uname), ("hostname", s.transform_hostname),
        ("btime", s.transform_btime), ("dmi", s.transform_dmi_output), ("meminfo", s.transform_meminfo),
        ("lscpu", s.transform_lscpu), ("proc-cpuinfo", s.transform_proc_cpuinfo), ("lsblk", s.transform_lsblk),
        ("sys-block", s.transform_sys_block), ("df", s.transform_df),
        ("ip", lambda t: s.transform_ip(t, t, T0)), ("sys-net", lambda t: s.transform_sys_net(t, T0)),
        ("ps", s.transform_ps), ("session", session), ("ss", s.transform_ss), ("netstat", s.transform_netstat),
        ("proc-net", s.transform_proc_net), ("proc-net-big", lambda t: s.transform_proc_net(t, "big")),
        ("stat", s.transform_stat),
        ("sample-ss", lambda t: s.transform_sample("ss-tcp", t, {}, T0)),
        ("os-release", host_facts.transform_os_release), ("cpuinfo", host_facts.transform_cpuinfo),
        ("dpkg", lambda t: platform_software.transform_dpkg(t, T0)),
        ("rpm", lambda t: platform_software.transform_rpm(t, T0)),
    ]


def target_ssh_text(text: str) -> int:
    """Run every SSH and local text transform on `text`; return how many ran. Nothing may raise."""
    transforms = ssh_transforms()
    for name, transform in transforms:
        try:
            transform(text)
        except Exception as error:
            raise AssertionError(f"transform {name} raised {type(error).__name__}: {error}") from error
    return len(transforms)


def target_ssh_inventory(texts: dict[str, str], statuses: dict[str, int | None]) -> object:
    """Run transform_inventory on outputs built from `texts` (section name -> stdout; sections may be missing,
    as when the output ends early); return the Inventory. Nothing may raise."""
    from scanners import linux_commands as s

    outputs = {name: s.CommandResult(stdout=text, status=statuses.get(name, 0)) for name, text in texts.items()}
    return s.transform_inventory(outputs, T0, port_names=lambda keys: {})


def ssh_section_names() -> tuple[str, ...]:
    """Return every section name the inventory script can print."""
    from scanners import linux_commands as s

    return tuple(s.INVENTORY) + ("ps",) + tuple(name for names in s.FALLBACKS.values() for name in names) + ("ip-addr",)


def target_safe_cells(text: str) -> None:
    """Check that `text` never becomes a formula in CSV or xlsx and keeps no character xlsx cannot hold."""
    from exports.safe_cells import ILLEGAL_CHARACTERS_RE, csv_value, looks_like_formula, xlsx_value

    field = csv_value(text)
    assert isinstance(field, str)
    assert not looks_like_formula(field), f"CSV field {field[:40]!r} could be evaluated"
    assert not ILLEGAL_CHARACTERS_RE.search(field)
    value = xlsx_value(None, text) if not looks_like_formula(text) else None
    if isinstance(value, str):
        assert not value.startswith("=") and not ILLEGAL_CHARACTERS_RE.search(value)


def xlsx_round_trip(texts: list[str], path: Path) -> None:
    """Write `texts` to one xlsx sheet through safe_cells and read it back: every cell is a string, never a formula."""
    import openpyxl

    from exports.safe_cells import xlsx_value

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Hosts")
    for text in texts:
        ws.append([xlsx_value(ws, text)])
    wb.save(path)
    back = openpyxl.load_workbook(path)
    for row in back["Hosts"].iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"{cell.value!r} became a formula"
            assert cell.value is None or isinstance(cell.value, str)


# --- workbook bombs ---------------------------------------------------------------------------------------

SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml."
BOMB_HEADER = ("Hostname", "Host ID", "Owner", "Notes")
BOMBS = ("shared-strings", "huge-cell", "lying-size", "many-parts")


@dataclass(frozen=True)
class ZipPart:
    """One member of a zip as written: `data` is what is stored (raw deflate for method 8); `size` and `crc`
    are what the zip declares, which a bomb may make lie."""
    name: str
    data: bytes
    size: int
    crc: int
    method: int = 8


def zip_part(name: str, content: bytes, *, stored: bool = False) -> ZipPart:
    """Return `content` as zip member `name`, deflated (or stored as it is)."""
    if stored:
        return ZipPart(name, content, len(content), zlib.crc32(content), method=0)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return ZipPart(name, packer.compress(content) + packer.flush(), len(content), zlib.crc32(content))


def repeated_part(name: str, head: bytes, chunk: bytes, times: int, tail: bytes) -> ZipPart:
    """Return the part head + chunk * times + tail, deflated in the time of one chunk: after a full flush the
    compressor starts afresh, so every chunk compresses to the same bytes (a 1 GiB part takes a moment)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
    once = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    assert once == again
    end = packer.compress(tail) + packer.flush()
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(tail, crc)
    return ZipPart(name, start + once * times + end, len(head) + len(chunk) * times + len(tail), crc)


def write_zip(path: Path, parts: list[ZipPart]) -> None:
    """Write `parts` as a zip at `path`, declaring each part's size and checksum as given."""
    directory = []
    with open(path, "wb") as f:
        for p in parts:
            name = p.name.encode()
            offset = f.tell()
            f.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, p.method, 0, 0x21, p.crc, len(p.data), p.size,
                                len(name), 0) + name)
            f.write(p.data)
            directory.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, p.method, 0, 0x21, p.crc,
                                         len(p.data), p.size, len(name), 0, 0, 0, 0, 0, offset) + name)
        start = f.tell()
        f.write(b"".join(directory))
        count, size = len(parts), f.tell() - start
        if count > 0xFFFF:  # zip64: the counts go in a record of their own
            end = f.tell()
            f.write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, start))
            f.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1))
            count = 0xFFFF
        f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, start, 0))


def workbook_parts(sheet: ZipPart, strings: ZipPart | None = None) -> list[ZipPart]:
    """Return the parts of a minimal .xlsx whose one sheet, Hosts, is `sheet` (and shared strings `strings`)."""
    overrides = (f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}sheet.main+xml"/>'
                 f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}worksheet+xml"/>'
                 + (f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_TYPE}sharedStrings+xml"/>'
                    if strings else ""))
    relationships = '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{}</Relationships>'
    relationship = '<Relationship Id="{}" Type="' + _REL_NS + '/{}" Target="{}"/>'
    return [
        zip_part("[Content_Types].xml", (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            f'<Default Extension="xml" ContentType="application/xml"/>{overrides}</Types>').encode()),
        zip_part("_rels/.rels", relationships.format(relationship.format("rId1", "officeDocument",
                                                                         "xl/workbook.xml")).encode()),
        zip_part("xl/workbook.xml", (f'<workbook xmlns="{SHEET_NS}" xmlns:r="{_REL_NS}"><sheets>'
                                     '<sheet name="Hosts" sheetId="1" r:id="rId1"/></sheets></workbook>').encode()),
        zip_part("xl/_rels/workbook.xml.rels", relationships.format(
            relationship.format("rId1", "worksheet", "worksheets/sheet1.xml")
            + (relationship.format("rId2", "sharedStrings", "sharedStrings.xml") if strings else "")).encode()),
        sheet, *([strings] if strings else [])]


def _inline_row(number: int, values) -> str:
    cells = "".join(f'<c r="{chr(65 + i)}{number}" t="inlineStr"><is><t>{v}</t></is></c>'
                    for i, v in enumerate(values) if v is not None)
    return f'<row r="{number}">{cells}</row>'


def write_workbook_bomb(path: Path, kind: str, host_id: str = "h-000000000000", scale: float = 1.0) -> str:
    """Write a small workbook at `path` that inflates hugely, of one of BOMBS; return what it is.

    shared-strings: 30 million shared strings (480 MB inflated) in 1.3 MB, as in issue 15;
    huge-cell: one Notes cell of 1.5 GB in 1.5 MB, as in issue 15;
    lying-size: the shared strings again, each part declaring less than it inflates to (1 MiB), so that no
        declared size or ratio gives it away;
    many-parts: a valid Hosts sheet and 70,000 empty parts (past 65,535: the zip needs its zip64 record).
    `scale` shrinks or grows the inflated sizes (the fuzzer's variations)."""
    header_row = "".join(f'<c r="{chr(65 + i)}1" t="s"><v>{i}</v></c>' for i in range(len(BOMB_HEADER)))
    sheet_head = f'<worksheet xmlns="{SHEET_NS}"><sheetData>'
    sheet_tail = "</sheetData></worksheet>"
    if kind in ("shared-strings", "lying-size"):
        sheet = zip_part("xl/worksheets/sheet1.xml", (
            f'{sheet_head}<row r="1">{header_row}</row>{_inline_row(2, ["app01", host_id, "x", "y"])}'
            f'{sheet_tail}').encode())
        chunk = b"<si><t>x</t></si>" * 65536  # 1 MiB
        times = max(1, round(458 * scale))   # 30 million strings
        head = (f'<sst xmlns="{SHEET_NS}">' + "".join(f"<si><t>{h}</t></si>" for h in BOMB_HEADER)).encode()
        strings = repeated_part("xl/sharedStrings.xml", head, chunk, times, b"</sst>")
        if kind == "lying-size":
            strings = ZipPart(strings.name, strings.data, 1 << 20, strings.crc)
        write_zip(path, workbook_parts(sheet, strings))
        return f"{times * 65536:,} shared strings, {strings.size:,} bytes declared"
    if kind == "huge-cell":
        head = (f'{sheet_head}{_inline_row(1, BOMB_HEADER)}<row r="2"><c r="B2" t="inlineStr"><is><t>{host_id}'
                '</t></is></c><c r="D2" t="inlineStr"><is><t>').encode()
        times = max(1, round(1430 * scale))  # 1.5 GB
        sheet = repeated_part("xl/worksheets/sheet1.xml", head, b"x" * (1 << 20), times,
                              f"</t></is></c></row>{sheet_tail}".encode())
        write_zip(path, workbook_parts(sheet))
        return f"a cell of {times << 20:,} characters"
    if kind == "many-parts":
        sheet = zip_part("xl/worksheets/sheet1.xml", (
            f'{sheet_head}{_inline_row(1, BOMB_HEADER)}{_inline_row(2, ["app01", host_id, "x", None])}'
            f'{sheet_tail}').encode())
        count = max(1, round(70_000 * scale))
        empty = zip_part("x", b"")
        write_zip(path, workbook_parts(sheet) + [ZipPart(f"junk/{n}", empty.data, 0, 0) for n in range(count)])
        return f"{count:,} extra parts"
    raise ValueError(f"unknown bomb {kind!r}")


# --- a large nmap file ------------------------------------------------------------------------------------

_UP = ('<host starttime="1700000000" endtime="1700000100"><status state="up" reason="arp-response" reason_ttl="0"/>\n'
       '<address addr="10.{a}.{b}.{c}" addrtype="ipv4"/>'
       '<address addr="52:54:00:{a:02x}:{b:02x}:{c:02x}" addrtype="mac" vendor="QEMU"/>\n'
       '<hostnames><hostname name="host-{a}-{b}-{c}.example.org" type="PTR"/></hostnames>\n<ports>'
       '<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/>'
       '<service name="ssh" product="OpenSSH" version="9.2p1" method="probed" conf="10">'
       '<cpe>cpe:/a:openbsd:openssh:9.2p1</cpe></service></port>\n'
       '<port protocol="tcp" portid="5432"><state state="open" reason="syn-ack" reason_ttl="64"/>'
       '<service name="postgresql" product="PostgreSQL DB" version="15.4" method="probed" conf="10"/></port>'
       '</ports>\n</host>\n')
_DOWN = '<host><status state="down" reason="no-response" reason_ttl="0"/>\n<address addr="10.{a}.{b}.{c}" addrtype="ipv4"/>\n</host>\n'


def write_big_nmap_xml(path: Path, size: int, up_every: int = 2000) -> tuple[int, int]:
    """Write an nmap -v -oX file of about `size` bytes at `path`: mostly down hosts (as a -v scan of a large,
    sparse range is), one up host in `up_every`. Return (hosts written, up hosts)."""
    n = up = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner="nmap" '
                'args="nmap -v -sV -oX big.xml 10.0.0.0/8" start="1700000000" version="7.93" '
                'xmloutputversion="1.05">\n')
        while f.tell() < size:
            a, b, c = (n >> 16) & 255, (n >> 8) & 255, n & 255
            is_up = n % up_every == 0
            f.write((_UP if is_up else _DOWN).format(a=a, b=b, c=c))
            n, up = n + 1, up + is_up
        f.write(f'<runstats><finished time="1700000200" exit="success"/><hosts up="{up}" down="{n - up}" '
                f'total="{n}"/></runstats>\n</nmaprun>\n')
    return n, up



# --- passive capture (issue 17) ------------------------------------------------------------------------------
# Frames are built here with struct, byte by byte from their standards, so every seed's content is known:
# Ethernet II, IPv4 (header checksum computed), TCP (checksum left zero: neither dpkt nor the import checks it),
# UDP, ARP; DICOM A-ASSOCIATE-RQ/-AC (PS3.8 §9.3), HL7 v2 over MLLP, a TLS ClientHello with SNI (RFC 8446,
# RFC 6066), HTTP/1.1, a DNS query and answer (RFC 1035), DHCP (RFC 2131/2132). bench/passive.py builds its
# traffic with the same functions.

CAPTURES = DATA / "captures"
PASSIVE_T0 = 1_796_000_000.0
TH_FIN, TH_SYN, TH_PSH, TH_ACK = 0x01, 0x02, 0x08, 0x10
ETH_IP, ETH_ARP = b"\x08\x00", b"\x08\x06"


def ipv4(source: bytes, target: bytes, protocol: int, payload: bytes, ident: int = 0) -> bytes:
    """An IPv4 packet (no options, don't-fragment, TTL 64) around `payload`, its header checksum computed."""
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, 64, protocol, 0,
                         source, target)
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    checksum = ~(total + (total >> 16)) & 0xFFFF
    return header[:10] + checksum.to_bytes(2, "big") + header[12:] + payload


def tcp_frame(smac: bytes, dmac: bytes, source: bytes, target: bytes, sport: int, dport: int, flags: int,
              payload: bytes = b"", seq: int = 0, ack: int = 0, ident: int = 0) -> bytes:
    """An Ethernet frame holding one TCP segment (20-byte header, window 64240)."""
    segment = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 64240,
                          0, 0) + payload
    return dmac + smac + ETH_IP + ipv4(source, target, 6, segment, ident)


def udp_frame(smac: bytes, dmac: bytes, source: bytes, target: bytes, sport: int, dport: int, payload: bytes,
              ident: int = 0) -> bytes:
    """An Ethernet frame holding one UDP datagram (checksum zero: none, which IPv4 allows)."""
    datagram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return dmac + smac + ETH_IP + ipv4(source, target, 17, datagram, ident)


def arp_frame(smac: bytes, source: bytes, tmac: bytes, target: bytes, reply: bool) -> bytes:
    """An ARP request (broadcast, asking who has `target`) or reply (`source` is at `smac`, sent to `tmac`)."""
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2 if reply else 1, smac, source,
                      tmac if reply else bytes(6), target)
    return (tmac if reply else b"\xff" * 6) + smac + ETH_ARP + arp


def _item(kind: int, value: bytes) -> bytes:
    return bytes([kind, 0]) + len(value).to_bytes(2, "big") + value


def _dicom_uid(text: str) -> bytes:
    raw = text.encode()
    return raw + b"\x00" * (len(raw) % 2)


def dicom_associate_pdu(request: bool, called: str, calling: str) -> bytes:
    """An A-ASSOCIATE-RQ (CT image storage and verification proposed) or -AC, as dcmtk's tools send them."""
    transfer = _item(0x40, _dicom_uid("1.2.840.10008.1.2"))
    contexts = (_item(0x20, b"\x01\x00\x00\x00" + _item(0x30, _dicom_uid("1.2.840.10008.5.1.4.1.1.2")) + transfer)
                + _item(0x20, b"\x03\x00\x00\x00" + _item(0x30, _dicom_uid("1.2.840.10008.1.1")) + transfer)
                if request else _item(0x21, b"\x01\x00\x00\x00" + transfer))
    body = (b"\x00\x01\x00\x00" + called.encode().ljust(16) + calling.encode().ljust(16) + bytes(32)
            + _item(0x10, _dicom_uid("1.2.840.10008.3.1.1.1")) + contexts
            + _item(0x50, _item(0x51, (16384).to_bytes(4, "big"))
                    + _item(0x52, _dicom_uid("1.2.276.0.7230010.3.0.3.6.4")) + _item(0x55, b"OFFIS_DCMTK_364")))
    return bytes([1 if request else 2, 0]) + len(body).to_bytes(4, "big") + body


def dicom_p_data(value: bytes) -> bytes:
    """A P-DATA-TF PDU carrying `value` as one presentation data value (a dataset fragment)."""
    pdv = len(value).to_bytes(4, "big") + b"\x01\x02" + value
    return b"\x04\x00" + len(pdv).to_bytes(4, "big") + pdv


def tls_client_hello(server_name: str) -> bytes:
    """A TLS 1.3 ClientHello record: server_name, supported_versions (1.3, 1.2), supported_groups."""
    name = server_name.encode()
    sni = (len(name) + 3).to_bytes(2, "big") + b"\x00" + len(name).to_bytes(2, "big") + name
    extensions = (b"\x00\x00" + len(sni).to_bytes(2, "big") + sni + b"\x00\x2b\x00\x05\x04\x03\x04\x03\x03"
                  + b"\x00\x0a\x00\x04\x00\x02\x00\x1d")
    body = (b"\x03\x03" + bytes(range(32)) + b"\x20" + bytes(32) + b"\x00\x04\x13\x01\x13\x02" + b"\x01\x00"
            + len(extensions).to_bytes(2, "big") + extensions)
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


def tls_server_hello() -> bytes:
    """A TLS 1.3 ServerHello record (supported_versions: 1.3)."""
    body = (b"\x03\x03" + bytes(range(32, 64)) + b"\x20" + bytes(32) + b"\x13\x01\x00" + b"\x00\x06"
            + b"\x00\x2b\x00\x02\x03\x04")
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(handshake).to_bytes(2, "big") + handshake


def hl7_mllp(sender: str, receiver: str, message_type: str, control_id: str, *segments: str) -> bytes:
    """An HL7 v2.5 message framed for MLLP (0x0B ... 0x1C 0x0D), MSH then `segments`."""
    msh = f"MSH|^~\\&|{sender}|HOSP|{receiver}|HOSP|20261101090000||{message_type}|{control_id}|P|2.5"
    return b"\x0b" + "\r".join((msh, *segments, "")).encode() + b"\x1c\r"


def _dns_name(name: str) -> bytes:
    return b"".join(len(part).to_bytes(1, "big") + part.encode() for part in name.split(".")) + b"\x00"


def dns_message(ident: int, name: str, answer: bytes | None) -> bytes:
    """A DNS query for `name` (A, IN), or its answer (one A record, the name compressed) if `answer` is given."""
    flags, answers = (0x8180, 1) if answer else (0x0100, 0)
    message = struct.pack("!HHHHHH", ident, flags, 1, answers, 0, 0) + _dns_name(name) + b"\x00\x01\x00\x01"
    if answer:
        message += b"\xc0\x0c\x00\x01\x00\x01" + (300).to_bytes(4, "big") + b"\x00\x04" + answer
    return message


def dhcp_message(kind: int, mac: bytes, xid: int, *, assigned: bytes = bytes(4), server: bytes = bytes(4),
                 options: bytes = b"") -> bytes:
    """A BOOTP/DHCP message (RFC 2131): `kind` is option 53 (1 discover, 2 offer, 3 request, 5 ack), `assigned`
    yiaddr, `options` more options (each type, length, value)."""
    op = 1 if kind in (1, 3, 4, 7, 8) else 2
    fixed = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", op, 1, 6, 0, xid, 0, 0x8000, bytes(4), assigned, server,
                        bytes(4), mac.ljust(16, b"\x00"), bytes(64), bytes(128))
    return fixed + b"\x63\x82\x53\x63" + bytes([53, 1, kind]) + options + b"\xff"


def _option(kind: int, value: bytes) -> bytes:
    return bytes([kind, len(value)]) + value


MODALITY, PACS, LAB, EHR, DNS_SERVER, DHCP_SERVER = (bytes((10, 20, 0, n)) for n in (21, 10, 31, 40, 53, 1))
_MAC = {address: b"\x02\x00\x0a\x14\x00" + address[3:] for address in (MODALITY, PACS, LAB, EHR, DNS_SERVER,
                                                                        DHCP_SERVER)}
PATIENT_VALUES = (b"DOE^JOHN", b"123456789", b"19700101")   # only ever in P-DATA and PID segments


def _tcp_session(client: bytes, server: bytes, sport: int, dport: int, exchanges: list[tuple[bool, bytes]]
                 ) -> list[bytes]:
    """A TCP connection's frames: handshake, then each (from the client?, payload) in order, then FINs."""
    c, s = 1000, 5000
    cmac, smac = _MAC[client], _MAC[server]
    frames = [tcp_frame(cmac, smac, client, server, sport, dport, TH_SYN, seq=c),
              tcp_frame(smac, cmac, server, client, dport, sport, TH_SYN | TH_ACK, seq=s, ack=c + 1),
              tcp_frame(cmac, smac, client, server, sport, dport, TH_ACK, seq=c + 1, ack=s + 1)]
    c, s = c + 1, s + 1
    for from_client, payload in exchanges:
        if from_client:
            frames.append(tcp_frame(cmac, smac, client, server, sport, dport, TH_PSH | TH_ACK, payload, c, s))
            c += len(payload)
        else:
            frames.append(tcp_frame(smac, cmac, server, client, dport, sport, TH_PSH | TH_ACK, payload, s, c))
            s += len(payload)
    frames.append(tcp_frame(cmac, smac, client, server, sport, dport, TH_FIN | TH_ACK, seq=c, ack=s))
    frames.append(tcp_frame(smac, cmac, server, client, dport, sport, TH_FIN | TH_ACK, seq=s, ack=c + 1))
    return frames


def passive_sessions() -> dict[str, list[bytes]]:
    """Return {name: frames} of whole exchanges, each the way it goes on the wire: a CT modality's DICOM
    association to a PACS (with a P-DATA holding a fake patient), a lab's HL7 ORU over MLLP (PID and OBX
    segments) and its ACK, a TLS handshake with SNI, an HTTP request and answer, DNS, DHCP and ARP."""
    association = [(True, dicom_associate_pdu(True, "PACS", "CT_SCANNER_01")),
                   (False, dicom_associate_pdu(False, "PACS", "CT_SCANNER_01")),
                   (True, dicom_p_data(b"\x10\x00\x10\x00PN\x08\x00DOE^JOHN\x10\x00\x20\x00LO\x09\x00123456789")),
                   (True, b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00"), (False, b"\x06\x00\x00\x00\x00\x04" + bytes(4))]
    oru = hl7_mllp("LAB", "EHR", "ORU^R01", "MSG0001", "PID|1||123456789||DOE^JOHN||19700101|M",
                   "OBX|1|NM|GLU^Glucose||5.4|mmol/L")
    ack = hl7_mllp("EHR", "LAB", "ACK^R01", "ACK0001", "MSA|AA|MSG0001")
    http_request = (b"GET /patients/123456789/report HTTP/1.1\r\nHost: ehr.hospital.example\r\n"
                    b"User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n")
    http_answer = b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Length: 8\r\n\r\nDOE^JOHN"
    client_mac, dns_mac, dhcp_mac = _MAC[MODALITY], _MAC[DNS_SERVER], _MAC[DHCP_SERVER]
    discover_options = (_option(12, b"CT-SCANNER-01") + _option(60, b"GEHC CT") + _option(50, MODALITY))
    return {
        "dicom": _tcp_session(MODALITY, PACS, 50104, 104, association),
        "hl7": _tcp_session(LAB, EHR, 50575, 2575, [(True, oru), (False, ack)]),
        "tls": _tcp_session(MODALITY, EHR, 50443, 443, [(True, tls_client_hello("ehr.hospital.example")),
                                                        (False, tls_server_hello() + b"\x17\x03\x03\x00\x20"
                                                         + bytes(32))]),
        "http": _tcp_session(LAB, EHR, 50080, 80, [(True, http_request), (False, http_answer)]),
        "dns": [udp_frame(client_mac, dns_mac, MODALITY, DNS_SERVER, 50053, 53,
                          dns_message(0x1234, "pacs.hospital.example", None)),
                udp_frame(dns_mac, client_mac, DNS_SERVER, MODALITY, 53, 50053,
                          dns_message(0x1234, "pacs.hospital.example", PACS))],
        "dhcp": [udp_frame(client_mac, b"\xff" * 6, bytes(4), b"\xff" * 4, 68, 67,
                           dhcp_message(1, client_mac, 0xCAFE, options=discover_options)),
                 udp_frame(dhcp_mac, client_mac, DHCP_SERVER, MODALITY, 67, 68,
                           dhcp_message(2, client_mac, 0xCAFE, assigned=MODALITY, server=DHCP_SERVER,
                                        options=_option(54, DHCP_SERVER))),
                 udp_frame(client_mac, b"\xff" * 6, bytes(4), b"\xff" * 4, 68, 67,
                           dhcp_message(3, client_mac, 0xCAFE, options=discover_options)),
                 udp_frame(dhcp_mac, client_mac, DHCP_SERVER, MODALITY, 67, 68,
                           dhcp_message(5, client_mac, 0xCAFE, assigned=MODALITY, server=DHCP_SERVER,
                                        options=_option(54, DHCP_SERVER)))],
        "arp": [arp_frame(_MAC[PACS], PACS, b"", MODALITY, reply=False),
                arp_frame(client_mac, MODALITY, _MAC[PACS], PACS, reply=True)],
    }


def passive_payload_seeds() -> list[bytes]:
    """Every TCP payload of passive_sessions(): what the header decoders are handed."""
    payloads = []
    for frames in passive_sessions().values():
        for frame in frames:
            if frame[12:14] == ETH_IP and frame[23] == 6 and len(frame) > 54:
                payloads.append(frame[54:])
    return payloads


def write_capture(path: Path, frames: list[bytes], *, pcapng: bool = False) -> Path:
    """Write `frames` (Ethernet) as a pcap or pcapng file at `path`, one a second from PASSIVE_T0."""
    import dpkt

    with open(path, "wb") as f:
        writer = dpkt.pcapng.Writer(f) if pcapng else dpkt.pcap.Writer(f)
        for n, frame in enumerate(frames):
            writer.writepkt(frame, ts=PASSIVE_T0 + n)
    return path


def capture_seeds() -> dict[str, bytes]:
    """Return {name: file bytes}: every session above written as pcap and as pcapng, and the public captures in
    tests/data/captures/ (Zeek's test traces: other link types, pcapng with two interfaces, a cut frame)."""
    seeds = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, frames in passive_sessions().items():
            for pcapng in (False, True):
                path = write_capture(Path(folder) / "seed", frames, pcapng=pcapng)
                seeds[f"{name}.{'pcapng' if pcapng else 'pcap'}"] = path.read_bytes()
    for path in sorted(CAPTURES.glob("*.pcap*")):
        seeds[path.name] = path.read_bytes()
    return seeds


# Integers that lengths and counts commonly mishandle: 0, 1, around the signed and unsigned limits.
INTERESTING_INTEGERS = (0, 1, 2, 4, 6, 0x10, 0x40, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
                        0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def mutate_bytes(data: bytes, ops) -> bytes:
    """Return binary `data` changed by `ops`, a sequence of (kind, position, size, value) tuples.

    Kinds: "flip" a bit, "byte" set one byte to `value`, "int" write INTERESTING_INTEGERS[value] big- or
    little-endian (`size` picks 1, 2 or 4 bytes and the order: lengths and counts), "delete" a slice, "insert"
    `size` bytes of `value`, "dup" a slice, "truncate".
    """
    for kind, position, size, value in ops:
        n = len(data)
        at = position % (n + 1)
        if kind == "flip" and n:
            at = position % n
            data = data[:at] + bytes([data[at] ^ (1 << (value % 8))]) + data[at + 1:]
        elif kind == "byte" and n:
            at = position % n
            data = data[:at] + bytes([value % 256]) + data[at + 1:]
        elif kind == "int":
            width = (1, 2, 4)[size % 3]
            number = INTERESTING_INTEGERS[value % len(INTERESTING_INTEGERS)] % (1 << (8 * width))
            data = data[:at] + number.to_bytes(width, "little" if size % 2 else "big") + data[at + width:]
        elif kind == "delete":
            data = data[:at] + data[at + size:]
        elif kind == "insert":
            data = data[:at] + bytes([value % 256]) * size + data[at:]
        elif kind == "dup":
            data = data[:at] + data[at:at + size] * 2 + data[at + size:]
        elif kind == "truncate":
            data = data[:at]
    return data


def mutate_bytes_random(rng, data: bytes, count: int = 3) -> bytes:
    """Return `data` after `count` mutate_bytes operations drawn from `rng` (random.Random): fuzz/run.py's."""
    kinds = ("flip", "flip", "byte", "int", "int", "delete", "insert", "dup", "truncate")
    ops = [(rng.choice(kinds), rng.randrange(1 << 30), rng.randrange(1, 64), rng.randrange(1 << 16))
           for _ in range(count)]
    return mutate_bytes(data, ops)


def _check_small(value, where: str = "") -> None:
    """Every value a passive result holds is bounded: short printable strings, ints, floats, None, and small
    lists and dicts of them (no payload bytes, no control characters)."""
    if isinstance(value, dict):
        assert len(value) <= 64, f"{where}: {len(value)} keys"
        for key, item in value.items():
            _check_small(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        assert len(value) <= 256, f"{where}: {len(value)} items"
        for n, item in enumerate(value):
            _check_small(item, f"{where}[{n}]")
    elif isinstance(value, str):
        assert len(value) <= 256 and value.isprintable(), f"{where}: {value[:80]!r}"
    else:
        assert value is None or isinstance(value, (bool, int, float)), f"{where}: {type(value).__name__}"


def _check_reports(reader, store_dir: str | None) -> int:
    """Build the reader's reports, check what they hold is bounded, store them if `store_dir`; return how many."""
    reports = list(reader.reports(T0))
    for report in reports:
        for record in (report.host, *report.services):
            for script in record.scripts:
                _check_small(script.data, script.id)
        for connection in report.connections:
            _check_small(connection.process, "process")
    if store_dir is not None:
        _store_reports(reports, store_dir)
    return len(reports)


def target_passive_frames(frames: list[bytes], store_dir: str | None = None) -> str:
    """Fold `frames` one by one through CaptureReader.packet() (Ethernet); nothing may raise, every frame is
    counted, what the reports hold is bounded, and they store. Return "folded" or "undecoded" (some frame
    was not Ethernet/IP the library could decode)."""
    from scanners.passive_capture import CaptureReader

    reader = CaptureReader()
    for n, frame in enumerate(frames):
        reader.packet(PASSIVE_T0 + n, frame)
    assert reader.packets == len(frames)
    for flow in reader.flows.values():
        _check_small(flow.facts, "facts")
    _check_reports(reader, store_dir)
    return "undecoded" if reader.undecoded else "folded"


def target_passive_decoders(data: bytes) -> str:
    """Run every header decoder of scanners.passive_protocols, the name protocols' (scanners.passive_names) and
    the LLDP/CDP ones (scanners.passive_l2) on `data`; none may raise and each result is None or bounded named
    fields. Return which decoders found something ("none" if none did)."""
    from scanners import passive_l2 as l2
    from scanners import passive_names as pn
    from scanners import passive_protocols as pp

    found = []
    for name, decode in (("dicom", pp.dicom_association), ("hl7", pp.hl7_msh), ("tls", pp.tls_hello),
                         ("http", pp.http_head), ("smb", pp.smb_negotiate), ("telnet", pp.telnet_negotiation),
                         ("ftp", pp.ftp_command), ("dhcp", pn.dhcp_message), ("dns", pn.dns_answers),
                         ("mdns", pn.mdns_answers), ("llmnr", pn.llmnr_answers), ("netbios", pn.netbios_names),
                         ("lldp", l2.lldp), ("cdp", l2.cdp), ("l2", l2.announcement)):
        result = decode(data)
        _check_small(result, name)
        if result is not None:
            found.append(name)
    return "+".join(found) or "none"


def target_capture_file(data: bytes, folder: str | None = None, store_dir: str | None = None) -> str:
    """Read `data` as a capture file through CaptureReader.read: it must end with a result (all of it read, or
    read up to damage with a warning) or an EstateError, never another exception. Return "read", "damaged"
    (read up to the damage) or "refused"."""
    from discovery.records.model import EstateError, ScanContext
    from scanners.passive_capture import CaptureReader

    with tempfile.TemporaryDirectory(dir=folder) as where:
        path = Path(where) / "fuzz.pcap"
        path.write_bytes(data)
        reader, ctx = CaptureReader(), ScanContext()
        try:
            reader.read(path, ctx)
        except EstateError as error:
            assert "\n" not in str(error), "a refusal must be one line"
            return "refused"
    _check_reports(reader, store_dir)
    return "damaged" if any("damaged" in w for w in ctx.warnings) else "read"
