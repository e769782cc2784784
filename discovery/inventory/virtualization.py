"""Where the virtual machines run: each VM's ESXi host and cluster (the JSON export's `runs_on`), the hosts'
`hypervisor` and `cluster`, and vCenter's objects that are not hosts (`platform_objects`: the vCenters, their
datacenters, clusters, datastores and networks) with the VMs that use each.

Resolved when the inventory is built, from what scan vcenter stored: a VM's `vcenter-vm` script names its ESXi
host by hardware UUID and name, an ESXi host's `vcenter-esxi` script its cluster. The ESXi host is found among the
inventory's hosts by hardware UUID (either byte order), else by name when exactly one ESXi host has it.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from discovery.storage.merge import normalise_serial, uuid_forms

RUNS_ON_FIELDS = ("vm_host_id", "esxi_host_id", "esxi_host", "cluster", "datacenter", "power_state", "source")
PLATFORM_OBJECT_FIELDS = ("id", "kind", "name", "server", "key", "parent", "source", "scan_id", "observed_at",
                          "details", "vm_count", "esxi_host_ids")
VM_SCRIPT, ESXI_SCRIPT = "vcenter-vm", "vcenter-esxi"


def script_data(host: dict, script_id: str) -> dict | None:
    """The data of a host's script `script_id` (a dict), or None."""
    script = next((s for s in host.get("scripts") or () if s.get("id") == script_id), None)
    return script.get("data") if script and isinstance(script.get("data"), dict) else None


class _EsxiDirectory:
    """Which inventory host an ESXi host named by a VM is: by hardware UUID, else by its unique name."""

    def __init__(self, hosts: list[dict]):
        self.by_uuid: dict[str, str] = {}
        names: dict[str, set[str]] = defaultdict(set)
        for host in hosts:
            if script_data(host, ESXI_SCRIPT) is None:
                continue
            if uuid := normalise_serial(host.get("hardware_uuid")):
                for form in uuid_forms(uuid):
                    self.by_uuid[form] = host["id"]
            for name in (host.get("hostname"), host.get("fqdn"), *(host.get("hostnames") or ())):
                if isinstance(name, str) and name.strip():
                    names[name.strip().lower().rstrip(".")].add(host["id"])
        self.by_name = {name: next(iter(ids)) for name, ids in names.items() if len(ids) == 1}

    def find(self, uuid: str | None, name: str | None) -> str | None:
        if (uuid := normalise_serial(uuid)) and (found := self.by_uuid.get(uuid)):
            return found
        if isinstance(name, str) and name.strip():
            key = name.strip().lower().rstrip(".")
            return self.by_name.get(key) or self.by_name.get(key.split(".")[0])
        return None


def runs_on_links(hosts: list[dict]) -> list[dict]:
    """Return one `runs_on` row per VM vCenter described: the VM, its ESXi host (id when the inventory holds it,
    and name), cluster, datacenter and power state; and set each VM's and ESXi host's `hypervisor`,
    `hypervisor_host_id` (VMs) and `cluster` on the host rows given."""
    directory = _EsxiDirectory(hosts)
    by_id = {h["id"]: h for h in hosts}
    for host in hosts:
        if (esxi := script_data(host, ESXI_SCRIPT)) is not None:
            host.update(cluster=esxi.get("cluster"))
    links = []
    for host in hosts:
        facts = script_data(host, VM_SCRIPT)
        if facts is None:
            continue
        place = facts.get("runs_on") if isinstance(facts.get("runs_on"), dict) else {}
        esxi_id = directory.find(place.get("host_uuid"), place.get("host"))
        esxi_name = place.get("host") or (by_id[esxi_id].get("hostname") if esxi_id else None)
        cluster = place.get("cluster")
        host.update(hypervisor=esxi_name, hypervisor_host_id=esxi_id, cluster=cluster)
        links.append({"vm_host_id": host["id"], "esxi_host_id": esxi_id, "esxi_host": esxi_name, "cluster": cluster,
                      "datacenter": facts.get("datacenter"), "power_state": facts.get("power_state"),
                      "source": "vcenter"})
    return sorted(links, key=lambda r: (str(r["datacenter"] or ""), str(r["cluster"] or ""),
                                        str(r["esxi_host"] or ""), r["vm_host_id"]))


def platform_rows(objects: list[dict], hosts: list[dict]) -> list[dict]:
    """Return the stored platform objects (Store.platform_objects) as the JSON export's `platform_objects`, each
    with the number of VMs that use it (`vm_count`: a datacenter's, cluster's, datastore's or network's) and, for
    a cluster, the inventory ids of its ESXi hosts."""
    uses: Counter = Counter()
    members: dict[tuple[str | None, str], list[str]] = defaultdict(list)
    for host in hosts:
        if (facts := script_data(host, VM_SCRIPT)) is not None:
            place = facts.get("runs_on") if isinstance(facts.get("runs_on"), dict) else {}
            uses["datacenter", facts.get("datacenter")] += 1
            uses["cluster", place.get("cluster"), facts.get("datacenter")] += 1
            for name in set(facts.get("datastores") or ()):
                uses["datastore", name, facts.get("datacenter")] += 1
            for name in set(facts.get("networks") or ()):
                uses["network", name, facts.get("datacenter")] += 1
        if (esxi := script_data(host, ESXI_SCRIPT)) is not None and esxi.get("cluster"):
            members[esxi.get("datacenter"), esxi["cluster"]].append(host["id"])
    rows = []
    for obj in objects:
        details = obj.get("data") or {}
        kind, name = obj["kind"], obj.get("name")
        if kind == "datacenter":
            vm_count = uses["datacenter", name]
        elif kind == "vcenter":
            vm_count = None
        else:
            vm_count = uses[kind, name, details.get("datacenter")]
        rows.append({"id": f"{obj['server']}/{obj['key']}", "kind": kind, "name": name, "server": obj["server"],
                     "key": obj["key"], "parent": obj.get("parent"), "source": obj.get("source"),
                     "scan_id": obj.get("scan_id"), "observed_at": obj.get("observed_at"), "details": details,
                     "vm_count": vm_count,
                     "esxi_host_ids": sorted(members.get((details.get("datacenter"), name), ()))
                     if kind == "cluster" else None})
    return rows
