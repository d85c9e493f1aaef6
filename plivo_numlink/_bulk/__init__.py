"""The bulk engine: many numbers through one :class:`~.._transport.Requester`, bounded.

- ``_run.py``: :class:`BulkRun`, the pool of workers over a lazily read input;
- ``_job.py``: a job's ledger (what was read, sent, settled) and its report;
- ``_link.py`` / ``_unlink.py``: how a unit is sent and its answers settled;
- ``_wait.py``: polling until numbers are final, folded into reports;
- ``_status.py``: a bounded status read for many numbers;
- ``_sync.py``: making a campaign hold exactly the desired numbers.

The engine knows the transport and the protocol, never the session (which builds on it).
"""

from __future__ import annotations

from typing import Any

from .._config import DEFAULT_BATCH_SIZE, DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_TIMEOUT, WaitPolicy
from .._config import MIN_ERROR_BUDGET as MIN_ERROR_BUDGET
from .._protocol import is_already_in_state, is_campaign_missing, numbers_named
from .._report import BulkReport
from ._job import JobStopped
from ._run import BulkRun
from ._status import get_numbers
from ._sync import sync
from ._wait import fold_statuses, poll_statuses, wait_for_numbers, wait_for_report

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_WAIT_TIMEOUT",
    "BulkRun",
    "JobStopped",
    "finish",
    "fold_statuses",
    "get_numbers",
    "is_already_in_state",
    "is_campaign_missing",
    "numbers_named",
    "poll_statuses",
    "sync",
    "wait_and_fold",
    "wait_for_numbers",
    "wait_for_report",
]


async def finish(run: BulkRun, wait: WaitPolicy | None) -> BulkReport:
    """Drive ``run`` to its end; with ``wait``, wait for what it changed to be final."""
    report = await run.run_to_report()
    if wait is not None:
        # A fatal answer while waiting is noted on the numbers, not raised: the report of
        # what was sent must reach the caller.
        report = await wait_for_report(run.requester, report, wait, strict=False)
    return report


async def wait_and_fold(
    session: Any, report: BulkReport, *, unlinked: bool, timeout: float, poll_interval: float
) -> BulkReport:
    """The 0.1 command line's way to wait for a report; use ``session.wait_for_report``."""
    del unlinked  # each outcome's action says it
    waited: BulkReport = await session.wait_for_report(
        report, timeout=timeout, poll_interval=poll_interval
    )
    return waited
