"""Resuming a big job looks its entries up batch by batch: memory stays that of a batch,
whatever the size of the journal."""

from __future__ import annotations

import sqlite3
import tracemalloc
from pathlib import Path

from plivo_numlink._journal import Journal
from plivo_numlink._report import OutcomeKind

from ._journal_helpers import ACCOUNT, CAMPAIGN, number, outcome

ENTRIES = 200_000
BATCH = 1_000


async def make_big_journal(path: Path) -> None:
    """ENTRIES entries; every tenth one failed on a transient error (not final).

    The journal writes two rows, one of each kind; SQLite copies them to the other keys (a
    row's number is its key). Recording 200,000 outcomes one by one would only be slower.
    """
    async with await Journal.open(
        path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link"
    ) as journal:
        journal.record([outcome(0), outcome(3, OutcomeKind.ERROR)])
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(
            """
            WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < ?)
            INSERT OR REPLACE INTO outcomes (key, final, outcome)
            SELECT printf('1212%07d', 2000000 + n), t.final, t.outcome
            FROM i JOIN outcomes AS t ON t.key = (CASE WHEN n % 10 = 3 THEN ? ELSE ? END)
            """,
            (ENTRIES - 1, number(3), number(0)),
        )
    connection.close()


async def test_batch_lookups_in_a_200_000_entry_journal_stay_within_a_few_megabytes(
    journal_path: Path,
) -> None:
    await make_big_journal(journal_path)
    async with await Journal.open(
        journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link"
    ) as journal:
        stats = await journal.stats()
        assert (stats.entries, stats.final) == (ENTRIES, ENTRIES - ENTRIES // 10)
        tracemalloc.start()
        try:
            found_in_all = 0
            # Batches from all over the journal (every batch would only make the test slower).
            for start in range(0, ENTRIES, ENTRIES // 10):
                keys = [number(i) for i in range(start, start + BATCH)]
                found = await journal.final_outcomes(keys)
                assert found[number(start)] == outcome(start)
                found_in_all += len(found)
                del found
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert found_in_all == 10 * (BATCH - BATCH // 10)
    # One batch of outcomes takes well under a megabyte; the whole journal loaded as
    # objects would take about 100 MB.
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
