"""The bulk engine against a fake Requester: no sockets, no server, only the engine's logic.

The fake answers each request from a small script and counts attempts the way the real
transport does (on the caller's AttemptCounter chain), so the report's request counts can
be checked against exactly what was "sent".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pytest

import plivo_numlink as pn
from plivo_numlink import _bulk
from plivo_numlink._config import MIN_ERROR_BUDGET, WaitPolicy
from plivo_numlink._errors import status_error
from plivo_numlink._protocol import Answer
from plivo_numlink._transport import AttemptCounter

CAMPAIGN = "CUOGHIN"
AUTH_ID = "MA0123456789ABCDEFGH"


def numbers(count: int) -> list[str]:
    return [f"1212555{i:04d}" for i in range(count)]


@attrs.define
class Sent:
    method: str
    path: str
    json: Any


Handler = Callable[[Sent], "Answer | Exception"]


class FakeRequester:
    """What the bulk engine needs of a Requester, answering from ``handler``."""

    def __init__(self, handler: Handler, *, concurrency: int = 4) -> None:
        self.auth_id = AUTH_ID
        self.concurrency = concurrency
        self.sent = AttemptCounter()
        self.requests: list[Sent] = []
        self.handler = handler
        self.now = 0.0
        self.in_flight = 0
        self.most_in_flight = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds

    async def request(
        self,
        method: str,
        template: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        counter: AttemptCounter | None = None,
        gate: Callable[[], None] | None = None,
    ) -> Answer:
        if gate is not None:
            gate()
        (counter if counter is not None else self.sent).add()
        sent = Sent(method, path, json)
        self.requests.append(sent)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
        result = self.handler(sent)
        if isinstance(result, Exception):
            raise result
        return result


def ok(_: Sent) -> Answer:
    return Answer(202, '{"api_id": "fake-api-id", "message": "ok"}')


def error(status: int, message: str) -> Exception:
    return status_error(status)(message, status_code=status, method="", path="")


def run_of(requester: FakeRequester, action: str, entries: Any, **options: Any) -> _bulk.BulkRun:
    return _bulk.BulkRun(requester, action, CAMPAIGN, entries, **options)  # type: ignore[arg-type]


async def test_link_batches_are_sent_whole_and_the_report_counts_each_request() -> None:
    fake = FakeRequester(ok)
    report = await run_of(fake, "link", numbers(25), batch_size=10).run_to_report()
    assert [len(r.json["numbers"]) for r in fake.requests] == [10, 10, 5]
    assert report.counts == {"accepted": 25}
    assert report.requests == 3 == fake.sent.count
    assert {o.api_id for o in report.outcomes} == {"fake-api-id"}
    assert fake.most_in_flight <= 4


async def test_a_batch_error_naming_a_number_settles_it_and_resends_the_rest() -> None:
    bad = numbers(6)[2]

    def handler(sent: Sent) -> Answer | Exception:
        if bad in sent.json["numbers"]:
            return error(400, f"The number {bad} is not a valid number")
        return ok(sent)

    fake = FakeRequester(handler)
    report = await run_of(fake, "link", numbers(6), batch_size=6).run_to_report()
    assert report[bad].kind is pn.OutcomeKind.REJECTED
    assert report[bad].attempts == 1
    assert report.counts == {"accepted": 5, "rejected": 1}
    assert [r.json["numbers"] for r in fake.requests][1] == [n for n in numbers(6) if n != bad]
    assert report.requests == 2 == len(fake.requests)


async def test_an_unexplained_rejection_is_bisected_down_to_the_bad_number() -> None:
    bad = numbers(8)[5]

    def handler(sent: Sent) -> Answer | Exception:
        if bad in sent.json["numbers"]:
            return error(400, "invalid request")
        return ok(sent)

    fake = FakeRequester(handler)
    report = await run_of(fake, "link", numbers(8), batch_size=8).run_to_report()
    assert report[bad].kind is pn.OutcomeKind.REJECTED
    assert report.counts == {"accepted": 7, "rejected": 1}
    assert report.requests == len(fake.requests) == 7  # 8 -> 4+4 -> 2+2 -> 1+1


async def test_unlinking_a_number_not_linked_is_already_and_ok() -> None:
    fake = FakeRequester(lambda sent: error(404, "The number is not linked to this campaign"))
    report = await run_of(fake, "unlink", numbers(3)).run_to_report()
    assert report.counts == {"already": 3}
    assert report.ok
    assert [r.method for r in fake.requests] == ["DELETE"] * 3


async def test_a_401_stops_the_job_and_nothing_more_is_sent() -> None:
    fake = FakeRequester(lambda sent: error(401, "bad credentials"), concurrency=1)
    report = await run_of(fake, "unlink", numbers(50)).run_to_report()
    assert len(fake.requests) == 1
    assert report.stopped_reason is not None
    assert "401" in report.stopped_reason
    assert report.counts == {"rejected": 1, "not_attempted": 49}
    assert report.requests == 1


async def test_a_server_that_keeps_failing_is_not_hammered() -> None:
    fake = FakeRequester(lambda sent: error(503, "down"), concurrency=1)
    report = await run_of(fake, "unlink", numbers(100)).run_to_report()
    budget = max(MIN_ERROR_BUDGET, 2 * fake.concurrency)
    assert len(fake.requests) == budget
    assert report.stopped_reason is not None
    assert "keeps failing" in report.stopped_reason
    assert report.counts == {"error": budget, "not_attempted": 100 - budget}


async def test_two_jobs_on_one_requester_each_count_only_their_own_requests() -> None:
    fake = FakeRequester(ok)
    first, second = await asyncio.gather(
        run_of(fake, "unlink", numbers(30)).run_to_report(),
        run_of(fake, "link", numbers(30), batch_size=7).run_to_report(),
    )
    assert first.requests == 30
    assert second.requests == 5
    assert fake.sent.count == 35 == len(fake.requests)


async def test_on_outcome_is_called_by_the_workers_when_nobody_iterates() -> None:
    fake = FakeRequester(ok)
    seen: list[str] = []
    run = run_of(fake, "unlink", [*numbers(5), "junk"], on_outcome=lambda o: seen.append(o.number))
    report = await run.run_to_report()
    assert sorted(seen) == sorted(o.number for o in report.outcomes)
    assert run.done
    with pytest.raises(RuntimeError, match="only once"):
        run.__aiter__()


async def test_an_exception_from_on_outcome_ends_the_run_with_it() -> None:
    fake = FakeRequester(ok, concurrency=2)

    def explode(_: pn.NumberOutcome) -> None:
        raise LookupError("progress bar broke")

    run = run_of(fake, "unlink", numbers(40), on_outcome=explode)
    with pytest.raises(LookupError):
        await run.run_to_report()
    # The first outcome's exception ends the run at once: far from all 40 are sent, and
    # the report still accounts for everything read.
    assert len(fake.requests) < 40
    assert run.done
    report = run.report()
    assert len(report) >= len(fake.requests)


async def test_waiting_for_a_report_polls_with_the_requester_s_clock_and_sleep() -> None:
    polls = 0

    def handler(sent: Sent) -> Answer:
        nonlocal polls
        if sent.method == "POST":
            return ok(sent)
        polls += 1
        number = sent.path.rstrip("/").rsplit("/", 1)[-1]
        status = "COMPLETED" if polls > 2 else "PROCESSING"
        return Answer(200, f'{{"phone_numbers": [{{"number": "{number}", "status": "{status}"}}]}}')

    fake = FakeRequester(handler)
    report = await run_of(fake, "link", numbers(1)).run_to_report()
    waited = await _bulk.wait_for_report(fake, report, WaitPolicy(timeout=60, poll_interval=5))  # type: ignore[arg-type]
    assert waited.outcomes[0].kind is pn.OutcomeKind.COMPLETED
    assert fake.now == 15.0  # the poll interval, then twice it (no progress), no real time
    assert waited.requests == 1 + 3 == len(fake.requests)


async def test_a_run_knows_the_session_that_started_it() -> None:
    fake = FakeRequester(ok)
    owner = object()
    run = _bulk.BulkRun(fake, "link", CAMPAIGN, numbers(1), owner=owner)  # type: ignore[arg-type]
    assert run.session is owner
    assert run.requester is fake


async def test_an_async_input_that_fails_stops_the_job_and_raises_after_it() -> None:
    async def entries() -> Any:
        yield numbers(1)[0]
        yield "junk"
        raise OSError("disk gone")

    fake = FakeRequester(ok)
    run = run_of(fake, "unlink", entries())
    with pytest.raises(OSError, match="disk gone"):
        await run.run_to_report()
    report = run.report()
    assert report.stopped_reason == "reading the input failed: OSError: disk gone"
    assert [o.number for o in report.outcomes] == [numbers(1)[0], "junk"]


async def test_a_stopped_run_over_an_async_input_reports_what_it_read() -> None:
    async def entries() -> Any:
        for number in numbers(3):
            yield number

    run = run_of(FakeRequester(ok), "unlink", entries())
    run.stop("not now")
    report = run.report()  # an async input cannot be read without the event loop
    assert report.outcomes == ()
    assert report.stopped_reason == "not now"


async def test_a_stopped_run_without_dedupe_reports_every_unread_entry() -> None:
    entries = [*numbers(2), numbers(2)[0], "junk"]
    run = run_of(FakeRequester(ok), "unlink", entries, dedupe=False)
    run.stop("not now")
    report = run.report()
    # Without dedupe a repeat is an entry of its own, as it would have been sent again.
    assert report.duplicates == 0
    assert [o.kind for o in report.outcomes] == [
        pn.OutcomeKind.NOT_ATTEMPTED,
        pn.OutcomeKind.NOT_ATTEMPTED,
        pn.OutcomeKind.NOT_ATTEMPTED,
        pn.OutcomeKind.INVALID,
    ]


async def test_a_bare_404_on_unlink_asks_once_whether_the_campaign_exists() -> None:
    def handler(sent: Sent) -> Answer | Exception:
        if sent.method == "GET":
            return error(503, "cannot tell")  # the campaign check itself fails
        return error(404, "not found")

    fake = FakeRequester(handler, concurrency=1)
    report = await run_of(fake, "unlink", numbers(3)).run_to_report()
    # The check could not tell, so the campaign is taken to exist: the 404s mean "not linked".
    assert report.counts == {"already": 3}
    assert [r.method for r in fake.requests].count("GET") == 1
    assert report.requests == len(fake.requests) == 4
