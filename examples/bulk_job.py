"""Link thousands of numbers from a CSV file, with progress, a wait for completion and a report.

What it shows: ``link_many`` reading a large input lazily (a generator over the CSV rows),
progress from ``on_outcome``, ``wait=True`` polling until Plivo has processed every number,
and the ``BulkReport``: written as CSV or JSON, summarised, and turned into the exit code
(0 when every number is linked, 1 otherwise).

Run it (without PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, or with ``--fake``, it runs against the
embedded fake Plivo; given no CSV file there, it links generated numbers)::

    python examples/bulk_job.py --fake --count 3000
    python examples/bulk_job.py --fake CUOGHIN examples/numbers.csv --report report.json
    PLIVO_AUTH_ID=... PLIVO_AUTH_TOKEN=... python examples/bulk_job.py CAMPAIGN numbers.csv \\
        --column phone_number --report report.csv
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import plivo_numlink as pn
from plivo_numlink.testing import FakePlivo


def read_numbers(path: Path, column: str) -> Iterator[str]:
    """The column's values, one row at a time: the file is never held in memory whole."""
    with path.open(newline="", encoding="utf-8-sig") as file:
        for row in csv.DictReader(file):
            yield row.get(column) or ""  # a blank cell is reported as invalid, not skipped


def count_rows(path: Path, column: str) -> int:
    """Rows in the file (for the progress line); raises ValueError if the column is missing."""
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        if column not in (reader.fieldnames or []):
            columns = ", ".join(reader.fieldnames or []) or "none"
            raise ValueError(f"{path} has no column {column!r} (columns: {columns})")
        return sum(1 for _ in reader)


def generate_numbers(count: int) -> Iterator[str]:
    """Distinct valid US numbers, written the way people write them."""
    for index in range(count):
        yield f"+1 (212) {555 + index // 10_000}-{index % 10_000:04d}"


class Progress:
    """An ``on_outcome`` callback printing "1200 of 3000 rows sent, 4 not ok" on stderr.

    With ``wait=True`` a number is told again when the wait settles it: those calls count
    the numbers Plivo has finished with.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.not_ok = 0
        self.sent: set[str] = set()
        self.processed = 0
        self.tty = sys.stderr.isatty()
        self.last = time.monotonic()

    def __call__(self, outcome: pn.NumberOutcome) -> None:
        if outcome.number in self.sent:
            self.processed += 1
            if time.monotonic() - self.last >= 1.0:
                self.last = time.monotonic()
                print(f"{self.processed} processed by Plivo", file=sys.stderr, flush=True)
            return
        self.sent.add(outcome.number)
        self.done += 1
        self.not_ok += not outcome.ok
        now = time.monotonic()
        # A live line on a terminal; a line a second in a log.
        if now - self.last >= (0.1 if self.tty else 1.0) or self.done == self.total:
            self.last = now
            line = f"{self.done} of {self.total} rows sent, {self.not_ok} not ok"
            print(line, end="\r" if self.tty else "\n", file=sys.stderr, flush=True)
        if self.done == self.total:  # link_many(wait=True) now polls until Plivo is done
            text = "all sent; waiting for Plivo to process them"
            print("\n" + text if self.tty else text, file=sys.stderr, flush=True)


WHY_FAKE = "for the real API: set PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, no --fake"


def use_fake(force: bool) -> bool:
    if force or os.environ.get("PLIVO_NUMLINK_USE_FAKE") == "1":
        return True
    return not (os.environ.get("PLIVO_AUTH_ID") and os.environ.get("PLIVO_AUTH_TOKEN"))


async def link_all(
    args: argparse.Namespace, numbers: Iterable[str], total: int, fake: bool
) -> pn.BulkReport:
    async with contextlib.AsyncExitStack() as stack:
        if fake:
            # A little latency and 2% of 503s, which the session retries on its own.
            server = FakePlivo(
                campaigns=[args.campaign], latency=(0, 0.005), error_rates={503: 0.02}
            )
            await stack.enter_async_context(server)
            print(f"using the embedded fake Plivo at {server.base_url} ({WHY_FAKE})")
            session = pn.NumLinkSession(server.auth_id, server.auth_token, base_url=server.base_url)
        else:
            session = pn.NumLinkSession()  # credentials from PLIVO_AUTH_ID / PLIVO_AUTH_TOKEN
        await stack.enter_async_context(session)
        poll_interval = args.poll_interval or (0.2 if fake else 5.0)
        print(f"linking {total} rows to {args.campaign}, then waiting until Plivo is done")
        return await session.link_many(
            args.campaign,
            numbers,
            batch_size=args.batch_size,
            wait=True,
            timeout=args.wait_timeout,
            poll_interval=poll_interval,
            on_outcome=Progress(total),
        )


def main() -> int:
    parser = argparse.ArgumentParser(description="Link the numbers of a CSV file to a campaign.")
    parser.add_argument("campaign", nargs="?", default="CUOGHIN", help="campaign id")
    parser.add_argument("csv", nargs="?", type=Path, help="CSV file with a header row")
    parser.add_argument("--column", default="phone_number", help="the column holding numbers")
    parser.add_argument("--report", type=Path, help="write the report here (.csv or .json)")
    parser.add_argument("--fake", action="store_true", help="use the embedded fake Plivo")
    parser.add_argument("--count", type=int, default=2000, help="numbers to generate (fake)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--wait-timeout", type=float, default=300.0)
    parser.add_argument("--poll-interval", type=float, help="seconds (default 5; fake 0.2)")
    args = parser.parse_args()

    fake = use_fake(args.fake)
    if args.report is not None and args.report.suffix.lower() not in (".csv", ".json"):
        parser.error("--report must end in .csv or .json")
    if args.csv is not None:
        try:
            total = count_rows(args.csv, args.column)
        except (OSError, ValueError) as exc:
            parser.error(str(exc))
        numbers: Iterable[str] = read_numbers(args.csv, args.column)
    elif fake:
        total, numbers = args.count, generate_numbers(args.count)
    else:
        parser.error("give a CSV file (numbers are generated only against the fake)")

    try:
        report = asyncio.run(link_all(args, numbers, total, fake))
    except ValueError as exc:  # a malformed campaign id, missing credentials
        parser.error(str(exc))

    if args.report is not None:
        as_json = args.report.suffix.lower() == ".json"
        args.report.write_text(report.to_json() if as_json else report.to_csv(), encoding="utf-8")
        print(f"report written to {args.report}")
    for outcome in report.failed[:10]:
        print(f"  {outcome.number}: {outcome.kind} {outcome.error or ''}")
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
