"""Shared fixtures: a fresh store in a temporary folder."""

from __future__ import annotations

import pytest

from discovery.storage.store import Store


@pytest.fixture
def store(tmp_path):
    """An empty store in a new SQLite file, closed after the test."""
    with Store(tmp_path / "estate.db") as s:
        yield s
