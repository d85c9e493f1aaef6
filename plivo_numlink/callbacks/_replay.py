"""Replay protection for status callbacks: :class:`ReplayGuard`, in memory or through Redis.

Plivo puts a fresh nonce on every callback it signs. A guard remembers the nonces of the
callbacks accepted within its ``window`` and refuses a request that carries one again, so a
captured callback cannot be played back. Every receiver (the aiohttp handler, the ASGI app)
and :func:`~plivo_numlink.callbacks.verify` use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from types import TracebackType

from .._storage import (
    DEFAULT_MAX_NONCES,
    ConfigurationError,
    MemoryNonceStore,
    NonceStore,
    RedisNonceStore,
    RedisStorage,
    open_storage,
)
from ._events import CallbackEvent

__all__ = ["DEFAULT_REPLAY_WINDOW", "REPLAY_STORE_TIMEOUT", "ReplayGuard"]

#: Seconds a nonce is remembered: a request carrying a nonce already accepted within this
#: window is refused as a replay.
DEFAULT_REPLAY_WINDOW = 300.0
#: Seconds one call to a shared store may take: a callback answered 503 by then is retried
#: by Plivo, while one that hangs past Plivo's own timeout is simply lost.
REPLAY_STORE_TIMEOUT = 5.0
#: Keys of a shared store are named under this (the same as the receivers of 0.2 used, so
#: that old and new receivers on one Redis refuse each other's nonces).
_NAMESPACE = "callbacks"


class ReplayGuard:
    """Remembers the nonces of accepted callbacks for ``window`` seconds.

    ``ReplayGuard()`` (or ``ReplayGuard(window=300)``, ``ReplayGuard("memory://")``) keeps
    them in this process: at most ``max_nonces``, the oldest forgotten first. A replay is
    then not recognised by another process or host, after a restart, or once
    ``max_nonces`` newer nonces pushed it out.

    ``ReplayGuard("redis://host:6379/0")`` (or ``rediss://``) keeps them in Redis, one
    ``SET NX PX`` each with the window as TTL: every guard naming that Redis refuses a nonce
    any of them accepted, also after a restart. A store that fails or does not answer within
    ``timeout`` seconds raises :class:`~plivo_numlink.StorageError` (receivers answer 503 so
    that Plivo retries). Close a guard that opened a Redis connection with :meth:`aclose`
    (or use it as an async context manager). A ``NonceStore`` of your own works too.

    No timestamp is checked (Plivo documents none), so nothing bounds the age of a replay
    after ``window``: where that matters, make ``on_event`` idempotent too.
    """

    def __init__(
        self,
        storage: str | NonceStore | None = None,
        *,
        window: float = DEFAULT_REPLAY_WINDOW,
        max_nonces: int = DEFAULT_MAX_NONCES,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = REPLAY_STORE_TIMEOUT,
    ) -> None:
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not window >= 0:
            raise ValueError(f"window must be >= 0 seconds, not {window!r}")  # also NaN
        if max_nonces < 1:
            raise ValueError(f"max_nonces must be at least 1, not {max_nonces!r}")
        self._window = float(window)
        self._owned: RedisStorage | None = None
        store: NonceStore
        if storage is None or isinstance(storage, str):
            try:
                opened = open_storage(storage, timeout=timeout)
            except ConfigurationError as exc:
                # The URI parser speaks of the session's storage; this one is a replay store.
                message = str(exc).replace("rate-limit storage", "replay store", 1)
                raise ConfigurationError(message) from None
            if opened is None:
                store = MemoryNonceStore(max_nonces=max_nonces, clock=clock)
            else:
                self._owned = opened
                store = RedisNonceStore(opened, namespace=_NAMESPACE)
        elif isinstance(storage, NonceStore):
            store = storage
        else:
            raise TypeError(
                "a replay store must be a storage URI, a ReplayGuard or a NonceStore, "
                f"not {type(storage).__name__}"
            )
        self._store = store

    def __repr__(self) -> str:
        return f"ReplayGuard({self._store!r}, window={self._window:g})"

    @property
    def window(self) -> float:
        """Seconds a nonce is remembered."""
        return self._window

    @property
    def store(self) -> NonceStore:
        """Where the nonces are kept."""
        return self._store

    @property
    def shared(self) -> bool:
        """True when the nonces are kept outside this process (Redis)."""
        return isinstance(self._store, RedisNonceStore)

    async def remember(self, nonces: Iterable[str]) -> bool:
        """Record ``nonces``; ``False`` if any of them was seen within the window (a replay).

        A replay records nothing: the nonces this call had recorded are dropped again.
        Raises :class:`~plivo_numlink.StorageError` when a shared store fails.
        """
        added: list[str] = []
        for nonce in nonces:
            if await self._store.seen(nonce, self._window):
                for new in added:
                    await self._store.forget(new)
                return False
            added.append(nonce)
        return True

    async def forget(self, nonces: CallbackEvent | Iterable[str]) -> None:
        """Drop the nonces of an accepted event again, so that Plivo's retry is accepted.

        Call it when handling a verified event failed and you answer 5xx: Plivo's retry may
        carry the same nonce, which must not look like a replay. Raises
        :class:`~plivo_numlink.StorageError` when a shared store fails.
        """
        keys = nonces.nonces if isinstance(nonces, CallbackEvent) else tuple(nonces)
        for key in keys:
            await self._store.forget(key)

    async def aclose(self) -> None:
        """Close the Redis connection this guard opened (idempotent; not a store passed in)."""
        if self._owned is not None:
            await self._owned.aclose()

    async def __aenter__(self) -> ReplayGuard:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
