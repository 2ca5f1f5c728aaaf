"""The requester side of jobs: send requests, track groups, time out, cancel.

``request_job``/``request_job_group`` are fire-and-forget (results arrive through the
hooks and events); ``job(...)``/``job_group(...)`` are async context managers that wait
for the answers (see ``workers.job_context``). Both go through
:meth:`JobRequesterMixin.create_job_group_and_request_job`: wait until every worker is in
the registry, create the :class:`~trio_pipe.workers.jobs.JobGroup` with a uuid4 job id,
start its timer, send one request per worker.

Resource handling
    A group lives in ``job_groups`` until it completes or fails; its timer is a child
    task of the worker's nursery that the group's end cancels. The ready-wait watches the
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
    WorkerReadyData,
)
from trio_pipe.workers.job_context import JobContext, JobGroupContext
from trio_pipe.workers.jobs import (
    JobGroup,
    JobGroupError,
    JobGroupEvent,
    JobGroupParams,
    JobGroupResponse,
    JobParams,
    P,
    resolve_job_params,
)

if TYPE_CHECKING:
    from trio_pipe.children import Children
    from trio_pipe.registry import WorkerRegistry

__all__ = ["JobRequesterMixin"]

logger = logging.getLogger(__name__)

_FAILING = (JobStatus.ERROR, JobStatus.FAILED)


def new_job_id() -> str:
    """A random (version 4) UUID string, as ``str(uuid.uuid4())``, in half the time."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _check_names(names: tuple[Any, ...] | list[Any], who: object) -> None:
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{who}: expected worker name as str, got {type(name).__name__}")


class JobRequesterMixin:
    """Requester-side job API for :class:`~trio_pipe.workers.base.BaseWorker`."""

    # Provided by BaseWorker.
    name: str
    _children: Children

    if TYPE_CHECKING:

        @property
        def registry(self) -> WorkerRegistry: ...
        def _send(self, message: BusMessage) -> None: ...
        def _call_event_handler(self, event_name: str, *args: Any) -> None: ...

    def _init_requester(self) -> None:
        self._job_groups: dict[str, JobGroup] = {}

    @property
    def job_groups(self) -> dict[str, JobGroup]:
        """The groups this worker launched that are still waiting, keyed by job id."""
        return self._job_groups

    # --- hooks (override; the event of the same name fires after) -------------------------

    async def on_job_response(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None:
        """A worker answered a job addressed to this worker."""

    async def on_job_update(self, message: BusJobUpdateMessage | BusJobUpdateUrgentMessage) -> None:
        """A worker sent progress on a job."""

    async def on_job_completed(self, result: JobGroupResponse) -> None:
        """Every worker of a group launched here has answered."""

    async def on_job_error(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None:
        """A worker answered ERROR/FAILED in a group with cancel_on_error; it is cancelled."""

    async def on_job_stream_start(self, message: BusJobStreamStartMessage) -> None:
        """A worker started streaming a job's results."""

    async def on_job_stream_data(self, message: BusJobStreamDataMessage) -> None:
        """A worker sent one chunk of a job's stream."""

    async def on_job_stream_end(self, message: BusJobStreamEndMessage) -> None:
        """A worker ended a job's stream (this answers the job)."""

    # --- sending requests ----------------------------------------------------------------

    def _resolve(self, names: Any, params: Any, params_class: type[P], **deprecated: Any) -> P:
        _check_names(names, self)
        # stacklevel 4: the warning points at the code that called the public method.
        return resolve_job_params(params, params_class, _stacklevel=4, **deprecated)

    async def request_job(
        self,
        worker_name: str,
        *,
        params: JobParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (Pipecat's deprecated keyword)
    ) -> str:
        """Send a job to one worker once it is ready; return the job id (fire-and-forget)."""
        resolved = self._resolve(
            (worker_name,), params, JobParams, name=name, payload=payload, timeout=timeout
        )
        group = await self._start_job_group([worker_name], resolved, events=False)
        return group.job_id

    def job(
        self,
        worker_name: str,
        *,
        params: JobParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> JobContext:
        """``async with self.job("w", params=...) as t:`` run one job and wait for its answer.

        ``async for event in t`` yields :class:`JobEvent`; ``t.response`` is the answer.
        Failure (error answer, timeout, worker not ready in time) raises :class:`JobError`.
        """
        if name is None and payload is None and timeout is None and type(worker_name) is str:
            return JobContext(self, worker_name, params=params)  # the common, quick path
        resolved = self._resolve(
            (worker_name,), params, JobParams, name=name, payload=payload, timeout=timeout
        )
        return JobContext(self, worker_name, params=resolved)

    async def request_job_group(
        self,
        *worker_names: str,
        params: JobGroupParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (Pipecat's deprecated keyword)
        cancel_on_error: bool | None = None,
    ) -> str:
        """Send a job to several workers once all are ready; return the shared job id."""
        resolved = self._resolve(
            worker_names,
            params,
            JobGroupParams,
            name=name,
            payload=payload,
            timeout=timeout,
            cancel_on_error=cancel_on_error,
        )
        group = await self._start_job_group(list(worker_names), resolved, events=False)
        return group.job_id

    def job_group(
        self,
        *worker_names: str,
        params: JobGroupParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
        cancel_on_error: bool | None = None,
    ) -> JobGroupContext:
        """``async with self.job_group("w1", "w2", params=...) as g:`` wait for all answers.

        ``async for event in g`` yields :class:`JobGroupEvent`; ``g.responses`` maps each
        worker to its answer. Failure raises :class:`JobGroupError`.
        """
        resolved = self._resolve(
            worker_names,
            params,
            JobGroupParams,
            name=name,
            payload=payload,
            timeout=timeout,
            cancel_on_error=cancel_on_error,
        )
        return JobGroupContext(self, worker_names, params=resolved)

    async def create_job_group_and_request_job(
        self,
        worker_names: list[str],
        *,
        params: JobGroupParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (Pipecat's deprecated keyword)
        cancel_on_error: bool | None = None,
    ) -> JobGroup:
        """Wait until every worker is ready, create the group and send the requests.

        Raises:
            JobGroupError: the workers were not ready within ``params.timeout``.
            RuntimeError: the worker is not attached to a registry.
        """
        resolved = self._resolve(
            worker_names,
            params,
            JobGroupParams,
            name=name,
            payload=payload,
            timeout=timeout,
            cancel_on_error=cancel_on_error,
        )
        return await self._start_job_group(list(worker_names), resolved, events=False)

    async def _start_job_group(
        self, worker_names: list[str], params: JobParams, *, events: bool
    ) -> JobGroup:
        deadline = math.inf if params.timeout is None else trio.current_time() + params.timeout
        registry = self.registry  # RuntimeError when not attached
        for worker_name in worker_names:
            if worker_name not in registry:
                await self._wait_workers_ready(registry, worker_names, deadline)
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
        self._job_groups[group.job_id] = group
        if deadline != math.inf:
            group.timeout_scope = trio.CancelScope(deadline=deadline)
            self._children.start_soon(self._job_timer, group.job_id, group.timeout_scope)
        for worker_name in worker_names:
            self._send(
                BusJobRequestMessage(
                    job_id=group.job_id,
                    job_name=params.name,
                    payload=params.payload,
                    source=self.name,
                    target=worker_name,
                )
            )
        return group

    async def _wait_workers_ready(
        self, registry: WorkerRegistry, worker_names: list[str], deadline: float
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

    async def _job_timer(self, job_id: str, scope: trio.CancelScope) -> None:
        with scope:
            await trio.sleep_forever()  # until the scope's deadline, or the group ends
        if scope.cancelled_caught and trio.current_time() >= scope.deadline:
            group = self._job_groups.get(job_id)
            if group is not None and group.timeout_scope is scope:
                await self.cancel_job_group(job_id, reason="timeout")

    # --- cancelling ----------------------------------------------------------------------

    async def cancel_job_group(self, job_id: str, *, reason: str | None = None) -> None:
        """Cancel a group launched here: tell every worker in it, fail the group.

        Without a reason the group fails with "cancelled" (Pipecat lets it look successful).
        """
        await trio.lowlevel.checkpoint()
        group = self._job_groups.pop(job_id, None)
        if group is None:
            return
        if reason is None:
            reason = "cancelled"
        if group.timeout_scope is not None:
            group.timeout_scope.cancel()
        for worker_name in group.worker_names:
            self._send(
                BusJobCancelMessage(
                    job_id=job_id, reason=reason, source=self.name, target=worker_name
                )
            )
        group.fail(reason)

    async def request_cancel_job_group(self, job_id: str, *, reason: str | None = None) -> bool:
        """Cancel asked for from outside (a client UI); False if unknown or not cancellable."""
        group = self._job_groups.get(job_id)
        if group is None or not group.cancellable:
            return False
        await self.cancel_job_group(job_id, reason=reason)
        return True

    async def request_job_update(self, job_id: str, worker_name: str) -> None:
        """Ask ``worker_name`` for progress on ``job_id``."""
        await trio.lowlevel.checkpoint()
        self._send(BusJobUpdateRequestMessage(job_id=job_id, source=self.name, target=worker_name))

    # --- answers -------------------------------------------------------------------------

    async def _handle_job_response(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None:
        job_id, source = message.job_id, message.source
        group = self._job_groups.get(job_id)
        if group is not None:
            group.terminated.add(source)
        await self.on_job_response(message)
        self._call_event_handler("on_job_response", message)
        group = self._job_groups.get(job_id)
        if group is not None and group.cancel_on_error and message.status in _FAILING:
            if source in group.worker_names:
                group.responses[source] = message.response or {}
            await self.on_job_error(message)
            self._call_event_handler("on_job_error", message)
            await self.cancel_job_group(job_id, reason=f"worker '{source}' errored")
            return
        await self._track_job_group_response(job_id, source, message.response)

    async def _handle_job_update(
        self, message: BusJobUpdateMessage | BusJobUpdateUrgentMessage
    ) -> None:
        await self.on_job_update(message)
        self._call_event_handler("on_job_update", message)
        self._push_job_event(message.job_id, JobGroupEvent.UPDATE, message.source, message.update)

    async def _handle_job_stream_start(self, message: BusJobStreamStartMessage) -> None:
        await self.on_job_stream_start(message)
        self._call_event_handler("on_job_stream_start", message)
        self._push_job_event(
            message.job_id, JobGroupEvent.STREAM_START, message.source, message.data
        )

    async def _handle_job_stream_data(self, message: BusJobStreamDataMessage) -> None:
        await self.on_job_stream_data(message)
        self._call_event_handler("on_job_stream_data", message)
        self._push_job_event(
            message.job_id, JobGroupEvent.STREAM_DATA, message.source, message.data
        )

    async def _handle_job_stream_end(self, message: BusJobStreamEndMessage) -> None:
        group = self._job_groups.get(message.job_id)
        if group is not None:
            group.terminated.add(message.source)
        await self.on_job_stream_end(message)
        self._call_event_handler("on_job_stream_end", message)
        self._push_job_event(message.job_id, JobGroupEvent.STREAM_END, message.source, message.data)
        await self._track_job_group_response(message.job_id, message.source, message.data)

    def _push_job_event(
        self, job_id: str, kind: str, worker_name: str, data: dict[str, Any] | None
    ) -> None:
        group = self._job_groups.get(job_id)
        if group is not None and group.has_event_queue:
            group.push_event(JobGroupEvent(kind, worker_name, data))

    async def _track_job_group_response(
        self, job_id: str, source: str, response: dict[str, Any] | None
    ) -> None:
        group = self._job_groups.get(job_id)
        if group is None or not group.record(source, response):
            return
        if group.timeout_scope is not None:
            group.timeout_scope.cancel()
        del self._job_groups[job_id]
        result = JobGroupResponse(job_id=job_id, responses=group.responses)
        await self.on_job_completed(result)
        self._call_event_handler("on_job_completed", result)
        group.complete()
