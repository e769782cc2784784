"""Migration risk per host: a score from 0 to 100 with every point explained by a factor.

Factors: legacy findings, dependents and blast radius, cycles and single points of failure, data
sensitivity (databases, healthcare protocols, patient data), unknowns (sockets nobody collected,
unidentified services, an unknown OS) and the owner's criticality where annotated. Never an
unexplained number: the score is the sum of the factors' points, capped at 100.
"""

from __future__ import annotations

from collections import Counter, defaultdict

# Points per finding severity, and the cap on what legacy findings can add.
SEVERITY_POINTS = {"critical": 25, "high": 15, "medium": 7, "low": 2, "info": 0}
FINDINGS_CAP = 40
DEPENDENT_POINTS, DEPENDENT_CAP = 3, 20
BLAST_CAP = 15
CYCLE_POINTS = 10
SPOF_POINTS = 10
DATABASE_POINTS = 10
HEALTHCARE_POINTS = 15
PATIENT_DATA_POINTS = 15
COVERAGE_POINTS = 10
UNIDENTIFIED_POINTS, UNIDENTIFIED_CAP = 2, 10
UNKNOWN_OS_POINTS = 5
CRITICALITY_POINTS = {"critical": 20, "high": 15, "medium": 7, "low": 0}


def _factor(name: str, points: float, detail: str) -> dict:
    return {"factor": name, "points": points, "detail": detail}


def score_hosts(inventory: dict, findings: list[dict], analysis: dict) -> dict[str, dict]:
    """Return {host id: {"score", "factors": [{"factor", "points", "detail"}]}} for every host of the inventory.

    `findings` are finding dicts (as exported); `analysis` is discovery.analyses.analysis.AnalysisResult.to_dict():
    its `hosts` (fan_in, blast_radius, articulation_point per host) and `cycles` (host_ids) are used.
    """
    by_host = defaultdict(list)
    for finding in findings:
        if finding.get("host_id"):
            by_host[finding["host_id"]].append(finding)
    services = defaultdict(list)
    for service in inventory.get("services", []):
        services[service["host_id"]].append(service)
    databases = Counter(d["host_id"] for d in inventory.get("databases", []))
    gaps = {g["host_id"] for g in inventory.get("coverage", [])}
    metrics = {m["host_id"]: m for m in analysis.get("hosts", ())}
    fan_in = {h: m["fan_in"] for h, m in metrics.items()}
    blast = {h: m["blast_radius"] for h, m in metrics.items()}
    in_cycle = {host: len(c["host_ids"]) for c in analysis.get("cycles", ()) for host in c["host_ids"]}
    spofs = {h for h, m in metrics.items() if m["articulation_point"]}

    scores = {}
    for host in inventory.get("hosts", []):
        hid, factors = host["id"], []
        legacy = [f for f in by_host[hid] if f.get("category") == "legacy"]
        other = [f for f in by_host[hid] if f.get("category") != "legacy" and f.get("category") != "unidentified"]
        for name, group in (("legacy", legacy), ("insecure protocols", other)):
            points = min(FINDINGS_CAP, sum(SEVERITY_POINTS.get(f["severity"], 0) for f in group))
            if points:
                counts = Counter(f["severity"] for f in group)
                titles = "; ".join(sorted({f["title"] for f in group})[:3])
                factors.append(_factor(name, points, ", ".join(f"{n} {s}" for s, n in counts.most_common())
                                       + f": {titles}"))
        if fan_in.get(hid):
            factors.append(_factor("dependents", min(DEPENDENT_CAP, DEPENDENT_POINTS * fan_in[hid]),
                                   f"{fan_in[hid]} hosts depend on it directly"))
        if blast.get(hid):
            factors.append(_factor("blast radius", min(BLAST_CAP, blast[hid]),
                                   f"{blast[hid]} hosts depend on it directly or through others"))
        if hid in in_cycle:
            factors.append(_factor("cycle", CYCLE_POINTS,
                                   f"in a dependency cycle of {in_cycle[hid]} hosts: they must move together"))
        if hid in spofs:
            factors.append(_factor("single point of failure", SPOF_POINTS,
                                   "removing it splits the dependency graph"))
        if databases[hid]:
            factors.append(_factor("data", DATABASE_POINTS, f"{databases[hid]} database server(s)"))
        healthcare = [s for s in services[hid] if s.get("category") == "healthcare"]
        if healthcare:
            factors.append(_factor("healthcare", HEALTHCARE_POINTS, "clinical protocols: " + ", ".join(
                sorted({f"{s.get('name') or 'port'} {s['port']}" for s in healthcare}))))
        if host.get("patient_data") == "yes":
            factors.append(_factor("patient data", PATIENT_DATA_POINTS, "annotated as holding patient data"))
        if hid in gaps:
            factors.append(_factor("unknown", COVERAGE_POINTS, "its own connections were never collected"))
        unidentified = [f for f in by_host[hid] if f.get("category") == "unidentified"]
        if unidentified:
            factors.append(_factor("unknown", min(UNIDENTIFIED_CAP, UNIDENTIFIED_POINTS * len(unidentified)),
                                   f"{len(unidentified)} unidentified services"))
        if not host.get("os_name"):
            factors.append(_factor("unknown", UNKNOWN_OS_POINTS, "operating system not identified"))
        criticality = (host.get("criticality") or "").lower()
        if CRITICALITY_POINTS.get(criticality):
            factors.append(_factor("criticality", CRITICALITY_POINTS[criticality], f"owner rates it {criticality}"))
        scores[hid] = {"score": min(100, sum(f["points"] for f in factors)), "factors": factors}
    return scores
