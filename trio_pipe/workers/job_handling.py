"""The worker side of jobs: run each request's handler, answer, cancel.

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
from typing import TYPE_CHECKING, Any

import trio

from trio_pipe.bus.messages import (
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
    JobStatus,
)
from trio_pipe.workers.decorators import collect_job_handlers

if TYPE_CHECKING:
    from trio_pipe.children import Children

__all__ = ["JobHandlingMixin"]

logger = logging.getLogger(__name__)

JobHandler = Callable[[BusJobRequestMessage], Awaitable[Any]]


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


class JobHandlingMixin:
    """Worker-side job handling for :class:`~trio_pipe.workers.base.BaseWorker`."""

    # Provided by BaseWorker.
    name: str
    _children: Children

    if TYPE_CHECKING:

        def _send(self, message: BusMessage) -> None: ...
        def _call_event_handler(self, event_name: str, *args: Any) -> None: ...

    def _init_job_handling(self) -> None:
        self._active_jobs: dict[str, BusJobRequestMessage] = {}
        self._job_scopes: dict[str, trio.CancelScope] = {}
        self._job_handlers = collect_job_handlers(self)
        self._sequential_lanes: dict[str, _SequentialLane] = {}
        self.job_handler_errors = 0
        """How many job handlers raised (each was logged and answered with ERROR)."""

    @property
    def active_jobs(self) -> dict[str, BusJobRequestMessage]:
        """The open requests this worker is serving, keyed by job id."""
        return self._active_jobs

    # --- hooks (override; the event of the same name fires after) -------------------------

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        """Handle a request that no ``@job`` handler matches. Override to do work."""

    async def on_job_update_requested(self, message: BusJobUpdateRequestMessage) -> None:
        """The requester asked for progress on an open job; answer with send_job_update."""

    async def on_job_cancelled(self, message: BusJobCancelMessage) -> None:
        """An open job was cancelled by its requester; its handler is already cancelled."""

    # --- incoming ------------------------------------------------------------------------

    async def _handle_job_request(self, message: BusJobRequestMessage) -> None:
        job_id = message.job_id
        self._active_jobs[job_id] = message
        handler: JobHandler = self.on_job_request
        ticket = None
        job_name = message.job_name
        if job_name is not None:
            found = self._job_handlers.get(job_name)
            if found is not None:
                handler, sequential = found
                if sequential:
                    lane = self._sequential_lanes.get(job_name)
                    if lane is None:
                        lane = self._sequential_lanes[job_name] = _SequentialLane()
                    ticket = lane.take()
        # Created here, not in the task: a cancel may arrive before the task first runs.
        scope = trio.CancelScope()
        previous = self._job_scopes.get(job_id)
        if previous is not None:
            previous.cancel()  # a duplicate id replaces the older request
        self._job_scopes[job_id] = scope
        self._children.start_soon(self._run_job_handler, handler, message, scope, ticket)
        self._call_event_handler("on_job_request", message)

    async def _run_job_handler(
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
                    self.job_handler_errors += 1
                    logger.exception("worker %r: job %r (%s) failed", self.name, job_id, handler)
                    if self._active_jobs.get(job_id) is message:
                        error = {"error": f"{type(exc).__name__}: {exc}"}
                        self._reply(
                            job_id, "respond to", BusJobResponseMessage, error, JobStatus.ERROR
                        )
        finally:
            if ticket is not None:
                lane = ticket.lane
                lane.release(ticket)
                name = message.job_name or ""
                if not lane.queue and self._sequential_lanes.get(name) is lane:
                    del self._sequential_lanes[name]  # job tables stay the size they were
            if self._job_scopes.get(job_id) is scope:
                del self._job_scopes[job_id]

    async def _handle_job_cancel(self, message: BusJobCancelMessage) -> None:
        job_id = message.job_id
        if job_id not in self._active_jobs:
            return  # unknown, or already answered (e.g. the stream ended): ignored
        scope = self._job_scopes.get(job_id)
        if scope is not None:
            scope.cancel()
        await self.on_job_cancelled(message)
        self._call_event_handler("on_job_cancelled", message)
        if job_id in self._active_jobs:  # the hook may have answered already
            await self.send_job_response(job_id, status=JobStatus.CANCELLED)

    async def _handle_job_update_request(self, message: BusJobUpdateRequestMessage) -> None:
        if message.job_id in self._active_jobs:
            await self.on_job_update_requested(message)
            self._call_event_handler("on_job_update_requested", message)

    def _stop_jobs(self) -> None:
        """Answer every open job with CANCELLED and cancel every running handler."""
        for job_id in list(self._active_jobs):
            self._reply(job_id, "cancel", BusJobResponseMessage, None, JobStatus.CANCELLED)
        for scope in list(self._job_scopes.values()):
            scope.cancel()

    # --- replies -------------------------------------------------------------------------

    def _reply(
        self,
        job_id: str,
        what: str,
        cls: type[BusMessage],
        value: dict[str, Any] | None,
        status: JobStatus | None = None,
    ) -> None:
        request = self._active_jobs.get(job_id)
        if request is None:
            raise RuntimeError(f"worker {self.name!r}: no active job {job_id!r} to {what}")
        if status is not None:  # a response: closes the job
            message = cls(  # type: ignore[call-arg]
                job_id=job_id,
                status=status,
                response=value,
                source=self.name,
                target=request.source,
            )
            del self._active_jobs[job_id]
        elif cls is BusJobUpdateMessage or cls is BusJobUpdateUrgentMessage:
            message = cls(job_id=job_id, update=value, source=self.name, target=request.source)  # type: ignore[call-arg]
        else:
            message = cls(job_id=job_id, data=value, source=self.name, target=request.source)  # type: ignore[call-arg]
            if cls is BusJobStreamEndMessage:
                del self._active_jobs[job_id]
        self._send(message)

    async def send_job_response(
        self,
        job_id: str,
        response: dict[str, Any] | None = None,
        *,
        status: JobStatus | str = JobStatus.COMPLETED,
        urgent: bool = False,
    ) -> None:
        """Answer job ``job_id`` and close it. Raises RuntimeError if it is not open."""
        await trio.lowlevel.checkpoint()
        cls = BusJobResponseUrgentMessage if urgent else BusJobResponseMessage
        if status.__class__ is not JobStatus:
            status = JobStatus(status)  # ValueError for anything else
        self._reply(job_id, "respond to", cls, response, status)

    async def send_job_update(
        self, job_id: str, update: dict[str, Any] | None = None, *, urgent: bool = False
    ) -> None:
        """Send progress on open job ``job_id`` to its requester."""
        await trio.lowlevel.checkpoint()
        cls = BusJobUpdateUrgentMessage if urgent else BusJobUpdateMessage
        self._reply(job_id, "update", cls, update)

    async def send_job_stream_start(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """Start streaming results of open job ``job_id``."""
        await trio.lowlevel.checkpoint()
        self._reply(job_id, "stream", BusJobStreamStartMessage, data)

    async def send_job_stream_data(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """Send one chunk of open job ``job_id``'s stream."""
        await trio.lowlevel.checkpoint()
        self._reply(job_id, "stream", BusJobStreamDataMessage, data)

    async def send_job_stream_end(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """End the stream of job ``job_id``; this answers and closes the job."""
        await trio.lowlevel.checkpoint()
        self._reply(job_id, "stream", BusJobStreamEndMessage, data)
