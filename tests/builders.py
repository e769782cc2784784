"""Builders of records for tests: host reports shaped like a scanner's output."""

from __future__ import annotations

import itertools
import socket
from datetime import datetime, timezone

from discovery.records.model import Connection, Database, Host, HostReport, Interface, Process, Service, Software

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
_macs = itertools.count(1)


def make_report(*, hostname="app01", address=None, mac=None, source="local", observed_at=T0,
                services=(("tcp", 5432, "postgres"),), connections=(), software=(("openssl", "3.0.11"),),
                **host_fields) -> HostReport:
    """A HostReport like a scanner's: one host with a few services, packages and connections.

    `connections` are (local_address, local_port, remote_address, remote_port, direction, process).
    """
    n = next(_macs)
    address = address or f"10.9.0.{n}"
    mac = mac if mac is not None else f"52:54:00:00:00:{n:02x}"
    host = Host(source=source, observed_at=observed_at, hostname=hostname, addresses=(address,),
                macs=(mac,) if mac else (), os_name="Debian GNU/Linux", os_family="linux", **host_fields)
    common = dict(source=source, observed_at=observed_at)
    return HostReport(
        host=host,
        interfaces=(Interface(name="eth0", mac=mac or None, addresses=(f"{address}/24",), is_up=True, **common),),
        software=tuple(Software(name=name, version=version, **common) for name, version in software),
        processes=tuple(Process(pid=100 + i, name=proc, cmdline=f"/usr/bin/{proc} --password=hunter2", **common)
                        for i, (_, _, proc) in enumerate(services)),
        services=tuple(Service(protocol=proto, port=port, address="0.0.0.0", state="listening", process=proc,
                               pid=100 + i, **common) for i, (proto, port, proc) in enumerate(services)),
        databases=tuple(Database(engine="postgresql", port=port, version="15.4", process=proc, **common)
                        for proto, port, proc in services if proc == "postgres"),
        connections=tuple(Connection(protocol="tcp", local_address=la, local_port=lp, remote_address=ra,
                                     remote_port=rp, state="ESTABLISHED", direction=d, process=p, **common)
                          for la, lp, ra, rp, d, p in connections),
        raw={"os-release": 'NAME="Debian GNU/Linux"\nPASSWORD=notreal'},
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
