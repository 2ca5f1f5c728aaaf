"""Bus carriers of the UI worker protocol (Pipecat's ``pipecat.bus.ui.messages``).

These are what a :class:`~trio_pipe.workers.ui.UIWorker` and a
:class:`~trio_pipe.workers.pipeline_worker.PipelineWorker` say to each other on the bus.
They are not what the client sees: the client speaks RTVI (``ui-event``, ``ui-command``,
``ui-job-group``...), and the PipelineWorker that owns the client's RTVI translates both
ways (``trio_pipe.rtvi``).

* :class:`BusUIEventMessage`: a client event, republished by the PipelineWorker.
* :class:`BusUICommandMessage`: a command for the client, from ``UIWorker.send_command``.
* :class:`BusUIJobGroupStartedMessage`, :class:`BusUIJobUpdateMessage`,
  :class:`BusUIJobCompletedMessage`, :class:`BusUIJobGroupCompletedMessage`: the four
  phases of a job group the client watches.

All subclass :class:`BusUIDataMessage`, which is how a PipelineWorker picks UI traffic out
of the bus. They are broadcast (``target=None``) unless a target is set: every
RTVI-owning PipelineWorker on the bus forwards an untargeted carrier to its own client,
so an application with several sessions on one bus sets ``target`` to route.

Wire names are Pipecat's (``pipecat.bus.ui.messages.<Class>``), so the carriers cross the
WebSocket proxy and Redis to and from a Pipecat 1.14 process.

``at`` fields are wall-clock epoch milliseconds, read through :func:`now_ms` (never
``trio.current_time()``, which is not wall time and stops under a mock clock). Tests pin
it with :func:`pinned_clock`; a UIWorker also takes a ``clock=`` of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from trio_pipe.bus.messages import BusDataMessage
from trio_pipe.serializers.registry import register

__all__ = [
    "UI_CANCEL_JOB_GROUP_EVENT_NAME",
    "UI_SNAPSHOT_EVENT_NAME",
    "BusUICommandMessage",
    "BusUIDataMessage",
    "BusUIEventMessage",
    "BusUIJobCompletedMessage",
    "BusUIJobGroupCompletedMessage",
    "BusUIJobGroupStartedMessage",
    "BusUIJobUpdateMessage",
    "now_ms",
    "pinned_clock",
]

#: Event name of a client accessibility snapshot (a ``ui-snapshot`` message).
UI_SNAPSHOT_EVENT_NAME = "__ui_snapshot"
#: Event name of a client request to cancel a job group (a ``ui-cancel-job-group`` message).
UI_CANCEL_JOB_GROUP_EVENT_NAME = "__cancel_job_group"

_WIRE = "pipecat.bus.ui.messages."


def _wall_ms() -> int:
    return int(time.time() * 1000)


_clock: Callable[[], int] = _wall_ms


def now_ms() -> int:
    """Wall-clock epoch milliseconds, as the carriers' ``at`` fields hold them."""
    return _clock()


@contextmanager
def pinned_clock(clock: Callable[[], int] | int) -> Iterator[None]:
    """``with pinned_clock(1700000000000):`` make :func:`now_ms` return a fixed value
    (or call ``clock``) inside the block; for tests."""
    global _clock
    previous = _clock
    _clock = clock if callable(clock) else (lambda: clock)
    try:
        yield
    finally:
        _clock = previous


_carrier = attrs.define(eq=True)


@register(_WIRE + "BusUIDataMessage")
@_carrier
class BusUIDataMessage(BusDataMessage):
    """Base of every UI carrier; no fields of its own (``source``, ``target`` inherited)."""


@register(_WIRE + "BusUIEventMessage")
@_carrier
class BusUIEventMessage(BusUIDataMessage):
    """A client event, for server-side workers.

    Args:
        event_name: app-defined name; the reserved ``__ui_snapshot`` and
            ``__cancel_job_group`` carry snapshots and cancel requests.
        payload: app-defined, schemaless.
    """

    event_name: str = ""
    payload: Any = None


@register(_WIRE + "BusUICommandMessage")
@_carrier
class BusUICommandMessage(BusUIDataMessage):
    """A command for the client (``ui-command`` on the wire).

    Args:
        command_name: app-defined name (``"toast"``, ``"navigate"``...).
        payload: a plain JSON value by the time it is on the bus.
    """

    command_name: str = ""
    payload: Any = None


@register(_WIRE + "BusUIJobGroupStartedMessage")
@_carrier
class BusUIJobGroupStartedMessage(BusUIDataMessage):
    """A client-visible job group was dispatched (``kind: "group_started"``).

    Args:
        job_id: the group's shared job id.
        workers: the workers it went to, in dispatch order.
        label: optional human-readable title.
        cancellable: whether the client may cancel it.
        at: epoch milliseconds.
    """

    job_id: str = ""
    workers: list[str] | None = None
    label: str | None = None
    cancellable: bool = True
    at: int = 0


@register(_WIRE + "BusUIJobUpdateMessage")
@_carrier
class BusUIJobUpdateMessage(BusUIDataMessage):
    """Progress from one worker of a group (``kind: "job_update"``).

    Args:
        job_id: the group's job id.
        worker_name: the worker that sent the update.
        data: the update, verbatim.
        at: epoch milliseconds.
    """

    job_id: str = ""
    worker_name: str = ""
    data: Any = None
    at: int = 0


@register(_WIRE + "BusUIJobCompletedMessage")
@_carrier
class BusUIJobCompletedMessage(BusUIDataMessage):
    """One worker of a group is done (``kind: "job_completed"``).

    Args:
        job_id: the group's job id.
        worker_name: the worker.
        status: a JobStatus value (``completed``, ``cancelled``, ``failed``, ``error``).
        response: the worker's answer (None for a synthesized cancel).
        at: epoch milliseconds.
    """

    job_id: str = ""
    worker_name: str = ""
    status: str = ""
    response: Any = None
    at: int = 0


@register(_WIRE + "BusUIJobGroupCompletedMessage")
@_carrier
class BusUIJobGroupCompletedMessage(BusUIDataMessage):
    """The group is over: every worker answered, or it was cancelled (``"group_completed"``).

    Args:
        job_id: the group's job id.
        at: epoch milliseconds.
    """

    job_id: str = ""
    at: int = 0
