"""The shared vocabulary (discovery/records/model.py) is written once: every part imports it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from discovery.records.model import COVERAGE_DEPTHS, CRITICALITIES, SEVERITIES, severities_at_or_above
from discovery.analyses.risk import CRITICALITY_POINTS, SEVERITY_POINTS

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for part in ("discovery", "scanners", "exports", "gui", "collector") for p in (ROOT / part).rglob("*.py")]
SOURCES.append(ROOT / "main.py")


def literal_copies(values: tuple[str, ...]) -> list[str]:
    """Return "path:line" of every tuple or list literal spelling `values` outside discovery/records/model.py."""
    found = []
    for path in SOURCES:
        if path == ROOT / "discovery" / "records" / "model.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) == len(values)
                    and all(isinstance(e, ast.Constant) for e in node.elts)
                    and tuple(e.value for e in node.elts) == values):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


@pytest.mark.parametrize("values", [SEVERITIES, CRITICALITIES, COVERAGE_DEPTHS])
def test_no_part_writes_its_own_copy_of_a_ladder(values):
    assert literal_copies(values) == []


def test_the_check_finds_a_copy(tmp_path, monkeypatch):
    copy = tmp_path / "copy.py"
    copy.write_text(f"LADDER = {SEVERITIES!r}\n")
    monkeypatch.setattr(sys.modules[__name__], "SOURCES", [copy])
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert literal_copies(SEVERITIES) == ["copy.py:1"]


def test_severities_at_or_above():
    assert severities_at_or_above("high") == {"critical", "high"}
    assert severities_at_or_above("info") == set(SEVERITIES)
    with pytest.raises(ValueError, match="unknown severity 'severe'"):
        severities_at_or_above("severe")


def test_the_risk_policy_scores_every_rung_of_each_ladder():
    assert set(SEVERITY_POINTS) == set(SEVERITIES) and set(CRITICALITY_POINTS) == set(CRITICALITIES)
