"""Plivo's callback signatures: computing V2 and V3 signatures and checking a request's.

Pure functions of strings and mappings, with no I/O, so they are tested with tables of
known vectors and a fake server can sign its own callbacks with them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias
from urllib.parse import parse_qs, urlparse, urlunparse

__all__ = [
    "Headers",
    "Params",
    "canonical_string_v3",
    "is_valid_signature",
    "signature_v2",
    "signature_v3",
]

#: A callback's parameters: a value may repeat, so it is a string or a sequence of strings.
Params: TypeAlias = Mapping[str, str | Sequence[str]]

# --------------------------------------------------------------------------------------------
# Computing signatures


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


# --------------------------------------------------------------------------------------------
# Checking a request's signatures

_V2_NONCE = "x-plivo-signature-v2-nonce"
_V3_NONCE = "x-plivo-signature-v3-nonce"
#: Signature header -> (its version, the header holding its nonce). ``Ma`` variants are
#: signed with the main account's token and share the nonce of their version.
SIGNATURE_HEADERS = {
    "x-plivo-signature-v2": ("v2", _V2_NONCE),
    "x-plivo-signature-ma-v2": ("v2", _V2_NONCE),
    "x-plivo-signature-v3": ("v3", _V3_NONCE),
    "x-plivo-signature-ma-v3": ("v3", _V3_NONCE),
}
#: A header value longer than this holds no signature we could match (a signature is 44
#: characters); refusing early bounds the work one request can cause.
_MAX_SIGNATURE_HEADER = 4096


def token_list(auth_token: str | Sequence[str]) -> list[str]:
    """The usable tokens of ``auth_token`` (one token or several)."""
    tokens = [auth_token] if isinstance(auth_token, str) else list(auth_token)
    # An empty token is a key anyone knows: never let it validate a signature.
    return [token for token in tokens if isinstance(token, str) and token]


#: Request headers: a mapping (a dict, aiohttp's or Starlette's multi-dicts...) or the
#: ``(name, value)`` pairs as received (ASGI's raw headers: bytes, read as Latin-1).
Headers: TypeAlias = "Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]"


def header_pairs(headers: Headers) -> list[tuple[str, str]]:
    """Every ``(name in lower case, value)`` of ``headers``; junk entries are dropped."""
    # ``items()`` yields every value of a multi-dict (aiohttp's CIMultiDictProxy), so a
    # repeated header is seen whole; a plain dict works too, in any letter case.
    entries: Iterable[object] = headers.items() if isinstance(headers, Mapping) else headers
    pairs: list[tuple[str, str]] = []
    for entry in entries:
        if not isinstance(entry, tuple) or len(entry) != 2:
            continue
        name, value = (
            item.decode("latin-1") if isinstance(item, (bytes, bytearray)) else item
            for item in entry
        )
        if isinstance(name, str) and isinstance(value, str):
            pairs.append((name.lower(), value))
    return pairs


def _lower_headers(headers: Headers) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in header_pairs(headers):
        found.setdefault(name, []).append(value)
    return found


def _candidates(values: Iterable[str]) -> list[bytes]:
    out: list[bytes] = []
    for value in values:
        if len(value) > _MAX_SIGNATURE_HEADER:
            continue
        for part in value.split(","):
            part = part.strip()
            if part:
                # Bytes, because compare_digest refuses non-ASCII str and junk may be any text.
                out.append(part.encode("utf-8", "replace"))
    return out


def _matches(expected: str, candidates: Sequence[bytes]) -> bool:
    wanted = expected.encode("ascii")
    # No early exit: every candidate is compared, in constant time each.
    hits = [hmac.compare_digest(wanted, candidate) for candidate in candidates]
    return any(hits)


def valid_nonces(
    method: str, url: str, params: Params, headers: Headers, tokens: Sequence[str]
) -> set[tuple[str, str]]:
    """The ``(version, nonce)`` pairs of the signature versions in ``headers`` that match.

    Empty when the request is not validly signed. Where a V3 signature header is present
    (``X-Plivo-Signature-V3`` or its ``Ma`` twin), V3 alone decides: V2 signs only the URL
    and nonce, so a captured (nonce, V2 signature) pair would otherwise carry any changed
    parameters past an invalid V3. A V2 pair that matches beside a matching V3 is returned
    too, so that a receiver remembers both nonces (a replay stripped to V2 is refused).
    """
    found = _lower_headers(headers)
    valid: set[tuple[str, str]] = set()
    for header, (version, nonce_header) in SIGNATURE_HEADERS.items():
        if header not in found or any(done == version for done, _ in valid):
            continue  # an ``Ma`` twin of a version already matched adds nothing
        nonces = found.get(nonce_header, [])
        candidates = _candidates(found[header])
        if len(nonces) != 1 or not nonces[0] or not candidates:
            continue
        nonce = nonces[0]
        try:
            if version == "v2":
                expected = [signature_v2(url, nonce, token) for token in tokens]
            else:
                expected = [signature_v3(method, url, params, nonce, token) for token in tokens]
        except (ValueError, TypeError):
            # A method other than GET/POST, a URL urllib cannot split, or text that cannot be
            # encoded (a lone surrogate from undecodable header bytes): nothing can match.
            continue
        if any(_matches(signature, candidates) for signature in expected):
            valid.add((version, nonce))
    v3_present = any(
        SIGNATURE_HEADERS[name][0] == "v3" for name in found if name in SIGNATURE_HEADERS
    )
    if v3_present and not any(version == "v3" for version, _ in valid):
        return set()  # no downgrade to V2
    return valid


def is_valid_signature(
    method: str,
    url: str,
    params: Params,
    headers: Headers,
    auth_token: str | Sequence[str],
) -> bool:
    """True when the signatures in ``headers`` match under one of the tokens.

    ``url`` is the full URL Plivo called (with its query), ``params`` the callback's
    parameters (the body of a POST, the query of a GET), ``headers`` the request headers
    (names in any case), ``auth_token`` one token or several (main and sub-account).
    Checked: ``X-Plivo-Signature-V2`` and ``X-Plivo-Signature-Ma-V2`` with
    ``X-Plivo-Signature-V2-Nonce``; ``X-Plivo-Signature-V3`` and ``X-Plivo-Signature-Ma-V3``
    (each may hold several comma-separated signatures) with ``X-Plivo-Signature-V3-Nonce``.
    Where a V3 signature header (``X-Plivo-Signature-V3`` or ``X-Plivo-Signature-Ma-V3``)
    is present, V3 alone decides: a valid V2 signature beside a V3 one that does not match
    (or lacks its nonce) gives ``False``, since V2 does not sign the parameters. Without a V3
    header, a matching V2 signature is enough (the 10DLC callback page documents V2).
    Either ``Ma`` twin matching is enough, and each is checked against every token given.

    Comparisons take constant time. Junk (missing nonce, empty or non-base64 values, lone
    surrogates, a header over 4,096 characters) gives ``False``, never an exception.
    """
    tokens = token_list(auth_token)
    if not tokens:
        return False
    return bool(valid_nonces(method, url, params, headers, tokens))
