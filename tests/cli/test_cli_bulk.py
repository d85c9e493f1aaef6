"""The command line: --wait, the wait command, unknown campaigns and interruption.

Driven through click's CliRunner against a FakePlivo in a background thread (see
cli_helpers and conftest.py here).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from plivo_numlink.cli import _output as cli_output
from plivo_numlink.testing import FakePlivo

from .cli_helpers import (
    CAMPAIGN,
    ROOT,
    TOKEN,
    FakeFactory,
    env_for,
    interrupt,
    kinds,
    numbers,
    read_json_report,
    run,
    write,
)

T = TypeVar("T")


def test_link_wait_confirms_completed_and_reports_failed(start_fake: FakeFactory) -> None:
    fake = start_fake(fail_numbers=["12125550002"])
    result = run(
        fake,
        "link",
        CAMPAIGN,
        "2125550001",
        "2125550002",
        "--wait",
        "--poll-interval",
        "0.01",
        "--json",
    )
    assert result.exit_code == 1
    assert kinds(json.loads(result.stdout)) == {
        "12125550001": "completed",
        "12125550002": "remote_failed",
    }


def test_link_wait_timeout_reports_pending(start_fake: FakeFactory) -> None:
    fake = start_fake(complete_after_polls=1000)
    result = run(fake, "link", CAMPAIGN, "2125550001", "--wait", "--wait-timeout", "0", "--json")
    assert result.exit_code == 1
    assert kinds(json.loads(result.stdout)) == {"12125550001": "pending"}


def test_unlink_with_wait_removes_the_numbers(fake: FakePlivo) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "COMPLETED")
    result = run(
        fake,
        "unlink",
        CAMPAIGN,
        "2125550001",
        "2125550009",
        "--wait",
        "--poll-interval",
        "0.01",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert kinds(json.loads(result.stdout)) == {
        "12125550001": "completed",
        "12125550009": "already",
    }
    assert fake.numbers(CAMPAIGN) == {}


def test_sync_links_missing_and_unlinks_extra(fake: FakePlivo) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "COMPLETED")
    fake.set_status(CAMPAIGN, "12125550009", "COMPLETED")
    result = run(
        fake, "sync", CAMPAIGN, "2125550001", "2125550002", "--unlink-extra", "--yes", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["action"] == "sync"
    assert kinds(data) == {
        "12125550001": "already",
        "12125550002": "accepted",
        "12125550009": "accepted",
    }


def test_wait_command_reports_each_number(start_fake: FakeFactory, tmp_path: Path) -> None:
    fake = start_fake(fail_numbers=["12125550002"])
    run(fake, "link", CAMPAIGN, "2125550001", "2125550002")
    path = write(tmp_path, "n.txt", "2125550001\n2125550002\n2125550003\n")
    report = tmp_path / "w.json"
    result = run(
        fake,
        "wait",
        CAMPAIGN,
        "-f",
        path,
        "--timeout",
        "1",
        "--poll-interval",
        "0.01",
        "--report",
        str(report),
    )
    assert result.exit_code == 1
    assert kinds(read_json_report(report)) == {
        "12125550001": "completed",
        "12125550002": "remote_failed",
        "12125550003": "not_listed",
    }


def test_link_to_an_unknown_campaign_stops_with_exit_2(fake: FakePlivo, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    # One request in flight at a time: with more, the pacer may start a second batch before
    # the first 404 is back on a loaded machine, and what is tested is the stop after it.
    options = ("--report", str(report), "--concurrency", "1")
    result = run(fake, "link", "NOSUCHCAMPAIGN", *numbers(120), *options)
    assert result.exit_code == 2
    assert "check the campaign id" in result.stderr
    assert len(fake.requests) == 1
    assert len(read_json_report(report)["outcomes"]) == 120


def test_interrupt_writes_a_report_accounting_for_every_number(
    fake: FakePlivo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advance = cli_output.Feedback.advance
    seen = 0

    def interrupting_advance(self: cli_output.Feedback, outcome: Any) -> None:
        nonlocal seen
        seen += 1
        advance(self, outcome)
        if seen == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_output.Feedback, "advance", interrupting_advance)
    wanted = numbers(100)
    path = write(tmp_path, "n.txt", "\n".join([*wanted, "bad", wanted[0]]) + "\n")
    report = tmp_path / "r.json"
    result = run(
        fake,
        "link",
        CAMPAIGN,
        "-f",
        path,
        "--batch-size",
        "1",
        "--concurrency",
        "1",
        "--rate-limit",
        "none",
        "--report",
        str(report),
    )
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    data = read_json_report(report)
    outcome_kinds = kinds(data)
    assert list(outcome_kinds) == [*wanted, "bad"]
    assert outcome_kinds["bad"] == "invalid"
    assert sum(kind == "accepted" for kind in outcome_kinds.values()) >= 5
    assert sum(kind == "not_attempted" for kind in outcome_kinds.values()) >= 80
    assert len(fake.numbers(CAMPAIGN)) < 20
    assert data["stopped_reason"] == "interrupted by the user (Ctrl-C)"
    assert data["duplicates"] == 1


def test_interrupt_of_sync_says_to_run_it_again(
    fake: FakePlivo, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt(monkeypatch, "sync")
    result = run(fake, "sync", CAMPAIGN, "2125550001")
    assert result.exit_code == 130
    assert "run it again" in result.stderr


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_sigint_stops_a_running_job_cleanly(start_fake: FakeFactory, tmp_path: Path) -> None:
    fake = start_fake(latency=0.05)
    wanted = numbers(200)
    path = write(tmp_path, "n.txt", "\n".join(wanted) + "\n")
    report = tmp_path / "r.json"
    env = {**os.environ, **{k: v for k, v in env_for(fake).items() if v is not None}}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plivo_numlink",
            "link",
            CAMPAIGN,
            "-f",
            path,
            "--batch-size",
            "1",
            "--concurrency",
            "2",
            "--rate-limit",
            "none",
            "--report",
            str(report),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: len(fake.requests) >= 4)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert TOKEN not in stdout + stderr
    outcome_kinds = kinds(read_json_report(report))
    assert list(outcome_kinds) == wanted
    assert "not_attempted" in outcome_kinds.values()
    assert sum(kind == "accepted" for kind in outcome_kinds.values()) >= 4


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.usefixtures("default_sigint")
def test_a_real_sigint_cancels_the_job_and_writes_the_report(
    fake: FakePlivo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advance = cli_output.Feedback.advance
    seen = 0

    def signalling_advance(self: cli_output.Feedback, outcome: Any) -> None:
        nonlocal seen
        seen += 1
        advance(self, outcome)
        if seen == 3:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(cli_output.Feedback, "advance", signalling_advance)
    wanted = numbers(60)
    report = tmp_path / "r.json"
    result = run(
        fake,
        "unlink",
        CAMPAIGN,
        *wanted,
        "--concurrency",
        "1",
        "--rate-limit",
        "none",
        "--report",
        str(report),
    )
    assert result.exit_code == 130
    outcome_kinds = kinds(read_json_report(report))
    assert list(outcome_kinds) == wanted
    assert "not_attempted" in outcome_kinds.values()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupt_while_waiting_reports_what_was_sent(
    fake: FakePlivo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt(monkeypatch, "wait_for_report")
    report = tmp_path / "r.json"
    result = run(fake, "link", CAMPAIGN, "2125550001", "--wait", "--report", str(report))
    assert result.exit_code == 130
    assert kinds(read_json_report(report)) == {"12125550001": "accepted"}
