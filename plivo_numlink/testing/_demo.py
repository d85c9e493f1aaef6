"""Input for demos: numbers in mixed formats with planted faults (the CLI's ``demo``)."""

from __future__ import annotations

import random
import sys
from collections.abc import Collection, Mapping
from typing import Any

import attrs

from .._numbers import normalize_number

__all__ = ["DEMO_CAMPAIGN", "DEMO_FAKE", "DEMO_INVALID", "DemoPlan", "demo_plan"]

DEMO_CAMPAIGN = "CUOGHIN"
#: The demo's server: a little misbehaving; processing takes half a second, so one pass over
#: the campaign usually confirms every number (paging through 3,000 takes a few seconds).
DEMO_FAKE: dict[str, Any] = {
    "campaigns": (DEMO_CAMPAIGN,),
    "error_rates": {503: 0.02},
    "drop_rate": 0.005,
    "latency": (0.005, 0.03),
    "complete_after": 0.5,
    "complete_after_polls": 0,
}

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

    def intro(self, base_url: str) -> str:
        """What the demo is about to do (rich markup)."""
        return (
            f"[bold]plivo-numlink demo[/]: a fake Plivo API runs at {base_url} (in this "
            "process). It misbehaves a little: 2% of requests get HTTP 503, 0.5% of "
            f"connections drop. {len(self.entries):,} entries to link in mixed formats, "
            f"{len(self.invalid) + self.duplicates + len(self.fail_numbers)} of them planted "
            "faults: invalid entries, a repeat, and numbers the server will fail."
        )

    def explain(
        self, not_ok: Collection[str], stopped: str | None, statuses: Mapping[int | None, int]
    ) -> tuple[str | None, list[str]]:
        """How the run ended against the plan: ``(error or None, lines of rich markup)``."""
        planted, failed = set(self.invalid) | set(self.fail_numbers), set(not_ok)
        lines = [""]
        if failed == planted and stopped is None:
            error = None
            lines.append(
                f"[green]As planned[/]: the {len(not_ok)} numbers not ok are the "
                f"{len(self.invalid)} invalid entries (never sent) and the "
                f"{len(self.fail_numbers)} numbers the fake server was told to fail. "
                "Every other number is linked and confirmed COMPLETED."
            )
        else:
            unexpected, missing = (
                sorted(set(not_ok) - planted)[:5],
                sorted(planted - set(not_ok))[:5],
            )
            why = f", stopped: {stopped}" if stopped else ""
            error = f"unexpected failures {unexpected}, planted failures not seen {missing}{why}"
        faults = sum(count for status, count in statuses.items() if status and status >= 500)
        drops, answers = statuses.get(None, 0), "answer" if faults == 1 else "answers"
        connections = "connection" if drops == 1 else "connections"
        lines.append(
            f"Retried: {faults:,} 5xx {answers} and {drops:,} {connections} the server dropped."
        )
        # Where the command is installed: a new shell has no activated venv.
        command = f"{sys.exec_prefix}/bin/plivo-numlink fake-server"
        lines.append(f"Next: `{command}` runs the fake for your own commands.")
        return error, lines


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
