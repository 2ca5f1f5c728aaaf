"""Server transport over a real Starlette WebSocket on a fake ASGI peer, with exact
Trio time (autojump_clock): events, timer, origin, close bounds (checks T28, T33, T36,
T64-T66, W8, W9, T55-T58 on the server)."""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing

from tests.transports.transport_fakes import FakeSerializer
from tests.transports.websocket.ws_helpers import FakeAsgiPeer, running, server_session
from trio_pipe.frames import (
    CancelFrame,
    ClientConnectedFrame,
    ErrorFrame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    TextFrame,
)
from trio_pipe.serializers.frames import RawPCMSerializer
from trio_pipe.transports.websocket import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
    WebsocketServerParams,
    WebsocketServerTransport,
)


def params(**kw) -> FastAPIWebsocketParams:
    kw.setdefault("serializer", FakeSerializer())
    kw.setdefault("allowed_origins", [])
    return FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True, **kw)


async def test_aliases_and_defaults():
    assert WebsocketServerTransport is FastAPIWebsocketTransport
    assert WebsocketServerParams is FastAPIWebsocketParams
    p = FastAPIWebsocketParams(allowed_origins=[])
    assert p.add_wav_header is False and p.ws_close_timeout == 0.5
    assert p.session_timeout is None and p.fixed_audio_packet_size is None
    assert p.audio_out_10ms_chunks == 4 and p.audio_out_end_silence_secs == 2
    with pytest.raises(TypeError, match="video_out_enabled"):
        FastAPIWebsocketParams(video_out_enabled=True)


async def test_allowed_origins_default_from_environment(monkeypatch):
    monkeypatch.setenv("PIPECAT_ALLOWED_ORIGINS", " https://a.example , https://b.example,")
    assert FastAPIWebsocketParams().allowed_origins == ["https://a.example", "https://b.example"]
    monkeypatch.delenv("PIPECAT_ALLOWED_ORIGINS")
    assert FastAPIWebsocketParams().allowed_origins == []


@pytest.mark.parametrize(
    ("origin", "allowed", "ok"),
    [
        (None, ["https://app.example"], False),
        ("https://evil.example", ["https://app.example"], False),
        ("HTTPS://App.Example", ["https://app.example"], True),
        (None, [], True),
        ("https://any.example", [], True),
    ],
)
async def test_origin_check(origin, allowed, ok):
    """T64."""
    peer = FakeAsgiPeer({"origin": origin} if origin else {})
    ws = await peer.accept()
    p = FastAPIWebsocketParams(serializer=FakeSerializer(), allowed_origins=allowed)
    if ok:
        FastAPIWebsocketTransport(ws, p)
    else:
        with pytest.raises(ValueError, match="not allowed"):
            FastAPIWebsocketTransport(ws, p)


async def test_connect_event_and_frame_before_any_received_frame(autojump_clock):
    """T28: one on_client_connected; ClientConnectedFrame precedes what the client sent."""
    peer = FakeAsgiPeer()
    peer.says(json.dumps({"text": "early"}))  # already waiting when the session starts
    session = server_session(await peer.accept(), params())
    async with running(session):
        await trio.testing.wait_all_tasks_blocked()
        await session.task.stop_when_done()
    kinds = [type(f) for f in session.mid.frames((ClientConnectedFrame, TextFrame))]
    assert kinds == [ClientConnectedFrame, TextFrame]
    assert session.names().count("on_client_connected") == 1


async def test_malformed_message_is_dropped_and_counted_not_a_disconnect(autojump_clock):
    """T33."""
    peer = FakeAsgiPeer()
    session = server_session(await peer.accept(), params())
    async with running(session):
        peer.says("{not json")
        peer.says("raise")
        peer.says(json.dumps({"text": "after"}))
        await trio.testing.wait_all_tasks_blocked()
        assert [f.text for f in session.mid.frames(TextFrame)] == ["after"]
        assert session.transport.input().dropped_messages == 2
        assert "on_client_disconnected" not in session.names()
        await session.task.stop_when_done()


async def test_client_leaving_fires_disconnected_once_and_pipeline_runs_on(autojump_clock):
    """T36 (peer closes), with Pipecat's lifetime (the app ends the session)."""
    peer = FakeAsgiPeer()
    session = server_session(await peer.accept(), params(cancel_on_client_disconnected=False))
    async with running(session):
        peer.leaves()
        await trio.testing.wait_all_tasks_blocked()
        assert session.names().count("on_client_disconnected") == 1
        assert not session.task.has_finished()
        await session.push(TextFrame("still running"))
        await trio.testing.wait_all_tasks_blocked()
        assert session.down.frames(TextFrame)[-1].text == "still running"
        await session.task.stop_when_done()
    assert session.names().count("on_client_disconnected") == 1
    assert peer.closed is None  # the client had gone: nothing to close


async def test_our_end_closes_1000_without_disconnect_event(autojump_clock):
    """T36 (our close), W8: audio, end silence, End payload, then close."""
    peer = FakeAsgiPeer()
    session = server_session(await peer.accept(), params())
    async with running(session):
        await session.push(OutputAudioRawFrame(b"\x01\x00" * 640, 16000, 1))
        await session.task.stop_when_done()
    assert peer.payloads() == [b"\x01\x00" * 640, bytes(64000), "end"]
    assert peer.closed == 1000 and peer.close_time >= peer.sent[-1][0]
    assert "on_client_disconnected" not in session.names()


async def test_after_end_reaches_the_input_later_messages_are_not_read(autojump_clock):
    """W9: the receive loop stops at End; a client leaving afterwards is not reported."""
    peer = FakeAsgiPeer()
    session = server_session(await peer.accept(), params())
    async with running(session):
        await session.push(OutputAudioRawFrame(b"\x01\x00" * 6400, 16000, 1))  # 400 ms
        await session.task.stop_when_done()
        await trio.sleep(0.05)  # End has passed the input; the output still plays
        peer.says(json.dumps({"text": "late"}))
        peer.leaves()
    assert session.mid.frames(TextFrame) == []
    assert "on_client_disconnected" not in session.names()


async def test_cancel_sends_cancel_payload_and_drops_queued_audio(autojump_clock):
    """T58 / W8."""
    peer = FakeAsgiPeer()
    session = server_session(await peer.accept(), params())
    async with running(session):
        await session.push(OutputAudioRawFrame(b"\x01\x00" * 16000, 16000, 1))  # 1 s
        await trio.sleep(0.1)
        sent_before = len(peer.sent)
        await session.task.cancel()
    assert peer.payloads()[-1] == "cancel"
    assert len(peer.sent) <= sent_before + 2  # at most the chunk in flight, then Cancel
    assert peer.closed == 1000
    assert session.down.frames(CancelFrame)


async def test_session_timeout_fires_once_while_connected(autojump_clock):
    """T65: ~1 s after start, once."""
    peer = FakeAsgiPeer()
    session = server_session(await peer.accept(), params(session_timeout=1))
    async with running(session):
        start = trio.current_time()
        await trio.sleep(5)
        await session.task.stop_when_done()
    times = [t for name, t in session.events if name == "on_session_timeout"]
    assert len(times) == 1 and times[0] - start == pytest.approx(1.0, abs=0.01)


async def test_session_timeout_not_after_the_client_left(autojump_clock):
    """T65: Pipecat fires it after the client has gone; trio_pipe does not."""
    peer = FakeAsgiPeer()
    session = server_session(await peer.accept(), params(session_timeout=1))
    async with running(session):
        await trio.sleep(0.5)
        peer.leaves()
        await trio.sleep(2)
        await session.task.stop_when_done()
    assert "on_session_timeout" not in session.names()
    assert "on_client_disconnected" in session.names()


async def test_no_session_timeout_when_none(autojump_clock):
    """T65: never when None."""
    peer = FakeAsgiPeer()
    session = server_session(await peer.accept(), params())
    async with running(session):
        await trio.sleep(3600)
        await session.task.stop_when_done()
    assert "on_session_timeout" not in session.names()


async def test_close_against_a_peer_that_never_answers_is_bounded(autojump_clock):
    """T66: the close waits at most ws_close_timeout."""
    peer = FakeAsgiPeer()
    peer.hang_close = True
    session = server_session(
        await peer.accept(), params(ws_close_timeout=0.5, audio_out_end_silence_secs=0)
    )
    async with running(session):
        start = trio.current_time()
        await session.task.stop_when_done()
    assert trio.current_time() - start == pytest.approx(0.5, abs=0.01)
    assert session.transport.client.is_closing


async def test_send_that_never_returns_gives_one_error_and_later_writes_fail_fast(
    autojump_clock,
):
    """T56 on the server: one ErrorFrame, then writes return False without pacing."""
    peer = FakeAsgiPeer()
    session = server_session(
        await peer.accept(),
        params(
            audio_out_write_timeout_secs=2.0,
            audio_out_end_silence_secs=0,
            cancel_on_client_disconnected=False,  # the app ends it (Pipecat's lifetime)
        ),
    )
    async with running(session):
        peer.hang_sends = True
        start = trio.current_time()
        for _ in range(20):
            await session.push(OutputAudioRawFrame(b"\x01\x00" * 640, 16000, 1))
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(3)
        errors = session.up.frames(ErrorFrame)
        assert len(errors) == 1 and "timed out" in errors[0].error
        assert not session.transport.output().is_usable
        assert session.down.frames(OutputAudioRawFrame) == []
        await session.task.stop_when_done()
    assert trio.current_time() - start < 3.5


async def test_closed_socket_audio_writes_fail_at_once(autojump_clock):
    """T55: after the client left, queued audio drains without pacing, nothing forwarded
    (Pipecat's lifetime: the session runs on until the app ends it)."""
    peer = FakeAsgiPeer()
    session = server_session(await peer.accept(), params(cancel_on_client_disconnected=False))
    async with running(session):
        peer.leaves()
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        for _ in range(50):
            await session.push(OutputAudioRawFrame(b"\x01\x00" * 640, 16000, 1))
        await session.push(TextFrame("after"))
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() == start
        assert session.down.frames(OutputAudioRawFrame) == []
        assert session.down.frames(TextFrame)
        await session.task.stop_when_done()
    assert peer.sent == []


async def test_received_audio_dropped_when_audio_in_disabled(autojump_clock):
    """T29 (server)."""
    for enabled in (True, False):
        peer = FakeAsgiPeer()
        p = FastAPIWebsocketParams(
            audio_in_enabled=enabled, serializer=RawPCMSerializer(), allowed_origins=[]
        )
        session = server_session(await peer.accept(), p)
        async with running(session):
            peer.says(b"\x01\x00" * 320)
            await trio.testing.wait_all_tasks_blocked()
            await session.task.stop_when_done()
        assert len(session.mid.frames(InputAudioRawFrame)) == (1 if enabled else 0)


async def test_no_serializer_warns_and_reads_nothing(autojump_clock, caplog):
    peer = FakeAsgiPeer()
    p = FastAPIWebsocketParams(audio_in_enabled=True, allowed_origins=[])
    session = server_session(await peer.accept(), p)
    assert "no serializer" in caplog.text
    async with running(session):
        peer.says(b"\x01\x00" * 320)
        await trio.testing.wait_all_tasks_blocked()
        await session.task.stop_when_done()
    assert session.mid.frames(InputAudioRawFrame) == []


async def test_handler_cancelling_the_task_on_disconnect_ends_the_run(autojump_clock, live_tasks):
    """T18 and T14: nothing is left after run() returns."""
    before = live_tasks()
    peer = FakeAsgiPeer()
    session = server_session(
        await peer.accept(), params(session_timeout=5), cancel_on=("on_client_disconnected",)
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(session.task.run)
        peer.leaves()
    assert session.task.has_finished()
    assert live_tasks() <= before


async def test_outer_cancel_still_closes_the_socket(autojump_clock):
    """T15."""
    peer = FakeAsgiPeer()
    session = server_session(await peer.accept(), params())
    with trio.move_on_after(1):
        await session.task.run()
    assert peer.closed == 1000
