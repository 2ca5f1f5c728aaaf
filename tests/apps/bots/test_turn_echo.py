"""The turn-taking echo bot: its reply logic on a mock clock, then a whole RTVI session
over a real socket (Hypercorn on 127.0.0.1:0) with barge-in."""

from __future__ import annotations

import trio
import trio.testing

from trio_pipe.apps.bots import echo_app
from trio_pipe.apps.bots.turn_echo import TurnEchoProcessor
from trio_pipe.audio import resample_once
from trio_pipe.frames import (
    InputAudioRawFrame,
    OutputTransportMessageFrame,
    TextFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from trio_pipe.pipeline import Pipeline, PipelineTask
from trio_pipe.serving import serve_asgi
from trio_pipe.testing.pipeline import FrameRecorder
from trio_pipe.testing.voice.chunk import silent_chunk, utterance_chunk
from trio_pipe.testing.voice.session import open_bot_session, rtvi_message


def pcm(value: int, ms: int) -> bytes:
    return value.to_bytes(2, "little", signed=True) * (16 * ms)


async def test_reply_is_pre_roll_plus_turn_then_tts_stopped(autojump_clock) -> None:
    echo = TurnEchoProcessor(pre_roll_secs=0.1, text_replies=True)
    after = FrameRecorder()
    task = PipelineTask(Pipeline([echo, after]))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(task.run)
            for value in range(1, 11):  # 10 x 20 ms before the turn: 100 ms kept
                await task.queue_frame(InputAudioRawFrame(pcm(value, 20), 16000, 1))
            await task.queue_frame(UserStartedSpeakingFrame())
            await task.queue_frame(InputAudioRawFrame(pcm(50, 40), 16000, 1))
            await task.queue_frame(UserStoppedSpeakingFrame())
            await task.queue_frame(TextFrame(text="typed"))
            await trio.testing.wait_all_tasks_blocked()
            (reply,) = after.frames(TTSAudioRawFrame)
            expected = b"".join(pcm(v, 20) for v in range(6, 11)) + pcm(50, 40)
            assert reply.audio == expected and reply.sample_rate == 16000
            assert len(after.frames(TTSStoppedFrame)) == 1
            assert not after.frames(InputAudioRawFrame)  # the user's audio is not passed on
            (output,) = after.frames(OutputTransportMessageFrame)
            assert output.message["type"] == "bot-output"
            assert output.message["data"]["text"] == "typed"
            # a turn with no audio at all gets no reply
            await task.queue_frame(UserStartedSpeakingFrame())
            await task.queue_frame(UserStoppedSpeakingFrame())
            await trio.testing.wait_all_tasks_blocked()
            assert echo.replies == 1
            await task.cancel()


def speech(seconds: float, silence_after: float = 0.0) -> bytes:
    audio = utterance_chunk(seconds).data + silent_chunk(silence_after).data
    return resample_once(audio, 24000, 16000)


async def test_rtvi_session_turns_barge_in_and_messages(nursery: trio.Nursery) -> None:
    server = await nursery.start(serve_asgi, echo_app("protobuf", turns=True))
    with trio.fail_after(60):
        async with open_bot_session(server.ws_url("/ws")) as s:
            await s.send_message(rtvi_message("client-ready", {"version": "2.2.0"}, "ready1"))
            (ready,) = await s.wait_for(lambda: s.messages("bot-ready"))
            assert ready.message["id"] == "ready1"

            # one turn: the bot answers after the user stops, with what it heard
            await s.send_audio(silent_pcm(0.5) + speech(1.0, 0.6))
            await s.wait_for(lambda: s.messages("bot-stopped-speaking"))
            kinds = [
                m.message["type"] for m in s.messages() if m.message["type"].endswith("speaking")
            ]
            assert kinds == [
                "user-started-speaking",
                "user-stopped-speaking",
                "bot-started-speaking",
                "bot-stopped-speaking",
            ]
            heard = s.audio_seconds()
            assert 1.0 <= heard <= 2.0  # the utterance, pre-roll and the stop silence

            # barge-in: talk over the second reply
            mark = trio.current_time()
            await s.send_audio(speech(2.0, 0.4))
            started = await s.wait_for(lambda: s.messages("bot-started-speaking")[1:])
            await trio.sleep(0.3)
            await s.send_audio(speech(0.6))
            (interruption,) = await s.wait_for(
                lambda: [r for r in s.received if r.kind == "interruption" and r.at > started[0].at]
            )
            await s.wait_for(lambda: len(s.messages("bot-stopped-speaking")) == 2)
            late = s.audio(since=interruption.at + 0.001)
            # at most the chunk already being written (40 ms) follows the interruption
            assert sum(len(r.audio) for r in late) <= 2 * 24000 * 0.04 * 1.01
            assert s.messages("bot-interrupted")
            assert s.audio_seconds(since=mark) < 1.5  # the 2 s reply was cut short

            # client-message -> server-response; ui-event -> ui-command; send-text -> bot-output
            await s.send_message(rtvi_message("client-message", {"t": "ping", "d": 7}, "q1"))
            (response,) = await s.wait_for(lambda: s.messages("server-response"))
            assert response.message["id"] == "q1"
            assert response.message["data"]["t"] == "ping"
            assert response.message["data"]["d"]["echo"] == 7
            await s.send_message(rtvi_message("ui-event", {"event": "hello", "payload": {}}))
            (command,) = await s.wait_for(lambda: s.messages("ui-command"))
            assert command.message["data"]["command"] == "toast"
            await s.send_message(rtvi_message("send-text", {"content": "hi there"}))
            (output,) = await s.wait_for(lambda: s.messages("bot-output"))
            assert output.message["data"]["text"] == "hi there"
            await s.send_message(rtvi_message("no-such-type", {}, "bad1"))
            (error,) = await s.wait_for(lambda: s.messages("error-response"))
            assert error.message["id"] == "bad1"


def silent_pcm(seconds: float) -> bytes:
    return bytes(int(16000 * seconds) * 2)


async def http_get(port: int, path: str) -> tuple[str, bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        request = f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        await stream.send_all(request.encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


async def test_web_page_is_served_from_package_data(nursery: trio.Nursery) -> None:
    import pytest

    with pytest.raises(ValueError):
        echo_app("raw", turns=True, web=True)  # the page needs RTVI over protobuf
    server = await nursery.start(
        serve_asgi, echo_app("protobuf", path="/voice", turns=True, web=True)
    )
    with trio.fail_after(20):
        head, body = await http_get(server.port, "/")
        assert " 200 " in head.splitlines()[0]
        assert b'content="/voice"' in body and b'src="app.js"' in body
        head, script = await http_get(server.port, "/app.js")
        assert "text/javascript" in head
        # the bundle holds Pipecat's client and its WebSocket transport
        assert b"client-ready" in script and b"WebSocketTransport" in script
