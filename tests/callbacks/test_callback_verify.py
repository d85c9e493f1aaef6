"""``callbacks.verify``, the framework-neutral core: raw bytes and any headers in, an event or
a ``CallbackRejected`` with the status to answer out (issue 16, item 1)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from plivo_numlink.callbacks import CallbackRejected, ReplayGuard, parse_event, verify
from plivo_numlink.testing import sign_callback

from .callback_support import CALLBACK, NONCE, SUB_TOKEN, TOKEN, URL

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BODY = urlencode(CALLBACK).encode()


def signed(token: str = TOKEN, nonce: str = NONCE) -> dict[str, str]:
    return {**sign_callback("POST", URL, CALLBACK, token, nonce=nonce), **FORM}


async def rejected(*args: object, **kwargs: object) -> CallbackRejected:
    with pytest.raises(CallbackRejected) as caught:
        await verify(*args, **kwargs)  # type: ignore[arg-type]
    return caught.value


async def test_a_signed_form_post_gives_its_event() -> None:
    event = await verify("POST", URL, signed(), BODY, auth_token=TOKEN)
    assert event == parse_event(CALLBACK)
    assert event.number == "12125557777"


async def test_the_event_carries_the_nonces_it_was_accepted_with() -> None:
    event = await verify("POST", URL, signed(), BODY, auth_token=TOKEN)
    assert event.nonces == (f"v2:{NONCE}", f"v3:{NONCE}")


@pytest.mark.parametrize(
    "shape",
    ["lower-case-dict", "upper-case-dict", "str-pairs", "asgi-bytes-pairs"],
)
async def test_headers_may_be_any_mapping_or_the_pairs_as_received(shape: str) -> None:
    headers = signed()
    given: object
    if shape == "lower-case-dict":
        given = {name.lower(): value for name, value in headers.items()}
    elif shape == "upper-case-dict":
        given = {name.upper(): value for name, value in headers.items()}
    elif shape == "str-pairs":
        given = list(headers.items())
    else:
        given = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    event = await verify("POST", URL, given, BODY, auth_token=TOKEN)  # type: ignore[arg-type]
    assert event == parse_event(CALLBACK)


async def test_any_of_several_tokens_may_have_signed() -> None:
    event = await verify("post", URL, signed(SUB_TOKEN), BODY, auth_token=[TOKEN, SUB_TOKEN])
    assert event.status == "success"


async def test_a_get_reads_its_parameters_from_the_url_query() -> None:
    url = f"{URL}?{urlencode(CALLBACK)}"
    headers = sign_callback("GET", URL, CALLBACK, TOKEN, nonce=NONCE)
    event = await verify("GET", url, headers, b"", auth_token=TOKEN)
    assert event == parse_event(CALLBACK)


async def test_a_json_body_is_read_by_its_content_type() -> None:
    params = {**CALLBACK, "attempt": "2"}
    headers = {**sign_callback("POST", URL, params, TOKEN), "content-type": "application/json"}
    body = json.dumps({**CALLBACK, "attempt": 2}).encode()
    event = await verify("POST", URL, headers, body, auth_token=TOKEN)
    assert event.raw == params


async def test_a_missing_signature_fails_closed_with_403() -> None:
    error = await rejected("POST", URL, FORM, BODY, auth_token=TOKEN)
    assert (error.status, error.reason) == (403, "missing signature")


async def test_a_signature_that_does_not_match_is_403_naming_the_url_not_a_secret() -> None:
    headers = signed()
    error = await rejected("POST", URL + "-old", headers, BODY, auth_token=TOKEN)
    assert (error.status, error.reason) == (403, "invalid signature")
    assert error.detail is not None
    assert URL + "-old" in str(error)
    assert TOKEN not in str(error)
    for name, value in headers.items():
        if "Nonce" not in name and name != "Content-Type":
            assert value not in str(error)


async def test_v3_alone_decides_where_it_is_present() -> None:
    headers = signed()
    tampered = urlencode({**CALLBACK, "status": "failed"}).encode()
    error = await rejected("POST", URL, headers, tampered, auth_token=TOKEN)
    assert error.status == 403


async def test_a_body_over_max_body_size_is_413() -> None:
    error = await rejected("POST", URL, signed(), BODY, auth_token=TOKEN, max_body_size=10)
    assert (error.status, error.reason) == (413, "body too large")


async def test_a_body_that_cannot_be_parsed_is_400() -> None:
    headers = {**signed(), "Content-Type": "application/json"}
    error = await rejected("POST", URL, headers, b"{not json", auth_token=TOKEN)
    assert (error.status, error.reason) == (400, "body is not valid JSON")


async def test_without_a_guard_nothing_stops_a_replay() -> None:
    for _ in range(2):
        await verify("POST", URL, signed(), BODY, auth_token=TOKEN)


async def test_a_guard_refuses_a_replay_with_403() -> None:
    guard = ReplayGuard()
    await verify("POST", URL, signed(), BODY, auth_token=TOKEN, replay_guard=guard)
    error = await rejected("POST", URL, signed(), BODY, auth_token=TOKEN, replay_guard=guard)
    assert (error.status, error.reason) == (403, "replayed")


async def test_a_forgotten_event_is_accepted_again_as_plivos_retry() -> None:
    guard = ReplayGuard()
    event = await verify("POST", URL, signed(), BODY, auth_token=TOKEN, replay_guard=guard)
    await guard.forget(event)  # handling it failed: the caller answers 500
    again = await verify("POST", URL, signed(), BODY, auth_token=TOKEN, replay_guard=guard)
    assert again == event


async def test_a_guard_whose_store_fails_gives_503(closed_port_url: str) -> None:
    async with ReplayGuard(closed_port_url, timeout=2) as guard:
        error = await rejected("POST", URL, signed(), BODY, auth_token=TOKEN, replay_guard=guard)
    assert (error.status, error.reason) == (503, "replay store unavailable")
    assert "pw-SeCrEt" not in str(error)


async def test_request_text_in_a_rejection_is_escaped_and_cut_short() -> None:
    url = URL + "?note=" + "%0D%0Aforged" + "x" * 5000
    error = await rejected("POST", url + "\r\nforged", signed(), BODY, auth_token=TOKEN)
    assert str(error).isprintable()
    assert len(str(error)) < 2000


@pytest.mark.parametrize("token", ["", [], [""]])
async def test_no_usable_token_is_the_callers_error(token: object) -> None:
    with pytest.raises(ValueError, match="auth_token"):
        await verify("POST", URL, signed(), BODY, auth_token=token)  # type: ignore[arg-type]


async def test_a_body_that_is_not_bytes_is_the_callers_error() -> None:
    with pytest.raises(TypeError, match="bytes"):
        await verify("POST", URL, signed(), BODY.decode(), auth_token=TOKEN)  # type: ignore[arg-type]


def test_a_rejection_shows_its_status_and_reason() -> None:
    error = CallbackRejected(403, "replayed")
    assert repr(error) == "CallbackRejected(403, 'replayed')"
    assert str(error) == "403 replayed"


@pytest.fixture
def closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://:pw-SeCrEt@127.0.0.1:{port}/0"
