"""The journal's file: its SQLite layout, the finality rule, and the synchronous reads and
writes that :class:`~plivo_numlink._journal.Journal` runs on its worker thread.

Nothing here knows about the event loop; a :class:`JournalStore` is used from one thread.
"""

from __future__ import annotations

import json
import operator
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ._errors import JournalError
from ._models import converter
from ._report import NumberOutcome, OutcomeKind

if sys.platform == "win32":  # pragma: no cover - not tested here
    import msvcrt

    def _lock(descriptor: int) -> None:
        msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)


__all__ = [
    "FORMAT_VERSION",
    "LOCK_SUFFIX",
    "JournalError",
    "JournalHeader",
    "JournalStore",
    "is_final",
]

#: The file layout this module writes; a file with a higher version is refused.
FORMAT_VERSION = 1
#: SQLite's header field for "which application owns this file": "PNLJ".
_APPLICATION_ID = 0x504E4C4A
#: The lock file beside a journal (``job.db`` -> ``job.db.lock``): held by the run using it.
LOCK_SUFFIX = ".lock"
#: Keys per lookup query: SQLite before 3.32 allows at most 999 parameters per statement.
_MAX_PARAMS = 500

#: Kinds that settle an entry for good: the request was answered, and sending it again would
#: get the same answer (or, for INVALID, the entry was never sendable).
_FINAL_KINDS = frozenset(
    {
        OutcomeKind.ACCEPTED,
        OutcomeKind.ALREADY,
        OutcomeKind.COMPLETED,
        OutcomeKind.REJECTED,
        OutcomeKind.INVALID,
        OutcomeKind.REMOTE_FAILED,
    }
)
#: Refusals about the caller's credentials or rights, not about the number: once the caller
#: has fixed them, a resumed job must send these numbers again.
_CALLER_STATUS_CODES = frozenset({401, 403})

_SCHEMA = """
CREATE TABLE journal_header (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    format INTEGER NOT NULL,
    account TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    action TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE outcomes (
    key TEXT PRIMARY KEY,
    final INTEGER NOT NULL,
    outcome TEXT NOT NULL
) WITHOUT ROWID;
"""


_structure_outcome: Callable[[Any, type[NumberOutcome]], NumberOutcome] = (
    converter.get_structure_hook(NumberOutcome)
)
_encode = json.JSONEncoder(separators=(",", ":")).encode
_unstructure: Callable[[NumberOutcome], dict[str, Any]] = converter.get_unstructure_hook(
    NumberOutcome
)
#: Fields not stored: ``number`` is the row's key, and the entry's text, position and line in
#: its input belong to the run that reads it, not to the outcome it settled.
_NOT_STORED = ("number", "input", "index", "line")
_shape_of: Callable[[NumberOutcome], tuple[Any, ...]] = operator.attrgetter(
    *(field.name for field in attrs.fields(NumberOutcome) if field.name not in _NOT_STORED)
)


def is_final(outcome: NumberOutcome) -> bool:
    """Whether ``outcome`` settles its entry for good, so a resumed job must not send it again.

    Final: ACCEPTED, ALREADY and COMPLETED (the desired state holds or was accepted),
    REJECTED (the server refused this number: 4xx), REMOTE_FAILED (Plivo processed the
    request and reports FAILED) and INVALID (never sendable).

    Not final, sent again by a resumed job: ERROR (no usable answer, or interrupted while in
    flight), NOT_ATTEMPTED (never sent), PENDING and NOT_LISTED (a wait's findings), and a
    REJECTED whose status is 401 or 403 (the credentials or the account's rights were refused,
    which says nothing about the number).
    """
    if outcome.kind not in _FINAL_KINDS:
        return False
    return not (
        outcome.kind is OutcomeKind.REJECTED and outcome.status_code in _CALLER_STATUS_CODES
    )


@attrs.frozen
class JournalHeader:
    """What a journal belongs to, written once when the file is made."""

    account: str
    campaign_id: str
    action: str
    #: When the journal was made: ISO 8601, UTC.
    created: str
    format: int = FORMAT_VERSION


class JournalStore:
    """An open journal file. Use from one thread at a time (the journal's worker thread)."""

    def __init__(
        self, path: Path, connection: sqlite3.Connection, header: JournalHeader, lock: int = -1
    ) -> None:
        self.path = path
        self.connection = connection
        self.header = header
        self._file_id = _file_id(path)
        #: The descriptor of the held lock file (-1: none); closing it ends the lease.
        self._lock = lock

    @classmethod
    def open(cls, path: Path, wanted: JournalHeader) -> JournalStore:
        """Open or make the journal at ``path`` for the job ``wanted`` describes.

        The run holds the journal until :meth:`close`: an exclusive ``flock`` on the lock file
        beside it (``path`` + ``.lock``), which the operating system releases when the
        process ends however it ends. A second opening, from this or any process on the
        machine, raises :class:`JournalError` while the first is open. The file is also
        checked writable (a write transaction, rolled back) before this returns.

        ``ValueError`` for a file of another job, not a journal, or of a newer format;
        :class:`JournalError` for a file that cannot be opened, written or held.
        """
        if path.is_dir():
            raise JournalError(f"cannot open journal {path}: it is a directory")
        lock = _hold(path)
        try:
            # Autocommit mode: the store issues BEGIN and COMMIT itself. The thread check is
            # off so that a cancelled open can be closed from the thread that gave up on it.
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            os.close(lock)
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        try:
            header = _prepare(connection, path, wanted)
            _check_writable(connection, path)
            return cls(path, connection, header, lock)
        except BaseException:
            connection.close()
            os.close(lock)
            raise

    def close(self) -> None:
        try:
            self.connection.close()
        finally:
            if self._lock != -1:
                lock, self._lock = self._lock, -1
                os.close(lock)

    def write(self, batch: list[NumberOutcome]) -> None:
        """Store ``batch`` in one transaction, each outcome replacing its key's earlier one."""
        # An open file that was deleted or replaced still accepts writes on POSIX: they
        # would go nowhere a later run can find. Check before each commit (one stat).
        try:
            same = _file_id(self.path) == self._file_id
        except OSError:
            same = False
        if not same:
            raise JournalError(f"journal file {self.path} was removed or replaced")
        rows = []
        # The numbers of one request share the rest of their outcome (kind, api_id, status,
        # attempts): encode each such shape once, found by its stored fields' values (read
        # directly: unstructuring every outcome to find its shape would be most of the cost).
        shapes: dict[tuple[Any, ...], tuple[int, str]] = {}
        for outcome in batch:
            shape = _shape_of(outcome)
            try:
                stored = shapes.get(shape)
            except TypeError:  # pragma: no cover - a field holding a list: shared by none
                shape, stored = (id(outcome),), None
            if stored is None:
                # Fields at their default are left out (read back as defaults): shorter rows
                # are most of what a commit costs.
                data = {
                    name: value
                    for name, value in _unstructure(outcome).items()
                    if name not in _NOT_STORED and value is not None
                }
                if data.get("ok") == outcome.kind.ok:
                    del data["ok"]
                stored = shapes[shape] = (1 if is_final(outcome) else 0, _encode(data))
            rows.append((outcome.number, *stored))
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(
                "INSERT OR REPLACE INTO outcomes (key, final, outcome) VALUES (?, ?, ?)", rows
            )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def final_outcomes(self, keys: list[str]) -> dict[str, NumberOutcome]:
        """The final outcomes stored for ``keys``: one query per 500 keys."""
        found: dict[str, NumberOutcome] = {}
        # Numbers settled by one request share their stored text: parse each text once.
        parsed: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), _MAX_PARAMS):
            chunk = keys[start : start + _MAX_PARAMS]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, outcome FROM outcomes WHERE final = 1 AND key IN ({marks})"
            for key, text in self.connection.execute(query, chunk):
                outcome = self._decode(key, text, parsed)
                # The stored flag is an index; the rule itself may have grown stricter since.
                if is_final(outcome):
                    found[key] = outcome
        return found

    def _decode(self, key: str, text: str, parsed: dict[str, dict[str, Any]]) -> NumberOutcome:
        try:
            data = parsed.get(text)
            if data is None:
                data = parsed[text] = json.loads(text)
            return _structure_outcome({**data, "number": key}, NumberOutcome)
        except Exception as exc:
            raise JournalError(
                f"journal {self.path.name} holds an unreadable outcome for {key!r}: {exc}"
            ) from exc

    def counts(self) -> tuple[int, int]:
        """How many entries are stored, and how many of them are final."""
        row = self.connection.execute(
            "SELECT count(*), coalesce(sum(final), 0) FROM outcomes"
        ).fetchone()
        return int(row[0]), int(row[1])


def _hold(path: Path) -> int:
    """Take the journal's lease: an exclusive lock on its lock file, or JournalError.

    The lock file is opened without following a symbolic link, and left in place when the
    run ends (removing it could let two runs lock two different files).
    """
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(lock_path, flags, 0o666)
    except OSError as exc:
        why = exc.strerror or exc
        raise JournalError(f"cannot open journal {path}: its lock file {lock_path}: {why}") from exc
    try:
        _lock(descriptor)
    except OSError as exc:
        os.close(descriptor)
        raise JournalError(
            f"journal {path} is in use by another run (its lock file {lock_path.name} is held):"
            " one run at a time per journal; wait for that run to end"
        ) from exc
    return descriptor


def _check_writable(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a journal that cannot be written (read-only file or directory) before any
    request is sent: a write transaction, rolled back."""
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("UPDATE journal_header SET format = format")
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise _unwritable(path, exc) from exc


def _unwritable(path: Path, exc: sqlite3.Error) -> JournalError:
    return JournalError(
        f"journal {path} cannot be written: {exc} (check the permissions of the file and of"
        " its directory)"
    )


def _file_id(path: Path) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def _prepare(connection: sqlite3.Connection, path: Path, wanted: JournalHeader) -> JournalHeader:
    name = path.name
    try:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        if application_id != _APPLICATION_ID:
            _create(connection, name, wanted)
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > FORMAT_VERSION:
            raise ValueError(
                f"journal {name} has format {version}, newer than this library's"
                f" ({FORMAT_VERSION}): use a newer plivo-numlink or another journal"
            )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        row = connection.execute(
            "SELECT account, campaign_id, action, created, format FROM journal_header"
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            raise ValueError(f"{name} is not a plivo-numlink journal: {exc}") from exc
        if "readonly" in str(exc):  # WAL mode needs the -wal and -shm files beside it
            raise _unwritable(path, exc) from exc
        raise JournalError(f"cannot open journal {path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        # SQLITE_NOTADB and friends: the file is something else altogether.
        raise ValueError(f"{name} is not a plivo-numlink journal: {exc}") from exc
    if row is None:
        raise ValueError(f"{name} is not a plivo-numlink journal: it has no header")
    header = JournalHeader(*row)
    mismatches = [
        f"{what} {stored!r}, not {asked!r}"
        for what, stored, asked in (
            ("account", header.account, wanted.account),
            ("campaign", header.campaign_id, wanted.campaign_id),
            ("operation", header.action, wanted.action),
        )
        if stored != asked
    ]
    if mismatches:
        raise ValueError(f"journal {name} belongs to " + "; ".join(mismatches))
    return header


def _create(connection: sqlite3.Connection, name: str, wanted: JournalHeader) -> None:
    """Lay out a new journal in an empty database, or refuse a database that is not one."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Checked again inside the write lock: another process may have made it meanwhile.
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        if application_id == _APPLICATION_ID:
            connection.execute("ROLLBACK")
            return
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise ValueError(
                f"{name} is not a plivo-numlink journal: an SQLite database of something else"
            )
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute(
            "INSERT INTO journal_header (id, format, account, campaign_id, action, created)"
            " VALUES (1, ?, ?, ?, ?, ?)",
            (FORMAT_VERSION, wanted.account, wanted.campaign_id, wanted.action, wanted.created),
        )
        connection.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
