"""A fake of Plivo's 10DLC Number Linking API, served in-process on 127.0.0.1.

:class:`FakePlivo` answers the four Number Linking calls the way Plivo does (paths, Basic
auth, JSON bodies, status codes and error texts) and keeps the campaigns' state in memory.
It is meant for your tests, for this project's own tests and benchmarks, and for the
offline demo::

    async with FakePlivo(fail_numbers=["12125550100"]) as fake:
        async with NumLinkSession(
            auth_id=fake.auth_id, auth_token=fake.auth_token, base_url=fake.base_url
        ) as session:
            await session.link("CUOGHIN", ["12125557777"])
        assert fake.numbers("CUOGHIN") == {"12125557777": "PROCESSING"}

What it models:

- A linked number is ``PROCESSING`` until ``complete_after`` seconds have passed *and* it
  has been shown ``PROCESSING`` by ``complete_after_polls`` reads (a list page or a GET of
  the number); then it is ``COMPLETED`` (``FAILED`` for ``fail_numbers``). An unlinked
  number stays listed as it was until the same rules say the unlinking is done. Nothing
  runs in the background for this: the state is brought up to date when it is read.
- Faults, decided per request in this order: ``down`` (connection closed), authentication
  (401), faults queued with :meth:`FakePlivo.enqueue_fault`, the concurrency cap (429),
  the rate limit (429, sliding window), ``drop_rate`` (connection closed before anything
  happens), ``error_rates`` (5xx and the like), ``latency``, the call itself, then
  ``drop_response_rate`` (the call took effect but the answer is lost).
- Status callbacks to the ``url`` given on link/unlink, signed like Plivo's (V2 and V3
  signatures, with the ``Ma`` variants) by :func:`sign_callback`, which your tests can
  use to sign requests to your own receiver.
- Numbers as Plivo writes them, ``14155550103``; the E.164 form its reference documents,
  ``+14155550103``, is accepted too, and stored and answered without the ``+``.
- Campaigns that already hold linked numbers: ``FakePlivo(prelink=1000)`` (generated
  numbers) or ``prelink={"CUOGHIN": [...]}``, and ``add_campaign(id, numbers=[...])``.

From a shell, with no extra installed: ``python -m plivo_numlink.testing [--port N]
[--campaign ID]`` serves one and prints its URL and test credentials (Ctrl-C or SIGTERM
stops it).

Every random choice comes from ``random.Random(seed)``, so a run is repeatable under a seed
as long as the requests arrive in the same order.
"""

from __future__ import annotations

from ._callbacks import SentCallback, sign_callback
from ._demo import DemoPlan, demo_plan
from ._http import RecordedRequest, basic_auth_header
from ._server import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, FakePlivo, serve
from ._state import COMPLETED as COMPLETED
from ._state import FAILED as FAILED
from ._state import FAILURE_REASON as FAILURE_REASON
from ._state import PROCESSING as PROCESSING
from ._state import Campaign, PendingChange, generated_numbers

__all__ = [
    "DEFAULT_AUTH_ID",
    "DEFAULT_AUTH_TOKEN",
    "Campaign",
    "DemoPlan",
    "FakePlivo",
    "PendingChange",
    "RecordedRequest",
    "SentCallback",
    "basic_auth_header",
    "demo_plan",
    "generated_numbers",
    "serve",
    "sign_callback",
]
