"""Job groups as the client sees them (spec A.6; A.7 checks 32-46, 49)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from ui_helpers import AT, Scripted, client_view, kinds, ui_event
from worker_helpers import Spy, settle, start_runner

from trio_pipe.bus.messages import (
    BusJobCancelMessage,
    BusJobResponseMessage,
    BusJobUpdateMessage,
    JobStatus,
)
from trio_pipe.bus.ui import BusUIDataMessage, BusUIJobCompletedMessage
from trio_pipe.workers import BaseWorker, JobGroupError, JobGroupParams, JobParams
from trio_pipe.workers.ui import UIWorker


@pytest.fixture
async def setup(nursery: trio.Nursery) -> tuple[Any, UIWorker, Spy]:
    ui = UIWorker("ui", clock=lambda: AT)
    runner = await start_runner(nursery, ui, Scripted("w1"), Scripted("w2"), Scripted("slow"))
    spy = Spy()
    runner.bus.subscribe(spy)
    return runner, ui, spy


def script(**steps: list[tuple[str, Any]]) -> dict[str, Any]:
    return dict(steps)


async def test_a_one_worker_group_shows_its_whole_lifecycle_under_one_job_id(setup) -> None:
    _, ui, spy = setup
    payload = script(w1=[("update", {"progress": 0.5}), ("respond", {"result": "w1"})])
    async with ui.job_group("w1", params=JobGroupParams(payload=payload, label="Research")) as g:
        pass
    await settle()
    assert client_view(spy) == [
        {
            "kind": "group_started",
            "job_id": g.job_id,
            "workers": ["w1"],
            "label": "Research",
            "cancellable": True,
            "at": AT,
        },
        {
            "kind": "job_update",
            "job_id": g.job_id,
            "worker_name": "w1",
            "data": {"progress": 0.5},
            "at": AT,
        },
        {
            "kind": "job_completed",
            "job_id": g.job_id,
            "worker_name": "w1",
            "status": "completed",
            "response": {"result": "w1"},
            "at": AT,
        },
        {"kind": "group_completed", "job_id": g.job_id, "at": AT},
    ]


async def test_no_update_ever_overtakes_its_group_started(setup) -> None:
    _, ui, spy = setup
    payload = script(
        w1=[("update", {"n": 1}), ("respond", {})], w2=[("urgent_update", {}), ("respond", {})]
    )
    for _ in range(100):
        async with ui.job_group("w1", "w2", params=JobGroupParams(payload=payload)):
            pass
    await settle()
    started: set[str] = set()
    for data in client_view(spy):
        if data["kind"] == "group_started":
            started.add(data["job_id"])
        else:
            assert data["job_id"] in started, data
    assert len(started) == 100


async def test_a_non_cancellable_group_ignores_the_client(setup, autojump_clock) -> None:
    runner, ui, spy = setup
    payload = script(slow=[("sleep", 1), ("respond", {"ok": 1})])
    async with ui.job_group("slow", params=JobGroupParams(payload=payload, cancellable=False)) as g:
        await settle()
        runner.bus.send(ui_event("__cancel_job_group", {"job_id": g.job_id, "reason": None}))
        await settle()
        assert kinds(client_view(spy)) == [("group_started",)]
        assert spy.of(BusJobCancelMessage) == []
    assert client_view(spy)[0]["cancellable"] is False
    assert g.responses == {"slow": {"ok": 1}}
    await settle()
    assert kinds(client_view(spy))[-1] == ("group_completed",)


class CancelAfterFirstCompletion(Spy):
    """Plays the client: cancels the group once the first worker is reported done."""

    def __init__(self, runner: Any, reason: Any) -> None:
        super().__init__("canceller")
        self.runner, self.reason, self.sent = runner, reason, False

    async def on_bus_message(self, message: Any) -> None:
        if isinstance(message, BusUIJobCompletedMessage) and not self.sent:
            self.sent = True
            payload = {"job_id": message.job_id}
            if self.reason is not ...:
                payload["reason"] = self.reason
            self.runner.bus.send(ui_event("__cancel_job_group", payload))


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("changed my mind", "changed my mind"), (..., "cancelled by user"), (7, "cancelled by user")],
)
async def test_client_cancel_of_a_running_group(setup, reason: Any, expected: str) -> None:
    runner, ui, spy = setup
    runner.bus.subscribe(CancelAfterFirstCompletion(runner, reason))
    payload = script(w1=[("respond", {"r": 1})], slow=[("forever", None)])
    with pytest.raises(JobGroupError, match=expected):
        async with ui.job_group("w1", "slow", params=JobGroupParams(payload=payload)):
            pass
    await settle()
    assert kinds(client_view(spy)) == [
        ("group_started",),
        ("job_completed", "w1", "completed"),
        ("job_completed", "slow", "cancelled"),
        ("group_completed",),
    ]
    cancelled = client_view(spy)[2]
    assert "response" not in cancelled
    assert {(m.target, m.reason) for m in spy.of(BusJobCancelMessage)} == {
        ("w1", expected),
        ("slow", expected),
    }
    # slow's own CANCELLED answer came back after the group was gone: nothing more
    assert any(m.status is JobStatus.CANCELLED for m in spy.of(BusJobResponseMessage))
    assert len(client_view(spy)) == 4
    assert ui.job_groups == {}


@pytest.mark.parametrize(
    "payload", [{"job_id": "unknown"}, {}, {"job_id": 5}, {"job_id": ""}, "junk", None, [1]]
)
async def test_bad_cancel_requests_are_ignored(setup, payload: Any, autojump_clock) -> None:
    runner, ui, spy = setup
    async with ui.job_group(
        "slow", params=JobGroupParams(payload=script(slow=[("sleep", 1), ("respond", {})]))
    ):
        await settle()
        runner.bus.send(ui_event("__cancel_job_group", payload))
        await settle()
        assert spy.of(BusJobCancelMessage) == []
    await settle()
    assert kinds(client_view(spy))[-2:] == [
        ("job_completed", "slow", "completed"),
        ("group_completed",),
    ]


async def test_an_error_under_cancel_on_error_closes_the_group(setup) -> None:
    _, ui, spy = setup
    payload = script(w1=[("fail", {"error": "bad"})], slow=[("forever", None)])
    with pytest.raises(JobGroupError, match="worker 'w1' errored"):
        async with ui.job_group("w1", "slow", params=JobGroupParams(payload=payload)):
            pass
    await settle()
    view = client_view(spy)
    assert kinds(view) == [
        ("group_started",),
        ("job_completed", "w1", "error"),
        ("job_completed", "slow", "cancelled"),
        ("group_completed",),
    ]
    assert view[1]["response"] == {"error": "bad"}


async def test_an_error_without_cancel_on_error_completes_the_group(setup) -> None:
    _, ui, spy = setup
    payload = script(w1=[("fail", {"error": "bad"})], w2=[("respond", {"ok": 2})])
    async with ui.job_group(
        "w1", "w2", params=JobGroupParams(payload=payload, cancel_on_error=False)
    ) as g:
        pass
    await settle()
    assert g.responses == {"w1": {"error": "bad"}, "w2": {"ok": 2}}
    view = kinds(client_view(spy))
    assert view[0] == ("group_started",)
    assert sorted(view[1:3]) == [
        ("job_completed", "w1", "error"),
        ("job_completed", "w2", "completed"),
    ]
    assert view[3:] == [("group_completed",)]


async def test_a_job_handler_that_raises_closes_the_group(setup) -> None:
    # Pipecat leaves the requester (and the client's card) waiting; trio_pipe's worker
    # answers ERROR, so the group closes for the client.
    _, ui, spy = setup
    with pytest.raises(JobGroupError):
        async with ui.job_group("w1", params=JobGroupParams(payload=script(w1=[("raise", "bug")]))):
            pass
    await settle()
    assert kinds(client_view(spy)) == [
        ("group_started",),
        ("job_completed", "w1", "error"),
        ("group_completed",),
    ]


async def test_a_timeout_reports_the_unfinished_workers_then_closes(setup, autojump_clock) -> None:
    _, ui, spy = setup
    payload = script(w1=[("respond", {})], slow=[("forever", None)])
    with pytest.raises(JobGroupError, match="timeout"):
        async with ui.job_group("w1", "slow", params=JobGroupParams(payload=payload, timeout=5)):
            pass
    await settle()
    assert kinds(client_view(spy)) == [
        ("group_started",),
        ("job_completed", "w1", "completed"),
        ("job_completed", "slow", "cancelled"),
        ("group_completed",),
    ]
    assert {m.reason for m in spy.of(BusJobCancelMessage)} == {"timeout"}


async def test_a_raising_body_cancels_and_reports_even_while_cancelled(setup) -> None:
    _, ui, spy = setup
    payload = script(slow=[("forever", None)])
    with trio.CancelScope() as outer, pytest.raises(KeyError):
        async with ui.job_group("slow", params=JobGroupParams(payload=payload)):
            outer.cancel()  # the enclosing scope is cancelled at the same time
            raise KeyError("body")
    await settle()
    assert kinds(client_view(spy)) == [
        ("group_started",),
        ("job_completed", "slow", "cancelled"),
        ("group_completed",),
    ]
    assert ui.job_groups == {}


async def test_stream_end_is_completion_and_stream_start_and_data_send_nothing(setup) -> None:
    _, ui, spy = setup
    payload = script(w1=[("start", {"s": 0}), ("data", {"d": 1}), ("end", {"final": True})])
    async with ui.job_group("w1", params=JobGroupParams(payload=payload)):
        pass
    await settle()
    view = client_view(spy)
    assert kinds(view) == [
        ("group_started",),
        ("job_completed", "w1", "completed"),
        ("group_completed",),
    ]
    assert view[1]["response"] == {"final": True}


async def test_urgent_updates_and_responses_are_forwarded_too(setup) -> None:
    _, ui, spy = setup
    payload = script(w1=[("urgent_update", {"u": 1}), ("urgent_respond", {"r": 1})])
    async with ui.job_group("w1", params=JobGroupParams(payload=payload)):
        pass
    await settle()
    assert kinds(client_view(spy)) == [
        ("group_started",),
        ("job_update", "w1"),
        ("job_completed", "w1", "completed"),
        ("group_completed",),
    ]


async def test_workers_never_ready_raise_and_send_no_group_started(setup, autojump_clock) -> None:
    _, ui, spy = setup
    with pytest.raises(JobGroupError, match="not ready"):
        async with ui.job_group("ghost", params=JobGroupParams(timeout=2)):
            pass
    await settle()
    assert spy.of(BusUIDataMessage) == []


async def test_fire_and_forget_and_single_jobs_are_visible(setup) -> None:
    _, ui, spy = setup
    job_id = await ui.request_job_group(
        "w1", params=JobGroupParams(payload=script(w1=[("respond", {"a": 1})]))
    )
    assert job_id in ui.job_groups  # returned before any reply arrived
    await settle()
    assert client_view(spy)[0]["job_id"] == job_id
    assert kinds(client_view(spy)) == [
        ("group_started",),
        ("job_completed", "w1", "completed"),
        ("group_completed",),
    ]
    async with ui.job(
        "w2", params=JobParams(payload=script(w2=[("respond", {"b": 2})]), label="one")
    ) as t:
        pass
    await settle()
    last = client_view(spy)[3:]
    assert [d["job_id"] for d in last] == [t.job_id] * 3
    assert last[0]["label"] == "one" and last[0]["workers"] == ["w2"]
    with pytest.deprecated_call():
        other = await ui.start_ui_job_group("w1", payload=script(w1=[("respond", {})]), label="old")
    with pytest.deprecated_call():
        context = ui.ui_job_group("w1", payload=script(w1=[("respond", {})]), cancellable=False)
    async with context:
        pass
    await settle()
    started = [d for d in client_view(spy) if d["kind"] == "group_started"]
    assert [(d["job_id"] == other, d.get("label"), d["cancellable"]) for d in started[2:]] == [
        (True, "old", True),
        (False, None, False),
    ]


async def test_a_plain_base_worker_group_emits_no_ui_carrier(setup) -> None:
    runner, _, spy = setup
    plain = BaseWorker("plain")
    await runner.add_workers(plain)
    await settle()
    async with plain.job_group("w1", params=JobGroupParams(payload=script(w1=[("respond", {})]))):
        pass
    await settle()
    assert spy.of(BusUIDataMessage) == []


async def test_stream_end_then_a_late_response_and_a_stranger_update_report_nothing_more(
    setup,
) -> None:
    runner, ui, spy = setup
    async with ui.job_group(
        "w1",
        "slow",
        params=JobGroupParams(
            payload=script(w1=[("end", {"e": 1})], slow=[("sleep", 1), ("respond", {})])
        ),
    ) as g:
        await settle()
        # w1 (whose stream already ended) answers again, and a non-member sends progress
        runner.bus.send(
            BusJobResponseMessage(
                job_id=g.job_id,
                status=JobStatus.COMPLETED,
                response={"again": 1},
                source="w1",
                target="ui",
            )
        )
        runner.bus.send(
            BusJobUpdateMessage(job_id=g.job_id, update={"x": 1}, source="intruder", target="ui")
        )
        await settle()
    await settle()
    assert kinds(client_view(spy)) == [
        ("group_started",),
        ("job_completed", "w1", "completed"),
        ("job_completed", "slow", "completed"),
        ("group_completed",),
    ]


async def test_only_the_owner_acts_on_a_cancel_request(setup) -> None:
    runner, ui, spy = setup
    other = UIWorker("ui2")
    await runner.add_workers(other)
    await settle()
    payload = script(slow=[("forever", None)])
    with pytest.raises(JobGroupError, match="stop"):
        async with ui.job_group("slow", params=JobGroupParams(payload=payload)) as g:
            assert not await other.request_cancel_job_group(g.job_id, reason="x")
            runner.bus.send(ui_event("__cancel_job_group", {"job_id": g.job_id, "reason": "stop"}))
    await settle()
    assert {m.source for m in spy.of(BusJobCancelMessage)} == {"ui"}


async def test_stopping_the_worker_closes_its_open_groups_for_the_client(
    nursery: trio.Nursery, live_tasks
) -> None:
    before = live_tasks()
    spy = Spy()
    ui = UIWorker("ui")
    async with trio.open_nursery() as inner:
        runner = await start_runner(inner, ui, Scripted("slow"))
        runner.bus.subscribe(spy)
        await ui.request_job_group(
            "slow", params=JobGroupParams(payload=script(slow=[("forever", None)]), timeout=60)
        )
        await settle()
        await runner.end()
    assert kinds(client_view(spy)) == [
        ("group_started",),
        ("job_completed", "slow", "cancelled"),
        ("group_completed",),
    ]
    assert live_tasks() <= before  # no group timer or handler is left
