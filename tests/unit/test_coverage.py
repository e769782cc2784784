"""Coverage: each host's sources and depth, the estate's shares and the ranked blind spots.

First on hand-built inventories (each level of the ladder, several sources on one host, the ranking, the hints);
then on a store filled from real sources: an nmap XML file and a collector bundle from tests/data, a public
packet capture (tests/data/captures), SNMP agents' answers through the SNMP transform, and a real scan of this
host; then what `estatemap analyze` stores and prints.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

import main
from discovery.analyses.coverage import (SOCKET_SOURCES, assess_hosts, coverage_gaps, coverage_rows, dependency_counts,
                                         depth_rank, gap_hint, host_levels, summarize_coverage)
from discovery.inventory.build import build_inventory, filter_inventory
from discovery.records.model import COVERAGE_DEPTHS, Scan
from discovery.service import run_scan
from discovery.storage.store import Store
from scanners.local_host import LocalHostScanner
from scanners.snmp_agent import transform_agent

DATA = Path(__file__).resolve().parents[1] / "data"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
V4 = (1, 4)


# --- hand-built inventories ------------------------------------------------------------------------------------

def host(host_id, **fields):
    return {"id": host_id, "hostname": host_id, "addresses": [f"10.0.0.{len(host_id)}"], **fields}


def service(host_id, port, protocol="tcp", state="open", name=None):
    return {"id": f"{host_id}:{protocol}/{port}", "host_id": host_id, "protocol": protocol, "port": port,
            "state": state, "name": name}


def dependency(source, target, port=443):
    return {"source_host_id": source, "target_host_id": target, "target_port": port, "protocol": "tcp"}


def inventory_of(hosts, *, services=(), software=(), dependencies=(), observed=None, sockets=None):
    """An inventory with each host's coverage filled in as build_inventory does."""
    inventory = {"hosts": [dict(h) for h in hosts], "services": list(services), "software": list(software),
                 "dependencies": list(dependencies)}
    observed = observed or {}
    for h in inventory["hosts"]:
        c = assess_hosts(inventory, observed, sockets or {})[h["id"]]
        h.update(coverage_depth=c["depth"], coverage_levels=c["levels"], coverage_sources=c["sources"])
    inventory["coverage_summary"] = summarize_coverage(inventory)
    return inventory


@pytest.mark.parametrize(("fields", "flags", "levels"), [
    ({}, {}, ("seen",)),
    ({}, {"ports": True}, ("seen", "ports")),
    ({"os_name": "Linux 5.0 - 5.5"}, {"ports": True}, ("seen", "ports", "os")),
    ({"os_family": "linux", "memory_bytes": 2 << 30}, {"ports": True}, ("seen", "ports", "os", "hardware")),
    ({"os_family": "windows", "cpu_model": "Xeon"}, {"ports": True, "software": True},
     ("seen", "ports", "os", "hardware", "software")),
    ({"os_family": "linux", "serial": "ABC"}, {"ports": True, "software": True, "sockets": True},
     COVERAGE_DEPTHS),
    # not contiguous: an SNMP switch whose TCP-MIB answered, but no packages
    ({"os_name": "Cisco IOS"}, {"sockets": True}, ("seen", "os", "sockets")),
    # a maker from a MAC prefix, a model announced over LLDP: not a hardware inventory
    ({"vendor": "GE HealthCare", "model": "WS-C2960", "mac_vendor": "GE Healthcare"}, {}, ("seen",)),
])
def test_host_levels_each_depth(fields, flags, levels):
    found = host_levels(host("h", **fields), **{"ports": False, "software": False, "sockets": False, **flags})
    assert found == tuple(levels)


def test_assess_hosts_reads_ports_software_and_sockets_from_the_inventory():
    inventory = {"hosts": [host("closed"), host("web"), host("srv", os_family="linux"), host("sw")],
                 "services": [service("closed", 22, state="closed"), service("closed", 25, state="filtered"),
                              service("web", 80), service("srv", 22, state="listening")],
                 "software": [{"host_id": "srv", "name": "openssl"}]}
    found = assess_hosts(inventory, {"web": {"passive", "nmap"}, "srv": {"ssh", "nmap"}}, {"srv": {"ssh"}})
    assert found["closed"] == {"depth": "seen", "levels": ["seen"], "sources": []}  # every port closed: seen
    assert found["web"] == {"depth": "ports", "levels": ["seen", "ports"], "sources": ["nmap", "passive"]}
    assert found["srv"] == {"depth": "sockets", "levels": ["seen", "ports", "os", "software", "sockets"],
                            "sources": ["nmap", "ssh"]}


def test_several_sources_on_one_host_give_the_deepest_level_any_reached():
    inventory = inventory_of([host("pacs", os_name="Linux 5.0 - 5.5")], services=[service("pacs", 104)],
                             observed={"pacs": {"nmap", "passive", "snmp"}}, sockets={"pacs": {"snmp"}})
    (pacs,) = inventory["hosts"]
    assert pacs["coverage_sources"] == ["nmap", "passive", "snmp"]
    assert pacs["coverage_depth"] == "sockets" and pacs["coverage_levels"] == ["seen", "ports", "os", "sockets"]
    assert inventory["coverage_summary"]["blind_spots"] == []
    assert SOCKET_SOURCES == {"local", "ssh", "bundle"}  # snmp counts only when its rows show the sockets


def test_blind_spots_ranked_by_dependencies_touching_them_then_shallowest_first():
    hosts = [host("app", os_family="linux"), host("db", os_family="linux"), host("pacs"), host("idle"),
             host("scanned", os_family="linux"), host("web")]
    deps = [dependency("app", "db", 5432), dependency("web", "db", 5432), dependency("app", "pacs", 104),
            dependency("db", "db", 5432),  # on itself: not counted
            dependency("external:192.0.2.7", "db", 5432), dependency("web", "app", 8080),
            dependency("scanned", "app", 8080)]
    inventory = inventory_of(hosts, services=[service("db", 5432), service("scanned", 22), service("web", 443)],
                             dependencies=deps, observed={"app": {"local"}, "db": {"nmap"}, "scanned": {"nmap"},
                                                          "pacs": {"passive"}, "web": {"nmap"}},
                             sockets={"app": {"local"}})
    spots = inventory["coverage_summary"]["blind_spots"]
    # db: app, web and an external peer (its dependency on itself is not counted); pacs and scanned tie at one,
    # pacs (seen) before scanned (os); idle: nothing touches it
    assert [(s["host_id"], s["dependencies"], s["depth"]) for s in spots] == [
        ("db", 3, "os"), ("web", 2, "ports"), ("pacs", 1, "seen"), ("scanned", 1, "os"), ("idle", 0, "seen")]
    assert set(spots[0]) == {"host_id", "hostname", "address", "depth", "sources", "dependencies", "hint"}
    assert spots[0]["address"] == "10.0.0.2"
    assert dependency_counts(deps)["app"] == 4 and "external:192.0.2.7" in dependency_counts(deps)


def test_summary_counts_every_depth_and_the_shares():
    hosts = [host("a", os_family="linux"), host("b"), host("c", os_family="linux", memory_bytes=1),
             host("d")]
    inventory = inventory_of(hosts, services=[service("b", 80), service("c", 22)],
                             software=[{"host_id": "c", "name": "bash"}, {"host_id": "d", "name": "x"}],
                             observed={"a": {"local"}, "b": {"nmap"}, "c": {"nmap", "snmp"}, "d": {"snmp"}},
                             sockets={"a": {"local"}})
    summary = inventory["coverage_summary"]
    assert list(summary["by_depth"]) == list(COVERAGE_DEPTHS)
    assert summary["by_depth"] == {"seen": 0, "ports": 1, "os": 0, "hardware": 0, "software": 2, "sockets": 1}
    assert summary["hosts"] == 4 and summary["deep_hosts"] == 3 and summary["deep_share"] == 0.75
    assert summary["sockets_hosts"] == 1 and summary["sockets_share"] == 0.25
    assert summary["by_source"] == {"nmap": 2, "snmp": 2, "local": 1}
    assert [s["host_id"] for s in summary["blind_spots"]] == ["b", "c", "d"]
    json.dumps(summary)


def test_summary_of_an_empty_inventory_has_no_shares():
    summary = summarize_coverage({"hosts": []})
    assert summary["hosts"] == 0 and summary["deep_share"] is None and summary["sockets_share"] is None
    assert summary["blind_spots"] == [] and set(summary["by_depth"].values()) == {0}


@pytest.mark.parametrize(("fields", "services", "sources", "expected"), [
    ({"os_family": "linux"}, [service("h", 22)], ["nmap"], "estatemap scan ssh 10.0.0.1:"),
    ({}, [service("h", 2222, name="ssh")], ["passive"], "estatemap scan ssh 10.0.0.1:"),
    ({"os_family": "windows"}, [service("h", 22)], ["nmap"], "run estatemap collect on it"),
    ({}, [service("h", 3389)], ["nmap"], "run estatemap collect on it"),
    ({}, [service("h", 161, "udp")], ["snmp"], "its SNMP agent answered without TCP-MIB"),
    ({}, [service("h", 161, "udp")], ["nmap"], "estatemap scan snmp 10.0.0.1:"),
    ({}, [service("h", 80)], ["passive"], "estatemap scan network 10.0.0.1 first"),
    ({"mac_vendor": "GE Healthcare Finland Oy"}, [], ["passive"], "a medical device (by its MAC's maker)"),
    ({}, [service("h", 104)], ["nmap"], "watch its traffic with estatemap scan passive"),
    ({}, [service("h", 22, state="closed")], ["nmap"], "watch its traffic with estatemap scan passive"),
    ({"status_reason": "vcenter: poweredOff", "os_family": "linux"}, [service("h", 22)], ["vcenter", "nmap"],
     "powered off in vCenter"),
    ({"os_family": "esxi"}, [service("h", 22)], ["vcenter"], "an ESXi host: scan vcenter reads its inventory"),
    ({"status_reason": "vcenter: poweredOn", "os_family": "linux"}, [service("h", 22)], ["vcenter", "nmap"],
     "estatemap scan ssh 10.0.0.1:"),
])
def test_gap_hint_names_the_scan_that_would_read_its_sockets(fields, services, sources, expected):
    assert gap_hint(host("h", **fields), services, sources).startswith(expected)


def test_gap_hint_without_an_address_names_a_placeholder():
    assert "scan ssh ADDRESS" in gap_hint({"id": "h", "addresses": ["not an address"]}, [service("h", 22)], [])


def test_top_level_coverage_keeps_its_shape_and_names_the_blind_spots():
    inventory = inventory_of([host("app"), host("db")], services=[service("db", 22)],
                             observed={"app": {"ssh"}, "db": {"nmap"}}, sockets={"app": {"ssh"}})
    assert coverage_gaps(inventory) == [{"host_id": "db", "hostname": "db", "gap": "no sockets collected",
                                         "sources": ["nmap"], "hint": inventory["coverage_summary"]["blind_spots"][0][
                                             "hint"]}]
    assert coverage_gaps(inventory)[0]["hint"].startswith("estatemap scan ssh")


def test_coverage_rows_list_every_host_blind_spots_first():
    inventory = inventory_of([host("a"), host("b"), host("c")], dependencies=[dependency("a", "b"),
                                                                             dependency("c", "a")],
                             observed={"a": {"local"}, "b": {"nmap"}, "c": {"local"}},
                             sockets={"a": {"local"}, "c": {"local"}})
    rows = coverage_rows(inventory)
    assert [(r["host_id"], r["blind_spot"], r["dependencies"]) for r in rows] == [
        ("b", True, 1), ("a", False, 2), ("c", False, 1)]
    assert rows[0]["hint"] and rows[1]["hint"] is None


def test_filter_inventory_recomputes_the_summary_for_the_hosts_kept():
    inventory = inventory_of([host("app01"), host("db01")], observed={"app01": {"local"}, "db01": {"nmap"}},
                             sockets={"app01": {"local"}})
    inventory.update(connections=[], coverage=coverage_gaps(inventory))
    cut = filter_inventory(inventory, hosts_pattern="app*")
    assert cut["coverage_summary"]["hosts"] == 1 and cut["coverage_summary"]["sockets_share"] == 1.0
    assert cut["coverage"] == [] and inventory["coverage_summary"]["hosts"] == 2


def test_depth_rank_orders_the_ladder():
    assert [depth_rank(d) for d in COVERAGE_DEPTHS] == list(range(len(COVERAGE_DEPTHS)))
    assert depth_rank(None) == depth_rank("deep") == -1


# --- a store built from real sources -----------------------------------------------------------------------------

def snmp_facts(descr: bytes, **columns):
    return {"credential": "v2c community", "system": {"descr": descr, "name": None, "uptime": 360_000},
            "warnings": [], "columns": {k: [(tuple(i), v) for i, v in rows] for k, rows in columns.items()}}


def import_file(db: Path, path: Path) -> None:
    assert main.main(["--db", str(db), "-q", "import", str(path)]) == 0


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    """A store filled from five kinds of source; returns (store path, inventory, host rows by first address)."""
    db = tmp_path_factory.mktemp("coverage") / "estate.db"
    import_file(db, DATA / "nmap" / "segment-handmade.xml")      # pacs01 192.0.2.2, from outside
    import_file(db, DATA / "bundles" / "version1-app01.json")    # app01 10.20.0.15, collected on the host
    import_file(db, DATA / "captures" / "zeek-http-get.pcap")    # 141.142.228.5 -> 192.150.187.43:80 on the wire
    with Store(db) as store:
        scan = store.start_scan(Scan(kind="snmp", started_at=T0, targets=("192.0.2.2", "192.0.2.9")))
        # pacs01's agent: TCP-MIB lists the DICOM listener and the capture's client connected to it
        store.write_host_report(scan, transform_agent(snmp_facts(
            b"Linux pacs01 6.1.0-18-amd64 #1 SMP Debian 6.1.76-1 x86_64",
            tcp_listen_pid=[((*V4, 0, 0, 0, 0, 11112), 0)],
            tcp_conn_state=[((*V4, 192, 0, 2, 2, 11112, *V4, 141, 142, 228, 5, 51000), 5)]), "192.0.2.2", T0))
        # a printer's agent: the system group only, no TCP-MIB
        store.write_host_report(scan, transform_agent(snmp_facts(b"HP ETHERNET MULTI-ENVIRONMENT"), "192.0.2.9", T0))
        store.finish_scan(scan, "completed")
        result = run_scan(store, LocalHostScanner())                  # this machine, for real
        assert result.status == "completed", result.error
        local_id = result.host_ids[0]
        inventory = build_inventory(store)
    # by address, leaving this machine out: it may hold any address (the test network's hosts hold 192.0.2.2)
    by_address = {h["addresses"][0]: h for h in inventory["hosts"] if h["id"] != local_id}
    by_address["this host"] = next(h for h in inventory["hosts"] if h["id"] == local_id)
    return db, inventory, by_address


def test_store_from_several_sources_gives_each_host_its_sources_and_depth(estate):
    _, inventory, hosts = estate
    found = {a: (hosts[a]["coverage_sources"], hosts[a]["coverage_depth"]) for a in (
        "192.0.2.2", "10.20.0.15", "141.142.228.5", "192.150.187.43", "192.0.2.9", "this host")}
    assert found == {
        "192.0.2.2": (["nmap", "snmp"], "sockets"),       # nmap from outside, SNMP's TCP-MIB from the host
        "10.20.0.15": (["bundle"], "sockets"),            # the collector read everything
        "141.142.228.5": (["passive"], "seen"),           # a client on the wire: no port of its own
        "192.150.187.43": (["passive"], "ports"),         # port 80 answered on the wire: not its sockets
        "192.0.2.9": (["snmp"], "ports"),                 # the agent itself (udp/161), nothing more
        "this host": (["local"], "sockets"),
    }
    assert hosts["10.20.0.15"]["coverage_levels"] == list(COVERAGE_DEPTHS)
    assert hosts["192.0.2.2"]["coverage_levels"] == ["seen", "ports", "os", "sockets"]  # no packages, no hardware


def test_store_from_several_sources_ranks_its_blind_spots(estate):
    _, inventory, hosts = estate
    summary = inventory["coverage_summary"]
    spots = summary["blind_spots"]
    assert [s["host_id"] for s in spots] == [hosts[a]["id"] for a in ("141.142.228.5", "192.150.187.43",
                                                                     "192.0.2.9")]
    assert [s["dependencies"] for s in spots] == [2, 1, 0]  # the client: on the web server and on pacs01's DICOM
    assert spots[0]["hint"].startswith("estatemap scan network 141.142.228.5 first")
    assert spots[2]["hint"].startswith("its SNMP agent answered without TCP-MIB")
    assert summary["hosts"] == len(inventory["hosts"]) == 6
    assert summary["sockets_hosts"] == 3 and summary["sockets_share"] == 0.5
    assert summary["deep_hosts"] == 3 and summary["deep_share"] == 0.5
    assert summary["by_depth"] == {"seen": 1, "ports": 2, "os": 0, "hardware": 0, "software": 0, "sockets": 3}
    assert {g["host_id"] for g in inventory["coverage"]} == {s["host_id"] for s in spots}


def test_analyze_stores_the_coverage_and_prints_it(estate, capsys):
    db, inventory, hosts = estate
    capsys.readouterr()
    assert main.main(["--db", str(db), "analyze", "--as-of", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert ("Coverage: 3 of 6 hosts inventoried deeply (50%), sockets read on 3 (50%); 3 blind spots, most "
            "depended on: 141.142.228.5 (2 dependencies), 192.150.187.43 (1 dependency).\n") in out
    with Store(db) as store:
        stored = store.latest_analysis()["summary"]["coverage"]
        exported = build_inventory(store)
    assert stored["by_depth"] == inventory["coverage_summary"]["by_depth"]
    assert [s["host_id"] for s in stored["blind_spots"]] == [s["host_id"] for s in
                                                             inventory["coverage_summary"]["blind_spots"]]
    assert exported["analysis"]["coverage"] == stored

