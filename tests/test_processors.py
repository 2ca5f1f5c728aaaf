"""FrameProcessor: lanes, start gating, interruption, cancel, errors, broadcast (T4–T10)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from trio_pipe.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
    TextFrame,
)
from trio_pipe.processors import FrameDirection, FrameProcessor, link_processors
from trio_pipe.testing.pipeline import FrameRecorder

DOWN = FrameDirection.DOWNSTREAM
UP = FrameDirection.UPSTREAM


class Gate(FrameProcessor):
    """Blocks in process_frame on data frames whose text is in ``block`` until released."""

    def __init__(self, block: set[str]) -> None:
        super().__init__()
        self.block = block
        self.release = trio.Event()
        self.entered: list[Frame] = []
        self.finished: list[Frame] = []
        self.cancelled: list[Frame] = []
        self.handled: list[Frame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        self.handled.append(frame)
        blocks = isinstance(frame, TextFrame) and frame.text in self.block
        blocks = blocks or (isinstance(frame, EndFrame) and "end" in self.block)
        if blocks:
            self.entered.append(frame)
            try:
                await self.release.wait()
            except trio.Cancelled:
                self.cancelled.append(frame)
                raise
            self.finished.append(frame)
        await self.push_frame(frame, direction)


@asynccontextmanager
async def running(*processors: FrameProcessor, started: bool = True) -> AsyncIterator[None]:
    """Link and run ``processors`` (each given a StartFrame unless ``started=False``)."""
    link_processors(processors)
    async with trio.open_nursery() as nursery:
        for p in processors:
            await nursery.start(p.run)
        if started:
            for p in processors:
                await p.queue_frame(StartFrame())
            await trio.testing.wait_all_tasks_blocked()
        yield
        for p in processors:
            await p.cleanup()


def texts(frames: list[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, TextFrame)]


async def test_nothing_is_processed_before_start_then_system_first_fifo() -> None:
    """T4."""
    rec = FrameRecorder()
    async with running(rec, started=False):
        m1 = InputTransportMessageFrame(message=1)
        m2 = InputTransportMessageFrame(message=2)
        for frame in (TextFrame("a"), m1, TextFrame("b"), m2):
            await rec.queue_frame(frame)
        await trio.testing.wait_all_tasks_blocked()
        assert rec.records == []
        s = StartFrame()
        await rec.queue_frame(s)
        await trio.testing.wait_all_tasks_blocked()
        order = [r.frame for r in rec.records]
        assert order[:3] == [s, m1, m2]
        assert texts(order) == ["a", "b"]


async def test_system_frame_overtakes_blocked_data() -> None:
    """T5: a system frame queued behind a blocked data frame is processed at once."""
    gate = Gate({"slow"})
    rec = FrameRecorder()
    async with running(gate, rec):
        await gate.queue_frame(TextFrame("slow"))
        await gate.queue_frame(TextFrame("after"))
        urgent = OutputTransportMessageUrgentFrame(message="now")
        await gate.queue_frame(urgent)
        await trio.testing.wait_all_tasks_blocked()
        assert len(gate.entered) == 1
        assert rec.frames(OutputTransportMessageUrgentFrame) == [urgent]
        assert texts(rec.frames()) == []
        gate.release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert texts(rec.frames()) == ["slow", "after"]


async def test_interruption_cancels_current_drops_queued_keeps_end() -> None:
    """T6."""
    gate = Gate({"slow"})
    rec = FrameRecorder()
    async with running(gate, rec):
        await gate.queue_frame(TextFrame("slow"))
        await gate.queue_frame(TextFrame("queued1"))
        end = EndFrame()
        await gate.queue_frame(end)
        await gate.queue_frame(TextFrame("queued2"))
        await trio.testing.wait_all_tasks_blocked()
        await gate.queue_frame(InterruptionFrame())
        await trio.testing.wait_all_tasks_blocked()
        assert [f.text for f in gate.cancelled] == ["slow"]
        assert gate.finished == []
        assert texts(rec.frames()) == []
        assert rec.frames(EndFrame) == [end]
        # the gate forwarded nothing for the interruption (Gate pushes only data it handled)
        assert texts(gate.handled) == ["slow"]


async def test_uninterruptible_frame_finishes_but_queue_is_purged() -> None:
    """T7."""
    gate = Gate({"keep"})
    rec = FrameRecorder()
    async with running(gate, rec):
        keep = TextFrame("keep")
        keep.interruptible = False
        await gate.queue_frame(keep)
        await gate.queue_frame(TextFrame("dropped"))
        await trio.testing.wait_all_tasks_blocked()
        await gate.queue_frame(InterruptionFrame())
        await trio.testing.wait_all_tasks_blocked()
        assert gate.cancelled == []
        gate.release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert gate.finished == [keep]
        assert texts(rec.frames()) == ["keep"]


async def test_frames_queued_after_interruption_survive_it() -> None:
    """Text queued after an InterruptionFrame waits for it and is not purged by it."""
    gate = Gate({"slow"})
    rec = FrameRecorder()
    async with running(gate, rec):
        await gate.queue_frame(TextFrame("slow"))
        await gate.queue_frame(TextFrame("old"))
        await trio.testing.wait_all_tasks_blocked()
        # Queued in one go, before the system loop has run: order must still hold.
        await gate.queue_frame(InterruptionFrame())
        await gate.queue_frame(TextFrame("new"))
        await trio.testing.wait_all_tasks_blocked()
        assert texts(rec.frames()) == ["new"]


async def test_after_cancel_frames_are_ignored() -> None:
    """T8, and R7: cancel stops the data lane even mid-EndFrame."""
    gate = Gate({"end"})
    rec = FrameRecorder()
    async with running(gate, rec):
        await gate.queue_frame(EndFrame())
        await trio.testing.wait_all_tasks_blocked()
        assert len(gate.entered) == 1
        await gate.queue_frame(CancelFrame())
        await trio.testing.wait_all_tasks_blocked()
        assert len(gate.cancelled) == 1
        await gate.queue_frame(TextFrame("late"))
        await gate.queue_frame(InputTransportMessageFrame(message="late"))
        await trio.testing.wait_all_tasks_blocked()
        assert [type(f) for f in gate.handled] == [StartFrame, EndFrame, CancelFrame]


class Boom(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TextFrame) and frame.text == "boom":
            raise RuntimeError("kaput")
        await self.push_frame(frame, direction)


async def test_exception_becomes_one_upstream_error_frame() -> None:
    """T9."""
    up = FrameRecorder()
    boom = Boom()
    down = FrameRecorder()
    async with running(up, boom, down):
        await up.queue_frame(TextFrame("boom"))
        await up.queue_frame(TextFrame("next"))
        await trio.testing.wait_all_tasks_blocked()
        errors = up.frames(ErrorFrame, UP)
        assert len(errors) == 1
        assert errors[0].processor is boom
        assert "kaput" in errors[0].error
        assert isinstance(errors[0].exception, RuntimeError)
        assert texts(down.frames()) == ["next"]


async def test_push_error_explicit() -> None:
    up = FrameRecorder()
    p = FrameProcessor()
    async with running(up, p):
        await p.push_error("bad", fatal=True)
        await trio.testing.wait_all_tasks_blocked()
        (error,) = up.frames(ErrorFrame, UP)
        assert error.fatal and error.processor is p and error.error == "bad"


async def test_broadcast_frame_crossed_sibling_ids() -> None:
    """T10."""
    up = FrameRecorder()
    mid = FrameProcessor()
    down = FrameRecorder()
    async with running(up, mid, down):
        message = {"k": [1]}
        await mid.broadcast_frame(InputTransportMessageFrame, message=message)
        await trio.testing.wait_all_tasks_blocked()
        (d,) = down.frames(InputTransportMessageFrame)
        (u,) = up.frames(InputTransportMessageFrame)
        assert d.message is message and u.message is message
        assert d.broadcast_sibling_id == u.id and u.broadcast_sibling_id == d.id
        assert down.frames(InputTransportMessageFrame, DOWN) == [d]
        assert up.frames(InputTransportMessageFrame, UP) == [u]


async def test_broadcast_interruption_purges_own_queue() -> None:
    class Interrupter(Gate):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            if isinstance(frame, TextFrame) and frame.text == "interrupt":
                await FrameProcessor.process_frame(self, frame, direction)
                self.handled.append(frame)
                await self.broadcast_interruption()
                return
            await super().process_frame(frame, direction)

    up = FrameRecorder()
    p = Interrupter(set())
    down = FrameRecorder()
    async with running(up, p, down):
        await trio.testing.wait_all_tasks_blocked()
        await p.queue_frame(TextFrame("interrupt"))
        await p.queue_frame(TextFrame("stale"))
        await trio.testing.wait_all_tasks_blocked()
        assert texts(p.handled) == ["interrupt"]
        assert len(down.frames(InterruptionFrame, DOWN)) == 1
        assert len(up.frames(InterruptionFrame, UP)) == 1


async def test_push_without_neighbour_is_dropped() -> None:
    alone = FrameProcessor()
    await alone.push_frame(TextFrame("x"))  # no neighbour either way: no error
    await alone.push_frame(TextFrame("x"), UP)
    p, down = FrameProcessor(), FrameRecorder()
    async with running(p, down):
        await p.push_frame(TextFrame("up"), UP)  # nobody upstream: gone
        await p.push_frame(TextFrame("down"))
        await trio.testing.wait_all_tasks_blocked()
        assert texts(down.frames(TextFrame, DOWN)) == ["down"]
        assert down.frames(TextFrame, UP) == []


@pytest.mark.parametrize("direct", [False, True])
async def test_run_returns_after_cleanup(direct: bool, live_tasks) -> None:
    before = live_tasks()
    p = FrameProcessor(enable_direct_mode=direct)
    async with trio.open_nursery() as nursery:
        await nursery.start(p.run)
        p.start_soon(trio.sleep, 0)
        await p.cleanup()
    assert live_tasks() == before
