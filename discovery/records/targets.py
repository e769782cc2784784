"""Scan targets: parsed and validated before anything runs, so nothing a user types becomes an option or a shell word.

Accepted forms, IPv4 and IPv6: an address (`10.0.0.5`, `fe80::1`), a CIDR block (`10.0.0.0/24`),
a range (`10.0.0.1-10.0.0.40`, or nmap's last-octet form `10.0.0.1-40`), and a hostname
(`pacs01.example.org`). Anything else — a leading `-`, spaces, quotes, `;`, `|`, `$`, globs — is refused.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from discovery.records.model import EstateError

# Ranges larger than this need explicit confirmation (--yes on the CLI, a question in the GUI).
CONFIRM_ABOVE = 1024  # a /22
MAX_TARGET_LENGTH = 255

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")
_SHORT_RANGE = re.compile(r"^(\d{1,3}\.\d{1,3}\.\d{1,3}\.)(\d{1,3})-(\d{1,3})$")


class TargetError(EstateError):
    """A target the user typed is not an address, block, range or hostname."""


@dataclass(frozen=True, slots=True)
class Target:
    text: str           # canonical form
    kind: str           # "address", "network", "range", "hostname"
    count: int          # how many addresses it covers (1 for a hostname)
    blocks: tuple[str, ...] = ()  # what to hand nmap, when not `text` itself (a full range as CIDR blocks)

    @property
    def nmap_args(self) -> tuple[str, ...]:
        return self.blocks or (self.text,)

    @property
    def ip_version(self) -> int | None:
        """4 or 6; None for a hostname (nmap resolves it to IPv4)."""
        if self.kind == "hostname":
            return None
        return 6 if ":" in self.text else 4


def parse_target(text: str) -> Target:
    """Return the validated target; raises TargetError naming the problem."""
    if not isinstance(text, str) or not text:
        raise TargetError("empty target")
    shown = text if len(text) <= 60 else text[:57] + "..."
    if len(text) > MAX_TARGET_LENGTH:
        raise TargetError(f"target too long: {shown!r}")
    if text.startswith("-"):
        raise TargetError(f"{shown!r} is not a target (targets cannot start with '-')")
    if not text.isascii() or not text.isprintable() or any(c.isspace() for c in text):
        raise TargetError(f"{shown!r} is not a target (spaces and control characters are not allowed)")
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise TargetError(f"{shown!r} is not a valid CIDR block") from None
        return Target(str(network), "network", network.num_addresses)
    if m := _SHORT_RANGE.match(text):
        prefix, first, last = m[1], int(m[2]), int(m[3])
        _check_address(prefix + "0", shown)
        if not 0 <= first <= last <= 255:
            raise TargetError(f"{shown!r} is not a valid range (first must be <= last <= 255)")
        return Target(f"{prefix}{first}-{last}", "range", last - first + 1)
    if text.count("-") == 1 and (":" in text or text.replace("-", "").replace(".", "").isdigit()):
        start_text, end_text = text.split("-")
        start, end = _check_address(start_text, shown), _check_address(end_text, shown)
        if start.version != end.version or int(end) < int(start):
            raise TargetError(f"{shown!r} is not a valid range (same IP version, first address first)")
        blocks = tuple(str(n) if n.num_addresses > 1 else str(n.network_address)
                       for n in ipaddress.summarize_address_range(start, end))
        return Target(f"{start}-{end}", "range", int(end) - int(start) + 1, blocks)
    try:
        address = ipaddress.ip_address(text)
        return Target(str(address), "address", 1)
    except ValueError:
        pass
    if text.replace(".", "").isdigit():
        raise TargetError(f"{shown!r} is not a valid IPv4 address")
    if _HOSTNAME.match(text):
        return Target(text.lower().rstrip("."), "hostname", 1)
    raise TargetError(f"{shown!r} is not an address, CIDR block, range or hostname")


def _check_address(text: str, shown: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise TargetError(f"{shown!r} is not a valid range ({text!r} is not an address)") from None


def parse_targets(texts: list[str] | tuple[str, ...]) -> list[Target]:
    """Return every target validated, duplicates removed; raises TargetError on the first bad one."""
    if not texts:
        raise TargetError("no targets given")
    return list({t.text: t for t in map(parse_target, texts)}.values())


def total_addresses(targets: list[Target]) -> int:
    """Return how many addresses the targets cover (hostnames count one each)."""
    return sum(t.count for t in targets)
