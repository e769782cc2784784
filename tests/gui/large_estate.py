"""A 55-host estate with long domain names, for the graph's readability tests and the 55-host screenshot."""

from __future__ import annotations

import itertools

from discovery.records.model import Scan
from discovery.service import analyze
from discovery.storage.store import Store
from tests.builders import T0, make_report
from tests.gui.conftest import AS_OF


def fill_large_estate(store: Store, *, connected: bool = True) -> dict[str, str]:
    """Write 55 hosts with long domain names (5 web → app → db chains when `connected`, 40 workstations that
    talk to nobody), analyse, and return host ids by hostname."""
    scan = store.start_scan(Scan(kind="host", started_at=T0))
    reports, address = {}, itertools.count(10)
    for system in range(5):
        web, app, db = (f"10.30.{system}.{next(address)}" for _ in range(3))
        names = [f"{role}-{system:02d}.clinical-systems.hospital.example" for role in ("web", "ehr-app", "db")]
        reports[names[0]] = make_report(hostname=names[0], address=web, services=(("tcp", 443, "nginx"),),
                                        connections=((web, 40001, app, 8080, "outbound", "nginx"),) if connected
                                        else ())
        reports[names[1]] = make_report(hostname=names[1], address=app, services=(("tcp", 8080, "java"),),
                                        connections=((app, 41001, db, 5432, "outbound", "java"),) if connected
                                        else ())
        reports[names[2]] = make_report(hostname=names[2], address=db, services=(("tcp", 5432, "postgres"),))
    for i in range(40):
        name = f"ward{i:02d}-clinical-workstation.clinical-systems.hospital.example"
        reports[name] = make_report(hostname=name, address=f"10.31.{i // 200}.{i + 10}",
                                    services=(("tcp", 22, "sshd"),))
    ids = {name: store.write_host_report(scan, report)[0] for name, report in reports.items()}
    store.finish_scan(scan, "completed")
    analyze(store, as_of=AS_OF)
    return ids
