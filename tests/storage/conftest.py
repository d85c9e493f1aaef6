"""Fixtures of the shared-storage tests: a real, throwaway redis-server on a free loopback port.

Each server runs without persistence (``--save '' --appendonly no``) in a temporary
directory and is stopped after its tests. Where the ``redis-server`` binary is missing the
tests that need it skip, naming the install command; under CI (env ``CI`` set) they fail
instead, so that CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from plivo_numlink._storage import RedisStorage, parse_storage_uri

INSTALL_HINT = "apt-get install redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_binary() -> str:
    """The redis-server path, or skip (fail under CI) naming the install command."""
    found = shutil.which("redis-server")
    if found is None:
        message = f"redis-server is not installed: install it with `{INSTALL_HINT}`"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must run the Redis tests, not skip them)")
        pytest.skip(message)
    return found


class RedisServer:
    """One redis-server process on 127.0.0.1, started and stopped by the tests."""

    def __init__(self, binary: str, directory: Path, *, password: str | None = None) -> None:
        self.binary = binary
        self.directory = directory
        self.password = password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--loglevel", "warning",
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"redis-server exited at start: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    answer = sock.recv(64)
                if answer.startswith((b"+PONG", b"-NOAUTH")):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            if self.password:
                sock.sendall(f"AUTH {self.password}\r\n".encode())
                sock.recv(64)
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(64)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    return free_port()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One server for the session's tests (flushed before each by ``redis_url``)."""
    server = RedisServer(redis_binary(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start a server of the test's own (to kill it, or give it a password)."""
    binary = redis_binary()
    servers: list[RedisServer] = []

    def start(*, password: str | None = None) -> RedisServer:
        server = RedisServer(binary, tmp_path, password=password)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def storage(redis_url: str) -> AsyncIterator[RedisStorage]:
    config = parse_storage_uri(redis_url)
    assert config is not None
    store = RedisStorage(config, timeout=5.0)
    yield store
    await store.aclose()
