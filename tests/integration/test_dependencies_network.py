"""Dependency mapping across the namespace test network: a client on one host, PostgreSQL on another."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def estatemap(host, *argv, timeout=300):
    result = host.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True,
                      timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result


def test_client_collected_server_scanned_gives_one_dependency_to_postgresql(test_network, tmp_path):
    """Only the client end is collected (scan host on app); the server is known from nmap alone."""
    db_file, out = tmp_path / "estate.db", tmp_path / "estate.json"
    app, db = test_network.hosts["app"], test_network.hosts["db"]
    estatemap(app, "--db", str(db_file), "scan", "host")
    estatemap(test_network.scanner, "--db", str(db_file), "scan", "network", db.address, app.address,
              "--ports", "5432,6379,80", "--max-rate", "2000")
    estatemap(test_network.scanner, "--db", str(db_file), "export", "-f", "json", "-o", str(out))
    inventory = json.loads(out.read_text())

    hosts = {h["hostname"]: h for h in inventory["hosts"]}
    assert sorted(hosts) == ["app", "db"]  # each host exactly once: app merged across local and nmap
    assert hosts["app"]["sources"] == ["local", "nmap"] and hosts["db"]["sources"] == ["nmap"]
    to_postgres = [d for d in inventory["dependencies"]
                   if d["target_host_id"] == hosts["db"]["id"] and d["target_port"] == 5432]
    assert len(to_postgres) == 1
    (dep,) = to_postgres
    assert (dep["source_host_id"], dep["source_process"]) == (hosts["app"]["id"], "emr_app")
    assert dep["target_service_id"] == f"{hosts['db']['id']}:tcp/5432"
    assert dep["target_product"] == "PostgreSQL DB" and dep["evidence"] == "observed"
    assert dep["observed_by"] == ["local"] and not dep["external"] and not dep["loopback"]
    redis = [d for d in inventory["dependencies"] if d["target_port"] == 6379]
    assert [(d["source_process"], d["target_product"]) for d in redis] == [("emr_app", "Redis key-value store")]
    # db's own sockets were never collected: that is said, not hidden.
    assert [g["host_id"] for g in inventory["coverage"]] == [hosts["db"]["id"]]


def test_postgresql_client_seen_only_through_pg_stat_activity(test_network, tmp_path):
    """Nobody collected the app host's sockets: PostgreSQL's own client list reveals the dependency."""
    db_file, out = tmp_path / "estate.db", tmp_path / "estate.json"
    app, db = test_network.hosts["app"], test_network.hosts["db"]
    estatemap(test_network.scanner, "--db", str(db_file), "scan", "network", db.address, app.address,
              "--ports", "5432", "--max-rate", "2000")
    result = estatemap(test_network.scanner, "--db", str(db_file), "scan", "database",
                       f"postgresql://postgres@{db.address}/emr")
    assert "hidden" not in result.stderr
    estatemap(test_network.scanner, "--db", str(db_file), "export", "-f", "json", "-o", str(out))
    inventory = json.loads(out.read_text())

    hosts = {h["addresses"][0]: h for h in inventory["hosts"]}
    assert sorted(hosts) == [db.address, app.address]  # the database scan merged into db by address
    assert hosts[db.address]["sources"] == ["nmap", "postgresql"]
    (database,) = inventory["databases"]
    server_version = db.run(["psql", "-At", "-h", db.address, "-U", "postgres", "-d", "emr", "-c", "SHOW server_version"],
                            capture_output=True, text=True).stdout.split()[0]
    assert database["engine"] == "postgresql" and database["version"] == server_version
    assert "emr" in database["databases"] and database["sizes"]["emr"] > 1_000_000
    (dep,) = [d for d in inventory["dependencies"] if d["target_port"] == 5432]
    assert (dep["source_host_id"], dep["source_process"]) == (hosts[app.address]["id"], "emr_app")
    assert dep["target_host_id"] == hosts[db.address]["id"] and dep["evidence"] == "reported"
    assert dep["observed_by"] == ["postgresql"] and dep["target_service_id"] == f"{hosts[db.address]['id']}:tcp/5432"
