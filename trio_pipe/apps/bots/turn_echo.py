"""A turn-taking echo bot: it listens until the user stops, then says back what it heard.

    stages = turn_echo_stages(transport, rtvi=RTVIProcessor())
    # [rtvi, input, VADProcessor, UserTurnProcessor, TurnEchoProcessor, output]

The user's turn comes from voice activity (:mod:`trio_pipe.vad`); when it ends, the
:class:`TurnEchoProcessor` plays the turn's audio back as bot speech (``TTSAudioRawFrame``
then ``TTSStoppedFrame``). Speaking again while the bot talks starts a new turn, whose
``InterruptionFrame`` drops the rest of the reply (barge-in). With RTVI, the session
answers ``client-ready``, echoes ``client-message`` as ``server-response``, answers a
``ui-event`` with a ``toast`` ``ui-command``, and says ``send-text`` back as ``bot-output``.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from trio_pipe.frames import (
    Frame,
    InputAudioRawFrame,
    OutputTransportMessageFrame,
    TextFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.rtvi import RTVIProcessor, Toast
from trio_pipe.rtvi.messages import bot_output
from trio_pipe.rtvi.models import ui_command, unstructure_payload
from trio_pipe.rtvi.translate import ClientMessage, UIClientMessage
from trio_pipe.vad import UserTurnProcessor, VADParams, VADProcessor, WebRTCVADAnalyzer

__all__ = ["TurnEchoProcessor", "add_rtvi_handlers", "turn_echo_stages"]

_DOWN = FrameDirection.DOWNSTREAM


class TurnEchoProcessor(FrameProcessor):
    """Records each user turn and plays it back when the turn ends.

    Args:
        pre_roll_secs: audio kept from before the turn started (VAD confirms speech
            ``start_secs`` and some smoothing after it began).
        max_turn_secs: longest turn kept; later audio of the turn is not recorded.
        text_replies: answer a ``TextFrame`` with an RTVI ``bot-output`` message.
        name: processor name.
    """

    def __init__(
        self,
        *,
        pre_roll_secs: float = 0.5,
        max_turn_secs: float = 30.0,
        text_replies: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self._pre_roll_secs = pre_roll_secs
        self._max_turn_secs = max_turn_secs
        self._text_replies = text_replies
        self._pre_roll: deque[bytes] = deque()
        self._pre_roll_bytes = 0
        self._turn: list[bytes] | None = None
        self._turn_bytes = 0
        self._format: tuple[int, int] = (16000, 1)
        #: Replies started (one per finished user turn with audio).
        self.replies = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Record input audio (not passed on); reply at the end of a user turn."""
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._record(frame)
            return
        await self.push_frame(frame, direction)
        if direction is not _DOWN:
            return
        if isinstance(frame, UserStartedSpeakingFrame):
            self._turn = list(self._pre_roll)
            self._turn_bytes = self._pre_roll_bytes
            self._pre_roll.clear()
            self._pre_roll_bytes = 0
        elif isinstance(frame, UserStoppedSpeakingFrame):
            await self._reply()
        elif isinstance(frame, TextFrame) and self._text_replies and not frame.skip_tts:
            await self.push_frame(OutputTransportMessageFrame(message=bot_output(frame.text)))

    def _record(self, frame: InputAudioRawFrame) -> None:
        rate, channels = frame.sample_rate, frame.num_channels
        if (rate, channels) != self._format:
            self._format = (rate, channels)
            self._pre_roll.clear()
            self._pre_roll_bytes = 0
        bytes_per_sec = rate * channels * 2
        if self._turn is not None:
            if self._turn_bytes < self._max_turn_secs * bytes_per_sec:
                self._turn.append(frame.audio)
                self._turn_bytes += len(frame.audio)
            return
        self._pre_roll.append(frame.audio)
        self._pre_roll_bytes += len(frame.audio)
        limit = self._pre_roll_secs * bytes_per_sec
        while self._pre_roll and self._pre_roll_bytes - len(self._pre_roll[0]) >= limit:
            self._pre_roll_bytes -= len(self._pre_roll.popleft())

    async def _reply(self) -> None:
        turn, self._turn, self._turn_bytes = self._turn, None, 0
        if not turn:
            return
        rate, channels = self._format
        self.replies += 1
        audio = b"".join(turn)
        reply = TTSAudioRawFrame(audio=audio, sample_rate=rate, num_channels=channels)
        await self.push_frame(reply)
        await self.push_frame(TTSStoppedFrame())


def add_rtvi_handlers(rtvi: RTVIProcessor) -> None:
    """The echo bot's RTVI answers: bot-ready, client-message echo, ui-event toast."""

    @rtvi.event_handler("on_client_ready")
    async def _ready(processor: RTVIProcessor) -> None:
        await processor.set_bot_ready()

    @rtvi.event_handler("on_client_message")
    async def _message(processor: RTVIProcessor, message: ClientMessage) -> None:
        await processor.send_server_response(
            message, {"echo": message.data, "server_time": time.time()}
        )

    @rtvi.event_handler("on_ui_message")
    async def _ui(processor: RTVIProcessor, message: UIClientMessage) -> None:
        if message.type != "ui-event":
            return
        toast = Toast(title=f"server got ui-event {message.event_name!r}")
        await processor.push_transport_message(ui_command("toast", unstructure_payload(toast)))


def turn_echo_stages(
    transport: Any,
    *,
    rtvi: RTVIProcessor | None = None,
    vad_params: VADParams | None = None,
    enable_interruptions: bool = True,
) -> list[FrameProcessor]:
    """The processors of a turn-taking echo session around ``transport``'s two halves."""
    stages: list[FrameProcessor] = []
    if rtvi is not None:
        add_rtvi_handlers(rtvi)
        stages.append(rtvi)
    stages += [
        transport.input(),
        VADProcessor(vad_analyzer=WebRTCVADAnalyzer(params=vad_params)),
        UserTurnProcessor(enable_interruptions=enable_interruptions),
        TurnEchoProcessor(text_replies=rtvi is not None),
        transport.output(),
    ]
    return stages
