"""How long does dependency mapping take for a large estate? 200,000 synthetic connections across 2,000
hosts resolved client → server and aggregated into dependencies; printed beside a floor (one plain pass
that copies every row) measured in the same run.

Run: .venv/bin/python bench/dependency_resolution.py [--connections 200000] [--hosts 2000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discovery.inventory.dependencies import aggregate_dependencies, resolve_connections  # noqa: E402

T = "2026-11-01T09:00:00+00:00"
PORTS = (5432, 3306, 6379, 443, 80, 22, 104, 2575, 1433, 8080)


def synthetic_estate(n_hosts: int, n_connections: int, seed: int = 7):
    """Return (hosts, services, connection rows) shaped like the store's, deterministic for a seed."""
    rng = random.Random(seed)
    hosts = [{"id": f"h{i}", "addresses": [f"10.{i // 250}.{i % 250}.{1 + i % 7}"]} for i in range(n_hosts)]
    servers = hosts[: n_hosts // 5]
    services = [{"id": f"{h['id']}:tcp/{p}", "host_id": h["id"], "protocol": "tcp", "port": p, "product": "x",
                 "category": "database"} for h in servers for p in rng.sample(PORTS, 3)]
    by_host = {}
    for s in services:
        by_host.setdefault(s["host_id"], []).append(s["port"])
    rows = []
    for n in range(n_connections):
        client = hosts[rng.randrange(n_hosts)]
        server = servers[rng.randrange(len(servers))]
        port = rng.choice(by_host[server["id"]])
        ephemeral = 32768 + n % 28000
        kind = n % 10
        if kind < 6:    # client end collected
            rows.append(_row(client["id"], client["addresses"][0], ephemeral, server["addresses"][0], port,
                             "outbound", f"app{n % 50}"))
        elif kind < 9:  # server end collected
            rows.append(_row(server["id"], server["addresses"][0], port, client["addresses"][0], ephemeral,
                             "inbound", "postgres"))
        else:           # to the outside world
            rows.append(_row(client["id"], client["addresses"][0], ephemeral, f"203.0.113.{n % 200}", 443,
                             "outbound", "curl"))
    return hosts, services, rows


def _row(host, local, lport, remote, rport, direction, process):
    return {"host_id": host, "protocol": "tcp", "local_address": local, "local_port": lport,
            "remote_address": remote, "remote_port": rport, "direction": direction, "process": process,
            "source": "ssh", "observed_at": T, "state": "ESTABLISHED"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=200_000)
    parser.add_argument("--hosts", type=int, default=2_000)
    args = parser.parse_args()
    hosts, services, rows = synthetic_estate(args.hosts, args.connections)

    started = time.perf_counter()
    floor = [dict(r) for r in rows]
    floor_seconds = time.perf_counter() - started

    started = time.perf_counter()
    connections = resolve_connections(rows, hosts, services)
    resolved = time.perf_counter() - started
    dependencies = aggregate_dependencies(connections, services)
    total = time.perf_counter() - started

    tracemalloc.start()  # a second, traced run for memory alone: tracing slows Python several times
    aggregate_dependencies(resolve_connections(rows, hosts, services), services)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    print(f"{len(rows):,} connections, {len(hosts):,} hosts, {len(services):,} services")
    print(f"floor (copy every row once): {floor_seconds:.3f} s")
    print(f"resolve: {resolved:.3f} s -> {len(connections):,} connections; aggregate: {total - resolved:.3f} s "
          f"-> {len(dependencies):,} dependencies; total {total:.3f} s ({len(rows) / total:,.0f} connections/s), "
          f"{total / floor_seconds:.1f}x the floor; peak memory {peak / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
