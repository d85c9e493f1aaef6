"""The aiohttp handler over 127.0.0.1: a wrong public_url can be diagnosed from the log, which
names the URL the signature was checked against and never a secret or signature (issue 10,
item 15), and public_url gets the request's query as sent."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from plivo_numlink.callbacks import signature_v2, signature_v3

from .callback_support import (
    CALLBACK,
    NONCE,
    TOKEN,
    MakeClient,
    Recorder,
    request_records,
    signed,
    url_of,
)

PUBLIC_URL = "https://numlink.example.com/hooks/plivo"
WRONG_PUBLIC_URL = "https://numlink.example.com/hooks/plivo-old"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG, logger="plivo_numlink"):
        yield caplog


def warning_of(caplog: pytest.LogCaptureFixture) -> str:
    (record,) = request_records(caplog)
    assert record.levelno == logging.WARNING
    return record.getMessage()


def assert_no_secret_or_signature(message: str, headers: dict[str, str], url: str) -> None:
    assert TOKEN not in message
    for name, value in headers.items():
        if not name.endswith("Nonce"):
            assert value not in message
    # Nor the signatures it expected, which would let a reader forge one for this URL.
    assert signature_v2(url, NONCE, TOKEN) not in message
    assert signature_v3("POST", url, CALLBACK, NONCE, TOKEN) not in message


async def test_a_wrong_public_url_logs_that_the_signature_did_not_match_and_names_it(
    make_client: MakeClient, recorder: Recorder, logs: pytest.LogCaptureFixture
) -> None:
    client = await make_client(public_url=WRONG_PUBLIC_URL)
    headers = signed("POST", PUBLIC_URL, CALLBACK)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 403
    assert await response.text() == "invalid signature"
    message = warning_of(logs)
    assert "signature did not match" in message
    assert WRONG_PUBLIC_URL in message
    assert "public_url" in message  # says what to change
    assert_no_secret_or_signature(message, headers, WRONG_PUBLIC_URL)


async def test_a_missing_public_url_behind_a_proxy_logs_the_request_url_it_checked(
    make_client: MakeClient, recorder: Recorder, logs: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    headers = signed("POST", PUBLIC_URL, CALLBACK)
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 403
    message = warning_of(logs)
    assert "signature did not match" in message
    assert url_of(client) in message
    assert_no_secret_or_signature(message, headers, url_of(client))


async def test_the_mismatch_warning_names_the_signature_headers_seen_not_their_values(
    make_client: MakeClient, recorder: Recorder, logs: pytest.LogCaptureFixture
) -> None:
    client = await make_client(public_url=WRONG_PUBLIC_URL)
    headers = signed("POST", PUBLIC_URL, CALLBACK)
    await client.post("/cb", data=CALLBACK, headers=headers)
    message = warning_of(logs)
    assert "X-Plivo-Signature-V3" in message
    assert "X-Plivo-Signature-V2" in message


async def test_a_missing_signature_is_not_reported_as_a_mismatch(
    make_client: MakeClient, recorder: Recorder, logs: pytest.LogCaptureFixture
) -> None:
    client = await make_client(public_url=PUBLIC_URL)
    assert (await client.post("/cb", data=CALLBACK)).status == 403
    message = warning_of(logs)
    assert "missing signature" in message
    assert "did not match" not in message


async def test_an_accepted_callback_logs_no_warning(
    make_client: MakeClient, recorder: Recorder, logs: pytest.LogCaptureFixture
) -> None:
    client = await make_client(public_url=PUBLIC_URL)
    headers = signed("POST", PUBLIC_URL, CALLBACK)
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
    assert [r for r in logs.records if r.levelno >= logging.WARNING] == []


async def test_public_url_gets_the_request_query_as_sent_not_decoded(
    make_client: MakeClient, recorder: Recorder
) -> None:
    # Plivo signs the URL it called: an encoded "&" in a query value must stay one value.
    client = await make_client(public_url=PUBLIC_URL)
    query = "?note=a%26b%3Dc&tenant=5"
    headers = signed("POST", PUBLIC_URL + query, CALLBACK)
    response = await client.post("/cb" + query, data=CALLBACK, headers=headers)
    assert response.status == 200
    assert len(recorder.events) == 1
