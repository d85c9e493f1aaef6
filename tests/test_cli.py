"""The ``plivo-numlink`` command line, driven through click's CliRunner against FakePlivo.

The CLI runs its own ``asyncio.run``, so these tests are synchronous and the fake server
runs in a background thread with its own event loop (:class:`LoopThread`). A few tests run
the CLI in a subprocess: ``python -m``, ``fake-server`` and a real SIGINT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import LoopThread  # the shared fixture's type

import csv
import io
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
from click.testing import CliRunner, Result

from plivo_numlink import BulkReport, LinkStatus, NumberOutcome, OutcomeKind
from plivo_numlink import _bulk as plivo_bulk
from plivo_numlink import cli as cli_module
from plivo_numlink.cli import cli
from plivo_numlink.testing import FakePlivo, basic_auth_header

T = TypeVar("T")

AUTH_ID = "MA0123456789CLITESTS"
#: Distinctive, so that a leak is easy to find in any output.
TOKEN = "TOKEN-cli-sEcReT-5f3a9b7c1d0e"
CAMPAIGN = "CUOGHIN"
ROOT = Path(__file__).resolve().parent.parent


def numbers(count: int, start: int = 0) -> list[str]:
    """Distinct valid numbers in wire form."""
    return [f"1212555{i:04d}" for i in range(start, start + count)]


# -------------------------------------------------------------------------------------------
# A FakePlivo in a background thread


FakeFactory = Callable[..., FakePlivo]


@pytest.fixture
def start_fake(loop_thread: LoopThread) -> Iterator[FakeFactory]:
    """Start FakePlivos (test credentials unless given) in the loop thread; stop them after."""
    fakes: list[FakePlivo] = []

    async def start(options: dict[str, Any]) -> FakePlivo:
        fake = FakePlivo(**options)
        return await fake.start()

    def factory(**options: Any) -> FakePlivo:
        options.setdefault("auth_id", AUTH_ID)
        options.setdefault("auth_token", TOKEN)
        fake = loop_thread.run(start(options))
        fakes.append(fake)
        return fake

    yield factory
    for fake in fakes:
        loop_thread.run(fake.stop())


@pytest.fixture
def fake(start_fake: FakeFactory) -> FakePlivo:
    return start_fake()


def env_for(fake: FakePlivo | None) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "PLIVO_AUTH_ID": None,
        "PLIVO_AUTH_TOKEN": None,
        "PLIVO_NUMLINK_BASE_URL": None,
        "COLUMNS": "200",
    }
    if fake is not None:
        env.update(
            PLIVO_AUTH_ID=fake.auth_id,
            PLIVO_AUTH_TOKEN=fake.auth_token,
            PLIVO_NUMLINK_BASE_URL=fake.base_url,
        )
    return env


def run(
    fake: FakePlivo | None,
    *args: str,
    input: str | bytes | None = None,
    env: dict[str, str | None] | None = None,
) -> Result:
    """Invoke the CLI in-process; no output may ever contain the token."""
    full_env = env_for(fake)
    full_env.update(env or {})
    result = CliRunner().invoke(cli, list(args), input=input, env=full_env, catch_exceptions=False)
    assert TOKEN not in result.stdout
    assert TOKEN not in result.stderr
    return result


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return str(path)


def read_json_report(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    assert TOKEN not in text
    data: dict[str, Any] = json.loads(text)
    return data


def kinds(report: dict[str, Any]) -> dict[str, str]:
    return {o["number"]: o["kind"] for o in report["outcomes"]}


# -------------------------------------------------------------------------------------------
# Help and entry points


def test_help_lists_every_subcommand() -> None:
    result = run(None, "--help")
    assert result.exit_code == 0
    for name in ("link", "unlink", "list", "status", "sync", "wait", "fake-server", "demo"):
        assert name in result.stdout


def test_link_help_shows_campaign_as_first_argument_or_option() -> None:
    result = run(None, "link", "--help")
    assert result.exit_code == 0
    assert "[CAMPAIGN] [NUMBER]..." in result.stdout
    assert "--campaign ID" in result.stdout


def test_python_dash_m_runs_the_command_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "plivo_numlink", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "fake-server" in proc.stdout


def test_unknown_option_is_a_usage_error() -> None:
    result = run(None, "link", "--no-such-option")
    assert result.exit_code == 2


# -------------------------------------------------------------------------------------------
# link: where the numbers come from


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


# -------------------------------------------------------------------------------------------
# Output: reports, --json, progress


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
    monkeypatch.setattr(cli_module, "PROGRESS_LINE_SECONDS", 0.0)
    result = run(fake, "link", CAMPAIGN, "2125550001", "bad", "--progress", "lines")
    assert result.exit_code == 1
    assert "linking (CUOGHIN): 2 of ~2 numbers (100%), 1 ok, 1 not ok" in result.stderr


# -------------------------------------------------------------------------------------------
# Options


def test_dry_run_sends_nothing_and_needs_no_credentials(fake: FakePlivo, tmp_path: Path) -> None:
    path = write(tmp_path, "n.txt", "\n".join([*numbers(120), "bad"]) + "\n")
    result = run(
        None,
        "link",
        CAMPAIGN,
        "-f",
        path,
        "--dry-run",
        "--callback-url",
        "https://example.com/cb",
        env={"PLIVO_NUMLINK_BASE_URL": fake.base_url},
    )
    assert result.exit_code == 1  # one invalid number
    assert fake.requests == []
    assert "POST /v1/Account/{auth_id}/10dlc/Campaign/CUOGHIN/Number/" in result.stdout
    assert "3 requests" in result.stdout
    assert "'bad'" in result.stdout


def test_dry_run_json_lists_requests_and_invalid_numbers(fake: FakePlivo) -> None:
    result = run(fake, "unlink", CAMPAIGN, "2125550001", "2125550002", "12", "--dry-run", "--json")
    assert result.exit_code == 1
    plan = json.loads(result.stdout)
    assert plan["valid"] == 2
    assert [entry["number"] for entry in plan["invalid"]] == ["12"]
    assert plan["requests"][0]["method"] == "DELETE"
    assert plan["requests"][0]["count"] == 2
    assert fake.requests == []


def test_dry_run_of_sync_with_wait_describes_every_step(fake: FakePlivo) -> None:
    result = run(fake, "sync", CAMPAIGN, "2125550001", "--unlink-extra", "--wait", "--dry-run")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")] == [
        "GET",
        "POST",
        "DELETE",
        "GET",
    ]
    assert fake.requests == []


def test_missing_credentials_is_one_line_exit_2(fake: FakePlivo) -> None:
    result = run(
        None, "link", CAMPAIGN, "2125550001", env={"PLIVO_NUMLINK_BASE_URL": fake.base_url}
    )
    assert result.exit_code == 2
    assert one_error_line(result) == "error: no auth id: pass --auth-id or set PLIVO_AUTH_ID"
    assert fake.requests == []


def test_missing_token_is_one_line_exit_2(fake: FakePlivo) -> None:
    result = run(fake, "list", CAMPAIGN, env={"PLIVO_AUTH_TOKEN": None})
    assert result.exit_code == 2
    assert "PLIVO_AUTH_TOKEN" in one_error_line(result)


def test_wrong_token_stops_the_job_exit_2_and_never_echoes_tokens(
    fake: FakePlivo, tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    result = run(
        fake,
        "link",
        CAMPAIGN,
        *numbers(3),
        "--auth-token",
        "WRONG-sEcReT-token-99",
        "--report",
        str(report),
    )
    assert result.exit_code == 2
    assert "401" in result.stderr
    assert "PLIVO_AUTH_TOKEN" in result.stderr
    assert "WRONG-sEcReT" not in result.output
    text = report.read_text(encoding="utf-8")
    assert "WRONG-sEcReT" not in text
    assert len(json.loads(text)["outcomes"]) == 3


def test_auth_token_dash_prompts_without_echo(fake: FakePlivo) -> None:
    result = run(
        fake,
        "link",
        CAMPAIGN,
        "2125550001",
        "--auth-token",
        "-",
        input=TOKEN + "\n",
        env={"PLIVO_AUTH_TOKEN": None},
    )
    assert result.exit_code == 0, result.output
    assert "Plivo auth token" in result.stderr


def test_list_with_a_401_is_one_line_exit_2(fake: FakePlivo) -> None:
    result = run(fake, "list", CAMPAIGN, "--auth-token", "WRONG-sEcReT-token-99")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "401" in line
    assert "WRONG-sEcReT" not in line


def test_bad_base_url_is_one_line_exit_2() -> None:
    result = run(
        None,
        "list",
        CAMPAIGN,
        "--base-url",
        "ftp://example.com",
        env={"PLIVO_AUTH_ID": AUTH_ID, "PLIVO_AUTH_TOKEN": TOKEN},
    )
    assert result.exit_code == 2
    assert "--base-url" in one_error_line(result)


def test_bad_campaign_id_is_one_line_exit_2(fake: FakePlivo) -> None:
    result = run(fake, "link", "../admin", "2125550001")
    assert result.exit_code == 2
    assert "campaign_id" in one_error_line(result)
    assert fake.requests == []


def test_bad_callback_url_is_one_line_exit_2(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, "2125550001", "--callback-url", "not-a-url")
    assert result.exit_code == 2
    assert "--callback-url" in one_error_line(result)


def test_callback_url_and_method_are_sent(fake: FakePlivo) -> None:
    result = run(
        fake,
        "link",
        CAMPAIGN,
        "2125550001",
        "--callback-url",
        "http://127.0.0.1:9/cb",
        "--callback-method",
        "get",
    )
    assert result.exit_code == 0
    assert fake.requests[0].body == {
        "numbers": ["12125550001"],
        "url": "http://127.0.0.1:9/cb",
        "method": "GET",
    }


@pytest.mark.parametrize("value", ["0", "none", "None"])
def test_rate_limit_zero_or_none_turns_pacing_off(fake: FakePlivo, value: str) -> None:
    result = run(fake, "link", CAMPAIGN, "2125550001", "--rate-limit", value)
    assert result.exit_code == 0


@pytest.mark.parametrize("value", ["fast", "-1", "inf"])
def test_bad_rate_limit_is_a_usage_error(fake: FakePlivo, value: str) -> None:
    result = run(fake, "link", CAMPAIGN, "2125550001", "--rate-limit", value)
    assert result.exit_code == 2
    assert fake.requests == []


def test_concurrency_below_one_is_a_usage_error(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, "2125550001", "--concurrency", "0")
    assert result.exit_code == 2


# -------------------------------------------------------------------------------------------
# Waiting, unlink, sync, wait, list, status


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
    result = run(fake, "sync", CAMPAIGN, "2125550001", "2125550002", "--unlink-extra", "--json")
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
        "12125550003": "pending",
    }


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


def test_link_to_an_unknown_campaign_stops_with_exit_2(fake: FakePlivo, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = run(fake, "link", "NOSUCHCAMPAIGN", *numbers(120), "--report", str(report))
    assert result.exit_code == 2
    assert "check the campaign id" in result.stderr
    assert len(fake.requests) == 1
    assert len(read_json_report(report)["outcomes"]) == 120


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


# -------------------------------------------------------------------------------------------
# Interruption


def test_interrupt_writes_a_report_accounting_for_every_number(
    fake: FakePlivo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advance = cli_module.Feedback.advance
    seen = 0

    def interrupting_advance(self: cli_module.Feedback, outcome: Any) -> None:
        nonlocal seen
        seen += 1
        advance(self, outcome)
        if seen == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_module.Feedback, "advance", interrupting_advance)
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
    async def interrupted_sync(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module.NumLinkSession, "sync", interrupted_sync)
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


# -------------------------------------------------------------------------------------------
# fake-server and demo


def _read_line(stream: io.TextIOBase | Any, timeout: float = 30.0) -> str:
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    try:
        assert selector.select(timeout), "no output in time"
        line: str = stream.readline()
        return line
    finally:
        selector.close()


@pytest.mark.skipif(sys.platform == "win32", reason="uses select on a pipe")
def test_fake_server_prints_its_url_and_serves_until_terminated() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plivo_numlink",
            "fake-server",
            "--port",
            "0",
            "--campaign",
            "CAMPX",
            "--error-rate",
            "503=0",
            "--latency",
            "0,0.001",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = [_read_line(proc.stdout)]
        # The rest of the banner is already written (and buffered by the first readline).
        while "Ctrl-C" not in banner[-1] and banner[-1]:
            banner.append(proc.stdout.readline())
        match = re.search(r"http://127\.0\.0\.1:\d+", banner[0])
        assert match, banner
        base_url = match.group()
        request = urllib.request.Request(
            f"{base_url}/v1/Account/MAFAKEPLIVO000000000/10dlc/Campaign/CAMPX/Number/",
            headers={
                "Authorization": basic_auth_header(
                    "MAFAKEPLIVO000000000", "FakePlivoAuthToken0123456789abcdefABCDEF"
                )
            },
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
            assert json.loads(answer.read())["phone_numbers"] == []
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert f"--base-url {base_url}" in "".join(banner)
    assert "stopped after 1 request" in stderr


def test_fake_server_rejects_bad_error_rate() -> None:
    result = run(None, "fake-server", "--error-rate", "503=2")
    assert result.exit_code == 2


def test_fake_server_rejects_error_rates_above_one_in_total() -> None:
    result = run(None, "fake-server", "--error-rate", "503=0.7", "--error-rate", "500=0.7")
    assert result.exit_code == 2
    assert "error_rates" in one_error_line(result)


@pytest.mark.parametrize("value", ["x", "1,2,3", "0.5,0.1"])
def test_fake_server_rejects_bad_latency(value: str) -> None:
    result = run(None, "fake-server", "--latency", value)
    assert result.exit_code == 2


def test_demo_links_and_explains_the_planted_failures(tmp_path: Path) -> None:
    report = tmp_path / "demo.csv"
    result = run(None, "demo", "--count", "40", "--poll-interval", "0.05", "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "As planned" in result.stdout
    assert "fake Plivo API runs at http://127.0.0.1:" in result.stderr
    rows = list(csv.DictReader(report.open(encoding="utf-8", newline="")))
    assert len(rows) == 40
    assert sorted(row["kind"] for row in rows if row["ok"] == "False") == [
        "invalid",
        "invalid",
        "invalid",
        "remote_failed",
        "remote_failed",
        "remote_failed",
    ]


def test_demo_json_is_the_report(tmp_path: Path) -> None:
    result = run(None, "demo", "--count", "10", "--poll-interval", "0.05", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["outcomes"]) == 10
    assert result.stderr == ""


def test_demo_plan_is_repeatable_and_plants_what_it_says() -> None:
    plan = cli_module.demo_plan(100, seed=7)
    assert plan == cli_module.demo_plan(100, seed=7)
    assert len(plan.entries) == 101  # one repeat
    assert set(plan.invalid) <= set(plan.entries)
    assert len(plan.fail_numbers) == 3


# -------------------------------------------------------------------------------------------
# More paths: streamed reports, real SIGINT in-process, interrupted wait, fake-server errors


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
    cli_module.write_json(report, as_json)
    cli_module.write_csv(report, as_csv)
    assert as_json.getvalue() == report.to_json() + "\n"
    assert as_csv.getvalue() == report.to_csv()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_real_sigint_cancels_the_job_and_writes_the_report(
    fake: FakePlivo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advance = cli_module.Feedback.advance
    seen = 0

    def signalling_advance(self: cli_module.Feedback, outcome: Any) -> None:
        nonlocal seen
        seen += 1
        advance(self, outcome)
        if seen == 3:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(cli_module.Feedback, "advance", signalling_advance)
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
    async def interrupted_wait(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(plivo_bulk, "wait_and_fold", interrupted_wait)
    report = tmp_path / "r.json"
    result = run(fake, "link", CAMPAIGN, "2125550001", "--wait", "--report", str(report))
    assert result.exit_code == 130
    assert kinds(read_json_report(report)) == {"12125550001": "accepted"}


def test_status_with_a_wrong_token_is_one_line_exit_2(fake: FakePlivo) -> None:
    result = run(fake, "status", CAMPAIGN, "2125550001", "--auth-token", "WRONG-sEcReT-token-99")
    assert result.exit_code == 2
    assert "401" in one_error_line(result)


def test_dry_run_lists_the_first_invalid_numbers_and_counts_the_rest(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, *[f"bad{i}" for i in range(25)], "--dry-run")
    assert result.exit_code == 1
    assert "and 5 more" in result.stdout


def test_fake_server_in_process_prints_how_to_use_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def serve_briefly(self: FakePlivo) -> None:
        return None

    monkeypatch.setattr(FakePlivo, "serve_forever", serve_briefly)
    result = run(None, "fake-server", "--campaign", "CAMPX", "--fail-number", "2125550001")
    assert result.exit_code == 0
    assert "campaigns:  CAMPX" in result.stdout
    assert "PLIVO_AUTH_ID=MAFAKEPLIVO000000000" in result.stdout
    assert "stopped after 0 requests" in result.stderr


def test_fake_server_on_a_busy_port_is_one_line_exit_2(fake: FakePlivo) -> None:
    result = run(None, "fake-server", "--port", str(fake.port))
    assert result.exit_code == 2
    assert "cannot listen" in one_error_line(result)


def test_fake_server_rejects_a_bad_campaign_id() -> None:
    result = run(None, "fake-server", "--campaign", "no/slash")
    assert result.exit_code == 2


def test_demo_exits_1_when_something_unplanned_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = cli_module.demo_plan

    def plan_with_a_surprise(count: int, seed: int) -> cli_module.DemoPlan:
        planned = plan(count, seed)
        return attrs.evolve(planned, entries=(*planned.entries, "surprise"))

    monkeypatch.setattr(cli_module, "demo_plan", plan_with_a_surprise)
    result = run(None, "demo", "--count", "10", "--poll-interval", "0.05", "-q")
    assert result.exit_code == 1
    assert "surprise" in result.stderr
    assert "did not end as planned" in result.stderr


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
    result = run(fake, "link", CAMPAIGN, "-f", path)
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
# Every subcommand accepts the common options


#: Each common option of the API's "Command line" section, with a value where it takes one.
COMMON_OPTIONS: list[list[str]] = [
    ["--base-url", "http://127.0.0.1:9"],
    ["--concurrency", "3"],
    ["--rate-limit", "none"],
    ["--batch-size", "5"],
    ["--callback-url", "https://example.com/cb"],
    ["--callback-method", "GET"],
    ["--wait"],
    ["--dry-run"],
    ["--report", "REPORT.json"],
    ["--json"],
    ["--quiet"],
    ["-q"],
    ["-f", "NUMBERS.txt"],
    ["--column", "1"],
]
SUBCOMMANDS = ["link", "unlink", "sync", "wait", "list", "status"]


#: Every (subcommand, option) pair; list reads no numbers, so it has no -f or --column.
COMMON_OPTION_CASES = [
    pytest.param(command, option, id=f"{command} {option[0]}")
    for command in SUBCOMMANDS
    for option in COMMON_OPTIONS
    if not (command == "list" and option[0] in ("-f", "--column"))
]


@pytest.mark.parametrize(("command", "option"), COMMON_OPTION_CASES)
def test_every_subcommand_accepts_every_common_option(
    command: str, option: list[str], tmp_path: Path
) -> None:
    numbers_file = write(tmp_path, "NUMBERS.txt", "2125550001\n")
    args = [
        arg.replace("REPORT", str(tmp_path / "r")).replace("NUMBERS.txt", numbers_file)
        for arg in option
    ]
    if args[0] == "--column":
        args = ["-f", numbers_file, *args]
    numbers_args = [] if command == "list" or "-f" in args else ["2125550001"]
    # --dry-run everywhere: the option parsing is what is tested, and nothing is sent.
    extra = [] if "--dry-run" in args else ["--dry-run"]
    result = run(None, command, CAMPAIGN, *numbers_args, *args, *extra)
    assert "No such option" not in result.stderr
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("unlink", "--batch-size"),
        ("wait", "--callback-url"),
        ("wait", "--wait"),
        ("list", "--batch-size"),
        ("status", "--wait"),
    ],
)
def test_an_option_without_meaning_says_so_in_the_help(command: str, option: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"], env={"COLUMNS": "200"})
    line = next(line for line in result.stdout.splitlines() if line.split()[:1] == [option])
    assert f"no effect for {command}" in line


def test_wait_dry_run_shows_the_polls_and_sends_nothing(fake: FakePlivo) -> None:
    result = run(fake, "wait", CAMPAIGN, "2125550001", "--dry-run", "--json")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert (plan["action"], plan["valid"]) == ("wait", 1)
    assert fake.requests == []


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


# -------------------------------------------------------------------------------------------
# status: numbers from a file, report, quiet, dry run


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
