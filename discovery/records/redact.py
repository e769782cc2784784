"""Redaction of secrets in command lines and tool output, applied before anything is stored or exported.

Covered forms, in argument lists and in free text (script output, `ps` listings, logs):
`--password X` / `--password=X` (and token, secret, api key, ... flags), `key=value` pairs whose key names a
secret (environment variables such as `PGPASSWORD=x` and `MYSQL_PWD=x`, query parameters such as `api_key=`,
`token=`, `secret=`, connection strings' `Password=x;`, JSON's `"password": "x"`), credentials in URLs
(`scheme://user:secret@host`), HTTP authorization headers (`Bearer`, `Basic`, ...), AWS access key ids
(`AKIA...`), PEM private key blocks, MySQL/MariaDB's attached `-pSECRET`, `redis-cli -a SECRET` and
`sshpass -p SECRET`. `redact_report` applies them to everything a scanner hands on that holds tool output.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from typing import Any

MASK = "REDACTED"

# Words that make a flag or a key name a secret ("db_password", "--client-secret", "PGPASSWORD").
_SECRET_WORD = r"(?:pass(?:wd|word|phrase)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?|auth|requirepass|masterauth)"
_SECRET_KEY = re.compile(rf"^[\w.-]*{_SECRET_WORD}[\w.-]*$", re.IGNORECASE)
# A value: quoted (to its closing quote) or bare (to ; & , whitespace or a quote).
_VALUE = r"""(?:"[^"\n]*"|'[^'\n]*'|[^;&,\s"']+)"""

# key=value (or key: value in JSON and YAML) where the key names a secret; the key may be quoted ("password": "x").
_KEY_VALUE = re.compile(
    rf"""(?P<key>[\w.-]*{_SECRET_WORD}[\w.-]*["']?)(?P<sep>[ \t]*[=:][ \t]*)(?P<value>{_VALUE})""",
    re.IGNORECASE,
)
# --password X / -password X in free text: a flag naming a secret, whitespace, then a value that is not a flag.
_FLAG_VALUE = re.compile(
    rf"""(?<![\w-])(?P<flag>--?(?=[A-Za-z])[\w.-]*{_SECRET_WORD}[\w.-]*)(?P<sep>[ \t]+)(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s"'-]\S*)""",
    re.IGNORECASE,
)
# scheme://user:password@host
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@", re.IGNORECASE)
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

_MYSQL_FAMILY = re.compile(r"^(mysql\w*|mariadb\w*|mysqldump|mysqladmin|mysqlimport|mysqlcheck)$")
# Flags whose next argument is a secret, for a given program (None: any program).
_NEXT_ARG_SECRET = {"redis-cli": {"-a"}, "sshpass": {"-p"}, "smbclient": {"-P"}}
# The same in free text: on a line naming the program, the flag's value (separate or, for -p, attached).
_LINE_RULES = (
    (re.compile(r"(?<![\w-])(?:mysql\w*|mariadb\w*)(?![\w-])"), re.compile(r"(?<=\s)(?P<flag>-p)(?P<sep>)(?P<value>[^\s-]\S*)")),
    (re.compile(r"(?<![\w-])redis-cli(?![\w-])"), re.compile(r"(?<=\s)(?P<flag>-a)(?P<sep>\s+)(?P<value>\S+)")),
    (re.compile(r"(?<![\w-])sshpass(?![\w-])"), re.compile(r"(?<=\s)(?P<flag>-p)(?P<sep>\s*)(?P<value>\S+)")),
    (re.compile(r"(?<![\w-])smbclient(?![\w-])"), re.compile(r"(?<=\s)(?P<flag>-P)(?P<sep>\s+)(?P<value>\S+)")),
)


def _mask_value(m: re.Match) -> str:
    if "key" in m.groupdict() and _CHALLENGE_KEY.match(m["key"]):
        return m[0]
    value = m["value"]
    quote = value[0] if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) > 1 else ""
    return f"{m['flag'] if 'flag' in m.groupdict() else m['key']}{m['sep']}{quote}{MASK}{quote}"


def _mask_line(line: str) -> str:
    for program, rule in _LINE_RULES:
        if program.search(line):
            line = rule.sub(_mask_value, line)
    return line


def _mask_pem(m: re.Match) -> str:
    end = m["end"] or f"-----END {m['kind']}-----"
    return f"{m['begin']}\n{MASK}\n{end}"


def redact_text(text: str) -> str:
    """Return `text` with secrets masked: key=value pairs, secret flags and their values, program-specific
    password options, URL credentials, authorization headers, AWS key ids and private key blocks."""
    if not text:
        return text
    text = _PEM_PRIVATE.sub(_mask_pem, text)
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['scheme']}{MASK}", text)
    text = _AWS_KEY_ID.sub(MASK, text)
    if any(program.search(text) for program, _ in _LINE_RULES):
        text = "".join(_mask_line(line) for line in text.splitlines(keepends=True))
    text = _FLAG_VALUE.sub(_mask_value, text)
    return _KEY_VALUE.sub(_mask_value, text)


def _is_secret_flag(arg: str) -> bool:
    if not arg.startswith("-") or arg.startswith("---"):
        return False
    return bool(_SECRET_KEY.match(arg.lstrip("-")))


def redact_args(args: list[str] | tuple[str, ...]) -> list[str]:
    """Return a copy of a command's argument list with every secret replaced by MASK."""
    if not args:
        return []
    program = os.path.basename(args[0])
    next_secret = _NEXT_ARG_SECRET.get(program, set())
    out: list[str] = [redact_text(args[0])]
    mask_next = False
    for arg in args[1:]:
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        flag, eq, _value = arg.partition("=")
        if _MYSQL_FAMILY.match(program) and arg.startswith("-p") and len(arg) > 2:
            out.append(f"-p{MASK}")  # mysql's password, attached: -pSECRET
        elif program == "sshpass" and arg.startswith("-p") and len(arg) > 2:
            out.append(f"-p{MASK}")  # sshpass -pSECRET
        elif _is_secret_flag(flag) and eq:
            out.append(f"{flag}={MASK}")
        elif _is_secret_flag(arg) or arg in next_secret:
            out.append(arg)
            mask_next = True
        else:
            out.append(redact_text(arg))
    return out


def redact_command_line(cmdline: str | None) -> str | None:
    """Return a command line (one string, shell-quoted) with its secrets masked; None stays None."""
    if cmdline is None:
        return None
    try:
        args = shlex.split(cmdline)
    except ValueError:  # unbalanced quotes: fall back to the text rules alone
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
