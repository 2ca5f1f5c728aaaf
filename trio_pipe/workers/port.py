"""The worker port: the little that a worker's parts may use of the worker they serve.

A :class:`~trio_pipe.workers.base.BaseWorker` is composed of parts that keep their own
state: the :class:`~trio_pipe.workers.job_server.JobServer` (requests it serves), the
:class:`~trio_pipe.workers.job_requester.JobRequester` (groups it launched) and the
:class:`~trio_pipe.workers.family.WorkerFamily` (parent, children, watches). Each part
reaches its worker only through this port: its name, its registry, sending a message,
starting a child task, firing an event. Each part's own protocol adds the overridable
hooks it calls back (``on_job_request``, ``cancel_job_group``, ...), so a subclass that
overrides a hook is heard.

The parts import this module, never ``workers.base``: that is what keeps the import
graph of ``workers/`` free of circles.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from trio_pipe.bus.bus import WorkerBus
from trio_pipe.bus.messages import BusMessage
from trio_pipe.registry import WorkerRegistry

__all__ = ["HostRunner", "WorkerPort"]


class WorkerPort(Protocol):
    """What every part of a worker may use of it."""

    @property
    def name(self) -> str:
        """The worker's name on the bus (the ``source`` of what the part sends)."""
        ...

    @property
    def registry(self) -> WorkerRegistry:
        """The runner's registry; RuntimeError before the worker is attached."""
        ...

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` as a child task of the worker (RuntimeError once finished)."""
        ...

    def _send(self, message: BusMessage) -> None:
        """Send at once, without a checkpoint (nothing is sent before attach)."""
        ...

    def _call_event_handler(self, event_name: str, *args: Any) -> None:
        """Fire one of the worker's events (handlers run in its lanes)."""
        ...


class HostRunner(Protocol):
    """What a worker (and its processors, via ``worker_runner``) may use of the runner
    hosting it. A :class:`~trio_pipe.workers.runner.WorkerRunner` is one; naming it by
    this protocol keeps ``workers.base`` from importing the runner, which imports it."""

    @property
    def name(self) -> str: ...

    @property
    def bus(self) -> WorkerBus: ...

    @property
    def registry(self) -> WorkerRegistry: ...

    def get_worker(self, name: str) -> Any: ...

    async def add_workers(self, *workers: Any) -> None: ...

    async def end(self, reason: str | None = None) -> None: ...

    async def cancel(self, reason: str | None = None) -> None: ...
