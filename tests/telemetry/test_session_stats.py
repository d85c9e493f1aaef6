"""session.stats(): a frozen snapshot of the session's traffic, with or without telemetry."""

from __future__ import annotations

import asyncio

import attrs
import pytest

import plivo_numlink as pn
from plivo_numlink import NumLinkSession
from plivo_numlink.testing import FakePlivo

from .conftest import FAST_RETRY


def make(fake: FakePlivo, **options: object) -> NumLinkSession:
    options.setdefault("rate_limit", None)
    options.setdefault("retry", FAST_RETRY)
    return NumLinkSession(fake.auth_id, fake.auth_token, base_url=fake.base_url, **options)


async def test_a_new_session_has_sent_nothing(fake_plivo: FakePlivo) -> None:
    async with make(fake_plivo, rate_limit=50) as session:
        assert session.stats() == pn.SessionStats(
            requests=0,
            retries=0,
            throttled=0,
            errors=0,
            in_flight=0,
            rate=50.0,
            ceiling=None,
            retry_tokens=session.retry_quota.capacity,
        )


async def test_stats_count_requests_retries_429s_and_errors(fake_plivo: FakePlivo) -> None:
    fake_plivo.enqueue_fault(503)
    fake_plivo.enqueue_fault(429, retry_after=0)
    fake_plivo.enqueue_fault(None)
    retry = pn.RetryPolicy(attempts=4, wait_initial=0, wait_max=0)
    async with make(fake_plivo, retry=retry) as session:
        await session.link("CUOGHIN", "12125557777")
        with pytest.raises(pn.NotFoundError):
            await session.get_number("CUOGHIN", "12125557778")
        stats = session.stats()
    assert stats.requests == 5 == len(fake_plivo.requests)
    assert stats.retries == 3  # after the 503, the 429 and the dropped connection
    assert stats.throttled == 1
    assert stats.errors == 4  # 503, 429, no answer, 404
    assert stats.in_flight == 0
    assert stats.rate is None
    assert stats.ceiling is None
    # 503 and the dropped connection cost 3 tokens each; the 202 and the 404 refund 1 each.
    assert stats.retry_tokens == session.retry_quota.capacity - 6 + 2


async def test_in_flight_counts_the_requests_being_sent(fake_plivo: FakePlivo) -> None:
    async with make(fake_plivo) as session:
        fake_plivo.pause()
        task = asyncio.ensure_future(session.link("CUOGHIN", "12125557777"))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if session.stats().in_flight:
                break
        assert session.stats().in_flight == 1
        fake_plivo.resume()
        await task
        assert session.stats().in_flight == 0


async def test_stats_are_frozen(fake_plivo: FakePlivo) -> None:
    async with make(fake_plivo) as session:
        stats = session.stats()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.requests = 3  # type: ignore[misc]
