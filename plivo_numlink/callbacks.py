"""Receiving Plivo's status callbacks: signature checks, event parsing, an aiohttp handler.

After a link or unlink request that named a callback ``url``, Plivo calls that URL with a
``number_linking`` or ``number_unlinking`` event (status ``created``, ``success`` or
``failed``). Plivo signs each callback; :func:`handler` checks the signature, rejects
replays, parses the parameters and awaits your coroutine with a :class:`CallbackEvent`::

    from aiohttp import web
    from plivo_numlink import callbacks

    async def on_event(event: callbacks.CallbackEvent) -> None:
        if event.status is callbacks.CallbackStatus.FAILED:
            print(f"{event.kind}: {event.number} failed: {event.reason}")

    app = web.Application()
    app.router.add_route(
        "*",  # Plivo calls back with the method given on link/unlink: POST or GET
        "/plivo/numlink",
        callbacks.handler(
            on_event,
            auth_token=os.environ["PLIVO_AUTH_TOKEN"],
            # the URL Plivo calls, when a proxy makes it differ from what the app sees
            public_url="https://example.com/plivo/numlink",
        ),
    )
    web.run_app(app)

The handler answers 200 once ``on_event`` returned, 403 for a bad, missing or replayed
signature, 413 for a body over ``max_body_size`` and 500 when ``on_event`` raised (Plivo then
retries the callback after 60, 120 and 240 seconds, so ``on_event`` should be idempotent).

The signature functions (:func:`signature_v2`, :func:`signature_v3`,
:func:`canonical_string_v3`, :func:`is_valid_signature`) are pure, so they are tested with
tables and a fake server can use them to sign its own callbacks. :func:`parse_event` is pure
too; :func:`request_params` is the only part that reads a request.
"""

from __future__ import annotations

import base64
import collections
import enum
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from email.message import Message
from email.parser import BytesParser
from typing import TypeAlias
from urllib.parse import parse_qs, parse_qsl, urlparse, urlunparse

import attrs
from aiohttp import web

from ._numbers import try_normalize_number

__all__ = [
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
]

logger = logging.getLogger("plivo_numlink")

#: A callback's parameters: a value may repeat, so it is a string or a sequence of strings.
Params: TypeAlias = Mapping[str, str | Sequence[str]]
#: A callback's parameters as :func:`request_params` returns them (lists for repeated keys).
ParamDict: TypeAlias = dict[str, str | list[str]]

#: Callbacks are a handful of short fields; anything much larger is not from Plivo.
DEFAULT_MAX_BODY_SIZE = 64 * 1024
#: Seconds a nonce is remembered. Plivo's retries come 60, 120 and 240 s after a failure,
#: each a new request; a replay of an old one within this window is refused.
DEFAULT_REPLAY_WINDOW = 300.0
#: Most nonces remembered at once. Only validly signed requests are remembered, so this is
#: reached only by a very busy endpoint; the oldest are forgotten first.
DEFAULT_MAX_NONCES = 100_000

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
