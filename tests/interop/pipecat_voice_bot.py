"""A Pipecat 1.14 echo voice bot on FastAPI + uvicorn; runs under PIPECAT_PYTHON, not trio_pipe.

    python pipecat_voice_bot.py protobuf|twilio

Serves ``/ws`` on 127.0.0.1 (a free port) with Pipecat's ``FastAPIWebsocketTransport``: the
protobuf serializer, or the Twilio serializer set up from the first two messages by
Pipecat's own ``parse_telephony_websocket`` (as its runner does). Every input audio frame
is sent back as output audio. Prints ``PORT <n>`` and ``ready`` once listening, then one
line per event the tests look for: ``CONNECTED``, ``INTERRUPTION``, ``DISCONNECTED``. Run
through the interop harness (``tests/interop/conftest.py``, ``pipecat.open``).
"""

from __future__ import annotations

import asyncio
import socket
import sys

from loguru import logger

logger.remove()
logger.add(sys.stderr, level="WARNING")

import uvicorn  # noqa: E402
from fastapi import FastAPI, WebSocket  # noqa: E402
from pipecat.frames.frames import (  # noqa: E402
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.runner.utils import parse_telephony_websocket  # noqa: E402
from pipecat.serializers.protobuf import ProtobufFrameSerializer  # noqa: E402
from pipecat.serializers.twilio import TwilioFrameSerializer  # noqa: E402
from pipecat.transports.websocket.fastapi import (  # noqa: E402
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.workers.runner import WorkerRunner  # noqa: E402

WIRE = sys.argv[1] if len(sys.argv) > 1 else "protobuf"
RATE = 16000


def say(line: str) -> None:
    print(line, flush=True)


class Echo(FrameProcessor):
    """Input audio goes back out as output audio; interruptions are reported."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self.push_frame(
                OutputAudioRawFrame(
                    audio=frame.audio,
                    sample_rate=frame.sample_rate,
                    num_channels=frame.num_channels,
                )
            )
            return
        if isinstance(frame, InterruptionFrame):
            say("INTERRUPTION")
        await self.push_frame(frame, direction)


app = FastAPI()


@app.websocket("/ws")
async def bot(websocket: WebSocket) -> None:
    await websocket.accept()
    if WIRE == "twilio":
        _, call = await parse_telephony_websocket(websocket)
        serializer = TwilioFrameSerializer(
            stream_sid=call["stream_id"],
            call_sid=call["call_id"],
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
        )
    else:
        serializer = ProtobufFrameSerializer()
    transport = FastAPIWebsocketTransport(
        websocket,
        FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
        ),
    )
    worker = PipelineWorker(
        Pipeline([transport.input(), Echo(), transport.output()]),
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
        idle_timeout_secs=None,
    )

    @transport.event_handler("on_client_connected")
    async def connected(transport, client) -> None:
        say("CONNECTED")

    @transport.event_handler("on_client_disconnected")
    async def disconnected(transport, client) -> None:
        say("DISCONNECTED")
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


class Server(uvicorn.Server):
    """Says its port once it listens."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if sockets:
            say(f"PORT {sockets[0].getsockname()[1]}")
            say("ready")


async def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await Server(uvicorn.Config(app, log_level="warning", lifespan="off")).serve(sockets=[sock])


if __name__ == "__main__":
    asyncio.run(main())
