"""Pins on the rate limiter's behaviour that a mutation run found unpinned (issue 10, item
17): each test fails if the named change is made to ``_pacing.py``."""

from __future__ import annotations

import asyncio

import pytest

from plivo_numlink._pacing import AdaptiveRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class HeldSleeps:
    """A sleep that returns only when the test releases it, recording each delay."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, asyncio.Future[None]]] = []

    async def __call__(self, delay: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self.calls.append((delay, future))
        await future

    def release(self, index: int) -> None:
        self.calls[index][1].set_result(None)


def test_a_throttle_restarts_the_growth_clock() -> None:
    # Mutant: on_throttle no longer sets _last_growth. Growth after the cool-down would then
    # count the whole time since the limiter was made, and jump straight back to full rate.
    clock = Clock()
    limiter = AdaptiveRateLimiter(10, clock=clock)
    clock.now = 100.0
    limiter.on_throttle()
    assert limiter.rate == pytest.approx(7.0)
    clock.now = 102.0  # past the cool-down (1 s)
    limiter.on_success()
    assert limiter.rate == pytest.approx(7.0 + 10 * limiter.recovery * 2.0)


async def test_a_retry_after_during_the_cool_down_re_books_requests_already_waiting() -> None:
    # Mutant: a Retry-After that comes during the cool-down (no new rate cut) does not mark
    # the limiter slowed, so a request already sleeping towards its slot goes out at it,
    # inside the pause the server asked for.
    clock, sleeps = Clock(), HeldSleeps()
    limiter = AdaptiveRateLimiter(10, clock=clock, sleep=sleeps)
    limiter.on_throttle()  # at 0: rate cut to 7/s, cool-down until 1 s
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    [(first_delay, _)] = sleeps.calls
    assert first_delay == pytest.approx(1 / 7)
    clock.now = 0.05
    limiter.on_throttle(retry_after=5.0)  # still in the cool-down: a pause until 5.05 s
    clock.now = 1 / 7
    sleeps.release(0)
    await asyncio.sleep(0)
    assert not waiting.done()  # booked again, behind the pause
    assert len(sleeps.calls) == 2
    assert sleeps.calls[1][0] == pytest.approx(5.05 - 1 / 7)
    clock.now = 5.05
    sleeps.release(1)
    await asyncio.wait_for(waiting, 1)


def test_a_sub_second_retry_after_pauses_the_next_start() -> None:
    # Mutant: pauses under a second (or under some threshold) ignored.
    clock = Clock()
    limiter = AdaptiveRateLimiter(100, clock=clock)
    limiter.on_throttle(retry_after=0.5)
    assert limiter.reserve() == pytest.approx(0.5)
    assert limiter.reserve() == pytest.approx(0.5 + 1 / limiter.rate)


def test_a_zero_retry_after_does_not_let_a_burst_through() -> None:
    # Mutant: a zero pause resets the schedule to "now" for everyone (a burst).
    clock = Clock()
    limiter = AdaptiveRateLimiter(100, clock=clock)
    limiter.on_throttle(retry_after=0.0)
    assert limiter.rate == pytest.approx(70.0)
    delays = [limiter.reserve() for _ in range(4)]
    assert delays == pytest.approx([1 / 70, 2 / 70, 3 / 70, 4 / 70])
