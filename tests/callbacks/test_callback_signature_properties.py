"""Signature properties: any change to what is signed breaks the signature."""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from plivo_numlink.callbacks import is_valid_signature

from .callback_support import headers_for, v3_only

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ABCXYZ0123456789", min_size=1, max_size=8)
# Separators and non-ASCII on purpose: values are signed as they are, never re-encoded.
_values = st.text(alphabet="aZ09 _-&=?.,:+%/é☃", max_size=10)
_param_dicts = st.dictionaries(
    _names, st.one_of(_values, st.lists(_values, min_size=1, max_size=3)), max_size=4
)
_paths = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/", max_size=20)
_nonces = st.text(alphabet="0123456789", min_size=1, max_size=20)
_tokens = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789", min_size=1, max_size=40)


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
    headers = headers_for(method, url, params, nonce, token)
    assert is_valid_signature(method, url, params, headers, token)
    assert is_valid_signature(method, url, params, v3_only(headers), token)


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
    headers = headers_for(method, url, params, nonce, token)
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
    headers = v3_only(headers_for(method, url, params, nonce, token))
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
    headers = v3_only(headers_for(method, url, params, nonce, token))
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
    headers = headers_for(method, url, params, nonce, token)
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
    headers = headers_for(method, url, params, nonce, token)
    assert not is_valid_signature(method, url, params, headers, other)
