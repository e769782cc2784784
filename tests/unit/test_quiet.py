"""Libraries' deprecation warnings are hidden at the entry points, shown with -v, and ours are never hidden."""

from __future__ import annotations

import logging
import warnings

import pytest

from discovery.quiet import quiet_library_warnings


def warn_from(module: str, category: type[Warning], text: str) -> None:
    """Raise a warning as if module `module` had raised it (what the filters match on)."""
    warnings.warn_explicit(text, category, filename=f"/site-packages/{module.replace('.', '/')}.py", lineno=1,
                           module=module, registry={})


@pytest.fixture
def filters():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # start from Python showing everything
        yield caught
    logging.captureWarnings(False)


@pytest.mark.parametrize("module", ["asyncssh.crypto.dsa", "cryptography.hazmat", "openpyxl", "PySide6.QtCore"])
def test_a_library_deprecation_warning_is_hidden(filters, module):
    quiet_library_warnings(0)
    warn_from(module, DeprecationWarning, "DSA is deprecated")
    warn_from(module, FutureWarning, "will change")
    assert filters == []


def test_cryptography_s_own_deprecation_category_is_hidden(filters):
    from cryptography.utils import CryptographyDeprecationWarning
    quiet_library_warnings(0)
    warn_from("asyncssh.crypto.dsa", CryptographyDeprecationWarning, "DSA will be removed")
    assert filters == []


@pytest.mark.parametrize("module", ["discovery.storage.store", "scanners.ssh_host", "main", "gui.app",
                                    "collector.__main__"])
def test_our_own_deprecation_warnings_are_still_shown(filters, module):
    quiet_library_warnings(0)
    warn_from(module, DeprecationWarning, "ours")
    assert [str(w.message) for w in filters] == ["ours"]


def test_other_warning_categories_of_libraries_are_still_shown(filters):
    quiet_library_warnings(0)
    warn_from("asyncssh.connection", RuntimeWarning, "coroutine was never awaited")
    assert [w.category for w in filters] == [RuntimeWarning]


def test_a_module_whose_name_only_starts_like_ours_is_a_library(filters):
    quiet_library_warnings(0)
    warn_from("discoveryx.thing", DeprecationWarning, "theirs")
    warn_from("mainframe", DeprecationWarning, "theirs")
    assert filters == []


def test_with_verbose_a_library_warning_is_logged_once_not_hidden(filters, caplog):
    quiet_library_warnings(1)
    with caplog.at_level(logging.WARNING, logger="py.warnings"):
        for _ in range(3):
            warnings.warn_explicit("DSA is deprecated", DeprecationWarning, filename="/x/asyncssh/dsa.py",
                                   lineno=7, module="asyncssh.crypto.dsa", registry=REGISTRY)
    assert [r.name for r in caplog.records] == ["py.warnings"]
    assert "DSA is deprecated" in caplog.records[0].getMessage()


REGISTRY: dict = {}
