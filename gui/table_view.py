"""A filterable, sortable table of records (`RecordTableView`) and the read-only text pane shown beside tables.

The table keeps Qt's work to the visible rows: fixed row heights, interactive column widths (each Column's
`width` at first, then fitted once to the header and a sample of the first rows, never to every row), and
filtering and sorting done in the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from html import escape

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMenu,
                               QTableView, QTextBrowser, QToolButton, QVBoxLayout, QWidget)

from gui.models import Column, RecordTableModel

# Typing pauses this long before the filter runs, so a large table is searched once, not per key.
FILTER_DELAY_MS = 250
DEFAULT_WIDTH_CHARS, MIN_WIDTH_CHARS, MAX_WIDTH_CHARS = 14, 4, 60
FIT_SAMPLE_ROWS = 200  # columns are fitted to the header and this many rows, once, when rows first arrive
CELL_PADDING = 18      # pixels around a cell's text (the style's margins) and a header's sort arrow
# Link scheme of host names in a DetailsPaneView: "host:<host id>".
HOST_SCHEME = "host"
# Link scheme of a folded section's title in a DetailsPaneView: "toggle:<section>".
TOGGLE_SCHEME = "toggle"


class RecordTableView(QWidget):
    """A filter box, a table of one kind of record, a column chooser and a "12 of 200,000" row count.

    Signals: row_selected(dict) when the current row changes, row_activated(dict) on double-click or Enter.
    """
    row_selected = Signal(dict)
    row_activated = Signal(dict)

    def __init__(self, columns: Iterable[Column], parent=None, *, noun: str = "rows",
                 host_label: Callable[[str], str] | None = None):
        super().__init__(parent)
        self.noun = noun
        self.model = RecordTableModel(columns, host_label=host_label, parent=self)
        self.filter_edit = QLineEdit(placeholderText="Filter (any visible column)…", clearButtonEnabled=True,
                                     toolTip="Show only the rows with this text in a visible column (Ctrl+F)")
        self.columns_button = QToolButton(text="Columns", toolTip="Choose the columns shown")
        self.count_label = QLabel()
        self.scope_button = QToolButton(toolTip="Rows chosen on the Overview page; click to show every row")
        self.scope_button.hide()
        self.table = QTableView()
        self._predicate: Callable[[dict], bool] | None = None
        self._scope: Callable[[dict], bool] | None = None
        self._filter_timer = QTimer(self, singleShot=True, interval=FILTER_DELAY_MS)
        self._fitted = False
        self._bar = QHBoxLayout()
        self._build()
        self._connect()
        self._update_count(0, 0)

    # --- building -------------------------------------------------------------------------------------
    def _build(self) -> None:
        self._bar.setContentsMargins(0, 0, 0, 0)
        self._bar.addWidget(self.scope_button)
        self._bar.addWidget(self.filter_edit, 1)
        self._bar.addWidget(self.columns_button)
        self._bar.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._bar)
        layout.addWidget(self.table, 1)
        self._setup_table()

    def _setup_table(self) -> None:
        table = self.table
        table.setModel(self.model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setTabKeyNavigation(False)  # one tab stop: Tab moves on to the filter, the details, the form
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        rows = table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(table.fontMetrics().height() + 8)
        rows.hide()
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.setSortingEnabled(True)
        self._apply_column_widths()
        for column in range(len(self.model.columns)):
            table.setColumnHidden(column, self.model.is_column_hidden(column))
        copy = QAction("Copy", table, shortcut=QKeySequence.StandardKey.Copy,
                       shortcutContext=Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_selection)
        table.addAction(copy)

    def _apply_column_widths(self) -> None:
        char = self.table.fontMetrics().horizontalAdvance("n")
        for number, column in enumerate(self.model.columns):
            chars = max(MIN_WIDTH_CHARS, min(MAX_WIDTH_CHARS, column.width or DEFAULT_WIDTH_CHARS))
            chars = max(chars, len(column.title) + 3)
            self.table.setColumnWidth(number, chars * char + 16)

    def _connect(self) -> None:
        self.filter_edit.textChanged.connect(self._filter_timer.start)
        self.filter_edit.returnPressed.connect(self.apply_filter)
        self._filter_timer.timeout.connect(self.apply_filter)
        self.columns_button.clicked.connect(self._show_columns_menu_at_button)
        self.scope_button.clicked.connect(self.clear_scope)
        self.table.horizontalHeader().customContextMenuRequested.connect(self._show_columns_menu_at_header)
        self.model.column_visibility_changed.connect(self.table.setColumnHidden)
        self.model.rows_filtered.connect(self._update_count)
        self.table.selectionModel().currentRowChanged.connect(self._current_row_changed)
        self.table.activated.connect(self._activated)

    # --- public API -----------------------------------------------------------------------------------
    def set_rows(self, rows: list[dict]) -> None:
        """Show `rows` (kept, not copied); the filter text and sort order stay. The first rows to arrive size the
        columns to their contents; later ones keep the widths (the user's, perhaps)."""
        self.model.set_rows(rows)
        if rows and not self._fitted:
            self.fit_columns_to_contents()

    def fit_columns_to_contents(self, sample: int = FIT_SAMPLE_ROWS) -> None:
        """Size every column to its title and the text of the first `sample` rows shown (at most
        MAX_WIDTH_CHARS wide), so a port shows "5432" whole and a long name takes the room it needs."""
        self._fitted = True
        cell, title = self.table.fontMetrics(), self.table.horizontalHeader().fontMetrics()
        widest = MAX_WIDTH_CHARS * cell.horizontalAdvance("n")
        rows = range(min(sample, self.model.rowCount()))
        for number, column in enumerate(self.model.columns):
            text = max((cell.horizontalAdvance(self.model.display_text(r, number)) for r in rows), default=0)
            width = max(text, title.horizontalAdvance(column.title) + CELL_PADDING) + CELL_PADDING
            self.table.setColumnWidth(number, min(widest, width))

    def set_host_label(self, host_label: Callable[[str], str] | None) -> None:
        """Name hosts in `host` columns with `host_label(host_id)`."""
        self.model.set_host_label(host_label)

    def add_bar_widget(self, widget: QWidget) -> None:
        """Put `widget` (e.g. an extra filter) in the bar beside the filter box."""
        self._bar.insertWidget(2, widget)

    def focus_filter(self) -> None:
        """Put the keyboard in the filter box, its text selected (Ctrl+F)."""
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    def set_filter_text(self, text: str) -> None:
        """Put `text` in the filter box and filter now (no debounce)."""
        self.filter_edit.setText(text)
        self.apply_filter()

    def apply_filter(self) -> None:
        """Filter the rows by the filter box's text now."""
        self._filter_timer.stop()
        self.model.set_filter(self.filter_edit.text())

    def set_row_predicate(self, predicate: Callable[[dict], bool] | None) -> None:
        """Show only rows for which `predicate(row)` is true, besides the text filter and the scope (None: all)."""
        self._predicate = predicate
        self._apply_predicates()

    def set_scope(self, label: str, predicate: Callable[[dict], bool]) -> None:
        """Show only the rows for which `predicate(row)` is true, named `label` in a button of the bar that clears
        it (a click-through from the Overview page); the text filter is cleared, other filters stay."""
        self._scope = predicate
        self.scope_button.setText(f"{label}  ✕")
        self.scope_button.show()
        self.filter_edit.setText("")
        self._filter_timer.stop()
        self.model.set_filter("")
        self._apply_predicates()

    def clear_scope(self) -> None:
        """Show every row again (the filter box and other filters still apply)."""
        if self._scope is None:
            return
        self._scope = None
        self.scope_button.hide()
        self._apply_predicates()

    def scope_text(self) -> str | None:
        """Return the scope's label, or None when every row may show."""
        return self.scope_button.text().removesuffix("  ✕") if self._scope is not None else None

    def _apply_predicates(self) -> None:
        predicate, scope = self._predicate, self._scope
        if predicate is None or scope is None:
            self.model.set_row_predicate(predicate or scope)
        else:
            self.model.set_row_predicate(lambda row: scope(row) and predicate(row))

    def row_count(self) -> int:
        """Return the number of rows shown (after filtering)."""
        return self.model.rowCount()

    def count_text(self) -> str:
        return self.count_label.text()

    def selected_row(self) -> dict | None:
        """Return the current row's dict, or None when no row is current."""
        index = self.table.currentIndex()
        return self.model.row_dict(index.row()) if index.isValid() else None

    def select_row(self, row: int) -> None:
        """Make `row` (a position in the shown order) current and selected, and scroll to it."""
        index = self.model.index(row, self._first_visible_column())
        self.table.setCurrentIndex(index)
        self.table.selectRow(row)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)

    def select_where(self, key: str, value, *, clear_filter: bool = True) -> bool:
        """Select the first row whose `key` equals `value`; return False if there is none.

        A row hidden by the text filter is found by clearing the filter when `clear_filter` is true.
        """
        row = self.model.find_row(key, value)
        if row is None and clear_filter and self.model.filter_text():
            self.set_filter_text("")
            row = self.model.find_row(key, value)
        if row is None:
            return False
        self.select_row(row)
        return True

    def clear_selection(self) -> None:
        self.table.selectionModel().clear()

    def copy_selection(self) -> None:
        """Copy the selected rows' visible cells to the clipboard as tab-separated text."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedIndexes()})
        columns = self.model.visible_columns()
        lines = ["\t".join(self.model.columns[c].title for c in columns)]
        lines += ["\t".join(self.model.display_text(r, c) for c in columns) for r in rows]
        QGuiApplication.clipboard().setText("\n".join(lines))

    def columns_menu(self) -> QMenu:
        """Return a menu of checkable actions, one per column, that show or hide it (one always stays)."""
        menu = QMenu(self)
        visible = self.model.visible_columns()
        for number, column in enumerate(self.model.columns):
            action = menu.addAction(column.title)
            action.setCheckable(True)
            action.setChecked(number in visible)
            action.setEnabled(not (len(visible) == 1 and number in visible))
            action.toggled.connect(lambda checked, n=number: self.model.set_column_hidden(n, not checked))
        return menu

    # --- slots ----------------------------------------------------------------------------------------
    def _show_columns_menu_at_button(self) -> None:
        self.columns_menu().popup(self.columns_button.mapToGlobal(QPoint(0, self.columns_button.height())))

    def _show_columns_menu_at_header(self, position: QPoint) -> None:
        header = self.table.horizontalHeader()
        self.columns_menu().popup(header.mapToGlobal(position))

    def _update_count(self, shown: int, total: int) -> None:
        noun = self.noun.removesuffix("s") if total == 1 else self.noun  # every noun here is a plain plural
        text = f"{total:,} {noun}" if shown == total else f"{shown:,} of {total:,} {noun}"
        self.count_label.setText(text)

    def _current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.row_selected.emit(self.model.row_dict(current.row()))

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.row_activated.emit(self.model.row_dict(index.row()))

    def _first_visible_column(self) -> int:
        visible = self.model.visible_columns()
        return visible[0] if visible else 0


class DetailsPaneView(QTextBrowser):
    """A read-only rich-text pane; links "host:<id>" emit host_activated(id) and "toggle:<name>"
    section_toggled(name) instead of navigating."""
    host_activated = Signal(str)
    section_toggled = Signal(str)

    def __init__(self, parent=None, *, placeholder: str = ""):
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setTabChangesFocus(True)  # Tab moves on (to the annotation form), not from link to link
        self.setPlaceholderText(placeholder)
        self.anchorClicked.connect(self._anchor_clicked)

    def text(self) -> str:
        """Return what the pane shows, as plain text."""
        return self.toPlainText()

    def _anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() == HOST_SCHEME:
            self.host_activated.emit(url.path())
        elif url.scheme() == TOGGLE_SCHEME:
            self.section_toggled.emit(url.path())


def host_link(host_id: str | None, label: str) -> str:
    """Return HTML for a host name linking to the host (escaped); plain escaped text when there is no id."""
    if not host_id:
        return escape(label)
    return f'<a href="{HOST_SCHEME}:{escape(host_id, quote=True)}">{escape(label)}</a>'
