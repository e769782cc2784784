"""Reading cells from an Excel workbook that may be hostile, within stated limits (a zip bomb is refused unread).

An .xlsx file is a zip of XML parts. Before anything is inflated, the zip's end record and central
directory are checked: at most MAX_MEMBERS parts, only stored or deflated ones, none declaring more than
MAX_PART_BYTES, all together at most MAX_TOTAL_BYTES, and none (nor the file as a whole) inflating more
than MAX_RATIO times its compressed size. Only what the import needs is then read:

- whole, through openpyxl: [Content_Types].xml, the workbook part, its relationships and the styles (each
  at most MAX_WHOLE_PART_BYTES: openpyxl builds a tree of them in memory);
- streamed, through expat, inflated by our own reader with a byte cap (a part that inflates past its
  declared size is stopped there): the wanted sheets and the shared-string table (each at most
  MAX_STREAMED_BYTES), at most MAX_ROWS rows a sheet, MAX_SHARED_STRINGS shared strings and MAX_CELL_CHARS
  characters a cell. Only the cells of the wanted columns are kept, and only the shared strings they use.

The other parts (the Software sheet of a large estate, pictures, pivot caches) are never inflated. Every
refusal is one WorkbookError line naming the file and the limit. The limits leave a wide margin over a
large real export, measured: 10,000 hosts with 46,268 services, 1,000,000 software packages (a full
sheet), 200,000 dependencies and 30,000 findings export to a 51 MiB file of 22 parts, 676 MiB inflated;
its largest part (Software) is 418 MB, its highest ratio 14.5, its Hosts sheet 7.2 MB, and it holds
318,623 distinct strings (what Excel would put in the shared-string table when it saves it).
"""

from __future__ import annotations

import re
import struct
import xml.parsers.expat
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from discovery.records.model import EstateError

MAX_MEMBERS = 1_000                  # parts in the zip (22 in a real export)
MAX_CENTRAL_DIRECTORY = 1 << 20      # bytes of zip directory, checked before zipfile reads it (about 1 KiB a part)
MAX_TOTAL_BYTES = 4 << 30            # declared inflated size of all parts together (676 MiB measured)
MAX_PART_BYTES = 1 << 30             # declared inflated size of any one part (418 MB measured, a full sheet)
MAX_RATIO = 100                      # inflated ÷ compressed, a part over RATIO_GRACE and the file (14.5 measured)
RATIO_GRACE = 100 << 10              # a part this small may compress better (as in Apache POI's ZipSecureFile)
MAX_WHOLE_PART_BYTES = 16 << 20      # a part openpyxl parses whole (workbook, styles: 10 KB measured)
MAX_STREAMED_BYTES = 256 << 20       # a sheet read or the shared-string table (Hosts 7.2 MB measured)
MAX_SHARED_STRINGS = 2_000_000       # entries of the shared-string table (318,623 measured)
MAX_ROWS = 1_048_576                 # rows in a sheet read: Excel's own limit
MAX_CELL_CHARS = 32_767              # characters in a cell: Excel's own limit
# Excel writes a character XML cannot hold as _xHHHH_ (and a literal "_x" as _x005F_x): a cell's raw text
# may be up to seven times its characters.
MAX_RAW_CELL_CHARS = 7 * MAX_CELL_CHARS
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
ESCAPE_RE = re.compile(r"_x([0-9A-Fa-f]{4})_")
CHUNK = 1 << 16
LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile.structFileHeader


class WorkbookError(EstateError):
    """The file cannot be used at all; nothing was written."""


@dataclass
class Sheet:
    """The wanted columns of one sheet: the header texts on row 1 and, for each later row holding any wanted
    cell, (row number, {header: value})."""
    headers: set[str] = field(default_factory=set)
    rows: list[tuple[int, dict]] = field(default_factory=list)


@dataclass(frozen=True)
class _SharedString:
    index: int


def read_sheets(path: Path, wanted: dict[str, Collection[str]]) -> dict[str, Sheet]:
    """Return {sheet title: Sheet} for each sheet of `wanted` ({title: headers whose columns to keep}) that the
    workbook at `path` has. Raises WorkbookError when the file is not a workbook or breaks a limit."""
    if not path.is_file():
        raise WorkbookError(f"cannot read {path}: no such file")
    if not zipfile.is_zipfile(path):
        raise WorkbookError(f"{path} is not an Excel workbook (.xlsx)")
    check_central_directory(path)
    try:
        archive = _Archive(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise WorkbookError(f"{path} is not an Excel workbook openpyxl can read ({_said(error)})") from None
    with archive:
        check_members(path, archive)
        book = _Book.load(path, archive)
        sheets = {title: target for title, target in book.sheets.items() if title in wanted}
        names = {_strip(h) for headers in wanted.values() for h in headers}
        header_strings = book.read_shared_strings(lambda text: _strip(text) in names) if book.strings_part else {}
        read = {title: book.read_sheet(title, target, set(wanted[title]), header_strings)
                for title, target in sheets.items()}
        needed = {v.index for sheet in read.values() for _, row in sheet.rows for v in row.values()
                  if isinstance(v, _SharedString)}
        if needed:
            if not book.strings_part:
                raise WorkbookError(f"{path} is damaged: a cell refers to a shared string; the workbook has none")
            strings = book.read_shared_strings(lambda text: False, needed)
            for title, sheet in read.items():
                for number, row in sheet.rows:
                    for header, value in row.items():
                        if isinstance(value, _SharedString):
                            row[header] = strings[value.index]
        return read


def check_central_directory(path: Path) -> None:
    """Refuse a zip whose end record declares more than MAX_MEMBERS parts or a directory over
    MAX_CENTRAL_DIRECTORY bytes, before zipfile reads that directory into memory. Raises WorkbookError."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - (22 + 0xFFFF)))
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return  # zipfile will say what is wrong
        _, _, _, _, members, directory, offset, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
        if (members == 0xFFFF or directory == 0xFFFFFFFF or offset == 0xFFFFFFFF) and at >= 20 \
                and tail[at - 20:at - 16] == b"PK\x06\x07":  # zip64: the real figures are in its end record
            f.seek(struct.unpack("<Q", tail[at - 12:at - 4])[0])
            record = f.read(56)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                members, directory = struct.unpack("<2Q", record[32:48])
    if members > MAX_MEMBERS:
        raise WorkbookError(f"{path} is refused: its zip declares {members:,} parts; a workbook has at most "
                            f"{MAX_MEMBERS:,}")
    if directory > MAX_CENTRAL_DIRECTORY:
        raise WorkbookError(f"{path} is refused: its zip directory is {directory:,} bytes; a workbook's is at "
                            f"most {MAX_CENTRAL_DIRECTORY:,}")


def check_members(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse a zip whose parts break a limit by what they declare: count, method, size, total, ratio."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise WorkbookError(f"{path} is refused: it holds {len(infos):,} parts; a workbook has at most "
                            f"{MAX_MEMBERS:,}")
    total = 0
    for info in infos:
        name = _name(info.filename)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise WorkbookError(f"{path} is refused: part {name} is compressed with method {info.compress_type}; "
                                f"Excel uses only deflate")
        if info.flag_bits & 0x1:
            raise WorkbookError(f"{path} is refused: part {name} is encrypted")
        if info.file_size > MAX_PART_BYTES:
            raise WorkbookError(f"{path} is refused: part {name} declares {_size(info.file_size)} inflated; "
                                f"the limit for one part is {_size(MAX_PART_BYTES)}")
        if info.file_size > RATIO_GRACE and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise WorkbookError(f"{path} is refused (a zip bomb?): part {name} inflates "
                                f"{info.file_size / max(info.compress_size, 1):,.0f} times; the limit is "
                                f"{MAX_RATIO} times")
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        raise WorkbookError(f"{path} is refused: its parts declare {_size(total)} inflated; the limit is "
                            f"{_size(MAX_TOTAL_BYTES)}")
    size = path.stat().st_size
    if total > RATIO_GRACE and total > MAX_RATIO * max(size, 1):
        raise WorkbookError(f"{path} is refused (a zip bomb?): it inflates {total / max(size, 1):,.0f} times "
                            f"its size; the limit is {MAX_RATIO} times")


class _Archive(zipfile.ZipFile):
    """The workbook's zip, as handed to openpyxl: a part it opens (and parses whole) is at most
    MAX_WHOLE_PART_BYTES."""

    def open(self, name, mode="r", pwd=None, *, force_zip64=False):
        info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
        if mode == "r" and info.file_size > MAX_WHOLE_PART_BYTES:
            raise WorkbookError(f"{self.filename} is refused: part {_name(info.filename)} declares "
                                f"{_size(info.file_size)}; the limit for a part read whole is "
                                f"{_size(MAX_WHOLE_PART_BYTES)}")
        return super().open(info, mode, pwd, force_zip64=force_zip64)


def _workbook_part(package) -> str:
    """The workbook part's name, as the content types say (an override, or a default some writers use)."""
    from openpyxl.xml.constants import ARC_WORKBOOK, XLSM, XLSX, XLTM, XLTX

    kinds = (XLTM, XLTX, XLSM, XLSX)
    for kind in kinds:
        part = package.find(kind)
        if part is not None:
            return part.PartName[1:]
    if {d.ContentType for d in package.Default} & set(kinds):
        return ARC_WORKBOOK
    raise ValueError("it holds no workbook part")  # the caller names the file


@dataclass
class _Book:
    """What openpyxl reads whole: the sheets' titles and parts, the shared-string part, date styles."""
    path: Path
    archive: _Archive
    sheets: dict[str, str]
    strings_part: str | None
    date_styles: set[int]
    timedelta_styles: set[int]
    epoch: object

    @classmethod
    def load(cls, path: Path, archive: _Archive) -> _Book:
        from openpyxl.packaging.manifest import Manifest
        from openpyxl.reader.workbook import WorkbookParser
        from openpyxl.styles.stylesheet import Stylesheet
        from openpyxl.xml.constants import ARC_CONTENT_TYPES, ARC_STYLE, SHARED_STRINGS
        from openpyxl.xml.functions import fromstring

        try:
            package = Manifest.from_tree(fromstring(archive.read(ARC_CONTENT_TYPES)))
            workbook = WorkbookParser(archive, _workbook_part(package), keep_links=False)
            workbook.parse()
            names = set(archive.namelist())
            sheets = {}
            for sheet, rel in workbook.find_sheets():
                if rel.target in names and "chartsheet" not in rel.Type:
                    sheets.setdefault(sheet.name, rel.target)
            strings = package.find(SHARED_STRINGS)
            strings_part = strings.PartName[1:] if strings is not None and strings.PartName[1:] in names else None
            styles = Stylesheet.from_tree(fromstring(archive.read(ARC_STYLE))) if ARC_STYLE in names else None
        except WorkbookError:
            raise
        except Exception as error:  # a damaged or foreign zip: openpyxl raises many kinds
            raise WorkbookError(f"{path} is not an Excel workbook openpyxl can read ({_said(error)})") from None
        return cls(path, archive, sheets, strings_part, set(styles.date_formats) if styles else set(),
                   set(styles.timedelta_formats) if styles else set(), workbook.wb.epoch)

    def read_sheet(self, title: str, part: str, keep: set[str], header_strings: dict[int, str]) -> Sheet:
        """Return the `keep` columns of sheet `title` (stored at `part`); shared strings of its data rows are
        left as _SharedString for the caller to resolve."""
        return _SheetReader(self, title, keep, header_strings).read(part)

    def read_shared_strings(self, wanted: Callable[[str], bool], indices: Collection[int] = ()) -> dict[int, str]:
        """Return {index: text} of the shared strings whose index is in `indices` or whose text `wanted`
        accepts; the whole table is checked against MAX_SHARED_STRINGS and MAX_CELL_CHARS."""
        return _StringsReader(self, wanted, set(indices)).read()

    def stream(self, part: str) -> Iterator[bytes]:
        """Yield part `part` inflated, stopping with WorkbookError past its declared size or
        MAX_STREAMED_BYTES, or when it does not match its checksum."""
        info = self.archive.getinfo(part)
        name = _name(part)
        if info.file_size > MAX_STREAMED_BYTES:
            raise WorkbookError(f"{self.path} is refused: part {name} declares {_size(info.file_size)}; the "
                                f"limit for a sheet read or the shared strings is {_size(MAX_STREAMED_BYTES)}")
        with open(self.path, "rb") as f:
            f.seek(info.header_offset)
            header = f.read(LOCAL_HEADER.size)
            if len(header) < LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
                raise WorkbookError(f"{self.path} is damaged: part {name} has no local header")
            fields = LOCAL_HEADER.unpack(header)
            f.seek(fields[10] + fields[11], 1)
            yield from _inflate(f, info, f"{self.path}: part {name}")


def _inflate(f, info: zipfile.ZipInfo, what: str) -> Iterator[bytes]:
    """Yield the data of `info` read from `f` (at its start), never more than its declared size."""
    left_in, left_out, crc = info.compress_size, info.file_size, 0
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    pending = b""
    while inflater is None or not inflater.eof:
        if not pending and left_in > 0:
            pending = f.read(min(CHUNK, left_in))
            if not pending:
                raise WorkbookError(f"{what} is cut short")
            left_in -= len(pending)
        if inflater is None:
            if not pending:
                break
            out, pending = pending, b""
        else:
            try:
                out = inflater.decompress(pending, CHUNK)  # at most CHUNK bytes out, the rest of the input kept
            except zlib.error as error:
                raise WorkbookError(f"{what} is damaged ({error})") from None
            pending = inflater.unconsumed_tail
            if not out and not pending and left_in <= 0:
                break
        if len(out) > left_out:
            raise WorkbookError(f"{what} inflates past its declared {info.file_size:,} bytes (a zip bomb?): "
                                f"refused there")
        left_out -= len(out)
        crc = zlib.crc32(out, crc)
        if out:
            yield out
    if left_out or (inflater is not None and not inflater.eof):
        raise WorkbookError(f"{what} ends before its declared {info.file_size:,} bytes")
    if crc != info.CRC:
        raise WorkbookError(f"{what} does not match its checksum")


class _XmlReader:
    """An expat pass over one streamed part: DTDs refused, errors as one WorkbookError line."""
    part_label = "part"

    def __init__(self, book: _Book):
        self.book = book
        self.parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        self.parser.buffer_text = True
        self.parser.StartDoctypeDeclHandler = self._doctype
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.text

    def parse(self, part: str) -> None:
        try:
            for chunk in self.book.stream(part):
                self.parser.Parse(chunk, False)
            self.parser.Parse(b"", True)
        except xml.parsers.expat.ExpatError as error:
            raise WorkbookError(f"{self.book.path} is damaged: {self.part_label} is not well-formed XML "
                                f"({_said(error)})") from None

    def _doctype(self, *_args) -> None:
        raise WorkbookError(f"{self.book.path} is refused: {self.part_label} declares a DTD, which no workbook has")

    def start(self, tag: str, attrs: dict) -> None: ...
    def end(self, tag: str) -> None: ...
    def text(self, data: str) -> None: ...

    def too_long(self, where: str) -> WorkbookError:
        return WorkbookError(f"{self.book.path} is refused: {where} holds more than {MAX_CELL_CHARS:,} characters "
                             f"(Excel's limit for a cell)")


_ROW, _CELL, _VALUE, _INLINE, _FORMULA, _TEXT, _PHONETIC, _ITEM = (
    f"{MAIN_NS} {name}" for name in ("row", "c", "v", "is", "f", "t", "rPh", "si"))
_VALUES = (_VALUE, _INLINE, _FORMULA)  # each counted on its own against a cell's limit


class _SheetReader(_XmlReader):
    def __init__(self, book: _Book, title: str, keep: set[str], header_strings: dict[int, str]):
        super().__init__(book)
        self.title, self.keep, self.header_strings = title, keep, header_strings
        self.part_label = f"the {title} sheet"
        self.sheet = Sheet()
        self.columns: dict[int, str] = {}   # column number -> kept header
        self.rows = self.row = self.column = 0
        self.values: dict | None = None      # the current row's kept cells
        self.cell: tuple | None = None       # (column, type, style) of the cell being read, when kept
        self.chars = 0
        self.parts: list[str] = []
        self.depth_text = self.in_phonetic = 0
        self.in_cell = self.in_value = False

    def read(self, part: str) -> Sheet:
        self.parse(part)
        return self.sheet

    def start(self, tag, attrs):
        if tag == _ROW:
            self.rows += 1
            if self.rows > MAX_ROWS:
                raise WorkbookError(f"{self.book.path} is refused: the {self.title} sheet has more than "
                                    f"{MAX_ROWS:,} rows (Excel's limit)")
            number = _row_number(attrs.get("r"), self.row + 1)
            if number is None or not 0 < number <= MAX_ROWS:
                raise WorkbookError(f"{self.book.path} is refused: the {self.title} sheet has a row numbered "
                                    f"{str(attrs.get('r'))[:20]!r}; Excel's rows are 1 to {MAX_ROWS:,}")
            self.values = {} if number > self.row else None  # a row out of order is skipped, as openpyxl does
            self.row, self.column = max(number, self.row), 0
        elif tag == _CELL:
            self.column = _column_number(attrs.get("r"), self.column + 1)
            self.in_cell, self.chars = True, 0
            wanted = self.values is not None and (self.row == 1 or self.column in self.columns)
            self.cell = (self.column, attrs.get("t", "n"), attrs.get("s", "0")) if wanted else None
            self.parts = []
        elif tag in _VALUES:
            self.in_value, self.chars = tag == _VALUE, 0
        elif tag == _TEXT:
            self.depth_text += 1
        elif tag == _PHONETIC:
            self.in_phonetic += 1

    def end(self, tag):
        if tag == _VALUE:
            self.in_value = False
        elif tag == _TEXT:
            self.depth_text -= 1
        elif tag == _PHONETIC:
            self.in_phonetic -= 1
        elif tag == _CELL:
            if self.cell is not None:
                self._keep_cell()
            self.cell, self.in_cell = None, False
        elif tag == _ROW and self.values:
            if self.row > 1:
                self.sheet.rows.append((self.row, self.values))
            self.values = None

    def text(self, data):
        if not self.in_cell:
            return
        self.chars += len(data)
        if self.chars > MAX_RAW_CELL_CHARS:
            raise self.too_long(f"cell {self._where()}")
        if self.cell is not None and (self.in_value or (self.depth_text and not self.in_phonetic)):
            self.parts.append(data)

    def _where(self) -> str:
        from openpyxl.utils import get_column_letter
        letter = get_column_letter(self.column) if 0 < self.column <= 18_278 else f"column {self.column}"
        return f"{self.title}!{letter}{self.row}"

    def _keep_cell(self) -> None:
        column, kind, style = self.cell
        try:
            value = _cell_value(kind, "".join(self.parts), style, self.book)
        except (ValueError, OverflowError) as error:
            raise WorkbookError(f"{self.book.path} is damaged: cell {self._where()} holds "
                                f"{''.join(self.parts)[:40]!r} ({_said(error)})") from None
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            raise self.too_long(f"cell {self._where()}")
        if self.row == 1:
            text = self.header_strings.get(value.index) if isinstance(value, _SharedString) else value
            header = _strip(text) if isinstance(text, str) else None
            if header:
                self.sheet.headers.add(header)
                if header in self.keep:
                    self.columns = {c: h for c, h in self.columns.items() if h != header}  # the last one counts
                    self.columns[column] = header
        elif value is not None:
            self.values[self.columns[column]] = value


class _StringsReader(_XmlReader):
    part_label = "the shared strings"

    def __init__(self, book: _Book, wanted: Callable[[str], bool], indices: set[int]):
        super().__init__(book)
        self.wanted, self.indices = wanted, indices
        self.found: dict[int, str] = {}
        self.count = -1
        self.item = False
        self.chars = 0
        self.parts: list[str] = []
        self.depth_text = self.in_phonetic = 0

    def read(self) -> dict[int, str]:
        self.parse(self.book.strings_part)
        missing = [i for i in self.indices if i not in self.found]
        if missing:
            raise WorkbookError(f"{self.book.path} is damaged: a cell refers to shared string {min(missing):,}; the "
                                f"table holds {self.count + 1:,}")
        return self.found

    def start(self, tag, attrs):
        if tag == _ITEM:
            self.count += 1
            if self.count >= MAX_SHARED_STRINGS:
                raise WorkbookError(f"{self.book.path} is refused (a zip bomb?): it holds more than "
                                    f"{MAX_SHARED_STRINGS:,} shared strings")
            self.item, self.chars, self.parts = True, 0, []
        elif tag == _TEXT:
            self.depth_text += 1
        elif tag == _PHONETIC:
            self.in_phonetic += 1

    def end(self, tag):
        if tag == _TEXT:
            self.depth_text -= 1
        elif tag == _PHONETIC:
            self.in_phonetic -= 1
        elif tag == _ITEM:
            self.item = False
            text = unescape("".join(self.parts))
            if len(text) > MAX_CELL_CHARS:
                raise self.too_long(f"shared string {self.count:,}")
            if self.count in self.indices or self.wanted(text):
                self.found[self.count] = text

    def text(self, data):
        if not self.item:
            return
        self.chars += len(data)
        if self.chars > MAX_RAW_CELL_CHARS:
            raise self.too_long(f"shared string {self.count:,}")
        if self.depth_text and not self.in_phonetic:
            self.parts.append(data)


def _cell_value(kind: str, raw: str, style: str, book: _Book):
    """Return a cell's value as openpyxl's read-only, data-only mode gives it (formulas as their cached value,
    dates as datetimes), a shared string as _SharedString, text with Excel's _xHHHH_ escapes decoded."""
    from openpyxl.utils.datetime import from_excel, from_ISO8601

    if kind == "inlineStr":
        return unescape(raw)
    if not raw:
        return None
    if kind == "s":
        return _SharedString(int(raw))
    if kind == "b":
        return bool(int(raw))
    if kind == "d":
        return from_ISO8601(raw)
    if kind == "n":
        number = float(raw) if any(c in raw for c in ".eE") else int(raw)
        style_id = int(style or 0)
        if style_id in book.date_styles:
            try:
                return from_excel(number, book.epoch, timedelta=style_id in book.timedelta_styles)
            except (OverflowError, ValueError):
                return "#VALUE!"
        return number
    return unescape(raw)  # str (a formula's text), e (an error such as #N/A)


def unescape(text: str) -> str:
    """Return `text` with Excel's _xHHHH_ escapes decoded (lone surrogates become U+FFFD)."""
    if "_x" not in text:
        return text
    decoded = ESCAPE_RE.sub(lambda m: chr(int(m[1], 16)), text)
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _row_number(text, default: int) -> int | None:
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
        return int(value) if value.is_integer() else None


def _column_number(reference, default: int) -> int:
    if not reference:
        return default
    letters = reference.rstrip("0123456789").upper()
    if not letters or len(letters) > 3 or not letters.isascii() or not letters.isalpha():
        return default
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def _strip(text) -> str | None:
    return text.strip() or None if isinstance(text, str) else None


def _name(name: str) -> str:
    return repr(name[:80])


def _size(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


def _said(error: Exception) -> str:
    try:
        from defusedxml import DefusedXmlException
    except ImportError:  # openpyxl then parses without it; nothing of defusedxml's can be raised
        DefusedXmlException = ()
    if isinstance(error, DefusedXmlException):  # XXE or entity expansion ("billion laughs")
        return "it declares an XML DTD or entity, which no workbook has; refused"
    return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"
