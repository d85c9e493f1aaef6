"""Opening a session: its arguments and the environment read and checked, its parts made.

Everything ``NumLinkSession(...)`` does before it can send a request lives here: the
settings checked (``SessionConfig``), the proxy and TLS options (read from the environment
once), the shared rate storage the argument or ``PLIVO_NUMLINK_RATE_LIMIT_STORAGE`` names,
and the telemetry providers. The result is one :class:`~._transport.Requester`; the session
facade in ``_session.py`` only keeps it.
"""

from __future__ import annotations

import os
import ssl as _ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from . import _telemetry
from ._config import DEFAULT_RATE_LIMIT, SessionConfig
from ._errors import ConfigurationError
from ._network import NetworkOptions
from ._retry import RetryPolicy
from ._storage import STORAGE_ENV, RedisStorage, open_storage
from ._transport import Requester

__all__ = [
    "DEFAULT_RATE",
    "enter",
    "load_telemetry",
    "open_rate_storage",
    "open_requester",
]

#: ``rate_limit``'s default: :data:`~._config.DEFAULT_RATE_LIMIT` (``None`` means no limit).
DEFAULT_RATE: Any = object()


def open_requester(
    auth_id: str | None,
    auth_token: str | None,
    *,
    base_url: str | None,
    concurrency: int,
    rate_limit: float | None,
    retry: RetryPolicy,
    timeout: float,
    http_session: aiohttp.ClientSession | None,
    sleep: Callable[[float], Awaitable[None]] | None,
    clock: Callable[[], float] | None,
    rate_limit_storage: str | None,
    proxy: str | None,
    trust_env: bool,
    ssl: _ssl.SSLContext | None,
    providers: tuple[Any, Any],
) -> Requester:
    """The requester a session with these arguments sends through (``ConfigurationError``
    names a bad argument or environment variable)."""
    config = SessionConfig.build(
        auth_id,
        auth_token,
        base_url=base_url,
        concurrency=concurrency,
        rate_limit=DEFAULT_RATE_LIMIT if rate_limit is DEFAULT_RATE else rate_limit,
        retry=retry,
        timeout=timeout,
    )
    if http_session is not None and not isinstance(http_session, aiohttp.ClientSession):
        raise ConfigurationError(
            f"http_session must be an aiohttp.ClientSession, not {type(http_session).__name__}"
        )
    network = NetworkOptions.build(
        config.base_url, proxy=proxy, trust_env=trust_env, ssl=ssl, http_session=http_session
    )
    storage = open_rate_storage(rate_limit_storage, config)
    requester = Requester(
        config,
        http_session=http_session,
        sleep=sleep,
        clock=clock,
        storage=storage,
        network=network,
    )
    load_telemetry(requester, providers)
    return requester


def load_telemetry(requester: Requester, providers: tuple[Any, Any]) -> None:
    """Give ``requester`` what the (tracer, meter) ``providers`` record; ``None``: global."""
    requester.telemetry = _telemetry.load(*providers, requester.config.base_url)


def enter(requester: Requester, providers: tuple[Any, Any]) -> None:
    """What ``async with session`` does on entry: refuse a closed session, make the HTTP
    session, and load the telemetry again where a provider is the global one (an
    application may have set up its global provider since the session was made)."""
    requester.check_open()
    requester.http_session()
    if None in providers:
        load_telemetry(requester, providers)


def open_rate_storage(uri: object, config: SessionConfig) -> RedisStorage | None:
    """The shared storage ``uri`` (or the environment) names, or ``None`` for in-process."""
    source = "rate_limit_storage"
    if uri is None:
        uri = os.environ.get(STORAGE_ENV) or None
        source = f"the environment variable {STORAGE_ENV}"
    try:
        storage = open_storage(uri, timeout=config.timeout)  # type: ignore[arg-type]
    except ConfigurationError as exc:
        raise ConfigurationError(f"{source}: {exc}") from None
    if storage is not None and config.rate_limit is None:
        raise ConfigurationError(
            f"{source} names a shared storage ({storage.config.url}) but rate_limit is None: "
            "a shared budget needs a rate (pass rate_limit=, the account's requests per second)"
        )
    return storage
