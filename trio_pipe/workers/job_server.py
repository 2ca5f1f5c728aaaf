"""The job server: the part of a worker that serves job requests (runs, answers, cancels).

A :class:`JobServer` keeps its own state (open requests, their cancel scopes, the
sequential lanes, the error count) and reaches its worker only through
:class:`ServingWorker`, the worker port plus the hooks it calls back. ``BaseWorker``
creates one and keeps Pipecat's method names (``send_job_response``, ``active_jobs``, ...)
as one-line delegates to it.

A :class:`~trio_pipe.bus.messages.BusJobRequestMessage` addressed to the worker is filed
in ``active_jobs`` and its handler (the ``@job`` of that name, else ``on_job_request``)
starts as a child task of the worker's nursery, inside a cancel scope of its own that a
:class:`BusJobCancelMessage` or ``stop()`` cancels. The reply helpers
(``send_job_response`` and friends) answer the requester; a response or a stream end
closes the job.

Sequential jobs (``@job(..., sequential=True)``): the request takes a ticket on arrival,
synchronously, in the bus task that delivered it, so the run order is the arrival order
whatever order Trio starts the handler tasks in.

Error handling
    A handler that raises is logged and counted in ``job_handler_errors``; if its job is
    still open the requester gets ``status=ERROR`` with ``{"error": "<Type>: <text>"}``
    (Pipecat leaves the requester waiting). The worker keeps serving.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio

from trio_pipe.bus.messages import (
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobResponseUrgentMessage,
    BusJobStreamEndMessage,
    BusJobUpdateMessage,
    BusJobUpdateRequestMessage,
    BusJobUpdateUrgentMessage,
    BusMessage,
    JobStatus,
)
from trio_pipe.workers.port import WorkerPort

__all__ = ["JobServer", "ServingWorker"]

logger = logging.getLogger(__name__)

JobHandler = Callable[[BusJobRequestMessage], Awaitable[Any]]


class ServingWorker(WorkerPort, Protocol):
    """The worker port plus the hooks a job server calls (a subclass may override them)."""

    async def on_job_request(self, message: BusJobRequestMessage) -> None: ...

    async def on_job_update_requested(self, message: BusJobUpdateRequestMessage) -> None: ...

    async def on_job_cancelled(self, message: BusJobCancelMessage) -> None: ...

    async def send_job_response(
        self,
        job_id: str,
        response: dict[str, Any] | None = None,
        *,
        status: JobStatus | str = JobStatus.COMPLETED,
        urgent: bool = False,
    ) -> None: ...


class _Ticket:
    """A place in one sequential job name's queue."""

    __slots__ = ("lane", "turn")

    def __init__(self, lane: _SequentialLane) -> None:
        self.lane = lane
        self.turn = trio.Event()


class _SequentialLane:
    """FIFO of the requests of one sequential job name; the head runs."""

    __slots__ = ("queue",)

    def __init__(self) -> None:
        self.queue: deque[_Ticket] = deque()

    def take(self) -> _Ticket:
        ticket = _Ticket(self)
        if not self.queue:
            ticket.turn.set()
        self.queue.append(ticket)
        return ticket

    def release(self, ticket: _Ticket) -> None:
        """Leave the queue (after running, or cancelled while waiting)."""
        queue = self.queue
        if queue and queue[0] is ticket:
            queue.popleft()
            if queue:
                queue[0].turn.set()
        else:
            try:
                queue.remove(ticket)
            except ValueError:
                pass


class JobServer:
    """The requests one worker serves.

    Args:
        worker: the worker (its port and serving hooks).
        handlers: ``{job name: (handler, sequential)}``, the worker's ``@job`` methods.
    """

    def __init__(self, worker: ServingWorker, handlers: dict[str, tuple[JobHandler, bool]]) -> None:
        self._worker = worker
        self.handlers = handlers
        self.active_jobs: dict[str, BusJobRequestMessage] = {}
        """The open requests, keyed by job id."""
        self.scopes: dict[str, trio.CancelScope] = {}
        """The cancel scope of each running (or about to run) handler, keyed by job id."""
        self.sequential_lanes: dict[str, _SequentialLane] = {}
        self.handler_errors = 0
        """How many job handlers raised (each was logged and answered with ERROR)."""
        # Job ids answered "finished" by the worker itself, so its runner does not answer
        # them a second time (see answer_finished_once).
        self._late_answers: set[str] = set()

    # --- incoming ------------------------------------------------------------------------

    def handle_request(self, message: BusJobRequestMessage) -> None:
        """File the request and start its handler as a child task of the worker."""
        worker = self._worker
        job_id = message.job_id
        self.active_jobs[job_id] = message
        handler: JobHandler = worker.on_job_request
        ticket = None
        job_name = message.job_name
        if job_name is not None:
            found = self.handlers.get(job_name)
            if found is not None:
                handler, sequential = found
                if sequential:
                    lane = self.sequential_lanes.get(job_name)
                    if lane is None:
                        lane = self.sequential_lanes[job_name] = _SequentialLane()
                    ticket = lane.take()
        # Created here, not in the task: a cancel may arrive before the task first runs.
        scope = trio.CancelScope()
        previous = self.scopes.get(job_id)
        if previous is not None:
            previous.cancel()  # a duplicate id replaces the older request
        self.scopes[job_id] = scope
        worker.start_soon(self._run_handler, handler, message, scope, ticket)
        worker._call_event_handler("on_job_request", message)

    async def _run_handler(
        self,
        handler: JobHandler,
        message: BusJobRequestMessage,
        scope: trio.CancelScope,
        ticket: _Ticket | None,
    ) -> None:
        job_id = message.job_id
        try:
            with scope:
                if scope.cancel_called:
                    return  # cancelled before it began: the handler never runs
                if ticket is not None:
                    await ticket.turn.wait()
                try:
                    await handler(message)
                except Exception as exc:
                    self.handler_errors += 1
                    logger.exception(
                        "worker %r: job %r (%s) failed", self._worker.name, job_id, handler
                    )
                    if self.active_jobs.get(job_id) is message:
                        error = {"error": f"{type(exc).__name__}: {exc}"}
                        self.reply(
                            job_id, "respond to", BusJobResponseMessage, error, JobStatus.ERROR
                        )
        finally:
            if ticket is not None:
                lane = ticket.lane
                lane.release(ticket)
                name = message.job_name or ""
                if not lane.queue and self.sequential_lanes.get(name) is lane:
                    del self.sequential_lanes[name]  # job tables stay the size they were
            if self.scopes.get(job_id) is scope:
                del self.scopes[job_id]

    async def handle_cancel(self, message: BusJobCancelMessage) -> None:
        """Cancel the handler, tell the hook, answer CANCELLED unless the hook answered."""
        job_id = message.job_id
        if job_id not in self.active_jobs:
            return  # unknown, or already answered (e.g. the stream ended): ignored
        scope = self.scopes.get(job_id)
        if scope is not None:
            scope.cancel()
        worker = self._worker
        await worker.on_job_cancelled(message)
        worker._call_event_handler("on_job_cancelled", message)
        if job_id in self.active_jobs:  # the hook may have answered already
            await worker.send_job_response(job_id, status=JobStatus.CANCELLED)

    async def handle_update_request(self, message: BusJobUpdateRequestMessage) -> None:
        """Pass a progress request for an open job to the hook."""
        if message.job_id in self.active_jobs:
            await self._worker.on_job_update_requested(message)
            self._worker._call_event_handler("on_job_update_requested", message)

    def stop(self) -> None:
        """Answer every open job with CANCELLED and cancel every running handler."""
        for job_id in list(self.active_jobs):
            self.reply(job_id, "cancel", BusJobResponseMessage, None, JobStatus.CANCELLED)
        for scope in list(self.scopes.values()):
            scope.cancel()

    def answer_finished(self, message: BusJobRequestMessage, *, remember: bool = True) -> None:
        """Answer a request that reached the finished worker: ERROR, so no one waits."""
        if remember:
            self._late_answers.add(message.job_id)
        name = self._worker.name
        self._worker._send(
            BusJobResponseMessage(
                job_id=message.job_id,
                status=JobStatus.ERROR,
                response={"error": f"worker '{name}' has finished"},
                source=name,
                target=message.source,
            )
        )

    def answer_finished_once(self, message: BusJobRequestMessage) -> None:
        """The runner's check for a request to the finished worker: answer unless the
        worker already did (then forget that it did)."""
        if message.job_id in self._late_answers:
            self._late_answers.discard(message.job_id)
            return
        self.answer_finished(message, remember=False)

    # --- replies -------------------------------------------------------------------------

    def reply(
        self,
        job_id: str,
        what: str,
        cls: type[BusMessage],
        value: dict[str, Any] | None,
        status: JobStatus | None = None,
    ) -> None:
        """Send ``cls`` to the requester of open job ``job_id`` (a response closes it).

        Raises RuntimeError (naming ``what`` was tried) if the job is not open.
        """
        name = self._worker.name
        request = self.active_jobs.get(job_id)
        if request is None:
            raise RuntimeError(f"worker {name!r}: no active job {job_id!r} to {what}")
        if status is not None:  # a response: closes the job
            message = cls(  # type: ignore[call-arg]
                job_id=job_id,
                status=status,
                response=value,
                source=name,
                target=request.source,
            )
            del self.active_jobs[job_id]
        elif cls is BusJobUpdateMessage or cls is BusJobUpdateUrgentMessage:
            message = cls(job_id=job_id, update=value, source=name, target=request.source)  # type: ignore[call-arg]
        else:
            message = cls(job_id=job_id, data=value, source=name, target=request.source)  # type: ignore[call-arg]
            if cls is BusJobStreamEndMessage:
                del self.active_jobs[job_id]
        self._worker._send(message)

    def respond(
        self,
        job_id: str,
        response: dict[str, Any] | None,
        status: JobStatus | str,
        urgent: bool,
    ) -> None:
        """Answer job ``job_id`` and close it. Raises RuntimeError if it is not open."""
        cls = BusJobResponseUrgentMessage if urgent else BusJobResponseMessage
        if status.__class__ is not JobStatus:
            status = JobStatus(status)  # ValueError for anything else
        self.reply(job_id, "respond to", cls, response, status)  # type: ignore[arg-type]

    def update(self, job_id: str, update: dict[str, Any] | None, urgent: bool) -> None:
        """Send progress on open job ``job_id`` to its requester."""
        cls = BusJobUpdateUrgentMessage if urgent else BusJobUpdateMessage
        self.reply(job_id, "update", cls, update)

    def stream(self, job_id: str, cls: type[BusMessage], data: dict[str, Any] | None) -> None:
        """Send a stream start, chunk or end (which closes the job) to the requester."""
        self.reply(job_id, "stream", cls, data)
