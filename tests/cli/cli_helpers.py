"""Helpers of the command-line tests: run the CLI in-process, write inputs, read reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner, Result

from plivo_numlink import NumLinkSession
from plivo_numlink.cli import cli
from plivo_numlink.testing import FakePlivo

T = TypeVar("T")


AUTH_ID = "MA0123456789CLITESTS"


#: Distinctive, so that a leak is easy to find in any output.
TOKEN = "TOKEN-cli-sEcReT-5f3a9b7c1d0e"


CAMPAIGN = "CUOGHIN"


ROOT = Path(__file__).resolve().parent.parent.parent


def numbers(count: int, start: int = 0) -> list[str]:
    """Distinct valid numbers in wire form."""
    return [f"1212555{i:04d}" for i in range(start, start + count)]


FakeFactory = Callable[..., FakePlivo]


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


def interrupt(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    """Make ``NumLinkSession.<method>`` end in Ctrl-C (a KeyboardInterrupt), as a user would."""

    async def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(NumLinkSession, method, interrupted)
