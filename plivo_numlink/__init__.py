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

from __future__ import annotations

import warnings
from typing import Any

from . import _config, _protocol, defaults
from ._bulk import BulkRun
from ._errors import (
    AlreadyInStateError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CampaignNotFoundError,
    CertificateVerificationError,
    ConfigurationError,
    ForbiddenError,
    InvalidNumberError,
    JournalError,
    NotFoundError,
    PlivoError,
    ProxyAuthenticationError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    SessionClosedError,
    TransportError,
)
from ._input import NumberInput
from ._models import CampaignNumbers, LinkAck, LinkStatus, NumberStatus
from ._numbers import normalize_number, validate_campaign_id
from ._report import BulkReport, DuplicateEntry, NumberOutcome, OutcomeKind
from ._retry import RetryPolicy
from ._session import NumLinkSession
from ._storage import StorageError
from ._telemetry import SessionStats
from ._version import __version__

__all__ = [
    "APIStatusError",
    "AlreadyInStateError",
    "AuthenticationError",
    "BadRequestError",
    "BulkReport",
    "BulkRun",
    "CampaignNotFoundError",
    "CampaignNumbers",
    "CertificateVerificationError",
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
    "ProxyAuthenticationError",
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

#: Names of 0.1 that left __all__ in 0.2, deprecated in 0.3: each still works, with a
#: DeprecationWarning, until 0.4 (docs/api-policy.md): name -> (home, attribute, replacement).
_DEPRECATED: dict[str, tuple[object, str, str]] = {
    "DEFAULT_BASE_URL": (_config, "DEFAULT_BASE_URL", "plivo_numlink.defaults.BASE_URL"),
    "DEFAULT_BATCH_SIZE": (_config, "DEFAULT_BATCH_SIZE", "plivo_numlink.defaults.BATCH_SIZE"),
    "DEFAULT_CONCURRENCY": (
        _config,
        "DEFAULT_CONCURRENCY",
        "plivo_numlink.defaults.CONCURRENCY",
    ),
    "DEFAULT_RATE_LIMIT": (_config, "DEFAULT_RATE_LIMIT", "plivo_numlink.defaults.RATE_LIMIT"),
    "DEFAULT_TIMEOUT": (_config, "DEFAULT_TIMEOUT", "plivo_numlink.defaults.TIMEOUT"),
    "is_already_in_state": (
        _protocol,
        "is_already_in_state",
        "the bulk calls' outcome kind OutcomeKind.ALREADY",
    ),
}


def __getattr__(name: str) -> Any:
    """The deprecated 0.1 names, each with a DeprecationWarning naming its replacement."""
    try:
        module, attribute, replacement = _DEPRECATED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    warnings.warn(
        f"plivo_numlink.{name} is deprecated since 0.3 and will be removed in 0.4: "
        f"use {replacement}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(module, attribute)
