"""The fake's misbehaviour: queued faults, the concurrency cap, the rate limit, random
errors and dropped connections, latency, and holding requests on demand.

The HTTP layer asks, for each authenticated request, in this order: :meth:`Faults.before_call`
(queued faults, concurrency cap, rate limit, ``drop_rate``, ``error_rates``), then
:meth:`Faults.hold` (latency, pause), and after the call :meth:`Faults.answer_lost`
(``drop_response_rate``). Every random draw comes from one ``random.Random(seed)`` in that
order, so a run is repeatable under a seed as long as the requests arrive in the same order.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Mapping

import attrs


@attrs.frozen
class Fault:
    """An answer that replaces the call's: a status (None: close the connection unanswered),
    an optional ``Retry-After``, and a body that replaces the JSON error body when set."""

    status: int | None
    retry_after: float | str | None = None
    body: bytes | None = None
    content_type: str | None = None
    #: Carry the call out first, and only replace its answer.
    effect: bool = False


#: Close the connection before the request does anything.
DROP = Fault(None)


class Faults:
    """The fault options of a FakePlivo (see its docstring), and the state they need."""

    def __init__(
        self,
        *,
        seed: int,
        clock: Callable[[], float],
        latency: float | tuple[float, float],
        rate_limit: int | None,
        rate_window: float,
        retry_after: float | str | None,
        max_concurrent: int | None,
        error_rates: Mapping[int, float] | None,
        drop_rate: float,
        drop_response_rate: float,
    ) -> None:
        if isinstance(latency, tuple):
            low, high = latency
            if not 0 <= low <= high:
                raise ValueError(f"latency range must be 0 <= low <= high, not {latency!r}")
        elif latency < 0:
            raise ValueError(f"latency must be >= 0, not {latency!r}")
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

        self.clock = clock
        self.latency = latency
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.retry_after = retry_after
        self.max_concurrent = max_concurrent
        self.error_rates = rates
        self.drop_rate = drop_rate
        self.drop_response_rate = drop_response_rate
        #: When True, every request's connection is closed with no answer.
        self.down = False

        self._rng = random.Random(seed)
        self._queue: deque[Fault] = deque()
        self._window: deque[float] = deque()
        self._released = asyncio.Event()
        self._released.set()

    def enqueue(
        self,
        status: int | None,
        count: int = 1,
        *,
        retry_after: float | str | None = None,
        body: str | bytes | None = None,
        content_type: str | None = None,
        effect: bool = False,
    ) -> None:
        """Answer the next ``count`` authenticated requests with this fault."""
        if count < 1:
            raise ValueError(f"count must be >= 1, not {count!r}")
        raw = body.encode("utf-8") if isinstance(body, str) else body
        fault = Fault(status, retry_after, raw, content_type, effect)
        self._queue.extend([fault] * count)

    def before_call(self, in_flight: int) -> Fault | None:
        """The fault that answers this request instead of the call, if any.

        ``in_flight`` counts this request.
        """
        if self._queue:
            return self._queue.popleft()

        if self.max_concurrent is not None and in_flight > self.max_concurrent:
            # "auto" is about the rate window, which says nothing about when a slot frees.
            return Fault(429, None if self.retry_after == "auto" else self.retry_after)

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
                return Fault(429, retry_after)
            window.append(now)

        rng = self._rng
        if self.drop_rate and rng.random() < self.drop_rate:
            return DROP
        if self.error_rates:
            draw = rng.random()
            cumulative = 0.0
            for status, probability in self.error_rates.items():
                cumulative += probability
                if draw < cumulative:
                    return Fault(status)
        return None

    async def hold(self) -> None:
        """Wait out the latency, then while :meth:`pause` holds requests."""
        latency = self.latency
        if isinstance(latency, tuple):
            latency = self._rng.uniform(*latency)
        if latency > 0:
            await asyncio.sleep(latency)
        if not self._released.is_set():
            await self._released.wait()

    def answer_lost(self) -> bool:
        """Whether the answer of a call that took effect is lost (``drop_response_rate``)."""
        return bool(self.drop_response_rate) and self._rng.random() < self.drop_response_rate

    def pause(self) -> None:
        self._released.clear()

    def resume(self) -> None:
        self._released.set()
