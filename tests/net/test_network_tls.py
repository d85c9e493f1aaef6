"""TLS against the fake server serving HTTPS with a certificate of a private CA: refused at
once by default (a certificate problem is not retried), accepted with ``ssl=`` trusting it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from conftest import SessionFactory

import plivo_numlink as pn
from plivo_numlink.testing import FakePlivo

from .net_support import PrivateCA

NUMBERS = [f"1212555000{i}" for i in range(5)]


@pytest.fixture
async def tls_fake(private_ca: PrivateCA) -> AsyncIterator[FakePlivo]:
    async with FakePlivo(ssl=private_ca.server_context()) as fake:
        yield fake


def session_for(
    make_session: SessionFactory, fake: FakePlivo, **kwargs: object
) -> pn.NumLinkSession:
    # make_session's retry policy: 3 attempts, no backoff.
    return make_session(
        auth_id=fake.auth_id, auth_token=fake.auth_token, base_url=fake.base_url, **kwargs
    )


def test_the_fake_serves_https_when_given_a_server_context(private_ca: PrivateCA) -> None:
    fake = FakePlivo(ssl=private_ca.server_context(), port=4430)
    assert fake.base_url == "https://127.0.0.1:4430"


async def test_an_untrusted_certificate_fails_after_one_attempt(
    tls_fake: FakePlivo, private_ca: PrivateCA, make_session: SessionFactory
) -> None:
    session = session_for(make_session, tls_fake)

    with pytest.raises(pn.TransportError) as raised:
        await session.link("CUOGHIN", ["12125557777"])

    assert private_ca.handshakes == 1
    assert session.requests_sent == 1
    assert tls_fake.requests == []
    assert isinstance(raised.value, pn.CertificateVerificationError)
    text = str(raised.value)
    assert "certificate" in text
    assert "ssl=" in text  # how to fix it
    assert raised.value.host == "127.0.0.1"


async def test_a_certificate_failure_spends_nothing_of_the_retry_quota(
    tls_fake: FakePlivo, make_session: SessionFactory
) -> None:
    session = session_for(make_session, tls_fake)
    tokens = session.retry_quota.available

    with pytest.raises(pn.CertificateVerificationError):
        await session.get_number("CUOGHIN", "12125557777")

    assert session.retry_quota.available == tokens


async def test_a_context_trusting_the_ca_is_accepted(
    tls_fake: FakePlivo, private_ca: PrivateCA, make_session: SessionFactory
) -> None:
    session = session_for(make_session, tls_fake, ssl=private_ca.client_context())

    ack = await session.link("CUOGHIN", ["12125557777"])

    assert ack.api_id
    assert [r.method for r in tls_fake.requests] == ["POST"]


async def test_a_certificate_for_another_host_name_fails_after_one_attempt(
    private_ca: PrivateCA, make_session: SessionFactory
) -> None:
    async with FakePlivo(ssl=private_ca.server_context("api.example.test")) as fake:
        session = session_for(make_session, fake, ssl=private_ca.client_context())

        with pytest.raises(pn.CertificateVerificationError) as raised:
            await session.link("CUOGHIN", ["12125557777"])

    assert private_ca.handshakes == 1
    assert "mismatch" in str(raised.value)


async def test_other_tls_failures_are_still_retried(make_session: SessionFactory) -> None:
    """A server that drops the connection during the handshake: maybe transient, retried."""
    connections = 0

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        session = make_session(base_url=f"https://127.0.0.1:{port}")
        with pytest.raises(pn.TransportError) as raised:
            await session.get_number("CUOGHIN", "12125557777")
    finally:
        server.close()
        await server.wait_closed()

    assert not isinstance(raised.value, pn.CertificateVerificationError)
    assert connections == 3  # the policy's three attempts


async def test_a_certificate_failure_stops_a_bulk_job_like_a_401(
    tls_fake: FakePlivo, private_ca: PrivateCA, make_session: SessionFactory
) -> None:
    session = session_for(make_session, tls_fake, concurrency=1)

    report = await session.link_many("CUOGHIN", NUMBERS, batch_size=1)

    assert private_ca.handshakes == 1
    assert report.requests == 1
    assert report.stopped_reason is not None
    assert "certificate" in report.stopped_reason
    first, *rest = report.outcomes
    assert (first.kind, first.attempts) == (pn.OutcomeKind.ERROR, 1)
    assert {(o.kind, o.attempts) for o in rest} == {(pn.OutcomeKind.NOT_ATTEMPTED, 0)}
    assert all("certificate" in (o.error or "") for o in report.outcomes)


async def test_a_certificate_failure_stops_an_unlink_job(
    tls_fake: FakePlivo, private_ca: PrivateCA, make_session: SessionFactory
) -> None:
    session = session_for(make_session, tls_fake, concurrency=1)

    report = await session.unlink_many("CUOGHIN", NUMBERS)

    assert private_ca.handshakes == 1
    assert report.counts.get(pn.OutcomeKind.NOT_ATTEMPTED) == len(NUMBERS) - 1


async def test_waiting_raises_a_certificate_failure_at_once(
    tls_fake: FakePlivo, private_ca: PrivateCA, make_session: SessionFactory
) -> None:
    session = session_for(make_session, tls_fake)

    with pytest.raises(pn.CertificateVerificationError):
        await session.wait_for_numbers("CUOGHIN", NUMBERS, timeout=60, poll_interval=0)

    assert private_ca.handshakes == 1


async def test_reading_many_statuses_raises_a_certificate_failure(
    tls_fake: FakePlivo, private_ca: PrivateCA, make_session: SessionFactory
) -> None:
    session = session_for(make_session, tls_fake, concurrency=1)

    with pytest.raises(pn.CertificateVerificationError):
        await session.get_numbers("CUOGHIN", NUMBERS)

    assert private_ca.handshakes == 1


async def test_sync_raises_a_certificate_failure_at_its_first_read(
    tls_fake: FakePlivo, private_ca: PrivateCA, make_session: SessionFactory
) -> None:
    session = session_for(make_session, tls_fake)

    with pytest.raises(pn.CertificateVerificationError):
        await session.sync("CUOGHIN", NUMBERS)

    assert private_ca.handshakes == 1
