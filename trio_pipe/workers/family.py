"""A worker's relations to other workers: watches, children, their errors, end and cancel.

``watch_workers`` makes ``on_worker_ready`` fire once per watched name (registry watches
do not travel on the bus, so they fire whether or not the worker is active);
``@worker_ready`` methods run first. ``add_workers`` makes child workers: the runner
starts them, and this worker passes its end (waiting for all of them) or its cancel (not
waiting) on to them. A child's error reaches only its parent (``on_worker_failed``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trio_pipe.bus.messages import (
    BusAddWorkerMessage,
    BusCancelWorkerMessage,
    BusEndWorkerMessage,
    BusMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    WorkerErrorData,
    WorkerReadyData,
)

if TYPE_CHECKING:
    from trio_pipe.registry import WorkerRegistry
    from trio_pipe.workers.base import BaseWorker

__all__ = ["WorkerFamilyMixin"]

logger = logging.getLogger(__name__)


class WorkerFamilyMixin:
    """Other workers, for :class:`~trio_pipe.workers.base.BaseWorker`."""

    # Provided by BaseWorker.
    _name: str
    _registry: WorkerRegistry | None
    _child_workers: list[BaseWorker]
    _worker_ready_handlers: dict[str, Callable[..., Any]]
    _watched_names: set[str]

    if TYPE_CHECKING:

        def _send(self, message: BusMessage) -> None: ...
        def _call_event_handler(self, event_name: str, *args: Any) -> None: ...
        async def stop(self) -> None: ...

    async def on_worker_ready(self, data: WorkerReadyData) -> None:
        """Hook: a watched worker registered (see :meth:`watch_workers`)."""

    async def on_worker_failed(self, data: WorkerErrorData) -> None:
        """Hook: a child worker reported an error."""

    async def watch_workers(self, *worker_names: str) -> None:
        """Fire ``on_worker_ready`` once per name, when it registers (at once if it has)."""
        registry = self._registry
        if registry is None:
            return
        for worker_name in worker_names:
            self._watched_names.add(worker_name)
            await registry.watch(worker_name, self._on_watched_worker_ready)

    def _unwatch_all(self) -> None:
        """Remove this worker's registry watches (it finished: nothing may call it)."""
        registry = self._registry
        if registry is not None:
            for worker_name in self._watched_names:
                registry.unwatch(worker_name, self._on_watched_worker_ready)
        self._watched_names.clear()

    async def _on_watched_worker_ready(self, data: WorkerReadyData) -> None:
        handler = self._worker_ready_handlers.get(data.worker_name)
        if handler is not None:
            await handler(data)
        await self.on_worker_ready(data)
        self._call_event_handler("on_worker_ready", data)

    async def add_workers(self, *workers: BaseWorker, watch: bool = True) -> None:
        """Add child workers: the runner starts them; this worker ends and cancels them."""
        added: list[str] = []
        for worker in workers:
            if worker._parent is not None:
                logger.warning(
                    "worker %r already has parent %r, skipping", worker.name, worker._parent
                )
                continue
            worker._parent = self._name
            self._child_workers.append(worker)
            added.append(worker.name)
            self._send(BusAddWorkerMessage(worker=worker, source=self._name))
        if watch and added:
            await self.watch_workers(*added)

    async def _handle_worker_error(
        self, message: BusWorkerErrorMessage | BusWorkerLocalErrorMessage
    ) -> None:
        if any(child.name == message.source for child in self._child_workers):
            data = WorkerErrorData(message.source, message.error)
            await self.on_worker_failed(data)
            self._call_event_handler("on_worker_failed", data)

    async def _handle_worker_end(self, message: BusEndWorkerMessage) -> None:
        """End: end every child, wait for all of them, then stop."""
        await self._propagate_end_to_children(message)
        await self.stop()

    async def _handle_worker_cancel(self, message: BusCancelWorkerMessage) -> None:
        """Cancel: pass the cancel to every child and stop without waiting."""
        await self._propagate_cancel_to_children(message)
        await self.stop()

    async def _propagate_end_to_children(self, message: BusEndWorkerMessage) -> None:
        for child in self._child_workers:
            self._send(
                BusEndWorkerMessage(reason=message.reason, source=self._name, target=child.name)
            )
        for child in self._child_workers:
            await child.wait()

    async def _propagate_cancel_to_children(self, message: BusCancelWorkerMessage) -> None:
        for child in self._child_workers:
            self._send(
                BusCancelWorkerMessage(reason=message.reason, source=self._name, target=child.name)
            )
