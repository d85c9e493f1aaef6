"""``NumLinkSession``: the async client for the four Number Linking endpoints.

A facade: it owns one :class:`~._transport.Requester` (HTTP, retries, concurrency,
pacing), which ``_opening.py`` makes from its arguments and the environment, sends the
single calls through ``_endpoints.py`` and hands bulk calls to the engine in ``_bulk/``.
"""

from __future__ import annotations

import os
import ssl as _ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp

from . import _bulk, _endpoints
from ._bulk import BulkRun
from ._config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    UNSET,
    check_batch_size,
    wait_policy,
)
from ._models import CampaignNumbers, LinkAck, NumberStatus
from ._numbers import normalize_number, validate_callback, validate_campaign_id
from ._opening import DEFAULT_RATE as _MISSING
from ._opening import enter, open_requester
from ._report import BulkReport, NumberOutcome
from ._retry import DEFAULT_RETRY, RetryPolicy, RetryQuota
from ._telemetry import SessionStats, traced

if TYPE_CHECKING:
    from .callbacks import EventHub

__all__ = ["NumLinkSession"]

Sleep = Callable[[float], Awaitable[None]]
OnOutcome = Callable[[NumberOutcome], object]


class NumLinkSession:
    """An async client for Plivo's 10DLC Number Linking API.

    Use it as an async context manager (or call :meth:`close`)::

        async with NumLinkSession() as session:   # credentials from PLIVO_AUTH_ID/TOKEN
            ack = await session.link("CUOGHIN", ["+1 212-555-7777"])

    One session is meant to be shared by all the tasks of a program: its concurrency limit
    and rate limiter are what keep the whole program under Plivo's account limits.

    ``base_url`` defaults to the environment variable ``PLIVO_NUMLINK_BASE_URL``, else
    ``https://api.plivo.com``. ``sleep`` and ``clock`` replace ``asyncio.sleep`` and
    ``time.monotonic`` for the session's waits (backoff, pacing, polling): tests and
    simulations pass fakes so that no real time passes.

    ``rate_limit_storage`` makes ``rate_limit`` the account's budget, shared with every
    session of the same ``auth_id`` naming the same storage, in any process:
    ``"redis://[:password@]host:port/db"`` or ``"rediss://..."`` (TLS; the
    ``plivo-numlink[redis]`` extra). ``None`` reads the environment variable
    ``PLIVO_NUMLINK_RATE_LIMIT_STORAGE``; unset, empty or ``"memory://"`` paces in-process.
    An unknown scheme raises :class:`ConfigurationError`, and so does a shared storage with
    ``rate_limit=None`` (a shared budget needs a rate). Shared pacing fails closed: when
    the storage cannot be reached within ``timeout``, a request raises
    :class:`~plivo_numlink.StorageError` instead of being sent unpaced, and a bulk job
    stops with the numbers not sent reported as not attempted. The storage's connections
    are closed with the session. A shared budget is spaced 3% under ``rate_limit``
    (``current_rate`` shows it): starts from several processes reach the server with
    independent delays, and the margin keeps them from tipping a per-second limit.

    ``proxy="http://[user:pass@]host:port"`` sends every request through that proxy; else,
    with ``trust_env``, the one ``HTTPS_PROXY``/``HTTP_PROXY`` name unless ``NO_PROXY``
    exempts ``base_url`` (read here, once). ``ssl``: an :class:`ssl.SSLContext` (own CA,
    client certificate). Both apply to a borrowed ``http_session`` too, passed with each
    request. A certificate failing verification is not retried (``docs/network.md``).

    ``tracer_provider`` and ``meter_provider`` (OpenTelemetry, the ``plivo-numlink[otel]``
    extra; ``None``: the global ones) record a span per call and per HTTP attempt, and the
    metrics listed in docs/observability.md. :meth:`stats` gives a snapshot of the traffic.
    """

    def __init__(
        self,
        auth_id: str | None = None,
        auth_token: str | None = None,
        *,
        base_url: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate_limit: float | None = _MISSING,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = DEFAULT_TIMEOUT,
        http_session: aiohttp.ClientSession | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
        rate_limit_storage: str | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        ssl: _ssl.SSLContext | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> None:
        self._providers = (tracer_provider, meter_provider)
        self._requester = open_requester(
            auth_id,
            auth_token,
            base_url=base_url,
            concurrency=concurrency,
            rate_limit=rate_limit,
            retry=retry,
            timeout=timeout,
            http_session=http_session,
            sleep=sleep,
            clock=clock,
            rate_limit_storage=rate_limit_storage,
            proxy=proxy,
            trust_env=trust_env,
            ssl=ssl,
            providers=self._providers,
        )
        self._config = self._requester.config

    # -- lifecycle -------------------------------------------------------------------------

    def __repr__(self) -> str:
        config = self._config
        state = "closed" if self.closed else "open"
        storage = self.rate_limit_storage
        shared = f" rate_limit_storage={storage!r}" if storage is not None else ""
        proxy = f" proxy={self.proxy!r}" if self.proxy is not None else ""
        return (
            f"<NumLinkSession auth_id={config.auth_id!r} base_url={config.base_url!r} "
            f"concurrency={config.concurrency} rate_limit={config.rate_limit!r}{shared}{proxy} "
            f"{state}>"
        )

    @property
    def auth_id(self) -> str:
        return self._config.auth_id

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def concurrency(self) -> int:
        return self._config.concurrency

    @property
    def rate_limit(self) -> float | None:
        """The configured rate (requests started per second), or ``None``."""
        return self._config.rate_limit

    @property
    def rate_limit_storage(self) -> str | None:
        """The shared storage's URI with its password masked, or ``None`` (in-process)."""
        storage = self._requester.storage
        return storage.config.url if storage is not None else None

    @property
    def proxy(self) -> str | None:
        """The proxy requests go through (given or from the environment), without its
        credentials; ``None`` for direct connections."""
        return self._requester.network.proxy

    @property
    def current_rate(self) -> float | None:
        """The rate the limiter allows now (lower than ``rate_limit`` after 429s)."""
        limiter = self._requester.limiter
        return limiter.rate if limiter is not None else None

    @property
    def retry(self) -> RetryPolicy:
        return self._config.retry

    @property
    def retry_quota(self) -> RetryQuota:
        """Retries shared by every request of the session (see ``RetryQuota``)."""
        return self._requester.retry_quota

    @property
    def requests_sent(self) -> int:
        """HTTP attempts this session has sent (every retry counts)."""
        return self._requester.sent.count

    @property
    def closed(self) -> bool:
        return self._requester.closed

    def stats(self) -> SessionStats:
        """A snapshot of the session's traffic: requests, retries, 429s, errors, pace."""
        return self._requester.stats()

    async def __aenter__(self) -> NumLinkSession:
        enter(self._requester, self._providers)
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
        await self._requester.close()

    # -- the four endpoints ------------------------------------------------------------------

    def request_path(self, campaign_id: str, number: str | None = None) -> str:
        """The path a request for ``campaign_id`` (and ``number``) goes to.

        Both are validated (``ValueError``, ``InvalidNumberError``); nothing is sent.
        """
        if number is None:
            return _endpoints.campaign_path(self._requester, campaign_id)
        return _endpoints.number_path(self._requester, campaign_id, number)

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
        call = _endpoints.link(self._requester, campaign_id, numbers, url=url, method=method)
        return await traced(self._requester.telemetry, "link", campaign_id, call)

    async def unlink(
        self,
        campaign_id: str,
        number: str,
        *,
        url: str | None = None,
        method: str | None = None,
    ) -> LinkAck:
        """Unlink one number from ``campaign_id``."""
        call = _endpoints.unlink(self._requester, campaign_id, number, url=url, method=method)
        ack = await traced(self._requester.telemetry, "unlink", campaign_id, call)
        _bulk.unlink_sent(self._requester, campaign_id, normalize_number(number))
        return ack

    async def get_number(self, campaign_id: str, number: str) -> NumberStatus:
        """The status of one number in ``campaign_id`` (:class:`NotFoundError` if absent)."""
        call = _endpoints.get_number(self._requester, campaign_id, number)
        return await traced(self._requester.telemetry, "get_number", campaign_id, call)

    async def list_numbers(
        self,
        campaign_id: str,
        *,
        max_pages: int = _endpoints.MAX_LIST_PAGES,
        max_time: float | None = None,
    ) -> CampaignNumbers:
        """Every number linked to ``campaign_id``, all pages gathered.

        A server that keeps sending new pages is given up on after ``max_pages`` pages
        (default 5,000: 100,000 numbers) or, when given, ``max_time`` seconds: that raises
        :class:`ResponseFormatError`.
        """
        call = _endpoints.list_numbers(
            self._requester, campaign_id, max_pages=max_pages, max_time=max_time
        )
        return await traced(self._requester.telemetry, "list_numbers", campaign_id, call)

    def iter_pages(
        self,
        campaign_id: str,
        *,
        page_size: int = _endpoints.LIST_PAGE_SIZE,
        max_pages: int = _endpoints.MAX_LIST_PAGES,
        max_time: float | None = None,
    ) -> AsyncIterator[CampaignNumbers]:
        """Yield the list endpoint's pages one by one (``limit``/``offset`` paging).

        Stops on an empty page, a page shorter than an earlier one, or a page that adds no
        number not seen before, so a server that caps pages below ``page_size`` is paged
        through and one that ignores paging does not cause a loop. ``max_pages`` and
        ``max_time`` bound it as for :meth:`list_numbers`.
        """
        return _endpoints.iter_pages(
            self._requester,
            campaign_id,
            page_size=page_size,
            max_pages=max_pages,
            max_time=max_time,
        )

    # -- bulk operations (the engine is in _bulk/) ------------------------------------------

    def iter_link(
        self,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        url: str | None = None,
        method: str | None = None,
        on_outcome: Callable[[NumberOutcome], object] | None = None,
        keep_report: bool = True,
        dedupe: bool = True,
        journal: str | os.PathLike[str] | None = None,
    ) -> BulkRun:
        """A bulk link job: ``async for outcome in session.iter_link(...)``.

        Outcomes come as they complete; ``run.report()`` gives them in input order, also
        after an interruption. See :meth:`link_many` for the behaviour.

        For endless streams, ``keep_report=False`` keeps no outcome once yielded (no
        ``report()``), and ``dedupe=False`` stops remembering numbers to send each once (for
        inputs known to hold no repeats): with both off, memory does not grow with the input.
        """
        self._requester.check_open()
        return BulkRun(
            self._requester,
            "link",
            campaign_id,
            numbers,
            batch_size=batch_size,
            url=url,
            method=method,
            on_outcome=on_outcome,
            keep_report=keep_report,
            dedupe=dedupe,
            owner=self,
            journal=journal,
            span="link_many",
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
        journal: str | os.PathLike[str] | None = None,
    ) -> BulkRun:
        """A bulk unlink job: ``async for outcome in session.iter_unlink(...)``.

        ``keep_report`` and ``dedupe`` as for :meth:`iter_link`.
        """
        self._requester.check_open()
        return BulkRun(
            self._requester,
            "unlink",
            campaign_id,
            numbers,
            url=url,
            method=method,
            on_outcome=on_outcome,
            keep_report=keep_report,
            dedupe=dedupe,
            owner=self,
            journal=journal,
            span="unlink_many",
        )

    async def link_many(
        self,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        url: str | None = None,
        method: str | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        events: EventHub | None = None,
        on_outcome: OnOutcome | None = None,
        journal: str | os.PathLike[str] | None = None,
        wait_timeout: Any = UNSET,
    ) -> BulkReport:
        """Link many numbers, ``batch_size`` per request; never raises for a number.

        ``numbers`` (any iterable or async iterable) is read lazily. Invalid numbers are
        reported and never sent; duplicates are sent and reported once (and listed in
        ``duplicate_entries``). A batch rejected
        with a 4xx is split so the good numbers still get linked. 401/403 and a server that
        keeps failing stop the job; the rest is reported as not attempted. With
        ``wait=True`` the accepted numbers are polled until final (see
        :meth:`wait_for_numbers`; ``timeout``, ``poll_interval``, ``max_poll_interval`` and
        ``events`` as there). ``on_outcome`` is called with each outcome as it completes
        (for progress bars), and with ``wait=True`` again for each waited number as the
        wait settles it. A number whose unlink this session sent and Plivo has not yet
        finished is linked again once the unlink is done (``wait=True``), else reported not
        ok: "already linked" would not last. ``wait_timeout`` is the deprecated spelling of
        ``timeout``.

        ``journal`` (a path to an SQLite file, made if missing) makes the job resumable:
        each settled outcome is committed within half a second, and a later run with the
        same journal sends nothing for entries it holds a final outcome for, reporting them
        from it (``BulkReport.resumed`` counts them). A journal belongs to one account,
        campaign and operation: another raises ``ValueError`` before anything is sent.
        """
        policy = wait_policy(
            timeout, poll_interval, max_poll_interval, events, on_outcome, wait_timeout=wait_timeout
        )
        run = self.iter_link(
            campaign_id,
            numbers,
            batch_size=batch_size,
            url=url,
            method=method,
            on_outcome=on_outcome,
            journal=journal,
        )
        return await _bulk.traced_finish(self._requester.telemetry, run, policy if wait else None)

    async def unlink_many(
        self,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        url: str | None = None,
        method: str | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        events: EventHub | None = None,
        on_outcome: OnOutcome | None = None,
        journal: str | os.PathLike[str] | None = None,
        wait_timeout: Any = UNSET,
    ) -> BulkReport:
        """Unlink many numbers, one request each; never raises for a number.

        "Not linked to this campaign" counts as ok (``ALREADY``). With ``wait=True`` the
        accepted numbers are waited for until they are gone from the campaign. The waiting
        arguments, ``on_outcome`` and ``journal`` as for :meth:`link_many`.
        """
        policy = wait_policy(
            timeout, poll_interval, max_poll_interval, events, on_outcome, wait_timeout=wait_timeout
        )
        run = self.iter_unlink(
            campaign_id, numbers, url=url, method=method, on_outcome=on_outcome, journal=journal
        )
        return await _bulk.traced_finish(self._requester.telemetry, run, policy if wait else None)

    async def wait_for_numbers(
        self,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        unlinked: bool = False,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        events: EventHub | None = None,
        on_outcome: OnOutcome | None = None,
        on_progress: Any = None,
    ) -> BulkReport:
        """Wait until each number is final or ``timeout`` seconds pass.

        Ok where the number reached COMPLETED (``COMPLETED``); not ok where FAILED
        (``REMOTE_FAILED``), still processing at the deadline (``PENDING``) or not in the
        campaign: a number not listed ends its wait at once). With ``unlinked=True``, done
        means gone from the campaign. Each polling round costs the cheaper of one GET per
        pending number and the list endpoint's pages. Polling backs off: after a round that
        settled nothing the next pause doubles, from ``poll_interval`` up to
        ``max_poll_interval``; a round that settled a number brings it back.

        ``events`` (a :class:`~plivo_numlink.callbacks.EventHub` your callback receiver
        publishes to) settles a number when its final callback arrives, also one that came
        before the wait began; polling is then the safety net, made once at the start and
        again only after ``max_poll_interval`` seconds without a callback.
        ``on_outcome(outcome)`` is called for each number as the wait settles it (for
        progress displays); ``on_progress(done, pending)`` is its deprecated predecessor.

        ``timeout`` is a deadline for the whole call, requests in flight included: the call
        returns within about a second of it, also against a server that never answers.
        401, 403 and an unknown campaign raise at once (:class:`AuthenticationError`,
        :class:`ForbiddenError`, :class:`CampaignNotFoundError` naming the campaign).
        """
        self._requester.check_open()
        validate_campaign_id(campaign_id)
        policy = wait_policy(
            timeout, poll_interval, max_poll_interval, events, on_outcome, on_progress=on_progress
        )
        call = _bulk.wait_for_numbers(
            self._requester, campaign_id, numbers, wait=policy, unlinked=unlinked
        )
        return await _bulk.traced(self._requester.telemetry, "wait_for_numbers", campaign_id, call)

    async def wait_for_report(
        self,
        report: BulkReport,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        events: EventHub | None = None,
        on_outcome: OnOutcome | None = None,
        on_progress: Any = None,
    ) -> BulkReport:
        """Wait for what a link, unlink or sync ``report`` changed to be final.

        The numbers the report shows as accepted (or already requested but not final) are
        polled as :meth:`wait_for_numbers` does, and their statuses folded in: outcomes of
        action ``unlink`` are done when gone from the campaign, the others when COMPLETED
        (ok) or FAILED (not ok). A report with a ``stopped_reason`` is returned as it is.
        The waiting arguments, ``on_outcome`` and the fatal answers as for
        :meth:`wait_for_numbers`.
        """
        self._requester.check_open()
        policy = wait_policy(
            timeout, poll_interval, max_poll_interval, events, on_outcome, on_progress=on_progress
        )
        call = _bulk.wait_for_report(self._requester, report, policy)
        return await _bulk.traced(
            self._requester.telemetry, "wait_for_report", report.campaign_id, call
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
        self._requester.check_open()
        call = _bulk.get_numbers(self._requester, campaign_id, numbers)
        return await _bulk.traced(self._requester.telemetry, "get_numbers", campaign_id, call)

    async def sync(
        self,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        unlink_extra: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        url: str | None = None,
        method: str | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        events: EventHub | None = None,
        on_outcome: OnOutcome | None = None,
        wait_timeout: Any = UNSET,
        on_progress: Any = None,
    ) -> BulkReport:
        """Make ``campaign_id`` hold exactly ``numbers``.

        Reads the campaign once; links what is missing or FAILED; leaves COMPLETED and
        PROCESSING numbers alone (``ALREADY``); with ``unlink_extra=True`` unlinks numbers
        that are not desired (their outcomes follow the desired ones, action ``unlink``).
        A second run right after a completed one sends nothing but the read. A desired
        number whose unlink this session sent and Plivo has not finished is linked again
        once the unlink is done (``wait=True``), else reported not ok.
        The waiting arguments (with ``wait=True``) and ``on_outcome`` as for
        :meth:`link_many`; ``wait_timeout`` and ``on_progress`` are deprecated spellings.
        """
        self._requester.check_open()
        validate_campaign_id(campaign_id)
        validate_callback(url, method)
        check_batch_size(batch_size)
        policy = wait_policy(
            *(timeout, poll_interval, max_poll_interval, events, on_outcome),
            wait_timeout=wait_timeout,
            on_progress=on_progress,
        )
        call = _bulk.sync(
            self._requester,
            campaign_id,
            numbers,
            unlink_extra=unlink_extra,
            batch_size=batch_size,
            url=url,
            method=method,
            wait=policy if wait else None,
            on_outcome=on_outcome,
        )
        return await _bulk.traced(self._requester.telemetry, "sync", campaign_id, call)
