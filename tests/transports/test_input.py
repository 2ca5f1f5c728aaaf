"""BaseInputTransport with a fake serializer: dispatch, audio path, filter, bounded queue,
bad messages (T29–T35 without a socket; I1–I7)."""

from __future__ import annotations

import json
import logging

import trio
import trio.testing
from transport_fakes import FakeSerializer, input_transport, pcm, running

from trio_pipe.frames import (
    CancelFrame,
    EndFrame,
    FilterControlFrame,
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
)
from trio_pipe.processors import FrameDirection
from trio_pipe.transports.base import BaseInputTransport, TransportParams

DOWN = FrameDirection.DOWNSTREAM
UP = FrameDirection.UPSTREAM


class FakeFilter:
    """Audio filter: drops audio that is all zeros; blocks while ``gate`` is closed."""

    def __init__(self) -> None:
        self.started_at: int | None = None
        self.stops = 0
        self.controls: list[Frame] = []
        self.gate: trio.Event | None = None

    async def start(self, sample_rate: int) -> None:
        self.started_at = sample_rate

    async def stop(self) -> None:
        self.stops += 1

    async def filter(self, audio: bytes) -> bytes:
        if self.gate is not None:
            await self.gate.wait()
        return b"" if not any(audio) else audio

    async def process_frame(self, frame: Frame) -> None:
        self.controls.append(frame)


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def test_start_frame_goes_first_then_start() -> None:
    """I1: StartFrame pushed downstream, rate resolved, filter started, serializer set up."""
    audio_filter = FakeFilter()
    serializer = FakeSerializer()
    params = TransportParams(audio_in_enabled=True, audio_in_filter=audio_filter)
    inp = input_transport(params, serializer=serializer)
    async with running(inp, in_rate=8000) as h:
        assert len(h.down.frames(StartFrame)) == 1
        assert inp.sample_rate == 8000 and audio_filter.started_at == 8000
        assert serializer.setups == 1
    params = TransportParams(audio_in_sample_rate=24000)
    inp = input_transport(params)
    async with running(inp, in_rate=8000):
        assert inp.sample_rate == 24000


async def test_received_audio_enabled_and_disabled() -> None:
    """T29."""
    inp = input_transport(TransportParams(audio_in_enabled=True))
    async with running(inp) as h:
        await inp.receive_message(pcm(320))
        await settle()
        (frame,) = h.down.frames(InputAudioRawFrame)
        assert frame.audio == pcm(320) and frame.sample_rate == 16000
    inp = input_transport(TransportParams(audio_in_enabled=False))
    async with running(inp) as h:
        await inp.receive_message(pcm(320))
        await settle()
        assert h.down.frames(InputAudioRawFrame) == []
        assert inp.dropped_audio_frames == 0


async def test_passthrough_false_consumes_audio() -> None:
    """T30."""
    inp = input_transport(TransportParams(audio_in_enabled=True, audio_in_passthrough=False))
    async with running(inp) as h:
        await inp.receive_message(pcm(320))
        await settle()
        assert h.down.frames(InputAudioRawFrame) == []


async def test_received_message_is_broadcast_both_ways() -> None:
    """T31."""
    inp = input_transport()
    async with running(inp) as h:
        await inp.receive_message(json.dumps({"message": {"type": "hello", "n": [1]}}))
        await settle()
        (down,) = h.down.frames(InputTransportMessageFrame, DOWN)
        (up,) = h.up.frames(InputTransportMessageFrame, UP)
        assert down.message == up.message == {"type": "hello", "n": [1]}
        assert down.broadcast_sibling_id == up.id and up.broadcast_sibling_id == down.id


async def test_other_received_frames_go_downstream_unchanged() -> None:
    """T32."""
    inp = input_transport()
    async with running(inp) as h:
        for message in ({"text": "hi"}, {"transcription": "said"}, "interrupt"):
            await inp.receive_message(json.dumps(message))
            await settle()  # an interruption would purge text still queued downstream
        kinds = (TextFrame, InterruptionFrame)
        got = h.down.frames(kinds, DOWN)
        assert [type(f) for f in got] == [TextFrame, TranscriptionFrame, InterruptionFrame]
        assert got[0].text == "hi" and got[1].text == "said"


async def test_bad_message_dropped_counted_loop_goes_on(caplog) -> None:
    """T33."""
    serializer = FakeSerializer()
    inp = input_transport(serializer=serializer)
    async with running(inp) as h:
        with caplog.at_level(logging.WARNING):
            await inp.receive_message("not json {")
            await inp.receive_message("raise")
            await inp.receive_message(json.dumps({"text": "next"}))
            await inp.receive_message(json.dumps({"unknown": 1}))  # decoded as nothing
        await settle()
        assert inp.dropped_messages == 2
        assert [f.text for f in h.down.frames(TextFrame)] == ["next"]
        assert "deserialize bug" in caplog.text


async def test_filter_can_suppress_and_gets_control_frames() -> None:
    """T34."""
    audio_filter = FakeFilter()
    params = TransportParams(audio_in_enabled=True, audio_in_filter=audio_filter)
    inp = input_transport(params)
    async with running(inp) as h:
        await inp.receive_message(bytes(320))  # the filter returns b""
        await inp.receive_message(pcm(320))
        control = FilterControlFrame()
        await h.push(control)
        await settle()
        assert [f.audio for f in h.down.frames(InputAudioRawFrame)] == [pcm(320)]
        assert audio_filter.controls == [control]
        assert h.down.frames(FilterControlFrame) == []
    assert audio_filter.stops == 1  # cleanup stops it once


async def test_bounded_audio_queue_drops_and_counts(caplog) -> None:
    """T35: a blocked audio path holds 128 frames; more are dropped; messages still pass."""
    audio_filter = FakeFilter()
    audio_filter.gate = trio.Event()
    params = TransportParams(audio_in_enabled=True, audio_in_filter=audio_filter)
    inp = input_transport(params)
    assert BaseInputTransport.AUDIO_IN_QUEUE_SIZE == 128
    async with running(inp) as h:
        with caplog.at_level(logging.WARNING):
            for _ in range(200):
                await inp.receive_message(pcm(320))
            await inp.receive_message(json.dumps({"message": "still here"}))
            await settle()
        # one frame is inside the (blocked) filter, 128 wait in the queue
        assert inp.dropped_audio_frames == 200 - 128 - 1
        assert caplog.text.count("input audio path full") == 1
        assert [f.message for f in h.down.frames(InputTransportMessageFrame)] == ["still here"]
        audio_filter.gate.set()
        await settle()
        assert len(h.down.frames(InputAudioRawFrame)) == 129


async def test_audio_from_upstream_takes_the_audio_path() -> None:
    """I6."""
    inp = input_transport()
    async with running(inp) as h:
        await h.push(InputAudioRawFrame(audio=pcm(320), sample_rate=16000, num_channels=1))
        await settle()
        assert len(h.down.frames(InputAudioRawFrame)) == 1


async def test_end_stops_audio_path_and_later_messages_are_dropped() -> None:
    """I7."""
    inp = input_transport()
    async with running(inp) as h:
        await h.push(EndFrame())
        await settle()
        assert h.task.has_finished()
        await inp.receive_message(pcm(320))
        assert inp.dropped_messages == 1
        assert h.down.frames(InputAudioRawFrame) == []


async def test_cancel_is_pushed_and_stops_audio() -> None:
    inp = input_transport()
    async with running(inp) as h:
        await h.task.cancel()
        await settle()
        assert len(h.down.frames(CancelFrame)) == 1
        await inp.receive_message(pcm(320))
        await settle()
        assert h.down.frames(InputAudioRawFrame) == []


async def test_without_serializer_messages_are_ignored() -> None:
    inp = BaseInputTransport(TransportParams(audio_in_enabled=True))
    async with running(inp) as h:
        await inp.receive_message(pcm(320))
        await settle()
        assert h.down.frames(InputAudioRawFrame) == []
        assert inp.dropped_messages == 0


async def test_params_copy_is_kept() -> None:
    """P2."""
    params = TransportParams(audio_in_enabled=True)
    inp = input_transport(params)
    assert inp.params == params and inp.params is not params
