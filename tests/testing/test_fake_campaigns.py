"""FakePlivo's calls and state machine: link, list, get one and unlink, and how a number
moves from PROCESSING to its final status.

Every test talks to the fake over a real 127.0.0.1 socket with a plain aiohttp session.
Time-dependent behaviour is driven with a fake clock, never by sleeping.
"""

from __future__ import annotations

from typing import Any

import pytest
from _fake_client import (
    CAMPAIGN,
    N1,
    N2,
    N3,
    Clock,
    serving,
)

# ------------------------------------------------------------------------------------------
# Link


async def test_link_answers_202_with_plivos_message() -> None:
    async with serving() as api:
        answer = await api.link(N1, N2)
    assert answer.status == 202
    assert set(answer.body) == {"api_id", "message"}
    assert answer.body["message"] == (
        f"Request to link {N1},{N2} to campaign CUOGHIN was received and is being processed"
    )


async def test_linked_numbers_are_processing_in_link_order() -> None:
    async with serving() as api:
        fake = api.fake
        await api.link(N2)
        await api.link(N1, N3)
        assert fake.numbers(CAMPAIGN) == {N2: "PROCESSING", N1: "PROCESSING", N3: "PROCESSING"}
        assert list(fake.numbers(CAMPAIGN)) == [N2, N1, N3]


async def test_duplicates_in_one_request_are_linked_once() -> None:
    async with serving() as api:
        answer = await api.link(N1, N1)
    assert answer.status == 202
    assert f"link {N1} to" in answer.body["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"numbers": []}, {"numbers": N1}, {"numbers": [12125557777]}, {"numbers": None}, [N1]],
)
async def test_link_needs_a_non_empty_list_of_strings(body: Any) -> None:
    async with serving() as api:
        answer = await api.request("POST", api.url(), json=body)
    assert answer.status == 400
    assert answer.body["error"]
    assert answer.body["api_id"]


async def test_link_with_a_body_that_is_not_json_gets_400() -> None:
    async with serving() as api:
        fake = api.fake
        answer = await api.request("POST", api.url(), data=b"{not json")
        recorded = fake.requests[-1]
    assert answer.status == 400
    assert recorded.body is None
    assert recorded.raw_body == b"{not json"


@pytest.mark.parametrize(
    "number",
    [
        "2125557777",
        "22125557777",
        "1212555777a",
        "1２１２5557777",
        "",
        # A "+" announces the country code: it must be followed by 1 and 10 more digits.
        "+2125557777",
        "+22125557777",
        "++12125557777",
        "+1 212 555 7777",
    ],
)
async def test_malformed_number_is_not_a_valid_number(number: str) -> None:
    async with serving() as api:
        answer = await api.link(number)
    assert answer.status == 400
    assert answer.body["error"] == f"The number {number} is not a valid number"


async def test_link_accepts_the_documented_e164_form_and_stores_it_without_plus() -> None:
    async with serving() as api:
        fake = api.fake
        answer = await api.link("+" + N1, N2)
        assert fake.numbers(CAMPAIGN) == {N1: "PROCESSING", N2: "PROCESSING"}
        listed = await api.list()
    assert answer.status == 202
    assert answer.body["message"] == (
        f"Request to link {N1},{N2} to campaign CUOGHIN was received and is being processed"
    )
    assert listed.body["phone_numbers"] == [
        {"number": N1, "status": "PROCESSING"},
        {"number": N2, "status": "PROCESSING"},
    ]


async def test_e164_and_plain_forms_of_one_number_in_a_request_are_linked_once() -> None:
    async with serving() as api:
        answer = await api.link(N1, "+" + N1)
        assert api.fake.numbers(CAMPAIGN) == {N1: "PROCESSING"}
    assert answer.status == 202
    assert f"link {N1} to" in answer.body["message"]


async def test_e164_form_of_a_number_already_linked_is_already_requested() -> None:
    async with serving(campaigns=[CAMPAIGN, "CBBB"]) as api:
        await api.link(N1)
        again = await api.link("+" + N1)
        elsewhere = await api.link("+" + N1, campaign="CBBB")
    assert again.body["error"] == f"The number {N1} is already requested for linking"
    assert elsewhere.body["error"] == f"The number {N1} is linked to another campaign"


async def test_invalid_numbers_option_refuses_the_e164_form_too() -> None:
    async with serving(invalid_numbers=[N2]) as api:
        answer = await api.link("+" + N2)
    assert answer.status == 400
    assert answer.body["error"] == f"The number {N2} is not a valid number"


async def test_get_and_unlink_accept_the_e164_form_in_the_path() -> None:
    async with serving(complete_after_polls=1) as api:
        fake = api.fake
        fake.set_status(CAMPAIGN, N1, "COMPLETED")
        one = await api.get("+" + N1)
        unlinked = await api.unlink("+" + N1)
        assert fake.campaigns[CAMPAIGN].pending[N1].op == "unlink"
        missing = await api.get("+" + N2)
    assert one.status == 200
    assert one.body["phone_numbers"] == [{"number": N1, "status": "COMPLETED"}]
    assert unlinked.status == 202
    assert unlinked.body["message"] == (
        f"Request to unlink {N1} from campaign CUOGHIN was received and is being processed"
    )
    assert missing.status == 404
    assert missing.body["error"] == f"The number {N2} is not linked to this campaign"


async def test_invalid_numbers_option_makes_plivo_refuse_a_well_formed_number() -> None:
    async with serving(invalid_numbers=["+1 (212) 555-7778"]) as api:
        answer = await api.link(N2)
    assert answer.status == 400
    assert answer.body["error"] == f"The number {N2} is not a valid number"


async def test_one_bad_number_rejects_the_whole_request() -> None:
    async with serving(invalid_numbers=[N2]) as api:
        fake = api.fake
        answer = await api.link(N1, N2, N3)
        assert answer.status == 400
        assert fake.numbers(CAMPAIGN) == {}


async def test_linking_a_number_again_is_already_requested() -> None:
    async with serving() as api:
        fake = api.fake
        await api.link(N1)
        answer = await api.link(N2, N1)
        assert answer.status == 400
        assert answer.body["error"] == f"The number {N1} is already requested for linking"
        assert fake.numbers(CAMPAIGN) == {N1: "PROCESSING"}


async def test_completed_number_is_already_requested() -> None:
    async with serving() as api:
        fake = api.fake
        fake.set_status(CAMPAIGN, N1, "COMPLETED")
        answer = await api.link(N1)
    assert answer.body["error"] == f"The number {N1} is already requested for linking"


async def test_number_in_another_campaign_is_refused_without_saying_already() -> None:
    async with serving(campaigns=["CAAA", "CBBB"]) as api:
        await api.link(N1, campaign="CAAA")
        answer = await api.link(N1, campaign="CBBB")
    assert answer.status == 400
    assert answer.body["error"] == f"The number {N1} is linked to another campaign"
    assert "already" not in answer.body["error"]


async def test_failed_number_may_be_linked_again() -> None:
    async with serving() as api:
        fake = api.fake
        fake.set_status(CAMPAIGN, N1, "FAILED")
        answer = await api.link(N1)
        assert answer.status == 202
        assert fake.numbers(CAMPAIGN) == {N1: "PROCESSING"}


async def test_max_numbers_per_request_names_the_limit() -> None:
    async with serving(max_numbers_per_request=2) as api:
        answer = await api.link(N1, N2, N3)
        ok = await api.link(N1, N2)
    assert answer.status == 400
    assert "at most 2 numbers" in answer.body["error"]
    assert ok.status == 202


@pytest.mark.parametrize(
    "extra",
    [
        {"url": "ftp://example.com/cb"},
        {"url": "not a url"},
        {"url": 5},
        {"method": "PUT"},
        {"url": "https://example.com/cb", "method": 1},
    ],
)
async def test_link_refuses_a_bad_callback(extra: dict[str, Any]) -> None:
    async with serving() as api:
        fake = api.fake
        answer = await api.link(N1, **extra)
        assert answer.status == 400
        assert fake.numbers(CAMPAIGN) == {}


async def test_link_takes_an_empty_url_as_no_callback_as_the_official_sdk_sends_it() -> None:
    async with serving() as api:
        fake = api.fake
        answer = await api.link(N1, url="", method="POST")
        assert answer.status == 202
        assert fake.numbers(CAMPAIGN) == {N1: "PROCESSING"}


async def test_link_accepts_a_lower_case_callback_method() -> None:
    async with serving(send_callbacks=False) as api:
        answer = await api.link(N1, url="https://example.com/cb", method="get")
    assert answer.status == 202


# ------------------------------------------------------------------------------------------
# List and get one


async def test_list_answers_the_campaign_and_its_numbers() -> None:
    async with serving() as api:
        fake = api.fake
        fake.add_campaign("CXYZ", alias="ABC Campaign", usecase="MIXED")
        await api.link(N1, campaign="CXYZ")
        answer = await api.list("CXYZ")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.body["api_id"]
    assert {k: v for k, v in answer.body.items() if k != "api_id"} == {
        "campaign_id": "CXYZ",
        "campaign_alias": "ABC Campaign",
        "usecase": "MIXED",
        "phone_numbers": [{"number": N1, "status": "PROCESSING"}],
    }


async def test_empty_campaign_lists_no_numbers() -> None:
    async with serving() as api:
        answer = await api.list()
    assert answer.body["phone_numbers"] == []


def _numbers(count: int) -> list[str]:
    return [f"1212555{i:04d}" for i in range(count)]


async def test_list_pages_with_limit_and_offset() -> None:
    async with serving() as api:
        numbers = _numbers(7)
        await api.link(*numbers)
        first = await api.list(limit="3")
        second = await api.list(limit="3", offset="3")
        last = await api.list(limit="3", offset="6")
        beyond = await api.list(limit="3", offset="9")
    assert list(first.statuses) == numbers[:3]
    assert list(second.statuses) == numbers[3:6]
    assert list(last.statuses) == numbers[6:]
    assert beyond.body["phone_numbers"] == []


async def test_default_page_is_twenty() -> None:
    async with serving(page_cap=100) as api:
        await api.link(*_numbers(25))
        answer = await api.list()
    assert len(answer.body["phone_numbers"]) == 20


async def test_page_cap_caps_a_larger_limit() -> None:
    async with serving(page_cap=5) as api:
        await api.link(*_numbers(12))
        answer = await api.list(limit="50", offset="5")
    assert list(answer.statuses) == _numbers(12)[5:10]


async def test_ignore_paging_answers_everything() -> None:
    async with serving(ignore_paging=True) as api:
        await api.link(*_numbers(30))
        answer = await api.list(limit="5", offset="10")
    assert list(answer.statuses) == _numbers(30)


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "x"}, {"offset": "-1"}])
async def test_bad_paging_parameters_get_400(params: dict[str, str]) -> None:
    async with serving() as api:
        answer = await api.list(**params)
    assert answer.status == 400


async def test_get_one_answers_a_one_element_list() -> None:
    async with serving() as api:
        await api.link(N1, N2)
        answer = await api.get(N2)
    assert answer.status == 200
    assert answer.body["campaign_id"] == CAMPAIGN
    assert answer.body["usecase"] == "STARTER"
    assert answer.body["phone_numbers"] == [{"number": N2, "status": "PROCESSING"}]


async def test_get_of_a_number_not_in_the_campaign_gets_404() -> None:
    async with serving() as api:
        answer = await api.get(N1)
    assert answer.status == 404
    assert answer.body["error"] == f"The number {N1} is not linked to this campaign"


# ------------------------------------------------------------------------------------------
# Unlink


async def test_unlink_answers_202_with_plivos_message() -> None:
    async with serving() as api:
        fake = api.fake
        fake.set_status(CAMPAIGN, N1, "COMPLETED")
        answer = await api.unlink(N1)
    assert answer.status == 202
    assert answer.body["message"] == (
        f"Request to unlink {N1} from campaign CUOGHIN was received and is being processed"
    )


async def test_unlinked_number_stays_listed_until_processing_is_done() -> None:
    async with serving(complete_after_polls=1) as api:
        fake = api.fake
        fake.set_status(CAMPAIGN, N1, "COMPLETED")
        await api.unlink(N1)
        shown = await api.list()
        gone = await api.list()
        lookup = await api.get(N1)
    assert shown.statuses == {N1: "COMPLETED"}
    assert gone.statuses == {}
    assert lookup.status == 404


async def test_unlink_of_a_number_not_linked_gets_400() -> None:
    async with serving() as api:
        answer = await api.unlink(N1)
    assert answer.status == 400
    assert answer.body["error"] == f"The number {N1} is not linked to this campaign"


async def test_unlink_refuses_a_bad_callback_method() -> None:
    async with serving() as api:
        fake = api.fake
        fake.set_status(CAMPAIGN, N1, "COMPLETED")
        answer = await api.unlink(N1, json={"url": "https://example.com/cb", "method": "PATCH"})
    assert answer.status == 400


async def test_unlink_with_a_body_that_is_not_json_gets_400() -> None:
    async with serving() as api:
        api.fake.set_status(CAMPAIGN, N1, "COMPLETED")
        answer = await api.request("DELETE", api.url(number=N1), data=b"nope")
    assert answer.status == 400


async def test_unlink_twice_while_processing_is_accepted_once() -> None:
    async with serving(complete_after_polls=1) as api:
        fake = api.fake
        fake.set_status(CAMPAIGN, N1, "COMPLETED")
        await api.unlink(N1)
        again = await api.unlink(N1)
        assert again.status == 202
        assert fake.campaigns[CAMPAIGN].pending[N1].op == "unlink"


async def test_unlinked_numbers_on_a_page_do_not_shorten_it() -> None:
    async with serving(complete_after_polls=0) as api:
        fake = api.fake
        for number in _numbers(6):
            fake.set_status(CAMPAIGN, number, "COMPLETED")
        await api.unlink(_numbers(6)[1])
        answer = await api.list(limit="3")
    assert list(answer.statuses) == [_numbers(6)[i] for i in (0, 2, 3)]


# ------------------------------------------------------------------------------------------
# State machine


async def test_number_completes_after_the_configured_polls() -> None:
    async with serving(complete_after_polls=2) as api:
        await api.link(N1)
        seen = [(await api.list()).statuses[N1] for _ in range(3)]
    assert seen == ["PROCESSING", "PROCESSING", "COMPLETED"]


async def test_get_one_counts_as_a_poll() -> None:
    async with serving(complete_after_polls=1) as api:
        await api.link(N1)
        first = await api.get(N1)
        second = await api.get(N1)
    assert first.statuses == {N1: "PROCESSING"}
    assert second.statuses == {N1: "COMPLETED"}


async def test_only_numbers_on_the_page_read_count_as_polled() -> None:
    async with serving(complete_after_polls=1) as api:
        await api.link(N1, N2)
        await api.list(limit="1")
        answer = await api.list()
    assert answer.statuses == {N1: "COMPLETED", N2: "PROCESSING"}


async def test_zero_polls_is_final_at_once() -> None:
    async with serving(complete_after_polls=0) as api:
        await api.link(N1)
        answer = await api.list()
    assert answer.statuses == {N1: "COMPLETED"}


async def test_complete_after_must_pass_as_well() -> None:
    clock = Clock()
    async with serving(complete_after=60, complete_after_polls=0, clock=clock) as api:
        await api.link(N1)
        clock.now += 59.9
        before = await api.list()
        clock.now += 0.1
        after = await api.list()
    assert before.statuses == {N1: "PROCESSING"}
    assert after.statuses == {N1: "COMPLETED"}


async def test_fail_numbers_end_failed() -> None:
    async with serving(complete_after_polls=0, fail_numbers=["+1 212 555 7778"]) as api:
        await api.link(N1, N2)
        answer = await api.list()
    assert answer.statuses == {N1: "COMPLETED", N2: "FAILED"}


async def test_reading_the_fakes_state_is_not_a_poll() -> None:
    async with serving(complete_after_polls=1) as api:
        fake = api.fake
        await api.link(N1)
        assert fake.numbers(CAMPAIGN) == {N1: "PROCESSING"}
        assert fake.numbers(CAMPAIGN) == {N1: "PROCESSING"}
        assert (await api.get(N1)).statuses == {N1: "PROCESSING"}


async def test_set_status_accepts_unknown_statuses_and_removal() -> None:
    async with serving() as api:
        fake = api.fake
        fake.set_status(CAMPAIGN, N1, "PENDING_REVIEW")
        shown = await api.list()
        fake.set_status(CAMPAIGN, N1, None)
        gone = await api.list()
    assert shown.statuses == {N1: "PENDING_REVIEW"}
    assert gone.statuses == {}
