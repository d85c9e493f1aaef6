"""Faults: a disk that fills up, a journal file removed under a running job, and a process
killed with SIGKILL. Outcomes are never dropped silently, and whatever was committed
before a kill is there afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from plivo_numlink import PlivoError
from plivo_numlink._journal import Journal, JournalError

from ._journal_helpers import ACCOUNT, CAMPAIGN, number, outcome

OnDisk = Callable[[], dict[str, int]]


async def fill_the_disk(journal: Journal) -> None:
    """Let the database grow no further: SQLite's own "database or disk is full" error."""
    connection = journal._store.connection
    pages = (await journal._run(connection.execute, "PRAGMA page_count")).fetchone()[0]
    await journal._run(connection.execute, f"PRAGMA max_page_count = {pages}")


async def free_the_disk(journal: Journal) -> None:
    await journal._run(journal._store.connection.execute, "PRAGMA max_page_count = 1073741823")


async def test_a_full_disk_raises_on_flush_and_keeps_the_outcomes(
    journal: Journal, on_disk: OnDisk
) -> None:
    await fill_the_disk(journal)
    journal.record(outcome(i) for i in range(2_000))
    with pytest.raises(JournalError, match="full") as caught:
        await journal.flush()
    assert isinstance(caught.value, PlivoError)
    assert "2000 outcomes not written yet" in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    assert on_disk() == {}
    # Nothing is lost: the outcomes are still found, and written once there is room.
    assert len(await journal.final_outcomes([number(i) for i in range(2_000)])) == 2_000
    await free_the_disk(journal)
    await journal.flush()
    assert len(on_disk()) == 2_000


async def test_after_a_failed_write_record_raises_until_a_flush_succeeds(
    journal_path: Path, on_disk: OnDisk
) -> None:
    journal = await Journal.open(
        journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link", flush_interval=0.01
    )
    await fill_the_disk(journal)
    journal.record(outcome(i) for i in range(2_000))
    for _ in range(500):  # the timed commit fails in the background
        if journal._failure is not None:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(JournalError, match=r"cannot write journal job\.journal"):
        journal.record(outcome(5_000))
    await free_the_disk(journal)
    await journal.flush()
    journal.record(outcome(5_000))
    await journal.close()
    assert len(on_disk()) == 2_001


async def test_close_raises_when_outcomes_cannot_be_written(
    journal: Journal, journal_path: Path
) -> None:
    await fill_the_disk(journal)
    journal.record(outcome(i) for i in range(2_000))
    with pytest.raises(JournalError, match="2000 outcomes not written yet"):
        await journal.close()
    assert journal.closed
    await journal.close()  # a second close is quiet
    reopened = await Journal.open(
        journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link"
    )
    assert (await reopened.stats()).entries == 0  # the failed commit left no partial batch
    await reopened.close()


async def test_a_removed_journal_file_raises_instead_of_writing_into_the_void(
    journal: Journal, journal_path: Path
) -> None:
    journal.record(outcome(1))
    await journal.flush()
    journal_path.unlink()
    journal.record(outcome(2))
    with pytest.raises(JournalError, match="was removed or replaced"):
        await journal.flush()
    with pytest.raises(JournalError, match="was removed or replaced"):
        journal.record(outcome(3))
    with pytest.raises(JournalError, match="was removed or replaced"):
        await journal.close()


async def test_a_replaced_journal_file_raises(journal: Journal, journal_path: Path) -> None:
    journal_path.rename(journal_path.with_name("moved.journal"))
    journal_path.write_bytes(b"")
    journal.record(outcome(1))
    with pytest.raises(JournalError, match="was removed or replaced"):
        await journal.flush()
    with pytest.raises(JournalError, match="1 outcome not written yet"):
        await journal.close()


# ------------------------------------------------------------------------------------------
# kill -9

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from plivo_numlink._journal import Journal
    from plivo_numlink._report import NumberOutcome, OutcomeKind

    async def main(path):
        journal = await Journal.open(
            path, account=sys.argv[2], campaign_id=sys.argv[3], action="link",
            flush_interval=0.005,
        )
        settled = 0
        while True:  # until killed: record, and say what is surely committed
            for _ in range(97):
                journal.record(NumberOutcome(
                    number=f"1212{2000000 + settled:07d}", kind=OutcomeKind.ACCEPTED, attempts=1
                ))
                settled += 1
            if settled % 5 == 0:
                await journal.flush()
                print(settled, flush=True)
            else:
                await asyncio.sleep(0)

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_everything_committed_before_a_kill_9_is_there_afterwards(
    journal_path: Path,
) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(journal_path), ACCOUNT, CAMPAIGN],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            flushed = 0
            while flushed < 5_000:
                line = child.stdout.readline()
                assert line, "the child stopped before it was killed"
                flushed = int(line)
            os.kill(child.pid, signal.SIGKILL)  # while it goes on recording and committing
        finally:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    async with await Journal.open(
        journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link"
    ) as journal:
        keys = [number(i) for i in range(flushed)]
        found = await journal.final_outcomes(keys)
        assert sorted(found) == keys
        assert found[number(0)] == outcome(0)
        # Later commits may have landed too; none of them is torn.
        stats = await journal.stats()
        assert stats.entries == stats.final >= flushed
