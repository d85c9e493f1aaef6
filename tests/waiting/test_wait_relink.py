"""The re-link window: a number whose unlink is still being processed, linked again, is not
reported ok unless it is linked when the call returns (link_many(wait=True) and sync).

The fake takes the cautious reading of Plivo's undocumented window: the number stays listed
COMPLETED until the unlink is done, and a link of it is refused as "already requested".
"""

from __future__ import annotations

import pytest

import plivo_numlink as pn
from plivo_numlink.testing import FakePlivo

from .wait_support import CAMPAIGN, VirtualTime, session_on

N1 = "12125550001"


def fake_on(time: VirtualTime) -> FakePlivo:
    return FakePlivo(clock=time.clock, complete_after=10, prelink={CAMPAIGN: [N1]})


async def test_the_fake_lists_a_number_being_unlinked_as_it_was_and_refuses_its_link() -> None:
    time = VirtualTime()
    async with fake_on(time) as fake, session_on(fake, time) as session:
        await session.unlink(CAMPAIGN, N1)
        assert fake.unlinking(CAMPAIGN) == [N1]
        assert (await session.get_number(CAMPAIGN, N1)).status is pn.LinkStatus.COMPLETED
        with pytest.raises(pn.BadRequestError, match="already requested"):
            await session.link(CAMPAIGN, [N1])
        time.now += 10
        assert fake.unlinking(CAMPAIGN) == []
        assert fake.numbers(CAMPAIGN) == {}


@pytest.mark.parametrize("how", ["unlink", "unlink_many"])
async def test_link_many_waiting_links_again_once_the_pending_unlink_is_done(how: str) -> None:
    time = VirtualTime()
    async with fake_on(time) as fake, session_on(fake, time) as session:
        if how == "unlink":
            await session.unlink(CAMPAIGN, N1)
        else:
            await session.unlink_many(CAMPAIGN, [N1])
        report = await session.link_many(CAMPAIGN, [N1], wait=True, timeout=120, poll_interval=1)
        assert report[N1].ok
        assert report[N1].kind is pn.OutcomeKind.COMPLETED
        # Linked when the call returned, and nothing pending will undo it.
        assert fake.numbers(CAMPAIGN) == {N1: "COMPLETED"}
        assert fake.unlinking(CAMPAIGN) == []


async def test_link_many_without_a_wait_reports_a_number_being_unlinked_not_ok() -> None:
    time = VirtualTime()
    async with fake_on(time) as fake, session_on(fake, time) as session:
        await session.unlink(CAMPAIGN, N1)
        report = await session.link_many(CAMPAIGN, [N1])
    outcome = report[N1]
    assert not outcome.ok
    assert outcome.kind is pn.OutcomeKind.PENDING
    assert "unlink" in (outcome.error or "")


async def test_a_wait_that_ends_before_the_unlink_does_reports_the_number_not_ok() -> None:
    time = VirtualTime()
    async with fake_on(time) as fake, session_on(fake, time) as session:
        await session.unlink(CAMPAIGN, N1)
        report = await session.link_many(CAMPAIGN, [N1], wait=True, timeout=5, poll_interval=1)
        assert not report[N1].ok
        assert "not linked again" in (report[N1].error or "")
        time.now += 10
        assert fake.numbers(CAMPAIGN) == {}  # the report did not claim otherwise


async def test_sync_waiting_links_again_a_desired_number_whose_unlink_is_pending() -> None:
    time = VirtualTime()
    async with fake_on(time) as fake, session_on(fake, time) as session:
        await session.unlink(CAMPAIGN, N1)
        report = await session.sync(CAMPAIGN, [N1], wait=True, timeout=120, poll_interval=1)
        assert report.ok
        assert fake.numbers(CAMPAIGN) == {N1: "COMPLETED"}
        assert fake.unlinking(CAMPAIGN) == []


async def test_sync_without_a_wait_reports_a_number_being_unlinked_not_ok() -> None:
    time = VirtualTime()
    async with fake_on(time) as fake, session_on(fake, time) as session:
        await session.unlink(CAMPAIGN, N1)
        report = await session.sync(CAMPAIGN, [N1])
    assert not report.ok
    assert report[N1].kind is pn.OutcomeKind.PENDING


async def test_an_unlink_seen_finished_closes_the_window() -> None:
    # Once a wait saw the number gone, a later link of it is an ordinary link.
    time = VirtualTime()
    async with fake_on(time) as fake, session_on(fake, time) as session:
        await session.unlink_many(CAMPAIGN, [N1], wait=True, timeout=60, poll_interval=1)
        report = await session.link_many(CAMPAIGN, [N1])
    assert report[N1].kind is pn.OutcomeKind.ACCEPTED
    assert report.requests == 1
