"""The journal of a resumable bulk job: settled outcomes kept in an SQLite file.

A journal belongs to one account, campaign and operation (link or unlink). It holds one row
per input entry, keyed by the entry's report key (``NumberOutcome.number``), with the
entry's latest settled :class:`NumberOutcome` and whether that outcome is final
(:func:`is_final`). A later run with the same journal looks each batch up before sending it
and sends nothing for entries whose outcome is final.

How it stays cheap and safe:

- ``record()`` only puts outcomes in a buffer; a timer commits the buffer ``flush_interval``
  seconds after the first outcome in it settled, in one transaction. Time-batched commits
  cost a few microseconds per outcome; a commit per outcome would cost a disk sync each.
- SQLite runs on one dedicated worker thread, so the event loop never waits for the disk.
  That thread runs jobs in order: a lookup sees every write submitted before it.
- The file is in WAL mode with ``synchronous=NORMAL``: a committed transaction survives the
  process being killed (kill -9); only an operating system crash or power loss can lose the
  last commits.
- Lookups go per batch, with one query per batch: resuming a job of a million numbers holds
  one batch of outcomes in memory, not the journal.
- One run at a time: opening takes an exclusive ``fcntl.flock`` on a lock file beside the
  journal (``job.db`` -> ``job.db.lock``), held until :meth:`Journal.close` and released by
  the operating system when the process ends, even by kill -9. A second opening (another
  process, or this one) raises :class:`JournalError` before anything is sent. (SQLite's own
  exclusive locking mode was not chosen: it would also shut out readers of the file.)
- A journal that cannot be written (read-only file or directory) is refused at open: a
  write transaction is tried there and rolled back.
- A write that fails (disk full, file removed) is never dropped silently: its outcomes go
  back in the buffer and the next ``record()``, ``flush()`` or ``close()`` raises
  :class:`JournalError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import types
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future as ConcurrentFuture
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import attrs

from ._errors import JournalError
from ._journal_store import FORMAT_VERSION, JournalHeader, JournalStore, is_final
from ._report import NumberOutcome

__all__ = [
    "DEFAULT_FLUSH_INTERVAL",
    "FORMAT_VERSION",
    "Journal",
    "JournalError",
    "JournalHeader",
    "JournalStats",
    "is_final",
]

T = TypeVar("T")

_log = logging.getLogger("plivo_numlink.journal")

#: Seconds between an outcome settling and the commit that holds it (the issue asks for
#: commits within 0.5 s of settling; the rest of the half second is for the commit itself).
DEFAULT_FLUSH_INTERVAL = 0.25
_ACTIONS = ("link", "unlink")


@attrs.frozen
class JournalStats:
    """How many entries a journal holds, and how many of them are final."""

    entries: int
    final: int


class Journal:
    """The SQLite journal of one bulk job; make one with :meth:`Journal.open`.

    Use from the event loop thread that opened it. ``record()`` is synchronous and cheap;
    everything that touches the file is a coroutine run on the journal's own thread.
    """

    def __init__(
        self,
        *,
        store: JournalStore,
        executor: ThreadPoolExecutor,
        loop: asyncio.AbstractEventLoop,
        flush_interval: float,
    ) -> None:
        self.path = store.path
        self.header = store.header
        self.flush_interval = flush_interval
        self._store = store
        self._executor = executor
        self._loop = loop
        #: Outcomes recorded but not yet handed to the writer, by key; the newest wins.
        self._buffer: dict[str, NumberOutcome] = {}
        self._timer: asyncio.TimerHandle | None = None
        #: Writes handed to the worker thread and not yet finished.
        self._writing: set[asyncio.Future[None]] = set()
        self._failure: JournalError | None = None
        self._closing = False
        self._close_task: asyncio.Future[None] | None = None

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        account: str,
        campaign_id: str,
        action: str,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
    ) -> Journal:
        """Open the journal at ``path``, making the file if it does not exist.

        Raises ``ValueError`` when the file belongs to another account, campaign or
        operation, is not a journal, or was written by a newer version of this library;
        :class:`JournalError` when it cannot be opened at all (missing directory, no
        permission, a directory), cannot be written (read-only file or directory), or is
        held by another run (its lock file ``<path>.lock`` is locked): until :meth:`close`,
        this run holds it.
        """
        if action not in _ACTIONS:
            raise ValueError(f"action must be 'link' or 'unlink', not {action!r}")
        for name, value in (("account", account), ("campaign_id", campaign_id)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, not {value!r}")
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be a positive number, not {flush_interval!r}")
        file = Path(os.fspath(path))
        wanted = JournalHeader(
            account=account, campaign_id=campaign_id, action=action, created=_now()
        )
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plivo-numlink-journal")
        opening = executor.submit(JournalStore.open, file, wanted)
        try:
            store = await asyncio.wrap_future(opening)
        except BaseException:
            # A cancelled open may still finish on the thread: close what it opened there,
            # and wait for that (unless cancelled again), so that the journal's lease is free
            # for the next opening when this one has ended.
            closing = executor.submit(_close_opened, opening)
            executor.shutdown(wait=False)
            with contextlib.suppress(BaseException):  # the error being handled is raised below
                await asyncio.shield(asyncio.wrap_future(closing))
            raise
        return cls(store=store, executor=executor, loop=loop, flush_interval=flush_interval)

    # -- recording --------------------------------------------------------------------------

    def record(self, outcomes: NumberOutcome | Iterable[NumberOutcome]) -> None:
        """Buffer settled outcomes; they are committed within ``flush_interval`` seconds.

        A later record of the same entry replaces the earlier one. Raises
        :class:`JournalError` (recording nothing) when the journal is closed or a write has
        failed since the last successful :meth:`flush`.
        """
        if self._closing:
            raise JournalError(f"journal {self.path.name} is closed")
        if self._failure is not None:
            raise self._failure
        buffer = self._buffer
        try:
            if isinstance(outcomes, NumberOutcome):
                buffer[outcomes.number] = outcomes
            else:
                for outcome in outcomes:
                    buffer[outcome.number] = outcome
        finally:
            # Even when the iterable fails midway: what it gave is recorded and committed.
            if self._timer is None and buffer:
                self._timer = self._loop.call_later(self.flush_interval, self._timed_flush)

    def _timed_flush(self) -> None:
        self._timer = None
        self._write_buffer()

    def _write_buffer(self) -> None:
        """Hand the buffer to the worker thread as one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buffer:
            return
        batch = list(self._buffer.values())
        self._buffer = {}
        future = asyncio.wrap_future(
            self._executor.submit(self._store.write, batch), loop=self._loop
        )
        self._writing.add(future)
        future.add_done_callback(lambda done: self._written(done, batch))

    def _written(self, future: asyncio.Future[None], batch: list[NumberOutcome]) -> None:
        self._writing.discard(future)
        exc = asyncio.CancelledError() if future.cancelled() else future.exception()
        if exc is None:
            return
        # Keep the outcomes for the next flush; anything recorded since is newer and wins.
        for outcome in batch:
            self._buffer.setdefault(outcome.number, outcome)
        if isinstance(exc, JournalError):
            self._failure = exc
        else:
            self._failure = JournalError(
                f"cannot write journal {self.path.name}: {type(exc).__name__}: {exc}"
            )
            self._failure.__cause__ = exc

    async def flush(self) -> None:
        """Commit every outcome recorded so far, now.

        Raises :class:`JournalError` when a write fails; the outcomes stay buffered and a
        later successful ``flush()`` writes them (and lets ``record()`` work again).
        Cancelling the caller does not cancel the commit.
        """
        if self._close_task is not None:
            raise JournalError(f"journal {self.path.name} is closed")
        await self._flush()

    async def _flush(self) -> None:
        self._write_buffer()
        writes = list(self._writing)
        if writes:
            await asyncio.shield(asyncio.gather(*writes, return_exceptions=True))
        failed = [w for w in writes if w.cancelled() or w.exception() is not None]
        if failed:
            # A failed write put its outcomes back in the buffer; say so, with the cause.
            error = self._failure or JournalError(f"cannot write journal {self.path.name}")
            count = len(self._buffer)
            raise JournalError(
                f"{error} ({count} outcome{'' if count == 1 else 's'} not written yet)"
            ) from error.__cause__
        self._failure = None

    # -- reading ----------------------------------------------------------------------------

    async def final_outcomes(self, keys: Sequence[str]) -> dict[str, NumberOutcome]:
        """The final outcomes (:func:`is_final`) recorded for ``keys``, by key.

        One query per call (per 500 keys): call it once per batch before sending the batch.
        Outcomes recorded but not yet committed count too, newest first.
        """
        self._check_open()
        if not keys:
            return {}
        wanted = list(keys)
        found = await self._run(self._store.final_outcomes, wanted)
        buffer = self._buffer
        if buffer:
            for key in wanted:
                newer = buffer.get(key)
                if newer is None:
                    continue
                if is_final(newer):
                    found[key] = newer
                else:
                    found.pop(key, None)
        return found

    async def stats(self) -> JournalStats:
        """How many entries the journal holds and how many are final (flushes first)."""
        self._check_open()
        await self._flush()
        entries, final = await self._run(self._store.counts)
        return JournalStats(entries=entries, final=final)

    async def count_final(self) -> int:
        """How many entries have a final outcome (flushes first)."""
        return (await self.stats()).final

    # -- closing ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._close_task is not None

    async def close(self) -> None:
        """Commit what is buffered, then close the file. Idempotent.

        Cancelling the caller does not stop the final commit: ``close()`` waits for it,
        then lets the cancellation go on, so a graceful stop loses nothing. Raises
        :class:`JournalError` (on the first call) when outcomes could not be written.
        """
        first = self._close_task is None
        if self._close_task is None:
            self._closing = True
            self._close_task = self._loop.create_task(self._close())
        task = self._close_task
        cancelled = False
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = cancelled or not task.done()
            except Exception:  # the task's own error is raised below
                pass
        error = None if task.cancelled() else task.exception()
        if cancelled:
            if error is not None:
                _log.error("closing journal %s lost outcomes: %s", self.path, error)
            raise asyncio.CancelledError
        if first and error is not None:
            raise error

    async def _close(self) -> None:
        try:
            await self._flush()
        finally:
            await asyncio.wrap_future(self._executor.submit(self._store.close))
            self._executor.shutdown(wait=False)

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        header = self.header
        return (
            f"<Journal {str(self.path)!r} {header.action} campaign={header.campaign_id}"
            f" account={header.account} {state}>"
        )

    # -- helpers ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing:
            raise JournalError(f"journal {self.path.name} is closed")

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self._executor.submit(function, *args), loop=self._loop)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _close_opened(opening: ConcurrentFuture[JournalStore]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()
