"""What @pipecat-ai/client-js 1.13 sends and expects beyond the handshake and UI:
client-message / server-response, server-message, send-text, speaking events."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from rtvi_helpers import UP, msg, rig

from trio_pipe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    TextFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
)
from trio_pipe.processors import FrameDirection
from trio_pipe.rtvi import RTVIProcessor
from trio_pipe.rtvi.frames import (
    RTVIClientMessageFrame,
    RTVISendTextFrame,
    RTVIServerMessageFrame,
    RTVIServerResponseFrame,
)
from trio_pipe.rtvi.translate import ClientMessage

DOWN = FrameDirection.DOWNSTREAM


async def test_client_message_answered_by_the_handler_with_server_response() -> None:
    rtvi = RTVIProcessor()
    seen: list[ClientMessage] = []

    @rtvi.event_handler("on_client_message")
    async def answer(processor: RTVIProcessor, message: ClientMessage) -> None:
        seen.append(message)
        if message.type == "fail":
            await processor.send_error_response(message, "no such thing")
        else:
            await processor.send_server_response(message, {"echo": message.data})

    with trio.fail_after(5):
        async with rig(rtvi) as r:
            await r.client_sends(
                msg("client-message", {"t": "ping", "d": {"n": 1}}, msg_id="q1"),
                msg("client-message", {"t": "fail"}, msg_id="q2"),
            )
            assert seen == [ClientMessage("q1", "ping", {"n": 1}), ClientMessage("q2", "fail")]
            assert r.sent() == [
                {
                    "label": "rtvi-ai",
                    "type": "server-response",
                    "id": "q1",
                    "data": {"t": "ping", "d": {"echo": {"n": 1}}},
                },
                {
                    "label": "rtvi-ai",
                    "type": "error-response",
                    "id": "q2",
                    "data": {"error": "no such thing"},
                },
            ]
            frames = r.after.frames(RTVIClientMessageFrame)
            assert [(f.msg_id, f.type, f.data) for f in frames] == [
                ("q1", "ping", {"n": 1}),
                ("q2", "fail", None),
            ]


async def test_response_and_server_message_frames_from_the_pipeline() -> None:
    with trio.fail_after(5):
        async with rig() as r:
            client = RTVIClientMessageFrame(msg_id="q9", type="time", data=None)
            await r.task.queue_frame(RTVIServerResponseFrame(client_msg=client, data=42), UP)
            await r.task.queue_frame(RTVIServerResponseFrame(client_msg=client, error="later"), UP)
            await r.task.queue_frame(RTVIServerMessageFrame(data={"hello": None}), UP)
            await trio.testing.wait_all_tasks_blocked()
            assert r.sent() == [
                {"label": "rtvi-ai", "type": "server-response", "id": "q9",
                 "data": {"t": "time", "d": 42}},
                {"label": "rtvi-ai", "type": "error-response", "id": "q9",
                 "data": {"error": "later"}},
                {"label": "rtvi-ai", "type": "server-message", "data": {"hello": None}},
            ]  # fmt: skip


async def test_invalid_client_message_gets_an_error_response() -> None:
    with trio.fail_after(5):
        async with rig() as r:
            await r.client_sends(msg("client-message", {"d": 1}, msg_id="bad"))
            (reply,) = r.sent()
            assert reply["type"] == "error-response" and reply["id"] == "bad"
            assert "data.t" in reply["data"]["error"]


async def test_send_text_interrupts_then_enters_the_pipeline_as_text() -> None:
    with trio.fail_after(5):
        async with rig() as r:
            await r.client_sends(msg("send-text", {"content": "hello bot"}, msg_id="t1"))
            kinds = [
                type(x.frame)
                for x in r.after.records
                if isinstance(x.frame, InterruptionFrame | RTVISendTextFrame | TextFrame)
            ]
            assert kinds == [InterruptionFrame, RTVISendTextFrame, TextFrame]
            (text,) = r.after.frames(TextFrame)
            assert text.text == "hello bot" and text.skip_tts is False
            (ack,) = [m for m in r.sent() if m["type"] == "user-input"]
            assert ack["data"]["text"] == "hello bot" and ack["data"]["msg_id"] == "t1"
            assert ack["data"]["input_type"] == "chat" and ack["data"]["final"] is True

            await r.client_sends(
                msg(
                    "send-text",
                    {"content": "quiet", "options": {"run_immediately": False,
                                                     "audio_response": False}},
                    msg_id="t2",
                )
            )  # fmt: skip
            assert len(r.after.frames(InterruptionFrame)) == 1
            assert r.after.frames(TextFrame)[-1].skip_tts is True
            await r.client_sends(msg("send-text", {"content": 5}, msg_id="t3"))
            assert r.sent()[-1]["type"] == "error-response"


async def test_speaking_frames_become_client_events_once_per_broadcast() -> None:
    async def broadcast(r: Any, cls: type) -> None:
        up, down = cls(), cls()
        up.broadcast_sibling_id, down.broadcast_sibling_id = down.id, up.id
        await r.task.queue_frame(up, UP)
        await r.task.queue_frame(down, DOWN)  # the other copy: not reported again

    with trio.fail_after(5):
        async with rig() as r:
            for cls in (
                UserStartedSpeakingFrame,
                InterruptionFrame,
                UserStoppedSpeakingFrame,
                BotStartedSpeakingFrame,
                BotStoppedSpeakingFrame,
                VADUserStartedSpeakingFrame,  # raw VAD events are off by default
            ):
                await broadcast(r, cls)
            # (after the interruption has passed: it would purge data queued before it)
            await trio.testing.wait_all_tasks_blocked()
            await r.task.queue_frame(
                TranscriptionFrame(text="hi", user_id="u1", timestamp="2026-01-01T00:00:00"), UP
            )
            await trio.testing.wait_all_tasks_blocked()
            assert [m["type"] for m in r.sent()] == [
                "user-started-speaking",
                "bot-interrupted",
                "user-stopped-speaking",
                "bot-started-speaking",
                "bot-stopped-speaking",
                "user-transcription",
            ]
            assert r.sent()[-1]["data"] == {
                "text": "hi",
                "user_id": "u1",
                "timestamp": "2026-01-01T00:00:00",
                "final": True,
            }


async def test_vad_events_when_asked() -> None:
    with trio.fail_after(5):
        async with rig(RTVIProcessor(vad_events=True)) as r:
            await r.task.queue_frame(VADUserStartedSpeakingFrame(), UP)
            await trio.testing.wait_all_tasks_blocked()
            assert [m["type"] for m in r.sent()] == ["vad-user-started-speaking"]
