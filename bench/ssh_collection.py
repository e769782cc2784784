"""How much does concurrency buy `estatemap scan ssh`? SSH collection of N namespace hosts (each with its own
sshd, PID and network namespace), one host at a time (--concurrency 1) and with the default concurrency,
alternately; prints both wall times (the whole command, as a user sees it) and the speed-up.

Needs root (it builds the test network of tests/integration/network.py with N extra hosts ssh01.., from
10.203.0.101). Every host shares this machine's CPUs, so the collector and all "remote" hosts compete for
the same cores: on a small machine the speed-up is bounded by the cores, not by the network. Run:
    .venv/bin/python bench/ssh_collection.py [--hosts 20] [--rounds 3] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanners.ssh_host import DEFAULT_CONCURRENCY  # noqa: E402
from tests.integration.network import running_network, ssh_host_specs  # noqa: E402

RUN_TIMEOUT = 900


def timed(host, argv, env) -> tuple[float, float]:
    """Return (wall seconds, the command's own CPU seconds) of one run inside `host`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = host.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=RUN_TIMEOUT, cwd=ROOT, env=env)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"scan ssh failed ({result.returncode}): {result.stderr.decode(errors='replace')[-800:]}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=20, help="how many ssh-only hosts (default: 20)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                        help=f"the concurrent run's --concurrency (default: the program's, {DEFAULT_CONCURRENCY})")
    args = parser.parse_args()

    specs = ssh_host_specs(args.hosts)
    names = [spec.name for spec in specs]
    started = time.monotonic()
    with running_network(("scanner",), timeout=60 + 3 * args.hosts, extra_hosts=specs,
                         sshd_hosts=names) as net, tempfile.TemporaryDirectory() as tmp:
        print(f"network: {args.hosts} hosts running sshd ({names[0]}..{names[-1]}), built in "
              f"{time.monotonic() - started:.1f} s; {os.cpu_count()} CPUs")
        env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")} | {"HOME": tmp}
        command = [sys.executable, str(ROOT / "main.py"), "-q", "scan", "ssh", *[f"root@{n}" for n in names],
                   "--key", str(net.ssh_client_key), "--known-hosts", str(net.ssh_known_hosts)]
        one, many = [], []
        for n in range(args.rounds):
            one.append(timed(net.scanner, [*command[:2], "--db", f"{tmp}/one-{n}.db", *command[2:],
                                           "--concurrency", "1"], env))
            many.append(timed(net.scanner, [*command[:2], "--db", f"{tmp}/many-{n}.db", *command[2:],
                                            "--concurrency", str(args.concurrency)], env))
            print(f"round {n + 1}: --concurrency 1: {one[-1][0]:.2f} s (collector CPU {one[-1][1]:.2f} s), "
                  f"--concurrency {args.concurrency}: {many[-1][0]:.2f} s (collector CPU {many[-1][1]:.2f} s)")
        serial, parallel = statistics.median(t for t, _ in one), statistics.median(t for t, _ in many)
        print(f"median of {args.rounds}, {args.hosts} hosts: --concurrency 1 {serial:.2f} s "
              f"({serial / args.hosts:.2f} s a host), --concurrency {args.concurrency} {parallel:.2f} s; "
              f"speed-up {serial / parallel:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
