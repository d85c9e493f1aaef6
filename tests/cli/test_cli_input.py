"""The command line: numbers from arguments, files (lines or CSV) and stdin; bad lines.

Driven through click's CliRunner against a FakePlivo in a background thread (see
cli_helpers and conftest.py here).
"""

from __future__ import annotations

import csv
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


def test_link_numbers_from_arguments_links_them(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, "+1 212-555-0001", "(212) 555-0002")
    assert result.exit_code == 0, result.output
    assert set(fake.numbers(CAMPAIGN)) == {"12125550001", "12125550002"}
    assert "accepted" in result.stdout


def test_campaign_option_makes_every_argument_a_number(fake: FakePlivo) -> None:
    result = run(fake, "link", "--campaign", CAMPAIGN, "2125550001", "2125550002")
    assert result.exit_code == 0, result.output
    assert set(fake.numbers(CAMPAIGN)) == {"12125550001", "12125550002"}


def test_link_without_numbers_is_a_usage_error(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN)
    assert result.exit_code == 2
    assert "no numbers" in result.stderr
    assert fake.requests == []


def test_link_without_campaign_is_a_usage_error(fake: FakePlivo) -> None:
    result = run(fake, "link")
    assert result.exit_code == 2
    assert "no campaign" in result.stderr


def test_numbers_as_arguments_and_file_together_is_a_usage_error(
    fake: FakePlivo, tmp_path: Path
) -> None:
    path = write(tmp_path, "n.txt", "2125550001\n")
    result = run(fake, "link", CAMPAIGN, "2125550002", "-f", path)
    assert result.exit_code == 2


def test_link_exits_1_when_some_numbers_are_invalid(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, "2125550001", "not-a-number")
    assert result.exit_code == 1
    assert set(fake.numbers(CAMPAIGN)) == {"12125550001"}
    assert "not-a-number" in result.stdout
    assert "invalid" in result.stdout


def test_file_one_number_per_line_skips_blank_and_comment_lines(
    fake: FakePlivo, tmp_path: Path
) -> None:
    path = write(tmp_path, "n.txt", "# my numbers\n2125550001\n\n   \n  # indented\n2125550002\r\n")
    report = tmp_path / "r.json"
    result = run(fake, "link", CAMPAIGN, "-f", path, "--report", str(report))
    assert result.exit_code == 0, result.output
    assert list(kinds(read_json_report(report))) == ["12125550001", "12125550002"]


def test_csv_column_chosen_by_name(fake: FakePlivo, tmp_path: Path) -> None:
    path = write(
        tmp_path, "n.csv", 'name,cell,office\nAnn,2125550001,3125550001\n"B, b",2125550002,x\n'
    )
    result = run(fake, "link", CAMPAIGN, "-f", path, "--column", "cell")
    assert result.exit_code == 0, result.output
    assert "first row taken as a header; numbers from column 'cell'" in result.stderr
    assert set(fake.numbers(CAMPAIGN)) == {"12125550001", "12125550002"}


def test_csv_header_with_a_phone_column_is_used_without_column(
    fake: FakePlivo, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "n.csv", "\ufeffName,Phone Number\nAnn,+1 212 555 0001\nBob,2125550002\n"
    )
    result = run(fake, "link", CAMPAIGN, "-f", path)
    assert result.exit_code == 0, result.output
    assert set(fake.numbers(CAMPAIGN)) == {"12125550001", "12125550002"}


def test_csv_without_header_uses_the_first_column(fake: FakePlivo, tmp_path: Path) -> None:
    path = write(tmp_path, "n.csv", "2125550001,Ann\n2125550002,Bob\n")
    result = run(fake, "link", CAMPAIGN, "-f", path)
    assert result.exit_code == 0, result.output
    assert set(fake.numbers(CAMPAIGN)) == {"12125550001", "12125550002"}


def test_csv_without_header_takes_a_column_number(fake: FakePlivo, tmp_path: Path) -> None:
    path = write(tmp_path, "n.csv", "Ann,2125550001\nBob,2125550002\n")
    result = run(fake, "link", CAMPAIGN, "-f", path, "--column", "2")
    assert result.exit_code == 0, result.output
    assert set(fake.numbers(CAMPAIGN)) == {"12125550001", "12125550002"}


def test_unknown_column_is_an_error_naming_the_columns(fake: FakePlivo, tmp_path: Path) -> None:
    path = write(tmp_path, "n.csv", "name,phone\nAnn,2125550001\n")
    result = run(fake, "link", CAMPAIGN, "-f", path, "--column", "mobile")
    assert result.exit_code == 2
    assert "name, phone" in one_error_line(result)
    assert fake.requests == []


def test_column_name_without_header_is_an_error(fake: FakePlivo, tmp_path: Path) -> None:
    path = write(tmp_path, "n.csv", "2125550001,Ann\n")
    result = run(fake, "link", CAMPAIGN, "-f", path, "--column", "phone")
    assert result.exit_code == 2
    assert "header" in one_error_line(result)


def test_row_without_the_number_cell_is_reported_invalid(fake: FakePlivo, tmp_path: Path) -> None:
    path = write(tmp_path, "n.csv", "name,phone\nAnn,2125550001\nBob\nCy,\n")
    report = tmp_path / "r.json"
    result = run(fake, "link", CAMPAIGN, "-f", path, "--report", str(report))
    assert result.exit_code == 1
    outcomes = read_json_report(report)["outcomes"]
    assert [o["kind"] for o in outcomes] == ["accepted", "invalid", "invalid"]
    assert "line 3 has no column 'phone'" in outcomes[1]["error"]
    assert "line 4" in outcomes[2]["error"]
    assert "empty" in outcomes[2]["error"]


def test_numbers_from_stdin(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, "-f", "-", input="2125550001\n2125550002\n")
    assert result.exit_code == 0, result.output
    assert set(fake.numbers(CAMPAIGN)) == {"12125550001", "12125550002"}


def test_non_utf8_line_is_one_invalid_number_and_the_rest_is_linked(
    fake: FakePlivo, tmp_path: Path
) -> None:
    path = write(tmp_path, "n.txt", b"2125550001\n212555\xff0002\n2125550003\n")
    report = tmp_path / "r.json"
    result = run(fake, "link", CAMPAIGN, "-f", path, "--report", str(report))
    assert result.exit_code == 1
    outcomes = read_json_report(report)["outcomes"]
    assert [o["kind"] for o in outcomes] == ["accepted", "invalid", "accepted"]
    assert outcomes[1]["number"] == "line 2: 212555\\xff0002"
    assert "not valid UTF-8" in outcomes[1]["error"]


def test_non_utf8_text_in_another_csv_column_does_not_spoil_the_number(
    fake: FakePlivo, tmp_path: Path
) -> None:
    path = write(tmp_path, "n.csv", b"phone,name\n2125550001,Jos\xe9\n")
    result = run(fake, "link", CAMPAIGN, "-f", path)
    assert result.exit_code == 0, result.output
    assert set(fake.numbers(CAMPAIGN)) == {"12125550001"}


def test_very_long_line_is_one_invalid_number(fake: FakePlivo, tmp_path: Path) -> None:
    path = write(tmp_path, "n.txt", b"2125550001\n" + b"7" * 3_000_000 + b"\n2125550002\n")
    report = tmp_path / "r.csv"
    result = run(fake, "link", CAMPAIGN, "-f", path, "--report", str(report))
    assert result.exit_code == 1
    rows = list(csv.DictReader(report.open(encoding="utf-8", newline="")))
    assert [row["kind"] for row in rows] == ["accepted", "invalid", "accepted"]
    assert len(rows[1]["number"]) < 100
    assert "3,000,001 bytes long" in rows[1]["error"]


def test_unreadable_file_is_one_line_error(fake: FakePlivo, tmp_path: Path) -> None:
    result = run(fake, "link", CAMPAIGN, "-f", str(tmp_path / "missing.csv"))
    assert result.exit_code == 2
    assert "cannot read" in one_error_line(result)


def test_duplicates_are_sent_once(fake: FakePlivo, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = run(fake, "link", CAMPAIGN, "2125550001", "+1 212-555-0001", "--report", str(report))
    assert result.exit_code == 0
    data = read_json_report(report)
    assert data["duplicates"] == 1
    assert len(data["outcomes"]) == 1


def test_a_large_file_is_streamed_in_batches(fake: FakePlivo, tmp_path: Path) -> None:
    wanted = numbers(5000)
    path = write(tmp_path, "n.txt", "\n".join(wanted) + "\n")
    result = run(
        fake, "link", CAMPAIGN, "-f", path, "--batch-size", "500", "--rate-limit", "none", "-q"
    )
    assert result.exit_code == 0, result.output
    assert len(fake.numbers(CAMPAIGN)) == 5000
    assert len(fake.requests) == 10
    assert result.stderr == ""


def test_a_mistyped_first_line_is_reported_not_taken_for_a_header(
    fake: FakePlivo, tmp_path: Path
) -> None:
    path = write(tmp_path, "n.txt", "12125557x77\n2125550001\n")
    report = tmp_path / "r.json"
    result = run(fake, "link", CAMPAIGN, "-f", path, "--report", str(report))
    assert result.exit_code == 1
    assert kinds(read_json_report(report)) == {"12125557x77": "invalid", "12125550001": "accepted"}


def test_a_non_utf8_first_line_is_reported_not_taken_for_a_header(
    fake: FakePlivo, tmp_path: Path
) -> None:
    path = write(tmp_path, "n.txt", b"\xff\xfe\n2125550001\n")
    report = tmp_path / "r.json"
    result = run(fake, "link", CAMPAIGN, "-f", path, "--report", str(report))
    assert result.exit_code == 1
    assert list(kinds(read_json_report(report)).values()) == ["invalid", "accepted"]


def test_a_carriage_return_in_an_entry_stays_inside_its_csv_row(
    fake: FakePlivo, tmp_path: Path
) -> None:
    path = write(tmp_path, "n.txt", b"abc\rdef\n2125550001\n")
    report = tmp_path / "r.csv"
    result = run(fake, "link", CAMPAIGN, "-f", path, "--report", str(report))
    assert result.exit_code == 1
    rows = list(csv.DictReader(report.open(encoding="utf-8", newline="")))
    assert [row["number"] for row in rows] == ["abc\rdef", "12125550001"]


def test_an_empty_file_is_nothing_to_do(fake: FakePlivo, tmp_path: Path) -> None:
    path = write(tmp_path, "n.txt", "# nothing yet\n\n")
    result = run(fake, "link", CAMPAIGN, "-f", path, "--allow-empty")
    assert result.exit_code == 0
    assert "no numbers in the input" in result.stdout
    assert fake.requests == []


def test_a_very_long_first_line_is_reported_not_taken_for_a_header(
    fake: FakePlivo, tmp_path: Path
) -> None:
    path = write(tmp_path, "n.txt", "x" * 5000 + "\n2125550001\n")
    report = tmp_path / "r.json"
    result = run(fake, "link", CAMPAIGN, "-f", path, "--report", str(report))
    assert result.exit_code == 1
    assert list(kinds(read_json_report(report)).values()) == ["invalid", "accepted"]


@pytest.mark.parametrize(
    "args",
    [
        ["link"],
        ["unlink"],
        ["sync", "--unlink-extra", "--yes"],
        ["wait", "--timeout", "0"],
        ["status"],
        ["link", "--dry-run"],
    ],
    ids=lambda args: " ".join(args),
)
@pytest.mark.parametrize(
    "content", ["", "\n  \n", "# numbers to link\n", "phone\n", "\ufeffname,phone\n\n"], ids=repr
)
def test_an_input_without_numbers_is_a_usage_error_unless_allowed(
    fake: FakePlivo, tmp_path: Path, args: list[str], content: str
) -> None:
    # An empty export must not look like a job done (nor make sync unlink everything).
    fake.set_status(CAMPAIGN, "12125550001", "COMPLETED")
    path = write(tmp_path, "n.csv", content)
    result = run(fake, args[0], CAMPAIGN, "-f", path, *args[1:])
    assert result.exit_code == 2
    assert "no numbers in the input" in one_error_line(result)
    assert "--allow-empty" in one_error_line(result)
    assert fake.requests == []
    allowed = run(fake, args[0], CAMPAIGN, "-f", path, *args[1:], "--allow-empty", "-q")
    assert allowed.exit_code == 0, allowed.output


def test_a_header_then_numbers_is_not_empty(fake: FakePlivo, tmp_path: Path) -> None:
    path = write(tmp_path, "n.csv", "name,phone\n\nAnn,2125550001\n")
    result = run(fake, "link", CAMPAIGN, "-f", path)
    assert result.exit_code == 0, result.output
    assert set(fake.numbers(CAMPAIGN)) == {"12125550001"}
