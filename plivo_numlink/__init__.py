"""plivo_numlink: an asyncio client for Plivo's 10DLC Number Linking API.

Everything public is importable from here (``import plivo_numlink as pn``); the defaults
are in :mod:`plivo_numlink.defaults`, status callbacks in :mod:`plivo_numlink.callbacks`
and the fake server for tests in :mod:`plivo_numlink.testing`.

The layout, each layer using only the ones below it::

    _session       NumLinkSession: a facade (lifecycle, the four endpoints, bulk calls)
    _bulk/         the bulk engine: pool, job ledger, link/unlink strategies, wait, sync
    _endpoints     the four endpoints as calls over the transport
    _transport     the Requester: HTTP, concurrency, pacing, body cap, the attempt counter
    _protocol      sans-I/O: paths, headers, answers, and what error answers mean
    _retry, _pacing, _config, _report, _models, _numbers, _errors, _log
    _telemetry     OpenTelemetry traces and metrics (optional), and the session's stats
"""

from . import defaults
from ._bulk import BulkRun

# Kept importable (no longer in __all__) for code written against 0.1: use
# plivo_numlink.defaults and the session's own classification instead.
from ._config import (  # noqa: F401
    DEFAULT_BASE_URL,
    DEFAULT_BATCH_SIZE,
    DEFAULT_CONCURRENCY,
    DEFAULT_RATE_LIMIT,
    DEFAULT_TIMEOUT,
)
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CampaignNotFoundError,
    ConfigurationError,
    ForbiddenError,
    InvalidNumberError,
    JournalError,
    NotFoundError,
    PlivoError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    SessionClosedError,
    TransportError,
)
from ._input import NumberInput
from ._models import CampaignNumbers, LinkAck, LinkStatus, NumberStatus
from ._numbers import normalize_number, validate_campaign_id
from ._protocol import is_already_in_state  # noqa: F401
from ._report import BulkReport, DuplicateEntry, NumberOutcome, OutcomeKind
from ._retry import RetryPolicy
from ._session import NumLinkSession
from ._storage import StorageError
from ._telemetry import SessionStats
from ._version import __version__

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "BulkReport",
    "BulkRun",
    "CampaignNotFoundError",
    "CampaignNumbers",
    "ConfigurationError",
    "DuplicateEntry",
    "ForbiddenError",
    "InvalidNumberError",
    "JournalError",
    "LinkAck",
    "LinkStatus",
    "NotFoundError",
    "NumLinkSession",
    "NumberInput",
    "NumberOutcome",
    "NumberStatus",
    "OutcomeKind",
    "PlivoError",
    "RateLimitError",
    "ResponseFormatError",
    "RetryPolicy",
    "ServerError",
    "SessionClosedError",
    "SessionStats",
    "StorageError",
    "TransportError",
    "__version__",
    "defaults",
    "normalize_number",
    "validate_campaign_id",
]
