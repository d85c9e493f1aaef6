"""A small forwarding HTTP proxy for the network tests, run as its own process.

    python proxy_server.py --log PATH [--auth USER:PASSWORD]

It listens on 127.0.0.1 (a free port, printed as ``listening PORT`` on the first line of
stdout) and serves the two ways a client uses an HTTP proxy:

- an absolute-form request (``POST http://host:port/path HTTP/1.1``, a plain-HTTP target):
  forwarded to the target in origin form, one request per connection (``Connection:
  close``), and the target's answer relayed back as it came;
- ``CONNECT host:port`` (an HTTPS target): ``200`` then bytes piped both ways.

Each request is logged to ``--log`` as one JSON line: ``{"method", "target",
"proxy_authorization"}``. With ``--auth``, a request whose ``Proxy-Authorization`` is not
Basic USER:PASSWORD is answered ``407`` (and logged too). Only the standard library: the
tests start it with the interpreter running them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import sys
from urllib.parse import urlsplit

_HOP_BY_HOP = {"proxy-authorization", "proxy-connection", "connection", "keep-alive"}


class Proxy:
    def __init__(self, log_path: str, auth: str | None) -> None:
        self._log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - open for the process's life
        self._expected = None
        if auth is not None:
            self._expected = "Basic " + base64.b64encode(auth.encode()).decode()

    def log(self, method: str, target: str, proxy_authorization: str | None) -> None:
        entry = {"method": method, "target": target, "proxy_authorization": proxy_authorization}
        self._log.write(json.dumps(entry) + "\n")
        self._log.flush()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if line]
        found = {name.lower(): value for name, value in headers}
        authorization = found.get("proxy-authorization")
        self.log(method, target, authorization)
        if self._expected is not None and authorization != self._expected:
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            return
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return
        parts = urlsplit(target)
        body = await reader.readexactly(int(found.get("content-length", "0")))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kept = [f"{n}: {v}" for n, v in headers if n.lower() not in _HOP_BY_HOP]
        request = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""])
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        up_writer.write(request.encode("latin-1") + body)
        await up_writer.drain()
        await _pipe(up_reader, writer)
        up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.write_eof()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--auth")
    args = parser.parse_args()
    proxy = Proxy(args.log, args.auth)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    sys.exit(0)
