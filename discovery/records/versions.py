"""Versions as shown and as parts: exact versions, ranges, lower bounds and wildcards from banners and packages.

A `Version` keeps the text it came from and the numbers end-of-life rules compare ("9.2p1" → (9, 2),
"1:9.2p1-2+deb12u3" → (9, 2) with epoch 1 and revision "2+deb12u3"). A `VersionSpec` says what a
banner really claims: one exact version, a range ("9.6.0 - 9.6.7"), a lower bound ("9.6.0 or later"),
an upper bound ("2.2 or earlier") or a wildcard ("2.6.X"). Only an exact version is a version; the
others are sets of versions, and `spec.covers(prefix)` tells whether a release cycle lies in that set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Parts = tuple[int, ...]

_NUMBERS = re.compile(r"^[vV]?(\d+(?:\.\d+)*)(.*)$", re.S)
_EPOCH = re.compile(r"^(\d+):(.+)$")
_RANGE = re.compile(r"^(?P<low>\S.*?)\s+-\s+(?P<high>\S.*)$")
_AT_LEAST = re.compile(r"^(?P<v>\S.*?)\s*(?:or later|or newer|or above|or higher|\+|and later|and up)$", re.I)
_AT_MOST = re.compile(r"^(?P<v>\S.*?)\s*(?:or earlier|or older|or below|or lower|and earlier)$", re.I)
_WILDCARD = re.compile(r"^[vV]?(?P<prefix>\d+(?:\.\d+)*)\.[xX*]$")
_PACKAGE = re.compile(r"^\d[\w.+~:-]*-[\w.+~]+$")
_BANNER_VERSION = re.compile(r"(?:^|\s)(?=[vV]?\d)")


@dataclass(frozen=True, slots=True)
class Version:
    """One exact version: as shown, and as the parts end-of-life rules compare."""
    text: str                      # as shown: "1:9.2p1-2+deb12u3", "9.2p1 Debian 2+deb12u3"
    parts: Parts                   # the release numbers: (9, 2)
    upstream: str                  # the upstream version: "9.2p1"
    suffix: str | None = None      # what follows the numbers in the upstream version: "p1", "u382", "k"
    epoch: int | None = None       # Debian/RPM epoch: 1
    revision: str | None = None    # Debian revision or RPM release: "2+deb12u3", "99.el7"
    note: str | None = None        # words after the version in a banner: "Debian 2+deb12u3"

    def startswith(self, prefix: Parts) -> bool:
        """Return whether this version's parts begin with `prefix` (9.6.24 starts with 9.6)."""
        return self.parts[:len(prefix)] == prefix

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """What a version string claims: kind is "exact", "range", "at-least", "at-most", "wildcard" or "unknown"."""
    text: str | None
    kind: str
    version: Version | None = None  # for "exact"
    low: Parts | None = None        # inclusive; None: unbounded
    high: Parts | None = None       # inclusive; None: unbounded
    high_is_prefix: bool = False    # the high end is a wildcard: 2.6.X reaches up to every 2.6.*

    @property
    def is_exact(self) -> bool:
        return self.kind == "exact"

    def covers(self, prefix: Parts) -> bool:
        """Return whether some version in this spec starts with `prefix` (a release cycle's parts)."""
        if self.kind == "unknown":
            return False
        n = len(prefix)
        if self.low is not None and _cmp(self.low[:n], prefix) > 0:
            return False
        if self.high is not None:
            if self.high_is_prefix and len(self.high) < n:
                return prefix[:len(self.high)] <= self.high
            return _cmp(prefix, self.high[:n]) <= 0
        return True


def _cmp(a: Parts, b: Parts) -> int:
    """Compare two part tuples, a missing part counting as 0 (9.6 == 9.6.0)."""
    n = max(len(a), len(b))
    a2, b2 = a + (0,) * (n - len(a)), b + (0,) * (n - len(b))
    return (a2 > b2) - (a2 < b2)


def compare_parts(a: Parts, b: Parts) -> int:
    """Return -1, 0 or 1 as `a` is lower than, equal to or higher than `b` (missing parts count as 0)."""
    return _cmp(a, b)


def _split_parts(upstream: str) -> tuple[Parts, str | None] | None:
    match = _NUMBERS.match(upstream)
    if not match:
        return None
    parts = tuple(int(p) for p in match.group(1).split("."))
    suffix = match.group(2).strip() or None
    return parts, suffix


def parse_version(text: str | None, *, scheme: str = "auto") -> Version | None:
    """Return the one exact version `text` shows, or None when it shows none.

    `scheme` is "dpkg" or "rpm" for a package manager's version ([epoch:]upstream[-revision]),
    "banner" for a network banner (the first word is the version, the rest a note), or "auto"
    (a banner, whose first word may itself be a package version such as "2.4.6-99.el7").
    Ranges, bounds and wildcards are not versions: use parse_version_spec for those.
    """
    if text is None:
        return None
    shown = text.strip()
    if not shown:
        return None
    word, note = shown, None
    if scheme in ("auto", "banner"):
        first, _, rest = shown.partition(" ")
        word, note = first.rstrip(";,"), rest.strip() or None
    epoch = None
    match = _EPOCH.match(word)
    if match and scheme in ("dpkg", "rpm", "auto"):
        epoch, word = int(match.group(1)), match.group(2)
    upstream, revision = word, None
    if "-" in word and (scheme in ("dpkg", "rpm") or (scheme == "auto" and _PACKAGE.match(word))):
        upstream, _, revision = word.rpartition("-")
    if note and revision is None:
        # "9.2p1 Debian 2+deb12u3", "8.9p1 Ubuntu 3ubuntu0.10": the distribution's revision follows its name.
        words = note.split()
        if len(words) >= 2 and words[0].isalpha() and words[1][:1].isdigit():
            revision = words[1]
    split = _split_parts(upstream)
    if split is None:
        return None
    parts, suffix = split
    return Version(text=shown, parts=parts, upstream=upstream, suffix=suffix, epoch=epoch,
                   revision=revision, note=note)


def parse_version_spec(text: str | None, *, scheme: str = "auto") -> VersionSpec:
    """Return what `text` claims: an exact version, a range, a bound, a wildcard, or "unknown"."""
    if text is None or not text.strip():
        return VersionSpec(text=text, kind="unknown")
    shown = text.strip()
    if scheme in ("auto", "banner"):
        if match := _WILDCARD.match(shown):
            prefix = tuple(int(p) for p in match.group("prefix").split("."))
            return VersionSpec(text=shown, kind="wildcard", low=prefix, high=prefix, high_is_prefix=True)
        if match := _AT_LEAST.match(shown):
            low = _bound(match.group("v"))
            if low is not None:
                return VersionSpec(text=shown, kind="at-least", low=low[0])
        if match := _AT_MOST.match(shown):
            high = _bound(match.group("v"))
            if high is not None:
                return VersionSpec(text=shown, kind="at-most", high=high[0], high_is_prefix=high[1])
        if match := _RANGE.match(shown):
            low, high = _bound(match.group("low")), _bound(match.group("high"))
            if low is not None and high is not None:
                return VersionSpec(text=shown, kind="range", low=low[0], high=high[0], high_is_prefix=high[1])
    version = parse_version(shown, scheme=scheme)
    if version is None:
        return VersionSpec(text=shown, kind="unknown")
    return VersionSpec(text=shown, kind="exact", version=version, low=version.parts, high=version.parts)


def _bound(text: str) -> tuple[Parts, bool] | None:
    """One end of a range: its parts, and whether it is a wildcard's prefix."""
    text = text.strip()
    if match := _WILDCARD.match(text):
        return tuple(int(p) for p in match.group("prefix").split(".")), True
    version = parse_version(text, scheme="banner")
    return (version.parts, False) if version else None


def split_banner(banner: str | None) -> tuple[str | None, str | None]:
    """Return (product, version text) of a one-line banner such as "Apache httpd 2.2.15" or
    "PostgreSQL DB 9.6.0 - 9.6.7": the version starts at the first word that starts with a digit."""
    if banner is None or not banner.strip():
        return None, None
    banner = banner.strip()
    match = _BANNER_VERSION.search(banner)
    if match is None:
        return banner, None
    product = banner[:match.start()].strip() or None
    return product, banner[match.end():].strip() or None


def parse_cycle(cycle: str) -> Parts | None:
    """Return a release cycle's parts when the cycle is a plain dotted number ("9.6" → (9, 6)), else None."""
    if re.fullmatch(r"\d+(?:\.\d+)*", cycle):
        return tuple(int(p) for p in cycle.split("."))
    return None
