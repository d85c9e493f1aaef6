"""Pins on retry decisions that a mutation run found unpinned (issue 10, item 17)."""

from __future__ import annotations

import pytest

from plivo_numlink import RateLimitError, ServerError
from plivo_numlink._retry import DEFAULT_RETRY, RetryQuota, parse_retry_after, retry_delay
from plivo_numlink._session import NumLinkSession


def test_a_refund_gives_back_one_refund_not_the_whole_budget() -> None:
    # Mutant: min -> max in RetryQuota.refund (every success would refill the quota).
    quota = RetryQuota(capacity=10, retry_cost=3, refund=1)
    assert quota.try_spend(ServerError("x", status_code=500))
    assert quota.try_spend(ServerError("x", status_code=500))
    assert quota.available == 4
    quota.refund()
    assert quota.available == 5
    for _ in range(10):
        quota.refund()
    assert quota.available == 10  # never above the capacity


def test_the_default_retry_quota_is_pinned() -> None:
    quota = RetryQuota()
    assert (quota.capacity, quota.retry_cost, quota.refund_amount) == (500, 3, 1)
    assert quota.available == 500
    session_quota = NumLinkSession("MA0123456789ABCDEFGH", "token-pins-0123").retry_quota
    assert (session_quota.capacity, session_quota.retry_cost, session_quota.refund_amount) == (
        500,
        3,
        1,
    )
    # ~166 retries against a server that fails everything, and 429s cost nothing.
    assert quota.capacity // quota.retry_cost == 166
    assert quota.cost(RateLimitError("slow down", status_code=429)) == 0


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "0"}, 0.0),
    ],
)
def test_sub_second_and_zero_retry_after_are_read_and_obeyed(
    headers: dict[str, str], delay: float
) -> None:
    # Mutants: a sub-second or zero server delay ignored (replaced by the backoff).
    assert parse_retry_after(headers) == pytest.approx(delay)
    error = RateLimitError("slow down", status_code=429, retry_after=delay)
    for retry_number in (1, 5):
        assert retry_delay(error, retry_number, DEFAULT_RETRY, rand=lambda: 0.0) == pytest.approx(
            delay
        )
