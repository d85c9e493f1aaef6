"""Shared storage: an account-wide rate budget and callback nonces kept in Redis.

Many processes use one Plivo account (web workers, job workers, a bulk job next to live
traffic), and Plivo's limit belongs to the account. Named by a storage URI
(``rate_limit_storage="redis://host:6379/0"``, ``rediss://`` for TLS), Redis holds:

- the account's pacing state, which every :class:`RedisRateLimiter` with the same auth id
  books its request starts from (a GCRA in one Lua script: one round trip per start), so
  that all of them together start at most ``rate_limit`` requests per second (the highest
  one told, when sessions are told different rates; each session also keeps to its own),
  evenly spaced, and a slow-down or a Retry-After pause seen by one applies to all;
- callback nonces (:class:`RedisNonceStore`, one ``SET NX PX`` each), so that a nonce
  accepted by one web process is refused by every other.

``memory://``, an empty string or ``None`` keep everything in-process
(:class:`~plivo_numlink._pacing.AdaptiveRateLimiter`, :class:`MemoryNonceStore`).

Why a GCRA of our own rather than the ``limits`` library
--------------------------------------------------------
``limits``' strategies answer "may I, now?": a caller that hears no must ask again after a
guess at when, and the window's budget is granted to whoever asks first when it turns.
Measured with 3 processes x 10 tasks sharing 150/s on one Redis (10 s runs, twice): our
script took 1.08-1.10 round trips per start (one EVALSHA, plus connection set-up), gave the
processes 400/400/400 starts, and never more than 17-22 in 100 ms (even spacing is 15);
``limits``' moving window took 3.5-3.8 round trips, fixed window 1.7, sliding-window counter
23-41, their processes' shares were 0.60-0.93 of the largest, and the moving and fixed
windows started about 150 requests within 100 ms when the window turned.

Failing closed
--------------
When the storage cannot be reached, or is lost mid-use, ``acquire()`` raises
:class:`StorageError` (a :class:`~plivo_numlink.PlivoError`) within the storage's timeout
rather than falling back to pacing locally. A local fallback would pace each process at the
whole account's rate, N processes at N times the budget: exactly the 429 storm the shared
budget exists to prevent, and silently, since the job would look healthy. Stopping is
visible and safe: the bulk engine turns the error into a stop, so a job ends with every
number accounted for (those not sent reported as not attempted, with the storage's error as
the reason) and a journal lets it resume once Redis is back. A program that prefers to go on
unshared can catch the error and open a session without the storage.
"""

from __future__ import annotations

from ._client import DEFAULT_STORAGE_TIMEOUT, KEY_PREFIX, RedisStorage, hashed_name
from ._config import (
    DEFAULT_REDIS_PORT,
    STORAGE_ENV,
    ConfigurationError,
    RedisConfig,
    StorageError,
    parse_storage_uri,
    redact_uri,
)
from ._limiter import SHARED_HEADROOM, RateLimiter, RedisRateLimiter, account_key
from ._nonces import DEFAULT_MAX_NONCES, MemoryNonceStore, NonceStore, RedisNonceStore

__all__ = [
    "DEFAULT_MAX_NONCES",
    "DEFAULT_REDIS_PORT",
    "DEFAULT_STORAGE_TIMEOUT",
    "KEY_PREFIX",
    "SHARED_HEADROOM",
    "STORAGE_ENV",
    "ConfigurationError",
    "MemoryNonceStore",
    "NonceStore",
    "RateLimiter",
    "RedisConfig",
    "RedisNonceStore",
    "RedisRateLimiter",
    "RedisStorage",
    "StorageError",
    "account_key",
    "hashed_name",
    "open_storage",
    "parse_storage_uri",
    "redact_uri",
]


def open_storage(
    uri: str | None, *, timeout: float = DEFAULT_STORAGE_TIMEOUT
) -> RedisStorage | None:
    """The storage a URI names, or ``None`` for in-process (``None``, ``""``, ``memory://``).

    Raises :class:`ConfigurationError` for an unknown scheme, a malformed URI, or a
    ``redis://`` URI without redis-py installed. Nothing is connected yet: the first call
    connects, and fails with :class:`StorageError` within ``timeout`` if it cannot.
    """
    config = parse_storage_uri(uri)
    return None if config is None else RedisStorage(config, timeout=timeout)
