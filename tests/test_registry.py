"""WorkerRegistry (spec bus-workers-proxy §4.8)."""

from __future__ import annotations

import logging

from trio_pipe.bus.messages import WorkerReadyData
from trio_pipe.registry import WorkerRegistry


def ready(name: str, runner: str = "r1") -> WorkerReadyData:
    return WorkerReadyData(worker_name=name, runner=runner)


async def test_local_and_remote_filing_and_lookup():
    registry = WorkerRegistry("r1")
    assert await registry.register(ready("a"))
    assert await registry.register(ready("b", "r2"))
    assert registry.local_workers == ["a"]
    assert registry.remote_workers == ["b"]
    assert registry.get("a") == ready("a")
    assert registry.get("b") == ready("b", "r2")
    assert registry.get("ghost") is None
    assert "a" in registry and "b" in registry and "ghost" not in registry
    assert 3 not in registry


async def test_register_twice_for_the_same_runner_is_false_and_silent():
    registry = WorkerRegistry("r1")
    calls = []

    async def handler(data):
        calls.append(data)

    await registry.watch("a", handler)
    assert await registry.register(ready("a"))
    assert not await registry.register(ready("a"))
    assert calls == [ready("a")]


async def test_same_name_on_another_runner_warns_files_and_notifies(caplog):
    registry = WorkerRegistry("r1")
    calls = []

    async def handler(data):
        calls.append(data.runner)

    await registry.watch("a", handler)
    await registry.register(ready("a"))
    with caplog.at_level(logging.WARNING):
        assert await registry.register(ready("a", "r2"))
    assert "registered on both" in caplog.text
    assert calls == ["r1", "r2"]
    assert registry.get("a").runner == "r1"  # local first


async def test_watch_fires_at_once_if_registered_and_is_idempotent():
    registry = WorkerRegistry("r1")
    await registry.register(ready("a"))
    calls = []

    async def handler(data):
        calls.append(data.worker_name)

    await registry.watch("a", handler)
    await registry.watch("a", handler)  # equal handler: nothing
    assert calls == ["a"]
    assert registry.watch_count == 1


async def test_handlers_run_in_the_order_added():
    registry = WorkerRegistry("r1")
    order = []
    for i in range(3):

        async def handler(data, i=i):
            order.append(i)

        await registry.watch("a", handler)
    await registry.register(ready("a"))
    assert order == [0, 1, 2]


async def test_unwatch_removes_and_leaves_no_state():
    registry = WorkerRegistry("r1")
    calls = []

    async def handler(data):
        calls.append(data)

    await registry.watch("a", handler)
    registry.unwatch("a", handler)
    registry.unwatch("a", handler)  # unknown: ignored
    registry.unwatch("never", handler)
    assert registry.watch_count == 0
    assert registry._watches == {}
    await registry.register(ready("a"))
    assert calls == []


async def test_a_handler_may_unwatch_itself_while_notified():
    registry = WorkerRegistry("r1")
    calls = []

    async def first(data):
        calls.append("first")
        registry.unwatch("a", first)

    async def second(data):
        calls.append("second")

    await registry.watch("a", first)
    await registry.watch("a", second)
    await registry.register(ready("a"))
    assert calls == ["first", "second"]
    assert registry.watch_count == 1


async def test_a_raising_handler_is_logged_and_others_still_run(caplog):
    registry = WorkerRegistry("r1")
    calls = []

    async def bad(data):
        raise RuntimeError("boom")

    async def good(data):
        calls.append(data.worker_name)

    await registry.watch("a", bad)
    await registry.watch("a", good)
    with caplog.at_level(logging.ERROR):
        assert await registry.register(ready("a"))
    assert calls == ["a"]
    assert registry.watch_errors == 1
    assert "boom" in caplog.text
