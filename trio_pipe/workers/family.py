"""A worker's family: its parent, its child workers, and the workers it watches.

:class:`WorkerFamily` keeps that state for one worker and reaches the worker only
through :class:`FamilyWorker` (the worker port plus the hooks it calls back). ``BaseWorker``
creates one and keeps Pipecat's names (``add_workers``, ``watch_workers``, ``children``,
``parent``) as one-line delegates to it.

``watch`` makes ``on_worker_ready`` fire once per watched name (registry watches do not
travel on the bus, so they fire whether or not the worker is active); ``@worker_ready``
methods run first. ``add`` makes child workers: the runner starts them, and this worker
passes its end (waiting for all of them) or its cancel (not waiting) on to them. A
child's error reaches only its parent (``on_worker_failed``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from trio_pipe.bus.messages import (
    BusAddWorkerMessage,
    BusCancelWorkerMessage,
    BusEndWorkerMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    WorkerErrorData,
    WorkerReadyData,
)
from trio_pipe.registry import WorkerRegistry
from trio_pipe.workers.port import WorkerPort

__all__ = ["FamilyWorker", "WorkerFamily"]

logger = logging.getLogger(__name__)


class FamilyWorker(WorkerPort, Protocol):
    """The worker port plus the hooks a family calls (a subclass may override them)."""

    async def on_worker_ready(self, data: WorkerReadyData) -> None: ...

    async def on_worker_failed(self, data: WorkerErrorData) -> None: ...

    async def watch_workers(self, *worker_names: str) -> None: ...


class ChildWorker(Protocol):
    """What a family needs of a worker it adopts (a ``BaseWorker`` is one)."""

    _family: WorkerFamily

    @property
    def name(self) -> str: ...

    async def wait(self) -> None: ...


class WorkerFamily:
    """One worker's parent, children and registry watches.

    Args:
        worker: the worker (its port and family hooks).
        ready_handlers: ``{worker name: handler}``, the worker's ``@worker_ready`` methods.
    """

    def __init__(
        self,
        worker: FamilyWorker,
        ready_handlers: dict[str, Callable[[WorkerReadyData], Awaitable[Any]]],
    ) -> None:
        self._worker = worker
        self._ready_handlers = ready_handlers
        self.registry: WorkerRegistry | None = None
        """The runner's registry, from ``attach`` on (watches need it)."""
        self.parent: str | None = None
        """The parent worker's name; None for a root worker."""
        self.children: list[Any] = []
        """The child workers added with :meth:`add`."""
        self._watched: set[str] = set()  # removed from the registry when the worker ends

    @property
    def ready_names(self) -> list[str]:
        """The names the worker's ``@worker_ready`` methods wait for."""
        return list(self._ready_handlers)

    # --- watches -------------------------------------------------------------------------

    async def watch(self, worker_names: Iterable[str]) -> None:
        """Fire ``on_worker_ready`` once per name, when it registers (at once if it has)."""
        registry = self.registry
        if registry is None:
            return
        for worker_name in worker_names:
            self._watched.add(worker_name)
            await registry.watch(worker_name, self._on_ready)

    def unwatch_all(self) -> None:
        """Remove this worker's registry watches (it finished: nothing may call it)."""
        registry = self.registry
        if registry is not None:
            for worker_name in self._watched:
                registry.unwatch(worker_name, self._on_ready)
        self._watched.clear()

    async def _on_ready(self, data: WorkerReadyData) -> None:
        handler = self._ready_handlers.get(data.worker_name)
        if handler is not None:
            await handler(data)
        await self._worker.on_worker_ready(data)
        self._worker._call_event_handler("on_worker_ready", data)

    # --- children ------------------------------------------------------------------------

    async def add(self, workers: Iterable[ChildWorker], *, watch: bool) -> None:
        """Adopt ``workers`` (the runner starts them); a worker with a parent is skipped."""
        name = self._worker.name
        added: list[str] = []
        for worker in workers:
            family = worker._family
            if family.parent is not None:
                logger.warning(
                    "worker %r already has parent %r, skipping", worker.name, family.parent
                )
                continue
            family.parent = name
            self.children.append(worker)
            added.append(worker.name)
            self._worker._send(BusAddWorkerMessage(worker=worker, source=name))
        if watch and added:
            await self._worker.watch_workers(*added)

    async def handle_error(
        self, message: BusWorkerErrorMessage | BusWorkerLocalErrorMessage
    ) -> None:
        """A child's error: the ``on_worker_failed`` hook and event (others' are ignored)."""
        if any(child.name == message.source for child in self.children):
            data = WorkerErrorData(message.source, message.error)
            await self._worker.on_worker_failed(data)
            self._worker._call_event_handler("on_worker_failed", data)

    async def end_children(self, message: BusEndWorkerMessage) -> None:
        """Pass an end on to every child and wait for all of them."""
        name = self._worker.name
        for child in self.children:
            self._worker._send(
                BusEndWorkerMessage(reason=message.reason, source=name, target=child.name)
            )
        for child in self.children:
            await child.wait()

    def cancel_children(self, message: BusCancelWorkerMessage) -> None:
        """Pass a cancel on to every child (not waiting for them)."""
        name = self._worker.name
        for child in self.children:
            self._worker._send(
                BusCancelWorkerMessage(reason=message.reason, source=name, target=child.name)
            )
