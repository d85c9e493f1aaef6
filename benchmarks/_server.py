"""Run a FakePlivo in its own process for the benchmarks, controlled over stdin/stdout.

The client and the server must not share one event loop (nor, ideally, one core): a
benchmark that did would mostly measure the server. So each benchmark starts this module in
a subprocess::

    python -m benchmarks._server '{"latency": 0.02}' --prelink 20000

It prints one JSON line ``{"port": ..., "base_url": ...}`` once it listens, then reads
commands, one per line, and answers each with one JSON line:

- ``stats``: ``{"count_by_status": {...}, "max_concurrency": n, "cpu": seconds}``
- ``reset``: forget the per-status counts (and the request log).
- ``quit`` (or end of input): stop.

``--prelink N`` puts the first ``N`` numbers of :func:`benchmarks._common.numbers` in the
campaign as COMPLETED, so unlinking them answers 202.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from plivo_numlink.testing import FakePlivo

from ._common import CAMPAIGN, numbers


def _stats(fake: FakePlivo) -> dict[str, Any]:
    counts = {str(status): count for status, count in fake.count_by_status.items()}
    return {
        "count_by_status": counts,
        "max_concurrency": fake.max_concurrency,
        "cpu": time.process_time(),
    }


async def _main(options: dict[str, Any], prelink: int) -> None:
    options.setdefault("record_requests", False)
    options.setdefault("send_callbacks", False)
    fake = FakePlivo(campaigns=(CAMPAIGN,), **options)
    for number in numbers(prelink):
        fake.set_status(CAMPAIGN, number, "COMPLETED")
    await fake.start()
    print(json.dumps({"port": fake.port, "base_url": fake.base_url}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            command = line.strip()
            if command in ("", "quit"):
                if not line or command == "quit":
                    break
                continue
            if command == "stats":
                answer: dict[str, Any] = _stats(fake)
            elif command == "reset":
                fake.clear_requests()
                fake.reset_max_concurrency()
                answer = {"ok": True}
            else:
                answer = {"error": f"unknown command {command!r}"}
            print(json.dumps(answer), flush=True)
    finally:
        await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("options", nargs="?", default="{}", help="FakePlivo options as JSON")
    parser.add_argument("--prelink", type=int, default=0)
    args = parser.parse_args()
    options = json.loads(args.options)
    if isinstance(options.get("latency"), list):
        options["latency"] = tuple(options["latency"])
    asyncio.run(_main(options, args.prelink))


if __name__ == "__main__":
    main()
