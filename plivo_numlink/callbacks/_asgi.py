"""The ASGI receiver: a plain ASGI 3 application over the shared receiver core.

No web framework is imported: FastAPI, Starlette, Litestar and the like mount it
(``app.mount("/plivo/numlink", callbacks.asgi_app(...))``), and any ASGI server (uvicorn,
hypercorn, granian...) runs it on its own. Its answers are the aiohttp handler's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from typing import Any, TypeAlias
from urllib.parse import quote, urlparse

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
    checked_host,
)
from ._replay import ReplayGuard

__all__ = ["AsgiPublicUrl", "CallbackApp", "asgi_app"]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
#: The URL Plivo calls: a string, or a function of the ASGI scope that returns it.
AsgiPublicUrl: TypeAlias = "str | Callable[[Scope], str] | None"

_TEXT = (b"content-type", b"text/plain; charset=utf-8")


class _Disconnected(Exception):
    """The client went away before its body was read."""


def _raw_headers(scope: Scope) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for entry in scope.get("headers") or ():
        try:
            name, value = entry
            pairs.append((bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1")))
        except (TypeError, ValueError):
            continue
    return pairs


def _target(scope: Scope) -> str:
    """The path and query as received (the raw path where the server gives it)."""
    raw = scope.get("raw_path")
    if isinstance(raw, (bytes, bytearray)) and raw:
        path = bytes(raw).decode("latin-1")
    else:
        root, path = scope.get("root_path", ""), scope.get("path", "/")
        # Servers differ on whether path holds root_path already.
        path = quote(path if path.startswith(root) else root + path, safe="/:@!$&'()*+,;=-._~%")
    query = bytes(scope.get("query_string") or b"").decode("latin-1")
    return f"{path}?{query}" if query else path


class CallbackApp:
    """The ASGI application :func:`asgi_app` returns: ``await app(scope, receive, send)``.

    ``http`` requests get the receiver's answers; ``lifespan`` is answered (startup
    complete; on shutdown the replay store it opened is closed); a ``websocket`` is
    refused.
    """

    def __init__(
        self,
        on_event: OnEvent,
        *,
        auth_token: str | Sequence[str],
        public_url: AsgiPublicUrl = None,
        replay_store: ReplayStore = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        replay_window: float = DEFAULT_REPLAY_WINDOW,
        trust_forwarded: TrustForwarded = False,
        clock: Callable[[], float] = time.monotonic,
        max_nonces: int = DEFAULT_MAX_NONCES,
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
            name="the ASGI callback receiver",
            meter_provider=meter_provider,
        )

    def __repr__(self) -> str:
        # Never the tokens.
        return (
            f"<CallbackApp on_event={self._on_event!r} public_url={self._public_url!r} "
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
        """Close the replay store's connections if this app opened them (idempotent)."""
        await self._core.aclose()

    def url_for(self, scope: Scope) -> str:
        """The URL the signature is checked against: ``public_url``, or the request's own."""
        target = _target(scope)
        public = self._public_url
        if public is not None:
            url = public if isinstance(public, str) else public(scope)
            query = bytes(scope.get("query_string") or b"").decode("latin-1")
            if query and not urlparse(url).query:
                url = f"{url}?{query}"
            return url
        headers = _raw_headers(scope)
        host = next((value for name, value in headers if name == "host"), None)
        scheme = str(scope.get("scheme") or "http")
        if host is None:
            server = scope.get("server")
            if not server or server[1] is None:
                raise ValueError("the request names no host")
            host = f"{server[0]}:{server[1]}"
        if self._core.trust.enabled:
            client = scope.get("client")
            peer = str(client[0]) if client else None
            return self._core.trust.url(scheme, host, target, headers, peer)
        return f"{scheme}://{checked_host(host)}{target}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message.get("type") == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message.get("type") == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _raw_headers(scope)
        length = next((value for name, value in headers if name == "content-length"), None)
        content_length = int(length) if length is not None and length.strip().isdigit() else None

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message.get("type") == "http.disconnect":
                    raise _Disconnected("the client went away")
                body = message.get("body") or b""
                if body:
                    yield bytes(body)
                if not message.get("more_body", False):
                    return

        answer = await self._core.respond(
            method=str(scope.get("method") or "GET"),
            target=_target(scope),
            headers=headers,
            content_length=content_length,
            url=lambda: self.url_for(scope),
            chunks=chunks,
        )
        data = answer.text.encode("utf-8")
        head = [_TEXT, (b"content-length", str(len(data)).encode("ascii"))]
        if answer.close:
            head.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": answer.status, "headers": head})
        await send({"type": "http.response.body", "body": data})


def asgi_app(
    on_event: OnEvent,
    *,
    auth_token: str | Sequence[str],
    public_url: AsgiPublicUrl = None,
    replay_store: ReplayStore = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    replay_window: float = DEFAULT_REPLAY_WINDOW,
    trust_forwarded: TrustForwarded = False,
    clock: Callable[[], float] = time.monotonic,
    max_nonces: int = DEFAULT_MAX_NONCES,
    meter_provider: Any = None,
) -> CallbackApp:
    """A plain ASGI application that receives Plivo's status callbacks.

    The arguments and the answers are :func:`handler`'s (200, 400, 403, 408, 413, 500, 503,
    with the same bodies and log lines); ``public_url`` may be a function of the ASGI scope.
    Mount it in FastAPI or Starlette with ``app.mount("/plivo/numlink", app)`` and give
    Plivo the URL with a trailing slash (``https://example.com/plivo/numlink/``), since a
    mount answers the path below it; or run it alone under any ASGI server. The
    ``lifespan`` scope is answered, and on shutdown a replay store opened from a URI is
    closed (a mounted app gets no lifespan: ``await app.aclose()`` in yours).
    """
    return CallbackApp(
        on_event,
        auth_token=auth_token,
        public_url=public_url,
        replay_store=replay_store,
        max_body_size=max_body_size,
        body_timeout=body_timeout,
        replay_window=replay_window,
        trust_forwarded=trust_forwarded,
        clock=clock,
        max_nonces=max_nonces,
        meter_provider=meter_provider,
    )
