"""The re-link window: linking a number whose unlink Plivo is still processing.

Plivo documents statuses for linking only (PROCESSING, COMPLETED, FAILED); nothing says how
a number shows while its *unlink* is being processed, nor how a link of it is answered
then. The cautious reading (the one the project's fake implements): it is listed as it was
(COMPLETED) until the unlink is done, and a link of it is refused as "already requested
for linking", which would make it ``ALREADY`` and ok, although the unlink then removes it.
Neither the status nor the answer tells the two apart, so the session remembers the unlinks
it sent (:class:`UnlinkBook`) until it sees the number gone (or linked again), and a link
or sync that finds such a number "already" linked does not report it ok:

- with a wait, it waits for the unlink to finish, links the number again, and waits for
  that link like the others;
- without one, it reports the number ``PENDING`` (not ok), saying why.

Unlinks sent by another process or session cannot be known; see docs/waiting.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs

from .._config import WaitPolicy
from .._report import BulkReport, NumberOutcome, OutcomeKind
from .._transport import Requester
from ._poll import poll_statuses
from ._run import BulkRun
from ._unlinks import unlink_book

__all__ = ["UNLINK_PENDING", "relink_after_unlinks"]

UNLINK_PENDING = (
    "an unlink of this number (sent by this session) is still being processed by Plivo, so "
    "it will not stay linked: link it again once the unlink is done (or pass wait=True)"
)
_STILL_UNLINKING = "its unlink was still being processed when the wait ended: not linked again"


async def relink_after_unlinks(
    requester: Requester,
    report: BulkReport,
    wait: WaitPolicy | None,
    *,
    batch_size: int,
    url: str | None,
    method: str | None,
    on_outcome: Callable[[NumberOutcome], object] | None = None,
) -> BulkReport:
    """``report`` (a link's) with its numbers caught in the re-link window dealt with.

    Returns ``report`` itself when no number is in the window.
    """
    book = unlink_book(requester)
    campaign_id = report.campaign_id
    for outcome in report.outcomes:
        if outcome.kind is OutcomeKind.ACCEPTED:
            book.done(campaign_id, outcome.number)  # a link accepted after the unlink wins
    caught = {
        o.number: o
        for o in report.outcomes
        if o.kind is OutcomeKind.ALREADY and book.pending(campaign_id, o.number)
    }
    if not caught or report.stopped_reason is not None:
        return report
    if wait is None:
        replaced = {
            n: attrs.evolve(o, kind=OutcomeKind.PENDING, ok=False, error=UNLINK_PENDING)
            for n, o in caught.items()
        }
        return attrs.evolve(report, outcomes=tuple(replaced.get(o.number, o) for o in report))
    started = time.time()
    counter = requester.sent.child()
    numbers = list(caught)
    state = await poll_statuses(
        requester,
        campaign_id,
        numbers,
        unlinked=True,
        wait=attrs.evolve(wait, on_outcome=None, on_progress=None),
        counter=counter,
        strict=False,
        since=started - 2.0,
    )
    gone = [n for n in numbers if state[n] == (None, None)]
    replaced = {
        n: attrs.evolve(
            caught[n], kind=OutcomeKind.PENDING, ok=False, error=state[n][1] or _STILL_UNLINKING
        )
        for n in numbers
        if n not in gone
    }
    requests = counter.count
    if gone:
        for number in gone:
            book.done(campaign_id, number)
        run = BulkRun(
            requester,
            "link",
            campaign_id,
            gone,
            batch_size=batch_size,
            url=url,
            method=method,
            on_outcome=on_outcome,
        )
        relinked = await run.run_to_report()
        requests += relinked.requests
        for outcome in relinked.outcomes:
            first = caught[outcome.number]
            replaced[outcome.number] = attrs.evolve(
                outcome, input=first.input, index=first.index, line=first.line
            )
    return attrs.evolve(
        report,
        outcomes=tuple(replaced.get(o.number, o) for o in report),
        requests=report.requests + requests,
    )
