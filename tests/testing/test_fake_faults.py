"""FakePlivo's faults: the rate limit and concurrency cap, random errors and drops, and
faults queued by a test.

Every test talks to the fake over a real 127.0.0.1 socket with a plain aiohttp session.
"""

from __future__ import annotations

import asyncio
import io
import logging

import aiohttp
import pytest
from _fake_client import (
    CAMPAIGN,
    N1,
    Clock,
    serving,
    until,
)

from plivo_numlink.testing import (
    FakePlivo,
    basic_auth_header,
)

# ------------------------------------------------------------------------------------------
# Rate limit and concurrency cap


async def test_rate_limit_answers_429_with_seconds_until_a_slot_frees() -> None:
    clock = Clock()
    async with serving(rate_limit=2, rate_window=1.0, clock=clock) as api:
        statuses = [(await api.list()).status for _ in range(2)]
        clock.now += 0.25
        limited = await api.list()
    assert statuses == [200, 200]
    assert limited.status == 429
    assert limited.body["error"] == "Too many requests"
    assert limited.body["api_id"]
    assert limited.headers["Retry-After"] == "0.75"


async def test_rate_limit_window_slides() -> None:
    clock = Clock()
    async with serving(rate_limit=2, rate_window=1.0, clock=clock) as api:
        await api.list()
        clock.now += 0.5
        await api.list()
        clock.now += 0.5
        third = await api.list()
        fourth = await api.list()
    assert third.status == 200
    assert fourth.status == 429
    assert fourth.headers["Retry-After"] == "0.5"


async def test_rejected_requests_do_not_count_against_the_window() -> None:
    clock = Clock()
    async with serving(rate_limit=1, rate_window=1.0, clock=clock) as api:
        await api.list()
        rejected = [(await api.list()).status for _ in range(5)]
        clock.now += 1.0
        after = await api.list()
    assert rejected == [429] * 5
    assert after.status == 200


async def test_rate_limit_without_retry_after() -> None:
    async with serving(rate_limit=1, rate_window=60, retry_after=None) as api:
        await api.list()
        limited = await api.list()
    assert limited.status == 429
    assert "Retry-After" not in limited.headers


async def test_rate_limit_with_a_fixed_retry_after() -> None:
    async with serving(rate_limit=1, rate_window=60, retry_after=2.5) as api:
        await api.list()
        limited = await api.list()
    assert limited.headers["Retry-After"] == "2.5"


async def test_unauthenticated_requests_do_not_use_the_rate_limit() -> None:
    async with serving(rate_limit=1, rate_window=60) as api:
        await api.request("GET", api.url(), auth=None)
        answer = await api.list()
    assert answer.status == 200


async def test_requests_beyond_max_concurrent_get_429() -> None:
    async with serving(max_concurrent=2) as api:
        fake = api.fake
        fake.pause()
        held = [asyncio.create_task(api.list()) for _ in range(2)]
        await until(lambda: fake.in_flight == 2)
        refused = await api.list()
        fake.resume()
        answers = await asyncio.gather(*held)
    assert refused.status == 429
    assert "Retry-After" not in refused.headers
    assert [a.status for a in answers] == [200, 200]


async def test_max_concurrency_is_the_peak_of_requests_in_flight() -> None:
    async with serving() as api:
        fake = api.fake
        fake.pause()
        held = [asyncio.create_task(api.list()) for _ in range(3)]
        await until(lambda: fake.in_flight == 3)
        fake.resume()
        await asyncio.gather(*held)
        assert fake.max_concurrency == 3
        assert fake.in_flight == 0
        fake.reset_max_concurrency()
        await api.list()
        assert fake.max_concurrency == 1


# ------------------------------------------------------------------------------------------
# Random faults


async def _statuses(seed: int, count: int = 40) -> list[int]:
    async with serving(seed=seed, error_rates={500: 0.1, 503: 0.2}) as api:
        return [(await api.list()).status for _ in range(count)]


async def test_error_rates_are_repeatable_under_a_seed() -> None:
    first = await _statuses(seed=7)
    second = await _statuses(seed=7)
    assert first == second
    assert {200, 500, 503} <= set(first)
    assert await _statuses(seed=8) != first


async def test_error_rate_answers_are_json_errors() -> None:
    async with serving(error_rates={502: 1.0}) as api:
        fake = api.fake
        answer = await api.link(N1)
        assert answer.status == 502
        assert set(answer.body) == {"api_id", "error"}
        assert fake.numbers(CAMPAIGN) == {}


async def test_drop_rate_closes_the_connection_before_any_effect() -> None:
    async with serving(drop_rate=1.0) as api:
        fake = api.fake
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.link(N1)
        assert fake.numbers(CAMPAIGN) == {}
        assert fake.requests[-1].status is None


async def test_drop_response_rate_loses_the_answer_after_the_effect() -> None:
    async with serving(drop_response_rate=1.0) as api:
        fake = api.fake
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.link(N1)
        assert fake.numbers(CAMPAIGN) == {N1: "PROCESSING"}


async def test_latency_range_still_answers() -> None:
    async with serving(latency=(0.001, 0.002)) as api:
        answer = await api.list()
    assert answer.status == 200


async def test_dropped_connections_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiohttp"):
        async with serving(drop_rate=1.0) as api:
            for _ in range(3):
                with pytest.raises(aiohttp.ClientConnectionError):
                    await api.list()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# ------------------------------------------------------------------------------------------
# Queued faults


async def test_enqueued_fault_answers_the_next_requests_then_stops() -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(503, count=2, retry_after=1.5)
        answers = [await api.list() for _ in range(3)]
    assert [a.status for a in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "1.5"
    assert set(answers[0].body) == {"api_id", "error"}


async def test_enqueued_fault_may_send_a_retry_after_text_as_is() -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
        answer = await api.list()
    assert answer.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"


async def test_enqueued_fault_may_drop_the_connection() -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(None)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.link(N1)
        assert fake.numbers(CAMPAIGN) == {}
        assert (await api.link(N1)).status == 202


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body>Bad Gateway</body></html>", "text/html"),
        (b"", None),
        ('{"api_id": "x", "err', None),
    ],
)
async def test_enqueued_fault_may_send_any_body(
    body: str | bytes, content_type: str | None
) -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(502, body=body, content_type=content_type)
        async with api.session.get(
            api.url(), headers={"Authorization": basic_auth_header(fake.auth_id, fake.auth_token)}
        ) as response:
            raw = await response.read()
            kind = response.headers.get("Content-Type", "")
    assert raw == (body.encode() if isinstance(body, str) else body)
    assert kind.startswith(content_type or "application/json")


async def test_enqueued_fault_with_effect_changes_state_but_not_the_answer() -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(None, effect=True)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.link(N1)
        assert fake.numbers(CAMPAIGN) == {N1: "PROCESSING"}


async def test_unauthenticated_requests_do_not_consume_queued_faults() -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(500)
        refused = await api.request("GET", api.url(), auth=None)
        faulted = await api.list()
    assert refused.status == 401
    assert faulted.status == 500


async def test_enqueued_fault_body_may_carry_a_retry_after() -> None:
    async with serving() as api:
        api.fake.enqueue_fault(429, body="slow down", content_type="text/plain", retry_after=3)
        auth = basic_auth_header(api.fake.auth_id, api.fake.auth_token)
        async with api.session.get(api.url(), headers={"Authorization": auth}) as response:
            text = await response.text()
    assert response.status == 429
    assert response.headers["Retry-After"] == "3"
    assert text == "slow down"


@pytest.mark.parametrize(("status", "text"), [(418, "I'm a Teapot"), (599, "error")])
async def test_fault_with_an_unusual_status_still_answers_json(status: int, text: str) -> None:
    async with serving() as api:
        api.fake.enqueue_fault(status)
        answer = await api.list()
    assert answer.status == status
    assert answer.body["error"] == text


async def test_too_large_body_gets_413() -> None:
    async with serving() as api:
        answer = await api.request("POST", api.url(), data=io.BytesIO(b"x" * (1024**2 + 1)))
    assert answer.status == 413


def test_enqueue_fault_needs_a_positive_count() -> None:
    with pytest.raises(ValueError):
        FakePlivo().enqueue_fault(500, count=0)
