"""A Pipecat-protobuf client session for tests and benchmarks: every frame timestamped.

    async with open_bot_session(url) as session:
        await session.send_message(rtvi_message("client-ready", {"version": "2.2.0"}))
        await session.send_audio(pcm16k)                     # 20 ms frames, in real time
        await session.wait_for(lambda: session.messages("bot-stopped-speaking"))

It speaks what ``@pipecat-ai/websocket-transport`` speaks (Pipecat's protobuf frames,
RTVI as JSON in message frames) and keeps what arrives, with ``trio.current_time()``
of arrival: audio chunks, RTVI messages, interruptions. The reader is a child of the
session's nursery; leaving the ``async with`` closes the socket and stops it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from trio_pipe.frames import (
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
)
from trio_pipe.serializers.protobuf import ProtobufFrameSerializer
from trio_pipe.ws.base import ConnectionClosed, MessageSocket
from trio_pipe.ws.client import open_client_socket

__all__ = ["BotSession", "Received", "open_bot_session", "rtvi_message"]

_ids = itertools.count(1)


def rtvi_message(type_: str, data: Any = None, msg_id: str | None = None) -> dict[str, Any]:
    """An RTVI client envelope (a fresh id unless given)."""
    return {"label": "rtvi-ai", "type": type_, "id": msg_id or f"m{next(_ids)}", "data": data}


@attrs.frozen
class Received:
    """One thing the bot sent: ``kind`` is ``audio``, ``message`` or ``interruption``."""

    at: float
    kind: str
    audio: bytes = b""
    message: Any = None


class BotSession:
    """The client side of one session (build it with :func:`open_bot_session`)."""

    def __init__(self, sock: MessageSocket, *, in_rate: int = 16000) -> None:
        self._sock = sock
        self._serializer = ProtobufFrameSerializer()
        self._in_rate = in_rate
        self._changed = trio.Condition()
        self.received: list[Received] = []
        self.closed: ConnectionClosed | None = None

    # --- reading ----------------------------------------------------------------------------

    async def _reader(self) -> None:
        try:
            while True:
                data = await self._sock.receive()
                item = self._decode(data)
                if item is None:
                    continue
                self.received.append(item)
                async with self._changed:
                    self._changed.notify_all()
        except ConnectionClosed as closed:
            self.closed = closed
            async with self._changed:
                self._changed.notify_all()

    def _decode(self, data: str | bytes) -> Received | None:
        frame = self._serializer.decode(data) if isinstance(data, bytes) else None
        now = trio.current_time()
        if isinstance(frame, InputAudioRawFrame):
            return Received(now, "audio", audio=frame.audio)
        if isinstance(frame, InputTransportMessageFrame):
            return Received(now, "message", message=frame.message)
        if isinstance(frame, InterruptionFrame):
            return Received(now, "interruption")
        return None

    def messages(self, type_: str | None = None) -> list[Received]:
        """RTVI messages received (of ``type_``, if given), in order."""
        return [
            r
            for r in self.received
            if r.kind == "message"
            and isinstance(r.message, dict)
            and (type_ is None or r.message.get("type") == type_)
        ]

    def audio(self, since: float = float("-inf")) -> list[Received]:
        """Audio chunks received at or after ``since``."""
        return [r for r in self.received if r.kind == "audio" and r.at >= since]

    def audio_seconds(self, since: float = float("-inf"), rate: int = 24000) -> float:
        """Seconds of audio received at or after ``since`` (mono PCM16 at ``rate``)."""
        return sum(len(r.audio) for r in self.audio(since)) / (2 * rate)

    async def wait_for(self, condition: Callable[[], Any]) -> Any:
        """Wait until ``condition()`` is truthy (checked at every arrival); return it.

        Bound it with the caller's deadline (``trio.fail_after``); a closed connection
        raises :class:`~trio_pipe.ws.base.ConnectionClosed`.
        """
        async with self._changed:
            while not (result := condition()):
                if self.closed is not None:
                    raise self.closed
                await self._changed.wait()
        return result

    # --- sending ----------------------------------------------------------------------------

    async def send_message(self, message: dict[str, Any]) -> None:
        """Send one RTVI (or other JSON) message."""
        payload = self._serializer.encode(OutputTransportMessageUrgentFrame(message=message))
        assert payload is not None
        await self._sock.send(payload)

    async def send_audio(
        self, pcm: bytes, *, chunk_secs: float = 0.02, realtime: bool = True
    ) -> list[float]:
        """Send mono PCM16 at the input rate in ``chunk_secs`` frames; their send times.

        ``realtime`` paces the frames as a microphone would (against a fixed schedule, so
        a late wake-up does not add up).
        """
        size = int(self._in_rate * chunk_secs) * 2
        start = trio.current_time()
        times = []
        for n, i in enumerate(range(0, len(pcm), size)):
            if realtime:
                await trio.sleep_until(start + n * chunk_secs)
            frame = OutputAudioRawFrame(pcm[i : i + size], self._in_rate, 1)
            payload = self._serializer.encode(frame)
            assert payload is not None
            times.append(trio.current_time())
            await self._sock.send(payload)
        return times


@asynccontextmanager
async def open_bot_session(url: str, *, in_rate: int = 16000) -> AsyncIterator[BotSession]:
    """Connect to a bot speaking Pipecat protobuf; close and stop reading on exit."""
    async with open_client_socket(url) as sock, trio.open_nursery() as nursery:
        session = BotSession(sock, in_rate=in_rate)
        nursery.start_soon(session._reader)
        try:
            yield session
        finally:
            nursery.cancel_scope.cancel()
