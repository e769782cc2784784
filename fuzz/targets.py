"""Fuzz targets for every parser of hostile input, shared by tests/unit/test_fuzz_parsers.py (hypothesis, in CI)
and fuzz/run.py (a seeded mutational fuzzer, run for longer by hand).

A target takes one input and either returns (the parser coped) or raises what the parser documents
(EstateError and its kinds: NmapXmlError, BundleError, WorkbookError). Anything else that escapes is a bug:
in the CLI it would become "unexpected …" and, mid-import, a half-written store.

Also here: the seeds (recorded tool output from tests/data/), the mutations both fuzzers apply to them, and
write_big_nmap_xml, the generator of large nmap files for the streaming test and benchmark.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
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

