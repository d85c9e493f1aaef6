"""A fake of Plivo's 10DLC Number Linking API, served in-process on 127.0.0.1.

:class:`FakePlivo` answers the four Number Linking calls the way Plivo does (paths, Basic
auth, JSON bodies, status codes and error texts) and keeps the campaigns' state in memory.
It is meant for your tests, for this project's own tests and benchmarks, and for the
offline demo::

    async with FakePlivo(fail_numbers=["12125550100"]) as fake:
        async with NumLinkSession(
            auth_id=fake.auth_id, auth_token=fake.auth_token, base_url=fake.base_url
        ) as session:
            await session.link("CUOGHIN", ["12125557777"])
        assert fake.numbers("CUOGHIN") == {"12125557777": "PROCESSING"}

What it models:

- A linked number is ``PROCESSING`` until ``complete_after`` seconds have passed *and* it
  has been shown ``PROCESSING`` by ``complete_after_polls`` reads (a list page or a GET of
  the number); then it is ``COMPLETED`` (``FAILED`` for ``fail_numbers``). An unlinked
  number stays listed as it was until the same rules say the unlinking is done. Nothing
  runs in the background for this: the state is brought up to date when it is read.
- Faults, decided per request in this order: ``down`` (connection closed), authentication
  (401), faults queued with :meth:`FakePlivo.enqueue_fault`, the concurrency cap (429),
  the rate limit (429, sliding window), ``drop_rate`` (connection closed before anything
  happens), ``error_rates`` (5xx and the like), ``latency``, the call itself, then
  ``drop_response_rate`` (the call took effect but the answer is lost).
- Status callbacks to the ``url`` given on link/unlink, signed like Plivo's (V2 and V3
  signatures, with the ``Ma`` variants).

Every random choice comes from ``random.Random(seed)``, so a run is repeatable under a seed
as long as the requests arrive in the same order.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from http import HTTPStatus
from itertools import islice
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs
from aiohttp import ClientSession, ClientTimeout, web

__all__ = [
    "DEFAULT_AUTH_ID",
    "DEFAULT_AUTH_TOKEN",
    "Campaign",
    "FakePlivo",
    "PendingChange",
    "RecordedRequest",
    "SentCallback",
    "basic_auth_header",
    "serve",
]

#: A main-account id of the real shape: ``MA`` and 18 more characters, 20 in all.
DEFAULT_AUTH_ID = "MAFAKEPLIVO000000000"
#: A token of the real shape (40 letters and digits). It guards nothing: it is public.
DEFAULT_AUTH_TOKEN = "FakePlivoAuthToken0123456789abcdefABCDEF"

PROCESSING = "PROCESSING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"

#: The ``reason`` of a ``failed`` callback, and the cause of a FAILED status.
FAILURE_REASON = "Number linking failed: the number is not eligible for this campaign"

_ERROR_TEXTS = {
    401: "Authentication credentials invalid",
    404: "not found",
    405: "Method not allowed",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
_DEFAULT_PAGE_LIMIT = 20
_CALLBACK_TIMEOUT = ClientTimeout(total=10)
_SHUTDOWN_TIMEOUT = 1.0


# --------------------------------------------------------------------------------------------
# Values and state


@attrs.frozen
class RecordedRequest:
    """One request the fake received, as it arrived, with the status it was answered with."""

    method: str
    path: str
    query: dict[str, str]
    #: The parsed JSON body, or None when there was none or it was not JSON.
    body: Any
    raw_body: bytes
    #: Header names as the client wrote them.
    headers: dict[str, str]
    #: ``clock()`` (``time.monotonic`` unless replaced) when the request arrived.
    time: float
    #: None when the connection was closed with no answer.
    status: int | None


@attrs.frozen
class SentCallback:
    """One status callback the fake sent, and how its target answered."""

    url: str
    method: str
    params: dict[str, str]
    headers: dict[str, str]
    #: The target's HTTP status, or None when there was no answer (see ``error``).
    status: int | None
    error: str | None = None


@attrs.define(eq=False)
class PendingChange:
    """A link or unlink that Plivo is still processing for one number."""

    op: Literal["link", "unlink"]
    #: ``clock()`` when the request was accepted.
    since: float
    callback_url: str | None = None
    callback_method: str = "POST"
    #: Reads that have shown the number while this change was pending.
    polls: int = 0
    timer: asyncio.TimerHandle | None = attrs.field(default=None, repr=False)


@attrs.define(eq=False)
class Campaign:
    """A campaign's state: its numbers in link order, each with the status Plivo would show.

    ``numbers`` holds what a read would show right now, except that pending changes are
    only brought up to date when something reads them; ``pending`` holds those changes.
    """

    campaign_id: str
    alias: str
    usecase: str = "STARTER"
    numbers: dict[str, str] = attrs.field(factory=dict)
    pending: dict[str, PendingChange] = attrs.field(factory=dict)


@attrs.frozen
class _Fault:
    status: int | None
    retry_after: float | str | None
    body: bytes | None
    content_type: str | None
    effect: bool


class _Drop:
    """Marker answer: close the connection without answering."""


_DROP = _Drop()


# --------------------------------------------------------------------------------------------
# Small helpers


def _is_wire_number(number: str) -> bool:
    # Digits with country code, no "+": 11 ASCII digits starting with 1 (US long codes).
    return len(number) == 11 and number[0] == "1" and number.isascii() and number.isdigit()


def _normalized_set(numbers: Iterable[str]) -> frozenset[str]:
    # Accept the numbers as a user would write them, compare in wire form.
    from ._numbers import try_normalize_number

    out = set()
    for raw in numbers:
        number, _ = try_normalize_number(raw)
        out.add(number or raw)
    return frozenset(out)


def basic_auth_header(login: str, password: str) -> str:
    """The ``Authorization`` value of HTTP Basic auth (aiohttp's ``BasicAuth`` is deprecated)."""
    token = base64.b64encode(f"{login}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _decode_basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, password = text.partition(":")
    return (login, password) if sep else None


def _format_seconds(seconds: float) -> str:
    # Up to 3 decimals, rounded up so that a client waiting that long finds a free slot.
    value = math.ceil(max(seconds, 0.001) * 1000) / 1000
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _callback_error(body: Mapping[str, Any]) -> tuple[str | None, str, str | None]:
    """Return ``(url, method, error)`` for the optional callback fields of a body."""
    url = body.get("url")
    method = body.get("method")
    if url == "":
        url = None  # the official SDK sends "url": "" when no callback is wanted
    if url is not None:
        if not isinstance(url, str):
            return None, "POST", "url must be a string"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None, "POST", f"url {url} is not a valid http or https URL"
    if method is None:
        method = "POST"
    elif not isinstance(method, str) or method.upper() not in ("GET", "POST"):
        return None, "POST", "method must be GET or POST"
    return url, method.upper(), None


# --------------------------------------------------------------------------------------------
# The server


class FakePlivo:
    """Plivo's Number Linking API, faked on ``host:port`` with its state in memory.

    Use it as ``async with FakePlivo(...) as fake:`` or with :meth:`start` / :meth:`stop`
    (it can be stopped and started again; it keeps its port and its state).

    Options (all keyword-only):

    - ``auth_id``, ``auth_token``: the credentials it accepts.
    - ``host``, ``port``: where it listens (port 0 = a free port, chosen on first start).
    - ``seed``: seed of the one ``random.Random`` behind every random choice.
    - ``campaigns``: ids of the campaigns that exist from the start.
    - ``latency``: seconds to wait before handling each request; a ``(low, high)`` pair
      draws it uniformly from that range.
    - ``complete_after``, ``complete_after_polls``: when a pending link/unlink is done (see
      the module docstring). ``complete_after_polls=0`` makes it done as soon as
      ``complete_after`` has passed; with a callback ``url``, the callback is then sent
      without anyone reading.
    - ``fail_numbers``: numbers whose linking ends ``FAILED``.
    - ``invalid_numbers``: numbers Plivo rejects as "not a valid number".
    - ``max_numbers_per_request``: more numbers than this in one link request: 400.
    - ``page_cap``: most entries in one list page, whatever ``limit`` asks.
    - ``ignore_paging``: answer the whole list whatever ``limit``/``offset`` say.
    - ``rate_limit``, ``rate_window``: at most ``rate_limit`` requests per ``rate_window``
      seconds (sliding window) pass; the others get 429 and do not count.
    - ``retry_after``: the ``Retry-After`` of those 429s: ``"auto"`` (seconds until the
      window frees a slot), a number of seconds, a text sent as is, or None (no header).
      The concurrency cap's 429 carries it only when it is a number or a text.
    - ``max_concurrent``: a request arriving while this many are in flight gets 429.
    - ``error_rates``: ``{status: probability}`` per request, e.g. ``{503: 0.05}``.
    - ``drop_rate``: probability that the connection is closed before the request does
      anything; ``drop_response_rate``: that it is closed after the request took effect.
    - ``send_callbacks``: send status callbacks to the ``url`` given on link/unlink.
    - ``record_requests``: keep :attr:`requests` (turn off for very long benchmarks).
    - ``clock``: the monotonic clock of the state machine and the rate limit (tests can
      pass a fake one to move time without sleeping).

    What tests can look at: :attr:`requests` (a :class:`RecordedRequest` per request, in
    the order their answers were decided), :attr:`count_by_status`, :attr:`in_flight`,
    :attr:`max_concurrency` (the most requests in flight at once; at zero latency requests
    rarely overlap, so give some ``latency`` or :meth:`pause` to measure a client's
    concurrency), :attr:`campaigns` and :meth:`numbers`, :attr:`callbacks_sent`. Setting
    :attr:`down` to True makes every request's connection close with no answer.

    Note that aiohttp's client silently sends an idempotent request (GET, DELETE) once more
    when a kept-alive connection is closed without an answer, so a dropped GET may show up
    twice in :attr:`requests`.
    """

    def __init__(
        self,
        *,
        auth_id: str = DEFAULT_AUTH_ID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        campaigns: Iterable[str] = ("CUOGHIN",),
        latency: float | tuple[float, float] = 0.0,
        complete_after: float = 0.0,
        complete_after_polls: int = 1,
        fail_numbers: Iterable[str] = (),
        invalid_numbers: Iterable[str] = (),
        max_numbers_per_request: int | None = None,
        page_cap: int = 20,
        ignore_paging: bool = False,
        rate_limit: int | None = None,
        rate_window: float = 1.0,
        retry_after: float | str | None = "auto",
        max_concurrent: int | None = None,
        error_rates: Mapping[int, float] | None = None,
        drop_rate: float = 0.0,
        drop_response_rate: float = 0.0,
        send_callbacks: bool = True,
        record_requests: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(latency, tuple):
            low, high = latency
            if not 0 <= low <= high:
                raise ValueError(f"latency range must be 0 <= low <= high, not {latency!r}")
        elif latency < 0:
            raise ValueError(f"latency must be >= 0, not {latency!r}")
        if complete_after < 0:
            raise ValueError(f"complete_after must be >= 0, not {complete_after!r}")
        if complete_after_polls < 0:
            raise ValueError(f"complete_after_polls must be >= 0, not {complete_after_polls!r}")
        if max_numbers_per_request is not None and max_numbers_per_request < 1:
            raise ValueError("max_numbers_per_request must be >= 1 or None")
        if page_cap < 1:
            raise ValueError(f"page_cap must be >= 1, not {page_cap!r}")
        if rate_limit is not None and rate_limit < 1:
            raise ValueError(f"rate_limit must be >= 1 or None, not {rate_limit!r}")
        if rate_window <= 0:
            raise ValueError(f"rate_window must be > 0, not {rate_window!r}")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1 or None, not {max_concurrent!r}")
        if isinstance(retry_after, (int, float)) and retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, not {retry_after!r}")
        rates = dict(error_rates or {})
        if any(not 0 <= p <= 1 for p in rates.values()) or sum(rates.values()) > 1:
            raise ValueError("error_rates must be probabilities in [0, 1] summing to <= 1")
        for name, p in (("drop_rate", drop_rate), ("drop_response_rate", drop_response_rate)):
            if not 0 <= p <= 1:
                raise ValueError(f"{name} must be in [0, 1], not {p!r}")

        self.auth_id = auth_id
        self.auth_token = auth_token
        self.host = host
        self.port = port
        self.seed = seed
        self.latency = latency
        self.complete_after = complete_after
        self.complete_after_polls = complete_after_polls
        self.fail_numbers = _normalized_set(fail_numbers)
        self.invalid_numbers = _normalized_set(invalid_numbers)
        self.max_numbers_per_request = max_numbers_per_request
        self.page_cap = page_cap
        self.ignore_paging = ignore_paging
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.retry_after = retry_after
        self.max_concurrent = max_concurrent
        self.error_rates = rates
        self.drop_rate = drop_rate
        self.drop_response_rate = drop_response_rate
        self.send_callbacks = send_callbacks
        self.record_requests = record_requests
        self.clock = clock

        #: When True, every request's connection is closed with no answer.
        self.down = False
        self.campaigns: dict[str, Campaign] = {}
        for campaign_id in campaigns:
            self.add_campaign(campaign_id)
        self.requests: list[RecordedRequest] = []
        self.callbacks_sent: list[SentCallback] = []
        #: How many requests were answered with each status (None: connection closed).
        self.count_by_status: Counter[int | None] = Counter()
        self.in_flight = 0
        self.max_concurrency = 0

        self._rng = random.Random(seed)
        # A second stream for ids and nonces, so that how many of them were drawn does not
        # change which requests the fault rates hit.
        self._ids = random.Random(f"plivo-numlink-fake:{seed}")
        self._expected_auth = basic_auth_header(auth_id, auth_token)
        self._faults: deque[_Fault] = deque()
        self._window: deque[float] = deque()
        self._released = asyncio.Event()
        self._released.set()
        self._runner: web.ServerRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._callback_session: ClientSession | None = None

    # ---------------------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """The origin to give a client: ``http://127.0.0.1:PORT`` (no path, no slash)."""
        if self.port == 0:
            raise RuntimeError("FakePlivo has no port yet: start it first")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> FakePlivo:
        """Listen on ``host:port`` (a free port the first time if ``port`` is 0)."""
        if self._runner is not None:
            raise RuntimeError("FakePlivo is already running")
        server = web.Server(self._handle, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        self._rearm_timers()
        return self

    async def stop(self) -> None:
        """Stop listening and close every connection. Idempotent; the state is kept."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for campaign in self.campaigns.values():
            for change in campaign.pending.values():
                if change.timer is not None:
                    change.timer.cancel()
                    change.timer = None
        # Cancel what is in flight (paused or sleeping requests) rather than waiting for it.
        tasks = [*self._handlers, *self._callback_tasks]
        for task in tasks:
            task.cancel()
        await runner.cleanup()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        session, self._callback_session = self._callback_session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> FakePlivo:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Serve until the awaiting task is cancelled, then stop."""
        if self._runner is None:
            await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # ------------------------------------------------------------------------- test helpers

    def add_campaign(
        self, campaign_id: str, *, alias: str | None = None, usecase: str = "STARTER"
    ) -> Campaign:
        """Create (or replace) an empty campaign and return it."""
        campaign = Campaign(campaign_id, alias or f"Campaign {campaign_id}", usecase)
        self.campaigns[campaign_id] = campaign
        return campaign

    def set_status(self, campaign_id: str, number: str, status: str | None) -> None:
        """Put ``number`` in the campaign with ``status`` (any text), or remove it (None).

        Any pending change of the number is dropped.
        """
        campaign = self.campaigns[campaign_id]
        change = campaign.pending.pop(number, None)
        if change is not None and change.timer is not None:
            change.timer.cancel()
        if status is None:
            campaign.numbers.pop(number, None)
        else:
            campaign.numbers[number] = status

    def numbers(self, campaign_id: str) -> dict[str, str]:
        """The campaign's numbers and statuses, in link order, brought up to date.

        This does not count as a read for ``complete_after_polls``.
        """
        campaign = self.campaigns[campaign_id]
        now = self.clock()
        for number, change in list(campaign.pending.items()):
            self._advance(campaign, number, change, now, shown=False)
        return dict(campaign.numbers)

    def clear_requests(self) -> None:
        """Forget the request log and the per-status counts."""
        self.requests = []
        self.count_by_status = Counter()

    def reset_max_concurrency(self) -> None:
        """Start measuring :attr:`max_concurrency` again from what is in flight now."""
        self.max_concurrency = self.in_flight

    def enqueue_fault(
        self,
        status: int | None,
        count: int = 1,
        *,
        retry_after: float | str | None = None,
        body: str | bytes | None = None,
        content_type: str | None = None,
        effect: bool = False,
    ) -> None:
        """Answer the next ``count`` authenticated requests with this instead.

        ``status`` None closes the connection with no answer. ``body`` (text or bytes) and
        ``content_type`` replace the usual JSON error body, e.g. to send HTML, nothing
        (``b""``) or truncated JSON. With ``effect=True`` the request is carried out first,
        and only its answer is replaced (a lost or garbled answer to a request that worked).
        """
        if count < 1:
            raise ValueError(f"count must be >= 1, not {count!r}")
        raw = body.encode("utf-8") if isinstance(body, str) else body
        fault = _Fault(status, retry_after, raw, content_type, effect)
        self._faults.extend([fault] * count)

    def pause(self) -> None:
        """Hold every request that gets past the faults until :meth:`resume`.

        Held requests count as in flight: tests use this to see how many requests a
        client has open at once.
        """
        self._released.clear()

    def resume(self) -> None:
        """Let held requests (and those to come) go on."""
        self._released.set()

    async def flush_callbacks(self) -> None:
        """Wait until every callback started so far has been sent and answered."""
        while self._callback_tasks:
            await asyncio.gather(*self._callback_tasks, return_exceptions=True)

    # ------------------------------------------------------------------------- the handler

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.in_flight += 1
        if self.in_flight > self.max_concurrency:
            self.max_concurrency = self.in_flight
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        arrived = self.clock()
        raw = b""
        body: Any = None
        answer: web.Response | _Drop = _DROP
        try:
            if request.body_exists:
                raw = await request.read()
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = None
            answer = await self._answer(request, raw, body)
        except web.HTTPRequestEntityTooLarge:
            answer = self._error(413, "Request body too large")
        finally:
            self.in_flight -= 1
            if task is not None:
                self._handlers.discard(task)
            status = None if isinstance(answer, _Drop) else answer.status
            self.count_by_status[status] += 1
            if self.record_requests:
                self.requests.append(
                    RecordedRequest(
                        request.method,
                        request.path,
                        dict(request.query),
                        body,
                        raw,
                        dict(request.headers),
                        arrived,
                        status,
                    )
                )
        if isinstance(answer, _Drop):
            # Closing the transport first makes aiohttp's write of the (unused) answer fail
            # with a ConnectionError, which it treats as a client that went away: no answer,
            # no log, no traceback.
            request.protocol.force_close()
            return web.Response()
        return answer

    async def _answer(
        self, request: web.BaseRequest, raw: bytes, body: Any
    ) -> web.Response | _Drop:
        if self.down:
            return _DROP
        parts = request.path.strip("/").split("/")
        if not self._authorized(request, parts):
            return self._error(401)

        if self._faults:
            fault = self._faults.popleft()
            if fault.effect:
                self._route(request, parts, raw, body)
            return self._fault_answer(fault)

        if self.max_concurrent is not None and self.in_flight > self.max_concurrent:
            retry_after = None if self.retry_after == "auto" else self.retry_after
            return self._error(429, retry_after=retry_after)

        if self.rate_limit is not None:
            now = self.clock()
            window = self._window
            cutoff = now - self.rate_window
            while window and window[0] <= cutoff:
                window.popleft()
            if len(window) >= self.rate_limit:
                retry_after = self.retry_after
                if retry_after == "auto":
                    retry_after = window[0] + self.rate_window - now
                return self._error(429, retry_after=retry_after)
            window.append(now)

        rng = self._rng
        if self.drop_rate and rng.random() < self.drop_rate:
            return _DROP
        if self.error_rates:
            draw = rng.random()
            cumulative = 0.0
            for status, probability in self.error_rates.items():
                cumulative += probability
                if draw < cumulative:
                    return self._error(status)

        latency = self.latency
        if isinstance(latency, tuple):
            latency = rng.uniform(*latency)
        if latency > 0:
            await asyncio.sleep(latency)
        if not self._released.is_set():
            await self._released.wait()

        answer = self._route(request, parts, raw, body)
        if self.drop_response_rate and rng.random() < self.drop_response_rate:
            return _DROP
        return answer

    def _authorized(self, request: web.BaseRequest, parts: list[str]) -> bool:
        header = request.headers.get("Authorization")
        if header is None:
            return False
        if header != self._expected_auth and _decode_basic_auth(header) != (
            self.auth_id,
            self.auth_token,
        ):
            return False
        # An auth id in the path that is not the caller's is refused the same way.
        return not (
            len(parts) > 2
            and parts[0] == "v1"
            and parts[1] == "Account"
            and parts[2] != self.auth_id
        )

    def _fault_answer(self, fault: _Fault) -> web.Response | _Drop:
        if fault.status is None:
            return _DROP
        if fault.body is None and fault.content_type is None:
            return self._error(fault.status, retry_after=fault.retry_after)
        response = web.Response(
            status=fault.status,
            body=fault.body if fault.body is not None else b"",
            content_type=fault.content_type or "application/json",
        )
        if fault.retry_after is not None:
            response.headers["Retry-After"] = self._retry_after_text(fault.retry_after)
        return response

    # --------------------------------------------------------------------------- the calls

    def _route(
        self, request: web.BaseRequest, parts: list[str], raw: bytes, body: Any
    ) -> web.Response:
        # /v1/Account/{auth_id}/10dlc/Campaign/{campaign_id}/Number/[{number}/]
        if (
            len(parts) not in (7, 8)
            or parts[0] != "v1"
            or parts[1] != "Account"
            or parts[3] != "10dlc"
            or parts[4] != "Campaign"
            or parts[6] != "Number"
        ):
            return self._error(404)
        method = request.method
        if len(parts) == 7:
            if method not in ("GET", "POST"):
                return self._error(405)
        elif method not in ("GET", "DELETE"):
            return self._error(405)
        campaign = self.campaigns.get(parts[5])
        if campaign is None:
            return self._error(404, "campaign not found")
        if len(parts) == 7:
            if method == "POST":
                return self._link(campaign, raw, body)
            return self._list(campaign, request.query)
        if method == "GET":
            return self._get_one(campaign, parts[7])
        return self._unlink(campaign, parts[7], raw, body)

    def _link(self, campaign: Campaign, raw: bytes, body: Any) -> web.Response:
        if not isinstance(body, dict):
            return self._error(400, "Request body must be a JSON object")
        numbers = body.get("numbers")
        if (
            not isinstance(numbers, list)
            or not numbers
            or not all(isinstance(number, str) for number in numbers)
        ):
            return self._error(400, "numbers must be a non-empty list of phone numbers")
        limit = self.max_numbers_per_request
        if limit is not None and len(numbers) > limit:
            return self._error(
                400,
                f"Too many numbers: at most {limit} numbers can be linked in one request "
                f"({len(numbers)} given)",
            )
        url, method, error = _callback_error(body)
        if error is not None:
            return self._error(400, error)
        unique: list[str] = list(dict.fromkeys(numbers))
        for number in unique:
            if not _is_wire_number(number) or number in self.invalid_numbers:
                return self._error(400, f"The number {number} is not a valid number")
            status = campaign.numbers.get(number)
            if status is not None and status != FAILED:
                return self._error(400, f"The number {number} is already requested for linking")
            for other in self.campaigns.values():
                if other is not campaign and other.numbers.get(number, FAILED) != FAILED:
                    return self._error(400, f"The number {number} is linked to another campaign")
        now = self.clock()
        for number in unique:
            campaign.numbers[number] = PROCESSING
            self._begin(campaign, number, PendingChange("link", now, url, method))
        text = ",".join(unique)
        return self._json(
            202,
            {
                "api_id": self._api_id(),
                "message": f"Request to link {text} to campaign {campaign.campaign_id} "
                "was received and is being processed",
            },
        )

    def _list(self, campaign: Campaign, query: Mapping[str, str]) -> web.Response:
        try:
            limit = int(query.get("limit", _DEFAULT_PAGE_LIMIT))
            offset = int(query.get("offset", 0))
        except ValueError:
            return self._error(400, "limit and offset must be integers")
        if limit < 1:
            return self._error(400, "limit must be a positive integer")
        if offset < 0:
            return self._error(400, "offset must not be negative")
        numbers = campaign.numbers
        pending = campaign.pending
        if self.ignore_paging:
            offset, size = 0, len(numbers)
        else:
            size = min(limit, self.page_cap)
        now = self.clock()
        page: list[dict[str, str]] = []
        unlinked: list[tuple[str, PendingChange]] = []
        # Walk on past the slice when unlinks finish on the way, so the page stays full.
        for number in islice(numbers, offset, None):
            if len(page) >= size:
                break
            change = pending.get(number)
            if change is not None and self._due(change, now):
                if change.op == "unlink":
                    unlinked.append((number, change))
                    continue
                self._finish(campaign, number, change)
            elif change is not None:
                change.polls += 1
            page.append({"number": number, "status": numbers[number]})
        for number, change in unlinked:
            self._finish(campaign, number, change)
        return self._campaign_answer(campaign, page)

    def _get_one(self, campaign: Campaign, number: str) -> web.Response:
        change = campaign.pending.get(number)
        if change is not None:
            self._advance(campaign, number, change, self.clock(), shown=True)
        status = campaign.numbers.get(number)
        if status is None:
            return self._error(404, f"The number {number} is not linked to this campaign")
        return self._campaign_answer(campaign, [{"number": number, "status": status}])

    def _unlink(self, campaign: Campaign, number: str, raw: bytes, body: Any) -> web.Response:
        if raw.strip() and not isinstance(body, dict):
            return self._error(400, "Request body must be a JSON object")
        url, method, error = _callback_error(body or {})
        if error is not None:
            return self._error(400, error)
        change = campaign.pending.get(number)
        if change is not None:
            self._advance(campaign, number, change, self.clock(), shown=False)
        if number not in campaign.numbers:
            return self._error(400, f"The number {number} is not linked to this campaign")
        change = campaign.pending.get(number)
        if change is None or change.op != "unlink":
            # Asking again while an unlink is under way changes nothing.
            self._begin(campaign, number, PendingChange("unlink", self.clock(), url, method))
        return self._json(
            202,
            {
                "api_id": self._api_id(),
                "message": f"Request to unlink {number} from campaign {campaign.campaign_id} "
                "was received and is being processed",
            },
        )

    # ---------------------------------------------------------------------- state machine

    def _begin(self, campaign: Campaign, number: str, change: PendingChange) -> None:
        old = campaign.pending.get(number)
        if old is not None and old.timer is not None:
            old.timer.cancel()
        campaign.pending[number] = change
        self._arm_timer(campaign, number, change)

    def _arm_timer(self, campaign: Campaign, number: str, change: PendingChange) -> None:
        # Only a change that needs no read to finish can finish on its own; it matters only
        # when someone waits for its callback.
        if (
            change.callback_url is None
            or not self.send_callbacks
            or self.complete_after_polls > 0
            or self._runner is None
        ):
            return
        delay = max(0.0, change.since + self.complete_after - self.clock())
        loop = asyncio.get_running_loop()
        change.timer = loop.call_later(delay, self._on_timer, campaign, number, change)

    def _rearm_timers(self) -> None:
        for campaign in self.campaigns.values():
            for number, change in campaign.pending.items():
                if change.timer is None:
                    self._arm_timer(campaign, number, change)

    def _on_timer(self, campaign: Campaign, number: str, change: PendingChange) -> None:
        change.timer = None
        if campaign.pending.get(number) is change:
            self._advance(campaign, number, change, self.clock(), shown=False)

    def _due(self, change: PendingChange, now: float) -> bool:
        return (
            now - change.since >= self.complete_after and change.polls >= self.complete_after_polls
        )

    def _advance(
        self, campaign: Campaign, number: str, change: PendingChange, now: float, *, shown: bool
    ) -> None:
        if self._due(change, now):
            self._finish(campaign, number, change)
        elif shown:
            change.polls += 1

    def _finish(self, campaign: Campaign, number: str, change: PendingChange) -> None:
        del campaign.pending[number]
        if change.timer is not None:
            change.timer.cancel()
            change.timer = None
        if change.op == "link":
            ok = number not in self.fail_numbers
            campaign.numbers[number] = COMPLETED if ok else FAILED
            event = "number_linking"
        else:
            ok = True
            campaign.numbers.pop(number, None)
            event = "number_unlinking"
        if change.callback_url is not None and self.send_callbacks:
            params = {
                "event": event,
                "campaign_id": campaign.campaign_id,
                "number": number,
                "status": "success" if ok else "failed",
            }
            if not ok:
                params["reason"] = FAILURE_REASON
            params["timestamp"] = (
                datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
            )
            self._start_callback(change.callback_url, change.callback_method, params)

    # ------------------------------------------------------------------------- callbacks

    def _start_callback(self, url: str, method: str, params: dict[str, str]) -> None:
        if self._runner is None:
            self.callbacks_sent.append(
                SentCallback(url, method, params, {}, None, "fake server not running")
            )
            return
        task = asyncio.get_running_loop().create_task(self._send_callback(url, method, params))
        self._callback_tasks.add(task)
        task.add_done_callback(self._callback_tasks.discard)

    def callback_headers(self, method: str, url: str, params: Mapping[str, str]) -> dict[str, str]:
        """The signature headers Plivo would put on a callback (a fresh nonce each time)."""
        from .callbacks import signature_v2, signature_v3

        nonce = str(self._ids.randrange(10**19, 10**20))
        v2 = signature_v2(url, nonce, self.auth_token)
        v3 = signature_v3(method, url, params, nonce, self.auth_token)
        return {
            "X-Plivo-Signature-V2": v2,
            "X-Plivo-Signature-V2-Nonce": nonce,
            "X-Plivo-Signature-Ma-V2": v2,
            "X-Plivo-Signature-V3": v3,
            "X-Plivo-Signature-V3-Nonce": nonce,
            "X-Plivo-Signature-Ma-V3": v3,
        }

    async def _send_callback(self, url: str, method: str, params: dict[str, str]) -> None:
        status: int | None = None
        error: str | None = None
        headers: dict[str, str] = {}
        try:
            headers = self.callback_headers(method, url, params)
            session = self._callback_session
            if session is None:
                session = self._callback_session = ClientSession(timeout=_CALLBACK_TIMEOUT)
            if method == "GET":
                answer = session.get(url, params=params, headers=headers)
            else:
                answer = session.post(url, data=params, headers=headers)
            async with answer as response:
                await response.read()
                status = response.status
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken callback target must never break the server
            error = f"{type(exc).__name__}: {exc}"
        self.callbacks_sent.append(SentCallback(url, method, params, headers, status, error))

    # ---------------------------------------------------------------------------- answers

    def _api_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _retry_after_text(self, value: float | str) -> str:
        return value if isinstance(value, str) else _format_seconds(value)

    def _json(self, status: int, payload: Mapping[str, Any]) -> web.Response:
        return web.Response(
            status=status,
            body=json.dumps(payload, separators=(",", ":")).encode(),
            content_type="application/json",
        )

    def _error(
        self, status: int, text: str | None = None, *, retry_after: float | str | None = None
    ) -> web.Response:
        if text is None:
            text = _ERROR_TEXTS.get(status)
            if text is None:
                try:
                    text = HTTPStatus(status).phrase
                except ValueError:
                    text = "error"
        response = self._json(status, {"api_id": self._api_id(), "error": text})
        if retry_after is not None:
            response.headers["Retry-After"] = self._retry_after_text(retry_after)
        return response

    def _campaign_answer(self, campaign: Campaign, page: list[dict[str, str]]) -> web.Response:
        return self._json(
            200,
            {
                "api_id": self._api_id(),
                "campaign_id": campaign.campaign_id,
                "campaign_alias": campaign.alias,
                "usecase": campaign.usecase,
                "phone_numbers": page,
            },
        )


async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[FakePlivo], object] | None = None,
    **options: Any,
) -> None:
    """Run a :class:`FakePlivo` in the foreground until the awaiting task is cancelled.

    ``on_ready(fake)`` is called once it listens (to print ``fake.base_url``, say); this
    function prints nothing itself. ``options`` are :class:`FakePlivo`'s.
    """
    fake = FakePlivo(host=host, port=port, **options)
    await fake.start()
    if on_ready is not None:
        on_ready(fake)
    await fake.serve_forever()
