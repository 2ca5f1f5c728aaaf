"""Wakeup: one parked task; a second one is refused, not silently orphaning the first
(issue 13, item 10)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_pipe.wakeup import Wakeup


async def test_a_second_waiter_is_refused_and_the_first_still_wakes():
    wakeup = Wakeup()
    woken: list[str] = []

    async def first() -> None:
        await wakeup.park()
        woken.append("first")

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(RuntimeError, match="already parked"):
                await wakeup.park()
            wakeup.wake()
    assert woken == ["first"]


async def test_park_is_cancellable_and_reusable():
    wakeup = Wakeup()
    with trio.fail_after(5):
        with trio.move_on_after(0.01):
            await wakeup.park()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wakeup.park)
            await trio.testing.wait_all_tasks_blocked()
            wakeup.wake()
