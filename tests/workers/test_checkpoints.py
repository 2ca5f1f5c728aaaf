"""Every ``async def`` of the worker API is a checkpoint, as Trio users expect (issue 13,
item 10): it can be cancelled and it lets other tasks run."""

from __future__ import annotations

import trio
import trio.testing
from worker_helpers import start_runner

from trio_pipe.bus.messages import BusEndMessage
from trio_pipe.workers import BaseWorker


async def test_worker_and_runner_methods_checkpoint(nursery):
    worker, other = BaseWorker("w"), BaseWorker("other")
    runner = await start_runner(nursery, worker, other)
    with trio.fail_after(5):
        with trio.testing.assert_checkpoints():
            await worker.send_bus_message(BusEndMessage(source="nobody-listens", reason="x"))
        with trio.testing.assert_checkpoints():
            await worker.send_bus_error_message("x")
        with trio.testing.assert_checkpoints():
            await worker.deactivate_worker("other")
        with trio.testing.assert_checkpoints():
            await worker.request_job_update("no-such-job", "other")
        with trio.testing.assert_checkpoints():
            await worker.cancel_job_group("no-such-job")
        with trio.testing.assert_checkpoints():
            await worker.end(reason="done")
        with trio.testing.assert_checkpoints():
            await worker.cancel(reason="done")
        with trio.testing.assert_checkpoints():
            await runner.end()
        with trio.testing.assert_checkpoints():
            await runner.cancel()


async def test_a_cancelled_send_did_not_send(nursery):
    worker, spy_worker = BaseWorker("w"), BaseWorker("spy")
    seen: list[object] = []
    spy_worker.add_event_handler("on_bus_message", lambda w, m: seen.append(m))
    runner = await start_runner(nursery, worker, spy_worker)
    with trio.fail_after(5):
        with trio.CancelScope() as scope:
            scope.cancel()
            await worker.send_bus_message(BusEndMessage(source="w", reason="never"))
        await trio.testing.wait_all_tasks_blocked()
    assert not [m for m in seen if getattr(m, "reason", None) == "never"]
    await runner.cancel()
