"""A Pipecat 1.14 turn-taking echo bot for the browser interop test; runs under PIPECAT_PYTHON.

    python pipecat_web_bot.py

Serves ``/ws`` on 127.0.0.1 (a free port) with Pipecat's ``FastAPIWebsocketTransport``
(protobuf, 16 kHz in, 24 kHz out) in a ``PipelineWorker`` (Pipecat adds RTVI and answers
``client-ready`` itself): ``VADProcessor`` → ``UserTurnProcessor`` (VAD start, VAD stop
without waiting for a transcript) → an echo that says each user turn back → output.
Pipecat's Silero model does not take the test's synthetic voice for speech, so the bot
uses a loudness VAD written against Pipecat's ``VADAnalyzer`` (the page under test does
not care how the bot decides). A ``client-message`` is answered with ``server-response``.
Prints ``PORT <n>`` and ``ready`` once listening.
"""

from __future__ import annotations

import asyncio
import socket
import sys

import numpy as np
from loguru import logger

logger.remove()
logger.add(sys.stderr, level="WARNING")

import uvicorn  # noqa: E402
from fastapi import FastAPI, WebSocket  # noqa: E402
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams  # noqa: E402
from pipecat.frames.frames import (  # noqa: E402
    Frame,
    InputAudioRawFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.audio.vad_processor import VADProcessor  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.serializers.protobuf import ProtobufFrameSerializer  # noqa: E402
from pipecat.transports.websocket.fastapi import (  # noqa: E402
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.turns.user_start import VADUserTurnStartStrategy  # noqa: E402
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy  # noqa: E402
from pipecat.turns.user_turn_processor import UserTurnProcessor  # noqa: E402
from pipecat.turns.user_turn_strategies import UserTurnStrategies  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402


def say(line: str) -> None:
    print(line, flush=True)


class LoudnessVAD(VADAnalyzer):
    """20 ms windows; confident when louder than -45 dBFS."""

    def num_frames_required(self) -> int:
        return int(self.sample_rate * 0.02)

    def voice_confidence(self, buffer: bytes) -> float:
        x = np.frombuffer(buffer, "<i2").astype(np.float64) / 32768
        return 1.0 if x.size and 10 * np.log10(np.mean(x * x) + 1e-12) > -45 else 0.0


class TurnEcho(FrameProcessor):
    """Records a user turn (with 0.5 s of pre-roll) and says it back when it ends."""

    def __init__(self) -> None:
        super().__init__()
        self._pre: list[bytes] = []
        self._turn: list[bytes] | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            if self._turn is not None:
                self._turn.append(frame.audio)
            else:
                self._pre = [*self._pre, frame.audio][-25:]
            return
        await self.push_frame(frame, direction)
        if direction is not FrameDirection.DOWNSTREAM:
            return
        if isinstance(frame, UserStartedSpeakingFrame):
            self._turn, self._pre = self._pre, []
        elif isinstance(frame, UserStoppedSpeakingFrame) and self._turn:
            audio, self._turn = b"".join(self._turn), None
            await self.push_frame(TTSAudioRawFrame(audio=audio, sample_rate=16000, num_channels=1))
            await self.push_frame(TTSStoppedFrame())


app = FastAPI()


@app.websocket("/ws")
async def bot(websocket: WebSocket) -> None:
    await websocket.accept()
    transport = FastAPIWebsocketTransport(
        websocket,
        FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=ProtobufFrameSerializer(),
        ),
    )
    turns = UserTurnProcessor(
        user_turn_strategies=UserTurnStrategies(
            start=[VADUserTurnStartStrategy()],
            stop=[
                SpeechTimeoutUserTurnStopStrategy(
                    user_speech_timeout=0.2, wait_for_transcript=False
                )
            ],
        )
    )
    # min_volume off and a shorter start: the loudness gate is the analyzer itself here
    params = VADParams(start_secs=0.1, stop_secs=0.2, min_volume=0.0)
    vad = VADProcessor(vad_analyzer=LoudnessVAD(params=params))
    worker = PipelineWorker(
        Pipeline([transport.input(), vad, turns, TurnEcho(), transport.output()]),
        params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000),
        idle_timeout_secs=None,
    )

    @worker.rtvi.event_handler("on_client_message")
    async def answer(rtvi, message) -> None:
        await rtvi.send_server_response(message, {"echo": message.data, "server": "pipecat"})

    @transport.event_handler("on_client_disconnected")
    async def disconnected(transport, client) -> None:
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
