"""pytest plugin: the ``fake_plivo`` fixture, a started :class:`~plivo_numlink.testing.FakePlivo`.

Installing plivo-numlink registers this plugin with pytest (entry point ``pytest11``). The
fixture is async, so it needs pytest-asyncio (``pip install pytest-asyncio``); it works in
both its ``strict`` and ``auto`` modes::

    async def test_link(fake_plivo):
        async with NumLinkSession(
            auth_id=fake_plivo.auth_id,
            auth_token=fake_plivo.auth_token,
            base_url=fake_plivo.base_url,
        ) as session:
            await session.link("CUOGHIN", ["12125557777"])
        assert fake_plivo.numbers("CUOGHIN") == {"12125557777": "PROCESSING"}

To start it with other options, override the ``fake_plivo_options`` fixture (a dict of
:class:`FakePlivo` keyword arguments) in a ``conftest.py`` or a test module.

pytest loads this module before coverage measurement starts, so it lives outside the
package and imports nothing but pytest and pytest-asyncio at import time; the fake server
(and with it the package) is imported when the fixture is first used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from plivo_numlink.testing import FakePlivo

# Without pytest-asyncio the fixture cannot run; it then fails with a message saying so
# rather than breaking every pytest run in an environment that has plivo-numlink installed.
_HAS_PYTEST_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None


@pytest.fixture
def fake_plivo_options() -> dict[str, Any]:
    """Keyword arguments for the ``fake_plivo`` fixture's FakePlivo; override to change."""
    return {}


if _HAS_PYTEST_ASYNCIO:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def fake_plivo(fake_plivo_options: dict[str, Any]) -> AsyncIterator[FakePlivo]:
        """A started FakePlivo (defaults, or ``fake_plivo_options``), stopped afterwards."""
        from plivo_numlink.testing import FakePlivo

        async with FakePlivo(**fake_plivo_options) as fake:
            yield fake

else:  # pragma: no cover

    @pytest.fixture(name="fake_plivo")
    def _fake_plivo_needs_pytest_asyncio() -> None:
        pytest.fail("the fake_plivo fixture needs pytest-asyncio: pip install pytest-asyncio")
