"""Configuration errors exit 2, as the README promises, and nothing is sent: a --journal
that names a directory, a rate-limit storage that cannot be reached."""

from __future__ import annotations

import socket
from pathlib import Path

from plivo_numlink.testing import FakePlivo

from .cli_helpers import CAMPAIGN, numbers, run


def test_a_journal_naming_a_directory_is_a_usage_error(fake: FakePlivo, tmp_path: Path) -> None:
    result = run(fake, "link", CAMPAIGN, numbers(1)[0], "--journal", str(tmp_path), "-q")
    assert result.exit_code == 2, result.stderr
    assert "is a directory" in result.stderr
    assert fake.requests == []


def test_an_unreachable_rate_limit_storage_is_a_configuration_error(
    fake: FakePlivo, tmp_path: Path
) -> None:
    # A port bound but never listening: connecting to it is refused, and no one can take it.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        storage = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
        result = run(
            fake,
            *("link", CAMPAIGN, *numbers(2), "-q"),
            env={"PLIVO_NUMLINK_RATE_LIMIT_STORAGE": storage},
        )
    assert result.exit_code == 2, result.stderr
    assert "rate-limit storage" in result.stderr
    assert fake.requests == []
