"""Linking a batch: send it whole, and split it on a 4xx so every good number gets linked.

A batch rejected with a 4xx other than 401/403 is split: a number the error names is
settled on its own and the rest re-sent; otherwise the batch is halved, recursively, so
``k`` bad numbers cost at most about ``2 * k * log2(batch_size)`` extra requests (both
halves are sent at every level). When both halves of an unexplained rejection go through,
the server has a batch cap: later batches use it. The first "already requested" answer
shows that the job repeats earlier work (a re-run): the campaign is then read once, and
numbers it lists as PROCESSING or COMPLETED are settled without being sent again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .. import _endpoints
from .._errors import APIStatusError, PlivoError, ResponseFormatError, TransportError
from .._models import LinkStatus
from .._protocol import CAMPAIGN_TEMPLATE, classify
from .._report import NumberOutcome, OutcomeKind
from ._job import Job, JobStopped

__all__ = ["LinkStrategy"]


class LinkStrategy:
    """Sends the link batches of one job."""

    def __init__(self, job: Job, batch_size: int) -> None:
        self.job = job
        self.batch_size = batch_size
        self._snapshot: dict[str, LinkStatus] | None = None
        self._snapshot_lock = asyncio.Lock()
        self._snapshot_tried = False

    async def send_unit(self, numbers: list[str]) -> list[NumberOutcome]:
        return await self._link(numbers, 0)

    async def _link(self, numbers: list[str], prior: int) -> list[NumberOutcome]:
        """Link a batch; ``prior`` counts the attempts already made for it in larger ones."""
        job = self.job
        if job.stopped_reason is not None:
            return job.stopped_outcomes(numbers, prior)
        settled: list[NumberOutcome] = []
        if self._snapshot is not None:
            settled, numbers = self._settle_known(numbers, prior)
            if not numbers:
                return settled
        body: dict[str, Any] = {"numbers": numbers, **job.callback}
        counter = job.counter.child()
        try:
            api_id = await job.send("POST", CAMPAIGN_TEMPLATE, job.path, body, numbers, counter)
        except JobStopped:
            return settled + job.stopped_outcomes(numbers, prior + counter.count)
        except APIStatusError as exc:
            return settled + await self._rejected(exc, numbers, prior + counter.count)
        except (TransportError, ResponseFormatError) as exc:
            return settled + job.failed(exc, numbers, prior + counter.count)
        attempts = prior + counter.count
        outcome = job.outcome
        return settled + [
            outcome(n, OutcomeKind.ACCEPTED, api_id=api_id, attempts=attempts) for n in numbers
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
                    self.job.outcome(number, OutcomeKind.ALREADY, status=status, attempts=attempts)
                )
            else:
                rest.append(number)
        return settled, rest

    async def _take_snapshot(self) -> bool:
        """Read the campaign once per job; False when that is not possible."""
        job = self.job
        async with self._snapshot_lock:
            if not self._snapshot_tried:
                self._snapshot_tried = True
                try:
                    campaign = await _endpoints.list_numbers(
                        job.requester, job.campaign_id, counter=job.counter
                    )
                except PlivoError:
                    pass
                else:
                    self._snapshot = {e.number: e.status for e in campaign.phone_numbers}
        return self._snapshot is not None

    async def _rejected(
        self, exc: APIStatusError, numbers: list[str], attempts: int
    ) -> list[NumberOutcome]:
        job = self.job
        verdict = classify("link", exc, numbers)
        if not verdict.refusal or verdict.campaign_missing:
            return job.failed(exc, numbers, attempts)
        if exc.status_code == 404 and not verdict.named:
            # The POST's path is the campaign's: a 404 naming no number means no campaign.
            job.stop(f"HTTP 404 {type(exc).__name__}: {exc.message} (campaign {job.campaign_id})")
            return job.failed(exc, numbers, attempts)
        if len(numbers) == 1:
            return job.settle_rejection(exc, verdict, numbers, attempts)
        if verdict.already and await self._take_snapshot():
            settled, rest = self._settle_known(numbers, attempts)
            if settled:
                return settled + (await self._link(rest, attempts) if rest else [])
        if verdict.named:
            # The error is about these numbers: settle them and send the rest again.
            rest = [n for n in numbers if n not in verdict.named]
            settled = job.settle_rejection(exc, verdict, verdict.named, attempts)
            return settled + (await self._link(rest, attempts) if rest else [])
        half = len(numbers) // 2
        left = await self._link(numbers[:half], attempts)
        right = await self._link(numbers[half:], attempts)
        if all(o.kind is OutcomeKind.ACCEPTED for o in left + right):
            # Both halves went through whole: the server caps the batch size.
            self.batch_size = min(self.batch_size, len(numbers) - half)
        return left + right
