from discovery.inventory.dependencies import (ResolutionStats, aggregate_dependencies, build_address_index,
                                              external_endpoints, parse_ssh_sessions, resolve_connections)

T = "2026-11-01T09:00:00+00:00"
HOSTS = [{"id": "app", "addresses": ["10.0.0.40"]}, {"id": "db", "addresses": ["10.0.0.10"]},
         {"id": "web", "addresses": ["10.0.0.20"]}]
SERVICES = [{"id": "db:tcp/5432", "host_id": "db", "protocol": "tcp", "port": 5432, "product": "PostgreSQL DB",
             "category": "database"},
            {"id": "web:tcp/53", "host_id": "web", "protocol": "tcp", "port": 53, "product": "dnsmasq",
             "category": "infrastructure"},
            {"id": "web:tcp/22", "host_id": "web", "protocol": "tcp", "port": 22, "product": "OpenSSH",
             "category": "remote-access"}]


def row(host, local, lport, remote, rport, direction="outbound", process=None, source="ssh", **kw):
    return {"host_id": host, "protocol": "tcp", "local_address": local, "local_port": lport, "remote_address": remote,
            "remote_port": rport, "direction": direction, "process": process, "source": source, "observed_at": T,
            "state": "ESTABLISHED", **kw}


def deps(rows, **kw):
    connections = resolve_connections(rows, HOSTS, SERVICES, **kw)
    return connections, aggregate_dependencies(connections, SERVICES)


def test_client_end_only_resolves_to_the_server_host_and_service():
    _, (dep,) = deps([row("app", "10.0.0.40", 51000, "10.0.0.10", 5432, process="emr_app")])
    assert (dep["source_host_id"], dep["source_process"], dep["target_host_id"]) == ("app", "emr_app", "db")
    assert dep["target_service_id"] == "db:tcp/5432" and dep["target_product"] == "PostgreSQL DB"
    assert dep["evidence"] == "observed" and dep["connections"] == 1 and not dep["external"]


def test_both_ends_merge_and_server_only_sightings_join_the_named_dependency():
    rows = [row("app", "10.0.0.40", 51000, "10.0.0.10", 5432, process="emr_app"),
            row("db", "10.0.0.10", 5432, "10.0.0.40", 51000, direction="inbound", process="postgres"),
            row("db", "10.0.0.10", 5432, "10.0.0.40", 51007, direction="inbound", process="postgres")]
    connections, (dep,) = deps(rows)
    assert len(connections) == 2
    both = next(c for c in connections if c["source_port"] == 51000)
    assert both["source_process"] == "emr_app" and both["target_process"] == "postgres"
    assert dep["source_process"] == "emr_app" and dep["connections"] == 2 and dep["target_process"] == "postgres"


def test_loopback_is_kept_and_marked():
    _, (dep,) = deps([row("db", "127.0.0.1", 40000, "127.0.0.1", 5432, process="psql")])
    assert dep["source_host_id"] == dep["target_host_id"] == "db" and dep["loopback"]


def test_peer_outside_the_inventory_becomes_an_external_endpoint():
    connections, (dep,) = deps([row("app", "10.0.0.40", 51000, "203.0.113.9", 443, process="curl")])
    assert dep["target_host_id"] == "external:203.0.113.9" and dep["external"]
    (ext,) = external_endpoints(connections)
    assert ext == {"id": "external:203.0.113.9", "address": "203.0.113.9", "ports": [443], "peer_host_ids": ["app"]}


def test_noise_filters_are_switchable():
    rows = [row("app", "10.0.0.40", 50000, "10.0.0.20", 60000, process="x"),  # ephemeral to ephemeral
            row("web", "10.0.0.20", 22, "10.0.0.5", 41234, direction="inbound", process="sshd")]  # our own session
    sessions = parse_ssh_sessions([{"host_id": "web", "name": "ssh-session", "text": "10.0.0.5 41234 22"}])
    stats = ResolutionStats()
    assert deps(rows, ssh_sessions=sessions, stats=stats) == ([], [])
    assert dict(stats.dropped) == {"ephemeral": 1, "collector-ssh": 1}
    _, kept = deps(rows, ssh_sessions=sessions, filters=())
    assert len(kept) == 2


def test_shared_infrastructure_is_marked_not_dropped():
    _, (dep,) = deps([row("app", "10.0.0.40", 51000, "10.0.0.20", 53, process="resolver")])
    assert dep["shared_infrastructure"] and dep["target_category"] == "infrastructure"


def test_unknown_direction_is_inferred_from_listeners_or_ports():
    _, (dep,) = deps([row("app", "10.0.0.40", 51000, "10.0.0.10", 5432, direction="unknown", process="x")])
    assert dep["target_host_id"] == "db" and dep["evidence"] == "observed"  # a listener settles it
    _, (dep,) = deps([row("app", "10.0.0.40", 51000, "10.0.0.20", 8080, direction="unknown", process="x")])
    assert dep["target_port"] == 8080 and dep["evidence"] == "inferred"  # only the port numbers say so


def test_reported_clients_add_edges_from_hosts_never_collected():
    rows = [row("db", "10.0.0.10", 5432, "10.0.0.20", 40100, direction="inbound", process="postgres",
                source="postgresql", evidence="reported")]
    _, (dep,) = deps(rows)
    assert (dep["source_host_id"], dep["target_service_id"], dep["evidence"]) == ("web", "db:tcp/5432", "reported")


def test_ambiguous_addresses_are_not_guessed():
    index = build_address_index([{"id": "a", "addresses": ["10.0.0.1"]}, {"id": "b", "addresses": ["10.0.0.1"]},
                                 {"id": "c", "addresses": ["127.0.0.1", "10.0.0.3"]}])
    assert index == {"10.0.0.1": None, "10.0.0.3": "c"}

