"""Pipeline and PipelineTask: start, end, cancel, worker frames, events, cleanup (T11–T17)."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from trio_pipe.frames import (
    CancelFrame,
    CancelWorkerFrame,
    EndFrame,
    EndWorkerFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    InterruptionWorkerFrame,
    StartFrame,
    TextFrame,
)
from trio_pipe.pipeline import Pipeline, PipelineParams, PipelineTask
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.testing.pipeline import FrameRecorder

DOWN = FrameDirection.DOWNSTREAM
UP = FrameDirection.UPSTREAM


class SlowEnd(FrameProcessor):
    """Takes ``secs`` (Trio time) to handle an EndFrame, like a transport draining audio."""

    def __init__(self, secs: float) -> None:
        super().__init__()
        self.secs = secs
        self.drained = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, EndFrame):
            await trio.sleep(self.secs)
            self.drained = True
        await self.push_frame(frame, direction)


class Pusher(FrameProcessor):
    """Pushes ``frame`` upstream when it sees a TextFrame "go"."""

    def __init__(self, frame: Frame, direction: FrameDirection = UP) -> None:
        super().__init__()
        self.frame = frame
        self.direction = direction

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TextFrame) and frame.text == "go":
            await self.push_frame(self.frame, self.direction)
        else:
            await self.push_frame(frame, direction)


class FakeSocketProcessor(FrameProcessor):
    """Stands in for a transport: cleanup() closes its "socket" (after a checkpoint)."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)

    async def cleanup(self) -> None:
        await super().cleanup()
        await trio.sleep(0.01)  # a close handshake
        self.closed = True


async def test_started_after_start_frame_left_the_pipeline() -> None:
    """T11."""
    last = FrameRecorder()
    task = PipelineTask(Pipeline([FrameRecorder(), last]), params=PipelineParams())
    started: list[Frame] = []
    task.add_event_handler("on_pipeline_started", lambda t, f: started.append(f))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        (start,) = last.frames(StartFrame)
        assert start.audio_in_sample_rate == 16000 and start.audio_out_sample_rate == 24000
        await trio.testing.wait_all_tasks_blocked()
        assert started == [start]
        await task.cancel()
    assert started == [start]


async def test_params_reach_the_start_frame() -> None:
    last = FrameRecorder()
    params = PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=16000)
    task = PipelineTask(Pipeline([last]), params=params)
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        (start,) = last.frames(StartFrame)
        assert (start.audio_in_sample_rate, start.audio_out_sample_rate) == (8000, 16000)
        await task.cancel()


async def test_stop_when_done_drains_in_order(live_tasks) -> None:
    """T12 and T14."""
    before = live_tasks()
    last = FrameRecorder()
    task = PipelineTask(Pipeline([FrameRecorder(), SlowEnd(0.5), last]))
    finished: list[Frame] = []
    task.add_event_handler("on_pipeline_finished", lambda t, f: finished.append(f))
    texts = [TextFrame(str(i)) for i in range(20)]
    await task.queue_frames(texts)  # queued before run: held until started
    await task.stop_when_done()
    await task.run()
    assert last.frames(TextFrame) == texts
    (end,) = last.frames(EndFrame)
    assert last.records[-1].frame is end
    assert finished == [end]
    assert task.has_finished()
    assert live_tasks() == before


async def test_cancel_cuts_end_drain_short(autojump_clock, live_tasks) -> None:
    """T13: cancel() pre-empts an EndFrame still draining (2 s)."""
    before = live_tasks()
    slow = SlowEnd(2.0)
    last = FrameRecorder()
    task = PipelineTask(Pipeline([slow, last]))
    finished: list[Frame] = []
    task.add_event_handler("on_pipeline_finished", lambda t, f: finished.append(f))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        t0 = trio.current_time()
        await task.stop_when_done()
        await trio.sleep(0.5)
        await task.cancel(reason="enough")
    assert trio.current_time() - t0 < 1.0
    assert not slow.drained
    (cancel,) = last.frames(CancelFrame)
    assert cancel.reason == "enough"
    assert finished == [cancel]
    assert live_tasks() == before


async def test_cancel_is_a_no_op_when_finished_or_cancelling() -> None:
    last = FrameRecorder()
    task = PipelineTask(Pipeline([last]))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        await task.cancel()
        await task.cancel()
    await task.cancel()
    assert len(last.frames(CancelFrame)) == 1


async def test_queued_cancel_frame_overtakes_queued_frames() -> None:
    gate_open = trio.Event()

    class Block(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, TextFrame):
                await gate_open.wait()
            await self.push_frame(frame, direction)

    last = FrameRecorder()
    task = PipelineTask(Pipeline([Block(), last]))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        await task.queue_frames([TextFrame("a"), TextFrame("b")])
        await task.queue_frame(CancelFrame(reason="x"))
    assert last.frames(TextFrame) == []
    assert [f.reason for f in last.frames(CancelFrame)] == ["x"]


async def test_cancel_timeout_when_cancel_frame_is_stuck(autojump_clock) -> None:
    class Swallow(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if not isinstance(frame, CancelFrame):
                await self.push_frame(frame, direction)

    task = PipelineTask(Pipeline([Swallow()]), cancel_timeout_secs=3.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        t0 = trio.current_time()
        await task.cancel()
    assert trio.current_time() - t0 == pytest.approx(3.0)


async def test_outside_cancel_reraises_cancelled(autojump_clock, live_tasks) -> None:
    """T15 (with a stand-in transport), R15: cleanup runs shielded, Cancelled propagates."""
    before = live_tasks()
    sock = FakeSocketProcessor()
    task = PipelineTask(Pipeline([sock]))
    outcome: list[str] = []

    async def runner(task_status=trio.TASK_STATUS_IGNORED) -> None:
        try:
            await task.run(task_status=task_status)
        except* trio.Cancelled:  # Trio's nurseries wrap it in a group
            outcome.append("cancelled")
            raise
        outcome.append("returned")

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            await nursery.start(runner)
            scope.cancel()
    assert outcome == ["cancelled"]
    assert sock.closed
    assert task.has_finished()
    assert live_tasks() == before


async def test_end_worker_frame_upstream_ends_the_task() -> None:
    """T16 (end)."""
    last = FrameRecorder()
    task = PipelineTask(Pipeline([Pusher(EndWorkerFrame(reason="done")), last]))
    finished: list[Frame] = []
    task.add_event_handler("on_pipeline_finished", lambda t, f: finished.append(f))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        await task.queue_frame(TextFrame("go"))
    (end,) = last.frames(EndFrame)
    assert end.reason == "done" and finished == [end]


async def test_cancel_worker_frame_upstream_cancels_the_task() -> None:
    """T16 (cancel)."""
    last = FrameRecorder()
    task = PipelineTask(Pipeline([Pusher(CancelWorkerFrame(reason="stop")), last]))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        await task.queue_frame(TextFrame("go"))
    (cancel,) = last.frames(CancelFrame)
    assert cancel.reason == "stop"


@pytest.mark.parametrize("direction", [UP, DOWN])
async def test_interruption_worker_frame_interrupts(direction: FrameDirection) -> None:
    first = FrameRecorder()
    task = PipelineTask(Pipeline([first, Pusher(InterruptionWorkerFrame(), direction)]))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        await task.queue_frame(TextFrame("go"))
        await trio.testing.wait_all_tasks_blocked()
        assert len(first.frames(InterruptionFrame, DOWN)) == 1
        await task.cancel()


async def test_end_worker_frame_downstream_ends_the_task() -> None:
    task = PipelineTask(Pipeline([Pusher(EndWorkerFrame(), DOWN)]))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        await task.queue_frame(TextFrame("go"))
    assert task.has_finished()


async def test_error_frame_fires_event_and_fatal_cancels() -> None:
    errors: list[ErrorFrame] = []
    error = ErrorFrame(error="bad", fatal=True)
    last = FrameRecorder()
    task = PipelineTask(Pipeline([Pusher(error), last]))
    task.add_event_handler("on_pipeline_error", lambda t, f: errors.append(f))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        await task.queue_frame(TextFrame("go"))
    assert errors == [error]
    assert len(last.frames(CancelFrame)) == 1


async def test_upstream_queue_frame_enters_last_processor() -> None:
    first, last = FrameRecorder(), FrameRecorder()
    task = PipelineTask(Pipeline([first, last]))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        frame = TextFrame("up")
        await task.queue_frame(frame, UP)
        await trio.testing.wait_all_tasks_blocked()
        assert last.frames(TextFrame, UP) == [frame]
        assert first.frames(TextFrame, UP) == [frame]
        await task.cancel()


async def test_raising_handler_is_logged_and_others_run(caplog) -> None:
    """T17."""
    calls: list[str] = []

    def bad(task: PipelineTask, frame: Frame) -> None:
        calls.append("bad")
        raise RuntimeError("handler bug")

    async def good(task: PipelineTask, frame: Frame) -> None:
        calls.append("good")

    last = FrameRecorder()
    task = PipelineTask(Pipeline([last]))
    task.add_event_handler("on_pipeline_started", bad)
    task.add_event_handler("on_pipeline_started", good)
    with caplog.at_level(logging.ERROR):
        async with trio.open_nursery() as nursery:
            await nursery.start(task.run)
            await task.queue_frame(TextFrame("still"))
            await task.stop_when_done()
    assert sorted(calls) == ["bad", "good"]
    assert "handler bug" in caplog.text
    assert [f.text for f in last.frames(TextFrame)] == ["still"]
    assert task.event_handler_errors == 1


async def test_handler_may_cancel_the_task(live_tasks) -> None:
    """T18's shape: a handler calling task.cancel() completes and run() returns."""
    before = live_tasks()
    task = PipelineTask(Pipeline([FrameRecorder()]))
    done: list[bool] = []

    async def on_started(t: PipelineTask, frame: Frame) -> None:
        await t.cancel()
        done.append(True)

    task.add_event_handler("on_pipeline_started", on_started)
    await task.run()
    assert done == [True]
    assert live_tasks() == before


async def test_slow_handler_is_cancelled_after_cleanup_timeout(autojump_clock) -> None:
    task = PipelineTask(Pipeline([FrameRecorder()]), cleanup_timeout_secs=2.0)
    state: list[str] = []

    async def on_finished(t: PipelineTask, frame: Frame) -> None:
        state.append("begun")
        await trio.sleep(100)
        state.append("never")

    task.add_event_handler("on_pipeline_finished", on_finished)
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        t0 = trio.current_time()
        await task.stop_when_done()
    assert state == ["begun"]
    assert trio.current_time() - t0 == pytest.approx(2.0)


async def test_nested_pipelines_and_run_twice_refused() -> None:
    last = FrameRecorder()
    task = PipelineTask(Pipeline([Pipeline([FrameRecorder()]), last]))
    await task.queue_frame(TextFrame("x"))
    await task.stop_when_done()
    await task.run()
    assert [f.text for f in last.frames(TextFrame)] == ["x"]
    with pytest.raises(RuntimeError):
        await task.run()


async def test_cleanups_run_concurrently_and_failures_are_contained(autojump_clock) -> None:
    class SlowClose(FakeSocketProcessor):
        async def cleanup(self) -> None:
            await FrameProcessor.cleanup(self)
            await trio.sleep(1.0)
            self.closed = True

    class BadClose(FakeSocketProcessor):
        async def cleanup(self) -> None:
            await FrameProcessor.cleanup(self)
            raise RuntimeError("close failed")

    a, b = SlowClose(), SlowClose()
    task = PipelineTask(Pipeline([a, BadClose(), b]))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        t0 = trio.current_time()
        await task.cancel()
    assert a.closed and b.closed
    assert trio.current_time() - t0 == pytest.approx(1.0)
