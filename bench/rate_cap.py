"""Does `scan network --max-rate N` keep to N packets per second? Counts what actually leaves the scanner.

Builds the namespace test network (tests/integration/network.py), then for each cap runs
`estatemap scan network <ws> --profile quick --ports 1-<8 x cap> --max-rate <cap>` from the scanner host
while a sampler inside that host reads its eth0's /sys/class/net/eth0/statistics/tx_packets every 100 ms.
ws listens on nothing, so every probe is answered by a RST and the scanner's kernel sends nothing of its
own: what eth0 transmits is nmap's probes (and a few ARP packets). Prints, per cap, the mean rate over the
time packets were leaving and the peak over any 1 s window.

Needs root. Run:
    .venv/bin/python bench/rate_cap.py [--caps 50 100 300] [--seconds 8]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.network import running_network, stop_process  # noqa: E402

SAMPLE_SECONDS = 0.1
WINDOW_SAMPLES = 10          # 1 s windows for the peak
SAMPLER_LIMIT = 300          # seconds: the sampler stops by itself after this, whatever happens
SCAN_TIMEOUT = 240
# Runs inside the scanner host (its own network and mount namespace: /sys shows its own eth0).
SAMPLER = """
import sys, time
path = "/sys/class/net/eth0/statistics/tx_packets"
step, end = float(sys.argv[1]), time.monotonic() + float(sys.argv[2])
tick = time.monotonic()
while tick < end:
    with open(path) as f:
        print(f"{time.monotonic():.4f} {f.read().strip()}", flush=True)
    tick += step
    time.sleep(max(0.0, tick - time.monotonic()))
"""


@dataclass(frozen=True)
class RateMeasurement:
    cap: int
    packets: int        # sent while the scan was sending
    seconds: float      # from the last quiet sample to the last sample that saw a new packet
    mean_pps: float
    peak_pps: float     # the most packets in any 1 s window (10 samples)
    scan_status: int

    def line(self) -> str:
        return (f"cap {self.cap:>4} pps: mean {self.mean_pps:7.1f} pps ({self.mean_pps / self.cap:5.1%} of cap), "
                f"peak 1 s window {self.peak_pps:7.1f} pps ({self.peak_pps / self.cap:5.1%}); "
                f"{self.packets} packets in {self.seconds:.1f} s")


def analyse(samples: list[tuple[float, int]], cap: int, scan_status: int = 0) -> RateMeasurement:
    """Return the mean rate while packets were leaving and the busiest 1 s window, from (time, tx_packets)."""
    if len(samples) < 2:
        raise ValueError("fewer than two samples")
    changed = [i for i in range(1, len(samples)) if samples[i][1] > samples[i - 1][1]]
    if not changed:
        raise ValueError("no packet left the scanner while sampling")
    start, stop = changed[0] - 1, changed[-1]
    packets = samples[stop][1] - samples[start][1]
    seconds = samples[stop][0] - samples[start][0]
    peak = 0.0
    for i in range(start, stop + 1):
        j = min(i + WINDOW_SAMPLES, len(samples) - 1)
        if j > i and samples[j][0] > samples[i][0]:
            peak = max(peak, (samples[j][1] - samples[i][1]) / (samples[j][0] - samples[i][0]))
    return RateMeasurement(cap=cap, packets=packets, seconds=seconds, mean_pps=packets / seconds, peak_pps=peak,
                           scan_status=scan_status)


def measure_rate(network, cap: int, ports: str, target: str, db: Path) -> RateMeasurement:
    """Run `estatemap scan network` from the scanner host at `--max-rate cap` and count what eth0 sends."""
    scanner = network.scanner
    sampler = scanner.popen([sys.executable, "-c", SAMPLER, str(SAMPLE_SECONDS), str(SAMPLER_LIMIT)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = sampler.stdout.readline()  # the sampler is running before the scan starts
        if not first:
            raise RuntimeError("the tx_packets sampler did not start")
        subprocess.run(["sleep", "0.3"], check=True)
        result = scanner.run([sys.executable, str(ROOT / "main.py"), "--db", db, "scan", "network", target,
                              "--profile", "quick", "--ports", ports, "--max-rate", str(cap)],
                             capture_output=True, text=True, timeout=SCAN_TIMEOUT, cwd=ROOT)
        subprocess.run(["sleep", "0.5"], check=True)  # a few quiet samples after the scan
    finally:
        stop_process(sampler)
    lines = [first] + sampler.stdout.read().splitlines()
    samples = [(float(t), int(n)) for t, n in (line.split() for line in lines if line.strip())]
    if result.returncode != 0:
        raise RuntimeError(f"scan network failed ({result.returncode}): {result.stderr[-500:]}")
    return analyse(samples, cap, result.returncode)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--caps", type=int, nargs="+", default=[50, 100, 300])
    parser.add_argument("--seconds", type=float, default=8.0, help="how long each scan should take at its cap")
    options = parser.parse_args()
    with running_network(("scanner", "ws")) as network, tempfile.TemporaryDirectory() as tmp:
        target = network.hosts["ws"].address
        print(f"nmap from {network.scanner.address} to {target} (nothing listening), "
              f"sampling tx_packets every {SAMPLE_SECONDS * 1000:.0f} ms")
        for cap in options.caps:
            ports = f"1-{max(10, int(cap * options.seconds))}"
            measured = measure_rate(network, cap, ports, target, Path(tmp) / f"rate-{cap}.db")
            print(f"--ports {ports:<10} {measured.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
