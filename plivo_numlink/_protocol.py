"""The Number Linking protocol, sans I/O: paths, headers, answers, and what answers mean.

Builds request paths and headers, turns answers into results or typed errors, and holds the
one classifier of error answers (:func:`classify`): whether a failure is transient, whether
a 4xx is the server's final word on the request, whether it says the desired state already
holds ("already linked", "not linked"), whether the campaign itself is missing, and which
numbers an error names. Nothing here touches the network, so all of it is tested with
plain tables.
"""

from __future__ import annotations

import base64
import json
import platform
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, TypeVar

import aiohttp
import attrs

from ._config import DEFAULT_BASE_URL, validate_auth_id, validate_base_url
from ._errors import (
    MAX_KEPT_BODY,
    APIStatusError,
    CampaignNotFoundError,
    ResponseFormatError,
    status_error,
)
from ._log import redact
from ._models import CampaignNumbers, LinkAck, NumberStatus, structure_body
from ._numbers import try_normalize_number
from ._retry import is_retryable_status, parse_retry_after
from ._version import __version__

__all__ = [
    "CAMPAIGN_TEMPLATE",
    "DEFAULT_BASE_URL",
    "NUMBER_TEMPLATE",
    "Answer",
    "Verdict",
    "ack_api_id",
    "auth_header",
    "campaign_path",
    "classify",
    "decode_json",
    "error_from_response",
    "find_status",
    "is_already_in_state",
    "is_campaign_missing",
    "number_path",
    "numbers_named",
    "parse_ack",
    "parse_success",
    "user_agent",
    "validate_auth_id",
    "validate_base_url",
]

T = TypeVar("T")

#: The path templates, as they appear in logs (no ids, no numbers).
CAMPAIGN_TEMPLATE = "/v1/Account/{auth_id}/10dlc/Campaign/{campaign_id}/Number/"
NUMBER_TEMPLATE = CAMPAIGN_TEMPLATE + "{number}/"


class Answer(NamedTuple):
    """A 2xx answer, read whole (a named tuple: one is made per request)."""

    status: int
    text: str


def user_agent() -> str:
    """``plivo-numlink/X.Y.Z Python/3.N.M aiohttp/A.B.C``."""
    return (
        f"plivo-numlink/{__version__} Python/{platform.python_version()} "
        f"aiohttp/{aiohttp.__version__}"
    )


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
_ALREADY_LINKED = re.compile(
    r"\balready\s+(?:been\s+)?(?:requested|linked|associated|added|exists|present)", re.I
)
_OTHER_CAMPAIGN = re.compile(r"\b(?:another|other|different)\s+campaign\b", re.I)
_NOT_LINKED = re.compile(r"\bnot\s+(?:been\s+)?(?:linked|associated)\b", re.I)


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
    """The typed error for a non-2xx answer, with Plivo's ``error`` text and ``api_id``.

    A body over ``MAX_KEPT_BODY`` is not decoded (nor kept whole): an error answer that
    large is no Plivo error document.
    """
    # A server may echo our credentials (the Authorization header): mask them before the
    # text is parsed, so neither the message, the body nor the kept text shows them.
    text = redact(text)
    body = decode_json(text) if len(text) <= MAX_KEPT_BODY else None
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


def parse_ack(answer: Answer) -> LinkAck:
    """The acknowledgement of a link or unlink (what the single calls return)."""
    # Any 2xx is an acceptance (the old docs give 202 for unlink; a 204 is possible too):
    # an empty body only means there is no api_id to report. Other bodies must be JSON.
    if not answer.text.strip():
        return LinkAck()
    return parse_success(answer.status, answer.text, LinkAck)


def ack_api_id(answer: Answer) -> str | None:
    """The ``api_id`` of a bulk link or unlink acknowledgement (``None`` when absent).

    Lenient about the fields (only ``api_id`` is used), strict about the shape.
    """
    ack = decode_json(answer.text)
    if answer.text.strip() and not isinstance(ack, dict):
        # An HTML page from a proxy, a truncated or garbled body: a 2xx status alone is no
        # proof that Plivo accepted the numbers (the single calls raise here too).
        raise ResponseFormatError(
            "the 2xx answer is not a JSON object, so not Plivo's acknowledgement",
            status_code=answer.status,
            text=answer.text,
        )
    api_id = ack.get("api_id") if isinstance(ack, dict) else None
    return api_id if isinstance(api_id, str) else None


def find_status(answer: Answer, number: str) -> NumberStatus:
    """The status of ``number`` (normalized) in an answer of the one-number endpoint."""
    campaign = parse_success(answer.status, answer.text, CampaignNumbers)
    # Parsing wrote each listed number in the library's form (the server may write
    # ``+1...`` or leave out the country code); never take another number's status.
    for entry in campaign.phone_numbers:
        if entry.number == number:
            return entry
    raise ResponseFormatError(
        f"the answer lists no status for {number}", status_code=answer.status, text=answer.text
    )


# -- what an error answer means --------------------------------------------------------------


def is_refusal(status_code: int) -> bool:
    """A 4xx that is the server's final word on this request (not 401/403, 408, 429)."""
    return 400 <= status_code < 500 and status_code not in (401, 403, 408, 429)


def is_already_in_state(action: str, exc: APIStatusError) -> bool:
    """Whether a 4xx answer means the desired state already holds for ``action``.

    Link: "The number X is already requested for linking" (or already linked), but not
    "linked to another campaign". Unlink: "The number X is not linked to this campaign".
    """
    if not is_refusal(exc.status_code):
        return False
    text = exc.message
    if action == "link":
        return bool(_ALREADY_LINKED.search(text)) and not _OTHER_CAMPAIGN.search(text)
    if _NOT_LINKED.search(text):
        # "campaign not found" is about the campaign, not the number.
        return "campaign" not in text.lower() or "this campaign" in text.lower()
    return False


def is_campaign_missing(exc: APIStatusError) -> bool:
    """Whether a 404 is about the campaign itself (unknown campaign), not one number."""
    return isinstance(exc, CampaignNotFoundError) or is_campaign_missing_text(
        exc.status_code, exc.message
    )


def numbers_named(text: str, candidates: Iterable[str]) -> list[str]:
    """The numbers among ``candidates`` (normalized) that ``text`` mentions."""
    wanted = set(candidates)
    found: list[str] = []
    for match in DIGITS.finditer(text):
        number, _ = try_normalize_number(match.group())
        if number is not None and number in wanted and number not in found:
            found.append(number)
    return found


@attrs.frozen
class Verdict:
    """What an error answer means for the request that got it (see :func:`classify`)."""

    #: A fault that may pass (5xx, 408, 429): the server is not healthy, or is throttling.
    transient: bool
    #: A 4xx that refuses this request for good (not 401/403, 408 or 429).
    refusal: bool
    #: 401/403: nothing else sent with these credentials can succeed.
    auth_failure: bool
    #: A 404 about the campaign itself.
    campaign_missing: bool
    #: The desired state already holds for the action ("already linked", "not linked").
    already: bool
    #: The candidate numbers the error text names.
    named: tuple[str, ...]

    @property
    def stops_job(self) -> bool:
        """Nothing else in a job on this campaign with these credentials can succeed."""
        return self.auth_failure or self.campaign_missing


def classify(action: str, exc: APIStatusError, candidates: Iterable[str] = ()) -> Verdict:
    """The one reading of an error answer the bulk engine acts on."""
    status = exc.status_code
    return Verdict(
        transient=is_retryable_status(status) or status >= 500,
        refusal=is_refusal(status),
        auth_failure=status in (401, 403),
        campaign_missing=is_campaign_missing(exc),
        already=is_already_in_state(action, exc),
        named=tuple(numbers_named(exc.message, candidates)) if candidates else (),
    )
