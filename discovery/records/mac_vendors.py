"""A MAC address's maker: the organisation IEEE assigned its prefix to, and whether that is a medical device
maker (GE HealthCare, Philips, Siemens Healthineers, Baxter, BD, Carestream, Fujifilm...).

The table is data, discovery/data/oui.json: IEEE's MA-L (24-bit), MA-M (28-bit) and MA-S (36-bit) listings,
built by scripts/update_oui.py (source and date in discovery/data/SOURCE.md), and a hand-kept "medical" list of
organisation-name patterns → a clean maker name. It is read on the first lookup (some 2 MB, ~60 ms) and kept.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

OUI_TABLE = Path(__file__).resolve().parents[1] / "data" / "oui.json"
_REGISTRIES = (("MA-S", 9), ("MA-M", 7), ("MA-L", 6))   # longest assignment first: a block names its holder
_MAC = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MacVendor:
    prefix: str                # the assignment that matched: "0019C5" (MA-L), "70B3D5123" (MA-S)
    registry: str              # "MA-L", "MA-M" or "MA-S"
    organisation: str          # as IEEE lists it
    maker: str | None = None   # a clean maker name, for the medical device makers the table knows
    medical: bool = False      # the organisation makes medical devices


def lookup_mac(mac: str | None) -> MacVendor | None:
    """Return who a MAC's prefix was assigned to; None for an unknown, private or locally administered
    (randomised, virtual) MAC, a group MAC, or text that is not a MAC."""
    digits = (mac or "").lower().replace(":", "").replace("-", "").replace(".", "")
    if not _MAC.fullmatch(digits) or int(digits[:2], 16) & 0x03:   # group (bit 0) or locally administered (bit 1)
        return None
    tables, _ = _table()
    digits = digits.upper()
    for registry, length in _REGISTRIES:
        organisation = tables[registry].get(digits[:length])
        if organisation is not None:
            maker = medical_maker(organisation)
            return MacVendor(prefix=digits[:length], registry=registry, organisation=organisation, maker=maker,
                             medical=maker is not None)
    return None


def medical_maker(organisation: str) -> str | None:
    """Return the clean maker name when `organisation` (as IEEE lists it) is a medical device maker, else None."""
    _, medical = _table()
    return next((maker for pattern, maker in medical if pattern.search(organisation)), None)


@functools.cache
def _table() -> tuple[dict[str, dict[str, str]], tuple[tuple[re.Pattern, str], ...]]:
    document = json.loads(OUI_TABLE.read_text(encoding="utf-8"))
    medical = tuple((re.compile(entry["pattern"], re.IGNORECASE), entry["maker"]) for entry in document["medical"])
    return {registry: document.get(registry, {}) for registry, _ in _REGISTRIES}, medical
