"""Nonce stores: a nonce is accepted once per TTL, by one store or by every store on a Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from plivo_numlink._storage import (
    MemoryNonceStore,
    NonceStore,
    RedisNonceStore,
    RedisStorage,
    open_storage,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis_storages(redis_url: str) -> AsyncIterator[Callable[[], RedisStorage]]:
    """Storages on their own connections, as in separate web processes."""
    made: list[RedisStorage] = []

    def make() -> RedisStorage:
        storage = open_storage(redis_url, timeout=5.0)
        assert storage is not None
        made.append(storage)
        return storage

    yield make
    for storage in made:
        await storage.aclose()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> NonceStore:
    if request.param == "memory":
        return MemoryNonceStore()
    make: Callable[[], RedisStorage] = request.getfixturevalue("redis_storages")
    return RedisNonceStore(make())


# ---------------------------------------------------------------------------------------------
# Either store


async def test_a_nonce_is_accepted_once(store: NonceStore) -> None:
    assert isinstance(store, NonceStore)
    assert await store.seen("nonce-1", 60) is False
    assert await store.seen("nonce-1", 60) is True
    assert await store.seen("nonce-2", 60) is False


async def test_a_forgotten_nonce_is_accepted_again(store: NonceStore) -> None:
    await store.seen("nonce-1", 60)
    await store.forget("nonce-1")
    await store.forget("never-seen")
    assert await store.seen("nonce-1", 60) is False
    assert await store.seen("nonce-1", 60) is True


async def test_a_ttl_of_zero_remembers_nothing(store: NonceStore) -> None:
    assert await store.seen("nonce-1", 0) is False
    assert await store.seen("nonce-1", 0) is False
    await store.seen("nonce-1", 60)
    assert await store.seen("nonce-1", 0) is True


@pytest.mark.parametrize("nonce", ["", None, 7])
async def test_a_nonce_must_be_a_non_empty_string(store: NonceStore, nonce: object) -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        await store.seen(nonce, 60)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty string"):
        await store.forget(nonce)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Shared through Redis


async def test_two_stores_on_one_redis_refuse_each_others_nonces(
    redis_storages: Callable[[], RedisStorage],
) -> None:
    first, second = RedisNonceStore(redis_storages()), RedisNonceStore(redis_storages())
    assert await first.seen("nonce-1", 60) is False
    assert await second.seen("nonce-1", 60) is True
    assert await second.seen("nonce-2", 60) is False
    assert await first.seen("nonce-2", 60) is True


async def test_namespaces_keep_stores_apart(redis_storages: Callable[[], RedisStorage]) -> None:
    storage = redis_storages()
    mine, theirs = RedisNonceStore(storage, namespace="A"), RedisNonceStore(storage, namespace="B")
    assert await mine.seen("nonce-1", 60) is False
    assert await theirs.seen("nonce-1", 60) is False


async def test_a_redis_nonce_expires_with_its_ttl_under_a_digest(
    redis_storages: Callable[[], RedisStorage], redis_url: str
) -> None:
    store = RedisNonceStore(redis_storages())
    await store.seen("the-nonce-text", 2.5)
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        [key] = await client.keys("*")
        assert key.startswith("plivo_numlink:nonce:")
        assert "the-nonce-text" not in key
        assert 0 < await client.pttl(key) <= 2500
    finally:
        await client.aclose()
    assert "RedisNonceStore(storage='redis://127.0.0.1:" in repr(store)


# ---------------------------------------------------------------------------------------------
# In-process


async def test_a_memory_nonce_expires_after_its_ttl() -> None:
    clock = FakeClock()
    store = MemoryNonceStore(clock=clock)
    await store.seen("nonce-1", 10)
    clock.now += 9.9
    assert await store.seen("nonce-1", 10) is True
    clock.now += 0.2
    assert await store.seen("nonce-1", 10) is False
    assert len(store) == 1


async def test_a_memory_store_keeps_at_most_max_nonces() -> None:
    store = MemoryNonceStore(max_nonces=3)
    for n in range(5):
        await store.seen(f"nonce-{n}", 60)
    assert len(store) == 3
    assert await store.seen("nonce-0", 60) is False  # the oldest were forgotten first
    assert await store.seen("nonce-4", 60) is True
    assert repr(store) == "MemoryNonceStore(3 nonces, max_nonces=3)"


async def test_a_long_ttl_in_front_does_not_keep_a_shorter_one_alive() -> None:
    clock = FakeClock()
    store = MemoryNonceStore(clock=clock)
    await store.seen("long", 100)
    await store.seen("short", 1)
    clock.now += 2
    assert await store.seen("short", 1) is False
    assert await store.seen("long", 100) is True


def test_max_nonces_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="max_nonces"):
        MemoryNonceStore(max_nonces=0)
