"""Legacy and insecure-protocol findings: end-of-life software and operating systems, cleartext protocols.

Data, not if-statements. discovery/data/eol.json (built by scripts/refresh_eol.py from endoflife.date
and the vendors' own lifecycles) holds each product's release cycles and end-of-support dates with
their sources, and the rules that lead from an nmap banner, a CPE, a package name, a database engine or
an OS name to a product. The insecure-protocol rules are discovery/analyses/protocol_rules.py's (with
discovery/data/protocols.json); `assess_inventory(inventory, table, as_of)` gives both kinds of finding
and is pure: the same inventory and date give the same findings.

What a verdict rests on, best first (the finding's `confidence`):
  high    the host's own report: its package (dpkg, rpm, registry), a version its process or server gave
          (a vCenter's own version, through the vSphere API);
  medium  an exact version in a network banner (nmap -sV);
  low     a banner's range whose whole span falls in one verdict, an OS guess (nmap -O, a distribution
          tag in a banner), a VM's guest OS as configured in vCenter (which nobody has to keep true).
A lower bound ("9.6.0 or later", VMware's "Windows Server 2016 or later") or a range spanning cycles with
different verdicts gives no verdict. Per host and product only the best-evidenced observations count (one
operating system per host: the host's own report before the OS configured for it in vCenter), and there is
one finding per host, product and release cycle. A vCenter on no host the inventory holds is judged on its
own: its rules are platform-eol and platform-eol-soon (not eol, which marks a host legacy).

Severity policy (as_of is the assessment date):
  eol / os-eol            past end of support: high; critical when past it by more than 2 years;
  eol-soon / os-eol-soon  support ends within 180 days: medium;
  eol-upstream            upstream support ended but the host's distribution still maintains its package
                          (Debian, Ubuntu, RHEL backport security fixes): low;
  insecure protocols      telnet, SMBv1, SSLv2/3: high; FTP, TLS 1.0/1.1, HL7 v2 over plain MLLP,
                          DICOM without TLS, credentials over plain HTTP: medium (see protocols.json);
  unidentified            open port, nothing known: low; only a port-number guess: info.
The end of support is a product's regular end (endoflife.date's "eol"); paid extended support (ESU,
ELS, LTSS) is named in the finding but does not count. Debian is the exception: its LTS is the Debian
project's own, free, and counts (eol.json says so per product, with the reason).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from discovery.records.model import OPEN_STATES, Finding, service_row_id
from discovery.analyses.protocol_rules import assess_protocols, load_protocol_rules
from discovery.analyses.vmware_rules import assess_vmware, vcenter_servers, vm_configured_os
from discovery.records.versions import (Parts, Version, VersionSpec, compare_parts, parse_cycle, parse_version,
                                        parse_version_spec)

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEFAULT_TABLE = DATA_DIR / "eol.json"

EOL_SOON_DAYS = 180
CRITICAL_AFTER_DAYS = 730
OS_GUESS_MIN_ACCURACY = 85          # nmap OS matches below this accuracy are not used at all
HOST_SOURCES = {"local", "ssh", "bundle", "postgresql", "mysql"}  # services whose version the host or server itself gave
PACKAGE_SOURCES = {"dpkg", "rpm"}
CONFIDENCE_RANK = {"high": 0, "medium": 1, "low": 2}
KIND_RANK = {"package": 0, "database": 1, "platform": 1, "service": 2, "database-banner": 3, "cpe": 4,
             "os": 0, "banner-os": 1, "vm-configured": 2, "os-guess": 3}
VCENTER_PRODUCT = "vmware-vcenter"
ESXI_PRODUCT = "vmware-esxi"


class EolDataError(ValueError):
    """The end-of-life table or the protocol rules are missing or malformed."""


# --- the table ---------------------------------------------------------------------------------------

def _date(value) -> date | bool | None:
    if isinstance(value, bool) or value is None:
        return value
    return date.fromisoformat(value)


@dataclass(frozen=True, slots=True)
class Cycle:
    """One release cycle of a product and when its support ends."""
    product: str
    name: str                              # "9.6", "2012-r2"
    parts: Parts | None                    # (9, 6) where the cycle is a dotted number
    label: str | None = None               # "Windows Server 2012 R2"
    released: date | None = None
    eol: date | bool | None = None         # regular end of support; True: ended (no date); False: no end yet
    extended: date | bool | None = None    # extended (often paid) support
    latest: str | None = None
    latest_parts: Parts | None = None
    source: str | None = None              # the entry's own source (vendor data)
    upstream_eol: date | bool | None = None
    follows: tuple[dict, ...] = ()         # IIS: the Windows releases it ships with
    shipped_by: tuple[dict, ...] = ()      # OpenSSH: the distribution releases that shipped it


@dataclass(frozen=True, slots=True)
class Product:
    slug: str
    title: str
    kind: str                              # "os" or "software"
    source: str                            # "endoflife.date" or "vendor"
    url: str
    match: str                             # "prefix", "build", "ceiling"
    support_end: str                       # "eol" or "extended"
    distro_packaged: bool
    cycles: tuple[Cycle, ...]
    origin: str | None = None              # the endoflife.date product it was copied from
    note: str | None = None
    upstream_support: str | None = None    # "latest-release-only": only distributions support older releases
    label_style: str | None = None         # "prefix": the title before the label (XP SP3); "cycle": no label

    def end_of(self, cycle: Cycle) -> date | bool | None:
        """Return when `cycle`'s support ends under this product's policy."""
        if self.support_end == "extended" and cycle.extended not in (None, False):
            return cycle.extended
        return cycle.eol

    def name_of(self, cycle_name: str, label: str | None = None) -> str:
        """'PostgreSQL 9.6', 'Windows Server 2012 R2', 'Microsoft SQL Server 2016 SP3'."""
        if self.label_style == "cycle":
            return f"{self.title} {cycle_name}"
        if label and not label[0].isdigit() and self.label_style != "prefix":
            return label
        return f"{self.title} {label or cycle_name}"

    def cycle(self, name: str) -> Cycle | None:
        return next((c for c in self.cycles if c.name == name), None)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the table says about one version of one product at one date."""
    product: str
    status: str                            # "supported", "eol-soon", "eol", "unknown"
    reason: str
    cycle: str | None = None
    name: str | None = None                # "PostgreSQL 9.6"
    end: date | None = None                # the end of support the status rests on
    extended: date | None = None           # extended (paid) support after `end`
    basis: str = "cycle"                   # "cycle", "candidates", "older-than-tracked", "distribution", "none"
    source: str | None = None              # where `end` comes from
    upstream_end: date | None = None       # where a distribution's maintenance outlives upstream support
    upstream_status: str | None = None
    maintained_by: str | None = None       # "Debian 12"
    candidates: tuple[str, ...] = ()
    bound: bool = False                    # candidates ending on different dates: `end` is the latest of them
    older_than: str | None = None          # older than every tracked release: the oldest one's name ("PHP 4.3")


class EolTable:
    """The shipped (or given) end-of-life table: products with their cycles, and the matching rules."""

    def __init__(self, raw: dict):
        try:
            self.raw = raw
            self.schema = raw["schema"]
            self.sources = raw["sources"]
            self.products: dict[str, Product] = {slug: _product(slug, p) for slug, p in raw["products"].items()}
            match = raw["match"]
            self.banners = [dict(r, _re=_rx(r["pattern"]), _version_re=_rx(r.get("version_pattern")))
                            for r in match["banners"]]
            self.extra_info = [dict(r, _re=_rx(r["pattern"])) for r in match["extra_info"]]
            self.cpes: dict[str, str] = match["cpes"]
            self.packages = [dict(r, _re=_rx(r["pattern"])) for r in match["packages"]]
            self.databases: dict[str, str] = match["databases"]
            self.os_ids: dict[str, str] = match["os_ids"]
            self.os_names = [dict(r, _re=_rx(r["pattern"])) for r in match["os_names"]]
            self.os_banners = [_rx(r["pattern"]) for r in match.get("os_banners", ())]
            self.version_rewrites = {p: [(_rx(a), b) for a, b in rs] for p, rs in match["version_rewrites"].items()}
            self.distro_tags = [dict(r, _re=_rx(r["pattern"])) for r in match["distro_tags"]]
            self.third_party = [_rx(p) for p in match["third_party_versions"]]
            self.el_family = set(match["el_family"])
            self._package_rules: dict[tuple[str | None, str], dict | None] = {}  # (source, name) → rule, memoised
        except (KeyError, TypeError, ValueError, re.error) as exc:
            raise EolDataError(f"malformed end-of-life table: {exc!r}") from exc
        eod = self.sources.get("endoflife.date", {})
        when = eod.get("commit_date") or eod.get("generated_at")
        commit = (eod.get("commit") or "")[:8]
        self.source_label = "endoflife.date" + (f" commit {commit}" if commit else "") + (f" ({when})" if when else "")

    def source_of(self, product: Product, cycle: Cycle | None) -> str:
        """Say where a cycle's date comes from: the vendor entry's own source, or endoflife.date's page."""
        if cycle is not None and cycle.source:
            return cycle.source
        return f"{product.url} ({self.source_label}, MIT)"

    def package_rule(self, source: str | None, name: str) -> dict | None:
        """Return the first package rule matching a package name from `source` (memoised: an estate repeats names)."""
        key = (source, name)
        if key not in self._package_rules:
            self._package_rules[key] = next(
                (r for r in self.packages if source in r["sources"] and r["_re"].search(name)), None)
        return self._package_rules[key]

    def rewrite(self, product: str, text: str) -> str:
        for pattern, replacement in self.version_rewrites.get(product, ()):
            text = pattern.sub(replacement, text, count=1)
        return text

    def distro_of(self, *texts: str | None) -> tuple[str, str | None] | None:
        """Return the distribution (product, cycle or None) a version or banner text names, e.g. '+deb12u3'."""
        word = None
        for text in texts:
            if not text:
                continue
            for tag in self.distro_tags:
                match = tag["_re"].search(text)
                if match:
                    cycle = match.groupdict().get("cycle")
                    if cycle:
                        return tag["product"], cycle
                    word = word or (tag["product"], None)
        return word

    def is_third_party(self, version: str | None) -> bool:
        """Return whether a package version shows a vendor's own repository (PGDG, nginx.org, MariaDB...)."""
        return bool(version) and any(p.search(version) for p in self.third_party)


def _rx(pattern: str | None) -> re.Pattern | None:
    return re.compile(pattern, re.I) if pattern else None


def _product(slug: str, raw: dict) -> Product:
    cycles = []
    for c in raw["cycles"]:
        latest = c.get("latest")
        latest_version = parse_version(latest, scheme="banner") if isinstance(latest, str) else None
        cycles.append(Cycle(
            product=slug, name=c["cycle"], parts=parse_cycle(c["cycle"]), label=c.get("label"),
            released=_date(c.get("released")), eol=_date(c.get("eol")), extended=_date(c.get("extended")),
            latest=latest, latest_parts=latest_version.parts if latest_version else None, source=c.get("source"),
            upstream_eol=_date(c.get("upstream_eol")), follows=tuple(c.get("follows", ())),
            shipped_by=tuple(c.get("shipped_by", ()))))
    return Product(slug=slug, title=raw["title"], kind=raw["kind"], source=raw["source"], url=raw["url"],
                   match=raw["match"], support_end=raw["support_end"], distro_packaged=raw["distro_packaged"],
                   cycles=tuple(cycles), origin=raw.get("from"), note=raw.get("note"),
                   upstream_support=raw.get("upstream_support"), label_style=raw.get("label_style"))


@functools.lru_cache(maxsize=8)
def _load_table(path: str) -> EolTable:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EolDataError(f"cannot read the end-of-life table {path}: {exc}") from exc
    return EolTable(raw)


def load_eol_table(path: Path | None = None) -> EolTable:
    """Return the end-of-life table at `path` (default: the shipped discovery/data/eol.json), cached;
    raises EolDataError when it cannot be read or is malformed."""
    return _load_table(str(Path(path or DEFAULT_TABLE).resolve()))


# --- verdicts ----------------------------------------------------------------------------------------

def _status(end: date | bool | None, as_of: date) -> str:
    if end is None:
        return "unknown"
    if end is False:
        return "supported"
    if end is True:
        return "eol"
    days = (end - as_of).days
    if days <= 0:
        return "eol"
    return "eol-soon" if days <= EOL_SOON_DAYS else "supported"


def _candidates(product: Product, spec: VersionSpec) -> tuple[list[Cycle], str]:
    """Return the cycles a version spec may fall in, and how they were found."""
    if spec.kind == "exact":
        version = spec.version
        if product.match == "build":
            found = [c for c in product.cycles if c.latest_parts and c.latest_parts[:3] == version.parts[:3]]
            return found, "cycle" if len(found) == 1 else "candidates"
        if product.match == "ceiling":
            group = sorted((c for c in product.cycles if c.latest_parts and c.latest_parts[:2] == version.parts[:2]),
                           key=lambda c: c.latest_parts)
            for c in group:
                if compare_parts(c.latest_parts, version.parts) >= 0:
                    # the lowest service pack the table tracks: the build may belong to an earlier, untracked one
                    earlier = c is group[0] and re.search(r"-sp\d+$", c.name) is not None
                    return [c], "cycle-or-earlier" if earlier else "cycle"
            return group[-1:], "cycle"
        numbered = [c for c in product.cycles if c.parts is not None]
        prefixed = [c for c in numbered if version.startswith(c.parts)]
        if prefixed:
            longest = max(len(c.parts) for c in prefixed)
            return [c for c in prefixed if len(c.parts) == longest], "cycle"
        covered = [c for c in numbered if spec.covers(c.parts)]
        return covered, "cycle" if len(covered) == 1 else "candidates"
    if spec.kind in ("range", "wildcard", "at-most"):
        found = [c for c in product.cycles if c.parts is not None and spec.covers(c.parts)]
        return found, "cycle" if len(found) == 1 else "candidates"
    return [], "none"


def _ends(product: Product, cycle: Cycle) -> list[tuple[date | bool | None, str]]:
    """A cycle's possible ends of support: one, or one per Windows release an IIS version ships with."""
    if len(cycle.follows) > 1:
        return [(_date(f["eol"]), f.get("label") or f["cycle"]) for f in cycle.follows]
    return [(product.end_of(cycle), product.name_of(cycle.name, cycle.label))]


def _common_name(product: Product, cycles: list[Cycle], spec: VersionSpec) -> str:
    """A name for several cycles at once: their labels' common start ("11 23H2"), else the spec as shown."""
    labels = [c.label or c.name for c in cycles]
    common = labels[0]
    for label in labels[1:]:
        while not label.startswith(common):
            common = common[:-1]
    common = common.rstrip(" (-/")
    if common and all(len(label) == len(common) or not label[len(common)].isalnum() for label in labels):
        return product.name_of(common, common)
    return f"{product.title} {spec.text}" if spec.text else f"{product.title} ({', '.join(labels)})"


def _older_than_tracked(product: Product, spec: VersionSpec) -> Cycle | None:
    """The oldest tracked cycle, when the spec lies wholly below it (MySQL 5.1 below 5.5)."""
    numbered = [c for c in product.cycles if c.parts is not None]
    if not numbered or spec.high is None:
        return None
    oldest = min(numbered, key=lambda c: c.parts)
    if compare_parts(spec.high[:len(oldest.parts)], oldest.parts) < 0:
        return oldest
    return None


def assess_version(table: EolTable, product: str, version: str | Version | VersionSpec | None, as_of: date, *,
                   cycles: tuple[str, ...] = (), scheme: str = "auto") -> Verdict:
    """Return the verdict on `version` of `product` at `as_of` (or on the named `cycles`, e.g. from an OS name).

    Ranges and wildcards get a verdict only when every cycle they span agrees; a lower bound never does.
    Raises KeyError for a product the table does not have.
    """
    p = table.products[product]
    if isinstance(version, VersionSpec):
        spec = version
    elif isinstance(version, Version):
        spec = VersionSpec(text=version.text, kind="exact", version=version, low=version.parts, high=version.parts)
    else:
        spec = parse_version_spec(version, scheme=scheme)
    if cycles:
        found = [c for name in cycles if (c := p.cycle(name)) is not None]
        basis = "cycle" if len(found) == 1 else "candidates"
    else:
        found, basis = _candidates(p, spec)
    if not found:
        if spec.kind == "at-least":
            return Verdict(product=product, status="unknown", basis="none",
                           reason=f"{spec.text!r} is a lower bound, not a version: any release from it on fits")
        oldest = _older_than_tracked(p, spec) if spec.kind != "unknown" and not cycles else None
        if oldest is not None:
            end = p.end_of(oldest)
            if _status(end, as_of) == "eol":
                n = len(oldest.parts)
                shown = ".".join(str(x) for x in (spec.high or ())[:n]) or spec.text
                return Verdict(
                    product=product, status="eol", cycle=shown, name=f"{p.title} {shown}",
                    end=end if isinstance(end, date) else None, basis="older-than-tracked",
                    source=table.source_of(p, oldest), older_than=p.name_of(oldest.name, oldest.label),
                    reason=f"older than {p.name_of(oldest.name, oldest.label)}, the oldest release the table "
                           f"tracks, whose support ended {end if isinstance(end, date) else 'long ago'}")
        what = "no version" if spec.kind == "unknown" else f"{spec.text!r}"
        return Verdict(product=product, status="unknown", basis="none",
                       reason=f"{what} matches no release cycle of {p.title} in the table")
    judged = []
    for c in found:
        for end, label in _ends(p, c):
            judged.append((c, end, label, _status(end, as_of)))
    statuses = {s for *_, s in judged}
    labels = tuple(dict.fromkeys(label for _, _, label, _ in judged))
    if len(statuses) != 1 or statuses == {"unknown"}:
        return Verdict(product=product, status="unknown", basis="candidates", candidates=labels,
                       reason=f"{spec.text or 'it'} may be any of {', '.join(labels)}, whose verdicts differ")
    status = statuses.pop()
    dates = [e for _, e, _, _ in judged if isinstance(e, date)]
    # Several cycles agreeing: an ended span ended no later than its last end; a live one lasts at least to its first.
    end = (max(dates) if status == "eol" else min(dates)) if dates else None
    cycle = found[0] if len(found) == 1 else None
    if len(judged) > 1:
        basis = "candidates"
    extended = None
    if cycle is not None and p.support_end == "eol" and isinstance(cycle.extended, date):
        extended = cycle.extended
    name = p.name_of(cycle.name, cycle.label) if cycle else _common_name(p, found, spec)
    if basis == "cycle-or-earlier":  # "SQL Server 2000 (build 8.00.528)": its service pack is not known
        release = re.sub(r"\s*SP\d+$", "", cycle.label or cycle.name)
        name = f"{p.name_of(cycle.name, release)} (build {spec.text})"
    words = {"eol": "support ended", "eol-soon": "support ends", "supported": "supported until"}[status]
    if status == "supported" and end is None:
        reason = f"{name}: supported, no end date announced"
    else:
        reason = f"{name}: {words} {end.isoformat() if end else '(date not published)'}"
    if len(judged) > 1:
        reason += f" (all of {', '.join(labels)} agree)"
    return Verdict(product=product, status=status, reason=reason, cycle=cycle.name if cycle else None,
                   name=name, end=end, extended=extended, basis=basis,
                   bound=status == "eol" and (len(set(dates)) > 1 or spec.kind == "wildcard"
                                              or basis == "cycle-or-earlier"),
                   source=table.source_of(p, cycle or found[0]), candidates=labels if len(judged) > 1 else ())


# --- observations: what the inventory says about products ---------------------------------------------

@dataclass(frozen=True, slots=True)
class Observation:
    """One piece of evidence that a host (or a platform such as a vCenter, on no known host) runs a version of a
    product."""
    host_id: str | None
    product: str
    spec: VersionSpec
    confidence: str                        # "high", "medium", "low"
    kind: str                              # "package", "database", "service", "cpe", "platform", "os", "banner-os",
                                           # "vm-configured", "os-guess"
    subject_type: str
    subject_id: str
    evidence: str
    cycles: tuple[str, ...] = ()           # cycles named outright (an OS name) instead of a version
    distro: tuple[str, str | None] | None = None  # the distribution release whose build this is
    distro_maintained: bool = False        # whether that distribution maintains this build
    alternatives: tuple[tuple[str, tuple[str, ...]], ...] = ()  # other products an OS guess may be, with cycles


def _spec_confidence(spec: VersionSpec, exact: str) -> str:
    return exact if spec.kind == "exact" else "low"


def _banner_text(row: dict) -> str:
    words = [row.get("product"), row.get("version")]
    text = " ".join(w for w in words if w)
    if row.get("extra_info"):
        text += f" ({row['extra_info']})"
    return text or (row.get("name") or "?")


def identify_service(row: dict, table: EolTable) -> list[Observation]:
    """Return the products a service row shows: its banner's product, products in its extra info, its CPEs."""
    host_id = row["host_id"]
    sid = service_row_id(row)
    where = f"{row.get('protocol') or 'tcp'}/{row['port']}"
    own = row.get("source") in HOST_SOURCES
    exact = "high" if own else "medium"
    origin = "reported by the service itself" if own else "nmap service banner"
    product_text, version_text, extra = row.get("product"), row.get("version"), row.get("extra_info")
    found: list[Observation] = []
    seen: set[str] = set()

    def add(product, text, kind, evidence):
        spec = parse_version_spec(table.rewrite(product, text) if text else text, scheme="banner")
        distro = table.distro_of(text, extra) if kind != "cpe" else None
        maintained = bool(distro) and table.products[product].distro_packaged and not table.is_third_party(text)
        found.append(Observation(host_id=host_id, product=product, spec=spec, kind=kind,
                                 confidence=_spec_confidence(spec, exact if kind != "cpe" else "medium"),
                                 subject_type="service", subject_id=sid, evidence=evidence,
                                 distro=distro, distro_maintained=maintained))
        seen.add(product)

    if product_text:
        for rule in table.banners:
            if not rule["_re"].search(product_text):
                continue
            text = version_text
            if rule["_version_re"] is not None:
                match = rule["_version_re"].search(version_text or "")
                if not match:
                    continue
                text = match.group("version")
            add(rule["product"], text, "service", f"{where} {_banner_text(row)} — {origin}")
            break
    if product_text and not found and any(rx.search(product_text) for rx in table.os_banners):
        releases = [_os_release(table, part) for part in _alternatives(_normalise_os_name(product_text))]
        if releases and all(r is not None and r[1] for r in releases) and len({r[0] for r in releases}) == 1:
            product = releases[0][0]
            cycles = tuple(dict.fromkeys(c for r in releases for c in r[1]))
            spec = VersionSpec(text=product_text, kind="range")
            found.append(Observation(host_id=host_id, product=product, spec=spec,
                                     confidence="medium" if len(cycles) == 1 else "low", kind="service",
                                     subject_type="service", subject_id=sid, cycles=cycles,
                                     evidence=f"{where} {_banner_text(row)} — nmap names the Windows release that "
                                              "answers"))
            seen.add(product)
    for rule in table.extra_info:
        match = rule["_re"].search(extra or "")
        if match and rule["product"] not in seen:
            add(rule["product"], match.group("version"), "service",
                f"{where} {_banner_text(row)} — {rule['product']} named in the banner's details")
    for cpe in row.get("cpes") or ([row["cpe"]] if row.get("cpe") else []):
        key, cpe_version = _cpe_parts(cpe)
        product = table.cpes.get(key) if key else None
        # Only when no banner rule named the product (nmap's CPE then names the same software), and only an
        # application CPE: an OS CPE on a service (cpe:/o:microsoft:windows) describes the host, not the service.
        if not product or found or not key.startswith("a:"):
            continue
        add(product, cpe_version or version_text, "cpe", f"{where} CPE {cpe} — nmap")
        break
    return found


def _cpe_parts(cpe: str) -> tuple[str | None, str | None]:
    if cpe.startswith("cpe:2.3:"):
        parts = cpe[len("cpe:2.3:"):].split(":")
    elif cpe.startswith("cpe:/"):
        parts = cpe[len("cpe:/"):].split(":")
    else:
        return None, None
    if len(parts) < 3:
        return None, None
    version = parts[3] if len(parts) > 3 and parts[3] not in ("", "*", "-") else None
    return ":".join(parts[:3]).lower(), version


def identify_software(row: dict, table: EolTable, host_os: tuple[str, str] | None) -> Observation | None:
    """Return the product an installed package is, with the distribution that maintains it where known."""
    source, name, version = row.get("source"), row.get("name"), row.get("version")
    if not name:
        return None
    rule = table.package_rule(source, name)
    if rule is None:
        return None
    product = rule["product"]
    scheme = source if source in PACKAGE_SOURCES else "banner"
    spec = parse_version_spec(table.rewrite(product, version) if version else version, scheme=scheme)
    distro, maintained = None, False
    if source in PACKAGE_SOURCES and rule.get("distro", True) and table.products[product].distro_packaged \
            and not table.is_third_party(version):
        distro = _package_distro(table, version, host_os)
        maintained = distro is not None and distro[1] is not None
    return Observation(host_id=row["host_id"], product=product, spec=spec,
                       confidence="high" if spec.kind == "exact" else "low", kind="package",
                       subject_type="software", subject_id=f"{row['host_id']}:software/{name}",
                       evidence=f"{source} package {name} {version or '(no version)'}",
                       distro=distro, distro_maintained=maintained)


def _package_distro(table: EolTable, version: str | None, host_os: tuple[str, str] | None):
    tagged = table.distro_of(version)
    if tagged and tagged[1]:
        product, cycle = tagged
        if product == "rhel" and host_os and host_os[0] in table.el_family and host_os[1] == cycle:
            return host_os  # an .el8 package on Rocky 8 is Rocky's
        return tagged
    return host_os


def identify_database(row: dict, table: EolTable) -> Observation | None:
    """Return the product a database row is: its version is the server's own when a process reported it."""
    engine, version = (row.get("engine") or "").lower(), row.get("version")
    product = table.databases.get(engine)
    for rule in table.banners:  # MariaDB speaking the MySQL protocol: "5.5.5-10.3.39-MariaDB"
        if rule["_version_re"] is not None and rule["_re"].search(engine) and version \
                and (match := rule["_version_re"].search(version)):
            product, version = rule["product"], match.group("version")
            break
    if product is None:
        return None
    own = bool(row.get("process") or row.get("pid"))
    spec = parse_version_spec(version, scheme="banner")
    distro = table.distro_of(version)
    maintained = bool(distro) and table.products[product].distro_packaged and not table.is_third_party(version)
    subject = row.get("id") or f"{row['host_id']}:db/{row.get('engine')}/{row.get('port', '-')}"
    how = "reported by the server's own process" if own else "from the service banner"
    return Observation(host_id=row["host_id"], product=product, spec=spec,
                       confidence=_spec_confidence(spec, "high" if own else "medium"),
                       kind="database" if own else "database-banner",
                       subject_type="database", subject_id=subject,
                       evidence=f"{row.get('engine')} {row.get('version') or '(no version)'} on port "
                                f"{row.get('port', '?')} — {how}", distro=distro, distro_maintained=maintained)


def identify_vcenters(inventory: dict, table: EolTable) -> list[Observation]:
    """Return each vCenter's own version as the server reported it (high), on the host it runs on where the
    inventory holds exactly one with its address, else on no host (subject: the platform object)."""
    if VCENTER_PRODUCT not in table.products:
        return []
    found = []
    for obj, host_id in vcenter_servers(inventory):
        details = obj.get("details") or {}
        spec = parse_version_spec(details.get("version"), scheme="banner")
        shown = details.get("product") or " ".join(w for w in ("vCenter Server", details.get("version")) if w)
        found.append(Observation(host_id=host_id, product=VCENTER_PRODUCT, spec=spec, kind="platform",
                                 confidence=_spec_confidence(spec, "high"), subject_type="platform",
                                 subject_id=obj["id"], evidence=f"the vCenter at {obj.get('server')} reports {shown}"))
    return found


def identify_os(host: dict, table: EolTable) -> list[Observation]:
    """Return what a host says its operating system is (high), or nmap's best OS guess (low); and, for a VM, the
    guest OS configured in vCenter (low) where the host's own report names another or none (the name vCenter gives
    a VM without VMware Tools is the configured one: judged as that, not as the host's report)."""
    host_id = host["id"]
    name, version, os_id = host.get("os_name"), host.get("os_version"), host.get("os_id")
    vm_os: list[Observation] = []
    if (configured := vm_configured_os(host)) is not None:
        configured_name, name_is_configured = configured
        if configured_name != name or name_is_configured and not (os_id or version):
            obs = _os_from_name(table, host_id, configured_name, None, "low", "vm-configured",
                                f"vCenter's configured guest OS: {configured_name}")
            vm_os = [obs] if obs else []
            if configured_name == name:
                return vm_os
    matches = host.get("os_matches") or []
    guessed = os_id is None and bool(matches) and name == matches[0].get("name")
    if (name or os_id) and not guessed:
        shown = " ".join(w for w in (name, version) if w)
        obs = _os_from_name(table, host_id, shown, version, "high", "os", f"the host reports {shown}")
        if obs is None and os_id and (os_id.lower() in table.os_ids):
            product = table.os_ids[os_id.lower()]
            spec = parse_version_spec(table.rewrite(product, version) if version else None, scheme="banner")
            obs = Observation(host_id=host_id, product=product, spec=spec, confidence=_spec_confidence(spec, "high"),
                              kind="os", subject_type="host", subject_id=host_id,
                              evidence=f"the host reports {shown or os_id} (os-release ID {os_id})")
        return ([obs] if obs else []) + vm_os
    guesses = [m for m in matches if (m.get("accuracy") or 0) >= OS_GUESS_MIN_ACCURACY]
    if guesses:
        return _os_from_guesses(table, host_id, guesses) + vm_os
    return vm_os


def _os_from_guesses(table: EolTable, host_id: str, guesses: list[dict]) -> list[Observation]:
    """nmap's OS guesses at or above OS_GUESS_MIN_ACCURACY as one observation: every release any of them names
    (a guess may itself say "A or B"). One product: its cycles are candidates, judged together. Several
    products: an observation with `alternatives`, judged eol only when every one of them is. Nothing, when
    one of the guesses names no release the table knows (a verdict on part of the guesses would be a guess)."""
    named: dict[str, list[str]] = {}
    for guess in guesses:
        alternatives = _alternatives(_normalise_os_name(guess["name"]))
        for alternative in alternatives:
            hit = _os_release(table, alternative)
            if hit is None:
                return []
            product, cycles, version = hit
            if not cycles:
                if len(guesses) > 1 or len(alternatives) > 1 or version is None:
                    return []  # a version, not releases: only one name can be judged by it
                obs = _os_from_name(table, host_id, guess["name"], None, "low", "os-guess",
                                    f"nmap OS guess {guess['name']} (accuracy {guess.get('accuracy')}%)")
                return [obs] if obs else []
            named.setdefault(product, [])
            named[product].extend(c for c in cycles if c not in named[product])
    shown = " or ".join(dict.fromkeys(g["name"] for g in guesses))
    lowest = min(g.get("accuracy") or 0 for g in guesses)
    evidence = (f"nmap OS guess {shown} (accuracy {lowest}%" + (" or more" if len(guesses) > 1 else "") + ")")
    (first, cycles), *others = named.items()
    return [Observation(host_id=host_id, product=first, spec=VersionSpec(text=shown, kind="range"), confidence="low",
                        kind="os-guess", subject_type="host", subject_id=host_id, evidence=evidence,
                        cycles=tuple(cycles), alternatives=tuple((p, tuple(c)) for p, c in others))]


_OR = re.compile(r"\s+or\s+(?!(?:sp|service pack)\s*\d)")
_OR_LATER = re.compile(r"\bor (?:later|newer|above)\b", re.I)
_SERVICE_PACKS = re.compile(r"^\s*(?:sp|service pack)\s*(\d+)((?:\s*(?:or|and|,|/|-)\s*(?:sp\s*)?\d+)*)")


def _alternatives(text: str) -> list[str]:
    """"microsoft windows 2000 sp 4 or windows xp sp 2" → its two releases; "xp sp 2 or sp 3" stays one."""
    return [part for part in _OR.split(text) if part.strip()]


def _os_release(table: EolTable, text: str) -> tuple[str, tuple[str, ...], str | None] | None:
    """(product, the cycles it names, a version it names) for one OS name, by the first os_names rule that matches;
    a Windows name's service packs ("xp sp 2 or sp 3") pick its cycles, none named means all of them."""
    for rule in table.os_names:
        match = rule["_re"].search(text)
        if not match:
            continue
        if "service_packs" in rule:
            packs = _SERVICE_PACKS.match(text[match.end():])
            if packs:
                numbers = [packs.group(1), *re.findall(r"\d+", packs.group(2) or "")]
                if any(n not in rule["service_packs"] for n in numbers):
                    return None  # a service pack the table does not know: no date can be given for it
                return rule["product"], tuple(dict.fromkeys(rule["service_packs"][n] for n in numbers)), None
            return rule["product"], tuple(rule["cycles"]), None
        cycles = tuple(rule.get("cycles") or ([rule["cycle"]] if rule.get("cycle") else []))
        version = match.groupdict().get("version")
        if version and rule.get("series"):
            version += ".x"  # "AIX 7.2" is the series: any of its technology levels
        return rule["product"], cycles, version
    return None


def _normalise_os_name(text: str) -> str:
    text = text.lower()
    return re.sub(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)", " ", text)


def _os_from_name(table: EolTable, host_id: str, shown: str, version: str | None, confidence: str, kind: str,
                  evidence: str) -> Observation | None:
    """An OS observation from a name (and the version the host reports, if any) by the first os_names rule that
    matches. A name that leaves the service pack open names every release it may be, unless a build number
    (`version`) tells them apart. A lower bound (VMware's "Windows Server 2016 or later") names none."""
    if _OR_LATER.search(shown):
        return None
    hit = _os_release(table, _normalise_os_name(shown))
    if hit is None:
        return None
    product, cycles, named_version = hit
    if len(cycles) > 1 and version:
        cycles = ()
    if cycles:
        spec = VersionSpec(text=shown, kind="exact" if len(cycles) == 1 else "range")
    else:
        text = named_version or version
        spec = parse_version_spec(table.rewrite(product, text) if text else None, scheme="banner")
    if kind == "os" and not cycles and spec.kind != "exact":
        confidence = "low"
    return Observation(host_id=host_id, product=product, spec=spec, confidence=confidence, kind=kind,
                       subject_type="host", subject_id=host_id, evidence=evidence, cycles=cycles)


# --- from observations to verdicts ---------------------------------------------------------------------

def assess_observation(obs: Observation, table: EolTable, as_of: date) -> Verdict:
    """Return the verdict on one observation: upstream's, or the distribution's where it maintains the build."""
    if obs.alternatives:
        return _assess_alternatives(obs, table, as_of)
    upstream = assess_version(table, obs.product, obs.spec, as_of, cycles=obs.cycles)
    product = table.products[obs.product]
    distro = _resolve_distro(table, obs, upstream)
    if distro is None:
        return upstream
    d_product = table.products[distro[0]]
    d_verdict = assess_version(table, distro[0], None, as_of, cycles=(distro[1],))
    if d_verdict.status == "unknown" or d_verdict.end is None and d_verdict.status != "supported":
        return upstream
    maintainer = d_product.name_of(distro[1], d_product.cycle(distro[1]).label)
    if product.upstream_support == "latest-release-only":
        # No upstream support to outlive (OpenSSH fixes only its newest release): the distribution's is all there is.
        entry = product.cycle(upstream.cycle) if upstream.cycle else None
        upstream_end = entry.upstream_eol if entry is not None and isinstance(entry.upstream_eol, date) else None
        return Verdict(product=obs.product, status=d_verdict.status, cycle=upstream.cycle or None,
                       name=upstream.name or f"{product.title} {obs.spec.text}", end=d_verdict.end,
                       extended=d_verdict.extended, basis="distribution", source=d_verdict.source,
                       upstream_end=upstream_end,
                       maintained_by=maintainer, upstream_status=upstream.status,
                       reason=f"{maintainer}'s build: maintained by {maintainer}, {d_verdict.reason}")
    if upstream.status not in ("eol", "eol-soon"):
        return upstream
    ends = [e for e in (upstream.end, d_verdict.end) if e is not None]
    end = max(ends) if ends else None
    status = _status(end if end is not None else (True if upstream.status == "eol" else None), as_of)
    if d_verdict.status == "supported" and d_verdict.end is None:
        status, end = "supported", None
    return Verdict(product=obs.product, status=status, cycle=upstream.cycle, name=upstream.name, end=end,
                   extended=d_verdict.extended, basis="distribution", source=d_verdict.source,
                   upstream_end=upstream.end, upstream_status=upstream.status, maintained_by=maintainer,
                   reason=f"{upstream.reason}; {maintainer} maintains its own build: {d_verdict.reason}")


def _assess_alternatives(obs: Observation, table: EolTable, as_of: date) -> Verdict:
    """An OS guess naming releases of several products (Windows 2000 or XP): past support only when every one
    is, since the latest of their ends; otherwise unknown, saying which way each points."""
    verdicts = [assess_version(table, product, None, as_of, cycles=cycles)
                for product, cycles in ((obs.product, obs.cycles), *obs.alternatives)]
    names = [v.name or table.products[v.product].title for v in verdicts]
    statuses = {v.status for v in verdicts}
    if statuses == {"eol"}:
        ends = [v.end for v in verdicts if v.end is not None]
        end = max(ends) if len(ends) == len(verdicts) else None
        return Verdict(product=obs.product, status="eol", name=" or ".join(names), end=end, basis="candidates",
                       candidates=tuple(names), source=verdicts[0].source, bound=len(set(ends)) > 1,
                       reason="every release the guess names is past support ("
                              + "; ".join(v.reason for v in verdicts) + ")")
    return Verdict(product=obs.product, status="unknown", basis="candidates", candidates=tuple(names),
                   reason="the releases the guess names disagree: " + "; ".join(v.reason for v in verdicts))


def _resolve_distro(table: EolTable, obs: Observation, upstream: Verdict) -> tuple[str, str] | None:
    if not obs.distro_maintained or obs.distro is None:
        return None
    product, cycle = obs.distro
    if product not in table.products:
        return None
    if cycle is None and upstream.cycle:
        # "OpenSSH 9.2p1 Debian 2": which Debian release shipped 9.2? The vendor data says.
        entry = table.products[obs.product].cycle(upstream.cycle)
        ships = [s for s in (entry.shipped_by if entry else ()) if s["product"] == product]
        cycle = ships[0]["cycle"] if len(ships) == 1 else None
    if cycle is None or table.products[product].cycle(cycle) is None:
        return None
    return product, cycle


def _best(observations: list[tuple[Observation, Verdict]]) -> list[tuple[Observation, Verdict]]:
    """Keep, per host and product, the best-evidenced observations, and one per release cycle of those."""
    groups: dict[tuple[str, str], list[tuple[Observation, Verdict]]] = {}
    for obs, verdict in observations:
        owner = obs.host_id if obs.host_id is not None else obs.subject_id  # a vCenter on no known host: itself
        key = (owner, "os" if obs.subject_type == "host" else obs.product)
        groups.setdefault(key, []).append((obs, verdict))
    kept = []
    for key in sorted(groups):
        items = groups[key]
        top = min(CONFIDENCE_RANK[o.confidence] for o, _ in items)
        items = [(o, v) for o, v in items if CONFIDENCE_RANK[o.confidence] == top]
        if key[1] == "os":
            # one operating system per host: the best kind of evidence, then the one with a verdict
            items.sort(key=lambda ov: (KIND_RANK[ov[0].kind], ov[1].status == "unknown", ov[0].subject_id))
            kept.append(items[0])
            continue
        by_cycle: dict[str, tuple[Observation, Verdict]] = {}
        for obs, verdict in sorted(items, key=lambda ov: (KIND_RANK[ov[0].kind], ov[0].subject_id)):
            by_cycle.setdefault(verdict.cycle or f"?{obs.spec.text}", (obs, verdict))
        kept.extend(by_cycle[c] for c in sorted(by_cycle))
    return kept


def _newest_supported(product: Product, as_of: date) -> str | None:
    live = [c for c in product.cycles if _status(product.end_of(c), as_of) == "supported"]
    if not live:
        return None
    newest = max(live, key=lambda c: (c.released or date.min, c.parts or ()))
    return product.name_of(newest.name, newest.label)


def _legacy_finding(obs: Observation, verdict: Verdict, table: EolTable, as_of: date) -> Finding | None:
    product = table.products[obs.product]
    is_os = obs.subject_type == "host"
    # A vCenter on no known host: "platform-eol", not "eol", which marks a host legacy and which the report's
    # legacy table lists by host.
    prefix = "os-" if is_os else "platform-" if obs.host_id is None else ""
    name = verdict.name or product.title
    end = verdict.end.isoformat() if verdict.end else None
    upstream_only = _upstream_end(product, verdict)
    if verdict.status == "eol":
        rule = f"{prefix}eol"
        past = (as_of - verdict.end).days if verdict.end else None
        severity = "critical" if past is not None and past > CRITICAL_AFTER_DAYS else "high"
        if verdict.older_than:  # its own date is not tracked: never give the oldest tracked release's as its own
            title = (f"{name} is past end of support (older than {verdict.older_than}, the oldest release "
                     f"tracked, which ended {end or 'long ago'})")
        elif upstream_only is not None:  # an unknown build: upstream's end is a fact, the distributions' a bound
            title = (f"{name} is past end of support (upstream since {upstream_only.isoformat()}; distributions "
                     f"that shipped it patched it until {end} at the latest)")
        else:
            title = f"{name} is past end of support" + (f" (since {end}{' at the latest' if verdict.bound else ''})"
                                                         if end else "")
    elif verdict.status == "eol-soon":
        rule, severity = f"{prefix}eol-soon", "medium"
        title = f"{name} reaches end of support on {end}"
    elif verdict.status == "supported" and verdict.upstream_status == "eol" and not is_os:
        rule, severity = "eol-upstream", "low"
        until = f" until {end}" if end else ""
        upstream_end = verdict.upstream_end.isoformat() if verdict.upstream_end else "?"
        title = f"{name} is past upstream end of support ({upstream_end}); {verdict.maintained_by} maintains it{until}"
    elif verdict.status == "unknown" and obs.kind == "os-guess" and verdict.basis == "candidates" \
            and len(verdict.candidates) > 1:  # one release whose end is not known is not a disagreement
        return Finding(id=f"os-guess-unclear:{obs.host_id}", subject_type="host", subject_id=obs.host_id,
                       host_id=obs.host_id, rule="os-guess-unclear", category="legacy", severity="info",
                       title="nmap's OS guesses disagree about support: "
                             + " or ".join(verdict.candidates[:4]) + (" or …" if len(verdict.candidates) > 4 else ""),
                       evidence=f"{obs.evidence}; {verdict.reason}", confidence="low",
                       recommendation="Find out which release the host runs (estatemap scan ssh, or ask its owner): "
                                      "some of the releases nmap guessed are past support, others are not.",
                       data={"product": obs.product, "status": "unknown", "candidates": list(verdict.candidates),
                             "as_of": as_of.isoformat(), "basis": verdict.basis, "reason": verdict.reason,
                             "evidence_kind": obs.kind})
    else:
        return None
    newest = _newest_supported(product, as_of)
    if verdict.status == "supported":
        recommendation = (f"Nothing urgent: {verdict.maintained_by} backports security fixes into this build. "
                          "Plan the move to a supported upstream release"
                          + (f" (e.g. {newest})" if newest else "") + " when the host is migrated or upgraded.")
    elif is_os:
        recommendation = ("Move the host to a supported release" + (f" (e.g. {newest})" if newest else "")
                          + " as part of the migration, or rebuild its workloads elsewhere; until then keep it "
                            "isolated and watch for advisories.")
    else:
        recommendation = ("Upgrade to a supported release" + (f" (e.g. {newest})" if newest else "")
                          + " or replace it in the migration; until then limit who can reach it and watch for "
                            "advisories.")
    if verdict.extended and verdict.extended > as_of:
        recommendation += f" Extended (usually paid) support is sold until {verdict.extended.isoformat()}."
    if not is_os and obs.confidence != "high" and not obs.distro_maintained and product.distro_packaged \
            and verdict.status != "supported":
        recommendation += (" If this is a Linux distribution's package, the distribution may still patch it: "
                           "check the host's own package list (estatemap scan ssh).")
    data = {
        "product": obs.product, "product_title": product.title, "cycle": verdict.cycle, "name": name,
        "version": obs.spec.text, "version_kind": obs.spec.kind, "status": verdict.status, "eol": end,
        "eol_source": verdict.source, "as_of": as_of.isoformat(), "basis": verdict.basis, "reason": verdict.reason,
        "evidence_kind": obs.kind,
    }
    if verdict.end:
        data["days_past" if verdict.status == "eol" else "days_left"] = abs((as_of - verdict.end).days)
    if verdict.extended:
        data["extended_support_until"] = verdict.extended.isoformat()
    if verdict.maintained_by:
        data["maintained_by"] = verdict.maintained_by
        data["upstream_eol"] = verdict.upstream_end.isoformat() if verdict.upstream_end else None
    if verdict.candidates:
        data["candidates"] = list(verdict.candidates)
    if verdict.older_than:
        data["eol"], data["oldest_tracked"], data["oldest_tracked_eol"] = None, verdict.older_than, end
    if verdict.bound or upstream_only is not None:
        data["eol_is_upper_bound"] = True  # support ended on `eol` at the latest (candidates, or distributions)
    if upstream_only is not None:
        data["upstream_eol"] = upstream_only.isoformat()
    cycle_key = verdict.cycle or obs.spec.text or "?"
    owner = obs.host_id if obs.host_id is not None else obs.subject_id
    return Finding(id=f"{rule}:{owner}:{obs.product}/{cycle_key}", subject_type=obs.subject_type,
                   subject_id=obs.subject_id, host_id=obs.host_id, rule=rule, category="legacy", severity=severity,
                   title=title, evidence=f"{obs.evidence}; {verdict.reason}", recommendation=recommendation,
                   confidence=obs.confidence, data=data)


def _upstream_end(product: Product, verdict: Verdict) -> date | None:
    """Upstream's own end for a release only distributions kept patching (OpenSSH), when the build is not known
    to be a distribution's and that end is earlier than the verdict's; else None."""
    if product.upstream_support != "latest-release-only" or verdict.basis == "distribution" or not verdict.cycle:
        return None
    entry = product.cycle(verdict.cycle)
    upstream = entry.upstream_eol if entry is not None else None
    return upstream if isinstance(upstream, date) and verdict.end and upstream < verdict.end else None


# --- insecure protocols --------------------------------------------------------------------------------


# --- the whole inventory -------------------------------------------------------------------------------

def assess_inventory(inventory: dict, table: EolTable, as_of: date, *, protocols: dict | None = None) -> list[Finding]:
    """Return the legacy, insecure-protocol, unidentified-service and VMware (vcenter: tools, guest OS, hardware
    version) findings for an inventory (the JSON export's dict, as discovery.inventory.build.build_inventory
    returns it) at `as_of`;
    `protocols` are the insecure-protocol rules (default: load_protocol_rules()).

    Pure and deterministic: findings are sorted, and their ids are stable across runs.
    """
    rules = protocols if protocols is not None else load_protocol_rules()
    hosts = {h["id"]: h for h in inventory.get("hosts", [])}
    services = [s for s in inventory.get("services", []) if s.get("host_id")]
    observations: list[Observation] = []
    for host in hosts.values():
        observations.extend(identify_os(host, table))
    for row in services:
        if row.get("state", "open") not in OPEN_STATES:
            continue
        for obs in identify_service(row, table):
            observations.append(obs)
            if obs.distro and obs.distro[1] and obs.distro[0] in table.products:
                d_product = table.products[obs.distro[0]]
                observations.append(Observation(
                    host_id=obs.host_id, product=obs.distro[0], spec=VersionSpec(text=obs.distro[1], kind="exact"),
                    confidence="low", kind="banner-os", subject_type="host", subject_id=obs.host_id,
                    cycles=(obs.distro[1],),
                    evidence=f"{d_product.name_of(obs.distro[1])} guessed from a package revision in a banner: "
                             f"{obs.evidence}"))
    host_os = _host_distributions(observations, table)
    for row in inventory.get("software", []):
        if row.get("host_id") and (obs := identify_software(row, table, host_os.get(row["host_id"]))):
            observations.append(obs)
    for row in inventory.get("databases", []):
        if row.get("host_id") and (obs := identify_database(row, table)):
            observations.append(obs)
    observations.extend(identify_vcenters(inventory, table))
    # A Windows release named in a file-sharing banner says what the OS guess says: judged once, on the host.
    host_products = {(o.host_id, o.product) for o in observations if o.subject_type == "host"}
    observations = [o for o in observations if not (o.subject_type == "service" and o.cycles
                                                     and (o.host_id, o.product) in host_products)]
    judged = [(obs, assess_observation(obs, table, as_of)) for obs in observations]
    findings = [f for obs, verdict in _best(judged) if (f := _legacy_finding(obs, verdict, table, as_of))]
    findings.extend(assess_protocols(inventory, rules))
    # a VM's hardware version, by the ESXi release it came with
    esxi = functools.partial(assess_version, table, ESXI_PRODUCT, as_of=as_of) if ESXI_PRODUCT in table.products \
        else None
    findings.extend(assess_vmware(inventory, esxi_verdict=esxi))
    unique: dict[str, Finding] = {}
    for f in findings:
        unique.setdefault(f.id, f)
    return sorted(unique.values(), key=lambda f: (f.host_id or "", f.category, f.rule, f.subject_id, f.id))


def _host_distributions(observations: list[Observation], table: EolTable) -> dict[str, tuple[str, str]]:
    """Each host's own operating system release (from the host itself only), for judging its packages."""
    found: dict[str, tuple[str, str]] = {}
    for obs in observations:
        if obs.kind != "os" or obs.confidence != "high" or obs.host_id in found:
            continue
        if obs.cycles:
            found[obs.host_id] = (obs.product, obs.cycles[0])
            continue
        p = table.products[obs.product]
        cycles, _ = _candidates(p, obs.spec)
        if len(cycles) == 1:
            found[obs.host_id] = (obs.product, cycles[0].name)
    return found
