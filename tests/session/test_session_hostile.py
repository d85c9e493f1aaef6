"""NumLinkSession against hostile servers over real sockets (issue 10, items 7-10): endless
paging, servers that never answer, huge Retry-After, silent re-sends on dead kept-alive
connections, and fatal answers while waiting."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from conftest import ServerFactory, SessionFactory

import plivo_numlink as pn
from plivo_numlink import (
    AuthenticationError,
    BulkReport,
    CampaignNotFoundError,
    ForbiddenError,
    NumberOutcome,
    OutcomeKind,
    RateLimitError,
    ResponseFormatError,
)
from plivo_numlink.testing import FakePlivo

CAMPAIGN = "CUOGHIN"
NUMBER = "12125557777"
ACK = {"api_id": "ack-1", "message": "Request to link was received and is being processed"}


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"1212555{i:04d}" for i in range(start, start + count)]


def campaign_body(entries: list[str], status: str = "PROCESSING") -> dict[str, Any]:
    return {
        "api_id": "list-1",
        "campaign_id": CAMPAIGN,
        "campaign_alias": "alias",
        "usecase": "MIXED",
        "phone_numbers": [{"number": n, "status": status} for n in entries],
    }


def accepted_report(campaign_id: str, entries: list[str]) -> BulkReport:
    return BulkReport(
        outcomes=tuple(NumberOutcome(n, OutcomeKind.ACCEPTED, action="link") for n in entries),
        action="link",
        campaign_id=campaign_id,
    )


# -- item 7: endless paging ----------------------------------------------------------------


def fresh_number(k: int) -> str:
    """The ``k``-th of 6.4 billion distinct valid US numbers."""
    return f"1{200 + (k // 8_000_000) % 800}{200 + (k // 10_000) % 800}{k % 10_000:04d}"


async def endless_pages(request: web.Request, index: int) -> web.StreamResponse:
    """Every page holds 20 numbers never sent before, whatever the offset."""
    return web.json_response(campaign_body([fresh_number(index * 20 + i) for i in range(20)]))


async def test_list_numbers_gives_up_on_endless_fresh_pages_after_max_pages(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    server = await recording_server(endless_pages)
    session = make_session(base_url=server.base_url)
    with pytest.raises(
        ResponseFormatError, match=r"gave up listing campaign CUOGHIN after 7 pages"
    ):
        await session.list_numbers(CAMPAIGN, max_pages=7)
    assert len(server.requests) == 7


async def test_iter_pages_takes_the_same_page_cap(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    server = await recording_server(endless_pages)
    session = make_session(base_url=server.base_url)
    seen: list[object] = []

    async def read_all() -> None:
        async for page in session.iter_pages(CAMPAIGN, max_pages=3):
            seen.append(page)

    with pytest.raises(ResponseFormatError, match="max_pages"):
        await read_all()
    assert len(seen) == 3
    assert len(server.requests) == 3


async def test_list_numbers_gives_up_on_endless_pages_after_max_time(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    async def slow_endless(request: web.Request, index: int) -> web.StreamResponse:
        await asyncio.sleep(0.01)
        return await endless_pages(request, index)

    server = await recording_server(slow_endless)
    session = make_session(base_url=server.base_url)
    started = time.monotonic()
    with pytest.raises(ResponseFormatError, match=r"after 0\.1 s \(max_time\)"):
        await asyncio.wait_for(session.list_numbers(CAMPAIGN, max_time=0.1), 10)
    assert time.monotonic() - started < 5
    assert 2 <= len(server.requests) < 100


def test_the_default_page_cap_fits_a_realistic_campaign() -> None:
    for call in (pn.NumLinkSession.list_numbers, pn.NumLinkSession.iter_pages):
        parameters = inspect.signature(call).parameters
        assert parameters["max_pages"].default == 5_000  # 100,000 numbers at 20 a page
        assert parameters["max_time"].default is None


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"max_pages": 0}, "max_pages must be an integer >= 1"),
        ({"max_pages": True}, "max_pages must be an integer >= 1"),
        ({"max_time": -1}, "max_time must be a finite number >= 0"),
        ({"max_time": float("nan")}, "max_time must be a finite number >= 0"),
    ],
)
async def test_bad_paging_bounds_are_refused_before_sending(
    recording_server: ServerFactory,
    make_session: SessionFactory,
    options: dict[str, Any],
    words: str,
) -> None:
    server = await recording_server(endless_pages)
    session = make_session(base_url=server.base_url)
    with pytest.raises(ValueError, match=words):
        await session.list_numbers(CAMPAIGN, **options)
    assert server.requests == []


async def test_wait_for_numbers_is_not_held_by_endless_paging(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    server = await recording_server(endless_pages)
    session = make_session(base_url=server.base_url)
    started = time.monotonic()
    report = await asyncio.wait_for(
        session.wait_for_numbers(CAMPAIGN, numbers(5, start=9_000), timeout=0.3), 20
    )
    assert time.monotonic() - started < 10
    assert {o.kind for o in report} == {OutcomeKind.PENDING}


# -- item 8: deadlines ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A server that accepts connections and reads requests, and never answers."""
    writers: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def timed(call: Awaitable[Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = await asyncio.wait_for(call, 15)  # fails fast instead of hanging the suite
    return result, time.monotonic() - started


@pytest.mark.parametrize("count", [1, 5])  # one GET per number, or the list endpoint
async def test_wait_for_numbers_keeps_its_deadline_against_a_server_that_never_answers(
    make_session: SessionFactory, count: int
) -> None:
    async with silent_server() as base_url:
        session = make_session(base_url=base_url, timeout=30)
        report, elapsed = await timed(
            session.wait_for_numbers(CAMPAIGN, numbers(count), timeout=1, poll_interval=0.1)
        )
    assert elapsed < 3.0  # the deadline (1 s) plus about a second at most
    assert [o.kind for o in report] == [OutcomeKind.PENDING] * count
    assert all("no answer before the wait's deadline" in (o.error or "") for o in report)
    assert report.requests >= 1


async def test_wait_for_report_keeps_its_deadline_against_a_server_that_never_answers(
    make_session: SessionFactory,
) -> None:
    async with silent_server() as base_url:
        session = make_session(base_url=base_url, timeout=30)
        report, elapsed = await timed(
            session.wait_for_report(accepted_report(CAMPAIGN, numbers(3)), timeout=1)
        )
    assert elapsed < 3.0
    assert {o.kind for o in report} == {OutcomeKind.PENDING}


async def test_sync_wait_keeps_its_deadline_when_the_polls_hang(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    release = asyncio.Event()

    async def answers_then_hangs(request: web.Request, index: int) -> web.StreamResponse:
        if index == 0:  # sync's read of the campaign: empty
            return web.json_response(campaign_body([]))
        if request.method == "POST":
            return web.json_response(ACK)
        await release.wait()  # every poll hangs
        return web.json_response(campaign_body([]))

    server = await recording_server(answers_then_hangs)
    session = make_session(base_url=server.base_url, timeout=30)
    try:
        report, elapsed = await timed(
            session.sync(CAMPAIGN, numbers(4), wait=True, timeout=1, poll_interval=0.1)
        )
    finally:
        release.set()
    assert elapsed < 3.0
    assert [o.kind for o in report] == [OutcomeKind.PENDING] * 4


async def test_a_huge_retry_after_raises_at_once_and_does_not_hold_later_calls(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    async def throttle_once(request: web.Request, index: int) -> web.StreamResponse:
        if index == 0:
            return web.json_response(
                {"error": "too many requests"}, status=429, headers={"Retry-After": "1000000000"}
            )
        return web.json_response(campaign_body([NUMBER], status="COMPLETED"))

    server = await recording_server(throttle_once)
    session = make_session(base_url=server.base_url, rate_limit=50)
    with pytest.raises(RateLimitError):
        await timed(session.get_number(CAMPAIGN, NUMBER))
    entry, elapsed = await timed(session.get_number(CAMPAIGN, NUMBER))
    assert entry.number == NUMBER
    assert elapsed < 2.0  # not the server's 31 years, nor max_retry_after's 60 s
    assert len(server.requests) == 2


# -- item 9: aiohttp's silent re-sends (turned off: the session's own retry sends again) ---


class DroppingServer:
    """A raw HTTP/1.1 server: on each connection it answers the first request and keeps the
    connection alive, then reads the second request and closes without answering (a
    kept-alive connection that turns out dead), which makes aiohttp re-send on its own."""

    def __init__(self) -> None:
        self.received = 0
        self.dropped = 0
        self.base_url = ""
        self._server: asyncio.AbstractServer | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                self.received += 1
                if served == 1:
                    self.dropped += 1
                    return
                served += 1
                body = json.dumps(campaign_body([NUMBER], status="COMPLETED")).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def __aenter__(self) -> DroppingServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


async def test_every_request_that_leaves_is_counted_also_aiohttp_re_sends(
    make_session: SessionFactory,
) -> None:
    async with DroppingServer() as server:
        session = make_session(base_url=server.base_url, concurrency=1, rate_limit=1000)
        limiter = session._requester.limiter
        assert limiter is not None
        paced = 0
        acquire = limiter.acquire

        async def counting_acquire() -> None:
            nonlocal paced
            paced += 1
            await acquire()

        limiter.acquire = counting_acquire  # type: ignore[method-assign]
        report = await asyncio.wait_for(session.get_numbers(CAMPAIGN, [NUMBER, *numbers(5)]), 15)
        received_by_the_report = server.received
        single = await asyncio.wait_for(session.get_number(CAMPAIGN, NUMBER), 15)
    assert single.number == NUMBER
    assert server.dropped >= 2  # kept-alive connections did turn out dead
    assert report.requests == received_by_the_report
    assert session.requests_sent == server.received
    assert paced == server.received  # each send waited for the rate limiter


# -- item 10: fatal answers while waiting --------------------------------------------------


@contextlib.asynccontextmanager
async def on_fake(*, auth_token: str | None = None) -> AsyncIterator[pn.NumLinkSession]:
    async with (
        FakePlivo() as fake,
        pn.NumLinkSession(
            fake.auth_id,
            auth_token if auth_token is not None else fake.auth_token,
            base_url=fake.base_url,
            rate_limit=None,
        ) as session,
    ):
        yield session


Call = Callable[[pn.NumLinkSession, str, list[str]], Awaitable[Any]]

WAITS: dict[str, Call] = {
    "wait_for_numbers": lambda s, c, n: s.wait_for_numbers(c, n, timeout=30),
    "wait_for_numbers_unlinked": lambda s, c, n: s.wait_for_numbers(
        c, n, timeout=30, unlinked=True
    ),
    "wait_for_report": lambda s, c, n: s.wait_for_report(accepted_report(c, n), timeout=30),
}


@pytest.mark.parametrize("count", [1, 5])
@pytest.mark.parametrize("call", sorted(WAITS))
async def test_waiting_on_an_unknown_campaign_raises_at_once_naming_it(
    call: str, count: int
) -> None:
    async with on_fake() as session:
        with pytest.raises(CampaignNotFoundError, match="NOSUCHCAMPAIGN") as info:
            await timed(WAITS[call](session, "NOSUCHCAMPAIGN", numbers(count)))
    assert info.value.status_code == 404


@pytest.mark.parametrize("count", [1, 5])
@pytest.mark.parametrize("call", sorted(WAITS))
async def test_waiting_with_a_bad_token_raises_at_once(call: str, count: int) -> None:
    async with on_fake(auth_token="not-the-token") as session:
        with pytest.raises(AuthenticationError):
            await timed(WAITS[call](session, CAMPAIGN, numbers(count)))


@pytest.mark.parametrize("count", [1, 5])
@pytest.mark.parametrize("call", sorted(WAITS))
async def test_waiting_when_forbidden_raises_at_once(
    recording_server: ServerFactory, make_session: SessionFactory, call: str, count: int
) -> None:
    async def forbidden(request: web.Request, index: int) -> web.StreamResponse:
        return web.json_response({"error": "forbidden"}, status=403)

    server = await recording_server(forbidden)
    session = make_session(base_url=server.base_url)
    with pytest.raises(ForbiddenError):
        await timed(WAITS[call](session, CAMPAIGN, numbers(count)))
    assert 1 <= len(server.requests) <= count


async def test_a_bulk_call_s_own_wait_keeps_its_report_on_a_fatal_answer(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    async def link_then_forbidden(request: web.Request, index: int) -> web.StreamResponse:
        if request.method == "POST":
            return web.json_response(ACK)
        return web.json_response({"error": "forbidden"}, status=403)

    server = await recording_server(link_then_forbidden)
    session = make_session(base_url=server.base_url)
    report = await session.link_many(CAMPAIGN, numbers(3), wait=True, timeout=30)
    assert [o.kind for o in report] == [OutcomeKind.PENDING] * 3
    assert all("polling failed: HTTP 403" in (o.error or "") for o in report)
