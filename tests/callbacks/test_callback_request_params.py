"""``callbacks.request_params``, the aiohttp-only reader kept for 0.2 code: bounded in size and
(new) in time, parsing through the same neutral code as ``verify``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from plivo_numlink.callbacks import request_params

from .callback_support import CALLBACK


async def serve_params(**options: object) -> TestClient[web.Request, web.Application]:
    async def handle(request: web.Request) -> web.Response:
        params = await request_params(request, **options)  # type: ignore[arg-type]
        return web.json_response(params)

    app = web.Application()
    app.router.add_route("*", "/p", handle)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_form_json_and_get_parameters_are_read() -> None:
    client = await serve_params()
    try:
        form = await client.post("/p", data=CALLBACK)
        assert await form.json() == CALLBACK
        as_json = await client.post("/p", json={**CALLBACK, "n": 1})
        assert await as_json.json() == {**CALLBACK, "n": "1"}
        get = await client.get("/p", params=[("a", "1"), ("a", "2")])
        assert await get.json() == {"a": ["1", "2"]}
    finally:
        await client.close()


async def test_oversized_unparsable_and_slow_bodies_get_http_errors() -> None:
    client = await serve_params(max_body_size=64, body_timeout=0.2)
    try:
        big = await client.post("/p", data={"x": "y" * 100})
        assert (big.status, await big.text()) == (413, "body too large")
        broken = await client.post("/p", data=b"{", headers={"Content-Type": "application/json"})
        assert (broken.status, await broken.text()) == (400, "body is not valid JSON")

        async def slow() -> AsyncIterator[bytes]:
            yield b"a=1"
            await asyncio.sleep(5)  # never reached in full: the server answers first
            yield b"&b=2"

        late = await client.post("/p", data=slow(), headers={"Content-Type": "text/plain"})
        assert (late.status, await late.text()) == (408, "body read timed out")
    finally:
        await client.close()
