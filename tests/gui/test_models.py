"""RecordTableModel: Qt's model contract, display text, sorting, filtering, hidden columns and large tables."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QPersistentModelIndex, Qt

from gui.models import Column, RecordTableModel, format_bytes, format_datetime, risk_band

COLUMNS = (
    Column("name", "Name"),
    Column("port", "Port", "int"),
    Column("severity", "Severity", "severity"),
    Column("risk", "Risk", "risk"),
    Column("seen", "Seen", "datetime"),
    Column("addresses", "Addresses", "list"),
    Column("memory", "Memory", "bytes"),
    Column("secret", "Secret", hidden=True),
)
ROWS = [
    {"name": "web01", "port": 443, "severity": "low", "risk": 12.5, "seen": "2026-11-01T09:00:00+00:00",
     "addresses": ["10.0.0.1", "fe80::1"], "memory": 8 * 1024 ** 3, "secret": "needle"},
    {"name": "DB01", "port": 5432, "severity": "critical", "risk": 80.0, "seen": None,
     "addresses": [], "memory": None, "secret": None},
    {"name": "app01", "port": None, "severity": "medium", "risk": None, "seen": "2026-10-01T08:00:00+00:00",
     "addresses": ["10.0.0.3"], "memory": 512, "secret": None},
    {"name": None, "port": 22, "severity": "info", "risk": 0, "seen": None, "addresses": None, "memory": None,
     "secret": None},
]


def names(model: RecordTableModel) -> list:
    return [model.row_dict(r)["name"] for r in range(model.rowCount())]


def test_record_table_model_passes_qt_model_tester(qtmodeltester):
    model = RecordTableModel(COLUMNS, [dict(r) for r in ROWS])
    qtmodeltester.check(model)
    model.sort(1, Qt.SortOrder.DescendingOrder)
    model.set_filter("10.0")
    qtmodeltester.check(model)


def test_record_table_model_display_text_and_roles():
    model = RecordTableModel(COLUMNS, ROWS)
    cell = {c.key: model.index(0, n) for n, c in enumerate(COLUMNS)}
    assert model.data(cell["name"]) == "web01"
    assert model.data(cell["port"]) == "443"
    assert model.data(cell["risk"]) == "12.5"
    assert model.data(cell["seen"]) == "2026-11-01 09:00:00"
    assert model.data(cell["addresses"]) == "10.0.0.1, fe80::1"
    assert model.data(cell["memory"]) == "8.0 GiB"
    assert model.data(model.index(1, 4)) == ""
    assert model.data(cell["addresses"], Qt.ItemDataRole.ToolTipRole) == "10.0.0.1, fe80::1"
    assert model.data(cell["port"], model.RAW_ROLE) == 443
    assert model.data(cell["name"], model.ROW_ROLE) is ROWS[0]
    assert model.data(cell["severity"], model.LEVEL_ROLE) == "low"
    assert model.data(model.index(1, 3), model.LEVEL_ROLE) == "critical"
    assert model.data(model.index(1, 2), Qt.ItemDataRole.BackgroundRole).name().upper() == "#7B0000"
    assert model.data(cell["name"], Qt.ItemDataRole.BackgroundRole) is None
    assert model.headerData(2, Qt.Orientation.Horizontal) == "Severity"


def test_record_table_model_long_text_shows_first_line_and_tooltip_has_all():
    notes = "first line\n" + "x" * 3000
    model = RecordTableModel((Column("notes", "Notes"),), [{"notes": notes}])
    assert model.data(model.index(0, 0)) == "first line …"
    tooltip = model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert tooltip.startswith("first line\nxxx") and len(tooltip) <= 2000


def test_record_table_model_host_column_uses_label():
    model = RecordTableModel((Column("host_id", "Host", "host"),), [{"host_id": "h-1"}, {"host_id": "h-2"}],
                             host_label={"h-1": "web01", "h-2": "alpha"}.get)
    assert model.data(model.index(0, 0)) == "web01"
    assert model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole) == "web01 (h-1)"
    model.sort(0)
    assert [model.row_dict(r)["host_id"] for r in range(2)] == ["h-2", "h-1"]
    model.set_filter("ALPHA")
    assert model.rowCount() == 1 and model.row_dict(0)["host_id"] == "h-2"


def test_record_table_model_sort_is_case_insensitive_and_blanks_last():
    model = RecordTableModel(COLUMNS, ROWS)
    model.sort(0)
    assert names(model) == ["app01", "DB01", "web01", None]
    model.sort(0, Qt.SortOrder.DescendingOrder)
    assert names(model) == ["web01", "DB01", "app01", None]
    model.sort(1)
    assert [model.row_dict(r)["port"] for r in range(4)] == [22, 443, 5432, None]
    model.sort(3, Qt.SortOrder.DescendingOrder)
    assert [model.row_dict(r)["risk"] for r in range(4)] == [80.0, 12.5, 0, None]


def test_record_table_model_sorts_severity_by_rank():
    model = RecordTableModel(COLUMNS, ROWS)
    model.sort(2, Qt.SortOrder.DescendingOrder)
    assert [model.row_dict(r)["severity"] for r in range(4)] == ["critical", "medium", "low", "info"]


def test_record_table_model_sorts_mixed_types_without_error():
    rows = [{"v": "b"}, {"v": 3}, {"v": None}, {"v": ["a"]}, {"v": 1.5}, {"v": True}]
    model = RecordTableModel((Column("v", "V"),), rows)
    model.sort(0)
    assert [model.row_dict(r)["v"] for r in range(6)] == [True, 1.5, 3, ["a"], "b", None]


def test_record_table_model_filter_matches_visible_columns_case_insensitively():
    model = RecordTableModel(COLUMNS, ROWS)
    model.set_filter("DB0")
    assert names(model) == ["DB01"]
    model.set_filter("10.0.0")
    assert names(model) == ["web01", "app01"]
    model.set_filter("needle")
    assert model.rowCount() == 0, "hidden columns are not searched"
    model.set_column_hidden(7, False)
    model.set_filter("NEEDLE")
    assert names(model) == ["web01"]
    model.set_filter("")
    assert model.rowCount() == 4


def test_record_table_model_filter_keeps_sort_and_rows_are_not_copied():
    model = RecordTableModel(COLUMNS, ROWS)
    model.sort(0, Qt.SortOrder.DescendingOrder)
    model.set_filter("01")
    assert names(model) == ["web01", "DB01", "app01"]
    assert model.row_dict(0) is ROWS[0]
    model.set_row_predicate(lambda row: row["port"] is not None)
    assert names(model) == ["web01", "DB01"]
    model.set_rows(list(reversed(ROWS)))
    assert names(model) == ["web01", "DB01"], "a new set of rows keeps sort, filter and predicate"


def test_record_table_model_hidden_columns_signal(qtbot):
    model = RecordTableModel(COLUMNS, ROWS)
    assert model.is_column_hidden(7) and not model.is_column_hidden(0)
    with qtbot.waitSignal(model.column_visibility_changed) as blocker:
        model.set_column_hidden(0, True)
    assert blocker.args == [0, True]
    assert 0 not in model.visible_columns()


def test_record_table_model_keeps_selection_across_sort(qtbot):
    model = RecordTableModel(COLUMNS, ROWS)
    kept = QPersistentModelIndex(model.index(1, 0))
    model.sort(0)
    assert model.row_dict(kept.row())["name"] == "DB01"
    model.set_filter("web")
    assert not kept.isValid()


def test_formatters():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_datetime("2026-11-01T09:00:00.123+00:00") == "2026-11-01 09:00:00"
    assert format_datetime("2026-11-01T10:00:00+01:00") == "2026-11-01 09:00:00"
    assert risk_band(80) == "critical" and risk_band(0) == "info" and risk_band(None) is None


@pytest.mark.parametrize("count", [200_000])
def test_record_table_model_large_table_builds_sorts_and_filters(count, qtmodeltester):
    rows = [{"name": f"host{i:06d}", "port": i % 65536, "severity": ("critical", "low", None)[i % 3],
             "risk": (i * 7) % 101, "seen": "2026-11-01T09:00:00+00:00", "addresses": [f"10.{i % 256}.0.1"],
             "memory": i * 1024, "secret": None} for i in range(count)]
    start = time.perf_counter()
    model = RecordTableModel(COLUMNS, rows)
    built = time.perf_counter()
    model.set_filter("host19999")
    first_filter = time.perf_counter()
    assert model.rowCount() == 10  # host199990 ... host199999
    model.set_filter("10.7.0.1")
    second_filter = time.perf_counter()
    assert model.rowCount() == count // 256 + (1 if count % 256 > 7 else 0)
    model.set_filter("")
    model.sort(3, Qt.SortOrder.DescendingOrder)
    sorted_at = time.perf_counter()
    assert model.row_dict(0)["risk"] == 100
    print(f"\n{count:,} rows: build {built - start:.3f}s, first filter {first_filter - built:.3f}s, "
          f"second filter {second_filter - first_filter:.3f}s, sort {sorted_at - second_filter:.3f}s")
    assert model.rowCount() == count
