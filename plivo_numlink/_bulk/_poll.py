"""Watching numbers until Plivo's processing is over: callbacks first, polling as the net.

A wait settles a number when its final status is seen: read by a polling round, or given by
its final callback through an :class:`~plivo_numlink.callbacks.EventHub`. A number not in
the campaign settles at once (a link wait's ``not_listed``; an unlink wait's success).

Polling backs off: after a round that settled nothing, the next pause doubles from
``poll_interval`` up to ``max_poll_interval``; a round that settled something brings it back
to ``poll_interval``. With events, polling is the safety net: the first round is made at
once (it finds what is already final or not listed), then a round comes only after
``max_poll_interval`` seconds without a callback that settled a number: while events
arrive, polling waits. Each round costs the cheaper of one GET per pending number and the
list endpoint's pages. Every request made counts on the caller's
:class:`~.._transport.AttemptCounter`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from .. import _endpoints
from .._config import WaitPolicy
from .._errors import (
    APIStatusError,
    AuthenticationError,
    CampaignNotFoundError,
    CertificateVerificationError,
    ForbiddenError,
    NotFoundError,
    ProxyAuthenticationError,
    ResponseFormatError,
    TransportError,
)
from .._models import LinkStatus
from .._protocol import classify, is_already_in_state, is_campaign_missing
from .._storage import StorageError
from .._transport import AttemptCounter, Requester
from ..callbacks._events import CallbackEvent, CallbackKind, CallbackStatus
from ..callbacks._hub import EventHub, EventWatch
from ._unlinks import unlink_book

__all__ = ["Settled", "State", "poll_statuses"]

T = TypeVar("T")

#: Numbers per list page, as asked for by the session.
_PAGE = 20

#: number -> (last status seen or ``None`` when not listed, error text or None).
State = dict[str, tuple[LinkStatus | None, str | None]]
#: Told each number as the wait settles it (and, at the end, each one still pending).
Settled = Callable[[str, tuple[LinkStatus | None, str | None]], None]

#: The least time a polling round is given, even past the deadline (``timeout=0`` still
#: reads the statuses once), so a call returns within about this long after its deadline.
_ROUND_FLOOR = 1.0


async def poll_statuses(
    requester: Requester,
    campaign_id: str,
    numbers: Sequence[str],
    *,
    unlinked: bool,
    wait: WaitPolicy,
    counter: AttemptCounter,
    strict: bool = True,
    since: float | None = None,
    on_settled: Settled | None = None,
) -> State:
    """Watch until each number is final (or gone, for unlink) or the wait's deadline passes.

    Returns the :data:`State` of every number. ``wait.timeout`` is a deadline for the whole
    call, requests in flight included. With ``strict``, 401, 403, an unknown campaign
    (:class:`CampaignNotFoundError` naming it), a failed certificate check and a proxy
    refusing the credentials raise;
    without, they end the wait as a failure noted on each pending number (a bulk call's own
    wait keeps the report it is folded into). ``since`` (wall-clock seconds): callbacks kept
    from before it do not count (a bulk call passes its start, so an earlier round's
    callback is not taken).
    """
    waiter = _Waiter(requester, campaign_id, numbers, unlinked, wait, counter, strict)
    waiter.on_settled = on_settled
    hub: EventHub | None = wait.events
    watch: EventWatch | contextlib.nullcontext[None] = contextlib.nullcontext()
    if hub is not None and not hub.closed and numbers:
        kind = CallbackKind.UNLINKING if unlinked else CallbackKind.LINKING
        watch = hub.watch(
            account=requester.config.auth_id, campaign_id=campaign_id, kind=kind, since=since
        )
    try:
        async with watch as opened:
            waiter.watch = opened
            await waiter.run()
    except StorageError:
        if not isinstance(watch, EventWatch):
            raise  # no hub: the session's own shared storage failed
        # The hub's Redis failed (or the session's storage did: polling then raises it
        # again). What was seen stands, and polling goes on alone.
        waiter.watch = None
        if not waiter.over:
            await waiter.run()
    waiter.finish()
    return waiter.state


class _Waiter:
    def __init__(
        self,
        requester: Requester,
        campaign_id: str,
        numbers: Sequence[str],
        unlinked: bool,
        wait: WaitPolicy,
        counter: AttemptCounter,
        strict: bool,
    ) -> None:
        self.requester = requester
        self.campaign_id = campaign_id
        self.unlinked = unlinked
        self.wait = wait
        self.counter = counter
        self.strict = strict
        self.deadline = requester.clock() + wait.timeout
        self.pending: dict[str, None] = dict.fromkeys(numbers)
        self.state: State = dict.fromkeys(numbers, (None, None))
        self.watch: EventWatch | None = None
        self.book = unlink_book(requester)
        self.on_settled: Settled | None = None
        self.rounds = 0
        self.interval = wait.poll_interval
        self.next_round = requester.clock()
        self.over = False
        self.campaign_size: int | None = None

    # -- settling -------------------------------------------------------------------------

    def _settle(self, number: str, status: LinkStatus | None, error: str | None = None) -> None:
        if number not in self.pending:
            return
        del self.pending[number]
        self.state[number] = (status, error)
        if status is None and error is None:
            self.book.done(self.campaign_id, number)  # seen gone: an unlink of it is over
        if self.on_settled is not None:
            self.on_settled(number, self.state[number])

    def _apply_events(self, events: list[CallbackEvent]) -> bool:
        before = len(self.pending)
        for event in events:
            number = event.number
            if number is None or number not in self.pending:
                continue
            failed = event.status is CallbackStatus.FAILED
            if not self.unlinked:
                self._settle(number, LinkStatus.FAILED if failed else LinkStatus.COMPLETED)
            elif failed:
                reason = f": {event.reason}" if event.reason else ""
                self._settle(
                    number, self.state[number][0], f"Plivo reports the unlink failed{reason}"
                )
            else:
                self._settle(number, None)
        progressed = len(self.pending) < before
        if progressed:
            self._progress()
        return progressed

    def _progress(self) -> None:
        if self.wait.on_progress is not None:
            self.wait.on_progress(len(self.state) - len(self.pending), len(self.pending))

    def finish(self) -> None:
        """Tell the numbers still pending (the deadline passed, or the wait stopped)."""
        for number in list(self.pending):
            del self.pending[number]
            if self.on_settled is not None:
                self.on_settled(number, self.state[number])

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        clock = self.requester.clock
        if self.watch is not None and self.pending:
            self._apply_events(await self.watch.lookup(list(self.pending)))
        while self.pending and not self.over:
            if clock() >= self.next_round:
                progressed = await self._round()
                if self.over or not self.pending or clock() >= self.deadline:
                    break
                if self.watch is not None:
                    pause = self.wait.max_poll_interval
                else:
                    if progressed:
                        self.interval = self.wait.poll_interval
                    pause = self.interval
                    self.interval = min(self.interval * 2, self.wait.max_poll_interval)
                self.next_round = min(clock() + pause, self.deadline)
            if self.watch is not None and self._apply_events(self.watch.take()):
                # Callbacks are coming: the safety net waits.
                quiet = min(clock() + self.wait.max_poll_interval, self.deadline)
                self.next_round = max(self.next_round, quiet)
                if not self.pending:
                    break
            await self._pause(self.next_round - clock())

    async def _pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.watch is None:
            await self.requester.sleep(seconds)
            return
        sleeper = asyncio.ensure_future(self.requester.sleep(seconds))
        arrival = asyncio.ensure_future(self.watch.arrived())
        try:
            await asyncio.wait({sleeper, arrival}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, arrival):
                task.cancel()
            await asyncio.gather(sleeper, arrival, return_exceptions=True)

    async def _round(self) -> bool:
        """One polling round; True when it settled a number. Sets ``over`` to stop."""
        requester, campaign_id, pending, state = (
            self.requester,
            self.campaign_id,
            self.pending,
            self.state,
        )
        clock, counter, strict = requester.clock, self.counter, self.strict
        use_list = len(pending) > 2 and (
            self.campaign_size is None or len(pending) > self.campaign_size // _PAGE + 1
        )
        seen: dict[str, LinkStatus | None]
        try:
            if use_list:
                listing = await _within(
                    _endpoints.list_numbers(requester, campaign_id, counter=counter),
                    self.deadline - clock(),
                )
                self.campaign_size = len(listing.phone_numbers)
                listed = {entry.number: entry.status for entry in listing.phone_numbers}
                seen = {n: listed.get(n) for n in pending}
            else:
                seen = await _within(
                    _get_each(requester, campaign_id, list(pending), counter, strict=strict),
                    self.deadline - clock(),
                )
        except asyncio.TimeoutError:
            # The deadline passed with this round's requests in flight (they are cancelled).
            # An earlier round's reading stands; without one, say why there is none.
            if not self.rounds:
                for n in pending:
                    state[n] = (None, "polling failed: no answer before the wait's deadline")
            self.over = True
            return False
        except APIStatusError as exc:
            if strict and isinstance(exc, AuthenticationError | ForbiddenError):
                raise  # nothing sent with these credentials can succeed: polling is pointless
            if strict and (
                (use_list and isinstance(exc, NotFoundError)) or is_campaign_missing(exc)
            ):
                raise _campaign_missing(campaign_id, exc) from exc
            # Until a later round reads them, the pending numbers carry this failure: an
            # unlink wait must not take "never seen" for "gone".
            for n in pending:
                state[n] = (state[n][0], f"polling failed: HTTP {exc.status_code}: {exc.message}")
            # 5xx and 429 that outlasted their retries: the next round may do better.
            self.over = not classify("wait", exc).transient
            self.rounds += 1
            return False
        except (CertificateVerificationError, ProxyAuthenticationError) as exc:
            if strict:
                raise  # every later round would meet the same certificate, or proxy
            for n in pending:
                state[n] = (state[n][0], f"polling failed: {exc}")
            self.over = True
            self.rounds += 1
            return False
        except (TransportError, ResponseFormatError) as exc:
            for n in pending:
                state[n] = (state[n][0], f"polling failed: {exc}")
            # A malformed answer is not a transient fault (the session does not retry it).
            self.over = isinstance(exc, ResponseFormatError)
            self.rounds += 1
            return False
        self.rounds += 1
        before = len(pending)
        for number, status in seen.items():
            if number not in pending:
                continue  # settled by a callback while this round was in flight
            if status is None or (not self.unlinked and status.is_final):
                # Gone (an unlink's success), final, or not listed: a link wait for a number
                # not in the campaign ends at once, as not_listed.
                self._settle(number, status)
            else:
                state[number] = (status, None)
        self._progress()
        return len(pending) < before


async def _within(awaitable: Awaitable[T], remaining: float) -> T:
    """``awaitable``, cancelled (``asyncio.TimeoutError``) once the wait's deadline passed."""
    return await asyncio.wait_for(awaitable, max(remaining, _ROUND_FLOOR))


def _campaign_missing(campaign_id: str, exc: APIStatusError) -> CampaignNotFoundError:
    """The error for a wait on a campaign the server does not know, naming it."""
    message = (
        exc.message if campaign_id in exc.message else f"campaign {campaign_id}: {exc.message}"
    )
    return CampaignNotFoundError(
        message,
        status_code=exc.status_code,
        api_id=exc.api_id,
        body=exc.body,
        text=exc.text,
        method=exc.method,
        path=exc.path,
    )


async def _get_each(
    requester: Requester,
    campaign_id: str,
    numbers: list[str],
    counter: AttemptCounter,
    *,
    strict: bool,
) -> dict[str, LinkStatus | None]:
    async def one(number: str) -> tuple[str, LinkStatus | None]:
        try:
            entry = await _endpoints.get_number(requester, campaign_id, number, counter=counter)
        except NotFoundError as exc:
            if strict and is_campaign_missing(exc):
                raise
            return number, None
        except APIStatusError as exc:
            # Some servers answer "not linked to this campaign" with a 400.
            if is_already_in_state("unlink", exc):
                return number, None
            raise
        return number, entry.status

    # Every GET is awaited to its end, so a failing one leaves no orphan behind.
    results: list[Any] = await asyncio.gather(*(one(n) for n in numbers), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return dict(results)
