"""The aiohttp handler over 127.0.0.1: reading form, JSON, multipart and GET callbacks,
and refusing bodies that are too large or cannot be parsed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp

from plivo_numlink.callbacks import parse_event

from .callback_support import CALLBACK, SUB_TOKEN, TOKEN, MakeClient, Recorder, signed, url_of


async def test_signed_form_post_is_answered_ok_and_dispatched_once(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = signed("POST", url_of(client), CALLBACK)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 200
    assert await response.text() == "OK"
    assert recorder.events == [parse_event(CALLBACK)]


async def test_signed_json_post_is_accepted_with_values_as_text(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    body = {**CALLBACK, "attempt": 2}
    headers = signed("POST", url_of(client), {**CALLBACK, "attempt": "2"})
    response = await client.post("/cb", json=body, headers=headers)
    assert response.status == 200
    assert recorder.events == [parse_event({**CALLBACK, "attempt": "2"})]


async def test_json_lists_and_objects_arrive_as_text(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    body = {**CALLBACK, "tags": ["a", 1], "meta": {"b": 1, "a": None}, "ok": True}
    params = {**CALLBACK, "tags": ["a", "1"], "meta": '{"a":null,"b":1}', "ok": "True"}
    response = await client.post("/cb", json=body, headers=signed("POST", url_of(client), params))
    assert response.status == 200
    assert recorder.events[0].raw == params


async def test_json_body_that_is_not_an_object_is_refused_with_400(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    response = await client.post("/cb", json=[CALLBACK])
    assert response.status == 400
    assert await response.text() == "JSON body must be an object"
    assert recorder.events == []


async def test_form_with_an_unknown_charset_is_refused_with_400(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=no-such-charset"}
    response = await client.post("/cb", data=b"status=success", headers=headers)
    assert response.status == 400
    assert recorder.events == []


async def test_multipart_file_parts_are_ignored(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    form = aiohttp.MultipartWriter("form-data")
    for key, value in CALLBACK.items():
        form.append(value).set_content_disposition("form-data", name=key)
    form.append(b"\x00binary").set_content_disposition("form-data", name="upload", filename="x.bin")
    headers = signed("POST", url_of(client), CALLBACK)
    response = await client.post("/cb", data=form, headers=headers)
    assert response.status == 200
    assert "upload" not in recorder.events[0].raw


async def test_signed_multipart_post_is_accepted(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    form = aiohttp.MultipartWriter("form-data")
    for key, value in CALLBACK.items():
        form.append(value).set_content_disposition("form-data", name=key)
    headers = signed("POST", url_of(client), CALLBACK)
    response = await client.post("/cb", data=form, headers=headers)
    assert response.status == 200
    assert recorder.events == [parse_event(CALLBACK)]


async def test_signed_get_is_accepted(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client()
    path = "/cb?" + urlencode(CALLBACK)
    response = await client.get(path, headers=signed("GET", url_of(client, path), {}))
    assert response.status == 200
    assert recorder.events == [parse_event(CALLBACK)]


async def test_repeated_form_keys_arrive_as_lists(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    pairs = [*CALLBACK.items(), ("tag", "b"), ("tag", "a"), ("tag", "c")]
    params = {**CALLBACK, "tag": ["b", "a", "c"]}
    response = await client.post("/cb", data=pairs, headers=signed("POST", url_of(client), params))
    assert response.status == 200
    assert recorder.events[0].raw["tag"] == ["b", "a", "c"]


async def test_signed_post_to_a_url_with_a_query_is_accepted(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    url = url_of(client, "/cb?tenant=5")
    response = await client.post(
        "/cb?tenant=5", data=CALLBACK, headers=signed("POST", url, CALLBACK)
    )
    assert response.status == 200
    assert len(recorder.events) == 1


async def test_sub_account_token_is_accepted(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client(auth_token=[TOKEN, SUB_TOKEN])
    headers = signed("POST", url_of(client), CALLBACK, token=SUB_TOKEN)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 200
    assert len(recorder.events) == 1


async def test_content_length_over_the_limit_is_refused_with_413(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client(max_body_size=1024)
    body = {**CALLBACK, "padding": "x" * 2048}
    headers = signed("POST", url_of(client), body)
    response = await client.post("/cb", data=body, headers=headers)
    assert response.status == 413
    assert recorder.events == []


async def test_chunked_body_over_the_limit_is_refused_with_413(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client(max_body_size=1024)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"padding=" + b"x" * 500 + b"&"

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post("/cb", data=chunks(), headers=headers)
    assert response.status == 413
    assert recorder.events == []


async def test_malformed_json_is_refused_with_400(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = {"Content-Type": "application/json"}
    response = await client.post("/cb", data=b"{not json", headers=headers)
    assert response.status == 400
    assert recorder.events == []
