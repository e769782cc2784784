"""The wave rules form of the Move groups page: one field per rule of discovery.analyses.wave_rules.RULES
(a spin box for a number, a list for a choice, a check box for a switch; each rule's help is its tool tip),
Apply and Defaults.

Apply emits `rules_applied({name: value})` with the rules that differ from those in force; the main window
stores them and re-runs the analysis on a worker thread (the form is disabled meanwhile with set_busy), and the
reload shows the new rules and the new plan.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from discovery.analyses.wave_rules import DEFAULTS, RULES, WaveRule

SPIN_LIMIT = 2**31 - 1  # a Qt spin box holds an int


class WaveRulesForm(QGroupBox):
    """The rules the wave plan follows, editable. Signal rules_applied(dict of changed rules)."""
    rules_applied = Signal(dict)

    def __init__(self, parent=None):
        super().__init__("Wave rules", parent)
        self.fields: dict[str, QWidget] = {rule.name: self._field(rule) for rule in RULES}
        self.apply_button = QPushButton("Apply", toolTip="Store these rules and plan the waves again")
        self.defaults_button = QPushButton("Defaults", toolTip="Show every rule's default (Apply stores them)")
        self.status_label = QLabel(wordWrap=True)
        self._in_force: dict = dict(DEFAULTS)
        self._can_apply = False
        self._busy = False
        self._build()
        self.set_rules(None, can_apply=False)

    def _field(self, rule: WaveRule) -> QWidget:
        if rule.kind == "bool":
            widget = QCheckBox()
            widget.toggled.connect(self._update_state)
        elif rule.kind == "choice":
            widget = QComboBox()
            for choice in rule.choices:
                widget.addItem(choice, choice)
            widget.currentIndexChanged.connect(self._update_state)
        else:
            widget = QSpinBox(minimum=rule.minimum, maximum=min(rule.maximum, SPIN_LIMIT))
            if rule.name == "wave_capacity":
                widget.setSpecialValueText("no limit")  # shown for 0
            widget.valueChanged.connect(self._update_state)
        widget.setToolTip(rule.help[0].upper() + rule.help[1:] + f" (default {rule.text(rule.default)}).")
        widget.setObjectName(rule.name)
        return widget

    def _build(self) -> None:
        form = QFormLayout()
        for rule in RULES:
            form.addRow(rule.label, self.fields[rule.name])
        buttons = QHBoxLayout()
        buttons.addWidget(self.defaults_button)
        buttons.addStretch(1)
        buttons.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)
        self.apply_button.clicked.connect(self.apply)
        self.defaults_button.clicked.connect(lambda: self.show_values(DEFAULTS))

    # --- public API -----------------------------------------------------------------------------------
    def set_rules(self, rules: dict | None, *, can_apply: bool) -> None:
        """Show the rules in force (None: the defaults); `can_apply`: the estate came from a store."""
        self._in_force = {**DEFAULTS, **(rules or {})}
        self._can_apply = can_apply
        self.show_values(self._in_force)

    def show_values(self, values: dict) -> None:
        """Put `values` ({name: value}) in the fields, without applying them."""
        for rule in RULES:
            if rule.name not in values:
                continue
            widget, value = self.fields[rule.name], values[rule.name]
            if rule.kind == "bool":
                widget.setChecked(bool(value))
            elif rule.kind == "choice":
                widget.setCurrentIndex(max(0, widget.findData(value)))
            else:
                widget.setValue(int(value))
        self._update_state()

    def values(self) -> dict:
        """Return the rules as the form shows them."""
        result = {}
        for rule in RULES:
            widget = self.fields[rule.name]
            result[rule.name] = (widget.isChecked() if rule.kind == "bool" else
                                 widget.currentData() if rule.kind == "choice" else widget.value())
        return result

    def changes(self) -> dict:
        """Return the rules whose shown value differs from the one in force."""
        return {name: value for name, value in self.values().items() if value != self._in_force.get(name)}

    def set_busy(self, busy: bool) -> None:
        """Disable Apply while an analysis runs."""
        self._busy = busy
        self._update_state()

    def apply(self) -> bool:
        """Emit rules_applied with the changed rules; return False when there is nothing to apply."""
        changes = self.changes()
        if not changes or not self._can_apply or self._busy:
            return False
        self.set_busy(True)
        self.status_label.setText("Planning the waves with the new rules…")
        self.rules_applied.emit(changes)
        return True

    # --- internals ------------------------------------------------------------------------------------
    def _update_state(self, *_args) -> None:
        dirty = bool(self.changes())
        self.apply_button.setEnabled(dirty and self._can_apply and not self._busy)
        if self._busy:
            return
        if dirty and not self._can_apply:
            self.status_label.setText("Read-only: not loaded from a store")
        elif dirty:
            self.status_label.setText("<b style='color:#B85C00'>Not applied yet</b>")
        else:
            self.status_label.setText("")
        self.setTitle("Wave rules *" if dirty else "Wave rules")
