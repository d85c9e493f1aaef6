"""An arq worker: link and unlink jobs from a Redis queue, one session per worker process.

What it shows: how workers of the asyncio job queue arq (https://arq-docs.helpmanual.io)
share one Plivo account. Each worker process opens ONE ``NumLinkSession`` in
``on_startup`` and closes it in ``on_shutdown``; its jobs reach it through ``ctx``. The
session's ``rate_limit_storage`` names a Redis (here the queue's own), so the account's
``rate_limit`` is one budget for every worker process on every machine, not one each: run
ten workers and together they still start at most ``rate_limit`` requests per second.
Each job returns a summary of its report (counts, the numbers that failed and why).

Install: ``pip install 'plivo-numlink[redis]' arq``. Settings come from the environment:

- ``PLIVO_AUTH_ID``, ``PLIVO_AUTH_TOKEN``: the account (``PLIVO_NUMLINK_BASE_URL`` points
  the session at a fake server, see ``plivo-numlink fake-server``);
- ``ARQ_REDIS_URL``: the queue's Redis (default ``redis://localhost:6379/0``);
- ``PLIVO_NUMLINK_RATE_LIMIT_STORAGE``: where the rate budget is shared (default: the
  queue's Redis); ``NUMLINK_RATE_LIMIT``: the account's budget in requests per second
  (default 50); ``ARQ_MAX_JOBS``: jobs one worker process runs at once (default 4).

Run workers (as many as you like, anywhere), then enqueue jobs::

    python examples/arq_worker.py worker            # or: arq examples.arq_worker.WorkerSettings
    python examples/arq_worker.py link CUOGHIN 12125557777 12125557778
    python examples/arq_worker.py unlink CUOGHIN 12125557777

Shared pacing fails closed: if the Redis holding the budget is lost, a job stops sending and
its summary lists the numbers not attempted, with the reason (``stopped_reason``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any, ClassVar

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import run_worker

import plivo_numlink as pn

REDIS_URL = os.environ.get("ARQ_REDIS_URL", "redis://localhost:6379/0")
#: Failed numbers listed in a job's summary (the counts cover them all).
MAX_LISTED = 20


def summary(report: pn.BulkReport) -> dict[str, Any]:
    """What a job returns: small, picklable, enough to act on."""
    return {
        "action": report.action,
        "campaign_id": report.campaign_id,
        "ok": report.ok,
        "counts": dict(report.counts),
        "requests": report.requests,
        "stopped_reason": report.stopped_reason,
        "failed": [
            {"number": o.number, "kind": o.kind.value, "error": o.error}
            for o in report.failed[:MAX_LISTED]
        ],
        "worker_pid": os.getpid(),
    }


# -- the jobs --------------------------------------------------------------------------------


async def link_numbers(
    ctx: dict[str, Any], campaign_id: str, numbers: list[str], batch_size: int = 50
) -> dict[str, Any]:
    """Link ``numbers`` to ``campaign_id`` through the worker's session."""
    session: pn.NumLinkSession = ctx["numlink"]
    report = await session.link_many(campaign_id, numbers, batch_size=batch_size)
    return summary(report)


async def unlink_numbers(
    ctx: dict[str, Any], campaign_id: str, numbers: list[str]
) -> dict[str, Any]:
    """Unlink ``numbers`` from ``campaign_id`` through the worker's session."""
    session: pn.NumLinkSession = ctx["numlink"]
    report = await session.unlink_many(campaign_id, numbers)
    return summary(report)


# -- the worker process ------------------------------------------------------------------------


async def startup(ctx: dict[str, Any]) -> None:
    """One session per worker process, for all its jobs (its limits hold for all of them)."""
    ctx["numlink"] = pn.NumLinkSession(
        rate_limit=float(os.environ.get("NUMLINK_RATE_LIMIT", "50")),
        # The budget is the account's: shared through Redis by every worker process.
        rate_limit_storage=os.environ.get("PLIVO_NUMLINK_RATE_LIMIT_STORAGE") or REDIS_URL,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    session: pn.NumLinkSession | None = ctx.get("numlink")
    if session is not None:
        await session.close()


class WorkerSettings:
    """What ``arq examples.arq_worker.WorkerSettings`` runs."""

    functions: ClassVar[list[Any]] = [link_numbers, unlink_numbers]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(REDIS_URL)
    max_jobs = int(os.environ.get("ARQ_MAX_JOBS", "4"))
    # A job that stopped (a lost Redis, bad credentials) says so in its summary: retrying
    # it blindly would only repeat the stop.
    max_tries = 1


# -- enqueueing ----------------------------------------------------------------------------------


async def enqueue(action: str, campaign_id: str, numbers: list[str]) -> None:
    redis = await create_pool(RedisSettings.from_dsn(REDIS_URL))
    try:
        function = "link_numbers" if action == "link" else "unlink_numbers"
        job = await redis.enqueue_job(function, campaign_id, numbers)
        assert job is not None
        print(f"enqueued {job.job_id}; waiting for its result...")
        print(await job.result(timeout=600))
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run a worker process")
    worker.add_argument("--burst", action="store_true", help="stop once the queue is empty")
    for action in ("link", "unlink"):
        command = commands.add_parser(action, help=f"enqueue a {action} job and wait for it")
        command.add_argument("campaign_id")
        command.add_argument("numbers", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "worker":
        # arq's own lines ("Starting worker for 2 functions", each job's start and end).
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        run_worker(WorkerSettings, burst=args.burst)  # type: ignore[arg-type]
        return 0
    asyncio.run(enqueue(args.command, args.campaign_id, args.numbers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
