"""After an interruption the summary says how to resume, and its counts are the report's; a
resumed run says how many outcomes came from its journal and does not present them as
accepted in this run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from plivo_numlink.cli import _output as cli_output
from plivo_numlink.testing import FakePlivo

from .cli_helpers import CAMPAIGN, FakeFactory, numbers, read_json_report, run, write


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Ctrl-C once ``count`` outcomes have been shown."""
    advance = cli_output.Feedback.advance
    seen = 0

    def interrupting_advance(self: cli_output.Feedback, outcome: Any) -> None:
        nonlocal seen
        seen += 1
        advance(self, outcome)
        if seen == count:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_output.Feedback, "advance", interrupting_advance)


def _link(fake: FakePlivo, path: str, *more: str) -> Any:
    sending = ("--batch-size", "1", "--concurrency", "4", "--rate-limit", "none")
    return run(fake, "link", CAMPAIGN, "-f", path, *sending, *more)


def _count(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    return int(match.group(1).replace(",", "")) if match else 0


def test_the_interrupt_summary_counts_what_the_report_holds(
    start_fake: FakeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = start_fake(latency=0.02)
    _interrupt_after(monkeypatch, 6)
    path = write(tmp_path, "n.txt", "\n".join(numbers(100)) + "\n")
    report = tmp_path / "r.json"

    result = _link(fake, path, "--report", str(report))

    assert result.exit_code == 130
    outcomes = read_json_report(report)["outcomes"]
    never_sent = sum(o["kind"] == "not_attempted" for o in outcomes)
    cut = sum(o["kind"] == "error" and o["error"].startswith("interrupted") for o in outcomes)
    assert never_sent > 0
    assert _count(r"([\d,]+) numbers? never sent: not_attempted", result.stderr) == never_sent
    assert _count(r"([\d,]+) numbers? in flight, answer unknown", result.stderr) == cut


def test_an_interrupted_job_with_a_journal_says_to_run_it_again_with_it(
    fake: FakePlivo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_after(monkeypatch, 3)
    path = write(tmp_path, "n.txt", "\n".join(numbers(50)) + "\n")
    journal = tmp_path / "job.db"

    result = _link(fake, path, "--journal", str(journal))

    assert result.exit_code == 130
    assert f"to resume: run the same command again, with --journal {journal}" in result.stderr


def test_an_interrupted_job_without_a_journal_says_how_to_resume(
    fake: FakePlivo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_after(monkeypatch, 3)
    path = write(tmp_path, "n.txt", "\n".join(numbers(50)) + "\n")

    result = _link(fake, path)

    assert result.exit_code == 130
    assert "to resume: run the same command again" in result.stderr
    assert "--journal PATH" in result.stderr


def test_a_resumed_run_says_how_many_outcomes_came_from_the_journal(
    fake: FakePlivo, tmp_path: Path
) -> None:
    journal = tmp_path / "job.db"
    first = write(tmp_path, "first.txt", "\n".join(numbers(5)) + "\n")
    assert _link(fake, first, "--journal", str(journal)).exit_code == 0
    both = write(tmp_path, "both.txt", "\n".join(numbers(8)) + "\n")

    result = _link(fake, both, "--journal", str(journal))

    assert result.exit_code == 0, result.stderr
    assert "5 from the journal (settled by an earlier run, not sent again)" in result.stdout
    assert "accepted by Plivo, in this run or an earlier one" in result.stdout
    assert "accepted by Plivo; processing" not in result.stdout


def test_a_run_with_nothing_from_the_journal_says_accepted_by_plivo(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, *numbers(2))
    assert "accepted by Plivo; processing goes on at Plivo" in result.stdout
    assert "from the journal" not in result.stdout
