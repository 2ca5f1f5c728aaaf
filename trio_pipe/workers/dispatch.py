"""How a worker routes what reaches it: the built-in handler per message type, the
messages an inactive worker still takes, and the lane of each event it fires.

Pure tables (and one lookup), read by ``BaseWorker.on_bus_message`` and its ``__init__``.
"""

from __future__ import annotations

from trio_pipe.bus.messages import (
    BusActivateWorkerMessage,
    BusCancelWorkerMessage,
    BusDeactivateWorkerMessage,
    BusEndWorkerMessage,
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
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
)

__all__ = ["ALWAYS_DELIVERED", "EVENTS", "HANDLERS", "handler_name"]

# What an inactive worker still receives: what wakes it, and what stops it.
ALWAYS_DELIVERED = (
    BusActivateWorkerMessage,
    BusDeactivateWorkerMessage,
    BusEndWorkerMessage,
    BusCancelWorkerMessage,
)

# Built-in handling by exact type (a subclass of a message resolves through the MRO).
HANDLERS: dict[type, str] = {
    BusWorkerErrorMessage: "_handle_worker_error",
    BusWorkerLocalErrorMessage: "_handle_worker_error",
    BusActivateWorkerMessage: "_handle_worker_activate",
    BusDeactivateWorkerMessage: "_handle_worker_deactivate",
    BusEndWorkerMessage: "_handle_worker_end",
    BusCancelWorkerMessage: "_handle_worker_cancel",
    BusJobRequestMessage: "_handle_job_request",
    BusJobResponseMessage: "_handle_job_response",
    BusJobResponseUrgentMessage: "_handle_job_response",
    BusJobUpdateMessage: "_handle_job_update",
    BusJobUpdateUrgentMessage: "_handle_job_update",
    BusJobUpdateRequestMessage: "_handle_job_update_request",
    BusJobCancelMessage: "_handle_job_cancel",
    BusJobStreamStartMessage: "_handle_job_stream_start",
    BusJobStreamDataMessage: "_handle_job_stream_data",
    BusJobStreamEndMessage: "_handle_job_stream_end",
}


def handler_name(cls: type) -> str | None:
    """The built-in handler method's name for message class ``cls`` (through its MRO)."""
    for base in cls.__mro__:
        name = HANDLERS.get(base)
        if name is not None:
            HANDLERS[cls] = name  # cache the subclass
            return name
    return None


# Event name -> lane (events in one lane reach their handlers in the order they happened;
# see trio_pipe.events). A requester's job events share a lane, so a handler sees a job's
# updates, stream and answer in order; the served side's events share another.
EVENTS: dict[str, str | None] = {
    "on_activated": "activation",
    "on_deactivated": "activation",
    "on_bus_message": None,
    "on_job_request": "served jobs",
    "on_job_update_requested": "served jobs",
    "on_job_cancelled": "served jobs",
    "on_job_response": "requested jobs",
    "on_job_update": "requested jobs",
    "on_job_completed": "requested jobs",
    "on_job_error": "requested jobs",
    "on_job_stream_start": "requested jobs",
    "on_job_stream_data": "requested jobs",
    "on_job_stream_end": "requested jobs",
    "on_worker_ready": "watches",
    "on_worker_failed": "watches",
}
