"""Pins on settings that a mutation sample found unpinned (issue 18): a wait policy's
progress callback takes no part in its equality."""

from __future__ import annotations

import pytest

from plivo_numlink._config import WaitPolicy


def test_wait_policies_differing_only_in_their_progress_callback_are_equal() -> None:
    def one(done: int, pending: int) -> None:
        return None

    def other(done: int, pending: int) -> None:
        return None

    assert WaitPolicy(60, 2, one) == WaitPolicy(60, 2, other) == WaitPolicy(60, 2)
    assert hash(WaitPolicy(60, 2, one)) == hash(WaitPolicy(60, 2))
    assert WaitPolicy(60, 2, one) != WaitPolicy(60, 3, one)


def test_a_bad_wait_timeout_is_named_timeout() -> None:
    with pytest.raises(ValueError, match=r"^timeout must be a number >= 0, not -1$"):
        WaitPolicy.checked(-1, 2)
    with pytest.raises(ValueError, match=r"^poll_interval must be a number >= 0, not -2$"):
        WaitPolicy.checked(1, -2)


def test_a_base_url_s_credentials_are_shown_as_stars_in_its_error() -> None:
    from plivo_numlink._config import validate_base_url

    with pytest.raises(ValueError) as caught:
        validate_base_url("https://user:hunter2@api.plivo.com")
    assert str(caught.value) == (
        "base_url 'https://***@api.plivo.com' must not carry credentials, a query or fragment"
    )


def test_a_base_url_loses_its_trailing_slashes_only() -> None:
    from plivo_numlink._config import validate_base_url

    assert validate_base_url("http://127.0.0.1:8080/prefiX//") == "http://127.0.0.1:8080/prefiX"


def test_a_token_that_is_not_a_string_is_refused_by_name() -> None:
    from plivo_numlink import ConfigurationError
    from plivo_numlink._config import SessionConfig

    with pytest.raises(ConfigurationError) as caught:
        SessionConfig.build("MA0123456789ABCDEFGH", 12345)
    assert str(caught.value) == "auth_token must be a string"
