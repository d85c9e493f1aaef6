"""Nonce stores for callbacks' replay protection: in-process, or shared through Redis.

A store answers one question atomically: "has this nonce been seen within its TTL? If not,
remember it now". Web processes behind one load balancer that share a Redis store then
refuse a nonce that any of them accepted. ``forget`` drops a nonce again, for a callback
answered 500 whose retry by Plivo carries the same nonce.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ._client import KEY_PREFIX, RedisStorage, hashed_name

__all__ = ["DEFAULT_MAX_NONCES", "MemoryNonceStore", "NonceStore", "RedisNonceStore"]

#: Most nonces an in-process store remembers at once (the oldest are forgotten first).
DEFAULT_MAX_NONCES = 100_000


@runtime_checkable
class NonceStore(Protocol):
    """Remembers nonces for a while; shared by every handler that uses the same store."""

    async def seen(self, nonce: str, ttl: float) -> bool:
        """``True`` if ``nonce`` was already seen within its TTL (a replay); otherwise
        remember it for ``ttl`` seconds and return ``False``. A ``ttl`` of 0 or less
        remembers nothing."""
        ...

    async def forget(self, nonce: str) -> None:
        """Drop ``nonce`` so that it is accepted once more."""
        ...


def _check(nonce: str) -> None:
    if not isinstance(nonce, str) or not nonce:
        raise ValueError(f"a nonce must be a non-empty string, not {nonce!r}")


class MemoryNonceStore:
    """The in-process store: nonces expire after their TTL, at most ``max_nonces`` kept."""

    def __init__(
        self,
        *,
        max_nonces: int = DEFAULT_MAX_NONCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_nonces < 1:
            raise ValueError(f"max_nonces must be at least 1, not {max_nonces!r}")
        self._max = max_nonces
        self._clock = clock
        # nonce -> when it may be forgotten. TTLs may differ, so the front is not always the
        # first to expire: a lookup checks the expiry itself, and the sweep only bounds size.
        self._expiry: collections.OrderedDict[str, float] = collections.OrderedDict()

    def __repr__(self) -> str:
        return f"MemoryNonceStore({len(self._expiry)} nonces, max_nonces={self._max})"

    def __len__(self) -> int:
        return len(self._expiry)

    def _sweep(self, now: float) -> None:
        expiry = self._expiry
        while expiry:
            when = next(iter(expiry.values()))
            if when > now and len(expiry) <= self._max:
                return
            expiry.popitem(last=False)

    async def seen(self, nonce: str, ttl: float) -> bool:
        _check(nonce)
        now = self._clock()
        self._sweep(now)
        when = self._expiry.get(nonce)
        if when is not None and when > now:
            return True
        if ttl > 0:
            self._expiry.pop(nonce, None)
            self._expiry[nonce] = now + ttl
            self._sweep(now)
        return False

    async def forget(self, nonce: str) -> None:
        _check(nonce)
        self._expiry.pop(nonce, None)


class RedisNonceStore:
    """The shared store: one ``SET NX PX`` per nonce, so two processes cannot both accept
    it. Keys are ``plivo_numlink:nonce:<digest of namespace>:<digest of nonce>``; give each
    account (or each receiver) its own ``namespace``. Storage failures raise StorageError."""

    def __init__(self, storage: RedisStorage, *, namespace: str = "") -> None:
        self._storage = storage
        self._prefix = f"{KEY_PREFIX}:nonce:{hashed_name(namespace)}:"

    def __repr__(self) -> str:
        return f"RedisNonceStore(storage={self._storage.config.url!r})"

    def _key(self, nonce: str) -> str:
        return self._prefix + hashed_name(nonce)

    async def seen(self, nonce: str, ttl: float) -> bool:
        _check(nonce)
        key = self._key(nonce)
        if not ttl > 0:
            exists = await self._storage.call("checking a nonce", lambda c: c.exists(key))
            return bool(exists)
        ms = max(1, round(ttl * 1000))
        created = await self._storage.call(
            "recording a nonce", lambda c: c.set(key, "1", nx=True, px=ms)
        )
        return not created

    async def forget(self, nonce: str) -> None:
        _check(nonce)
        key = self._key(nonce)
        await self._storage.call("forgetting a nonce", lambda c: c.delete(key))
