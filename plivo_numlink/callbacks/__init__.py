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
signature, 413 for a body over ``max_body_size``, 400 for a request it cannot read, and 500
when ``on_event`` raised (Plivo then retries the callback after 60, 120 and 240 seconds, so
``on_event`` should be idempotent). Each refusal logs one WARNING line on the
``plivo_numlink`` logger.

The signature functions (:func:`signature_v2`, :func:`signature_v3`,
:func:`canonical_string_v3`, :func:`is_valid_signature`) are pure, so they are tested with
tables and a fake server can use them to sign its own callbacks. :func:`parse_event` is pure
too; :func:`request_params` is the only part that reads a request.

The parts live in private modules: ``_signatures`` (computing and checking signatures),
``_events`` (the event types and :func:`parse_event`), ``_request`` (reading a request's
parameters) and ``_handler`` (the receiver and its replay window). Import the names from
here.
"""

from __future__ import annotations

# ``X as X``: importable from here as from the single module this package was, though
# not in __all__ (ParamDict, OnEvent, PublicUrl, DEFAULT_MAX_NONCES, logger).
from ._events import CallbackEvent, CallbackKind, CallbackStatus, parse_event
from ._events import ParamDict as ParamDict
from ._handler import DEFAULT_MAX_NONCES as DEFAULT_MAX_NONCES
from ._handler import DEFAULT_REPLAY_WINDOW, CallbackReceiver, handler
from ._handler import OnEvent as OnEvent
from ._handler import PublicUrl as PublicUrl
from ._handler import logger as logger
from ._hub import EventHub
from ._request import DEFAULT_MAX_BODY_SIZE, request_params
from ._signatures import (
    Params,
    canonical_string_v3,
    is_valid_signature,
    signature_v2,
    signature_v3,
)

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_REPLAY_WINDOW",
    "CallbackEvent",
    "CallbackKind",
    "CallbackReceiver",
    "CallbackStatus",
    "EventHub",
    "Params",
    "canonical_string_v3",
    "handler",
    "is_valid_signature",
    "parse_event",
    "request_params",
    "signature_v2",
    "signature_v3",
]
