"""The scan dialog: one tab per kind of scan in the registry (network, this host, SSH hosts, database, import
file, …), run on a worker thread.

main.py hands the dialog the registry of scanner kinds (discovery.scanning.scan_kinds.ScanKinds; gui/ never imports
scanners/). Each tab's form is built from its kind's declared options, and the scanner from the form's values
with the registry's `make_scanner`; then discovery.service.run_scan — the function `estatemap scan …`
calls — runs on a TaskWorker with its own Store (SQLite connections belong to one thread). Progress, the
live log and the summary change only in slots on the GUI thread. Cancel stops the scan at its next check;
the hosts finished before are kept and the scan is marked interrupted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QColor, QFont, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QFrame, QHBoxLayout, QInputDialog, QLabel, QLineEdit,
                               QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSpinBox, QTabWidget,
                               QVBoxLayout, QWidget)

from discovery.records.model import EstateError, counted
from discovery.scanning.scan_kinds import Option, ScanKinds, ScannerKind
from discovery.service import ScanResult, large_scan, prepare_resume, run_scan
from discovery.storage.store import Store
from discovery.records.targets import CONFIRM_ABOVE
from gui.workers import PromptBridge, TaskWorker, ask_yes_no, start_task

log = logging.getLogger(__name__)

WATCH_UNITS = (("minutes", 60), ("hours", 3600), ("seconds", 1))
WORDS_HEIGHT = 68  # a targets box: three or four lines
PERCENT_UNITS = ("step", "B")  # a kind counting these shows a percentage, not "3 of 10 hosts"
_SEPARATORS = re.compile(r"[\s,]+")
# Log lines starting so are highlighted: (prefix, colour).
HIGHLIGHTS = (("warning:", "#b85c00"), ("error:", "#b00020"))

ScannerFactory = Callable[[str, dict], object]
Reader = Callable[[], object]


def split_words(text: str) -> list[str]:
    """Return the targets in a text box: separated by spaces, commas or new lines; `#` starts a comment."""
    words = []
    for line in text.splitlines():
        words += [w for w in _SEPARATORS.split(line.split("#", 1)[0]) if w]
    return words


def format_remaining(seconds: float) -> str:
    """Return a time left as people say it: "about 45 s left", "about 12 min left", "about 1 h 05 min left"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"about {seconds} s left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


def sentence(text: str) -> str:
    """Return `text` with a capital first letter (an option's help as a check box's text)."""
    return text[:1].upper() + text[1:]


class ScanDialog(QDialog):
    """Start a scan of one kind, follow its progress and log, cancel it, and read its summary.

    Emits `scan_finished(ScanResult)` when a scan ends (completed, interrupted or failed) with its result, and
    `scan_failed(message)` when it could not run at all (e.g. the store cannot be opened; nothing was recorded).
    The widgets of a kind's form are attributes named `<kind>_<option>` (e.g. `network_targets`, `ssh_port`).
    """

    scan_finished = Signal(object)
    scan_failed = Signal(str)

    def __init__(self, store_path: str | Path, kinds: ScanKinds, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Scan")
        self.store_path = Path(store_path)
        self.kinds = kinds
        self.scanner_factory: ScannerFactory = kinds.make_scanner
        self.worker: TaskWorker | None = None
        self.result: ScanResult | None = None
        self.scanner = None
        self._kind_running: str | None = None
        self._last_message: str | None = None
        self._watch_every: float | None = None  # seconds between samples of a running --watch scan
        self._close_when_done = False
        self._readers: dict[str, dict[str, Reader]] = {}  # kind → option → reads its value from the form
        self._secrets: list[QLineEdit] = []               # cleared when a scan starts
        # A host that wants a password nobody gave: the scanner asks from its thread, the user answers here.
        self.password_bridge = PromptBridge(lambda message: self.ask_password(message), self)

        self.kind_tabs = QTabWidget()
        self._tab_kinds = tuple(kind.name for kind in kinds if kind.gui)
        for kind in kinds:
            if kind.gui:
                self.kind_tabs.addTab(self._kind_page(kind), kind.label)

        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error_label.hide()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.status_label = QLabel("Ready.")
        self.status_label.setWordWrap(True)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.log_view.setPlaceholderText("Progress and warnings appear here.")
        self.summary_label = QLabel()
        self.summary_label.setObjectName("summary")
        self.summary_label.setStyleSheet("#summary { font-weight: bold; }")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextSelectableByMouse)

        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Start scan", QDialogButtonBox.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel scan", QDialogButtonBox.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.Close)
        self.cancel_button.setEnabled(False)
        self.start_button.setDefault(True)
        self.start_button.setToolTip("Start the scan of the tab shown, with its options")
        self.cancel_button.setToolTip("Stop the scan at its next check; the hosts finished so far are kept")
        self.close_button.setToolTip("Close this dialog (a running scan is asked about first)")
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Store: {self.store_path}"))
        layout.addWidget(self.kind_tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.log_view, 1)  # the log takes the room the form does not need
        self._fit_form_height()
        self.kind_tabs.currentChanged.connect(self._fit_form_height)
        self.log_view.setMinimumHeight(self.log_view.fontMetrics().lineSpacing() * 8)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.buttons)
        self.resize(680, 700)

    # --- the forms, built from each kind's options ------------------------------------------------

    def _fit_form_height(self, *_args) -> None:
        """Give the tabs the height the shown kind's form needs and no more: the rest goes to the log."""
        page = self.kind_tabs.currentWidget()
        form = page.widget().sizeHint().height() if isinstance(page, QScrollArea) else 200
        self.kind_tabs.setMaximumHeight(self.kind_tabs.tabBar().sizeHint().height() + form + 12)

    def _kind_page(self, kind: ScannerKind) -> QWidget:
        """Return the tab of `kind`: its intro, then one row per option it asks the GUI for (scrolling when the
        form is longer than the room the log leaves)."""
        page = QWidget()
        column = QVBoxLayout(page)
        form = QFormLayout()
        column.addLayout(form)
        column.addStretch(1)  # the rows stay together at the top of a short form
        if kind.intro:
            intro = QLabel(kind.intro)
            intro.setWordWrap(True)
            form.addRow(intro)
        readers = self._readers[kind.name] = {}
        options = kind.options_for("gui")
        watched = {o.name for o in options if o.kind == "duration"} >= {"watch", "every"}
        for option in options:
            if option.kind == "prompt" or (watched and option.name == "every"):
                continue  # a prompt has no widget (below); the interval is on the watch's row
            if watched and option.name == "watch":
                row, readers["watch"], readers["every"] = self._watch_row(kind, option, kind.option("every"))
            else:
                row, readers[option.name] = self._option_row(kind, option)
            if option.label:
                form.addRow(option.label, row)
            else:
                form.addRow(row)
        for option in kind.options:
            if option.kind == "prompt":  # asked mid-scan, on this thread, whatever face the option is for
                readers[option.name] = lambda: self.password_bridge.ask
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # wide enough instead:
        scroll.setMinimumWidth(page.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
        scroll.setWidget(page)
        return scroll

    def _option_row(self, kind: ScannerKind, option: Option) -> tuple[QWidget, Reader]:
        """Return the widget (or row) that asks for `option`, and how to read its value; the widget becomes
        attribute `<kind>_<widget or name>`."""
        name = f"{kind.name}_{option.widget or option.name}"
        row = None
        if option.kind == "words" and option.flag is None:  # the positional targets: a box of lines
            widget = QPlainTextEdit()
            widget.setFixedHeight(WORDS_HEIGHT)
            read = lambda w=widget: split_words(w.toPlainText())  # noqa: E731
        elif option.kind == "words":
            widget = QLineEdit()
            read = lambda w=widget: split_words(w.text())  # noqa: E731
        elif option.kind == "int":
            widget = QSpinBox()
            widget.setRange(int(option.minimum if option.minimum is not None else 0),
                            int(option.maximum if option.maximum is not None else 2**31 - 1))
            read = widget.value
        elif option.kind == "float":
            widget = QDoubleSpinBox()
            widget.setDecimals(0)
            widget.setRange(option.minimum if option.minimum is not None else 0,
                            option.maximum if option.maximum is not None else 1e9)
            read = widget.value
        elif option.kind == "bool":
            widget = QCheckBox(sentence(option.help))
            widget.setChecked(bool(option.default))
            read = widget.isChecked
        elif option.kind == "choice":
            widget = QComboBox()
            for value, label in option.choices:
                widget.addItem(label, value)
            widget.setCurrentIndex(max(widget.findData(option.default), 0))
            read = widget.currentData
        elif option.kind == "secret":
            widget = QLineEdit()
            widget.setEchoMode(QLineEdit.Password)
            self._secrets.append(widget)
            read = lambda w=widget: w.text() or None  # noqa: E731  (as typed: spaces are part of a password)
        else:  # text, path, a duration on its own (text such as 5m)
            widget = QLineEdit()
            read = lambda w=widget: w.text().strip() or None  # noqa: E731
            if option.kind == "path":
                row, button = self._file_row(widget, lambda: self.choose_file(widget, option))
                setattr(self, f"{name}_button", button)
        if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
            if option.default is not None:
                widget.setValue(option.default)
            widget.setSuffix(option.suffix)
        if option.placeholder and hasattr(widget, "setPlaceholderText"):
            widget.setPlaceholderText(option.placeholder)
        if option.help:
            widget.setToolTip(option.help)
        setattr(self, name, widget)
        return row or widget, read

    def _watch_row(self, kind: ScannerKind, watch: Option, every: Option) -> tuple[QWidget, Reader, Reader]:
        """Return the row asking for a watch (check box, duration and unit, interval and unit) and how to read
        each of the pair, in seconds (both None without a watch)."""
        enabled = QCheckBox("Keep sampling connections for")
        duration, duration_unit = QSpinBox(), QComboBox()
        interval, interval_unit = QSpinBox(), QComboBox()
        for box in (duration, interval):
            box.setRange(1, 100_000)
        duration.setToolTip("How long to keep sampling")
        duration_unit.setToolTip("The unit of the sampling's length")
        interval_unit.setToolTip("The unit of the time between samples")
        duration.setValue(1)
        interval.setValue(5)
        for combo, default in ((duration_unit, "hours"), (interval_unit, "minutes")):
            for unit_name, unit_seconds in WATCH_UNITS:
                combo.addItem(unit_name, unit_seconds)
            combo.setCurrentText(default)
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        for widget in (enabled, duration, duration_unit, QLabel("every"), interval, interval_unit):
            line.addWidget(widget)
        line.addStretch(1)
        for widget in (duration, duration_unit, interval, interval_unit):
            widget.setEnabled(False)
            enabled.toggled.connect(widget.setEnabled)
        enabled.setToolTip(watch.help)
        interval.setToolTip(every.help)
        row.setObjectName(f"{kind.name}_watch")
        prefix = f"{kind.name}_{watch.widget or watch.name}"
        setattr(self, prefix, enabled)
        setattr(self, f"{prefix}_duration", duration)
        setattr(self, f"{prefix}_unit", duration_unit)
        setattr(self, f"{kind.name}_{every.widget or every.name}", interval)
        setattr(self, f"{kind.name}_{every.widget or every.name}_unit", interval_unit)

        def seconds(box: QSpinBox, unit: QComboBox) -> float | None:
            return float(box.value() * unit.currentData()) if enabled.isChecked() else None

        return row, lambda: seconds(duration, duration_unit), lambda: seconds(interval, interval_unit)

    @staticmethod
    def _file_row(edit: QLineEdit, choose) -> tuple[QWidget, QPushButton]:
        """Return a row holding `edit` and a Choose… button that calls `choose`, and the button."""
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(edit, 1)
        button = QPushButton("Choose…", toolTip="Choose the file")
        button.clicked.connect(choose)
        line.addWidget(button)
        return row, button

    def choose_file(self, edit: QLineEdit, option: Option) -> None:
        """Ask for the file of a path option (starting where its current one is) and put it in `edit`."""
        current = Path(edit.text().strip()).expanduser() if edit.text().strip() else None
        folder = Path(option.start_folder).expanduser() if option.start_folder else Path.home()
        start = str(current.parent if current is not None else folder if folder.is_dir() else Path.home())
        title = (option.label or option.name).rstrip(": ")
        path, _ = QFileDialog.getOpenFileName(self, title, start, option.file_filter)
        if path:
            edit.setText(path)

    # --- what the form says --------------------------------------------------------------------

    def choose_kind(self, kind: str) -> None:
        """Show the tab for `kind` (a kind's name: "network", "host", "ssh", "database", "import", …)."""
        self.kind_tabs.setCurrentIndex(self._tab_kinds.index(kind))

    def current_kind(self) -> str:
        return self._tab_kinds[self.kind_tabs.currentIndex()]

    def scanner_options(self, kind: str | None = None) -> dict:
        """Return the options the factory gets for `kind` (default: the tab shown), read from the form."""
        kind = kind or self.current_kind()
        return {name: read() for name, read in self._readers[kind].items()}

    # --- questions (methods, so tests can answer them) ----------------------------------------------

    def confirm_large_scan(self, address_count: int) -> bool:
        """Ask whether to scan more than CONFIRM_ABOVE addresses; return the answer."""
        return ask_yes_no(
            self, "Scan a large range?",
            f"The targets cover {address_count:,} addresses (more than {CONFIRM_ABOVE:,}, a /22).\n\n"
            "Check them: scanning a large clinical network takes long and touches many devices. Scan them?")

    def ask_password(self, message: str) -> str | None:
        """Ask for a password a host wants (on the GUI thread); return it, or None if the user declines."""
        text, ok = QInputDialog.getText(self, "Password", message, QLineEdit.EchoMode.Password)
        return text if ok else None

    def confirm_stop(self) -> bool:
        """Ask whether to stop the running scan (on closing the dialog); return the answer."""
        return ask_yes_no(self, "Stop the scan?", "A scan is running. Stop it? The hosts finished so far are kept.")

    # --- running -------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.is_running()

    @Slot()
    def start(self) -> bool:
        """Build the scanner from the form and start it on a worker; return whether a scan started.

        A problem with the input is shown in the dialog (error_label) and nothing starts.
        """
        if self.is_running():
            return False
        kind = self.current_kind()
        return self._start_scan(kind, self.scanner_options(kind))

    def resume(self, scan_id: int) -> bool:
        """Continue interrupted or failed scan `scan_id` (as `estatemap scan resume`); return whether it started.

        Each kind says how it continues (a network or SSH scan in the same scan without what it finished; a host
        scan or an import again as a new scan); a scan with nothing left is completed as it is. Why it cannot
        be resumed is shown in the dialog. Its targets were confirmed when it first started: not asked again."""
        if self.is_running():
            return False
        self.show_error(None)
        try:
            with Store(self.store_path, create=False) as store:
                request = prepare_resume(store, scan_id, self.kinds)
        except EstateError as error:
            self.show_error(str(error))
            return False
        for message in request.messages:
            self.append_log(message)
        if request.options is None:  # nothing was left to collect: completed as it is, as the CLI does
            self.on_finished(request.completed)
            return True
        if request.kind in self._tab_kinds:
            self.choose_kind(request.kind)
        options = dict(request.options)
        for option in self.kinds[request.kind].options:
            if option.kind == "prompt":
                options[option.name] = self.password_bridge.ask
        return self._start_scan(request.kind, options, resume_id=request.resume_id, stored_options=request.stored,
                                confirmed=True)

    def _start_scan(self, kind: str, options: dict, *, resume_id: int | None = None,
                    stored_options: dict | None = None, confirmed: bool = False) -> bool:
        self.show_error(None)
        try:
            scanner = self.scanner_factory(kind, options)
        except EstateError as error:  # a SecretNeeded too: its message says what to type
            self._clear_previous_scan()
            self.show_error(str(error))
            return False
        except Exception as error:  # a bug in the factory: one line for the user, the traceback in the log
            log.error("could not build the %s scanner", kind, exc_info=True)
            self._clear_previous_scan()
            self.show_error(f"Unexpected error: {type(error).__name__}: {error}")
            return False
        count = large_scan(scanner)
        if count and not confirmed and not self.confirm_large_scan(count):
            self.status_label.setText("Not started: the targets were not confirmed.")
            return False
        self.scanner, self.result, self._kind_running, self._last_message = scanner, None, kind, None
        self._watch_every = options.get("every") if options.get("watch") else None
        self.summary_label.clear()
        if resume_id is None and stored_options is None:
            self.log_view.clear()
        self.append_log(f"Starting {self.kinds[kind].label.lower()} scan: {', '.join(scanner.targets())}")
        arguments = getattr(scanner, "arguments", None)
        if arguments:
            self.append_log(f"running: {arguments}")
        self.progress_bar.setRange(0, 0)  # busy until the first report
        self.status_label.setText("Starting…")
        self._set_running(True)
        store_path = self.store_path

        def scan(progress, cancel_event) -> ScanResult:
            with Store(store_path) as store:  # this thread's own connection
                return run_scan(store, scanner, progress=progress, cancel=cancel_event, options=stored_options,
                                resume_id=resume_id, on_warning=lambda message: progress.log(f"warning: {message}"))

        self.worker = start_task(self, scan)
        self.worker.progress_changed.connect(self.on_progress)
        self.worker.log_message.connect(self.append_log)
        self.worker.finished.connect(self.on_finished)
        self.worker.failed.connect(self.on_failed)
        return True

    @Slot()
    def cancel(self) -> None:
        """Stop the running scan at its next check; it ends interrupted, keeping the hosts it finished."""
        if self.is_running():
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Stopping… (finished hosts are kept)")
            self.append_log("cancel requested")

    @Slot(int, int, str)
    def on_progress(self, done: int, total: int, message: str) -> None:
        if total < 0:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, max(total, 1))
            self.progress_bar.setValue(min(done, max(total, 1)))
            self.progress_bar.setFormat(self._progress_format())
        status = message if total < 0 else f"{self._progress_text(done, total)} — {message}"
        if self._watch_every and total > 0 and message.startswith("sample"):
            status += f" — {format_remaining((total - done) * self._watch_every)}"
        self.status_label.setText(status)
        if message != self._last_message:
            self._last_message = message
            self.append_log(message)

    def _running_kind(self) -> ScannerKind | None:
        return self.kinds[self._kind_running] if self._kind_running in self.kinds else None

    def _progress_format(self) -> str:
        kind = self._running_kind()
        if kind is not None and kind.unit not in PERCENT_UNITS:
            return "%v of %m " + kind.noun[1]
        return "%p%"

    def _progress_text(self, done: int, total: int) -> str:
        kind = self._running_kind()
        if kind is not None and kind.unit not in PERCENT_UNITS:
            return f"{done:,}/{total:,} {kind.noun[1]}"
        return f"{100 * done // max(total, 1)}%"

    @Slot(object)
    def on_finished(self, result: ScanResult) -> None:
        self.result = result
        self._set_running(False)
        hosts = len(result.host_ids)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1 if result.status == "completed" else 0)
        self.progress_bar.setFormat(result.status)  # the warnings reached the log as they happened
        summary = (f"Scan {result.scan_id} {result.status}: {counted(hosts, 'host')} stored; "
                   f"{counted(len(result.warnings), 'warning')}.")
        counts = ", ".join(f"{n} {name}" for name, n in result.counts.items() if n)
        if counts:
            summary += f" Found {counts}."
        if result.status == "interrupted":
            summary += " The scan was stopped; the hosts finished before are kept."
        if result.error:
            summary += f" Error: {result.error}"
            self.show_error(f"The scan {'was interrupted' if result.status == 'interrupted' else 'failed'}: "
                            f"{result.error}")
        failed = getattr(self.scanner, "failed", None)
        if failed:
            kind = self._running_kind()
            noun = kind.noun if kind is not None else ("host", "hosts")
            summary += f" Could not collect {counted(len(failed), *noun)}: {', '.join(failed)} (see the warnings)."
        self.summary_label.setText(summary)  # shown once: not repeated in the status line or the log
        self.status_label.setText("")
        self.scanner = None  # drops a password or passphrase held for the scan
        self.scan_finished.emit(result)
        if self._close_when_done:
            self.close()

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self._set_running(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.show_error(message)
        self.status_label.setText("The scan could not run.")
        self.append_log(f"error: {message}")
        self.scanner = None
        self.scan_failed.emit(message)
        if self._close_when_done:
            self.close()

    @Slot(str)
    def append_log(self, text: str) -> None:
        """Add a line to the log; warnings and errors stand out in colour."""
        colour = next((c for prefix, c in HIGHLIGHTS if text.lower().startswith(prefix)), None)
        self.log_view.appendPlainText(text)  # as written (tabs and new lines kept), scrolled into view
        document = self.log_view.document()
        first = max(0, document.blockCount() - 1 - text.count("\n"))  # the line's first block (old ones drop off)
        line_format = QTextCharFormat()  # a plain line does not take the colour of a warning before it
        if colour is not None:
            line_format.setForeground(QColor(colour))
            line_format.setFontWeight(QFont.Weight.Bold)
        cursor = QTextCursor(document.findBlockByNumber(first))
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.setCharFormat(line_format)

    def _clear_previous_scan(self) -> None:
        """Forget how the previous scan ended (progress, status, summary): a new problem is about this one."""
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.resetFormat()
        self.status_label.setText("Not started.")
        self.summary_label.clear()

    def show_error(self, message: str | None) -> None:
        """Show one readable line in the dialog (None hides it)."""
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))

    def _set_running(self, running: bool) -> None:
        self.kind_tabs.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:  # the scanner holds what it needs: no password stays on the screen
            for secret in self._secrets:
                secret.clear()

    # --- closing -------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """While a scan runs: ask, then cancel it and close once it has ended (its hosts are kept)."""
        if self.is_running():
            if self._close_when_done or self.confirm_stop():
                self._close_when_done = True
                self.cancel()
            event.ignore()
            return
        super().closeEvent(event)

    def reject(self) -> None:  # Escape goes through closeEvent's question too
        if self.is_running():
            self.close()
            return
        super().reject()
