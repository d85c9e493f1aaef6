"""A bulk call's input: any iterable or async iterable, read lazily, checked entry by entry."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from .._numbers import try_normalize_number
from .._report import NumberOutcome, OutcomeKind

__all__ = ["Distinct", "entry_key", "entry_text", "open_input", "read_distinct"]


def entry_key(raw: object, number: str | None) -> str:
    """How an input entry is known in a report: its number, else its own text.

    An entry that is not a string is shown by its ``repr``, unless that reads as a valid
    number: the integer 12125557777 must not take the place of the string "12125557777"
    (which would then be dropped as its duplicate and never sent).
    """
    if number is not None:
        return number
    if isinstance(raw, str):
        return raw
    text = repr(raw)
    if try_normalize_number(text)[0] is not None:
        return f"{type(raw).__name__}({text})"
    return text


class Distinct:
    """The first occurrence of each input entry, by :func:`entry_key`; repeats are counted.

    (A bulk link or unlink keeps its own ledger of keys, with the positions it reports.)
    """

    __slots__ = ("_seen", "duplicates")

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self.duplicates = 0

    def first(self, raw: object) -> tuple[str, str | None, str | None] | None:
        """``(key, number or None, why invalid)`` for a new entry; ``None`` for a repeat."""
        number, reason = try_normalize_number(raw)
        key = entry_key(raw, number)
        if key in self._seen:
            self.duplicates += 1
            return None
        self._seen.add(key)
        return key, number, reason


def entry_text(raw: object) -> str:
    """An input entry as text, exactly as given (``NumberOutcome.input``)."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "backslashreplace")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    return repr(raw)


async def _aiter(numbers: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(numbers, AsyncIterable):
        async for item in numbers:
            yield item
    else:
        for item in numbers:
            yield item


def open_input(numbers: Any) -> tuple[AsyncIterator[Any] | None, Iterator[Any] | None]:
    """The input as ``(async iterator, None)`` or, when it is synchronous, ``(None, iterator)``.

    A synchronous input is read directly (no async generator per entry), also by a stopped
    job that reads the rest of it without an event loop.
    """
    if isinstance(numbers, str | bytes):
        # One number, not an iterable of characters.
        numbers = [numbers]
    if isinstance(numbers, AsyncIterable):
        return _aiter(numbers), None
    if not isinstance(numbers, Iterable):
        raise TypeError(
            f"numbers must be an iterable or async iterable of strings, "
            f"not {type(numbers).__name__}"
        )
    return None, iter(numbers)


def as_async(numbers: Any) -> AsyncIterator[Any]:
    """The input as one async iterator (for the calls that read it whole)."""
    async_input, sync_input = open_input(numbers)
    if async_input is not None:
        return async_input
    assert sync_input is not None
    return _aiter(sync_input)


async def read_distinct(
    numbers: Iterable[str] | AsyncIterable[str],
) -> tuple[list[str], list[NumberOutcome], int]:
    """Read a whole input: (valid distinct numbers, keyed order incl. invalid, duplicates)."""
    order: list[NumberOutcome] = []
    valid: list[str] = []
    distinct = Distinct()
    async for raw in as_async(numbers):
        entry = distinct.first(raw)
        if entry is None:
            continue
        key, number, reason = entry
        if number is None:
            order.append(NumberOutcome(number=key, kind=OutcomeKind.INVALID, error=reason))
        else:
            valid.append(number)
            order.append(NumberOutcome(number=number, kind=OutcomeKind.PENDING))
    return valid, order, distinct.duplicates
