"""Pins on how bad input is shown that a mutation sample found unpinned (issue 18): an
entry's text is shortened to its first 40 characters in messages and report keys."""

from __future__ import annotations

from pathlib import Path

from plivo_numlink import NumberInput
from plivo_numlink._numbers import try_normalize_number


def test_a_bad_number_of_41_characters_is_named_by_its_first_40() -> None:
    reason = try_normalize_number("x" * 41)[1]
    assert reason == f"number {'x' * 40 + '...'!r} contains characters other than digits"


def test_a_bad_number_of_40_characters_is_named_whole() -> None:
    reason = try_normalize_number("x" * 40)[1]
    assert reason == f"number {'x' * 40!r} contains characters other than digits"


def test_a_line_without_the_number_column_is_keyed_by_its_first_40_characters(
    tmp_path: Path,
) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("name,phone\n" + "a" * 41 + "\n" + "b" * 40 + "\n")
    with NumberInput(file=path, column="phone") as source:
        entries = list(source)
    assert entries == ["line 2: " + "a" * 40 + "...", "line 3: " + "b" * 40]
