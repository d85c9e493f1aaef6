"""Sync: make a campaign hold exactly the desired numbers, sending only the difference."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Callable, Iterable

import attrs

from .. import _endpoints
from .._config import WaitPolicy, check_batch_size
from .._models import LinkStatus
from .._numbers import validate_callback, validate_campaign_id
from .._report import BulkReport, NumberOutcome, OutcomeKind
from .._transport import Requester
from ._input import read_distinct
from ._relink import relink_after_unlinks
from ._run import BulkRun
from ._unlinks import unlink_book
from ._wait import wait_and_fold

__all__ = ["sync"]


async def sync(
    requester: Requester,
    campaign_id: str,
    numbers: Iterable[str] | AsyncIterable[str],
    *,
    unlink_extra: bool,
    batch_size: int,
    url: str | None,
    method: str | None,
    wait: WaitPolicy | None,
    on_outcome: Callable[[NumberOutcome], object] | None = None,
) -> BulkReport:
    """Make ``campaign_id`` hold exactly the desired numbers (see NumLinkSession.sync).

    ``wait`` (when given) also waits for what was changed, and for numbers found
    PROCESSING, to be final.
    """
    validate_campaign_id(campaign_id)
    validate_callback(url, method)
    check_batch_size(batch_size)
    started = time.monotonic()
    valid, order, duplicates = await read_distinct(numbers)
    read = requester.sent.child()
    campaign = await _endpoints.list_numbers(requester, campaign_id, counter=read)
    current = {entry.number: entry.status for entry in campaign.phone_numbers}
    to_link = [n for n in valid if current.get(n) in (None, LinkStatus.FAILED)]
    desired = set(valid)
    extras = [n for n in current if n not in desired] if unlink_extra else []

    started_at = time.time()
    link_run = BulkRun(
        requester,
        "link",
        campaign_id,
        to_link,
        batch_size=batch_size,
        url=url,
        method=method,
        on_outcome=on_outcome,
    )
    link_report = await link_run.run_to_report()
    stopped = link_report.stopped_reason
    if extras and stopped is None:
        unlink_run = BulkRun(
            requester, "unlink", campaign_id, extras, url=url, method=method, on_outcome=on_outcome
        )
        unlink_report = await unlink_run.run_to_report()
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
    deadline = requester.clock() + (wait.timeout if wait is not None else 0.0)
    book = unlink_book(requester)
    for number in valid:
        if number not in current:
            book.done(campaign_id, number)  # gone: an unlink of it is over
    if stopped is None:
        link_report = await relink_after_unlinks(
            requester,
            link_report,
            wait,
            batch_size=batch_size,
            url=url,
            method=method,
            on_outcome=on_outcome,
        )
    if wait is not None and stopped is None:
        # Numbers found PROCESSING are waited for too, not only the ones linked now.
        # One deadline for all the waits; a fatal answer is noted, not raised (see finish()).
        wait = attrs.evolve(wait, timeout=max(0.0, deadline - requester.clock()))
        link_report = await wait_and_fold(
            requester, link_report, unlinked=False, wait=wait, strict=False, since=started_at
        )
        left = attrs.evolve(wait, timeout=max(0.0, deadline - requester.clock()))
        unlink_report = await wait_and_fold(
            requester, unlink_report, unlinked=True, wait=left, strict=False, since=started_at
        )
    outcomes = list(link_report.outcomes)
    outcomes.extend(unlink_report.outcomes)
    return BulkReport(
        outcomes=tuple(outcomes),
        action="sync",
        campaign_id=campaign_id,
        stopped_reason=stopped,
        elapsed=time.monotonic() - started,
        requests=read.count + link_report.requests + unlink_report.requests,
        duplicates=duplicates,
    )
