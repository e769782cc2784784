"""How fast are the graph canvas and the hosts table with a large estate? A synthetic estate (bench/synthetic_estate.py) of 5,000
hosts in an offscreen QApplication: the time from `GraphView.set_snapshot` until the graph is first painted
(derive the host view, lay out on the worker thread, build the items, paint the viewport), then the time of
each frame while zooming in and out about the centre and panning (each step a scale or scroll, then
`viewport().repaint()` and processEvents), as median and 95th percentile against the goals; then the time
from `InventoryView.set_snapshot` until the Hosts table is first painted, and a sort and a filter on it.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_graph.py [--hosts 5000] [--layout layered|force]
     [--steps 50] [--size 1600x1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui.data import snapshot_of  # noqa: E402
from gui.graph_view import GraphView  # noqa: E402
from gui.inventory_view import InventoryView  # noqa: E402
from synthetic_estate import generate_estate  # noqa: E402

FIRST_PAINT_GOAL = 2.0    # seconds
FRAME_GOAL = 0.050        # seconds


def wait_for_layout(view: GraphView, timeout_ms: int = 120_000) -> None:
    """Run the event loop until the view reports its layout. Raises RuntimeError on failure or timeout."""
    loop = QEventLoop()
    outcome = {}
    view.layout_finished.connect(lambda: (outcome.setdefault("ok", True), loop.quit()))
    view.layout_failed.connect(lambda error: (outcome.setdefault("error", error), loop.quit()))
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    if "ok" not in outcome:
        raise RuntimeError(outcome.get("error", "layout timed out"))


def paint(app: QApplication, view: GraphView) -> float:
    """Repaint the canvas now and return the seconds it took (with the events it queued)."""
    started = time.perf_counter()
    view.canvas.viewport().repaint()
    app.processEvents()
    return time.perf_counter() - started


def frame_steps(steps: int) -> list[tuple[str, float]]:
    """Return `steps` interaction steps: zoom in, pan around, zoom back out."""
    third = max(1, steps // 3)
    plan = [("zoom", 1.15)] * third + [("pan", 120.0)] * (third // 2) + [("pan", -120.0)] * (third - third // 2)
    plan += [("zoom", 1 / 1.15)] * (steps - len(plan))
    return plan


def measure_frames(app: QApplication, view: GraphView, steps: int) -> list[float]:
    """Return the seconds each zoom or pan step took to show."""
    canvas = view.canvas
    times = []
    for kind, amount in frame_steps(steps):
        started = time.perf_counter()
        if kind == "zoom":
            canvas.zoom_by(amount)
        else:
            bar = canvas.horizontalScrollBar()
            bar.setValue(bar.value() + int(amount))
        canvas.viewport().repaint()
        app.processEvents()
        times.append(time.perf_counter() - started)
    return times


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def verdict(value: float, goal: float) -> str:
    return "ok" if value < goal else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--layout", choices=("layered", "force"), default="layered")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--size", default="1600x1000", help="canvas size, WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    app = QApplication.instance() or QApplication([])

    started = time.perf_counter()
    snapshot = snapshot_of(generate_estate(args.hosts))
    print(f"estate: {args.hosts} hosts, graph {snapshot.graph.number_of_nodes()} nodes / "
          f"{snapshot.graph.number_of_edges()} edges, built in {time.perf_counter() - started:.2f} s (not timed below)")

    view = GraphView()
    view.resize(width, height)
    view.show()
    app.processEvents()
    view.set_options(layout=args.layout)
    started = time.perf_counter()
    view.set_snapshot(snapshot)
    wait_for_layout(view)
    laid_out = time.perf_counter() - started
    first_paint = paint(app, view)
    total = time.perf_counter() - started
    result = view.last_layout
    print(f"host view: {len(result.graph)} nodes, {result.graph.number_of_edges()} edges, {args.layout} layout")
    print(f"  worker (host view + filters + layout): {result.seconds:.2f} s")
    print(f"  + items built on the GUI thread:       {laid_out - result.seconds:.2f} s")
    print(f"  + first paint:                         {first_paint:.3f} s")
    print(f"first paint after set_snapshot: {total:.2f} s   (goal < {FIRST_PAINT_GOAL:.0f} s: "
          f"{verdict(total, FIRST_PAINT_GOAL)})")

    frames = measure_frames(app, view, args.steps)
    median, p95 = statistics.median(frames), percentile(frames, 95)
    print(f"frames while zooming and panning ({len(frames)} steps, {width}x{height}): "
          f"median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, worst {max(frames) * 1000:.1f} ms   "
          f"(goal < {FRAME_GOAL * 1000:.0f} ms: {verdict(p95, FRAME_GOAL)})")

    view.fit_to_view()
    started = time.perf_counter()
    view.select_node(next(iter(sorted(view.node_ids()))))
    selected = time.perf_counter() - started
    print(f"select a node (highlight + dim): {selected * 1000:.0f} ms; "
          f"frame after: {paint(app, view) * 1000:.1f} ms")
    measure_hosts_table(app, snapshot, width, height)
    return 0


def measure_hosts_table(app: QApplication, snapshot, width: int, height: int) -> None:
    """Print the time until the Hosts table is first painted, then a sort by name and a filter."""
    inventory = InventoryView()
    inventory.resize(width, height)
    inventory.show()
    app.processEvents()
    started = time.perf_counter()
    inventory.set_snapshot(snapshot)
    table = inventory.hosts_view.table
    table.viewport().repaint()
    app.processEvents()
    total = time.perf_counter() - started
    print(f"hosts table: {inventory.hosts_view.row_count():,} rows, first paint after set_snapshot {total:.2f} s   "
          f"(goal < {FIRST_PAINT_GOAL:.0f} s: {verdict(total, FIRST_PAINT_GOAL)})")
    for label, action in (("sort by hostname", lambda: table.sortByColumn(0, table.horizontalHeader().sortIndicatorOrder())),
                          ("filter 'db'", lambda: inventory.hosts_view.set_filter_text("db"))):
        started = time.perf_counter()
        action()
        table.viewport().repaint()
        app.processEvents()
        print(f"  {label}: {(time.perf_counter() - started) * 1000:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
