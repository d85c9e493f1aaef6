"""Per-number outcomes of bulk operations, and the report that gathers them.

A :class:`BulkReport` accounts for every distinct number of the input exactly once, in input
order. Exports (JSON, CSV, dicts) go through the library's one cattrs converter.
"""

from __future__ import annotations

import contextlib
import csv
import enum
import io
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import attrs

from ._models import LinkStatus, converter
from ._numbers import try_normalize_number

__all__ = [
    "BulkReport",
    "DuplicateEntry",
    "NumberOutcome",
    "OutcomeKind",
    "replace_file",
    "write_json_object",
]


class OutcomeKind(str, enum.Enum):
    """What happened to one number."""

    #: Plivo accepted the request (2xx); processing goes on at Plivo.
    ACCEPTED = "accepted"
    #: The desired state already held (already requested/linked, or not linked for unlink).
    ALREADY = "already"
    #: Confirmed final: linked (COMPLETED) for link, gone from the campaign for unlink.
    COMPLETED = "completed"
    #: Plivo processed the request and reports FAILED.
    REMOTE_FAILED = "remote_failed"
    #: Still processing when the wait ended (or its status could not be read).
    PENDING = "pending"
    #: Not in the campaign when a wait for it to be linked ended: never linked there, or gone.
    NOT_LISTED = "not_listed"
    #: The server refused the request for this number (4xx).
    REJECTED = "rejected"
    #: No usable answer after retries (5xx, 429, timeouts, connection failures).
    ERROR = "error"
    #: Not a valid US number; never sent.
    INVALID = "invalid"
    #: Never sent, because the job stopped first.
    NOT_ATTEMPTED = "not_attempted"

    @property
    def ok(self) -> bool:
        """Whether the desired state holds or was accepted."""
        return self in _OK_KINDS

    @property
    def meaning(self) -> str:
        """What the kind means, in a few words for people (the CLI's summary shows them)."""
        return _MEANINGS[self]

    def __str__(self) -> str:
        return self.value


_OK_KINDS = frozenset({OutcomeKind.ACCEPTED, OutcomeKind.ALREADY, OutcomeKind.COMPLETED})
_MEANINGS = {
    OutcomeKind.ACCEPTED: "accepted by Plivo; processing goes on at Plivo",
    OutcomeKind.ALREADY: "already in the desired state; nothing to do",
    OutcomeKind.COMPLETED: "done, and confirmed by Plivo",
    OutcomeKind.REMOTE_FAILED: "Plivo processed the request and reports FAILED",
    OutcomeKind.PENDING: "still processing when the wait ended",
    OutcomeKind.NOT_LISTED: "not in the campaign when the wait ended",
    OutcomeKind.REJECTED: "refused by Plivo (4xx)",
    OutcomeKind.ERROR: "no usable answer after retries",
    OutcomeKind.INVALID: "not a valid US number; never sent",
    OutcomeKind.NOT_ATTEMPTED: "never sent: the job stopped first",
}


def _ok_from_kind(self: NumberOutcome) -> bool:
    return self.kind.ok


@attrs.frozen
class NumberOutcome:
    """The outcome of a bulk operation for one number.

    ``number`` is the normalized number (or the raw text when it was invalid); ``ok`` is
    true when the desired state holds or was accepted; ``attempts`` counts the HTTP attempts
    whose request carried this number (0 when it was never sent). ``input`` is the entry
    exactly as given (a non-string entry as its text) and ``index`` its 0-based position in
    the input (the first one, for a repeated number); ``line`` is its 1-based line in the
    file it was read from (:class:`~plivo_numlink.NumberInput` sets it). Each is ``None``
    where not known.
    """

    number: str
    kind: OutcomeKind
    action: str = "link"
    error: str | None = None
    status_code: int | None = None
    api_id: str | None = None
    attempts: int = 0
    #: Plivo's status for the number when known (after a wait, or read by sync).
    status: LinkStatus | None = None
    ok: bool = attrs.field(default=attrs.Factory(_ok_from_kind, takes_self=True))
    input: str | None = None
    index: int | None = None
    line: int | None = None


@attrs.frozen
class DuplicateEntry:
    """An input entry dropped as a repeat of a number already in the job."""

    #: Its 0-based position in the input.
    index: int
    #: The entry exactly as given.
    input: str
    #: The position of the number's first occurrence (the outcome that stands for both).
    first_index: int


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _index_key(number: str) -> str:
    normalized, _ = try_normalize_number(number)
    return normalized if normalized is not None else number


@attrs.frozen
class BulkReport:
    """The outcome of a bulk job: one :class:`NumberOutcome` per distinct input entry."""

    outcomes: tuple[NumberOutcome, ...]
    action: str = "link"
    campaign_id: str = ""
    #: Why the job stopped before the end of its input (401/403, a failing server, ...).
    stopped_reason: str | None = None
    #: Seconds from start to end of the job.
    elapsed: float = 0.0
    #: HTTP attempts sent (every retry counts).
    requests: int = 0
    #: Input entries dropped as repeats of a number already in the job.
    duplicates: int = 0
    #: Outcomes taken from the job's journal rather than from requests made in this run.
    resumed: int = 0
    #: The repeats counted in ``duplicates``, each with its first occurrence (bulk link and
    #: unlink jobs list them; memory grows with the repeats only).
    duplicate_entries: tuple[DuplicateEntry, ...] = ()
    _index: dict[str, NumberOutcome] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_index", {outcome.number: outcome for outcome in self.outcomes})

    @property
    def ok(self) -> bool:
        """True when every outcome is ok (and the job was not stopped)."""
        return self.stopped_reason is None and all(outcome.ok for outcome in self.outcomes)

    @property
    def counts(self) -> dict[str, int]:
        """Outcome kind (its text value) to count, for the kinds present."""
        return dict(Counter(outcome.kind.value for outcome in self.outcomes))

    @property
    def failed(self) -> tuple[NumberOutcome, ...]:
        """The outcomes that are not ok."""
        return tuple(outcome for outcome in self.outcomes if not outcome.ok)

    @property
    def succeeded(self) -> tuple[NumberOutcome, ...]:
        """The outcomes that are ok."""
        return tuple(outcome for outcome in self.outcomes if outcome.ok)

    def __len__(self) -> int:
        return len(self.outcomes)

    def __iter__(self) -> Iterator[NumberOutcome]:
        return iter(self.outcomes)

    def __contains__(self, number: object) -> bool:
        return isinstance(number, str) and _index_key(number) in self._index

    def __getitem__(self, number: str) -> NumberOutcome:
        """The outcome of ``number``, written in any form ``normalize_number`` accepts."""
        try:
            return self._index[_index_key(number)]
        except KeyError:
            raise KeyError(f"no outcome for {number!r} in this report") from None

    def get(self, number: str) -> NumberOutcome | None:
        """The outcome of ``number`` (written in any form), or ``None`` when it has none.

        Like ``report[number]``, without the ``KeyError``.
        """
        try:
            return self[number]
        except KeyError:
            return None

    def summary(self) -> str:
        """A short human text: counts by kind, requests, time, and why it stopped."""
        total = len(self.outcomes)
        ok = sum(1 for outcome in self.outcomes if outcome.ok)
        parts = ", ".join(f"{count} {kind}" for kind, count in sorted(self.counts.items()))
        text = (
            f"{self.action} {self.campaign_id}: {_plural(total, 'number')}, {ok} ok, "
            f"{total - ok} not ok ({parts or 'nothing to do'}); "
            f"{_plural(self.requests, 'request')} in {self.elapsed:.2f} s"
        )
        if self.resumed:
            text += f"; {self.resumed} from the journal"
        if self.duplicates:
            text += f"; {_plural(self.duplicates, 'duplicate entry', 'duplicate entries')} skipped"
        if self.stopped_reason:
            text += f"; stopped: {self.stopped_reason}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (what :meth:`to_json` writes)."""
        data = self.to_dict_without_outcomes()
        data["outcomes"] = [converter.unstructure(outcome) for outcome in self.outcomes]
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON text: :meth:`to_dict`, indented by ``indent`` (None: one line).

        Exact (no spreadsheet escaping); :meth:`write_json` streams a huge report instead.
        """
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self) -> str:
        """One header row, then one row per outcome.

        A cell that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
        ``@``, tab or carriage return) is prefixed with ``'``; :meth:`to_json` stays exact.
        """
        buffer = io.StringIO()
        write_csv(self.outcomes, buffer)
        return buffer.getvalue()

    def write_csv(self, file: IO[str]) -> None:
        """Write :meth:`to_csv`'s text to ``file``, one row at a time."""
        write_csv(self.outcomes, file)

    def write_json(self, file: IO[str]) -> None:
        """Write :meth:`to_json`'s text (indent 2) and a newline, one outcome at a time.

        The same text, but ``to_json`` builds the whole document in memory first (about
        1.8 GB for a million numbers); this holds one outcome at a time.
        """
        outcomes = (converter.unstructure(outcome) for outcome in self.outcomes)
        write_json_object(file, self.to_dict_without_outcomes(), "outcomes", outcomes)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the report to ``path``: CSV when it ends in ``.csv`` (any case), else JSON.

        Written through a new temporary file, then renamed into place
        (:func:`replace_file`): a failure leaves an older file at ``path`` whole, and no
        existing file or planted symbolic link is ever written through.
        """
        csv_file = os.fspath(path).lower().endswith(".csv")
        replace_file(path, self.write_csv if csv_file else self.write_json)

    def to_dict_without_outcomes(self) -> dict[str, Any]:
        """:meth:`to_dict` less its ``outcomes`` list (cheap for any size)."""
        return {
            "action": self.action,
            "campaign_id": self.campaign_id,
            "ok": self.ok,
            "counts": self.counts,
            "stopped_reason": self.stopped_reason,
            "elapsed": round(self.elapsed, 6),
            "requests": self.requests,
            "duplicates": self.duplicates,
            "resumed": self.resumed,
            "duplicate_entries": [converter.unstructure(d) for d in self.duplicate_entries],
        }


CSV_FIELDS = [field.name for field in attrs.fields(NumberOutcome)]

#: What a spreadsheet takes for the start of a formula (or, tab and CR, strips to reach one).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str) -> str:
    """``value`` as a CSV cell that no spreadsheet runs as a formula (``'`` prefixed).

    Cells hold server text (``error``, ``api_id``, ``status``) and invalid input as given;
    ``=HYPERLINK(...)`` or ``-2+3+cmd|...`` would otherwise run when the file is opened.
    A NUL becomes U+FFFD: Python's csv module before 3.11 can neither write nor read one,
    and spreadsheets cut the cell there. JSON exports stay exact.
    """
    if "\0" in value:
        value = value.replace("\0", "\ufffd")
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def write_csv(outcomes: Iterable[NumberOutcome], file: IO[str]) -> None:
    """Write what :meth:`BulkReport.to_csv` returns to ``file``, one row at a time."""
    writer = csv.DictWriter(file, fieldnames=CSV_FIELDS, lineterminator="\n")
    # Before Python 3.13 a lone "\r" is not quoted when lines end in "\n", and readers
    # take it for a line break: a row holding one is written with every field quoted.
    quoting = csv.DictWriter(
        file, fieldnames=CSV_FIELDS, lineterminator="\n", quoting=csv.QUOTE_ALL
    )
    writer.writeheader()
    for outcome in outcomes:
        row = converter.unstructure(outcome)
        values = {
            key: ""
            if value is None
            else neutralise_cell(value)
            if isinstance(value, str)
            else value
            for key, value in ((key, row[key]) for key in CSV_FIELDS)
        }
        carriage_return = any("\r" in str(value) for value in values.values())
        (quoting if carriage_return else writer).writerow(values)


def write_json_object(
    file: IO[str],
    head: dict[str, Any],
    key: str,
    items: Iterable[Any],
    tail: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Write ``{**head, key: [*items], **tail()}`` as ``json.dumps(..., indent=2)`` would, and
    a newline, holding one item at a time: ``tail`` is called once ``items`` is exhausted
    (so it may report what they were). ``head`` must not be empty."""
    file.write(json.dumps(head, indent=2)[: -len("\n}")] + f",\n  {json.dumps(key)}: [")
    separator = "\n    "
    for item in items:
        file.write(separator + json.dumps(item, indent=2).replace("\n", "\n    "))
        separator = ",\n    "
    file.write("]" if separator == "\n    " else "\n  ]")
    rest = tail() if tail is not None else {}
    # json.dumps(rest, indent=2) is '{\n  "name": ...\n}': its lines between the braces.
    file.write(("," + json.dumps(rest, indent=2)[1:-2] if rest else "") + "\n}\n")


def replace_file(path: str | os.PathLike[str], write: Callable[[IO[str]], None]) -> None:
    """Write the text file ``path`` through ``write`` (UTF-8), replacing it only when done.

    The text goes to a new temporary file in ``path``'s directory, created by
    :func:`tempfile.mkstemp` (``O_CREAT | O_EXCL``, a random name: no existing file or
    planted symbolic link is ever opened), then renamed over ``path`` with :func:`os.replace`
    (a symbolic link at ``path`` is replaced, not followed). On any failure ``path`` is left
    as it was and the temporary file is removed. The new file takes the mode of the regular
    file it replaces, else ``0o666`` less the umask, as ``open()`` would give it.
    """
    target = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(target)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        try:
            mode = os.stat(target, follow_symlinks=False)
            permissions = mode.st_mode & 0o777 if os.path.isfile(target) else None
        except OSError:
            permissions = None
        if permissions is None:
            umask = os.umask(0o022)  # read it (there is no other portable way), then restore
            os.umask(umask)
            permissions = 0o666 & ~umask
        if hasattr(os, "fchmod"):  # not on Windows, where mkstemp's file is fine as made
            os.fchmod(descriptor, permissions)
        with open(descriptor, "w", encoding="utf-8", newline="") as file:
            descriptor = -1  # the file object owns it now
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        if descriptor != -1:
            os.close(descriptor)
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
