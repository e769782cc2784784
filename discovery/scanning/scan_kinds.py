"""What a scanner kind declares once, for the command line and the desktop application to read.

A kind (scanners/kinds/<name>.py) says its name and label, its options — each with its default, its
help and how a face asks for it — how to build its scanner from a dict of options, what of those
options a scan keeps, and how an interrupted scan of it continues. The registry (`ScanKinds`) is the
list of kinds: main.py builds `estatemap scan …` from it and hands it to the GUI, whose scan dialog
builds one form per kind from the same declarations. discovery/ declares the shapes only; the kinds,
which import scanner code, live in scanners/kinds/.

    KIND = ScannerKind(name="host", label="This host", doc=__doc__, options=WATCH, build=build)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from discovery.records.model import EstateError

# How an option is typed in: the CLI's argparse type and the GUI's widget follow from it.
OPTION_KINDS = ("text", "words", "int", "float", "bool", "choice", "path", "duration", "secret", "prompt")
FACES = frozenset({"cli", "gui"})


@dataclass(frozen=True, slots=True)
class Option:
    """One option of a scanner kind.

    `kind`: text (a line), words (targets: a list, or text split on spaces, commas and new lines), int, float,
    bool (a switch), choice (one of `choices`, (value, label) pairs), path (a file; `file_filter` for the GUI's
    Choose… button), duration (seconds, or text such as 5m), secret (typed hidden, never stored), prompt (a
    callable(message) -> str | None the face supplies to ask for a password mid-scan; never typed in).
    `flag` is the CLI's ("--max-rate"); without one the option is the command's positional argument.
    `faces`: where it is asked for (a CLI-only switch such as --yes, a GUI-only password field).
    """
    name: str
    help: str = ""
    kind: str = "text"
    default: Any = None
    flag: str | None = None
    metavar: str | None = None
    required: bool = False            # positional words: at least one (nargs "+"), else any number ("*")
    required_unless: str | None = None  # ...or at least one unless this other option is given (a usage error)
    choices: tuple[tuple[str, str], ...] = ()
    label: str | None = None          # the GUI form's row label; None: a check box carries `help`, or no row
    placeholder: str = ""
    minimum: float | None = None
    maximum: float | None = None
    suffix: str = ""
    file_filter: str = "All files (*)"
    start_folder: str | None = None   # where the GUI's Choose… opens when the field is empty ("~/.ssh")
    widget: str | None = None         # the GUI widget's attribute suffix when it is not `name`
    group: str | None = None          # options of one group exclude each other (CLI)
    faces: frozenset[str] = FACES

    def __post_init__(self):
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option {self.name}: unknown kind {self.kind!r}")

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(value for value, _label in self.choices)


def watch_options(every_help: str = "time between samples with --watch (default: 5m)") -> tuple[Option, Option]:
    """The watch pair every sampling kind shares: how long to keep sampling connections, and how often."""
    return (Option("watch", kind="duration", flag="--watch", metavar="DURATION",
                   help="keep sampling connections for DURATION (e.g. 1h) to catch jobs and feeds a snapshot misses"),
            Option("every", kind="duration", flag="--every", metavar="INTERVAL", help=every_help))


def password_options(*, secret_help: str, placeholder: str, label: str = "Password:",
                     ask: tuple[str, str] = ("--ask-password", "ask for the password on the terminal"),
                     stdin: tuple[str, str] = ("--password-stdin", "read the password from standard input"),
                     ) -> tuple[Option, Option, Option]:
    """How a kind is given its password: asked on the terminal or read from standard input (command line), or
    typed in a field (GUI); `ask` and `stdin` are (flag, help)."""
    return (Option("ask_password", kind="bool", flag=ask[0], group="secret", faces=frozenset({"cli"}), help=ask[1]),
            Option("password_stdin", kind="bool", flag=stdin[0], group="secret", faces=frozenset({"cli"}),
                   help=stdin[1]),
            Option("password", kind="secret", label=label, faces=frozenset({"gui"}), help=secret_help,
                   placeholder=placeholder))


def password_memory_options() -> tuple[Option, Option]:
    """Remember a password that logged in in the OS keyring, or forget the remembered ones."""
    return (Option("remember_password", kind="bool", flag="--remember-password", group="password memory",
                   widget="remember",
                   help="keep a password that logged in in the OS keyring (never a file) and use it next time "
                        "without asking"),
            Option("forget_password", kind="bool", flag="--forget-password", group="password memory",
                   faces=frozenset({"cli"}),
                   help="remove the passwords remembered for these hosts from the OS keyring, and scan nothing"))


class SecretNeeded(EstateError):
    """Building a scanner needs a secret nobody gave (an encrypted key's passphrase): a face that can ask puts
    the answer in option `option` and builds again; one that cannot says `unattended`."""

    def __init__(self, message: str, *, option: str, prompt: str, unattended: str):
        super().__init__(message)
        self.option, self.prompt, self.unattended = option, prompt, unattended


@dataclass(frozen=True, slots=True)
class ScannerKind:
    """A kind of scan: what `estatemap scan NAME` and the GUI's NAME tab are built from.

    `doc`: the CLI's help (first sentence: the summary in `scan --help`; all of it: `scan NAME --help`).
    `build(options)` returns the scanner (every declared option present, defaults filled in); it raises
    EstateError for anything typed wrong. `stored(options)` is what the scan keeps to continue later (never a
    secret). `resume`: "resume" continues in the same scan without what it finished, "rerun" runs it again as a
    new scan, None cannot. `remaining(plan)` returns the options that continue a discovery.service.ResumePlan
    (None: nothing is left to do) and `resume_note(plan, options)` says what it skips. `accounts(options)`
    names the keyring accounts --forget-password removes.
    `unit` and `noun` name what it counts (progress) and what can fail (the closing line)."""
    name: str
    label: str
    doc: str
    build: Callable[[dict], Any]
    options: tuple[Option, ...] = ()
    stored: Callable[[dict], dict] | None = None
    resume: str | None = None
    remaining: Callable[[Any], dict | None] | None = None
    accounts: Callable[[dict], list[str]] | None = None
    resume_note: Callable[[Any, dict | None], str] | None = None
    intro: str = ""                   # the GUI's words above (or below) the form
    password_prompt: str = "Password: "
    secret_lines: bool = False        # standard input may hold several secrets, one a line, tried in order
    unit: str = "step"
    noun: tuple[str, str] = ("host", "hosts")
    cli: bool = True                  # False: the CLI reaches it through a command of its own (import)
    gui: bool = True

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def options_for(self, face: str) -> tuple[Option, ...]:
        return tuple(o for o in self.options if face in o.faces)

    @property
    def summary(self) -> str:
        return summary_of(self.doc)


@dataclass(frozen=True)
class ScanKinds:
    """The registry: the kinds in the order both faces show them."""
    kinds: tuple[ScannerKind, ...]
    _by_name: dict[str, ScannerKind] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_name", {k.name: k for k in self.kinds})
        if len(self._by_name) != len(self.kinds):
            raise ValueError("two scanner kinds share a name")

    def __iter__(self) -> Iterator[ScannerKind]:
        return iter(self.kinds)

    def __getitem__(self, name: str) -> ScannerKind:
        try:
            return self._by_name[name]
        except KeyError:
            raise EstateError(f"unknown scan kind {name!r} (choose from {', '.join(self.names)})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def complete(self, name: str, options: dict) -> dict:
        """Return `options` for kind `name` with blanks as None and every declared option present (its default
        where it is None); raises TypeError for an option the kind does not declare."""
        kind = self[name]
        unknown = set(options) - {o.name for o in kind.options}
        if unknown:
            raise TypeError(f"unknown option(s) for a {name} scan: {', '.join(sorted(unknown))}")
        opts = {o.name: options.get(o.name) if o.kind == "secret" else _blank_to_none(options.get(o.name))
                for o in kind.options}  # a password is taken as typed, spaces and all
        return {name: kind.option(name).default if value is None or value == "" else value
                for name, value in opts.items()}

    def make_scanner(self, name: str, options: dict):
        """Return a scanner of kind `name` built from `options` (see ScannerKind.build). It carries
        `resume_options`, what run_scan stores on the scan so that either face can continue it."""
        kind = self[name]
        opts = self.complete(name, options)
        scanner = kind.build(opts)
        scanner.resume_options = kind.stored(opts) if kind.stored else None
        return scanner

    def stored_options(self, name: str, options: dict) -> dict | None:
        """Return what a scan of kind `name` built from `options` keeps to continue (never a secret)."""
        kind = self[name]
        return kind.stored(self.complete(name, options)) if kind.stored else None

    def resume_mode(self, name: str) -> str | None:
        return self._by_name[name].resume if name in self._by_name else None

    def resume_request(self, plan) -> tuple[str, dict | None]:
        """Return (kind, options) that continue `plan`; the options are None when nothing is left to do."""
        return plan.kind, self[plan.kind].remaining(plan)


def summary_of(doc: str) -> str:
    """A command's help summary: its doc's first sentence (up to a colon or full stop), as `--help` lists it."""
    first = " ".join(doc.strip().split("\n\n", 1)[0].split())
    return re.split(r"(?<=[\w)])[.:](?:\s|$)", first, maxsplit=1)[0]


def words(value) -> list[str]:
    """Return targets from a list, or from text split on commas, spaces and new lines."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, Iterable):
        raise EstateError(f"{value!r} is not a list of targets")
    return [str(v).strip() for v in value if str(v).strip()]


def number(value, name: str, kind: type):
    """Return `value` as `kind` (int, float); raises EstateError naming the option when it is not a number."""
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise EstateError(f"the {name} {value!r} is not a number") from None


def absolute_path(path) -> str | None:
    """Return `path` absolute (~ expanded), so a scan resumed from another folder finds the same file."""
    from pathlib import Path
    return str(Path(path).expanduser().absolute()) if path is not None else None


def _blank_to_none(value):
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value
