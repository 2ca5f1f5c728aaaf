"""ClientGroupReports: the envelopes a UI worker sends about a group, in the order the
client must see them, whatever order the answers and cancels arrive in. Pure."""

from __future__ import annotations

from trio_pipe.bus.ui import (
    BusUIJobCompletedMessage,
    BusUIJobGroupCompletedMessage,
    BusUIJobGroupStartedMessage,
    BusUIJobUpdateMessage,
)
from trio_pipe.workers.jobs import JobGroup
from trio_pipe.workers.ui_reports import ClientGroupReports


def group() -> JobGroup:
    return JobGroup(
        job_id="g1", worker_names=["a", "b"], cancel_on_error=True, label="L", cancellable=True
    )


def test_a_cancel_reports_the_members_it_cut_short_then_the_group_once() -> None:
    reports = ClientGroupReports("ui", lambda: 7)
    started = reports.started(group())
    assert isinstance(started, BusUIJobGroupStartedMessage)
    assert (started.workers, started.label, started.at, started.source) == (
        ["a", "b"],
        "L",
        7,
        "ui",
    )
    update = reports.update("g1", "a", {"p": 1})
    assert isinstance(update, BusUIJobUpdateMessage) and update.worker_name == "a"
    assert reports.update("g1", "stranger", {}) is None
    (done,) = reports.job_completed("g1", "a", "completed", {"ok": 1})
    assert isinstance(done, BusUIJobCompletedMessage) and done.response == {"ok": 1}
    assert reports.job_completed("g1", "a", "completed", {"ok": 1}) == []  # only the first
    cancelled = reports.group_cancelled("g1")
    assert [(type(m), getattr(m, "worker_name", None)) for m in cancelled] == [
        (BusUIJobCompletedMessage, "b"),
        (BusUIJobGroupCompletedMessage, None),
    ]
    assert cancelled[0].status == "cancelled"
    assert reports.group_cancelled("g1") == [] and reports.group_completed("g1") == []
    assert reports.update("g1", "b", {}) is None
