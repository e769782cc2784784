"""Architects' annotations of a host (owner, criticality, patient data, notes): the fields and the longest text
one may hold, checked wherever an annotation is entered (the GUI's editor, a workbook import, the store).

The limit is in characters as Excel counts them (UTF-16 code units: a character outside the Basic
Multilingual Plane, such as an emoji, counts as two), so that every annotation fits in one Excel cell
(32,767) as it is, never cut on the way out, with room to spare for the quote a CSV export puts before text
that looks like a formula.
"""

from __future__ import annotations

from discovery.records.cell_text import excel_length
from discovery.records.model import EstateError

ANNOTATION_FIELDS = ("owner", "criticality", "patient_data", "notes")
TEXT_FIELDS = {"owner": "Owner", "notes": "Notes"}  # field -> its label in the editor and the workbook
MAX_ANNOTATION_CHARS = 32_000  # below MAX_CELL_CHARS (32,767)


class AnnotationError(EstateError):
    """An annotation that cannot be stored as given (too long)."""


def annotation_problem(field: str, value) -> str | None:
    """Return why `value` cannot be stored as annotation `field` (e.g. "Notes are 40,000 characters long; the
    limit is 32,000"), or None when it can."""
    if field not in TEXT_FIELDS or not isinstance(value, str):
        return None
    length = excel_length(value)
    if length <= MAX_ANNOTATION_CHARS:
        return None
    verb = "are" if field == "notes" else "is"
    return f"{TEXT_FIELDS[field]} {verb} {length:,} characters long; the limit is {MAX_ANNOTATION_CHARS:,}"


def check_annotation(values: dict) -> None:
    """Raise AnnotationError naming the first field of `values` ({field: value}) that cannot be stored."""
    for field, value in values.items():
        problem = annotation_problem(field, value)
        if problem:
            raise AnnotationError(problem)
