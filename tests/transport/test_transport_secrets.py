"""Credentials never shown by an error (issue 10, item 4): the Authorization header's value
is a secret like the token; no exception in a failure's chain shows either in its str or
repr, and server text echoing them is redacted before it reaches errors, logs and reports."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import AUTH_ID, AUTH_TOKEN, ServerFactory, SessionFactory

from plivo_numlink import APIStatusError, PlivoError, RetryPolicy, TransportError

CAMPAIGN = "CUOGHIN"
NUMBER = "12125557777"
ENCODED = base64.b64encode(f"{AUTH_ID}:{AUTH_TOKEN}".encode()).decode()
SECRETS = (AUTH_TOKEN, ENCODED)


def chain(exc: BaseException) -> Iterator[BaseException]:
    """Every exception reachable through __cause__ and __context__."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        link = todo.pop()
        if any(link is s for s in seen):
            continue
        seen.append(link)
        yield link
        todo.extend(e for e in (link.__cause__, link.__context__) if e is not None)


def shows_a_secret(text: str) -> bool:
    return any(secret in text for secret in SECRETS)


def assert_clean(exc: BaseException) -> None:
    links = list(chain(exc))
    for link in links:
        for text in (str(link), repr(link)):
            assert not shows_a_secret(text), f"{type(link).__name__} shows a secret: {text}"
        args = " ".join(repr(a) for a in link.args)
        assert not shows_a_secret(args), f"{type(link).__name__}.args show a secret"
        for name in ("message", "text", "request_info", "headers"):
            value = getattr(link, name, None)
            if value is not None:
                assert not shows_a_secret(repr(value)), f"{type(link).__name__}.{name}"
        if isinstance(link, APIStatusError):
            assert not shows_a_secret(json.dumps(link.body))


async def failure(call: Awaitable[Any]) -> PlivoError:
    try:
        await asyncio.wait_for(call, 15)
    except PlivoError as exc:
        return exc
    raise AssertionError("the call did not fail")


def test_the_basic_header_value_is_redacted_like_the_token() -> None:
    from plivo_numlink import NumLinkSession
    from plivo_numlink._log import redact

    NumLinkSession(AUTH_ID, AUTH_TOKEN)  # registers the secrets
    assert redact(f"echo: Basic {ENCODED}") == "echo: Basic ***"
    assert redact(f"[{AUTH_TOKEN}]") == "[***]"


async def test_a_refused_connection_shows_no_secret(make_session: SessionFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = make_session(base_url=f"http://127.0.0.1:{port}")
    exc = await failure(session.get_number(CAMPAIGN, NUMBER))
    assert isinstance(exc, TransportError)
    assert_clean(exc)


async def test_a_timeout_shows_no_secret(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    release = asyncio.Event()

    async def stall(request: web.Request, index: int) -> web.StreamResponse:
        await release.wait()
        return web.json_response({})

    server = await recording_server(stall)
    session = make_session(base_url=server.base_url, timeout=0.05)
    try:
        exc = await failure(session.get_number(CAMPAIGN, NUMBER))
    finally:
        release.set()
    assert isinstance(exc, TransportError)
    assert_clean(exc)


@contextlib.asynccontextmanager
async def raw_server(answer: Callable[[bytes], bytes]) -> AsyncIterator[str]:
    """A raw server that reads one request head and writes ``answer(head)`` as is."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if length:
                await reader.readexactly(int(length.group(1)))
            writer.write(answer(head))
            await writer.drain()
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


def authorization(head: bytes) -> bytes:
    found = re.search(rb"(?i)authorization:\s*([^\r\n]+)", head)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize(
    "answer",
    [
        # A status line aiohttp cannot parse: its ClientResponseError keeps the request
        # (with our headers) and the line itself.
        lambda head: b"HTTP/1.1 2x0 " + authorization(head) + b"\r\n\r\n",
        # A header line that is not a header, echoing ours.
        lambda head: (
            b"HTTP/1.1 200 OK\r\n" + authorization(head) + b"\r\nContent-Length: 2\r\n\r\n{}"
        ),
        # A body shorter than announced, after echoing headers.
        lambda head: (
            b"HTTP/1.1 500 Oops\r\nX-Echo: " + authorization(head) + b"\r\n"
            b"Content-Length: 100\r\n\r\n" + authorization(head)
        ),
    ],
    ids=["bad-status-line", "bad-header-line", "short-body"],
)
async def test_a_malformed_answer_echoing_the_header_shows_no_secret(
    make_session: SessionFactory, answer: Callable[[bytes], bytes]
) -> None:
    async with raw_server(answer) as base_url:
        session = make_session(base_url=base_url, retry=RetryPolicy(attempts=1))
        exc = await failure(session.get_number(CAMPAIGN, NUMBER))
    assert isinstance(exc, TransportError)
    assert_clean(exc)


@pytest.mark.parametrize("status", [400, 401, 500])
async def test_an_error_answer_echoing_the_header_shows_no_secret(
    recording_server: ServerFactory,
    make_session: SessionFactory,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def echo(request: web.Request, index: int) -> web.StreamResponse:
        header = request.headers["Authorization"]
        return web.json_response(
            {"error": f"bad credentials {header} ({AUTH_TOKEN})", "detail": header},
            status=status,
            headers={"X-Echo": header},
        )

    server = await recording_server(echo)
    session = make_session(base_url=server.base_url)
    with caplog.at_level(logging.DEBUG, logger="plivo_numlink"):
        exc = await failure(session.get_number(CAMPAIGN, NUMBER))
        report = await session.link_many(CAMPAIGN, [NUMBER])
    assert isinstance(exc, APIStatusError)
    assert "***" in exc.message
    assert_clean(exc)
    for outcome in report:
        assert not shows_a_secret(repr(outcome))
    assert not shows_a_secret(report.to_csv())
    assert not shows_a_secret(json.dumps(report.to_json()))
    assert not shows_a_secret(caplog.text)


def test_a_cause_that_cannot_be_cleaned_in_place_is_replaced() -> None:
    from plivo_numlink import NumLinkSession
    from plivo_numlink._transport import sanitize_chain

    NumLinkSession(AUTH_ID, AUTH_TOKEN)  # registers the secrets

    class Leaky(aiohttp.ClientError):
        def __repr__(self) -> str:
            return f"Leaky(header='Basic {ENCODED}')"

    inner = OSError(f"echo {AUTH_TOKEN}")
    outer = Leaky(f"failed: {ENCODED}")
    outer.__context__ = inner
    cleaned = sanitize_chain(outer)
    assert cleaned is not outer
    assert isinstance(cleaned, aiohttp.ClientError)
    assert "Leaky" in str(cleaned)
    assert "***" in str(cleaned)
    assert_clean(cleaned)
    assert "***" in str(inner)  # the links it could clean are cleaned too
