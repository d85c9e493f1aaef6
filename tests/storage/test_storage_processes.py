"""Two real processes book request starts from one account's budget on one Redis.

Each process books slots as fast as it can (without waiting for them), handing the script
the machine's wall clock, which both share; the merged schedule must keep the budget's
spacing exactly. Only the
schedule is checked, never how fast anything ran.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

RATE = 50.0
SLOTS = 40

CHILD = """
import asyncio, json, sys, time
from plivo_numlink._storage import RedisRateLimiter, open_storage

last = [0.0]

def clock():
    last[0] = time.time()
    return last[0]

async def main():
    storage = open_storage(sys.argv[1], timeout=10)
    limiter = RedisRateLimiter(storage, "MA0123456789ABCDEFGH", float(sys.argv[2]), clock=clock)
    starts = []
    for _ in range(int(sys.argv[3])):
        delay = await limiter.reserve()
        starts.append(last[0] + delay)  # the slot's time on the clock the script was given
    await storage.aclose()
    print(json.dumps(starts))

asyncio.run(main())
"""


def test_two_processes_share_one_budget(redis_url: str) -> None:
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, redis_url, str(RATE), str(SLOTS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=60)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0]
    starts = sorted(itertools.chain.from_iterable(json.loads(out) for out in outputs))
    assert len(starts) == 2 * SLOTS
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 1 / RATE - 1e-6  # a double near 1.8e9 s resolves ~0.2 µs
