"""PipelineWorker: a worker that runs a pipeline and connects it to the bus.

::

    transport = FastAPIWebsocketTransport(websocket, params)
    voice = PipelineWorker(Pipeline([transport.input(), transport.output()]), name="voice")
    runner = WorkerRunner()
    await runner.add_workers(voice, MyUIWorker("ui"))
    await runner.run()

What it does:

* runs a :class:`~trio_pipe.pipeline.PipelineTask` in the worker's nursery; the worker is
  ready (its BusWorkerReadyMessage goes out) once the ``StartFrame`` has gone through, and
  it finishes when the pipeline does;
* ends the pipeline with an ``EndFrame`` on BusEndWorkerMessage (after its children have
  ended) and a ``CancelFrame`` on BusCancelWorkerMessage, so ``runner.end()`` drains the
  pipeline and ``runner.cancel()`` cuts it short;
* ``bridged``: frames leaving its pipeline go onto the bus as ``BusFrameMessage`` (see
  ``trio_pipe.workers.bridge_processor``) and frames from the bus are queued into it;
* when it owns RTVI (``enable_rtvi``, default: unless bridged) it puts an
  :class:`~trio_pipe.rtvi.RTVIProcessor` first (or uses the one already in the pipeline),
  answers ``client-ready`` with ``bot-ready``, republishes the client's ``ui-event`` /
  ``ui-snapshot`` / ``ui-cancel-job-group`` as ``BusUIEventMessage`` (in arrival order),
  and turns the UI carriers other workers publish (commands, job-group phases) into
  ``ui-command`` / ``ui-job-group`` envelopes sent as urgent transport messages.

Carriers are broadcast unless targeted: every RTVI-owning PipelineWorker on a bus sends an
untargeted command to its own client. Applications with several sessions on one bus set
``target`` to the session's PipelineWorker name.

Resource handling
    The pipeline task is a child of the worker's nursery: when the worker's ``run``
    returns, the task's has too (cancelled from outside, its processors' ``cleanup()``
    still runs, shielded and bounded, so sockets close).

Error handling
    The pipeline's own (``on_pipeline_error``, fatal errors cancel it). A task that fails
    to run is the worker's failure, reported by the runner.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Iterable, Iterator
from typing import Any

import trio

from trio_pipe.bus.messages import (
    BusCancelWorkerMessage,
    BusEndWorkerMessage,
    BusFrameMessage,
    BusMessage,
)
from trio_pipe.bus.ui import BusUIDataMessage, BusUIEventMessage
from trio_pipe.frames import EndFrame, Frame
from trio_pipe.pipeline import TASK_EVENTS, Pipeline, PipelineParams, PipelineTask
from trio_pipe.pipeline_timeouts import (
    CANCEL_TIMEOUT_SECS,
    DEFAULT_IDLE_TIMEOUT_FRAMES,
    IDLE_TIMEOUT_SECS,
    START_TIMEOUT_SECS,
)
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.rtvi.processor import RTVIProcessor
from trio_pipe.rtvi.translate import UIClientMessage, frame_for_carrier
from trio_pipe.workers.base import BaseWorker
from trio_pipe.workers.bridge_processor import BusEdgeProcessor

__all__ = ["PipelineWorker"]

logger = logging.getLogger(__name__)

_DOWN = FrameDirection.DOWNSTREAM
_UP = FrameDirection.UPSTREAM


class _EventStatus:
    """A ``task_status`` that sets an event (the task runs under ``Children``)."""

    def __init__(self, event: trio.Event) -> None:
        self._event = event

    def started(self, value: Any = None) -> None:
        self._event.set()


def _walk(processor: FrameProcessor) -> Iterator[FrameProcessor]:
    stack = [processor]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.processors))


class PipelineWorker(BaseWorker):
    """A worker that runs ``pipeline``; see the module docstring.

    Events: ``on_pipeline_started(worker, start_frame)``,
    ``on_pipeline_finished(worker, end_or_cancel_frame)``,
    ``on_pipeline_error(worker, error_frame)``, ``on_pipeline_timeout(worker, frame)``,
    ``on_idle_timeout(worker)``, ``on_heartbeat_timeout(worker)`` (on top of the worker's).

    Args:
        pipeline: the processor (usually a :class:`Pipeline`) to run.
        name: unique on the bus (default ``"PipelineWorker#<n>"``).
        active: start accepting messages at once.
        bridged: None (default): not bridged. ``()``: frames cross the bus both ways,
            from any bridge. ``("voice",)``: only frames tagged with those bridge names
            come in.
        enable_rtvi: own the client's RTVI; None (default) means "unless bridged".
        rtvi_processor: the RTVIProcessor to put first (default: a new one).
        exclude_frames: with ``bridged``, frame types that never go onto the bus.
        params: the pipeline's parameters (sample rates, heartbeats).
        cancel_timeout_secs, cleanup_timeout_secs, start_timeout_secs, idle_timeout_secs,
            idle_timeout_frames, cancel_on_idle_timeout: passed to the
            :class:`~trio_pipe.pipeline.PipelineTask` (Pipecat's names and defaults).
        cancel_runner_on_idle_timeout: when the idle timeout cancels the pipeline, also
            ask the runner to cancel the session (every other worker), as Pipecat does.
    """

    def __init__(
        self,
        pipeline: FrameProcessor,
        *,
        name: str | None = None,
        active: bool = True,
        bridged: tuple[str, ...] | None = None,
        enable_rtvi: bool | None = None,
        rtvi_processor: RTVIProcessor | None = None,
        exclude_frames: tuple[type[Frame], ...] | None = None,
        params: PipelineParams | None = None,
        cancel_timeout_secs: float = CANCEL_TIMEOUT_SECS,
        cleanup_timeout_secs: float = 5.0,
        start_timeout_secs: float = START_TIMEOUT_SECS,
        idle_timeout_secs: float | None = IDLE_TIMEOUT_SECS,
        idle_timeout_frames: tuple[type[Frame], ...] = DEFAULT_IDLE_TIMEOUT_FRAMES,
        cancel_on_idle_timeout: bool = True,
        cancel_runner_on_idle_timeout: bool = True,
    ) -> None:
        super().__init__(name, active=active)
        self._bridged = None if bridged is None else tuple(bridged)
        self._user_pipeline = pipeline
        self._pipeline_done = False
        if enable_rtvi is None:
            enable_rtvi = bridged is None
        self._rtvi: RTVIProcessor | None = None
        prepend: list[FrameProcessor] = []
        if enable_rtvi:
            found = next((p for p in _walk(pipeline) if isinstance(p, RTVIProcessor)), None)
            self._rtvi = found or rtvi_processor or RTVIProcessor()
            if found is None:
                prepend.append(self._rtvi)
            self._rtvi.add_event_handler("on_client_ready", self._on_client_ready)
            self._rtvi.add_event_handler("on_ui_message", self._on_ui_message)
        if self._bridged is not None:
            pipeline = Pipeline(
                [
                    BusEdgeProcessor(
                        worker=self,
                        direction=_UP,
                        exclude_frames=exclude_frames,
                        name=f"{self}::EdgeSource",
                    ),
                    pipeline,
                    BusEdgeProcessor(
                        worker=self,
                        direction=_DOWN,
                        exclude_frames=exclude_frames,
                        name=f"{self}::EdgeSink",
                    ),
                ]
            )
        self._task = PipelineTask(
            Pipeline([*prepend, pipeline]),
            params=params,
            cancel_timeout_secs=cancel_timeout_secs,
            cleanup_timeout_secs=cleanup_timeout_secs,
            start_timeout_secs=start_timeout_secs,
            idle_timeout_secs=idle_timeout_secs,
            idle_timeout_frames=idle_timeout_frames,
            cancel_on_idle_timeout=cancel_on_idle_timeout,
        )
        # Processors reach their worker and its runner as in Pipecat (self.worker_runner).
        for processor in _walk(self._task.pipeline):
            processor._pipeline_worker = self
        for event in TASK_EVENTS:
            self._register_event_handler(event)
            self._task.add_event_handler(event, self._forward_event(event))
        if cancel_on_idle_timeout and cancel_runner_on_idle_timeout:
            self._task.add_event_handler("on_idle_timeout", self._cancel_session_when_idle)
        # The bus may skip what this worker ignores: messages for other workers, and
        # frames unless bridged (BaseWorker gave up its prefilter: we override
        # on_bus_message).
        cls = type(self)
        if (
            cls.on_bus_message is PipelineWorker.on_bus_message
            and cls.accepts_bus_message is BaseWorker.accepts_bus_message
        ):
            self.bus_prefilter = self._prefilter

    def _forward_event(self, event: str) -> Any:
        def forward(_task: PipelineTask, *args: Any) -> None:
            self._call_event_handler(event, *args)

        return forward

    async def _cancel_session_when_idle(self, _task: PipelineTask) -> None:
        # The task cancels its own pipeline; the runner cancels everyone else.
        await BaseWorker.cancel(self, reason="idle timeout")

    # --- properties ---------------------------------------------------------------------

    @property
    def pipeline(self) -> FrameProcessor:
        """The pipeline given to the constructor."""
        return self._user_pipeline

    @property
    def task(self) -> PipelineTask:
        """The PipelineTask running the pipeline (trio_pipe: Pipecat's worker is the task)."""
        return self._task

    @property
    def bridged(self) -> bool:
        """Whether frames cross the bus (``bridged`` was given)."""
        return self._bridged is not None

    @property
    def rtvi(self) -> RTVIProcessor:
        """The RTVIProcessor; RuntimeError when this worker does not own RTVI."""
        if self._rtvi is None:
            raise RuntimeError(f"{self}: RTVI is not enabled")
        return self._rtvi

    def has_finished(self) -> bool:
        """True once the pipeline has finished (or its run was cancelled from outside)."""
        return self._pipeline_done or self._task.has_finished()

    # --- controlling the pipeline ----------------------------------------------------------

    async def queue_frame(self, frame: Frame, direction: FrameDirection = _DOWN) -> None:
        """Queue ``frame`` into the pipeline (see :meth:`PipelineTask.queue_frame`)."""
        await self._task.queue_frame(frame, direction)

    async def queue_frames(
        self, frames: Iterable[Frame] | AsyncIterable[Frame], direction: FrameDirection = _DOWN
    ) -> None:
        """Queue each of ``frames`` in order."""
        await self._task.queue_frames(frames, direction)

    async def stop_when_done(self) -> None:
        """End the pipeline once what is queued has gone through (an EndFrame)."""
        await self._task.stop_when_done()

    async def cancel(self, *, reason: str | None = None) -> None:
        """Cancel the pipeline now (a CancelFrame); as Pipecat's PipelineWorker.cancel.

        (``BaseWorker.cancel`` asks the runner to cancel the session instead.)
        """
        await self._task.cancel(reason=reason)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the pipeline in this worker's nursery; once it started, announce readiness."""
        started = trio.Event()
        self._children.start_soon(self._run_pipeline, started)
        await started.wait()
        await super().start()

    async def _run_pipeline(self, started: trio.Event) -> None:
        try:
            await self._task.run(task_status=_EventStatus(started))
        finally:
            self._pipeline_done = True
            started.set()  # a pipeline cancelled before it started must not hold start()
        await self.stop()  # the pipeline is done: so is the worker

    async def _handle_worker_end(self, message: BusEndWorkerMessage) -> None:
        """End: end the children, then drain the pipeline with an EndFrame."""
        await self._propagate_end_to_children(message)
        await self._task.queue_frame(EndFrame(reason=message.reason))

    async def _handle_worker_cancel(self, message: BusCancelWorkerMessage) -> None:
        """Cancel: pass it to the children, then cancel the pipeline (a CancelFrame)."""
        await self._propagate_cancel_to_children(message)
        await self._task.cancel(reason=message.reason)

    # --- the bus ---------------------------------------------------------------------------

    def _prefilter(self, message: BusMessage) -> bool:
        target = message.target
        if target and target != self.name:
            return False
        return self._bridged is not None or not isinstance(message, BusFrameMessage)

    async def on_bus_message(self, message: BusMessage) -> None:
        """Base handling, then bridged frames and outbound UI carriers."""
        await super().on_bus_message(message)
        if self.finished or (message.target and message.target != self.name):
            return
        if isinstance(message, BusFrameMessage):
            await self._queue_bridged_frame(message)
        elif self._rtvi is not None and isinstance(message, BusUIDataMessage):
            frame = frame_for_carrier(message)  # None for events (inbound carriers)
            if frame is not None:
                await self._task.queue_frame(frame)

    async def _queue_bridged_frame(self, message: BusFrameMessage) -> None:
        bridged = self._bridged
        if bridged is None or message.source == self.name:
            return
        if bridged and message.bridge not in bridged:
            return
        await self._task.queue_frame(message.frame, message.direction)

    # --- RTVI ------------------------------------------------------------------------------

    async def _on_client_ready(self, rtvi: RTVIProcessor) -> None:
        await rtvi.set_bot_ready()

    async def _on_ui_message(self, rtvi: RTVIProcessor, message: UIClientMessage) -> None:
        await self.send_bus_message(
            BusUIEventMessage(
                source=self.name,
                target=None,
                event_name=message.event_name,
                payload=message.payload,
            )
        )
