"""Job requests a proxy client sent and not yet answered: pure bookkeeping.

When the server refuses the client's handshake for good (HTTP 4xx: wrong token, origin
not allowed), nobody will ever answer the requests the proxy forwarded before, nor the ones
that arrive while it stays refused; without an answer each ``job()`` would wait for its
full timeout. :class:`ForwardedJobs` remembers which requests went over the socket (until
their final answer or their cancel) so the proxy can answer them ``status=ERROR`` at once,
on the remote worker's behalf, with the reason.
"""

from __future__ import annotations

from trio_pipe.bus.messages import (
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobResponseUrgentMessage,
    BusJobStreamEndMessage,
    BusMessage,
    JobStatus,
)

__all__ = ["ForwardedJobs", "error_answer"]

_FINAL = (BusJobResponseMessage, BusJobResponseUrgentMessage, BusJobStreamEndMessage)


def error_answer(request: BusJobRequestMessage, reason: str) -> BusJobResponseMessage:
    """The ERROR answer to ``request``, as if from the worker it was sent to."""
    return BusJobResponseMessage(
        job_id=request.job_id,
        status=JobStatus.ERROR,
        response={"error": reason},
        source=request.target or "",
        target=request.source,
    )


class ForwardedJobs:
    """Open job requests sent over one proxy, keyed by job id."""

    def __init__(self) -> None:
        self._open: dict[str, BusJobRequestMessage] = {}

    def __len__(self) -> int:
        return len(self._open)

    def sent(self, message: BusMessage) -> None:
        """A message went over the socket: a request opens a job, a cancel closes it."""
        if isinstance(message, BusJobRequestMessage):
            self._open[message.job_id] = message
        elif isinstance(message, BusJobCancelMessage):
            self._open.pop(message.job_id, None)

    def received(self, message: BusMessage) -> None:
        """A message came from the socket: a final answer closes its job."""
        if isinstance(message, _FINAL):
            self._open.pop(message.job_id, None)

    def fail_all(self, reason: str) -> list[BusJobResponseMessage]:
        """ERROR answers for every open job, which are then forgotten."""
        answers = [error_answer(request, reason) for request in self._open.values()]
        self._open.clear()
        return answers
