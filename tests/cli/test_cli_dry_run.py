"""``--dry-run`` writes its --report (every number not sent, the invalid ones named), and its
``--json`` plan streams the invalid entries: a dry run over a huge file of bad lines keeps
about one key per entry, not the entry's whole outcome and its JSON."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from plivo_numlink.testing import FakePlivo

from .cli_helpers import CAMPAIGN, ROOT, numbers, read_json_report, run, write


def test_a_dry_run_writes_its_csv_report(fake: FakePlivo, tmp_path: Path) -> None:
    report = tmp_path / "dry.csv"
    args = ("link", CAMPAIGN, *numbers(2), "bad", numbers(1)[0], "--dry-run")
    result = run(None, *args, "--report", str(report))
    assert result.exit_code == 1  # one invalid number
    rows = list(csv.DictReader(report.open(encoding="utf-8", newline="")))
    assert [(row["number"], row["kind"]) for row in rows] == [
        (numbers(2)[0], "not_attempted"),
        (numbers(2)[1], "not_attempted"),
        ("bad", "invalid"),
    ]
    assert "report written to" in result.stderr
    assert fake.requests == []


def test_a_dry_run_json_report_says_nothing_was_sent(tmp_path: Path) -> None:
    report = tmp_path / "dry.json"
    result = run(
        None, "unlink", CAMPAIGN, *numbers(3), "--dry-run", "--json", "--report", str(report)
    )
    assert result.exit_code == 0
    data = read_json_report(report)
    assert data["stopped_reason"] == "dry run"
    assert {o["kind"] for o in data["outcomes"]} == {"not_attempted"}
    assert json.loads(result.stdout)["valid"] == 3  # the plan is still printed


def test_a_dry_run_of_sync_writes_its_report(tmp_path: Path) -> None:
    report = tmp_path / "dry.json"
    result = run(None, "sync", CAMPAIGN, *numbers(2), "--dry-run", "--report", str(report))
    assert result.exit_code == 0
    assert [o["number"] for o in read_json_report(report)["outcomes"]] == numbers(2)


def test_a_list_dry_run_says_why_it_writes_no_report(tmp_path: Path) -> None:
    report = tmp_path / "list.json"
    result = run(None, "list", CAMPAIGN, "--dry-run", "--report", str(report))
    assert result.exit_code == 0
    assert "no report written" in result.stderr
    assert not report.exists()


def test_a_streamed_json_plan_is_the_documented_plan(tmp_path: Path) -> None:
    path = write(tmp_path, "n.txt", "\n".join([*numbers(45), "x1", "x2", numbers(1)[0]]) + "\n")
    result = run(None, "link", CAMPAIGN, "-f", path, "--batch-size", "10", "--dry-run", "--json")
    assert result.exit_code == 1
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    assert (plan["action"], plan["campaign_id"]) == ("link", CAMPAIGN)
    assert (plan["valid"], plan["duplicates"], plan["callback"]) == (45, 1, None)
    assert [entry["number"] for entry in plan["invalid"]] == ["x1", "x2"]
    assert all(entry["error"] for entry in plan["invalid"])
    assert plan["requests"][0]["count"] == 5


def test_an_input_without_invalid_entries_has_an_empty_invalid_list() -> None:
    result = run(None, "link", CAMPAIGN, *numbers(2), "--dry-run", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["invalid"] == []


#: In a fresh process: the growth of the peak resident set (VmHWM) over a dry run of ARGV[1]
#: invalid lines with --json (stdout to /dev/null), in KiB.
_MEASURE = r"""
import os, sys
def peak():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
from plivo_numlink.cli import _app
before = peak()
sys.stdout = open(os.devnull, "w")
try:
    _app.cli.main(["link", "CUOGHIN", "--dry-run", "--json", "-f", sys.argv[1]])
except SystemExit as exc:
    assert exc.code == 1, exc.code
sys.stdout = sys.__stdout__
print(peak() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_dry_run_json_over_100k_invalid_lines_stays_small(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("".join(f"not-a-number-{i:08d}\n" for i in range(100_000)))
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    growth_kib = int(done.stdout)
    # 1.4 KiB an entry before (142 MB here); about 0.13 KiB now (12.5 MB).
    assert growth_kib < 50 * 1024, f"{growth_kib / 1024:.1f} MB"
