"""Text as a spreadsheet cell holds it: the characters replaced for safety, Excel's cell limit, and what a reader
of an exported workbook gets back.

One policy for both directions: exports.safe_cells writes every text cell through clean_text, and the workbook
import (scanners.workbook_annotations) recognises a cell the export wrote with as_read_back, so that importing
an unedited workbook changes nothing even where the export replaced a character.
"""

from __future__ import annotations

import re

# The same characters as openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE (a test keeps them equal): C0 controls other
# than tab, line feed and carriage return, which an .xlsx file cannot hold.
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
# C1 controls and the bidirectional overrides and isolates, which can make text read differently from what
# it is ("Trojan Source"); an .xlsx can hold them, but a hostile banner has no business using them.
DECEPTIVE_CHARACTERS_RE = re.compile("[\u0080-\u009f\u202a-\u202e\u2066-\u2069]")
REPLACEMENT = "\ufffd"
# Excel's limit on the characters in one cell, counted as Excel counts them (excel_length); longer text is cut
# and marked.
MAX_CELL_CHARS = 32_767
TRUNCATED = "… [truncated]"


def excel_length(text: str) -> int:
    """Return the length of `text` as Excel counts it: UTF-16 code units (an emoji counts as two)."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def clean_text(value: str) -> str:
    """Return `value` with control and bidi characters replaced by U+FFFD and, past Excel's cell limit, cut
    and marked with TRUNCATED."""
    text = DECEPTIVE_CHARACTERS_RE.sub(REPLACEMENT, ILLEGAL_CHARACTERS_RE.sub(REPLACEMENT, value))
    if len(text) > MAX_CELL_CHARS // 2 and excel_length(text) > MAX_CELL_CHARS:
        units = text.encode("utf-16-le", "surrogatepass")[:2 * (MAX_CELL_CHARS - len(TRUNCATED))]
        text = units.decode("utf-16-le", "surrogatepass")
        if text and "\ud800" <= text[-1] <= "\udbff":  # half of a pair cut in two
            text = text[:-1]
        text += TRUNCATED
    return text


def as_read_back(value: str | None) -> str | None:
    """Return the text a reader of an .xlsx gets back from the cell the export writes for text `value`:
    clean_text's, with line ends as \\n (XML keeps no carriage return); None when there is no text."""
    if not value:
        return None
    return clean_text(value).replace("\r\n", "\n").replace("\r", "\n")
