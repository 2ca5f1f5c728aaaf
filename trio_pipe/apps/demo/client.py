"""The demo's client: the voice test adapter, plus the RTVI a web client would speak.

:class:`DemoClient` is a :class:`~trio_pipe.testing.voice.PipecatAgentAdapter` on
Pipecat's protobuf frames. Its protocol (:class:`RecordingProtocol`) also keeps what the
report needs: when each reply chunk arrived (for the pacing error), how many messages
crossed the socket, and every RTVI envelope the bot sent (and when it arrived), which
:meth:`DemoClient.expect` waits on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import trio

from trio_pipe.frames import OutputTransportMessageUrgentFrame
from trio_pipe.serializers.frames import ProtobufFrameSerializer
from trio_pipe.testing.voice import AudioChunk, PipecatAgentAdapter, ProtobufFrameProtocol
from trio_pipe.testing.voice.protocols import Encoded, Message
from trio_pipe.vad import VADParams

__all__ = ["DemoClient", "RecordingProtocol", "is_toast", "job_group_kind", "rtvi", "short"]

Envelope = dict[str, Any]


def rtvi(type_: str, msg_id: str, data: Any = None) -> Envelope:
    """A client RTVI message."""
    return {"label": "rtvi-ai", "type": type_, "id": msg_id, "data": data}


class RecordingProtocol(ProtobufFrameProtocol):
    """Pipecat protobuf frames, recording arrivals, counts and RTVI envelopes."""

    def __init__(self, input_sample_rate: int = 16000) -> None:
        super().__init__(input_sample_rate)
        self.arrivals: list[tuple[float, float]] = []  # (trio time, audio seconds)
        self.sent = 0
        self.received = 0
        self.envelopes: list[Envelope] = []
        self.envelope_times: list[float] = []  # trio time each envelope arrived
        self._envelope_in, self._envelope_out = trio.open_memory_channel[Envelope](math.inf)

    def encode_audio(self, pcm24k: bytes) -> Encoded:
        """Count each audio frame that goes out."""
        encoded = super().encode_audio(pcm24k)
        if encoded is not None:
            self.sent += 1
        return encoded

    def decode_response(self, message: Message) -> AudioChunk | None:
        """Count each message; stamp each audio chunk with its arrival."""
        self.received += 1
        chunk = super().decode_response(message)
        if chunk is not None:
            # The adapter's reader decodes as soon as a message arrives: now is arrival.
            self.arrivals.append((trio.current_time(), chunk.duration_seconds))
        return chunk

    def decode_event(self, message: Message) -> dict[str, Any] | None:
        """Keep RTVI envelopes for :meth:`DemoClient.expect`."""
        event = super().decode_event(message)
        if event is not None and event.get("type") == "message":
            envelope = event.get("data")
            if isinstance(envelope, dict) and envelope.get("label") == "rtvi-ai":
                self.envelopes.append(envelope)
                self.envelope_times.append(trio.current_time())  # decoded on arrival
                self._envelope_in.send_nowait(envelope)
        return event

    async def next_envelope(self) -> Envelope:
        """The next RTVI envelope not yet taken, in arrival order."""
        return await self._envelope_out.receive()


class DemoClient(PipecatAgentAdapter):
    """The voice adapter (protobuf wire, 20 ms frames at the speed of speech) with RTVI.

    It takes turns as a person would: each utterance ends with ``trailing_silence`` of
    quiet (so the bot's VAD hears the user stop), and a turn ends when its own VAD hears
    the bot stop talking (``vad_stop_secs`` of quiet; a gap of 0.5 s ends it otherwise).
    """

    def __init__(
        self,
        url: str,
        *,
        vad_stop_secs: float = 0.15,
        trailing_silence: float = 0.4,
        **options: Any,
    ) -> None:
        super().__init__(url, wire="protobuf", trailing_silence=trailing_silence, **options)
        self.response_timeout = 5.0
        self.response_tail_silence = 0.5
        self.end_of_turn_vad = VADParams(stop_secs=vad_stop_secs)
        self.protocol: RecordingProtocol = RecordingProtocol()
        self._frames = ProtobufFrameSerializer()

    async def send_rtvi(self, message: Envelope) -> None:
        """Send one RTVI message as a transport-message frame, as the client SDK does."""
        await self._send(self._frames.encode(OutputTransportMessageUrgentFrame(message=message)))
        self.protocol.sent += 1

    async def expect(self, accept: Callable[[Envelope], bool]) -> Envelope:
        """The next envelope ``accept`` takes (earlier ones are skipped; they stay in
        ``protocol.envelopes``). Bound it with the caller's timeout."""
        while True:
            envelope = await self.protocol.next_envelope()
            if accept(envelope):
                return envelope


def job_group_kind(kind: str) -> Callable[[Envelope], bool]:
    """Accepts ``ui-job-group`` envelopes of ``kind``."""
    return lambda e: e.get("type") == "ui-job-group" and (e.get("data") or {}).get("kind") == kind


def is_toast(envelope: Envelope) -> bool:
    """Accepts ``ui-command`` toasts."""
    data = envelope.get("data") or {}
    return envelope.get("type") == "ui-command" and data.get("command") == "toast"


def short(envelope: Envelope) -> str:
    """A one-line JSON rendering for failure messages."""
    text = json.dumps(envelope, separators=(",", ":"))
    return text if len(text) <= 160 else text[:157] + "..."
