"""The aiohttp side of status callbacks: verify, refuse replays, parse, dispatch.

:class:`CallbackReceiver` holds the state (the nonces already accepted); :func:`handler`
builds one and returns its ``handle`` method for an aiohttp route.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias
from urllib.parse import urlparse

from aiohttp import web

from .._log import register_secret
from .._storage import (
    MemoryNonceStore,
    NonceStore,
    RedisNonceStore,
    StorageError,
    open_storage,
)
from ._events import CallbackEvent, parse_event
from ._request import DEFAULT_MAX_BODY_SIZE, request_params
from ._signatures import SIGNATURE_HEADERS, token_list, valid_nonces

__all__ = [
    "DEFAULT_MAX_NONCES",
    "DEFAULT_REPLAY_WINDOW",
    "CallbackReceiver",
    "OnEvent",
    "PublicUrl",
    "ReplayStore",
    "handler",
]

logger = logging.getLogger("plivo_numlink")

#: Seconds a nonce is remembered: a request carrying a nonce already accepted within this
#: window is refused as a replay. (A request answered 500 is forgotten, so Plivo's retry of
#: it is accepted even if it carries the same nonce.) The memory is per receiver, in the
#: process: see :class:`CallbackReceiver` for what that does not cover.
DEFAULT_REPLAY_WINDOW = 300.0
#: Most nonces remembered at once. Only validly signed requests are remembered, so this is
#: reached only by a very busy endpoint; the oldest are forgotten first.
DEFAULT_MAX_NONCES = 100_000

#: Seconds one call to a shared replay store may take: a callback answered 503 by then is
#: retried by Plivo, while one that hangs past Plivo's own timeout is simply lost.
REPLAY_STORE_TIMEOUT = 5.0
#: Where accepted nonces are kept: a storage URI (``"redis://host:6379/0"``, ``"memory://"``)
#: or a :class:`~plivo_numlink._storage.NonceStore`; ``None`` keeps them in this process.
ReplayStore: TypeAlias = "str | NonceStore | None"

#: The signature headers' names as Plivo writes them (``X-Plivo-Signature-Ma-V3``), for logs.
_HEADER_NAMES = {
    name: "-".join(word.capitalize() for word in name.split("-")) for name in SIGNATURE_HEADERS
}
#: Longest text of the request's own put in a log line; the rest is cut.
_MAX_LOGGED = 300


def _printable(text: object, limit: int = _MAX_LOGGED) -> str:
    """``text`` fit for a log line: control characters escaped (as ``repr`` writes them),
    and cut to ``limit`` characters, so request data cannot forge or flood log lines."""
    text = str(text)
    if len(text) > limit:
        text = f"{text[:limit]}...({len(text) - limit} more)"
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


#: What :func:`handler` calls with each event: a coroutine function (a plain function works too).
OnEvent: TypeAlias = Callable[[CallbackEvent], "Awaitable[object] | None"]
#: The URL Plivo calls: a string, or a function of the request that returns it.
PublicUrl: TypeAlias = "str | Callable[[web.Request], str] | None"


class CallbackReceiver:
    """Verifies, de-duplicates and dispatches status callbacks; ``handle`` is the handler.

    It remembers the nonce of each accepted callback for ``replay_window`` seconds (at most
    ``max_nonces`` of them, the oldest forgotten first) and refuses a request that carries
    one again. A signature moved to its ``Ma`` twin header carries the same nonce, so it is
    refused too. See :func:`handler` for the arguments.

    ``replay_store`` says where the nonces are kept. By default they live in this object's
    memory, in one process: a replay is then not recognised when it reaches another
    receiver (several worker processes, or hosts behind a load balancer, each remember only
    their own callbacks), after a restart, or once ``max_nonces`` newer nonces pushed it
    out. With a shared store (``replay_store="redis://host:6379/0"``, or a
    :class:`~plivo_numlink._storage.RedisNonceStore`) every receiver naming it refuses a nonce
    any of them accepted, also after a restart, for ``replay_window`` seconds (the nonces'
    TTL); when that store fails or does not answer within 5 s the callback is answered 503,
    so that Plivo sends it again later, and ``on_event`` is not called. A receiver that
    opened a store from a URI closes it with :meth:`aclose`. No timestamp is checked (Plivo
    documents none), so nothing else bounds the age of a replayed request after
    ``replay_window``. Where that matters, refuse replays in ``on_event`` too (for example,
    by making it idempotent on the number and status).
    """

    def __init__(
        self,
        on_event: OnEvent,
        *,
        auth_token: str | Sequence[str],
        public_url: PublicUrl = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        replay_window: float = DEFAULT_REPLAY_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        max_nonces: int = DEFAULT_MAX_NONCES,
        replay_store: ReplayStore = None,
    ) -> None:
        tokens = token_list(auth_token)
        if not tokens:
            raise ValueError("auth_token must be a non-empty string or a sequence of them")
        if max_body_size < 1:
            raise ValueError(f"max_body_size must be at least 1, not {max_body_size!r}")
        if not replay_window >= 0:  # also refuses NaN
            raise ValueError(f"replay_window must be >= 0 seconds, not {replay_window!r}")
        if max_nonces < 1:
            raise ValueError(f"max_nonces must be at least 1, not {max_nonces!r}")
        self._on_event = on_event
        self._tokens = tokens
        for token in tokens:  # masked in any record on the plivo_numlink logger
            register_secret(token)
        self._public_url = public_url
        self._max_body_size = max_body_size
        self._replay_window = replay_window
        self._owned_storage = None
        store: NonceStore
        if replay_store is None or isinstance(replay_store, str):
            storage = open_storage(replay_store, timeout=REPLAY_STORE_TIMEOUT)
            if storage is None:
                store = MemoryNonceStore(max_nonces=max_nonces, clock=clock)
            else:
                self._owned_storage = storage
                store = RedisNonceStore(storage, namespace="callbacks")
        elif isinstance(replay_store, NonceStore):
            store = replay_store
        else:
            raise TypeError(
                "replay_store must be a storage URI or a NonceStore, "
                f"not {type(replay_store).__name__}"
            )
        self._store = store

    def __repr__(self) -> str:
        # Never the tokens.
        return (
            f"<CallbackReceiver on_event={self._on_event!r} public_url={self._public_url!r} "
            f"replay_store={self._store!r}>"
        )

    @property
    def replay_store(self) -> NonceStore:
        """Where accepted nonces are kept."""
        return self._store

    async def aclose(self) -> None:
        """Close the replay store's connections if this receiver opened them (idempotent)."""
        if self._owned_storage is not None:
            await self._owned_storage.aclose()

    def url_for(self, request: web.Request) -> str:
        """The URL the signature is checked against: ``public_url``, or the request's own."""
        public = self._public_url
        if public is None:
            return str(request.url)
        url = public if isinstance(public, str) else public(request)
        # A proxy rewrites the origin and path, rarely the query: keep the request's query
        # when the public URL names none, as Plivo signs the URL it called, query included.
        query = request.rel_url.raw_query_string  # as sent: Plivo signs what it called
        if query and not urlparse(url).query:
            url = f"{url}?{query}"
        return url

    def _bad_signature(self, request: web.Request, url: str) -> web.Response:
        seen = sorted(
            {
                _HEADER_NAMES[name.lower()]
                for name in request.headers
                if name.lower() in _HEADER_NAMES
            }
        )
        if not seen:
            logger.warning("status callback refused (missing signature) for %s", _printable(url))
            return web.Response(status=403, text="missing signature")
        # A wrong public_url (or token) fails every callback: say which URL was used, so it
        # can be compared with the one given to Plivo. Header names only: never a value.
        logger.warning(
            "status callback refused (invalid signature): the signature did not match for "
            "%s %s (signature headers: %s). Plivo signs the URL it calls: if that is not this "
            "URL (behind a proxy, another scheme, host, port or path), pass it as public_url; "
            "else check that auth_token is the token of the account that linked the number",
            _printable(request.method),
            _printable(url),
            ", ".join(seen),
        )
        return web.Response(status=403, text="invalid signature")

    def _refused(self, request: web.Request, reason: str) -> None:
        # The request target as received: a malformed request may have no URL to show.
        logger.warning(
            "status callback refused (%s) for %s %s",
            _printable(reason),
            _printable(request.method),
            _printable(request.raw_path),
        )

    async def _remember(self, keys: list[str]) -> bool:
        """Record the request's nonces; ``False`` if any was already seen (a replay)."""
        added: list[str] = []
        for key in keys:
            if await self._store.seen(key, self._replay_window):
                # Not this request's to keep: the nonces it recorded are forgotten again.
                for new in added:
                    await self._store.forget(new)
                return False
            added.append(key)
        return True

    async def _forget(self, keys: list[str]) -> None:
        for key in keys:
            try:
                await self._store.forget(key)
            except StorageError as exc:
                logger.warning("could not forget a callback nonce (%s)", exc)

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp handler: 200 ``OK`` once ``on_event`` returned; see :func:`handler`."""
        try:
            params = await request_params(request, max_body_size=self._max_body_size)
            url = self.url_for(request)
            nonces = valid_nonces(request.method, url, params, request.headers, self._tokens)
        except web.HTTPException as exc:
            text = exc.text or exc.reason
            self._refused(request, f"{exc.status} {text}")
            return web.Response(status=exc.status, text=text)
        except Exception as exc:
            # Whatever else a request holds that cannot be read (a Host header that names no
            # host, say) is the sender's fault: a 400 and one line, not a 500 and a traceback
            # per request.
            self._refused(request, f"400 malformed request: {type(exc).__name__}: {exc}")
            return web.Response(status=400, text="malformed request")
        if not nonces:
            return self._bad_signature(request, url)
        # Each signature version's nonce, as one key (a nonce moved to the Ma twin header is
        # the same key); sorted, so that receivers record them in the same order.
        keys = sorted({f"{version}:{nonce}" for version, nonce in nonces})
        try:
            fresh = await self._remember(keys)
        except StorageError as exc:
            logger.error(
                "status callback not handled: the replay store failed (%s); answering 503 so "
                "Plivo retries",
                exc,
            )
            return web.Response(status=503, text="replay store unavailable")
        if not fresh:
            logger.warning("status callback refused (replayed nonce) for %s", _printable(url))
            return web.Response(status=403, text="replayed")
        event = parse_event(params)
        done = False
        try:
            result = self._on_event(event)
            if inspect.isawaitable(result):
                await result
            done = True
        except Exception:
            logger.exception(
                "status callback handler failed for %s event on number %s (answering 500 so "
                "Plivo retries)",
                _printable(event.kind),
                _printable(event.number),
            )
            return web.Response(status=500, text="callback handler failed")
        finally:
            if not done:
                # Plivo's retry may carry the same nonce: it must not look like a replay.
                await self._forget(keys)
        return web.Response(text="OK")


def handler(
    on_event: OnEvent,
    *,
    auth_token: str | Sequence[str],
    public_url: PublicUrl = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    replay_window: float = DEFAULT_REPLAY_WINDOW,
    clock: Callable[[], float] = time.monotonic,
    replay_store: ReplayStore = None,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler that verifies, de-duplicates and parses Plivo's status callbacks.

    For each request it reads the parameters (:func:`request_params`), checks the
    signature (:func:`is_valid_signature`) against ``public_url`` and ``auth_token``, refuses
    a nonce already accepted within ``replay_window`` seconds, then awaits
    ``on_event(parse_event(params))``. Answers:

    - 200 ``OK`` once ``on_event`` returned;
    - 403 ``missing signature``, ``invalid signature`` or ``replayed`` (``on_event`` is not
      called);
    - 413 for a body over ``max_body_size`` bytes (refused before reading it whole when the
      request says its length); 400 for a request that cannot be read: a body that cannot
      be parsed (broken or too deeply nested JSON, an unknown charset), a Host header that
      names no host;
    - 503 when a shared ``replay_store`` failed or did not answer (``on_event`` is not
      called; Plivo retries later);
    - 500 when ``on_event`` raised: the exception is logged on the ``plivo_numlink`` logger
      and the nonce forgotten, so that Plivo's retry (60, 120, 240 s later) is accepted.

    Each refusal (4xx) logs one WARNING line on the ``plivo_numlink`` logger, without a
    traceback; text taken from the request is cut short and its control characters
    (CR, LF, escape sequences...) are escaped, so a request cannot forge log lines. A
    signature that does not match is logged with the URL it was checked against and the
    names of the signature headers seen (never a value or a token): when every callback is
    refused so, ``public_url`` is usually not the URL Plivo calls. The library adds no log
    handler of its own, so configure logging to see these lines, for example
    ``logging.basicConfig(level=logging.WARNING)``.

    ``auth_token``: the token (or tokens: main and sub-account) Plivo signs with.
    ``public_url``: the full URL Plivo calls, when a proxy makes the URL the app sees
    differ (scheme, host, path); or a callable taking the request and returning it. Without
    it the request's own URL is used. The request's query is added when ``public_url`` has
    none. ``clock``: seconds, for the replay window (injectable for tests).
    ``replay_store``: where accepted nonces are kept, shared by every handler naming the
    same store: a storage URI (``"redis://host:6379/0"``, ``"rediss://..."``,
    ``"memory://"``) or a ``NonceStore``; ``None`` (the default) keeps them in this process.

    Where a V3 signature header is present, V3 alone decides (a valid V2 signature beside a
    V3 one that does not match is refused): see :func:`is_valid_signature`. Without a
    shared ``replay_store`` the replay window is per process and in memory: see
    :class:`CallbackReceiver` for its limits.
    """
    receiver = CallbackReceiver(
        on_event,
        auth_token=auth_token,
        public_url=public_url,
        max_body_size=max_body_size,
        replay_window=replay_window,
        clock=clock,
        replay_store=replay_store,
    )
    return receiver.handle
