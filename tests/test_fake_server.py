"""FakePlivo, the in-process fake of the Number Linking API: its wire behaviour and helpers.

Every test talks to the fake over a real 127.0.0.1 socket with a plain aiohttp session.
Time-dependent behaviour is driven with a fake clock, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from plivo_numlink.testing import (
    DEFAULT_AUTH_ID,
    FakePlivo,
    RecordedRequest,
    basic_auth_header,
    serve,
)

CAMPAIGN = "CUOGHIN"
N1, N2, N3 = "12125557777", "12125557778", "12125557779"


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Answer:
    def __init__(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def statuses(self) -> dict[str, str]:
        return {entry["number"]: entry["status"] for entry in self.body["phone_numbers"]}


_OURS = object()


class Api:
    """Just enough of a client to drive the fake; deliberately not the library's session."""

    def __init__(self, fake: FakePlivo, session: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.session = session

    def url(self, campaign: str = CAMPAIGN, number: str | None = None, auth_id: str = "") -> str:
        path = f"/v1/Account/{auth_id or self.fake.auth_id}/10dlc/Campaign/{campaign}/Number/"
        if number is not None:
            path += f"{number}/"
        return self.fake.base_url + path

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        auth: Any = _OURS,
    ) -> Answer:
        headers = {}
        if auth is _OURS:
            headers["Authorization"] = basic_auth_header(self.fake.auth_id, self.fake.auth_token)
        elif auth is not None:
            headers["Authorization"] = auth
        async with self.session.request(
            method, url, json=json, data=data, params=params, headers=headers
        ) as response:
            text = await response.text()
            body = await response.json() if text else None
            return Answer(response.status, body, response.headers)

    async def link(self, *numbers: str, campaign: str = CAMPAIGN, **extra: Any) -> Answer:
        return await self.request(
            "POST", self.url(campaign), json={"numbers": list(numbers), **extra}
        )

    async def list(self, campaign: str = CAMPAIGN, **params: str) -> Answer:
        return await self.request("GET", self.url(campaign), params=params)

    async def get(self, number: str, campaign: str = CAMPAIGN) -> Answer:
        return await self.request("GET", self.url(campaign, number))

    async def unlink(self, number: str, campaign: str = CAMPAIGN, json: Any = None) -> Answer:
        return await self.request("DELETE", self.url(campaign, number), json=json)


@contextlib.asynccontextmanager
async def serving(**options: Any) -> AsyncIterator[Api]:
    # force_close: a fresh connection per request, so aiohttp never silently retries a GET
    # whose kept-alive connection the fake closed.
    connector = aiohttp.TCPConnector(force_close=True)
    async with FakePlivo(**options) as fake, aiohttp.ClientSession(connector=connector) as session:
        yield Api(fake, session)


async def until(condition: Any, limit: int = 2000) -> None:
    for _ in range(limit):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ------------------------------------------------------------------------------------------
# Construction and defaults


def test_default_auth_id_looks_like_a_main_account_id() -> None:
    assert len(DEFAULT_AUTH_ID) == 20
    assert DEFAULT_AUTH_ID.startswith("MA")


@pytest.mark.parametrize(
    "options",
    [
        {"latency": -1},
        {"latency": (2, 1)},
        {"complete_after": -1},
        {"max_numbers_per_request": 0},
        {"retry_after": -1},
        {"complete_after_polls": -1},
        {"page_cap": 0},
        {"rate_limit": 0},
        {"rate_window": 0},
        {"max_concurrent": 0},
        {"error_rates": {503: 1.5}},
        {"error_rates": {500: 0.6, 503: 0.6}},
        {"drop_rate": 2},
    ],
)
def test_nonsense_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FakePlivo(**options)


def test_base_url_needs_a_started_server() -> None:
    with pytest.raises(RuntimeError):
        _ = FakePlivo().base_url


async def test_base_url_is_the_origin_on_localhost() -> None:
    async with FakePlivo() as fake:
        assert fake.base_url == f"http://127.0.0.1:{fake.port}"
        assert fake.port > 0


# ------------------------------------------------------------------------------------------
# Authentication


async def test_missing_credentials_get_401() -> None:
    async with serving() as api:
        answer = await api.request("GET", api.url(), auth=None)
    assert answer.status == 401
    assert answer.body["error"] == "Authentication credentials invalid"
    assert answer.body["api_id"]


async def test_wrong_token_gets_401() -> None:
    async with serving() as api:
        fake = api.fake
        answer = await api.request("GET", api.url(), auth=basic_auth_header(fake.auth_id, "no"))
    assert answer.status == 401


async def test_garbage_authorization_header_gets_401() -> None:
    async with serving() as api:
        answer = await api.request("GET", api.url(), auth="Basic !!!not-base64")
    assert answer.status == 401


async def test_another_auth_id_in_the_path_gets_401() -> None:
    async with serving() as api:
        answer = await api.request("GET", api.url(auth_id="MA" + "X" * 18))
    assert answer.status == 401


async def test_custom_credentials_are_the_ones_accepted() -> None:
    async with serving(auth_id="SA" + "1" * 18, auth_token="secret") as api:
        assert (await api.list()).status == 200
        answer = await api.request("GET", api.url(), auth=basic_auth_header(DEFAULT_AUTH_ID, "x"))
    assert answer.status == 401


# ------------------------------------------------------------------------------------------
# Routes


async def test_unknown_campaign_gets_404() -> None:
    async with serving() as api:
        answer = await api.list("CNOPE")
    assert answer.status == 404
    assert answer.body["error"] == "campaign not found"


async def test_paths_without_trailing_slash_are_accepted() -> None:
    async with serving() as api:
        await api.link(N1)
        listed = await api.request("GET", api.url().rstrip("/"))
        one = await api.request("GET", api.url(number=N1).rstrip("/"))
    assert listed.status == 200
    assert one.status == 200


async def test_unknown_path_gets_404_json() -> None:
    async with serving() as api:
        fake = api.fake
        answer = await api.request("GET", fake.base_url + "/v1/Account/" + fake.auth_id + "/Foo/")
    assert answer.status == 404
    assert set(answer.body) == {"api_id", "error"}


async def test_wrong_method_gets_405() -> None:
    async with serving() as api:
        answer = await api.request("PUT", api.url())
        one = await api.request("POST", api.url(number=N1))
    assert answer.status == 405
    assert one.status == 405


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
    "number", ["+12125557777", "2125557777", "22125557777", "1212555777a", "1２１２5557777", ""]
)
async def test_malformed_number_is_not_a_valid_number(number: str) -> None:
    async with serving() as api:
        answer = await api.link(number)
    assert answer.status == 400
    assert answer.body["error"] == f"The number {number} is not a valid number"


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


# ------------------------------------------------------------------------------------------
# Rate limit and concurrency cap


async def test_rate_limit_answers_429_with_seconds_until_a_slot_frees() -> None:
    clock = Clock()
    async with serving(rate_limit=2, rate_window=1.0, clock=clock) as api:
        statuses = [(await api.list()).status for _ in range(2)]
        clock.now += 0.25
        limited = await api.list()
    assert statuses == [200, 200]
    assert limited.status == 429
    assert limited.body["error"] == "Too many requests"
    assert limited.body["api_id"]
    assert limited.headers["Retry-After"] == "0.75"


async def test_rate_limit_window_slides() -> None:
    clock = Clock()
    async with serving(rate_limit=2, rate_window=1.0, clock=clock) as api:
        await api.list()
        clock.now += 0.5
        await api.list()
        clock.now += 0.5
        third = await api.list()
        fourth = await api.list()
    assert third.status == 200
    assert fourth.status == 429
    assert fourth.headers["Retry-After"] == "0.5"


async def test_rejected_requests_do_not_count_against_the_window() -> None:
    clock = Clock()
    async with serving(rate_limit=1, rate_window=1.0, clock=clock) as api:
        await api.list()
        rejected = [(await api.list()).status for _ in range(5)]
        clock.now += 1.0
        after = await api.list()
    assert rejected == [429] * 5
    assert after.status == 200


async def test_rate_limit_without_retry_after() -> None:
    async with serving(rate_limit=1, rate_window=60, retry_after=None) as api:
        await api.list()
        limited = await api.list()
    assert limited.status == 429
    assert "Retry-After" not in limited.headers


async def test_rate_limit_with_a_fixed_retry_after() -> None:
    async with serving(rate_limit=1, rate_window=60, retry_after=2.5) as api:
        await api.list()
        limited = await api.list()
    assert limited.headers["Retry-After"] == "2.5"


async def test_unauthenticated_requests_do_not_use_the_rate_limit() -> None:
    async with serving(rate_limit=1, rate_window=60) as api:
        await api.request("GET", api.url(), auth=None)
        answer = await api.list()
    assert answer.status == 200


async def test_requests_beyond_max_concurrent_get_429() -> None:
    async with serving(max_concurrent=2) as api:
        fake = api.fake
        fake.pause()
        held = [asyncio.create_task(api.list()) for _ in range(2)]
        await until(lambda: fake.in_flight == 2)
        refused = await api.list()
        fake.resume()
        answers = await asyncio.gather(*held)
    assert refused.status == 429
    assert "Retry-After" not in refused.headers
    assert [a.status for a in answers] == [200, 200]


async def test_max_concurrency_is_the_peak_of_requests_in_flight() -> None:
    async with serving() as api:
        fake = api.fake
        fake.pause()
        held = [asyncio.create_task(api.list()) for _ in range(3)]
        await until(lambda: fake.in_flight == 3)
        fake.resume()
        await asyncio.gather(*held)
        assert fake.max_concurrency == 3
        assert fake.in_flight == 0
        fake.reset_max_concurrency()
        await api.list()
        assert fake.max_concurrency == 1


# ------------------------------------------------------------------------------------------
# Random faults


async def _statuses(seed: int, count: int = 40) -> list[int]:
    async with serving(seed=seed, error_rates={500: 0.1, 503: 0.2}) as api:
        return [(await api.list()).status for _ in range(count)]


async def test_error_rates_are_repeatable_under_a_seed() -> None:
    first = await _statuses(seed=7)
    second = await _statuses(seed=7)
    assert first == second
    assert {200, 500, 503} <= set(first)
    assert await _statuses(seed=8) != first


async def test_error_rate_answers_are_json_errors() -> None:
    async with serving(error_rates={502: 1.0}) as api:
        fake = api.fake
        answer = await api.link(N1)
        assert answer.status == 502
        assert set(answer.body) == {"api_id", "error"}
        assert fake.numbers(CAMPAIGN) == {}


async def test_drop_rate_closes_the_connection_before_any_effect() -> None:
    async with serving(drop_rate=1.0) as api:
        fake = api.fake
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.link(N1)
        assert fake.numbers(CAMPAIGN) == {}
        assert fake.requests[-1].status is None


async def test_drop_response_rate_loses_the_answer_after_the_effect() -> None:
    async with serving(drop_response_rate=1.0) as api:
        fake = api.fake
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.link(N1)
        assert fake.numbers(CAMPAIGN) == {N1: "PROCESSING"}


async def test_latency_range_still_answers() -> None:
    async with serving(latency=(0.001, 0.002)) as api:
        answer = await api.list()
    assert answer.status == 200


async def test_dropped_connections_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiohttp"):
        async with serving(drop_rate=1.0) as api:
            for _ in range(3):
                with pytest.raises(aiohttp.ClientConnectionError):
                    await api.list()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# ------------------------------------------------------------------------------------------
# Queued faults


async def test_enqueued_fault_answers_the_next_requests_then_stops() -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(503, count=2, retry_after=1.5)
        answers = [await api.list() for _ in range(3)]
    assert [a.status for a in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "1.5"
    assert set(answers[0].body) == {"api_id", "error"}


async def test_enqueued_fault_may_send_a_retry_after_text_as_is() -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
        answer = await api.list()
    assert answer.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"


async def test_enqueued_fault_may_drop_the_connection() -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(None)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.link(N1)
        assert fake.numbers(CAMPAIGN) == {}
        assert (await api.link(N1)).status == 202


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body>Bad Gateway</body></html>", "text/html"),
        (b"", None),
        ('{"api_id": "x", "err', None),
    ],
)
async def test_enqueued_fault_may_send_any_body(
    body: str | bytes, content_type: str | None
) -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(502, body=body, content_type=content_type)
        async with api.session.get(
            api.url(), headers={"Authorization": basic_auth_header(fake.auth_id, fake.auth_token)}
        ) as response:
            raw = await response.read()
            kind = response.headers.get("Content-Type", "")
    assert raw == (body.encode() if isinstance(body, str) else body)
    assert kind.startswith(content_type or "application/json")


async def test_enqueued_fault_with_effect_changes_state_but_not_the_answer() -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(None, effect=True)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.link(N1)
        assert fake.numbers(CAMPAIGN) == {N1: "PROCESSING"}


async def test_unauthenticated_requests_do_not_consume_queued_faults() -> None:
    async with serving() as api:
        fake = api.fake
        fake.enqueue_fault(500)
        refused = await api.request("GET", api.url(), auth=None)
        faulted = await api.list()
    assert refused.status == 401
    assert faulted.status == 500


async def test_enqueued_fault_body_may_carry_a_retry_after() -> None:
    async with serving() as api:
        api.fake.enqueue_fault(429, body="slow down", content_type="text/plain", retry_after=3)
        auth = basic_auth_header(api.fake.auth_id, api.fake.auth_token)
        async with api.session.get(api.url(), headers={"Authorization": auth}) as response:
            text = await response.text()
    assert response.status == 429
    assert response.headers["Retry-After"] == "3"
    assert text == "slow down"


@pytest.mark.parametrize(("status", "text"), [(418, "I'm a Teapot"), (599, "error")])
async def test_fault_with_an_unusual_status_still_answers_json(status: int, text: str) -> None:
    async with serving() as api:
        api.fake.enqueue_fault(status)
        answer = await api.list()
    assert answer.status == status
    assert answer.body["error"] == text


async def test_too_large_body_gets_413() -> None:
    async with serving() as api:
        answer = await api.request("POST", api.url(), data=io.BytesIO(b"x" * (1024**2 + 1)))
    assert answer.status == 413


def test_enqueue_fault_needs_a_positive_count() -> None:
    with pytest.raises(ValueError):
        FakePlivo().enqueue_fault(500, count=0)


# ------------------------------------------------------------------------------------------
# Request log and counters


async def test_request_log_records_what_arrived_and_how_it_was_answered() -> None:
    async with serving() as api:
        fake = api.fake
        await api.link(N1)
        await api.list(limit="5")
        post, get = fake.requests
    assert isinstance(post, RecordedRequest)
    assert post.method == "POST"
    assert post.path == f"/v1/Account/{fake.auth_id}/10dlc/Campaign/{CAMPAIGN}/Number/"
    assert post.body == {"numbers": [N1]}
    assert post.raw_body == b'{"numbers": ["12125557777"]}'
    assert post.headers["Content-Type"] == "application/json"
    assert post.status == 202
    assert get.query == {"limit": "5"}
    assert get.body is None
    assert get.raw_body == b""
    assert get.status == 200
    assert post.time <= get.time


async def test_count_by_status_and_clear_requests() -> None:
    async with serving() as api:
        fake = api.fake
        await api.list()
        await api.list("CNOPE")
        assert fake.count_by_status == {200: 1, 404: 1}
        fake.clear_requests()
        assert fake.requests == []
        assert fake.count_by_status == {}


async def test_request_log_can_be_turned_off() -> None:
    async with serving(record_requests=False) as api:
        fake = api.fake
        await api.list()
        assert fake.requests == []
        assert fake.count_by_status == {200: 1}


# ------------------------------------------------------------------------------------------
# Lifecycle


async def test_restart_on_the_same_port_keeps_the_state() -> None:
    async with serving() as api:
        fake = api.fake
        await api.link(N1)
        port = fake.port
        await fake.stop()
        with pytest.raises(aiohttp.ClientConnectionError):
            await api.list()
        await fake.start()
        answer = await api.list()
    assert fake.port == port
    assert answer.statuses == {N1: "PROCESSING"}


async def test_down_closes_every_connection_without_an_answer() -> None:
    async with serving() as api:
        fake = api.fake
        fake.down = True
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.list()
        fake.down = False
        assert (await api.list()).status == 200


async def test_stop_cancels_held_requests_promptly() -> None:
    async with serving() as api:
        fake = api.fake
        fake.pause()
        held = asyncio.create_task(api.list())
        await until(lambda: fake.in_flight == 1)
        await fake.stop()
        with pytest.raises(aiohttp.ClientConnectionError):
            await held
        assert fake.in_flight == 0


async def test_start_twice_is_an_error() -> None:
    async with FakePlivo() as fake:
        with pytest.raises(RuntimeError):
            await fake.start()


async def test_serve_forever_starts_a_stopped_server_and_stops_it_when_cancelled() -> None:
    fake = FakePlivo()
    task = asyncio.create_task(fake.serve_forever())
    await until(lambda: fake.running)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not fake.running


async def test_serve_runs_until_cancelled() -> None:
    ready: asyncio.Future[FakePlivo] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(port=0, on_ready=ready.set_result, seed=3))
    fake = await ready
    async with aiohttp.ClientSession() as session, session.get(fake.base_url + "/") as response:
        assert response.status == 401
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not fake.running


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


async def test_callback_waits_for_the_read_that_completes_the_number() -> None:
    async with serving(complete_after_polls=1) as api, receiver(api.fake) as (url, events):
        fake = api.fake
        await api.link(N1, url=url)
        await api.list()
        await fake.flush_callbacks()
        assert fake.callbacks_sent == []
        await api.list()
        event = await asyncio.wait_for(events.get(), 5)
    assert event.status == "success"


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
    async with serving(complete_after_polls=1) as api:
        fake = api.fake
        await api.link(N1, url="http://127.0.0.1:9/cb")
        await api.list()
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


# ------------------------------------------------------------------------------------------
# pytest plugin


async def test_fake_plivo_fixture_serves_with_defaults(fake_plivo: FakePlivo) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(fake_plivo, session)
        answer = await api.link(N1)
    assert answer.status == 202
    assert fake_plivo.numbers(CAMPAIGN) == {N1: "PROCESSING"}
