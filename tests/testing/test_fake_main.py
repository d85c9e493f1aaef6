"""``python -m plivo_numlink.testing`` serves the fake from a shell without the cli extra:
it prints its URL and credentials, serves, and stops on Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from plivo_numlink.testing import basic_auth_header

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

ROOT = Path(__file__).resolve().parent.parent.parent

#: Runs the module with click and rich made unimportable: as installed without the extra.
_WITHOUT_CLI = (
    "import runpy, sys; sys.modules['click'] = None; sys.modules['rich'] = None; "
    "sys.argv = ['python -m plivo_numlink.testing', *sys.argv[1:]]; "
    "runpy.run_module('plivo_numlink.testing', run_name='__main__', alter_sys=True)"
)


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WITHOUT_CLI, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner = [proc.stdout.readline()]
    while banner[-1] and "Ctrl-C" not in banner[-1]:
        banner.append(proc.stdout.readline())
    return proc, banner


def _field(banner: list[str], name: str) -> str:
    match = re.search(rf"{name}:\s+(\S+)", "".join(banner))
    assert match, banner
    return match.group(1)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_the_module_serves_the_fake_without_the_cli_extra_until_stopped(stop: int) -> None:
    proc, banner = _start("--port", "0", "--campaign", "CAMPX")
    try:
        match = re.search(r"http://127\.0\.0\.1:\d+", banner[0])
        assert match, banner
        auth_id, token = _field(banner, "auth id"), _field(banner, "auth token")
        request = urllib.request.Request(
            f"{match.group()}/v1/Account/{auth_id}/10dlc/Campaign/CAMPX/Number/",
            headers={"Authorization": basic_auth_header(auth_id, token)},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.loads(answer.read())["phone_numbers"] == []
        proc.send_signal(stop)
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, stderr
    assert "stopped after 1 request" in stderr


def test_a_bad_campaign_id_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_CLI, "--campaign", "no/such"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "campaign" in proc.stderr
