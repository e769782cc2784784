"""How long do the graph and its analyses take for a large estate, and how much memory? Synthetic estates
(bench/synthetic_estate.py: tiers, shared infrastructure, cycles, externals; ~20 dependencies per host) of
1,000, 10,000 and 50,000 hosts: build_graph, then every analysis (analyze_graph), timed step by step; then,
in a second run of its own (tracing slows Python several times), the peak memory tracemalloc sees for the
same work. Each measurement runs in a fresh process, so one size's leftovers do not weigh on the next.
Prints the growth: the time ratio between sizes, and the same scaled to a 10x step.

Run: .venv/bin/python bench/graph_analysis.py [--sizes 1000 10000 50000] [--per-host 20] [--integration 0.3]
     [--seed 0] [--no-memory]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from discovery.analyses.analysis import analyze_graph  # noqa: E402
from discovery.analyses.graph import build_graph  # noqa: E402
from discovery.records.model import ScanContext  # noqa: E402
from synthetic_estate import generate_estate  # noqa: E402


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def measure_time(hosts: int, per_host: int, integration: float, seed: int) -> dict:
    """Return the seconds each step takes, the counts, and the process's memory before and at its peak."""
    started = time.perf_counter()
    inventory = generate_estate(hosts, connections_per_host=per_host, integration=integration, seed=seed)
    generated = time.perf_counter() - started
    rss_before = _rss_mib()
    marks = []
    ctx = ScanContext(progress=lambda done, total, message: marks.append((time.perf_counter(), message)))
    started = time.perf_counter()
    G = build_graph(inventory)
    built = time.perf_counter()
    result = analyze_graph(G, ctx=ctx)
    finished = time.perf_counter()
    steps = {"build_graph": built - started}
    for (t0, message), (t1, _) in zip(marks, marks[1:]):
        steps[message] = t1 - t0
    return {"hosts": len(inventory["hosts"]), "dependencies": len(inventory["dependencies"]),
            "nodes": G.number_of_nodes(), "edges": G.number_of_edges(), "generate": generated,
            "total": finished - started, "steps": steps, "summary": result.summary,
            "betweenness": result.parameters["betweenness"], "rss_before_mib": rss_before,
            "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure_memory(hosts: int, per_host: int, integration: float, seed: int) -> dict:
    """Return the peak bytes tracemalloc sees while the graph is built and analysed (the inventory excluded)."""
    inventory = generate_estate(hosts, connections_per_host=per_host, integration=integration, seed=seed)
    tracemalloc.start()
    result = analyze_graph(build_graph(inventory))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"peak_mib": peak / 2**20, "groups": result.summary["groups"]}


def _child(mode: str, hosts: int, args) -> dict:
    command = [sys.executable, __file__, "--child", mode, str(hosts), "--per-host", str(args.per_host),
               "--integration", str(args.integration), "--seed", str(args.seed)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--per-host", type=int, default=20)
    parser.add_argument("--integration", type=float, default=0.3,
                        help="systems each system calls, on average (above 1: one giant move group)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-memory", action="store_true", help="skip the traced runs (they take longest)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "HOSTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, hosts = args.child[0], int(args.child[1])
        measure = measure_time if mode == "time" else measure_memory
        print(json.dumps(measure(hosts, args.per_host, args.integration, args.seed)))
        return 0

    rows = []
    for size in args.sizes:
        timed = _child("time", size, args)
        traced = None if args.no_memory else _child("memory", size, args)
        rows.append((timed, traced))
        s = timed["summary"]
        print(f"{timed['hosts']:>7,} hosts, {timed['dependencies']:>9,} dependencies -> {timed['nodes']:,} nodes, "
              f"{timed['edges']:,} edges; {s['groups']:,} groups (largest {s['largest_group']}), "
              f"{s['shared_hosts']} shared hosts, {s['cycles']} cycles, {s['splits']} splits; "
              f"betweenness {timed['betweenness']}")
        steps = ", ".join(f"{name} {seconds:.2f}" for name, seconds in timed["steps"].items())
        print(f"        build + analysis {timed['total']:.2f} s  ({steps})")
        traced_text = f"peak traced memory {traced['peak_mib']:,.0f} MiB; " if traced else ""
        print(f"        {traced_text}process RSS {timed['rss_before_mib']:,.0f} MiB with the inventory alone, "
              f"{timed['rss_peak_mib']:,.0f} MiB at its peak (inventory generated in {timed['generate']:.1f} s, "
              f"not counted)")
    for (small, small_mem), (big, big_mem) in zip(rows, rows[1:]):
        factor = big["hosts"] / small["hosts"]
        ratio = big["total"] / small["total"]
        per_10x = ratio ** (1 / math.log10(factor)) if factor > 1 else float("nan")
        memory = f", traced memory x{big_mem['peak_mib'] / small_mem['peak_mib']:.1f}" if big_mem else ""
        print(f"{small['hosts']:,} -> {big['hosts']:,} hosts (x{factor:.0f}): time x{ratio:.1f} "
              f"(x{per_10x:.1f} per 10x; linear would be x10){memory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
