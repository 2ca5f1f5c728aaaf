"""Frames between pipelines over the bus: the bridge processor and the bridged edges.

* :class:`BusBridgeProcessor`: a stage in the middle of a pipeline that hands every frame
  (but lifecycle, urgent transport and excluded frames) to the bus as a
  ``BusFrameMessage`` instead of passing it on, and pushes frames arriving from the bus
  into its pipeline. Typically in the transport worker's pipeline, with the "brains" in
  bridged PipelineWorkers.
* :class:`BusEdgeProcessor`: what a ``PipelineWorker(bridged=...)`` puts at both ends of
  its pipeline: frames leaving in the edge's direction go on *and* onto the bus. Frames
  from the bus are queued into that worker's pipeline by the worker itself.

Lifecycle frames (Start, End, Cancel) never cross the bus: each pipeline has its own.

Why here and not in ``trio_pipe.bus`` (where Pipecat has it): a bridge is a pipeline stage
that belongs to a worker, so it sits above both the bus and the pipeline runtime; the bus
itself knows no processor and no worker. ``trio_pipe.bus.bridge_processor`` and
``trio_pipe.bus.BusBridgeProcessor`` still resolve here, lazily.

Resource handling
    A :class:`BusBridgeProcessor` subscribes to the bus when its ``StartFrame`` arrives
    and unsubscribes in ``cleanup()``; the subscription's dispatch tasks belong to the
    bus's nursery and only queue frames into this processor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from trio_pipe import compat
from trio_pipe.bus.messages import BusFrameMessage, BusMessage
from trio_pipe.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
)
from trio_pipe.processors import FrameDirection, FrameProcessor

if TYPE_CHECKING:
    from trio_pipe.bus.bus import WorkerBus

__all__ = ["LIFECYCLE_FRAMES", "BusBridgeProcessor", "BusEdgeProcessor"]

#: Frames every pipeline handles for itself; never sent over the bus.
LIFECYCLE_FRAMES: tuple[type[Frame], ...] = (StartFrame, EndFrame, CancelFrame)
# Urgent transport messages belong to the pipeline that owns the transport.
_PASSTHROUGH_FRAMES: tuple[type[Frame], ...] = (OutputTransportMessageUrgentFrame,)


class BusOwner(Protocol):
    """What a :class:`BusEdgeProcessor` needs of its worker: a name and (once attached) a bus.
    Any ``BaseWorker`` is one; the edge never needs more of it."""

    @property
    def name(self) -> str: ...

    @property
    def bus(self) -> WorkerBus: ...


class BusBridgeProcessor(FrameProcessor):
    """Exchange frames with other workers through the bus, mid-pipeline.

    Args:
        bus: the bus.
        worker_name: the owning worker's name (source of the frames sent).
        target_worker: only take frames from this worker.
        bridge: tag frames sent with this bridge name, and take only frames with it.
        exclude_frames: frame types that stay local (on top of lifecycle frames).
        name: processor name (also its subscriber name on the bus).
        target_task: deprecated alias of ``target_worker`` (as in Pipecat since 1.8);
            warns with ``DeprecationWarning``; ``target_worker`` wins when both are given.
    """

    def __init__(
        self,
        *,
        bus: WorkerBus,
        worker_name: str,
        target_worker: str | None = None,
        bridge: str | None = None,
        exclude_frames: tuple[type[Frame], ...] | None = None,
        name: str | None = None,
        target_task: str | None = None,
    ) -> None:
        super().__init__(name=name)
        target_worker = compat.renamed_keyword(
            "BusBridgeProcessor", "target_task", "target_worker", target_task, target_worker
        )
        self._bus = bus
        self._worker_name = worker_name
        self._target_worker = target_worker
        self._bridge = bridge
        self._local = LIFECYCLE_FRAMES + _PASSTHROUGH_FRAMES + tuple(exclude_frames or ())
        self._subscribed = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Local frames pass on; the others go to the bus (and not further here)."""
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame) and not self._subscribed:
            self._subscribed = True
            self._bus.subscribe(self)
        if isinstance(frame, self._local):
            await self.push_frame(frame, direction)
            return
        self._bus.send(
            BusFrameMessage(
                frame=frame, direction=direction, bridge=self._bridge, source=self._worker_name
            )
        )

    async def cleanup(self) -> None:
        """Unsubscribe, then stop the lanes."""
        if self._subscribed:
            self._subscribed = False
            self._bus.unsubscribe(self)
        await super().cleanup()

    # --- bus subscriber ---------------------------------------------------------------------

    def accepts_bus_message(self, message: BusMessage) -> bool:
        """Frame messages from someone else, for us or for everyone, on our bridge."""
        return (
            isinstance(message, BusFrameMessage)
            and message.source != self._worker_name
            and (not self._bridge or message.bridge == self._bridge)
            and (not self._target_worker or message.source == self._target_worker)
            and (not message.target or message.target == self._worker_name)
        )

    async def on_bus_message(self, message: BusMessage) -> None:
        """Push the carried frame into this pipeline, in its direction."""
        if isinstance(message, BusFrameMessage):
            await self.push_frame(message.frame, message.direction)


class BusEdgeProcessor(FrameProcessor):
    """An end of a bridged pipeline: frames pass on, and those going ``direction`` are
    also sent on the bus as the worker's ``BusFrameMessage``.

    Args:
        worker: the owning worker (its bus is read when frames flow, after ``attach``).
        direction: the direction this edge publishes.
        exclude_frames: frame types never published (on top of lifecycle frames).
    """

    def __init__(
        self,
        *,
        worker: BusOwner,
        direction: FrameDirection,
        exclude_frames: tuple[type[Frame], ...] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self._worker = worker
        self._direction = direction
        self._local = LIFECYCLE_FRAMES + tuple(exclude_frames or ())

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Pass the frame on; publish it too when it travels this edge's way."""
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if direction is self._direction and not isinstance(frame, self._local):
            self._worker.bus.send(
                BusFrameMessage(frame=frame, direction=direction, source=self._worker.name)
            )
