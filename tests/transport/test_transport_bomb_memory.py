"""Compressed bombs and large error bodies over real sockets, measured in a fresh process:
the cap counts decoded bytes, so a 512 MiB gzip bomb (half a megabyte on the wire) ends in a
typed PlivoError with memory growth far under its decoded size, and failed attempts of a
large error answer do not pile up (issue 10, item 1).

Each case runs in a child process so that the kernel's high-water mark (VmHWM) measures it
alone; the body is compressed in chunks, so building it costs no memory either.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import zlib

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import plivo_numlink as pn

    def high_water_mark():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM")

    async def main(base_url):
        before = high_water_mark()
        started = time.monotonic()
        retry = pn.RetryPolicy(attempts=8, wait_initial=0, wait_max=0)
        async with pn.NumLinkSession(
            "MA0123456789ABCDEFGH", "token", base_url=base_url,
            rate_limit=None, retry=retry,
        ) as session:
            try:
                await session.link("CUOGHIN", ["12125557777"])
                error = None
            except pn.PlivoError as exc:
                error = type(exc).__name__
        print(json.dumps({
            "error": error,
            "growth": high_water_mark() - before,
            "seconds": time.monotonic() - started,
        }))

    asyncio.run(main(sys.argv[1]))
    """
)


def gzip_bomb(size: int) -> bytes:
    """Valid JSON of ``size`` bytes and more once decoded, compressed chunk by chunk."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    chunk = b"0" * (1 << 20)
    parts = [packer.compress(b'{"api_id": "x", "pad": "')]
    parts += [packer.compress(chunk) for _ in range(size >> 20)]
    parts.append(packer.compress(b'"}') + packer.flush())
    return b"".join(parts)


async def run_client(status: int, body: bytes, headers: dict[str, str]) -> dict[str, object]:
    """Serve ``body`` here; a fresh process links a number against it, and says how it went."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            str(server.make_url("")).rstrip("/"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(child.communicate(), 240)
    finally:
        await server.close()
    assert child.returncode == 0, err.decode()
    result: dict[str, object] = json.loads(out.decode().strip().splitlines()[-1])
    return result


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
async def test_a_512_mib_gzip_bomb_ends_in_a_typed_error_with_bounded_memory() -> None:
    bomb = gzip_bomb(512 << 20)
    assert len(bomb) < 2 << 20  # small on the wire
    result = await run_client(200, bomb, {"Content-Encoding": "gzip"})
    assert result["error"] == "ResponseFormatError"
    assert result["growth"] < 150 << 20  # decoded, it would be 512 MiB
    assert result["seconds"] < 60  # bounded: the read stops at the cap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
async def test_eight_failed_attempts_of_a_30_mib_error_answer_do_not_pile_up() -> None:
    result = await run_client(500, b"x" * (30 << 20), {})
    assert result["error"] == "ServerError"
    # 8 attempts' bodies kept alive until the cycle collector runs would be 240 MiB.
    assert result["growth"] < 150 << 20
