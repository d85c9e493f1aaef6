"""EventHub: status callbacks handed from the receiver to the waits, in one process or many.

A receiver publishes each verified event (``callbacks.handler(hub.publish, ...)``); a bulk
call or wait given ``events=hub`` settles a number as soon as its final callback (``success``
or ``failed``) is there, and polls only as a safety net.

What is kept
------------
One event per (account, campaign, number): the latest *final* one, of either kind, so an
unlinking callback replaces an older linking one and a wait after a re-link does not take
the first link's callback for the new one. ``created`` callbacks settle nothing and are not
kept. An event is kept ``retention`` seconds (default one hour), so an event that came
before the wait began still counts.

- In process (``EventHub()``): at most ``max_events`` events (default 100,000, a few tens of
  MB at most), the oldest dropped first; memory does not grow past that however long the
  hub lives.
- Through Redis (``EventHub("redis://host:port/db")``, the ``plivo-numlink[redis]`` extra):
  each event is one key with a time to live of ``retention`` (a wait reads the ones it
  needs with MGET, 500 at a time) plus one entry in a stream capped near ``max_events``
  entries, which waiting processes read with a blocking XREAD. A stream alone would make
  every wait read the whole hour's traffic to find its own numbers; keys alone cannot tell a
  waiter that something new came.

Close the hub (``await hub.aclose()``, or ``async with``) when the program ends: it closes
the Redis connections; an in-process hub just forgets its events. A closed hub refuses
``publish`` with :class:`~plivo_numlink.StorageError`, and waits given it fall back to
polling.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

from .._storage import KEY_PREFIX, RedisStorage, StorageError, hashed_name, open_storage
from ._events import CallbackEvent, CallbackKind, CallbackStatus

__all__ = ["DEFAULT_EVENT_RETENTION", "DEFAULT_MAX_EVENTS", "EventHub", "EventWatch"]

#: Seconds an event is kept for waits that begin after it came.
DEFAULT_EVENT_RETENTION = 3600.0
#: Events an in-process hub keeps at most (and the Redis stream's approximate cap).
DEFAULT_MAX_EVENTS = 100_000

_FINAL = (CallbackStatus.SUCCESS, CallbackStatus.FAILED)
_MGET_CHUNK = 500
#: Longest blocking XREAD, in seconds (kept under the storage's socket timeout).
_BLOCK = 1.0

Key = tuple[str | None, str, str]


def _encode(event: CallbackEvent, account: str | None, at: float) -> str:
    return json.dumps(
        {
            "account": account,
            "at": at,
            "kind": event.kind.value,
            "number": event.number,
            "campaign_id": event.campaign_id,
            "status": event.status.value,
            "reason": event.reason,
            "raw_status": event.raw_status,
            "raw_kind": event.raw_kind,
            "raw": event.raw,
        },
        separators=(",", ":"),
    )


def _decode(text: str) -> tuple[CallbackEvent, str | None, float] | None:
    """An event stored by :func:`_encode`, or None for anything else (never raises)."""
    try:
        data = json.loads(text)
        raw = data.get("raw") or {}
        event = CallbackEvent(
            kind=CallbackKind(data["kind"]),
            number=data["number"],
            campaign_id=data["campaign_id"],
            status=CallbackStatus(data["status"]),
            reason=data.get("reason"),
            raw_status=data.get("raw_status"),
            raw_kind=data.get("raw_kind"),
            raw=raw if isinstance(raw, dict) else {},
        )
        account = data.get("account")
        at = float(data["at"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(event.number, str) or not isinstance(event.campaign_id, str):
        return None
    return event, account if isinstance(account, str) else None, at


class EventHub:
    """Status callbacks shared between receivers and waits (see the module docstring).

    ``uri``: ``None`` or ``"memory://"`` keeps events in this process; ``"redis://..."`` or
    ``"rediss://..."`` shares them through Redis. ``account``: the auth id the events
    published through :meth:`publish` belong to; ``None`` matches a wait of any account
    (enough when one account uses the hub; use :meth:`publisher` per account otherwise).
    ``clock`` gives wall-clock seconds (events are compared across processes).
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        account: str | None = None,
        retention: float = DEFAULT_EVENT_RETENTION,
        max_events: int = DEFAULT_MAX_EVENTS,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(retention, bool) or not isinstance(retention, int | float) or retention <= 0:
            raise ValueError(f"retention must be a number of seconds > 0, not {retention!r}")
        if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1:
            raise ValueError(f"max_events must be an integer >= 1, not {max_events!r}")
        self.account = account
        self.retention = float(retention)
        self.max_events = max_events
        self._clock = clock
        self._storage: RedisStorage | None = open_storage(uri, timeout=timeout)
        self._events: OrderedDict[Key, tuple[CallbackEvent, str | None, float]] = OrderedDict()
        self._watches: set[EventWatch] = set()
        self._closed = False

    def __repr__(self) -> str:
        where = self._storage.config.url if self._storage is not None else "memory://"
        return f"<EventHub {where} {'closed' if self._closed else 'open'}>"

    @property
    def shared(self) -> bool:
        """Whether events go through Redis (other processes see them)."""
        return self._storage is not None

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> EventHub:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Forget the events, end the watches, close the Redis connections. Idempotent."""
        self._closed = True
        self._events.clear()
        for watch in list(self._watches):
            watch._wake()
        if self._storage is not None:
            await self._storage.aclose()

    async def close(self) -> None:
        """The same as :meth:`aclose`."""
        await self.aclose()

    def __len__(self) -> int:
        """Events kept in this process (0 for a Redis hub, whose events live in Redis)."""
        return len(self._events)

    # -- publishing -------------------------------------------------------------------------

    async def publish(self, event: CallbackEvent) -> None:
        """Hand ``event`` to every wait it concerns (an ``on_event`` for any receiver)."""
        await self._publish(event, self.account)

    def publisher(self, account: str) -> Callable[[CallbackEvent], Awaitable[None]]:
        """An ``on_event`` publishing as ``account`` (the auth id whose token verified it)."""

        async def publish(event: CallbackEvent) -> None:
            await self._publish(event, account)

        return publish

    async def _publish(self, event: CallbackEvent, account: str | None) -> None:
        if self._closed:
            raise StorageError("the event hub has been closed")
        if event.status not in _FINAL or event.kind is CallbackKind.UNKNOWN:
            return  # settles nothing
        if not event.number or not event.campaign_id:
            return  # cannot be matched to a wait
        at = self._clock()
        if self._storage is None:
            self._remember(event, account, at)
            for watch in list(self._watches):
                watch._offer(event, account)
            return
        storage, text = self._storage, _encode(event, account, at)
        key = self._key(account, event.campaign_id, event.number)
        stream = self._stream()
        ttl = max(1, round(self.retention))

        async def write(client: Any) -> None:
            async with client.pipeline(transaction=False) as pipe:
                pipe.set(key, text, ex=ttl)
                pipe.xadd(stream, {"e": text}, maxlen=self.max_events, approximate=True)
                pipe.expire(stream, ttl)
                await pipe.execute()

        await storage.call("publishing a callback event", write)

    def _remember(self, event: CallbackEvent, account: str | None, at: float) -> None:
        key = (account, str(event.campaign_id), str(event.number))
        self._events.pop(key, None)
        self._events[key] = (event, account, at)
        horizon = at - self.retention
        while self._events:
            _, (_, _, first_at) = next(iter(self._events.items()))
            if len(self._events) <= self.max_events and first_at >= horizon:
                break
            self._events.popitem(last=False)

    # -- for the waits ------------------------------------------------------------------------

    def _key(self, account: str | None, campaign_id: str, number: str) -> str:
        return f"{KEY_PREFIX}:events:{hashed_name(f'{account}|{campaign_id}|{number}')}"

    def _stream(self) -> str:
        return f"{KEY_PREFIX}:events:stream"

    def watch(
        self, *, account: str, campaign_id: str, kind: CallbackKind, since: float | None = None
    ) -> EventWatch:
        """What a wait uses: the final ``kind`` events of one account's campaign.

        Events published before ``since`` (wall-clock seconds) do not count; ``None``: any
        event still kept. Use it as ``async with hub.watch(...) as watch:``.
        """
        return EventWatch(self, account, campaign_id, kind, since)


class EventWatch:
    """One wait's view of a hub: what is kept (:meth:`lookup`) and what comes (:meth:`take`)."""

    def __init__(
        self,
        hub: EventHub,
        account: str,
        campaign_id: str,
        kind: CallbackKind,
        since: float | None,
    ) -> None:
        self._hub = hub
        self._account = account
        self._campaign_id = campaign_id
        self._kind = kind
        self._since = since
        self._buffer: list[CallbackEvent] = []
        self._arrived = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._last_id = "0-0"

    def _matches(self, event: CallbackEvent, account: str | None, at: float | None = None) -> bool:
        return (
            event.kind is self._kind
            and event.campaign_id == self._campaign_id
            and account in (None, self._account)
            and (at is None or self._since is None or at >= self._since)
        )

    def _offer(self, event: CallbackEvent, account: str | None) -> None:
        if self._matches(event, account):
            self._buffer.append(event)
            self._arrived.set()

    def _wake(self) -> None:
        self._arrived.set()

    async def __aenter__(self) -> EventWatch:
        hub = self._hub
        if hub._closed:
            return self
        if hub._storage is None:
            hub._watches.add(self)
            return self
        storage, stream = hub._storage, hub._stream()

        async def last_id(client: Any) -> str:
            entries = await client.xrevrange(stream, count=1)
            return str(entries[0][0]) if entries else "0-0"

        # The stream's end is taken before the keys are read: an event published in between
        # is seen twice (harmless) rather than not at all.
        self._last_id = await storage.call("reading the event stream", last_id)
        self._pump = asyncio.ensure_future(self._read_stream(storage, stream))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._hub._watches.discard(self)
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
            self._pump = None

    async def _read_stream(self, storage: RedisStorage, stream: str) -> None:
        block = max(1, round(min(_BLOCK, storage.timeout / 2) * 1000))
        while True:

            async def read(client: Any, last: str = self._last_id) -> Any:
                return await client.xread({stream: last}, count=1000, block=block)

            try:
                answer = await storage.call("reading the event stream", read)
            except StorageError:
                # The wait's polling goes on; try again shortly.
                await asyncio.sleep(_BLOCK)
                continue
            for _, entries in answer or ():
                for entry_id, fields in entries:
                    self._last_id = str(entry_id)
                    decoded = _decode(fields.get("e", "")) if isinstance(fields, dict) else None
                    if decoded is not None and self._matches(*decoded):
                        self._buffer.append(decoded[0])
                        self._arrived.set()

    async def lookup(self, numbers: Iterable[str]) -> list[CallbackEvent]:
        """The kept final events of this watch's kind for ``numbers`` (since ``since``)."""
        hub = self._hub
        wanted = list(numbers)
        if hub._closed or not wanted:
            return []
        found: list[CallbackEvent] = []
        if hub._storage is None:
            horizon = hub._clock() - hub.retention
            for number in wanted:
                for account in (self._account, None):
                    kept = hub._events.get((account, self._campaign_id, number))
                    if kept is not None and kept[2] >= horizon and self._matches(*kept):
                        found.append(kept[0])
                        break
            return found
        storage = hub._storage
        for start in range(0, len(wanted), _MGET_CHUNK):
            chunk = wanted[start : start + _MGET_CHUNK]
            keys = [hub._key(a, self._campaign_id, n) for n in chunk for a in (self._account, None)]

            async def mget(client: Any, keys: list[str] = keys) -> Any:
                return await client.mget(keys)

            values = await storage.call("reading callback events", mget)
            for value in values:
                decoded = _decode(value) if isinstance(value, str) else None
                if decoded is not None and self._matches(*decoded):
                    found.append(decoded[0])
        return found

    def take(self) -> list[CallbackEvent]:
        """The events that came since the last call (matching this watch), oldest first."""
        events, self._buffer = self._buffer, []
        self._arrived.clear()
        return events

    async def arrived(self) -> None:
        """Return once an event is waiting to be taken (or the hub was closed)."""
        await self._arrived.wait()
