"""WorkerRunner: runs the bus and the workers of a session in one nursery.

::

    runner = WorkerRunner()
    await runner.add_workers(voice, research)
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)      # or just: await runner.run()

``run`` runs the bus, the signal watcher and every worker (each in a cancel scope of its
own) as children of the runner's nursery. With ``auto_end`` the session ends when every
root worker has finished. ``end()`` is graceful: root workers get a BusEndWorkerMessage
and ``run`` waits for all of them, without a time limit (Pipecat's ``run`` sends a cancel
right after, which overtakes the end). ``cancel()`` sends BusCancelWorkerMessage, waits up
to ``cancel_timeout`` and then cancels whatever is left. A ``cancel()`` or a signal during
a graceful end escalates it; a second signal cancels everything outright.

PipelineWorker (a later module) relies on this: on end it should finish with an EndFrame,
on cancel with a CancelFrame; the runner never sends a cancel to a worker that is ending.

Resource handling
    When ``run`` returns, every worker's ``run`` has returned, nothing started by the
    runner, the bus or the workers is left, the runner is unsubscribed, signal handlers are
    restored, and ``gc.collect()`` has run if ``force_gc`` is set. A worker added while
    the runner runs (a per-connection proxy, a child made on demand) is forgotten once it
    finishes: its entry and its local registry entry go, and its name is free again.
    Workers added before ``run`` stay listed (``get_worker``) after they finish.
    Cancelling the scope around ``run`` cancels every worker at once (each still answers
    its open jobs CANCELLED, within ``BaseWorker.stop_timeout``).

Error handling
    An ``Exception`` escaping a worker's ``run`` is logged, reported as that worker's
    error message (BusWorkerErrorMessage, or the local kind for a child), fires
    ``on_error(runner, worker, exc)``, and counts the worker as finished. Then the
    policy decides: by default (as in Pipecat) the other workers go on and ``run`` does
    not raise; with ``raise_worker_errors=True`` the first failure cancels the session and
    ``run`` raises that exception once everything has wound down. A job request to a
    local worker that has finished is answered ``status=ERROR`` on its behalf.

    What ``run`` raises is the error itself, never wrapped in the exception groups of
    the runner's own nurseries (``trio_pipe._errors``): with a Redis bus that cannot
    connect, ``except coredis.exceptions.ConnectionError`` catches it.
"""

from __future__ import annotations

import gc
import logging
import signal
import uuid
from functools import partial
from typing import Any

import trio

from trio_pipe._errors import lone_exception, single_errors
from trio_pipe.bus.bus import BusSubscriber, LocalBus, WorkerBus
from trio_pipe.bus.messages import (
    BusAddWorkerMessage,
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusJobRequestMessage,
    BusMessage,
    BusWorkerRegistryMessage,
    WorkerReadyData,
)
from trio_pipe.children import Children
from trio_pipe.events import EventHandlerMixin
from trio_pipe.registry import WorkerRegistry
from trio_pipe.workers.base import BaseWorker
from trio_pipe.workers.registry_exchange import RegistryExchange
from trio_pipe.workers.signals import watch_signals

__all__ = ["WorkerRunner"]

logger = logging.getLogger(__name__)

_CONTROL_MESSAGES = (BusEndMessage, BusCancelMessage, BusAddWorkerMessage, BusWorkerRegistryMessage)
_RUNNER_MESSAGES = (*_CONTROL_MESSAGES, BusJobRequestMessage)


class _Entry:
    """One added worker: its scope in the runner's nursery and its progress."""

    __slots__ = ("finished", "ready", "scope", "spawned", "transient", "worker")

    def __init__(self, worker: BaseWorker, *, transient: bool = False) -> None:
        self.worker = worker
        self.scope = trio.CancelScope()
        self.spawned = False
        self.transient = transient  # added while running: forgotten once finished
        self.ready = trio.Event()  # started, or finished without starting
        self.finished = trio.Event()

    @property
    def is_root(self) -> bool:
        return self.worker.parent is None

    def started(self, value: object = None) -> None:
        """The ``task_status`` the worker's ``run`` reports to (duck-typed)."""
        self.ready.set()


def _is_main_task() -> bool:
    """True in the task ``trio.run`` started (the program's own main function)."""
    task = trio.lowlevel.current_task()
    nursery = task.parent_nursery
    return nursery is not None and nursery.parent_task is trio.lowlevel.current_root_task()


class WorkerRunner(EventHandlerMixin, BusSubscriber):
    """Runs workers on a bus until the session ends.

    Args:
        name: unique among connected runners; default ``"runner-<8 hex>"``.
        bus: default: a new :class:`~trio_pipe.bus.bus.LocalBus`.
        handle_sigint: SIGINT cancels the runner (reason "interrupt signal"). None
            (default): only when ``run`` is the program's main task (``trio.run(
            runner.run)``, or awaited directly by the function given to ``trio.run``);
            a runner embedded in an app (a session served by Hypercorn, a task in a
            nursery) leaves SIGINT to the app. Pipecat's default is True.
        handle_sigterm: SIGTERM does the same (otherwise it keeps its default action).
        force_gc: run ``gc.collect()`` once everything is torn down.
        cancel_timeout: seconds cancelled workers get before their scopes are cancelled.
        raise_worker_errors: what a worker whose ``run`` raised means for the session.
            False (default, as in Pipecat): the session goes on without it (see the
            module doc). True: the first such error cancels the session, and ``run``
            raises it once everything has wound down.

    Events: ``on_ready(runner)`` once the workers have started; ``on_error(runner,
    worker, exc)`` when a worker's ``run`` raised.
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        bus: WorkerBus | None = None,
        handle_sigint: bool | None = None,
        handle_sigterm: bool = False,
        force_gc: bool = False,
        cancel_timeout: float = 5.0,
        raise_worker_errors: bool = False,
    ) -> None:
        super().__init__()  # the event handler tables (EventHandlerMixin)
        self._name = name if name is not None else f"runner-{uuid.uuid4().hex[:8]}"
        self._bus = bus if bus is not None else LocalBus()
        self._registry = WorkerRegistry(self._name)
        self._handle_sigint = handle_sigint
        self._handle_sigterm = handle_sigterm
        self._force_gc = force_gc
        self.cancel_timeout = cancel_timeout
        self._raise_worker_errors = raise_worker_errors
        self._worker_error: BaseException | None = None
        self._children = Children(f"runner {self._name!r}")
        self._entries: dict[str, _Entry] = {}
        self._exchange = RegistryExchange(
            self._name,
            self._registry,
            self._bus.send,
            self._local_workers,
        )
        self._nursery: trio.Nursery | None = None
        self._running = False
        self._auto_end = True
        self._shutdown = trio.Event()
        self._shutting_down = False
        self._ending = False
        self._escalated = False
        self._end_scope: trio.CancelScope | None = None
        self._cutting_off = False
        self._cancel_reason: str | None = None
        # Job requests matter to the runner only once a local worker has finished (it
        # answers for it); until then the bus need not wake the runner for each one.
        self._wanted: tuple[type, ...] = _CONTROL_MESSAGES
        self.bus_prefilter = self._wants
        self._register_event_handler("on_ready")
        self._register_event_handler("on_error")

    def __str__(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<WorkerRunner {self._name!r}>"

    @property
    def name(self) -> str:
        """The runner's name (also its bus subscriber name)."""
        return self._name

    @property
    def bus(self) -> WorkerBus:
        """The bus shared by this runner's workers."""
        return self._bus

    @property
    def registry(self) -> WorkerRegistry:
        """The registry this runner owns."""
        return self._registry

    def get_worker(self, name: str) -> BaseWorker | None:
        """The local worker called ``name``, or None (remote workers have no instance)."""
        entry = self._entries.get(name)
        return entry.worker if entry is not None else None

    # --- workers -------------------------------------------------------------------------

    async def add_workers(self, *workers: BaseWorker) -> None:
        """Attach workers and start them (at once if running, otherwise when ``run`` starts)."""
        for worker in workers:
            if worker.name in self._entries:
                logger.error(
                    "runner %r: worker %r already exists, skipping", self._name, worker.name
                )
                continue
            await worker.attach(registry=self._registry, bus=self._bus, worker_runner=self)
            await self._registry.watch(worker.name, self._on_local_worker_ready)
            entry = _Entry(worker, transient=self._nursery is not None)
            self._entries[worker.name] = entry
            if self._nursery is not None:
                self._spawn(entry)

    def _spawn(self, entry: _Entry) -> None:
        assert self._nursery is not None
        if entry.spawned:
            return
        entry.spawned = True
        if self._cutting_off:
            entry.scope.cancel()  # added after the cut-off: it starts cancelled
        self._nursery.start_soon(self._run_worker, entry)

    async def _run_worker(self, entry: _Entry) -> None:
        worker = entry.worker
        try:
            with entry.scope:
                await worker.run(task_status=entry)  # type: ignore[arg-type]
        except Exception as exc:
            error = lone_exception(exc)
            logger.error("runner %r: worker %r failed", self._name, worker.name, exc_info=error)
            with trio.CancelScope(shield=True):  # reported even while the runner stops
                await worker.send_bus_error_message(f"{type(error).__name__}: {error}")
                if self._raise_worker_errors and self._worker_error is None:
                    self._worker_error = error
                    await self.cancel(reason=f"worker '{worker.name}' failed")
            self._call_event_handler("on_error", worker, error)
        finally:
            entry.ready.set()
            entry.finished.set()
            if entry.transient:
                self._forget(entry)
            else:
                # Same step as the worker's unsubscribe: no request to it can slip between.
                self._wanted = _RUNNER_MESSAGES
            self._on_worker_finished(entry)

    def _forget(self, entry: _Entry) -> None:
        """Drop a finished worker that was added while running (per-connection proxies,
        children made on demand), so a long session's tables do not grow with every one;
        its name is free again."""
        name = entry.worker.name
        if self._entries.get(name) is entry:
            del self._entries[name]
        self._registry.unwatch(name, self._on_local_worker_ready)
        self._registry.unregister(name)

    def _on_worker_finished(self, entry: _Entry) -> None:
        if self._auto_end and entry.is_root and not self._unfinished(roots_only=True):
            self._request_shutdown()

    def _unfinished(self, *, roots_only: bool = False) -> list[_Entry]:
        return [
            e
            for e in self._entries.values()
            if not e.finished.is_set() and (e.is_root or not roots_only)
        ]

    # --- running -------------------------------------------------------------------------

    @single_errors
    async def run(
        self, *, auto_end: bool = True, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the bus and the workers until the session ends (see the module doc).

        Raises:
            Exception: the bus failed (a Redis that cannot be reached: its connection
                error, as itself, not in exception groups), or, with
                ``raise_worker_errors``, the first error a worker raised, once the session
                has wound down.
        """
        if self._running:
            raise RuntimeError(f"runner {self._name!r} is already running")
        self._running = True
        self._auto_end = auto_end
        try:
            async with trio.open_nursery() as nursery:
                with self._children.attached(nursery):
                    await nursery.start(self._bus.run)
                    main = _is_main_task()  # here: the child below is not run's task
                    await nursery.start(partial(self._watch_signals, main=main))
                    self._bus.subscribe(self)
                    self._nursery = nursery
                    entries = list(self._entries.values())
                    for entry in entries:
                        self._spawn(entry)
                    for entry in entries:
                        await entry.ready.wait()
                    task_status.started(self)
                    self._call_event_handler("on_ready")
                    await self._shutdown.wait()
                    await self._wind_down()
                    nursery.cancel_scope.cancel()
            if self._worker_error is not None:  # raise_worker_errors: after the wind-down
                error, self._worker_error = self._worker_error, None
                raise error
        finally:
            self._nursery = None
            self._running = False
            self._bus.unsubscribe(self)
            if self._force_gc:
                collected = gc.collect()
                logger.debug("runner %r: gc collected %d objects", self._name, collected)

    async def _wind_down(self) -> None:
        if self._ending and not self._escalated:
            with trio.CancelScope() as scope:
                self._end_scope = scope
                while pending := self._unfinished(roots_only=True):
                    await pending[0].finished.wait()
            self._end_scope = None
        reason = self._cancel_reason or "runner exiting"
        for entry in self._unfinished():
            parent = self._entries.get(entry.worker.parent or "")
            orphan = parent is None or parent.finished.is_set()
            # Roots get the cancel from us; children from their parents, unless the
            # parent is gone (it would never pass it on).
            if entry.is_root or orphan:
                self._bus.send(
                    BusCancelWorkerMessage(
                        reason=reason, source=self._name, target=entry.worker.name
                    )
                )
        with trio.move_on_after(self.cancel_timeout):
            while pending := self._unfinished():
                await pending[0].finished.wait()
        self._cutting_off = True
        for entry in self._unfinished():
            logger.warning(
                "runner %r: worker %r did not finish within %.1fs of cancel; cancelling it",
                self._name,
                entry.worker.name,
                self.cancel_timeout,
            )
            entry.scope.cancel()

    def _request_shutdown(self) -> None:
        self._shutting_down = True
        self._shutdown.set()

    async def end(self, reason: str | None = None) -> None:
        """End gracefully: every unfinished root worker gets BusEndWorkerMessage(reason)."""
        await trio.lowlevel.checkpoint()
        if self._shutting_down:
            return
        self._ending = True
        self._request_shutdown()
        for entry in self._unfinished(roots_only=True):
            self._bus.send(
                BusEndWorkerMessage(reason=reason, source=self._name, target=entry.worker.name)
            )

    async def cancel(self, reason: str | None = None) -> None:
        """Cancel: root workers get BusCancelWorkerMessage(reason); escalates an end."""
        await trio.lowlevel.checkpoint()
        if self._shutting_down:
            if self._ending and not self._escalated:
                self._escalated = True
                self._cancel_reason = reason
                if self._end_scope is not None:
                    self._end_scope.cancel()
            return
        self._cancel_reason = reason
        self._request_shutdown()

    async def _watch_signals(self, *, main: bool, task_status: trio.TaskStatus[None]) -> None:
        signals = []
        if self._handle_sigint or (self._handle_sigint is None and main):
            signals.append(signal.SIGINT)
        if self._handle_sigterm:
            signals.append(signal.SIGTERM)
        await watch_signals(
            signals, self._name, self._cancel_on_signal, self._stop_now, task_status=task_status
        )

    async def _cancel_on_signal(self) -> None:
        await self.cancel(reason="interrupt signal")

    def _stop_now(self) -> None:
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # --- bus -----------------------------------------------------------------------------

    def _wants(self, message: BusMessage) -> bool:
        return isinstance(message, self._wanted)

    def accepts_bus_message(self, message: BusMessage) -> bool:
        """Only what the runner acts on."""
        return isinstance(message, _RUNNER_MESSAGES)

    async def on_bus_message(self, message: BusMessage) -> None:
        """End, cancel, add-worker and registry messages from others; late job requests."""
        if message.source == self._name:
            return
        if isinstance(message, BusJobRequestMessage):
            entry = self._entries.get(message.target or "")
            if entry is not None and entry.finished.is_set():
                entry.worker._answer_if_detached(message)
        elif isinstance(message, BusEndMessage):
            self._children.start_soon(self.end, message.reason)
        elif isinstance(message, BusCancelMessage):
            self._children.start_soon(self.cancel, message.reason)
        elif isinstance(message, BusAddWorkerMessage):
            if isinstance(message.worker, BaseWorker):
                await self.add_workers(message.worker)
            else:
                logger.warning("runner %r: %s carries no worker, ignored", self._name, message)
        elif isinstance(message, BusWorkerRegistryMessage):
            await self._exchange.learn(message)

    def _local_workers(self) -> list[BaseWorker]:
        return [e.worker for e in self._entries.values()]

    async def _on_local_worker_ready(self, data: WorkerReadyData) -> None:
        if data.runner != self._name:
            return
        entry = self._entries.get(data.worker_name)
        if entry is not None and entry.is_root:
            self._exchange.announce()
