"""Pipeline and PipelineTask: processors in a row, and the task that runs them.

:class:`Pipeline` is itself a processor: downstream frames given to it enter its first
processor, upstream frames its last, and frames leaving either end go to its own
neighbours. :class:`PipelineTask` runs a pipeline: ``await nursery.start(task.run)``
returns once the ``StartFrame`` has left the last processor; the run ends when an
``EndFrame`` reaches the end (:meth:`PipelineTask.stop_when_done`) or a ``CancelFrame``
does (:meth:`PipelineTask.cancel`, at most ``cancel_timeout_secs``).

Timeouts (Pipecat 1.14's names and defaults, see :mod:`trio_pipe.pipeline_timeouts`): a
``StartFrame`` that does not get through within ``start_timeout_secs`` ends the run
(``on_pipeline_timeout``); no user or bot activity for ``idle_timeout_secs`` fires
``on_idle_timeout`` and cancels the run (``cancel_on_idle_timeout``); with
``PipelineParams(enable_heartbeats=True)`` a heartbeat that does not come back within
``heartbeats_monitor_secs`` fires ``on_heartbeat_timeout``.

Resource handling
    ``run`` owns one nursery: every processor's nursery (its lanes and background loops),
    the push loop, and the task's event handlers are children of it. At the end it calls
    every processor's ``cleanup()`` (bounded by ``cleanup_timeout_secs``), gives handlers
    still running the same time, and cancels what is left; when ``run`` returns nothing of
    it is running. Cancelled from outside, it still runs ``cleanup()`` shielded (bounded)
    before ``Cancelled`` propagates, so transports close their sockets.

Error handling
    An ``ErrorFrame`` reaching the start of the pipeline fires ``on_pipeline_error``; a
    fatal one cancels the task. Event handlers that raise are logged and change nothing.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence

import attrs
import trio

from trio_pipe._errors import single_errors
from trio_pipe.children import Children
from trio_pipe.events import EventHandlerMixin
from trio_pipe.frames import (
    CancelFrame,
    CancelWorkerFrame,
    EndFrame,
    EndWorkerFrame,
    ErrorFrame,
    Frame,
    HeartbeatFrame,
    InterruptionFrame,
    InterruptionWorkerFrame,
    StartFrame,
)
from trio_pipe.pipeline_timeouts import (
    CANCEL_TIMEOUT_SECS,
    DEFAULT_IDLE_TIMEOUT_FRAMES,
    HEARTBEAT_MONITOR_SECS,
    HEARTBEAT_SECS,
    IDLE_TIMEOUT_SECS,
    START_TIMEOUT_SECS,
    Deadline,
    Heartbeats,
    watch_deadline,
)
from trio_pipe.processors import FrameDirection, FrameProcessor, cleanup_all, link_processors
from trio_pipe.wakeup import Wakeup

__all__ = ["Pipeline", "PipelineParams", "PipelineSink", "PipelineSource", "PipelineTask"]

logger = logging.getLogger(__name__)

_DOWN = FrameDirection.DOWNSTREAM
_UP = FrameDirection.UPSTREAM

# The push loop hands at most this many queued frames to the pipeline between yields.
_PUSH_BURST = 64

FrameHandler = Callable[[Frame, FrameDirection], Awaitable[None]]


class _PipelineEdge(FrameProcessor):
    """An end of a pipeline: frames heading out go to a callback, the others pass on."""

    def __init__(
        self, handler: FrameHandler, outward: FrameDirection, *, name: str | None = None
    ) -> None:
        super().__init__(name=name, enable_direct_mode=True)
        self._handler = handler
        self._outward = outward

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Outward frames leave through the callback; inward ones go to the neighbour."""
        await super().process_frame(frame, direction)
        if direction is self._outward:
            await self._handler(frame, direction)
        else:
            await self.push_frame(frame, direction)


class PipelineSource(_PipelineEdge):
    """Entry of a pipeline: passes downstream frames on, hands upstream ones to a callback."""

    def __init__(self, upstream_push_frame: FrameHandler, *, name: str | None = None) -> None:
        super().__init__(upstream_push_frame, _UP, name=name)


class PipelineSink(_PipelineEdge):
    """Exit of a pipeline: passes upstream frames on, hands downstream ones to a callback."""

    def __init__(self, downstream_push_frame: FrameHandler, *, name: str | None = None) -> None:
        super().__init__(downstream_push_frame, _DOWN, name=name)


class Pipeline(FrameProcessor):
    """Processors linked in a row behind an internal source and sink.

    Args:
        processors: the stages, in downstream order.
        source, sink: replace the internal source/sink (Pipecat's options).
    """

    def __init__(
        self,
        processors: Sequence[FrameProcessor],
        *,
        source: FrameProcessor | None = None,
        sink: FrameProcessor | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name, enable_direct_mode=True)
        self._source = source or PipelineSource(self.push_frame, name=f"{self}::Source")
        self._sink = sink or PipelineSink(self.push_frame, name=f"{self}::Sink")
        self._processors: list[FrameProcessor] = [self._source, *processors, self._sink]
        link_processors(self._processors)

    @property
    def processors(self) -> list[FrameProcessor]:
        """Source, the given processors, sink."""
        return self._processors

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Downstream frames enter the first processor, upstream frames the last."""
        await super().process_frame(frame, direction)
        if direction is _DOWN:
            await self._source.queue_frame(frame, _DOWN)
        else:
            await self._sink.queue_frame(frame, _UP)


@attrs.define(kw_only=True)
class PipelineParams:
    """Session settings: sample rates carried to every processor by the ``StartFrame``,
    and the task's heartbeats (``enable_heartbeats``: a heartbeat frame every
    ``heartbeats_period_secs``; none back for ``heartbeats_monitor_secs`` is reported)."""

    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000
    enable_heartbeats: bool = False
    heartbeats_period_secs: float = HEARTBEAT_SECS
    heartbeats_monitor_secs: float = HEARTBEAT_MONITOR_SECS


#: The events a PipelineTask fires (a PipelineWorker fires them too).
TASK_EVENTS = (
    "on_pipeline_started",
    "on_pipeline_finished",
    "on_pipeline_error",
    "on_pipeline_timeout",
    "on_idle_timeout",
    "on_heartbeat_timeout",
)


class PipelineTask(EventHandlerMixin):
    """Runs a pipeline: start, ordered pushes, end or cancel, cleanup.

    Events: ``on_pipeline_started(task, start_frame)``,
    ``on_pipeline_finished(task, end_or_cancel_frame)``, ``on_pipeline_error(task,
    error_frame)``, ``on_pipeline_timeout(task, frame)`` (a ``StartFrame`` or
    ``CancelFrame`` that did not reach the end in time), ``on_idle_timeout(task)``,
    ``on_heartbeat_timeout(task)``. Handlers run as children of :meth:`run`'s nursery
    and are not awaited.

    Args:
        pipeline: the processor (usually a :class:`Pipeline`) to run.
        params: sample rates for the ``StartFrame``, heartbeats.
        cancel_timeout_secs: longest wait for a ``CancelFrame`` to reach the end.
        cleanup_timeout_secs: longest wait for processors' ``cleanup()`` and for event
            handlers still running at the end (trio_pipe addition).
        start_timeout_secs: longest wait for the ``StartFrame`` to reach the end; then
            the run ends (``on_pipeline_timeout``, ``on_pipeline_finished`` with a
            ``CancelFrame``).
        idle_timeout_secs: seconds without any of ``idle_timeout_frames`` after which the
            pipeline counts as idle (None: never). Activity is seen where such a frame
            reaches either end of the pipeline or is queued into it.
        idle_timeout_frames: the frames that show user or bot activity.
        cancel_on_idle_timeout: cancel the run when idle (else only the event fires,
            again every ``idle_timeout_secs``).
    """

    def __init__(
        self,
        pipeline: FrameProcessor,
        *,
        params: PipelineParams | None = None,
        cancel_timeout_secs: float = CANCEL_TIMEOUT_SECS,
        cleanup_timeout_secs: float = 5.0,
        start_timeout_secs: float = START_TIMEOUT_SECS,
        idle_timeout_secs: float | None = IDLE_TIMEOUT_SECS,
        idle_timeout_frames: tuple[type[Frame], ...] = DEFAULT_IDLE_TIMEOUT_FRAMES,
        cancel_on_idle_timeout: bool = True,
    ) -> None:
        super().__init__()  # the event handler tables (EventHandlerMixin)
        self._pipeline = pipeline
        self._params = params if params is not None else PipelineParams()
        self._cancel_timeout = cancel_timeout_secs
        self._cleanup_timeout = cleanup_timeout_secs
        self._start_timeout = start_timeout_secs
        self._idle_timeout = idle_timeout_secs
        # An empty tuple when idle detection is off: isinstance(frame, ()) is a cheap False.
        self._idle_frames = tuple(idle_timeout_frames) if idle_timeout_secs else ()
        self._cancel_on_idle = cancel_on_idle_timeout
        self._activity: Deadline | None = None
        self._heartbeats: Heartbeats | None = None
        self._timers_scope = trio.CancelScope()
        self._children = Children(f"PipelineTask({pipeline})")
        self._source = PipelineSource(self._source_push_frame, name=f"{pipeline}::TaskSource")
        self._sink = PipelineSink(self._sink_push_frame, name=f"{pipeline}::TaskSink")
        link_processors([self._source, pipeline, self._sink])
        # The ordered push queue: a deque drained in bursts (a memory channel would cost a
        # scheduler round trip per frame), woken by a one-task wakeup.
        self._push_queue: deque[Frame] = deque()
        self._push_ready = Wakeup()
        self._started = trio.Event()
        self._end_reached = trio.Event()
        self._cancel_reached = trio.Event()
        self._finished = trio.Event()
        self._finish_frame: Frame | None = None
        self._cancel_frame: CancelFrame | None = None
        self._running = False
        self._cleaned_up = False
        self._wait_start_scope = trio.CancelScope()
        self._push_scope = trio.CancelScope()
        for event in TASK_EVENTS:
            self._register_event_handler(event)

    def __repr__(self) -> str:
        return f"PipelineTask({self._pipeline})"

    @property
    def pipeline(self) -> FrameProcessor:
        """The pipeline this task runs."""
        return self._pipeline

    @property
    def params(self) -> PipelineParams:
        """The task's parameters."""
        return self._params

    def has_finished(self) -> bool:
        """True once the run has ended (EndFrame or CancelFrame reached the end)."""
        return self._finished.is_set()

    @property
    def heartbeats(self) -> Heartbeats | None:
        """The heartbeat sender/monitor while heartbeats run (counts, last latency)."""
        return self._heartbeats

    # --- control -------------------------------------------------------------------------

    async def queue_frame(self, frame: Frame, direction: FrameDirection = _DOWN) -> None:
        """Queue ``frame``: downstream in push order (held until started), or upstream
        into the last processor. A ``CancelFrame`` is :meth:`cancel` (it never waits)."""
        if isinstance(frame, self._idle_frames):
            self._touch_activity()
        if isinstance(frame, CancelFrame):
            await self._cancel_with(frame)
        elif direction is _DOWN:
            self._push_queue.append(frame)
            self._push_ready.wake()
        else:
            await self._pipeline.queue_frame(frame, _UP)

    async def queue_frames(
        self, frames: Iterable[Frame] | AsyncIterable[Frame], direction: FrameDirection = _DOWN
    ) -> None:
        """Queue each of ``frames`` in order."""
        if isinstance(frames, AsyncIterable):
            async for frame in frames:
                await self.queue_frame(frame, direction)
        else:
            for frame in frames:
                await self.queue_frame(frame, direction)

    async def stop_when_done(self) -> None:
        """End the run once everything queued so far has gone through (queues an EndFrame)."""
        await self.queue_frame(EndFrame())

    async def cancel(self, *, reason: str | None = None) -> None:
        """Cancel the run: a ``CancelFrame`` enters the pipeline now, ahead of queued
        frames and even while an ``EndFrame`` drains. Returns without waiting; no-op once
        finished or already cancelling."""
        await self._cancel_with(CancelFrame(reason=reason))

    async def _cancel_with(self, frame: CancelFrame) -> None:
        if self._finished.is_set() or self._cancel_frame is not None:
            return
        self._cancel_frame = frame
        self._children.start_soon(self._await_cancel, frame)
        await self._source.queue_frame(frame, _DOWN)

    # --- running -------------------------------------------------------------------------

    @single_errors
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the pipeline to its end; ``started()`` once the StartFrame left it.

        An error is raised as itself, not inside the task's own exception groups.
        """
        if self._running or self._finished.is_set():
            raise RuntimeError(f"{self!r} has already run")
        self._running = True
        try:
            async with trio.open_nursery() as nursery:
                with self._children.attached(nursery):
                    try:
                        await self._run_pipeline(nursery, task_status)
                    finally:
                        await self._cleanup_processors(shielded=True)
                # Handlers still running get the cleanup time, then are cancelled.
                nursery.cancel_scope.deadline = trio.current_time() + self._cleanup_timeout
        finally:
            self._running = False
            self._finished.set()  # also when cancelled from outside: the task has run

    async def _run_pipeline(self, nursery: trio.Nursery, task_status: trio.TaskStatus[None]):
        async with trio.open_nursery() as processors:
            await processors.start(self._pipeline.run)
            start = StartFrame(
                audio_in_sample_rate=self._params.audio_in_sample_rate,
                audio_out_sample_rate=self._params.audio_out_sample_rate,
            )
            await self._source.queue_frame(start, _DOWN)
            with self._wait_start_scope:  # a cancel before the start completes ends it too
                with trio.move_on_after(self._start_timeout) as start_scope:
                    await self._started.wait()
                if start_scope.cancelled_caught:
                    await self._start_timed_out(start)
            task_status.started()
            processors.start_soon(self._push_loop)
            if not self._finished.is_set():
                processors.start_soon(self._run_timers)
            await self._finished.wait()
            self._push_scope.cancel()
            self._timers_scope.cancel()
            await self._cleanup_processors(shielded=False)
            # Processors' own handlers and loops get the cleanup time, then are cancelled.
            processors.cancel_scope.deadline = trio.current_time() + self._cleanup_timeout

    async def _start_timed_out(self, start: StartFrame) -> None:
        logger.error(
            "%r: %s did not reach the end of the pipeline within %ss, stopping the pipeline",
            self,
            start,
            self._start_timeout,
        )
        self._call_event_handler("on_pipeline_timeout", start)
        # Nothing queued behind a start that never completed would be handled: end now,
        # telling the processors with a CancelFrame.
        frame = CancelFrame(reason="start timeout")
        self._cancel_frame = frame
        await self._source.queue_frame(frame, _DOWN)
        self._finish(frame)

    async def _run_timers(self) -> None:
        """Idle watch and heartbeats, from the start until the run finishes."""
        with self._timers_scope:
            async with trio.open_nursery() as nursery:
                if self._idle_timeout:
                    self._activity = Deadline(self._idle_timeout, trio.current_time())
                    nursery.start_soon(watch_deadline, self._activity, self._idle_expired)
                params = self._params
                if params.enable_heartbeats:
                    self._heartbeats = Heartbeats(
                        self._send_heartbeat,
                        lambda: self._call_event_handler("on_heartbeat_timeout"),
                        period_secs=params.heartbeats_period_secs,
                        monitor_secs=params.heartbeats_monitor_secs,
                    )
                    nursery.start_soon(self._heartbeats.run)

    async def _send_heartbeat(self, frame: Frame) -> None:
        # Straight into the pipeline: the push loop may be held by a draining EndFrame.
        await self._source.queue_frame(frame, _DOWN)

    def _touch_activity(self) -> None:
        if self._activity is not None:
            self._activity.touch(trio.current_time())

    async def _idle_expired(self) -> bool:
        if self._cancel_frame is not None or self._finished.is_set():
            return False
        logger.warning("%r: idle for %ss", self, self._idle_timeout)
        self._call_event_handler("on_idle_timeout")
        if not self._cancel_on_idle:
            return True
        await self.cancel(reason="idle timeout")
        return False

    async def _cleanup_processors(self, *, shielded: bool) -> None:
        if self._cleaned_up:
            return
        self._cleaned_up = True
        with trio.CancelScope(shield=shielded) as scope:
            scope.deadline = trio.current_time() + self._cleanup_timeout
            await cleanup_all([self._source, self._pipeline, self._sink])
        if scope.cancelled_caught:
            logger.warning("%r: cleanup took longer than %ss", self, self._cleanup_timeout)

    async def _push_loop(self) -> None:
        queue, source = self._push_queue, self._source
        with self._push_scope:
            while True:
                while not queue:
                    await self._push_ready.park()
                for _ in range(min(len(queue), _PUSH_BURST)):
                    frame = queue.popleft()
                    await source.queue_frame(frame, _DOWN)
                    if isinstance(frame, EndFrame):
                        # Ordered pushes stop here; the EndFrame drains with no time limit.
                        await self._end_reached.wait()
                        self._finish(frame)
                        return
                await trio.lowlevel.checkpoint()

    async def _await_cancel(self, frame: CancelFrame) -> None:
        with trio.move_on_after(self._cancel_timeout):
            await self._cancel_reached.wait()
        if not self._cancel_reached.is_set():
            logger.warning(
                "%r: %s did not reach the end within %ss", self, frame, self._cancel_timeout
            )
            self._call_event_handler("on_pipeline_timeout", frame)
        self._finish(frame)

    def _finish(self, frame: Frame) -> None:
        if self._finished.is_set():
            return
        self._finish_frame = frame
        self._call_event_handler("on_pipeline_finished", frame)
        self._finished.set()
        # A cancel before the pipeline started must not leave run() waiting for it.
        self._wait_start_scope.cancel()

    # --- the two ends ----------------------------------------------------------------------

    async def _handle_worker_frame(self, frame: Frame) -> bool:
        if isinstance(frame, EndWorkerFrame):
            await self.queue_frame(EndFrame(reason=frame.reason))
        elif isinstance(frame, CancelWorkerFrame):
            await self.cancel(reason=frame.reason)
        elif isinstance(frame, InterruptionWorkerFrame):
            # Straight into the pipeline: the push loop may be waiting on an EndFrame.
            await self._source.queue_frame(InterruptionFrame(), _DOWN)
        else:
            return False
        return True

    async def _source_push_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Frames leaving the first processor upstream."""
        if isinstance(frame, self._idle_frames):
            self._touch_activity()
        if await self._handle_worker_frame(frame):
            return
        if isinstance(frame, ErrorFrame):
            self._call_event_handler("on_pipeline_error", frame)
            if frame.fatal:
                logger.error("%r: fatal error: %s", self, frame.error)
                await self.cancel(reason=f"fatal error: {frame.error}")

    async def _sink_push_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Frames leaving the last processor downstream."""
        if isinstance(frame, self._idle_frames):
            self._touch_activity()
        if isinstance(frame, HeartbeatFrame):
            if self._heartbeats is not None:
                self._heartbeats.frame_received(frame)
        elif isinstance(frame, StartFrame):
            if not self._started.is_set():
                self._call_event_handler("on_pipeline_started", frame)
                self._started.set()
        elif isinstance(frame, EndFrame):
            self._end_reached.set()
            self._finish(frame)
        elif isinstance(frame, CancelFrame):
            self._cancel_reached.set()
        else:
            await self._handle_worker_frame(frame)
