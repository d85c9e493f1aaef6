"""Reading many numbers' statuses: a bounded pool of reads over a lazily read input."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Iterable

from .. import _endpoints
from .._errors import (
    AuthenticationError,
    CampaignNotFoundError,
    CertificateVerificationError,
    ForbiddenError,
    NotFoundError,
    PlivoError,
    ProxyAuthenticationError,
)
from .._models import LinkStatus
from .._numbers import validate_campaign_id
from .._report import BulkReport, NumberOutcome, OutcomeKind
from .._transport import AttemptCounter, Requester
from ._input import Distinct, as_async

__all__ = ["get_numbers"]


async def get_numbers(
    requester: Requester, campaign_id: str, numbers: Iterable[str] | AsyncIterable[str]
) -> BulkReport:
    """Read many numbers' statuses, at most ``requester.concurrency`` at a time.

    The input is read lazily; a repeated number is read and reported once; an invalid one
    is reported INVALID and not sent. 401/403, an unknown campaign, a failed certificate
    check and a proxy refusing the credentials raise at once.
    """
    campaign_id = validate_campaign_id(campaign_id)
    source = as_async(numbers)
    started = time.monotonic()
    counter = requester.sent.child()
    lock = asyncio.Lock()
    order: list[str] = []
    outcomes: dict[str, NumberOutcome] = {}
    distinct = Distinct()
    exhausted = False

    async def next_number() -> str | None:
        nonlocal exhausted
        async with lock:
            while not exhausted:
                try:
                    raw = await source.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                entry = distinct.first(raw)
                if entry is None:
                    continue
                key, number, reason = entry
                order.append(key)
                if number is None:
                    outcomes[key] = NumberOutcome(
                        key, OutcomeKind.INVALID, action="status", error=reason
                    )
                    continue
                return number
            return None

    async def worker() -> None:
        while (number := await next_number()) is not None:
            outcomes[number] = await _status_outcome(requester, campaign_id, number, counter)

    workers = [asyncio.ensure_future(worker()) for _ in range(requester.concurrency)]
    try:
        done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # raises the first failure (401/403, unknown campaign, input)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return BulkReport(
        outcomes=tuple(outcomes[key] for key in order),
        action="status",
        campaign_id=campaign_id,
        elapsed=time.monotonic() - started,
        requests=counter.count,
        duplicates=distinct.duplicates,
    )


async def _status_outcome(
    requester: Requester, campaign_id: str, number: str, job: AttemptCounter
) -> NumberOutcome:
    """One number's status as a report line (action ``status``)."""
    counter = job.child()
    try:
        entry = await _endpoints.get_number(requester, campaign_id, number, counter=counter)
    except (AuthenticationError, ForbiddenError, CampaignNotFoundError):
        raise
    except (CertificateVerificationError, ProxyAuthenticationError):
        raise  # every other read would meet the same certificate, or proxy
    except NotFoundError as exc:
        return NumberOutcome(
            number,
            OutcomeKind.REJECTED,
            action="status",
            error=f"not linked: {exc.message}",
            status_code=404,
            attempts=counter.count,
        )
    except PlivoError as exc:
        return NumberOutcome(
            number,
            OutcomeKind.ERROR,
            action="status",
            error=str(exc),
            status_code=getattr(exc, "status_code", None),
            attempts=counter.count,
        )
    status = entry.status
    kind = {
        LinkStatus.COMPLETED: OutcomeKind.COMPLETED,
        LinkStatus.FAILED: OutcomeKind.REMOTE_FAILED,
    }.get(status, OutcomeKind.PENDING)
    raw = entry.raw_status or status.value
    # PROCESSING (or a status this library does not know) is linked as far as the status
    # goes: ok, though not final.
    return NumberOutcome(
        number,
        kind,
        action="status",
        error=f"status {raw}" if status is LinkStatus.UNKNOWN else None,
        status_code=200,
        attempts=counter.count,
        status=status,
        ok=status is not LinkStatus.FAILED,
    )
