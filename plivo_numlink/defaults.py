"""The library's defaults, in one public place (``from plivo_numlink import defaults``).

``NumLinkSession`` and its bulk calls use these when an argument is not given.
"""

from __future__ import annotations

from ._bulk import DEFAULT_BATCH_SIZE as BATCH_SIZE
from ._bulk import DEFAULT_POLL_INTERVAL as POLL_INTERVAL
from ._bulk import DEFAULT_WAIT_TIMEOUT as WAIT_TIMEOUT
from ._sansio import DEFAULT_BASE_URL as BASE_URL
from ._session import DEFAULT_CONCURRENCY as CONCURRENCY
from ._session import DEFAULT_RATE_LIMIT as RATE_LIMIT
from ._session import DEFAULT_TIMEOUT as TIMEOUT

__all__ = [
    "BASE_URL",
    "BATCH_SIZE",
    "CONCURRENCY",
    "POLL_INTERVAL",
    "RATE_LIMIT",
    "TIMEOUT",
    "WAIT_TIMEOUT",
]
