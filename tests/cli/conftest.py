"""Fixtures of the command-line tests: FakePlivos served from a background thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import LoopThread  # the shared fixture's type

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from plivo_numlink.testing import FakePlivo

from .cli_helpers import (
    AUTH_ID,
    TOKEN,
    FakeFactory,
)


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


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Python's own SIGINT handler for the test, even when the suite runs with SIGINT ignored
    (as a background job does); the previous handler afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
