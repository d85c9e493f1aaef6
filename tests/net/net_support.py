"""Helpers of the network tests: a real HTTP proxy process, and a private CA for TLS."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import trustme

PROXY_SCRIPT = Path(__file__).with_name("proxy_server.py")


class ProxyProcess:
    """``proxy_server.py`` running in its own process on 127.0.0.1, and its request log."""

    def __init__(self, log: Path, auth: str | None) -> None:
        self.log = log
        command = [sys.executable, str(PROXY_SCRIPT), "--log", str(log)]
        if auth is not None:
            command += ["--auth", auth]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"the test proxy did not start: {line!r}")
        self.port = int(line.split()[1])
        #: The proxy's URL without credentials.
        self.url = f"http://127.0.0.1:{self.port}"

    def url_with(self, userinfo: str) -> str:
        return f"http://{userinfo}@127.0.0.1:{self.port}"

    def entries(self) -> list[dict[str, Any]]:
        """The requests the proxy saw: method, target, proxy_authorization."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class PrivateCA:
    """A CA of our own, server contexts with certificates it issued, and client contexts."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        #: TLS handshakes the server contexts made saw begin (one per connection attempt).
        self.handshakes = 0

    def server_context(self, *hosts: str) -> ssl.SSLContext:
        """A server context with a certificate for ``hosts`` (default 127.0.0.1)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*(hosts or ("127.0.0.1",))).configure_cert(context)
        # Called at each ClientHello, with or without SNI: counts attempts on the server side.
        context.sni_callback = self._hello
        return context

    def _hello(self, *args: object) -> None:
        self.handshakes += 1

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA (besides the system's CAs)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def write_bundle(self, path: Path) -> Path:
        self.ca.cert_pem.write_to_path(str(path))
        return path


def every_text(exc: BaseException) -> str:
    """The str and repr of ``exc`` and of every exception it chains to."""
    texts, todo, seen = [], [exc], set()
    while todo:
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        texts += [str(link), repr(link)]
        todo += [e for e in (link.__cause__, link.__context__) if e is not None]
    return "\n".join(texts)
