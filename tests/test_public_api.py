"""The public surface is exactly what is meant to be public (as httpx checks its own)."""

from __future__ import annotations

import plivo_numlink as pn
from plivo_numlink import callbacks, testing

#: The names ../shared/API.md fixes; users and acceptance tests rely on them.
CONTRACT = {
    "NumLinkSession",
    "RetryPolicy",
    "LinkAck",
    "CampaignNumbers",
    "NumberStatus",
    "LinkStatus",
    "BulkReport",
    "NumberOutcome",
    "PlivoError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "ForbiddenError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "TransportError",
    "InvalidNumberError",
}

#: What this library adds on top of the contract (each one in CHANGELOG.md).
ADDITIONS = {
    "__version__",
    "BulkRun",
    "OutcomeKind",
    "ConfigurationError",
    "ResponseFormatError",
    "SessionClosedError",
    "normalize_number",
    "validate_campaign_id",
    "CampaignNotFoundError",
    "defaults",
    "NumberInput",
    "StorageError",
    "JournalError",
    "DuplicateEntry",
    "SessionStats",
}

#: Names that left __all__ in 0.2 (see CHANGELOG.md) but stay importable for 0.1 code.
REMOVED_BUT_IMPORTABLE = {
    "is_already_in_state",
    "DEFAULT_BASE_URL",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_TIMEOUT",
}


def test_all_is_exactly_the_contract_and_the_documented_additions() -> None:
    assert set(pn.__all__) == CONTRACT | ADDITIONS


def test_every_public_name_is_importable() -> None:
    for name in pn.__all__:
        assert hasattr(pn, name), name


def test_names_that_left_all_are_still_importable() -> None:
    assert not REMOVED_BUT_IMPORTABLE & set(pn.__all__)
    for name in REMOVED_BUT_IMPORTABLE:
        assert hasattr(pn, name), name
    assert pn.DEFAULT_BATCH_SIZE == pn.defaults.BATCH_SIZE


def test_the_defaults_namespace_holds_every_default() -> None:
    assert pn.defaults.BASE_URL == pn.DEFAULT_BASE_URL
    assert pn.defaults.CONCURRENCY == pn.DEFAULT_CONCURRENCY
    assert pn.defaults.RATE_LIMIT == pn.DEFAULT_RATE_LIMIT
    assert pn.defaults.TIMEOUT == pn.DEFAULT_TIMEOUT


def test_callbacks_module_offers_the_contract_names() -> None:
    for name in ("is_valid_signature", "parse_event", "handler", "CallbackEvent"):
        assert name in callbacks.__all__


def test_testing_module_offers_the_fake_server() -> None:
    assert "FakePlivo" in testing.__all__


def test_invalid_number_error_is_a_value_error() -> None:
    assert issubclass(pn.InvalidNumberError, ValueError)


def test_status_errors_share_the_api_status_error_base() -> None:
    for cls in (
        pn.BadRequestError,
        pn.AuthenticationError,
        pn.ForbiddenError,
        pn.NotFoundError,
        pn.RateLimitError,
        pn.ServerError,
    ):
        assert issubclass(cls, pn.APIStatusError)
        assert issubclass(cls, pn.PlivoError)
    assert issubclass(pn.TransportError, pn.PlivoError)
    assert not issubclass(pn.TransportError, pn.APIStatusError)


def test_version_is_the_packaged_version() -> None:
    from importlib.metadata import version

    assert pn.__version__ == version("plivo-numlink")
