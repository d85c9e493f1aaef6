"""Metrics: request durations, retries, pacing, bulk outcomes, callbacks; bounded
attributes (no number, account or campaign id in any)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from plivo_numlink import NumLinkSession
from plivo_numlink._telemetry import record_callback
from plivo_numlink.testing import FakePlivo

from .conftest import FAST_RETRY, Recorded

CAMPAIGN = "CUOGHIN"


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"1212555{n:04d}" for n in range(start, start + count)]


async def test_the_duration_histogram_counts_every_request_the_server_received(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    fake.enqueue_fault(503)
    fake.enqueue_fault(500)
    await session.link_many(CAMPAIGN, numbers(25), batch_size=4)
    await session.unlink_many(CAMPAIGN, numbers(3))
    await session.list_numbers(CAMPAIGN)
    points = otel.points("http.client.request.duration")
    assert sum(point.count for point in points) == len(fake.requests)
    by_status = Counter[object]()
    for point in points:
        by_status[point.attributes.get("http.response.status_code")] += point.count
    assert by_status[503] == 1
    assert by_status[500] == 1


async def test_the_duration_histogram_has_the_conventional_attributes(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    fake.enqueue_fault(503)
    await session.link(CAMPAIGN, numbers(1))
    port = int(fake.base_url.rsplit(":", 1)[1])
    attributes = sorted(
        (dict(point.attributes) for point in otel.points("http.client.request.duration")),
        key=lambda a: a["http.response.status_code"],
    )
    common = {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.template": "/v1/Account/{auth_id}/10dlc/Campaign/{campaign_id}/Number/",
    }
    assert attributes == [
        {**common, "http.response.status_code": 202},
        {**common, "http.response.status_code": 503, "error.type": "503"},
    ]


async def test_the_outcome_counter_equals_the_reports_counts(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    fake.invalid_numbers = frozenset(numbers(2, start=3))
    given = [*numbers(12), "not a number", numbers(1)[0]]
    report = await session.link_many(CAMPAIGN, given, batch_size=5)
    counted = {
        point.attributes["plivo_numlink.outcome"]: point.value
        for point in otel.points("plivo_numlink.bulk.outcomes")
    }
    assert counted == report.counts
    assert len(counted) > 1
    assert {
        point.attributes["plivo_numlink.operation"]
        for point in otel.points("plivo_numlink.bulk.outcomes")
    } == {"link"}


async def test_the_outcome_counter_counts_the_outcomes_after_the_wait(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    report = await session.unlink_many(CAMPAIGN, numbers(4), wait=True, poll_interval=0)
    counted = {
        point.attributes["plivo_numlink.outcome"]: point.value
        for point in otel.points("plivo_numlink.bulk.outcomes")
    }
    assert counted == report.counts
    assert {
        point.attributes["plivo_numlink.operation"]
        for point in otel.points("plivo_numlink.bulk.outcomes")
    } == {"unlink"}


async def test_an_iterated_run_counts_its_outcomes_once_it_ends(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    run = session.iter_link(CAMPAIGN, [*numbers(9), "bad"], batch_size=4)
    async for _ in run:
        pass
    counted = {
        point.attributes["plivo_numlink.outcome"]: point.value
        for point in otel.points("plivo_numlink.bulk.outcomes")
    }
    assert counted == run.report().counts == {"accepted": 9, "invalid": 1}


async def test_retries_are_counted_by_the_failures_error_type(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    fake.enqueue_fault(503)
    fake.enqueue_fault(None)
    await session.link(CAMPAIGN, numbers(1))
    retries = {
        point.attributes["error.type"]: point.value
        for point in otel.points("plivo_numlink.retries")
    }
    assert retries == {"503": 1, "TransportError": 1}


async def test_pacing_records_each_attempts_wait_and_the_rate_after_a_429(
    fake: FakePlivo, otel: Recorded
) -> None:
    now = [0.0]

    async def sleep(delay: float) -> None:
        now[0] += max(0.0, delay)
        await asyncio.sleep(0)

    async with NumLinkSession(
        fake.auth_id,
        fake.auth_token,
        base_url=fake.base_url,
        rate_limit=10,
        retry=FAST_RETRY,
        sleep=sleep,
        clock=lambda: now[0],
        concurrency=1,
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
    ) as session:
        await session.unlink_many(CAMPAIGN, numbers(5))
        (delays,) = otel.points("plivo_numlink.pacing.delay")
        assert delays.count == 5
        assert delays.sum == pytest.approx(0.4)  # 0, then 0.1 s for each start after the first
        span_delays = sorted(
            span.attributes["plivo_numlink.pacing.delay"]
            for span in otel.spans()
            if span.attributes and "plivo_numlink.pacing.delay" in span.attributes
        )
        assert span_delays == pytest.approx([0.0, 0.1, 0.1, 0.1, 0.1])
        for _ in range(30):
            fake.enqueue_fault(429, retry_after=0)
        await session.unlink_many(CAMPAIGN, numbers(30, start=100))
        (rate,) = otel.points("plivo_numlink.pacing.rate")
        assert rate.value == session.current_rate < 10


async def test_no_metric_attribute_holds_a_number_an_account_or_a_campaign_id(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    fake.enqueue_fault(503)
    await session.link_many(CAMPAIGN, numbers(10), batch_size=3, wait=True, poll_interval=0)
    await session.get_number(CAMPAIGN, numbers(1)[0])
    record_callback(otel.meter_provider, "link", 200)
    forbidden = [CAMPAIGN, fake.auth_id, *numbers(10)]
    names = set()
    for name, point in otel.all_points():
        names.add(name)
        for key, value in point.attributes.items():
            assert not any(word in f"{key}={value}" for word in forbidden), (name, key, value)
    assert {"http.client.request.duration", "plivo_numlink.bulk.outcomes"} <= names


def test_record_callback_counts_by_kind_and_status(otel: Recorded) -> None:
    record_callback(otel.meter_provider, "link", 200)
    record_callback(otel.meter_provider, "link", 200)
    record_callback(otel.meter_provider, "unlink", 200)
    record_callback(otel.meter_provider, None, 403)
    counted = {
        tuple(sorted(point.attributes.items())): point.value
        for point in otel.points("plivo_numlink.callbacks")
    }
    assert counted == {
        (("http.response.status_code", 200), ("plivo_numlink.callback.kind", "link")): 2,
        (("http.response.status_code", 200), ("plivo_numlink.callback.kind", "unlink")): 1,
        (("http.response.status_code", 403),): 1,
    }


def test_record_callback_without_a_provider_records_nothing_and_does_not_fail() -> None:
    record_callback(None, "link", 200)  # the global provider: a no-op without an SDK
