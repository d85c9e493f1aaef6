"""Pins on the retry logs that a mutation sample found unpinned (issue 18): the wait each
debug line announces is the one slept, and a failure's cause is cut at 200 characters."""

from __future__ import annotations

import logging
import re

import pytest

from plivo_numlink import BadRequestError, RetryPolicy, TransportError
from plivo_numlink._retry import RetryQuota, call_with_retries, short_reason


@pytest.mark.parametrize("first_failure", [False, True], ids=["own-first-try", "replayed"])
async def test_each_retry_debug_line_announces_the_wait_then_slept(
    caplog: pytest.LogCaptureFixture, first_failure: bool
) -> None:
    # The transport makes the first attempt itself and hands its failure over: "replayed".
    failures = 2 if first_failure else 3
    slept: list[float] = []

    async def attempt() -> str:
        nonlocal failures
        if failures:
            failures -= 1
            raise TransportError("connection reset", method="GET", path="/x")
        return "ok"

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    policy = RetryPolicy(attempts=5, wait_initial=1, wait_max=30)
    with caplog.at_level(logging.DEBUG, logger="plivo_numlink"):
        result = await call_with_retries(
            attempt,
            policy=policy,
            quota=RetryQuota(),
            sleep=sleep,
            method="GET",
            template="/x",
            first_failure=TransportError("reset", method="GET", path="/x")
            if first_failure
            else None,
        )
    assert result == "ok"
    announced = [
        m.group(1)
        for m in (re.search(r"waiting ([0-9.]+) s$", r.getMessage()) for r in caplog.records)
        if m
    ]
    assert len(slept) == 3
    assert all(seconds > 0 for seconds in slept)
    assert announced == [f"{seconds:.3f}" for seconds in slept]


def test_a_status_error_s_reason_keeps_200_characters_of_its_message() -> None:
    error = BadRequestError("m" * 201, status_code=400)
    assert short_reason(error) == "HTTP 400: " + "m" * 200


def test_a_transport_error_s_reason_keeps_200_characters_of_its_cause() -> None:
    error = TransportError("failed", method="GET", path="/x")
    error.__cause__ = OSError("c" * 201)
    assert short_reason(error) == "OSError: " + "c" * 200


def test_an_error_without_a_cause_keeps_200_characters_of_its_text() -> None:
    assert short_reason(ValueError("v" * 201)) == "ValueError: " + "v" * 200
    assert short_reason(ValueError("v" * 200)) == "ValueError: " + "v" * 200
