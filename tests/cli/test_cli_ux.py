"""The command line's safety and feedback: destructive sync previewed and confirmed, progress
where people wait, consistent parsing, fatal answers to wait and status, a second Ctrl-C.

Driven through click's CliRunner against a FakePlivo in a background thread (see
cli_helpers and conftest.py here), and as a subprocess for real signals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import plivo_numlink.cli._bulk as cli_bulk
import plivo_numlink.cli._output as cli_output
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
    one_error_line,
    read_json_report,
    run,
    write,
)

# -------------------------------------------------------------------------------------------
# sync --unlink-extra: previewed, confirmed, never by accident


def _campaign_with_extras(fake: FakePlivo) -> None:
    for number in ("12125550001", "12125550008", "12125550009"):
        fake.set_status(CAMPAIGN, number, "COMPLETED")


def test_sync_unlink_extra_dry_run_lists_every_number_it_would_unlink(fake: FakePlivo) -> None:
    _campaign_with_extras(fake)
    result = run(fake, "sync", CAMPAIGN, "2125550001", "--unlink-extra", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would unlink 2 numbers not in the input:" in result.stdout
    assert "  12125550008" in result.stdout.splitlines()
    assert "  12125550009" in result.stdout.splitlines()
    assert "DELETE" in result.stdout
    assert "2 requests" in result.stdout
    as_json = run(fake, "sync", CAMPAIGN, "2125550001", "--unlink-extra", "--dry-run", "--json")
    assert json.loads(as_json.stdout)["unlink"] == ["12125550008", "12125550009"]
    assert {request.method for request in fake.requests} == {"GET"}
    assert len(fake.numbers(CAMPAIGN)) == 3


def test_sync_unlink_extra_off_a_terminal_needs_yes(fake: FakePlivo) -> None:
    _campaign_with_extras(fake)
    result = run(fake, "sync", CAMPAIGN, "2125550001", "--unlink-extra")
    assert result.exit_code == 2
    assert "--yes" in one_error_line(result)
    assert fake.requests == []
    done = run(fake, "sync", CAMPAIGN, "2125550001", "--unlink-extra", "--yes", "-q")
    assert done.exit_code == 0, done.output
    assert sum(request.method == "DELETE" for request in fake.requests) == 2


@pytest.mark.parametrize(("answer", "unlinked"), [("y\n", 2), ("n\n", 0)])
def test_sync_unlink_extra_on_a_terminal_asks_showing_the_count(
    fake: FakePlivo, monkeypatch: pytest.MonkeyPatch, answer: str, unlinked: int
) -> None:
    _campaign_with_extras(fake)
    monkeypatch.setattr(cli_bulk, "is_terminal", lambda: True)
    result = run(fake, "sync", CAMPAIGN, "2125550001", "--unlink-extra", "-q", input=answer)
    assert f"unlink 2 numbers not in the input from {CAMPAIGN}?" in result.stderr
    assert result.exit_code == (0 if unlinked else 2), result.output
    assert sum(request.method == "DELETE" for request in fake.requests) == unlinked
    assert not [request for request in fake.requests if request.method == "POST"] or unlinked


def test_sync_unlink_extra_with_no_valid_number_needs_allow_empty(
    fake: FakePlivo, tmp_path: Path
) -> None:
    # Only invalid entries: the desired set is empty, and the sync would unlink everything.
    _campaign_with_extras(fake)
    path = write(tmp_path, "n.txt", "555-0100\n555-0199\n")
    result = run(fake, "sync", CAMPAIGN, "-f", path, "--unlink-extra", "--yes")
    assert result.exit_code == 2
    assert "--allow-empty" in one_error_line(result)
    assert fake.requests == []
    allowed = run(fake, "sync", CAMPAIGN, "-f", path, "--unlink-extra", "--yes", "--allow-empty")
    assert allowed.exit_code == 1  # the invalid entries are not ok
    assert sum(request.method == "DELETE" for request in fake.requests) == 3


# -------------------------------------------------------------------------------------------
# Progress where people wait


def test_the_wait_shows_done_and_pending_counts(start_fake: FakeFactory) -> None:
    fake = start_fake(complete_after_polls=2)
    result = run(
        fake, "link", CAMPAIGN, "2125550001", "2125550002", "--wait", "--poll-interval", "0.01"
    )
    assert result.exit_code == 0, result.output
    assert "waiting for Plivo to finish processing 2 numbers" in result.stderr
    assert "2 done, 0 pending" in result.stderr


def test_the_wait_writes_a_line_every_few_seconds_and_at_its_end_not_one_per_number(
    start_fake: FakeFactory,
) -> None:
    fake = start_fake(complete_after_polls=1)
    numbers = [f"212555{i:04d}" for i in range(200)]
    result = run(fake, "link", CAMPAIGN, *numbers, "--wait", "--poll-interval", "0.01")
    assert result.exit_code == 0, result.output
    counts = [line for line in result.stderr.splitlines() if " pending" in line]
    assert counts[-1].endswith("200 done, 0 pending")
    assert len(counts) < 10  # every 5 s at most, and the last (a quick wait: only the last)
    waited = run(fake, "wait", CAMPAIGN, "2125550001", "--timeout", "1")
    assert "1 done, 0 pending" in waited.stderr


def test_list_shows_pages_and_numbers_read(
    fake: FakePlivo, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in numbers(45):
        fake.set_status(CAMPAIGN, number, "COMPLETED")
    monkeypatch.setattr(cli_output, "PROGRESS_LINE_SECONDS", 0.0)
    result = run(fake, "list", CAMPAIGN, "--progress", "lines", "--json")
    assert result.exit_code == 0, result.output
    assert f"reading campaign {CAMPAIGN}: 1 page, 20 numbers" in result.stderr
    assert f"reading campaign {CAMPAIGN}: 3 pages, 45 numbers" in result.stderr
    assert json.loads(result.stdout)["count"] == 45


# -------------------------------------------------------------------------------------------
# Consistent parsing


def test_a_phone_number_where_the_campaign_goes_is_named_so(fake: FakePlivo) -> None:
    for command in ("link", "status", "list"):
        result = run(fake, command, "+1 212 555 0001", "2125550002")
        assert result.exit_code == 2
        assert "CAMPAIGN +1 212 555 0001 looks like a phone number" in one_error_line(result)
    assert fake.requests == []


def test_the_campaign_given_twice_is_an_error(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, "--campaign", CAMPAIGN, "2125550001")
    assert result.exit_code == 2
    assert "given twice" in result.stderr
    assert fake.requests == []
    numbers_only = run(fake, "link", "--campaign", CAMPAIGN, "2125550001", "-q")
    assert numbers_only.exit_code == 0, numbers_only.output


def test_no_numbers_and_stdin_not_a_terminal_reads_stdin(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, "--json", input="2125550001\n# comment\n2125550002\n")
    assert result.exit_code == 0, result.output
    assert kinds(json.loads(result.stdout)) == {
        "12125550001": "accepted",
        "12125550002": "accepted",
    }


def test_sync_on_an_unknown_campaign_still_writes_its_report(
    fake: FakePlivo, tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    result = run(fake, "sync", "CNOSUCH", "2125550001", "bad", "--report", str(report), "-q")
    assert result.exit_code == 2
    assert "CNOSUCH" in one_error_line(result)
    data = read_json_report(report)
    assert kinds(data) == {"12125550001": "not_attempted", "bad": "invalid"}
    assert data["campaign_id"] == "CNOSUCH"


# -------------------------------------------------------------------------------------------
# wait and status on fatal answers: exit 2, naming the campaign

_COMMANDS = ["wait", "status"]


@pytest.mark.parametrize("command", _COMMANDS)
def test_wait_and_status_exit_2_on_a_wrong_token(fake: FakePlivo, command: str) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "PROCESSING")
    # -q: the error is the only line (wait announces its polling first otherwise).
    wrong = ("--auth-token", "WRONG-sEcReT-token-99", "-q")
    result = run(fake, command, CAMPAIGN, "2125550001", *wrong)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert CAMPAIGN in line
    assert "401" in line
    assert "PLIVO_AUTH_TOKEN" in line


@pytest.mark.parametrize("command", _COMMANDS)
def test_wait_and_status_exit_2_on_an_unknown_campaign(fake: FakePlivo, command: str) -> None:
    # 3 numbers: the wait reads the campaign's list, status each number.
    result = run(fake, command, "CNOSUCH", "2125550001", "2125550002", "2125550003", "-q")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "CNOSUCH" in line
    assert "check the campaign id" in line


# -------------------------------------------------------------------------------------------
# Ctrl-C: the report is always written, also on a second Ctrl-C and during sync


def test_interrupted_sync_writes_its_report(
    fake: FakePlivo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt(monkeypatch, "sync")
    report = tmp_path / "r.json"
    result = run(fake, "sync", CAMPAIGN, "2125550001", "bad", "--report", str(report))
    assert result.exit_code == 130
    assert "interrupted: writing the report (2 numbers)" in result.stderr
    data = read_json_report(report)
    assert kinds(data) == {"12125550001": "not_attempted", "bad": "invalid"}
    assert "run it again" in data["stopped_reason"]


def test_interrupted_status_writes_its_report(
    fake: FakePlivo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt(monkeypatch, "get_numbers")
    report = tmp_path / "r.json"
    result = run(fake, "status", CAMPAIGN, "2125550001", "2125550002", "--report", str(report))
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    data = read_json_report(report)
    assert kinds(data) == {"12125550001": "not_attempted", "12125550002": "not_attempted"}
    assert data["stopped_reason"]


def _child_env(fake: FakePlivo) -> dict[str, str]:
    return {**os.environ, **{k: v for k, v in env_for(fake).items() if v is not None}}


def _default_sigint() -> None:  # the child must not inherit an ignored SIGINT
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
@pytest.mark.parametrize("gap", [0.01, 0.03, 0.05])
def test_a_second_sigint_soon_after_the_first_keeps_the_report(
    start_fake: FakeFactory, tmp_path: Path, gap: float
) -> None:
    fake = start_fake(latency=0.05)
    wanted = numbers(20_000)
    path = write(tmp_path, "n.txt", "\n".join(wanted) + "\n")
    report = tmp_path / "r.json"
    command = [sys.executable, "-m", "plivo_numlink", "link", CAMPAIGN, "-f", path]
    command += ["--batch-size", "1", "--concurrency", "2", "--rate-limit", "none"]
    proc = subprocess.Popen(
        [*command, "--report", str(report), "--progress", "none"],
        env=_child_env(fake),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 30
        while len(fake.requests) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert TOKEN not in stdout + stderr
    assert "interrupted: writing the report (20,000 numbers)" in stderr
    outcome_kinds = kinds(read_json_report(report))
    assert list(outcome_kinds) == wanted
    assert "not_attempted" in outcome_kinds.values()


def test_interrupted_wait_writes_its_report(
    fake: FakePlivo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt(monkeypatch, "wait_for_numbers")
    report = tmp_path / "r.json"
    result = run(fake, "wait", CAMPAIGN, "2125550001", "--report", str(report))
    assert result.exit_code == 130
    assert "reported as pending" in result.stderr
    data = read_json_report(report)
    assert kinds(data) == {"12125550001": "pending"}
    assert data["stopped_reason"] == "interrupted by the user (Ctrl-C)"
