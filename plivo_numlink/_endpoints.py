"""The four Number Linking endpoints as calls over a :class:`~._transport.Requester`.

The session's single calls and the bulk engine both use these, so a number's status is
read, and a campaign paged through, in one way. Inputs are validated before anything is
sent; ``counter`` (optional) also counts the attempts for the caller.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import attrs

from . import _protocol
from ._errors import AlreadyInStateError, BadRequestError, ResponseFormatError
from ._models import CampaignNumbers, LinkAck, NumberStatus
from ._numbers import normalize_number, validate_callback, validate_campaign_id
from ._protocol import CAMPAIGN_TEMPLATE, NUMBER_TEMPLATE
from ._transport import AttemptCounter, Requester

__all__ = [
    "LIST_PAGE_SIZE",
    "MAX_LIST_PAGES",
    "campaign_path",
    "check_max_pages",
    "get_number",
    "iter_pages",
    "link",
    "list_numbers",
    "number_path",
    "unlink",
]

#: Numbers asked for per list page (Plivo's list APIs cap pages at 20).
LIST_PAGE_SIZE = 20
#: How many pages a listing reads at most, unless told otherwise: 100,000 numbers, far more
#: than a 10DLC campaign holds (carriers cap campaigns at tens to a few thousand numbers),
#: and 100 s at the default rate. A server that keeps sending fresh pages ends there.
MAX_LIST_PAGES = 5_000


@contextlib.contextmanager
def _already_in_state(action: str) -> Iterator[None]:
    """A refusal saying the desired state already holds becomes AlreadyInStateError
    (:func:`~._protocol.is_already_in_state` decides, as it does for the bulk calls)."""
    try:
        yield
    except BadRequestError as exc:
        if isinstance(exc, AlreadyInStateError) or not _protocol.is_already_in_state(action, exc):
            raise
        raise AlreadyInStateError.from_error(exc, action) from exc


def campaign_path(requester: Requester, campaign_id: str) -> str:
    return _protocol.campaign_path(requester.auth_id, validate_campaign_id(campaign_id))


def number_path(requester: Requester, campaign_id: str, number: str) -> str:
    validate_campaign_id(campaign_id)
    return _protocol.number_path(requester.auth_id, campaign_id, normalize_number(number))


async def link(
    requester: Requester,
    campaign_id: str,
    numbers: str | Iterable[str],
    *,
    url: str | None = None,
    method: str | None = None,
) -> LinkAck:
    path = campaign_path(requester, campaign_id)
    if isinstance(numbers, str):
        numbers = [numbers]
    normalized = [normalize_number(number) for number in numbers]
    if not normalized:
        raise ValueError("numbers is empty: give at least one number to link")
    body: dict[str, Any] = {"numbers": normalized}
    body.update(validate_callback(url, method))
    with _already_in_state("link"):
        answer = await requester.request("POST", CAMPAIGN_TEMPLATE, path, json=body)
    return _protocol.parse_ack(answer)


async def unlink(
    requester: Requester,
    campaign_id: str,
    number: str,
    *,
    url: str | None = None,
    method: str | None = None,
) -> LinkAck:
    path = number_path(requester, campaign_id, number)
    body = validate_callback(url, method) or None
    with _already_in_state("unlink"):
        answer = await requester.request("DELETE", NUMBER_TEMPLATE, path, json=body)
    return _protocol.parse_ack(answer)


async def get_number(
    requester: Requester,
    campaign_id: str,
    number: str,
    *,
    counter: AttemptCounter | None = None,
) -> NumberStatus:
    path = number_path(requester, campaign_id, number)
    normalized = path.rstrip("/").rsplit("/", 1)[-1]
    answer = await requester.request("GET", NUMBER_TEMPLATE, path, counter=counter)
    return _protocol.find_status(answer, normalized)


async def iter_pages(
    requester: Requester,
    campaign_id: str,
    *,
    page_size: int = LIST_PAGE_SIZE,
    counter: AttemptCounter | None = None,
    max_pages: int = MAX_LIST_PAGES,
    max_time: float | None = None,
) -> AsyncIterator[CampaignNumbers]:
    """Yield the list endpoint's pages one by one (``limit``/``offset`` paging).

    Stops on an empty page, a page shorter than an earlier one, or a page that adds no
    number not seen before, so a server that caps pages below ``page_size`` is paged
    through and one that ignores paging does not cause a loop. A server that keeps sending
    fresh pages is given up on after ``max_pages`` pages or ``max_time`` seconds
    (:class:`ResponseFormatError`).
    """
    path = campaign_path(requester, campaign_id)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValueError(f"page_size must be an integer >= 1, not {page_size!r}")
    check_max_pages(max_pages)
    if max_time is not None and (
        isinstance(max_time, bool)
        or not isinstance(max_time, int | float)
        or not math.isfinite(max_time)
        or max_time < 0
    ):
        raise ValueError(f"max_time must be a finite number >= 0 or None, not {max_time!r}")
    deadline = None if max_time is None else requester.clock() + max_time
    offset = 0
    longest = 0
    seen: set[str] = set()
    for pages in range(max_pages):
        if pages and deadline is not None and requester.clock() >= deadline:
            raise ResponseFormatError(
                f"gave up listing campaign {campaign_id} after {max_time:g} s "
                f"(max_time) and {pages} pages: the server keeps sending new pages",
                status_code=200,
                text="",
            )
        params = {"limit": str(page_size), "offset": str(offset)}
        answer = await requester.request(
            "GET", CAMPAIGN_TEMPLATE, path, params=params, counter=counter
        )
        page = _protocol.parse_success(answer.status, answer.text, CampaignNumbers)
        fresh = [entry.number for entry in page.phone_numbers if entry.number not in seen]
        if offset == 0 or fresh:
            yield page
        count = len(page.phone_numbers)
        if count == 0 or count < longest or not fresh:
            return
        seen.update(fresh)
        longest = max(longest, count)
        offset += count
    raise ResponseFormatError(
        f"gave up listing campaign {campaign_id} after {max_pages} pages (max_pages): "
        "the server keeps sending new pages",
        status_code=200,
        text="",
    )


def check_max_pages(max_pages: object) -> int:
    if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
        raise ValueError(f"max_pages must be an integer >= 1, not {max_pages!r}")
    return max_pages


async def list_numbers(
    requester: Requester,
    campaign_id: str,
    *,
    counter: AttemptCounter | None = None,
    max_pages: int = MAX_LIST_PAGES,
    max_time: float | None = None,
) -> CampaignNumbers:
    """Every number linked to ``campaign_id``, all pages gathered (see :func:`iter_pages`)."""
    pages = [
        page
        async for page in iter_pages(
            requester, campaign_id, counter=counter, max_pages=max_pages, max_time=max_time
        )
    ]
    first = pages[0]
    seen: dict[str, NumberStatus] = {}
    for page in pages:
        for entry in page.phone_numbers:
            seen.setdefault(entry.number, entry)
    return attrs.evolve(first, phone_numbers=tuple(seen.values()))
