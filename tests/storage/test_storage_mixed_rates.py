"""Sessions of one account on one Redis budget, told different rates (issue 18, row 2).

Each session starts at most its own rate, and a slow one never slows the others; the
budget as a whole still never exceeds the account's rate (the highest rate a session was
told). The schedule is checked in virtual time against a real redis-server: every limiter
runs as its own task, sleeping on one virtual clock that moves only when every task sleeps,
so the figures are exact whatever the machine's load. Over the wire (the fake server, real
time) only request counts and lower bounds on spacing are checked, never a speed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

import plivo_numlink as pn
from plivo_numlink._storage import STORAGE_ENV, RedisRateLimiter, RedisStorage, parse_storage_uri
from plivo_numlink.testing import FakePlivo

AUTH_ID = "MA0123456789ABCDEFGH"
EPS = 1e-6


class VirtualTime:
    """A clock for several tasks: ``sleep`` waits until the driver moves time to its end.

    :meth:`run` moves time to the earliest wake-up only once every live task sleeps on this
    clock (a task waiting for Redis is not asleep), so the tasks interleave as they would
    in real time on an infinitely fast machine.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), future))
        await future

    def _asleep(self) -> int:
        return sum(1 for _, _, future in self._sleepers if not future.done())

    async def run(self, *coroutines: Coroutine[Any, Any, None]) -> None:
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        try:
            while not all(task.done() for task in tasks):
                live = sum(1 for task in tasks if not task.done())
                if self._asleep() < live:
                    await asyncio.sleep(0.0005)  # someone is waiting for Redis
                    continue
                wake, _, future = heapq.heappop(self._sleepers)
                if future.done():  # a cancelled sleep
                    continue
                self.now = max(self.now, wake)
                future.set_result(None)
                await asyncio.sleep(0)
            for task in tasks:
                task.result()
        finally:
            for task in tasks:
                task.cancel()


@pytest.fixture
def clock() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
async def make_limiter(
    redis_url: str, clock: VirtualTime
) -> AsyncIterator[Callable[..., RedisRateLimiter]]:
    """Limiters on their own connections, like limiters in separate processes."""
    storages: list[RedisStorage] = []

    def make(rate: float) -> RedisRateLimiter:
        config = parse_storage_uri(redis_url)
        assert config is not None
        storage = RedisStorage(config, timeout=5.0)
        storages.append(storage)
        return RedisRateLimiter(storage, AUTH_ID, rate, clock=clock, sleep=clock.sleep)

    yield make
    for storage in storages:
        await storage.aclose()


async def start_for(
    limiter: RedisRateLimiter, clock: VirtualTime, until: float, starts: list[float]
) -> None:
    """Start requests as fast as the limiter lets this session, until ``until``."""
    while True:
        await limiter.acquire()
        if clock.now >= until:
            return
        starts.append(clock.now)
        limiter.on_success()


def most_in_one_second(starts: list[float]) -> int:
    ordered = sorted(starts)
    return max(
        sum(1 for s in ordered[i:] if s < start + 1.0 - EPS) for i, start in enumerate(ordered)
    )


async def test_a_slow_session_beside_a_fast_one_keeps_both_at_their_own_rates(
    make_limiter: Callable[..., RedisRateLimiter], clock: VirtualTime
) -> None:
    fast, slow = make_limiter(100.0), make_limiter(1.0)
    fast_starts: list[float] = []
    slow_starts: list[float] = []
    until = clock.now + 10.0
    await clock.run(
        start_for(fast, clock, until, fast_starts), start_for(slow, clock, until, slow_starts)
    )
    # The fast one keeps its rate but for the slow one's slots (one each, 1/100 s each).
    assert len(fast_starts) >= 980
    # The slow one stays at its own: a start a second, never two in one second.
    assert len(slow_starts) == 10
    assert min(b - a for a, b in itertools.pairwise(slow_starts)) >= 1.0 - EPS
    # Together, never more than the account's rate in any second.
    assert most_in_one_second(fast_starts + slow_starts) <= 100
    assert (fast.rate, slow.rate) == (100.0, 1.0)


async def test_a_slow_session_that_came_first_does_not_hold_a_fast_one_back(
    make_limiter: Callable[..., RedisRateLimiter], clock: VirtualTime
) -> None:
    slow = make_limiter(1.0)
    for _ in range(3):
        await slow.reserve()  # the account's state now knows only the slow session
    fast = make_limiter(100.0)
    starts = [clock.now + await fast.reserve() for _ in range(5)]
    # The schedule the slow session booked ahead (3 s of it at 1/s) takes 3 slots at 100/s.
    assert starts[0] == pytest.approx(clock.now + 0.03)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([0.01] * 4)
    assert fast.shared_rate == 100.0


async def test_two_sessions_told_the_same_rate_still_share_it(
    make_limiter: Callable[..., RedisRateLimiter], clock: VirtualTime
) -> None:
    first, second = make_limiter(20.0), make_limiter(20.0)
    a: list[float] = []
    b: list[float] = []
    until = clock.now + 5.0
    await clock.run(start_for(first, clock, until, a), start_for(second, clock, until, b))
    assert 100 <= len(a) + len(b) <= 101  # 20/s for 5 s in all (the last at 5 s, in floats)
    assert abs(len(a) - len(b)) <= 2
    assert most_in_one_second(a + b) <= 20


async def test_the_budget_of_sessions_gone_gives_way_to_the_ones_still_running(
    make_limiter: Callable[..., RedisRateLimiter], clock: VirtualTime
) -> None:
    gone, left = make_limiter(100.0), make_limiter(10.0)
    await gone.reserve()
    clock.now += gone.budget_ttl + 1.0  # the fast session stopped booking
    second = make_limiter(10.0)
    starts = [clock.now + await pacer.reserve() for pacer in (left, second, left, second)]
    # Two sessions told 10/s now share 10/s between them, not the 100/s of one gone.
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx([0.1] * 3)


async def test_a_slow_down_is_kept_when_a_faster_session_raises_the_budget(
    make_limiter: Callable[..., RedisRateLimiter], clock: VirtualTime
) -> None:
    slow = make_limiter(10.0)
    for _ in range(slow.min_throttles):
        slow.on_throttle()
    await slow.reserve()
    assert slow.shared_rate == pytest.approx(7.0)  # 0.7 of the budget
    fast = make_limiter(100.0)
    await fast.reserve()
    assert fast.shared_rate == pytest.approx(70.0)  # still 0.7 of the (new) budget


# -- over the wire: sessions, the fake server, real time --------------------------------------


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORAGE_ENV, raising=False)


def numbers(count: int, first: int) -> list[str]:
    return [f"1212555{i:04d}" for i in range(first, first + count)]


async def test_sessions_told_100_and_1_each_keep_their_own_rate_over_the_wire(
    redis_url: str,
) -> None:
    async with FakePlivo(rate_limit=100, rate_window=1.0) as fake:

        def session(rate: float) -> pn.NumLinkSession:
            return pn.NumLinkSession(
                fake.auth_id,
                fake.auth_token,
                base_url=fake.base_url,
                rate_limit=rate,
                rate_limit_storage=redis_url,
            )

        async with session(100) as fast, session(1) as slow:
            fast_job = asyncio.ensure_future(
                fast.link_many("CUOGHIN", numbers(3000, 100), batch_size=1)
            )
            # Run until the slow session's third request has been answered (>= 2 s).
            async for outcome in slow.iter_link("CUOGHIN", numbers(3, 0), batch_size=1):
                assert outcome.ok
            fast_job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await fast_job
    posts = [r for r in fake.requests if r.method == "POST"]
    slow_numbers = {number[-10:] for number in numbers(3, 0)}
    slow_sent = [r for r in posts if r.body["numbers"][0][-10:] in slow_numbers]
    fast_sent = [r for r in posts if r.body["numbers"][0][-10:] not in slow_numbers]
    assert len(slow_sent) == 3
    # The slow one stays at its own rate: ~1 s apart (0.5 s leaves room for one request
    # delayed on its way by a busy machine and the next one not).
    assert min(b.time - a.time for a, b in itertools.pairwise(slow_sent)) >= 0.5
    # The fast one kept far more than the slow one's pace: ~97/s for >= 2 s is ~190
    # requests; one slowed to the slow session's pace would have sent ~3.
    assert len(fast_sent) >= 30
    # Together, not over the account's rate (the fake answers 429 past it; a rare one is
    # arrival jitter on a loaded machine).
    assert fake.count_by_status.get(429, 0) <= 0.05 * len(posts)
