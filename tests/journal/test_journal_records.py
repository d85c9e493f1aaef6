"""Recording outcomes and looking them up: what is final, what a later record replaces,
when commits reach the disk, and closing (also when the caller is cancelled)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from plivo_numlink._journal import DEFAULT_FLUSH_INTERVAL, Journal, JournalError, is_final
from plivo_numlink._models import LinkStatus
from plivo_numlink._report import NumberOutcome, OutcomeKind

from ._journal_helpers import ACCOUNT, CAMPAIGN, number, outcome

OnDisk = Callable[[], dict[str, int]]

# ------------------------------------------------------------------------------------------
# The finality rule

FINAL = [
    OutcomeKind.ACCEPTED,
    OutcomeKind.ALREADY,
    OutcomeKind.COMPLETED,
    OutcomeKind.REJECTED,
    OutcomeKind.INVALID,
    OutcomeKind.REMOTE_FAILED,
]
NOT_FINAL = [
    OutcomeKind.ERROR,
    OutcomeKind.NOT_ATTEMPTED,
    OutcomeKind.PENDING,
    OutcomeKind.NOT_LISTED,
]


def test_the_finality_rule_covers_every_kind() -> None:
    assert set(FINAL) | set(NOT_FINAL) == set(OutcomeKind)


@pytest.mark.parametrize("kind", FINAL)
def test_an_answered_request_is_final(kind: OutcomeKind) -> None:
    assert is_final(outcome(kind=kind))


@pytest.mark.parametrize("kind", NOT_FINAL)
def test_an_unanswered_unsent_or_unfinished_entry_is_not_final(kind: OutcomeKind) -> None:
    assert not is_final(outcome(kind=kind))


@pytest.mark.parametrize("status_code", [401, 403])
def test_a_refusal_of_the_credentials_is_not_final(status_code: int) -> None:
    assert not is_final(outcome(kind=OutcomeKind.REJECTED, status_code=status_code))


@pytest.mark.parametrize("status_code", [400, 404, 422])
def test_a_refusal_of_the_number_is_final(status_code: int) -> None:
    assert is_final(outcome(kind=OutcomeKind.REJECTED, status_code=status_code))


# ------------------------------------------------------------------------------------------
# Round trip


def every_field_set() -> NumberOutcome:
    return NumberOutcome(
        number="12125557777",
        kind=OutcomeKind.REMOTE_FAILED,
        action="unlink",
        error='Plivo reports FAILED: "quoted" text, ünïcode, new\nline',
        status_code=202,
        api_id="3b7e0c1a-0000-11ee-9c1a-0242ac110002",
        attempts=3,
        status=LinkStatus.FAILED,
        ok=False,
        input="+1 (212) 555-7777",
        index=41,
        line=43,
    )


def test_the_round_trip_sample_sets_every_field_away_from_its_default() -> None:
    sample = every_field_set()
    for field in attrs.fields(NumberOutcome):
        if field.default is not attrs.NOTHING and not isinstance(field.default, attrs.Factory):
            # A field added to NumberOutcome must be set here too, so that it is round-tripped.
            assert getattr(sample, field.name) != field.default, field.name


def as_read_back(sample: NumberOutcome) -> NumberOutcome:
    """``sample`` as the journal gives it back: an entry's text, position and line in its
    input (``input``, ``index``, ``line``) belong to the run that reads the journal, and are
    not stored."""
    per_run = {
        field.name: field.default
        for field in attrs.fields(NumberOutcome)
        if field.name in ("input", "index", "line")
    }
    return attrs.evolve(sample, **per_run)


async def test_an_outcome_comes_back_with_every_field(journal_path: Path) -> None:
    sample = every_field_set()
    async with await Journal.open(
        journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="unlink"
    ) as journal:
        journal.record(sample)
    async with await Journal.open(
        journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="unlink"
    ) as journal:
        found = await journal.final_outcomes([sample.number])
    assert found == {sample.number: as_read_back(sample)}
    assert found[sample.number].kind is OutcomeKind.REMOTE_FAILED
    assert found[sample.number].status is LinkStatus.FAILED


@pytest.mark.parametrize("status", [*LinkStatus, None])
async def test_status_enums_and_none_fields_come_back_as_they_were(
    journal: Journal, status: LinkStatus | None
) -> None:
    sample = NumberOutcome(number=number(7), kind=OutcomeKind.COMPLETED, status=status)
    journal.record(sample)
    await journal.flush()
    journal._buffer.clear()  # nothing is buffered after a flush: this read is the file's
    found = (await journal.final_outcomes([sample.number]))[sample.number]
    assert found == sample
    assert found.status is status
    assert (found.error, found.status_code, found.api_id) == (None, None, None)


async def test_outcomes_alike_but_for_their_number_each_come_back_as_recorded(
    journal: Journal,
) -> None:
    # The numbers of one request share everything else; one of another request differs.
    alike = [outcome(i, api_id="req-1", status_code=202) for i in range(3)]
    other = outcome(3, api_id="req-2", status_code=202)
    refused = outcome(4, OutcomeKind.REJECTED, status_code=400, error="HTTP 400: bad")
    journal.record([*alike, other, refused])
    await journal.flush()
    journal._buffer.clear()  # nothing is buffered after a flush: this read is the file's
    found = await journal.final_outcomes([number(i) for i in range(5)])
    assert found == {o.number: o for o in [*alike, other, refused]}


async def test_an_invalid_entry_is_kept_under_its_raw_text(journal: Journal) -> None:
    invalid = NumberOutcome(number="not a number", kind=OutcomeKind.INVALID, error="bad")
    journal.record(invalid)
    await journal.flush()
    assert await journal.final_outcomes(["not a number"]) == {"not a number": invalid}


# ------------------------------------------------------------------------------------------
# Lookups


async def test_lookups_return_only_final_outcomes_of_the_keys_asked(journal: Journal) -> None:
    kinds = FINAL + NOT_FINAL
    journal.record(outcome(i, kind) for i, kind in enumerate(kinds))
    await journal.flush()
    found = await journal.final_outcomes([number(i) for i in range(len(kinds) + 5)])
    assert sorted(found) == [number(i) for i in range(len(FINAL))]
    assert await journal.final_outcomes([number(0)]) == {number(0): outcome(0)}


async def test_a_lookup_of_no_keys_is_empty(journal: Journal) -> None:
    assert await journal.final_outcomes([]) == {}


async def test_a_lookup_may_ask_for_more_keys_than_one_query_takes(journal: Journal) -> None:
    journal.record(outcome(i) for i in range(0, 2_400, 2))
    await journal.flush()
    found = await journal.final_outcomes([number(i) for i in range(2_400)])
    assert len(found) == 1_200
    assert number(2_398) in found
    assert number(2_399) not in found


async def test_outcomes_not_yet_committed_are_found_too(journal: Journal, on_disk: OnDisk) -> None:
    journal.record(outcome(2))
    await journal.flush()
    journal.record(outcome(1))
    assert on_disk() == {number(2): 1}
    found = await journal.final_outcomes([number(1), number(2)])
    assert found == {number(1): outcome(1), number(2): outcome(2)}


async def test_a_row_marked_final_under_a_looser_rule_is_not_taken_as_final(
    journal: Journal, journal_path: Path
) -> None:
    # Written as final by a version whose rule took every REJECTED for final.
    refused = outcome(1, OutcomeKind.REJECTED, status_code=401, error="HTTP 401")
    journal.record(refused)
    await journal.flush()
    connection = sqlite3.connect(journal_path)
    connection.execute("UPDATE outcomes SET final = 1")
    connection.commit()
    connection.close()
    assert await journal.final_outcomes([number(1)]) == {}


async def test_a_later_record_replaces_the_earlier_one(journal: Journal, on_disk: OnDisk) -> None:
    journal.record(outcome(1, OutcomeKind.ERROR, error="HTTP 503"))
    await journal.flush()
    assert on_disk() == {number(1): 0}
    assert await journal.final_outcomes([number(1)]) == {}

    journal.record(outcome(1, OutcomeKind.ACCEPTED, attempts=2))
    await journal.flush()
    assert on_disk() == {number(1): 1}
    assert await journal.final_outcomes([number(1)]) == {number(1): outcome(1, attempts=2)}


async def test_a_later_non_final_record_replaces_a_final_one(
    journal: Journal, on_disk: OnDisk
) -> None:
    journal.record(outcome(1))
    await journal.flush()
    journal.record(outcome(1, OutcomeKind.NOT_ATTEMPTED, attempts=0))
    assert await journal.final_outcomes([number(1)]) == {}  # the buffered record wins
    await journal.flush()
    assert on_disk() == {number(1): 0}
    assert await journal.final_outcomes([number(1)]) == {}


async def test_within_one_flush_the_last_record_of_a_key_wins(
    journal: Journal, on_disk: OnDisk
) -> None:
    journal.record([outcome(1, OutcomeKind.ERROR), outcome(1, OutcomeKind.ALREADY)])
    journal.record(outcome(1, OutcomeKind.COMPLETED))
    await journal.flush()
    assert on_disk() == {number(1): 1}
    assert (await journal.final_outcomes([number(1)]))[number(1)].kind is OutcomeKind.COMPLETED


async def test_stats_count_entries_and_final_ones(journal: Journal) -> None:
    assert (await journal.stats()).entries == 0
    journal.record([outcome(1), outcome(2, OutcomeKind.ERROR), outcome(3, OutcomeKind.ALREADY)])
    stats = await journal.stats()
    assert (stats.entries, stats.final) == (3, 2)
    assert await journal.count_final() == 2


async def test_an_unreadable_row_raises_a_journal_error(
    journal: Journal, journal_path: Path
) -> None:
    connection = sqlite3.connect(journal_path)
    connection.execute("INSERT INTO outcomes VALUES (?, 1, ?)", (number(1), '{"kind": 3}'))
    connection.commit()
    connection.close()
    with pytest.raises(JournalError, match="unreadable outcome for '12122000001'"):
        await journal.final_outcomes([number(1)])


# ------------------------------------------------------------------------------------------
# When outcomes reach the disk


def test_the_default_interval_leaves_time_for_the_commit_within_half_a_second() -> None:
    assert 0 < DEFAULT_FLUSH_INTERVAL <= 0.25


async def test_record_only_buffers(journal: Journal, on_disk: OnDisk) -> None:
    journal.record(outcome(i) for i in range(10))
    assert on_disk() == {}


async def test_recorded_outcomes_are_committed_without_a_flush(
    journal_path: Path, on_disk: OnDisk
) -> None:
    async with await Journal.open(
        journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link", flush_interval=0.02
    ) as journal:
        journal.record(outcome(i) for i in range(3))
        for _ in range(250):  # the commit comes after flush_interval; this only bounds the test
            if len(on_disk()) == 3:
                break
            await asyncio.sleep(0.02)
        assert on_disk() == {number(0): 1, number(1): 1, number(2): 1}
        assert journal._buffer == {}


async def test_flush_commits_now(journal: Journal, on_disk: OnDisk) -> None:
    journal.record([outcome(1), outcome(2, OutcomeKind.PENDING)])
    await journal.flush()
    assert on_disk() == {number(1): 1, number(2): 0}


async def test_a_flush_with_nothing_recorded_is_harmless(journal: Journal, on_disk: OnDisk) -> None:
    await journal.flush()
    await journal.flush()
    assert on_disk() == {}


# ------------------------------------------------------------------------------------------
# Closing


async def test_close_commits_what_is_buffered(journal: Journal, on_disk: OnDisk) -> None:
    journal.record(outcome(i) for i in range(5))
    await journal.close()
    assert len(on_disk()) == 5
    assert journal.closed


async def test_close_is_idempotent(journal: Journal, on_disk: OnDisk) -> None:
    journal.record(outcome(1))
    await journal.close()
    await journal.close()
    assert on_disk() == {number(1): 1}


async def test_leaving_the_context_closes_even_on_an_error(
    journal_path: Path, on_disk: OnDisk
) -> None:
    journal = await Journal.open(journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link")

    async def job() -> None:
        async with journal:
            journal.record(outcome(1))
            raise RuntimeError("job failed")

    with pytest.raises(RuntimeError, match="job failed"):
        await job()
    assert journal.closed
    assert on_disk() == {number(1): 1}


async def test_a_closed_journal_refuses_to_be_used(journal: Journal) -> None:
    await journal.close()
    with pytest.raises(JournalError, match=r"journal job\.journal is closed"):
        journal.record(outcome(1))
    with pytest.raises(JournalError, match="is closed"):
        await journal.flush()
    with pytest.raises(JournalError, match="is closed"):
        await journal.final_outcomes([number(1)])
    with pytest.raises(JournalError, match="is closed"):
        await journal.stats()


async def test_a_cancelled_job_still_commits_its_outcomes(
    journal_path: Path, on_disk: OnDisk
) -> None:
    started = asyncio.Event()

    async def job() -> None:
        async with await Journal.open(
            journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link", flush_interval=60
        ) as journal:
            journal.record(outcome(i) for i in range(100))
            started.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(job())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(on_disk()) == 100


async def test_cancelling_close_itself_still_commits_and_closes(
    journal_path: Path, on_disk: OnDisk
) -> None:
    journal = await Journal.open(
        journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link", flush_interval=60
    )
    journal.record(outcome(i) for i in range(1_000))
    closing = asyncio.ensure_future(journal.close())
    await asyncio.sleep(0)  # close() has started and waits for the commit
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert len(on_disk()) == 1_000
    assert journal.closed
    await journal.close()  # and it stays closed, quietly


async def test_cancelling_flush_does_not_cancel_the_commit(
    journal: Journal, on_disk: OnDisk
) -> None:
    journal.record(outcome(i) for i in range(1_000))
    flushing = asyncio.ensure_future(journal.flush())
    await asyncio.sleep(0)
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    await journal.close()
    assert len(on_disk()) == 1_000


async def test_an_iterable_that_fails_midway_leaves_what_it_gave_recorded(
    journal: Journal, on_disk: OnDisk
) -> None:
    def outcomes() -> Iterator[NumberOutcome]:
        yield outcome(1)
        raise RuntimeError("input broke")

    with pytest.raises(RuntimeError, match="input broke"):
        journal.record(outcomes())
    assert await journal.final_outcomes([number(1)]) == {number(1): outcome(1)}
    assert journal._timer is not None  # and it is on its way to the disk
    await journal.close()
    assert on_disk() == {number(1): 1}


async def test_cancelling_close_of_a_journal_that_cannot_write_logs_the_loss(
    journal_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = await Journal.open(
        journal_path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link", flush_interval=60
    )
    journal_path.unlink()
    journal.record(outcome(1))
    closing = asyncio.ensure_future(journal.close())
    await asyncio.sleep(0)
    closing.cancel()
    with (
        caplog.at_level("ERROR", logger="plivo_numlink.journal"),
        pytest.raises(asyncio.CancelledError),
    ):
        await closing
    assert "lost outcomes" in caplog.text
    assert "1 outcome not written yet" in caplog.text
