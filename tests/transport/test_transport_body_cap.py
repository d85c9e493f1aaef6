"""The body cap counts decoded bytes: a small gzip or deflate answer that decodes to more
than the cap is refused, 2xx or error alike, and exceptions keep at most 64 KiB of a body."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import plivo_numlink as pn
import plivo_numlink._transport as transport_module
from plivo_numlink._errors import MAX_KEPT_BODY

CAMPAIGN = "CUOGHIN"
NUMBER = "12125557777"
CAP = 64 * 1024
#: Valid JSON, about 2 MiB once decoded, a few KiB on the wire.
BIG_JSON = b'{"api_id": "x", "pad": "' + b"0" * (2 * 1024 * 1024) + b'"}'


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(transport_module, "MAX_BODY_BYTES", CAP)
    return CAP


Serve = Callable[[int, bytes, str], Any]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    servers: list[TestServer] = []
    hits: list[int] = []

    async def start(status: int, body: bytes, encoding: str) -> tuple[str, list[int]]:
        async def handler(request: web.Request) -> web.Response:
            hits.append(1)
            headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
            return web.Response(status=status, body=body, headers=headers)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/"), hits

    yield start
    for server in servers:
        await server.close()


def session_on(base_url: str) -> pn.NumLinkSession:
    return pn.NumLinkSession(
        "MA0123456789ABCDEFGH",
        "token",
        base_url=base_url,
        rate_limit=None,
        retry=pn.RetryPolicy(attempts=3, wait_initial=0, wait_max=0),
    )


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)]
)
async def test_a_compressed_2xx_that_decodes_past_the_cap_is_refused(
    small_cap: int, serve: Callable[..., Any], encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    body = compress(BIG_JSON)
    assert len(body) < small_cap
    base_url, _ = await serve(200, body, encoding)
    async with session_on(base_url) as session:
        with pytest.raises(pn.ResponseFormatError, match=f"larger than {small_cap} bytes"):
            await session.link(CAMPAIGN, [NUMBER])


async def test_a_compressed_error_answer_past_the_cap_ends_in_a_typed_error(
    small_cap: int, serve: Callable[..., Any]
) -> None:
    base_url, hits = await serve(500, gzip.compress(BIG_JSON), "gzip")
    async with session_on(base_url) as session:
        with pytest.raises(pn.PlivoError, match="larger than"):
            await session.get_number(CAMPAIGN, NUMBER)
    assert len(hits) == 1  # not read, not retried


async def test_a_compressed_answer_under_the_cap_is_read_whole(
    small_cap: int, serve: Callable[..., Any]
) -> None:
    base_url, _ = await serve(202, gzip.compress(b'{"api_id": "abc", "message": "ok"}'), "gzip")
    async with session_on(base_url) as session:
        ack = await session.link(CAMPAIGN, [NUMBER])
    assert ack.api_id == "abc"


async def test_an_error_keeps_at_most_64_kib_of_its_body(serve: Callable[..., Any]) -> None:
    body = b"x" * (MAX_KEPT_BODY * 3)
    base_url, _ = await serve(400, body, "identity")
    async with session_on(base_url) as session:
        with pytest.raises(pn.BadRequestError) as caught:
            await session.get_number(CAMPAIGN, NUMBER)
    assert len(caught.value.text) == MAX_KEPT_BODY == 64 * 1024
    assert caught.value.body is None
    format_error = pn.ResponseFormatError("bad", status_code=200, text="y" * (MAX_KEPT_BODY + 5))
    assert len(format_error.text) == MAX_KEPT_BODY
