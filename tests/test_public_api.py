"""The public surface is exactly what is meant to be public (as httpx checks its own)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

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
    "CertificateVerificationError",
    "ProxyAuthenticationError",
    "AlreadyInStateError",
    "SessionStats",
}

#: Names that left __all__ in 0.2, deprecated in 0.3 (docs/api-policy.md): each still works,
#: with a DeprecationWarning naming what to use instead, until 0.4.
DEPRECATED = {
    "is_already_in_state": "OutcomeKind.ALREADY",
    "DEFAULT_BASE_URL": "plivo_numlink.defaults.BASE_URL",
    "DEFAULT_BATCH_SIZE": "plivo_numlink.defaults.BATCH_SIZE",
    "DEFAULT_CONCURRENCY": "plivo_numlink.defaults.CONCURRENCY",
    "DEFAULT_RATE_LIMIT": "plivo_numlink.defaults.RATE_LIMIT",
    "DEFAULT_TIMEOUT": "plivo_numlink.defaults.TIMEOUT",
}


def test_all_is_exactly_the_contract_and_the_documented_additions() -> None:
    assert set(pn.__all__) == CONTRACT | ADDITIONS


def test_every_public_name_is_importable() -> None:
    for name in pn.__all__:
        assert hasattr(pn, name), name


def test_importing_public_names_warns_of_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in pn.__all__:
            getattr(pn, name)
        exec("from plivo_numlink import *", {})


def test_deprecated_names_are_not_public() -> None:
    assert not set(DEPRECATED) & set(pn.__all__)


@pytest.mark.parametrize(("name", "replacement"), sorted(DEPRECATED.items()))
def test_a_deprecated_name_still_works_with_a_deprecation_warning(
    name: str, replacement: str
) -> None:
    with pytest.warns(DeprecationWarning, match=rf"plivo_numlink\.{name} is deprecated") as seen:
        getattr(pn, name)
    assert replacement in str(seen[0].message)
    assert seen[0].filename == __file__  # the warning points at the caller's line


def test_a_deprecated_name_imported_with_from_warns_too() -> None:
    with pytest.warns(DeprecationWarning, match="defaults.BATCH_SIZE"):
        from plivo_numlink import DEFAULT_BATCH_SIZE
    assert DEFAULT_BATCH_SIZE == pn.defaults.BATCH_SIZE


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_deprecated_defaults_keep_their_values() -> None:
    assert pn.defaults.BASE_URL == pn.DEFAULT_BASE_URL
    assert pn.defaults.BATCH_SIZE == pn.DEFAULT_BATCH_SIZE
    assert pn.defaults.CONCURRENCY == pn.DEFAULT_CONCURRENCY
    assert pn.defaults.RATE_LIMIT == pn.DEFAULT_RATE_LIMIT
    assert pn.defaults.TIMEOUT == pn.DEFAULT_TIMEOUT
    not_linked = pn.BadRequestError(
        "The number 12125557777 is not linked to this campaign", status_code=400
    )
    assert pn.is_already_in_state("unlink", not_linked) is True


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'DEFAULT_NOTHING'"):
        pn.DEFAULT_NOTHING  # noqa: B018


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


def test_the_changelogs_latest_release_is_the_packaged_version() -> None:
    text = (Path(__file__).resolve().parent.parent / "CHANGELOG.md").read_text(encoding="utf-8")
    latest = re.search(r"^## \[(\d+\.\d+\.\d+)\]", text, re.MULTILINE)
    assert latest is not None
    assert latest.group(1) == pn.__version__
