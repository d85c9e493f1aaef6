"""The library calls the command line is built on: get_numbers, wait_for_report,
request_path, CampaignNotFoundError, the defaults namespace, and a stopped run's report
accounting for every input entry."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import plivo_numlink as pn
from plivo_numlink import defaults
from plivo_numlink.testing import FakePlivo

CAMPAIGN = "CUOGHIN"
ZERO_BACKOFF = pn.RetryPolicy(attempts=3, wait_initial=0, wait_max=0)
A, B, C, D = "12125550001", "12125550002", "12125550003", "12125550004"


@contextlib.asynccontextmanager
async def on_fake(concurrency: int = 4, **options: Any) -> AsyncIterator[tuple[FakePlivo, Any]]:
    async with (
        FakePlivo(**options) as fake,
        pn.NumLinkSession(
            fake.auth_id,
            fake.auth_token,
            base_url=fake.base_url,
            concurrency=concurrency,
            rate_limit=None,
            retry=ZERO_BACKOFF,
        ) as session,
    ):
        yield fake, session


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def on_handler(handler: Handler) -> AsyncIterator[pn.NumLinkSession]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with pn.NumLinkSession(
            "MA0123456789ABCDEFGH",
            "token",
            base_url=str(server.make_url("")).rstrip("/"),
            rate_limit=None,
            retry=ZERO_BACKOFF,
            concurrency=2,
        ) as session:
            yield session
    finally:
        await server.close()


# -- get_numbers ------------------------------------------------------------------------------


async def test_get_numbers_reports_each_status_as_the_status_command_does() -> None:
    async with on_fake() as (fake, session):
        fake.set_status(CAMPAIGN, A, "COMPLETED")
        fake.set_status(CAMPAIGN, B, "FAILED")
        fake.set_status(CAMPAIGN, C, "PROCESSING")
        fake.set_status(CAMPAIGN, D, "SUSPENDED")
        report = await session.get_numbers(CAMPAIGN, [A, B, C, D, "+1 212-555-0005"])
    assert report.action == "status"
    assert report.campaign_id == CAMPAIGN
    a, b, c, d, e = report.outcomes
    assert (a.kind, a.ok, a.status, a.error) == (
        pn.OutcomeKind.COMPLETED,
        True,
        pn.LinkStatus.COMPLETED,
        None,
    )
    assert (b.kind, b.ok, b.status) == (pn.OutcomeKind.REMOTE_FAILED, False, pn.LinkStatus.FAILED)
    assert (c.kind, c.ok, c.status, c.error) == (
        pn.OutcomeKind.PENDING,
        True,
        pn.LinkStatus.PROCESSING,
        None,
    )
    assert (d.kind, d.ok, d.status, d.error) == (
        pn.OutcomeKind.PENDING,
        True,
        pn.LinkStatus.UNKNOWN,
        "status SUSPENDED",
    )
    assert e.number == "12125550005"
    assert (e.kind, e.ok, e.status_code) == (pn.OutcomeKind.REJECTED, False, 404)
    assert e.error is not None
    assert e.error.startswith("not linked: ")
    assert all(o.action == "status" and o.attempts == 1 for o in report.outcomes)
    assert a.status_code == 200
    assert report.requests == 5 == len(fake.requests)


async def test_get_numbers_reports_invalid_and_repeated_entries_once_and_sends_neither() -> None:
    async with on_fake() as (fake, session):
        fake.set_status(CAMPAIGN, A, "COMPLETED")
        report = await session.get_numbers(CAMPAIGN, [A, "nope", "+1 (212) 555-0001", "nope"])
    assert [o.number for o in report.outcomes] == [A, "nope"]
    assert report.outcomes[1].kind is pn.OutcomeKind.INVALID
    assert not report.outcomes[1].ok
    assert report.duplicates == 2
    assert report.requests == 1 == len(fake.requests)


async def test_get_numbers_reads_the_input_lazily_with_bounded_reads_in_flight() -> None:
    numbers = [f"1212555{i:04d}" for i in range(200)]
    read = 0

    def source() -> Iterator[str]:
        nonlocal read
        for number in numbers:
            read += 1
            yield number

    async def agen() -> AsyncIterator[str]:
        for number in source():
            yield number

    async with on_fake(concurrency=3, latency=0.002) as (fake, session):
        for number in numbers:
            fake.set_status(CAMPAIGN, number, "COMPLETED")
        report = await session.get_numbers(CAMPAIGN, agen())
        assert fake.max_concurrency <= 3
    assert read == 200
    assert [o.number for o in report.outcomes] == numbers
    assert report.ok
    assert report.requests == 200


async def test_get_numbers_raises_at_once_on_an_unknown_campaign() -> None:
    async with on_fake() as (_, session):
        with pytest.raises(pn.CampaignNotFoundError):
            await session.get_numbers("CNOSUCH", [A, B, C, D])


async def test_get_numbers_raises_at_once_on_bad_credentials() -> None:
    async with (
        FakePlivo() as fake,
        pn.NumLinkSession(
            fake.auth_id, "wrong", base_url=fake.base_url, rate_limit=None, retry=ZERO_BACKOFF
        ) as session,
    ):
        with pytest.raises(pn.AuthenticationError):
            await session.get_numbers(CAMPAIGN, [A, B])


async def test_get_numbers_reports_other_failures_as_errors_with_their_status() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.endswith(f"/{A}/"):
            return web.json_response({"error": "bad"}, status=400)
        return web.json_response({"error": "down"}, status=503)

    async with on_handler(handler) as session:
        report = await session.get_numbers(CAMPAIGN, [A, B])
    a, b = report.outcomes
    assert (a.kind, a.status_code, a.attempts) == (pn.OutcomeKind.ERROR, 400, 1)
    assert (b.kind, b.status_code, b.attempts) == (pn.OutcomeKind.ERROR, 503, 3)
    assert a.error is not None
    assert "bad" in a.error
    assert report.requests == 4


async def test_get_numbers_refuses_a_bad_campaign_id_before_sending() -> None:
    async with on_fake() as (fake, session):
        with pytest.raises(ValueError):
            await session.get_numbers("../x", [A])
        assert fake.requests == []


# -- wait_for_report ----------------------------------------------------------------------------


async def test_wait_for_report_folds_final_statuses_into_a_link_report() -> None:
    async with on_fake(fail_numbers=[B]) as (fake, session):
        report = await session.link_many(CAMPAIGN, [A, B, "junk"])
        assert report.counts == {"accepted": 2, "invalid": 1}
        waited = await session.wait_for_report(report, timeout=5, poll_interval=0)
    assert [o.kind for o in waited.outcomes] == [
        pn.OutcomeKind.COMPLETED,
        pn.OutcomeKind.REMOTE_FAILED,
        pn.OutcomeKind.INVALID,
    ]
    assert waited.requests > report.requests
    assert waited.requests == len(fake.requests)


async def test_waits_tell_on_outcome_each_number_once_as_they_settle_it() -> None:
    # The hook a progress display needs: each waited number's outcome, once, when settled.
    async with on_fake(complete_after_polls=2) as (_fake, session):
        report = await session.link_many(CAMPAIGN, [A, B])
        seen: list[pn.NumberOutcome] = []
        await session.wait_for_report(report, timeout=5, poll_interval=0, on_outcome=seen.append)
        assert sorted((o.number, o.kind) for o in seen) == [
            (A, pn.OutcomeKind.COMPLETED),
            (B, pn.OutcomeKind.COMPLETED),
        ]
        seen.clear()
        await session.wait_for_numbers(
            CAMPAIGN, [A, B, C], timeout=0.2, poll_interval=0.05, on_outcome=seen.append
        )
        # C is not linked: settled at once (not_listed), not at the deadline.
        assert {o.number: o.kind for o in seen}[C] is pn.OutcomeKind.NOT_LISTED
        assert len(seen) == 3
        seen.clear()
        synced = await session.sync(
            CAMPAIGN, [D], wait=True, timeout=5, poll_interval=0, on_outcome=seen.append
        )
        assert synced.ok
    # sync tells the link it sent, then the wait's outcome.
    assert [o.kind for o in seen] == [pn.OutcomeKind.ACCEPTED, pn.OutcomeKind.COMPLETED]


async def test_wait_for_report_waits_for_unlinked_numbers_to_be_gone() -> None:
    async with on_fake() as (fake, session):
        fake.set_status(CAMPAIGN, A, "COMPLETED")
        report = await session.unlink_many(CAMPAIGN, [A])
        waited = await session.wait_for_report(report, timeout=5, poll_interval=0)
    assert waited.outcomes[0].kind is pn.OutcomeKind.COMPLETED
    assert waited.outcomes[0].action == "unlink"


async def test_wait_for_report_handles_both_sides_of_a_sync_report() -> None:
    async with on_fake() as (fake, session):
        fake.set_status(CAMPAIGN, C, "COMPLETED")
        report = await session.sync(CAMPAIGN, [A, B], unlink_extra=True)
        waited = await session.wait_for_report(report, timeout=5, poll_interval=0)
        assert C not in fake.numbers(CAMPAIGN)
    assert [(o.number, o.action, o.kind) for o in waited.outcomes] == [
        (A, "link", pn.OutcomeKind.COMPLETED),
        (B, "link", pn.OutcomeKind.COMPLETED),
        (C, "unlink", pn.OutcomeKind.COMPLETED),
    ]
    assert waited.ok


async def test_wait_for_report_returns_a_stopped_report_as_it_is() -> None:
    async with on_fake() as (fake, session):
        report = pn.BulkReport(
            outcomes=(pn.NumberOutcome(A, pn.OutcomeKind.ACCEPTED),),
            campaign_id=CAMPAIGN,
            stopped_reason="HTTP 401",
        )
        assert await session.wait_for_report(report) is report
        nothing = pn.BulkReport(outcomes=(), campaign_id=CAMPAIGN)
        assert await session.wait_for_report(nothing) is nothing
        assert fake.requests == []


async def test_wait_for_report_refuses_a_negative_timeout() -> None:
    async with on_fake() as (_, session):
        report = pn.BulkReport(outcomes=(), campaign_id=CAMPAIGN)
        with pytest.raises(ValueError, match="timeout"):
            await session.wait_for_report(report, timeout=-1)


# -- request_path, CampaignNotFoundError, defaults ----------------------------------------------


async def test_request_path_validates_and_names_the_path() -> None:
    async with on_fake() as (fake, session):
        base = f"/v1/Account/{fake.auth_id}/10dlc/Campaign/{CAMPAIGN}/Number/"
        assert session.request_path(CAMPAIGN) == base
        assert session.request_path(CAMPAIGN, "+1 212-555-0001") == base + A + "/"
        with pytest.raises(ValueError):
            session.request_path("../x")
        with pytest.raises(pn.InvalidNumberError):
            session.request_path(CAMPAIGN, "12")


async def test_single_calls_raise_campaign_not_found_for_an_unknown_campaign() -> None:
    async with on_fake() as (_, session):
        with pytest.raises(pn.CampaignNotFoundError) as caught:
            await session.list_numbers("CNOSUCH")
        assert isinstance(caught.value, pn.NotFoundError)
        assert caught.value.status_code == 404
        # A number that is not linked is a plain NotFoundError.
        with pytest.raises(pn.NotFoundError) as missing:
            await session.get_number(CAMPAIGN, A)
        assert not isinstance(missing.value, pn.CampaignNotFoundError)


def test_defaults_namespace_names_the_library_defaults() -> None:
    # (The deprecated pn.DEFAULT_* twins are checked in tests/test_public_api.py.)
    assert defaults.BASE_URL == "https://api.plivo.com"
    assert defaults.BATCH_SIZE == 50
    assert defaults.CONCURRENCY == 20
    assert defaults.RATE_LIMIT == 50.0
    assert defaults.TIMEOUT == 30.0
    assert defaults.WAIT_TIMEOUT == 300.0
    assert defaults.POLL_INTERVAL == 5.0
    assert defaults.MAX_POLL_INTERVAL == 60.0
    assert set(defaults.__all__) == {
        "MAX_POLL_INTERVAL",
        "BASE_URL",
        "BATCH_SIZE",
        "CONCURRENCY",
        "RATE_LIMIT",
        "TIMEOUT",
        "WAIT_TIMEOUT",
        "POLL_INTERVAL",
    }


# -- a stopped run accounts for every input entry ----------------------------------------------


async def test_a_run_stopped_after_its_iteration_was_abandoned_reports_the_unread_rest() -> None:
    numbers = [f"1212555{i:04d}" for i in range(40)]
    entries = iter([*numbers[:20], "junk", numbers[0], *numbers[20:]])
    async with on_fake(concurrency=1) as (fake, session):
        run = session.iter_link(CAMPAIGN, entries, batch_size=5)
        async with run:
            async for _ in run:
                break
        run.stop("interrupted")
        report = run.report()
    assert report.stopped_reason == "interrupted"
    assert [o.number for o in report.outcomes] == [*numbers[:20], "junk", *numbers[20:]]
    assert report.duplicates == 1
    kinds = {o.number: o.kind for o in report.outcomes}
    assert kinds["junk"] is pn.OutcomeKind.INVALID
    assert kinds[numbers[-1]] is pn.OutcomeKind.NOT_ATTEMPTED
    assert report[numbers[-1]].error == "interrupted"
    assert report[numbers[-1]].attempts == 0
    sent = {n for r in fake.requests if r.method == "POST" for n in r.body["numbers"]}
    # Sent: accepted, or an error when the answer was cut off by the closing.
    assert all(kinds[n] in (pn.OutcomeKind.ACCEPTED, pn.OutcomeKind.ERROR) for n in sent)
    assert all(kinds[n] is not pn.OutcomeKind.ACCEPTED for n in set(numbers) - sent)
    # report() reads the rest once: asking again gives the same report.
    assert run.report().outcomes == report.outcomes


async def test_a_run_stopped_before_it_started_reports_every_entry_not_attempted() -> None:
    async with on_fake() as (fake, session):
        run = session.iter_unlink(CAMPAIGN, [A, "x", B, A])
        run.stop("changed my mind")
        report = run.report()
        assert fake.requests == []
    assert [(o.number, o.kind) for o in report.outcomes] == [
        (A, pn.OutcomeKind.NOT_ATTEMPTED),
        ("x", pn.OutcomeKind.INVALID),
        (B, pn.OutcomeKind.NOT_ATTEMPTED),
    ]
    assert report.outcomes[0].error == "changed my mind"
    assert report.duplicates == 1


async def test_a_run_stopped_while_iterated_settles_the_rest_itself() -> None:
    numbers = [f"1212555{i:04d}" for i in range(30)]
    async with on_fake(concurrency=1) as (_, session):
        run = session.iter_link(CAMPAIGN, numbers, batch_size=5)
        seen = 0
        async for _ in run:
            seen += 1
            if seen == 5:
                run.stop("enough")
        report = run.report()
    assert len(report) == 30
    assert report.counts["not_attempted"] >= 20
    assert json.loads(report.to_json())["stopped_reason"] == "enough"
