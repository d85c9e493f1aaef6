"""Pins on reports that a mutation sample found unpinned (issue 18): the CSV row holding a
carriage return, written with every field quoted, and ``resumed`` defaulting to 0."""

from __future__ import annotations

import csv
import io

from plivo_numlink import BulkReport, NumberOutcome, OutcomeKind

PLAIN = NumberOutcome(number="12125557778", kind=OutcomeKind.ACCEPTED, attempts=1)
WITH_CR = NumberOutcome(
    number="12125557777",
    kind=OutcomeKind.REJECTED,
    error="first line\rsecond line",
    status_code=400,
    attempts=1,
)


def test_a_row_holding_a_carriage_return_has_every_field_quoted() -> None:
    lines = BulkReport(outcomes=(PLAIN, WITH_CR)).to_csv().split("\n")
    # The other rows keep the minimal quoting.
    assert lines[1] == "12125557778,accepted,link,,,,1,,True,,,"
    assert lines[2] == (
        '"12125557777","rejected","link","first line\rsecond line","400","","1","","False","","",""'
    )


def test_a_carriage_return_in_a_cell_reads_back_as_one_row() -> None:
    text = BulkReport(outcomes=(WITH_CR, PLAIN)).to_csv()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["number"] for row in rows] == ["12125557777", "12125557778"]
    assert rows[0]["error"] == "first line\rsecond line"


def test_a_report_made_without_a_journal_says_nothing_was_resumed() -> None:
    report = BulkReport(outcomes=(PLAIN,))
    assert report.resumed == 0
    assert report.to_dict()["resumed"] == 0
    assert "journal" not in report.summary()


def test_a_report_made_without_repeats_counts_no_duplicates() -> None:
    report = BulkReport(outcomes=(PLAIN,))
    assert report.duplicates == 0
    assert report.to_dict()["duplicates"] == 0
    assert "duplicate" not in report.summary()


def test_a_nul_in_a_csv_cell_becomes_the_replacement_character() -> None:
    outcome = NumberOutcome(
        number="12125557777", kind=OutcomeKind.REJECTED, error="bad\0byte", attempts=1
    )
    rows = list(csv.DictReader(io.StringIO(BulkReport(outcomes=(outcome,)).to_csv())))
    assert rows[0]["error"] == "bad\ufffdbyte"


def test_the_summary_lists_the_counts_by_kind_joined_by_commas() -> None:
    report = BulkReport(outcomes=(PLAIN, WITH_CR), campaign_id="CUOGHIN", requests=2, elapsed=1.5)
    assert report.summary() == (
        "link CUOGHIN: 2 numbers, 1 ok, 1 not ok (1 accepted, 1 rejected); 2 requests in 1.50 s"
    )
