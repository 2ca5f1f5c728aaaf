"""Bookkeeping of the job groups a client watches: what may still be reported. Pure.

A :class:`~trio_pipe.workers.ui.UIWorker` asks :class:`UIGroupTracker` before each
envelope it publishes, so that per group the client sees ``group_started``, then updates,
then exactly one ``job_completed`` per worker, then exactly one ``group_completed``,
whatever order the workers' messages, timeouts and cancel requests arrive in:

* :meth:`UIGroupTracker.open` when the group is dispatched;
* :meth:`UIGroupTracker.accepts_update`: only for an open group and a member worker
  (the reference also forwards updates from non-members);
* :meth:`UIGroupTracker.complete`: True once per member, at its first terminal event
  (a response or a stream end; the reference reports a stream end and a later response
  twice);
* :meth:`UIGroupTracker.close`: once per group; returns the members still unreported
  (those a cancellation cut short), or None if the group is not open (closed already).
"""

from __future__ import annotations

__all__ = ["UIGroupTracker"]


class UIGroupTracker:
    """Open client-visible groups and, per group, the members not yet reported done."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        # job id -> members not yet reported, in dispatch order (a dict keeps the order).
        self._open: dict[str, dict[str, None]] = {}

    def open(self, job_id: str, workers: list[str]) -> None:
        """A group was dispatched to ``workers``."""
        self._open[job_id] = dict.fromkeys(workers)

    def is_open(self, job_id: str) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return job_id in self._open

    def __len__(self) -> int:
        return len(self._open)

    def accepts_update(self, job_id: str, worker: str) -> bool:
        """Whether an update from ``worker`` for ``job_id`` goes to the client."""
        pending = self._open.get(job_id)
        return pending is not None and worker in pending

    def complete(self, job_id: str, worker: str) -> bool:
        """``worker`` ended its part; True if the client should hear it (the first time)."""
        pending = self._open.get(job_id)
        if pending is None or worker not in pending:
            return False
        del pending[worker]
        return True

    def close(self, job_id: str) -> list[str] | None:
        """End the group: the members never reported, or None if it was not open."""
        pending = self._open.pop(job_id, None)
        return None if pending is None else list(pending)
