"""BaseWorker: a named participant on the bus that serves and requests jobs.

A worker is attached to a runner's bus and registry (``attach``), then runs in the
runner's nursery (``run``): it announces itself (a BusWorkerReadyMessage, then the
registry entry, which runs the watchers), activates if asked to, watches the workers its
``@worker_ready`` methods name, and waits until it is stopped. Job handling is in
``workers.job_handling`` (serving) and ``workers.requester`` (asking); watches and child
workers in ``workers.family``.

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
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobResponseUrgentMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobStreamStartMessage,
    BusJobUpdateMessage,
    BusJobUpdateRequestMessage,
    BusJobUpdateUrgentMessage,
    BusMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerReadyMessage,
    JobStatus,
    WorkerReadyData,
)
from trio_pipe.children import Children
from trio_pipe.events import EventHandlerMixin
from trio_pipe.ids import next_name
from trio_pipe.workers.decorators import collect_worker_ready_handlers
from trio_pipe.workers.family import WorkerFamilyMixin
from trio_pipe.workers.job_handling import JobHandlingMixin
from trio_pipe.workers.jobs import WorkerActivationArgs
from trio_pipe.workers.requester import JobRequesterMixin

if TYPE_CHECKING:
    from trio_pipe.bus.bus import WorkerBus
    from trio_pipe.registry import WorkerRegistry
    from trio_pipe.workers.runner import WorkerRunner

__all__ = ["BaseWorker"]

logger = logging.getLogger(__name__)

# What an inactive worker still receives: what wakes it, and what stops it.
_ALWAYS_DELIVERED = (
    BusActivateWorkerMessage,
    BusDeactivateWorkerMessage,
    BusEndWorkerMessage,
    BusCancelWorkerMessage,
)

# Built-in handling by exact type (a subclass of a message resolves through the MRO).
_HANDLERS: dict[type, str] = {
    BusWorkerErrorMessage: "_handle_worker_error",
    BusWorkerLocalErrorMessage: "_handle_worker_error",
    BusActivateWorkerMessage: "_handle_worker_activate",
    BusDeactivateWorkerMessage: "_handle_worker_deactivate",
    BusEndWorkerMessage: "_handle_worker_end",
    BusCancelWorkerMessage: "_handle_worker_cancel",
    BusJobRequestMessage: "_handle_job_request",
    BusJobResponseMessage: "_handle_job_response",
    BusJobResponseUrgentMessage: "_handle_job_response",
    BusJobUpdateMessage: "_handle_job_update",
    BusJobUpdateUrgentMessage: "_handle_job_update",
    BusJobUpdateRequestMessage: "_handle_job_update_request",
    BusJobCancelMessage: "_handle_job_cancel",
    BusJobStreamStartMessage: "_handle_job_stream_start",
    BusJobStreamDataMessage: "_handle_job_stream_data",
    BusJobStreamEndMessage: "_handle_job_stream_end",
}


def _handler_name(cls: type) -> str | None:
    for base in cls.__mro__:
        name = _HANDLERS.get(base)
        if name is not None:
            _HANDLERS[cls] = name  # cache the subclass
            return name
    return None


# Event name -> lane (events in one lane reach their handlers in the order they happened;
# see trio_pipe.events). A requester's job events share a lane, so a handler sees a job's
# updates, stream and answer in order; the served side's events share another.
_EVENTS: dict[str, str | None] = {
    "on_activated": "activation",
    "on_deactivated": "activation",
    "on_bus_message": None,
    "on_job_request": "served jobs",
    "on_job_update_requested": "served jobs",
    "on_job_cancelled": "served jobs",
    "on_job_response": "requested jobs",
    "on_job_update": "requested jobs",
    "on_job_completed": "requested jobs",
    "on_job_error": "requested jobs",
    "on_job_stream_start": "requested jobs",
    "on_job_stream_data": "requested jobs",
    "on_job_stream_end": "requested jobs",
    "on_worker_ready": "watches",
    "on_worker_failed": "watches",
}


class BaseWorker(
    WorkerFamilyMixin, JobHandlingMixin, JobRequesterMixin, EventHandlerMixin, BusSubscriber
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
        self._name = name if name is not None else next_name(type(self))
        self._children = Children(f"worker {self._name!r}")
        self._bus: WorkerBus | None = None
        self._registry: WorkerRegistry | None = None
        self._worker_runner: WorkerRunner | None = None
        self._active = active
        self._pending_activation = active
        self._activation_args: dict[str, Any] | None = None
        self._parent: str | None = None
        self._child_workers: list[BaseWorker] = []
        self._started_at: float | None = None
        self._finished = trio.Event()
        self._running = False
        self._stopped = False
        self._detached = False
        # Job ids answered "finished" by this worker itself, so its runner does not
        # answer them a second time (see WorkerRunner._answer_for_finished_worker).
        self._late_answers: set[str] = set()
        self._init_job_handling()
        self._init_requester()
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
        self._worker_ready_handlers = collect_worker_ready_handlers(self)
        self._watched_names: set[str] = set()  # removed from the registry on detach
        for event, lane in _EVENTS.items():
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
    def parent(self) -> str | None:
        """The parent worker's name; None for a root worker."""
        return self._parent

    @property
    def children(self) -> list[BaseWorker]:
        """The child workers added with :meth:`add_workers`."""
        return self._child_workers

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
    def worker_runner(self) -> WorkerRunner:
        """The runner hosting this worker; RuntimeError before :meth:`attach`."""
        if self._worker_runner is None:
            raise RuntimeError(f"worker {self._name!r}: runner is not set; call attach() first")
        return self._worker_runner

    # --- lifecycle -----------------------------------------------------------------------

    async def attach(
        self, *, registry: WorkerRegistry, bus: WorkerBus, worker_runner: WorkerRunner
    ) -> None:
        """Take the runner's registry and bus and subscribe, before any worker emits."""
        await trio.lowlevel.checkpoint()
        self._registry = registry
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
        await self.watch_workers(*self._worker_ready_handlers)

    async def stop(self) -> None:
        """Cancel own groups, answer open jobs CANCELLED, cancel handlers, finish."""
        if self._stopped:
            return
        self._stopped = True
        reason = f"worker '{self._name}' stopped"
        for job_id in list(self._job_groups):
            await self.cancel_job_group(job_id, reason=reason)
        self._stop_jobs()
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
        self._unwatch_all()  # a finished worker's watches would only pile up
        # Requests queued for us but never delivered: their requesters must hear back.
        for message in pending or ():
            if isinstance(message, BusJobRequestMessage) and message.target == self._name:
                self._answer_finished(message)

    def _answer_finished(self, message: BusJobRequestMessage, *, remember: bool = True) -> None:
        if remember:
            self._late_answers.add(message.job_id)
        self._send(
            BusJobResponseMessage(
                job_id=message.job_id,
                status=JobStatus.ERROR,
                response={"error": f"worker '{self._name}' has finished"},
                source=self._name,
                target=message.source,
            )
        )

    def _answer_if_detached(self, message: BusJobRequestMessage) -> None:
        """Called by the runner for a request to this worker: answer once if it is gone."""
        if not self._detached:
            return
        if message.job_id in self._late_answers:
            self._late_answers.discard(message.job_id)  # this worker answered it already
            return
        self._answer_finished(message, remember=False)

    async def _register_ready(self) -> None:
        registry = self._registry
        if registry is None:
            return
        # The ready message goes out before the watchers run (they may send messages).
        self._send(
            BusWorkerReadyMessage(
                runner=registry.runner_name,
                parent=self._parent,
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

        A checkpoint, as every ``async def`` of trio_pipe: cancelled, it did not send.
        """
        await trio.lowlevel.checkpoint()
        self._send(message)

    async def send_bus_error_message(self, error: str) -> None:
        """Report an error: to the parent only (a child) or on the bus (a root worker)."""
        await trio.lowlevel.checkpoint()
        if self._parent is not None:
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
        await trio.lowlevel.checkpoint()
        self._send(BusDeactivateWorkerMessage(source=self._name, target=worker_name))

    # --- built-in message handling -------------------------------------------------------

    def _addressed_here(self, message: BusMessage) -> bool:
        target = message.target
        return not (target and target != self._name) and not isinstance(message, BusFrameMessage)

    def accepts_bus_message(self, message: BusMessage) -> bool:
        """Everything while active; only (de)activate, end and cancel while inactive."""
        return self._active or isinstance(message, _ALWAYS_DELIVERED)

    async def on_bus_message(self, message: BusMessage) -> None:
        """Built-in handling, then the ``on_bus_message`` event (subclasses call super)."""
        if isinstance(message, BusFrameMessage):
            return
        target = message.target
        if target and target != self._name:
            return
        if self._stopped:
            if isinstance(message, BusJobRequestMessage) and target == self._name:
                self._answer_finished(message)
            return
        cls = type(message)
        name = _HANDLERS.get(cls) or _handler_name(cls)
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
