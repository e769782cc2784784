"""Keyboard and help outside the Graph page: every interactive control explains itself in a tooltip, tables
are one tab stop so Tab reaches the filter and the annotation form, Ctrl+F puts the keyboard in the page's
filter, and nothing of ours is cut off at 1,024 pixels."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractSpinBox, QApplication, QCheckBox,
                               QComboBox, QLineEdit, QMenuBar, QPlainTextEdit, QPushButton, QTabBar, QTextEdit,
                               QWidget)

from exports.registry import FORMATS, load_exporter
from gui.data import load_snapshot
from gui.export_dialog import ExportDialog
from gui.main_window import PAGES
from gui.scan_dialog import ScanDialog
from scanners.kinds import REGISTRY
from tests.gui.test_main_window import make_window, settings  # noqa: F401 (fixture)

CONTROLS = (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QPlainTextEdit, QTextEdit)


@pytest.fixture
def window(qtbot, settings, estate_db):  # noqa: F811
    path, _ = estate_db
    window = make_window(qtbot, settings)
    window.resize(1024, 700)
    window.set_snapshot(load_snapshot(path))
    window.show()
    with qtbot.waitActive(window):
        window.activateWindow()
    return window


def within(widget: QWidget, ancestor: QWidget) -> bool:
    while widget is not None:
        if widget is ancestor:
            return True
        widget = widget.parentWidget()
    return False


def qt_internal(control: QWidget) -> bool:
    """True for the parts Qt builds inside other widgets: a combo box's or spin box's editor, a line edit's clear
    button, a table's corner button, the menu bar's and tab bar's scroll buttons."""
    return isinstance(control.parentWidget(), (QComboBox, QAbstractSpinBox, QLineEdit, QAbstractItemView, QMenuBar,
                                               QTabBar))


def interactive_controls(top: QWidget, *, skip: QWidget | None = None) -> list[QWidget]:
    """Every control of `top` a user clicks or types in (read-only text panes are not controls), except those
    under `skip` (the Graph page, whose toolbar is tested with the graph)."""
    found = []
    for kind in CONTROLS:
        for control in top.findChildren(kind):
            if qt_internal(control) or (skip is not None and within(control, skip)):
                continue
            if isinstance(control, (QPlainTextEdit, QTextEdit)) and control.isReadOnly():
                continue
            found.append(control)
    return found


def describe(control: QWidget) -> str:
    text = control.text() if hasattr(control, "text") and callable(control.text) else ""
    return f"{type(control).__name__} {control.objectName()!r} {text!r} in {type(control.parentWidget()).__name__}"


def test_every_interactive_control_has_a_tooltip(qtbot, window, estate_db):
    path, _ = estate_db
    scan, export = ScanDialog(path, REGISTRY, window), ExportDialog(path, FORMATS, load_exporter, window)
    for dialog in (scan, export):
        qtbot.addWidget(dialog)
    controls = interactive_controls(window, skip=window.graph_view)
    controls += interactive_controls(scan) + interactive_controls(export)
    assert len(controls) > 60, "the walk finds the controls"
    assert {type(c) for c in controls} >= {QPushButton, QLineEdit, QComboBox, QCheckBox}
    missing = [describe(c) for c in controls if not c.toolTip().strip()]
    assert missing == []


def focus_walk(qtbot, start: QWidget, steps: int = 25) -> list[QWidget]:
    """Press Tab `steps` times from `start`; return the widgets that had the focus, in order."""
    start.setFocus(Qt.FocusReason.TabFocusReason)
    seen = [QApplication.focusWidget()]
    for _ in range(steps):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    return seen


def test_a_table_is_one_tab_stop_and_tab_reaches_the_filter_and_the_annotation_form(qtbot, window, estate_db):
    _, ids = estate_db
    window.show_host(ids["db01"])
    inventory = window.inventory_view
    table = inventory.hosts_view.table
    seen = focus_walk(qtbot, table)
    assert seen[0] is table and seen[1] is not table, "Tab leaves the table instead of walking its cells"
    assert inventory.details.annotation.owner_edit in seen
    assert inventory.details.annotation.notes_edit in seen
    assert inventory.hosts_view.filter_edit in seen
    assert all(not isinstance(w, QAbstractItemView) or w is table for w in seen[:2])


def test_every_table_outside_the_graph_is_one_tab_stop(window):
    tables = [t for t in window.findChildren(QAbstractItemView)
              if not within(t, window.graph_view) and t.tabKeyNavigation()]
    assert tables == []


def test_ctrl_f_focuses_the_current_pages_filter(qtbot, window):
    window.show_page("Inventory")
    qtbot.keyClick(window.navigation, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.inventory_view.hosts_view.filter_edit
    window.inventory_view.tabs.setCurrentWidget(window.inventory_view.services_view)
    window.navigation.setFocus()
    qtbot.keyClick(window.navigation, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.inventory_view.services_view.filter_edit
    window.show_page("Findings")
    window.findings_view.table_view.table.setFocus()
    window.findings_view.table_view.filter_edit.setText("telnet")
    qtbot.keyClick(window.findings_view.table_view.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.findings_view.table_view.filter_edit
    assert window.findings_view.table_view.filter_edit.selectedText() == "telnet", "typing replaces the filter"


@pytest.mark.parametrize("page", [p for p in PAGES if p != "Graph"])
def test_nothing_of_ours_is_cut_off_at_1024_pixels(qtbot, window, page):
    window.show_page(page)
    qtbot.wait(10)
    page_widget = window.views[page]
    cut = []
    for control in page_widget.findChildren(QAbstractButton):
        if control.isVisible() and not qt_internal(control) and control.text():
            if control.width() < control.minimumSizeHint().width():
                cut.append(describe(control))
    assert cut == []
