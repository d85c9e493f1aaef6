"""A callback's parameters from raw bytes: a GET's query, or a POST's form, JSON or multipart body.

Framework-neutral and pure: the bytes were read (and bounded) by whoever received them.
Everything the sender can get wrong raises :class:`CallbackRejected` with status 400 and a
short reason; nothing else escapes for what a body holds.
"""

from __future__ import annotations

import json
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from urllib.parse import parse_qsl

from ._events import ParamDict
from ._rejection import CallbackRejected

__all__ = ["DEFAULT_MAX_BODY_SIZE", "body_params", "content_type_of", "query_params"]

#: Callbacks are a handful of short fields; anything much larger is not from Plivo.
DEFAULT_MAX_BODY_SIZE = 64 * 1024


def _bad(reason: str) -> CallbackRejected:
    return CallbackRejected(400, reason)


def add_param(params: ParamDict, key: str, value: str) -> None:
    """Add one value: a key seen once stays a str, a repeated one becomes a list in order."""
    if key not in params:
        params[key] = value
        return
    current = params[key]
    if isinstance(current, list):
        current.append(value)
    else:
        params[key] = [current, value]


def query_params(query: str) -> ParamDict:
    """The parameters of a URL's query string (``a=1&a=2`` gives ``{"a": ["1", "2"]}``)."""
    params: ParamDict = {}
    for key, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        add_param(params, key, value)
    return params


def content_type_of(header: str | None) -> tuple[str, str | None]:
    """``(media type in lower case, charset or None)`` of a Content-Type header value."""
    if not header:
        return "application/octet-stream", None
    message = Message()
    message["Content-Type"] = header
    media = message.get_content_type()
    if media == "text/plain" and not header.strip().lower().startswith("text/plain"):
        media = "application/octet-stream"  # what the email parser says for a broken value
    charset = message.get_param("charset")
    if isinstance(charset, tuple):  # RFC 2231: (charset, language, text)
        charset = collapse_rfc2231_value(charset)
    return media, charset if isinstance(charset, str) and charset else None


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
        raise _bad("body is not valid JSON") from exc
    except RecursionError:
        # 60,000 ``[`` are a few bytes of JSON and past the parser's depth: a 400, not a 500.
        raise _bad("JSON body is nested too deeply") from None
    if not isinstance(data, dict):
        raise _bad("JSON body must be an object")
    params: ParamDict = {}
    try:
        for key, value in data.items():
            if isinstance(value, list):
                params[key] = [_json_text(item) for item in value]
            else:
                params[key] = _json_text(value)
    except (RecursionError, ValueError):
        # Nesting the parser took may still be too deep to write back as text.
        raise _bad("JSON body is nested too deeply") from None
    return params


def _form_params(body: bytes, charset: str) -> ParamDict:
    try:
        text = body.decode(charset, "replace")
        pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="replace")
    except (LookupError, ValueError) as exc:
        raise _bad("body is not a valid form") from exc
    params: ParamDict = {}
    for key, value in pairs:
        add_param(params, key, value)
    return params


def _multipart_params(body: bytes, content_type: str) -> ParamDict:
    # The stdlib MIME parser works on bytes already read (and bounded).
    if not body.strip():
        return {}
    try:
        return _multipart_fields(body, content_type)
    except (LookupError, ValueError, RecursionError, UnicodeError):
        # An unknown charset in a part, header text that is not Latin-1, parts nested
        # past the parser's depth: the sender's fault, so a 400 rather than a 500.
        raise _bad("multipart body cannot be parsed") from None


def _multipart_fields(body: bytes, content_type: str) -> ParamDict:
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser().parsebytes(header + body)
    if not message.is_multipart():
        raise _bad("multipart body has no parts")
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
        add_param(params, name, data.decode(part.get_content_charset() or "utf-8", "replace"))
    return params


def body_params(body: bytes, content_type: str | None) -> ParamDict:
    """The parameters of a POST body, by its Content-Type header value.

    JSON (``application/json`` or ``+json``: an object, non-string values as text),
    ``multipart/*`` (fields; file parts are skipped) and anything else as a form
    (``application/x-www-form-urlencoded``). Raises :class:`CallbackRejected` (400) for a
    body that cannot be parsed.
    """
    media, charset = content_type_of(content_type)
    if media == "application/json" or media.endswith("+json"):
        return _json_params(body, charset or "utf-8")
    if media.startswith("multipart/"):
        return _multipart_params(body, content_type or "")
    return _form_params(body, charset or "utf-8")
