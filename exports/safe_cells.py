"""Cell values that spreadsheets will not evaluate: hostile text from the network stays text.

Banners, hostnames, command lines and script output come from machines we do not control. A
spreadsheet evaluates a cell typed `=HYPERLINK(...)` or `+cmd|' /C calc'!A0` (and, in CSV, anything
starting with =, +, -, @, tab or carriage return), so every text cell goes through here:

- control characters an .xlsx file cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE: C0 controls other
  than tab, line feed and carriage return) are replaced with U+FFFD, never crashed on, and so are C1
  controls and bidirectional overrides, which would make a cell read differently from what it holds;
- text longer than Excel's cell limit (32,767 characters as Excel counts them) is cut, with a marker saying
  so (an annotation never is: discovery.records.annotations keeps them shorter);
- in .xlsx, text is written as a string cell (data type "s", never "f") with the quote-prefix style
  (Excel's leading apostrophe), so it stays text even when someone edits the cell, and a literal _xHHHH_
  is escaped as Excel escapes it (_x005F_xHHHH_), so Excel shows it as written instead of decoding it into
  a character (a bidi override) that the replacement above would have removed;
- in CSV, text that looks like a formula is prefixed with a single quote (OWASP's CSV-injection advice).

That policy (which characters, the limit) lives in discovery.records.cell_text, so that the workbook import
recognises what the export wrote.

Numbers, booleans and dates are not text and are returned unchanged.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, timezone

from discovery.records.cell_text import (DECEPTIVE_CHARACTERS_RE, ILLEGAL_CHARACTERS_RE, MAX_CELL_CHARS,  # noqa: F401
                                         REPLACEMENT, TRUNCATED, clean_text)

# An underscore that Excel would read as the start of one of its _xHHHH_ escapes (they may overlap).
EXCEL_ESCAPE_RE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
# What makes a spreadsheet treat a cell as a formula (OWASP CSV injection), also after leading whitespace.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(text: str) -> bool:
    """Return True when a spreadsheet could evaluate `text` (it starts with a trigger, perhaps after spaces)."""
    if text.startswith(FORMULA_TRIGGERS):
        return True
    stripped = text.lstrip()
    return stripped != text and stripped.startswith(FORMULA_TRIGGERS)


def safe_text(value, *, quote: bool = False) -> str:
    """Return `value` as text safe for a spreadsheet cell: control characters replaced, cut to the cell
    limit and, with `quote` (CSV), prefixed with ' when it looks like a formula."""
    text = clean_text(value if isinstance(value, str) else str(value))
    if quote and looks_like_formula(text):
        text = "'" + text
    return text


def xlsx_text(value) -> str:
    """Return `value` as the text to write into an .xlsx cell: safe_text's, with a literal _xHHHH_ escaped as
    Excel escapes it (a reader that decodes Excel's escapes, as Excel does, gets safe_text's text back)."""
    return EXCEL_ESCAPE_RE.sub("_x005F_", safe_text(value))


def csv_value(value):
    """Return a CSV field for `value`: numbers unchanged, booleans as true/false, None empty, lists of plain
    values joined with ", ", anything nested as compact JSON; every text through safe_text(quote=True)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return safe_text(flatten(value), quote=True)


def flatten(value) -> str:
    """Return a list of plain values joined with ", ", anything nested as compact JSON, the rest as str."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, set, frozenset)) and all(_plain(v) for v in value):
        return ", ".join("" if v is None else str(v) for v in value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


def _plain(value) -> bool:
    return value is None or isinstance(value, (str, int, float))


def parse_datetime(value) -> datetime | None:
    """Return an ISO-8601 text as a naive UTC datetime (Excel has no time zones), or None if it is not one."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def xlsx_text_cell(ws, value):
    """Return a write-only cell for worksheet `ws` holding `value` as a string Excel will not evaluate.

    The cell's data type is "s" (openpyxl would make a text starting with "=" a formula); text that looks
    like a formula also gets the quote-prefix style, as if typed with a leading apostrophe.
    """
    from openpyxl.cell import WriteOnlyCell

    text = xlsx_text(value)
    cell = WriteOnlyCell(ws, text)
    cell.data_type = "s"
    if looks_like_formula(text):
        cell.quotePrefix = True
    return cell


def xlsx_value(ws, value):
    """Return what to append to write-only worksheet `ws` for `value`: numbers, booleans and None as they are,
    text as a plain str when harmless and as xlsx_text_cell when it could be read as a formula."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    text = safe_text(flatten(value))
    if not text:
        return None
    if looks_like_formula(text):
        return xlsx_text_cell(ws, text)
    return EXCEL_ESCAPE_RE.sub("_x005F_", text)
