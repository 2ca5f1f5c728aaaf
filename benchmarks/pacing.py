"""Output pacing on the real clock: send-time error against the ideal schedule, and drift.

One output transport (16 kHz mono, 40 ms chunks, a writer that only records the time of
each send) is given ``--seconds`` of audio at once, as a TTS reply faster than real time
would arrive. The ideal schedule is the sound card's: the first two chunks at once, then
one every 40 ms. Reported: |actual - ideal| p50/p99/max over every chunk (ms) and the
drift over the stream (ms, positive = behind; median error over the last second minus the
first). ``timer_wake_late_ms`` is how late a bare ``trio.sleep_until`` wakes on the
machine at the time (epoll rounds timeouts up to the millisecond): the floor for any
paced sender. Pipecat 1.14 runs the same stream through its
``FastAPIWebsocketOutputTransport`` (fake Starlette socket) in a subprocess, after ours.

Rounds alternate (ours, then Pipecat's); the comparison is the median of the per-round
ratios of the p99 error. The default is 3 rounds of a 20-second stream (about two minutes
with Pipecat's side):

    python benchmarks/pacing.py [--seconds S] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import time

import trio

from benchmarks._harness import (
    MIN_ROUNDS,
    Metric,
    alternate,
    compare,
    emit,
    pipecat_python,
    run_pipecat,
)
from trio_pipe.frames import OutputAudioRawFrame
from trio_pipe.pipeline import Pipeline, PipelineParams, PipelineTask
from trio_pipe.serializers.raw import RawPCMSerializer
from trio_pipe.transports.base import BaseOutputTransport, TransportParams

RATE = 16000
CHUNK = 1280  # 40 ms at 16 kHz mono
INTERVAL = CHUNK / (RATE * 2)

PIPECAT_SCRIPT = r"""
import asyncio, json, sys, time, warnings
warnings.simplefilter("ignore")
from starlette.websockets import WebSocketState
from pipecat.frames.frames import EndFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner

SECONDS, RATE, CHUNK = float(sys.argv[1]), 16000, 1280
N = int(SECONDS * RATE * 2) // CHUNK

class Raw(FrameSerializer):
    async def serialize(self, frame):
        return bytes(frame.audio) if isinstance(frame, OutputAudioRawFrame) else None
    async def deserialize(self, data):
        return None

class FakeSocket:
    client_state = WebSocketState.CONNECTED
    application_state = WebSocketState.CONNECTED
    def __init__(self):
        self.times, self.done = [], asyncio.Event()
    async def send_bytes(self, data):
        self.times.append(time.perf_counter())
        if len(self.times) == N:
            self.done.set()
    async def send_text(self, data):
        pass
    async def close(self, code=1000, reason=None):
        pass
    async def receive(self):
        await asyncio.Event().wait()

async def run_stream():
    ws = FakeSocket()
    params = FastAPIWebsocketParams(
        audio_out_enabled=True, audio_out_end_silence_secs=0, serializer=Raw()
    )
    transport = FastAPIWebsocketTransport(ws, params)
    worker = PipelineWorker(
        Pipeline([transport.output()]),
        params=PipelineParams(audio_out_sample_rate=RATE),
        enable_rtvi=False, enable_turn_tracking=False, idle_timeout_secs=None,
    )
    async def drive():
        await asyncio.sleep(0.5)
        await worker.queue_frame(OutputAudioRawFrame(bytes(N * CHUNK), RATE, 1))
        await ws.done.wait()
        await worker.queue_frame(EndFrame())
    await asyncio.gather(WorkerRunner(handle_sigint=False).run(worker), drive())
    print(json.dumps({"times": ws.times}))

asyncio.run(run_stream())
"""


class _Recorder:
    """A connected writer that only records when each send happened."""

    is_connected = True
    is_closing = False

    def __init__(self, expected: int) -> None:
        self.times: list[float] = []
        self.expected = expected
        self.done = trio.Event()

    async def send(self, data: str | bytes) -> bool:
        self.times.append(time.perf_counter())
        if len(self.times) == self.expected:
            self.done.set()
        return True


def _ours(seconds: float) -> list[float]:
    n = int(seconds * RATE * 2) // CHUNK

    async def stream() -> list[float]:
        writer = _Recorder(n)
        params = TransportParams(audio_out_enabled=True, audio_out_end_silence_secs=0)
        out = BaseOutputTransport(params, writer=writer, serializer=RawPCMSerializer())
        task = PipelineTask(Pipeline([out]), params=PipelineParams(audio_out_sample_rate=RATE))
        async with trio.open_nursery() as nursery:
            await nursery.start(task.run)
            await task.queue_frame(
                OutputAudioRawFrame(audio=bytes(n * CHUNK), sample_rate=RATE, num_channels=1)
            )
            await writer.done.wait()
            await task.stop_when_done()
        return writer.times

    return trio.run(stream)


def _stats_ms(values: list[float]) -> dict:
    ordered = sorted(abs(v) for v in values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50": at(0.5), "p99": at(0.99), "max": round(ordered[-1] * 1000, 3)}


def _errors(times: list[float]) -> dict:
    """|actual - ideal| (ms) against the grid anchored at the first send, and the drift:
    median error over the last second minus the median over the first (wake-up jitter
    aside, how far the stream fell behind its schedule)."""
    if len(times) < 3:
        return {"sends": len(times)}
    t0 = times[0]
    errors = [t - (t0 + max(0, k - 1) * INTERVAL) for k, t in enumerate(times)]
    window = max(1, min(25, (len(errors) - 1) // 2))
    drift = statistics.median(errors[-window:]) - statistics.median(errors[1 : 1 + window])
    return {
        "sends": len(times),
        "error_ms": _stats_ms(errors),
        "drift_ms": round(drift * 1000, 3),
        "span_s": round(times[-1] - t0, 3),
    }


def _median_round(rounds: list[dict]) -> dict:
    """The round with the median p99 error (the per-side figure printed)."""
    ranked = sorted(rounds, key=lambda r: r.get("error_ms", {}).get("p99", float("inf")))
    return ranked[(len(ranked) - 1) // 2]


def _timer_jitter(samples: int = 100) -> dict:
    """How late a bare ``trio.sleep_until`` wakes on this machine now (the floor)."""

    async def sleeps() -> list[float]:
        late, deadline = [], trio.current_time() + INTERVAL
        for _ in range(samples):
            await trio.sleep_until(deadline)
            late.append(trio.current_time() - deadline)
            deadline += INTERVAL
        return late

    return _stats_ms(trio.run(sleeps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the stream")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    args = parser.parse_args()

    theirs = None
    if pipecat_python():

        def theirs() -> dict:
            times = run_pipecat(PIPECAT_SCRIPT, [str(args.seconds)], timeout=args.seconds * 3 + 60)[
                "times"
            ]
            return _errors(times)

    mine, other = alternate(lambda: _errors(_ours(args.seconds)), theirs, args.rounds)
    doc: dict = {
        "benchmark": "pacing",
        "area": "Transports",
        "seconds": args.seconds,
        "rounds": args.rounds,
        "chunk_ms": INTERVAL * 1000,
        "trio_pipe": _median_round(mine),
        "timer_wake_late_ms": _timer_jitter(),
    }
    if other:
        doc["pipecat"] = _median_round(other)
        error = Metric(
            "paced send-time error p99", lambda r: r.get("error_ms", {}).get("p99"), False
        )
        doc["speedup"] = compare(mine, other, {"error_p99": error})
    else:
        doc["pipecat"] = "not measured: set PIPECAT_PYTHON to a Python with pipecat-ai==1.14.0"
    doc["targets"] = {"error_p99_ms": "<= 2", "drift_ms": "<= 5"}
    emit(doc)


if __name__ == "__main__":
    main()
