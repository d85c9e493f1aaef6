"""plivo_numlink: an asyncio client for Plivo's 10DLC Number Linking API.

Everything public is importable from here (``import plivo_numlink as pn``); status
callbacks live in :mod:`plivo_numlink.callbacks` and the fake server for tests in
:mod:`plivo_numlink.testing`.
"""

from . import defaults
from ._bulk import DEFAULT_BATCH_SIZE, BulkRun, is_already_in_state
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CampaignNotFoundError,
    ForbiddenError,
    InvalidNumberError,
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
from ._report import BulkReport, NumberOutcome, OutcomeKind
from ._retry import RetryPolicy
from ._sansio import DEFAULT_BASE_URL
from ._session import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RATE_LIMIT,
    DEFAULT_TIMEOUT,
    ConfigurationError,
    NumLinkSession,
)
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_TIMEOUT",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "BulkReport",
    "BulkRun",
    "CampaignNotFoundError",
    "CampaignNumbers",
    "ConfigurationError",
    "ForbiddenError",
    "InvalidNumberError",
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
    "TransportError",
    "__version__",
    "defaults",
    "is_already_in_state",
    "normalize_number",
    "validate_campaign_id",
]
