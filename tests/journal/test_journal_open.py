"""Opening a journal: a new file, the same job again, and every file that must be refused."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from plivo_numlink import PlivoError
from plivo_numlink._journal import FORMAT_VERSION, Journal, JournalError

from ._journal_helpers import ACCOUNT, CAMPAIGN, outcome


async def open_link(path: str | Path, **changes: str) -> Journal:
    args = {"account": ACCOUNT, "campaign_id": CAMPAIGN, "action": "link", **changes}
    return await Journal.open(path, **args)


async def test_a_new_journal_records_its_account_campaign_and_operation(
    journal_path: Path,
) -> None:
    async with await open_link(journal_path) as journal:
        assert journal.header.account == ACCOUNT
        assert journal.header.campaign_id == CAMPAIGN
        assert journal.header.action == "link"
        assert journal.header.format == FORMAT_VERSION
        assert journal.header.created.endswith("+00:00")
        assert journal.path == journal_path
    assert journal_path.exists()


async def test_reopening_for_the_same_job_keeps_the_header_and_the_outcomes(
    journal_path: Path,
) -> None:
    async with await open_link(journal_path) as first:
        first.record(outcome(1))
    async with await open_link(journal_path) as second:
        assert second.header == first.header
        assert list(await second.final_outcomes([outcome(1).number])) == [outcome(1).number]


async def test_paths_may_be_str_or_pathlike(tmp_path: Path) -> None:
    async with await open_link(str(tmp_path / "a.db")) as journal:
        assert journal.path == tmp_path / "a.db"
    async with await open_link(tmp_path / "b.db") as journal:
        assert journal.path == tmp_path / "b.db"


async def test_the_file_is_in_wal_mode(journal_path: Path) -> None:
    async with await open_link(journal_path):
        connection = sqlite3.connect(journal_path)
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        connection.close()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"account": "MA9999999999ABCDEFGH"}, "belongs to account 'MA0123456789ABCDEFGH', not"),
        ({"campaign_id": "COTHER1"}, "belongs to campaign 'CMPT4EP', not 'COTHER1'"),
        ({"action": "unlink"}, "belongs to operation 'link', not 'unlink'"),
    ],
)
async def test_a_journal_of_another_job_is_refused_naming_the_mismatch(
    journal_path: Path, changes: dict[str, str], message: str
) -> None:
    async with await open_link(journal_path):
        pass
    with pytest.raises(ValueError, match=f"journal job.journal {message}"):
        await open_link(journal_path, **changes)


async def test_every_mismatch_is_named(journal_path: Path) -> None:
    async with await open_link(journal_path):
        pass
    with pytest.raises(ValueError) as caught:
        await open_link(journal_path, account="MB1", campaign_id="C2", action="unlink")
    assert "account" in str(caught.value)
    assert "campaign" in str(caught.value)
    assert "operation" in str(caught.value)


async def test_a_refused_journal_is_left_as_it_was(journal_path: Path) -> None:
    async with await open_link(journal_path) as journal:
        journal.record(outcome(1))
    with pytest.raises(ValueError):
        await open_link(journal_path, campaign_id="COTHER1")
    async with await open_link(journal_path) as journal:
        assert (await journal.stats()).entries == 1


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "numbers.txt"
    path.write_text("12125550001\n12125550002\n" * 100)
    with pytest.raises(ValueError, match=r"numbers\.txt is not a plivo-numlink journal"):
        await open_link(path)
    assert path.read_text().startswith("12125550001\n")


async def test_an_sqlite_database_of_something_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE things (name TEXT)")
    connection.commit()
    connection.close()
    with pytest.raises(ValueError, match=r"other\.db is not a plivo-numlink journal"):
        await open_link(path)


async def test_a_journal_without_its_header_is_refused(journal_path: Path) -> None:
    async with await open_link(journal_path):
        pass
    connection = sqlite3.connect(journal_path)
    connection.execute("DELETE FROM journal_header")
    connection.commit()
    connection.close()
    with pytest.raises(ValueError, match="not a plivo-numlink journal: it has no header"):
        await open_link(journal_path)


async def test_a_journal_missing_its_tables_is_refused(journal_path: Path) -> None:
    async with await open_link(journal_path):
        pass
    connection = sqlite3.connect(journal_path)
    connection.execute("DROP TABLE journal_header")
    connection.commit()
    connection.close()
    with pytest.raises(ValueError, match="not a plivo-numlink journal"):
        await open_link(journal_path)


async def test_a_journal_of_a_newer_format_is_refused(journal_path: Path) -> None:
    async with await open_link(journal_path):
        pass
    connection = sqlite3.connect(journal_path)
    connection.execute(f"PRAGMA user_version = {FORMAT_VERSION + 1}")
    connection.close()
    with pytest.raises(ValueError, match="newer than this library's"):
        await open_link(journal_path)


async def test_an_empty_file_becomes_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    async with await open_link(path) as journal:
        assert journal.header.campaign_id == CAMPAIGN


async def test_a_path_that_cannot_be_opened_raises_a_journal_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="cannot open journal") as caught:
        await open_link(tmp_path / "missing-directory" / "job.db")
    assert isinstance(caught.value, PlivoError)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"action": "sync"}, "action must be 'link' or 'unlink'"),
        ({"account": ""}, "account must be a non-empty string"),
        ({"campaign_id": ""}, "campaign_id must be a non-empty string"),
    ],
)
async def test_bad_arguments_are_refused_before_touching_the_file(
    journal_path: Path, changes: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await open_link(journal_path, **changes)
    assert not journal_path.exists()


@pytest.mark.parametrize("interval", [0, -1.0, float("nan")])
async def test_a_flush_interval_must_be_positive(journal_path: Path, interval: float) -> None:
    with pytest.raises(ValueError, match="flush_interval must be a positive number"):
        await Journal.open(
            journal_path,
            account=ACCOUNT,
            campaign_id=CAMPAIGN,
            action="link",
            flush_interval=interval,
        )


async def test_repr_names_the_file_and_the_job(journal_path: Path) -> None:
    journal = await open_link(journal_path)
    assert repr(journal) == (
        f"<Journal {str(journal_path)!r} link campaign={CAMPAIGN} account={ACCOUNT} open>"
    )
    await journal.close()
    assert repr(journal).endswith(" closed>")


async def test_a_cancelled_open_leaves_the_file_usable(journal_path: Path) -> None:
    opening = asyncio.ensure_future(open_link(journal_path))
    await asyncio.sleep(0)  # the file is being opened on the journal's thread
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    async with await open_link(journal_path) as journal:
        assert journal.header.campaign_id == CAMPAIGN
