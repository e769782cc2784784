#!/usr/bin/env python3
"""Build discovery/data/eol.json: the end-of-life table Estate Mapper ships.

Three inputs make it:
  * endoflife.date's product data (MIT licence): by default the copy converted from its repository in
    ../shared/data/endoflife-date/products.json beside the repository (else the same data kept in
    tests/data/endoflife-date/products.json.gz); --input PATH reads another copy of that shape (.gz too),
    or of the API's; --url fetches the live API (products/full, schema 1.x) when
    the machine is online;
  * discovery/data/vendor-lifecycles.json: OpenSSH and Microsoft IIS, which endoflife.date lacks,
    from the vendors' own pages, each entry with its source;
  * discovery/data/matching.json: which products to keep and how banners, CPEs, package names,
    database engines and OS names lead to them.

Only what matching needs is kept; the output is sorted and indented so that a refresh from the same
inputs gives the same bytes (tests/unit/test_legacy.py checks the shipped file that way).

Examples:
  python scripts/refresh_eol.py                                   # offline, from the shared copy
  python scripts/refresh_eol.py --url https://endoflife.date/api/v1/products/full
  python scripts/refresh_eol.py --input products.json --output /tmp/eol.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "discovery" / "data"
SHARED_INPUT = REPO.parent / "shared" / "data" / "endoflife-date" / "products.json"
# The shared copy beside the repository when there is one, else the copy the tests keep (the same data).
DEFAULT_INPUT = SHARED_INPUT if SHARED_INPUT.exists() else REPO / "tests" / "data" / "endoflife-date" / "products.json.gz"
DEFAULT_OUTPUT = DATA / "eol.json"
API_URL = "https://endoflife.date/api/v1/products/full"
SCHEMA = "estatemap-eol/1"
CYCLE_FIELDS = {"releaseCycle": "cycle", "releaseLabel": "label", "codename": "codename",
                "releaseDate": "released", "eol": "eol", "eoes": "extended", "latest": "latest", "lts": "lts"}


class RefreshError(Exception):
    """The inputs are missing or inconsistent: the table is not written."""


def get_source(*, input_path: Path | None = None, url: str | None = None, timeout: float = 60) -> dict:
    """Return endoflife.date's data in the shared copy's shape ({"meta", "products"}); raises RefreshError."""
    if url:
        request = urllib.request.Request(url, headers={"User-Agent": "estatemap-refresh-eol"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (a fixed https URL)
                document = json.load(response)
        except (OSError, ValueError) as exc:
            raise RefreshError(f"cannot fetch {url}: {exc}") from exc
        return transform_api(document, url)
    path = input_path or DEFAULT_INPUT
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        document = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise RefreshError(f"cannot read {path}: {exc}") from exc
    if "result" in document:  # a saved API answer
        return transform_api(document, str(path))
    if "products" not in document:
        raise RefreshError(f"{path} is neither endoflife.date's converted products.json nor an API answer")
    return document


def transform_api(document: dict, origin: str) -> dict:
    """Return the API's products/full answer in the shared copy's shape (dates, or booleans where none)."""
    def when(is_flag, date):
        return date if date else bool(is_flag)

    products = {}
    for item in document["result"]:
        releases = []
        for r in item.get("releases") or []:
            release = {"releaseCycle": r["name"], "releaseDate": r.get("releaseDate"),
                       "eol": when(r.get("isEol"), r.get("eolFrom")),
                       "lts": when(r.get("isLts"), r.get("ltsFrom"))}
            if "isEoes" in r or "eoesFrom" in r:
                release["eoes"] = when(r.get("isEoes"), r.get("eoesFrom"))
            if r.get("codename"):
                release["codename"] = r["codename"]
            if r.get("label") and r["label"] != r["name"]:
                release["releaseLabel"] = r["label"]
            if r.get("latest"):
                release["latest"] = r["latest"].get("name")
            releases.append(release)
        products[item["name"]] = {
            "title": item.get("label") or item["name"], "category": item.get("category"),
            "identifiers": [{i["type"]: i["id"]} for i in item.get("identifiers") or []],
            "releases": releases,
        }
    meta = {"source": origin, "generated_at": document.get("generated_at"),
            "schema_version": document.get("schema_version"), "products": len(products),
            "licence": "MIT, Copyright 2020 endoflife.date contributors (see LICENSE)"}
    return {"meta": meta, "products": products}


def _label(release: dict) -> str | None:
    label = release.get("releaseLabel")
    if not label:
        return None
    label = label.replace("__RELEASE_CYCLE__", release["releaseCycle"])
    label = label.replace("__CODENAME__", release.get("codename") or "").replace("''", "")
    return re.sub(r"\s+", " ", label).strip() or None


def transform_cycles(releases: list[dict]) -> list[dict]:
    """Return the release cycles with only the fields matching needs, nulls left out."""
    cycles = []
    for release in releases:
        cycle = {}
        for source_key, key in CYCLE_FIELDS.items():
            value = _label(release) if source_key == "releaseLabel" else release.get(source_key)
            if key == "lts":
                value = bool(value) or None
            if value is not None and value != "":
                cycle[key] = value
        cycles.append(cycle)
    return cycles


def _support_end(product: dict, cycle: dict):
    """The date (or boolean) a cycle's support ends under its product's policy."""
    if product["support_end"] == "extended" and cycle.get("extended") not in (None, False):
        return cycle["extended"]
    return cycle.get("eol")


def _find_cycle(products: dict, slug: str, name: str, where: str) -> tuple[dict, dict]:
    if slug not in products:
        raise RefreshError(f"{where}: product {slug!r} is not kept (add it to matching.json)")
    for cycle in products[slug]["cycles"]:
        if cycle["cycle"] == name:
            return products[slug], cycle
    raise RefreshError(f"{where}: {slug} has no cycle {name!r}")


def _latest_date(dates):
    if any(d is False for d in dates):
        return False
    real = [d for d in dates if isinstance(d, str)]
    return max(real) if real else True


def transform_vendor(slug: str, vendor: dict, products: dict) -> list[dict]:
    """Return a vendor product's cycles with their end dates worked out from what they follow or who shipped them."""
    cycles = []
    entries = vendor["cycles"]
    for i, entry in enumerate(entries):
        cycle = {k: v for k, v in entry.items() if k not in ("shipped_by", "follows")}
        if "follows" in entry:
            alternatives = []
            for follow in entry["follows"]:
                product, followed = _find_cycle(products, follow["product"], follow["cycle"], f"{slug} {entry['cycle']}")
                alternatives.append({**follow, "eol": _support_end(product, followed)})
            if len(alternatives) == 1:
                cycle["eol"] = alternatives[0]["eol"]
            cycle["follows"] = alternatives
        if "released" in entry and slug == "openssh":
            following = entries[i + 1]["released"] if i + 1 < len(entries) else None
            cycle["upstream_eol"] = following if following else False
            shipped = []
            for ship in entry.get("shipped_by", []):
                product, shipped_cycle = _find_cycle(products, ship["product"], ship["cycle"], f"{slug} {entry['cycle']}")
                shipped.append({**ship, "eol": _support_end(product, shipped_cycle)})
            if shipped:
                cycle["shipped_by"] = shipped
                cycle["eol"] = _latest_date([s["eol"] for s in shipped])
            else:
                cycle["eol"] = cycle["upstream_eol"]
        cycles.append(cycle)
    return cycles


def _check_patterns(match: dict, kept: set[str]) -> None:
    """Fail on a rule that names a product not kept or a regular expression that does not compile."""
    def check(product, pattern, where):
        if product not in kept:
            raise RefreshError(f"matching.json {where}: product {product!r} is not kept")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise RefreshError(f"matching.json {where}: bad pattern {pattern!r}: {exc}") from exc

    for section in ("banners", "extra_info", "packages", "os_names"):
        for rule in match[section]:
            check(rule["product"], rule["pattern"], section)
            check(rule["product"], rule.get("version_pattern"), section)
    for rule in match["distro_tags"]:
        check(rule["product"], rule["pattern"], "distro_tags")
    for section in ("cpes", "databases", "os_ids"):
        for key, product in match[section].items():
            check(product, None, f"{section} {key}")
    for pattern in match["third_party_versions"]:
        check(next(iter(kept)), pattern, "third_party_versions")
    for product, rewrites in match["version_rewrites"].items():
        for pattern, _ in rewrites:
            check(product, pattern, "version_rewrites")


def _cpe_key(cpe: str) -> str | None:
    """'cpe:/a:apache:http_server' or 'cpe:2.3:a:apache:http_server:*' → 'a:apache:http_server'."""
    body = cpe[len("cpe:2.3:"):] if cpe.startswith("cpe:2.3:") else cpe[len("cpe:/"):] if cpe.startswith("cpe:/") else None
    if body is None:
        return None
    parts = body.split(":")
    return ":".join(parts[:3]).lower() if len(parts) >= 3 else None


def build_table(source: dict, matching: dict, vendor: dict) -> dict:
    """Return eol.json's content from the three inputs; raises RefreshError on an inconsistency."""
    meta = source.get("meta", {})
    products: dict[str, dict] = {}
    cpes: dict[str, str] = {}
    for slug, policy in sorted(matching["products"].items()):
        if policy.get("vendor"):
            continue
        origin = policy.get("from", slug)
        if origin not in source["products"]:
            raise RefreshError(f"endoflife.date data has no product {origin!r} (wanted as {slug!r})")
        item = source["products"][origin]
        products[slug] = _product(slug, policy, title=policy.get("title") or item["title"],
                                  category=item.get("category"), source="endoflife.date",
                                  url=f"https://endoflife.date/{origin}", origin=origin,
                                  cycles=transform_cycles(item["releases"]))
        for cycle in products[slug]["cycles"]:  # names endoflife.date leaves bare ("2003": Windows Server 2003)
            if "label" not in cycle and cycle["cycle"] in policy.get("labels", {}):
                cycle["label"] = policy["labels"][cycle["cycle"]]
        for identifier in item.get("identifiers", []):
            key = _cpe_key(identifier.get("cpe", ""))
            if key and key not in cpes:
                cpes[key] = slug
    for slug, extra in sorted(vendor.get("supplements", {}).items()):
        if slug not in products:
            raise RefreshError(f"vendor-lifecycles.json supplements {slug!r}, which is not a kept endoflife.date "
                               "product")
        known = {c["cycle"] for c in products[slug]["cycles"]}
        for cycle in extra:
            if cycle["cycle"] in known:
                raise RefreshError(f"vendor-lifecycles.json supplements {slug} {cycle['cycle']}, which endoflife.date "
                                   "already has")
            products[slug]["cycles"].append(dict(cycle))
    for slug, fixes in sorted(vendor.get("corrections", {}).items()):
        for fix in fixes:
            _correct(products, slug, fix)
    for slug, policy in sorted(matching["products"].items()):
        if not policy.get("vendor"):
            continue
        if slug not in vendor["products"]:
            raise RefreshError(f"vendor-lifecycles.json has no product {slug!r}")
        item = vendor["products"][slug]
        products[slug] = _product(slug, policy, title=item["title"], category=item.get("category"), source="vendor",
                                  url=item["url"], origin=None, cycles=[], policy_text=item.get("policy"))
    for slug, policy in sorted(matching["products"].items()):
        if policy.get("vendor"):
            products[slug]["cycles"] = transform_vendor(slug, vendor["products"][slug], products)
    match = {key: value for key, value in matching.items() if key not in ("about", "products")}
    match["cpes"] = {**cpes, **matching["cpes"]}
    _check_patterns(match, set(products))
    for rule in match["os_names"]:  # every release an OS name leads to must exist
        named = [rule.get("cycle"), *rule.get("cycles", ()), *rule.get("service_packs", {}).values()]
        for name in filter(None, named):
            _find_cycle(products, rule["product"], name, f"matching.json os_names {rule['pattern']!r}")
    source_meta = {
        "name": "endoflife.date", "url": "https://endoflife.date",
        "repository": "https://github.com/endoflife-date/endoflife.date",
        "licence": "MIT", "notice": "LICENSE.endoflife-date",
        **{k: v for k, v in meta.items() if k in ("commit", "commit_date", "source", "generated_at", "schema_version")},
    }
    return {
        "schema": SCHEMA,
        "generated_by": "scripts/refresh_eol.py",
        "about": "End-of-life table for discovery/analyses/legacy.py: release cycles and end-of-support dates per "
                 "product, "
                 "with where each came from (see SOURCE.md), and the rules that lead from banners, CPEs, "
                 "packages and OS names to a product. Generated: edit matching.json or vendor-lifecycles.json "
                 "and run scripts/refresh_eol.py.",
        "sources": {
            "endoflife.date": source_meta,
            "vendor": {"file": "vendor-lifecycles.json", "note": vendor.get("about")},
        },
        "products": products,
        "match": match,
    }


def _correct(products: dict, slug: str, fix: dict) -> None:
    """Replace one value endoflife.date has wrong for a cycle, only while it still holds the value the correction
    was written against (so a refresh after endoflife.date fixes it says so instead of hiding the change)."""
    where = f"vendor-lifecycles.json corrects {slug} {fix['cycle']} {fix['field']}"
    cycle = next((c for c in products.get(slug, {}).get("cycles", ()) if c["cycle"] == fix["cycle"]), None)
    if cycle is None:
        raise RefreshError(f"{where}, which endoflife.date does not have")
    if cycle.get(fix["field"]) != fix["was"]:
        raise RefreshError(f"{where} from {fix['was']!r}, but endoflife.date now says {cycle.get(fix['field'])!r}: "
                           "check the correction and remove it if it is no longer needed")
    cycle[fix["field"]] = fix["value"]
    cycle["source"] = fix["source"]


def _product(slug, policy, *, title, category, source, url, origin, cycles, policy_text=None) -> dict:
    product = {
        "title": title, "category": category, "kind": policy.get("kind", "software"), "source": source, "url": url,
        "match": policy.get("match", "prefix"), "support_end": policy.get("support_end", "eol"),
        "distro_packaged": policy.get("distro_packaged", policy.get("kind", "software") != "os"),
        "cycles": cycles,
    }
    if origin and origin != slug:
        product["from"] = origin
    for key in ("note", "support_end_reason", "upstream_support", "label_style"):
        if policy.get(key):
            product[key] = policy[key]
    if policy_text:
        product["policy"] = policy_text
    return product


def write_table(table: dict, path: Path) -> None:
    """Write the table as sorted, indented JSON with a final newline (byte-stable for the same inputs)."""
    text = json.dumps(table, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--input", type=Path, help=f"endoflife.date data file (default: {DEFAULT_INPUT})")
    where.add_argument("--url", nargs="?", const=API_URL, help=f"fetch the live API instead (default URL: {API_URL})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"where to write (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--matching", type=Path, default=DATA / "matching.json")
    parser.add_argument("--vendor", type=Path, default=DATA / "vendor-lifecycles.json")
    args = parser.parse_args(argv)
    try:
        source = get_source(input_path=args.input, url=args.url)
        matching = json.loads(args.matching.read_text(encoding="utf-8"))
        vendor = json.loads(args.vendor.read_text(encoding="utf-8"))
        table = build_table(source, matching, vendor)
        write_table(table, args.output)
    except (RefreshError, OSError, ValueError, KeyError) as exc:
        print(f"refresh_eol: {exc}", file=sys.stderr)
        return 1
    cycles = sum(len(p["cycles"]) for p in table["products"].values())
    print(f"wrote {args.output}: {len(table['products'])} products, {cycles} release cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
