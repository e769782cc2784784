"""Long tasks off the GUI thread: a plain function runs on a QThread and reports through signals only.

The task is any `fn(progress, cancel_event)`: `progress(done, total, message)` has the shape of
discovery.records.model.ProgressCallback (so it can be handed straight to run_scan) and `progress.log(text)`
adds a line to the task's log; `cancel_event` is a threading.Event the task checks (run_scan takes it
as `cancel`). The worker never touches a widget: dialogs connect its signals to slots, which Qt runs
on the GUI thread.

    worker = start_task(self, lambda progress, cancel: run_scan(store, scanner, progress=progress, cancel=cancel))
    worker.progress_changed.connect(self.on_progress)
    worker.finished.connect(self.on_finished)
    worker.failed.connect(self.on_failed)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from discovery.records.model import EstateError

log = logging.getLogger(__name__)

INT_MAX = 2**31 - 1  # Qt's int: larger totals (bytes of a big file) are scaled to per mille


class TaskProgress:
    """What a task calls to report: `progress(done, total, message)` and `progress.log(text)`; emits signals only."""

    def __init__(self, runner: _TaskRunnerWorker):
        self._runner = runner

    def __call__(self, done: int, total: int | None, message: str) -> None:
        total = -1 if total is None or total < 0 else int(total)
        done = max(0, int(done))
        if total > INT_MAX or done > INT_MAX:
            done, total = (done * 1000 // total, 1000) if total > 0 else (0, -1)
        self._runner.progress_changed.emit(done, total, str(message))

    def log(self, text: str) -> None:
        self._runner.log_message.emit(str(text))


class _TaskRunnerWorker(QObject):
    """Lives on the task's QThread: runs the function and emits what happens (queued to the TaskWorker)."""

    progress_changed = Signal(int, int, str)
    log_message = Signal(str)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[TaskProgress, threading.Event], Any], cancel_event: threading.Event,
                 done: threading.Event):
        super().__init__()
        self._fn, self._cancel_event, self._done = fn, cancel_event, done

    @Slot()
    def run(self) -> None:
        """Run the task (on the task's thread); emit finished or failed; then quit the thread it runs on."""
        result, error = None, None
        try:
            result = self._fn(TaskProgress(self), self._cancel_event)
        except EstateError as exc:
            error = str(exc) or type(exc).__name__
        except Exception as exc:  # a bug must reach the user as one line, the traceback only the log
            log.error("task failed", exc_info=True)
            error = f"Unexpected error: {type(exc).__name__}: {exc}"
        self._done.set()
        if error is None:
            self.finished.emit(result)
        else:
            self.failed.emit(error)
        app = QCoreApplication.instance()
        if app is not None and self.thread() is not app.thread():
            self.thread().quit()  # its event loop ends once this slot returns


class TaskWorker(QObject):
    """The GUI thread's handle on a task running `fn(progress, cancel_event)` on its own QThread (see start_task).

    Its signals are emitted on the GUI thread (relayed, queued, from the task's thread), so any slot,
    lambda or qtbot.waitSignal connected to them runs on the GUI thread. Exactly one of
    `finished(result)` or `failed(message)` is emitted: `failed` carries an EstateError's text as is,
    or "Unexpected error: …" for anything else (the traceback goes to the logging module only).
    """

    progress_changed = Signal(int, int, str)   # done, total (-1: unknown), message
    log_message = Signal(str)
    finished = Signal(object)                  # fn's return value
    failed = Signal(str)

    def __init__(self, fn: Callable[[TaskProgress, threading.Event], Any], parent: QObject | None = None):
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self.result: Any = None
        self.error: str | None = None
        self._done = threading.Event()
        self.runner = _TaskRunnerWorker(fn, self.cancel_event, self._done)
        self.runner.progress_changed.connect(self._relay_progress)
        self.runner.log_message.connect(self._relay_log)
        self.runner.finished.connect(self._relay_finished)
        self.runner.failed.connect(self._relay_failed)

    @Slot(int, int, str)
    def _relay_progress(self, done: int, total: int, message: str) -> None:
        self.progress_changed.emit(done, total, message)

    @Slot(str)
    def _relay_log(self, text: str) -> None:
        self.log_message.emit(text)

    @Slot(object)
    def _relay_finished(self, result: Any) -> None:
        self.result = result
        self.finished.emit(result)

    @Slot(str)
    def _relay_failed(self, message: str) -> None:
        self.error = message
        self.failed.emit(message)

    def cancel(self) -> None:
        """Ask the task to stop (thread-safe); it ends at its next check, keeping what it finished."""
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def is_running(self) -> bool:
        """Return whether the task's function has not yet returned (True from start_task until then)."""
        return not self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the task's function has returned (its signals arrive later, on the GUI thread)."""
        return self._done.wait(timeout)


class _TaskHandle(QObject):
    """Keeps a task's QThread and workers alive until the thread has ended, then deletes them (GUI thread)."""

    def __init__(self, thread: QThread, worker: TaskWorker):
        super().__init__()
        self.thread_, self.worker = thread, worker

    @Slot()
    def release(self) -> None:
        self.thread_.wait()
        _tasks.discard(self)
        self.worker.runner.deleteLater()
        self.thread_.deleteLater()


_tasks: set[_TaskHandle] = set()


class PromptBridge(QObject):
    """Lets a task on another thread ask the user something and wait for the answer.

    `ask(message)` may be called from any thread (a worker, or asyncssh's): the question is shown by
    `asker(message)` on this object's (the GUI) thread, and the caller blocks until it returns.
    """

    _asked = Signal(str)

    def __init__(self, asker: Callable[[str], str | None], parent: QObject | None = None):
        super().__init__(parent)
        self._asker, self._answer = asker, None
        self._lock = threading.Lock()  # one question at a time
        self._asked.connect(self._on_asked, Qt.ConnectionType.BlockingQueuedConnection)

    def ask(self, message: str) -> str | None:
        """Return the user's answer to `message` (None if they declined)."""
        if QThread.currentThread() is self.thread():
            return self._asker(message)
        with self._lock:
            self._answer = None
            self._asked.emit(message)
            return self._answer

    @Slot(str)
    def _on_asked(self, message: str) -> None:
        self._answer = self._asker(message)


def ask_yes_no(parent, title: str, question: str) -> bool:
    """Ask `question` in a modal box whose default answer is No; return True for Yes."""
    from PySide6.QtWidgets import QMessageBox
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, question, yes | no, no) == yes


def start_task(parent: QObject | None, fn: Callable[[TaskProgress, threading.Event], Any]) -> TaskWorker:
    """Start `fn(progress, cancel_event)` on a new QThread and return its TaskWorker (call from the GUI thread).

    Connect to the worker's signals straight after this call: they reach the GUI thread as queued
    events, so none is delivered before control returns to the event loop.

    The thread quits when the task returns and is waited for and deleted on the GUI thread; it is kept
    alive by this module meanwhile, so it is never destroyed while running. When `parent` is destroyed
    the task is asked to stop.
    """
    _install_quit_hook()
    thread = QThread()
    thread.setObjectName("estatemap-task")
    worker = TaskWorker(fn)
    worker.runner.moveToThread(thread)
    handle = _TaskHandle(thread, worker)
    _tasks.add(handle)
    thread.started.connect(worker.runner.run)
    thread.finished.connect(handle.release)
    if parent is not None:
        event = worker.cancel_event
        parent.destroyed.connect(lambda *_: event.set())
    thread.start()
    return worker


def running_tasks() -> list[TaskWorker]:
    """Return the workers whose threads have not been released yet."""
    return [h.worker for h in _tasks]


def stop_all_tasks(timeout: float = 10.0) -> bool:
    """Cancel every task and wait up to `timeout` seconds each for its thread to end; return whether all did."""
    handles = list(_tasks)
    for handle in handles:
        handle.worker.cancel()
    ended = True
    for handle in handles:
        ended = handle.thread_.wait(int(timeout * 1000)) and ended
    return ended


_hooked = False


def _install_quit_hook() -> None:
    global _hooked
    app = QCoreApplication.instance()
    if app is not None and not _hooked:
        app.aboutToQuit.connect(stop_all_tasks)
        _hooked = True
