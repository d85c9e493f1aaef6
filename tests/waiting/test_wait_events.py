"""Completion from callbacks: a receiver publishes into an EventHub, the waits settle from it."""

from __future__ import annotations

import asyncio

import pytest

import plivo_numlink as pn
from plivo_numlink import callbacks
from plivo_numlink.callbacks import CallbackEvent, CallbackKind
from plivo_numlink.testing import FakePlivo, generated_numbers

from .wait_support import CAMPAIGN, VirtualTime, gets, linked_numbers, receiver, session_on


def event(number: str, status: str = "success", kind: str = "number_linking") -> CallbackEvent:
    return callbacks.parse_event(
        {"event": kind, "campaign_id": CAMPAIGN, "number": number, "status": status}
    )


async def test_2000_numbers_complete_from_callbacks_in_about_one_listing_pass() -> None:
    # The cost goal: callbacks on, poll_interval=1, processing over within seconds:
    # at most 120 GETs in all, every number completed exactly once.
    numbers = list(generated_numbers(2000))
    async with (
        FakePlivo(complete_after=0.5, send_callbacks=True) as fake,
        callbacks.EventHub() as hub,
        receiver(hub, fake.auth_token) as url,
        session_on(fake, concurrency=20) as session,
    ):
        seen: list[pn.NumberOutcome] = []
        report = await session.link_many(
            CAMPAIGN,
            numbers,
            url=url,
            wait=True,
            timeout=120,
            poll_interval=1,
            events=hub,
            on_outcome=seen.append,
        )
    assert report.counts == {pn.OutcomeKind.COMPLETED: 2000}
    assert gets(fake) <= 120
    assert sorted(linked_numbers(fake)) == sorted(numbers)  # each linked once
    waited = [o.number for o in seen if o.kind is pn.OutcomeKind.COMPLETED]
    assert sorted(waited) == sorted(numbers)  # each told completed once


async def test_an_event_that_came_before_the_wait_began_settles_the_number() -> None:
    time = VirtualTime()
    async with (
        FakePlivo(clock=time.clock, complete_after=1000) as fake,
        callbacks.EventHub() as hub,
        session_on(fake, time) as session,
    ):
        await session.link(CAMPAIGN, ["12125550001"])
        await hub.publish(event("12125550001"))
        report = await session.wait_for_numbers(
            CAMPAIGN, ["12125550001"], timeout=600, poll_interval=1, events=hub
        )
    assert report["12125550001"].kind is pn.OutcomeKind.COMPLETED
    assert gets(fake) == 0  # the kept event was enough: no polling at all


async def test_a_failed_callback_settles_the_number_as_remote_failed() -> None:
    time = VirtualTime()
    async with (
        FakePlivo(clock=time.clock, complete_after=1000) as fake,
        callbacks.EventHub() as hub,
        session_on(fake, time) as session,
    ):
        await session.link(CAMPAIGN, ["12125550001"])
        await hub.publish(event("12125550001", "failed"))
        report = await session.wait_for_numbers(CAMPAIGN, ["12125550001"], timeout=600, events=hub)
    assert report["12125550001"].kind is pn.OutcomeKind.REMOTE_FAILED


async def test_events_are_matched_by_campaign_kind_and_account() -> None:
    hub = callbacks.EventHub(account="MAOTHERACCOUNT000000")
    other = callbacks.EventHub()
    await hub.publish(event("12125550001"))
    await other.publish(event("12125550001", kind="number_unlinking"))
    await other.publisher("MAOTHERACCOUNT000000")(event("12125550002"))
    for source, numbers in ((hub, ["12125550001"]), (other, ["12125550001", "12125550002"])):
        watch = source.watch(
            account="MAMYACCOUNT000000000", campaign_id=CAMPAIGN, kind=CallbackKind.LINKING
        )
        async with watch:
            assert await watch.lookup(numbers) == []
    other_campaign = other.watch(account="x", campaign_id="CAOTHER", kind=CallbackKind.UNLINKING)
    async with other_campaign:
        assert await other_campaign.lookup(["12125550001"]) == []


async def test_an_unlinking_callback_replaces_the_linking_one_of_the_same_number() -> None:
    # A re-link's wait must not take the first link's callback for its own.
    hub = callbacks.EventHub()
    await hub.publish(event("12125550001"))
    await hub.publish(event("12125550001", kind="number_unlinking"))
    watch = hub.watch(account="MA1", campaign_id=CAMPAIGN, kind=CallbackKind.LINKING)
    async with watch:
        assert await watch.lookup(["12125550001"]) == []
    assert len(hub) == 1


async def test_an_in_process_hub_keeps_at_most_max_events_and_drops_the_oldest() -> None:
    hub = callbacks.EventHub(max_events=3)
    for number in generated_numbers(5):
        await hub.publish(event(number))
    assert len(hub) == 3
    watch = hub.watch(account="MA1", campaign_id=CAMPAIGN, kind=CallbackKind.LINKING)
    async with watch:
        kept = await watch.lookup(list(generated_numbers(5)))
    assert [e.number for e in kept] == list(generated_numbers(5))[2:]


async def test_events_older_than_the_retention_are_dropped() -> None:
    now = [1000.0]
    hub = callbacks.EventHub(retention=3600, clock=lambda: now[0])
    await hub.publish(event("12125550001"))
    now[0] += 3601
    await hub.publish(event("12125550002"))
    watch = hub.watch(account="MA1", campaign_id=CAMPAIGN, kind=CallbackKind.LINKING)
    async with watch:
        kept = await watch.lookup(["12125550001", "12125550002"])
    assert [e.number for e in kept] == ["12125550002"]


async def test_created_callbacks_settle_nothing_and_are_not_kept() -> None:
    hub = callbacks.EventHub()
    await hub.publish(event("12125550001", "created"))
    assert len(hub) == 0


async def test_a_closed_hub_refuses_publish_and_a_wait_given_it_polls() -> None:
    time = VirtualTime()
    hub = callbacks.EventHub()
    await hub.aclose()
    with pytest.raises(pn.PlivoError, match="closed"):
        await hub.publish(event("12125550001"))
    async with (
        FakePlivo(clock=time.clock, prelink={CAMPAIGN: ["12125550001"]}) as fake,
        session_on(fake, time) as session,
    ):
        report = await session.wait_for_numbers(CAMPAIGN, ["12125550001"], events=hub)
    assert report.ok


async def test_while_callbacks_arrive_the_safety_net_polling_waits() -> None:
    # The first round is made at once; then, as long as callbacks keep settling numbers,
    # no other round comes (the fake never completes these numbers on its own).
    async with (
        FakePlivo(complete_after=10_000) as fake,
        callbacks.EventHub() as hub,
        session_on(fake) as session,
    ):
        numbers = list(generated_numbers(5))
        await session.link(CAMPAIGN, numbers)

        async def publish_one_by_one() -> None:
            for number in numbers:
                await asyncio.sleep(0.02)
                await hub.publish(event(number))

        feeder = asyncio.ensure_future(publish_one_by_one())
        report = await session.wait_for_numbers(
            CAMPAIGN, numbers, timeout=30, poll_interval=0.01, max_poll_interval=1, events=hub
        )
        await feeder
    assert report.counts == {pn.OutcomeKind.COMPLETED: 5}
    assert gets(fake) == 2  # one listing pass (a short page is not proof of the end)


def test_the_hub_refuses_a_bad_retention_or_bound_and_an_unknown_uri() -> None:
    with pytest.raises(ValueError, match="retention"):
        callbacks.EventHub(retention=0)
    with pytest.raises(ValueError, match="max_events"):
        callbacks.EventHub(max_events=0)
    with pytest.raises(ValueError, match="scheme"):
        callbacks.EventHub("kafka://somewhere")


async def test_events_must_be_an_event_hub() -> None:
    async with FakePlivo() as fake, session_on(fake) as session:
        with pytest.raises(ValueError, match="EventHub"):
            await session.wait_for_numbers(CAMPAIGN, ["12125550001"], events="redis://x")  # type: ignore[arg-type]
