"""RegistryExchange: a runner files other runners' workers and answers each runner once."""

from __future__ import annotations

import attrs
import trio

from trio_pipe.bus.messages import BusMessage, BusWorkerRegistryMessage, WorkerRegistryEntry
from trio_pipe.registry import WorkerRegistry
from trio_pipe.workers.registry_exchange import RegistryExchange


@attrs.define
class Local:
    name: str
    parent: str | None = None
    active: bool = True
    bridged: bool = False
    started_at: float | None = 1.0


async def test_learns_remote_workers_and_answers_each_runner_once() -> None:
    with trio.fail_after(5):
        sent: list[BusMessage] = []
        registry = WorkerRegistry("a")
        exchange = RegistryExchange("a", registry, sent.append, lambda: [Local("voice")])
        news = BusWorkerRegistryMessage(
            runner="b", workers=[WorkerRegistryEntry(name="research")], source="b"
        )
        await exchange.learn(news)
        await exchange.learn(news)  # the same runner again: filed, not answered again
        assert "research" in registry and exchange.known_runners == {"b"}
        (answer,) = sent
        assert isinstance(answer, BusWorkerRegistryMessage) and answer.runner == "a"
        assert [(w.name, w.started_at) for w in answer.workers] == [("voice", 1.0)]
        await exchange.learn(attrs.evolve(news, runner="a"))  # our own: ignored
        assert len(sent) == 1


def test_announces_nothing_without_workers() -> None:
    sent: list[BusMessage] = []
    RegistryExchange("a", WorkerRegistry("a"), sent.append, list).announce()
    assert sent == []
