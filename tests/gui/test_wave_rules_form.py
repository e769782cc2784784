"""The wave rules form of the Move groups page: the rules in force shown, Apply storing a change and planning the
waves again on a worker thread, the new plan and its reasons shown after the reload."""

from __future__ import annotations

from PySide6.QtCore import Qt

from discovery.analyses.wave_rules import DEFAULTS, RULES
from discovery.storage.store import Store
from gui.data import snapshot_of
from gui.groups_view import GroupsView
from tests.gui.test_main_window import make_window, messages, settings  # noqa: F401 (fixtures)


def test_the_form_shows_the_rules_in_force_and_applies_only_what_changed(qtbot, snapshot):
    view = GroupsView()
    qtbot.addWidget(view)
    view.set_snapshot(snapshot)
    form = view.rules_form
    assert form.values() == DEFAULTS and [form.fields[r.name].objectName() for r in RULES] == list(DEFAULTS)
    assert not form.apply_button.isEnabled() and form.apply() is False  # nothing changed
    form.fields["wave_capacity"].setValue(20)
    form.fields["dependency_order"].setCurrentIndex(form.fields["dependency_order"].findData("together"))
    form.fields["separate_tiers"].setChecked(False)
    assert form.apply_button.isEnabled() and form.title() == "Wave rules *"
    with qtbot.waitSignal(view.wave_rules_applied) as applied:
        qtbot.mouseClick(form.apply_button, Qt.MouseButton.LeftButton)
    assert applied.args == [{"wave_capacity": 20, "dependency_order": "together", "separate_tiers": False}]
    assert not form.apply_button.isEnabled(), "busy until the analysis is back"
    form.defaults_button.click()
    assert form.values() == DEFAULTS


def test_the_form_is_read_only_for_an_estate_not_from_a_store(qtbot, snapshot):
    view = GroupsView()
    qtbot.addWidget(view)
    view.set_snapshot(snapshot_of(snapshot.inventory))
    view.rules_form.fields["pilot_groups"].setValue(0)
    assert not view.rules_form.apply_button.isEnabled()
    assert "Read-only" in view.rules_form.status_label.text()


def test_applying_a_rule_plans_the_waves_again_and_shows_the_new_reasons(qtbot, settings, estate_db,  # noqa: F811
                                                                           messages):  # noqa: F811
    path, _ = estate_db
    window = make_window(qtbot, settings)
    with qtbot.waitSignal(window.snapshot_loaded, timeout=30_000) as loaded:
        window.open_store(path)
    (group,) = loaded.args[0].inventory["groups"]
    assert group["wave"] == 2  # db01's end-of-life Debian is upgraded in wave 1 first
    window.show_page("Move groups")
    form = window.groups_view.rules_form
    form.fields["remediation_waves"].setValue(0)
    with qtbot.waitSignal(window.analysis_finished, timeout=60_000), \
            qtbot.waitSignal(window.snapshot_loaded, timeout=60_000) as reloaded:
        qtbot.mouseClick(form.apply_button, Qt.MouseButton.LeftButton)
    snapshot = reloaded.args[0]
    (group,) = snapshot.inventory["groups"]
    assert group["wave"] == 1 and snapshot.inventory["wave_plan"]["rules"]["remediation_waves"] == 0
    assert any("after the groups without any" in r for r in group["wave_reasons"])
    assert form.values()["remediation_waves"] == 0 and not form.apply_button.isEnabled()
    assert form.title() == "Wave rules"
    with Store(path) as store:
        assert store.wave_rules() == {"remediation_waves": 0}  # stored: the next analyze uses it too
    window.groups_view.groups_view.select_row(0)
    assert "after the groups without any" in window.groups_view.reasons_label.text()
    assert not messages
