"""Files collected elsewhere: a format sniffer hands each file to the reader for its kind."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

from discovery.files.bundle import Bundle, looks_like_bundle, read_bundle, restamp_source
from discovery.records.model import EstateError, HostReport, ScanContext
from scanners.nmap_xml import (PROLOGUE_LIMIT, HostDown, NmapXmlError, RunInfo, TaskProgress, check_nmap_xml_file,
                                iter_nmap_xml, leading_comments_end)
from scanners.passive_capture import CaptureImport, looks_like_capture

SNIFF_BYTES = 4096
# Control characters (C0, DEL, C1) in text from a file that is shown on a terminal or stored as a message.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What may stand before the document element, and where each ends: declaration and processing
# instructions, comments, the doctype (with an internal subset, "]>").
_PROLOG = ((b"<?", b"?>"), (b"<!--", b"-->"), (b"<!DOCTYPE", b">"))
_NAME = re.compile(rb"<([A-Za-z_][\w.:-]{0,200})")


def printable(text: str, limit: int = 500) -> str:
    """Return `text` from a file safe for one terminal line: control characters escaped, cut to `limit`."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)
    return text if len(text) <= limit else text[:limit] + "..."


def sniff_format(path: Path) -> str:
    """Return the kind of file at `path` by its content ("nmap-xml", "bundle"); raises EstateError saying what it is instead.

    "bundle" means gzip data or a JSON object: read_bundle then says whether it really is one.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(PROLOGUE_LIMIT + SNIFF_BYTES)
    except OSError as error:
        raise EstateError(f"cannot read {path}: {error.strerror or error}") from None
    start = leading_comments_end(head)
    if head.startswith(b"<", start):
        root = _first_element(head, start)
        if root == "nmaprun" or (root is None and b"<!DOCTYPE nmaprun" in head):
            return "nmap-xml"
        if root is None:
            raise EstateError(f"{path} is XML, but no document element starts in its first "
                              f"{len(head) // 1024} KiB (nmap's -oX output starts with <nmaprun>)")
        raise EstateError(f"{path} is XML, but its document is <{printable(root, 60)}>, not nmap's <nmaprun> "
                          "(-oX output)")
    if looks_like_capture(head):
        return "capture"
    if looks_like_bundle(head):
        return "bundle"
    if (declaration := head.find(b"<?xml", start)) > 0:
        line = head.count(b"\n", 0, declaration) + 1
        raise EstateError(f"{path} is not a file Estate Mapper can import: it has text before its XML declaration "
                          f"(line {line}); only whitespace and comments may come first")
    shown = printable(head[start:start + 40].decode("utf-8", "replace").split("\n")[0], 40) if head.strip() else ""
    raise EstateError(f"{path} is not a file Estate Mapper can import (nmap XML from -oX, a collector bundle, or a "
                      "pcap/pcapng capture): "
                      + (f"it starts with {shown!r}" if shown else "it is empty"))


def _first_element(head: bytes, pos: int) -> str | None:
    """Return the name of the first element in `head` after the prolog, or None if it does not start within `head`."""
    while pos < len(head):
        if head[pos] in b" \t\r\n":
            pos += 1
            continue
        for opening, closing in _PROLOG:
            if head.startswith(opening, pos):
                if opening == b"<!DOCTYPE" and 0 <= head.find(b"[", pos) < head.find(b">", pos):
                    closing = b"]>"
                end = head.find(closing, pos + len(opening))
                if end < 0:
                    return None
                pos = end + len(closing)
                break
        else:
            found = _NAME.match(head, pos)
            return found[1].decode("utf-8", "replace") if found else None
    return None


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
        self.capture = CaptureImport(self.path) if self.format == "capture" else None
        if self.format == "nmap-xml":
            try:
                check_nmap_xml_file(self.path)  # streamed: a 1 GB file is checked in constant memory
            except NmapXmlError as error:
                raise NmapXmlError(f"{self.path.name}: {error}") from None

    @property
    def arguments(self) -> str:
        if self.capture is not None:
            return self.capture.arguments
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
        if self.capture is not None:
            yield from self.capture.scan(ctx)
            return
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
