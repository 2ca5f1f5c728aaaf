"""JSON bus message serializer: encode+decode round trips/s, trio_pipe vs Pipecat 1.14.

Workloads, each ``deserialize(serialize(message))`` N times on one message object:

* ``job_request``: a ``BusJobRequestMessage`` with a 5-key payload;
* ``job_response``: a ``BusJobResponseMessage`` (status completed, a small response);
* ``frame_audio``: a ``BusFrameMessage`` carrying an ``OutputAudioRawFrame`` of 640 bytes
  of PCM (20 ms at 16 kHz, mono).

Rounds alternate between trio_pipe (this process) and Pipecat (``PIPECAT_PYTHON``); each
side's best round is reported, with the median of the per-round ratios ours / Pipecat's
(> 1: trio_pipe is faster) and their min and max.

    python -m benchmarks.serializer [--ops N] [--rounds R] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from benchmarks._harness import (
    MIN_ROUNDS,
    Metric,
    alternate,
    compare,
    emit,
    field,
    pipecat_python,
    run_pipecat,
)
from trio_pipe.bus.messages import (
    BusFrameMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusMessage,
    JobStatus,
)
from trio_pipe.frames import OutputAudioRawFrame
from trio_pipe.processors import FrameDirection
from trio_pipe.serializers.messages import JSONMessageSerializer

WORKLOADS = {
    "job_request": "bus job request round trip",
    "job_response": "bus job response round trip",
    "frame_audio": "bus audio frame round trip",
}
PAYLOAD = {
    "query": "weather in Paris",
    "limit": 5,
    "tags": ["a", "b"],
    "deep": {"x": 1.5},
    "n": None,
}
PCM = bytes(range(256)) * 2 + bytes(128)  # 640 bytes

PIPECAT_SCRIPT = r"""
import json, sys, time
from pipecat.bus.messages import BusFrameMessage, BusJobRequestMessage, BusJobResponseMessage
from pipecat.bus.serializers import JSONMessageSerializer
from pipecat.frames.frames import OutputAudioRawFrame
from pipecat.pipeline.job_context import JobStatus
from pipecat.processors.frame_processor import FrameDirection

N = int(sys.argv[1])
PAYLOAD = json.loads(sys.argv[2])
PCM = bytes(range(256)) * 2 + bytes(128)
messages = {
    "job_request": BusJobRequestMessage(
        source="voice", target="worker", job_id="j-1", job_name="research", payload=PAYLOAD
    ),
    "job_response": BusJobResponseMessage(
        source="worker", target="voice", job_id="j-1", status=JobStatus.COMPLETED,
        response={"answer": 42, "ok": True},
    ),
    "frame_audio": BusFrameMessage(
        source="voice", target="worker",
        frame=OutputAudioRawFrame(audio=PCM, sample_rate=16000, num_channels=1),
        direction=FrameDirection.DOWNSTREAM,
    ),
}
serializer = JSONMessageSerializer()
out = {}
for key, message in messages.items():
    for _ in range(N // 10):  # warm up
        serializer.deserialize(serializer.serialize(message))
    t0 = time.perf_counter()
    for _ in range(N):
        serializer.deserialize(serializer.serialize(message))
    out[key] = N / (time.perf_counter() - t0)
print(json.dumps(out))
"""


def _messages() -> dict[str, BusMessage]:
    return {
        "job_request": BusJobRequestMessage(
            source="voice", target="worker", job_id="j-1", job_name="research", payload=PAYLOAD
        ),
        "job_response": BusJobResponseMessage(
            source="worker",
            target="voice",
            job_id="j-1",
            status=JobStatus.COMPLETED,
            response={"answer": 42, "ok": True},
        ),
        "frame_audio": BusFrameMessage(
            source="voice",
            target="worker",
            frame=OutputAudioRawFrame(audio=PCM, sample_rate=16000, num_channels=1),
            direction=FrameDirection.DOWNSTREAM,
        ),
    }


def _ours(n: int) -> dict[str, float]:
    serializer = JSONMessageSerializer()
    serialize, deserialize = serializer.serialize, serializer.deserialize
    out = {}
    for key, message in _messages().items():
        for _ in range(n // 10):  # warm up (hooks are generated on first use)
            deserialize(serialize(message))
        t0 = time.perf_counter()
        for _ in range(n):
            deserialize(serialize(message))
        out[key] = n / (time.perf_counter() - t0)
    return out


def _best(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(max(r[key] for r in results)) for key in WORKLOADS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000, help="round trips per workload")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--quick", action="store_true", help="one short round (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.ops, args.rounds = 2_000, 1

    theirs = None
    if pipecat_python():

        def theirs() -> dict[str, Any]:
            return run_pipecat(PIPECAT_SCRIPT, [str(args.ops), json.dumps(PAYLOAD)])

    mine, other = alternate(lambda: _ours(args.ops), theirs, args.rounds)
    doc: dict[str, Any] = {
        "benchmark": "serializer",
        "area": "Bus serializer",
        "unit": "encode+decode round trips per second (best of rounds; higher is better)",
        "ops": args.ops,
        "rounds": args.rounds,
        "trio_pipe": _best(mine),
    }
    if other:
        doc["pipecat"] = _best(other)
        doc["speedup"] = compare(  # ours / Pipecat's, per round
            mine, other, {key: Metric(label, field(key)) for key, label in WORKLOADS.items()}
        )
    else:
        doc["pipecat"] = "not measured: set PIPECAT_PYTHON to a Python with pipecat-ai==1.14.0"
    emit(doc)


if __name__ == "__main__":
    main()
