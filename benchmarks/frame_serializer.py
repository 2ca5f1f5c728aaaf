"""Frame serializers: µs per serialize / deserialize, trio_pipe vs Pipecat 1.14.

Workloads, each through the async API a transport calls, N times in one event loop:

* ``audio_*``: protobuf, a 20 ms 16 kHz mono ``OutputAudioRawFrame`` (640 bytes) out, and
  the resulting bytes back in (as ``InputAudioRawFrame``);
* ``message_*``: protobuf, an output transport message (a small JSON dict) out and in;
* ``twilio_*``: Twilio Media Streams, 20 ms of 24 kHz audio out (resample to 8 kHz + µ-law
  + base64 JSON) and a 20 ms ``media`` event in (to 16 kHz).

Each round times every workload in ``--repeat`` batches of ``--ops`` operations per side
and keeps each side's fastest batch (as ``timeit`` does): a batch lasts tens of
milliseconds, so one scheduler hiccup on a shared machine would otherwise decide a
round's ratio. Our batches and Pipecat's (a process that runs one batch per request)
are taken in turn, so both sides' batches of a workload see the same machine.

    python benchmarks/frame_serializer.py [--ops N] [--repeat K] [--rounds R]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import trio

from benchmarks._harness import (
    MIN_ROUNDS,
    Metric,
    compare,
    emit,
    field,
    pipecat_python,
)
from trio_pipe.frames import OutputAudioRawFrame, OutputTransportMessageUrgentFrame
from trio_pipe.serializers.protobuf import ProtobufFrameSerializer
from trio_pipe.serializers.twilio import TwilioFrameSerializer, TwilioSerializerParams

MESSAGE = {"type": "server-message", "n": 1, "data": {"text": "hello", "ok": True}}
WORKLOADS = {
    "audio_out": "protobuf audio frame out",
    "audio_in": "protobuf audio frame in",
    "message_out": "protobuf transport message out",
    "message_in": "protobuf transport message in",
    "twilio_out": "Twilio 20 ms audio out (resample + µ-law)",
    "twilio_in": "Twilio 20 ms media event in",
}


def _pcm(rate: int, ms: int) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()


AUDIO_16K = _pcm(16000, 20)
AUDIO_24K = _pcm(24000, 20)
# A 20 ms Twilio media event (160 µ-law bytes); built once with trio_pipe's own encoder.
MEDIA_EVENT = (
    '{"event": "media", "streamSid": "MZ0", "media": {"payload": "'
    + base64.b64encode(bytes(range(96, 256))).decode()
    + '"}}'
)

PIPECAT_SCRIPT = r"""
import asyncio, json, sys, time
import numpy as np
from pipecat.frames.frames import OutputAudioRawFrame, OutputTransportMessageUrgentFrame
from pipecat.serializers.protobuf import ProtobufFrameSerializer
from pipecat.serializers.twilio import TwilioFrameSerializer

N = int(sys.argv[1])
MESSAGE = json.loads(sys.argv[2])
MEDIA_EVENT = sys.argv[3]

def pcm(rate, ms):
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()

class Setup:
    audio_in_sample_rate = 16000

async def main():
    proto = ProtobufFrameSerializer()
    audio = OutputAudioRawFrame(audio=pcm(16000, 20), sample_rate=16000, num_channels=1)
    audio_bytes = await proto.serialize(audio)
    message = OutputTransportMessageUrgentFrame(message=MESSAGE)
    message_bytes = await proto.serialize(message)
    twilio = TwilioFrameSerializer(
        "MZ0", params=TwilioFrameSerializer.InputParams(auto_hang_up=False))
    await twilio.setup(Setup())
    audio24 = OutputAudioRawFrame(audio=pcm(24000, 20), sample_rate=24000, num_channels=1)
    ops = {
        "audio_out": lambda: proto.serialize(audio),
        "audio_in": lambda: proto.deserialize(audio_bytes),
        "message_out": lambda: proto.serialize(message),
        "message_in": lambda: proto.deserialize(message_bytes),
        "twilio_out": lambda: twilio.serialize(audio24),
        "twilio_in": lambda: twilio.deserialize(MEDIA_EVENT),
    }
    print("ready", flush=True)
    # One batch of N calls per line read (a workload's name); its µs per call back.
    for line in sys.stdin:
        fn = ops[line.strip()]
        start = time.perf_counter()
        for _ in range(N):
            await fn()
        print((time.perf_counter() - start) / N * 1e6, flush=True)

asyncio.run(main())
"""


class PipecatBatches:
    """Pipecat's side as a process that runs one batch per request, so that its batches
    interleave with ours (each pair of batches sees the same machine)."""

    def __init__(self, python: str, n: int) -> None:
        self._process = subprocess.Popen(
            [python, "-c", PIPECAT_SCRIPT, str(n), json.dumps(MESSAGE), MEDIA_EVENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, LOGURU_LEVEL="ERROR"),
        )
        if self._read() != "ready":
            raise RuntimeError("Pipecat side did not start")

    def _read(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("Pipecat side ended")
        return line.strip()

    def batch(self, workload: str) -> float:
        """µs per call over one batch of ``workload``."""
        assert self._process.stdin is not None
        self._process.stdin.write(workload + "\n")
        self._process.stdin.flush()
        return float(self._read())

    def close(self) -> None:
        """End the process (its stdin closes, its loop ends)."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)


def _rounds(
    n: int, repeat: int, rounds: int, theirs: PipecatBatches | None
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Per round and side, each workload's µs per call: the fastest of ``repeat`` batches
    of ``n`` calls, our batch and Pipecat's taken in turn."""

    async def main() -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        proto = ProtobufFrameSerializer()
        audio = OutputAudioRawFrame(audio=AUDIO_16K, sample_rate=16000, num_channels=1)
        audio_bytes = proto.encode(audio)
        message = OutputTransportMessageUrgentFrame(message=MESSAGE)
        message_bytes = proto.encode(message)
        twilio = TwilioFrameSerializer(
            "MZ0", params=TwilioSerializerParams(auto_hang_up=False, sample_rate=16000)
        )
        audio24 = OutputAudioRawFrame(audio=AUDIO_24K, sample_rate=24000, num_channels=1)
        ops: dict[str, Callable[[], Awaitable[Any]]] = {
            "audio_out": lambda: proto.serialize(audio),
            "audio_in": lambda: proto.deserialize(audio_bytes),
            "message_out": lambda: proto.serialize(message),
            "message_in": lambda: proto.deserialize(message_bytes),
            "twilio_out": lambda: twilio.serialize(audio24),
            "twilio_in": lambda: twilio.deserialize(MEDIA_EVENT),
        }
        mine: list[dict[str, float]] = []
        other: list[dict[str, float]] = []
        for _ in range(rounds):
            ours_best = dict.fromkeys(WORKLOADS, float("inf"))
            theirs_best = dict.fromkeys(WORKLOADS, float("inf"))
            for workload, fn in ops.items():
                for _ in range(repeat):
                    start = time.perf_counter()
                    for _ in range(n):
                        await fn()
                    took = (time.perf_counter() - start) / n * 1e6
                    ours_best[workload] = min(ours_best[workload], took)
                    if theirs is not None:
                        took = await trio.to_thread.run_sync(theirs.batch, workload)
                        theirs_best[workload] = min(theirs_best[workload], took)
            mine.append(ours_best)
            if theirs is not None:
                other.append(theirs_best)
        return mine, other

    return trio.run(main)


def _best(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(min(r[key] for r in results), 2) for key in WORKLOADS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2_000, help="operations per batch")
    parser.add_argument("--repeat", type=int, default=10, help="batches per workload (fastest)")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS + 2)
    args = parser.parse_args()

    python = pipecat_python()
    theirs = PipecatBatches(python, args.ops) if python else None
    try:
        mine, other = _rounds(args.ops, args.repeat, args.rounds, theirs)
    finally:
        if theirs is not None:
            theirs.close()
    doc: dict[str, Any] = {
        "benchmark": "frame_serializer",
        "area": "Frame serializers",
        "unit": "µs per operation (best of rounds; lower is better)",
        "ops": args.ops,
        "repeat": args.repeat,
        "rounds": args.rounds,
        "trio_pipe": _best(mine),
    }
    if other:
        doc["pipecat"] = _best(other)
        doc["speedup"] = compare(  # Pipecat's time / ours, per round
            mine,
            other,
            {key: Metric(label, field(key), False) for key, label in WORKLOADS.items()},
        )
    else:
        doc["pipecat"] = "not measured: set PIPECAT_PYTHON to a Python with pipecat-ai==1.14.0"
    emit(doc)


if __name__ == "__main__":
    main()
