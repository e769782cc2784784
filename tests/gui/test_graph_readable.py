"""The Graph page as an architect reads it (issue 20, items 1–6 and the graph's keys): framed on first show,
short labels that never overlap at 55 hosts, an empty state that says why, edges that say what they carry,
a blast-radius line with the analysis's counts, honest colours, tooltips and keys."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QSpinBox

from discovery.analyses.analysis import blast_radius_sizes
from discovery.analyses.graph import host_graph
from discovery.records.model import Scan
from discovery.storage.store import Store
from gui.data import load_snapshot
from gui.graph_text import friendly_protocol
from gui.graph_impact import analysis_shared_hosts
from gui.graph_style import DEPENDENTS_COLOUR, SELECTED_COLOUR, UNKNOWN_COLOUR, fill_colour, risk_colour
from gui.graph_model import little_evidence, short_name
from gui.graph_view import NO_CONNECTIONS_TEXT, GraphView
from tests.builders import T0, make_report
from tests.gui.large_estate import fill_large_estate

TIMEOUT = 60_000
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshots.py"


@pytest.fixture
def large_snapshot(tmp_path):
    path = tmp_path / "large.db"
    with Store(path) as store:
        fill_large_estate(store)
    return load_snapshot(path)


def shown_view(qtbot, snapshot, *, size=(1000, 700)) -> GraphView:
    """A GraphView laid out while hidden (as on a page not yet opened), then shown."""
    view = GraphView()
    qtbot.addWidget(view)
    view.resize(*size)
    with qtbot.waitSignal(view.layout_finished, timeout=TIMEOUT):
        view.set_snapshot(snapshot)
    view.show()
    qtbot.waitExposed(view)
    return view


def estate_in_viewport(view: GraphView) -> QRectF:
    """Return the estate's bounding rectangle in viewport pixels."""
    return view.canvas.mapFromScene(view._items.bounding_rect()).boundingRect().toRectF()


def fills_viewport(view: GraphView) -> bool:
    """True when the estate is wholly in view and fills most of its width or height."""
    shown, port = estate_in_viewport(view), QRectF(view.canvas.viewport().rect())
    inside = port.adjusted(-2, -2, 2, 2).contains(shown)
    return inside and (shown.width() >= 0.6 * port.width() or shown.height() >= 0.6 * port.height())


def by_name(snapshot, name):
    return next(h["id"] for h in snapshot.hosts_by_id.values() if h["hostname"] == name)


# -- 1. framing ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["small", "large"])
def test_first_show_fits_the_estate(qtbot, snapshot, large_snapshot, which):
    view = shown_view(qtbot, snapshot if which == "small" else large_snapshot)
    assert fills_viewport(view), (estate_in_viewport(view), view.canvas.viewport().rect())


def test_resize_refits_until_the_user_zooms_and_returning_keeps_the_zoom(qtbot, large_snapshot):
    view = shown_view(qtbot, large_snapshot)
    view.resize(1400, 900)
    qtbot.waitUntil(lambda: fills_viewport(view))
    view.zoom_in()
    zoomed = view.canvas.scale_factor()
    assert not view.auto_fit()
    view.resize(900, 600)
    qtbot.wait(50)
    assert view.canvas.scale_factor() == pytest.approx(zoomed)
    view.hide()
    view.show()
    assert view.canvas.scale_factor() == pytest.approx(zoomed)
    view.fit()
    assert view.auto_fit() and fills_viewport(view)


# -- 2. labels -----------------------------------------------------------------------------------------------

def test_labels_are_short_with_the_full_name_on_hover(qtbot, large_snapshot):
    view = shown_view(qtbot, large_snapshot)
    db = by_name(large_snapshot, "db-00.clinical-systems.hospital.example")
    assert view.node_data(db)["label"] == "db-00"
    assert view.tooltip_text(db).startswith("db-00.clinical-systems.hospital.example (host)")
    assert short_name("10.30.0.12") == "10.30.0.12"


def test_labels_do_not_overlap_at_55_hosts_in_the_default_layout(qtbot, large_snapshot):
    view = shown_view(qtbot, large_snapshot)
    assert view.options().layout == "layered" and len(view.node_ids()) == 55
    rects = list(view._items.label_rects().items())
    overlaps = [(a, b) for (a, ra), (b, rb) in itertools.combinations(rects, 2) if ra.intersects(rb)]
    assert overlaps == []


def test_unconnected_hosts_are_set_out_in_a_near_square_grid(qtbot, large_snapshot):
    view = shown_view(qtbot, large_snapshot)
    ward = [n for n in view.node_ids() if view.node_data(n)["label"].startswith("ward")]
    xs = {round(view.node_position(n).x()) for n in ward}
    ys = {round(view.node_position(n).y()) for n in ward}
    assert len(ward) == 40 and 4 <= len(xs) <= 12 and 3 <= len(ys) <= 10
    rect = view._items.bounding_rect()
    assert rect.width() / rect.height() < 3


# -- 3. empty state ------------------------------------------------------------------------------------------

def test_hosts_without_dependencies_say_which_scans_give_connections(qtbot, tmp_path):
    path = tmp_path / "alone.db"
    with Store(path) as store:
        fill_large_estate(store, connected=False)
    view = shown_view(qtbot, load_snapshot(path))
    assert view.empty_label.isVisible()
    text = view.empty_label.text()
    assert "No connection data" in text
    for scan in ("this host", "SSH", "collector", "database", "SNMP", "passive"):
        assert scan in text


def test_an_estate_with_dependencies_shows_no_empty_state(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    assert not view.empty_label.isVisible() and view.empty_label.text() == NO_CONNECTIONS_TEXT


# -- 4. edges ------------------------------------------------------------------------------------------------

def test_edge_tooltip_names_protocol_port_process_and_evidence(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    app, pacs, db = (by_name(snapshot, n) for n in ("app01", "pacs01", "db01"))
    tip = view.edge_tooltip_text(app, pacs)
    assert tip.splitlines()[0] == "app01 → pacs01"
    assert "DICOM (tcp/104) from java" in tip and "observed" in tip and "last seen 2026-11-01" in tip
    assert "PostgreSQL (tcp/5432) from java" in view.edge_tooltip_text(app, db)
    middle = (view.node_position(app) + view.node_position(pacs)) / 2
    assert view._tooltip_at(middle) == tip  # hovering the line shows it


def test_an_edge_that_would_cross_a_node_bows_round_it(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    items = view._items
    crossing = [(u, v) for u, v in view.last_layout.graph.edges() if items.is_bent(u, v)]
    assert crossing  # app01 → dns01 skips db01's layer in the layered layout
    for u, v in view.last_layout.graph.edges():
        x, y = items._edge_point(u, v, 0.5)
        assert items.node_at(QPointF(x, y), slack=0) is None, (u, v)  # no edge's middle lies on a node
        assert view._tooltip_at(QPointF(x, y)) == view.edge_tooltip_text(u, v)


def test_edge_labels_carry_the_protocol_name(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    app, pacs = by_name(snapshot, "app01"), by_name(snapshot, "pacs01")
    assert view._items.edge_label_text(app, pacs) == "DICOM"
    web, dns = by_name(snapshot, "web01"), by_name(snapshot, "dns01")
    view.select_node(pacs)  # app01 → pacs01 lit, web01 → dns01 faded with its edge
    assert view._items._edge_labels[app, pacs].opacity() == 1.0
    assert view._items._edge_labels[web, dns].opacity() < 0.5
    view.clear_selection()
    view._items.set_zoom(0.5)
    assert not view._items.layers["edges"].isVisible()
    view._items.set_zoom(2.0)
    assert view._items.layers["edges"].isVisible()


def test_friendly_protocol_names_over_nmap_names_and_ports():
    assert friendly_protocol(104, "acr-nema") == "DICOM"
    assert friendly_protocol(2575, None) == "HL7 v2/MLLP"
    assert friendly_protocol(6379, "redis-server") == "Redis"
    assert friendly_protocol(3306) == "MySQL"
    assert friendly_protocol(40000, "weird") is None


def test_service_level_nodes_name_their_host(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    with qtbot.waitSignal(view.layout_finished, timeout=TIMEOUT):
        view.set_level("service")
    db = by_name(snapshot, "db01")
    assert view.node_data(f"{db}:tcp/5432")["label"] == "PostgreSQL 5432 · db01"
    assert "on host db01" in view.tooltip_text(f"{db}:tcp/5432")


# -- 5. blast radius -----------------------------------------------------------------------------------------

def test_blast_radius_line_says_it_with_the_analysis_counts(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    db = by_name(snapshot, "db01")
    view.select_node(db)
    assert "db01: 1 host depends on it directly, 2 in total (app01, web01)" in view.impact_label.text()
    sizes = blast_radius_sizes(host_graph(snapshot.graph), stop_at=analysis_shared_hosts(snapshot))
    for host in snapshot.hosts_by_id:
        assert len(view.impact(host).total) == sizes[host], snapshot.hosts_by_id[host]["hostname"]
    factor = next(f for f in snapshot.hosts_by_id[db]["risk_factors"] if f["factor"] == "blast radius")
    assert factor["detail"].startswith(f"{len(view.impact(db).total)} hosts")


def test_blast_radius_counts_match_the_analysis_at_55_hosts(qtbot, large_snapshot):
    view = shown_view(qtbot, large_snapshot)
    sizes = blast_radius_sizes(host_graph(large_snapshot.graph), stop_at=analysis_shared_hosts(large_snapshot))
    assert {h: len(view.impact(h).total) for h in large_snapshot.hosts_by_id} == sizes


def test_dependents_are_outlined_in_a_colour_off_the_risk_scale(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    view.select_node(by_name(snapshot, "db01"))
    pens = {item.pen().color().name() for item in view._items._highlight if hasattr(item, "pen")}
    assert DEPENDENTS_COLOUR in pens and SELECTED_COLOUR in pens
    scale = {risk_colour(r) for r in range(0, 101, 10)}
    for colour in (DEPENDENTS_COLOUR, SELECTED_COLOUR):
        hue = QColor(colour).hslHue()
        assert colour not in scale and (hue == -1 or 180 < hue < 330)  # neither green, amber nor red


def test_selection_label_is_not_drawn_over_the_legacy_badge(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    db = by_name(snapshot, "db01")
    assert view.node_data(db)["legacy"] == "major"  # an end-of-life OS
    view.select_node(db)
    label = next(i for i in view._items._highlight if hasattr(i, "text"))
    x, y = view.node_position(db).x(), view.node_position(db).y()
    badge = QRectF(x + 18 - 5, y - 11 - 5, 10, 10)
    assert not QRectF(label.pos(), label.boundingRect().size() / view.canvas.scale_factor()).intersects(badge)


# -- 6. honest colours ---------------------------------------------------------------------------------------

def test_an_unscored_host_is_drawn_apart_from_a_low_risk_one(qtbot, estate_db):
    path, _ = estate_db
    with Store(path) as store:  # a host scanned after the analysis: not scored yet
        scan = store.start_scan(Scan(kind="host", started_at=T0))
        store.write_host_report(scan, make_report(hostname="new01", address="10.9.8.20", services=()))
        store.finish_scan(scan, "completed")
    snap = load_snapshot(path)
    view = shown_view(qtbot, snap)
    new, cache = by_name(snap, "new01"), by_name(snap, "cache01")
    assert view.node_data(new)["unknown"] and not view.node_data(cache)["unknown"]
    assert view.node_data(cache)["risk"] < 30
    assert fill_colour(view.node_data(new)) == UNKNOWN_COLOUR != fill_colour(view.node_data(cache))
    assert "not scored" in view.tooltip_text(new)
    assert "unscored or little evidence" in view.legend.text()


def test_little_evidence_rule():
    assert little_evidence({"risk_score": None})
    assert little_evidence({"risk_score": 12.0, "coverage_depth": "ports"})
    assert not little_evidence({"risk_score": 12.0, "coverage_depth": "os"})
    assert not little_evidence({"risk_score": 12.0})  # an older store without depths: taken at its score


def test_score_is_written_on_the_node_and_legacy_is_graded(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    texts = {item.text() for item in view._items.layers["hosts"].childItems()}
    db = by_name(snapshot, "db01")
    assert f"{view.node_data(db)['risk']:.0f}" in texts
    grades = {view.node_data(h)["legacy"] for h in snapshot.hosts_by_id}
    assert "major" in grades and None in grades  # only db01's end-of-life OS, not every host


# -- 10. keys and tooltips -----------------------------------------------------------------------------------

def test_every_graph_toolbar_control_has_a_tooltip(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    controls = [w for kind in (QAbstractButton, QComboBox, QSpinBox, QLineEdit) for w in view.findChildren(kind)
                if not isinstance(w.parent(), (QComboBox, QSpinBox))]  # not a spin box's own line edit
    assert len(controls) >= 14
    assert [w for w in controls if not w.toolTip()] == []


def test_zoom_and_fit_shortcuts(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    view.activateWindow()
    qtbot.waitActive(view)
    view.canvas.setFocus()
    start = view.canvas.scale_factor()
    window = view.windowHandle()  # through the window: the way shortcuts are matched
    QTest.keyClick(window, Qt.Key_Equal, Qt.ControlModifier)
    assert view.canvas.scale_factor() == pytest.approx(start * 1.25)
    QTest.keyClick(window, Qt.Key_Minus, Qt.ControlModifier)
    QTest.keyClick(window, Qt.Key_Minus, Qt.ControlModifier)
    assert view.canvas.scale_factor() == pytest.approx(start / 1.25)
    assert not view.auto_fit()
    qtbot.keyClick(view.canvas, Qt.Key_F)
    assert view.auto_fit() and fills_viewport(view)


def test_arrow_keys_move_the_selection_between_connected_nodes(qtbot, snapshot):
    view = shown_view(qtbot, snapshot)
    view.canvas.setFocus()
    web, app = by_name(snapshot, "web01"), by_name(snapshot, "app01")
    view.select_node(web)
    qtbot.keyClick(view.canvas, Qt.Key_Right)  # web01 → app01, the server it calls, lies to the right
    assert view.selected_node() == app
    qtbot.keyClick(view.canvas, Qt.Key_Left)
    assert view.selected_node() == web
    qtbot.keyClick(view.canvas, Qt.Key_Left)  # nothing connected further left: stays
    assert view.selected_node() == web
    qtbot.keyClick(view.canvas, Qt.Key_Escape)
    assert view.selected_node() is None




# -- screenshots ---------------------------------------------------------------------------------------------

def test_screenshot_script_renders_the_55_host_graph_as_first_shown(qapp, tmp_path):
    import importlib.util

    from PySide6.QtGui import QImage
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    path = script.render_graph(script.large_demo_store(tmp_path), tmp_path / "docs", "graph-55")
    image = QImage(str(path))
    assert path.name == "graph-55.png" and image.width() >= 1000
    assert len({image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}) > 8


def test_the_graph_page_fits_a_1024_pixel_window(qtbot, large_snapshot):
    view = shown_view(qtbot, large_snapshot)
    assert view.minimumSizeHint().width() <= 900  # beside the page list, nothing cut off at 1,024 px
    view.resize(900, 600)
    qtbot.waitUntil(lambda: fills_viewport(view))
    for check in (view.shared_check, view.layer2_check):
        assert check.width() >= check.sizeHint().width(), check.text()  # the label is not cut


@pytest.mark.parametrize("level", ["host", "service"])
def test_force_layout_labels_do_not_overlap_at_55_hosts(qtbot, large_snapshot, level):
    view = shown_view(qtbot, large_snapshot)
    for change, value in (("set_level", level), ("set_layout_method", "force")):
        if getattr(view.options(), "level" if change == "set_level" else "layout") != value:
            with qtbot.waitSignal(view.layout_finished, timeout=TIMEOUT):
                getattr(view, change)(value)
    rects = list(view._items.label_rects().items())
    assert [(a, b) for (a, ra), (b, rb) in itertools.combinations(rects, 2) if ra.intersects(rb)] == []
