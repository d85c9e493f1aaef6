"""A proxy refusing the session's proxy credentials (407 Proxy Authentication Required),
through a real proxy process (tests/net/proxy_server.py): one attempt, never retried (wrong
credentials sent again can lock a corporate proxy account), then ProxyAuthenticationError."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from conftest import SessionFactory

import plivo_numlink as pn
from plivo_numlink.testing import FakePlivo

from .net_support import PrivateCA, ProxyProcess, every_text

StartProxy = Callable[..., ProxyProcess]

#: Shown nowhere but in the proxy's own log: a leak is easy to find in any text.
PASSWORD = "wr0ng-Pa55word-QRS"
USERINFO = f"alice:{PASSWORD}"
TOKEN = base64.b64encode(USERINFO.encode()).decode()
NUMBERS = [f"1212555000{i}" for i in range(5)]


@pytest.fixture
async def tls_fake(private_ca: PrivateCA) -> AsyncIterator[FakePlivo]:
    async with FakePlivo(ssl=private_ca.server_context()) as fake:
        yield fake


def session_for(
    make_session: SessionFactory, fake: FakePlivo, proxy: str, **kwargs: object
) -> pn.NumLinkSession:
    # make_session's retry policy: 3 attempts, no backoff (a retry would show as a second
    # request in the proxy's log).
    return make_session(
        auth_id=fake.auth_id,
        auth_token=fake.auth_token,
        base_url=fake.base_url,
        proxy=proxy,
        **kwargs,
    )


async def test_refused_credentials_on_a_connect_are_sent_once(
    start_proxy: StartProxy,
    tls_fake: FakePlivo,
    private_ca: PrivateCA,
    make_session: SessionFactory,
) -> None:
    proxy = start_proxy(auth="alice:the-right-one")
    session = session_for(
        make_session, tls_fake, proxy.url_with(USERINFO), ssl=private_ca.client_context()
    )

    with pytest.raises(pn.ProxyAuthenticationError):
        await session.link("CUOGHIN", ["12125557777"])

    assert [e["method"] for e in proxy.entries()] == ["CONNECT"]
    assert session.requests_sent == 1
    assert tls_fake.requests == []


async def test_refused_credentials_to_an_http_origin_are_sent_once(
    start_proxy: StartProxy, fake_plivo: FakePlivo, make_session: SessionFactory
) -> None:
    proxy = start_proxy(auth="alice:the-right-one")
    session = session_for(make_session, fake_plivo, proxy.url_with(USERINFO))

    with pytest.raises(pn.ProxyAuthenticationError):
        await session.link("CUOGHIN", ["12125557777"])

    assert [e["method"] for e in proxy.entries()] == ["POST"]
    assert session.requests_sent == 1
    assert fake_plivo.requests == []


async def test_the_error_is_a_transport_error_saying_the_proxy_refused_and_how_to_fix_it(
    start_proxy: StartProxy,
    tls_fake: FakePlivo,
    private_ca: PrivateCA,
    make_session: SessionFactory,
) -> None:
    proxy = start_proxy(auth="alice:the-right-one")
    session = session_for(
        make_session, tls_fake, proxy.url_with(USERINFO), ssl=private_ca.client_context()
    )

    with pytest.raises(pn.TransportError) as raised:
        await session.get_number("CUOGHIN", "12125557777")

    exc = raised.value
    assert isinstance(exc, pn.ProxyAuthenticationError)
    assert not isinstance(exc, pn.CertificateVerificationError)
    assert exc.proxy == proxy.url
    text = str(exc)
    assert f"the proxy {proxy.url} refused the proxy credentials" in text
    assert "407" in text
    assert "proxy='http://USER:PASSWORD@HOST:PORT'" in text
    assert "HTTPS_PROXY" in text


async def test_the_message_of_an_http_origin_names_http_proxy(
    start_proxy: StartProxy, fake_plivo: FakePlivo, make_session: SessionFactory
) -> None:
    proxy = start_proxy(auth="alice:the-right-one")
    session = session_for(make_session, fake_plivo, proxy.url_with(USERINFO))

    with pytest.raises(pn.ProxyAuthenticationError) as raised:
        await session.link("CUOGHIN", ["12125557777"])

    assert "refused the proxy credentials" in str(raised.value)
    assert "HTTP_PROXY" in str(raised.value)
    assert raised.value.proxy == proxy.url


async def test_a_proxy_asking_for_credentials_none_given_says_so(
    start_proxy: StartProxy, fake_plivo: FakePlivo, make_session: SessionFactory
) -> None:
    proxy = start_proxy(auth="alice:the-right-one")
    session = session_for(make_session, fake_plivo, proxy.url)

    with pytest.raises(pn.ProxyAuthenticationError) as raised:
        await session.link("CUOGHIN", ["12125557777"])

    assert "requires credentials and none were given" in str(raised.value)
    assert len(proxy.entries()) == 1


async def test_a_proxy_from_the_environment_is_named_with_its_variable(
    start_proxy: StartProxy,
    tls_fake: FakePlivo,
    private_ca: PrivateCA,
    make_session: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = start_proxy(auth="alice:the-right-one")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url_with(USERINFO))
    session = make_session(
        auth_id=tls_fake.auth_id,
        auth_token=tls_fake.auth_token,
        base_url=tls_fake.base_url,
        ssl=private_ca.client_context(),
    )

    with pytest.raises(pn.ProxyAuthenticationError) as raised:
        await session.link("CUOGHIN", ["12125557777"])

    assert "the environment variable HTTPS_PROXY" in str(raised.value)
    assert len(proxy.entries()) == 1


@pytest.mark.parametrize("origin", ["http", "https"])
async def test_the_proxy_password_shows_in_no_message_or_log(
    origin: str,
    start_proxy: StartProxy,
    fake_plivo: FakePlivo,
    tls_fake: FakePlivo,
    private_ca: PrivateCA,
    make_session: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = start_proxy(auth="alice:the-right-one")
    fake = tls_fake if origin == "https" else fake_plivo
    session = session_for(
        make_session, fake, proxy.url_with(USERINFO), ssl=private_ca.client_context()
    )

    with pytest.raises(pn.ProxyAuthenticationError) as raised:
        await session.link("CUOGHIN", ["12125557777"])
    report = await session.link_many("CUOGHIN", NUMBERS)

    shown = every_text(raised.value) + caplog.text + str(report.stopped_reason)
    shown += "".join(f"{r.msg} {r.args} {r.exc_text}" for r in caplog.records)
    shown += "".join(str(o.error) for o in report.outcomes)
    assert PASSWORD not in shown
    assert TOKEN not in shown


async def test_a_refusal_spends_nothing_of_the_retry_quota(
    start_proxy: StartProxy, fake_plivo: FakePlivo, make_session: SessionFactory
) -> None:
    proxy = start_proxy(auth="alice:the-right-one")
    session = session_for(make_session, fake_plivo, proxy.url_with(USERINFO))
    tokens = session.retry_quota.available

    with pytest.raises(pn.ProxyAuthenticationError):
        await session.get_number("CUOGHIN", "12125557777")

    assert session.retry_quota.available == tokens


@pytest.mark.parametrize("origin", ["http", "https"])
async def test_a_refusal_stops_a_bulk_job_after_its_first_unit(
    origin: str,
    start_proxy: StartProxy,
    fake_plivo: FakePlivo,
    tls_fake: FakePlivo,
    private_ca: PrivateCA,
    make_session: SessionFactory,
) -> None:
    proxy = start_proxy(auth="alice:the-right-one")
    fake = tls_fake if origin == "https" else fake_plivo
    session = session_for(
        make_session,
        fake,
        proxy.url_with(USERINFO),
        ssl=private_ca.client_context(),
        concurrency=1,
    )

    report = await session.link_many("CUOGHIN", NUMBERS, batch_size=1)

    assert len(proxy.entries()) == 1
    assert report.requests == 1
    assert report.stopped_reason is not None
    assert "refused the proxy credentials" in report.stopped_reason
    first, *rest = report.outcomes
    assert (first.kind, first.attempts) == (pn.OutcomeKind.ERROR, 1)
    assert {(o.kind, o.attempts) for o in rest} == {(pn.OutcomeKind.NOT_ATTEMPTED, 0)}


async def test_waiting_raises_a_refusal_at_once(
    start_proxy: StartProxy, fake_plivo: FakePlivo, make_session: SessionFactory
) -> None:
    proxy = start_proxy(auth="alice:the-right-one")
    session = session_for(make_session, fake_plivo, proxy.url_with(USERINFO))

    with pytest.raises(pn.ProxyAuthenticationError):
        await session.wait_for_numbers("CUOGHIN", NUMBERS, timeout=60, poll_interval=0)

    assert len(proxy.entries()) == 1


async def test_reading_many_statuses_raises_a_refusal(
    start_proxy: StartProxy, fake_plivo: FakePlivo, make_session: SessionFactory
) -> None:
    proxy = start_proxy(auth="alice:the-right-one")
    session = session_for(make_session, fake_plivo, proxy.url_with(USERINFO), concurrency=1)

    with pytest.raises(pn.ProxyAuthenticationError):
        await session.get_numbers("CUOGHIN", NUMBERS)

    assert len(proxy.entries()) == 1
