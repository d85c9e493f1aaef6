"""Pins on signature checking that a mutation sample found unpinned (issue 18): header
names or values that are not strings (a caller's own mapping may hold bytes or numbers) are
ignored, never an exception."""

from __future__ import annotations

from typing import Any

from plivo_numlink.callbacks import is_valid_signature

from .callback_support import NONCE, PARAMS, TOKEN, URL, V3


def check(headers: dict[Any, Any]) -> bool:
    return is_valid_signature("POST", URL, PARAMS, headers, TOKEN)


def test_a_non_string_value_beside_a_valid_signature_is_ignored() -> None:
    headers = {
        "X-Plivo-Signature-V3": V3,
        "X-Plivo-Signature-V3-Nonce": NONCE,
        "X-Plivo-Signature-Ma-V3": V3.encode(),
        "X-Plivo-Signature-V2": 12345,
    }
    assert check(headers)


def test_a_non_string_header_name_is_ignored() -> None:
    headers = {"X-Plivo-Signature-V3": V3, "X-Plivo-Signature-V3-Nonce": NONCE, 7: "seven"}
    assert check(headers)


def test_a_signature_given_as_bytes_is_read_as_an_asgi_header() -> None:
    # ASGI servers give header names and values as bytes (latin-1): they are read, not
    # dropped (callbacks.verify takes a framework's raw headers).
    headers = {b"X-Plivo-Signature-V3": V3.encode(), "X-Plivo-Signature-V3-Nonce": NONCE}
    assert check(headers)


def test_a_non_string_signature_alone_does_not_validate() -> None:
    headers = {"X-Plivo-Signature-V3": 12345, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert not check(headers)
