"""Fixtures of the journal's tests: a journal file in tmp_path, and a plain sqlite3
connection of the test's own that reads what another process would find on disk."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from plivo_numlink._journal import Journal

from ._journal_helpers import ACCOUNT, CAMPAIGN


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "job.journal"


@pytest.fixture
async def journal(journal_path: Path) -> AsyncIterator[Journal]:
    """A link journal of ACCOUNT and CAMPAIGN, closed after the test."""
    opened = await Journal.open(journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link")
    yield opened
    if not opened.closed:
        await opened.close()


@pytest.fixture
def on_disk(journal_path: Path) -> Callable[[], dict[str, int]]:
    """Read the committed rows (key -> final flag) with a connection of the test's own."""

    def read() -> dict[str, int]:
        connection = sqlite3.connect(journal_path)
        try:
            return dict(connection.execute("SELECT key, final FROM outcomes").fetchall())
        finally:
            connection.close()

    return read
