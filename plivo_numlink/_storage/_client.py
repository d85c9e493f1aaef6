"""The connection to a Redis storage: one redis-py asyncio client, every call time-boxed.

redis-py is imported only when a ``redis://`` storage is used, so the library does not need
it otherwise (it comes with the ``plivo-numlink[redis]`` extra). Every call is bounded by
``timeout``: by the socket connect and read timeouts, and by an outer ``wait_for`` because
the client's own reconnect attempts would otherwise add up. Any failure, the client's or
the network's, becomes :class:`StorageError` with the password masked.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from ._config import ConfigurationError, RedisConfig, StorageError

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["DEFAULT_STORAGE_TIMEOUT", "KEY_PREFIX", "RedisStorage", "hashed_name"]

#: Seconds one call to the storage may take (connecting included) when none is given.
DEFAULT_STORAGE_TIMEOUT = 10.0
#: Every key this package writes starts with this.
KEY_PREFIX = "plivo_numlink"
_INSTALL_HINT = "pip install 'plivo-numlink[redis]'"

T = TypeVar("T")


def hashed_name(value: str) -> str:
    """A short stable digest naming ``value`` in keys (the raw value never goes in a key)."""
    return hashlib.sha256(f"{KEY_PREFIX}\0{value}".encode()).hexdigest()[:32]


def _import_redis() -> ModuleType:
    try:
        import redis.asyncio
    except ImportError as exc:
        raise ConfigurationError(
            f"a redis:// rate-limit storage needs the redis package: {_INSTALL_HINT}"
        ) from exc
    return redis.asyncio


class RedisStorage:
    """A Redis server shared by every process that names it, reached through one client.

    Construct it outside or inside an event loop; it connects on first use, and
    :meth:`aclose` closes it (idempotent). Raises :class:`ConfigurationError` at once when
    redis-py is not installed.
    """

    def __init__(self, config: RedisConfig, *, timeout: float = DEFAULT_STORAGE_TIMEOUT) -> None:
        if not timeout > 0:
            raise ConfigurationError(f"storage timeout must be > 0 seconds, not {timeout!r}")
        self._module = _import_redis()
        self.config = config
        self.timeout = float(timeout)
        self._client: redis.asyncio.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"RedisStorage({self.config.url!r}, timeout={self.timeout:g})"

    @property
    def closed(self) -> bool:
        return self._closed

    def _connect(self) -> redis.asyncio.Redis:
        if self._closed:
            raise StorageError(f"the storage {self.config.url} has been closed")
        if self._client is None:
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            cfg = self.config
            self._client = self._module.Redis(
                host=cfg.host,
                port=cfg.port,
                db=cfg.db,
                username=cfg.username,
                password=cfg.password,
                ssl=cfg.tls,
                socket_connect_timeout=self.timeout,
                socket_timeout=self.timeout,
                # One immediate retry gets past a pooled connection the server dropped; more
                # would only delay the error the caller must see (the outer wait_for caps it).
                retry=Retry(NoBackoff(), 1),
                decode_responses=True,
            )
        return self._client

    async def call(self, what: str, operation: Callable[[redis.asyncio.Redis], Awaitable[T]]) -> T:
        """Run ``operation(client)`` within ``timeout``; any failure raises StorageError."""
        client = self._connect()
        try:
            return await asyncio.wait_for(operation(client), self.timeout)
        except asyncio.TimeoutError as exc:
            raise StorageError(
                f"{what}: the storage {self.config.url} did not answer within {self.timeout:g} s"
            ) from exc
        except Exception as exc:  # redis-py's errors, OSError, anything from a broken link
            detail = self.config.redact(f"{type(exc).__name__}: {exc}")
            raise StorageError(f"{what}: the storage {self.config.url} failed: {detail}") from exc

    async def run_script(self, lua: str, keys: Sequence[str], args: Sequence[str]) -> Any:
        """Run a Lua script atomically (EVALSHA, loading it once if the server lacks it)."""
        client = self._connect()
        script = self._scripts.get(lua)
        if script is None:
            script = self._scripts[lua] = client.register_script(lua)
        return await self.call("running a script", lambda c: script(keys=keys, args=args))

    async def ping(self) -> None:
        """Check that the storage answers (raises StorageError otherwise)."""
        await self.call("ping", lambda c: c.ping())

    async def aclose(self) -> None:
        """Close the connections. Idempotent; later calls raise StorageError."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
