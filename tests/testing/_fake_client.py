"""A small client that drives FakePlivo over a real socket, for the fake's own tests.

Deliberately not the library's session: these tests pin the fake's wire behaviour.
Time-dependent behaviour is driven with :class:`Clock`, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from plivo_numlink.testing import (
    FakePlivo,
    basic_auth_header,
)

CAMPAIGN = "CUOGHIN"
N1, N2, N3 = "12125557777", "12125557778", "12125557779"


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Answer:
    def __init__(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def statuses(self) -> dict[str, str]:
        return {entry["number"]: entry["status"] for entry in self.body["phone_numbers"]}


_OURS = object()


class Api:
    """Just enough of a client to drive the fake; deliberately not the library's session."""

    def __init__(self, fake: FakePlivo, session: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.session = session

    def url(self, campaign: str = CAMPAIGN, number: str | None = None, auth_id: str = "") -> str:
        path = f"/v1/Account/{auth_id or self.fake.auth_id}/10dlc/Campaign/{campaign}/Number/"
        if number is not None:
            path += f"{number}/"
        return self.fake.base_url + path

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        auth: Any = _OURS,
    ) -> Answer:
        headers = {}
        if auth is _OURS:
            headers["Authorization"] = basic_auth_header(self.fake.auth_id, self.fake.auth_token)
        elif auth is not None:
            headers["Authorization"] = auth
        async with self.session.request(
            method, url, json=json, data=data, params=params, headers=headers
        ) as response:
            text = await response.text()
            body = await response.json() if text else None
            return Answer(response.status, body, response.headers)

    async def link(self, *numbers: str, campaign: str = CAMPAIGN, **extra: Any) -> Answer:
        return await self.request(
            "POST", self.url(campaign), json={"numbers": list(numbers), **extra}
        )

    async def list(self, campaign: str = CAMPAIGN, **params: str) -> Answer:
        return await self.request("GET", self.url(campaign), params=params)

    async def get(self, number: str, campaign: str = CAMPAIGN) -> Answer:
        return await self.request("GET", self.url(campaign, number))

    async def unlink(self, number: str, campaign: str = CAMPAIGN, json: Any = None) -> Answer:
        return await self.request("DELETE", self.url(campaign, number), json=json)


@contextlib.asynccontextmanager
async def serving(**options: Any) -> AsyncIterator[Api]:
    # force_close: a fresh connection per request, so aiohttp never silently retries a GET
    # whose kept-alive connection the fake closed.
    connector = aiohttp.TCPConnector(force_close=True)
    async with FakePlivo(**options) as fake, aiohttp.ClientSession(connector=connector) as session:
        yield Api(fake, session)


async def until(condition: Any, limit: int = 2000) -> None:
    for _ in range(limit):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
