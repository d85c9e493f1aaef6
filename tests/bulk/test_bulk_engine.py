"""Bulk operations over real sockets against FakePlivo: link_many, unlink_many, the
streaming runs (iter_link, iter_unlink), wait_for_numbers and sync.

Every test runs a session with zero-backoff retries and no pacing against a FakePlivo on
127.0.0.1 (or, where FakePlivo cannot say it, a few lines of aiohttp server), and checks
both the report and what the server saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from plivo_numlink import (
    BulkReport,
    CampaignNotFoundError,
    LinkStatus,
    NotFoundError,
    NumberOutcome,
    NumLinkSession,
    OutcomeKind,
    RetryPolicy,
)
from plivo_numlink._config import MIN_ERROR_BUDGET
from plivo_numlink.testing import FakePlivo, RecordedRequest

CAMPAIGN = "CUOGHIN"
#: Retries that never sleep: these tests are about how often, not how long.
ZERO_BACKOFF = RetryPolicy(attempts=3, wait_initial=0, wait_max=0)

Start = Callable[..., Awaitable[tuple[FakePlivo, NumLinkSession]]]


def us_numbers(count: int, start: int = 0) -> list[str]:
    """``count`` distinct valid US numbers in wire form (area code 212)."""
    return [f"1212{200 + i // 10_000}{i % 10_000:04d}" for i in range(start, start + count)]


@pytest.fixture
async def plivo() -> AsyncIterator[Start]:
    """Start a FakePlivo (keyword options) and a session on it; both closed afterwards.

    The session has ``concurrency`` 4, zero-backoff retries (3 attempts) and no pacing
    unless ``concurrency``, ``retry`` or ``session_options`` say otherwise.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            *,
            concurrency: int = 4,
            retry: RetryPolicy = ZERO_BACKOFF,
            session_options: dict[str, Any] | None = None,
            **fake_options: Any,
        ) -> tuple[FakePlivo, NumLinkSession]:
            fake = await stack.enter_async_context(FakePlivo(**fake_options))
            options: dict[str, Any] = {
                "auth_id": fake.auth_id,
                "auth_token": fake.auth_token,
                "base_url": fake.base_url,
                "concurrency": concurrency,
                "rate_limit": None,
                "retry": retry,
            }
            options.update(session_options or {})
            session = await stack.enter_async_context(NumLinkSession(**options))
            return fake, session

        yield start


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def custom_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Serve ``handler`` for every path on 127.0.0.1; returns the base URL."""
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@contextlib.asynccontextmanager
async def session_on(base_url: str, **options: Any) -> AsyncIterator[NumLinkSession]:
    options.setdefault("concurrency", 1)
    async with NumLinkSession(
        "MA0123456789ABCDEFGH",
        "token",
        base_url=base_url,
        rate_limit=None,
        retry=ZERO_BACKOFF,
        **options,
    ) as session:
        yield session


def link_posts(fake: FakePlivo) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.method == "POST"]


def list_reads(fake: FakePlivo) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.method == "GET" and r.path.endswith("/Number/")]


def number_reads(fake: FakePlivo) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.method == "GET" and not r.path.endswith("/Number/")]


def listings(fake: FakePlivo) -> int:
    """How many times the campaign was listed (each listing starts at offset 0)."""
    return sum(1 for r in list_reads(fake) if r.query.get("offset", "0") == "0")


def numbers_sent(fake: FakePlivo) -> list[str]:
    """Every number the server received in a link body or an unlink path, with repeats."""
    sent: list[str] = []
    for request in fake.requests:
        if request.method == "POST" and isinstance(request.body, dict):
            sent.extend(request.body["numbers"])
        elif request.method == "DELETE":
            sent.append(request.path.rstrip("/").rsplit("/", 1)[-1])
    return sent


def kinds(report: BulkReport) -> dict[str, int]:
    return report.counts


async def until(condition: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Let the loop run (1 ms steps) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.001)


def job_tasks(before: set[asyncio.Task[Any]]) -> list[str]:
    """Pending tasks created since ``before`` that belong to the client side.

    The fake server's own tasks (aiohttp's ``RequestHandler``) are left out: a handler
    sleeping out the fake's latency is the server's business, not the job's.
    """
    names = []
    for task in asyncio.all_tasks() - before:
        if task.done() or task is asyncio.current_task():
            continue
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", repr(coro))
        if not name.startswith("RequestHandler."):
            names.append(name)
    return names


# =============================================================================================
# 1. Input, laziness, and the session's gates


async def test_link_many_returns_a_report_with_one_accepted_outcome_per_number(
    plivo: Start,
) -> None:
    fake, session = await plivo()
    numbers = us_numbers(7)
    report = await session.link_many(CAMPAIGN, numbers, batch_size=3)
    assert isinstance(report, BulkReport)
    assert [o.number for o in report] == numbers
    assert all(o.kind is OutcomeKind.ACCEPTED and o.action == "link" for o in report)
    assert all(o.attempts == 1 and o.api_id for o in report)
    assert report.ok
    assert (report.action, report.campaign_id) == ("link", CAMPAIGN)
    assert fake.numbers(CAMPAIGN) == dict.fromkeys(numbers, "PROCESSING")


async def test_unlink_many_returns_a_report_with_one_accepted_outcome_per_number(
    plivo: Start,
) -> None:
    fake, session = await plivo()
    numbers = us_numbers(5)
    for number in numbers:
        fake.set_status(CAMPAIGN, number, "COMPLETED")
    report = await session.unlink_many(CAMPAIGN, numbers)
    assert [o.number for o in report] == numbers
    assert all(o.kind is OutcomeKind.ACCEPTED and o.action == "unlink" for o in report)
    assert report.ok
    assert sorted(r.method for r in fake.requests) == ["DELETE"] * 5
    assert sorted(numbers_sent(fake)) == numbers


async def test_link_many_reads_an_async_iterable(plivo: Start) -> None:
    fake, session = await plivo()

    async def source() -> AsyncIterator[str]:
        for number in us_numbers(4):
            await asyncio.sleep(0)
            yield number

    report = await session.link_many(CAMPAIGN, source(), batch_size=2)
    assert [o.number for o in report] == us_numbers(4)
    assert report.ok
    assert len(link_posts(fake)) == 2


async def test_link_many_takes_a_single_string_as_one_number(plivo: Start) -> None:
    fake, session = await plivo()
    report = await session.link_many(CAMPAIGN, "+1 212-555-7777")
    assert [o.number for o in report] == ["12125557777"]
    assert numbers_sent(fake) == ["12125557777"]


async def test_link_many_refuses_numbers_that_are_not_iterable(plivo: Start) -> None:
    fake, session = await plivo()
    with pytest.raises(TypeError, match="iterable"):
        await session.link_many(CAMPAIGN, 12125557777)  # type: ignore[arg-type]
    assert fake.requests == []


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.5, "10"])
async def test_link_many_refuses_a_bad_batch_size_before_sending(
    plivo: Start, batch_size: Any
) -> None:
    fake, session = await plivo()
    with pytest.raises(ValueError, match="batch_size"):
        await session.link_many(CAMPAIGN, us_numbers(2), batch_size=batch_size)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("campaign", "url", "method"),
    [
        ("CUOG/HIN", None, None),
        ("", None, None),
        (CAMPAIGN, "ftp://example.com/cb", None),
        (CAMPAIGN, "https://example.com/cb", "PUT"),
    ],
)
async def test_bulk_calls_refuse_bad_campaign_or_callback_before_sending(
    plivo: Start, campaign: str, url: str | None, method: str | None
) -> None:
    fake, session = await plivo()
    with pytest.raises(ValueError):
        await session.link_many(campaign, us_numbers(2), url=url, method=method)
    with pytest.raises(ValueError):
        await session.unlink_many(campaign, us_numbers(2), url=url, method=method)
    assert fake.requests == []


async def test_link_many_puts_the_callback_url_and_method_in_every_batch(plivo: Start) -> None:
    fake, session = await plivo(send_callbacks=False)
    await session.link_many(
        CAMPAIGN, us_numbers(4), batch_size=2, url="https://example.com/cb", method="get"
    )
    bodies = [r.body for r in link_posts(fake)]
    assert len(bodies) == 2
    assert all(b["url"] == "https://example.com/cb" and b["method"] == "GET" for b in bodies)


async def test_unlink_many_puts_the_callback_in_each_delete_body(plivo: Start) -> None:
    fake, session = await plivo(send_callbacks=False)
    for number in us_numbers(2):
        fake.set_status(CAMPAIGN, number, "COMPLETED")
    await session.unlink_many(CAMPAIGN, us_numbers(2), url="https://example.com/cb")
    assert [r.body for r in fake.requests] == [{"url": "https://example.com/cb"}] * 2


async def test_input_is_read_only_a_bounded_distance_ahead_of_what_the_server_has_seen(
    plivo: Start,
) -> None:
    concurrency, batch = 4, 10
    fake, session = await plivo(concurrency=concurrency)
    leads: list[int] = []
    seen = {"requests": 0, "numbers": 0}

    def numbers_seen_by_server() -> int:
        for request in fake.requests[seen["requests"] :]:
            seen["numbers"] += len(request.body["numbers"])
        seen["requests"] = len(fake.requests)
        return seen["numbers"]

    def source() -> Iterator[str]:
        for read, number in enumerate(us_numbers(3000)):
            leads.append(read - numbers_seen_by_server())
            yield number

    report = await session.link_many(CAMPAIGN, source(), batch_size=batch)
    assert len(report) == 3000
    assert report.ok
    # At most one batch per worker in flight, plus the batch being filled.
    assert max(leads) <= (concurrency + 1) * batch


async def test_open_tasks_stay_bounded_by_concurrency_over_a_20000_number_input(
    plivo: Start,
) -> None:
    concurrency = 4
    _fake, session = await plivo(concurrency=concurrency)
    baseline = len(asyncio.all_tasks())
    samples: list[int] = []
    report = await session.link_many(
        CAMPAIGN,
        (number for number in us_numbers(20_000)),
        batch_size=10,
        on_outcome=lambda _: samples.append(len(asyncio.all_tasks())),
    )
    assert len(report) == 20_000
    assert report.ok
    assert len(samples) == 20_000
    # The job's workers, plus the fake server's two tasks per open connection (the
    # session opens at most `concurrency` connections): nothing grows with the input.
    assert max(samples) - baseline <= 3 * concurrency


async def test_requests_in_flight_never_exceed_the_session_concurrency(plivo: Start) -> None:
    fake, session = await plivo(concurrency=3)
    fake.pause()
    job = asyncio.create_task(session.unlink_many(CAMPAIGN, us_numbers(12)))
    await until(lambda: fake.in_flight == 3)
    for _ in range(50):  # every chance for a fourth request to start
        await asyncio.sleep(0)
    assert fake.in_flight == 3
    fake.resume()
    report = await job
    assert len(report) == 12
    assert fake.max_concurrency == 3


async def test_requests_are_spaced_by_the_session_rate_limiter(plivo: Start) -> None:
    waits: list[float] = []

    async def record_wait(delay: float) -> None:
        waits.append(delay)
        await asyncio.sleep(0)

    fake, session = await plivo(
        concurrency=1, session_options={"rate_limit": 10.0, "sleep": record_wait}
    )
    await session.unlink_many(CAMPAIGN, us_numbers(5))
    assert len(fake.requests) == 5
    # The first request starts at once; each later one waits for its slot at 10/s.
    assert len(waits) == 4
    assert waits[-1] == pytest.approx(0.4, abs=0.05)


async def test_bulk_requests_are_retried_by_the_session_retry_policy(plivo: Start) -> None:
    fake, session = await plivo()
    fake.enqueue_fault(503, count=2)
    report = await session.link_many(CAMPAIGN, us_numbers(3), batch_size=10)
    assert report.ok
    assert [o.attempts for o in report] == [3, 3, 3]
    assert report.requests == len(fake.requests) == 3


async def test_a_unit_failing_every_retry_is_an_error_with_its_status(plivo: Start) -> None:
    fake, session = await plivo(concurrency=1)
    fake.enqueue_fault(503, count=3)
    report = await session.unlink_many(CAMPAIGN, us_numbers(2))
    first, second = report.outcomes
    assert first.kind is OutcomeKind.ERROR
    assert not first.ok
    assert (first.status_code, first.attempts) == (503, 3)
    assert first.error is not None
    assert "503" in first.error
    assert second.kind is OutcomeKind.ALREADY  # not linked: the desired state holds
    assert report.stopped_reason is None


# =============================================================================================
# 2. Local validation and duplicates


async def test_invalid_numbers_are_reported_invalid_and_never_sent(plivo: Start) -> None:
    fake, session = await plivo()
    entries = [us_numbers(1)[0], "555-0100", "+44 20 7946 0958", "", "1212555777x"]
    report = await session.link_many(CAMPAIGN, entries)
    assert [o.number for o in report] == entries
    assert report[entries[0]].kind is OutcomeKind.ACCEPTED
    for entry in entries[1:]:
        outcome = report.outcomes[entries.index(entry)]
        assert outcome.kind is OutcomeKind.INVALID
        assert not outcome.ok
        assert outcome.attempts == 0
        assert outcome.error
    assert "not a valid US number" in (report.outcomes[1].error or "")
    assert "empty" in (report.outcomes[3].error or "")
    assert "other than digits" in (report.outcomes[4].error or "")
    assert numbers_sent(fake) == [entries[0]]


async def test_an_entry_that_is_not_a_string_is_invalid_and_hides_no_real_number(
    plivo: Start,
) -> None:
    fake, session = await plivo()
    report = await session.link_many(CAMPAIGN, [12125557777, "12125557777"])  # type: ignore[list-item]
    invalid, real = report.outcomes
    assert invalid.kind is OutcomeKind.INVALID
    assert invalid.number == "int(12125557777)"
    assert invalid.error is not None
    assert "must be a string" in invalid.error
    assert real.kind is OutcomeKind.ACCEPTED
    assert numbers_sent(fake) == ["12125557777"]


async def test_duplicates_after_normalization_are_sent_once_and_reported_once(
    plivo: Start,
) -> None:
    fake, session = await plivo()
    entries = ["+1 212-555-7777", "12125557777", us_numbers(1)[0], "(212) 555-7777"]
    report = await session.link_many(CAMPAIGN, entries)
    assert [o.number for o in report] == ["12125557777", us_numbers(1)[0]]
    assert report.duplicates == 2
    assert sorted(numbers_sent(fake)) == sorted(["12125557777", us_numbers(1)[0]])


async def test_unlink_many_sends_a_repeated_number_once(plivo: Start) -> None:
    fake, session = await plivo()
    fake.set_status(CAMPAIGN, "12125557777", "COMPLETED")
    report = await session.unlink_many(CAMPAIGN, ["12125557777", "+1 (212) 555-7777"])
    assert len(report) == 1
    assert report.duplicates == 1
    assert numbers_sent(fake) == ["12125557777"]


async def test_a_repeated_invalid_entry_is_reported_once(plivo: Start) -> None:
    _, session = await plivo()
    report = await session.link_many(CAMPAIGN, ["nope", "nope"])
    assert [o.number for o in report] == ["nope"]
    assert report.duplicates == 1


# =============================================================================================
# 3. Batching, splitting and bisection


async def test_link_sends_batch_size_numbers_per_request(plivo: Start) -> None:
    fake, session = await plivo()
    report = await session.link_many(CAMPAIGN, us_numbers(25), batch_size=10)
    assert report.ok
    assert sorted(len(r.body["numbers"]) for r in link_posts(fake)) == [5, 10, 10]
    assert sorted(numbers_sent(fake)) == us_numbers(25)


async def test_a_number_named_by_a_batch_error_is_settled_alone_and_the_rest_resent(
    plivo: Start,
) -> None:
    bad = us_numbers(20)[13]
    fake, session = await plivo(invalid_numbers=[bad])
    report = await session.link_many(CAMPAIGN, us_numbers(20), batch_size=10)
    rejected = report[bad]
    assert rejected.kind is OutcomeKind.REJECTED
    assert not rejected.ok
    assert rejected.status_code == 400
    assert rejected.error is not None
    assert "not a valid number" in rejected.error
    assert all(o.kind is OutcomeKind.ACCEPTED for o in report if o.number != bad)
    # Two batches, and one more request for the rejected batch's other nine numbers.
    assert len(link_posts(fake)) == 3
    assert numbers_sent(fake).count(bad) == 1
    assert set(fake.numbers(CAMPAIGN)) == set(us_numbers(20)) - {bad}


def bisection_server(bad: set[str], posts: list[list[str]]) -> Handler:
    """A link endpoint that rejects any batch holding a bad number, without naming it."""

    async def handle(request: web.Request) -> web.StreamResponse:
        numbers = (await request.json())["numbers"]
        posts.append(numbers)
        if bad & set(numbers):
            return web.json_response({"api_id": "e", "error": "Invalid request"}, status=400)
        return web.json_response({"api_id": "ok", "message": "received"}, status=202)

    return handle


@pytest.mark.parametrize("bad_indexes", [[37], [5, 40], [0, 1, 63]])
async def test_an_unexplained_batch_rejection_is_bisected_to_the_bad_numbers(
    custom_server: Callable[[Handler], Awaitable[str]], bad_indexes: list[int]
) -> None:
    batch = 64
    numbers = us_numbers(batch)
    bad = {numbers[i] for i in bad_indexes}
    posts: list[list[str]] = []
    base_url = await custom_server(bisection_server(bad, posts))
    async with session_on(base_url) as session:
        report = await session.link_many(CAMPAIGN, numbers, batch_size=batch)
    assert {o.number for o in report if o.kind is OutcomeKind.REJECTED} == bad
    assert all(o.kind is OutcomeKind.ACCEPTED for o in report if o.number not in bad)
    assert all(report[n].error == "HTTP 400: Invalid request" for n in bad)
    # Each bad number costs at most one rejected request per level of the halving, and
    # its sibling half: 2 * log2(batch) extra requests.
    k = len(bad)
    assert len(posts) <= 1 + 2 * k * math.log2(batch)
    assert report.requests == len(posts)


async def test_bisecting_for_bad_numbers_does_not_shrink_later_batches(
    custom_server: Callable[[Handler], Awaitable[str]],
) -> None:
    numbers = us_numbers(256)
    posts: list[list[str]] = []
    base_url = await custom_server(bisection_server({numbers[5]}, posts))
    async with session_on(base_url) as session:
        report = await session.link_many(CAMPAIGN, numbers, batch_size=64)
    assert len(report.failed) == 1
    later = [p for p in posts if p[0] in numbers[64:]]
    assert [len(p) for p in later] == [64, 64, 64]


async def test_a_server_cap_on_batch_size_is_learned_and_not_hit_again(plivo: Start) -> None:
    fake, session = await plivo(concurrency=1, max_numbers_per_request=16)
    report = await session.link_many(CAMPAIGN, us_numbers(640), batch_size=64)
    assert report.ok
    assert kinds(report) == {"accepted": 640}
    statuses = [r.status for r in link_posts(fake)]
    # The first batch of 64 is rejected, then both its halves of 32; after that every
    # request carries at most 16 numbers and goes through.
    assert statuses.count(400) == 3
    last_rejection = max(i for i, s in enumerate(statuses) if s == 400)
    later = link_posts(fake)[last_rejection + 1 :]
    assert len(later) == 640 // 16 - 2
    assert all(len(r.body["numbers"]) <= 16 and r.status == 202 for r in later)


async def test_a_stop_during_bisection_reports_the_unsent_half_as_an_error(
    plivo: Start,
) -> None:
    fake, session = await plivo(concurrency=1)
    fake.enqueue_fault(400, body='{"api_id": "e", "error": "Invalid request"}')
    fake.enqueue_fault(401, count=10)
    numbers = us_numbers(4)
    report = await session.link_many(CAMPAIGN, numbers, batch_size=4)
    assert len(fake.requests) == 2
    left, right = report.outcomes[:2], report.outcomes[2:]
    assert all(o.kind is OutcomeKind.REJECTED and o.status_code == 401 for o in left)
    # Sent once in the whole batch, then not again because the job had stopped.
    assert all(o.kind is OutcomeKind.ERROR and o.attempts == 1 for o in right)
    assert all("401" in (o.error or "") and "not retried" in (o.error or "") for o in right)


# =============================================================================================
# 4. Idempotent outcomes


async def test_linking_a_number_already_requested_is_already_and_ok(plivo: Start) -> None:
    fake, session = await plivo()
    number = us_numbers(1)[0]
    fake.set_status(CAMPAIGN, number, "PROCESSING")
    report = await session.link_many(CAMPAIGN, [number])
    outcome = report[number]
    assert outcome.kind is OutcomeKind.ALREADY
    assert outcome.ok
    assert outcome.error is None
    assert outcome.status_code == 400  # the answer that said so
    assert report.ok


async def test_unlinking_a_number_not_linked_is_already_and_ok(plivo: Start) -> None:
    _, session = await plivo()
    report = await session.unlink_many(CAMPAIGN, us_numbers(3))
    assert kinds(report) == {"already": 3}
    assert report.ok


async def test_a_number_linked_to_another_campaign_is_rejected_not_already(
    plivo: Start,
) -> None:
    fake, session = await plivo(campaigns=[CAMPAIGN, "COTHER"])
    taken, free = us_numbers(2)
    fake.set_status("COTHER", taken, "COMPLETED")
    report = await session.link_many(CAMPAIGN, [taken, free])
    assert report[taken].kind is OutcomeKind.REJECTED
    assert not report[taken].ok
    assert "another campaign" in (report[taken].error or "")
    assert report[free].kind is OutcomeKind.ACCEPTED
    assert not report.ok


async def test_rerunning_a_link_job_reads_the_campaign_once_and_resends_almost_nothing(
    plivo: Start,
) -> None:
    concurrency = 2
    fake, session = await plivo(concurrency=concurrency)
    numbers = us_numbers(500)
    first = await session.link_many(CAMPAIGN, numbers, batch_size=50)
    assert first.ok
    assert len(link_posts(fake)) == 10
    fake.clear_requests()
    fake.pause()
    job = asyncio.create_task(session.link_many(CAMPAIGN, numbers, batch_size=50))
    await until(lambda: fake.in_flight == concurrency)
    fake.resume()
    second = await job
    assert second.ok
    assert kinds(second) == {"already": 500}
    # Only the batches in flight before the first "already" came back were sent; the
    # campaign was listed once and settled the other batches without a request.
    assert len(link_posts(fake)) == concurrency
    assert listings(fake) == 1
    assert len(fake.requests) <= concurrency + math.ceil(500 / 20) + 1
    assert second.requests == len(fake.requests)


async def test_a_rerun_sends_again_the_numbers_the_campaign_lists_as_failed(
    plivo: Start,
) -> None:
    fake, session = await plivo(concurrency=1)
    numbers = us_numbers(30)
    for number in numbers:
        fake.set_status(CAMPAIGN, number, "COMPLETED")
    fake.set_status(CAMPAIGN, numbers[20], "FAILED")
    report = await session.link_many(CAMPAIGN, numbers, batch_size=10)
    assert report.ok
    assert report[numbers[20]].kind is OutcomeKind.ACCEPTED
    assert kinds(report) == {"already": 29, "accepted": 1}
    assert report[numbers[0]].status is LinkStatus.COMPLETED


async def test_a_link_whose_answer_was_lost_is_retried_and_ends_already(plivo: Start) -> None:
    fake, session = await plivo()
    fake.enqueue_fault(None, effect=True)  # the link happens, its answer is lost
    numbers = us_numbers(5)
    report = await session.link_many(CAMPAIGN, numbers, batch_size=5)
    assert report.ok
    assert kinds(report) == {"already": 5}
    assert [o.attempts for o in report] == [2] * 5
    assert list(fake.numbers(CAMPAIGN)) == numbers
    assert len(link_posts(fake)) == 2


async def test_links_whose_answers_are_lost_at_random_all_end_ok(plivo: Start) -> None:
    fake, session = await plivo(
        drop_response_rate=0.2, seed=3, retry=RetryPolicy(attempts=8, wait_initial=0, wait_max=0)
    )
    numbers = us_numbers(300)
    report = await session.link_many(CAMPAIGN, numbers, batch_size=10)
    assert report.ok
    assert set(kinds(report)) == {"accepted", "already"}
    assert set(fake.numbers(CAMPAIGN)) == set(numbers)


async def test_already_numbers_are_settled_by_name_when_the_campaign_cannot_be_read(
    plivo: Start,
) -> None:
    fake, session = await plivo(concurrency=1)
    numbers = us_numbers(3)
    fake.set_status(CAMPAIGN, numbers[1], "COMPLETED")
    text = f"The number {numbers[1]} is already requested for linking"
    fake.enqueue_fault(400, body=json.dumps({"api_id": "e", "error": text}))
    fake.enqueue_fault(500, count=3)  # the campaign listing fails after its retries
    report = await session.link_many(CAMPAIGN, numbers, batch_size=3)
    assert report.ok
    assert report[numbers[1]].kind is OutcomeKind.ALREADY
    assert report[numbers[0]].kind is report[numbers[2]].kind is OutcomeKind.ACCEPTED
    assert [r.method for r in fake.requests] == ["POST", "GET", "GET", "GET", "POST"]


# =============================================================================================
# 5. Fatal errors: 401/403 and a failing server


async def test_a_401_stops_all_sending_at_once(plivo: Start) -> None:
    concurrency = 4
    fake, session = await plivo(concurrency=concurrency)
    numbers = us_numbers(2000)
    seen = 0

    def revoke_after_20(_: NumberOutcome) -> None:
        nonlocal seen
        seen += 1
        if seen == 20:  # the token is revoked in the middle of the job
            fake.enqueue_fault(401, count=10_000)

    report = await session.unlink_many(CAMPAIGN, numbers, on_outcome=revoke_after_20)
    statuses = [r.status for r in fake.requests]
    first_401 = statuses.index(401)
    assert len(statuses) - (first_401 + 1) <= concurrency
    assert len(report) == 2000
    assert not report.ok
    assert report.stopped_reason is not None
    assert "401" in report.stopped_reason
    not_attempted = [o for o in report if o.kind is OutcomeKind.NOT_ATTEMPTED]
    assert len(not_attempted) >= 2000 - len(statuses)
    assert all(o.attempts == 0 and not o.ok for o in not_attempted)
    assert all("401" in (o.error or "") for o in not_attempted)
    refused = [o for o in report if o.status_code == 401]
    assert 1 <= len(refused) <= concurrency
    assert all(o.kind is OutcomeKind.REJECTED for o in refused)


async def test_wrong_credentials_send_no_more_requests_than_the_concurrency(
    plivo: Start,
) -> None:
    concurrency = 3
    fake, session = await plivo(
        concurrency=concurrency, session_options={"auth_token": "not-the-token"}
    )
    report = await session.link_many(CAMPAIGN, us_numbers(1000), batch_size=10)
    assert 1 <= len(fake.requests) <= concurrency
    assert len(report) == 1000
    assert kinds(report)["not_attempted"] >= 1000 - 10 * concurrency
    assert report.stopped_reason is not None
    assert "401" in report.stopped_reason


async def test_a_403_stops_the_job_and_says_why(plivo: Start) -> None:
    fake, session = await plivo(concurrency=2)
    fake.enqueue_fault(403, count=1000)
    report = await session.link_many(CAMPAIGN, us_numbers(200), batch_size=10)
    assert len(fake.requests) <= 2
    assert report.stopped_reason is not None
    assert "403" in report.stopped_reason
    assert set(kinds(report)) == {"rejected", "not_attempted"}
    assert not report.ok


async def test_a_server_failing_every_request_is_not_hammered(plivo: Start) -> None:
    concurrency, attempts = 4, ZERO_BACKOFF.attempts
    fake, session = await plivo(concurrency=concurrency, error_rates={503: 1.0})
    numbers = us_numbers(1000)
    report = await session.unlink_many(CAMPAIGN, numbers)
    budget = max(MIN_ERROR_BUDGET, 2 * concurrency)
    assert len(fake.requests) <= (budget + concurrency) * attempts
    assert len(fake.requests) < len(numbers) * attempts / 20
    assert report.stopped_reason is not None
    assert "keeps failing" in report.stopped_reason
    errors = [o for o in report if o.kind is OutcomeKind.ERROR]
    given_up = [o for o in errors if o.status_code == 503 and o.attempts == attempts]
    assert len(given_up) >= budget
    # Requests between two retries when the job stopped were not retried again.
    cut_short = [o for o in errors if o not in given_up]
    assert all(o.error and o.error.endswith("(not retried)") for o in cut_short)
    assert all(1 <= o.attempts < attempts for o in cut_short)
    rest = [o for o in report if o.kind is OutcomeKind.NOT_ATTEMPTED]
    assert len(errors) + len(rest) == len(numbers)
    assert all(o.attempts == 0 and o.error == report.stopped_reason for o in rest)


@pytest.mark.parametrize("action", ["link", "unlink"])
async def test_a_server_that_is_down_is_not_hammered(plivo: Start, action: str) -> None:
    fake, session = await plivo(concurrency=2)
    fake.down = True
    if action == "link":
        report = await session.link_many(CAMPAIGN, us_numbers(2000), batch_size=5)
    else:
        report = await session.unlink_many(CAMPAIGN, us_numbers(2000))
    # (aiohttp would silently send a DELETE once more on a kept-alive connection closed
    # with no answer; the session turns that off, so every send is a counted attempt.)
    assert len(fake.requests) <= 2 * (MIN_ERROR_BUDGET + 2) * ZERO_BACKOFF.attempts
    assert report.requests == len(fake.requests)
    assert report.stopped_reason is not None
    assert "keeps failing" in report.stopped_reason
    errors = [o for o in report if o.kind is OutcomeKind.ERROR]
    assert all(o.status_code is None for o in errors)
    given_up = [o for o in errors if o.attempts == ZERO_BACKOFF.attempts]
    assert len(given_up) >= MIN_ERROR_BUDGET * (5 if action == "link" else 1)
    assert all("Server disconnected" in (o.error or "") for o in given_up)
    assert len(report) == 2000


async def test_invalid_entries_after_a_stop_are_still_reported_invalid(plivo: Start) -> None:
    fake, session = await plivo(concurrency=1)
    fake.enqueue_fault(401, count=100)
    entries = [*us_numbers(3), "bad", *us_numbers(2, start=10), "worse"]
    report = await session.link_many(CAMPAIGN, entries, batch_size=2)
    assert [o.kind.value for o in report] == [
        "rejected",
        "rejected",
        "not_attempted",
        "invalid",
        "not_attempted",
        "not_attempted",
        "invalid",
    ]


async def test_a_request_waiting_for_its_rate_limit_slot_when_the_job_stops_is_not_sent(
    plivo: Start,
) -> None:
    runs = []

    async def stop_the_job_then_wait(_: float) -> None:
        runs[0].stop("stopped for the test")
        await asyncio.sleep(0)

    fake, session = await plivo(
        concurrency=2, session_options={"rate_limit": 1.0, "sleep": stop_the_job_then_wait}
    )
    run = session.iter_unlink(CAMPAIGN, us_numbers(5))
    runs.append(run)
    async for _ in run:
        pass
    report = run.report()
    assert len(fake.requests) == 1  # the one that needed no wait
    assert kinds(report) == {"already": 1, "not_attempted": 4}
    assert all(o.attempts == 0 for o in report.failed)


async def test_the_error_budget_counts_only_failures_in_a_row(plivo: Start) -> None:
    fake, session = await plivo(concurrency=1, retry=RetryPolicy(attempts=1))
    fake.enqueue_fault(503, count=MIN_ERROR_BUDGET - 1)
    settled = 0

    def fail_again_after_a_success(_: NumberOutcome) -> None:
        nonlocal settled
        settled += 1
        if settled == MIN_ERROR_BUDGET:  # the first success
            fake.enqueue_fault(503, count=MIN_ERROR_BUDGET - 1)

    report = await session.unlink_many(
        CAMPAIGN, us_numbers(30), on_outcome=fail_again_after_a_success
    )
    assert report.stopped_reason is None
    assert kinds(report) == {"error": 2 * (MIN_ERROR_BUDGET - 1), "already": 30 - 18}


async def test_a_request_waiting_to_retry_when_the_job_stops_is_not_retried(
    plivo: Start,
) -> None:
    runs = []

    async def stop_the_job_then_wait(_: float) -> None:
        runs[0].stop("stopped for the test")
        await asyncio.sleep(0)

    fake, session = await plivo(concurrency=1, session_options={"sleep": stop_the_job_then_wait})
    fake.enqueue_fault(503)
    numbers = us_numbers(3)
    run = session.iter_unlink(CAMPAIGN, numbers)
    runs.append(run)
    async for _ in run:
        pass
    report = run.report()
    assert len(fake.requests) == 1
    first = report[numbers[0]]
    assert first.kind is OutcomeKind.ERROR
    assert first.attempts == 1
    assert first.error == "stopped for the test (not retried)"
    assert [o.kind for o in report.outcomes[1:]] == [OutcomeKind.NOT_ATTEMPTED] * 2
    assert report.stopped_reason == "stopped for the test"


async def test_stopping_a_run_reports_the_rest_as_not_attempted(plivo: Start) -> None:
    fake, session = await plivo(concurrency=2)
    run = session.iter_unlink(CAMPAIGN, us_numbers(100))
    async for _ in run:
        run.stop()
    report = run.report()
    assert run.stopped_reason == report.stopped_reason == "stopped by the caller"
    assert len(report) == 100
    assert len(fake.requests) <= 4
    assert kinds(report)["not_attempted"] >= 96
    assert not report.ok


async def test_a_failing_input_stops_the_job_and_its_error_is_raised(plivo: Start) -> None:
    fake, session = await plivo()

    def broken() -> Iterator[str]:
        yield from us_numbers(3)
        raise OSError("disk gone")

    run = session.iter_link(CAMPAIGN, broken())
    with pytest.raises(OSError, match="disk gone"):
        async for _ in run:
            pass
    report = run.report()
    assert [o.number for o in report] == us_numbers(3)
    assert kinds(report) == {"not_attempted": 3}
    assert report.stopped_reason == "reading the input failed: OSError: disk gone"
    assert fake.requests == []
    with pytest.raises(OSError, match="disk gone"):
        await session.link_many(CAMPAIGN, broken())


# =============================================================================================
# 6. The report of a real job


async def test_report_keeps_input_order_whatever_order_answers_come_in(plivo: Start) -> None:
    _fake, session = await plivo(concurrency=4, latency=(0, 0.003), seed=5)
    entries = [*us_numbers(30), "bad", *us_numbers(30, start=100)]
    completion: list[str] = []
    report = await session.link_many(
        CAMPAIGN, entries, batch_size=3, on_outcome=lambda o: completion.append(o.number)
    )
    assert [o.number for o in report] == entries
    assert sorted(completion) == sorted(entries)
    # The latencies did reorder the answers (else this test would show nothing).
    assert [n for n in completion if n != "bad"] != [n for n in entries if n != "bad"]


async def test_report_counts_requests_time_and_duplicates_of_the_job(plivo: Start) -> None:
    fake, session = await plivo(invalid_numbers=[us_numbers(5)[2]])
    entries = [*us_numbers(5), us_numbers(5)[0]]
    report = await session.link_many(CAMPAIGN, entries, batch_size=5)
    assert report.requests == len(fake.requests) == 2
    assert report.duplicates == 1
    assert report.elapsed > 0
    assert kinds(report) == {"accepted": 4, "rejected": 1}
    assert [o.number for o in report.failed] == [us_numbers(5)[2]]
    assert len(report.succeeded) == 4
    assert report["+1 212 200 0001"].kind is OutcomeKind.ACCEPTED
    with pytest.raises(KeyError):
        report["12129999999"]
    assert "1 rejected" in report.summary()
    assert len(json.loads(report.to_json())["outcomes"]) == 5
    assert report.to_csv().count("\n") == 1 + 5


# =============================================================================================
# 7. Streaming


async def test_iter_link_yields_outcomes_before_the_job_is_done(plivo: Start) -> None:
    fake, session = await plivo(concurrency=2)
    run = session.iter_link(CAMPAIGN, us_numbers(100), batch_size=10)
    requests_when_yielded: list[int] = []
    done_when_yielded: list[bool] = []
    async for _ in run:
        requests_when_yielded.append(len(fake.requests))
        done_when_yielded.append(run.done)
    assert len(requests_when_yielded) == 100
    assert requests_when_yielded[0] < 10  # the first answers came before the last request
    assert not any(done_when_yielded)
    assert run.done
    report = run.report()
    assert [o.number for o in report] == us_numbers(100)
    assert report.ok


async def test_a_run_can_be_iterated_only_once(plivo: Start) -> None:
    _, session = await plivo()
    run = session.iter_link(CAMPAIGN, us_numbers(2))
    async for _ in run:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        async for _ in run:
            pass


async def test_on_outcome_is_called_once_per_outcome(plivo: Start) -> None:
    _fake, session = await plivo(invalid_numbers=[us_numbers(50)[7]])
    called: list[NumberOutcome] = []
    entries = [*us_numbers(50), "bad", us_numbers(1)[0]]
    report = await session.link_many(CAMPAIGN, entries, batch_size=7, on_outcome=called.append)
    assert sorted(called, key=lambda o: o.number) == sorted(report, key=lambda o: o.number)


def counting(numbers: Iterable[str], read: list[str]) -> Iterator[str]:
    for number in numbers:
        read.append(number)
        yield number


def assert_accounts_for_every_number_read(report: BulkReport, read: list[str]) -> None:
    assert [o.number for o in report] == read
    for outcome in report:
        if outcome.kind is OutcomeKind.ERROR:
            assert outcome.error is not None
            assert outcome.error.startswith("interrupted")
            assert outcome.attempts >= 1
        elif outcome.kind is OutcomeKind.NOT_ATTEMPTED:
            assert outcome.attempts == 0
            assert outcome.error
        else:
            assert outcome.kind is OutcomeKind.ALREADY  # settled before the break


async def test_breaking_out_of_iter_unlink_early_cancels_the_rest_and_leaves_no_task(
    plivo: Start,
) -> None:
    fake, session = await plivo(concurrency=4)
    before = asyncio.all_tasks()
    read: list[str] = []
    run = session.iter_unlink(CAMPAIGN, counting(us_numbers(5000), read))
    received = 0
    async for _ in run:
        received += 1
        if received == 10:
            break
    # Nothing closes the iteration explicitly: the event loop's finalizer of abandoned
    # async generators does, within a few turns of the loop.
    await until(lambda: not job_tasks(before), timeout=2)
    assert run.done
    sent = len(fake.requests)
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(fake.requests) == sent  # nothing more is sent
    assert len(read) < 5000
    report = run.report()
    assert_accounts_for_every_number_read(report, read)
    assert len(report) == len(read) >= 10


async def test_leaving_a_run_used_as_context_manager_cancels_the_rest_at_once(
    plivo: Start,
) -> None:
    _fake, session = await plivo(concurrency=4, latency=0.002)
    before = asyncio.all_tasks()
    read: list[str] = []
    async with session.iter_unlink(CAMPAIGN, counting(us_numbers(5000), read)) as run:
        async for _ in run:
            break
    assert job_tasks(before) == []
    assert run.done
    report = run.report()
    assert_accounts_for_every_number_read(report, read)
    assert report.stopped_reason is None
    assert not report.ok


async def test_aclose_after_breaking_out_cancels_the_rest_at_once(plivo: Start) -> None:
    _fake, session = await plivo(concurrency=4, latency=0.002)
    before = asyncio.all_tasks()
    read: list[str] = []
    run = session.iter_unlink(CAMPAIGN, counting(us_numbers(5000), read))
    async for _ in run:
        break
    await run.aclose()
    assert job_tasks(before) == []
    assert run.done
    assert_accounts_for_every_number_read(run.report(), read)
    await run.aclose()  # idempotent


async def test_an_interrupted_run_accounts_for_numbers_in_flight_and_numbers_read(
    plivo: Start,
) -> None:
    fake, session = await plivo(concurrency=2)
    fake.pause()
    stalled = asyncio.Event()

    async def source() -> AsyncIterator[str]:
        for number in us_numbers(15):
            yield number
        await stalled.wait()  # the input stalls: 5 numbers wait for the batch to fill

    run = session.iter_link(CAMPAIGN, source(), batch_size=10)
    reading = asyncio.create_task(anext(aiter(run)))
    await until(lambda: fake.in_flight == 1)
    for _ in range(20):
        await asyncio.sleep(0)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    await run.aclose()
    fake.resume()
    report = run.report()
    assert [o.number for o in report] == us_numbers(15)
    sent, unsent = report.outcomes[:10], report.outcomes[10:]
    assert all(o.kind is OutcomeKind.ERROR and o.attempts == 1 for o in sent)
    assert all(o.error == "interrupted: interrupted before an answer came" for o in sent)
    assert all(o.kind is OutcomeKind.NOT_ATTEMPTED and o.attempts == 0 for o in unsent)
    assert all(o.error == "interrupted before an answer came" for o in unsent)


async def test_aclose_of_a_run_never_iterated_marks_it_done(plivo: Start) -> None:
    fake, session = await plivo()
    run = session.iter_link(CAMPAIGN, us_numbers(3))
    assert not run.done
    await run.aclose()
    assert run.done
    assert len(run.report()) == 0
    assert fake.requests == []


# =============================================================================================
# 8. Waiting for Plivo to finish


async def link_pending(fake: FakePlivo, session: NumLinkSession, numbers: list[str]) -> None:
    await session.link_many(CAMPAIGN, numbers)
    fake.clear_requests()


async def test_wait_for_numbers_polls_until_every_number_is_completed(plivo: Start) -> None:
    fake, session = await plivo(complete_after_polls=3)
    numbers = us_numbers(10)
    await link_pending(fake, session, numbers)
    report = await session.wait_for_numbers(CAMPAIGN, numbers, poll_interval=0, timeout=30)
    assert report.ok
    assert kinds(report) == {"completed": 10}
    assert all(o.status is LinkStatus.COMPLETED and o.action == "wait" for o in report)
    assert report.requests == len(fake.requests) > 0
    assert all(r.method == "GET" for r in fake.requests)


async def test_wait_for_numbers_reports_a_failed_link_as_remote_failed(plivo: Start) -> None:
    numbers = us_numbers(4)
    fake, session = await plivo(fail_numbers=[numbers[1]])
    await link_pending(fake, session, numbers)
    report = await session.wait_for_numbers(CAMPAIGN, numbers, poll_interval=0, timeout=30)
    failed = report[numbers[1]]
    assert failed.kind is OutcomeKind.REMOTE_FAILED
    assert not failed.ok
    assert failed.status is LinkStatus.FAILED
    assert failed.error is not None
    assert "FAILED" in failed.error
    assert kinds(report) == {"completed": 3, "remote_failed": 1}
    assert not report.ok


async def test_wait_for_numbers_with_timeout_zero_reports_processing_numbers_pending(
    plivo: Start,
) -> None:
    fake, session = await plivo(complete_after_polls=5)
    numbers = us_numbers(3)
    await link_pending(fake, session, numbers)
    report = await session.wait_for_numbers(CAMPAIGN, numbers, timeout=0, poll_interval=0)
    assert kinds(report) == {"pending": 3}
    assert all(o.status is LinkStatus.PROCESSING for o in report)
    assert all("still PROCESSING" in (o.error or "") for o in report)
    assert not report.ok
    assert listings(fake) + len(number_reads(fake)) >= 1  # exactly one round was made


async def test_wait_for_numbers_gives_up_at_the_deadline(plivo: Start) -> None:
    fake, session = await plivo(complete_after_polls=1000)
    numbers = us_numbers(2)
    await link_pending(fake, session, numbers)
    report = await session.wait_for_numbers(CAMPAIGN, numbers, timeout=0.05, poll_interval=0.01)
    assert kinds(report) == {"pending": 2}
    assert 2 <= len(fake.requests) < 100


async def test_wait_for_numbers_reports_a_number_not_in_the_campaign_as_not_listed(
    plivo: Start,
) -> None:
    # Not "pending" beside "not listed in the campaign": nothing at Plivo processes it.
    _, session = await plivo()
    [number] = us_numbers(1)
    report = await session.wait_for_numbers(CAMPAIGN, [number], timeout=0, poll_interval=0)
    assert report[number].kind is OutcomeKind.NOT_LISTED
    assert not report[number].ok
    assert "not listed" in (report[number].error or "")


async def test_wait_for_numbers_reports_invalid_entries_and_duplicates(plivo: Start) -> None:
    fake, session = await plivo()
    numbers = us_numbers(2)
    await link_pending(fake, session, numbers)
    entries = [numbers[0], "bad", "+1 212-200-0000", numbers[1]]
    report = await session.wait_for_numbers(CAMPAIGN, entries, poll_interval=0, timeout=30)
    assert [o.number for o in report] == [numbers[0], "bad", numbers[1]]
    assert report["bad"].kind is OutcomeKind.INVALID
    assert report.duplicates == 1
    assert kinds(report) == {"completed": 2, "invalid": 1}


async def test_wait_for_numbers_unlinked_waits_until_numbers_are_gone(plivo: Start) -> None:
    fake, session = await plivo(complete_after_polls=2)
    numbers = us_numbers(5)
    for number in numbers:
        fake.set_status(CAMPAIGN, number, "COMPLETED")
    await session.unlink_many(CAMPAIGN, numbers)
    report = await session.wait_for_numbers(
        CAMPAIGN, numbers, unlinked=True, poll_interval=0, timeout=30
    )
    assert kinds(report) == {"completed": 5}
    assert report.action == "wait_unlinked"
    assert fake.numbers(CAMPAIGN) == {}


async def test_polling_many_pending_numbers_reads_list_pages_not_each_number(
    plivo: Start,
) -> None:
    fake, session = await plivo(complete_after_polls=2)
    numbers = us_numbers(100)
    await link_pending(fake, session, numbers)
    report = await session.wait_for_numbers(CAMPAIGN, numbers, poll_interval=0, timeout=30)
    assert report.ok
    assert number_reads(fake) == []
    # Each round lists the campaign: 5 pages of 20 and an empty one, far cheaper than
    # 100 single GETs.
    rounds = listings(fake)
    assert 2 <= rounds <= 3
    assert len(list_reads(fake)) == rounds * 6


async def test_polling_a_few_numbers_of_a_large_campaign_gets_each_number(
    plivo: Start,
) -> None:
    fake, session = await plivo(complete_after_polls=2)
    for number in us_numbers(200, start=1000):
        fake.set_status(CAMPAIGN, number, "COMPLETED")
    numbers = us_numbers(3)
    await link_pending(fake, session, numbers)
    report = await session.wait_for_numbers(CAMPAIGN, numbers, poll_interval=0, timeout=30)
    assert report.ok
    # One listing (11 pages) shows how large the campaign is; after it, 3 GETs a round
    # are cheaper than 11 pages.
    assert listings(fake) == 1
    assert len(list_reads(fake)) == 11
    assert len(number_reads(fake)) >= 3
    assert len(number_reads(fake)) % 3 == 0


async def test_polling_one_or_two_numbers_gets_each_without_listing(plivo: Start) -> None:
    fake, session = await plivo(complete_after_polls=2)
    for number in us_numbers(100, start=1000):
        fake.set_status(CAMPAIGN, number, "COMPLETED")
    numbers = us_numbers(2)
    await link_pending(fake, session, numbers)
    report = await session.wait_for_numbers(CAMPAIGN, numbers, poll_interval=0, timeout=30)
    assert report.ok
    assert list_reads(fake) == []
    assert len(number_reads(fake)) == 2 * 3


async def test_polling_goes_on_after_a_round_fails_with_a_server_error(plivo: Start) -> None:
    fake, session = await plivo()
    numbers = us_numbers(5)
    await link_pending(fake, session, numbers)
    fake.enqueue_fault(503, count=ZERO_BACKOFF.attempts)
    report = await session.wait_for_numbers(CAMPAIGN, numbers, poll_interval=0, timeout=30)
    assert report.ok
    assert fake.requests[0].status == 503


@pytest.mark.parametrize("fault", [503, None])
async def test_waiting_for_unlinks_while_polling_fails_does_not_report_them_gone(
    plivo: Start, fault: int | None
) -> None:
    fake, session = await plivo()
    numbers = us_numbers(3)
    for number in numbers:
        fake.set_status(CAMPAIGN, number, "COMPLETED")
    fake.enqueue_fault(fault, count=100)
    report = await session.wait_for_numbers(
        CAMPAIGN, numbers, unlinked=True, timeout=0, poll_interval=0
    )
    assert kinds(report) == {"pending": 3}
    assert all((o.error or "").startswith("polling failed") for o in report)
    assert not report.ok


async def test_a_link_wait_whose_polling_failed_says_so(plivo: Start) -> None:
    fake, session = await plivo()
    numbers = us_numbers(3)
    await link_pending(fake, session, numbers)
    fake.enqueue_fault(503, count=100)
    report = await session.wait_for_numbers(CAMPAIGN, numbers, timeout=0, poll_interval=0)
    assert kinds(report) == {"pending": 3}
    assert all(o.error == "polling failed: HTTP 503: Service unavailable" for o in report)


async def test_polling_goes_on_after_a_round_fails_with_dropped_connections(
    plivo: Start,
) -> None:
    fake, session = await plivo()
    numbers = us_numbers(5)
    await link_pending(fake, session, numbers)
    fake.enqueue_fault(None, count=2 * ZERO_BACKOFF.attempts)
    report = await session.wait_for_numbers(CAMPAIGN, numbers, poll_interval=0, timeout=30)
    assert report.ok
    assert fake.requests[0].status is None


async def test_wait_for_numbers_with_only_invalid_entries_sends_nothing(plivo: Start) -> None:
    fake, session = await plivo()
    report = await session.wait_for_numbers(CAMPAIGN, ["bad", "worse"], poll_interval=0)
    assert kinds(report) == {"invalid": 2}
    assert fake.requests == []


async def test_polling_an_unknown_campaign_ends_with_the_error(plivo: Start) -> None:
    _, session = await plivo()
    # Polling cannot succeed: the wait raises at once, naming the campaign (API.md, 0.2).
    with pytest.raises(CampaignNotFoundError, match="CNOPE") as info:
        await session.wait_for_numbers("CNOPE", us_numbers(5), poll_interval=0, timeout=30)
    assert info.value.status_code == 404
    assert "campaign not found" in info.value.message


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": -1},
        {"timeout": math.nan},
        {"timeout": True},
        {"poll_interval": -0.5},
        {"poll_interval": "1"},
    ],
)
async def test_wait_for_numbers_refuses_a_bad_timeout_or_poll_interval(
    plivo: Start, options: dict[str, Any]
) -> None:
    fake, session = await plivo()
    with pytest.raises(ValueError):
        await session.wait_for_numbers(CAMPAIGN, us_numbers(1), **options)
    with pytest.raises(ValueError):
        await session.link_many(CAMPAIGN, us_numbers(1), wait=True, **options)
    assert fake.requests == []


async def test_link_many_with_wait_folds_the_final_statuses_in(plivo: Start) -> None:
    numbers = us_numbers(6)
    fake, session = await plivo(fail_numbers=[numbers[4]], complete_after_polls=2)
    report = await session.link_many(CAMPAIGN, numbers, wait=True, poll_interval=0)
    assert kinds(report) == {"completed": 5, "remote_failed": 1}
    assert report[numbers[4]].status is LinkStatus.FAILED
    assert report[numbers[0]].api_id  # the link answer's id is kept
    assert report.requests == len(fake.requests)
    assert not report.ok


async def test_link_many_with_wait_keeps_already_numbers_already(plivo: Start) -> None:
    fake, session = await plivo()
    numbers = us_numbers(2)
    fake.set_status(CAMPAIGN, numbers[0], "COMPLETED")
    report = await session.link_many(CAMPAIGN, numbers, wait=True, poll_interval=0)
    assert report[numbers[0]].kind is OutcomeKind.ALREADY
    assert report[numbers[0]].status is LinkStatus.COMPLETED
    assert report[numbers[1]].kind is OutcomeKind.COMPLETED
    assert report.ok


async def test_unlink_many_with_wait_waits_until_the_numbers_are_gone(plivo: Start) -> None:
    fake, session = await plivo(complete_after_polls=2)
    numbers = us_numbers(4)
    for number in numbers:
        fake.set_status(CAMPAIGN, number, "COMPLETED")
    report = await session.unlink_many(CAMPAIGN, numbers, wait=True, poll_interval=0)
    assert kinds(report) == {"completed": 4}
    assert all(o.action == "unlink" and o.status is None for o in report)
    assert fake.numbers(CAMPAIGN) == {}
    assert report.ok


async def test_a_stopped_job_is_not_waited_for(plivo: Start) -> None:
    fake, session = await plivo(concurrency=1)
    fake.enqueue_fault(401, count=100)
    report = await session.link_many(CAMPAIGN, us_numbers(3), wait=True, poll_interval=0)
    assert [r.method for r in fake.requests] == ["POST"]
    assert report.stopped_reason is not None


# =============================================================================================
# 9. sync


def statuses(fake: FakePlivo, numbers: dict[str, str]) -> None:
    for number, status in numbers.items():
        fake.set_status(CAMPAIGN, number, status)


async def test_sync_links_what_is_missing_or_failed_and_leaves_the_rest(plivo: Start) -> None:
    fake, session = await plivo()
    done, busy, failed, missing = us_numbers(4)
    statuses(fake, {done: "COMPLETED", busy: "PROCESSING", failed: "FAILED"})
    report = await session.sync(CAMPAIGN, [done, busy, failed, missing])
    assert report.action == "sync"
    assert [o.number for o in report] == [done, busy, failed, missing]
    assert report[done].kind is report[busy].kind is OutcomeKind.ALREADY
    assert report[done].status is LinkStatus.COMPLETED
    assert report[busy].status is LinkStatus.PROCESSING
    assert report[failed].kind is report[missing].kind is OutcomeKind.ACCEPTED
    assert [sorted(r.body["numbers"]) for r in link_posts(fake)] == [sorted([failed, missing])]
    assert report.ok


async def test_sync_leaves_numbers_not_asked_for_alone_by_default(plivo: Start) -> None:
    fake, session = await plivo()
    wanted, extra = us_numbers(2)
    statuses(fake, {wanted: "COMPLETED", extra: "COMPLETED"})
    report = await session.sync(CAMPAIGN, [wanted])
    assert [o.number for o in report] == [wanted]
    assert all(r.method == "GET" for r in fake.requests)
    assert extra in fake.numbers(CAMPAIGN)


async def test_sync_unlinks_numbers_not_asked_for_when_told_to(plivo: Start) -> None:
    fake, session = await plivo()
    wanted, extra, new = us_numbers(3)
    statuses(fake, {wanted: "COMPLETED", extra: "COMPLETED"})
    report = await session.sync(CAMPAIGN, [wanted, new, "bad"], unlink_extra=True)
    assert [(o.number, o.action, o.kind) for o in report] == [
        (wanted, "link", OutcomeKind.ALREADY),
        (new, "link", OutcomeKind.ACCEPTED),
        ("bad", "link", OutcomeKind.INVALID),
        (extra, "unlink", OutcomeKind.ACCEPTED),
    ]
    assert [r.path for r in fake.requests if r.method == "DELETE"] == [
        f"/v1/Account/{fake.auth_id}/10dlc/Campaign/{CAMPAIGN}/Number/{extra}/"
    ]


@pytest.mark.parametrize("unlink_extra", [False, True])
async def test_sync_run_twice_sends_nothing_but_list_reads_the_second_time(
    plivo: Start, unlink_extra: bool
) -> None:
    fake, session = await plivo(complete_after_polls=2)
    wanted = us_numbers(30)
    statuses(fake, dict.fromkeys(us_numbers(5, start=500), "COMPLETED"))
    statuses(fake, {wanted[0]: "FAILED"})
    await session.link(CAMPAIGN, [wanted[1]])  # PROCESSING: the first sync waits for it
    first = await session.sync(
        CAMPAIGN, wanted, unlink_extra=unlink_extra, wait=True, poll_interval=0
    )
    assert first.ok
    fake.clear_requests()
    second = await session.sync(
        CAMPAIGN, wanted, unlink_extra=unlink_extra, wait=True, poll_interval=0
    )
    assert {r.method for r in fake.requests} == {"GET"}
    assert list_reads(fake) == fake.requests
    assert listings(fake) == 1
    assert all(o.kind is OutcomeKind.ALREADY for o in second)
    assert second.ok
    assert second.requests == len(fake.requests)


async def test_sync_reports_extras_not_attempted_when_linking_stopped(
    custom_server: Callable[[Handler], Awaitable[str]],
) -> None:
    extra = "13105550100"
    methods: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        methods.append(request.method)
        if request.method == "POST":
            return web.json_response({"api_id": "e", "error": "Forbidden"}, status=403)
        page = [{"number": extra, "status": "COMPLETED"}] if request.query["offset"] == "0" else []
        return web.json_response({"api_id": "l", "campaign_id": CAMPAIGN, "phone_numbers": page})

    base_url = await custom_server(handle)
    async with session_on(base_url) as session:
        report = await session.sync(CAMPAIGN, us_numbers(2), unlink_extra=True, wait=True)
    assert "DELETE" not in methods
    assert report.stopped_reason is not None
    assert "403" in report.stopped_reason
    assert report[extra].kind is OutcomeKind.NOT_ATTEMPTED
    assert report[extra].action == "unlink"
    assert report[extra].error == report.stopped_reason
    assert not report.ok


async def test_sync_raises_when_the_campaign_cannot_be_read(plivo: Start) -> None:
    fake, session = await plivo()
    with pytest.raises(NotFoundError):
        await session.sync("CNOPE", us_numbers(2))
    assert all(r.method == "GET" for r in fake.requests)


# =============================================================================================
# 10. Cancellation


@pytest.mark.filterwarnings("error::ResourceWarning")
async def test_cancelling_link_many_returns_promptly_and_leaves_no_task_or_connection(
    plivo: Start,
) -> None:
    concurrency = 4
    fake, session = await plivo(concurrency=concurrency, latency=0.2)
    before = asyncio.all_tasks()
    job = asyncio.create_task(session.link_many(CAMPAIGN, us_numbers(1000), batch_size=10))
    await until(lambda: fake.in_flight == concurrency)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(job, timeout=10)
    assert job_tasks(before) == []
    # Every concurrency slot and pooled connection is free again: a full set of requests
    # can be in flight at once.
    await until(lambda: fake.in_flight == 0)  # the fake's handlers sleep their latency out
    fake.reset_max_concurrency()
    fake.pause()  # hold them, so a loaded machine cannot let one finish before the last starts
    calls = asyncio.gather(*(session.get_number(CAMPAIGN, n) for n in us_numbers(concurrency)))
    await until(lambda: fake.in_flight == concurrency)
    fake.resume()
    await asyncio.wait_for(calls, timeout=10)
    assert fake.max_concurrency == concurrency
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await session.close()
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]


# =============================================================================================
# 11. Acceptance: 10,000 numbers through a faulty server


ACCEPTANCE_FAULTS: dict[str, Any] = {
    "error_rates": {503: 0.05, 429: 0.02},
    "drop_rate": 0.01,
    "latency": (0, 0.0005),
    "seed": 2024,
}
ACCEPTANCE_RETRY = RetryPolicy(attempts=8, wait_initial=0, wait_max=0)


async def test_acceptance_link_many_of_10000_numbers_through_faults_is_all_ok(
    plivo: Start,
) -> None:
    concurrency = 8
    fake, session = await plivo(
        concurrency=concurrency, retry=ACCEPTANCE_RETRY, **ACCEPTANCE_FAULTS
    )
    numbers = us_numbers(10_000)
    report = await session.link_many(CAMPAIGN, numbers)
    assert [o.number for o in report] == numbers
    assert report.ok, report.summary()
    assert fake.max_concurrency <= concurrency
    assert set(fake.numbers(CAMPAIGN)) == set(numbers)
    assert {429, 503} <= set(fake.count_by_status)  # the faults did happen


async def test_acceptance_unlink_many_of_10000_numbers_through_faults_is_all_ok(
    plivo: Start,
) -> None:
    concurrency = 8
    fake, session = await plivo(
        concurrency=concurrency, retry=ACCEPTANCE_RETRY, complete_after_polls=0, **ACCEPTANCE_FAULTS
    )
    numbers = us_numbers(10_000)
    for number in numbers:
        fake.set_status(CAMPAIGN, number, "COMPLETED")
    report = await session.unlink_many(CAMPAIGN, numbers)
    assert [o.number for o in report] == numbers
    assert report.ok, report.summary()
    assert fake.max_concurrency <= concurrency
    assert fake.numbers(CAMPAIGN) == {}
    assert {429, 503, None} <= set(fake.count_by_status)


# -- an unknown campaign stops the job; sync waits for what it found PROCESSING -------------


async def test_linking_to_an_unknown_campaign_stops_after_the_first_answer(plivo: Start) -> None:
    fake, session = await plivo(concurrency=1)
    report = await session.link_many("NOSUCHCAMPAIGN", us_numbers(500), batch_size=10)
    assert len(fake.requests) == 1
    assert report.stopped_reason is not None
    assert "campaign" in report.stopped_reason
    assert report.counts == {"rejected": 10, "not_attempted": 490}


async def test_unlinking_from_an_unknown_campaign_stops_after_the_first_answer(
    plivo: Start,
) -> None:
    fake, session = await plivo(concurrency=1)
    report = await session.unlink_many("NOSUCHCAMPAIGN", us_numbers(100))
    assert len(fake.requests) == 1
    assert not report.ok
    assert report.counts == {"rejected": 1, "not_attempted": 99}


async def test_sync_with_wait_also_waits_for_numbers_it_found_processing(plivo: Start) -> None:
    fake, session = await plivo(complete_after_polls=2)
    wanted = us_numbers(3)
    await session.link(CAMPAIGN, [wanted[0]])  # PROCESSING at Plivo when sync reads it
    report = await session.sync(CAMPAIGN, wanted, wait=True, poll_interval=0)
    assert report[wanted[0]].kind is OutcomeKind.ALREADY
    assert report[wanted[0]].status is LinkStatus.COMPLETED
    assert fake.numbers(CAMPAIGN)[wanted[0]] == "COMPLETED"


async def test_a_poll_round_throttled_past_its_retries_does_not_end_the_wait(
    plivo: Start,
) -> None:
    fake, session = await plivo()
    number = us_numbers(1)[0]
    await session.link(CAMPAIGN, [number])
    fake.enqueue_fault(429, count=ZERO_BACKOFF.attempts)  # the first round gives up on 429
    report = await session.wait_for_numbers(CAMPAIGN, [number], timeout=5, poll_interval=0)
    assert report[number].kind is OutcomeKind.COMPLETED


# -- streams that must not grow with the input ---------------------------------------------


async def test_a_run_keeping_no_report_still_yields_every_outcome(plivo: Start) -> None:
    _, session = await plivo()
    numbers = us_numbers(300)
    run = session.iter_unlink(CAMPAIGN, numbers, keep_report=False)
    seen = [outcome.number async for outcome in run]
    assert sorted(seen) == sorted(numbers)


async def test_a_run_keeping_no_report_refuses_report(plivo: Start) -> None:
    _, session = await plivo()
    run = session.iter_link(CAMPAIGN, us_numbers(10), keep_report=False)
    async for _ in run:
        pass
    with pytest.raises(RuntimeError, match="keep_report=False"):
        run.report()


async def test_a_run_keeping_no_report_holds_no_outcome(plivo: Start) -> None:
    _, session = await plivo()
    run = session.iter_link(CAMPAIGN, us_numbers(200), keep_report=False, batch_size=7)
    async for _ in run:
        pass
    assert run._job.outcomes == {}
    assert run._job.order == []


async def test_without_dedupe_a_repeated_number_is_sent_each_time(plivo: Start) -> None:
    fake, session = await plivo(concurrency=1)
    number = us_numbers(1)[0]
    run = session.iter_unlink(CAMPAIGN, [number, number, number], dedupe=False)
    outcomes = [outcome async for outcome in run]
    assert len(outcomes) == 3
    assert len(fake.requests) == 3
    assert run._seen == set()


# -- a bare 404 "not found": the number, or the campaign? ------------------------------------


def bare_404_server(campaign_exists: bool) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and request.path.endswith("/Number/") and campaign_exists:
            return web.json_response({"api_id": "a", "phone_numbers": []})
        return web.json_response({"api_id": "a", "error": "not found"}, status=404)

    return handle


async def test_unlink_reads_a_bare_404_as_not_linked_when_the_campaign_exists(
    custom_server: Callable[[Handler], Awaitable[str]],
) -> None:
    base_url = await custom_server(bare_404_server(campaign_exists=True))
    async with session_on(base_url) as session:
        report = await session.unlink_many(CAMPAIGN, us_numbers(5))
    assert report.ok
    assert report.counts == {"already": 5}


async def test_unlink_stops_when_a_bare_404_turns_out_to_mean_no_campaign(
    custom_server: Callable[[Handler], Awaitable[str]],
) -> None:
    base_url = await custom_server(bare_404_server(campaign_exists=False))
    async with session_on(base_url) as session:
        report = await session.unlink_many(CAMPAIGN, us_numbers(50))
    assert not report.ok
    assert report.stopped_reason is not None
    assert report.counts == {"rejected": 1, "not_attempted": 49}


async def test_link_stops_at_a_404_that_names_no_number(
    custom_server: Callable[[Handler], Awaitable[str]],
) -> None:
    base_url = await custom_server(bare_404_server(campaign_exists=False))
    async with session_on(base_url) as session:
        report = await session.link_many(CAMPAIGN, us_numbers(100), batch_size=10)
    assert report.stopped_reason is not None
    assert report.counts == {"rejected": 10, "not_attempted": 90}


async def test_a_wait_takes_a_400_not_linked_answer_to_a_get_as_not_listed(
    custom_server: Callable[[Handler], Awaitable[str]],
) -> None:
    linked = us_numbers(1)[0]

    async def handle(request: web.Request) -> web.StreamResponse:
        number = request.path.rstrip("/").rsplit("/", 1)[-1]
        if number == linked:
            body = {"api_id": "a", "phone_numbers": [{"number": linked, "status": "COMPLETED"}]}
            return web.json_response(body)
        error = f"The number {number} is not linked to this campaign"
        return web.json_response({"api_id": "a", "error": error}, status=400)

    base_url = await custom_server(handle)
    gone = us_numbers(2)[1]
    async with session_on(base_url) as session:
        linked_report = await session.wait_for_numbers(CAMPAIGN, [linked], poll_interval=0)
        gone_report = await session.wait_for_numbers(
            CAMPAIGN, [gone], poll_interval=0, unlinked=True
        )
    assert linked_report.ok
    assert gone_report.ok


async def test_the_campaign_check_after_a_bare_404_counts_in_the_report_requests(
    custom_server: Callable[[Handler], Awaitable[str]],
) -> None:
    seen: list[str] = []
    answer = bare_404_server(campaign_exists=True)

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.method)
        return await answer(request)

    base_url = await custom_server(handle)
    async with session_on(base_url) as session:
        report = await session.unlink_many(CAMPAIGN, us_numbers(3))
    assert seen.count("GET") == 1
    assert report.requests == len(seen)
