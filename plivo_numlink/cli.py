"""The ``plivo-numlink`` command line (also ``python -m plivo_numlink``).

Subcommands: ``link``, ``unlink``, ``sync``, ``wait``, ``list``, ``status``, ``fake-server``
and ``demo``. Exit codes: 0 all ok, 1 some numbers not ok, 2 usage or configuration error,
130 interrupted.

How it behaves, and why:

- stdout carries results only (the summary table, or the report as JSON with ``--json``);
  progress, notes and errors go to stderr, so ``plivo-numlink link ... --json > out.json``
  gives clean JSON while the progress bar still shows.
- Input files are read as bytes, one line at a time with a length cap, and decoded line by
  line. A line that is not UTF-8, is absurdly long or is a CSV row without the number column
  becomes an *invalid number* in the report (its ``error`` says which line and why) instead
  of aborting a long job half-way: a million-line file with one bad line still links the
  rest. Lines are handed to the library lazily, so memory stays bounded by the report.
- Ctrl-C cancels the job (SIGINT is routed to a task cancellation, so requests in flight are
  abandoned cleanly and the HTTP session is closed); the report is still written, with the
  numbers never sent marked ``not_attempted`` (the rest of the input is read to account for
  them), and the exit code is 130.
- The auth token is never printed: not in errors, not in ``--dry-run`` output, not in
  reports. Prefer the ``PLIVO_AUTH_TOKEN`` environment variable; ``--auth-token -`` prompts
  for it without echo.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import json
import math
import os
import random
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, BinaryIO, NoReturn, TypeVar

import attrs
import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from . import _bulk
from . import _protocol as _sansio
from ._bulk import BulkRun, is_campaign_missing
from ._errors import (
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    PlivoError,
)
from ._models import CampaignNumbers, LinkStatus, NumberStatus
from ._numbers import (
    normalize_number,
    try_normalize_number,
    validate_callback,
    validate_campaign_id,
)
from ._report import BulkReport, NumberOutcome, OutcomeKind
from ._session import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RATE_LIMIT,
    ConfigurationError,
    NumLinkSession,
)
from ._version import __version__

__all__ = ["EXIT_INTERRUPTED", "EXIT_NOT_OK", "EXIT_OK", "EXIT_USAGE", "cli", "main"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_NOT_OK = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Longest input line read as a candidate number; longer lines are skipped over in chunks
#: (never held in memory whole) and reported as invalid.
MAX_LINE_BYTES = 1024
#: Header names (lower case, letters and digits only) taken as the number column.
NUMBER_COLUMN_NAMES = (
    "number",
    "phonenumber",
    "phone",
    "msisdn",
    "mobile",
    "mobilenumber",
    "telephone",
    "tel",
    "e164",
    "did",
    "tn",
)
#: Plain progress lines (when stderr is not a terminal): at most this many seconds apart...
PROGRESS_LINE_SECONDS = 5.0
#: ...and at every tenth of the job when its size is known.
PROGRESS_LINE_STEPS = 10
#: Failures listed under the summary table.
SHOWN_FAILURES = 10
INTERRUPTED_REASON = "interrupted by the user (Ctrl-C)"

_PROGRESS_MODES = ("auto", "bar", "lines", "none")

KIND_MEANINGS = {
    OutcomeKind.ACCEPTED: "accepted by Plivo; processing goes on at Plivo",
    OutcomeKind.ALREADY: "already in the desired state; nothing to do",
    OutcomeKind.COMPLETED: "done, and confirmed by Plivo",
    OutcomeKind.REMOTE_FAILED: "Plivo processed the request and reports FAILED",
    OutcomeKind.PENDING: "still processing when the wait ended",
    OutcomeKind.REJECTED: "refused by Plivo (4xx)",
    OutcomeKind.ERROR: "no usable answer after retries",
    OutcomeKind.INVALID: "not a valid US number; never sent",
    OutcomeKind.NOT_ATTEMPTED: "never sent: the job stopped first",
}


# -------------------------------------------------------------------------------------------
# Errors


class CliError(click.ClickException):
    """An error the user can fix: printed as one ``error: ...`` line, no traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class CliFailure(CliError):
    """A request that failed for reasons other than the configuration (exit 1)."""

    exit_code = EXIT_NOT_OK


_CREDENTIALS_HINT = "check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN"
_CAMPAIGN_HINT = "check the campaign id"


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the library's configuration and API errors into one-line CLI errors."""
    try:
        yield
    except (AuthenticationError, ForbiddenError) as exc:
        raise CliError(f"{exc}; {_CREDENTIALS_HINT}") from None
    except NotFoundError as exc:
        if is_campaign_missing(exc):
            raise CliError(f"{exc}; {_CAMPAIGN_HINT}") from None
        raise CliFailure(str(exc)) from None
    except ConfigurationError as exc:
        raise CliError(str(exc)) from None
    except PlivoError as exc:
        raise CliFailure(str(exc)) from None


def _validated_campaign(campaign_id: str) -> str:
    try:
        return validate_campaign_id(campaign_id)
    except ValueError as exc:
        raise CliError(str(exc)) from None


# -------------------------------------------------------------------------------------------
# Option types


if TYPE_CHECKING:
    _ParamType = click.ParamType[Any]
else:  # click < 8.2 has no type parameter
    _ParamType = click.ParamType


class RateLimitType(_ParamType):
    """Requests per second; ``0`` or ``none`` turns pacing off."""

    name = "N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, float):
            return value
        text = str(value).strip().lower()
        if text in ("none", "off", "no"):
            return None
        try:
            rate = float(text)
        except ValueError:
            self.fail(f"{value!r} is not a number of requests per second (or 'none')", param, ctx)
        if not math.isfinite(rate) or rate < 0:
            self.fail(f"{value!r} must be >= 0 (0 or 'none' turns pacing off)", param, ctx)
        return rate or None


class LatencyType(_ParamType):
    """Seconds, or ``LOW,HIGH`` for a uniform range."""

    name = "S|LOW,HIGH"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float | tuple):
            return value
        parts = str(value).split(",")
        try:
            numbers = [float(part) for part in parts]
        except ValueError:
            self.fail(f"{value!r} is not seconds or LOW,HIGH", param, ctx)
        if len(numbers) > 2 or any(not math.isfinite(n) or n < 0 for n in numbers):
            self.fail(f"{value!r} is not seconds >= 0 or LOW,HIGH", param, ctx)
        if len(numbers) == 1:
            return numbers[0]
        if numbers[0] > numbers[1]:
            self.fail(f"{value!r}: LOW must not be above HIGH", param, ctx)
        return (numbers[0], numbers[1])


class ErrorRateType(_ParamType):
    """``STATUS=PROBABILITY``, e.g. ``503=0.05``."""

    name = "STATUS=P"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        status_text, sep, rate_text = str(value).partition("=")
        try:
            status = int(status_text)
            rate = float(rate_text)
        except ValueError:
            status, rate = 0, -1.0
        if not sep or not 400 <= status <= 599 or not 0 <= rate <= 1:
            self.fail(
                f"{value!r} is not STATUS=P (an HTTP status 400-599 and a probability 0-1)",
                param,
                ctx,
            )
        return (status, rate)


def _check_report_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    extension = os.path.splitext(value)[1].lower()
    if extension not in (".json", ".csv"):
        raise click.BadParameter(
            f"{value!r} must end in .json or .csv (the format follows the extension)"
        )
    directory = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(directory):
        raise click.BadParameter(f"the directory {directory!r} does not exist")
    return value


def _read_token(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value == "-":
        return click.prompt("Plivo auth token", hide_input=True, err=True)
    return value


# -------------------------------------------------------------------------------------------
# Input: numbers from arguments, a file or stdin


@attrs.frozen
class _RawLine:
    lineno: int
    #: The line's bytes (at most MAX_LINE_BYTES + 1 of them).
    data: bytes
    #: The line's full length in bytes; larger than len(data) when the line was too long.
    size: int

    @property
    def truncated(self) -> bool:
        return self.size > len(self.data)


def _read_lines(stream: BinaryIO) -> Iterator[_RawLine]:
    """Lines of ``stream``, never holding more than MAX_LINE_BYTES of one line in memory."""
    lineno = 0
    while True:
        data = stream.readline(MAX_LINE_BYTES + 1)
        if not data:
            return
        lineno += 1
        size = len(data)
        if size > MAX_LINE_BYTES and not data.endswith(b"\n"):
            chunk = data
            while not chunk.endswith(b"\n"):
                chunk = stream.readline(64 * 1024)
                if not chunk:
                    break
                size += len(chunk)
            data = data[:MAX_LINE_BYTES]
        yield _RawLine(lineno, data, size)


def _printable(text: str, limit: int = 40) -> str:
    # Undecodable bytes (kept as surrogates) are shown as \xNN escapes.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else text[:limit] + "..."


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _is_header(cells: list[str]) -> bool:
    """Whether a first row names columns: text, no cell with as many digits as a number.

    A mistyped number ("12125557x77"), a line that is not UTF-8 or one of binary junk must
    not be taken for a header: it would be dropped without a word, where any other line
    like it is reported as an invalid number.
    """
    for cell in cells:
        if sum(ch.isdigit() for ch in cell) >= 7:
            return False
        if _has_surrogates(cell) or any(ord(ch) < 32 and ch != "\t" for ch in cell):
            return False
    return True


def _column_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.strip().lower())


class NumberInput:
    """The numbers of one command: from arguments, a file (``-f PATH``) or stdin (``-f -``).

    A file holds one number per line, or CSV rows (one per line) whose number column is
    ``--column NAME`` (or 1-based index), else a column named like number/phone/msisdn, else
    the first. The first row is a header when it is plain text with no cell holding 7 or more
    digits (see :func:`_is_header`).
    Blank lines and lines starting with ``#`` are skipped. Lines that cannot be a number
    (not UTF-8, longer than MAX_LINE_BYTES, no such column) become entries named
    ``line N: ...``, which the library reports as invalid; :meth:`annotate` then puts the
    real reason in their ``error``.
    """

    def __init__(
        self, numbers: Sequence[str] = (), path: str | None = None, column: str | None = None
    ) -> None:
        self._numbers = list(numbers)
        self.path = path
        self.column = column
        #: Entry key -> the reason it is invalid, for lines that cannot be a number.
        self.notes: dict[str, str] = {}
        self.header: list[str] | None = None
        self._index = 0
        self._stream: BinaryIO | None = None
        self._owns_stream = False
        self._lines: Iterator[_RawLine] = iter(())
        self._first: list[str] = []
        self._iterator: Iterator[str] | None = None

    @property
    def label(self) -> str:
        if self.path is None:
            return "the arguments"
        return "stdin" if self.path == "-" else self.path

    @property
    def interactive(self) -> bool:
        """Reading from a terminal (the rest cannot be read after an interrupt)."""
        stream = self._stream
        return self.path == "-" and stream is not None and stream.isatty()

    @property
    def column_label(self) -> str:
        if self.header is not None:
            return repr(self.header[self._index])
        return f"#{self._index + 1}"

    def prepare(self) -> None:
        """Open the file and read up to the first row (to find the header); fails early."""
        if self.path is None:
            if self.column is not None:
                raise CliError("--column applies to numbers read with -f only")
            return
        if self.path == "-":
            self._stream = sys.stdin.buffer
        else:
            try:
                self._stream = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise CliError(f"cannot read {self.path}: {exc.strerror or exc}") from None
            self._owns_stream = True
        self._lines = _read_lines(self._stream)
        try:
            for line in self._lines:
                parts = self._split(line)
                if parts is None:
                    continue
                self._choose_column(parts if isinstance(parts, list) else None)
                if isinstance(parts, str):
                    self._first.append(parts)
                elif self.header is None:
                    self._first.append(self._cell(line, parts))
                break
            else:
                self._choose_column(None)
        except OSError as exc:
            raise CliError(f"cannot read {self.label}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._owns_stream and self._stream is not None:
            self._stream.close()

    def __iter__(self) -> Iterator[str]:
        """The entries, read lazily; one iterator shared by every caller."""
        if self._iterator is None:
            self._iterator = self._entries()
        return self._iterator

    def _entries(self) -> Iterator[str]:
        if self.path is None:
            yield from self._numbers
            return
        yield from self._first
        for line in self._lines:
            parts = self._split(line)
            if parts is None:
                continue
            yield parts if isinstance(parts, str) else self._cell(line, parts)

    def estimate_total(self) -> int | None:
        """About how many entries there are (for a progress bar), or None if unknown."""
        if self.path is None:
            return len(self._numbers)
        if self.path == "-" or not os.path.isfile(self.path):
            return None
        lines = 0
        last = b"\n"
        try:
            with open(self.path, "rb") as file:
                while chunk := file.read(1 << 20):
                    lines += chunk.count(b"\n")
                    last = chunk[-1:]
        except OSError:
            return None
        if last != b"\n":
            lines += 1
        return max(0, lines - (1 if self.header is not None else 0))

    def annotate(self, report: BulkReport) -> BulkReport:
        """Put the real reason on the invalid entries that stand for unreadable lines."""
        if not self.notes:
            return report
        outcomes = tuple(
            attrs.evolve(outcome, error=self.notes[outcome.number])
            if outcome.kind is OutcomeKind.INVALID and outcome.number in self.notes
            else outcome
            for outcome in report.outcomes
        )
        return attrs.evolve(report, outcomes=outcomes)

    # -- parsing ------------------------------------------------------------------------------

    def _bad(self, lineno: int, text: str, reason: str) -> str:
        key = f"line {lineno}: {_printable(text.strip())}"
        self.notes[key] = reason
        return key

    def _split(self, line: _RawLine) -> list[str] | str | None:
        """None for a skipped line, a ``line N: ...`` key for a bad one, else the cells."""
        data = line.data
        if line.lineno == 1 and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        text = data.decode("utf-8", "surrogateescape").rstrip("\r\n")
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            return None
        if line.truncated:
            return self._bad(
                line.lineno,
                stripped,
                f"line {line.lineno} is {line.size:,} bytes long: not a phone number",
            )
        if "," not in text and '"' not in text:
            return [text]
        try:
            return next(csv.reader([text]))
        except (csv.Error, StopIteration) as exc:
            return self._bad(
                line.lineno, stripped, f"line {line.lineno} is not a well-formed CSV row: {exc}"
            )

    def _cell(self, line: _RawLine, cells: list[str]) -> str:
        if self._index >= len(cells):
            text = ",".join(cells)
            return self._bad(
                line.lineno, text, f"line {line.lineno} has no column {self.column_label}"
            )
        cell = cells[self._index]
        if _has_surrogates(cell):
            return self._bad(
                line.lineno,
                cell,
                f"line {line.lineno} is not valid UTF-8 (the input must be UTF-8 text)",
            )
        if not cell.strip():
            return self._bad(
                line.lineno,
                ",".join(cells),
                f"line {line.lineno}: the number cell (column {self.column_label}) is empty",
            )
        return cell

    def _choose_column(self, first_row: list[str] | None) -> None:
        column = self.column
        if first_row is not None and _is_header(first_row):
            self.header = [cell.strip() for cell in first_row]
            keys = [_column_key(cell) for cell in first_row]
            if column is not None:
                if column.strip() in self.header:
                    self._index = self.header.index(column.strip())
                elif _column_key(column) in keys:
                    self._index = keys.index(_column_key(column))
                elif column.isdigit() and 1 <= int(column) <= len(self.header):
                    self._index = int(column) - 1
                else:
                    raise CliError(
                        f"no column {column!r} in the header of {self.label} "
                        f"(columns: {', '.join(self.header)})"
                    )
            else:
                self._index = next(
                    (keys.index(name) for name in NUMBER_COLUMN_NAMES if name in keys), 0
                )
            return
        if column is None:
            return
        if column.isdigit() and int(column) >= 1:
            self._index = int(column) - 1
            return
        raise CliError(
            f"--column {column!r} needs a header row, but the first row of {self.label} "
            "looks like data (give a 1-based column number instead)"
        )


def _account_for_rest(report: BulkReport, entries: Iterator[str], reason: str) -> BulkReport:
    """Append outcomes for the input a stopped job never read: invalid or not attempted."""
    seen = {outcome.number for outcome in report.outcomes}
    extra: list[NumberOutcome] = []
    duplicates = 0
    for raw in entries:
        number, why = try_normalize_number(raw)
        key = number if number is not None else raw
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        if number is None:
            extra.append(
                NumberOutcome(number=key, kind=OutcomeKind.INVALID, action=report.action, error=why)
            )
        else:
            extra.append(
                NumberOutcome(
                    number=number,
                    kind=OutcomeKind.NOT_ATTEMPTED,
                    action=report.action,
                    error=reason,
                )
            )
    if not extra and not duplicates:
        return report
    return attrs.evolve(
        report,
        outcomes=report.outcomes + tuple(extra),
        duplicates=report.duplicates + duplicates,
    )


# -------------------------------------------------------------------------------------------
# Feedback on stderr: progress bar, plain progress lines, notes


def _stderr_console(force_terminal: bool | None = None) -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, force_terminal=force_terminal)


def _stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


class Feedback:
    """What a command tells the user on stderr while it works.

    ``mode``: ``bar`` (a live rich progress bar), ``lines`` (a plain line every few seconds
    and every tenth of the job, for logs), ``none``; ``auto`` picks ``bar`` when stderr is a
    terminal, else ``lines``.
    """

    def __init__(self, mode: str = "auto", *, quiet: bool = False) -> None:
        if quiet:
            mode = "none"
        self.console = _stderr_console(force_terminal=True if mode == "bar" else None)
        if mode == "auto":
            mode = "bar" if self.console.is_terminal else "lines"
        self.mode = mode
        self.done = 0
        self.ok = 0
        self._label = ""
        self._total: int | None = None
        self._started = time.monotonic()
        self._last_push = 0.0
        self._last_line = 0.0
        self._next_step = 1
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._phase: Progress | None = None

    @property
    def quiet(self) -> bool:
        return self.mode == "none"

    def note(self, text: str, *, markup: bool = False) -> None:
        """A line of information on stderr, unless quiet."""
        if self.quiet:
            return
        console = self._progress.console if self._progress is not None else self.console
        console.print(text, markup=markup, emoji=False)

    # -- a bulk job with per-number outcomes --------------------------------------------------

    def start_job(self, label: str, total: int | None) -> None:
        self._label = label
        self._total = total
        self.done = self.ok = 0
        self._started = self._last_line = time.monotonic()
        self._next_step = 1
        if self.mode != "bar":
            return
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[ok]:,} ok[/] [red]{task.fields[bad]:,} not ok[/]"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._task = self._progress.add_task(label, total=total, ok=0, bad=0, rate="")
        self._progress.start()

    def advance(self, outcome: NumberOutcome) -> None:
        """Count one outcome (the bulk job's ``on_outcome`` hook)."""
        self.done += 1
        if outcome.ok:
            self.ok += 1
        if self.mode == "none":
            return
        now = time.monotonic()
        if self.mode == "bar":
            if now - self._last_push >= 0.1:
                self._push(now)
            return
        total = self._total
        # Steps only once the job has run a while: a quick job needs no progress lines.
        step_due = (
            bool(total)
            and now - self._started >= 1.0
            and self.done * PROGRESS_LINE_STEPS >= self._next_step * (total or 1)
        )
        if step_due or now - self._last_line >= PROGRESS_LINE_SECONDS:
            self._line(now)
            if total:
                self._next_step = self.done * PROGRESS_LINE_STEPS // total + 1

    def finish_job(self) -> None:
        if self._progress is not None and self._task is not None:
            self._push(time.monotonic(), final=True)
            self._progress.stop()
            self._progress = None
            self._task = None

    def _rate(self, now: float) -> str:
        elapsed = now - self._started
        return f"{self.done / elapsed:,.0f}/s" if elapsed > 0.05 else ""

    def _push(self, now: float, *, final: bool = False) -> None:
        self._last_push = now
        assert self._progress is not None
        assert self._task is not None
        total = self.done if final else self._total
        if total is not None and total < self.done:
            total = self.done
        self._progress.update(
            self._task,
            completed=self.done,
            total=total,
            ok=self.ok,
            bad=self.done - self.ok,
            rate=self._rate(now),
        )

    def _line(self, now: float) -> None:
        self._last_line = now
        if self._total:
            share = min(100, self.done * 100 // self._total)
            where = f"{self.done:,} of ~{self._total:,} numbers ({share}%)"
        else:
            where = f"{self.done:,} numbers"
        self.console.print(
            f"{self._label}: {where}, {self.ok:,} ok, {self.done - self.ok:,} not ok, "
            f"{self._rate(now) or '-'}"
        )

    # -- a phase without per-number progress (waiting, sync) ----------------------------------

    def start_phase(self, text: str) -> None:
        if self.mode == "bar":
            self._phase = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._phase.add_task(text, total=None)
            self._phase.start()
        elif self.mode == "lines":
            self.console.print(f"{text}...", markup=False)

    def finish_phase(self) -> None:
        if self._phase is not None:
            self._phase.stop()
            self._phase = None

    def close(self) -> None:
        self.finish_job()
        self.finish_phase()


# -------------------------------------------------------------------------------------------
# Results on stdout


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def render_summary(report: BulkReport, console: Console, *, title: str | None = None) -> None:
    """The counts by outcome kind, then the first failures with their errors."""
    total = len(report.outcomes)
    counts = Counter(outcome.kind for outcome in report.outcomes)
    console.print(
        Text(title or f"{report.action} {report.campaign_id}: {_plural(total, 'number')}", "bold")
    )
    table = Table()
    table.add_column("outcome")
    table.add_column("count", justify="right")
    table.add_column("meaning")
    for kind in OutcomeKind:
        if counts[kind]:
            mark = "[green]ok[/]" if kind.ok else "[red]not ok[/]"
            table.add_row(f"{kind.value} ({mark})", f"{counts[kind]:,}", KIND_MEANINGS[kind])
    if not total:
        table.add_row("-", "0", "no numbers in the input")
    console.print(table)
    failed = report.failed
    if failed:
        shown = failed[:SHOWN_FAILURES]
        more = f" (first {len(shown)} of {len(failed):,})" if len(failed) > len(shown) else ""
        console.print(Text(f"not ok{more}", "bold"))
        failures = Table()
        failures.add_column("number")
        failures.add_column("outcome")
        failures.add_column("error")
        for outcome in shown:
            failures.add_row(Text(outcome.number), outcome.kind.value, Text(outcome.error or ""))
        console.print(failures)
    ok = total - len(failed)
    parts = [
        f"{ok:,} ok, {len(failed):,} not ok",
        f"{_plural(report.requests, 'request')} in {report.elapsed:.1f} s",
    ]
    if report.duplicates:
        parts.append(
            f"{_plural(report.duplicates, 'repeated entry')} skipped".replace("ys ", "ies ")
        )
    console.print("; ".join(parts))
    if report.stopped_reason:
        console.print(Text.assemble(("stopped: ", "red"), report.stopped_reason))


def write_json(report: BulkReport, file: IO[str]) -> None:
    report.write_json(file)


def write_csv(report: BulkReport, file: IO[str]) -> None:
    report.write_csv(file)


def write_report(report: BulkReport, path: str) -> None:
    """Write ``report`` as JSON or CSV (by extension); ``path`` is replaced only when done."""
    write = write_csv if path.lower().endswith(".csv") else write_json
    _write_file(path, lambda file: write(report, file))


def _write_file(path: str, write: Callable[[IO[str]], None]) -> None:
    """Write ``path`` through ``write``; a half-written file never replaces the old one."""
    partial = f"{path}.partial"
    try:
        with open(partial, "w", encoding="utf-8", newline="") as file:
            write(file)
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise CliError(f"cannot write the report to {path}: {exc.strerror or exc}") from None


def _finish(
    report: BulkReport,
    *,
    feedback: Feedback,
    as_json: bool,
    report_path: str | None,
    interrupted: bool,
    title: str | None = None,
) -> NoReturn:
    """Print and write the report, then exit with the code it calls for."""
    if report_path is not None:
        write_report(report, report_path)
        feedback.note(f"report written to {report_path} ({_plural(len(report), 'number')})")
    if as_json:
        write_json(report, sys.stdout)
        feedback.note(report.summary())
    else:
        render_summary(report, _stdout_console(), title=title)
        if report.failed and report_path is None and not interrupted:
            feedback.note("every number's outcome: add --report out.csv (or .json)")
    if interrupted:
        click.echo("interrupted: the numbers never sent are reported as not_attempted", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    stopped = report.stopped_reason
    if stopped is not None:
        # 401/403 and an unknown campaign stop a job at once: configuration errors (exit 2).
        codes = {o.status_code for o in report.outcomes if o.status_code in (401, 403, 404)}
        hint = ""
        if codes & {401, 403}:
            hint = _CREDENTIALS_HINT
        elif 404 in codes and "campaign" in stopped.lower():
            hint = _CAMPAIGN_HINT
        click.echo(f"error: the job stopped: {stopped}" + (f"; {hint}" if hint else ""), err=True)
        raise SystemExit(EXIT_USAGE if hint else EXIT_NOT_OK)
    raise SystemExit(EXIT_OK if report.ok else EXIT_NOT_OK)


# -------------------------------------------------------------------------------------------
# Running async work that Ctrl-C can interrupt


def _install_sigint(callback: Callable[[], None]) -> Callable[[], None]:
    """Route SIGINT to ``callback`` in the running loop; return the undo function.

    Where that is not possible (not the main thread, Windows), Ctrl-C raises
    KeyboardInterrupt as usual, and the caller's ``except KeyboardInterrupt`` handles it.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, callback)
    except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - Windows
        return lambda: None

    def restore() -> None:
        loop.remove_signal_handler(signal.SIGINT)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    return restore


async def _catch_interrupt(work: Awaitable[T]) -> tuple[bool, T | None]:
    try:
        return False, await work
    except KeyboardInterrupt:
        return True, None


async def interruptible(work: Awaitable[T]) -> tuple[bool, T | None]:
    """Await ``work``; Ctrl-C cancels it. Returns ``(interrupted, result or None)``."""
    task = asyncio.ensure_future(_catch_interrupt(work))
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    restore = _install_sigint(on_sigint)
    try:
        return await task
    except asyncio.CancelledError:
        if interrupted:
            return True, None
        current = asyncio.current_task()
        uncancel = getattr(current, "uncancel", None)
        cancelling = getattr(current, "cancelling", None)
        if uncancel is not None and cancelling is not None and cancelling():
            # Python 3.11+ without our handler: asyncio.run cancels the main task on Ctrl-C.
            uncancel()  # pragma: no cover - only where add_signal_handler is unavailable
            return True, None  # pragma: no cover
        raise
    finally:
        restore()


async def _drain(run: BulkRun) -> None:
    iterator = run.__aiter__()
    try:
        async for _ in iterator:
            pass
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    with _user_errors():
        return asyncio.run(coro)


# -------------------------------------------------------------------------------------------
# Shared options


@attrs.frozen
class Api:
    """Where and how to reach Plivo (the token is never shown)."""

    auth_id: str | None
    auth_token: str | None = attrs.field(repr=False)
    base_url: str
    concurrency: int = DEFAULT_CONCURRENCY
    rate_limit: float | None = DEFAULT_RATE_LIMIT

    def check(self) -> None:
        """Fail with one clear line before any work when the settings cannot work."""
        if not self.auth_id:
            raise CliError("no auth id: pass --auth-id or set PLIVO_AUTH_ID")
        if not self.auth_token:
            raise CliError(
                "no auth token: set PLIVO_AUTH_TOKEN (or pass --auth-token -, which prompts)"
            )
        try:
            _sansio.validate_auth_id(self.auth_id)
            _sansio.validate_base_url(self.base_url)
        except ValueError as exc:
            raise CliError(str(exc).replace("base_url", "--base-url")) from None

    def session(self) -> NumLinkSession:
        return NumLinkSession(
            self.auth_id,
            self.auth_token,
            base_url=self.base_url,
            concurrency=self.concurrency,
            rate_limit=self.rate_limit,
        )


def _check_base_url(base_url: str) -> None:
    try:
        _sansio.validate_base_url(base_url)
    except ValueError as exc:
        raise CliError(str(exc).replace("base_url", "--base-url")) from None


def _api_from(opts: dict[str, Any]) -> Api:
    return Api(
        auth_id=opts.pop("auth_id"),
        auth_token=opts.pop("auth_token"),
        base_url=opts.pop("base_url"),
        concurrency=opts.pop("concurrency", DEFAULT_CONCURRENCY),
        rate_limit=opts.pop("rate_limit", DEFAULT_RATE_LIMIT),
    )


def _apply(func: F, decorators: Sequence[Callable[[F], F]]) -> F:
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _connection_options(func: F) -> F:
    return _apply(
        func,
        [
            click.option(
                "--auth-id",
                envvar="PLIVO_AUTH_ID",
                show_envvar=True,
                metavar="ID",
                help="Plivo auth id.",
            ),
            click.option(
                "--auth-token",
                envvar="PLIVO_AUTH_TOKEN",
                show_envvar=True,
                metavar="TOKEN",
                callback=_read_token,
                help="Plivo auth token. Prefer the environment variable; '-' prompts for it "
                "without echo. Never printed.",
            ),
            click.option(
                "--base-url",
                envvar="PLIVO_NUMLINK_BASE_URL",
                show_envvar=True,
                default=_sansio.DEFAULT_BASE_URL,
                show_default=True,
                metavar="URL",
                help="API origin (e.g. a fake-server's URL).",
            ),
            click.option(
                "--concurrency",
                type=click.IntRange(min=1),
                default=DEFAULT_CONCURRENCY,
                show_default=True,
                help="Most requests in flight at once.",
            ),
            click.option(
                "--rate-limit",
                type=RateLimitType(),
                default=str(DEFAULT_RATE_LIMIT),
                show_default=True,
                help="Most requests started per second; 0 or 'none' for no pacing.",
            ),
        ],
    )


def _campaign_options(func: F) -> F:
    return _apply(
        func,
        [
            click.option(
                "--campaign",
                "campaign_id",
                metavar="ID",
                help="The campaign; without it, CAMPAIGN is the first argument.",
            ),
        ],
    )


def _input_options(func: F) -> F:
    return _apply(
        func,
        [
            click.option(
                "-f",
                "--file",
                "path",
                metavar="PATH",
                help="Read numbers from a file, one per line or CSV; '-' reads stdin.",
            ),
            click.option(
                "--column",
                metavar="NAME",
                help="The CSV column holding the numbers (name, or 1-based number). Default: "
                "a column named like number/phone/msisdn, else the first.",
            ),
        ],
    )


def _output_options(func: F) -> F:
    return _apply(
        func,
        [
            click.option(
                "--report",
                "report_path",
                metavar="PATH",
                callback=_check_report_path,
                help="Write every number's outcome to PATH (.json or .csv).",
            ),
            click.option(
                "--json", "as_json", is_flag=True, help="Print the report as JSON on stdout."
            ),
            click.option("-q", "--quiet", is_flag=True, help="No progress or notes on stderr."),
            click.option(
                "--progress",
                type=click.Choice(_PROGRESS_MODES),
                default="auto",
                show_default=True,
                help="Progress on stderr: a live bar, plain lines (for logs), or none; auto = "
                "bar on a terminal, else lines.",
            ),
        ],
    )


def _callback_options(func: F) -> F:
    return _apply(
        func,
        [
            click.option(
                "--callback-url", metavar="URL", help="Status callback URL sent with requests."
            ),
            click.option(
                "--callback-method",
                type=click.Choice(["GET", "POST"], case_sensitive=False),
                metavar="GET|POST",
                help="HTTP method of the status callback (Plivo's default: POST).",
            ),
        ],
    )


def _wait_options(func: F) -> F:
    return _apply(
        func,
        [
            click.option(
                "--wait", is_flag=True, help="Then poll until Plivo has processed every number."
            ),
            click.option(
                "--wait-timeout",
                type=click.FloatRange(min=0),
                default=_bulk.DEFAULT_WAIT_TIMEOUT,
                show_default=True,
                metavar="S",
                help="Give up waiting after S seconds (numbers still processing: pending).",
            ),
            click.option(
                "--poll-interval",
                type=click.FloatRange(min=0, min_open=True),
                default=_bulk.DEFAULT_POLL_INTERVAL,
                show_default=True,
                metavar="S",
                help="Seconds between polls while waiting.",
            ),
        ],
    )


#: Common options (see the README's "Command line") that some subcommands accept only so
#: that one set of options works with every subcommand, e.g. in a script's shared variable.
_NO_EFFECT_SETTINGS: dict[str, dict[str, Any]] = {
    "--batch-size": {"type": click.IntRange(min=1), "metavar": "INTEGER"},
    "--callback-url": {"metavar": "URL"},
    "--callback-method": {
        "type": click.Choice(["GET", "POST"], case_sensitive=False),
        "metavar": "GET|POST",
    },
    "--wait": {"is_flag": True},
}


def _no_effect(flag: str, command: str, why: str) -> Callable[[F], F]:
    """A common option that ``command`` accepts (and checks) but does not use."""
    return click.option(
        flag,
        expose_value=False,
        help=f"(no effect for {command}: {why})",
        **_NO_EFFECT_SETTINGS[flag],
    )


def _dry_run_option(help_text: str) -> Callable[[F], F]:
    return click.option("--dry-run", is_flag=True, help=help_text)


def _split_campaign(campaign_id: str | None, args: Sequence[str]) -> tuple[str, list[str]]:
    """``--campaign ID`` or the first positional argument; the rest are numbers."""
    rest = list(args)
    if campaign_id is None:
        if not rest:
            raise click.UsageError("no campaign: give it as the first argument or with --campaign")
        campaign_id = rest.pop(0)
    return _validated_campaign(campaign_id), rest


def _number_input(numbers: list[str], path: str | None, column: str | None) -> NumberInput:
    if numbers and path is not None:
        raise click.UsageError("give numbers as arguments or with -f, not both")
    if not numbers and path is None:
        raise click.UsageError(
            "no numbers: give them as arguments, or with -f FILE (-f - reads stdin)"
        )
    return NumberInput(numbers, path, column)


def _callback(url: str | None, method: str | None) -> dict[str, str]:
    try:
        return validate_callback(url, method)
    except ValueError as exc:
        raise CliError(str(exc).replace("url ", "--callback-url ", 1)) from None


# -------------------------------------------------------------------------------------------
# The command group


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise SystemExit(EXIT_INTERRUPTED) from None


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="plivo-numlink")
def cli() -> None:
    """Link phone numbers to Plivo 10DLC campaigns in bulk, and check on them.

    Credentials come from PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN (or --auth-id/--auth-token).
    Start with `plivo-numlink demo`: it needs no credentials and no network.

    Exit codes: 0 all ok, 1 some numbers not ok, 2 usage or configuration error,
    130 interrupted.
    """


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: ``plivo-numlink``."""
    cli.main(args=list(argv) if argv is not None else None)


# -------------------------------------------------------------------------------------------
# link / unlink / sync


_BULK_EPILOG = (
    "Numbers: as arguments, or -f FILE (one per line, or CSV: --column picks the column; a "
    "first row of plain text with no number in it is a header), or -f - for stdin. Blank lines and "
    "#-comments are skipped; lines that are not UTF-8 or not a number are reported as "
    "invalid. Ctrl-C stops cleanly: the report still accounts for every number (exit 130)."
)


def _bulk_command(name: str, help_text: str, *, batch: bool, extra: bool) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        decorators: list[Callable[[F], F]] = [
            cli.command(name, help=help_text, epilog=_BULK_EPILOG),  # type: ignore[list-item]
            click.argument("args", nargs=-1, metavar="[CAMPAIGN] [NUMBER]..."),
            _campaign_options,
            _input_options,
            _connection_options,
        ]
        if batch:
            decorators.append(
                click.option(
                    "--batch-size",
                    type=click.IntRange(min=1),
                    default=_bulk.DEFAULT_BATCH_SIZE,
                    show_default=True,
                    help="Numbers per link request.",
                )
            )
        else:
            decorators.append(_no_effect("--batch-size", name, "one number per request"))
        if extra:
            decorators.append(
                click.option(
                    "--unlink-extra",
                    is_flag=True,
                    help="Also unlink the campaign's numbers that are not in the input.",
                )
            )
        decorators += [
            _callback_options,
            _wait_options,
            click.option(
                "--dry-run",
                is_flag=True,
                help="Check the input and show the requests; send nothing (no credentials needed).",
            ),
            _output_options,
        ]
        return _apply(func, decorators)

    return decorate


@_bulk_command(
    "link",
    "Link numbers to a campaign, in batches, with retries and pacing.",
    batch=True,
    extra=False,
)
def link_command(**opts: Any) -> None:
    _run_bulk("link", opts)


@_bulk_command(
    "unlink", "Unlink numbers from a campaign, one request each.", batch=False, extra=False
)
def unlink_command(**opts: Any) -> None:
    _run_bulk("unlink", opts)


@_bulk_command(
    "sync",
    "Make a campaign hold exactly the given numbers: link what is missing or FAILED "
    "(and with --unlink-extra, unlink the rest). Safe to run again.",
    batch=True,
    extra=True,
)
def sync_command(**opts: Any) -> None:
    _run_bulk("sync", opts)


@attrs.frozen
class _Job:
    action: str
    campaign_id: str
    batch_size: int
    callback: dict[str, str]
    wait: bool
    wait_timeout: float
    poll_interval: float
    unlink_extra: bool


def _run_bulk(action: str, opts: dict[str, Any]) -> NoReturn:
    campaign_id, numbers = _split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    source = _number_input(numbers, opts.pop("path"), opts.pop("column"))
    api = _api_from(opts)
    callback = _callback(opts.pop("callback_url"), opts.pop("callback_method"))
    job = _Job(
        action=action,
        campaign_id=campaign_id,
        batch_size=opts.pop("batch_size", 1),
        callback=callback,
        wait=opts.pop("wait"),
        wait_timeout=opts.pop("wait_timeout"),
        poll_interval=opts.pop("poll_interval"),
        unlink_extra=opts.pop("unlink_extra", False),
    )
    feedback = Feedback(opts.pop("progress"), quiet=opts.pop("quiet"))
    as_json: bool = opts.pop("as_json")
    report_path: str | None = opts.pop("report_path")
    if opts.pop("dry_run"):
        _check_base_url(api.base_url)
        source.prepare()
        try:
            _dry_run(job, source, as_json=as_json)
        finally:
            source.close()
    api.check()
    source.prepare()
    try:
        if source.header is not None:
            feedback.note(
                f"{source.label}: first row taken as a header; numbers from column "
                f"{source.column_label}"
            )
        if source.interactive:
            feedback.note("reading numbers from the terminal; end with Ctrl-D")
        if action == "sync":
            report, interrupted = _run(_sync_main(api, job, source, feedback))
        else:
            report, interrupted = _run(_bulk_main(api, job, source, feedback))
    finally:
        feedback.close()
        source.close()
    if report is None:
        click.echo(
            "interrupted: sync keeps no partial results; run it again (it is safe to repeat)",
            err=True,
        )
        raise SystemExit(EXIT_INTERRUPTED)
    _finish(
        report,
        feedback=feedback,
        as_json=as_json,
        report_path=report_path,
        interrupted=interrupted,
    )


async def _bulk_main(
    api: Api, job: _Job, source: NumberInput, feedback: Feedback
) -> tuple[BulkReport, bool]:
    entries = iter(source)
    url, method = job.callback.get("url"), job.callback.get("method")
    async with api.session() as session:
        if job.action == "link":
            run = session.iter_link(
                job.campaign_id,
                entries,
                batch_size=job.batch_size,
                url=url,
                method=method,
                on_outcome=feedback.advance,
            )
        else:
            run = session.iter_unlink(
                job.campaign_id, entries, url=url, method=method, on_outcome=feedback.advance
            )
        verb = "linking" if job.action == "link" else "unlinking"
        feedback.start_job(f"{verb} ({job.campaign_id})", source.estimate_total())
        try:
            interrupted, _ = await interruptible(_drain(run))
        except OSError:
            # The job stopped; its report says "reading the input failed: ...".
            interrupted = False
        finally:
            feedback.finish_job()
        if interrupted:
            run.stop(INTERRUPTED_REASON)
        report = run.report()
        if job.wait and not interrupted and report.stopped_reason is None:
            waiting = sum(o.kind in (OutcomeKind.ACCEPTED, OutcomeKind.ALREADY) for o in report)
            feedback.start_phase(
                f"waiting for Plivo to finish processing {_plural(waiting, 'number')} "
                f"(polling every {job.poll_interval:g} s, for up to {job.wait_timeout:g} s)"
            )
            try:
                interrupted, waited = await interruptible(
                    _bulk.wait_and_fold(
                        session,
                        report,
                        unlinked=job.action == "unlink",
                        timeout=job.wait_timeout,
                        poll_interval=job.poll_interval,
                    )
                )
            finally:
                feedback.finish_phase()
            if waited is not None:
                report = waited
    if interrupted:
        if source.interactive:
            feedback.note("the rest of the terminal input is not read")
        else:
            report = _account_for_rest(report, entries, INTERRUPTED_REASON)
        report = attrs.evolve(report, stopped_reason=report.stopped_reason or INTERRUPTED_REASON)
    return source.annotate(report), interrupted


async def _sync_main(
    api: Api, job: _Job, source: NumberInput, feedback: Feedback
) -> tuple[BulkReport | None, bool]:
    async with api.session() as session:
        feedback.start_phase(
            f"syncing campaign {job.campaign_id} with {source.label}"
            + (" (unlinking extra numbers)" if job.unlink_extra else "")
        )
        try:
            interrupted, report = await interruptible(
                session.sync(
                    job.campaign_id,
                    iter(source),
                    unlink_extra=job.unlink_extra,
                    batch_size=job.batch_size,
                    url=job.callback.get("url"),
                    method=job.callback.get("method"),
                    wait=job.wait,
                    wait_timeout=job.wait_timeout,
                    poll_interval=job.poll_interval,
                )
            )
        finally:
            feedback.finish_phase()
    if report is None:
        return None, True
    return source.annotate(report), interrupted


def _dry_run(job: _Job, source: NumberInput, *, as_json: bool) -> NoReturn:
    """Read and check the input; print the requests a real run would send."""
    seen: set[str] = set()
    valid = 0
    duplicates = 0
    invalid: list[dict[str, str]] = []
    for raw in source:
        number, reason = try_normalize_number(raw)
        key = number if number is not None else raw
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        if number is None:
            invalid.append({"number": key, "error": source.notes.get(key, reason or "")})
        else:
            valid += 1
    campaign_path = _sansio.CAMPAIGN_TEMPLATE.replace("{campaign_id}", job.campaign_id)
    number_path = _sansio.NUMBER_TEMPLATE.replace("{campaign_id}", job.campaign_id)
    requests: list[dict[str, Any]] = []
    if job.action == "sync":
        requests.append(
            {"method": "GET", "path": campaign_path, "count": None, "why": "read the campaign"}
        )
    if job.action in ("link", "sync"):
        batches = math.ceil(valid / job.batch_size)
        requests.append(
            {
                "method": "POST",
                "path": campaign_path,
                "count": batches,
                "numbers": valid,
                "batch_size": job.batch_size,
                "why": "link"
                + (
                    " the numbers missing or FAILED (at most this many)"
                    if job.action == "sync"
                    else ""
                ),
            }
        )
    if job.action == "unlink":
        requests.append(
            {
                "method": "DELETE",
                "path": number_path,
                "count": valid,
                "numbers": valid,
                "why": "unlink",
            }
        )
    if job.action == "sync" and job.unlink_extra:
        requests.append(
            {
                "method": "DELETE",
                "path": number_path,
                "count": None,
                "why": "unlink each linked number not in the input",
            }
        )
    if job.wait:
        requests.append(
            {
                "method": "GET",
                "path": f"{campaign_path} or {number_path}",
                "count": None,
                "why": f"poll every {job.poll_interval:g} s for up to {job.wait_timeout:g} s",
            }
        )
    plan = {
        "dry_run": True,
        "action": job.action,
        "campaign_id": job.campaign_id,
        "valid": valid,
        "invalid": invalid,
        "duplicates": duplicates,
        "callback": job.callback or None,
        "requests": requests,
    }
    if as_json:
        click.echo(json.dumps(plan, indent=2))
    else:
        console = _stdout_console()
        console.print("[bold]dry run[/]: nothing is sent")
        console.print(
            f"{job.action} campaign {job.campaign_id}: {_plural(valid, 'valid number')}, "
            f"{len(invalid):,} invalid, {_plural(duplicates, 'duplicate')} skipped"
        )
        console.print("would send:")
        for request in requests:
            count = request["count"]
            times = "as needed" if count is None else _plural(count, "request")
            detail = (
                f" (at most {request['batch_size']} numbers each)"
                if "batch_size" in request
                else ""
            )
            console.print(
                f"  {request['method']} {request['path']}  {times}{detail}: {request['why']}"
            )
        if job.callback:
            body = ", ".join(f"{key}={value}" for key, value in job.callback.items())
            console.print(f"  with the status callback {body}", markup=False)
        if invalid:
            console.print(f"invalid numbers (never sent): {len(invalid):,}")
            for entry in invalid[:20]:
                console.print(f"  {entry['number']}: {entry['error']}", markup=False)
            if len(invalid) > 20:
                console.print(f"  ... and {len(invalid) - 20:,} more (--json lists them all)")
    raise SystemExit(EXIT_NOT_OK if invalid else EXIT_OK)


# -------------------------------------------------------------------------------------------
# wait / list / status


@cli.command("wait", epilog=_BULK_EPILOG.split(" Ctrl-C")[0])
@click.argument("args", nargs=-1, metavar="[CAMPAIGN] [NUMBER]...")
@_campaign_options
@_input_options
@_connection_options
@click.option(
    "--timeout",
    "--wait-timeout",
    "timeout",
    type=click.FloatRange(min=0),
    default=_bulk.DEFAULT_WAIT_TIMEOUT,
    show_default=True,
    metavar="S",
    help="Give up after S seconds (numbers still processing are reported pending).",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=_bulk.DEFAULT_POLL_INTERVAL,
    show_default=True,
    metavar="S",
    help="Seconds between polls.",
)
@click.option("--unlinked", is_flag=True, help="Wait until the numbers are gone (after unlink).")
@_no_effect("--batch-size", "wait", "it sends no link requests")
@_no_effect("--callback-url", "wait", "it sends no link requests")
@_no_effect("--callback-method", "wait", "it sends no link requests")
@_no_effect("--wait", "wait", "it always waits")
@_dry_run_option("Check the input and show the polls; send nothing (no credentials needed).")
@_output_options
def wait_command(**opts: Any) -> None:
    """Wait until Plivo has processed the numbers (COMPLETED or FAILED)."""
    campaign_id, numbers = _split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    source = _number_input(numbers, opts.pop("path"), opts.pop("column"))
    api = _api_from(opts)
    timeout: float = opts.pop("timeout")
    poll_interval: float = opts.pop("poll_interval")
    unlinked: bool = opts.pop("unlinked")
    if opts.pop("dry_run"):
        _check_base_url(api.base_url)
        job = _Job(
            action="wait",
            campaign_id=campaign_id,
            batch_size=1,
            callback={},
            wait=True,
            wait_timeout=timeout,
            poll_interval=poll_interval,
            unlink_extra=False,
        )
        source.prepare()
        try:
            _dry_run(job, source, as_json=opts.pop("as_json"))
        finally:
            source.close()
    api.check()
    feedback = Feedback(opts.pop("progress"), quiet=opts.pop("quiet"))

    async def work() -> tuple[bool, BulkReport | None]:
        async with api.session() as session:
            feedback.start_phase(
                f"waiting until the numbers from {source.label} are "
                f"{'unlinked' if unlinked else 'processed'} "
                f"(polling every {poll_interval:g} s, for up to {timeout:g} s)"
            )
            try:
                return await interruptible(
                    session.wait_for_numbers(
                        campaign_id,
                        iter(source),
                        timeout=timeout,
                        poll_interval=poll_interval,
                        unlinked=unlinked,
                    )
                )
            finally:
                feedback.finish_phase()

    source.prepare()
    try:
        interrupted, report = _run(work())
    finally:
        feedback.close()
        source.close()
    if report is None:
        click.echo("interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    _finish(
        source.annotate(report),
        feedback=feedback,
        as_json=opts.pop("as_json"),
        report_path=opts.pop("report_path"),
        interrupted=interrupted,
    )


def _status_text(entry: NumberStatus) -> str:
    if entry.status is LinkStatus.UNKNOWN and entry.raw_status:
        return entry.raw_status
    return entry.status.value


_STATUS_STYLE = {
    LinkStatus.COMPLETED: "green",
    LinkStatus.PROCESSING: "yellow",
    LinkStatus.FAILED: "red",
}


def _dry_run_reads(
    action: str, campaign_id: str, request: dict[str, Any], *, as_json: bool, valid: int | None
) -> NoReturn:
    """The dry run of a command that only reads: the plan, then exit 0 (nothing is sent)."""
    plan: dict[str, Any] = {
        "dry_run": True,
        "action": action,
        "campaign_id": campaign_id,
        "requests": [request],
    }
    if valid is not None:
        plan.update(valid=valid, invalid=[], duplicates=0)
    if as_json:
        click.echo(json.dumps(plan, indent=2))
    else:
        console = _stdout_console()
        console.print("[bold]dry run[/]: nothing is sent")
        if valid is not None:
            console.print(f"{action} campaign {campaign_id}: {_plural(valid, 'valid number')}")
        count = request["count"]
        times = "as needed" if count is None else _plural(count, "request")
        console.print("would send:")
        console.print(
            f"  {request['method']} {request['path']}  {times}: {request['why']}", markup=False
        )
    raise SystemExit(EXIT_OK)


def _listing_data(campaign: CampaignNumbers) -> dict[str, Any]:
    return {
        "campaign_id": campaign.campaign_id,
        "campaign_alias": campaign.campaign_alias,
        "usecase": campaign.usecase,
        "count": len(campaign.phone_numbers),
        "phone_numbers": [
            {"number": entry.number, "status": _status_text(entry)}
            for entry in campaign.phone_numbers
        ],
    }


def write_listing(campaign: CampaignNumbers, path: str) -> None:
    """Write a campaign's listing: ``--json``'s document, or CSV rows ``number,status``."""
    data = _listing_data(campaign)

    def write(file: IO[str]) -> None:
        if path.lower().endswith(".csv"):
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(["number", "status"])
            for entry in data["phone_numbers"]:
                writer.writerow([entry["number"], entry["status"]])
        else:
            file.write(json.dumps(data, indent=2) + "\n")

    _write_file(path, write)


@cli.command("list")
@click.argument("args", nargs=-1, metavar="[CAMPAIGN]")
@_campaign_options
@_connection_options
@_no_effect("--batch-size", "list", "it only reads")
@_no_effect("--callback-url", "list", "it only reads")
@_no_effect("--callback-method", "list", "it only reads")
@_no_effect("--wait", "list", "it reads the campaign once")
@_dry_run_option("Show the request; send nothing (no credentials needed).")
@_output_options
def list_command(**opts: Any) -> None:
    """List a campaign's numbers and their statuses.

    --report writes the listing (.json: what --json prints; .csv: number,status rows).
    """
    campaign_id, rest = _split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    if rest:
        raise click.UsageError(f"unexpected arguments: {' '.join(rest)}")
    api = _api_from(opts)
    as_json: bool = opts.pop("as_json")
    report_path: str | None = opts.pop("report_path")
    if opts.pop("dry_run"):
        _check_base_url(api.base_url)
        path = _sansio.CAMPAIGN_TEMPLATE.replace("{campaign_id}", campaign_id)
        request = {"method": "GET", "path": path, "count": None, "why": "read the campaign"}
        _dry_run_reads("list", campaign_id, request, as_json=as_json, valid=None)
    api.check()
    feedback = Feedback(opts.pop("progress"), quiet=opts.pop("quiet"))

    async def work() -> CampaignNumbers:
        async with api.session() as session:
            return await session.list_numbers(campaign_id)

    # No progress line: one page at a time goes by fast, and a note would only add noise.
    interrupted, campaign = _run(interruptible(work()))
    if interrupted or campaign is None:
        click.echo("interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    if report_path is not None:
        write_listing(campaign, report_path)
        feedback.note(
            f"listing written to {report_path} ({_plural(len(campaign.phone_numbers), 'number')})"
        )
    if as_json:
        click.echo(json.dumps(_listing_data(campaign), indent=2))
        raise SystemExit(EXIT_OK)
    console = _stdout_console()
    alias = f" ({campaign.campaign_alias})" if campaign.campaign_alias else ""
    console.print(
        Text(
            f"campaign {campaign.campaign_id}{alias}: "
            f"{_plural(len(campaign.phone_numbers), 'number')}",
            "bold",
        )
    )
    table = Table()
    table.add_column("number")
    table.add_column("status")
    for entry in campaign.phone_numbers:
        style = _STATUS_STYLE.get(entry.status, "")
        text = _status_text(entry)
        table.add_row(Text(entry.number), Text(text, style=style))
    console.print(table)
    counts = Counter(_status_text(entry) for entry in campaign.phone_numbers)
    if counts:
        console.print(", ".join(f"{count:,} {status}" for status, count in sorted(counts.items())))
    raise SystemExit(EXIT_OK)


@attrs.frozen
class _NumberState:
    number: str
    status: str | None
    error: str | None
    status_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status != LinkStatus.FAILED.value

    def outcome(self) -> NumberOutcome:
        """This state as a report line (``action`` status), ok exactly when the state is."""
        if self.status is None:
            kind = OutcomeKind.REJECTED if self.status_code == 404 else OutcomeKind.ERROR
            return NumberOutcome(
                self.number,
                kind,
                action="status",
                error=self.error,
                status_code=self.status_code,
                attempts=1,
            )
        status = LinkStatus.parse(self.status)
        kind = {
            LinkStatus.COMPLETED: OutcomeKind.COMPLETED,
            LinkStatus.FAILED: OutcomeKind.REMOTE_FAILED,
        }.get(status, OutcomeKind.PENDING)
        # PROCESSING (or a status this library does not know) is linked as far as status
        # goes: ok, as in the table and --json.
        return NumberOutcome(
            self.number,
            kind,
            action="status",
            error=None if status is not LinkStatus.UNKNOWN else f"status {self.status}",
            status_code=200,
            attempts=1,
            status=status,
            ok=self.ok,
        )


def _status_numbers(source: NumberInput) -> list[str]:
    """The distinct normalized numbers of ``source``; an invalid one is a usage error."""
    numbers: dict[str, None] = {}
    invalid: list[str] = []
    for raw in source:
        number, reason = try_normalize_number(raw)
        if number is None:
            invalid.append(source.notes.get(raw, reason or f"{raw!r} is not a valid number"))
        else:
            numbers.setdefault(number)
    if invalid:
        more = f" (and {len(invalid) - 1:,} more invalid)" if len(invalid) > 1 else ""
        raise CliError(invalid[0] + more)
    return list(numbers)


@cli.command("status", epilog=_BULK_EPILOG.split(" Blank")[0])
@click.argument("args", nargs=-1, metavar="[CAMPAIGN] [NUMBER]...")
@_campaign_options
@_input_options
@_connection_options
@_no_effect("--batch-size", "status", "one number per request")
@_no_effect("--callback-url", "status", "it only reads")
@_no_effect("--callback-method", "status", "it only reads")
@_no_effect("--wait", "status", "it reads each status once; see the wait command")
@_dry_run_option("Check the numbers and show the requests; send nothing (no credentials needed).")
@_output_options
def status_command(**opts: Any) -> None:
    """Show each number's status in a campaign.

    Exit 1 when a number is not linked to the campaign or its linking FAILED; exit 2 when
    a number is not a valid US number (nothing is sent then). --report writes one line per
    number (action "status"; kind completed, pending for PROCESSING, remote_failed, or
    rejected when not linked).
    """
    campaign_id, raw_numbers = _split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    path: str | None = opts.pop("path")
    if not raw_numbers and path is None:
        raise click.UsageError(
            "no numbers: give one or more numbers after the campaign, or -f FILE (-f - for stdin)"
        )
    source = _number_input(raw_numbers, path, opts.pop("column"))
    api = _api_from(opts)
    as_json: bool = opts.pop("as_json")
    report_path: str | None = opts.pop("report_path")
    feedback = Feedback(opts.pop("progress"), quiet=opts.pop("quiet"))
    dry_run: bool = opts.pop("dry_run")
    if dry_run:
        _check_base_url(api.base_url)
    source.prepare()
    try:
        if source.header is not None:
            feedback.note(
                f"{source.label}: first row taken as a header; numbers from column "
                f"{source.column_label}"
            )
        numbers = _status_numbers(source)
    finally:
        source.close()
    if dry_run:
        request = {
            "method": "GET",
            "path": _sansio.NUMBER_TEMPLATE.replace("{campaign_id}", campaign_id),
            "count": len(numbers),
            "why": "read each number's status",
        }
        _dry_run_reads("status", campaign_id, request, as_json=as_json, valid=len(numbers))
    api.check()

    async def one(session: NumLinkSession, number: str) -> _NumberState:
        try:
            entry = await session.get_number(campaign_id, number)
        except NotFoundError as exc:
            if is_campaign_missing(exc):
                raise
            state = _NumberState(number, None, f"not linked: {exc.message}", 404)
        except (AuthenticationError, ForbiddenError):
            raise
        except PlivoError as exc:
            state = _NumberState(number, None, str(exc), getattr(exc, "status_code", None))
        else:
            state = _NumberState(number, _status_text(entry), None)
        feedback.advance(state.outcome())
        return state

    async def work() -> list[_NumberState]:
        async with api.session() as session:
            return list(await asyncio.gather(*(one(session, number) for number in numbers)))

    started = time.monotonic()
    feedback.start_job(f"reading statuses ({campaign_id})", len(numbers))
    try:
        interrupted, states = _run(interruptible(work()))
    finally:
        feedback.close()
    if interrupted or states is None:
        click.echo("interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    if report_path is not None:
        report = BulkReport(
            outcomes=tuple(state.outcome() for state in states),
            action="status",
            campaign_id=campaign_id,
            elapsed=time.monotonic() - started,
            requests=len(states),
        )
        write_report(report, report_path)
        feedback.note(f"report written to {report_path} ({_plural(len(report), 'number')})")
    if as_json:
        data = [
            {"number": s.number, "status": s.status, "ok": s.ok, "error": s.error} for s in states
        ]
        click.echo(json.dumps(data, indent=2))
    else:
        console = _stdout_console()
        console.print(Text(f"campaign {campaign_id}", "bold"))
        table = Table()
        table.add_column("number")
        table.add_column("status")
        for state in states:
            if state.status is None:
                table.add_row(state.number, Text(state.error or "", style="red"))
            else:
                style = _STATUS_STYLE.get(LinkStatus.parse(state.status), "")
                table.add_row(state.number, Text(state.status, style=style))
        console.print(table)
    raise SystemExit(EXIT_OK if all(state.ok for state in states) else EXIT_NOT_OK)


# -------------------------------------------------------------------------------------------
# fake-server


@cli.command("fake-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port to listen on; 0 picks a free one (printed).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the faults.")
@click.option(
    "--latency", type=LatencyType(), default="0", show_default=True, help="Seconds per request."
)
@click.option(
    "--error-rate",
    "error_rates",
    type=ErrorRateType(),
    multiple=True,
    help="Answer this share of requests with this status, e.g. 503=0.05 (repeatable).",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of connections closed with no answer.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Answer 429 past N requests per second.",
)
@click.option(
    "--campaign",
    "campaigns",
    multiple=True,
    metavar="ID",
    help="A campaign that exists (repeatable; default CUOGHIN).",
)
@click.option(
    "--fail-number",
    "fail_numbers",
    multiple=True,
    metavar="NUMBER",
    help="A number whose linking ends FAILED (repeatable).",
)
@click.option(
    "--complete-after",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="S",
    help="Seconds a link stays PROCESSING at least.",
)
@click.option(
    "--complete-after-polls",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    metavar="N",
    help="Reads that show a number PROCESSING before it completes.",
)
def fake_server_command(
    host: str,
    port: int,
    seed: int,
    latency: float | tuple[float, float],
    error_rates: tuple[tuple[int, float], ...],
    drop_rate: float,
    rate_limit: int | None,
    campaigns: tuple[str, ...],
    fail_numbers: tuple[str, ...],
    complete_after: float,
    complete_after_polls: int,
) -> None:
    """Run a fake Plivo Number Linking API in the foreground until Ctrl-C.

    It keeps its state in memory, answers like Plivo and can misbehave on request (latency,
    5xx, dropped connections, 429). Its credentials are public test values, not secrets.
    """
    from .testing import FakePlivo

    for campaign in campaigns:
        _validated_campaign(campaign)
    try:
        fake = FakePlivo(
            host=host,
            port=port,
            seed=seed,
            latency=latency,
            error_rates=dict(error_rates),
            drop_rate=drop_rate,
            rate_limit=rate_limit,
            campaigns=campaigns or ("CUOGHIN",),
            fail_numbers=fail_numbers,
            complete_after=complete_after,
            complete_after_polls=complete_after_polls,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None

    async def serve() -> None:
        try:
            await fake.start()
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        _print_fake_banner(fake)
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(fake.serve_forever())
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
        finally:
            await fake.stop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(signum)

    asyncio.run(serve())
    click.echo(f"stopped after {_plural(sum(fake.count_by_status.values()), 'request')}", err=True)


def _print_fake_banner(fake: Any) -> None:
    campaigns = ", ".join(fake.campaigns)
    first = next(iter(fake.campaigns))
    lines = [
        f"fake Plivo Number Linking API listening on {fake.base_url}",
        f"  auth id:    {fake.auth_id}",
        f"  auth token: {fake.auth_token}   (the fake's public test token, not a secret)",
        f"  campaigns:  {campaigns}",
        "point the CLI at it:",
        f"  export PLIVO_AUTH_ID={fake.auth_id} PLIVO_AUTH_TOKEN={fake.auth_token} "
        f"PLIVO_NUMLINK_BASE_URL={fake.base_url}",
        f"  plivo-numlink link {first} 12125557777 --wait --poll-interval 0.5",
        "or in one line:",
        f"  PLIVO_AUTH_ID={fake.auth_id} PLIVO_AUTH_TOKEN={fake.auth_token} "
        f"plivo-numlink link --base-url {fake.base_url} {first} 12125557777",
        "press Ctrl-C to stop",
    ]
    for line in lines:
        click.echo(line)


# -------------------------------------------------------------------------------------------
# demo


#: Area codes of the generated demo numbers (real NANP area codes; the demo never leaves
#: 127.0.0.1).
_DEMO_AREA_CODES = (212, 312, 415, 512, 617, 646, 702, 718, 805, 917)
#: Entries that are not valid US numbers, planted in the demo's input.
DEMO_INVALID = ("555-0100", "+1 (123) 555-0199", "1-800-FLOWERS")
DEMO_FAILURES = 3
DEMO_CAMPAIGN = "CUOGHIN"
DEMO_BATCH_SIZE = 25
DEMO_RATE_LIMIT = 100.0
DEMO_CONCURRENCY = 20


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
        area = rng.choice(_DEMO_AREA_CODES)
        exchange = rng.randrange(200, 1000)
        line = rng.randrange(10000)
        digits = f"{area}{exchange}{line:04d}"
        if digits in seen:
            continue
        seen.add(digits)
        style = rng.randrange(3)
        if style == 0:
            valid.append(f"1{digits}")
        elif style == 1:
            valid.append(f"+1 ({area}) {exchange}-{line:04d}")
        else:
            valid.append(f"{area}-{exchange}-{line:04d}")
    fail = tuple(normalize_number(n) for n in rng.sample(valid, DEMO_FAILURES))
    entries = list(valid)
    for position, bad in zip(
        sorted(rng.sample(range(len(entries)), len(DEMO_INVALID))), DEMO_INVALID, strict=True
    ):
        entries.insert(position, bad)
    # The same number written another way: sent and reported once.
    repeat = normalize_number(valid[0])
    entries.insert(rng.randrange(1, len(entries)), f"+{repeat}")
    return DemoPlan(tuple(entries), fail, DEMO_INVALID, 1)


@cli.command("demo")
@click.option(
    "--count",
    type=click.IntRange(10, 1_000_000),
    default=3000,
    show_default=True,
    help="Numbers to link.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of numbers and faults.")
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=0.2,
    show_default=True,
    metavar="S",
    help="Seconds between status polls while waiting.",
)
@_output_options
def demo_command(
    count: int,
    seed: int,
    poll_interval: float,
    report_path: str | None,
    as_json: bool,
    quiet: bool,
    progress: str,
) -> None:
    """Link a few thousand numbers on a fake Plivo server (no credentials, no network).

    A fake server on 127.0.0.1 misbehaves a little (503s, dropped connections, latency);
    the input has planted invalid entries and numbers the server fails. The demo links,
    waits for processing, and explains the result. Exit 0 when the only numbers not ok are
    the planted ones.
    """
    from .testing import FakePlivo

    plan = demo_plan(count, seed)
    feedback = Feedback(progress, quiet=quiet or as_json)
    fake = FakePlivo(
        seed=seed,
        campaigns=(DEMO_CAMPAIGN,),
        error_rates={503: 0.02},
        drop_rate=0.005,
        latency=(0.005, 0.03),
        # Processing takes half a second, so one pass over the campaign usually confirms
        # every number (paging through 3,000 numbers 20 at a time takes a few seconds).
        complete_after=0.5,
        complete_after_polls=0,
        fail_numbers=plan.fail_numbers,
    )

    async def work() -> tuple[BulkReport, bool]:
        async with fake:
            feedback.note(
                markup=True,
                text=f"[bold]plivo-numlink demo[/]: a fake Plivo API runs at {fake.base_url} "
                "(in this process, 127.0.0.1 only).\n"
                "Like a real network it misbehaves a little: 2% of requests get HTTP 503, "
                "0.5% of connections drop, each answer takes 5-30 ms.\n"
                f"The input: {len(plan.entries):,} entries in mixed formats (+1 (212) "
                "555-0123, 212-555-0123, 12125550123), with "
                f"{len(plan.invalid)} planted invalid entries and {plan.duplicates} repeat; "
                f"the server will report {len(plan.fail_numbers)} numbers FAILED after "
                "processing.\n"
                f"Linking to campaign {DEMO_CAMPAIGN}: {DEMO_BATCH_SIZE} numbers per "
                f"request, at most {DEMO_CONCURRENCY} requests at once and "
                f"{DEMO_RATE_LIMIT:g} per second; failed requests are retried.",
            )
            async with NumLinkSession(
                fake.auth_id,
                fake.auth_token,
                base_url=fake.base_url,
                concurrency=DEMO_CONCURRENCY,
                rate_limit=DEMO_RATE_LIMIT,
            ) as session:
                run = session.iter_link(
                    DEMO_CAMPAIGN,
                    plan.entries,
                    batch_size=DEMO_BATCH_SIZE,
                    on_outcome=feedback.advance,
                )
                feedback.start_job(f"linking ({DEMO_CAMPAIGN})", len(plan.entries))
                try:
                    interrupted, _ = await interruptible(_drain(run))
                finally:
                    feedback.finish_job()
                if interrupted:
                    run.stop(INTERRUPTED_REASON)
                report = run.report()
                if interrupted:
                    return report, True
                feedback.start_phase(
                    "waiting for Plivo's (fake) processing to finish "
                    f"(polling every {poll_interval:g} s)"
                )
                try:
                    interrupted, waited = await interruptible(
                        _bulk.wait_and_fold(
                            session,
                            report,
                            unlinked=False,
                            timeout=60.0,
                            poll_interval=poll_interval,
                        )
                    )
                finally:
                    feedback.finish_phase()
                return (waited or report), interrupted

    try:
        report, interrupted = _run(work())
    finally:
        feedback.close()
    if report_path is not None:
        write_report(report, report_path)
    if as_json:
        write_json(report, sys.stdout)
    else:
        render_summary(report, _stdout_console())
    if interrupted:
        click.echo("interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    raise SystemExit(_explain_demo(report, plan, fake.count_by_status, feedback, report_path))


def _explain_demo(
    report: BulkReport,
    plan: DemoPlan,
    statuses: Counter[int | None],
    feedback: Feedback,
    report_path: str | None,
) -> int:
    planted = set(plan.invalid) | set(plan.fail_numbers)
    not_ok = {outcome.number for outcome in report.failed}
    faults = sum(
        count for status, count in statuses.items() if status is not None and status >= 500
    )
    drops = statuses.get(None, 0)
    console = _stdout_console() if not feedback.quiet else None
    expected = not_ok == planted and report.stopped_reason is None
    if console is not None:
        console.print()
        if expected:
            console.print(
                f"[green]As planned[/]: the {len(not_ok)} numbers not ok are the "
                f"{len(plan.invalid)} invalid entries (never sent) and the "
                f"{len(plan.fail_numbers)} numbers the fake server was told to fail. "
                "Every other number is linked and confirmed COMPLETED."
            )
        console.print(
            f"The server answered {_plural(faults, 'request')} with a 5xx and dropped "
            f"{_plural(drops, 'connection')}; the client retried them. "
            f"{_plural(plan.duplicates, 'repeated number')} was sent once."
        )
        if report_path is not None:
            console.print(f"Every number's outcome is in {report_path}.")
        console.print(
            "Next: `plivo-numlink demo --report demo.csv` keeps every number's outcome; "
            "`plivo-numlink fake-server` runs the fake for your own commands; "
            "`plivo-numlink --help` lists the commands."
        )
    if not expected:
        unexpected = sorted(not_ok - planted)
        missing = sorted(planted - not_ok)
        click.echo(
            "error: the demo did not end as planned: "
            f"unexpected failures {unexpected[:5]}, planted failures not seen {missing[:5]}"
            + (f", stopped: {report.stopped_reason}" if report.stopped_reason else ""),
            err=True,
        )
        return EXIT_NOT_OK
    return EXIT_OK
