"""Jobs between two workers on one in-process bus: round trips, jobs/s, memory.

Workload (the same on both sides, Pipecat 1.14 in a subprocess through PIPECAT_PYTHON):
a requester worker and an echo worker on one runner with an in-process bus.

* round trip: one ``async with requester.job("worker", ...)`` at a time (request, echo
  handler answers, context exits); p50/p99 in microseconds, over all of them and over the
  first 250 (Pipecat's grow slower as its leaked watches pile up);
* jobs/s: 50 clients, each running jobs back to back, so 50 are always outstanding;
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
    alternate,
    best,
    emit,
    percentiles,
    pipecat_python,
    ratio,
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
        remaining = [N_TP]

        async def client():
            while remaining[0] > 0:
                remaining[0] -= 1
                await one(req, remaining[0])

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(OUT)))
        out = {"rtt": samples, "jobs_per_s": N_TP / (time.perf_counter() - t0)}
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
        "handler_tasks": len(worker._job_scopes),
        "sequential_lanes": len(worker._sequential_lanes),
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
            t0 = time.perf_counter()
            await saturate(one, n_tp, OUTSTANDING)
            out = {"rtt": samples, "jobs_per_s": n_tp / (time.perf_counter() - t0)}
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
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--phase", choices=["all", "memory"], default="all", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "memory":
        print(json.dumps(trio.run(_session, "memory", args.jobs, 0)))
        return

    theirs = None
    if pipecat_python():

        def theirs() -> dict[str, Any]:
            return run_pipecat(
                PIPECAT_SCRIPT, ["speed", str(args.sequential), str(args.throughput)]
            )

    mine, other = alternate(
        lambda: trio.run(_session, "speed", args.sequential, args.throughput), theirs, args.rounds
    )
    doc: dict[str, Any] = {
        "benchmark": "jobs_inprocess",
        "sequential_round_trips": args.sequential,
        "throughput_jobs": args.throughput,
        "outstanding": OUTSTANDING,
        "trio_pipe": _summarise(mine),
    }
    doc["trio_pipe"]["memory"] = _memory_summary(_memory_in_subprocess(args.jobs))
    if other:
        doc["pipecat"] = _summarise(other)
        pipecat_jobs = min(args.jobs, args.pipecat_jobs)
        memory = run_pipecat(PIPECAT_SCRIPT, ["memory", str(pipecat_jobs), "0"], timeout=600)
        doc["pipecat"]["memory"] = _memory_summary(memory)
        ours, theirs_s = doc["trio_pipe"], doc["pipecat"]
        doc["ratio"] = {
            "jobs_per_s": ratio(ours["jobs_per_s"], theirs_s["jobs_per_s"]),
            "rtt_p50": ratio(ours["rtt_us"]["p50"], theirs_s["rtt_us"]["p50"]),
            "rtt_p99": ratio(ours["rtt_us"]["p99"], theirs_s["rtt_us"]["p99"]),
            "rtt_early_p50": ratio(ours["rtt_early_us"]["p50"], theirs_s["rtt_early_us"]["p50"]),
        }
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
