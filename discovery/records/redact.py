"""Redaction of secrets in command lines and tool output, applied before anything is stored or exported.

Per program, the documented options that carry a secret come from data: discovery/data/redaction.json names,
for curl, wget, the OpenLDAP clients, sqlcmd and bcp, the MySQL/MariaDB, PostgreSQL and MongoDB clients,
redis-cli, the Samba clients, sshpass, openssl and htpasswd, each option's spellings, how its value is given
(`-w pw`, `-wpw`, `--opt=pw`) and which part is secret (all of it, the password of `user:password` or
`user%password`, openssl's `pass:...`, an HTTP header's value, a positional argument), with the manual it comes
from. A program is recognised by its base name, also behind a wrapper (`sudo`, `env`, `timeout`, `sh -c ...`).
For every program: `--password X` / `--password=X` and any flag naming a secret (token, secret, api key, ...),
`-Dname=value` properties naming a secret, and `KEY=value` arguments whose key names one (`PGPASSWORD=x`).

Tool-independent forms, in argument lists and in free text (script output, `ps` listings, logs): `key=value`
pairs whose key names a secret (query parameters, connection strings' `Password=x;`, JSON's `"password": "x"`),
credentials in URLs of any scheme (`scheme://user:secret@host`, and a token as the user:
`https://ghp_...@github.com`), HTTP headers that carry credentials (`Authorization`, `Cookie`, `X-Api-Key`, ...:
the value goes, the name and an Authorization scheme stay), `Bearer`/`Basic` credentials, AWS access key ids
(`AKIA...`) and PEM private key blocks. `redact_report` applies them to everything a scanner hands on that holds
tool output.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import importlib.resources
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

MASK = "REDACTED"
RULES_RESOURCE = ("discovery", "data/redaction.json")  # package, path: found in an install and in the collector's zip

FORMS = frozenset({"separate", "attached", "equals"})
SECRET_PARTS = frozenset({"value", "header", "property"})
_OPTION_KEYS = frozenset({"names", "forms", "secret", "after", "prefix", "when_contains", "value_optional"})
_TOOL_KEYS = frozenset({"tool", "programs", "source", "options", "operand", "wraps_command"})
_OPERAND_KEYS = frozenset({"position", "when_flag", "options_with_values"})


class RedactionRulesError(ValueError):
    """The redaction rules file cannot be read or is malformed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionRule:
    names: tuple[str, ...]
    forms: frozenset[str]          # "separate" (-w pw), "attached" (-wpw), "equals" (--password=pw)
    secret: str = "value"          # "value", "header" (Name: value), "property" (name=value)
    after: str | None = None       # user:password -> keep up to ":", mask the rest
    prefix: str | None = None      # pass:password -> secret only with this prefix
    when_contains: str | None = None
    value_optional: bool = False   # the next argument is not the value when it starts with "-"


@dataclass(frozen=True, slots=True, kw_only=True)
class OperandRule:
    position: int | None           # 1-based; None: the last operand
    when_flag: str | None          # only when a short option bundle holds this letter (htpasswd -b)
    options_with_values: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolRules:
    """What one program's command line carries: its options by spelling, a secret operand, a wrapped command."""
    options: dict[str, OptionRule]
    operand: OperandRule | None = None
    wraps_command: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RedactionRules:
    by_program: dict[str, list[ToolRules]]        # exact program name -> the tool entries naming it
    by_glob: tuple[tuple[str, ToolRules], ...]    # ("mysql*", entry)
    any_program: dict[str, OptionRule]
    secret_words: tuple[str, ...]
    not_secret_options: tuple[str, ...]
    secret_headers: frozenset[str]                # lower case
    auth_schemes: frozenset[str]                  # lower case
    token_prefixes: tuple[str, ...]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _option_rules(raw: list, where: str) -> dict[str, OptionRule]:
    rules: dict[str, OptionRule] = {}
    for item in raw:
        _require(not set(item) - _OPTION_KEYS, f"{where}: unknown option keys {sorted(set(item) - _OPTION_KEYS)}")
        rule = OptionRule(names=tuple(item["names"]), forms=frozenset(item["forms"]), secret=item.get("secret", "value"),
                          after=item.get("after"), prefix=item.get("prefix"), when_contains=item.get("when_contains"),
                          value_optional=bool(item.get("value_optional", False)))
        _require(bool(rule.names) and all(isinstance(n, str) and n and n.strip() == n for n in rule.names),
                 f"{where}: option names must be non-empty strings: {item['names']!r}")
        _require(bool(rule.forms) and rule.forms <= FORMS,
                 f"{where} {rule.names}: forms must be among {sorted(FORMS)}: {item['forms']!r}")
        _require(rule.secret in SECRET_PARTS, f"{where} {rule.names}: secret must be one of {sorted(SECRET_PARTS)}")
        _require(sum(x is not None for x in (rule.after, rule.prefix, rule.when_contains)) <= (rule.secret == "value"),
                 f"{where} {rule.names}: at most one of after, prefix, when_contains, and only for a value")
        _require("attached" not in rule.forms or all(re.fullmatch(r"-[^-]", n) for n in rule.names),
                 f"{where} {rule.names}: only a short option (-x) takes an attached value")
        for name in rule.names:
            # OpenSSL-style single-dash long options are also taken with two dashes (--passin).
            for spelling in (name, "-" + name) if re.fullmatch(r"-[^-].+", name) else (name,):
                _require(spelling not in rules, f"{where}: option {spelling} is named twice")
                rules[spelling] = rule
    return rules


def _tool_entry(raw: dict) -> tuple[tuple[str, ...], ToolRules]:
    where = f"tool {raw.get('tool')!r}"
    _require(not set(raw) - _TOOL_KEYS, f"{where}: unknown keys {sorted(set(raw) - _TOOL_KEYS)}")
    _require(isinstance(raw["tool"], str) and bool(raw["tool"]), f"{where}: needs a name")
    _require(isinstance(raw["source"], str) and bool(raw["source"].strip()),
             f"{where}: needs a source (the manual its options come from)")
    programs = tuple(raw["programs"])
    _require(bool(programs) and all(isinstance(p, str) and p and p == p.lower() for p in programs),
             f"{where}: programs must be lower-case names: {programs!r}")
    operand = None
    if "operand" in raw:
        spec = raw["operand"]
        _require(not set(spec) - _OPERAND_KEYS, f"{where}: unknown operand keys {sorted(set(spec) - _OPERAND_KEYS)}")
        position, flag = spec["position"], spec.get("when_flag")
        _require(position == "last" or (isinstance(position, int) and position >= 1),
                 f"{where}: operand position must be a number from 1 or \"last\": {position!r}")
        _require(flag is None or bool(re.fullmatch(r"[A-Za-z]", flag)), f"{where}: when_flag must be one letter")
        operand = OperandRule(position=None if position == "last" else position, when_flag=flag,
                              options_with_values=frozenset(spec.get("options_with_values", ())))
    return programs, ToolRules(options=_option_rules(raw["options"], where), operand=operand,
                               wraps_command=bool(raw.get("wraps_command", False)))


def _build_rules(data: dict) -> RedactionRules:
    re.compile("|".join(data["secret_words"]))  # a malformed fragment fails here, not at the first redaction
    _require(isinstance(data["any_program"]["source"], str) and bool(data["any_program"]["source"]),
             "any_program: needs a source")
    by_program: dict[str, list[ToolRules]] = {}
    by_glob = []
    for programs, rules in map(_tool_entry, data["tools"]):
        for program in programs:
            if any(c in program for c in "*?["):
                by_glob.append((program, rules))
            else:
                by_program.setdefault(program, []).append(rules)
    return RedactionRules(
        by_program=by_program, by_glob=tuple(by_glob),
        any_program=_option_rules(data["any_program"]["options"], "any_program"),
        secret_words=tuple(data["secret_words"]), not_secret_options=tuple(p.lower() for p in data["not_secret_options"]),
        secret_headers=frozenset(h.lower() for h in data["secret_headers"]),
        auth_schemes=frozenset(s.lower() for s in data["auth_schemes"]),
        token_prefixes=tuple(data["token_prefixes"]))


def load_redaction_rules(text: str | None = None) -> RedactionRules:
    """Return the redaction rules parsed from `text` (default: the shipped discovery/data/redaction.json);
    raises RedactionRulesError when the file cannot be read or a rule is malformed."""
    package, path = RULES_RESOURCE
    try:
        if text is None:
            text = importlib.resources.files(package).joinpath(path).read_text(encoding="utf-8")
        return _build_rules(json.loads(text))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, re.error) as exc:
        raise RedactionRulesError(f"cannot read the redaction rules {package}/{path}: {exc}") from exc


RULES = load_redaction_rules()

# Words that make a flag, key or header name a secret ("db_password", "--client-secret", "PGPASSWORD").
_SECRET_WORD = "(?:" + "|".join(RULES.secret_words) + ")"
_SECRET_KEY = re.compile(rf"^[\w.-]*{_SECRET_WORD}[\w.-]*$", re.IGNORECASE)
# A value: quoted (to its closing quote; a backslash escapes, as in libpq conninfo and JSON) or bare.
_VALUE = r"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^;&,\s"']+)"""
# key=value (or key: value in JSON and YAML) where the key names a secret or is a cookie; the key may be quoted
# ("password": "x").
_KEY_VALUE = re.compile(
    rf"""(?P<key>(?:[\w.-]*{_SECRET_WORD}[\w.-]*|(?:set-)?cookie)["']?)(?P<sep>[ \t]*[=:][ \t]*)(?P<value>{_VALUE})""",
    re.IGNORECASE,
)
# scheme://userinfo@host: userinfo runs to the authority's last "@" (a raw "@" in a password stays inside it).
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/?#\s@]*(?:@[^/?#\s@]*)*)@(?=[^/?#\s@])",
                           re.IGNORECASE)
# A header that carries credentials, in text: its value runs to the closing quote when the header is quoted,
# else over its words while a word ends in ";" or "," (cookie lists, digest parameters), after a kept scheme.
_HEADER_NAMES = "|".join(re.escape(h) for h in sorted(RULES.secret_headers, key=len, reverse=True))
_AUTH_SCHEMES = "|".join(re.escape(s) for s in sorted(RULES.auth_schemes, key=len, reverse=True))
_HEADER = re.compile(
    rf"""(?P<quote>['"])?(?<![\w/-])(?P<name>{_HEADER_NAMES})(?P<sep>[ \t]*:[ \t]*)"""
    rf"""(?P<value>(?(quote)(?:(?!(?P=quote))[^\n])+|(?:(?:{_AUTH_SCHEMES})[ \t]+(?=\S))?\S+(?:(?<=[;,])[ \t]+\S+)*))""",
    re.IGNORECASE)
# Authorization: Bearer xxx / Basic xxx, also "token xxx"
# (not a challenge's parameters: "Basic realm=..." in a WWW-Authenticate header names no secret)
_AUTH_HEADER = re.compile(r"(?P<scheme>\b(?:bearer|basic|token|digest)\s+)(?!(?:realm|charset|nonce|qop|opaque|algorithm)=)"
                          r"(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)
# Headers that carry an authentication challenge (a scheme and a realm), never a credential.
_CHALLENGE_KEY = re.compile(r"^(?:www|proxy)-authenticate$", re.IGNORECASE)
# AWS access key ids (long-term AKIA..., temporary ASIA...).
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# PEM private keys (RSA, EC, DSA, OPENSSH, ENCRYPTED, PKCS#8): the body goes; cut-off blocks are masked to the end.
_PEM_PRIVATE = re.compile(
    r"(?P<begin>-----BEGIN (?P<kind>[A-Z0-9 ]*PRIVATE KEY)-----)(?P<body>.*?)(?:(?P<end>-----END (?P=kind)-----)|\Z)",
    re.DOTALL)
# A line worth reading as a command: it names a program with rules, or holds a flag naming a secret.
_PROGRAM_NAMES = "|".join(re.escape(p).replace(r"\*", r"[\w.+-]*")
                          for p in sorted({*RULES.by_program, *(glob for glob, _ in RULES.by_glob)}))
_COMMAND_HINT = re.compile(rf"(?<![\w-])(?:(?:{_PROGRAM_NAMES})(?:\.exe)?(?![\w-])|-[\w.-]*{_SECRET_WORD})",
                           re.IGNORECASE)
# One word of a command line in free text: quoted parts and bare characters up to unquoted whitespace.
_WORD = re.compile(r"""(?:"[^"\n]*"|'[^'\n]*'|[^\s"']+|["'])+""")
_ENV_ASSIGNMENT = re.compile(r"^(?P<key>[A-Za-z_][\w.-]*)=(?P<value>.+)$", re.DOTALL)
# A flag that names a secret by a word in it: its value is guessed to be the next argument (not another option).
_GUESSED = OptionRule(names=("*",), forms=frozenset({"separate", "equals"}), value_optional=True)


def _quoted(value: str) -> str:
    return value[0] if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0] else ""


def _is_secret_header(name: str) -> bool:
    name = name.strip("'\" ").lower()
    return name in RULES.secret_headers or (bool(_SECRET_KEY.match(name)) and not _CHALLENGE_KEY.match(name))


def _masked_header_value(value: str) -> str:
    """Return a credential header's value masked, an Authorization scheme kept ("Bearer REDACTED")."""
    scheme = re.match(r"(\S+)(\s+)\S", value)
    if scheme and scheme[1].lower() in RULES.auth_schemes:
        return f"{scheme[1]}{scheme[2]}{MASK}"
    return MASK


def _masked(value: str, rule: OptionRule) -> str | None:
    """Return an option's value with its secret part masked, or None when this value holds no secret."""
    quote = _quoted(value)
    inner = value[1:-1] if quote else value
    if rule.secret == "header":
        m = re.match(r"(?P<name>[\w-]+)(?P<sep>[ \t]*:[ \t]*)(?P<value>\S.*)", inner, re.DOTALL)
        masked = (f"{m['name']}{m['sep']}{_masked_header_value(m['value'])}"
                  if m and _is_secret_header(m["name"]) else None)
    elif rule.secret == "property":
        key, eq, rest = inner.partition("=")
        masked = f"{key}={MASK}" if eq and rest and _SECRET_KEY.match(key) else None
    elif rule.after is not None:
        head, sep, rest = inner.partition(rule.after)
        masked = f"{head}{sep}{MASK}" if sep and rest else None
    elif rule.prefix is not None:
        masked = f"{rule.prefix}{MASK}" if inner.startswith(rule.prefix) and inner != rule.prefix else None
    elif rule.when_contains is not None:
        masked = MASK if rule.when_contains in inner else None
    else:
        masked = MASK if inner else None
    return None if masked is None else f"{quote}{masked}{quote}"


@functools.lru_cache(maxsize=4096)
def _tool_rules(word: str) -> ToolRules | None:
    """Return the rules of the program `word` names (a path, quoted, with .exe, in any case), or None."""
    name = re.split(r"[\\/]", word.strip("'\""))[-1].lower().removesuffix(".exe")
    entries = RULES.by_program.get(name, []) + [rules for glob, rules in RULES.by_glob if fnmatch.fnmatchcase(name, glob)]
    if not name or not entries:
        return None
    return ToolRules(options={spelling: rule for rules in entries for spelling, rule in rules.options.items()},
                     operand=next((rules.operand for rules in entries if rules.operand), None),
                     wraps_command=any(rules.wraps_command for rules in entries))


def _match_option(word: str, options: dict[str, OptionRule]) -> tuple[OptionRule, str, str | None] | None:
    """Return (rule, what stays before the value, the value or None when it is the next word) for an option."""
    rule = options.get(word)
    if rule is not None and "separate" in rule.forms:
        return rule, word, None
    name, eq, value = word.partition("=")
    rule = options.get(name)
    if eq and rule is not None and "equals" in rule.forms:
        return rule, name + eq, value
    rule = options.get(word[:2])
    if len(word) > 2 and word[1] != "-" and rule is not None and "attached" in rule.forms:
        return rule, word[:2], word[2:]
    return None


def _guess_option(word: str) -> tuple[OptionRule, str, str | None] | None:
    """Return the same for a flag that names a secret by a word in it (--db-password, --requirepass)."""
    if not word.startswith("-") or word.startswith("---"):
        return None
    name, eq, value = word.partition("=")
    if not _SECRET_KEY.match(name.lstrip("-")) or any(fnmatch.fnmatchcase(name.lower(), p)
                                                      for p in RULES.not_secret_options):
        return None
    return (_GUESSED, name + eq, value) if eq else (_GUESSED, word, None)


def _is_option(word: str) -> bool:
    return word.startswith("-") and len(word) > 1


def _option_in(word: str, tool: ToolRules | None) -> tuple[OptionRule, str, str | None] | None:
    """Return how `word` carries a secret as an option of `tool` (or None): its own rules first; an option they name
    is theirs alone (mysql's `--password` without `=` prompts); then every program's options, then a guess."""
    options = tool.options if tool else {}
    match = _match_option(word, options)
    if match is not None or word in options or word.partition("=")[0] in options or not _is_option(word):
        return match
    return _match_option(word, RULES.any_program) or _guess_option(word)


def _is_header_name(value: str, rule: OptionRule) -> bool:
    """Whether a header option's value is only a credential header's name: `ps` split its value off (-H Cookie: x)."""
    return rule.secret == "header" and value.endswith(":") and _is_secret_header(value[:-1]) and " " not in value


def _masked_assignment(word: str) -> str | None:
    """Return `KEY=value` with the value masked when the key names a secret (env PGPASSWORD=x), else None."""
    m = _ENV_ASSIGNMENT.match(word)
    if m and _SECRET_KEY.match(m["key"]) and (_quoted(m["value"]) or not re.search(r"\s", m["value"])):
        return f"{m['key']}={MASK}"
    return None


def _redact_words(words: list[str], *, text: bool) -> list[str]:
    """Return a command's words with the secrets its programs' rules name masked. In an argument list (`text`
    false) every other word goes through redact_text; in free text the caller applies the text rules."""
    plain = (lambda word: word) if text else redact_text
    out = list(words)
    tool: ToolRules | None = None      # the program whose options these are (None: not known yet)
    pending: OptionRule | None = None  # the previous word takes this one as its value
    skip_value = False                 # the previous word takes this one as a value that is no secret
    operands: list[int] = []
    flags = ""                         # short option letters seen (htpasswd -b)
    options_done = False               # after "--"
    header = ""                        # in a header value `ps` split into words: "start", "credential", "more"
    for i, word in enumerate(words):
        if header:
            if header == "start" and word.lower() in RULES.auth_schemes:
                header = "credential"  # the scheme stays: Authorization: Bearer REDACTED
            else:
                out[i], header = MASK, "more" if word.endswith((";", ",")) else ""
            continue
        if pending is not None:
            rule, pending = pending, None
            if not (rule.value_optional and _is_option(word)):
                out[i] = _masked(word, rule) or plain(word)
                header = "start" if _is_header_name(word, rule) else ""
                continue
        if skip_value:
            skip_value = False
        elif tool is None and (found := _tool_rules(word)) is not None:
            tool, operands, flags, options_done = found, [], "", False
        elif not options_done and (match := _option_in(word, tool)):
            rule, kept, value = match
            if value is None:
                pending = rule
            else:
                out[i] = kept + (_masked(value, rule) or plain(value))
                header = "start" if _is_header_name(value, rule) else ""
            continue
        elif tool is None or (_is_option(word) and not options_done):
            if word == "--" and tool is not None:
                options_done = True
            elif tool is not None and tool.operand and word in tool.operand.options_with_values:
                skip_value = True
            elif re.fullmatch(r"-[A-Za-z]+", word):
                flags += word[1:]
        elif tool.wraps_command:  # options end here: the wrapped command (sshpass -p x ssh ...) has its own rules
            out[i:] = _redact_words(words[i:], text=text)
            break
        else:
            operands.append(i)
        out[i] = _masked_assignment(word) or plain(word)
    operand = tool.operand if tool else None
    if operand and operands and (operand.when_flag is None or operand.when_flag in flags):
        index = len(operands) - 1 if operand.position is None else operand.position - 1
        if index < len(operands):
            out[operands[index]] = MASK
    return out


def _redact_command_line_in_text(line: str) -> str:
    matches = list(_WORD.finditer(line))
    words = [m[0] for m in matches]
    redacted = _redact_words(words, text=True)
    if redacted == words:
        return line
    pieces, end = [], 0
    for m, word in zip(matches, redacted):
        pieces += [line[end:m.start()], word]
        end = m.end()
    return "".join(pieces) + line[end:]


def _mask_key_value(m: re.Match) -> str:
    key = m["key"].strip("'\"")
    value = m["value"]
    quote = _quoted(value)
    flag = key.startswith("-") and (m.start() == 0 or m.string[m.start() - 1] in " \t\n'\"")
    if _CHALLENGE_KEY.match(key) or flag or re.match(rf"{MASK}(?:@|$)", value.strip("'\"")):
        return m[0]  # a challenge; a flag (the command rules read it); or masked already (x-access-token:REDACTED@)
    if key.lower() in RULES.secret_headers and value.lower() in RULES.auth_schemes:
        return m[0]  # "Authorization: Bearer xxx": the header rule masks the credential and keeps the scheme
    return f"{m['key']}{m['sep']}{quote}{MASK}{quote}"


def _mask_header(m: re.Match) -> str:
    value, closing = m["value"], ""
    if not m["quote"] and value[-1] in "'\"":
        value, closing = value[:-1], value[-1]  # a quote that closes a word around the header ('--header=...')
    return f"{m['quote'] or ''}{m['name']}{m['sep']}{_masked_header_value(value)}{closing}"


def _mask_userinfo(m: re.Match) -> str:
    user, colon, _password = m["userinfo"].partition(":")
    if colon:
        return f"{m['scheme']}{user}:{MASK}@"
    if m["userinfo"].startswith(RULES.token_prefixes) or len(m["userinfo"]) >= 32:
        return f"{m['scheme']}{MASK}@"  # a token as the user: https://ghp_xxx@github.com/
    return m[0]


def _mask_pem(m: re.Match) -> str:
    end = m["end"] or f"-----END {m['kind']}-----"
    return f"{m['begin']}\n{MASK}\n{end}"


def redact_text(text: str) -> str:
    """Return `text` with secrets masked: programs' password options and secret flags on any line that reads as a
    command, key=value pairs, URL credentials, credential headers, AWS key ids and private key blocks."""
    if not text:
        return text
    text = _PEM_PRIVATE.sub(_mask_pem, text)
    if _COMMAND_HINT.search(text):
        text = "".join(_redact_command_line_in_text(line) if _COMMAND_HINT.search(line) else line
                       for line in text.splitlines(keepends=True))
    text = _HEADER.sub(_mask_header, text)
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['scheme']}{MASK}", text)
    text = _AWS_KEY_ID.sub(MASK, text)
    return _KEY_VALUE.sub(_mask_key_value, text)


def redact_args(args: list[str] | tuple[str, ...]) -> list[str]:
    """Return a copy of a command's argument list with every secret replaced by MASK."""
    if not args:
        return []
    return _redact_words(list(args), text=False)


def redact_command_line(cmdline: str | None) -> str | None:
    """Return a command line with its secrets masked; None stays None. A line as shlex.join writes it (scan host's
    psutil argv) is split into its arguments; any other (a remote `ps` line, unquoted; a typed one) is read as text,
    which takes backslashes and quotes as they stand."""
    if cmdline is None:
        return None
    try:
        args = shlex.split(cmdline)
    except ValueError:  # unbalanced quotes
        args = None
    if args is None or shlex.join(args) != cmdline:
        return redact_text(cmdline)
    redacted = redact_args(args)
    return cmdline if redacted == args else shlex.join(redacted)


def redact_data(value: Any) -> Any:
    """Return structured tool output (NSE script tables: dicts, lists, strings) with every string redacted."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_data(item) for item in value)
    return value


def _redact_scripts(scripts: tuple) -> tuple:
    return tuple(dataclasses.replace(s, output=redact_text(s.output) if s.output else s.output, data=redact_data(s.data))
                 for s in scripts)


def redact_report(report):
    """Return a HostReport with every text that holds tool output redacted: process command lines, raw
    evidence, NSE script output of the host and its services, and service fingerprints."""
    host = report.host
    return dataclasses.replace(
        report,
        host=dataclasses.replace(host, scripts=_redact_scripts(host.scripts)) if host.scripts else host,
        processes=tuple(dataclasses.replace(p, cmdline=redact_command_line(p.cmdline)) for p in report.processes),
        services=tuple(dataclasses.replace(s, scripts=_redact_scripts(s.scripts),
                                           fingerprint=redact_text(s.fingerprint) if s.fingerprint else s.fingerprint)
                       for s in report.services),
        raw={name: redact_text(text) for name, text in report.raw.items()},
    )
