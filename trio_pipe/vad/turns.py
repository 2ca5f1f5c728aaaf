"""UserTurnProcessor: the user's turn from voice activity, and barge-in.

Pipecat 1.14's ``UserTurnProcessor`` runs configurable turn strategies; its defaults
start a turn on voice activity (``VADUserTurnStartStrategy``) and interrupt the bot when
one starts (``enable_interruptions=True``). This stage is that VAD path, without
transcription-driven strategies (trio_pipe has no STT stage): after a
:class:`~trio_pipe.vad.processor.VADProcessor`,

* ``VADUserStartedSpeakingFrame`` → broadcast ``UserStartedSpeakingFrame``, then, with
  ``enable_interruptions``, an ``InterruptionFrame`` both ways (queued bot audio is dropped
  by every stage and by the output transport);
* ``VADUserStoppedSpeakingFrame`` → broadcast ``UserStoppedSpeakingFrame``: the turn is over.

Events: ``on_user_turn_started(processor)``, ``on_user_turn_stopped(processor)``.
"""

from __future__ import annotations

import logging

from trio_pipe.frames import (
    Frame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from trio_pipe.processors import FrameDirection, FrameProcessor

__all__ = ["UserTurnProcessor"]

logger = logging.getLogger(__name__)

_DOWN = FrameDirection.DOWNSTREAM


class UserTurnProcessor(FrameProcessor):
    """User turns from VAD frames (see the module docstring).

    Args:
        enable_interruptions: interrupt the bot when a user turn starts (Pipecat's name
            and default, from its turn start strategies).
        enable_user_speaking_frames: broadcast the user started/stopped speaking frames.
        name: processor name.
    """

    def __init__(
        self,
        *,
        enable_interruptions: bool = True,
        enable_user_speaking_frames: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.enable_interruptions = enable_interruptions
        self.enable_user_speaking_frames = enable_user_speaking_frames
        self._in_turn = False
        for event in ("on_user_turn_started", "on_user_turn_stopped"):
            self._register_event_handler(event)

    @property
    def in_turn(self) -> bool:
        """True while the user holds the turn."""
        return self._in_turn

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Pass every frame on; turn the downstream VAD decisions into turns."""
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if direction is not _DOWN:
            return  # a broadcast's upstream copy: the downstream one decides
        if isinstance(frame, VADUserStartedSpeakingFrame) and not self._in_turn:
            self._in_turn = True
            logger.debug("%s: user turn started", self)
            if self.enable_user_speaking_frames:
                await self.broadcast_frame(UserStartedSpeakingFrame)
            if self.enable_interruptions:
                await self.broadcast_interruption()
            self._call_event_handler("on_user_turn_started")
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._in_turn:
            self._in_turn = False
            logger.debug("%s: user turn stopped", self)
            if self.enable_user_speaking_frames:
                await self.broadcast_frame(UserStoppedSpeakingFrame)
            self._call_event_handler("on_user_turn_stopped")
