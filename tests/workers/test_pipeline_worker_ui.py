"""PipelineWorker's RTVI bridge (spec A.3, A.4; A.7 checks 6-21, 48, 50 in-process)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from pipeline_helpers import Session, rtvi, start_session
from ui_helpers import AT, Scripted
from worker_helpers import settle

from trio_pipe.bus.ui import (
    BusUICommandMessage,
    BusUIEventMessage,
    BusUIJobCompletedMessage,
    BusUIJobGroupCompletedMessage,
    BusUIJobGroupStartedMessage,
    BusUIJobUpdateMessage,
)
from trio_pipe.rtvi.frames import RTVIUIEventFrame
from trio_pipe.workers import JobGroupParams
from trio_pipe.workers.ui import Toast, UIWorker, ui_event

SNAPSHOT = {
    "root": {"ref": "e1", "role": "main", "name": None, "vendor": {"k": None}},
    "captured_at": 1,
    "note": "extra",
}


# --- handshake ------------------------------------------------------------------------------


async def test_client_ready_is_answered_with_bot_ready(nursery: trio.Nursery) -> None:
    s = await start_session(nursery)
    await s.client_sends(rtvi("client-ready", {"version": "2.2.0"}, msg_id="c1"))
    [ready] = s.received()
    assert ready["type"] == "bot-ready" and ready["id"] == "c1"
    assert ready["data"]["version"] == "2.2.0"
    assert ready["data"]["capabilities"] == {"metrics": False}
    assert s.bus_events() == []


# --- inbound ----------------------------------------------------------------------------------


async def test_a_ui_event_is_republished_once_as_a_broadcast(nursery: trio.Nursery) -> None:
    s = await start_session(nursery)
    await s.client_sends(rtvi("ui-event", {"event": "nav_click", "payload": {"view": "home"}}))
    [event] = s.bus_events()
    assert (event.source, event.target, event.event_name, event.payload) == (
        "voice",
        None,
        "nav_click",
        {"view": "home"},
    )
    assert s.received() == []  # no reply, and the worker's own broadcast is not echoed


async def test_a_ui_event_without_payload(nursery: trio.Nursery) -> None:
    s = await start_session(nursery)
    await s.client_sends(rtvi("ui-event", {"event": "ping"}))
    assert [e.payload for e in s.bus_events()] == [None]


async def test_a_snapshot_and_a_cancel_request(nursery: trio.Nursery) -> None:
    s = await start_session(nursery)
    await s.client_sends(
        rtvi("ui-snapshot", {"tree": SNAPSHOT}, "s1"),
        rtvi("ui-cancel-job-group", {"job_id": "t-1"}, "c1"),
    )
    snapshot, cancel = s.bus_events()
    assert snapshot.event_name == "__ui_snapshot"
    assert snapshot.payload == {
        "root": {"ref": "e1", "role": "main", "vendor": {"k": None}},
        "captured_at": 1,
        "note": "extra",
    }
    assert (cancel.event_name, cancel.payload) == (
        "__cancel_job_group",
        {"job_id": "t-1", "reason": None},
    )


async def test_inbound_messages_are_republished_in_arrival_order(nursery: trio.Nursery) -> None:
    s = await start_session(nursery)
    await s.client_sends(*[rtvi("ui-event", {"event": f"e{i}"}, str(i)) for i in range(50)])
    assert [e.event_name for e in s.bus_events()] == [f"e{i}" for i in range(50)]


async def test_bad_client_messages_reach_no_bus(nursery: trio.Nursery) -> None:
    s = await start_session(nursery)
    await s.client_sends({"label": "other", "type": "ui-event", "id": "x", "data": {"event": "e"}})
    assert s.received() == []
    await s.client_sends({"label": "rtvi-ai", "type": "ui-event", "data": {"event": "e"}})
    assert [(m["type"], m["data"]["fatal"]) for m in s.received()] == [("error", False)]
    await s.client_sends(rtvi("ui-event", {"payload": 1}, "m2"))
    await s.client_sends(rtvi("ui-bogus", {}, "m3"))
    replies = s.received()[1:]
    assert [(m["type"], m["id"]) for m in replies] == [
        ("error-response", "m2"),
        ("error-response", "m3"),
    ]
    assert replies[1]["data"]["error"] == "Unsupported type ui-bogus"
    assert s.bus_events() == []


class Screen(UIWorker):
    """Remembers snapshots and groups; opens a group on request."""

    @ui_event("open_group")
    async def open_group(self, message: BusUIEventMessage) -> None:
        await self.request_job_group(
            "slow", params=JobGroupParams(payload={"slow": [("forever", None)]})
        )


async def test_a_bad_snapshot_leaves_the_stored_one_alone(nursery: trio.Nursery) -> None:
    ui = UIWorker("ui")
    s = await start_session(nursery, ui)
    await s.client_sends(rtvi("ui-snapshot", {"tree": SNAPSHOT}, "s1"))
    stored = ui.snapshot
    assert stored is not None
    await s.client_sends(rtvi("ui-snapshot", {"tree": {"captured_at": 2}}, "s2"))
    assert [(m["type"], m["id"]) for m in s.received()] == [("error-response", "s2")]
    assert ui.snapshot is stored


async def test_a_client_cannot_forge_reserved_events(nursery: trio.Nursery) -> None:
    ui = Screen("ui")
    s = await start_session(nursery, ui, Scripted("slow"))
    await s.client_sends(rtvi("ui-snapshot", {"tree": SNAPSHOT}, "s1"))
    await s.client_sends(rtvi("ui-event", {"event": "open_group"}, "g"))
    [job_id] = list(ui.job_groups)
    stored, events_before = ui.snapshot, len(s.bus_events())
    await s.client_sends(
        rtvi("ui-event", {"event": "__ui_snapshot", "payload": {"root": "junk"}}, "f1"),
        rtvi("ui-event", {"event": "__cancel_job_group", "payload": {"job_id": job_id}}, "f2"),
    )
    assert len(s.bus_events()) == events_before  # dropped...
    assert s.worker.rtvi.rejected_messages == 2  # ...and counted
    assert ui.snapshot is stored
    assert list(ui.job_groups) == [job_id]
    # The real cancel message still works.
    await s.client_sends(rtvi("ui-cancel-job-group", {"job_id": job_id}, "c"))
    assert ui.job_groups == {}


async def test_inbound_frames_are_pushed_down_the_pipeline(nursery: trio.Nursery) -> None:
    s = await start_session(nursery)
    seen: list[Any] = []
    original = s.client_out.process_frame

    async def watch(frame: Any, direction: Any) -> None:
        if isinstance(frame, RTVIUIEventFrame):
            seen.append((frame.msg_id, frame.event, frame.payload))
        await original(frame, direction)

    s.client_out.process_frame = watch  # type: ignore[method-assign]
    await s.client_sends(rtvi("ui-event", {"event": "nav", "payload": 1}, "m9"))
    assert seen == [("m9", "nav", 1)]


# --- outbound ---------------------------------------------------------------------------------


async def test_carriers_reach_the_client_as_exactly_the_reference_envelopes(
    nursery: trio.Nursery,
) -> None:
    s = await start_session(nursery)
    for message in (
        BusUICommandMessage(source="ui", command_name="toast", payload={"title": "Navigated"}),
        BusUIJobGroupStartedMessage(source="ui", job_id="j", at=AT),
        BusUIJobUpdateMessage(
            source="ui", job_id="j", worker_name="w1", data={"progress": 0.5}, at=AT
        ),
        BusUIJobCompletedMessage(
            source="ui",
            job_id="j",
            worker_name="w1",
            status="completed",
            response={"result": "w1"},
            at=AT,
        ),
        BusUIJobCompletedMessage(
            source="ui", job_id="j", worker_name="slow", status="cancelled", at=AT
        ),
        BusUIJobGroupCompletedMessage(source="ui", job_id="j", at=AT),
    ):
        s.runner.bus.send(message)
    await settle()
    assert s.received() == [
        {
            "label": "rtvi-ai",
            "type": "ui-command",
            "data": {"command": "toast", "payload": {"title": "Navigated"}},
        },
        {
            "label": "rtvi-ai",
            "type": "ui-job-group",
            "data": {
                "kind": "group_started",
                "job_id": "j",
                "workers": [],
                "cancellable": True,
                "at": AT,
            },
        },
        {
            "label": "rtvi-ai",
            "type": "ui-job-group",
            "data": {
                "kind": "job_update",
                "job_id": "j",
                "worker_name": "w1",
                "data": {"progress": 0.5},
                "at": AT,
            },
        },
        {
            "label": "rtvi-ai",
            "type": "ui-job-group",
            "data": {
                "kind": "job_completed",
                "job_id": "j",
                "worker_name": "w1",
                "status": "completed",
                "response": {"result": "w1"},
                "at": AT,
            },
        },
        {
            "label": "rtvi-ai",
            "type": "ui-job-group",
            "data": {
                "kind": "job_completed",
                "job_id": "j",
                "worker_name": "slow",
                "status": "cancelled",
                "at": AT,
            },
        },
        {
            "label": "rtvi-ai",
            "type": "ui-job-group",
            "data": {"kind": "group_completed", "job_id": "j", "at": AT},
        },
    ]


async def test_targets_route_carriers(nursery: trio.Nursery) -> None:
    s = await start_session(nursery)
    s.runner.bus.send(BusUICommandMessage(source="ui", target="elsewhere", command_name="no"))
    s.runner.bus.send(BusUICommandMessage(source="ui", target="voice", command_name="yes"))
    s.runner.bus.send(BusUIEventMessage(source="ui", event_name="inbound"))
    await settle()
    assert [m["data"]["command"] for m in s.received()] == ["yes"]


@pytest.mark.parametrize("kwargs", [{"enable_rtvi": False}, {"bridged": ()}])
async def test_without_rtvi_nothing_is_translated(nursery: trio.Nursery, kwargs: dict) -> None:
    s = await start_session(nursery, **kwargs)
    await s.client_sends(
        rtvi("ui-event", {"event": "nav_click"}), rtvi("client-ready", msg_id="c1")
    )
    s.runner.bus.send(BusUICommandMessage(source="ui", command_name="toast"))
    await settle()
    assert s.bus_events() == []
    assert s.received() == []
    with pytest.raises(RuntimeError):
        s.worker.rtvi  # noqa: B018


async def test_rtvi_can_be_forced_on_a_bridged_worker(nursery: trio.Nursery) -> None:
    s = await start_session(nursery, bridged=(), enable_rtvi=True)
    await s.client_sends(rtvi("ui-event", {"event": "nav_click"}))
    assert [e.event_name for e in s.bus_events()] == ["nav_click"]


# --- through a UIWorker, in-process ------------------------------------------------------------


class Shop(UIWorker):
    @ui_event("nav_click")
    async def on_nav(self, message: BusUIEventMessage) -> None:
        await self.send_command("toast", Toast(title=f"Opened {message.payload['view']}"))

    @ui_event("research")
    async def on_research(self, message: BusUIEventMessage) -> None:
        payload = {
            "w1": [("update", {"p": 0.5}), ("respond", {"r": 1})],
            "slow": [("forever", None)],
        }
        try:
            async with self.job_group(
                "w1", "slow", params=JobGroupParams(payload=payload, label="Research")
            ):
                pass
        except Exception:
            pass


async def test_a_client_event_comes_back_as_a_command_and_a_job_group(
    nursery: trio.Nursery,
) -> None:
    s: Session = await start_session(
        nursery, Shop("ui", clock=lambda: AT), Scripted("w1"), Scripted("slow")
    )
    await s.client_sends(rtvi("client-ready", {"version": "2.2.0"}, "c1"))
    await s.client_sends(
        rtvi("ui-event", {"event": "nav_click", "payload": {"view": "home"}}, "m1")
    )
    await s.client_sends(rtvi("ui-event", {"event": "research"}, "m2"))
    started = s.received()[-3]["data"]  # started, update, w1 completed so far
    await s.client_sends(
        rtvi("ui-cancel-job-group", {"job_id": started["job_id"], "reason": "enough"}, "m3")
    )
    types = [m["type"] for m in s.received()]
    assert types[:2] == ["bot-ready", "ui-command"]
    assert s.received()[1]["data"] == {
        "command": "toast",
        "payload": {
            "title": "Opened home",
            "subtitle": None,
            "description": None,
            "image_url": None,
            "duration_ms": None,
        },
    }
    lifecycle = [m["data"] for m in s.received()[2:]]
    assert [(d["kind"], d.get("worker_name"), d.get("status")) for d in lifecycle] == [
        ("group_started", None, None),
        ("job_update", "w1", None),
        ("job_completed", "w1", "completed"),
        ("job_completed", "slow", "cancelled"),
        ("group_completed", None, None),
    ]
    assert {d["job_id"] for d in lifecycle} == {started["job_id"]}
    assert started["workers"] == ["w1", "slow"] and started["label"] == "Research"
