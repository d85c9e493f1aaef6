"""The command line: fake-server and demo.

Driven through click's CliRunner against a FakePlivo in a background thread (see
cli_helpers and conftest.py here).
"""

from __future__ import annotations

import csv
import io
import json
import re
import selectors
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

from plivo_numlink import testing
from plivo_numlink.testing import FakePlivo, basic_auth_header

from .cli_helpers import (
    ROOT,
    one_error_line,
    run,
)

T = TypeVar("T")


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


def test_demo_ends_with_the_fake_server_command_as_found_in_a_new_shell() -> None:
    # A new shell has no activated venv: the hint names where the command is installed.
    result = run(None, "demo", "--count", "10", "--poll-interval", "0.05")
    assert result.exit_code == 0, result.output
    command = f"{sys.exec_prefix}/bin/plivo-numlink fake-server"
    assert command in " ".join(result.stdout.split())
    assert Path(command.split()[0]).exists()


def test_demo_json_is_the_report(tmp_path: Path) -> None:
    result = run(None, "demo", "--count", "10", "--poll-interval", "0.05", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["outcomes"]) == 10
    assert result.stderr == ""


def test_demo_plan_is_repeatable_and_plants_what_it_says() -> None:
    plan = testing.demo_plan(100, seed=7)
    assert plan == testing.demo_plan(100, seed=7)
    assert len(plan.entries) == 101  # one repeat
    assert set(plan.invalid) <= set(plan.entries)
    assert len(plan.fail_numbers) == 3


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
    plan = testing.demo_plan

    def plan_with_a_surprise(count: int, seed: int) -> testing.DemoPlan:
        planned = plan(count, seed)
        return attrs.evolve(planned, entries=(*planned.entries, "surprise"))

    monkeypatch.setattr(testing, "demo_plan", plan_with_a_surprise)
    result = run(None, "demo", "--count", "10", "--poll-interval", "0.05", "-q")
    assert result.exit_code == 1
    assert "surprise" in result.stderr
    assert "did not end as planned" in result.stderr


def test_fake_server_prelink_starts_each_campaign_with_numbers_already_linked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, str]] = []

    async def serve_briefly(self: FakePlivo) -> None:
        seen.append(self.numbers("CAMPX"))

    monkeypatch.setattr(FakePlivo, "serve_forever", serve_briefly)
    result = run(None, "fake-server", "--campaign", "CAMPX", "--prelink", "3")
    assert result.exit_code == 0
    assert len(seen) == 1
    assert sorted(seen[0].values()) == ["COMPLETED"] * 3
