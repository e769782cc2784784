import gc
import json

import networkx as nx

from discovery.analyses.analysis import analyze
from discovery.analyses.graph import build_graph, host_graph
from discovery.inventory.build import build_inventory
from discovery.records.model import Scan
from tests.builders import T0, make_report

T = "2026-11-01T09:00:00+00:00"


def dep(source, target, port, *, process="app", protocol="tcp", category="other", connections=1, known=True,
        product=None):
    """A dependency row as build_inventory gives it; `known=False`: the target port is not in the inventory."""
    external = source.startswith("external:") or target.startswith("external:")
    service = None if target.startswith("external:") or not known else f"{target}:{protocol}/{port}"
    return {"id": f"dep:{source}|{process or ''}|{target}|{protocol}|{port}", "source_host_id": source,
            "source_process": process, "target_host_id": target, "target_service_id": service, "target_port": port,
            "protocol": protocol, "connections": connections, "evidence": "observed", "first_seen": T,
            "last_seen": T, "samples": 1, "observed_by": ["ssh"], "target_process": None,
            "loopback": source == target, "external": external, "target_product": product,
            "target_category": category if service else None,
            "shared_infrastructure": bool(service) and category in ("infrastructure", "directory")}


def estate(*deps, hosts=(), databases=()):
    """An inventory dict holding `deps`, every host they name (plus `hosts`) and the services they reach."""
    names = {h for d in deps for h in (d["source_host_id"], d["target_host_id"]) if not h.startswith("external:")}
    names |= set(hosts)
    services = {}
    for d in deps:
        if d["target_service_id"]:
            services[d["target_service_id"]] = {
                "id": d["target_service_id"], "host_id": d["target_host_id"], "port": d["target_port"],
                "protocol": d["protocol"], "name": None, "product": d["target_product"], "version": None,
                "category": d["target_category"], "process": None}
    externals = {}
    for d in deps:
        for node, peer in ((d["source_host_id"], d["target_host_id"]), (d["target_host_id"], d["source_host_id"])):
            if node.startswith("external:"):
                e = externals.setdefault(node, {"id": node, "address": node.removeprefix("external:"), "ports": [],
                                                "peer_host_ids": []})
                e["peer_host_ids"].append(peer)
    return {"hosts": [{"id": h, "hostname": f"{h}-name", "addresses": [f"10.0.0.{i}"]}
                      for i, h in enumerate(sorted(names), 1)],
            "services": list(services.values()), "databases": list(databases), "dependencies": list(deps),
            "external_endpoints": list(externals.values())}


def three_tier(**kw):
    return estate(dep("web", "app", 8080, process="nginx", connections=4),
                  dep("app", "db", 5432, process="java", category="database", connections=9),
                  databases=[{"id": "db:db/postgresql/5432", "host_id": "db", "service_id": "db:tcp/5432",
                              "engine": "postgresql", "version": "15.4", "databases": ["emr"]}], **kw)


def test_build_graph_nodes_edges_and_labels():
    G = build_graph(three_tier())
    kinds = dict(G.nodes(data="kind"))
    assert kinds["web"] == kinds["app"] == kinds["db"] == "host"
    assert kinds["app:tcp/8080"] == kinds["db:tcp/5432"] == "service"
    assert kinds["db:db/postgresql/5432"] == "database" and kinds["web/proc/nginx"] == "process"
    assert G.nodes["web"]["label"] == "web-name" and G.nodes["web"]["addresses"] == ("10.0.0.3",)
    assert G.nodes["web/proc/nginx"]["label"] == "nginx on web-name"
    assert G.nodes["db:tcp/5432"]["port"] == 5432 and G.nodes["db:tcp/5432"]["category"] == "database"
    assert not G.nodes["db:tcp/5432"]["inferred"]
    assert G.edges["db", "db:tcp/5432", "runs"]["kind"] == "runs"
    assert G.edges["web", "web/proc/nginx", "runs"]["kind"] == "runs"
    assert G.edges["db:tcp/5432", "db:db/postgresql/5432", "serves"]["kind"] == "serves"
    (edge,) = G["app/proc/java"]["db:tcp/5432"].values()
    assert edge["kind"] == "depends_on" and edge["connections"] == 9 and edge["protocol"] == "tcp"
    assert edge["evidence"] == "observed" and edge["observed_by"] == ("ssh",) and edge["first_seen"] == T
    assert (edge["source_host"], edge["target_host"], edge["port"]) == ("app", "db", 5432)
    assert not edge["shared_infrastructure"] and not edge["loopback"]


def test_build_graph_leaves_the_garbage_collector_as_it_found_it():
    build_graph(three_tier())
    assert gc.isenabled()
    gc.disable()
    try:
        build_graph(three_tier())
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_build_graph_unknown_service_on_known_host_is_an_inferred_service_node():
    G = build_graph(estate(dep("app", "db", 9999, known=False, process="java")))
    assert G.nodes["db:tcp/9999"]["inferred"] and G.nodes["db:tcp/9999"]["kind"] == "service"
    assert G.has_edge("db", "db:tcp/9999", "runs") and G.has_edge("app/proc/java", "db:tcp/9999")


def test_build_graph_externals_are_nodes_both_ways():
    G = build_graph(estate(dep("app", "external:203.0.113.9", 443, process="curl"),
                           dep("external:198.51.100.7", "web", 443, process=None, category="web")))
    assert G.nodes["external:203.0.113.9"]["kind"] == "external"
    assert G.nodes["external:203.0.113.9"]["label"] == "203.0.113.9"
    assert G.has_edge("app/proc/curl", "external:203.0.113.9")
    assert G.has_edge("external:198.51.100.7", "web:tcp/443")
    H = host_graph(G)
    assert H.has_edge("app", "external:203.0.113.9") and H.has_edge("external:198.51.100.7", "web")


def test_host_graph_aggregates_dependencies_per_host_pair():
    H = host_graph(build_graph(estate(dep("web", "app", 8080, process="nginx", connections=2),
                                      dep("web", "app", 8443, process="python3", connections=3),
                                      dep("web", "dns", 53, protocol="udp", process="resolved",
                                          category="infrastructure"))))
    edge = H.edges["web", "app"]
    assert (edge["count"], edge["connections"], edge["ports"], edge["protocols"]) == (2, 5, (8080, 8443), ("tcp",))
    assert not edge["shared"] and {d["port"] for d in edge["dependencies"]} == {8080, 8443}
    assert H.edges["web", "dns"]["shared"] and H.edges["web", "dns"]["protocols"] == ("udp",)


def test_host_graph_loopback_makes_no_self_loop():
    G = build_graph(estate(dep("app", "app", 6379, process="java", category="database"),
                           dep("web", "app", 8080)))
    (loop,) = G["app/proc/java"]["app:tcp/6379"].values()
    assert loop["loopback"]
    H = host_graph(G)
    assert nx.number_of_selfloops(H) == 0 and list(H.edges()) == [("web", "app")]


def scan_with(store, *reports):
    scan_id = store.start_scan(Scan(kind="host", started_at=T0))
    ids = [store.write_host_report(scan_id, r)[0] for r in reports]
    store.finish_scan(scan_id, "completed")
    return ids


def test_build_graph_from_a_real_inventory(store):
    web = make_report(hostname="web01", address="10.9.7.1", services=(("tcp", 443, "nginx"),),
                      connections=(("10.9.7.1", 40001, "10.9.7.2", 8080, "outbound", "nginx"),))
    app = make_report(hostname="app01", address="10.9.7.2", services=(("tcp", 8080, "java"),),
                      connections=(("10.9.7.2", 40002, "10.9.7.3", 5432, "outbound", "java"),
                                   ("10.9.7.2", 40003, "203.0.113.9", 443, "outbound", "curl")))
    db = make_report(hostname="db01", address="10.9.7.3",
                     connections=(("127.0.0.1", 51000, "127.0.0.1", 5432, "outbound", "psql"),))
    web_id, app_id, db_id = scan_with(store, web, app, db)
    inventory = build_inventory(store)

    G = build_graph(inventory)
    assert G.nodes[db_id]["label"] == "db01" and G.nodes[db_id]["kind"] == "host"
    database = f"{db_id}:db/postgresql/5432"
    assert G.has_edge(f"{db_id}:tcp/5432", database, "serves")
    assert G.has_edge(f"{app_id}/proc/java", f"{db_id}:tcp/5432")
    assert G.has_edge(f"{web_id}/proc/nginx", f"{app_id}:tcp/8080")
    assert G.has_edge(f"{app_id}/proc/curl", "external:203.0.113.9")
    (loop,) = G[f"{db_id}/proc/psql"][f"{db_id}:tcp/5432"].values()
    assert loop["loopback"]
    H = host_graph(G)
    assert set(H.edges()) == {(web_id, app_id), (app_id, db_id), (app_id, "external:203.0.113.9")}

    result = analyze(inventory)
    (group,) = result.groups
    assert set(group.host_ids) == {web_id, app_id, db_id}
    wave = {h.host_id: h.wave for h in result.hosts}
    assert wave[db_id] < wave[app_id] < wave[web_id]
    assert json.loads(json.dumps(result.to_dict()))["groups"][0]["host_ids"] == list(group.host_ids)
