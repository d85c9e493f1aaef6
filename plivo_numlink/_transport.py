"""The transport: one :class:`Requester` per session sends every HTTP request.

Every request goes through the same gates, in this order:

1. the retry loop (:func:`~plivo_numlink._retry.call_with_retries`); a request waiting out
   a backoff holds nothing;
2. the concurrency limit (one semaphore per requester);
3. the rate limiter, which spaces request starts and slows down on 429: in-process
   (``_pacing.py``) or, with a shared storage, the account's budget in Redis
   (``_storage/``); either way ``await limiter.acquire()``, which a storage failure ends
   with :class:`~._storage.StorageError`.

Attempts are counted in one place, :meth:`Requester.request`, on a chain of
:class:`AttemptCounter` objects: the requester's own (everything the session sent) and,
when the caller passes one, the caller's (a bulk job, one unit of it), so a report's
request count is exactly what was sent on its behalf, also with other jobs sharing the
session.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from . import _protocol
from ._config import SessionConfig
from ._errors import MAX_KEPT_BODY, ResponseFormatError, SessionClosedError, TransportError
from ._log import contains_secret, redact, register_secret
from ._network import NetworkOptions, certificate_failure
from ._pacing import AdaptiveRateLimiter
from ._protocol import Answer
from ._retry import RetryQuota, call_with_retries, is_retryable, is_retryable_status
from ._storage import SHARED_HEADROOM, RateLimiter, RedisRateLimiter, RedisStorage
from ._telemetry import Attempt, SessionStats, Telemetry

__all__ = ["MAX_BODY_BYTES", "AttemptCounter", "Requester"]

Sleep = Callable[[float], Awaitable[None]]

#: aiohttp 3.12 and later take client middlewares (see _one_send_per_attempt).
_HAS_MIDDLEWARES = "middlewares" in inspect.signature(aiohttp.ClientSession._request).parameters


class _Sends:
    """What one attempt has sent so far (see :func:`_one_send_per_attempt`)."""

    __slots__ = ("count", "failure")

    def __init__(self) -> None:
        self.count = 0
        self.failure: BaseException | None = None


_send_state: contextvars.ContextVar[_Sends | None] = contextvars.ContextVar(
    "plivo_numlink_sends", default=None
)


async def _one_send_per_attempt(
    request: aiohttp.ClientRequest, handler: Callable[..., Awaitable[Any]]
) -> Any:
    """A client middleware: one attempt sends once; a re-send fails as the send did.

    aiohttp sends an idempotent request again, at once and unseen, when a kept-alive
    connection turns out to be dead. That second send would reach the server without being
    counted, paced or charged to the retry quota, so it is refused here (before anything is
    written) with the first send's error, and our own retry takes over: every request that
    leaves is then one counted, paced attempt. The middleware runs once per send.
    """
    state = _send_state.get()
    if state is not None:
        state.count += 1
        if state.count > 1:
            raise state.failure if state.failure is not None else aiohttp.ServerDisconnectedError()
    try:
        return await handler(request)
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        if state is not None:
            state.failure = exc
        raise


#: Answers larger than this are not read (a list page of 20 numbers is about 1 KiB).
MAX_BODY_BYTES = 32 * 1024 * 1024


class AttemptCounter:
    """Counts HTTP attempts, and passes each one on to the counter it was made from."""

    __slots__ = ("count", "parent")

    def __init__(self, parent: AttemptCounter | None = None) -> None:
        self.count = 0
        self.parent = parent

    def __repr__(self) -> str:
        return f"AttemptCounter(count={self.count})"

    def child(self) -> AttemptCounter:
        """A counter of a part of this one's work (its attempts count here too)."""
        return AttemptCounter(self)

    def add(self) -> None:
        counter: AttemptCounter | None = self
        while counter is not None:
            counter.count += 1
            counter = counter.parent


class Requester:
    """Sends requests for one account: HTTP, retries, concurrency, pacing, body cap."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        http_session: aiohttp.ClientSession | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
        storage: RedisStorage | None = None,
        network: NetworkOptions | None = None,
    ) -> None:
        self.config = config
        #: The proxy and TLS context every request goes with.
        self.network = network if network is not None else NetworkOptions()
        self.auth_id = config.auth_id
        self.concurrency = config.concurrency
        register_secret(config.auth_token)
        authorization = _protocol.auth_header(config.auth_id, config.auth_token)
        # The header's value is as secret as the token: base64 hides nothing.
        register_secret(authorization.split(" ", 1)[1])
        self._headers = {
            "Authorization": authorization,
            "Accept": "application/json",
            "User-Agent": _protocol.user_agent(),
        }
        self._base_url = config.base_url
        self._retry = config.retry
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)
        self.sleep: Sleep = sleep if sleep is not None else asyncio.sleep
        self.clock: Callable[[], float] = clock if clock is not None else time.monotonic
        self._semaphore = asyncio.Semaphore(config.concurrency)
        #: The shared storage the rate budget lives in (closed with the requester), or None.
        self.storage = storage
        self.limiter: RateLimiter | None = None
        if storage is not None and config.rate_limit is not None:
            # The caller's clock only: by default the shared schedule runs on the Redis
            # server's clock, the one clock every process of the account agrees on. Spaced
            # a little under the rate: see SHARED_HEADROOM.
            self.limiter = RedisRateLimiter(
                storage,
                config.auth_id,
                float(config.rate_limit) * SHARED_HEADROOM,
                clock=clock,
                sleep=self.sleep,
            )
        elif config.rate_limit is not None:
            self.limiter = AdaptiveRateLimiter(
                float(config.rate_limit), sleep=self.sleep, clock=self.clock
            )
        #: Retries shared by every request of the session (see RetryQuota).
        self.retry_quota = RetryQuota()
        #: Every HTTP attempt sent through this requester (each retry counts).
        self.sent = AttemptCounter()
        #: Attempts that were retries, answered 429, failed (see SessionStats); being sent.
        self.retries = self.throttled = self.errors = self.in_flight = 0
        #: What to record in OpenTelemetry (``_telemetry``), or None: nothing.
        self.telemetry: Telemetry | None = None
        self._http = http_session
        self._owns_http = http_session is None
        # The middlewares, proxy and TLS arguments, worked out once: the requester has one
        # HTTP session.
        self._send_options: dict[str, Any] | None = None
        #: Whether the one-send middleware runs (and needs its per-attempt state).
        self._one_send = False
        self.closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        http, self._http = self._http, None
        try:
            if http is not None and self._owns_http:
                await http.close()
        finally:
            if self.storage is not None:
                await self.storage.aclose()

    def check_open(self) -> None:
        if self.closed:
            raise SessionClosedError("cannot send a request: the NumLinkSession has been closed")

    def http_session(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=0)
            self._http = aiohttp.ClientSession(connector=connector)
            if isinstance(getattr(self._http, "_retry_connection", None), bool):
                # Our own session: aiohttp's silent re-send turned off at the source, which
                # costs nothing per request (a borrowed session gets the middleware instead).
                self._http._retry_connection = False
        elif self._http.closed:
            raise SessionClosedError(
                "cannot send a request: the borrowed aiohttp.ClientSession has been closed"
            )
        return self._http

    def _middlewares(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        """The ``middlewares`` argument that turns aiohttp's silent re-sends off.

        A per-request middleware replaces the session's own: a borrowed session's are kept,
        ours runs last, next to the send.
        """
        if not _HAS_MIDDLEWARES:  # pragma: no cover - aiohttp < 3.12
            return {}
        if self._owns_http and getattr(http, "_retry_connection", None) is False:
            return {}  # see http_session
        own = tuple(getattr(http, "_middlewares", None) or ())
        return {"middlewares": (*own, _one_send_per_attempt)}

    def stats(self) -> SessionStats:
        limiter = self.limiter
        return SessionStats(
            requests=self.sent.count,
            retries=self.retries,
            throttled=self.throttled,
            errors=self.errors,
            in_flight=self.in_flight,
            rate=limiter.rate if limiter is not None else None,
            ceiling=getattr(limiter, "ceiling", None),
            retry_tokens=self.retry_quota.available,
        )

    # -- requests ----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        template: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        counter: AttemptCounter | None = None,
        gate: Callable[[], None] | None = None,
    ) -> Answer:
        """Send one request with retries; return the 2xx answer or raise the last error.

        Each attempt counts on ``counter`` (and the counters it was made from) as well as
        on :attr:`sent`. ``gate`` is called right before each attempt is sent and may raise
        to stop it (a bulk job stops sending that way).
        """
        count = counter if counter is not None else self.sent
        # Most requests succeed at the first try: make it here, without the retry
        # machinery's bookkeeping (it cost a fifth of bulk throughput at zero latency).
        try:
            return await self._attempt(method, template, path, json, params, count, gate)
        except Exception as exc:
            if not is_retryable(exc, self._retry):
                raise  # a definitive answer: nothing for the retry loop to decide
            first_failure = exc
        resends = 0
        last: BaseException = first_failure

        async def attempt() -> Answer:
            nonlocal resends, last
            resends += 1
            try:
                return await self._attempt(
                    method, template, path, json, params, count, gate, resends, last
                )
            except Exception as exc:
                last = exc
                raise

        return await call_with_retries(
            attempt,
            policy=self._retry,
            quota=self.retry_quota,
            sleep=self.sleep,
            method=method,
            template=template,
            first_failure=first_failure,
        )

    async def _attempt(
        self,
        method: str,
        template: str,
        path: str,
        json: Any,
        params: Mapping[str, str] | None,
        counter: AttemptCounter,
        gate: Callable[[], None] | None,
        resends: int = 0,
        retried: BaseException | None = None,
    ) -> Answer:
        """One HTTP attempt under the concurrency limit and the rate limiter.

        ``resends``: how many attempts of this request came before, the last of which
        failed with ``retried`` (counted once this one is sent).
        """
        if self.closed:
            self.check_open()
        http = self._http
        if http is None or (not self._owns_http and http.closed):
            http = self.http_session()  # made now, or a borrowed session closed: an error
        options = self._send_options
        if options is None:
            self._headers.update(self.network.request_headers(http))
            options = self._middlewares(http) | self.network.request_options(http)
            self._send_options = options
            self._one_send = "middlewares" in options
        url = self._base_url + path
        if gate is not None:
            gate()
        telemetry = self.telemetry
        record: Attempt | None = None
        async with self._semaphore:
            if telemetry is not None:
                paced_from = self.clock()
            if self.limiter is not None:
                await self.limiter.acquire()
            if gate is not None:
                gate()
            if counter is self.sent:
                self.sent.count += 1
            else:
                counter.add()
            if resends:
                self.retries += 1
                if telemetry is not None:
                    telemetry.retried(retried)
            if telemetry is not None:
                paced = self.clock() - paced_from if self.limiter is not None else None
                record = telemetry.attempt(method, template, path, params, resends, paced)
            failure: TransportError | None = None
            sends = _send_state.set(_Sends()) if self._one_send else None
            self.in_flight += 1
            try:
                async with http.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    headers=self._headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                    **options,
                ) as resp:
                    status = resp.status
                    headers = resp.headers
                    text = await _read_text(resp)
            except asyncio.TimeoutError as exc:
                failure = TransportError(
                    f"{method} {template} timed out after {self._timeout.total:g} s",
                    method=method,
                    path=template,
                )
                cause: BaseException = sanitize_chain(exc)
            except aiohttp.ClientError as exc:
                cause = sanitize_chain(exc)
                # A certificate failure, and a proxy refusing the credentials on a CONNECT,
                # are permanent: their own errors, which are not retried.
                if isinstance(exc, aiohttp.ClientHttpProxyError) and exc.status == 407:
                    failure = self.network.proxy_refused(method=method, path=template)
                else:
                    failure = certificate_failure(
                        exc, method=method, path=template
                    ) or TransportError(
                        f"{method} {template} failed: {type(exc).__name__}: {cause}",
                        method=method,
                        path=template,
                    )
            except BaseException as exc:  # an oversized answer, a cancellation
                if record is not None:
                    record.end(None, exc)
                raise
            finally:
                self.in_flight -= 1
                if sends is not None:
                    _send_state.reset(sends)
            if failure is not None:
                self.errors += 1
                if record is not None:
                    record.end(None, failure)
                # Raised outside the except block, so that the implicit __context__ is not
                # the original exception when sanitize_chain had to replace it.
                raise failure from cause
        if not is_retryable_status(status):  # the server is healthy, whatever it said
            self.retry_quota.refund()
        if 200 <= status < 300:
            if self.limiter is not None:
                self.limiter.on_success()
            if record is not None:
                self._recorded(record, status)
            return Answer(status, text)
        self.errors += 1
        if status == 429:
            self.throttled += 1
        if status == 407:  # a proxy refusing the credentials on a request to an http origin
            refused = self.network.proxy_refused(method=method, path=template)
            if record is not None:
                self._recorded(record, status)
            raise refused
        error = _protocol.error_from_response(status, headers, text, method=method, path=template)
        if status == 429 and self.limiter is not None:
            # A Retry-After over max_retry_after is not slept (the error is raised instead):
            # the limiter must not make every later request of the session sit it out.
            # Nor is it capped to max_retry_after (later calls would sit out that cap, silently):
            # the limiter only slows down then, and the caller gets the RateLimitError.
            pause = error.retry_after
            if pause is not None and pause > self._retry.max_retry_after:
                pause = None
            self.limiter.on_throttle(pause)
        if record is not None:
            self._recorded(record, status)
        raise error

    def _recorded(self, record: Attempt, status: int) -> None:
        record.end(status)
        if self.limiter is not None and self.telemetry is not None:
            self.telemetry.pace(self.limiter.rate)


async def _read_text(resp: aiohttp.ClientResponse) -> str:
    """Read the whole body as text, refusing bodies over ``MAX_BODY_BYTES`` once decoded.

    The cap counts the bytes after ``Content-Encoding`` (gzip, deflate) is undone, on every
    answer, error answers included: a small compressed body can decode to gigabytes.
    """
    limit = MAX_BODY_BYTES
    length = resp.content_length
    if length is not None and length > limit:
        raise _body_too_large(resp.status, limit)
    # An error answer is read to its end (within the cap) but only its first MAX_KEPT_BODY
    # bytes and one are kept: no more is used, and a failed attempt's locals live on in the
    # retry state's traceback (8 attempts of a 30 MiB 500 once held 300 MB).
    keep = limit if 200 <= resp.status < 300 else MAX_KEPT_BODY + 1
    headers = resp.headers
    if length is not None and length <= keep and "Content-Encoding" not in headers:
        # Not encoded: the announced length is what the body decodes to, and aiohttp reads
        # no more than that, so it is read at once (most answers: small JSON).
        raw = await resp.read()
    else:
        raw = await _read_capped(resp, limit, keep)
    content_type = headers.get("Content-Type")
    if content_type is None or "charset" not in content_type.lower():
        return raw.decode("utf-8", errors="replace")  # what resp.charset would give
    try:
        return raw.decode(resp.charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


async def _read_capped(resp: aiohttp.ClientResponse, limit: int, keep: int) -> bytes:
    """The body read chunk by chunk, refused once over ``limit``; the first ``keep`` bytes."""
    chunks: list[bytes] = []
    size = kept = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise _body_too_large(resp.status, limit)
        if kept < keep:
            chunks.append(chunk[: keep - kept])
            kept += len(chunks[-1])
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def sanitize_chain(exc: BaseException) -> BaseException:
    """``exc`` with registered secrets masked in every exception it chains to.

    aiohttp's errors keep the request (``request_info``, with our ``Authorization``
    header) and the server's text, and show both in their ``repr``. Each link of the chain
    (``__cause__``, ``__context__``) is cleaned in place; should one still show a secret,
    a plain ``aiohttp.ClientError`` holding the cleaned text replaces the whole chain.
    """
    links = _chain(exc)
    for link in links:
        _scrub(link)
    if any(contains_secret(_show(link)) for link in links):
        return aiohttp.ClientError(redact(f"{type(exc).__name__}: {_show(exc, plain=True)}"))
    return exc


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    todo = [exc]
    while todo and len(found) < 32:
        link = todo.pop()
        if any(link is seen for seen in found):
            continue
        found.append(link)
        todo.extend(e for e in (link.__cause__, link.__context__) if e is not None)
    return found


def _show(exc: BaseException, *, plain: bool = False) -> str:
    try:
        return str(exc) if plain else f"{exc!s} {exc!r}"
    except Exception:  # pragma: no cover - a broken __str__ shows nothing
        return ""


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, aiohttp.RequestInfo):
        return aiohttp.RequestInfo(
            value.url, value.method, _scrub_headers(value.headers), value.real_url
        )
    return value


def _scrub_headers(headers: Any) -> Any:
    try:
        items = list(headers.items())
    except Exception:  # pragma: no cover - not a mapping: leave it to the final check
        return headers
    return CIMultiDictProxy(
        CIMultiDict((k, redact(v) if isinstance(v, str) else v) for k, v in items)
    )


def _scrub(exc: BaseException) -> None:
    try:
        exc.args = tuple(_scrub_value(arg) for arg in exc.args)
        for name in ("request_info", "message", "strerror"):
            value = getattr(exc, name, None)
            if value is not None:
                setattr(exc, name, _scrub_value(value))
        headers = getattr(exc, "headers", None)
        if headers is not None and hasattr(headers, "items"):
            exc.headers = _scrub_headers(headers)  # type: ignore[attr-defined]
    except Exception:  # pragma: no cover - read-only attributes: the final check decides
        pass


def _body_too_large(status: int, limit: int) -> ResponseFormatError:
    return ResponseFormatError(
        f"answer body larger than {limit} bytes, not read", status_code=status, text=""
    )
