"""What resolving "already linked" costs a link job on a large campaign (issue 11, item 1).

A FakePlivo campaign holds 20,000 linked numbers. A job that meets "already requested" must
learn which of its numbers are linked at the job's scale, not the campaign's: these tests
pin the bounds of the README's cost rule (``plivo_numlink._bulk._ambiguity``).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from plivo_numlink import BulkReport, NumLinkSession, OutcomeKind, RetryPolicy
from plivo_numlink.testing import FakePlivo, generated_numbers

CAMPAIGN = "CUOGHIN"
LINKED = 20_000
#: Retries that never sleep: these tests are about how often, not how long.
ZERO_BACKOFF = RetryPolicy(attempts=8, wait_initial=0, wait_max=0)


@contextlib.asynccontextmanager
async def big_campaign(**fake_options: Any) -> AsyncIterator[tuple[FakePlivo, NumLinkSession]]:
    """A FakePlivo whose campaign holds ``LINKED`` numbers, and a session on it."""
    async with contextlib.AsyncExitStack() as stack:
        fake = await stack.enter_async_context(
            FakePlivo(campaigns=[CAMPAIGN], prelink=LINKED, **fake_options)
        )
        session = await stack.enter_async_context(
            NumLinkSession(
                fake.auth_id,
                fake.auth_token,
                base_url=fake.base_url,
                rate_limit=None,
                retry=ZERO_BACKOFF,
            )
        )
        yield fake, session


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
        print("REQUESTS", report.requests, len(fake.requests), report.counts)
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
        print("REQUESTS", report.requests, len(fake.requests), report.counts)
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
        print("REQUESTS", report.requests, len(fake.requests), report.counts)
        assert report.requests <= 450
        # aiohttp may resend a dropped GET on its own: the fake then sees it twice.
        assert len(fake.requests) <= 450
        # Every link POST is accounted for: none was sent twice for a settled number.
        posted = Counter(n for r in fake.requests if r.method == "POST" for n in r.body["numbers"])
        assert set(posted) == set(numbers)
