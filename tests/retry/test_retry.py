"""Retry decisions, tested as tables: which failures are retried, how long to wait, and how
a server's Retry-After is read (with a frozen clock)."""

from __future__ import annotations

import email.utils
import math
from typing import Any

import attrs
import pytest
from multidict import CIMultiDict

from plivo_numlink import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    InvalidNumberError,
    NotFoundError,
    ProxyAuthenticationError,
    RateLimitError,
    ResponseFormatError,
    RetryPolicy,
    ServerError,
    SessionClosedError,
    TransportError,
)
from plivo_numlink._errors import ConfigurationError
from plivo_numlink._retry import (
    DEFAULT_RETRY,
    RETRYABLE_STATUSES,
    backoff_delay,
    is_retryable,
    is_retryable_status,
    parse_retry_after,
    retry_delay,
)

#: A frozen "now": 2024-01-01 00:00:00 UTC.
NOW = 1_704_067_200.0


def frozen_now() -> float:
    return NOW


def http_date(offset: float) -> str:
    return email.utils.formatdate(NOW + offset, usegmt=True)


def status_error(cls: type[APIStatusError], status: int, retry_after: float | None = None) -> Any:
    return cls("boom", status_code=status, retry_after=retry_after)


# ---------------------------------------------------------------------------------------------
# RetryPolicy


def test_retry_policy_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.wait_initial, policy.wait_max) == (8, 0.5, 8.0)
    assert (policy.max_retry_after, policy.jitter) == (60.0, 0.25)


def test_default_retry_is_the_default_policy() -> None:
    assert RetryPolicy() == DEFAULT_RETRY


@pytest.mark.parametrize(("attempts", "retries"), [(1, 0), (2, 1), (4, 3)])
def test_retries_are_attempts_after_the_first(attempts: int, retries: int) -> None:
    assert RetryPolicy(attempts=attempts).retries == retries


def test_retry_policy_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        RetryPolicy().attempts = 9  # type: ignore[misc]


def test_retry_policy_accepts_zero_waits() -> None:
    policy = RetryPolicy(wait_initial=0, wait_max=0, max_retry_after=0, jitter=0)
    assert policy.wait_max == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("attempts", 0),
        ("attempts", -1),
        ("attempts", 1.5),
        ("attempts", True),
        ("attempts", "3"),
        ("wait_initial", -0.1),
        ("wait_initial", math.inf),
        ("wait_initial", math.nan),
        ("wait_initial", True),
        ("wait_initial", "1"),
        ("wait_max", -1),
        ("max_retry_after", math.inf),
        ("jitter", 1.5),
        ("jitter", -0.5),
    ],
)
def test_retry_policy_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"RetryPolicy.{field}"):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]


def test_retry_policy_error_is_not_a_configuration_error_of_the_session() -> None:
    # It is raised where the policy is built, before any session exists.
    with pytest.raises(ValueError) as info:
        RetryPolicy(attempts=0)
    assert not isinstance(info.value, ConfigurationError)


# ---------------------------------------------------------------------------------------------
# Which failures are retried


def test_retryable_statuses_are_timeouts_throttling_and_transient_server_faults() -> None:
    assert frozenset({408, 429, 500, 502, 503, 504}) == RETRYABLE_STATUSES


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (405, False),
        (409, False),
        (422, False),
        (501, False),
        (505, False),
        (200, False),
    ],
)
def test_is_retryable_status(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


POLICY = RetryPolicy(max_retry_after=60)


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        pytest.param(TransportError("connection refused"), True, id="transport"),
        pytest.param(ProxyAuthenticationError("proxy: 407"), False, id="proxy-407"),
        pytest.param(status_error(ServerError, 500), True, id="500"),
        pytest.param(status_error(ServerError, 502), True, id="502"),
        pytest.param(status_error(ServerError, 503), True, id="503"),
        pytest.param(status_error(ServerError, 504), True, id="504"),
        pytest.param(status_error(BadRequestError, 408), True, id="408"),
        pytest.param(status_error(RateLimitError, 429), True, id="429"),
        pytest.param(status_error(RateLimitError, 429, 60.0), True, id="429-at-cap"),
        pytest.param(status_error(RateLimitError, 429, 0.0), True, id="429-retry-after-zero"),
        pytest.param(status_error(RateLimitError, 429, 60.5), False, id="429-over-cap"),
        pytest.param(status_error(ServerError, 503, 3600.0), False, id="503-over-cap"),
        pytest.param(status_error(BadRequestError, 400), False, id="400"),
        pytest.param(status_error(AuthenticationError, 401), False, id="401"),
        pytest.param(status_error(ForbiddenError, 403), False, id="403"),
        pytest.param(status_error(NotFoundError, 404), False, id="404"),
        pytest.param(status_error(BadRequestError, 409), False, id="409"),
        pytest.param(status_error(BadRequestError, 422), False, id="422"),
        pytest.param(status_error(ServerError, 501), False, id="501"),
        pytest.param(
            ResponseFormatError("bad", status_code=200, text=""), False, id="response-format"
        ),
        pytest.param(SessionClosedError("closed"), False, id="session-closed"),
        pytest.param(InvalidNumberError("bad number"), False, id="invalid-number"),
        pytest.param(ValueError("bad input"), False, id="value-error"),
        pytest.param(RuntimeError("bug"), False, id="runtime-error"),
    ],
)
def test_is_retryable(exc: BaseException, retryable: bool) -> None:
    assert is_retryable(exc, POLICY) is retryable


# ---------------------------------------------------------------------------------------------
# Reading Retry-After (frozen clock)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, None, id="absent"),
        pytest.param({"retry-after": "5"}, 5.0, id="integer"),
        pytest.param({"retry-after": "0"}, 0.0, id="zero"),
        pytest.param({"retry-after": "1.5"}, 1.5, id="fraction"),
        pytest.param({"retry-after": "0.25"}, 0.25, id="small-fraction"),
        pytest.param({"retry-after": " 7 "}, 7.0, id="padded"),
        pytest.param({"retry-after": "1e2"}, 100.0, id="exponent"),
        pytest.param({"retry-after": "3600"}, 3600.0, id="over-any-cap-still-parsed"),
        pytest.param({"retry-after": ""}, None, id="empty"),
        pytest.param({"retry-after": "   "}, None, id="blank"),
        pytest.param({"retry-after": "-1"}, None, id="negative"),
        pytest.param({"retry-after": "-0.5"}, None, id="negative-fraction"),
        pytest.param({"retry-after": "inf"}, None, id="inf"),
        pytest.param({"retry-after": "Infinity"}, None, id="infinity"),
        pytest.param({"retry-after": "-inf"}, None, id="minus-inf"),
        pytest.param({"retry-after": "nan"}, None, id="nan"),
        pytest.param({"retry-after": "soon"}, None, id="junk"),
        pytest.param({"retry-after": "5 seconds"}, None, id="junk-with-number"),
        pytest.param({"retry-after": http_date(30)}, 30.0, id="future-date"),
        pytest.param({"retry-after": http_date(0)}, 0.0, id="date-now"),
        pytest.param({"retry-after": http_date(-30)}, 0.0, id="past-date"),
        pytest.param({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0, id="long-past-date"),
        pytest.param({"retry-after": "Wed, 21 Oct 2015 07:28:00"}, None, id="date-no-zone"),
        pytest.param({"retry-after": "Mon, 99 Foo 2024 99:99:99 GMT"}, None, id="broken-date"),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="ms"),
        pytest.param({"retry-after-ms": "0"}, 0.0, id="ms-zero"),
        pytest.param({"retry-after-ms": "250.5"}, 0.2505, id="ms-fraction"),
        pytest.param({"retry-after-ms": "1500", "retry-after": "9"}, 1.5, id="ms-wins"),
        pytest.param({"retry-after-ms": "junk", "retry-after": "9"}, 9.0, id="bad-ms-falls-back"),
        pytest.param({"retry-after-ms": "nan", "retry-after": "9"}, 9.0, id="nan-ms-falls-back"),
        pytest.param({"retry-after-ms": "inf", "retry-after": "9"}, 9.0, id="inf-ms-falls-back"),
        pytest.param(
            {"retry-after-ms": "-5", "retry-after": "9"}, 9.0, id="negative-ms-falls-back"
        ),
        pytest.param({"retry-after-ms": "", "retry-after": "9"}, 9.0, id="empty-ms-falls-back"),
        pytest.param({"retry-after-ms": "junk"}, None, id="bad-ms-alone"),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    result = parse_retry_after(headers, now=frozen_now)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_parse_retry_after_reads_headers_in_any_case() -> None:
    # aiohttp gives case-insensitive headers; the server may spell them any way.
    headers = CIMultiDict({"Retry-After": "4"})
    assert parse_retry_after(headers, now=frozen_now) == 4.0


def test_parse_retry_after_reads_ms_header_in_any_case() -> None:
    headers = CIMultiDict({"Retry-After-Ms": "40"})
    assert parse_retry_after(headers, now=frozen_now) == pytest.approx(0.04)


def test_parse_retry_after_measures_dates_against_the_clock() -> None:
    headers = {"retry-after": http_date(120)}
    assert parse_retry_after(headers, now=lambda: NOW + 100) == pytest.approx(20.0)


# ---------------------------------------------------------------------------------------------
# Backoff


BACKOFF = RetryPolicy(wait_initial=0.5, wait_max=8.0, jitter=0.25)


@pytest.mark.parametrize(
    ("retry_number", "rand", "expected"),
    [
        (1, 0.0, 0.5),
        (2, 0.0, 1.0),
        (3, 0.0, 2.0),
        (4, 0.0, 4.0),
        (5, 0.0, 8.0),
        (6, 0.0, 8.0),  # capped at wait_max
        (100, 0.0, 8.0),
        (10_000, 0.0, 8.0),  # no float overflow
        (0, 0.0, 0.5),  # retry 0 is treated as the first
        (-3, 0.0, 0.5),
        (1, 1.0, 0.375),  # the most jitter takes a quarter off
        (5, 1.0, 6.0),
        (3, 0.5, 1.75),
    ],
)
def test_backoff_delay(retry_number: int, rand: float, expected: float) -> None:
    assert backoff_delay(retry_number, BACKOFF, rand=lambda: rand) == pytest.approx(expected)


def test_backoff_delay_without_jitter_ignores_randomness() -> None:
    policy = RetryPolicy(wait_initial=1, wait_max=10, jitter=0)
    assert backoff_delay(2, policy, rand=lambda: 0.99) == 2.0


def test_backoff_delay_is_zero_for_a_zero_wait_policy() -> None:
    policy = RetryPolicy(wait_initial=0, wait_max=0)
    assert backoff_delay(7, policy) == 0.0


@pytest.mark.parametrize("retry_number", [1, 2, 5, 20])
def test_backoff_delay_with_real_randomness_stays_within_the_jitter_band(
    retry_number: int,
) -> None:
    base = min(0.5 * 2 ** (retry_number - 1), 8.0)
    for _ in range(200):
        assert 0.75 * base <= backoff_delay(retry_number, BACKOFF) <= base


# ---------------------------------------------------------------------------------------------
# The delay before a retry


@pytest.mark.parametrize(
    ("exc", "retry_number", "expected"),
    [
        pytest.param(status_error(RateLimitError, 429, 3.0), 1, 3.0, id="server-delay-wins"),
        pytest.param(status_error(RateLimitError, 429, 0.0), 4, 0.0, id="server-says-now"),
        pytest.param(status_error(ServerError, 503, 2.5), 1, 2.5, id="503-with-delay"),
        pytest.param(status_error(RateLimitError, 429, 500.0), 1, 60.0, id="capped"),
        pytest.param(status_error(RateLimitError, 429), 3, 2.0, id="429-without-delay"),
        pytest.param(status_error(ServerError, 500), 1, 0.5, id="500-backoff"),
        pytest.param(TransportError("reset"), 2, 1.0, id="transport-backoff"),
        pytest.param(None, 1, 0.5, id="no-exception"),
    ],
)
def test_retry_delay(exc: BaseException | None, retry_number: int, expected: float) -> None:
    policy = RetryPolicy(wait_initial=0.5, wait_max=8, max_retry_after=60, jitter=0)
    assert retry_delay(exc, retry_number, policy) == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# The one retried call (call_with_retries), without a network


async def test_call_with_retries_retries_transient_failures_until_success() -> None:
    from plivo_numlink._retry import RetryQuota, call_with_retries

    failures = [ServerError("down", status_code=503), TransportError("reset")]
    waits: list[float] = []

    async def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(attempts=3, wait_initial=1, wait_max=1, jitter=0)
    result = await call_with_retries(
        attempt, policy=policy, quota=RetryQuota(), sleep=sleep, method="GET", template="/x"
    )
    assert result == "ok"
    assert waits == [1.0, 1.0]


async def test_call_with_retries_raises_a_definitive_failure_at_once() -> None:
    from plivo_numlink._retry import RetryQuota, call_with_retries

    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        raise BadRequestError("no", status_code=400)

    async def sleep(seconds: float) -> None:
        raise AssertionError("no wait before a definitive failure")

    with pytest.raises(BadRequestError):
        await call_with_retries(
            attempt,
            policy=RetryPolicy(),
            quota=RetryQuota(),
            sleep=sleep,
            method="GET",
            template="/x",
        )
    assert calls == 1
