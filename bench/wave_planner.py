"""How long does the wave planner take on a large estate, against the rest of `analyze`? Synthetic estates
(bench/synthetic_estate.py) of 1,000 and 10,000 hosts (--sizes), with annotations drawn from a seed: 5% of the
hosts rated critical, 10% high, 20% medium; 10% holding patient data; 5% running an end-of-life system.

For each size it times the rest of the analysis as `analyze` runs it on such an inventory (the legacy and
protocol rules, build_graph and host_graph, every graph analysis, the risk scores) and then the planner
(build_group_facts, group_dependencies, plan_waves) under several rule sets:

- default: the default rules (capacity 50 hosts, pilot 2, server-first, remediation 1 wave, tiers apart);
- together: dependency order together;
- tight: capacity 5 hosts, so thousands of waves to fill;
- linked: 2 extra dependencies per group between random groups (the synthetic estates have none between groups:
  shared infrastructure carries everything that crosses), a few of them back, so cycles of groups too;
- singletons: every host a group of its own (an estate with no dependencies), capacity 5 hosts.

Prints seconds per step, the planner's share of the whole, and whether 10,000 hosts plan in under 5 s.

Run: .venv/bin/python bench/wave_planner.py [--sizes 1000 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from discovery.analyses.analysis import analyze_graph  # noqa: E402
from discovery.analyses.graph import build_graph, host_graph  # noqa: E402
from discovery.analyses.legacy import assess_inventory, load_eol_table  # noqa: E402
from discovery.analyses.risk import score_hosts  # noqa: E402
from discovery.analyses.wave_plan import (GroupDependency, build_group_facts, group_dependencies,  # noqa: E402
                                          plan_waves)
from discovery.analyses.wave_rules import WaveRules  # noqa: E402
from synthetic_estate import generate_estate  # noqa: E402

TARGET_SECONDS = 5.0
AS_OF = date(2026, 11, 28)


def annotate(inventory: dict, rng: random.Random) -> set[str]:
    """Rate and flag hosts in place; return the ids of the hosts holding an end-of-life system."""
    legacy = set()
    for host in inventory["hosts"]:
        draw = rng.random()
        host["criticality"] = ("critical" if draw < 0.05 else "high" if draw < 0.15 else
                               "medium" if draw < 0.35 else None)
        host["patient_data"] = "yes" if rng.random() < 0.10 else None
        if rng.random() < 0.05:
            legacy.add(host["id"])
    return legacy


def extra_links(groups: list[dict], rng: random.Random, per_group: int = 2) -> list[GroupDependency]:
    ids = [g["id"] for g in groups]
    links = {}
    for client in ids:
        for _ in range(per_group):
            server = rng.choice(ids)
            if server != client:
                links[client, server] = GroupDependency(client=client, server=server, ports=("tcp/8443",),
                                                        dependencies=1)
    return list(links.values())


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def measure(hosts: int, seed: int) -> None:
    rng = random.Random(seed)
    inventory = generate_estate(hosts, seed=seed)
    legacy = annotate(inventory, rng)
    steps = {}
    findings, steps["legacy and protocol rules"] = timed(
        lambda: [dataclasses.asdict(f) for f in assess_inventory(inventory, load_eol_table(), AS_OF)])
    G, steps["build_graph"] = timed(lambda: build_graph(inventory))
    H, steps["host_graph"] = timed(lambda: host_graph(G))
    result, steps["graph analyses"] = timed(lambda: analyze_graph(G, H).to_dict())
    risk, steps["risk"] = timed(lambda: score_hosts(inventory, findings, result))
    rest = sum(steps.values())
    names = {h["id"]: h["hostname"] for h in inventory["hosts"]}
    groups = result["groups"]
    shared = [h["host_id"] for h in result["hosts"] if h["shared"]]
    print(f"{len(inventory['hosts']):>7,} hosts, {len(groups):,} groups, {len(shared)} shared hosts; the rest of "
          f"analyze {rest:.2f} s (" + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()) + ")")

    def plan(rules: WaveRules, extra=(), the_groups=groups):
        facts, t_facts = timed(lambda: build_group_facts(the_groups, inventory["hosts"], risk, legacy, names))
        group_of = {h: g["id"] for g in the_groups for h in g["host_ids"]}
        deps, t_deps = timed(lambda: group_dependencies(H, group_of) + list(extra))
        result_plan, t_plan = timed(lambda: plan_waves(facts, deps, shared_host_ids=shared, rules=rules))
        return result_plan, t_facts + t_deps + t_plan, (t_facts, t_deps, t_plan), len(deps)

    singletons = [{"id": f"g-{h['id']}", "name": f"group-{i}: {h['hostname']}", "host_ids": [h["id"]]}
                  for i, h in enumerate(inventory["hosts"], 1) if h["id"] not in shared]
    cases = (("default", WaveRules(), (), groups), ("together", WaveRules(dependency_order="together"), (), groups),
             ("tight", WaveRules(wave_capacity=5), (), groups),
             ("linked", WaveRules(), extra_links(groups, rng), groups),
             ("singletons", WaveRules(wave_capacity=5), (), singletons))
    worst = 0.0
    for label, rules, extra, the_groups in cases:
        result_plan, seconds, (t_facts, t_deps, t_plan), n_deps = plan(rules, extra, the_groups)
        worst = max(worst, seconds)
        print(f"        {label:<10} planned {len(the_groups):>6,} groups in {seconds:6.3f} s (facts {t_facts:.3f}, "
              f"group dependencies {t_deps:.3f}, plan {t_plan:.3f}; {n_deps:,} dependencies between groups): "
              f"{len(result_plan.waves):,} waves, {len(result_plan.warnings):,} warnings; "
              f"{seconds / rest:.1%} of the rest of analyze")
    verdict = "under" if worst < TARGET_SECONDS else "OVER"
    print(f"        slowest plan {worst:.3f} s: {verdict} the {TARGET_SECONDS:g} s target")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for size in args.sizes:
        measure(size, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
