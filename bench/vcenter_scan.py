"""How fast does scan vcenter read a large vCenter, and how does its memory grow? VMware's own simulator
(tests/integration/data/vcsim/main.go, govmomi from Debian) with 200 and 2,000 VMs on 127.0.0.1, read by the real
pyVmomi client into a temporary store: VMs per second (the scan alone, store writes included), and this process's
peak resident memory after each size (sizes run smallest first, so growth shows); then the inventory built from
that store (where each VM runs, the platform objects' VM counts: what every export and the GUI read first).
Goal (issue 21): 2,000 VMs in under 30 s, memory linear in VMs.

Run: .venv/bin/python bench/vcenter_scan.py [--vms 200 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import resource
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discovery.inventory.build import build_inventory  # noqa: E402
from discovery.service import run_scan  # noqa: E402
from discovery.storage.store import Store  # noqa: E402
from scanners.kinds import REGISTRY  # noqa: E402
from tests.integration.vcsim import PASSWORD, USER, build_vcsim, start_vcsim  # noqa: E402

HOSTS_PER_CLUSTER = 10  # VMs are spread over one cluster (and its resource pool) of this many ESXi hosts


def measure(binary: Path, vms: int, workdir: Path) -> dict:
    """Scan a simulator holding `vms` VMs; return counts, seconds and peak memory."""
    sim = start_vcsim(binary, dc=1, cluster=1, cluster_host=HOSTS_PER_CLUSTER, host=0, vm=vms, ds=2)
    try:
        scanner = REGISTRY.make_scanner("vcenter", {"server": sim.address, "user": USER, "password": PASSWORD})
        with Store(workdir / f"estate-{vms}.db") as store:
            started = time.perf_counter()
            result = run_scan(store, scanner)
            seconds = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
            started = time.perf_counter()
            inventory = build_inventory(store)
            build = time.perf_counter() - started
    finally:
        sim.stop()
    placed = sum(1 for r in inventory["runs_on"] if r["esxi_host_id"])
    return {"vms": vms, "hosts": len(result.host_ids), "status": result.status, "seconds": seconds, "peak": peak,
            "build": build, "placed": placed, "objects": len(inventory["platform_objects"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vms", type=int, nargs="+", default=[200, 2000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print("building the simulator…", flush=True)
        binary = build_vcsim(workdir)
        print(f"{'VMs':>6} {'hosts stored':>12} {'status':>10} {'seconds':>8} {'VMs/s':>8} {'peak RSS MiB':>12} "
              f"{'objects':>7} {'VMs placed':>10} {'inventory s':>11}")
        for vms in args.vms:
            r = measure(binary, vms, workdir)
            print(f"{r['vms']:>6} {r['hosts']:>12} {r['status']:>10} {r['seconds']:>8.1f} "
                  f"{r['vms'] / r['seconds']:>8.0f} {r['peak'] / 2**20:>12.1f} {r['objects']:>7} {r['placed']:>10} "
                  f"{r['build']:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
