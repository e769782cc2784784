"""Reading architects' annotations back from an exported Excel workbook (`estatemap import estate.xlsx`).

The workbook is the one `estatemap export --format xlsx` wrote, filled in by people: on the Hosts sheet
Owner, Criticality, Patient data and Notes; on the Move groups sheet Wave; on the Wave rules sheet Value.
Rows are matched by their stable id (the Host ID, Group ID and Rule columns), never by name or position.

An input like any scanner's: this module reads the file and works out what it would change (reading the
store only to compare); discovery.service.apply_annotations writes it. The file is hostile input: it is read
by scanners.workbook_reader, within the limits stated there (a zip bomb is refused before anything is
inflated; only the Hosts, Move groups and Wave rules sheets are read, streamed; formulas are never evaluated,
a formula cell gives its cached value, and text that looks like a formula is just text). The whole file is
read and checked before anything is written, then everything is written in one transaction. Refused, with
nothing written (WorkbookError): a file that is not a workbook or breaks a limit, one without a Hosts sheet, a
Hosts sheet whose header row lacks Host ID, a Move groups sheet whose header lacks Group ID, a Wave rules
sheet whose header lacks Rule. Rows that cannot be used are reported and skipped, the rest imported: an
unknown or repeated id, or a bad value (criticality not critical/high/medium/low/blank; patient data not
yes/no/unknown/blank; an owner or notes longer than
discovery.records.annotations.MAX_ANNOTATION_CHARS; wave not a whole number >= 0).

What is written: for a host, only the annotation columns present on the sheet, and only when they differ
from the store (a blank cell clears the value). A cell that holds what the export wrote for the stored value
(discovery.records.cell_text.as_read_back) is that value, unchanged: the export replaces control and bidi
characters and XML turns carriage returns into line feeds, so an unedited workbook imports as "nothing
changed". Notes are taken as typed (surrounding spaces and line breaks kept; only spaces is blank); an
owner, criticality and patient data are trimmed, as the GUI's editor does.

For a group, a Wave that differs from both the analysis's wave and the override already stored becomes the
group's wave override (table group_annotations, which `estatemap analyze` does not touch); a blank Wave, or
the analysis's own wave, changes nothing.

On the Wave rules sheet, rows are matched by Rule (the rule's name: discovery.analyses.wave_rules.RULES); a
Value that differs from both the rule the last wave plan used and the rule in force becomes the rule in force
(table wave_rules), for the next `estatemap analyze` to plan with; a blank Value changes nothing. A value the
rule does not take (a capacity of "lots", a dependency order of "=cmd|...") is a problem for its row.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from discovery.analyses.wave_rules import RULE_BY_NAME, WaveRuleError, usable_rules
from discovery.records.annotations import annotation_problem
from discovery.records.cell_text import as_read_back
from discovery.records.model import CRITICALITIES, PATIENT_DATA
from scanners.workbook_reader import WorkbookError, read_sheets

SUFFIXES = (".xlsx", ".xlsm")
# Sheet header -> annotation field, on the Hosts sheet.
HOST_HEADERS = {"Owner": "owner", "Criticality": "criticality", "Patient data": "patient_data", "Notes": "notes"}
HOST_ID, GROUP_ID, WAVE = "Host ID", "Group ID", "Wave"
RULES_SHEET, RULE, VALUE = "Wave rules", "Rule", "Value"
# At most this many problems are listed by name; the rest are counted.
LIST_LIMIT = 20
# The largest wave taken: a number beyond it is a typo (1E+30 would not even fit in the store).
MAX_WAVE = 9999


def is_workbook_path(path: str | Path) -> bool:
    """Return True when `path` names an Excel workbook (by its suffix): `estatemap import` reads it here."""
    return Path(path).suffix.lower() in SUFFIXES


@dataclass
class WorkbookImport:
    """What one workbook would change, worked out before anything is written."""
    path: Path
    annotations: list[dict] = field(default_factory=list)    # host_id and the changed fields
    group_waves: dict[str, int] = field(default_factory=dict)  # group id -> wave override
    wave_rules: dict[str, object] = field(default_factory=dict)  # rule name -> its new value
    matched: int = 0                                          # host and group rows whose id is known and whose
                                                              # values are good
    problems: list[str] = field(default_factory=list)        # rows reported and skipped

    @property
    def changes(self) -> int:
        return len(self.annotations) + len(self.group_waves) + len(self.wave_rules)


def read_workbook(store, path: str | Path) -> WorkbookImport:
    """Read and check the workbook at `path` against `store`; return what importing it would change.

    Raises WorkbookError when the file cannot be used. Writes nothing.
    """
    path = Path(path)
    sheets = _read_sheets(path)
    result = WorkbookImport(path)
    host_ids = {h["id"] for h in store.hosts()}
    current = {a["host_id"]: a for a in store.rows("annotations")}
    header, rows = sheets["Hosts"]
    for number, host_id, values in _identified_rows("Hosts", "host id", HOST_ID, HOST_HEADERS, header, rows,
                                                    host_ids, result):
        old = current.get(host_id, {})
        try:
            wanted = {name: _host_value(name, values.get(h), old.get(name))
                      for h, name in HOST_HEADERS.items() if h in header}
        except ValueError as error:
            result.problems.append(f"Hosts row {number} ({host_id}): {error}")
            continue
        result.matched += 1
        changed = {name: v for name, v in wanted.items() if v != old.get(name)}
        if changed:
            result.annotations.append({"host_id": host_id, **changed})
    if "Move groups" in sheets:
        _read_groups(store, sheets["Move groups"], result)
    if RULES_SHEET in sheets:
        _read_rules(store, sheets[RULES_SHEET], result)
    return result


def _read_rules(store, sheet, result: WorkbookImport) -> None:
    header, rows = sheet
    in_force = usable_rules(store.wave_rules())[0].to_dict()
    latest = store.latest_analysis()
    used = ((latest or {}).get("summary") or {}).get("wave_plan", {}).get("rules") or {}
    for number, name, values in _identified_rows(RULES_SHEET, "wave rule", RULE, (VALUE,), header, rows,
                                                 RULE_BY_NAME, result):
        value = values.get(VALUE)
        if VALUE not in header or value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            value = RULE_BY_NAME[name].parse(value)
        except WaveRuleError as error:
            result.problems.append(f"{RULES_SHEET} row {number} ({name}): {error}")
            continue
        if value != in_force[name] and value != used.get(name, in_force[name]):
            result.wave_rules[name] = value


def _read_groups(store, sheet, result: WorkbookImport) -> None:
    header, rows = sheet
    computed = {g["id"]: g.get("wave") for g in store.rows("groups")}
    overrides = {a["group_id"]: a["wave"] for a in store.rows("group_annotations")}
    for number, group_id, values in _identified_rows("Move groups", "group id", GROUP_ID, (WAVE,), header, rows,
                                                     computed, result):
        try:
            wave = _wave(values.get(WAVE)) if WAVE in header else None
        except ValueError as error:
            result.problems.append(f"Move groups row {number} ({group_id}): {error}")
            continue
        result.matched += 1
        if wave is not None and wave != computed[group_id] and wave != overrides.get(group_id):
            result.group_waves[group_id] = wave


def _identified_rows(sheet: str, noun: str, id_header: str, filled: Iterable[str], header: Collection, rows: list,
                     known: Container[str], result: WorkbookImport) -> Iterator[tuple[int, str, dict]]:
    """Yield (row number, id, {header: value}) for each row whose id names a known host or group, once; a row
    with no id but a value under one of the `filled` headers, an unknown id or a repeated one is a problem."""
    seen: set[str] = set()
    for number, values in rows:
        row_id = _text(values.get(id_header))
        if row_id is None:
            if any(_text(values.get(h)) is not None for h in filled if h in header):
                result.problems.append(f"{sheet} row {number}: no {noun}")
        elif row_id not in known:
            result.problems.append(f"{sheet} row {number}: unknown {noun} {row_id!r}")
        elif row_id in seen:
            result.problems.append(f"{sheet} row {number}: {noun} {row_id!r} appears more than once")
        else:
            seen.add(row_id)
            yield number, row_id, values


def describe_problems(plan: WorkbookImport) -> str:
    """Return one line naming the rows that were skipped (the first LIST_LIMIT of them)."""
    listed = "; ".join(plan.problems[:LIST_LIMIT])
    more = len(plan.problems) - LIST_LIMIT
    return f"{len(plan.problems)} rows skipped: {listed}" + (f"; and {more} more" if more > 0 else "")


def _read_sheets(path: Path) -> dict[str, tuple[set, list]]:
    """Return {sheet: (headers, [(row number, {header: value})])} for Hosts, Move groups and Wave rules;
    raises WorkbookError."""
    sheets = read_sheets(path, {"Hosts": (HOST_ID, *HOST_HEADERS), "Move groups": (GROUP_ID, WAVE),
                                RULES_SHEET: (RULE, VALUE)})
    if "Hosts" not in sheets:
        raise WorkbookError(f"{path} has no Hosts sheet: import reads a workbook written by "
                            f"`estatemap export --format xlsx`")
    for title, id_header in (("Hosts", HOST_ID), ("Move groups", GROUP_ID), (RULES_SHEET, RULE)):
        if title in sheets and id_header not in sheets[title].headers:
            raise WorkbookError(f"{path}: the {title} sheet's header row has no {id_header} column")
    return {title: (sheet.headers, sheet.rows) for title, sheet in sheets.items()}


def _text(value) -> str | None:
    """Return a cell as stripped text (None when blank); numbers and dates as their text."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, (datetime, date)):
        text = value.isoformat()
    else:
        text = str(value)
    return text.strip() or None


def _host_value(name: str, value, stored):
    """Return the annotation `name` a cell holding `value` asks for (`stored` when the cell holds what the
    export wrote for it); raises ValueError naming what is wrong with it."""
    if stored is not None and _cell_text(value) == as_read_back(stored):
        return stored
    if name == "patient_data":
        if isinstance(value, bool):
            return "yes" if value else "no"
        text = _text(value)
        if text is not None and text.lower() not in PATIENT_DATA:
            raise ValueError(f"patient data {text[:40]!r} is not yes, no, unknown or blank")
        return text and text.lower()
    if name == "notes":
        text = value if isinstance(value, str) and value.strip() else _text(value)
    else:
        text = _text(value)
    if name == "criticality" and text is not None:
        if text.lower() not in CRITICALITIES:
            raise ValueError(f"criticality {text[:40]!r} is not critical, high, medium, low or blank")
        return text.lower()
    problem = annotation_problem(name, text)
    if problem:
        raise ValueError(problem)
    return text


def _cell_text(value) -> str | None:
    """Return a cell as the text it shows, untrimmed (None when empty)."""
    if isinstance(value, str):
        return value or None
    return _text(value)


def _wave(value) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"wave {value!r} is not a whole number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"wave {str(value)[:40]!r} is not a whole number >= 0")
    if value > MAX_WAVE:
        raise ValueError(f"wave {str(value)[:40]!r} is larger than {MAX_WAVE}")
    return value
