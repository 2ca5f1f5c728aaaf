"""Frame processors: the stages of a pipeline, each with a system lane and a data lane.

A :class:`FrameProcessor` receives frames through :meth:`~FrameProcessor.queue_frame`
(its neighbour's :meth:`~FrameProcessor.push_frame`) and handles them in
:meth:`~FrameProcessor.process_frame`, which subclasses override (calling ``super()``
first) and which pushes on whatever should travel further.

Lanes
    System frames (``StartFrame``, ``CancelFrame``, ``InterruptionFrame``, input audio...)
    go to the *system loop*, data and control frames to the *data loop*; each lane is FIFO
    and handles one frame at a time, and the two run side by side, so a system frame never
    waits behind data. A data frame does wait for the system frames queued *before* it
    (Pipecat's single input queue gives that order): new text queued after an
    ``InterruptionFrame`` is handled after the interruption, never purged by it.
    Nothing is handled before the ``StartFrame``; frames queued earlier wait and follow it,
    system frames first.

Interruption
    On an ``InterruptionFrame`` the base class cancels the data frame in progress if it is
    interruptible and drops the queued interruptible data/control frames that were queued
    before the interruption; the others (``EndFrame``...) keep their place. The data loop
    runs inside a cancel scope that is replaced after every interruption (a scope per
    frame would cost ~4 µs per frame and stage for nothing).

Resource handling
    :meth:`FrameProcessor.run` owns the processor's nursery: both loops, the runs of
    sub-processors (a :class:`~trio_pipe.pipeline.Pipeline`), event handlers and any
    background loop a subclass starts with :meth:`FrameProcessor.start_soon`. A
    ``PipelineTask`` starts it and, at the end, calls :meth:`FrameProcessor.cleanup`,
    which stops the loops and lets ``run`` return once its other children are done.
    Lanes are unbounded deques: neighbours push both ways, and bounded queues between
    them could deadlock; bounds for media live in the transports.

Error handling
    An ``Exception`` escaping ``process_frame`` becomes one ``ErrorFrame`` pushed upstream
    (logged); both loops go on. After a ``CancelFrame`` every frame queued is ignored.
"""

from __future__ import annotations

import enum
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import trio

from trio_pipe.children import Children
from trio_pipe.events import EventHandlerMixin
from trio_pipe.frames import (
    CancelFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    StartFrame,
    SystemFrame,
)
from trio_pipe.ids import next_id, next_name
from trio_pipe.wakeup import Wakeup

if TYPE_CHECKING:
    from trio_pipe.workers.pipeline_worker import PipelineWorker
    from trio_pipe.workers.runner import WorkerRunner

__all__ = ["FrameDirection", "FrameProcessor"]

logger = logging.getLogger(__name__)

# A data loop whose frames never reach a checkpoint (pass-through stages) would starve
# every other task; it yields after this many frames in a row.
_YIELD_EVERY = 64


class FrameDirection(enum.Enum):
    """Which way a frame travels through a pipeline."""

    DOWNSTREAM = 1
    UPSTREAM = 2


_DOWN = FrameDirection.DOWNSTREAM
_UP = FrameDirection.UPSTREAM


class FrameProcessor(EventHandlerMixin):
    """A pipeline stage with a system lane and a data lane (see the module docstring).

    Args:
        name: defaults to ``"<ClassName>#<k>"``.
        enable_direct_mode: handle every frame inline in the caller's task, without
            lanes (Pipecat's option; used by a pipeline's own source and sink).
    """

    def __init__(self, *, name: str | None = None, enable_direct_mode: bool = False) -> None:
        super().__init__()  # the event handler tables (EventHandlerMixin)
        self._id = next_id()
        self._name = name or next_name(type(self))
        self._direct = enable_direct_mode
        self._prev: FrameProcessor | None = None
        self._next: FrameProcessor | None = None
        self._children = Children(self._name)
        self._nursery: trio.Nursery | None = None
        self._finished = trio.Event()
        self._cancelling = False
        # Lanes. Data items carry how many system frames were queued before them.
        self._system: deque[tuple[Frame, FrameDirection]] = deque()
        self._data: deque[tuple[Frame, FrameDirection, int]] = deque()
        self._system_ready = Wakeup()
        self._data_ready = Wakeup()
        self._system_progress = Wakeup()  # the data loop waits here for system frames
        self._sys_queued = 0
        self._sys_done = 0
        self._start_received = False
        self._start_barrier = 0  # system frames to handle before data may start
        self._data_running = False
        self._current: Frame | None = None  # the data frame in process_frame
        self._frame_scope: trio.CancelScope | None = None
        self._frame_cancelled = False  # cheaper to test than CancelScope.cancel_called
        self._loops_scope = trio.CancelScope()
        self._data_loop_scope = trio.CancelScope()
        self._pipeline_worker: PipelineWorker | None = None  # set by the PipelineWorker

    # --- identity and links --------------------------------------------------------------

    @property
    def id(self) -> int:
        """Process-wide unique id."""
        return self._id

    @property
    def name(self) -> str:
        """``"<ClassName>#<k>"`` unless given."""
        return self._name

    def __str__(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{self._name}>"

    @property
    def pipeline_worker(self) -> PipelineWorker:
        """The :class:`~trio_pipe.workers.pipeline_worker.PipelineWorker` running this
        processor (as in Pipecat 1.14); RuntimeError if none does (a bare ``PipelineTask``)."""
        worker = self._pipeline_worker
        if worker is None:
            raise RuntimeError(f"{self} does not run in a PipelineWorker")
        return worker

    @property
    def worker_runner(self) -> WorkerRunner:
        """The runner hosting this processor's worker, to reach other workers by name:
        ``self.worker_runner.get_worker("ui-jobs")``. RuntimeError outside a worker, or
        before the worker was added to a runner."""
        return self.pipeline_worker.worker_runner

    @property
    def next(self) -> FrameProcessor | None:
        """The downstream neighbour."""
        return self._next

    @property
    def previous(self) -> FrameProcessor | None:
        """The upstream neighbour."""
        return self._prev

    @property
    def processors(self) -> list[FrameProcessor]:
        """Sub-processors (only compound processors such as pipelines have any)."""
        return []

    def link(self, processor: FrameProcessor) -> None:
        """Make ``processor`` this one's downstream neighbour (and this its upstream one)."""
        self._next = processor
        processor._prev = self

    # --- running -------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the lanes (and sub-processors) until :meth:`cleanup`; then wait for children.

        A ``PipelineTask`` calls this; stopping it early is cancelling its scope.
        """
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                with self._children.attached(nursery):
                    for child in self.processors:
                        await nursery.start(child.run)
                    if not self._direct:
                        nursery.start_soon(self._run_loops)
                    task_status.started()
                    await self._finished.wait()
            finally:
                self._nursery = None

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` as a child of this processor's nursery (queued until it runs).

        Background loops of subclasses (a transport's receive loop) go here; they must
        stop in :meth:`cleanup` (or earlier), or they are cancelled with the task.
        """
        self._children.start_soon(fn, *args)

    async def start_child(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """``nursery.start(fn, *args)`` in this processor's nursery; returns its status."""
        if self._nursery is None:
            raise RuntimeError(f"{self} is not running")
        return await self._nursery.start(fn, *args)

    async def cleanup(self) -> None:
        """Release resources at teardown: stop the lanes; sub-processors clean up too.

        Subclasses extend it (calling ``super().cleanup()``); it must be idempotent.
        Sub-processors clean up concurrently (a slow socket close does not add up); one
        that raises is logged and does not stop the others.
        """
        self._loops_scope.cancel()
        self._finished.set()
        await cleanup_all(self.processors)

    # --- queueing ------------------------------------------------------------------------

    async def queue_frame(self, frame: Frame, direction: FrameDirection = _DOWN) -> None:
        """Queue ``frame`` for this processor (what a neighbour's ``push_frame`` calls)."""
        if self._cancelling:
            return
        if self._direct:
            await self._process(frame, direction)
        elif isinstance(frame, SystemFrame):
            if isinstance(frame, StartFrame) and not self._start_received:
                # The StartFrame overtakes whatever waited for it.
                self._start_received = True
                self._system.appendleft((frame, direction))
                self._sys_queued += 1
                self._start_barrier = self._sys_queued
            else:
                self._system.append((frame, direction))
                self._sys_queued += 1
            self._system_ready.wake()
        else:
            self._data.append((frame, direction, self._sys_queued))
            self._data_ready.wake()

    # --- processing (override) -----------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Handle ``frame``. The base never forwards; subclasses push what passes on."""
        if isinstance(frame, InterruptionFrame):
            self._start_interruption()
        elif isinstance(frame, CancelFrame):
            self._cancel_data()

    async def push_frame(self, frame: Frame, direction: FrameDirection = _DOWN) -> None:
        """Hand ``frame`` to the neighbour in ``direction`` (none: silently dropped)."""
        neighbour = self._next if direction is _DOWN else self._prev
        if neighbour is not None:
            await neighbour.queue_frame(frame, direction)

    async def push_error(
        self, error_msg: str, exception: BaseException | None = None, fatal: bool = False
    ) -> None:
        """Push an ``ErrorFrame`` naming this processor upstream."""
        frame = ErrorFrame(error=error_msg, fatal=fatal, processor=self, exception=exception)
        await self.push_error_frame(frame)

    async def push_error_frame(self, error: ErrorFrame) -> None:
        """Push ``error`` upstream (its ``processor`` defaults to this one)."""
        if error.processor is None:
            error.processor = self
        logger.error("%s error: %s", error.processor, error.error, exc_info=error.exception)
        await self.push_frame(error, _UP)

    async def broadcast_frame(self, frame_cls: type[Frame], **kwargs: Any) -> None:
        """Push a ``frame_cls(**kwargs)`` downstream and another one upstream.

        Both share the same kwargs objects; each names the other in
        ``broadcast_sibling_id``.
        """
        down = frame_cls(**kwargs)
        up = frame_cls(**kwargs)
        down.broadcast_sibling_id = up.id
        up.broadcast_sibling_id = down.id
        await self.push_frame(down, _DOWN)
        await self.push_frame(up, _UP)

    async def broadcast_interruption(self) -> None:
        """Drop this processor's queued interruptible frames, then broadcast an interruption."""
        self._purge_data(self._sys_queued + 1)
        await self.broadcast_frame(InterruptionFrame)

    # --- internals -----------------------------------------------------------------------

    async def _process(self, frame: Frame, direction: FrameDirection) -> None:
        try:
            await self.process_frame(frame, direction)
        except Exception as e:
            await self._report_error(frame, e)

    async def _report_error(self, frame: Frame, e: Exception) -> None:
        try:
            await self.push_error(f"Error processing {frame}: {e}", exception=e)
        except Exception:
            logger.exception("%s: could not report an error", self)

    async def _run_loops(self) -> None:
        with self._loops_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._system_loop)
                nursery.start_soon(self._data_loop)

    async def _system_loop(self) -> None:
        system = self._system
        while True:
            while not (self._start_received and system):
                await self._system_ready.park()
            frame, direction = system.popleft()
            await self._process(frame, direction)
            self._sys_done += 1
            self._system_progress.wake()

    async def _data_loop(self) -> None:
        # Data starts once the StartFrame and every system frame queued before it are done.
        while not (self._start_received and self._sys_done >= self._start_barrier):
            await self._system_progress.park()
        self._data_running = True
        with self._data_loop_scope:
            while True:
                with trio.CancelScope() as scope:
                    self._frame_scope = scope
                    self._frame_cancelled = False
                    await self._drain_data()
                self._current = None

    async def _drain_data(self) -> None:
        data = self._data
        handled = 0
        while True:
            if not data:
                handled = 0
                await self._data_ready.park()
                continue
            frame, direction, mark = data[0]
            if mark > self._sys_done:
                # System frames queued before this one come first (an interruption may
                # be about to purge it).
                await self._system_progress.park()
                continue
            data.popleft()
            self._current = frame
            try:
                await self.process_frame(frame, direction)
            except Exception as e:
                await self._report_error(frame, e)
            self._current = None
            if self._frame_cancelled:
                return  # interrupted after its last checkpoint: start a fresh scope
            handled += 1
            if handled >= _YIELD_EVERY:
                handled = 0
                await trio.lowlevel.checkpoint()

    def _start_interruption(self) -> None:
        """Cancel the interruptible frame in progress; drop queued interruptible frames."""
        if self._direct or not self._data_running:
            return  # nothing has reached the data lane yet
        current = self._current
        if current is not None and current.interruptible and self._frame_scope is not None:
            self._frame_cancelled = True
            self._frame_scope.cancel()
        # Frames queued after this interruption (mark >= its ordinal) stay.
        self._purge_data(self._sys_done + 1)

    def _purge_data(self, before_mark: int) -> None:
        data = self._data
        if not data:
            return
        kept = [item for item in data if not item[0].interruptible or item[2] >= before_mark]
        if len(kept) != len(data):
            data.clear()
            data.extend(kept)

    def _cancel_data(self) -> None:
        """CancelFrame: ignore every later frame and stop the data lane (even mid-EndFrame)."""
        self._cancelling = True
        self._data.clear()
        self._data_loop_scope.cancel()


async def cleanup_all(processors: Sequence[FrameProcessor]) -> None:
    """Run every processor's ``cleanup()`` concurrently; failures are logged."""

    async def one(processor: FrameProcessor) -> None:
        try:
            await processor.cleanup()
        except Exception:
            logger.exception("%s: cleanup failed", processor)

    if processors:
        async with trio.open_nursery() as nursery:
            for processor in processors:
                nursery.start_soon(one, processor)


def link_processors(processors: Sequence[FrameProcessor]) -> None:
    """Link ``processors`` in order."""
    for prev, curr in itertools.pairwise(processors):
        prev.link(curr)
