"""Job data types and the pure bookkeeping of a job group.

What a requester asks for (:class:`JobParams`, :class:`JobGroupParams`), what it gets back
(:class:`JobGroupResponse`, :class:`JobEvent`, :class:`JobGroupEvent`), how it fails
(:class:`JobError`, :class:`JobGroupError`), and :class:`JobGroup`, which tracks one group
of requests sharing a job id: who answered, whether it is done, and the events a
``job_group(...)`` context iterates.

Nothing here sends a message; ``workers.job_requester`` does that. ``resolve_job_params``
(Pipecat's deprecated job keywords) lives in :mod:`trio_pipe.compat` and is re-exported.

Resource handling
    A group's event queue is unbounded, like a ``trio.open_memory_channel(math.inf)``:
    the workers' answers are already queued on the bus unbounded, and a requester that
    stops reading must not block the bus lane that delivers them. It is a deque with a
    parking lot rather than a memory channel because one is made per ``job()`` call and
    a channel pair costs several times more to create. It is closed when the group
    completes or fails, which ends ``async for`` after the events already queued.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, ClassVar

import attrs
import trio

from trio_pipe.bus.messages import JobStatus
from trio_pipe.compat import resolve_job_params

__all__ = [
    "JobError",
    "JobEvent",
    "JobGroup",
    "JobGroupError",
    "JobGroupEvent",
    "JobGroupParams",
    "JobGroupResponse",
    "JobParams",
    "JobStatus",
    "WorkerActivationArgs",
    "resolve_job_params",
]


def _check_params(params: JobParams) -> None:
    """Validate in one pass (built per job, so cheaper than a validator per field)."""
    for field in ("name", "label"):
        value = getattr(params, field)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{field} must be a str or None, not {type(value).__name__}")
    if params.payload is not None and not isinstance(params.payload, dict):
        raise TypeError(f"payload must be a dict or None, not {type(params.payload).__name__}")
    timeout = params.timeout
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise TypeError(f"timeout must be a number or None, not {type(timeout).__name__}")
        if math.isnan(timeout) or timeout < 0:
            raise ValueError(f"timeout must be >= 0, got {timeout!r}")


@attrs.define(kw_only=True)
class JobParams:
    """How to run a job on one worker.

    Args:
        name: routes the request to the worker's ``@job(name=...)`` handler.
        payload: data describing the work.
        timeout: seconds for the whole job, including the wait for the worker to be ready.
        label: human-readable description (a UI worker titles its card with it); never
            sent to the worker.
        cancellable: whether a cancel requested from outside (a client UI) is honoured;
            never sent to the worker.
    """

    name: str | None = None
    payload: dict[str, Any] | None = None
    timeout: float | None = None
    label: str | None = None
    cancellable: bool = True

    def __attrs_post_init__(self) -> None:
        name, payload = self.name, self.payload
        if (
            (name is None or name.__class__ is str)
            and (payload is None or payload.__class__ is dict)
            and self.timeout is None
            and self.label is None
        ):
            return  # the common case, quickly
        _check_params(self)


@attrs.define(kw_only=True)
class JobGroupParams(JobParams):
    """How to run a job on several workers at once.

    Args:
        cancel_on_error: an ERROR or FAILED answer from one worker cancels the others.
    """

    cancel_on_error: bool = True

    @classmethod
    def from_job_params(cls, params: JobParams) -> JobGroupParams:
        """The group form of single-worker ``params``."""
        if isinstance(params, JobGroupParams):
            return params
        return cls(**attrs.asdict(params, recurse=False))


class JobGroupError(Exception):
    """A job group failed: a worker errored, it timed out, or it was cancelled."""


class JobError(JobGroupError):
    """A single-worker job failed (a :class:`JobGroupError` too, so either catch works)."""


@attrs.define
class JobGroupResponse:
    """Every answer of a completed group, keyed by worker name."""

    job_id: str
    responses: dict[str, dict[str, Any]]


@attrs.define
class JobEvent:
    """Progress of a single-worker job, yielded by ``async for`` over ``job(...)``."""

    UPDATE: ClassVar[str] = "update"
    STREAM_START: ClassVar[str] = "stream_start"
    STREAM_DATA: ClassVar[str] = "stream_data"
    STREAM_END: ClassVar[str] = "stream_end"

    type: str
    data: dict[str, Any] | None = None


@attrs.define
class JobGroupEvent:
    """Progress of one worker of a group, yielded by ``async for`` over ``job_group(...)``."""

    UPDATE: ClassVar[str] = "update"
    STREAM_START: ClassVar[str] = "stream_start"
    STREAM_DATA: ClassVar[str] = "stream_data"
    STREAM_END: ClassVar[str] = "stream_end"

    type: str
    worker_name: str
    data: dict[str, Any] | None = None


@attrs.define(eq=False)
class JobGroup:
    """One job sent to several workers under one job id, and what came back.

    ``terminated`` holds the workers that answered or ended their stream. ``responses``
    holds each answer (``{}`` for an empty one).
    """

    job_id: str
    worker_names: list[str]
    responses: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    cancel_on_error: bool = True
    label: str | None = None
    cancellable: bool = True
    terminated: set[str] = attrs.field(factory=set)
    timeout_scope: trio.CancelScope | None = attrs.field(default=None, repr=False)
    """Cancels the group's timer (the requester sets it when the group has a timeout)."""
    _done: trio.Event = attrs.field(factory=trio.Event, repr=False, init=False)
    _error: str | None = attrs.field(default=None, repr=False, init=False)
    _events: deque[JobGroupEvent] | None = attrs.field(default=None, repr=False, init=False)
    _events_ready: trio.lowlevel.ParkingLot | None = attrs.field(
        default=None, repr=False, init=False
    )

    @property
    def is_done(self) -> bool:
        """True once the group completed or failed."""
        return self._done.is_set()

    @property
    def error(self) -> str | None:
        """Why the group failed, or None."""
        return self._error

    @property
    def has_event_queue(self) -> bool:
        """True if a context is collecting this group's events."""
        return self._events is not None

    def open_event_queue(self) -> None:
        """Start collecting events (done before the requests go out, so none is missed)."""
        if self._events is None:
            self._events = deque()
            self._events_ready = trio.lowlevel.ParkingLot()

    def push_event(self, event: JobGroupEvent) -> None:
        """Queue ``event`` for the iterating context; dropped if nobody collects events."""
        if self._events is not None and not self._done.is_set():
            self._events.append(event)
            assert self._events_ready is not None
            self._events_ready.unpark_all()

    async def next_event(self) -> JobGroupEvent | None:
        """The next queued event, or None once the group is done and drained."""
        events, ready = self._events, self._events_ready
        if events is None or ready is None:
            return None
        while not events:
            if self._done.is_set():
                await trio.lowlevel.checkpoint()
                return None
            await ready.park()
        await trio.lowlevel.checkpoint()
        return events.popleft()

    def record(self, worker_name: str, response: dict[str, Any] | None) -> bool:
        """Store one worker's answer; True when every worker has answered."""
        responses = self.responses
        if worker_name in self.worker_names:
            responses[worker_name] = response or {}
        return all(name in responses for name in self.worker_names)

    async def wait(self) -> None:
        """Wait until the group is done; raise :class:`JobGroupError` if it failed."""
        await self._done.wait()
        if self._error is not None:
            raise JobGroupError(self._error)

    def complete(self) -> None:
        """Mark the group done: every worker answered."""
        self._finish()

    def fail(self, reason: str | None = None) -> None:
        """Mark the group failed; ``wait()`` raises with ``reason`` (default "cancelled")."""
        if self._done.is_set():
            return
        self._error = reason if reason is not None else "cancelled"
        self._finish()

    def _finish(self) -> None:
        self._done.set()
        if self._events_ready is not None:
            # Wakes ``async for``, which ends after the events already queued.
            self._events_ready.unpark_all()


@attrs.define
class WorkerActivationArgs:
    """Arguments sent with an activation; subclass to add fields.

    Args:
        metadata: free-form data for the activated worker.
    """

    metadata: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerActivationArgs:
        """Build from a dict, ignoring keys that are not fields."""
        names = {field.name for field in attrs.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})

    def to_dict(self) -> dict[str, Any]:
        """The fields that are not None, as a dict."""
        return {
            field.name: getattr(self, field.name)
            for field in attrs.fields(type(self))
            if getattr(self, field.name) is not None
        }
