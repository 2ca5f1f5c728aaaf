"""RawPCMSerializer: audio as bare binary PCM16, for tests, benchmarks and simple peers."""

from __future__ import annotations

import attrs

from trio_pipe.frames import AudioRawFrame, Frame, InputAudioRawFrame, StartFrame
from trio_pipe.serializers.base_serializer import FrameSerializer, FrameSerializerParams

__all__ = ["RawPCMSerializer"]


class RawPCMSerializer(FrameSerializer):
    """Audio frames out as their raw PCM bytes; binary messages in as ``InputAudioRawFrame``.

    Incoming audio is labelled ``sample_rate`` (default: the StartFrame's
    ``audio_in_sample_rate``, 16000 before setup) and ``num_channels``. A message that
    ends inside a sample frame keeps the partial frame for the next message, so odd-sized
    packets never shift the samples. Other frames send nothing; text messages are dropped
    and counted.
    """

    def __init__(
        self,
        sample_rate: int | None = None,
        num_channels: int = 1,
        params: FrameSerializerParams | None = None,
    ) -> None:
        super().__init__(params)
        if num_channels < 1:
            raise ValueError(f"num_channels must be >= 1, got {num_channels}")
        if sample_rate is not None and sample_rate < 1:
            raise ValueError(f"sample_rate must be >= 1, got {sample_rate}")
        self._configured_rate = sample_rate
        default_rate: int = attrs.fields(StartFrame).audio_in_sample_rate.default
        self.sample_rate = sample_rate or default_rate
        self.num_channels = num_channels
        self._block = 2 * num_channels
        self._carry = b""

    async def setup(self, start_frame: StartFrame) -> None:
        """Take the input rate from the StartFrame unless one was configured."""
        if self._configured_rate is None:
            self.sample_rate = start_frame.audio_in_sample_rate

    async def serialize(self, frame: Frame) -> bytes | None:
        """The PCM of an audio frame; None for anything else or empty audio."""
        if isinstance(frame, AudioRawFrame) and frame.audio:
            return bytes(frame.audio)
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        """An ``InputAudioRawFrame`` of the whole sample frames received so far."""
        if isinstance(data, str):
            self._decode_failed("text message (raw PCM is binary)")
            return None
        audio = self._carry + bytes(data) if self._carry else bytes(data)
        extra = len(audio) % self._block
        self._carry = audio[len(audio) - extra :] if extra else b""
        if extra:
            audio = audio[: len(audio) - extra]
        if not audio:
            return None
        return InputAudioRawFrame(
            audio=audio, sample_rate=self.sample_rate, num_channels=self.num_channels
        )
