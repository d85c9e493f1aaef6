"""Storage URIs: which schemes name which storage, and the password never shows."""

from __future__ import annotations

import logging
import sys

import pytest

from plivo_numlink import PlivoError
from plivo_numlink._storage import (
    STORAGE_ENV,
    ConfigurationError,
    RedisConfig,
    RedisStorage,
    account_key,
    open_storage,
    parse_storage_uri,
    redact_uri,
)

PASSWORD = "pw-SeCrEt-4711"


@pytest.mark.parametrize("uri", [None, "", "  ", "memory://", "MEMORY://", "memory:///"])
def test_no_storage_or_memory_means_in_process(uri: str | None) -> None:
    assert parse_storage_uri(uri) is None
    assert open_storage(uri) is None


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("redis://localhost", RedisConfig("localhost")),
        ("redis://localhost/", RedisConfig("localhost")),
        ("redis://cache.internal:6380/2", RedisConfig("cache.internal", 6380, 2)),
        ("REDIS://Cache.Internal:6380/2", RedisConfig("cache.internal", 6380, 2)),
        ("rediss://cache:6390/1", RedisConfig("cache", 6390, 1, tls=True)),
        ("redis://[::1]:7000/3", RedisConfig("::1", 7000, 3)),
        ("redis://app@cache/0", RedisConfig("cache", username="app")),
    ],
)
def test_redis_uris_parse(uri: str, expected: RedisConfig) -> None:
    assert parse_storage_uri(uri) == expected


def test_password_and_user_are_read_and_unquoted() -> None:
    config = parse_storage_uri("rediss://app:p%40ss%2Fword@cache:6380/4")
    assert config is not None
    assert (config.username, config.password, config.tls) == ("app", "p@ss/word", True)
    bare = parse_storage_uri(f"redis://:{PASSWORD}@cache/0")
    assert bare is not None
    assert (bare.username, bare.password) == (None, PASSWORD)


@pytest.mark.parametrize(
    "uri",
    [
        "http://cache:6379/0",
        "mongodb://cache",
        "redis+sentinel://cache",
        "unix:///tmp/redis.sock",
        "cache:6379",
        "localhost",
    ],
)
def test_an_unknown_scheme_is_a_configuration_error(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown scheme") as info:
        parse_storage_uri(uri)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PlivoError)


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("redis://", "no host"),
        ("redis:///0", "no host"),
        ("redis://cache:port/0", "port"),
        ("redis://cache:99999/0", "port"),
        ("redis://cache/zero", "database number"),
        ("redis://cache/0/1", "database number"),
        ("redis://cache/0?ssl_cert_reqs=none", "not supported"),
        ("redis://cache/0#frag", "not supported"),
        ("memory://somewhere", "memory:// takes no"),
    ],
)
def test_a_malformed_uri_is_a_configuration_error(uri: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why):
        parse_storage_uri(uri)


def test_a_uri_that_is_not_a_string_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="must be a URI string"):
        parse_storage_uri(6379)  # type: ignore[arg-type]


def test_the_password_never_shows_in_repr_str_or_url() -> None:
    config = parse_storage_uri(f"redis://app:{PASSWORD}@cache:6380/1")
    assert config is not None
    for text in (repr(config), str(config), config.url, repr(RedisStorage(config))):
        assert PASSWORD not in text
        assert "app:***@cache:6380/1" in text


def test_the_password_never_shows_in_errors() -> None:
    for uri in (
        f"redis://:{PASSWORD}@cache/zero",
        f"redis://:{PASSWORD}@cache:bad/0",
        f"redis://:{PASSWORD}@/0",
        f"mongodb://:{PASSWORD}@cache",
        f"redis://:{PASSWORD}@cache/0?x=1",
    ):
        with pytest.raises(ConfigurationError) as info:
            parse_storage_uri(uri)
        assert PASSWORD not in str(info.value)
        assert "***" in str(info.value)


def test_the_password_is_masked_in_log_records(caplog: pytest.LogCaptureFixture) -> None:
    parse_storage_uri(f"redis://:{PASSWORD}@cache/0")
    with caplog.at_level(logging.INFO, logger="plivo_numlink"):
        logging.getLogger("plivo_numlink").info("connecting with %s", PASSWORD)
    assert PASSWORD not in caplog.text
    assert "***" in caplog.text


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("redis://:pw@cache/0", "redis://:***@cache/0"),
        ("redis://user:pw@cache/0", "redis://user:***@cache/0"),
        ("redis://pw@cache/0", "redis://***@cache/0"),
        ("redis://:pa/ss@cache/0", "redis://:***@cache/0"),
        ("redis://:p@ss@cache/0", "redis://:***@cache/0"),
        ("redis://cache/0?u=a:b@evil", "redis://:***@evil"),
        ("pw@cache", "***"),
        ("cache", "cache"),
    ],
)
def test_redact_uri_masks_user_information(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


def test_a_user_without_a_password_is_shown() -> None:
    assert RedisConfig("cache", username="app").url == "redis://app@cache:6379/0"


def test_the_config_redacts_its_password_from_any_text() -> None:
    config = RedisConfig("cache", password=PASSWORD)
    assert config.redact(f"auth {PASSWORD} failed") == "auth *** failed"
    assert RedisConfig("cache").redact("nothing to hide") == "nothing to hide"


def test_open_storage_gives_a_redis_storage_that_has_not_connected() -> None:
    storage = open_storage("redis://127.0.0.1:1/0", timeout=2.5)
    assert isinstance(storage, RedisStorage)
    assert storage.timeout == 2.5
    assert not storage.closed


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
def test_the_storage_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        open_storage("redis://cache/0", timeout=timeout)


def test_without_redis_py_a_redis_uri_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'plivo-numlink\[redis\]'"):
        open_storage("redis://cache/0")
    assert open_storage("memory://") is None  # in-process needs nothing


def test_the_account_key_names_a_digest_not_the_auth_id() -> None:
    key = account_key("MA0123456789ABCDEFGH")
    assert "MA0123456789ABCDEFGH" not in key
    assert key.startswith("plivo_numlink:rate:")
    assert key == account_key("MA0123456789ABCDEFGH")
    assert key != account_key("MA0123456789ABCDEFGX")


def test_the_environment_variable_name() -> None:
    assert STORAGE_ENV == "PLIVO_NUMLINK_RATE_LIMIT_STORAGE"
