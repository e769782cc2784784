import json
import random

import networkx as nx
import pytest

from bench.synthetic_estate import generate_estate
from discovery.analyses.analysis import (STEPS, analyze, analyze_graph, articulation_points, betweenness, blast_radius,
                                         blast_radius_sizes, core_graph, fan_in_out, group_id, move_groups)
from discovery.analyses.graph import build_graph, host_graph
from discovery.records.model import ScanCancelled, ScanContext
from tests.unit.test_graph import dep, estate, three_tier


def core_of(inventory):
    return core_graph(host_graph(build_graph(inventory)))


def by_host(result):
    return {h.host_id: h for h in result.hosts}


def test_articulation_points_of_a_chain():
    chain = estate(dep("a", "b", 80), dep("b", "c", 80), dep("c", "d", 80))
    assert articulation_points(core_of(chain)) == {"b", "c"}
    result = analyze(chain)
    assert {s.host_id for s in result.single_points_of_failure if s.articulation_point} == {"b", "c"}
    assert by_host(result)["b"].articulation_point and not by_host(result)["a"].articulation_point


def test_articulation_points_of_a_star():
    star = estate(*(dep(leaf, "hub", 8080) for leaf in ("l1", "l2", "l3", "l4", "l5")))
    assert articulation_points(core_of(star)) == {"hub"}
    fans = fan_in_out(host_graph(build_graph(star)))
    assert fans["hub"] == (5, 0, 0, 0) and fans["l1"] == (0, 1, 0, 0)


def test_a_cycle_is_one_component_and_one_wave():
    result = analyze(estate(dep("a", "b", 80), dep("b", "c", 80), dep("c", "a", 80), dep("c", "d", 5432)))
    (cycle,) = result.cycles
    assert cycle.host_ids == ("a", "b", "c") and cycle.examples == (("a", "b", "c"),) and not cycle.truncated
    wave = {h: m.wave for h, m in by_host(result).items()}
    assert wave["a"] == wave["b"] == wave["c"] == cycle.wave == 2 and wave["d"] == 1
    (group,) = result.groups
    assert "cycle" in group.explanation


def test_waves_of_a_three_tier_chain_put_the_database_first():
    result = analyze(three_tier())
    wave = {h: m.wave for h, m in by_host(result).items()}
    assert (wave["db"], wave["app"], wave["web"]) == (1, 2, 3)
    (group,) = result.groups
    assert group.wave == 1 and group.host_ids == ("app", "db", "web")
    assert group.id == group_id(["web", "db", "app"]) and group.name == "group-1: app-name +2"
    assert set(group.edges) == {("web", "app"), ("app", "db")}
    assert "web-name → app-name (tcp 8080)" in group.explanation


def dns_estate():
    pairs = [dep(f"web{i}", f"db{i}", 5432, category="database") for i in range(3)]
    lookups = [dep(h, "dns", 53, protocol="udp", process="resolved", category="infrastructure")
               for i in range(3) for h in (f"web{i}", f"db{i}")]
    return estate(*pairs, *lookups)


def test_a_shared_dns_hub_does_not_glue_every_host_into_one_group():
    inventory = dns_estate()
    H = host_graph(build_graph(inventory))
    everything = move_groups(core_graph(H, (), keep_shared_edges=True))
    assert len(everything) == 1 and len(everything[0]) == 7  # without the exclusion: one group

    result = analyze(inventory)
    assert sorted(g.host_ids for g in result.groups) == [("db0", "web0"), ("db1", "web1"), ("db2", "web2")]
    shared = {s.id: s for s in result.shared}
    assert shared["dns"].kind == "host" and "used by 6 other hosts" in shared["dns"].reasons[0]
    assert shared["dns:udp/53"].kind == "service"
    dns = by_host(result)["dns"]
    assert dns.shared and dns.group_id is None and dns.wave == 0 and dns.fan_in == 6
    assert result.waves[0].number == 0 and result.waves[0].host_ids == ("dns",)


def test_a_host_with_far_more_dependents_than_the_rest_is_shared_with_its_reason():
    pairs = [dep(f"web{i}", f"db{i}", 5432) for i in range(15)]
    reports = [dep(h, "monitor", 10051, process="agent") for i in range(15) for h in (f"web{i}", f"db{i}")]
    result = analyze(estate(*pairs, *reports))
    (monitor,) = [s for s in result.shared if s.id == "monitor"]
    assert "30 hosts depend on it, far above the rest" in monitor.reasons[0]
    assert len(result.groups) == 15
    assert "threshold 10.0" in monitor.reasons[0]  # the floor: the others have a fan-in of 0 or 1


def test_blast_radius_of_a_database_service_reaches_the_app_and_web_hosts():
    G = build_graph(three_tier())
    radius = blast_radius(G, "db:tcp/5432")
    assert {"app/proc/java", "app", "app:tcp/8080", "web/proc/nginx", "web"} <= radius
    assert "db:db/postgresql/5432" in radius  # the database goes with its service
    assert "db" not in radius  # a service failing does not take its host down
    assert blast_radius(G, "web") == {"web/proc/nginx"}
    sizes = {h.host_id: h.blast_radius for h in analyze(three_tier()).hosts}
    assert sizes == {"db": 2, "app": 1, "web": 0}
    with pytest.raises(KeyError):
        blast_radius(G, "nowhere")


def test_blast_radius_stops_at_shared_infrastructure():
    # A monitoring server everyone reports to polls the app's agent: the app failing affects the monitor, not
    # everyone who reports to it.
    reporters = [dep(f"x{i}", "monitor", 10051, process="agent") for i in range(12)]
    inventory = estate(dep("web", "app", 8080), dep("monitor", "app", 10050, process="poller"), *reporters)
    G = build_graph(inventory)
    result = analyze(inventory)
    assert by_host(result)["monitor"].shared
    assert by_host(result)["app"].blast_radius == 2  # web and monitor
    assert by_host(result)["monitor"].blast_radius == 12
    assert "x0" in blast_radius(G, "app") and "x0" not in blast_radius(G, "app", stop_at={"monitor"})
    assert blast_radius_sizes(host_graph(G))["app"] == 14  # no stop: everything behind the monitor too


def test_externals_are_nodes_but_never_grouped():
    result = analyze(estate(dep("a", "external:203.0.113.9", 443, process="curl"),
                            dep("b", "external:203.0.113.9", 443, process="curl"),
                            dep("external:198.51.100.7", "a", 443, process=None, category="web")))
    assert sorted(g.host_ids for g in result.groups) == [("a",), ("b",)]  # one peer outside does not tie them
    externals = {e.id: e for e in result.externals}
    assert externals["external:203.0.113.9"].clients == 2 and externals["external:198.51.100.7"].servers == 1
    assert by_host(result)["a"].external_in == 1 and by_host(result)["a"].external_out == 1
    assert all(not h.startswith("external:") for g in result.groups for h in g.host_ids)


def two_clusters():
    a = [f"a{i}" for i in range(1, 7)]
    b = [f"b{i}" for i in range(1, 7)]
    inside = [dep(u, v, 8080, connections=3) for cluster in (a, b) for u in cluster for v in cluster if u != v]
    return estate(*inside, dep("a1", "b1", 5432, process="java", connections=7, category="database"))


def test_a_large_group_of_two_dense_clusters_is_split_at_the_one_link_between_them():
    result = analyze(two_clusters(), max_group_size=10)
    (group,) = result.groups
    assert len(group.host_ids) == 12 and "Larger than 10 hosts" in group.explanation
    (split,) = result.splits
    assert split.group_id == group.id
    assert sorted(p.host_ids for p in split.parts) == [tuple(f"a{i}" for i in range(1, 7)),
                                                      tuple(f"b{i}" for i in range(1, 7))]
    (broken,) = split.broken
    assert (broken.source_host_id, broken.target_host_id, broken.port, broken.protocol, broken.connections,
            broken.source_process, broken.target_service_id) == ("a1", "b1", 5432, "tcp", 7, "java", "b1:tcp/5432")
    assert split.broken_connections == 7 and split.kept_dependencies == 60
    wave = {p.host_ids[0]: p.wave for p in split.parts}
    assert wave["b1"] == 1 and wave["a1"] == 2  # what the other part depends on moves first
    assert analyze(two_clusters()).splits == ()  # 12 hosts fit the default of 25


def test_simple_cycles_are_listed_up_to_a_bound():
    hosts = [f"h{i}" for i in range(8)]
    result = analyze(estate(*(dep(u, v, 80) for u in hosts for v in hosts if u != v)), cycles_per_component=5,
                     outlier_floor=100)
    (cycle,) = result.cycles
    assert len(cycle.host_ids) == 8 and len(cycle.examples) == 5 and cycle.truncated


def test_betweenness_samples_big_components_deterministically():
    core = core_of(estate(*(dep(f"c{i}", f"c{i + 1}", 80) for i in range(30))))
    exact, sampled = betweenness(core)
    assert sampled == 0 and max(exact, key=exact.get) in ("c15", "c16")
    first, sampled = betweenness(core, exact_limit=10, samples=8, seed=3)
    assert sampled == 1 and first == betweenness(core, exact_limit=10, samples=8, seed=3)[0]


def test_analysis_is_deterministic_and_ignores_input_order():
    inventory = generate_estate(400, seed=5)
    first = analyze(inventory).to_dict()
    assert analyze(inventory).to_dict() == first
    shuffled = dict(inventory)
    for key in ("hosts", "services", "dependencies"):
        shuffled[key] = random.Random(1).sample(inventory[key], len(inventory[key]))
    again = analyze(shuffled).to_dict()
    assert [(g["id"], g["name"], g["wave"], g["host_ids"]) for g in again["groups"]] == \
           [(g["id"], g["name"], g["wave"], g["host_ids"]) for g in first["groups"]]
    assert again["hosts"] == first["hosts"] and again["splits"] == first["splits"]


def test_synthetic_estate_shared_infrastructure_is_found_and_left_out_of_groups():
    inventory = generate_estate(400, seed=5)
    result = analyze(inventory)
    names = {h["id"]: h["hostname"] for h in inventory["hosts"]}
    shared = {names[s.host_id] for s in result.shared if s.kind == "host"}
    assert shared == {"dns01", "dns02", "dc01", "dc02", "ntp01", "ntp02", "syslog01", "monitor01", "backup01",
                      "smtp01"}
    grouped = {h for g in result.groups for h in g.host_ids}
    assert not grouped & {s.host_id for s in result.shared} and len(grouped) == 400 - len(shared)
    assert json.loads(json.dumps(result.to_dict()))["summary"]["hosts"] == 400


def test_blast_radius_sizes_match_a_search_from_every_host():
    inventory = generate_estate(60, seed=2)
    G = build_graph(inventory)
    H = host_graph(G)
    shared = {s.host_id for s in analyze(inventory).shared if s.kind == "host"}
    for stop in (set(), shared):
        sizes = blast_radius_sizes(H, stop_at=stop)
        for host in H:
            if H.nodes[host]["kind"] == "host":
                hosts = {n for n in blast_radius(G, host, stop_at=stop) if G.nodes[n]["kind"] == "host"}
                assert sizes[host] == len(hosts), host


def test_blast_radius_sizes_on_random_graphs_with_cycles_and_stops():
    for trial in range(100):
        rng = random.Random(trial)
        H = nx.DiGraph()
        H.add_nodes_from((f"h{i}", {"kind": "host"}) for i in range(rng.randint(1, 25)))
        H.add_nodes_from((f"e{i}", {"kind": "external"}) for i in range(2))
        nodes = list(H)
        H.add_edges_from(e for e in (rng.sample(nodes, 2) for _ in range(rng.randint(0, 60))))
        stop = set(rng.sample([n for n in nodes if n.startswith("h")], 2)) if len(nodes) > 3 else set()
        expected = {}
        for host in (n for n in nodes if n.startswith("h")):
            seen, todo = {host}, [host]
            while todo:
                x = todo.pop()
                if x in stop and x != host:
                    continue
                for u in H.pred[x]:
                    if u.startswith("h") and u not in seen:
                        seen.add(u)
                        todo.append(u)
            expected[host] = len(seen) - 1
        assert blast_radius_sizes(H, stop_at=stop) == expected, trial


def test_analyze_graph_reports_each_step_and_can_be_cancelled():
    seen = []
    ctx = ScanContext(progress=lambda done, total, message: seen.append((done, total, message)))
    analyze_graph(build_graph(three_tier()), ctx=ctx)
    assert [m for _, _, m in seen] == [*STEPS, "done"] and seen[-1][:2] == (len(STEPS), len(STEPS))
    ctx.cancel()
    with pytest.raises(ScanCancelled):
        analyze_graph(build_graph(three_tier()), ctx=ctx)
