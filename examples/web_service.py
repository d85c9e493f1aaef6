"""An aiohttp web service that links numbers on request and receives Plivo's status callbacks.

What it shows: one ``NumLinkSession`` shared by every request (opened at start-up and closed
at clean-up through ``cleanup_ctx``), the library's errors mapped to HTTP answers, and the
signed status callbacks received with ``plivo_numlink.callbacks.handler``.

Run it (without PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, or with ``--fake``, it starts the embedded
fake Plivo, which completes each link a second later and calls this service back)::

    python examples/web_service.py --port 8080
    PLIVO_AUTH_ID=... PLIVO_AUTH_TOKEN=... python examples/web_service.py --port 8080 \\
        --callback-url https://numlink.example.com/plivo/numlink

then::

    curl -X POST localhost:8080/campaigns/CUOGHIN/numbers -d '{"number": "+1 212-555-7777"}'
    curl localhost:8080/campaigns/CUOGHIN/numbers/12125557777
    curl localhost:8080/events
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

import plivo_numlink as pn
from plivo_numlink import callbacks
from plivo_numlink.testing import FakePlivo

#: A web request should fail within seconds, not wait out the bulk-friendly default retries.
WEB_RETRY = pn.RetryPolicy(attempts=3, wait_initial=0.5, wait_max=2)


@dataclass(frozen=True)
class Settings:
    """What the service needs to reach Plivo (the tests build it for a FakePlivo)."""

    auth_id: str
    auth_token: str
    #: None: PLIVO_NUMLINK_BASE_URL if set (a fake-server's URL, say), else Plivo's API.
    base_url: str | None = None
    #: The URL Plivo calls back (this service's /plivo/numlink as the internet sees it).
    #: None: the URL the request came in on, right when Plivo reaches us directly (the fake).
    callback_url: str | None = None
    retry: pn.RetryPolicy = WEB_RETRY
    timeout: float = 10.0


SETTINGS = web.AppKey("settings", Settings)
SESSION = web.AppKey("session", pn.NumLinkSession)
EVENTS = web.AppKey("events", list[callbacks.CallbackEvent])
CALLBACK_ROUTE = "plivo-callback"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def plivo_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn the library's exceptions into HTTP answers: the library raises, the service maps."""
    try:
        return await handler(request)
    except ValueError as exc:  # InvalidNumberError, a bad campaign id, a body that is not JSON
        return error(400, str(exc))
    except pn.NotFoundError as exc:
        return error(404, exc.message)
    except (pn.AuthenticationError, pn.ForbiddenError):
        # Our credentials, not the client's request: a bad gateway.
        return error(502, "Plivo refused this service's credentials")
    except (pn.RateLimitError, pn.ServerError, pn.TransportError):
        # Already retried by the session: tell the client to come back later.
        return error(503, "Plivo is unavailable or busy, try again later")
    except pn.APIStatusError as exc:  # any other 4xx, e.g. "already requested for linking"
        return error(400, exc.message)
    except pn.PlivoError as exc:  # e.g. ResponseFormatError: an answer we cannot read
        return error(502, str(exc))


async def numlink_session(app: web.Application) -> AsyncIterator[None]:
    """One session for the whole service: its limits hold for all requests together."""
    settings = app[SETTINGS]
    async with pn.NumLinkSession(
        settings.auth_id,
        settings.auth_token,
        base_url=settings.base_url,
        retry=settings.retry,
        timeout=settings.timeout,
    ) as session:
        app[SESSION] = session
        yield


async def link_number(request: web.Request) -> web.Response:
    """POST /campaigns/{campaign_id}/numbers with {"number": "..."}: ask Plivo to link it."""
    try:
        body: Any = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("number"), str):
        raise ValueError('expected a JSON object like {"number": "+1 212-555-7777"}')
    number = pn.normalize_number(body["number"])  # InvalidNumberError before anything is sent
    campaign_id = request.match_info["campaign_id"]
    callback_url = request.app[SETTINGS].callback_url or str(
        request.url.join(request.app.router[CALLBACK_ROUTE].url_for())
    )
    ack = await request.app[SESSION].link(campaign_id, number, url=callback_url)
    answer = {"number": number, "campaign_id": campaign_id, "api_id": ack.api_id}
    return web.json_response({**answer, "message": ack.message}, status=202)


async def number_status(request: web.Request) -> web.Response:
    """GET /campaigns/{campaign_id}/numbers/{number}: Plivo's status and our callbacks."""
    campaign_id = request.match_info["campaign_id"]
    status = await request.app[SESSION].get_number(campaign_id, request.match_info["number"])
    events = [
        event_json(event)
        for event in request.app[EVENTS]
        if event.number == status.number and event.campaign_id == campaign_id
    ]
    text = status.raw_status or str(status.status)
    return web.json_response({"number": status.number, "status": text, "events": events})


async def list_events(request: web.Request) -> web.Response:
    """GET /events: every status callback received so far."""
    return web.json_response([event_json(event) for event in request.app[EVENTS]])


def event_json(event: callbacks.CallbackEvent) -> dict[str, str | None]:
    return {
        "kind": str(event.kind),
        "campaign_id": event.campaign_id,
        "number": event.number,
        "status": str(event.status),
        "reason": event.reason,
    }


def make_app(settings: Settings) -> web.Application:
    """The service; its NumLinkSession opens when the app starts and closes at clean-up."""
    app = web.Application(middlewares=[plivo_errors])
    app[SETTINGS] = settings
    events: list[callbacks.CallbackEvent] = []
    app[EVENTS] = events
    app.cleanup_ctx.append(numlink_session)

    async def on_event(event: callbacks.CallbackEvent) -> None:
        # Only verified, non-replayed callbacks get here. A real service would store them
        # idempotently (Plivo retries a callback that did not get a 200).
        events.append(event)
        reason = f" ({event.reason})" if event.reason else ""
        print(f"callback: {event.kind} {event.number} {event.status}{reason}", flush=True)

    app.router.add_post("/campaigns/{campaign_id}/numbers", link_number)
    app.router.add_get("/campaigns/{campaign_id}/numbers/{number}", number_status)
    app.router.add_get("/events", list_events)
    app.router.add_route(
        "*",  # Plivo calls back with the method given on link: POST by default
        "/plivo/numlink",
        callbacks.handler(
            on_event, auth_token=settings.auth_token, public_url=settings.callback_url
        ),
        name=CALLBACK_ROUTE,
    )
    return app


WHY_FAKE = "for the real API: set PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, no --fake"


def use_fake(force: bool) -> bool:
    if force or os.environ.get("PLIVO_NUMLINK_USE_FAKE") == "1":
        return True
    return not (os.environ.get("PLIVO_AUTH_ID") and os.environ.get("PLIVO_AUTH_TOKEN"))


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
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
            if args.callback_url is None:
                print("no --callback-url: Plivo must reach this service at the URL it is called on")
        runner = web.AppRunner(make_app(settings))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, args.host, args.port).start()
        host, port = runner.addresses[0][:2]  # the port chosen when --port is 0
        print(f"listening on http://{host}:{port} (Ctrl-C to stop)", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--callback-url", help="the public URL of /plivo/numlink")
    parser.add_argument("--fake", action="store_true", help="use the embedded fake Plivo")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
