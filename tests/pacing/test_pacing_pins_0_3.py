"""Pins on the in-process limiter that a mutation sample found unpinned (issue 18): what it
remembers of accepted answers stays bounded by its measuring span, and the time after a
hold within which an answer may be a straggler."""

from __future__ import annotations

from plivo_numlink._pacing import AdaptiveRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_accepted_answers_remembered_cover_the_measuring_span_only() -> None:
    clock = Clock()
    limiter = AdaptiveRateLimiter(100, clock=clock)
    buckets_in_span = int(limiter.span / limiter._bucket)
    for _ in range(100_000):  # 1,000 s of answers at 100 per second, no rate ever asked
        clock.now += 0.01
        limiter.on_success()
    assert len(limiter._accepted) <= buckets_in_span + 2


def test_answers_later_than_one_second_after_a_hold_are_never_stragglers() -> None:
    assert AdaptiveRateLimiter.straggle_time == 1.0
