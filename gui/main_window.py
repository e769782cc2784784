"""The main window: navigation between the views, menus with shortcuts, the status bar, stores and settings.

Everything slow (reading the store, analysing, scanning, exporting) runs on a worker thread
(gui.workers); the window only reacts to the workers' signals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QLabel, QListWidget, QMainWindow, QMessageBox,
                               QPushButton, QSplitter, QStackedWidget, QVBoxLayout, QWidget)

from discovery.records.model import EstateError, counted
from discovery.scanning.scan_kinds import ScanKinds
from gui.data import Snapshot, load_snapshot
from gui.findings_view import FindingsView
from gui.graph_view import GraphView
from gui.groups_view import GroupsView
from gui.inventory_view import InventoryView
from gui.overview_view import ClickThrough, OverviewView
from gui.scans_view import ScansView
from gui.table_view import RecordTableView
from gui.workers import start_task

log = logging.getLogger(__name__)

MAX_RECENT = 8
PAGES = ("Overview", "Scans", "Inventory", "Graph", "Findings", "Move groups")
# View menu shortcuts: the Overview came last, so it is Ctrl+0 and the others keep Ctrl+1 ... Ctrl+5.
PAGE_SHORTCUTS = {name: f"Ctrl+{number}" for number, name in enumerate(PAGES)}
STORE_FILTER = "Estate Mapper stores (*.db);;All files (*)"
# The Scan menu's text and shortcut of the kinds that have one; any other kind is "<label>…" without a shortcut.
SCAN_ACTIONS = {"network": ("&Network…", "Ctrl+Shift+N"), "host": ("This &host…", "Ctrl+Shift+H"),
                "ssh": ("&SSH hosts…", "Ctrl+Shift+S")}
MENU_OF_ITS_OWN = ("import",)  # File ▸ Import file…
ANALYZE_AFTER_SCAN = "analyze_after_scan"  # the settings key of Scan ▸ Analyze after each scan


def stale_analysis(inventory: dict) -> str | None:
    """Return why the analysis shown is out of date ("Analysis predates scan #N", "Not analysed yet"), or None
    when it is current. A scan that finished after the latest analysis ran makes it stale; so do hosts the
    analysis did not count (times are to the second, so a scan ending in the analysis's second shows that way)."""
    scans = [s for s in inventory.get("scans") or () if s.get("finished_at")]
    analysis = inventory.get("analysis")
    if analysis is None:
        return "Not analysed yet" if inventory.get("hosts") else None
    newer = [s for s in scans if s["finished_at"] > analysis["created_at"]]
    if not newer and scans and isinstance(analysis.get("hosts"), int) \
            and analysis["hosts"] < len(inventory.get("hosts") or ()):
        newer = scans[-1:]
    return f"Analysis predates scan #{newer[-1]['id']}" if newer else None


class MainWindow(QMainWindow):
    snapshot_loaded = Signal(object)   # Snapshot, after every (re)load
    load_failed = Signal(str)
    analysis_finished = Signal(object)

    def __init__(self, *, scan_kinds: ScanKinds, formats: Iterable, exporter_factory: Callable,
                 settings: QSettings | None = None, parent=None):
        """`scan_kinds`: the registry of scanner kinds (scanners.kinds.REGISTRY, handed over by main.py)."""
        super().__init__(parent)
        self.scan_kinds, self.formats, self.exporter_factory = scan_kinds, formats, exporter_factory
        self.settings = settings or QSettings()
        self.store_path: Path | None = None
        self.snapshot: Snapshot | None = None
        self.last_error: str | None = None
        self._tasks: list = []
        self.setWindowTitle("Estate Mapper")
        self.resize(1280, 800)
        self._build_pages()
        self._build_menus()
        self._build_status_bar()
        self._restore_layout()

    # --- building -------------------------------------------------------------------------------

    def _build_pages(self) -> None:
        self.scans_view, self.inventory_view, self.graph_view = ScansView(), InventoryView(), GraphView()
        self.findings_view, self.groups_view = FindingsView(), GroupsView()
        self.overview_view = OverviewView()
        self.views = {"Overview": self.overview_view, "Scans": self.scans_view, "Inventory": self.inventory_view,
                      "Graph": self.graph_view, "Findings": self.findings_view, "Move groups": self.groups_view}
        self.navigation = QListWidget()
        self.navigation.addItems(PAGES)
        self.navigation.setMinimumWidth(110)
        self.pages = QStackedWidget()
        for name in PAGES:
            self.pages.addWidget(self.views[name])
        self.navigation.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.splitter = QSplitter()
        self.splitter.addWidget(self.navigation)
        self.splitter.addWidget(self._with_stale_banner(self.pages))
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([130, 1150])
        self.setCentralWidget(self.splitter)
        # A host picked in the graph is shown on Inventory without leaving the graph; one activated in a
        # findings or groups list takes the user to its row and details.
        self.graph_view.host_selected.connect(self.inventory_view.select_host)
        for view in (self.findings_view, self.groups_view):
            view.host_selected.connect(self.show_host)
        self.inventory_view.annotation_saved.connect(self._annotation_saved)
        self.groups_view.wave_rules_applied.connect(self.apply_wave_rules)
        self.scans_view.resume_requested.connect(self.resume_scan)
        self.overview_view.click_through.connect(self.open_click_through)
        self.overview_view.scan_requested.connect(self.scan_dialog)
        self.overview_view.set_scan_actions(
            (kind.name, SCAN_ACTIONS.get(kind.name, (f"{kind.label}…", None))[0].replace("&", ""),
             SCAN_ACTIONS.get(kind.name, (None, None))[1] or "", kind.doc.strip().splitlines()[0].rstrip("."))
            for kind in self.scan_kinds if kind.gui and kind.name not in MENU_OF_ITS_OWN)
        self.navigation.setCurrentRow(PAGES.index("Overview"))

    def _with_stale_banner(self, pages: QWidget) -> QWidget:
        """Return `pages` under a banner shown while the analysis predates a scan, with a button to analyse."""
        self.stale_banner = QFrame()
        self.stale_banner.setObjectName("stale_banner")
        self.stale_banner.setStyleSheet("#stale_banner { background: #fff4ce; border: 1px solid #e0c060; }")
        self.stale_label = QLabel()
        self.stale_button = QPushButton("Analyze (Ctrl+R)")
        self.stale_button.setToolTip("Run the analysis again (findings, risk, move groups, waves) on every scan")
        self.stale_button.clicked.connect(lambda: self.run_analysis())
        line = QHBoxLayout(self.stale_banner)
        line.setContentsMargins(8, 4, 8, 4)
        line.addWidget(self.stale_label, 1)
        line.addWidget(self.stale_button)
        self.stale_banner.hide()
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.stale_banner)
        column.addWidget(pages, 1)
        return holder

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&New store…", self.new_store_dialog, QKeySequence.StandardKey.New)
        self._action(file, "&Open store…", self.open_store_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Open &recent")
        file.addSeparator()
        self.import_action = self._action(file, "&Import file…", lambda: self.scan_dialog("import"), "Ctrl+I")
        self.export_action = self._action(file, "&Export…", self.export_dialog, "Ctrl+E")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        scan = bar.addMenu("&Scan")
        self.scan_actions: dict[str, QAction] = {}
        for kind in self.scan_kinds:
            if kind.gui and kind.name not in MENU_OF_ITS_OWN:
                text, shortcut = SCAN_ACTIONS.get(kind.name, (f"{kind.label}…", None))
                self.scan_actions[kind.name] = self._action(
                    scan, text, lambda _=False, name=kind.name: self.scan_dialog(name), shortcut)
        scan.addSeparator()
        self.analyze_action = self._action(scan, "&Analyze", lambda: self.run_analysis(), "Ctrl+R")
        self.auto_analyze_action = QAction("Analyze after each &scan", self, checkable=True)
        self.auto_analyze_action.setChecked(self.analyze_after_scan())
        self.auto_analyze_action.toggled.connect(lambda on: self.settings.setValue(ANALYZE_AFTER_SCAN, on))
        scan.addAction(self.auto_analyze_action)
        view = bar.addMenu("&View")
        self.page_actions = {name: self._action(view, name, lambda _=False, n=name: self.show_page(n),
                                                PAGE_SHORTCUTS[name]) for name in PAGES}
        view.addSeparator()
        self.filter_action = self._action(view, "&Filter the table", self.focus_filter, QKeySequence.StandardKey.Find)
        self._action(view, "&Reload", self.reload, QKeySequence.StandardKey.Refresh)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About Estate Mapper", self._about)
        self._store_actions = [self.import_action, self.export_action, self.analyze_action]
        self._refresh_recent_menu()
        self._enable_store_actions(False)

    def _build_status_bar(self) -> None:
        self.store_label, self.scan_label, self.counts_label = QLabel("No store open"), QLabel(), QLabel()
        for label in (self.store_label, self.scan_label, self.counts_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.statusBar().addPermanentWidget(label)

    def _enable_store_actions(self, enabled: bool) -> None:
        for action in self._store_actions:
            action.setEnabled(enabled)

    # --- pages ----------------------------------------------------------------------------------

    def show_page(self, name: str) -> None:
        self.navigation.setCurrentRow(PAGES.index(name))

    def current_page(self) -> str:
        return PAGES[self.navigation.currentRow()]

    def focus_filter(self) -> bool:
        """Put the keyboard in the current page's filter box (Ctrl+F): the page's own `focus_filter` if it has
        one, else the first table shown; return False when the page has none."""
        page = self.pages.currentWidget()
        focus = getattr(page, "focus_filter", None)
        if callable(focus):
            focus()
            return True
        tables = [t for t in page.findChildren(RecordTableView) if t.isVisible()]
        if tables:
            tables[0].focus_filter()
            return True
        return False

    def show_host(self, host_id: str) -> None:
        """Show one host's row and details on the Inventory page."""
        self.show_page("Inventory")
        self.inventory_view.select_host(host_id)

    def open_click_through(self, target: ClickThrough) -> None:
        """Show the table behind a number of the Overview: its page, only the rows it counts, the row it names."""
        if target.page == "Inventory":
            view = self.inventory_view.views[target.table or "hosts"]
            self.show_page("Inventory")
            self.inventory_view.tabs.setCurrentWidget(view)
            self._scope(view, target)
            if target.select:
                self.inventory_view.select_host(target.select)
        elif target.page == "Findings":
            self.show_page("Findings")
            self.findings_view.set_grouped(False)  # the Overview counts findings, not titles
            self.findings_view.set_minimum_severity(None)
            self._scope(self.findings_view.table_view, target)
        elif target.page == "Move groups":
            self.show_page("Move groups")
            self._scope(self.groups_view.groups_view, target)
            if target.select:
                self.groups_view.select_group(target.select)
        else:
            self.show_page(target.page)

    @staticmethod
    def _scope(view, target: ClickThrough) -> None:
        if target.predicate is not None:
            view.set_scope(target.label or "Chosen rows", target.predicate)
        else:
            view.clear_scope()
            view.set_filter_text("")

    # --- stores ---------------------------------------------------------------------------------

    def open_initial_store(self, path: Path | None) -> None:
        """Open `path`, else the store used last time (if it still exists)."""
        if path is None:
            last = self.settings.value("last_store")
            path = Path(last) if last and Path(last).exists() else None
        if path is not None:
            self.open_store(path)

    def new_store_dialog(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "New store", str(Path.home() / "estate.db"), STORE_FILTER)
        if name:
            self.create_store(Path(name))

    def create_store(self, path: Path) -> None:
        """Create an empty store at `path` and open it; errors are shown, not raised."""
        from discovery.storage.store import Store
        if path.exists():
            self.show_error(f"{path} exists; open it instead, or choose another name")
            return
        try:
            Store(path).close()
        except EstateError as error:
            self.show_error(str(error))
            return
        self.open_store(path)

    def open_store_dialog(self) -> None:
        start = str(self.store_path.parent) if self.store_path else str(Path.home())
        name, _ = QFileDialog.getOpenFileName(self, "Open store", start, STORE_FILTER)
        if name:
            self.open_store(Path(name))

    def open_store(self, path: Path) -> None:
        """Load the store at `path` on a worker thread; on success it becomes the current store."""
        path = Path(path)
        if not path.exists():
            self.show_error(f"no store at {path}")
            return
        self._load(path)

    def reload(self) -> None:
        if self.store_path is not None:
            self._load(self.store_path)

    def _load(self, path: Path) -> None:
        self.statusBar().showMessage(f"Reading {path}…")
        worker = start_task(self, lambda progress, cancel: load_snapshot(path))
        worker.finished.connect(self._loaded)
        worker.failed.connect(lambda message: self._load_failed(path, message))
        self._tasks.append(worker)

    def _loaded(self, snapshot: Snapshot) -> None:
        opened = snapshot.path != self.store_path  # a store just opened starts on its overview; a reload stays
        self.set_snapshot(snapshot)
        if opened:
            self.show_page("Overview")
        self._remember_store(snapshot.path)
        self.snapshot_loaded.emit(snapshot)

    def _load_failed(self, path: Path, message: str) -> None:
        self.statusBar().clearMessage()
        self.show_error(f"Cannot open {path}: {message}")
        self.load_failed.emit(message)

    def set_snapshot(self, snapshot: Snapshot) -> None:
        """Show `snapshot` in every view and the status bar."""
        self.snapshot, self.store_path = snapshot, snapshot.path
        for view in self.views.values():
            view.set_snapshot(snapshot)
        self._enable_store_actions(snapshot.path is not None)
        self._update_status()
        self._update_stale_banner()
        self.setWindowTitle(f"Estate Mapper — {snapshot.path.name if snapshot.path else 'estate'}")

    def _update_stale_banner(self) -> None:
        reason = stale_analysis(self.snapshot.inventory) if self.snapshot.path is not None else None
        self.stale_label.setText(f"{reason} — findings, risk and move groups do not include it yet." if reason
                                 and reason.startswith("Analysis") else f"{reason}." if reason else "")
        self.stale_banner.setVisible(reason is not None)

    def _update_status(self) -> None:
        snapshot = self.snapshot
        inventory = snapshot.inventory
        self.store_label.setText(f"Store: {snapshot.path}" if snapshot.path else "No store")
        scan = snapshot.last_scan
        self.scan_label.setText(f"Last scan: #{scan['id']} {scan['kind']} {scan['status']} "
                                f"{(scan['finished_at'] or scan['started_at'] or '')[:16]}" if scan else "No scans yet")
        self.counts_label.setText(" · ".join(counted(len(inventory[key]), noun, plural) for key, noun, plural in (
            ("hosts", "host", None), ("services", "service", None), ("dependencies", "dependency", "dependencies"),
            ("findings", "finding", None))))
        self.statusBar().showMessage(f"Loaded {counted(len(inventory['hosts']), 'host')}", 5000)

    def _remember_store(self, path: Path | None) -> None:
        if path is None:
            return
        recent = [str(path)] + [p for p in self.recent_stores() if p != str(path)]
        self.settings.setValue("recent_stores", recent[:MAX_RECENT])
        self.settings.setValue("last_store", str(path))
        self._refresh_recent_menu()

    def recent_stores(self) -> list[str]:
        value = self.settings.value("recent_stores") or []
        return [value] if isinstance(value, str) else list(value)

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        for number, path in enumerate(self.recent_stores(), 1):
            action = QAction(f"&{number} {path}", self)
            action.triggered.connect(lambda _=False, p=path: self.open_store(Path(p)))
            self.recent_menu.addAction(action)
        self.recent_menu.setEnabled(bool(self.recent_stores()))

    # --- scans, analysis, exports ---------------------------------------------------------------

    def scan_dialog(self, kind: str | None):
        """Open the scan dialog on `kind` (a kind's name: network, host, ssh, database, import; None: the first);
        the store reloads after each scan."""
        from gui.scan_dialog import ScanDialog
        if self.store_path is None:
            self.show_error("Open or create a store first (File ▸ New store…)")
            return None
        dialog = ScanDialog(self.store_path, self.scan_kinds, self)
        if kind is not None:
            dialog.choose_kind(kind)
        dialog.scan_finished.connect(self._scanned)
        dialog.show()
        return dialog

    def analyze_after_scan(self) -> bool:
        """Return whether each finished scan is analysed at once (Scan ▸ Analyze after each scan; QSettings)."""
        value = self.settings.value(ANALYZE_AFTER_SCAN, False)
        return value in (True, "true", "1", 1)

    def _scanned(self, result) -> None:
        if self.analyze_after_scan() and getattr(result, "host_ids", None):
            self.run_analysis()  # reloads when done
        else:
            self.reload()

    def resume_scan(self, scan_id: int):
        """Open the scan dialog continuing scan `scan_id`; why it cannot be is shown there."""
        dialog = self.scan_dialog(None)  # resume shows the scan's own kind
        if dialog is not None:
            dialog.resume(scan_id)
        return dialog

    def export_dialog(self):
        from gui.export_dialog import ExportDialog
        if self.store_path is None:
            self.show_error("Open a store first")
            return None
        dialog = ExportDialog(self.store_path, self.formats, self.exporter_factory, self)
        dialog.show()
        return dialog

    def run_analysis(self, wave_rules: dict | None = None) -> None:
        """Run `analyze` on a worker thread (findings, groups, risk, the wave plan), then reload; `wave_rules`
        ({name: value}) are stored first, for this analysis and the next ones."""
        if self.store_path is None:
            return
        path = self.store_path

        def analyze_store(progress, cancel):
            from discovery.service import analyze
            from discovery.storage.store import Store
            with Store(path, create=False) as store:
                return analyze(store, progress=progress, cancel=cancel, wave_rules=wave_rules)

        self.statusBar().showMessage("Analysing…")
        self.analyze_action.setEnabled(False)
        self.stale_button.setEnabled(False)
        self.groups_view.rules_form.set_busy(True)
        worker = start_task(self, analyze_store)
        worker.finished.connect(self._analysed)
        worker.failed.connect(self._analysis_failed)
        self._tasks.append(worker)

    def _analysed(self, summary) -> None:
        self.analyze_action.setEnabled(True)
        self.stale_button.setEnabled(True)
        self.analysis_finished.emit(summary)
        self.reload()

    def _analysis_failed(self, message: str) -> None:
        self.analyze_action.setEnabled(True)
        self.stale_button.setEnabled(True)
        self.groups_view.rules_form.set_busy(False)
        self.show_error(f"Analysis failed: {message}")

    def apply_wave_rules(self, changes: dict) -> None:
        """Store changed wave rules and plan the waves again (the whole analysis, on a worker thread)."""
        self.run_analysis(wave_rules=changes)

    def _annotation_saved(self, host_id: str) -> None:
        # Criticality and patient data weigh in the migration risk: re-score when an analysis exists.
        if self.snapshot is not None and self.snapshot.inventory.get("analysis"):
            self.run_analysis()
        else:
            self.reload()

    # --- messages, layout -----------------------------------------------------------------------

    def show_error(self, message: str) -> None:
        """Show a readable error (never a traceback); kept in `last_error` for tests."""
        self.last_error = message
        log.warning("%s", message)
        QMessageBox.warning(self, "Estate Mapper", message)

    def _about(self) -> None:
        from discovery import __version__
        QMessageBox.about(self, "About Estate Mapper",
                          f"Estate Mapper {__version__}\nDiscovers an IT estate, maps its dependencies "
                          "and exports an inventory an assessment team can trust.")

    def _restore_layout(self) -> None:
        geometry, state = self.settings.value("geometry"), self.settings.value("window_state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        splitter = self.settings.value("splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        page = self.settings.value("page")
        if page in PAGES:
            self.show_page(page)

    def save_layout(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.setValue("page", self.current_page())
        self.settings.sync()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.save_layout()
        for worker in self._tasks:
            cancel = getattr(worker, "cancel", None)
            if cancel is not None:
                cancel()
        super().closeEvent(event)
