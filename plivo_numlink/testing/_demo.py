"""Input for demos: numbers in mixed formats with planted faults (the CLI's ``demo``)."""

from __future__ import annotations

import random

import attrs

from .._numbers import normalize_number

__all__ = ["DEMO_INVALID", "DemoPlan", "demo_plan"]

#: Area codes of the demo's numbers (real ones; the demo never leaves 127.0.0.1).
_DEMO_AREA_CODES = (212, 312, 415, 512, 617, 646, 702, 718, 805, 917)
#: Entries that are not valid US numbers, planted in the demo's input.
DEMO_INVALID = ("555-0100", "+1 (123) 555-0199", "1-800-FLOWERS")


@attrs.frozen
class DemoPlan:
    """The demo's input and the failures planted in it."""

    entries: tuple[str, ...]
    #: Normalized numbers the fake server will report FAILED.
    fail_numbers: tuple[str, ...]
    invalid: tuple[str, ...]
    duplicates: int


def demo_plan(count: int, seed: int) -> DemoPlan:
    """``count`` entries in mixed formats: valid numbers, planted invalid ones, one repeat."""
    rng = random.Random(seed)
    valid: list[str] = []
    seen: set[str] = set()
    while len(valid) < count - len(DEMO_INVALID):
        a, x, n = rng.choice(_DEMO_AREA_CODES), rng.randrange(200, 1000), rng.randrange(10000)
        if f"{a}{x}{n:04d}" not in seen:
            seen.add(f"{a}{x}{n:04d}")
            styles = (f"1{a}{x}{n:04d}", f"+1 ({a}) {x}-{n:04d}", f"{a}-{x}-{n:04d}")
            valid.append(styles[rng.randrange(3)])
    fail = tuple(normalize_number(n) for n in rng.sample(valid, 3))
    entries = list(valid)
    positions = sorted(rng.sample(range(len(entries)), len(DEMO_INVALID)))
    for position, bad in zip(positions, DEMO_INVALID, strict=True):
        entries.insert(position, bad)
    # The same number written another way: sent and reported once.
    entries.insert(rng.randrange(1, len(entries)), f"+{normalize_number(valid[0])}")
    return DemoPlan(tuple(entries), fail, DEMO_INVALID, 1)
