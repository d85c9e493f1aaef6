"""Requests through a real HTTP proxy process (tests/net/proxy_server.py) to the fake server:
given with ``proxy=``, named by the environment, exempted by NO_PROXY, with credentials."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import aiohttp
import pytest
from conftest import SessionFactory

import plivo_numlink as pn
from plivo_numlink.testing import FakePlivo

from .net_support import PrivateCA, ProxyProcess, every_text

StartProxy = Callable[..., ProxyProcess]

#: Shown nowhere but in the proxy's own log: a leak is easy to find in any text.
PASSWORD = "pr0xy-Pa55word-XYZ"
USERINFO = f"alice:{PASSWORD}"
AUTHORIZATION = "Basic " + base64.b64encode(USERINFO.encode()).decode()


def link_target(fake: FakePlivo) -> str:
    return f"{fake.base_url}/v1/Account/{fake.auth_id}/10dlc/Campaign/CUOGHIN/Number/"


def session_for(
    make_session: SessionFactory, fake: FakePlivo, **kwargs: object
) -> pn.NumLinkSession:
    return make_session(
        auth_id=fake.auth_id, auth_token=fake.auth_token, base_url=fake.base_url, **kwargs
    )


async def test_a_request_goes_through_the_proxy_given_with_proxy(
    start_proxy: StartProxy, fake_plivo: FakePlivo, make_session: SessionFactory
) -> None:
    proxy = start_proxy()
    session = session_for(make_session, fake_plivo, proxy=proxy.url)

    ack = await session.link("CUOGHIN", ["+1 212-555-7777"])

    assert ack.api_id
    assert [(e["method"], e["target"]) for e in proxy.entries()] == [
        ("POST", link_target(fake_plivo))
    ]
    assert [r.method for r in fake_plivo.requests] == ["POST"]
    assert fake_plivo.numbers("CUOGHIN") == {"12125557777": "PROCESSING"}


async def test_http_proxy_in_the_environment_is_used_by_default(
    start_proxy: StartProxy,
    fake_plivo: FakePlivo,
    make_session: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = start_proxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    session = session_for(make_session, fake_plivo)

    await session.link("CUOGHIN", ["12125557777"])

    assert session.proxy == proxy.url
    assert [e["target"] for e in proxy.entries()] == [link_target(fake_plivo)]
    assert len(fake_plivo.requests) == 1


async def test_https_proxy_in_the_environment_tunnels_to_an_https_server(
    start_proxy: StartProxy,
    private_ca: PrivateCA,
    make_session: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = start_proxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with FakePlivo(ssl=private_ca.server_context()) as fake:
        session = session_for(make_session, fake, ssl=private_ca.client_context())

        ack = await session.link("CUOGHIN", ["12125557777"])

        assert ack.api_id
        assert [(e["method"], e["target"]) for e in proxy.entries()] == [
            ("CONNECT", f"127.0.0.1:{fake.port}")
        ]
        assert [r.method for r in fake.requests] == ["POST"]


async def test_no_proxy_exempts_the_api_host_from_the_environment_proxy(
    start_proxy: StartProxy,
    fake_plivo: FakePlivo,
    make_session: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = start_proxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    session = session_for(make_session, fake_plivo)

    await session.link("CUOGHIN", ["12125557777"])

    assert session.proxy is None
    assert proxy.entries() == []
    assert len(fake_plivo.requests) == 1


async def test_trust_env_false_ignores_the_environment_proxy(
    start_proxy: StartProxy,
    fake_plivo: FakePlivo,
    make_session: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = start_proxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    session = session_for(make_session, fake_plivo, trust_env=False)

    await session.link("CUOGHIN", ["12125557777"])

    assert proxy.entries() == []
    assert len(fake_plivo.requests) == 1


async def test_an_explicit_proxy_wins_over_the_environment(
    start_proxy: StartProxy,
    fake_plivo: FakePlivo,
    make_session: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from_env, given = start_proxy(), start_proxy()
    monkeypatch.setenv("HTTP_PROXY", from_env.url)
    session = session_for(make_session, fake_plivo, proxy=given.url)

    await session.link("CUOGHIN", ["12125557777"])

    assert from_env.entries() == []
    assert len(given.entries()) == 1


async def test_proxy_credentials_reach_the_proxy_and_no_log_record(
    start_proxy: StartProxy,
    fake_plivo: FakePlivo,
    make_session: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = start_proxy(auth=USERINFO)
    session = session_for(make_session, fake_plivo, proxy=proxy.url_with(USERINFO))

    await session.link("CUOGHIN", ["12125557777"])
    await session.get_number("CUOGHIN", "12125557777")

    assert [e["proxy_authorization"] for e in proxy.entries()] == [AUTHORIZATION] * 2
    # The credentials travel to the proxy only, never to the API.
    assert all("Proxy-Authorization" not in r.headers for r in fake_plivo.requests)
    shown = repr(session) + caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    assert session.proxy == proxy.url
    assert PASSWORD not in shown
    assert AUTHORIZATION.split()[1] not in shown


async def test_proxy_credentials_from_the_environment_reach_the_proxy_on_connect(
    start_proxy: StartProxy,
    private_ca: PrivateCA,
    make_session: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = start_proxy(auth=USERINFO)
    monkeypatch.setenv("https_proxy", proxy.url_with(USERINFO))
    async with FakePlivo(ssl=private_ca.server_context()) as fake:
        session = session_for(make_session, fake, ssl=private_ca.client_context())

        await session.link("CUOGHIN", ["12125557777"])

        assert [(e["method"], e["proxy_authorization"]) for e in proxy.entries()] == [
            ("CONNECT", AUTHORIZATION)
        ]
        assert PASSWORD not in repr(session)


async def test_refused_proxy_credentials_show_in_no_error_text_or_log(
    start_proxy: StartProxy,
    private_ca: PrivateCA,
    make_session: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = start_proxy(auth="alice:the-right-one")
    async with FakePlivo(ssl=private_ca.server_context()) as fake:
        session = session_for(
            make_session, fake, proxy=proxy.url_with(USERINFO), ssl=private_ca.client_context()
        )

        with pytest.raises(pn.TransportError) as raised:
            await session.link("CUOGHIN", ["12125557777"])

        assert "407" in str(raised.value)
        assert fake.requests == []
    assert proxy.entries()  # the proxy was asked, and refused
    shown = every_text(raised.value) + caplog.text
    shown += "".join(f"{r.msg} {r.args} {r.exc_text}" for r in caplog.records)
    assert PASSWORD not in shown
    assert AUTHORIZATION.split()[1] not in shown


async def test_a_407_answer_to_a_plain_http_request_shows_no_credentials(
    start_proxy: StartProxy, fake_plivo: FakePlivo, make_session: SessionFactory
) -> None:
    proxy = start_proxy(auth="alice:the-right-one")
    session = session_for(make_session, fake_plivo, proxy=proxy.url_with(USERINFO))

    with pytest.raises(pn.PlivoError) as raised:
        await session.link("CUOGHIN", ["12125557777"])

    assert "407" in str(raised.value)
    assert PASSWORD not in every_text(raised.value)
    assert AUTHORIZATION.split()[1] not in every_text(raised.value)


async def test_a_borrowed_http_session_sends_through_the_proxy_given(
    start_proxy: StartProxy, fake_plivo: FakePlivo, make_session: SessionFactory
) -> None:
    proxy = start_proxy()
    async with aiohttp.ClientSession() as http:
        session = session_for(make_session, fake_plivo, http_session=http, proxy=proxy.url)

        await session.link("CUOGHIN", ["12125557777"])

    assert len(proxy.entries()) == 1
    assert len(fake_plivo.requests) == 1


async def test_a_borrowed_http_session_also_follows_the_environment_proxy(
    start_proxy: StartProxy,
    fake_plivo: FakePlivo,
    make_session: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = start_proxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with aiohttp.ClientSession() as http:  # aiohttp's own trust_env is False
        session = session_for(make_session, fake_plivo, http_session=http)

        await session.link("CUOGHIN", ["12125557777"])

    assert len(proxy.entries()) == 1


async def test_the_environment_proxy_does_not_replace_a_borrowed_sessions_own_proxy(
    start_proxy: StartProxy,
    fake_plivo: FakePlivo,
    make_session: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from_env, own = start_proxy(), start_proxy()
    monkeypatch.setenv("HTTP_PROXY", from_env.url)
    async with aiohttp.ClientSession(proxy=own.url) as http:
        session = session_for(make_session, fake_plivo, http_session=http)

        await session.link("CUOGHIN", ["12125557777"])

    assert from_env.entries() == []
    assert len(own.entries()) == 1


async def test_proxy_given_replaces_a_borrowed_sessions_own_proxy(
    start_proxy: StartProxy, fake_plivo: FakePlivo, make_session: SessionFactory
) -> None:
    own, given = start_proxy(), start_proxy()
    async with aiohttp.ClientSession(proxy=own.url) as http:
        session = session_for(make_session, fake_plivo, http_session=http, proxy=given.url)

        await session.link("CUOGHIN", ["12125557777"])

    assert own.entries() == []
    assert len(given.entries()) == 1
