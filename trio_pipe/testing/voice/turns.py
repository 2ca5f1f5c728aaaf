"""The turn logic, without sockets: drain the agent's reply and say why the turn ended.

A turn reads the agent's first chunk with a long timeout (the agent is thinking), then
keeps reading with a short one (the tail silence): a gap longer than that means the
agent stopped talking. A hard ceiling on the gathered duration stops a stream that never
pauses. With a :class:`SpeechEndDetector`, the turn also ends when voice activity
detection (the same analyzer as the bots' :mod:`trio_pipe.vad`) hears the agent stop
talking, for agents that keep streaming (silence, noise) after they are done. Everything
here takes a ``recv(timeout)`` callable, so it is tested with a fake one and Trio's mock
clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum

import attrs
import trio

from trio_pipe.testing.voice.chunk import PCM16_SAMPLE_RATE, AudioChunk
from trio_pipe.testing.voice.errors import AgentStreamEndedError, FirstChunkTimeoutError
from trio_pipe.vad.analyzer import VADAnalyzer, VADParams, VADState

__all__ = [
    "DrainedTurn",
    "SpeechEndDetector",
    "TurnEndReason",
    "TurnRecord",
    "drain_turn",
    "merge_chunks",
]


class TurnEndReason(StrEnum):
    """Why a turn ended (a ``str``: compares equal to the plain names)."""

    TAIL_SILENCE = "tail_silence"  # no chunk within response_tail_silence
    TERMINAL_CHUNK = "terminal_chunk"  # an empty chunk: the agent closed the stream cleanly
    STREAM_ENDED = "stream_ended"  # AgentStreamEndedError after some audio
    MAX_DURATION = "max_duration"  # response_max_duration of audio gathered
    VOICE_ENDED = "voice_ended"  # VAD heard the agent speak, then stop_secs without voice


@attrs.frozen
class DrainedTurn:
    """The agent's side of one turn."""

    audio: AudioChunk
    reason: TurnEndReason
    chunk_count: int
    first_audio_at: float | None  # trio.current_time() at the first non-empty chunk


class SpeechEndDetector:
    """Says when the agent stopped talking, by voice activity in its audio.

    Call it with each reply chunk (24 kHz PCM16 mono): True once VAD has confirmed speech
    and then ``params.stop_secs`` without it. Short replies (under ~0.4 s, before the
    loudness window fills) are never confirmed as speech: the tail silence ends those.

    Args:
        params: VAD thresholds (Pipecat's defaults).
        analyzer: the analyzer to use (default: the WebRTC one at 24 kHz).
    """

    def __init__(
        self, params: VADParams | None = None, *, analyzer: VADAnalyzer | None = None
    ) -> None:
        if analyzer is None:
            from trio_pipe.vad.webrtc import WebRTCVADAnalyzer

            analyzer = WebRTCVADAnalyzer(params=params)
        analyzer.set_sample_rate(PCM16_SAMPLE_RATE)
        self._analyzer = analyzer
        self.heard_speech = False

    def __call__(self, chunk: AudioChunk) -> bool:
        """Feed one chunk; True when the agent's speech has ended."""
        state = self._analyzer.analyze(chunk.data)
        if state is VADState.SPEAKING:
            self.heard_speech = True
        return self.heard_speech and state is VADState.QUIET


def merge_chunks(chunks: Sequence[AudioChunk]) -> AudioChunk:
    """One chunk from several: data concatenated, non-empty transcripts joined by a space.

    A single chunk is returned as is (the same object).
    """
    if len(chunks) == 1:
        return chunks[0]
    transcripts = [c.transcript for c in chunks if c.transcript]
    return AudioChunk(
        data=b"".join(c.data for c in chunks),
        transcript=" ".join(transcripts) if transcripts else None,
    )


async def drain_turn(
    recv: Callable[[float], Awaitable[AudioChunk]],
    *,
    response_timeout: float,
    response_tail_silence: float,
    response_max_duration: float,
    on_first_chunk: Callable[[], None] | None = None,
    speech_ended: Callable[[AudioChunk], bool] | None = None,
) -> DrainedTurn:
    """Read the agent's reply with ``recv(timeout)`` until it ends; see :class:`TurnEndReason`.

    * First chunk: ``recv(response_timeout)``; a ``TimeoutError`` becomes
      :class:`FirstChunkTimeoutError` (chained); ``AgentStreamEndedError`` propagates. An
      empty first chunk ends the turn at once (``terminal_chunk``) with no audio.
    * ``on_first_chunk`` runs synchronously when the first non-empty chunk arrives.
    * ``speech_ended`` (a :class:`SpeechEndDetector`), if given, sees every chunk; when it
      says the speech is over the turn ends there (``voice_ended``).
    * The ceiling does not cut audio: the last chunk may overshoot it, and whatever has
      not been read yet stays for the next turn.
    """
    try:
        first = await recv(response_timeout)
    except TimeoutError as exc:
        raise FirstChunkTimeoutError(timeout=response_timeout) from exc
    if not first.data:
        return DrainedTurn(first, TurnEndReason.TERMINAL_CHUNK, 1, None)
    first_audio_at = trio.current_time()
    if on_first_chunk is not None:
        on_first_chunk()
    chunks = [first]
    gathered = first.duration_seconds
    reason = TurnEndReason.MAX_DURATION
    if speech_ended is not None and speech_ended(first):
        return DrainedTurn(first, TurnEndReason.VOICE_ENDED, 1, first_audio_at)
    while gathered < response_max_duration:
        try:
            chunk = await recv(response_tail_silence)
        except TimeoutError:
            reason = TurnEndReason.TAIL_SILENCE
            break
        except AgentStreamEndedError:
            reason = TurnEndReason.STREAM_ENDED
            break
        if not chunk.data:
            reason = TurnEndReason.TERMINAL_CHUNK
            break
        chunks.append(chunk)
        gathered += chunk.duration_seconds
        if speech_ended is not None and speech_ended(chunk):
            reason = TurnEndReason.VOICE_ENDED
            break
    return DrainedTurn(merge_chunks(chunks), reason, len(chunks), first_audio_at)


@attrs.frozen
class TurnRecord:
    """What one :meth:`VoiceAgentAdapter.call` did, for recordings and latency reports.

    Times are ``trio.current_time()`` readings. ``speech_ended_at`` is when the user's
    speech finished leaving (before any trailing silence); for ``call(None)`` it is the
    start of the turn. ``first_audio_at`` is when the first reply chunk arrived (adapters
    with a reader task stamp arrival) or else when it was read.
    """

    index: int
    user_audio: AudioChunk | None
    agent_audio: AudioChunk
    reason: TurnEndReason
    chunk_count: int
    started_at: float
    speech_ended_at: float
    first_audio_at: float | None
    ended_at: float

    @property
    def latency(self) -> float | None:
        """Seconds from the end of the user's speech to the first agent audio.

        Negative when the agent was already talking before the user finished (barge-in,
        an echo bot, or the end of the previous reply arriving late). None if the agent
        sent no audio.
        """
        if self.first_audio_at is None:
            return None
        return self.first_audio_at - self.speech_ended_at
