"""Small echo bots, one per protocol, built on trio_pipe's own server-side serializers.

Each is a trio-websocket handler (see ``conftest.serve``); ``seen`` lists collect what the
bot received.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import trio_websocket

from trio_pipe.frames import (
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
)
from trio_pipe.serializers.frames import (
    ProtobufFrameSerializer,
    TwilioFrameSerializer,
    TwilioSerializerParams,
)

Bot = Callable[[trio_websocket.WebSocketConnection], Awaitable[None]]


async def raw_echo(ws: trio_websocket.WebSocketConnection) -> None:
    while True:
        message = await ws.get_message()
        if isinstance(message, bytes):
            await ws.send_message(message)


def protobuf_echo(seen: list[object]) -> Bot:
    serializer = ProtobufFrameSerializer()

    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(
            serializer.encode(OutputTransportMessageUrgentFrame(message={"type": "bot-ready"}))
        )  # type: ignore[arg-type]
        while True:
            frame = serializer.decode(await ws.get_message())
            seen.append(frame)
            if isinstance(frame, InputAudioRawFrame):
                out = OutputAudioRawFrame(frame.audio, frame.sample_rate, frame.num_channels)
                await ws.send_message(serializer.encode(out))  # type: ignore[arg-type]
            elif isinstance(frame, InterruptionFrame):
                await ws.send_message(serializer.encode(InterruptionFrame()))  # type: ignore[arg-type]

    return bot


def twilio_echo(seen: list[dict]) -> Bot:
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        # Like Pipecat's runner: the first two messages tell the stream id.
        first, second = json.loads(await ws.get_message()), json.loads(await ws.get_message())
        seen.extend([first, second])
        serializer = TwilioFrameSerializer(
            second["start"]["streamSid"],
            params=TwilioSerializerParams(auto_hang_up=False, sample_rate=16000),
        )
        while True:
            text = await ws.get_message()
            seen.append(json.loads(text))
            frame = await serializer.deserialize(text)
            if isinstance(frame, InputAudioRawFrame):
                out = OutputAudioRawFrame(frame.audio, frame.sample_rate, frame.num_channels)
                await ws.send_message(await serializer.serialize(out))  # type: ignore[arg-type]

    return bot


def echo_bot(protocol: str) -> Bot:
    """The echo bot for a protocol name (raw bots echo 16 kHz as is)."""
    if protocol == "raw":
        return raw_echo
    if protocol == "protobuf":
        return protobuf_echo([])
    return twilio_echo([])
