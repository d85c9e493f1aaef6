"""Fixtures of the network tests: a real HTTP proxy process, and a private CA for TLS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .net_support import PrivateCA, ProxyProcess


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[Callable[..., ProxyProcess]]:
    """Start proxy processes (``auth="user:pass"`` makes one demand those); stopped after."""
    proxies: list[ProxyProcess] = []

    def start(*, auth: str | None = None) -> ProxyProcess:
        proxy = ProxyProcess(tmp_path / f"proxy-{len(proxies)}.log", auth)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def private_ca() -> PrivateCA:
    return PrivateCA()
