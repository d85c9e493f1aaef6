"""The aiohttp receiver: an adapter from an aiohttp request to the shared receiver core.

:class:`CallbackReceiver` holds the state (the replay guard); :func:`handler` builds one and
returns its ``handle`` method for an aiohttp route.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeAlias
from urllib.parse import urlparse

from aiohttp import web

from .._storage import NonceStore
from ._body import DEFAULT_MAX_BODY_SIZE
from ._receiver import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_NONCES,
    DEFAULT_REPLAY_WINDOW,
    OnEvent,
    ReceiverCore,
    ReplayStore,
    TrustForwarded,
    logger,
)
from ._replay import ReplayGuard

__all__ = [
    "DEFAULT_MAX_NONCES",
    "DEFAULT_REPLAY_WINDOW",
    "CallbackReceiver",
    "OnEvent",
    "PublicUrl",
    "ReplayStore",
    "handler",
    "logger",
]

#: The URL Plivo calls: a string, or a function of the request that returns it.
PublicUrl: TypeAlias = "str | Callable[[web.Request], str] | None"


class CallbackReceiver:
    """Verifies, de-duplicates and dispatches status callbacks; ``handle`` is the handler.

    See :func:`handler` for the arguments and the answers. The replay protection is a
    :class:`ReplayGuard`: by default this receiver's own, in memory, remembering each
    accepted nonce for ``replay_window`` seconds (at most ``max_nonces``, the oldest
    forgotten first), which does not cover other processes or hosts, nor a restart. With a
    shared store (``replay_store="redis://host:6379/0"``, or a ``ReplayGuard`` of that
    store) every receiver naming it refuses a nonce any of them accepted, also after a
    restart; when that store fails or does not answer within 5 s the callback is answered
    503, so that Plivo sends it again later, and ``on_event`` is not called. A receiver
    that opened a store from a URI closes it with :meth:`aclose`.
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
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        trust_forwarded: TrustForwarded = False,
        meter_provider: Any = None,
    ) -> None:
        self._on_event = on_event
        self._public_url = public_url
        self._core = ReceiverCore(
            on_event,
            auth_token=auth_token,
            has_public_url=public_url is not None,
            max_body_size=max_body_size,
            body_timeout=body_timeout,
            replay_window=replay_window,
            clock=clock,
            max_nonces=max_nonces,
            replay_store=replay_store,
            trust_forwarded=trust_forwarded,
            name="the aiohttp callback receiver",
            meter_provider=meter_provider,
        )

    def __repr__(self) -> str:
        # Never the tokens.
        return (
            f"<CallbackReceiver on_event={self._on_event!r} public_url={self._public_url!r} "
            f"replay_store={self.replay_store!r}>"
        )

    @property
    def replay_store(self) -> NonceStore:
        """Where accepted nonces are kept."""
        return self._core.guard.store

    @property
    def replay_guard(self) -> ReplayGuard:
        """The replay protection (shared with whoever else was given the same guard)."""
        return self._core.guard

    async def aclose(self) -> None:
        """Close the replay store's connections if this receiver opened them (idempotent)."""
        await self._core.aclose()

    def url_for(self, request: web.Request) -> str:
        """The URL the signature is checked against: ``public_url``, or the request's own
        (with the forwarded scheme and host where ``trust_forwarded`` says so)."""
        public = self._public_url
        if public is None:
            if self._core.trust.enabled:
                return self._core.trust.url(
                    request.scheme, request.host, request.raw_path, request.headers, request.remote
                )
            return str(request.url)
        url = public if isinstance(public, str) else public(request)
        # A proxy rewrites the origin and path, rarely the query: keep the request's query
        # when the public URL names none, as Plivo signs the URL it called, query included.
        query = request.rel_url.raw_query_string  # as sent: Plivo signs what it called
        if query and not urlparse(url).query:
            url = f"{url}?{query}"
        return url

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp handler: 200 ``OK`` once ``on_event`` returned; see :func:`handler`."""

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await request.content.readany():
                yield chunk

        answer = await self._core.respond(
            method=request.method,
            target=request.raw_path,
            headers=request.headers,
            content_length=request.content_length,
            url=lambda: self.url_for(request),
            chunks=chunks,
        )
        response = web.Response(status=answer.status, text=answer.text)
        if answer.close:
            response.force_close()
        return response


def handler(
    on_event: OnEvent,
    *,
    auth_token: str | Sequence[str],
    public_url: PublicUrl = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    replay_window: float = DEFAULT_REPLAY_WINDOW,
    clock: Callable[[], float] = time.monotonic,
    replay_store: ReplayStore = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    trust_forwarded: TrustForwarded = False,
    meter_provider: Any = None,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler that verifies, de-duplicates and parses Plivo's status callbacks.

    For each request it reads the body (at most ``max_body_size`` bytes, within
    ``body_timeout`` seconds), then does what :func:`verify` does: reads the parameters,
    checks the signature against ``public_url`` and ``auth_token``, refuses a nonce already
    accepted within ``replay_window`` seconds; then awaits ``on_event(event)``. Answers:

    - 200 ``OK`` once ``on_event`` returned;
    - 403 ``missing signature``, ``invalid signature`` or ``replayed`` (``on_event`` is not
      called);
    - 413 ``body too large`` for a body over ``max_body_size`` bytes (refused before reading
      it when the request says its length); 408 ``body read timed out`` for a body not
      received within ``body_timeout`` seconds; 400 for a request that cannot be read: a
      body that cannot be parsed (broken or too deeply nested JSON, an unknown charset), a
      Host header that names no host;
    - 503 ``replay store unavailable`` when a shared ``replay_store`` failed or did not
      answer (``on_event`` is not called; Plivo retries later);
    - 500 ``callback handler failed`` when ``on_event`` raised: the exception is logged on
      the ``plivo_numlink`` logger and the nonce forgotten, so that Plivo's retry (60, 120,
      240 s later) is accepted.

    Each refusal (4xx) logs one WARNING line on the ``plivo_numlink`` logger, without a
    traceback; text taken from the request is cut short and its control characters
    (CR, LF, escape sequences...) are escaped, so a request cannot forge log lines. A
    signature that does not match is logged with the URL it was checked against and the
    names of the signature headers seen (never a value or a token): when every callback is
    refused so, ``public_url`` is usually not the URL Plivo calls.

    ``auth_token``: the token (or tokens: main and sub-account) Plivo signs with.
    ``public_url``: the full URL Plivo calls (or a callable taking the request and returning
    it); the request's query is added when it has none. Without it the signature is checked
    against the request's own URL, built from its Host header, and one WARNING says so when
    the handler is built (see ``docs/callbacks.md``). ``trust_forwarded``: behind a proxy,
    use its ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` (the last value of each): ``True``
    for any peer, or the proxies' addresses or networks; not with ``public_url``.
    ``clock``: seconds, for the replay window (injectable for tests). ``replay_store``: a
    :class:`ReplayGuard` to share, a storage URI (``"redis://host:6379/0"``,
    ``"rediss://..."``, ``"memory://"``) or a ``NonceStore``; ``None`` (the default) keeps
    the nonces in this process. ``meter_provider`` (OpenTelemetry, the
    ``plivo-numlink[otel]`` extra; ``None``: the global one) counts each answered request in
    the ``plivo_numlink.callbacks`` metric, by the event's kind and the status answered.

    Where a V3 signature header is present, V3 alone decides (a valid V2 signature beside a
    V3 one that does not match is refused): see :func:`is_valid_signature`.
    """
    receiver = CallbackReceiver(
        on_event,
        auth_token=auth_token,
        public_url=public_url,
        max_body_size=max_body_size,
        replay_window=replay_window,
        clock=clock,
        replay_store=replay_store,
        body_timeout=body_timeout,
        trust_forwarded=trust_forwarded,
        meter_provider=meter_provider,
    )
    return receiver.handle
