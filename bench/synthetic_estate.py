"""Synthetic estates: inventory dicts shaped like discovery.inventory.build.build_inventory's, for benchmarks and tests.

The shape of a real estate, deterministic for a seed:

- shared infrastructure that every host uses: DNS (udp/53), two directory servers (LDAP tcp/389, Kerberos
  tcp/88), NTP (udp/123), syslog (udp/514), a monitoring server every agent reports to (tcp/10051, which
  is category "other": only its fan-in gives it away) and that polls every agent (tcp/10050), a backup
  server that pulls from every host (tcp/9102: a fan-out hub) and a mail relay the application servers use;
- systems (applications) of 3 to 15 hosts, a few of 30 to 80, each in tiers: web (nginx → app tcp/8080),
  app (java → db tcp/5432, → cache tcp/6379, → other apps of the system tcp/8443), db (a standby
  replicating from the primary), sometimes a cache on the app host itself (loopback);
- integrations between systems (an app calling another system's app), a few of them both ways (cycles of
  two) and a few rings of three systems;
- external peers: clients reaching some web tiers, partner APIs some app servers call;
- more client processes between hosts of the same system, always down the tiers (web → app → db, and
  along a tier towards its first host), until the average host has about `connections_per_host` dependencies
  as a client.

Run: .venv/bin/python bench/synthetic_estate.py 1000   (prints the counts)
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discovery.inventory.dependencies import SHARED_CATEGORIES  # noqa: E402
from discovery.inventory.build import DATABASE_FIELDS, HOST_FIELDS, SCHEMA, SERVICE_FIELDS  # noqa: E402
from discovery.records.model import service_id  # noqa: E402

T = "2026-11-01T09:00:00+00:00"
# (protocol, port, process, name, product, category)
SSH = ("tcp", 22, "sshd", "ssh", "OpenSSH", "remote-access")
AGENT = ("tcp", 10050, "zabbix_agentd", "zabbix-agent", "Zabbix agent", "infrastructure")
BACKUP_AGENT = ("tcp", 9102, "bacula-fd", "bacula-fd", "Bacula file daemon", "other")
WEB = ("tcp", 443, "nginx", "https", "nginx", "web")
APP = ("tcp", 8080, "java", "http-proxy", "Apache Tomcat", "web")
API = ("tcp", 8443, "java", "https-alt", "Apache Tomcat", "web")
DB = ("tcp", 5432, "postgres", "postgresql", "PostgreSQL DB", "database")
CACHE = ("tcp", 6379, "redis-server", "redis", "Redis key-value store", "database")
DNS = ("udp", 53, "named", "domain", "ISC BIND", "infrastructure")
LDAP = ("tcp", 389, "slapd", "ldap", "OpenLDAP", "directory")
KERBEROS = ("tcp", 88, "krb5kdc", "kerberos-sec", "MIT Kerberos", "directory")
NTP = ("udp", 123, "chronyd", "ntp", "chrony", "infrastructure")
SYSLOG = ("udp", 514, "rsyslogd", "syslog", "rsyslog", "infrastructure")
TRAPPER = ("tcp", 10051, "zabbix_server", "zabbix-trapper", "Zabbix server", "other")
SMTP = ("tcp", 25, "postfix", "smtp", "Postfix smtpd", "messaging")
FILL_PROCESSES = ("python3", "celery", "node", "php-fpm", "gunicorn", "dotnet", "perl", "ruby")


def generate_estate(hosts: int, *, connections_per_host: int = 20, integration: float = 0.3, seed: int = 0) -> dict:
    """Return an inventory dict of about `hosts` hosts (at least 12), deterministic for `seed`.

    `connections_per_host` is the average number of dependencies a host has as a client; `integration` the
    average number of other systems a system calls (above 1, most systems join one giant move group).
    """
    return _Estate(max(hosts, 12), connections_per_host, integration, random.Random(seed)).build()


class _Estate:
    def __init__(self, n: int, per_host: int, integration: float, rng: random.Random):
        self.n, self.per_host, self.integration, self.rng = n, per_host, integration, rng
        self.hosts: list[dict] = []
        self.services: dict[str, dict] = {}
        self.databases: list[dict] = []
        self.deps: dict[tuple, dict] = {}
        self.outbound: dict[str, int] = {}

    def build(self) -> dict:
        rng = self.rng
        scale = 1 + self.n // 5000
        infra = {
            "dns": [self.host(f"dns{i:02d}", (DNS, ("tcp", 53, "named", "domain", "ISC BIND", "infrastructure")))
                    for i in range(1, 2 + scale)],
            "dc": [self.host(f"dc{i:02d}", (LDAP, KERBEROS)) for i in range(1, 2 + scale)],
            "ntp": [self.host(f"ntp{i:02d}", (NTP,)) for i in range(1, 3)],
            "syslog": [self.host(f"syslog{i:02d}", (SYSLOG,)) for i in range(1, 1 + scale)],
            "mon": [self.host(f"monitor{i:02d}", (TRAPPER, WEB)) for i in range(1, 1 + scale)],
            "backup": [self.host(f"backup{i:02d}", ()) for i in range(1, 1 + scale)],
            "smtp": [self.host(f"smtp{i:02d}", (SMTP,)) for i in range(1, 1 + scale)],
        }
        # LDAP replication between the directory servers: a cycle inside shared infrastructure.
        for a, b in zip(infra["dc"], infra["dc"][1:] + infra["dc"][:1]):
            self.dep(a, "slapd", b, LDAP)
        systems = []
        number = 0
        while len(self.hosts) < self.n:
            number += 1
            size = rng.randint(30, 80) if rng.random() < 0.03 else rng.randint(3, 15)
            systems.append(self.system(f"s{number:04d}", min(size, self.n - len(self.hosts))))
        self.integrate(systems)
        for i, h in enumerate(list(self.hosts)):
            self.dep(h, "systemd-resolved", infra["dns"][i % len(infra["dns"])], DNS)
            self.dep(h, "chronyd", infra["ntp"][i % 2], NTP)
            dc = infra["dc"][i % len(infra["dc"])]
            self.dep(h, "sssd", dc, LDAP)
            self.dep(h, "sssd", dc, KERBEROS)
            self.dep(h, "rsyslogd", infra["syslog"][i % len(infra["syslog"])], SYSLOG)
            mon = infra["mon"][i % len(infra["mon"])]
            self.dep(h, "zabbix_agentd", mon, TRAPPER)
            self.dep(mon, "zabbix_server", h, AGENT)
            self.dep(infra["backup"][i % len(infra["backup"])], "bacula-dir", h, BACKUP_AGENT)
        for system in systems:
            for app in system["app"]:
                if rng.random() < 0.5:
                    self.dep(app, "java", infra["smtp"][0], SMTP)
        self.fill(systems)
        return self.inventory()

    def host(self, name: str, services) -> dict:
        index = len(self.hosts)
        row = dict.fromkeys(HOST_FIELDS)
        row.update(id=f"h-{index:08x}", hostname=name, addresses=[f"10.{index >> 16}.{(index >> 8) & 255}."
                                                                      f"{index & 255}"],
                   macs=[], os_name="Debian GNU/Linux", os_version="12 (bookworm)", os_family="linux",
                   sources=["ssh"], risk_factors=[], disks=[])
        self.hosts.append(row)
        for service in (SSH, AGENT, BACKUP_AGENT) + tuple(services):
            self.service(row, service)
        return row

    def service(self, host: dict, service) -> str:
        protocol, port, process, name, product, category = service
        sid = service_id(host["id"], protocol, port)
        if sid not in self.services:
            row = dict.fromkeys(SERVICE_FIELDS)
            row.update(id=sid, host_id=host["id"], address="0.0.0.0", port=port, protocol=protocol, state="listening",
                       name=name, product=product, category=category, process=process, cpes=[])
            self.services[sid] = row
            if category == "database" and port == 5432:
                db = dict.fromkeys(DATABASE_FIELDS)
                db.update(id=f"{host['id']}:db/postgresql/{port}", host_id=host["id"], service_id=sid,
                          engine="postgresql", version="15.4", databases=[f"{host['hostname'].split('-')[0]}_db"])
                self.databases.append(db)
        return sid

    def system(self, prefix: str, size: int) -> dict:
        rng = self.rng
        n_db = max(1, round(size * 0.15))
        n_web = max(1, round(size * 0.25)) if size >= 3 else 0
        n_app = max(1, size - n_db - n_web)
        n_db = size - n_app - n_web
        webs = [self.host(f"{prefix}-web{i:02d}", (WEB,)) for i in range(1, n_web + 1)]
        apps = [self.host(f"{prefix}-app{i:02d}", (APP, API)) for i in range(1, n_app + 1)]
        dbs = [self.host(f"{prefix}-db{i:02d}", (DB,)) for i in range(1, n_db + 1)]
        cache = None
        if size >= 6 and rng.random() < 0.6:  # a redis on the first app server, used over loopback too
            cache = apps[0]
            self.service(cache, CACHE)
        for web in webs:
            for app in apps[:6]:
                self.dep(web, "nginx", app, APP)
        for app in apps:
            for db in dbs[:1]:
                self.dep(app, "java", db, DB)
                if rng.random() < 0.5:
                    self.dep(app, "python3", db, DB)
            if cache is not None:
                self.dep(app, "java", cache, CACHE)
            for other in rng.sample(apps, min(2, len(apps))):  # calls along the app tier, towards app01
                if apps.index(other) < apps.index(app):
                    self.dep(app, "java", other, API)
        for standby in dbs[1:]:  # streaming replication: the standby connects to the primary
            self.dep(standby, "postgres", dbs[0], DB)
        return {"web": webs, "app": apps, "db": dbs, "all": webs + apps + dbs}

    def integrate(self, systems: list[dict]) -> None:
        rng = self.rng
        whole, fraction = divmod(self.integration, 1)
        for system in systems:
            for _ in range(int(whole) + (rng.random() < fraction)):
                other = systems[rng.randrange(len(systems))]
                if other is system:
                    continue
                self.dep(rng.choice(system["app"]), "java", rng.choice(other["app"]), API)
                if rng.random() < 0.1:  # the other system calls back: a cycle of two systems
                    self.dep(rng.choice(other["app"]), "java", rng.choice(system["app"]), API)
        for _ in range(max(1, len(systems) // 200)):  # rings of three systems
            ring = rng.sample(systems, 3) if len(systems) >= 3 else []
            for a, b in zip(ring, ring[1:] + ring[:1]):
                self.dep(a["app"][0], "java", b["app"][0], API)
        for system in systems:
            if rng.random() < 0.1 and system["web"]:
                for _ in range(rng.randint(1, 5)):
                    address = f"198.51.100.{rng.randrange(1, 255)}"
                    self.dep(None, None, rng.choice(system["web"]), WEB, external_source=address)
            if rng.random() < 0.1:
                address = f"203.0.113.{rng.randrange(1, 255)}"
                self.dep(rng.choice(system["app"]), "java", None, ("tcp", 443, None, None, None, None),
                         external_target=address)
            if system["app"][0]["id"] + ":tcp/6379" in self.services:
                self.dep(system["app"][0], "java", system["app"][0], CACHE)  # loopback

    def fill(self, systems: list[dict]) -> None:
        """More client processes inside each system until the average host is a client `per_host` times."""
        rng = self.rng
        wanted = self.per_host * len(self.hosts) - len(self.deps)
        members = [s["all"] for s in systems if len(s["all"]) > 1]
        attempts = 0
        while wanted > 0 and members and attempts < 20 * self.per_host * len(self.hosts):
            attempts += 1
            hosts = members[rng.randrange(len(members))]
            client, server = sorted(rng.sample(hosts, 2), key=self.tier)  # web → app → db, never back up
            service = rng.choice(self.host_services(server))
            wanted -= self.dep(client, rng.choice(FILL_PROCESSES), server, service)

    def tier(self, host: dict) -> tuple[int, int]:
        """Sort key of a client before its server: down the tiers, and along a tier towards the first host
        (as the cache on app01 and the primary database are)."""
        name = host["hostname"]
        return (0 if "-web" in name else 1 if "-app" in name else 2), -int(host["id"][2:], 16)

    def host_services(self, host: dict) -> list[tuple]:
        name = host["hostname"]
        tier = (WEB,) if "-web" in name else (APP, API) if "-app" in name else (DB,) if "-db" in name else ()
        return [SSH, *tier]

    def dep(self, client: dict | None, process: str | None, server: dict | None, service, *,
            external_source: str | None = None, external_target: str | None = None) -> int:
        """Add a dependency; return 1, or 0 if it was there already (its connection count grows)."""
        protocol, port, target_process, _, product, category = service
        source = client["id"] if client else f"external:{external_source}"
        target = server["id"] if server else f"external:{external_target}"
        key = (source, process, target, protocol, port)
        if key in self.deps:
            self.deps[key]["connections"] += 1
            return 0
        sid = self.service(server, service) if server else None
        self.deps[key] = {
            "id": "dep:" + "|".join(str(p) for p in (source, process or "", target, protocol, port)),
            "source_host_id": source, "source_process": process, "target_host_id": target,
            "target_service_id": sid, "target_port": port, "protocol": protocol,
            "connections": self.rng.randint(1, 20), "evidence": "observed", "first_seen": T, "last_seen": T,
            "samples": 1, "observed_by": ["ssh"], "target_process": target_process,
            "loopback": client is not None and client is server, "external": client is None or server is None,
            "target_product": product, "target_category": category,
            "shared_infrastructure": category in SHARED_CATEGORIES,
        }
        return 1

    def inventory(self) -> dict:
        dependencies = sorted(self.deps.values(), key=lambda d: d["id"])
        externals: dict[str, dict] = {}
        for d in dependencies:
            for side, other in (("source", "target"), ("target", "source")):
                node = d[f"{side}_host_id"]
                if node.startswith("external:"):
                    e = externals.setdefault(node, {"id": node, "address": node.removeprefix("external:"),
                                                    "ports": set(), "peer_host_ids": set()})
                    if side == "target":
                        e["ports"].add(d["target_port"])
                    e["peer_host_ids"].add(d[f"{other}_host_id"])
        return {
            "schema": SCHEMA, "generated_at": T, "scans": [], "hosts": self.hosts,
            "services": list(self.services.values()), "software": [], "databases": self.databases,
            "connections": [], "dependencies": dependencies, "findings": [], "groups": [], "interfaces": [],
            "processes": [],
            "external_endpoints": [{**e, "ports": sorted(e["ports"]), "peer_host_ids": sorted(e["peer_host_ids"])}
                                   for _, e in sorted(externals.items())],
            "coverage": [],
        }


def main() -> int:
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    estate = generate_estate(hosts)
    clients = sum(1 for d in estate["dependencies"] if not d["source_host_id"].startswith("external:"))
    print(f"{len(estate['hosts']):,} hosts, {len(estate['services']):,} services, "
          f"{len(estate['databases']):,} databases, {len(estate['dependencies']):,} dependencies "
          f"({clients / len(estate['hosts']):.1f} per host as a client), "
          f"{len(estate['external_endpoints']):,} external peers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
