"""A rate limiter whose budget is shared through Redis: one GCRA, one round trip per start.

Each :class:`RedisRateLimiter` paces its session twice:

- **locally**, to the session's own ``rate_limit``, with an
  :class:`~plivo_numlink._pacing.AdaptiveRateLimiter` (the local cap). It is the one place
  where the session's answers are counted: whether 429s are a real share of them, and the
  measuring rule (hold back, resume just under the accepted rate, probe upward cautiously);
- **across the account**, from one shared schedule in Redis, which spaces the starts of
  every session of the account (in any process) ``1 / rate`` apart: a bucket holding one
  token, no bursts.

State for one account lives in one Redis hash (``plivo_numlink:rate:<digest of auth_id>``):
the theoretical arrival time of the next free start slot (``tat``), the account's budget,
the shared slow-down (a share of the budget), a Retry-After pause, the slow-down cool-down
and an epoch counter. One Lua script books a slot and, in the same round trip, applies what
this process learned since its last call (a slow-down after real throttling, a Retry-After
pause, a success).

Sessions may be told different rates. The account's budget is the highest rate told by a
session that booked within the last ``budget_ttl`` seconds (so a budget whose sessions are
gone gives way to the ones still running); every booking costs ``1 / budget`` of the shared
schedule, whatever the caller's own rate, and each session keeps to its own rate locally. So
a session told 1/s beside one told 100/s takes one slot of the schedule a second, not a
second of it, and never lowers the others' pace.

The shared slow-down is the local limiter's first step applied to the whole account: when
one session saw ``threshold`` of a full window of answers throttled (a count: one 429
among a slow session's few answers is a large share but no evidence), the account's pace
is cut to ``decrease`` of it at most once per cool-down (so three processes throttled at
once cut once, not three times), then grows back by ``recovery`` of the budget per second
of success. Meanwhile each session's
local cap measures what the server accepts from it and probes upward with care, so the sum
of the sessions settles under the account's limit. Times are the Redis server's clock
(``TIME``), so machines whose clocks differ still share one schedule; tests inject a clock
instead.

A throttle is reported with this process's next booking, which comes at once in a busy
session (the 429 freed a concurrency slot); :meth:`RedisRateLimiter.flush` sends it alone.
Waiters holding a slot booked before a slow-down learn of it from any later answer in their
process (the epoch went up) and book again, as local waiters do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from .._pacing import AdaptiveRateLimiter
from ._client import KEY_PREFIX, RedisStorage, hashed_name
from ._config import StorageError

__all__ = ["SHARED_HEADROOM", "RateLimiter", "RedisRateLimiter", "account_key"]

#: The share of a session's ``rate_limit`` that a shared budget is spaced at. Starts booked
#: evenly from one schedule reach the server with each process's own delays (the booking's
#: round trip, a busy event loop): one start late by more than a slot lets the next second
#: hold one request too many, and a server counting per second answers 429, which slows
#: every process down. 3% under the limit absorbs delays up to ~0.2 s per 150 starts.
#: Measured (3 processes told 150/s, a server enforcing 150/s, 30 s, a loaded 2-core
#: machine): at 1.0 of the rate 0.87 of it was reached with 1.3% 429s (8 account-wide
#: slow-downs); at 0.97, 0.967 with 0.02%.
SHARED_HEADROOM = 0.97

Sleep = Callable[[float], Awaitable[None]]

#: How long an idle account's shared state is kept (ms). After a minute of no traffic the
#: rate has regrown and any pause has passed, so an hour only keeps it tidy.
_STATE_TTL_MS = 3_600_000

# KEYS[1]: the account's hash. ARGV: now ("" = the server's clock), max_rate (the caller's
# own rate), min_rate, slow (1: this limiter's throttling is real), pause (seconds, 0: none),
# book (1: book a start slot, 0: report only), grew (1: a success since the last call),
# decrease, recovery, ttl_ms, budget_ttl (seconds). Returns {delay, rate, epoch} (floats as
# strings: a Lua number returned to Redis is truncated to an integer).
#
# The shared pace is ``share * budget``: a slow-down is kept as a share of the budget, so a
# budget raised by a faster session carries the slow-down over instead of starting from a
# slower session's rate.
_GCRA_LUA = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
if not now then
  if redis.replicate_commands then pcall(redis.replicate_commands) end
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local max_rate = tonumber(ARGV[2])
local min_rate = tonumber(ARGV[3])
local slow = ARGV[4] == '1'
local pause = tonumber(ARGV[5])
local book = ARGV[6] == '1'
local grew = ARGV[7] == '1'
local decrease = tonumber(ARGV[8])
local recovery = tonumber(ARGV[9])
local ttl = tonumber(ARGV[10])
local budget_ttl = tonumber(ARGV[11])

local s = redis.call('HMGET', key, 'tat', 'share', 'budget', 'budget_at', 'pause', 'cool',
  'grow', 'epoch')
local tat = tonumber(s[1]) or 0
local share = tonumber(s[2]) or 1
local budget = tonumber(s[3]) or 0
local budget_at = tonumber(s[4]) or 0
local paused = tonumber(s[5]) or 0
local cool = tonumber(s[6]) or 0
local grow = tonumber(s[7]) or now
local epoch = tonumber(s[8]) or 0

-- The account's budget: the highest rate a session still booking was told. A slower
-- session never lowers it; it takes over only a budget nobody has booked under lately.
if max_rate >= budget or now - budget_at > budget_ttl then
  if max_rate > budget and tat > now then
    -- The slots still ahead were booked at the lower budget: they take less time now.
    tat = now + (tat - now) * budget / max_rate
  end
  budget = max_rate
  budget_at = now
end
if share > 1 then share = 1 end

if grew and share < 1 and now >= cool then
  share = math.min(1, share + recovery * math.max(0, now - grow))
  grow = now
end
local slowed = false
if pause > 0 and now + pause > paused then
  paused = now + pause
  slowed = true
end
if slow and now >= cool then
  share = math.max(min_rate / budget, share * decrease)
  cool = now + math.max(1.0, 2.0 / (share * budget))
  grow = now
  slowed = true
end
local rate = share * budget
if slowed then
  epoch = epoch + 1
  tat = now + 1.0 / rate
end
local delay = 0
if book then
  local start = math.max(now, tat, paused)
  tat = start + 1.0 / rate
  delay = start - now
end
local f = '%.17g'
redis.call('HSET', key, 'tat', string.format(f, tat), 'share', string.format(f, share),
  'budget', string.format(f, budget), 'budget_at', string.format(f, budget_at),
  'pause', string.format(f, paused), 'cool', string.format(f, cool),
  'grow', string.format(f, grow), 'epoch', epoch)
redis.call('PEXPIRE', key, ttl)
return {string.format(f, delay), string.format(f, rate), epoch}
"""


@runtime_checkable
class RateLimiter(Protocol):
    """What a session needs of a rate limiter, local or shared."""

    max_rate: float
    min_rate: float

    @property
    def rate(self) -> float: ...

    @property
    def ceiling(self) -> float | None: ...

    @property
    def throttles(self) -> int: ...

    @property
    def throttle_share(self) -> float: ...

    async def acquire(self) -> None: ...

    def on_throttle(self, retry_after: float | None = None) -> None: ...

    def on_success(self) -> None: ...


def account_key(auth_id: str) -> str:
    """The Redis key holding an account's shared pacing state (a digest, not the auth id)."""
    return f"{KEY_PREFIX}:rate:{hashed_name(auth_id)}"


class RedisRateLimiter:
    """Spaces request starts to at most ``rate`` per second for this session, and to the
    account's budget across every session sharing ``storage`` for ``auth_id``, adapting to
    429 answers seen by any of them.

    The interface is :class:`~plivo_numlink._pacing.AdaptiveRateLimiter`'s, except that
    :meth:`reserve` is a coroutine (booking is a Redis round trip) and books from the shared
    schedule only. ``acquire()`` waits for the local cap (:attr:`local`), then books;
    it raises :class:`StorageError` when the storage fails or does not answer within its
    timeout: shared pacing fails closed (see the package's docstring).

    ``clock`` replaces the Redis server's clock and the local cap's ``time.monotonic``
    (tests pass a fake one; every limiter on one storage must then use the same clock);
    ``sleep`` replaces ``asyncio.sleep``.
    """

    decrease = AdaptiveRateLimiter.decrease
    recovery = AdaptiveRateLimiter.recovery
    window = AdaptiveRateLimiter.window
    threshold = AdaptiveRateLimiter.threshold
    #: Seconds the account's budget stays the highest rate told after its last booking.
    budget_ttl = 5.0
    #: 429s among this session's last ``window`` answers that slow the whole account down:
    #: ``threshold`` of a full window. As a share alone, one 429 among the few answers of a
    #: slow session (1 of 10 is 10%) would cut every session's pace; the session's own pace
    #: still follows the share (its local cap holds back).
    min_throttles = round(AdaptiveRateLimiter.threshold * AdaptiveRateLimiter.window)

    def __init__(
        self,
        storage: RedisStorage,
        auth_id: str,
        rate: float,
        *,
        min_rate: float | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        #: The session's own pace (its rate, its answers): the local cap.
        self.local = AdaptiveRateLimiter(
            rate,
            min_rate=min_rate,
            clock=time.monotonic if clock is None else clock,
            sleep=sleep,
        )
        self.max_rate = self.local.max_rate
        self.min_rate = self.local.min_rate
        #: The account's shared pace as of this limiter's last answer from the storage.
        self.shared_rate = self.max_rate
        #: Round trips to the storage (bookings and reports).
        self.storage_calls = 0
        self._storage = storage
        self._key = account_key(auth_id)
        self._clock = clock
        self._sleep = sleep
        # What to tell the storage with the next call.
        self._pending_slow = False
        self._pending_pause = 0.0
        self._pending_growth = False
        # The highest shared epoch seen: it goes up whenever any limiter slowed the account.
        self._epoch = 0

    def __repr__(self) -> str:
        return (
            f"RedisRateLimiter(rate={self.rate:.2f}/s, max_rate={self.max_rate:.2f}/s, "
            f"storage={self._storage.config.url!r})"
        )

    @property
    def rate(self) -> float:
        """The pace this session starts at now: its own, or the account's if lower."""
        return min(self.local.rate, self.shared_rate)

    @property
    def ceiling(self) -> float | None:
        """The server's allowance for this session as last measured (None until throttled)."""
        return self.local.ceiling

    @property
    def throttles(self) -> int:
        """429 answers this session has seen."""
        return self.local.throttles

    @property
    def throttle_share(self) -> float:
        """The share of 429 answers among this session's last ``window`` answers."""
        return self.local.throttle_share

    async def _call(self, *, book: bool) -> tuple[float, int]:
        slow, pause, grew = self._pending_slow, self._pending_pause, self._pending_growth
        now = "" if self._clock is None else repr(float(self._clock()))
        args = [
            now,
            repr(self.max_rate),
            repr(self.min_rate),
            "1" if slow else "0",
            repr(pause),
            "1" if book else "0",
            "1" if grew else "0",
            repr(self.decrease),
            repr(self.recovery),
            str(_STATE_TTL_MS),
            repr(self.budget_ttl),
        ]
        # Taken now: what arrives during the call goes with the next one.
        self._pending_slow, self._pending_pause, self._pending_growth = False, 0.0, False
        self.storage_calls += 1
        try:
            reply = await self._storage.run_script(_GCRA_LUA, [self._key], args)
        except BaseException:
            self._pending_slow |= slow
            self._pending_pause = max(self._pending_pause, pause)
            self._pending_growth |= grew
            raise
        try:
            delay, rate, epoch = float(reply[0]), float(reply[1]), int(reply[2])
        except (TypeError, ValueError, IndexError) as exc:
            raise StorageError(f"the storage answered the pacing script with {reply!r}") from exc
        self.shared_rate = rate
        self._epoch = max(self._epoch, epoch)
        return max(0.0, delay), epoch

    async def reserve(self) -> float:
        """Book the next start slot of the shared schedule; return how long to wait for it."""
        delay, _ = await self._call(book=True)
        return delay

    async def acquire(self) -> None:
        """Wait until this request may start: first the session's own pace (no round trip),
        then the account's (one round trip to the storage).

        A slot booked before any limiter of the account slowed down is booked again, as the
        local pacer does, once this process has heard of the slow-down.
        """
        await self.local.acquire()
        while True:
            delay, epoch = await self._call(book=True)
            if delay <= 0:
                return
            await self._sleep(delay)
            if self._epoch == epoch:
                return

    async def flush(self) -> None:
        """Send a pending throttle report now, without booking a slot."""
        if self._pending_slow or self._pending_pause > 0:
            await self._call(book=False)

    def on_throttle(self, retry_after: float | None = None) -> None:
        """The server answered 429: the session's own pace adapts (see the local cap); from
        ``min_throttles`` 429s among its last ``window`` answers, every limiter of the
        account slows down too, and pauses for ``retry_after`` (sent with this limiter's
        next call to the storage)."""
        self.local.on_throttle(retry_after)
        if self.local.recent_throttles < self.min_throttles:
            return
        self._pending_slow = True
        if retry_after is not None and retry_after > 0:
            self._pending_pause = max(self._pending_pause, float(retry_after))

    def on_success(self) -> None:
        """A request went through unthrottled: measured locally; the shared pace may grow."""
        self.local.on_success()
        self._pending_growth = True
