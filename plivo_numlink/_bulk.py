"""Bulk link and unlink: a bounded pool of workers over a lazily read input.

The shape of a job (:class:`BulkRun`):

- A fixed pool of at most ``concurrency`` workers pulls *units* (a batch of numbers for
  link, one number for unlink) from the input, which is read lazily under a lock, validated
  and de-duplicated as it is read. However long the input, the job holds at most
  ``concurrency`` tasks and ``concurrency * batch_size`` numbers in flight.
- Each unit is sent through the session (its semaphore, rate limiter and retry policy).
  A link batch rejected with a 4xx other than 401/403 is split: a number the error names is
  settled on its own and the rest re-sent; otherwise the batch is halved, recursively, so
  ``k`` bad numbers cost at most about ``2 * k * log2(batch_size)`` extra requests (both
  halves are sent at every level). When both halves of an unexplained rejection go through,
  the server has a batch cap: later batches use it.
- Errors that say the desired state already holds (already requested/linked for link, not
  linked for unlink) are outcomes of their own kind (``ALREADY``) and count as ok, which is
  what makes a retried POST after a lost answer, and a re-run of a whole job, safe.
- 401/403 stop the job at once; so does a server that keeps failing (an error budget of
  consecutive failed units, like botocore's retry quota). Nothing new is sent after a stop
  (the session checks a gate right before each attempt); the rest of the input is still
  read and reported as not attempted, so every number is accounted for.
- Outcomes are yielded as they complete (``async for outcome in run``); the run keeps them
  and :meth:`BulkRun.report` puts them back in input order.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from typing import TYPE_CHECKING, Any

import attrs

from . import _sansio
from ._errors import (
    APIStatusError,
    AuthenticationError,
    CampaignNotFoundError,
    ForbiddenError,
    NotFoundError,
    PlivoError,
    ResponseFormatError,
    TransportError,
)
from ._models import LinkStatus
from ._numbers import try_normalize_number, validate_callback, validate_campaign_id
from ._report import BulkReport, NumberOutcome, OutcomeKind
from ._sansio import CallStats

if TYPE_CHECKING:
    from ._session import NumLinkSession

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BulkRun",
    "JobStopped",
    "is_already_in_state",
]

#: Numbers per link request. Plivo documents no cap; 50 keeps a rejected batch cheap to
#: bisect (at most ~6 extra requests per bad number) while 10,000 numbers need only 200
#: requests (4 s at the default 50 requests/s).
DEFAULT_BATCH_SIZE = 50
#: Units that may fail in a row (after their retries) before the job stops.
MIN_ERROR_BUDGET = 10
#: How many invalid/not-attempted outcomes one drain step hands over at a time.
_DRAIN_CHUNK = 500

_ALREADY_LINKED = re.compile(
    r"\balready\s+(?:been\s+)?(?:requested|linked|associated|added|exists|present)", re.I
)
_OTHER_CAMPAIGN = re.compile(r"\b(?:another|other|different)\s+campaign\b", re.I)
_NOT_LINKED = re.compile(r"\bnot\s+(?:been\s+)?(?:linked|associated)\b", re.I)
_DIGITS = _sansio.DIGITS


class JobStopped(PlivoError):
    """Raised inside a bulk job's requests once the job has stopped (never escapes it)."""


def is_already_in_state(action: str, exc: APIStatusError) -> bool:
    """Whether a 4xx answer means the desired state already holds for ``action``.

    Link: "The number X is already requested for linking" (or already linked), but not
    "linked to another campaign". Unlink: "The number X is not linked to this campaign".
    """
    if not 400 <= exc.status_code < 500 or exc.status_code in (401, 403, 408, 429):
        return False
    text = exc.message
    if action == "link":
        return bool(_ALREADY_LINKED.search(text)) and not _OTHER_CAMPAIGN.search(text)
    if _NOT_LINKED.search(text):
        # "campaign not found" is about the campaign, not the number.
        return "campaign" not in text.lower() or "this campaign" in text.lower()
    return False


def is_campaign_missing(exc: APIStatusError) -> bool:
    """Whether a 404 is about the campaign itself (unknown campaign), not one number."""
    return isinstance(exc, CampaignNotFoundError) or _sansio.is_campaign_missing_text(
        exc.status_code, exc.message
    )


def numbers_named(text: str, candidates: Iterable[str]) -> list[str]:
    """The numbers among ``candidates`` (normalized) that ``text`` mentions."""
    wanted = set(candidates)
    found: list[str] = []
    for match in _DIGITS.finditer(text):
        number, _ = try_normalize_number(match.group())
        if number is not None and number in wanted and number not in found:
            found.append(number)
    return found


def entry_key(raw: object, number: str | None) -> str:
    """How an input entry is known in a report: its number, else its own text.

    An entry that is not a string is shown by its ``repr``, unless that reads as a valid
    number: the integer 12125557777 must not take the place of the string "12125557777"
    (which would then be dropped as its duplicate and never sent).
    """
    if number is not None:
        return number
    if isinstance(raw, str):
        return raw
    text = repr(raw)
    if try_normalize_number(text)[0] is not None:
        return f"{type(raw).__name__}({text})"
    return text


async def _aiter(numbers: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(numbers, AsyncIterable):
        async for item in numbers:
            yield item
    else:
        for item in numbers:
            yield item


def _as_input(numbers: Any) -> AsyncIterator[Any]:
    return _open_input(numbers)[0]


def _open_input(numbers: Any) -> tuple[AsyncIterator[Any], Iterator[Any] | None]:
    """The input as an async iterator, and the plain iterator behind it if it is synchronous.

    The plain iterator lets a stopped job read the rest of a synchronous input without an
    event loop, so its report still accounts for every entry.
    """
    if isinstance(numbers, str | bytes):
        # One number, not an iterable of characters.
        numbers = [numbers]
    if isinstance(numbers, AsyncIterable):
        return _aiter(numbers), None
    if not isinstance(numbers, Iterable):
        raise TypeError(
            f"numbers must be an iterable or async iterable of strings, "
            f"not {type(numbers).__name__}"
        )
    iterator = iter(numbers)
    return _aiter(iterator), iterator


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, not {batch_size!r}")
    return batch_size


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
        session: NumLinkSession,
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
    ) -> None:
        if action not in ("link", "unlink"):  # pragma: no cover - internal misuse
            raise ValueError(f"unknown action {action!r}")
        self._session = session
        self.action = action
        self.campaign_id = validate_campaign_id(campaign_id)
        self._callback = validate_callback(url, method)
        self._batch_size = _check_batch_size(batch_size) if action == "link" else 1
        self._input, self._sync_input = _open_input(numbers)
        self._on_outcome = on_outcome
        self._path = _sansio.campaign_path(session.auth_id, self.campaign_id)
        self._input_lock = asyncio.Lock()
        self._exhausted = False
        # What grows with the input, each switchable off for endless streams: the outcomes
        # kept for report() (keep_report) and the numbers seen, for sending each once (dedupe).
        self._keep_report = keep_report
        self._dedupe = dedupe
        self._seen: set[str] = set()
        self._order: list[str] = []
        self._outcomes: dict[str, NumberOutcome] = {}
        self._in_flight: dict[str, int] = {}
        self._pending_batch: list[str] = []
        self._duplicates = 0
        self._stopped_reason: str | None = None
        self._input_error: BaseException | None = None
        self._consecutive_errors = 0
        self._error_budget = max(MIN_ERROR_BUDGET, 2 * session.concurrency)
        self._requests = 0
        # The campaign's numbers, read once the first "already requested" answer shows
        # that this job repeats earlier work (a re-run): numbers it lists as PROCESSING or
        # COMPLETED are then settled without being sent again.
        self._snapshot: dict[str, LinkStatus] | None = None
        self._snapshot_lock = asyncio.Lock()
        self._snapshot_tried = False
        # Whether the campaign exists, once a bare 404 on an unlink made it a question.
        self._campaign_known: bool | None = None
        self._started: float | None = None
        self._finished: float | None = None
        self._iterated = False
        # A weak reference: a strong one would keep an iteration abandoned with ``break``
        # alive, so the event loop's finalizer of async generators could never close it
        # and the workers would wait forever on the full queue.
        self._generator: weakref.ref[AsyncGenerator[NumberOutcome, None]] | None = None
        self._closed = asyncio.Event()

    # -- public ---------------------------------------------------------------------------

    @property
    def session(self) -> NumLinkSession:
        return self._session

    @property
    def stopped_reason(self) -> str | None:
        return self._stopped_reason

    @property
    def done(self) -> bool:
        return self._finished is not None

    def stop(self, reason: str = "stopped by the caller") -> None:
        """Send nothing new; the rest of the input is reported as not attempted.

        While the run is iterated, its workers read the rest of the input and settle it as
        not attempted. Once it is not (stopped before it started, or after its iteration was
        abandoned or cancelled), :meth:`report` reads the rest of a synchronous input itself,
        so the report still accounts for every entry: NOT_ATTEMPTED with ``reason``, INVALID
        for entries that are not numbers. (An async input is accounted for as far as it was
        read: reading it needs the event loop.)
        """
        if self._stopped_reason is None:
            self._stopped_reason = reason

    def __aiter__(self) -> AsyncIterator[NumberOutcome]:
        if self._iterated:
            raise RuntimeError("a BulkRun can be iterated only once")
        self._iterated = True
        generator = self._run()
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
        elif self._started is not None:
            # The loop's finalizer is closing the abandoned iteration: wait for it.
            await self._closed.wait()
        if self._finished is None:
            self._finished = time.monotonic()

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
        if self._stopped_reason is not None and not self._exhausted and not self._running:
            self._read_rest()
        outcomes: list[NumberOutcome] = []
        for key in self._order:
            outcome = self._outcomes.get(key)
            if outcome is None:
                attempts = self._in_flight.get(key, 0)
                reason = self._stopped_reason or "interrupted before an answer came"
                if attempts:
                    outcome = self._outcome(
                        key, OutcomeKind.ERROR, attempts=attempts, error=f"interrupted: {reason}"
                    )
                else:
                    outcome = self._outcome(key, OutcomeKind.NOT_ATTEMPTED, error=reason)
            outcomes.append(outcome)
        end = self._finished if self._finished is not None else time.monotonic()
        return BulkReport(
            outcomes=tuple(outcomes),
            action=self.action,
            campaign_id=self.campaign_id,
            stopped_reason=self._stopped_reason,
            elapsed=end - self._started if self._started is not None else 0.0,
            requests=self._requests,
            duplicates=self._duplicates,
        )

    @property
    def _running(self) -> bool:
        """Whether the workers are (or may still be) reading the input."""
        return self._started is not None and not self._closed.is_set()

    def _read_rest(self) -> None:
        """Account for the unread rest of a synchronous input once the job has stopped."""
        rest = self._sync_input
        if rest is None:
            return
        self._exhausted = True
        # An input that fails while read here ends the report where it failed.
        with contextlib.suppress(Exception):
            for raw in rest:
                number, reason = try_normalize_number(raw)
                key = entry_key(raw, number)
                if self._dedupe:
                    if key in self._seen:
                        self._duplicates += 1
                        continue
                    self._seen.add(key)
                self._order.append(key)
                if number is None:
                    self._outcomes[key] = self._outcome(key, OutcomeKind.INVALID, error=reason)
                # A valid number without an outcome is reported as not attempted.

    # -- the pool -------------------------------------------------------------------------

    async def _run(self) -> AsyncGenerator[NumberOutcome, None]:
        self._started = time.monotonic()
        workers_count = self._session.concurrency
        queue: asyncio.Queue[list[NumberOutcome] | None] = asyncio.Queue(2 * workers_count)
        workers = [asyncio.ensure_future(self._worker(queue)) for _ in range(workers_count)]
        running = workers_count
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
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self._finished = time.monotonic()
            self._closed.set()
        if self._input_error is not None:
            raise self._input_error

    async def _worker(self, queue: asyncio.Queue[list[NumberOutcome] | None]) -> None:
        try:
            while True:
                unit, ready = await self._next_unit()
                if ready:
                    await queue.put(self._settle(ready))
                if unit is None:
                    if not ready:
                        break
                    continue
                try:
                    if self._stopped_reason is not None:
                        outcomes = self._not_attempted(unit)
                    elif self.action == "link":
                        outcomes = await self._link(unit, 0)
                    else:
                        outcomes = await self._unlink(unit[0])
                except Exception as exc:  # pragma: no cover - a bug must not lose numbers
                    outcomes = [
                        self._outcome(n, OutcomeKind.ERROR, error=f"internal error: {exc!r}")
                        for n in unit
                    ]
                await queue.put(self._settle(outcomes))
        except Exception as exc:  # pragma: no cover - defensive: never leave the reader hanging
            self.stop(f"internal error: {exc!r}")
        await queue.put(None)

    def _settle(self, outcomes: list[NumberOutcome]) -> list[NumberOutcome]:
        for outcome in outcomes:
            if self._keep_report:
                self._outcomes[outcome.number] = outcome
            self._in_flight.pop(outcome.number, None)
        return outcomes

    async def _next_unit(self) -> tuple[list[str] | None, list[NumberOutcome]]:
        """The next unit to send, and outcomes settled while reading (invalid numbers).

        Returns ``(None, [])`` when the input is done.
        """
        async with self._input_lock:
            ready: list[NumberOutcome] = []
            while True:
                if self._stopped_reason is not None:
                    ready.extend(self._not_attempted(self._take_batch()))
                if self._exhausted:
                    batch = self._take_batch()
                    if batch:
                        return batch, ready
                    return None, ready
                if len(ready) >= _DRAIN_CHUNK:
                    return None, ready
                try:
                    raw = await self._input.__anext__()
                except StopAsyncIteration:
                    self._exhausted = True
                    continue
                except Exception as exc:
                    self._input_error = exc
                    self.stop(f"reading the input failed: {type(exc).__name__}: {exc}")
                    self._exhausted = True
                    continue
                number, reason = try_normalize_number(raw)
                key = entry_key(raw, number)
                if self._dedupe:
                    if key in self._seen:
                        self._duplicates += 1
                        continue
                    self._seen.add(key)
                if self._keep_report:
                    self._order.append(key)
                if number is None:
                    ready.append(self._outcome(key, OutcomeKind.INVALID, error=reason))
                    if self._stopped_reason is None and len(ready) >= 1:
                        return None, ready
                    continue
                self._pending_batch.append(number)
                if self._stopped_reason is None and len(self._pending_batch) >= self._batch_size:
                    return self._take_batch(), ready

    def _take_batch(self) -> list[str]:
        batch, self._pending_batch = self._pending_batch, []
        return batch

    # -- sending --------------------------------------------------------------------------

    def _gate(self) -> None:
        if self._stopped_reason is not None:
            raise JobStopped(self._stopped_reason)

    def _outcome(self, number: str, kind: OutcomeKind, **fields: Any) -> NumberOutcome:
        return NumberOutcome(number=number, kind=kind, action=self.action, **fields)

    def _not_attempted(self, numbers: Sequence[str]) -> list[NumberOutcome]:
        reason = self._stopped_reason or "not sent"
        return [self._outcome(n, OutcomeKind.NOT_ATTEMPTED, error=reason) for n in numbers]

    def _stopped_outcomes(self, numbers: Sequence[str], attempts: int) -> list[NumberOutcome]:
        if attempts == 0:
            return self._not_attempted(numbers)
        reason = self._stopped_reason or "stopped"
        return [
            self._outcome(n, OutcomeKind.ERROR, attempts=attempts, error=f"{reason} (not retried)")
            for n in numbers
        ]

    def _failed(
        self, exc: PlivoError, numbers: Sequence[str], attempts: int
    ) -> list[NumberOutcome]:
        """Outcomes for a unit whose request failed for good."""
        if isinstance(exc, APIStatusError):
            if exc.status_code in (401, 403) or is_campaign_missing(exc):
                # Nothing else in this job can succeed: stop before sending any more.
                self.stop(f"HTTP {exc.status_code} {type(exc).__name__}: {exc.message}")
                kind = OutcomeKind.REJECTED
            elif 400 <= exc.status_code < 500 and exc.status_code not in (408, 429):
                kind = OutcomeKind.REJECTED
            else:
                kind = OutcomeKind.ERROR
            error = f"HTTP {exc.status_code}: {exc.message}"
            status_code: int | None = exc.status_code
            api_id = exc.api_id
        else:
            kind, error, status_code, api_id = OutcomeKind.ERROR, str(exc), None, None
        if kind is OutcomeKind.ERROR:
            self._consecutive_errors += 1
            if self._consecutive_errors >= self._error_budget:
                self.stop(
                    f"the server keeps failing: {self._consecutive_errors} requests in a row "
                    f"failed after retries (last: {error})"
                )
        return [
            self._outcome(
                n, kind, error=error, status_code=status_code, api_id=api_id, attempts=attempts
            )
            for n in numbers
        ]

    async def _send(
        self,
        method: str,
        template: str,
        path: str,
        body: Any,
        numbers: Sequence[str],
        stats: CallStats,
    ) -> str | None:
        """Send one unit; return the answer's ``api_id`` or raise the request's error.

        ``stats.attempts`` counts the attempts made, whatever the result.
        """
        for number in numbers:
            self._in_flight.setdefault(number, 0)
        before = stats.attempts
        try:
            answer = await self._session._request(
                method, template, path, json=body, stats=stats, gate=self._gate
            )
        except APIStatusError as exc:
            if exc.status_code < 500 and exc.status_code not in (408, 429):
                # A definitive answer (already linked, not linked, rejected) shows that the
                # server works: it ends a run of failures as a 2xx does.
                self._consecutive_errors = 0
            raise
        finally:
            sent = stats.attempts - before
            self._requests += sent
            for number in numbers:
                self._in_flight[number] = self._in_flight.get(number, 0) + sent
        ack = _sansio.decode_json(answer.text)
        if answer.text.strip() and not isinstance(ack, dict):
            # An HTML page from a proxy, a truncated or garbled body: a 2xx status alone is
            # no proof that Plivo accepted the numbers (the single calls raise here too).
            raise ResponseFormatError(
                "the 2xx answer is not a JSON object, so not Plivo's acknowledgement",
                status_code=answer.status,
                text=answer.text,
            )
        self._consecutive_errors = 0
        api_id = ack.get("api_id") if isinstance(ack, dict) else None
        return api_id if isinstance(api_id, str) else None

    async def _link(self, numbers: list[str], prior: int) -> list[NumberOutcome]:
        """Link a batch; split it on a 4xx so every good number still gets linked.

        ``prior`` counts the attempts already made for these numbers in larger batches.
        """
        if self._stopped_reason is not None:
            return self._stopped_outcomes(numbers, prior)
        settled: list[NumberOutcome] = []
        if self._snapshot is not None:
            settled, numbers = self._settle_known(numbers, prior)
            if not numbers:
                return settled
        body: dict[str, Any] = {"numbers": numbers, **self._callback}
        stats = CallStats(attempts=prior)
        try:
            api_id = await self._send(
                "POST", _sansio.CAMPAIGN_TEMPLATE, self._path, body, numbers, stats
            )
        except JobStopped:
            return settled + self._stopped_outcomes(numbers, stats.attempts)
        except APIStatusError as exc:
            return settled + await self._link_rejected(exc, numbers, stats.attempts)
        except (TransportError, ResponseFormatError) as exc:
            return settled + self._failed(exc, numbers, stats.attempts)
        return settled + [
            self._outcome(n, OutcomeKind.ACCEPTED, api_id=api_id, attempts=stats.attempts)
            for n in numbers
        ]

    def _settle_known(
        self, numbers: list[str], attempts: int
    ) -> tuple[list[NumberOutcome], list[str]]:
        """Split off the numbers the campaign snapshot shows as linked or processing."""
        assert self._snapshot is not None
        settled: list[NumberOutcome] = []
        rest: list[str] = []
        for number in numbers:
            status = self._snapshot.get(number)
            if status in (LinkStatus.PROCESSING, LinkStatus.COMPLETED):
                settled.append(
                    self._outcome(number, OutcomeKind.ALREADY, status=status, attempts=attempts)
                )
            else:
                rest.append(number)
        return settled, rest

    async def _take_snapshot(self) -> bool:
        """Read the campaign once per job; False when that is not possible."""
        async with self._snapshot_lock:
            if not self._snapshot_tried:
                self._snapshot_tried = True
                with _sansio.counting_attempts() as counted:
                    try:
                        campaign = await self._session.list_numbers(self.campaign_id)
                    except PlivoError:
                        pass
                    else:
                        self._snapshot = {e.number: e.status for e in campaign.phone_numbers}
                self._requests += counted.attempts
        return self._snapshot is not None

    async def _link_rejected(
        self, exc: APIStatusError, numbers: list[str], attempts: int
    ) -> list[NumberOutcome]:
        splittable = 400 <= exc.status_code < 500 and exc.status_code not in (401, 403, 408, 429)
        if not splittable or is_campaign_missing(exc):
            return self._failed(exc, numbers, attempts)
        if exc.status_code == 404 and not numbers_named(exc.message, numbers):
            # The POST's path is the campaign's: a 404 naming no number means no campaign.
            self.stop(f"HTTP 404 {type(exc).__name__}: {exc.message} (campaign {self.campaign_id})")
            return self._failed(exc, numbers, attempts)
        if len(numbers) == 1:
            return self._settle_rejection(exc, numbers, attempts)
        if is_already_in_state(self.action, exc) and await self._take_snapshot():
            settled, rest = self._settle_known(numbers, attempts)
            if settled:
                return settled + (await self._link(rest, attempts) if rest else [])
        named = numbers_named(exc.message, numbers)
        if named:
            # The error is about these numbers: settle them and send the rest again.
            rest = [n for n in numbers if n not in named]
            settled = self._settle_rejection(exc, named, attempts)
            return settled + (await self._link(rest, attempts) if rest else [])
        half = len(numbers) // 2
        left = await self._link(numbers[:half], attempts)
        right = await self._link(numbers[half:], attempts)
        if all(o.kind is OutcomeKind.ACCEPTED for o in left + right):
            # Both halves went through whole: the server caps the batch size.
            self._batch_size = min(self._batch_size, len(numbers) - half)
        return left + right

    def _settle_rejection(
        self, exc: APIStatusError, numbers: Sequence[str], attempts: int
    ) -> list[NumberOutcome]:
        if is_already_in_state(self.action, exc):
            return self._already(numbers, exc, attempts)
        return self._failed(exc, numbers, attempts)

    def _already(
        self, numbers: Sequence[str], exc: APIStatusError, attempts: int
    ) -> list[NumberOutcome]:
        return [
            self._outcome(
                n,
                OutcomeKind.ALREADY,
                status_code=exc.status_code,
                api_id=exc.api_id,
                attempts=attempts,
                error=None,
            )
            for n in numbers
        ]

    async def _unlink(self, number: str) -> list[NumberOutcome]:
        path = _sansio.number_path(self._session.auth_id, self.campaign_id, number)
        stats = CallStats()
        try:
            api_id = await self._send(
                "DELETE", _sansio.NUMBER_TEMPLATE, path, self._callback or None, [number], stats
            )
        except JobStopped:
            return self._stopped_outcomes([number], stats.attempts)
        except APIStatusError as exc:
            if (
                exc.status_code == 404
                and not is_already_in_state("unlink", exc)
                and not is_campaign_missing(exc)
                and not await self._campaign_exists()
            ):
                # A bare "not found" for the number: it was the campaign that is missing.
                self.stop(f"HTTP 404: campaign {self.campaign_id} not found")
                return self._failed(exc, [number], stats.attempts)
            if exc.status_code == 404 and not is_campaign_missing(exc):
                return self._already([number], exc, stats.attempts)
            return self._settle_rejection(exc, [number], stats.attempts)
        except (TransportError, ResponseFormatError) as exc:
            return self._failed(exc, [number], stats.attempts)
        return [self._outcome(number, OutcomeKind.ACCEPTED, api_id=api_id, attempts=stats.attempts)]

    async def _campaign_exists(self) -> bool:
        """Whether the campaign exists (asked once per job; True when it cannot be told)."""
        async with self._snapshot_lock:
            if self._campaign_known is None:
                self._campaign_known = True  # unless the campaign itself answers 404
                with _sansio.counting_attempts() as counted:
                    try:
                        await self._session._request(
                            "GET",
                            _sansio.CAMPAIGN_TEMPLATE,
                            self._path,
                            params={"limit": "1", "offset": "0"},
                        )
                    except APIStatusError as exc:
                        self._campaign_known = exc.status_code != 404
                    except PlivoError:
                        pass
                self._requests += counted.attempts
        return self._campaign_known


# -- waiting for completion ---------------------------------------------------------------

#: Numbers per list page, as asked for by the session.
_PAGE = 20


async def poll_statuses(
    session: NumLinkSession,
    campaign_id: str,
    numbers: Sequence[str],
    *,
    unlinked: bool,
    timeout: float,
    poll_interval: float,
    sleep: Callable[[float], Any] | None = None,
    clock: Callable[[], float] | None = None,
) -> dict[str, tuple[LinkStatus | None, str | None]]:
    """Poll until each number is final (or gone, for unlink) or ``timeout`` passes.

    Returns number -> (last status seen or ``None`` when not listed, error text or None).
    Each round costs the cheaper of one GET per pending number and the list's pages.
    """
    sleep_fn = sleep or session._sleep
    clock = clock or session._clock
    deadline = clock() + timeout
    pending = dict.fromkeys(numbers)
    state: dict[str, tuple[LinkStatus | None, str | None]] = dict.fromkeys(numbers, (None, None))
    campaign_size: int | None = None
    while pending:
        try:
            if (campaign_size is not None and len(pending) <= campaign_size // _PAGE + 1) or (
                campaign_size is None and len(pending) <= 2
            ):
                seen = await _get_each(session, campaign_id, list(pending))
            else:
                listing = await session.list_numbers(campaign_id)
                campaign_size = len(listing.phone_numbers)
                seen = {entry.number: entry.status for entry in listing.phone_numbers}
                seen = {n: seen.get(n) for n in pending}
        except APIStatusError as exc:
            # Until a later round reads them, the pending numbers carry this failure: an
            # unlink wait must not take "never seen" for "gone".
            for n in pending:
                state[n] = (state[n][0], f"polling failed: HTTP {exc.status_code}: {exc.message}")
            # 5xx and 429 that outlasted their retries: the next round may do better.
            if exc.status_code != 429 and not 500 <= exc.status_code < 600:
                return state
            seen = {}
        except TransportError as exc:
            for n in pending:
                state[n] = (state[n][0], f"polling failed: {exc}")
            seen = {}
        except ResponseFormatError as exc:
            # Not a transient fault (the session does not retry it either): say so.
            for n in pending:
                state[n] = (state[n][0], f"polling failed: {exc}")
            return state
        for number, status in seen.items():
            state[number] = (status, None)
            if (status is None) if unlinked else (status is not None and status.is_final):
                pending.pop(number, None)
        if not pending or clock() + poll_interval > deadline:
            break
        await sleep_fn(poll_interval)
    return state


async def _get_each(
    session: NumLinkSession, campaign_id: str, numbers: list[str]
) -> dict[str, LinkStatus | None]:
    from ._errors import NotFoundError

    async def one(number: str) -> tuple[str, LinkStatus | None]:
        try:
            entry = await session.get_number(campaign_id, number)
        except NotFoundError:
            return number, None
        except APIStatusError as exc:
            # Some servers answer "not linked to this campaign" with a 400.
            if is_already_in_state("unlink", exc):
                return number, None
            raise
        return number, entry.status

    # Every GET is awaited to its end, so a failing one leaves no orphan behind.
    results = await asyncio.gather(*(one(n) for n in numbers), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return dict(r for r in results if not isinstance(r, BaseException))


def fold_statuses(
    outcomes: Sequence[NumberOutcome],
    state: dict[str, tuple[LinkStatus | None, str | None]],
    *,
    unlinked: bool,
) -> list[NumberOutcome]:
    """Fold polled statuses into ``outcomes`` (only those present in ``state``)."""
    folded: list[NumberOutcome] = []
    for outcome in outcomes:
        if outcome.number not in state:
            folded.append(outcome)
            continue
        status, error = state[outcome.number]
        keep_kind = outcome.kind is OutcomeKind.ALREADY
        if unlinked:
            if status is None and error is None:
                kind = outcome.kind if keep_kind else OutcomeKind.COMPLETED
                folded.append(attrs.evolve(outcome, kind=kind, ok=kind.ok, status=None))
            else:
                folded.append(
                    attrs.evolve(
                        outcome,
                        kind=OutcomeKind.PENDING,
                        ok=False,
                        status=status,
                        error=error or "still linked when the wait ended",
                    )
                )
            continue
        if status is LinkStatus.COMPLETED:
            kind = outcome.kind if keep_kind else OutcomeKind.COMPLETED
            folded.append(attrs.evolve(outcome, kind=kind, ok=kind.ok, status=status))
        elif status is LinkStatus.FAILED:
            folded.append(
                attrs.evolve(
                    outcome,
                    kind=OutcomeKind.REMOTE_FAILED,
                    ok=False,
                    status=status,
                    error="Plivo reports the link FAILED",
                )
            )
        else:
            text = error or (
                "not listed in the campaign when the wait ended"
                if status is None
                else f"still {status.value} when the wait ended"
            )
            folded.append(
                attrs.evolve(outcome, kind=OutcomeKind.PENDING, ok=False, status=status, error=text)
            )
    return folded


#: Defaults for waiting on Plivo's processing.
DEFAULT_WAIT_TIMEOUT = 300.0
DEFAULT_POLL_INTERVAL = 5.0


async def finish(run: BulkRun, *, wait: bool, timeout: float, poll_interval: float) -> BulkReport:
    """Drive ``run`` to its end; with ``wait``, wait for what it changed to be final."""
    report = await run_to_report(run)
    if wait:
        report = await wait_and_fold(
            run.session,
            report,
            unlinked=run.action == "unlink",
            timeout=timeout,
            poll_interval=poll_interval,
        )
    return report


async def run_to_report(run: BulkRun) -> BulkReport:
    """Drive ``run`` to its end and return its report."""
    async for _ in run:
        pass
    return run.report()


async def wait_and_fold(
    session: NumLinkSession,
    report: BulkReport,
    *,
    unlinked: bool,
    timeout: float,
    poll_interval: float,
) -> BulkReport:
    """Wait for the accepted (and already-in-state) numbers of ``report`` to be final."""
    waiting = [
        o.number
        for o in report.outcomes
        if o.kind is OutcomeKind.ACCEPTED
        or (o.kind is OutcomeKind.ALREADY and (o.status is None or not o.status.is_final))
    ]
    if not waiting or report.stopped_reason is not None:
        return report
    started = time.monotonic()
    with _sansio.counting_attempts() as counted:
        state = await poll_statuses(
            session,
            report.campaign_id,
            waiting,
            unlinked=unlinked,
            timeout=timeout,
            poll_interval=poll_interval,
        )
    return attrs.evolve(
        report,
        outcomes=tuple(fold_statuses(report.outcomes, state, unlinked=unlinked)),
        elapsed=report.elapsed + (time.monotonic() - started),
        requests=report.requests + counted.attempts,
    )


async def wait_for_report(
    session: NumLinkSession, report: BulkReport, *, timeout: float, poll_interval: float
) -> BulkReport:
    """Wait for the accepted (and already-but-not-final) numbers of ``report`` to be final.

    Outcomes of action ``unlink`` (or ``wait_unlinked``) are done when gone from the
    campaign; the others when COMPLETED or FAILED. A stopped report is returned as it is.
    """
    _check_wait(timeout, poll_interval)
    if report.stopped_reason is not None:
        return report
    for unlinked in (False, True):
        part = [o for o in report.outcomes if (o.action in _UNLINK_ACTIONS) is unlinked]
        if part:
            report = await _wait_part(session, report, part, unlinked, timeout, poll_interval)
    return report


_UNLINK_ACTIONS = frozenset({"unlink", "wait_unlinked"})


async def _wait_part(
    session: NumLinkSession,
    report: BulkReport,
    part: Sequence[NumberOutcome],
    unlinked: bool,
    timeout: float,
    poll_interval: float,
) -> BulkReport:
    """Wait for the numbers of ``part`` (outcomes of ``report``) and fold them in."""
    sub = attrs.evolve(report, outcomes=tuple(part))
    waited = await wait_and_fold(
        session, sub, unlinked=unlinked, timeout=timeout, poll_interval=poll_interval
    )
    if waited is sub:
        return report  # nothing to wait for
    folded = iter(waited.outcomes)
    return attrs.evolve(
        report,
        outcomes=tuple(
            next(folded) if (o.action in _UNLINK_ACTIONS) is unlinked else o
            for o in report.outcomes
        ),
        elapsed=waited.elapsed,
        requests=waited.requests,
    )


async def get_numbers(
    session: NumLinkSession, campaign_id: str, numbers: Iterable[str] | AsyncIterable[str]
) -> BulkReport:
    """Read many numbers' statuses, at most ``session.concurrency`` at a time.

    The input is read lazily; a repeated number is read and reported once; an invalid one
    is reported INVALID and not sent. 401/403 and an unknown campaign raise at once.
    """
    campaign_id = validate_campaign_id(campaign_id)
    source = _as_input(numbers)
    started = time.monotonic()
    lock = asyncio.Lock()
    order: list[str] = []
    outcomes: dict[str, NumberOutcome] = {}
    seen: set[str] = set()
    duplicates = 0
    exhausted = False

    async def next_number() -> str | None:
        nonlocal duplicates, exhausted
        async with lock:
            while not exhausted:
                try:
                    raw = await source.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                number, reason = try_normalize_number(raw)
                key = entry_key(raw, number)
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                order.append(key)
                if number is None:
                    outcomes[key] = NumberOutcome(
                        key, OutcomeKind.INVALID, action="status", error=reason
                    )
                    continue
                return number
            return None

    async def worker() -> None:
        while (number := await next_number()) is not None:
            outcomes[number] = await _status_outcome(session, campaign_id, number)

    with _sansio.counting_attempts() as counted:
        workers = [asyncio.ensure_future(worker()) for _ in range(session.concurrency)]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # raises the first failure (401/403, unknown campaign, input)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
    return BulkReport(
        outcomes=tuple(outcomes[key] for key in order),
        action="status",
        campaign_id=campaign_id,
        elapsed=time.monotonic() - started,
        requests=counted.attempts,
        duplicates=duplicates,
    )


async def _status_outcome(session: NumLinkSession, campaign_id: str, number: str) -> NumberOutcome:
    """One number's status as a report line (action ``status``)."""
    with _sansio.counting_attempts() as counted:
        try:
            entry = await session.get_number(campaign_id, number)
        except (AuthenticationError, ForbiddenError, CampaignNotFoundError):
            raise
        except NotFoundError as exc:
            return NumberOutcome(
                number,
                OutcomeKind.REJECTED,
                action="status",
                error=f"not linked: {exc.message}",
                status_code=404,
                attempts=counted.attempts,
            )
        except PlivoError as exc:
            return NumberOutcome(
                number,
                OutcomeKind.ERROR,
                action="status",
                error=str(exc),
                status_code=getattr(exc, "status_code", None),
                attempts=counted.attempts,
            )
    status = entry.status
    kind = {
        LinkStatus.COMPLETED: OutcomeKind.COMPLETED,
        LinkStatus.FAILED: OutcomeKind.REMOTE_FAILED,
    }.get(status, OutcomeKind.PENDING)
    raw = entry.raw_status or status.value
    # PROCESSING (or a status this library does not know) is linked as far as the status
    # goes: ok, though not final.
    return NumberOutcome(
        number,
        kind,
        action="status",
        error=f"status {raw}" if status is LinkStatus.UNKNOWN else None,
        status_code=200,
        attempts=counted.attempts,
        status=status,
        ok=status is not LinkStatus.FAILED,
    )


def _check_wait(timeout: float, poll_interval: float) -> None:
    for name, value in (("timeout", timeout), ("poll_interval", poll_interval)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, not {value!r}")


async def _read_distinct(
    numbers: Iterable[str] | AsyncIterable[str],
) -> tuple[list[str], list[NumberOutcome], int]:
    """Read a whole input: (valid distinct numbers, keyed order incl. invalid, duplicates)."""
    order: list[NumberOutcome] = []
    valid: list[str] = []
    seen: set[str] = set()
    duplicates = 0
    async for raw in _as_input(numbers):
        number, reason = try_normalize_number(raw)
        key = entry_key(raw, number)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        if number is None:
            order.append(NumberOutcome(number=key, kind=OutcomeKind.INVALID, error=reason))
        else:
            valid.append(number)
            order.append(NumberOutcome(number=number, kind=OutcomeKind.PENDING))
    return valid, order, duplicates


async def wait_for_numbers(
    session: NumLinkSession,
    campaign_id: str,
    numbers: Iterable[str] | AsyncIterable[str],
    *,
    timeout: float,
    poll_interval: float,
    unlinked: bool,
) -> BulkReport:
    validate_campaign_id(campaign_id)
    _check_wait(timeout, poll_interval)
    started = time.monotonic()
    valid, order, duplicates = await _read_distinct(numbers)
    action = "wait_unlinked" if unlinked else "wait"
    with _sansio.counting_attempts() as counted:
        state = await poll_statuses(
            session,
            campaign_id,
            valid,
            unlinked=unlinked,
            timeout=timeout,
            poll_interval=poll_interval,
        )
    outcomes = [
        attrs.evolve(o, action=action, kind=OutcomeKind.ACCEPTED)
        if o.number in state
        else attrs.evolve(o, action=action)
        for o in order
    ]
    return BulkReport(
        outcomes=tuple(fold_statuses(outcomes, state, unlinked=unlinked)),
        action=action,
        campaign_id=campaign_id,
        elapsed=time.monotonic() - started,
        requests=counted.attempts,
        duplicates=duplicates,
    )


async def sync(
    session: NumLinkSession,
    campaign_id: str,
    numbers: Iterable[str] | AsyncIterable[str],
    **options: Any,
) -> BulkReport:
    """Make ``campaign_id`` hold exactly the desired numbers (see NumLinkSession.sync)."""
    with _sansio.counting_attempts() as counted:
        report = await _sync(session, campaign_id, numbers, **options)
    return attrs.evolve(report, requests=counted.attempts)


async def _sync(
    session: NumLinkSession,
    campaign_id: str,
    numbers: Iterable[str] | AsyncIterable[str],
    *,
    unlink_extra: bool,
    batch_size: int,
    url: str | None,
    method: str | None,
    wait: bool,
    wait_timeout: float,
    poll_interval: float,
) -> BulkReport:
    """The work of :func:`sync`, which counts the requests it makes."""
    validate_campaign_id(campaign_id)
    validate_callback(url, method)
    _check_batch_size(batch_size)
    _check_wait(wait_timeout, poll_interval)
    started = time.monotonic()
    valid, order, duplicates = await _read_distinct(numbers)
    campaign = await session.list_numbers(campaign_id)
    current = {entry.number: entry.status for entry in campaign.phone_numbers}
    to_link = [n for n in valid if current.get(n) in (None, LinkStatus.FAILED)]
    desired = set(valid)
    extras = [n for n in current if n not in desired] if unlink_extra else []

    link_run = BulkRun(
        session, "link", campaign_id, to_link, batch_size=batch_size, url=url, method=method
    )
    link_report = await run_to_report(link_run)
    stopped = link_report.stopped_reason
    if extras and stopped is None:
        unlink_report = await run_to_report(
            BulkRun(session, "unlink", campaign_id, extras, url=url, method=method)
        )
        stopped = unlink_report.stopped_reason
    else:
        unlink_report = BulkReport(
            outcomes=tuple(
                NumberOutcome(
                    number=n,
                    kind=OutcomeKind.NOT_ATTEMPTED,
                    action="unlink",
                    error=stopped or "not sent",
                )
                for n in extras
            ),
            action="unlink",
            campaign_id=campaign_id,
        )
    done = {o.number: o for o in link_report.outcomes}
    linked: list[NumberOutcome] = []
    for outcome in order:
        if outcome.kind is OutcomeKind.INVALID:
            linked.append(attrs.evolve(outcome, action="link"))
        elif outcome.number in done:
            linked.append(done[outcome.number])
        else:
            linked.append(
                NumberOutcome(
                    number=outcome.number,
                    kind=OutcomeKind.ALREADY,
                    action="link",
                    status=current[outcome.number],
                )
            )
    link_report = attrs.evolve(link_report, outcomes=tuple(linked))
    if wait and stopped is None:
        # Numbers found PROCESSING are waited for too, not only the ones linked now.
        link_report = await wait_and_fold(
            session, link_report, unlinked=False, timeout=wait_timeout, poll_interval=poll_interval
        )
        unlink_report = await wait_and_fold(
            session, unlink_report, unlinked=True, timeout=wait_timeout, poll_interval=poll_interval
        )
    outcomes = list(link_report.outcomes)
    outcomes.extend(unlink_report.outcomes)
    return BulkReport(
        outcomes=tuple(outcomes),
        action="sync",
        campaign_id=campaign_id,
        stopped_reason=stopped,
        elapsed=time.monotonic() - started,
        requests=0,  # sync() counts this job's own attempts
        duplicates=duplicates,
    )
