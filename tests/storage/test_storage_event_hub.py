"""An EventHub shared through Redis: the callback receiver in one process, the waiter in another.

The receiver is a real child process (an aiohttp server with
``callbacks.handler(hub.publish, ...)`` on ``EventHub(redis_url)``); the waiter is this test's
process, with the fake Plivo, and its own ``EventHub(redis_url)``: the events reach it only
through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

import plivo_numlink as pn
from plivo_numlink import callbacks
from plivo_numlink.callbacks import CallbackKind
from plivo_numlink.testing import FakePlivo, generated_numbers

CAMPAIGN = "CUOGHIN"
ZERO_BACKOFF = pn.RetryPolicy(attempts=3, wait_initial=0, wait_max=0)

RECEIVER = """
import asyncio, sys
from aiohttp import web
from plivo_numlink import callbacks

async def main():
    hub = callbacks.EventHub(sys.argv[1])
    app = web.Application()
    app.router.add_route("*", "/cb", callbacks.handler(hub.publish, auth_token=sys.argv[2]))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed
    await runner.cleanup()
    await hub.aclose()

asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def receiver_process(redis_url: str, auth_token: str) -> AsyncIterator[str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RECEIVER,
        redis_url,
        auth_token,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 30)
        yield f"http://127.0.0.1:{int(line)}/cb"
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), 30)
        except asyncio.TimeoutError:
            child.kill()
            await child.wait()
    assert child.returncode == 0


def session_on(fake: FakePlivo) -> pn.NumLinkSession:
    return pn.NumLinkSession(
        fake.auth_id, fake.auth_token, base_url=fake.base_url, rate_limit=None, retry=ZERO_BACKOFF
    )


def gets(fake: FakePlivo) -> int:
    return sum(request.method == "GET" for request in fake.requests)


async def test_a_wait_in_one_process_completes_from_callbacks_received_in_another(
    redis_url: str,
) -> None:
    numbers = list(generated_numbers(60))
    async with (
        FakePlivo(complete_after=0.3, send_callbacks=True) as fake,
        receiver_process(redis_url, fake.auth_token) as url,
        callbacks.EventHub(redis_url) as hub,
        session_on(fake) as session,
    ):
        report = await session.link_many(
            CAMPAIGN, numbers, url=url, wait=True, timeout=60, poll_interval=1, events=hub
        )
        assert hub.shared
    assert report.counts == {pn.OutcomeKind.COMPLETED: 60}
    assert all(sent.status == 200 for sent in fake.callbacks_sent)
    # One listing pass (3 pages of 20, and the empty page that ends it), then callbacks.
    assert gets(fake) <= 4


async def test_callbacks_kept_in_redis_settle_a_wait_that_begins_after_them(
    redis_url: str,
) -> None:
    numbers = list(generated_numbers(3))
    async with (
        FakePlivo(complete_after_polls=0, send_callbacks=True) as fake,
        receiver_process(redis_url, fake.auth_token) as url,
        session_on(fake) as session,
    ):
        await session.link(CAMPAIGN, numbers, url=url)
        await fake.flush_callbacks()
        assert [sent.status for sent in fake.callbacks_sent] == [200, 200, 200]
        async with callbacks.EventHub(redis_url) as hub:
            report = await session.wait_for_numbers(CAMPAIGN, numbers, events=hub)
    assert report.counts == {pn.OutcomeKind.COMPLETED: 3}
    assert gets(fake) == 0


async def test_a_redis_hub_matches_events_by_account_and_keeps_one_key_per_number(
    redis_url: str,
) -> None:
    event = callbacks.parse_event(
        {
            "event": "number_linking",
            "campaign_id": CAMPAIGN,
            "number": "12125550001",
            "status": "success",
        }
    )
    async with (
        callbacks.EventHub(redis_url, account="MAONE") as one,
        callbacks.EventHub(redis_url) as reader,
    ):
        await one.publish(event)
        await one.publish(event)
        for account, expected in (("MAONE", [event]), ("MATWO", [])):
            watch = reader.watch(account=account, campaign_id=CAMPAIGN, kind=CallbackKind.LINKING)
            async with watch:
                assert await watch.lookup(["12125550001"]) == expected


async def test_a_wait_whose_redis_hub_cannot_be_reached_goes_on_polling(closed_port: int) -> None:
    async with (
        FakePlivo(prelink={CAMPAIGN: ["12125550001"]}) as fake,
        callbacks.EventHub(f"redis://127.0.0.1:{closed_port}/0", timeout=0.5) as hub,
        session_on(fake) as session,
    ):
        report = await session.wait_for_numbers(CAMPAIGN, ["12125550001"], events=hub)
        assert report.ok
        with pytest.raises(pn.StorageError):
            await hub.publish(
                callbacks.parse_event(
                    {
                        "event": "number_linking",
                        "campaign_id": CAMPAIGN,
                        "number": "12125550001",
                        "status": "success",
                    }
                )
            )
