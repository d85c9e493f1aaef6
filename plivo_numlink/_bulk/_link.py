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

import attrs

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
        self, numbers: list[str], prior: int, *, tainted: bool = False, looked_up: bool = False
    ) -> list[NumberOutcome]:
        """Link a batch; ``prior`` counts the attempts already made for it in larger ones.

        ``tainted``: an earlier request for these numbers was retried, so this job may have
        linked them itself (its answer lost); ``looked_up``: each number was asked about.
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
            chain = _Chain(
                top=prior == 0,
                spent=counter.count,
                tainted=tainted or counter.count > 1,
                looked_up=looked_up,
            )
            return settled + await self._rejected(exc, numbers, prior + counter.count, chain)
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
        self, exc: APIStatusError, numbers: list[str], attempts: int, chain: _Chain
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
            outcomes = await self._resolve(exc, verdict, numbers, attempts, chain)
            if chain.top:
                self._ambiguous += len(outcomes)
                self._ambiguous_linked += sum(o.kind is OutcomeKind.ALREADY for o in outcomes)
            return outcomes
        if verdict.named:
            return await self._drop_named(exc, verdict, numbers, attempts, chain)
        return await self._bisect(numbers, attempts, chain)

    async def _resolve(
        self,
        exc: APIStatusError,
        verdict: Verdict,
        numbers: list[str],
        attempts: int,
        chain: _Chain,
    ) -> list[NumberOutcome]:
        """Which numbers of a batch refused as "already requested" are linked (the cost
        rule of ``_ambiguity.py``)."""
        reader = self._reader
        if not reader.done:
            # The campaign pages may tell, as far as this refusal earns them.
            if chain.top:
                reader.earn(PAGES_PER_REFUSED_NUMBER * len(numbers))
            else:
                reader.earn(PAGES_PER_SPENT_REQUEST * chain.spent)
            await reader.read()
            settled, rest = self._settle_known(numbers, attempts)
            if settled:
                return settled + (await self._link(rest, attempts, **chain.options) if rest else [])
        if verdict.named:
            # k linked numbers cost k more requests at most: never more than a GET each.
            return await self._drop_named(exc, verdict, numbers, attempts, chain)
        if not chain.looked_up and (chain.tainted or self._lookup_is_cheaper(len(numbers))):
            # After a lost answer the batch most likely linked itself: b GETs beat the
            # 2 * b * log2(b) requests of bisecting a batch that is linked through.
            return await self._look_up(numbers, attempts, chain)
        return await self._bisect(numbers, attempts, chain)

    def _lookup_is_cheaper(self, size: int) -> bool:
        """Whether ``size`` GETs cost less than bisection at the job's rate of linked ones."""
        if not self._ambiguous:
            return False
        expected = size * self._ambiguous_linked / self._ambiguous
        return size + 1 < 2 * max(1.0, expected) * math.log2(size)

    async def _look_up(
        self, numbers: list[str], attempts: int, chain: _Chain
    ) -> list[NumberOutcome]:
        """Ask about each number with a GET; send the ones not linked again."""
        job = self.job
        statuses = await look_up(job, numbers)
        self._reader.earn(PAGES_PER_SPENT_REQUEST * len(numbers))
        # A number's attempts count every request that carried it, its GETs included.
        found = {n: s for n, (s, _) in statuses.items() if s is not None and s in LINKED}
        outcome = job.outcome
        settled = [
            outcome(n, OutcomeKind.ALREADY, status=s, attempts=attempts + statuses[n][1])
            for n, s in found.items()
        ]
        rest = [n for n in numbers if n not in found]
        if not rest:
            return settled
        resent = await self._link(rest, attempts, tainted=chain.tainted, looked_up=True)
        return settled + [
            attrs.evolve(o, attempts=o.attempts + statuses[o.number][1]) for o in resent
        ]

    async def _drop_named(
        self,
        exc: APIStatusError,
        verdict: Verdict,
        numbers: list[str],
        attempts: int,
        chain: _Chain,
    ) -> list[NumberOutcome]:
        """The error is about the numbers it names: settle them and send the rest again."""
        rest = [n for n in numbers if n not in verdict.named]
        settled = self.job.settle_rejection(exc, verdict, verdict.named, attempts)
        if not rest:
            return settled
        return settled + await self._link(rest, attempts, **chain.options)

    async def _bisect(
        self, numbers: list[str], attempts: int, chain: _Chain
    ) -> list[NumberOutcome]:
        half = len(numbers) // 2
        left = await self._link(numbers[:half], attempts, **chain.options)
        right = await self._link(numbers[half:], attempts, **chain.options)
        if all(o.kind is OutcomeKind.ACCEPTED for o in left + right):
            # Both halves went through whole: the server caps the batch size.
            self.batch_size = min(self.batch_size, len(numbers) - half)
        return left + right


@attrs.frozen
class _Chain:
    """How a refused request came about (what the cheapest way to resolve it depends on)."""

    #: The batch as the job sent it first (not a part resent after a split).
    top: bool
    #: The attempts this request took.
    spent: int
    #: This request, or one for a batch it was split from, was retried: the job may have
    #: linked these numbers itself, its answer lost.
    tainted: bool
    #: Each number of it was asked about with a GET already.
    looked_up: bool

    @property
    def options(self) -> dict[str, bool]:
        """What a part of this batch sent again inherits."""
        return {"tainted": self.tainted, "looked_up": self.looked_up}
