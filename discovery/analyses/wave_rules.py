"""The wave planner's rules, declared once: each rule's name, label, default, help and the values it takes.
The command line (`estatemap analyze --wave-capacity …`), the GUI's Move groups form, the workbook's Wave rules
sheet and the store (table wave_rules) all read these declarations; discovery.analyses.wave_plan says what
the planner does with each rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from discovery.records.model import EstateError

DEPENDENCY_ORDERS = ("server-first", "together")
CAPACITY_UNITS = ("hosts", "groups")
TRUE_WORDS, FALSE_WORDS = ("yes", "true", "on", "1"), ("no", "false", "off", "0")


class WaveRuleError(EstateError):
    """A wave rule that cannot be used as given (unknown name, bad value)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveRule:
    """One rule the architects can change: its name (the store's key, the workbook's Rule cell; the CLI's
    flag is --name-with-dashes), label, default, one-line help, and the values it takes."""
    name: str
    label: str
    default: int | str | bool
    help: str
    choices: tuple[str, ...] = ()
    minimum: int = 0
    maximum: int = 1_000_000

    @property
    def kind(self) -> str:
        """"bool", "choice" or "int"."""
        return "bool" if isinstance(self.default, bool) else "choice" if self.choices else "int"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def allowed(self) -> str:
        """Return the values it takes, as a user reads them ("hosts or groups", "0 to 100", "yes or no")."""
        if self.kind == "bool":
            return "yes or no"
        if self.kind == "choice":
            return " or ".join(self.choices)
        return f"a whole number from {self.minimum} to {self.maximum:,}"

    def text(self, value) -> str:
        """Return a value as it is typed (yes/no for a switch)."""
        return ("yes" if value else "no") if self.kind == "bool" else str(value)

    def parse(self, value) -> int | str | bool:
        """Return `value` (typed, or text from a workbook cell or a form) as this rule's value; raises
        WaveRuleError naming the rule and what it takes."""
        shown = str(value).strip()[:40]
        problem = WaveRuleError(f"wave rule {self.name}: {shown!r} is not {self.allowed()}")
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower() if isinstance(value, (str, int)) else None
            if word in TRUE_WORDS or word in FALSE_WORDS:
                return word in TRUE_WORDS
            raise problem
        if self.kind == "choice":
            word = value.strip().lower() if isinstance(value, str) else None
            if word not in self.choices:
                raise problem
            return word
        if isinstance(value, bool):
            raise problem
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or not self.minimum <= value <= self.maximum:
            raise problem
        return value


RULES = (
    WaveRule(name="wave_capacity", label="Wave capacity", default=50, maximum=1_000_000,
             help="at most this many hosts (or groups: see capacity_unit) move in one wave; 0: no limit. A group "
                  "larger than it has a wave to itself"),
    WaveRule(name="capacity_unit", label="Capacity counts", default="hosts", choices=CAPACITY_UNITS,
             help="what the wave capacity counts: hosts or move groups"),
    WaveRule(name="pilot_groups", label="Pilot groups", default=2, maximum=10_000,
             help="how many groups the pilot (wave 1) takes: the lowest-risk groups with no patient data, "
                  "criticality low or unset, no end-of-life system and no dependency on another group; 0: no pilot"),
    WaveRule(name="pilot_max_risk", label="Pilot maximum risk", default=30, maximum=100,
             help="a pilot group's hosts all have a migration risk (0-100) at most this"),
    WaveRule(name="dependency_order", label="Dependency order", default="server-first", choices=DEPENDENCY_ORDERS,
             help="a group that uses another group's service (shared infrastructure aside) moves in a later wave "
                  "than it (server-first) or in the same wave (together)"),
    WaveRule(name="remediation_waves", label="Remediation waves", default=1, maximum=100,
             help="a group holding an end-of-life system moves at least this many waves after the first regular "
                  "wave, leaving time to upgrade it first; 0: no time set aside"),
    WaveRule(name="separate_tiers", label="Separate tiers", default=True,
             help="groups of different tiers (criticality low, medium, high, critical; patient data makes a group "
                  "at least high) never share a wave, so waves climb from the least to the most critical"),
)
RULE_BY_NAME = {rule.name: rule for rule in RULES}
DEFAULTS = {rule.name: rule.default for rule in RULES}


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveRules:
    """The rules one plan follows (RULES says what each means)."""
    wave_capacity: int = DEFAULTS["wave_capacity"]
    capacity_unit: str = DEFAULTS["capacity_unit"]
    pilot_groups: int = DEFAULTS["pilot_groups"]
    pilot_max_risk: int = DEFAULTS["pilot_max_risk"]
    dependency_order: str = DEFAULTS["dependency_order"]
    remediation_waves: int = DEFAULTS["remediation_waves"]
    separate_tiers: bool = DEFAULTS["separate_tiers"]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def rules_from(values: Mapping[str, object] | None = None) -> WaveRules:
    """Return the rules `values` ({rule name: value}; a rule left out or None takes its default) ask for;
    raises WaveRuleError for an unknown rule or a bad value."""
    chosen = {}
    for name, value in (values or {}).items():
        rule = RULE_BY_NAME.get(name)
        if rule is None:
            raise WaveRuleError(f"no wave rule called {str(name)[:40]!r} (the rules: {', '.join(RULE_BY_NAME)})")
        if value is not None:
            chosen[name] = rule.parse(value)
    return WaveRules(**chosen)


def usable_rules(stored: Mapping[str, object]) -> tuple[WaveRules, list[str]]:
    """Return the rules `stored` (the store's {name: value}) ask for, leaving out any this version cannot
    use (an unknown rule, a bad value: the default stands in), and why each was left out."""
    usable, problems = {}, []
    for name, value in stored.items():
        try:
            rules_from({name: value})
        except WaveRuleError as error:
            problems.append(str(error))
            continue
        usable[name] = value
    return rules_from(usable), problems
