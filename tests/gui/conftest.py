"""GUI test fixtures: an offscreen Qt platform and a small analysed estate in a real store.

The estate (built from scanner-shaped host reports, then `analyze`): a web server calling an app server
that uses a PostgreSQL database (Debian 10: end of life, so legacy findings) and a Redis cache, a
DICOM archive the app sends to, and a DNS server everyone uses.
"""

from __future__ import annotations

import os
from datetime import date

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from discovery.records.model import Scan  # noqa: E402
from discovery.service import analyze  # noqa: E402
from discovery.storage.store import Store  # noqa: E402
from tests.builders import T0, make_report  # noqa: E402

AS_OF = date(2026, 11, 28)


def fill_estate(store: Store) -> dict[str, str]:
    """Write the small estate into `store`, analyse it, and return host ids by hostname."""
    scan = store.start_scan(Scan(kind="host", started_at=T0))
    reports = {
        "web01": make_report(hostname="web01", address="10.9.8.1", services=(("tcp", 443, "nginx"),),
                             connections=(("10.9.8.1", 40001, "10.9.8.2", 8080, "outbound", "nginx"),
                                          ("10.9.8.1", 40002, "10.9.8.9", 53, "outbound", "nginx"))),
        "app01": make_report(hostname="app01", address="10.9.8.2", services=(("tcp", 8080, "java"),),
                             connections=(("10.9.8.2", 41001, "10.9.8.3", 5432, "outbound", "java"),
                                          ("10.9.8.2", 41002, "10.9.8.4", 6379, "outbound", "java"),
                                          ("10.9.8.2", 41003, "10.9.8.5", 104, "outbound", "java"),
                                          ("10.9.8.2", 41004, "10.9.8.9", 53, "outbound", "java"))),
        "db01": make_report(hostname="db01", address="10.9.8.3", services=(("tcp", 5432, "postgres"),),
                            software=(("postgresql-11", "11.22-0+deb10u1"),), os_id="debian",
                            os_version="10 (buster)",
                            connections=(("10.9.8.3", 42001, "10.9.8.9", 53, "outbound", "postgres"),)),
        "cache01": make_report(hostname="cache01", address="10.9.8.4", services=(("tcp", 6379, "redis-server"),)),
        "pacs01": make_report(hostname="pacs01", address="10.9.8.5", services=(("tcp", 104, "storescp"),
                                                                                 ("tcp", 23, "telnetd"))),
        "dns01": make_report(hostname="dns01", address="10.9.8.9", services=(("tcp", 53, "named"),)),
    }
    ids = {name: store.write_host_report(scan, report)[0] for name, report in reports.items()}
    store.finish_scan(scan, "completed")
    analyze(store, as_of=AS_OF)
    return ids


@pytest.fixture
def estate_db(tmp_path):
    """(path of a store holding the analysed small estate, host ids by hostname)."""
    path = tmp_path / "estate.db"
    with Store(path) as store:
        ids = fill_estate(store)
    return path, ids


@pytest.fixture
def snapshot(estate_db):
    """A gui.data.Snapshot of the small estate."""
    from gui.data import load_snapshot
    return load_snapshot(estate_db[0])


LAYOUT_TIMEOUT = 60_000  # ms: bounds a wait for a graph layout; generous for a loaded machine


def shown_graph_view(qtbot, snapshot):
    """Return a shown GraphView holding `snapshot`, its first layout done."""
    from gui.graph_view import GraphView

    view = GraphView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    with qtbot.waitSignal(view.layout_finished, timeout=LAYOUT_TIMEOUT):
        view.set_snapshot(snapshot)
    return view


def shown_scan_dialog(qtbot, store_path, kind: str | None = None):
    """Yield a shown ScanDialog on `store_path` (on tab `kind` if given); afterwards no scan is left running.
    For a fixture: `yield from shown_scan_dialog(qtbot, path, "ssh")`."""
    from gui.scan_dialog import ScanDialog
    from scanners.kinds import REGISTRY

    dialog = ScanDialog(store_path, REGISTRY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    if kind is not None:
        dialog.choose_kind(kind)
    yield dialog
    if dialog.worker is not None:  # never leave a scan running after a test
        dialog.worker.cancel()
        assert dialog.worker.wait(30)
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)


def choose_host_watch(dialog, every_unit: str) -> None:
    """Set the scan dialog's This host tab to watch for 1 hour, sampling every 1 `every_unit`."""
    dialog.choose_kind("host")
    dialog.host_watch.setChecked(True)
    dialog.host_watch_duration.setValue(1)
    dialog.host_watch_unit.setCurrentText("hours")
    dialog.host_every.setValue(1)
    dialog.host_every_unit.setCurrentText(every_unit)
