"""Jobs between two workers on one in-process bus: round trips, jobs/s, memory.

Workload (the same on both sides, Pipecat 1.14 in a subprocess through PIPECAT_PYTHON):
a requester worker and an echo worker on one runner with an in-process bus.

* round trip: one ``async with requester.job("worker", ...)`` at a time (request, echo
  handler answers, context exits); p50/p99 in microseconds, over the first 250 of a fresh
  session and over all of them (Pipecat's grow slower as its leaked watches pile up, so
  the whole-session figures are labelled as including that leak);
* jobs/s: 50 clients, each running jobs back to back, so 50 are always outstanding, on a
  fresh session of its own (the same length on both sides) so the leak of the round-trip
  phase does not decide it;
* memory (a fresh process per side): ``--jobs`` sequential jobs through a
  ``@job(sequential=True)`` handler; the registry watches, job groups, open jobs and
  handler tables before and after, and the peak RSS. Pipecat keeps one registry watch per
  job, and each new watch compares itself with all the earlier ones, so its run is capped
  at ``--pipecat-jobs``.

    python benchmarks/jobs_inprocess.py [--sequential N] [--throughput N] [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from functools import partial
from typing import Any

import trio

from benchmarks._harness import (
    MIN_ROUNDS,
    Metric,
    alternate,
    best,
    compare,
    emit,
    field,
    percentile_of,
    percentiles,
    pipecat_python,
    run_pipecat,
    saturate,
    timed_round_trips,
)
from trio_pipe.workers import BaseWorker, JobParams, WorkerRunner, job

OUTSTANDING = 50
WARMUP = 50
EARLY = 250  # round trips counted as "early": Pipecat's leaked watch list is still short

PIPECAT_SCRIPT = r"""
import asyncio, json, resource, sys, time
from pipecat.pipeline.job_context import JobParams
from pipecat.pipeline.job_decorator import job
from pipecat.workers.base_worker import BaseWorker
from pipecat.workers.runner import WorkerRunner

MODE, N_SEQ, N_TP, OUT, WARMUP = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), 50, 50
# One session runs the round trips (N_TP == 0) or the throughput (N_SEQ == 0), both
# after the same warm-up: sessions of the same length on both sides.

class Echo(BaseWorker):
    @job(name="echo")
    async def echo(self, message):
        await self.send_job_response(message.job_id, message.payload)

    @job(name="echo_seq", sequential=True)
    async def echo_seq(self, message):
        await self.send_job_response(message.job_id, message.payload)

async def one(req, i, name="echo"):
    async with req.job("worker", params=JobParams(name=name, payload={"i": i})) as t:
        pass
    assert t.response["i"] == i

def sizes(runner, req, worker):
    return {
        "watches": sum(len(h) for h in runner.registry._watches.values()),
        "job_groups": len(req.job_groups),
        "active_jobs": len(worker.active_jobs),
        "handler_tasks": len(worker._job_handler_tasks),
    }

async def main():
    runner = WorkerRunner(handle_sigint=False)
    worker, req = Echo("worker"), BaseWorker("req")
    await runner.add_workers(worker, req)
    ready = asyncio.Event()

    @runner.event_handler("on_ready")
    async def on_ready(r):
        ready.set()

    run = asyncio.create_task(runner.run())
    await ready.wait()
    out = {}
    if MODE == "speed":
        for i in range(WARMUP):
            await one(req, i)
        samples = []
        for i in range(N_SEQ):
            t0 = time.perf_counter()
            await one(req, i)
            samples.append(time.perf_counter() - t0)
        out = {"rtt": samples} if N_SEQ else {}
        remaining = [N_TP]

        async def client():
            while remaining[0] > 0:
                remaining[0] -= 1
                await one(req, remaining[0])

        if N_TP:
            t0 = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(OUT)))
            out["jobs_per_s"] = N_TP / (time.perf_counter() - t0)
    else:
        before = sizes(runner, req, worker)
        t0 = time.perf_counter()
        for i in range(N_SEQ):
            await one(req, i, "echo_seq")
        out = {
            "jobs": N_SEQ,
            "seconds": time.perf_counter() - t0,
            "before": before,
            "after": sizes(runner, req, worker),
            "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
    await runner.cancel()
    await run
    print(json.dumps(out))

asyncio.run(main())
"""


class Echo(BaseWorker):
    """Answers every job with its payload."""

    @job(name="echo")
    async def echo(self, message: Any) -> None:
        await self.send_job_response(message.job_id, message.payload)

    @job(name="echo_seq", sequential=True)
    async def echo_seq(self, message: Any) -> None:
        await self.send_job_response(message.job_id, message.payload)


async def _one(requester: BaseWorker, i: int, name: str = "echo") -> None:
    async with requester.job("worker", params=JobParams(name=name, payload={"i": i})) as task:
        pass
    assert task.response["i"] == i


def _sizes(runner: WorkerRunner, requester: BaseWorker, worker: Echo) -> dict[str, int]:
    return {
        "watches": runner.registry.watch_count,
        "job_groups": len(requester.job_groups),
        "active_jobs": len(worker.active_jobs),
        "handler_tasks": len(worker._job_server.scopes),
        "sequential_lanes": len(worker._job_server.sequential_lanes),
    }


async def _session(mode: str, n_seq: int, n_tp: int) -> dict[str, Any]:
    runner = WorkerRunner(handle_sigint=False)
    worker, requester = Echo("worker"), BaseWorker("req")
    await runner.add_workers(worker, requester)
    out: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        if mode == "speed":
            one = partial(_one, requester)
            samples = await timed_round_trips(one, n_seq, WARMUP)
            out = {"rtt": samples} if n_seq else {}
            if n_tp:
                t0 = time.perf_counter()
                await saturate(one, n_tp, OUTSTANDING)
                out["jobs_per_s"] = n_tp / (time.perf_counter() - t0)
        else:
            before = _sizes(runner, requester, worker)
            t0 = time.perf_counter()
            for i in range(n_seq):
                await _one(requester, i, "echo_seq")
            out = {
                "jobs": n_seq,
                "seconds": time.perf_counter() - t0,
                "before": before,
                "after": _sizes(runner, requester, worker),
                "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        await runner.cancel()
    return out


def _memory_in_subprocess(jobs: int) -> dict[str, Any]:
    """Our memory run in a fresh interpreter, so the peak RSS is its own."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.jobs_inprocess",
            "--phase",
            "memory",
            "--jobs",
            str(jobs),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rtt_us": min((percentiles(r["rtt"]) for r in results), key=lambda p: p["p50"]),
        "rtt_early_us": min(
            (percentiles(r["rtt"][:EARLY]) for r in results), key=lambda p: p["p50"]
        ),
        "jobs_per_s": round(best(results, "jobs_per_s")),
    }


def _memory_summary(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "jobs": result["jobs"],
        "seconds": round(result["seconds"], 2),
        "tables_before": result["before"],
        "tables_after": result["after"],
        "peak_rss_mib": round(result["peak_rss_kib"] / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=2_000, help="round trips timed")
    parser.add_argument("--throughput", type=int, default=10_000, help="jobs in the 50-wide run")
    parser.add_argument("--jobs", type=int, default=5_000, help="sequential jobs, memory run")
    parser.add_argument("--pipecat-jobs", type=int, default=5_000, help="cap for Pipecat's")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--phase", choices=["all", "memory"], default="all", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "memory":
        print(json.dumps(trio.run(_session, "memory", args.jobs, 0)))
        return

    def ours_round() -> dict[str, Any]:
        # Two fresh sessions: the round trips, then the throughput (see the docstring).
        result = trio.run(_session, "speed", args.sequential, 0)
        result.update(trio.run(_session, "speed", 0, args.throughput))
        return result

    theirs = None
    if pipecat_python():

        def theirs() -> dict[str, Any]:
            result = run_pipecat(PIPECAT_SCRIPT, ["speed", str(args.sequential), "0"])
            result.update(run_pipecat(PIPECAT_SCRIPT, ["speed", "0", str(args.throughput)]))
            return result

    mine, other = alternate(ours_round, theirs, args.rounds)
    doc: dict[str, Any] = {
        "benchmark": "jobs_inprocess",
        "area": "Workers and jobs",
        "sequential_round_trips": args.sequential,
        "throughput_jobs": args.throughput,
        "outstanding": OUTSTANDING,
        "rounds": args.rounds,
        "trio_pipe": _summarise(mine),
    }
    doc["trio_pipe"]["memory"] = _memory_summary(_memory_in_subprocess(args.jobs))
    if other:
        doc["pipecat"] = _summarise(other)
        pipecat_jobs = min(args.jobs, args.pipecat_jobs)
        memory = run_pipecat(PIPECAT_SCRIPT, ["memory", str(pipecat_jobs), "0"], timeout=600)
        doc["pipecat"]["memory"] = _memory_summary(memory)
        whole = f"over {args.sequential} jobs, Pipecat's watch leak included"
        doc["speedup"] = compare(
            mine,
            other,
            {
                "jobs_per_s": Metric("jobs/s, 50 outstanding, fresh session", field("jobs_per_s")),
                "rtt_early_p50": Metric(
                    f"job round trip p50, first {EARLY} of a fresh session",
                    percentile_of("rtt", first=EARLY),
                    False,
                ),
                "rtt_p50": Metric(f"job round trip p50 {whole}", percentile_of("rtt"), False),
                "rtt_p99": Metric(
                    f"job round trip p99 {whole}", percentile_of("rtt", "p99"), False
                ),
            },
        )
        doc["note"] = (
            "Pipecat keeps one registry watch per job() and scans them all on the next one, "
            f"so its round trip grows with the session; rtt_early covers the first {EARLY}."
        )
        doc["targets"] = {"jobs_per_s": ">= 3x", "rtt_p50": "<= 0.5x"}
    else:
        doc["pipecat"] = "not measured: set PIPECAT_PYTHON to a Python with pipecat-ai==1.14.0"
    emit(doc)


if __name__ == "__main__":
    main()
