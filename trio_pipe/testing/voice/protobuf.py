"""Pipecat's protobuf frames, from the client's side of a bot's WebSocket.

Speaks to Pipecat's ``FastAPIWebsocketTransport`` / ``WebsocketServerTransport`` with
``ProtobufFrameSerializer`` and to trio_pipe's own server transport. Encoding and decoding
go through :mod:`trio_pipe.serializers.protobuf` (the project's one implementation of the
schema): outbound messages are built from its ``pipecat.Frame`` message class, inbound ones
are decoded by :class:`~trio_pipe.serializers.protobuf.ProtobufFrameSerializer`.

Outbound audio is PCM16 mono at ``input_sample_rate`` (16000 by default, the rate Pipecat's
pipeline input and VAD expect) with ``sample_rate`` and ``num_channels`` set and no
``id``/``name``; Pipecat turns it into an ``InputAudioRawFrame``. ``interrupt()`` sends an
empty ``interruption`` frame (bytes ``2a00``), which Pipecat pushes as an
``InterruptionFrame``. Inbound audio keeps the rate and channels its frame states: stereo
is averaged to mono, a WAV header (``add_wav_header`` on the server) is read and dropped,
and the result is resampled to 24 kHz. Inbound interruptions, transport messages (RTVI),
text and transcriptions become events.
"""

from __future__ import annotations

from typing import Any

from trio_pipe.audio import Resampler, parse_wav, to_mono
from trio_pipe.frames import (
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    TextFrame,
    TranscriptionFrame,
)
from trio_pipe.serializers.protobuf import ProtobufFrameSerializer, frame_message_class
from trio_pipe.testing.voice.chunk import PCM16_SAMPLE_RATE, AudioChunk
from trio_pipe.testing.voice.protocols import Encoded, Message, WebSocketProtocol

__all__ = ["ProtobufFrameProtocol"]

_ProtoFrame = frame_message_class()


class ProtobufFrameProtocol(WebSocketProtocol):
    """Pipecat protobuf frames (binary messages), with interruption support."""

    output_formats = ["pcm16"]  # any rate and channel count: each frame says which

    def __init__(self, input_sample_rate: int = 16000) -> None:
        self.input_sample_rate = input_sample_rate
        self._serializer = ProtobufFrameSerializer()
        self._to_bot = Resampler(PCM16_SAMPLE_RATE, input_sample_rate)
        self._from_bot: Resampler | None = None  # made for the rate the bot sends at
        self._decoded: tuple[Message, Frame | None] | None = None

    @property
    def input_formats(self) -> list[str]:  # type: ignore[override]
        return [f"pcm16/{self.input_sample_rate}"]

    def reset(self) -> None:
        """Clear both directions' resampler state."""
        self._to_bot.reset()
        self._from_bot = None
        self._decoded = None

    def encode_audio(self, pcm24k: bytes) -> Encoded:
        """One ``audio`` frame at ``input_sample_rate``, mono."""
        pcm = self._to_bot.resample(pcm24k)
        if not pcm:
            return None
        proto = _ProtoFrame()
        proto.audio.audio = pcm
        proto.audio.sample_rate = self.input_sample_rate
        proto.audio.num_channels = 1
        return proto.SerializeToString()

    def encode_interrupt(self) -> Message:
        """An empty ``interruption`` frame: ``2a00``."""
        proto = _ProtoFrame()
        proto.interruption.SetInParent()
        return proto.SerializeToString()

    def _decode(self, message: Message) -> Frame | None:
        if self._decoded is not None and self._decoded[0] is message:
            return self._decoded[1]
        errors = self._serializer.decode_errors
        frame = self._serializer.decode(message)
        if frame is None and self._serializer.decode_errors != errors:
            # The serializer logged why; raising lets the adapter count the drop.
            raise ValueError("not a Pipecat protobuf frame")
        self._decoded = (message, frame)
        return frame

    def decode_response(self, message: Message) -> AudioChunk | None:
        """An ``audio`` frame as 24 kHz mono; other frames are not audio."""
        frame = self._decode(message)
        if not isinstance(frame, InputAudioRawFrame):
            return None
        pcm, rate, channels = frame.audio, frame.sample_rate, frame.num_channels
        wav = parse_wav(pcm)
        if wav is not None:
            pcm, rate, channels = wav
        pcm = to_mono(pcm, channels)
        if self._from_bot is None or self._from_bot.in_rate != rate:
            self._from_bot = Resampler(rate, PCM16_SAMPLE_RATE)
        pcm = self._from_bot.resample(pcm)
        return AudioChunk(pcm) if pcm else None

    def decode_event(self, message: Message) -> dict[str, Any] | None:
        """Interruptions, transport messages (RTVI), transcriptions and text as events."""
        frame = self._decode(message)
        if isinstance(frame, InterruptionFrame):
            return {"type": "interruption"}
        if isinstance(frame, InputTransportMessageFrame):
            return {"type": "message", "data": frame.message}
        if isinstance(frame, TranscriptionFrame):
            return {
                "type": "transcription",
                "text": frame.text,
                "user_id": frame.user_id,
                "timestamp": frame.timestamp,
            }
        if isinstance(frame, TextFrame):
            return {"type": "text", "text": frame.text}
        return None
