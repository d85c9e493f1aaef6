"""The ASGI receiver as servers and frameworks run it: under uvicorn (lifespan on), mounted in
FastAPI, and refusing what it does not serve (issue 16, item 2)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from fastapi import FastAPI

from plivo_numlink import StorageError, callbacks
from plivo_numlink.testing import sign_callback

from .callback_support import CALLBACK, TOKEN, Recorder
from .receivers import uvicorn_serving

PUBLIC_URL = "https://numlink.example.com/hooks/plivo"


async def post_signed(http: aiohttp.ClientSession, url: str, *, signed_for: str = "") -> int:
    headers = sign_callback("POST", signed_for or url, CALLBACK, TOKEN)
    async with http.post(url, data=CALLBACK, headers=headers, allow_redirects=False) as resp:
        return resp.status


async def test_it_runs_alone_under_uvicorn_with_lifespan_and_closes_its_store_at_shutdown(
    unused_tcp_port: int,
) -> None:
    recorder = Recorder()
    app = callbacks.asgi_app(
        recorder,
        auth_token=TOKEN,
        public_url=PUBLIC_URL,
        replay_store=f"redis://127.0.0.1:{unused_tcp_port}/0",  # never reached in this test
    )
    async with (
        uvicorn_serving(app, lifespan="on") as base,
        aiohttp.ClientSession() as http,
        http.get(base + "/anything") as resp,
    ):
        assert (resp.status, await resp.text()) == (403, "missing signature")
    with pytest.raises(StorageError, match="closed"):
        await app.replay_guard.remember(["v3:1"])


async def test_mounted_in_fastapi_it_receives_at_the_mount_path_with_a_slash() -> None:
    recorder = Recorder()
    api = FastAPI()
    api.mount("/plivo/numlink", callbacks.asgi_app(recorder, auth_token=TOKEN))
    async with uvicorn_serving(api) as base, aiohttp.ClientSession() as http:
        assert await post_signed(http, base + "/plivo/numlink/") == 200
        assert await post_signed(http, base + "/plivo/numlink/?tenant=5") == 200
        tampered = await post_signed(
            http, base + "/plivo/numlink/", signed_for=base + "/plivo/other/"
        )
        assert tampered == 403
    assert len(recorder.events) == 2


async def test_as_a_fastapi_route_it_receives_at_the_exact_path() -> None:
    recorder = Recorder()
    api = FastAPI()
    receiver = callbacks.asgi_app(recorder, auth_token=TOKEN)
    api.router.add_route("/plivo/numlink", receiver, methods=["GET", "POST"])
    async with uvicorn_serving(api) as base, aiohttp.ClientSession() as http:
        assert await post_signed(http, base + "/plivo/numlink") == 200
    assert len(recorder.events) == 1


async def test_a_websocket_is_refused() -> None:
    app = callbacks.asgi_app(Recorder(), auth_token=TOKEN, public_url=PUBLIC_URL)
    async with uvicorn_serving(app) as base, aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(base.replace("http", "ws") + "/ws")
    assert refused.value.status == 403


def test_its_repr_hides_the_token() -> None:
    app = callbacks.asgi_app(Recorder(), auth_token=TOKEN, public_url=PUBLIC_URL)
    assert TOKEN not in repr(app)
    assert "MemoryNonceStore" in repr(app)


async def test_a_replay_guard_is_shared_between_receivers() -> None:
    guard = callbacks.ReplayGuard(window=60)
    recorder = Recorder()
    one = callbacks.asgi_app(recorder, auth_token=TOKEN, public_url=PUBLIC_URL, replay_store=guard)
    two = callbacks.handler(recorder, auth_token=TOKEN, public_url=PUBLIC_URL, replay_store=guard)
    assert one.replay_guard is guard
    assert two.__self__.replay_guard is guard  # type: ignore[attr-defined]
    await one.aclose()  # not its guard to close
    assert await guard.remember(["v3:1"]) is True


async def test_without_a_host_header_the_servers_address_is_the_signed_host() -> None:
    # HTTP/1.0 allows a request without Host: the URL is then the address it reached.
    recorder = Recorder()
    app = callbacks.asgi_app(recorder, auth_token=TOKEN)
    async with uvicorn_serving(app) as base:
        query = "event=number_linking&number=12125557777&status=success"
        headers = sign_callback("GET", f"{base}/cb?{query}", {}, TOKEN)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET /cb?{query} HTTP/1.0\r\n{head}\r\n".encode())
        status = await asyncio.wait_for(reader.readline(), 30)
        writer.close()
    assert status.startswith(b"HTTP/1.1 200"), status
    assert [event.number for event in recorder.events] == ["12125557777"]
