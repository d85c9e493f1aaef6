"""The command line: the commands that only read: list and status.

Driven through click's CliRunner against a FakePlivo in a background thread (see
cli_helpers and conftest.py here).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import TypeVar

import pytest

from plivo_numlink.testing import FakePlivo

from .cli_helpers import (
    CAMPAIGN,
    kinds,
    numbers,
    one_error_line,
    read_json_report,
    run,
    write,
)

T = TypeVar("T")


def test_list_prints_numbers_and_statuses(fake: FakePlivo) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "COMPLETED")
    fake.set_status(CAMPAIGN, "12125550002", "SOMETHING_NEW")
    result = run(fake, "list", CAMPAIGN)
    assert result.exit_code == 0
    assert re.search(r"12125550001\s*│\s*COMPLETED", result.stdout)
    assert "SOMETHING_NEW" in result.stdout


def test_list_json(fake: FakePlivo) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "PROCESSING")
    result = run(fake, "list", "--campaign", CAMPAIGN, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["phone_numbers"] == [{"number": "12125550001", "status": "PROCESSING"}]
    assert data["count"] == 1


def test_list_of_an_unknown_campaign_is_one_line_exit_2(fake: FakePlivo) -> None:
    result = run(fake, "list", "NOSUCHCAMPAIGN")
    assert result.exit_code == 2
    assert "check the campaign id" in one_error_line(result)


def test_status_in_an_unknown_campaign_is_one_line_exit_2(fake: FakePlivo) -> None:
    result = run(fake, "status", "NOSUCHCAMPAIGN", "2125550001")
    assert result.exit_code == 2
    assert "check the campaign id" in one_error_line(result)


def test_list_with_extra_arguments_is_a_usage_error(fake: FakePlivo) -> None:
    result = run(fake, "list", CAMPAIGN, "2125550001")
    assert result.exit_code == 2


def test_status_exits_0_when_every_number_is_linked(fake: FakePlivo) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "COMPLETED")
    fake.set_status(CAMPAIGN, "12125550002", "PROCESSING")
    result = run(fake, "status", CAMPAIGN, "2125550001", "+1 212 555 0002", "--json")
    assert result.exit_code == 0
    assert [(s["number"], s["status"]) for s in json.loads(result.stdout)] == [
        ("12125550001", "COMPLETED"),
        ("12125550002", "PROCESSING"),
    ]


def test_status_reports_a_number_not_linked_with_exit_1(fake: FakePlivo) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "FAILED")
    result = run(fake, "status", CAMPAIGN, "2125550001", "2125550002")
    assert result.exit_code == 1
    assert "FAILED" in result.stdout
    assert "not linked" in result.stdout


def test_status_with_a_bad_number_is_one_line_exit_2(fake: FakePlivo) -> None:
    result = run(fake, "status", CAMPAIGN, "2125550001", "12")
    assert result.exit_code == 2
    assert "'12'" in one_error_line(result)
    assert fake.requests == []


def test_status_without_numbers_is_a_usage_error(fake: FakePlivo) -> None:
    result = run(fake, "status", CAMPAIGN)
    assert result.exit_code == 2


def test_status_with_a_wrong_token_is_one_line_exit_2(fake: FakePlivo) -> None:
    result = run(fake, "status", CAMPAIGN, "2125550001", "--auth-token", "WRONG-sEcReT-token-99")
    assert result.exit_code == 2
    assert "401" in one_error_line(result)


def test_list_dry_run_sends_nothing(fake: FakePlivo) -> None:
    result = run(fake, "list", CAMPAIGN, "--dry-run")
    assert result.exit_code == 0
    assert "nothing is sent" in result.stdout
    assert fake.requests == []


@pytest.mark.parametrize("extension", ["json", "csv"])
def test_list_report_writes_the_listing(fake: FakePlivo, tmp_path: Path, extension: str) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "COMPLETED")
    path = tmp_path / f"listing.{extension}"
    result = run(fake, "list", CAMPAIGN, "--report", str(path), "-q")
    assert result.exit_code == 0
    assert result.stderr == ""
    if extension == "json":
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["phone_numbers"] == [{"number": "12125550001", "status": "COMPLETED"}]
    else:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        assert rows == [["number", "status"], ["12125550001", "COMPLETED"]]


def test_status_reads_numbers_from_a_csv_column(fake: FakePlivo, tmp_path: Path) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "COMPLETED")
    path = write(tmp_path, "n.csv", "name,phone\nann,212-555-0001\n")
    result = run(fake, "status", CAMPAIGN, "-f", path, "--column", "phone", "--json")
    assert result.exit_code == 0
    assert [s["number"] for s in json.loads(result.stdout)] == ["12125550001"]


def test_status_reads_numbers_from_stdin(fake: FakePlivo) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "COMPLETED")
    result = run(fake, "status", CAMPAIGN, "-f", "-", "--json", input="2125550001\n")
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["status"] == "COMPLETED"


def test_status_with_an_invalid_line_in_the_file_sends_nothing_exit_2(
    fake: FakePlivo, tmp_path: Path
) -> None:
    path = write(tmp_path, "n.txt", "2125550001\n12\n")
    result = run(fake, "status", CAMPAIGN, "-f", path)
    assert result.exit_code == 2
    assert "'12'" in one_error_line(result)
    assert fake.requests == []


def test_status_report_has_each_numbers_status(fake: FakePlivo, tmp_path: Path) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "COMPLETED")
    fake.set_status(CAMPAIGN, "12125550002", "PROCESSING")
    fake.set_status(CAMPAIGN, "12125550003", "FAILED")
    path = tmp_path / "status.json"
    result = run(fake, "status", CAMPAIGN, *numbers(4, start=1), "--report", str(path))
    assert result.exit_code == 1
    report = read_json_report(path)
    assert report["action"] == "status"
    assert kinds(report) == {
        "12125550001": "completed",
        "12125550002": "pending",
        "12125550003": "remote_failed",
        "12125550004": "rejected",
    }
    assert [o["ok"] for o in report["outcomes"]] == [True, True, False, False]
    assert [o["status"] for o in report["outcomes"]] == ["COMPLETED", "PROCESSING", "FAILED", None]


def test_status_csv_report_has_a_row_per_number(fake: FakePlivo, tmp_path: Path) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "COMPLETED")
    path = tmp_path / "status.csv"
    result = run(fake, "status", CAMPAIGN, "2125550001", "--report", str(path))
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [(r["number"], r["kind"], r["status"]) for r in rows] == [
        ("12125550001", "completed", "COMPLETED")
    ]


def test_status_quiet_prints_nothing_on_stderr(fake: FakePlivo, tmp_path: Path) -> None:
    fake.set_status(CAMPAIGN, "12125550001", "COMPLETED")
    report = tmp_path / "r.json"
    result = run(fake, "status", CAMPAIGN, "2125550001", "-q", "--report", str(report))
    assert result.exit_code == 0
    assert result.stderr == ""


def test_status_dry_run_checks_the_numbers_and_sends_nothing(fake: FakePlivo) -> None:
    result = run(
        fake,
        "status",
        CAMPAIGN,
        "2125550001",
        "+1 212 555 0001",
        "2125550002",
        "--dry-run",
        env={"PLIVO_AUTH_ID": None, "PLIVO_AUTH_TOKEN": None},
    )
    assert result.exit_code == 0
    assert "2 valid numbers" in result.stdout
    assert fake.requests == []


def test_status_dry_run_with_an_invalid_number_is_exit_2(fake: FakePlivo) -> None:
    result = run(fake, "status", CAMPAIGN, "2125550001", "12", "--dry-run")
    assert result.exit_code == 2
    assert "'12'" in one_error_line(result)
