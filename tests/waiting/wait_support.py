"""Shared by the waiting tests: a virtual clock, a session and fake on it, a callback receiver."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

import plivo_numlink as pn
from plivo_numlink import callbacks
from plivo_numlink.testing import FakePlivo

CAMPAIGN = "CUOGHIN"
ZERO_BACKOFF = pn.RetryPolicy(attempts=3, wait_initial=0, wait_max=0)


class VirtualTime:
    """A clock that moves only when the session sleeps: no real time passes."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def session_on(
    fake: FakePlivo, time: VirtualTime | None = None, **options: Any
) -> pn.NumLinkSession:
    timing: dict[str, Any] = {} if time is None else {"sleep": time.sleep, "clock": time.clock}
    options = {"concurrency": 8, "rate_limit": None, "retry": ZERO_BACKOFF, **timing, **options}
    return pn.NumLinkSession(fake.auth_id, fake.auth_token, base_url=fake.base_url, **options)


def gets(fake: FakePlivo) -> int:
    return sum(request.method == "GET" for request in fake.requests)


def linked_numbers(fake: FakePlivo) -> list[str]:
    """Every number sent in a link request, as often as it was sent."""
    sent: list[str] = []
    for request in fake.requests:
        if request.method == "POST":
            sent.extend(request.body["numbers"])
    return sent


@contextlib.asynccontextmanager
async def receiver(hub: callbacks.EventHub, auth_token: str) -> AsyncIterator[str]:
    """An aiohttp app publishing verified callbacks into ``hub``; yields its URL."""
    app = web.Application()
    app.router.add_route("*", "/cb", callbacks.handler(hub.publish, auth_token=auth_token))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/cb"
    finally:
        await runner.cleanup()
