"""Pins on the journal's file that a mutation sample found unpinned (issue 18): the SQLite
application id that marks a file as a journal, and a write that fails inside its
transaction (rolled back, so that a later flush writes the outcomes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from plivo_numlink._journal import Journal, JournalError

from ._journal_helpers import ACCOUNT, CAMPAIGN, number, outcome

OnDisk = Callable[[], dict[str, int]]


async def test_a_journal_file_is_marked_pnlj_in_sqlite_s_application_id(
    journal: Journal, journal_path: Path
) -> None:
    await journal.close()
    # The SQLite header's "application id" field: 4 big-endian bytes at offset 68. Journals
    # made by older versions carry it; changing it would make them unreadable.
    assert journal_path.read_bytes()[68:72] == b"PNLJ"
    connection = sqlite3.connect(journal_path)
    try:
        assert connection.execute("PRAGMA application_id").fetchone()[0] == 0x504E4C4A
    finally:
        connection.close()


async def test_a_file_marked_pnlj_by_an_older_version_is_opened_as_a_journal(
    journal: Journal, journal_path: Path
) -> None:
    journal.record(outcome(1))
    await journal.close()
    again = await Journal.open(journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link")
    try:
        assert set(await again.final_outcomes([number(1)])) == {number(1)}
    finally:
        await again.close()


async def refuse_writes_while_gated(journal: Journal) -> None:
    """Make every insert fail inside the journal's transaction (a trigger's ABORT leaves the
    transaction open) while the table ``gate`` has a row; on the journal's own connection."""
    script = """
        CREATE TABLE gate (closed INTEGER);
        INSERT INTO gate VALUES (1);
        CREATE TRIGGER refuse BEFORE INSERT ON outcomes WHEN EXISTS (SELECT 1 FROM gate)
        BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;
    """
    await journal._run(journal._store.connection.executescript, script)


async def open_the_gate(journal: Journal) -> None:
    await journal._run(journal._store.connection.execute, "DELETE FROM gate")


async def test_a_later_flush_writes_the_outcomes_of_a_write_that_failed_mid_transaction(
    journal: Journal, on_disk: OnDisk
) -> None:
    await refuse_writes_while_gated(journal)
    journal.record([outcome(1), outcome(2)])
    with pytest.raises(JournalError, match="refused by the test"):
        await journal.flush()
    with pytest.raises(JournalError):
        journal.record(outcome(3))
    await open_the_gate(journal)
    await journal.flush()
    journal.record(outcome(3))
    await journal.flush()
    assert on_disk() == {number(1): 1, number(2): 1, number(3): 1}


def test_closing_a_journal_store_closes_its_sqlite_connection(journal_path: Path) -> None:
    from plivo_numlink._journal_store import JournalHeader, JournalStore

    header = JournalHeader(account=ACCOUNT, campaign_id=CAMPAIGN, action="link", created="x")
    store = JournalStore.open(journal_path, header)
    store.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        store.connection.execute("SELECT 1")
