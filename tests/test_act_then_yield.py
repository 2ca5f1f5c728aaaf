"""act_then_yield: a synchronous action as a checkpoint, the yield after the action."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_pipe.checkpoints import act_then_yield


class _Yields(trio.abc.Instrument):
    """Notes each time ``task`` gives the scheduler back control."""

    def __init__(self, task: trio.lowlevel.Task, log: list[str]) -> None:
        self.task, self.log = task, log

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.log.append("yield")


async def test_it_acts_before_it_yields():
    # So whoever the action wakes is scheduled by the time the actor yields (with a
    # checkpoint first, the action would wait a whole scheduler pass).
    log: list[str] = []
    instrument = _Yields(trio.lowlevel.current_task(), log)
    trio.lowlevel.add_instrument(instrument)
    try:
        with trio.testing.assert_checkpoints():
            await act_then_yield(log.append, "acted")
    finally:
        trio.lowlevel.remove_instrument(instrument)
    assert log == ["acted", "yield"]


async def test_cancelled_it_does_not_act():
    acted: list[int] = []
    with trio.CancelScope() as scope:
        scope.cancel()
        await act_then_yield(acted.append, 1)
    assert scope.cancelled_caught
    assert acted == []


async def test_an_action_that_raises_still_yields():
    def fail() -> None:
        raise RuntimeError("no such job")

    with trio.testing.assert_checkpoints(), pytest.raises(RuntimeError, match="no such job"):
        await act_then_yield(fail)
