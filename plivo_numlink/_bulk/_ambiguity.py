"""Finding out which of a batch's numbers are already linked, at the job's scale.

A link batch is refused whole when one of its numbers is already linked ("The number X is
already requested for linking"), and a batch resent after its answer was lost meets that
answer for the numbers it linked itself. The link strategy (``_link.py``) then finds out
which are linked by the cheapest means at hand. The cost rule (``b``: the batch's size,
``k``: how many of its numbers are already linked, ``P``: the campaign's list pages of 20):

1. Campaign pages. Reading the campaign costs ``P + 1`` requests whatever the job, and
   pays off only for a re-run of most of the campaign; so it is read page by page, only
   as far as the job has earned, and at most once per job (a page is never read twice,
   and the statuses read are kept). A refused batch earns a third of a page per number,
   each request spent on the means below half a page. A re-run of a campaign of a few
   hundred numbers thus reads it at once and sends nothing more; on a large campaign the
   pages read cost at most about a third of a page per number of a refused batch plus
   half the requests the other means spent. Numbers the pages read list as PROCESSING or
   COMPLETED are settled ``ALREADY`` without a request; the others are sent again.
2. An error naming numbers: they are settled ``ALREADY`` and the rest is sent again, one
   request a round: ``k`` requests at most, never more than a GET per number would cost.
3. An error naming none, after a lost answer (the request was retried, so the batch most
   likely linked itself): one GET per member (``b``), then one request for the numbers
   not linked. A number's ``attempts`` then count its GET too.
4. An error naming none otherwise: bisection, at most ``2 * k * log2(b)`` requests; once
   the job has seen how many of its refused batches' numbers are linked, GETs instead
   when ``b + 1 < 2 * k * log2(b)`` at that rate.

Measured against FakePlivo with 20,000 numbers in the campaign (the fake names one number
per refusal); before this rule every case read the whole campaign:

- 99 new numbers and 1 linked, one batch of 100: 36 requests (was 1,003);
- 100 linked numbers, batches of 50: 182 requests (was 1,003);
- 2,000 new numbers, batches of 10, 2% of answers lost: 290 requests (was 1,306);
- the same three on a server whose refusals name no number: 49, 196 (batches of 20, one
  at a time) and 272 requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from .. import _protocol
from .._errors import PlivoError
from .._models import CampaignNumbers, LinkStatus
from .._protocol import CAMPAIGN_TEMPLATE, NUMBER_TEMPLATE
from ._job import Job

__all__ = ["PAGE_SIZE", "CampaignReader", "look_up"]

#: Numbers asked for per list page (Plivo's list APIs cap pages at 20).
PAGE_SIZE = 20
#: Pages a batch refused at its first attempt earns per number in it.
PAGES_PER_REFUSED_NUMBER = 1 / 3
#: Pages earned per request spent finding out about such a batch without the campaign.
PAGES_PER_SPENT_REQUEST = 1 / 2
#: Statuses that make a number already linked (or on its way) for a link job.
LINKED = frozenset({LinkStatus.PROCESSING, LinkStatus.COMPLETED})


class CampaignReader:
    """One job's read of its campaign: page by page, as far as the job has earned.

    :attr:`known` holds the statuses listed by the pages read so far; :attr:`complete`
    says the whole campaign was read. A read that fails (after the transport's retries) is
    not tried again.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.known: dict[str, LinkStatus] = {}
        self.complete = False
        self.failed = False
        self.pages = 0
        self._earned = 0.0
        self._offset = 0
        self._longest = 0
        self._lock = asyncio.Lock()

    def earn(self, pages: float) -> None:
        self._earned += pages

    @property
    def done(self) -> bool:
        return self.complete or self.failed

    async def read(self) -> None:
        """Read on while the pages earned allow (one reader at a time)."""
        async with self._lock:
            while not self.done and self.pages < self._earned:
                await self._next_page()

    async def _next_page(self) -> None:
        job = self.job
        params = {"limit": str(PAGE_SIZE), "offset": str(self._offset)}
        self.pages += 1
        try:
            answer = await job.requester.request(
                "GET",
                CAMPAIGN_TEMPLATE,
                job.path,
                params=params,
                counter=job.counter,
                gate=job.gate,
            )
            page = _protocol.parse_success(answer.status, answer.text, CampaignNumbers)
        except PlivoError:
            self.failed = True
            return
        known = self.known
        fresh = 0
        for entry in page.phone_numbers:
            if entry.number not in known:
                fresh += 1
            known[entry.number] = entry.status
        count = len(page.phone_numbers)
        # The same ends as _endpoints.iter_pages: an empty or short page, or one that adds
        # nothing new (a server that ignores paging).
        if count == 0 or count < self._longest or not fresh:
            self.complete = True
        self._longest = max(self._longest, count)
        self._offset += count

    def linked(self, numbers: Iterable[str]) -> tuple[dict[str, LinkStatus], list[str]]:
        """Split ``numbers`` into those the pages read list as linked, and the others."""
        known = self.known
        found: dict[str, LinkStatus] = {}
        rest: list[str] = []
        for number in numbers:
            status = known.get(number)
            if status in LINKED:
                assert status is not None
                found[number] = status
            else:
                rest.append(number)
        return found, rest


async def look_up(job: Job, numbers: list[str]) -> dict[str, tuple[LinkStatus | None, int]]:
    """Each number's status in the campaign by one GET each, and the attempts it took.

    The status is None when the number is not linked, or could not be read.
    """

    async def status(number: str) -> tuple[LinkStatus | None, int]:
        path = _protocol.number_path(job.requester.auth_id, job.campaign_id, number)
        counter = job.counter.child()
        try:
            answer = await job.requester.request(
                "GET", NUMBER_TEMPLATE, path, counter=counter, gate=job.gate
            )
            return _protocol.find_status(answer, number).status, counter.count
        except PlivoError:
            # Not linked (404), or not known: sending it again tells.
            return None, counter.count

    statuses = await asyncio.gather(*(status(number) for number in numbers))
    return dict(zip(numbers, statuses, strict=True))
