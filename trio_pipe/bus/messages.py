"""Bus messages: what workers say to each other.

Every message is a slotted ``attrs`` class. ``id`` and ``name`` are generated (``id`` from
the process-wide counter shared with frames, ``name`` as ``"<Class>#<k>"``); ``source``
and ``target`` are keyword-only, so a subclass's own fields may be given by position.
``target=None`` means broadcast.

Kinds:

* :class:`BusDataMessage`: normal priority, handled in order;
* :class:`BusSystemMessage`: high priority, overtakes queued data (see ``bus.bus``);
* :class:`BusLocalMessage`: a marker mixin; such a message never leaves the process.

In-process every subscriber receives the same object: treat messages as immutable and build
a changed copy with ``attrs.evolve``. They are not ``frozen`` because a frozen attrs class
costs twice as much to construct, and messages are built on the hot path.
"""

from __future__ import annotations

import enum
import functools
from typing import Any, Self, TypeVar, dataclass_transform

import attrs

from trio_pipe.frames import Frame
from trio_pipe.ids import next_id, next_name
from trio_pipe.processors import FrameDirection

__all__ = [
    "BusActivateWorkerMessage",
    "BusAddWorkerMessage",
    "BusCancelMessage",
    "BusCancelWorkerMessage",
    "BusDataMessage",
    "BusDeactivateWorkerMessage",
    "BusEndMessage",
    "BusEndWorkerMessage",
    "BusFlushProgressMessage",
    "BusFrameMessage",
    "BusJobCancelMessage",
    "BusJobRequestMessage",
    "BusJobResponseMessage",
    "BusJobResponseUrgentMessage",
    "BusJobStreamDataMessage",
    "BusJobStreamEndMessage",
    "BusJobStreamStartMessage",
    "BusJobUpdateMessage",
    "BusJobUpdateRequestMessage",
    "BusJobUpdateUrgentMessage",
    "BusLocalMessage",
    "BusMessage",
    "BusSystemMessage",
    "BusTTSSpeakMessage",
    "BusWorkerErrorMessage",
    "BusWorkerLocalErrorMessage",
    "BusWorkerReadyMessage",
    "BusWorkerRegistryMessage",
    "JobStatus",
    "WorkerErrorData",
    "WorkerReadyData",
    "WorkerRegistryEntry",
]

_C = TypeVar("_C", bound=type)


# A function (not an alias of attrs.define(...)) so that type checkers see the fields.
@dataclass_transform(field_specifiers=(attrs.field,))
def _message(cls: _C) -> _C:
    return attrs.define(eq=True)(cls)


class JobStatus(enum.StrEnum):
    """Final status of a job. Each member compares equal to its string value."""

    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    ERROR = "error"


@attrs.frozen
class WorkerRegistryEntry:
    """One worker in a runner's registry snapshot."""

    name: str
    parent: str | None = None
    active: bool = False
    bridged: bool = False
    started_at: float | None = None


@attrs.frozen
class WorkerReadyData:
    """A worker became ready on a runner."""

    worker_name: str
    runner: str


@attrs.frozen
class WorkerErrorData:
    """A worker reported an error."""

    worker_name: str
    error: str


@functools.cache
def _copier(cls: type) -> Any:
    """A function copying a ``cls`` instance field by field, generated as attrs generates
    its methods. Validators and converters do not run (the values are already the
    fields'): a class with ``on_setattr`` hooks is written through ``object.__setattr__``.
    """
    names = [field.name for field in cls.__attrs_attrs__]  # type: ignore[attr-defined]
    put = (
        "new.{0} = self.{0}"
        if cls.__setattr__ is object.__setattr__
        else "_set(new, {0!r}, self.{0})"
    )
    body = "".join(f"\n    {put.format(name)}" for name in names)
    namespace: dict[str, Any] = {"_new": cls.__new__, "_cls": cls, "_set": object.__setattr__}
    exec(f"def copy(self):\n    new = _new(_cls){body}\n    return new", namespace)
    return namespace["copy"]


@_message
class BusMessage:
    """Base of every bus message."""

    id: int = attrs.field(init=False)
    name: str = attrs.field(init=False)
    source: str = attrs.field(kw_only=True)
    target: str | None = attrs.field(kw_only=True, default=None)

    def __attrs_post_init__(self) -> None:
        self.id = next_id()
        self.name = next_name(type(self))

    def __str__(self) -> str:
        return f"{self.name} (source={self.source}, target={self.target})"

    def __copy__(self) -> Self:
        """A shallow copy (``copy.copy``), the same ``id`` and ``name`` included.

        Field by field, by a function made once per class (see :func:`_copier`): a fifth
        of the generic path through ``__reduce_ex__``, which matters because a proxy
        server copies every message it forwards.
        """
        return _copier(self.__class__)(self)


class BusLocalMessage:
    """Marker mixin: the message is never serialized or published; it stays in-process."""

    __slots__ = ()


@_message
class BusDataMessage(BusMessage):
    """Normal priority: handled in order, one at a time per subscriber."""


@_message
class BusSystemMessage(BusMessage):
    """High priority: overtakes queued data and is handled while a data handler runs."""


# --- frames and speech -------------------------------------------------------------------


@_message
class BusFrameMessage(BusDataMessage):
    """A frame travelling between pipelines."""

    frame: Frame
    direction: FrameDirection
    bridge: str | None = None


@_message
class BusTTSSpeakMessage(BusDataMessage):
    """Ask a pipeline worker to speak ``text``."""

    text: str
    append_to_context: bool = True


@_message
class BusFlushProgressMessage(BusDataMessage):
    """A flush probe is still moving."""

    flush_id: int


# --- lifecycle ---------------------------------------------------------------------------


@_message
class BusActivateWorkerMessage(BusDataMessage):
    """Activate the target worker with optional activation arguments."""

    args: dict[str, Any] | None = None


@_message
class BusDeactivateWorkerMessage(BusDataMessage):
    """Deactivate the target worker."""


@_message
class BusEndMessage(BusDataMessage):
    """Worker to runner: end the session gracefully."""

    reason: str | None = None


@_message
class BusEndWorkerMessage(BusDataMessage):
    """Runner or parent to worker: end gracefully."""

    reason: str | None = None


@_message
class BusCancelMessage(BusSystemMessage):
    """Worker to runner: cancel the session."""

    reason: str | None = None


@_message
class BusCancelWorkerMessage(BusSystemMessage):
    """Runner or parent to worker: cancel now."""

    reason: str | None = None


@_message
class BusAddWorkerMessage(BusSystemMessage, BusLocalMessage):
    """Parent asks its runner to add and start a child worker (never leaves the process)."""

    worker: Any


@_message
class BusWorkerRegistryMessage(BusSystemMessage):
    """A snapshot of a runner's workers."""

    runner: str
    workers: list[WorkerRegistryEntry]


@_message
class BusWorkerReadyMessage(BusDataMessage):
    """A worker is ready."""

    runner: str
    parent: str | None = None
    active: bool = False
    bridged: bool = False
    started_at: float | None = None


@_message
class BusWorkerErrorMessage(BusSystemMessage):
    """An error reported by a root worker."""

    error: str


@_message
class BusWorkerLocalErrorMessage(BusSystemMessage, BusLocalMessage):
    """An error reported by a child worker to its parent (never leaves the process)."""

    error: str


# --- jobs --------------------------------------------------------------------------------


@_message
class BusJobRequestMessage(BusDataMessage):
    """Start a job on the target worker."""

    job_id: str
    job_name: str | None = None
    payload: dict[str, Any] | None = None


@_message
class BusJobResponseMessage(BusDataMessage):
    """A job's final result."""

    job_id: str
    status: JobStatus
    response: dict[str, Any] | None = None


@_message
class BusJobResponseUrgentMessage(BusSystemMessage):
    """A job's final result, with system priority."""

    job_id: str
    status: JobStatus
    response: dict[str, Any] | None = None


@_message
class BusJobUpdateMessage(BusDataMessage):
    """Progress of a job."""

    job_id: str
    update: dict[str, Any] | None = None


@_message
class BusJobUpdateUrgentMessage(BusSystemMessage):
    """Progress of a job, with system priority."""

    job_id: str
    update: dict[str, Any] | None = None


@_message
class BusJobUpdateRequestMessage(BusDataMessage):
    """The requester asks a worker for progress on a job."""

    job_id: str


@_message
class BusJobCancelMessage(BusSystemMessage):
    """Cancel a job."""

    job_id: str
    reason: str | None = None


@_message
class BusJobStreamStartMessage(BusDataMessage):
    """A job's stream starts."""

    job_id: str
    data: dict[str, Any] | None = None


@_message
class BusJobStreamDataMessage(BusDataMessage):
    """A chunk of a job's stream."""

    job_id: str
    data: dict[str, Any] | None = None


@_message
class BusJobStreamEndMessage(BusDataMessage):
    """A job's stream ends; this answers the job."""

    job_id: str
    data: dict[str, Any] | None = None
