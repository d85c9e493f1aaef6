"""Shared pieces of the benchmarks: the numbers, the fake server process, small statistics."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from plivo_numlink.testing import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, basic_auth_header

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = "CUOGHIN"
AUTH_ID = DEFAULT_AUTH_ID
AUTH_TOKEN = DEFAULT_AUTH_TOKEN
AUTH_HEADER = basic_auth_header(AUTH_ID, AUTH_TOKEN)
#: A callback URL for scenarios that must send the same body as the official SDK (which
#: always sends ``url`` and ``method``).
CALLBACK_URL = "https://example.com/numlink/callback"


def number(i: int) -> str:
    """The ``i``-th benchmark number: distinct, valid US long codes (212-NXX-XXXX)."""
    return f"1212{200 + i // 10_000}{i % 10_000:04d}"


def numbers(count: int, start: int = 0) -> Iterator[str]:
    """``count`` distinct numbers, lazily (a generator, as a user streaming a file would)."""
    return (number(i) for i in range(start, start + count))


def number_path(num: str) -> str:
    return f"/v1/Account/{AUTH_ID}/10dlc/Campaign/{CAMPAIGN}/Number/{num}/"


class FakeServer:
    """A FakePlivo running in a child process (see ``benchmarks/_server.py``)."""

    def __init__(self, prelink: int = 0, **options: Any) -> None:
        self.options = options
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks._server",
                json.dumps(options),
                "--prelink",
                str(prelink),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        self.port: int = hello["port"]
        self.base_url: str = hello["base_url"]
        self.pid = self._proc.pid

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"fake server exited (code {self._proc.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def _command(self, command: str) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        return self._read()

    def stats(self) -> dict[str, Any]:
        return self._command("stats")

    def reset(self) -> None:
        self._command("reset")

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write("quit\n")
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def count_429(stats_before: dict[str, Any], stats_after: dict[str, Any]) -> tuple[int, int]:
    """(requests answered 429, all requests) between two ``stats`` answers."""
    before = stats_before["count_by_status"]
    after = stats_after["count_by_status"]
    total = sum(after.values()) - sum(before.values())
    throttled = after.get("429", 0) - before.get("429", 0)
    return throttled, total


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Timer:
    """Wall time and this process's CPU time of a block."""

    def __enter__(self) -> Timer:
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
