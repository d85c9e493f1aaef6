"""The session-wide retry quota: a server that fails everything is not retried forever."""

from __future__ import annotations

import pytest

import plivo_numlink as pn
from plivo_numlink._errors import RateLimitError, ServerError, TransportError
from plivo_numlink._retry import RetryQuota
from plivo_numlink.testing import FakePlivo

ZERO_WAIT = pn.RetryPolicy(attempts=6, wait_initial=0, wait_max=0)


def server_error() -> ServerError:
    return ServerError("boom", status_code=503)


def test_a_retry_after_a_server_fault_costs_the_retry_cost() -> None:
    quota = RetryQuota(capacity=10, retry_cost=5)
    assert quota.try_spend(server_error())
    assert quota.available == 5


def test_a_retry_after_a_transport_failure_costs_the_retry_cost() -> None:
    quota = RetryQuota(capacity=10, retry_cost=5)
    assert quota.try_spend(TransportError("reset"))
    assert quota.available == 5


def test_a_retry_after_429_costs_nothing() -> None:
    quota = RetryQuota(capacity=10, retry_cost=5)
    assert quota.try_spend(RateLimitError("slow down", status_code=429))
    assert quota.available == 10


def test_an_empty_quota_refuses_a_retry() -> None:
    quota = RetryQuota(capacity=4, retry_cost=5)
    assert not quota.try_spend(server_error())
    assert quota.available == 4


def test_success_refunds_up_to_the_capacity() -> None:
    quota = RetryQuota(capacity=10, retry_cost=5, refund=1)
    quota.try_spend(server_error())
    for _ in range(20):
        quota.refund()
    assert quota.available == 10


def test_repr_shows_what_is_left() -> None:
    assert repr(RetryQuota(capacity=10)) == "RetryQuota(available=10/10)"


async def test_a_server_failing_everything_gets_a_bounded_number_of_retries() -> None:
    async with (
        FakePlivo(error_rates={503: 1.0}) as fake,
        pn.NumLinkSession(
            fake.auth_id,
            fake.auth_token,
            base_url=fake.base_url,
            rate_limit=None,
            retry=ZERO_WAIT,
        ) as session,
    ):
        for _ in range(200):
            with pytest.raises(pn.ServerError):
                await session.get_number("CUOGHIN", "12125557777")
    retries = len(fake.requests) - 200
    assert retries == session.retry_quota.capacity // session.retry_quota.retry_cost


async def test_successes_keep_the_quota_full_under_occasional_faults() -> None:
    async with (
        FakePlivo(error_rates={503: 0.1}, seed=3) as fake,
        pn.NumLinkSession(
            fake.auth_id,
            fake.auth_token,
            base_url=fake.base_url,
            rate_limit=None,
            retry=ZERO_WAIT,
        ) as session,
    ):
        report = await session.unlink_many("CUOGHIN", [f"1212555{i:04d}" for i in range(500)])
    assert report.ok
    assert session.retry_quota.available > session.retry_quota.capacity // 2
