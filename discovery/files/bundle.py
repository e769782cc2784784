"""Collector bundles: one machine's facts as a versioned, self-describing, tamper-evident file.

A bundle is written by `estatemap collect` (or the stand-alone collector) on a host the workstation
cannot reach, travels by USB stick or e-mail, and is read by `estatemap import`. Version 1 is one
JSON document, gzip-compressed when written (plain JSON is read too):

    {"format": "estatemap-bundle", "version": 1, "created_at": ISO-8601,
     "collector": {"name", "version", "platform", "system", "python", "hostname", "user", "privileged"},
     "scan":      the collection as a Scan record (kind "collect", started_at, finished_at, status,
                  targets, arguments, warnings, host_count, id),
     "reports":   [HostReport: {"host": {...}, "interfaces": [...], "software": [...], "processes": [...],
                   "services": [...], "databases": [...], "connections": [...], "raw": {name: text}}],
     "sha256":    hex SHA-256 of the canonical content}

Records are written field by field under their model names; datetimes are ISO-8601 with their UTC
offset, tuples are lists, missing values are null. The canonical content is the document without
"sha256", serialised by `canonical_bytes`: `json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=True)`, encoded as UTF-8. Secrets in command lines, tool output and warnings are
redacted before anything is put in a bundle.

Versions: fields may be added within a version (a reader ignores fields it does not know and says
which); anything an older reader would misread raises the version. A reader refuses a newer version,
checks an older one's digest and then upgrades it one step at a time (UPGRADES) to the current one.

Only the standard library and discovery.records.model/redact: the stand-alone collector carries this module.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import math
import re
import types
import typing
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from discovery.records.model import SOURCES, EstateError, HostReport, Scan, utc_now
from discovery.records.redact import redact_command_line, redact_text

FORMAT = "estatemap-bundle"
VERSION = 1                      # the version this code writes, and the newest it reads
GZIP_MAGIC = b"\x1f\x8b"
MAX_JSON_BYTES = 1 << 30         # a bundle larger than this once decompressed is refused, not read
REQUIRED = ("format", "version", "sha256", "created_at", "collector", "scan", "reports")
MAX_INT = 2**63 - 1              # the largest integer SQLite stores; a bigger one is refused, not half-stored
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Upgrades of older documents, one step each: UPGRADES[n] takes a version-n document (digest already
# checked) and returns it as version n+1. Version 1 is the first, so there are none yet; when version 2
# appears, add `1: upgrade_1_to_2` and keep the version-1 fixture in tests/data/bundles/ importing.
UPGRADES: dict[int, Callable[[dict], dict]] = {}


class BundleError(EstateError):
    """A file that is not a bundle this version can import: wrong format, newer version, damaged or tampered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    """A bundle as read: what was collected, on which machine, by what."""
    version: int                     # the version the file was written in
    created_at: datetime
    collector: dict[str, Any]
    scan: Scan
    reports: tuple[HostReport, ...]
    ignored: tuple[str, ...] = ()    # fields this reader does not know (from a newer writer), not imported

    @property
    def hostnames(self) -> tuple[str, ...]:
        """Return the names of the machines in the bundle (fqdn, hostname or first address)."""
        return tuple(r.host.fqdn or r.host.hostname or next(iter(r.host.addresses), "unknown host")
                     for r in self.reports)


# --- writing -----------------------------------------------------------------------------------

def build_bundle(reports: typing.Iterable[HostReport], *, scan: Scan, collector: dict[str, Any],
                 created_at: datetime | None = None) -> dict:
    """Return the bundle document for `reports` (secrets redacted), with its digest."""
    reports = tuple(redact_report(r) for r in reports)
    scan = dataclasses.replace(scan, warnings=tuple(redact_text(w) for w in scan.warnings),
                               arguments=redact_command_line(scan.arguments), host_count=len(reports))
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": to_plain(created_at or utc_now()),
        "collector": dict(collector),
        "scan": to_plain(scan),
        "reports": [to_plain(r) for r in reports],
    }
    doc["sha256"] = digest(doc)
    return doc


def encode_bundle(doc: dict) -> bytes:
    """Return the bytes of a bundle file: the document as JSON, gzip-compressed (reproducibly: no timestamp)."""
    text = json.dumps(doc, ensure_ascii=True, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def canonical_bytes(doc: dict) -> bytes:
    """Return the canonical content the digest covers: the document without "sha256", as sorted compact JSON."""
    content = {k: v for k, v in doc.items() if k != "sha256"}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("utf-8")


def digest(doc: dict) -> str:
    """Return the hex SHA-256 of a document's canonical content."""
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()


def redact_report(report: HostReport) -> HostReport:
    """Return `report` with secrets masked in process command lines and kept tool output."""
    return dataclasses.replace(
        report,
        processes=tuple(dataclasses.replace(p, cmdline=redact_command_line(p.cmdline)) for p in report.processes),
        raw={name: redact_text(text) for name, text in report.raw.items()},
    )


def to_plain(value: Any) -> Any:
    """Return a record (or any value in one) as plain JSON values: dicts by field name, ISO-8601 times, lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        if value.tzinfo is None:  # never in a record; read as local time rather than lose the offset
            value = value.astimezone(timezone.utc)
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


# --- reading -----------------------------------------------------------------------------------

def looks_like_bundle(head: bytes) -> bool:
    """Return whether the first bytes of a file could be a bundle: gzip data, or a JSON object."""
    return head.startswith(GZIP_MAGIC) or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def read_bundle(path: str | Path) -> Bundle:
    """Return the bundle in the file at `path`; raises BundleError if it cannot be imported."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BundleError(f"cannot read {path}: {error.strerror or error}") from None
    return decode_bundle(data, name=path.name)


def decode_bundle(data: bytes, *, name: str = "bundle") -> Bundle:
    """Return the bundle in `data` (a file's bytes); raises BundleError naming `name` and what is wrong."""
    doc = _load_json(data, name)
    version = check_document(doc, name)
    for step in range(version, VERSION):
        doc = UPGRADES[step](doc)
    ignored: list[str] = [k for k in doc if k not in REQUIRED]
    try:
        created_at = _decode(doc["created_at"], datetime, "created_at", ignored)
        collector = _decode(doc["collector"], dict, "collector", ignored)
        scan = _decode(doc["scan"], Scan, "scan", ignored)
        if not isinstance(doc["reports"], list):
            raise _Invalid("reports", "expected a list")
        reports = tuple(_decode(r, HostReport, f"reports[{i}]", ignored) for i, r in enumerate(doc["reports"]))
    except _Invalid as error:
        raise BundleError(f"{name} is not a valid bundle: {_shown(error.where)}: {_shown(error.problem)}") from None
    return Bundle(version=version, created_at=created_at, collector=collector, scan=scan, reports=reports,
                  ignored=tuple(dict.fromkeys(re.sub(r"\[\d+\]", "[]", where) for where in ignored)))


def check_document(doc: Any, name: str) -> int:
    """Check a parsed document's format, version, required fields and digest; return its version.

    Raises BundleError: not a bundle, a newer version, a field missing, or content that does not match
    its digest (tampered or damaged).
    """
    if not isinstance(doc, dict):
        raise BundleError(f"{name} is JSON but not an Estate Mapper bundle (not a JSON object)")
    if "format" not in doc:
        raise BundleError(f"{name} is JSON but not an Estate Mapper bundle (it has no \"format\" field)")
    if doc["format"] != FORMAT:
        raise BundleError(f"{name} is not an Estate Mapper bundle (format {_shown(repr(doc['format']), 80)}, "
                          f"expected {FORMAT!r})")
    if "version" not in doc:
        raise BundleError(f"{name} is missing required field \"version\"")
    version = doc["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"{name} has an invalid bundle version {_shown(repr(version), 80)}")
    if version > VERSION:
        raise BundleError(f"{name} was written by a newer Estate Mapper (bundle version {version}; this version "
                          f"reads bundle versions up to {VERSION}); upgrade Estate Mapper to import it")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise BundleError(f"{name} is missing required field{'s' * (len(missing) > 1)} "
                          + ", ".join(f'"{k}"' for k in missing))
    if not isinstance(doc["sha256"], str) or doc["sha256"].lower() != digest(doc):
        raise BundleError(f"{name} is tampered or damaged: its content does not match its sha256 digest "
                          "(ask for a new bundle)")
    return version


def restamp_source(report: HostReport, source: str = "bundle") -> HostReport:
    """Return `report` with the host and every record a scanner sourced (local, ssh, ...) marked `source`.

    Records whose source names where the scanner read them (software: dpkg, rpm, registry, ...) keep it.
    """
    def stamp(records):
        return tuple(dataclasses.replace(r, source=source) if r.source in SOURCES else r for r in records)
    return dataclasses.replace(
        report, host=dataclasses.replace(report.host, source=source),
        interfaces=stamp(report.interfaces), software=stamp(report.software), processes=stamp(report.processes),
        services=stamp(report.services), databases=stamp(report.databases), connections=stamp(report.connections),
    )


def _load_json(data: bytes, name: str) -> Any:
    """Return the JSON document in a bundle file's bytes (gzip or plain); raises BundleError."""
    compressed = data.startswith(GZIP_MAGIC)
    if compressed:
        inflater = zlib.decompressobj(wbits=31)  # gzip; checks the CRC and length at the end
        try:
            data = inflater.decompress(data, MAX_JSON_BYTES)
        except zlib.error as error:
            raise BundleError(f"{name} is tampered or damaged: its compressed data fails its check ({error})") from None
        if inflater.unconsumed_tail:
            raise BundleError(f"{name} is larger than {MAX_JSON_BYTES >> 20} MiB uncompressed; refusing to read it")
        if not inflater.eof:
            raise BundleError(f"{name} is tampered or damaged: its compressed data ends early (truncated?)")
        if inflater.unused_data:
            raise BundleError(f"{name} is tampered or damaged: it has data after the bundle")
        if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            raise BundleError(f"{name} is gzip-compressed but not an Estate Mapper bundle")
    elif len(data) > MAX_JSON_BYTES:
        raise BundleError(f"{name} is larger than {MAX_JSON_BYTES >> 20} MiB; refusing to read it")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
        json.dumps(doc, ensure_ascii=False).encode("utf-8")  # a "\ud800" escape: text no store can hold
        return doc
    except UnicodeEncodeError:
        raise BundleError(f"{name} is not a valid bundle: it holds text that is not valid Unicode (damaged?)") from None
    except UnicodeDecodeError:
        raise BundleError(f"{name} is not a valid bundle: it is not UTF-8 text (damaged?)") from None
    except json.JSONDecodeError as error:
        raise BundleError(f"{name} is not a complete bundle: invalid JSON at line {error.lineno} column "
                          f"{error.colno} ({error.msg}); the file is truncated or damaged") from None
    except RecursionError:
        raise BundleError(f"{name} is not a valid bundle: JSON nested too deeply") from None


def _shown(text: str, limit: int = 200) -> str:
    """Return text from the file fit for a one-line message: control characters escaped, cut to `limit`."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)
    return text if len(text) <= limit else text[:limit] + "..."


class _Invalid(Exception):
    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """Return a record class's field types, resolved from its annotations (cached)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode(value: Any, hint: Any, where: str, ignored: list[str]) -> Any:
    """Return `value` (plain JSON) as the type `hint` describes; unknown record fields go to `ignored`.

    Raises _Invalid for a value of the wrong type or a record without a required field.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        choices = [a for a in args if a is not type(None)]
        if len(choices) == 1:
            return _decode(value, choices[0], where, ignored)
        if any(isinstance(value, typing.get_origin(a) or a) for a in choices):
            return value  # a free-form value such as ScriptResult.data: JSON as it is
        raise _Invalid(where, f"expected {' or '.join(getattr(a, '__name__', str(a)) for a in choices)}")
    if dataclasses.is_dataclass(hint):
        return _decode_record(value, hint, where, ignored)
    if origin is tuple:
        if not isinstance(value, list):
            raise _Invalid(where, "expected a list")
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[T, ...]
            return tuple(_decode(v, args[0], f"{where}[{i}]", ignored) for i, v in enumerate(value))
        if len(value) != len(args):  # tuple[A, B]: a pair such as (database, bytes)
            raise _Invalid(where, f"expected a list of {len(args)} values")
        return tuple(_decode(v, a, f"{where}[{i}]", ignored) for i, (v, a) in enumerate(zip(value, args)))
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise _Invalid(where, "expected an object")
        if args:
            return {k: _decode(v, args[1], f"{where}.{k}", ignored) for k, v in value.items()}
        return value
    if hint is datetime:
        if not isinstance(value, str):
            raise _Invalid(where, "expected an ISO-8601 time")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _Invalid(where, f"{value!r} is not an ISO-8601 time") from None
        if parsed.tzinfo is None:
            raise _Invalid(where, f"{value!r} has no timezone")
        return parsed
    if hint is bool:
        if not isinstance(value, bool):
            raise _Invalid(where, "expected true or false")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Invalid(where, "expected an integer")
        if not -MAX_INT <= value <= MAX_INT:
            raise _Invalid(where, "integer out of range")
        return value
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _Invalid(where, "expected a number")
        try:
            number = float(value)
        except OverflowError:
            raise _Invalid(where, "number out of range") from None
        if not math.isfinite(number):  # JSON's NaN and Infinity extensions
            raise _Invalid(where, "expected a finite number")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise _Invalid(where, "expected a string")
        return value
    if hint is Any:
        return value
    raise _Invalid(where, f"cannot read a value of type {hint!r}")  # a model type this reader does not handle


def _decode_record(value: Any, cls: type, where: str, ignored: list[str]) -> Any:
    if not isinstance(value, dict):
        raise _Invalid(where, f"expected an object ({cls.__name__})")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _decode(value[name], hints[name], f"{where}.{name}", ignored)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _Invalid(where, f"required field {name!r} is missing")
    ignored.extend(f"{where}.{k}" for k in value if k not in fields)
    return cls(**kwargs)
