"""Receiving Plivo's status callbacks: signature checks, event parsing, an aiohttp handler.

After a link or unlink request that named a callback ``url``, Plivo calls that URL with a
``number_linking`` or ``number_unlinking`` event (status ``created``, ``success`` or
``failed``). Plivo signs each callback; this module checks the signature, parses the
parameters and hands a :class:`CallbackEvent` to your coroutine.

The signature functions are pure (no I/O) so they can be tested with tables and reused by a
fake server to sign its own callbacks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import TypeAlias
from urllib.parse import parse_qs, urlparse, urlunparse

__all__ = [
    "Params",
    "canonical_string_v3",
    "signature_v2",
    "signature_v3",
]

#: A callback's parameters: a value may repeat, so it is a string or a sequence of strings.
Params: TypeAlias = Mapping[str, str | Sequence[str]]


# --------------------------------------------------------------------------------------------
# Signatures


def _hmac_b64(auth_token: str, message: str) -> str:
    digest = hmac.new(auth_token.encode("utf-8"), message.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


def _url_without_query(url: str) -> str:
    # urlparse/urlunparse as Plivo's own SDK does, so that odd URLs (``;params``, a missing
    # path) give the same base string the SDK would sign.
    parts = urlparse(url)
    return urlunparse((parts.scheme, parts.netloc, parts.path, "", "", ""))


def _values(value: str | Sequence[str]) -> list[str]:
    # A str is itself a Sequence[str]: test for it first, or "abc" would become 3 values.
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def _sorted_query(params: Mapping[str, list[str]]) -> str:
    return "&".join(f"{key}={value}" for key in sorted(params) for value in sorted(params[key]))


def _sorted_body(params: Mapping[str, list[str]]) -> str:
    return "".join(f"{key}{value}" for key in sorted(params) for value in sorted(params[key]))


def canonical_string_v3(method: str, url: str, params: Params) -> str:
    """Return the string Plivo signs for a V3 signature (before ``"." + nonce``).

    - GET: the URL without its query, then ``?`` and every parameter, those of the URL's
      query and ``params`` together, sorted by key and written ``k=v`` joined by ``&`` (a
      repeated key gives one ``k=v`` per value, values sorted). A key present in both takes
      the URL's values, as in Plivo's SDK, so passing the request's own query as ``params``
      with the full URL changes nothing. No ``?`` when there is no parameter at all.
    - POST: the URL without its query; then, if the URL has a query, ``?`` and that query
      sorted as for GET; then, if ``params`` (the body) is not empty, ``.`` when a query was
      written or ``?`` when not, and the body parameters sorted by key, each written
      ``keyvalue`` with nothing between (a repeated key: ``keyv1keyv2``, values sorted).

    ``method`` is case-insensitive; anything but GET or POST raises ``ValueError``.
    """
    verb = method.upper()
    if verb not in ("GET", "POST"):
        raise ValueError(f"method must be 'GET' or 'POST', not {method!r}")
    base = _url_without_query(url)
    url_query = {
        key: list(values)
        for key, values in parse_qs(urlparse(url).query, keep_blank_values=True).items()
    }
    if verb == "GET":
        merged = {key: _values(value) for key, value in params.items()}
        merged.update(url_query)
        query = _sorted_query(merged)
        return f"{base}?{query}" if query else base
    body = _sorted_body({key: _values(value) for key, value in params.items()})
    query = _sorted_query(url_query)
    if query:
        return f"{base}?{query}.{body}" if body else f"{base}?{query}"
    return f"{base}?{body}" if body else base


def signature_v2(url: str, nonce: str, auth_token: str) -> str:
    """``base64(HMAC-SHA256(auth_token, scheme://host/path + nonce))``: the query is dropped.

    This is what ``X-Plivo-Signature-V2`` (and, with the main account's token,
    ``X-Plivo-Signature-Ma-V2``) carries, with ``X-Plivo-Signature-V2-Nonce`` as ``nonce``.
    """
    return _hmac_b64(auth_token, _url_without_query(url) + nonce)


def signature_v3(method: str, url: str, params: Params, nonce: str, auth_token: str) -> str:
    """``base64(HMAC-SHA256(auth_token, canonical_string_v3(...) + "." + nonce))``.

    This is one of the comma-separated signatures in ``X-Plivo-Signature-V3`` (or
    ``X-Plivo-Signature-Ma-V3``), with ``X-Plivo-Signature-V3-Nonce`` as ``nonce``.
    """
    return _hmac_b64(auth_token, canonical_string_v3(method, url, params) + "." + nonce)
