"""The unlinks a session sent and has not yet seen finish (see ``_relink.py`` for why)."""

from __future__ import annotations

import weakref
from collections import OrderedDict

from .._transport import Requester

__all__ = ["UnlinkBook", "unlink_book"]


class UnlinkBook:
    """The unlinks a session sent that it has not yet seen finish (at most ``limit``)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._pending: OrderedDict[tuple[str, str], None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def sent(self, campaign_id: str, number: str) -> None:
        self._pending[(campaign_id, number)] = None
        while len(self._pending) > self.limit:
            self._pending.popitem(last=False)

    def done(self, campaign_id: str, number: str) -> None:
        """The number was seen gone from the campaign, or linked again."""
        self._pending.pop((campaign_id, number), None)

    def pending(self, campaign_id: str, number: str) -> bool:
        return (campaign_id, number) in self._pending


_BOOKS: weakref.WeakKeyDictionary[Requester, UnlinkBook] = weakref.WeakKeyDictionary()


def unlink_book(requester: Requester) -> UnlinkBook:
    """The book of ``requester`` (one per session)."""
    book = _BOOKS.get(requester)
    if book is None:
        book = _BOOKS[requester] = UnlinkBook()
    return book
