"""``job(...)`` and ``job_group(...)``: async context managers that wait for the answers.

Entry waits for the workers to be ready and sends the requests; ``async for`` yields the
progress events in arrival order until the group is done; a normal exit waits for every
answer. A failed group raises (:class:`JobGroupError`, or :class:`JobError` for a single
job) and keeps its partial answers in ``responses``.

If the block raises, or is cancelled, while the group is still waiting, the group is
cancelled with reason "context exited with error" (the workers get a job cancel) in a
shielded scope, and the original exception goes on.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol

import trio

from trio_pipe.workers.jobs import (
    JobError,
    JobEvent,
    JobGroup,
    JobGroupError,
    JobGroupEvent,
    JobGroupParams,
    JobParams,
)

__all__ = ["GroupStarter", "JobContext", "JobGroupContext"]

_EXIT_REASON = "context exited with error"


class GroupStarter(Protocol):
    """What a job context needs of its worker (a ``BaseWorker`` is one)."""

    @property
    def job_groups(self) -> dict[str, JobGroup]: ...

    async def _start_job_group(
        self, worker_names: list[str], params: JobParams, *, events: bool
    ) -> JobGroup: ...

    async def cancel_job_group(self, job_id: str, *, reason: str | None = None) -> None: ...


class JobGroupContext:
    """``async with worker.job_group("w1", "w2", params=...) as g``: see the module doc."""

    def __init__(
        self,
        worker: GroupStarter,
        worker_names: tuple[str, ...] | list[str],
        *,
        params: JobGroupParams | JobParams | None = None,
    ) -> None:
        self._worker = worker
        self._worker_names = list(worker_names)
        self._params = params if params is not None else JobGroupParams()
        self._group: JobGroup | None = None

    def _started(self) -> JobGroup:
        if self._group is None:
            raise RuntimeError("the job group has not been started (use `async with`)")
        return self._group

    @property
    def params(self) -> JobGroupParams | JobParams:
        """What the group was asked to do (known before ``async with``)."""
        return self._params

    @property
    def label(self) -> str | None:
        """The group's human-readable label (a UI worker titles the client's card with it)."""
        return self._params.label

    @property
    def cancellable(self) -> bool:
        """Whether a cancel asked for from outside (a client UI) is honoured."""
        return self._params.cancellable

    @property
    def job_id(self) -> str:
        """The job id shared by every worker of the group."""
        return self._started().job_id

    @property
    def responses(self) -> dict[str, dict[str, Any]]:
        """The answers so far, keyed by worker name."""
        return self._started().responses

    @property
    def group(self) -> JobGroup:
        """The underlying :class:`JobGroup`."""
        return self._started()

    def __aiter__(self) -> JobGroupContext:
        return self

    async def __anext__(self) -> JobGroupEvent:
        event = await self._next()
        if event is None:
            raise StopAsyncIteration
        return event

    async def _next(self) -> JobGroupEvent | None:
        group = self._group
        return None if group is None else await group.next_event()

    async def __aenter__(self) -> JobGroupContext:
        self._group = await self._worker._start_job_group(
            self._worker_names, self._params, events=True
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        group = self._started()
        if exc is None:
            try:
                await group.wait()
            except JobGroupError:
                raise
            except BaseException:
                await self._abandon(group)  # cancelled while waiting for the answers
                raise
            return False
        await self._abandon(group)
        return False

    async def _abandon(self, group: JobGroup) -> None:
        if self._worker.job_groups.get(group.job_id) is group:
            with trio.CancelScope(shield=True):
                await self._worker.cancel_job_group(group.job_id, reason=_EXIT_REASON)


class JobContext(JobGroupContext):
    """``async with worker.job("w", params=...) as t``: one worker; failures raise JobError."""

    def __init__(
        self,
        worker: GroupStarter,
        worker_name: str,
        *,
        params: JobParams | None = None,
    ) -> None:
        # A single job is a group of one with cancel_on_error (JobParams has no such
        # field; the requester reads it as True).
        super().__init__(
            worker, (worker_name,), params=params if params is not None else JobParams()
        )
        self._worker_name = worker_name

    @property
    def response(self) -> dict[str, Any]:
        """The worker's answer (``{}`` if it sent none)."""
        return self._started().responses.get(self._worker_name, {})

    def __aiter__(self) -> JobContext:
        return self

    async def __anext__(self) -> JobEvent:  # type: ignore[override]
        event = await self._next()
        if event is None:
            raise StopAsyncIteration
        return JobEvent(event.type, event.data)

    async def __aenter__(self) -> JobContext:
        try:
            self._group = await self._worker._start_job_group(
                self._worker_names, self._params, events=True
            )
        except JobError:
            raise
        except JobGroupError as exc:
            raise JobError(str(exc)) from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        group = self._started()
        if exc is not None:
            await self._abandon(group)
            return False
        try:
            await group.wait()
        except JobGroupError as error:
            raise JobError(str(error)) from error
        except BaseException:
            await self._abandon(group)  # cancelled while waiting for the answer
            raise
        return False
