"""Helpers for testing processors and pipelines: record what passes a point in a pipeline.

``FrameRecorder`` is a pass-through stage that remembers every frame it handled, with its
direction and the Trio time, so tests can assert order and (under ``MockClock``) exact
timing.
"""

from __future__ import annotations

import attrs
import trio

from trio_pipe.frames import Frame
from trio_pipe.processors import FrameDirection, FrameProcessor

__all__ = ["FrameRecorder", "RecordedFrame"]


@attrs.define(frozen=True)
class RecordedFrame:
    """One frame a :class:`FrameRecorder` handled."""

    frame: Frame
    direction: FrameDirection
    time: float


class FrameRecorder(FrameProcessor):
    """Records every frame it handles, then passes it on (``forward=False``: swallows)."""

    def __init__(self, *, name: str | None = None, forward: bool = True) -> None:
        super().__init__(name=name)
        self.forward = forward
        self.records: list[RecordedFrame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Record, then push on in the same direction."""
        await super().process_frame(frame, direction)
        self.records.append(RecordedFrame(frame, direction, trio.current_time()))
        if self.forward:
            await self.push_frame(frame, direction)

    def frames(
        self,
        kind: type[Frame] | tuple[type[Frame], ...] = Frame,
        direction: FrameDirection | None = None,
    ) -> list[Frame]:
        """Recorded frames of ``kind`` (and ``direction``, if given), in order."""
        return [
            r.frame
            for r in self.records
            if isinstance(r.frame, kind) and (direction is None or r.direction is direction)
        ]

    def times(self, kind: type[Frame] | tuple[type[Frame], ...] = Frame) -> list[float]:
        """Trio times at which frames of ``kind`` were recorded."""
        return [r.time for r in self.records if isinstance(r.frame, kind)]
