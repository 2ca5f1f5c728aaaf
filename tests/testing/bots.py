"""Small echo bots, one per protocol, built on trio_pipe's own server-side serializers.

A bot talks to a :class:`Peer` (``receive()`` / ``send()``): trio_pipe's ``MessageSocket``
is one (a bot in a Starlette app served by Hypercorn), and :func:`over_trio_websocket`
makes a trio-websocket handler of a bot (see ``conftest.serve``). ``seen`` lists collect
what the bot received.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Protocol

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


class Peer(Protocol):
    """The other end of a bot's socket."""

    async def receive(self) -> str | bytes: ...

    async def send(self, message: str | bytes, /) -> None: ...


PeerBot = Callable[[Peer], Awaitable[None]]


class _TrioWebsocketPeer:
    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws

    async def receive(self) -> str | bytes:
        return await self.ws.get_message()

    async def send(self, message: str | bytes, /) -> None:
        await self.ws.send_message(message)


def over_trio_websocket(bot: PeerBot) -> Bot:
    """``bot`` as a trio-websocket handler."""

    async def handler(ws: trio_websocket.WebSocketConnection) -> None:
        await bot(_TrioWebsocketPeer(ws))

    return handler


async def raw_echo(ws: Peer) -> None:
    while True:
        message = await ws.receive()
        if isinstance(message, bytes):
            await ws.send(message)


def protobuf_echo(seen: list[object]) -> PeerBot:
    serializer = ProtobufFrameSerializer()

    async def bot(ws: Peer) -> None:
        await ws.send(
            serializer.encode(OutputTransportMessageUrgentFrame(message={"type": "bot-ready"}))
        )  # type: ignore[arg-type]
        while True:
            frame = serializer.decode(await ws.receive())
            seen.append(frame)
            if isinstance(frame, InputAudioRawFrame):
                out = OutputAudioRawFrame(frame.audio, frame.sample_rate, frame.num_channels)
                await ws.send(serializer.encode(out))  # type: ignore[arg-type]
            elif isinstance(frame, InterruptionFrame):
                await ws.send(serializer.encode(InterruptionFrame()))  # type: ignore[arg-type]

    return bot


def twilio_echo(seen: list[dict]) -> PeerBot:
    async def bot(ws: Peer) -> None:
        # Like Pipecat's runner: the first two messages tell the stream id.
        first, second = json.loads(await ws.receive()), json.loads(await ws.receive())
        seen.extend([first, second])
        serializer = TwilioFrameSerializer(
            second["start"]["streamSid"],
            params=TwilioSerializerParams(auto_hang_up=False, sample_rate=16000),
        )
        while True:
            text = await ws.receive()
            seen.append(json.loads(text))
            frame = await serializer.deserialize(text)
            if isinstance(frame, InputAudioRawFrame):
                out = OutputAudioRawFrame(frame.audio, frame.sample_rate, frame.num_channels)
                await ws.send(await serializer.serialize(out))  # type: ignore[arg-type]

    return bot


def peer_echo_bot(protocol: str) -> PeerBot:
    """The echo bot for a protocol name (the raw bot echoes 16 kHz as is)."""
    if protocol == "raw":
        return raw_echo
    if protocol == "protobuf":
        return protobuf_echo([])
    return twilio_echo([])


def echo_bot(protocol: str) -> Bot:
    """The echo bot for a protocol name, as a trio-websocket handler."""
    return over_trio_websocket(peer_echo_bot(protocol))
