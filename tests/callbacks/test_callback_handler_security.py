"""The aiohttp handler over 127.0.0.1: signatures, replays, public_url, on_event failures
and the receiver's options."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from plivo_numlink.callbacks import CallbackEvent, CallbackReceiver, handler, parse_event

from .callback_support import (
    CALLBACK,
    SUB_TOKEN,
    TOKEN,
    FakeClock,
    MakeClient,
    Recorder,
    signed,
    url_of,
    v3_only,
)


async def test_bad_signature_is_refused_and_not_dispatched(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = signed("POST", url_of(client), CALLBACK, token="not-the-token")
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 403
    assert await response.text() == "invalid signature"
    assert recorder.events == []


async def test_tampered_body_is_refused(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client()
    headers = v3_only(signed("POST", url_of(client), CALLBACK))
    response = await client.post("/cb", data={**CALLBACK, "status": "failed"}, headers=headers)
    assert response.status == 403
    assert recorder.events == []


async def test_missing_signature_is_refused(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client()
    response = await client.post("/cb", data=CALLBACK)
    assert response.status == 403
    assert await response.text() == "missing signature"
    assert recorder.events == []


async def test_replayed_nonce_is_refused(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client()
    headers = signed("POST", url_of(client), CALLBACK)
    first = await client.post("/cb", data=CALLBACK, headers=headers)
    again = await client.post("/cb", data=CALLBACK, headers=headers)
    assert first.status == 200
    assert again.status == 403
    assert await again.text() == "replayed"
    assert len(recorder.events) == 1


async def test_replay_stripped_to_one_signature_version_is_refused(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = signed("POST", url_of(client), CALLBACK)
    v2_only = {name: value for name, value in headers.items() if "V2" in name}
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
    assert (await client.post("/cb", data=CALLBACK, headers=v2_only)).status == 403
    assert (await client.post("/cb", data=CALLBACK, headers=v3_only(headers))).status == 403
    assert len(recorder.events) == 1


async def test_nonce_is_forgotten_after_the_replay_window(
    make_client: MakeClient, recorder: Recorder
) -> None:
    clock = FakeClock()
    client = await make_client(replay_window=300.0, clock=clock)
    headers = signed("POST", url_of(client), CALLBACK)
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
    clock.now += 299.0
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 403
    clock.now += 2.0
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
    assert len(recorder.events) == 2


async def test_on_event_failure_answers_500_and_logs_without_the_token(
    make_client: MakeClient, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    recorder.fail_with = RuntimeError("database down")
    headers = signed("POST", url_of(client), CALLBACK)
    with caplog.at_level(logging.ERROR, logger="plivo_numlink"):
        response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 500
    failures = [r for r in caplog.records if r.name == "plivo_numlink" and r.exc_info]
    assert len(failures) == 1
    assert "database down" in caplog.text
    assert TOKEN not in caplog.text


async def test_plivo_retry_after_a_500_is_not_taken_for_a_replay(
    make_client: MakeClient, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    recorder.fail_with = RuntimeError("database down")
    headers = signed("POST", url_of(client), CALLBACK)
    with caplog.at_level(logging.CRITICAL, logger="plivo_numlink"):
        assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 500
    recorder.fail_with = None
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
    assert len(recorder.events) == 2


async def test_plain_function_on_event_is_called_too(make_client: MakeClient) -> None:
    seen: list[CallbackEvent] = []
    app = web.Application()
    app.router.add_post("/cb", handler(seen.append, auth_token=TOKEN))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        headers = signed("POST", url_of(client), CALLBACK)
        response = await client.post("/cb", data=CALLBACK, headers=headers)
        assert response.status == 200
    assert seen == [parse_event(CALLBACK)]


async def test_nonce_memory_is_bounded_oldest_forgotten_first(recorder: Recorder) -> None:
    receiver = CallbackReceiver(recorder, auth_token=TOKEN, max_nonces=2)
    app = web.Application()
    app.router.add_post("/cb", receiver.handle)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        url = url_of(client)
        for nonce in ("1", "2", "3"):
            headers = signed("POST", url, CALLBACK, nonce=nonce)
            assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
        oldest = signed("POST", url, CALLBACK, nonce="1")
        newest = signed("POST", url, CALLBACK, nonce="3")
        assert (await client.post("/cb", data=CALLBACK, headers=newest)).status == 403
        assert (await client.post("/cb", data=CALLBACK, headers=oldest)).status == 200
    assert len(recorder.events) == 4


PUBLIC_URL = "https://numlink.example.com/hooks/plivo"


async def test_public_url_is_what_the_signature_is_checked_against(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client(public_url=PUBLIC_URL)
    assert url_of(client) != PUBLIC_URL
    headers = signed("POST", PUBLIC_URL, CALLBACK)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 200
    assert len(recorder.events) == 1


async def test_without_public_url_a_proxied_signature_fails(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = signed("POST", PUBLIC_URL, CALLBACK)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 403
    assert recorder.events == []


async def test_public_url_may_be_a_function_of_the_request(
    make_client: MakeClient, recorder: Recorder
) -> None:
    def public(request: web.Request) -> str:
        return f"https://numlink.example.com/hooks{request.path}"

    client = await make_client(public_url=public)
    headers = signed("POST", "https://numlink.example.com/hooks/cb", CALLBACK)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 200
    assert len(recorder.events) == 1


async def test_public_url_gets_the_request_query_when_it_has_none(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client(public_url=PUBLIC_URL)
    headers = signed("POST", PUBLIC_URL + "?tenant=5", CALLBACK)
    response = await client.post("/cb?tenant=5", data=CALLBACK, headers=headers)
    assert response.status == 200


async def test_get_with_public_url_is_accepted(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client(public_url=PUBLIC_URL)
    headers = signed("GET", PUBLIC_URL, CALLBACK)
    response = await client.get("/cb", params=CALLBACK, headers=headers)
    assert response.status == 200
    assert recorder.events == [parse_event(CALLBACK)]


@pytest.mark.parametrize(
    "options",
    [
        {"auth_token": ""},
        {"auth_token": []},
        {"auth_token": TOKEN, "max_body_size": 0},
        {"auth_token": TOKEN, "replay_window": -1.0},
        {"auth_token": TOKEN, "replay_window": float("nan")},
    ],
    ids=repr,
)
def test_handler_refuses_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        handler(Recorder(), **options)


def test_receiver_repr_hides_the_token() -> None:
    receiver = CallbackReceiver(Recorder(), auth_token=[TOKEN, SUB_TOKEN])
    assert TOKEN not in repr(receiver)
    assert SUB_TOKEN not in repr(receiver)
