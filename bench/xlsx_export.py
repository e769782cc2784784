"""Excel export of a large estate: the streaming exporter against openpyxl's default (in-memory) mode.

Builds a synthetic inventory of 50,000 hosts and 200,000 sheet rows (50,000 hosts, 100,000 services,
40,000 software packages, 10,000 findings), then exports it

- with exports.xlsx.XlsxExporter (write-only workbook: styled cells, dates, links, conditional formatting);
- with a baseline that writes the same rows (same values: dates parsed, text cleaned) into a normal openpyxl
  Workbook and saves it (no links or styles, so the baseline does less work per cell).

Each is timed in one pass and its peak traced memory measured in a separate pass (tracemalloc slows the
code it traces), after the inventory is built (the inventory itself is not counted). Prints both and the ratios.

Run: .venv/bin/python bench/xlsx_export.py [HOSTS]
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openpyxl import Workbook  # noqa: E402

from exports.safe_cells import flatten, parse_datetime, safe_text  # noqa: E402
from exports.xlsx import SHEETS, XlsxExporter  # noqa: E402

T = "2026-11-01T09:00:00+00:00"
PRODUCTS = ("nginx", "OpenSSH", "PostgreSQL DB", "Apache httpd", "Microsoft IIS httpd", "=HYPERLINK(\"x\")")


def make_inventory(hosts: int) -> dict:
    """Return an inventory of `hosts` hosts with 2 services each, 0.8 packages and 0.2 findings per host."""
    return {
        "schema": "estatemap/1", "generated_at": T,
        "hosts": [{"id": f"h-{i:06x}", "hostname": f"host{i:06d}.example.org",
                   "addresses": [f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}"],
                   "macs": [f"52:54:00:{i >> 16:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"], "os_name": "Debian GNU/Linux",
                   "os_version": "12 (bookworm)", "os_family": ("linux", "windows", "embedded")[i % 3],
                   "cpu_cores": 4, "memory_bytes": 8 * 2**30, "risk_score": i % 101, "legacy": i % 7 == 0,
                   "risk_factors": [{"factor": "legacy", "points": 25, "detail": "past end of support"}],
                   "first_seen": T, "last_seen": T, "sources": ["nmap"]} for i in range(hosts)],
        "services": [{"id": f"h-{i // 2:06x}:tcp/{port}", "host_id": f"h-{i // 2:06x}", "address": "0.0.0.0",
                      "port": port, "protocol": "tcp", "state": "open", "product": PRODUCTS[i % len(PRODUCTS)],
                      "version": "1.2.3", "category": "web", "observed_at": T, "cpes": ["cpe:/a:nginx:nginx:1.2.3"]}
                     for i, port in ((i, (22, 443)[i % 2]) for i in range(2 * hosts))],
        "software": [{"host_id": f"h-{i % hosts:06x}", "name": f"package-{i % 997}", "version": "2.0-1",
                      "vendor": None, "source": "ssh"} for i in range(hosts * 4 // 5)],
        "findings": [{"id": f"f-{i}", "host_id": f"h-{i * 5 % hosts:06x}",
                      "severity": ("critical", "high", "medium", "low", "info")[i % 5],
                      "rule": "eol", "category": "legacy", "title": "past end of support", "evidence": "banner",
                      "recommendation": "upgrade", "confidence": "high"} for i in range(hosts // 5)],
        "groups": [], "scans": [{"id": 1, "kind": "network", "started_at": T, "finished_at": T, "status": "completed"}],
    }


def write_baseline(inventory: dict, path: Path) -> None:
    """The same rows and values in openpyxl's default mode: every cell is kept in memory until saved."""
    wb = Workbook()
    wb.remove(wb.active)
    for title, key, columns in SHEETS:
        ws = wb.create_sheet(title)
        ws.append([c.header for c in columns])
        for row in inventory.get(key) or ():
            values = []
            for c in columns:
                value = c.get(row)
                if c.kind == "date":
                    value = parse_datetime(value)
                elif c.kind == "host":
                    value = value and f"{value}"
                elif value is not None and not isinstance(value, (int, float, bool)):
                    value = safe_text(flatten(value)) or None
                values.append(value)
            ws.append(values)
    wb.save(path)


def write_streaming(inventory: dict, path: Path) -> None:
    XlsxExporter().write(inventory, path)


def timed(func, inventory, path) -> float:
    gc.collect()
    started = time.perf_counter()
    func(inventory, path)
    return time.perf_counter() - started


def peak(func, inventory, path) -> int:
    gc.collect()
    tracemalloc.start()
    func(inventory, path)
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top


def main() -> None:
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    inventory = make_inventory(hosts)
    rows = sum(len(inventory[k]) for k in ("hosts", "services", "software", "findings"))
    print(f"{hosts:,} hosts, {rows:,} sheet rows")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, func in (("streaming", write_streaming), ("baseline", write_baseline)):
            path = Path(folder) / f"{name}.xlsx"
            seconds = timed(func, inventory, path)
            size = path.stat().st_size
            path.unlink()
            memory = peak(func, inventory, path)
            path.unlink()
            results[name] = (seconds, memory)
            print(f"{name:>10}: {seconds:6.1f} s   peak traced memory {memory / 2**20:7.1f} MiB   "
                  f"file {size / 2**20:5.1f} MiB")
    (s_time, s_mem), (b_time, b_mem) = results["streaming"], results["baseline"]
    print(f"streaming / baseline: time {s_time / b_time:.2f}x, peak memory {s_mem / b_mem:.3f}x")


if __name__ == "__main__":
    main()
