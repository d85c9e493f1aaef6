"""Status callbacks: signatures (SDK test vectors, canonical strings, junk headers), event
parsing, and the aiohttp handler driven over 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import assume, given
from hypothesis import strategies as st
from multidict import CIMultiDict

from plivo_numlink import callbacks
from plivo_numlink.callbacks import (
    CallbackEvent,
    CallbackKind,
    CallbackReceiver,
    CallbackStatus,
    canonical_string_v3,
    handler,
    is_valid_signature,
    parse_event,
    signature_v2,
    signature_v3,
)

TOKEN = "MY_AUTH_TOKEN_0123456789abcdef"
NONCE = "12345678901234567890"
SUB_TOKEN = "SUB_ACCOUNT_TOKEN_fedcba9876543210"

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
V2_VECTOR_URL = "https://example.com/numlink/callback"
V2_VECTOR = "29Gwwi7EzqM0yzwmTRRGta6P5FQvUxDCvX38evWxoAo="


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


# ---------------------------------------------------------------------------------------------
# is_valid_signature

URL = "https://example.com/numlink/callback"
PARAMS = {"campaign_id": "CUOGHIN", "number": "12125557777", "status": "success"}
V3 = "XRuExgDUzWCrlsMAK4D7V4Qnm8aVVFiacVeEIad10YE="


def test_v2_signature_validates() -> None:
    headers = {"X-Plivo-Signature-V2": V2_VECTOR, "X-Plivo-Signature-V2-Nonce": NONCE}
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN)


def test_ma_v2_signature_validates_with_the_v2_nonce() -> None:
    headers = {"X-Plivo-Signature-Ma-V2": V2_VECTOR, "X-Plivo-Signature-V2-Nonce": NONCE}
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN)


def test_ma_v3_signature_validates_with_the_v3_nonce() -> None:
    headers = {"X-Plivo-Signature-Ma-V3": V3, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN)


def test_any_of_several_comma_separated_v3_signatures_validates() -> None:
    other = signature_v3("POST", URL, PARAMS, NONCE, "someone-else")
    headers = {"X-Plivo-Signature-V3": f"{other}, {V3}", "X-Plivo-Signature-V3-Nonce": NONCE}
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN)


def test_sub_account_token_in_a_token_list_validates() -> None:
    signature = signature_v3("POST", URL, PARAMS, NONCE, SUB_TOKEN)
    headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert is_valid_signature("POST", URL, PARAMS, headers, [TOKEN, SUB_TOKEN])
    assert not is_valid_signature("POST", URL, PARAMS, headers, TOKEN)


def test_header_names_are_case_insensitive() -> None:
    headers = {"x-plivo-signature-v3": V3, "X-PLIVO-SIGNATURE-V3-NONCE": NONCE}
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN)


def test_aiohttp_multidict_headers_are_accepted() -> None:
    headers = CIMultiDict({"X-Plivo-Signature-V2": V2_VECTOR, "X-Plivo-Signature-V2-Nonce": NONCE})
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN)


def test_v2_validates_for_any_method() -> None:
    # V2 signs only the URL: even a method V3 cannot sign is checked.
    headers = {"X-Plivo-Signature-V2": V2_VECTOR, "X-Plivo-Signature-V2-Nonce": NONCE}
    assert is_valid_signature("PUT", URL, PARAMS, headers, TOKEN)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-headers"),
        pytest.param({"X-Plivo-Signature-V3": V3}, id="v3-missing-nonce"),
        pytest.param({"X-Plivo-Signature-V2": V2_VECTOR}, id="v2-missing-nonce"),
        pytest.param(
            {"X-Plivo-Signature-V3": V3, "X-Plivo-Signature-V3-Nonce": ""}, id="empty-nonce"
        ),
        pytest.param(
            {"X-Plivo-Signature-V2": V2_VECTOR, "X-Plivo-Signature-V3-Nonce": NONCE},
            id="v2-with-the-v3-nonce",
        ),
        pytest.param(
            {"X-Plivo-Signature-V3": V3, "X-Plivo-Signature-V2-Nonce": NONCE},
            id="v3-with-the-v2-nonce",
        ),
        pytest.param(
            {"X-Plivo-Signature-V3": "", "X-Plivo-Signature-V3-Nonce": NONCE}, id="empty-sig"
        ),
        pytest.param(
            {"X-Plivo-Signature-V3": " , ,", "X-Plivo-Signature-V3-Nonce": NONCE},
            id="only-commas",
        ),
        pytest.param(
            {"X-Plivo-Signature-V3": "not base64 !!", "X-Plivo-Signature-V3-Nonce": NONCE},
            id="not-base64",
        ),
        pytest.param(
            {"X-Plivo-Signature-V3": "ünïcødé☃", "X-Plivo-Signature-V3-Nonce": NONCE},
            id="non-ascii",
        ),
        pytest.param(
            {"X-Plivo-Signature-V3": V3 + "=", "X-Plivo-Signature-V3-Nonce": NONCE},
            id="extra-padding",
        ),
        pytest.param(
            {"X-Plivo-Signature-V3": V3, "X-Plivo-Signature-V3-Nonce": NONCE + "0"},
            id="other-nonce",
        ),
        pytest.param(
            {"X-Plivo-Signature-V3": "A" * 100_000, "X-Plivo-Signature-V3-Nonce": NONCE},
            id="huge-header",
        ),
        pytest.param(
            {"X-Plivo-Signature-V3": V3[::-1], "X-Plivo-Signature-V3-Nonce": NONCE},
            id="wrong-signature",
        ),
    ],
)
def test_junk_or_wrong_headers_give_false(headers: dict[str, str]) -> None:
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is False


@pytest.mark.parametrize("token", ["", [], [""], ["", ""]], ids=repr)
def test_empty_tokens_never_validate(token: str | list[str]) -> None:
    signature = signature_v3("POST", URL, PARAMS, NONCE, "")
    headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert not is_valid_signature("POST", URL, PARAMS, headers, token)


def test_wrong_token_gives_false() -> None:
    headers = {"X-Plivo-Signature-V3": V3, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert not is_valid_signature("POST", URL, PARAMS, headers, TOKEN + "x")


def test_unsupported_method_with_v3_only_gives_false() -> None:
    headers = {"X-Plivo-Signature-V3": V3, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert is_valid_signature("DELETE", URL, PARAMS, headers, TOKEN) is False


def test_unparsable_url_gives_false() -> None:
    headers = {"X-Plivo-Signature-V3": V3, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert is_valid_signature("POST", "http://[::1/cb", PARAMS, headers, TOKEN) is False


# ---------------------------------------------------------------------------------------------
# Properties: any change to what is signed breaks the signature.

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ABCXYZ0123456789", min_size=1, max_size=8)
# Separators and non-ASCII on purpose: values are signed as they are, never re-encoded.
_values = st.text(alphabet="aZ09 _-&=?.,:+%/é☃", max_size=10)
_param_dicts = st.dictionaries(
    _names, st.one_of(_values, st.lists(_values, min_size=1, max_size=3)), max_size=4
)
_paths = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/", max_size=20)
_nonces = st.text(alphabet="0123456789", min_size=1, max_size=20)
_tokens = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789", min_size=1, max_size=40)


def _headers_for(method: str, url: str, params: Any, nonce: str, token: str) -> dict[str, str]:
    return {
        "X-Plivo-Signature-V2": signature_v2(url, nonce, token),
        "X-Plivo-Signature-V2-Nonce": nonce,
        "X-Plivo-Signature-V3": signature_v3(method, url, params, nonce, token),
        "X-Plivo-Signature-V3-Nonce": nonce,
    }


def _v3_only(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if "V3" in name}


@given(
    method=st.sampled_from(["GET", "POST"]),
    path=_paths,
    params=_param_dicts,
    nonce=_nonces,
    token=_tokens,
)
def test_own_signatures_always_validate(
    method: str, path: str, params: Any, nonce: str, token: str
) -> None:
    url = f"https://example.com/{path}"
    headers = _headers_for(method, url, params, nonce, token)
    assert is_valid_signature(method, url, params, headers, token)
    assert is_valid_signature(method, url, params, _v3_only(headers), token)


@given(
    method=st.sampled_from(["GET", "POST"]),
    path=_paths,
    params=_param_dicts,
    nonce=_nonces,
    token=_tokens,
    extra=st.sampled_from("xyz/"),
)
def test_changing_the_url_breaks_both_signatures(
    method: str, path: str, params: Any, nonce: str, token: str, extra: str
) -> None:
    url = f"https://example.com/{path}"
    headers = _headers_for(method, url, params, nonce, token)
    assert not is_valid_signature(method, url + extra, params, headers, token)


@given(
    method=st.sampled_from(["GET", "POST"]),
    path=_paths,
    params=_param_dicts,
    nonce=_nonces,
    token=_tokens,
    data=st.data(),
)
def test_changing_a_parameter_value_breaks_the_v3_signature(
    method: str, path: str, params: Any, nonce: str, token: str, data: st.DataObject
) -> None:
    assume(params)
    url = f"https://example.com/{path}"
    headers = _v3_only(_headers_for(method, url, params, nonce, token))
    key = data.draw(st.sampled_from(sorted(params)))
    changed = dict(params)
    value = params[key]
    # One value gets one more character, so the signed string changes length.
    changed[key] = value + "x" if isinstance(value, str) else [value[0] + "x", *value[1:]]
    assert not is_valid_signature(method, url, changed, headers, token)


@given(
    method=st.sampled_from(["GET", "POST"]),
    path=_paths,
    params=_param_dicts,
    nonce=_nonces,
    token=_tokens,
    data=st.data(),
)
def test_changing_a_parameter_name_breaks_the_v3_signature(
    method: str, path: str, params: Any, nonce: str, token: str, data: st.DataObject
) -> None:
    assume(params)
    url = f"https://example.com/{path}"
    headers = _v3_only(_headers_for(method, url, params, nonce, token))
    key = data.draw(st.sampled_from(sorted(params)))
    assume(key + "x" not in params)
    changed = {(name + "x" if name == key else name): value for name, value in params.items()}
    assert not is_valid_signature(method, url, changed, headers, token)


@given(
    method=st.sampled_from(["GET", "POST"]),
    path=_paths,
    params=_param_dicts,
    nonce=_nonces,
    token=_tokens,
    other=_nonces,
)
def test_changing_the_nonce_breaks_both_signatures(
    method: str, path: str, params: Any, nonce: str, token: str, other: str
) -> None:
    assume(other != nonce)
    url = f"https://example.com/{path}"
    headers = _headers_for(method, url, params, nonce, token)
    headers["X-Plivo-Signature-V2-Nonce"] = other
    headers["X-Plivo-Signature-V3-Nonce"] = other
    assert not is_valid_signature(method, url, params, headers, token)


@given(
    method=st.sampled_from(["GET", "POST"]),
    path=_paths,
    params=_param_dicts,
    nonce=_nonces,
    token=_tokens,
    other=_tokens,
)
def test_another_token_breaks_both_signatures(
    method: str, path: str, params: Any, nonce: str, token: str, other: str
) -> None:
    # No NUL in the token alphabets: HMAC pads short keys with zero bytes, so "k" and
    # "k\x00" are the same key, by design of HMAC, not a flaw of ours.
    assume(other != token)
    url = f"https://example.com/{path}"
    headers = _headers_for(method, url, params, nonce, token)
    assert not is_valid_signature(method, url, params, headers, other)


# ---------------------------------------------------------------------------------------------
# parse_event

FAKE_SERVER_FAILED: dict[str, str | list[str]] = {
    "event": "number_linking",
    "campaign_id": "CUOGHIN",
    "number": "12125557777",
    "status": "failed",
    "reason": "retry the request",
    "timestamp": "2024-05-01T12:00:00Z",
}


def test_parse_event_reads_what_the_fake_server_sends() -> None:
    event = parse_event(FAKE_SERVER_FAILED)
    assert event == CallbackEvent(
        kind=CallbackKind.LINKING,
        number="12125557777",
        campaign_id="CUOGHIN",
        status=CallbackStatus.FAILED,
        reason="retry the request",
        raw_status="failed",
        raw_kind="number_linking",
        raw=FAKE_SERVER_FAILED,
    )
    assert event.failed


@pytest.mark.parametrize("key", ["event", "event_type", "EventType", "type", "Event"])
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("number_linking", CallbackKind.LINKING),
        ("NUMBER_UNLINKING", CallbackKind.UNLINKING),
        ("linking", CallbackKind.LINKING),
        ("Unlinking", CallbackKind.UNLINKING),
        ("number_porting", CallbackKind.UNKNOWN),
    ],
)
def test_parse_event_kind_spellings(key: str, text: str, kind: CallbackKind) -> None:
    event = parse_event({key: text})
    assert event.kind is kind
    assert event.raw_kind == text


@pytest.mark.parametrize("key", ["number", "phone_number", "PhoneNumber", "Number"])
def test_parse_event_number_spellings(key: str) -> None:
    assert parse_event({key: "12125557777"}).number == "12125557777"


def test_parse_event_normalizes_the_number() -> None:
    assert parse_event({"number": "+1 (212) 555-7777"}).number == "12125557777"


def test_parse_event_keeps_an_invalid_number_as_sent() -> None:
    assert parse_event({"number": "0042"}).number == "0042"


@pytest.mark.parametrize("key", ["campaign_id", "CampaignID", "campaignId"])
def test_parse_event_campaign_spellings(key: str) -> None:
    assert parse_event({key: "CUOGHIN"}).campaign_id == "CUOGHIN"


@pytest.mark.parametrize("key", ["status", "Status"])
@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("created", CallbackStatus.CREATED),
        ("SUCCESS", CallbackStatus.SUCCESS),
        ("Failed", CallbackStatus.FAILED),
        (" success ", CallbackStatus.SUCCESS),
    ],
)
def test_parse_event_status_any_case(key: str, text: str, status: CallbackStatus) -> None:
    event = parse_event({key: text})
    assert event.status is status
    assert event.raw_status == text


def test_parse_event_reads_the_word_unknown_as_unknown() -> None:
    assert parse_event({"status": "UNKNOWN"}).status is CallbackStatus.UNKNOWN


def test_enums_print_as_plivo_writes_them() -> None:
    assert str(CallbackKind.UNLINKING) == "unlinking"
    assert str(CallbackStatus.SUCCESS) == "success"


def test_parse_event_keeps_an_unknown_status_text() -> None:
    event = parse_event({"status": "pending_review"})
    assert event.status is CallbackStatus.UNKNOWN
    assert event.raw_status == "pending_review"


@pytest.mark.parametrize("key", ["reason", "failure_reason", "error", "remark", "Reason"])
def test_parse_event_reason_spellings(key: str) -> None:
    assert parse_event({key: "retry the request"}).reason == "retry the request"


def test_parse_event_prefers_reason_over_remark() -> None:
    assert parse_event({"remark": "second", "reason": "first"}).reason == "first"


def test_parse_event_blank_reason_is_none() -> None:
    assert parse_event({"status": "success", "reason": ""}).reason is None


def test_parse_event_list_value_counts_by_its_first_element() -> None:
    event = parse_event({"number": ["12125557777", "13125550000"], "status": ["success"]})
    assert event.number == "12125557777"
    assert event.status is CallbackStatus.SUCCESS


def test_parse_event_keeps_extra_fields_in_raw() -> None:
    params = {**FAKE_SERVER_FAILED, "brand_id": "B123", "tags": ["a", "b"]}
    raw = parse_event(params).raw
    assert raw == params
    assert type(raw) is dict


def test_parse_event_raw_is_a_copy() -> None:
    params = dict(FAKE_SERVER_FAILED)
    event = parse_event(params)
    params["status"] = "success"
    assert event.raw["status"] == "failed"


def test_parse_event_with_no_fields() -> None:
    event = parse_event({})
    assert event == CallbackEvent(
        kind=CallbackKind.UNKNOWN,
        number=None,
        campaign_id=None,
        status=CallbackStatus.UNKNOWN,
    )


def test_parse_event_survives_non_string_values() -> None:
    junk: Any = {"number": None, "status": 5, "event": [], "campaign_id": ["", "X"]}
    event = parse_event(junk)
    assert event.number is None
    assert event.status is CallbackStatus.UNKNOWN
    assert event.raw_status == "5"
    assert event.kind is CallbackKind.UNKNOWN
    assert event.campaign_id is None


def test_callback_event_is_frozen_and_hashable() -> None:
    event = parse_event(FAKE_SERVER_FAILED)
    with pytest.raises(AttributeError):
        event.status = CallbackStatus.SUCCESS  # type: ignore[misc]
    assert hash(event) == hash(parse_event(dict(FAKE_SERVER_FAILED)))


def test_public_names() -> None:
    assert set(callbacks.__all__) == {
        "DEFAULT_MAX_BODY_SIZE",
        "DEFAULT_REPLAY_WINDOW",
        "CallbackEvent",
        "CallbackKind",
        "CallbackReceiver",
        "CallbackStatus",
        "Params",
        "canonical_string_v3",
        "handler",
        "is_valid_signature",
        "parse_event",
        "request_params",
        "signature_v2",
        "signature_v3",
    }


# ---------------------------------------------------------------------------------------------
# The aiohttp handler, over 127.0.0.1

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


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def make_client(recorder: Recorder) -> AsyncIterator[MakeClient]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(**options: Any) -> TestClient[web.Request, web.Application]:
        options.setdefault("auth_token", TOKEN)
        app = web.Application()
        app.router.add_route("*", "/cb", handler(recorder, **options))
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


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
    return _headers_for(method, url, params, nonce, token)


async def test_signed_form_post_is_answered_ok_and_dispatched_once(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = signed("POST", url_of(client), CALLBACK)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 200
    assert await response.text() == "OK"
    assert recorder.events == [parse_event(CALLBACK)]


async def test_signed_json_post_is_accepted_with_values_as_text(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    body = {**CALLBACK, "attempt": 2}
    headers = signed("POST", url_of(client), {**CALLBACK, "attempt": "2"})
    response = await client.post("/cb", json=body, headers=headers)
    assert response.status == 200
    assert recorder.events == [parse_event({**CALLBACK, "attempt": "2"})]


async def test_json_lists_and_objects_arrive_as_text(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    body = {**CALLBACK, "tags": ["a", 1], "meta": {"b": 1, "a": None}, "ok": True}
    params = {**CALLBACK, "tags": ["a", "1"], "meta": '{"a":null,"b":1}', "ok": "True"}
    response = await client.post("/cb", json=body, headers=signed("POST", url_of(client), params))
    assert response.status == 200
    assert recorder.events[0].raw == params


async def test_json_body_that_is_not_an_object_is_refused_with_400(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    response = await client.post("/cb", json=[CALLBACK])
    assert response.status == 400
    assert await response.text() == "JSON body must be an object"
    assert recorder.events == []


async def test_form_with_an_unknown_charset_is_refused_with_400(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=no-such-charset"}
    response = await client.post("/cb", data=b"status=success", headers=headers)
    assert response.status == 400
    assert recorder.events == []


async def test_multipart_file_parts_are_ignored(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    form = aiohttp.MultipartWriter("form-data")
    for key, value in CALLBACK.items():
        form.append(value).set_content_disposition("form-data", name=key)
    form.append(b"\x00binary").set_content_disposition("form-data", name="upload", filename="x.bin")
    headers = signed("POST", url_of(client), CALLBACK)
    response = await client.post("/cb", data=form, headers=headers)
    assert response.status == 200
    assert "upload" not in recorder.events[0].raw


async def test_signed_multipart_post_is_accepted(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    form = aiohttp.MultipartWriter("form-data")
    for key, value in CALLBACK.items():
        form.append(value).set_content_disposition("form-data", name=key)
    headers = signed("POST", url_of(client), CALLBACK)
    response = await client.post("/cb", data=form, headers=headers)
    assert response.status == 200
    assert recorder.events == [parse_event(CALLBACK)]


async def test_signed_get_is_accepted(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client()
    path = "/cb?" + urlencode(CALLBACK)
    response = await client.get(path, headers=signed("GET", url_of(client, path), {}))
    assert response.status == 200
    assert recorder.events == [parse_event(CALLBACK)]


async def test_repeated_form_keys_arrive_as_lists(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    pairs = [*CALLBACK.items(), ("tag", "b"), ("tag", "a"), ("tag", "c")]
    params = {**CALLBACK, "tag": ["b", "a", "c"]}
    response = await client.post("/cb", data=pairs, headers=signed("POST", url_of(client), params))
    assert response.status == 200
    assert recorder.events[0].raw["tag"] == ["b", "a", "c"]


async def test_signed_post_to_a_url_with_a_query_is_accepted(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    url = url_of(client, "/cb?tenant=5")
    response = await client.post(
        "/cb?tenant=5", data=CALLBACK, headers=signed("POST", url, CALLBACK)
    )
    assert response.status == 200
    assert len(recorder.events) == 1


async def test_sub_account_token_is_accepted(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client(auth_token=[TOKEN, SUB_TOKEN])
    headers = signed("POST", url_of(client), CALLBACK, token=SUB_TOKEN)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 200
    assert len(recorder.events) == 1


async def test_bad_signature_is_refused_and_not_dispatched(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = signed("POST", url_of(client), CALLBACK, token="not-the-token")
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 403
    assert await response.text() == "invalid signature"
    assert recorder.events == []


async def test_tampered_body_is_refused(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client()
    headers = _v3_only(signed("POST", url_of(client), CALLBACK))
    response = await client.post("/cb", data={**CALLBACK, "status": "failed"}, headers=headers)
    assert response.status == 403
    assert recorder.events == []


async def test_missing_signature_is_refused(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client()
    response = await client.post("/cb", data=CALLBACK)
    assert response.status == 403
    assert await response.text() == "missing signature"
    assert recorder.events == []


async def test_replayed_nonce_is_refused(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client()
    headers = signed("POST", url_of(client), CALLBACK)
    first = await client.post("/cb", data=CALLBACK, headers=headers)
    again = await client.post("/cb", data=CALLBACK, headers=headers)
    assert first.status == 200
    assert again.status == 403
    assert await again.text() == "replayed"
    assert len(recorder.events) == 1


async def test_replay_stripped_to_one_signature_version_is_refused(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = signed("POST", url_of(client), CALLBACK)
    v2_only = {name: value for name, value in headers.items() if "V2" in name}
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
    assert (await client.post("/cb", data=CALLBACK, headers=v2_only)).status == 403
    assert (await client.post("/cb", data=CALLBACK, headers=_v3_only(headers))).status == 403
    assert len(recorder.events) == 1


async def test_nonce_is_forgotten_after_the_replay_window(
    make_client: MakeClient, recorder: Recorder
) -> None:
    clock = FakeClock()
    client = await make_client(replay_window=300.0, clock=clock)
    headers = signed("POST", url_of(client), CALLBACK)
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
    clock.now += 299.0
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 403
    clock.now += 2.0
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
    assert len(recorder.events) == 2


async def test_content_length_over_the_limit_is_refused_with_413(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client(max_body_size=1024)
    body = {**CALLBACK, "padding": "x" * 2048}
    headers = signed("POST", url_of(client), body)
    response = await client.post("/cb", data=body, headers=headers)
    assert response.status == 413
    assert recorder.events == []


async def test_chunked_body_over_the_limit_is_refused_with_413(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client(max_body_size=1024)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"padding=" + b"x" * 500 + b"&"

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post("/cb", data=chunks(), headers=headers)
    assert response.status == 413
    assert recorder.events == []


async def test_malformed_json_is_refused_with_400(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = {"Content-Type": "application/json"}
    response = await client.post("/cb", data=b"{not json", headers=headers)
    assert response.status == 400
    assert recorder.events == []


async def test_on_event_failure_answers_500_and_logs_without_the_token(
    make_client: MakeClient, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    recorder.fail_with = RuntimeError("database down")
    headers = signed("POST", url_of(client), CALLBACK)
    with caplog.at_level(logging.ERROR, logger="plivo_numlink"):
        response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 500
    failures = [r for r in caplog.records if r.name == "plivo_numlink" and r.exc_info]
    assert len(failures) == 1
    assert "database down" in caplog.text
    assert TOKEN not in caplog.text


async def test_plivo_retry_after_a_500_is_not_taken_for_a_replay(
    make_client: MakeClient, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    recorder.fail_with = RuntimeError("database down")
    headers = signed("POST", url_of(client), CALLBACK)
    with caplog.at_level(logging.CRITICAL, logger="plivo_numlink"):
        assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 500
    recorder.fail_with = None
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
    assert len(recorder.events) == 2


async def test_plain_function_on_event_is_called_too(make_client: MakeClient) -> None:
    seen: list[CallbackEvent] = []
    app = web.Application()
    app.router.add_post("/cb", handler(seen.append, auth_token=TOKEN))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        headers = signed("POST", url_of(client), CALLBACK)
        response = await client.post("/cb", data=CALLBACK, headers=headers)
        assert response.status == 200
    assert seen == [parse_event(CALLBACK)]


async def test_nonce_memory_is_bounded_oldest_forgotten_first(recorder: Recorder) -> None:
    receiver = CallbackReceiver(recorder, auth_token=TOKEN, max_nonces=2)
    app = web.Application()
    app.router.add_post("/cb", receiver.handle)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        url = url_of(client)
        for nonce in ("1", "2", "3"):
            headers = signed("POST", url, CALLBACK, nonce=nonce)
            assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
        oldest = signed("POST", url, CALLBACK, nonce="1")
        newest = signed("POST", url, CALLBACK, nonce="3")
        assert (await client.post("/cb", data=CALLBACK, headers=newest)).status == 403
        assert (await client.post("/cb", data=CALLBACK, headers=oldest)).status == 200
    assert len(recorder.events) == 4


PUBLIC_URL = "https://numlink.example.com/hooks/plivo"


async def test_public_url_is_what_the_signature_is_checked_against(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client(public_url=PUBLIC_URL)
    assert url_of(client) != PUBLIC_URL
    headers = signed("POST", PUBLIC_URL, CALLBACK)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 200
    assert len(recorder.events) == 1


async def test_without_public_url_a_proxied_signature_fails(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = signed("POST", PUBLIC_URL, CALLBACK)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 403
    assert recorder.events == []


async def test_public_url_may_be_a_function_of_the_request(
    make_client: MakeClient, recorder: Recorder
) -> None:
    def public(request: web.Request) -> str:
        return f"https://numlink.example.com/hooks{request.path}"

    client = await make_client(public_url=public)
    headers = signed("POST", "https://numlink.example.com/hooks/cb", CALLBACK)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 200
    assert len(recorder.events) == 1


async def test_public_url_gets_the_request_query_when_it_has_none(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client(public_url=PUBLIC_URL)
    headers = signed("POST", PUBLIC_URL + "?tenant=5", CALLBACK)
    response = await client.post("/cb?tenant=5", data=CALLBACK, headers=headers)
    assert response.status == 200


async def test_get_with_public_url_is_accepted(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client(public_url=PUBLIC_URL)
    headers = signed("GET", PUBLIC_URL, CALLBACK)
    response = await client.get("/cb", params=CALLBACK, headers=headers)
    assert response.status == 200
    assert recorder.events == [parse_event(CALLBACK)]


@pytest.mark.parametrize(
    "options",
    [
        {"auth_token": ""},
        {"auth_token": []},
        {"auth_token": TOKEN, "max_body_size": 0},
        {"auth_token": TOKEN, "replay_window": -1.0},
        {"auth_token": TOKEN, "replay_window": float("nan")},
    ],
    ids=repr,
)
def test_handler_refuses_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        handler(Recorder(), **options)


def test_receiver_repr_hides_the_token() -> None:
    receiver = CallbackReceiver(Recorder(), auth_token=[TOKEN, SUB_TOKEN])
    assert TOKEN not in repr(receiver)
    assert SUB_TOKEN not in repr(receiver)


@pytest.mark.parametrize("key", ["eventName", "event_name"])
def test_parse_event_reads_the_kind_from_an_event_name_field(key: str) -> None:
    event = parse_event({key: "number_unlinking", "number": "12125557777"})
    assert event.kind is CallbackKind.UNLINKING


@pytest.mark.parametrize("key", ["errorMessage", "error_message", "error_reason"])
def test_parse_event_reads_the_reason_from_an_error_message_field(key: str) -> None:
    event = parse_event({"status": "failed", key: "retry the request"})
    assert event.reason == "retry the request"
