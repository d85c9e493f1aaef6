"""Linking a batch: send it whole, and split it on a 4xx so every good number gets linked.

A batch rejected with a 4xx other than 401/403 is split: a number the error names is
settled on its own and the rest re-sent; otherwise the batch is halved, recursively, so
``k`` bad numbers cost at most about ``2 * k * log2(batch_size)`` extra requests (both
halves are sent at every level). When both halves of an unexplained rejection go through,
the server has a batch cap: later batches use it. An "already requested" answer (a re-run,
or a resend after a lost answer) is resolved at the job's scale: see ``_ambiguity.py`` for
the cost rule (named numbers dropped, per-number GETs, bisection, and a campaign read
only as far as the job has earned it, once per job at most).
"""

from __future__ import annotations

import math
from typing import Any

from .._errors import APIStatusError, ResponseFormatError, TransportError
from .._models import LinkStatus
from .._protocol import CAMPAIGN_TEMPLATE, Verdict, classify
from .._report import NumberOutcome, OutcomeKind
from ._ambiguity import (
    LINKED,
    PAGES_PER_REFUSED_NUMBER,
    PAGES_PER_SPENT_REQUEST,
    CampaignReader,
    look_up,
)
from ._job import Job, JobStopped

__all__ = ["LinkStrategy"]


class LinkStrategy:
    """Sends the link batches of one job."""

    def __init__(self, job: Job, batch_size: int) -> None:
        self.job = job
        self.batch_size = batch_size
        self._reader = CampaignReader(job)
        # Numbers of "already" batches resolved so far, and how many of them were linked:
        # whether per-number GETs beat bisection for the next batch whose error names none.
        self._ambiguous = 0
        self._ambiguous_linked = 0

    async def send_unit(self, numbers: list[str]) -> list[NumberOutcome]:
        return await self._link(numbers, 0)

    async def _link(
        self, numbers: list[str], prior: int, *, rerun: bool = False, looked_up: bool = False
    ) -> list[NumberOutcome]:
        """Link a batch; ``prior`` counts the attempts already made for it in larger ones.

        ``rerun``: the batch is part of one refused at its first attempt (the requests
        spent on it earn campaign pages); ``looked_up``: its numbers were each asked about.
        """
        job = self.job
        if job.stopped_reason is not None:
            return job.stopped_outcomes(numbers, prior)
        settled: list[NumberOutcome] = []
        if self._reader.known:
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
            attempts = prior + counter.count
            if prior == 0:
                # A first refusal is a re-run; one after a resend may be the job's own link.
                rerun = counter.count == 1
            elif rerun:
                self._reader.earn(PAGES_PER_SPENT_REQUEST * counter.count)
            return settled + await self._rejected(
                exc, numbers, attempts, top=prior == 0, rerun=rerun, looked_up=looked_up
            )
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
        """Split off the numbers the campaign pages read show as linked or processing."""
        found, rest = self._reader.linked(numbers)
        return self._already(found, attempts), rest

    def _already(self, found: dict[str, LinkStatus], attempts: int) -> list[NumberOutcome]:
        outcome = self.job.outcome
        return [
            outcome(number, OutcomeKind.ALREADY, status=status, attempts=attempts)
            for number, status in found.items()
        ]

    async def _rejected(
        self,
        exc: APIStatusError,
        numbers: list[str],
        attempts: int,
        *,
        top: bool = False,
        rerun: bool = False,
        looked_up: bool = False,
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
        if verdict.already:
            outcomes = await self._resolve(exc, verdict, numbers, attempts, rerun, looked_up)
            if top:
                self._ambiguous += len(outcomes)
                self._ambiguous_linked += sum(o.kind is OutcomeKind.ALREADY for o in outcomes)
            return outcomes
        if verdict.named:
            return await self._drop_named(exc, verdict, numbers, attempts)
        return await self._bisect(numbers, attempts)

    async def _resolve(
        self,
        exc: APIStatusError,
        verdict: Verdict,
        numbers: list[str],
        attempts: int,
        rerun: bool,
        looked_up: bool,
    ) -> list[NumberOutcome]:
        """Which numbers of a batch refused as "already requested" are linked."""
        reader = self._reader
        if rerun and not reader.done:
            if attempts == 1:
                reader.earn(PAGES_PER_REFUSED_NUMBER * len(numbers))
            await reader.read()
            settled, rest = self._settle_known(numbers, attempts)
            if settled:
                return settled + (await self._link(rest, attempts, rerun=rerun) if rest else [])
        if not rerun and not looked_up:
            # A resend after a lost answer: the batch most likely linked itself, so ask
            # about each member rather than send the batch again once per linked number.
            return await self._look_up(exc, verdict, numbers, attempts, rerun)
        if verdict.named:
            return await self._drop_named(exc, verdict, numbers, attempts, rerun=rerun)
        if not looked_up and self._lookup_is_cheaper(len(numbers)):
            return await self._look_up(exc, verdict, numbers, attempts, rerun)
        return await self._bisect(numbers, attempts, rerun=rerun, looked_up=looked_up)

    def _lookup_is_cheaper(self, size: int) -> bool:
        """Whether ``size`` GETs cost less than bisection at the job's rate of linked ones."""
        if not self._ambiguous:
            return False
        expected = size * self._ambiguous_linked / self._ambiguous
        return size + 1 < 2 * max(1.0, expected) * math.log2(size)

    async def _look_up(
        self,
        exc: APIStatusError,
        verdict: Verdict,
        numbers: list[str],
        attempts: int,
        rerun: bool,
    ) -> list[NumberOutcome]:
        """Ask about each number the error does not name; send the ones not linked again."""
        job = self.job
        settled = job.already(verdict.named, exc, attempts) if verdict.named else []
        asked = [n for n in numbers if n not in verdict.named]
        statuses = await look_up(job, asked)
        if rerun:
            self._reader.earn(PAGES_PER_SPENT_REQUEST * len(asked))
        found = {n: s for n, s in statuses.items() if s is not None and s in LINKED}
        rest = [n for n in asked if n not in found]
        settled += self._already(found, attempts)
        if not rest:
            return settled
        return settled + await self._link(rest, attempts, rerun=rerun, looked_up=True)

    async def _drop_named(
        self,
        exc: APIStatusError,
        verdict: Verdict,
        numbers: list[str],
        attempts: int,
        *,
        rerun: bool = False,
    ) -> list[NumberOutcome]:
        """The error is about the numbers it names: settle them and send the rest again."""
        rest = [n for n in numbers if n not in verdict.named]
        settled = self.job.settle_rejection(exc, verdict, verdict.named, attempts)
        return settled + (await self._link(rest, attempts, rerun=rerun) if rest else [])

    async def _bisect(
        self, numbers: list[str], attempts: int, *, rerun: bool = False, looked_up: bool = False
    ) -> list[NumberOutcome]:
        half = len(numbers) // 2
        left = await self._link(numbers[:half], attempts, rerun=rerun, looked_up=looked_up)
        right = await self._link(numbers[half:], attempts, rerun=rerun, looked_up=looked_up)
        if all(o.kind is OutcomeKind.ACCEPTED for o in left + right):
            # Both halves went through whole: the server caps the batch size.
            self.batch_size = min(self.batch_size, len(numbers) - half)
        return left + right
