"""examples/fastapi_service.py as a user runs it: a real uvicorn process on a free port,
driven with a real HTTP client, against its embedded fake Plivo (issue 16, "Done when")."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from plivo_numlink.testing import DEFAULT_AUTH_TOKEN, sign_callback

ROOT = Path(__file__).resolve().parent.parent
#: Seconds the program may take for any one step before the test gives up on it.
PATIENCE = 30
CALLBACK = {
    "event": "number_linking",
    "campaign_id": "CUOGHIN",
    "number": "12125550123",
    "status": "success",
}


@contextlib.asynccontextmanager
async def running_example() -> AsyncIterator[tuple[asyncio.subprocess.Process, str, list[str]]]:
    """The program on a free port (``--port 0``), its base URL, and its output so far."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN", "PLIVO_NUMLINK_BASE_URL")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-u",
        str(ROOT / "examples" / "fastapi_service.py"),
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    try:
        seen = await read_until(process, "Uvicorn running on ")
        match = re.search(r"(http://[\d.]+:\d+)", seen[-1])
        assert match, seen
        yield process, match.group(1), seen
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def read_until(process: asyncio.subprocess.Process, marker: str) -> list[str]:
    assert process.stdout is not None
    seen: list[str] = []
    while not seen or marker not in seen[-1]:
        line = await asyncio.wait_for(process.stdout.readline(), PATIENCE)
        assert line, f"the program ended early: {seen}"
        seen.append(line.decode().strip())
    return seen


async def test_fastapi_example_links_learns_completion_from_callbacks_and_refuses_tampering() -> (
    None
):
    async with running_example() as (process, base, seen):
        assert any("using the embedded fake Plivo" in line for line in seen)
        # No public_url (Plivo reaches it directly): the receiver warned at start-up.
        assert any("has no public_url" in line for line in seen)
        timeout = aiohttp.ClientTimeout(total=PATIENCE)
        async with aiohttp.ClientSession(base, timeout=timeout) as http:
            # The link waits for the fake's signed callback, which the mounted receiver took.
            linked = await http.post(
                "/campaigns/CUOGHIN/numbers", json={"number": "+1 212-555-7777", "wait": 20}
            )
            assert linked.status == 200, await linked.text()
            assert (await linked.json())["status"] == "success"
            status = await (await http.get("/campaigns/CUOGHIN/numbers/12125557777")).json()
            assert status["status"] == "COMPLETED"
            assert [event["status"] for event in status["events"]] == ["success"]

            url = base + "/plivo/numlink/"
            headers = sign_callback("POST", url, CALLBACK, DEFAULT_AUTH_TOKEN)
            accepted = await http.post("/plivo/numlink/", data=CALLBACK, headers=headers)
            assert (accepted.status, await accepted.text()) == (200, "OK")
            again = await http.post("/plivo/numlink/", data=CALLBACK, headers=headers)
            assert (again.status, await again.text()) == (403, "replayed")
            tampered = {**CALLBACK, "status": "failed"}
            headers = sign_callback("POST", url, CALLBACK, DEFAULT_AUTH_TOKEN)
            refused = await http.post("/plivo/numlink/", data=tampered, headers=headers)
            assert (refused.status, await refused.text()) == (403, "invalid signature")

            events = await (await http.get("/events")).json()
            assert [(e["number"], e["status"]) for e in events] == [
                ("12125557777", "success"),
                ("12125550123", "success"),
            ]
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), PATIENCE)
        # uvicorn shuts down gracefully (the lifespan closes the session), then ends the
        # process with the signal that stopped it, so that a supervisor sees it.
        assert "Application shutdown complete" in rest.decode()
        assert process.returncode == -signal.SIGTERM, rest.decode()
