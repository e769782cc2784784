"""Render screenshots of the desktop application's main views into docs/ (the README shows them).

Runs the real application offscreen on a real store: by default a small demo estate written into a
temporary store and analysed (the estate the GUI tests use), or --db STORE for your own; then the Graph page
alone on a 55-host demo estate (graph-55.png). --only-graph writes only the graph pictures.

Run: .venv/bin/python scripts/screenshots.py [--db STORE] [--out docs] [--only-graph]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SIZE = (1400, 860)
TIMEOUT_MS = 60_000


def wait_for(signal, *, timeout_ms: int = TIMEOUT_MS, already=lambda: False) -> None:
    """Run the event loop until `signal` fires (or `already()` is true); raise TimeoutError after `timeout_ms`."""
    from PySide6.QtCore import QEventLoop, QTimer
    if already():
        return
    loop, timer = QEventLoop(), QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    signal.connect(loop.quit)
    timer.start(timeout_ms)
    loop.exec()
    if not timer.isActive() and not already():
        raise TimeoutError(f"no {signal} within {timeout_ms / 1000:.0f} s")
    timer.stop()


def settle(ms: int = 200) -> None:
    """Let pending paints and deferred layouts happen."""
    from PySide6.QtCore import QEventLoop, QTimer
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def demo_store(folder: Path) -> Path:
    """Write the demo estate into a new store in `folder` and return its path."""
    from discovery.service import analyze
    from discovery.storage.store import Store
    from tests.gui.conftest import AS_OF, fill_estate
    path = folder / "demo-estate.db"
    with Store(path) as store:
        fill_estate(store)
        add_switch(store)
        add_vcenter(store)
        analyze(store, as_of=AS_OF)  # again, after the switch's scan: the pictures show a current analysis
    return path


def large_demo_store(folder: Path) -> Path:
    """Write the 55-host demo estate (tests/gui/large_estate.py) into a new store in `folder`; return its path."""
    from discovery.storage.store import Store
    from tests.gui.large_estate import fill_large_estate
    path = folder / "demo-estate-55.db"
    with Store(path) as store:
        fill_large_estate(store)
    return path


def open_window(store_path: Path):
    """Return (the app, the main window showing `store_path`, its snapshot, the temporary settings folder)."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from exports.registry import FORMATS, load_exporter
    from gui.main_window import MainWindow
    from scanners.kinds import REGISTRY

    app = QApplication.instance() or QApplication([sys.argv[0]])
    settings_folder = tempfile.TemporaryDirectory()  # never the user's own settings
    settings = QSettings(str(Path(settings_folder.name) / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(scan_kinds=REGISTRY, formats=FORMATS,
                        exporter_factory=load_exporter, settings=settings)
    window.resize(*SIZE)
    window.show()
    loaded = []
    window.snapshot_loaded.connect(loaded.append)
    window.open_store(store_path)
    wait_for(window.snapshot_loaded, already=lambda: bool(loaded))
    return app, window, loaded[-1], (settings, settings_folder)


def render_graph(store_path: Path, out: Path, name: str = "graph", select: str | None = None) -> Path:
    """Open `store_path` and save the Graph page as first shown (no Fit pressed), with the host named `select`
    selected if given, as `out`/`name`.png; return the file."""
    app, window, snapshot, (settings, folder) = open_window(store_path)
    out.mkdir(parents=True, exist_ok=True)
    window.show_page("Graph")
    graph = window.graph_view
    wait_for(graph.layout_finished, already=lambda: not graph.is_laying_out() and graph.last_layout is not None)
    by_name = {h["hostname"]: h["id"] for h in snapshot.inventory["hosts"]}
    if select in by_name:
        graph.select_node(by_name[select])
    settle()
    path = out / f"{name}.png"
    window.grab().save(str(path))
    window.close()
    app.processEvents()
    del settings
    folder.cleanup()
    return path


def add_switch(store) -> None:
    """An SNMP scan of the demo estate's switch: each host's MAC learned on a port of its own, and an LLDP
    neighbour that no scan has seen (so the Layer 2 view has something to show)."""
    from discovery.records.model import Host, HostReport, Neighbour, Scan
    from tests.builders import T0

    hosts = [h for h in store.hosts() if h.get("macs")]
    common = dict(source="snmp", observed_at=T0)
    neighbours = [Neighbour(protocol="fdb", local_port=f"Gi1/0/{n}", remote_mac=h["macs"][0], **common)
                  for n, h in enumerate(sorted(hosts, key=lambda h: h["hostname"] or ""), 1)]
    neighbours.append(Neighbour(protocol="lldp", local_port="Gi1/0/48", remote_name="sw-floor2",
                                remote_port="Gi0/1", **common))
    scan = store.start_scan(Scan(kind="snmp", started_at=T0))
    store.write_host_report(scan, HostReport(
        host=Host(hostname="sw-core", addresses=("10.9.8.254",), macs=("00:11:22:33:44:00",),
                  vendor="Cisco", model="WS-C3750G-24TS", **common), neighbours=tuple(neighbours)))
    store.finish_scan(scan, "completed")


def add_vcenter(store) -> None:
    """A vCenter scan of the demo estate: four of its hosts are VMs (matched by MAC) on two ESXi hosts of one
    cluster, with the vCenter's datacenter, cluster, datastores and network (so the Hypervisor and Cluster columns
    and the graph's collapse by cluster have something to show)."""
    from discovery.records.model import Host, HostReport, PlatformObject, Scan, ScriptResult
    from tests.builders import T0

    common = dict(source="vcenter", observed_at=T0)
    place = dict(cluster="Clinical-A", datacenter="Hospital-DC")
    scan = store.start_scan(Scan(kind="vcenter", targets=("https://vc01.hospital.example",), started_at=T0))
    server = "https://vc01.hospital.example"
    for kind, key, name, data in (
            ("vcenter", "ServiceInstance", server, {"product": "VMware vCenter Server 7.0.3", "version": "7.0.3",
                                                    "api_type": "VirtualCenter", "role": "vcenter"}),
            ("datacenter", "datacenter-1", "Hospital-DC", {}),
            ("cluster", "domain-c7", "Clinical-A", {"hosts": 2, "cpu_cores": 64, "memory_bytes": 2**40, **place}),
            ("datastore", "datastore-11", "SAN-LUN01", {"type": "VMFS", "capacity_bytes": 4 * 2**40,
                                                        "free_bytes": 2**40, "datacenter": "Hospital-DC"}),
            ("network", "network-5", "Clinical VLAN 20", {"type": "Network", "datacenter": "Hospital-DC"})):
        store.write_platform_object(scan, PlatformObject(kind=kind, server=server, key=key, name=name, data=data,
                                                         **common))
    for n in (1, 2):
        store.write_host_report(scan, HostReport(host=Host(
            hostname=f"esx0{n}", addresses=(f"10.9.7.{n}",), os_name="VMware ESXi", os_version="7.0.3",
            os_family="esxi", hardware_uuid=f"4c4c4544-0000-1000-8000-00000000000{n}", vendor="Dell Inc.",
            model="PowerEdge R750", **common,
            scripts=(ScriptResult(id="vcenter-esxi", data={**place, "product": "VMware ESXi 7.0.3"}),))))
    esxi = {1: "esx01", 2: "esx02"}
    for n, host in enumerate(h for h in store.hosts() if h["hostname"] in ("web01", "app01", "db01", "cache01")):
        on = 1 + n % 2
        store.write_host_report(scan, HostReport(host=Host(
            hostname=host["hostname"], macs=tuple(host.get("macs") or ()), virtualization="vmware",
            cpu_cores=4, memory_bytes=16 * 2**30, status="up", **common,
            scripts=(ScriptResult(id="vcenter-vm", data={
                "power_state": "poweredOn", "datacenter": "Hospital-DC", "hardware_version": "vmx-19",
                "tools_running": "guestToolsRunning", "datastores": ["SAN-LUN01"], "networks": ["Clinical VLAN 20"],
                "runs_on": {"host": esxi[on], "host_uuid": f"4c4c4544-0000-1000-8000-00000000000{on}",
                            "cluster": "Clinical-A"}}),))))
    store.finish_scan(scan, "completed")


def render(store_path: Path, out: Path) -> list[Path]:
    """Open `store_path` in the main window and save one PNG per main view into `out`; return the files."""
    app, window, snapshot, (settings, settings_folder) = open_window(store_path)
    out.mkdir(parents=True, exist_ok=True)
    hosts = sorted(snapshot.inventory["hosts"], key=lambda h: -(h["risk_score"] or 0))
    by_name = {h["hostname"]: h["id"] for h in hosts}
    focus = by_name.get("app01") or (hosts[0]["id"] if hosts else None)
    files = []

    def shoot(name: str, widget=None) -> None:
        settle()
        path = out / f"{name}.png"
        (widget or window).grab().save(str(path))
        files.append(path)

    window.show_page("Overview")
    shoot("overview")
    window.show_page("Inventory")
    if focus:
        window.inventory_view.select_host(focus)
    shoot("inventory")
    window.show_page("Graph")
    graph = window.graph_view
    wait_for(graph.layout_finished, already=lambda: not graph.is_laying_out() and graph.last_layout is not None)
    if focus:
        graph.select_node(focus, centre=False)
    shoot("graph")  # as first shown: framed without pressing Fit
    if any(h.get("cluster") for h in snapshot.inventory["hosts"]):
        graph.clear_selection()
        graph.set_collapse("cluster")
        wait_for(graph.layout_finished, already=lambda: not graph.is_laying_out())
        graph.fit_to_view()
        shoot("graph-clusters")
        graph.set_collapse(None)
        wait_for(graph.layout_finished, already=lambda: not graph.is_laying_out())
    if graph.layer2_check.isEnabled():
        graph.clear_selection()
        graph.set_layer2_visible(True)
        graph.fit_to_view()
        shoot("graph-layer2")
        graph.set_layer2_visible(False)
    window.show_page("Findings")
    window.findings_view.table_view.select_row(0)
    shoot("findings")
    window.show_page("Move groups")
    groups = snapshot.inventory["groups"]
    if groups:
        window.groups_view.select_group(groups[0]["id"])
    shoot("move-groups")
    window.show_page("Scans")
    shoot("scans")
    dialog = window.scan_dialog("network")
    dialog.network_targets.setPlainText("10.20.0.0/24")
    dialog.network_excludes.setText("10.20.0.1")
    shoot("scan-dialog", dialog)
    dialog.close()
    window.close()
    app.processEvents()
    del settings
    settings_folder.cleanup()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="store to show (default: a demo estate)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNG files (default: docs)")
    parser.add_argument("--only-graph", action="store_true", help="write only graph.png and graph-55.png")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        store = args.db or demo_store(Path(folder))
        files = [render_graph(store, args.out, select="app01")] if args.only_graph else render(store, args.out)
        files.append(render_graph(large_demo_store(Path(folder)), args.out, "graph-55",
                                  select="db-00.clinical-systems.hospital.example"))
        for path in files:
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
