"""Constants and helpers shared by the status callback tests (tests/callbacks/)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from plivo_numlink.callbacks import CallbackEvent, signature_v2, signature_v3

#: The token and nonce of the test vectors in plivo-api-facts.md.
TOKEN = "MY_AUTH_TOKEN_0123456789abcdef"
NONCE = "12345678901234567890"
SUB_TOKEN = "SUB_ACCOUNT_TOKEN_fedcba9876543210"

V2_VECTOR_URL = "https://example.com/numlink/callback"
V2_VECTOR = "29Gwwi7EzqM0yzwmTRRGta6P5FQvUxDCvX38evWxoAo="

# What is_valid_signature is checked with: the first SDK vector.
URL = "https://example.com/numlink/callback"
PARAMS = {"campaign_id": "CUOGHIN", "number": "12125557777", "status": "success"}
V3 = "XRuExgDUzWCrlsMAK4D7V4Qnm8aVVFiacVeEIad10YE="


def headers_for(method: str, url: str, params: Any, nonce: str, token: str) -> dict[str, str]:
    return {
        "X-Plivo-Signature-V2": signature_v2(url, nonce, token),
        "X-Plivo-Signature-V2-Nonce": nonce,
        "X-Plivo-Signature-V3": signature_v3(method, url, params, nonce, token),
        "X-Plivo-Signature-V3-Nonce": nonce,
    }


def v3_only(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if "V3" in name}


CALLBACK = {
    "event": "number_linking",
    "campaign_id": "CUOGHIN",
    "number": "12125557777",
    "status": "success",
    "timestamp": "2024-05-01T12:00:00Z",
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """An ``on_event`` that records events and can be told to fail."""

    def __init__(self) -> None:
        self.events: list[CallbackEvent] = []
        self.fail_with: Exception | None = None

    async def __call__(self, event: CallbackEvent) -> None:
        self.events.append(event)
        if self.fail_with is not None:
            raise self.fail_with


MakeClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


def url_of(client: TestClient[web.Request, web.Application], path: str = "/cb") -> str:
    return str(client.make_url(path))


def signed(
    method: str,
    url: str,
    params: Mapping[str, str | Sequence[str]],
    *,
    nonce: str = NONCE,
    token: str = TOKEN,
) -> dict[str, str]:
    return headers_for(method, url, params, nonce, token)


#: Part of the one WARNING a receiver built without public_url logs at construction.
NO_PUBLIC_URL_WARNING = "has no public_url"


def request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The plivo_numlink logger's records, but for the construction warning of a receiver
    built without public_url (the tests look at what handling a request logged)."""
    return [
        record
        for record in caplog.records
        if record.name == "plivo_numlink" and NO_PUBLIC_URL_WARNING not in record.getMessage()
    ]
