"""The Graph page's toolbar, status row and legend: every control with its tooltip, connected to GraphView.

`build_toolbar(view)` creates the controls as the view's attributes (``search_edit``, ``level_combo``,
``layout_combo``, ``kinds_button``/``kind_actions``, ``risk_spin``, ``group_combo``, ``shared_check``,
``collapse_combo``, ``layer2_check``, ``hops_spin``, ``busy_label``, ``status_label``, ``legend``,
``layer2_legend``) and its rows ``_row1``, ``_row2`` and ``_status_row``; gui.graph_view lays them out.
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QMenu, QPushButton, QSpinBox, \
    QToolButton

from gui.graph_style import (DEPENDENTS_COLOUR, DEPENDS_ON_COLOUR, HEALTHCARE_COLOUR, L2_EDGE_COLOUR, LEGACY_COLOUR,
                             UNKNOWN_COLOUR)
from gui.graph_model import LITTLE_EVIDENCE_BELOW, SERVICE_KINDS

COMBO_CHARS = 10   # a toolbar combo box's width, in characters
LAYER2_TIP = "Show which switch port each host is cabled to (SNMP LLDP/CDP/forwarding tables)"
LAYER2_NONE_TIP = ("No layer-2 links in this inventory: scan the switches with SNMP (estatemap scan snmp) to "
                   "learn which switch port each host is cabled to")


def build_toolbar(view) -> None:
    """Create the GraphView `view`'s controls, status labels and legend, connected to its setters."""
    view.search_edit = QLineEdit(placeholderText="Find a node by name or address",
                                 toolTip="Type a host name, address or service, then Enter to select it")
    view.search_edit.returnPressed.connect(lambda: view.find_node(view.search_edit.text()))
    find = QPushButton("Find", toolTip="Select and centre the first node matching the search text")
    find.clicked.connect(lambda: view.find_node(view.search_edit.text()))
    view.level_combo = combo((("Hosts", "host"), ("Services", "service")), view.set_level)
    view.layout_combo = combo((("Layered (clients → servers)", "layered"), ("Force-directed", "force")),
                              view.set_layout_method)
    view.level_combo.setToolTip("Hosts: one box per host; Services: every service, client process and "
                                "database, each naming its host")
    view.layout_combo.setToolTip("Layered: clients on the left, the servers they use to the right; "
                                 "Force-directed: connected nodes pulled together")
    fit = QPushButton("Fit", toolTip="Show the whole estate (F on the graph); it then follows "
                                     "the window's size until you zoom or pan")
    fit.clicked.connect(view.fit)
    save = QPushButton("Save image…", toolTip="Save the whole graph as a PNG picture or an SVG drawing")
    save.clicked.connect(view._ask_save_image)
    view._row1 = row(view.search_edit, find, QLabel("Level:"), view.level_combo, QLabel("Layout:"),
                     view.layout_combo, fit, save)
    view.kinds_button = QToolButton(text="Kinds", popupMode=QToolButton.InstantPopup,
                                    toolTip="Choose which kinds of node to show")
    view.kinds_menu = QMenu(view.kinds_button)
    view.kind_actions = {}
    for kind in SERVICE_KINDS:
        action = QAction(kind, view.kinds_menu, checkable=True, checked=True)
        action.toggled.connect(view._on_kinds_toggled)
        view.kinds_menu.addAction(action)
        view.kind_actions[kind] = action
    view.kinds_button.setMenu(view.kinds_menu)
    view.risk_spin = QSpinBox(minimum=0, maximum=100, suffix=" min risk",
                              toolTip="Hide hosts whose risk score is below this (0: hide none; unscored "
                                      "hosts are hidden too)")
    view.risk_spin.valueChanged.connect(view.set_min_risk)
    view.group_combo = combo((("All move groups", None),), view.set_group_filter)
    view.group_combo.setToolTip("Show only the hosts of one move group")
    view.shared_check = QCheckBox("Hide shared", toolTip="Hide shared infrastructure — DNS, directory, NTP, "
                                                         "monitoring... — and the dependencies on it")
    view.shared_check.toggled.connect(view.set_hide_shared)
    view.collapse_combo = combo((("No collapse", None), ("Collapse by subnet", "subnet"),
                                 ("Collapse by move group", "group"), ("Collapse by cluster", "cluster")),
                                view.set_collapse)
    view.collapse_combo.setToolTip("Merge the hosts of each /24 subnet, move group or vSphere cluster into one "
                                   "box (cluster: VMs and ESXi hosts by cluster, a standalone ESXi host with its "
                                   "VMs; hosts vCenter did not describe stay as they are)")
    view.layer2_check = QCheckBox("Layer 2", enabled=False, toolTip=LAYER2_NONE_TIP)
    view.layer2_check.toggled.connect(view.set_layer2_visible)
    view.hops_spin = QSpinBox(minimum=1, maximum=10, value=1, suffix=" hop(s)",
                              toolTip="How many links away from the selection Neighbourhood reaches")
    around = QPushButton("Neighbourhood", toolTip="Show only the nodes within the hops of the selected node")
    around.clicked.connect(lambda: view.show_neighbourhood())
    show_all = QPushButton("Show all", toolTip="Leave the neighbourhood view: show every node again")
    show_all.clicked.connect(view.show_all)
    view._row2 = row(view.kinds_button, view.risk_spin, view.group_combo, view.shared_check,
                     view.collapse_combo, view.layer2_check, view.hops_spin, around, show_all)
    view.busy_label = QLabel("laying out…")
    view.busy_label.setVisible(False)
    view.status_label = QLabel("")
    view.legend = QLabel(
        "hosts green → amber → red by risk, the score written on each; "
        f"<span style='background:{UNKNOWN_COLOUR}'>&nbsp;▨&nbsp;</span> unscored or little evidence "
        f"(seen or ports only, nothing from {LITTLE_EVIDENCE_BELOW} up); "
        f"<span style='color:{LEGACY_COLOUR}'>● legacy OS or exposed service</span> "
        f"<span style='color:{LEGACY_COLOUR}'>○ end-of-life packages only</span> "
        f"<span style='color:{HEALTHCARE_COLOUR}'>✚ healthcare</span>; "
        f"selected: <span style='color:{DEPENDS_ON_COLOUR}'>■ depends on</span> "
        f"<span style='color:{DEPENDENTS_COLOUR}'>▢ dependents (outlined)</span>; "
        "▭ host ○ service ▯ database ◇ process △ external", wordWrap=True)
    view.layer2_legend = QLabel(f"<span style='color:{L2_EDGE_COLOUR}'>┄ cable to a switch port</span>")
    view.layer2_legend.setVisible(False)
    view._status_row = row(view.busy_label, view.status_label, view.layer2_legend)


def combo(entries, on_change) -> QComboBox:
    """Return a combo box of (text, data) entries that calls on_change(data) when the choice changes; at most
    COMBO_CHARS characters wide (long move group names do not push the toolbar past a 1,024-pixel window)."""
    box = QComboBox(sizeAdjustPolicy=QComboBox.AdjustToMinimumContentsLengthWithIcon, minimumContentsLength=COMBO_CHARS)
    for text, data in entries:
        box.addItem(text, data)
    box.currentIndexChanged.connect(lambda _: on_change(box.currentData()))
    return box


def row(*widgets) -> QHBoxLayout:
    """Return a horizontal row of `widgets`, stretched at the end."""
    layout = QHBoxLayout()
    for w in widgets:
        layout.addWidget(w)
    layout.addStretch(1)
    return layout
