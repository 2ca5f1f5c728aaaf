"""A small program using trio_pipe's public API, type-checked in CI (pyright).

Not a test module (pytest skips it: no ``test_`` prefix): it runs in CI under
``pyright tests/typing examples``, so a public name losing its types, or a params class
hiding its fields from the checker again, fails the build. Running it serves one echo
session on loopback and exits.
"""

from __future__ import annotations

from functools import partial

import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trio_pipe.bots.echo import EchoProcessor
from trio_pipe.frames import BotSpeakingFrame, Frame, TextFrame
from trio_pipe.metrics import Metrics
from trio_pipe.pipeline import Pipeline, PipelineParams, PipelineTask
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.serializers.protobuf import ProtobufFrameSerializer
from trio_pipe.serving import ServedApp, serve_asgi
from trio_pipe.serving_sockets import TCPKeepalive
from trio_pipe.transports.params import TransportParams
from trio_pipe.transports.websocket.server import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from trio_pipe.workers import PipelineWorker, WorkerRunner


class Upper(FrameProcessor):
    """Upper-cases text; everything else passes."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TextFrame):
            frame = TextFrame(text=frame.text.upper())
        await self.push_frame(frame, direction)


def params() -> FastAPIWebsocketParams:
    # The checker sees the fields: a misspelt one (audio_in_enable=...) is an error.
    p = FastAPIWebsocketParams(
        audio_in_enabled=True,
        audio_out_enabled=True,
        serializer=ProtobufFrameSerializer(),
    )
    rate: int | None = p.audio_in_sample_rate
    base = TransportParams(audio_out_10ms_chunks=2)
    chunks: int = base.audio_out_10ms_chunks
    assert rate is None and chunks == 2
    return p


async def bot(websocket: WebSocket) -> None:
    await websocket.accept()
    transport = FastAPIWebsocketTransport(websocket, params())
    task = PipelineTask(
        Pipeline([transport.input(), EchoProcessor(), Upper(), transport.output()]),
        params=PipelineParams(enable_heartbeats=True, heartbeats_monitor_secs=5.0),
        idle_timeout_secs=60.0,
        idle_timeout_frames=(BotSpeakingFrame,),
    )

    @task.event_handler("on_idle_timeout")
    async def idle(task: PipelineTask) -> None:
        print("idle", task)

    await task.run()


async def main() -> None:
    app = Starlette(routes=[WebSocketRoute("/ws", bot)])
    metrics = Metrics()
    worker = PipelineWorker(Pipeline([Upper()]), name="typed", cancel_runner_on_idle_timeout=False)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    metrics.watch_bus(runner.bus)
    async with trio.open_nursery() as nursery:
        serve = partial(serve_asgi, app, tcp_keepalive=TCPKeepalive.within(30), metrics=metrics)
        served: ServedApp = await nursery.start(serve)
        print(served.ws_url("/ws"), served.metrics_port)
        nursery.cancel_scope.cancel()
    metrics.close()


if __name__ == "__main__":
    trio.run(main)
