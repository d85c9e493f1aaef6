"""The framework-neutral core: :func:`verify` turns a received request into an event or a
:class:`CallbackRejected`.

Raw bytes in, a typed event or a typed refusal out (the shape of Stripe's
``Webhook.construct_event``), so that any web framework can receive Plivo's callbacks in a
few lines, and the receivers of this package (aiohttp, ASGI) are thin adapters over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import attrs

from .._storage import StorageError
from ._body import DEFAULT_MAX_BODY_SIZE, body_params, query_params
from ._events import CallbackEvent, ParamDict, parse_event
from ._rejection import CallbackRejected, printable
from ._replay import ReplayGuard
from ._signatures import SIGNATURE_HEADERS, Headers, header_pairs, token_list, valid_nonces

__all__ = ["verify"]

#: The signature headers' names as Plivo writes them (``X-Plivo-Signature-Ma-V3``), for logs.
_HEADER_NAMES = {
    name: "-".join(word.capitalize() for word in name.split("-")) for name in SIGNATURE_HEADERS
}


def _params(method: str, url: str, pairs: list[tuple[str, str]], body: bytes) -> ParamDict:
    if method in ("GET", "HEAD"):
        try:
            query = urlsplit(url).query
        except ValueError:  # "http://[::1" and the like
            raise CallbackRejected(400, "malformed request") from None
        return query_params(query)
    content_type = next((value for name, value in pairs if name == "content-type"), None)
    return body_params(body, content_type)


def _bad_signature(method: str, url: str, pairs: list[tuple[str, str]]) -> CallbackRejected:
    seen = sorted({_HEADER_NAMES[name] for name, _ in pairs if name in _HEADER_NAMES})
    if not seen:
        return CallbackRejected(
            403,
            "missing signature",
            f"status callback refused (missing signature) for {printable(url)}",
        )
    # A wrong URL (or token) fails every callback: say which URL was used, so that it can be
    # compared with the one given to Plivo. Header names only: never a value.
    return CallbackRejected(
        403,
        "invalid signature",
        "status callback refused (invalid signature): the signature did not match for "
        f"{printable(method)} {printable(url)} (signature headers: {', '.join(seen)}). Plivo "
        "signs the URL it calls: if that is not this URL (behind a proxy, another scheme, "
        "host, port or path), pass it as public_url; else check that auth_token is the "
        "token of the account that linked the number",
    )


async def verify(
    method: str,
    url: str,
    headers: Headers,
    body: bytes | None,
    *,
    auth_token: str | Sequence[str],
    replay_guard: ReplayGuard | None = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
) -> CallbackEvent:
    """Check one received status callback and return its event; raise if it is refused.

    - ``method``: the request's HTTP method (any case).
    - ``url``: the full URL Plivo called, query included: the public URL, as Plivo was given
      it, when a proxy makes the URL your app sees differ.
    - ``headers``: the request headers, any mapping (names in any case) or the
      ``(name, value)`` pairs as received (ASGI's bytes pairs too).
    - ``body``: the raw body (``b""`` or ``None`` for a GET).
    - ``auth_token``: the token Plivo signs with, or a list of tokens (main and
      sub-account).
    - ``replay_guard``: a :class:`ReplayGuard`; with one, a nonce accepted before within its
      window is refused, and this request's nonces are remembered. Without one, nothing
      stops a replay.
    - ``max_body_size``: bytes.

    In this order: a body over ``max_body_size`` is refused (413); the parameters are read,
    a GET's (and HEAD's) from the URL's query, other methods' from the body by its
    Content-Type (form, JSON or multipart; 400 when it cannot be parsed); a request with
    no signature header is refused (403 ``missing signature``); the signatures are checked
    (V3 where an ``X-Plivo-Signature-V3`` or ``-Ma-V3`` header is present, V3 alone
    deciding; V2 where none is; 403 ``invalid signature``); the guard refuses a nonce seen
    before (403 ``replayed``) or fails (503). Every refusal raises
    :class:`CallbackRejected` with ``.status`` and ``.reason``; answer with them. The
    event's ``nonces`` are what the guard remembered: ``await guard.forget(event)`` if
    handling it fails, so that Plivo's retry is not taken for a replay.

    A coroutine, since a shared guard does I/O. Raises ``ValueError`` for no usable
    ``auth_token`` and ``TypeError`` for a body that is not bytes: those are the caller's
    mistakes, not the request's.
    """
    tokens = token_list(auth_token)
    if not tokens:
        raise ValueError("auth_token must be a non-empty string or a sequence of them")
    if body is None:  # a GET's missing body, as some frameworks give it
        body = b""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    if len(body) > max_body_size:
        raise CallbackRejected(413, "body too large")
    verb = method.upper() if isinstance(method, str) else ""
    pairs = header_pairs(headers)
    params = _params(verb, url, pairs, bytes(body))
    nonces = valid_nonces(verb, url, params, pairs, tokens)
    if not nonces:
        raise _bad_signature(verb, url, pairs)
    # Each signature version's nonce, as one key (a nonce moved to the Ma twin header is the
    # same key); sorted, so that every receiver records them in the same order.
    keys = tuple(sorted({f"{version}:{nonce}" for version, nonce in nonces}))
    if replay_guard is not None:
        try:
            fresh = await replay_guard.remember(keys)
        except StorageError as exc:
            raise CallbackRejected(
                503,
                "replay store unavailable",
                f"status callback not handled: the replay store failed ({exc}); answering "
                "503 so Plivo retries",
            ) from exc
        if not fresh:
            raise CallbackRejected(
                403, "replayed", f"status callback refused (replayed nonce) for {printable(url)}"
            )
    return attrs.evolve(parse_event(params), nonces=keys)
