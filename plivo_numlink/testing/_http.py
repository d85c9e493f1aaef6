"""The fake's HTTP side: Basic auth, routing, request bodies, Plivo's JSON answers and error
texts, and the request log.

Each request goes: ``down`` (connection closed), authentication (401), the faults before
the call, latency and pause, the call on the :class:`~._state.CampaignBook`, then a possibly
lost answer. Plivo's refusals come back from the book as :class:`~._state.Refused`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import random
import uuid
from collections import Counter
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import attrs
from aiohttp import web

from ._faults import Fault, Faults
from ._state import Campaign, CampaignBook, Refused

_ERROR_TEXTS = {
    401: "Authentication credentials invalid",
    404: "not found",
    405: "Method not allowed",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
_DEFAULT_PAGE_LIMIT = 20


@attrs.frozen
class RecordedRequest:
    """One request the fake received, as it arrived, with the status it was answered with."""

    method: str
    path: str
    query: dict[str, str]
    #: The parsed JSON body, or None when there was none or it was not JSON.
    body: Any
    raw_body: bytes
    #: Header names as the client wrote them.
    headers: dict[str, str]
    #: ``clock()`` (``time.monotonic`` unless replaced) when the request arrived.
    time: float
    #: None when the connection was closed with no answer.
    status: int | None


def basic_auth_header(login: str, password: str) -> str:
    """The ``Authorization`` value of HTTP Basic auth (aiohttp's ``BasicAuth`` is deprecated)."""
    token = base64.b64encode(f"{login}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _decode_basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, password = text.partition(":")
    return (login, password) if sep else None


def _format_seconds(seconds: float) -> str:
    # Up to 3 decimals, rounded up so that a client waiting that long finds a free slot.
    value = math.ceil(max(seconds, 0.001) * 1000) / 1000
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _retry_after_text(value: float | str) -> str:
    return value if isinstance(value, str) else _format_seconds(value)


def _callback_fields(body: Mapping[str, Any]) -> tuple[str | None, str]:
    """The optional callback ``(url, method)`` of a body; :class:`Refused` when malformed."""
    url = body.get("url")
    method = body.get("method")
    if url == "":
        url = None  # the official SDK sends "url": "" when no callback is wanted
    if url is not None:
        if not isinstance(url, str):
            raise Refused(400, "url must be a string")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Refused(400, f"url {url} is not a valid http or https URL")
    if method is None:
        method = "POST"
    elif not isinstance(method, str) or method.upper() not in ("GET", "POST"):
        raise Refused(400, "method must be GET or POST")
    return url, method.upper()


class _Dropped:
    """Marker answer: close the connection without answering."""


_DROPPED = _Dropped()


class ApiHandler:
    """Answers one request at a time as Plivo's Number Linking API would, and logs it."""

    def __init__(
        self,
        *,
        auth_id: str,
        auth_token: str,
        book: CampaignBook,
        faults: Faults,
        ids: random.Random,
        max_numbers_per_request: int | None,
        page_cap: int,
        ignore_paging: bool,
        record_requests: bool,
    ) -> None:
        if max_numbers_per_request is not None and max_numbers_per_request < 1:
            raise ValueError("max_numbers_per_request must be >= 1 or None")
        if page_cap < 1:
            raise ValueError(f"page_cap must be >= 1, not {page_cap!r}")
        self.auth_id = auth_id
        self.auth_token = auth_token
        self.max_numbers_per_request = max_numbers_per_request
        self.page_cap = page_cap
        self.ignore_paging = ignore_paging
        self.record_requests = record_requests
        self.requests: list[RecordedRequest] = []
        #: How many requests were answered with each status (None: connection closed).
        self.count_by_status: Counter[int | None] = Counter()
        self.in_flight = 0
        self.max_concurrency = 0
        #: The tasks of the requests being handled, for the server to cancel on stop.
        self.tasks: set[asyncio.Task[Any]] = set()
        self._book = book
        self._faults = faults
        self._ids = ids
        # The Authorization value of the credentials, computed again only if they change.
        self._expected = ((auth_id, auth_token), basic_auth_header(auth_id, auth_token))

    # ------------------------------------------------------------------------- the handler

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.in_flight += 1
        if self.in_flight > self.max_concurrency:
            self.max_concurrency = self.in_flight
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        arrived = self._book.clock()
        raw = b""
        body: Any = None
        answer: web.Response | _Dropped = _DROPPED
        try:
            if request.body_exists:
                raw = await request.read()
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = None
            answer = await self._answer(request, raw, body)
        except web.HTTPRequestEntityTooLarge:
            answer = self._error(413, "Request body too large")
        finally:
            self.in_flight -= 1
            if task is not None:
                self.tasks.discard(task)
            status = None if isinstance(answer, _Dropped) else answer.status
            self.count_by_status[status] += 1
            if self.record_requests:
                self.requests.append(
                    RecordedRequest(
                        request.method,
                        request.path,
                        dict(request.query),
                        body,
                        raw,
                        dict(request.headers),
                        arrived,
                        status,
                    )
                )
        if isinstance(answer, _Dropped):
            # Closing the transport first makes aiohttp's write of the (unused) answer fail
            # with a ConnectionError, which it treats as a client that went away: no answer,
            # no log, no traceback.
            request.protocol.force_close()
            return web.Response()
        return answer

    async def _answer(
        self, request: web.BaseRequest, raw: bytes, body: Any
    ) -> web.Response | _Dropped:
        faults = self._faults
        if faults.down:
            return _DROPPED
        parts = request.path.strip("/").split("/")
        if not self._authorized(request, parts):
            return self._error(401)
        fault = faults.before_call(self.in_flight)
        if fault is not None:
            if fault.effect:
                self._route(request, parts, raw, body)
            return self._fault_answer(fault)
        await faults.hold()
        answer = self._route(request, parts, raw, body)
        if faults.answer_lost():
            return _DROPPED
        return answer

    def _authorized(self, request: web.BaseRequest, parts: list[str]) -> bool:
        header = request.headers.get("Authorization")
        if header is None:
            return False
        credentials = (self.auth_id, self.auth_token)
        if self._expected[0] != credentials:
            self._expected = (credentials, basic_auth_header(*credentials))
        if header != self._expected[1] and _decode_basic_auth(header) != credentials:
            return False
        # An auth id in the path that is not the caller's is refused the same way.
        return not (
            len(parts) > 2
            and parts[0] == "v1"
            and parts[1] == "Account"
            and parts[2] != self.auth_id
        )

    def _fault_answer(self, fault: Fault) -> web.Response | _Dropped:
        if fault.status is None:
            return _DROPPED
        if fault.body is None and fault.content_type is None:
            return self._error(fault.status, retry_after=fault.retry_after)
        response = web.Response(
            status=fault.status,
            body=fault.body if fault.body is not None else b"",
            content_type=fault.content_type or "application/json",
        )
        if fault.retry_after is not None:
            response.headers["Retry-After"] = _retry_after_text(fault.retry_after)
        return response

    # --------------------------------------------------------------------------- the calls

    def _route(
        self, request: web.BaseRequest, parts: list[str], raw: bytes, body: Any
    ) -> web.Response:
        # /v1/Account/{auth_id}/10dlc/Campaign/{campaign_id}/Number/[{number}/]
        if (
            len(parts) not in (7, 8)
            or parts[0] != "v1"
            or parts[1] != "Account"
            or parts[3] != "10dlc"
            or parts[4] != "Campaign"
            or parts[6] != "Number"
        ):
            return self._error(404)
        method = request.method
        if len(parts) == 7:
            if method not in ("GET", "POST"):
                return self._error(405)
        elif method not in ("GET", "DELETE"):
            return self._error(405)
        campaign = self._book.campaigns.get(parts[5])
        if campaign is None:
            return self._error(404, "campaign not found")
        try:
            if len(parts) == 7:
                if method == "POST":
                    return self._link(campaign, body)
                return self._list(campaign, request.query)
            if method == "GET":
                return self._get_one(campaign, parts[7])
            return self._unlink(campaign, parts[7], raw, body)
        except Refused as refused:
            return self._error(refused.status, refused.text)

    def _link(self, campaign: Campaign, body: Any) -> web.Response:
        if not isinstance(body, dict):
            raise Refused(400, "Request body must be a JSON object")
        numbers = body.get("numbers")
        if (
            not isinstance(numbers, list)
            or not numbers
            or not all(isinstance(number, str) for number in numbers)
        ):
            raise Refused(400, "numbers must be a non-empty list of phone numbers")
        limit = self.max_numbers_per_request
        if limit is not None and len(numbers) > limit:
            raise Refused(
                400,
                f"Too many numbers: at most {limit} numbers can be linked in one request "
                f"({len(numbers)} given)",
            )
        url, method = _callback_fields(body)
        linked = self._book.link(campaign, numbers, url, method)
        text = ",".join(linked)
        return self._json(
            202,
            {
                "api_id": self._api_id(),
                "message": f"Request to link {text} to campaign {campaign.campaign_id} "
                "was received and is being processed",
            },
        )

    def _list(self, campaign: Campaign, query: Mapping[str, str]) -> web.Response:
        try:
            limit = int(query.get("limit", _DEFAULT_PAGE_LIMIT))
            offset = int(query.get("offset", 0))
        except ValueError:
            raise Refused(400, "limit and offset must be integers") from None
        if limit < 1:
            raise Refused(400, "limit must be a positive integer")
        if offset < 0:
            raise Refused(400, "offset must not be negative")
        size = None if self.ignore_paging else min(limit, self.page_cap)
        return self._campaign_answer(campaign, self._book.page(campaign, offset, size))

    def _get_one(self, campaign: Campaign, number: str) -> web.Response:
        number, status = self._book.get_one(campaign, number)
        return self._campaign_answer(campaign, [{"number": number, "status": status}])

    def _unlink(self, campaign: Campaign, number: str, raw: bytes, body: Any) -> web.Response:
        if raw.strip() and not isinstance(body, dict):
            raise Refused(400, "Request body must be a JSON object")
        url, method = _callback_fields(body or {})
        number = self._book.unlink(campaign, number, url, method)
        return self._json(
            202,
            {
                "api_id": self._api_id(),
                "message": f"Request to unlink {number} from campaign {campaign.campaign_id} "
                "was received and is being processed",
            },
        )

    # ---------------------------------------------------------------------------- answers

    def _api_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _json(self, status: int, payload: Mapping[str, Any]) -> web.Response:
        return web.Response(
            status=status,
            body=json.dumps(payload, separators=(",", ":")).encode(),
            content_type="application/json",
        )

    def _error(
        self, status: int, text: str | None = None, *, retry_after: float | str | None = None
    ) -> web.Response:
        if text is None:
            text = _ERROR_TEXTS.get(status)
            if text is None:
                try:
                    text = HTTPStatus(status).phrase
                except ValueError:
                    text = "error"
        response = self._json(status, {"api_id": self._api_id(), "error": text})
        if retry_after is not None:
            response.headers["Retry-After"] = _retry_after_text(retry_after)
        return response

    def _campaign_answer(self, campaign: Campaign, page: list[dict[str, str]]) -> web.Response:
        return self._json(
            200,
            {
                "api_id": self._api_id(),
                "campaign_id": campaign.campaign_id,
                "campaign_alias": campaign.alias,
                "usecase": campaign.usecase,
                "phone_numbers": page,
            },
        )
