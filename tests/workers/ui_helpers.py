"""Helpers for the UI worker tests: a scripted job worker and the client's view of the bus."""

from __future__ import annotations

from typing import Any

import trio
from worker_helpers import Spy

from trio_pipe.bus.messages import JobStatus
from trio_pipe.bus.ui import BusUIDataMessage, BusUIEventMessage
from trio_pipe.rtvi.translate import envelope_for_carrier
from trio_pipe.workers import BaseWorker

AT = 1_700_000_000_000


class Scripted(BaseWorker):
    """A job worker that plays ``payload[<own name>]``: a list of (step, data)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.cancelled: list[str] = []

    async def on_job_request(self, message: Any) -> None:
        job_id = message.job_id
        try:
            for step, data in (message.payload or {}).get(self.name, []):
                if step == "sleep":
                    await trio.sleep(data)
                elif step == "update":
                    await self.send_job_update(job_id, data)
                elif step == "urgent_update":
                    await self.send_job_update(job_id, data, urgent=True)
                elif step == "respond":
                    await self.send_job_response(job_id, data)
                elif step == "urgent_respond":
                    await self.send_job_response(job_id, data, urgent=True)
                elif step == "fail":
                    await self.send_job_response(job_id, data, status=JobStatus.ERROR)
                elif step == "start":
                    await self.send_job_stream_start(job_id, data)
                elif step == "data":
                    await self.send_job_stream_data(job_id, data)
                elif step == "end":
                    await self.send_job_stream_end(job_id, data)
                elif step == "raise":
                    raise RuntimeError(data)
                elif step == "forever":
                    await trio.sleep_forever()
        except trio.Cancelled:
            self.cancelled.append(job_id)
            raise


def client_view(spy: Spy) -> list[dict[str, Any]]:
    """What the client would be sent for the UI carriers the spy saw: each envelope's data.

    (The PipelineWorker's translation is one envelope per outbound carrier, in order; it is
    tested on its own.)
    """
    view = []
    for message in spy.of(BusUIDataMessage):
        if isinstance(message, BusUIEventMessage):
            continue
        envelope = envelope_for_carrier(message)
        assert envelope is not None
        view.append(envelope["data"])
    return view


def kinds(view: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Compact view: (kind, worker, status) for job-group envelopes."""
    out: list[tuple[str, ...]] = []
    for data in view:
        kind = data.get("kind")
        if kind == "job_completed":
            out.append((kind, data["worker_name"], data["status"]))
        elif kind == "job_update":
            out.append((kind, data["worker_name"]))
        elif kind is not None:
            out.append((kind,))
    return out


def ui_event(name: str, payload: Any = None, *, target: str | None = None) -> BusUIEventMessage:
    """A client event as the PipelineWorker republishes it."""
    return BusUIEventMessage(source="pw", target=target, event_name=name, payload=payload)
