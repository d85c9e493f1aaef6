"""FakePlivo's HTTP side: construction, authentication, routes, the request log, its
lifecycle on a socket, and the pytest plugin's fixture.

Every test talks to the fake over a real 127.0.0.1 socket with a plain aiohttp session.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from _fake_client import (
    CAMPAIGN,
    N1,
    Api,
    Clock,
    serving,
    until,
)

from plivo_numlink.callbacks import signature_v2
from plivo_numlink.testing import (
    DEFAULT_AUTH_ID,
    DEFAULT_AUTH_TOKEN,
    FakePlivo,
    RecordedRequest,
    basic_auth_header,
    serve,
)

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


def test_options_are_readable_attributes() -> None:
    clock = Clock()
    fake = FakePlivo(
        latency=(0.0, 0.5),
        page_cap=7,
        complete_after_polls=3,
        fail_numbers=["+1 212 555 7777"],
        max_concurrent=4,
        clock=clock,
    )
    assert fake.latency == (0.0, 0.5)
    assert fake.page_cap == 7
    assert fake.complete_after_polls == 3
    assert fake.fail_numbers == frozenset({N1})
    assert fake.max_concurrent == 4
    assert fake.clock is clock
    assert fake.auth_token == DEFAULT_AUTH_TOKEN
    assert fake.send_callbacks is True
    assert fake.down is False


async def test_options_may_be_changed_on_a_running_fake() -> None:
    async with serving() as api:
        fake = api.fake
        fake.error_rates = {503: 1.0}
        faulted = await api.list()
        fake.error_rates = {}
        old = basic_auth_header(fake.auth_id, fake.auth_token)
        fake.auth_token = "a-new-token"
        refused = await api.request("GET", api.url(), auth=old)
        accepted = await api.list()
        clock = Clock()
        fake.clock = clock
        fake.complete_after, fake.complete_after_polls = 60, 0
        await api.link(N1)
        clock.now += 60
        done = await api.list()
    assert faulted.status == 503
    assert refused.status == 401
    assert accepted.status == 200
    assert done.statuses == {N1: "COMPLETED"}
    # Callbacks are signed with the token the fake now accepts.
    headers = fake.callback_headers("POST", "https://example.com/cb", {"a": "1"})
    nonce = headers["X-Plivo-Signature-V2-Nonce"]
    assert headers["X-Plivo-Signature-V2"] == signature_v2(
        "https://example.com/cb", nonce, "a-new-token"
    )


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
# pytest plugin


async def test_fake_plivo_fixture_serves_with_defaults(fake_plivo: FakePlivo) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(fake_plivo, session)
        answer = await api.link(N1)
    assert answer.status == 202
    assert fake_plivo.numbers(CAMPAIGN) == {N1: "PROCESSING"}
