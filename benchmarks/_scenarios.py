"""The benchmark scenarios. Each returns rows for the results table.

A row compares this library with its baseline measured in the same run (or with a bound:
Little's law, the server's rate limit). Every figure is the median over ``reps``
repetitions; the library and the baseline alternate which goes first, so drift on a shared
machine hits both alike.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from . import _clients, _completion, _mixed, _resume, _shared
from ._clients import Run
from ._common import CALLBACK_URL, ROOT, FakeServer, count_429, median, numbers


@attrs.frozen
class Config:
    quick: bool
    reps: int

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def capped(self, most: int) -> int:
        """Repetitions for a scenario whose runs last fixed seconds (rate-bound ones)."""
        return min(self.reps, most)


@attrs.frozen
class Row:
    scenario: str
    measure: str
    library: str
    baseline: str
    ratio: str
    target: str
    #: True / False when there is a target, None when the row is informative.
    met: bool | None = None


def _log(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _alternate(
    reps: int, first: Callable[[], Run], second: Callable[[], Run]
) -> tuple[list[Run], list[Run]]:
    a: list[Run] = []
    b: list[Run] = []
    for rep in range(reps):
        if rep % 2 == 0:
            a.append(first())
            b.append(second())
        else:
            b.append(second())
            a.append(first())
    return a, b


def _check(run: Run, ok: set[str], what: str) -> None:
    bad = {k: v for k, v in run.results.items() if k not in ok}
    if bad:
        _log(f"WARNING: {what}: unexpected results {bad}")


def _rate(x: float) -> str:
    return f"{x:,.0f}/s"


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def _secs(x: float) -> str:
    return f"{x:.2f} s"


# -- overhead -----------------------------------------------------------------------------


def overhead(cfg: Config) -> list[Row]:
    """20,000 unlinks at concurrency 50, zero latency: the library vs a bare aiohttp loop."""
    count = cfg.size(20_000, 3_000)
    with FakeServer(prelink=count) as server:
        lib, raw = _alternate(
            cfg.reps,
            lambda: _clients.library_unlink(
                server.base_url, numbers(count), count, concurrency=50, rate_limit=None
            ),
            lambda: _clients.aiohttp_unlink(server.base_url, numbers(count), count),
        )
    for run in lib:
        _check(run, {"accepted"}, "library")
    for run in raw:
        _check(run, {"202"}, "aiohttp loop")
    lib_tp = median([r.throughput for r in lib])
    raw_tp = median([r.throughput for r in raw])
    lib_cpu = median([r.cpu_per_1k for r in lib])
    raw_cpu = median([r.cpu_per_1k for r in raw])
    ratios = [a.throughput / b.throughput for a, b in zip(lib, raw, strict=True)]
    _log(f"overhead: library {[round(r.throughput) for r in lib]}")
    _log(f"overhead: aiohttp {[round(r.throughput) for r in raw]}")
    name = f"Overhead ({count:,} unlinks, c=50, 0 ms)"
    return [
        Row(
            name,
            "throughput",
            _rate(lib_tp),
            _rate(raw_tp) + " (aiohttp loop)",
            f"{lib_tp / raw_tp:.2f}x (per-rep median {median(ratios):.2f}x)",
            ">= 0.90x",
            lib_tp / raw_tp >= 0.9,
        ),
        Row(
            name,
            "client CPU s / 1k requests",
            f"{lib_cpu:.3f}",
            f"{raw_cpu:.3f} (aiohttp loop)",
            f"{lib_cpu / raw_cpu:.2f}x",
            "",
        ),
    ]


def telemetry(cfg: Config) -> list[Row]:
    """The overhead scenario with OpenTelemetry off and with the SDK recording everything.

    Three clients in turn (the order rotates each repetition): the bare aiohttp loop, the
    library without an SDK (the API's no-op providers: telemetry off) and the library with
    SDK providers recording every span and metric (``_clients.sdk_providers``).
    """
    count = cfg.size(20_000, 3_000)
    clients: dict[str, Callable[[str], Run]] = {
        "loop": lambda url: _clients.aiohttp_unlink(url, numbers(count), count),
        "off": lambda url: _clients.library_unlink(
            url, numbers(count), count, concurrency=50, rate_limit=None
        ),
        "sdk": lambda url: _clients.library_unlink(
            url, numbers(count), count, concurrency=50, rate_limit=None, **_clients.sdk_providers()
        ),
    }
    runs: dict[str, list[Run]] = {name: [] for name in clients}
    order = list(clients)
    with FakeServer(prelink=count) as server:
        for rep in range(cfg.reps):
            for name in order[rep % 3 :] + order[: rep % 3]:
                runs[name].append(clients[name](server.base_url))
    cpu = {name: median([r.cpu_per_1k for r in found]) for name, found in runs.items()}
    tp = {name: median([r.throughput for r in found]) for name, found in runs.items()}
    for name, found in runs.items():
        _log(
            f"telemetry {name}: {[round(r.throughput) for r in found]}/s, "
            f"{[round(r.cpu_per_1k, 3) for r in found]} CPU s/1k"
        )
    name = f"Telemetry ({count:,} unlinks, c=50, 0 ms)"
    loop = f"{cpu['loop']:.3f} (aiohttp loop)"
    return [
        Row(
            name,
            "client CPU s / 1k, telemetry off",
            f"{cpu['off']:.3f}",
            loop,
            f"{cpu['off'] / cpu['loop']:.2f}x",
            "<= 1.28x (aim 1.15x)",
            cpu["off"] / cpu["loop"] <= 1.28,
        ),
        Row(
            name,
            "client CPU s / 1k, SDK: every span and metric",
            f"{cpu['sdk']:.3f}",
            loop,
            f"{cpu['sdk'] / cpu['loop']:.2f}x",
            "<= 1.6x",
            cpu["sdk"] / cpu["loop"] <= 1.6,
        ),
        Row(
            name,
            "throughput, telemetry off",
            _rate(tp["off"]),
            _rate(tp["loop"]) + " (loop)",
            f"{tp['off'] / tp['loop']:.2f}x",
            ">= 0.90x",
            tp["off"] / tp["loop"] >= 0.9,
        ),
        Row(
            name,
            "throughput, SDK",
            _rate(tp["sdk"]),
            _rate(tp["loop"]) + " (loop)",
            f"{tp['sdk'] / tp['loop']:.2f}x",
            "",
        ),
    ]


# -- latency-bound --------------------------------------------------------------------------


def _unlink_with_library(base_url: str, count: int, concurrency: int) -> Run:
    return _clients.library_unlink(
        base_url, numbers(count), count, concurrency=concurrency, rate_limit=None
    )


def _unlink_with_aiohttp(base_url: str, count: int, concurrency: int) -> Run:
    return _clients.aiohttp_unlink(base_url, numbers(count), count, concurrency=concurrency)


def latency(cfg: Config) -> list[Row]:
    """20 ms server latency, concurrency 50: throughput vs Little's law (2,500/s).

    Measured twice: with every answer taking exactly 20 ms, and with 18-22 ms drawn
    uniformly (the same mean). A constant latency keeps the requests in lockstep: those sent
    together wake together at the server, which then answers them one after the other, so
    the last of a batch waits for the others (a convoy the jittered variant breaks up).
    """
    count = cfg.size(10_000, 2_000)
    concurrency = 50
    rows: list[Row] = []
    for delay, label in ((0.020, "20 ms"), ((0.018, 0.022), "18-22 ms")):
        mean = sum(delay) / 2 if isinstance(delay, tuple) else delay
        bound = concurrency / mean
        with FakeServer(prelink=count, latency=delay) as server:
            lib, raw = _alternate(
                cfg.reps,
                functools.partial(_unlink_with_library, server.base_url, count, concurrency),
                functools.partial(_unlink_with_aiohttp, server.base_url, count, concurrency),
            )
            concurrency_seen = server.stats()["max_concurrency"]
        for run in lib:
            _check(run, {"accepted"}, "library")
        lib_tp = median([r.throughput for r in lib])
        raw_tp = median([r.throughput for r in raw])
        _log(
            f"latency {label}: library {[round(r.throughput) for r in lib]}, "
            f"aiohttp {[round(r.throughput) for r in raw]}, server saw {concurrency_seen} at once"
        )
        name = f"Latency-bound ({count:,} unlinks, c=50, {label})"
        rows += [
            Row(
                name,
                "throughput vs c/latency",
                _rate(lib_tp),
                _rate(bound) + " (bound)",
                f"{lib_tp / bound:.3f}",
                ">= 0.95",
                lib_tp / bound >= 0.95,
            ),
            Row(
                name,
                "same, bare aiohttp loop",
                _rate(raw_tp),
                _rate(bound) + " (bound)",
                f"{raw_tp / bound:.3f}",
                "",
            ),
            Row(
                name,
                "library vs aiohttp loop",
                _rate(lib_tp),
                _rate(raw_tp) + " (aiohttp loop)",
                f"{lib_tp / raw_tp:.2f}x",
                "",
            ),
        ]
    return rows


# -- rate-bound -----------------------------------------------------------------------------


@attrs.frozen
class RateRun:
    rate: float
    share_429: float
    steady_rate: float
    steady_429: float
    errors: int


def _rate_run(
    limit: int, window: float, retry_after: str | None, client_rate: float, count: int
) -> RateRun:
    with FakeServer(
        prelink=count, rate_limit=int(limit * window), rate_window=window, retry_after=retry_after
    ) as server:
        start = server.stats()
        half: dict[str, Any] = {}
        half_time: list[float] = []

        # Read the server's counts halfway through, from a thread (the pipe read blocks),
        # to tell the start (the adaptive limiter searching) from the steady state.
        def sample() -> None:
            time.sleep(count / limit / 2)
            half_time.append(time.perf_counter())
            half.update(server.stats())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        run = _clients.library_unlink(
            server.base_url, numbers(count), count, concurrency=50, rate_limit=client_rate
        )
        t1 = time.perf_counter()
        sampler.join()
        end = server.stats()
    throttled, total = count_429(start, end)
    errors = sum(v for k, v in run.results.items() if k != "accepted")
    steady_rate = steady_429 = float("nan")
    if half and half_time and half_time[0] < t1:
        later_429, later_total = count_429(half, end)
        ok_later = later_total - later_429
        steady_rate = ok_later / (t1 - half_time[0])
        steady_429 = later_429 / later_total if later_total else 0.0
    return RateRun(
        rate=(total - throttled) / run.wall,
        share_429=throttled / total if total else 0.0,
        steady_rate=steady_rate,
        steady_429=steady_429,
        errors=errors,
    )


#: How many times the server's limit the rate-bound runs tell the client (R: told right;
#: above it, the adaptive limiter must find the limit). ``BENCH_RATE_TOLD=1,5`` picks some.
RATE_TOLD = (1, 2, 5)


def _rate_told() -> tuple[int, ...]:
    told = os.environ.get("BENCH_RATE_TOLD")
    return tuple(int(x) for x in told.split(",")) if told else RATE_TOLD


def rate_bound(cfg: Config) -> list[Row]:
    """The server allows R requests/s (429 beyond): achieved rate and share of 429s.

    30 s of work at R (6,000 unlinks; ``BENCH_RATE_SECONDS`` changes it), the client told
    R, 2R and 5R, with and without Retry-After.
    """
    limit, window = 200, 1.0
    seconds = float(os.environ.get("BENCH_RATE_SECONDS", "30"))
    count = cfg.size(int(limit * seconds), 600)
    rows: list[Row] = []
    for told in _rate_told():
        client_rate, knows = told * limit, ("rate_limit=R" if told == 1 else f"rate_limit={told}R")
        # Told the limit, the session keeps to it; told more, it must find it (issue 12).
        least, most = (0.99, 0.01) if told == 1 else (0.95, 0.02)
        for retry_after, label in (("auto", "with Retry-After"), (None, "no Retry-After")):
            runs = [
                _rate_run(limit, window, retry_after, client_rate, count)
                for _ in range(cfg.capped(3))
            ]
            rate = median([r.rate for r in runs])
            share = median([r.share_429 for r in runs])
            steady_rate = median([r.steady_rate for r in runs])
            steady_share = median([r.steady_429 for r in runs])
            errors = max(r.errors for r in runs)
            _log(
                f"rate {knows} {label}: "
                f"{[(round(r.rate), round(r.share_429 * 100, 2)) for r in runs]}"
            )
            name = f"Rate-bound R={limit}/s, {knows}, {label} ({count:,} unlinks)"
            rows.append(
                Row(
                    name,
                    "achieved rate (whole run)",
                    _rate(rate),
                    _rate(limit) + " (R)",
                    f"{rate / limit:.3f}",
                    f">= {least}",
                    rate / limit >= least,
                )
            )
            rows.append(
                Row(
                    name,
                    "requests answered 429 (whole run)",
                    _pct(share),
                    "0%",
                    "",
                    f"< {most:.0%}",
                    share < most,
                )
            )
            rows.append(
                Row(
                    name,
                    "second half only: rate / 429s",
                    f"{_rate(steady_rate)} / {_pct(steady_share)}",
                    _rate(limit) + " / 0%",
                    f"{steady_rate / limit:.3f}",
                    "",
                )
            )
            if errors:
                rows.append(
                    Row(name, "numbers not unlinked (max)", str(errors), "0", "", "0", False)
                )
    return rows


# -- batching -------------------------------------------------------------------------------


def batching(cfg: Config) -> list[Row]:
    """10,000 numbers linked with batch sizes 1, 10, 100 under the same rate limit."""
    limit, window = 500, 1.0
    count = cfg.size(10_000, 2_000)
    results: dict[int, list[tuple[Run, int]]] = {}
    for batch_size in (1, 10, 100):
        for _ in range(cfg.capped(3)):
            with FakeServer(rate_limit=int(limit * window), rate_window=window) as server:
                before = server.stats()
                run = _clients.library_link(
                    server.base_url,
                    numbers(count),
                    count,
                    batch_size,
                    concurrency=50,
                    rate_limit=limit,
                )
                throttled, _ = count_429(before, server.stats())
            _check(run, {"accepted"}, f"link batch {batch_size}")
            results.setdefault(batch_size, []).append((run, throttled))
        _log(f"batching {batch_size}: {[round(r.wall, 2) for r, _ in results[batch_size]]}")
    one = median([r.wall for r, _ in results[1]])
    rows: list[Row] = []
    for batch_size, runs in results.items():
        wall = median([r.wall for r, _ in runs])
        requests = median([r.requests for r, _ in runs])
        median_429 = median([t for _, t in runs])
        rows.append(
            Row(
                f"Batching ({count:,} links, R={limit}/s, rate_limit=R)",
                f"batch_size={batch_size}: wall / requests (429s)",
                f"{_secs(wall)} / {requests:,.0f} ({median_429:,.0f})",
                f"{_secs(one)} (batch_size=1)",
                f"{one / wall:.1f}x faster",
                "",
            )
        )
    return rows


# -- peer: the official SDK ------------------------------------------------------------------


def peer(cfg: Config) -> list[Row]:
    """The official ``plivo`` SDK in 50 threads vs the library at concurrency 50."""
    count = cfg.size(5_000, 1_000)
    with FakeServer(prelink=count) as server:
        lib, sdk = _alternate(
            cfg.reps,
            lambda: _clients.library_unlink(
                server.base_url,
                numbers(count),
                count,
                concurrency=50,
                rate_limit=None,
                callback={"url": CALLBACK_URL, "method": "POST"},
            ),
            lambda: _clients.sdk_unlink(
                server.base_url, numbers(count), count, threads=50, url=CALLBACK_URL
            ),
        )
    for run in lib:
        _check(run, {"accepted"}, "library")
    for run in sdk:
        _check(run, {"ok"}, "plivo SDK")
    lib_tp = median([r.throughput for r in lib])
    sdk_tp = median([r.throughput for r in sdk])
    lib_cpu = median([r.cpu_per_1k for r in lib])
    sdk_cpu = median([r.cpu_per_1k for r in sdk])
    _log(f"peer: library {[round(r.throughput) for r in lib]}")
    _log(f"peer: sdk {[round(r.throughput) for r in sdk]}")
    name = f"Peer: plivo 4.63.0 SDK, 50 threads ({count:,} unlinks, 0 ms)"
    return [
        Row(
            name,
            "throughput",
            _rate(lib_tp),
            _rate(sdk_tp) + " (SDK)",
            f"{lib_tp / sdk_tp:.2f}x",
            "",
        ),
        Row(
            name,
            "client CPU s / 1k requests",
            f"{lib_cpu:.3f}",
            f"{sdk_cpu:.3f} (SDK)",
            f"{lib_cpu / sdk_cpu:.2f}x",
            "",
        ),
    ]


# -- memory ---------------------------------------------------------------------------------


def _memory_run(base_url: str, count: int, mode: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks._memory", base_url, str(count), mode],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def memory(cfg: Config) -> list[Row]:
    """Peak RSS of a fresh process unlinking N numbers from a generator: 10k vs 100k."""
    small, large = (10_000, 100_000) if not cfg.quick else (2_000, 20_000)
    reps = cfg.capped(2)
    rows: list[Row] = []
    with FakeServer(prelink=large + 100) as server:
        for mode, label in (
            ("report", "unlink_many (keeps the report)"),
            ("stream", "iter_unlink, outcomes dropped"),
            ("flat", "iter_unlink(keep_report=False, dedupe=False)"),
        ):
            measured: dict[int, list[dict[str, Any]]] = {small: [], large: []}
            for _ in range(reps):
                for count in (small, large):
                    result = _memory_run(server.base_url, count, mode)
                    if set(result["counts"]) != {"accepted"}:
                        _log(f"WARNING: memory {mode} {count}: {result['counts']}")
                    measured[count].append(result)
            peak = {n: median([r["peak_mib"] for r in rs]) for n, rs in measured.items()}
            growth = {
                n: median([r["peak_mib"] - r["before_mib"] for r in rs])
                for n, rs in measured.items()
            }
            per_number = (growth[large] - growth[small]) * 1024 * 1024 / (large - small)
            _log(f"memory {mode}: {measured}")
            rows.append(
                Row(
                    f"Memory: {label}",
                    f"peak RSS {large:,} vs {small:,} numbers (growth over start)",
                    f"{peak[large]:.1f} MiB (+{growth[large]:.1f})",
                    f"{peak[small]:.1f} MiB (+{growth[small]:.1f}) ({small:,})",
                    f"{peak[large] / peak[small]:.2f}x; {per_number:,.0f} B/number",
                    "flat" if mode == "flat" else "",
                    (peak[large] / peak[small] < 1.1) if mode == "flat" else None,
                )
            )
    return rows


SCENARIOS: dict[str, Callable[[Config], list[Row]]] = {
    "overhead": overhead,
    "telemetry": telemetry,
    "latency": latency,
    "rate": rate_bound,
    "batching": batching,
    "peer": peer,
    "memory": memory,
    "shared": _shared.shared,
    "mixed": _mixed.mixed,
    "resume": _resume.resume,
    "completion": _completion.completion,
}
