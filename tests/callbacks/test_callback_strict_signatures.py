"""is_valid_signature, strictly: V3 alone decides where a V3 header is present (no downgrade
to V2), the Ma twins, lone surrogates, and the exact header length limit (issue 10)."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from plivo_numlink.callbacks import is_valid_signature, signature_v2, signature_v3

from .callback_support import NONCE, PARAMS, SUB_TOKEN, TOKEN, URL, V2_VECTOR, V3

V2_HEADERS = {"X-Plivo-Signature-V2": V2_VECTOR, "X-Plivo-Signature-V2-Nonce": NONCE}
#: A V3 signature of other parameters: what a captured request altered by an attacker carries.
TAMPERED_V3 = signature_v3("POST", URL, {**PARAMS, "status": "failed"}, NONCE, TOKEN)

# ---------------------------------------------------------------------------------------------
# No downgrade: V2 signs only the URL and nonce, so a valid V2 beside a V3 that does not match
# must not let changed parameters through.


@pytest.mark.parametrize("v3_header", ["X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3"])
@pytest.mark.parametrize(
    "v3_value",
    [
        pytest.param(TAMPERED_V3, id="signs-other-params"),
        pytest.param(V3[::-1], id="wrong"),
        pytest.param("", id="empty"),
        pytest.param("junk!!", id="junk"),
    ],
)
def test_a_valid_v2_beside_a_v3_that_does_not_match_is_refused(
    v3_header: str, v3_value: str
) -> None:
    headers = {**V2_HEADERS, v3_header: v3_value, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is False


def test_a_valid_v2_beside_a_v3_without_its_nonce_is_refused() -> None:
    headers = {**V2_HEADERS, "X-Plivo-Signature-V3": V3}
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is False


def test_a_valid_ma_v2_beside_an_invalid_v3_is_refused() -> None:
    headers = {
        "X-Plivo-Signature-Ma-V2": V2_VECTOR,
        "X-Plivo-Signature-V2-Nonce": NONCE,
        "X-Plivo-Signature-V3": TAMPERED_V3,
        "X-Plivo-Signature-V3-Nonce": NONCE,
    }
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is False


def test_a_valid_v3_decides_even_beside_an_invalid_v2() -> None:
    headers = {
        "X-Plivo-Signature-V2": V2_VECTOR[::-1],
        "X-Plivo-Signature-V2-Nonce": NONCE,
        "X-Plivo-Signature-V3": V3,
        "X-Plivo-Signature-V3-Nonce": NONCE,
    }
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is True


def test_a_v3_nonce_alone_is_no_v3_signature_and_v2_still_decides() -> None:
    headers = {**V2_HEADERS, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is True


def test_v2_alone_still_validates_as_the_10dlc_page_documents() -> None:
    assert is_valid_signature("POST", URL, PARAMS, V2_HEADERS, TOKEN) is True


# ---------------------------------------------------------------------------------------------
# The Ma twins. Plivo signs X-Plivo-Signature-V3 with the (sub-)account's own token and
# X-Plivo-Signature-Ma-V3 with the main account's token. auth_token does not say which of
# its tokens is the main one, so each header is checked against every token given: a
# signature is valid under either twin, and either twin matching is enough.


@pytest.mark.parametrize("version", ["V2", "V3"])
def test_a_main_account_signature_validates_under_either_twin_header(version: str) -> None:
    signature = (
        signature_v2(URL, NONCE, TOKEN)
        if version == "V2"
        else signature_v3("POST", URL, PARAMS, NONCE, TOKEN)
    )
    nonce = {f"X-Plivo-Signature-{version}-Nonce": NONCE}
    own = {f"X-Plivo-Signature-{version}": signature, **nonce}
    main = {f"X-Plivo-Signature-Ma-{version}": signature, **nonce}
    assert is_valid_signature("POST", URL, PARAMS, own, [SUB_TOKEN, TOKEN])
    assert is_valid_signature("POST", URL, PARAMS, main, [SUB_TOKEN, TOKEN])


def test_a_sub_account_callback_validates_with_the_main_token_alone() -> None:
    # The sub-account's own header cannot match the main token; its Ma twin does.
    headers = {
        "X-Plivo-Signature-V3": signature_v3("POST", URL, PARAMS, NONCE, SUB_TOKEN),
        "X-Plivo-Signature-Ma-V3": V3,
        "X-Plivo-Signature-V3-Nonce": NONCE,
    }
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is True
    assert is_valid_signature("POST", URL, PARAMS, headers, SUB_TOKEN) is True
    assert is_valid_signature("POST", URL, PARAMS, headers, "a-third-token") is False


def test_a_twin_header_does_not_take_the_other_versions_nonce() -> None:
    headers = {"X-Plivo-Signature-Ma-V3": V3, "X-Plivo-Signature-V2-Nonce": NONCE}
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is False


# ---------------------------------------------------------------------------------------------
# Lone surrogates: aiohttp decodes header bytes that are not UTF-8 into them.


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            {"X-Plivo-Signature-V3": "\udcff", "X-Plivo-Signature-V3-Nonce": NONCE},
            id="v3-signature",
        ),
        pytest.param(
            {"X-Plivo-Signature-V3": V3, "X-Plivo-Signature-V3-Nonce": "\udcff"},
            id="v3-nonce",
        ),
        pytest.param(
            {"X-Plivo-Signature-V2": "\ud800", "X-Plivo-Signature-V2-Nonce": NONCE},
            id="v2-signature",
        ),
        pytest.param(
            {"X-Plivo-Signature-V2": V2_VECTOR, "X-Plivo-Signature-V2-Nonce": "1\udcff"},
            id="v2-nonce",
        ),
        pytest.param(
            {"X-Plivo-Signature-Ma-V3": "a\udcffb,\ud800", "X-Plivo-Signature-V3-Nonce": NONCE},
            id="ma-v3-several",
        ),
    ],
)
def test_a_header_holding_a_lone_surrogate_gives_false(headers: dict[str, str]) -> None:
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is False


def test_a_lone_surrogate_beside_a_valid_signature_does_not_hide_it() -> None:
    headers = {"X-Plivo-Signature-V3": f"\udcff, {V3}", "X-Plivo-Signature-V3-Nonce": NONCE}
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is True


def test_lone_surrogates_in_the_url_params_or_token_give_false() -> None:
    headers = {"X-Plivo-Signature-V3": V3, "X-Plivo-Signature-V3-Nonce": NONCE, **V2_HEADERS}
    assert is_valid_signature("POST", URL + "\udcff", PARAMS, headers, TOKEN) is False
    assert is_valid_signature("POST", URL, {"a": "\udcff"}, headers, TOKEN) is False
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN + "\udcff") is False


# ---------------------------------------------------------------------------------------------
# The header length limit: 4,096 characters are checked, 4,097 are refused unread.


def _padded(length: int) -> str:
    # Blank entries between commas are skipped, so the valid signature still counts.
    padding = length - len(V3) - 1
    return " " * padding + "," + V3


@pytest.mark.parametrize("header", ["X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3"])
def test_a_signature_header_of_exactly_4096_characters_is_checked(header: str) -> None:
    value = _padded(4096)
    assert len(value) == 4096
    headers = CIMultiDict({header: value, "X-Plivo-Signature-V3-Nonce": NONCE})
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is True


@pytest.mark.parametrize("header", ["X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3"])
def test_a_signature_header_of_4097_characters_is_refused(header: str) -> None:
    value = _padded(4097)
    assert len(value) == 4097
    headers = CIMultiDict({header: value, "X-Plivo-Signature-V3-Nonce": NONCE})
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is False


def test_the_length_limit_applies_to_each_repeated_header_on_its_own() -> None:
    headers = CIMultiDict(
        [
            ("X-Plivo-Signature-V3", _padded(4097)),
            ("X-Plivo-Signature-V3", _padded(4096)),
            ("X-Plivo-Signature-V3-Nonce", NONCE),
        ]
    )
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is True


def test_a_v2_header_over_the_limit_is_refused_too() -> None:
    padding = " " * (4097 - len(V2_VECTOR) - 1)
    headers = {
        "X-Plivo-Signature-V2": padding + "," + V2_VECTOR,
        "X-Plivo-Signature-V2-Nonce": NONCE,
    }
    assert is_valid_signature("POST", URL, PARAMS, headers, TOKEN) is False
