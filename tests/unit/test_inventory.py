import json

from discovery.inventory.build import (CONNECTION_FIELDS, DATABASE_FIELDS, HOST_FIELDS, SCAN_FIELDS, SERVICE_FIELDS,
                                       SOFTWARE_FIELDS, build_inventory)
from discovery.records.model import Scan
from tests.builders import T0, make_report

# The contract in DESIGN.md, written out again here so that a change to the code cannot change it unnoticed.
CONTRACT = {
    "scans": {"id", "kind", "started_at", "finished_at", "targets", "status"},
    "hosts": {"id", "hostname", "addresses", "macs", "os_name", "os_version", "os_family", "vendor", "model",
              "cpu_model", "cpu_cores", "memory_bytes", "disks", "sources", "risk_score", "risk_factors", "legacy",
              "owner", "criticality", "patient_data", "notes"},
    "services": {"id", "host_id", "address", "port", "protocol", "state", "name", "product", "version", "cpe",
                 "category", "process"},
    "software": {"host_id", "name", "version", "vendor", "source"},
    "databases": {"id", "host_id", "service_id", "engine", "version", "databases"},
    "connections": {"source_host_id", "source_address", "source_port", "source_process", "target_host_id",
                    "target_address", "target_port", "target_service_id", "state", "observed_by"},
    "dependencies": {"source_host_id", "source_process", "target_host_id", "target_service_id", "target_port",
                     "protocol", "connections", "evidence", "first_seen", "last_seen", "samples"},
    "findings": {"id", "subject_type", "subject_id", "host_id", "rule", "category", "severity", "title", "evidence",
                 "recommendation"},
    "groups": {"id", "name", "wave", "host_ids"},
}


def scan_with(store, *reports):
    scan_id = store.start_scan(Scan(kind="host", started_at=T0))
    ids = [store.write_host_report(scan_id, r)[0] for r in reports]
    store.finish_scan(scan_id, "completed")
    return scan_id, ids


def test_field_lists_cover_the_contract():
    assert set(HOST_FIELDS) == CONTRACT["hosts"]
    assert set(SERVICE_FIELDS) == CONTRACT["services"]
    assert set(SOFTWARE_FIELDS) == CONTRACT["software"]
    assert set(DATABASE_FIELDS) == CONTRACT["databases"]
    assert set(CONNECTION_FIELDS) == CONTRACT["connections"]
    assert set(SCAN_FIELDS) == CONTRACT["scans"]


def test_build_inventory_has_every_contract_key_on_every_row(store):
    scan_with(store, make_report(connections=(("10.9.0.50", 41000, "10.9.0.60", 443, "outbound", "curl"),)))
    inventory = json.loads(json.dumps(build_inventory(store)))
    assert inventory["schema"] == "estatemap/1"
    for key, fields in CONTRACT.items():
        assert key in inventory
        for row in inventory[key]:
            assert fields <= set(row), (key, fields - set(row))
    for key in ("scans", "hosts", "services", "software", "databases", "connections"):
        assert inventory[key], f"{key} is empty"
    assert inventory["dependencies"] and inventory["findings"] == [] and inventory["groups"] == []


def test_build_inventory_links_database_to_service_and_categorises(store):
    _, (host_id,) = scan_with(store, make_report(services=(("tcp", 5432, "postgres"), ("tcp", 22, "sshd"))))
    inventory = build_inventory(store)
    services = {s["port"]: s for s in inventory["services"]}
    assert services[5432]["category"] == "database" and services[22]["category"] == "remote-access"
    assert services[5432]["id"] == f"{host_id}:tcp/5432"
    (db,) = inventory["databases"]
    assert db["service_id"] == services[5432]["id"] and db["engine"] == "postgresql" and db["version"] == "15.4"


def test_connections_loopback_ends_merge_into_client_to_server(store):
    # The same loopback connection seen from both ends on one host: psql → postgres.
    report = make_report(connections=(
        ("127.0.0.1", 51000, "127.0.0.1", 5432, "outbound", "psql"),
        ("127.0.0.1", 5432, "127.0.0.1", 51000, "inbound", "postgres"),
    ))
    _, (host_id,) = scan_with(store, report)
    (conn,) = build_inventory(store)["connections"]
    assert conn["source_process"] == "psql" and conn["target_process"] == "postgres"
    assert conn["source_port"] == 51000 and conn["target_port"] == 5432
    assert conn["source_host_id"] == conn["target_host_id"] == host_id
    assert conn["target_service_id"] == f"{host_id}:tcp/5432"
    assert conn["observed_by"] == ["local"]


def test_connections_between_two_known_hosts_resolve_both_ends(store):
    client = make_report(hostname="web01", address="10.9.5.1",
                         connections=(("10.9.5.1", 40001, "10.9.5.2", 5432, "outbound", "gunicorn"),),
                         services=(("tcp", 80, "nginx"),))
    server = make_report(hostname="db01", address="10.9.5.2")
    _, (web, db) = scan_with(store, client, server)
    (conn,) = build_inventory(store)["connections"]
    assert (conn["source_host_id"], conn["target_host_id"]) == (web, db)
    assert conn["target_service_id"] == f"{db}:tcp/5432"


def test_build_inventory_for_one_scan_only(store):
    first, _ = scan_with(store, make_report(hostname="old-only"))
    second, _ = scan_with(store, make_report(hostname="new-only"))
    inventory = build_inventory(store, scan_id=first)
    assert [h["hostname"] for h in inventory["hosts"]] == ["old-only"]
    assert [s["id"] for s in inventory["scans"]] == [first]
    assert len(build_inventory(store)["hosts"]) == 2


def test_software_seen_by_two_sources_is_listed_once(store):
    scan_with(store, make_report(mac="52:54:00:00:5f:01", software=(("openssl", "3.0.9"),)))
    scan_with(store, make_report(mac="52:54:00:00:5f:01", source="bundle", software=(("openssl", "3.0.11"),)))
    (package,) = build_inventory(store)["software"]
    assert package["version"] == "3.0.11"


def test_script_results_of_every_source_are_kept_on_hosts_and_services(store):
    from dataclasses import replace

    from discovery.records.model import ScriptResult

    def seen_by(source, host_script, service_script, at):
        report = make_report(mac="52:54:00:00:5f:02", source=source, observed_at=at, services=(("tcp", 443, None),))
        (service,) = report.services
        return replace(report, host=replace(report.host, scripts=(ScriptResult(id=host_script, output="x"),)),
                       services=(replace(service, scripts=(ScriptResult(id=service_script, output="y"),)),))

    scan_with(store, seen_by("nmap", "smb-protocols", "ssl-enum-ciphers", T0))
    scan_with(store, seen_by("passive", "passive-traffic", "tls-hello", T0.replace(year=T0.year + 1)))
    inventory = build_inventory(store)
    (host,) = inventory["hosts"]
    (service,) = inventory["services"]
    assert {s["id"] for s in host["scripts"]} == {"smb-protocols", "passive-traffic"}   # newest no longer hides
    assert {s["id"] for s in service["scripts"]} == {"ssl-enum-ciphers", "tls-hello"}
