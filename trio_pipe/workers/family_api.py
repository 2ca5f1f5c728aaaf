"""The family half of ``BaseWorker``'s API: Pipecat's names, delegated to its
:class:`~trio_pipe.workers.family.WorkerFamily`.

:class:`FamilyMethods` holds no state: every method is a hook to override or a one-line
delegate to ``self._family``, which ``BaseWorker.__init__`` creates. It is a separate
class only to keep ``workers/base.py`` short; read it as part of ``BaseWorker``.
"""

from __future__ import annotations

from typing import Any

from trio_pipe.bus.messages import (
    BusCancelWorkerMessage,
    BusEndWorkerMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    WorkerErrorData,
    WorkerReadyData,
)
from trio_pipe.workers.family import ChildWorker, WorkerFamily

__all__ = ["FamilyMethods"]


class FamilyMethods:
    """Watches and child workers, for :class:`~trio_pipe.workers.base.BaseWorker`."""

    _family: WorkerFamily

    @property
    def parent(self) -> str | None:
        """The parent worker's name; None for a root worker."""
        return self._family.parent

    @property
    def children(self) -> list[Any]:
        """The child workers added with :meth:`add_workers`."""
        return self._family.children

    async def on_worker_ready(self, data: WorkerReadyData) -> None:
        """Hook: a watched worker registered (see :meth:`watch_workers`)."""

    async def on_worker_failed(self, data: WorkerErrorData) -> None:
        """Hook: a child worker reported an error."""

    async def watch_workers(self, *worker_names: str) -> None:
        """Fire ``on_worker_ready`` once per name, when it registers (at once if it has)."""
        await self._family.watch(worker_names)

    async def add_workers(self, *workers: ChildWorker, watch: bool = True) -> None:
        """Add child workers: the runner starts them; this worker ends and cancels them."""
        await self._family.add(workers, watch=watch)

    async def _handle_worker_error(
        self, message: BusWorkerErrorMessage | BusWorkerLocalErrorMessage
    ) -> None:
        await self._family.handle_error(message)

    async def _propagate_end_to_children(self, message: BusEndWorkerMessage) -> None:
        await self._family.end_children(message)

    async def _propagate_cancel_to_children(self, message: BusCancelWorkerMessage) -> None:
        self._family.cancel_children(message)
