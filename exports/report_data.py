"""The assessment report's content: every figure, sentence, table and chart it shows, from the JSON export's
inventory (discovery.inventory.build). Pure: no markup, no files; exports/report.py renders what this returns.

Numbers are counted the way the JSON export holds them, so the report and the export never disagree: hosts are
`hosts`, findings per severity count `findings`, legacy hosts are those whose `legacy` is true, move groups
are `groups`. Keys that a newer `analyze` adds (per-host `coverage_depth`, `coverage_summary`, `wave_plan`,
groups' `wave_reasons`) are used when present; without them the section says they are not computed yet.
"""

from __future__ import annotations

import shlex
from collections import Counter, defaultdict
from datetime import datetime

from discovery.inventory.build import LEGACY_RULES
from discovery.records.model import SEVERITIES, SEVERITY_COLOURS, counted
from exports.report_charts import bar_chart, clip, layered_map, wave_timeline

NOT_COMPUTED = "not computed yet — run estatemap analyze"
# Rules of discovery/data/protocols.json that flag a clinical protocol; the first three mean patient data
# crosses the network in clear text (tests/unit/test_report.py checks that protocols.json still has them).
CLEARTEXT_CLINICAL_RULES = ("dicom-cleartext", "hl7-cleartext", "fhir-cleartext")
CLINICAL_RULES = (*CLEARTEXT_CLINICAL_RULES, "dicom-default-ae")
CLINICAL_PORTS = {104: "DICOM", 11112: "DICOM", 2761: "DICOM", 2762: "DICOM", 2575: "HL7", 6661: "HL7"}
OS_COLOURS = {"linux": "#4E79A7", "windows": "#F28E2B", "macos": "#76B7B2", "bsd": "#59A14F", "unknown": "#BAB0AC"}
OTHER_COLOUR = "#B07AA1"
DEPTH_COLOURS = ("#D7E3F4", "#B3CDE8", "#8AB3DB", "#5E95CB", "#3573B5", "#1B4F8E", "#0B2F5E")
TOP_RISK = 10
MAX_WARNINGS = 30
MAX_NAMES = 6


def build_report(inventory: dict) -> dict:
    """Return the report's sections built from `inventory` (the JSON export's dict)."""
    hosts = inventory.get("hosts") or []
    names = {h["id"]: h.get("hostname") or next(iter(h.get("addresses") or ()), None) or h["id"] for h in hosts}
    figures = _figures(inventory)
    report = {
        "title": "Estate assessment",
        "generated_at": _day_time(inventory.get("generated_at")),
        "analysis": ({**inventory["analysis"], "created_at": _day_time(inventory["analysis"].get("created_at"))}
                     if inventory.get("analysis") else None),
        "figures": figures,
        "glance": _glance(inventory, names),
        "coverage": _coverage(inventory, names),
        "legacy": _legacy(inventory, names),
        "healthcare": _healthcare(inventory, names),
        "waves": _waves(inventory, names),
        "method": _method(inventory),
    }
    report["clinical_map"] = _clinical_map(inventory, names, report["healthcare"])
    report["summary"] = _summary(report)
    return report


# --- figures ------------------------------------------------------------------------------------------

def _figures(inventory: dict) -> dict:
    hosts, findings = inventory.get("hosts") or [], inventory.get("findings") or []
    by_severity = Counter(f.get("severity") for f in findings)
    return {"hosts": len(hosts), "services": len(inventory.get("services") or []),
            "dependencies": len(inventory.get("dependencies") or []), "findings": len(findings),
            "findings_by_severity": {s: by_severity.get(s, 0) for s in SEVERITIES},
            "legacy_hosts": sum(1 for h in hosts if h.get("legacy") is True),
            "groups": len(inventory.get("groups") or []), "waves": len(_wave_list(inventory)),
            "scans": len(inventory.get("scans") or [])}


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


# --- estate at a glance ---------------------------------------------------------------------------------

def _glance(inventory: dict, names: dict) -> dict:
    hosts = inventory.get("hosts") or []
    families = Counter((h.get("os_family") or "unknown") for h in hosts)
    os_items = [(family, n, OS_COLOURS.get(family, OTHER_COLOUR)) for family, n in families.most_common()]
    by_severity = _figures(inventory)["findings_by_severity"]
    severity_items = [(s, by_severity[s], SEVERITY_COLOURS[s][0]) for s in SEVERITIES]
    categories = Counter(s.get("category") or "other" for s in inventory.get("services") or [])
    ranked = sorted((h for h in hosts if h.get("risk_score") is not None),
                    key=lambda h: (-h["risk_score"], names[h["id"]]))[:TOP_RISK]
    top_risk = [{"host": names[h["id"]], "score": h["risk_score"], "legacy": h.get("legacy"),
                 "factors": [f"{f.get('factor')} ({f.get('points')})" for f in
                             sorted(h.get("risk_factors") or [], key=lambda f: -(f.get("points") or 0))[:3]]}
                for h in ranked]
    analysis = inventory.get("analysis") or {}
    spofs = [{"host": names.get(s.get("host_id"), s.get("label")), "reasons": s.get("reasons") or []}
             for s in analysis.get("single_points_of_failure") or []][:TOP_RISK]
    return {"os_chart": bar_chart(os_items, width=330, label_width=80) if os_items else None,
            "severity_chart": bar_chart(severity_items, width=330, label_width=80) if sum(by_severity.values()) else None,
            "categories": categories.most_common(), "top_risk": top_risk, "single_points_of_failure": spofs,
            "external_peers": len(inventory.get("external_endpoints") or [])}


# --- coverage -------------------------------------------------------------------------------------------

def _coverage(inventory: dict, names: dict) -> dict:
    summary = inventory.get("coverage_summary")
    hosts = inventory.get("hosts") or []
    gaps = [{"host": names.get(g["host_id"], g.get("hostname")), "sources": g.get("sources") or [],
             "hint": g.get("hint")} for g in inventory.get("coverage") or [] if isinstance(g, dict) and "host_id" in g]
    if not summary:
        return {"computed": False, "socket_gaps": gaps, "hosts": len(hosts)}
    by_depth = summary.get("by_depth") or {}
    if isinstance(by_depth, list):  # [{"depth", "hosts"}] as well as {depth: hosts}
        by_depth = {d.get("depth"): d.get("hosts", 0) for d in by_depth}
    items = [(str(depth), n, DEPTH_COLOURS[min(i, len(DEPTH_COLOURS) - 1)]) for i, (depth, n) in enumerate(by_depth.items())]
    blind = [{"host": names.get(b.get("host_id"), b.get("hostname") or b.get("host_id")), "depth": b.get("depth"),
              "sources": b.get("sources") or [], "dependencies": b.get("dependencies"), "hint": b.get("hint")}
             for b in summary.get("blind_spots") or []]
    return {"computed": True, "hosts": summary.get("hosts", len(hosts)), "depth_chart": bar_chart(items) if items else None,
            "deep_share": _percent(summary.get("deep_share")), "sockets_share": _percent(summary.get("sockets_share")),
            "blind_spots": blind, "socket_gaps": gaps}


def _percent(value) -> str | None:
    """Return a share (0..1) as "42%"; None when missing."""
    return None if value is None else f"{float(value) * 100:.0f}%"


# --- legacy ---------------------------------------------------------------------------------------------

# A system past end of support on no inventory host (a vCenter: discovery.analyses.legacy): listed under its name.
PLATFORM_LEGACY_RULES = {"platform-eol"}


def _legacy(inventory: dict, names: dict) -> dict:
    rows = []
    platforms = {o.get("id"): o.get("name") for o in inventory.get("platform_objects") or ()}
    for f in inventory.get("findings") or []:
        if f.get("rule") not in LEGACY_RULES | PLATFORM_LEGACY_RULES:
            continue
        data = f.get("data") or {}
        end = data.get("eol") or data.get("oldest_tracked_eol")
        host = (names.get(f.get("host_id"), f.get("host_id")) if f.get("host_id")
                else platforms.get(f.get("subject_id")) or f.get("subject_id"))
        rows.append({"host": host, "severity": f.get("severity"),
                     "what": data.get("product_title") or data.get("product") or f.get("title"),
                     "release": data.get("cycle") or data.get("version"), "status": data.get("status"),
                     "end": end, "end_is_bound": bool(data.get("eol_is_upper_bound") or data.get("oldest_tracked")),
                     "days_past": data.get("days_past"), "days_left": data.get("days_left"),
                     "extended": data.get("extended_support_until"), "title": f.get("title"),
                     "recommendation": f.get("recommendation")})
    rows.sort(key=lambda r: (r["end"] or "9999", r["host"] or "", r["what"] or ""))
    years = Counter(r["end"][:4] for r in rows if r["end"])
    year_items = [(year, n, "#8C6D31") for year, n in sorted(years.items())]
    ended = [r for r in rows if r["status"] == "eol"]
    return {"rows": rows, "hosts": _figures(inventory)["legacy_hosts"], "ended": len(ended),
            "earliest": ended[0] if ended else None, "year_chart": bar_chart(year_items, label_width=80) if year_items else None}


# --- healthcare -----------------------------------------------------------------------------------------

def _clinical_protocol(service: dict, rules: set[str]) -> str:
    """Return DICOM, HL7, FHIR or "clinical" for a healthcare service, from its findings, name or port."""
    for rule in sorted(rules):
        for name in ("dicom", "hl7", "fhir"):
            if rule.startswith(name):
                return name.upper()
    name = (service.get("name") or "").lower()
    if "dicom" in name or "acr-nema" in name:
        return "DICOM"
    if "hl7" in name:
        return "HL7"
    if "fhir" in name or "fhir" in (service.get("product") or "").lower():
        return "FHIR"
    return CLINICAL_PORTS.get(service.get("port"), "clinical")


def _healthcare(inventory: dict, names: dict) -> dict:
    findings = [f for f in inventory.get("findings") or [] if f.get("rule") in CLINICAL_RULES]
    rules_on = defaultdict(set)
    for f in findings:
        rules_on[f.get("subject_id")].add(f["rule"])
    clients = defaultdict(list)
    for d in inventory.get("dependencies") or []:
        clients[d.get("target_service_id")].append(d)
    services = []
    for s in inventory.get("services") or []:
        if s.get("category") != "healthcare" and s["id"] not in rules_on:
            continue
        rules = rules_on.get(s["id"], set())
        services.append({"id": s["id"], "host_id": s.get("host_id"), "host": names.get(s.get("host_id"), s.get("host_id")),
                         "port": s.get("port"), "protocol": s.get("protocol"),
                         "clinical": _clinical_protocol(s, rules), "product": " ".join(
                             p for p in (s.get("product"), s.get("version")) if p) or s.get("name"),
                         "cleartext": bool(rules & set(CLEARTEXT_CLINICAL_RULES)),
                         "clients": len({d.get("source_host_id") or d.get("source_process") for d in clients[s["id"]]})})
    services.sort(key=lambda s: (not s["cleartext"], s["host"] or "", s["port"] or 0))
    by_id = {s["id"]: s for s in services}
    paths = []
    for f in findings:
        if f["rule"] not in CLEARTEXT_CLINICAL_RULES:
            continue
        service = by_id.get(f.get("subject_id"), {})
        server = f"{names.get(f.get('host_id'), f.get('host_id'))}:{service.get('port', '?')}"
        for d in clients.get(f.get("subject_id")) or [{}]:
            paths.append({"client": names.get(d.get("source_host_id")) or d.get("source_process") or "unknown clients",
                          "process": d.get("source_process"), "server": server,
                          "protocol": service.get("clinical") or f["rule"].split("-")[0].upper(),
                          "evidence": d.get("evidence") or "no client seen", "connections": d.get("connections"),
                          "severity": f.get("severity"), "confidence": f.get("confidence")})
    paths.sort(key=lambda p: (SEVERITIES.index(p["severity"]) if p["severity"] in SEVERITIES else 9, p["server"], p["client"]))
    rows = [{"host": names.get(f.get("host_id"), f.get("host_id")), "rule": f["rule"], "severity": f.get("severity"),
             "title": f.get("title"), "evidence": f.get("evidence"), "recommendation": f.get("recommendation")}
            for f in findings]
    rows.sort(key=lambda r: (SEVERITIES.index(r["severity"]) if r["severity"] in SEVERITIES else 9, r["host"] or ""))
    return {"services": services, "findings": rows, "paths": paths,
            "hosts": len({s["host_id"] for s in services}), "cleartext_services": sum(s["cleartext"] for s in services)}


def _clinical_map(inventory: dict, names: dict, healthcare: dict) -> dict | None:
    """Return the clinical chain's layered drawing: hosts serving DICOM, HL7 or FHIR, the hosts that call them,
    and what those servers call in turn (shared infrastructure left out); None without a clinical service."""
    servers = {s["id"]: s for s in healthcare["services"]}
    if not servers:
        return None
    server_hosts = {s["host_id"] for s in servers.values()}
    nodes: dict[str, dict] = {}
    edges: dict[tuple, dict] = {}

    def node(host_id: str, kind: str) -> None:
        entry = nodes.setdefault(host_id, {"label": names.get(host_id, host_id), "kind": kind, "rank": 0})
        if kind == "server":
            entry["kind"] = "server"
        entry["rank"] += 1

    for host_id in server_hosts:
        node(host_id, "server")
        nodes[host_id]["rank"] += 1000  # servers are kept first when the map is cut
    for d in inventory.get("dependencies") or []:
        source, target = d.get("source_host_id"), d.get("target_host_id")
        if not source or not target or source == target:
            continue
        service = servers.get(d.get("target_service_id"))
        if service is None and not (source in server_hosts and not d.get("shared_infrastructure")):
            continue
        node(source, "server" if source in server_hosts else "client")
        node(target, "server" if target in server_hosts else "backend")
        label = f"{service['clinical']} {service['port']}" if service else f"{d.get('protocol')}/{d.get('target_port')}"
        key = (source, target, label)
        edges[key] = {"source": source, "target": target, "label": label,
                      "cleartext": bool(service and service["cleartext"])}
    return layered_map(nodes, list(edges.values()))


# --- move groups and waves ------------------------------------------------------------------------------

def _wave_list(inventory: dict) -> list[dict]:
    """Return the waves as [{"wave", "group_ids", "host_ids", "reasons"}]: the wave plan's when analyze made one,
    else the analysis's waves with the architects' pinned waves applied."""
    plan = inventory.get("wave_plan")
    if plan and plan.get("waves") is not None:
        return [{"wave": w.get("wave"), "group_ids": w.get("group_ids") or [],
                 "host_ids": w.get("hosts") if isinstance(w.get("hosts"), list) else None,
                 "host_count": w.get("hosts") if isinstance(w.get("hosts"), int) else None,
                 "tier": w.get("tier"), "remediation": w.get("remediation") or [],
                 "reasons": w.get("reasons") or []} for w in plan["waves"]]
    analysis = inventory.get("analysis") or {}
    groups = inventory.get("groups") or []
    if not analysis.get("waves") and not groups:
        return []
    waves: dict[int, dict] = {}
    for w in analysis.get("waves") or []:
        waves[w["number"]] = {"wave": w["number"], "group_ids": [], "host_ids": [], "host_count": None,
                              "tier": None, "remediation": [], "reasons": [w["note"]] if w.get("note") else []}
        if not w.get("group_ids"):  # shared infrastructure: hosts, no group
            waves[w["number"]]["host_ids"] = list(w.get("host_ids") or [])
    for g in groups:
        number = g.get("wave_override") if g.get("wave_override") is not None else g.get("wave")
        wave = waves.setdefault(number, {"wave": number, "group_ids": [], "host_ids": [], "host_count": None,
                                         "tier": None, "remediation": [], "reasons": []})
        wave["group_ids"].append(g["id"])
        wave["host_ids"] += g.get("host_ids") or []
    return [waves[n] for n in sorted(waves, key=lambda n: (n is None, n))]


def _waves(inventory: dict, names: dict) -> dict:
    groups = inventory.get("groups") or []
    by_id = {g["id"]: g for g in groups}
    plan = inventory.get("wave_plan")
    rows = []
    for g in sorted(groups, key=lambda g: (_effective_wave(g) is None, _effective_wave(g) or 0, g.get("name") or "")):
        members = [names.get(h, h) for h in g.get("host_ids") or []]
        rows.append({"id": g["id"], "name": g.get("name") or g["id"], "wave": _effective_wave(g),
                     "pinned": g.get("wave_override") is not None, "hosts": len(members),
                     "members": members[:MAX_NAMES], "more": max(0, len(members) - MAX_NAMES),
                     "reasons": list(g.get("wave_reasons") or []), "explanation": g.get("explanation")})
    timeline_waves = []
    for w in _wave_list(inventory):
        wave_groups = [{"name": by_id[i].get("name") or i, "hosts": len(by_id[i].get("host_ids") or [])}
                       for i in w["group_ids"] if i in by_id]
        hosts = w["host_count"] if w["host_count"] is not None else len(set(w["host_ids"] or []))
        group_count = len(wave_groups)
        remediation = [names.get(h, h) for h in w["remediation"]]
        if not wave_groups and hosts:
            wave_groups = [{"name": "shared infrastructure", "hosts": hosts}]
        if remediation:
            wave_groups.append({"name": "remediation: " + ", ".join(remediation), "hosts": len(remediation)})
        label = f"Wave {w['wave']}" + (f" · {w['tier']}" if w["tier"] else "")
        timeline_waves.append({"wave": w["wave"], "label": label, "hosts": hosts, "groups": wave_groups,
                               "group_count": group_count, "reasons": w["reasons"], "remediation": remediation})
    return {"groups": rows, "waves": timeline_waves, "timeline": wave_timeline(timeline_waves) if timeline_waves else None,
            "planned": bool(plan), "rules": _rules(plan.get("rules")) if plan else [],
            "warnings": [str(w) if not isinstance(w, dict) else w.get("message") or w.get("text") or str(w)
                         for w in (plan.get("warnings") or [])] if plan else []}


def _effective_wave(group: dict):
    return group.get("wave_override") if group.get("wave_override") is not None else group.get("wave")


def _rules(rules) -> list[tuple[str, str]]:
    """Return the planner's rules as (name, setting) pairs, whatever shape analyze stored them in."""
    if isinstance(rules, dict):
        return [(str(k).replace("_", " "), _setting(v)) for k, v in rules.items()]
    if isinstance(rules, list):
        return [(str(r.get("name") or r.get("rule") or r.get("id") or "rule"), _setting(r.get("value", r.get("description"))))
                if isinstance(r, dict) else (str(r), "") for r in rules]
    return []


def _setting(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


# --- method and limits ----------------------------------------------------------------------------------

def _method(inventory: dict) -> dict:
    scans = inventory.get("scans") or []
    rows, excluded, warnings = [], [], []
    for s in scans:
        arguments = s.get("arguments") or ""
        rows.append({"id": s.get("id"), "kind": s.get("kind"), "status": s.get("status"),
                     "started": _day_time(s.get("started_at")), "finished": _day_time(s.get("finished_at")),
                     "hosts": s.get("host_count"), "targets": " ".join(s.get("targets") or []),
                     "arguments": arguments, "warnings": len(s.get("warnings") or [])})
        excluded += [(s.get("id"), x) for x in _excluded(arguments)]
        warnings += [(s.get("id"), w) for w in s.get("warnings") or []]
    kinds = Counter(s.get("kind") for s in scans)
    evidence = Counter(d.get("evidence") or "unknown" for d in inventory.get("dependencies") or [])
    hosts = inventory.get("hosts") or []
    outside_only = sum(1 for h in hosts if set(h.get("sources") or ()) <= {"nmap"} and h.get("sources"))
    started = sorted(s["started_at"] for s in scans if s.get("started_at"))
    finished = sorted(s["finished_at"] for s in scans if s.get("finished_at"))
    unfinished = [s for s in scans if s.get("status") in ("interrupted", "failed")]
    return {"scans": rows, "kinds": kinds.most_common(), "first": _day_time(started[0]) if started else None,
            "last": _day_time(finished[-1]) if finished else None, "excluded": excluded,
            "warnings": warnings[:MAX_WARNINGS], "more_warnings": max(0, len(warnings) - MAX_WARNINGS),
            "evidence": evidence.most_common(), "outside_only": outside_only, "unfinished": len(unfinished),
            "external_peers": len(inventory.get("external_endpoints") or [])}


def _excluded(arguments: str) -> list[str]:
    """Return the targets a scan's arguments excluded: nmap's --exclude A,B (one word; a network scan's runs are
    joined by " ; "), and our own kinds' --exclude A B ... (every word up to the next option)."""
    found = []
    for part in arguments.split(" ; "):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        nmap = bool(words) and words[0].rsplit("/", 1)[-1] == "nmap"
        taking = 0
        for word in words:
            if word.startswith("--exclude="):
                found += [x for x in word.split("=", 1)[1].split(",") if x]
                taking = 0
            elif word in ("--exclude", "--excludefile"):
                taking = 1 if nmap else -1  # -1: until the next option
            elif taking and not word.startswith("-"):
                found += [x for x in word.split(",") if x]
                taking -= 1 if taking > 0 else 0
            else:
                taking = 0
    return list(dict.fromkeys(found))


def _day_time(text) -> str | None:
    """Return an ISO timestamp as "2026-11-01 09:00 UTC" (the text itself when it is not one)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return str(text)
    zone = " UTC" if moment.utcoffset() is not None and not moment.utcoffset() else ""
    return moment.strftime("%Y-%m-%d %H:%M") + zone


# --- the executive summary ------------------------------------------------------------------------------

def _verb(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _summary(report: dict) -> list[str]:
    """Return the executive summary: a few sentences, each with its key numbers."""
    fig, method, cov, leg, hc, waves = (report[k] for k in ("figures", "method", "coverage", "legacy", "healthcare",
                                                            "waves"))
    sentences = []
    when = f" between {method['first']} and {method['last']}" if method["first"] and method["last"] else ""
    sentences.append(f"Estate Mapper found {counted(fig['hosts'], 'host')} running {counted(fig['services'], 'service')}, "
                     f"with {counted(fig['dependencies'], 'dependency', 'dependencies')} between them, from "
                     f"{counted(fig['scans'], 'scan')}{when}.")
    if cov["computed"]:
        sentences.append(f"{cov['deep_share'] or '—'} of the hosts have a deep inventory and {cov['sockets_share'] or '—'} "
                         f"had their own connections collected; {counted(len(cov['blind_spots']), 'blind spot')} "
                         f"{'remains' if len(cov['blind_spots']) == 1 else 'remain'}, listed by how many dependencies "
                         "touch them.")
    else:
        sentences.append(f"Coverage (how deeply each host is known) is {NOT_COMPUTED}.")
    analysis = report["analysis"]
    if analysis:
        by = fig["findings_by_severity"]
        sentences.append(f"The analysis, judged as on {analysis.get('as_of')}, raised {counted(fig['findings'], 'finding')}: "
                         + ", ".join(f"{by[s]} {s}" for s in SEVERITIES) + ".")
        line = (f"{counted(leg['hosts'], 'host')} ({_share(leg['hosts'], fig['hosts'])}) "
                f"{_verb(leg['hosts'], 'runs', 'run')} something past its end of support")
        if leg["earliest"]:
            e = leg["earliest"]
            line += f"; the longest unsupported is {e['what']} {e['release'] or ''} on {e['host']}, ended {e['end']}"
        sentences.append(line.replace("  ", " ") + ".")
    else:
        sentences.append("No analysis has run yet: findings, legacy, move groups and waves are missing "
                         "(run estatemap analyze).")
    if hc["services"]:
        clients = len({p["client"] for p in hc["paths"] if p["evidence"] != "no client seen"})
        n = len(hc["services"])
        sentences.append(f"{counted(n, 'clinical service')} (DICOM, HL7, FHIR) {_verb(n, 'runs', 'run')} on "
                         f"{counted(hc['hosts'], 'host')}; "
                         + (f"{'it' if n == 1 else str(hc['cleartext_services']) + ' of them'} "
                            f"{_verb(hc['cleartext_services'], 'carries', 'carry')} patient data in clear text, used "
                            f"by {counted(clients, 'client')}." if hc["cleartext_services"]
                            else f"{_verb(n, 'it does not', 'none of them')} carry patient data in clear text as far "
                                 "as the scans saw."))
    else:
        sentences.append("No DICOM, HL7 or FHIR service was found.")
    if fig["groups"]:
        sentences.append(f"The migration plan moves {counted(fig['groups'], 'move group')} in "
                         f"{counted(fig['waves'], 'wave')}"
                         + ("." if waves["planned"] else f"; the wave plan's reasons are {NOT_COMPUTED}."))
    return sentences
