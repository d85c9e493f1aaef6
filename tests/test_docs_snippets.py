"""Every ```python block of README.md and docs/*.md runs, against a fake Plivo.

The convention (the same for every page, see docs/architecture.md "Documentation"):

- each block runs in a fresh namespace, with a fresh ``FakePlivo()`` running and
  ``PLIVO_AUTH_ID``, ``PLIVO_AUTH_TOKEN`` and ``PLIVO_NUMLINK_BASE_URL`` pointing at it (its
  campaign is ``CUOGHIN``), in a fresh temporary working directory;
- top-level ``await`` (and ``async with`` / ``async for``) is allowed;
- a block right after a line ``<!-- continue -->`` continues the previous block: same
  namespace, same fake (its test runs the blocks it continues first);
- a block right after ``<!-- skip: reason -->`` is not run;
- a chain of blocks that names ``REDIS_URL`` gets a throwaway redis-server of its own,
  its URL in that environment variable.

One test per block, named ``file:line`` (the line of its opening fence).

The fake serves from a thread of its own, so that a block may call ``asyncio.run()`` as a
program would; blocks with top-level ``await`` run on one event loop per chain of blocks.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from types import CodeType

import attrs
import pytest
from storage.conftest import RedisServer, redis_binary

from plivo_numlink.testing import FakePlivo

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_CONTINUE = re.compile(r"^\s*<!--\s*continue\s*-->\s*$")
_SKIP = re.compile(r"^\s*<!--\s*skip:\s*(?P<reason>.+?)\s*-->\s*$")


@attrs.frozen
class Block:
    """One ```python block of a page."""

    path: Path
    line: int  # 1-based line of the opening fence
    source: str
    continues: Block | None  # the block it continues, or None for a fresh start
    skip_reason: str | None

    @property
    def name(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"

    def chain(self) -> list[Block]:
        """The blocks to run for this one, first to last (itself included)."""
        blocks: list[Block] = []
        block: Block | None = self
        while block is not None:
            blocks.append(block)
            block = block.continues
        return blocks[::-1]


def python_blocks(path: Path) -> Iterator[Block]:
    """The ```python blocks of a Markdown page, with their continue/skip markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    previous: Block | None = None
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, info, start = match["fence"], match["info"].lower(), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(match["indent"]) :])
            i += 1
        i += 1  # the closing fence
        if info not in ("python", "py", "python3"):
            continue
        marker = _previous_nonblank(lines, start)
        skip = _SKIP.match(marker)
        continued = previous if _CONTINUE.match(marker) else None
        if _CONTINUE.match(marker) and previous is None:
            raise ValueError(f"{path}:{start + 1}: <!-- continue --> with no block before it")
        block = Block(path, start + 1, "\n".join(body) + "\n", continued, skip and skip["reason"])
        previous = block
        yield block


def _previous_nonblank(lines: list[str], index: int) -> str:
    for line in reversed(lines[:index]):
        if line.strip():
            return line
    return ""


BLOCKS = [block for page in PAGES for block in python_blocks(page)]


def _compile(block: Block) -> CodeType:
    return compile(
        block.source, block.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )


class FakeInThread:
    """A started FakePlivo served by an event loop on a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = FakePlivo()
        self._call(self.fake.start())

    def _call(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)  # type: ignore[arg-type]

    def close(self) -> None:
        try:
            self._call(self.fake.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


def run_chain(blocks: list[Block], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    served = FakeInThread()
    redis: RedisServer | None = None
    try:
        if any("REDIS_URL" in block.source for block in blocks):
            # A page naming REDIS_URL gets a throwaway redis-server of its own.
            redis = RedisServer(redis_binary(), tmp_path)
            redis.start()
            monkeypatch.setenv("REDIS_URL", redis.url)
        fake = served.fake
        monkeypatch.setenv("PLIVO_AUTH_ID", fake.auth_id)
        monkeypatch.setenv("PLIVO_AUTH_TOKEN", fake.auth_token)
        monkeypatch.setenv("PLIVO_NUMLINK_BASE_URL", fake.base_url)
        monkeypatch.delenv("PLIVO_NUMLINK_RATE_LIMIT_STORAGE", raising=False)
        monkeypatch.chdir(tmp_path)
        namespace: dict[str, object] = {"__name__": "__main__"}
        loop = asyncio.new_event_loop()
        try:
            for block in blocks:
                if block.skip_reason is not None:
                    continue
                result = eval(_compile(block), namespace)
                if inspect.iscoroutine(result):
                    loop.run_until_complete(result)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
    finally:
        served.close()
        if redis is not None:
            redis.stop()


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_docs_snippet_runs(block: Block, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if block.skip_reason is not None:
        pytest.skip(block.skip_reason)
    run_chain(block.chain(), monkeypatch, tmp_path)


# -------------------------------------------------------------- the collector's own rules


def _blocks_of(tmp_path: Path, text: str) -> list[Block]:
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    return list(python_blocks(page))


def test_every_page_has_its_python_blocks_collected() -> None:
    # README.md's library example at least: an empty collection would pass silently.
    assert any(block.path.name == "README.md" for block in BLOCKS)
    assert len({block.name for block in BLOCKS}) == len(BLOCKS)


def test_a_continue_marker_chains_a_block_to_the_previous_one(tmp_path: Path) -> None:
    first, second, third = _blocks_of(
        tmp_path,
        "```python\nx = 1\n```\n\ntext\n\n<!-- continue -->\n```python\ny = x\n```\n"
        "```console\n$ ls\n```\n<!-- continue -->\n\n```python\nz = y\n```\n",
    )
    assert first.continues is None
    assert second.continues is first
    assert third.chain() == [first, second, third]


def test_a_skip_marker_gives_the_reason(tmp_path: Path) -> None:
    (block,) = _blocks_of(tmp_path, "<!-- skip: needs a real account -->\n```python\n1/0\n```\n")
    assert block.skip_reason == "needs a real account"


def test_other_languages_are_not_collected(tmp_path: Path) -> None:
    assert _blocks_of(tmp_path, "```console\n$ make test\n```\n```\nplain\n```\n") == []


def test_a_block_may_await_at_top_level_against_the_fake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = _blocks_of(
        tmp_path,
        "```python\nimport plivo_numlink as pn\n\nasync with pn.NumLinkSession() as s:\n"
        "    ack = await s.link('CUOGHIN', ['+1 212-555-7777'])\n```\n"
        "<!-- continue -->\n```python\nassert ack.api_id\n```\n",
    )
    run_chain(blocks[1].chain(), monkeypatch, tmp_path)


def test_a_failing_block_fails_its_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = _blocks_of(tmp_path, "```python\nlog_failure(1)\n```\n")
    with pytest.raises(NameError, match="log_failure"):
        run_chain(block.chain(), monkeypatch, tmp_path)
