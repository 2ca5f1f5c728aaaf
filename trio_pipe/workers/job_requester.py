"""The job requester: the part of a worker that launches job groups and follows them.

A :class:`JobRequester` keeps its own state (the groups still waiting) and reaches its
worker only through :class:`RequestingWorker`, the worker port plus the hooks it calls
back. ``BaseWorker`` creates one and keeps Pipecat's method names (``request_job``,
``job_group``, ``cancel_job_group``, ...) as delegates to it (``workers.requesting_api``).

Launching a group (:meth:`JobRequester.start_group`): wait until every worker is in the
registry, create the :class:`~trio_pipe.workers.jobs.JobGroup` with a uuid4 job id,
start its timer, send one request per worker.

Resource handling
    A group lives in ``groups`` until it completes or fails; its timer is a child task
    of the worker's nursery that the group's end cancels. The ready-wait watches the
    registry only for the workers not registered yet and removes its watches when it
    returns, however it returns.

Timeout
    ``params.timeout`` is one deadline for the whole job: the ready-wait and then the
    answers (Pipecat restarts the clock after the ready-wait, so a job could take twice
    its timeout).
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Protocol

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
    JobStatus,
    WorkerReadyData,
)
from trio_pipe.registry import WorkerRegistry
from trio_pipe.workers.jobs import (
    JobGroup,
    JobGroupError,
    JobGroupEvent,
    JobGroupResponse,
    JobParams,
)
from trio_pipe.workers.port import WorkerPort

__all__ = ["JobRequester", "RequestingWorker", "new_job_id"]

logger = logging.getLogger(__name__)

_FAILING = (JobStatus.ERROR, JobStatus.FAILED)


def new_job_id() -> str:
    """A random (version 4) UUID string, as ``str(uuid.uuid4())``, in half the time."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class RequestingWorker(WorkerPort, Protocol):
    """The worker port plus the hooks a job requester calls (a subclass may override them;
    ``cancel_job_group`` too, which is how a UI worker tells its client)."""

    async def on_job_response(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None: ...

    async def on_job_update(
        self, message: BusJobUpdateMessage | BusJobUpdateUrgentMessage
    ) -> None: ...

    async def on_job_completed(self, result: JobGroupResponse) -> None: ...

    async def on_job_error(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None: ...

    async def on_job_stream_start(self, message: BusJobStreamStartMessage) -> None: ...

    async def on_job_stream_data(self, message: BusJobStreamDataMessage) -> None: ...

    async def on_job_stream_end(self, message: BusJobStreamEndMessage) -> None: ...

    async def cancel_job_group(self, job_id: str, *, reason: str | None = None) -> None: ...


class JobRequester:
    """The job groups one worker launched and is still waiting for."""

    def __init__(self, worker: RequestingWorker) -> None:
        self._worker = worker
        self.groups: dict[str, JobGroup] = {}
        """The groups still waiting, keyed by job id."""

    # --- launching -----------------------------------------------------------------------

    async def start_group(
        self, worker_names: list[str], params: JobParams, *, events: bool
    ) -> JobGroup:
        """Wait until every worker is ready, create the group and send the requests.

        Raises:
            JobGroupError: the workers were not ready within ``params.timeout``, or one
                is known to be unreachable.
            RuntimeError: the worker is not attached to a registry.
        """
        worker = self._worker
        deadline = math.inf if params.timeout is None else trio.current_time() + params.timeout
        registry = worker.registry  # RuntimeError when not attached
        for worker_name in worker_names:
            if worker_name not in registry:
                await _wait_workers_ready(registry, worker_names, deadline)
                break
        group = JobGroup(
            job_id=new_job_id(),
            worker_names=list(worker_names),
            # A single job's JobParams has no cancel_on_error: it fails on an error answer.
            cancel_on_error=getattr(params, "cancel_on_error", True),
            label=params.label,
            cancellable=params.cancellable,
        )
        if events:
            group.open_event_queue()  # before the requests go out, so no event is missed
        self.groups[group.job_id] = group
        if deadline != math.inf:
            group.timeout_scope = trio.CancelScope(deadline=deadline)
            worker.start_soon(self._timer, group.job_id, group.timeout_scope)
        source = worker.name
        for worker_name in worker_names:
            worker._send(
                BusJobRequestMessage(
                    job_id=group.job_id,
                    job_name=params.name,
                    payload=params.payload,
                    source=source,
                    target=worker_name,
                )
            )
        return group

    async def _timer(self, job_id: str, scope: trio.CancelScope) -> None:
        with scope:
            await trio.sleep_forever()  # until the scope's deadline, or the group ends
        if scope.cancelled_caught and trio.current_time() >= scope.deadline:
            group = self.groups.get(job_id)
            if group is not None and group.timeout_scope is scope:
                await self._worker.cancel_job_group(job_id, reason="timeout")

    # --- cancelling ----------------------------------------------------------------------

    def cancel_group(self, job_id: str, reason: str | None) -> None:
        """Tell every worker of group ``job_id`` it is cancelled and fail the group."""
        group = self.groups.pop(job_id, None)
        if group is None:
            return
        if reason is None:
            reason = "cancelled"
        if group.timeout_scope is not None:
            group.timeout_scope.cancel()
        worker = self._worker
        for worker_name in group.worker_names:
            worker._send(
                BusJobCancelMessage(
                    job_id=job_id, reason=reason, source=worker.name, target=worker_name
                )
            )
        group.fail(reason)

    def request_update(self, job_id: str, worker_name: str) -> None:
        """Ask ``worker_name`` for progress on ``job_id``."""
        worker = self._worker
        worker._send(
            BusJobUpdateRequestMessage(job_id=job_id, source=worker.name, target=worker_name)
        )

    # --- answers -------------------------------------------------------------------------

    async def handle_response(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None:
        """An answer: hooks and events, then the group's bookkeeping (or its cancel)."""
        worker = self._worker
        job_id, source = message.job_id, message.source
        group = self.groups.get(job_id)
        if group is not None:
            group.terminated.add(source)
        await worker.on_job_response(message)
        worker._call_event_handler("on_job_response", message)
        group = self.groups.get(job_id)
        if group is not None and group.cancel_on_error and message.status in _FAILING:
            if source in group.worker_names:
                group.responses[source] = message.response or {}
            await worker.on_job_error(message)
            worker._call_event_handler("on_job_error", message)
            await worker.cancel_job_group(job_id, reason=f"worker '{source}' errored")
            return
        await self._track_response(job_id, source, message.response)

    async def handle_update(self, message: BusJobUpdateMessage | BusJobUpdateUrgentMessage) -> None:
        """Progress on a job: hook, event, and the group's event queue."""
        await self._worker.on_job_update(message)
        self._worker._call_event_handler("on_job_update", message)
        self._push_event(message.job_id, JobGroupEvent.UPDATE, message.source, message.update)

    async def handle_stream_start(self, message: BusJobStreamStartMessage) -> None:
        """A stream begins: hook, event, and the group's event queue."""
        await self._worker.on_job_stream_start(message)
        self._worker._call_event_handler("on_job_stream_start", message)
        self._push_event(message.job_id, JobGroupEvent.STREAM_START, message.source, message.data)

    async def handle_stream_data(self, message: BusJobStreamDataMessage) -> None:
        """A stream chunk: hook, event, and the group's event queue."""
        await self._worker.on_job_stream_data(message)
        self._worker._call_event_handler("on_job_stream_data", message)
        self._push_event(message.job_id, JobGroupEvent.STREAM_DATA, message.source, message.data)

    async def handle_stream_end(self, message: BusJobStreamEndMessage) -> None:
        """A stream ends, which answers the job: hook, event, bookkeeping."""
        group = self.groups.get(message.job_id)
        if group is not None:
            group.terminated.add(message.source)
        await self._worker.on_job_stream_end(message)
        self._worker._call_event_handler("on_job_stream_end", message)
        self._push_event(message.job_id, JobGroupEvent.STREAM_END, message.source, message.data)
        await self._track_response(message.job_id, message.source, message.data)

    def _push_event(
        self, job_id: str, kind: str, worker_name: str, data: dict[str, Any] | None
    ) -> None:
        group = self.groups.get(job_id)
        if group is not None and group.has_event_queue:
            group.push_event(JobGroupEvent(kind, worker_name, data))

    async def _track_response(
        self, job_id: str, source: str, response: dict[str, Any] | None
    ) -> None:
        group = self.groups.get(job_id)
        if group is None or not group.record(source, response):
            return
        if group.timeout_scope is not None:
            group.timeout_scope.cancel()
        del self.groups[job_id]
        result = JobGroupResponse(job_id=job_id, responses=group.responses)
        await self._worker.on_job_completed(result)
        self._worker._call_event_handler("on_job_completed", result)
        group.complete()


async def _wait_workers_ready(
    registry: WorkerRegistry, worker_names: list[str], deadline: float
) -> None:
    missing = [name for name in dict.fromkeys(worker_names) if name not in registry]
    if not missing:
        return
    pending = set(missing)
    all_ready = trio.Event()
    # A worker known to be unreachable (its proxy's handshake was refused) fails the
    # wait at once instead of at the timeout.
    unreachable = {n: r for n in missing if (r := registry.unreachable(n)) is not None}

    async def on_ready(data: WorkerReadyData) -> None:
        pending.discard(data.worker_name)
        if not pending:
            all_ready.set()

    def on_unreachable(name: str, reason: str) -> None:
        unreachable[name] = reason
        all_ready.set()

    try:
        if not unreachable:
            for name in missing:
                registry.watch_unreachable(name, on_unreachable)
                await registry.watch(name, on_ready)
            with trio.move_on_at(deadline):
                await all_ready.wait()
    finally:
        for name in missing:
            registry.unwatch(name, on_ready)
            registry.unwatch_unreachable(name, on_unreachable)
    if unreachable:
        reasons = "; ".join(f"{n}: {r}" for n, r in sorted(unreachable.items()))
        raise JobGroupError(f"workers unreachable: {reasons}")
    if pending:
        raise JobGroupError(f"workers not ready within timeout: {', '.join(sorted(pending))}")
