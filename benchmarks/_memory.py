"""One memory measurement, in a fresh process: unlink N numbers read from a generator.

    python -m benchmarks._memory BASE_URL COUNT MODE

MODE ``report`` keeps the whole report (``unlink_many``); ``stream`` iterates
``iter_unlink`` and drops each outcome (what a caller streaming results to a file does);
``flat`` does the same with ``keep_report=False, dedupe=False`` (nothing kept per number).
Prints one JSON line: RSS before the job and peak RSS, in MiB, and the outcome counts.

The peak is the kernel's high-water mark of this process image (``VmHWM`` in
``/proc/self/status``), not ``ru_maxrss``: Linux carries ``ru_maxrss`` over ``execve``, so a
child started by a large parent reports at least the parent's size.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from collections import Counter

import psutil  # type: ignore[import-untyped]

from plivo_numlink import NumLinkSession

from ._common import AUTH_ID, AUTH_TOKEN, CAMPAIGN, numbers

_MIB = 1024 * 1024


def _peak_rss_mib() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    # Elsewhere: ru_maxrss (KiB on Linux, bytes on macOS).
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


async def _main(base_url: str, count: int, mode: str) -> dict[str, object]:
    session = NumLinkSession(
        AUTH_ID, AUTH_TOKEN, base_url=base_url, concurrency=50, rate_limit=None
    )
    async with session:
        # A few requests first, so connections and lazily built state count as "before".
        await session.unlink_many(CAMPAIGN, numbers(100, start=count))
        before = psutil.Process().memory_info().rss / _MIB
        if mode == "report":
            report = await session.unlink_many(CAMPAIGN, numbers(count))
            counts: dict[str, int] = report.counts
        else:
            tally: Counter[str] = Counter()
            options = {"keep_report": False, "dedupe": False} if mode == "flat" else {}
            async with session.iter_unlink(CAMPAIGN, numbers(count), **options) as run:
                async for outcome in run:
                    tally[outcome.kind.value] += 1
            counts = dict(tally)
        peak = _peak_rss_mib()
    return {"before_mib": before, "peak_mib": peak, "counts": counts}


def main() -> None:
    base_url, count, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode not in ("report", "stream", "flat"):
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(asyncio.run(_main(base_url, count, mode))))


if __name__ == "__main__":
    main()
