"""A deterministic simulation of a session against a per-window server limit (no real time).

Workers (the session's concurrency) each take the next request, wait for the limiter as
``AdaptiveRateLimiter.acquire`` does (booking a slot, booking again when the pace changed
under them, woken at once when a hold ends), send it, and hear the answer ``latency``
later. The server keeps a log of the requests it accepted over the last ``window``
seconds, like ``FakePlivo(rate_limit=..., rate_window=...)``, and answers 429 beyond
``limit`` of them (with the seconds until a slot frees as ``Retry-After`` when asked to).
A throttled request is sent again at once (the worst case for the count of 429s).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable

import attrs

from plivo_numlink._pacing import AdaptiveRateLimiter


class SimClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class WindowServer:
    """At most ``limit`` accepted requests in any ``window`` seconds (a sliding log)."""

    def __init__(self, limit: int, window: float = 1.0, retry_after: bool = False) -> None:
        self.limit = limit
        self.window = window
        self.retry_after = retry_after
        self._log: deque[float] = deque()

    def answer(self, now: float) -> float | bool | None:
        """True when accepted; else the Retry-After to send (None: no header)."""
        log = self._log
        while log and log[0] <= now - self.window:
            log.popleft()
        if len(log) >= self.limit:
            return log[0] + self.window - now if self.retry_after else None
        log.append(now)
        return True


@attrs.define
class SimResult:
    accepted: int = 0
    throttled: int = 0
    #: (time, accepted so far, throttled so far, limiter rate) after each answer.
    trace: list[tuple[float, int, int, float]] = attrs.field(factory=list)

    @property
    def share_429(self) -> float:
        total = self.accepted + self.throttled
        return self.throttled / total if total else 0.0

    def between(self, t0: float, t1: float) -> tuple[float, float]:
        """Accepted per second and share of 429s between two times."""
        before = [p for p in self.trace if p[0] <= t0]
        upto = [p for p in self.trace if p[0] <= t1]
        a0, r0 = (before[-1][1], before[-1][2]) if before else (0, 0)
        a1, r1 = upto[-1][1], upto[-1][2]
        accepted, throttled = a1 - a0, r1 - r0
        total = accepted + throttled
        return accepted / (t1 - t0), (throttled / total if total else 0.0)


def simulate(
    pacer: AdaptiveRateLimiter,
    clock: SimClock,
    server: WindowServer,
    seconds: float,
    *,
    concurrency: int = 50,
    latency: float = 0.02,
    on_time: Callable[[float], None] | None = None,
) -> SimResult:
    """Run workers against ``server`` for ``seconds`` of simulated time."""
    result = SimResult()
    start = clock.now
    end = start + seconds
    seq = itertools.count()
    # Events: (time, seq, kind, worker). Kinds: "wake" (slot reached), "answer".
    events: list[tuple[float, int, str, int, int]] = []
    booked: dict[int, tuple[int, int]] = {}  # worker -> (epoch, booking)
    held: set[int] = set()  # workers waiting while the limiter held back
    pending_answer: dict[int, float | bool | None] = {}

    def book(worker: int) -> None:
        booking = next(seq)
        booked[worker] = (pacer._epoch, booking)
        delay = pacer.reserve()
        if pacer.blocked:
            held.add(worker)
        heapq.heappush(events, (clock.now + max(0.0, delay), booking, "wake", worker, booking))

    for worker in range(concurrency):
        book(worker)
    while events:
        when, _, kind, worker, booking = heapq.heappop(events)
        if when > end:
            break
        clock.now = when
        if on_time is not None:
            on_time(when)
        if kind == "wake":
            epoch, current = booked.get(worker, (-1, -1))
            if booking != current:
                continue  # a stale wake (the worker was woken early and booked again)
            held.discard(worker)
            del booked[worker]
            if pacer._epoch != epoch:
                book(worker)
                continue
            pacer._started += 1
            # The server sees the request half way through the latency.
            pending_answer[worker] = server.answer(when + latency / 2)
            heapq.heappush(events, (when + latency, next(seq), "answer", worker, 0))
            continue
        answer = pending_answer.pop(worker)
        was_blocked = pacer.blocked
        if answer is True:
            result.accepted += 1
            pacer.on_success()
        else:
            result.throttled += 1
            pacer.on_throttle(answer if isinstance(answer, float) else None)
        result.trace.append((when - start, result.accepted, result.throttled, pacer.rate))
        if was_blocked and not pacer.blocked:
            # acquire's waiters are woken when a hold ends: they book again now.
            for other in list(held):
                held.discard(other)
                book(other)
        book(worker)
    clock.now = end
    return result
