"""PipelineTask / PipelineWorker timeouts: start, idle, heartbeats (Pipecat 1.14's names).

Every test runs on Trio's MockClock (``autojump_clock``): times are exact, nothing waits.
"""

from __future__ import annotations

import pytest
import trio

from trio_pipe.frames import (
    BotSpeakingFrame,
    CancelFrame,
    Frame,
    HeartbeatFrame,
    InterimTranscriptionFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
    UserSpeakingFrame,
    UserStartedSpeakingFrame,
)
from trio_pipe.pipeline import Pipeline, PipelineParams, PipelineTask
from trio_pipe.pipeline_timeouts import Deadline
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.testing.pipeline import FrameRecorder
from trio_pipe.workers import WorkerRunner
from trio_pipe.workers.pipeline_worker import PipelineWorker

DOWN, UP = FrameDirection.DOWNSTREAM, FrameDirection.UPSTREAM


class Events:
    """Records (event name, trio time, args) for a task's or worker's events."""

    def __init__(self, owner, *names: str) -> None:
        self.log: list[tuple[str, float, tuple]] = []
        for name in names:
            owner.add_event_handler(name, self._recorder(name))

    def _recorder(self, name: str):
        async def record(_owner, *args) -> None:
            self.log.append((name, trio.current_time(), args))

        return record

    def of(self, name: str) -> list[tuple[float, tuple]]:
        return [(t, args) for n, t, args in self.log if n == name]


async def run_then_end(task: PipelineTask, secs: float) -> None:
    """Run ``task`` for ``secs`` (Trio time), then end it with an EndFrame."""
    with trio.fail_after(secs + 60):
        async with trio.open_nursery() as nursery:
            await nursery.start(task.run)
            await trio.sleep(secs)
            await task.stop_when_done()


class StuckOnStart(FrameProcessor):
    """Never lets the StartFrame through (a processor blocked while connecting)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await trio.sleep_forever()
        await self.push_frame(frame, direction)


class StallsData(FrameProcessor):
    """Passes everything on until ``stall()``; then a data/control frame blocks it."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if self.stalled and isinstance(frame, HeartbeatFrame):
            await trio.sleep_forever()
        await self.push_frame(frame, direction)


def test_pipecat_names_and_defaults() -> None:
    task = PipelineTask(Pipeline([]))
    assert task._start_timeout == 20.0 and task._cancel_timeout == 20.0
    assert task._idle_timeout == 300.0 and task._cancel_on_idle is True
    assert set(task._idle_frames) == {
        BotSpeakingFrame,
        InterimTranscriptionFrame,
        TranscriptionFrame,
        UserSpeakingFrame,
        UserStartedSpeakingFrame,
    }
    params = PipelineParams()
    assert (params.enable_heartbeats, params.heartbeats_period_secs) == (False, 1.0)
    assert params.heartbeats_monitor_secs == 10.0


def test_deadline_moves_with_each_touch() -> None:
    d = Deadline(10.0, now=0.0)
    assert d.due == 10.0 and not d.expired(9.99) and d.expired(10.0)
    d.touch(7.0)
    assert d.due == 17.0 and not d.expired(16.0)


async def test_start_timeout_ends_the_run(autojump_clock) -> None:
    task = PipelineTask(Pipeline([StuckOnStart()]), start_timeout_secs=5.0, idle_timeout_secs=None)
    events = Events(task, "on_pipeline_timeout", "on_pipeline_started", "on_pipeline_finished")
    with trio.fail_after(60):
        await task.run()
    assert trio.current_time() == pytest.approx(5.0, abs=0.01)
    assert task.has_finished()
    [(t, (frame,))] = events.of("on_pipeline_timeout")
    assert isinstance(frame, StartFrame) and t == pytest.approx(5.0, abs=0.01)
    assert events.of("on_pipeline_started") == []
    [(_, (finish,))] = events.of("on_pipeline_finished")
    assert isinstance(finish, CancelFrame) and finish.reason == "start timeout"


async def test_a_quick_start_is_not_a_timeout(autojump_clock) -> None:
    task = PipelineTask(Pipeline([FrameRecorder()]), start_timeout_secs=5.0)
    events = Events(task, "on_pipeline_timeout")
    await run_then_end(task, 30)
    assert events.log == [] and task.has_finished()


async def test_idle_timeout_cancels_and_activity_postpones_it(autojump_clock) -> None:
    recorder = FrameRecorder()
    task = PipelineTask(Pipeline([recorder]), idle_timeout_secs=10.0)
    events = Events(task, "on_idle_timeout", "on_pipeline_finished")
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(task.run)
            await trio.sleep(4)
            await task.queue_frame(BotSpeakingFrame())  # the bot speaks at 4 s...
            await trio.sleep(5)
            await task.queue_frame(TextFrame(text="not activity"))  # ...text is not activity
    # idle from 4 s on: the timeout fires at 14 s and cancels the run
    [(t, ())] = events.of("on_idle_timeout")
    assert t == pytest.approx(14.0, abs=0.01)
    [(_, (finish,))] = events.of("on_pipeline_finished")
    assert isinstance(finish, CancelFrame) and finish.reason == "idle timeout"
    assert task.has_finished()


async def test_activity_frames_coming_back_upstream_count(autojump_clock) -> None:
    class Speaks(FrameProcessor):
        """Says "the user is speaking" upstream every 3 s (like a VAD stage)."""

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)
            if isinstance(frame, StartFrame):
                self.start_soon(self._speak)

        async def _speak(self) -> None:
            for _ in range(5):
                await trio.sleep(3)
                await self.push_frame(UserSpeakingFrame(), UP)

    task = PipelineTask(Pipeline([Speaks()]), idle_timeout_secs=5.0)
    events = Events(task, "on_idle_timeout")
    with trio.fail_after(120):
        await task.run()
    [(t, ())] = events.of("on_idle_timeout")
    assert t == pytest.approx(20.0, abs=0.01)  # last activity at 15 s


async def test_idle_without_cancel_reports_every_period(autojump_clock) -> None:
    task = PipelineTask(
        Pipeline([FrameRecorder()]), idle_timeout_secs=10.0, cancel_on_idle_timeout=False
    )
    events = Events(task, "on_idle_timeout")
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(task.run)
            await trio.sleep(35)
            assert not task.has_finished()
            await task.stop_when_done()
    assert [round(t, 2) for t, _ in events.of("on_idle_timeout")] == [10.0, 20.0, 30.0]


async def test_idle_timeout_none_never_fires(autojump_clock) -> None:
    task = PipelineTask(Pipeline([FrameRecorder()]), idle_timeout_secs=None)
    events = Events(task, "on_idle_timeout")
    await run_then_end(task, 1000)
    assert events.log == []


async def test_heartbeats_cross_the_pipeline_and_a_stall_is_reported(autojump_clock) -> None:
    stalls = StallsData()
    recorder = FrameRecorder()
    params = PipelineParams(
        enable_heartbeats=True, heartbeats_period_secs=1.0, heartbeats_monitor_secs=3.0
    )
    task = PipelineTask(Pipeline([stalls, recorder]), params=params, idle_timeout_secs=None)
    events = Events(task, "on_heartbeat_timeout")
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(task.run)
            await trio.sleep(10.5)
            healthy = task.heartbeats
            assert healthy is not None and healthy.received >= 10 and healthy.timeouts == 0
            assert healthy.last_latency == pytest.approx(0.0, abs=0.01)
            stalls.stalled = True  # the heartbeat sent at 11 s never comes back
            await trio.sleep(10)
            await task.cancel()
    # last heartbeat back at 10 s: reported at 13, 16, 19 s
    assert [round(t, 2) for t, _ in events.of("on_heartbeat_timeout")] == [13.0, 16.0, 19.0]
    assert len(recorder.frames(HeartbeatFrame)) == 11  # 0 s .. 10 s


async def test_no_heartbeats_unless_enabled(autojump_clock) -> None:
    recorder = FrameRecorder()
    task = PipelineTask(Pipeline([recorder]), idle_timeout_secs=None)
    await run_then_end(task, 30)
    assert recorder.frames(HeartbeatFrame) == [] and task.heartbeats is None


async def test_worker_idle_timeout_cancels_the_whole_session(autojump_clock) -> None:
    voice = PipelineWorker(Pipeline([FrameRecorder()]), name="voice", idle_timeout_secs=10.0)
    other = PipelineWorker(Pipeline([FrameRecorder()]), name="other", idle_timeout_secs=None)
    events = Events(voice, "on_idle_timeout", "on_pipeline_finished")
    other_events = Events(other, "on_pipeline_finished")
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(voice, other)
    with trio.fail_after(120):
        await runner.run()
    [(t, ())] = events.of("on_idle_timeout")
    assert t == pytest.approx(10.0, abs=0.01)
    [(_, (finish,))] = other_events.of("on_pipeline_finished")
    assert isinstance(finish, CancelFrame)  # the runner cancelled the other worker too


async def test_worker_idle_timeout_can_spare_the_runner(autojump_clock) -> None:
    voice = PipelineWorker(
        Pipeline([FrameRecorder()]),
        name="voice",
        idle_timeout_secs=10.0,
        cancel_runner_on_idle_timeout=False,
    )
    other = PipelineWorker(Pipeline([FrameRecorder()]), name="other", idle_timeout_secs=None)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(voice, other)
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(runner.run)
            await trio.sleep(30)
            assert voice.has_finished() and not other.has_finished()
            await runner.cancel("done")
    assert other.has_finished()
