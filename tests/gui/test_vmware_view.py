"""Where VMs run, in the GUI: the Hosts tab's Hypervisor and Cluster columns, a host's details ("Runs on: ...", the
VMs an ESXi host runs) and the graph collapsed by vSphere cluster.

The integration tests scan VMware's own simulator (tests/integration/vcsim.py: 4 ESXi hosts, 3 of them in cluster
DC0_C0 and DC0_H0 standalone, 6 VMs) into a real store beside one host vCenter knows nothing of; the unit tests
give bucket_of and collapse_graph hand-built node data, and the details hand-built hostile names.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QUrl

from discovery.records.model import Scan
from discovery.service import run_scan
from discovery.storage.store import Store
from gui.data import load_snapshot, snapshot_of
from gui.graph_model import GraphOptions, base_graph, bucket_of, build_display_graph, collapse_graph
from gui.inventory_view import InventoryView
from tests.builders import T0, make_report
from tests.gui.conftest import LAYOUT_TIMEOUT as TIMEOUT, shown_graph_view

COUNTS = dict(dc=1, cluster=1, cluster_host=3, host=1, vm=3, ds=2)  # as tests/integration/test_vcenter_scan.py
CLUSTER_ESXI = {"DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2"}
CLUSTER_VMS = {"DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1", "DC0_C0_RP0_VM2"}
STANDALONE_VMS = {"DC0_H0_VM0", "DC0_H0_VM1", "DC0_H0_VM2"}


# --- a store scanned from the simulator -----------------------------------------------------------------
@pytest.fixture(scope="module")
def vmware_db(tmp_path_factory):
    """The path of a store holding one scan vcenter of the simulator and one plain host, web01 (10.9.8.1)."""
    from scanners.kinds import REGISTRY
    from tests.integration.vcsim import PASSWORD, USER, build_vcsim, start_vcsim

    workdir = tmp_path_factory.mktemp("vmware-view")
    sim = start_vcsim(build_vcsim(workdir), **COUNTS)
    path = workdir / "estate.db"
    try:
        with Store(path) as store:
            scanner = REGISTRY.make_scanner("vcenter", {"server": sim.address, "user": USER, "password": PASSWORD})
            result = run_scan(store, scanner)
            assert result.status == "completed", result.error
            scan = store.start_scan(Scan(kind="host", started_at=T0))
            store.write_host_report(scan, make_report(hostname="web01", address="10.9.8.1"))
            store.finish_scan(scan, "completed")
    finally:
        sim.stop()
    return path


@pytest.fixture
def vmware(vmware_db):
    """(a Snapshot of the scanned store, host ids by hostname)."""
    snapshot = load_snapshot(vmware_db)
    return snapshot, {h["hostname"]: h["id"] for h in snapshot.inventory["hosts"]}


@pytest.fixture
def inventory_view(qtbot, vmware):
    widget = InventoryView()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.set_snapshot(vmware[0])
    return widget


def cells(view: InventoryView, key: str) -> dict[str, str]:
    """The Hosts tab's text in column `key`, by hostname."""
    model = view.hosts_view.model
    number = [c.key for c in model.columns].index(key)
    return {model.row_dict(r)["hostname"]: model.display_text(r, number) for r in range(model.rowCount())}


def esxi_of_vms(snapshot) -> dict[str, str]:
    """{VM name: its ESXi host's name}, as the inventory's runs_on says."""
    return {snapshot.host_label(r["vm_host_id"]): r["esxi_host"] for r in snapshot.inventory["runs_on"]}


@pytest.mark.integration
def test_hosts_tab_shows_each_hosts_hypervisor_and_cluster(inventory_view, vmware):
    snapshot, _ = vmware
    titles = [c.title for i, c in enumerate(inventory_view.hosts_view.model.columns)
              if not inventory_view.hosts_view.table.isColumnHidden(i)]
    assert {"Hypervisor", "Cluster"} <= set(titles)
    hypervisor, cluster = cells(inventory_view, "hypervisor"), cells(inventory_view, "cluster")
    assert set(hypervisor) == CLUSTER_ESXI | CLUSTER_VMS | STANDALONE_VMS | {"DC0_H0", "web01"}
    assert {hypervisor[vm] for vm in STANDALONE_VMS} == {"DC0_H0"}
    assert {hypervisor[vm] for vm in CLUSTER_VMS} <= CLUSTER_ESXI
    assert {vm: hypervisor[vm] for vm in CLUSTER_VMS} == {vm: esxi_of_vms(snapshot)[vm] for vm in CLUSTER_VMS}
    assert {cluster[name] for name in CLUSTER_VMS | CLUSTER_ESXI} == {"DC0_C0"}
    assert {name for name, text in hypervisor.items() if not text} == CLUSTER_ESXI | {"DC0_H0", "web01"}
    assert {name for name, text in cluster.items() if not text} == STANDALONE_VMS | {"DC0_H0", "web01"}


@pytest.mark.integration
def test_host_details_say_where_a_vm_runs_and_what_an_esxi_host_runs(inventory_view, vmware):
    snapshot, ids = vmware
    esxi = esxi_of_vms(snapshot)
    inventory_view.select_host(ids["DC0_C0_RP0_VM0"])
    assert f"Runs on: {esxi['DC0_C0_RP0_VM0']} (cluster DC0_C0, datacenter DC0)" in inventory_view.details.text()
    inventory_view.select_host(ids["DC0_H0_VM1"])
    assert "Runs on: DC0_H0 (datacenter DC0)" in inventory_view.details.text()
    inventory_view.select_host(ids["DC0_H0"])
    assert "ESXi host of 3 VMs (datacenter DC0)" in inventory_view.details.text()
    per_esxi = {name: sum(1 for vm in CLUSTER_VMS if esxi[vm] == name) for name in CLUSTER_ESXI}
    for name, count in per_esxi.items():
        inventory_view.select_host(ids[name])
        noun = "VM" if count == 1 else "VMs"
        assert f"ESXi host of {count} {noun} (cluster DC0_C0, datacenter DC0)" in inventory_view.details.text()
    inventory_view.select_host(ids["web01"])
    assert "Runs on" not in inventory_view.details.text() and "ESXi host" not in inventory_view.details.text()


@pytest.mark.integration
def test_runs_on_names_the_esxi_host_as_a_link_to_it(inventory_view, vmware):
    _, ids = vmware
    inventory_view.select_host(ids["DC0_H0_VM0"])
    assert f'href="host:{ids["DC0_H0"]}"' in inventory_view.details.pane.toHtml()
    inventory_view.details.pane.anchorClicked.emit(QUrl(f"host:{ids['DC0_H0']}"))
    assert inventory_view.current_host_id() == ids["DC0_H0"]


@pytest.mark.integration
def test_collapse_by_cluster_makes_one_node_per_cluster_and_standalone_esxi_host(vmware):
    snapshot, ids = vmware
    D = build_display_graph(snapshot, GraphOptions(collapse="cluster"))
    cluster, standalone = "cluster:DC0/DC0_C0", "esxi:" + ids["DC0_H0"]
    assert set(D) == {cluster, standalone, ids["web01"]}, "web01, not in vCenter, stays itself"
    assert set(D.nodes[cluster]["members"]) == {ids[n] for n in CLUSTER_ESXI | CLUSTER_VMS}
    assert set(D.nodes[standalone]["members"]) == {ids[n] for n in STANDALONE_VMS | {"DC0_H0"}}
    assert (D.nodes[cluster]["kind"], D.nodes[cluster]["label"]) == ("cluster", "DC0_C0 (6)")
    assert D.nodes[standalone]["label"] == "DC0_H0 (4)"
    assert base_graph(snapshot, "host").number_of_edges() == 0, "running on one cluster is no dependency"


@pytest.mark.integration
def test_graph_toolbar_collapses_by_cluster(qtbot, vmware):
    snapshot, ids = vmware
    view = shown_graph_view(qtbot, snapshot)
    assert len(view.node_ids()) == len(ids)
    number = view.collapse_combo.findData("cluster")
    assert view.collapse_combo.itemText(number) == "Collapse by cluster"
    with qtbot.waitSignal(view.layout_finished, timeout=TIMEOUT):
        view.collapse_combo.setCurrentIndex(number)
    assert view.options().collapse == "cluster"
    assert view.node_ids() == {"cluster:DC0/DC0_C0", "esxi:" + ids["DC0_H0"], ids["web01"]}
    assert all(view.node_position(n) is not None for n in view.node_ids())


# --- hand-built data --------------------------------------------------------------------------------------
def test_host_details_keep_hostile_vmware_names_as_plain_text(qtbot):
    esxi_name, cluster, datacenter = "<img src=x>esx&amp;1", "<b>C1</b>", "dc<script>alert(1)</script>"
    vm = {"id": "h-vm", "hostname": "vm1", "addresses": [], "hypervisor": esxi_name, "hypervisor_host_id": "h-esx",
          "cluster": cluster,
          "scripts": [{"id": "vcenter-vm", "data": {"datacenter": datacenter, "runs_on": {"host": esxi_name}}}]}
    esx = {"id": "h-esx", "hostname": esxi_name, "addresses": ["10.0.0.5"], "hypervisor": None,
           "hypervisor_host_id": None, "cluster": cluster,
           "scripts": [{"id": "vcenter-esxi", "data": {"datacenter": datacenter, "cluster": cluster}}]}
    runs_on = [{"vm_host_id": "h-vm", "esxi_host_id": "h-esx", "esxi_host": esxi_name, "cluster": cluster,
                "datacenter": datacenter, "power_state": "poweredOff", "source": "vcenter"}]
    view = InventoryView()
    qtbot.addWidget(view)
    view.set_snapshot(snapshot_of({"hosts": [vm, esx], "runs_on": runs_on, "scans": []}))
    assert cells(view, "hypervisor")["vm1"] == esxi_name and cells(view, "cluster")["vm1"] == cluster
    view.select_host("h-vm")
    assert (f"Runs on: {esxi_name} (cluster {cluster}, datacenter {datacenter}) — powered off"
            in view.details.text())
    view.select_host("h-esx")
    assert f"ESXi host of 1 VM, 0 powered on (cluster {cluster}, datacenter {datacenter})" in view.details.text()


def node(kind="host", *, risk=None, cluster=None, hypervisor=None, hypervisor_id=None, datacenter=None,
         addresses=()) -> dict:
    """A display node's attributes, as gui.graph_model.base_graph makes them."""
    return {"kind": kind, "label": "x", "name": "x", "host": "x", "risk": risk, "unknown": risk is None,
            "legacy": None, "healthcare": False, "group": None, "addresses": tuple(addresses), "cluster": cluster,
            "hypervisor": hypervisor, "hypervisor_id": hypervisor_id, "datacenter": datacenter}


def test_bucket_of_cluster_puts_a_vm_and_its_esxi_host_in_their_cluster():
    vm = node(cluster="C1", hypervisor="esx1", hypervisor_id="h-esx1", datacenter="DC0")
    esx = node(cluster="C1", hypervisor="esx1", hypervisor_id="h-esx1", datacenter="DC0", addresses=["10.0.0.5"])
    assert bucket_of(vm, "cluster") == bucket_of(esx, "cluster") == ("cluster:DC0/C1", "C1")
    assert bucket_of(node(cluster="C1", datacenter="DC1"), "cluster") == ("cluster:DC1/C1", "C1"), \
        "a cluster of the same name in another datacenter is another cluster"
    assert bucket_of(esx, "subnet") == ("subnet:10.0.0.0/24", "10.0.0.0/24"), "subnets do not look at clusters"


def test_bucket_of_cluster_puts_vms_of_a_standalone_esxi_host_with_it():
    vm = node(hypervisor="esx9", hypervisor_id="h-esx9", datacenter="DC0")
    esx = node(hypervisor="esx9.example.org", hypervisor_id="h-esx9")
    assert bucket_of(vm, "cluster") == ("esxi:h-esx9", "esx9")
    assert bucket_of(esx, "cluster")[0] == "esxi:h-esx9"
    assert bucket_of(node(hypervisor="esx7"), "cluster") == ("esxi:esx7", "esx7"), "an ESXi host not inventoried"


def test_bucket_of_cluster_leaves_hosts_vcenter_did_not_describe():
    assert bucket_of(node(addresses=["10.9.8.1"]), "cluster") is None
    assert bucket_of(node("external", addresses=["8.8.8.8"]), "cluster") is None


def hand_built_estate():
    """A display graph: two VMs in cluster C1 (vm-a → vm-b, vm-a → db), a VM on standalone esx9 (→ db, named
    "esx9" by vCenter, "esx9.example.org" by the ESXi host itself) and db, a host vCenter does not know."""
    import networkx as nx

    D = nx.DiGraph()
    D.add_node("vm-a", **node(risk=20, cluster="C1", hypervisor="esx1", hypervisor_id="esx1", datacenter="DC0"))
    D.add_node("vm-b", **node(risk=70, cluster="C1", hypervisor="esx1", hypervisor_id="esx1", datacenter="DC0"))
    D.add_node("esx1", **node(cluster="C1", hypervisor="esx1", hypervisor_id="esx1", datacenter="DC0"))
    D.add_node("vm-c", **node(risk=40, hypervisor="esx9", hypervisor_id="esx9", datacenter="DC0"))
    D.add_node("esx9", **node(hypervisor="esx9.example.org", hypervisor_id="esx9", datacenter="DC0"))
    D.add_node("db", **node(risk=90, addresses=["10.9.8.3"]))
    for u, v, count in (("vm-a", "vm-b", 1), ("vm-a", "db", 2), ("vm-b", "db", 3), ("vm-c", "db", 1)):
        D.add_edge(u, v, kind="depends_on", shared=False, count=count, deps=())
    return D


def test_collapse_graph_by_cluster_merges_members_and_their_edges():
    C = collapse_graph(hand_built_estate(), "cluster", {})
    assert set(C) == {"cluster:DC0/C1", "esxi:esx9", "db"}
    cluster = C.nodes["cluster:DC0/C1"]
    assert (cluster["kind"], cluster["label"], set(cluster["members"])) == ("cluster", "C1 (3)",
                                                                           {"vm-a", "vm-b", "esx1"})
    assert cluster["risk"] == 70, "a bucket is as risky as its riskiest member"
    assert set(C.nodes["esxi:esx9"]["members"]) == {"vm-c", "esx9"}, "one bucket however the ESXi host is named"
    assert C.nodes["esxi:esx9"]["label"] == "esx9 (2)"
    assert set(C.edges) == {("cluster:DC0/C1", "db"), ("esxi:esx9", "db")}, "vm-a → vm-b is inside the bucket"
    assert C.edges["cluster:DC0/C1", "db"]["count"] == 5
    assert C.nodes["db"]["risk"] == 90


def test_collapse_graph_refuses_an_unknown_collapse():
    with pytest.raises(ValueError, match="subnet, group or cluster"):
        collapse_graph(hand_built_estate(), "datacenter", {})


def test_a_cluster_is_drawn_as_a_bucket_box():
    from gui.graph_model import COLLAPSES
    from gui.graph_style import BUCKET_KINDS, SIZES, fill_colour

    cluster, group = node("cluster", risk=70), node("group", risk=70)
    assert SIZES.get("cluster") == SIZES["group"] and fill_colour(cluster) == fill_colour(group)
    assert set(BUCKET_KINDS) == set(COLLAPSES) - {None}  # every collapse's node is drawn as a box
