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
< 100 ms. The figure of merit is the largest N that keeps up, found by a search
(``benchmarks/_ramp.py``): the first round climbs from ``--start`` by ``--step`` until a
run does not keep up, then halves the gap down to ``--resolution`` sessions; later rounds
start at the side's previous answer and move by the resolution. Every round also runs
``--cpu-at`` sessions first, the load at which both sides' CPU per session is compared.

Servers, one process each, fresh for every run: trio_pipe's FastAPIWebsocketTransport
(Starlette under Hypercorn, on Trio) and Pipecat 1.14's FastAPIWebsocketTransport under
uvicorn (PIPECAT_PYTHON), in two configurations doing the same work on both sides:

* ``bare``: the echo pipeline alone. Ours: a ``PipelineTask``. Pipecat's: its
  ``PipelineWorker`` (``PipelineTask`` is an alias of it in 1.14) with RTVI, turn
  tracking and the idle timeout off, under a ``WorkerRunner``;
* ``worker``: as users run them, each side's ``PipelineWorker`` with its defaults (RTVI
  on) under a ``WorkerRunner``, one per session.

Rounds alternate servers; each comparison is the median of the per-round ratios (the
largest N kept up; the CPU per session at ``--cpu-at`` sessions) with min and max.

    python -m benchmarks.transport_sessions [--start 10 --step 20 --resolution 5] [--seconds 6]
    python -m benchmarks.transport_sessions --quick      # 4 s runs at 40 and 80, 1 round
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from benchmarks._harness import MIN_ROUNDS, emit, pipecat_python, speedup_entry
from benchmarks._ramp import Search, find_capacity, next_search

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

CONFIG = sys.argv[1]

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
    pipeline = Pipeline([transport.input(), Echo(), transport.output()])
    params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=16000)
    if CONFIG == "bare":
        worker = PipelineWorker(pipeline, params=params, enable_rtvi=False,
                                enable_turn_tracking=False, idle_timeout_secs=None)
    else:  # as users run it: the defaults
        worker = PipelineWorker(pipeline, params=params)

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

CONFIGS = {
    "bare": "both bare",
    "worker": "both as users run them (PipelineWorker, RTVI)",
}


def echo_app(config: str) -> Any:
    """Our echo bot as a Starlette app: a bare ``PipelineTask`` (``bare``) or a
    ``PipelineWorker`` with its defaults, RTVI on (``worker``)."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    from trio_pipe.bots.echo import EchoProcessor
    from trio_pipe.pipeline import Pipeline, PipelineParams, PipelineTask
    from trio_pipe.serializers.protobuf import ProtobufFrameSerializer
    from trio_pipe.transports.websocket.server import (
        FastAPIWebsocketParams,
        FastAPIWebsocketTransport,
    )
    from trio_pipe.workers import PipelineWorker, WorkerRunner

    async def bot(websocket: Any) -> None:
        await websocket.accept()
        transport = FastAPIWebsocketTransport(
            websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                serializer=ProtobufFrameSerializer(),
                allowed_origins=[],
            ),
        )
        pipeline = Pipeline([transport.input(), EchoProcessor(), transport.output()])
        params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=16000)
        if config == "bare":  # Pipecat's bare side runs with its idle timeout off too
            task = PipelineTask(pipeline, params=params, idle_timeout_secs=None)
            stop, run = task.cancel, task.run
        else:  # as users run it: a PipelineWorker with its defaults (RTVI on)
            worker = PipelineWorker(pipeline, params=params)
            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(worker)
            stop, run = worker.cancel, runner.run

        @transport.event_handler("on_client_disconnected")
        async def gone(transport: Any, websocket: Any) -> None:
            await stop()

        await run()

    return Starlette(routes=[WebSocketRoute("/ws", bot)])


def _our_server(config: str) -> None:
    """Our echo server in this process; prints its URL, serves until killed."""
    import trio

    from trio_pipe.serving import serve_asgi

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            served = await nursery.start(serve_asgi, echo_app(config))
            print(served.ws_url("/ws"), flush=True)

    trio.run(main)


def server_command(side: str, config: str) -> list[str]:
    """The command line of a fresh server process."""
    if side == "pipecat":
        python = pipecat_python()
        assert python is not None
        return [python, "-c", PIPECAT_SERVER, config]
    return [sys.executable, "-m", "benchmarks.transport_sessions", "--role-server", config]


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


def largest_kept_up(runs: list[dict[str, Any]]) -> int:
    """The largest N that kept up (0 if none did)."""
    return max((r["sessions"] for r in runs if r["keeps_up"]), default=0)


def ramp(
    side: str, config: str, search: Search, seconds: float, cpu_at: int
) -> list[dict[str, Any]]:
    """One round of one server: ``cpu_at`` sessions, then the search for the largest N
    it keeps up with; every run, in the order run."""
    runs: list[dict[str, Any]] = []

    def keeps_up(n: int) -> bool:
        runs.append(measure(server_command(side, config), n, seconds))
        print(f"[transport_sessions] {side} {config} N={n}: {runs[-1]}", file=sys.stderr)
        return bool(runs[-1]["keeps_up"])

    find_capacity(keeps_up, search, first=[cpu_at])
    return runs


def round_figures(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]], cpu_at: int
) -> dict[str, Any]:
    """One round's comparison: the largest N each kept up with, and the CPU per session at
    ``cpu_at`` sessions (the same load on both, well below either's limit)."""
    mine, other = largest_kept_up(ours), largest_kept_up(theirs)
    figures: dict[str, Any] = {"trio_pipe_kept_up": mine, "pipecat_kept_up": other}
    figures["sessions_ratio"] = round(mine / other, 3) if mine and other else None
    a = next((r for r in ours if r["sessions"] == cpu_at and r["keeps_up"]), None)
    b = next((r for r in theirs if r["sessions"] == cpu_at and r["keeps_up"]), None)
    if a and b:
        figures["cpu_compared_at"] = cpu_at
        figures["cpu_ratio"] = round(b["cpu_per_session_pct"] / a["cpu_per_session_pct"], 3)
    return figures


def summarise(config: str, rounds: list[dict[str, Any]], cpu_at: int) -> dict[str, dict[str, Any]]:
    """The ``speedup`` entries of one configuration."""
    label = CONFIGS[config]
    kept = [(r["trio_pipe_kept_up"], r["pipecat_kept_up"]) for r in rounds]
    why = "; ".join(f"trio_pipe {a}, Pipecat {b}" for a, b in kept)
    return {
        f"max_sessions_kept_up.{config}": speedup_entry(
            f"real-time sessions kept up with, {label}",
            [r["sessions_ratio"] for r in rounds],
            why=f"a side kept up with 0 sessions ({why})",
        ),
        f"cpu_per_session.{config}": speedup_entry(
            f"server CPU per session at {cpu_at} sessions, {label}",
            [r.get("cpu_ratio") for r in rounds],
            why=f"a side did not keep up with {cpu_at} sessions",
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=int, default=10, help="first N of the search")
    parser.add_argument("--step", type=int, default=20, help="the first round's climb")
    parser.add_argument("--resolution", type=int, default=5, help="sessions (search stops)")
    parser.add_argument("--limit", type=int, default=200, help="largest N run")
    parser.add_argument("--cpu-at", type=int, default=10, help="N where CPU is compared")
    parser.add_argument("--seconds", type=float, default=6.0, help="stream length per run")
    parser.add_argument("--quick", action="store_true", help="4 s runs at 40 and 80, 1 round")
    parser.add_argument("--ours-only", action="store_true", help="skip Pipecat")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS, help="alternating rounds")
    parser.add_argument("--role-server", choices=list(CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role_server:
        _our_server(args.role_server)
        return
    if args.quick:
        args.start, args.step, args.resolution, args.limit = 40, 40, 40, 80
        args.cpu_at, args.seconds, args.rounds = 40, 4.0, 1
    sides = ["trio_pipe"] + ([] if args.ours_only or pipecat_python() is None else ["pipecat"])
    doc: dict[str, Any] = {
        "benchmark": "transport_sessions",
        "area": "Transports",
        "workload": (
            f"N sessions x 16 kHz PCM16 in 20 ms protobuf frames, real time, {args.seconds:g} s,"
            " echo bot, one server process"
        ),
        "criteria": "echoed >= 99 %, p99 gap <= 2 x 40 ms, lag growth < 100 ms",
        "search": {
            "start": args.start,
            "step": args.step,
            "resolution": args.resolution,
            "limit": args.limit,
            "cpu_at": args.cpu_at,
        },
        "rounds": args.rounds,
        "configs": {c: CONFIGS[c] for c in args.configs},
    }
    speedup: dict[str, Any] = {}
    for config in args.configs:
        runs: dict[str, list[list[dict[str, Any]]]] = {side: [] for side in sides}
        first = Search(args.start, args.step, args.resolution, args.limit)
        for _ in range(max(1, args.rounds)):
            for side in sides:
                done = runs[side]
                search = next_search(first, largest_kept_up(done[-1])) if done else first
                done.append(ramp(side, config, search, args.seconds, args.cpu_at))
        for side in sides:
            doc.setdefault(side, {})[config] = {
                "rounds": runs[side],
                "max_sessions_kept_up": [largest_kept_up(r) for r in runs[side]],
            }
        if "pipecat" in runs:
            rounds = [
                round_figures(a, b, args.cpu_at)
                for a, b in zip(runs["trio_pipe"], runs["pipecat"], strict=True)
            ]
            doc["pipecat"][config]["compared"] = rounds
            speedup |= summarise(config, rounds, args.cpu_at)
    if speedup:
        doc["speedup"] = speedup
    emit(doc)


if __name__ == "__main__":
    main()
