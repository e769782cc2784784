"""`estatemap scan passive` and the GUI's Passive tab: listen on a mirror port; send nothing."""

from __future__ import annotations

from discovery.records.model import EstateError
from discovery.scanning.scan_kinds import Option, ScannerKind

DOC = """Listen to the traffic of a switch's mirror (SPAN) port or a TAP, and send nothing.

For networks that must not be scanned (infusion pumps, imaging modalities and other clinical
devices that can freeze under a scanner): the hosts that talk, the services that answer (TCP
handshakes, answered UDP), who depends on whom (evidence "observed-on-wire", with first and last
seen, packets and bytes), DICOM AE titles and SOP classes, HL7 routes (MSH only), TLS versions
and server names, HTTP Host/Server/User-Agent. No payload is kept beyond those named headers: no
patient data. tcpdump (or Wireshark's dumpcap) captures into a ring buffer in a private temporary
folder, read as it grows and removed at the end. It needs capture rights: run as root, or grant
tcpdump the capability once (the error says how). Ctrl-C keeps everything seen so far. A capture
taken elsewhere is read with `estatemap import capture.pcap`.

Example: estatemap scan passive --interface eth1 --duration 1h
"""

DEFAULT_DURATION = "10m"

OPTIONS = (
    Option("interface", flag="--interface", metavar="IF", label="Interface:",
           help="the interface cabled to the mirror port or TAP (e.g. eth1)",
           placeholder="the interface cabled to the mirror port: eth1"),
    Option("duration", kind="duration", flag="--duration", metavar="DURATION", default=DEFAULT_DURATION,
           label="Listen for:", help=f"how long to listen, e.g. 30m, 1h, 8h (default: {DEFAULT_DURATION})",
           placeholder=f"{DEFAULT_DURATION} (e.g. 30m, 1h, 8h); cancel stops it early and keeps what was seen"),
    Option("tool", kind="choice", flag="--tool", default="auto", choices=(("auto", "tcpdump, else dumpcap"), ("tcpdump", "tcpdump"),
                                                          ("dumpcap", "dumpcap (Wireshark)")),
           label="Capture tool:", help="the capture tool to run: tcpdump, dumpcap or auto (default: tcpdump, else dumpcap)"),
)


def build(opts: dict):
    from discovery.scanning.sampling import parse_duration
    from scanners.passive_live import PassiveScanner

    interface = (opts["interface"] or "").strip()
    if not interface:
        raise EstateError("name the interface to listen on (the one cabled to the mirror port): --interface eth1")
    return PassiveScanner(interface, parse_duration(opts["duration"] or DEFAULT_DURATION), tool=_tool(opts))


def _tool(opts: dict) -> str | None:
    return None if opts["tool"] in (None, "", "auto") else opts["tool"]


def stored(opts: dict) -> dict:
    from discovery.scanning.sampling import parse_duration
    return {"interface": opts["interface"], "duration": parse_duration(opts["duration"] or DEFAULT_DURATION),
            "tool": _tool(opts)}


def remaining(plan) -> dict:
    """Listen again (a new scan), on the same interface for as long."""
    return {key: plan.options.get(key) for key in ("interface", "duration", "tool")}


KIND = ScannerKind(
    name="passive", label="Passive", doc=DOC, options=OPTIONS, build=build, stored=stored, resume="rerun",
    remaining=remaining, unit="s", noun=("capture", "captures"),
    intro="Listen to a switch's mirror (SPAN) port or a TAP and send nothing: hosts, services, dependencies, DICOM "
          "and HL7 identities from the traffic. Needs capture rights (run as root, or grant tcpdump the capability). "
          "Cancel keeps everything seen; no payload is kept.")
