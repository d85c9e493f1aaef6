"""The one way attempts are counted: AttemptCounter chains (session -> job -> unit)."""

from __future__ import annotations

import asyncio

from plivo_numlink._transport import AttemptCounter


def test_a_counter_counts_the_attempts_added_to_it() -> None:
    counter = AttemptCounter()
    counter.add()
    counter.add()
    assert counter.count == 2


def test_attempts_of_another_counter_are_not_counted() -> None:
    root = AttemptCounter()
    job = root.child()
    job.add()
    other = root.child()
    other.add()
    assert job.count == 1
    assert root.count == 2


def test_a_parent_sees_the_attempts_of_its_children() -> None:
    outer = AttemptCounter()
    outer.add()
    inner = outer.child()
    inner.add()
    assert (outer.count, inner.count) == (2, 1)


def test_adding_to_a_root_counter_touches_nothing_else() -> None:
    root = AttemptCounter()
    root.add()
    assert root.count == 1
    assert root.parent is None
    assert repr(root) == "AttemptCounter(count=1)"


async def test_tasks_given_a_counter_are_counted() -> None:
    counter = AttemptCounter()

    async def one_attempt() -> None:
        counter.add()

    await asyncio.gather(one_attempt(), one_attempt())
    assert counter.count == 2


async def test_concurrent_jobs_do_not_count_each_other_s_attempts() -> None:
    session = AttemptCounter()
    both_counting = asyncio.Barrier(2) if hasattr(asyncio, "Barrier") else None

    async def job(attempts: int) -> int:
        counter = session.child()
        if both_counting is not None:
            await both_counting.wait()
        for _ in range(attempts):
            counter.add()
            await asyncio.sleep(0)
        return counter.count

    assert await asyncio.gather(job(3), job(5)) == [3, 5]
    assert session.count == 8
