"""Event handlers see a source's events in the order they happened, and a slow handler
never stalls the worker's receive loop (issue 13, item 2)."""

from __future__ import annotations

from typing import Any

import trio
import trio.lowlevel
from worker_helpers import settle, start_runner

from trio_pipe.bus.messages import BusMessage
from trio_pipe.workers import BaseWorker, JobParams, job

N_1000 = {"n": 1000}


class Counter(BaseWorker):
    """``count`` sends ``n`` progress updates (or stream chunks), then answers."""

    @job(name="count")
    async def count(self, message: Any) -> None:
        for i in range(message.payload["n"]):
            await self.send_job_update(message.job_id, {"i": i})
        await self.send_job_response(message.job_id, {"done": True})

    @job(name="stream")
    async def stream(self, message: Any) -> None:
        await self.send_job_stream_start(message.job_id, {"i": "start"})
        for i in range(message.payload["n"]):
            await self.send_job_stream_data(message.job_id, {"i": i})
        await self.send_job_stream_end(message.job_id, {"i": "end"})


async def count_once(run: int) -> None:
    async with trio.open_nursery() as nursery:
        counter, requester = Counter("counter"), BaseWorker("requester")
        seen: list[int] = []

        @requester.event_handler("on_job_update")
        async def on_update(worker: BaseWorker, message: Any) -> None:
            seen.append(message.update["i"])
            await trio.lowlevel.checkpoint()  # a handler that yields, as real ones do

        runner = await start_runner(nursery, counter, requester)
        async with requester.job("counter", params=JobParams(name="count", payload=N_1000)):
            pass
        await settle()
        assert seen == list(range(1000)), f"run {run}: out of order"
        await runner.cancel()


async def test_a_thousand_job_updates_reach_on_job_update_in_order_over_100_runs():
    for run in range(100):
        with trio.fail_after(20):
            await count_once(run)


async def stream_once() -> None:
    async with trio.open_nursery() as nursery:
        counter, requester = Counter("counter"), BaseWorker("requester")
        log: list[Any] = []

        async def record(worker: BaseWorker, message: Any) -> None:
            log.append(message.data["i"] if hasattr(message, "data") else "completed")
            await trio.lowlevel.checkpoint()

        for event in (
            "on_job_stream_start",
            "on_job_stream_data",
            "on_job_stream_end",
            "on_job_completed",
        ):
            requester.add_event_handler(event, record)
        runner = await start_runner(nursery, counter, requester)
        params = JobParams(name="stream", payload={"n": 50})
        await requester.request_job("counter", params=params)
        await settle()
        assert log == ["start", *range(50), "end", "completed"]
        await runner.cancel()


async def test_a_jobs_stream_events_and_its_completion_arrive_in_order_across_events():
    for _ in range(20):
        with trio.fail_after(10):
            await stream_once()


async def test_a_stuck_handler_neither_stalls_the_worker_nor_grows_without_bound():
    counter, requester = Counter("counter"), BaseWorker("requester")
    requester.event_queue_limit = 5
    release = trio.Event()
    handled: list[BusMessage] = []

    @requester.event_handler("on_bus_message")
    async def stuck(worker: BaseWorker, message: BusMessage) -> None:
        handled.append(message)
        await release.wait()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            runner = await start_runner(nursery, counter, requester)
            # 100 updates + a response: the job completes although on_bus_message is stuck
            async with requester.job(
                "counter", params=JobParams(name="count", payload={"n": 100})
            ) as t:
                pass
            assert t.response == {"done": True}
            await settle()
            assert len(handled) == 1
            assert requester.event_handler_drops > 0  # counted, not queued without limit
            release.set()
            await settle()
            assert 1 < len(handled) <= 1 + 5  # the lane kept at most the limit
            await runner.cancel()
