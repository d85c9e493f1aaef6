"""``--journal PATH`` on link and unlink: a job killed with SIGKILL at any moment, then run
again with the same command, ends with every number accounted for and ok, without sending
again what the first run had committed; a finished job run again sends nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from plivo_numlink.testing import FakePlivo

from .cli_helpers import (
    CAMPAIGN,
    ROOT,
    TOKEN,
    FakeFactory,
    env_for,
    numbers,
    read_json_report,
    run,
    write,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def committed_final(journal: Path) -> set[str]:
    """The numbers the journal file holds a final outcome for (what a reader sees now)."""
    if not journal.exists():
        return set()
    try:
        # closing(): a sqlite3 connection's own context manager commits but does not close.
        with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT key FROM outcomes WHERE final = 1").fetchall()
    except sqlite3.Error:  # not laid out yet
        return set()
    return {key for (key,) in rows}


def sent(fake: FakePlivo) -> list[str]:
    found: list[str] = []
    for request in fake.requests:
        if request.method == "POST":
            found.extend(request.body["numbers"])
        elif request.method == "DELETE":
            found.append(request.path.rstrip("/").rsplit("/", 1)[-1])
    return found


def command(action: str, path: str, journal: Path, report: Path) -> list[str]:
    return [
        action,
        CAMPAIGN,
        "-f",
        path,
        "--journal",
        str(journal),
        "--batch-size",
        "5",
        "--concurrency",
        "2",
        "--rate-limit",
        "none",
        "--report",
        str(report),
        "-q",
    ]


@pytest.mark.parametrize(
    ("action", "kill_after"),
    [("link", 0), ("link", 60), ("link", 200), ("unlink", 30)],
    ids=["link-at-once", "link-early", "link-late", "unlink"],
)
def test_a_job_killed_with_sigkill_resumes_where_its_journal_ends(
    start_fake: FakeFactory, tmp_path: Path, action: str, kill_after: int
) -> None:
    wanted = numbers(300 if action == "link" else 120)
    prelink = {CAMPAIGN: wanted} if action == "unlink" else 0
    fake = start_fake(latency=0.01, prelink=prelink, complete_after_polls=0)
    path = write(tmp_path, "numbers.txt", "# to do\n" + "\n".join(wanted) + "\n")
    journal, report = tmp_path / "job.journal", tmp_path / "report.json"
    env = {**os.environ, **{k: v for k, v in env_for(fake).items() if v is not None}}
    proc = subprocess.Popen(
        [sys.executable, "-m", "plivo_numlink", *command(action, path, journal, report)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(lambda: len(fake.requests) >= 1 and len(committed_final(journal)) >= kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    settled_before = committed_final(journal)
    fake.clear_requests()

    again = run(fake, *command(action, path, journal, report))

    assert again.exit_code == 0, again.stderr
    sent_again = sent(fake)
    assert not settled_before & set(sent_again)
    data = read_json_report(report)
    assert [o["number"] for o in data["outcomes"]] == wanted
    assert all(o["ok"] for o in data["outcomes"])
    assert data["resumed"] == len(settled_before)
    # The file's first line is a comment: the numbers are on lines 2, 3, ...
    assert [o["line"] for o in data["outcomes"]] == list(range(2, len(wanted) + 2))
    linked = set(fake.numbers(CAMPAIGN))
    assert linked == (set(wanted) if action == "link" else set())

    fake.clear_requests()
    finished = run(fake, *command(action, path, journal, report))

    assert finished.exit_code == 0, finished.stderr
    assert fake.requests == []
    assert read_json_report(report)["resumed"] == len(wanted)


def test_a_journal_of_another_campaign_is_a_usage_error(
    start_fake: FakeFactory, tmp_path: Path
) -> None:
    fake = start_fake(campaigns=[CAMPAIGN, "CAMPTWO"])
    journal = tmp_path / "job.journal"
    first = run(fake, "link", CAMPAIGN, numbers(1)[0], "--journal", str(journal), "-q")
    assert first.exit_code == 0, first.stderr
    fake.clear_requests()

    other = run(fake, "link", "CAMPTWO", numbers(1)[0], "--journal", str(journal), "-q")

    assert other.exit_code == 2
    assert "campaign 'CUOGHIN', not 'CAMPTWO'" in other.stderr
    assert TOKEN not in other.stderr
    assert fake.requests == []


def test_a_second_run_on_a_journal_in_use_exits_2_sending_nothing(
    start_fake: FakeFactory, tmp_path: Path
) -> None:
    # The first run takes 40 s of the fake's latency at least: it still holds the journal
    # when the second one starts (it is killed then).
    fake = start_fake(latency=1.0)
    first_numbers, second_numbers = numbers(400), numbers(5, start=500)
    path = write(tmp_path, "numbers.txt", "\n".join(first_numbers) + "\n")
    journal, report = tmp_path / "job.journal", tmp_path / "report.json"
    env = {**os.environ, **{k: v for k, v in env_for(fake).items() if v is not None}}
    first = subprocess.Popen(
        [sys.executable, "-m", "plivo_numlink", *command("link", path, journal, report)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(lambda: len(fake.requests) >= 1)
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "plivo_numlink",
                "link",
                CAMPAIGN,
                *second_numbers,
                "--journal",
                str(journal),
                "-q",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2, second.stderr
    assert "in use by another run" in second.stderr
    assert not set(second_numbers) & set(sent(fake))
