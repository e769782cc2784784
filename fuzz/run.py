"""Run every parser's fuzz target for a while and print how many inputs each tried and how many failed.

A seeded mutational fuzzer over the recorded inputs in tests/data/ (the same targets and mutations as
tests/unit/test_fuzz_parsers.py, which runs a few examples in CI). A failure is an input on which a parser
raised something other than its documented EstateError (or broke a target's property); each is saved under
--out for replay. Optionally, --big-nmap-mb imports a generated nmap file of that size through the real CLI
and prints time and peak memory.

    .venv/bin/python fuzz/run.py --seconds 60                 # 60 s per target
    .venv/bin/python fuzz/run.py --examples 2000 --seed 7     # 2,000 inputs per target
    .venv/bin/python fuzz/run.py --only nmap-xml --seconds 600
    .venv/bin/python fuzz/run.py --seconds 0 --big-nmap-mb 1024   # only the 1 GB streamed import
    .venv/bin/python fuzz/run.py --only workbook --examples 3000   # workbooks and workbook bombs
    .venv/bin/python fuzz/run.py --only passive --only capture --seconds 300   # the passive capture parser

Each target's line also gives its slowest input and the process's peak resident memory when it finished
(targets run one after another in one process: run one with --only to see its own peak).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fuzz import targets  # noqa: E402


def _random_text(rng: random.Random, size: int) -> str:
    pools = (" \t\n:./[]*%=\"-0123456789", "abcdefghijklmnopqrstuvwxyz", "\u00b2\u0663\u00bd\uff11\ufffd\u0085\x00\x1b")
    pool = "".join(rng.choice(pools) for _ in range(2))
    return "".join(rng.choice(pool) if rng.random() < 0.9 else chr(rng.randrange(0x20, 0x3000)) for _ in range(size))


current: dict[str, bytes] = {}  # the input being tried, saved if it fails


def make_fuzzers(rng: random.Random, workdir: Path):
    """Return {name: function() -> (input bytes, outcome)}; each call tries one new input."""
    nmap = targets.nmap_seeds()
    ssh = targets.ssh_seeds()
    ssh_names = sorted(ssh)
    bundle = targets.bundle_seed()
    bundle_bytes = targets.bundle_bytes(bundle)
    bundle_text = gzip.decompress(bundle_bytes)
    sections = targets.ssh_section_names()
    by_host: dict[str, dict[str, str]] = {}
    for key, text in ssh.items():
        host, _, name = key.partition("/")
        by_host.setdefault(host, {})[name.removesuffix(".txt")] = text
    from discovery.records.model import Scan
    from discovery.storage.store import Store
    from tests.builders import T0, make_report

    store = Store(workdir / "workbook.db")
    scan = store.start_scan(Scan(kind="host", started_at=T0, targets=("app01",)))
    store.write_host_report(scan, make_report(hostname="app01", address="10.1.0.1"))
    store.finish_scan(scan, "completed")
    host_id = store.hosts()[0]["id"]
    store.save_analysis(findings=[], groups=[{"id": "grp-1", "name": "g", "wave": 1, "host_ids": [host_id],
                                              "explanation": "x", "edges": []}], risk={}, as_of="2026-11-01", summary={})

    def nmap_xml():
        data = current["input"] = targets.mutate_random(rng, rng.choice(nmap), rng.randrange(1, 5))
        return data, targets.target_nmap_xml(data)

    def nmap_store():
        data = current["input"] = targets.mutate_random(rng, rng.choice(nmap), 1)
        return data, targets.target_nmap_store(data, str(workdir))

    def bundle_forged():
        ops = [(rng.randrange(10_000), rng.choice([None, True, -1, 2**64, -2**70, 1.5, float("inf"), "", "\ud800",
                                                    rng.choice(targets.INTERESTING_VALUES), [], {}, [1, "a"],
                                                    {"k": "v"}, _random_text(rng, 8)]))
               for _ in range(rng.randrange(1, 4))]
        doc = targets.mutate_bundle_doc(bundle, ops)
        data = current["input"] = targets.bundle_bytes(doc)
        return data, targets.target_bundle(data, str(workdir))

    def bundle_bytes_():
        data = targets.mutate_random(rng, bundle_bytes if rng.random() < 0.5 else bundle_text, rng.randrange(1, 4))
        current["input"] = data
        return data, targets.target_bundle(data, str(workdir))

    def workbook():
        values = [None, True, 3, -1, 2.5, 1e30, float("nan"), "", "high", "HIGH", "yes", "No", host_id, "grp-1",
                  "x" * 5000, "=1+1", "\u202e", _random_text(rng, 6), T0.replace(tzinfo=None),
                  "n" * 32_000, "n" * 32_001, "\U0001F642" * 16_001, "  lead\r\n", "_x0041__x005F_x202E_", " "]
        header = ["Host ID", "Owner", "Criticality", "Patient data", "Notes"]
        rng.shuffle(header)
        rows = [[rng.choice(values) for _ in header] for _ in range(rng.randrange(4))]
        groups = [["Group ID", "Wave"]] + [[rng.choice(values), rng.choice(values)] for _ in range(rng.randrange(3))]
        path = workdir / "fuzz.xlsx"
        current["input"] = json.dumps([header, rows, groups], default=str).encode()
        targets.write_workbook(path, [header] + rows, groups if rng.random() < 0.8 else None)
        if rng.random() < 0.2:  # damage the file itself
            path.write_bytes(targets.mutate_random(rng, path.read_bytes(), 2))
        return json.dumps([header, rows, groups], default=str).encode(), targets.target_workbook(store, path)

    def workbook_bomb():
        kind = rng.choice(targets.BOMBS)
        scale = rng.choice((0.0005, 0.002, 0.01, 0.1, 1.0, 2.0))
        path = workdir / "bomb.xlsx"
        described = targets.write_workbook_bomb(path, kind, host_id, scale)
        current["input"] = f"{kind} scale {scale}: {described}".encode()
        if rng.random() < 0.3:  # damage it too (its directory, headers or data)
            data = path.read_bytes()
            at = rng.choice((0, max(0, len(data) - 4096), rng.randrange(len(data))))
            path.write_bytes(data[:at] + targets.mutate_random(rng, data[at:at + 4096], 2) + data[at + 4096:])
        return current["input"], targets.target_workbook(store, path)

    def ssh_text():
        if rng.random() < 0.5:
            raw = targets.mutate_random(rng, ssh[rng.choice(ssh_names)].encode(), rng.randrange(1, 4))
        else:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        text = raw.decode("utf-8", errors="replace")
        if rng.random() < 0.3:
            text = _random_text(rng, rng.randrange(120))
        current["input"] = text.encode("utf-8", "surrogatepass")
        targets.target_ssh_text(text)
        return current["input"], "ok"

    def ssh_inventory():
        host = rng.choice(sorted(by_host))
        texts = dict(by_host[host])
        for name in rng.sample(sections, rng.randrange(4)):
            texts.pop(name, None)
        for name in rng.sample(sections, rng.randrange(3)):
            texts[name] = targets.mutate_random(rng, texts.get(name, "x").encode(), 2).decode("utf-8", "replace")
        statuses = {name: rng.choice((0, 1, 127, None)) for name in rng.sample(sections, rng.randrange(3))}
        current["input"] = json.dumps([texts, statuses]).encode("utf-8", "surrogatepass")
        targets.target_ssh_inventory(texts, statuses)
        return json.dumps([texts, statuses]).encode("utf-8", "surrogatepass"), "ok"

    def safe_cells():
        text = _random_text(rng, rng.randrange(40))
        if rng.random() < 0.3:
            text = rng.choice("=+-@\t\r ") + text
        current["input"] = text.encode("utf-8", "surrogatepass")
        targets.target_safe_cells(text)
        return text.encode("utf-8", "surrogatepass"), "ok"

    return {"nmap-xml": nmap_xml, "nmap-xml→store": nmap_store, "bundle (bytes)": bundle_bytes_,
            "bundle (forged, re-digested)→store": bundle_forged, "workbook": workbook,
            "workbook bombs": workbook_bomb, "ssh-text": ssh_text,
            "ssh-inventory": ssh_inventory, "safe-cells": safe_cells}


def make_passive_fuzzers(rng: random.Random, workdir: Path):
    """Return {name: function() -> (input bytes, outcome)} for the passive capture parser: frames folded one by
    one (a session whose frames are mutated, so the handshake before a mutated payload makes a flow whose
    headers are read), the header decoders on mutated payloads, and whole pcap/pcapng files. A failing frame
    sequence is saved as a pcap file (`estatemap import` it to replay)."""
    sessions = targets.passive_sessions()
    names = sorted(sessions)
    payloads = targets.passive_payload_seeds()
    captures = targets.capture_seeds()
    capture_names = sorted(captures)
    prefixes = (b"", b"\x01\x00", b"\x02\x00", b"\x0bMSH|^~\\&|", b"\x16\x03\x01", b"\x16\x03\x03\x00\x80\x02",
                b"\x80", b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 ")

    def mutated_session() -> list[bytes]:
        frames = list(sessions[rng.choice(names)])
        for _ in range(rng.randrange(1, 3)):
            at = rng.randrange(len(frames))
            frames[at] = targets.mutate_bytes_random(rng, frames[at], rng.randrange(1, 4))
        if rng.random() < 0.2:   # a frame of another session, or one sent twice (a retransmission)
            other = sessions[rng.choice(names)]
            frames.insert(rng.randrange(len(frames) + 1), rng.choice(other + frames))
        return frames

    def as_capture(frames: list[bytes]) -> bytes:
        with tempfile.TemporaryDirectory(dir=workdir) as folder:
            return targets.write_capture(Path(folder) / "frames.pcap", frames).read_bytes()

    def passive_frames():
        frames = mutated_session()
        current["input"] = as_capture(frames)
        return current["input"], targets.target_passive_frames(frames)

    def passive_frames_store():
        frames = mutated_session()
        current["input"] = as_capture(frames)
        return current["input"], targets.target_passive_frames(frames, str(workdir))

    def passive_decoders():
        if rng.random() < 0.8:
            data = targets.mutate_bytes_random(rng, rng.choice(payloads), rng.randrange(1, 5))
        else:
            data = rng.choice(prefixes) + rng.randbytes(rng.randrange(600))
        current["input"] = data
        return data, targets.target_passive_decoders(data)

    def capture_file():
        data = captures[rng.choice(capture_names)]
        if rng.random() < 0.3:   # the file's and first records' headers: lengths, magic, link type
            head = rng.randrange(0, 96)
            data = data[:head] + targets.mutate_bytes_random(rng, data[head:head + 32], 2) + data[head + 32:]
        else:
            data = targets.mutate_bytes_random(rng, data, rng.randrange(1, 5))
        current["input"] = data
        return data, targets.target_capture_file(data, str(workdir))

    return {"passive-frames": passive_frames, "passive-frames→store": passive_frames_store,
            "passive-decoders": passive_decoders, "capture-file": capture_file}


def fuzz(name, one, *, seconds: float, examples: int | None, out: Path) -> tuple[int, int, dict, float]:
    """Run `one` until the time or example budget is spent; return (inputs tried, failures, outcomes, the
    slowest input's seconds)."""
    tried = failures = 0
    slowest = 0.0
    outcomes: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    limit = examples if examples is not None else 10**12
    while tried < limit and (examples is not None or time.monotonic() < deadline):
        tried += 1
        current.clear()
        started = time.monotonic()
        try:
            data, outcome = one()
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        except Exception:  # a failure: keep the input and the traceback for replay
            failures += 1
            stem = out / f"{re.sub(r'[^a-z0-9-]+', '_', name)}-{failures}"
            stem.with_suffix(".txt").write_text(traceback.format_exc())
            stem.with_suffix(".input").write_bytes(current.get("input", b""))
        slowest = max(slowest, time.monotonic() - started)
    return tried, failures, outcomes, slowest


def big_nmap_import(megabytes: int) -> None:
    """Generate an nmap file of `megabytes` MiB and import it through the CLI; print time and peak memory."""
    from tests.unit.test_hostile_input import run_measured

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = folder / "big.xml"
        started = time.monotonic()
        hosts, up = targets.write_big_nmap_xml(path, megabytes << 20)
        generated = time.monotonic() - started
        started = time.monotonic()
        code, err, peak = run_measured(["--db", str(folder / "big.db"), "-q", "import", str(path)], folder)
        took = time.monotonic() - started
        size = path.stat().st_size
    print(f"\nstreamed nmap XML import: {size / 2**20:,.0f} MiB, {hosts:,} hosts ({up:,} up, stored), "
          f"exit {code}, {took:.1f} s ({size / 2**20 / took:.0f} MiB/s; generating took {generated:.1f} s), "
          f"peak RSS {peak / 2**20:.0f} MiB" + (f"\n{err}" if err else ""))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="time per target (default 30)")
    parser.add_argument("--examples", type=int, help="inputs per target instead of a time budget")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1): runs are reproducible")
    parser.add_argument("--only", action="append", help="run only targets whose name contains this")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "estatemap-fuzz-failures"),
                        help="where failing inputs and their tracebacks go (default: a folder in the temp dir)")
    parser.add_argument("--big-nmap-mb", type=int, help="also import a generated nmap XML file of this many MiB")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    rows = []
    total_failures = 0
    with tempfile.TemporaryDirectory() as workdir:
        fuzzers = make_fuzzers(rng, Path(workdir))
        fuzzers.update(make_passive_fuzzers(rng, Path(workdir)))
        for name, one in fuzzers.items():
            if args.only and not any(o in name for o in args.only):
                continue
            if not args.examples and args.seconds <= 0:
                continue
            started = time.monotonic()
            tried, failures, outcomes, slowest = fuzz(name, one, seconds=args.seconds, examples=args.examples,
                                                      out=out)
            took = time.monotonic() - started
            total_failures += failures
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            rows.append((name, tried, failures, took, slowest, peak,
                         ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))))
            print(f"  {name}: {tried} inputs, {failures} failures", file=sys.stderr)
    if rows:
        width = max(len(r[0]) for r in rows)
        print(f"{'parser'.ljust(width)}  {'inputs tried':>12}  {'failures':>8}  {'seconds':>7}  {'slowest s':>9}  "
              f"{'peak MiB':>8}  outcomes")
        for name, tried, failures, took, slowest, peak, outcomes in rows:
            print(f"{name.ljust(width)}  {tried:>12,}  {failures:>8}  {took:>7.1f}  {slowest:>9.2f}  {peak:>8,.0f}  "
                  f"{outcomes}")
        print(f"(seed {args.seed}; failing inputs' tracebacks in {out})" if total_failures else f"(seed {args.seed})")
    if args.big_nmap_mb:
        big_nmap_import(args.big_nmap_mb)
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
