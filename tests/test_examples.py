"""The examples in examples/ run end to end against the embedded fake Plivo.

Each runs as a program (a subprocess, as a user runs it, with no credentials in its
environment, so it starts its own fake; worker.py and web_service.py are stopped with
SIGTERM). web_service.py's ``make_app`` and worker.py's ``run_worker`` are also driven
in-process against the ``fake_plivo`` fixture, where the fake can be inspected.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import importlib.util
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import test_utils, web

from plivo_numlink import NumLinkSession, RetryPolicy
from plivo_numlink.testing import FakePlivo

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
#: Retries that never sleep, so failure paths are quick.
FAST_RETRY = RetryPolicy(attempts=2, wait_initial=0, wait_max=0)
#: Seconds a subprocess may take before the test gives up on it.
PROCESS_TIMEOUT = 30


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


web_service = load_example("web_service")
worker = load_example("worker")


def example_env(**extra: str) -> dict[str, str]:
    """The environment of a run with no Plivo credentials (so: the fake)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN", "PLIVO_NUMLINK_USE_FAKE")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def started(
    name: str, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A running example program (unbuffered output), killed at the end if still running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-u",
        str(EXAMPLES / f"{name}.py"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env or example_env(),
        cwd=ROOT,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def read_until(process: asyncio.subprocess.Process, done: Callable[[str], bool]) -> list[str]:
    """Lines of the program's output up to the first for which ``done`` is true."""
    assert process.stdout is not None
    seen: list[str] = []
    while not seen or not done(seen[-1]):
        line = await asyncio.wait_for(process.stdout.readline(), PROCESS_TIMEOUT)
        assert line, f"the program ended early: {seen}"
        seen.append(line.decode().strip())
    return seen


async def run_example(name: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run an example program to its end: its exit code and output."""
    async with started(name, *args, env=env) as process:
        output, _ = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, output.decode()


# =============================================================================================
# telemetry.py


async def test_telemetry_prints_the_spans_and_metrics_of_a_retried_bulk_job_on_the_fake() -> None:
    code, output = await run_example("telemetry", "--count", "25")
    assert code == 0, output
    assert "using the embedded fake Plivo" in output
    assert "link CUOGHIN: 25 numbers, 25 ok" in output
    spans = [line for line in output.splitlines() if line.startswith("span ")]
    assert any("plivo_numlink.link_many [INTERNAL]" in line for line in spans)
    assert any("error.type=503" in line for line in spans)
    assert any("http.request.resend_count=1" in line for line in spans)
    assert "metric http.client.request.duration{" in output
    assert "plivo_numlink.outcome=completed} value=25" in output
    assert "2125550001" not in output.replace(" ", "").replace("-", "").replace("(", "").replace(
        ")", ""
    )


async def test_telemetry_sends_by_otlp_when_an_endpoint_is_set() -> None:
    received: list[str] = []

    async def collect(request: web.Request) -> web.Response:
        received.append(request.path)
        await request.read()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/traces", collect)
    app.router.add_post("/v1/metrics", collect)
    server = test_utils.TestServer(app)
    await server.start_server()
    try:
        env = example_env(OTEL_EXPORTER_OTLP_ENDPOINT=str(server.make_url("")).rstrip("/"))
        code, output = await run_example("telemetry", "--count", "5", env=env)
    finally:
        await server.close()
    assert code == 0, output
    assert "span " not in output  # not to the console
    assert sorted(set(received)) == ["/v1/metrics", "/v1/traces"]


# =============================================================================================
# bulk_job.py


async def test_bulk_job_without_credentials_links_generated_numbers_on_the_fake(
    tmp_path: Path,
) -> None:
    report = tmp_path / "report.csv"
    code, output = await run_example(
        "bulk_job", "--count", "120", "--report", str(report), "--poll-interval", "0.05"
    )
    assert code == 0, output
    assert "using the embedded fake Plivo" in output
    assert "link CUOGHIN: 120 numbers, 120 ok, 0 not ok (120 completed)" in output
    rows = list(csv.DictReader(report.read_text().splitlines()))
    assert len(rows) == 120
    assert {(row["kind"], row["ok"]) for row in rows} == {("completed", "True")}


async def test_bulk_job_fake_flag_wins_over_credentials_and_reads_the_sample_csv(
    tmp_path: Path,
) -> None:
    report = tmp_path / "report.json"
    env = example_env(PLIVO_AUTH_ID="MAREALLOOKING0000000", PLIVO_AUTH_TOKEN="not-used")
    code, output = await run_example(
        "bulk_job",
        "--fake",
        "CUOGHIN",
        "examples/numbers.csv",
        "--column",
        "phone_number",
        "--report",
        str(report),
        "--poll-interval",
        "0.05",
        env=env,
    )
    assert code == 0, output
    assert "using the embedded fake Plivo" in output
    data = json.loads(report.read_text())
    assert data["ok"] is True
    assert len(data["outcomes"]) == 50
    assert data["outcomes"][0]["number"] == "12125550100"  # "+1 212-555-0100", normalized


async def test_bulk_job_with_credentials_follows_plivo_numlink_base_url(
    tmp_path: Path, fake_plivo: FakePlivo
) -> None:
    # What fake-server tells users to do: export its URL and credentials, then run a program.
    report = tmp_path / "report.json"
    env = example_env(
        PLIVO_AUTH_ID=fake_plivo.auth_id,
        PLIVO_AUTH_TOKEN=fake_plivo.auth_token,
        PLIVO_NUMLINK_BASE_URL=fake_plivo.base_url,
    )
    code, output = await run_example(
        "bulk_job",
        "CUOGHIN",
        "examples/numbers.csv",
        "--column",
        "phone_number",
        "--report",
        str(report),
        "--poll-interval",
        "0.05",
        env=env,
    )
    assert code == 0, output
    assert "using the embedded fake Plivo" not in output
    assert len(fake_plivo.numbers("CUOGHIN")) == 50
    assert json.loads(report.read_text())["ok"] is True


async def test_bulk_job_exits_1_and_reports_a_bad_row(tmp_path: Path) -> None:
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("phone_number,name\n(212) 555-0100,Ada\nnot a number,Bob\n")
    report = tmp_path / "report.csv"
    code, output = await run_example(
        "bulk_job", "CUOGHIN", str(numbers), "--report", str(report), "--poll-interval", "0.05"
    )
    assert code == 1, output
    assert "2 numbers, 1 ok, 1 not ok" in output
    rows = {row["number"]: row for row in csv.DictReader(report.read_text().splitlines())}
    assert rows["12125550100"]["kind"] == "completed"
    assert rows["not a number"]["kind"] == "invalid"


async def test_bulk_job_refuses_a_missing_column_with_exit_code_2(tmp_path: Path) -> None:
    code, output = await run_example("bulk_job", "CUOGHIN", "examples/numbers.csv", "--column", "x")
    assert code == 2
    assert "no column 'x'" in output


# =============================================================================================
# web_service.py (in-process, against the fake_plivo fixture)


def settings_for(fake: FakePlivo, **changes: Any) -> Any:
    options: dict[str, Any] = {
        "auth_id": fake.auth_id,
        "auth_token": fake.auth_token,
        "base_url": fake.base_url,
        "retry": FAST_RETRY,
    }
    options.update(changes)
    return web_service.Settings(**options)


@pytest.fixture
async def client(fake_plivo: FakePlivo) -> AsyncIterator[test_utils.TestClient[Any, Any]]:
    app = web_service.make_app(settings_for(fake_plivo))
    async with test_utils.TestClient(test_utils.TestServer(app)) as client:
        yield client


async def test_web_service_links_a_number_with_its_own_callback_url(
    client: test_utils.TestClient[Any, Any], fake_plivo: FakePlivo
) -> None:
    response = await client.post("/campaigns/CUOGHIN/numbers", json={"number": "(212) 555-7777"})
    assert response.status == 202
    assert (await response.json())["number"] == "12125557777"
    assert fake_plivo.numbers("CUOGHIN") == {"12125557777": "PROCESSING"}
    sent = fake_plivo.requests[-1].body
    assert sent["url"] == str(client.make_url("/plivo/numlink"))


async def test_web_service_stores_the_fakes_signed_callback_and_shows_the_status(
    client: test_utils.TestClient[Any, Any], fake_plivo: FakePlivo
) -> None:
    await client.post("/campaigns/CUOGHIN/numbers", json={"number": "12125557777"})
    first = await (await client.get("/campaigns/CUOGHIN/numbers/12125557777")).json()
    assert first == {"number": "12125557777", "status": "PROCESSING", "events": []}
    # The fake completes a link on the read after one that showed it PROCESSING, and calls back.
    await client.get("/campaigns/CUOGHIN/numbers/12125557777")
    await fake_plivo.flush_callbacks()
    assert [callback.status for callback in fake_plivo.callbacks_sent] == [200]
    status = await (await client.get("/campaigns/CUOGHIN/numbers/12125557777")).json()
    event = {
        "kind": "linking",
        "campaign_id": "CUOGHIN",
        "number": "12125557777",
        "status": "success",
        "reason": None,
    }
    assert status == {"number": "12125557777", "status": "COMPLETED", "events": [event]}
    assert await (await client.get("/events")).json() == [event]


async def test_web_service_answers_400_for_an_invalid_number_without_calling_plivo(
    client: test_utils.TestClient[Any, Any], fake_plivo: FakePlivo
) -> None:
    response = await client.post("/campaigns/CUOGHIN/numbers", json={"number": "555-0100"})
    assert response.status == 400
    assert "not a valid US number" in (await response.json())["error"]
    assert fake_plivo.requests == []


async def test_web_service_answers_400_for_a_body_that_is_not_a_number_object(
    client: test_utils.TestClient[Any, Any],
) -> None:
    response = await client.post("/campaigns/CUOGHIN/numbers", data=b"12125557777")
    assert response.status == 400
    assert "expected a JSON object" in (await response.json())["error"]


async def test_web_service_answers_404_for_a_number_not_in_the_campaign(
    client: test_utils.TestClient[Any, Any],
) -> None:
    response = await client.get("/campaigns/CUOGHIN/numbers/12125557777")
    assert response.status == 404


async def test_web_service_answers_503_when_plivo_keeps_failing(
    client: test_utils.TestClient[Any, Any], fake_plivo: FakePlivo
) -> None:
    fake_plivo.enqueue_fault(503, count=FAST_RETRY.attempts)
    response = await client.post("/campaigns/CUOGHIN/numbers", json={"number": "12125557777"})
    assert response.status == 503


async def test_web_service_answers_503_when_plivo_is_unreachable(
    client: test_utils.TestClient[Any, Any], fake_plivo: FakePlivo
) -> None:
    fake_plivo.down = True
    response = await client.post("/campaigns/CUOGHIN/numbers", json={"number": "12125557777"})
    assert response.status == 503


async def test_web_service_answers_502_when_plivo_refuses_its_credentials(
    fake_plivo: FakePlivo,
) -> None:
    app = web_service.make_app(settings_for(fake_plivo, auth_token="wrong-token"))
    async with test_utils.TestClient(test_utils.TestServer(app)) as client:
        response = await client.post("/campaigns/CUOGHIN/numbers", json={"number": "12125557777"})
    assert response.status == 502


async def test_web_service_refuses_an_unsigned_callback(
    client: test_utils.TestClient[Any, Any],
) -> None:
    params = {"event": "number_linking", "number": "12125557777", "status": "success"}
    response = await client.post("/plivo/numlink", data=params)
    assert response.status == 403
    assert await (await client.get("/events")).json() == []


async def test_web_service_shares_one_session_and_closes_it_on_cleanup(
    fake_plivo: FakePlivo,
) -> None:
    app = web_service.make_app(settings_for(fake_plivo))
    async with test_utils.TestClient(test_utils.TestServer(app)) as client:
        for number in ("12125550100", "12125550101"):
            await client.post("/campaigns/CUOGHIN/numbers", json={"number": number})
        session = app[web_service.SESSION]
        assert not session.closed
    assert session.closed


async def test_web_service_program_serves_until_sigterm_and_receives_the_fakes_callback() -> None:
    async with started("web_service", "--port", "0") as process:
        seen = await read_until(process, lambda line: line.startswith("listening on "))
        assert any(line.startswith("using the embedded fake Plivo") for line in seen)
        async with aiohttp.ClientSession(seen[-1].split()[2]) as http:
            linked = await http.post("/campaigns/CUOGHIN/numbers", json={"number": "2125557777"})
            assert linked.status == 202
            # The program's fake completes the link a second later and calls back.
            callback = await read_until(process, lambda line: line.startswith("callback: "))
            assert callback[-1] == "callback: linking 12125557777 success"
            status = await (await http.get("/campaigns/CUOGHIN/numbers/12125557777")).json()
            assert status["status"] == "COMPLETED"
            assert [event["status"] for event in status["events"]] == ["success"]
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT)
        assert process.returncode == 0


# =============================================================================================
# worker.py: run_worker in-process


async def start_worker(
    fake: FakePlivo,
    jobs: list[Any],
    *,
    stop: asyncio.Event | None = None,
    stop_after: int | None = None,
    grace: float = 5.0,
) -> Any:
    """Run ``run_worker`` over ``jobs`` (all queued up front) and return its report.

    It is stopped through ``stop``, which is set once ``stop_after`` results (default: all)
    came in.
    """
    stop = stop or asyncio.Event()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    results: list[Any] = []

    def on_result(result: Any) -> None:
        results.append(result)
        if len(results) == (len(jobs) if stop_after is None else stop_after):
            stop.set()

    async with NumLinkSession(
        fake.auth_id, fake.auth_token, base_url=fake.base_url, retry=FAST_RETRY, rate_limit=None
    ) as session:
        return await worker.run_worker(
            session, queue, workers=4, stop_event=stop, grace=grace, on_result=on_result
        )


async def test_run_worker_processes_every_job_until_stopped(fake_plivo: FakePlivo) -> None:
    jobs = worker.make_jobs(60)
    report = await start_worker(fake_plivo, jobs)
    assert sorted(result.job.number for result in report.done) == sorted(j.number for j in jobs)
    assert all(result.ok for result in report.done)
    assert report.pending == []
    # Each job was sent once.
    requests = fake_plivo.requests
    linked = [n for r in requests if r.method == "POST" for n in r.body["numbers"]]
    unlinked = [r.path.rstrip("/").rsplit("/", 1)[-1] for r in requests if r.method == "DELETE"]
    assert sorted(linked) == sorted(job.number for job in jobs if job.action == "link")
    assert sorted(unlinked) == sorted(job.number for job in jobs if job.action == "unlink")


async def test_run_worker_stopped_midway_accounts_for_every_job_once(
    fake_plivo: FakePlivo,
) -> None:
    jobs = worker.make_jobs(100)
    report = await start_worker(fake_plivo, jobs, stop_after=20)
    done = [result.job for result in report.done]
    assert len(done) >= 20
    assert report.pending  # the stop came long before the end
    assert sorted(map(repr, done + report.pending)) == sorted(map(repr, jobs))


async def test_run_worker_puts_back_jobs_that_outlast_the_grace_period(
    fake_plivo: FakePlivo,
) -> None:
    jobs = worker.make_jobs(6)
    fake_plivo.pause()  # every request hangs: the four workers each hold a job
    stop = asyncio.Event()
    task = asyncio.create_task(start_worker(fake_plivo, jobs, stop=stop, grace=0.01))
    while fake_plivo.in_flight < 4:
        await asyncio.sleep(0.001)
    stop.set()  # as the SIGTERM handler does
    report = await task
    fake_plivo.resume()
    assert report.done == []
    assert sorted(map(repr, report.pending)) == sorted(map(repr, jobs))


# =============================================================================================
# worker.py as a program, stopped with SIGTERM


async def test_worker_program_stops_cleanly_on_sigterm_and_persists_the_unfinished_jobs(
    tmp_path: Path,
) -> None:
    pending_file = tmp_path / "pending.json"
    results_file = tmp_path / "results.json"
    options = ("--count", "300", "--workers", "4", "--fake-latency", "0.01")
    files = ("--pending-file", str(pending_file), "--results-file", str(results_file))
    async with started("worker", *options, *files) as process:
        seen = await read_until(process, lambda line: line == "processed 50 jobs")
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT)
        assert process.returncode == 0, seen + rest.decode().splitlines()

    pending = [worker.Job(**item) for item in json.loads(pending_file.read_text())]
    done = [worker.Job(**item["job"]) for item in json.loads(results_file.read_text())]
    assert len(done) >= 50
    assert pending  # 300 jobs at 50 requests/s: SIGTERM came long before the end
    assert sorted(map(repr, done + pending)) == sorted(map(repr, worker.make_jobs(300)))
    assert f"{len(done)} jobs done (0 failed), {len(pending)} pending" in rest.decode()
