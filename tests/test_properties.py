"""Properties that must hold for every input, checked with hypothesis.

- Number normalization: every way of writing a valid US number gives the same 11 digits;
  a letter or a non-ASCII digit anywhere makes it invalid; normalizing is idempotent.
- Report invariants, under any mix of outcomes.
- Retry-After parsing: never negative, NaN or infinite; seconds round-trip; HTTP dates are
  read against the clock; junk gives ``None``.
- Batch bisection: against a server that refuses any batch holding a bad number, every good
  number is linked once and every bad one rejected, at a bounded cost in requests.
"""

from __future__ import annotations

import asyncio
import csv
import email.utils
import io
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from plivo_numlink import (
    BulkReport,
    InvalidNumberError,
    LinkStatus,
    NumberOutcome,
    NumLinkSession,
    OutcomeKind,
    RetryPolicy,
    normalize_number,
)
from plivo_numlink._models import converter
from plivo_numlink._numbers import try_normalize_number
from plivo_numlink._report import CSV_FIELDS, neutralise_cell
from plivo_numlink._retry import parse_retry_after

# ---------------------------------------------------------------------------------------------
# Number normalization

AREA_OR_EXCHANGE = st.from_regex(r"[2-9][0-9]{2}", fullmatch=True)
LINE = st.from_regex(r"[0-9]{4}", fullmatch=True)
#: What people put between digits: spaces, tabs, dashes, dots, parentheses.
SEPARATOR = st.text(alphabet=" \t-.()", max_size=3)
SURROUNDING = st.text(alphabet=" \t\r\n", max_size=3)


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A valid US number written in any style, and the 11 digits it stands for."""
    digits = draw(AREA_OR_EXCHANGE) + draw(AREA_OR_EXCHANGE) + draw(LINE)
    country = draw(st.sampled_from(["", "1", "+1"]))
    body = country.lstrip("+") + digits
    seps = draw(st.lists(SEPARATOR, min_size=len(body) + 1, max_size=len(body) + 1))
    written = "".join(sep + digit for sep, digit in zip(seps, body, strict=False)) + seps[-1]
    text = ("+" if country.startswith("+") else "") + written
    return draw(SURROUNDING) + text + draw(SURROUNDING), "1" + digits


@given(written_numbers())
def test_any_writing_of_a_valid_number_gives_its_eleven_digits(case: tuple[str, str]) -> None:
    written, expected = case
    assert normalize_number(written) == expected


@given(written_numbers(), written_numbers())
def test_two_writings_of_a_number_normalize_alike_or_differ_in_digits(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    same = normalize_number(first[0]) == normalize_number(second[0])
    assert same is (first[1] == second[1])


LETTER = st.characters(categories=["Lu", "Ll", "Lt", "Lm", "Lo"])
NON_ASCII_DIGIT = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())


@given(written_numbers(), st.one_of(LETTER, NON_ASCII_DIGIT), st.integers(min_value=0))
def test_a_letter_or_non_ascii_digit_anywhere_makes_a_number_invalid(
    case: tuple[str, str], intruder: str, where: int
) -> None:
    written = case[0]
    at = where % (len(written) + 1)
    spoiled = written[:at] + intruder + written[at:]
    number, reason = try_normalize_number(spoiled)
    assert number is None
    assert reason


@given(st.one_of(written_numbers().map(lambda case: case[0]), st.text(max_size=30)))
def test_normalizing_is_idempotent(raw: str) -> None:
    number, _ = try_normalize_number(raw)
    if number is None:
        return
    assert normalize_number(number) == number
    assert normalize_number("+" + number) == number


@given(st.text(max_size=30))
def test_normalizing_refuses_or_gives_eleven_ascii_digits_without_raising_other_errors(
    raw: str,
) -> None:
    number, reason = try_normalize_number(raw)
    if number is None:
        assert reason
        with pytest.raises(InvalidNumberError, match=r"."):
            normalize_number(raw)
        return
    assert normalize_number(raw) == number
    assert len(number) == 11
    assert number.isascii()
    assert number.isdigit()


# ---------------------------------------------------------------------------------------------
# Report invariants

VALID = st.from_regex(r"1[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True)
INVALID = st.text(max_size=20).filter(lambda text: try_normalize_number(text)[0] is None)
NOT_INVALID_KINDS = [kind for kind in OutcomeKind if kind is not OutcomeKind.INVALID]
MAYBE_TEXT = st.none() | st.text(max_size=30)


@st.composite
def outcomes(draw: st.DrawFn) -> NumberOutcome:
    if draw(st.booleans()):
        number = draw(VALID)
        kind = draw(st.sampled_from(NOT_INVALID_KINDS))
    else:
        number = draw(INVALID)
        kind = OutcomeKind.INVALID
    return NumberOutcome(
        number=number,
        kind=kind,
        action=draw(st.sampled_from(["link", "unlink"])),
        error=draw(MAYBE_TEXT),
        status_code=draw(st.none() | st.integers(100, 599)),
        api_id=draw(MAYBE_TEXT),
        attempts=draw(st.integers(0, 20)),
        status=draw(st.none() | st.sampled_from(list(LinkStatus))),
    )


#: Reports are costly to draw; fifty of them per property find what a hundred do.
REPORTS = settings(max_examples=50)


@st.composite
def reports(draw: st.DrawFn) -> BulkReport:
    items = draw(st.lists(outcomes(), max_size=30, unique_by=lambda outcome: outcome.number))
    return BulkReport(
        outcomes=tuple(items),
        action=draw(st.sampled_from(["link", "unlink", "sync"])),
        campaign_id=draw(st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True)),
        stopped_reason=draw(MAYBE_TEXT),
        elapsed=draw(st.floats(0, 1e6)),
        requests=draw(st.integers(0, 10**6)),
        duplicates=draw(st.integers(0, 10**6)),
    )


@REPORTS
@given(reports())
def test_report_counts_add_up_to_its_length(report: BulkReport) -> None:
    assert sum(report.counts.values()) == len(report)
    assert all(count > 0 for count in report.counts.values())


@REPORTS
@given(reports())
def test_report_failed_and_succeeded_partition_the_outcomes_in_order(report: BulkReport) -> None:
    assert len(report.failed) + len(report.succeeded) == len(report)
    assert all(not outcome.ok for outcome in report.failed)
    assert all(outcome.ok for outcome in report.succeeded)
    assert report.failed == tuple(o for o in report.outcomes if o in report.failed)
    assert report.succeeded == tuple(o for o in report.outcomes if o in report.succeeded)


@REPORTS
@given(reports())
def test_report_is_ok_exactly_when_nothing_failed_and_it_did_not_stop(report: BulkReport) -> None:
    assert report.ok is (not report.failed and report.stopped_reason is None)


@REPORTS
@given(reports())
def test_report_lookup_finds_every_outcome(report: BulkReport) -> None:
    for outcome in report:
        assert outcome.number in report
        assert report[outcome.number] is outcome
        if outcome.kind is not OutcomeKind.INVALID:
            # Valid numbers are found however they are written.
            assert report["+" + outcome.number] is outcome


@REPORTS
@given(reports())
@example(BulkReport(outcomes=(NumberOutcome(number="1\r2", kind=OutcomeKind.INVALID),)))
def test_report_csv_has_a_header_and_one_row_per_outcome(report: BulkReport) -> None:
    rows = list(csv.reader(io.StringIO(report.to_csv(), newline="")))
    assert rows[0] == CSV_FIELDS
    assert len(rows) == len(report) + 1
    # Cells a spreadsheet would run as formulas carry a leading "'" (issue 10).
    assert [row[0] for row in rows[1:]] == [neutralise_cell(o.number) for o in report]
    for row in rows[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


@REPORTS
@given(reports())
def test_report_json_round_trips(report: BulkReport) -> None:
    data = json.loads(report.to_json())
    assert data == json.loads(json.dumps(report.to_dict()))
    assert data["counts"] == report.counts
    assert data["ok"] is report.ok
    rebuilt = tuple(converter.structure(item, NumberOutcome) for item in data["outcomes"])
    assert rebuilt == report.outcomes


@REPORTS
@given(reports())
def test_report_summary_always_renders(report: BulkReport) -> None:
    noun = "number" if len(report) == 1 else "numbers"
    assert f"{len(report)} {noun}," in report.summary()


# ---------------------------------------------------------------------------------------------
# Retry-After


def retry_after(value: str, *, now: float = 1_700_000_000.0, header: str = "Retry-After") -> Any:
    return parse_retry_after(CIMultiDict({header: value}), now=lambda: now)


@given(st.text(max_size=40), st.sampled_from(["Retry-After", "retry-after-ms"]))
def test_retry_after_is_never_negative_nan_or_infinite(value: str, header: str) -> None:
    delay = retry_after(value, header=header)
    assert delay is None or (math.isfinite(delay) and delay >= 0)


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_retry_after_seconds_round_trip(seconds: float) -> None:
    assert retry_after(repr(seconds)) == seconds
    assert retry_after(f" {seconds!r} ") == seconds


@given(st.integers(min_value=0, max_value=10**9))
def test_retry_after_whole_seconds_round_trip(seconds: int) -> None:
    assert retry_after(str(seconds)) == seconds


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_retry_after_ms_is_read_in_milliseconds(milliseconds: float) -> None:
    assert retry_after(repr(milliseconds), header="retry-after-ms") == milliseconds / 1000


@given(
    st.floats(min_value=1e9, max_value=4e9, allow_nan=False),
    st.integers(min_value=0, max_value=10**7),
)
def test_retry_after_http_date_in_the_future_gives_the_delta(now: float, delta: int) -> None:
    # HTTP dates have whole seconds: the date of now + delta is up to 1 s earlier (and,
    # float rounding aside, never later).
    header = email.utils.formatdate(now + delta, usegmt=True)
    delay = retry_after(header, now=now)
    assert delay is not None
    assert delta - 1 <= delay <= delta + 1e-3


@given(
    st.floats(min_value=1e9, max_value=4e9, allow_nan=False),
    st.integers(min_value=1, max_value=10**7),
)
def test_retry_after_http_date_in_the_past_gives_zero(now: float, ago: int) -> None:
    header = email.utils.formatdate(now - ago - 1, usegmt=True)
    assert retry_after(header, now=now) == 0


NO_DIGITS = st.text(
    alphabet=st.characters(exclude_categories=["Nd", "Cs"], exclude_characters="0123456789"),
    max_size=40,
)


@given(NO_DIGITS)
def test_retry_after_without_digits_is_junk(value: str) -> None:
    # "inf", "nan", "Infinity" parse as floats but are not finite: junk too.
    assert retry_after(value) is None
    assert retry_after(value, header="retry-after-ms") is None


@given(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False))
def test_retry_after_negative_seconds_are_junk(seconds: float) -> None:
    assert retry_after(repr(seconds)) is None


# ---------------------------------------------------------------------------------------------
# Batch bisection, against a tiny server that refuses any batch holding a bad number


class RefusingServer:
    """Links any batch without a bad number; refuses the others with a 400 that names no
    number (or, with ``name_it``, names the first bad one, as Plivo does)."""

    def __init__(self, bad: set[str], *, name_it: bool = False) -> None:
        self.bad = bad
        self.name_it = name_it
        self.batches: list[list[str]] = []
        self.linked: list[str] = []

    async def handle(self, request: Any) -> Any:
        from aiohttp import web

        numbers = (await request.json())["numbers"]
        self.batches.append(numbers)
        refused = [number for number in numbers if number in self.bad]
        if refused:
            error = (
                f"The number {refused[0]} is not a valid number"
                if self.name_it
                else "Invalid request"
            )
            return web.json_response({"api_id": "x", "error": error}, status=400)
        self.linked.extend(numbers)
        return web.json_response({"api_id": "y", "message": "ok"}, status=202)


@asynccontextmanager
async def serving(server: RefusingServer) -> AsyncIterator[str]:
    from aiohttp import web

    app = web.Application()
    app.router.add_post("/v1/Account/{auth_id}/10dlc/Campaign/{campaign}/Number/", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def link_through(server: RefusingServer, numbers: list[str], batch_size: int) -> BulkReport:
    async with (
        serving(server) as base_url,
        NumLinkSession(
            auth_id="MA0123456789ABCDEFGH",
            auth_token="token",
            base_url=base_url,
            rate_limit=None,
            retry=RetryPolicy(attempts=1),
            concurrency=4,
        ) as session,
    ):
        return await session.link_many("CUOGHIN", numbers, batch_size=batch_size)


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[str], set[str], int]:
    numbers = draw(st.lists(VALID, min_size=1, max_size=64, unique=True))
    flags = draw(st.lists(st.booleans(), min_size=len(numbers), max_size=len(numbers)))
    bad = {number for number, flag in zip(numbers, flags, strict=True) if flag}
    return numbers, bad, draw(st.integers(min_value=1, max_value=64))


BISECTION = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_good_accepted_once_and_bad_rejected(
    report: BulkReport, server: RefusingServer, numbers: list[str], bad: set[str]
) -> None:
    assert [outcome.number for outcome in report] == numbers
    for outcome in report:
        if outcome.number in bad:
            assert outcome.kind is OutcomeKind.REJECTED, outcome
            assert outcome.status_code == 400
        else:
            assert outcome.kind is OutcomeKind.ACCEPTED, outcome
    assert sorted(server.linked) == sorted(n for n in numbers if n not in bad)


@BISECTION
@given(batches())
def test_bisection_links_every_good_number_and_rejects_every_bad_one(
    case: tuple[list[str], set[str], int],
) -> None:
    numbers, bad, batch_size = case
    server = RefusingServer(bad)
    report = asyncio.run(link_through(server, numbers, batch_size))
    assert_good_accepted_once_and_bad_rejected(report, server, numbers, bad)
    # Each first batch costs one request; each bad number at most two more per halving.
    size = min(batch_size, len(numbers))
    first_batches = math.ceil(len(numbers) / batch_size)
    bound = first_batches + 2 * len(bad) * math.ceil(math.log2(size))
    assert len(server.batches) <= bound
    assert report.requests == len(server.batches)


@BISECTION
@given(batches())
def test_a_rejection_naming_the_bad_number_costs_one_more_request(
    case: tuple[list[str], set[str], int],
) -> None:
    numbers, bad, batch_size = case
    server = RefusingServer(bad, name_it=True)
    report = asyncio.run(link_through(server, numbers, batch_size))
    assert_good_accepted_once_and_bad_rejected(report, server, numbers, bad)
    assert len(server.batches) <= math.ceil(len(numbers) / batch_size) + len(bad)
