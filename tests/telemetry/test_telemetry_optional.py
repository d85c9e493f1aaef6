"""OpenTelemetry is optional and free when off: without opentelemetry-api nothing is
imported or recorded; without an SDK (the API's no-op providers) nothing is recorded;
``None`` means the global providers, as they are when the session is made or entered."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from plivo_numlink import NumLinkSession
from plivo_numlink.testing import FakePlivo

ROOT = Path(__file__).resolve().parent.parent.parent

#: Makes ``import opentelemetry`` fail, as when the otel extra is not installed.
BLOCK_OPENTELEMETRY = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"blocked: {name}")
        return None
sys.meta_path.insert(0, _Block())
"""


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_without_opentelemetry_a_session_works_and_imports_nothing_of_it() -> None:
    code = BLOCK_OPENTELEMETRY + textwrap.dedent("""
        import asyncio
        import plivo_numlink as pn
        from plivo_numlink._telemetry import record_callback
        from plivo_numlink.testing import FakePlivo

        async def main():
            async with FakePlivo() as fake:
                async with pn.NumLinkSession(
                    fake.auth_id, fake.auth_token, base_url=fake.base_url
                ) as session:
                    assert session._requester.telemetry is None
                    await session.link("CUOGHIN", "12125557777")
                    report = await session.unlink_many("CUOGHIN", ["12125557777"])
                    assert report.ok, report.summary()
                    assert session.stats().requests == 2
            record_callback(None, "link", 200)

        asyncio.run(main())
        assert not any(name.startswith("opentelemetry") for name in sys.modules)
        print("ok")
    """)
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_an_application_that_never_imported_opentelemetry_does_not_get_it_imported() -> None:
    code = """
        import asyncio, sys
        import plivo_numlink as pn
        from plivo_numlink._telemetry import record_callback
        from plivo_numlink.testing import FakePlivo

        async def main():
            async with FakePlivo() as fake:
                async with pn.NumLinkSession(
                    fake.auth_id, fake.auth_token, base_url=fake.base_url
                ) as session:
                    await session.link("CUOGHIN", "12125557777")
            record_callback(None, "link", 200)

        asyncio.run(main())
        assert not any(name.startswith("opentelemetry") for name in sys.modules)
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr


def test_without_opentelemetry_the_callback_receivers_answer_and_import_nothing_of_it() -> None:
    code = BLOCK_OPENTELEMETRY + textwrap.dedent("""
        import asyncio
        from aiohttp import web
        from aiohttp.test_utils import TestClient, TestServer
        from plivo_numlink import callbacks
        from plivo_numlink.testing import sign_callback

        URL = "https://example.com/cb"
        PARAMS = {"event": "number_linking", "campaign_id": "CUOGHIN",
                  "number": "12125557777", "status": "success"}

        async def main():
            events = []
            app = web.Application()
            app.router.add_post("/cb", callbacks.handler(
                events.append, auth_token="TOKEN", public_url=URL))
            signed = sign_callback("POST", URL, PARAMS, "TOKEN")
            async with TestClient(TestServer(app)) as client:
                statuses = []
                for headers in (signed, {}):
                    async with client.post("/cb", data=PARAMS, headers=headers) as resp:
                        statuses.append(resp.status)
            assert statuses == [200, 403], statuses
            assert len(events) == 1

        asyncio.run(main())
        assert not any(name.startswith("opentelemetry") for name in sys.modules)
        print("ok")
    """)
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_importing_the_library_does_not_import_opentelemetry() -> None:
    proc = run_python(
        "import sys, plivo_numlink, plivo_numlink.callbacks, plivo_numlink.testing\n"
        "assert not any(n.startswith('opentelemetry') for n in sys.modules)"
    )
    assert proc.returncode == 0, proc.stderr


async def test_without_an_sdk_the_no_op_global_providers_make_telemetry_off(
    fake_plivo: FakePlivo,
) -> None:
    async with NumLinkSession(
        fake_plivo.auth_id, fake_plivo.auth_token, base_url=fake_plivo.base_url
    ) as session:
        assert session._requester.telemetry is None
        await session.link("CUOGHIN", "12125557777")


def test_none_means_the_global_providers_set_before_the_session_is_entered() -> None:
    code = """
        import asyncio
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import plivo_numlink as pn
        from plivo_numlink.testing import FakePlivo

        async def main():
            async with FakePlivo() as fake:
                session = pn.NumLinkSession(fake.auth_id, fake.auth_token, base_url=fake.base_url)
                exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
                tracer_provider = TracerProvider()
                tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
                trace.set_tracer_provider(tracer_provider)
                metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
                async with session:
                    await session.link("CUOGHIN", "12125557777")
            names = sorted(span.name for span in exporter.get_finished_spans())
            assert names == [
                "POST /v1/Account/{auth_id}/10dlc/Campaign/{campaign_id}/Number/",
                "plivo_numlink.link",
            ], names
            assert reader.get_metrics_data() is not None
            print("ok")

        asyncio.run(main())
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


async def test_a_meter_provider_alone_records_metrics_without_spans(
    fake_plivo: FakePlivo,
) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    async with NumLinkSession(
        fake_plivo.auth_id,
        fake_plivo.auth_token,
        base_url=fake_plivo.base_url,
        meter_provider=MeterProvider(metric_readers=[reader]),
    ) as session:
        telemetry = session._requester.telemetry
        assert telemetry is not None
        assert telemetry.tracer is None
        report = await session.link_many("CUOGHIN", ["12125557777", "12125557778"])
        async for _ in session.iter_unlink("CUOGHIN", ["12125557777"]):
            pass
    data = reader.get_metrics_data()
    assert data is not None
    names = {m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}
    assert {"http.client.request.duration", "plivo_numlink.bulk.outcomes"} <= names
    assert report.ok
