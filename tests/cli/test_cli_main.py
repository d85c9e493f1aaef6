"""The command line: help, entry points (``python -m``, no cli extra), common options.

Driven through click's CliRunner against a FakePlivo in a background thread (see
cli_helpers and conftest.py here).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import CliRunner

import plivo_numlink.cli
from plivo_numlink import __version__
from plivo_numlink.cli import cli
from plivo_numlink.cli import main as cli_main

from .cli_helpers import (
    CAMPAIGN,
    ROOT,
    run,
    write,
)

T = TypeVar("T")


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
    ["--progress", "lines"],
]


SUBCOMMANDS = ["link", "unlink", "sync", "wait", "list", "status"]


#: The common options that mean nothing for a subcommand, which it therefore does not offer
#: in --help: list reads no numbers and pages one at a time; only link, unlink and sync send
#: changes (with callbacks, and --wait after them); only link and sync send batches.
NOT_OFFERED = {
    "link": set(),
    "sync": set(),
    "unlink": {"--batch-size"},
    "wait": {"--batch-size", "--callback-url", "--callback-method", "--wait"},
    "status": {"--batch-size", "--callback-url", "--callback-method", "--wait", "--progress"},
    "list": {"-f", "--column", "--concurrency", "--batch-size", "--callback-url"}
    | {"--callback-method", "--wait"},
}

#: Options that are no common option of ../shared/API.md: list refuses them.
NOT_ACCEPTED = {"list": {"-f", "--column"}}

#: Every (subcommand, option) pair the subcommand accepts: API.md's common options everywhere.
COMMON_OPTION_CASES = [
    pytest.param(command, option, id=f"{command} {option[0]}")
    for command in SUBCOMMANDS
    for option in COMMON_OPTIONS
    if option[0] not in NOT_ACCEPTED.get(command, set())
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
    [(command, option) for command in SUBCOMMANDS for option in sorted(NOT_OFFERED[command])],
)
def test_a_subcommand_offers_no_option_without_meaning(command: str, option: str) -> None:
    # No documented no-ops: an option a subcommand would ignore is not in its help.
    result = CliRunner().invoke(cli, [command, "--help"], env={"COLUMNS": "200"})
    assert not [line for line in result.stdout.splitlines() if line.split()[:1] == [option]]
    assert "no effect" not in result.stdout


@pytest.mark.parametrize(
    ("command", "option"),
    [(command, option) for command, options in NOT_ACCEPTED.items() for option in options],
)
def test_list_refuses_options_outside_the_common_set(command: str, option: str) -> None:
    refused = run(None, command, CAMPAIGN, option, "x", "--dry-run")
    assert refused.exit_code == 2
    assert "No such option" in refused.stderr


def test_an_ignored_common_option_changes_nothing_in_a_dry_run() -> None:
    plain = run(None, "wait", CAMPAIGN, "2125550001", "--dry-run", "--json")
    ignored = run(
        None, "wait", CAMPAIGN, "2125550001", "--dry-run", "--json", "--batch-size", "7", "--wait"
    )
    assert ignored.exit_code == plain.exit_code == 0
    assert ignored.stdout == plain.stdout


def test_status_offers_no_progress_display() -> None:
    # status reads each number once and shows no progress: only -q quiets its notes.
    help_text = CliRunner().invoke(cli, ["status", "--help"], env={"COLUMNS": "200"}).stdout
    assert "--progress" not in help_text
    assert "--quiet" in help_text


# -------------------------------------------------------------------------------------------
# The cli extra: the library never imports click or rich; without them the command says so


def test_importing_the_library_imports_neither_click_nor_rich() -> None:
    code = (
        "import plivo_numlink, plivo_numlink.cli, sys; "
        "assert 'click' not in sys.modules and 'rich' not in sys.modules"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("missing", ["click", "rich"])
def test_without_the_cli_extra_the_command_says_how_to_install_it(missing: str) -> None:
    code = (
        f"import runpy, sys; sys.modules[{missing!r}] = None; sys.argv = ['plivo-numlink']; "
        "runpy.run_module('plivo_numlink', run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "plivo-numlink: the command line needs the cli extra: pip install 'plivo-numlink[cli]'"
    ]


def test_main_without_click_exits_2_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "click", None)
    monkeypatch.delitem(sys.modules, "plivo_numlink.cli._app")
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--help"])
    assert exit_info.value.code == 2
    assert "pip install 'plivo-numlink[cli]'" in capsys.readouterr().err


def test_main_runs_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_the_cli_package_has_no_other_lazy_names() -> None:
    with pytest.raises(AttributeError):
        _ = plivo_numlink.cli.no_such_name
