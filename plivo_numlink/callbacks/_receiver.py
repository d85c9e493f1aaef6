"""What every receiver shares: reading a bounded body in time, verifying, dispatching, logging,
and the one place each answer passes.

The aiohttp handler and the ASGI app are adapters: each turns its framework's request into
a method, a URL, headers and body chunks, calls :meth:`ReceiverCore.respond`, and turns the
:class:`Answer` back into its framework's response. So the answers (statuses, bodies and
log lines) are the same whichever receives the request.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeAlias

import attrs

from .._log import register_secret
from .._storage import DEFAULT_MAX_NONCES, NonceStore, StorageError
from .._telemetry import record_callback
from ._body import DEFAULT_MAX_BODY_SIZE
from ._events import CallbackEvent, CallbackKind
from ._rejection import CallbackRejected, printable
from ._replay import DEFAULT_REPLAY_WINDOW, ReplayGuard
from ._signatures import Headers, header_pairs, token_list
from ._verify import verify

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_NONCES",
    "DEFAULT_REPLAY_WINDOW",
    "Answer",
    "OnEvent",
    "ProxyTrust",
    "ReceiverCore",
    "ReplayStore",
    "TrustForwarded",
    "checked_host",
    "logger",
]

logger = logging.getLogger("plivo_numlink")

#: Seconds a receiver waits for a whole body: one read slower than that is answered 408, so
#: a client dripping bytes cannot hold a connection (and a task) for long.
DEFAULT_BODY_TIMEOUT = 10.0

#: What a receiver calls with each event: a coroutine function (a plain function works too).
OnEvent: TypeAlias = Callable[[CallbackEvent], "Awaitable[object] | None"]
#: Where a receiver keeps accepted nonces: a :class:`ReplayGuard` (shared between receivers
#: as it is), a storage URI (``"redis://host:6379/0"``, ``"memory://"``), a ``NonceStore``,
#: or ``None`` for this receiver's own memory.
ReplayStore: TypeAlias = "ReplayGuard | str | NonceStore | None"
#: Whether (and from which peers) ``X-Forwarded-Proto``/``X-Forwarded-Host`` are believed.
TrustForwarded: TypeAlias = "bool | str | Sequence[str]"

_NO_PUBLIC_URL = (
    "%s has no public_url: each callback's signature is checked against the URL the request "
    "names (its scheme, Host header and path), which the sender chooses. Behind a proxy that "
    "URL is not the one Plivo calls, so every callback is refused; and a callback that Plivo "
    "signed for another endpoint of this account could be replayed here once, with its Host "
    "header changed. Pass public_url=<the URL given to Plivo>, or trust_forwarded=... behind "
    "a proxy that sets X-Forwarded-Proto and X-Forwarded-Host"
)
#: A host and optional port, as a Host or X-Forwarded-Host header may name them.
_HOST = re.compile(
    r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z"
)


def checked_host(host: str) -> str:
    """``host`` (``name[:port]``) if it names a host; ``ValueError`` otherwise."""
    match = _HOST.match(host)
    port = host.rsplit(":", 1)[1] if match and not host.endswith("]") and ":" in host else "0"
    if not match or int(port) > 65535:
        raise ValueError(f"not a host: {host!r}")
    return host


@attrs.frozen
class Answer:
    """What a receiver answers: the HTTP status and a short plain-text body."""

    status: int
    text: str

    @property
    def close(self) -> bool:
        """True when the connection must not be reused: the body was refused unread
        (408, 413), so what the client still sends is not the start of a next request."""
        return self.status in (408, 413)


class ProxyTrust:
    """Which peers' ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` headers are believed.

    ``False``: nobody's. ``True``: every peer's (the app is reachable only through the
    proxy). Addresses or networks (``"10.0.0.0/8"``, ``["127.0.0.1", "::1"]``): only
    requests from those. Of a list of values, the last is used: the one the nearest proxy
    set, which a client cannot choose when the proxy appends to what it received.
    """

    def __init__(self, trust: TrustForwarded) -> None:
        self._all = trust is True
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        if isinstance(trust, bool):
            return
        items = [trust] if isinstance(trust, str) else list(trust)
        for item in items:
            try:
                self._networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
            except ValueError:
                raise ValueError(
                    "trust_forwarded must be True, False, or IP addresses or networks of the "
                    f"proxies (like '10.0.0.0/8'), not {item!r}"
                ) from None

    @property
    def enabled(self) -> bool:
        return self._all or bool(self._networks)

    def __repr__(self) -> str:
        if self._all:
            return "True"
        return repr([str(net) for net in self._networks]) if self._networks else "False"

    def _believes(self, peer: str | None) -> bool:
        if self._all:
            return True
        if peer is None or not self._networks:
            return False
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        return any(address in net for net in self._networks)

    def url(self, scheme: str, host: str, target: str, headers: Headers, peer: str | None) -> str:
        """The URL of a request: ``scheme://host`` and its target (path and query), with the
        forwarded scheme and host in their place where they are believed. A host that names
        no host raises ``ValueError``."""
        if self._believes(peer):
            found = dict(header_pairs(headers))  # the last of a repeated header
            proto = found.get("x-forwarded-proto", "").rsplit(",", 1)[-1].strip().lower()
            if proto in ("http", "https"):
                scheme = proto
            forwarded = found.get("x-forwarded-host", "").rsplit(",", 1)[-1].strip()
            if forwarded:
                host = forwarded
        return f"{scheme}://{checked_host(host)}{target}"


class ReceiverCore:
    """Verifies, de-duplicates and dispatches one request; what every adapter calls."""

    def __init__(
        self,
        on_event: OnEvent,
        *,
        auth_token: str | Sequence[str],
        has_public_url: bool,
        max_body_size: int,
        body_timeout: float,
        replay_window: float,
        clock: Callable[[], float],
        max_nonces: int,
        replay_store: ReplayStore,
        trust_forwarded: TrustForwarded,
        name: str,
        meter_provider: Any = None,
    ) -> None:
        tokens = token_list(auth_token)
        if not tokens:
            raise ValueError("auth_token must be a non-empty string or a sequence of them")
        if max_body_size < 1:
            raise ValueError(f"max_body_size must be at least 1, not {max_body_size!r}")
        if not body_timeout > 0:  # also refuses NaN
            raise ValueError(f"body_timeout must be > 0 seconds, not {body_timeout!r}")
        self.trust = ProxyTrust(trust_forwarded)
        if has_public_url and self.trust.enabled:
            raise ValueError("give public_url or trust_forwarded, not both")
        self.on_event = on_event
        self.meter_provider = meter_provider
        self.tokens = tokens
        for token in tokens:  # masked in any record on the plivo_numlink logger
            register_secret(token)
        self.max_body_size = max_body_size
        self.body_timeout = float(body_timeout)
        if not isinstance(replay_store, (ReplayGuard, str, NonceStore, type(None))):
            raise TypeError(
                "replay_store must be a ReplayGuard, a storage URI or a NonceStore, "
                f"not {type(replay_store).__name__}"
            )
        self.owns_guard = not isinstance(replay_store, ReplayGuard)
        if isinstance(replay_store, ReplayGuard):
            self.guard = replay_store
        else:
            self.guard = ReplayGuard(
                replay_store, window=replay_window, max_nonces=max_nonces, clock=clock
            )
        if not has_public_url:
            logger.warning(_NO_PUBLIC_URL, name)

    async def aclose(self) -> None:
        if self.owns_guard:
            await self.guard.aclose()

    def _answered(self, kind: CallbackKind | None, status: int, text: str) -> Answer:
        """Every answer of every receiver passes here, once per request: ``kind`` is the
        verified event's (``None`` when the request was refused before it was verified),
        ``status`` the HTTP status answered. Counted in ``plivo_numlink.callbacks``, the kind
        of a request refused before it was verified as ``unknown``."""
        label = kind.value if kind is not None else CallbackKind.UNKNOWN.value
        record_callback(self.meter_provider, label, status)
        return Answer(status, text)

    async def _read(
        self, content_length: int | None, chunks: Callable[[], AsyncIterator[bytes]]
    ) -> bytes:
        limit = self.max_body_size
        if content_length is not None and content_length > limit:
            raise CallbackRejected(413, "body too large")  # refused before reading a byte

        async def read_all() -> bytes:
            body = bytearray()
            # Chunked bodies have no length: read no more than one chunk past the limit.
            async for chunk in chunks():
                body.extend(chunk)
                if len(body) > limit:
                    raise CallbackRejected(413, "body too large")
            return bytes(body)

        try:
            return await asyncio.wait_for(read_all(), self.body_timeout)
        except asyncio.TimeoutError:
            raise CallbackRejected(408, "body read timed out") from None

    def _log_refusal(self, exc: CallbackRejected, method: str, target: str) -> None:
        if exc.detail is not None:
            logger.log(logging.ERROR if exc.status >= 500 else logging.WARNING, "%s", exc.detail)
        else:
            # The request target as received: a malformed request may have no URL to show.
            self._refused(f"{exc.status} {exc.reason}", method, target)

    @staticmethod
    def _refused(reason: str, method: str, target: str) -> None:
        logger.warning(
            "status callback refused (%s) for %s %s",
            printable(reason),
            printable(method),
            printable(target),
        )

    async def respond(
        self,
        *,
        method: str,
        target: str,
        headers: Headers,
        content_length: int | None,
        url: Callable[[], str],
        chunks: Callable[[], AsyncIterator[bytes]],
    ) -> Answer:
        """Read, verify and dispatch one request; never raises for what the request holds.

        ``target``: the request target as received (for log lines); ``url``: the URL the
        signature is checked against (may raise for a request that names no host);
        ``chunks``: the body, read only for methods other than GET and HEAD.
        """
        verb = method.upper()
        try:
            body = b"" if verb in ("GET", "HEAD") else await self._read(content_length, chunks)
            try:
                full_url = url()
            except Exception as exc:
                # Whatever else a request holds that cannot be read (a Host header that names
                # no host, say) is the sender's fault: a 400 and one line, not a 500 and a
                # traceback per request.
                self._refused(f"400 malformed request: {type(exc).__name__}: {exc}", method, target)
                return self._answered(None, 400, "malformed request")
            event = await verify(
                method,
                full_url,
                headers,
                body,
                auth_token=self.tokens,
                replay_guard=self.guard,
                max_body_size=self.max_body_size,
            )
        except CallbackRejected as exc:
            self._log_refusal(exc, method, target)
            return self._answered(None, exc.status, exc.reason)
        except Exception as exc:  # a connection lost mid-body, and the like
            self._refused(f"400 malformed request: {type(exc).__name__}: {exc}", method, target)
            return self._answered(None, 400, "malformed request")
        return await self._dispatch(event)

    async def _dispatch(self, event: CallbackEvent) -> Answer:
        done = False
        try:
            result = self.on_event(event)
            if inspect.isawaitable(result):
                await result
            done = True
        except Exception:
            logger.exception(
                "status callback handler failed for %s event on number %s (answering 500 so "
                "Plivo retries)",
                printable(event.kind),
                printable(event.number),
            )
            return self._answered(event.kind, 500, "callback handler failed")
        finally:
            if not done:
                # Plivo's retry may carry the same nonce: it must not look like a replay.
                await self._forget(event.nonces)
        return self._answered(event.kind, 200, "OK")

    async def _forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            try:
                await self.guard.forget([key])
            except StorageError as exc:
                logger.warning("could not forget a callback nonce (%s)", exc)
