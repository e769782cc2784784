"""Redaction of secrets in command lines and tool output, applied before anything is stored or exported.

Covered forms: `--password X` / `--password=X` (and token, secret, api key, ... flags),
`key=value` pairs whose key names a secret (also inside connection strings: `Password=x;`),
credentials in URLs (`scheme://user:secret@host`), HTTP authorization headers,
MySQL/MariaDB's attached `-pSECRET`, `redis-cli -a SECRET` and `sshpass -p SECRET`.
"""

from __future__ import annotations

import os
import re
import shlex

MASK = "REDACTED"

# Words that make a flag or a key name a secret ("db_password", "--client-secret", "PGPASSWORD").
_SECRET_WORD = r"(?:pass(?:wd|word|phrase)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?|auth|requirepass|masterauth)"
_SECRET_KEY = re.compile(rf"^[\w.-]*{_SECRET_WORD}[\w.-]*$", re.IGNORECASE)

# key=value (or key:value in JSON-ish text) where the key names a secret; the value ends at ; & , whitespace or a quote.
_KEY_VALUE = re.compile(
    rf"""(?P<key>[\w.-]*{_SECRET_WORD}[\w.-]*)(?P<sep>\s*[=:]\s*)(?P<quote>["']?)(?P<value>[^;&,\s"']+)""",
    re.IGNORECASE,
)
# scheme://user:password@host
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@", re.IGNORECASE)
# Authorization: Bearer xxx / Basic xxx, also "token xxx"
_AUTH_HEADER = re.compile(r"(?P<scheme>\b(?:bearer|basic|token|digest)\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)

_MYSQL_FAMILY = re.compile(r"^(mysql\w*|mariadb\w*|mysqldump|mysqladmin|mysqlimport|mysqlcheck)$")
# Flags whose next argument is a secret, for a given program (None: any program).
_NEXT_ARG_SECRET = {"redis-cli": {"-a"}, "sshpass": {"-p"}, "smbclient": {"-P"}}


def redact_text(text: str) -> str:
    """Return `text` with secret values in key=value pairs, URLs and auth headers masked."""
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['scheme']}{MASK}", text)
    return _KEY_VALUE.sub(lambda m: f"{m['key']}{m['sep']}{m['quote']}{MASK}", text)


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
