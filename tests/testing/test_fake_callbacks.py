"""FakePlivo's status callbacks: when they are sent, signed like Plivo's, and what is
recorded when the target is unreachable or the fake is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from _fake_client import (
    CAMPAIGN,
    N1,
    Clock,
    free_port,
    serving,
)
from aiohttp import web

from plivo_numlink.testing import (
    FakePlivo,
)

# ------------------------------------------------------------------------------------------
# Status callbacks


@contextlib.asynccontextmanager
async def receiver(fake: FakePlivo) -> AsyncIterator[tuple[str, asyncio.Queue[Any]]]:
    """An app on 127.0.0.1 that checks signatures with plivo_numlink.callbacks."""
    from plivo_numlink.callbacks import handler

    events: asyncio.Queue[Any] = asyncio.Queue()
    app = web.Application()
    app.router.add_route("*", "/cb", handler(events.put, auth_token=fake.auth_token))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/cb", events
    finally:
        await runner.cleanup()


async def test_link_callback_is_sent_signed_when_the_number_completes() -> None:
    from plivo_numlink.callbacks import is_valid_signature

    async with serving(complete_after_polls=0) as api, receiver(api.fake) as (url, events):
        fake = api.fake
        await api.link(N1, url=url)
        event = await asyncio.wait_for(events.get(), 5)
        await fake.flush_callbacks()
    assert (event.kind, event.number, event.campaign_id, event.status) == (
        "linking",
        N1,
        CAMPAIGN,
        "success",
    )
    (sent,) = fake.callbacks_sent
    assert sent.status == 200  # the receiver accepted the signatures
    assert sent.method == "POST"
    assert set(sent.params) == {"event", "campaign_id", "number", "status", "timestamp"}
    assert is_valid_signature("POST", url, sent.params, sent.headers, fake.auth_token)
    assert {
        "X-Plivo-Signature-V2",
        "X-Plivo-Signature-V2-Nonce",
        "X-Plivo-Signature-Ma-V2",
        "X-Plivo-Signature-V3",
        "X-Plivo-Signature-V3-Nonce",
        "X-Plivo-Signature-Ma-V3",
    } <= set(sent.headers)


async def test_failed_link_callback_carries_a_reason() -> None:
    options: dict[str, Any] = {"complete_after_polls": 0, "fail_numbers": [N1]}
    async with serving(**options) as api, receiver(api.fake) as (url, events):
        await api.link(N1, url=url)
        event = await asyncio.wait_for(events.get(), 5)
    assert event.status == "failed"
    assert event.reason


async def test_get_callback_sends_the_parameters_in_the_query() -> None:
    async with serving(complete_after_polls=0) as api, receiver(api.fake) as (url, events):
        fake = api.fake
        await api.link(N1, url=url + "?tag=x", method="GET")
        event = await asyncio.wait_for(events.get(), 5)
        await fake.flush_callbacks()
    assert event.number == N1
    assert fake.callbacks_sent[0].method == "GET"
    assert fake.callbacks_sent[0].status == 200


async def test_unlink_callback_is_sent_when_the_number_is_gone() -> None:
    async with serving(complete_after_polls=0) as api, receiver(api.fake) as (url, events):
        fake = api.fake
        fake.set_status(CAMPAIGN, N1, "COMPLETED")
        await api.unlink(N1, json={"url": url})
        event = await asyncio.wait_for(events.get(), 5)
        assert fake.numbers(CAMPAIGN) == {}
    assert (event.kind, event.status) == ("unlinking", "success")


async def test_callback_comes_alone_once_read_complete_after_polls_times() -> None:
    # Plivo's processing needs no reads: once shown complete_after_polls times, a change
    # finishes on time and its callback comes without another read.
    async with serving(complete_after_polls=2) as api, receiver(api.fake) as (url, events):
        fake = api.fake
        await api.link(N1, url=url)
        await api.list()
        await fake.flush_callbacks()
        assert fake.callbacks_sent == []
        await api.list()
        event = await asyncio.wait_for(events.get(), 5)
    assert event.status == "success"
    assert fake.numbers(CAMPAIGN) == {N1: "COMPLETED"}


async def test_unreachable_callback_target_is_recorded_not_raised() -> None:
    url = f"http://127.0.0.1:{free_port()}/cb"
    async with serving(complete_after_polls=0) as api:
        fake = api.fake
        await api.link(N1, url=url)
        await fake.flush_callbacks()
        (sent,) = fake.callbacks_sent
        assert sent.status is None
        assert sent.error
        assert (await api.list()).status == 200


async def test_callback_due_while_stopped_is_recorded_not_sent() -> None:
    clock = Clock()
    async with serving(complete_after=60, complete_after_polls=1, clock=clock) as api:
        fake = api.fake
        await api.link(N1, url="http://127.0.0.1:9/cb")
        await api.list()
    clock.now += 60
    assert fake.numbers(CAMPAIGN) == {N1: "COMPLETED"}
    (sent,) = fake.callbacks_sent
    assert sent.status is None
    assert sent.error == "fake server not running"


async def test_pending_callback_timers_are_cancelled_on_stop_and_rearmed_on_start() -> None:
    clock = Clock()
    async with serving(complete_after=60, complete_after_polls=0, clock=clock) as api:
        fake = api.fake
        await api.link(N1, url="http://127.0.0.1:9/cb")
        await fake.stop()
        assert fake.campaigns[CAMPAIGN].pending[N1].timer is None
        await fake.start()
        assert fake.campaigns[CAMPAIGN].pending[N1].timer is not None
        fake.set_status(CAMPAIGN, N1, "COMPLETED")
        assert fake.campaigns[CAMPAIGN].pending == {}


async def test_no_callbacks_when_turned_off() -> None:
    async with serving(complete_after_polls=0, send_callbacks=False) as api:
        fake = api.fake
        await api.link(N1, url="http://127.0.0.1:9/cb")
        await api.list()
        await fake.flush_callbacks()
        assert fake.callbacks_sent == []
