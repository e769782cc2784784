"""Files collected elsewhere: a format sniffer hands each file to the reader for its kind."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

from discovery.bundle import Bundle, looks_like_bundle, read_bundle, restamp_source
from discovery.model import EstateError, HostReport, ScanContext
from scanners.nmap_xml import HostDown, NmapXmlError, RunInfo, TaskProgress, check_nmap_xml_file, iter_nmap_xml

SNIFF_BYTES = 4096
# Control characters (C0, DEL, C1) in text from a file that is shown on a terminal or stored as a message.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str, limit: int = 500) -> str:
    """Return `text` from a file safe for one terminal line: control characters escaped, cut to `limit`."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)
    return text if len(text) <= limit else text[:limit] + "..."


def sniff_format(path: Path) -> str:
    """Return the kind of file at `path` by its content ("nmap-xml", "bundle"); raises EstateError for anything else.

    "bundle" means gzip data or a JSON object: read_bundle then says whether it really is one.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as error:
        raise EstateError(f"cannot read {path}: {error.strerror or error}") from None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<") and (b"<nmaprun" in head or b"<!DOCTYPE nmaprun" in head):
        return "nmap-xml"
    if text.startswith(b"<"):
        raise EstateError(f"{path} is XML but not nmap's -oX output")
    if looks_like_bundle(head):
        return "bundle"
    raise EstateError(f"{path} is not a file Estate Mapper can import (nmap XML from -oX, or a collector bundle)")


class FileImportScanner:
    """`estatemap import FILE`: a file from someone else's scan or a collector bundle, stored as a scan of kind `import`.

    A bundle is read and checked whole when the scanner is made (raises BundleError), and an nmap XML
    file is read through once without keeping it (raises NmapXmlError: broken, unsafe or not nmap's), so a
    bad file is refused before anything is written; the bundle's hosts keep source "bundle", so the
    inventory shows where their facts came from.
    """

    kind = "import"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.format = sniff_format(self.path)
        self.run = RunInfo()
        self.bundle: Bundle | None = read_bundle(self.path) if self.format == "bundle" else None
        if self.format == "nmap-xml":
            try:
                check_nmap_xml_file(self.path)  # streamed: a 1 GB file is checked in constant memory
            except NmapXmlError as error:
                raise NmapXmlError(f"{self.path.name}: {error}") from None

    @property
    def arguments(self) -> str:
        if self.bundle is not None:
            collected = self.bundle.scan.finished_at or self.bundle.created_at
            return (f"import {self.path.name} (bundle from {printable(', '.join(self.bundle.hostnames), 200) or 'no host'} "
                    f"collected {collected.isoformat()})")
        with open(self.path, "rb") as f:
            found = re.search(rb'<nmaprun[^>]*\sargs="([^"]{1,2000})"', f.read(SNIFF_BYTES))
        original = html.unescape(found[1].decode(errors="replace")) if found else "unknown"
        return f"import {self.path.name} (nmap run as: {printable(original, 2000)})"

    def targets(self) -> tuple[str, ...]:
        return (str(self.path),)

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]:
        if self.bundle is not None:
            yield from self._scan_bundle(self.bundle, ctx)
            return
        size = self.path.stat().st_size or 1
        with open(self.path, "rb") as f:
            hosts = 0
            for event in iter_nmap_xml(f, source="nmap", run=self.run):
                if isinstance(event, (HostDown, TaskProgress)):
                    continue
                hosts += 1
                yield event
                ctx.report(min(f.tell(), size), size, f"{hosts} hosts read from {self.path.name}")
                ctx.check_cancelled()
        if not self.run.complete:
            ctx.warn(f"{self.path.name} ends early (an interrupted scan?): the {hosts} whole hosts in it were imported")

    def _scan_bundle(self, bundle: Bundle, ctx: ScanContext) -> Iterator[HostReport]:
        """Yield the bundle's hosts as source "bundle"; its collection's warnings become this scan's."""
        where = printable(", ".join(bundle.hostnames), 200) or self.path.name
        for warning in bundle.scan.warnings:
            ctx.warn(f"collected on {where}: {printable(warning)}")
        if bundle.scan.status != "completed":
            ctx.warn(f"the collection on {where} was {bundle.scan.status}: its connections cover less time than asked")
        if bundle.ignored:
            ctx.warn(f"{self.path.name} has fields this version of Estate Mapper does not know (written by a newer "
                     f"collector?); they were not imported: {printable(', '.join(bundle.ignored[:10]))}"
                     f"{' ...' if len(bundle.ignored) > 10 else ''}")
        total, size = len(bundle.reports), self.path.stat().st_size or 1
        for done, report in enumerate(bundle.reports, 1):  # progress in bytes, like an nmap file's
            yield restamp_source(report, "bundle")
            ctx.report(size * done // total, size, f"{done} of {total} hosts read from {self.path.name}")
            ctx.check_cancelled()
