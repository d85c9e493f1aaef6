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


async def _settle(condition: object, rounds: int = 20) -> None:
    """Let the event loop run until ``condition()`` holds (a few ticks at most)."""
    for _ in range(rounds):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0)


async def test_a_retry_after_re_books_requests_already_waiting() -> None:
    # Mutant: a Retry-After that comes while a request sleeps towards its slot does not mark
    # the limiter's schedule changed, so that request goes out at its old slot, inside the
    # pause the server asked for. (Pinned first against the x0.7 cool-down rule; the
    # measuring limiter that replaced it keeps the behaviour.)
    clock, sleeps = Clock(), HeldSleeps()
    limiter = AdaptiveRateLimiter(10, clock=clock, sleep=sleeps)
    await limiter.acquire()  # at 0, at once
    waiting = asyncio.create_task(limiter.acquire())
    await _settle(lambda: len(sleeps.calls) == 1)
    [(first_delay, _)] = sleeps.calls
    assert first_delay == pytest.approx(0.1)
    clock.now = 0.05
    limiter.on_throttle(retry_after=5.0)  # a pause until 5.05 s
    clock.now = 0.1
    sleeps.release(0)
    await _settle(lambda: len(sleeps.calls) == 2)
    assert not waiting.done()  # booked again, behind the pause
    assert len(sleeps.calls) == 2
    assert sleeps.calls[1][0] >= 5.05 - 0.1 - 1e-9
    clock.now = sleeps.calls[1][0] + 0.1
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


# -- issue 18 ---------------------------------------------------------------------------------


def _resumed_then_lowered(clock: Clock) -> AdaptiveRateLimiter:
    """A limiter that measured 200/s, resumed, probed, and then lowered its ceiling after
    429s at the resumed rate (as ``test_a_429_at_the_resumed_rate_lowers_the_ceiling``)."""
    pacer = AdaptiveRateLimiter(1000, clock=clock)
    for _ in range(200):
        clock.now += 1 / 200
        pacer.on_success()
    for _ in range(6):
        pacer.on_throttle()
    clock.now += 1 / 200
    pacer.on_success()
    ceiling = pacer.ceiling
    assert ceiling is not None
    assert not pacer.blocked
    clock.now += pacer.probe_after + 1.0
    pacer.on_success()
    pacer.on_throttle()  # a probe met the limit
    for _ in range(225):
        clock.now += 1 / 150
        pacer.on_success()
    for _ in range(3):
        pacer.on_throttle()
    assert pacer.ceiling is not None
    assert pacer.ceiling < ceiling
    assert 2.0 / pacer.rate < 0.05  # the cool-down's other term is far below 1 s
    return pacer


def test_after_lowering_the_ceiling_the_limiter_cools_down_for_at_least_one_second() -> None:
    # Mutant: the cool-down after lowering the ceiling is only 2 / rate (~13 ms here), so
    # the 429s of requests already in flight lower it again and start a hold.
    clock = Clock()
    pacer = _resumed_then_lowered(clock)
    ceiling, rate = pacer.ceiling, pacer.rate
    clock.now += 0.5
    pacer.on_throttle()
    pacer.on_throttle()  # 5 of the last 100: throttling is real, but within the cool-down
    assert pacer.throttling
    assert (pacer.ceiling, pacer.rate, pacer.blocked) == (ceiling, rate, False)
    clock.now += 0.51  # past the second: the ceiling comes down to what was accepted
    pacer.on_throttle()
    assert pacer.ceiling is not None
    assert ceiling is not None
    assert pacer.ceiling < ceiling
