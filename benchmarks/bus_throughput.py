"""In-process bus: delivered messages/s (1 and 4 subscribers) and send-to-handler latency.

The workload of Pipecat's in-process bus: a producer sends data messages in batches of 100
(yielding to the scheduler between batches); every subscriber counts them. Latency: one
message at a time, from ``send`` to the moment the subscriber's handler runs.

    python benchmarks/bus_throughput.py [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import time

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
from trio_pipe.bus.bus import LocalBus
from trio_pipe.bus.messages import BusJobUpdateMessage

BATCH = 100

PIPECAT_SCRIPT = r"""
import asyncio, json, sys, time
from pipecat.bus.local.async_queue import AsyncQueueBus
from pipecat.bus.messages import BusJobUpdateMessage
from pipecat.bus.subscriber import BusSubscriber
from pipecat.utils.asyncio.task_manager import TaskManager

N, LAT, BATCH = int(sys.argv[1]), int(sys.argv[2]), 100

class Counter(BusSubscriber):
    def __init__(self, name, target, done):
        self._name, self.count, self.target, self.done = name, 0, target, done
    @property
    def name(self):
        return self._name
    async def on_bus_message(self, message):
        self.count += 1
        if self.count == self.target:
            self.done.set()

class Stamp(BusSubscriber):
    def __init__(self):
        self.event, self.at = asyncio.Event(), 0.0
    @property
    def name(self):
        return "stamp"
    async def on_bus_message(self, message):
        self.at = time.perf_counter()
        self.event.set()

async def bus():
    b = AsyncQueueBus()
    await b.setup(TaskManager(loop=asyncio.get_running_loop()))
    return b

async def throughput(n_subs):
    b = await bus()
    subs = [Counter(f"s{i}", N, asyncio.Event()) for i in range(n_subs)]
    for s in subs:
        await b.subscribe(s)
    await b.start()
    t0 = time.perf_counter()
    for i in range(N):
        await b.send(BusJobUpdateMessage(source="a", job_id="j"))
        if i % BATCH == BATCH - 1:
            await asyncio.sleep(0)
    for s in subs:
        await s.done.wait()
    elapsed = time.perf_counter() - t0
    await b.stop()
    return N * n_subs / elapsed

async def latency():
    b = await bus()
    s = Stamp()
    await b.subscribe(s)
    await b.start()
    samples = []
    for _ in range(LAT):
        s.event.clear()
        t0 = time.perf_counter()
        await b.send(BusJobUpdateMessage(source="a", job_id="j"))
        await s.event.wait()
        samples.append(s.at - t0)
    await b.stop()
    return samples

async def main():
    r1 = await throughput(1)
    r4 = await throughput(4)
    lat = await latency()
    print(json.dumps({"msgs_per_s_1": r1, "deliveries_per_s_4": r4, "latency": lat}))

asyncio.run(main())
"""


class _Counter:
    def __init__(self, name: str, target: int) -> None:
        self.name = name
        self.count = 0
        self.target = target
        self.done = trio.Event()

    def accepts_bus_message(self, message: object) -> bool:
        return True

    async def on_bus_message(self, message: object) -> None:
        self.count += 1
        if self.count == self.target:
            self.done.set()


class _Stamp:
    name = "stamp"

    def __init__(self) -> None:
        self.event = trio.Event()
        self.at = 0.0

    def accepts_bus_message(self, message: object) -> bool:
        return True

    async def on_bus_message(self, message: object) -> None:
        self.at = time.perf_counter()
        self.event.set()


async def _throughput(n: int, n_subs: int) -> float:
    bus = LocalBus()
    subs = [_Counter(f"s{i}", n) for i in range(n_subs)]
    for sub in subs:
        bus.subscribe(sub)
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        t0 = time.perf_counter()
        for i in range(n):
            bus.send(BusJobUpdateMessage(source="a", job_id="j"))
            if i % BATCH == BATCH - 1:
                await trio.lowlevel.checkpoint()
        for sub in subs:
            await sub.done.wait()
        elapsed = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return n * n_subs / elapsed


async def _latency(count: int) -> list[float]:
    bus = LocalBus()
    stamp = _Stamp()
    bus.subscribe(stamp)
    samples = []
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        for _ in range(count):
            stamp.event = trio.Event()
            t0 = time.perf_counter()
            bus.send(BusJobUpdateMessage(source="a", job_id="j"))
            await stamp.event.wait()
            samples.append(stamp.at - t0)
        nursery.cancel_scope.cancel()
    return samples


def _ours(n: int, lat: int) -> dict:
    async def main() -> dict:
        return {
            "msgs_per_s_1": await _throughput(n, 1),
            "deliveries_per_s_4": await _throughput(n, 4),
            "latency": await _latency(lat),
        }

    return trio.run(main)


def _summarise(results: list[dict]) -> dict:
    return {
        "msgs_per_s_1": round(best(results, "msgs_per_s_1")),
        "deliveries_per_s_4": round(best(results, "deliveries_per_s_4")),
        "latency_us": min((percentiles(r["latency"]) for r in results), key=lambda p: p["p50"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--latency-samples", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    args = parser.parse_args()
    n, lat = args.messages, args.latency_samples

    theirs = None
    if pipecat_python():

        def theirs() -> dict:
            return run_pipecat(PIPECAT_SCRIPT, [str(n), str(lat)])

    mine, other = alternate(lambda: _ours(n, lat), theirs, args.rounds)
    doc: dict = {
        "benchmark": "bus_throughput",
        "area": "Bus",
        "messages": n,
        "rounds": args.rounds,
        "trio_pipe": _summarise(mine),
    }
    if other:
        doc["pipecat"] = _summarise(other)
        doc["speedup"] = compare(
            mine,
            other,
            {
                "msgs_per_s_1": Metric("messages/s, 1 subscriber", field("msgs_per_s_1")),
                "deliveries_per_s_4": Metric(
                    "deliveries/s, 4 subscribers", field("deliveries_per_s_4")
                ),
                "latency_p50": Metric(
                    "send-to-handler latency p50", percentile_of("latency"), False
                ),
            },
        )
        doc["targets"] = {"msgs_per_s": ">= 3x", "latency_p50": "<= 0.5x"}
    else:
        doc["pipecat"] = "not measured: set PIPECAT_PYTHON to a Python with pipecat-ai==1.14.0"
    emit(doc)


if __name__ == "__main__":
    main()
