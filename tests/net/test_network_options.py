"""The network arguments of NumLinkSession, checked at construction (nothing is sent)."""

from __future__ import annotations

import ssl

import aiohttp
import pytest
from conftest import SessionFactory

import plivo_numlink as pn

SECRET = "s3cret-Pa55-word"


def test_proxy_is_shown_without_its_credentials(make_session: SessionFactory) -> None:
    session = make_session(proxy=f"http://bob:{SECRET}@proxy.example.com:3128")

    assert session.proxy == "http://proxy.example.com:3128"
    assert "proxy='http://proxy.example.com:3128'" in repr(session)
    assert SECRET not in repr(session)


def test_percent_encoded_credentials_are_accepted(make_session: SessionFactory) -> None:
    session = make_session(proxy="http://bob%40corp:p%3Ass@proxy.example.com:3128/")

    assert session.proxy == "http://proxy.example.com:3128"


@pytest.mark.parametrize(
    ("proxy", "says"),
    [
        (f"https://bob:{SECRET}@proxy.example.com:3128", "http:// proxy URL"),
        (f"socks5://bob:{SECRET}@proxy.example.com:1080", "http:// proxy URL"),
        (f"bob:{SECRET}@proxy.example.com:3128", "http:// proxy URL"),
        (f"http://bob:{SECRET}@proxy.example.com:99999", "not a valid URL"),
        (f"http://bob:{SECRET}@proxy.example.com:3128/path", "path"),
        (f"http://bob:{SECRET}@:3128", "http:// proxy URL"),
        (f"http://bob:{SECRET}/x#y@proxy.example.com:3128", "proxy"),
    ],
)
def test_a_bad_proxy_is_refused_naming_the_argument_and_hiding_the_password(
    make_session: SessionFactory, proxy: str, says: str
) -> None:
    with pytest.raises(pn.ConfigurationError) as raised:
        make_session(proxy=proxy)

    text = str(raised.value)
    assert text.startswith("proxy ")
    assert says in text
    assert SECRET not in text
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__


def test_a_proxy_that_is_not_a_string_is_refused(make_session: SessionFactory) -> None:
    with pytest.raises(pn.ConfigurationError, match="proxy must be a string"):
        make_session(proxy=3128)


def test_ssl_must_be_an_ssl_context(make_session: SessionFactory) -> None:
    with pytest.raises(pn.ConfigurationError, match=r"ssl must be an ssl\.SSLContext"):
        make_session(ssl=False)


def test_ssl_accepts_a_context(make_session: SessionFactory) -> None:
    make_session(ssl=ssl.create_default_context())


def test_trust_env_must_be_a_bool(make_session: SessionFactory) -> None:
    with pytest.raises(pn.ConfigurationError, match="trust_env must be True or False"):
        make_session(trust_env="no")


@pytest.mark.parametrize(
    ("variables", "base_url", "proxy"),
    [
        ({"HTTPS_PROXY": "http://up:3128"}, "https://api.example.com", "http://up:3128"),
        ({"https_proxy": "http://low:3128"}, "https://api.example.com", "http://low:3128"),
        ({"HTTP_PROXY": "http://up:3128"}, "https://api.example.com", None),
        ({"HTTP_PROXY": "http://up:3128"}, "http://api.example.com", "http://up:3128"),
        ({"ALL_PROXY": "http://all:3128"}, "https://api.example.com", "http://all:3128"),
        ({"HTTPS_PROXY": "proxy.corp:8080"}, "https://api.example.com", "http://proxy.corp:8080"),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, "https://api.example.com", None),
        ({"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}, "https://api.example.com", None),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "other.com"},
            "https://api.example.com",
            "http://p:1",
        ),
    ],
)
def test_the_environment_names_the_proxy_for_the_base_url(
    make_session: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    base_url: str,
    proxy: str | None,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    assert make_session(base_url=base_url).proxy == proxy
    assert make_session(base_url=base_url, trust_env=False).proxy is None


def test_a_bad_proxy_in_the_environment_is_refused_naming_the_variable(
    make_session: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"socks5://bob:{SECRET}@proxy.example.com:1080")

    with pytest.raises(pn.ConfigurationError) as raised:
        make_session(base_url="https://api.example.com")

    assert "the environment variable HTTPS_PROXY" in str(raised.value)
    assert SECRET not in str(raised.value)
    make_session(base_url="https://api.example.com", trust_env=False)  # the way out


async def test_trust_env_false_is_refused_with_a_borrowed_session_that_trusts_it(
    make_session: SessionFactory,
) -> None:
    async with aiohttp.ClientSession(trust_env=True) as http:
        with pytest.raises(pn.ConfigurationError, match="trust_env=False cannot be honoured"):
            make_session(http_session=http, trust_env=False)
