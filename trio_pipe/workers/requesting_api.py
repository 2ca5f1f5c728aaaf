"""The requesting half of ``BaseWorker``'s job API: Pipecat's names, delegated to its
:class:`~trio_pipe.workers.job_requester.JobRequester`.

:class:`RequestingMethods` holds no state: every method is a hook to override or a short
delegate to ``self._job_requester``, which ``BaseWorker.__init__`` creates. It is a
separate class only to keep ``workers/base.py`` short; read it as part of ``BaseWorker``.

``request_job``/``request_job_group`` are fire-and-forget (results arrive through the
hooks and events); ``job(...)``/``job_group(...)`` are async context managers that wait
for the answers (``workers.job_context``). Pipecat's deprecated keywords (``name=``,
``payload=``, ``timeout=``, ``cancel_on_error=``) arrive as ``**deprecated`` and are
handled in :mod:`trio_pipe.compat`.
"""

from __future__ import annotations

from typing import Any

import trio

from trio_pipe import compat
from trio_pipe.bus.messages import (
    BusJobResponseMessage,
    BusJobResponseUrgentMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobStreamStartMessage,
    BusJobUpdateMessage,
    BusJobUpdateUrgentMessage,
)
from trio_pipe.workers.job_context import JobContext, JobGroupContext
from trio_pipe.workers.job_requester import JobRequester
from trio_pipe.workers.jobs import JobGroup, JobGroupParams, JobGroupResponse, JobParams

__all__ = ["RequestingMethods"]


def _check_names(names: tuple[Any, ...] | list[Any], who: object) -> None:
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{who}: expected worker name as str, got {type(name).__name__}")


class RequestingMethods:
    """Requesting jobs, for :class:`~trio_pipe.workers.base.BaseWorker` (see the module doc)."""

    _job_requester: JobRequester

    @property
    def job_groups(self) -> dict[str, JobGroup]:
        """The groups this worker launched that are still waiting, keyed by job id."""
        return self._job_requester.groups

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

    async def request_job(
        self, worker_name: str, *, params: JobParams | None = None, **deprecated: Any
    ) -> str:
        """Send a job to one worker once it is ready; return the job id (fire-and-forget)."""
        _check_names((worker_name,), self)
        if deprecated:
            params = compat.job_params("request_job", params, JobParams, deprecated, group=False)
        group = await self._start_job_group([worker_name], params or JobParams(), events=False)
        return group.job_id

    def job(
        self, worker_name: str, *, params: JobParams | None = None, **deprecated: Any
    ) -> JobContext:
        """``async with self.job("w", params=...) as t:`` run one job and wait for its answer.

        ``async for event in t`` yields :class:`JobEvent`; ``t.response`` is the answer.
        Failure (error answer, timeout, worker not ready in time) raises :class:`JobError`.
        """
        if type(worker_name) is not str:
            _check_names((worker_name,), self)
        if deprecated:
            params = compat.job_params("job", params, JobParams, deprecated, group=False)
        return JobContext(self, worker_name, params=params)

    async def request_job_group(
        self, *worker_names: str, params: JobGroupParams | None = None, **deprecated: Any
    ) -> str:
        """Send a job to several workers once all are ready; return the shared job id."""
        _check_names(worker_names, self)
        if deprecated:
            params = compat.job_params(
                "request_job_group", params, JobGroupParams, deprecated, group=True
            )
        group = await self._start_job_group(
            list(worker_names), params or JobGroupParams(), events=False
        )
        return group.job_id

    def job_group(
        self, *worker_names: str, params: JobGroupParams | None = None, **deprecated: Any
    ) -> JobGroupContext:
        """``async with self.job_group("w1", "w2", params=...) as g:`` wait for all answers.

        ``async for event in g`` yields :class:`JobGroupEvent`; ``g.responses`` maps each
        worker to its answer. Failure raises :class:`JobGroupError`.
        """
        _check_names(worker_names, self)
        if deprecated:
            params = compat.job_params("job_group", params, JobGroupParams, deprecated, group=True)
        return JobGroupContext(self, worker_names, params=params)

    async def create_job_group_and_request_job(
        self, worker_names: list[str], *, params: JobGroupParams | None = None, **deprecated: Any
    ) -> JobGroup:
        """Wait until every worker is ready, create the group and send the requests.

        Raises:
            JobGroupError: the workers were not ready within ``params.timeout``.
            RuntimeError: the worker is not attached to a registry.
        """
        _check_names(worker_names, self)
        if deprecated:
            params = compat.job_params(
                "create_job_group_and_request_job", params, JobGroupParams, deprecated, group=True
            )
        return await self._start_job_group(
            list(worker_names), params or JobGroupParams(), events=False
        )

    async def _start_job_group(
        self, worker_names: list[str], params: JobParams, *, events: bool
    ) -> JobGroup:
        # Every entry point comes here (a UI worker overrides it to tell its client).
        return await self._job_requester.start_group(worker_names, params, events=events)

    # --- cancelling ----------------------------------------------------------------------

    async def cancel_job_group(self, job_id: str, *, reason: str | None = None) -> None:
        """Cancel a group launched here: tell every worker in it, fail the group.

        Without a reason the group fails with "cancelled" (Pipecat lets it look successful).
        """
        await trio.lowlevel.checkpoint()
        self._job_requester.cancel_group(job_id, reason)

    async def request_cancel_job_group(self, job_id: str, *, reason: str | None = None) -> bool:
        """Cancel asked for from outside (a client UI); False if unknown or not cancellable."""
        group = self._job_requester.groups.get(job_id)
        if group is None or not group.cancellable:
            return False
        await self.cancel_job_group(job_id, reason=reason)
        return True

    async def request_job_update(self, job_id: str, worker_name: str) -> None:
        """Ask ``worker_name`` for progress on ``job_id``."""
        await trio.lowlevel.checkpoint()
        self._job_requester.request_update(job_id, worker_name)

    # --- built-in handling (the worker's dispatch table names these) ---------------------

    async def _handle_job_response(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None:
        await self._job_requester.handle_response(message)

    async def _handle_job_update(
        self, message: BusJobUpdateMessage | BusJobUpdateUrgentMessage
    ) -> None:
        await self._job_requester.handle_update(message)

    async def _handle_job_stream_start(self, message: BusJobStreamStartMessage) -> None:
        await self._job_requester.handle_stream_start(message)

    async def _handle_job_stream_data(self, message: BusJobStreamDataMessage) -> None:
        await self._job_requester.handle_stream_data(message)

    async def _handle_job_stream_end(self, message: BusJobStreamEndMessage) -> None:
        await self._job_requester.handle_stream_end(message)
