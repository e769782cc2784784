"""Files collected elsewhere: a format sniffer hands each file to the reader for its kind."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

from discovery.model import EstateError, HostReport, ScanContext
from scanners.nmap_xml import HostDown, RunInfo, TaskProgress, iter_nmap_xml

SNIFF_BYTES = 4096


def sniff_format(path: Path) -> str:
    """Return the kind of file at `path` ("nmap-xml"); raises EstateError for anything else."""
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
    raise EstateError(f"{path} is not a file Estate Mapper can import (nmap XML from -oX)")


class FileImportScanner:
    """`estatemap import FILE`: a file from someone else's scan, stored as a scan of kind `import`."""

    kind = "import"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.format = sniff_format(self.path)
        self.run = RunInfo()

    @property
    def arguments(self) -> str:
        with open(self.path, "rb") as f:
            found = re.search(rb'<nmaprun[^>]*\sargs="([^"]{1,2000})"', f.read(SNIFF_BYTES))
        original = html.unescape(found[1].decode(errors="replace")) if found else "unknown"
        return f"import {self.path.name} (nmap run as: {original})"

    def targets(self) -> tuple[str, ...]:
        return (str(self.path),)

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]:
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
