"""The GUI's Import file tab (on the command line: `estatemap import FILE…`): nmap XML or a collector bundle."""

from __future__ import annotations

from discovery.records.model import EstateError
from discovery.scanning.scan_kinds import Option, ScannerKind, absolute_path

FILE_FILTER = "nmap XML or collector bundle (*.xml *.estate *.json *.gz);;All files (*)"

DOC = """Add a file collected elsewhere to the store: nmap XML (-oX output) or a collector bundle.
"""

OPTIONS = (Option("path", kind="path", label="File:", file_filter=FILE_FILTER,
                  help="nmap XML (-oX) file or collector bundle",
                  placeholder="nmap -oX output or a collector bundle (estatemap collect)"),)


def build(opts: dict):
    from scanners.files import FileImportScanner
    if opts["path"] is None:
        raise EstateError("choose a file to import (nmap XML from -oX, or a collector bundle)")
    return FileImportScanner(opts["path"])


def stored(opts: dict) -> dict:
    return {"files": [absolute_path(opts["path"])]}


def remaining(plan) -> dict:
    """Import the same file again (a new scan)."""
    return {"path": (plan.options.get("files") or plan.targets)[0]}


KIND = ScannerKind(name="import", label="Import file", doc=DOC, options=OPTIONS, build=build, stored=stored,
                   resume="rerun", remaining=remaining, unit="B", cli=False)
