"""Helpers for the WebSocket transport tests: a fake ASGI peer under a real Starlette
``WebSocket`` (for exact timing with ``autojump_clock``), session harnesses for the
server and client transports, and Starlette apps served by Hypercorn on loopback."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trio_pipe.bots.echo import EchoProcessor
from trio_pipe.frames import Frame
from trio_pipe.pipeline import Pipeline, PipelineParams, PipelineTask
from trio_pipe.processors import FrameProcessor
from trio_pipe.testing.pipeline import FrameRecorder
from trio_pipe.transports.websocket import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
    WebsocketClientTransport,
)


class FakeAsgiPeer:
    """The ASGI side of one WebSocket connection, driven by a test.

    ``websocket`` is a real Starlette ``WebSocket`` over it (accepted by ``accept``).
    ``sent`` records (Trio time, payload) of messages the app sent; ``closed`` the close
    code. ``hang_sends`` / ``hang_close`` make those calls block forever (a client that
    stopped reading / never answers the close).
    """

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        scope = {
            "type": "websocket",
            "path": "/ws",
            "headers": raw,
            "client": ("127.0.0.1", 5555),
            "server": ("127.0.0.1", 8765),
            "scheme": "ws",
            "query_string": b"",
            "subprotocols": [],
        }
        self._to_app, self._inbox = trio.open_memory_channel[dict](math.inf)
        self._to_app.send_nowait({"type": "websocket.connect"})
        self.websocket = WebSocket(scope, self._receive, self._send)
        self.sent: list[tuple[float, str | bytes]] = []
        self.closed: int | None = None
        self.close_time: float | None = None
        self.hang_sends = False
        self.hang_close = False

    async def accept(self) -> WebSocket:
        await self.websocket.accept()
        return self.websocket

    async def _receive(self) -> dict:
        return await self._inbox.receive()

    async def _send(self, message: dict) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            if self.hang_sends:
                await trio.sleep_forever()
            await trio.lowlevel.checkpoint()
            data = message.get("bytes")
            self.sent.append((trio.current_time(), data if data is not None else message["text"]))
        elif kind == "websocket.close":
            if self.hang_close:
                await trio.sleep_forever()
            self.closed = message.get("code", 1000)
            self.close_time = trio.current_time()

    # what the client does
    def says(self, data: str | bytes) -> None:
        key = "bytes" if isinstance(data, bytes) else "text"
        self._to_app.send_nowait({"type": "websocket.receive", key: data})

    def leaves(self, code: int = 1001) -> None:
        self._to_app.send_nowait({"type": "websocket.disconnect", "code": code})

    def payloads(self) -> list[str | bytes]:
        return [p for _, p in self.sent]


@attrs.define
class Session:
    """A transport running in a PipelineTask: ``[up, input, mid, output, down]``.

    ``up`` records what the input pushed upstream, ``mid`` what reached the middle,
    ``down`` what the output pushed downstream; ``events`` lists (name, time) of the
    transport's events.
    """

    transport: Any
    task: PipelineTask
    up: FrameRecorder
    mid: FrameRecorder
    down: FrameRecorder
    events: list[tuple[str, float]] = attrs.field(factory=list)
    finished: trio.Event = attrs.field(factory=trio.Event)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    async def push(self, *frames: Frame) -> None:
        await self.task.queue_frames(frames)


def build_session(
    transport: Any,
    *,
    echo: bool = False,
    in_rate: int = 16000,
    out_rate: int = 16000,
    events: tuple[str, ...] = (),
    cancel_on: tuple[str, ...] = (),
) -> Session:
    """Wrap ``transport`` in a pipeline (with an echo stage if ``echo``)."""
    up, mid, down = FrameRecorder(), FrameRecorder(), FrameRecorder()
    middle: list[FrameProcessor] = [mid, EchoProcessor()] if echo else [mid]
    task = PipelineTask(
        Pipeline([up, transport.input(), *middle, transport.output(), down]),
        params=PipelineParams(audio_in_sample_rate=in_rate, audio_out_sample_rate=out_rate),
    )
    session = Session(transport, task, up, mid, down)
    for name in events:

        def record(_transport: Any, *_args: Any, _name: str = name) -> None:
            session.events.append((_name, trio.current_time()))

        transport.add_event_handler(name, record)
    for name in cancel_on:

        async def cancel(_transport: Any, *_args: Any) -> None:
            await task.cancel()

        transport.add_event_handler(name, cancel)
    return session


SERVER_EVENTS = ("on_client_connected", "on_client_disconnected", "on_session_timeout")
CLIENT_EVENTS = ("on_connected", "on_disconnected")


def server_session(websocket: WebSocket, params: FastAPIWebsocketParams, **kw: Any) -> Session:
    """A server transport session (events recorded)."""
    kw.setdefault("events", SERVER_EVENTS)
    return build_session(FastAPIWebsocketTransport(websocket, params), **kw)


def client_session(url: str, params: Any, **kw: Any) -> Session:
    """A client transport session (events recorded)."""
    kw.setdefault("events", CLIENT_EVENTS)
    return build_session(WebsocketClientTransport(url, params), **kw)


def app_with_sessions(
    make: Callable[[WebSocket], Session], sessions: trio.MemorySendChannel[Session] | list[Session]
) -> Starlette:
    """A Starlette app whose ``/ws`` endpoint runs ``make(websocket)`` to its end.

    Each session is appended to ``sessions`` (a list) or sent on it (a channel) once
    started; its ``finished`` event is set when the endpoint is about to return.
    """

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        session = make(websocket)
        async with trio.open_nursery() as nursery:
            await nursery.start(session.task.run)
            if isinstance(sessions, list):
                sessions.append(session)
            else:
                await sessions.send(session)
        session.finished.set()

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


@asynccontextmanager
async def running(session: Session) -> AsyncIterator[Session]:
    """Run ``session`` until the block ends; then wait for its run to return."""
    async with trio.open_nursery() as nursery:
        await nursery.start(session.task.run)
        yield session
    session.finished.set()


async def eventually(predicate: Callable[[], object], limit: float = 10.0) -> None:
    """Poll until ``predicate()`` is true; ``limit`` (seconds) is a hang guard, not an assertion
    about speed (real sockets: something outside the test's control may be slow)."""
    with trio.fail_after(limit):
        while not predicate():  # noqa: ASYNC110 (the condition lives in other objects)
            await trio.sleep(0.005)
