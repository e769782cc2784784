"""The wave plan as a user meets it: rules set on `estatemap analyze` are stored and reused, the JSON export
carries the plan and each group's reasons, and the workbook's Wave rules sheet goes out and comes back."""

from __future__ import annotations

import json

import openpyxl
import pytest

from discovery.analyses.wave_rules import DEFAULTS, RULES
from discovery.storage.store import Store
from exports.xlsx import XlsxExporter
from tests.unit.test_analyze import fill
from tests.unit.test_cli import run
from tests.unit.test_exports_safety import HOSTILE, expected_text, hostile_inventory
from tests.unit.test_workbook_roundtrip import column, export, row_of, set_text


@pytest.fixture
def db(tmp_path):
    """A store holding app01 → db01 (both on end-of-life Debian 10), not yet analysed."""
    path = tmp_path / "estate.db"
    with Store(path) as store:
        fill(store)
    return path


def analyze(db, *options):
    code, out, err = run("--db", str(db), "analyze", "--as-of", "2026-11-28", *options)
    assert code == 0, err
    return out, err


def exported(db, tmp_path) -> dict:
    path = tmp_path / "estate.json"
    export(db, path)
    return json.loads(path.read_text())


def test_analyze_options_are_stored_and_used_by_the_next_analyze(db, tmp_path):
    out, _ = analyze(db, "--wave-capacity", "1", "--capacity-unit", "groups", "--dependency-order", "together",
                     "--no-separate-tiers", "--pilot-groups", "0", "--remediation-waves", "2")
    assert ("Wave plan: 2 waves (1-3); rules: at most 1 group a wave, pilot of 0 groups at risk 30 or less, "
            "together, 2 waves for end-of-life remediation, tiers mixed; 0 warnings.") in out
    wanted = {"wave_capacity": 1, "capacity_unit": "groups", "dependency_order": "together", "separate_tiers": False,
              "pilot_groups": 0, "remediation_waves": 2}
    with Store(db) as store:
        assert store.wave_rules() == wanted
    analyze(db)  # no options: the stored rules stand
    inventory = exported(db, tmp_path)
    assert inventory["wave_plan"]["rules"] == {**DEFAULTS, **wanted}
    (group,) = inventory["groups"]
    assert group["wave"] == 3  # waves 1 and 2 are left for the end-of-life upgrade
    analyze(db, "--reset-wave-rules", "--pilot-max-risk", "60")
    with Store(db) as store:
        assert store.wave_rules() == {"pilot_max_risk": 60}
    assert exported(db, tmp_path)["wave_plan"]["rules"] == {**DEFAULTS, "pilot_max_risk": 60}


@pytest.mark.parametrize("option, value, message", [
    ("--wave-capacity", "-3", "'-3' is not a whole number from 0 to 1,000,000"),
    ("--pilot-max-risk", "high", "'high' is not a whole number from 0 to 100"),
    ("--dependency-order", "sideways", "invalid choice: 'sideways'"),
])
def test_a_bad_rule_option_is_a_usage_error_and_stores_nothing(db, option, value, message):
    code, _, err = run("--db", str(db), "analyze", option, value)
    assert code == 2 and message in err, err
    with Store(db) as store:
        assert store.wave_rules() == {} and store.latest_analysis() is None


def test_the_json_export_carries_the_plan_and_every_groups_reasons(db, tmp_path):
    out, err = analyze(db)
    inventory = exported(db, tmp_path)
    plan = inventory["wave_plan"]
    assert set(plan) == {"rules", "waves", "warnings"} and plan["rules"] == DEFAULTS
    assert [w["wave"] for w in plan["waves"]] == [1, 2]
    assert all(set(w) >= {"wave", "group_ids", "hosts", "reasons"} and w["reasons"] for w in plan["waves"])
    (group,) = inventory["groups"]
    assert plan["waves"][1]["group_ids"] == [group["id"]] and plan["waves"][1]["hosts"] == 2
    assert group["wave"] == 2 and group["wave_override"] is None
    assert group["wave_reasons"][0] == "Tier low: no patient data, criticality low or unset."
    assert any(r.startswith("End-of-life systems on app01, db01") for r in group["wave_reasons"])
    assert plan["waves"][0]["remediation"] == sorted(group["host_ids"])
    # the analysis's own `waves` keep their shape (number, group_ids, host_ids, note) and follow the plan
    assert [(w["number"], w["group_ids"]) for w in inventory["analysis"]["waves"]] == [(1, []), (2, [group["id"]])]
    assert "wave_plan" not in inventory["analysis"]
    assert plan["warnings"] == [w.removeprefix("estatemap: warning: wave plan: ") for w in err.splitlines()]


def test_wave_rules_go_out_to_the_workbook_and_edits_come_back(db, tmp_path):
    analyze(db)
    book = tmp_path / "estate.xlsx"
    export(db, book)
    wb = openpyxl.load_workbook(book)
    ws = wb["Wave rules"]
    assert [c.value for c in ws[1]] == ["Rule", "Setting", "Value", "Default", "Allowed values", "Meaning"]
    assert [ws.cell(r, 1).value for r in range(2, ws.max_row + 1)] == [r.name for r in RULES]
    value = column(ws, "Value")
    assert ws.cell(row_of(ws, "Rule", "wave_capacity"), value).value == 50  # a number, as typed
    assert ws.cell(row_of(ws, "Rule", "separate_tiers"), value).value == "yes"
    groups = wb["Move groups"]
    reasons = groups.cell(2, column(groups, "Wave reasons")).value
    assert reasons.splitlines()[0] == "Tier low: no patient data, criticality low or unset."
    ws.cell(row_of(ws, "Rule", "wave_capacity"), value).value = 7
    ws.cell(row_of(ws, "Rule", "separate_tiers"), value).value = "No"
    set_text(ws, row_of(ws, "Rule", "dependency_order"), "Value", "=cmd|' /C calc'!A0")  # text, as Excel keeps it
    ws.cell(row_of(ws, "Rule", "pilot_groups"), value).value = None  # blank: no change
    ws.cell(ws.max_row + 1, column(ws, "Rule")).value = "wave_colour"
    ws.cell(ws.max_row, value).value = "blue"
    wb.save(book)

    code, out, err = run("--db", str(db), "import", str(book))

    assert code == 0, err
    assert ("Wave rules changed: wave_capacity 7, separate_tiers no; run estatemap analyze to plan the waves with "
            "them.") in out
    assert "2 rows skipped" in err and "Wave rules row 6 (dependency_order): wave rule dependency_order: " \
        "\"=cmd|' /C calc'!A0\" is not server-first or together" in err and "unknown wave rule 'wave_colour'" in err
    with Store(db) as store:
        assert store.wave_rules() == {"wave_capacity": 7, "separate_tiers": False}
    export(db, book)  # before the next analyze the sheet still shows what the plan used; importing it changes nothing
    code, out, _ = run("--db", str(db), "import", str(book))
    assert code == 0 and "Wave rules changed" not in out
    analyze(db)
    assert exported(db, tmp_path)["wave_plan"]["rules"] == {**DEFAULTS, "wave_capacity": 7, "separate_tiers": False}
    export(db, book)
    ws = openpyxl.load_workbook(book)["Wave rules"]
    assert ws.cell(row_of(ws, "Rule", "wave_capacity"), column(ws, "Value")).value == 7
    assert ws.cell(row_of(ws, "Rule", "separate_tiers"), column(ws, "Value")).value == "no"


def test_hostile_names_in_wave_reasons_and_warnings_stay_text(store, tmp_path):
    inventory = hostile_inventory(store)
    inventory["groups"][0]["wave_reasons"] = [f"Highest host risk 9 ({v})" for v in HOSTILE]
    inventory["wave_plan"]["warnings"] = list(HOSTILE)
    path = tmp_path / "hostile.xlsx"
    XlsxExporter().write(inventory, path)
    wb = openpyxl.load_workbook(path)
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    groups = wb["Move groups"]
    cell = groups.cell(2, column(groups, "Wave reasons"))
    assert cell.data_type == "s" and cell.value == "\n".join(f"Highest host risk 9 ({expected_text(v)})"
                                                             for v in HOSTILE)
    summary = [c for row in wb["Summary"].iter_rows() for c in row if isinstance(c.value, str)]
    warned = {c.value: c for c in summary}
    for value in HOSTILE[:-1]:
        assert expected_text(value) in warned and warned[expected_text(value)].data_type == "s"
