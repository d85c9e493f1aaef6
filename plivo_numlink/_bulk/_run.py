"""The pool of a bulk job: a fixed set of workers over a lazily read input.

- At most ``concurrency`` workers pull *units* (a batch of numbers for link, one number for
  unlink) from the input, which is read lazily under a lock, validated and de-duplicated as
  it is read. However long the input, the job holds at most ``concurrency`` tasks and
  ``concurrency * batch_size`` numbers in flight.
- 401/403 stop the job at once; so does a server that keeps failing (an error budget of
  consecutive failed units, like botocore's retry quota). Nothing new is sent after a stop
  (the transport checks a gate right before each attempt); the rest of the input is still
  read and reported as not attempted, so every number is accounted for.
- Iterated (``async for outcome in run``), outcomes are handed over through a queue as they
  complete. Driven to its end by ``link_many``/``unlink_many`` (nobody iterates), the
  workers settle outcomes themselves: no queue, no async generator.
- With a journal, the input is read in windows of ``max(batch_size, 100)`` numbers, each
  looked up in the journal with one query (until every final outcome it held at the start
  has been met: a new journal costs no lookup): entries with a final outcome are reported
  from it and not sent; the rest wait in a shared queue that the workers send from. Outcomes of
  requests are recorded as they settle, and the journal is closed (committed) however the
  job ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import weakref
from collections import Counter, deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Sequence,
)
from typing import Any

from .._config import DEFAULT_BATCH_SIZE, check_batch_size
from .._errors import JournalError
from .._journal import Journal
from .._numbers import try_normalize_number, validate_callback, validate_campaign_id
from .._report import BulkReport, DuplicateEntry, NumberOutcome, OutcomeKind
from .._telemetry import Call
from .._transport import Requester
from ._input import entry_key, entry_text, open_input
from ._job import Job
from ._link import LinkStrategy
from ._unlink import UnlinkStrategy

__all__ = ["BulkRun"]

#: How many invalid/not-attempted outcomes one drain step hands over at a time.
_DRAIN_CHUNK = 500
#: The fewest numbers looked up in a journal per query (one query per unlink would cost
#: more than the request it saves).
_MIN_WINDOW = 100

_Deliver = Callable[[list[NumberOutcome]], Any]
#: A unit to send (or None) and the outcomes settled while reading the input.
_Unit = tuple[list[str] | None, list[NumberOutcome]]


class BulkRun:
    """One bulk link or unlink job; iterate it for outcomes as they complete.

    Created by :meth:`NumLinkSession.iter_link` and :meth:`NumLinkSession.iter_unlink`.
    Iterate it once (``async for outcome in run``); then :meth:`report` gives the outcomes
    in input order. If the iteration is abandoned or cancelled, :meth:`report` still
    accounts for every number read so far: those never sent as not attempted, those in
    flight as errors ("interrupted"). To leave the loop early, use the run as an async
    context manager (or call :meth:`aclose`), so that nothing keeps running behind you::

        async with session.iter_link("CUOGHIN", numbers) as run:
            async for outcome in run:
                if enough:
                    break
        report = run.report()
    """

    def __init__(
        self,
        requester: Requester,
        action: str,
        campaign_id: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        url: str | None = None,
        method: str | None = None,
        on_outcome: Callable[[NumberOutcome], object] | None = None,
        keep_report: bool = True,
        dedupe: bool = True,
        owner: Any = None,
        journal: str | os.PathLike[str] | None = None,
        span: str | None = None,
    ) -> None:
        if action not in ("link", "unlink"):  # pragma: no cover - internal misuse
            raise ValueError(f"unknown action {action!r}")
        self._owner = owner
        self.requester = requester
        self.action = action
        self.campaign_id = validate_campaign_id(campaign_id)
        callback = validate_callback(url, method)
        batch_size = check_batch_size(batch_size) if action == "link" else 1
        self._async_input, self._sync_input = open_input(numbers)
        self._on_outcome = on_outcome
        self._job = job = Job(
            requester, action, self.campaign_id, callback, keep_report=keep_report
        )
        self._strategy: LinkStrategy | UnlinkStrategy = (
            LinkStrategy(job, batch_size) if action == "link" else UnlinkStrategy(job)
        )
        self._concurrency = requester.concurrency
        self._input_lock = asyncio.Lock()
        self._exhausted = False
        # What grows with the input, each switchable off for endless streams: the outcomes
        # kept for report() (keep_report) and the numbers seen, for sending each once (dedupe).
        self._keep_report = keep_report
        self._dedupe = dedupe
        self._seen: set[str] = set()
        self._pending_batch: list[str] = []
        self._input_error: BaseException | None = None
        self._iterated = False
        # A weak reference: a strong one would keep an iteration abandoned with ``break``
        # alive, so the event loop's finalizer of async generators could never close it
        # and the workers would wait forever on the full queue.
        self._generator: weakref.ref[AsyncGenerator[NumberOutcome, None]] | None = None
        self._closed = asyncio.Event()
        #: Entries read so far (each one's ``index``).
        self._position = 0
        self._journal_path = None if journal is None else os.fspath(journal)
        self._journal: Journal | None = None
        #: With a journal: how many numbers one lookup covers, the numbers looked up and
        #: still to send, and the lookups under way (a worker with nothing to do waits for
        #: them rather than leave the last window to one worker).
        self._window = 0 if journal is None else max(batch_size, _MIN_WINDOW)
        self._to_send: deque[str] = deque()
        self._lookups = 0
        self._looked_up = asyncio.Event()
        #: Final outcomes in the journal not yet met in the input: none left, nothing more
        #: of the input can be in it (a new journal is never looked up at all).
        self._unfound = 0
        #: The name of the run's own call span (iter_link: "link_many"), or None: the
        #: caller's span covers the run. The span, and the outcome kinds it counts, while open.
        self._span = span
        self._call: Call | None = None
        self._kinds: Counter[OutcomeKind] = Counter()

    # -- public ---------------------------------------------------------------------------

    @property
    def session(self) -> Any:
        """The session that started the run."""
        return self._owner

    @property
    def stopped_reason(self) -> str | None:
        return self._job.stopped_reason

    @property
    def done(self) -> bool:
        return self._job.finished is not None

    def stop(self, reason: str = "stopped by the caller") -> None:
        """Send nothing new; the rest of the input is reported as not attempted.

        While the run is iterated, its workers read the rest of the input and settle it as
        not attempted. Once it is not (stopped before it started, or after its iteration was
        abandoned or cancelled), :meth:`report` reads the rest of a synchronous input itself,
        so the report still accounts for every entry: NOT_ATTEMPTED with ``reason``, INVALID
        for entries that are not numbers. (An async input is accounted for as far as it was
        read: reading it needs the event loop.)
        """
        self._job.stop(reason)

    def __aiter__(self) -> AsyncIterator[NumberOutcome]:
        self._claim()
        generator = self._iterate()
        self._generator = weakref.ref(generator)
        return generator

    async def aclose(self) -> None:
        """Stop the job now: cancel what is in flight and wait until nothing is left.

        Needed after leaving an ``async for`` early (``break``); the context manager form
        (``async with session.iter_link(...) as run:``) does it for you.
        """
        generator = self._generator() if self._generator is not None else None
        if generator is not None:
            await generator.aclose()
        elif self._job.started is not None:
            # The loop's finalizer is closing the abandoned iteration: wait for it.
            await self._closed.wait()
        if self._job.finished is None:
            self._job.finished = time.monotonic()

    async def __aenter__(self) -> BulkRun:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def report(self) -> BulkReport:
        """The outcomes in input order, one per distinct input entry read so far."""
        if not self._keep_report:
            raise RuntimeError(
                "this run keeps no report (keep_report=False): use the outcomes it yielded"
            )
        job = self._job
        if job.stopped_reason is not None and not self._exhausted and not self._running:
            self._read_rest()
        return job.report()

    async def run_to_report(self) -> BulkReport:
        """Drive the job to its end without iterating it, and return its report.

        The workers settle outcomes (and call ``on_outcome``) themselves: no queue, no async
        generator. Cancelling the awaiting task cancels the workers; an exception from
        ``on_outcome`` ends the job at once (as it ends an iteration) and is raised here.
        """
        self._claim()
        await self._open_journal()
        self._start()
        on_outcome = self._on_outcome
        settle = self._settler()

        def deliver(outcomes: list[NumberOutcome]) -> None:
            settle(outcomes)
            if on_outcome is not None:
                for outcome in outcomes:
                    on_outcome(outcome)

        spawn = self._call.spawn if self._call is not None else asyncio.ensure_future
        workers = [spawn(self._worker(deliver)) for _ in range(self._concurrency)]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            await self._end(workers)
        if self._input_error is not None:
            raise self._input_error
        return self.report()

    # -- the pool -------------------------------------------------------------------------

    @property
    def _running(self) -> bool:
        """Whether the workers are (or may still be) reading the input."""
        return self._job.started is not None and not self._closed.is_set()

    def _claim(self) -> None:
        if self._iterated:
            raise RuntimeError("a BulkRun can be iterated only once")
        self._iterated = True

    def _start(self) -> None:
        self._job.started = time.monotonic()
        if self._span is not None and self.requester.telemetry is not None:
            self._call = self.requester.telemetry.open_call(self._span, self.campaign_id)

    def _settler(self) -> Callable[[list[NumberOutcome]], None]:
        """The job's ``settle``; with a span of its own, counting the outcome kinds too."""
        settle = self._job.settle
        if self._call is None:
            return settle
        kinds = self._kinds

        def counted(outcomes: list[NumberOutcome]) -> None:
            settle(outcomes)
            for outcome in outcomes:
                kinds[outcome.kind] += 1  # by member: .value is a call per outcome

        return counted

    def _end_call(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            job = self._job
            stopped = job.stopped_reason is not None
            kinds = {kind.value: count for kind, count in self._kinds.items()}
            call.finish(kinds, requests=job.counter.count, stopped=stopped)
            call.count_outcomes(self.action, kinds)
            call.end()

    async def _open_journal(self) -> None:
        """Open the journal (if any) before anything is sent: a mismatch raises here."""
        if self._journal_path is not None:
            self._journal = await Journal.open(
                self._journal_path,
                account=self.requester.auth_id,
                campaign_id=self.campaign_id,
                action=self.action,
            )
            try:
                self._unfound = (await self._journal.stats()).final
            except BaseException:
                await self._journal.close()
                raise

    async def _end(self, workers: Sequence[asyncio.Future[None]]) -> None:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._job.finished = time.monotonic()
        self._end_call()
        try:
            if self._journal is not None:
                # Commits what is buffered even while the caller is being cancelled.
                try:
                    await self._journal.close()
                except JournalError as exc:
                    self._job.stop(f"the journal failed: {exc}")
        finally:
            self._closed.set()

    async def _iterate(self) -> AsyncGenerator[NumberOutcome, None]:
        await self._open_journal()
        self._start()
        queue: asyncio.Queue[list[NumberOutcome] | None] = asyncio.Queue(2 * self._concurrency)
        settle = self._settler()

        async def deliver(outcomes: list[NumberOutcome]) -> None:
            settle(outcomes)
            await queue.put(outcomes)

        async def work() -> None:
            try:
                await self._worker(deliver)
            except Exception as exc:  # pragma: no cover - defensive: never leave the reader hanging
                self._job.stop(f"internal error: {exc!r}")
            await queue.put(None)

        spawn = self._call.spawn if self._call is not None else asyncio.ensure_future
        workers = [spawn(work()) for _ in range(self._concurrency)]
        running = len(workers)
        try:
            while running:
                batch = await queue.get()
                if batch is None:
                    running -= 1
                    continue
                for outcome in batch:
                    if self._on_outcome is not None:
                        self._on_outcome(outcome)
                    yield outcome
        finally:
            await self._end(workers)
        if self._input_error is not None:
            raise self._input_error

    async def _worker(self, deliver: _Deliver) -> None:
        """Send units until the input is done; hand each unit's outcomes to ``deliver``.

        ``deliver`` returns an awaitable when it may have to wait (the iteration's queue).
        """
        job = self._job
        send_unit = self._strategy.send_unit
        sync_input = self._sync_input is not None
        journal = self._journal
        while True:
            if journal is not None:
                unit, ready = await self._resumable_unit(journal)
            else:
                unit, ready = self._read_unit() if sync_input else await self._next_unit()
            if ready:
                pending = deliver(ready)
                if pending is not None:
                    await pending
            if unit is None:
                if not ready:
                    return
                # Nothing was sent, so nothing awaited: let the loop run (a cancellation, the
                # other workers) while a long run of invalid or not-attempted entries drains.
                await asyncio.sleep(0)
                continue
            try:
                if job.stopped_reason is not None:
                    outcomes = job.not_attempted(unit)
                else:
                    outcomes = await send_unit(unit)
            except Exception as exc:  # pragma: no cover - a bug must not lose numbers
                outcomes = [
                    job.outcome(n, OutcomeKind.ERROR, error=f"internal error: {exc!r}")
                    for n in unit
                ]
            if journal is not None:
                self._record(journal, outcomes)
            pending = deliver(outcomes)
            if pending is not None:
                await pending

    async def _resumable_unit(self, journal: Journal) -> _Unit:
        """With a journal: the next unit to send, or outcomes it already holds."""
        job = self._job
        to_send = self._to_send
        while True:
            size = self._strategy.batch_size
            if len(to_send) >= size or (to_send and (self._exhausted or job.stopped_reason)):
                return [to_send.popleft() for _ in range(min(size, len(to_send)))], []
            window, ready = (
                self._read_unit() if self._sync_input is not None else await self._next_unit()
            )
            if window and self._unfound > 0:
                self._lookups += 1
                try:
                    found = await journal.final_outcomes(window)
                except JournalError as exc:
                    job.stop(f"the journal failed: {exc}")
                    found = {}
                finally:
                    self._lookups -= 1
                    self._looked_up.set()
                    self._looked_up = asyncio.Event()
                if found:
                    self._unfound -= len(found)
                    job.resumed += len(found)
                    ready.extend(job.resumed_outcome(found[n]) for n in window if n in found)
                    window = [n for n in window if n not in found]
            if window:
                to_send.extend(window)
            if ready:
                return None, ready
            if window is None and not to_send:
                if not self._lookups:
                    return None, []
                await self._looked_up.wait()

    def _record(self, journal: Journal, outcomes: list[NumberOutcome]) -> None:
        """Record the outcomes of a request; a journal that fails stops the job."""
        settled = [o for o in outcomes if o.kind is not OutcomeKind.NOT_ATTEMPTED]
        if settled:
            try:
                journal.record(settled)
            except JournalError as exc:
                self._job.stop(f"the journal failed: {exc}")

    def _read_unit(self) -> _Unit:
        """:meth:`_next_unit` for a synchronous input: no await in it, so no lock needed."""
        ready: list[NumberOutcome] = []
        source = self._sync_input
        assert source is not None
        while True:
            step = self._check(ready)
            if step is not None:
                return step
            try:
                raw = next(source)
            except StopIteration:
                self._exhausted = True
                continue
            except Exception as exc:
                self._input_failed(exc)
                continue
            step = self._admit(raw, ready)
            if step is not None:
                return step

    async def _next_unit(self) -> _Unit:
        """The next unit to send, and outcomes settled while reading (invalid numbers).

        Returns ``(None, [])`` when the input is done. (An async input; a synchronous one
        is read by :meth:`_read_unit`.)
        """
        source = self._async_input
        assert source is not None
        async with self._input_lock:
            ready: list[NumberOutcome] = []
            while True:
                step = self._check(ready)
                if step is not None:
                    return step
                try:
                    raw = await source.__anext__()
                except StopAsyncIteration:
                    self._exhausted = True
                    continue
                except Exception as exc:
                    self._input_failed(exc)
                    continue
                step = self._admit(raw, ready)
                if step is not None:
                    return step

    def _input_failed(self, exc: Exception) -> None:
        self._input_error = exc
        self._job.stop(f"reading the input failed: {type(exc).__name__}: {exc}")
        self._exhausted = True

    def _check(self, ready: list[NumberOutcome]) -> _Unit | None:
        """Before reading an entry: what to hand over instead, if anything."""
        job = self._job
        if job.stopped_reason is not None:
            ready.extend(job.not_attempted(self._take_batch()))
        if self._exhausted:
            batch = self._take_batch()
            if batch:
                return batch, ready
            return None, ready
        if len(ready) >= _DRAIN_CHUNK:
            return None, ready
        return None

    def _admit(self, raw: object, ready: list[NumberOutcome]) -> _Unit | None:
        """Check, de-duplicate and record one entry; return a unit once one is ready."""
        job = self._job
        number, reason = try_normalize_number(raw)
        key = self._enter(raw, number)
        if key is None:
            return None
        if number is None:
            ready.append(job.outcome(key, OutcomeKind.INVALID, error=reason))
            return (None, ready) if job.stopped_reason is None else None
        pending = self._pending_batch
        pending.append(number)
        size = self._window or self._strategy.batch_size
        if job.stopped_reason is None and len(pending) >= size:
            return self._take_batch(), ready
        return None

    def _enter(self, raw: object, number: str | None) -> str | None:
        """Put one entry in the ledger; its key, or None for a repeat (dropped)."""
        job = self._job
        key = entry_key(raw, number)
        index = self._position
        self._position = index + 1
        text = raw if type(raw) is str else entry_text(raw)
        if self._dedupe:
            # With a report, the ledger's positions hold every key: no second set needed.
            seen = job.positions if self._keep_report else self._seen
            if key in seen:
                job.duplicates += 1
                if self._keep_report:
                    job.duplicate_entries.append(DuplicateEntry(index, text, job.positions[key]))
                return None
            if not self._keep_report:
                self._seen.add(key)
        job.admit(key, text, index)
        if self._keep_report:
            job.order.append(key)
        return key

    def _take_batch(self) -> list[str]:
        batch, self._pending_batch = self._pending_batch, []
        return batch

    def _read_rest(self) -> None:
        """Account for the unread rest of a synchronous input once the job has stopped."""
        rest = self._sync_input
        if rest is None:
            return
        self._exhausted = True
        job = self._job
        # An input that fails while read here ends the report where it failed.
        with contextlib.suppress(Exception):
            for raw in rest:
                number, reason = try_normalize_number(raw)
                key = self._enter(raw, number)
                if key is None:
                    continue
                if number is None:
                    job.outcomes[key] = job.outcome(key, OutcomeKind.INVALID, error=reason)
                # A valid number without an outcome is reported as not attempted.
