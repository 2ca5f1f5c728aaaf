"""UI round trips through a PipelineWorker that owns RTVI: client event in, command out.

Workload (the same on both sides, Pipecat 1.14 in a subprocess through PIPECAT_PYTHON),
in-process, no sockets: a PipelineWorker whose pipeline is two stand-ins for a transport
(``ClientIn`` pushes a client message upstream to the RTVI processor, ``ClientOut``
catches what would go to the client), and a responder worker that answers every
``BusUIEventMessage`` with a ``BusUICommandMessage`` (a plain worker on both sides,
since Pipecat's UIWorker needs an LLM). One round trip: the ``ui-event`` enters the
pipeline, RTVI republishes it on the bus, the responder answers, the PipelineWorker
turns the command into a ``ui-command`` envelope and it reaches ``ClientOut``.

* round trip: one at a time, p50/p99 in microseconds;
* events/s: a burst of ``--burst`` events, until every command came back.

    python -m benchmarks.ui_roundtrip [--sequential N] [--burst N] [--rounds N] [--quick]
"""

from __future__ import annotations

import argparse
import time
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
)
from trio_pipe.bus.ui import BusUICommandMessage, BusUIEventMessage
from trio_pipe.frames import Frame, InputTransportMessageFrame, OutputTransportMessageUrgentFrame
from trio_pipe.pipeline import Pipeline
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.workers import BaseWorker, WorkerRunner
from trio_pipe.workers.pipeline_worker import PipelineWorker

WARMUP = 50

PIPECAT_SCRIPT = r"""
import asyncio, json, sys, time
from pipecat.bus.ui.messages import BusUICommandMessage, BusUIEventMessage
from pipecat.frames.frames import InputTransportMessageFrame, OutputTransportMessageUrgentFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.base_worker import BaseWorker
from pipecat.workers.runner import WorkerRunner

N_SEQ, N_BURST, WARMUP = int(sys.argv[1]), int(sys.argv[2]), 50

class ClientIn(FrameProcessor):
    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)

class ClientOut(FrameProcessor):
    def __init__(self):
        super().__init__()
        self.expect, self.got, self.done = 0, 0, asyncio.Event()
    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, OutputTransportMessageUrgentFrame):
            if frame.message.get("type") == "ui-command":
                self.got += 1
                if self.got >= self.expect:
                    self.done.set()
        else:
            await self.push_frame(frame, direction)

class Responder(BaseWorker):
    async def on_bus_message(self, message):
        await super().on_bus_message(message)
        if isinstance(message, BusUIEventMessage):
            await self.send_bus_message(BusUICommandMessage(
                source=self.name, command_name="ack", payload=message.payload))

def event(i):
    data = {"event": "e", "payload": {"i": i}}
    return {"label": "rtvi-ai", "type": "ui-event", "id": str(i), "data": data}

async def trips(cin, cout, n, start):
    cout.got, cout.expect, cout.done = 0, n, asyncio.Event()
    for i in range(n):
        frame = InputTransportMessageFrame(message=event(start + i))
        await cin.push_frame(frame, FrameDirection.UPSTREAM)
    await cout.done.wait()

async def main():
    cin, cout = ClientIn(), ClientOut()
    voice = PipelineWorker(Pipeline([cin, cout]), name="voice", idle_timeout_secs=None)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(voice, Responder("ui"))
    ready = asyncio.Event()
    @runner.event_handler("on_ready")
    async def on_ready(r):
        ready.set()
    run = asyncio.create_task(runner.run())
    await ready.wait()
    await asyncio.sleep(0.2)
    for i in range(WARMUP):
        await trips(cin, cout, 1, i)
    samples = []
    for i in range(N_SEQ):
        t0 = time.perf_counter()
        await trips(cin, cout, 1, i)
        samples.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    await trips(cin, cout, N_BURST, 0)
    out = {"rtt": samples, "events_per_s": N_BURST / (time.perf_counter() - t0)}
    await runner.cancel()
    await run
    print(json.dumps(out))

asyncio.run(main())
"""


class ClientIn(FrameProcessor):
    """Stands for the input transport: pushes client messages to the RTVI processor."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class ClientOut(FrameProcessor):
    """Stands for the output transport: counts the ``ui-command`` envelopes."""

    def __init__(self) -> None:
        super().__init__()
        self.expect, self.got, self.done = 0, 0, trio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, OutputTransportMessageUrgentFrame):
            if frame.message.get("type") == "ui-command":
                self.got += 1
                if self.got >= self.expect:
                    self.done.set()
        else:
            await self.push_frame(frame, direction)


class Responder(BaseWorker):
    """Answers every client event with a command (what ``send_command`` publishes)."""

    async def on_bus_message(self, message: Any) -> None:
        await super().on_bus_message(message)
        if isinstance(message, BusUIEventMessage):
            await self.send_bus_message(
                BusUICommandMessage(source=self.name, command_name="ack", payload=message.payload)
            )


def _event(i: int) -> dict[str, Any]:
    return {
        "label": "rtvi-ai",
        "type": "ui-event",
        "id": str(i),
        "data": {"event": "e", "payload": {"i": i}},
    }


async def _trips(cin: ClientIn, cout: ClientOut, n: int, start: int) -> None:
    cout.got, cout.expect, cout.done = 0, n, trio.Event()
    for i in range(n):
        message = InputTransportMessageFrame(message=_event(start + i))
        await cin.push_frame(message, FrameDirection.UPSTREAM)
    await cout.done.wait()


async def _session(n_seq: int, n_burst: int) -> dict[str, Any]:
    cin, cout = ClientIn(), ClientOut()
    voice = PipelineWorker(Pipeline([cin, cout]), name="voice")
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(voice, Responder("ui"))
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        for i in range(WARMUP):
            await _trips(cin, cout, 1, i)
        samples = []
        for i in range(n_seq):
            t0 = time.perf_counter()
            await _trips(cin, cout, 1, i)
            samples.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await _trips(cin, cout, n_burst, 0)
        out = {"rtt": samples, "events_per_s": n_burst / (time.perf_counter() - t0)}
        await runner.cancel()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=1_000, help="round trips timed")
    parser.add_argument("--burst", type=int, default=200, help="events in the burst")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 trips, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.sequential, args.rounds = 200, 1
    # The burst stays under RTVIProcessor.MESSAGE_QUEUE_SIZE: beyond it client messages
    # are dropped (Pipecat's queue is unbounded).
    args.burst = min(args.burst, 250)
    theirs = None
    if pipecat_python():

        def theirs() -> dict[str, Any]:
            return run_pipecat(PIPECAT_SCRIPT, [str(args.sequential), str(args.burst)])

    mine, other = alternate(
        lambda: trio.run(_session, args.sequential, args.burst), theirs, args.rounds
    )

    def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
        if not results:
            return {}
        return {
            "rtt_us": min((percentiles(r["rtt"]) for r in results), key=lambda p: p["p50"]),
            "events_per_s": round(best(results, "events_per_s")),
        }

    ours, pipecat = summary(mine), summary(other)
    doc: dict[str, Any] = {
        "benchmark": "ui_roundtrip",
        "area": "UI and RTVI",
        "workload": {"sequential": args.sequential, "burst": args.burst, "rounds": args.rounds},
        "rounds": args.rounds,
        "trio_pipe": ours,
        "pipecat": pipecat or "skipped: set PIPECAT_PYTHON to compare",
    }
    if other:
        doc["speedup"] = compare(
            mine,
            other,
            {
                "rtt_p50": Metric(
                    "UI event to command round trip p50", percentile_of("rtt"), False
                ),
                "events_per_s": Metric("UI events/s, burst", field("events_per_s")),
            },
        )
    emit(doc)


if __name__ == "__main__":
    main()
