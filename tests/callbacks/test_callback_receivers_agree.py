"""One table of requests run through ``verify``, the aiohttp handler and the ASGI app: the
three give the same answers (status and text), dispatch the same events, and the two
receivers log the same lines (issue 16, "Done when")."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import attrs
import pytest

from plivo_numlink.testing import sign_callback

from .callback_support import CALLBACK, SUB_TOKEN, TOKEN, Recorder, request_records
from .receivers import RUNNERS, receiving

PUBLIC_URL = "https://numlink.example.com/hooks/plivo"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
MAX_BODY = 1024


@attrs.frozen
class Step:
    """One request, whether on_event fails while it is handled, and the answer expected."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    expected: tuple[int, str]
    handler_fails: bool = False


def signed_form(
    params: dict[str, Any] = CALLBACK,
    *,
    sign_params: dict[str, Any] | None = None,
    url: str = PUBLIC_URL,
    token: str = TOKEN,
    nonce: str = "11111111111111111111",
    keep: str = "",
) -> tuple[dict[str, str], bytes]:
    headers = sign_callback("POST", url, sign_params or params, token, nonce=nonce)
    if keep:
        headers = {name: value for name, value in headers.items() if keep in name}
    return {**headers, **FORM}, urlencode(params).encode()


def post(expected: tuple[int, str], **signing: Any) -> Step:
    headers, body = signed_form(**signing)
    return Step("POST", "/cb", headers, body, expected)


OK = (200, "OK")
_tampered_headers, _ = signed_form(keep="V3")
_v3_headers = _tampered_headers
_v2_headers, _ = signed_form(keep="V2")
_bad_v3 = sign_callback("POST", PUBLIC_URL, {}, TOKEN, nonce="11111111111111111111")
_json_params = {**CALLBACK, "attempt": "2"}
_json_headers = sign_callback("POST", PUBLIC_URL, _json_params, TOKEN, nonce="3")
_get_headers = sign_callback("GET", PUBLIC_URL, CALLBACK, TOKEN, nonce="4")
_big = {**CALLBACK, "padding": "x" * 2 * MAX_BODY}
_broken = sign_callback("POST", PUBLIC_URL, {}, TOKEN, nonce="5")

CASES: dict[str, list[Step]] = {
    "valid-v3": [post(OK, keep="V3")],
    "valid-v2": [post(OK, keep="V2")],
    "valid-v2-and-v3": [post(OK)],
    "valid-sub-account-token": [post(OK, token=SUB_TOKEN)],
    "valid-json": [
        Step(
            "POST",
            "/cb",
            {**_json_headers, **JSON},
            json.dumps({**CALLBACK, "attempt": 2}).encode(),
            OK,
        )
    ],
    "valid-get": [Step("GET", "/cb?" + urlencode(CALLBACK), _get_headers, b"", OK)],
    "tampered-body": [
        Step(
            "POST",
            "/cb",
            _tampered_headers,
            urlencode({**CALLBACK, "status": "failed"}).encode(),
            (403, "invalid signature"),
        )
    ],
    "valid-v2-beside-a-wrong-v3": [
        Step(
            "POST",
            "/cb",
            {
                **_v2_headers,
                "X-Plivo-Signature-V3": _bad_v3["X-Plivo-Signature-V3"],
                "X-Plivo-Signature-V3-Nonce": _bad_v3["X-Plivo-Signature-V3-Nonce"],
            },
            urlencode(CALLBACK).encode(),
            (403, "invalid signature"),
        )
    ],
    "replayed": [post(OK), post((403, "replayed"))],
    "replayed-under-v2-only": [post(OK), post((403, "replayed"), keep="V2")],
    "too-large": [post((413, "body too large"), params=_big)],
    "malformed-json": [
        Step("POST", "/cb", {**_broken, **JSON}, b"{not json", (400, "body is not valid JSON"))
    ],
    "json-not-an-object": [
        Step("POST", "/cb", {**_broken, **JSON}, b"[1]", (400, "JSON body must be an object"))
    ],
    "unknown-charset": [
        Step(
            "POST",
            "/cb",
            {**_broken, "Content-Type": "application/x-www-form-urlencoded; charset=nope"},
            b"a=1",
            (400, "body is not a valid form"),
        )
    ],
    "wrong-url": [post((403, "invalid signature"), url=PUBLIC_URL + "-old")],
    "wrong-token": [post((403, "invalid signature"), token="not-the-token")],
    "missing-signature": [
        Step("POST", "/cb", FORM, urlencode(CALLBACK).encode(), (403, "missing signature"))
    ],
    "nonce-header-missing": [
        Step(
            "POST",
            "/cb",
            {"X-Plivo-Signature-V3": _v3_headers["X-Plivo-Signature-V3"], **FORM},
            urlencode(CALLBACK).encode(),
            (403, "invalid signature"),
        )
    ],
    "handler-raising-then-plivos-retry": [
        attrs.evolve(post((500, "callback handler failed")), handler_fails=True),
        post(OK),
    ],
}


async def run_case(
    runner: str, steps: list[Step], caplog: pytest.LogCaptureFixture
) -> tuple[list[tuple[int, str]], Recorder, list[str]]:
    recorder = Recorder()
    caplog.clear()
    answers = []
    options = {"auth_token": [TOKEN, SUB_TOKEN], "public_url": PUBLIC_URL}
    async with receiving(runner, recorder, max_body_size=MAX_BODY, **options) as send:
        for step in steps:
            recorder.fail_with = RuntimeError("database down") if step.handler_fails else None
            answers.append(await send(step.method, step.target, step.headers, step.body))
    lines = [record.getMessage() for record in request_records(caplog)]
    return answers, recorder, lines


@pytest.mark.parametrize("case", list(CASES))
async def test_verify_and_both_receivers_answer_alike(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    steps = CASES[case]
    seen: dict[str, Any] = {}
    with caplog.at_level(logging.WARNING, logger="plivo_numlink"):
        for runner in RUNNERS:
            seen[runner] = await run_case(runner, steps, caplog)
    expected = [step.expected for step in steps]
    for runner in RUNNERS:
        assert seen[runner][0] == expected, runner
    events = {runner: seen[runner][1].events for runner in RUNNERS}
    assert events["verify"] == events["aiohttp"] == events["asgi"]
    assert len(events["verify"]) == sum(1 for step in steps if step.expected[0] in (200, 500))
    # The receivers log the same lines (verify logs nothing: its caller does).
    assert seen["verify"][2] == []
    assert seen["aiohttp"][2] == seen["asgi"][2]
    assert len(seen["asgi"][2]) == sum(1 for step in steps if step.expected[0] != 200)
