"""The graph's layout job: `LayoutWorker` derives and lays out a display graph (gui.graph_model.lay_out) on a
QThreadPool thread and hands the result back by a signal; gui.graph_view starts one per request."""

from __future__ import annotations

import threading

import networkx as nx
from PySide6.QtCore import QObject, QThreadPool, Signal

from gui.data import Snapshot
from gui.graph_layout import LayoutCancelled
from gui.graph_model import GraphOptions, LayoutResult, lay_out


class LayoutWorker(QObject):
    """Derives and lays out a display graph on a QThreadPool thread; `layout_done(LayoutResult)` brings it
    back (also on failure, with `error` set); nothing is emitted when cancelled."""

    layout_done = Signal(object)

    def __init__(self, snapshot: Snapshot, options: GraphOptions, generation: int, bases: dict[str, nx.DiGraph]):
        super().__init__()
        self.snapshot, self.options, self.generation, self.bases = snapshot, options, generation, bases
        self.cancelled = threading.Event()

    def start(self) -> None:
        """Queue the job on the global thread pool."""
        QThreadPool.globalInstance().start(self.run)

    def run(self) -> None:
        try:
            result = lay_out(self.snapshot, self.options, self.generation, self.bases, self.cancelled)
        except LayoutCancelled:
            return
        except Exception as exc:  # a broken graph must not take the window down: report it instead
            result = LayoutResult(generation=self.generation, options=self.options,
                                  error=f"{type(exc).__name__}: {exc}", thread_ident=threading.get_ident())
        self.layout_done.emit(result)
