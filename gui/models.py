"""Table models for the inventory's records: one `RecordTableModel` shows any list of dicts as columns.

Built for large estates (hundreds of thousands of rows): the dicts are kept as they are, display text is
made only in `data()` (Qt asks only for visible rows), sorting is one Python sort of row numbers, and the
text filter keeps a list of row numbers (never copies of rows). The filter searches a lower-case text per
row, built on the first filter after the rows or visible columns change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from discovery.analyses.coverage import depth_rank
from discovery.records.model import RISK_BANDS, RISK_SCALE, SEVERITIES, SEVERITY_COLOURS

# Higher is worse: info 0 ... critical 4.
SEVERITY_RANK = {s: len(SEVERITIES) - 1 - i for i, s in enumerate(SEVERITIES)}
_RISK_STOPS = tuple((score, QColor(colour)) for score, colour in RISK_SCALE)
NUMERIC_KINDS = {"int", "float", "bytes", "risk"}
KINDS = {"text", "int", "float", "bytes", "datetime", "list", "bool", "severity", "risk", "host", "json", "depth"}
# Tool tips are cut here, so a huge value never makes a screen-sized tip.
TOOLTIP_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Column:
    """One column: the row key it shows, its title and what kind of value it is.

    kind: text, int, float, bytes (shown as KiB/MiB/GiB), datetime (ISO text or datetime), list, bool,
    severity (coloured, sorted by rank), risk (a 0-100 score, coloured), host (a host id shown by the
    model's `host_label`), json (nested data as compact text), depth (a coverage depth, seen ... sockets, sorted
    shallowest first: discovery.analyses.coverage). `width`: a starting width in characters.
    `hidden`: hidden until chosen in the column chooser. `value`: derives the value from the row instead
    of `row.get(key)`.
    """
    key: str
    title: str
    kind: str = "text"
    width: int | None = None
    hidden: bool = False
    value: Callable[[dict], object] | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"column {self.key!r}: unknown kind {self.kind!r}")

    def get(self, row: dict):
        """Return this column's raw value for `row`."""
        return self.value(row) if self.value is not None else row.get(self.key)


def severity_rank(severity) -> int:
    """Return a severity's rank (info 0 ... critical 4); -1 for anything else."""
    return SEVERITY_RANK.get(str(severity).lower(), -1) if severity is not None else -1


def risk_band(score) -> str | None:
    """Return the band (critical, high, medium, low, info) of a 0-100 risk score, or None for no score."""
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        return None
    return next(name for floor, name in RISK_BANDS if score >= floor or floor == 0)


def risk_colour(score: float) -> QColor:
    """Return the background colour of a risk score on the green-yellow-red scale."""
    score = max(0.0, min(100.0, float(score)))
    (low, a), (high, b) = _RISK_STOPS[:2] if score <= 50 else _RISK_STOPS[1:]
    t = (score - low) / (high - low)
    return QColor(*(round(x + (y - x) * t) for x, y in zip(a.getRgb()[:3], b.getRgb()[:3])))


def format_bytes(value) -> str:
    """Return a byte count as text in binary units ("512 B", "7.8 GiB")."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(size) < 1024 or unit == "PiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


def format_datetime(value) -> str:
    """Return a datetime (or ISO text) as "YYYY-MM-DD HH:MM:SS" in UTC; other text unchanged."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if len(text) >= 19 and text[10] == "T":
        if text.endswith(("+00:00", "Z")) or len(text) == 19 or text[19] == ".":
            return text[:10] + " " + text[11:19]
        try:
            return format_datetime(datetime.fromisoformat(text))
        except ValueError:
            return text
    return text


def format_number(value) -> str:
    """Return a number without trailing zeros ("14", "12.5"); text unchanged."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def flatten(value) -> str:
    """Return a value as one line of text: lists joined with ", ", nested data as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(flatten(v) if isinstance(v, (str, list, tuple)) else
                         json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str)
                         if isinstance(v, dict) else ("" if v is None else str(v)) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


class RecordTableModel(QAbstractTableModel):
    """A read-only table of dicts with in-model sorting, a text filter, a row predicate and hidden columns.

    Row numbers given to `row_dict` and Qt are positions in the current (sorted, filtered) order.
    """
    RAW_ROLE = Qt.ItemDataRole.UserRole + 1    # the cell's raw value
    LEVEL_ROLE = Qt.ItemDataRole.UserRole + 2  # severity of a severity cell, band of a risk cell
    ROW_ROLE = Qt.ItemDataRole.UserRole + 3    # the row's dict
    column_visibility_changed = Signal(int, bool)
    rows_filtered = Signal(int, int)           # (rows shown, rows in all)

    def __init__(self, columns: Iterable[Column], rows: list[dict] | None = None, *,
                 host_label: Callable[[str], str] | None = None, parent=None):
        super().__init__(parent)
        self._columns = tuple(columns)
        self._hidden = {i for i, c in enumerate(self._columns) if c.hidden}
        self._host_label = host_label
        self._rows: list[dict] = []
        self._order: list[int] = []
        self._shown: list[int] = []
        self._haystack: list[str] | None = None
        self._needle = ""
        self._predicate: Callable[[dict], bool] | None = None
        self._sort: tuple[int, Qt.SortOrder] | None = None
        if rows is not None:
            self.set_rows(rows)

    # --- contents -------------------------------------------------------------------------------------
    @property
    def columns(self) -> tuple[Column, ...]:
        """The model's columns, hidden ones included."""
        return self._columns

    def set_rows(self, rows: list[dict]) -> None:
        """Show `rows` (kept as given, not copied), keeping the current sort, filter and predicate."""
        self.beginResetModel()
        self._rows = rows if isinstance(rows, list) else list(rows)
        self._haystack = None
        self._order = self._sorted_order() if self._sort else list(range(len(self._rows)))
        self._shown = self._filtered(self._order)
        self.endResetModel()
        self.rows_filtered.emit(len(self._shown), len(self._rows))

    def set_host_label(self, host_label: Callable[[str], str] | None) -> None:
        """Name hosts in `host` columns with `host_label(host_id)` (None: show the ids)."""
        self._host_label = host_label
        self.refresh()

    def refresh(self) -> None:
        """Tell views every cell may have changed (after rows were edited in place); search text is rebuilt."""
        self._haystack = None
        if self._shown:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._shown) - 1, len(self._columns) - 1))

    def rows(self) -> list[dict]:
        """Return every row (not only those shown), in the order given to `set_rows`."""
        return self._rows

    def row_dict(self, row: int) -> dict:
        """Return the dict shown at `row` (a position in the current order); raises IndexError."""
        return self._rows[self._shown[row]]

    def total_count(self) -> int:
        """Return the number of rows, filtered or not."""
        return len(self._rows)

    def find_row(self, key: str, value) -> int | None:
        """Return the position of the first shown row whose `key` equals `value`, or None."""
        return next((pos for pos, i in enumerate(self._shown) if self._rows[i].get(key) == value), None)

    def is_row_filtered_out(self, key: str, value) -> bool:
        """Return True if some row has `key` == `value` but none of those rows is shown."""
        return self.find_row(key, value) is None and any(r.get(key) == value for r in self._rows)

    # --- Qt model API ---------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._shown)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._columns)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return super().headerData(section, orientation, role)
        column = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{column.title} ({column.key})"
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._shown) or index.column() >= len(self._columns):
            return None
        if role not in _ROLES:
            return None
        column = self._columns[index.column()]
        row = self._rows[self._shown[index.row()]]
        value = column.get(row)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(column, value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(column, value)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column.kind in NUMERIC_KINDS:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole):
            return _cell_colour(column.kind, value, role == Qt.ItemDataRole.BackgroundRole)
        if role == self.RAW_ROLE:
            return value
        if role == self.LEVEL_ROLE:
            return _level(column.kind, value)
        if role == self.ROW_ROLE:
            return row
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        """Sort all rows by `column` (blanks last in both orders); the filter is kept."""
        if not 0 <= column < len(self._columns):
            return
        self._sort = (column, Qt.SortOrder(order))
        self._change_layout(lambda: self._set_order(self._sorted_order()))

    # --- filtering ------------------------------------------------------------------------------------
    def set_filter(self, text: str) -> None:
        """Show only rows whose visible columns contain `text` (case-insensitive); blank shows all."""
        needle = (text or "").strip().casefold()
        if needle == self._needle:
            return
        self._needle = needle
        self._change_layout(lambda: self._set_shown(self._filtered(self._order)))

    def filter_text(self) -> str:
        """Return the text filter in effect (lower-case; blank when none)."""
        return self._needle

    def set_row_predicate(self, predicate: Callable[[dict], bool] | None) -> None:
        """Show only rows for which `predicate(row)` is true, with the text filter (None: no predicate)."""
        self._predicate = predicate
        self._change_layout(lambda: self._set_shown(self._filtered(self._order)))

    # --- hidden columns -------------------------------------------------------------------------------
    def is_column_hidden(self, column: int) -> bool:
        """Return True if `column` is hidden (views hide it; the filter does not search it)."""
        return column in self._hidden

    def set_column_hidden(self, column: int, hidden: bool) -> None:
        """Hide or show a column (views follow `column_visibility_changed`); the filter searches visible ones."""
        if not 0 <= column < len(self._columns) or (column in self._hidden) == hidden:
            return
        (self._hidden.add if hidden else self._hidden.discard)(column)
        self._haystack = None
        self.column_visibility_changed.emit(column, hidden)
        if self._needle:
            self._change_layout(lambda: self._set_shown(self._filtered(self._order)))

    def visible_columns(self) -> list[int]:
        """Return the numbers of the columns not hidden, in order."""
        return [i for i in range(len(self._columns)) if i not in self._hidden]

    # --- text -----------------------------------------------------------------------------------------
    def display_text(self, row: int, column: int) -> str:
        """Return the text shown in a cell (row: a position in the current order)."""
        col = self._columns[column]
        return self._display(col, col.get(self.row_dict(row)))

    def _text(self, column: Column, value) -> str:
        if value is None:
            return ""
        kind = column.kind
        if kind == "text" and isinstance(value, str):
            return value
        if kind in ("int", "float", "risk"):
            return format_number(value)
        if kind == "bytes" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return format_bytes(value)
        if kind == "datetime":
            return format_datetime(value)
        if kind == "bool" and isinstance(value, bool):
            return "yes" if value else "no"
        if kind == "host":
            return self._host_label(value) if self._host_label is not None else str(value)
        if isinstance(value, float):
            return format_number(value)
        return flatten(value)

    def _display(self, column: Column, value) -> str:
        text = self._text(column, value)
        if "\n" in text:
            first = text.strip().split("\n", 1)[0]
            return first + " …"
        return text

    def _tooltip(self, column: Column, value) -> str | None:
        text = self._text(column, value)
        if not text:
            return None
        if column.kind == "host" and text != value:
            text = f"{text} ({value})"
        return text if len(text) <= TOOLTIP_LIMIT else text[:TOOLTIP_LIMIT - 1] + "…"

    def _search_text(self) -> list[str]:
        if self._haystack is None:
            columns = [self._columns[i] for i in self.visible_columns()]
            text = self._text
            self._haystack = ["\x1f".join([text(c, c.get(row)) for c in columns]).casefold() for row in self._rows]
        return self._haystack

    # --- order ----------------------------------------------------------------------------------------
    def _sorted_order(self) -> list[int]:
        column_no, order = self._sort
        column = self._columns[column_no]
        key = _sort_key(column, self._host_label)
        values = [column.get(row) for row in self._rows]
        present = [i for i, v in enumerate(values) if v is not None and v != "" and v != []]
        blank = [i for i, v in enumerate(values) if v is None or v == "" or v == []]
        present.sort(key=lambda i: key(values[i]), reverse=order == Qt.SortOrder.DescendingOrder)
        return present + blank

    def _filtered(self, order: list[int]) -> list[int]:
        if not self._needle and self._predicate is None:
            return order
        keep = order
        if self._predicate is not None:
            predicate, rows = self._predicate, self._rows
            keep = [i for i in keep if predicate(rows[i])]
        if self._needle:
            needle, haystack = self._needle, self._search_text()
            keep = [i for i in keep if needle in haystack[i]]
        return keep

    def _set_order(self, order: list[int]) -> None:
        self._order = order
        self._shown = self._filtered(order)

    def _set_shown(self, shown: list[int]) -> None:
        self._shown = shown

    def _change_layout(self, change: Callable[[], None]) -> None:
        """Apply `change` (which reorders or filters rows) between layout signals, moving persistent indexes."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        old_rows = [(self._shown[p.row()], p.column()) if p.isValid() and p.row() < len(self._shown) else None
                    for p in persistent]
        change()
        if persistent:
            position = {i: pos for pos, i in enumerate(self._shown)}
            new = [self.index(position[o[0]], o[1]) if o is not None and o[0] in position else QModelIndex()
                   for o in old_rows]
            self.changePersistentIndexList(persistent, new)
        self.layoutChanged.emit()
        self.rows_filtered.emit(len(self._shown), len(self._rows))


_ROLES = {Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.TextAlignmentRole,
          Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole, RecordTableModel.RAW_ROLE,
          RecordTableModel.LEVEL_ROLE, RecordTableModel.ROW_ROLE}
_SEVERITY_BRUSHES = {s: (QColor(bg), QColor(fg)) for s, (bg, fg) in SEVERITY_COLOURS.items()}
_BLACK = QColor("#000000")


def _level(kind: str, value) -> str | None:
    if kind == "severity" and value is not None:
        severity = str(value).lower()
        return severity if severity in SEVERITY_RANK else None
    if kind == "risk":
        return risk_band(value)
    return None


def _cell_colour(kind: str, value, background: bool) -> QColor | None:
    if kind == "severity":
        colours = _SEVERITY_BRUSHES.get(str(value).lower()) if value is not None else None
        return None if colours is None else colours[0 if background else 1]
    if kind == "risk" and risk_band(value) is not None:
        return risk_colour(value) if background else _BLACK
    return None


def _sort_key(column: Column, host_label: Callable[[str], str] | None) -> Callable:
    """Return a key for non-blank values of `column`: numbers before text, text case-insensitive."""
    if column.kind == "severity":
        return lambda v: (0, severity_rank(v), "") if severity_rank(v) >= 0 else (1, 0, str(v).casefold())
    if column.kind == "host" and host_label is not None:
        return lambda v: (1, host_label(v).casefold())
    if column.kind == "datetime":
        return lambda v: (1, format_datetime(v))
    if column.kind == "depth":
        return lambda v: (0, depth_rank(v)) if depth_rank(v) >= 0 else (1, str(v).casefold())
    return _general_key


def _general_key(value):
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value.casefold())
    return (1, flatten(value).casefold())

