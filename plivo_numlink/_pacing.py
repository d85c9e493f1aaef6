"""Pacing: one adaptive rate limiter per session, which finds a server limit it was not told.

Requests start at most ``rate`` per second, spaced evenly (a token bucket holding one
token, so there are no bursts for a per-window server limit to punish). Every request
waits out a ``Retry-After`` the server gave.

Only throttling that is a real share of recent answers (``threshold`` of the last
``window`` answers) slows the session down: an isolated 429 among many successes (a blip
at the server, arrival jitter at exactly its limit) is retried on its own without costing
the whole session its pace.

When throttling is real, the limiter does not guess the server's limit by cutting blindly;
it measures it. A server that limits requests per window accepts, while it is saturated,
exactly its allowance, whatever the client sends; so the rate of accepted (2xx) answers
over the recent past is an estimate of the limit. The limiter:

1. **holds back** (``blocked``): it cuts the pace to ``decrease`` of the rate (lower still
   if many requests are in flight, so that probes go about one at a time) and widens the
   probes' spacing by the same factor on each further 429 of a probe (answers to requests
   already in flight are not counted twice), until one is accepted. Without
   ``Retry-After`` this is what keeps a session that was told too high a rate from sending
   into a server window that will stay full for a while;
2. on the first accepted probe, **resumes just under the accepted rate** measured over the
   last ``span`` seconds (``margin`` of it, never faster than before), remembered as the
   ceiling, and quickly regains the part of the last probe slot that the measurement may
   have missed;
3. **probes upward cautiously**: only after a quiet period (``probe_after`` seconds,
   doubling each time a probe meets the same limit, up to ``probe_after_max``), growing by
   ``probe_growth`` per second (doubling every ``probe_double`` seconds without a 429, so
   a limit that rose is found again in tens of seconds). Any 429 above the ceiling ends
   the probe at once, back under the ceiling, which moves up when the server accepted
   more. 429s at the resumed rate that are more than jitter lower a ceiling measured too
   high (a server window longer than a second admits bursts).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["AdaptiveRateLimiter"]

Sleep = Callable[[float], Awaitable[None]]


class AdaptiveRateLimiter:
    """Spaces request starts to at most ``rate`` per second, adapting to 429 answers."""

    #: Multiplier applied to the pace when throttling starts, and again to the probes' pace
    #: on each 429 of a probe while held back.
    decrease = 0.7
    #: Fraction of the configured rate regained per second after a cut of the shared
    #: (Redis-backed) schedule, which reads it from here; this limiter measures the
    #: server's allowance instead and does not use it.
    recovery = 0.05
    #: How many recent answers the throttle share is measured over.
    window = 100
    #: Share of recent answers that must be 429 for the limiter to slow down.
    threshold = 0.05
    #: Seconds of accepted answers the server's allowance is measured over.
    span = 5.0
    #: Seconds of traffic below which a measurement is only an upper bound.
    min_span = 0.5
    #: The rate is set to this share of the measured allowance (the ceiling).
    margin = 0.99
    #: Seconds without throttling before the rate probes above the ceiling, after a hold;
    #: each probe that meets the limit at the same ceiling doubles it, up to
    #: ``probe_after_max``, so a session at a steady limit rarely knocks on it.
    probe_after = 1.0
    probe_after_max = 30.0
    #: Growth per second of a probe above the ceiling, doubling every ``probe_double``
    #: seconds of growth without a 429.
    probe_growth = 0.03
    probe_double = 5.0
    #: Seconds of accepted answers that a probe meeting the limit measures it over.
    probe_span = 1.0
    #: Growth per second while regaining the part of the last probe slot that the
    #: measurement after a hold did not count (see ``_unblock``).
    fill_growth = 0.1
    #: Answers arriving this long after the limiter held back are never taken for answers
    #: to requests that were in flight before (an answer the limiter never hears of, such
    #: as a 404, would otherwise count as in flight forever).
    straggle_time = 1.0

    #: Width of the buckets that accepted answers are counted in (seconds).
    _bucket = 0.05

    def __init__(
        self,
        rate: float,
        *,
        min_rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, not {rate!r}")
        self.max_rate = float(rate)
        self.min_rate = float(min_rate) if min_rate is not None else min(1.0, self.max_rate)
        self.rate = self.max_rate
        #: The server's allowance as last measured (None until throttling was real).
        self.ceiling: float | None = None
        # The most that the measurement after the last hold allows for (see _unblock).
        self._upper = 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_start = 0.0
        self._paused_until = 0.0
        self._cooldown_until = 0.0
        self._recent: deque[bool] = deque(maxlen=self.window)
        self._recent_throttles = 0
        self.throttles = 0
        # Bumped whenever the pace changes under waiting requests, so that requests that
        # booked their start slot before it book again at the new pace.
        self._epoch = 0
        # Accepted answers per bucket over the last ``span`` seconds: [bucket index, count].
        self._accepted: deque[list[int]] = deque()
        self._since = clock()  # the measurement never reaches back before this
        # Held back (see the module docstring, step 1).
        self._blocked = False
        self._blocked_at = 0.0
        self._blocked_from = self.max_rate
        self._wake: asyncio.Event | None = None
        # Requests started (acquire returned) and answered (on_success / on_throttle):
        # the difference at a slow-down is how many answers still belong to the old pace.
        self._started = 0
        self._answered = 0
        self._stragglers = 0
        # Step 3: when throttling last ended, and when the rate last grew.
        self._quiet_since = self._since
        self._quiet_for = self.probe_after
        self._last_growth = self._since

    def __repr__(self) -> str:
        return f"AdaptiveRateLimiter(rate={self.rate:.2f}/s, max_rate={self.max_rate:.2f}/s)"

    @property
    def blocked(self) -> bool:
        """True while the limiter holds back after throttling, probing for acceptance."""
        return self._blocked

    # -- starts -----------------------------------------------------------------------------

    def reserve(self) -> float:
        """Book the next start slot; return how long to wait for it (seconds, >= 0)."""
        now = self._clock()
        start = max(now, self._next_start, self._paused_until)
        self._next_start = start + 1.0 / self.rate
        return start - now

    async def acquire(self) -> None:
        """Wait until this request may start.

        A request whose slot was booked before the pace changed books again under the new
        pace (and pause): otherwise every slot already booked at the old rate, one per
        waiting request, up to the session's concurrency, would still go out at it. While
        held back, slots lie far apart; the end of the hold wakes their holders at once.
        """
        while True:
            epoch = self._epoch
            delay = self.reserve()
            if delay <= 0:
                break
            if self._blocked:
                await self._sleep_unless_woken(delay)
            else:
                await self._sleep(delay)
            if self._epoch == epoch:
                break
        self._started += 1

    async def _sleep_unless_woken(self, delay: float) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        sleeper = asyncio.ensure_future(self._sleep(delay))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            woken.cancel()

    def _repace(self, now: float) -> None:
        """Abandon booked slots: their holders book again (see acquire) at the new pace."""
        self._epoch += 1
        self._next_start = now + 1.0 / self.rate

    # -- what the server answered -------------------------------------------------------------

    def _record(self, throttled: bool) -> None:
        recent = self._recent
        if len(recent) == recent.maxlen and recent[0]:
            self._recent_throttles -= 1
        recent.append(throttled)
        if throttled:
            self._recent_throttles += 1
        self._answered += 1

    @property
    def throttle_share(self) -> float:
        """The share of 429 answers among the last ``window`` answers."""
        return self._recent_throttles / len(self._recent) if self._recent else 0.0

    @property
    def recent_throttles(self) -> int:
        """How many of the last ``window`` answers were 429s."""
        return self._recent_throttles

    @property
    def throttling(self) -> bool:
        """Is throttling real: 429s are ``threshold`` or more of the last ``window`` answers?

        The one rule every limiter slows down by (the shared one asks its local cap).
        """
        return self.throttle_share >= self.threshold

    def _count_accepted(self, now: float) -> None:
        index = math.floor(now / self._bucket)
        buckets = self._accepted
        if buckets and buckets[-1][0] == index:
            buckets[-1][1] += 1
        else:
            buckets.append([index, 1])
        self._forget_accepted(now)

    def _forget_accepted(self, now: float) -> None:
        oldest = math.floor((now - self.span) / self._bucket)
        buckets = self._accepted
        while buckets and buckets[0][0] < oldest:
            buckets.popleft()

    def accepted_rate(self, span: float | None = None) -> float:
        """Accepted answers per second over the last ``span`` seconds (or since created).

        ``span`` defaults to (and is at most) the class's ``span``.
        """
        now = self._clock()
        self._forget_accepted(now)
        span = self.span if span is None else min(span, self.span)
        # Whole buckets only: a part of one would count answers from before the span.
        first = math.ceil((now - span) / self._bucket)
        elapsed = now - max(first * self._bucket, self._since)
        if elapsed <= 0:
            return 0.0
        return sum(n for index, n in self._accepted if index >= first) / elapsed

    def _straggler(self, now: float) -> bool:
        """Is this answer one to a request started before the limiter last slowed down?"""
        if self._stragglers > 0 and now < self._blocked_at + self.straggle_time:
            self._stragglers -= 1
            return True
        self._stragglers = 0
        return False

    def _pause(self, now: float, retry_after: float | None) -> bool:
        if retry_after is not None and retry_after > 0 and now + retry_after > self._paused_until:
            self._paused_until = now + retry_after
            return True
        return False

    def _probing(self) -> bool:
        return self.ceiling is not None and self.rate > self.ceiling * self.margin * 1.0001

    def on_throttle(self, retry_after: float | None = None) -> None:
        """The server answered 429: slow down, and pause everyone for ``retry_after``."""
        now = self._clock()
        self.throttles += 1
        self._record(True)
        if self._blocked:
            self._throttled_while_blocked(now, retry_after)
            return
        if self._probing():
            # A probe above the ceiling met the limit: straight back under it. The
            # ceiling only moves up, if the server accepted more than it says meanwhile.
            # The server is saturated now: what it accepted over the last second is its
            # allowance (never more than was sent; a little more if its window is longer,
            # which a 429 at the resumed rate corrects). The ceiling only moves up here.
            assert self.ceiling is not None
            met = min(self.accepted_rate(self.probe_span), self.rate)
            if met > self.ceiling * 1.05:  # the limit rose: keep looking soon
                self._quiet_for = self.probe_after
            else:
                self._quiet_for = min(self.probe_after_max, self._quiet_for * 2)
            self.ceiling = max(self.ceiling, met)
            self._upper = 0.0
            self.rate = max(self.min_rate, min(self.max_rate, self.ceiling * self.margin))
            self._quiet(now)
            self._cooldown_until = now + max(1.0, 2.0 / self.rate)
            self._pause(now, retry_after)
            self._repace(now)
            return
        if (
            self.ceiling is not None
            and now >= self._cooldown_until
            and self.throttle_share >= self.threshold / 2
        ):
            # 429s at the resumed rate (more than arrival jitter), past the answers to a
            # probe's requests: the ceiling was set too high. What the server accepted
            # over the whole span (no more than any window up to that long admits) is a
            # safe lower one.
            lower = min(self.ceiling, self.accepted_rate())
            if lower < self.ceiling:
                self.ceiling = lower
                self._upper = 0.0
                self.rate = max(self.min_rate, min(self.max_rate, lower * self.margin))
                self._cooldown_until = now + max(1.0, 2.0 / self.rate)
                self._repace(now)
        if not self.throttling:
            return
        slowed = self._pause(now, retry_after)
        # Requests in flight when the rate was last set were sent at the old pace and may
        # be throttled too: they do not start a new hold.
        if now >= self._cooldown_until:
            self._blocked = True
            self._blocked_at = now
            self._blocked_from = self.rate
            self._stragglers = max(0, self._started - self._answered)
            pace = self.rate * self.decrease
            if self._stragglers:
                # Requests in flight / rate = the answers' latency: probes go about one
                # at a time, or each widening of their spacing would cost that many 429s.
                pace = min(pace, self.rate / self._stragglers)
            self.rate = max(self.min_rate, pace)
            self._cooldown_until = now + 1.0 / self.rate
            slowed = True
        if slowed:
            self._repace(now)

    def _throttled_while_blocked(self, now: float, retry_after: float | None) -> None:
        slowed = self._pause(now, retry_after)
        # Only a probe's 429 widens the probes' spacing: those of requests in flight
        # before (and within one slot of the last widening) would collapse it.
        if not self._straggler(now) and now >= self._cooldown_until:
            self.rate = max(self.min_rate, self.rate * self.decrease)
            self._cooldown_until = now + 1.0 / self.rate
            self._blocked_at = now
            self._stragglers = max(0, self._started - self._answered)
            slowed = True
        if slowed:
            self._repace(now)

    def on_success(self) -> None:
        """A request went through unthrottled: measure, and resume or probe upward."""
        now = self._clock()
        self._record(False)
        self._count_accepted(now)
        if self._blocked:
            if not self._straggler(now):
                self._unblock(now)
            return
        if self.ceiling is None or self.rate >= self.max_rate or now < self._cooldown_until:
            return
        target = self.rate
        upper = self._upper * self.margin
        if self.rate < upper:
            # Regaining what the measurement after a hold may have missed (a probe slot).
            elapsed = now - max(self._last_growth, self._cooldown_until)
            target = min(upper, self.rate * (1.0 + self.fill_growth * elapsed))
        growing = now - self._quiet_since - self._quiet_for
        if growing > 0:
            elapsed = now - max(self._last_growth, self._quiet_since + self._quiet_for)
            doublings = min(6, int(growing // self.probe_double))
            growth = self.probe_growth * 2**doublings
            target = max(target, self.rate * (1.0 + growth * elapsed))
        self._last_growth = now
        self.rate = min(self.max_rate, target)

    def _unblock(self, now: float) -> None:
        """A probe was accepted: resume just under the allowance measured meanwhile."""
        # While throttled the server accepted what it allows, never more than was sent.
        # It let this probe in at some time since the last probe (one slot ago) was
        # refused: count the time up to the middle of that slot, and regain the rest of
        # the slot quickly (up to counting none of it), before probing further with care.
        elapsed = min(self.span, now - self._since)
        accepted = measured = upper = self.accepted_rate()
        slot = 1.0 / self.rate
        if elapsed > slot:
            measured = accepted * elapsed / (elapsed - slot / 2)
            upper = accepted * elapsed / (elapsed - slot)
        self.ceiling = min(measured, self._blocked_from)
        self._upper = min(upper, self._blocked_from)
        resume = self.ceiling * self.margin
        if elapsed < self.min_span:
            # Too short to measure a window: an upper bound only. Resume at ``decrease``
            # of the pace before the hold, and regain up to the measurement quickly.
            resume = min(resume, self._blocked_from * self.decrease)
        self.rate = max(self.min_rate, min(self.max_rate, resume))
        self._blocked = False
        self._stragglers = 0
        self._quiet(now)
        self._quiet_for = self.probe_after
        self._cooldown_until = now + max(1.0, 2.0 / self.rate)
        self._epoch += 1
        self._next_start = now
        if self._wake is not None:
            self._wake.set()
            self._wake = None

    def _quiet(self, now: float) -> None:
        self._quiet_since = now
        self._last_growth = now
