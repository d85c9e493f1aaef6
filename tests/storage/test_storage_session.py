"""NumLinkSession(rate_limit_storage=...): configuration, the shared pacer, and faults.

The faults run over real sockets: a FakePlivo and a real redis-server, which a test kills
in the middle of a bulk job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

import plivo_numlink as pn
from plivo_numlink._pacing import AdaptiveRateLimiter
from plivo_numlink._storage import STORAGE_ENV, RedisRateLimiter, StorageError
from plivo_numlink.testing import FakePlivo

from .conftest import RedisServer

AUTH_ID = "MA0123456789ABCDEFGH"
TOKEN = "token-0123456789"
PASSWORD = "pw-SeCrEt-4711"
HANG_GUARD = 30.0


def numbers(count: int) -> list[str]:
    return [f"1212555{i:04d}" for i in range(count)]


def session(**kwargs: object) -> pn.NumLinkSession:
    kwargs.setdefault("auth_id", AUTH_ID)
    kwargs.setdefault("auth_token", TOKEN)
    return pn.NumLinkSession(**kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORAGE_ENV, raising=False)


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize("uri", ["memcached://host:11211", "redis+sentinel://h/0", "http://h"])
def test_an_unknown_scheme_is_a_configuration_error_at_construction(uri: str) -> None:
    with pytest.raises(pn.ConfigurationError, match=r"rate_limit_storage.*unknown scheme"):
        session(rate_limit_storage=uri)


def test_an_unknown_scheme_in_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(STORAGE_ENV, f"memcached://:{PASSWORD}@host:11211")
    with pytest.raises(pn.ConfigurationError, match=STORAGE_ENV) as info:
        session()
    assert PASSWORD not in str(info.value)


def test_a_malformed_redis_uri_does_not_show_its_password() -> None:
    with pytest.raises(pn.ConfigurationError) as info:
        session(rate_limit_storage=f"redis://:{PASSWORD}@host:6379/notadb")
    assert PASSWORD not in str(info.value)


def test_a_shared_storage_needs_a_rate() -> None:
    with pytest.raises(pn.ConfigurationError, match="rate_limit is None"):
        session(rate_limit=None, rate_limit_storage="redis://127.0.0.1:6379/0")


async def test_no_storage_and_memory_pace_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in (None, "memory://", ""):
        async with session(rate_limit_storage=value) as s:
            assert isinstance(s._requester.limiter, AdaptiveRateLimiter)
            assert s.rate_limit_storage is None
            assert "rate_limit_storage" not in repr(s)
    monkeypatch.setenv(STORAGE_ENV, "memory://")
    async with session() as s:
        assert isinstance(s._requester.limiter, AdaptiveRateLimiter)
    # No pacing at all stays possible without a shared storage.
    async with session(rate_limit=None, rate_limit_storage="memory://") as s:
        assert s._requester.limiter is None


async def test_the_environment_names_the_storage_and_repr_masks_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(STORAGE_ENV, f"redis://:{PASSWORD}@127.0.0.1:6390/2")
    s = session(timeout=3)
    try:
        assert isinstance(s._requester.limiter, RedisRateLimiter)
        assert s.rate_limit_storage == "redis://:***@127.0.0.1:6390/2"
        for text in (repr(s), str(s), repr(s._requester.limiter)):
            assert PASSWORD not in text
        assert "rate_limit_storage='redis://:***@127.0.0.1:6390/2'" in repr(s)
        # The storage's calls are bounded by the session's timeout.
        assert s._requester.storage is not None
        assert s._requester.storage.timeout == 3
    finally:
        await s.close()
    # The argument wins over the environment.
    async with session(rate_limit_storage="memory://") as s:
        assert s.rate_limit_storage is None


async def test_the_injected_clock_is_passed_on_and_none_means_the_servers() -> None:
    async with session(rate_limit_storage="redis://127.0.0.1:6390/0") as s:
        limiter = s._requester.limiter
        assert isinstance(limiter, RedisRateLimiter)
        assert limiter._clock is None

    def clock() -> float:
        return 5.0

    async with session(rate_limit_storage="redis://127.0.0.1:6390/0", clock=clock) as s:
        limiter = s._requester.limiter
        assert isinstance(limiter, RedisRateLimiter)
        assert limiter._clock is clock


# -- over a real Redis -----------------------------------------------------------------------


async def test_a_shared_budget_is_spaced_three_percent_under_the_rate(redis_url: str) -> None:
    # Starts booked evenly reach the server with each process's own delays: at the full
    # rate one late start tips a per-second window over. 97% of 100/s, not 103%.
    def clock() -> float:
        return 1000.0

    async with session(rate_limit=100, rate_limit_storage=redis_url, clock=clock) as s:
        limiter = s._requester.limiter
        assert isinstance(limiter, RedisRateLimiter)
        assert limiter.max_rate == pytest.approx(97.0)
        assert await limiter.reserve() == 0.0
        assert await limiter.reserve() == pytest.approx(1 / 97.0)


async def test_sessions_pace_through_redis_and_close_the_storage(redis_url: str) -> None:
    async with FakePlivo() as fake:
        s = session(
            auth_id=fake.auth_id,
            auth_token=fake.auth_token,
            base_url=fake.base_url,
            rate_limit=200,
            rate_limit_storage=redis_url,
        )
        async with s:
            await s.link("CUOGHIN", numbers(1))
            report = await s.link_many("CUOGHIN", numbers(20), batch_size=2)
            assert report.ok
            limiter = s._requester.limiter
            assert isinstance(limiter, RedisRateLimiter)
            assert limiter.storage_calls >= 11
        storage = s._requester.storage
        assert storage is not None
        assert storage.closed
        await s.close()  # idempotent


async def test_two_sessions_of_one_account_share_one_budget(redis_url: str) -> None:
    """Two sessions each told 40/s, one Redis: 40 starts take ~1 s in all, not 0.5 s."""
    async with FakePlivo() as fake:
        kwargs = {
            "auth_id": fake.auth_id,
            "auth_token": fake.auth_token,
            "base_url": fake.base_url,
            "rate_limit": 40,
            "rate_limit_storage": redis_url,
        }
        async with session(**kwargs) as a, session(**kwargs) as b:
            started = time.monotonic()
            await asyncio.gather(
                a.link_many("CUOGHIN", numbers(20), batch_size=1),
                b.link_many("CUOGHIN", numbers(40)[20:], batch_size=1),
            )
            elapsed = time.monotonic() - started
    assert len(fake.requests) == 40
    assert elapsed >= 0.85  # 40 starts spaced 1/40 s apart across both sessions


async def test_an_unreachable_storage_fails_a_single_call_within_the_timeout(
    closed_port: int,
) -> None:
    async with FakePlivo() as fake:
        s = session(
            auth_id=fake.auth_id,
            auth_token=fake.auth_token,
            base_url=fake.base_url,
            timeout=1.0,
            rate_limit_storage=f"redis://:{PASSWORD}@127.0.0.1:{closed_port}/0",
        )
        async with s:
            with pytest.raises(StorageError) as info:
                await asyncio.wait_for(s.link("CUOGHIN", numbers(1)), HANG_GUARD)
        assert isinstance(info.value, pn.PlivoError)
        assert pn.StorageError is StorageError
        assert PASSWORD not in str(info.value)
        assert fake.requests == []  # fails closed: nothing sent unpaced


async def test_an_unreachable_storage_stops_a_bulk_job_with_every_number_accounted_for(
    closed_port: int,
) -> None:
    async with (
        FakePlivo() as fake,
        session(
            auth_id=fake.auth_id,
            auth_token=fake.auth_token,
            base_url=fake.base_url,
            timeout=1.0,
            rate_limit_storage=f"redis://127.0.0.1:{closed_port}/0",
        ) as s,
    ):
        report = await asyncio.wait_for(
            s.link_many("CUOGHIN", numbers(30), batch_size=3), HANG_GUARD
        )
    assert fake.requests == []
    assert len(report.outcomes) == 30
    assert report.counts == {pn.OutcomeKind.NOT_ATTEMPTED: 30}
    assert report.stopped_reason is not None
    assert "shared rate-limit storage failed" in report.stopped_reason
    for outcome in report.outcomes:
        assert outcome.attempts == 0
        assert outcome.error is not None
        assert "storage" in outcome.error


async def test_redis_lost_mid_job_ends_it_with_the_rest_not_attempted(
    start_redis: Callable[..., RedisServer],
) -> None:
    server = start_redis(password=PASSWORD)
    count = 300
    async with (
        FakePlivo(latency=0.005) as fake,
        session(
            auth_id=fake.auth_id,
            auth_token=fake.auth_token,
            base_url=fake.base_url,
            rate_limit=100,
            concurrency=5,
            timeout=2.0,
            rate_limit_storage=server.url,
        ) as s,
    ):
        job = asyncio.ensure_future(s.unlink_many("CUOGHIN", numbers(count)))
        deadline = time.monotonic() + HANG_GUARD
        while len(fake.requests) < 30 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        server.stop()  # killed: the connection drops, and nothing listens any more
        report = await asyncio.wait_for(job, HANG_GUARD)
    sent = len(fake.requests)
    assert 30 <= sent < count
    assert len(report.outcomes) == count
    counts = report.counts
    assert counts[pn.OutcomeKind.NOT_ATTEMPTED] >= count - sent - 5
    assert sum(counts.values()) == count
    assert report.stopped_reason is not None
    assert "shared rate-limit storage failed" in report.stopped_reason
    assert PASSWORD not in report.stopped_reason
    not_attempted = [o for o in report.outcomes if o.kind is pn.OutcomeKind.NOT_ATTEMPTED]
    assert all(o.attempts == 0 and "storage" in (o.error or "") for o in not_attempted)
    # Every number sent has the server's answer: unlinking a number never linked is "already".
    answered = [o for o in report.outcomes if o.kind is not pn.OutcomeKind.NOT_ATTEMPTED]
    assert len(answered) == sent
