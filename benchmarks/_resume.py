"""The "resume" scenario: what a journal costs a job, and what it saves a re-run.

- Throughput at zero latency, with and without ``journal=``: unlinks (one request per number,
  so one recorded outcome per request: the journal's worst case) and batched links.
- A finished job run again: with its journal (nothing is sent) and without (every number is
  sent again and answered "already": for links, the library then reads the campaign once).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Any

from plivo_numlink import NumLinkSession

from ._clients import Run, _prepare
from ._common import AUTH_ID, AUTH_TOKEN, CAMPAIGN, FakeServer, Timer, median, numbers


async def _job(
    base_url: str, action: str, start: int, count: int, journal: str | None, **options: Any
) -> tuple[Run, int]:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN, base_url=base_url, rate_limit=None, **options)
    async with session:
        timer = Timer()
        with timer:
            if action == "link":
                report = await session.link_many(
                    CAMPAIGN, numbers(count, start), batch_size=50, journal=journal
                )
            else:
                report = await session.unlink_many(CAMPAIGN, numbers(count, start), journal=journal)
    return Run(count, timer.wall, timer.cpu, report.requests, report.counts), report.resumed


def job(
    base_url: str, action: str, start: int, count: int, journal: str | None, **options: Any
) -> tuple[Run, int]:
    _prepare()
    return asyncio.run(_job(base_url, action, start, count, journal, **options))


def _fresh_journal(directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return path


def resume(cfg: Any) -> list[Any]:
    from ._scenarios import Row, _log, _rate, _secs

    rows: list[Row] = []
    count = cfg.size(20_000, 2_000)
    concurrency = 50
    with tempfile.TemporaryDirectory() as directory:
        # -- throughput: each run acts on numbers of its own, so every answer is a 202.
        for action, size in (("unlink", count), ("link", 5 * count)):
            prelink = 2 * cfg.reps * size if action == "unlink" else 0
            with FakeServer(prelink=prelink) as server:
                plain: list[Run] = []
                journaled: list[Run] = []
                for rep in range(cfg.reps):
                    base = 2 * rep * size
                    order = [(plain, None, base), (journaled, "j", base + size)]
                    for runs, journal, start in order if rep % 2 == 0 else order[::-1]:
                        path = None if journal is None else _fresh_journal(directory, "tp")
                        run, _ = job(
                            server.base_url, action, start, size, path, concurrency=concurrency
                        )
                        runs.append(run)
            with_tp = median([r.throughput for r in journaled])
            without_tp = median([r.throughput for r in plain])
            _log(f"resume {action}: journal {[round(r.throughput) for r in journaled]}")
            _log(f"resume {action}: none    {[round(r.throughput) for r in plain]}")
            what = "unlinks" if action == "unlink" else "numbers linked, batches of 50"
            rows.append(
                Row(
                    f"Journal cost ({size:,} {what}, c={concurrency}, 0 ms)",
                    "throughput",
                    _rate(with_tp) + " (journal)",
                    _rate(without_tp) + " (no journal)",
                    f"{with_tp / without_tp:.2f}x",
                    ">= 0.90x",
                    with_tp / without_tp >= 0.9,
                )
            )
            # Client CPU (this process, the journal's thread included) is steadier than
            # throughput on a shared machine.
            with_cpu = median([r.cpu / r.count * 1000 for r in journaled])
            without_cpu = median([r.cpu / r.count * 1000 for r in plain])
            rows.append(
                Row(
                    f"Journal cost ({size:,} {what}, c={concurrency}, 0 ms)",
                    "client CPU s / 1k numbers",
                    f"{with_cpu:.3f} (journal)",
                    f"{without_cpu:.3f} (no journal)",
                    f"{with_cpu / without_cpu:.2f}x",
                    "",
                )
            )
        # -- a finished job run again, with and without its journal.
        for action in ("link", "unlink"):
            prelink = count if action == "unlink" else 0
            again_with: list[Run] = []
            again_without: list[Run] = []
            resumed: list[int] = []
            for _ in range(cfg.capped(3)):
                with FakeServer(prelink=prelink) as server:
                    path = _fresh_journal(directory, "rerun")
                    job(server.base_url, action, 0, count, path, concurrency=concurrency)
                    run, done = job(server.base_url, action, 0, count, path, concurrency=50)
                    again_with.append(run)
                    resumed.append(done)
                    run, _ = job(server.base_url, action, 0, count, None, concurrency=50)
                    again_without.append(run)
            if min(resumed) != count:
                _log(f"WARNING: re-run with journal resumed only {resumed} of {count}")
            name = f"Re-run of a finished job ({count:,} {action}s, c={concurrency}, 0 ms)"
            req_with = median([r.requests for r in again_with])
            req_without = median([r.requests for r in again_without])
            wall_with = median([r.wall for r in again_with])
            wall_without = median([r.wall for r in again_without])
            rows.append(
                Row(
                    name,
                    "requests",
                    f"{req_with:,.0f} (journal)",
                    f"{req_without:,.0f} (no journal)",
                    "",
                    "0 with the journal",
                    req_with == 0,
                )
            )
            rows.append(
                Row(
                    name,
                    "wall time",
                    _secs(wall_with) + " (journal)",
                    _secs(wall_without) + " (no journal)",
                    f"{wall_with / wall_without:.2f}x",
                    "",
                )
            )
    return rows
