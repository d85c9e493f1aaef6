"""Spans: one INTERNAL span per public call, one CLIENT span per HTTP attempt under it,
by the OpenTelemetry HTTP client conventions, with no number or secret anywhere."""

from __future__ import annotations

import asyncio
import base64
import re

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from plivo_numlink import NotFoundError, NumLinkSession
from plivo_numlink.testing import FakePlivo

from .conftest import Recorded

CAMPAIGN = "CUOGHIN"
NUMBER = "12125557777"
LINK_SPAN = "POST /v1/Account/{auth_id}/10dlc/Campaign/{campaign_id}/Number/"
NUMBER_SPAN = "{} /v1/Account/{{auth_id}}/10dlc/Campaign/{{campaign_id}}/Number/{{number}}/"


def attempts(otel: Recorded) -> list[ReadableSpan]:
    return [span for span in otel.spans() if span.kind is SpanKind.CLIENT]


async def test_a_retried_call_is_one_call_span_over_two_attempt_spans(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    fake.enqueue_fault(503)
    await session.link(CAMPAIGN, NUMBER)
    call = otel.span("plivo_numlink.link")
    first, second = sorted(attempts(otel), key=lambda span: span.start_time or 0)
    assert call.kind is SpanKind.INTERNAL
    assert call.attributes is not None
    assert call.attributes["plivo_numlink.campaign_id"] == CAMPAIGN
    for attempt in (first, second):
        assert attempt.name == LINK_SPAN
        assert attempt.parent is not None
        assert attempt.parent.span_id == call.context.span_id
        assert attempt.context.trace_id == call.context.trace_id
    assert first.attributes is not None
    assert second.attributes is not None
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.request.resend_count"] == 1
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["http.response.status_code"] == 202
    assert "error.type" not in second.attributes
    assert second.status.status_code is StatusCode.UNSET
    assert call.status.status_code is StatusCode.UNSET


async def test_an_attempt_span_has_the_http_client_attributes_with_url_full_redacted(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    await session.link(CAMPAIGN, NUMBER)
    await session.get_number(CAMPAIGN, NUMBER)
    get = otel.span(NUMBER_SPAN.format("GET"))
    port = int(fake.base_url.rsplit(":", 1)[1])
    assert get.attributes == {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.template": "/v1/Account/{auth_id}/10dlc/Campaign/{campaign_id}/Number/{number}/",
        "url.full": f"http://127.0.0.1:{port}/v1/Account/REDACTED/10dlc/Campaign/"
        f"{CAMPAIGN}/Number/REDACTED/",
        "http.response.status_code": 200,
    }
    assert otel.span("plivo_numlink.get_number").attributes == {
        "plivo_numlink.campaign_id": CAMPAIGN
    }


async def test_an_attempt_that_got_no_answer_has_the_exception_class_as_error_type(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    fake.enqueue_fault(None)
    await session.link(CAMPAIGN, NUMBER)
    first, second = sorted(attempts(otel), key=lambda span: span.start_time or 0)
    assert first.attributes is not None
    assert first.attributes["error.type"] == "TransportError"
    assert "http.response.status_code" not in first.attributes
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes is not None
    assert second.attributes["http.request.resend_count"] == 1


async def test_a_call_that_fails_has_error_status_and_its_exception_class(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    with pytest.raises(NotFoundError):
        await session.get_number(CAMPAIGN, NUMBER)  # not linked: 404
    call = otel.span("plivo_numlink.get_number")
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes is not None
    assert call.attributes["error.type"] == "NotFoundError"
    assert not call.events  # no exception event: its message could quote the number


async def test_the_list_pages_are_attempts_under_one_list_numbers_span(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    await session.link(CAMPAIGN, [f"1212555{n:04d}" for n in range(45)])
    otel.exporter.clear()
    await session.list_numbers(CAMPAIGN)
    call = otel.span("plivo_numlink.list_numbers")
    pages = attempts(otel)
    assert len(pages) == 3
    assert {span.name for span in pages} == {"GET " + LINK_SPAN.split(" ", 1)[1]}
    assert all(
        span.parent is not None and span.parent.span_id == call.context.span_id for span in pages
    )
    assert pages[0].attributes is not None
    assert str(pages[0].attributes["url.full"]).endswith("?limit=20&offset=0")


async def test_a_bulk_call_span_is_the_parent_of_every_attempt_and_counts_at_its_end(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    numbers = [f"1212555{n:04d}" for n in range(30)] + ["not a number"]
    report = await session.link_many(CAMPAIGN, numbers, batch_size=10, wait=True, poll_interval=0)
    call = otel.span("plivo_numlink.link_many")
    children = attempts(otel)
    assert len(children) == report.requests
    assert all(
        span.parent is not None and span.parent.span_id == call.context.span_id for span in children
    )
    assert call.attributes is not None
    assert call.attributes["plivo_numlink.campaign_id"] == CAMPAIGN
    assert call.attributes["plivo_numlink.number_count"] == len(report) == 31
    assert call.attributes["plivo_numlink.request_count"] == report.requests
    for kind, count in report.counts.items():
        assert call.attributes[f"plivo_numlink.outcome.{kind}"] == count


async def test_an_iterated_bulk_run_has_its_own_span_over_its_attempts(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    numbers = [f"1212555{n:04d}" for n in range(20)]
    async with session.iter_link(CAMPAIGN, numbers, batch_size=5) as run:
        async for _ in run:
            pass
    call = otel.span("plivo_numlink.link_many")
    children = attempts(otel)
    assert len(children) == 4
    assert all(
        span.parent is not None and span.parent.span_id == call.context.span_id for span in children
    )
    assert call.attributes is not None
    assert call.attributes["plivo_numlink.outcome.accepted"] == 20
    assert call.attributes["plivo_numlink.request_count"] == 4


async def test_each_waiting_or_syncing_call_has_its_span(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    numbers = [f"1212555{n:04d}" for n in range(3)]
    await session.sync(CAMPAIGN, numbers)
    await session.wait_for_numbers(CAMPAIGN, numbers, poll_interval=0)
    await session.unlink_many(CAMPAIGN, numbers[:1])
    names = {span.name for span in otel.spans() if span.kind is SpanKind.INTERNAL}
    assert names == {
        "plivo_numlink.sync",
        "plivo_numlink.wait_for_numbers",
        "plivo_numlink.unlink_many",
    }
    wait = otel.span("plivo_numlink.wait_for_numbers")
    assert any(
        span.parent is not None and span.parent.span_id == wait.context.span_id
        for span in attempts(otel)
    )


def _texts(span: ReadableSpan) -> list[str]:
    texts = [span.name, span.status.description or ""]
    for key, value in (span.attributes or {}).items():
        texts += [key, str(value)]
    for event in span.events:
        texts.append(event.name)
        for key, value in (event.attributes or {}).items():
            texts += [key, str(value)]
    return texts


async def test_no_number_or_secret_appears_in_any_span_of_a_bulk_job(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    numbers = [f"+1 (212) 555-{n:04d}" for n in range(40)] + ["555-0000", "+44 20 7946 0958"]
    fake.enqueue_fault(503)
    fake.enqueue_fault(429, retry_after=0)
    fake.enqueue_fault(None)
    await session.link_many(CAMPAIGN, numbers, batch_size=7, wait=True, poll_interval=0)
    await session.unlink_many(CAMPAIGN, numbers[:5])
    await session.get_number(CAMPAIGN, numbers[6])
    authorization = base64.b64encode(f"{fake.auth_id}:{fake.auth_token}".encode()).decode()
    secrets = [fake.auth_id, fake.auth_token, authorization, "Authorization"]
    texts = [text for span in otel.spans() for text in _texts(span)]
    assert len(otel.spans()) > 10
    for text in texts:
        assert not any(secret in text for secret in secrets), text
        # No run of 7 digits or more (every number has 10 or 11; ports have 5 at most).
        assert not re.search(r"\d{7}", re.sub(r"[\s().+\-]", "", text)), text


async def test_a_cancelled_attempt_still_ends_its_span(
    fake: FakePlivo, session: NumLinkSession, otel: Recorded
) -> None:
    fake.pause()
    task = asyncio.ensure_future(session.link(CAMPAIGN, NUMBER))
    for _ in range(400):
        await asyncio.sleep(0.005)
        if session.stats().in_flight:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    fake.resume()
    (attempt,) = attempts(otel)
    assert attempt.attributes is not None
    assert attempt.attributes["error.type"] == "CancelledError"
    assert otel.span("plivo_numlink.link").status.status_code is StatusCode.ERROR
    assert session.stats().in_flight == 0
