"""Insecure and clear-text protocols, and services nobody could identify: findings from rules kept as data.

discovery/data/protocols.json holds the rules: telnet, SMBv1, SSLv2/3 (high); FTP, TLS 1.0/1.1, HL7 v2 over
plain MLLP, DICOM without TLS, credentials over plain HTTP, a DICOM service accepting a default or blank called
AE title (medium); plain HTTP seen carrying traffic (low); an open port nothing is known about (low, or info for
a port-number guess). `assess_protocols(inventory, rules)` is pure. End-of-life verdicts are
discovery/analyses/legacy.py's; legacy.assess_inventory gives both.

Evidence comes from nmap (service names, scripts), from the host itself (processes) and from captured traffic
(scanners/passive_capture.py: the "passive-traffic" script's packets and bytes, and the header scripts —
dicom-association, hl7-msh, tls-hello, smb-negotiate, telnet-negotiation, ftp-commands, http-headers — with the
clients each one came from). A service seen several ways is one row of the inventory, so each rule gives it one
finding, whose evidence names every way it was seen.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from discovery.records.model import OPEN_STATES, Finding, service_row_id

DEFAULT_PROTOCOLS = Path(__file__).resolve().parents[1] / "data" / "protocols.json"


class ProtocolRulesError(ValueError):
    """The protocol rules file cannot be read or is malformed."""


def _pattern(text: str) -> re.Pattern:
    return re.compile(text, re.I)




@functools.lru_cache(maxsize=8)
def _load_protocols(path: str) -> dict:
    try:
        rules = json.loads(Path(path).read_text(encoding="utf-8"))
        for rule in rules["cleartext"]:
            rule["_names"] = {n.lower() for n in rule["names"]}
        http = rules["http_auth"]
        http["_basic"] = [_pattern(p) for p in http["basic_patterns"]]
        http["_form"] = [_pattern(p) for p in http["form_patterns"]]
        http["_title"] = [_pattern(p) for p in http["title_patterns"]]
        rules["sshv1"]["_re"] = _pattern(rules["sshv1"]["pattern"])
        web = rules["cleartext_web"]["no_https"]
        web["_redirect"] = [_pattern(p) for p in web["redirect_patterns"]]
        rules["dicom_default_ae"]["_titles"] = {t["title"].strip().upper(): t["source"]
                                                for t in rules["dicom_default_ae"]["titles"]}
    except (OSError, ValueError, KeyError, TypeError, re.error) as exc:
        raise ProtocolRulesError(f"cannot read the protocol rules {path}: {exc!r}") from exc
    return rules


def load_protocol_rules(path: Path | None = None) -> dict:
    """Return the insecure-protocol rules (default: the shipped discovery/data/protocols.json), cached."""
    return _load_protocols(str(Path(path or DEFAULT_PROTOCOLS).resolve()))


def _scripts(row: dict) -> list[dict]:
    return list(row.get("scripts") or [])


def _script_text(script: dict) -> str:
    parts = [script.get("output") or ""]
    data = script.get("data")
    if data not in (None, "", [], {}):
        parts.append(json.dumps(data, sort_keys=True, ensure_ascii=False))
    return "\n".join(parts)


def _is_tls(row: dict) -> bool:
    name = (row.get("name") or "").lower()
    return row.get("tunnel") == "ssl" or name.startswith("ssl/") or name in ("https", "ftps", "dicom-tls")


def _service_words(row: dict) -> str:
    words = [row.get("name"), row.get("product"), row.get("version")]
    text = " ".join(w for w in words if w) or "unnamed service"
    if row.get("extra_info"):
        text += f" ({row['extra_info']})"
    if row.get("process"):
        text += f", process {row['process']}"
    return f"{row.get('protocol') or 'tcp'}/{row['port']} {row.get('state') or 'open'}: {text}"


# Each header script's list of entries (one per client), by script id: see scanners/passive_capture.py.
_WIRE_LISTS = {"dicom-association": "associations", "hl7-msh": "routes", "tls-hello": "handshakes",
               "smb-negotiate": "negotiations", "telnet-negotiation": "sessions", "ftp-commands": "sessions",
               "http-headers": "exchanges"}
_MAX_CLIENTS = 8   # clients named in a finding's evidence (its data keeps them all)


def _wire_traffic(row: dict, rules: dict) -> dict | None:
    """Return the passive-traffic script's data (first/last seen, packets, bytes) when a capture saw the service
    carry packets, else None."""
    for script in _scripts(row):
        data = script.get("data")
        if script.get("id") == rules["wire"]["script"] and isinstance(data, dict) and (data.get("packets") or 0) > 0:
            return data
    return None


def _wire_entries(row: dict, script_id: str | None) -> list[dict]:
    """Return a header script's entries (one per client: an association, an HL7 route, a handshake...), or []."""
    for script in _scripts(row):
        data = script.get("data")
        if script_id and script.get("id") == script_id and isinstance(data, dict):
            return [e for e in data.get(_WIRE_LISTS.get(script_id, ""), None) or () if isinstance(e, dict)]
    return []


def _clear_entries(row: dict, script_id: str | None) -> list[dict]:
    """Return a header script's entries from clients that did not do a TLS handshake on this service (a client
    that did may have had a TLS record taken for a header), keeping those that asked for TLS in clear text
    themselves (FTP's AUTH TLS)."""
    tls_clients = {e.get("client") for e in _wire_entries(row, "tls-hello")}
    return [e for e in _wire_entries(row, script_id) if e.get("auth") or e.get("client") not in tls_clients]


def _wire_words(traffic: dict) -> str:
    def when(text) -> str:
        return f"{str(text)[:19].replace('T', ' ')} UTC" if text else "?"
    packets = traffic.get("packets") or 0
    return (f"observed on the wire: {packets:,} packet{'' if packets == 1 else 's'}, "
            f"{traffic.get('bytes') or 0:,} bytes, first {when(traffic.get('first_seen'))}, "
            f"last {when(traffic.get('last_seen'))}")


def _client_words(script_id: str, entry: dict) -> str:
    """One client as a header script names it: "10.0.0.4 (AE EHRAPP → PACS)", "10.0.0.4 (LAB@HOSP → EHR@HOSP
    ORU^R01)", "10.0.0.4 (Host ris.example)"."""
    what = None
    if script_id == "dicom-association":
        what = f"AE {entry.get('calling_ae') or '(blank)'} → {entry.get('called_ae') or '(blank)'}"
    elif script_id == "hl7-msh":
        ends = ["@".join(v for v in (entry.get(f"{side}_application"), entry.get(f"{side}_facility")) if v) or "?"
                for side in ("sending", "receiving")]
        what = " → ".join(ends) + (f" {entry['message_type']}" if entry.get("message_type") else "")
    elif script_id == "http-headers":
        what = ", ".join(f"{label} {entry[key]}" for key, label in (("host", "Host"), ("user_agent", "agent"))
                         if entry.get(key)) or None
    elif script_id == "ftp-commands":
        what = "AUTH " + entry["auth"] if entry.get("auth") else None
    return f"{entry.get('client') or '?'}" + (f" ({what})" if what else "")


def _clients_words(names: list[str]) -> str:
    names = list(dict.fromkeys(names))
    more = len(names) - _MAX_CLIENTS
    return ", ".join(names[:_MAX_CLIENTS]) + (f" and {more} more" if more > 0 else "")


def _protocol_finding(rule_id, row_or_host, *, subject_type, severity, title, evidence, recommendation,
                      confidence, data, category="insecure-protocol") -> Finding:
    if subject_type == "service":
        subject, host_id = service_row_id(row_or_host), row_or_host["host_id"]
    else:
        subject, host_id = row_or_host["id"], row_or_host["id"]
    return Finding(id=f"{rule_id}:{subject}", subject_type=subject_type, subject_id=subject, host_id=host_id,
                   rule=rule_id, category=category, severity=severity, title=title, evidence=evidence,
                   recommendation=recommendation, confidence=confidence, data=data)


def assess_cleartext(row: dict, rules: dict, wire_clients: list[str] | tuple[str, ...] = ()) -> list[Finding]:
    """Return telnet, FTP, HL7 MLLP, DICOM and plain HTTP findings for one service row that is not inside TLS.

    A rule's traffic_script on the row (a capture read the protocol's own messages in clear text) matches it
    with high confidence, even on a port where TLS was seen too; otherwise nmap's name, the owning process or
    the port number match, as before. A service a capture saw carrying packets says so, with the counts and
    its clients (from the header scripts, else `wire_clients`: the addresses the capture saw connect to it).
    """
    if row.get("state", "open") not in OPEN_STATES:
        return []
    name = (row.get("name") or "").lower()
    process = row.get("process")
    traffic = _wire_traffic(row, rules)
    findings = []
    for rule in rules["cleartext"]:
        entries = _clear_entries(row, rule.get("traffic_script"))
        proof_commands = set(rule.get("traffic_proof_commands") or ())
        proof = [e for e in entries if not proof_commands or proof_commands.intersection(e.get("commands") or ())]
        if not entries and (_is_tls(row) or (rule.get("observed_only") and traffic is None)):
            continue
        if entries:
            how, confidence = f"by its traffic ({rule['traffic_script']} read in clear text)", "high"
        elif name and name in rule["_names"]:
            how = "by its protocol" if row.get("method") != "table" else "by its port number only (nmap's table)"
            confidence = "medium" if row.get("method") != "table" else "low"
        elif process and process in rule["processes"]:
            how, confidence = f"by its process {process}", "high"
        elif row["port"] in rule["ports"] and (not name or name == "unknown" or row.get("method") == "table"):
            how, confidence = "by its port number only", "low"
            if traffic is not None and rule.get("traffic_port_confidence"):
                how, confidence = "by its port number, with traffic seen on it", rule["traffic_port_confidence"]
        else:
            continue
        severity, note = rule["severity"], rule.get("note")
        offered = [s["id"] for s in _scripts(row) if s.get("id") in rule.get("tls_scripts", ())]
        secured = [e for e in entries if e.get("auth")]   # FTP clients that asked for TLS (AUTH TLS)
        if secured:
            offered.append(f"{rule['traffic_script']} (AUTH {secured[0]['auth']} from "
                           f"{_clients_words([e.get('client') or '?' for e in secured])})")
        if offered and not proof:
            severity, note = rule["tls_offered_severity"], rule["tls_offered_note"]
        evidence = f"{_service_words(row)} — identified {how}"
        if offered:
            evidence += f"; {', '.join(offered)} saw TLS"
        clients = [_client_words(rule.get("traffic_script"), e) for e in proof] or list(wire_clients)
        if proof:
            speakers = len({e.get("client") for e in proof})
            evidence += f"; {speakers} client{'s' if speakers > 1 else ''} spoke it in clear text"
        if traffic is not None:
            evidence += f"; {_wire_words(traffic)}"
        if clients:
            evidence += f"; clients: {_clients_words(clients)}"
        if proof and _is_tls(row):
            evidence += "; TLS was seen on this port too (other connections)"
        findings.append(_protocol_finding(
            rule["rule"], row, subject_type="service", severity=severity,
            title=rule["title"] + (" — observed on the wire" if proof else ""), evidence=evidence,
            recommendation=rule["recommendation"] + (f" Note: {note}." if note and not note.endswith(".") else
                                                     f" Note: {note}" if note else ""),
            confidence=confidence,
            data={"protocol": rule["rule"], "port": row["port"], "service": row.get("name"), "tls": False,
                  "tls_offered": bool(offered), "matched_by": how, "observed_on_wire": traffic is not None,
                  "traffic": _traffic_data(traffic),
                  "clients": sorted({e.get("client") for e in proof if e.get("client")} or set(wire_clients))}))
    return findings


def _traffic_data(traffic: dict | None) -> dict | None:
    if traffic is None:
        return None
    return {k: traffic.get(k) for k in ("packets", "bytes", "first_seen", "last_seen")}


def assess_legacy_tls(row: dict, rules: dict) -> list[Finding]:
    """Return SSLv2/SSLv3 and TLS 1.0/1.1 findings from ssl-enum-ciphers and sslv2 script results (offered) and
    from a capture's tls-hello script (negotiated on the wire: the server hello's version, with its clients)."""
    spec = rules["legacy_tls"]
    offered: dict[str, str] = {}
    wire: dict[str, list[str]] = {}
    for entry in _wire_entries(row, spec["wire_script"]):
        for seen in entry.get("negotiated") or [entry.get("version")]:
            if (version := spec["wire_versions"].get(seen)) is not None:
                client = entry.get("client") or "?"
                wire.setdefault(version, []).append(client + (f" (SNI {entry['sni']})" if entry.get("sni") else ""))
    for script in _scripts(row):
        if (script.get("id") or "").lower() == spec["script"]:
            data = script.get("data")
            keys = set(data) if isinstance(data, dict) else set()
            text = script.get("output") or ""
            for version in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"):
                if version in keys or re.search(rf"(^|\n)\s*{re.escape(version)}:", text):
                    ciphers = _ciphers(data.get(version) if isinstance(data, dict) else None)
                    offered[version] = f"{spec['script']} lists {version}" + (f" ({ciphers})" if ciphers else "")
        elif (script.get("id") or "").lower() == spec["sslv2_script"] and (script.get("output") or script.get("data")):
            lines = (script.get("output") or "").strip().splitlines()
            offered["SSLv2"] = f"{spec['sslv2_script']}: {lines[0] if lines else 'SSLv2 supported'}"
    for version, clients in wire.items():
        said = f"negotiated on the wire with {_clients_words(clients)}"
        offered[version] = f"{offered[version]}; {said}" if version in offered else f"{version} {said}"
    findings = []
    for rule in spec["rules"]:
        hits = [v for v in rule["versions"] if v in offered]
        if not hits:
            continue
        negotiated = [v for v in hits if v in wire]
        findings.append(_protocol_finding(
            rule["rule"], row, subject_type="service", severity=rule["severity"],
            title=f"{rule['title']} on {row.get('protocol') or 'tcp'}/{row['port']} ({', '.join(hits)})"
                  + (" — negotiated on the wire" if negotiated else ""),
            evidence=f"{_service_words(row)}; " + "; ".join(offered[v] for v in hits),
            recommendation=rule["recommendation"], confidence="high",
            data={"protocol_versions": hits, "port": row["port"], "service": row.get("name"),
                  "negotiated_on_wire": negotiated,
                  "clients": sorted({c.split(" ")[0] for v in negotiated for c in wire[v]})}))
    return findings


def _ciphers(table) -> str | None:
    if not isinstance(table, dict):
        return None
    names = [c.get("name") for c in table.get("ciphers", []) if isinstance(c, dict) and c.get("name")]
    if not names:
        return None
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _smbv1_line(script: dict, markers: list[str]) -> str | None:
    data = script.get("data")
    dialects = data.get("dialects") if isinstance(data, dict) else data if isinstance(data, list) else None
    for dialect in dialects or []:
        if isinstance(dialect, str) and any(m.lower() in dialect.lower() for m in markers):
            return dialect
    for line in (script.get("output") or "").splitlines():
        if any(m.lower() in line.lower() for m in markers):
            return line.strip()
    return None


def assess_smbv1(host: dict, services: list[dict], rules: dict) -> list[Finding]:
    """Return an SMBv1 finding where smb-protocols (host or port script) lists the NT LM 0.12 dialect, or a
    capture saw a server settle on an SMB1 dialect (smb-negotiate); one finding a host, naming both."""
    spec = rules["smbv1"]
    smb_services = [s for s in services if s.get("state", "open") in OPEN_STATES
                    and (s["port"] in spec["ports"] or _wire_entries(s, spec["wire_script"]))]
    said, dialect, script_id = [], None, None
    for row, kind in [(s, "service") for s in smb_services] + [(host, "host")]:
        line = next((line for script in _scripts(row) if script.get("id") == spec["script"]
                     and (line := _smbv1_line(script, spec["markers"])) is not None), None)
        if line is not None:
            where = "host script" if kind == "host" else f"tcp/{row['port']} script"
            said.append(f"{spec['script']} ({where}) lists dialect {line}")
            dialect, script_id = line, spec["script"]
            break
    clients = []
    for row in smb_services:
        chosen = [(entry.get("client") or "?", n.get("dialect")) for entry in _wire_entries(row, spec["wire_script"])
                  for n in entry.get("negotiated") or () if n.get("protocol") == spec["wire_protocol"]]
        if chosen:
            dialects = ", ".join(dict.fromkeys(d for _, d in chosen if d))
            said.append(f"negotiated on the wire on tcp/{row['port']}: {dialects} ({spec['wire_protocol']}) "
                        f"with {_clients_words([c for c, _ in chosen])}")
            clients.extend(c for c, _ in chosen)
            dialect, script_id = dialect or chosen[0][1], script_id or spec["wire_script"]
    if not said:
        return []
    subject = min(smb_services, key=lambda s: (s["port"] != 445, s["port"])) if smb_services else None
    target, subject_type = (subject, "service") if subject else (host, "host")
    return [_protocol_finding(
        spec["rule"], target, subject_type=subject_type, severity=spec["severity"],
        title=spec["title"] + (" — negotiated on the wire" if clients else ""), evidence="; ".join(said),
        recommendation=spec["recommendation"], confidence="high",
        data={"dialect": dialect, "script": script_id, "observed_on_wire": bool(clients),
              "clients": sorted(set(clients))})]


def assess_dicom_default_ae(row: dict, rules: dict) -> list[Finding]:
    """Return a finding where a DICOM service accepted an association calling a well-known default or a blank AE
    title: seen on the wire (an A-ASSOCIATE-AC answering it, in the dicom-association script) or by nmap's
    dicom-ping ("Any AET is accepted": nmap called ANY-SCP). Anyone who names the default gets in."""
    spec = rules["dicom_default_ae"]
    if row.get("state", "open") not in OPEN_STATES:
        return []
    defaults = spec["_titles"]
    accepted: dict[str, list[str]] = {}   # default title (upper case) -> the clients whose call it accepted
    for entry in _clear_entries(row, spec["script"]):
        if "accepted_called_aes" in entry:
            titles = entry["accepted_called_aes"] or []
        else:  # an older capture import: the server's implementation fields are there only when it accepted
            titles = [entry.get("called_ae")] if any(k.startswith("server_implementation") for k in entry) else []
        for title in titles:
            if (key := (title or "").strip().upper()) in defaults:
                who = entry.get("client") or "?"
                accepted.setdefault(key, []).append(who + (f" (AE {entry['calling_ae']})"
                                                           if entry.get("calling_ae") else ""))
    said = [f"the server accepted associations calling {title or 'a blank AE title'} (A-ASSOCIATE-AC seen on the "
            f"wire) from {_clients_words(clients)}" for title, clients in accepted.items()]
    nmap = next((s for s in _scripts(row) if s.get("id") == spec["nmap_script"]
                 and spec["nmap_marker"].lower() in _script_text(s).lower()), None)
    if nmap is not None:
        accepted.setdefault(spec["nmap_title"], [])
        said.append(f"{spec['nmap_script']}: {spec['nmap_marker']} (nmap called {spec['nmap_title']})")
    if not said:
        return []
    why = "; ".join(f"{title or 'a blank title'}: {defaults.get(title, 'a well-known default')}" for title in accepted)
    return [_protocol_finding(
        spec["rule"], row, subject_type="service", severity=spec["severity"],
        title=f"{spec['title']} on {row.get('protocol') or 'tcp'}/{row['port']}",
        evidence=f"{_service_words(row)}; " + "; ".join(said) + f" — {why}",
        recommendation=spec["recommendation"], confidence="high",
        data={"port": row["port"], "service": row.get("name"), "called_ae_titles": sorted(accepted),
              "observed_on_wire": any(accepted.values()),
              "clients": sorted({c.split(" ")[0] for clients in accepted.values() for c in clients})})]


def assess_http_auth(row: dict, rules: dict) -> list[Finding]:
    """Return a finding where an unencrypted HTTP service asks for credentials.

    Chosen signals: Basic authentication (nmap's http-auth or any script showing "WWW-Authenticate: Basic"),
    a login form (http-auth-finder's FORM) — both medium, high confidence; a page title that reads like a
    login page (http-title) — low severity, low confidence. Digest and NTLM do not send the password itself.
    """
    spec = rules["http_auth"]
    name = (row.get("name") or "").lower()
    if row.get("state", "open") not in OPEN_STATES or _is_tls(row) or name not in spec["names"]:
        return []
    signal, severity, confidence = None, spec["severity"], "high"
    for script in _scripts(row):
        text = _script_text(script)
        data = script.get("data")
        if (isinstance(data, dict) and any(k in data for k in spec["basic_script_keys"])) or \
                any(p.search(line) for p in spec["_basic"] for line in text.splitlines()):
            line = next((ln.strip() for ln in text.splitlines() if "basic" in ln.lower()), "Basic")
            signal = f"{script.get('id')}: {line} (Basic authentication: the password travels base64-encoded)"
            break
        if script.get("id") in spec["form_scripts"] and any(p.search(text) for p in spec["_form"]):
            signal = f"{script.get('id')}: a login form ({(script.get('output') or '').strip().splitlines()[-1:]})"
            break
    if signal is None:
        for script in _scripts(row):
            title = (script.get("output") or "").strip()
            if script.get("id") == spec["title_script"] and any(p.search(title) for p in spec["_title"]):
                signal, severity, confidence = f"{script['id']}: {title!r} looks like a login page", \
                    spec["title_severity"], "low"
                break
    if signal is None:
        return []
    return [_protocol_finding(
        spec["rule"], row, subject_type="service", severity=severity,
        title=f"{spec['title']} on {row.get('protocol') or 'tcp'}/{row['port']}",
        evidence=f"{_service_words(row)}; {signal}", recommendation=spec["recommendation"], confidence=confidence,
        data={"port": row["port"], "service": row.get("name"), "signal": signal})]


def assess_fhir_cleartext(row: dict, rules: dict) -> list[Finding]:
    """Return a finding for a FHIR server the probe found on a port without TLS: its CapabilityStatement is the
    public evidence that patient data is served in clear text."""
    spec = rules["cleartext_web"]["fhir"]
    if row.get("state", "open") not in OPEN_STATES or _is_tls(row):
        return []
    script = next((s for s in _scripts(row) if s.get("id") == spec["script"]), None)
    if script is None:
        return []
    return [_protocol_finding(
        spec["rule"], row, subject_type="service", severity=spec["severity"],
        title=f"{spec['title']} on {row.get('protocol') or 'tcp'}/{row['port']}",
        evidence=f"{_service_words(row)}; {spec['script']}: {(script.get('output') or '').strip()} (no TLS)",
        recommendation=spec["recommendation"], confidence="high",
        data={"port": row["port"], "service": row.get("name"), "fhir": script.get("data")})]


def assess_web_without_https(host: dict, rows: list[dict], rules: dict, already: set[str]) -> list[Finding]:
    """Return a low finding for each plain HTTP port that does not redirect to HTTPS on a host serving clinical
    systems (a healthcare service, or the host's patient data annotation says yes); a port another web finding
    covers (`already`: service ids) is left to it."""
    spec = rules["cleartext_web"]["no_https"]
    clinical = [r for r in rows if r.get("category") == "healthcare" and r.get("state", "open") in OPEN_STATES]
    if not clinical and host.get("patient_data") != "yes":
        return []
    served = sorted({f"{r.get('name') or 'a service'} on {r.get('protocol') or 'tcp'}/{r['port']}" for r in clinical})
    why = (f"it serves {', '.join(served)} (healthcare)"
           if clinical else "its patient data annotation says yes")
    findings = []
    for row in rows:
        name = (row.get("name") or "").lower()
        if row.get("state", "open") not in OPEN_STATES or _is_tls(row) or name not in spec["names"] \
                or service_row_id(row) in already:
            continue
        said = "\n".join(_script_text(s) for s in _scripts(row))
        if any(p.search(said) for p in spec["_redirect"]):
            continue
        findings.append(_protocol_finding(
            spec["rule"], row, subject_type="service", severity=spec["severity"],
            title=f"{spec['title']} (tcp/{row['port']})",
            evidence=f"{_service_words(row)}; no redirect to HTTPS seen; the host is clinical: {why}",
            recommendation=spec["recommendation"], confidence="medium",
            data={"port": row["port"], "service": row.get("name"), "clinical": why}))
    return findings


def assess_sshv1(row: dict, rules: dict) -> list[Finding]:
    """Return a finding for an SSH server whose version string says protocol 1.5 (only SSHv1) or 1.99 (both)."""
    spec = rules["sshv1"]
    if row.get("state", "open") not in OPEN_STATES or (row.get("name") or "").lower() not in spec["names"]:
        return []
    said = " ".join(w for w in (row.get("version"), row.get("extra_info")) if w)
    match = spec["_re"].search(said)
    script = next((s for s in _scripts(row) if (s.get("id") or "").lower() == spec["script"] and s.get("output")), None)
    if match is None and script is None:
        return []
    version = match.group("version") if match else "1.99"  # nmap's sshv1 script: protocol 1 among others
    return [_protocol_finding(
        spec["rule"], row, subject_type="service", severity=spec["severity"][version],
        title=f"{spec['title']} on {row.get('protocol') or 'tcp'}/{row['port']} (protocol {version})",
        evidence=f"{_service_words(row)} — {spec['note'][version]}"
                 + (f"; {spec['script']}: {script['output'].strip()}" if script else ""),
        recommendation=spec["recommendation"],
        confidence="high", data={"port": row["port"], "service": row.get("name"), "ssh_protocol": version})]


def assess_snmp_community(row: dict, rules: dict) -> list[Finding]:
    """Return a finding where an SNMP agent answered a v1/v2c community (scan snmp's snmp-access script):
    high when it was a well-known default. The community itself is never recorded, only whether it was one."""
    spec = rules.get("snmp_community")
    if not spec:
        return []
    for script in _scripts(row):
        data = script.get("data") or {}
        if script.get("id") != spec["script"] or data.get("version") not in spec["versions"]:
            continue
        default = bool(data.get("default_community"))
        return [_protocol_finding(
            spec["rule"], row, subject_type="service",
            severity=spec["default_severity"] if default else spec["severity"],
            title=(spec["default_title"] if default else spec["title"]).format(version=data["version"]),
            evidence=f"udp/{row['port']} answered scan snmp's SNMP v{data['version']} requests"
                     + (" with a well-known default community" if default else ""),
            recommendation=spec["recommendation"], confidence="high",
            data={"version": data["version"], "default_community": default})]
    return []


def assess_unidentified(row: dict, rules: dict) -> list[Finding]:
    """Return a finding for an open port nobody could name: low when nothing is known, info for a port-table guess."""
    spec = rules["unidentified"]
    if row.get("state", "open") not in OPEN_STATES or row.get("product") or row.get("process"):
        return []
    name = (row.get("name") or "").lower()
    if not name or name in spec["unknown_names"] or name.endswith("?"):
        severity, confidence, what = spec["unknown_severity"], "medium", "nothing identifies it"
    elif row.get("method") == "table":
        severity, confidence, what = spec["table_severity"], "low", f"{name!r} is only nmap's guess from the port number"
    else:
        return []
    return [_protocol_finding(
        spec["rule"], row, subject_type="service", severity=severity,
        title=f"{spec['title']} on {row.get('protocol') or 'tcp'}/{row['port']}",
        evidence=f"{_service_words(row)} — {what}" + (" (nmap kept a fingerprint)" if row.get("fingerprint") else ""),
        recommendation=spec["recommendation"], confidence=confidence, category="unidentified",
        data={"port": row["port"], "service": row.get("name"), "method": row.get("method"),
              "nmap_confidence": row.get("confidence")})]



def assess_protocols(inventory: dict, rules: dict) -> list[Finding]:
    """Return the insecure-protocol and unidentified-service findings for an inventory (the JSON export's dict)."""
    findings: list[Finding] = []
    by_host: dict[str, list[dict]] = {}
    wire_clients = _wire_clients(inventory)
    for row in inventory.get("services", []):
        if not row.get("host_id"):
            continue
        by_host.setdefault(row["host_id"], []).append(row)
        findings.extend(assess_cleartext(row, rules, wire_clients.get(service_row_id(row), ())))
        findings.extend(assess_legacy_tls(row, rules))
        findings.extend(assess_dicom_default_ae(row, rules))
        findings.extend(assess_http_auth(row, rules))
        findings.extend(assess_fhir_cleartext(row, rules))
        findings.extend(assess_sshv1(row, rules))
        findings.extend(assess_snmp_community(row, rules))
        findings.extend(assess_unidentified(row, rules))
    web = {f.subject_id for f in findings if f.rule in ("http-cleartext-auth", "fhir-cleartext", "http-cleartext")}
    for host in inventory.get("hosts", []):
        findings.extend(assess_smbv1(host, by_host.get(host["id"], []), rules))
        findings.extend(assess_web_without_https(host, by_host.get(host["id"], []), rules, web))
    return findings


def _wire_clients(inventory: dict) -> dict[str, list[str]]:
    """The client addresses a capture saw connect to each service (connections graded observed-on-wire), by
    service id."""
    found: dict[str, list[str]] = {}
    for row in inventory.get("connections", []):
        evidences = row.get("evidences") or [row.get("evidence")]
        if row.get("target_service_id") and row.get("source_address") and "observed-on-wire" in evidences:
            clients = found.setdefault(row["target_service_id"], [])
            if row["source_address"] not in clients:
                clients.append(row["source_address"])
    return found
