"""How much time does Estate Mapper add to nmap? The same scan of the namespace test network, run by
raw nmap with identical arguments and by `estatemap scan network`, alternately; prints both and the ratio.

Needs root (it builds the test network of tests/integration/network.py). Run:
    .venv/bin/python bench/nmap_overhead.py [--rounds 3] [--profile standard] [--ports SPEC]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanners.nmap_network import NmapNetworkScanner  # noqa: E402
from tests.integration.network import running_network  # noqa: E402

RUN_TIMEOUT = 900


def timed(host, argv) -> float:
    started = time.monotonic()
    result = host.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=RUN_TIMEOUT, cwd=ROOT)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({result.returncode}): {result.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="standard", choices=("quick", "standard", "deep"))
    parser.add_argument("--ports", default=None)
    parser.add_argument("--max-rate", type=int, default=2000)
    args = parser.parse_args()

    with running_network() as net, tempfile.TemporaryDirectory() as tmp:
        targets = [net.subnet]
        excludes = [net.scanner.address]
        scanner = NmapNetworkScanner(targets, profile=args.profile, ports=args.ports, excludes=excludes,
                                     max_rate=args.max_rate, privileged=True)
        estatemap = [sys.executable, str(ROOT / "main.py"), "scan", "network", *targets, "--exclude", *excludes,
                     "--profile", args.profile, "--max-rate", str(args.max_rate), "-q"]
        if args.ports:
            estatemap += ["--ports", args.ports]
        shown = scanner.arguments if len(scanner.arguments) < 200 else scanner.arguments[:200] + " ..."
        print(f"network: {len(net.hosts) - 1} hosts up in {net.subnet}; nmap arguments: {shown}")
        raw_times, ours = [], []
        for n in range(args.rounds):
            raw_times.append(timed(net.scanner, scanner.plans[0].argv))
            ours.append(timed(net.scanner, [*estatemap[:2], "--db", f"{tmp}/bench-{n}.db", *estatemap[2:]]))
            print(f"round {n + 1}: nmap {raw_times[-1]:.2f} s, estatemap {ours[-1]:.2f} s")
        raw, mine = statistics.median(raw_times), statistics.median(ours)
        print(f"median of {args.rounds}: nmap {raw:.2f} s, estatemap scan network {mine:.2f} s, "
              f"ratio {mine / raw:.3f} (overhead {100 * (mine / raw - 1):+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
