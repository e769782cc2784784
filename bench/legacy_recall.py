"""Recall and precision of end-of-life verdicts on public nmap XML from other people's scans.

    .venv/bin/python bench/legacy_recall.py [--corpus tests/data/legacy_corpus] [-v]

Each corpus file (nmap 4.x to 7.x, sources and licences in its SOURCES.md) has a truth file written by
hand from the XML before the tool was run: which OS guesses and services were past support on its
`as_of` date (true), still supported (false), or cannot be judged from the XML (null, left out of the
figures). Each file is imported into a throw-away store as `estatemap import` would, analysed at that
date, and every end-of-life finding is matched to a truth item by host address and port ("os" for the
host's OS). Printed per file and overall: recall (true items flagged), precision (flagged items that are
true; a flag on an item the truth cannot judge is counted apart), and wrong dates (a stated end date that
differs from the truth's, or one stated as fact where only an upper bound is known and it is later).
Nothing is sent anywhere: the files are only read. A benchmark, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from discovery.analyses.legacy import assess_inventory, load_eol_table  # noqa: E402
from discovery.inventory.build import build_inventory  # noqa: E402
from discovery.service import run_scan  # noqa: E402
from discovery.storage.store import Store  # noqa: E402
from scanners.files import FileImportScanner  # noqa: E402

EOL_RULES = ("eol", "os-eol")


@dataclass
class Score:
    name: str
    positives: int = 0          # truth: past support
    negatives: int = 0          # truth: supported
    found: int = 0              # true positives
    false_flags: int = 0        # flagged, truth says supported (or has no such item)
    unjudgeable_flags: int = 0  # flagged, truth says it cannot be judged
    wrong_dates: int = 0
    missed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def recall(self) -> float | None:
        return self.found / self.positives if self.positives else None

    def precision(self) -> float | None:
        flagged = self.found + self.false_flags
        return self.found / flagged if flagged else None


def flagged_items(xml: Path, as_of: date) -> dict[tuple[str, object], list[dict]]:
    """Return {(address, port or "os"): [finding data]} for the end-of-life findings on one imported file (a
    port can carry several: Apache and the PHP its banner names)."""
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "estate.db") as store:
        result = run_scan(store, FileImportScanner(xml))
        if result.status != "completed":
            raise SystemExit(f"{xml.name}: import {result.status}: {result.error}")
        inventory = build_inventory(store)
    hosts = {h["id"]: h for h in inventory["hosts"]}
    services = {s["id"]: s for s in inventory["services"]}
    items: dict[tuple[str, object], list[dict]] = {}
    for finding in assess_inventory(inventory, load_eol_table(), as_of):
        if finding.rule not in EOL_RULES:
            continue
        addresses = hosts[finding.host_id]["addresses"] or [finding.host_id]
        if finding.subject_type == "host":
            ports = ["os"]
        else:  # one finding per product release on a host: it speaks for every port serving that release
            subject = services.get(finding.subject_id, {})
            ports = [s["port"] for s in services.values() if s["host_id"] == finding.host_id
                     and (s.get("product"), s.get("version")) == (subject.get("product"), subject.get("version"))]
        for address in addresses:
            for port in ports:
                items.setdefault((address, port), []).append({**finding.data, "title": finding.title})
    return items


def score_file(truth_path: Path, verbose: bool) -> Score:
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    score = Score(truth["file"])
    flagged = flagged_items(truth_path.parent / truth["file"], date.fromisoformat(truth["as_of"]))
    judged: set[tuple[str, object]] = set()
    for item in truth["items"]:
        key = (item["host"], "os" if item["what"] == "os" else item["port"])
        judged.add(key)
        hits = flagged.get(key) or []
        hit = hits[0] if hits else None
        label = f"{item['host']} {key[1]}: {item['label']}"
        if item["eol"] is None:
            score.unjudgeable_flags += hit is not None
            continue
        if item["eol"] is False:
            score.negatives += 1
            if hit is not None:
                score.false_flags += 1
                score.wrong.append(f"flagged but supported: {label} — {hit['title']}")
            continue
        score.positives += 1
        if hit is None:
            score.missed.append(label)
            continue
        score.found += 1
        if not any(date_agrees(h, item) for h in hits):
            score.wrong_dates += 1
            stated = ", ".join(f"{h.get('eol')} ({h['title']})" for h in hits)
            truth = item.get("ended") or f"before {item.get('ended_before')}"
            score.wrong.append(f"wrong date: {label}: {stated}; truth {truth}")
    for key, hits in flagged.items():
        if key not in judged:
            score.false_flags += 1
            score.wrong.append(f"flagged, not in the truth: {key[0]} {key[1]} — {hits[0]['title']}")
    if verbose:
        for line in score.missed:
            print(f"  {score.name}: missed {line}")
        for line in score.wrong:
            print(f"  {score.name}: {line}")
    return score


def date_agrees(hit: dict, item: dict) -> bool:
    """Whether a finding's stated end of support fits the truth: the same date, or (where only an upper bound
    is known) a date said to be a bound ("ended before"), not stated as fact."""
    stated = hit.get("eol")
    bound = hit.get("eol_is_upper_bound") or hit.get("basis") == "older-than-tracked"
    if item.get("ended"):
        # the same date, or the truth's date stated as upstream's end (the later one given only as a bound)
        return stated == item["ended"] or hit.get("upstream_eol") == item["ended"]
    if item.get("ended_before"):
        return stated is None or bound or stated <= item["ended_before"]
    return True


def fraction(value: float | None) -> str:
    return "  -  " if value is None else f"{value:5.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "data" / "legacy_corpus")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every miss and wrong flag")
    args = parser.parse_args(argv)
    scores = [score_file(path, args.verbose) for path in sorted(args.corpus.glob("*.truth.json"))]
    total = Score("overall")
    for s in scores:
        for name in ("positives", "negatives", "found", "false_flags", "unjudgeable_flags", "wrong_dates"):
            setattr(total, name, getattr(total, name) + getattr(s, name))
    width = max(len(s.name) for s in [*scores, total])
    print(f"{'file':<{width}}  eol  found  recall  precision  false  unjudgeable-flags  wrong-dates")
    for s in [*scores, total]:
        if s is total:
            print("-" * (width + 70))
        print(f"{s.name:<{width}}  {s.positives:3}  {s.found:5}  {fraction(s.recall()):>6}  "
              f"{fraction(s.precision()):>9}  {s.false_flags:5}  {s.unjudgeable_flags:17}  {s.wrong_dates:11}")
    met = (total.recall() or 0) >= 0.9 and (total.precision() or 0) >= 0.98 and not total.wrong_dates
    print(f"goal: recall >= 0.90, precision >= 0.98, wrong dates 0 — {'met' if met else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
