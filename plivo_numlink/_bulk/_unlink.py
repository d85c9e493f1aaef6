"""Unlinking one number: "not linked to this campaign" is success (``ALREADY``).

A bare 404 for a number is ambiguous (the number, or the whole campaign?): the campaign is
then asked about once per job, and a missing campaign stops the job.
"""

from __future__ import annotations

import asyncio

from .. import _protocol
from .._errors import APIStatusError, PlivoError, ResponseFormatError, TransportError
from .._protocol import CAMPAIGN_TEMPLATE, NUMBER_TEMPLATE, classify
from .._report import NumberOutcome, OutcomeKind
from ._job import Job, JobStopped
from ._unlinks import unlink_book

__all__ = ["UnlinkStrategy"]


class UnlinkStrategy:
    """Sends the unlink requests of one job."""

    batch_size = 1

    def __init__(self, job: Job) -> None:
        self.job = job
        self._body = job.callback or None
        # Whether the campaign exists, once a bare 404 on an unlink made it a question.
        self._campaign_known: bool | None = None
        self._lock = asyncio.Lock()
        # The session's book of unlinks sent (looked up once, not per number).
        self._book = unlink_book(job.requester)

    async def send_unit(self, numbers: list[str]) -> list[NumberOutcome]:
        job = self.job
        [number] = numbers
        path = _protocol.number_path(job.requester.auth_id, job.campaign_id, number)
        counter = job.counter.child()
        try:
            api_id = await job.send("DELETE", NUMBER_TEMPLATE, path, self._body, numbers, counter)
        except JobStopped:
            return job.stopped_outcomes(numbers, counter.count)
        except APIStatusError as exc:
            verdict = classify("unlink", exc)
            if (
                exc.status_code == 404
                and not verdict.already
                and not verdict.campaign_missing
                and not await self._campaign_exists()
            ):
                # A bare "not found" for the number: it was the campaign that is missing.
                job.stop(f"HTTP 404: campaign {job.campaign_id} not found")
                return job.failed(exc, numbers, counter.count)
            if exc.status_code == 404 and not verdict.campaign_missing:
                return job.already(numbers, exc, counter.count)
            return job.settle_rejection(exc, verdict, numbers, counter.count)
        except (TransportError, ResponseFormatError) as exc:
            return job.failed(exc, numbers, counter.count)
        self._book.sent(job.campaign_id, number)
        return [job.outcome(number, OutcomeKind.ACCEPTED, api_id=api_id, attempts=counter.count)]

    async def _campaign_exists(self) -> bool:
        """Whether the campaign exists (asked once per job; True when it cannot be told)."""
        job = self.job
        async with self._lock:
            if self._campaign_known is None:
                self._campaign_known = True  # unless the campaign itself answers 404
                try:
                    await job.requester.request(
                        "GET",
                        CAMPAIGN_TEMPLATE,
                        job.path,
                        params={"limit": "1", "offset": "0"},
                        counter=job.counter,
                    )
                except APIStatusError as exc:
                    self._campaign_known = exc.status_code != 404
                except PlivoError:
                    pass
        return self._campaign_known
