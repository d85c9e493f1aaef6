"""Signatures: the SDK test vectors of plivo-api-facts.md and canonical strings beyond them."""

from __future__ import annotations

from typing import Any

import pytest

from plivo_numlink.callbacks import (
    canonical_string_v3,
    is_valid_signature,
    signature_v2,
    signature_v3,
)

from .callback_support import NONCE, TOKEN, V2_VECTOR, V2_VECTOR_URL

# ---------------------------------------------------------------------------------------------
# The test vectors of plivo-api-facts.md, computed with Plivo's official SDK.

VECTORS = [
    pytest.param(
        "POST",
        "https://example.com/numlink/callback",
        {"campaign_id": "CUOGHIN", "number": "12125557777", "status": "success"},
        "https://example.com/numlink/callback?campaign_idCUOGHINnumber12125557777statussuccess",
        "XRuExgDUzWCrlsMAK4D7V4Qnm8aVVFiacVeEIad10YE=",
        id="post-body",
    ),
    pytest.param(
        "POST",
        "https://example.com/cb?z=9&c=1",
        {"b": "2", "a": "1"},
        "https://example.com/cb?c=1&z=9.a1b2",
        "iiEFNV+Cnj3Y33hP6VcBftOeMzw+J6TW0NdgNTWkqtg=",
        id="post-query-and-body",
    ),
    pytest.param(
        "GET",
        "https://example.com/cb?status=failed&number=12125557777",
        {},
        "https://example.com/cb?number=12125557777&status=failed",
        "IUyYAgWb2fLSRAIACIgJ0whNQulIFkIZeaC/JYaoakk=",
        id="get-query",
    ),
    pytest.param(
        "POST",
        "https://example.com/cb",
        {},
        "https://example.com/cb",
        "Y56Tj1ZYJKbiwGp0jVbT5wCGpvqMu62fxS6Tl3JpbyI=",
        id="post-empty",
    ),
]


@pytest.mark.parametrize(("method", "url", "params", "canonical", "signature"), VECTORS)
def test_canonical_string_matches_sdk_vector(
    method: str, url: str, params: dict[str, str], canonical: str, signature: str
) -> None:
    assert canonical_string_v3(method, url, params) == canonical


@pytest.mark.parametrize(("method", "url", "params", "canonical", "signature"), VECTORS)
def test_signature_v3_matches_sdk_vector(
    method: str, url: str, params: dict[str, str], canonical: str, signature: str
) -> None:
    assert signature_v3(method, url, params, NONCE, TOKEN) == signature


@pytest.mark.parametrize(("method", "url", "params", "canonical", "signature"), VECTORS)
def test_sdk_vector_validates_from_v3_headers(
    method: str, url: str, params: dict[str, str], canonical: str, signature: str
) -> None:
    headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert is_valid_signature(method, url, params, headers, TOKEN)


def test_signature_v2_matches_sdk_vector() -> None:
    assert signature_v2(V2_VECTOR_URL, NONCE, TOKEN) == V2_VECTOR


def test_signature_v2_ignores_the_query_string() -> None:
    assert signature_v2(V2_VECTOR_URL + "?a=1&b=2", NONCE, TOKEN) == V2_VECTOR


# ---------------------------------------------------------------------------------------------
# Canonical strings beyond the vectors


@pytest.mark.parametrize(
    ("method", "url", "params", "canonical"),
    [
        pytest.param("GET", "https://e.com/cb", {}, "https://e.com/cb", id="get-empty"),
        pytest.param(
            "GET",
            "https://e.com/cb",
            {"b": "2", "a": "1"},
            "https://e.com/cb?a=1&b=2",
            id="get-params-sorted",
        ),
        pytest.param(
            "GET",
            "https://e.com/cb?z=9",
            {"a": "1"},
            "https://e.com/cb?a=1&z=9",
            id="get-query-merged-with-params",
        ),
        pytest.param(
            "GET",
            "https://e.com/cb?a=1&b=2",
            {"a": "1", "b": "2"},
            "https://e.com/cb?a=1&b=2",
            id="get-own-query-as-params-not-doubled",
        ),
        pytest.param(
            "GET",
            "https://e.com/cb?a=9",
            {"a": "1"},
            "https://e.com/cb?a=9",
            id="get-url-query-wins-a-shared-key",
        ),
        pytest.param(
            "GET",
            "https://e.com/cb",
            {"a": ["2", "1"], "b": "x"},
            "https://e.com/cb?a=1&a=2&b=x",
            id="get-list-values-sorted",
        ),
        pytest.param(
            "GET",
            "https://e.com/cb?a=2&a=1",
            {},
            "https://e.com/cb?a=1&a=2",
            id="get-repeated-query-key",
        ),
        pytest.param(
            "GET",
            "https://e.com/cb?a=&b",
            {},
            "https://e.com/cb?a=&b=",
            id="get-blank-query-values-kept",
        ),
        pytest.param(
            "POST",
            "https://e.com/cb",
            {"k": ["b", "a"], "j": "1"},
            "https://e.com/cb?j1kakb",
            id="post-list-values-sorted",
        ),
        pytest.param(
            "POST",
            "https://e.com/cb?z=9&c=1",
            {},
            "https://e.com/cb?c=1&z=9",
            id="post-query-without-body",
        ),
        pytest.param(
            "POST",
            "https://e.com/cb",
            {"b": "2", "a": "1"},
            "https://e.com/cb?a1b2",
            id="post-body-without-query",
        ),
        pytest.param(
            "post", "https://e.com/cb", {"a": "1"}, "https://e.com/cb?a1", id="method-any-case"
        ),
        pytest.param(
            "POST", "https://e.com/cb#frag", {}, "https://e.com/cb", id="fragment-dropped"
        ),
        pytest.param(
            "POST",
            "https://e.com:8443/a/b/",
            {},
            "https://e.com:8443/a/b/",
            id="port-and-trailing-slash-kept",
        ),
    ],
)
def test_canonical_string(method: str, url: str, params: Any, canonical: str) -> None:
    assert canonical_string_v3(method, url, params) == canonical


def test_canonical_string_refuses_other_methods() -> None:
    with pytest.raises(ValueError, match="GET' or 'POST"):
        canonical_string_v3("PUT", "https://e.com/cb", {})
