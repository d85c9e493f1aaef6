"""``callbacks.ReplayGuard`` in memory: a nonce is accepted once per window (the shared Redis
guard is tested in tests/storage/test_storage_callbacks.py)."""

from __future__ import annotations

from typing import Any

import pytest

from plivo_numlink._storage import MemoryNonceStore
from plivo_numlink.callbacks import ReplayGuard

from .callback_support import FakeClock


async def test_a_nonce_is_accepted_once_within_the_window() -> None:
    clock = FakeClock()
    guard = ReplayGuard(window=300, clock=clock)
    assert await guard.remember(["v3:1"]) is True
    clock.now += 299
    assert await guard.remember(["v3:1"]) is False
    clock.now += 2
    assert await guard.remember(["v3:1"]) is True


async def test_a_replay_of_one_nonce_records_none_of_the_others() -> None:
    guard = ReplayGuard()
    assert await guard.remember(["v3:seen"]) is True
    assert await guard.remember(["v2:new", "v3:seen"]) is False
    assert await guard.remember(["v2:new"]) is True


async def test_forget_takes_nonces_too() -> None:
    guard = ReplayGuard()
    await guard.remember(["v3:1"])
    await guard.forget(["v3:1"])
    assert await guard.remember(["v3:1"]) is True


async def test_the_oldest_nonces_are_forgotten_first_past_max_nonces() -> None:
    guard = ReplayGuard(max_nonces=2)
    for nonce in ("1", "2", "3"):
        assert await guard.remember([nonce])
    assert await guard.remember(["1"]) is True
    assert await guard.remember(["3"]) is False


def test_memory_uri_and_none_keep_nonces_in_this_process() -> None:
    for storage in (None, "memory://", ""):
        guard = ReplayGuard(storage, window=60)
        assert isinstance(guard.store, MemoryNonceStore)
        assert not guard.shared
        assert guard.window == 60
    assert repr(ReplayGuard(window=60)).startswith("ReplayGuard(MemoryNonceStore(")


@pytest.mark.parametrize(
    ("args", "options", "error"),
    [
        ((), {"window": -1}, ValueError),
        ((), {"window": float("nan")}, ValueError),
        ((), {"max_nonces": 0}, ValueError),
        (("ftp://x",), {}, ValueError),
        ((42,), {}, TypeError),
    ],
    ids=repr,
)
def test_bad_arguments_are_refused(
    args: tuple[Any, ...], options: dict[str, Any], error: type
) -> None:
    with pytest.raises(error):
        ReplayGuard(*args, **options)


def test_a_bad_uri_is_named_as_a_replay_store_with_its_password_masked() -> None:
    with pytest.raises(ValueError, match="replay store 'ftp://:\\*\\*\\*@host'") as caught:
        ReplayGuard("ftp://:s3cret@host")
    assert "s3cret" not in str(caught.value)
