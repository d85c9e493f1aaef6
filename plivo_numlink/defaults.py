"""The library's defaults, in one public place (``from plivo_numlink import defaults``).

``NumLinkSession`` and its bulk calls use these when an argument is not given:
``BASE_URL`` (when ``PLIVO_NUMLINK_BASE_URL`` is not set either), ``CONCURRENCY``,
``RATE_LIMIT`` (requests per second), ``TIMEOUT`` (seconds per HTTP attempt),
``BATCH_SIZE`` (numbers per link request), ``WAIT_TIMEOUT``, ``POLL_INTERVAL`` and
``MAX_POLL_INTERVAL`` (seconds, for waiting on Plivo's processing).
"""

from __future__ import annotations

from ._config import DEFAULT_BASE_URL as BASE_URL
from ._config import DEFAULT_BATCH_SIZE as BATCH_SIZE
from ._config import DEFAULT_CONCURRENCY as CONCURRENCY
from ._config import DEFAULT_MAX_POLL_INTERVAL as MAX_POLL_INTERVAL
from ._config import DEFAULT_POLL_INTERVAL as POLL_INTERVAL
from ._config import DEFAULT_RATE_LIMIT as RATE_LIMIT
from ._config import DEFAULT_TIMEOUT as TIMEOUT
from ._config import DEFAULT_WAIT_TIMEOUT as WAIT_TIMEOUT

__all__ = [
    "BASE_URL",
    "BATCH_SIZE",
    "CONCURRENCY",
    "MAX_POLL_INTERVAL",
    "POLL_INTERVAL",
    "RATE_LIMIT",
    "TIMEOUT",
    "WAIT_TIMEOUT",
]
