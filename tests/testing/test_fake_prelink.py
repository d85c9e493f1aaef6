"""FakePlivo's campaigns that hold linked numbers from the start (``prelink``,
``add_campaign(numbers=...)``), for benchmarks and tests that unlink or list.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _fake_client import CAMPAIGN, N1, N2, serving

from plivo_numlink.testing import FakePlivo, generated_numbers, serve

# ------------------------------------------------------------------------------------------
# Generated numbers


def test_generated_numbers_are_distinct_valid_numbers_in_a_known_order() -> None:
    assert list(generated_numbers(3)) == ["12122000000", "12122000001", "12122000002"]
    # The same numbers as the benchmarks' numbers(): exchange 200 + i // 10000.
    assert list(generated_numbers(2, start=10_000)) == ["12122010000", "12122010001"]
    assert list(generated_numbers(0)) == []


@pytest.mark.parametrize(("count", "start"), [(-1, 0), (1, -1), (8_000_001, 0), (2, 7_999_999)])
def test_generated_numbers_refuse_counts_beyond_the_numbers_they_can_make(
    count: int, start: int
) -> None:
    with pytest.raises(ValueError, match="generate"):
        generated_numbers(count, start)


def test_the_last_generated_number_is_still_valid() -> None:
    assert list(generated_numbers(1, start=7_999_999)) == ["12129999999"]


# ------------------------------------------------------------------------------------------
# prelink=N


def test_prelink_count_links_that_many_numbers_completed() -> None:
    fake = FakePlivo(prelink=3)
    assert fake.numbers(CAMPAIGN) == dict.fromkeys(generated_numbers(3), "COMPLETED")


def test_prelink_count_gives_each_campaign_its_own_numbers() -> None:
    fake = FakePlivo(campaigns=["CAAA", "CBBB"], prelink=2)
    assert list(fake.numbers("CAAA")) == ["12122000000", "12122000001"]
    assert list(fake.numbers("CBBB")) == ["12122000002", "12122000003"]
    assert set(fake.numbers("CBBB")).isdisjoint(fake.numbers("CAAA"))


def test_prelink_zero_is_the_default_and_links_nothing() -> None:
    assert FakePlivo().numbers(CAMPAIGN) == {}
    assert FakePlivo(prelink=0).numbers(CAMPAIGN) == {}


def test_prelink_of_many_numbers_is_quick_enough_for_benchmarks() -> None:
    fake = FakePlivo(prelink=100_000)
    numbers = fake.numbers(CAMPAIGN)
    assert len(numbers) == 100_000
    assert set(numbers.values()) == {"COMPLETED"}


async def test_prelinked_numbers_are_listed_and_unlinked_over_the_wire() -> None:
    first, second = generated_numbers(2)
    async with serving(prelink=2, complete_after_polls=0) as api:
        listed = await api.list()
        one = await api.get(second)
        unlinked = await api.unlink(first)
        again = await api.link(second)
        assert api.fake.numbers(CAMPAIGN) == {second: "COMPLETED"}
    assert listed.statuses == {first: "COMPLETED", second: "COMPLETED"}
    assert one.statuses == {second: "COMPLETED"}
    assert unlinked.status == 202
    assert again.body["error"] == f"The number {second} is already requested for linking"


# ------------------------------------------------------------------------------------------
# prelink={campaign: numbers}


def test_prelink_mapping_takes_numbers_in_any_usual_spelling() -> None:
    fake = FakePlivo(prelink={CAMPAIGN: ["+1 (212) 555-7777", "212.555.7778"]})
    assert fake.numbers(CAMPAIGN) == {N1: "COMPLETED", N2: "COMPLETED"}


def test_prelink_mapping_creates_the_campaigns_it_names() -> None:
    fake = FakePlivo(campaigns=[], prelink={"CNEW": [N1]})
    assert list(fake.campaigns) == ["CNEW"]
    assert fake.numbers("CNEW") == {N1: "COMPLETED"}


async def test_a_number_prelinked_to_one_campaign_is_refused_by_another() -> None:
    async with serving(campaigns=["CAAA", "CBBB"], prelink={"CAAA": [N1]}) as api:
        answer = await api.link(N1, campaign="CBBB")
    assert answer.body["error"] == f"The number {N1} is linked to another campaign"


@pytest.mark.parametrize(
    ("prelink", "error"),
    [
        (-1, ValueError),
        (8_000_001, ValueError),
        ({CAMPAIGN: ["not a number"]}, ValueError),
        ({CAMPAIGN: [N1], "CBBB": ["+1 212 555 7777"]}, ValueError),
        ({CAMPAIGN: N1}, TypeError),
        (True, TypeError),
        ([N1], TypeError),
        (2.5, TypeError),
    ],
)
def test_nonsense_prelink_is_refused(prelink: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"prelink|numbers"):
        FakePlivo(prelink=prelink)


def test_prelink_count_beyond_what_can_be_generated_fails_before_generating() -> None:
    with pytest.raises(ValueError, match="generate"):
        FakePlivo(campaigns=[f"C{i}" for i in range(3)], prelink=3_000_000)


# ------------------------------------------------------------------------------------------
# add_campaign(numbers=...) and serve(prelink=...)


def test_add_campaign_may_hold_linked_numbers() -> None:
    fake = FakePlivo()
    campaign = fake.add_campaign("CXYZ", alias="Prelinked", numbers=["+12125557777"])
    assert campaign.alias == "Prelinked"
    assert fake.numbers("CXYZ") == {N1: "COMPLETED"}


def test_add_campaign_refuses_a_number_of_another_campaign() -> None:
    fake = FakePlivo(prelink={CAMPAIGN: [N1]})
    with pytest.raises(ValueError, match=rf"{N1}.*{CAMPAIGN}"):
        fake.add_campaign("CXYZ", numbers=[N1])
    assert "CXYZ" not in fake.campaigns


def test_add_campaign_replacing_a_campaign_may_take_its_numbers_again() -> None:
    fake = FakePlivo(prelink={CAMPAIGN: [N1]})
    fake.add_campaign(CAMPAIGN, numbers=[N1, N2])
    assert fake.numbers(CAMPAIGN) == {N1: "COMPLETED", N2: "COMPLETED"}


async def test_serve_takes_prelink_among_its_options() -> None:
    ready: asyncio.Future[FakePlivo] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(port=0, on_ready=ready.set_result, prelink=4))
    fake = await ready
    try:
        assert fake.numbers(CAMPAIGN) == dict.fromkeys(generated_numbers(4), "COMPLETED")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
