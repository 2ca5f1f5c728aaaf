"""VoiceAgentAdapter: the contract every voice adapter keeps, and the turn (`call`).

A subclass implements four coroutines: ``connect``, ``disconnect``, ``send_audio`` and
``recv_audio(timeout)``. The base class adds ``async with``, ``interrupt`` (unsupported
unless a subclass says otherwise) and :meth:`VoiceAgentAdapter.call`, one conversational
turn: send the user's audio, drain the agent's reply (``turns.drain_turn``), keep a
:class:`~trio_pipe.testing.voice.turns.TurnRecord` of it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, Self

import trio

from trio_pipe.testing.voice.chunk import AudioChunk
from trio_pipe.testing.voice.errors import (
    AdapterCapabilities,
    TransportNotConnectedError,
    UnsupportedCapabilityError,
)
from trio_pipe.testing.voice.turns import (
    SpeechEndDetector,
    TurnEndReason,
    TurnRecord,
    drain_turn,
)
from trio_pipe.vad.analyzer import VADParams

__all__ = ["VoiceAgentAdapter"]

logger = logging.getLogger(__name__)

TurnListener = Callable[[TurnRecord], None]


class VoiceAgentAdapter(ABC):
    """Base class of adapters that talk to a voice agent under test.

    Tunables (class attributes; set them on an instance to override):
    ``response_timeout`` (60 s for the first chunk of a reply), ``response_tail_silence``
    (0.6 s of quiet ends the reply), ``response_max_duration`` (30 s ceiling per reply),
    ``end_of_turn_vad`` (``VADParams``: the reply also ends when voice activity detection
    hears the agent stop talking; None, the default, ends it by tail silence only).
    ``agent_hung_up``: set when the agent ended the call on purpose; a later ``call()``
    then returns an empty chunk instead of raising :class:`TransportNotConnectedError`.

    ``connect()`` and ``disconnect()`` must run in the same Trio task (adapters may hold
    a nursery between them); ``async with adapter:`` does that for you.
    """

    capabilities: ClassVar[AdapterCapabilities] = AdapterCapabilities()
    response_timeout: float = 60.0
    response_tail_silence: float = 0.6
    response_max_duration: float = 30.0
    end_of_turn_vad: VADParams | None = None
    agent_hung_up: bool = False

    def __init__(self) -> None:
        self.agent_speaking = trio.Event()
        self.last_turn_end_reason: TurnEndReason | None = None
        self.last_turn: TurnRecord | None = None
        self.turn_count = 0
        self._turn_listeners: list[TurnListener] = []
        self._speech_ended_at: float | None = None
        # recv_audio implementations that know when a chunk arrived (a reader task) set
        # this to its arrival time, so turn latency does not count time spent queued.
        self._last_arrival_at: float | None = None

    # -- the I/O contract -----------------------------------------------------------------

    def is_connected(self) -> bool:
        """Whether audio can be exchanged now (True unless a subclass knows better)."""
        return True

    @abstractmethod
    async def connect(self) -> None:
        """Open the transport."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Close the transport; safe to call more than once."""

    @abstractmethod
    async def send_audio(self, chunk: AudioChunk) -> None:
        """Send user audio to the agent."""

    @abstractmethod
    async def recv_audio(self, timeout: float) -> AudioChunk:  # noqa: ASYNC109
        """The next chunk of agent audio.

        Raises ``TimeoutError`` when nothing arrives within ``timeout`` seconds; returns an
        empty chunk at a clean end of stream; raises
        :class:`~trio_pipe.testing.voice.errors.AgentStreamEndedError` when the stream is
        gone otherwise.
        """

    async def interrupt(self) -> None:
        """Tell the agent to stop talking.

        Unsupported by default (``capabilities.interruption`` is False): fall back to
        barge-in, i.e. ``send_audio`` while the agent is talking.
        """
        raise UnsupportedCapabilityError(type(self).__name__, "interruption")

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    # -- turns ----------------------------------------------------------------------------

    def add_turn_listener(self, listener: TurnListener) -> None:
        """Call ``listener(record)`` after every completed turn (recordings, latency logs)."""
        self._turn_listeners.append(listener)

    def remove_turn_listener(self, listener: TurnListener) -> None:
        """Undo :meth:`add_turn_listener`."""
        self._turn_listeners.remove(listener)

    def _mark_speech_end(self) -> None:
        """For ``send_audio`` implementations: the user's speech has just left.

        Call it before any trailing silence, so turn latency counts from the end of
        speech. Without it, the end of ``send_audio`` counts.
        """
        self._speech_ended_at = trio.current_time()

    async def call(self, user_audio: AudioChunk | None = None) -> AudioChunk:
        """One turn: send ``user_audio`` (if given and non-empty), return the agent's reply.

        ``agent_speaking`` is this turn's event, set at its first non-empty chunk (between
        turns it is already the next turn's event, so a test can start ``call()`` in a
        nursery and wait on it). ``last_turn_end_reason`` and ``last_turn`` describe the
        turn afterwards. Raises :class:`FirstChunkTimeoutError` when the agent stays
        silent, :class:`TransportNotConnectedError` when not connected (unless
        ``agent_hung_up``: then an empty chunk, with no I/O).
        """
        if not self.is_connected():
            if self.agent_hung_up:
                return AudioChunk(b"")
            raise TransportNotConnectedError(type(self).__name__)
        speaking = self.agent_speaking
        started = trio.current_time()
        self._speech_ended_at = None
        self._last_arrival_at = None
        first_audio_at: list[float] = []

        def first_chunk() -> None:
            arrived = self._last_arrival_at
            first_audio_at.append(arrived if arrived is not None else trio.current_time())
            speaking.set()

        try:
            if user_audio is not None and user_audio.data:
                await self.send_audio(user_audio)
                if self._speech_ended_at is None:
                    self._speech_ended_at = trio.current_time()
            speech_ended_at = self._speech_ended_at or started
            vad = self.end_of_turn_vad
            drained = await drain_turn(
                self.recv_audio,
                response_timeout=self.response_timeout,
                response_tail_silence=self.response_tail_silence,
                response_max_duration=self.response_max_duration,
                on_first_chunk=first_chunk,
                speech_ended=SpeechEndDetector(vad) if vad is not None else None,
            )
        finally:
            # The next call gets a fresh event, ready before it starts (see docstring).
            if self.agent_speaking is speaking:
                self.agent_speaking = trio.Event()
        self.turn_count += 1
        self.last_turn_end_reason = drained.reason
        self.last_turn = record = TurnRecord(
            index=self.turn_count,
            user_audio=user_audio,
            agent_audio=drained.audio,
            reason=drained.reason,
            chunk_count=drained.chunk_count,
            started_at=started,
            speech_ended_at=speech_ended_at,
            first_audio_at=first_audio_at[0] if first_audio_at else None,
            ended_at=trio.current_time(),
        )
        for listener in list(self._turn_listeners):
            try:
                listener(record)
            except Exception:
                # A broken recorder must not fail the conversation it records.
                logger.exception("%s: turn listener %r failed", type(self).__name__, listener)
        return drained.audio
