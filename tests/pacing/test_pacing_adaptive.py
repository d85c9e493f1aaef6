"""The limiter finds a server limit it was not told (issue 12 item 4), with no real time.

A session told 5 times the limit of a server that allows R requests per second window
settles at >= 0.95 R with under 2% of its requests answered 429, with and without
Retry-After; told the right limit it keeps to it; it follows the limit when it moves.
The simulation (``pacing_sim``) drives the limiter the way the transport does.
"""

from __future__ import annotations

import asyncio

import pytest
from pacing_sim import SimClock, WindowServer, simulate

from plivo_numlink._pacing import AdaptiveRateLimiter

R = 200


async def _no_sleep(seconds: float) -> None:
    return None


def sim_limiter(clock: SimClock, rate: float) -> AdaptiveRateLimiter:
    return AdaptiveRateLimiter(rate, clock=clock, sleep=_no_sleep)


# ---------------------------------------------------------------------------------------------
# Against a server window limit


@pytest.mark.parametrize("latency", [0.002, 0.02, 0.1])
@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
def test_told_five_times_the_limit_finds_it(retry_after: bool, latency: float) -> None:
    clock = SimClock()
    pacer = sim_limiter(clock, 5 * R)
    result = simulate(pacer, clock, WindowServer(R, 1.0, retry_after), 30.0, latency=latency)
    assert result.accepted / 30.0 >= 0.95 * R
    assert result.share_429 < 0.02
    # Settled: the last 10 s run at the limit, nearly without 429s.
    rate, share = result.between(20.0, 30.0)
    assert rate >= 0.95 * R
    assert share < 0.005
    assert pacer.ceiling == pytest.approx(R, rel=0.03)
    assert 0.95 * R <= pacer.rate <= 1.02 * R


@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
def test_told_twice_the_limit_finds_it(retry_after: bool) -> None:
    clock = SimClock()
    pacer = sim_limiter(clock, 2 * R)
    result = simulate(pacer, clock, WindowServer(R, 1.0, retry_after), 30.0)
    assert result.accepted / 30.0 >= 0.95 * R
    assert result.share_429 < 0.02


@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
def test_told_the_right_limit_keeps_to_it(retry_after: bool) -> None:
    clock = SimClock()
    pacer = sim_limiter(clock, R)
    result = simulate(pacer, clock, WindowServer(R, 1.0, retry_after), 30.0)
    assert result.accepted / 30.0 >= 0.99 * R
    assert result.share_429 < 0.01
    # The 429s there come from arrival jitter at exactly the limit: isolated ones, which
    # never slow the session down.
    assert result.throttled > 0
    assert min(rate for *_, rate in result.trace) == R
    assert pacer.ceiling is None


def test_a_limit_that_rises_is_found_again() -> None:
    clock = SimClock()
    pacer = sim_limiter(clock, 5 * R)
    server = WindowServer(R, 1.0)
    start = clock.now

    def raise_limit(now: float) -> None:
        if now - start >= 30.0:
            server.limit = 2 * R

    result = simulate(pacer, clock, server, 120.0, on_time=raise_limit)
    rate, share = result.between(100.0, 120.0)
    assert rate >= 0.9 * 2 * R
    assert share < 0.02
    assert pacer.ceiling is not None
    assert pacer.ceiling >= 0.95 * 2 * R


def test_a_limit_that_falls_is_found_again() -> None:
    clock = SimClock()
    pacer = sim_limiter(clock, 5 * R)
    server = WindowServer(R, 1.0)
    start = clock.now

    def lower_limit(now: float) -> None:
        if now - start >= 20.0:
            server.limit = R // 2

    result = simulate(pacer, clock, server, 60.0, on_time=lower_limit)
    rate, share = result.between(40.0, 60.0)
    assert rate >= 0.95 * R / 2
    assert share < 0.01
    assert pacer.rate <= R / 2


def test_a_five_second_window_is_found_too() -> None:
    # Plivo's own limit: 300 requests per 5 s.
    clock = SimClock()
    pacer = sim_limiter(clock, 300)
    result = simulate(pacer, clock, WindowServer(300, 5.0), 60.0, concurrency=10, latency=0.1)
    rate, share = result.between(30.0, 60.0)
    assert rate >= 0.95 * 60
    assert share < 0.02
    assert result.share_429 < 0.05


# ---------------------------------------------------------------------------------------------
# The pieces, one at a time


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_accepted_rate_counts_accepted_answers_over_the_span() -> None:
    clock = Clock()
    pacer = AdaptiveRateLimiter(1000, clock=clock)
    for _ in range(100):
        clock.now += 0.01
        pacer.on_success()
    assert pacer.accepted_rate() == pytest.approx(100.0)
    clock.now += 10.0  # all of them now older than the span
    assert pacer.accepted_rate() == 0.0


def test_accepted_rate_over_a_shorter_span() -> None:
    clock = Clock()
    pacer = AdaptiveRateLimiter(1000, clock=clock)
    for _ in range(200):  # 100/s for a second, then 300/s for a third of a second
        clock.now += 0.01 if clock.now < 1001.0 else 1 / 300
        pacer.on_success()
    assert pacer.accepted_rate(0.3) == pytest.approx(300, rel=0.1)
    assert pacer.accepted_rate(100.0) == pacer.accepted_rate()


def test_accepted_rate_is_zero_at_the_start() -> None:
    assert AdaptiveRateLimiter(10, clock=Clock()).accepted_rate() == 0.0


def test_throttling_holds_back_until_a_probe_is_accepted() -> None:
    clock = Clock()
    pacer = AdaptiveRateLimiter(100, clock=clock)
    for _ in range(100):  # accepted at 100/s for a second
        clock.now += 0.01
        pacer.on_success()
    for _ in range(5):
        pacer.on_throttle()
    assert pacer.blocked
    assert pacer.rate == pytest.approx(70.0)
    clock.now += 0.5
    pacer.on_success()
    assert not pacer.blocked
    # 101 accepted in 1.5 s (less half a probe slot): resume just under that.
    measured = 101 / (1.5 - 0.5 / 70)
    assert pacer.ceiling == pytest.approx(measured)
    assert pacer.rate == pytest.approx(measured * pacer.margin)


def test_resuming_is_never_faster_than_before_the_hold() -> None:
    clock = Clock()
    pacer = AdaptiveRateLimiter(50, clock=clock)
    for _ in range(100):  # the server accepted 100/s, more than the session sends
        clock.now += 0.01
        pacer.on_success()
    for _ in range(6):
        pacer.on_throttle()
    clock.now += 0.01
    pacer.on_success()
    assert pacer.ceiling == 50.0
    assert pacer.rate == pytest.approx(50 * pacer.margin)


def test_429s_of_requests_in_flight_do_not_widen_the_probes() -> None:
    clock = Clock()
    pacer = AdaptiveRateLimiter(10, clock=clock)

    async def start(n: int) -> None:
        for _ in range(n):
            await pacer.acquire()

    asyncio.run(start(2))  # no sleep needed: the slots are in the past
    pacer.on_throttle()  # one more request is still in flight
    clock.now += 0.5
    pacer.on_throttle()
    assert pacer.rate == pytest.approx(7.0)
    pacer.on_throttle()  # a probe's
    assert pacer.rate == pytest.approx(4.9)


def test_probes_go_about_one_at_a_time() -> None:
    # 10 requests in flight at 100/s: the answers take about 0.1 s, so probing at 70/s
    # would have 7 probes in flight before the first 429 of one came back.
    clock = Clock()
    pacer = AdaptiveRateLimiter(100, clock=clock)

    async def start(n: int) -> None:
        for _ in range(n):
            await pacer.acquire()

    asyncio.run(start(11))
    pacer.on_throttle()
    assert pacer.rate == pytest.approx(10.0)


def test_a_success_of_a_request_in_flight_does_not_end_the_hold() -> None:
    clock = Clock()
    pacer = AdaptiveRateLimiter(10, clock=clock)

    async def start(n: int) -> None:
        for _ in range(n):
            await pacer.acquire()

    asyncio.run(start(3))
    pacer.on_throttle()
    pacer.on_success()  # sent before the hold
    assert pacer.blocked
    pacer.on_success()
    assert pacer.blocked
    pacer.on_success()  # a probe's
    assert not pacer.blocked


def test_in_flight_answers_are_not_awaited_for_ever() -> None:
    # An answer the limiter never hears of (a 404, a timeout) leaves a request counted
    # in flight: past straggle_time, answers are the probes'.
    clock = Clock()
    pacer = AdaptiveRateLimiter(10, clock=clock)

    async def start(n: int) -> None:
        for _ in range(n):
            await pacer.acquire()

    asyncio.run(start(5))
    pacer.on_throttle()
    clock.now += pacer.straggle_time
    pacer.on_success()
    assert not pacer.blocked


async def test_the_end_of_a_hold_wakes_the_waiting_requests() -> None:
    clock = Clock()
    slept: list[float] = []
    forever = asyncio.Event()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await forever.wait()  # only a wake-up ends this wait

    pacer = AdaptiveRateLimiter(10, clock=clock, sleep=sleep)
    pacer.on_throttle()  # held back: the next slot is one probe away
    waiter = asyncio.ensure_future(pacer.acquire())
    for _ in range(3):
        await asyncio.sleep(0)
    assert slept == [pytest.approx(1 / 7)]
    assert not waiter.done()
    clock.now += 0.05
    pacer.on_success()
    await asyncio.wait_for(waiter, 1.0)
    assert not pacer.blocked


async def test_cancelling_a_request_waiting_in_a_hold() -> None:
    clock = Clock()
    forever = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await forever.wait()

    pacer = AdaptiveRateLimiter(10, clock=clock, sleep=sleep)
    pacer.on_throttle()
    waiter = asyncio.ensure_future(pacer.acquire())
    for _ in range(3):
        await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter


def settled(clock: Clock, rate: float = 1000.0, accepted: float = 200.0) -> AdaptiveRateLimiter:
    """A limiter told ``rate`` that found a server accepting ``accepted`` per second."""
    pacer = AdaptiveRateLimiter(rate, clock=clock)
    for _ in range(int(accepted)):
        clock.now += 1 / accepted
        pacer.on_success()
    for _ in range(6):
        pacer.on_throttle()
    clock.now += 1 / accepted
    pacer.on_success()
    assert not pacer.blocked
    return pacer


def test_no_probe_before_the_quiet_period() -> None:
    clock = Clock()
    pacer = settled(clock)
    resumed = pacer.rate
    clock.now += pacer.probe_after * 0.9
    pacer.on_success()
    assert pacer.rate == resumed


def test_probing_grows_the_rate_slowly_after_the_quiet_period() -> None:
    clock = Clock()
    pacer = settled(clock)
    resumed = pacer.rate
    clock.now += pacer.probe_after
    pacer.on_success()
    clock.now += 1.0
    pacer.on_success()
    assert pacer.rate == pytest.approx(resumed * (1 + pacer.probe_growth))


def test_probing_speeds_up_while_no_429_comes() -> None:
    clock = Clock()
    pacer = settled(clock)
    clock.now += pacer.probe_after
    pacer.on_success()
    rates = []
    for _ in range(3):
        clock.now += pacer.probe_double
        before = pacer.rate
        pacer.on_success()
        rates.append(pacer.rate / before)
    assert rates[0] < rates[1] < rates[2]


def test_probing_stops_at_the_configured_rate() -> None:
    clock = Clock()
    pacer = settled(clock)
    for _ in range(100):
        clock.now += 10.0
        pacer.on_success()
    assert pacer.rate == pacer.max_rate


def test_a_429_above_the_ceiling_ends_the_probe_at_once() -> None:
    clock = Clock()
    pacer = settled(clock)
    ceiling = pacer.ceiling
    assert ceiling is not None
    clock.now += pacer.probe_after
    pacer.on_success()
    clock.now += 2.0
    pacer.on_success()
    assert pacer.rate > ceiling
    pacer.on_throttle()  # isolated, but above the ceiling
    assert not pacer.blocked
    assert pacer.ceiling == ceiling  # the server accepted less meanwhile
    assert pacer.rate == pytest.approx(ceiling * pacer.margin)


def test_each_probe_meeting_the_same_limit_waits_longer() -> None:
    clock = Clock()
    pacer = settled(clock)
    waits = []
    for _ in range(7):
        resumed, base = clock.now, pacer.rate
        while pacer.rate < base * 1.001:  # 100 answers a second, all accepted
            clock.now += 0.01
            pacer.on_success()
        waits.append(round(clock.now - resumed))
        pacer.on_throttle()
        assert pacer.rate == base
    assert waits == [1, 2, 4, 8, 16, 30, 30]


def test_a_probe_meeting_a_higher_limit_raises_the_ceiling() -> None:
    clock = Clock()
    pacer = settled(clock)
    clock.now += pacer.probe_after + 1.0
    pacer.on_success()
    for _ in range(300):  # the server now accepts 300/s
        clock.now += 1 / 300
        pacer.on_success()
    pacer.rate = 320.0  # where the probe had reached
    pacer.on_throttle()
    assert pacer.ceiling == pytest.approx(300, rel=0.02)
    assert pacer.rate == pytest.approx(pacer.ceiling * pacer.margin)


def test_a_429_at_the_resumed_rate_lowers_the_ceiling() -> None:
    # A ceiling measured too high (a server window longer than a second admits bursts):
    # a 429 at the resumed rate brings it down to what the server accepted over the span.
    clock = Clock()
    pacer = settled(clock)
    ceiling = pacer.ceiling
    assert ceiling is not None
    clock.now += pacer.probe_after + 1.0
    pacer.on_success()
    pacer.on_throttle()  # a probe met the limit: back to the ceiling, quiet for 2 s
    assert pacer.rate == pytest.approx(ceiling * pacer.margin)
    for _ in range(225):  # past the cool-down, not yet probing; 150/s accepted
        clock.now += 1 / 150
        pacer.on_success()
    pacer.on_throttle()
    pacer.on_throttle()
    assert pacer.ceiling == ceiling  # arrival jitter, maybe
    pacer.on_throttle()  # 3 of the last 100 answers: more than jitter
    expected = pacer.accepted_rate()
    assert expected < ceiling
    assert pacer.ceiling == pytest.approx(expected)
    assert pacer.rate == pytest.approx(expected * pacer.margin)


def test_a_429_right_after_resuming_changes_nothing() -> None:
    clock = Clock()
    pacer = settled(clock)
    ceiling, rate = pacer.ceiling, pacer.rate
    clock.now += 0.5  # an answer to a request sent before: within the cool-down
    pacer.on_throttle()
    assert (pacer.ceiling, pacer.rate) == (ceiling, rate)


def test_the_part_of_the_last_probe_slot_is_regained_quickly() -> None:
    # 200 accepted in the first 0.2 s, then held back with probes widening to 0.25 s
    # apart: the server let the last one in at some time in its slot. The limiter resumes
    # as if at the middle of that slot and regains the rest at fill_growth a second.
    clock = Clock()
    start = clock.now
    pacer = AdaptiveRateLimiter(1000, clock=clock, min_rate=4)
    for _ in range(200):
        clock.now += 0.001
        pacer.on_success()
    for _ in range(6):
        pacer.on_throttle()
    while pacer.rate > 4:  # each probe refused
        clock.now += 1 / pacer.rate
        pacer.on_throttle()
    clock.now += 0.25
    pacer.on_success()
    elapsed = clock.now - start
    assert pacer.ceiling == pytest.approx(201 / (elapsed - 0.125))
    resumed = pacer.rate
    assert resumed == pytest.approx(pacer.ceiling * pacer.margin)
    clock.now += 1.0  # the cool-down
    pacer.on_success()
    clock.now += 0.5
    pacer.on_success()
    assert pacer.rate == pytest.approx(resumed * (1 + 0.5 * pacer.fill_growth))
    clock.now += 1.0
    pacer.on_success()  # no further than the most the measurement allows for
    assert pacer.rate == pytest.approx(201 / (elapsed - 0.25) * pacer.margin)


def test_the_constants_other_limiters_share_are_kept() -> None:
    # The shared (Redis) limiter reads these from this class.
    assert AdaptiveRateLimiter.decrease == 0.7
    assert AdaptiveRateLimiter.recovery == 0.05
    assert AdaptiveRateLimiter.window == 100
    assert AdaptiveRateLimiter.threshold == 0.05


def test_a_hold_ending_too_soon_to_measure_resumes_slower_and_regains_quickly() -> None:
    clock = Clock()
    pacer = AdaptiveRateLimiter(20, clock=clock)
    pacer.on_throttle()
    clock.now += 0.1
    pacer.on_success()  # 1 accepted in 0.1 s says nothing about the server's window
    assert not pacer.blocked
    assert pacer.rate == pytest.approx(14.0)
    clock.now += 1.0  # the cool-down
    pacer.on_success()
    clock.now += 1.0
    pacer.on_success()
    assert pacer.rate == pytest.approx(14.0 * (1 + pacer.fill_growth))
    for _ in range(4):
        clock.now += 1.0
        pacer.on_success()
    assert 20 * pacer.margin <= pacer.rate <= 20
