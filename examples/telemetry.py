"""Trace and measure a bulk job with OpenTelemetry: spans and metrics to the console, or OTLP.

What it shows: a ``NumLinkSession`` given an SDK ``tracer_provider`` and ``meter_provider``
(set them globally with ``trace.set_tracer_provider`` instead, and every session uses them);
one span per call with one span per HTTP attempt under it (retries included); the duration,
retry and outcome metrics; ``session.stats()``.

Run it (without PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, or with ``--fake``, it runs against the
embedded fake Plivo, which answers the first request with 503 so that a retry shows)::

    pip install 'plivo-numlink[otel]' opentelemetry-sdk
    python examples/telemetry.py --fake --count 100
    # to an OpenTelemetry collector instead of the console:
    pip install opentelemetry-exporter-otlp-proto-http
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/telemetry.py --fake
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

import plivo_numlink as pn
from plivo_numlink.testing import FakePlivo

#: Attributes the console leaves out: the span's name says them already.
SAID = {"http.request.method", "server.address", "server.port", "url.template"}


def span_line(span: ReadableSpan) -> str:
    """One line per span: name, kind, duration, its other attributes."""
    took = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    shown = {key: value for key, value in (span.attributes or {}).items() if key not in SAID}
    attributes = " ".join(f"{key}={value}" for key, value in shown.items())
    status = " ERROR" if span.status.status_code.name == "ERROR" else ""
    return f"span {span.name} [{span.kind.name}{status}] {took:.1f} ms {attributes}\n"


def metrics_lines(data: MetricsData) -> str:
    """One line per data point: the metric, its attributes, its count/sum or value."""
    lines = []
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attributes = ",".join(f"{k}={v}" for k, v in point.attributes.items())
                    value = getattr(point, "value", None)
                    shown = (
                        f"value={value}"
                        if value is not None
                        else (f"count={point.count} sum={point.sum:.4f}")
                    )
                    lines.append(f"metric {metric.name}{{{attributes}}} {shown}\n")
    return "".join(lines)


def exporters() -> tuple[SpanExporter, MetricExporter]:
    """OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (it reads its settings from there),
    else the console."""
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        # Imported here only: OTLP is not a dependency of the example otherwise.
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(), OTLPMetricExporter()
    return (
        ConsoleSpanExporter(out=sys.stdout, formatter=span_line),
        ConsoleMetricExporter(out=sys.stdout, formatter=metrics_lines),
    )


def providers() -> tuple[TracerProvider, MeterProvider]:
    resource = Resource.create({"service.name": "plivo-numlink-telemetry-example"})
    span_exporter, metric_exporter = exporters()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    # Exported every minute, and once more when the provider shuts down.
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=60_000)
    return tracer_provider, MeterProvider(resource=resource, metric_readers=[reader])


async def link_and_wait(
    options: dict[str, Any], campaign_id: str, numbers: Sequence[str], **telemetry: Any
) -> None:
    async with pn.NumLinkSession(**options, **telemetry) as session:
        report = await session.link_many(
            campaign_id, numbers, batch_size=10, wait=True, poll_interval=0.05
        )
        stats = session.stats()
    print(report.summary(), file=sys.stderr)
    print(
        f"session: {stats.requests} requests, {stats.retries} retries, "
        f"{stats.throttled} answered 429, {stats.errors} errors",
        file=sys.stderr,
    )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("campaign_id", nargs="?", default="CUOGHIN")
    parser.add_argument("--count", type=int, default=50, help="numbers to link (default 50)")
    parser.add_argument("--fake", action="store_true", help="use the embedded fake Plivo")
    args = parser.parse_args(argv)
    numbers = [f"+1 (212) 555-{index:04d}" for index in range(args.count)]
    tracer_provider, meter_provider = providers()
    telemetry = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
    try:
        credentials = os.environ.get("PLIVO_AUTH_ID") and os.environ.get("PLIVO_AUTH_TOKEN")
        if credentials and not args.fake:
            await link_and_wait({}, args.campaign_id, numbers, **telemetry)
        else:
            print("no credentials: using the embedded fake Plivo", file=sys.stderr)
            async with FakePlivo() as fake:
                fake.enqueue_fault(503)
                options = {
                    "auth_id": fake.auth_id,
                    "auth_token": fake.auth_token,
                    "base_url": fake.base_url,
                    "retry": pn.RetryPolicy(wait_initial=0.01, wait_max=0.05),
                }
                await link_and_wait(options, args.campaign_id, numbers, **telemetry)
    finally:
        tracer_provider.shutdown()  # exports what is left
        meter_provider.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
