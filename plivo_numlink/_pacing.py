"""Pacing: one adaptive rate limiter per session.

Requests start at most ``rate`` per second, spaced evenly (a token bucket holding one
token, so there are no bursts for a per-window server limit to punish). When the server
throttles (429), the rate is cut multiplicatively (x0.7, as botocore's adaptive mode does) at
most once per cool-down, and every request waits out a ``Retry-After`` the server gave. On
success it grows back additively, by ``recovery`` of the configured rate per second, so a
session that starts too fast settles just under the server's limit instead of hammering it.

Only throttling that is a real share of recent answers (``threshold`` of the last
``window`` answers) slows the session down: an isolated 429 among many successes (a blip
at the server) is retried on its own without costing the whole session its pace.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["AdaptiveRateLimiter"]

Sleep = Callable[[float], Awaitable[None]]


class AdaptiveRateLimiter:
    """Spaces request starts to at most ``rate`` per second, adapting to 429 answers."""

    #: Multiplier applied to the rate on throttling.
    decrease = 0.7
    #: Fraction of the configured rate regained per second of unthrottled traffic.
    recovery = 0.05
    #: How many recent answers the throttle share is measured over.
    window = 100
    #: Share of recent answers that must be 429 for the limiter to slow down.
    threshold = 0.05

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
        self._clock = clock
        self._sleep = sleep
        self._next_start = 0.0
        self._paused_until = 0.0
        self._cooldown_until = 0.0
        self._last_growth = clock()
        self._recent: deque[bool] = deque(maxlen=self.window)
        self._recent_throttles = 0
        self.throttles = 0
        # Bumped whenever throttling slows the limiter down, so that requests that booked
        # their start slot before it book again at the new pace.
        self._epoch = 0

    def __repr__(self) -> str:
        return f"AdaptiveRateLimiter(rate={self.rate:.2f}/s, max_rate={self.max_rate:.2f}/s)"

    def reserve(self) -> float:
        """Book the next start slot; return how long to wait for it (seconds, >= 0)."""
        now = self._clock()
        start = max(now, self._next_start, self._paused_until)
        self._next_start = start + 1.0 / self.rate
        return start - now

    async def acquire(self) -> None:
        """Wait until this request may start.

        A request whose slot was booked before the server throttled books again under the
        new pace (and pause): otherwise every slot already booked at the old rate, one per
        waiting request, up to the session's concurrency, would still go out at it.
        """
        while True:
            epoch = self._epoch
            delay = self.reserve()
            if delay <= 0:
                return
            await self._sleep(delay)
            if self._epoch == epoch:
                return

    def _record(self, throttled: bool) -> None:
        recent = self._recent
        if len(recent) == recent.maxlen and recent[0]:
            self._recent_throttles -= 1
        recent.append(throttled)
        if throttled:
            self._recent_throttles += 1

    @property
    def throttle_share(self) -> float:
        """The share of 429 answers among the last ``window`` answers."""
        return self._recent_throttles / len(self._recent) if self._recent else 0.0

    def on_throttle(self, retry_after: float | None = None) -> None:
        """The server answered 429: slow down, and pause everyone for ``retry_after``."""
        now = self._clock()
        self.throttles += 1
        self._record(True)
        if self.throttle_share < self.threshold:
            return
        slowed = False
        if retry_after is not None and retry_after > 0 and now + retry_after > self._paused_until:
            self._paused_until = now + retry_after
            slowed = True
        # Requests already in flight when the first 429 came were sent at the old rate and
        # may be throttled too; cutting again for each of them would collapse the rate.
        if now >= self._cooldown_until:
            self.rate = max(self.min_rate, self.rate * self.decrease)
            self._cooldown_until = now + max(1.0, 2.0 / self.rate)
            self._last_growth = now
            slowed = True
        if slowed:
            # Slots booked before now are abandoned, their holders book again (see
            # acquire): starts follow the new pace and pause from now on.
            self._epoch += 1
            self._next_start = now + 1.0 / self.rate

    def on_success(self) -> None:
        """A request went through unthrottled: regain some of the configured rate."""
        self._record(False)
        if self.rate >= self.max_rate:
            return
        now = self._clock()
        if now < self._cooldown_until:
            return
        elapsed = now - self._last_growth
        self._last_growth = now
        self.rate = min(self.max_rate, self.rate + self.max_rate * self.recovery * elapsed)
