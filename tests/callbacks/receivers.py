"""The three ways a callback is received, behind one interface, for tests that run the same
requests through each: ``verify`` called directly, the aiohttp handler and the ASGI app.

The aiohttp handler runs in aiohttp's test server and the ASGI app under a real uvicorn
server, each on a loopback port; requests reach both through a real HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import uvicorn
from aiohttp import web
from aiohttp.test_utils import TestServer

from plivo_numlink import callbacks
from plivo_numlink.callbacks import CallbackRejected, ReplayGuard

from .callback_support import Recorder

#: (status, body text) of one answer.
Result = tuple[int, str]
#: Sends (method, target, headers, body) and returns the answer.
Send = Callable[[str, str, Mapping[str, str], bytes], Awaitable[Result]]


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the test process keeps its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@contextlib.asynccontextmanager
async def uvicorn_serving(app: Any, *, lifespan: str = "off") -> AsyncIterator[str]:
    """``app`` served by uvicorn on a loopback port; yields its base URL.

    The socket is bound and listening before uvicorn starts, so clients may connect at
    once (the kernel queues them until uvicorn accepts): no polling for readiness.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan=lifespan,
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # X-Forwarded-* reach the app as sent
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def aiohttp_serving(handle: Any, path: str = "/cb") -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", path, handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url(""))
    finally:
        await server.close()


def http_sender(http: aiohttp.ClientSession, base: str) -> Send:
    async def send(method: str, target: str, headers: Mapping[str, str], body: bytes) -> Result:
        async with http.request(method, base + target, headers=dict(headers), data=body) as resp:
            return resp.status, await resp.text()

    return send


def verify_sender(recorder: Recorder, public_url: str, **options: Any) -> Send:
    """``verify`` as a user of another framework calls it (see docs/callbacks.md)."""
    guard = ReplayGuard()
    max_body_size = options.get("max_body_size", callbacks.DEFAULT_MAX_BODY_SIZE)

    async def send(method: str, target: str, headers: Mapping[str, str], body: bytes) -> Result:
        query = target.partition("?")[2]
        url = f"{public_url}?{query}" if query else public_url
        try:
            event = await callbacks.verify(
                method,
                url,
                headers,
                body,
                auth_token=options["auth_token"],
                replay_guard=guard,
                max_body_size=max_body_size,
            )
        except CallbackRejected as exc:
            return exc.status, exc.reason
        try:
            await recorder(event)
        except Exception:
            await guard.forget(event)
            return 500, "callback handler failed"
        return 200, "OK"

    return send


RUNNERS = ("verify", "aiohttp", "asgi")


@contextlib.asynccontextmanager
async def receiving(
    runner: str, recorder: Recorder, *, path: str = "/cb", **options: Any
) -> AsyncIterator[Send]:
    """A sender to the receiver ``runner`` names, built with ``options`` (public_url
    included, which ``verify`` is given as its URL)."""
    if runner == "verify":
        yield verify_sender(recorder, options.pop("public_url"), **options)
        return
    async with aiohttp.ClientSession() as http:
        if runner == "aiohttp":
            async with aiohttp_serving(callbacks.handler(recorder, **options), path) as base:
                yield http_sender(http, base)
        else:
            async with uvicorn_serving(callbacks.asgi_app(recorder, **options)) as base:
                yield http_sender(http, base)
