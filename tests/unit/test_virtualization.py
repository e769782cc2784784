"""Where the VMs run (discovery/inventory/virtualization.py): each VM's ESXi host found by hardware UUID in
either byte order, else by a name exactly one ESXi host has; the hosts' hypervisor and cluster; the platform
objects' VM counts and cluster members; and the store keeping the newest scan's objects per server."""

from __future__ import annotations

from datetime import datetime, timezone

from discovery.inventory.build import build_inventory, filter_inventory
from discovery.inventory.virtualization import platform_rows, runs_on_links
from discovery.records.model import Host, HostReport, PlatformObject, Scan, ScriptResult
from discovery.storage.store import Store

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
ESXI_UUID = "4c4c4544-0042-3910-8053-b4c04f4e3232"
ESXI_UUID_SWAPPED = "44454c4c-4200-1039-8053-b4c04f4e3232"  # the first three fields byte-swapped


def esxi(host_id, name, uuid=None, cluster=None, datacenter="DC"):
    return {"id": host_id, "hostname": name, "hardware_uuid": uuid,
            "scripts": [{"id": "vcenter-esxi", "data": {"cluster": cluster, "datacenter": datacenter}}]}


def vm(host_id, name, host=None, host_uuid=None, cluster=None, datastores=(), networks=(), datacenter="DC"):
    return {"id": host_id, "hostname": name, "scripts": [{"id": "vcenter-vm", "data": {
        "power_state": "poweredOn", "datacenter": datacenter, "datastores": list(datastores),
        "networks": list(networks), "runs_on": {"host": host, "host_uuid": host_uuid, "cluster": cluster}}}]}


def test_a_vm_runs_on_the_esxi_host_with_its_hardware_uuid_in_either_byte_order():
    hosts = [esxi("h-e1", "esx1", ESXI_UUID, cluster="Prod"), esxi("h-e2", "esx1", None),
             vm("h-v1", "app", host="esx1", host_uuid=ESXI_UUID_SWAPPED, cluster="Prod")]
    (link,) = runs_on_links(hosts)
    assert link["vm_host_id"] == "h-v1" and link["esxi_host_id"] == "h-e1"  # the UUID, though two share the name
    assert (hosts[2]["hypervisor"], hosts[2]["hypervisor_host_id"], hosts[2]["cluster"]) == ("esx1", "h-e1", "Prod")
    assert hosts[0]["cluster"] == "Prod" and hosts[1]["cluster"] is None


def test_by_name_only_when_exactly_one_esxi_host_has_it():
    hosts = [esxi("h-e1", "esx1"), esxi("h-e2", "esx2"), esxi("h-e3", "esx2"),
             {"id": "h-x", "hostname": "esx3", "scripts": []},  # not an ESXi host vCenter described
             vm("h-v1", "a", host="esx1.example.org"), vm("h-v2", "b", host="esx2"), vm("h-v3", "c", host="esx3")]
    links = {link["vm_host_id"]: link for link in runs_on_links(hosts)}
    assert links["h-v1"]["esxi_host_id"] == "h-e1"  # its first label
    assert links["h-v2"]["esxi_host_id"] is None and links["h-v2"]["esxi_host"] == "esx2"  # two hosts: neither
    assert links["h-v3"]["esxi_host_id"] is None
    assert hosts[3].get("hypervisor") is None  # only VMs get a hypervisor


def test_platform_objects_count_the_vms_using_them_and_name_a_clusters_hosts():
    hosts = [esxi("h-e1", "esx1", cluster="Prod"), esxi("h-e2", "esx2", cluster="Prod"),
             esxi("h-e3", "esx3", cluster="Prod", datacenter="DR"),
             vm("h-v1", "a", cluster="Prod", datastores=["ds1", "ds1"], networks=["VM Network"]),
             vm("h-v2", "b", cluster="Prod", datastores=["ds1", "ds2"]),
             vm("h-v3", "c", cluster="Prod", datastores=["ds1"], datacenter="DR")]
    objects = [{"kind": kind, "name": name, "server": "https://vc", "key": key, "data": {"datacenter": dc}}
               for kind, name, key, dc in [("cluster", "Prod", "c1", "DC"), ("cluster", "Prod", "c9", "DR"),
                                           ("datastore", "ds1", "d1", "DC"), ("datastore", "ds2", "d2", "DC"),
                                           ("datastore", "ds1", "d9", "DR"), ("network", "VM Network", "n1", "DC")]]
    objects.append({"kind": "datacenter", "name": "DC", "server": "https://vc", "key": "dc1", "data": {}})
    rows = {(r["kind"], r["key"]): r for r in platform_rows(objects, hosts)}
    assert rows["datastore", "d1"]["vm_count"] == 2  # once per VM, and not the DR datacenter's ds1
    assert rows["datastore", "d9"]["vm_count"] == 1 and rows["datastore", "d2"]["vm_count"] == 1
    assert rows["network", "n1"]["vm_count"] == 1 and rows["datacenter", "dc1"]["vm_count"] == 2
    assert rows["cluster", "c1"]["esxi_host_ids"] == ["h-e1", "h-e2"]
    assert rows["cluster", "c9"]["esxi_host_ids"] == ["h-e3"]
    assert rows["datastore", "d1"]["id"] == "https://vc/d1" and rows["datastore", "d1"]["esxi_host_ids"] is None


def _report(name, uuid, script):
    return HostReport(host=Host(source="vcenter", observed_at=NOW, hostname=name, hardware_uuid=uuid,
                                scripts=(script,)))


def test_the_store_keeps_each_servers_newest_objects_and_the_inventory_exports_them(tmp_path):
    with Store(tmp_path / "estate.db") as store:
        for names in (["old-ds"], ["ds1", "ds2"]):
            scan_id = store.start_scan(Scan(kind="vcenter", targets=("https://vc",), started_at=NOW))
            for name in names:
                store.write_platform_object(scan_id, PlatformObject(
                    kind="datastore", server="https://vc", key=name, name=name, source="vcenter", observed_at=NOW,
                    data={"capacity_bytes": 10}))
            store.finish_scan(scan_id, "completed")
        other = store.start_scan(Scan(kind="vcenter", targets=("https://vc2",), started_at=NOW))
        store.write_platform_object(other, PlatformObject(kind="datacenter", server="https://vc2", key="dc",
                                                          name="DC2", source="vcenter", observed_at=NOW))
        store.write_host_report(other, _report("esx1", ESXI_UUID, ScriptResult(
            id="vcenter-esxi", data={"cluster": None, "datacenter": "DC2"})))
        store.write_host_report(other, _report("vm1", "42001111-2222-3333-4444-555566667777", ScriptResult(
            id="vcenter-vm", data={"runs_on": {"host": "esx1", "host_uuid": ESXI_UUID}, "datacenter": "DC2"})))
        store.finish_scan(other, "completed")
        inventory = build_inventory(store)
        first = build_inventory(store, scan_id=1)
    assert {(o["server"], o["name"]) for o in inventory["platform_objects"]} == {
        ("https://vc", "ds1"), ("https://vc", "ds2"), ("https://vc2", "DC2")}
    assert [o["name"] for o in first["platform_objects"]] == ["old-ds"]
    assert next(o for o in inventory["platform_objects"] if o["name"] == "ds1")["details"] == {"capacity_bytes": 10}
    (link,) = inventory["runs_on"]
    names = {h["id"]: h["hostname"] for h in inventory["hosts"]}
    assert (names[link["vm_host_id"]], names[link["esxi_host_id"]]) == ("vm1", "esx1")
    assert filter_inventory(inventory, "esx*")["runs_on"] == []  # kept with the VM it belongs to
    assert filter_inventory(inventory, "vm1")["runs_on"] == [link]
