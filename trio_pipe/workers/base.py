"""BaseWorker: a named participant on the bus that serves and requests jobs.

A worker is attached to a runner's bus and registry (``attach``), then runs in the
runner's nursery (``run``): it announces itself (a BusWorkerReadyMessage, then the
registry entry, which runs the watchers), activates if asked to, watches the workers its
``@worker_ready`` methods name, and waits until it is stopped.

Composition: the worker's job server, job requester and family are parts with their own
state that see the worker only through its port (``workers.port``); ``BaseWorker``
creates them and keeps Pipecat's names as delegates (``serving_api``, ``requesting_api``,
``family_api``: stateless classes, read them as part of ``BaseWorker``).

Activation: an inactive worker receives only activate, deactivate, end-worker and
cancel-worker messages; registry watches fire either way because they do not travel on
the bus.

Resource handling
    ``run`` owns the worker's nursery. Job handlers, job timers, event handlers and
    whatever subclasses start with :meth:`BaseWorker.start_soon` are its children; work started
    before ``run`` waits for it, work started after the worker finished is dropped. On
    exit ``run`` calls ``stop()`` (answer open jobs CANCELLED, cancel own groups), cancels
    every child and unsubscribes from the bus (Pipecat leaves finished workers
    subscribed). Message handlers run in the bus's dispatcher tasks.

Error handling
    An exception escaping ``run`` (from ``start`` or a hook) is the runner's to report
    (``workers.runner``). A job request that reaches a finished worker is answered
    ``status=ERROR`` so no requester waits for a worker that is gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from trio_pipe._errors import single_errors
from trio_pipe.bus.bus import BusSubscriber
from trio_pipe.bus.messages import (
    BusActivateWorkerMessage,
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusDeactivateWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusFrameMessage,
    BusJobRequestMessage,
    BusMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerReadyMessage,
    WorkerReadyData,
)
from trio_pipe.checkpoints import act_then_yield
from trio_pipe.children import Children
from trio_pipe.events import EventHandlerMixin
from trio_pipe.ids import next_name
from trio_pipe.registry import WorkerRegistry
from trio_pipe.workers.decorators import collect_job_handlers, collect_worker_ready_handlers
from trio_pipe.workers.dispatch import ALWAYS_DELIVERED, EVENTS, HANDLERS, handler_name
from trio_pipe.workers.family import WorkerFamily
from trio_pipe.workers.family_api import FamilyMethods
from trio_pipe.workers.job_requester import JobRequester
from trio_pipe.workers.job_server import JobServer
from trio_pipe.workers.jobs import WorkerActivationArgs
from trio_pipe.workers.port import HostRunner
from trio_pipe.workers.requesting_api import RequestingMethods
from trio_pipe.workers.serving_api import ServingMethods

if TYPE_CHECKING:
    from trio_pipe.bus.bus import WorkerBus

__all__ = ["BaseWorker"]

logger = logging.getLogger(__name__)


class BaseWorker(
    FamilyMethods, ServingMethods, RequestingMethods, EventHandlerMixin, BusSubscriber
):
    """A worker on the bus. Subclass it; override hooks, add ``@job`` methods.

    Args:
        name: unique on the bus; defaults to ``"<Class>#<n>"``.
        active: start accepting messages at once (default). An inactive worker waits for
            a BusActivateWorkerMessage.
    """

    stop_timeout: float = 1.0
    """Seconds ``run`` gives ``stop()`` when it is cancelled from outside (shielded)."""

    def __init__(self, name: str | None = None, *, active: bool = True) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"worker name must be a str, not {type(name).__name__}")
        super().__init__()  # the event handler tables (EventHandlerMixin)
        self._name = name if name is not None else next_name(type(self))
        self._children = Children(f"worker {self._name!r}")
        self._bus: WorkerBus | None = None
        self._registry: WorkerRegistry | None = None
        self._worker_runner: HostRunner | None = None
        self._active = active
        self._pending_activation = active
        self._activation_args: dict[str, Any] | None = None
        self._started_at: float | None = None
        self._finished = trio.Event()
        self._running = False
        self._stopped = False
        self._detached = False
        self._job_server = JobServer(self, collect_job_handlers(self))
        self._job_requester = JobRequester(self)
        self._family = WorkerFamily(self, collect_worker_ready_handlers(self))
        # The bus may skip queueing what this worker would ignore anyway (messages for
        # other workers, frames), but only while nothing else can observe them: a
        # subclass overriding on_bus_message (a proxy forwarding others' messages) or
        # accepts_bus_message gets everything, as in Pipecat.
        cls = type(self)
        plain = (
            cls.on_bus_message is BaseWorker.on_bus_message
            and cls.accepts_bus_message is BaseWorker.accepts_bus_message
        )
        self.bus_prefilter = self._addressed_here if plain else None
        for event, lane in EVENTS.items():
            self._register_event_handler(event, lane=lane)

    def __str__(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r}>"

    # --- properties ----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The worker's unique name on the bus."""
        return self._name

    @property
    def active(self) -> bool:
        """Whether the worker takes every message addressed to it (see module doc)."""
        return self._active

    @property
    def activation_args(self) -> dict[str, Any] | None:
        """The arguments of the latest activation; None once deactivated."""
        return self._activation_args

    @property
    def started_at(self) -> float | None:
        """Unix time the worker became ready; None before start."""
        return self._started_at

    @property
    def bridged(self) -> bool:
        """Whether the worker bridges frames onto the bus (PipelineWorker overrides)."""
        return False

    @property
    def finished(self) -> bool:
        """True once the worker has stopped (``wait()`` returns)."""
        return self._finished.is_set()

    @property
    def bus(self) -> WorkerBus:
        """The bus; RuntimeError before :meth:`attach`."""
        if self._bus is None:
            raise RuntimeError(f"worker {self._name!r}: bus is not set; call attach() first")
        return self._bus

    @property
    def registry(self) -> WorkerRegistry:
        """The runner's registry; RuntimeError before :meth:`attach`."""
        if self._registry is None:
            raise RuntimeError(f"worker {self._name!r}: registry is not set; call attach() first")
        return self._registry

    @property
    def worker_runner(self) -> HostRunner:
        """The :class:`~trio_pipe.workers.runner.WorkerRunner` hosting this worker;
        RuntimeError before :meth:`attach`."""
        if self._worker_runner is None:
            raise RuntimeError(f"worker {self._name!r}: runner is not set; call attach() first")
        return self._worker_runner

    # --- lifecycle -----------------------------------------------------------------------

    async def attach(
        self, *, registry: WorkerRegistry, bus: WorkerBus, worker_runner: HostRunner
    ) -> None:
        """Take the runner's registry and bus and subscribe, before any worker emits."""
        await trio.lowlevel.checkpoint()
        self._registry = self._family.registry = registry
        self._bus = bus
        self._worker_runner = worker_runner
        bus.subscribe(self)

    @single_errors
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start, call ``task_status.started()``, and run until stopped or cancelled.

        An error escaping ``start`` or a hook is raised as itself (no exception groups).
        """
        if self._running:
            raise RuntimeError(f"worker {self._name!r} is already running")
        self._running = True
        try:
            if self._stopped:  # stopped before it ever ran
                task_status.started()
                return
            async with trio.open_nursery() as nursery:
                self._children.open(nursery)
                try:
                    await self.start()
                    task_status.started()
                    await self._finished.wait()
                finally:
                    # Shielded, bounded: a cancelled worker still answers its open jobs.
                    with trio.move_on_after(self.stop_timeout, shield=True):
                        await self.stop()
                    self._children.close()
                    nursery.cancel_scope.cancel()
        finally:
            self._stopped = True
            self._finished.set()
            self._detach()

    async def start(self) -> None:
        """The start sequence: ready message, registry, pending activation, watches."""
        self._started_at = time.time()
        await self._register_ready()
        await self._maybe_activate()
        await self.watch_workers(*self._family.ready_names)

    async def stop(self) -> None:
        """Cancel own groups, answer open jobs CANCELLED, cancel handlers, finish."""
        if self._stopped:
            return
        self._stopped = True
        reason = f"worker '{self._name}' stopped"
        for job_id in list(self._job_requester.groups):
            await self.cancel_job_group(job_id, reason=reason)
        self._job_server.stop()
        self._finished.set()

    async def wait(self) -> None:
        """Wait until the worker has finished."""
        await self._finished.wait()

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` as a child task of this worker (ends when the worker ends).

        Started before ``run``, it waits for it.

        Raises:
            RuntimeError: the worker has finished (as ``start_soon`` on a closed nursery).
        """
        self._children.start_soon(fn, *args)

    async def end(self, *, reason: str | None = None) -> None:
        """Ask the runner to end the session gracefully (every runner on a shared bus)."""
        await self.send_bus_message(BusEndMessage(reason=reason, source=self._name))

    async def cancel(self, *, reason: str | None = None) -> None:
        """Ask the runner to cancel the session now."""
        await self.send_bus_message(BusCancelMessage(reason=reason, source=self._name))

    def _detach(self) -> None:
        bus = self._bus
        if bus is None or self._detached:
            return
        pending = bus.unsubscribe(self)
        self._detached = True
        self._family.unwatch_all()  # a finished worker's watches would only pile up
        # Requests queued for us but never delivered: their requesters must hear back.
        for message in pending or ():
            if isinstance(message, BusJobRequestMessage) and message.target == self._name:
                self._job_server.answer_finished(message)

    def _answer_if_detached(self, message: BusJobRequestMessage) -> None:
        """Called by the runner for a request to this worker: answer once if it is gone."""
        if self._detached:
            self._job_server.answer_finished_once(message)

    async def _register_ready(self) -> None:
        registry = self._registry
        if registry is None:
            return
        # The ready message goes out before the watchers run (they may send messages).
        self._send(
            BusWorkerReadyMessage(
                runner=registry.runner_name,
                parent=self._family.parent,
                active=self._active,
                bridged=self.bridged,
                started_at=self._started_at,
                source=self._name,
            )
        )
        await registry.register(WorkerReadyData(self._name, registry.runner_name))

    # --- sending -------------------------------------------------------------------------

    def _send(self, message: BusMessage) -> None:
        bus = self._bus
        if bus is not None:
            bus.send(message)

    async def send_bus_message(self, message: BusMessage) -> None:
        """Send ``message`` on the bus; does nothing before :meth:`attach`.

        A checkpoint, as every ``async def`` of trio_pipe: cancelled, it did not send. It
        yields after sending (:func:`~trio_pipe.checkpoints.act_then_yield`).
        """
        await act_then_yield(self._send, message)

    async def send_bus_error_message(self, error: str) -> None:
        """Report an error: to the parent only (a child) or on the bus (a root worker)."""
        await trio.lowlevel.checkpoint()
        if self._family.parent is not None:
            self._send(BusWorkerLocalErrorMessage(error=error, source=self._name))
        else:
            self._send(BusWorkerErrorMessage(error=error, source=self._name))

    # --- activation ----------------------------------------------------------------------

    async def on_activated(self, args: dict[str, Any] | None) -> None:
        """Hook: the worker was activated with ``args`` (call super when overriding)."""

    async def on_deactivated(self) -> None:
        """Hook: the worker was deactivated (call super when overriding)."""

    async def _maybe_activate(self) -> None:
        if self._started_at is not None and self._pending_activation:
            self._active = True
            self._pending_activation = False
            await self.on_activated(self._activation_args)
            self._call_event_handler("on_activated", self._activation_args)

    async def activate_worker(
        self,
        worker_name: str,
        *,
        args: WorkerActivationArgs | None = None,
        deactivate_self: bool = False,
    ) -> None:
        """Activate ``worker_name``; with ``deactivate_self`` hand over to it."""
        await trio.lowlevel.checkpoint()
        if deactivate_self and self._active:
            # At once, so the two workers are never active together.
            self._active = False
            await self.deactivate_worker(self._name)
        payload = args.to_dict() if args is not None else None
        self._send(
            BusActivateWorkerMessage(args=payload or None, source=self._name, target=worker_name)
        )

    async def deactivate_worker(self, worker_name: str) -> None:
        """Deactivate ``worker_name``."""
        await act_then_yield(
            self._send, BusDeactivateWorkerMessage(source=self._name, target=worker_name)
        )

    # --- built-in message handling -------------------------------------------------------

    def _addressed_here(self, message: BusMessage) -> bool:
        target = message.target
        return not (target and target != self._name) and not isinstance(message, BusFrameMessage)

    def accepts_bus_message(self, message: BusMessage) -> bool:
        """Everything while active; only (de)activate, end and cancel while inactive."""
        return self._active or isinstance(message, ALWAYS_DELIVERED)

    async def on_bus_message(self, message: BusMessage) -> None:
        """Built-in handling, then the ``on_bus_message`` event (subclasses call super)."""
        if isinstance(message, BusFrameMessage):
            return
        target = message.target
        if target and target != self._name:
            return
        if self._stopped:
            if isinstance(message, BusJobRequestMessage) and target == self._name:
                self._job_server.answer_finished(message)
            return
        cls = type(message)
        name = HANDLERS.get(cls) or handler_name(cls)
        if name is not None:
            await getattr(self, name)(message)
        self._call_event_handler("on_bus_message", message)

    async def _handle_worker_activate(self, message: BusActivateWorkerMessage) -> None:
        self._activation_args = message.args
        self._pending_activation = True
        await self._maybe_activate()

    async def _handle_worker_deactivate(self, message: BusDeactivateWorkerMessage) -> None:
        self._active = False
        self._activation_args = None
        await self.on_deactivated()
        self._call_event_handler("on_deactivated")

    async def _handle_worker_end(self, message: BusEndWorkerMessage) -> None:
        """End: end every child, wait for all of them, then stop."""
        await self._propagate_end_to_children(message)
        await self.stop()

    async def _handle_worker_cancel(self, message: BusCancelWorkerMessage) -> None:
        """Cancel: pass the cancel to every child and stop without waiting."""
        await self._propagate_cancel_to_children(message)
        await self.stop()
