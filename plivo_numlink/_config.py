"""Defaults and validated configuration: what a session and its bulk calls are set up with.

Every check of a user-given setting lives here, so the session, the bulk engine and the
command line refuse the same values with the same words. Public defaults are re-exported
by :mod:`plivo_numlink.defaults`.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._errors import ConfigurationError
from ._retry import DEFAULT_RETRY, RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WAIT_TIMEOUT",
    "UNSET",
    "SessionConfig",
    "WaitPolicy",
    "check_batch_size",
    "progress_hook",
    "renamed",
    "validate_auth_id",
    "validate_base_url",
    "wait_policy",
]

DEFAULT_BASE_URL = "https://api.plivo.com"
#: Plivo documents no cap on simultaneous API requests; 20 in flight sustain the default
#: rate at up to 400 ms per request (Little's law) without holding more connections open.
DEFAULT_CONCURRENCY = 20
#: Plivo's default account limit is 300 requests per 5 s (60/s) for all APIs together;
#: 50/s leaves a sixth of it to whatever else the account is doing.
DEFAULT_RATE_LIMIT: float | None = 50.0
#: Seconds for one HTTP attempt (connect, send, read the whole answer).
DEFAULT_TIMEOUT = 30.0
#: Numbers per link request. Plivo documents no cap; 50 keeps a rejected batch cheap to
#: bisect (at most ~6 extra requests per bad number) while 10,000 numbers need only 200
#: requests (4 s at the default 50 requests/s).
DEFAULT_BATCH_SIZE = 50
#: Defaults for waiting on Plivo's processing.
DEFAULT_WAIT_TIMEOUT = 300.0
DEFAULT_POLL_INTERVAL = 5.0
#: The longest pause between polling rounds once rounds stop seeing progress.
DEFAULT_MAX_POLL_INTERVAL = 60.0
#: Units that may fail in a row (after their retries) before a bulk job stops.
MIN_ERROR_BUDGET = 10
#: Where the base URL comes from when ``base_url`` is not given.
BASE_URL_ENV = "PLIVO_NUMLINK_BASE_URL"

# Unreserved URL characters only (nothing to encode, nothing that changes the path); a
# segment of dots alone is refused below.
_AUTH_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")


def validate_auth_id(auth_id: str) -> str:
    if not _AUTH_ID.fullmatch(auth_id) or not auth_id.strip("."):
        raise ValueError(
            "auth_id must be 1 to 64 ASCII letters, digits, '-', '_', '.' or '~' (Plivo "
            "auth ids look like 'MA' followed by 18 letters and digits)"
        )
    return auth_id


def validate_base_url(base_url: object) -> str:
    """An absolute http(s) origin, optionally with a path prefix; no query or fragment."""
    if not isinstance(base_url, str):
        raise ValueError(f"base_url must be a string, not {type(base_url).__name__}")
    # The URL may carry a password (even the auth token): never repeat it in a message.
    shown = re.sub(r"(?<=//)[^/?#]*@", "***@", base_url)
    try:
        parts = urlsplit(base_url)
        # A bad port or IPv6 literal must fail here, not as a TransportError on every request.
        parts.port  # noqa: B018
    except ValueError:
        raise ValueError(f"base_url {shown!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"base_url {shown!r} is not an absolute http(s) URL such as {DEFAULT_BASE_URL!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"base_url {shown!r} must not carry credentials, a query or fragment")
    return base_url.rstrip("/")


def check_positive_number(name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(f"{name} must be a finite number > 0, not {value!r}")


def check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, not {batch_size!r}")
    return batch_size


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, not {value!r}")
    return float(value)


#: The default of a deprecated argument: told apart from any value a caller passes.
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "<unset>"})()


def renamed(
    old: str,
    new: str,
    old_value: object,
    new_value: object,
    default: object,
    *,
    stacklevel: int = 3,
) -> object:
    """A renamed argument's value: the new spelling's, or the old one's with a warning.

    ``old_value`` is :data:`UNSET` unless the caller used the old spelling; giving both
    (the new one other than its ``default``) raises ``TypeError``. The warning points at
    the caller of the public method.
    """
    if old_value is UNSET:
        return new_value
    warnings.warn(
        f"{old}= is deprecated; use {new}= (the same meaning)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    if new_value != default:
        raise TypeError(f"give {new}= only, not both {new}= and {old}=")
    return old_value


def progress_hook(
    on_progress: object, *, stacklevel: int = 3
) -> Callable[[int, int], object] | None:
    """The deprecated ``on_progress`` hook, warned about when given."""
    if on_progress is None or on_progress is UNSET:
        return None
    warnings.warn(
        "on_progress= is deprecated; use on_outcome=, called with each number's outcome as "
        "the wait settles it (count them for a progress display)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    if not callable(on_progress):
        raise TypeError(f"on_progress must be callable, not {type(on_progress).__name__}")
    return on_progress


@attrs.frozen
class WaitPolicy:
    """How long to wait for Plivo's processing (a deadline), how often to look, what to tell.

    Polling backs off: after a round that settled nothing the next pause doubles, from
    ``poll_interval`` up to ``max_poll_interval``; a round that settled a number brings it
    back to ``poll_interval``. ``events`` (a :class:`~plivo_numlink.callbacks.EventHub`)
    settles numbers from their callbacks; polling is then the safety net.
    """

    timeout: float = DEFAULT_WAIT_TIMEOUT
    poll_interval: float = DEFAULT_POLL_INTERVAL
    #: Called with (done, pending) after each polling round (deprecated public hook).
    on_progress: Callable[[int, int], object] | None = attrs.field(default=None, eq=False)
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL
    #: An EventHub (typed loosely: the hub lives in a higher layer).
    events: Any = attrs.field(default=None, eq=False)
    #: Called with each waited number's outcome once the wait settles it.
    on_outcome: Callable[[Any], object] | None = attrs.field(default=None, eq=False)

    @classmethod
    def checked(
        cls,
        timeout: object,
        poll_interval: object,
        on_progress: Callable[[int, int], object] | None = None,
        *,
        max_poll_interval: object = DEFAULT_MAX_POLL_INTERVAL,
        events: object = None,
        on_outcome: Callable[[Any], object] | None = None,
    ) -> WaitPolicy:
        """The policy, or ``ValueError`` naming the bad value (``timeout`` first)."""
        seconds = _non_negative("timeout", timeout), _non_negative("poll_interval", poll_interval)
        most = _non_negative("max_poll_interval", max_poll_interval)
        if events is not None and not callable(getattr(events, "watch", None)):
            raise ValueError(f"events must be a callbacks.EventHub, not {type(events).__name__}")
        return cls(
            *seconds,
            on_progress,
            max_poll_interval=max(most, seconds[1]),
            events=events,
            on_outcome=on_outcome,
        )


def wait_policy(
    timeout: object,
    poll_interval: object,
    max_poll_interval: object,
    events: object,
    on_outcome: Callable[[Any], object] | None,
    *,
    wait_timeout: object = UNSET,
    on_progress: object = None,
) -> WaitPolicy:
    """A public call's waiting arguments checked, its deprecated spellings warned about.

    The warnings point at the caller of the public method that called this.
    """
    timeout = renamed(
        "wait_timeout", "timeout", wait_timeout, timeout, DEFAULT_WAIT_TIMEOUT, stacklevel=4
    )
    return WaitPolicy.checked(
        timeout,
        poll_interval,
        progress_hook(on_progress, stacklevel=4),
        max_poll_interval=max_poll_interval,
        events=events,
        on_outcome=on_outcome,
    )


@attrs.frozen
class SessionConfig:
    """A session's settings, each checked (``ConfigurationError`` names the bad one)."""

    auth_id: str
    auth_token: str = attrs.field(repr=False)
    base_url: str
    concurrency: int
    rate_limit: float | None
    retry: RetryPolicy
    timeout: float

    @classmethod
    def build(
        cls,
        auth_id: object,
        auth_token: object,
        *,
        base_url: object = None,
        concurrency: object = DEFAULT_CONCURRENCY,
        rate_limit: object = DEFAULT_RATE_LIMIT,
        retry: object = DEFAULT_RETRY,
        timeout: object = DEFAULT_TIMEOUT,
    ) -> SessionConfig:
        """Check the arguments of ``NumLinkSession``; ``None`` credentials come from the env."""
        if auth_id is None:
            auth_id = os.environ.get("PLIVO_AUTH_ID") or None
        if auth_token is None:
            auth_token = os.environ.get("PLIVO_AUTH_TOKEN") or None
        if not auth_id:
            raise ConfigurationError(
                "no auth_id: pass auth_id= or set the PLIVO_AUTH_ID environment variable"
            )
        if not auth_token:
            raise ConfigurationError(
                "no auth_token: pass auth_token= or set the PLIVO_AUTH_TOKEN environment variable"
            )
        if not isinstance(auth_id, str):
            raise ConfigurationError(f"auth_id must be a string, not {type(auth_id).__name__}")
        if not isinstance(auth_token, str):
            raise ConfigurationError("auth_token must be a string")
        if base_url is None:
            base_url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        try:
            auth_id = validate_auth_id(auth_id)
            base_url = validate_base_url(base_url)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be an integer >= 1, not {concurrency!r}")
        check_positive_number("rate_limit", rate_limit, allow_none=True)
        check_positive_number("timeout", timeout)
        if not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        return cls(
            auth_id=auth_id,
            auth_token=auth_token,
            base_url=base_url,
            concurrency=concurrency,
            rate_limit=rate_limit,  # type: ignore[arg-type]
            retry=retry,
            timeout=float(timeout),  # type: ignore[arg-type]
        )
