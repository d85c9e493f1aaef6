"""The "shared" scenario: 3 client processes, one account, a server enforcing its limit R.

Each process is told the account's limit R (``rate_limit=R``) and unlinks its own numbers.
Run once with independent sessions (each paces only itself: together they offer 3R) and
once with sessions sharing the account's budget through Redis (``rate_limit_storage``), in
the same run. Measured: the share of R achieved (requests accepted over the span from the
first process's start to the last one's end) and the share of requests answered 429.

The clients run as child processes of this module::

    python -m benchmarks._shared BASE_URL START COUNT RATE [STORAGE]

Each prints ``ready`` once its session is open, starts when a line arrives on its stdin
(so the three start together), and prints one JSON line: its start and end (``time.time``)
and its outcome counts. A throwaway ``redis-server`` (no persistence) is started for the
shared runs; the scenario fails if it is not installed (``apt-get install redis-server``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from ._common import AUTH_ID, AUTH_TOKEN, CAMPAIGN, ROOT, FakeServer, count_429, median, numbers

PROCESSES = 3
LIMIT = 150


# -- the client process ---------------------------------------------------------------------


async def _client(base_url: str, start: int, count: int, rate: float, storage: str) -> None:
    from plivo_numlink import NumLinkSession

    session = NumLinkSession(
        AUTH_ID,
        AUTH_TOKEN,
        base_url=base_url,
        concurrency=50,
        rate_limit=rate,
        rate_limit_storage=storage or "memory://",
    )
    async with session:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        began = time.time()
        report = await session.unlink_many(CAMPAIGN, numbers(count, start))
        ended = time.time()
        limiter: Any = session._requester.limiter
        seen = {
            "throttles": limiter.throttles,
            "rate": round(limiter.rate, 1),
            "epoch": getattr(limiter, "_epoch", None),
            "storage_calls": getattr(limiter, "storage_calls", None),
        }
    print(
        json.dumps({"start": began, "end": ended, "counts": report.counts, "limiter": seen}),
        flush=True,
    )


# -- a throwaway Redis ----------------------------------------------------------------------


class _Redis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "the shared scenario needs redis-server: apt-get install redis-server"
            )
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._dir = tempfile.TemporaryDirectory()
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self._dir.name, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                self._send(b"PING\r\n")
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _send(self, command: bytes) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(command)
            sock.recv(64)

    def flush(self) -> None:
        self._send(b"FLUSHALL\r\n")

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()
        self._dir.cleanup()


# -- one run --------------------------------------------------------------------------------


def _run(server: FakeServer, first: int, count: int, storage: str) -> tuple[float, float]:
    """Three processes at once; (share of R achieved, share of requests answered 429)."""
    procs = start_clients(
        "benchmarks._shared",
        [
            [server.base_url, str(first + i * count), str(count), str(LIMIT), storage]
            for i in range(PROCESSES)
        ],
    )
    before = server.stats()
    release(procs)
    results: list[dict[str, Any]] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        results.append(json.loads(out.strip().splitlines()[-1]))
    after = server.stats()
    print(
        f"  shared {bool(storage)}: {[r['limiter'] for r in results]} "
        f"ends {[round(r['end'] - r['start'], 1) for r in results]}",
        file=sys.stderr,
        flush=True,
    )
    throttled, total = count_429(before, after)
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    bad = [r["counts"] for r in results if set(r["counts"]) != {"accepted"}]
    if bad:
        print(f"  WARNING: shared: unexpected results {bad}", file=sys.stderr, flush=True)
    return (total - throttled) / span / LIMIT, (throttled / total if total else 0.0)


def shared(cfg: Any) -> list[Any]:
    """Independent sessions vs sessions sharing Redis, 3 processes each told R = 150/s."""
    from ._scenarios import Row, _log, _pct

    count = cfg.size(1_500, 300)  # per process: 3 x 1,500 at 150/s is a 30 s run
    reps = cfg.capped(3)
    redis = _Redis()
    measured: dict[str, list[tuple[float, float]]] = {"independent": [], "shared": []}
    try:
        with FakeServer(
            prelink=2 * reps * PROCESSES * count, rate_limit=LIMIT, rate_window=1.0
        ) as server:
            first = 0
            for rep in range(reps):
                order = ["independent", "shared"] if rep % 2 == 0 else ["shared", "independent"]
                for mode in order:
                    redis.flush()
                    storage = redis.url if mode == "shared" else ""
                    measured[mode].append(_run(server, first, count, storage))
                    first += PROCESSES * count
    finally:
        redis.close()
    rows = []
    name = (
        f"Shared: {PROCESSES} processes each told R={LIMIT}/s, server enforcing R "
        f"({count:,} unlinks each)"
    )
    for mode, label in (
        ("independent", "independent sessions"),
        ("shared", "sessions sharing Redis"),
    ):
        runs = measured[mode]
        _log(f"shared {mode}: {[(round(a, 3), round(b * 100, 2)) for a, b in runs]}")
        share = median([a for a, _ in runs])
        throttled = median([b for _, b in runs])
        goal = mode == "shared"
        rows.append(
            Row(
                name,
                f"{label}: share of R achieved",
                f"{share:.3f}",
                "1.000 (R)",
                f"{share:.3f}",
                ">= 0.95" if goal else "",
                share >= 0.95 if goal else None,
            )
        )
        rows.append(
            Row(
                name,
                f"{label}: requests answered 429",
                _pct(throttled),
                "0%",
                "",
                "< 1%" if goal else "",
                throttled < 0.01 if goal else None,
            )
        )
    return rows


if __name__ == "__main__":
    base_url, start, count, rate = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    asyncio.run(_client(base_url, start, count, rate, sys.argv[5] if len(sys.argv) > 5 else ""))


def start_clients(module: str, arg_lists: list[list[str]]) -> list[subprocess.Popen[str]]:
    """One client process per argument list (``python -m module *args``), each started and
    ready (it printed "ready"), none yet sending: :func:`release` lets them all go at once."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for args in arg_lists
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"a client process failed to start (code {proc.wait()})")
    return procs


def release(procs: list[subprocess.Popen[str]]) -> None:
    """Tell every client of :func:`start_clients` to start sending."""
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
