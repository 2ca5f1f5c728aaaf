"""The serving half of ``BaseWorker``'s job API: Pipecat's names, delegated to its
:class:`~trio_pipe.workers.job_server.JobServer`.

:class:`ServingMethods` holds no state: every method is a hook to override or a one-line
delegate to ``self._job_server``, which ``BaseWorker.__init__`` creates. It is a separate
class only to keep ``workers/base.py`` short; read it as part of ``BaseWorker``.
"""

from __future__ import annotations

from typing import Any

from trio_pipe.bus.messages import (
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobStreamStartMessage,
    BusJobUpdateRequestMessage,
    JobStatus,
)
from trio_pipe.checkpoints import act_then_yield
from trio_pipe.workers.job_server import JobServer

__all__ = ["ServingMethods"]


class ServingMethods:
    """Serving jobs, for :class:`~trio_pipe.workers.base.BaseWorker` (see the module doc)."""

    _job_server: JobServer

    @property
    def active_jobs(self) -> dict[str, BusJobRequestMessage]:
        """The open requests this worker is serving, keyed by job id."""
        return self._job_server.active_jobs

    @property
    def job_handler_errors(self) -> int:
        """How many job handlers raised (each was logged and answered with ERROR)."""
        return self._job_server.handler_errors

    # --- hooks (override; the event of the same name fires after) -------------------------

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        """Handle a request that no ``@job`` handler matches. Override to do work."""

    async def on_job_update_requested(self, message: BusJobUpdateRequestMessage) -> None:
        """The requester asked for progress on an open job; answer with send_job_update."""

    async def on_job_cancelled(self, message: BusJobCancelMessage) -> None:
        """An open job was cancelled by its requester; its handler is already cancelled."""

    # --- replies -------------------------------------------------------------------------

    async def send_job_response(
        self,
        job_id: str,
        response: dict[str, Any] | None = None,
        *,
        status: JobStatus | str = JobStatus.COMPLETED,
        urgent: bool = False,
    ) -> None:
        """Answer job ``job_id`` and close it. Raises RuntimeError if it is not open."""
        await act_then_yield(self._job_server.respond, job_id, response, status, urgent)

    async def send_job_update(
        self, job_id: str, update: dict[str, Any] | None = None, *, urgent: bool = False
    ) -> None:
        """Send progress on open job ``job_id`` to its requester."""
        await act_then_yield(self._job_server.update, job_id, update, urgent)

    async def send_job_stream_start(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """Start streaming results of open job ``job_id``."""
        await act_then_yield(self._job_server.stream, job_id, BusJobStreamStartMessage, data)

    async def send_job_stream_data(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """Send one chunk of open job ``job_id``'s stream."""
        await act_then_yield(self._job_server.stream, job_id, BusJobStreamDataMessage, data)

    async def send_job_stream_end(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """End the stream of job ``job_id``; this answers and closes the job."""
        await act_then_yield(self._job_server.stream, job_id, BusJobStreamEndMessage, data)

    # --- built-in handling (the worker's dispatch table names these) ---------------------

    async def _handle_job_request(self, message: BusJobRequestMessage) -> None:
        self._job_server.handle_request(message)

    async def _handle_job_cancel(self, message: BusJobCancelMessage) -> None:
        await self._job_server.handle_cancel(message)

    async def _handle_job_update_request(self, message: BusJobUpdateRequestMessage) -> None:
        await self._job_server.handle_update_request(message)
