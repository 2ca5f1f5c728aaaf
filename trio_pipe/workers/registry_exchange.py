"""The registry exchange between runners on one bus: who runs which workers.

A runner announces its workers (a ``BusWorkerRegistryMessage``) when one of its root
workers is ready, and answers the first announcement of every other runner with its own,
so a runner that joins late learns about the others and they about it. What it learns
goes into its :class:`~trio_pipe.registry.WorkerRegistry` as remote workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from trio_pipe.bus.messages import (
    BusMessage,
    BusWorkerRegistryMessage,
    WorkerReadyData,
    WorkerRegistryEntry,
)
from trio_pipe.registry import WorkerRegistry

__all__ = ["RegistryExchange"]


class RegistryExchange:
    """One runner's side of the exchange.

    Args:
        runner_name: this runner's name.
        registry: where remote workers are filed.
        send: sends a message on the bus.
        local_workers: this runner's workers now (anything with ``name``, ``parent``,
            ``active``, ``bridged`` and ``started_at``).
    """

    def __init__(
        self,
        runner_name: str,
        registry: WorkerRegistry,
        send: Callable[[BusMessage], None],
        local_workers: Callable[[], Iterable[Any]],
    ) -> None:
        self._name = runner_name
        self._registry = registry
        self._send = send
        self._local_workers = local_workers
        self.known_runners: set[str] = set()
        """The other runners heard from (each answered once)."""

    def announce(self) -> None:
        """Tell the other runners which workers run here (nothing if none)."""
        workers = [
            WorkerRegistryEntry(
                name=w.name,
                parent=w.parent,
                active=w.active,
                bridged=w.bridged,
                started_at=w.started_at,
            )
            for w in self._local_workers()
        ]
        if workers:
            self._send(
                BusWorkerRegistryMessage(runner=self._name, workers=workers, source=self._name)
            )

    async def learn(self, message: BusWorkerRegistryMessage) -> None:
        """File another runner's workers; answer its first announcement with ours."""
        if message.runner == self._name:
            return
        for entry in message.workers:
            await self._registry.register(WorkerReadyData(entry.name, message.runner))
        if message.runner not in self.known_runners:
            self.known_runners.add(message.runner)
            self.announce()
