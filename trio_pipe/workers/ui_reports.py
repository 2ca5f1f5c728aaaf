"""What a UI worker tells its client about the job groups it dispatches: the envelopes.

:class:`ClientGroupReports` is a part of a :class:`~trio_pipe.workers.ui.UIWorker`, like
the job server is of every worker: it keeps the :class:`~trio_pipe.workers.ui_groups.
UIGroupTracker` (what may still be reported per group) and builds the UI carriers
(``group_started``, ``job_update``, ``job_completed``, ``group_completed``); the worker's
hooks decide when to ask it and send what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trio_pipe.bus.messages import BusMessage, JobStatus
from trio_pipe.bus.ui import (
    BusUIJobCompletedMessage,
    BusUIJobGroupCompletedMessage,
    BusUIJobGroupStartedMessage,
    BusUIJobUpdateMessage,
)
from trio_pipe.workers.jobs import JobGroup
from trio_pipe.workers.ui_groups import UIGroupTracker

__all__ = ["ClientGroupReports"]


class ClientGroupReports:
    """The client-visible job groups of one UI worker, and the envelopes about them.

    Args:
        source: the worker's name (the envelopes' ``source``).
        clock: epoch milliseconds for the ``at`` fields.
    """

    def __init__(self, source: str, clock: Callable[[], int]) -> None:
        self._source = source
        self._clock = clock
        self.tracker = UIGroupTracker()

    def started(self, group: JobGroup) -> BusMessage:
        """Open ``group`` for the client; the ``group_started`` envelope."""
        self.tracker.open(group.job_id, group.worker_names)
        return BusUIJobGroupStartedMessage(
            source=self._source,
            target=None,
            job_id=group.job_id,
            workers=list(group.worker_names),
            label=group.label,
            cancellable=group.cancellable,
            at=self._clock(),
        )

    def update(self, job_id: str, worker_name: str, data: Any) -> BusMessage | None:
        """A member's progress on an open group, or None when the client must not hear it."""
        if not self.tracker.accepts_update(job_id, worker_name):
            return None
        return BusUIJobUpdateMessage(
            source=self._source,
            target=None,
            job_id=job_id,
            worker_name=worker_name,
            data=data,
            at=self._clock(),
        )

    def job_completed(
        self, job_id: str, worker_name: str, status: str, response: Any
    ) -> list[BusMessage]:
        """A member's first terminal event: its ``job_completed`` (none after the first)."""
        if not self.tracker.complete(job_id, worker_name):
            return []
        return [self._job_completed(job_id, worker_name, status, response)]

    def group_completed(self, job_id: str) -> list[BusMessage]:
        """Every member answered: the ``group_completed`` envelope (once per group)."""
        if self.tracker.close(job_id) is None:
            return []
        return [self._group_completed(job_id)]

    def group_cancelled(self, job_id: str) -> list[BusMessage]:
        """The group was cancelled: a CANCELLED ``job_completed`` per member it cut short,
        then ``group_completed`` (nothing if the group was already closed)."""
        cut_short = self.tracker.close(job_id)
        if cut_short is None:
            return []
        cancelled = str(JobStatus.CANCELLED)
        return [
            *(self._job_completed(job_id, name, cancelled, None) for name in cut_short),
            self._group_completed(job_id),
        ]

    def _job_completed(self, job_id: str, worker_name: str, status: str, response: Any) -> Any:
        return BusUIJobCompletedMessage(
            source=self._source,
            target=None,
            job_id=job_id,
            worker_name=worker_name,
            status=status,
            response=response,
            at=self._clock(),
        )

    def _group_completed(self, job_id: str) -> Any:
        return BusUIJobGroupCompletedMessage(
            source=self._source, target=None, job_id=job_id, at=self._clock()
        )
