"""An echo voice bot: audio in, the same audio out, paced like a sound card.

    app = echo_app("protobuf")                   # a Starlette app with the bot on /ws
    server = await nursery.start(serve_asgi, app) # Hypercorn, in your nursery

One session per WebSocket connection: a :class:`~trio_pipe.transports.websocket.
FastAPIWebsocketTransport` around :class:`EchoProcessor`, in its own ``PipelineTask``
that ends when the client leaves. Wire protocols: ``protobuf`` (Pipecat's frames),
``raw`` (bare PCM16 both ways: in at ``in_rate``, out at ``out_rate``) and ``twilio``
(Media Streams; the first two messages, ``connected`` and ``start``, name the stream, as
Pipecat's runner reads them).

With ``turns=True`` the session takes turns instead (:mod:`trio_pipe.apps.bots.turn_echo`):
it listens until the user stops speaking, says the turn back, and can be interrupted;
with ``rtvi=True`` (protobuf only) it also speaks RTVI to Pipecat's JavaScript client.
``echo_app(web=True)`` serves that client's page at ``/`` (:mod:`trio_pipe.apps.bots.web`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from trio_pipe.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from trio_pipe.pipeline import Pipeline, PipelineParams, PipelineTask
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.rtvi import RTVIProcessor
from trio_pipe.serializers.frames import (
    ProtobufFrameSerializer,
    RawPCMSerializer,
    TwilioFrameSerializer,
    TwilioSerializerParams,
)
from trio_pipe.transports.websocket.server import FastAPIWebsocketParams, FastAPIWebsocketTransport
from trio_pipe.vad import VADParams

__all__ = ["PROTOCOLS", "EchoProcessor", "echo_app", "run_echo_bot"]

logger = logging.getLogger(__name__)

#: Wire protocols the bot speaks.
PROTOCOLS = ("protobuf", "raw", "twilio")

# Policy violation: the close code for a refused origin.
_POLICY_VIOLATION = 1008


class EchoProcessor(FrameProcessor):
    """Turns every ``InputAudioRawFrame`` into an ``OutputAudioRawFrame`` of the same audio;
    passes every other frame on."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Echo input audio; forward the rest."""
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            out = OutputAudioRawFrame(
                audio=frame.audio, sample_rate=frame.sample_rate, num_channels=frame.num_channels
            )
            await self.push_frame(out)
        else:
            await self.push_frame(frame, direction)


async def _serializer(websocket: WebSocket, protocol: str) -> Any:
    if protocol == "protobuf":
        return ProtobufFrameSerializer()
    if protocol == "raw":
        return RawPCMSerializer()
    if protocol == "twilio":
        stream_sid = ""
        for _ in range(2):  # "connected", then "start" with the stream's ids
            try:
                event = json.loads(await websocket.receive_text())
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "start":
                stream_sid = str(event.get("streamSid") or event.get("start", {}).get("streamSid"))
        return TwilioFrameSerializer(stream_sid, params=TwilioSerializerParams(auto_hang_up=False))
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")


async def run_echo_bot(
    websocket: WebSocket,
    protocol: str = "protobuf",
    *,
    in_rate: int = 16000,
    out_rate: int = 24000,
    session_timeout: float | None = None,
    params: FastAPIWebsocketParams | None = None,
    turns: bool = False,
    rtvi: bool = False,
    vad_params: VADParams | None = None,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
) -> None:
    """Run one echo session on an accepted ``websocket``; return when it ends.

    ``params`` replaces the default transport params (audio in and out enabled, the
    protocol's serializer, ``session_timeout``, the pings: ``ping_interval`` and
    ``ping_timeout``, None for no pings); its serializer, if None, is chosen by
    ``protocol``. The session ends when the client leaves, or at the session timeout.
    ``turns``: take turns (VAD with ``vad_params``, barge-in); ``rtvi``: also speak RTVI
    (with ``turns``, protobuf only).
    """
    try:
        serializer = await _serializer(websocket, protocol)
    except WebSocketDisconnect:
        return
    if params is None:
        params = FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            session_timeout=session_timeout,
            serializer=serializer,
            allowed_origins=[],
            ws_ping_interval=ping_interval,
            ws_ping_timeout=ping_timeout,
        )
    elif params.serializer is None:
        params = attrs.evolve(params, serializer=serializer)
    try:
        transport = FastAPIWebsocketTransport(websocket, params)
    except ValueError as exc:  # a refused origin
        logger.warning("%s", exc)
        await websocket.close(_POLICY_VIOLATION)
        return
    if turns:
        from trio_pipe.apps.bots.turn_echo import turn_echo_stages

        rtvi_stage = RTVIProcessor() if rtvi and protocol == "protobuf" else None
        stages = turn_echo_stages(transport, rtvi=rtvi_stage, vad_params=vad_params)
    else:
        stages = [transport.input(), EchoProcessor(), transport.output()]
    task = PipelineTask(
        Pipeline(stages),
        params=PipelineParams(audio_in_sample_rate=in_rate, audio_out_sample_rate=out_rate),
    )

    @transport.event_handler("on_client_disconnected")
    async def _gone(transport: FastAPIWebsocketTransport, websocket: WebSocket) -> None:
        await task.cancel(reason="client disconnected")

    @transport.event_handler("on_session_timeout")
    async def _timeout(transport: FastAPIWebsocketTransport, websocket: WebSocket) -> None:
        await task.cancel(reason="session timeout")

    await task.run()


def echo_app(
    protocol: str = "protobuf",
    *,
    path: str = "/ws",
    in_rate: int = 16000,
    out_rate: int = 24000,
    session_timeout: float | None = None,
    turns: bool = False,
    rtvi: bool | None = None,
    vad_params: VADParams | None = None,
    web: bool = False,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
) -> Starlette:
    """A Starlette app serving the echo bot on ``path`` (one session per connection).

    ``turns``/``rtvi``/``vad_params`` as in :func:`run_echo_bot` (``rtvi`` defaults to
    ``turns``); ``web`` also serves the browser client's page at ``/`` (needs
    ``turns``, ``rtvi`` and protobuf); ``ping_interval``/``ping_timeout`` as in
    :func:`run_echo_bot`.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    rtvi = turns if rtvi is None else rtvi
    if web and not (turns and rtvi and protocol == "protobuf"):
        raise ValueError("the web page needs turns, RTVI and the protobuf protocol")

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await run_echo_bot(
            websocket,
            protocol,
            in_rate=in_rate,
            out_rate=out_rate,
            session_timeout=session_timeout,
            turns=turns,
            rtvi=rtvi,
            vad_params=vad_params,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )

    routes: list[BaseRoute] = [WebSocketRoute(path, endpoint)]
    if web:
        from trio_pipe.apps.bots.web import page_routes

        routes += page_routes(path)
    return Starlette(routes=routes)
