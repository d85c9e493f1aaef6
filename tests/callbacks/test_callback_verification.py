"""is_valid_signature: which headers validate, and junk that gives False, never an exception."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from plivo_numlink.callbacks import is_valid_signature, signature_v3

from .callback_support import NONCE, PARAMS, SUB_TOKEN, TOKEN, URL, V2_VECTOR, V3


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
