"""Bulk results as plain values: OutcomeKind, NumberOutcome and BulkReport, and the pure
decisions of the bulk engine (which errors mean "already in state", which numbers an error
names, how polled statuses fold into outcomes), all without a network."""

from __future__ import annotations

import csv
import io
import json

import attrs
import pytest

from plivo_numlink import (
    APIStatusError,
    BulkReport,
    LinkStatus,
    NumberOutcome,
    OutcomeKind,
)
from plivo_numlink._bulk._wait import fold_statuses
from plivo_numlink._errors import status_error
from plivo_numlink._protocol import is_already_in_state, numbers_named
from plivo_numlink._report import CSV_FIELDS

N1 = "12125557777"
N2 = "14155550123"
N3 = "13105550100"


def api_error(status: int, message: str) -> APIStatusError:
    return status_error(status)(message, status_code=status, api_id="api-1")


def report_of(*outcomes: NumberOutcome, **fields: object) -> BulkReport:
    return BulkReport(outcomes=outcomes, **fields)  # type: ignore[arg-type]


def mixed_report() -> BulkReport:
    return report_of(
        NumberOutcome(N1, OutcomeKind.ACCEPTED, api_id="a1", attempts=1),
        NumberOutcome("not a number", OutcomeKind.INVALID, error="number is not valid"),
        NumberOutcome(
            N2, OutcomeKind.REJECTED, error="HTTP 400: nope", status_code=400, attempts=2
        ),
        NumberOutcome(N3, OutcomeKind.ALREADY, status=LinkStatus.COMPLETED, attempts=1),
        action="link",
        campaign_id="CUOGHIN",
        elapsed=1.5,
        requests=7,
        duplicates=2,
    )


# ---------------------------------------------------------------------------------------------
# OutcomeKind and NumberOutcome


@pytest.mark.parametrize(
    ("kind", "ok"),
    [
        (OutcomeKind.ACCEPTED, True),
        (OutcomeKind.ALREADY, True),
        (OutcomeKind.COMPLETED, True),
        (OutcomeKind.REMOTE_FAILED, False),
        (OutcomeKind.PENDING, False),
        (OutcomeKind.REJECTED, False),
        (OutcomeKind.ERROR, False),
        (OutcomeKind.INVALID, False),
        (OutcomeKind.NOT_ATTEMPTED, False),
    ],
)
def test_outcome_kind_is_ok_only_when_the_desired_state_holds_or_was_accepted(
    kind: OutcomeKind, ok: bool
) -> None:
    assert kind.ok is ok
    assert NumberOutcome(N1, kind).ok is ok


def test_outcome_kind_prints_as_its_text_value() -> None:
    assert str(OutcomeKind.NOT_ATTEMPTED) == "not_attempted"
    assert f"{OutcomeKind.REMOTE_FAILED}" == "remote_failed"
    assert OutcomeKind("already") is OutcomeKind.ALREADY


def test_number_outcome_defaults_describe_a_number_never_sent() -> None:
    outcome = NumberOutcome(N1, OutcomeKind.NOT_ATTEMPTED)
    assert (outcome.action, outcome.error, outcome.status_code, outcome.api_id) == (
        "link",
        None,
        None,
        None,
    )
    assert outcome.attempts == 0
    assert outcome.status is None


def test_number_outcome_is_frozen() -> None:
    outcome = NumberOutcome(N1, OutcomeKind.ACCEPTED)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        outcome.ok = False  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# BulkReport: verdicts and views


def test_report_is_ok_when_every_outcome_is_ok() -> None:
    report = report_of(
        NumberOutcome(N1, OutcomeKind.ACCEPTED),
        NumberOutcome(N2, OutcomeKind.ALREADY),
        NumberOutcome(N3, OutcomeKind.COMPLETED),
    )
    assert report.ok


def test_report_is_not_ok_when_one_outcome_is_not_ok() -> None:
    assert not mixed_report().ok


def test_report_of_a_stopped_job_is_not_ok_even_if_every_outcome_is() -> None:
    report = report_of(NumberOutcome(N1, OutcomeKind.ACCEPTED), stopped_reason="HTTP 401")
    assert not report.ok


def test_empty_report_is_ok() -> None:
    assert report_of().ok


def test_report_counts_outcomes_by_kind_text_for_the_kinds_present() -> None:
    assert mixed_report().counts == {"accepted": 1, "invalid": 1, "rejected": 1, "already": 1}


def test_report_failed_and_succeeded_split_outcomes_in_input_order() -> None:
    report = mixed_report()
    assert [o.number for o in report.failed] == ["not a number", N2]
    assert [o.number for o in report.succeeded] == [N1, N3]


def test_report_is_a_sized_iterable_of_its_outcomes() -> None:
    report = mixed_report()
    assert len(report) == 4
    assert list(report) == list(report.outcomes)


@pytest.mark.parametrize(
    "written", ["12125557777", "+1 212-555-7777", "(212) 555-7777", "2125557777"]
)
def test_report_looks_an_outcome_up_by_any_form_of_its_number(written: str) -> None:
    report = mixed_report()
    assert report[written].number == N1
    assert written in report
    assert report.get(written) is report[written]


def test_report_looks_an_invalid_entry_up_by_its_raw_text() -> None:
    assert mixed_report()["not a number"].kind is OutcomeKind.INVALID


@pytest.mark.parametrize("unknown", ["19175550000", "garbage"])
def test_report_lookup_of_an_unknown_number_raises_key_error_naming_it(unknown: str) -> None:
    report = mixed_report()
    with pytest.raises(KeyError, match=unknown):
        report[unknown]
    assert unknown not in report
    assert report.get(unknown) is None


def test_report_contains_only_strings() -> None:
    assert 12125557777 not in mixed_report()


def test_reports_with_equal_fields_are_equal_and_frozen() -> None:
    assert mixed_report() == mixed_report()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        mixed_report().requests = 0  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# BulkReport: summary and exports


def test_summary_gives_totals_counts_requests_time_and_duplicates() -> None:
    text = mixed_report().summary()
    assert text.startswith("link CUOGHIN: 4 numbers, 2 ok, 2 not ok")
    for part in ("1 accepted", "1 already", "1 invalid", "1 rejected", "7 requests", "1.50 s"):
        assert part in text
    assert "2 duplicate entries skipped" in text
    assert "stopped" not in text


def test_summary_says_why_a_job_stopped() -> None:
    report = report_of(NumberOutcome(N1, OutcomeKind.NOT_ATTEMPTED), stopped_reason="HTTP 401 x")
    assert report.summary().endswith("; stopped: HTTP 401 x")


def test_summary_of_an_empty_report_says_nothing_to_do() -> None:
    assert "(nothing to do)" in report_of(campaign_id="C1").summary()


def test_to_json_parses_back_to_the_report_fields_and_every_outcome() -> None:
    data = json.loads(mixed_report().to_json())
    assert {k: data[k] for k in ("action", "campaign_id", "ok", "stopped_reason")} == {
        "action": "link",
        "campaign_id": "CUOGHIN",
        "ok": False,
        "stopped_reason": None,
    }
    assert (data["elapsed"], data["requests"], data["duplicates"]) == (1.5, 7, 2)
    assert data["counts"] == mixed_report().counts
    assert [o["number"] for o in data["outcomes"]] == [N1, "not a number", N2, N3]
    assert data["outcomes"][0] == {
        "number": N1,
        "kind": "accepted",
        "action": "link",
        "error": None,
        "status_code": None,
        "api_id": "a1",
        "attempts": 1,
        "status": None,
        "ok": True,
        "input": None,
        "index": None,
        "line": None,
    }
    assert data["outcomes"][3]["status"] == "COMPLETED"
    assert data["outcomes"][2]["status_code"] == 400


def test_to_json_indent_none_gives_one_line() -> None:
    text = mixed_report().to_json(indent=None)
    assert "\n" not in text
    assert json.loads(text) == json.loads(mixed_report().to_json())


def test_to_csv_has_one_header_row_then_one_row_per_outcome() -> None:
    rows = list(csv.reader(io.StringIO(mixed_report().to_csv())))
    assert rows[0] == CSV_FIELDS
    assert len(rows) == 1 + 4
    assert {"number", "kind", "ok", "error", "status_code", "api_id", "attempts"} <= set(rows[0])


def test_to_csv_rows_carry_each_outcome_with_blanks_for_none() -> None:
    rows = list(csv.DictReader(io.StringIO(mixed_report().to_csv())))
    assert [row["number"] for row in rows] == [N1, "not a number", N2, N3]
    assert rows[0]["kind"] == "accepted"
    assert rows[0]["error"] == ""
    assert rows[0]["ok"] == "True"
    assert rows[2]["status_code"] == "400"
    assert rows[2]["attempts"] == "2"
    assert rows[3]["status"] == "COMPLETED"


def test_to_csv_quotes_errors_with_commas_quotes_and_newlines() -> None:
    error = 'HTTP 400: bad, "very" bad\nsecond line'
    report = report_of(NumberOutcome(N1, OutcomeKind.REJECTED, error=error))
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert len(rows) == 1
    assert rows[0]["error"] == error


def test_to_csv_of_an_empty_report_is_the_header_alone() -> None:
    assert report_of().to_csv() == ",".join(CSV_FIELDS) + "\n"


# ---------------------------------------------------------------------------------------------
# is_already_in_state: which error answers mean the desired state already holds


@pytest.mark.parametrize(
    ("action", "status", "message", "already"),
    [
        # link: already requested / linked means the number is (being) linked
        ("link", 400, f"The number {N2} is already requested for linking", True),
        ("link", 400, f"The number {N2} is already linked", True),
        ("link", 409, f"The number {N2} has already been linked to this campaign", True),
        ("link", 422, f"Number {N2} already exists in the campaign", True),
        # ... but not to another campaign
        ("link", 400, f"The number {N2} is linked to another campaign", False),
        ("link", 400, f"The number {N2} is already linked to a different campaign", False),
        # ... and never for statuses that are not a definitive answer about the number
        ("link", 401, f"The number {N2} is already requested for linking", False),
        ("link", 403, f"The number {N2} is already requested for linking", False),
        ("link", 408, f"The number {N2} is already requested for linking", False),
        ("link", 429, f"The number {N2} is already requested for linking", False),
        ("link", 500, f"The number {N2} is already requested for linking", False),
        ("link", 400, f"The number {N2} is not a valid number", False),
        ("link", 400, f"The number {N2} is not linked to this campaign", False),
        # unlink: not linked means the number is already gone
        ("unlink", 400, f"The number {N2} is not linked to this campaign", True),
        ("unlink", 404, f"The number {N2} is not linked to this campaign", True),
        # A bare "not found" may be about the campaign: the bulk job asks (see test_bulk).
        ("unlink", 404, "not found", False),
        ("unlink", 400, f"The number {N2} has not been associated", True),
        # ... but a missing campaign is about the campaign, not the number
        ("unlink", 404, "campaign not found", False),
        ("unlink", 404, "Campaign CUOGHIN not found", False),
        ("unlink", 400, f"The number {N2} is already requested for linking", False),
        ("unlink", 429, f"The number {N2} is not linked to this campaign", False),
        ("unlink", 401, f"The number {N2} is not linked to this campaign", False),
        ("unlink", 503, f"The number {N2} is not linked to this campaign", False),
    ],
)
def test_is_already_in_state(action: str, status: int, message: str, already: bool) -> None:
    assert is_already_in_state(action, api_error(status, message)) is already


# ---------------------------------------------------------------------------------------------
# numbers_named: which numbers of a batch an error text is about


@pytest.mark.parametrize(
    ("text", "candidates", "named"),
    [
        (f"The number {N2} is not a valid number", [N1, N2], [N2]),
        ("The number +1 (415) 555-0123 is not a valid number", [N1, N2], [N2]),
        ("The number 415-555-0123 is already requested for linking", [N2], [N2]),
        (f"Numbers {N3} and {N1} are not valid", [N1, N2, N3], [N3, N1]),
        (f"{N1} is bad; again: {N1}", [N1], [N1]),
        (f"The number {N2} is not a valid number", [N1, N3], []),
        ("Too many numbers: at most 50 numbers can be linked in one request (64 given)", [N1], []),
        ("Invalid request", [N1, N2], []),
        ("", [N1], []),
        ("The number 11234567890 is not a valid number", [N1], []),
    ],
)
def test_numbers_named(text: str, candidates: list[str], named: list[str]) -> None:
    assert numbers_named(text, candidates) == named


# ---------------------------------------------------------------------------------------------
# fold_statuses: polled statuses turned into outcomes


def accepted(number: str = N1, **fields: object) -> NumberOutcome:
    return NumberOutcome(number, OutcomeKind.ACCEPTED, api_id="a1", attempts=2, **fields)  # type: ignore[arg-type]


P, C, F, U = LinkStatus.PROCESSING, LinkStatus.COMPLETED, LinkStatus.FAILED, LinkStatus.UNKNOWN


@pytest.mark.parametrize(
    ("kind", "polled", "folded_kind", "error_part"),
    [
        (OutcomeKind.ACCEPTED, (C, None), OutcomeKind.COMPLETED, None),
        (OutcomeKind.ALREADY, (C, None), OutcomeKind.ALREADY, None),
        (OutcomeKind.ACCEPTED, (F, None), OutcomeKind.REMOTE_FAILED, "FAILED"),
        (OutcomeKind.ALREADY, (F, None), OutcomeKind.REMOTE_FAILED, "FAILED"),
        (OutcomeKind.ACCEPTED, (P, None), OutcomeKind.PENDING, "still PROCESSING"),
        (OutcomeKind.ALREADY, (P, None), OutcomeKind.PENDING, "still PROCESSING"),
        (OutcomeKind.ACCEPTED, (U, None), OutcomeKind.PENDING, "still UNKNOWN"),
        (OutcomeKind.ACCEPTED, (None, None), OutcomeKind.NOT_LISTED, "not listed"),
        (OutcomeKind.ACCEPTED, (P, "polling failed: HTTP 404: x"), OutcomeKind.PENDING, "HTTP 404"),
    ],
)
def test_fold_statuses_for_link(
    kind: OutcomeKind,
    polled: tuple[LinkStatus | None, str | None],
    folded_kind: OutcomeKind,
    error_part: str | None,
) -> None:
    outcome = NumberOutcome(N1, kind, api_id="a1", attempts=2)
    [folded] = fold_statuses([outcome], {N1: polled}, unlinked=False)
    assert folded.kind is folded_kind
    assert folded.ok is folded_kind.ok
    assert folded.status is polled[0]
    if error_part is None:
        assert folded.error is None
    else:
        assert folded.error is not None
        assert error_part in folded.error
    assert (folded.number, folded.api_id, folded.attempts) == (N1, "a1", 2)


@pytest.mark.parametrize(
    ("kind", "polled", "folded_kind", "error_part"),
    [
        (OutcomeKind.ACCEPTED, (None, None), OutcomeKind.COMPLETED, None),
        (OutcomeKind.ALREADY, (None, None), OutcomeKind.ALREADY, None),
        (OutcomeKind.ACCEPTED, (C, None), OutcomeKind.PENDING, "still linked"),
        (OutcomeKind.ACCEPTED, (P, None), OutcomeKind.PENDING, "still linked"),
        (OutcomeKind.ACCEPTED, (None, "polling failed: HTTP 403: x"), OutcomeKind.PENDING, "403"),
    ],
)
def test_fold_statuses_for_unlink(
    kind: OutcomeKind,
    polled: tuple[LinkStatus | None, str | None],
    folded_kind: OutcomeKind,
    error_part: str | None,
) -> None:
    outcome = NumberOutcome(N1, kind, action="unlink", api_id="a1", attempts=2)
    [folded] = fold_statuses([outcome], {N1: polled}, unlinked=True)
    assert folded.kind is folded_kind
    assert folded.ok is folded_kind.ok
    assert folded.status is polled[0]
    if error_part is None:
        assert folded.error is None
    else:
        assert folded.error is not None
        assert error_part in folded.error
    assert (folded.action, folded.api_id, folded.attempts) == ("unlink", "a1", 2)


@pytest.mark.parametrize("unlinked", [False, True])
def test_fold_statuses_keeps_outcomes_not_polled_and_the_order(unlinked: bool) -> None:
    rejected = NumberOutcome(N2, OutcomeKind.REJECTED, error="HTTP 400: nope")
    outcomes = [accepted(N1), rejected, accepted(N3)]
    state = {N1: (None, None), N3: (None, None)}
    folded = fold_statuses(outcomes, state, unlinked=unlinked)
    assert [o.number for o in folded] == [N1, N2, N3]
    assert folded[1] is rejected


def test_fold_statuses_of_nothing_is_nothing() -> None:
    assert fold_statuses([], {}, unlinked=False) == []


# ---------------------------------------------------------------------------------------------
# Streaming writers


@pytest.mark.parametrize("report", [mixed_report(), report_of()], ids=["mixed", "empty"])
def test_write_json_streams_the_same_text_as_to_json(report: BulkReport) -> None:
    buffer = io.StringIO()
    report.write_json(buffer)
    assert buffer.getvalue() == report.to_json() + "\n"


def test_write_csv_streams_the_same_text_as_to_csv() -> None:
    report = mixed_report()
    buffer = io.StringIO()
    report.write_csv(buffer)
    assert buffer.getvalue() == report.to_csv()


# ---------------------------------------------------------------------------------------------
# Spreadsheet-safe CSV (issue 10): formula-like cells are neutralised, JSON stays exact


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://x")', "+1 (212) bad", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\rx"],
)
def test_to_csv_prefixes_a_quote_to_cells_a_spreadsheet_would_run(text: str) -> None:
    report = report_of(
        NumberOutcome(number=text, kind=OutcomeKind.INVALID, error=text, api_id=text)
    )
    [row] = list(csv.DictReader(io.StringIO(report.to_csv(), newline="")))
    assert row["number"] == row["error"] == row["api_id"] == "'" + text
    buffer = io.StringIO()
    report.write_csv(buffer)
    assert buffer.getvalue() == report.to_csv()
    # JSON keeps the text exactly as it was.
    assert json.loads(report.to_json())["outcomes"][0]["number"] == text


def test_to_csv_leaves_ordinary_cells_alone() -> None:
    report = report_of(NumberOutcome(number=N1, kind=OutcomeKind.ACCEPTED, api_id="abc-1"))
    [row] = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert (row["number"], row["api_id"], row["attempts"]) == (N1, "abc-1", "0")


def test_summary_uses_the_singular_for_one() -> None:
    report = attrs.evolve(
        report_of(NumberOutcome(number=N1, kind=OutcomeKind.ACCEPTED)), requests=1, duplicates=1
    )
    text = report.summary()
    assert "1 number," in text
    assert "1 request in" in text
    assert "1 duplicate entry skipped" in text
    assert "1 requests" not in text
