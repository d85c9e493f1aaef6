"""The command line's network settings: --proxy, the proxy environment variables, and
SSL_CERT_FILE for a private CA (the CLI builds its session as the library's defaults do)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from net.net_support import PrivateCA, ProxyProcess

from plivo_numlink.testing import FakePlivo

from .cli_helpers import CAMPAIGN, TOKEN, FakeFactory, env_for, run


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[ProxyProcess]:
    process = ProxyProcess(tmp_path / "proxy.log", None)
    yield process
    process.stop()


def test_link_goes_through_the_proxy_given_with_proxy(fake: FakePlivo, proxy: ProxyProcess) -> None:
    result = run(fake, "link", CAMPAIGN, "12125557777", "--proxy", proxy.url)

    assert result.exit_code == 0, result.output
    assert [e["method"] for e in proxy.entries()] == ["POST"]
    assert len(fake.requests) == 1


def test_link_goes_through_the_proxy_the_environment_names(
    fake: FakePlivo, proxy: ProxyProcess
) -> None:
    result = run(fake, "link", CAMPAIGN, "12125557777", env={"HTTP_PROXY": proxy.url})

    assert result.exit_code == 0, result.output
    assert len(proxy.entries()) == 1


def test_no_proxy_in_the_environment_exempts_the_api(fake: FakePlivo, proxy: ProxyProcess) -> None:
    env = {"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"}
    result = run(fake, "link", CAMPAIGN, "12125557777", env=env)

    assert result.exit_code == 0, result.output
    assert proxy.entries() == []


def test_a_bad_proxy_is_a_usage_error_that_hides_the_password(fake: FakePlivo) -> None:
    result = run(fake, "list", CAMPAIGN, "--proxy", "socks5://bob:hunter2-secret@proxy:1080")

    assert result.exit_code == 2
    assert "http:// proxy URL" in result.stderr
    assert "hunter2-secret" not in result.output


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process: SSL_CERT_FILE is read when the process starts."""
    full = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    full.update(env)
    command = [sys.executable, "-m", "plivo_numlink", *args]
    return subprocess.run(command, env=full, capture_output=True, text=True, timeout=60)


def _tls_env(fake: FakePlivo) -> dict[str, str]:
    return {k: v for k, v in env_for(fake).items() if v is not None}


def test_ssl_cert_file_makes_the_cli_trust_a_private_ca(
    start_fake: FakeFactory, tmp_path: Path
) -> None:
    ca = PrivateCA()
    fake = start_fake(ssl=ca.server_context())
    bundle = ca.write_bundle(tmp_path / "ca.pem")

    done = _cli("link", CAMPAIGN, "12125557777", SSL_CERT_FILE=str(bundle), **_tls_env(fake))

    assert done.returncode == 0, done.stderr
    assert len(fake.requests) == 1


def test_an_untrusted_certificate_stops_the_cli_after_one_attempt(
    start_fake: FakeFactory,
) -> None:
    ca = PrivateCA()
    fake = start_fake(ssl=ca.server_context())

    done = _cli("link", CAMPAIGN, "12125557777", "12125557778", **_tls_env(fake))

    assert done.returncode == 1
    assert ca.handshakes == 1
    assert "certificate verification failed" in done.stderr
    assert TOKEN not in done.stdout + done.stderr
