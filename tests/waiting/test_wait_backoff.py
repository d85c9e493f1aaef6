"""Polling backs off while it sees no progress, and a number not in the campaign ends at once.

Every test runs on a virtual clock shared by the session and the fake: no real sleeping.
"""

from __future__ import annotations

import plivo_numlink as pn
from plivo_numlink.testing import FakePlivo, generated_numbers

from .wait_support import CAMPAIGN, VirtualTime, gets, session_on


async def test_a_wait_without_progress_doubles_its_pause_up_to_max_poll_interval() -> None:
    time = VirtualTime()
    async with (
        FakePlivo(clock=time.clock, complete_after=100) as fake,
        session_on(fake, time) as session,
    ):
        await session.link(CAMPAIGN, ["12125550001"])
        report = await session.wait_for_numbers(
            CAMPAIGN, ["12125550001"], timeout=60, poll_interval=1, max_poll_interval=8
        )
    assert report["12125550001"].kind is pn.OutcomeKind.PENDING
    # 1, 2, 4, 8, then 8 until the deadline; the last pause ends at the deadline.
    assert time.sleeps[:6] == [1, 2, 4, 8, 8, 8]
    assert sum(time.sleeps) == 60


async def test_a_round_that_settles_a_number_brings_the_pause_back_to_poll_interval() -> None:
    time = VirtualTime()
    async with (
        FakePlivo(clock=time.clock, complete_after=100) as fake,
        session_on(fake, time) as session,
    ):
        await session.link(CAMPAIGN, ["12125550001"])
        time.now = 60.0
        await session.link(CAMPAIGN, ["12125550002"])
        waiting = ["12125550001", "12125550002"]
        report = await session.wait_for_numbers(
            CAMPAIGN, waiting, timeout=200, poll_interval=1, max_poll_interval=16
        )
    assert report.ok
    # Rounds at 60, 61, 63, 67, 75, 91 (none settles), 107 (the first is done at 100),
    # then the pause is 1 again: 108, 110, ... until the second is done at 160.
    assert time.sleeps[:7] == [1, 2, 4, 8, 16, 16, 1]


async def test_a_wait_for_a_number_not_in_the_campaign_ends_at_once_as_not_listed() -> None:
    time = VirtualTime()
    async with (
        FakePlivo(clock=time.clock) as fake,
        session_on(fake, time) as session,
    ):
        report = await session.wait_for_numbers(CAMPAIGN, ["12125550009"], timeout=300)
    outcome = report["12125550009"]
    assert outcome.kind is pn.OutcomeKind.NOT_LISTED
    assert not outcome.ok
    assert time.sleeps == []  # no polling until the deadline
    assert gets(fake) == 1


async def test_2000_numbers_30_s_of_processing_cost_at_most_800_gets_with_backoff() -> None:
    # The cost goal: poll_interval=1, max_poll_interval=8 (today: 2,727 GETs).
    time = VirtualTime()
    numbers = list(generated_numbers(2000))
    async with (
        FakePlivo(clock=time.clock, complete_after=30) as fake,
        session_on(fake, time) as session,
    ):
        report = await session.link_many(
            CAMPAIGN, numbers, wait=True, timeout=300, poll_interval=1, max_poll_interval=8
        )
    assert report.counts == {pn.OutcomeKind.COMPLETED: 2000}
    assert gets(fake) <= 800
