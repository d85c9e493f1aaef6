"""Shared fixtures of the test suite.

Each block below belongs to the tests named in its heading; add new fixtures in a block of
their own rather than changing another block's.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import attrs
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict

from plivo_numlink import NumLinkSession, RetryPolicy

T = TypeVar("T")

# =============================================================================================
# Core session (tests/session/, tests/bulk/ and the pure-module tests in tests/<area>/):
# credentials, a session factory, a recording HTTP server, aioresponses.

#: Shaped like a real Plivo main-account auth id ("MA" + 18 characters).
AUTH_ID = "MA0123456789ABCDEFGH"
#: Distinctive, so that a leak is easy to find in any text.
AUTH_TOKEN = "TOKEN-sEcReT-0123456789abcdefXYZ"
#: Retries that never sleep: for tests about how often, not how long.
FAST_RETRY = RetryPolicy(attempts=3, wait_initial=0, wait_max=0)


@pytest.fixture
def auth_id() -> str:
    return AUTH_ID


@pytest.fixture
def auth_token() -> str:
    return AUTH_TOKEN


@pytest.fixture
def no_plivo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the credentials environment variables for the test."""
    monkeypatch.delenv("PLIVO_AUTH_ID", raising=False)
    monkeypatch.delenv("PLIVO_AUTH_TOKEN", raising=False)


SessionFactory = Callable[..., NumLinkSession]


@pytest.fixture
async def make_session() -> AsyncIterator[SessionFactory]:
    """Build sessions with test credentials, zero-backoff retries and no pacing; all of
    them are closed at the end of the test. Keyword arguments override the defaults."""
    sessions: list[NumLinkSession] = []

    def make(**kwargs: Any) -> NumLinkSession:
        kwargs.setdefault("auth_id", AUTH_ID)
        kwargs.setdefault("auth_token", AUTH_TOKEN)
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("rate_limit", None)
        session = NumLinkSession(**kwargs)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        await session.close()


@attrs.frozen
class ReceivedRequest:
    """One request as the recording server saw it."""

    method: str
    #: The raw (still percent-encoded) path, without the query.
    path: str
    #: The raw query string.
    query_string: str
    query: MultiDict[str]
    headers: CIMultiDictProxy[str]
    body: bytes


Responder = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


class RecordingServer:
    """An HTTP server on 127.0.0.1 that records every request and answers with
    ``respond(request, index)`` (``index`` counts requests from 0)."""

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.requests: list[ReceivedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        index = len(self.requests)
        self.requests.append(
            ReceivedRequest(
                method=request.method,
                path=request.rel_url.raw_path,
                query_string=request.rel_url.raw_query_string,
                query=MultiDict(request.rel_url.query),
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                body=body,
            )
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self.respond(request, index)
        finally:
            self.in_flight -= 1


ServerFactory = Callable[[Responder], Awaitable[RecordingServer]]


@pytest.fixture
async def recording_server() -> AsyncIterator[ServerFactory]:
    """Start recording servers on 127.0.0.1; they are shut down at the end of the test."""
    servers: list[TestServer] = []

    async def start(respond: Responder) -> RecordingServer:
        recorder = RecordingServer(respond)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", recorder.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        recorder.base_url = str(server.make_url("")).rstrip("/")
        return recorder

    yield start
    for server in servers:
        await server.close()


class _NoStreamWriter:
    output_size = 0


_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


class CompatClientResponse(ClientResponse):
    """aioresponses 0.7.9 builds responses without the ``stream_writer`` argument that
    aiohttp >= 3.12 requires; supply a stand-in (the request is already "sent")."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", _NoStreamWriter())
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mock_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An ``aioresponses`` mock of every aiohttp request (nothing reaches the network)."""
    from aioresponses import aioresponses, core

    monkeypatch.setattr(core, "ClientResponse", CompatClientResponse)
    with aioresponses() as mock:
        yield mock


# ---------------------------------------------------------------------------------------------
# An event loop in a thread, for tests that drive the synchronous CLI against a FakePlivo


class LoopThread:
    """An event loop in a daemon thread; ``run`` executes a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


# ---------------------------------------------------------------------------------------------
# Network (every test): sessions read HTTP(S)_PROXY / NO_PROXY by default (trust_env=True),
# so a proxy set on the machine running the suite must not reroute the tests' requests.

PROXY_VARIABLES = tuple(
    name
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
