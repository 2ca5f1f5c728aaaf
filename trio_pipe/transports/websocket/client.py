"""WebSocket client transport (Pipecat's ``WebsocketClientTransport``) on trio_pipe's client.

    transport = WebsocketClientTransport("ws://127.0.0.1:8765/ws", WebsocketClientParams(
        audio_in_enabled=True, audio_out_enabled=True))
    pipeline = Pipeline([transport.input(), bot, transport.output()])

Both halves share one :class:`WebsocketClientSession`: one socket, one ``on_connected``.
Each half connects when it starts (after passing the ``StartFrame`` on), not while the
pipeline is built as in Pipecat: the first to start dials, the other waits for that
outcome. The input is ready before the dial, so audio the server sends right after the
handshake is delivered (Pipecat's receive loop died on it).

Resource handling
    The connection is a task, :meth:`WebsocketClientSession.run`, started in the nursery
    of the half that dials: it owns the socket and the receive loop (which also answers
    the server's pings), and returns when every half that started has released the
    session (End, Cancel or cleanup; each half counts once) or the connection ended. The last
    release closes the socket with code 1000 (bounded by ``close_timeout``).

Error handling
    A refused, timed-out or rejected connect pushes one ``ErrorFrame`` upstream; the run
    goes on unconnected (writes return False at once) and an ``EndFrame`` still ends it.
    A message that fails to decode is dropped and counted (the loop goes on). When the
    server closes or the connection fails ``on_disconnected`` fires once; a close we
    start does not fire it. A write that outlives ``audio_out_write_timeout_secs`` pushes
    one ``ErrorFrame`` and drops the connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from trio_pipe.frames import StartFrame
from trio_pipe.processors import FrameProcessor
from trio_pipe.serializers.protobuf import ProtobufFrameSerializer
from trio_pipe.transports.base import (
    BaseInputTransport,
    BaseOutputTransport,
    BaseTransport,
    TransportParams,
    transport_params,
)
from trio_pipe.transports.websocket.common import (
    SocketConnection,
    WebsocketInputMixin,
    WebsocketOutputMixin,
)
from trio_pipe.ws.base import ConnectionClosed
from trio_pipe.ws.client import ClientSocket, ConnectError, open_client_socket

__all__ = [
    "WebsocketClientCallbacks",
    "WebsocketClientInputTransport",
    "WebsocketClientOutputTransport",
    "WebsocketClientParams",
    "WebsocketClientSession",
    "WebsocketClientTransport",
]

logger = logging.getLogger(__name__)

#: Longest wait for the opening handshake (Pipecat: ``open_timeout=10``).
CONNECT_TIMEOUT_SECS = 10.0
#: Longest wait for the closing handshake before the TCP connection is dropped.
CLOSE_TIMEOUT_SECS = 2.0


@transport_params
class WebsocketClientParams(TransportParams):
    """Client settings: ``add_wav_header`` (default True, as in Pipecat),
    ``additional_headers`` for the upgrade request, ``serializer`` (None: a new
    ``ProtobufFrameSerializer`` per transport; the caller's params are not changed)."""

    add_wav_header: bool = True
    additional_headers: dict[str, str] | None = None
    serializer: Any | None = None


Callback = Callable[..., Awaitable[None]]


@attrs.define
class WebsocketClientCallbacks:
    """What the session calls: ``on_connected(websocket)``, ``on_disconnected(websocket)``,
    ``on_message(websocket, message)``; ``websocket`` is the
    :class:`~trio_pipe.ws.client.ClientSocket`."""

    on_connected: Callback
    on_disconnected: Callback
    on_message: Callback


class WebsocketClientSession(SocketConnection):
    """One client connection shared by the transport's two halves.

    ``connect(processor)`` dials once (in ``processor``'s nursery) and returns whether it
    is connected; ``send(data) -> bool`` never raises; ``is_connected`` / ``is_closing``
    as in Pipecat. Halves :meth:`hold` it at their start and :meth:`disconnect` it at
    their end; the last one closes it.

    Args:
        uri: ``ws://`` or ``wss://`` URL.
        params: the transport's params (headers, write timeout).
        callbacks: see :class:`WebsocketClientCallbacks`.
        transport_name: for logs.
        connect_timeout: longest opening handshake.
        close_timeout: longest closing handshake.
    """

    def __init__(
        self,
        uri: str,
        params: WebsocketClientParams,
        callbacks: WebsocketClientCallbacks,
        transport_name: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_SECS,
        close_timeout: float = CLOSE_TIMEOUT_SECS,
    ) -> None:
        super().__init__(f"{transport_name}::WebsocketClientSession", close_timeout=close_timeout)
        self.uri = uri
        self._params = params
        self._callbacks = callbacks
        self.connect_timeout = connect_timeout
        self._dialing = False
        self._outcome = trio.Event()
        self._error_taken = False
        #: Why the connect failed, if it did.
        self.connect_error: Exception | None = None

    async def connect(self, processor: FrameProcessor) -> bool:
        """Dial (first caller, as a child of ``processor``) or wait for that dial.

        A failed dial is pushed upstream as one ``ErrorFrame``, by the first caller.
        """
        if not self._dialing:
            await processor.start_child(self.run)
        else:
            await self._outcome.wait()
        error = self.take_connect_error()
        if error is not None:
            await processor.push_error(f"{processor}: {error}", exception=error)
        return self.is_connected

    def take_connect_error(self) -> Exception | None:
        """The connect error, to the first caller only (so it is reported once)."""
        if self.connect_error is None or self._error_taken:
            return None
        self._error_taken = True
        return self.connect_error

    async def disconnect(self, holder: object | None = None) -> None:
        """Release ``holder``'s hold (the last one closes); with no holder, close now."""
        if holder is None:
            await self.close()
            self._released.set()
        else:
            await self.release(holder)

    async def run(self, *, task_status: trio.TaskStatus[bool] = trio.TASK_STATUS_IGNORED) -> None:
        """Dial, then read messages until every holder released or the connection ended.

        ``task_status.started`` gets True once connected, False if the connect failed
        (the error is in :attr:`connect_error`).
        """
        if self._dialing:
            raise RuntimeError(f"{self} has already connected")
        self._dialing = True
        try:
            async with open_client_socket(
                self.uri,
                headers=self._params.additional_headers,
                connect_timeout=self.connect_timeout,
                write_timeout=self._params.audio_out_write_timeout_secs,
                close_timeout=self.close_timeout,
            ) as sock:
                self._sock = sock
                self._outcome.set()
                task_status.started(True)
                await self._callbacks.on_connected(sock)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._read, sock, nursery.cancel_scope)
                    await self._released.wait()
                    nursery.cancel_scope.cancel()
        except (ConnectError, ValueError, OSError) as exc:  # ValueError: a malformed URL
            if self._outcome.is_set():
                raise
            self.connect_error = exc
            self._outcome.set()
            logger.error("%s: %s", self, exc)
            task_status.started(False)

    async def _read(self, sock: ClientSocket, scope: trio.CancelScope) -> None:
        with self.read_scope:
            try:
                while True:
                    message = await sock.receive()
                    try:
                        await self._callbacks.on_message(sock, message)
                    except Exception:  # one bad message must not end the receive loop
                        logger.exception("%s: error handling a message; dropped", self)
            except ConnectionClosed as exc:
                if self._closing:
                    return  # our close: the connection task returns once it has completed
                logger.info("%s: server closed the connection (%s)", self, exc)
        if not self._closing:
            await self._callbacks.on_disconnected(sock)
        scope.cancel()  # nothing more to read: the connection task returns


class WebsocketClientInputTransport(WebsocketInputMixin, BaseInputTransport):
    """Received messages into the pipeline (see the module docstring)."""

    def __init__(
        self,
        transport: BaseTransport,
        session: WebsocketClientSession,
        params: WebsocketClientParams,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(params, name=name)
        self._transport = transport
        self._session = session
        self._connection = session
        self._ready = trio.Event()

    async def start(self, frame: StartFrame) -> None:
        """Open the audio path, then connect (or wait for the output's connect)."""
        await super().start(frame)
        self._ready.set()  # before the dial: messages right after the handshake are ours
        await self._session.connect(self)

    def _half_ended(self) -> None:
        self._ready.set()  # from now on messages are dropped quietly

    async def on_message(self, websocket: Any, message: str | bytes) -> None:
        """A message from the server: decoded and dispatched while the input runs.

        Messages after End/Cancel (the output may still be playing out) are dropped
        quietly; so are messages for an input that is not part of the running pipeline.
        """
        if not self._ready.is_set():
            if self not in self._session.holds:
                return
            await self._ready.wait()
        if self._stopped:
            return
        await self.receive_message(message)


class WebsocketClientOutputTransport(WebsocketOutputMixin, BaseOutputTransport):
    """Frames to the server, audio paced (see the module docstring). No fixed-size
    packets; the ``InterruptionFrame`` is neither sent nor restarts pacing; End and
    Cancel are not given to the serializer."""

    send_interruptions = False
    send_end_frames = False

    def __init__(
        self,
        transport: BaseTransport,
        session: WebsocketClientSession,
        params: WebsocketClientParams,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(params, writer=session, name=name)
        self._transport = transport
        self._session = session
        self._connection = session

    async def start(self, frame: StartFrame) -> None:
        """Start the audio loop, then connect (or wait for the input's connect)."""
        await super().start(frame)
        await self._session.connect(self)


class WebsocketClientTransport(BaseTransport):
    """A WebSocket client transport: ``input()`` and ``output()`` share one connection.

    Events: ``on_connected(transport, websocket)`` and ``on_disconnected(transport,
    websocket)``, where ``websocket`` is the :class:`~trio_pipe.ws.client.ClientSocket`
    (``headers``, ``subprotocol``, ``send``, ``close``). Handlers run as children of
    the input's nursery (the output's when there is no input).

    Args:
        uri: the server's URL.
        params: settings (default ``WebsocketClientParams()``); never modified.
    """

    def __init__(
        self,
        uri: str,
        params: WebsocketClientParams | None = None,
        *,
        name: str | None = None,
        input_name: str | None = None,
        output_name: str | None = None,
    ) -> None:
        super().__init__(name=name, input_name=input_name, output_name=output_name)
        params = params if params is not None else WebsocketClientParams()
        serializer = params.serializer
        if serializer is None:
            serializer = ProtobufFrameSerializer()
        self._params = attrs.evolve(params, serializer=serializer)
        callbacks = WebsocketClientCallbacks(
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
            on_message=self._on_message,
        )
        self._session = WebsocketClientSession(uri, self._params, callbacks, self.name)
        self._input: WebsocketClientInputTransport | None = None
        self._output: WebsocketClientOutputTransport | None = None
        self._register_event_handler("on_connected")
        self._register_event_handler("on_disconnected")

    @property
    def params(self) -> WebsocketClientParams:
        """This transport's own params (with its serializer)."""
        return self._params

    @property
    def session(self) -> WebsocketClientSession:
        """The shared connection."""
        return self._session

    def input(self) -> WebsocketClientInputTransport:
        """The input half (built once)."""
        if self._input is None:
            self._input = WebsocketClientInputTransport(
                self, self._session, self._params, name=self._input_name
            )
            self._bind_events(self._input)
        return self._input

    def output(self) -> WebsocketClientOutputTransport:
        """The output half (built once)."""
        if self._output is None:
            self._output = WebsocketClientOutputTransport(
                self, self._session, self._params, name=self._output_name
            )
            if self._input is None:
                self._bind_events(self._output)
        return self._output

    async def _on_connected(self, websocket: ClientSocket) -> None:
        self._call_event_handler("on_connected", websocket)

    async def _on_disconnected(self, websocket: ClientSocket) -> None:
        self._call_event_handler("on_disconnected", websocket)

    async def _on_message(self, websocket: ClientSocket, message: str | bytes) -> None:
        if self._input is not None:
            await self._input.on_message(websocket, message)
