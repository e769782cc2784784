"""How fast and how big is `scan snmp` over many agents, and does it keep to its rate cap? N simulated agents
(default 200) on loopback addresses 127.0.0.1..127.0.0.N, all on one UDP port and all served by one snmpsim
process with one real device's recording (tests/data/snmp_recordings/, default the Windows Server 2003 walk:
2,272 objects, HOST-RESOURCES software and processes, TCP and UDP tables). SnmpScanner runs in-process, in a
fresh child process per run, walking every table it reads (system group, IF-MIB, IP, HOST-RESOURCES, TCP/UDP,
ENTITY-MIB, Printer-MIB, UPS-MIB, LLDP, CDP, BRIDGE/Q-BRIDGE) of every agent:

- cap raised (--raised-cap, default 10,000 requests/s: concurrency decides): a full walk of all N agents at
  --concurrency 1 and 20: wall time, requests, requests per second, peak memory;
- the default cap (50 requests/s): at --concurrency 1 and 20, the scan is stopped after --capped-seconds and
  the request rate over that time is compared with the cap; the time a full walk would take at that rate
  follows from the request count of the full walks above.

Requests are counted where the scanner spaces them: every request waits on the scan's RateCap and is counted
as it is released (its first transmission; pysnmp's retries after a timeout are not counted). Memory is the
child process's peak resident set (ru_maxrss, a fresh process per run), and its growth over the resident set
just before the scan. snmpsim and the scanner share this machine's CPUs, so on a small machine the agents'
side is part of what is measured. Traffic goes to loopback only. Run:
    .venv/bin/python bench/snmp_scan.py [--agents 200] [--recording server-2003-5-2] [--capped-seconds 15] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHILD_TIMEOUT = 900          # seconds one run may take, whatever happens
CONCURRENCIES = (1, 20)


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def run_scan(addresses: list[str], port: int, community: str, concurrency: int, max_rate: float,
             stop_after: float | None) -> dict:
    """Scan the agents in this process; return wall seconds, requests, reports, failures, warnings and memory.
    With `stop_after`, the scan is cancelled after that many seconds and the figures are those up to then."""
    from discovery.records.model import ScanCancelled, ScanContext
    from scanners import snmp_agent
    from scanners.snmp_agent import Credential, SnmpScanner

    requests = [0]
    wait = snmp_agent.RateCap.wait

    async def counted(cap) -> None:
        await wait(cap)
        requests[0] += 1  # released: the request goes out now

    snmp_agent.RateCap.wait = counted
    scanner = SnmpScanner(addresses, [Credential(version="2c", secret=community)], port=port,
                          concurrency=concurrency, max_rate=max_rate)
    ctx = ScanContext()
    reports, stopped = 0, {}

    def stop() -> None:
        stopped.update(seconds=time.monotonic() - started, requests=requests[0], reports=reports)
        ctx.cancel()

    timer = threading.Timer(stop_after, stop) if stop_after else None
    rss_before = _rss_mib()
    started = time.monotonic()
    if timer:
        timer.start()
    try:
        for _ in scanner.scan(ctx):
            reports += 1
    except ScanCancelled:
        pass
    finally:
        if timer:
            timer.cancel()
    seconds = time.monotonic() - started
    figures = stopped or {"seconds": seconds, "requests": requests[0], "reports": reports}
    return {**figures, "agents": len(addresses), "failed": len(scanner.failed), "warnings": len(ctx.warnings),
            "first_warning": ctx.warnings[0] if ctx.warnings else None, "stopped": bool(stopped),
            "rss_before_mib": rss_before,
            "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _child(spec: dict) -> dict:
    command = [sys.executable, __file__, "--child", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}): {done.stderr[-1500:]}")
    return json.loads(done.stdout.splitlines()[-1])


def _row(label: str, concurrency: int, cap: float, run: dict) -> str:
    rate = run["requests"] / run["seconds"]
    walked = f"{run['reports']:>3}/{run['agents']} agents" + (" (stopped)" if run["stopped"] else "")
    return (f"{label:<13} {concurrency:>4} {run['seconds']:>8.1f} {run['requests']:>8,} {rate:>7.1f} "
            f"{rate / cap:>7.1%}  {walked:<24} {run['failed']:>3} {run['warnings']:>4}  "
            f"{run['rss_peak_mib']:>6.1f} {run['rss_peak_mib'] - run['rss_before_mib']:>+6.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=200, help="simulated agents, 127.0.0.1.. (default: 200)")
    parser.add_argument("--recording", default="server-2003-5-2",
                        help="the recording every agent answers with (tests/data/snmp_recordings/NAME.snmprec.bz2)")
    parser.add_argument("--raised-cap", type=float, default=10_000, help="the raised cap (default: 10,000/s)")
    parser.add_argument("--capped-seconds", type=float, default=15.0,
                        help="how long each run at the default cap lasts before it is stopped (default: 15)")
    parser.add_argument("--quick", action="store_true", help="40 agents, 8 s at the default cap")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(run_scan(**spec)))
        return 0
    if args.quick:
        args.agents, args.capped_seconds = 40, 8.0
    if not 1 <= args.agents <= 254:
        parser.error("--agents is 1 to 254 (loopback addresses 127.0.0.1..127.0.0.254)")

    from scanners.snmp_agent import DEFAULT_MAX_RATE
    from tests.snmpsim_fixture import RECORDINGS, read_snmprec, snmpsim_agent

    recording = RECORDINGS / f"{args.recording}.snmprec.bz2"
    addresses = [f"127.0.0.{n}" for n in range(1, args.agents + 1)]
    started = time.monotonic()
    with snmpsim_agent([recording], addresses=addresses) as agents:
        community = agents.communities[args.recording]
        print(f"{args.agents} agents (127.0.0.1..{addresses[-1]}, udp/{agents.port}) answering with "
              f"{recording.name} ({len(read_snmprec(recording)):,} objects), one snmpsim process (PID {agents.pid}), "
              f"ready in {time.monotonic() - started:.1f} s; {os.cpu_count()} CPUs")
        print(f"{'cap':<13} {'conc':>4} {'seconds':>8} {'requests':>8} {'req/s':>7} {'of cap':>7}  "
              f"{'walked':<24} {'err':>3} {'warn':>4}  {'peak MiB':>6} {'growth':>6}")
        full, capped = {}, {}
        for concurrency in CONCURRENCIES:
            full[concurrency] = _child(dict(addresses=addresses, port=agents.port, community=community,
                                            concurrency=concurrency, max_rate=args.raised_cap, stop_after=None))
            print(_row(f"{args.raised_cap:,.0f}/s", concurrency, args.raised_cap, full[concurrency]), flush=True)
        for concurrency in CONCURRENCIES:
            capped[concurrency] = _child(dict(addresses=addresses, port=agents.port, community=community,
                                              concurrency=concurrency, max_rate=DEFAULT_MAX_RATE,
                                              stop_after=args.capped_seconds))
            print(_row(f"{DEFAULT_MAX_RATE:,}/s (default)", concurrency, DEFAULT_MAX_RATE, capped[concurrency]),
                  flush=True)

    one, many = full[CONCURRENCIES[0]], full[CONCURRENCIES[1]]
    per_agent = one["requests"] / one["agents"]
    print(f"\nA full walk: {per_agent:.0f} requests an agent ({one['requests']:,} for {args.agents}).")
    print(f"Cap raised, --concurrency {CONCURRENCIES[1]} vs 1: {one['seconds'] / many['seconds']:.2f}x faster "
          f"({one['seconds']:.1f} s -> {many['seconds']:.1f} s; "
          f"{one['requests'] / one['seconds']:.0f} -> {many['requests'] / many['seconds']:.0f} requests/s), "
          f"peak memory {many['rss_peak_mib'] / one['rss_peak_mib']:.2f}x "
          f"({one['rss_peak_mib']:.1f} -> {many['rss_peak_mib']:.1f} MiB).")
    for concurrency, run in capped.items():
        rate = run["requests"] / run["seconds"]
        print(f"Default cap, --concurrency {concurrency}: {rate:.1f} requests/s = {rate / DEFAULT_MAX_RATE:.1%} of "
              f"{DEFAULT_MAX_RATE}/s over {run['seconds']:.1f} s; a full walk of {args.agents} agents at that rate: "
              f"{one['requests'] / rate / 60:.1f} min.")
    c1, c20 = (capped[c]["requests"] / capped[c]["seconds"] for c in CONCURRENCIES)
    print(f"Default cap, --concurrency {CONCURRENCIES[1]} vs 1: {c20 / c1:.2f}x the request rate.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
