"""RTVIProcessor in a running pipeline: handshake, client messages, UI envelopes."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from rtvi_helpers import UP, msg, rig

from trio_pipe.frames import (
    EndFrame,
    ErrorFrame,
    InputTransportMessageFrame,
)
from trio_pipe.pipeline import PipelineTask
from trio_pipe.processors import FrameDirection
from trio_pipe.rtvi import RTVIProcessor
from trio_pipe.rtvi.frames import RTVIUICommandFrame, RTVIUIEventFrame, RTVIUIJobGroupFrame
from trio_pipe.rtvi.models import UIJobUpdateData
from trio_pipe.rtvi.translate import UIClientMessage


async def test_client_ready_then_bot_ready_from_the_handler() -> None:
    rtvi = RTVIProcessor()

    @rtvi.event_handler("on_client_ready")
    async def ready(processor: RTVIProcessor) -> None:
        await processor.set_bot_ready(about={"library": "pipecat-ai", "library_version": "1.14.0"})

    async with rig(rtvi) as r:
        await r.client_sends(msg("client-ready", {"version": "2.2.0"}, msg_id="c1"))
        assert r.sent() == [
            {
                "label": "rtvi-ai",
                "type": "bot-ready",
                "id": "c1",
                "data": {
                    "version": "2.2.0",
                    "about": {"library": "pipecat-ai", "library_version": "1.14.0"},
                    "capabilities": {"metrics": False},
                },
            }
        ]
        assert rtvi.client_ready and rtvi.bot_ready
        assert rtvi.client_version == [2, 2, 0]


async def test_client_ready_without_version_warns_then_goes_on() -> None:
    rtvi = RTVIProcessor()
    rtvi.add_event_handler("on_client_ready", lambda p: p.set_bot_ready())
    async with rig(rtvi) as r:
        await r.client_sends(msg("client-ready", msg_id="c1"))
        kinds = [(m["type"], m.get("id")) for m in r.sent()]
        assert kinds == [("error-response", "c1"), ("bot-ready", "c1")]
        assert r.sent()[1]["data"]["about"]["library"] == "trio-pipe"


async def test_a_legacy_client_gets_its_version_echoed() -> None:
    rtvi = RTVIProcessor()
    rtvi.add_event_handler("on_client_ready", lambda p: p.set_bot_ready())
    async with rig(rtvi) as r:
        await r.client_sends(msg("client-ready", {"version": "1.3.0"}, msg_id="c1"))
        assert [m["data"]["version"] for m in r.sent()] == ["1.3.0"]


async def test_ui_messages_push_frames_and_fire_handlers_in_arrival_order() -> None:
    rtvi = RTVIProcessor()
    seen: list[str] = []

    @rtvi.event_handler("on_ui_message")
    async def on_ui(processor: RTVIProcessor, message: UIClientMessage) -> None:
        await trio.sleep(0.01 if message.msg_id == "a" else 0)  # a slow first handler
        seen.append(message.msg_id)

    async with rig(rtvi) as r:
        await r.client_sends(
            msg("ui-event", {"event": "one"}, "a"),
            msg(
                "ui-snapshot", {"tree": {"root": {"ref": "e", "role": "r"}, "captured_at": 1}}, "b"
            ),
            msg("ui-cancel-job-group", {"job_id": "j"}, "c"),
        )
        await trio.sleep(0.1)
        assert seen == ["a", "b", "c"]
        events = r.after.frames(RTVIUIEventFrame)
        assert [(f.msg_id, f.event) for f in events] == [("a", "one")]
        assert r.sent() == []  # nothing goes back for valid UI messages
        assert not r.after.frames(InputTransportMessageFrame, FrameDirection.DOWNSTREAM)  # consumed


async def test_bad_client_messages_get_the_right_replies_and_are_counted() -> None:
    async with rig() as r:
        await r.client_sends(
            {"label": "other", "type": "ui-event", "id": "x", "data": {"event": "e"}},
            {"label": "rtvi-ai", "type": "ui-event", "data": {"event": "e"}},
            msg("ui-event", {}, "m2"),
            msg("ui-bogus", {}, "m3"),
            msg("ui-event", {"event": "__ui_snapshot", "payload": {"root": "junk"}}, "m4"),
        )
        assert [(m["type"], m.get("id")) for m in r.sent()] == [
            ("error", None),
            ("error-response", "m2"),
            ("error-response", "m3"),
        ]
        assert r.sent()[0]["data"]["fatal"] is False
        assert r.sent()[2]["data"]["error"] == "Unsupported type ui-bogus"
        assert r.rtvi.rejected_messages == 5
        assert r.after.frames(RTVIUIEventFrame) == []


async def test_outbound_ui_frames_become_urgent_envelopes_and_go_on() -> None:
    async with rig() as r:
        await r.task.queue_frame(
            RTVIUICommandFrame(command="toast", payload={"title": "Navigated"})
        )
        await r.task.queue_frame(
            RTVIUIJobGroupFrame(data=UIJobUpdateData(job_id="j", worker_name="w", data=None, at=3))
        )
        await trio.testing.wait_all_tasks_blocked()
        assert r.sent() == [
            {
                "label": "rtvi-ai",
                "type": "ui-command",
                "data": {"command": "toast", "payload": {"title": "Navigated"}},
            },
            {
                "label": "rtvi-ai",
                "type": "ui-job-group",
                "data": {"kind": "job_update", "job_id": "j", "worker_name": "w", "at": 3},
            },
        ]
        assert len(r.after.frames(RTVIUICommandFrame)) == 1
        assert len(r.after.frames(RTVIUIJobGroupFrame)) == 1


async def test_an_error_frame_is_reported_to_the_client() -> None:
    async with rig() as r:
        await r.task.queue_frame(ErrorFrame(error="boom", fatal=False), UP)
        await trio.testing.wait_all_tasks_blocked()
        assert r.sent() == [
            {"label": "rtvi-ai", "type": "error", "data": {"error": "boom", "fatal": False}}
        ]


async def test_disconnect_bot_ends_the_pipeline() -> None:
    finished: list[Any] = []
    done = trio.Event()

    def on_finished(task: PipelineTask, frame: Any) -> None:
        finished.append(frame)
        done.set()

    async with rig() as r:
        r.task.add_event_handler("on_pipeline_finished", on_finished)
        await r.client_sends(msg("disconnect-bot", msg_id="d"))
        with trio.fail_after(5):
            await done.wait()
    assert isinstance(finished[0], EndFrame)


async def test_a_flood_past_the_queue_is_dropped_and_counted(autojump_clock: Any) -> None:
    rtvi = RTVIProcessor()
    rtvi.MESSAGE_QUEUE_SIZE = 4
    gate = trio.Event()

    @rtvi.event_handler("on_ui_message")
    async def stuck(processor: RTVIProcessor, message: UIClientMessage) -> None:
        await gate.wait()

    async with rig(rtvi) as r:
        await r.client_sends(*[msg("ui-event", {"event": "e"}, str(i)) for i in range(10)])
        # one in the handler, four queued, the rest dropped
        assert rtvi.dropped_messages == 5
        gate.set()
