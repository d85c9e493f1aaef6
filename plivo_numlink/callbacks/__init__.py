"""Receiving Plivo's status callbacks: verify them in any framework, or mount a receiver.

After a link or unlink request that named a callback ``url``, Plivo calls that URL with a
``number_linking`` or ``number_unlinking`` event (status ``created``, ``success`` or
``failed``), signed with the account's auth token. This package checks those signatures,
refuses replays, parses the event and hands you a :class:`CallbackEvent`:

- :func:`handler` (aiohttp) and :func:`asgi_app` (FastAPI, Starlette, any ASGI server) are
  receivers: they answer the request and await your ``on_event(event)``::

      import os

      from fastapi import FastAPI
      from plivo_numlink import callbacks

      async def on_event(event: callbacks.CallbackEvent) -> None:
          if event.status is callbacks.CallbackStatus.FAILED:
              print(f"{event.kind}: {event.number} failed: {event.reason}")

      app = FastAPI()
      app.mount(
          "/plivo/numlink",
          callbacks.asgi_app(
              on_event,
              auth_token=os.environ["PLIVO_AUTH_TOKEN"],
              public_url="https://example.com/plivo/numlink/",  # the URL Plivo calls
          ),
      )

- :func:`verify` is the framework-neutral core both are built on: method, URL, headers and
  raw body in, a :class:`CallbackEvent` out, or :class:`CallbackRejected` with the HTTP
  ``status`` to answer and a ``reason``.
- :class:`ReplayGuard` remembers accepted nonces, in memory or shared through Redis.

The receivers answer 200 once ``on_event`` returned, 403 for a bad, missing or replayed
signature, 413 for a body over ``max_body_size``, 408 for a body not received within
``body_timeout``, 400 for a request they cannot read, 503 when a shared replay store fails,
and 500 when ``on_event`` raised (Plivo then retries the callback after 60, 120 and 240
seconds, so ``on_event`` should be idempotent). Each refusal logs one WARNING line on the
``plivo_numlink`` logger.

The signature functions (:func:`signature_v2`, :func:`signature_v3`,
:func:`canonical_string_v3`, :func:`is_valid_signature`) and :func:`parse_event` are pure.
The parts live in private modules: ``_signatures``, ``_events``, ``_body`` (parameters from
bytes), ``_rejection``, ``_replay``, ``_verify``, ``_receiver`` (what the receivers share),
``_handler`` (aiohttp), ``_asgi`` and ``_request``. Import the names from here.
"""

from __future__ import annotations

# ``X as X``: importable from here as from the single module this package was, though
# not in __all__ (ParamDict, OnEvent, PublicUrl, DEFAULT_MAX_NONCES, logger).
from ._asgi import CallbackApp, asgi_app
from ._events import CallbackEvent, CallbackKind, CallbackStatus, parse_event
from ._events import ParamDict as ParamDict
from ._handler import CallbackReceiver, handler
from ._handler import PublicUrl as PublicUrl
from ._hub import EventHub
from ._receiver import DEFAULT_BODY_TIMEOUT, DEFAULT_REPLAY_WINDOW
from ._receiver import DEFAULT_MAX_NONCES as DEFAULT_MAX_NONCES
from ._receiver import OnEvent as OnEvent
from ._receiver import logger as logger
from ._rejection import CallbackRejected
from ._replay import ReplayGuard
from ._request import DEFAULT_MAX_BODY_SIZE, request_params
from ._signatures import (
    Params,
    canonical_string_v3,
    is_valid_signature,
    signature_v2,
    signature_v3,
)
from ._verify import verify

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_REPLAY_WINDOW",
    "CallbackApp",
    "CallbackEvent",
    "CallbackKind",
    "CallbackReceiver",
    "CallbackRejected",
    "CallbackStatus",
    "EventHub",
    "Params",
    "ReplayGuard",
    "asgi_app",
    "canonical_string_v3",
    "handler",
    "is_valid_signature",
    "parse_event",
    "request_params",
    "signature_v2",
    "signature_v3",
    "verify",
]
