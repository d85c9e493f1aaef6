"""Without ``public_url`` a receiver says once, at construction, that signatures are checked
against the URL the request names; ``trust_forwarded`` takes the scheme and host from a
trusted proxy's X-Forwarded-Proto and X-Forwarded-Host (issue 18, row 9)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from plivo_numlink import callbacks
from plivo_numlink.callbacks import CallbackReceiver
from plivo_numlink.testing import sign_callback

from .callback_support import CALLBACK, NO_PUBLIC_URL_WARNING, TOKEN, Recorder
from .receivers import receiving

PUBLIC_URL = "https://numlink.example.com/hooks/plivo"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BODY = "&".join(f"{k}={v}" for k, v in CALLBACK.items()).encode()

BUILDERS: dict[str, Callable[..., Any]] = {
    "handler": callbacks.handler,
    "CallbackReceiver": CallbackReceiver,
    "asgi_app": callbacks.asgi_app,
}


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize("build", list(BUILDERS))
def test_a_receiver_without_public_url_logs_one_warning_at_construction(
    build: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="plivo_numlink"):
        BUILDERS[build](Recorder(), auth_token=TOKEN)
    (warning,) = warnings_of(caplog)
    assert NO_PUBLIC_URL_WARNING in warning
    assert "Host header" in warning
    assert "public_url" in warning
    assert "trust_forwarded" in warning
    assert TOKEN not in warning


@pytest.mark.parametrize("build", list(BUILDERS))
def test_a_receiver_with_public_url_logs_nothing_at_construction(
    build: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="plivo_numlink"):
        BUILDERS[build](Recorder(), auth_token=TOKEN, public_url=PUBLIC_URL)
    assert caplog.records == []


@pytest.mark.parametrize("build", list(BUILDERS))
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"public_url": PUBLIC_URL, "trust_forwarded": True}, "not both"),
        ({"trust_forwarded": "not-an-address"}, "trust_forwarded"),
        ({"trust_forwarded": ["10.0.0.0/8", "10.0.0.300"]}, "trust_forwarded"),
    ],
)
def test_contradictory_or_bad_proxy_options_are_refused(
    build: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        BUILDERS[build](Recorder(), auth_token=TOKEN, **options)


def forwarded(proto: str = "https", host: str = "numlink.example.com") -> dict[str, str]:
    headers = sign_callback("POST", PUBLIC_URL, CALLBACK, TOKEN)
    return {**headers, **FORM, "X-Forwarded-Proto": proto, "X-Forwarded-Host": host}


@pytest.mark.parametrize("kind", ["aiohttp", "asgi"])
@pytest.mark.parametrize("trust", [True, "127.0.0.1", ["10.0.0.0/8", "127.0.0.0/8"]], ids=repr)
async def test_forwarded_scheme_and_host_are_used_from_a_trusted_proxy(
    kind: str, trust: Any
) -> None:
    recorder = Recorder()
    async with receiving(
        kind, recorder, path="/hooks/plivo", auth_token=TOKEN, trust_forwarded=trust
    ) as send:
        assert await send("POST", "/hooks/plivo", forwarded(), BODY) == (200, "OK")
    assert len(recorder.events) == 1


@pytest.mark.parametrize("kind", ["aiohttp", "asgi"])
async def test_forwarded_headers_are_ignored_without_trust_forwarded(kind: str) -> None:
    recorder = Recorder()
    async with receiving(kind, recorder, path="/hooks/plivo", auth_token=TOKEN) as send:
        answer = await send("POST", "/hooks/plivo", forwarded(), BODY)
    assert answer == (403, "invalid signature")


@pytest.mark.parametrize("kind", ["aiohttp", "asgi"])
async def test_forwarded_headers_from_a_peer_not_listed_are_ignored(kind: str) -> None:
    recorder = Recorder()
    options = {"auth_token": TOKEN, "trust_forwarded": ["10.0.0.0/8"]}
    async with receiving(kind, recorder, path="/hooks/plivo", **options) as send:
        answer = await send("POST", "/hooks/plivo", forwarded(), BODY)
    assert answer == (403, "invalid signature")


@pytest.mark.parametrize("kind", ["aiohttp", "asgi"])
async def test_the_last_forwarded_value_counts_the_one_the_nearest_proxy_set(kind: str) -> None:
    # A client sent its own X-Forwarded-Host; the proxy appended the real one.
    recorder = Recorder()
    async with receiving(
        kind, recorder, path="/hooks/plivo", auth_token=TOKEN, trust_forwarded=True
    ) as send:
        spoofed = forwarded(proto="http, https", host="evil.example.org, numlink.example.com")
        assert await send("POST", "/hooks/plivo", spoofed, BODY) == (200, "OK")
        headers = sign_callback("POST", "https://evil.example.org/hooks/plivo", CALLBACK, TOKEN)
        chosen = {**headers, **FORM, "X-Forwarded-Host": "numlink.example.com, evil.example.org"}
        chosen["X-Forwarded-Proto"] = "https"
        assert await send("POST", "/hooks/plivo", chosen, BODY) == (200, "OK")
    assert len(recorder.events) == 2


@pytest.mark.parametrize("kind", ["aiohttp", "asgi"])
async def test_a_forwarded_host_that_names_no_host_is_a_400(kind: str) -> None:
    recorder = Recorder()
    async with receiving(
        kind, recorder, path="/hooks/plivo", auth_token=TOKEN, trust_forwarded=True
    ) as send:
        answer = await send("POST", "/hooks/plivo", forwarded(host="a b/c"), BODY)
    assert answer == (400, "malformed request")
    assert recorder.events == []
