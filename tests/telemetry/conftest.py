"""Telemetry tests: an OpenTelemetry SDK tracer and meter provider per test, passed to the
session explicitly (the global providers are never set), read back in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from plivo_numlink import NumLinkSession, RetryPolicy
from plivo_numlink.testing import FakePlivo

#: Retries that never sleep.
FAST_RETRY = RetryPolicy(attempts=3, wait_initial=0, wait_max=0)


@attrs.define
class Recorded:
    """What the providers recorded."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [span for span in self.spans() if span.name == name]
        assert len(found) == 1, [span.name for span in self.spans()]
        return found[0]

    def points(self, name: str) -> list[Any]:
        """The data points of the metric ``name`` (empty if it was never recorded)."""
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def all_points(self) -> list[tuple[str, Any]]:
        data = self.reader.get_metrics_data()
        return [
            (metric.name, point)
            for resource in (data.resource_metrics if data is not None else ())
            for scope in resource.scope_metrics
            for metric in scope.metrics
            for point in metric.data.data_points
        ]


@pytest.fixture
def otel() -> Iterator[Recorded]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Recorded(tracer_provider, meter_provider, exporter, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
async def fake() -> AsyncIterator[FakePlivo]:
    async with FakePlivo(complete_after=0.0, complete_after_polls=0) as fake:
        yield fake


@pytest.fixture
async def session(fake: FakePlivo, otel: Recorded) -> AsyncIterator[NumLinkSession]:
    async with NumLinkSession(
        fake.auth_id,
        fake.auth_token,
        base_url=fake.base_url,
        rate_limit=None,
        retry=FAST_RETRY,
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
    ) as session:
        yield session
