"""The fake's status callbacks: signed like Plivo's, sent in the background, recorded.

:func:`sign_callback` is the one signer: the fake signs its callbacks with it, and users'
tests sign the requests they send to their own receivers. A callback target that is down or
broken never breaks the fake: what happened is recorded in :class:`SentCallback` instead.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Mapping, Sequence

import attrs
from aiohttp import ClientSession, ClientTimeout

from ..callbacks import signature_v2, signature_v3

__all__ = ["CallbackSender", "SentCallback", "sign_callback"]

_CALLBACK_TIMEOUT = ClientTimeout(total=10)


def sign_callback(
    method: str,
    url: str,
    params: Mapping[str, str | Sequence[str]],
    auth_token: str,
    *,
    nonce: str | None = None,
) -> dict[str, str]:
    """The signature headers Plivo would send with a callback of ``params`` to ``url``.

    ``params`` go in the form body of a POST and in the query of a GET (added to the
    query ``url`` may already have): send them so, with these headers, and a receiver
    that checks against ``url`` accepts the request. ``nonce``: the nonce to sign with; by
    default a fresh random one, as Plivo sends (20 digits). Returns
    ``X-Plivo-Signature-V3``, ``X-Plivo-Signature-V3-Nonce``, ``X-Plivo-Signature-V2``,
    ``X-Plivo-Signature-V2-Nonce`` and their ``Ma`` twins (signed with the same token, as
    for a main account)::

        headers = sign_callback("POST", "https://example.com/plivo/numlink", params, token)
        await http.post("https://example.com/plivo/numlink", data=params, headers=headers)

    ``method`` is GET or POST (any case); anything else, or an empty ``auth_token`` or
    ``nonce``, raises ``ValueError``.
    """
    if not isinstance(auth_token, str) or not auth_token:
        raise ValueError("auth_token must be a non-empty string")
    if nonce is None:
        nonce = str(secrets.randbelow(9 * 10**19) + 10**19)
    elif not isinstance(nonce, str) or not nonce:
        raise ValueError(f"nonce must be a non-empty string, not {nonce!r}")
    v3 = signature_v3(method, url, params, nonce, auth_token)  # ValueError for the method
    v2 = signature_v2(url, nonce, auth_token)
    return {
        "X-Plivo-Signature-V3": v3,
        "X-Plivo-Signature-V3-Nonce": nonce,
        "X-Plivo-Signature-Ma-V3": v3,
        "X-Plivo-Signature-V2": v2,
        "X-Plivo-Signature-V2-Nonce": nonce,
        "X-Plivo-Signature-Ma-V2": v2,
    }


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
        # From the fake's seeded generator, so that a run is repeatable under a seed.
        nonce = str(self._ids.randrange(10**19, 10**20))
        return sign_callback(method, url, params, self.auth_token, nonce=nonce)

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
