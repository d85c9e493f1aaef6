"""Values shared by the journal's tests."""

from __future__ import annotations

from typing import Any

from plivo_numlink._report import NumberOutcome, OutcomeKind

ACCOUNT = "MA0123456789ABCDEFGH"
CAMPAIGN = "CMPT4EP"


def number(i: int) -> str:
    """The i-th of a run of valid normalized numbers."""
    return f"1212{2000000 + i:07d}"


def outcome(i: int = 0, kind: OutcomeKind = OutcomeKind.ACCEPTED, **fields: Any) -> NumberOutcome:
    """An outcome for number(i); one attempt unless told."""
    fields.setdefault("attempts", 1)
    return NumberOutcome(number=number(i), kind=kind, **fields)
