"""Test a voice bot over its WebSocket: send user audio, read the reply, one turn at a time.

    from trio_pipe.testing.voice import PipecatAgentAdapter, tone_chunk

    async with PipecatAgentAdapter("ws://127.0.0.1:8765/ws", wire="protobuf") as bot:
        reply = await bot.call(tone_chunk(1.0))
        assert reply.duration_seconds > 0
        print(bot.last_turn_end_reason, bot.last_turn.latency)

The port of LangWatch Scenario 1.6's ``scenario.voice`` adapter layer to Trio. See
docs/testing-voice-bots.md.
"""

from trio_pipe.testing.voice.adapter import VoiceAgentAdapter
from trio_pipe.testing.voice.chunk import (
    PCM16_CHANNELS,
    PCM16_SAMPLE_RATE,
    PCM16_SAMPLE_WIDTH_BYTES,
    AudioChunk,
    silent_chunk,
    tone_chunk,
    utterance_chunk,
)
from trio_pipe.testing.voice.errors import (
    AdapterCapabilities,
    AgentConnectionLostError,
    AgentStreamEndedError,
    FirstChunkTimeoutError,
    TransportNotConnectedError,
    UnsupportedCapabilityError,
)
from trio_pipe.testing.voice.presets import PROTOCOLS, PipecatAgentAdapter, adapter_for
from trio_pipe.testing.voice.protobuf import ProtobufFrameProtocol
from trio_pipe.testing.voice.protocols import RawPCMProtocol, WebSocketProtocol
from trio_pipe.testing.voice.turns import (
    DrainedTurn,
    SpeechEndDetector,
    TurnEndReason,
    TurnRecord,
    drain_turn,
    merge_chunks,
)
from trio_pipe.testing.voice.twilio import TwilioMediaStreamProtocol
from trio_pipe.testing.voice.websocket import AgentConnectError, WebSocketAgentAdapter

__all__ = [
    "PCM16_CHANNELS",
    "PCM16_SAMPLE_RATE",
    "PCM16_SAMPLE_WIDTH_BYTES",
    "PROTOCOLS",
    "AdapterCapabilities",
    "AgentConnectError",
    "AgentConnectionLostError",
    "AgentStreamEndedError",
    "AudioChunk",
    "DrainedTurn",
    "FirstChunkTimeoutError",
    "PipecatAgentAdapter",
    "ProtobufFrameProtocol",
    "RawPCMProtocol",
    "SpeechEndDetector",
    "TransportNotConnectedError",
    "TurnEndReason",
    "TurnRecord",
    "TwilioMediaStreamProtocol",
    "UnsupportedCapabilityError",
    "VoiceAgentAdapter",
    "WebSocketAgentAdapter",
    "WebSocketProtocol",
    "adapter_for",
    "drain_turn",
    "merge_chunks",
    "silent_chunk",
    "tone_chunk",
    "utterance_chunk",
]
