"""The command line: options: --dry-run, credentials, --base-url, callbacks, pacing.

Driven through click's CliRunner against a FakePlivo in a background thread (see
cli_helpers and conftest.py here).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import pytest

from plivo_numlink.testing import FakePlivo

from .cli_helpers import (
    AUTH_ID,
    CAMPAIGN,
    TOKEN,
    numbers,
    one_error_line,
    run,
    write,
)

T = TypeVar("T")


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
    steps = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert steps == ["GET", "POST", "DELETE", "GET"]
    # The dry run of --unlink-extra reads the campaign (to list what would go), nothing more.
    assert {request.method for request in fake.requests} <= {"GET"}


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


def test_dry_run_lists_the_first_invalid_numbers_and_counts_the_rest(fake: FakePlivo) -> None:
    result = run(fake, "link", CAMPAIGN, *[f"bad{i}" for i in range(25)], "--dry-run")
    assert result.exit_code == 1
    assert "and 5 more" in result.stdout


def test_wait_dry_run_shows_the_polls_and_sends_nothing(fake: FakePlivo) -> None:
    result = run(fake, "wait", CAMPAIGN, "2125550001", "--dry-run", "--json")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert (plan["action"], plan["valid"]) == ("wait", 1)
    assert fake.requests == []
