"""System-level reliability: bulk jobs against FakePlivo over real 127.0.0.1 sockets, under
random faults and server outages.

What these tests hold the library to, whatever the server does:

- the report has exactly one outcome per distinct input number, in input order;
- a number is ok only where the server accepted it: checked against the fake's request log
  (:attr:`FakePlivo.requests`, which records ``None`` as the status of a request whose
  connection was closed without an answer) and against the fake's campaign state;
- once the server's 2xx answer for a number has reached the client, that number is never sent
  again; a number is sent again only after a failed or lost answer (the documented retry);
- a server that stays down is not hammered: the job stops through its error budget and
  reports the rest as not attempted.

The chaos jobs are large (10,000 numbers) and marked ``slow``; CI runs them too.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import attrs
import pytest

from plivo_numlink import BulkReport, NumLinkSession, OutcomeKind, RetryPolicy
from plivo_numlink.testing import FakePlivo, RecordedRequest

CAMPAIGN = "CUOGHIN"
CHAOS_SIZE = 10_000
#: 10% 5xx, 5% 429 (without Retry-After), 2% connections closed before the request does
#: anything, 1% answers lost after the request took effect, and a little latency.
CHAOS_FAULTS: dict[str, Any] = {
    "seed": 20_240_611,
    "error_rates": {500: 0.04, 502: 0.02, 503: 0.02, 504: 0.02, 429: 0.05},
    "drop_rate": 0.02,
    "drop_response_rate": 0.01,
    "latency": (0.0, 0.002),
}
#: Ten tries without sleeping: a number fails for good only after ten faults in a row.
CHAOS_RETRY = RetryPolicy(attempts=10, wait_initial=0, wait_max=0)


def numbers(count: int) -> list[str]:
    """``count`` distinct valid numbers, already in wire form (1212 + 7 digits)."""
    return [f"1212{2_000_000 + i:07d}" for i in range(count)]


def carried(request: RecordedRequest) -> list[str]:
    """The numbers a recorded request carried: a link's body, an unlink's or get's path."""
    if request.method == "POST":
        body = request.body
        found = body.get("numbers") if isinstance(body, dict) else None
        return list(found) if isinstance(found, list) else []
    parts = request.path.strip("/").split("/")
    return [parts[7]] if len(parts) == 8 else []


def history(requests: Sequence[RecordedRequest]) -> dict[str, list[int | None]]:
    """For each number, the statuses of the requests that carried it, in the fake's order."""
    seen: dict[str, list[int | None]] = defaultdict(list)
    for request in requests:
        for number in carried(request):
            seen[number].append(request.status)
    return seen


def is_2xx(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def session_for(fake: FakePlivo, **options: Any) -> NumLinkSession:
    options.setdefault("rate_limit", None)
    options.setdefault("retry", CHAOS_RETRY)
    return NumLinkSession(
        auth_id=fake.auth_id, auth_token=fake.auth_token, base_url=fake.base_url, **options
    )


def assert_complete(report: BulkReport, wanted: Sequence[str]) -> None:
    assert [outcome.number for outcome in report] == list(wanted)


def assert_ok_only_where_accepted(
    report: BulkReport, fake: FakePlivo, action: str, *, already_allowed: bool = True
) -> None:
    """Every ok outcome is backed by the server: an ACCEPTED one by a 2xx answer that
    carried the number, and any ok one by the fake's campaign state."""
    seen = history(fake.requests)
    state = fake.campaigns[CAMPAIGN]
    for outcome in report:
        if not outcome.ok:
            continue
        assert outcome.kind in (OutcomeKind.ACCEPTED, OutcomeKind.ALREADY), outcome
        if outcome.kind is OutcomeKind.ACCEPTED:
            assert any(is_2xx(status) for status in seen[outcome.number]), outcome
        else:
            assert already_allowed, outcome
        if action == "link":
            assert outcome.number in state.numbers, outcome
        else:
            change = state.pending.get(outcome.number)
            assert outcome.number not in state.numbers or (
                change is not None and change.op == "unlink"
            ), outcome


def assert_not_attempted_were_never_sent(report: BulkReport, fake: FakePlivo) -> None:
    seen = history(fake.requests)
    for outcome in report:
        if outcome.kind is OutcomeKind.NOT_ATTEMPTED:
            assert outcome.attempts == 0, outcome
            assert not outcome.ok, outcome
            assert outcome.error, outcome
            assert outcome.number not in seen, outcome


# ---------------------------------------------------------------------------------------------
# Chaos: 10,000 numbers through a server that fails, throttles, drops and loses answers.
# Each job runs once per module; the tests below read its result.


@attrs.frozen
class ChaosRun:
    wanted: list[str]
    report: BulkReport
    requests: list[RecordedRequest]
    #: Number -> status as the fake's campaign holds it after the job (link) or the op of
    #: its pending change (unlink).
    state: dict[str, str]
    sent_by_session: int


async def _chaos_job(action: str) -> ChaosRun:
    wanted = numbers(CHAOS_SIZE)
    async with FakePlivo(**CHAOS_FAULTS) as fake:
        if action == "unlink":
            for number in wanted:
                fake.set_status(CAMPAIGN, number, "COMPLETED")
        async with session_for(fake) as session:
            if action == "link":
                report = await session.link_many(CAMPAIGN, wanted, batch_size=20)
                state = dict(fake.campaigns[CAMPAIGN].numbers)
            else:
                report = await session.unlink_many(CAMPAIGN, wanted)
                campaign = fake.campaigns[CAMPAIGN]
                state = {number: change.op for number, change in campaign.pending.items()}
            return ChaosRun(wanted, report, list(fake.requests), state, session.requests_sent)


# Kept in pytest's order under --random-order: shuffled, these tests would switch between the
# two actions and run the chaos job (about 30 s each) up to 20 times instead of twice.
pytestmark = pytest.mark.random_order(disabled=True)


@pytest.fixture(scope="module", params=["link", "unlink"])
def chaos(request: pytest.FixtureRequest) -> ChaosRun:
    # Run in a loop of its own, once for all the tests of one action.
    return asyncio.run(_chaos_job(request.param))


@pytest.mark.slow
def test_chaos_reports_exactly_one_outcome_per_number_in_input_order(chaos: ChaosRun) -> None:
    assert_complete(chaos.report, chaos.wanted)


@pytest.mark.slow
def test_chaos_ends_with_every_number_ok(chaos: ChaosRun) -> None:
    assert chaos.report.failed == ()
    assert chaos.report.stopped_reason is None
    assert chaos.report.ok


@pytest.mark.slow
def test_chaos_really_was_chaotic(chaos: ChaosRun) -> None:
    statuses = [request.status for request in chaos.requests]
    for status in (None, 429, 500, 502, 503, 504):
        assert statuses.count(status) >= 10, status


@pytest.mark.slow
def test_chaos_leaves_the_server_holding_every_number(chaos: ChaosRun) -> None:
    if chaos.report.action == "link":
        assert set(chaos.state) == set(chaos.wanted)
        assert set(chaos.state.values()) <= {"PROCESSING", "COMPLETED"}
    else:
        assert chaos.state == dict.fromkeys(chaos.wanted, "unlink")


@pytest.mark.slow
def test_chaos_never_resends_a_number_after_its_2xx_answer(chaos: ChaosRun) -> None:
    # Requests for one number never overlap, so the log order is the order they were sent
    # in: a 2xx must be the last request that carried the number, and the only 2xx.
    for number, statuses in history(chaos.requests).items():
        accepted = [i for i, status in enumerate(statuses) if is_2xx(status)]
        assert len(accepted) <= 1, (number, statuses)
        if accepted:
            assert accepted[0] == len(statuses) - 1, (number, statuses)


@pytest.mark.slow
def test_chaos_resends_a_number_only_after_a_failed_or_lost_answer(chaos: ChaosRun) -> None:
    for number, statuses in history(chaos.requests).items():
        for status in statuses[:-1]:
            # None: the connection closed with no answer (maybe after the request took
            # effect); 400: the batch was refused and split; 429 and 5xx: retried.
            assert status is None or status in (400, 429) or status >= 500, (number, statuses)


@pytest.mark.slow
def test_chaos_accepted_numbers_had_exactly_one_2xx_answer(chaos: ChaosRun) -> None:
    seen = history(chaos.requests)
    for outcome in chaos.report:
        if outcome.kind is OutcomeKind.ACCEPTED:
            assert sum(is_2xx(status) for status in seen[outcome.number]) == 1, outcome


@pytest.mark.slow
def test_chaos_reports_already_only_where_an_answer_was_lost(chaos: ChaosRun) -> None:
    # The campaign starts empty (link) or fully linked (unlink), so "already in the desired
    # state" can only come from a request of this job that took effect without an answer.
    seen = history(chaos.requests)
    already = [o for o in chaos.report if o.kind is OutcomeKind.ALREADY]
    for outcome in already:
        assert None in seen[outcome.number], outcome
    assert {o.kind for o in chaos.report} <= {OutcomeKind.ACCEPTED, OutcomeKind.ALREADY}


@pytest.mark.slow
def test_chaos_attempts_count_the_requests_that_carried_the_number(chaos: ChaosRun) -> None:
    seen = history(chaos.requests)
    for outcome in chaos.report:
        if chaos.report.action == "link":
            assert outcome.attempts == len(seen[outcome.number]), outcome
        else:
            # aiohttp silently sends a DELETE again on a kept-alive connection that closed
            # with no answer: the server may see more requests than the client made.
            assert 1 <= outcome.attempts <= len(seen[outcome.number]), outcome


@pytest.mark.slow
def test_chaos_report_counts_no_more_requests_than_were_sent(chaos: ChaosRun) -> None:
    report = chaos.report
    assert report.requests <= chaos.sent_by_session <= len(chaos.requests)
    carrying = sum(1 for request in chaos.requests if carried(request))
    assert report.requests >= carrying - (len(chaos.requests) - chaos.sent_by_session)


# ---------------------------------------------------------------------------------------------
# Outages: the server goes away in the middle of a job.

OUTAGE_SIZE = 3_000


def after_outcomes(count: int, action: Callable[[], object]) -> Callable[[Any], None]:
    """An ``on_outcome`` hook that calls ``action`` once, when ``count`` outcomes are in."""
    seen = 0

    def on_outcome(_: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == count:
            action()

    return on_outcome


@pytest.fixture
async def background() -> AsyncIterator[Callable[[Awaitable[Any]], None]]:
    """Start coroutines as tasks; they are awaited (and must not fail) at the end."""
    tasks: list[asyncio.Task[Any]] = []

    def start(coro: Awaitable[Any]) -> None:
        tasks.append(asyncio.ensure_future(coro))

    yield start
    await asyncio.gather(*tasks)


@pytest.mark.timeout(60)
async def test_server_stopped_briefly_mid_job_every_number_still_ends_ok(
    background: Callable[[Awaitable[Any]], None],
) -> None:
    # The server stops listening (connection refused) after 500 outcomes. The sixth retry
    # sleep of the outage restarts it and later ones wait for that, so no request can fail
    # more than seven times in a row: fewer than its ten tries.
    wanted = numbers(OUTAGE_SIZE)
    async with FakePlivo(seed=1) as fake:
        stopped = asyncio.Event()
        restarted = asyncio.Event()
        outage_sleeps = 0

        async def stop_server() -> None:
            await fake.stop()
            stopped.set()

        async def sleep(delay: float) -> None:
            nonlocal outage_sleeps
            if not fake.running:
                outage_sleeps += 1
                if outage_sleeps == 6:
                    await stopped.wait()
                    await fake.start()
                    restarted.set()
                elif outage_sleeps > 6:
                    await restarted.wait()
            await asyncio.sleep(0)

        hook = after_outcomes(500, lambda: background(stop_server()))
        async with session_for(fake, sleep=sleep) as session:
            report = await session.link_many(CAMPAIGN, wanted, batch_size=20, on_outcome=hook)

        assert restarted.is_set(), "the outage never happened"
        assert_complete(report, wanted)
        assert report.failed == ()
        assert_ok_only_where_accepted(report, fake, "link")
        assert set(fake.numbers(CAMPAIGN)) == set(wanted)


@pytest.mark.timeout(60)
async def test_outage_past_the_retries_fails_only_the_requests_it_hit() -> None:
    # After 600 outcomes the next 30 requests are dropped with no answer and no effect (an
    # outage measured in requests, so that it has the same length on every run). With three
    # tries per request some batches run out of tries; the job goes on once the server is
    # back, since fewer batches fail than the error budget allows.
    wanted = numbers(OUTAGE_SIZE)
    async with FakePlivo(seed=2) as fake:
        hook = after_outcomes(600, lambda: fake.enqueue_fault(None, 30))
        retry = RetryPolicy(attempts=3, wait_initial=0, wait_max=0)
        async with session_for(fake, retry=retry, concurrency=8) as session:
            report = await session.link_many(CAMPAIGN, wanted, batch_size=10, on_outcome=hook)

        assert_complete(report, wanted)
        assert report.stopped_reason is None
        failed = report.failed
        assert failed, "the outage failed no batch"
        assert {o.kind for o in failed} == {OutcomeKind.ERROR}
        assert all(o.attempts == 3 and o.error for o in failed)
        # Exactly the numbers reported ok are linked at the server: a dropped request had
        # no effect, so a number is linked if and only if it is reported ok.
        assert set(fake.numbers(CAMPAIGN)) == {o.number for o in report if o.ok}
        assert_ok_only_where_accepted(report, fake, "link", already_allowed=False)
        assert len(report.succeeded) >= OUTAGE_SIZE - 10 * 10


@pytest.mark.timeout(60)
@pytest.mark.parametrize("outage", ["down", "stopped"])
async def test_server_that_stays_down_stops_the_job_without_hammering_it(
    outage: str, background: Callable[[Awaitable[Any]], None]
) -> None:
    wanted = numbers(OUTAGE_SIZE)
    concurrency = 8
    retry = RetryPolicy(attempts=4, wait_initial=0, wait_max=0)
    async with FakePlivo(seed=3) as fake:
        for number in wanted:
            fake.set_status(CAMPAIGN, number, "COMPLETED")
        sent_before_outage: list[int] = []

        def go_down() -> None:
            sent_before_outage.append(session.requests_sent)
            if outage == "down":
                fake.down = True
            else:
                background(fake.stop())

        async with session_for(fake, retry=retry, concurrency=concurrency) as session:
            hook = after_outcomes(300, go_down)
            report = await session.unlink_many(CAMPAIGN, wanted, on_outcome=hook)
            sent_during_outage = session.requests_sent - sent_before_outage[0]

        assert_complete(report, wanted)
        assert not report.ok
        assert report.stopped_reason is not None
        assert "keeps failing" in report.stopped_reason
        # The session's error budget (consecutive failed requests) is max(10, 2 x
        # concurrency); the requests in flight when it runs out may finish their tries.
        budget = max(10, 2 * concurrency)
        assert sent_during_outage <= (budget + concurrency) * retry.attempts
        # Before the outage: 300 outcomes reported, up to 2 x concurrency settled but not
        # yet reported, and up to concurrency in flight. During it: the budget's failures and
        # the requests in flight when it ran out. Everything else was never sent.
        not_attempted = [o for o in report if o.kind is OutcomeKind.NOT_ATTEMPTED]
        assert len(not_attempted) >= OUTAGE_SIZE - 300 - 4 * concurrency - budget
        assert {o.kind for o in report.failed} <= {OutcomeKind.ERROR, OutcomeKind.NOT_ATTEMPTED}
        assert_not_attempted_were_never_sent(report, fake)
        assert_ok_only_where_accepted(report, fake, "unlink", already_allowed=False)
        if outage == "down":
            dropped = sum(1 for request in fake.requests if request.status is None)
            # Each attempt may reach the server twice (aiohttp's silent resend of a DELETE),
            # and up to concurrency attempts were already on their way when it went down.
            assert dropped <= 2 * (sent_during_outage + concurrency)


# ---------------------------------------------------------------------------------------------
# One session shared by several jobs at once (what the session is meant for).


@pytest.mark.timeout(60)
async def test_concurrent_jobs_on_one_session_each_count_only_their_own_requests() -> None:
    # Five kinds of job share one session at once; each report's ``requests`` must be the
    # job's own, so together they add up to what the session sent.
    pool = numbers(1_000)
    a, b, c, d, e = (pool[i : i + 200] for i in range(0, 1_000, 200))
    async with FakePlivo(
        seed=4, campaigns=("CAMPA", "CAMPB", "CAMPC", "CAMPD", "CAMPE"), latency=(0, 0.001)
    ) as fake:
        for number in b:
            fake.set_status("CAMPB", number, "COMPLETED")
        for number in c:
            fake.set_status("CAMPC", number, "COMPLETED")
        for number in d[:100]:
            fake.set_status("CAMPD", number, "COMPLETED")
        # A re-run: the first batch is "already requested", which makes the link job read
        # the campaign (a snapshot) while its other batches are still being sent.
        for number in e[:20]:
            fake.set_status("CAMPE", number, "PROCESSING")
        async with session_for(fake, concurrency=6) as session:
            reports = await asyncio.gather(
                session.link_many("CAMPA", a, batch_size=10),
                session.unlink_many("CAMPB", b),
                session.wait_for_numbers("CAMPC", c, timeout=5, poll_interval=0),
                session.sync("CAMPD", d[50:], unlink_extra=True),
                session.link_many("CAMPE", e, batch_size=10),
            )
            sent = session.requests_sent

        assert all(report.ok for report in reports), [r.summary() for r in reports]
        assert [report.requests for report in reports] == [
            sum(1 for r in fake.requests if f"/Campaign/{c}/" in r.path)
            for c in ("CAMPA", "CAMPB", "CAMPC", "CAMPD", "CAMPE")
        ]
        assert sum(report.requests for report in reports) == sent
