"""GraphView on the small analysed estate (tests/gui/conftest.py): nodes, selection, search, filters,
neighbourhood, collapse, both layouts off the GUI thread, saved pictures; and the layout functions alone."""

from __future__ import annotations

import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
from PySide6.QtCore import QCoreApplication, QPointF, QThreadPool
from PySide6.QtGui import QImage

from gui.graph_layout import compute_layout, longest_path_layers
from gui.graph_view import GraphView
from tests.gui.conftest import shown_graph_view

TIMEOUT = 60_000  # ms: bounds a wait for a signal; generous for a loaded machine


@pytest.fixture
def view(qtbot, snapshot):
    """A shown GraphView holding the small estate, its first layout done."""
    return shown_graph_view(qtbot, snapshot)


def ids_of(snapshot, *names):
    """Return the host ids of these hostnames."""
    by_name = {h["hostname"]: h["id"] for h in snapshot.hosts_by_id.values()}
    return {by_name[n] for n in names}


def relayout(qtbot, view, change, *args):
    """Call view.change(*args) and wait for the new picture."""
    with qtbot.waitSignal(view.layout_finished, timeout=TIMEOUT):
        getattr(view, change)(*args)


def test_graph_view_shows_every_host(view, snapshot):
    assert view.node_ids() == set(snapshot.hosts_by_id)
    assert all(view.node_position(n) is not None for n in view.node_ids())


def test_select_node_app_host_highlights_dependencies_and_dependents(qtbot, view, snapshot):
    (app,) = ids_of(snapshot, "app01")
    heard = []
    view.node_selected.connect(lambda node: heard.append(("node", node)))
    view.host_selected.connect(lambda host: heard.append(("host", host)))
    assert view.select_node(app)
    assert heard == [("node", app), ("host", app)]
    lit = view.highlighted()
    assert lit["selected"] == {app}
    assert lit["depends_on"] == ids_of(snapshot, "db01", "cache01", "pacs01", "dns01")
    assert lit["dependents"] == ids_of(snapshot, "web01")


def test_select_node_service_level_reaches_the_same_hosts(qtbot, view, snapshot):
    relayout(qtbot, view, "set_level", "service")
    (app,) = ids_of(snapshot, "app01")
    view.select_node(app)
    lit = view.highlighted()
    hosts = set(snapshot.hosts_by_id)
    assert lit["depends_on"] & hosts == ids_of(snapshot, "db01", "cache01", "pacs01", "dns01")
    assert lit["dependents"] & hosts == ids_of(snapshot, "web01")
    assert f"{app}:tcp/8080" in lit["dependents"]  # its own service fails with it


def test_clear_selection_empties_highlight(view, snapshot):
    view.select_node(next(iter(ids_of(snapshot, "db01"))))
    view.clear_selection()
    assert view.highlighted() == {"selected": set(), "depends_on": set(), "dependents": set()}


def test_find_node_by_name_and_address_selects_and_centres(view, snapshot):
    (db,) = ids_of(snapshot, "db01")
    view.canvas.centerOn(view.node_position(next(iter(ids_of(snapshot, "web01")))))
    assert view.find_node("10.9.8.3") == db
    assert view.highlighted()["selected"] == {db}
    centre = view.canvas.mapToScene(view.canvas.viewport().rect().center())
    assert (centre - view.node_position(db)).manhattanLength() < 5
    assert view.find_node("PACS01") == next(iter(ids_of(snapshot, "pacs01")))
    assert view.find_node("no-such-host") is None


def test_click_on_node_selects_it(qtbot, view, snapshot):
    (cache,) = ids_of(snapshot, "cache01")
    with qtbot.waitSignal(view.host_selected, timeout=TIMEOUT) as blocker:
        view.canvas.scene_clicked.emit(view.node_position(cache) + QPointF(3, 2))
    assert blocker.args == [cache]


def test_kind_filter_hides_hosts(qtbot, view):
    relayout(qtbot, view, "set_level", "service")
    kinds = {view.node_data(n)["kind"] for n in view.node_ids()}
    assert {"host", "service", "process", "database"} <= kinds
    relayout(qtbot, view, "set_kind_filter", {"service", "database"})
    assert {view.node_data(n)["kind"] for n in view.node_ids()} == {"service", "database"}


def test_min_risk_filter_keeps_only_risky_hosts(qtbot, view, snapshot):
    risks = {h["id"]: h["risk_score"] for h in snapshot.inventory["hosts"]}
    threshold = max(risks.values())
    assert threshold > 0
    relayout(qtbot, view, "set_min_risk", threshold)
    assert view.node_ids() == {h for h, r in risks.items() if r >= threshold}
    assert len(view.node_ids()) < len(risks)


def test_hide_shared_removes_dns(qtbot, view, snapshot):
    relayout(qtbot, view, "set_hide_shared", True)
    assert view.node_ids() == set(snapshot.hosts_by_id) - ids_of(snapshot, "dns01")


def test_group_filter_shows_one_move_group(qtbot, view, snapshot):
    group = snapshot.inventory["groups"][0]
    relayout(qtbot, view, "set_group_filter", group["id"])
    assert view.node_ids() == set(group["host_ids"])


def test_show_neighbourhood_one_hop_of_db(qtbot, view, snapshot):
    (db,) = ids_of(snapshot, "db01")
    with qtbot.waitSignal(view.layout_finished, timeout=TIMEOUT):
        view.show_neighbourhood(db, 1)
    assert view.node_ids() == ids_of(snapshot, "db01", "app01", "dns01")
    relayout(qtbot, view, "show_all")
    assert view.node_ids() == set(snapshot.hosts_by_id)


def test_collapse_by_subnet_and_group_reduces_nodes(qtbot, view, snapshot):
    relayout(qtbot, view, "set_collapse", "subnet")
    assert view.node_ids() == {"subnet:10.9.8.0/24"}
    assert view.node_data("subnet:10.9.8.0/24")["members"]
    relayout(qtbot, view, "set_collapse", "group")
    group = snapshot.inventory["groups"][0]
    assert view.node_ids() == {"group:" + group["id"]} | (set(snapshot.hosts_by_id) - set(group["host_ids"]))
    assert len(view.node_ids()) < len(snapshot.hosts_by_id)


@pytest.mark.parametrize("method", ["layered", "force"])
def test_layout_runs_off_gui_thread_and_places_every_node(qtbot, view, method):
    if view.options().layout == method:  # lay out afresh with `method`, so the worker surely ran
        relayout(qtbot, view, "set_layout_method", "force" if method == "layered" else "layered")
    relayout(qtbot, view, "set_layout_method", method)
    result = view.last_layout
    assert result.options.layout == method
    assert result.thread_ident != threading.main_thread().ident
    assert set(result.positions) == view.node_ids()
    assert len({(round(x), round(y)) for x, y in result.positions.values()}) == len(result.positions)


def test_layered_layout_puts_clients_left_of_servers(view, snapshot):
    x = {n: view.node_position(n).x() for n in view.node_ids()}
    (web,), (app,), (db,), (dns,) = (ids_of(snapshot, n) for n in ("web01", "app01", "db01", "dns01"))
    assert x[web] < x[app] < x[db] < x[dns]


def test_newer_request_wins(qtbot, view):
    with qtbot.waitSignal(view.layout_finished, timeout=TIMEOUT):
        view.set_level("service")
        view.set_level("host")
    # Let the older request's job end however late it runs (cancelled, or its result arriving after the newer
    # one): the thread pool idle, then whatever it sent the GUI thread delivered. The newer layout must stay.
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT)
    QCoreApplication.processEvents()
    assert view.last_layout.options.level == "host"
    assert not view.is_laying_out()


def test_save_image_png_and_svg(view, tmp_path):
    png = view.save_image(tmp_path / "graph.png")
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 0 and image.height() > 0
    svg = view.save_image(tmp_path / "graph.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    with pytest.raises(ValueError):
        view.save_image(tmp_path / "graph.bmp")


def test_longest_path_layers_cycle_shares_a_layer():
    D = nx.DiGraph([("client", "a"), ("a", "b"), ("b", "a"), ("b", "db")])
    layers = longest_path_layers(D)
    assert layers == {"client": 0, "a": 1, "b": 1, "db": 2}


def test_compute_layout_large_graph_places_every_node():
    nodes = [f"n{i}" for i in range(2000)]
    edges = [(f"n{i}", f"n{(i * 7 + 1) % 2000}") for i in range(2000)] + [(n, "n0") for n in nodes[1:]]
    for method in ("layered", "force"):
        positions = compute_layout(method, nodes, edges)
        assert set(positions) == set(nodes)


def test_gui_graph_modules_import_no_scanners():
    code = ("import sys, gui.graph_view, gui.graph_layout, gui.graph_items; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('scanners', 'nmap', 'psutil')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": ""}, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stdout + done.stderr


def test_select_node_shared_dns_lights_its_clients(view, snapshot):
    (dns,) = ids_of(snapshot, "dns01")
    view.select_node(dns)
    assert view.highlighted()["dependents"] == ids_of(snapshot, "web01", "app01", "db01")
    assert view.highlighted()["depends_on"] == set()


def test_hovering_a_node_shows_what_it_is(qtbot, view, snapshot):
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    (db,) = ids_of(snapshot, "db01")
    text = view.tooltip_text(db)
    assert text.startswith("db01 (host)") and "legacy" in text and "10.9.8.3" in text
    assert "risk 40 of 100" in text and "used by 1" in text  # app01 depends on it
    assert view.tooltip_text("no-such-node") is None
    view.canvas.centerOn(view.node_position(db))
    point = view.canvas.mapFromScene(view.node_position(db))
    event = QHelpEvent(QEvent.Type.ToolTip, point, view.canvas.viewport().mapToGlobal(point))
    QApplication.sendEvent(view.canvas.viewport(), event)
    assert QToolTip.text() == text


def test_labels_fade_with_the_nodes_outside_the_highlight(view, snapshot):
    db, cache, web = (next(iter(ids_of(snapshot, name))) for name in ("db01", "cache01", "web01"))
    assert view.select_node(db)
    items = view._items
    assert cache not in set().union(*view.highlighted().values())
    assert items.label_opacity(cache) < 0.5
    assert items.label_opacity(db) == 1.0 and items.label_opacity(web) == 1.0  # web01 reaches db01 via app01
    view.clear_selection()
    assert items.label_opacity(cache) == 1.0
