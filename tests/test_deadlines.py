"""Every Trio test runs under a wall-clock deadline: a hang fails it with a clear message."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from deadlines import TEST_DEADLINE, HungTest, run_with_deadline


def test_a_hung_test_is_cancelled_and_fails_naming_itself() -> None:
    closed = []

    async def hangs_on_a_socket() -> None:
        a, b = trio.socket.socketpair()
        with a, b:
            try:
                await a.recv(1)  # nobody ever sends
            finally:
                closed.append(True)  # cancelled: its cleanup ran

    run = run_with_deadline(0.3, "tests/x.py::test_waits")
    with pytest.raises(HungTest, match=r"tests/x.py::test_waits did not finish within its 0.3 s"):
        run(hangs_on_a_socket)
    assert closed == [True]


def test_a_test_that_swallows_the_cancel_still_fails() -> None:
    async def swallows() -> None:
        with trio.CancelScope(shield=True):  # keeps going past the deadline, then returns
            await trio.sleep(0.6)

    with pytest.raises(HungTest):
        run_with_deadline(0.2, "t")(swallows)


def test_the_deadline_is_wall_clock_not_the_virtual_clock() -> None:
    async def sleeps_an_hour_of_virtual_time() -> str:
        await trio.sleep(3600)
        return "done"

    clock = trio.testing.MockClock(autojump_threshold=0)
    assert run_with_deadline(5, "t")(sleeps_an_hour_of_virtual_time, clock=clock) == "done"


def test_errors_pass_through_unchanged() -> None:
    async def fails() -> None:
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        run_with_deadline(5, "t")(fails)


def _deadlines(request: pytest.FixtureRequest) -> list[float]:
    markers = request.node.iter_markers("trio")
    return [getattr(m.kwargs["run"], "deadline", None) for m in markers if "run" in m.kwargs]


async def test_every_trio_test_gets_the_deadline(request: pytest.FixtureRequest) -> None:
    assert _deadlines(request)[0] == TEST_DEADLINE


@pytest.mark.deadline(0.5)
async def test_a_marker_sets_another_deadline(request: pytest.FixtureRequest) -> None:
    assert _deadlines(request)[0] == 0.5
