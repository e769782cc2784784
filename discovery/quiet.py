"""Libraries' deprecation warnings are for the people who write Estate Mapper, not for its users.

A library that warns about another library (asyncssh importing what cryptography deprecates) would
otherwise print lines of someone else's traceback before every `scan ssh`. The entry points (the CLI,
the desktop application through it, the stand-alone collector) call quiet_library_warnings() first.
"""

from __future__ import annotations

import importlib
import logging
import warnings

# Warnings raised from these modules are ours and always shown; everything else is a library.
OUR_MODULES = ("discovery", "scanners", "exports", "gui", "collector", "main", "__main__", "tests")
_LIBRARY = r"(?!(?:%s)(?:\.|$))" % "|".join(OUR_MODULES)

# Deprecation categories libraries use: Python's own, and those of libraries that define their own
# (imported only if installed: the stand-alone collector has none of them).
_CATEGORIES = ("builtins:DeprecationWarning", "builtins:PendingDeprecationWarning", "builtins:FutureWarning",
               "cryptography.utils:CryptographyDeprecationWarning")


def deprecation_categories() -> list[type[Warning]]:
    """Return the deprecation warning classes of Python and of the installed libraries that have their own."""
    found = []
    for name in _CATEGORIES:
        module, cls = name.split(":")
        try:
            found.append(getattr(importlib.import_module(module), cls))
        except (ImportError, AttributeError):
            continue
    return found


def quiet_library_warnings(verbose: int = 0) -> None:
    """Hide libraries' deprecation warnings; with `verbose`, log each one once instead (logger py.warnings).

    Only deprecation categories raised from modules that are not Estate Mapper's are affected: any
    other warning, and every warning of our own, is shown as Python would.
    """
    action = "default" if verbose else "ignore"
    for category in deprecation_categories():
        warnings.filterwarnings(action, category=category, module=_LIBRARY)
    if verbose:
        logging.captureWarnings(True)
