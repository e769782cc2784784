"""What `scan ssh --sudo` runs through sudo on a Linux host, and what a host without sudo rights loses.

A login that is not root sees every process (ps) but not which process owns another user's socket, nor the
root-only DMI files (serial number, UUID). PRIVILEGED lists the commands that need root: fixed argv, the same
on every host, so that a sudoers rule can allow exactly these and nothing else (sudoers_rule writes it; the
README shows it). Each runs as `sudo -n -- ARGV` (never asks), or, where sudo wants the user's password,
`sudo -S -p MARKER -- ARGV`: the password goes to sudo's standard input only after sudo printed the random
MARKER as its prompt, so it is never part of a command line. The transport (scanners.ssh_host) does the
talking; this module only says what to run and what the answers mean.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from scanners.host_facts import DMI_FILES
from scanners.linux_commands import MISSING, CommandResult, transform_dmi_output

DMI_DIR = "/sys/class/dmi/id"
ROOT_ONLY_DMI = ("product_serial", "product_uuid")  # mode 0400 root: what a plain login cannot read

# The privileged commands, by the inventory section they stand in for: program and arguments, nothing else.
# The paths are Debian's and Ubuntu's (RHEL keeps ss in /usr/sbin): the script runs the program the host's
# PATH finds (`command -v`) by its full path, which is what sudo compares with the rule.
PRIVILEGED: dict[str, tuple[str, ...]] = {
    "ss": ("/usr/bin/ss", "-tunapH"),
    "ss-tcp": ("/usr/bin/ss", "-tnapH"),            # --watch samples
    "netstat": ("/usr/bin/netstat", "-tunap"),      # where ss is missing
    "netstat-tcp": ("/usr/bin/netstat", "-tnap"),
    "dmi": ("/usr/bin/grep", "-Hs", ".", *(f"{DMI_DIR}/{name}" for name in DMI_FILES)),
}
SOCKET_SECTIONS = ("ss", "netstat")   # the socket tools a sudo rule covers (/proc/net's fallback is not)

_SUDO_SAYS = re.compile(r"^\s*sudo:|^Sorry, user |is not in the sudoers file|not allowed to execute|may not run sudo")
_SUDO_ESCAPES = str.maketrans({c: "\\" + c for c in ",:=\\"})


def sudoers_rule(user: str = "estatemap") -> str:
    """Return the least-privilege sudoers line that lets `user` run exactly the PRIVILEGED commands as root."""
    commands = ", ".join(" ".join(word.translate(_SUDO_ESCAPES) for word in argv) for argv in PRIVILEGED.values())
    return f"{user} ALL=(root) NOPASSWD: {commands}"


def new_prompt() -> str:
    """Return a random prompt for `sudo -p`: no output of the host can imitate one it has never seen."""
    return f"[estatemap-sudo-{secrets.token_hex(8)}]"


def sudo_script(name: str, prompt: str | None = None) -> str:
    """Return the script that runs PRIVILEGED[name] through sudo: non-interactive (`-n`), or, with `prompt`,
    reading the password from standard input after printing `prompt` (`-S -p`). Only fixed text."""
    program, *arguments = PRIVILEGED[name]
    program = program.rsplit("/", 1)[-1]
    if prompt is None:
        how = "-n"
    elif prompt.replace("[", "").replace("]", "").replace("-", "").isalnum():
        how = f'-S -p "{prompt}"'
    else:
        raise ValueError("a sudo prompt is letters, digits, - and brackets")
    return (f"command -v sudo >/dev/null || exit {MISSING}; "
            f'p=$(command -v {program}) || {{ echo "{program}: not found" >&2; exit 1; }}; '
            f'exec sudo {how} -- "$p" {" ".join(arguments)}')


@dataclass(frozen=True, slots=True)
class SudoAnswer:
    """What sudo said: `verdict` is "ok", "password" (it wants one), "refused" or "missing"; `reason` in words."""
    verdict: str
    reason: str | None = None


def transform_sudo_result(result: CommandResult) -> SudoAnswer:
    """Return whether a `sudo -n` (or `sudo -S`) run worked, wants a password, or was refused, and why."""
    if result.missing:
        return SudoAnswer("missing", "sudo is not installed")
    lines = [line.strip() for line in result.stderr.splitlines() if _SUDO_SAYS.search(line)]
    said = " ".join(lines).lower()
    if result.status == 0 and not lines:
        return SudoAnswer("ok")
    if "a password is required" in said or "a terminal is required" in said:
        return SudoAnswer("password", "sudo wants a password")
    if lines and result.status == 1:
        text = next((line for line in lines if "not allowed" in line or "not in the sudoers" in line
                     or "may not run" in line), lines[-1]).removeprefix("sudo:").strip()
        return SudoAnswer("refused", text[:200] or "sudo refused")
    return SudoAnswer("ok")  # sudo ran the command; its own exit status and output say how it went


def privileged_sections(outputs: Mapping[str, CommandResult]) -> list[str]:
    """Return the sections to run again through sudo: the DMI files (where the login could read some: a machine
    without DMI has none to read) and the socket tool the inventory used."""
    names = ["dmi"] if outputs.get("dmi") is not None and outputs["dmi"].stdout.strip() else []
    tool = next((name for name in ("ss", "netstat", "proc-net") if outputs.get(name) is not None
                 and outputs[name].ok), None)
    if tool in SOCKET_SECTIONS:
        names.append(tool)
    return names


def describe_lost(outputs: Mapping[str, CommandResult], unowned: int, socket_tool: str | None) -> str:
    """Return what a login without root could not collect, in words ("sockets of other users' processes: ...")."""
    lost = []
    if unowned:
        lost.append(f"sockets of other users' processes: their owning processes are unknown ({unowned} "
                    f"socket{'s' if unowned != 1 else ''})")
    elif socket_tool is None:
        lost.append("sockets: no socket table could be read")
    dmi = transform_dmi_output(outputs["dmi"].stdout) if "dmi" in outputs else {}
    unread = [name for name in ROOT_ONLY_DMI if not dmi.get(name)] if any(dmi.values()) else []
    if unread:
        lost.append(f"hardware {' and '.join(n.removeprefix('product_') for n in unread)} "
                    f"({', '.join(f'{DMI_DIR}/{n}' for n in unread)}: root only)")
    return "; ".join(lost) or "nothing"


def sudo_refused_warning(reason: str, user: str, lost: str) -> str:
    """Return the one warning of a host where sudo did not work: why, and exactly what was lost."""
    return f"--sudo: {reason}; collected what {user} can see. Lost: {lost}"

