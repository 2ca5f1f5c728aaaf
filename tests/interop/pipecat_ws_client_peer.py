"""Pipecat 1.14's WebsocketClientTransport as a peer; runs under PIPECAT_PYTHON.

    python pipecat_ws_client_peer.py ws://127.0.0.1:PORT/ws SECONDS

Connects with Pipecat's own client transport (protobuf, no WAV header, 16 kHz in and
out), plays SECONDS of a ramp signal through its paced output, collects the audio the
server sends back until it has as much, then ends the pipeline with an EndFrame and
prints one JSON line: the bytes sent and received (hex), and the events seen.
"""

from __future__ import annotations

import asyncio
import json
import sys

from loguru import logger

logger.remove()
logger.add(sys.stderr, level="WARNING")

from pipecat.frames.frames import (  # noqa: E402
    EndFrame,
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.serializers.protobuf import ProtobufFrameSerializer  # noqa: E402
from pipecat.transports.websocket.client import (  # noqa: E402
    WebsocketClientParams,
    WebsocketClientTransport,
)
from pipecat.workers.runner import WorkerRunner  # noqa: E402

URL = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
RATE = 16000
FRAME = b"".join(i.to_bytes(2, "little", signed=True) for i in range(-160, 160))  # 20 ms
SENT = FRAME * int(SECONDS * 50)


class Collect(FrameProcessor):
    """Keeps the audio the server sent; ends the run once all of it came back."""

    def __init__(self, done: asyncio.Event) -> None:
        super().__init__()
        self.received = bytearray()
        self.done = done

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.received.extend(frame.audio)
            if len(self.received) >= len(SENT):
                self.done.set()
            return
        await self.push_frame(frame, direction)


async def main() -> None:
    events: list[str] = []
    done = asyncio.Event()
    transport = WebsocketClientTransport(
        URL,
        WebsocketClientParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=ProtobufFrameSerializer(),
        ),
    )
    collect = Collect(done)
    worker = PipelineWorker(
        Pipeline([transport.input(), collect, transport.output()]),
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
        idle_timeout_secs=None,
    )

    @transport.event_handler("on_connected")
    async def connected(transport, websocket) -> None:
        events.append("connected")

    @transport.event_handler("on_disconnected")
    async def disconnected(transport, websocket) -> None:
        events.append("disconnected")

    async def drive() -> None:
        for i in range(0, len(SENT), len(FRAME)):
            await worker.queue_frame(OutputAudioRawFrame(SENT[i : i + len(FRAME)], RATE, 1))
        try:
            await asyncio.wait_for(done.wait(), timeout=30)
        except TimeoutError:
            events.append("timeout")
        await worker.queue_frame(EndFrame())

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    driver = asyncio.create_task(drive())
    await runner.run()
    await driver
    print(
        json.dumps(
            {"sent": SENT.hex(), "received": bytes(collect.received).hex(), "events": events}
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
