"""scan vcenter against VMware's own simulator (govmomi's vcsim, built from tests/integration/data/vcsim/main.go)
with the real pyVmomi client: every VM and ESXi host the simulator made, the merge with a host's own record by BIOS
UUID, its datacenters, clusters, datastores and networks and where each VM runs, read-only enforcement, paged
answers (the test program's -page), TLS (verified, --ca-file, --insecure, http://), one-line failures, and a
simulator stopped mid-scan.

Traffic goes to 127.0.0.1 only; the simulators are stopped by PID; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

from discovery.records.model import Host, HostReport, Scan
from discovery.inventory.build import build_inventory
from discovery.service import run_scan
from discovery.storage.store import Store
from scanners import vcenter, vcenter_records
from scanners.kinds import REGISTRY
from tests.integration.conftest import free_port
from tests.integration.vcsim import PASSWORD, USER, build_vcsim, make_certificate, start_vcsim

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
COUNTS = dict(dc=1, cluster=1, cluster_host=3, host=1, vm=3, ds=2)  # 4 ESXi hosts, 6 VMs
CLI_SECONDS = 120


@pytest.fixture(scope="session")
def vcsim_binary(tmp_path_factory):
    return build_vcsim(tmp_path_factory.mktemp("vcsim"))


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("vcsim-tls"))


@pytest.fixture
def simulator(vcsim_binary, certificate):
    """A vCenter simulator serving TLS with `certificate` on 127.0.0.1."""
    sim = start_vcsim(vcsim_binary, tls=certificate, **COUNTS)
    try:
        yield sim
    finally:
        sim.stop()


def expected_inventory(sim, certificate) -> tuple[dict, dict]:
    """(VMs by BIOS UUID, ESXi hosts by hardware UUID) as the simulator reports them to a second session."""
    from pyVim.connect import Disconnect
    from pyVmomi import vim

    si = sim.session(certificate[0])
    try:
        content = si.RetrieveContent()
        vms, hosts = {}, {}
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        for vm in view.view:
            macs = {d.macAddress.lower() for d in vm.config.hardware.device
                    if isinstance(d, vim.vm.device.VirtualEthernetCard)}
            vms[vm.config.uuid] = {"name": vm.name, "cpus": vm.config.hardware.numCPU,
                                   "memory": vm.config.hardware.memoryMB * 2**20, "macs": macs,
                                   "power": str(vm.runtime.powerState), "host": vm.runtime.host.name}
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
        for host in view.view:
            hosts[host.summary.hardware.uuid] = {"name": host.name, "cores": host.summary.hardware.numCpuCores,
                                                 "memory": host.summary.hardware.memorySize}
        return vms, hosts
    finally:
        Disconnect(si)


def scan_cli(db: Path, address: str, *extra: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "--db", str(db), "scan", "vcenter", address,
                           "--user", USER, "--password-stdin", *extra], input=password + "\n", capture_output=True,
                          text=True, timeout=CLI_SECONDS, cwd=ROOT, env={**os.environ, "NO_COLOR": "1"})


def vcenter_hosts(db: Path) -> dict[str, dict]:
    """The store's hosts that vcenter saw, by hardware UUID."""
    store = Store(db, create=False)
    try:
        return {h["hardware_uuid"]: h for h in store.hosts() if "vcenter" in (h.get("sources") or "")}
    finally:
        store.close()


def scan_rows(db: Path) -> list[dict]:
    store = Store(db, create=False)
    try:
        return store.list_scans()
    finally:
        store.close()


def test_scan_vcenter_finds_every_vm_and_esxi_host_the_simulator_made(simulator, certificate, tmp_path):
    off = simulator.power_off_first_vm(certificate[0])
    vms, esxi = expected_inventory(simulator, certificate)
    assert len(vms) == 6 and len(esxi) == 4
    db = tmp_path / "estate.db"
    done = scan_cli(db, simulator.address, "--ca-file", str(certificate[0]))
    assert done.returncode == 0, done.stderr
    found = vcenter_hosts(db)
    assert set(found) == set(vms) | set(esxi)  # one host each: none merged into another
    for uuid, vm in vms.items():
        host = found[uuid]
        assert (host["cpu_cores"], host["memory_bytes"]) == (vm["cpus"], vm["memory"])
        assert set(host["macs"]) == vm["macs"]
        assert host["virtualization"] == "vmware"
        assert host["serial"] == vcenter_records.vm_serial(uuid)
        assert host["status"] == ("down" if uuid == off else "up")
    assert found[off]["status_reason"] == "vcenter: poweredOff"  # kept, and marked
    for uuid, host in esxi.items():
        assert found[uuid]["os_name"] == "VMware ESXi"
        assert (found[uuid]["cpu_cores"], found[uuid]["memory_bytes"]) == (host["cores"], host["memory"])
    store = Store(db, create=False)
    try:
        observations = store.current_observations()
        evidence = [json.loads(r["text"]) for r in store.evidence_rows(observations, "vcenter")]
    finally:
        store.close()
    runs_on = {e["bios_uuid"]: e["runs_on"]["host"] for e in evidence if e["type"] == "virtual-machine"}
    assert runs_on == {uuid: vm["host"] for uuid, vm in vms.items()}
    assert all(e["datastores"] and e["datacenter"] == "DC0" for e in evidence if e["type"] == "virtual-machine")
    assert scan_rows(db)[-1]["status"] == "completed"


def expected_objects(sim, certificate) -> dict:
    """What the simulator holds besides VMs and hosts, read by the test's own session: datacenters, clusters with
    their ESXi hosts, datastores with capacity, networks, each VM's ESXi host and cluster, and the server's about."""
    from pyVim.connect import Disconnect
    from pyVmomi import vim

    si = sim.session(certificate[0])
    try:
        content = si.RetrieveContent()

        def every(vim_type):
            return content.viewManager.CreateContainerView(content.rootFolder, [vim_type], True).view

        def cluster_of(host):
            return host.parent.name if isinstance(host.parent, vim.ClusterComputeResource) else None

        return {
            "datacenter": {dc.name for dc in every(vim.Datacenter)},
            "cluster": {c.name: {h.name for h in c.host} for c in every(vim.ClusterComputeResource)},
            "datastore": {d.name: (d.summary.type, d.summary.capacity) for d in every(vim.Datastore)},
            "network": {n.name for n in every(vim.Network)},
            "runs_on": {vm.config.uuid: (vm.runtime.host.name, cluster_of(vm.runtime.host))
                        for vm in every(vim.VirtualMachine)},
            "vms_on_datastore": {d.name: len(d.vm) for d in every(vim.Datastore)},
            "about": (content.about.version, content.about.build, content.about.apiType),
        }
    finally:
        Disconnect(si)


def test_every_datacenter_cluster_datastore_and_network_and_where_each_vm_runs(simulator, certificate, tmp_path):
    expected = expected_objects(simulator, certificate)
    assert expected["cluster"] and expected["datastore"] and expected["network"]  # the simulator made some
    db = tmp_path / "estate.db"
    done = scan_cli(db, simulator.address, "--ca-file", str(certificate[0]))
    assert done.returncode == 0, done.stderr
    assert "infrastructure object" in done.stdout + done.stderr
    out = tmp_path / "estate.json"
    exported = subprocess.run([sys.executable, str(ROOT / "main.py"), "--db", str(db), "export", "--format", "json",
                               "--out", str(out)], capture_output=True, text=True, timeout=CLI_SECONDS, cwd=ROOT)
    assert exported.returncode == 0, exported.stderr
    export = json.loads(out.read_text())
    objects = defaultdict(dict)
    for obj in export["platform_objects"]:
        objects[obj["kind"]][obj["name"]] = obj
    assert set(objects["datacenter"]) == expected["datacenter"]
    assert set(objects["network"]) == expected["network"]
    assert {n: (o["details"]["type"], o["details"]["capacity_bytes"]) for n, o in objects["datastore"].items()} == \
        expected["datastore"]
    assert all(0 <= o["details"]["free_bytes"] <= o["details"]["capacity_bytes"] for o in objects["datastore"].values())
    assert {n: o["vm_count"] for n, o in objects["datastore"].items()} == expected["vms_on_datastore"]
    hosts = {h["id"]: h for h in export["hosts"]}
    assert {n: {hosts[i]["hostname"] for i in o["esxi_host_ids"]} for n, o in objects["cluster"].items()} == \
        expected["cluster"]
    (server,) = objects["vcenter"].values()
    assert (server["details"]["version"], server["details"]["build"], server["details"]["api_type"]) == \
        expected["about"]
    # every VM runs on an ESXi host of the inventory, in its cluster: the runs_on relation and the hosts' columns
    by_uuid = {h["hardware_uuid"]: h for h in export["hosts"]}
    runs_on = {row["vm_host_id"]: row for row in export["runs_on"]}
    assert len(runs_on) == len(expected["runs_on"])
    for uuid, (esxi_name, cluster) in expected["runs_on"].items():
        vm = by_uuid[uuid]
        row = runs_on[vm["id"]]
        assert hosts[row["esxi_host_id"]]["hostname"] == esxi_name == vm["hypervisor"]
        assert row["cluster"] == cluster == vm["cluster"] and vm["hypervisor_host_id"] == row["esxi_host_id"]
    for name, members in expected["cluster"].items():
        assert {h["hostname"] for h in export["hosts"] if h["os_name"] == "VMware ESXi" and h["cluster"] == name} \
            == members


def test_a_server_that_pages_its_answers_is_read_to_the_last_page(vcsim_binary, certificate, tmp_path, monkeypatch):
    from pyVmomi import SoapAdapter

    sim = start_vcsim(vcsim_binary, tls=certificate, page=2, **COUNTS)  # 2 objects an answer, as a vCenter pages
    try:
        vms, esxi = expected_inventory(sim, certificate)
        expected = expected_objects(sim, certificate)
        sent, pages = [], defaultdict(list)
        invoke, get_objects = SoapAdapter.SoapStubAdapter.InvokeMethod, vcenter.get_objects

        def record(self, mo, info, args, outerStub=None):
            sent.append(info.wsdlName)
            return invoke(self, mo, info, args, outerStub)

        def paged(si, content, type_name, paths, *, page_size):
            for page in get_objects(si, content, type_name, paths, page_size=page_size):
                pages[type_name].append(len(page))
                yield page

        monkeypatch.setattr(SoapAdapter.SoapStubAdapter, "InvokeMethod", record)
        monkeypatch.setattr(vcenter, "get_objects", paged)
        scanner = REGISTRY.make_scanner("vcenter", {"server": sim.address, "user": USER, "password": PASSWORD,
                                                    "ca_file": str(certificate[0])})
        scanner.page_size = 3  # asks for 3 an answer; the server gives 2
        with Store(tmp_path / "estate.db") as store:
            result = run_scan(store, scanner)
            found = {h["hardware_uuid"] for h in store.hosts()}
            objects = {(o["kind"], o["name"]) for o in store.platform_objects()}
    finally:
        sim.stop()
    assert result.status == "completed", result.error
    assert pages["VirtualMachine"] == [2, 2, 2] and pages["HostSystem"] == [2, 2]
    assert sent.count("ContinueRetrievePropertiesEx") >= 3
    assert found == set(vms) | set(esxi)
    assert {n for k, n in objects if k == "datastore"} == set(expected["datastore"])
    assert {n for k, n in objects if k == "network"} == expected["network"]


def test_a_property_the_server_does_not_return_is_a_warning_naming_it(simulator, certificate, tmp_path,
                                                                     monkeypatch):
    # this simulator lists a property it does not know in each object's missingSet (a real vCenter may instead
    # fail the call with InvalidProperty: tests/unit/test_vcenter.py)
    monkeypatch.setattr(vcenter, "VM_PROPERTIES", (*vcenter.VM_PROPERTIES, "config.noSuchProperty"))
    scanner = REGISTRY.make_scanner("vcenter", {"server": simulator.address, "user": USER, "password": PASSWORD,
                                                "ca_file": str(certificate[0])})
    with Store(tmp_path / "estate.db") as store:
        result = run_scan(store, scanner)
        vms = [h for h in store.hosts() if h["virtualization"] == "vmware"]
    assert result.status == "completed", result.error
    assert len(vms) == 6
    assert [w for w in result.warnings if "config.noSuchProperty" in w] == [
        f"{simulator.address}: the server did not return config.noSuchProperty for 6 VirtualMachine objects "
        "(InvalidProperty)"]


def test_a_lone_esxi_host_is_read_as_vcenter_is(vcsim_binary, certificate, tmp_path):
    sim = start_vcsim(vcsim_binary, tls=certificate, esx=True)  # govmomi's ESX(): one host answering on its own
    try:
        vms, esxi = expected_inventory(sim, certificate)
        expected = expected_objects(sim, certificate)
        db = tmp_path / "estate.db"
        done = scan_cli(db, sim.address, "--ca-file", str(certificate[0]))
        assert done.returncode == 0, done.stderr
    finally:
        sim.stop()
    assert expected["about"][2] == "HostAgent" and len(esxi) == 1 and vms
    assert set(vcenter_hosts(db)) == set(vms) | set(esxi)
    with Store(db, create=False) as store:
        inventory = build_inventory(store)
    (server,) = [o for o in inventory["platform_objects"] if o["kind"] == "vcenter"]
    assert (server["details"]["role"], server["details"]["api_type"]) == ("esxi", "HostAgent")
    assert {o["name"] for o in inventory["platform_objects"] if o["kind"] == "datastore"} == set(expected["datastore"])
    (esxi_id,) = [h["id"] for h in inventory["hosts"] if h["os_name"] == "VMware ESXi"]
    assert {r["esxi_host_id"] for r in inventory["runs_on"]} == {esxi_id} and len(inventory["runs_on"]) == len(vms)
    assert all(r["cluster"] is None for r in inventory["runs_on"])  # a lone host is in no cluster


def test_a_vm_merges_with_the_guests_own_record_by_bios_uuid(simulator, certificate, tmp_path):
    vms, _esxi = expected_inventory(simulator, certificate)
    uuid = sorted(vms)[0]
    db = tmp_path / "estate.db"
    store = Store(db)
    try:  # what `scan host` on that guest stored: its DMI UUID, its own name, no MAC in common
        now = datetime.now(timezone.utc).replace(microsecond=0)
        scan_id = store.start_scan(Scan(kind="host", started_at=now))
        store.write_host_report(scan_id, HostReport(host=Host(source="local", observed_at=now, hostname="emr-app01",
                                                              hardware_uuid=uuid.upper(), os_name="Debian GNU/Linux")))
        store.finish_scan(scan_id, "completed")
    finally:
        store.close()
    assert scan_cli(db, simulator.address, "--ca-file", str(certificate[0])).returncode == 0
    store = Store(db, create=False)
    try:
        hosts = store.hosts()
        merged = [h for h in hosts if (h["hardware_uuid"] or "").lower() == uuid]
    finally:
        store.close()
    assert len(merged) == 1 and set(merged[0]["sources"]) == {"local", "vcenter"}
    assert len(hosts) == 10  # 6 VMs and 4 ESXi hosts, the guest's own record among them


def test_the_scanner_sends_only_read_only_calls_and_refuses_any_other(simulator, certificate, tmp_path,
                                                                      monkeypatch):
    from pyVmomi import SoapAdapter, vim

    sent = []
    invoke = SoapAdapter.SoapStubAdapter.InvokeMethod

    def record(self, mo, info, args, outerStub=None):
        sent.append(info.wsdlName)
        return invoke(self, mo, info, args, outerStub)

    monkeypatch.setattr(SoapAdapter.SoapStubAdapter, "InvokeMethod", record)
    scanner = REGISTRY.make_scanner("vcenter", {"server": simulator.address, "user": USER, "password": PASSWORD,
                                                "ca_file": str(certificate[0])})
    scanner.page_size = 2  # a vCenter pages 6 VMs in three (this simulator, without -page, answers in one)
    store = Store(tmp_path / "estate.db")
    try:
        result = run_scan(store, scanner)
    finally:
        store.close()
    assert result.status == "completed"
    assert set(sent) <= vcenter.READ_ONLY_METHODS
    assert {"RetrievePropertiesEx", "CreateContainerView", "DestroyView", "Logout"} <= set(sent)
    # the guard itself: a session the scanner opened cannot power a VM off
    target = vcenter.parse_target(simulator.address)
    si = vcenter.connect(target, USER, PASSWORD, context=vcenter.build_ssl_context(ca_file=str(certificate[0]),
                                                                                  insecure=False))
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    before = len(sent)
    with pytest.raises(vcenter.EstateError, match="refused to call PowerOffVM_Task"):
        vim.VirtualMachine("vm-1", si._stub).PowerOffVM_Task()
    assert "PowerOffVM_Task" not in sent[before:]
    view.DestroyView()
    content.sessionManager.Logout()


def test_bad_credentials_refused_port_and_untrusted_certificate_are_one_line_each(simulator, certificate, tmp_path):
    db = tmp_path / "estate.db"
    bad = scan_cli(db, simulator.address, "--ca-file", str(certificate[0]), password="wrong")
    untrusted = scan_cli(db, simulator.address)  # the system's trust store does not know the simulator
    refused = scan_cli(db, f"https://127.0.0.1:{free_port()}", "--insecure")
    for done, words in ((bad, "user name or password was not accepted"), (untrusted, "certificate is not trusted"),
                        (refused, "connection refused")):
        assert done.returncode == 1
        errors = [line for line in done.stderr.splitlines() if line.startswith("estatemap: error")]
        assert len(errors) == 1 and words in errors[0], done.stderr
        assert "Traceback" not in done.stderr and "wrong" not in done.stderr + done.stdout
    assert "--ca-file" in untrusted.stderr and "--insecure" in untrusted.stderr


def test_insecure_accepts_the_certificate_with_a_warning_kept_on_the_scan(simulator, tmp_path):
    db = tmp_path / "estate.db"
    done = scan_cli(db, simulator.address, "--insecure")
    assert done.returncode == 0, done.stderr
    scan = scan_rows(db)[-1]
    assert scan["status"] == "completed"
    assert any("--insecure" in w and "not verified" in w for w in scan["warnings"])
    assert len(vcenter_hosts(db)) == 10
    assert PASSWORD not in db.read_bytes().decode("latin-1")  # never stored


def test_plain_http_only_when_the_address_says_so(vcsim_binary, tmp_path):
    sim = start_vcsim(vcsim_binary, vm=1, cluster_host=1, host=0)
    try:
        plain = scan_cli(tmp_path / "estate.db", sim.address)
        assert sim.address.startswith("http://") and plain.returncode == 0, plain.stderr
        warnings = scan_rows(tmp_path / "estate.db")[-1]["warnings"]
        assert any("plain http" in w for w in warnings)
        guessed = scan_cli(tmp_path / "estate.db", sim.address.removeprefix("http://"))  # https is assumed
        assert guessed.returncode == 1 and "TLS failed" in guessed.stderr, guessed.stderr
    finally:
        sim.stop()


def test_a_simulator_stopped_mid_scan_keeps_what_was_read(vcsim_binary, certificate, tmp_path):
    sim = start_vcsim(vcsim_binary, tls=certificate, **COUNTS)
    try:
        scanner = REGISTRY.make_scanner("vcenter", {"server": sim.address, "user": USER, "password": PASSWORD,
                                                    "ca_file": str(certificate[0])})

        def progress(done, total, message):
            if "VM" not in message:
                sim.stop()  # by PID, once the ESXi hosts were read and before the VMs are

        store = Store(tmp_path / "estate.db")
        try:
            result = run_scan(store, scanner, progress=progress)
            kept = [h for h in store.hosts() if "vcenter" in h["sources"]]
        finally:
            store.close()
    finally:
        sim.stop()
    assert result.status == "interrupted" and "connection was lost" in result.error, result.error
    assert len(kept) == 4 and all(h["os_name"] == "VMware ESXi" for h in kept)  # the ESXi hosts, kept


def test_analyze_judges_the_esxi_version_and_the_vms_tools(simulator, certificate, tmp_path):
    db = tmp_path / "estate.db"
    assert scan_cli(db, simulator.address, "--ca-file", str(certificate[0])).returncode == 0
    out = tmp_path / "estate.json"
    book = tmp_path / "estate.xlsx"
    for command in (["analyze"], ["export", "--format", "json", "--out", str(out)],
                    ["export", "--format", "xlsx", "--out", str(book)]):
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "--db", str(db), *command], capture_output=True,
                              text=True, timeout=CLI_SECONDS, cwd=ROOT)
        assert done.returncode == 0, done.stderr
    export = json.loads(out.read_text())
    esxi = {h["id"] for h in export["hosts"] if h["os_name"] == "VMware ESXi"}
    eol = {f["host_id"] for f in export["findings"] if f["rule"] == "os-eol" and "ESXi 6.5" in f["title"]}
    assert len(esxi) == 4 and eol == esxi  # the simulator's ESXi 6.5.0: past end of support
    tools = [f for f in export["findings"] if f["rule"].startswith("vmware-")]
    vms = [h for h in export["hosts"] if h["virtualization"] == "vmware"]
    # the simulator's VMs run no tools: each powered-on one is a finding, read from its vcenter-vm script
    powered_on = [h for h in vms if h["status"] == "up"]
    assert powered_on and {f["host_id"] for f in tools if f["rule"] == "vmware-tools-not-running"} == {
        h["id"] for h in powered_on}
    from openpyxl import load_workbook

    sheet = load_workbook(book, read_only=True)["VMware"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("VM", "Power state", "ESXi host", "Cluster") and len(rows) == 1 + len(vms)
    assert {r[2] for r in rows[1:]} <= {h["hostname"] for h in export["hosts"] if h["id"] in esxi}
