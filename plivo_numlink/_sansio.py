"""Sans-I/O helpers: build request paths and headers, turn answers into data or errors.

Nothing here touches the network, so all of it is tested with plain tables.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import json
import platform
import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import attrs

from ._errors import APIStatusError, CampaignNotFoundError, ResponseFormatError, status_error
from ._models import structure_body
from ._retry import parse_retry_after
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "CallStats",
    "auth_header",
    "campaign_path",
    "counting_attempts",
    "decode_json",
    "error_from_response",
    "is_campaign_missing_text",
    "note_attempt",
    "number_path",
    "parse_success",
    "user_agent",
    "validate_auth_id",
    "validate_base_url",
]

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.plivo.com"


@attrs.define
class CallStats:
    """Counts the HTTP attempts of one logical call (the bulk layer reports them)."""

    attempts: int = 0


#: The counters open in the current context (see :func:`counting_attempts`).
_OPEN_COUNTERS: contextvars.ContextVar[tuple[CallStats, ...]] = contextvars.ContextVar(
    "plivo_numlink_open_counters", default=()
)


@contextlib.contextmanager
def counting_attempts() -> Iterator[CallStats]:
    """Count the HTTP attempts made in this context, and in tasks started from it, meanwhile.

    A session is shared by concurrent jobs, so the difference of its ``requests_sent``
    before and after a job would count the other jobs' requests too; a context variable
    follows only this job's awaits and the tasks it starts.
    """
    stats = CallStats()
    token = _OPEN_COUNTERS.set((*_OPEN_COUNTERS.get(), stats))
    try:
        yield stats
    finally:
        _OPEN_COUNTERS.reset(token)


def note_attempt() -> None:
    """Record one HTTP attempt in every counter open in the current context."""
    for stats in _OPEN_COUNTERS.get():
        stats.attempts += 1


# Unreserved URL characters only (nothing to encode, nothing that changes the path); a
# segment of dots alone is refused below.
_AUTH_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")

#: The path templates, as they appear in logs (no ids, no numbers).
CAMPAIGN_TEMPLATE = "/v1/Account/{auth_id}/10dlc/Campaign/{campaign_id}/Number/"
NUMBER_TEMPLATE = CAMPAIGN_TEMPLATE + "{number}/"


def user_agent() -> str:
    """``plivo-numlink/X.Y.Z Python/3.N.M aiohttp/A.B.C``."""
    return (
        f"plivo-numlink/{__version__} Python/{platform.python_version()} "
        f"aiohttp/{aiohttp.__version__}"
    )


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


def auth_header(auth_id: str, auth_token: str) -> str:
    """The value of the ``Authorization`` header for HTTP Basic auth."""
    raw = f"{auth_id}:{auth_token}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def campaign_path(auth_id: str, campaign_id: str) -> str:
    """``/v1/Account/{auth_id}/10dlc/Campaign/{campaign_id}/Number/`` (inputs validated)."""
    return f"/v1/Account/{auth_id}/10dlc/Campaign/{campaign_id}/Number/"


def number_path(auth_id: str, campaign_id: str, number: str) -> str:
    """``.../Number/{number}/`` (inputs validated)."""
    return f"/v1/Account/{auth_id}/10dlc/Campaign/{campaign_id}/Number/{number}/"


def decode_json(text: str) -> Any:
    """The decoded body, or ``None`` when it is empty or not JSON."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


#: A phone number written in an error text (what names a number rather than the campaign).
DIGITS = re.compile(r"\+?\d[\d\s().\-]{8,16}\d")


def is_campaign_missing_text(status: int, message: str) -> bool:
    """Whether a 404's text is about the campaign itself (unknown campaign), not one number."""
    if status != 404:
        return False
    text = message.lower()
    return "campaign" in text and "this campaign" not in text and not DIGITS.search(text)


def _preview(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def error_from_response(
    status: int, headers: Mapping[str, str], text: str, *, method: str, path: str
) -> APIStatusError:
    """The typed error for a non-2xx answer, with Plivo's ``error`` text and ``api_id``."""
    body = decode_json(text)
    api_id: str | None = None
    message: str | None = None
    if isinstance(body, dict):
        raw_id = body.get("api_id")
        api_id = raw_id if isinstance(raw_id, str) else None
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                message = value
                break
            if isinstance(value, dict | list) and value:
                message = json.dumps(value, sort_keys=True)
                break
    if message is None:
        message = _preview(text) if text.strip() else "(empty body)"
    retry_after = parse_retry_after(headers)
    cls = status_error(status)
    if is_campaign_missing_text(status, message):
        cls = CampaignNotFoundError
    return cls(
        message,
        status_code=status,
        api_id=api_id,
        body=body,
        text=text,
        method=method,
        path=path,
        retry_after=retry_after,
    )


def parse_success(status: int, text: str, cls: type[T]) -> T:
    """Build ``cls`` from a 2xx body, or raise :class:`ResponseFormatError`."""
    if not text.strip():
        raise ResponseFormatError(
            f"empty body where {cls.__name__} was expected", status_code=status, text=text
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResponseFormatError(
            f"body is not JSON ({exc.msg} at position {exc.pos}) where {cls.__name__} was expected",
            status_code=status,
            text=text,
        ) from None
    except RecursionError:  # nesting deeper than the parser's recursion limit
        raise ResponseFormatError(
            f"body is not JSON (nested too deeply) where {cls.__name__} was expected",
            status_code=status,
            text=text,
        ) from None
    return structure_body(data, cls, status_code=status, text=text)
