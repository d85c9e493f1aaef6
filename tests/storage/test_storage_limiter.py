"""The shared rate limiter against a real Redis: one budget for every limiter of an account.

Each limiter gets its own RedisStorage (its own connections), as separate processes would.
Time is a fake clock handed to every limiter, so the schedule is checked exactly and no
test depends on how fast this machine is.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio

from plivo_numlink._pacing import AdaptiveRateLimiter
from plivo_numlink._storage import (
    RateLimiter,
    RedisRateLimiter,
    RedisStorage,
    account_key,
    parse_storage_uri,
)

AUTH_ID = "MA0123456789ABCDEFGH"
EPS = 1e-6


class FakeClock:
    """One clock for every limiter; sleeping moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_limiter(
    redis_url: str, clock: FakeClock
) -> AsyncIterator[Callable[..., RedisRateLimiter]]:
    """Limiters on their own connections, like limiters in separate processes."""
    storages: list[RedisStorage] = []

    def make(rate: float = 10.0, *, auth_id: str = AUTH_ID, **kwargs: Any) -> RedisRateLimiter:
        config = parse_storage_uri(redis_url)
        assert config is not None
        storage = RedisStorage(config, timeout=5.0)
        storages.append(storage)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("sleep", clock.sleep)
        return RedisRateLimiter(storage, auth_id, rate, **kwargs)

    yield make
    for storage in storages:
        await storage.aclose()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def throttle(limiter: RedisRateLimiter, retry_after: float | None = None) -> None:
    """Throttling that slows the account: ``min_throttles`` 429s, all of recent answers."""
    for _ in range(limiter.min_throttles):
        limiter.on_throttle(retry_after)


async def book(limiter: RedisRateLimiter, clock: FakeClock) -> float:
    """Book a slot; return its start time on the shared clock."""
    return clock.now + await limiter.reserve()


# ---------------------------------------------------------------------------------------------
# One budget


async def test_one_limiter_spaces_starts_evenly(
    make_limiter: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    pacer = make_limiter(10.0)
    starts = [await book(pacer, clock) for _ in range(5)]
    assert starts == pytest.approx([1000.0, 1000.1, 1000.2, 1000.3, 1000.4])


async def test_two_limiters_share_one_budget_and_never_exceed_it(
    make_limiter: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    rate = 20.0
    first, second = make_limiter(rate), make_limiter(rate)
    rng = random.Random(12)
    starts: list[float] = []
    for _ in range(200):
        pacer = first if rng.random() < 0.5 else second
        starts.append(await book(pacer, clock))
        clock.now += rng.uniform(0, 0.06)  # callers arrive at random, sometimes in bursts
    starts.sort()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 1 / rate - EPS
    # In any one second, at most `rate` starts (the budget), across both limiters.
    for i, start in enumerate(starts):
        in_window = sum(1 for s in starts[i:] if s < start + 1.0 - EPS)
        assert in_window <= rate


async def test_a_lone_caller_after_a_pause_starts_at_once(
    make_limiter: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    # A bucket of one token: idle time earns no burst.
    pacer = make_limiter(10.0)
    await pacer.reserve()
    clock.now += 60
    assert await pacer.reserve() == 0.0
    assert await pacer.reserve() == pytest.approx(0.1)


async def test_each_account_has_its_own_budget(
    make_limiter: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    mine, theirs = make_limiter(1.0), make_limiter(1.0, auth_id="MAOTHERACCOUNT00000")
    assert await mine.reserve() == 0.0
    assert await theirs.reserve() == 0.0
    assert await mine.reserve() == pytest.approx(1.0)


async def test_acquire_waits_for_its_slot_with_one_round_trip(
    make_limiter: Callable[..., RedisRateLimiter],
    clock: FakeClock,
    redis_client: redis.asyncio.Redis,
) -> None:
    first, second = make_limiter(4.0), make_limiter(4.0)
    await redis_client.config_resetstat()
    for _ in range(3):
        await first.acquire()
        await second.acquire()
    assert clock.sleeps == pytest.approx([0.25] * 5)
    assert first.storage_calls == second.storage_calls == 3
    stats = await redis_client.info("commandstats")
    # One EVALSHA per start. (The very first call on a server that lacks the script is
    # refused with NOSCRIPT, counted as rejected, and loads it: once per server, not per call.)
    assert stats["cmdstat_evalsha"]["calls"] == 6
    assert "cmdstat_eval" not in stats


async def test_the_servers_clock_is_used_when_none_is_given(
    make_limiter: Callable[..., RedisRateLimiter],
) -> None:
    # Machines' clocks differ; Redis's TIME is the one clock all of them share.
    pacer = make_limiter(0.1, clock=None)
    assert await pacer.reserve() == 0.0
    assert 5.0 < await pacer.reserve() <= 10.0


async def test_state_is_kept_under_a_digest_and_expires(
    make_limiter: Callable[..., RedisRateLimiter],
    redis_client: redis.asyncio.Redis,
) -> None:
    await make_limiter().reserve()
    keys = await redis_client.keys("*")
    assert keys == [account_key(AUTH_ID)]
    assert AUTH_ID not in keys[0]
    assert 0 < await redis_client.pttl(keys[0]) <= 3_600_000


# ---------------------------------------------------------------------------------------------
# Slowing down together


async def test_a_throttle_seen_by_one_slows_the_other(
    make_limiter: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    seen, other = make_limiter(10.0), make_limiter(10.0)
    await seen.reserve()
    throttle(seen)
    await seen.reserve()  # the report goes with the next booking
    assert seen.shared_rate == pytest.approx(7.0)
    clock.now += 5
    start = await book(other, clock)
    assert other.shared_rate == other.rate == pytest.approx(7.0)
    assert await book(other, clock) - start == pytest.approx(1 / 7.0)


async def test_throttles_at_once_in_two_processes_cut_the_rate_once(
    make_limiter: Callable[..., RedisRateLimiter],
) -> None:
    first, second = make_limiter(10.0), make_limiter(10.0)
    throttle(first)
    throttle(second)
    await first.reserve()
    await second.reserve()
    assert first.shared_rate == second.shared_rate == pytest.approx(7.0)  # not 4.9: one cut


async def test_a_retry_after_pause_seen_by_one_holds_the_other(
    make_limiter: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    seen, other = make_limiter(10.0), make_limiter(10.0)
    throttle(seen, retry_after=3.0)
    await seen.flush()  # the report alone, without booking
    assert await other.reserve() == pytest.approx(3.0)
    assert await seen.reserve() == pytest.approx(3.0 + 1 / 7.0)


async def test_an_isolated_throttle_among_successes_does_not_slow_anyone(
    make_limiter: Callable[..., RedisRateLimiter],
) -> None:
    pacer = make_limiter(10.0)
    for _ in range(99):
        pacer.on_success()
    pacer.on_throttle(retry_after=30.0)
    assert pacer.throttle_share == pytest.approx(0.01)
    assert pacer.throttles == 1
    await pacer.flush()  # nothing to send
    assert pacer.storage_calls == 0
    assert await pacer.reserve() == 0.0
    assert pacer.rate == 10.0


async def test_one_429_among_a_slow_sessions_few_answers_does_not_slow_anyone(
    make_limiter: Callable[..., RedisRateLimiter],
) -> None:
    # 1 of 10 answers is a real share for the session itself (it holds back), but one 429
    # is no evidence that the account is over its limit: every other session goes on.
    slow = make_limiter(1.0)
    for _ in range(9):
        slow.on_success()
    for _ in range(slow.min_throttles - 1):
        slow.on_throttle(retry_after=5.0)
    assert slow.local.blocked
    await slow.flush()
    assert slow.storage_calls == 0
    slow.on_throttle()
    await slow.flush()
    assert slow.storage_calls == 1


async def test_429s_reaching_the_threshold_share_slow_the_account_down(
    make_limiter: Callable[..., RedisRateLimiter],
) -> None:
    # The boundary: exactly ``min_throttles`` (5) 429s among the last 100 answers.
    pacer = make_limiter(10.0)
    for _ in range(95):
        pacer.on_success()
    for _ in range(4):
        pacer.on_throttle()
    await pacer.flush()
    assert pacer.storage_calls == 0  # 4 of 99: nothing to tell the account
    pacer.on_throttle()
    assert pacer.throttle_share == pacer.threshold  # 5 of the last 100
    await pacer.flush()
    assert pacer.storage_calls == 1
    assert pacer.shared_rate == pytest.approx(7.0)


async def test_the_throttle_share_is_measured_over_the_last_window_answers(
    make_limiter: Callable[..., RedisRateLimiter],
) -> None:
    pacer = make_limiter(10.0)
    for _ in range(pacer.window):
        pacer.on_throttle()
    assert pacer.throttle_share == 1.0
    for _ in range(pacer.window):
        pacer.on_success()
    assert pacer.throttle_share == 0.0
    assert pacer.throttles == pacer.window


async def test_the_shared_rate_grows_back_after_the_cool_down(
    make_limiter: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    seen, other = make_limiter(10.0), make_limiter(10.0)
    throttle(seen)
    await seen.reserve()
    assert seen.shared_rate == pytest.approx(7.0)
    clock.now += 2.0  # past the cool-down: max(1, 2 / 7) s
    other.on_success()
    await other.reserve()
    # Growth counts from the cut: 0.05 of 10/s per second, for 2 s.
    assert other.rate == pytest.approx(8.0)
    clock.now += 60
    other.on_success()
    await other.reserve()
    assert other.rate == 10.0


async def test_no_growth_without_a_success(
    make_limiter: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    pacer = make_limiter(10.0)
    throttle(pacer)
    await pacer.reserve()
    clock.now += 5
    await pacer.reserve()
    assert pacer.shared_rate == pytest.approx(7.0)


async def test_the_rate_never_falls_below_min_rate(
    make_limiter: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    pacer = make_limiter(10.0, min_rate=5.0)
    for _ in range(4):
        throttle(pacer)
        await pacer.reserve()
        clock.now += 10
    assert pacer.shared_rate == pacer.rate == 5.0


async def test_a_waiter_booked_before_a_slow_down_books_again(
    make_limiter: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    waiter, seen = make_limiter(10.0), make_limiter(10.0)
    for _ in range(5):
        await waiter.reserve()  # the schedule is 0.5 s ahead

    async def sleep_while_another_process_is_throttled(seconds: float) -> None:
        clock.now += seconds
        if not seen.throttles:
            throttle(seen)
            await seen.flush()  # another process slows the account down...
            await waiter.reserve()  # ...and this process hears of it from any answer

    waiter._sleep = sleep_while_another_process_is_throttled
    calls = waiter.storage_calls
    await waiter.acquire()
    assert waiter.storage_calls == calls + 3  # booked, heard, booked again at the new pace
    assert waiter.shared_rate == pytest.approx(7.0)


# ---------------------------------------------------------------------------------------------
# Interface


async def test_it_has_the_local_limiters_interface(
    make_limiter: Callable[..., RedisRateLimiter],
) -> None:
    shared = make_limiter(10.0)
    assert isinstance(shared, RateLimiter)
    assert isinstance(AdaptiveRateLimiter(10.0), RateLimiter)
    assert (shared.max_rate, shared.rate, shared.min_rate) == (10.0, 10.0, 1.0)
    assert (shared.throttles, shared.throttle_share) == (0, 0.0)
    assert repr(shared).startswith("RedisRateLimiter(rate=10.00/s, max_rate=10.00/s, storage=")


@pytest.mark.parametrize("rate", [0, -1.0, float("nan")])
async def test_the_rate_must_be_positive(
    make_limiter: Callable[..., RedisRateLimiter], rate: float
) -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        make_limiter(rate)


async def test_a_bad_answer_from_the_storage_is_a_storage_error(
    make_limiter: Callable[..., RedisRateLimiter], monkeypatch: pytest.MonkeyPatch
) -> None:
    from plivo_numlink._storage import StorageError

    pacer = make_limiter(10.0)

    async def garbage(*args: object) -> object:
        return ["not a number"]

    monkeypatch.setattr(pacer._storage, "run_script", garbage)
    with pytest.raises(StorageError, match="answered the pacing script"):
        await pacer.acquire()
