"""Resumable bulk jobs: ``journal=PATH`` on link_many, unlink_many, iter_link and iter_unlink,
and what reports say about each input entry (``input``, ``index``, ``duplicate_entries``).

Every test runs against a FakePlivo on 127.0.0.1 and checks both the report and the
requests the fake saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import plivo_numlink as pn
from plivo_numlink import NumLinkSession, OutcomeKind, RetryPolicy
from plivo_numlink._journal import Journal
from plivo_numlink.testing import FakePlivo

CAMPAIGN = "CUOGHIN"
ZERO_BACKOFF = RetryPolicy(attempts=2, wait_initial=0, wait_max=0)

Start = Callable[..., Awaitable[tuple[FakePlivo, NumLinkSession]]]


def us_numbers(count: int, start: int = 0) -> list[str]:
    return [f"1212{200 + i // 10_000}{i % 10_000:04d}" for i in range(start, start + count)]


def sent_numbers(fake: FakePlivo) -> list[str]:
    """Every number the fake was sent a link or unlink request for, in order."""
    sent: list[str] = []
    for request in fake.requests:
        if request.method == "POST":
            sent.extend(request.body["numbers"])
        elif request.method == "DELETE":
            sent.append(request.path.rstrip("/").rsplit("/", 1)[-1])
    return sent


@pytest.fixture
async def plivo() -> AsyncIterator[Start]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            *, concurrency: int = 4, auth_id: str | None = None, **fake_options: Any
        ) -> tuple[FakePlivo, NumLinkSession]:
            if auth_id is not None:
                fake_options["auth_id"] = auth_id
            fake = await stack.enter_async_context(FakePlivo(**fake_options))
            session = await stack.enter_async_context(
                NumLinkSession(
                    fake.auth_id,
                    fake.auth_token,
                    base_url=fake.base_url,
                    concurrency=concurrency,
                    rate_limit=None,
                    retry=ZERO_BACKOFF,
                )
            )
            return fake, session

        yield start


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "job.journal"


# ------------------------------------------------------------------------------------------
# Re-runs and resumes


@pytest.mark.parametrize("action", ["link", "unlink"])
async def test_a_finished_job_run_again_with_its_journal_sends_nothing(
    plivo: Start, journal: Path, action: str
) -> None:
    numbers = us_numbers(250)
    fake, session = await plivo(prelink={CAMPAIGN: numbers} if action == "unlink" else 0)
    many = session.link_many if action == "link" else session.unlink_many
    first = await many(CAMPAIGN, numbers, journal=journal)
    assert first.ok
    assert first.resumed == 0
    fake.clear_requests()

    again = await many(CAMPAIGN, numbers, journal=str(journal))

    assert fake.requests == []
    assert again.requests == 0
    assert again.resumed == len(again) == 250
    assert [o.number for o in again] == numbers
    assert [(o.kind, o.api_id) for o in again] == [(o.kind, o.api_id) for o in first]
    assert [o.index for o in again] == list(range(250))
    assert "250 from the journal" in again.summary()


async def test_a_resumed_job_reports_the_entries_as_this_run_wrote_them(
    plivo: Start, journal: Path
) -> None:
    _, session = await plivo()
    await session.link_many(CAMPAIGN, ["12125550100", "12125550101"], journal=journal)

    again = await session.link_many(
        CAMPAIGN, ["junk", "+1 (212) 555-0101", "1 212 555 0100"], journal=journal
    )

    assert again.resumed == 2
    assert [(o.number, o.input, o.index) for o in again] == [
        ("junk", "junk", 0),
        ("12125550101", "+1 (212) 555-0101", 1),
        ("12125550100", "1 212 555 0100", 2),
    ]


async def test_a_cancelled_job_resumed_sends_only_the_rest(plivo: Start, journal: Path) -> None:
    numbers = us_numbers(400)
    fake, session = await plivo(latency=0.01, concurrency=2)
    settled: list[pn.NumberOutcome] = []
    task = asyncio.ensure_future(
        session.link_many(
            CAMPAIGN, numbers, batch_size=10, journal=journal, on_outcome=settled.append
        )
    )
    while len(settled) < 100:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    accepted_before = {o.number for o in settled if o.kind is OutcomeKind.ACCEPTED}
    assert len(accepted_before) >= 100
    sent_before = set(sent_numbers(fake))
    fake.clear_requests()

    resumed = await session.link_many(CAMPAIGN, numbers, batch_size=10, journal=journal)

    sent_again = sent_numbers(fake)
    # Whatever settled before the cancellation was committed by the journal's close.
    assert not accepted_before & set(sent_again)
    assert resumed.resumed >= len(accepted_before)
    # Every number not resumed is sent again (a batch holding numbers that were in flight at
    # the cancellation is refused as already requested, and resolved: some go twice).
    assert len(set(sent_again)) == 400 - resumed.resumed
    assert resumed.ok
    assert len(resumed) == 400
    assert set(sent_before) | set(sent_again) >= set(numbers)
    assert set(fake.numbers(CAMPAIGN)) == set(numbers)


async def test_an_interrupted_iteration_is_committed_when_the_run_is_closed(
    plivo: Start, journal: Path
) -> None:
    numbers = us_numbers(300)
    fake, session = await plivo(latency=0.005)
    seen = 0
    async with session.iter_unlink(CAMPAIGN, numbers, journal=journal) as run:
        async for _ in run:
            seen += 1
            if seen == 50:
                break
    report = run.report()
    done = {o.number for o in report if o.kind is OutcomeKind.ALREADY}
    assert len(done) >= 50

    async with await Journal.open(
        journal, account=fake.auth_id, campaign_id=CAMPAIGN, action="unlink"
    ) as opened:
        assert set(await opened.final_outcomes(numbers)) == done


async def test_outcomes_without_an_answer_are_sent_again(plivo: Start, journal: Path) -> None:
    numbers = us_numbers(30)
    fake, session = await plivo()
    fake.down = True
    first = await session.link_many(CAMPAIGN, numbers, batch_size=5, journal=journal)
    assert {o.kind for o in first} <= {OutcomeKind.ERROR, OutcomeKind.NOT_ATTEMPTED}
    assert any(o.kind is OutcomeKind.ERROR for o in first)
    fake.down = False
    fake.clear_requests()

    again = await session.link_many(CAMPAIGN, numbers, batch_size=5, journal=journal)

    assert again.resumed == 0
    assert sorted(sent_numbers(fake)) == sorted(numbers)
    assert again.ok


async def test_refused_numbers_are_final_and_not_sent_again(plivo: Start, journal: Path) -> None:
    numbers = us_numbers(10)
    fake, session = await plivo(invalid_numbers=numbers[:2])
    first = await session.link_many(CAMPAIGN, numbers, journal=journal)
    assert [o.kind for o in first][:2] == [OutcomeKind.REJECTED] * 2
    fake.clear_requests()

    again = await session.link_many(CAMPAIGN, numbers, journal=journal)

    assert fake.requests == []
    assert [o.kind for o in again] == [o.kind for o in first]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"campaign_id": "CAMPTWO"}, "campaign"),
        ({"action": "unlink"}, "operation"),
        ({"auth_id": "MA9999999999ABCDEFGH"}, "account"),
    ],
)
async def test_a_journal_of_another_job_is_refused_before_anything_is_sent(
    plivo: Start, journal: Path, change: dict[str, str], named: str
) -> None:
    _, session = await plivo()
    await session.link_many(CAMPAIGN, us_numbers(3), journal=journal)
    fake, other = await plivo(
        auth_id=change.get("auth_id"), campaigns=[change.get("campaign_id", CAMPAIGN)]
    )
    many = other.unlink_many if change.get("action") == "unlink" else other.link_many

    with pytest.raises(ValueError, match=named):
        await many(change.get("campaign_id", CAMPAIGN), us_numbers(3), journal=journal)
    assert fake.requests == []


async def test_iter_link_refuses_a_journal_of_another_operation(
    plivo: Start, journal: Path
) -> None:
    fake, session = await plivo()
    await session.unlink_many(CAMPAIGN, us_numbers(2), journal=journal)
    fake.clear_requests()

    async def drain(run: pn.BulkRun) -> None:
        async with run:
            async for _ in run:
                pass

    with pytest.raises(ValueError, match="operation 'unlink', not 'link'"):
        await drain(session.iter_link(CAMPAIGN, us_numbers(2), journal=journal))
    assert fake.requests == []


async def test_a_journal_that_cannot_be_written_stops_the_job(
    plivo: Start, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, session = await plivo()

    def broken(self: Journal, outcomes: Any) -> None:
        raise pn.JournalError("disk full")

    monkeypatch.setattr(Journal, "record", broken)
    report = await session.link_many(CAMPAIGN, us_numbers(500), batch_size=10, journal=journal)

    assert report.stopped_reason is not None
    assert "the journal failed: disk full" in report.stopped_reason
    assert OutcomeKind.NOT_ATTEMPTED in {o.kind for o in report}
    assert len(sent_numbers(fake)) < 500


async def test_journal_error_is_public_and_a_plivo_error() -> None:
    assert issubclass(pn.JournalError, pn.PlivoError)


async def test_a_resume_holds_one_window_of_the_journal_not_all_of_it(
    plivo: Start, journal: Path
) -> None:
    numbers = us_numbers(100_000)
    _, session = await plivo(record_requests=False, concurrency=8)
    await session.link_many(CAMPAIGN, numbers, journal=journal)

    async def resume(**options: Any) -> tuple[int, int]:
        tracemalloc.start()
        try:
            resumed = 0
            async with session.iter_link(CAMPAIGN, iter(numbers), **options) as run:
                async for outcome in run:
                    resumed += outcome.kind is OutcomeKind.ACCEPTED
            return resumed, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    resumed, peak = await resume(journal=journal, keep_report=False, dedupe=False)
    # Nothing of the input is kept: the journal's lookups hold a window at a time.
    assert resumed == 100_000
    assert peak < 8_000_000, peak


async def test_a_resume_with_a_report_costs_no_more_memory_than_a_run_without_journal(
    plivo: Start, journal: Path
) -> None:
    numbers = us_numbers(20_000)
    _, session = await plivo(record_requests=False, concurrency=8)
    await session.link_many(CAMPAIGN, numbers, journal=journal)

    async def peak(**options: Any) -> int:
        tracemalloc.start()
        try:
            await session.link_many(CAMPAIGN, numbers, **options)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    with_journal = await peak(journal=journal)
    without = await peak()
    assert with_journal < 1.1 * without, (with_journal, without)


# ------------------------------------------------------------------------------------------
# input, index and repeated entries


async def test_outcomes_give_each_entry_as_written_and_its_position(plivo: Start) -> None:
    _, session = await plivo()
    entries: list[Any] = ["+1 212 555 0100", 12125550101, "oops", "(212) 555-0100", "12125550102"]

    report = await session.link_many(CAMPAIGN, entries)

    assert [(o.number, o.input, o.index) for o in report] == [
        ("12125550100", "+1 212 555 0100", 0),
        ("int(12125550101)", "12125550101", 1),  # only strings are numbers
        ("oops", "oops", 2),
        ("12125550102", "12125550102", 4),
    ]
    assert report.duplicates == 1
    assert report.duplicate_entries == (
        pn.DuplicateEntry(index=3, input="(212) 555-0100", first_index=0),
    )


async def test_iterated_outcomes_carry_input_and_index(plivo: Start) -> None:
    _, session = await plivo()
    seen = []
    async with session.iter_unlink(CAMPAIGN, ["212-555-0100", "2125550101"]) as run:
        async for outcome in run:
            seen.append((outcome.input, outcome.index))
    assert sorted(seen, key=lambda pair: pair[1]) == [("212-555-0100", 0), ("2125550101", 1)]


async def test_input_and_index_are_csv_columns_and_json_keys(plivo: Start) -> None:
    _, session = await plivo()
    report = await session.link_many(CAMPAIGN, ["+12125550100", "2125550100", "=x"])

    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [(row["input"], row["index"]) for row in rows] == [("'+12125550100", "0"), ("'=x", "2")]
    data = json.loads(report.to_json())
    assert [(o["input"], o["index"]) for o in data["outcomes"]] == [("+12125550100", 0), ("=x", 2)]
    assert data["resumed"] == 0
    assert data["duplicate_entries"] == [{"index": 1, "input": "2125550100", "first_index": 0}]


async def test_a_stopped_run_reports_the_unread_rest_with_positions(plivo: Start) -> None:
    _, session = await plivo()
    run = session.iter_link(CAMPAIGN, ["2125550100", "bad", "2125550100", "2125550101"])
    run.stop("not today")
    report = run.report()
    assert [(o.kind, o.index) for o in report] == [
        (OutcomeKind.NOT_ATTEMPTED, 0),
        (OutcomeKind.INVALID, 1),
        (OutcomeKind.NOT_ATTEMPTED, 3),
    ]
    assert report.duplicate_entries == (pn.DuplicateEntry(2, "2125550100", 0),)


async def test_a_journal_that_cannot_be_read_stops_the_job_before_sending(
    plivo: Start, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, session = await plivo()
    await session.link_many(CAMPAIGN, us_numbers(5), journal=journal)
    fake.clear_requests()

    async def unreadable(self: Journal, keys: Any) -> dict[str, pn.NumberOutcome]:
        raise pn.JournalError("unreadable row")

    monkeypatch.setattr(Journal, "final_outcomes", unreadable)
    report = await session.link_many(CAMPAIGN, us_numbers(300), journal=journal)

    assert report.stopped_reason == "the journal failed: unreadable row"
    assert {o.kind for o in report} == {OutcomeKind.NOT_ATTEMPTED}
    assert fake.requests == []


async def test_a_journal_that_cannot_be_closed_says_so_in_the_report(
    plivo: Start, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, session = await plivo()
    close = Journal.close

    async def failing_close(self: Journal) -> None:
        await close(self)
        raise pn.JournalError("3 outcomes not written")

    monkeypatch.setattr(Journal, "close", failing_close)
    report = await session.link_many(CAMPAIGN, us_numbers(3), journal=journal)

    assert report.stopped_reason == "the journal failed: 3 outcomes not written"
    assert [o.kind for o in report] == [OutcomeKind.ACCEPTED] * 3
