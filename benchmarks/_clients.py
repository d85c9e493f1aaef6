"""The clients the benchmarks compare: this library, a bare aiohttp loop, the official SDK.

Each function does one measured run and returns a :class:`Run` (wall time, CPU time of this
process, how the answers went). The fake server always runs in another process, so the CPU
time is the client's alone.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import attrs

from plivo_numlink import NumLinkSession

from ._common import AUTH_HEADER, AUTH_ID, AUTH_TOKEN, CAMPAIGN, Timer, number_path


@attrs.frozen
class Run:
    """One measured run of a client."""

    #: Requests (or numbers, for batched links) the run was asked to carry out.
    count: int
    wall: float
    cpu: float
    #: HTTP requests sent (every retry counts).
    requests: int
    #: What happened: outcome kinds (library) or HTTP statuses / error names (others).
    results: dict[str, int]

    @property
    def throughput(self) -> float:
        return self.count / self.wall

    @property
    def cpu_per_1k(self) -> float:
        """Client CPU seconds per 1,000 requests sent."""
        return self.cpu / self.requests * 1000


def _prepare() -> None:
    # Leftovers of an earlier run must not be collected during this one.
    gc.collect()


# -- this library -----------------------------------------------------------------------------


async def _library_unlink(base_url: str, numbers: Iterable[str], count: int, **options: Any) -> Run:
    callback = options.pop("callback", {})
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN, base_url=base_url, **options)
    async with session:
        timer = Timer()
        with timer:
            report = await session.unlink_many(CAMPAIGN, numbers, **callback)
    return Run(count, timer.wall, timer.cpu, report.requests, report.counts)


def library_unlink(base_url: str, numbers: Iterator[str], count: int, **options: Any) -> Run:
    """``unlink_many`` over ``numbers`` with a session built from ``options``."""
    _prepare()
    return asyncio.run(_library_unlink(base_url, numbers, count, **options))


async def _library_link(
    base_url: str, numbers: Iterable[str], count: int, batch_size: int, **options: Any
) -> Run:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN, base_url=base_url, **options)
    async with session:
        timer = Timer()
        with timer:
            report = await session.link_many(CAMPAIGN, numbers, batch_size=batch_size)
    return Run(count, timer.wall, timer.cpu, report.requests, report.counts)


def library_link(
    base_url: str, numbers: Iterator[str], count: int, batch_size: int, **options: Any
) -> Run:
    """``link_many`` over ``numbers``, ``batch_size`` numbers per request."""
    _prepare()
    return asyncio.run(_library_link(base_url, numbers, count, batch_size, **options))


def sdk_providers() -> dict[str, Any]:
    """OpenTelemetry SDK providers recording every span and metric, as a service would set
    them up: spans through a batch processor (to an exporter that drops them: the export's
    own cost is the backend's business), metrics aggregated in memory."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return {"tracer_provider": tracer_provider, "meter_provider": meter_provider}


# -- the baseline: a minimal hand-written aiohttp loop ----------------------------------------


async def _aiohttp_unlink(
    base_url: str, numbers: Iterable[str], count: int, concurrency: int, body: Any
) -> Run:
    # What one would write by hand: one ClientSession, a connector of the same size as the
    # semaphore, a task per number, no retries, no pacing, no validation, no report.
    headers = {"Authorization": AUTH_HEADER, "Accept": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        semaphore = asyncio.Semaphore(concurrency)

        async def unlink(number: str) -> int:
            async with semaphore:
                url = base_url + number_path(number)
                async with http.delete(url, headers=headers, json=body) as resp:
                    await resp.read()
                    return resp.status

        timer = Timer()
        with timer:
            statuses = await asyncio.gather(*(unlink(number) for number in numbers))
    results = Counter(str(status) for status in statuses)
    return Run(count, timer.wall, timer.cpu, len(statuses), dict(results))


def aiohttp_unlink(
    base_url: str,
    numbers: Iterator[str],
    count: int,
    *,
    concurrency: int = 50,
    body: Any = None,
) -> Run:
    """The baseline: a semaphore-bounded ``asyncio.gather`` of aiohttp DELETE requests."""
    _prepare()
    return asyncio.run(_aiohttp_unlink(base_url, numbers, count, concurrency, body))


# -- the official SDK -------------------------------------------------------------------------


def point_sdk_at(base_url: str) -> None:
    """Make the official ``plivo`` SDK send to ``base_url`` instead of api.plivo.com.

    The SDK reads ``plivo.rest.client.PLIVO_API_BASE_URI`` on every request (``Client.request``
    resets ``self.base_uri`` to it), so patching the module constant is enough.
    """
    import plivo.rest.client as sdk_client  # type: ignore[import-untyped]

    sdk_client.PLIVO_API_BASE_URI = base_url + "/v1/Account"


def sdk_unlink(
    base_url: str,
    numbers: Iterator[str],
    count: int,
    *,
    threads: int = 50,
    url: str,
    method: str = "POST",
) -> Run:
    """The official SDK (sync, requests): one ``RestClient`` per thread of a pool.

    One client per thread, because a ``requests.Session`` is not documented as thread-safe
    and its connection pool keeps only 10 connections per host.
    """
    import plivo

    point_sdk_at(base_url)
    local = threading.local()
    results: Counter[str] = Counter()
    lock = threading.Lock()

    def unlink(number: str) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = plivo.RestClient(AUTH_ID, AUTH_TOKEN)
        try:
            client.campaign.number_unlink(CAMPAIGN, number, url=url, method=method)
            result = "ok"
        except Exception as exc:
            result = type(exc).__name__
        with lock:
            results[result] += 1

    _prepare()
    timer = Timer()
    with timer, ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(unlink, numbers):
            pass
    return Run(count, timer.wall, timer.cpu, sum(results.values()), dict(results))
