"""The layer-2 overlay of the graph (which switch port each host is cabled to) and the switch columns of the
Hosts table, on the small estate of tests/gui/conftest.py plus two switches.

The links are written into the inventory by hand, in the shape discovery.inventory.build gives `l2_links`
and the hosts' `switch`/`switch_port`: the GUI must work from that contract whether or not the store knows
how to produce it.
"""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QPointF, Qt

from discovery.records.model import Scan
from discovery.service import analyze
from discovery.storage.store import Store
from gui.data import load_snapshot, snapshot_of
from gui.graph_style import DIM_L2_EDGE_COLOUR, L2_EDGE_COLOUR
from gui.graph_model import describe_l2_link
from gui.graph_view import LAYER2_TIP, GraphView
from gui.inventory_view import InventoryView
from tests.builders import T0, make_report
from tests.gui.conftest import AS_OF, fill_estate
from tests.gui.conftest import shown_graph_view as show

TIMEOUT = 60_000  # ms: bounds a wait for a signal; generous for a loaded machine
# The Hosts table's columns before the switch ones were added: their order must not change.
OLD_HOST_KEYS = ["hostname", "addresses", "os", "os_family", "risk_score", "legacy", "criticality", "owner",
                 "patient_data", "vendor", "model", "cpu_cores", "memory_bytes", "macs", "sources", "last_seen",
                 "notes", "id"]


def link(source, source_port, target, target_port, protocol, **extra) -> dict:
    """Return one `l2_links` row as the inventory holds it."""
    return {"source_host_id": source, "source_port": source_port, "target_host_id": target,
            "target_port": target_port, "protocol": protocol, "source": "snmp", "target_name": None,
            "target_mac": None, "target_address": None, "vlan": None, "observed_at": T0.isoformat(), **extra}


@pytest.fixture
def l2_snapshot(tmp_path):
    """A Snapshot of the small estate plus switch-a and switch-b (10.9.7.0/24, no services, no dependencies),
    with layer-2 links: pacs01, app01 (forwarding table) on switch-a, db01 on switch-b, the two switches
    cabled to each other (seen by LLDP from one side and CDP from the other), and two links that must not be
    drawn: a phone that is no known host, and a host id the inventory does not hold."""
    path = tmp_path / "estate.db"
    with Store(path) as store:
        fill_estate(store)
        scan = store.start_scan(Scan(kind="snmp", started_at=T0))
        for name, address in (("switch-a", "10.9.7.1"), ("switch-b", "10.9.7.2")):
            store.write_host_report(scan, make_report(hostname=name, address=address, services=(), software=()))
        store.finish_scan(scan, "completed")
        analyze(store, as_of=AS_OF)
    inventory = load_snapshot(path).inventory
    ids = {h["hostname"]: h["id"] for h in inventory["hosts"]}
    a, b = ids["switch-a"], ids["switch-b"]
    inventory["l2_links"] = [
        link(a, "Gi1/0/5", ids["pacs01"], "eth0", "lldp"),
        link(a, "Gi1/0/6", ids["app01"], None, "fdb", vlan=20, target_mac="52:54:00:00:00:02"),
        link(a, "Gi1/0/1", b, "Gi0/1", "lldp"),
        link(b, "Gi0/1", a, "Gi1/0/1", "cdp"),
        link(b, "Gi0/3", None, "Port 1", "cdp", target_name="SEP001122334455"),
        link(b, "Gi0/4", ids["db01"], "eth1", "lldp"),
        link(a, "Gi1/0/48", "host-not-in-inventory", None, "fdb"),
    ]
    for host in inventory["hosts"]:
        for name, switch, port in (("pacs01", a, "Gi1/0/5"), ("app01", a, "Gi1/0/6"), ("db01", b, "Gi0/4")):
            if host["hostname"] == name:
                host.update(switch="switch-b" if switch == b else "switch-a", switch_host_id=switch,
                            switch_port=port)
    return snapshot_of(inventory, path)


@pytest.fixture
def view(qtbot, l2_snapshot):
    return show(qtbot, l2_snapshot)


def host_id(snapshot, name: str) -> str:
    return next(h["id"] for h in snapshot.hosts_by_id.values() if h["hostname"] == name)


def expected_pairs(snapshot) -> set[frozenset]:
    """Return the host pairs the overlay must join: links between two different hosts of the inventory."""
    hosts = snapshot.hosts_by_id
    return {frozenset((k["source_host_id"], k["target_host_id"])) for k in snapshot.inventory["l2_links"]
            if k["source_host_id"] in hosts and k["target_host_id"] in hosts
            and k["source_host_id"] != k["target_host_id"]}


def drawn_pairs(view: GraphView) -> list[frozenset]:
    return [frozenset(e.ends) for e in view.layer2_edges()]


def scene_items(view: GraphView) -> int:
    return len(view.scene.items())


# -- the toggle ------------------------------------------------------------------------------------------------

def test_layer2_toggle_off_by_default(view):
    assert view.layer2_check.isEnabled()
    assert not view.layer2_check.isChecked() and not view.layer2_visible()
    assert view.layer2_check.toolTip() == LAYER2_TIP
    assert view.layer2_edges() == []
    assert not view.layer2_legend.isVisibleTo(view)


@pytest.mark.parametrize("links", ["missing", "empty"])
def test_layer2_toggle_disabled_without_l2_links(qtbot, view, snapshot, links):
    view.layer2_check.click()
    assert view.layer2_visible()
    inventory = dict(snapshot.inventory)  # the plain small estate: an older store (no key) or no switch scanned
    inventory.pop("l2_links", None)
    if links == "empty":
        inventory["l2_links"] = []
    with qtbot.waitSignal(view.layout_finished, timeout=TIMEOUT):
        view.set_snapshot(snapshot_of(inventory))
    assert not view.layer2_check.isEnabled()
    assert not view.layer2_check.isChecked()
    assert "No layer-2 links" in view.layer2_check.toolTip()
    view.set_layer2_visible(True)  # refused: nothing to draw
    assert not view.layer2_visible()
    assert view.layer2_edges() == []
    assert not view.layer2_legend.isVisibleTo(view)


def test_layer2_on_draws_one_edge_per_cabled_host_pair_and_off_removes_them(view, l2_snapshot):
    before = scene_items(view)
    view.layer2_check.click()
    pairs = drawn_pairs(view)
    assert len(pairs) == len(expected_pairs(l2_snapshot)) == 4  # the two switch-to-switch links are one cable
    assert set(pairs) == expected_pairs(l2_snapshot)
    assert scene_items(view) > before
    assert view.layer2_legend.isVisibleTo(view)
    view.layer2_check.click()
    assert view.layer2_edges() == []
    assert scene_items(view) == before


def test_layer2_edges_are_dashed_without_arrowheads_in_their_own_colour(view):
    view.set_layer2_visible(True)
    batches = view._items.layer2_batches()
    assert batches
    assert {(item.pen().style(), item.pen().color().name()) for item in batches} == {(Qt.DashLine, L2_EDGE_COLOUR)}
    # one moveTo and one lineTo per cable: no arrowhead strokes
    assert sum(item.path().elementCount() for item in batches) == 2 * len(view.layer2_edges())


def test_layer2_toggle_keeps_zoom_and_positions(qtbot, view):
    view.canvas.zoom_by(2.5)
    scale = view.canvas.scale_factor()
    positions = dict(view.last_layout.positions)
    view.set_layer2_visible(True)
    assert not view.is_laying_out()
    assert view.canvas.scale_factor() == pytest.approx(scale)
    assert view.last_layout.positions == positions
    view.set_layer2_visible(False)
    assert view.canvas.scale_factor() == pytest.approx(scale)


def test_layer2_stays_on_through_a_new_layout(qtbot, view, l2_snapshot):
    view.set_layer2_visible(True)
    with qtbot.waitSignal(view.layout_finished, timeout=TIMEOUT):
        view.set_layout_method("force")
    assert set(drawn_pairs(view)) == expected_pairs(l2_snapshot)


def test_hosts_seen_only_through_l2_links_are_shown(view, l2_snapshot):
    switches = {host_id(l2_snapshot, "switch-a"), host_id(l2_snapshot, "switch-b")}
    assert switches <= view.node_ids()
    assert all(view.last_layout.graph.degree(s) == 0 for s in switches)  # no dependency reaches them
    view.set_layer2_visible(True)
    assert switches <= {n for e in view.layer2_edges() for n in e.ends}


# -- tooltips ---------------------------------------------------------------------------------------------------

def test_layer2_tooltips_name_both_ports_and_the_protocol(view, l2_snapshot):
    view.set_layer2_visible(True)
    by_pair = {frozenset(e.ends): e.tooltip for e in view.layer2_edges()}
    a, b = host_id(l2_snapshot, "switch-a"), host_id(l2_snapshot, "switch-b")
    assert by_pair[frozenset((a, host_id(l2_snapshot, "pacs01")))] == \
        "switch-a port Gi1/0/5 ↔ pacs01 port eth0 (LLDP)"
    assert by_pair[frozenset((a, host_id(l2_snapshot, "app01")))] == \
        "switch-a port Gi1/0/6 ↔ app01 (forwarding table, VLAN 20)"
    assert by_pair[frozenset((a, b))].split("\n") == ["switch-a port Gi1/0/1 ↔ switch-b port Gi0/1 (LLDP)",
                                                     "switch-b port Gi0/1 ↔ switch-a port Gi1/0/1 (CDP)"]


def test_describe_l2_link_names_a_neighbour_that_is_no_host(l2_snapshot):
    phone = next(k for k in l2_snapshot.inventory["l2_links"] if k["target_host_id"] is None)
    assert describe_l2_link(l2_snapshot, phone) == "switch-b port Gi0/3 ↔ SEP001122334455 port Port 1 (CDP)"


def _clear_points(view, edge, others, slack):
    """Yield points along `edge` with no node under them and no other cable within 3 × `slack`."""
    (x1, y1), (x2, y2) = (view.last_layout.positions[n] for n in edge.ends)
    for i in range(1, 40):
        t = i / 40
        p = QPointF(x1 + (x2 - x1) * t, y1 + (y2 - y1) * t)
        if view._items.node_at(p) is not None:
            continue
        if all(_distance(p, view.last_layout.positions[o.ends[0]], view.last_layout.positions[o.ends[1]])
               > 3 * slack for o in others):
            yield p


def _distance(p, a, b) -> float:
    (x1, y1), (x2, y2) = a, b
    dx, dy = x2 - x1, y2 - y1
    t = max(0.0, min(1.0, ((p.x() - x1) * dx + (p.y() - y1) * dy) / (dx * dx + dy * dy)))
    return math.hypot(p.x() - x1 - t * dx, p.y() - y1 - t * dy)


def test_hovering_a_layer2_line_shows_its_tooltip(view):
    assert view.canvas.tooltip_for(QPointF(-1e6, -1e6)) is None
    view.set_layer2_visible(True)
    slack = 6 / view.canvas.scale_factor()
    hovered = []
    for edge in view.layer2_edges():
        others = [o for o in view.layer2_edges() if o is not edge]
        point = next(_clear_points(view, edge, others, slack), None)
        if point is not None:
            assert view.canvas.tooltip_for(point) == edge.tooltip
            hovered.append(point)
    assert hovered
    view.set_layer2_visible(False)
    assert [view.canvas.tooltip_for(p) for p in hovered] == [None] * len(hovered)


def test_host_tooltip_names_its_switch_port(view, l2_snapshot):
    assert "cabled to switch-a port Gi1/0/5" in view.tooltip_text(host_id(l2_snapshot, "pacs01"))
    assert "cabled to" not in view.tooltip_text(host_id(l2_snapshot, "web01"))


# -- cables are not dependencies ---------------------------------------------------------------------------------

def test_layer2_leaves_dependency_edges_and_blast_radius_unchanged(view, l2_snapshot):
    app = host_id(l2_snapshot, "app01")
    edges_before = view.last_layout.graph.number_of_edges()
    view.select_node(app)
    lit_before = view.highlighted()
    view.set_layer2_visible(True)
    assert view.last_layout.graph.number_of_edges() == edges_before
    view.select_node(app)
    assert view.highlighted() == lit_before
    assert host_id(l2_snapshot, "switch-a") not in lit_before["depends_on"] | lit_before["dependents"]
    switch = host_id(l2_snapshot, "switch-a")
    view.select_node(switch)
    assert view.highlighted() == {"selected": {switch}, "depends_on": set(), "dependents": set()}


def test_selecting_a_host_keeps_its_own_cables_at_full_strength(view, l2_snapshot):
    view.set_layer2_visible(True)
    view.select_node(host_id(l2_snapshot, "switch-b"))
    colours = {item.pen().color().name(): item.path().elementCount() // 2 for item in view._items.layer2_batches()}
    assert colours == {L2_EDGE_COLOUR: 2, DIM_L2_EDGE_COLOUR: 2}  # switch-b: db01 and switch-a; the rest pale
    view.clear_selection()
    assert {item.pen().color().name() for item in view._items.layer2_batches()} == {L2_EDGE_COLOUR}


def test_layer2_collapsed_by_subnet_is_one_line_per_pair_of_subnets(qtbot, view):
    view.set_layer2_visible(True)
    with qtbot.waitSignal(view.layout_finished, timeout=TIMEOUT):
        view.set_collapse("subnet")
    (edge,) = view.layer2_edges()  # switch-a ↔ switch-b lies inside 10.9.7.0/24: not drawn
    assert set(edge.ends) == {"subnet:10.9.7.0/24", "subnet:10.9.8.0/24"}
    assert len(edge.tooltip.split("\n")) == 3  # pacs01, app01, db01
    assert set(edge.ends) <= view.node_ids()


def test_layer2_hides_cables_to_hosts_filtered_out(qtbot, view, l2_snapshot):
    view.set_layer2_visible(True)
    assert len(view.layer2_edges()) == 4
    pacs = host_id(l2_snapshot, "pacs01")
    with qtbot.waitSignal(view.layout_finished, timeout=TIMEOUT):
        view.show_neighbourhood(pacs, 1)
    shown = view.node_ids()
    assert pacs in shown and host_id(l2_snapshot, "switch-a") not in shown  # a cable is no dependency
    assert view.layer2_edges() == []  # pacs01's cable leads to a switch not shown


# -- the Hosts table and details -----------------------------------------------------------------------------------

def test_hosts_table_shows_switch_and_port(qtbot, l2_snapshot):
    view = InventoryView()
    qtbot.addWidget(view)
    view.set_snapshot(l2_snapshot)
    model = view.hosts_view.model
    keys = [c.key for c in model.columns]
    assert set(OLD_HOST_KEYS) <= set(keys)  # the switch columns came on top (their order is the inventory's)
    switch, port = keys.index("switch"), keys.index("switch_port")
    assert not model.is_column_hidden(switch) and not model.is_column_hidden(port)
    assert model.headerData(switch, Qt.Orientation.Horizontal) == "Switch"
    assert model.headerData(port, Qt.Orientation.Horizontal) == "Switch port"
    pacs = model.find_row("id", host_id(l2_snapshot, "pacs01"))
    assert (model.display_text(pacs, switch), model.display_text(pacs, port)) == ("switch-a", "Gi1/0/5")
    web = model.find_row("id", host_id(l2_snapshot, "web01"))
    assert (model.display_text(web, switch), model.display_text(web, port)) == ("", "")
    assert view.select_host(host_id(l2_snapshot, "db01"))
    text = view.details.text()
    assert "Switch" in text and "switch-b" in text and "Gi0/4" in text


def test_hosts_table_without_switch_keys_shows_blanks(qtbot, snapshot):
    view = InventoryView()
    qtbot.addWidget(view)
    view.set_snapshot(snapshot)
    model = view.hosts_view.model
    keys = [c.key for c in model.columns]
    assert all(model.display_text(r, keys.index(k)) == "" for r in range(model.rowCount())
               for k in ("switch", "switch_port"))
    assert model.rowCount() == len(snapshot.hosts_by_id)
