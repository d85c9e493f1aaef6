"""Receiving Plivo's status callbacks: signature checks, event parsing, an aiohttp handler.

After a link or unlink request that named a callback ``url``, Plivo calls that URL with a
``number_linking`` or ``number_unlinking`` event (status ``created``, ``success`` or
``failed``). Plivo signs each callback; :func:`handler` checks the signature, rejects
replays, parses the parameters and awaits your coroutine with a :class:`CallbackEvent`::

    import os

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
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from typing import TypeAlias, cast
from urllib.parse import parse_qs, parse_qsl, urlparse, urlunparse

import attrs
from aiohttp import web

from ._log import register_secret
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
#: Seconds a nonce is remembered: a request carrying a nonce already accepted within this
#: window is refused as a replay. (A request answered 500 is forgotten, so Plivo's retry of
#: it is accepted even if it carries the same nonce.)
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


# --------------------------------------------------------------------------------------------
# Verification

_V2_NONCE = "x-plivo-signature-v2-nonce"
_V3_NONCE = "x-plivo-signature-v3-nonce"
#: Signature header -> (its version, the header holding its nonce). ``Ma`` variants are
#: signed with the main account's token and share the nonce of their version.
_SIGNATURE_HEADERS = {
    "x-plivo-signature-v2": ("v2", _V2_NONCE),
    "x-plivo-signature-ma-v2": ("v2", _V2_NONCE),
    "x-plivo-signature-v3": ("v3", _V3_NONCE),
    "x-plivo-signature-ma-v3": ("v3", _V3_NONCE),
}
#: A header value longer than this holds no signature we could match (a signature is 44
#: characters); refusing early bounds the work one request can cause.
_MAX_SIGNATURE_HEADER = 4096


def _token_list(auth_token: str | Sequence[str]) -> list[str]:
    tokens = [auth_token] if isinstance(auth_token, str) else list(auth_token)
    # An empty token is a key anyone knows: never let it validate a signature.
    return [token for token in tokens if isinstance(token, str) and token]


def _lower_headers(headers: Mapping[str, str]) -> dict[str, list[str]]:
    # ``items()`` yields every value of a multi-dict (aiohttp's CIMultiDictProxy), so a
    # repeated header is seen whole; a plain dict works too, in any letter case.
    found: dict[str, list[str]] = {}
    for name, value in headers.items():
        if isinstance(name, str) and isinstance(value, str):
            found.setdefault(name.lower(), []).append(value)
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


def _valid_nonces(
    method: str, url: str, params: Params, headers: Mapping[str, str], tokens: Sequence[str]
) -> set[tuple[str, str]]:
    """The ``(version, nonce)`` pairs of the signature versions in ``headers`` that match."""
    found = _lower_headers(headers)
    valid: set[tuple[str, str]] = set()
    for header, (version, nonce_header) in _SIGNATURE_HEADERS.items():
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
            # A method other than GET/POST, or a URL urllib cannot split: nothing can match.
            continue
        if any(_matches(signature, candidates) for signature in expected):
            valid.add((version, nonce))
    return valid


def is_valid_signature(
    method: str,
    url: str,
    params: Params,
    headers: Mapping[str, str],
    auth_token: str | Sequence[str],
) -> bool:
    """True when a V2 or V3 signature in ``headers`` matches under one of the tokens.

    ``url`` is the full URL Plivo called (with its query), ``params`` the callback's
    parameters (the body of a POST, the query of a GET), ``headers`` the request headers
    (names in any case), ``auth_token`` one token or several (main and sub-account).
    Checked: ``X-Plivo-Signature-V2`` and ``X-Plivo-Signature-Ma-V2`` with
    ``X-Plivo-Signature-V2-Nonce``; ``X-Plivo-Signature-V3`` and ``X-Plivo-Signature-Ma-V3``
    (each may hold several comma-separated signatures) with ``X-Plivo-Signature-V3-Nonce``.
    Comparisons take constant time. Junk (missing nonce, empty or non-base64 values) gives
    ``False``, never an exception.
    """
    tokens = _token_list(auth_token)
    if not tokens:
        return False
    return bool(_valid_nonces(method, url, params, headers, tokens))


# --------------------------------------------------------------------------------------------
# Parsing


class CallbackKind(str, enum.Enum):
    """What a callback reports on."""

    LINKING = "linking"
    UNLINKING = "unlinking"
    #: An event name this library does not know (the raw text is in ``raw_kind``).
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str | None) -> CallbackKind:
        """The member for ``number_linking``/``linking`` and the like (any case), or UNKNOWN."""
        key = "".join(ch for ch in (value or "").lower() if ch.isalnum())
        if key in ("numberlinking", "linking"):
            return cls.LINKING
        if key in ("numberunlinking", "unlinking"):
            return cls.UNLINKING
        return cls.UNKNOWN

    def __str__(self) -> str:
        return self.value


class CallbackStatus(str, enum.Enum):
    """Where a link or unlink request stands, as a callback reports it."""

    CREATED = "created"
    SUCCESS = "success"
    #: Plivo's advice for this one is to retry the request.
    FAILED = "failed"
    #: A value this library does not know (the raw text is in ``raw_status``).
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str | None) -> CallbackStatus:
        """The member for ``value`` (any case), or UNKNOWN."""
        text = (value or "").strip().lower()
        if text == cls.UNKNOWN.value:
            return cls.UNKNOWN
        try:
            return cls(text)
        except ValueError:
            return cls.UNKNOWN

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class CallbackEvent:
    """One status callback, parsed. Every field Plivo sent stays available in ``raw``."""

    kind: CallbackKind
    #: Normalized (``12125557777``) when it is a valid US number, else the text as sent.
    number: str | None
    campaign_id: str | None
    status: CallbackStatus
    #: Why a request failed, when the callback says.
    reason: str | None = None
    #: The status text as sent (useful when ``status`` is UNKNOWN).
    raw_status: str | None = None
    #: The event name as sent (useful when ``kind`` is UNKNOWN).
    raw_kind: str | None = None
    #: Every parameter of the callback, including ones this library does not know.
    raw: ParamDict = attrs.field(factory=dict, hash=False)

    @property
    def failed(self) -> bool:
        """True when the request failed (Plivo's advice: send it again)."""
        return self.status is CallbackStatus.FAILED


# Field names are not documented; each tuple lists spellings, most likely first. Keys are
# compared with case and punctuation dropped, so ``EventType`` and ``event_type`` are one.
_KIND_KEYS = ("event", "eventtype", "eventname", "type")
_NUMBER_KEYS = ("number", "phonenumber")
_CAMPAIGN_KEYS = ("campaignid",)
_STATUS_KEYS = ("status",)
_REASON_KEYS = (
    "reason",
    "failurereason",
    "error",
    "errormessage",
    "errorreason",
    "remark",
)


def _squash(key: str) -> str:
    return "".join(ch for ch in key.lower() if ch.isalnum())


def _first(value: object) -> str | None:
    if isinstance(value, str):
        text = value
    elif isinstance(value, Sequence) and value:
        text = value[0] if isinstance(value[0], str) else str(value[0])
    elif value is None or isinstance(value, Sequence):
        return None
    else:
        text = str(value)
    # Blank is treated as absent: a success callback may well carry ``reason=""``.
    return text if text.strip() else None


def _lookup(index: Mapping[str, object], keys: Sequence[str]) -> str | None:
    for key in keys:
        if key in index:
            text = _first(index[key])
            if text is not None:
                return text
    return None


def _plain(params: Params) -> ParamDict:
    raw: ParamDict = {}
    for key, declared in params.items():
        # ``object``: callers pass dicts built by hand; a stray int or None must not crash us.
        value = cast(object, declared)
        if isinstance(value, str):
            raw[str(key)] = value
        elif value is None:
            raw[str(key)] = ""  # blank: read as absent
        elif isinstance(value, Sequence):
            raw[str(key)] = [item if isinstance(item, str) else str(item) for item in value]
        else:
            raw[str(key)] = str(value)
    return raw


def parse_event(params: Params) -> CallbackEvent:
    """Turn a callback's parameters into a :class:`CallbackEvent`; never raises.

    Accepted spellings (any case, ``_`` optional): kind from ``event``, ``event_type`` or
    ``type``; number from ``number`` or ``phone_number``; campaign from ``campaign_id``;
    status from ``status``; reason from ``reason``, ``failure_reason``, ``error`` or
    ``remark``. A repeated parameter counts by its first value. Missing or blank fields are
    ``None`` (kind and status: ``UNKNOWN``).
    """
    raw = _plain(params)
    index: dict[str, object] = {}
    for key, value in raw.items():
        index.setdefault(_squash(key), value)
    raw_kind = _lookup(index, _KIND_KEYS)
    raw_status = _lookup(index, _STATUS_KEYS)
    number = _lookup(index, _NUMBER_KEYS)
    if number is not None:
        normalized, _ = try_normalize_number(number)
        number = normalized or number
    return CallbackEvent(
        kind=CallbackKind.parse(raw_kind),
        number=number,
        campaign_id=_lookup(index, _CAMPAIGN_KEYS),
        status=CallbackStatus.parse(raw_status),
        reason=_lookup(index, _REASON_KEYS),
        raw_status=raw_status,
        raw_kind=raw_kind,
        raw=raw,
    )


# --------------------------------------------------------------------------------------------
# Reading a request


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
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="JSON body must be an object")
    params: ParamDict = {}
    for key, value in data.items():
        if isinstance(value, list):
            params[key] = [_json_text(item) for item in value]
        else:
            params[key] = _json_text(value)
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
    a body that cannot be parsed.
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


# --------------------------------------------------------------------------------------------
# The handler

#: What :func:`handler` calls with each event: a coroutine function (a plain function works too).
OnEvent: TypeAlias = Callable[[CallbackEvent], "Awaitable[object] | None"]
#: The URL Plivo calls: a string, or a function of the request that returns it.
PublicUrl: TypeAlias = "str | Callable[[web.Request], str] | None"


class CallbackReceiver:
    """Verifies, de-duplicates and dispatches status callbacks; ``handle`` is the handler.

    It remembers the nonce of each accepted callback for ``replay_window`` seconds (at most
    ``max_nonces`` of them, the oldest forgotten first) and refuses a request that carries
    one again. See :func:`handler` for the arguments.
    """

    def __init__(
        self,
        on_event: OnEvent,
        *,
        auth_token: str | Sequence[str],
        public_url: PublicUrl = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        replay_window: float = DEFAULT_REPLAY_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        max_nonces: int = DEFAULT_MAX_NONCES,
    ) -> None:
        tokens = _token_list(auth_token)
        if not tokens:
            raise ValueError("auth_token must be a non-empty string or a sequence of them")
        if max_body_size < 1:
            raise ValueError(f"max_body_size must be at least 1, not {max_body_size!r}")
        if not replay_window >= 0:  # also refuses NaN
            raise ValueError(f"replay_window must be >= 0 seconds, not {replay_window!r}")
        if max_nonces < 1:
            raise ValueError(f"max_nonces must be at least 1, not {max_nonces!r}")
        self._on_event = on_event
        self._tokens = tokens
        for token in tokens:  # masked in any record on the plivo_numlink logger
            register_secret(token)
        self._public_url = public_url
        self._max_body_size = max_body_size
        self._replay_window = replay_window
        self._clock = clock
        self._max_nonces = max_nonces
        # (version, nonce) -> when it may be forgotten; insertion order is expiry order.
        self._seen: collections.OrderedDict[tuple[str, str], float] = collections.OrderedDict()

    def __repr__(self) -> str:
        # Never the tokens.
        return f"<CallbackReceiver on_event={self._on_event!r} public_url={self._public_url!r}>"

    def url_for(self, request: web.Request) -> str:
        """The URL the signature is checked against: ``public_url``, or the request's own."""
        public = self._public_url
        if public is None:
            return str(request.url)
        url = public if isinstance(public, str) else public(request)
        # A proxy rewrites the origin and path, rarely the query: keep the request's query
        # when the public URL names none, as Plivo signs the URL it called, query included.
        if request.query_string and not urlparse(url).query:
            url = f"{url}?{request.query_string}"
        return url

    def _expire(self, now: float) -> None:
        while self._seen:
            key, expiry = next(iter(self._seen.items()))
            if expiry > now and len(self._seen) <= self._max_nonces:
                return
            del self._seen[key]

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp handler: 200 ``OK`` once ``on_event`` returned; see :func:`handler`."""
        try:
            params = await request_params(request, max_body_size=self._max_body_size)
        except web.HTTPException as exc:
            return web.Response(status=exc.status, text=exc.text or exc.reason)
        url = self.url_for(request)
        nonces = _valid_nonces(request.method, url, params, request.headers, self._tokens)
        if not nonces:
            has_signature = any(name.lower() in _SIGNATURE_HEADERS for name in request.headers)
            text = "invalid signature" if has_signature else "missing signature"
            logger.warning("status callback refused (%s) for %s", text, url)
            return web.Response(status=403, text=text)
        now = self._clock()
        self._expire(now)
        if any(key in self._seen for key in nonces):
            logger.warning("status callback refused (replayed nonce) for %s", url)
            return web.Response(status=403, text="replayed")
        for key in nonces:
            self._seen[key] = now + self._replay_window
        self._expire(now)
        event = parse_event(params)
        done = False
        try:
            result = self._on_event(event)
            if inspect.isawaitable(result):
                await result
            done = True
        except Exception:
            logger.exception(
                "status callback handler failed for %s event on number %s (answering 500 so "
                "Plivo retries)",
                event.kind,
                event.number,
            )
            return web.Response(status=500, text="callback handler failed")
        finally:
            if not done:
                # Plivo's retry may carry the same nonce: it must not look like a replay.
                for key in nonces:
                    self._seen.pop(key, None)
        return web.Response(text="OK")


def handler(
    on_event: OnEvent,
    *,
    auth_token: str | Sequence[str],
    public_url: PublicUrl = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    replay_window: float = DEFAULT_REPLAY_WINDOW,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler that verifies, de-duplicates and parses Plivo's status callbacks.

    For each request it reads the parameters (:func:`request_params`), checks the
    signature (:func:`is_valid_signature`) against ``public_url`` and ``auth_token``, refuses
    a nonce already accepted within ``replay_window`` seconds, then awaits
    ``on_event(parse_event(params))``. Answers:

    - 200 ``OK`` once ``on_event`` returned;
    - 403 ``missing signature``, ``invalid signature`` or ``replayed`` (``on_event`` is not
      called);
    - 413 for a body over ``max_body_size`` bytes (refused before reading it whole when the
      request says its length), 400 for a body that cannot be parsed;
    - 500 when ``on_event`` raised: the exception is logged on the ``plivo_numlink`` logger
      and the nonce forgotten, so that Plivo's retry (60, 120, 240 s later) is accepted.

    ``auth_token``: the token (or tokens: main and sub-account) Plivo signs with.
    ``public_url``: the full URL Plivo calls, when a proxy makes the URL the app sees
    differ (scheme, host, path); or a callable taking the request and returning it. Without
    it the request's own URL is used. The request's query is added when ``public_url`` has
    none. ``clock``: seconds, for the replay window (injectable for tests).
    """
    receiver = CallbackReceiver(
        on_event,
        auth_token=auth_token,
        public_url=public_url,
        max_body_size=max_body_size,
        replay_window=replay_window,
        clock=clock,
    )
    return receiver.handle
