"""Fakes for transport tests: a WebSocket-like writer, a readable serializer, a harness."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from trio_pipe.frames import (
    AudioRawFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
)
from trio_pipe.pipeline import Pipeline, PipelineParams, PipelineTask
from trio_pipe.processors import FrameProcessor
from trio_pipe.testing.pipeline import FrameRecorder
from trio_pipe.transports.base import (
    BaseInputTransport,
    BaseOutputTransport,
    TransportParams,
    transport_params,
)


@transport_params
class FakeServerParams(TransportParams):
    """The WebSocket-only fields the base output reads."""

    add_wav_header: bool = False
    fixed_audio_packet_size: int | None = None
    serializer: Any | None = None


class FakeWriter:
    """A WebSocket stand-in: records (Trio time, payload); can hang or be closed."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str | bytes]] = []
        self.is_connected = True
        self.is_closing = False
        self.hang = False  # sends never return (a peer that stopped reading)
        self.closed_by_release = False

    async def send(self, data: str | bytes) -> bool:
        if self.hang:
            await trio.sleep_forever()
        await trio.lowlevel.checkpoint()
        self.sent.append((trio.current_time(), data))
        return True

    def payloads(self) -> list[str | bytes]:
        return [d for _, d in self.sent]

    def audio(self) -> list[bytes]:
        return [d for _, d in self.sent if isinstance(d, bytes) and not d.startswith(b"MSG")]

    def audio_times(self) -> list[float]:
        return [t for t, d in self.sent if isinstance(d, bytes) and not d.startswith(b"MSG")]

    def texts(self) -> list[str]:
        return [d for _, d in self.sent if isinstance(d, str)]


class FakeSerializer:
    """Readable wire: audio as raw PCM bytes, the rest as short text (or bytes) payloads.

    Messages go out as ``json`` text, or as ``b"MSG" + json`` when ``binary_messages``.
    A message whose payload is ``"raise"`` makes serialize raise. Incoming: bytes are
    16 kHz mono audio; text is JSON: ``{"text"}``, ``{"transcription"}``,
    ``{"message"}``, ``"interrupt"``; ``"raise"`` makes deserialize raise; bad JSON is a
    decode error (None, counted in ``decode_errors``).
    """

    def __init__(self, *, binary_messages: bool = False) -> None:
        self.binary_messages = binary_messages
        self.decode_errors = 0
        self.setups = 0

    async def setup(self, frame: StartFrame) -> None:
        self.setups += 1

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, AudioRawFrame) and not isinstance(frame, InputAudioRawFrame):
            return bytes(frame.audio)
        if isinstance(frame, OutputTransportMessageFrame | OutputTransportMessageUrgentFrame):
            if frame.message == "raise":
                raise ValueError("cannot encode")
            text = json.dumps(frame.message)
            return b"MSG" + text.encode() if self.binary_messages else text
        if isinstance(frame, InterruptionFrame):
            return "interruption"
        if isinstance(frame, EndFrame):
            return "end"
        if isinstance(frame, CancelFrame):
            return "cancel"
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            return InputAudioRawFrame(audio=data, sample_rate=16000, num_channels=1)
        if data == "raise":
            raise RuntimeError("deserialize bug")
        try:
            value = json.loads(data)
        except ValueError:
            self.decode_errors += 1
            return None
        if value == "interrupt":
            return InterruptionFrame()
        if "text" in value:
            return TextFrame(text=value["text"])
        if "transcription" in value:
            return TranscriptionFrame(text=value["transcription"], user_id="u", timestamp="t")
        if "message" in value:
            return InputTransportMessageFrame(message=value["message"])
        return None


class ServerLikeOutput(BaseOutputTransport):
    """What the server output adds: interruption and End/Cancel payloads, a release."""

    send_interruptions = True
    send_end_frames = True

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)
        self._writer.closed_by_release = True  # type: ignore[union-attr]

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        self._writer.closed_by_release = True  # type: ignore[union-attr]


def pcm(n_bytes: int, value: int = 1) -> bytes:
    """``n_bytes`` of non-silent PCM16 (every sample ``value``)."""
    return value.to_bytes(2, "little", signed=True) * (n_bytes // 2) + b"\x00" * (n_bytes % 2)


@attrs.define
class Harness:
    """A transport half running in a PipelineTask between two recorders."""

    task: PipelineTask
    transport: FrameProcessor
    up: FrameRecorder  # frames the transport pushed upstream
    down: FrameRecorder  # frames the transport pushed downstream

    async def push(self, *frames: Frame) -> None:
        await self.task.queue_frames(frames)


@asynccontextmanager
async def running(
    transport: FrameProcessor, *, out_rate: int = 16000, in_rate: int = 16000
) -> AsyncIterator[Harness]:
    """Run ``transport`` in a pipeline; cancel the task at exit unless it already ended."""
    up, down = FrameRecorder(), FrameRecorder()
    task = PipelineTask(
        Pipeline([up, transport, down]),
        params=PipelineParams(audio_in_sample_rate=in_rate, audio_out_sample_rate=out_rate),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        yield Harness(task, transport, up, down)
        await task.cancel()


def output(
    params: TransportParams | None = None,
    *,
    cls: type[BaseOutputTransport] = BaseOutputTransport,
    writer: FakeWriter | None = None,
    serializer: FakeSerializer | None = None,
) -> BaseOutputTransport:
    params = params or FakeServerParams(audio_out_enabled=True)
    return cls(
        params,
        writer=writer if writer is not None else FakeWriter(),
        serializer=serializer if serializer is not None else FakeSerializer(),
    )


def input_transport(
    params: TransportParams | None = None, *, serializer: FakeSerializer | None = None
) -> BaseInputTransport:
    params = params or TransportParams(audio_in_enabled=True)
    return BaseInputTransport(
        params, serializer=serializer if serializer is not None else FakeSerializer()
    )
