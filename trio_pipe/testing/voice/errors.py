"""What an adapter can do (AdapterCapabilities) and how its calls fail (the error types).

The terminal states of an adapter are distinct types, so a test can tell them apart:

* silence: ``recv_audio`` raises the built-in :class:`TimeoutError` (the class
  ``asyncio.TimeoutError`` names on Python 3.11+); in a turn's first chunk it becomes
  :class:`FirstChunkTimeoutError`;
* the agent closed the stream cleanly: ``recv_audio`` returns an empty chunk;
* the stream is gone for good in any other way: :class:`AgentStreamEndedError`, and its
  subclass :class:`AgentConnectionLostError` when the connection died (abnormal close code,
  TCP reset) rather than being closed on purpose;
* the adapter was never connected (or was disconnected): :class:`TransportNotConnectedError`.
"""

from __future__ import annotations

import attrs

__all__ = [
    "AdapterCapabilities",
    "AgentConnectionLostError",
    "AgentStreamEndedError",
    "FirstChunkTimeoutError",
    "TransportNotConnectedError",
    "UnsupportedCapabilityError",
]

FIRST_CHUNK_PHASE = "first-chunk"


@attrs.frozen
class AdapterCapabilities:
    """What a voice adapter can do.

    ``interruption`` means :meth:`VoiceAgentAdapter.interrupt` sends a real interrupt
    signal; without it, interrupting is barge-in (send user audio while the agent talks).
    Format strings look like ``"pcm16/24000"``, ``"mulaw/8000"`` or ``"opus"``.
    """

    streaming_transcripts: bool = False
    native_vad: bool = False
    dtmf: bool = False
    interruption: bool = False
    input_formats: list[str] = attrs.field(factory=list)
    output_formats: list[str] = attrs.field(factory=list)


class UnsupportedCapabilityError(RuntimeError):
    """The adapter cannot do what was asked (``capability``) with its current transport."""

    def __init__(self, adapter_name: str, capability: str, hint: str = "") -> None:
        self.adapter_name = adapter_name
        self.capability = capability
        suffix = f" {hint}" if hint else ""
        super().__init__(
            f"adapter {adapter_name!r} does not support capability {capability!r}; "
            f"check adapter.capabilities before using it.{suffix}"
        )


class AgentStreamEndedError(Exception):
    """The agent's audio stream has ended for good: no more audio can arrive.

    Unlike a timeout (the agent may still speak), this is terminal for the connection. A
    turn that already has audio ends normally on it (reason ``stream_ended``); before the
    first chunk it propagates, naming the real cause.
    """


class AgentConnectionLostError(AgentStreamEndedError):
    """The connection died: an abnormal close code (1006 for a dropped TCP connection,
    1011 for a server error, ...) or a write that could not complete.

    ``close_code`` and ``close_reason`` say what the socket reported.
    """

    def __init__(
        self, message: str, close_code: int | None = None, close_reason: str | None = None
    ):
        self.close_code = close_code
        self.close_reason = close_reason
        super().__init__(message)


class FirstChunkTimeoutError(TimeoutError):
    """The agent sent no audio within ``timeout`` seconds of the turn starting.

    ``phase`` is ``"first-chunk"``, so a log line tells an agent that never spoke (wrong
    endpoint, VAD never fired, timeout too short) from one that stopped speaking.
    """

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self.phase = FIRST_CHUNK_PHASE
        super().__init__(
            f"agent did not send its first audio chunk within {timeout}s "
            f"(phase={FIRST_CHUNK_PHASE})"
        )


class TransportNotConnectedError(RuntimeError):
    """The adapter's transport is not open: connect first (``async with adapter:``)."""

    def __init__(self, adapter_name: str) -> None:
        self.adapter_name = adapter_name
        super().__init__(
            f"{adapter_name}: transport is not connected; call connect() first "
            f"(or use `async with adapter:`), or reconnect after the agent hung up"
        )
