"""The command line: what it prints and writes: reports, --json, --quiet, progress.

Driven through click's CliRunner against a FakePlivo in a background thread (see
cli_helpers and conftest.py here).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TypeVar

import pytest

from plivo_numlink import BulkReport, LinkStatus, NumberOutcome, OutcomeKind
from plivo_numlink.cli import _output as cli_output
from plivo_numlink.testing import FakePlivo

from .cli_helpers import (
    CAMPAIGN,
    kinds,
    numbers,
    read_json_report,
    run,
    write,
)

T = TypeVar("T")


def test_json_report_has_every_number(fake: FakePlivo, tmp_path: Path) -> None:
    report = tmp_path / "out.json"
    result = run(fake, "link", CAMPAIGN, "2125550001", "bad", "--report", str(report))
    assert result.exit_code == 1
    data = read_json_report(report)
    assert kinds(data) == {"12125550001": "accepted", "bad": "invalid"}
    assert data["ok"] is False
    assert "report written" in result.stderr


def test_csv_report_has_a_header_and_a_row_per_number(fake: FakePlivo, tmp_path: Path) -> None:
    report = tmp_path / "out.CSV"
    result = run(fake, "link", CAMPAIGN, "2125550001", "2125550002", "--report", str(report))
    assert result.exit_code == 0
    rows = list(csv.DictReader(report.open(encoding="utf-8", newline="")))
    assert [row["number"] for row in rows] == ["12125550001", "12125550002"]
    assert {row["ok"] for row in rows} == {"True"}


def test_report_with_another_extension_is_a_usage_error(fake: FakePlivo, tmp_path: Path) -> None:
    result = run(fake, "link", CAMPAIGN, "2125550001", "--report", str(tmp_path / "out.txt"))
    assert result.exit_code == 2
    assert ".json or .csv" in result.stderr
    assert fake.requests == []


def test_report_in_a_missing_directory_is_a_usage_error(fake: FakePlivo, tmp_path: Path) -> None:
    target = tmp_path / "nope" / "out.json"
    result = run(fake, "link", CAMPAIGN, "2125550001", "--report", str(target))
    assert result.exit_code == 2
    assert fake.requests == []


def test_json_flag_prints_the_report_on_stdout(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, "2125550001", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert kinds(data) == {"12125550001": "accepted"}
    assert data["action"] == "link"


def test_quiet_prints_nothing_on_stderr(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, "2125550001", "bad", "--quiet")
    assert result.exit_code == 1
    assert result.stderr == ""
    assert "invalid" in result.stdout


def test_progress_bar_can_be_forced(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, *numbers(30), "--batch-size", "5", "--progress", "bar")
    assert result.exit_code == 0
    assert "linking" in result.stderr
    assert "30/30" in result.stderr


def test_progress_lines_report_counts(fake: FakePlivo, monkeypatch: pytest.MonkeyPatch) -> None:
    # Make every outcome "late" so a progress line is due for each.
    monkeypatch.setattr(cli_output, "PROGRESS_LINE_SECONDS", 0.0)
    result = run(fake, "link", CAMPAIGN, "2125550001", "bad", "--progress", "lines")
    assert result.exit_code == 1
    assert "linking (CUOGHIN): 2 of ~2 numbers (100%), 1 ok, 1 not ok" in result.stderr


def _sample_reports() -> list[BulkReport]:
    outcomes = (
        NumberOutcome("12125550001", OutcomeKind.COMPLETED, api_id="a", attempts=2),
        NumberOutcome('bad\n"quoted", é', OutcomeKind.INVALID, error="why\u2028"),
        NumberOutcome("12125550002", OutcomeKind.PENDING, status=LinkStatus.PROCESSING),
    )
    return [
        BulkReport(outcomes=()),
        BulkReport(outcomes=outcomes[:1]),
        BulkReport(
            outcomes=outcomes,
            action="sync",
            campaign_id=CAMPAIGN,
            stopped_reason="stopped",
            elapsed=1.23456789,
            requests=3,
            duplicates=2,
        ),
    ]


@pytest.mark.parametrize("report", _sample_reports())
def test_streamed_report_writers_give_the_library_exports(report: BulkReport) -> None:
    as_json, as_csv = io.StringIO(), io.StringIO()
    report.write_json(as_json)
    report.write_csv(as_csv)
    assert as_json.getvalue() == report.to_json() + "\n"
    assert as_csv.getvalue() == report.to_csv()


def test_progress_bar_shows_the_wait_phase(fake: FakePlivo) -> None:
    result = run(
        fake,
        "link",
        CAMPAIGN,
        "2125550001",
        "--wait",
        "--poll-interval",
        "0.01",
        "--progress",
        "bar",
    )
    assert result.exit_code == 0
    assert "waiting for Plivo to finish processing 1 number" in result.stderr


# -------------------------------------------------------------------------------------------
# Data printed to the terminal cannot drive it: control characters are shown escaped


def _no_control_characters(text: str) -> None:
    assert "\x1b" not in text
    assert "\x07" not in text


def test_control_characters_in_input_lines_are_printed_escaped(
    fake: FakePlivo, tmp_path: Path
) -> None:
    path = write(tmp_path, "n.txt", b"\x1b[2J2125550009\n\x1b]0;pwned\x07\n2125550001\n")
    result = run(fake, "link", CAMPAIGN, "-f", path)
    assert result.exit_code == 1
    _no_control_characters(result.stdout)
    assert "\\x1b[2J2125550009" in result.stdout


def test_control_characters_from_the_server_are_printed_escaped(fake: FakePlivo) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "\x1b]0;pwned\x07DONE")
    listed = run(fake, "list", CAMPAIGN)
    assert listed.exit_code == 0
    _no_control_characters(listed.stdout)
    assert "\\x1b]0;pwned\\x07DONE" in listed.stdout
    fake.enqueue_fault(400, 1, body='{"error": "bad \x1b[2J request"}')
    failed = run(fake, "list", CAMPAIGN)
    assert failed.exit_code == 1
    _no_control_characters(failed.stderr)
    assert "\\x1b[2J" in failed.stderr


def test_wait_unlinked_titles_its_table_with_the_option(fake: FakePlivo) -> None:
    result = run(fake, "wait", CAMPAIGN, "2125550001", "--unlinked", "--timeout", "1")
    assert result.exit_code == 0, result.output
    assert f"wait --unlinked {CAMPAIGN}: 1 number" in result.stdout
    assert "wait_unlinked" not in result.stdout


def test_progress_lines_of_a_long_job_show_its_start_and_its_end(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1,001 entries (one a repeat) give 1,000 outcomes over 3 s: the steps alone would stop
    # at 90%, and a job this long should also say that it started.
    now = [100.0]
    monkeypatch.setattr(cli_output.time, "monotonic", lambda: now[0])
    feedback = cli_output.Feedback("lines")
    feedback.start_job("linking (C)", 1001)
    for _ in range(1000):
        now[0] += 0.003
        feedback.advance(NumberOutcome("12125550001", OutcomeKind.ACCEPTED))
    feedback.finish_job()
    feedback.finish_job()  # again, as a command's cleanup does
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("linking (C): 0 of ~1,001 numbers (0%)")
    assert lines[-1].startswith("linking (C): 1,000 of ~1,000 numbers (100%), 1,000 ok")
    assert sum("(100%)" in line for line in lines) == 1


def test_a_short_job_prints_no_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    feedback = cli_output.Feedback("lines")
    feedback.start_job("linking (C)", 3)
    feedback.advance(NumberOutcome("12125550001", OutcomeKind.ACCEPTED))
    feedback.finish_job()
    assert capsys.readouterr().err == ""


def test_report_is_not_written_through_a_link_planted_at_the_partial_name(
    fake: FakePlivo, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "r.csv.partial").symlink_to(victim)
    result = run(fake, "link", CAMPAIGN, "2125550001", "--report", str(tmp_path / "r.csv"))
    assert result.exit_code == 0, result.stderr
    assert victim.read_text() == "precious\n"
    assert "12125550001" in (tmp_path / "r.csv").read_text()


def test_the_summary_line_shows_the_sessions_retries_and_429s(fake: FakePlivo) -> None:
    fake.enqueue_fault(429, 1, retry_after=0)  # retried at once (a Retry-After of 0)
    result = run(fake, "link", CAMPAIGN, "2125550001", "2125550002")
    assert result.exit_code == 0, result.output
    assert "2 ok, 0 not ok; 2 requests in " in result.stdout
    assert " s (1 retried, 1 answered 429)" in result.stdout
