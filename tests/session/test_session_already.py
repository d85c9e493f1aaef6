"""link() and unlink() on a number already in the desired state raise AlreadyInStateError, a
BadRequestError (existing ``except`` clauses still catch it); other refusals stay plain.
Over real sockets against the fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import plivo_numlink as pn
from plivo_numlink.testing import FakePlivo

CAMPAIGN = "CUOGHIN"
NUMBER = "12125557777"


@pytest.fixture
async def session(fake_plivo: FakePlivo) -> AsyncIterator[pn.NumLinkSession]:
    async with pn.NumLinkSession(
        fake_plivo.auth_id, fake_plivo.auth_token, base_url=fake_plivo.base_url
    ) as opened:
        yield opened


async def test_linking_a_linked_number_raises_already_in_state(
    session: pn.NumLinkSession,
) -> None:
    await session.link(CAMPAIGN, [NUMBER])
    with pytest.raises(pn.AlreadyInStateError) as caught:
        await session.link(CAMPAIGN, [NUMBER])
    assert isinstance(caught.value, pn.BadRequestError)
    assert caught.value.status_code == 400
    assert caught.value.action == "link"
    assert "already requested for linking" in caught.value.message


async def test_unlinking_a_number_not_linked_raises_already_in_state(
    session: pn.NumLinkSession,
) -> None:
    with pytest.raises(pn.AlreadyInStateError) as caught:
        await session.unlink(CAMPAIGN, NUMBER)
    assert caught.value.action == "unlink"
    assert caught.value.api_id


async def test_an_existing_bad_request_handler_still_catches_it(
    session: pn.NumLinkSession,
) -> None:
    await session.link(CAMPAIGN, [NUMBER])
    with pytest.raises(pn.BadRequestError):
        await session.link(CAMPAIGN, [NUMBER])


async def test_a_number_linked_to_another_campaign_is_a_plain_bad_request(
    fake_plivo: FakePlivo, session: pn.NumLinkSession
) -> None:
    fake_plivo.add_campaign("COTHER1", numbers=[NUMBER])
    with pytest.raises(pn.BadRequestError) as caught:
        await session.link(CAMPAIGN, [NUMBER])
    assert not isinstance(caught.value, pn.AlreadyInStateError)


async def test_an_invalid_number_refused_by_the_server_is_a_plain_bad_request(
    fake_plivo: FakePlivo, session: pn.NumLinkSession
) -> None:
    body = '{"api_id": "x", "error": "The number 12125557777 is not a valid number"}'
    fake_plivo.enqueue_fault(400, body=body, content_type="application/json")
    with pytest.raises(pn.BadRequestError) as caught:
        await session.link(CAMPAIGN, [NUMBER])
    assert not isinstance(caught.value, pn.AlreadyInStateError)
