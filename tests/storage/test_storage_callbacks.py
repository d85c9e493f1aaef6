"""Callback receivers sharing replay protection through a real Redis (``replay_store=``).

Two aiohttp apps stand for two web processes behind one load balancer: both are told the
public URL Plivo calls, so one signed request is valid at either.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from plivo_numlink._storage import MemoryNonceStore, RedisNonceStore, StorageError, open_storage
from plivo_numlink.callbacks import CallbackEvent, CallbackReceiver, handler, signature_v2
from plivo_numlink.callbacks import signature_v3 as v3

TOKEN = "MY_AUTH_TOKEN_0123456789abcdef"
PUBLIC_URL = "https://example.com/numlink/callback"
PARAMS = {"event": "number_linking", "number": "12125557777", "status": "success"}

Client = TestClient[web.Request, web.Application]
Handler = Callable[[web.Request], Awaitable[web.Response]]


def headers(nonce: str) -> dict[str, str]:
    return {
        "X-Plivo-Signature-V2": signature_v2(PUBLIC_URL, nonce, TOKEN),
        "X-Plivo-Signature-V2-Nonce": nonce,
        "X-Plivo-Signature-V3": v3("POST", PUBLIC_URL, PARAMS, nonce, TOKEN),
        "X-Plivo-Signature-V3-Nonce": nonce,
    }


class Events:
    def __init__(self) -> None:
        self.seen: list[CallbackEvent] = []
        self.fail = False

    async def __call__(self, event: CallbackEvent) -> None:
        self.seen.append(event)
        if self.fail:
            raise RuntimeError("on_event failed")


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[Handler], Awaitable[Client]]]:
    started: list[Client] = []

    async def start(handle: Handler) -> Client:
        app = web.Application()
        app.router.add_post("/numlink/callback", handle)
        client: Client = TestClient(TestServer(app))
        await client.start_server()
        started.append(client)
        return client

    yield start
    for client in started:
        await client.close()


async def post(client: Client, nonce: str) -> tuple[int, str]:
    async with client.post("/numlink/callback", data=PARAMS, headers=headers(nonce)) as resp:
        return resp.status, await resp.text()


async def test_receivers_sharing_redis_refuse_a_nonce_either_has_seen(
    redis_url: str, clients: Any
) -> None:
    events = Events()
    common = {"auth_token": TOKEN, "public_url": PUBLIC_URL, "replay_store": redis_url}
    a = await clients(handler(events, **common))
    b = await clients(handler(events, **common))
    assert await post(a, "nonce-1") == (200, "OK")
    assert await post(b, "nonce-1") == (403, "replayed")
    assert await post(a, "nonce-1") == (403, "replayed")
    assert await post(b, "nonce-2") == (200, "OK")
    assert await post(a, "nonce-2") == (403, "replayed")
    assert len(events.seen) == 2


async def test_the_nonce_ttl_is_the_replay_window(redis_url: str) -> None:
    receiver = CallbackReceiver(
        Events(), auth_token=TOKEN, public_url=PUBLIC_URL, replay_store=redis_url
    )
    try:
        assert isinstance(receiver.replay_store, RedisNonceStore)
        assert await receiver.replay_store.seen("x", 300) is False
        storage = open_storage(redis_url)
        assert storage is not None
        try:
            keys = await storage.call("keys", lambda c: c.keys("plivo_numlink:nonce:*"))
            assert len(keys) == 1
            ttl = await storage.call("ttl", lambda c: c.pttl(keys[0]))
            assert 299_000 < ttl <= 300_000
        finally:
            await storage.aclose()
    finally:
        await receiver.aclose()
        await receiver.aclose()  # idempotent


async def test_a_callback_that_failed_is_accepted_again_by_another_receiver(
    redis_url: str, clients: Any
) -> None:
    events = Events()
    common = {"auth_token": TOKEN, "public_url": PUBLIC_URL, "replay_store": redis_url}
    a = await clients(handler(events, **common))
    b = await clients(handler(events, **common))
    events.fail = True
    status, _ = await post(a, "nonce-9")
    assert status == 500
    events.fail = False
    assert await post(b, "nonce-9") == (200, "OK")  # Plivo's retry, at the other process


async def test_a_failing_replay_store_answers_503_so_plivo_retries(
    closed_port: int, clients: Any, caplog: pytest.LogCaptureFixture
) -> None:
    events = Events()
    password = "pw-SeCrEt-4711"
    client = await clients(
        handler(
            events,
            auth_token=TOKEN,
            public_url=PUBLIC_URL,
            replay_store=f"redis://:{password}@127.0.0.1:{closed_port}/0",
        )
    )
    with caplog.at_level(logging.WARNING, logger="plivo_numlink"):
        status, text = await post(client, "nonce-3")
    assert (status, text) == (503, "replay store unavailable")
    assert events.seen == []
    assert "replay store failed" in caplog.text
    assert password not in caplog.text


async def test_the_default_stays_in_memory_and_a_store_object_can_be_shared(
    clients: Any,
) -> None:
    events = Events()
    a = await clients(handler(events, auth_token=TOKEN, public_url=PUBLIC_URL))
    b = await clients(handler(events, auth_token=TOKEN, public_url=PUBLIC_URL))
    assert await post(a, "n") == (200, "OK")
    assert await post(b, "n") == (200, "OK")  # per process: B never heard of it
    shared = MemoryNonceStore()
    c = await clients(handler(events, auth_token=TOKEN, public_url=PUBLIC_URL, replay_store=shared))
    d = await clients(handler(events, auth_token=TOKEN, public_url=PUBLIC_URL, replay_store=shared))
    assert await post(c, "m") == (200, "OK")
    assert await post(d, "m") == (403, "replayed")
    receiver = CallbackReceiver(events, auth_token=TOKEN, replay_store="memory://")
    assert isinstance(receiver.replay_store, MemoryNonceStore)
    assert "MemoryNonceStore" in repr(receiver)
    await receiver.aclose()
    with pytest.raises(TypeError, match="replay_store"):
        CallbackReceiver(events, auth_token=TOKEN, replay_store=42)  # type: ignore[arg-type]


class FlakyStore:
    """A NonceStore whose ``forget`` fails, and which has seen the V3 nonce already."""

    def __init__(self) -> None:
        self.kept: set[str] = {"v3:seen-by-v3"}
        self.forgotten: list[str] = []
        self.fail_forget = False

    async def seen(self, nonce: str, ttl: float) -> bool:
        if nonce in self.kept:
            return True
        self.kept.add(nonce)
        return False

    async def forget(self, nonce: str) -> None:
        if self.fail_forget:
            raise StorageError("the storage redis://127.0.0.1:1/0 failed")
        self.forgotten.append(nonce)
        self.kept.discard(nonce)


async def test_a_replay_forgets_what_it_recorded_and_a_failed_forget_is_logged(
    clients: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore()
    events = Events()
    client = await clients(
        handler(events, auth_token=TOKEN, public_url=PUBLIC_URL, replay_store=store)
    )
    # The V2 nonce is new, the V3 one was seen: a replay, and the V2 nonce is dropped again.
    assert await post(client, "seen-by-v3") == (403, "replayed")
    assert store.forgotten == ["v2:seen-by-v3"]
    events.fail = True
    store.fail_forget = True
    with caplog.at_level(logging.WARNING, logger="plivo_numlink"):
        status, _ = await post(client, "fresh")
    assert status == 500
    assert "could not forget a callback nonce" in caplog.text


async def test_replay_guards_on_one_redis_refuse_each_others_nonces(redis_url: str) -> None:
    from plivo_numlink.callbacks import ReplayGuard

    async with ReplayGuard(redis_url, window=300) as one, ReplayGuard(redis_url) as two:
        assert one.shared
        assert "redis://127.0.0.1" in repr(one)
        assert await one.remember(["v3:n1"]) is True
        assert await two.remember(["v3:n1"]) is False
        await two.forget(["v3:n1"])
        assert await one.remember(["v3:n1"]) is True


async def test_a_guard_and_an_old_style_receiver_share_the_same_nonces(
    redis_url: str, clients: Any
) -> None:
    from plivo_numlink.callbacks import ReplayGuard

    events = Events()
    client = await clients(
        handler(events, auth_token=TOKEN, public_url=PUBLIC_URL, replay_store=redis_url)
    )
    assert await post(client, "nonce-5") == (200, "OK")
    async with ReplayGuard(redis_url) as guard:
        assert await guard.remember(["v3:nonce-5"]) is False
