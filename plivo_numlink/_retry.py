"""Retries: the policy, its pure decisions, the shared quota, and the one retried call.

:func:`call_with_retries` runs the decisions through tenacity for the transport; keeping
the decisions free of I/O lets them be tested as plain tables (``tests/retry/``).

The backoff before retry number ``n`` (1 for the first retry) is::

    min(wait_initial * 2 ** (n - 1), wait_max) * (1 - jitter * random())

unless the server sent ``Retry-After`` (or ``retry-after-ms``): then that delay replaces
it. A server delay longer than ``max_retry_after`` is not slept: the attempt fails with the
error the server gave (a :class:`~plivo_numlink.RateLimitError` for 429).
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import attrs
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt

from ._errors import (
    APIStatusError,
    CertificateVerificationError,
    ProxyAuthenticationError,
    TransportError,
)
from ._log import logger

__all__ = [
    "DEFAULT_RETRY",
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "RetryQuota",
    "backoff_delay",
    "call_with_retries",
    "is_retryable",
    "is_retryable_status",
    "parse_retry_after",
    "retry_delay",
]

T = TypeVar("T")

#: Statuses worth another try: timeouts, throttling and transient server faults.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def _positive_int(_: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"RetryPolicy.{attribute.name} must be an integer >= 1, not {value!r}")


def _non_negative(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"RetryPolicy.{attribute.name} must be a finite number >= 0, not {value!r}"
        )


def _fraction(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    _non_negative(_, attribute, value)
    if value > 1:
        raise ValueError(f"RetryPolicy.{attribute.name} must be between 0 and 1, not {value!r}")


@attrs.frozen
class RetryPolicy:
    """How often and how patiently a request is tried.

    ``attempts`` counts tries in all (1 = no retry). Waits grow exponentially from
    ``wait_initial`` to ``wait_max`` (seconds) with up to ``jitter`` (a fraction) taken off
    at random, so that many clients do not retry in step. A server ``Retry-After`` replaces
    the computed wait; one longer than ``max_retry_after`` ends the retries.

    ``RetryPolicy(wait_initial=0, wait_max=0)`` retries without sleeping (for tests), and
    ``RetryPolicy(attempts=1)`` turns retries off.
    """

    # Eight tries: a request facing 17% transient faults (5xx, 429, dropped connections)
    # then fails for good about once in 1.4 million, and the waits before giving up add up
    # to at most 31.5 s. A server that fails everything is held off by the RetryQuota.
    attempts: int = attrs.field(default=8, validator=_positive_int)
    wait_initial: float = attrs.field(default=0.5, validator=_non_negative)
    wait_max: float = attrs.field(default=8.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.25, validator=_fraction)

    @property
    def retries(self) -> int:
        """How many retries follow the first try."""
        return self.attempts - 1


DEFAULT_RETRY = RetryPolicy()


def is_retryable_status(status_code: int) -> bool:
    """Whether an answer with this status may succeed if sent again."""
    return status_code in RETRYABLE_STATUSES


def is_retryable(exc: BaseException, policy: RetryPolicy) -> bool:
    """Whether the failure ``exc`` of one attempt is worth another under ``policy``.

    Transport failures (connection errors, timeouts) and the statuses in
    :data:`RETRYABLE_STATUSES` are; other 4xx, malformed answers, input errors, a server
    certificate that fails verification and a proxy refusing the credentials (407) never are.
    A server that asks us to wait longer than ``max_retry_after`` is not retried either.
    """
    if isinstance(exc, TransportError):
        return not isinstance(exc, CertificateVerificationError | ProxyAuthenticationError)
    if isinstance(exc, APIStatusError):
        if not is_retryable_status(exc.status_code):
            return False
        return exc.retry_after is None or exc.retry_after <= policy.max_retry_after
    return False


def parse_retry_after(
    headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> float | None:
    """The delay in seconds a server asked for, or ``None``.

    Reads ``retry-after-ms`` (milliseconds), then ``Retry-After`` as seconds (fractions
    allowed) or as an HTTP date. Junk, infinities, NaN and negative values give ``None``;
    a date in the past gives ``0``.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = math.nan
        if math.isfinite(ms) and ms >= 0:
            return ms / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:  # pragma: no cover - depends on Python version
        return None
    return max(0.0, when.timestamp() - now())


def backoff_delay(
    retry_number: int, policy: RetryPolicy, *, rand: Callable[[], float] = random.random
) -> float:
    """The computed wait before retry ``retry_number`` (1 for the first retry)."""
    exponent = max(0, retry_number - 1)
    # Cap the exponent so huge retry counts cannot overflow a float.
    base = min(policy.wait_initial * 2.0 ** min(exponent, 64), policy.wait_max)
    return base * (1.0 - policy.jitter * rand())


def retry_delay(
    exc: BaseException | None,
    retry_number: int,
    policy: RetryPolicy,
    *,
    rand: Callable[[], float] = random.random,
) -> float:
    """The wait before retry ``retry_number`` after ``exc``: the server's, else backoff."""
    if isinstance(exc, APIStatusError) and exc.retry_after is not None:
        return min(exc.retry_after, policy.max_retry_after)
    return backoff_delay(retry_number, policy, rand=rand)


class RetryQuota:
    """A budget of retries shared by all requests of a session (botocore's retry quota).

    Each retry after a server fault or a transport failure spends ``retry_cost`` tokens;
    each success gives back ``refund``. When the tokens run out, failures are no longer
    retried until successes have refilled them, so a server that fails everything sees
    about ``capacity / retry_cost`` retries in all instead of ``attempts`` times every
    request. Retries after 429 cost nothing: throttling is the rate limiter's business.
    """

    # botocore spends 5 per retry; 3 keeps retrying through a steady 25% of transient
    # faults (each healthy answer refunds 1) while a dead server still gets ~166 retries.
    def __init__(self, capacity: int = 500, *, retry_cost: int = 3, refund: int = 1) -> None:
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.refund_amount = refund
        self.available = capacity

    def __repr__(self) -> str:
        return f"RetryQuota(available={self.available}/{self.capacity})"

    def cost(self, exc: BaseException) -> int:
        if isinstance(exc, APIStatusError) and exc.status_code == 429:
            return 0
        return self.retry_cost

    def try_spend(self, exc: BaseException) -> bool:
        """Take the cost of retrying after ``exc``; False when the budget cannot pay it."""
        cost = self.cost(exc)
        if cost > self.available:
            return False
        self.available -= cost
        return True

    def refund(self) -> None:
        """A request succeeded: give some tokens back."""
        if self.available < self.capacity:
            self.available = min(self.capacity, self.available + self.refund_amount)


def short_reason(exc: BaseException | None) -> str:
    """A one-line reason for logs (never a body)."""
    if exc is None:
        return "no error"
    if isinstance(exc, APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message[:200]}"
    cause = exc.__cause__
    if cause is not None:
        return f"{type(cause).__name__}: {str(cause)[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    quota: RetryQuota,
    sleep: Callable[[float], Awaitable[None]],
    method: str,
    template: str,
    first_failure: Exception | None = None,
) -> T:
    """Await ``attempt()`` until it succeeds or ``policy`` and ``quota`` say stop.

    ``method`` and ``template`` only name the request in the logs. The last failure is
    raised as it is. ``first_failure``: the caller already made the first attempt (outside
    tenacity, whose bookkeeping costs about as much CPU per call as the HTTP exchange
    itself) and it failed so; it is replayed as tenacity's first attempt, so retries,
    waits, the quota and the logs are exactly what tenacity alone gives.
    """
    if first_failure is None:
        try:
            return await attempt()
        except Exception as exc:
            if not is_retryable(exc, policy):
                raise  # a definitive answer: nothing for tenacity to decide
            first_failure = exc
    replay: list[Exception] = [first_failure]

    async def replay_then_attempt() -> T:
        if replay:
            raise replay.pop()
        return await attempt()

    def should_retry(state: RetryCallState) -> bool:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if exc is None or not is_retryable(exc, policy):
            return False
        if state.attempt_number >= policy.attempts:
            return False  # tenacity's stop would end it anyway: spend nothing
        if quota.try_spend(exc):
            return True
        logger.warning(
            "not retrying: the session's retry quota is spent (the server keeps failing)"
        )
        return False

    def before_sleep(state: RetryCallState) -> None:
        outcome = state.outcome
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.debug(
            "retrying %s %s after attempt %d/%d failed (%s); waiting %.3f s",
            method,
            template,
            state.attempt_number,
            policy.attempts,
            short_reason(outcome.exception() if outcome is not None else None),
            wait,
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        retry=should_retry,
        wait=lambda state: retry_delay(
            state.outcome.exception() if state.outcome is not None else None,
            state.attempt_number,
            policy,
        ),
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
    tries = 0

    async def counted() -> T:
        nonlocal tries
        tries += 1
        return await replay_then_attempt()

    try:
        return await retrying(counted)
    except (APIStatusError, TransportError) as exc:
        # A definitive answer (a 4xx) is the caller's business, not a warning.
        if is_retryable(exc, policy):
            logger.warning(
                "giving up on %s %s after %d attempt(s): %s",
                method,
                template,
                tries,
                short_reason(exc),
            )
        raise
