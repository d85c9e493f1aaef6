"""A journal is held by one run at a time (an exclusive flock on ``<journal>.lock``, released
by the operating system when the holder ends however it ends), and a journal that cannot be
written is refused at open, before anything is sent.

The permission tests run their probe as an unprivileged user when the suite runs as root
(root bypasses file permissions): a child interpreter imports the library as root, then
drops to ``nobody`` (uid and gid 65534) before it opens the journal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from plivo_numlink._journal import Journal, JournalError

from ._journal_helpers import ACCOUNT, CAMPAIGN, outcome

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and flock")

NOBODY = 65534

#: Opens the journal named by argv[1] (dropping to ``nobody`` first when root), records one
#: outcome, closes it; prints what happened as JSON. With argv[2] == "hold": prints "held"
#: once open and keeps it open until stdin closes.
_PROBE = f"""
import asyncio, json, os, sys
from plivo_numlink._journal import Journal, JournalError
from plivo_numlink._report import NumberOutcome, OutcomeKind

path, mode = sys.argv[1], sys.argv[2]
if mode == "as-user" and os.getuid() == 0:
    os.setgroups([])
    os.setgid({NOBODY})
    os.setuid({NOBODY})

async def main():
    try:
        journal = await Journal.open(path, account={ACCOUNT!r}, campaign_id={CAMPAIGN!r},
                                     action="link")
    except (JournalError, ValueError) as exc:
        return {{"error": type(exc).__name__, "message": str(exc)}}
    try:
        if mode == "hold":
            print("held", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        journal.record(NumberOutcome(number="12125550001", kind=OutcomeKind.ACCEPTED))
        await journal.flush()
    finally:
        await journal.close()
    return {{"error": None}}

print(json.dumps(asyncio.run(main())), flush=True)
"""


def _probe(path: Path, mode: str = "as-user") -> dict[str, str | None]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str | None] = json.loads(done.stdout.splitlines()[-1])
    return result


async def _open(path: Path) -> Journal:
    return await Journal.open(path, account=ACCOUNT, campaign_id=CAMPAIGN, action="link")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the unprivileged probe can reach (pytest's tmp_path is root's alone)."""
    made = Path(tempfile.mkdtemp(prefix="pn-journal-lease-"))
    made.chmod(0o755)
    yield made
    for directory in [made, *made.rglob("*")]:  # read-only ones too, for any user
        if directory.is_dir() and not directory.is_symlink():
            directory.chmod(0o755)
    shutil.rmtree(made)


def _give_to_nobody(*paths: Path) -> None:
    if os.getuid() == 0:
        for path in paths:
            os.chown(path, NOBODY, NOBODY)


async def test_a_second_opening_while_the_first_is_open_is_refused(journal_path: Path) -> None:
    async with await _open(journal_path):
        with pytest.raises(JournalError, match="in use by another run"):
            await _open(journal_path)


async def test_the_journal_is_free_again_once_closed(journal_path: Path) -> None:
    async with await _open(journal_path) as first:
        first.record(outcome(1))
    async with await _open(journal_path) as second:
        assert await second.count_final() == 1


async def test_a_journal_held_by_another_process_is_refused(journal_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _PROBE, str(journal_path), "hold"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(JournalError, match="in use by another run"):
            await _open(journal_path)
        holder.stdin.close()
        assert json.loads(holder.stdout.readline()) == {"error": None}
        assert holder.wait(timeout=30) == 0
    finally:
        holder.kill()
        holder.wait()
    async with await _open(journal_path) as journal:  # the holder ended: free again
        assert await journal.count_final() == 1


async def test_a_killed_holder_leaves_the_journal_free(journal_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _PROBE, str(journal_path), "hold"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    async with await _open(journal_path):
        pass


async def test_a_planted_link_at_the_lock_file_is_not_followed(journal_path: Path) -> None:
    victim = journal_path.with_name("victim")
    victim.write_text("precious\n")
    journal_path.with_name(journal_path.name + ".lock").symlink_to(victim)
    with pytest.raises(JournalError, match="lock file"):
        await _open(journal_path)
    assert victim.read_text() == "precious\n"


async def test_a_directory_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="is a directory"):
        await _open(tmp_path)


def test_a_writable_journal_passes_the_probe(shared_dir: Path) -> None:
    # The probe itself works as the unprivileged user: the refusals below are about the files.
    work = shared_dir / "work"
    work.mkdir()
    _give_to_nobody(work)
    assert _probe(work / "job.journal") == {"error": None}


def test_a_read_only_journal_file_is_refused_at_open(shared_dir: Path) -> None:
    work = shared_dir / "work"
    work.mkdir()
    journal = work / "job.journal"
    assert _probe(journal, "as-root") == {"error": None}  # a journal with one outcome
    _give_to_nobody(work, journal, journal.with_name(journal.name + ".lock"))
    journal.chmod(0o444)

    result = _probe(journal)

    assert result["error"] == "JournalError"
    assert "cannot be written" in str(result["message"])


def test_a_journal_in_a_read_only_directory_is_refused_at_open(shared_dir: Path) -> None:
    work = shared_dir / "work"
    work.mkdir()
    journal = work / "job.journal"
    assert _probe(journal, "as-root") == {"error": None}
    for name in os.listdir(work):  # the file and its lock are the user's; the directory not
        _give_to_nobody(work / name)
    work.chmod(0o555)

    result = _probe(journal)

    assert result["error"] == "JournalError"
    assert "cannot be written" in str(result["message"])
