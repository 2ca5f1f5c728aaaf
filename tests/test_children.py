"""Children: work queued before the owner runs, refused after it finished (issue 13, item 10)."""

from __future__ import annotations

import pytest
import trio

from trio_pipe.children import Children


async def test_work_queued_before_the_nursery_opens_runs_when_it_does():
    children = Children("owner")
    ran: list[int] = []

    async def work(i: int) -> None:
        ran.append(i)

    children.start_soon(work, 1)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            with children.attached(nursery):
                children.start_soon(work, 2)
    assert sorted(ran) == [1, 2]


async def test_work_added_after_close_raises_like_a_closed_nursery():
    children = Children("worker 'w'")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            with children.attached(nursery):
                pass
    assert children.closed
    with pytest.raises(RuntimeError, match="worker 'w' has finished"):
        children.start_soon(trio.sleep, 0)
