"""WorkerRegistry: which workers are ready, on which runner, and who waits for them.

A runner owns one registry and shares it with its workers. A worker is filed as *local*
when it registered on this runner and as *remote* under the runner it came from (learnt
through the registry exchange between runners, see ``workers.runner``). Each name is
filed at most once per runner.

Watches: ``await registry.watch(name, handler)`` calls ``handler(WorkerReadyData)`` when
``name`` registers, or at once if it already has. Handlers of one registration are awaited
inline, in the order they were added, in the task that registered the worker (so a
worker's ready message goes out before its watchers run).

Cost: :meth:`WorkerRegistry.get` and :meth:`register` take constant time whatever the
number of remote runners (an index by name beside the per-runner tables), so a peer that
announces many runners costs linear time, not quadratic; :meth:`forget_runner` drops what
a runner announced (a proxy does it when its client leaves).

Unreachable workers: a remote worker that cannot be reached for good (its proxy's
handshake was refused) is marked with :meth:`WorkerRegistry.mark_unreachable`; a job to it
then fails at once instead of waiting for a ready that will not come (the requester checks
:meth:`unreachable` and watches with :meth:`watch_unreachable`). :meth:`mark_reachable`
clears the mark.

Resource handling
    Watches are the only state that grows with use. :meth:`WorkerRegistry.unwatch`
    removes one, and a name with no watch left takes no memory: the ready-waits of jobs
    remove their watch when they end (Pipecat keeps one per job forever).

Error handling
    A watch handler that raises is logged and counted in
    :attr:`WorkerRegistry.watch_errors`; the other handlers still run and the registering
    worker is not affected.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from trio_pipe.bus.messages import WorkerReadyData

__all__ = ["UnreachableHandler", "WatchHandler", "WorkerRegistry"]

logger = logging.getLogger(__name__)

WatchHandler = Callable[[WorkerReadyData], Awaitable[object]]
"""An async callable taking the ready worker's :class:`WorkerReadyData`."""

UnreachableHandler = Callable[[str, str], object]
"""A plain callable taking the worker's name and why it is unreachable."""


class WorkerRegistry:
    """Local and remote workers known to one runner, with per-name watches.

    Args:
        runner_name: the owning runner; registrations from it are local.
    """

    def __init__(self, runner_name: str) -> None:
        self._runner_name = runner_name
        self._local: dict[str, WorkerReadyData] = {}
        self._remote: dict[str, dict[str, WorkerReadyData]] = {}
        # name -> its remote registrations still filed, oldest first (get() returns it).
        self._remote_index: dict[str, list[WorkerReadyData]] = {}
        self._watches: dict[str, list[WatchHandler]] = {}
        self._unreachable: dict[str, str] = {}
        self._unreachable_watches: dict[str, list[UnreachableHandler]] = {}
        self.watch_errors = 0
        """How many watch handlers raised (each was logged)."""

    @property
    def runner_name(self) -> str:
        """The runner that owns this registry."""
        return self._runner_name

    @property
    def local_workers(self) -> list[str]:
        """Names of the workers registered on this runner."""
        return list(self._local)

    @property
    def remote_workers(self) -> list[str]:
        """Names of the workers registered on other runners."""
        return [name for workers in self._remote.values() for name in workers]

    @property
    def watch_count(self) -> int:
        """How many (name, handler) watches are installed (for leak checks)."""
        return sum(len(handlers) for handlers in self._watches.values())

    def get(self, worker_name: str) -> WorkerReadyData | None:
        """The ready data of ``worker_name`` (local first), or None if unknown."""
        data = self._local.get(worker_name)
        if data is not None:
            return data
        filed = self._remote_index.get(worker_name)
        return filed[0] if filed else None

    def __contains__(self, worker_name: object) -> bool:
        return isinstance(worker_name, str) and self.get(worker_name) is not None

    async def watch(self, worker_name: str, handler: WatchHandler) -> None:
        """Call ``handler`` when ``worker_name`` registers (at once if it already has).

        Watching again with an equal handler does nothing.
        """
        handlers = self._watches.setdefault(worker_name, [])
        if handler in handlers:
            return
        handlers.append(handler)
        existing = self.get(worker_name)
        if existing is not None:
            await self._call(handler, existing)

    def unwatch(self, worker_name: str, handler: WatchHandler) -> None:
        """Remove a watch added with :meth:`watch`; unknown watches are ignored."""
        handlers = self._watches.get(worker_name)
        if handlers is None:
            return
        try:
            handlers.remove(handler)
        except ValueError:
            return
        if not handlers:
            del self._watches[worker_name]

    def unreachable(self, worker_name: str) -> str | None:
        """Why ``worker_name`` cannot be reached, or None (see the module doc)."""
        return self._unreachable.get(worker_name)

    def mark_unreachable(self, worker_name: str, reason: str) -> None:
        """Mark ``worker_name`` unreachable and tell its unreachable-watchers at once."""
        self._unreachable[worker_name] = reason
        for handler in list(self._unreachable_watches.get(worker_name, ())):
            try:
                handler(worker_name, reason)
            except Exception:
                self.watch_errors += 1
                logger.exception("unreachable handler %r for %r failed", handler, worker_name)

    def mark_reachable(self, worker_name: str) -> None:
        """Clear an unreachable mark (a connection to it opened)."""
        self._unreachable.pop(worker_name, None)

    def watch_unreachable(self, worker_name: str, handler: UnreachableHandler) -> None:
        """Call ``handler(name, reason)`` when ``worker_name`` is marked unreachable."""
        self._unreachable_watches.setdefault(worker_name, []).append(handler)

    def unwatch_unreachable(self, worker_name: str, handler: UnreachableHandler) -> None:
        """Remove a handler added with :meth:`watch_unreachable`; unknown ones are ignored."""
        handlers = self._unreachable_watches.get(worker_name)
        if handlers is None or handler not in handlers:
            return
        handlers.remove(handler)
        if not handlers:
            del self._unreachable_watches[worker_name]

    def unregister(self, worker_name: str) -> bool:
        """Forget a local worker (it finished); False if it was not registered here.

        Watches stay: a later registration under the same name notifies them again.
        """
        return self._local.pop(worker_name, None) is not None

    def forget_runner(self, runner: str) -> int:
        """Forget every worker registered under remote ``runner``; return how many.

        Watches stay, as with :meth:`unregister`.
        """
        workers = self._remote.pop(runner, None)
        if not workers:
            return 0
        for name, data in workers.items():
            filed = self._remote_index[name]
            filed.remove(data)  # usually the only one
            if not filed:
                del self._remote_index[name]
        return len(workers)

    async def register(self, worker_data: WorkerReadyData) -> bool:
        """File a worker and notify its watchers; False if already filed for that runner."""
        name, runner = worker_data.worker_name, worker_data.runner
        local = runner == self._runner_name
        table = self._local if local else self._remote.setdefault(runner, {})
        if name in table:
            return False
        existing = self.get(name)
        if existing is not None and existing.runner != runner:
            logger.warning("worker %r registered on both %r and %r", name, existing.runner, runner)
        table[name] = worker_data
        if not local:
            self._remote_index.setdefault(name, []).append(worker_data)
        logger.debug("worker %r ready (%s)", name, "local" if local else runner)
        # A copy: a handler may unwatch itself (ready-waits do) while we iterate.
        for handler in list(self._watches.get(name, ())):
            await self._call(handler, worker_data)
        return True

    async def _call(self, handler: WatchHandler, data: WorkerReadyData) -> None:
        try:
            await handler(data)
        except Exception:
            self.watch_errors += 1
            logger.exception("registry watch handler %r for %r failed", handler, data.worker_name)
