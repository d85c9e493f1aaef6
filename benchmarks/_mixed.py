"""The "mixed" scenario: sessions of one account on one Redis budget, told different rates.

Two client processes share the account's budget through Redis
(``rate_limit_storage="redis://..."``): one told ``rate_limit=100``, the other
``rate_limit=1`` (a background job that should trickle). The fake server enforces 100/s per
one-second window. Each process unlinks for a fixed number of seconds (its input is longer
than it can finish) and counts the outcomes it settled. Measured: each process's rate, the
account's rate at the server, and the share of requests answered 429.

Each should keep its own rate (the fast one close to 100/s, less the 3% shared headroom and
the slow one's slots; the slow one at 1/s), and together they never exceed the account's.
The baseline is the fast process alone on the same budget, run in each repetition right
before or after the pair (alternating), so that the machine's load hits both alike.

The clients run as child processes of this module::

    python -m benchmarks._mixed BASE_URL START RATE SECONDS STORAGE

Each prints ``ready`` once its session is open, starts when a line arrives on its stdin,
and prints one JSON line: the outcomes it settled in ``SECONDS`` and their kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from typing import Any

from ._common import AUTH_ID, AUTH_TOKEN, CAMPAIGN, FakeServer, count_429, median, numbers
from ._shared import _Redis, release, start_clients

LIMIT = 100
#: (rate_limit told) of each process.
RATES = (100.0, 1.0)
#: Numbers reserved per process and repetition: more than the fast one can do in a run.
RESERVED = 4_000


async def _client(base_url: str, start: int, rate: float, seconds: float, storage: str) -> None:
    from plivo_numlink import NumLinkSession

    session = NumLinkSession(
        AUTH_ID,
        AUTH_TOKEN,
        base_url=base_url,
        concurrency=20,
        rate_limit=rate,
        rate_limit_storage=storage,
    )
    kinds: dict[str, int] = {}
    async with session:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

        async def unlink() -> None:
            run = session.iter_unlink(CAMPAIGN, numbers(RESERVED, start), keep_report=False)
            async for outcome in run:
                kind = str(outcome.kind.value)
                kinds[kind] = kinds.get(kind, 0) + 1

        began = time.time()
        task = asyncio.ensure_future(unlink())
        await asyncio.wait({task}, timeout=seconds)
        ended = time.time()
        counts = dict(kinds)  # settled within the run; the line goes out before any clean-up
        print(json.dumps({"start": began, "end": ended, "counts": counts}), flush=True)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _run(
    server: FakeServer, first: int, seconds: float, storage: str, rates: tuple[float, ...]
) -> dict[str, Any]:
    procs = start_clients(
        "benchmarks._mixed",
        [
            [server.base_url, str(first + i * RESERVED), str(rate), str(seconds), storage]
            for i, rate in enumerate(rates)
        ],
    )
    before = server.stats()
    release(procs)
    results: list[dict[str, Any]] = []
    for proc in procs:
        assert proc.stdout is not None
        results.append(json.loads(proc.stdout.readline()))
    after = server.stats()
    for proc in procs:
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            print("  WARNING: mixed: a client did not exit after its run", file=sys.stderr)
            proc.kill()
            proc.communicate()
    throttled, total = count_429(before, after)
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    rates = [sum(r["counts"].values()) / (r["end"] - r["start"]) for r in results]
    print(f"  mixed: {[r['counts'] for r in results]} rates {rates}", file=sys.stderr, flush=True)
    return {
        "fast": rates[0],
        "slow": rates[1] if len(rates) > 1 else 0.0,
        "account": (total - throttled) / span,
        "throttled": throttled / total if total else 0.0,
    }


def mixed(cfg: Any) -> list[Any]:
    """Two processes on one Redis budget told 100/s and 1/s, a server enforcing 100/s."""
    from ._scenarios import Row, _log, _pct

    seconds = 5.0 if cfg.quick else 15.0
    reps = cfg.capped(3)
    redis = _Redis()
    runs: list[dict[str, Any]] = []
    alone: list[dict[str, Any]] = []
    try:
        with FakeServer(
            prelink=reps * (len(RATES) + 1) * RESERVED, rate_limit=LIMIT, rate_window=1.0
        ) as server:
            first = 0
            for rep in range(reps):
                for mode in ("alone", "mixed") if rep % 2 == 0 else ("mixed", "alone"):
                    redis.flush()
                    rates = RATES[:1] if mode == "alone" else RATES
                    result = _run(server, first, seconds, redis.url, rates)
                    (alone if mode == "alone" else runs).append(result)
                    first += len(rates) * RESERVED
    finally:
        redis.close()
    _log(f"mixed: {runs}; fast process alone: {alone}")
    name = (
        f"Mixed rates: 2 processes on one Redis budget told {RATES[0]:g}/s and {RATES[1]:g}/s, "
        f"server enforcing {LIMIT}/s ({seconds:g} s runs)"
    )
    fast = median([r["fast"] for r in runs])
    solo = median([r["fast"] for r in alone])
    slow = median([r["slow"] for r in runs])
    account = median([r["account"] for r in runs])
    throttled = median([r["throttled"] for r in runs])
    return [
        Row(name, "rate of the process told 100/s", f"{fast:.1f}/s", f"{solo:.1f}/s (alone)",
            f"{fast / solo:.3f}", ">= 0.95", fast >= 0.95 * solo),
        Row(name, "rate of the process told 1/s", f"{slow:.2f}/s", "1/s", f"{slow:.2f}",
            "<= 1.1", slow <= 1.1),
        Row(name, "account rate at the server", f"{account:.1f}/s", f"{LIMIT}/s",
            f"{account / LIMIT:.3f}", "<= 1.0", account <= LIMIT),
        Row(name, "requests answered 429", _pct(throttled), "0%", "", "< 1%", throttled < 0.01),
    ]  # fmt: skip


if __name__ == "__main__":
    asyncio.run(
        _client(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    )
