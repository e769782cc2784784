"""The scan dialog: one tab per kind of scan (network, this host, SSH hosts, import file), run on a worker thread.

The dialog builds the scanner with the `scanner_factory` main.py hands it (gui/ never imports
scanners/), then runs discovery.service.run_scan — the function `estatemap scan …` calls — on a
TaskWorker with its own Store (SQLite connections belong to one thread). Progress, the live log and
the summary change only in slots on the GUI thread. Cancel stops the scan at its next check; the
hosts finished before are kept and the scan is marked interrupted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QFontDatabase
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QPlainTextEdit,
                               QProgressBar, QPushButton, QSpinBox, QTabWidget, QVBoxLayout, QWidget)

from discovery.model import EstateError, counted
from discovery.service import ScanResult, complete_scan, plan_resume, run_scan
from discovery.store import Store
from discovery.targets import CONFIRM_ABOVE
from gui.workers import PromptBridge, TaskWorker, ask_yes_no, start_task

log = logging.getLogger(__name__)

KINDS = ("network", "host", "ssh", "import")
KIND_LABELS = {"network": "Network", "host": "This host", "ssh": "SSH hosts", "import": "Import file"}
PROFILES = (("quick", "Quick: top 100 ports"),
            ("standard", "Standard: top 1,000 ports, healthcare and database ports, versions"),
            ("deep", "Deep: all ports, versions, OS, safe scripts"))
DEFAULT_MAX_RATE = 300
WATCH_UNITS = (("minutes", 60), ("hours", 3600), ("seconds", 1))
IMPORT_FILTER = "nmap XML or collector bundle (*.xml *.estate *.json *.gz);;All files (*)"
_SEPARATORS = re.compile(r"[\s,]+")

ScannerFactory = Callable[[str, dict], object]


def split_words(text: str) -> list[str]:
    """Return the targets in a text box: separated by spaces, commas or new lines; `#` starts a comment."""
    words = []
    for line in text.splitlines():
        words += [w for w in _SEPARATORS.split(line.split("#", 1)[0]) if w]
    return words


class ScanDialog(QDialog):
    """Start a scan of one kind, follow its progress and log, cancel it, and read its summary.

    Emits `scan_finished(ScanResult)` when a scan ends (completed, interrupted or failed) with its result, and
    `scan_failed(message)` when it could not run at all (e.g. the store cannot be opened; nothing was recorded).
    """

    scan_finished = Signal(object)
    scan_failed = Signal(str)

    def __init__(self, store_path: str | Path, scanner_factory: ScannerFactory, parent: QWidget | None = None, *,
                 resume_request: Callable | None = None):
        super().__init__(parent)
        self.resume_request = resume_request  # scanners.factory.resume_request, handed over by main.py
        self.setWindowTitle("Scan")
        self.store_path = Path(store_path)
        self.scanner_factory = scanner_factory
        self.worker: TaskWorker | None = None
        self.result: ScanResult | None = None
        self.scanner = None
        self._kind_running: str | None = None
        self._last_message: str | None = None
        self._close_when_done = False
        # A host that wants a password nobody gave: the scanner asks from its thread, the user answers here.
        self.password_bridge = PromptBridge(lambda message: self.ask_password(message), self)

        self.kind_tabs = QTabWidget()
        self.kind_tabs.addTab(self._network_tab(), KIND_LABELS["network"])
        self.kind_tabs.addTab(self._host_tab(), KIND_LABELS["host"])
        self.kind_tabs.addTab(self._ssh_tab(), KIND_LABELS["ssh"])
        self.kind_tabs.addTab(self._import_tab(), KIND_LABELS["import"])

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
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextSelectableByMouse)

        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Start scan", QDialogButtonBox.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel scan", QDialogButtonBox.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.Close)
        self.cancel_button.setEnabled(False)
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Store: {self.store_path}"))
        layout.addWidget(self.kind_tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.log_view, 1)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.buttons)
        self.resize(640, 620)

    # --- the form ------------------------------------------------------------------------------

    def _network_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.network_targets = QPlainTextEdit()
        self.network_targets.setPlaceholderText("10.20.0.0/24  10.20.1.1-40  pacs01.example.org")
        self.network_targets.setFixedHeight(64)
        self.network_profile = QComboBox()
        for value, label in PROFILES:
            self.network_profile.addItem(label, value)
        self.network_profile.setCurrentIndex(1)
        self.network_ports = QLineEdit()
        self.network_ports.setPlaceholderText("the profile's ports (or e.g. 22,80,443,8000-8100)")
        self.network_excludes = QLineEdit()
        self.network_excludes.setPlaceholderText("targets never to touch, e.g. 10.20.0.1 10.20.0.250-254")
        self.network_max_rate = QSpinBox()
        self.network_max_rate.setRange(1, 100_000)
        self.network_max_rate.setValue(DEFAULT_MAX_RATE)
        self.network_max_rate.setSuffix(" packets/s")
        form.addRow("Targets:", self.network_targets)
        form.addRow("Profile:", self.network_profile)
        form.addRow("Ports:", self.network_ports)
        form.addRow("Exclude:", self.network_excludes)
        form.addRow("Rate limit:", self.network_max_rate)
        hint = QLabel(f"Targets are checked before anything runs; more than {CONFIRM_ABOVE:,} addresses "
                      "asks for confirmation.")
        hint.setWordWrap(True)
        form.addRow(hint)
        return page

    def _watch_row(self, prefix: str) -> tuple[QCheckBox, QSpinBox, QComboBox, QSpinBox, QComboBox, QWidget]:
        enabled = QCheckBox("Keep sampling connections for")
        duration, duration_unit = QSpinBox(), QComboBox()
        every, every_unit = QSpinBox(), QComboBox()
        for box in (duration, every):
            box.setRange(1, 100_000)
        duration.setValue(1)
        every.setValue(5)
        for combo, default in ((duration_unit, "hours"), (every_unit, "minutes")):
            for name, seconds in WATCH_UNITS:
                combo.addItem(name, seconds)
            combo.setCurrentText(default)
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        for widget in (enabled, duration, duration_unit, QLabel("every"), every, every_unit):
            line.addWidget(widget)
        line.addStretch(1)
        for widget in (duration, duration_unit, every, every_unit):
            widget.setEnabled(False)
            enabled.toggled.connect(widget.setEnabled)
        row.setObjectName(f"{prefix}_watch")
        return enabled, duration, duration_unit, every, every_unit, row

    def _host_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        text = QLabel("Inventory this machine: hardware, OS, installed software, processes, listening services, "
                      "connections and databases. Run Estate Mapper as root (or Administrator) to see every "
                      "process and socket. With a watch, connections are sampled until the watch ends or you "
                      "cancel; what was sampled is kept.")
        text.setWordWrap(True)
        form.addRow(text)
        (self.host_watch, self.host_watch_duration, self.host_watch_unit, self.host_every, self.host_every_unit,
         row) = self._watch_row("host")
        form.addRow(row)
        return page

    def _ssh_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.ssh_hosts = QPlainTextEdit()
        self.ssh_hosts.setPlaceholderText("one per line: db01  root@10.20.0.7  # comments allowed")
        self.ssh_hosts.setFixedHeight(72)
        self.ssh_user = QLineEdit()
        self.ssh_user.setPlaceholderText("your login name (user@host overrides it)")
        self.ssh_key = QLineEdit()
        self.ssh_key.setPlaceholderText("your ~/.ssh keys and ssh-agent")
        key_row, self.ssh_key_button = self._file_row(self.ssh_key, self.choose_key_file)
        self.ssh_hosts_file = QLineEdit()
        self.ssh_hosts_file.setPlaceholderText("more hosts, one per line (# starts a comment)")
        hosts_file_row, self.ssh_hosts_file_button = self._file_row(self.ssh_hosts_file, self.choose_hosts_file)
        self.ssh_excludes = QLineEdit()
        self.ssh_excludes.setPlaceholderText("hosts never to log in to: addresses, blocks, ranges, names")
        self.ssh_port = QSpinBox()
        self.ssh_port.setRange(1, 65535)
        self.ssh_port.setValue(22)
        self.ssh_concurrency = QSpinBox()
        self.ssh_concurrency.setRange(1, 500)
        self.ssh_concurrency.setValue(10)
        self.ssh_timeout = QDoubleSpinBox()
        self.ssh_timeout.setRange(1, 86_400)
        self.ssh_timeout.setDecimals(0)
        self.ssh_timeout.setValue(60)
        self.ssh_timeout.setSuffix(" s")
        self.ssh_accept_new = QCheckBox("Trust hosts not seen before and add their keys to known_hosts "
                                        "(a changed key still fails)")
        self.ssh_password = QLineEdit()
        self.ssh_password.setEchoMode(QLineEdit.Password)
        self.ssh_password.setPlaceholderText("only if no key is accepted; used for this scan, never stored")
        self.ssh_passphrase = QLineEdit()
        self.ssh_passphrase.setEchoMode(QLineEdit.Password)
        self.ssh_passphrase.setPlaceholderText("for an encrypted key; used for this scan, never stored")
        self.ssh_remember = QCheckBox("Remember a password that logs in, in the OS keyring (never in the store)")
        form.addRow("Hosts:", self.ssh_hosts)
        form.addRow("Hosts file:", hosts_file_row)
        form.addRow("Exclude:", self.ssh_excludes)
        form.addRow("User:", self.ssh_user)
        form.addRow("Key file:", key_row)
        form.addRow("Port:", self.ssh_port)
        form.addRow("Concurrency:", self.ssh_concurrency)
        form.addRow("Timeout per host:", self.ssh_timeout)
        form.addRow(self.ssh_accept_new)
        form.addRow("Password:", self.ssh_password)
        form.addRow("Key passphrase:", self.ssh_passphrase)
        form.addRow(self.ssh_remember)
        return page

    def _import_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.import_path = QLineEdit()
        self.import_path.setPlaceholderText("nmap -oX output or a collector bundle (estatemap collect)")
        row, self.import_button = self._file_row(self.import_path, self.choose_import_file)
        form.addRow("File:", row)
        return page

    @staticmethod
    def _file_row(edit: QLineEdit, choose) -> tuple[QWidget, QPushButton]:
        """Return a row holding `edit` and a Choose… button that calls `choose`, and the button."""
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(edit, 1)
        button = QPushButton("Choose…")
        button.clicked.connect(choose)
        line.addWidget(button)
        return row, button

    @Slot()
    def choose_hosts_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Hosts file", str(Path.home()), "All files (*)")
        if path:
            self.ssh_hosts_file.setText(path)

    @Slot()
    def choose_key_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "SSH private key", str(Path.home() / ".ssh"), "All files (*)")
        if path:
            self.ssh_key.setText(path)

    @Slot()
    def choose_import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "File to import", str(Path.home()), IMPORT_FILTER)
        if path:
            self.import_path.setText(path)

    # --- what the form says --------------------------------------------------------------------

    def choose_kind(self, kind: str) -> None:
        """Show the tab for `kind` ("network", "host", "ssh", "import")."""
        self.kind_tabs.setCurrentIndex(KINDS.index(kind))

    def current_kind(self) -> str:
        return KINDS[self.kind_tabs.currentIndex()]

    def scanner_options(self, kind: str | None = None) -> dict:
        """Return the options the factory gets for `kind` (default: the tab shown), read from the form."""
        kind = kind or self.current_kind()
        if kind == "network":
            return {"targets": split_words(self.network_targets.toPlainText()),
                    "profile": self.network_profile.currentData(), "ports": self.network_ports.text().strip() or None,
                    "excludes": split_words(self.network_excludes.text()), "max_rate": self.network_max_rate.value()}
        if kind == "host":
            return self._watch_options(self.host_watch, self.host_watch_duration, self.host_watch_unit,
                                       self.host_every, self.host_every_unit)
        if kind == "ssh":
            return {"hosts": split_words(self.ssh_hosts.toPlainText()), "user": self.ssh_user.text().strip() or None,
                    "key": self.ssh_key.text().strip() or None, "port": self.ssh_port.value(),
                    "concurrency": self.ssh_concurrency.value(), "timeout": self.ssh_timeout.value(),
                    "accept_new_host_keys": self.ssh_accept_new.isChecked(),
                    "password": self.ssh_password.text() or None, "passphrase": self.ssh_passphrase.text() or None,
                    "hosts_file": self.ssh_hosts_file.text().strip() or None,
                    "excludes": split_words(self.ssh_excludes.text()),
                    "remember_password": self.ssh_remember.isChecked(), "password_prompt": self.password_bridge.ask}
        return {"path": self.import_path.text().strip() or None}

    @staticmethod
    def _watch_options(enabled, duration, duration_unit, every, every_unit) -> dict:
        if not enabled.isChecked():
            return {"watch": None, "every": None}
        return {"watch": float(duration.value() * duration_unit.currentData()),
                "every": float(every.value() * every_unit.currentData())}

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

        A network or SSH scan carries on in the same scan without what it finished; a host scan or an import
        runs again as a new scan. Why it cannot be resumed is shown in the dialog."""
        if self.is_running():
            return False
        self.show_error(None)
        try:
            if self.resume_request is None:
                raise EstateError("resuming scans is not available here (use: estatemap scan resume ID)")
            with Store(self.store_path, create=False) as store:
                plan = plan_resume(store, scan_id)
                kind, options = self.resume_request(plan)
                if options is None:  # every host already collected: completed as it is, as the CLI does
                    result = complete_scan(store, scan_id)
        except EstateError as error:
            self.show_error(str(error))
            return False
        if options is None:
            self.append_log(f"Scan {scan_id} completed: nothing was left to collect")
            self.on_finished(result)
            return True
        if kind == "ssh":
            options["password_prompt"] = self.password_bridge.ask
        self.choose_kind(kind)
        self.append_log(f"Resuming scan {scan_id}" if plan.mode == "resume" else
                        f"Scan {scan_id} is run again as a new scan")
        return self._start_scan(kind, options, resume_id=scan_id if plan.mode == "resume" else None,
                                stored_options=plan.options)

    def _start_scan(self, kind: str, options: dict, *, resume_id: int | None = None,
                    stored_options: dict | None = None) -> bool:
        self.show_error(None)
        try:
            scanner = self.scanner_factory(kind, options)
        except EstateError as error:
            self.show_error(str(error))
            return False
        except Exception as error:  # a bug in the factory: one line for the user, the traceback in the log
            log.error("could not build the %s scanner", kind, exc_info=True)
            self.show_error(f"Unexpected error: {type(error).__name__}: {error}")
            return False
        count = getattr(scanner, "address_count", None)
        if count is not None and count > CONFIRM_ABOVE and not self.confirm_large_scan(count):
            self.status_label.setText("Not started: the targets were not confirmed.")
            return False
        self.scanner, self.result, self._kind_running, self._last_message = scanner, None, kind, None
        self.summary_label.clear()
        if resume_id is None and stored_options is None:
            self.log_view.clear()
        self.append_log(f"Starting {KIND_LABELS[kind].lower()} scan: {', '.join(scanner.targets())}")
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
        self.status_label.setText(message if total < 0 else f"{self._progress_text(done, total)} — {message}")
        if message != self._last_message:
            self._last_message = message
            self.append_log(message)

    def _progress_format(self) -> str:
        if self._kind_running in ("network", "ssh"):
            return "%v of %m " + ("addresses" if self._kind_running == "network" else "hosts")
        return "%p%"

    def _progress_text(self, done: int, total: int) -> str:
        if self._kind_running == "network":
            return f"{done:,}/{total:,} addresses"
        if self._kind_running == "ssh":
            return f"{done}/{total} hosts"
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
            self.show_error(f"The scan failed: {result.error}")
        failed = getattr(self.scanner, "failed", None)
        if failed:
            summary += f" Could not collect {len(failed)} host(s): {', '.join(failed)} (see the warnings)."
        self.summary_label.setText(summary)
        self.status_label.setText(summary)
        self.append_log(summary)
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
        self.log_view.appendPlainText(text)

    def show_error(self, message: str | None) -> None:
        """Show one readable line in the dialog (None hides it)."""
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))

    def _set_running(self, running: bool) -> None:
        self.kind_tabs.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.ssh_password.clear()
            self.ssh_passphrase.clear()

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
