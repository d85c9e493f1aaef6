"""plivo_numlink: an asyncio client for Plivo's 10DLC Number Linking API."""

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
from ._version import __version__

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "CampaignNumbers",
    "ForbiddenError",
    "InvalidNumberError",
    "LinkAck",
    "LinkStatus",
    "NotFoundError",
    "NumberStatus",
    "PlivoError",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
    "SessionClosedError",
    "TransportError",
    "__version__",
    "normalize_number",
]
