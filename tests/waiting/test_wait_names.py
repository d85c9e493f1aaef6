"""One name for one idea: ``timeout`` is every wait's deadline, ``on_outcome`` every progress
hook; the old spellings (``wait_timeout=``, ``on_progress=``) still work, with a
DeprecationWarning pointing at the caller."""

from __future__ import annotations

import ast
import pathlib
import warnings
from typing import Any

import pytest

from plivo_numlink.testing import FakePlivo

from .wait_support import CAMPAIGN, session_on

N1 = "12125550001"


@pytest.mark.parametrize("call", ["link_many", "unlink_many", "sync"])
async def test_wait_timeout_still_works_with_a_deprecation_warning(call: str) -> None:
    async with FakePlivo(prelink={CAMPAIGN: [N1]}) as fake, session_on(fake) as session:
        with pytest.warns(
            DeprecationWarning, match=r"wait_timeout= is deprecated; use timeout="
        ) as caught:
            report = await getattr(session, call)(
                CAMPAIGN, [N1], wait=True, wait_timeout=5, poll_interval=0
            )
    assert report.ok
    assert caught[0].filename == __file__  # the warning names the caller's line


@pytest.mark.parametrize("call", ["link_many", "unlink_many", "sync"])
async def test_giving_both_timeout_and_wait_timeout_is_an_error(call: str) -> None:
    async with FakePlivo() as fake, session_on(fake) as session:
        with (
            pytest.warns(DeprecationWarning, match="wait_timeout"),
            pytest.raises(TypeError, match="not both"),
        ):
            await getattr(session, call)(CAMPAIGN, [N1], wait=True, timeout=5, wait_timeout=5)


async def test_on_progress_still_works_with_a_deprecation_warning() -> None:
    seen: list[tuple[int, int]] = []

    def hook(done: int, pending: int) -> None:
        seen.append((done, pending))

    async with FakePlivo(prelink={CAMPAIGN: [N1]}) as fake, session_on(fake) as session:
        with pytest.warns(DeprecationWarning, match="on_progress= is deprecated; use on_outcome="):
            await session.wait_for_numbers(CAMPAIGN, [N1], on_progress=hook)
        report = await session.link_many(CAMPAIGN, ["12125550002"])
        with pytest.warns(DeprecationWarning, match="on_progress"):
            await session.wait_for_report(report, poll_interval=0, on_progress=hook)
        with pytest.warns(DeprecationWarning, match="on_progress"):
            await session.sync(CAMPAIGN, [N1], wait=True, on_progress=hook)
    assert seen[0] == (1, 0)
    assert seen[-1] == (1, 0)


async def test_the_current_names_raise_no_warning() -> None:
    # The contract's wait_for_numbers(timeout=, poll_interval=) above all.
    calls: list[tuple[str, dict[str, Any]]] = [
        ("wait_for_numbers", {"timeout": 5, "poll_interval": 0, "on_outcome": print}),
        ("link_many", {"wait": True, "timeout": 5, "poll_interval": 0, "on_outcome": print}),
        ("unlink_many", {"wait": True, "timeout": 5, "max_poll_interval": 1}),
        ("sync", {"wait": True, "timeout": 5, "poll_interval": 0, "on_outcome": print}),
    ]
    async with FakePlivo(prelink={CAMPAIGN: [N1]}) as fake, session_on(fake) as session:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for name, options in calls:
                await getattr(session, name)(CAMPAIGN, [N1], **options)
            report = await session.link_many(CAMPAIGN, ["12125550002"])
            await session.wait_for_report(report, timeout=5, poll_interval=0)


_WAITING_CALLS = {"link_many", "unlink_many", "sync", "wait_for_numbers", "wait_for_report"}


def test_the_cli_and_examples_use_no_deprecated_name() -> None:
    root = pathlib.Path(__file__).parents[2]
    sources = [*root.glob("plivo_numlink/cli/*.py"), *root.glob("examples/*.py")]
    assert sources
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            names = {keyword.arg for keyword in node.keywords}
            assert "on_progress" not in names, path
            if node.func.attr in _WAITING_CALLS or node.func.attr == "update":
                assert "wait_timeout" not in names, (path, node.lineno)


async def test_a_bad_max_poll_interval_is_refused_naming_it() -> None:
    async with FakePlivo() as fake, session_on(fake) as session:
        with pytest.raises(ValueError, match="max_poll_interval"):
            await session.wait_for_numbers(CAMPAIGN, [N1], max_poll_interval=-1)
