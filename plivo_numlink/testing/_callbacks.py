"""The fake's status callbacks: signed like Plivo's, sent in the background, recorded.

A callback target that is down or broken never breaks the fake: what happened is recorded
in :class:`SentCallback` instead.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping

import attrs
from aiohttp import ClientSession, ClientTimeout

from ..callbacks import signature_v2, signature_v3

_CALLBACK_TIMEOUT = ClientTimeout(total=10)


@attrs.frozen
class SentCallback:
    """One status callback the fake sent, and how its target answered."""

    url: str
    method: str
    params: dict[str, str]
    headers: dict[str, str]
    #: The target's HTTP status, or None when there was no answer (see ``error``).
    status: int | None
    error: str | None = None


class CallbackSender:
    """Sends callbacks while :attr:`running`; records each in :attr:`sent`."""

    def __init__(self, auth_token: str, ids: random.Random) -> None:
        self.auth_token = auth_token
        self.sent: list[SentCallback] = []
        #: Off while the fake is stopped: a callback due then is recorded, not sent.
        self.running = False
        self._ids = ids
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: ClientSession | None = None

    def headers(self, method: str, url: str, params: Mapping[str, str]) -> dict[str, str]:
        """The signature headers Plivo would put on a callback (a fresh nonce each time)."""
        nonce = str(self._ids.randrange(10**19, 10**20))
        v2 = signature_v2(url, nonce, self.auth_token)
        v3 = signature_v3(method, url, params, nonce, self.auth_token)
        return {
            "X-Plivo-Signature-V2": v2,
            "X-Plivo-Signature-V2-Nonce": nonce,
            "X-Plivo-Signature-Ma-V2": v2,
            "X-Plivo-Signature-V3": v3,
            "X-Plivo-Signature-V3-Nonce": nonce,
            "X-Plivo-Signature-Ma-V3": v3,
        }

    def start(self, url: str, method: str, params: dict[str, str]) -> None:
        """Send a callback in the background (or record why it cannot be sent)."""
        if not self.running:
            self.sent.append(SentCallback(url, method, params, {}, None, "fake server not running"))
            return
        task = asyncio.get_running_loop().create_task(self._send(url, method, params))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait until every callback started so far has been sent and answered."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def cancel(self) -> list[asyncio.Task[None]]:
        """Stop sending: cancel what is under way and return those tasks to wait for."""
        self.running = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    async def close(self) -> None:
        """Close the HTTP session (after :meth:`cancel`); a later send opens a new one."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _send(self, url: str, method: str, params: dict[str, str]) -> None:
        status: int | None = None
        error: str | None = None
        headers: dict[str, str] = {}
        try:
            headers = self.headers(method, url, params)
            session = self._session
            if session is None:
                session = self._session = ClientSession(timeout=_CALLBACK_TIMEOUT)
            if method == "GET":
                answer = session.get(url, params=params, headers=headers)
            else:
                answer = session.post(url, data=params, headers=headers)
            async with answer as response:
                await response.read()
                status = response.status
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken callback target must never break the server
            error = f"{type(exc).__name__}: {exc}"
        self.sent.append(SentCallback(url, method, params, headers, status, error))
