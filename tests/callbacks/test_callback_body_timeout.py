"""Receivers bound the time to read a body (``body_timeout``): a client dripping its body
byte by byte gets 408 instead of holding the connection (issue 18, row 6). Real sockets:
the aiohttp handler in aiohttp's server, the ASGI app under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from plivo_numlink import callbacks

from .callback_support import TOKEN, Recorder, request_records
from .receivers import aiohttp_serving, uvicorn_serving

PUBLIC_URL = "https://numlink.example.com/hooks/plivo"
#: Short, so that the test does not wait 10 s; the drip outlasts it by far (100 bytes, one
#: every 20 ms), and the test only waits for the answer.
BODY_TIMEOUT = 0.2
#: The most the test waits for any answer before it fails.
PATIENCE = 30


@contextlib.asynccontextmanager
async def serving(kind: str, recorder: Recorder, **options: object) -> AsyncIterator[str]:
    options = {"auth_token": TOKEN, "public_url": PUBLIC_URL, **options}
    if kind == "aiohttp":
        async with aiohttp_serving(callbacks.handler(recorder, **options)) as base:  # type: ignore[arg-type]
            yield base
    else:
        async with uvicorn_serving(callbacks.asgi_app(recorder, **options)) as base:  # type: ignore[arg-type]
            yield base


async def drip_and_read_status(base: str, length: int = 100) -> tuple[bytes, bool, bytes]:
    """Send headers announcing ``length`` bytes, then drip the body one byte at a time;
    return the status line read meanwhile, whether the drip was still going, and the
    answer's headers."""
    address = urlsplit(base)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(
        b"POST /cb HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )

    async def drip() -> None:
        for _ in range(length):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.02)

    dripping = asyncio.create_task(drip())
    try:
        status = await asyncio.wait_for(reader.readline(), PATIENCE)
        going = not dripping.done()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
        return status.rstrip(), going, head.lower()
    finally:
        dripping.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await dripping
        writer.close()


@pytest.mark.parametrize("kind", ["aiohttp", "asgi"])
async def test_a_body_dripped_slower_than_body_timeout_is_answered_408(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    with caplog.at_level(logging.WARNING, logger="plivo_numlink"):
        async with serving(kind, recorder, body_timeout=BODY_TIMEOUT) as base:
            status, still_dripping, head = await drip_and_read_status(base)
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert still_dripping  # answered while the client was still sending
    assert b"connection: close" in head  # the rest of the drip is no next request
    assert recorder.events == []
    (line,) = [record.getMessage() for record in request_records(caplog)]
    assert line == "status callback refused (408 body read timed out) for POST /cb"


@pytest.mark.parametrize("kind", ["aiohttp", "asgi"])
def test_body_timeout_must_be_positive(kind: str) -> None:
    build = callbacks.handler if kind == "aiohttp" else callbacks.asgi_app
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="body_timeout"):
            build(Recorder(), auth_token=TOKEN, public_url=PUBLIC_URL, body_timeout=bad)


def test_the_default_body_timeout_is_ten_seconds() -> None:
    assert callbacks.DEFAULT_BODY_TIMEOUT == 10.0
