"""What a flow's application headers name, folded into its facts, and what those facts make of a service: the
DICOM association PDU put together from the TCP segments it spans (never P-DATA), each decoder's named fields
(scanners.passive_protocols) kept a flow, the service's name and scripts, and the client side's name for the
dependency ("HL7 LAB@HOSP → EHR@HOSP ORU^R01"). Nothing but those named fields is kept.
"""

from __future__ import annotations

from discovery.records.model import ScriptResult

MAX_ROUTES = 16              # distinct HL7 routes and message types kept a flow
HEADER_BYTES = 4096          # of a payload, what the header decoders may look at (the rest is never read)
MAX_ASSOCIATION = 65_536     # a DICOM association PDU reassembled from TCP segments, at most
MAX_PARTIAL = 256            # association PDUs being put together at once, over all flows (at most 16 MiB)


def assemble(partial: dict, key: tuple, data: bytes) -> bytes | None:
    """The payload to read headers from: a DICOM A-ASSOCIATE request or accept is put together from the TCP
    segments it spans (its AE titles, SOP classes and implementation UIDs; never P-DATA, which is never
    buffered), then handed over whole; any other payload's first HEADER_BYTES at once; None while waiting."""
    if key in partial:
        buffered, length = partial[key]
        buffered += data[:length - len(buffered)]
        if len(buffered) < length:
            return None
        del partial[key]
        return bytes(buffered)
    if data[:1] in (b"\x01", b"\x02") and data[1:2] == b"\x00" and data[6:8] == b"\x00\x01":
        length = 6 + int.from_bytes(data[2:6], "big")
        if len(data) < length <= MAX_ASSOCIATION:
            if len(partial) >= MAX_PARTIAL:
                partial.pop(next(iter(partial)))
            partial[key] = (bytearray(data), length)
            return None
        return data[:MAX_ASSOCIATION]
    return data[:HEADER_BYTES]


def read_headers(facts: dict, payload: bytes, from_client: bool) -> None:
    """Fold what one payload's application header names into a flow's facts; nothing else of it is kept."""
    from scanners import passive_protocols as pp

    first = payload[:1]
    if first in (b"\x01", b"\x02") and "tls" not in facts and (found := pp.dicom_association(payload)):
        dicom = facts.setdefault("dicom", {})
        if found["pdu"] == "request":  # the associations of one client to this service, together
            uids = list(dict.fromkeys([*dicom.get("abstract_syntaxes", ()), *found["abstract_syntaxes"]]))[:64]
            dicom.update(calling_ae=found["calling_ae"], called_ae=found["called_ae"],
                         implementation_class_uid=found["implementation_class_uid"],
                         implementation_version=found["implementation_version"], abstract_syntaxes=uids,
                         sop_classes=[pp.SOP_CLASSES.get(u, u) for u in uids], role=pp.dicom_role(uids))
        elif found["pdu"] == "accept":
            dicom.update(server_implementation_class_uid=found["implementation_class_uid"],
                         server_implementation_version=found["implementation_version"])
            # the called AE title the server accepted: the AC repeats the request's (PS3.8 §9.3.3), though not
            # every implementation fills it in; None is a blank one
            accepted = dicom.setdefault("accepted_called_aes", [])
            title = found["called_ae"] or dicom.get("called_ae")
            if title not in accepted and len(accepted) < MAX_ROUTES:
                accepted.append(title)
    elif from_client and (first == b"\x0b" or payload[:3] == b"MSH") and (found := pp.hl7_msh(payload)):
        routes = facts.setdefault("hl7", [])
        if found not in routes and len(routes) < MAX_ROUTES:
            routes.append(found)
    elif first in (b"\x16", b"\x80") and (found := pp.tls_hello(payload)):
        tls = facts.setdefault("tls", {})
        if found["hello"] == "client":
            tls.update(sni=found["sni"], offered=found["offered"])
        else:
            tls["version"] = found["version"]
            negotiated = tls.setdefault("negotiated", [])   # every version a connection of this flow settled on
            if found["version"] and found["version"] not in negotiated:
                negotiated.append(found["version"])
    elif first in (b"\x00", b"\x81") and (found := pp.smb_negotiate(payload)):
        # the dialects the client offered (its latest request), each dialect a server settled on (an SMB1
        # response names it by its index in the request's list), and whether the connection opened with a
        # NetBIOS session request (port 139's way)
        smb = facts.setdefault("smb", {})
        if found["kind"] == "session-request" and from_client:
            smb["netbios_session"] = True
        elif found["kind"] == "request" and from_client:
            smb.update(client_protocol=found["protocol"], client_dialects=found["dialects"])
        elif found["kind"] == "response" and not from_client and found["status"] == 0:
            dialect, index, offered = found["dialect"], found["dialect_index"], smb.get("client_dialects") or []
            if found["protocol"] == "SMB1" and index is not None:
                dialect = offered[index] if smb.get("client_protocol") == "SMB1" and index < len(offered) \
                    else f"dialect #{index} of the request"
            chosen = {"protocol": found["protocol"], "dialect": dialect}
            negotiated = smb.setdefault("negotiated", [])
            if dialect and chosen not in negotiated and len(negotiated) < MAX_ROUTES:
                negotiated.append(chosen)
    elif first == b"\xff" and (found := pp.telnet_negotiation(payload)):
        options = facts.setdefault("telnet", {}).setdefault("options", [])
        options.extend(o for o in found["options"] if o not in options and len(options) < MAX_ROUTES)
    elif from_client and (found := pp.ftp_command(payload)):
        ftp = facts.setdefault("ftp", {})
        commands = ftp.setdefault("commands", [])
        if found["command"] not in commands and len(commands) < MAX_ROUTES:
            commands.append(found["command"])
        if found["mechanism"]:
            ftp["auth"] = found["mechanism"]
    elif (found := pp.http_head(payload)):
        http = facts.setdefault("http", {})
        http.update({k: v for k, v in found.items() if k != "kind" and v is not None})


def service_name(facts: list[dict]) -> str | None:
    """What the traffic says the service speaks (DICOM, HL7 MLLP, SMB, Telnet, FTP, HTTP), where it says so; SMB
    is "netbios-ssn" when its connections opened with a NetBIOS session request (port 139), else "microsoft-ds"."""
    from scanners.passive_protocols import FTP_ONLY_COMMANDS

    for key, name in (("dicom", "dicom"), ("hl7", "hl7-mllp"), ("smb", "microsoft-ds"), ("telnet", "telnet")):
        if any(key in f for f in facts):
            if key == "smb" and any(f["smb"].get("netbios_session") for f in facts if "smb" in f):
                return "netbios-ssn"
            return name
    if any(FTP_ONLY_COMMANDS.intersection(f.get("ftp", {}).get("commands", ())) for f in facts):
        return "ftp"  # USER and PASS alone could be POP3's: a command only FTP has names it
    if any("http" in f for f in facts):
        return "http"
    return None


def header_scripts(facts: list[dict]) -> tuple[ScriptResult, ...]:
    """A service's application identities as heard from its clients: DICOM AE titles and implementations, HL7
    routes, TLS versions and server names, SMB dialects, Telnet options, FTP command verbs, HTTP server."""
    from scanners.passive_protocols import FTP_ONLY_COMMANDS

    found = []
    dicom = [dict(f["dicom"], client=f["client"]) for f in facts if "dicom" in f]
    if dicom:
        found.append(ScriptResult(id="dicom-association", data={"associations": dicom[:32]}))
    routes = [dict(r, client=f["client"]) for f in facts for r in f.get("hl7", ())]
    if routes:
        found.append(ScriptResult(id="hl7-msh", data={"routes": routes[:64]}))
    tls = [dict(f["tls"], client=f["client"]) for f in facts if "tls" in f]
    if tls:
        found.append(ScriptResult(id="tls-hello", data={"handshakes": tls[:32]}))
    smb = [dict(f["smb"], client=f["client"]) for f in facts if "smb" in f]
    if smb:
        found.append(ScriptResult(id="smb-negotiate", data={"negotiations": smb[:32]}))
    telnet = [dict(f["telnet"], client=f["client"]) for f in facts if "telnet" in f]
    if telnet:
        found.append(ScriptResult(id="telnet-negotiation", data={"sessions": telnet[:32]}))
    ftp = [dict(f["ftp"], client=f["client"]) for f in facts
           if FTP_ONLY_COMMANDS.intersection(f.get("ftp", {}).get("commands", ()))]
    if ftp:
        found.append(ScriptResult(id="ftp-commands", data={"sessions": ftp[:32]}))
    http = [dict(f["http"], client=f["client"]) for f in facts if "http" in f]
    if http:
        found.append(ScriptResult(id="http-headers", data={"exchanges": http[:32]}))
    return tuple(found)


def application(facts: dict) -> str | None:
    """The flow's client as its application protocol names it: "AE MODALITY1 (modality)", "HL7 LAB@HOSP →
    EHR@HOSP ORU^R01": the client side of the dependency (its source process)."""
    if dicom := facts.get("dicom"):
        if dicom.get("calling_ae"):
            return f"DICOM AE {dicom['calling_ae']}" + (f" ({dicom['role']})" if dicom.get("role") else "")
    if routes := facts.get("hl7"):
        first = routes[0]
        sender = "@".join(v for v in (first.get("sending_application"), first.get("sending_facility")) if v)
        receiver = "@".join(v for v in (first.get("receiving_application"), first.get("receiving_facility")) if v)
        types = ", ".join(dict.fromkeys(r["message_type"] for r in routes if r.get("message_type")))
        return f"HL7 {sender or '?'} → {receiver or '?'}" + (f" {types}" if types else "")
    return None
