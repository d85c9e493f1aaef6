"""The bulk engine: many numbers through one :class:`~.._transport.Requester`, bounded.

- ``_run.py``: :class:`BulkRun`, the pool of workers over a lazily read input;
- ``_job.py``: a job's ledger (what was read, sent, settled) and its report;
- ``_link.py`` / ``_unlink.py``: how a unit is sent and its answers settled;
- ``_poll.py``: watching numbers until final (callbacks, polling with backoff);
- ``_wait.py``: waits folded into reports;
- ``_status.py``: a bounded status read for many numbers;
- ``_sync.py``: making a campaign hold exactly the desired numbers;
- ``_relink.py``, ``_unlinks.py``: the re-link window (a link while an unlink is pending).

The engine knows the transport and the protocol, never the session (which builds on it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable

import attrs

from .._config import WaitPolicy
from .._report import BulkReport
from .._telemetry import Call, Telemetry
from .._transport import Requester
from ._relink import relink_after_unlinks
from ._run import BulkRun
from ._status import get_numbers
from ._sync import sync
from ._unlinks import unlink_book
from ._wait import wait_for_numbers, wait_for_report

__all__ = [
    "BulkRun",
    "finish",
    "get_numbers",
    "sync",
    "traced",
    "traced_finish",
    "unlink_sent",
    "wait_for_numbers",
    "wait_for_report",
]

#: Seconds the receiving process's clock may run behind this one's (callbacks are stamped
#: where they are received).
_CLOCK_SKEW = 2.0


async def finish(run: BulkRun, wait: WaitPolicy | None) -> BulkReport:
    """Drive ``run`` to its end; with ``wait``, wait for what it changed to be final."""
    started = time.time()
    report = await run.run_to_report()
    deadline = run.requester.clock() + (wait.timeout if wait is not None else 0.0)
    if run.action == "link":
        callback = run._job.callback
        report = await relink_after_unlinks(
            run.requester,
            report,
            wait,
            batch_size=run._strategy.batch_size,
            url=callback.get("url"),
            method=callback.get("method"),
            on_outcome=run._on_outcome,
        )
    if wait is not None:
        wait = attrs.evolve(wait, timeout=max(0.0, deadline - run.requester.clock()))
        # A fatal answer while waiting is noted on the numbers, not raised: the report of
        # what was sent must reach the caller. Callbacks kept from before this call belong
        # to earlier requests: they do not count.
        report = await wait_for_report(
            run.requester, report, wait, strict=False, since=started - _CLOCK_SKEW
        )
    return report


def unlink_sent(requester: Requester, campaign_id: str, number: str) -> None:
    """Note an unlink the session sent outside a bulk job (see ``_relink.py``)."""
    unlink_book(requester).sent(campaign_id, number)


async def traced_finish(
    telemetry: Telemetry | None, run: BulkRun, wait: WaitPolicy | None
) -> BulkReport:
    """:func:`finish` for link_many and unlink_many, in the call's span (it covers the wait)."""
    if telemetry is None:
        return await finish(run, wait)
    run._span = None  # not a span of its own: the call's
    with telemetry.call(f"{run.action}_many", run.campaign_id) as call:
        report = await finish(run, wait)
        _finish_call(call, report, outcomes=True)
    return report


async def traced(
    telemetry: Telemetry | None, name: str, campaign_id: str, call: Awaitable[BulkReport]
) -> BulkReport:
    """Await the bulk call ``name`` (sync, a wait, a status read) in its span."""
    if telemetry is None:
        return await call
    with telemetry.call(name, campaign_id) as span:
        report = await call
        _finish_call(span, report, outcomes=name == "sync")
    return report


def _finish_call(call: Call, report: BulkReport, *, outcomes: bool) -> None:
    """A bulk call's counts on its span; with ``outcomes``, its link and unlink outcomes in
    the outcome counter (not for waits: those numbers were counted when linked)."""
    call.finish(report.counts, requests=report.requests, stopped=report.stopped_reason is not None)
    if not outcomes:
        return
    by_action: dict[str, Counter[str]] = {}
    for outcome in report.outcomes:
        if outcome.action in ("link", "unlink"):
            by_action.setdefault(outcome.action, Counter())[outcome.kind.value] += 1
    for action, counts in by_action.items():
        call.count_outcomes(action, counts)
