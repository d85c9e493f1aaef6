"""Pins on the campaign reader that a mutation sample found unpinned (issue 18).

The reader is driven through a real transport against a recording server: what is pinned
is how many list pages it asks for.
"""

from __future__ import annotations

import json

from aiohttp import web
from conftest import ServerFactory, SessionFactory

from plivo_numlink._bulk._ambiguity import CampaignReader
from plivo_numlink._bulk._job import Job

CAMPAIGN = "CUOGHIN"


def page_of(numbers: list[str]) -> web.Response:
    body = {
        "api_id": "a1",
        "campaign_id": CAMPAIGN,
        "phone_numbers": [{"number": n, "status": "COMPLETED"} for n in numbers],
    }
    return web.Response(status=200, text=json.dumps(body), content_type="application/json")


def reader_on(make_session: SessionFactory, base_url: str) -> CampaignReader:
    session = make_session(base_url=base_url)
    job = Job(session._requester, "link", CAMPAIGN, {}, keep_report=True)
    return CampaignReader(job)


async def test_a_failed_page_read_is_not_tried_again(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    async def refuse(request: web.Request, index: int) -> web.StreamResponse:
        return web.json_response({"api_id": "a1", "error": "campaign busy"}, status=400)

    server = await recording_server(refuse)
    reader = reader_on(make_session, server.base_url)
    reader.earn(10)
    await reader.read()
    assert reader.failed
    assert reader.done
    assert not reader.complete
    await reader.read()
    assert len(server.requests) == 1
    assert reader.pages == 1


async def test_a_page_shorter_than_the_longest_ends_the_listing(
    recording_server: ServerFactory, make_session: SessionFactory
) -> None:
    async def pages(request: web.Request, index: int) -> web.StreamResponse:
        offset = int(request.query["offset"])
        size = 20 if offset == 0 else 5
        return page_of([f"1212555{offset + i:04d}" for i in range(size)])

    server = await recording_server(pages)
    reader = reader_on(make_session, server.base_url)
    reader.earn(10)
    await reader.read()
    assert reader.complete
    assert [r.query["offset"] for r in server.requests] == ["0", "20"]
    assert len(reader.known) == 25


def test_the_pages_a_link_job_may_read_are_earned_at_the_documented_rates() -> None:
    # The request budgets of test_bulk_ambiguity_cost rest on these: a refused batch earns a
    # third of a page per number in it, and each request spent finding out half a page.
    from plivo_numlink._bulk import _ambiguity

    assert _ambiguity.PAGE_SIZE == 20
    assert _ambiguity.PAGES_PER_REFUSED_NUMBER == 1 / 3
    assert _ambiguity.PAGES_PER_SPENT_REQUEST == 1 / 2
