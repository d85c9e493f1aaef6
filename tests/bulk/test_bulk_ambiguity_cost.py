"""What resolving "already linked" costs a link job on a large campaign (issue 11, item 1).

A FakePlivo campaign holds 20,000 linked numbers. A job that meets "already requested" must
learn which of its numbers are linked at the job's scale, not the campaign's: these tests
pin the bounds of the README's cost rule (``plivo_numlink._bulk._ambiguity``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from plivo_numlink import BulkReport, LinkStatus, NumLinkSession, OutcomeKind, RetryPolicy
from plivo_numlink.testing import FakePlivo, generated_numbers
from plivo_numlink.testing._state import Refused

CAMPAIGN = "CUOGHIN"
LINKED = 20_000
#: Retries that never sleep: these tests are about how often, not how long.
ZERO_BACKOFF = RetryPolicy(attempts=8, wait_initial=0, wait_max=0)


@contextlib.asynccontextmanager
async def big_campaign(
    *, prelink: int = LINKED, unnamed: bool = False, concurrency: int = 20, **fake_options: Any
) -> AsyncIterator[tuple[FakePlivo, NumLinkSession]]:
    """A FakePlivo whose campaign holds ``prelink`` numbers, and a session on it.

    ``unnamed``: the fake's refusals name no number (as some servers' errors may not).
    """
    async with contextlib.AsyncExitStack() as stack:
        fake = await stack.enter_async_context(
            FakePlivo(campaigns=[CAMPAIGN], prelink=prelink, **fake_options)
        )
        if unnamed:
            name_no_number(fake)
        session = await stack.enter_async_context(
            NumLinkSession(
                fake.auth_id,
                fake.auth_token,
                base_url=fake.base_url,
                rate_limit=None,
                retry=ZERO_BACKOFF,
                concurrency=concurrency,
            )
        )
        yield fake, session


def name_no_number(fake: FakePlivo) -> None:
    """Make the fake's link refusals say what is wrong without naming the number."""
    book = fake._book
    link = book.link

    def unnamed_link(*args: Any, **kwargs: Any) -> list[str]:
        try:
            return link(*args, **kwargs)
        except Refused as exc:
            raise Refused(exc.status, re.sub(r"The number \S+", "A number", exc.text)) from None

    book.link = unnamed_link  # type: ignore[method-assign]


def posts(fake: FakePlivo) -> int:
    return sum(1 for r in fake.requests if r.method == "POST")


def number_gets(fake: FakePlivo) -> int:
    return sum(1 for r in fake.requests if r.method == "GET" and not r.path.endswith("/Number/"))


def listings(fake: FakePlivo) -> int:
    """How many times the campaign was listed (each listing starts at offset 0)."""
    return sum(
        1
        for r in fake.requests
        if r.method == "GET" and r.path.endswith("/Number/") and r.query.get("offset") == "0"
    )


def linked(count: int, start: int) -> list[str]:
    """``count`` of the campaign's linked numbers from the ``start``-th."""
    return list(generated_numbers(count, start))


def new(count: int) -> list[str]:
    """``count`` numbers the campaign does not hold."""
    return list(generated_numbers(count, LINKED))


def assert_each_number_once_and_ok(report: BulkReport, numbers: list[str]) -> None:
    assert report.ok, report.summary()
    assert [o.number for o in report] == numbers
    assert Counter(o.number for o in report) == Counter(numbers)
    assert {o.kind for o in report} <= {OutcomeKind.ACCEPTED, OutcomeKind.ALREADY}


@pytest.mark.timeout(60)
async def test_one_linked_number_among_100_new_costs_at_most_40_requests() -> None:
    async with big_campaign() as (fake, session):
        fresh = new(99)
        # Mid-campaign, so no lucky first page lists it.
        numbers = [*fresh[:50], *linked(1, 12_345), *fresh[50:]]
        report = await session.link_many(CAMPAIGN, numbers, batch_size=100)
        assert_each_number_once_and_ok(report, numbers)
        assert report[numbers[50]].kind is OutcomeKind.ALREADY
        assert report.counts == {"accepted": 99, "already": 1}
        assert report.requests <= 40
        assert len(fake.requests) <= 40
        assert report.requests == len(fake.requests)


@pytest.mark.timeout(60)
async def test_100_linked_numbers_cost_at_most_250_requests() -> None:
    async with big_campaign() as (fake, session):
        numbers = linked(100, 15_000)
        report = await session.link_many(CAMPAIGN, numbers)
        assert_each_number_once_and_ok(report, numbers)
        assert report.counts == {"already": 100}
        assert report.requests <= 250
        assert len(fake.requests) <= 250
        assert report.requests == len(fake.requests)


@pytest.mark.timeout(120)
async def test_2000_new_numbers_with_2_percent_of_answers_lost_cost_at_most_450() -> None:
    # drop_response_rate: the connection closes after the link took effect, so the retry
    # meets "already requested" for numbers this very job linked.
    async with big_campaign(drop_response_rate=0.02, seed=11) as (fake, session):
        numbers = new(2_000)
        report = await session.link_many(CAMPAIGN, numbers, batch_size=10)
        assert_each_number_once_and_ok(report, numbers)
        assert sum(report.counts.values()) == 2_000
        assert set(fake.numbers(CAMPAIGN)) >= set(numbers)
        assert report.requests <= 450
        # aiohttp may resend a dropped GET on its own: the fake then sees it twice.
        assert len(fake.requests) <= 450
        # Every link POST is accounted for: none was sent twice for a settled number.
        posted = Counter(n for r in fake.requests if r.method == "POST" for n in r.body["numbers"])
        assert set(posted) == set(numbers)


# ---------------------------------------------------------------------------------------------
# Servers whose "already" names no number: the GET and bisection fallbacks stay correct.


@pytest.mark.timeout(60)
async def test_one_linked_number_among_100_new_on_a_server_naming_none() -> None:
    async with big_campaign(unnamed=True) as (fake, session):
        fresh = new(99)
        numbers = [*fresh[:50], *linked(1, 12_345), *fresh[50:]]
        report = await session.link_many(CAMPAIGN, numbers, batch_size=100)
        assert_each_number_once_and_ok(report, numbers)
        assert report.counts == {"accepted": 99, "already": 1}
        # 34 pages earned by the refusal, then bisection: 2 * log2(100) requests at most,
        # each earning half a page more.
        assert report.requests <= 1 + 34 + 2 * 7 + 7 + 1
        assert report.requests == len(fake.requests)
        assert listings(fake) == 1


@pytest.mark.timeout(60)
async def test_100_linked_numbers_on_a_server_naming_none() -> None:
    async with big_campaign(unnamed=True, concurrency=1) as (fake, session):
        numbers = linked(100, 15_000)
        report = await session.link_many(CAMPAIGN, numbers, batch_size=20)
        assert_each_number_once_and_ok(report, numbers)
        assert report.counts == {"already": 100}
        # The first batch is bisected through (2 * 20 - 1 requests); the job then knows its
        # batches are linked, and asks about the numbers of the others one GET each.
        assert number_gets(fake) == 80
        assert report.requests <= 400
        assert report.requests == len(fake.requests)


@pytest.mark.timeout(120)
async def test_lost_answers_on_a_server_naming_none_are_resolved_by_gets() -> None:
    async with big_campaign(unnamed=True, drop_response_rate=0.02, seed=11) as (fake, session):
        numbers = new(2_000)
        report = await session.link_many(CAMPAIGN, numbers, batch_size=10)
        assert_each_number_once_and_ok(report, numbers)
        assert number_gets(fake) > 0
        assert report.requests <= 450


async def test_a_lost_answer_is_resolved_by_gets_that_count_in_attempts() -> None:
    async with big_campaign(unnamed=True) as (fake, session):
        fake.enqueue_fault(None, effect=True)  # the link happens, its answer is lost
        numbers = new(5)
        report = await session.link_many(CAMPAIGN, numbers, batch_size=5)
        assert_each_number_once_and_ok(report, numbers)
        assert report.counts == {"already": 5}
        assert posts(fake) == 2
        assert number_gets(fake) == 5
        # Two POSTs and its GET carried each number.
        assert [o.attempts for o in report] == [3] * 5
        assert {o.status for o in report} == {LinkStatus.PROCESSING}


async def test_numbers_a_get_cannot_tell_about_are_sent_again() -> None:
    async with big_campaign(unnamed=True, concurrency=1) as (fake, session):
        numbers = new(4)
        book = fake._book
        get_one = book.get_one
        failures = 0

        def fail_the_first_number(campaign: Any, number: str) -> tuple[str, str]:
            nonlocal failures
            if number == numbers[0] and failures < ZERO_BACKOFF.attempts:
                failures += 1
                raise Refused(500, "internal error")
            return get_one(campaign, number)

        book.get_one = fail_the_first_number  # type: ignore[method-assign]
        fake.enqueue_fault(None, effect=True)  # linked, answer lost
        report = await session.link_many(CAMPAIGN, numbers, batch_size=4)
        assert_each_number_once_and_ok(report, numbers)
        assert report.counts == {"already": 4}
        # numbers[0] is sent again alone after its GET failed: "already" settles it.
        assert report[numbers[0]].attempts == 2 + ZERO_BACKOFF.attempts + 1
        assert [o.attempts for o in report][1:] == [3] * 3
        assert posts(fake) == 3


# ---------------------------------------------------------------------------------------------
# The campaign read: only as far as the job earned it, once per job at most.


async def test_a_rerun_of_a_small_campaign_reads_it_once_and_sends_one_batch() -> None:
    async with big_campaign(prelink=0, concurrency=1) as (fake, session):
        numbers = new(300)
        first = await session.link_many(CAMPAIGN, numbers, batch_size=50)
        assert first.ok
        fake.clear_requests()
        again = await session.link_many(CAMPAIGN, numbers, batch_size=50)
        assert_each_number_once_and_ok(again, numbers)
        assert again.counts == {"already": 300}
        # One refused batch earns 17 pages: the 16 of the campaign (the last one empty).
        assert posts(fake) == 1
        assert listings(fake) == 1
        assert again.requests == len(fake.requests) == 1 + 16


async def test_a_rerun_on_a_server_ignoring_paging_reads_the_list_twice_at_most() -> None:
    async with big_campaign(prelink=0, concurrency=1, ignore_paging=True) as (fake, session):
        numbers = new(200)
        assert (await session.link_many(CAMPAIGN, numbers, batch_size=50)).ok
        fake.clear_requests()
        again = await session.link_many(CAMPAIGN, numbers, batch_size=50)
        assert_each_number_once_and_ok(again, numbers)
        # The second page adds nothing new: the read ends there.
        assert again.requests == len(fake.requests) == 1 + 2


async def test_a_partly_read_campaign_settles_the_numbers_it_lists() -> None:
    async with big_campaign(concurrency=1) as (fake, session):
        numbers = [*linked(3, 0), *new(27)]  # listed by the campaign's first page
        report = await session.link_many(CAMPAIGN, numbers, batch_size=30)
        assert_each_number_once_and_ok(report, numbers)
        assert report.counts == {"already": 3, "accepted": 27}
        assert {report[n].status for n in numbers[:3]} == {LinkStatus.COMPLETED}
        # 10 pages earned and read; the 27 others sent again once.
        assert posts(fake) == 2
        assert report.requests == len(fake.requests) == 2 + 10


async def test_an_error_naming_every_number_settles_the_batch_without_more_requests() -> None:
    async with big_campaign(prelink=0, concurrency=1) as (fake, session):
        numbers = new(2)
        text = f"The numbers {numbers[0]} and {numbers[1]} are already requested for linking"
        fake.enqueue_fault(400, body=json.dumps({"api_id": "e", "error": text}))
        fake.enqueue_fault(500, count=ZERO_BACKOFF.attempts)  # the campaign cannot be read
        report = await session.link_many(CAMPAIGN, numbers, batch_size=2)
        assert_each_number_once_and_ok(report, numbers)
        assert report.counts == {"already": 2}
        assert posts(fake) == 1
        assert report.requests == len(fake.requests) == 1 + ZERO_BACKOFF.attempts
