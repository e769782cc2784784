"""Installed software on this machine, one collector per platform: dpkg, rpm, the Windows registry, macOS apps.

`get_*` functions talk to the source and return its output unparsed (they raise on failure);
`transform_*` functions are pure and turn that output into `Software` records.
Every collector is safe to import on every platform: the Windows and macOS sources are
only touched when `get_*` is called there.
"""

from __future__ import annotations

import glob
import os
import plistlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from discovery.records.model import Software

PACKAGE_TIMEOUT = 60  # seconds for a package manager to list what is installed

# Both tools expand the \t and \n escapes themselves.
DPKG_FORMAT = r"${Package}\t${Version}\t${Architecture}\t${Maintainer}\t${db:Status-Abbrev}\n"
RPM_FORMAT = r"%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\t%{VENDOR}\n"

WINDOWS_UNINSTALL_KEY = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
WINDOWS_VALUES = ("DisplayName", "DisplayVersion", "Publisher", "SystemComponent", "ParentKeyName")

MACOS_APP_DIRS = ("/Applications", "/Applications/Utilities", "~/Applications")
MACOS_PLIST_KEYS = ("CFBundleName", "CFBundleDisplayName", "CFBundleShortVersionString",
                    "CFBundleVersion", "CFBundleIdentifier")

_EMAIL = re.compile(r"\s*<[^>]*>\s*$")


# --- get: talk to the source, no parsing --------------------------------------------------

def get_dpkg_output(timeout: float = PACKAGE_TIMEOUT) -> str | None:
    """Return `dpkg-query -W` output, or None where dpkg-query is not installed; raises on failure."""
    tool = shutil.which("dpkg-query")
    if tool is None:
        return None
    return _run([tool, "-W", "-f", DPKG_FORMAT], timeout)


def get_rpm_output(timeout: float = PACKAGE_TIMEOUT) -> str | None:
    """Return `rpm -qa --queryformat` output, or None where rpm is not installed; raises on failure."""
    tool = shutil.which("rpm")
    if tool is None:
        return None
    return _run([tool, "-qa", "--queryformat", RPM_FORMAT], timeout)


def _run(argv: list[str], timeout: float) -> str:
    """Return the stdout of `argv`; raises OSError or subprocess errors (non-zero exit, timeout)."""
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                          check=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
    return done.stdout.decode("utf-8", errors="replace")


def get_windows_uninstall_entries() -> list[dict[str, Any]]:
    """Return the values of every Uninstall registry key (HKLM 64/32-bit views, HKCU), or [] off Windows."""
    if sys.platform != "win32":
        return []
    try:
        import winreg
    except ImportError:
        return []
    views = (
        (winreg.HKEY_LOCAL_MACHINE, "HKLM", winreg.KEY_WOW64_64KEY),
        (winreg.HKEY_LOCAL_MACHINE, "HKLM", winreg.KEY_WOW64_32KEY),
        (winreg.HKEY_CURRENT_USER, "HKCU", 0),
    )
    entries: list[dict[str, Any]] = []
    for hive, hive_name, view in views:
        try:
            parent = winreg.OpenKey(hive, WINDOWS_UNINSTALL_KEY, 0, winreg.KEY_READ | view)
        except OSError:
            continue
        with parent:
            index = 0
            while True:
                try:
                    subkey = winreg.EnumKey(parent, index)
                except OSError:
                    break
                index += 1
                entry: dict[str, Any] = {"hive": hive_name, "key": subkey}
                try:
                    with winreg.OpenKey(parent, subkey) as key:
                        for value in WINDOWS_VALUES:
                            try:
                                entry[value] = winreg.QueryValueEx(key, value)[0]
                            except OSError:
                                pass
                except OSError:
                    continue
                entries.append(entry)
    return entries


def get_macos_app_plists(dirs: Iterable[str] = MACOS_APP_DIRS) -> list[dict[str, Any]]:
    """Return the bundle keys of each `*.app/Contents/Info.plist` under `dirs`, or [] off macOS."""
    if sys.platform != "darwin":
        return []
    apps: list[dict[str, Any]] = []
    for directory in dirs:
        for info in sorted(glob.glob(os.path.join(os.path.expanduser(directory), "*.app",
                                                  "Contents", "Info.plist"))):
            try:
                with open(info, "rb") as f:
                    plist = plistlib.load(f)
            except (OSError, plistlib.InvalidFileException, ValueError):
                continue
            bundle = os.path.dirname(os.path.dirname(info))
            apps.append({"path": bundle, **{k: plist[k] for k in MACOS_PLIST_KEYS if k in plist}})
    return apps


# --- transform: pure ----------------------------------------------------------------------

def transform_dpkg(text: str, observed_at: datetime) -> tuple[list[Software], list[str]]:
    """Return (installed packages, unreadable lines) from `dpkg-query -W -f DPKG_FORMAT` output.

    A package is installed when the second letter of its status abbreviation is "i"
    ("ii", and "hi" for held packages); removed ("rc") and half-installed ones are left out.
    """
    records: list[Software] = []
    bad: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 5 or not fields[0] or len(fields[4].strip()) < 2:
            bad.append(line)
            continue
        name, version, arch, maintainer, status = fields
        if status.strip()[1] != "i":
            continue
        records.append(Software(
            name=name, version=version or None, architecture=arch or None,
            vendor=_EMAIL.sub("", maintainer).strip() or None,
            source="dpkg", observed_at=observed_at,
        ))
    return records, bad


def transform_rpm(text: str, observed_at: datetime) -> tuple[list[Software], list[str]]:
    """Return (installed packages, unreadable lines) from `rpm -qa --queryformat RPM_FORMAT` output."""
    records: list[Software] = []
    bad: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4 or not fields[0]:
            bad.append(line)
            continue
        name, version, arch, vendor = (_rpm_value(f) for f in fields)
        records.append(Software(name=name, version=version, architecture=arch, vendor=vendor,
                                source="rpm", observed_at=observed_at))
    return records, bad


def _rpm_value(value: str) -> str | None:
    """rpm prints "(none)" for an unset tag."""
    value = value.strip()
    return None if value in ("", "(none)") else value


def transform_windows_software(entries: Iterable[Mapping[str, Any]], observed_at: datetime) -> list[Software]:
    """Return one record per distinct (name, version, publisher) from Uninstall registry entries.

    Entries without a DisplayName, system components (SystemComponent=1) and updates that
    belong to another product (ParentKeyName) are not software a user installed.
    """
    records: list[Software] = []
    seen: set[tuple[str, str | None, str | None]] = set()
    for entry in entries:
        name = _text(entry.get("DisplayName"))
        if name is None or entry.get("SystemComponent") == 1 or _text(entry.get("ParentKeyName")):
            continue
        version, vendor = _text(entry.get("DisplayVersion")), _text(entry.get("Publisher"))
        if (name, version, vendor) in seen:
            continue
        seen.add((name, version, vendor))
        records.append(Software(name=name, version=version, vendor=vendor,
                                source="registry", observed_at=observed_at))
    return records


def transform_macos_apps(apps: Iterable[Mapping[str, Any]], observed_at: datetime) -> list[Software]:
    """Return one record per application bundle from its Info.plist keys (source "macos-app")."""
    records: list[Software] = []
    for app in apps:
        name = (_text(app.get("CFBundleDisplayName")) or _text(app.get("CFBundleName"))
                or _text(os.path.splitext(os.path.basename(app["path"]))[0]))
        if name is None:
            continue
        version = _text(app.get("CFBundleShortVersionString")) or _text(app.get("CFBundleVersion"))
        records.append(Software(name=name, version=version, source="macos-app", observed_at=observed_at))
    return records


def _text(value: Any) -> str | None:
    """Return `value` as stripped text, None when missing or blank."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None
