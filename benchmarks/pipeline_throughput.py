"""Pipeline runtime: frames/s through 5 pass-through processors, and how fast a system frame
overtakes 1,000 queued data frames.

Throughput: N TextFrames queued into a running pipeline; the clock stops when the last
one leaves the fifth processor. Overtaking: the first processor holds its data lane
(1,000 TextFrames wait behind a blocked one); a system frame queued then is timed from
``queue_frame`` to the fifth processor. Each throughput and overtaking phase runs on a
fresh pipeline. Pipecat 1.14 runs the same workload in a subprocess, rounds alternating,
in two configurations (both sides the same work in each):

* ``bare``: the runtime alone. Ours: a ``PipelineTask``. Pipecat's: its
  ``PipelineWorker`` (``PipelineTask`` is an alias of it in 1.14) with RTVI, turn
  tracking and the idle timeout off, under a ``WorkerRunner``;
* ``worker``: as users run them, each side's ``PipelineWorker`` with its defaults (RTVI
  on: ours puts an ``RTVIProcessor`` first; Pipecat's adds its ``RTVIProcessor`` and
  ``RTVIObserver``, and its turn-tracking observer) under a ``WorkerRunner``.

    python benchmarks/pipeline_throughput.py [--frames N] [--samples S] [--rounds R]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import attrs
import trio

from benchmarks._harness import (
    MIN_ROUNDS,
    Metric,
    alternate,
    compare,
    emit,
    field,
    median_of,
    percentile_of,
    percentiles,
    pipecat_python,
    run_pipecat,
)
from trio_pipe.frames import Frame, SystemFrame, TextFrame
from trio_pipe.pipeline import Pipeline, PipelineTask
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.workers import PipelineWorker, WorkerRunner

QUEUED = 1000

PIPECAT_SCRIPT = r"""
import asyncio, json, sys, time
from dataclasses import dataclass
from pipecat.frames.frames import EndFrame, SystemFrame, TextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.workers.runner import WorkerRunner

N, SAMPLES, QUEUED, CONFIG = int(sys.argv[1]), int(sys.argv[2]), 1000, sys.argv[3]

@dataclass
class Ping(SystemFrame):
    pass

class Pass(FrameProcessor):
    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)

class Gate(Pass):
    def __init__(self):
        super().__init__()
        self.open = asyncio.Event()
        self.open.set()
    async def process_frame(self, frame, direction):
        if isinstance(frame, TextFrame) and not self.open.is_set():
            await self.open.wait()
        await super().process_frame(frame, direction)

class Stamp(Pass):
    def __init__(self):
        super().__init__()
        self.texts, self.target, self.done = 0, 0, asyncio.Event()
        self.ping, self.ping_at = asyncio.Event(), 0.0
    async def process_frame(self, frame, direction):
        if isinstance(frame, TextFrame):
            self.texts += 1
            if self.texts == self.target:
                self.done.set()
        elif isinstance(frame, Ping):
            self.ping_at = time.perf_counter()
            self.ping.set()
        await super().process_frame(frame, direction)

async def run(body):
    gate, stamp = Gate(), Stamp()
    pipeline = Pipeline([gate, Pass(), Pass(), Pass(), stamp])
    if CONFIG == "bare":
        worker = PipelineWorker(
            pipeline, enable_rtvi=False, enable_turn_tracking=False, idle_timeout_secs=None
        )
    else:  # as users run it: the defaults
        worker = PipelineWorker(pipeline)
    runner = WorkerRunner(handle_sigint=False)
    result = {}
    async def drive():
        await asyncio.sleep(0.3)
        result.update(await body(worker, gate, stamp))
        await worker.queue_frame(EndFrame())
    await asyncio.gather(runner.run(worker), drive())
    return result

async def throughput(worker, gate, stamp):
    frames = [TextFrame(text="x") for _ in range(N)]
    stamp.texts, stamp.target, stamp.done = 0, N, asyncio.Event()
    t0 = time.perf_counter()
    for f in frames:
        await worker.queue_frame(f)
    await stamp.done.wait()
    return {"frames_per_s": N / (time.perf_counter() - t0)}

async def overtake(worker, gate, stamp):
    samples = []
    for _ in range(SAMPLES):
        gate.open.clear()
        stamp.texts, stamp.target, stamp.done = 0, QUEUED, asyncio.Event()
        for _ in range(QUEUED):
            await worker.queue_frame(TextFrame(text="x"))
        await asyncio.sleep(0.02)
        stamp.ping = asyncio.Event()
        t0 = time.perf_counter()
        await worker.queue_frame(Ping())
        await stamp.ping.wait()
        samples.append(stamp.ping_at - t0)
        gate.open.set()
        await stamp.done.wait()
    return {"overtake": samples}

async def main():
    out = await run(throughput)
    out.update(await run(overtake))
    print(json.dumps(out))

import warnings
warnings.simplefilter("ignore")
asyncio.run(main())
"""


@attrs.define
class Ping(SystemFrame):
    """A system frame that overtakes queued data."""


class Pass(FrameProcessor):
    """Pass-through stage."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class Gate(Pass):
    """Holds its data lane while ``open`` is not set (a set trio.Event still checkpoints
    in ``wait()``, so it is only awaited when closed, as asyncio's returns at once)."""

    def __init__(self) -> None:
        super().__init__()
        self.open = trio.Event()
        self.open.set()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TextFrame) and not self.open.is_set():
            await self.open.wait()
        await super().process_frame(frame, direction)


class Stamp(Pass):
    """Counts TextFrames and stamps the Ping's arrival."""

    def __init__(self) -> None:
        super().__init__()
        self.texts, self.target, self.done = 0, 0, trio.Event()
        self.ping, self.ping_at = trio.Event(), 0.0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TextFrame):
            self.texts += 1
            if self.texts == self.target:
                self.done.set()
        elif isinstance(frame, Ping):
            self.ping_at = time.perf_counter()
            self.ping.set()
        await super().process_frame(frame, direction)


CONFIGS = ("bare", "worker")


async def _run(body, config: str) -> dict:
    gate, stamp = Gate(), Stamp()
    pipeline = Pipeline([gate, Pass(), Pass(), Pass(), stamp])
    async with trio.open_nursery() as nursery:
        if config == "bare":
            task: PipelineTask | PipelineWorker = PipelineTask(pipeline)
            await nursery.start(task.run)
        else:  # as users run it: a PipelineWorker with its defaults (RTVI on)
            task = PipelineWorker(pipeline)
            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(task)
            await nursery.start(runner.run)
        result = await body(task, gate, stamp)
        await task.stop_when_done()
    return result


def _throughput(n: int):
    async def body(task: Any, gate: Gate, stamp: Stamp) -> dict:
        frames = [TextFrame(text="x") for _ in range(n)]
        stamp.texts, stamp.target, stamp.done = 0, n, trio.Event()
        t0 = time.perf_counter()
        for frame in frames:
            await task.queue_frame(frame)
        await stamp.done.wait()
        return {"frames_per_s": n / (time.perf_counter() - t0)}

    return body


def _overtake(samples: int):
    async def body(task: Any, gate: Gate, stamp: Stamp) -> dict:
        out = []
        for _ in range(samples):
            gate.open = trio.Event()
            stamp.texts, stamp.target, stamp.done = 0, QUEUED, trio.Event()
            for _ in range(QUEUED):
                await task.queue_frame(TextFrame(text="x"))
            await trio.sleep(0.02)
            stamp.ping = trio.Event()
            t0 = time.perf_counter()
            await task.queue_frame(Ping())
            await stamp.ping.wait()
            out.append(stamp.ping_at - t0)
            gate.open.set()
            await stamp.done.wait()
        return {"overtake": out}

    return body


def _ours(n: int, samples: int, config: str) -> dict:
    async def main() -> dict:
        result = await _run(_throughput(n), config)
        result.update(await _run(_overtake(samples), config))
        return result

    return trio.run(main)


def _summarise(results: list[dict]) -> dict:
    return {
        "frames_per_s": round(median_of(results, field("frames_per_s"))),
        "overtake_1000_us": min(
            (percentiles(r["overtake"]) for r in results), key=lambda p: p["p50"]
        ),
    }


LABELS = {
    "bare": "both bare",
    "worker": "both as users run them (PipelineWorker, RTVI)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    args = parser.parse_args()
    n, samples = args.frames, args.samples
    doc: dict = {
        "benchmark": "pipeline_throughput",
        "area": "Pipeline",
        "processors": 5,
        "frames": n,
        "queued_data_frames": QUEUED,
        "rounds": args.rounds,
        "configs": LABELS,
    }
    speedup: dict[str, Any] = {}
    for config in args.configs:
        theirs = None
        if pipecat_python():

            def theirs(config: str = config) -> dict:
                return run_pipecat(PIPECAT_SCRIPT, [str(n), str(samples), config])

        mine, other = alternate(
            lambda config=config: _ours(n, samples, config), theirs, args.rounds
        )
        doc.setdefault("trio_pipe", {})[config] = _summarise(mine)
        if other:
            doc.setdefault("pipecat", {})[config] = _summarise(other)
            speedup |= compare(
                mine,
                other,
                {
                    f"frames_per_s.{config}": Metric(
                        f"frames/s through 5 processors, {LABELS[config]}", field("frames_per_s")
                    ),
                    f"overtake_p50.{config}": Metric(
                        f"system frame overtaking 1,000 queued, p50, {LABELS[config]}",
                        percentile_of("overtake"),
                        False,
                    ),
                },
            )
    if speedup:
        doc["speedup"] = speedup
        doc["targets"] = {"frames_per_s": ">= 2x"}
    else:
        doc["pipecat"] = "not measured: set PIPECAT_PYTHON to a Python with pipecat-ai==1.14.0"
    emit(doc)


if __name__ == "__main__":
    main()
