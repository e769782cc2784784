#!/usr/bin/env python3
"""Build discovery/data/oui.json, the MAC prefix → organisation table, from IEEE's registry listings.

Download IEEE's CSV listings (a machine online: the URLs below; offline: a copy of them) and run:
  python scripts/update_oui.py --date 2026-05-21 oui.csv mam.csv oui36.csv
  python scripts/update_oui.py --date 2026-05-21 --copy "https://github.com/OWNER/REPO commit ..." oui.csv

  https://standards-oui.ieee.org/oui/oui.csv        MA-L: 24-bit prefixes (required)
  https://standards-oui.ieee.org/oui28/mam.csv      MA-M: 28-bit blocks (optional, recommended)
  https://standards-oui.ieee.org/oui36/oui36.csv    MA-S: 36-bit blocks (optional, recommended)

Each file says which registry it is (its Registry column). "Private" assignments are left out (they name
nobody), and so are MA-L prefixes assigned to the "IEEE Registration Authority" itself (those are split into
MA-M and MA-S blocks: a MAC in one names the block's holder or, without that listing, nobody).
The hand-maintained "medical" section (organisation patterns → maker, for medical device makers) is kept from
the current file; a pattern that no longer matches any organisation is reported. The output is sorted, one
prefix a line, so a refresh shows as a readable diff; record the new date and copy in discovery/data/SOURCE.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "discovery" / "data" / "oui.json"
SCHEMA = "estatemap-oui/1"
REGISTRIES = {"MA-L": 6, "MA-M": 7, "MA-S": 9}    # registry -> hex digits of its assignments
IEEE_URLS = {"MA-L": "https://standards-oui.ieee.org/oui/oui.csv",
             "MA-M": "https://standards-oui.ieee.org/oui28/mam.csv",
             "MA-S": "https://standards-oui.ieee.org/oui36/oui36.csv"}
SKIPPED = {"private", "ieee registration authority"}


class UpdateError(Exception):
    """An input is not an IEEE registry listing: nothing is written."""


def read_listing(path: Path) -> tuple[str, dict[str, str]]:
    """Return (registry, {assignment: organisation}) from one IEEE CSV listing; raises UpdateError."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.DictReader(f)
        if not {"Registry", "Assignment", "Organization Name"} <= set(rows.fieldnames or ()):
            raise UpdateError(f"{path}: not an IEEE registry listing (columns {rows.fieldnames})")
        registries, table = set(), {}
        for row in rows:
            registry, prefix = row["Registry"].strip(), row["Assignment"].strip().upper()
            if registry not in REGISTRIES or not re.fullmatch(f"[0-9A-F]{{{REGISTRIES[registry]}}}", prefix):
                raise UpdateError(f"{path}: unexpected row {registry!r} {prefix!r}")
            registries.add(registry)
            organisation = " ".join(row["Organization Name"].split())
            if organisation and organisation.lower() not in SKIPPED:
                table[prefix] = organisation
    if len(registries) != 1:
        raise UpdateError(f"{path}: expected one registry, found {sorted(registries) or 'none'}")
    return registries.pop(), table


def build_table(listings: dict[str, dict[str, str]], medical: list[dict], date: str, copy: str | None) -> dict:
    """Return the document oui.json holds (pure)."""
    if "MA-L" not in listings:
        raise UpdateError("the MA-L listing (oui.csv) is required")
    source = {"registry": "IEEE Registration Authority", "date": date,
              "listings": {registry: IEEE_URLS[registry] for registry in REGISTRIES if registry in listings}}
    if copy:
        source["copy"] = copy
    return {"schema": SCHEMA, "source": source, "medical": medical,
            **{registry: dict(sorted(listings[registry].items())) for registry in REGISTRIES if registry in listings}}


def unmatched_patterns(document: dict) -> list[str]:
    """The medical patterns that match no organisation of the table (renamed or gone: check them)."""
    organisations = {name for registry in REGISTRIES for name in document.get(registry, {}).values()}
    return [entry["pattern"] for entry in document["medical"]
            if not any(re.search(entry["pattern"], name, re.IGNORECASE) for name in organisations)]


def write_table(document: dict, path: Path) -> None:
    """Write the document with one prefix or medical entry a line (readable diffs); checks it reads back."""
    lines = ["{"]
    keys = list(document)
    for i, key in enumerate(keys):
        value, comma = document[key], "," if i < len(keys) - 1 else ""
        if isinstance(value, list):
            items = [f"  {json.dumps(item, ensure_ascii=False)}" for item in value]
            lines += [f" {json.dumps(key)}: [", ",\n".join(items), f" ]{comma}"]
        elif isinstance(value, dict) and key in REGISTRIES:
            items = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items()]
            lines += [f" {json.dumps(key)}: {{", ",\n".join(items), f" }}{comma}"]
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    text = "\n".join(lines) + "\n}\n"
    if json.loads(text) != document:
        raise UpdateError("the written table does not read back as built")
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("listings", nargs="+", type=Path, help="IEEE CSV listings: oui.csv, mam.csv, oui36.csv")
    parser.add_argument("--date", required=True, help="the day the listings were downloaded (YYYY-MM-DD)")
    parser.add_argument("--copy", help="where the files came from, when not from IEEE directly (URL and commit)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.date):
            raise UpdateError(f"--date {args.date!r} is not YYYY-MM-DD")
        listings = {}
        for path in args.listings:
            registry, table = read_listing(path)
            listings[registry] = table
        medical = json.loads(args.output.read_text(encoding="utf-8"))["medical"] if args.output.exists() else []
        document = build_table(listings, medical, args.date, args.copy)
        write_table(document, args.output)
    except (OSError, ValueError, UpdateError) as error:
        print(f"update_oui: {error}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{registry} {len(document[registry]):,}" for registry in REGISTRIES if registry in document)
    print(f"wrote {args.output} ({counts})")
    for pattern in unmatched_patterns(document):
        print(f"update_oui: the medical pattern {pattern!r} matches no organisation any more", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
