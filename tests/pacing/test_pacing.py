"""The adaptive rate limiter, driven by an injected clock and sleep (no real time)."""

from __future__ import annotations

import itertools
import math

import pytest

from plivo_numlink._pacing import AdaptiveRateLimiter


class FakeTime:
    """A clock that moves only when told to, and a sleep that moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def limiter(fake: FakeTime, rate: float = 10.0, **kwargs: float) -> AdaptiveRateLimiter:
    return AdaptiveRateLimiter(rate, clock=fake.clock, sleep=fake.sleep, **kwargs)


# ---------------------------------------------------------------------------------------------
# Construction


@pytest.mark.parametrize("rate", [0, -1, -0.5, math.nan])
def test_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        AdaptiveRateLimiter(rate)


def test_starts_at_the_configured_rate(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 25)
    assert pacer.rate == pacer.max_rate == 25.0


def test_min_rate_defaults_to_one_per_second(fake_time: FakeTime) -> None:
    assert limiter(fake_time, 50).min_rate == 1.0


def test_min_rate_defaults_to_the_rate_when_the_rate_is_below_one(fake_time: FakeTime) -> None:
    assert limiter(fake_time, 0.5).min_rate == 0.5


def test_repr_shows_current_and_configured_rate(fake_time: FakeTime) -> None:
    assert repr(limiter(fake_time, 10)) == "AdaptiveRateLimiter(rate=10.00/s, max_rate=10.00/s)"


# ---------------------------------------------------------------------------------------------
# Spacing of starts


def test_first_reservation_does_not_wait(fake_time: FakeTime) -> None:
    assert limiter(fake_time).reserve() == 0.0


def test_reservations_made_at_once_are_spaced_by_one_over_rate(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    waits = [pacer.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_idle_time_is_not_banked_as_a_burst(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.reserve()
    fake_time.advance(60)
    # A minute of silence buys one immediate start, not 600.
    assert [pacer.reserve() for _ in range(3)] == pytest.approx([0.0, 0.1, 0.2])


def test_a_request_after_the_spacing_has_passed_does_not_wait(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.reserve()
    fake_time.advance(0.1)
    assert pacer.reserve() == 0.0


async def test_acquire_sleeps_until_its_slot(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 4)
    for _ in range(3):
        await pacer.acquire()
    assert fake_time.sleeps == pytest.approx([0.25, 0.25])


async def test_acquire_does_not_sleep_when_the_slot_is_free(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 4)
    await pacer.acquire()
    assert fake_time.sleeps == []


async def test_acquired_starts_never_exceed_the_rate(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 20)
    starts = []
    for _ in range(50):
        await pacer.acquire()
        starts.append(fake_time.now)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) == pytest.approx(0.05)


# ---------------------------------------------------------------------------------------------
# Throttling: pause on Retry-After, multiplicative cut once per cool-down


def test_throttle_cuts_the_rate_by_a_factor_of_point_seven(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.on_throttle()
    assert pacer.rate == pytest.approx(7.0)


def test_throttle_counts_every_429(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    for _ in range(3):
        pacer.on_throttle()
    assert pacer.throttles == 3


async def test_throttles_of_requests_in_flight_cut_only_once(fake_time: FakeTime) -> None:
    # Was: within the 1 s cool-down after a cut, further 429s did not cut again. The
    # limiter now tells the answers to requests that were in flight when it slowed down
    # (sent at the old pace) from those to its probes: only the probes' widen the spacing.
    pacer = limiter(fake_time, 10)
    for _ in range(3):
        await pacer.acquire()
    pacer.on_throttle()
    held = pacer.rate
    assert held < 10
    fake_time.advance(0.5)
    pacer.on_throttle()
    pacer.on_throttle()
    assert pacer.rate == held


def test_a_throttle_after_the_cool_down_cuts_again(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.on_throttle()
    fake_time.advance(1.0)  # the cool-down is max(1 s, 2 / rate)
    pacer.on_throttle()
    assert pacer.rate == pytest.approx(4.9)


def test_probes_widen_at_most_once_a_slot_at_a_low_rate(fake_time: FakeTime) -> None:
    # Was: the cool-down lasts two slots (2.86 s at 0.7/s). While held back, the probes'
    # spacing widens at most once per slot at the new pace (1.43 s at 0.7/s).
    pacer = limiter(fake_time, 1.0, min_rate=0.1)
    pacer.on_throttle()
    fake_time.advance(1.4)
    pacer.on_throttle()
    assert pacer.rate == pytest.approx(0.7)
    fake_time.advance(0.1)
    pacer.on_throttle()
    assert pacer.rate == pytest.approx(0.49)


def test_rate_never_falls_below_min_rate(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10, min_rate=5)
    for _ in range(10):
        pacer.on_throttle()
        fake_time.advance(5)
    assert pacer.rate == 5.0


def test_default_floor_is_one_request_per_second(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    for _ in range(30):
        pacer.on_throttle()
        fake_time.advance(5)
    assert pacer.rate == 1.0


def test_throttle_pushes_booked_slots_to_the_new_spacing(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.reserve()
    pacer.on_throttle()
    assert pacer.reserve() == pytest.approx(1 / 7)


def test_retry_after_pauses_every_start(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.on_throttle(retry_after=2.0)
    assert pacer.reserve() == pytest.approx(2.0)


async def test_acquire_waits_out_the_pause(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.on_throttle(retry_after=3.0)
    await pacer.acquire()
    assert fake_time.sleeps == pytest.approx([3.0])


def test_starts_after_a_pause_are_spaced_at_the_reduced_rate(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.on_throttle(retry_after=2.0)
    waits = [pacer.reserve() for _ in range(3)]
    assert waits == pytest.approx([2.0, 2.0 + 1 / 7, 2.0 + 2 / 7])


def test_a_shorter_retry_after_does_not_shorten_a_pause(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.on_throttle(retry_after=5.0)
    pacer.on_throttle(retry_after=1.0)
    assert pacer.reserve() == pytest.approx(5.0)


def test_a_longer_retry_after_extends_a_pause(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.on_throttle(retry_after=1.0)
    pacer.on_throttle(retry_after=5.0)
    assert pacer.reserve() == pytest.approx(5.0)


@pytest.mark.parametrize("retry_after", [None, 0.0, -1.0])
def test_no_positive_retry_after_means_no_pause(
    fake_time: FakeTime, retry_after: float | None
) -> None:
    pacer = limiter(fake_time, 10)
    pacer.on_throttle(retry_after=retry_after)
    assert pacer.reserve() == pytest.approx(1 / 7)


def test_a_pause_ends_when_its_time_has_passed(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.on_throttle(retry_after=2.0)
    fake_time.advance(2.5)
    assert pacer.reserve() == 0.0


# ---------------------------------------------------------------------------------------------
# Only a real share of 429s slows down


def answers(pacer: AdaptiveRateLimiter, successes: int) -> None:
    for _ in range(successes):
        pacer.on_success()


def test_an_isolated_429_among_many_successes_does_not_slow_down(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    answers(pacer, 99)
    pacer.on_throttle(retry_after=5.0)
    assert pacer.rate == 10.0
    assert pacer.reserve() == 0.0  # no pause either


def test_429s_reaching_five_percent_of_recent_answers_slow_down(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    answers(pacer, 95)
    for _ in range(4):
        pacer.on_throttle()
    assert pacer.rate == 10.0
    pacer.on_throttle()  # 5 of the last 100
    assert pacer.rate == pytest.approx(7.0)


def test_throttle_share_counts_only_the_last_hundred_answers(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    for _ in range(10):
        pacer.on_throttle()
    answers(pacer, 100)  # the 429s have left the window
    assert pacer.throttle_share == 0.0


def test_throttle_share_is_zero_before_any_answer(fake_time: FakeTime) -> None:
    assert limiter(fake_time, 10).throttle_share == 0.0


def test_throttle_share_is_the_share_of_429s_in_the_window(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    answers(pacer, 3)
    pacer.on_throttle()
    assert pacer.throttle_share == 0.25


# ---------------------------------------------------------------------------------------------
# Recovery


def test_success_at_full_rate_changes_nothing(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    fake_time.advance(100)
    pacer.on_success()
    assert pacer.rate == 10.0


# The recovery was additive (5% of the configured rate a second, after a 1 s cool-down);
# it is now a measurement (resume just under the accepted rate) and a cautious probe. The
# tests below keep what the old ones protected: no jump back right after throttling,
# gradual growth, never above the configured rate, a 429 restarts the recovery.


def held_then_resumed(fake_time: FakeTime) -> AdaptiveRateLimiter:
    """A limiter told 20/s whose server accepted 10/s for 10 s, then throttled it."""
    pacer = limiter(fake_time, 20)
    for _ in range(100):
        fake_time.advance(0.1)
        pacer.on_success()
    for _ in range(6):
        pacer.on_throttle()
    fake_time.advance(0.1)
    pacer.on_success()
    return pacer


def test_success_right_after_throttling_does_not_regain_the_rate(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    for _ in range(10):
        fake_time.advance(0.1)
        pacer.on_success()
    pacer.on_throttle()
    fake_time.advance(0.5)
    pacer.on_success()
    # 11 accepted in 1.5 s: resume under that (counted up to the middle of the last slot).
    measured = 11 / (1.5 - 0.5 / 7)
    assert pacer.rate == pytest.approx(measured * pacer.margin)
    assert pacer.rate < 10


def test_no_growth_right_after_resuming(fake_time: FakeTime) -> None:
    pacer = held_then_resumed(fake_time)
    resumed = pacer.rate
    assert resumed == pytest.approx(10 * pacer.margin, rel=0.03)
    fake_time.advance(0.9)
    pacer.on_success()
    assert pacer.rate == resumed


def test_recovery_probes_upward_by_a_small_share_per_second(fake_time: FakeTime) -> None:
    pacer = held_then_resumed(fake_time)
    resumed = pacer.rate
    fake_time.advance(pacer.probe_after)
    pacer.on_success()
    fake_time.advance(2.0)
    pacer.on_success()
    assert pacer.rate == pytest.approx(resumed * (1 + 2 * pacer.probe_growth))


def test_recovery_is_gradual_across_successes(fake_time: FakeTime) -> None:
    pacer = held_then_resumed(fake_time)
    rates = []
    for _ in range(10):
        fake_time.advance(1.0)
        pacer.on_success()
        rates.append(pacer.rate)
    steps = [b / a for a, b in itertools.pairwise(rates)]
    assert all(1.0 <= step <= 1.0 + 2 * pacer.probe_growth + 1e-9 for step in steps)
    assert rates[-1] > rates[0]


def test_recovery_stops_at_the_configured_rate(fake_time: FakeTime) -> None:
    pacer = limiter(fake_time, 10)
    pacer.on_throttle()
    fake_time.advance(3600)
    pacer.on_success()
    for _ in range(100):
        fake_time.advance(10)
        pacer.on_success()
    assert pacer.rate == 10.0


def test_a_throttle_restarts_the_recovery_clock(fake_time: FakeTime) -> None:
    pacer = held_then_resumed(fake_time)
    resumed = pacer.rate
    fake_time.advance(pacer.probe_after + 2.0)
    pacer.on_success()  # probing above the resumed rate
    assert pacer.rate > resumed
    pacer.on_throttle()  # back under the ceiling, the quiet period starts again
    assert pacer.rate == pytest.approx(resumed)
    fake_time.advance(pacer.probe_after * 1.9)
    pacer.on_success()
    assert pacer.rate == pytest.approx(resumed)
