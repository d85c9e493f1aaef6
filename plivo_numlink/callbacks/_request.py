"""Reading a callback's parameters from an aiohttp request: a GET's query or a POST's body.

The body is read with a size bound (and a time bound, when given) before anything parses
it; JSON, form and multipart bodies all come out as one :data:`ParamDict` shape. The
parsing itself is framework-neutral (:mod:`._body`).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ._body import DEFAULT_MAX_BODY_SIZE, add_param, body_params
from ._events import ParamDict
from ._rejection import CallbackRejected

__all__ = ["DEFAULT_MAX_BODY_SIZE", "request_params"]


class _BodyTooLarge(Exception):
    pass


async def _read_bounded(request: web.BaseRequest, max_body_size: int) -> bytes:
    if request.content_length is not None and request.content_length > max_body_size:
        raise _BodyTooLarge  # refused before reading a byte
    body = bytearray()
    # Chunked bodies have no length: read no more than one chunk past the limit.
    while chunk := await request.content.readany():
        body.extend(chunk)
        if len(body) > max_body_size:
            raise _BodyTooLarge
    return bytes(body)


async def request_params(
    request: web.BaseRequest,
    *,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    body_timeout: float | None = None,
) -> ParamDict:
    """The callback parameters of an aiohttp request: a GET's query, a POST's body.

    Bodies may be form posts (``application/x-www-form-urlencoded`` or
    ``multipart/form-data``) or a JSON object (non-string values become ``str``). A key that
    repeats gives a list of its values. Raises ``web.HTTPRequestEntityTooLarge`` for a body
    over ``max_body_size`` bytes (without reading all of it), ``web.HTTPRequestTimeout``
    for a body not read within ``body_timeout`` seconds (``None``: no bound), and
    ``web.HTTPBadRequest`` for a body that cannot be parsed (broken JSON, nesting past the
    parser's depth, an unknown charset); never another exception for what the body holds.
    For other frameworks, see :func:`~plivo_numlink.callbacks.verify`.
    """
    if request.method in ("GET", "HEAD"):
        params: ParamDict = {}
        for key, value in request.query.items():
            add_param(params, key, value)
        return params
    try:
        body = await asyncio.wait_for(_read_bounded(request, max_body_size), body_timeout)
    except _BodyTooLarge:
        raise web.HTTPRequestEntityTooLarge(
            max_size=max_body_size,
            actual_size=request.content_length or max_body_size + 1,
            text="body too large",
        ) from None
    except asyncio.TimeoutError:
        raise web.HTTPRequestTimeout(text="body read timed out") from None
    try:
        return body_params(body, request.headers.get("Content-Type"))
    except CallbackRejected as exc:
        raise web.HTTPBadRequest(text=exc.reason) from None
