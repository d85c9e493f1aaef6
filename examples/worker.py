"""An asyncio worker: link/unlink jobs from a queue, one shared session, no job lost on SIGTERM.

What it shows: ``--workers`` tasks taking jobs from an ``asyncio.Queue`` and sharing one
``NumLinkSession`` (whose concurrency and rate limits hold for all of them together), and a
clean shutdown: on SIGTERM or Ctrl-C the producer stops taking jobs from its source, the
workers finish the jobs they hold (past ``--grace`` seconds they are cancelled and their jobs
put back), and every job not done is written to ``--pending-file``, for ``--jobs`` to resume.

Run it (without PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, or with ``--fake``, it runs against the
embedded fake Plivo, fed by a producer of generated jobs)::

    python examples/worker.py --fake --count 300 --pending-file pending.json   # Ctrl-C midway
    PLIVO_AUTH_ID=... PLIVO_AUTH_TOKEN=... python examples/worker.py --jobs jobs.json \\
        --pending-file pending.json

A jobs file is a JSON list of ``{"action": "link" or "unlink", "campaign_id": ..., "number": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import plivo_numlink as pn
from plivo_numlink.testing import FakePlivo


@dataclass(frozen=True)
class Job:
    """One unit of work, as a queue or a jobs file carries it."""

    action: Literal["link", "unlink"]
    campaign_id: str
    number: str

    def __post_init__(self) -> None:
        if self.action not in ("link", "unlink"):
            raise ValueError(f"a job's action is link or unlink, not {self.action!r}")


@dataclass(frozen=True)
class JobResult:
    job: Job
    ok: bool
    detail: str  # the outcome kind ("accepted", "already"), or the error


@dataclass
class WorkerReport:
    """What ``run_worker`` did: every job it was given is in exactly one of the two lists."""

    done: list[JobResult] = field(default_factory=list)
    #: Jobs taken but not finished, then jobs still queued: every one must run again later.
    pending: list[Job] = field(default_factory=list)


async def process(session: pn.NumLinkSession, job: Job) -> JobResult:
    """Run one job. A bulk call of one number, because bulk calls count "already linked" (and
    "not linked" for unlink) as ok: a job put back at shutdown may have reached Plivo, and
    must be safe to run again. They never raise for the number; the session retried."""
    try:
        if job.action == "link":
            report = await session.link_many(job.campaign_id, [job.number])
        else:
            report = await session.unlink_many(job.campaign_id, [job.number])
    except ValueError as exc:  # a malformed campaign id
        return JobResult(job, ok=False, detail=str(exc))
    outcome = report.outcomes[0]
    return JobResult(job, ok=outcome.ok, detail=outcome.error or str(outcome.kind))


async def run_worker(
    session: pn.NumLinkSession,
    queue: asyncio.Queue[Job],
    *,
    workers: int,
    stop_event: asyncio.Event,
    grace: float = 10.0,
    on_result: Callable[[JobResult], object] | None = None,
) -> WorkerReport:
    """Process jobs with ``workers`` tasks until ``stop_event`` is set, then shut down cleanly.

    After the stop, idle workers end at once and busy ones finish their job; after ``grace``
    seconds those still busy are cancelled and their jobs put back. The jobs still queued are
    then taken out, so every job put in the queue ends in ``done`` or ``pending``, once.
    """
    report = WorkerReport()
    busy: set[object] = set()  # the worker tasks holding a job

    async def work() -> None:
        me = asyncio.current_task()
        while not stop_event.is_set():
            job = await queue.get()  # Queue.get is cancel-safe: an idle worker holds nothing
            busy.add(me)
            try:
                result = await process(session, job)
            except BaseException:  # cancelled after the grace period (or a bug): put it back
                report.pending.append(job)
                raise
            finally:
                busy.discard(me)
                queue.task_done()
            report.done.append(result)
            if on_result is not None:
                on_result(result)

    tasks = [asyncio.create_task(work()) for _ in range(workers)]
    try:
        await stop_event.wait()
    finally:
        for task in tasks:
            if task not in busy:
                task.cancel()
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while not queue.empty():
            report.pending.append(queue.get_nowait())
            queue.task_done()
    return report


async def produce(jobs: Sequence[Job], queue: asyncio.Queue[Job], stop: asyncio.Event) -> list[Job]:
    """Put ``jobs`` in the queue until they run out or ``stop`` is set; return those left."""
    for index, job in enumerate(jobs):
        if stop.is_set():
            return list(jobs[index:])
        put = asyncio.ensure_future(queue.put(job))  # waits while the queue is full
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([put, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not put.done():
            put.cancel()  # Queue.put is cancel-safe: the job was not enqueued
            return list(jobs[index:])
    return []


def make_jobs(count: int, campaign_id: str = "CUOGHIN") -> list[Job]:
    """Links of new numbers and, one job in five, the unlink of one linked ~50 jobs before."""
    jobs: list[Job] = []
    linked: list[str] = []
    for index in range(count):
        if index % 5 == 4 and len(linked) >= 40:
            jobs.append(Job("unlink", campaign_id, linked[-40]))
        else:
            linked.append(f"1212{5_550_000 + len(linked)}")
            jobs.append(Job("link", campaign_id, linked[-1]))
    return jobs


def write_json(path: Path, items: list[Job] | list[JobResult]) -> None:
    path.write_text(json.dumps([dataclasses.asdict(item) for item in items], indent=1))


WHY_FAKE = "for the real API: set PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, no --fake"


def use_fake(force: bool) -> bool:
    if force or os.environ.get("PLIVO_NUMLINK_USE_FAKE") == "1":
        return True
    return not (os.environ.get("PLIVO_AUTH_ID") and os.environ.get("PLIVO_AUTH_TOKEN"))


async def amain(args: argparse.Namespace, jobs: list[Job]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    done: list[JobResult] = []

    def on_result(result: JobResult) -> None:
        done.append(result)
        if len(done) % 25 == 0:
            print(f"processed {len(done)} jobs", flush=True)
        if len(done) == len(jobs):  # this demo's source is finite: stop when all are done
            stop.set()

    async with contextlib.AsyncExitStack() as stack:
        if use_fake(args.fake):
            campaigns = {job.campaign_id for job in jobs}
            fake = FakePlivo(campaigns=campaigns, latency=args.fake_latency)
            await stack.enter_async_context(fake)
            print(f"using the embedded fake Plivo at {fake.base_url} ({WHY_FAKE})", flush=True)
            session = pn.NumLinkSession(fake.auth_id, fake.auth_token, base_url=fake.base_url)
        else:
            session = pn.NumLinkSession()  # credentials from PLIVO_AUTH_ID / PLIVO_AUTH_TOKEN
        await stack.enter_async_context(session)
        # A small queue: the source is read no faster than the workers get through it.
        queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=2 * args.workers)
        worker = asyncio.create_task(
            run_worker(
                session,
                queue,
                workers=args.workers,
                stop_event=stop,
                grace=args.grace,
                on_result=on_result,
            )
        )
        print(f"worker started: {len(jobs)} jobs, {args.workers} workers", flush=True)
        unsent = await produce(jobs, queue, stop)
        report = await worker

    pending = report.pending + unsent
    failed = [result for result in report.done if not result.ok]
    print(f"{len(report.done)} jobs done ({len(failed)} failed), {len(pending)} pending")
    for result in failed[:5]:
        print(f"  failed: {result.job.action} {result.job.number}: {result.detail}")
    if args.results_file is not None:
        write_json(args.results_file, report.done)
    if args.pending_file is not None:
        write_json(args.pending_file, pending)
        print(f"pending jobs written to {args.pending_file}")
    elif pending:  # nowhere to put them: print them rather than lose them
        print(json.dumps([dataclasses.asdict(job) for job in pending]))
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Process link/unlink jobs from a queue.")
    parser.add_argument("--jobs", type=Path, help="a JSON file of jobs (e.g. a pending file)")
    parser.add_argument("--count", type=int, default=300, help="jobs to generate (no --jobs)")
    parser.add_argument("--campaign", default="CUOGHIN", help="campaign of generated jobs")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--grace", type=float, default=10.0, help="seconds to finish at stop")
    parser.add_argument("--pending-file", type=Path, help="write unfinished jobs here (JSON)")
    parser.add_argument("--results-file", type=Path, help="write finished jobs here (JSON)")
    parser.add_argument("--fake", action="store_true", help="use the embedded fake Plivo")
    parser.add_argument("--fake-latency", type=float, default=0.02, help="seconds per request")
    args = parser.parse_args()
    if args.jobs is not None:
        try:
            jobs = [Job(**item) for item in json.loads(args.jobs.read_text())]
        except (OSError, ValueError, TypeError) as exc:
            parser.error(f"cannot read jobs from {args.jobs}: {exc}")
    else:
        jobs = make_jobs(args.count, args.campaign)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return asyncio.run(amain(args, jobs)) if jobs else 0


if __name__ == "__main__":
    sys.exit(main())
