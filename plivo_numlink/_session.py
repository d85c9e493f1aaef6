"""``NumLinkSession``: the async client for the four Number Linking endpoints.

Every request of a session goes through the same three gates, in this order:

1. the retry loop (tenacity, driven by the pure decisions in ``_retry.py``); a request
   waiting out a backoff holds nothing;
2. the concurrency limit (one semaphore per session);
3. the rate limiter (``_pacing.py``), which spaces request starts and slows down on 429.

The bulk operations (``_bulk.py``) are built on :meth:`NumLinkSession._request`.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import attrs
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt

from . import _bulk, _sansio
from ._bulk import BulkRun
from ._errors import (
    APIStatusError,
    PlivoError,
    ResponseFormatError,
    SessionClosedError,
    TransportError,
)
from ._log import logger, register_secret
from ._models import CampaignNumbers, LinkAck, NumberStatus
from ._numbers import (
    normalize_number,
    try_normalize_number,
    validate_callback,
    validate_campaign_id,
)
from ._pacing import AdaptiveRateLimiter
from ._report import BulkReport, NumberOutcome
from ._retry import (
    DEFAULT_RETRY,
    RetryPolicy,
    RetryQuota,
    is_retryable,
    is_retryable_status,
    retry_delay,
)
from ._sansio import CallStats

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_TIMEOUT",
    "ConfigurationError",
    "NumLinkSession",
]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

#: Plivo allows 100 simultaneous requests per account; 20 in flight already sustain the
#: default rate at up to 400 ms per request (Little's law), and leave the account room.
DEFAULT_CONCURRENCY = 20
#: Plivo's default account limit is 300 requests per 5 s (60/s) for all APIs together;
#: 50/s leaves a sixth of it to whatever else the account is doing.
DEFAULT_RATE_LIMIT: float | None = 50.0
#: Seconds for one HTTP attempt (connect, send, read the whole answer).
DEFAULT_TIMEOUT = 30.0
#: Answers larger than this are not read (a list page of 20 numbers is about 1 KiB).
MAX_BODY_BYTES = 32 * 1024 * 1024
#: Numbers asked for per list page (Plivo's list APIs cap pages at 20).
LIST_PAGE_SIZE = 20
#: A safety net against a server that pages forever.
MAX_LIST_PAGES = 100_000

_MISSING: Any = object()


class ConfigurationError(PlivoError, ValueError):
    """A session was configured wrongly (missing credentials, bad base_url, ...)."""


@attrs.frozen
class Answer:
    """A 2xx answer, read whole."""

    status: int
    text: str
    attempts: int


def _check_positive_number(name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(f"{name} must be a finite number > 0, not {value!r}")


class NumLinkSession:
    """An async client for Plivo's 10DLC Number Linking API.

    Use it as an async context manager (or call :meth:`close`)::

        async with NumLinkSession() as session:   # credentials from PLIVO_AUTH_ID/TOKEN
            ack = await session.link("CUOGHIN", ["+1 212-555-7777"])

    One session is meant to be shared by all the tasks of a program: its concurrency limit
    and rate limiter are what keep the whole program under Plivo's account limits.

    ``sleep`` and ``clock`` replace ``asyncio.sleep`` and ``time.monotonic`` for the
    session's waits (backoff, pacing, polling): tests and simulations pass fakes so that no
    real time passes.
    """

    def __init__(
        self,
        auth_id: str | None = None,
        auth_token: str | None = None,
        *,
        base_url: str = _sansio.DEFAULT_BASE_URL,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate_limit: float | None = _MISSING,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = DEFAULT_TIMEOUT,
        http_session: aiohttp.ClientSession | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if auth_id is None:
            auth_id = os.environ.get("PLIVO_AUTH_ID") or None
        if auth_token is None:
            auth_token = os.environ.get("PLIVO_AUTH_TOKEN") or None
        if not auth_id:
            raise ConfigurationError(
                "no auth_id: pass auth_id= or set the PLIVO_AUTH_ID environment variable"
            )
        if not auth_token:
            raise ConfigurationError(
                "no auth_token: pass auth_token= or set the PLIVO_AUTH_TOKEN environment variable"
            )
        if not isinstance(auth_id, str):
            raise ConfigurationError(f"auth_id must be a string, not {type(auth_id).__name__}")
        if not isinstance(auth_token, str):
            raise ConfigurationError("auth_token must be a string")
        try:
            self._auth_id = _sansio.validate_auth_id(auth_id)
            self._base_url = _sansio.validate_base_url(base_url)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be an integer >= 1, not {concurrency!r}")
        if rate_limit is _MISSING:
            rate_limit = DEFAULT_RATE_LIMIT
        _check_positive_number("rate_limit", rate_limit, allow_none=True)
        _check_positive_number("timeout", timeout)
        if not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        if http_session is not None and not isinstance(http_session, aiohttp.ClientSession):
            raise ConfigurationError(
                f"http_session must be an aiohttp.ClientSession, not {type(http_session).__name__}"
            )
        register_secret(auth_token)
        self._headers = {
            "Authorization": _sansio.auth_header(self._auth_id, auth_token),
            "Accept": "application/json",
            "User-Agent": _sansio.user_agent(),
        }
        self._concurrency = concurrency
        self._rate_limit = rate_limit
        self._retry = retry
        self._timeout = aiohttp.ClientTimeout(total=float(timeout))
        self._sleep: Sleep = sleep if sleep is not None else asyncio.sleep
        self._clock: Callable[[], float] = clock if clock is not None else time.monotonic
        self._semaphore = asyncio.Semaphore(concurrency)
        self._limiter = (
            AdaptiveRateLimiter(float(rate_limit), sleep=self._sleep, clock=self._clock)
            if rate_limit is not None
            else None
        )
        #: Retries shared by every request of the session (see RetryQuota).
        self.retry_quota = RetryQuota()
        self._http = http_session
        self._owns_http = http_session is None
        self._closed = False
        #: HTTP attempts this session has sent (every retry counts).
        self.requests_sent = 0

    # -- lifecycle -------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<NumLinkSession auth_id={self._auth_id!r} base_url={self._base_url!r} "
            f"concurrency={self._concurrency} rate_limit={self._rate_limit!r} {state}>"
        )

    @property
    def auth_id(self) -> str:
        return self._auth_id

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def concurrency(self) -> int:
        return self._concurrency

    @property
    def rate_limit(self) -> float | None:
        """The configured rate (requests started per second), or ``None``."""
        return self._rate_limit

    @property
    def current_rate(self) -> float | None:
        """The rate the limiter allows now (lower than ``rate_limit`` after 429s)."""
        return self._limiter.rate if self._limiter is not None else None

    @property
    def retry(self) -> RetryPolicy:
        return self._retry

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> NumLinkSession:
        self._check_open()
        self._http_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session (and its HTTP session, unless borrowed). Idempotent."""
        if self._closed:
            return
        self._closed = True
        http, self._http = self._http, None
        if http is not None and self._owns_http:
            await http.close()

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError("cannot send a request: the NumLinkSession has been closed")

    def _http_session(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=0)
            self._http = aiohttp.ClientSession(connector=connector)
        elif self._http.closed:
            raise SessionClosedError(
                "cannot send a request: the borrowed aiohttp.ClientSession has been closed"
            )
        return self._http

    # -- the request machinery ---------------------------------------------------------------

    async def _attempt(
        self,
        method: str,
        template: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        gate: Callable[[], None] | None = None,
        stats: CallStats | None = None,
    ) -> Answer:
        """One HTTP attempt under the concurrency limit and the rate limiter.

        ``gate`` is called right before sending and may raise to stop the attempt (the bulk
        layer uses it so that nothing new is sent once a job has stopped).
        """
        self._check_open()
        http = self._http_session()
        url = self._base_url + path
        if gate is not None:
            gate()
        async with self._semaphore:
            if self._limiter is not None:
                await self._limiter.acquire()
            if gate is not None:
                gate()
            self.requests_sent += 1
            _sansio.note_attempt()
            if stats is not None:
                stats.attempts += 1
            try:
                async with http.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    headers=self._headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as resp:
                    status = resp.status
                    headers = resp.headers
                    text = await _read_text(resp)
            except asyncio.TimeoutError as exc:
                raise TransportError(
                    f"{method} {template} timed out after {self._timeout.total:g} s",
                    method=method,
                    path=template,
                ) from exc
            except aiohttp.ClientError as exc:
                raise TransportError(
                    f"{method} {template} failed: {type(exc).__name__}: {exc}",
                    method=method,
                    path=template,
                ) from exc
        if not is_retryable_status(status):  # the server is healthy, whatever it said
            self.retry_quota.refund()
        if 200 <= status < 300:
            if self._limiter is not None:
                self._limiter.on_success()
            return Answer(status=status, text=text, attempts=1)
        error = _sansio.error_from_response(status, headers, text, method=method, path=template)
        if status == 429 and self._limiter is not None:
            # A Retry-After over max_retry_after is not slept (the error is raised instead):
            # the limiter must not make every later request of the session sit it out.
            pause = error.retry_after
            if pause is not None:
                pause = min(pause, self._retry.max_retry_after)
            self._limiter.on_throttle(pause)
        raise error

    def _should_retry(self, state: RetryCallState, policy: RetryPolicy) -> bool:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if exc is None or not is_retryable(exc, policy):
            return False
        if state.attempt_number >= policy.attempts:
            return False  # tenacity's stop would end it anyway: spend nothing
        if self.retry_quota.try_spend(exc):
            return True
        logger.warning(
            "not retrying: the session's retry quota is spent (the server keeps failing)"
        )
        return False

    def _before_sleep(self, state: RetryCallState) -> None:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        method, template = state.args[0], state.args[1]
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.debug(
            "retrying %s %s after attempt %d/%d failed (%s); waiting %.3f s",
            method,
            template,
            state.attempt_number,
            self._retry.attempts,
            _short_reason(exc),
            wait,
        )

    async def _request(
        self,
        method: str,
        template: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        stats: CallStats | None = None,
        gate: Callable[[], None] | None = None,
    ) -> Answer:
        """Send one request with retries; return the 2xx answer or raise the last error."""
        policy = self._retry
        call = CallStats()

        async def attempt() -> Answer:
            before = call.attempts
            try:
                return await self._attempt(
                    method, template, path, json=json, params=params, gate=gate, stats=call
                )
            finally:
                if stats is not None:
                    stats.attempts += call.attempts - before

        # Most requests succeed at the first try: make it outside tenacity, whose
        # bookkeeping costs about as much CPU per call as the HTTP exchange itself (it
        # halved bulk throughput). A failure is replayed as tenacity's first attempt, so
        # retries, waits, the quota and the logs are exactly what tenacity alone gives.
        first_failure: list[Exception] = []
        try:
            first = await attempt()
        except Exception as exc:
            if not is_retryable(exc, policy):
                raise  # a definitive answer: nothing for tenacity to decide
            first_failure.append(exc)
        else:
            return first  # one attempt: its Answer already says so

        async def replay_then_attempt() -> Answer:
            if first_failure:
                raise first_failure.pop()
            return await attempt()

        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            retry=lambda state: self._should_retry(state, policy),
            wait=lambda state: retry_delay(
                state.outcome.exception() if state.outcome is not None else None,
                state.attempt_number,
                policy,
            ),
            sleep=self._sleep,
            reraise=True,
            before_sleep=self._before_sleep,
        )
        try:
            answer: Answer = await retrying(_call_attempt, method, template, replay_then_attempt)
        except (APIStatusError, TransportError) as exc:
            # A definitive answer (a 4xx) is the caller's business, not a warning.
            if is_retryable(exc, policy):
                logger.warning(
                    "giving up on %s %s after %d attempt(s): %s",
                    method,
                    template,
                    call.attempts,
                    _short_reason(exc),
                )
            raise
        return attrs.evolve(answer, attempts=call.attempts)

    # -- the four endpoints ------------------------------------------------------------------

    def _campaign(self, campaign_id: str) -> str:
        return _sansio.campaign_path(self._auth_id, validate_campaign_id(campaign_id))

    async def link(
        self,
        campaign_id: str,
        numbers: str | Iterable[str],
        *,
        url: str | None = None,
        method: str | None = None,
    ) -> LinkAck:
        """Link ``numbers`` (one number or several) to ``campaign_id`` in one request.

        Linking goes on at Plivo after the acknowledgement; see :meth:`wait_for_numbers`.
        """
        path = self._campaign(campaign_id)
        if isinstance(numbers, str):
            numbers = [numbers]
        normalized = [normalize_number(number) for number in numbers]
        if not normalized:
            raise ValueError("numbers is empty: give at least one number to link")
        body: dict[str, Any] = {"numbers": normalized}
        body.update(validate_callback(url, method))
        answer = await self._request("POST", _sansio.CAMPAIGN_TEMPLATE, path, json=body)
        return _ack(answer)

    async def unlink(
        self,
        campaign_id: str,
        number: str,
        *,
        url: str | None = None,
        method: str | None = None,
    ) -> LinkAck:
        """Unlink one number from ``campaign_id``."""
        path = self._number_path(campaign_id, number)
        body = validate_callback(url, method) or None
        answer = await self._request("DELETE", _sansio.NUMBER_TEMPLATE, path, json=body)
        return _ack(answer)

    def request_path(self, campaign_id: str, number: str | None = None) -> str:
        """The path a request for ``campaign_id`` (and ``number``) goes to.

        Both are validated (``ValueError``, ``InvalidNumberError``); nothing is sent.
        """
        if number is None:
            return self._campaign(campaign_id)
        return self._number_path(campaign_id, number)

    def _number_path(self, campaign_id: str, number: str) -> str:
        validate_campaign_id(campaign_id)
        return _sansio.number_path(self._auth_id, campaign_id, normalize_number(number))

    async def get_number(self, campaign_id: str, number: str) -> NumberStatus:
        """The status of one number in ``campaign_id`` (:class:`NotFoundError` if absent)."""
        path = self._number_path(campaign_id, number)
        normalized = path.rstrip("/").rsplit("/", 1)[-1]
        answer = await self._request("GET", _sansio.NUMBER_TEMPLATE, path)
        campaign = _sansio.parse_success(answer.status, answer.text, CampaignNumbers)
        for entry in campaign.phone_numbers:
            if entry.number == normalized:
                return entry
        # The server may write the number another way (``+1...``, no country code); never
        # take another number's status for the one asked about.
        for entry in campaign.phone_numbers:
            if try_normalize_number(entry.number)[0] == normalized:
                return attrs.evolve(entry, number=normalized)
        raise ResponseFormatError(
            f"the answer lists no status for {normalized}",
            status_code=answer.status,
            text=answer.text,
        )

    async def list_numbers(self, campaign_id: str) -> CampaignNumbers:
        """Every number linked to ``campaign_id``, all pages gathered."""
        pages = [page async for page in self.iter_pages(campaign_id)]
        first = pages[0]
        seen: dict[str, NumberStatus] = {}
        for page in pages:
            for entry in page.phone_numbers:
                seen.setdefault(entry.number, entry)
        return attrs.evolve(first, phone_numbers=tuple(seen.values()))

    async def iter_pages(
        self, campaign_id: str, *, page_size: int = LIST_PAGE_SIZE
    ) -> AsyncIterable[CampaignNumbers]:
        """Yield the list endpoint's pages one by one (``limit``/``offset`` paging).

        Stops on an empty page, a page shorter than an earlier one, or a page that adds no
        number not seen before, so a server that caps pages below ``page_size`` is paged
        through and one that ignores paging does not cause a loop.
        """
        path = self._campaign(campaign_id)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be an integer >= 1, not {page_size!r}")
        offset = 0
        longest = 0
        seen: set[str] = set()
        for _ in range(MAX_LIST_PAGES):
            params = {"limit": str(page_size), "offset": str(offset)}
            answer = await self._request("GET", _sansio.CAMPAIGN_TEMPLATE, path, params=params)
            page = _sansio.parse_success(answer.status, answer.text, CampaignNumbers)
            fresh = [entry.number for entry in page.phone_numbers if entry.number not in seen]
            if offset == 0 or fresh:
                yield page
            count = len(page.phone_numbers)
            if count == 0 or count < longest or not fresh:
                return
            seen.update(fresh)
            longest = max(longest, count)
            offset += count
        raise ResponseFormatError(  # pragma: no cover - needs 100,000 pages
            f"gave up listing after {MAX_LIST_PAGES} pages", status_code=200, text=""
        )

    # -- bulk operations (the engine is in _bulk.py) -----------------------------------------

    def iter_link(
        self,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        batch_size: int = _bulk.DEFAULT_BATCH_SIZE,
        url: str | None = None,
        method: str | None = None,
        on_outcome: Callable[[NumberOutcome], object] | None = None,
        keep_report: bool = True,
        dedupe: bool = True,
    ) -> BulkRun:
        """A bulk link job: ``async for outcome in session.iter_link(...)``.

        Outcomes come as they complete; ``run.report()`` gives them in input order, also
        after an interruption. See :meth:`link_many` for the behaviour.

        For endless streams, ``keep_report=False`` keeps no outcome once yielded (no
        ``report()``), and ``dedupe=False`` stops remembering numbers to send each once (for
        inputs known to hold no repeats): with both off, memory does not grow with the input.
        """
        self._check_open()
        return BulkRun(
            self,
            "link",
            campaign_id,
            numbers,
            batch_size=batch_size,
            url=url,
            method=method,
            on_outcome=on_outcome,
            keep_report=keep_report,
            dedupe=dedupe,
        )

    def iter_unlink(
        self,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        url: str | None = None,
        method: str | None = None,
        on_outcome: Callable[[NumberOutcome], object] | None = None,
        keep_report: bool = True,
        dedupe: bool = True,
    ) -> BulkRun:
        """A bulk unlink job: ``async for outcome in session.iter_unlink(...)``.

        ``keep_report`` and ``dedupe`` as for :meth:`iter_link`.
        """
        self._check_open()
        return BulkRun(
            self,
            "unlink",
            campaign_id,
            numbers,
            url=url,
            method=method,
            on_outcome=on_outcome,
            keep_report=keep_report,
            dedupe=dedupe,
        )

    async def link_many(
        self,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        batch_size: int = _bulk.DEFAULT_BATCH_SIZE,
        url: str | None = None,
        method: str | None = None,
        wait: bool = False,
        wait_timeout: float = _bulk.DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = _bulk.DEFAULT_POLL_INTERVAL,
        on_outcome: Callable[[NumberOutcome], object] | None = None,
    ) -> BulkReport:
        """Link many numbers, ``batch_size`` per request; never raises for a number.

        ``numbers`` (any iterable or async iterable) is read lazily. Invalid numbers are
        reported and never sent; duplicates are sent and reported once. A batch rejected
        with a 4xx is split so the good numbers still get linked. 401/403 and a server that
        keeps failing stop the job; the rest is reported as not attempted. With
        ``wait=True`` the accepted numbers are polled until final (see
        :meth:`wait_for_numbers`). ``on_outcome`` is called with each outcome as it
        completes (for progress bars).
        """
        if wait:
            _bulk._check_wait(wait_timeout, poll_interval)
        run = self.iter_link(
            campaign_id,
            numbers,
            batch_size=batch_size,
            url=url,
            method=method,
            on_outcome=on_outcome,
        )
        return await _bulk.finish(run, wait=wait, timeout=wait_timeout, poll_interval=poll_interval)

    async def unlink_many(
        self,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        url: str | None = None,
        method: str | None = None,
        wait: bool = False,
        wait_timeout: float = _bulk.DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = _bulk.DEFAULT_POLL_INTERVAL,
        on_outcome: Callable[[NumberOutcome], object] | None = None,
    ) -> BulkReport:
        """Unlink many numbers, one request each; never raises for a number.

        "Not linked to this campaign" counts as ok (``ALREADY``). With ``wait=True`` the
        accepted numbers are polled until they are gone from the campaign.
        """
        if wait:
            _bulk._check_wait(wait_timeout, poll_interval)
        run = self.iter_unlink(campaign_id, numbers, url=url, method=method, on_outcome=on_outcome)
        return await _bulk.finish(run, wait=wait, timeout=wait_timeout, poll_interval=poll_interval)

    async def wait_for_numbers(
        self,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        timeout: float = _bulk.DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = _bulk.DEFAULT_POLL_INTERVAL,
        unlinked: bool = False,
    ) -> BulkReport:
        """Poll until each number is final or ``timeout`` seconds pass.

        Ok where the number reached COMPLETED (``COMPLETED``); not ok where FAILED
        (``REMOTE_FAILED``) or still processing or not listed at the deadline
        (``PENDING``). With ``unlinked=True``, done means gone from the campaign. Each round
        costs the cheaper of one GET per pending number and the list endpoint's pages.
        """
        self._check_open()
        return await _bulk.wait_for_numbers(
            self,
            campaign_id,
            numbers,
            timeout=timeout,
            poll_interval=poll_interval,
            unlinked=unlinked,
        )

    async def wait_for_report(
        self,
        report: BulkReport,
        *,
        timeout: float = _bulk.DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = _bulk.DEFAULT_POLL_INTERVAL,
    ) -> BulkReport:
        """Wait for what a link, unlink or sync ``report`` changed to be final.

        The numbers the report shows as accepted (or already requested but not final) are
        polled as :meth:`wait_for_numbers` does, and their statuses folded in: outcomes of
        action ``unlink`` are done when gone from the campaign, the others when COMPLETED
        (ok) or FAILED (not ok). A report with a ``stopped_reason`` is returned as it is.
        """
        self._check_open()
        return await _bulk.wait_for_report(
            self, report, timeout=timeout, poll_interval=poll_interval
        )

    async def get_numbers(
        self, campaign_id: str, numbers: Iterable[str] | AsyncIterable[str]
    ) -> BulkReport:
        """Read many numbers' statuses; a report of action ``status``.

        At most ``concurrency`` reads run at a time and the input is read lazily; a repeated
        number is read once and an invalid one reported ``INVALID``. Per number: COMPLETED
        is ``COMPLETED`` (ok); FAILED is ``REMOTE_FAILED`` (not ok); PROCESSING or a status
        this library does not know is ``PENDING`` but ok (linked as far as the status
        goes); not linked (404) is ``REJECTED``; other failures are ``ERROR``. 401/403 and
        an unknown campaign raise at once (:class:`CampaignNotFoundError`).
        """
        self._check_open()
        return await _bulk.get_numbers(self, campaign_id, numbers)

    async def sync(
        self,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        unlink_extra: bool = False,
        batch_size: int = _bulk.DEFAULT_BATCH_SIZE,
        url: str | None = None,
        method: str | None = None,
        wait: bool = False,
        wait_timeout: float = _bulk.DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = _bulk.DEFAULT_POLL_INTERVAL,
    ) -> BulkReport:
        """Make ``campaign_id`` hold exactly ``numbers``.

        Reads the campaign once; links what is missing or FAILED; leaves COMPLETED and
        PROCESSING numbers alone (``ALREADY``); with ``unlink_extra=True`` unlinks numbers
        that are not desired (their outcomes follow the desired ones, action ``unlink``).
        A second run right after a completed one sends nothing but the read.
        """
        self._check_open()
        return await _bulk.sync(
            self,
            campaign_id,
            numbers,
            unlink_extra=unlink_extra,
            batch_size=batch_size,
            url=url,
            method=method,
            wait=wait,
            wait_timeout=wait_timeout,
            poll_interval=poll_interval,
        )


def _ack(answer: Answer) -> LinkAck:
    # Any 2xx is an acceptance (the old docs give 202 for unlink; a 204 is possible too):
    # an empty body only means there is no api_id to report. Other bodies must be JSON.
    if not answer.text.strip():
        return LinkAck()
    return _sansio.parse_success(answer.status, answer.text, LinkAck)


async def _call_attempt(method: str, template: str, attempt: Callable[[], Awaitable[T]]) -> T:
    # A named function whose first arguments are method and template, so the retry hook
    # can log them from ``state.args`` without seeing bodies.
    return await attempt()


def _short_reason(exc: BaseException | None) -> str:
    if exc is None:
        return "no error"
    if isinstance(exc, APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message[:200]}"
    cause = exc.__cause__
    if cause is not None:
        return f"{type(cause).__name__}: {str(cause)[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


async def _read_text(resp: aiohttp.ClientResponse) -> str:
    """Read the whole body as text, refusing bodies over ``MAX_BODY_BYTES``."""
    length = resp.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise _body_too_large(resp.status)
    if length is not None:
        # The usual case (a small JSON answer with its length): one read, no chunk loop.
        raw = await resp.read()
    else:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _body_too_large(resp.status)
            chunks.append(chunk)
        raw = b"".join(chunks)
    try:
        return raw.decode(resp.charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


def _body_too_large(status: int) -> ResponseFormatError:
    return ResponseFormatError(
        f"answer body larger than {MAX_BODY_BYTES} bytes, not read", status_code=status, text=""
    )
