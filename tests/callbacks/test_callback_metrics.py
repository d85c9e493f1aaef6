"""The receivers count each answered request in ``plivo_numlink.callbacks``, by the event's
kind and the status answered, through the meter provider they are given (issue 15)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from plivo_numlink.testing import sign_callback

from .callback_support import CALLBACK, TOKEN, Recorder
from .receivers import receiving

PUBLIC_URL = "https://numlink.example.com/hooks/plivo"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BODY = urlencode(CALLBACK).encode()
RECEIVERS = ("aiohttp", "asgi")


@pytest.fixture
def metrics() -> Iterator[tuple[MeterProvider, InMemoryMetricReader]]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield provider, reader
    provider.shutdown()


def counted(reader: InMemoryMetricReader) -> dict[tuple[tuple[str, Any], ...], int]:
    """The ``plivo_numlink.callbacks`` counts by their sorted attributes."""
    data = reader.get_metrics_data()
    return {
        tuple(sorted(point.attributes.items())): point.value
        for resource in (data.resource_metrics if data is not None else ())
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "plivo_numlink.callbacks"
        for point in metric.data.data_points
    }


def key(kind: str, status: int) -> tuple[tuple[str, Any], ...]:
    return (("http.response.status_code", status), ("plivo_numlink.callback.kind", kind))


@pytest.mark.parametrize("runner", RECEIVERS)
async def test_a_valid_callback_is_counted_with_its_kind_and_200(
    runner: str, metrics: tuple[MeterProvider, InMemoryMetricReader]
) -> None:
    provider, reader = metrics
    signed = sign_callback("POST", PUBLIC_URL, CALLBACK, TOKEN)
    options = {"auth_token": TOKEN, "public_url": PUBLIC_URL, "meter_provider": provider}
    async with receiving(runner, Recorder(), **options) as send:
        assert await send("POST", "/cb", {**FORM, **signed}, BODY) == (200, "OK")
    assert counted(reader) == {key("linking", 200): 1}


@pytest.mark.parametrize("runner", RECEIVERS)
async def test_a_tampered_callback_is_counted_403_with_the_kind_unknown(
    runner: str, metrics: tuple[MeterProvider, InMemoryMetricReader]
) -> None:
    provider, reader = metrics
    signed = sign_callback("POST", PUBLIC_URL, CALLBACK, TOKEN)
    tampered = urlencode({**CALLBACK, "status": "failed"}).encode()
    options = {"auth_token": TOKEN, "public_url": PUBLIC_URL, "meter_provider": provider}
    async with receiving(runner, Recorder(), **options) as send:
        assert await send("POST", "/cb", {**FORM, **signed}, tampered) == (
            403,
            "invalid signature",
        )
    assert counted(reader) == {key("unknown", 403): 1}


@pytest.mark.parametrize("runner", RECEIVERS)
async def test_each_answered_request_is_counted_once_and_a_handler_failure_as_500(
    runner: str, metrics: tuple[MeterProvider, InMemoryMetricReader]
) -> None:
    provider, reader = metrics
    recorder = Recorder()
    signed = sign_callback("POST", PUBLIC_URL, CALLBACK, TOKEN)
    options = {"auth_token": TOKEN, "public_url": PUBLIC_URL, "meter_provider": provider}
    async with receiving(runner, recorder, **options) as send:
        recorder.fail_with = RuntimeError("database down")
        assert (await send("POST", "/cb", {**FORM, **signed}, BODY))[0] == 500
        recorder.fail_with = None
        assert (await send("POST", "/cb", {**FORM, **signed}, BODY))[0] == 200  # the retry
        assert (await send("POST", "/cb", {**FORM, **signed}, BODY))[0] == 403  # a replay
        assert (await send("GET", "/cb", {}, b""))[0] == 403  # no signature
    assert counted(reader) == {
        key("linking", 500): 1,
        key("linking", 200): 1,
        key("unknown", 403): 2,
    }


@pytest.mark.parametrize("runner", RECEIVERS)
async def test_no_callback_metric_attribute_holds_a_number_or_a_campaign_id(
    runner: str, metrics: tuple[MeterProvider, InMemoryMetricReader]
) -> None:
    provider, reader = metrics
    signed = sign_callback("POST", PUBLIC_URL, CALLBACK, TOKEN)
    options = {"auth_token": TOKEN, "public_url": PUBLIC_URL, "meter_provider": provider}
    async with receiving(runner, Recorder(), **options) as send:
        await send("POST", "/cb", {**FORM, **signed}, BODY)
        await send("POST", "/cb", {**FORM, **signed}, b"number=12125550000&campaign_id=CX")
    words = [CALLBACK["number"], CALLBACK["campaign_id"], "12125550000", "CX", TOKEN]
    for attributes in counted(reader):
        assert not any(word in f"{name}={value}" for name, value in attributes for word in words)
