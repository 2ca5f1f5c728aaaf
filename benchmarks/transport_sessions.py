"""Transport sessions: how many real-time voice sessions one server process keeps up with.

For rising N, N concurrent WebSocket sessions each stream 16 kHz mono PCM16 in 20 ms
protobuf frames, in real time, to an echo bot that sends every input frame back as output
audio through its paced output transport (40 ms chunks). Every echoed message is timed by
a lean load generator in its own process (``benchmarks/_wsload.py``, the same for both
servers). Per N and server:

* ``echoed_ratio``: echoed / sent audio bytes;
* ``gap_p50_ms`` / ``gap_p99_ms``: inter-arrival gap of echoed messages (ideal 40 ms);
* ``lag_growth_ms``: median lag (arrival minus the send of the chunk's last input frame)
  over the last second minus over the first: a server falling behind grows it;
* ``cpu_per_session_pct``: the server process's CPU (``/proc``) over the run, per session,
  in % of one core.

A server *keeps up* at N when echoed >= 99 %, p99 gap <= 2 x ideal and lag growth
< 100 ms. The figure of merit is the largest N that keeps up.

Servers, one process each, fresh for every run, alternating: trio_pipe's
``trio-pipe serve`` (FastAPIWebsocketTransport, Starlette under Hypercorn on Trio) and
Pipecat 1.14's FastAPIWebsocketTransport under uvicorn (PIPECAT_PYTHON).

    python -m benchmarks.transport_sessions [--sessions 20 40 60 80 100] [--seconds 10]
    python -m benchmarks.transport_sessions --quick      # 4 s runs at 60 and 100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from benchmarks._harness import emit, pipecat_python

PIPECAT_SERVER = r"""
import asyncio, socket, sys
from loguru import logger
logger.remove()
logger.add(sys.stderr, level="ERROR")
import uvicorn
from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.serializers.protobuf import ProtobufFrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner

class Echo(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self.push_frame(OutputAudioRawFrame(
                audio=frame.audio, sample_rate=frame.sample_rate, num_channels=frame.num_channels))
        else:
            await self.push_frame(frame, direction)

app = FastAPI()

@app.websocket("/ws")
async def bot(websocket: WebSocket) -> None:
    await websocket.accept()
    transport = FastAPIWebsocketTransport(websocket, FastAPIWebsocketParams(
        audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False,
        serializer=ProtobufFrameSerializer()))
    worker = PipelineWorker(
        Pipeline([transport.input(), Echo(), transport.output()]),
        params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=16000),
        idle_timeout_secs=None)

    @transport.event_handler("on_client_disconnected")
    async def gone(transport, client) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()

class Server(uvicorn.Server):
    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        print(f"ws://127.0.0.1:{sockets[0].getsockname()[1]}/ws", flush=True)

async def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await Server(uvicorn.Config(app, log_level="error", lifespan="off")).serve(sockets=[sock])

asyncio.run(main())
"""

OURS_SERVER = [sys.executable, "-m", "trio_pipe", "serve", "--port", "0", "--out-rate", "16000"]


def keeps_up(run: dict[str, Any]) -> bool:
    """The criteria of the module docstring."""
    return (
        run.get("failed_sessions", 1) == 0
        and run["echoed_ratio"] >= 0.99
        and run["gap_p99_ms"] <= 2 * run["ideal_gap_ms"]
        and run["lag_growth_ms"] < 100
    )


def measure(server_argv: list[str], n: int, seconds: float) -> dict[str, Any]:
    """Start a fresh server, run the load generator against it, stop the server."""
    server = subprocess.Popen(server_argv, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        if not url.startswith("ws://"):
            raise RuntimeError(f"server did not start: {server_argv[:3]}")
        load = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks._wsload",
                url,
                str(n),
                str(seconds),
                str(server.pid),
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            check=False,
        )
        if load.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{load.stderr[-2000:]}")
        run = json.loads(load.stdout.strip().splitlines()[-1])
    finally:
        server.kill()
        server.wait()
    run["keeps_up"] = keeps_up(run)
    run["loadavg_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine
    return run


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The least disturbed of several runs at one N: one that kept up, else the one with
    the smallest lag growth (the machine is shared; noise only ever makes a run worse)."""
    kept = [r for r in runs if r["keeps_up"]]
    pool = kept or runs
    best = min(pool, key=lambda r: (r["gap_p99_ms"], r["lag_growth_ms"]))
    return {**best, "rounds": len(runs)}


def largest_kept_up(runs: list[dict[str, Any]]) -> int:
    """The largest N that kept up (0 if none did)."""
    return max((r["sessions"] for r in runs if r["keeps_up"]), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[20, 40, 60, 80, 100])
    parser.add_argument("--seconds", type=float, default=10.0, help="stream length per run")
    parser.add_argument("--quick", action="store_true", help="4 s runs at 60 and 100")
    parser.add_argument("--ours-only", action="store_true", help="skip Pipecat")
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs per N and server, alternating; best kept"
    )
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.seconds = [60, 100], 4.0
    python = None if args.ours_only else pipecat_python()
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    for n in sorted(args.sessions):
        mine_n: list[dict[str, Any]] = []
        theirs_n: list[dict[str, Any]] = []
        for _ in range(max(1, args.rounds)):
            mine_n.append(measure(OURS_SERVER, n, args.seconds))
            print(f"[transport_sessions] trio_pipe N={n}: {mine_n[-1]}", file=sys.stderr)
            if python is not None:
                theirs_n.append(measure([python, "-c", PIPECAT_SERVER], n, args.seconds))
                print(f"[transport_sessions] pipecat N={n}: {theirs_n[-1]}", file=sys.stderr)
        ours.append(best_of(mine_n))
        if theirs_n:
            theirs.append(best_of(theirs_n))
    doc: dict[str, Any] = {
        "benchmark": "transport_sessions",
        "workload": (
            f"N sessions x 16 kHz PCM16 in 20 ms protobuf frames, real time, {args.seconds:g} s,"
            " echo bot, one server process"
        ),
        "criteria": "echoed >= 99 %, p99 gap <= 2 x 40 ms, lag growth < 100 ms",
        "trio_pipe": {"runs": ours, "max_sessions_kept_up": largest_kept_up(ours)},
    }
    if theirs:
        doc["pipecat"] = {"runs": theirs, "max_sessions_kept_up": largest_kept_up(theirs)}
        mine, other = largest_kept_up(ours), largest_kept_up(theirs)
        # CPU per session at the largest N both kept up (the same load on both).
        both = [
            (a, b) for a, b in zip(ours, theirs, strict=True) if a["keeps_up"] and b["keeps_up"]
        ]
        speedup: dict[str, float | None] = {
            "max_sessions_kept_up": round(mine / other, 2) if mine and other else None
        }
        if both:
            a, b = both[-1]
            speedup["cpu_per_session"] = round(
                b["cpu_per_session_pct"] / a["cpu_per_session_pct"], 2
            )
            doc["cpu_compared_at_sessions"] = a["sessions"]
        doc["speedup"] = speedup
    emit(doc)


if __name__ == "__main__":
    main()
