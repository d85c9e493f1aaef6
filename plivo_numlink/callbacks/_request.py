"""Reading a callback's parameters from an aiohttp request: a GET's query or a POST's body.

The body is read with a size bound before anything parses it; JSON, form and multipart
bodies all come out as one :data:`ParamDict` shape.
"""

from __future__ import annotations

import json
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from urllib.parse import parse_qsl

from aiohttp import web

from ._events import ParamDict

__all__ = ["DEFAULT_MAX_BODY_SIZE", "request_params"]

#: Callbacks are a handful of short fields; anything much larger is not from Plivo.
DEFAULT_MAX_BODY_SIZE = 64 * 1024


class _BodyTooLarge(Exception):
    pass


def _add(params: ParamDict, key: str, value: str) -> None:
    # A key seen once stays a str; a repeated one becomes a list, in arrival order.
    if key not in params:
        params[key] = value
        return
    current = params[key]
    if isinstance(current, list):
        current.append(value)
    else:
        params[key] = [current, value]


def _json_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    # str(), as Plivo's SDK formats non-string values when it signs: 5 -> "5", true -> "True".
    return str(value)


def _json_params(body: bytes, charset: str) -> ParamDict:
    try:
        data = json.loads(body.decode(charset)) if body.strip() else {}
    except (ValueError, LookupError) as exc:
        raise web.HTTPBadRequest(text="body is not valid JSON") from exc
    except RecursionError:
        # 60,000 ``[`` are a few bytes of JSON and past the parser's depth: a 400, not a 500.
        raise web.HTTPBadRequest(text="JSON body is nested too deeply") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="JSON body must be an object")
    params: ParamDict = {}
    try:
        for key, value in data.items():
            if isinstance(value, list):
                params[key] = [_json_text(item) for item in value]
            else:
                params[key] = _json_text(value)
    except (RecursionError, ValueError):
        # Nesting the parser took may still be too deep to write back as text.
        raise web.HTTPBadRequest(text="JSON body is nested too deeply") from None
    return params


def _form_params(body: bytes, charset: str) -> ParamDict:
    try:
        text = body.decode(charset, "replace")
        pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="replace")
    except (LookupError, ValueError) as exc:
        raise web.HTTPBadRequest(text="body is not a valid form") from exc
    params: ParamDict = {}
    for key, value in pairs:
        _add(params, key, value)
    return params


def _multipart_params(body: bytes, content_type: str) -> ParamDict:
    # The stdlib MIME parser works on bytes already read (and bounded); aiohttp's own
    # reader would read the stream itself, past our size check.
    if not body.strip():
        return {}
    try:
        return _multipart_fields(body, content_type)
    except (LookupError, ValueError, RecursionError):
        # An unknown charset in a part, header text that is not Latin-1, parts nested
        # past the parser's depth: the sender's fault, so a 400 rather than a 500.
        raise web.HTTPBadRequest(text="multipart body cannot be parsed") from None


def _multipart_fields(body: bytes, content_type: str) -> ParamDict:
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser().parsebytes(header + body)
    if not message.is_multipart():
        raise web.HTTPBadRequest(text="multipart body has no parts")
    params: ParamDict = {}
    for part in message.get_payload():
        if not isinstance(part, Message):
            continue
        param = part.get_param("name", header="content-disposition")
        # RFC 2231 encoded names come back as a (charset, language, text) tuple.
        name = collapse_rfc2231_value(param) if isinstance(param, tuple) else param
        if not isinstance(name, str) or part.get_filename() is not None:
            continue  # callbacks carry fields, not files
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        _add(params, name, data.decode(part.get_content_charset() or "utf-8", "replace"))
    return params


async def _read_bounded(request: web.BaseRequest, max_body_size: int) -> bytes:
    if request.content_length is not None and request.content_length > max_body_size:
        raise _BodyTooLarge  # refused before reading a byte
    body = bytearray()
    # Chunked bodies have no length: read no more than one byte past the limit.
    while True:
        chunk = await request.content.readany()
        if not chunk:
            return bytes(body)
        body.extend(chunk)
        if len(body) > max_body_size:
            raise _BodyTooLarge


async def request_params(
    request: web.BaseRequest, *, max_body_size: int = DEFAULT_MAX_BODY_SIZE
) -> ParamDict:
    """The callback parameters of an aiohttp request: a GET's query, a POST's body.

    Bodies may be form posts (``application/x-www-form-urlencoded`` or
    ``multipart/form-data``) or a JSON object (non-string values become ``str``). A key that
    repeats gives a list of its values. Raises ``web.HTTPRequestEntityTooLarge`` for a body
    over ``max_body_size`` bytes (without reading all of it) and ``web.HTTPBadRequest`` for
    a body that cannot be parsed (broken JSON, nesting past the parser's depth, an unknown
    charset); never another exception for what the body holds.
    """
    if request.method in ("GET", "HEAD"):
        params: ParamDict = {}
        for key, value in request.query.items():
            _add(params, key, value)
        return params
    try:
        body = await _read_bounded(request, max_body_size)
    except _BodyTooLarge:
        raise web.HTTPRequestEntityTooLarge(
            max_size=max_body_size,
            actual_size=request.content_length or max_body_size + 1,
            text="body too large",
        ) from None
    content_type = request.content_type
    charset = request.charset or "utf-8"
    if content_type == "application/json" or content_type.endswith("+json"):
        return _json_params(body, charset)
    if content_type.startswith("multipart/"):
        return _multipart_params(body, request.headers.get("Content-Type", ""))
    return _form_params(body, charset)
