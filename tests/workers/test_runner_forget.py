"""The runner's policy for finished workers (spec §9.11, per-connection proxies).

A worker added while the runner runs is forgotten once it finishes: its entry, its local
registry entry and its registry watches go, and its name can be used again. Workers added
before ``run`` stay listed after they finish (``get_worker``), as before.
"""

from __future__ import annotations

from functools import partial

import pytest
from worker_helpers import settle, start_runner

from trio_pipe.bus.messages import BusAddWorkerMessage, WorkerReadyData
from trio_pipe.registry import WorkerRegistry
from trio_pipe.workers import BaseWorker, JobError, JobParams, WorkerRunner


async def test_a_worker_added_while_running_is_forgotten_when_it_finishes(nursery):
    static = BaseWorker("static")
    runner = await start_runner(nursery, static)
    for _ in range(3):  # the same name, again and again
        dynamic = BaseWorker("conn")
        await runner.add_workers(dynamic)
        await settle()
        assert runner.get_worker("conn") is dynamic and "conn" in runner.registry
        await dynamic.stop()
        await settle()
        assert runner.get_worker("conn") is None and "conn" not in runner.registry
    await static.stop()  # with auto_end the session ends here
    await settle()
    assert runner.get_worker("static") is static  # added before run: kept


async def test_children_made_on_demand_are_forgotten_too(nursery):
    parent = BaseWorker("parent")
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(parent)
    await nursery.start(partial(runner.run, auto_end=False))
    child = BaseWorker("child")
    runner.bus.send(BusAddWorkerMessage(worker=child, source="parent"))
    await settle()
    assert runner.get_worker("child") is child
    await child.stop()
    await settle()
    assert runner.get_worker("child") is None and runner.get_worker("parent") is parent


async def test_a_finished_worker_leaves_no_registry_watch(nursery):
    watcher = BaseWorker("watcher")
    runner = await start_runner(nursery, BaseWorker("keep"))
    before = runner.registry.watch_count
    await runner.add_workers(watcher)
    await settle()
    await watcher.watch_workers("somebody", "keep")
    assert runner.registry.watch_count == before + 3  # runner's own, and two of its own
    await watcher.stop()
    await settle()
    assert runner.registry.watch_count == before


async def test_a_job_for_a_forgotten_worker_waits_for_it_to_come_back(nursery, autojump_clock):
    """The registry no longer lists a forgotten worker, so ``job()`` waits for it to be
    ready again (and times out) instead of sending into the void."""
    keep = BaseWorker("keep")
    runner = await start_runner(nursery, keep)
    gone = BaseWorker("gone")
    await runner.add_workers(gone)
    await settle()
    await gone.stop()
    await settle()
    with pytest.raises(JobError, match="not ready"):
        async with keep.job("gone", params=JobParams(timeout=1)):
            pass


async def test_registry_unregister():
    registry = WorkerRegistry("r")
    await registry.register(WorkerReadyData("w", "r"))
    assert registry.unregister("w") and not registry.unregister("w")
    assert "w" not in registry
    seen = []

    async def watch(data):
        seen.append(data.worker_name)

    await registry.watch("w", watch)
    assert await registry.register(WorkerReadyData("w", "r"))  # registers, watchers fire
    assert seen == ["w"]
