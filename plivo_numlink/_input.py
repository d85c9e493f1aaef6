"""Reading phone numbers from a list, a file or a stream, for the bulk calls.

A :class:`NumberInput` hands the bulk calls its entries lazily, one line at a time, so a
file of millions of lines never sits in memory. Lines are read as bytes with a length cap
and decoded one by one: a line that is not UTF-8, is absurdly long or is a CSV row without
the number column becomes an entry named ``line N: ...``, which the bulk calls report as an
invalid number, and :meth:`NumberInput.annotate` then puts the real reason in its ``error``.
One bad line in a million therefore spoils one outcome, not the job. The line of each entry
read from a file is kept (4 bytes an entry), so that :meth:`NumberInput.annotate` can give
each outcome its ``line``.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from array import array
from collections.abc import Iterable, Iterator
from typing import IO, Any

import attrs

from ._numbers import try_normalize_number
from ._report import BulkReport, NumberOutcome, OutcomeKind

__all__ = ["NumberInput"]

#: Longest line read as a candidate number; longer lines are skipped over in chunks (never
#: held in memory whole) and reported as invalid.
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
#: The error of the entries a check leaves unsent.
CHECKED = "not sent: only checked"


@attrs.frozen
class _RawLine:
    lineno: int
    #: The line's bytes (at most MAX_LINE_BYTES + 1 of them).
    data: bytes
    #: The line's full length in bytes; larger than len(data) when the line was too long.
    size: int


def _read_lines(stream: IO[bytes]) -> Iterator[_RawLine]:
    """Lines of ``stream``, never holding more than MAX_LINE_BYTES of one line in memory."""
    lineno = 0
    while data := stream.readline(MAX_LINE_BYTES + 1):
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
    """The numbers of a bulk job, from a list or read lazily from a file or binary stream.

    ``NumberInput(["+1 212 555 0100", ...])`` passes the entries through as they are.
    ``NumberInput(file="numbers.csv")`` (a path, or a binary stream such as
    ``sys.stdin.buffer``) reads one number per line, or CSV rows whose number column is
    ``column`` (a header name, or a 1-based index), else a column named like
    number/phone/msisdn, else the first. The first row is a header when it is plain text
    with no cell holding 7 or more digits. Blank lines and lines starting with ``#`` are
    skipped. ``name`` is how messages call the input (default: the path).

    Pass the input to a bulk call and :meth:`annotate` its report::

        with pn.NumberInput(file="numbers.csv") as numbers:
            report = numbers.annotate(await session.link_many("CUOGHIN", numbers))

    :meth:`open` (or entering the context) reads up to the first row: it raises
    ``OSError`` when the file cannot be read and ``ValueError`` when ``column`` names no
    column of it. The entries can be iterated once.
    """

    def __init__(
        self,
        numbers: Iterable[str] = (),
        *,
        file: str | os.PathLike[str] | IO[bytes] | None = None,
        column: str | None = None,
        name: str | None = None,
    ) -> None:
        if file is None and column is not None:
            raise ValueError("column applies to numbers read from a file only")
        self._numbers = numbers
        self._file = file
        self.column = column
        if name is None and isinstance(file, str | os.PathLike):
            name = os.fspath(file)
        self.name = name or ("the list" if file is None else getattr(file, "name", "the stream"))
        #: Entry -> the reason it is invalid, for lines that cannot be a number.
        self.notes: dict[str, str] = {}
        #: The header row's cells, when the file has one.
        self.header: list[str] | None = None
        self._index = 0
        self._stream: IO[bytes] | None = None
        self._owns_stream = False
        self._lines: Iterator[_RawLine] = iter(())
        self._first: list[str] = []
        #: The line of each entry yielded so far, by position (files only).
        self.lines: array[int] = array("L")
        self._first_line = 0
        self._iterator: Iterator[str] | None = None
        self._opened = self._closed = False
        #: Repeats of an earlier entry that :meth:`iter_check` has skipped so far.
        self.duplicates = 0

    @property
    def column_label(self) -> str:
        """The column the numbers come from: its header name, else ``#N``."""
        if self.header is not None:
            return repr(self.header[self._index])
        return f"#{self._index + 1}"

    def open(self) -> NumberInput:
        """Open the file and read up to its first row (to find the header). Idempotent."""
        if self._opened or self._file is None:
            self._opened = True
            return self
        self._opened = True
        if isinstance(self._file, str | os.PathLike):
            self._stream = open(self._file, "rb")  # noqa: SIM115 - closed by close()
            self._owns_stream = True
        else:
            self._stream = self._file
        self._lines = _read_lines(self._stream)
        chosen = False
        for line in self._lines:
            parts = self._split(line)
            if parts is None:
                continue
            if not chosen:
                chosen = True
                self._choose_column(parts if isinstance(parts, list) else None)
                if self.header is not None:
                    continue  # the first entry, if any, is on a later line
            self._first.append(parts if isinstance(parts, str) else self._cell(line, parts))
            self._first_line = line.lineno
            break
        if not chosen:
            self._choose_column(None)
        return self

    @property
    def empty(self) -> bool:
        """Whether the opened input holds no entry at all: an empty list, or a file of
        nothing but blank lines, comments and a header (an empty export, most likely)."""
        if self._file is None:
            return isinstance(self._numbers, list | tuple) and not self._numbers
        return self._opened and not self._first

    def close(self) -> None:
        """Stop reading: the entries end here (a job stopped on a terminal's input must not
        wait for more of it). Closes the file, if this input opened it."""
        self._closed = True
        if self._owns_stream and self._stream is not None:
            self._stream.close()

    def __enter__(self) -> NumberInput:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[str]:
        """The entries, read lazily; one iterator shared by every caller."""
        if self._iterator is None:
            self.open()
            self._iterator = self._entries()
        return self._iterator

    def _entries(self) -> Iterator[str]:
        entries = iter(self._numbers) if self._file is None else self._read_entries()
        # Checked before each read: once closed, not one more line is read.
        while not self._closed:
            try:
                yield next(entries)
            except StopIteration:
                return

    def _read_entries(self) -> Iterator[str]:
        lines = self.lines
        for entry in self._first:
            lines.append(self._first_line)
            yield entry
        for line in self._lines:
            parts = self._split(line)
            if parts is not None:
                lines.append(line.lineno)
                yield parts if isinstance(parts, str) else self._cell(line, parts)

    def estimate_total(self) -> int | None:
        """About how many entries there are (for a progress bar), or None if unknown."""
        if self._file is None:
            return len(self._numbers) if isinstance(self._numbers, list | tuple) else None
        if not isinstance(self._file, str | os.PathLike) or not os.path.isfile(self._file):
            return None
        lines = 0
        last = b"\n"
        try:
            with open(self._file, "rb") as file:
                while chunk := file.read(1 << 20):
                    lines += chunk.count(b"\n")
                    last = chunk[-1:]
        except OSError:
            return None
        if last != b"\n":
            lines += 1
        return max(0, lines - (1 if self.header is not None else 0))

    def annotate(self, report: BulkReport) -> BulkReport:
        """``report`` with the real reason on the invalid entries that stand for bad lines,
        and, for a file, each outcome's ``line`` (from its ``index``)."""
        lines, notes = self.lines, self.notes
        if not notes and not lines:
            return report

        def annotated(outcome: NumberOutcome) -> NumberOutcome:
            changes: dict[str, Any] = {}
            if outcome.kind is OutcomeKind.INVALID and outcome.number in notes:
                changes["error"] = notes[outcome.number]
            index = outcome.index
            if index is not None and 0 <= index < len(lines):
                changes["line"] = lines[index]
            return attrs.evolve(outcome, **changes) if changes else outcome

        outcomes = tuple(annotated(outcome) for outcome in report.outcomes)
        return attrs.evolve(report, outcomes=outcomes)

    def check(self, action: str = "check") -> BulkReport:
        """Read every entry and send nothing: the report a bulk job would start from.

        One outcome per distinct entry, in input order: ``INVALID`` (with the reason) for
        an entry that is not a valid US number, else ``NOT_ATTEMPTED``; repeats are counted
        in ``duplicates``. For a dry run, or to refuse a file before sending anything.
        """
        outcomes = tuple(self.iter_check(action))
        return BulkReport(outcomes, action=action, duplicates=self.duplicates)

    def iter_check(self, action: str = "check") -> Iterator[NumberOutcome]:
        """:meth:`check`'s outcomes, one at a time as the input is read, each with its line and
        reason (what :meth:`annotate` adds); :attr:`duplicates` counts the repeats skipped.

        Only each distinct entry's key is kept (to find the repeats), not its outcome: a
        dry run over millions of lines streams its findings in a fraction of the memory.
        """
        seen: set[str] = set()
        lines, notes = self.lines, self.notes
        self.duplicates = 0
        for index, raw in enumerate(self):
            number, reason = try_normalize_number(raw)
            key = raw if number is None else number
            if key in seen:
                self.duplicates += 1
                continue
            seen.add(key)
            line = lines[index] if index < len(lines) else None
            if number is None:
                error = notes.get(key, reason)
                yield NumberOutcome(
                    key, OutcomeKind.INVALID, action, error, input=raw, index=index, line=line
                )
            else:
                yield NumberOutcome(
                    key,
                    OutcomeKind.NOT_ATTEMPTED,
                    action,
                    CHECKED,
                    input=raw,
                    index=index,
                    line=line,
                )

    # -- parsing ------------------------------------------------------------------------------

    def _bad(self, lineno: int, text: str, reason: str) -> str:
        key = f"line {lineno}: {_printable(text.strip())}"
        self.notes[key] = reason
        return key

    def _split(self, line: _RawLine) -> list[str] | str | None:
        """None for a skipped line, a ``line N: ...`` entry for a bad one, else the cells."""
        data = line.data
        if line.lineno == 1 and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        text = data.decode("utf-8", "surrogateescape").rstrip("\r\n")
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            return None
        if line.size > len(line.data):
            return self._bad(
                line.lineno,
                stripped,
                f"line {line.lineno} is {line.size:,} bytes long: not a phone number",
            )
        if "," not in text and '"' not in text:
            return [text]
        try:
            return next(csv.reader([text]))
        except (csv.Error, StopIteration) as exc:  # pragma: no cover - e.g. NUL before 3.11
            return self._bad(
                line.lineno, stripped, f"line {line.lineno} is not a well-formed CSV row: {exc}"
            )

    def _cell(self, line: _RawLine, cells: list[str]) -> str:
        lineno = line.lineno
        if self._index >= len(cells):
            return self._bad(
                lineno, ",".join(cells), f"line {lineno} has no column {self.column_label}"
            )
        cell = cells[self._index]
        if _has_surrogates(cell):
            return self._bad(
                lineno, cell, f"line {lineno} is not valid UTF-8 (the input must be UTF-8 text)"
            )
        if not cell.strip():
            return self._bad(
                lineno,
                ",".join(cells),
                f"line {lineno}: the number cell (column {self.column_label}) is empty",
            )
        return cell

    def _choose_column(self, first_row: list[str] | None) -> None:
        column = self.column
        if first_row is not None and _is_header(first_row):
            self.header = [cell.strip() for cell in first_row]
            keys = [_column_key(cell) for cell in first_row]
            if column is None:
                self._index = next(
                    (keys.index(name) for name in NUMBER_COLUMN_NAMES if name in keys), 0
                )
            elif column.strip() in self.header:
                self._index = self.header.index(column.strip())
            elif _column_key(column) in keys:
                self._index = keys.index(_column_key(column))
            elif column.isdigit() and 1 <= int(column) <= len(self.header):
                self._index = int(column) - 1
            else:
                raise ValueError(
                    f"no column {column!r} in the header of {self.name} "
                    f"(columns: {', '.join(self.header)})"
                )
        elif column is not None:
            if not column.isdigit() or int(column) < 1:
                raise ValueError(
                    f"column {column!r} needs a header row, but the first row of {self.name} "
                    "looks like data (give a 1-based column number instead)"
                )
            self._index = int(column) - 1
