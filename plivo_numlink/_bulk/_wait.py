"""Waiting for Plivo's processing: watch numbers until final, and fold what was seen into reports.

The watching itself (callbacks, polling and its backoff) is in ``_poll.py``. Every request
made counts on the caller's :class:`~.._transport.AttemptCounter`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Iterable, Sequence

import attrs

from .._config import WaitPolicy
from .._models import LinkStatus
from .._numbers import validate_campaign_id
from .._report import BulkReport, NumberOutcome, OutcomeKind
from .._transport import Requester
from ._input import read_distinct
from ._poll import Settled, State, poll_statuses

__all__ = [
    "State",
    "fold_statuses",
    "poll_statuses",
    "wait_and_fold",
    "wait_for_numbers",
    "wait_for_report",
]


def _telling(
    outcomes: Sequence[NumberOutcome], wait: WaitPolicy, *, unlinked: bool
) -> Settled | None:
    """A hook calling ``wait.on_outcome`` with each waited outcome as the wait settles it."""
    on_outcome = wait.on_outcome
    if on_outcome is None:
        return None
    by_number = {o.number: o for o in outcomes}

    def settled(number: str, polled: tuple[LinkStatus | None, str | None]) -> None:
        outcome = by_number.get(number)
        if outcome is not None:
            on_outcome(_folded(outcome, *polled, unlinked=unlinked))

    return settled


def fold_statuses(
    outcomes: Sequence[NumberOutcome], state: State, *, unlinked: bool
) -> list[NumberOutcome]:
    """Fold polled statuses into ``outcomes`` (only those present in ``state``)."""
    folded: list[NumberOutcome] = []
    for outcome in outcomes:
        polled = state.get(outcome.number)
        folded.append(outcome if polled is None else _folded(outcome, *polled, unlinked=unlinked))
    return folded


def _folded(
    outcome: NumberOutcome, status: LinkStatus | None, error: str | None, *, unlinked: bool
) -> NumberOutcome:
    """One outcome with its last polled status (and the error of its last poll, if any)."""
    if not unlinked and status is LinkStatus.FAILED:
        return attrs.evolve(
            outcome,
            kind=OutcomeKind.REMOTE_FAILED,
            ok=False,
            status=status,
            error="Plivo reports the link FAILED",
        )
    done = (status is None and error is None) if unlinked else status is LinkStatus.COMPLETED
    if done:
        kind = outcome.kind if outcome.kind is OutcomeKind.ALREADY else OutcomeKind.COMPLETED
        return attrs.evolve(outcome, kind=kind, ok=kind.ok, status=status)
    if not error and not unlinked and status is None:
        # Not pending: nothing at Plivo is processing it (issue 10: "pending" was shown
        # beside "not listed in the campaign").
        error = "not listed in the campaign when the wait ended"
        return attrs.evolve(outcome, kind=OutcomeKind.NOT_LISTED, ok=False, error=error)
    if not error:
        error = (
            "still linked when the wait ended"
            if unlinked
            else f"still {status.value if status else 'unknown'} when the wait ended"
        )
    return attrs.evolve(outcome, kind=OutcomeKind.PENDING, ok=False, status=status, error=error)


async def wait_and_fold(
    requester: Requester,
    report: BulkReport,
    *,
    unlinked: bool,
    wait: WaitPolicy,
    strict: bool = True,
    since: float | None = None,
) -> BulkReport:
    """Wait for the accepted (and already-in-state) numbers of ``report`` to be final.

    ``strict`` and ``since`` as for :func:`poll_statuses`.
    """
    waiting = [
        o.number
        for o in report.outcomes
        if o.kind is OutcomeKind.ACCEPTED
        or (o.kind is OutcomeKind.ALREADY and (o.status is None or not o.status.is_final))
    ]
    if not waiting or report.stopped_reason is not None:
        return report
    started = time.monotonic()
    counter = requester.sent.child()
    state = await poll_statuses(
        requester,
        report.campaign_id,
        waiting,
        unlinked=unlinked,
        wait=wait,
        counter=counter,
        strict=strict,
        since=since,
        on_settled=_telling(report.outcomes, wait, unlinked=unlinked),
    )
    return attrs.evolve(
        report,
        outcomes=tuple(fold_statuses(report.outcomes, state, unlinked=unlinked)),
        elapsed=report.elapsed + (time.monotonic() - started),
        requests=report.requests + counter.count,
    )


#: Outcome actions that are done when the number is gone from the campaign.
_UNLINK_ACTIONS = frozenset({"unlink", "wait_unlinked"})


async def wait_for_report(
    requester: Requester,
    report: BulkReport,
    wait: WaitPolicy,
    *,
    strict: bool = True,
    since: float | None = None,
) -> BulkReport:
    """Wait for the accepted (and already-but-not-final) numbers of ``report`` to be final.

    Outcomes of action ``unlink`` (or ``wait_unlinked``) are done when gone from the
    campaign; the others when COMPLETED or FAILED. A stopped report is returned as it is.
    ``wait.timeout`` is one deadline for both parts; ``strict`` as for :func:`poll_statuses`.
    """
    if report.stopped_reason is not None:
        return report
    deadline = requester.clock() + wait.timeout
    for unlinked in (False, True):
        part = tuple(o for o in report.outcomes if (o.action in _UNLINK_ACTIONS) is unlinked)
        if not part:
            continue
        sub = attrs.evolve(report, outcomes=part)
        left = attrs.evolve(wait, timeout=max(0.0, deadline - requester.clock()))
        waited = await wait_and_fold(
            requester, sub, unlinked=unlinked, wait=left, strict=strict, since=since
        )
        if waited is sub:
            continue  # nothing to wait for
        folded = iter(waited.outcomes)
        report = attrs.evolve(
            report,
            outcomes=tuple(
                next(folded) if (o.action in _UNLINK_ACTIONS) is unlinked else o
                for o in report.outcomes
            ),
            elapsed=waited.elapsed,
            requests=waited.requests,
        )
    return report


async def wait_for_numbers(
    requester: Requester,
    campaign_id: str,
    numbers: Iterable[str] | AsyncIterable[str],
    *,
    wait: WaitPolicy,
    unlinked: bool,
) -> BulkReport:
    """Poll ``numbers`` until final; see :meth:`NumLinkSession.wait_for_numbers`."""
    validate_campaign_id(campaign_id)
    started = time.monotonic()
    valid, order, duplicates = await read_distinct(numbers)
    action = "wait_unlinked" if unlinked else "wait"
    counter = requester.sent.child()
    waited = set(valid)
    outcomes = [
        attrs.evolve(o, action=action, kind=OutcomeKind.ACCEPTED)
        if o.number in waited
        else attrs.evolve(o, action=action)
        for o in order
    ]
    state = await poll_statuses(
        requester,
        campaign_id,
        valid,
        unlinked=unlinked,
        wait=wait,
        counter=counter,
        on_settled=_telling(outcomes, wait, unlinked=unlinked),
    )
    return BulkReport(
        outcomes=tuple(fold_statuses(outcomes, state, unlinked=unlinked)),
        action=action,
        campaign_id=campaign_id,
        elapsed=time.monotonic() - started,
        requests=counter.count,
        duplicates=duplicates,
    )
