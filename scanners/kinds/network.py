"""`estatemap scan network` and the GUI's Network tab: nmap against addresses, blocks, ranges and names."""

from __future__ import annotations

from discovery.records.model import EstateError
from discovery.scanning.scan_kinds import Option, ScannerKind, number, words

PROFILES = (("quick", "Quick: top 100 ports"),
            ("standard", "Standard: top 1,000 ports, healthcare and database ports, versions"),
            ("deep", "Deep: all ports, versions, OS, safe scripts"))
DEFAULT_PROFILE = "standard"
DEFAULT_MAX_RATE = 300  # packets per second: gentle on fragile clinical devices

DOC = """Discover hosts and services on a network with nmap: addresses, MACs, OS guesses, open ports,
products and versions, databases and healthcare services (DICOM, HL7).

TARGET is an address, CIDR block, range (10.0.0.1-40 or 10.0.0.1-10.0.0.40) or hostname,
IPv4 or IPv6. Profiles: quick (top 100 ports), standard (top 1,000 ports plus healthcare and
database ports, versions, OS detection as root), deep (all ports, versions, OS, safe scripts).
Timing is gentle: nmap's normal template capped at 300 packets per second unless --max-rate
says otherwise. More than 1,024 addresses need --yes. Without root, a TCP connect scan
without OS detection is used. Ctrl-C stops nmap and keeps every host finished.

Example: estatemap scan network 10.20.0.0/24 --exclude 10.20.0.1 --profile quick
"""

OPTIONS = (
    Option("targets", kind="words", required=True, metavar="TARGET", label="Targets:",
           help="address, CIDR block, range or hostname",
           placeholder="10.20.0.0/24  10.20.1.1-40  pacs01.example.org"),
    Option("profile", kind="choice", flag="--profile", choices=PROFILES, default=DEFAULT_PROFILE, label="Profile:",
           help=f"how much to look at (default: {DEFAULT_PROFILE})"),
    Option("ports", flag="--ports", metavar="SPEC", label="Ports:",
           help="ports to scan instead of the profile's, e.g. 22,80,8000-8100",
           placeholder="the profile's ports (or e.g. 22,80,443,8000-8100)"),
    Option("excludes", kind="words", flag="--exclude", metavar="TARGET", label="Exclude:",
           help="targets never to touch", placeholder="targets never to touch, e.g. 10.20.0.1 10.20.0.250-254"),
    Option("max_rate", kind="int", flag="--max-rate", metavar="N", default=DEFAULT_MAX_RATE, label="Rate limit:",
           minimum=1, maximum=100_000, suffix=" packets/s",
           help=f"at most N packets per second (default: {DEFAULT_MAX_RATE})"),
    Option("yes", kind="bool", flag="--yes", faces=frozenset({"cli"}),
           help="confirm a scan of more than 1,024 addresses"),
)


def build(opts: dict):
    from scanners.nmap_network import NmapNetworkScanner

    targets = words(opts["targets"])
    if not targets:
        raise EstateError("name at least one target: an address, CIDR block, range or hostname")
    return NmapNetworkScanner(targets, profile=opts["profile"], ports=opts["ports"], excludes=words(opts["excludes"]),
                              max_rate=number(opts["max_rate"], "rate limit", int))


def stored(opts: dict) -> dict:
    return {"profile": opts["profile"], "ports": opts["ports"], "exclude": words(opts["excludes"]),
            "max_rate": opts["max_rate"]}


def remaining(plan) -> dict:
    """The same targets and options, without the addresses the scan already stored."""
    finished = sorted(name for name in plan.finished if is_address(name))
    stored = plan.options
    return {"targets": plan.targets, "profile": stored.get("profile"), "ports": stored.get("ports"),
            "excludes": [*stored.get("exclude", ()), *finished], "max_rate": stored.get("max_rate")}


def resume_note(plan, options: dict) -> str:
    skipped = len(options["excludes"]) - len(plan.options.get("exclude", ()))
    return f"{skipped} address(es) it finished are skipped."


def is_address(text: str) -> bool:
    """Return whether `text` is an IPv4 or IPv6 address (not a name)."""
    import ipaddress
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


KIND = ScannerKind(name="network", label="Network", doc=DOC, options=OPTIONS, build=build, stored=stored,
                   intro="Targets are checked before anything runs; more than 1,024 addresses asks for confirmation.",
                   resume="resume", remaining=remaining, resume_note=resume_note, unit="host",
                   noun=("address", "addresses"))
