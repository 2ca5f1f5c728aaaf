"""WebSocket server transport (Pipecat's ``FastAPIWebsocketTransport``) over an accepted
Starlette WebSocket, in an app served by Hypercorn under Trio.

    async def endpoint(websocket: WebSocket):          # a Starlette or FastAPI route
        await websocket.accept()
        transport = FastAPIWebsocketTransport(websocket, FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True,
            serializer=ProtobufFrameSerializer()))
        task = PipelineTask(Pipeline([transport.input(), bot, transport.output()]))

        @transport.event_handler("on_client_disconnected")
        async def gone(transport, websocket):
            await task.cancel()

        await task.run()          # returns when the session ends; nothing is left running

Serve the app with :func:`trio_pipe.serving.serve_asgi` (or ``hypercorn --worker-class
trio``). Every session is its own pipeline task under its own ASGI task, so a bad
message, a client that stops reading or one that vanishes ends only its own session.

Resource handling
    The input's nursery runs the receive loop, the session timer and the socket's write
    watchdog (each with its own cancel scope). End or Cancel reaching the input stops the
    receive loop and the timer (W9); the output plays out, sends the End payload and
    releases; the last half to release closes the socket (code 1000), waiting at most
    ``ws_close_timeout`` for the client's answer. No background close task.

Error handling
    A message that fails to decode is dropped and counted; it is not a disconnect. A
    disconnect is the socket really ending (the client closed or vanished):
    ``on_client_disconnected`` fires once, unless we were closing. A write to a client
    that stopped reading is bounded by ``audio_out_write_timeout_secs`` even though
    Hypercorn shields its socket writes (the socket's watchdog closes the TCP socket under
    it): one ``ErrorFrame`` goes upstream, the connection is dropped and
    ``on_client_disconnected`` fires, so the app's usual handler ends the session. A
    client that answers nothing within ``ws_ping_timeout`` of a keepalive ping (its
    process froze while the session was quiet) is dropped the same way, as a disconnect.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import trio
from starlette.websockets import WebSocket, WebSocketState

from trio_pipe.frames import CancelWorkerFrame, ClientConnectedFrame, StartFrame
from trio_pipe.processors import FrameDirection
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
    default_allowed_origins,
    is_origin_allowed,
)
from trio_pipe.ws.asgi import AsgiSocket
from trio_pipe.ws.base import ConnectionClosed, watched

__all__ = [
    "FastAPIWebsocketClient",
    "FastAPIWebsocketInputTransport",
    "FastAPIWebsocketOutputTransport",
    "FastAPIWebsocketParams",
    "FastAPIWebsocketTransport",
    "WebsocketServerParams",
    "WebsocketServerTransport",
]

logger = logging.getLogger(__name__)


def _positive_or_none(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be positive or None, got {value!r}")


@transport_params
class FastAPIWebsocketParams(TransportParams):
    """Server settings, with Pipecat 1.14's names and defaults.

    ``add_wav_header`` (False); ``serializer`` (None: nothing is read or written, with a
    warning); ``session_timeout`` (seconds until ``on_session_timeout``; None or 0:
    never); ``fixed_audio_packet_size`` (send audio in exactly this many bytes per
    message); ``allowed_origins`` (default: ``PIPECAT_ALLOWED_ORIGINS``, comma-separated;
    [] allows any origin); ``ws_close_timeout`` (longest wait for the close handshake);
    ``cancel_on_client_disconnected`` (trio_pipe only, default True: when the client
    leaves, the session's task is cancelled after ``on_client_disconnected`` fired, so
    ``PipelineTask.run()`` returns without a handler; False keeps the session running
    until the application ends it, as in Pipecat 1.14); ``ws_ping_interval`` and
    ``ws_ping_timeout`` (trio_pipe only, uvicorn's names and defaults, 20 s and 20 s,
    which Pipecat's transport gets from uvicorn: the client is pinged every so often and
    the session ends as a disconnect when nothing came from it within the timeout after
    a ping, a client process that froze while the session was quiet; None: no pings).
    """

    add_wav_header: bool = False
    serializer: Any | None = None
    session_timeout: float | None = attrs.field(default=None, validator=_positive_or_none)
    fixed_audio_packet_size: int | None = attrs.field(default=None, validator=_positive_or_none)
    allowed_origins: list[str] = attrs.field(factory=default_allowed_origins)
    ws_close_timeout: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    cancel_on_client_disconnected: bool = True
    ws_ping_interval: float | None = attrs.field(default=20.0, validator=_positive_or_none)
    ws_ping_timeout: float | None = attrs.field(default=20.0, validator=_positive_or_none)


class FastAPIWebsocketClient(SocketConnection):
    """The accepted WebSocket as the connection both halves share.

    ``is_connected``: Starlette's ``client_state`` is CONNECTED, the socket is open and we
    are not closing; ``is_closing``: our own flag; ``send`` logs instead of raising.
    """

    def __init__(
        self,
        websocket: WebSocket,
        *,
        close_timeout: float,
        write_timeout: float,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
    ):
        super().__init__(f"FastAPIWebsocketClient({_peer(websocket)})", close_timeout=close_timeout)
        self.websocket = websocket
        self._sock = AsgiSocket(
            websocket,
            write_timeout=write_timeout,
            close_timeout=close_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )
        self._watching = False
        self.disconnected = False  # the client went away (not us closing)

    @property
    def is_connected(self) -> bool:
        """The client is connected and we are not closing."""
        ws = self.websocket
        return (
            super().is_connected
            and ws.client_state is WebSocketState.CONNECTED
            and ws.application_state is not WebSocketState.DISCONNECTED
        )

    def watch(self, half: BaseInputTransport | BaseOutputTransport) -> None:
        """Run the socket's write watchdog (and keepalive pings) in ``half``'s nursery
        until every half released."""
        if not self._watching:
            self._watching = True
            half.start_soon(self._watch)

    async def _watch(self) -> None:
        assert self._sock is not None
        async with watched(self._sock):
            await self._released.wait()


def _peer(websocket: WebSocket) -> str:
    client = websocket.client
    return f"{client.host}:{client.port}" if client is not None else "?"


class FastAPIWebsocketInputTransport(WebsocketInputMixin, BaseInputTransport):
    """Client messages into the pipeline; connection and timeout events."""

    def __init__(
        self,
        transport: FastAPIWebsocketTransport,
        client: FastAPIWebsocketClient,
        params: FastAPIWebsocketParams,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(params, name=name)
        self._transport = transport
        self._client = client
        self._connection = client
        self._receive_scope = trio.CancelScope()
        self._monitor_scope = trio.CancelScope()
        self._session_started = False

    async def start(self, frame: StartFrame) -> None:
        """Timer, ``on_client_connected``, ``ClientConnectedFrame``, then the receive loop."""
        await super().start(frame)
        if self._session_started:
            return
        self._session_started = True
        self._client.watch(self)
        timeout = self._params.session_timeout  # type: ignore[attr-defined]
        if timeout:
            self.start_soon(self._monitor, timeout)
        self._transport._call_event_handler("on_client_connected", self._client.websocket)
        await self.push_frame(ClientConnectedFrame())
        self.start_soon(self._receive_messages)

    def _half_ended(self) -> None:
        # W9: from End/Cancel on, client messages are not read and leaving is not reported.
        self._receive_scope.cancel()
        self._monitor_scope.cancel()

    async def _receive_messages(self) -> None:
        sock = self._client.socket
        assert sock is not None
        with self._receive_scope:
            with self._client.read_scope:
                try:
                    while True:
                        await self.receive_message(await sock.receive())
                except ConnectionClosed as exc:
                    logger.debug("%s: connection ended (%s)", self, exc)
            if not self._client.is_closing:
                self._client.disconnected = True
                self._transport._call_event_handler(
                    "on_client_disconnected", self._client.websocket
                )
                if self._params.cancel_on_client_disconnected:  # type: ignore[attr-defined]
                    # Nobody is left to talk to: end the session (the task cancels).
                    await self.push_frame(
                        CancelWorkerFrame(reason="client disconnected"), FrameDirection.UPSTREAM
                    )

    async def _monitor(self, seconds: float) -> None:
        with self._monitor_scope:
            await trio.sleep(seconds)
            client = self._client
            if client.is_connected and not client.disconnected:
                self._transport._call_event_handler("on_session_timeout", client.websocket)


class FastAPIWebsocketOutputTransport(WebsocketOutputMixin, BaseOutputTransport):
    """Frames to the client, audio paced; interruptions and End/Cancel payloads are sent."""

    send_interruptions = True
    send_end_frames = True

    def __init__(
        self,
        transport: FastAPIWebsocketTransport,
        client: FastAPIWebsocketClient,
        params: FastAPIWebsocketParams,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(params, writer=client, name=name)
        self._transport = transport
        self._client = client
        self._connection = client

    async def start(self, frame: StartFrame) -> None:
        """Start the audio loop and the socket's watchdog."""
        await super().start(frame)
        self._client.watch(self)


class FastAPIWebsocketTransport(BaseTransport):
    """A server-side WebSocket transport over an accepted Starlette ``WebSocket``.

    Events (handlers run as children of the input's nursery):
    ``on_client_connected(transport, websocket)``, ``on_client_disconnected(transport,
    websocket)`` (the client left; never after our own close),
    ``on_session_timeout(transport, websocket)`` (``session_timeout`` seconds after
    start, only while the client is still connected).

    Raises:
        ValueError: ``allowed_origins`` is set and the ``Origin`` header is missing or not
            listed; the caller closes the socket.
    """

    def __init__(
        self,
        websocket: WebSocket,
        params: FastAPIWebsocketParams,
        input_name: str | None = None,
        output_name: str | None = None,
    ) -> None:
        if params.allowed_origins:
            origin = websocket.headers.get("origin", "")
            if not is_origin_allowed(origin, params.allowed_origins):
                raise ValueError(f"WebSocket connection rejected: origin {origin!r} not allowed")
        super().__init__(input_name=input_name, output_name=output_name)
        self._params = attrs.evolve(params)
        if params.serializer is None:
            logger.warning("%s has no serializer: nothing will be read or written", self)
        self._client = FastAPIWebsocketClient(
            websocket,
            close_timeout=params.ws_close_timeout,
            write_timeout=params.audio_out_write_timeout_secs,
            ping_interval=params.ws_ping_interval,
            ping_timeout=params.ws_ping_timeout,
        )
        self._input = FastAPIWebsocketInputTransport(
            self, self._client, self._params, name=self._input_name
        )
        self._output = FastAPIWebsocketOutputTransport(
            self, self._client, self._params, name=self._output_name
        )
        self._bind_events(self._input)
        self._register_event_handler("on_client_connected")
        self._register_event_handler("on_client_disconnected")
        self._register_event_handler("on_session_timeout")

    @property
    def params(self) -> FastAPIWebsocketParams:
        """This transport's own copy of its params."""
        return self._params

    @property
    def client(self) -> FastAPIWebsocketClient:
        """The shared connection."""
        return self._client

    def input(self) -> FastAPIWebsocketInputTransport:
        """The input half."""
        return self._input

    def output(self) -> FastAPIWebsocketOutputTransport:
        """The output half."""
        return self._output


#: The names in trio_pipe's design map.
WebsocketServerTransport = FastAPIWebsocketTransport
WebsocketServerParams = FastAPIWebsocketParams
