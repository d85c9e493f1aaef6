"""``plivo_numlink.testing.sign_callback``: the headers Plivo would send, checked against the
official SDK's vectors; the fake server signs its callbacks with it (issue 16, item 3)."""

from __future__ import annotations

import pytest

from plivo_numlink.callbacks import is_valid_signature
from plivo_numlink.testing import FakePlivo, sign_callback

from .callback_support import NONCE, TOKEN, V2_VECTOR, V2_VECTOR_URL

#: (method, URL, params, V3 signature) from /work/shared/plivo-api-facts.md.
V3_VECTORS = [
    (
        "POST",
        "https://example.com/numlink/callback",
        {"campaign_id": "CUOGHIN", "number": "12125557777", "status": "success"},
        "XRuExgDUzWCrlsMAK4D7V4Qnm8aVVFiacVeEIad10YE=",
    ),
    (
        "POST",
        "https://example.com/cb?z=9&c=1",
        {"b": "2", "a": "1"},
        "iiEFNV+Cnj3Y33hP6VcBftOeMzw+J6TW0NdgNTWkqtg=",
    ),
    (
        "GET",
        "https://example.com/cb?status=failed&number=12125557777",
        {},
        "IUyYAgWb2fLSRAIACIgJ0whNQulIFkIZeaC/JYaoakk=",
    ),
    ("POST", "https://example.com/cb", {}, "Y56Tj1ZYJKbiwGp0jVbT5wCGpvqMu62fxS6Tl3JpbyI="),
]


@pytest.mark.parametrize(("method", "url", "params", "v3"), V3_VECTORS)
def test_the_v3_signature_is_the_sdks(
    method: str, url: str, params: dict[str, str], v3: str
) -> None:
    headers = sign_callback(method, url, params, TOKEN, nonce=NONCE)
    assert headers["X-Plivo-Signature-V3"] == v3
    assert headers["X-Plivo-Signature-Ma-V3"] == v3
    assert headers["X-Plivo-Signature-V3-Nonce"] == NONCE


def test_the_v2_signature_is_the_sdks() -> None:
    headers = sign_callback("POST", V2_VECTOR_URL, {"a": "1"}, TOKEN, nonce=NONCE)
    assert headers["X-Plivo-Signature-V2"] == V2_VECTOR
    assert headers["X-Plivo-Signature-Ma-V2"] == V2_VECTOR
    assert headers["X-Plivo-Signature-V2-Nonce"] == NONCE


def test_get_parameters_are_signed_as_the_query_they_are_sent_in() -> None:
    params = {"status": "failed", "number": "12125557777"}
    as_params = sign_callback("GET", "https://example.com/cb", params, TOKEN, nonce=NONCE)
    assert as_params["X-Plivo-Signature-V3"] == V3_VECTORS[2][3]


def test_without_a_nonce_each_signing_gets_a_fresh_twenty_digit_one() -> None:
    nonces = {
        sign_callback("POST", V2_VECTOR_URL, {}, TOKEN)["X-Plivo-Signature-V3-Nonce"]
        for _ in range(20)
    }
    assert len(nonces) == 20
    assert all(len(nonce) == 20 and nonce.isdigit() for nonce in nonces)


def test_the_headers_are_accepted_by_the_signature_check() -> None:
    params = {"number": "12125557777", "status": "success"}
    headers = sign_callback("POST", V2_VECTOR_URL, params, TOKEN)
    assert is_valid_signature("POST", V2_VECTOR_URL, params, headers, TOKEN)


@pytest.mark.parametrize(
    ("method", "token", "nonce", "message"),
    [
        ("PUT", TOKEN, None, "method"),
        ("POST", "", None, "auth_token"),
        ("POST", TOKEN, "", "nonce"),
    ],
)
def test_bad_arguments_raise_value_error(
    method: str, token: str, nonce: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sign_callback(method, V2_VECTOR_URL, {}, token, nonce=nonce)


def test_the_fake_signs_its_callbacks_with_it() -> None:
    fake = FakePlivo(auth_token=TOKEN)
    headers = fake.callback_headers("POST", V2_VECTOR_URL, {"a": "1"})
    nonce = headers["X-Plivo-Signature-V3-Nonce"]
    assert headers == sign_callback("POST", V2_VECTOR_URL, {"a": "1"}, TOKEN, nonce=nonce)
