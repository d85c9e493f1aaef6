"""Pins on input limits that a mutation run found unpinned (issue 10, item 17)."""

from __future__ import annotations

import pytest

from plivo_numlink import InvalidNumberError
from plivo_numlink._numbers import normalize_number, try_normalize_number, validate_campaign_id


def test_a_number_entry_of_exactly_64_characters_is_read() -> None:
    entry = " " * 53 + "12125557777"
    assert len(entry) == 64
    assert try_normalize_number(entry) == ("12125557777", None)
    assert normalize_number(entry) == "12125557777"


def test_a_number_entry_of_65_characters_is_too_long() -> None:
    entry = " " * 54 + "12125557777"
    assert len(entry) == 65
    number, reason = try_normalize_number(entry)
    assert number is None
    assert reason is not None
    assert "too long (65 characters)" in reason
    with pytest.raises(InvalidNumberError, match="too long"):
        normalize_number(entry)


def test_campaign_ids_are_limited_to_64_characters() -> None:
    assert validate_campaign_id("C" * 64) == "C" * 64
    with pytest.raises(ValueError, match="1 to 64"):
        validate_campaign_id("C" * 65)
