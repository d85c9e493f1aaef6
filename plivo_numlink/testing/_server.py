"""FakePlivo, the public face of the fake: its options, its lifecycle on a socket, and the
helpers tests call. The work is done by its parts: the campaigns' state machine
(:mod:`._state`), the faults (:mod:`._faults`), the HTTP handler (:mod:`._http`) and the
callback sender (:mod:`._callbacks`).
"""

from __future__ import annotations

import asyncio
import random
import ssl as _ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar, overload

from aiohttp import web

from ._callbacks import CallbackSender, SentCallback
from ._faults import Faults
from ._http import ApiHandler, RecordedRequest
from ._state import Campaign, CampaignBook

#: A main-account id of the real shape: ``MA`` and 18 more characters, 20 in all.
DEFAULT_AUTH_ID = "MAFAKEPLIVO000000000"
#: A token of the real shape (40 letters and digits). It guards nothing: it is public.
DEFAULT_AUTH_TOKEN = "FakePlivoAuthToken0123456789abcdefABCDEF"

_SHUTDOWN_TIMEOUT = 1.0

T = TypeVar("T")


class _Forward(Generic[T]):
    """An attribute of FakePlivo kept by one of its parts: reading and setting reach it.

    The options stay plain attributes of the fake, as they always were (a test may change
    ``fake.error_rates`` half-way), while each part owns the options it acts on.
    """

    def __init__(self, part: str, name: str | None = None) -> None:
        self._part = part
        self._name = name or ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = self._name or name

    @overload
    def __get__(self, obj: None, owner: type) -> _Forward[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> T | _Forward[T]:
        if obj is None:
            return self
        value: T = getattr(getattr(obj, self._part), self._name)
        return value

    def __set__(self, obj: object, value: T) -> None:
        setattr(getattr(obj, self._part), self._name, value)


class FakePlivo:
    """Plivo's Number Linking API, faked on ``host:port`` with its state in memory.

    Use it as ``async with FakePlivo(...) as fake:`` or with :meth:`start` / :meth:`stop`
    (it can be stopped and started again; it keeps its port and its state).

    Options (all keyword-only):

    - ``auth_id``, ``auth_token``: the credentials it accepts.
    - ``host``, ``port``: where it listens (port 0 = a free port, chosen on first start).
    - ``ssl``: a server :class:`ssl.SSLContext` (its certificate and key loaded): serve
      HTTPS, and :attr:`base_url` starts with ``https://``. To test a client's TLS set-up
      against a private CA (the ``trustme`` package makes one).
    - ``seed``: seed of the one ``random.Random`` behind every random choice.
    - ``campaigns``: ids of the campaigns that exist from the start.
    - ``prelink``: numbers linked (``COMPLETED``) from the start, for tests and benchmarks
      that unlink or list: a count ``N`` gives each campaign of ``campaigns`` N generated
      numbers (``12122000000``, ``12122000001``... running on from one campaign to the
      next), or a mapping ``{campaign_id: numbers}`` names them (any usual spelling; a
      campaign it names is created if needed).
    - ``latency``: seconds to wait before handling each request; a ``(low, high)`` pair
      draws it uniformly from that range.
    - ``complete_after``, ``complete_after_polls``: when a pending link/unlink is done (see
      the package docstring). ``complete_after_polls=0`` makes it done as soon as
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

    # The state machine's options and state.
    campaigns: _Forward[dict[str, Campaign]] = _Forward("_book")
    complete_after: _Forward[float] = _Forward("_book")
    complete_after_polls: _Forward[int] = _Forward("_book")
    fail_numbers: _Forward[frozenset[str]] = _Forward("_book")
    invalid_numbers: _Forward[frozenset[str]] = _Forward("_book")
    send_callbacks: _Forward[bool] = _Forward("_book")
    # The faults.
    latency: _Forward[float | tuple[float, float]] = _Forward("_faults")
    rate_limit: _Forward[int | None] = _Forward("_faults")
    rate_window: _Forward[float] = _Forward("_faults")
    retry_after: _Forward[float | str | None] = _Forward("_faults")
    max_concurrent: _Forward[int | None] = _Forward("_faults")
    error_rates: _Forward[dict[int, float]] = _Forward("_faults")
    drop_rate: _Forward[float] = _Forward("_faults")
    drop_response_rate: _Forward[float] = _Forward("_faults")
    #: When True, every request's connection is closed with no answer.
    down: _Forward[bool] = _Forward("_faults")
    # The HTTP side and its request log.
    auth_id: _Forward[str] = _Forward("_handler")
    max_numbers_per_request: _Forward[int | None] = _Forward("_handler")
    page_cap: _Forward[int] = _Forward("_handler")
    ignore_paging: _Forward[bool] = _Forward("_handler")
    record_requests: _Forward[bool] = _Forward("_handler")
    requests: _Forward[list[RecordedRequest]] = _Forward("_handler")
    #: How many requests were answered with each status (None: connection closed).
    count_by_status: _Forward[Counter[int | None]] = _Forward("_handler")
    in_flight: _Forward[int] = _Forward("_handler")
    max_concurrency: _Forward[int] = _Forward("_handler")
    # The callbacks.
    callbacks_sent: _Forward[list[SentCallback]] = _Forward("_callbacks", "sent")

    def __init__(
        self,
        *,
        auth_id: str = DEFAULT_AUTH_ID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        campaigns: Iterable[str] = ("CUOGHIN",),
        prelink: int | Mapping[str, Iterable[str]] = 0,
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
        ssl: _ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl
        self.seed = seed
        # A second stream for ids and nonces, so that how many of them were drawn does not
        # change which requests the fault rates hit.
        ids = random.Random(f"plivo-numlink-fake:{seed}")
        self._faults = Faults(
            seed=seed,
            clock=clock,
            latency=latency,
            rate_limit=rate_limit,
            rate_window=rate_window,
            retry_after=retry_after,
            max_concurrent=max_concurrent,
            error_rates=error_rates,
            drop_rate=drop_rate,
            drop_response_rate=drop_response_rate,
        )
        self._callbacks = CallbackSender(auth_token, ids)
        self._book = CampaignBook(
            clock=clock,
            complete_after=complete_after,
            complete_after_polls=complete_after_polls,
            fail_numbers=fail_numbers,
            invalid_numbers=invalid_numbers,
            send_callbacks=send_callbacks,
            start_callback=self._callbacks.start,
        )
        self._handler = ApiHandler(
            auth_id=auth_id,
            auth_token=auth_token,
            book=self._book,
            faults=self._faults,
            ids=ids,
            max_numbers_per_request=max_numbers_per_request,
            page_cap=page_cap,
            ignore_paging=ignore_paging,
            record_requests=record_requests,
        )
        for campaign_id in campaigns:
            self._book.add_campaign(campaign_id)
        self._book.prelink(prelink)
        self._runner: web.ServerRunner | None = None

    # ----------------------------------------------------------- options kept by two parts

    @property
    def auth_token(self) -> str:
        return self._handler.auth_token

    @auth_token.setter
    def auth_token(self, value: str) -> None:
        # Requests are checked and callbacks signed with the same token.
        self._handler.auth_token = self._callbacks.auth_token = value

    @property
    def clock(self) -> Callable[[], float]:
        return self._book.clock

    @clock.setter
    def clock(self, value: Callable[[], float]) -> None:
        self._book.clock = self._faults.clock = value

    # ---------------------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """The origin to give a client: ``http://127.0.0.1:PORT`` (no path, no slash);
        ``https://`` when serving TLS (``ssl=``)."""
        if self.port == 0:
            raise RuntimeError("FakePlivo has no port yet: start it first")
        scheme = "https" if self.ssl is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> FakePlivo:
        """Listen on ``host:port`` (a free port the first time if ``port`` is 0)."""
        if self._runner is not None:
            raise RuntimeError("FakePlivo is already running")
        server = web.Server(self._handler.handle, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        self._callbacks.running = True
        self._book.start_timers()
        return self

    async def stop(self) -> None:
        """Stop listening and close every connection. Idempotent; the state is kept."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._book.stop_timers()
        # Cancel what is in flight (paused or sleeping requests) rather than waiting for it.
        handlers = list(self._handler.tasks)
        for task in handlers:
            task.cancel()
        tasks: list[asyncio.Task[Any]] = [*handlers, *self._callbacks.cancel()]
        await runner.cleanup()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._callbacks.close()

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
        self,
        campaign_id: str,
        *,
        alias: str | None = None,
        usecase: str = "STARTER",
        numbers: Iterable[str] = (),
    ) -> Campaign:
        """Create (or replace) a campaign and return it; ``numbers`` are linked, COMPLETED.

        A number that is in another campaign is refused with :class:`ValueError`.
        """
        return self._book.add_campaign(campaign_id, alias=alias, usecase=usecase, numbers=numbers)

    def set_status(self, campaign_id: str, number: str, status: str | None) -> None:
        """Put ``number`` in the campaign with ``status`` (any text), or remove it (None).

        Any pending change of the number is dropped.
        """
        self._book.set_status(campaign_id, number, status)

    def numbers(self, campaign_id: str) -> dict[str, str]:
        """The campaign's numbers and statuses, in link order, brought up to date.

        This does not count as a read for ``complete_after_polls``.
        """
        return self._book.numbers(campaign_id)

    def unlinking(self, campaign_id: str) -> list[str]:
        """The numbers whose unlink is still being processed: listed as they were (COMPLETED)
        until it is done, and a link of them is refused as already requested (the cautious
        reading of Plivo's undocumented re-link window; see the module ``_state``)."""
        return self._book.unlinking(campaign_id)

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
        self._faults.enqueue(
            status,
            count,
            retry_after=retry_after,
            body=body,
            content_type=content_type,
            effect=effect,
        )

    def pause(self) -> None:
        """Hold every request that gets past the faults until :meth:`resume`.

        Held requests count as in flight: tests use this to see how many requests a
        client has open at once.
        """
        self._faults.pause()

    def resume(self) -> None:
        """Let held requests (and those to come) go on."""
        self._faults.resume()

    async def flush_callbacks(self) -> None:
        """Wait until every callback started so far has been sent and answered."""
        await self._callbacks.flush()

    def callback_headers(self, method: str, url: str, params: Mapping[str, str]) -> dict[str, str]:
        """The signature headers Plivo would put on a callback (a fresh nonce each time)."""
        return self._callbacks.headers(method, url, params)


async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[FakePlivo], object] | None = None,
    **options: Any,
) -> None:
    """Run a :class:`FakePlivo` in the foreground until the awaiting task is cancelled.

    ``on_ready(fake)`` is called once it listens (to print ``fake.base_url``, say); this
    function prints nothing itself. ``options`` are :class:`FakePlivo`'s (``prelink=N``
    among them).
    """
    fake = FakePlivo(host=host, port=port, **options)
    await fake.start()
    if on_ready is not None:
        on_ready(fake)
    await fake.serve_forever()
