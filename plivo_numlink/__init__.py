"""plivo_numlink: an asyncio client for Plivo's 10DLC Number Linking API."""

from ._bulk import BulkRun
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
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
from ._models import CampaignNumbers, LinkAck, LinkStatus, NumberStatus
from ._numbers import normalize_number
from ._report import BulkReport, NumberOutcome, OutcomeKind
from ._retry import RetryPolicy
from ._session import ConfigurationError, NumLinkSession
from ._version import __version__

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "BulkReport",
    "BulkRun",
    "CampaignNumbers",
    "ConfigurationError",
    "ForbiddenError",
    "InvalidNumberError",
    "LinkAck",
    "LinkStatus",
    "NotFoundError",
    "NumLinkSession",
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
    "normalize_number",
]
