"""Helpers for the worker and runner tests: spies, recording workers, a fake network."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from trio_pipe.bus.bus import LocalBus, WorkerBus
from trio_pipe.bus.messages import BusMessage
from trio_pipe.workers import BaseWorker, WorkerRunner


class Spy:
    """A plain bus subscriber that records every message it is given."""

    def __init__(self, name: str = "spy") -> None:
        self.name = name
        self.seen: list[BusMessage] = []

    def accepts_bus_message(self, message: BusMessage) -> bool:
        return True

    async def on_bus_message(self, message: BusMessage) -> None:
        self.seen.append(message)

    def of(self, cls: type | tuple[type, ...]) -> list[Any]:
        return [m for m in self.seen if isinstance(m, cls)]


class RecordingBus(LocalBus):
    """A LocalBus that remembers what was sent and what was published, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[BusMessage] = []
        self.published: list[BusMessage] = []

    def send(self, message: BusMessage) -> None:
        self.sent.append(message)
        super().send(message)

    def publish(self, message: BusMessage) -> None:
        self.published.append(message)
        super().publish(message)


class Network:
    """Stands for a network bus (Redis): every NetBus on it receives every publish."""

    def __init__(self) -> None:
        self.buses: list[NetBus] = []


class NetBus(WorkerBus):
    """One process's end of a :class:`Network`."""

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network
        self.published: list[BusMessage] = []
        network.buses.append(self)

    def publish(self, message: BusMessage) -> None:
        self.published.append(message)
        for bus in self.network.buses:
            bus.on_message_received(message)


class Recorder(BaseWorker):
    """A worker that records the hooks it runs, in order."""

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.calls: list[tuple[Any, ...]] = []

    async def on_activated(self, args: Any) -> None:
        await super().on_activated(args)
        self.calls.append(("activated", args))

    async def on_deactivated(self) -> None:
        await super().on_deactivated()
        self.calls.append(("deactivated",))

    async def on_worker_ready(self, data: Any) -> None:
        self.calls.append(("worker_ready", data.worker_name))

    async def on_worker_failed(self, data: Any) -> None:
        self.calls.append(("worker_failed", data))

    def hooks(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]


def record_events(obj: Any, *events: str) -> list[tuple[Any, ...]]:
    """Attach a recording handler to each event; returns the shared log."""
    log: list[tuple[Any, ...]] = []
    for event in events:

        def handler(_obj: Any, *args: Any, _event: str = event) -> None:
            log.append((_event, *args))

        obj.add_event_handler(event, handler)
    return log


async def settle() -> None:
    """Let everything runnable run (messages delivered, handlers done)."""
    await trio.testing.wait_all_tasks_blocked()


async def start_runner(
    nursery: trio.Nursery, *workers: BaseWorker, bus: WorkerBus | None = None, **kwargs: Any
) -> WorkerRunner:
    """A runner (no signal handling) with ``workers``, started in ``nursery``."""
    kwargs.setdefault("handle_sigint", False)
    runner = WorkerRunner(bus=bus, **kwargs)
    await runner.add_workers(*workers)
    await nursery.start(runner.run)
    return runner
