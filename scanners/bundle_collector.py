"""The offline collector behind `estatemap collect` and dist/estatemap-collector.pyz: this machine's
facts (the this-host scanner's report, its warnings and timing) as a bundle document, no store involved.

Only the standard library, psutil and what the this-host scanner needs: the stand-alone collector
carries this module.
"""

from __future__ import annotations

import getpass
import platform
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from discovery import __version__
from discovery.files.bundle import build_bundle, encode_bundle
from discovery.records.model import EstateError, HostReport, ProgressCallback, Scan, ScanCancelled, ScanContext, utc_now
from discovery.files.atomic_files import atomic_output
from scanners.local_host import get_is_admin


class HostScanner(Protocol):  # what collect_bundle needs; LocalHostScanner is one
    kind: str

    def targets(self) -> tuple[str, ...]: ...

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]: ...


def collect_bundle(scanner: HostScanner, *, name: str, arguments: str | None = None,
                   progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> dict:
    """Run `scanner` and return the bundle document of what it found, its warnings and timing.

    Ctrl-C (KeyboardInterrupt) or `cancel` during a watch keeps what was sampled: the bundle's scan is
    then marked interrupted. Raises EstateError if it came before the host's inventory was finished.
    """
    ctx = ScanContext(progress=progress, cancel=cancel)
    reports: list[HostReport] = []
    found = scanner.scan(ctx)
    try:
        reports.extend(found)
        status = "completed"
    except (ScanCancelled, KeyboardInterrupt):
        status = "interrupted"
    finally:
        found.close()
    if not reports:
        raise EstateError("collection interrupted before this machine's inventory was finished; nothing written")
    scan = Scan(kind="collect", started_at=ctx.started_at, finished_at=utc_now(), status=status,
                targets=tuple(scanner.targets()), arguments=arguments, warnings=tuple(ctx.warnings))
    return build_bundle(reports, scan=scan, collector=get_collector_info(name))


def get_collector_info(name: str) -> dict:
    """Return what describes the collector run: program, version, platform, Python, user, privileges."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in the environment or password database (OSError, KeyError, ImportError)
        user = None
    try:
        privileged = get_is_admin()
    except Exception:
        privileged = None
    return {
        "name": name,
        "version": __version__,
        "platform": platform.platform(),
        "system": platform.system() or None,
        "python": platform.python_version(),
        "hostname": socket.gethostname() or None,
        "user": user,
        "privileged": privileged,
    }


def write_bundle(doc: dict, path: Path) -> str:
    """Write a bundle atomically (owner-only) and return the one-line summary of what was written."""
    data = encode_bundle(doc)
    with atomic_output(path, "wb") as out:
        out.write(data)
    return describe_bundle(doc, str(path), len(data))


def describe_bundle(doc: dict, path: str, size: int) -> str:
    """Return the one-line summary of a written bundle: where, how big, what it holds."""
    scan = doc["scan"]
    parts = []
    for report in doc["reports"]:
        host = report["host"]
        counts = ", ".join(f"{len(report[k])} {k}" for k in ("software", "processes", "services", "connections",
                                                              "databases", "interfaces") if report[k])
        parts.append(f"{host.get('fqdn') or host.get('hostname') or 'this machine'}"
                     f"{' (' + counts + ')' if counts else ''}")
    return (f"Wrote {path} ({size / 1024:.0f} KiB, bundle version {doc['version']}, collection {scan['status']}): "
            f"{'; '.join(parts)}. Import it with: estatemap import {path}")
