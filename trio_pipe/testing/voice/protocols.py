"""WebSocketProtocol: how audio looks on a voice bot's socket; and the raw PCM protocol.

A protocol turns the adapter's 24 kHz PCM16 mono audio into wire messages and wire
messages back into :class:`AudioChunk`. It is plain, synchronous code with no socket, so
it is tested by feeding it messages. Resampling happens only here, at the edge, through
:class:`trio_pipe.audio.Resampler` (one per direction, kept across messages, cleared by
:meth:`WebSocketProtocol.reset` when a connection starts).

Only ``encode_audio`` and ``decode_response`` are required (as in LangWatch Scenario);
the other methods are optional hooks with do-nothing defaults, and a duck-typed protocol
that lacks them works too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from trio_pipe.audio import Resampler
from trio_pipe.testing.voice.chunk import PCM16_SAMPLE_RATE, AudioChunk

__all__ = ["Encoded", "Message", "RawPCMProtocol", "WebSocketProtocol", "supports_interrupt"]

Message = str | bytes
# What encode_audio may return: one message, several (in order), or nothing yet.
Encoded = Message | Sequence[Message] | None


class WebSocketProtocol(ABC):
    """Encoder/decoder pair for one voice bot's WebSocket protocol.

    Required: :meth:`encode_audio` and :meth:`decode_response`. Optional hooks, called by
    :class:`~trio_pipe.testing.voice.websocket.WebSocketAgentAdapter` when present:
    :meth:`reset` (on connect), :meth:`on_connect` / :meth:`on_disconnect` (handshake and
    goodbye messages), :meth:`end_of_utterance` (messages after each ``send_audio``),
    :meth:`encode_interrupt` (overriding it enables ``adapter.interrupt()``) and
    :meth:`decode_event` (non-audio messages worth keeping in ``adapter.events``).

    Exceptions raised while decoding are caught by the adapter: the message is counted in
    ``adapter.decode_errors`` and skipped.
    """

    input_formats: ClassVar[list[str]] = ["pcm16/24000"]
    output_formats: ClassVar[list[str]] = ["pcm16/24000"]

    @abstractmethod
    def encode_audio(self, pcm24k: bytes) -> Encoded:
        """The wire message(s) carrying ``pcm24k`` (PCM16 mono 24 kHz); None for none yet."""

    @abstractmethod
    def decode_response(self, message: Message) -> AudioChunk | None:
        """The audio in ``message`` as a chunk, or None if it carries no audio.

        An empty chunk means the agent ended its stream cleanly.
        """

    def reset(self) -> None:  # noqa: B027
        """Forget per-connection state (resamplers, partial samples). Called on connect."""

    def on_connect(self) -> list[Message]:
        """Messages to send right after the socket opens (after :meth:`reset`)."""
        return []

    def on_disconnect(self) -> list[Message]:
        """Messages to send before closing (best effort)."""
        return []

    def end_of_utterance(self) -> list[Message]:
        """Messages to send after each ``send_audio`` (flush a partial frame, a marker)."""
        return []

    def encode_interrupt(self) -> Message | None:
        """The message that tells the agent to stop talking; override to support it."""
        return None

    def decode_event(self, message: Message) -> dict[str, Any] | None:
        """A non-audio message as an event dict (``{"type": ...}``), or None to drop it."""
        return None


def supports_interrupt(protocol: object) -> bool:
    """Whether ``protocol`` defines its own ``encode_interrupt``."""
    method = getattr(type(protocol), "encode_interrupt", None)
    return method is not None and method is not WebSocketProtocol.encode_interrupt


class RawPCMProtocol(WebSocketProtocol):
    """Binary PCM16 mono both ways, no framing: what a bare "audio in, audio out" bot speaks.

    ``in_rate`` is the rate the bot takes in (we send at it), ``out_rate`` the rate it
    sends (we read at it). A message ending in half a sample keeps that byte for the next
    message. Text messages are not audio; they are kept as ``{"type": "text"}`` events.
    """

    def __init__(self, in_rate: int = 16000, out_rate: int = 24000) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._to_bot = Resampler(PCM16_SAMPLE_RATE, in_rate)
        self._from_bot = Resampler(out_rate, PCM16_SAMPLE_RATE)

    @property
    def input_formats(self) -> list[str]:  # type: ignore[override]
        return [f"pcm16/{self.in_rate}"]

    @property
    def output_formats(self) -> list[str]:  # type: ignore[override]
        return [f"pcm16/{self.out_rate}"]

    def reset(self) -> None:
        """Clear both resamplers and any held half sample."""
        self._to_bot.reset()
        self._from_bot.reset()

    def encode_audio(self, pcm24k: bytes) -> Encoded:
        """The audio at ``in_rate`` as one binary message."""
        out = self._to_bot.resample(pcm24k)
        return out or None

    def decode_response(self, message: Message) -> AudioChunk | None:
        """A binary message as 24 kHz audio; text is not audio."""
        if isinstance(message, str):
            return None
        pcm = self._from_bot.resample(message)
        # An empty result (a lone byte waiting for its pair) is not an end of stream.
        return AudioChunk(pcm) if pcm else None

    def decode_event(self, message: Message) -> dict[str, Any] | None:
        """Text messages are kept as ``{"type": "text", "text": ...}``."""
        if isinstance(message, str):
            return {"type": "text", "text": message}
        return None
