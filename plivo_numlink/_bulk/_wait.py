"""Waiting for Plivo's processing: poll numbers until final, and fold what was seen into reports.

Each polling round costs the cheaper of one GET per pending number and the list endpoint's
pages. Every request made counts on the caller's :class:`~.._transport.AttemptCounter`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Iterable, Sequence

import attrs

from .. import _endpoints
from .._config import WaitPolicy
from .._errors import APIStatusError, NotFoundError, ResponseFormatError, TransportError
from .._models import LinkStatus
from .._numbers import validate_campaign_id
from .._protocol import classify, is_already_in_state
from .._report import BulkReport, NumberOutcome, OutcomeKind
from .._transport import AttemptCounter, Requester
from ._input import read_distinct

__all__ = [
    "fold_statuses",
    "poll_statuses",
    "wait_and_fold",
    "wait_for_numbers",
    "wait_for_report",
]

#: Numbers per list page, as asked for by the session.
_PAGE = 20

State = dict[str, tuple[LinkStatus | None, str | None]]


async def poll_statuses(
    requester: Requester,
    campaign_id: str,
    numbers: Sequence[str],
    *,
    unlinked: bool,
    wait: WaitPolicy,
    counter: AttemptCounter,
) -> State:
    """Poll until each number is final (or gone, for unlink) or the wait's deadline passes.

    Returns number -> (last status seen or ``None`` when not listed, error text or None).
    """
    sleep, clock = requester.sleep, requester.clock
    deadline = clock() + wait.timeout
    pending = dict.fromkeys(numbers)
    state: State = dict.fromkeys(numbers, (None, None))
    campaign_size: int | None = None
    while pending:
        try:
            if (campaign_size is not None and len(pending) <= campaign_size // _PAGE + 1) or (
                campaign_size is None and len(pending) <= 2
            ):
                seen = await _get_each(requester, campaign_id, list(pending), counter)
            else:
                listing = await _endpoints.list_numbers(requester, campaign_id, counter=counter)
                campaign_size = len(listing.phone_numbers)
                listed = {entry.number: entry.status for entry in listing.phone_numbers}
                seen = {n: listed.get(n) for n in pending}
        except APIStatusError as exc:
            # Until a later round reads them, the pending numbers carry this failure: an
            # unlink wait must not take "never seen" for "gone".
            for n in pending:
                state[n] = (state[n][0], f"polling failed: HTTP {exc.status_code}: {exc.message}")
            # 5xx and 429 that outlasted their retries: the next round may do better.
            if not classify("wait", exc).transient:
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
        if wait.on_progress is not None:
            wait.on_progress(len(state) - len(pending), len(pending))
        if not pending or clock() + wait.poll_interval > deadline:
            break
        await sleep(wait.poll_interval)
    return state


async def _get_each(
    requester: Requester, campaign_id: str, numbers: list[str], counter: AttemptCounter
) -> dict[str, LinkStatus | None]:
    async def one(number: str) -> tuple[str, LinkStatus | None]:
        try:
            entry = await _endpoints.get_number(requester, campaign_id, number, counter=counter)
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
    outcomes: Sequence[NumberOutcome], state: State, *, unlinked: bool
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


async def wait_and_fold(
    requester: Requester, report: BulkReport, *, unlinked: bool, wait: WaitPolicy
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
    counter = requester.sent.child()
    state = await poll_statuses(
        requester, report.campaign_id, waiting, unlinked=unlinked, wait=wait, counter=counter
    )
    return attrs.evolve(
        report,
        outcomes=tuple(fold_statuses(report.outcomes, state, unlinked=unlinked)),
        elapsed=report.elapsed + (time.monotonic() - started),
        requests=report.requests + counter.count,
    )


#: Outcome actions that are done when the number is gone from the campaign.
_UNLINK_ACTIONS = frozenset({"unlink", "wait_unlinked"})


async def wait_for_report(requester: Requester, report: BulkReport, wait: WaitPolicy) -> BulkReport:
    """Wait for the accepted (and already-but-not-final) numbers of ``report`` to be final.

    Outcomes of action ``unlink`` (or ``wait_unlinked``) are done when gone from the
    campaign; the others when COMPLETED or FAILED. A stopped report is returned as it is.
    """
    if report.stopped_reason is not None:
        return report
    for unlinked in (False, True):
        part = tuple(o for o in report.outcomes if (o.action in _UNLINK_ACTIONS) is unlinked)
        if not part:
            continue
        sub = attrs.evolve(report, outcomes=part)
        waited = await wait_and_fold(requester, sub, unlinked=unlinked, wait=wait)
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
    state = await poll_statuses(
        requester, campaign_id, valid, unlinked=unlinked, wait=wait, counter=counter
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
        requests=counter.count,
        duplicates=duplicates,
    )
