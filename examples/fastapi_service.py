"""A FastAPI service that links numbers and learns from Plivo's signed callbacks when they are done.

What it shows: one ``NumLinkSession`` for the whole service, opened and closed in FastAPI's
``lifespan``; an endpoint that links a number and, if asked, waits for its final status
callback; the status callbacks received by ``plivo_numlink.callbacks.asgi_app`` mounted at
``/plivo/numlink`` (signatures checked, replays refused); the library's errors mapped to
HTTP answers. Needs ``pip install 'plivo-numlink[examples]'`` (FastAPI and uvicorn).

Run it (without PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, or with ``--fake``, it starts the embedded
fake Plivo, which completes each link a second later and calls this service back)::

    python examples/fastapi_service.py --port 8000
    PLIVO_AUTH_ID=... PLIVO_AUTH_TOKEN=... python examples/fastapi_service.py --port 8000 \\
        --callback-url https://numlink.example.com/plivo/numlink/

then::

    curl -X POST localhost:8000/campaigns/CUOGHIN/numbers \\
        -H 'content-type: application/json' -d '{"number": "+1 212-555-7777", "wait": 10}'
    curl localhost:8000/campaigns/CUOGHIN/numbers/12125557777
    curl localhost:8000/events
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

import plivo_numlink as pn
from plivo_numlink import callbacks
from plivo_numlink.testing import FakePlivo

#: A web request should fail within seconds, not wait out the bulk-friendly default retries.
WEB_RETRY = pn.RetryPolicy(attempts=3, wait_initial=0.5, wait_max=2)


@dataclass(frozen=True)
class Settings:
    """What the service needs to reach Plivo."""

    auth_id: str
    auth_token: str
    #: None: PLIVO_NUMLINK_BASE_URL if set (a fake-server's URL, say), else Plivo's API.
    base_url: str | None = None
    #: The URL Plivo calls back: this service's /plivo/numlink/ as the internet sees it.
    #: None: the URL the request came in on, right when Plivo reaches us directly (the fake).
    callback_url: str | None = None
    retry: pn.RetryPolicy = WEB_RETRY
    timeout: float = 10.0


class Received:
    """The callbacks this process received, for the ``/events`` page, and the hub waits use.

    ``callbacks.EventHub()`` hands each final callback to the waits (``events=hub``); it
    keeps them an hour, so a wait that starts after the callback came still sees it.
    ``EventHub("redis://...")`` reaches waits in other processes (workers) too.
    """

    def __init__(self, hub: callbacks.EventHub, keep: int = 1000) -> None:
        self.hub = hub
        self.events: collections.deque[callbacks.CallbackEvent] = collections.deque(maxlen=keep)

    async def publish(self, event: callbacks.CallbackEvent) -> None:
        """The receiver's ``on_event``: only verified, non-replayed callbacks get here."""
        self.events.append(event)
        reason = f" ({event.reason})" if event.reason else ""
        print(f"callback: {event.kind} {event.number} {event.status}{reason}", flush=True)
        await self.hub.publish(event)


class LinkRequest(BaseModel):
    number: str
    #: Seconds to wait for Plivo's final callback before answering (0: answer at once).
    wait: float = Field(default=0, ge=0, le=60)


def event_json(event: callbacks.CallbackEvent) -> dict[str, str | None]:
    return {
        "kind": str(event.kind),
        "campaign_id": event.campaign_id,
        "number": event.number,
        "status": str(event.status),
        "reason": event.reason,
    }


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def plivo_error(request: Request, exc: Exception) -> JSONResponse:
    """The library raises, the service maps (as in web_service.py)."""
    if isinstance(exc, ValueError):  # InvalidNumberError, a bad campaign id
        return error(400, str(exc))
    if isinstance(exc, pn.NotFoundError):
        return error(404, exc.message)
    if isinstance(exc, (pn.AuthenticationError, pn.ForbiddenError)):
        return error(502, "Plivo refused this service's credentials")
    if isinstance(exc, (pn.RateLimitError, pn.ServerError, pn.TransportError)):
        return error(503, "Plivo is unavailable or busy, try again later")
    if isinstance(exc, pn.APIStatusError):  # e.g. "already requested for linking"
        return error(400, exc.message)
    return error(502, str(exc))


def make_app(settings: Settings) -> FastAPI:
    hub = callbacks.EventHub()  # EventHub("redis://...") to reach waits in other processes
    received = Received(hub)
    receiver = callbacks.asgi_app(
        received.publish,
        auth_token=settings.auth_token,
        public_url=settings.callback_url,
        # replay_store="redis://..." when several processes serve this app
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One session for the whole service: its limits hold for all requests together.
        async with pn.NumLinkSession(
            settings.auth_id,
            settings.auth_token,
            base_url=settings.base_url,
            retry=settings.retry,
            timeout=settings.timeout,
        ) as session:
            app.state.session = session
            yield
        await receiver.aclose()  # a mounted app gets no lifespan of its own
        await hub.aclose()

    app = FastAPI(lifespan=lifespan)
    app.state.received = received
    app.add_exception_handler(pn.PlivoError, plivo_error)
    app.add_exception_handler(ValueError, plivo_error)

    @app.post("/campaigns/{campaign_id}/numbers")
    async def link_number(campaign_id: str, body: LinkRequest, request: Request) -> JSONResponse:
        """Ask Plivo to link the number; with ``wait``, answer once its final callback came
        (200 with its status), or 202 when it did not come in time."""
        number = pn.normalize_number(body.number)  # InvalidNumberError before anything is sent
        # The mount answers below its path: Plivo is given the URL with a trailing slash.
        url = settings.callback_url or str(request.url_for("plivo_callbacks", path="/"))
        ack = await request.app.state.session.link(campaign_id, number, url=url)
        answer: dict[str, Any] = {"number": number, "campaign_id": campaign_id}
        answer["api_id"] = ack.api_id
        if not body.wait:
            return JSONResponse(answer, status_code=202)
        # Settled by the final callback (polling is only the safety net, backed off).
        report = await request.app.state.session.wait_for_numbers(
            campaign_id, [number], timeout=body.wait, events=hub
        )
        outcome = report[number]
        done = outcome.kind in (pn.OutcomeKind.COMPLETED, pn.OutcomeKind.REMOTE_FAILED)
        answer["status"] = "success" if outcome.ok else "failed" if done else "pending"
        answer["reason"] = outcome.error
        return JSONResponse(answer, status_code=200 if done else 202)

    @app.get("/campaigns/{campaign_id}/numbers/{number}")
    async def number_status(campaign_id: str, number: str, request: Request) -> dict[str, Any]:
        status = await request.app.state.session.get_number(campaign_id, number)
        events = [
            event_json(event)
            for event in received.events
            if event.number == status.number and event.campaign_id == campaign_id
        ]
        return {
            "number": status.number,
            "status": status.raw_status or str(status.status),
            "events": events,
        }

    @app.get("/events")
    async def list_events() -> list[dict[str, str | None]]:
        return [event_json(event) for event in received.events]

    app.mount("/plivo/numlink", receiver, name="plivo_callbacks")
    return app


WHY_FAKE = "for the real API: set PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, no --fake"


def use_fake(force: bool) -> bool:
    if force or os.environ.get("PLIVO_NUMLINK_USE_FAKE") == "1":
        return True
    return not (os.environ.get("PLIVO_AUTH_ID") and os.environ.get("PLIVO_AUTH_TOKEN"))


async def serve(args: argparse.Namespace) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if use_fake(args.fake):
            # complete_after_polls=0: each link completes on its own, and the fake calls back.
            fake = FakePlivo(complete_after=1.0, complete_after_polls=0)
            await stack.enter_async_context(fake)
            print(f"using the embedded fake Plivo at {fake.base_url} ({WHY_FAKE})", flush=True)
            settings = Settings(fake.auth_id, fake.auth_token, fake.base_url, args.callback_url)
        else:
            settings = Settings(
                os.environ["PLIVO_AUTH_ID"],
                os.environ["PLIVO_AUTH_TOKEN"],
                callback_url=args.callback_url,
            )
        config = uvicorn.Config(make_app(settings), host=args.host, port=args.port)
        # uvicorn stops on SIGINT and SIGTERM, after the lifespan's shutdown.
        await uvicorn.Server(config).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    parser.add_argument("--callback-url", help="the public URL of /plivo/numlink/")
    parser.add_argument("--fake", action="store_true", help="use the embedded fake Plivo")
    args = parser.parse_args()
    # The library logs refused callbacks (and why) as WARNING lines, but adds no handler.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
