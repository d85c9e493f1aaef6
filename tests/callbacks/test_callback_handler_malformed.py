"""The aiohttp handler over 127.0.0.1 against malformed and hostile requests: each gets a 4xx
and one log line without a traceback, and no control character from the request reaches a
log record (issue 10, item 6)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from plivo_numlink.callbacks import _body, handler

from .callback_support import (
    CALLBACK,
    TOKEN,
    MakeClient,
    Recorder,
    request_records,
    signed,
    url_of,
)

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def one_clean_line(caplog: pytest.LogCaptureFixture) -> str:
    """The one record of the plivo_numlink logger; no traceback or error anywhere."""
    ours = request_records(caplog)
    assert len(ours) == 1, [record.getMessage() for record in ours]
    noisy = [r for r in caplog.records if r.exc_info or r.exc_text or r.levelno >= logging.ERROR]
    assert noisy == []
    message = ours[0].getMessage()
    assert ours[0].levelno == logging.WARNING
    assert message.isprintable(), message
    return message


def nested_multipart(depth: int) -> bytes:
    return b"".join(
        b"--%d\r\nContent-Type:multipart/mixed;boundary=%d\r\n\r\n" % (level, level + 1)
        for level in range(depth)
    )


MULTIPART_BAD_CHARSET = (
    b"--BB\r\n"
    b'Content-Disposition: form-data; name="status"\r\n'
    b"Content-Type: text/plain; charset=no-such-charset\r\n\r\n"
    b"success\r\n"
    b"--BB--\r\n"
)

MALFORMED: list[Any] = [
    pytest.param(b"[" * 60_000, JSON, 400, id="json-60000-brackets"),
    pytest.param(b'{"status": ' + b"[" * 60_000, JSON, 400, id="json-object-nested-too-deep"),
    pytest.param(b"{" * 60_000, JSON, 400, id="json-60000-braces"),
    pytest.param(b"{not json", JSON, 400, id="json-broken"),
    pytest.param(json.dumps([CALLBACK]).encode(), JSON, 400, id="json-not-an-object"),
    pytest.param(b'{"n": ' + b"9" * 5000 + b"}", JSON, 400, id="json-integer-past-the-digit-limit"),
    pytest.param(
        b"status=success",
        {"Content-Type": "application/x-www-form-urlencoded; charset=no-such"},
        400,
        id="form-unknown-charset",
    ),
    pytest.param(
        MULTIPART_BAD_CHARSET,
        {"Content-Type": "multipart/form-data; boundary=BB"},
        400,
        id="multipart-part-unknown-charset",
    ),
    pytest.param(
        nested_multipart(1200),
        {"Content-Type": "multipart/form-data; boundary=0"},
        400,
        id="multipart-nested-too-deep",
    ),
    pytest.param(
        b"status=" + b"x" * 70_000,
        {"Content-Type": "application/x-www-form-urlencoded"},
        413,
        id="body-too-large",
    ),
]


@pytest.mark.parametrize(("body", "headers", "status"), MALFORMED)
async def test_a_malformed_request_gets_a_4xx_and_one_clean_log_line(
    make_client: MakeClient,
    recorder: Recorder,
    logs: pytest.LogCaptureFixture,
    body: bytes,
    headers: dict[str, str],
    status: int,
) -> None:
    client = await make_client()
    response = await client.post("/cb", data=body, headers=headers)
    assert response.status == status
    assert recorder.events == []
    message = one_clean_line(logs)
    assert message.startswith("status callback refused")
    assert len(message) < 1000


async def test_a_malformed_but_signed_request_gets_a_4xx_too(
    make_client: MakeClient, recorder: Recorder, logs: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    headers = {**signed("POST", url_of(client), {}), **JSON}
    response = await client.post("/cb", data=b"[" * 60_000, headers=headers)
    assert response.status == 400
    one_clean_line(logs)


async def raw_request(client: TestClient[web.Request, web.Application], head: bytes) -> bytes:
    """Send bytes aiohttp's client would refuse to send; return the status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        writer.write(head + b"Content-Length: 3\r\nConnection: close\r\n\r\na=1")
        await writer.drain()
        return (await reader.readline()).rstrip()
    finally:
        writer.close()


@pytest.mark.parametrize(
    "host",
    [
        pytest.param(b"exa\xffmple.com", id="not-utf8"),
        pytest.param(b"example.com:99999", id="port-out-of-range"),
        pytest.param(b"ex\xc3\xa4mple\xe2\x80\xae.com", id="not-a-host-name"),
    ],
)
async def test_a_host_header_that_names_no_host_gets_a_4xx(
    make_client: MakeClient, recorder: Recorder, logs: pytest.LogCaptureFixture, host: bytes
) -> None:
    client = await make_client()
    status = await raw_request(client, b"POST /cb HTTP/1.1\r\nHost: " + host + b"\r\n")
    assert status.startswith(b"HTTP/1.1 4"), status
    assert recorder.events == []
    one_clean_line(logs)


async def test_undecodable_signature_header_bytes_are_refused_with_403(
    make_client: MakeClient, recorder: Recorder, logs: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    head = (
        b"POST /cb HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"X-Plivo-Signature-V3: \xff\xfe\r\nX-Plivo-Signature-V3-Nonce: \xff\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
    )
    assert await raw_request(client, head) == b"HTTP/1.1 403 Forbidden"
    one_clean_line(logs)


# ---------------------------------------------------------------------------------------------
# No control character from the request reaches a log record.

FORGED = "\r\n2026-01-01 00:00:00 CRITICAL forged line\x1b[2J\x00\u2028"


def assert_escaped(message: str) -> None:
    assert message.isprintable(), message
    assert "\\r\\n2026-01-01" in message  # shown escaped, not dropped


async def test_control_characters_of_a_decoded_body_are_escaped_in_the_500_log_line(
    make_client: MakeClient, recorder: Recorder, logs: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    recorder.fail_with = RuntimeError("database down")
    body = {**CALLBACK, "number": "1212" + FORGED}
    response = await client.post("/cb", data=body, headers=signed("POST", url_of(client), body))
    assert response.status == 500
    (failure,) = request_records(logs)
    assert failure.exc_info  # the on_event bug keeps its traceback
    assert_escaped(failure.getMessage())


async def test_control_characters_of_a_decoded_query_are_escaped_in_the_refusal_log_line(
    make_client: MakeClient, recorder: Recorder, logs: pytest.LogCaptureFixture
) -> None:
    client = await make_client(public_url="https://numlink.example.com/hooks/plivo")
    response = await client.post("/cb?note=%0D%0Aforged%1B%5B2J", data=CALLBACK)
    assert response.status == 403
    message = one_clean_line(logs)
    assert "forged" in message


async def test_control_characters_of_a_decoded_path_are_escaped_in_the_refusal_log_line(
    recorder: Recorder, logs: pytest.LogCaptureFixture
) -> None:
    def public(request: web.Request) -> str:
        # As the docs suggest: the decoded path, behind a proxy that strips a prefix.
        return f"https://numlink.example.com/hooks{request.path}"

    app = web.Application()
    app.router.add_route(
        "*", r"/{tail:[\s\S]*}", handler(recorder, auth_token=TOKEN, public_url=public)
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        path = "/cb%0D%0A2026-01-01%2000:00:00%20CRITICAL%20forged%20line%1B%5B2J"
        response = await client.post(path, data=CALLBACK)
    assert response.status == 403
    assert_escaped(one_clean_line(logs))


async def test_long_request_text_is_cut_short_in_the_log_line(
    make_client: MakeClient, recorder: Recorder, logs: pytest.LogCaptureFixture
) -> None:
    client = await make_client(public_url="https://numlink.example.com/hooks/plivo")
    response = await client.post("/cb?note=" + "x" * 5_000, data=CALLBACK)
    assert response.status == 403
    message = one_clean_line(logs)
    assert len(message) < 1000
    assert "more)" in message


async def test_a_json_value_too_deep_to_write_back_as_text_gets_a_400(
    make_client: MakeClient,
    recorder: Recorder,
    logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whether the parser or the text conversion hits the depth first depends on the stack
    # at hand; force the second case.
    def too_deep(*args: object, **kwargs: object) -> str:
        raise RecursionError("maximum recursion depth exceeded")

    body = json.dumps({"meta": {"a": [[[]]]}}).encode()
    client = await make_client()
    monkeypatch.setattr(_body.json, "dumps", too_deep)
    response = await client.post("/cb", data=body, headers=JSON)
    assert response.status == 400
    assert await response.text() == "JSON body is nested too deeply"
    one_clean_line(logs)
