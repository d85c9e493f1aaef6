"""A storage that cannot be reached, or is lost mid-use, raises StorageError: never a hang.

The outer ``wait_for`` bounds only guard against a hang (they are far above the storage's
timeout); no test depends on how fast the error comes.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from plivo_numlink import PlivoError
from plivo_numlink._storage import (
    RedisNonceStore,
    RedisRateLimiter,
    RedisStorage,
    StorageError,
    open_storage,
)

AUTH_ID = "MA0123456789ABCDEFGH"
PASSWORD = "pw-SeCrEt-4711"
HANG_GUARD = 30.0


def storage_for(url: str, timeout: float = 2.0) -> RedisStorage:
    storage = open_storage(url, timeout=timeout)
    assert storage is not None
    return storage


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung or black-holed Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


async def test_a_closed_port_raises_storage_error(closed_port: int) -> None:
    storage = storage_for(f"redis://:{PASSWORD}@127.0.0.1:{closed_port}/0")
    limiter = RedisRateLimiter(storage, AUTH_ID, 10.0)
    with pytest.raises(StorageError) as info:
        await asyncio.wait_for(limiter.acquire(), HANG_GUARD)
    assert isinstance(info.value, PlivoError)
    assert "127.0.0.1" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert info.value.__cause__ is not None
    await storage.aclose()


async def test_a_redis_that_never_answers_raises_within_the_timeout(silent_server: int) -> None:
    storage = storage_for(f"redis://127.0.0.1:{silent_server}/0", timeout=0.3)
    limiter = RedisRateLimiter(storage, AUTH_ID, 10.0)
    with pytest.raises(StorageError, match=r"(did not answer within 0\.3 s|Timeout)"):
        await asyncio.wait_for(limiter.acquire(), HANG_GUARD)
    with pytest.raises(StorageError):
        await asyncio.wait_for(storage.ping(), HANG_GUARD)
    await storage.aclose()


async def test_redis_killed_mid_use_raises_storage_error_from_acquire(
    start_redis: Callable[..., Any],
) -> None:
    server = start_redis()
    storage = storage_for(server.url)
    limiter = RedisRateLimiter(storage, AUTH_ID, 1000.0)
    await limiter.acquire()
    await limiter.acquire()
    server.stop()
    with pytest.raises(StorageError, match=r"failed|did not answer"):
        await asyncio.wait_for(limiter.acquire(), HANG_GUARD)
    await storage.aclose()


async def test_a_wrong_password_is_a_storage_error_that_hides_it(
    start_redis: Callable[..., Any],
) -> None:
    server = start_redis(password="the-right-password")
    storage = storage_for(f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0")
    with pytest.raises(StorageError) as info:
        await asyncio.wait_for(storage.ping(), HANG_GUARD)
    assert PASSWORD not in str(info.value)
    await storage.aclose()


async def test_the_right_password_is_accepted(start_redis: Callable[..., Any]) -> None:
    server = start_redis(password=PASSWORD)
    storage = storage_for(server.url)
    await storage.ping()
    assert await RedisRateLimiter(storage, AUTH_ID, 5.0).reserve() == 0.0
    await storage.aclose()


async def test_a_closed_storage_raises_storage_error(redis_url: str) -> None:
    storage = storage_for(redis_url)
    await storage.ping()
    await storage.aclose()
    await storage.aclose()  # idempotent
    assert storage.closed
    with pytest.raises(StorageError, match="has been closed"):
        await RedisRateLimiter(storage, AUTH_ID, 5.0).acquire()


async def test_a_throttle_report_lost_with_the_storage_is_sent_with_the_next_call(
    redis_url: str, silent_server: int
) -> None:
    # A report that could not be delivered is kept, not dropped.
    dead = storage_for(f"redis://127.0.0.1:{silent_server}/0", timeout=0.2)

    async def no_sleep(seconds: float) -> None:
        return None

    limiter = RedisRateLimiter(dead, AUTH_ID, 10.0, clock=lambda: 100.0, sleep=no_sleep)
    for _ in range(limiter.min_throttles):  # enough to slow the account down
        limiter.on_throttle(retry_after=2.0)
    with pytest.raises(StorageError):
        await asyncio.wait_for(limiter.acquire(), HANG_GUARD)
    await dead.aclose()
    limiter._storage = live = storage_for(redis_url)
    assert await limiter.reserve() == pytest.approx(2.0)
    assert limiter.shared_rate == pytest.approx(7.0)
    await live.aclose()


async def test_a_nonce_store_on_a_lost_redis_raises_storage_error(
    start_redis: Callable[..., Any],
) -> None:
    server = start_redis()
    storage = storage_for(server.url)
    nonces = RedisNonceStore(storage)
    assert not await nonces.seen("n-1", 60)
    server.stop()
    with pytest.raises(StorageError):
        await asyncio.wait_for(nonces.seen("n-2", 60), HANG_GUARD)
    await storage.aclose()
