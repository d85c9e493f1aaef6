"""NumLinkSession over real sockets, against a small recording server on 127.0.0.1: the
exact wire contract of the four calls, retries after real faults, paging behaviours and the
concurrency limit as the server sees it."""

from __future__ import annotations

import asyncio
import base64
import json
import platform
import re
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import (
    AUTH_ID,
    AUTH_TOKEN,
    ReceivedRequest,
    RecordingServer,
    ServerFactory,
    SessionFactory,
)

from plivo_numlink import (
    LinkAck,
    LinkStatus,
    NotFoundError,
    NumberStatus,
    RetryPolicy,
    ServerError,
    TransportError,
    __version__,
)

CAMPAIGN = "CUOGHIN"
NUMBER = "12125557777"
CAMPAIGN_PATH = f"/v1/Account/{AUTH_ID}/10dlc/Campaign/{CAMPAIGN}/Number/"
NUMBER_PATH = f"{CAMPAIGN_PATH}{NUMBER}/"
BASIC = "Basic " + base64.b64encode(f"{AUTH_ID}:{AUTH_TOKEN}".encode()).decode()
ACK = {"api_id": "ack-1", "message": "Request to link was received and is being processed"}


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"1212555{i:04d}" for i in range(start, start + count)]


def campaign_body(entries: list[str], status: str = "COMPLETED") -> dict[str, Any]:
    return {
        "api_id": "list-1",
        "campaign_id": CAMPAIGN,
        "campaign_alias": "alias",
        "usecase": "MIXED",
        "phone_numbers": [{"number": n, "status": status} for n in entries],
    }


def plivo_like(linked: list[str]) -> Callable[[web.Request, int], Awaitable[web.Response]]:
    """Answers the four calls the way the API documents them (pages capped at the limit)."""

    async def respond(request: web.Request, index: int) -> web.Response:
        if request.method == "POST":
            return web.json_response(ACK, status=202)
        if request.method == "DELETE":
            return web.json_response(ACK, status=202)
        if request.path == CAMPAIGN_PATH:
            limit = int(request.query.get("limit", "20"))
            offset = int(request.query.get("offset", "0"))
            return web.json_response(campaign_body(linked[offset : offset + limit]))
        number = request.path.rstrip("/").rsplit("/", 1)[-1]
        if number in linked:
            return web.json_response(campaign_body([number], status="PROCESSING"))
        return web.json_response({"api_id": "e-1", "error": "number not found"}, status=404)

    return respond


def json_body(received: ReceivedRequest) -> Any:
    return json.loads(received.body)


# =============================================================================================
# The wire contract of the four calls


@pytest.fixture
async def plivo(recording_server: ServerFactory) -> RecordingServer:
    return await recording_server(plivo_like([NUMBER]))


async def test_link_posts_json_numbers_to_the_campaign_path(
    plivo: RecordingServer, make_session: SessionFactory
) -> None:
    ack = await make_session(base_url=plivo.base_url).link(CAMPAIGN, ["+1 (212) 555-7777"])
    [received] = plivo.requests
    assert (received.method, received.path, received.query_string) == ("POST", CAMPAIGN_PATH, "")
    assert received.headers["Content-Type"] == "application/json"
    assert json_body(received) == {"numbers": [NUMBER]}
    assert ack == LinkAck(api_id="ack-1", message=ACK["message"])


async def test_link_with_a_callback_sends_url_and_upper_case_method(
    plivo: RecordingServer, make_session: SessionFactory
) -> None:
    session = make_session(base_url=plivo.base_url)
    await session.link(CAMPAIGN, [NUMBER], url="https://example.com/cb?x=1", method="get")
    assert json_body(plivo.requests[0]) == {
        "numbers": [NUMBER],
        "url": "https://example.com/cb?x=1",
        "method": "GET",
    }


async def test_unlink_without_a_callback_sends_no_body(
    plivo: RecordingServer, make_session: SessionFactory
) -> None:
    await make_session(base_url=plivo.base_url).unlink(CAMPAIGN, NUMBER)
    [received] = plivo.requests
    assert (received.method, received.path, received.query_string) == ("DELETE", NUMBER_PATH, "")
    assert received.body == b""
    assert "Content-Type" not in received.headers


async def test_unlink_with_a_callback_sends_it_as_json(
    plivo: RecordingServer, make_session: SessionFactory
) -> None:
    session = make_session(base_url=plivo.base_url)
    await session.unlink(CAMPAIGN, NUMBER, url="http://example.com/cb", method="POST")
    [received] = plivo.requests
    assert received.headers["Content-Type"] == "application/json"
    assert json_body(received) == {"url": "http://example.com/cb", "method": "POST"}


async def test_get_number_gets_the_number_path_without_a_body(
    plivo: RecordingServer, make_session: SessionFactory
) -> None:
    status = await make_session(base_url=plivo.base_url).get_number(CAMPAIGN, "(212) 555-7777")
    [received] = plivo.requests
    assert (received.method, received.path, received.query_string) == ("GET", NUMBER_PATH, "")
    assert received.body == b""
    assert status == NumberStatus(NUMBER, LinkStatus.PROCESSING)


async def test_list_numbers_gets_the_campaign_path_with_limit_and_offset(
    plivo: RecordingServer, make_session: SessionFactory
) -> None:
    campaign = await make_session(base_url=plivo.base_url).list_numbers(CAMPAIGN)
    first = plivo.requests[0]
    assert (first.method, first.path) == ("GET", CAMPAIGN_PATH)
    assert dict(first.query) == {"limit": "20", "offset": "0"}
    assert first.body == b""
    assert [entry.number for entry in campaign] == [NUMBER]


async def test_every_call_sends_basic_auth_accept_and_a_user_agent(
    plivo: RecordingServer, make_session: SessionFactory
) -> None:
    session = make_session(base_url=plivo.base_url)
    await session.link(CAMPAIGN, [NUMBER])
    await session.get_number(CAMPAIGN, NUMBER)
    await session.list_numbers(CAMPAIGN)
    await session.unlink(CAMPAIGN, NUMBER)
    assert {r.method for r in plivo.requests} == {"POST", "GET", "DELETE"}
    agent = re.compile(
        rf"plivo-numlink/{re.escape(__version__)} "
        rf"Python/{re.escape(platform.python_version())} aiohttp/\S+"
    )
    for received in plivo.requests:
        assert received.headers["Authorization"] == BASIC
        assert received.headers["Accept"] == "application/json"
        assert agent.fullmatch(received.headers["User-Agent"])


async def test_the_path_is_exactly_what_was_validated(
    plivo: RecordingServer, make_session: SessionFactory
) -> None:
    # No dot segments, no encoding tricks: the server sees the documented path byte for byte.
    await make_session(base_url=plivo.base_url + "/").get_number(CAMPAIGN, "+1 212.555.7777")
    assert plivo.requests[0].path == NUMBER_PATH


async def test_a_status_error_carries_plivo_s_error_text(
    plivo: RecordingServer, make_session: SessionFactory
) -> None:
    with pytest.raises(NotFoundError) as info:
        await make_session(base_url=plivo.base_url).get_number(CAMPAIGN, "12125550000")
    assert (info.value.status_code, info.value.api_id) == (404, "e-1")
    assert info.value.message == "number not found"
    assert len(plivo.requests) == 1


# =============================================================================================
# Retries over real sockets


def sequence(*answers: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    """A responder giving each answer in turn, the last one from then on."""

    async def respond(request: web.Request, index: int) -> web.StreamResponse:
        return await answers[min(index, len(answers) - 1)](request)

    return respond


async def ok_ack(request: web.Request) -> web.StreamResponse:
    return web.json_response(ACK, status=202)


async def unavailable(request: web.Request) -> web.StreamResponse:
    return web.Response(status=503, text="<html>Service Unavailable</html>")


async def drop_connection(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


async def truncated_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=202, headers={"Content-Length": "200"})
    await response.prepare(request)
    await response.write(b'{"api_id": "ack-')
    assert request.transport is not None
    request.transport.close()
    return response


async def test_a_503_then_200_succeeds_after_one_retry(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    server = await recording_server(sequence(unavailable, ok_ack))
    ack = await make_session(base_url=server.base_url).link(CAMPAIGN, [NUMBER])
    assert ack.api_id == "ack-1"
    assert len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body


async def test_a_503_every_time_ends_in_a_server_error_after_all_attempts(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    server = await recording_server(sequence(unavailable))
    with pytest.raises(ServerError) as info:
        await make_session(base_url=server.base_url).link(CAMPAIGN, [NUMBER])
    assert info.value.status_code == 503
    assert len(server.requests) == 3


async def test_a_dropped_connection_then_200_succeeds_after_a_retry(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    # A POST: aiohttp itself does not silently resend it, so the retry is ours.
    server = await recording_server(sequence(drop_connection, ok_ack))
    ack = await make_session(base_url=server.base_url).link(CAMPAIGN, [NUMBER])
    assert ack.api_id == "ack-1"
    assert len(server.requests) == 2


async def test_connections_dropped_every_time_end_in_a_transport_error_with_the_cause(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    server = await recording_server(sequence(drop_connection))
    with pytest.raises(TransportError) as info:
        await make_session(base_url=server.base_url).link(CAMPAIGN, [NUMBER])
    assert isinstance(info.value.__cause__, aiohttp.ServerDisconnectedError)
    assert len(server.requests) == 3


async def test_a_body_cut_short_then_200_succeeds_after_a_retry(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    server = await recording_server(sequence(truncated_body, ok_ack))
    ack = await make_session(base_url=server.base_url).link(CAMPAIGN, [NUMBER])
    assert ack.api_id == "ack-1"
    assert len(server.requests) == 2


async def test_a_refused_connection_is_a_transport_error(make_session: SessionFactory) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = make_session(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(TransportError) as info:
        await session.get_number(CAMPAIGN, NUMBER)
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectionError)


@pytest.fixture
def hold() -> Iterator[asyncio.Event]:
    """An event that handlers wait on; always released at the end of the test."""
    release = asyncio.Event()
    yield release
    release.set()


async def test_an_attempt_that_times_out_is_retried_then_a_transport_error(
    recording_server: ServerFactory, make_session: SessionFactory, hold: asyncio.Event
) -> None:
    async def stall(request: web.Request, index: int) -> web.StreamResponse:
        await hold.wait()
        return web.json_response(ACK)

    server = await recording_server(stall)
    session = make_session(
        base_url=server.base_url,
        timeout=0.05,
        retry=RetryPolicy(attempts=2, wait_initial=0, wait_max=0),
    )
    with pytest.raises(TransportError, match=r"timed out after 0\.05 s") as info:
        await session.get_number(CAMPAIGN, NUMBER)
    assert isinstance(info.value.__cause__, asyncio.TimeoutError)
    assert len(server.requests) == 2


async def test_an_attempt_that_times_out_then_an_answer_succeeds(
    recording_server: ServerFactory, make_session: SessionFactory, hold: asyncio.Event
) -> None:
    async def stall_first(request: web.Request, index: int) -> web.StreamResponse:
        if index == 0:
            await hold.wait()
        return web.json_response(campaign_body([NUMBER]))

    server = await recording_server(stall_first)
    session = make_session(base_url=server.base_url, timeout=0.05)
    assert (await session.get_number(CAMPAIGN, NUMBER)).number == NUMBER
    assert len(server.requests) == 2


async def test_a_429_with_retry_after_is_waited_out_and_retried(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    async def throttled(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"api_id": "t", "error": "Too many requests"},
            status=429,
            headers={"Retry-After": "0.01"},
        )

    server = await recording_server(sequence(throttled, ok_ack))
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    session = make_session(base_url=server.base_url, sleep=record)
    assert (await session.link(CAMPAIGN, [NUMBER])).api_id == "ack-1"
    assert waits == [0.01]


# =============================================================================================
# Paging behaviours


def pages_capped_at(linked: list[str], cap: int) -> Any:
    async def respond(request: web.Request, index: int) -> web.StreamResponse:
        limit = min(int(request.query["limit"]), cap)
        offset = int(request.query["offset"])
        return web.json_response(campaign_body(linked[offset : offset + limit]))

    return respond


def ignoring_paging(linked: list[str]) -> Any:
    async def respond(request: web.Request, index: int) -> web.StreamResponse:
        return web.json_response(campaign_body(linked))

    return respond


async def test_pages_capped_below_the_limit_are_all_gathered(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    linked = numbers(23)
    server = await recording_server(pages_capped_at(linked, 7))
    campaign = await make_session(base_url=server.base_url).list_numbers(CAMPAIGN)
    assert [entry.number for entry in campaign] == linked
    assert [r.query["offset"] for r in server.requests] == ["0", "7", "14", "21"]


async def test_pages_capped_with_an_exact_multiple_end_on_an_empty_page(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    linked = numbers(14)
    server = await recording_server(pages_capped_at(linked, 7))
    campaign = await make_session(base_url=server.base_url).list_numbers(CAMPAIGN)
    assert len(campaign) == 14
    assert [r.query["offset"] for r in server.requests] == ["0", "7", "14"]


async def test_a_server_ignoring_paging_does_not_cause_a_loop(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    linked = numbers(45)
    server = await recording_server(ignoring_paging(linked))
    campaign = await make_session(base_url=server.base_url).list_numbers(CAMPAIGN)
    assert [entry.number for entry in campaign] == linked
    assert len(server.requests) == 2


async def test_an_empty_campaign_is_one_request(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    server = await recording_server(ignoring_paging([]))
    campaign = await make_session(base_url=server.base_url).list_numbers(CAMPAIGN)
    assert (campaign.campaign_id, campaign.phone_numbers) == (CAMPAIGN, ())
    assert len(server.requests) == 1


async def test_a_full_listing_over_the_documented_page_size(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    linked = numbers(50)
    server = await recording_server(pages_capped_at(linked, 20))
    campaign = await make_session(base_url=server.base_url).list_numbers(CAMPAIGN)
    assert len(campaign) == 50
    assert [r.query["offset"] for r in server.requests] == ["0", "20", "40"]


# =============================================================================================
# Concurrency as the server sees it


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait (polling every millisecond) until ``condition()`` holds."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), timeout)


class GateWatch(asyncio.Semaphore):
    """The session's concurrency gate, telling when ``expected`` requests have reached it
    (an event to wait on, instead of sleeping and hoping another request would arrive)."""

    def __init__(self, session: Any, *, expected: int) -> None:
        requester = session._requester
        super().__init__(requester.concurrency)
        requester._semaphore = self
        self.expected = expected
        self.arrived = 0
        self.inside = 0
        self.all_arrived = asyncio.Event()

    @property
    def waiting(self) -> int:
        return self.arrived - self.inside

    async def acquire(self) -> bool:
        self.arrived += 1
        if self.arrived >= self.expected:
            self.all_arrived.set()
        await super().acquire()
        self.inside += 1
        return True


async def test_the_server_never_sees_more_requests_in_flight_than_the_concurrency(
    recording_server: ServerFactory, make_session: SessionFactory, hold: asyncio.Event
) -> None:
    async def held(request: web.Request, index: int) -> web.StreamResponse:
        await hold.wait()
        return web.json_response(campaign_body([NUMBER]))

    server = await recording_server(held)
    session = make_session(base_url=server.base_url, concurrency=3)
    gate = GateWatch(session, expected=12)
    calls = [asyncio.create_task(session.get_number(CAMPAIGN, NUMBER)) for _ in range(12)]
    await until(lambda: server.in_flight >= 3)
    # Every call has reached the concurrency gate: the nine not in flight wait there, so a
    # fourth request in flight could only come from a gate letting it through.
    await asyncio.wait_for(gate.all_arrived.wait(), 5)
    assert server.in_flight == 3
    assert gate.waiting == 9
    hold.set()
    await asyncio.gather(*calls)
    assert server.max_in_flight == 3
    assert len(server.requests) == 12


async def test_concurrency_holds_across_different_calls_of_one_session(
    recording_server: ServerFactory, make_session: SessionFactory, hold: asyncio.Event
) -> None:
    async def held(request: web.Request, index: int) -> web.StreamResponse:
        await hold.wait()
        if request.method == "GET":
            return web.json_response(campaign_body([NUMBER]))
        return web.json_response(ACK)

    server = await recording_server(held)
    session = make_session(base_url=server.base_url, concurrency=2)
    gate = GateWatch(session, expected=5)
    calls = [
        session.link(CAMPAIGN, [NUMBER]),
        session.unlink(CAMPAIGN, NUMBER),
        session.get_number(CAMPAIGN, NUMBER),
        session.link(CAMPAIGN, [NUMBER]),
        session.unlink(CAMPAIGN, NUMBER),
    ]
    tasks = [asyncio.create_task(call) for call in calls]
    await until(lambda: server.in_flight >= 2)
    await asyncio.wait_for(gate.all_arrived.wait(), 5)  # the other three wait at the gate
    assert server.in_flight == 2
    assert gate.waiting == 3
    hold.set()
    await asyncio.gather(*tasks)
    assert server.max_in_flight == 2
