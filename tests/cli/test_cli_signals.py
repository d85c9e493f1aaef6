"""SIGTERM (what a container stop or ``timeout`` sends) stops a command as the first Ctrl-C
does: the report is written, the numbers not done are not_attempted, and the exit status is
143 (128 + SIGTERM). Real processes, against a slow fake; the signal is sent once the job
has shown progress."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .cli_helpers import CAMPAIGN, ROOT, FakeFactory, env_for, numbers, write

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_sigterm_during_link_writes_the_report_and_exits_143(
    start_fake: FakeFactory, tmp_path: Path
) -> None:
    # 300 numbers, one per request, two at a time, 0.1 s each: 15 s of work at least.
    fake = start_fake(latency=0.1)
    wanted = numbers(300)
    path = write(tmp_path, "numbers.txt", "\n".join(wanted) + "\n")
    report = tmp_path / "r.json"
    env = {**os.environ, **{k: v for k, v in env_for(fake).items() if v is not None}}
    args = ["link", CAMPAIGN, "-f", path, "--batch-size", "1", "--concurrency", "2"]
    args += ["--rate-limit", "none", "--report", str(report), "--progress", "lines"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "plivo_numlink", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: len(fake.requests) >= 4)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 143, stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert [o["number"] for o in data["outcomes"]] == wanted
    kinds = {o["kind"] for o in data["outcomes"]}
    assert "accepted" in kinds
    assert "not_attempted" in kinds
    assert "SIGTERM" in data["stopped_reason"]
    assert "report written" in stderr
    assert "Traceback" not in stderr
    assert "accepted" in stdout  # the summary was printed too
