"""A bulk job's ledger: what was read, what is in flight, what was settled, and why it stopped.

The link and unlink strategies (``_link.py``, ``_unlink.py``) send through
:meth:`Job.send` and settle numbers with the outcome builders here; :class:`~._run.BulkRun`
reads the input into the ledger and turns it into the report.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import attrs

from .. import _protocol
from .._config import MIN_ERROR_BUDGET
from .._errors import (
    APIStatusError,
    CertificateVerificationError,
    PlivoError,
    ProxyAuthenticationError,
)
from .._protocol import Verdict, classify
from .._report import BulkReport, DuplicateEntry, NumberOutcome, OutcomeKind
from .._storage import StorageError
from .._transport import AttemptCounter, Requester

__all__ = ["Job", "JobStopped"]


class JobStopped(PlivoError):
    """Raised inside a bulk job's requests once the job has stopped (never escapes it)."""


class Job:
    """The state one bulk link or unlink job shares between its workers."""

    def __init__(
        self,
        requester: Requester,
        action: str,
        campaign_id: str,
        callback: dict[str, str],
        *,
        keep_report: bool,
    ) -> None:
        self.requester = requester
        self.action = action
        self.campaign_id = campaign_id
        self.callback = callback
        self.path = _protocol.campaign_path(requester.auth_id, campaign_id)
        #: Every attempt made for this job (its report's ``requests``).
        self.counter = requester.sent.child()
        self.keep_report = keep_report
        self.order: list[str] = []
        self.outcomes: dict[str, NumberOutcome] = {}
        self.in_flight: dict[str, int] = {}
        #: Each entry's position in the input (its first, for a repeated number) by key, and
        #: its text where that differs from the key (most entries are their number already).
        self.positions: dict[str, int] = {}
        self.inputs: dict[str, str] = {}
        self.duplicates = 0
        self.duplicate_entries: list[DuplicateEntry] = []
        #: Outcomes taken from the journal, not sent in this run.
        self.resumed = 0
        self.stopped_reason: str | None = None
        self.consecutive_errors = 0
        self.error_budget = max(MIN_ERROR_BUDGET, 2 * requester.concurrency)
        self.started: float | None = None
        self.finished: float | None = None

    # -- the ledger ------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        if self.stopped_reason is None:
            self.stopped_reason = reason

    def admit(self, key: str, text: str, index: int) -> None:
        """Note where the entry ``key`` stands in the input, and how it was written."""
        self.positions[key] = index
        if text != key:
            self.inputs[key] = text

    def settle(self, outcomes: list[NumberOutcome]) -> None:
        if self.keep_report:
            store = self.outcomes
            for outcome in outcomes:
                store[outcome.number] = outcome
        else:
            # Nothing reads an entry's position once its outcome is handed over.
            positions, inputs = self.positions, self.inputs
            for outcome in outcomes:
                positions.pop(outcome.number, None)
                inputs.pop(outcome.number, None)
        in_flight = self.in_flight
        if in_flight:
            for outcome in outcomes:
                in_flight.pop(outcome.number, None)

    def report(self) -> BulkReport:
        """The outcomes in input order, one per distinct input entry read so far."""
        outcomes: list[NumberOutcome] = []
        for key in self.order:
            outcome = self.outcomes.get(key)
            if outcome is None:
                attempts = self.in_flight.get(key, 0)
                reason = self.stopped_reason or "interrupted before an answer came"
                if attempts:
                    outcome = self.outcome(
                        key, OutcomeKind.ERROR, attempts=attempts, error=f"interrupted: {reason}"
                    )
                else:
                    outcome = self.outcome(key, OutcomeKind.NOT_ATTEMPTED, error=reason)
            outcomes.append(outcome)
        end = self.finished if self.finished is not None else time.monotonic()
        return BulkReport(
            outcomes=tuple(outcomes),
            action=self.action,
            campaign_id=self.campaign_id,
            stopped_reason=self.stopped_reason,
            elapsed=end - self.started if self.started is not None else 0.0,
            requests=self.counter.count,
            duplicates=self.duplicates,
            resumed=self.resumed,
            duplicate_entries=tuple(self.duplicate_entries),
        )

    # -- outcomes --------------------------------------------------------------------------

    def outcome(self, number: str, kind: OutcomeKind, **fields: Any) -> NumberOutcome:
        index = self.positions.get(number)
        text = None if index is None else self.inputs.get(number, number)
        # ``ok`` given: the field's default (a factory taking the outcome) costs a call more.
        return NumberOutcome(
            number=number,
            kind=kind,
            action=self.action,
            input=text,
            index=index,
            ok=kind.ok,
            **fields,
        )

    def resumed_outcome(self, found: NumberOutcome) -> NumberOutcome:
        """An outcome read from the journal, as this run's input has the entry."""
        number = found.number
        index = self.positions.get(number)
        text = None if index is None else self.inputs.get(number, number)
        return attrs.evolve(found, input=text, index=index)

    def not_attempted(self, numbers: Sequence[str]) -> list[NumberOutcome]:
        reason = self.stopped_reason or "not sent"
        return [self.outcome(n, OutcomeKind.NOT_ATTEMPTED, error=reason) for n in numbers]

    def stopped_outcomes(self, numbers: Sequence[str], attempts: int) -> list[NumberOutcome]:
        if attempts == 0:
            return self.not_attempted(numbers)
        reason = self.stopped_reason or "stopped"
        return [
            self.outcome(n, OutcomeKind.ERROR, attempts=attempts, error=f"{reason} (not retried)")
            for n in numbers
        ]

    def failed(self, exc: PlivoError, numbers: Sequence[str], attempts: int) -> list[NumberOutcome]:
        """Outcomes for a unit whose request failed for good."""
        if isinstance(exc, APIStatusError):
            verdict = classify(self.action, exc)
            if verdict.stops_job:
                # Nothing else in this job can succeed: stop before sending any more.
                self.stop(f"HTTP {exc.status_code} {type(exc).__name__}: {exc.message}")
                kind = OutcomeKind.REJECTED
            elif verdict.refusal:
                kind = OutcomeKind.REJECTED
            else:
                kind = OutcomeKind.ERROR
            error = f"HTTP {exc.status_code}: {exc.message}"
            status_code: int | None = exc.status_code
            api_id = exc.api_id
        else:
            kind, error, status_code, api_id = OutcomeKind.ERROR, str(exc), None, None
        if kind is OutcomeKind.ERROR:
            self.consecutive_errors += 1
            if self.consecutive_errors >= self.error_budget:
                self.stop(
                    f"the server keeps failing: {self.consecutive_errors} requests in a row "
                    f"failed after retries (last: {error})"
                )
        return [
            self.outcome(
                n, kind, error=error, status_code=status_code, api_id=api_id, attempts=attempts
            )
            for n in numbers
        ]

    def already(
        self, numbers: Sequence[str], exc: APIStatusError, attempts: int
    ) -> list[NumberOutcome]:
        return [
            self.outcome(
                n,
                OutcomeKind.ALREADY,
                status_code=exc.status_code,
                api_id=exc.api_id,
                attempts=attempts,
                error=None,
            )
            for n in numbers
        ]

    def settle_rejection(
        self, exc: APIStatusError, verdict: Verdict, numbers: Sequence[str], attempts: int
    ) -> list[NumberOutcome]:
        if verdict.already:
            return self.already(numbers, exc, attempts)
        return self.failed(exc, numbers, attempts)

    # -- sending ---------------------------------------------------------------------------

    def gate(self) -> None:
        if self.stopped_reason is not None:
            raise JobStopped(self.stopped_reason)

    async def send(
        self,
        method: str,
        template: str,
        path: str,
        body: Any,
        numbers: Sequence[str],
        counter: AttemptCounter,
    ) -> str | None:
        """Send one unit; return the answer's ``api_id`` or raise the request's error.

        ``counter`` (a child of the job's) counts the attempts made, whatever the result.
        """
        in_flight = self.in_flight
        before = counter.count
        try:
            answer = await self.requester.request(
                method, template, path, json=body, counter=counter, gate=self.gate
            )
        except APIStatusError as exc:
            if not classify(self.action, exc).transient:
                # A definitive answer (already linked, not linked, rejected) shows that the
                # server works: it ends a run of failures as a 2xx does.
                self.consecutive_errors = 0
            raise
        except StorageError as exc:
            # The shared rate budget is gone (pacing fails closed): nothing more can be sent
            # within it, so the job stops, not each number, and the rest is not attempted.
            self.stop(f"the shared rate-limit storage failed: {exc}")
            raise JobStopped(self.stopped_reason or str(exc)) from exc
        except (CertificateVerificationError, ProxyAuthenticationError) as exc:
            # Every request would meet the same certificate, or the same proxy refusing its
            # credentials: stop, as on 401/403.
            self.stop(str(exc))
            raise JobStopped(self.stopped_reason or str(exc)) from exc
        finally:
            sent = counter.count - before
            for number in numbers:
                in_flight[number] = in_flight.get(number, 0) + sent
        api_id = _protocol.ack_api_id(answer)
        self.consecutive_errors = 0
        return api_id
