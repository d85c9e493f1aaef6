"""Waiting for Plivo's processing: poll numbers until final, and fold what was seen into reports.

Each polling round costs the cheaper of one GET per pending number and the list endpoint's
pages. Every request made counts on the caller's :class:`~.._transport.AttemptCounter`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Awaitable, Iterable, Sequence
from typing import TypeVar

import attrs

from .. import _endpoints
from .._config import WaitPolicy
from .._errors import (
    APIStatusError,
    AuthenticationError,
    CampaignNotFoundError,
    CertificateVerificationError,
    ForbiddenError,
    NotFoundError,
    ResponseFormatError,
    TransportError,
)
from .._models import LinkStatus
from .._numbers import validate_campaign_id
from .._protocol import classify, is_already_in_state, is_campaign_missing
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

T = TypeVar("T")

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
    strict: bool = True,
) -> State:
    """Poll until each number is final (or gone, for unlink) or the wait's deadline passes.

    Returns number -> (last status seen or ``None`` when not listed, error text or None).
    ``wait.timeout`` is a deadline for the whole call, requests in flight included. With
    ``strict``, 401, 403, an unknown campaign (:class:`CampaignNotFoundError` naming it)
    and a failed certificate check raise; without, they end the polling as a failure noted
    on each pending number (a bulk call's own wait keeps the report it is folded into).
    """
    sleep, clock = requester.sleep, requester.clock
    deadline = clock() + wait.timeout
    pending = dict.fromkeys(numbers)
    state: State = dict.fromkeys(numbers, (None, None))
    campaign_size: int | None = None
    rounds = 0
    while pending:
        use_list = not (
            (campaign_size is not None and len(pending) <= campaign_size // _PAGE + 1)
            or (campaign_size is None and len(pending) <= 2)
        )
        try:
            if use_list:
                listing = await _within(
                    _endpoints.list_numbers(requester, campaign_id, counter=counter),
                    deadline - clock(),
                )
                campaign_size = len(listing.phone_numbers)
                listed = {entry.number: entry.status for entry in listing.phone_numbers}
                seen = {n: listed.get(n) for n in pending}
            else:
                seen = await _within(
                    _get_each(requester, campaign_id, list(pending), counter, strict=strict),
                    deadline - clock(),
                )
        except asyncio.TimeoutError:
            # The deadline passed with this round's requests in flight (they are cancelled).
            # An earlier round's reading stands; without one, say why there is none.
            if not rounds:
                for n in pending:
                    state[n] = (None, "polling failed: no answer before the wait's deadline")
            break
        except APIStatusError as exc:
            if strict and isinstance(exc, AuthenticationError | ForbiddenError):
                raise  # nothing sent with these credentials can succeed: polling is pointless
            if strict and (
                (use_list and isinstance(exc, NotFoundError)) or is_campaign_missing(exc)
            ):
                raise _campaign_missing(campaign_id, exc) from exc
            # Until a later round reads them, the pending numbers carry this failure: an
            # unlink wait must not take "never seen" for "gone".
            for n in pending:
                state[n] = (state[n][0], f"polling failed: HTTP {exc.status_code}: {exc.message}")
            # 5xx and 429 that outlasted their retries: the next round may do better.
            if not classify("wait", exc).transient:
                return state
            seen = {}
        except CertificateVerificationError as exc:
            if strict:
                raise  # every later round would meet the same certificate
            for n in pending:
                state[n] = (state[n][0], f"polling failed: {exc}")
            return state
        except (TransportError, ResponseFormatError) as exc:
            for n in pending:
                state[n] = (state[n][0], f"polling failed: {exc}")
            if isinstance(exc, ResponseFormatError):
                # Not a transient fault (the session does not retry it either): say so.
                return state
            seen = {}
        rounds += 1
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


#: The least time a polling round is given, even past the deadline (``timeout=0`` still
#: reads the statuses once), so a call returns within about this long after its deadline.
_ROUND_FLOOR = 1.0


async def _within(awaitable: Awaitable[T], remaining: float) -> T:
    """``awaitable``, cancelled (``asyncio.TimeoutError``) once the wait's deadline passed."""
    return await asyncio.wait_for(awaitable, max(remaining, _ROUND_FLOOR))


def _campaign_missing(campaign_id: str, exc: APIStatusError) -> CampaignNotFoundError:
    """The error for a wait on a campaign the server does not know, naming it."""
    message = (
        exc.message if campaign_id in exc.message else f"campaign {campaign_id}: {exc.message}"
    )
    return CampaignNotFoundError(
        message,
        status_code=exc.status_code,
        api_id=exc.api_id,
        body=exc.body,
        text=exc.text,
        method=exc.method,
        path=exc.path,
    )


async def _get_each(
    requester: Requester,
    campaign_id: str,
    numbers: list[str],
    counter: AttemptCounter,
    *,
    strict: bool,
) -> dict[str, LinkStatus | None]:
    async def one(number: str) -> tuple[str, LinkStatus | None]:
        try:
            entry = await _endpoints.get_number(requester, campaign_id, number, counter=counter)
        except NotFoundError as exc:
            if strict and is_campaign_missing(exc):
                raise
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
) -> BulkReport:
    """Wait for the accepted (and already-in-state) numbers of ``report`` to be final.

    ``strict`` as for :func:`poll_statuses`.
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
    requester: Requester, report: BulkReport, wait: WaitPolicy, *, strict: bool = True
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
        waited = await wait_and_fold(requester, sub, unlinked=unlinked, wait=left, strict=strict)
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
