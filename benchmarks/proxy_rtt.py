"""WebSocket proxy round trips: client proxy -> server proxy -> worker and back, two processes.

Workload (the same on both sides; Pipecat 1.14 runs it under ``PIPECAT_PYTHON``):

* a *server* process: a runner with an echo worker ``worker`` behind a proxy endpoint
  (ours: Starlette under Hypercorn with ``WebSocketProxyServer``; Pipecat's: FastAPI
  under uvicorn with its ``WebSocketProxyServer``), on 127.0.0.1;
* a *client* process: a runner with ``voice`` and a ``WebSocketProxyClient`` to it.
  ``voice`` runs ``async with voice.job("worker", ...)`` (request, echo, response):
  ``--sequential`` round trips one at a time (p50/p99 in µs), then ``--throughput`` jobs
  with 50 outstanding (jobs/s).

Each round runs each phase (the round trips, then the throughput) on a fresh pair of
processes, so both sides' sessions have the same length and Pipecat's per-job watch leak
from the first phase does not weigh on the second; rounds alternate between the stacks.
Each side's best round is printed; the comparisons are the medians of the per-round
ratios with their min and max (targets: p50 <= 0.75x, jobs/s >= 1.5x). ``--profile DIR``
writes cProfile data of our client and server processes.

The ``wire`` section (``benchmarks/_proxy_wire.py``, skip it with ``--no-wire``) runs every
pairing of ends (trio_pipe or Pipecat as client and as server, ours batching when both
ends are ours) on three workloads, each on fresh processes: sequential job p50, jobs/s
and plain-message round trips/s at 50 outstanding; its ``wire_*`` speedups compare each
pairing with Pipecat <-> Pipecat, and ``wire.targets`` states issue 12's targets.

    python -m benchmarks.proxy_rtt [--sequential N] [--throughput N] [--rounds R] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks._harness import (
    MIN_ROUNDS,
    Metric,
    best,
    compare,
    emit,
    field,
    percentile_of,
    percentiles,
    pipecat_python,
    saturate,
    timed_round_trips,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTSTANDING = 50
WARMUP = 200

PIPECAT_SCRIPT = r"""
import asyncio, json, os, signal, socket, sys, time
from loguru import logger
logger.remove()
import uvicorn
from fastapi import FastAPI, WebSocket
from pipecat.pipeline.job_context import JobParams
from pipecat.pipeline.job_decorator import job
from pipecat.workers.base_worker import BaseWorker
from pipecat.workers.proxy.websocket import WebSocketProxyClient, WebSocketProxyServer
from pipecat.workers.runner import WorkerRunner

ROLE = sys.argv[1]

class Echo(BaseWorker):
    @job(name="echo")
    async def echo(self, message):
        await self.send_job_response(message.job_id, message.payload)

    @job(name="cpu")
    async def cpu(self, message):
        await self.send_job_response(message.job_id, {"cpu": time.process_time()})

async def server_cpu(voice):
    async with voice.job("worker", params=JobParams(name="cpu")) as t:
        pass
    return t.response["cpu"]

async def server():
    runner = WorkerRunner(name="bench-server", handle_sigint=False)
    await runner.add_workers(Echo("worker"))
    app = FastAPI()
    count = 0

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        nonlocal count
        await websocket.accept()
        count += 1
        proxy = WebSocketProxyServer(f"gw-{count}", websocket=websocket,
                                     worker_name="worker", remote_worker_name="voice")

        await runner.add_workers(proxy)
        await proxy.wait()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    tasks = [asyncio.create_task(runner.run(auto_end=False)),
             asyncio.create_task(srv.serve(sockets=[sock]))]
    while not srv.started:
        await asyncio.sleep(0.01)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(sock.getsockname()[1], flush=True)
    await asyncio.gather(*tasks)

async def one(voice, i):
    async with voice.job("worker", params=JobParams(name="echo", payload={"i": i})) as t:
        pass
    assert t.response["i"] == i

async def client(url, n_seq, n_tp, warmup, out):
    runner = WorkerRunner(name="bench-client", handle_sigint=False)
    voice = BaseWorker("voice")
    proxy = WebSocketProxyClient("proxy", url=url, remote_worker_name="worker",
                                 local_worker_name="voice", active=True)
    await runner.add_workers(voice, proxy)
    ready = asyncio.Event()

    @runner.event_handler("on_ready")
    async def on_ready(r):
        ready.set()

    run = asyncio.create_task(runner.run())
    await ready.wait()
    for i in range(warmup):
        await one(voice, i)
    samples = []
    for i in range(n_seq):
        t0 = time.perf_counter()
        await one(voice, i)
        samples.append(time.perf_counter() - t0)
    remaining = [n_tp]

    async def worker_loop():
        while remaining[0] > 0:
            remaining[0] -= 1
            await one(voice, remaining[0])

    result = {"rtt": samples} if n_seq else {}
    if n_tp:
        s0 = await server_cpu(voice)
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker_loop() for _ in range(out)))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        s1 = await server_cpu(voice)
        result.update(jobs_per_s=n_tp / elapsed, client_cpu_us=cpu / n_tp * 1e6,
                      server_cpu_us=(s1 - s0) / n_tp * 1e6)
    print(json.dumps(result), flush=True)
    os._exit(0)  # a lingering proxy would hold the runner's exit

if ROLE == "server":
    asyncio.run(server())
else:
    asyncio.run(client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                       int(sys.argv[6])))
"""


# --- our roles (run in their own processes) ---------------------------------------------


def _profiled(main: Any, profile: str | None) -> Any:
    if not profile:
        return main()
    import cProfile

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(main)
    finally:
        profiler.dump_stats(profile)


def _server_role(profile: str | None) -> None:
    import trio
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    from trio_pipe.bus.messages import BusTTSSpeakMessage
    from trio_pipe.serving import serve_asgi
    from trio_pipe.workers import BaseWorker, WorkerRunner, job
    from trio_pipe.workers.proxy import WebSocketProxyServer, accept_proxy_websocket

    class Echo(BaseWorker):
        @job(name="echo")
        async def echo(self, message: Any) -> None:
            await self.send_job_response(message.job_id, message.payload)

        @job(name="cpu")  # the process's CPU time, so the client can measure a phase
        async def cpu(self, message: Any) -> None:
            await self.send_job_response(message.job_id, {"cpu": time.process_time()})

        async def on_bus_message(self, message: Any) -> None:  # the wire's plain messages
            await super().on_bus_message(message)
            if isinstance(message, BusTTSSpeakMessage) and message.target == self.name:
                await self.send_bus_message(
                    BusTTSSpeakMessage(text=message.text, source=self.name, target=message.source)
                )

    async def main() -> None:
        runner = WorkerRunner(name="bench-server", handle_sigint=False)
        await runner.add_workers(Echo("worker"))
        count = 0
        done = trio.Event()

        async def serve_proxy(websocket: Any) -> None:
            nonlocal count
            count += 1
            proxy = WebSocketProxyServer(
                f"gw-{count}", websocket=websocket, worker_name="worker", remote_worker_name="voice"
            )
            await runner.add_workers(proxy)
            await proxy.wait()
            done.set()  # one client per process: its leaving ends the run

        async def endpoint(websocket: Any) -> None:  # Starlette under Hypercorn
            await accept_proxy_websocket(websocket)  # batching, if the client offers it
            await serve_proxy(websocket)

        async with trio.open_nursery() as nursery:
            app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
            served = await nursery.start(serve_asgi, app)
            await nursery.start(partial(runner.run, auto_end=False))
            print(served.port, flush=True)
            await done.wait()
            nursery.cancel_scope.cancel()

    _profiled(partial(trio.run, main), profile)


def _client_role(
    url: str,
    n_seq: int,
    n_tp: int,
    warmup: int,
    outstanding: int,
    profile: str | None,
) -> None:
    import trio

    from trio_pipe.workers import BaseWorker, JobParams, WorkerRunner
    from trio_pipe.workers.proxy import WebSocketProxyClient

    async def one(voice: BaseWorker, i: int) -> None:
        async with voice.job("worker", params=JobParams(name="echo", payload={"i": i})) as t:
            pass
        assert t.response["i"] == i

    async def server_cpu(voice: BaseWorker) -> float:
        async with voice.job("worker", params=JobParams(name="cpu")) as t:
            pass
        return t.response["cpu"]

    async def main() -> dict[str, Any]:
        runner = WorkerRunner(name="bench-client", handle_sigint=False)
        voice = BaseWorker("voice")
        proxy = WebSocketProxyClient(
            "proxy",
            url=url,
            remote_worker_name="worker",
            local_worker_name="voice",
            active=True,
        )
        await runner.add_workers(voice, proxy)
        async with trio.open_nursery() as nursery:
            await nursery.start(runner.run)
            job = partial(one, voice)
            samples = await timed_round_trips(job, n_seq, warmup)
            result: dict[str, Any] = {"rtt": samples} if n_seq else {}
            if n_tp:
                s0 = await server_cpu(voice)
                t0, c0 = time.perf_counter(), time.process_time()
                await saturate(job, n_tp, outstanding)
                elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
                s1 = await server_cpu(voice)
                result.update(
                    jobs_per_s=n_tp / elapsed,
                    client_cpu_us=cpu / n_tp * 1e6,
                    server_cpu_us=(s1 - s0) / n_tp * 1e6,
                )
            await runner.cancel()
        return result

    print(json.dumps(_profiled(partial(trio.run, main), profile)), flush=True)


# --- orchestration ----------------------------------------------------------------------


def _pair(
    server_cmd: list[str], client_cmd: list[str], client_args: list[str], timeout: float = 600
) -> dict[str, Any]:
    """Start a server, read its port, run a client against it, return the client's JSON."""
    env = dict(os.environ, LOGURU_LEVEL="ERROR")
    server = subprocess.Popen(
        server_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        line = server.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError(f"server did not start: {line!r} {server.stderr.read()[-2000:]}")
        url = f"ws://127.0.0.1:{line}/ws"
        client = subprocess.run(
            [*client_cmd, url, *client_args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )
        if client.returncode != 0:
            raise RuntimeError(f"client failed:\n{client.stderr[-3000:]}")
        return json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Best round of each figure, plus every round's p50 and jobs/s (to judge the noise)."""
    return {
        "rtt_us": min((percentiles(r["rtt"]) for r in results), key=lambda p: p["p50"]),
        "rtt_p50_rounds": [percentiles(r["rtt"])["p50"] for r in results],
        "jobs_per_s": round(best(results, "jobs_per_s")),
        "jobs_per_s_rounds": [round(r["jobs_per_s"]) for r in results],
        "client_cpu_us_per_job": round(min(r["client_cpu_us"] for r in results), 1),
        "server_cpu_us_per_job": round(min(r["server_cpu_us"] for r in results), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=2_000, help="round trips timed")
    parser.add_argument("--throughput", type=int, default=10_000, help="jobs, 50 outstanding")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--quick", action="store_true", help="500 / 2,000 jobs, one round")
    parser.add_argument("--profile", metavar="DIR", help="cProfile our client and server")
    parser.add_argument("--ours-only", action="store_true", help="skip Pipecat")
    parser.add_argument(
        "--no-wire", action="store_true", help="skip the wire section (benchmarks/_proxy_wire.py)"
    )
    parser.add_argument("--role", choices=["server", "client"], help=argparse.SUPPRESS)
    parser.add_argument("role_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "server":
        _server_role(*args.role_args or [None])
        return
    if args.role == "client":
        url, n_seq, n_tp, warmup, out, *profile = args.role_args
        numbers = int(n_seq), int(n_tp), int(warmup), int(out)
        _client_role(url, *numbers, *profile or [None])
        return

    if args.quick:
        args.sequential, args.throughput, args.rounds = 500, 2_000, 1

    def _phases(pair: Callable[[list[str]], dict[str, Any]], extra: list[str]) -> dict[str, Any]:
        # One fresh pair of processes per phase, the same warm-up on each.
        result = pair([str(args.sequential), "0", str(WARMUP), str(OUTSTANDING), *extra])
        result.update(pair(["0", str(args.throughput), str(WARMUP), str(OUTSTANDING), *extra]))
        return result

    ours = [sys.executable, "-m", "benchmarks.proxy_rtt", "--role"]
    server_extra: list[str] = []
    client_extra: list[str] = []
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        server_extra = [os.path.join(os.path.abspath(args.profile), "server.prof")]
        client_extra = [os.path.join(os.path.abspath(args.profile), "client.prof")]

    contenders: dict[str, Callable[[], dict[str, Any]]] = {
        "trio_pipe": partial(
            _phases,
            partial(_pair, [*ours, "server", *server_extra], [*ours, "client"]),
            client_extra,
        )
    }
    pc_python = None if args.ours_only else pipecat_python()
    if pc_python:
        script = [pc_python, "-c", PIPECAT_SCRIPT]
        contenders["pipecat"] = partial(
            _phases, partial(_pair, [*script, "server"], [*script, "client"]), []
        )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    for _ in range(args.rounds):  # alternate, so machine noise hits every stack alike
        for name, run in contenders.items():
            results[name].append(run())

    doc: dict[str, Any] = {
        "benchmark": "proxy_rtt",
        "sequential_round_trips": args.sequential,
        "throughput_jobs": args.throughput,
        "outstanding": OUTSTANDING,
        "rounds": args.rounds,
        "area": "Workers and jobs",
    }
    for name, rounds in results.items():
        doc[name] = _summary(rounds)
    if "pipecat" in doc:
        doc["speedup"] = compare(
            results["trio_pipe"],
            results["pipecat"],
            {
                "rtt_p50": Metric("proxy job round trip p50", percentile_of("rtt"), False),
                "rtt_p99": Metric("proxy job round trip p99", percentile_of("rtt", "p99"), False),
                "jobs_per_s": Metric("proxy jobs/s, 50 outstanding", field("jobs_per_s")),
                "client_cpu_us": Metric("proxy client CPU per job", field("client_cpu_us"), False),
                "server_cpu_us": Metric(
                    "proxy server CPU per job (Hypercorn vs uvicorn)",
                    field("server_cpu_us"),
                    False,
                ),
            },
        )
        doc["targets"] = {"rtt_p50": "<= 0.75x", "jobs_per_s": ">= 1.5x"}
    else:
        doc["pipecat"] = "not measured: set PIPECAT_PYTHON to a Python with pipecat-ai==1.14.0"
    if not args.no_wire:  # every pairing of ends, plain messages too (issue 12)
        from benchmarks._proxy_wire import measure

        wire = measure(args.sequential, args.throughput, args.rounds, pc_python)
        if "speedup" in wire:
            doc.setdefault("speedup", {}).update(wire.pop("speedup"))
        doc["wire"] = wire
    emit(doc)


if __name__ == "__main__":
    main()
