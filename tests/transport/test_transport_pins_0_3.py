"""Pins on the transport that a mutation sample found unpinned (issue 18): an aiohttp
error's headers are cleaned in place (its type kept), the text of the error that replaces a
chain that cannot be cleaned, the 32 MiB answer cap and the 30 s attempt timeout."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from conftest import AUTH_ID, AUTH_TOKEN, ServerFactory, SessionFactory
from multidict import CIMultiDict
from yarl import URL

from plivo_numlink import (
    APIStatusError,
    BadRequestError,
    NumLinkSession,
    ResponseFormatError,
    RetryPolicy,
)
from plivo_numlink._config import SessionConfig
from plivo_numlink._transport import MAX_BODY_BYTES, sanitize_chain

ENCODED = base64.b64encode(f"{AUTH_ID}:{AUTH_TOKEN}".encode()).decode()


def test_an_aiohttp_error_s_headers_are_cleaned_in_place_and_its_type_kept() -> None:
    NumLinkSession(AUTH_ID, AUTH_TOKEN)  # registers the secrets
    url = URL("https://api.plivo.com/v1/Account/")
    request_info = aiohttp.RequestInfo(url, "GET", CIMultiDict(), url)
    echoed = CIMultiDict({"X-Echo": f"Basic {ENCODED}", "X-Token": AUTH_TOKEN, "X-Ok": "fine"})
    error = aiohttp.ClientResponseError(
        request_info, (), status=502, message="bad gateway", headers=echoed
    )
    cleaned = sanitize_chain(error)
    assert cleaned is error
    assert type(cleaned) is aiohttp.ClientResponseError
    assert cleaned.headers is not None
    assert dict(cleaned.headers) == {"X-Echo": "Basic ***", "X-Token": "***", "X-Ok": "fine"}
    assert ENCODED not in repr(cleaned)
    assert AUTH_TOKEN not in repr(cleaned)


def test_the_error_replacing_an_uncleanable_chain_reads_type_colon_cleaned_text() -> None:
    NumLinkSession(AUTH_ID, AUTH_TOKEN)  # registers the secrets

    class Leaky(aiohttp.ClientError):
        def __repr__(self) -> str:
            return f"Leaky(header='Basic {ENCODED}')"

    cleaned = sanitize_chain(Leaky(f"failed: Basic {ENCODED}"))
    assert type(cleaned) is aiohttp.ClientError
    assert str(cleaned) == "Leaky: failed: Basic ***"


def test_the_answer_cap_is_32_mib() -> None:
    assert MAX_BODY_BYTES == 32 * 1024 * 1024


@contextlib.asynccontextmanager
async def announcing_server(length: int) -> AsyncIterator[str]:
    """A raw server that announces a body of ``length`` bytes and sends none of it."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % length
            )
            await writer.drain()
            await reader.read()  # until the client closes
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_an_answer_announcing_one_byte_over_32_mib_is_refused_unread(
    make_session: SessionFactory,
) -> None:
    async with announcing_server(32 * 1024 * 1024 + 1) as base_url:
        session = make_session(base_url=base_url, retry=RetryPolicy(attempts=1))
        with pytest.raises(ResponseFormatError) as caught:
            await asyncio.wait_for(session.get_number("CUOGHIN", "12125557777"), 15)
    assert str(caught.value).startswith("answer body larger than 33554432 bytes, not read")


def test_each_attempt_is_bounded_by_30_seconds_by_default() -> None:
    assert inspect.signature(NumLinkSession).parameters["timeout"].default == 30
    assert SessionConfig.build(AUTH_ID, AUTH_TOKEN).timeout == 30


def test_an_aiohttp_error_s_message_is_cleaned_in_place_and_its_type_kept() -> None:
    NumLinkSession(AUTH_ID, AUTH_TOKEN)  # registers the secrets
    url = URL("https://api.plivo.com/v1/Account/")
    request_info = aiohttp.RequestInfo(url, "GET", CIMultiDict(), url)
    error = aiohttp.ClientResponseError(
        request_info, (), status=502, message=f"proxy refused Basic {ENCODED}"
    )
    cleaned = sanitize_chain(error)
    assert cleaned is error
    assert cleaned.message == "proxy refused Basic ***"


async def test_a_borrowed_http_session_keeps_its_own_middlewares(
    recording_server: ServerFactory,
) -> None:
    async def ok(request: web.Request, index: int) -> web.StreamResponse:
        return web.json_response(
            {"api_id": "a1", "phone_numbers": [{"number": "12125557777", "status": "COMPLETED"}]}
        )

    seen: list[str] = []

    async def tag(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        seen.append(request.method)
        return await handler(request)

    server = await recording_server(ok)
    async with aiohttp.ClientSession(middlewares=(tag,)) as http:
        session = NumLinkSession(
            AUTH_ID, AUTH_TOKEN, base_url=server.base_url, rate_limit=None, http_session=http
        )
        async with session:
            await session.get_number("CUOGHIN", "12125557777")
    assert seen == ["GET"]


async def test_an_answer_is_decoded_with_its_declared_charset_replacing_what_does_not_fit(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    async def ascii_error(request: web.Request, index: int) -> web.StreamResponse:
        body = '{"error": "café closed"}'.encode()
        return web.Response(
            status=400, body=body, headers={"Content-Type": "application/json; charset=us-ascii"}
        )

    server = await recording_server(ascii_error)
    session = make_session(base_url=server.base_url)
    with pytest.raises(BadRequestError) as caught:
        await session.get_number("CUOGHIN", "12125557777")
    assert caught.value.message == "caf\ufffd\ufffd closed"


async def test_a_second_send_in_one_attempt_fails_as_the_first_send_did() -> None:
    from plivo_numlink import _transport

    first = aiohttp.ClientOSError(104, "Connection reset by peer")
    sends: list[object] = []

    async def handler(request: object) -> object:
        sends.append(request)
        raise first

    state = _transport._Sends()
    token = _transport._send_state.set(state)
    try:
        with pytest.raises(aiohttp.ClientOSError):
            await _transport._one_send_per_attempt(object(), handler)  # type: ignore[arg-type]
        # aiohttp's silent re-send on a dead kept-alive connection: refused, unsent.
        with pytest.raises(aiohttp.ClientOSError) as again:
            await _transport._one_send_per_attempt(object(), handler)  # type: ignore[arg-type]
    finally:
        _transport._send_state.reset(token)
    assert again.value is first
    assert len(sends) == 1


async def test_a_second_send_after_a_first_that_did_not_fail_is_a_disconnect() -> None:
    from plivo_numlink import _transport

    async def handler(request: object) -> object:
        return "answer"

    token = _transport._send_state.set(_transport._Sends())
    try:
        assert await _transport._one_send_per_attempt(object(), handler) == "answer"  # type: ignore[arg-type]
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await _transport._one_send_per_attempt(object(), handler)  # type: ignore[arg-type]
    finally:
        _transport._send_state.reset(token)


@pytest.mark.parametrize(("status", "success"), [(299, True), (300, False)])
async def test_only_a_2xx_answer_is_a_success(
    recording_server: ServerFactory, make_session: SessionFactory, status: int, success: bool
) -> None:
    async def answer(request: web.Request, index: int) -> web.StreamResponse:
        body = {"api_id": "a1", "phone_numbers": [{"number": "12125557777", "status": "COMPLETED"}]}
        return web.json_response(body, status=status)

    server = await recording_server(answer)
    session = make_session(base_url=server.base_url)
    if success:
        assert (await session.get_number("CUOGHIN", "12125557777")).number == "12125557777"
    else:
        with pytest.raises(APIStatusError) as caught:
            await session.get_number("CUOGHIN", "12125557777")
        assert caught.value.status_code == 300


async def test_closing_the_session_closes_its_shared_storage() -> None:
    # Nothing is sent: the storage connects on first use, and closing it needs no server.
    session = NumLinkSession(
        AUTH_ID, AUTH_TOKEN, rate_limit=10, rate_limit_storage="redis://127.0.0.1:6379/0"
    )
    storage = session._requester.storage
    assert storage is not None
    assert not storage.closed
    await session.close()
    assert storage.closed
